# Reference tunnels for tools/bench/run.sh (sourced): stunnel4 and nginx `stream`, each a
# client-side instance in node1's netns and a server-side one in node2's, with certificates from
# the cluster's own mesh CA, TLS 1.3 only and the cipher suite ambit's ztunnel negotiates
# (OpenSSL 3.0's first TLS 1.3 default, TLS_AES_256_GCM_SHA384). Each instance runs in its own
# cgroup under the node's cluster cgroup, so `ambitctl local down` would remove it even if this
# script's own cleanup did not run.
#
# "relay" is the same nginx `stream` pair without TLS: two user-space hops that do no work on
# the bytes. It is the floor of any design with a proxy on each node (the process hops and
# their copies, no crypto), so ambit/relay is what the mesh costs above that floor.
#
# stunnel and nginx also listen on node1's IPv6 address (the stunnel6 and nginx6 paths of run.sh),
# on the same ports as on its IPv4 one, and carry those connections over IPv6 end to end: to
# node2's IPv6, then to the server pod's. Same processes, listeners of their own; the relay stays
# IPv4.
#
# Needs: CLUSTER, RUN_DIR (/run/ambit/$CLUSTER), WORK (scratch dir), NODE1_IP, NODE2_IP,
# PLAIN_SERVER_IP (the non-enrolled server pod on node2), NODE1_IP6, NODE2_IP6, PLAIN_SERVER_IP6,
# SVC_PORTS (name:port ...), host_port (workloads.sh).

TLS13_SUITE=TLS_AES_256_GCM_SHA384

# Client-side (node1) and server-side (node2) listening port of service port P on tunnel T.
tunnel_port() {
	local t=$1 side=$2 p=$3 base
	case $t in stunnel) base=31000 ;; nginx) base=33000 ;; relay) base=35000 ;; esac
	[ "$side" = server ] && base=$((base + 1000))
	echo $((base + p % 1000))
}

# cert_issue NAME IP IP6: an ECDSA P-256 certificate signed by the mesh root for a tunnel
# endpoint, with a SPIFFE URI (like the ztunnel's), the node's IPv4 and IPv6 addresses (stunnel's
# checkIP on either family) and a DNS name (nginx verifies the upstream by name only).
cert_issue() {
	local name=$1 ip=$2 ip6=$3 d=$WORK/pki
	mkdir -p "$d"
	openssl ecparam -name prime256v1 -genkey -noout -out "$d/$name.key" 2>/dev/null &&
		openssl req -new -key "$d/$name.key" -subj "/O=ambit-bench/CN=$name" \
			-out "$d/$name.csr" 2>/dev/null &&
		printf 'subjectAltName=URI:spiffe://cluster.local/ns/bplain/sa/%s,DNS:%s.bench,IP:%s,IP:%s\n%s\n' \
			"$name" "$name" "$ip" "$ip6" 'extendedKeyUsage=serverAuth,clientAuth' >"$d/$name.ext" &&
		openssl x509 -req -in "$d/$name.csr" -CA "$RUN_DIR/ca/root-cert.pem" \
			-CAkey "$RUN_DIR/ca/root-key.pem" -CAcreateserial -days 1 -sha256 \
			-extfile "$d/$name.ext" -out "$d/$name.crt" 2>/dev/null
}

# proxy_start NAME NODE CMD...: runs CMD in NODE's netns inside the cgroup of proxy NAME.
proxy_start() {
	local name=$1 node=$2 cg
	shift 2
	cg=$(proxy_cgroup "$name")
	mkdir -p "$cg"
	bash -c 'echo $$ >"$1/cgroup.procs" && shift && exec ip netns exec "$@"' _ "$cg" \
		"ambit-$CLUSTER-$node" "$@" >>"$WORK/$name.log" 2>&1 &
	disown # proxy_stop_all kills them through the cgroup; no job-control noise
}

proxy_cgroup() {
	local node=${1##*-}
	echo "$CG_ROOT/$node/bench-${1%-*}"
}

# pin_nodes: each node a CPU of its own, as two hosts would have (PIN=1 in run.sh and
# permsg.sh): every thread of node 1's processes (its cgroup under CG_ROOT: the ztunnel, the
# agent, the pods, the tunnels) on CPU 0, node 2's on CPU 1; and the calling script on CPU 0,
# so that what it starts in node 1's pods (`local exec`: sockperf, iperf3, wrk) inherits it.
pin_nodes() {
	local node cpu p
	for node in node1 node2; do
		cpu=$([ "$node" = node1 ] && echo 0 || echo 1)
		for p in $(cat $(find "$CG_ROOT/$node" -name cgroup.procs) 2>/dev/null); do
			taskset -a -p -c "$cpu" "$p" >/dev/null 2>&1
		done
	done
	taskset -p -c 0 $$ >/dev/null
}

# Pids of the processes in proxy NAME's cgroup.
proxy_pids() { cat "$(proxy_cgroup "$1")/cgroup.procs" 2>/dev/null; }

# proxy_stop_all [NAME...]: kills the proxies NAME... (run.sh's tunnels when none is named).
proxy_stop_all() {
	local name cg names=${*:-stunnel-node1 stunnel-node2 nginx-node1 nginx-node2 relay-node1 relay-node2}
	[ -n "$CG_ROOT" ] || return 0
	for name in $names; do
		cg=$(proxy_cgroup "$name")
		[ -d "$cg" ] || continue
		echo 1 >"$cg/cgroup.kill" 2>/dev/null
		for _ in $(seq 50); do
			[ -s "$cg/cgroup.procs" ] || break
			sleep 0.1
		done
		rmdir "$cg" 2>/dev/null
	done
}

stunnel_conf() {
	local side=$1 d=$WORK/pki name p
	name=stunnel-$([ "$side" = client ] && echo node1 || echo node2)
	cat <<CONF
foreground = yes
pid =
syslog = no
debug = 3
cert = $d/$name.crt
key = $d/$name.key
CAfile = $RUN_DIR/ca/root-cert.pem
verifyChain = yes
sslVersionMin = TLSv1.3
ciphersuites = $TLS13_SUITE
socket = l:TCP_NODELAY=1
socket = r:TCP_NODELAY=1
CONF
	# stunnel takes an IPv6 host:port bare (the last colon ends the host), not in brackets.
	local n1 n2 srv v
	for p in $SVC_PORTS; do
		for v in 4 6; do
			n1=$NODE1_IP n2=$NODE2_IP srv=$PLAIN_SERVER_IP
			[ "$v" = 6 ] && n1=$NODE1_IP6 n2=$NODE2_IP6 srv=$PLAIN_SERVER_IP6
			echo "[${p%%:*}${v/4/}]"
			if [ "$side" = client ]; then
				echo "client = yes"
				echo "accept = $n1:$(tunnel_port stunnel client "${p#*:}")"
				echo "connect = $n2:$(tunnel_port stunnel server "${p#*:}")"
				echo "checkIP = $n2"
			else
				echo "accept = $n2:$(tunnel_port stunnel server "${p#*:}")"
				echo "connect = $srv:${p#*:}"
			fi
		done
	done
}

# nginx_conf SIDE [relay]: the nginx stream tunnel's client (node1) or server (node2) side; with
# "relay", plain TCP forwarding between the same addresses (no TLS).
nginx_conf() {
	local side=$1 kind=${2:-nginx} d=$WORK/pki name p dir
	name=$kind-$([ "$side" = client ] && echo node1 || echo node2)
	dir=$WORK/$name
	mkdir -p "$dir"
	cat <<CONF
load_module /usr/lib/nginx/modules/ngx_stream_module.so;
worker_processes auto;
worker_rlimit_nofile 20000;
pid $dir/nginx.pid;
error_log $WORK/$name.log warn;
daemon off;
events { worker_connections 8192; }
stream {
	tcp_nodelay on;
CONF
	# One server block per service port and family (the relay: IPv4 only).
	local n1 n2 srv v fams=4 pv
	[ "$kind" = nginx ] && fams="4 6"
	for pv in $(for p in $SVC_PORTS; do for v in $fams; do echo "${p#*:}/$v"; done; done); do
		p=${pv%/*} v=${pv#*/}
		n1=$NODE1_IP n2=$NODE2_IP srv=$PLAIN_SERVER_IP
		[ "$v" = 6 ] && n1=$NODE1_IP6 n2=$NODE2_IP6 srv=$PLAIN_SERVER_IP6
		if [ "$kind" = relay ]; then
			if [ "$side" = client ]; then
				echo "	server { listen $NODE1_IP:$(tunnel_port relay client "$p");" \
					"proxy_pass $NODE2_IP:$(tunnel_port relay server "$p"); }"
			else
				echo "	server { listen $NODE2_IP:$(tunnel_port relay server "$p");" \
					"proxy_pass $PLAIN_SERVER_IP:$p; }"
			fi
		elif [ "$side" = client ]; then
			cat <<CONF
	server {
		listen $(host_port "$n1" "$(tunnel_port nginx client "$p")");
		proxy_pass $(host_port "$n2" "$(tunnel_port nginx server "$p")");
		proxy_ssl on;
		proxy_ssl_certificate $d/$name.crt;
		proxy_ssl_certificate_key $d/$name.key;
		proxy_ssl_trusted_certificate $RUN_DIR/ca/root-cert.pem;
		proxy_ssl_verify on;
		proxy_ssl_name nginx-node2.bench; # nginx checks names, not IP SANs
		proxy_ssl_protocols TLSv1.3;
		proxy_ssl_conf_command Ciphersuites $TLS13_SUITE;
		proxy_ssl_session_reuse on;
	}
CONF
		else
			cat <<CONF
	server {
		listen $(host_port "$n2" "$(tunnel_port nginx server "$p")") ssl;
		ssl_certificate $d/$name.crt;
		ssl_certificate_key $d/$name.key;
		ssl_client_certificate $RUN_DIR/ca/root-cert.pem;
		ssl_verify_client on;
		ssl_protocols TLSv1.3;
		ssl_conf_command Ciphersuites $TLS13_SUITE;
		proxy_pass $(host_port "$srv" "$p");
	}
CONF
		fi
	done
	echo "}"
}

# Issues the certificates, starts both tunnels and waits until each client-side port answers.
proxies_up() {
	local n p
	for n in stunnel-node1 stunnel-node2 nginx-node1 nginx-node2; do
		local ip=$NODE1_IP ip6=$NODE1_IP6
		[ "${n##*-}" = node2 ] && ip=$NODE2_IP ip6=$NODE2_IP6
		cert_issue "$n" "$ip" "$ip6" || return 1
	done
	stunnel_conf client >"$WORK/stunnel-node1.conf"
	stunnel_conf server >"$WORK/stunnel-node2.conf"
	nginx_conf client >"$WORK/nginx-node1.conf"
	nginx_conf server >"$WORK/nginx-node2.conf"
	nginx_conf client relay >"$WORK/relay-node1.conf"
	nginx_conf server relay >"$WORK/relay-node2.conf"
	proxy_start stunnel-node2 node2 stunnel4 "$WORK/stunnel-node2.conf"
	proxy_start stunnel-node1 node1 stunnel4 "$WORK/stunnel-node1.conf"
	proxy_start nginx-node2 node2 nginx -c "$WORK/nginx-node2.conf"
	proxy_start nginx-node1 node1 nginx -c "$WORK/nginx-node1.conf"
	proxy_start relay-node2 node2 nginx -c "$WORK/relay-node2.conf"
	proxy_start relay-node1 node1 nginx -c "$WORK/relay-node1.conf"
	for p in $SVC_PORTS; do
		p=${p#*:}
		for t in stunnel nginx relay; do
			wait_port node1 "$NODE1_IP" "$(tunnel_port "$t" client "$p")" || return 1
			wait_port node2 "$NODE2_IP" "$(tunnel_port "$t" server "$p")" || return 1
		done
		for t in stunnel nginx; do
			wait_port node1 "$NODE1_IP6" "$(tunnel_port "$t" client "$p")" || return 1
			wait_port node2 "$NODE2_IP6" "$(tunnel_port "$t" server "$p")" || return 1
		done
	done
}

# wait_port NODE IP PORT [udp]: up to 10 s for a listener on IP:PORT (TCP, or UDP) in NODE's netns.
wait_port() {
	local i kind=-Hltn
	[ "${4:-}" = udp ] && kind=-Hlun
	for i in $(seq 100); do
		ip netns exec "ambit-$CLUSTER-$1" ss "$kind" "src $(host_port "$2" "$3")" 2>/dev/null |
			grep -q . && return 0
		sleep 0.1
	done
	echo "bench: nothing listens on $2:$3 in $1 (see $WORK/*.log)" >&2
	return 1
}
