#!/usr/bin/env bash
# Side-by-side HTTP benchmark: wrk against Pharos's /healthz and against nginx (one
# worker) serving a 13-byte static body, both on loopback, same wrk settings, one run.
# Prints requests/s, p99 latency and server CPU per request for each, and the ratios.
#
#   bench/http/run.sh [--duration 10s] [--connections 64] [--threads 1] [--pharos-threads 1]
set -euo pipefail
cd "$(dirname "$0")/../.."
. bench/lib.sh

DURATION=10s
CONNECTIONS=64
WRK_THREADS=1
PHAROS_THREADS=1
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) DURATION=$2; shift 2 ;;
    --connections) CONNECTIONS=$2; shift 2 ;;
    --threads) WRK_THREADS=$2; shift 2 ;;
    --pharos-threads) PHAROS_THREADS=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done

PHAROS=build/release/pharos
[ -x "$PHAROS" ] || { echo "build first: make build" >&2; exit 1; }
for tool in wrk nginx; do
  command -v "$tool" >/dev/null || [ -x "/usr/sbin/$tool" ] || { echo "missing $tool: scripts/install-deps" >&2; exit 1; }
done
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

WORK=$(mktemp -d)
cleanup() {
  [ -n "${PHAROS_PID:-}" ] && kill "$PHAROS_PID" 2>/dev/null || true
  [ -n "${NGINX_PID:-}" ] && kill "$NGINX_PID" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
TICKS=$(getconf CLK_TCK)

# --- nginx, one worker, a 13-byte body ---
NGINX_PORT=$(free_port)
mkdir -p "$WORK/nginx/logs"
cat > "$WORK/nginx/nginx.conf" <<CONF
worker_processes 1;
daemon off;
master_process off;
error_log $WORK/nginx/logs/error.log warn;
pid $WORK/nginx/nginx.pid;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$NGINX_PORT;
    location = /healthz { default_type text/plain; return 200 "Hello, world!"; }
  }
}
CONF
"$NGINX" -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" &
NGINX_PID=$!

# --- Pharos ---
"$PHAROS" serve --listen 127.0.0.1:0 --port-file "$WORK/pharos.port" --data "$WORK/data" \
  --threads "$PHAROS_THREADS" --log-level warn --set otlp.listen= --set otlp.grpc_listen= &
PHAROS_PID=$!
for _ in $(seq 100); do [ -s "$WORK/pharos.port" ] && break; sleep 0.05; done
PHAROS_PORT=$(cat "$WORK/pharos.port")
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$NGINX_PORT/healthz" >/dev/null && break; sleep 0.05; done

run() {  # name pid url -> "rps p99_ms cpu_us_per_req"
  local name=$1 pid=$2 url=$3
  wrk -t "$WRK_THREADS" -c "$CONNECTIONS" -d 2s "$url" >/dev/null  # warm-up
  local before after out
  before=$(cpu_ticks "$pid")
  out=$(wrk -t "$WRK_THREADS" -c "$CONNECTIONS" -d "$DURATION" --latency "$url")
  after=$(cpu_ticks "$pid")
  local requests rps p99
  requests=$(echo "$out" | awk '/requests in/ {print $1}')
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  p99=$(echo "$out" | awk '$1 == "99%" {print $2}')
  local p99_ms
  p99_ms=$(python3 -c "
v='$p99'
units={'us':0.001,'ms':1,'s':1000}
for u in ('us','ms','s'):
    if v.endswith(u): print(round(float(v[:-len(u)])*units[u],3)); break")
  local cpu_us
  cpu_us=$(python3 -c "print(round(($after-$before)/$TICKS*1e6/$requests, 3))")
  echo "$rps $p99_ms $cpu_us"
}

read -r N_RPS N_P99 N_CPU < <(run nginx "$NGINX_PID" "http://127.0.0.1:$NGINX_PORT/healthz")
read -r P_RPS P_P99 P_CPU < <(run pharos "$PHAROS_PID" "http://127.0.0.1:$PHAROS_PORT/healthz")

echo "wrk -t$WRK_THREADS -c$CONNECTIONS -d$DURATION; nginx 1 worker; pharos --threads $PHAROS_THREADS"
printf '%-8s %12s %10s %16s\n' server "requests/s" "p99 ms" "cpu us/request"
printf '%-8s %12s %10s %16s\n' nginx "$N_RPS" "$N_P99" "$N_CPU"
printf '%-8s %12s %10s %16s\n' pharos "$P_RPS" "$P_P99" "$P_CPU"
python3 - <<PY
n_rps, p_rps = float("$N_RPS"), float("$P_RPS")
n_cpu, p_cpu = float("$N_CPU"), float("$P_CPU")
n_p99, p_p99 = float("$N_P99"), float("$P_P99")
print(f"pharos/nginx: requests/s {p_rps/n_rps:.2f}x, p99 {p_p99/n_p99:.2f}x, "
      f"cpu per request {p_cpu/n_cpu:.2f}x (lower is better for p99 and cpu)")
PY
