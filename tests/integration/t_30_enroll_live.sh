#!/usr/bin/env bash
# Labelling a namespace enrolls its running pods, removing the label unenrolls them; requests
# keep succeeding throughout, and the pods are never restarted.
. "$(dirname "$0")/lib.sh"
need_root; need_bins; need_cmd jq
cluster_up manifests
wait_for 30 pod_exec plain/client-0 curl -sf --max-time 2 http://server/ || fail "server never answered"

client_ip=$(pod_ip plain/client-0)
server_pid_before=$(actl local status -o json 2>/dev/null | jq -r '.. | objects | select(.name? == "server-0" and .namespace? == "plain") | .pid // empty' | head -1)

# enrolled NS/POD: "true"/"false" as the pod's own node reports it.
enrolled() {
	actl workloads -o json | jq -r --arg ns "${1%/*}" --arg n "${1#*/}" \
		'[.[] | .workloads[]? | select(.namespace == $ns and .name == $n) | .enrolled] | any'
}
is_enrolled() { [ "$(enrolled "$1")" = "$2" ]; }
inbound_count() {
	metric_sum "$(node_metrics node2)" istio_tcp_connections_opened_total \
		'reporter="destination"' 'source_workload_namespace="plain"'
}
# A steady stream of requests in the background; every one must succeed.
loop_out=$(mktemp /tmp/ambit-it-XXXXXX)
trap 'kill $loop_pid 2>/dev/null; rm -f "$loop_out"; on_exit' EXIT
pod_exec plain/client-0 bash -c 'while :; do
	if err=$(curl -sSf -o /dev/null --max-time 3 http://server/ 2>&1); then echo ok
	else echo "FAIL $(date +%T.%N) $err"; fi
	sleep 0.1; done' >"$loop_out" 2>&1 &
loop_pid=$!
# Lookups without a pause through the transitions: the pod's nameserver is the cluster's DNS
# throughout, and its queries go to the ztunnel's proxy exactly while the pod is enrolled; never
# does a lookup find nobody to answer (the proxy gone, the cluster's DNS not yet asked). Counted
# to the loop's end by a resolver loop in the pod.
dns_out=$(mktemp /tmp/ambit-it-XXXXXX)
pod_exec plain/client-0 python3 -c '
import signal, socket, sys
n = miss = 0
def done(*_):
    print(n, miss)
    sys.exit(0)
signal.signal(signal.SIGTERM, done)
while True:
    try:
        socket.getaddrinfo("server", 80, socket.AF_INET, socket.SOCK_STREAM)
    except socket.gaierror:
        miss += 1
    n += 1' >"$dns_out" 2>&1 &
dns_pid=$!
# A connection open before the label (client-0 on node1 to server-0's transfer port on node2,
# pod to pod) goes on after it: only a SYN opens a flow to a captured pod, and a segment of no
# socket is refused (a SYN-cookie ACK would open one past the proxy), so in host capture each
# agent records its pods' open connections at enrolment (preflows) and lets them finish; in-pod,
# tc_pod sees the pods' own sockets. The pod hears "go" on its stdin, a fifo.
go=$(mktemp -u /tmp/ambit-it-go-XXXXXX) held_out=$(mktemp /tmp/ambit-it-XXXXXX)
mkfifo "$go"
trap 'kill $loop_pid $dns_pid 2>/dev/null; rm -f "$loop_out" "$dns_out" "$go" "$held_out"; on_exit' EXIT
server_ip=$(pod_ip plain/server-0)
pod_exec plain/client-0 timeout 60 python3 -c '
import hashlib, socket, sys
s = socket.create_connection((sys.argv[1], 9000), timeout=30)
s.sendall(b"UP\nbefore\n")
print("sent", flush=True)
sys.stdin.readline()
s.sendall(b"after\n")
s.shutdown(socket.SHUT_WR)
print(s.makefile().read().strip(), hashlib.sha256(b"before\nafter\n").hexdigest(), flush=True)
' "$server_ip" <"$go" >"$held_out" 2>&1 &
held_pid=$!
exec 7>"$go"
wait_for 10 grep -q '^sent' "$held_out" || fail "the held connection did not start: $(cat "$held_out")"

expect_eq "$(enrolled plain/client-0)" "false" "before labelling"
before=$(inbound_count)
actl label namespace plain istio.io/dataplane-mode=ambient >/dev/null || fail "label failed"
wait_for 10 is_enrolled plain/client-0 true ||
	fail "plain/client-0 not enrolled after labelling its namespace"
wait_for 10 is_enrolled plain/server-0 true ||
	fail "plain/server-0 not enrolled"
sleep 2
# In-pod capture (bridge): the maps sent the pods' traffic into their netns once the ztunnel
# said it listens there ("ok"), not on the fallback for a ztunnel that never says so.
if [ "${AMBIT_LOCAL_CNI:-}" = bridge ]; then
	grep -h "no ztunnel said it listens" /run/ambit/"$CLUSTER"/logs/*.log &&
		fail "an agent marked a pod in-pod without the ztunnel's ok"
fi
out=$(pod_exec plain/client-0 curl -sf --max-time 5 http://server/) || fail "request after enrolling"
expect_contains "$out" "from=$client_ip "
after=$(inbound_count)
[ "$after" -gt "$before" ] || fail "enrolled traffic did not pass node2's ztunnel ($before -> $after)"
log "enrolled: node2 ztunnel inbound connections from plain: $before -> $after"
if [ "${AMBIT_LOCAL_CNI:-}" != bridge ]; then
	actl maps --node node2 | grep -q "from $client_ip port [0-9]* to $server_ip port 9000 " ||
		fail "node2's preflows do not hold the connection open at enrolment"
fi
echo go >&7
exec 7>&-
wait "$held_pid"
read -r got want <<<"$(grep -v '^sent' "$held_out")"
[ -n "$want" ] && [ "$got" = "$want" ] ||
	fail "the connection open across the label: $(cat "$held_out")"
log "a connection open across the label answered ($got)"

actl label namespace plain istio.io/dataplane-mode- >/dev/null || fail "unlabel failed"
wait_for 10 is_enrolled plain/client-0 false ||
	fail "plain/client-0 still enrolled after removing the label"
no_preflows() { ! actl maps --node "$1" | grep -q "to $server_ip port 9000 "; }
wait_for 20 no_preflows node2 || fail "node2 kept preflows of pods out of the mesh"
sleep 2
c1=$(inbound_count)
pod_exec plain/client-0 curl -sf --max-time 5 http://server/ >/dev/null || fail "request after unenrolling"
sleep 1
c2=$(inbound_count)
expect_eq "$c2" "$c1" "unenrolled traffic must bypass the ztunnel"

kill $loop_pid 2>/dev/null; wait $loop_pid 2>/dev/null
# The reader in the pod hears of its end from within (a signal to the exec'ing ambitctl does not
# reach it).
pod_exec plain/client-0 pkill -TERM -f 'socket.getaddrinfo' || fail "the resolver loop is gone"
wait $dns_pid 2>/dev/null
read -r lookups misses <"$dns_out" || fail "the resolver loop said nothing: $(cat "$dns_out")"
log "\"server\" looked up $lookups times during the transitions, $misses unanswered"
[ "$lookups" -gt 100 ] || fail "the resolver loop looked up too few times ($lookups)"
[ "$misses" -eq 0 ] || fail "$misses lookups of \"server\" failed while (un)enrolling"
oks=$(grep -c '^ok' "$loop_out" || true); fails=$(grep -c '^FAIL' "$loop_out" || true)
log "background requests during the transitions: $oks ok, $fails failed"
[ "$oks" -gt 10 ] || fail "background loop made too few requests ($oks)"
[ "$fails" -eq 0 ] || fail "$fails requests failed while (un)enrolling: $(grep '^FAIL' "$loop_out" | head -5)"
if [ -n "$server_pid_before" ]; then
	after_pid=$(actl local status -o json 2>/dev/null | jq -r '.. | objects | select(.name? == "server-0" and .namespace? == "plain") | .pid // empty' | head -1)
	expect_eq "$after_pid" "$server_pid_before" "server pod restarted"
fi
pass
