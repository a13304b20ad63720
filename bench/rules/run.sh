#!/usr/bin/env bash
# Rule evaluation at scale: 10,000 alerting and recording rules (500 groups of 20, every
# 15 s) over 100,000 series, on this machine. Loads 10 minutes of node-like series ending
# now (rwbench), then loads the rules with POST /-/reload and watches INTERVALS intervals:
# per interval the groups evaluated, total and slowest group evaluation time, the largest
# start lag, missed iterations and firing alerts. Target: every group finishes inside its
# interval (no missed iterations, slowest group < 15 s).
#
#   bench/rules/run.sh [--series 100000] [--groups 500] [--rules 20] [--intervals 8]
set -euo pipefail
cd "$(dirname "$0")/../.."
. bench/lib.sh

SERIES=100000
NGROUPS=500
RULES=20
INTERVALS=8
while [ $# -gt 0 ]; do
  case "$1" in
    --series) SERIES=$2; shift 2 ;;
    --groups) NGROUPS=$2; shift 2 ;;
    --rules) RULES=$2; shift 2 ;;
    --intervals) INTERVALS=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done

make --no-print-directory build >/dev/null
PHAROS=$PWD/build/release/pharos
RWBENCH=$PWD/build/release/bench/metrics/rwbench
WORK=$(mktemp -d /tmp/pharos-bench-rules.XXXXXX)
PID=""
cleanup() {
  [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# 10 minutes at 15 s, ending now: every 5-minute window the rules read is full.
"$RWBENCH" generate --series "$SERIES" --points 40 --interval-ms 15000 --out "$WORK/bodies.bin"
INSTANCES=$(( (SERIES + 539) / 540 ))
python3 bench/rules/genrules.py --groups "$NGROUPS" --rules "$RULES" --instances "$INSTANCES" \
  > "$WORK/rules-full.yaml"
: > "$WORK/rules.yaml"
cat > "$WORK/pharos.yaml" <<YAML
global:
  scrape_self: false
  evaluation_interval: 15s
rule_files: [rules.yaml]
YAML

PORT=$(free_port)
"$PHAROS" serve --config "$WORK/pharos.yaml" --listen "127.0.0.1:$PORT" --data "$WORK/data" \
  --log-level warn --set otlp.listen= --set otlp.grpc_listen= &
PID=$!
wait_http "http://127.0.0.1:$PORT/readyz"
echo "loading: $("$RWBENCH" send --file "$WORK/bodies.bin" --port "$PORT" | head -1)"

cp "$WORK/rules-full.yaml" "$WORK/rules.yaml"
curl -sf -XPOST "http://127.0.0.1:$PORT/-/reload" >/dev/null
echo
echo "Rules: $((NGROUPS * RULES)) rules in $NGROUPS groups every 15 s over $SERIES series," \
  "$(date -u +%F), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
python3 bench/rules/watch.py --port "$PORT" --intervals "$INTERVALS" --interval 15
