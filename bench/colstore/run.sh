#!/usr/bin/env bash
# Side-by-side column-store benchmark: the same loghub-shaped rows (colbench: every loghub
# system's 2k raw lines, cycled, each with a fresh request id; 32 streams of system and
# host; body and level columns) loaded into Pharos's colstore and into ClickHouse 18.16
# (Debian's clickhouse-server, a MergeTree ordered by stream and time), both on this
# machine in one run. Prints rows/s appended, bytes on disk per row and full-scan GB/s
# (raw body bytes over the fastest of three scans) for each, and the Pharos/ClickHouse ratios.
#
#   bench/colstore/run.sh [--rows 2000000]
#
# Pharos appends in-process in requests of 1,000 rows, each acknowledged after its WAL
# write; ClickHouse loads the same rows as TSV through clickhouse-client (one INSERT).
set -euo pipefail
cd "$(dirname "$0")/../.."
. bench/lib.sh

ROWS=2000000
while [ $# -gt 0 ]; do
  case "$1" in
    --rows) ROWS=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
TESTDATA=${PHAROS_TESTDATA:-../shared/testdata}
if [ ! -d "$TESTDATA/loghub" ]; then
  echo "bench/colstore: no loghub data under $TESTDATA (set PHAROS_TESTDATA)" >&2
  exit 2
fi

scripts/install-deps --bench
make --no-print-directory build >/dev/null
COLBENCH=$PWD/build/release/bench/colstore/colbench

WORK=$(mktemp -d /tmp/pharos-bench-colstore.XXXXXX)
CH_PID=""
cleanup() {
  [ -n "$CH_PID" ] && kill "$CH_PID" 2>/dev/null && wait "$CH_PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

echo "pharos: $ROWS rows" >&2
PHAROS_JSON=$("$COLBENCH" --testdata "$TESTDATA" --rows "$ROWS" --dir "$WORK/pharos" --tsv "$WORK/rows.tsv")
echo "pharos: $PHAROS_JSON" >&2
rm -rf "$WORK/pharos"

start_clickhouse "$WORK/ch"
ch --query "CREATE TABLE logs (stream String, ts UInt64, body String, level String)
            ENGINE = MergeTree() ORDER BY (stream, ts)"
START=$(date +%s.%N)
ch --query "INSERT INTO logs FORMAT TabSeparated" < "$WORK/rows.tsv"
END=$(date +%s.%N)
CH_APPEND=$(python3 -c "print($END - $START)")
ch --query "OPTIMIZE TABLE logs FINAL" || true
CH_ROWS=$(ch --query "SELECT count() FROM logs")
CH_DISK=$(ch --query "SELECT sum(bytes_on_disk) FROM system.parts WHERE table = 'logs' AND active")
CH_SCAN=1e9
for _ in 1 2 3; do
  START=$(date +%s.%N)
  ch --query "SELECT count(), sum(length(body)), any(level) FROM logs" >/dev/null
  END=$(date +%s.%N)
  CH_SCAN=$(python3 -c "print(min($CH_SCAN, $END - $START))")
done

python3 - "$PHAROS_JSON" "$CH_APPEND" "$CH_ROWS" "$CH_DISK" "$CH_SCAN" "$ROWS" <<'PY'
import json, sys
p = json.loads(sys.argv[1])
ch_append, ch_rows, ch_disk, ch_scan, rows = float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]), int(sys.argv[6])
assert ch_rows == rows, f"clickhouse holds {ch_rows} rows, want {rows}"
raw = p["raw_bytes"]
ch = {"rows_per_second": rows / ch_append, "bytes_per_row": ch_disk / rows, "scan_gb_per_second": raw / ch_scan / 1e9}
print(f"{'':24}{'pharos':>14}{'clickhouse':>14}{'ratio':>10}")
for key, label, better in (("rows_per_second", "append rows/s", "higher"),
                           ("bytes_per_row", "bytes on disk per row", "lower"),
                           ("scan_gb_per_second", "full scan GB/s", "higher")):
    print(f"{label:24}{p[key]:>14.2f}{ch[key]:>14.2f}{p[key] / ch[key]:>9.2f}x  ({better} is better)")
print(f"rows {rows}, raw body bytes {raw}; pharos flush {p['flush_seconds']:.2f} s")
PY
