#!/usr/bin/env bash
# Bookinfo-shaped server pod: nginx answering who called it on 9080 (the sample's port) and 9081
# (a second workload port for port-scoped policy), and a TCP echo on 9082 for long-lived
# connections (policy revocation).
set -eu
dir=${AMBIT_POD_DIR:?}
mkdir -p "$dir/nginx"
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
		location / {
			default_type text/plain;
			return 200 "pod=$POD_NAMESPACE/$POD_NAME port=\$server_port from=\$remote_addr\n";
		}
	}
}
CONF
socat TCP-LISTEN:9082,reuseaddr,fork EXEC:cat &
exec nginx -c "$dir/nginx/nginx.conf"
