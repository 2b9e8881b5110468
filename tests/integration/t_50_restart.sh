#!/usr/bin/env bash
# Killing the agent leaves established connections and capture working; killing a ztunnel makes
# new connections fail closed (never plaintext) and they work again once it is back.
. "$(dirname "$0")/lib.sh"
need_root; need_bins; need_cmd socat openssl
cluster_up manifests
wait_for 30 pod_exec mesh/client-0 curl -sf --max-time 2 http://server/ || fail "server never answered"

# A slow 20 MB upload that spans the agent restarts.
gen='for i in $(seq 1 40); do head -c 524288 /dev/zero; sleep 0.2; done'
want=$(bash -c "$gen" | sha256sum | cut -d' ' -f1)
res=$(mktemp /tmp/ambit-it-XXXXXX)
trap 'rm -f "$res"; on_exit' EXIT
pod_exec mesh/client-0 bash -c "{ echo UP; $gen; } | socat -t 30 -T 60 - TCP:server:9000" >"$res" 2>&1 &
xfer=$!
sleep 1

actl local stop agent --node node1 || fail "stop agent node1"
actl local stop agent --node node2 || fail "stop agent node2"
# Capture still works without agents: the request is still mTLS through both ztunnels.
m_before=$(metric_sum "$(node_metrics node2)" istio_tcp_connections_opened_total 'reporter="destination"' 'destination_workload="server"')
out=$(pod_exec mesh/client-0 curl -sf --max-time 5 http://server/) || fail "request with agents down"
expect_contains "$out" "pod=mesh/server-0"
m_after=$(metric_sum "$(node_metrics node2)" istio_tcp_connections_opened_total 'reporter="destination"' 'destination_workload="server"')
[ "$m_after" -gt "$m_before" ] || fail "request with agents down bypassed the ztunnel"
actl local start agent --node node1 || fail "start agent node1"
actl local start agent --node node2 || fail "start agent node2"

wait $xfer || fail "long transfer broken by the agent restarts: $(cat "$res")"
expect_eq "$(cat "$res")" "$want" "long transfer across agent restarts"

# Server-side ztunnel down: nothing reaches the server, neither via HBONE nor in plaintext.
actl local stop ztunnel --node node2 || fail "stop ztunnel node2"
pod_exec mesh/client-0 curl -sf --max-time 3 http://server/failclosed-1 >/dev/null &&
	fail "request succeeded with the destination ztunnel down"
pod_exec plain/client-0 curl -sf --max-time 3 "http://$(url_host "$(pod_ip mesh/server-0)"):8080/failclosed-2" >/dev/null &&
	fail "plaintext to an enrolled pod reached it with its ztunnel down"
# Client-side ztunnel down: the enrolled client is not let out in plaintext either.
actl local start ztunnel --node node2 || fail "start ztunnel node2"
actl local stop ztunnel --node node1 || fail "stop ztunnel node1"
pod_exec mesh/client-0 curl -sf --max-time 3 http://server/failclosed-3 >/dev/null &&
	fail "request succeeded with the source ztunnel down"
if actl local logs mesh/server-0 | grep -q failclosed; then
	fail "a request reached the server while a ztunnel was down"
fi
actl local start ztunnel --node node1 || fail "start ztunnel node1"
wait_for 15 pod_exec mesh/client-0 curl -sf --max-time 2 http://server/ || fail "no recovery after ztunnel restart"
out=$(pod_exec plain/client-0 curl -sf --max-time 3 "http://$(url_host "$(pod_ip mesh/server-0)"):8080/") ||
	fail "plaintext inbound after restart"
pass
