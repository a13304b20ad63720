SHELL := /bin/bash
# Pharos: `make run` sets up, builds and starts the server; `make test` sets up and runs
# every test. Both install missing Debian packages through scripts/install-deps.

JOBS ?= $(shell nproc)
RELEASE_DIR := build/release
ASAN_DIR := build/asan
SOURCES = $(shell git ls-files --cached --others --exclude-standard '*.cc' '*.h' 2>/dev/null)
CMAKE_COMMON := -G Ninja -DCMAKE_EXPORT_COMPILE_COMMANDS=ON

.PHONY: all deps build run demo test test-build format format-check lint bench-http clean fuzz \
  fuzz-build fuzz-smoke

all: build

deps:
	@scripts/install-deps

# The release binary at build/release/pharos.
build: deps
	@cmake -S . -B $(RELEASE_DIR) $(CMAKE_COMMON) -DCMAKE_BUILD_TYPE=Release >/dev/null
	@cmake --build $(RELEASE_DIR) -j $(JOBS)

CONFIG ?= config/local.yaml
run: build
	@echo "Starting Pharos with data in ./data: open http://127.0.0.1:7070/ (Ctrl-C stops it)."
	@echo "For a living system, run 'make demo' in another terminal."
	@$(RELEASE_DIR)/pharos serve --data ./data --config $(CONFIG)

# A simulated online shop sending its metrics to the server `make run` started.
demo: build
	@$(RELEASE_DIR)/pharos demo --url http://127.0.0.1:7070/v1/metrics

# Third-party suites (read its README); tests skip them, saying so, when it is absent.
PHAROS_TESTDATA ?= $(abspath ../shared/testdata)
export PHAROS_TESTDATA

# Every test, under AddressSanitizer and UndefinedBehaviorSanitizer, after a short fuzz run
# of every decoder. The conformance summaries print next; ctest's summary line closes.
test: deps format-check fuzz-smoke test-build
	@$(ASAN_DIR)/pharos openmetrics-test $(PHAROS_TESTDATA)/prometheus/openmetrics-parsers; \
	  rc=$$?; [ $$rc -eq 0 ] || [ $$rc -eq 77 ]
	@if [ -z "$(wildcard $(PHAROS_TESTDATA)/promql/*.test)" ]; then \
	  echo "promql-test: no scripts in $(PHAROS_TESTDATA)/promql; suite skipped (set PHAROS_TESTDATA)"; \
	else \
	  $(ASAN_DIR)/pharos promql-test --skip-list tests/promql/skip.txt \
	    $(wildcard $(PHAROS_TESTDATA)/promql/*.test) | grep -E "passed|FAIL|not found"; \
	  rc=$${PIPESTATUS[0]}; [ $$rc -eq 0 ] || [ $$rc -eq 77 ]; \
	fi
	@if [ -z "$(wildcard $(PHAROS_TESTDATA)/logql/*.logqltest)" ]; then \
	  echo "logql-test: no scripts in $(PHAROS_TESTDATA)/logql; suite skipped (set PHAROS_TESTDATA)"; \
	else \
	  $(ASAN_DIR)/pharos logql-test --skip-list tests/logql/skip.txt \
	    $(wildcard $(PHAROS_TESTDATA)/logql/*.logqltest) | grep -E "passed|FAIL|not found"; \
	  rc=$${PIPESTATUS[0]}; [ $$rc -eq 0 ] || [ $$rc -eq 77 ]; \
	fi
	@cd $(ASAN_DIR) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --output-on-failure -j $(JOBS) --timeout 300

test-build:
	@cmake -S . -B $(ASAN_DIR) $(CMAKE_COMMON) -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DPHAROS_SANITIZE=ON >/dev/null
	@cmake --build $(ASAN_DIR) -j $(JOBS)

# libFuzzer targets for every decoder, built with clang, ASan and UBSan.
FUZZ_DIR := build/fuzz
FUZZ_TARGETS := remote_write text_format http_request selector promql promql_eval otlp_proto otlp_json \
  rule_file alerting_config wal_replay block colstore_segment loki logql syslog otlp_traces traceql
FUZZ_SECONDS ?= 60
# Libraries no fuzz target links, built here too so that clang's -Werror=thread-safety
# (CMakeLists.txt) checks every module's locking, not only the decoders'.
THREAD_SAFETY_LIBS := pharos_scrape pharos_api pharos_incidents pharos_meta pharos_net pharos_otlp_grpc

fuzz-build: deps
	@CC=clang CXX=clang++ cmake -S . -B $(FUZZ_DIR) $(CMAKE_COMMON) -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DPHAROS_FUZZ=ON -DPHAROS_TESTS=OFF >/dev/null
	@cmake --build $(FUZZ_DIR) -j $(JOBS) --target $(addsuffix _fuzz,$(FUZZ_TARGETS)) \
	  $(THREAD_SAFETY_LIBS)

# Each target for FUZZ_SECONDS; new inputs it finds go to build/fuzz/corpus. FUZZ_SEED fixes
# libFuzzer's random seed (0: a new one each run).
FUZZ_SEED ?= 0
fuzz: fuzz-build
	@for t in $(FUZZ_TARGETS); do \
	  mkdir -p $(FUZZ_DIR)/corpus/$$t; \
	  echo "fuzzing $$t for $(FUZZ_SECONDS)s"; \
	  $(FUZZ_DIR)/fuzz/$${t}_fuzz -max_total_time=$(FUZZ_SECONDS) -seed=$(FUZZ_SEED) -print_final_stats=1 \
	    $(FUZZ_DIR)/corpus/$$t fuzz/corpus/$$t 2>&1 | \
	    grep -E "stat::number_of_executed_units|ERROR|SUMMARY|crash|canonical|^  [0-9]+:|terminate|what\(\)" ; \
	  test $${PIPESTATUS[0]} -eq 0 || exit 1; \
	done

# The smoke run in `make test` uses a fixed seed, so that the same commit fuzzes the same
# inputs first on every machine and a failure reproduces; `make fuzz` explores anew.
fuzz-smoke:
	@$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=$(or $(FUZZ_SMOKE_SECONDS),10) \
	  FUZZ_SEED=$(or $(FUZZ_SMOKE_SEED),1)

format:
	@clang-format -i $(SOURCES)

format-check:
	@clang-format --dry-run --Werror $(SOURCES) || \
	  { echo "Code is not formatted: run 'make format'." >&2; exit 1; }

lint: deps
	@cmake -S . -B $(RELEASE_DIR) $(CMAKE_COMMON) -DCMAKE_BUILD_TYPE=Release >/dev/null
	@run-clang-tidy -quiet -p $(RELEASE_DIR) $(filter %.cc,$(SOURCES)) 2>/dev/null || \
	  clang-tidy -quiet -p $(RELEASE_DIR) $(filter %.cc,$(SOURCES))

bench-http: build
	@bench/http/run.sh

clean:
	rm -rf build
