#!/usr/bin/env bash
# The waypoint's HTTP/1.1 cost on this machine, on loopback without a cluster: wrk (keep-alive)
# against nginx directly and through build/waypoint (its model from tools/bench/waypoint/
# world.yaml by `ambitctl waypoint config`: a VirtualService route with a header operation and a
# DestinationRule subset, so requests take the whole path), repetitions interleaved so machine
# drift lands on both. Prints requests per second per case and the ratio waypoint / direct.
# Knobs: REPS [3], SECS [5], CONNS ["1 50"], WORKERS [waypoint default: one per CPU].
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
REPS=${REPS:-3} SECS=${SECS:-5} CONNS=${CONNS:-1 50}
for c in wrk nginx python3; do
	command -v "$c" >/dev/null || { echo "waypoint bench: needs $c (make deps)"; exit 1; }
done
for b in "$REPO/build/waypoint" "$REPO/build/ambitctl"; do
	[ -x "$b" ] || { echo "waypoint bench: $b not built (make)"; exit 1; }
done
tmp=$(mktemp -d)
ng_pid= wp_pid=
cleanup() {
	[ -n "$wp_pid" ] && kill "$wp_pid" 2>/dev/null
	[ -n "$ng_pid" ] && kill "$ng_pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
read -r be lp < <(python3 "$REPO/tools/freeports.py" 2)

mkdir -p "$tmp/logs"
cat >"$tmp/nginx.conf" <<NGINX
worker_processes 1;
daemon off;
pid $tmp/nginx.pid;
error_log $tmp/logs/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $tmp/body;
  proxy_temp_path $tmp/proxy;
  fastcgi_temp_path $tmp/fcgi;
  uwsgi_temp_path $tmp/uwsgi;
  scgi_temp_path $tmp/scgi;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$be;
    location / { return 200 "hello\n"; }
  }
}
NGINX
nginx -c "$tmp/nginx.conf" -p "$tmp" >/dev/null 2>&1 &
ng_pid=$!
sed "s/BENCH_PORT/$be/" "$HERE/waypoint/world.yaml" >"$tmp/world.yaml"
"$REPO/build/ambitctl" waypoint config -f "$tmp/world.yaml" -n bench --name wp >"$tmp/l7.json" ||
	exit 1
"$REPO/build/waypoint" --config "$tmp/l7.json" --listen "127.0.0.1:$lp=web.bench.svc.cluster.local:80" \
	--log-level warn ${WORKERS:+--workers "$WORKERS"} >/dev/null 2>"$tmp/logs/waypoint.log" &
wp_pid=$!
for p in "$be" "$lp"; do
	for _ in $(seq 50); do curl -sf -o /dev/null -H "host: web" "http://127.0.0.1:$p/" && break; sleep 0.1; done
done

rps() { # PORT CONNS
	wrk -t"$(($2 < 2 ? 1 : 2))" -c"$2" -d"${SECS}s" -H "host: web" "http://127.0.0.1:$1/" 2>&1 |
		awk '/Requests\/sec/ { printf "%d", $2 }'
}
printf "%-6s %-8s %s\n" conns path "requests/s per repetition"
for c in $CONNS; do
	d= w=
	for _ in $(seq "$REPS"); do
		d="$d $(rps "$be" "$c")"
		w="$w $(rps "$lp" "$c")"
	done
	printf "%-6s %-8s%s\n%-6s %-8s%s\n" "$c" direct "$d" "$c" waypoint "$w"
	python3 - "$d" "$w" <<'PY'
import statistics, sys
d, w = (statistics.median(int(x) for x in a.split()) for a in sys.argv[1:3])
print(f"       median waypoint/direct = {w}/{d} = {w / d:.2f}")
PY
done
