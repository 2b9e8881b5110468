#!/usr/bin/env bash
# A pod of the chain bench: "front" proxies every request to back:9080 over keep-alive
# connections (as productpage calls details), "back" answers a fixed small JSON body.
set -eu
role=$1
dir=${AMBIT_POD_DIR:?}
mkdir -p "$dir/nginx"
if [ "$role" = front ]; then
	site='upstream back { server back:9080; keepalive 32; }
	server { listen 9080; location / { proxy_pass http://back; proxy_http_version 1.1;
		proxy_set_header Connection ""; proxy_set_header Host back; } }'
else
	site='server { listen 9080; location / { default_type application/json;
		return 200 "{\"id\":0,\"author\":\"William Shakespeare\",\"year\":1595,\"type\":\"paperback\"}\n"; } }'
fi
cat >"$dir/nginx/nginx.conf" <<CONF
worker_processes 1;
pid $dir/nginx/nginx.pid;
error_log stderr warn;
daemon off;
events { worker_connections 4096; }
http {
	access_log off;
	keepalive_requests 1000000;
	client_body_temp_path $dir/nginx/body;
	proxy_temp_path $dir/nginx/proxy;
	fastcgi_temp_path $dir/nginx/fastcgi;
	uwsgi_temp_path $dir/nginx/uwsgi;
	scgi_temp_path $dir/nginx/scgi;
	$site
}
CONF
exec nginx -c "$dir/nginx/nginx.conf" -p "$dir/nginx"
