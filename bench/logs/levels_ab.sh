#!/usr/bin/env bash
# A/B of detected_level (logs.discover_log_levels, Loki 3's discover_log_levels): the same
# binary with it on and off, alternating, the issue's data shape pushed through Loki's
# push API by logbench. Prints the push rate, the server's CPU seconds (from /proc) and the
# bytes on disk per line of each run.
#
#   bench/logs/levels_ab.sh [--lines 2000000] [--runs 2]
set -euo pipefail
cd "$(dirname "$0")/../.."
. bench/lib.sh

LINES=2000000
RUNS=2
while [ $# -gt 0 ]; do
  case "$1" in
    --lines) LINES=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
TESTDATA=${PHAROS_TESTDATA:-../shared/testdata}
make --no-print-directory build >/dev/null
PHAROS=$PWD/build/release/pharos
LOGBENCH=$PWD/build/release/bench/logs/logbench
echo "machine: $(nproc) cores; $(date -u +%F); $LINES lines per run"
for run in $(seq "$RUNS"); do
  for levels in true false; do
    WORK=$(mktemp -d /tmp/pharos-levels-ab.XXXXXX)
    PORT=$(free_port)
    "$PHAROS" serve --listen "127.0.0.1:$PORT" --data "$WORK/data" --log-level warn \
      --set global.scrape_self=false --set otlp.listen= --set otlp.grpc_listen= \
      --set logs.ingestion_rate=1TB --set logs.ingestion_burst=1TB \
      --set logs.discover_log_levels=$levels &
    PID=$!
    wait_http "http://127.0.0.1:$PORT/readyz"
    OUT=$("$LOGBENCH" ingest --testdata "$TESTDATA" --lines "$LINES" --shape issue --port "$PORT" \
      --tsv /dev/null)
    curl -sf -X POST "http://127.0.0.1:$PORT/flush" >/dev/null
    CPU=$(awk '{printf "%.2f", ($14 + $15) / 100}' "/proc/$PID/stat")
    DISK=$(du -sb "$WORK/data/logs" | cut -f1)
    kill "$PID"; wait "$PID" 2>/dev/null || true
    rm -rf "$WORK"
    python3 - "$levels" "$OUT" "$CPU" "$DISK" "$LINES" <<'PY'
import json, sys
levels, out, cpu, disk, lines = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
print(f"detected_level {levels:5}  {int(out['lines_per_second']):>9} lines/s  "
      f"server CPU {cpu} s  {disk / lines:.2f} bytes/line")
PY
  done
done
