#!/usr/bin/env bash
# Side-by-side trace benchmark (issue "Traces: ..."): the same demo-shop-shaped traces
# (bench/traces/tracebench.cc: frontend -> checkout -> cart, payment, inventory with their
# database calls, 5 to 50 spans a trace, semantic-convention attributes, over the last two
# hours) sent to Pharos as OTLP/HTTP protobuf (pre-encoded bodies of about 1,000 spans, 4
# keep-alive connections, each acknowledged after the WAL write) and loaded into
# ClickHouse 18.16 in the table layout SigNoz uses (one row per span, ordered by service and
# time, attributes as key and value arrays), both on this machine in one run. Every answer
# is checked before its time counts.
#
#   bench/traces/run.sh [--spans 2000000]
#
# Prints ingest spans/s (and per core), bytes on disk per span, peak RSS, trace by id p50
# and p99 (200 traces, Jaeger's /api/traces/{id} against SELECT ... WHERE traceID = ...),
# and the search "payment, payment.method=card, duration > 1 s, whole range, 20 traces"
# (Jaeger's /api/traces, which returns the traces whole, against SELECT DISTINCT traceID).
set -euo pipefail
cd "$(dirname "$0")/../.."
. bench/lib.sh

SPANS=2000000
while [ $# -gt 0 ]; do
  case "$1" in
    --spans) SPANS=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done

scripts/install-deps --bench
make --no-print-directory build >/dev/null
PHAROS=$PWD/build/release/pharos
TRACEBENCH=$PWD/build/release/bench/traces/tracebench

WORK=$(mktemp -d /tmp/pharos-bench-traces.XXXXXX)
PID=""
CH_PID=""
cleanup() {
  [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null || true
  [ -n "$CH_PID" ] && kill "$CH_PID" 2>/dev/null && wait "$CH_PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
CORES=$(nproc)
echo "machine: $CORES cores, $(free -g | awk '/Mem:/ {print $2}') GiB; $(date -u +%F); $SPANS spans"

PORT=$(free_port)
"$PHAROS" serve --listen "127.0.0.1:$PORT" --data "$WORK/data" --log-level warn \
  --set global.scrape_self=false --set otlp.listen= --set otlp.grpc_listen= &
PID=$!
wait_http "http://127.0.0.1:$PORT/readyz"
echo "pharos: sending $SPANS spans" >&2
EXPECT=$("$TRACEBENCH" ingest --spans "$SPANS" --port "$PORT" --tsv "$WORK/spans.tsv")
# Lookups against what was just written (head and segments), then once the head is cut.
P_HEAD=$("$TRACEBENCH" query --port "$PORT" --expect "$EXPECT")
curl -sf -X POST "http://127.0.0.1:$PORT/flush" >/dev/null
P_QUERY=$("$TRACEBENCH" query --port "$PORT" --expect "$EXPECT")
P_RSS=$(kib "$PID" VmHWM)
P_DISK=$(du -sb "$WORK/data/traces/segments" | cut -f1)
kill "$PID"; wait "$PID" 2>/dev/null || true; PID=""

start_clickhouse "$WORK/ch"
ch --query "CREATE TABLE spans (ts UInt64, traceID String, spanID String, parentSpanID String,
            serviceName String, name String, kind Int8, durationNano UInt64, statusCode Int16,
            httpMethod String, httpUrl String, httpCode String, dbSystem String,
            tagKeys Array(String), tagValues Array(String))
            ENGINE = MergeTree() ORDER BY (serviceName, ts)"
START=$(date +%s.%N)
ch --query "INSERT INTO spans FORMAT TabSeparated" < "$WORK/spans.tsv"
END=$(date +%s.%N)
CH_INGEST=$(python3 -c "print($END - $START)")
ch --query "OPTIMIZE TABLE spans FINAL" || true
CH_DISK=$(ch --query "SELECT sum(bytes_on_disk) FROM system.parts WHERE table = 'spans' AND active")
CH_RSS=$(kib "$CH_PID" VmHWM)
# clickhouse-client's own timing (server time plus client round trip), checked answers.
chtime() {
  local want=$1 query=$2 out
  out=$(ch --time --query "$query" 2>"$WORK/time" | tr '\n' ' ')
  if [ "${out% }" != "$want" ]; then
    echo "clickhouse answered '$out', want '$want' for: $query" >&2; exit 1
  fi
  tail -1 "$WORK/time"
}
SAMPLE=$(python3 -c "import json,sys; print(json.loads(sys.argv[1])['sample'])" "$EXPECT")
BY_ID=()
for item in $(echo "$SAMPLE" | tr ',' ' ' | cut -d' ' -f1-40); do
  BY_ID+=("$(chtime "${item#*:}" "SELECT count() FROM spans WHERE traceID = '${item%%:*}'")")
done
C_BY_ID=$(printf '%s\n' "${BY_ID[@]}" | sort -g | python3 -c "
import sys; v = [float(x) for x in sys.stdin]; print(v[len(v) // 2], v[int(0.99 * (len(v) - 1))])")
SLOW=$(python3 -c "import json,sys; print(min(20, json.loads(sys.argv[1])['slow_card']))" "$EXPECT")
SEARCH=()
for _ in 1 2 3 4 5 6 7; do
  SEARCH+=("$(chtime "$SLOW" "SELECT count() FROM (SELECT DISTINCT traceID FROM spans
    WHERE serviceName = 'payment' AND durationNano > 1000000000
      AND tagValues[indexOf(tagKeys, 'payment.method')] = 'card' LIMIT 20)")")
done
C_SEARCH=$(printf '%s\n' "${SEARCH[@]}" | sort -g | sed -n 4p)

python3 - "$EXPECT" "$P_HEAD" "$P_QUERY" "$P_RSS" "$P_DISK" "$CH_INGEST" "$CH_DISK" "$CH_RSS" \
  "$C_BY_ID" "$C_SEARCH" "$CORES" <<'PY'
import json, sys
e, head, q = (json.loads(x) for x in sys.argv[1:4])
p_rss, p_disk, ch_ingest, ch_disk, ch_rss = (float(x) for x in sys.argv[4:9])
c_p50, c_p99 = (float(x) * 1000 for x in sys.argv[9].split())
c_search = float(sys.argv[10]) * 1000
cores = int(sys.argv[11])
spans = e["spans"]
rows = [
    ("ingest spans/s", e["spans_per_second"], spans / ch_ingest, "higher"),
    ("ingest spans/s per core", e["spans_per_second"] / cores, spans / ch_ingest / cores, "higher"),
    ("bytes on disk per span", p_disk / spans, ch_disk / spans, "lower"),
    ("peak RSS MB", p_rss / 1024, ch_rss / 1024, "lower"),
    ("trace by id p50 ms", q["by_id_p50_ms"], c_p50, "lower"),
    ("trace by id p99 ms", q["by_id_p99_ms"], c_p99, "lower"),
    ("search (service+tag+duration) ms", q["search_ms"], c_search, "lower"),
]
print(f"{'':36}{'pharos':>12}{'clickhouse':>12}{'ratio':>9}")
for label, p, c, better in rows:
    print(f"{label:36}{p:>12.2f}{c:>12.2f}{p / c:>8.2f}x  ({better} is better)")
print(f"spans {spans} in {e['traces']} traces; OTLP protobuf {e['otlp_bytes'] / spans:.0f} bytes a span")
print(f"pharos before the head was cut: trace by id p50 {head['by_id_p50_ms']:.2f} ms, "
      f"p99 {head['by_id_p99_ms']:.2f} ms, search {head['search_ms']:.2f} ms")
PY
