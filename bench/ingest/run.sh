#!/usr/bin/env bash
# Write latency under heavy queries: loads 50,000 series x 200 samples, then measures
# remote_write latency (100 series every 20 ms) with 0, 2 and 8 heavy queries running
# (count(count_over_time({__name__=~".+"}[30d])), each reading every sample).
# Target (issue 11): p99 under 50 ms with 8. First, the same writer while the head is cut
# into a block (the admin flush), to show how long maintenance holds appends.
#
#   bench/ingest/run.sh [--series 50000] [--points 200] [--seconds 15]
set -euo pipefail
cd "$(dirname "$0")/../.."
. bench/lib.sh

SERIES=50000
POINTS=200
SECONDS_EACH=15
while [ $# -gt 0 ]; do
  case "$1" in
    --series) SERIES=$2; shift 2 ;;
    --points) POINTS=$2; shift 2 ;;
    --seconds) SECONDS_EACH=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done

make --no-print-directory build >/dev/null
cmake --build build/release --target write_latency rwbench >/dev/null
PHAROS=${PHAROS:-$PWD/build/release/pharos}  # PHAROS=path compares another build
WORK=$(mktemp -d /tmp/pharos-bench-ingest.XXXXXX)
PID=""
cleanup() {
  [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB; $(date -u +%F)"
build/release/bench/metrics/rwbench generate --series "$SERIES" --points "$POINTS" \
  --out "$WORK/bodies.bin" >/dev/null
PORT=$(free_port)
"$PHAROS" serve --listen "127.0.0.1:$PORT" --data "$WORK/data" --log-level warn \
  --set global.scrape_self=false --set otlp.listen= --set otlp.grpc_listen= &
PID=$!
wait_http "http://127.0.0.1:$PORT/readyz"
build/release/bench/metrics/rwbench send --file "$WORK/bodies.bin" --port "$PORT" | head -1
build/release/bench/ingest/write_latency --port "$PORT" --seconds "$SECONDS_EACH" --queries 0,2,8 --flush
