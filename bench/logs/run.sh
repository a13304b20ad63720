#!/usr/bin/env bash
# Side-by-side log benchmark (issues "Logs: ..." and "Logs at the speed of the fastest log
# stores"): the same loghub-shaped lines (bench/logs/logbench.cc: by default the issue's
# shape, Apache, OpenSSH, HDFS and Linux lines x 5 hosts; with --shape wide, 16 loghub
# systems x 6 hosts; plus 4 streams of JSON application lines, each line with a fresh
# 32-hex id, over the last two hours) pushed into Pharos through Loki's JSON push API (pre-encoded
# 1,000-line bodies, 4 keep-alive connections, each acknowledged after the WAL write) and
# loaded into ClickHouse 18.16 (a MergeTree ordered by stream and time, lines as String,
# through clickhouse-client), both on this machine in one run. Every answer is checked
# against the known data before its time counts; times are medians of 7.
#
#   bench/logs/run.sh [--lines 2000000] [--shape issue|wide] [--floor]
#
# --floor also prints the bytes per line of each stream's whole text as one zstd -19
# frame (minutes of CPU), a reference for the bytes on disk.
#
# Then the same lines as OTLP/HTTP log records into a fresh Pharos (its rate, every line
# counted back). Prints ingest lines/s and MB/s, bytes on disk per line, peak RSS, and the latency of: a
# needle (one line's id, every stream, whole range), a count over everything, a substring
# count by label over the last hour, and a `json` parse with a numeric filter (first 100).
set -euo pipefail
cd "$(dirname "$0")/../.."
. bench/lib.sh

LINES=2000000
SHAPE=issue
FLOOR=0
while [ $# -gt 0 ]; do
  case "$1" in
    --lines) LINES=$2; shift 2 ;;
    --shape) SHAPE=$2; shift 2 ;;
    --floor) FLOOR=1; shift ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
TESTDATA=${PHAROS_TESTDATA:-../shared/testdata}
if [ ! -d "$TESTDATA/loghub" ]; then
  echo "bench/logs: no loghub data under $TESTDATA (set PHAROS_TESTDATA)" >&2
  exit 2
fi

scripts/install-deps --bench
make --no-print-directory build >/dev/null
PHAROS=$PWD/build/release/pharos
LOGBENCH=$PWD/build/release/bench/logs/logbench

WORK=$(mktemp -d /tmp/pharos-bench-logs.XXXXXX)
PID=""
CH_PID=""
cleanup() {
  [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null || true
  [ -n "$CH_PID" ] && kill "$CH_PID" 2>/dev/null && wait "$CH_PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB; $(date -u +%F); shape $SHAPE, $LINES lines"

PORT=$(free_port)
# The push rate limit (logs.ingestion_rate, 64 MiB/s by default) is a tenant's policy, not
# the store's speed: lifted here, or 10 M lines would measure the limit.
"$PHAROS" serve --listen "127.0.0.1:$PORT" --data "$WORK/data" --log-level warn \
  --set global.scrape_self=false --set otlp.listen= --set otlp.grpc_listen= \
  --set logs.ingestion_rate=1TB --set logs.ingestion_burst=1TB &
PID=$!
wait_http "http://127.0.0.1:$PORT/readyz"
echo "pharos: pushing $LINES lines" >&2
EXPECT=$("$LOGBENCH" ingest --testdata "$TESTDATA" --lines "$LINES" --shape "$SHAPE" --port "$PORT" --tsv "$WORK/lines.tsv")
echo "pharos: $EXPECT" >&2
# Queries against what was just written (head and segments alike), then after a flush.
P_QUERY=$("$LOGBENCH" query --port "$PORT" --expect "$EXPECT")
curl -sf -X POST "http://127.0.0.1:$PORT/flush" >/dev/null
P_RSS=$(kib "$PID" VmHWM)
P_DISK=$(du -sb "$WORK/data/logs" | cut -f1)
kill "$PID"; wait "$PID" 2>/dev/null || true; PID=""

# The same lines as OTLP/HTTP protobuf log records into a fresh Pharos: its ingest rate,
# and every line counted back through LogQL.
PORT=$(free_port)
"$PHAROS" serve --listen "127.0.0.1:$PORT" --data "$WORK/otlp" --log-level warn \
  --set global.scrape_self=false --set otlp.grpc_listen= \
  --set logs.ingestion_rate=1TB --set logs.ingestion_burst=1TB &
PID=$!
wait_http "http://127.0.0.1:$PORT/readyz"
echo "pharos: sending $LINES lines as OTLP logs" >&2
OTLP=$("$LOGBENCH" ingest --testdata "$TESTDATA" --lines "$LINES" --shape "$SHAPE" --port "$PORT" --protocol otlp)
OTLP_END=$(python3 -c "import json,sys; print(json.loads(sys.argv[1])['end_ns'] + 1000)" "$OTLP")
OTLP_COUNT=$(curl -sfG "http://127.0.0.1:$PORT/loki/api/v1/query" --data-urlencode "time=$OTLP_END" \
  --data-urlencode 'query=sum(count_over_time({service_name=~".+"}[3h]))' |
  python3 -c "import json,sys; print(json.load(sys.stdin)['data']['result'][0]['value'][1])")
if [ "$OTLP_COUNT" != "$LINES" ]; then
  echo "pharos counted $OTLP_COUNT OTLP lines, want $LINES" >&2; exit 1
fi
kill "$PID"; wait "$PID" 2>/dev/null || true; PID=""

start_clickhouse "$WORK/ch"
ch --query "CREATE TABLE logs (stream String, system String, ts UInt64, line String)
            ENGINE = MergeTree() ORDER BY (stream, ts)"
START=$(date +%s.%N)
ch --query "INSERT INTO logs FORMAT TabSeparated" < "$WORK/lines.tsv"
END=$(date +%s.%N)
CH_INGEST=$(python3 -c "print($END - $START)")
ch --query "OPTIMIZE TABLE logs FINAL" || true
CH_DISK=$(ch --query "SELECT sum(bytes_on_disk) FROM system.parts WHERE table = 'logs' AND active")
CH_RSS=$(kib "$CH_PID" VmHWM)
NEEDLE=$(python3 -c "import json,sys; print(json.loads(sys.argv[1])['needle'])" "$EXPECT")
END_NS=$(python3 -c "import json,sys; print(json.loads(sys.argv[1])['end_ns'])" "$EXPECT")
HOUR_AGO=$((END_NS - 3600000000000))
# Median of 7 of clickhouse-client's own timing (server time plus client round trip).
chtime() {
  local want=$1; shift
  local times=()
  for _ in 1 2 3 4 5 6 7; do
    local out
    out=$(ch --time --query "$1" 2>"$WORK/time" | tr '\n' ' ')
    if [ -n "$want" ] && [ "${out% }" != "$want" ]; then
      echo "clickhouse answered '$out', want '$want' for: $1" >&2; exit 1
    fi
    times+=("$(tail -1 "$WORK/time")")
  done
  printf '%s\n' "${times[@]}" | sort -g | sed -n 4p
}
C_NEEDLE=$(chtime 1 "SELECT count() FROM logs WHERE position(line, '$NEEDLE') > 0")
C_COUNT=$(chtime "$LINES" "SELECT count() FROM logs")
C_SUBSTR=$(chtime "" "SELECT system, count() FROM logs WHERE ts > $HOUR_AGO AND position(line, 'error') > 0 GROUP BY system")
C_JSON=$(chtime "" "SELECT line FROM logs WHERE system = 'app' AND visitParamExtractUInt(line, 'status') >= 500 ORDER BY ts DESC LIMIT 100 FORMAT Null")

python3 - "$EXPECT" "$P_QUERY" "$P_RSS" "$P_DISK" "$CH_INGEST" "$CH_DISK" "$CH_RSS" \
  "$C_NEEDLE" "$C_COUNT" "$C_SUBSTR" "$C_JSON" "$OTLP" <<'PY'
import json, sys
e, q = json.loads(sys.argv[1]), json.loads(sys.argv[2])
p_rss, p_disk, ch_ingest, ch_disk, ch_rss = (float(x) for x in sys.argv[3:8])
c_needle, c_count, c_substr, c_json = (float(x) * 1000 for x in sys.argv[8:12])
otlp = json.loads(sys.argv[12])
lines, raw = e["lines"], e["raw_bytes"]
rows = [
    ("ingest lines/s", e["lines_per_second"], lines / ch_ingest, "higher"),
    ("ingest MB/s (raw)", e["mb_per_second"], raw / ch_ingest / 1e6, "higher"),
    ("bytes on disk per line", p_disk / lines, ch_disk / lines, "lower"),
    ("peak RSS MB", p_rss / 1024, ch_rss / 1024, "lower"),
    ("needle ms", q["needle_ms"], c_needle, "lower"),
    ("count everything ms", q["count_all_ms"], c_count, "lower"),
    ("substring count by label 1h ms", q["substring_count_by_label_1h_ms"], c_substr, "lower"),
    ("json + filter, first 100 ms", q["json_filter_first_100_ms"], c_json, "lower"),
]
print(f"{'':34}{'pharos':>12}{'clickhouse':>12}{'ratio':>9}")
for label, p, c, better in rows:
    print(f"{label:34}{p:>12.2f}{c:>12.2f}{p / c:>8.2f}x  ({better} is better)")
print(f"lines {lines}, raw bytes {raw} ({raw / lines:.0f} per line; pharos keeps 1/{raw / p_disk:.1f} of it)")
print(f"OTLP logs ingest: {otlp['lines_per_second']:.0f} lines/s, "
      f"{otlp['lines_per_second'] / e['lines_per_second']:.2f}x the Loki push rate (all counted back)")
PY
if [ "$FLOOR" = 1 ]; then
  echo "reference for bytes on disk (each stream's whole text as one zstd -19 frame; the ids alone):"
  "$LOGBENCH" floor --tsv "$WORK/lines.tsv"
fi
