#!/usr/bin/env bash
# The demo's web pod: Debian's nginx on port 80 serving a page that names the pod, over IPv4 and,
# where the kernel has IPv6, over IPv6 too (as nginx's image listens by default): a dual-stack or
# IPv6 cluster's Service reaches it by either address. Everything nginx writes (config, pid,
# temp files, page) lives in the pod's scratch dir; the access log goes to stdout, i.e.
# `ambitctl local logs <ns>/web-0`.
set -eu
dir=${AMBIT_POD_DIR:?run by ambitctl local up}
listen6=
[ -e /proc/net/if_inet6 ] && listen6="listen [::]:80;"
mkdir -p "$dir/nginx/www"
cat > "$dir/nginx/www/index.html" <<PAGE
hello from $POD_NAMESPACE/$POD_NAME ($POD_IP) on $NODE_NAME
PAGE
cat > "$dir/nginx/nginx.conf" <<CONF
# The pod runs as root in its own netns; workers stay root so they can read the scratch dir.
user root;
worker_processes 1;
pid $dir/nginx/nginx.pid;
error_log stderr warn;
events { worker_connections 256; }
http {
	log_format demo '\$time_local \$remote_addr "\$request" \$status \$body_bytes_sent';
	access_log /dev/stdout demo;
	client_body_temp_path $dir/nginx/body;
	proxy_temp_path $dir/nginx/proxy;
	fastcgi_temp_path $dir/nginx/fastcgi;
	uwsgi_temp_path $dir/nginx/uwsgi;
	scgi_temp_path $dir/nginx/scgi;
	server {
		listen 80;
		$listen6
		root $dir/nginx/www;
		default_type text/plain;
		location / { index index.html; }
	}
}
CONF
exec nginx -e stderr -p "$dir/nginx" -c "$dir/nginx/nginx.conf" -g 'daemon off;'
