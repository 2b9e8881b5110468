#!/usr/bin/env bash
# What README.md tells a new user works as written: `make install DESTDIR=...` gives an ambitctl
# that starts the installed agent and ztunnel, and every `ambitctl`/`bpftool` command of the sh
# blocks of README.md and of the docs/ pages its "Documentation" table links (where the README's
# sections on inspecting the mesh and on security policy went), read from the files themselves,
# succeeds against a cluster built from examples/demo with that installed ambitctl first on PATH.
# The one substitution: the demo's cluster name in pin paths (this test's cluster has its own
# name).
. "$(dirname "$0")/lib.sh"
need_root; need_bins; need_cmd bpftool curl jq

readme=$REPO/README.md
# README.md, then the docs/ pages of its Documentation table, in the table's order.
pages=("$readme")
mapfile -t -O 1 pages < <(awk '/^## Documentation$/ { on = 1; next } /^## / { on = 0 } on' "$readme" |
	grep -oE '\]\(docs/[A-Za-z0-9_-]+\.md\)' | sed -E 's/^\]\((.*)\)$/\1/' | awk '!seen[$0]++' |
	sed "s|^|$REPO/|")
[ "${#pages[@]}" -ge 3 ] || fail "README.md's Documentation table links ${#pages[@]} docs pages: parsing broke?"
# sudo resets the environment: a variable must follow it (sudo VAR=x make), never precede it.
bad=$(grep -nE '(^|[`[:space:]])[A-Z_]+=[^[:space:]]* sudo ' "${pages[@]}") &&
	fail "the docs set a variable before sudo, which drops it: $bad"

dest=$(mktemp -d /tmp/ambit-t16-XXXXXX)
trap 'rm -rf "$dest"' EXIT
make -s -C "$REPO" install DESTDIR="$dest" PREFIX=/usr/local >&2 || fail "make install failed"
for f in bin/ambitctl libexec/ambit/ambit-agent libexec/ambit/ztunnel libexec/ambit/waypoint; do
	[ -x "$dest/usr/local/$f" ] || fail "make install did not install $f"
done
AMBITCTL=$dest/usr/local/bin/ambitctl
export PATH=$dest/usr/local/bin:$PATH
unset AMBIT_AGENT_BIN AMBIT_ZTUNNEL_BIN AMBIT_WAYPOINT_BIN
[ "$(command -v ambitctl)" = "$AMBITCTL" ] || fail "the installed ambitctl is not first on PATH"
out=$(ambitctl --help) || fail "installed ambitctl --help exits $?"
expect_contains "$out" "usage: ambitctl"

# cluster_up, with the installed copy removed only after the trap tore the cluster down.
PF_PID=
trap '[ -n "$PF_PID" ] && kill "$PF_PID" 2>/dev/null; on_exit; rm -rf "$dest"' EXIT
trap 'exit 130' INT TERM
CLUSTER_IS_UP=1
actl local up -f "$REPO/examples/demo" --name "$CLUSTER" --nodes 2 >&2 || fail "local up failed"

status=$(actl local status -o json) || fail "local status"
for comp in agent ztunnel; do
	want=$dest/usr/local/libexec/ambit/$([ $comp = agent ] && echo ambit-agent || echo ztunnel)
	for pid in $(printf '%s' "$status" | jq -r ".nodes[].$comp.pid"); do
		exe=$(readlink "/proc/$pid/exe") || fail "$comp pid $pid is not running"
		expect_eq "$exe" "$want" "the installed ambitctl starts the installed $comp"
	done
done
wait_for 30 pod_exec demo/client-0 curl -sf --max-time 2 http://web/ || fail "demo web never answered"

# Every command line of those pages' sh blocks that runs ambitctl or bpftool, each with its page.
lines=() where=()
for page in "${pages[@]}"; do
	mapfile -t got < <(awk '/^```sh$/ { on = 1; next } /^```/ { on = 0 } on && /^(ambitctl|bpftool) /' "$page")
	lines+=("${got[@]}")
	for _ in "${got[@]}"; do where+=("${page#"$REPO"/}"); done
done
# 20 when the README was split into docs/: none of them may get lost on the way.
[ "${#lines[@]}" -ge 20 ] || fail "only ${#lines[@]} commands found in README.md and its docs pages: parsing broke?"

# What a command's output must show, when the README's comment promises something checkable.
promise() {
	case $1 in
	"ambitctl workloads"*) echo "spiffe://cluster.local/ns/demo/sa/client" ;;
	"ambitctl services"*) echo "10.98.2." ;;
	"ambitctl certs"*) echo "spiffe://cluster.local/ns/demo/sa/web" ;;
	"ambitctl maps"*) echo "demo/client-0" ;;
	"ambitctl metrics"*) echo "istio_tcp_connections_opened_total{" ;;
	"bpftool map dump"*) echo '"node_ip"' ;;
	"ambitctl local exec demo/client"*) echo "hello from demo/web-0" ;;
	"ambitctl policies"*) echo "demo/web-from-client" ;;
	"ambitctl check demo/client-0"*) echo "decision:    allow by demo/web-from-client" ;;
	"ambitctl check legacy/client-0"*) echo "decision:    deny by PeerAuthentication demo/default" ;;
	esac
}

cd "$REPO" || fail "cd $REPO"
for i in "${!lines[@]}"; do
	line=${lines[$i]}
	cmd=${line//\/sys\/fs\/bpf\/ambit\/demo-//sys/fs/bpf/ambit/$CLUSTER-}
	# The user's directory of Grafana dashboards: one of ours (empty: t_74 draws Istio's).
	mkdir -p "$dest/grafana"
	cmd=${cmd//--grafana-dashboards DIR/--grafana-dashboards $dest/grafana}
	want=$(promise "$line")
	log "${where[$i]}: $cmd"
	# A port-forward runs until Ctrl-C: in the background on a free port, the page fetched
	# through it, then ended as the user ends it.
	if [[ $cmd == "ambitctl local port-forward"* ]]; then
		port=$(free_port)
		bash -c "exec ${cmd//8080:/$port:}" >"$dest/pf.out" 2>&1 &
		PF_PID=$!
		wait_for 15 curl -sf --max-time 2 "http://127.0.0.1:$port/" ||
			fail "${where[$i]}: command: $cmd: nothing on port $port: $(cat "$dest/pf.out")"
		expect_contains "$(curl -s --max-time 5 "http://127.0.0.1:$port/")" "hello from demo/web-0" \
			"the page through the README's port-forward"
		kill -INT "$PF_PID"
		wait "$PF_PID" || fail "${where[$i]}: command: $cmd: exit $? after Ctrl-C"
		PF_PID=
		continue
	fi
	# The dashboard too serves until Ctrl-C: on a free port, its API and page asked, then ended.
	if [[ $cmd == "ambitctl dashboard"* ]]; then
		port=$(free_port)
		bash -c "exec ${cmd%%#*} --port $port" >"$dest/dash.out" 2>&1 &
		PF_PID=$!
		wait_for 15 curl -sf --max-time 2 "http://127.0.0.1:$port/api/health" ||
			fail "${where[$i]}: command: $cmd: nothing on port $port: $(cat "$dest/dash.out")"
		expect_contains "$(curl -s --max-time 5 "http://127.0.0.1:$port/api/health")" \
			"\"cluster\":\"$CLUSTER\"" "the dashboard's cluster"
		expect_contains "$(curl -s --max-time 10 "http://127.0.0.1:$port/api/namespaces")" '"demo"' \
			"the dashboard's namespaces"
		expect_contains "$(curl -s --max-time 5 "http://127.0.0.1:$port/")" "<html" "the dashboard's page"
		kill -INT "$PF_PID"
		wait "$PF_PID" || fail "${where[$i]}: command: $cmd: exit $? after Ctrl-C"
		PF_PID=
		continue
	fi
	out=$(bash -c "$cmd" 2>&1) || fail "${where[$i]}: command failed (exit $?): $cmd: $out"
	[ -n "$out" ] || fail "${where[$i]}: command printed nothing: $cmd"
	# A policy applied a moment ago reaches the agents' snapshots within a few seconds.
	if [ -n "$want" ] && [[ $out != *"$want"* ]]; then
		wait_for 15 bash -c '[[ $(bash -c "$1" 2>&1) == *"$2"* ]]' _ "$cmd" "$want" ||
			fail "${where[$i]}: command: $cmd: '$want' not in: $out"
	fi
done

# "Coming from Istio's sidecar tutorials": the label a tutorial asks for is named, not ignored.
out=$(ambitctl label namespace legacy istio-injection=enabled 2>&1) || fail "label: $out"
expect_contains "$out" "Namespace legacy: metadata.labels.istio-injection: ambient-only" \
	"label says at once what the sidecar label means here"
out=$(ambitctl workloads) || fail "workloads"
expect_contains "$out" "no (istio-injection=enabled is sidecar mode; ambit is ambient-only: label the namespace istio.io/dataplane-mode=ambient)"
out=$(ambitctl analyze 2>&1)
expect_contains "$out" "Namespace legacy: metadata.labels.istio-injection: ambient-only"
pass
