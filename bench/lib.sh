# Shell helpers the bench/*/run.sh scripts share. Source it: `. bench/lib.sh`.

# A loopback TCP port nothing listens on right now.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Waits up to 60 s for URL to answer 2xx.
wait_http() {
  for _ in $(seq 600); do curl -sf "$1" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "timeout waiting for $1" >&2
  return 1
}

# A field of /proc/PID/status in KiB: `kib PID VmRSS`.
kib() { awk -v k="$2" '$1 == k":" {print $2}' "/proc/$1/status"; }
