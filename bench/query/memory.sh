#!/usr/bin/env bash
# Query memory (issue 12): how much resident memory one heavy query adds, beside the
# bound query.max_samples x 16 bytes. Loads SERIES x POINTS samples once (most cut into
# blocks, the last 10 minutes left in the head), then starts Pharos anew on that data for
# each limit and query and runs the query once, resetting the kernel's peak-RSS mark
# (clear_refs 5) before it. Growth includes the pages of block files the query reads
# through mmap.
#
#   bench/query/memory.sh [--series 50000] [--points 200] [--limits "50000000 1000000"]
#
# Prints one row per (limit, query): HTTP status, seconds, peak RSS growth, the bound.
set -euo pipefail
cd "$(dirname "$0")/../.."
. bench/lib.sh

SERIES=50000
POINTS=200
LIMITS="50000000 1000000"
while [ $# -gt 0 ]; do
  case "$1" in
    --series) SERIES=$2; shift 2 ;;
    --points) POINTS=$2; shift 2 ;;
    --limits) LIMITS=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done

make --no-print-directory build >/dev/null
cmake --build build/release --target rwbench >/dev/null
PHAROS=${PHAROS:-$PWD/build/release/pharos}  # PHAROS=path measures another build
WORK=$(mktemp -d /tmp/pharos-bench-query.XXXXXX)
PID=""
stop() {
  if [ -n "$PID" ]; then
    kill "$PID" 2>/dev/null || true
    wait "$PID" 2>/dev/null || true
    PID=""
  fi
}
trap 'stop; rm -rf "$WORK"' EXIT

start() {  # start LIMIT
  PORT=$(free_port)
  "$PHAROS" serve --listen "127.0.0.1:$PORT" --data "$WORK/data" --log-level warn \
    --set global.scrape_self=false --set otlp.listen= --set otlp.grpc_listen= --set query.max_samples="$1" \
    --set query.timeout=10m &
  PID=$!
  wait_http "http://127.0.0.1:$PORT/readyz"
}

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB; $(date -u +%F)"
build/release/bench/metrics/rwbench generate --series "$SERIES" --points "$POINTS" \
  --out "$WORK/bodies.bin" | head -1
start 50000000
build/release/bench/metrics/rwbench send --file "$WORK/bodies.bin" --port "$PORT" | head -1
curl -sf -XPOST "http://127.0.0.1:$PORT/api/v1/admin/tsdb/flush" >/dev/null
stop

# Instant queries that read every sample, and (range:) one range query over the whole
# load at its 15 s step, whose selector output alone is SERIES x POINTS points.
QUERIES=(
  'count(count_over_time({__name__=~".+"}[30d]))'
  'sum(rate({__name__=~".+"}[30d]))'
  'range:sum by (job) ({__name__=~".+"})'
)
printf '%-12s %-48s %6s %8s %12s %12s %10s %10s\n' max_samples query status seconds "growth MiB" \
  "bound MiB" "anon MiB" "file MiB"
for limit in $LIMITS; do
  for q in "${QUERIES[@]}"; do
    # A fresh server per query, so that memory an earlier query freed (and the allocator
    # kept) does not hide this one's growth.
    start "$limit"
    echo 5 >"/proc/$PID/clear_refs"
    before=$(kib "$PID" VmRSS)
    anon_before=$(kib "$PID" RssAnon)
    file_before=$(kib "$PID" RssFile)
    t0=$(date +%s.%N)
    if [[ $q == range:* ]]; then
      q=${q#range:}
      now=$(date +%s)
      code=$(curl -s -o "$WORK/answer.json" -w '%{http_code}' --data-urlencode "query=$q" \
        --data "start=$((now - POINTS * 15 - 600))&end=$now&step=15" \
        "http://127.0.0.1:$PORT/api/v1/query_range")
      q="range: $q"
    else
      code=$(curl -s -o "$WORK/answer.json" -w '%{http_code}' \
        --data-urlencode "query=$q" "http://127.0.0.1:$PORT/api/v1/query")
    fi
    t1=$(date +%s.%N)
    peak=$(kib "$PID" VmHWM)
    # After the query: growth of anonymous memory (the heap, which malloc mostly keeps) and
    # of mapped block pages (page cache, shared and reclaimable), to split the peak.
    anon=$(kib "$PID" RssAnon)
    file=$(kib "$PID" RssFile)
    printf '%-12s %-48s %6s %8.2f %12.1f %12.1f %10.1f %10.1f\n' "$limit" "$q" "$code" \
      "$(echo "$t1 - $t0" | bc)" "$(echo "($peak - $before) / 1024" | bc -l)" \
      "$(echo "$limit * 16 / 1048576" | bc -l)" "$(echo "($anon - $anon_before) / 1024" | bc -l)" \
      "$(echo "($file - $file_before) / 1024" | bc -l)"
    stop
  done
done
