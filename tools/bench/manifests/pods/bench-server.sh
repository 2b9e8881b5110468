#!/usr/bin/env bash
# Benchmark server pod: the same servers on every path, so only the carrier differs.
#   8080  nginx, a fixed 64-byte HTTP/1.1 response (wrk)
#   5201  iperf3 -s (throughput)
#   11111 sockperf server, TCP (ping-pong latency)
#   9100  bench-holdconns serve, an echo server (1,000 long-lived connections, byte-checked)
# In a dual-stack cluster (the pod has a global IPv6 address) nginx and sockperf answer on IPv6
# too, on the same ports; iperf3 listens on both families by itself. Debian's sockperf takes
# IPv4 only, so a second one runs with bench-sockperf6.so (tools/bench/sockperf6.c), which
# changes where its sockets listen, not how it answers.
set -eu
dir=${AMBIT_POD_DIR:?}
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../../.." && pwd)
ulimit -n 65536 2>/dev/null || true
v6=
ip -6 -o addr show scope global 2>/dev/null | grep -q . && v6=1
mkdir -p "$dir/nginx"
cat > "$dir/nginx/nginx.conf" <<CONF
worker_processes 1;
worker_rlimit_nofile 65536;
pid $dir/nginx/nginx.pid;
error_log stderr warn;
daemon off;
events { worker_connections 8192; }
http {
	access_log off;
	keepalive_requests 1000000;
	client_body_temp_path $dir/nginx/body;
	proxy_temp_path $dir/nginx/proxy;
	fastcgi_temp_path $dir/nginx/fastcgi;
	uwsgi_temp_path $dir/nginx/uwsgi;
	scgi_temp_path $dir/nginx/scgi;
	server {
		listen 8080 reuseport backlog=4096;
		${v6:+listen [::]:8080 reuseport backlog=4096;}
		location / {
			default_type text/plain;
			return 200 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\n";
		}
	}
}
CONF
# Any server dying ends the pod (and shows in its log) rather than leaving a half-served bench.
iperf3 -s -p 5201 &
sockperf server --tcp -i 0.0.0.0 -p 11111 >/dev/null &
if [ -n "$v6" ]; then
	LD_PRELOAD=$repo/build/bench-sockperf6.so BENCH_SOCKPERF6=:: \
		sockperf server --tcp -i 0.0.0.0 -p 11111 >/dev/null &
fi
"$repo/build/bench-holdconns" serve 0.0.0.0 9100 &
nginx -c "$dir/nginx/nginx.conf" &
wait -n
echo "bench-server: a server exited" >&2
kill $(jobs -p) 2>/dev/null
exit 1
