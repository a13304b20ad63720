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

# Starts Debian's clickhouse-server with its data, logs and ports under DIR (the packaged
# config, paths and ports moved). Sets CH_PID, CH_TCP and CH_HTTP; `ch` runs the client.
start_clickhouse() {
  local dir=$1
  CH_TCP=$(free_port)
  CH_HTTP=$(free_port)
  mkdir -p "$dir"
  sed -e "s|/var/lib/clickhouse/|$dir/|g" -e "s|/var/log/clickhouse-server/|$dir/|g" \
      -e "s|<http_port>8123</http_port>|<http_port>$CH_HTTP</http_port>|" \
      -e "s|<tcp_port>9000</tcp_port>|<tcp_port>$CH_TCP</tcp_port>|" \
      -e "s|<https_port>8443</https_port>||" -e "s|<interserver_http_port>9009</interserver_http_port>||" \
      -e "s|<listen_host>::1</listen_host>||" \
      /etc/clickhouse-server/config.xml > "$dir/config.xml"
  cp /etc/clickhouse-server/users.xml "$dir/users.xml"
  clickhouse-server --config-file="$dir/config.xml" >"$dir/stdout.log" 2>&1 &
  CH_PID=$!
  wait_http "http://127.0.0.1:$CH_HTTP/ping"
}
ch() { clickhouse-client --host 127.0.0.1 --port "$CH_TCP" "$@"; }
