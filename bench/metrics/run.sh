#!/usr/bin/env bash
# Side-by-side ingest benchmark: the same pre-built remote_write bodies, sent with the same
# concurrency, to Pharos, Prometheus 2.42 and VictoriaMetrics 1.79, each started fresh on
# loopback. Prints samples/s, peak and final resident memory, memory per active series,
# bytes per sample on disk, the sample count each store returns, and Pharos/peer ratios.
#
#   bench/metrics/run.sh [--series 50000] [--points 200] [--shards 4]
set -euo pipefail
cd "$(dirname "$0")/../.."
. bench/lib.sh

SERIES=50000
POINTS=200
SHARDS=4
while [ $# -gt 0 ]; do
  case "$1" in
    --series) SERIES=$2; shift 2 ;;
    --points) POINTS=$2; shift 2 ;;
    --shards) SHARDS=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done

scripts/install-deps --bench
make --no-print-directory build >/dev/null
PHAROS=$PWD/build/release/pharos
RWBENCH=$PWD/build/release/bench/metrics/rwbench

WORK=$(mktemp -d /tmp/pharos-bench-metrics.XXXXXX)
PID=""
cleanup() {
  [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT


# The newest sample 15 minutes old: past Pharos's out-of-order window (10 minutes), so its
# flush cuts every sample into a block, as VictoriaMetrics's force_flush and Prometheus's
# snapshot write theirs, and bytes per sample compare compressed blocks with parts.
"$RWBENCH" generate --series "$SERIES" --points "$POINTS" --shards "$SHARDS" --end-ago-ms 900000 \
  --out "$WORK/bodies.bin"
EXPECTED=$((SERIES * POINTS))

# Counts samples in JSON-lines export output (Pharos and VictoriaMetrics share the format).
count_export() {
  curl -sf --get "$1" --data-urlencode 'match[]={__name__=~".+"}' | python3 -c '
import json, sys
print(sum(len(json.loads(line)["values"]) for line in sys.stdin if line.strip()))'
}

declare -A RATE PEAK RSS PER_SERIES BPS COUNT
run_one() {
  local name=$1 port=$2 data=$3
  wait_http "http://127.0.0.1:$port/$4"
  local out seconds
  out=$("$RWBENCH" send --file "$WORK/bodies.bin" --port "$port")
  echo "$name: $out" | head -1 >&2
  seconds=$(echo "$out" | awk -F= '/^seconds=/ {print $2}')
  sleep 2
  RATE[$name]=$(python3 -c "print(round($EXPECTED / $seconds))")
  PEAK[$name]=$(kib "$PID" VmHWM)
  RSS[$name]=$(kib "$PID" VmRSS)
  PER_SERIES[$name]=$(python3 -c "print(round(${RSS[$name]} * 1024 / $SERIES))")
}

# --- Pharos ---
PORT=$(free_port)
"$PHAROS" serve --listen "127.0.0.1:$PORT" --data "$WORK/pharos" --log-level warn \
  --set global.scrape_self=false --set otlp.listen= --set otlp.grpc_listen= &
PID=$!
run_one pharos "$PORT" "$WORK/pharos" readyz
curl -sf -XPOST "http://127.0.0.1:$PORT/api/v1/admin/tsdb/flush" >/dev/null
COUNT[pharos]=$(count_export "http://127.0.0.1:$PORT/api/v1/export")
kill "$PID"; wait "$PID" || true; PID=""
BPS[pharos]=$(python3 -c "print(round($(du -sb "$WORK/pharos" | cut -f1) / $EXPECTED, 3))")

# --- VictoriaMetrics ---
PORT=$(free_port)
victoria-metrics -storageDataPath="$WORK/vm" -httpListenAddr="127.0.0.1:$PORT" \
  -retentionPeriod=1y -loggerLevel=ERROR &
PID=$!
run_one victoria-metrics "$PORT" "$WORK/vm" health
curl -sf "http://127.0.0.1:$PORT/internal/force_flush" >/dev/null
sleep 3
COUNT[victoria-metrics]=$(count_export "http://127.0.0.1:$PORT/api/v1/export")
BPS[victoria-metrics]=$(python3 -c "print(round($(du -sb "$WORK/vm/data" | cut -f1) / $EXPECTED, 3))")
kill "$PID"; wait "$PID" || true; PID=""

# --- Prometheus ---
PORT=$(free_port)
printf 'global:\n  scrape_interval: 1h\n' > "$WORK/prometheus.yml"
prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/prom" \
  --web.listen-address="127.0.0.1:$PORT" --web.enable-remote-write-receiver \
  --web.enable-admin-api --log.level=error &
PID=$!
run_one prometheus "$PORT" "$WORK/prom" -/ready
SNAP_JSON=$(curl -s -XPOST "http://127.0.0.1:$PORT/api/v1/admin/tsdb/snapshot")
SNAP=$(echo "$SNAP_JSON" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["name"])')
BPS[prometheus]=$(python3 -c "print(round($(du -sb "$WORK/prom/snapshots/$SNAP" | cut -f1) / $EXPECTED, 3))")
# count_over_time drops the metric name, so count one metric name at a time.
COUNT[prometheus]=$(python3 - "$PORT" <<'PY'
import json, sys, urllib.parse, urllib.request
base = f"http://127.0.0.1:{sys.argv[1]}/api/v1"
names = json.load(urllib.request.urlopen(f"{base}/label/__name__/values"))["data"]
total = 0
for name in names:
    q = urllib.parse.urlencode({"query": f"sum(count_over_time({name}[30d]))"})
    r = json.load(urllib.request.urlopen(f"{base}/query?{q}"))["data"]["result"]
    total += int(float(r[0]["value"][1])) if r else 0
print(total)
PY
)
kill "$PID"; wait "$PID" || true; PID=""

echo
echo "series=$SERIES points=$POINTS samples=$EXPECTED connections=$SHARDS (one run, $(date -u +%F), $(nproc) cores)"
printf '%-18s %14s %12s %12s %14s %14s %12s\n' store "samples/s" "peak RSS MiB" "RSS MiB" "bytes/series" "bytes/sample" "samples"
for s in pharos victoria-metrics prometheus; do
  printf '%-18s %14s %12s %12s %14s %14s %12s\n' "$s" "${RATE[$s]}" "$(( ${PEAK[$s]} / 1024 ))" \
    "$(( ${RSS[$s]} / 1024 ))" "${PER_SERIES[$s]}" "${BPS[$s]}" "${COUNT[$s]}"
done
python3 - <<PY
p = dict(rate=${RATE[pharos]}, mem=${PER_SERIES[pharos]}, disk=${BPS[pharos]})
for peer, rate, mem, disk in (("victoria-metrics", ${RATE[victoria-metrics]}, ${PER_SERIES[victoria-metrics]}, ${BPS[victoria-metrics]}),
                              ("prometheus", ${RATE[prometheus]}, ${PER_SERIES[prometheus]}, ${BPS[prometheus]})):
    print(f"pharos/{peer}: ingest {p['rate']/rate:.2f}x, memory per series {p['mem']/mem:.2f}x, "
          f"bytes per sample {p['disk']/disk:.2f}x")
PY
