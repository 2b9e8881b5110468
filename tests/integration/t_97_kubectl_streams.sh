#!/usr/bin/env bash
# kubectl's streaming commands against `local up --kube` (issue 39 §3): `kubectl logs`, `exec`
# and `port-forward` with Debian's kubectl 1.20 (SPDY/3.1 only) and kubectl 1.32 (WebSocket
# first, SPDY after the API server refuses the upgrade). The API server's pods/log, pods/exec and
# pods/portforward (tests/k8s/fake_streams.py) serve them from the cluster's own pods. Checked
# with each kubectl:
#  - logs of a pod and of deployment/web (kubectl resolves it by its selector), -f following a
#    line written after it started, --tail;
#  - exec: stdout and stderr apart, the command's exit code as kubectl's, stdin with -i, a
#    terminal with -it (script(1) gives kubectl one) where a shell has job control;
#  - port-forward svc/web (its named targetPort resolved by kubectl): a curl through it, and two
#    connections open at once.
# kubectl runs where the kubeconfig's server is reached without leaving the machine: in the
# fabric netns while it says https://10.99.0.1:6443, on the host once it names host loopback.
. "$(dirname "$0")/lib.sh"
need_root; need_bins; need_cmd python3 curl script
kubectls=()
for k in "${AMBIT_KUBECTL120:-/work/wt/kubectl120/x/usr/bin/kubectl}" /usr/bin/kubectl; do
	[ -x "$k" ] && kubectls+=("$k")
done
[ ${#kubectls[@]} -gt 0 ] || skip "needs kubectl"
export AMBIT_LOCAL_KUBE=1
cluster_up manifests-kstream 1
tmp=$(mktemp -d)
pf=
trap '[ -n "$pf" ] && kill "$pf" 2>/dev/null; rm -rf "$tmp"; on_exit' EXIT

run=/run/ambit/$CLUSTER
server=$(awk '$1 == "server:" {print $2; exit}' "$run/kube/kubeconfig")
case $server in
https://127.0.0.1:* | https://\[::1\]:*) at=() ;;
https://10.99.0.1:*) at=(nsenter --net=/run/netns/ambit-"$CLUSTER"-fabric) ;;
*) fail "the kubeconfig's server $server is not on this machine" ;;
esac
here() { "${at[@]}" "$@"; }
wait_for 60 here "${kubectls[0]}" --kubeconfig "$run/kube/kubeconfig" get pod -n ks web-0 ||
	fail "no Pod ks/web-0 in the API server"

for k in "${kubectls[@]}"; do
	v=$("$k" version --client 2>/dev/null | grep -o 'v1\.[0-9]*' | head -1)
	kc() { here "$k" --kubeconfig "$run/kube/kubeconfig" "$@"; }
	log "kubectl $v"

	# --- exec ---------------------------------------------------------------------------
	kc exec -n ks web-0 -- sh -c 'echo out; echo err >&2' >"$tmp/out" 2>"$tmp/err" ||
		fail "$v exec: $(cat "$tmp/err")"
	expect_eq "$(cat "$tmp/out")" out "$v exec's stdout"
	expect_contains "$(cat "$tmp/err")" err "$v exec's stderr"
	expect_not_contains "$(cat "$tmp/out")" err "$v exec's stdout"
	rc=0
	kc exec -n ks deployment/web -- sh -c 'exit 3' 2>"$tmp/err" || rc=$?
	expect_eq "$rc" 3 "$v exec's exit code ($(cat "$tmp/err"))"
	out=$(printf 'piped\nlines\n' | kc exec -i -n ks web-0 -- tr a-z A-Z) ||
		fail "$v exec -i failed"
	expect_eq "$out" "$(printf 'PIPED\nLINES')" "$v exec -i's stdin"

	# -it: a terminal in the pod, its shell leading a session there (job control works) and
	# the shell's exit code kubectl's.
	rc=0
	printf 'sleep 30 & jobs; kill %%1; exit 5\n' | script -qec "$(printf '%q ' "${at[@]}" \
		"$k" --kubeconfig "$run/kube/kubeconfig" exec -it -n ks web-0 -- sh)" /dev/null \
		>"$tmp/tty" || rc=$?
	out=$(tr -d '\r' <"$tmp/tty")
	expect_eq "$rc" 5 "$v exec -it's exit code ($out)"
	expect_contains "$out" "Running" "$v exec -it: jobs"
	expect_not_contains "$out" "tty process group" "$v exec -it"
	expect_not_contains "$out" "job control" "$v exec -it"

	# --- port-forward -------------------------------------------------------------------
	port=$(here /usr/bin/python3 "$REPO/tools/freeports.py" 1 "$FREE_PORTS_FILE")
	kc port-forward -n ks svc/web "$port:80" >"$tmp/pf.log" 2>&1 &
	pf=$!
	wait_for 30 grep -q "Forwarding from 127.0.0.1:$port" "$tmp/pf.log" ||
		fail "$v port-forward: $(cat "$tmp/pf.log")"
	out=$(here curl -s --max-time 10 "http://127.0.0.1:$port/one-$v") ||
		fail "$v curl through port-forward: $(cat "$tmp/pf.log")"
	expect_eq "$out" "pod=ks/web-0 path=/one-$v" "$v port-forward svc/web"
	# Two at once: the first connection holds half its request while the second is served.
	out=$(here python3 - "$port" "$v" <<'EOF'
import socket, sys
port, v = int(sys.argv[1]), sys.argv[2]
def reply(s):
    data = b""
    while True:
        chunk = s.recv(4096)
        if not chunk:
            return data.split(b"\r\n\r\n", 1)[-1].decode()
        data += chunk
a = socket.create_connection(("127.0.0.1", port), timeout=20)
a.sendall(f"GET /held-{v} HTTP/1.0\r\n".encode())
b = socket.create_connection(("127.0.0.1", port), timeout=20)
b.sendall(f"GET /second-{v} HTTP/1.0\r\n\r\n".encode())
second = reply(b)
a.sendall(b"\r\n")
print(reply(a) + second, end="")
EOF
) || fail "$v two connections through port-forward: $(cat "$tmp/pf.log")"
	expect_eq "$out" "$(printf 'pod=ks/web-0 path=/held-%s\npod=ks/web-0 path=/second-%s' \
		"$v" "$v")" "$v two connections through port-forward"
	kill "$pf"
	wait "$pf" 2>/dev/null
	pf=

	# --- logs ---------------------------------------------------------------------------
	out=$(kc logs -n ks deployment/web) || fail "$v logs deployment/web"
	expect_contains "$out" "ks-server ks/web-0 up" "$v logs deployment/web"
	expect_contains "$out" "served /second-$v" "$v logs deployment/web"
	expect_eq "$(kc logs -n ks web-0 --tail=1)" "served /held-$v" "$v logs --tail=1"
	kc logs -f -n ks web-0 >"$tmp/follow" 2>&1 &
	pf=$!
	wait_for 20 grep -q "served /held-$v" "$tmp/follow" || fail "$v logs -f: $(cat "$tmp/follow")"
	pod_exec ks/web-0 curl -s "http://127.0.0.1:8080/followed-$v" >/dev/null
	wait_for 20 grep -q "served /followed-$v" "$tmp/follow" ||
		fail "$v logs -f did not follow: $(cat "$tmp/follow")"
	kill "$pf"
	wait "$pf" 2>/dev/null
	pf=
	out=$(kc logs -n ks web-0 --previous 2>&1) && fail "$v logs --previous: $out"
	expect_contains "$out" "previous terminated container" "$v logs --previous"
done
pass
