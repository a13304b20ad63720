#!/usr/bin/env bash
# Start-up (issue 12): time to ready and resident memory after opening data directories of
# 1, 5 and 10 blocks of SERIES series each, beside the index bytes on disk. Blocks are
# written by bench/tsdb/blockgen (node-exporter-shaped series, spaced so that nothing is
# merged while Pharos runs); each run starts Pharos on a fresh hard-linked copy.
#
#   bench/tsdb/startup.sh [--series 200000] [--points 120] [--blocks "1 5 10"]
#
# Prints one row per data directory; "per block" is the growth of resident memory over
# the empty directory, divided by the number of blocks.
set -euo pipefail
cd "$(dirname "$0")/../.."
. bench/lib.sh

SERIES=200000
POINTS=120
COUNTS="1 5 10"
while [ $# -gt 0 ]; do
  case "$1" in
    --series) SERIES=$2; shift 2 ;;
    --points) POINTS=$2; shift 2 ;;
    --blocks) COUNTS=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
MAX=0
for n in $COUNTS; do [ "$n" -gt "$MAX" ] && MAX=$n; done

make --no-print-directory build >/dev/null
cmake --build build/release --target blockgen >/dev/null
PHAROS=${PHAROS:-$PWD/build/release/pharos}
WORK=$(mktemp -d /tmp/pharos-bench-startup.XXXXXX)
PID=""
stop() {
  if [ -n "$PID" ]; then
    kill "$PID" 2>/dev/null || true
    wait "$PID" 2>/dev/null || true
    PID=""
  fi
}
trap 'stop; rm -rf "$WORK"' EXIT

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB; $(date -u +%F)"
build/release/bench/tsdb/blockgen --dir "$WORK/gen" --blocks "$MAX" --series "$SERIES" \
  --points "$POINTS" >"$WORK/blocks.txt"
mapfile -t BLOCKS < <(awk '{print $1}' "$WORK/blocks.txt")


# run N: prints "seconds_to_ready rss_kib anon_kib"
run() {
  local n=$1 data="$WORK/data$1"
  rm -rf "$data"
  mkdir -p "$data/tsdb/blocks"
  for ((i = 0; i < n; i++)); do cp -al "$WORK/gen/${BLOCKS[$i]}" "$data/tsdb/blocks/"; done
  PORT=$(free_port)
  local t0 t1
  t0=$(date +%s.%N)
  "$PHAROS" serve --listen "127.0.0.1:$PORT" --data "$data" --log-level warn \
    --set global.scrape_self=false --set otlp.listen= --set otlp.grpc_listen= --set storage.retention=0s \
    --set storage.maintenance_interval=1h &
  PID=$!
  until curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1; do sleep 0.01; done
  t1=$(date +%s.%N)
  sleep 1
  local got
  got=$(curl -sf "http://127.0.0.1:$PORT/api/v1/status/tsdb" | python3 -c \
    'import json,sys; d=json.load(sys.stdin)["data"]; print(d.get("numBlocks", d.get("headStats", {}).get("numBlocks", "?")))' \
    2>/dev/null || echo "?")
  echo "$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", b - a}') $(kib "$PID" VmRSS) $(kib "$PID" RssAnon) $got"
  stop
}

read -r _ base_rss base_anon _ <<<"$(run 0)"
printf '%-7s %-9s %-12s %-9s %-10s %-10s %-12s\n' blocks series index_MiB ready_s rss_MiB anon_MiB per_block_KiB
printf '%-7s %-9s %-12s %-9s %-10.1f %-10.1f %-12s\n' 0 0 0 - "$(echo "$base_rss/1024" | bc -l)" \
  "$(echo "$base_anon/1024" | bc -l)" -
for n in $COUNTS; do
  index=$(head -n "$n" "$WORK/blocks.txt" | sed 's/.*index_bytes=//' | awk '{s += $1} END {printf "%.1f", s / 1048576}')
  read -r secs rss anon _ <<<"$(run "$n")"
  per=$(( (rss - base_rss) / n ))
  printf '%-7s %-9s %-12s %-9s %-10.1f %-10.1f %-12s\n' "$n" "$((n * SERIES))" "$index" "$secs" \
    "$(echo "$rss/1024" | bc -l)" "$(echo "$anon/1024" | bc -l)" "$per"
done
