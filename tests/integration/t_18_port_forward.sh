#!/usr/bin/env bash
# `ambitctl local port-forward`, kubectl's port-forward on the local cluster: a Service's port
# forwarded to its named targetPort (HTTP status and body from the host's localhost, on 127.0.0.1
# and ::1, the pod seeing its own localhost as the caller), kubectl's lines; a random local port
# and a payload of 4 MiB hashed by the pod once the host half-closed; the pod, bare-name and
# Deployment forms, a named containerPort, a port only the pod's ::1 serves; kubectl's refusals
# (a wrong service port, a Service without a selector, no such pod); a refused connection inside
# the pod leaving the forward up; a flood over its cap refused with a message, the forward still
# serving; SIGINT ending it with status 0; a pod deleted under it ending it with "lost
# connection to pod".
. "$(dirname "$0")/lib.sh"
need_root; need_bins; need_cmd curl python3
cluster_up manifests-portfwd 1
WORK=$(mktemp -d /tmp/ambit-it-XXXXXX)
PF_PIDS=()
# Every forward this test started goes with it, whatever ended the test.
stop_forwards() {
	local p
	for p in "${PF_PIDS[@]}"; do
		grep -q port-forward "/proc/$p/cmdline" 2>/dev/null && kill -TERM "$p"
	done
	for p in "${PF_PIDS[@]}"; do
		wait "$p" 2>/dev/null
	done
	PF_PIDS=()
}
trap 'stop_forwards; rm -rf "$WORK"; on_exit' EXIT

# forward NAME ARGS...: starts `local port-forward ARGS` in the background, its stdout in
# $WORK/NAME.out and stderr in $WORK/NAME.err; $PF is its pid.
forward() {
	local name=$1
	shift
	"$AMBITCTL" local port-forward "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" &
	PF=$!
	PF_PIDS+=("$PF")
}
# wait_forwarding NAME REMOTE: until NAME prints its 127.0.0.1 line for REMOTE; prints its port
# (in a command substitution, where fail only ends the subshell: callers fail too).
wait_forwarding() {
	local name=$1 remote=$2 line
	wait_for 10 grep -q "^Forwarding from 127.0.0.1:[0-9]* -> $remote\$" "$WORK/$name.out" ||
		fail "$name: no Forwarding line for $remote: $(cat "$WORK/$name.out" "$WORK/$name.err")"
	line=$(grep -m1 "^Forwarding from 127.0.0.1:[0-9]* -> $remote\$" "$WORK/$name.out")
	line=${line#Forwarding from 127.0.0.1:}
	echo "${line%% *}"
}
host_has_v6() { python3 -c 'import socket; socket.socket(socket.AF_INET6).bind(("::1", 0))' 2>/dev/null; }

wait_for 30 pod_exec pf/web-0 curl -sf --max-time 2 http://127.0.0.1:8080/ ||
	fail "pf/web-0 never answered: $(actl local logs pf/web-0 | tail -5)"
wait_for 30 pod_exec pf/solo curl -sf --max-time 2 http://127.0.0.1:8080/ ||
	fail "pf/solo never answered: $(actl local logs pf/solo | tail -5)"

# A Service: port 80's targetPort is the containerPort named http-alt (8080); kubectl prints the
# pod's port. ":9000" takes a random local port.
lport=$(free_port)
forward svc -n pf svc/web "$lport:80" :9000
svc_pid=$PF
wait_forwarding svc 8080 >/dev/null
dport=$(wait_forwarding svc 9000) || fail "no forward (said above)"
[ "$dport" -gt 0 ] || fail "no random port for :9000"
out=$(cat "$WORK/svc.out")
expect_contains "$out" "Forwarding from 127.0.0.1:$lport -> 8080"
expect_contains "$out" "Forwarding from 127.0.0.1:$dport -> 9000"
if host_has_v6; then
	expect_contains "$out" "Forwarding from [::1]:$lport -> 8080"
	expect_contains "$out" "Forwarding from [::1]:$dport -> 9000"
fi
status=$(curl -s -o "$WORK/body" -w '%{http_code}' --max-time 5 "http://localhost:$lport/productpage") ||
	fail "curl through the forward failed: $(cat "$WORK/svc.err")"
expect_eq "$status" 200 "status through svc/web"
body=$(cat "$WORK/body")
expect_contains "$body" "pod=pf/web-0 path=/productpage" "the pod's answer"
# kubectl's forward connects to the pod's localhost.
expect_contains "$body" "from=127.0.0.1" "the caller the pod sees"
if host_has_v6; then
	out=$(curl -sf -g --max-time 5 "http://[::1]:$lport/v6") || fail "curl over ::1 failed"
	expect_contains "$out" "path=/v6"
fi
grep -q "^Handling connection for $lport\$" "$WORK/svc.out" ||
	fail "no 'Handling connection for $lport': $(cat "$WORK/svc.out")"

# 4 MiB up, then the host's half-close: the pod answers its hash only after the EOF, over the
# connection's other half.
out=$(python3 - "$dport" <<'PY'
import hashlib, os, socket, sys
data = os.urandom(4 << 20)
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
s.sendall(data)
s.shutdown(socket.SHUT_WR)
got = b""
while chunk := s.recv(65536):
    got += chunk
print("ok" if got.decode().strip() == hashlib.sha256(data).hexdigest() else "bad: %r" % got)
PY
) || fail "the digest client failed: $out"
expect_eq "$out" ok "the pod's hash of what the host sent, after its half-close"

# kubectl's refusals: a port the Service does not have, a Service without a selector, no pod.
out=$(actl local port-forward -n pf svc/web "$(free_port):8080" 2>&1) && fail "a wrong service port was accepted: $out"
expect_contains "$out" "error: Service web does not have a service port 8080"
out=$(actl local port-forward -n pf svc/noselector "$(free_port):80" 2>&1) && fail "a Service without a selector was accepted"
expect_contains "$out" "Service is defined without a selector"
out=$(actl local port-forward -n pf pod/nope 8080 2>&1) && fail "a missing pod was accepted"
expect_contains "$out" 'Error from server (NotFound): pods "nope" not found'
out=$(actl local port-forward -n pf svc/web "$(free_port):grpc" 2>&1) && fail "an unknown port name was accepted"
expect_contains "$out" "error: Service 'web' does not have a named port 'grpc'"

# The pod forms: pod/NAME with a named containerPort, a bare pod name, a Deployment.
forward pod -n pf pod/web-0 :http-alt
pport=$(wait_forwarding pod 8080) || fail "no forward (said above)"
out=$(curl -sf --max-time 5 "http://127.0.0.1:$pport/pod") || fail "curl to pod/web-0 failed"
expect_contains "$out" "pod=pf/web-0 path=/pod"
forward bare -n pf solo :8080 :5555
bport=$(wait_forwarding bare 8080) || fail "no forward (said above)"
rport=$(wait_forwarding bare 5555) || fail "no forward (said above)"
out=$(curl -sf --max-time 5 "http://127.0.0.1:$bport/bare") || fail "curl to the bare pod name failed"
expect_contains "$out" "pod=pf/solo path=/bare"
# Nothing listens on 5555 in the pod: that connection fails, told, and the forward stays up.
curl -s --max-time 5 "http://127.0.0.1:$rport/" >/dev/null && fail "a connection to a closed pod port succeeded"
wait_for 5 grep -q "an error occurred forwarding $rport -> 5555" "$WORK/bare.err" ||
	fail "the refused connection was not told: $(cat "$WORK/bare.err")"
out=$(curl -sf --max-time 5 "http://127.0.0.1:$bport/again") || fail "the forward died with a refused connection"
expect_contains "$out" "path=/again"
bare_pid=$PF
if pod_exec pf/web-0 python3 -c 'import socket; socket.create_connection(("::1", 7000), timeout=2)' 2>/dev/null; then
	# The pod serves 7000 on its ::1 alone: the IPv4 attempt is refused, IPv6 answers.
	forward deploy -n pf deploy/web :7000
	vport=$(wait_forwarding deploy 7000) || fail "no forward (said above)"
	out=$(python3 -c 'import socket, sys; print(socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5).recv(64).decode().strip())' "$vport") ||
		fail "the connection to the pod's ::1 failed: $(cat "$WORK/deploy.err")"
	expect_eq "$out" "v6 ok" "deploy/web to a port only the pod's ::1 serves"
else
	log "the pod has no ::1: the IPv6 fallback is not checked"
fi

# A flood over the cap: refused with a message, nothing crashes, and it serves afterwards.
out=$(python3 - "$dport" <<'PY'
import resource, socket, sys, time
hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
resource.setrlimit(resource.RLIMIT_NOFILE, (min(4096, hard), hard))
# A refused connection is reset at once: create_connection itself may see the reset (it connects
# without blocking and then reads SO_ERROR), which counts as refused too.
socks, dead = [], 0
for _ in range(1200):
    try:
        socks.append(socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10))
    except ConnectionResetError:
        dead += 1
time.sleep(2)
for s in socks:
    s.setblocking(False)
    try:
        dead += s.recv(1) == b""
    except BlockingIOError:
        pass
    except ConnectionError:
        dead += 1
print(dead)
for s in socks:
    s.close()
PY
) || fail "the flood client failed: $out"
[ "$out" -ge 1 ] || fail "1200 connections held at once, none refused"
grep -q "connections open, the most port-forward holds: refused" "$WORK/svc.err" ||
	fail "no word of the refused connections: $(tail -3 "$WORK/svc.err")"
kill -0 "$svc_pid" 2>/dev/null || fail "the forward died under the flood"
# The flood's connections end as its client exits: the forward lets them go (each pod side
# answers its half-close first), and until then it is still at its cap, refusing. The fresh-clone
# CI met one request sent within that drain; it is served once the held connections are gone.
if ! wait_for 20 curl -sf -o /dev/null --max-time 5 "http://127.0.0.1:$lport/after"; then
	why=$(curl -sS -o /dev/null -w ' status %{http_code}' --max-time 5 "http://127.0.0.1:$lport/after" 2>&1)
	fail "no request served after the flood:$why; the forward said: $(tail -3 "$WORK/svc.err")"
fi
log "flood: $out of 1200 connections refused"

# SIGINT: status 0, nothing left listening, no process left.
kill -INT "$svc_pid"
wait "$svc_pid"
rc=$?
expect_eq "$rc" 0 "the exit status after SIGINT"
curl -s --max-time 2 "http://127.0.0.1:$lport/" >/dev/null && fail "port $lport still answers after SIGINT"
kill -0 "$svc_pid" 2>/dev/null && fail "the forward outlived SIGINT"

# The pod goes away under a forward: it says so and exits non-zero.
actl delete -f - >/dev/null <<'YAML' || fail "delete pod solo failed"
apiVersion: v1
kind: Pod
metadata:
  name: solo
  namespace: pf
spec:
  containers: [{name: c}]
YAML
for _ in $(seq 50); do
	kill -0 "$bare_pid" 2>/dev/null || break
	sleep 0.2
done
kill -0 "$bare_pid" 2>/dev/null && fail "the forward to a deleted pod still runs"
wait "$bare_pid"
rc=$?
[ "$rc" -ne 0 ] || fail "the forward to a deleted pod exited 0"
expect_contains "$(cat "$WORK/bare.err")" "error: lost connection to pod"
stop_forwards
left=$(pgrep -f "port-forward -n pf" || true)
[ -z "$left" ] || fail "port-forward processes left: $left"
pass
