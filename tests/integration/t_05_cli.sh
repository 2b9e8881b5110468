#!/usr/bin/env bash
# ambitctl's own interface, no cluster needed: every command answers --help and -h with its
# usage on stdout and exit 0 ("--help" after "--" belongs to the pod's command), and with several
# clusters up a command without --name lists them and asks which instead of guessing.
. "$(dirname "$0")/lib.sh"
need_root; need_bins

fake=()
cleanup() {
	local d
	for d in "${fake[@]}"; do rm -rf "/run/ambit/$d"; done
	rmdir /run/ambit 2>/dev/null
	return 0
}
trap cleanup EXIT

out=$(actl --help) || fail "--help exits $?"
expect_contains "$out" "usage: ambitctl COMMAND"
for cmd in "local" "local up" "local down" "local exec" "local logs" "local stop" "local start" \
	"local status" apply delete analyze label workloads services certs connections maps \
	metrics policies check nodes install uninstall waypoint; do
	for h in --help -h; do
		# shellcheck disable=SC2086 # "local up" is two words
		out=$(actl $cmd $h 2>/tmp/ambit-t05-err.$$) || fail "ambitctl $cmd $h exits $?"
		err=$(cat /tmp/ambit-t05-err.$$)
		rm -f /tmp/ambit-t05-err.$$
		[ -z "$err" ] || fail "ambitctl $cmd $h wrote to stderr: $err"
		expect_contains "$out" "usage: ambitctl ${cmd%% *}" "ambitctl $cmd $h"
		[ "$(printf '%s\n' "$out" | wc -l)" -ge 2 ] || fail "ambitctl $cmd $h: no synopsis: $out"
	done
done
out=$(actl local status --help)
expect_contains "$out" "local exec [-n NS] POD -- CMD..." "local --help lists every local command"

# After "--" the words are the pod's: no usage, the exec itself is attempted (and fails here).
out=$(actl local exec --name "nosuch$$" x/y -- true --help 2>&1) && fail "exec into no cluster succeeded"
expect_not_contains "$out" "usage: ambitctl"
expect_contains "$out" "nosuch$$ is not up"

out=$(actl nosuch --help 2>&1) && fail "an unknown command exits 0"
expect_contains "$out" 'unknown command "nosuch"'

# Two clusters up (a run dir with cluster.json is what ambitctl counts as up).
for s in a b; do
	fake+=("sel$$$s")
	mkdir -p "/run/ambit/sel$$$s"
	echo '{"name":"sel'"$$$s"'","nodes":[{"name":"node1"}]}' >"/run/ambit/sel$$$s/cluster.json"
done
unset AMBIT_CLUSTER
for cmd in workloads "local status" "local down"; do
	# shellcheck disable=SC2086
	out=$(actl $cmd 2>&1) && fail "ambitctl $cmd picked a cluster among several"
	expect_contains "$out" "sel$$a, sel$$b" "ambitctl $cmd lists the clusters up"
	expect_contains "$out" "--cluster C" "ambitctl $cmd says how to choose"
done
[ -f "/run/ambit/sel$$a/cluster.json" ] || fail "local down without --name removed a cluster"
# analyze -f needs no cluster: it says so and analyzes the files alone.
out=$(actl analyze -f "$REPO/examples/demo" 2>&1) || fail "analyze -f with several clusters: $out"
expect_contains "$out" "resolved within the files alone"
expect_contains "$out" "0 errors"
# --name still chooses (a stub cluster: whatever it says, it is not asked to choose).
out=$(actl workloads --name "sel$$a" 2>&1)
expect_not_contains "$out" "clusters are up"
pass
