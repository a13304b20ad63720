# Pharos: `make run` sets up, builds and starts the server; `make test` sets up and runs
# every test. Both install missing Debian packages through scripts/install-deps.

JOBS ?= $(shell nproc)
RELEASE_DIR := build/release
ASAN_DIR := build/asan
SOURCES = $(shell git ls-files --cached --others --exclude-standard '*.cc' '*.h' 2>/dev/null)
CMAKE_COMMON := -G Ninja -DCMAKE_EXPORT_COMPILE_COMMANDS=ON

.PHONY: all deps build run test test-build format format-check lint bench-http clean

all: build

deps:
	@scripts/install-deps

# The release binary at build/release/pharos.
build: deps
	@cmake -S . -B $(RELEASE_DIR) $(CMAKE_COMMON) -DCMAKE_BUILD_TYPE=Release >/dev/null
	@cmake --build $(RELEASE_DIR) -j $(JOBS)

run: build
	@echo "Starting Pharos with data in ./data: open http://127.0.0.1:7070/ (Ctrl-C stops it)"
	@$(RELEASE_DIR)/pharos serve --data ./data $(if $(CONFIG),--config $(CONFIG),)

# Third-party suites (read its README); tests skip them, saying so, when it is absent.
PHAROS_TESTDATA ?= $(abspath ../shared/testdata)
export PHAROS_TESTDATA

# Every test, under AddressSanitizer and UndefinedBehaviorSanitizer. The conformance
# summaries print first; ctest's summary line closes the run.
test: deps format-check test-build
	@$(ASAN_DIR)/pharos openmetrics-test $(PHAROS_TESTDATA)/prometheus/openmetrics-parsers; \
	  rc=$$?; [ $$rc -eq 0 ] || [ $$rc -eq 77 ]
	@cd $(ASAN_DIR) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --output-on-failure -j $(JOBS) --timeout 300

test-build:
	@cmake -S . -B $(ASAN_DIR) $(CMAKE_COMMON) -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DPHAROS_SANITIZE=ON >/dev/null
	@cmake --build $(ASAN_DIR) -j $(JOBS)

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
