#!/usr/bin/env bash
# Test server pod: nginx on 8080 answering who called it, and a byte-transfer service on 9000
# (socat): a connection whose first line is "UP" gets the sha256 of everything it sends after
# it; "DOWN N" gets N bytes of the deterministic test stream (see xfer-data.sh).
set -eu
dir=${AMBIT_POD_DIR:?}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$dir/nginx"
# A dual-stack pod (an IPv6 address on eth0) serves both families, as a pod of such a cluster.
listen6=
if ip -6 -o addr show dev eth0 scope global 2>/dev/null | grep -q inet6; then
	listen6="listen [::]:8080 ipv6only=on;"
	socat TCP6-LISTEN:9000,ipv6only=1,reuseaddr,fork EXEC:"$here/xfer-server.sh" &
fi
cat > "$dir/nginx/nginx.conf" <<CONF
worker_processes 1;
pid $dir/nginx/nginx.pid;
error_log stderr warn;
daemon off;
events { worker_connections 1024; }
http {
	access_log /dev/stdout;
	client_body_temp_path $dir/nginx/body;
	proxy_temp_path $dir/nginx/proxy;
	fastcgi_temp_path $dir/nginx/fastcgi;
	uwsgi_temp_path $dir/nginx/uwsgi;
	scgi_temp_path $dir/nginx/scgi;
	server {
		listen 8080;
		$listen6
		location / {
			default_type text/plain;
			return 200 "pod=$POD_NAMESPACE/$POD_NAME from=\$remote_addr echo=\$http_x_echo\n";
		}
	}
}
CONF
socat TCP-LISTEN:9000,reuseaddr,fork EXEC:"$here/xfer-server.sh" &
exec nginx -c "$dir/nginx/nginx.conf"
