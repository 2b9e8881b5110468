# The L4 demo (`sudo make demo DEMO=l4`), sourced by run.sh after its guard: a two-node local
# cluster where a meshed client and a legacy client call nginx through a Service, explained as it
# runs. Uses run.sh's $AMBITCTL, $C, $here, $rundir, $secs, bg_pids, say and section.

section "bringing up a two-node local cluster \"$C\" from examples/demo"
"$AMBITCTL" local up -f "$here" --name "$C" --nodes 2 || { say "demo: local up failed"; exit 1; }
echo $$ >"$rundir/demo.pid"

say
say "Namespace demo is in the mesh (label istio.io/dataplane-mode=ambient); namespace legacy is"
say "not. In each, client-0 on node1 calls http://web/ (nginx web-0 on node2) once a second."

# Wait (up to 30 s) for a first answer in each client's log.
for ns in demo legacy; do
	for _ in $(seq 1 150); do
		"$AMBITCTL" local logs "$ns/client-0" 2>/dev/null | grep -q -- '-> ok' && break
		sleep 0.2
	done
done

section "first requests (from the clients' logs)"
for ns in demo legacy; do
	line=$("$AMBITCTL" local logs "$ns/client-0" 2>/dev/null | tail -n 1)
	say "  $ns:   ${line:-<no request yet>}"
done

section "identities: who is in the mesh (ambitctl workloads)"
"$AMBITCTL" workloads | awk 'NR == 1 || / web-| client-/'
id_client=$("$AMBITCTL" workloads | awk '$1 == "demo" && $2 == "client-0" {print $6}')
id_web=$("$AMBITCTL" workloads | awk '$1 == "demo" && $2 == "web-0" {print $6}')
say
say "demo/client-0 -> demo/web-0 is mutual TLS 1.3 (HBONE) between the SPIFFE identities"
say "  ${id_client:-?}  and  ${id_web:-?}"
say "legacy/client-0 -> legacy/web-0 is plain TCP: the legacy pods are not enrolled."

section "live proxied connections on the ztunnels (ambitctl connections)"
say "(holding one connection open from demo/client-0 to web:80 for a moment, to have one to show)"
"$AMBITCTL" local exec demo/client-0 -- bash -c 'exec 3<>/dev/tcp/web/80; sleep 3' 2>/dev/null &
hold=$!
sleep 1
"$AMBITCTL" connections 2>&1 | head -n 12
wait "$hold" 2>/dev/null
opened=$("$AMBITCTL" metrics --node node2 2>/dev/null | awk '
	/^istio_tcp_connections_opened_total\{/ && /reporter="destination"/ &&
	/source_principal="spiffe:\/\/cluster.local\/ns\/demo\/sa\/client"/ &&
	/connection_security_policy="mutual_tls"/ { n += $NF } END { printf "%d", n }')
say "node2's ztunnel metrics: ${opened:-0} connection(s) from spiffe://cluster.local/ns/demo/sa/client"
say "accepted with connection_security_policy=\"mutual_tls\" (istio_tcp_connections_opened_total)."

section "on the wire: 4 seconds of the fabric bridge between the nodes"
pcap=$(mktemp /tmp/ambit-demo.XXXXXX.pcap)
timeout 4 ip netns exec "ambit-$C-fabric" tcpdump -i br0 -nn -s 0 -U --immediate-mode -w "$pcap" tcp 2>/dev/null
if command -v tshark >/dev/null 2>&1; then
	tls=$(tshark -r "$pcap" -d tcp.port==15008,tls -Y 'tls && tcp.port == 15008' \
		-T fields -e ip.src -e ip.dst -e tls.record.version 2>/dev/null | sort | uniq -c)
	plain=$(tshark -r "$pcap" -Y 'http.request' -T fields -e ip.src -e ip.dst \
		-e http.request.method -e http.request.uri -e http.host 2>/dev/null | sort | uniq -c)
	say "TLS records on port 15008 (HBONE, demo namespace):"
	say "${tls:-  (none captured)}" | sed 's/^/  /'
	say "plaintext HTTP requests readable on the wire (legacy namespace):"
	say "${plain:-  (none captured)}" | sed 's/^/  /'
	if printf '%s\n' "$plain" | grep -q "10.98.1.2[[:space:]]"; then
		say "  !! the demo client's request was readable on the wire"
	else
		say "  -> nothing from demo/client-0 (10.98.1.2) is readable: it travels inside mTLS."
	fi
else
	say "(tshark is not installed; raw capture summary)"
	tcpdump -nn -r "$pcap" 2>/dev/null | awk '{print $3, $4, $5}' | sort | uniq -c | head -n 10
fi
rm -f "$pcap"

section "where to look"
say "  $AMBITCTL workloads            pods, identities, enrolled or why not"
say "  $AMBITCTL connections          proxied connections with both identities"
say "  $AMBITCTL maps                 the BPF maps, resolved to pod and service names"
say "  bpftool map dump pinned /sys/fs/bpf/ambit/$C-node1/workloads"
say "  $AMBITCTL metrics --node node2 the ztunnel's Istio metrics"
say "  $AMBITCTL local logs node1-ztunnel | demo/web-0 | legacy/client-0"
say "  $AMBITCTL local exec demo/client-0 -- curl -s http://web/"

if [ "$secs" -gt 0 ]; then
	section "requests as they happen (for ${secs}s)"
else
	section "requests as they happen (Ctrl-C to stop and tear down)"
fi
for ns in demo legacy; do
	tag=$([ "$ns" = demo ] && echo "mTLS " || echo "plain")
	# Own process group, so cleanup can stop the whole pipeline (tail -F never exits by itself).
	# Only requests from now on: the first ones were shown above.
	setsid bash -c 'tail -n 0 -F "$1" 2>/dev/null | grep --line-buffered -- " GET " |
		sed -u "s/^/  [$2] /"' _ "/run/ambit/$C/logs/${ns}_client-0.log" "$tag" &
	bg_pids+=($!)
done
# In the background, waited for: a signal's trap runs at once (a foreground sleep would hold
# it back until the sleep ended; a SIGTERM to the demo alone waited up to an hour).
if [ "$secs" -gt 0 ]; then
	sleep "$secs" &
else
	sleep infinity &
fi
bg_pids+=($!)
wait "$!"
