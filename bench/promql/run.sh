#!/usr/bin/env bash
# PromQL side by side with Prometheus 2.42 and VictoriaMetrics 1.79 (Debian's packages;
# VictoriaMetrics with -search.disableCache, timed only): all get the same
# remote_write bodies (10,000+ series over 24 h: node-exporter-like counters and gauges,
# classic histograms, and the demo-service series the PromQL compliance queries read),
# sent in time order; then bench/promql/compare.py runs the compliance list against both
# and times the dashboard queries over 1 h, 6 h and 24 h, and runs the list again with
# Pharos restarted with Prometheus 2's selection windows.
#
#   bench/promql/run.sh [--series 10000] [--hours 24] [--interval-ms 30000] [--runs 5]
#                       [--latency-only]   (skip the compliance comparison)
set -euo pipefail
cd "$(dirname "$0")/../.."
. bench/lib.sh

SERIES=10000
HOURS=24
INTERVAL_MS=30000
RUNS=5
COMPLIANCE=1
while [ $# -gt 0 ]; do
  case "$1" in
    --series) SERIES=$2; shift 2 ;;
    --hours) HOURS=$2; shift 2 ;;
    --interval-ms) INTERVAL_MS=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --latency-only) COMPLIANCE=0; shift ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done

scripts/install-deps --bench
make --no-print-directory build >/dev/null
PHAROS=$PWD/build/release/pharos
RWBENCH=$PWD/build/release/bench/metrics/rwbench
TESTDATA=${PHAROS_TESTDATA:-$PWD/../shared/testdata}
QUERIES=$TESTDATA/promql-compliance/promql-test-queries.yml
[ -f "$QUERIES" ] || { echo "$QUERIES not found (set PHAROS_TESTDATA)" >&2; exit 2; }

WORK=$(mktemp -d /tmp/pharos-bench-promql.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT


POINTS=$((HOURS * 3600000 / INTERVAL_MS))
GEN=$("$RWBENCH" generate --series "$SERIES" --demo 3 --points "$POINTS" --shards 1 \
  --interval-ms "$INTERVAL_MS" --out "$WORK/bodies.bin")
echo "$GEN"
END_MS=$(echo "$GEN" | sed -E 's/.*time [0-9]+\.\.([0-9]+).*/\1/')
END=$((END_MS / 1000))

PHAROS_PORT=$(free_port)
"$PHAROS" serve --listen "127.0.0.1:$PHAROS_PORT" --data "$WORK/pharos" --log-level warn \
  --set global.scrape_self=false --set otlp.listen= --set otlp.grpc_listen= &
PIDS+=($!)
PROM_PORT=$(free_port)
printf 'global:\n  scrape_interval: 1h\n' > "$WORK/prometheus.yml"
prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/prom" \
  --web.listen-address="127.0.0.1:$PROM_PORT" --web.enable-remote-write-receiver \
  --storage.tsdb.retention.time=10y --log.level=error &
PIDS+=($!)
VM_PORT=$(free_port)
victoria-metrics -storageDataPath="$WORK/vm" -httpListenAddr="127.0.0.1:$VM_PORT" \
  -retentionPeriod=100y -search.disableCache -search.latencyOffset=0s -loggerLevel=ERROR &
PIDS+=($!)
wait_http "http://127.0.0.1:$PHAROS_PORT/readyz"
wait_http "http://127.0.0.1:$PROM_PORT/-/ready"
wait_http "http://127.0.0.1:$VM_PORT/health"

echo "loading pharos:     $("$RWBENCH" send --file "$WORK/bodies.bin" --port "$PHAROS_PORT" | head -1)"
echo "loading prometheus: $("$RWBENCH" send --file "$WORK/bodies.bin" --port "$PROM_PORT" | head -1)"
echo "loading victoria:   $("$RWBENCH" send --file "$WORK/bodies.bin" --port "$VM_PORT" | head -1)"
curl -sf "http://127.0.0.1:$VM_PORT/internal/force_flush" >/dev/null
sleep 5

echo
echo "PromQL: pharos vs prometheus $(prometheus --version 2>&1 | head -1 | awk '{print $3}') and victoria-metrics $(dpkg-query -W -f='${Version}' victoria-metrics 2>/dev/null), $SERIES+ series over ${HOURS}h at $((INTERVAL_MS / 1000))s, $(date -u +%F), $(nproc) cores"
SKIP=()
[ "$COMPLIANCE" = 1 ] || SKIP=(--skip-compliance)
python3 bench/promql/compare.py --pharos "$PHAROS_PORT" --prometheus "$PROM_PORT" \
  --victoria "$VM_PORT" --queries "$QUERIES" --end "$END" --runs "$RUNS" \
  --compat docs/promql-compat.md "${SKIP[@]}" || true
[ "$COMPLIANCE" = 1 ] || exit 0

# The differences above should all come from Prometheus 3's left-open windows (and its
# UTF-8 names): restarted with Prometheus 2's windows, Pharos should match 2.42 exactly
# but for the names.
kill "${PIDS[0]}"; wait "${PIDS[0]}" 2>/dev/null || true
"$PHAROS" serve --listen "127.0.0.1:$PHAROS_PORT" --data "$WORK/pharos" --log-level warn \
  --set global.scrape_self=false --set otlp.listen= --set otlp.grpc_listen= --set query.prometheus2_windows=true &
PIDS[0]=$!
wait_http "http://127.0.0.1:$PHAROS_PORT/readyz"
echo
echo "with query.prometheus2_windows=true:"
python3 bench/promql/compare.py --pharos "$PHAROS_PORT" --prometheus "$PROM_PORT" \
  --queries "$QUERIES" --end "$END" --skip-latency --compat docs/promql-compat.md \
  --prometheus2-windows
