#!/usr/bin/env bash
# Bookinfo-shaped server pod: nginx answering who called it on 9080 (the sample's port) and 9081
# (a second workload port for port-scoped policy), and a TCP echo on 9082 for long-lived
# connections (policy revocation).
set -eu
dir=${AMBIT_POD_DIR:?}
mkdir -p "$dir/nginx"
# A pod with an IPv6 address on eth0 (a dual-stack or IPv6-only cluster's) serves it too.
listen6=
if ip -6 -o addr show dev eth0 scope global 2>/dev/null | grep -q inet6; then
	listen6="listen [::]:9080 ipv6only=on; listen [::]:9081 ipv6only=on;"
	socat TCP6-LISTEN:9082,ipv6only=1,reuseaddr,fork EXEC:cat &
fi
cat >"$dir/nginx/nginx.conf" <<CONF
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
		listen 9080;
		listen 9081;
		$listen6
		location / {
			default_type text/plain;
			return 200 "pod=$POD_NAMESPACE/$POD_NAME port=\$server_port from=\$remote_addr\n";
		}
	}
}
CONF
socat TCP-LISTEN:9082,reuseaddr,fork EXEC:cat &
exec nginx -c "$dir/nginx/nginx.conf"
