#!/usr/bin/env bash
# The console's explorer on a 24 h range of 200 series, in headless Chromium: loads 24 h of
# 200 gauges at 30 s (576,000 samples) into a fresh Pharos, then times the explorer from
# navigation to the drawn chart, and re-running the query on a loaded page.
#
#   bench/console/run.sh [--runs 7]
set -euo pipefail
cd "$(dirname "$0")/../.."
. bench/lib.sh
RUNS=7
[ "${1:-}" = "--runs" ] && RUNS=$2

make --no-print-directory build >/dev/null
PHAROS=$PWD/build/release/pharos
WORK=$(mktemp -d /tmp/pharos-bench-console.XXXXXX)
PID=""
cleanup() {
  [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

PORT=$(free_port)
"$PHAROS" serve --listen "127.0.0.1:$PORT" --data "$WORK/data" --log-level warn \
  --set otlp.listen= --set otlp.grpc_listen= --set global.scrape_self=false &
PID=$!
wait_http "http://127.0.0.1:$PORT/readyz"
python3 - "$PORT" <<'PY'
import math, sys, time, urllib.request
port = sys.argv[1]
end = int(time.time()) // 30 * 30
for hour in range(24):
    lines = []
    for t in range(end - 86400 + hour * 3600, end - 86400 + (hour + 1) * 3600, 30):
        for s in range(200):
            v = 50 + 40 * math.sin(t / 3600 + s) + (s % 7)
            lines.append(f'bench_value{{series="s{s:03d}",host="h{s % 20}"}} {v:.3f} {t * 1000}')
    req = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/import/prometheus",
                                 data="\n".join(lines).encode(), method="POST",
                                 headers={"Content-Type": "text/plain; version=0.0.4"})
    urllib.request.urlopen(req).read()
print("loaded 200 series x 24 h at 30 s")
PY
echo "Console explorer, 24 h of 200 series, $(date -u +%F), $(nproc) cores, $(chromium --version 2>/dev/null)"
node bench/console/render.mjs --url "http://127.0.0.1:$PORT" --runs "$RUNS"
