#!/usr/bin/env bash
# Runs every integration test (t_*.sh) against the local cluster, two at a time (two lines, each
# taking the next test from one queue, the longest first), then checks the host is left as it
# was. Each test brings its own cluster up and down (lib.sh), so one failing test cannot poison
# the next. Exit 77 from a test means skipped, with the reason its skip line gave; where nothing
# may be missing (tests/lib/skip-policy.sh: root on a supported kernel) a skip is a failure. A
# test that runs longer than AMBIT_IT_TIMEOUT seconds (600) is stopped with SIGTERM (its EXIT
# trap tears its cluster down; SIGKILL 30 s later: limited) and fails: one hung test must not
# eat the whole CI budget. AMBIT_IT_DIR runs the t_*.sh of another directory (the runners'
# self-test). Sets of the data path's tests then run again, in the same queue, each in clusters
# of another kind: `local up --kube` (AMBIT_IT_KUBE lists them), `--cni bridge`
# (AMBIT_IT_BRIDGE), `--ip-family dual` (AMBIT_IT_DUAL), `--ip-family ipv6` (AMBIT_IT_IPV6) and
# both `--kube --ip-family ipv6` (AMBIT_IT_IPV6_KUBE).
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/skip-policy.sh"
cd "${AMBIT_IT_DIR:-$here}"
[ "$(id -u)" -eq 0 ] || { echo "integration: needs root"; echo "integration: 0 passed, 0 failed, 1 skipped"; exit 0; }
strict=0
skip_is_failure && strict=1
out=$(mktemp)
# Each test's output is kept there too (tails/<label>), and a failed test's last lines are
# printed again at the end, beside the summary: the one part of a long CI log always read.
tails=$(mktemp -d)
trap 'rm -f "$out"; rm -rf "$tails"' EXIT

pass=0 fail=0 skip=0 failed=()
# What was already on the host (another cluster someone runs) is not the suite's to answer for.
before=$(bash "$here/leftovers.sh")
only=${ONLY:-}
# What tests keep for a person to look at (screenshots of the dashboard's pages): lib.sh's
# keep_artifacts, under build/ of the tree tested, left after the run.
export AMBIT_IT_ARTIFACTS=${AMBIT_IT_ARTIFACTS:-$(cd "$here/../.." && pwd)/build/it-artifacts}
limit=${AMBIT_IT_TIMEOUT:-600}
# limited LIMIT CMD...: CMD in a process group of its own; past LIMIT seconds the group gets one
# SIGTERM, and SIGKILL if CMD still runs 30 s later. Not coreutils' timeout: it signals the
# command twice, itself and then its group, and a second SIGTERM landing while bash runs its EXIT
# trap for the first ends bash in the middle of it (about 1 run in 75 here), leaving a hung
# test's cluster up. CMD's status, or 124 when it was stopped.
limited() {
	local limit=$1 pid rc fired
	shift
	fired=$(mktemp -u)
	setsid "$@" &
	pid=$!
	(
		end=$((SECONDS + limit))
		while kill -0 "$pid" 2>/dev/null; do
			[ $SECONDS -ge "$end" ] && break
			sleep 1
		done
		kill -0 "$pid" 2>/dev/null || exit 0
		: >"$fired"
		kill -TERM -- -"$pid" 2>/dev/null
		end=$((SECONDS + 30))
		while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt "$end" ]; do sleep 1; done
		kill -KILL -- -"$pid" 2>/dev/null
		exit 0
	) </dev/null >/dev/null 2>&1 &
	local watch=$!
	wait "$pid"
	rc=$?
	wait "$watch"
	[ -e "$fired" ] && rc=124
	rm -f "$fired"
	return $rc
}
# run_one T [LABEL [VAR=VALUE...]]: runs test T (with those variables in its environment), counts
# and reports it (as LABEL: T with its mode).
run_one() {
	local t=$1 label=${2:-$1} start rc dur why
	shift 2 2>/dev/null || shift
	echo "=== $label"
	start=$(date +%s)
	# lib.sh's skip() leaves its reason there.
	: >"$out"
	# To a file, not through a pipe: a daemon a test leaves holding its output must not hold
	# the suite.
	(
		for v in "$@"; do export "${v?}"; done
		AMBIT_SKIP_REASON_FILE=$out limited "$limit" bash "$t"
	) >"$tails/${label//\//_}" 2>&1
	rc=$?
	cat "$tails/${label//\//_}"
	dur=$(($(date +%s) - start))
	why=$(head -c 300 "$out")
	case $rc in
	0) pass=$((pass + 1)); echo "--- PASS $label (${dur}s)" ;;
	77)
		if [ $strict -eq 1 ]; then
			fail=$((fail + 1)); failed+=("$label")
			echo "--- FAIL $label (skipped: ${why:-no reason given}; a skip is a failure here: $SKIP_POLICY_WHY)"
		else
			skip=$((skip + 1)); echo "--- SKIP $label: ${why:-no reason given}"
		fi
		;;
	124) fail=$((fail + 1)); failed+=("$label"); echo "--- FAIL $label (stopped after ${dur}s: over the ${limit} s a test may take)" ;;
	*) fail=$((fail + 1)); failed+=("$label"); echo "--- FAIL $label (exit $rc, ${dur}s)" ;;
	esac
}

# The first pass: every test once. AMBIT_IT_MAIN=0 leaves it out (to run the others alone).
main_tests=()
for t in t_*.sh; do
	[ "${AMBIT_IT_MAIN:-1}" = 0 ] && break
	[ -n "$only" ] && ! [[ "$t" =~ $only ]] && continue # ONLY: a regex (t_8[67])
	main_tests+=("$t")
done
# Another directory's tests (the runners' self-test) run one after the other, here.
if [ -n "${AMBIT_IT_DIR:-}" ]; then
	for t in "${main_tests[@]}"; do run_one "$t"; done
fi
# The data path's tests again on the Kubernetes lookalike (`local up --kube`): the agents and
# ztunnels run as the DaemonSet's containers and read the API server. Tests of the local state
# directory's own diagnostics (file and line of a broken manifest, duplicate files) are not in
# it: there the API server holds the objects. Nor is t_82, which checks the local layout's
# waypoint directories (on Kubernetes they are under the agent's, kube_waypoint_dirs). The longest
# waypoint runs (t_85, t_86, t_87, t_89, t_83_waypoint_authz) and the ztunnel upgrade (t_95, run
# again on the bridge CNI's in-pod mode) also pass there but are left to the first pass for time,
# as are t_15 (inspect) and t_40 (peer identity), whose paths every test here also takes, and
# t_56 (dual stack: it runs on the lookalike in the IPv6-only pass, ipv6_kube_tests, where the
# agents read the nodes' addresses from the API server too; what is left to this pass alone is
# kubectl reading a PreferDualStack Service's clusterIPs in its order, for `make test`'s time).
# AMBIT_IT_KUBE="" leaves the pass out.
kube_tests=${AMBIT_IT_KUBE-t_10 t_30 t_50 t_53 t_57 t_58 t_59 t_59_multicluster t_70_policy_authz t_70_policy_mtls t_71 t_79_gateway_client_ip t_80 t_83_waypoint_l7 t_90 t_94_istioctl t_99}
# The mesh's tests again on the bridge CNI's pod network (`local up --cni bridge`: cni0, VXLAN
# between nodes, as flannel), where the agents take the in-pod capture mode. AMBIT_IT_BRIDGE
# lists them; "" leaves the pass out.
bridge_tests=${AMBIT_IT_BRIDGE-t_10 t_30 t_50 t_56 t_63 t_70_policy_authz t_70_policy_mtls t_71 t_79_gateway_client_ip t_83_waypoint_l7 t_95 t_54}
# The mesh's tests again in dual-stack clusters (`local up --ip-family dual`): what they check
# over IPv4 must hold with every node and pod holding an IPv6 address too (t_56, in every pass,
# checks what the mesh carries over IPv6 itself). The hitless upgrade (t_95) is left to the first
# pass and the bridge CNI's, for time: its IPv4 is that of the first pass, and t_56 upgrades a
# ztunnel under IPv6 load in the IPv6 passes. Nor are t_10 and t_50, for time: t_56 of the first
# pass, in a dual-stack cluster, checks pod-to-pod and Service IPv4 over HBONE beside IPv6, and
# the ztunnels' restarts and upgrades there. Nor, for `make test`'s time, are t_59_multicluster
# (its TCP and UDP across networks run over IPv4 in the first pass and `[kube]`, over IPv6 in
# the IPv6 pass) and t_63 (the DNS proxy's A answers in the first pass, its AAAA at the pods'
# IPv6 nameserver in the IPv6 pass). AMBIT_IT_DUAL lists them; "" leaves it out.
dual_tests=${AMBIT_IT_DUAL-t_58 t_70_policy_authz t_70_policy_mtls t_79_gateway_client_ip t_83_waypoint_l7}
# And in IPv6-only clusters (`local up --ip-family ipv6`: pods and Services of IPv6 alone):
# t_56 checks there what the mesh carries over IPv6 (connectivity over HBONE, STRICT, L4 and L7
# policy by IPv6 blocks, the waypoint, the gateway from the host, AAAA from the proxy and the
# kernel, restarts and the hitless upgrade), t_65 a headless Service's AAAA, SRV and dashed
# IPv6 names, the others what they check in any cluster (t_63 the DNS proxy's AAAA at the pods'
# IPv6 nameserver, the t_70_policy ones STRICT and DENY ipBlocks by the pods' IPv6,
# t_83_waypoint_authz UDP through the waypoint to a Service's IPv6 VIP).
# AMBIT_IT_IPV6 lists them; "" leaves it out.
ipv6_tests=${AMBIT_IT_IPV6-t_10 t_50 t_56 t_58 t_59 t_59_multicluster t_63 t_65 t_70_policy_authz t_70_policy_mtls t_73 t_79_gateway_client_ip t_83_waypoint_l7 t_83_waypoint_authz t_99}
# And t_56 once more in an IPv6-only cluster on the Kubernetes lookalike (`--kube`): the
# DaemonSet's agents take the nodes' IPv6 alone from status.hostIPs, and find their uplink by it.
# AMBIT_IT_IPV6_KUBE lists them; "" leaves it out.
ipv6_kube_tests=${AMBIT_IT_IPV6_KUBE-t_56}
# The environment of each pass's clusters.
mode_env() {
	case $1 in
	kube) echo AMBIT_LOCAL_KUBE=1 ;;
	bridge) echo AMBIT_LOCAL_CNI=bridge ;;
	dual) echo AMBIT_LOCAL_IP_FAMILY=dual ;;
	ipv6) echo AMBIT_LOCAL_IP_FAMILY=ipv6 ;;
	ipv6-kube) echo AMBIT_LOCAL_IP_FAMILY=ipv6 AMBIT_LOCAL_KUBE=1 ;;
	esac
}
# run_lane NAME QUEUE: takes "MODE TEST" lines off QUEUE (next_test) until it is empty, running
# each test in its pass's environment (a first pass's test keeps its plain name, the others
# "TEST [MODE]"); its counts and failures end in $passdir/NAME.res.
run_lane() {
	local name=$1 queue=$2 mode t
	out=$passdir/$name.skip
	pass=0 fail=0 skip=0 failed=()
	while read -r mode t < <(next_test "$queue") && [ -n "$t" ]; do
		if [ "$mode" = main ]; then
			run_one "$t"
		else
			# shellcheck disable=SC2046 # the variables are words
			run_one "$t" "$t [$mode]" $(mode_env "$mode")
		fi
	done
	{
		echo "$pass $fail $skip"
		[ ${#failed[@]} -gt 0 ] && printf '%s\n' "${failed[@]}"
	} >"$passdir/$name.res"
}
# next_test QUEUE: QUEUE's first line, taken out of it under a lock ("" once it is empty).
next_test() {
	local fd
	exec {fd}>>"$1.lock"
	flock "$fd"
	head -n 1 "$1"
	sed -i 1d "$1"
	exec {fd}>&-
}
# pass_queue MODE TESTS...: "MODE TEST" lines, each name prefix resolved to its script (ONLY
# filters them).
pass_queue() {
	local mode=$1 t
	shift
	for t in "$@"; do
		t=$(ls "$t"*.sh 2>/dev/null | head -1)
		[ -n "$t" ] || continue
		[ -n "$only" ] && ! [[ "$t" =~ $only ]] && continue
		echo "$mode $t"
	done
}
# Two lines run beside each other, each test its own cluster (as two people's on one host),
# taking the next test of one queue for every pass: the first pass's tests, then the other
# passes' (each pass its own environment). Whichever line is free takes the next, so the two end
# within one test of each other. The output is printed a line at a time once both are done.
if [ -z "${AMBIT_IT_DIR:-}" ]; then
	passdir=$(mktemp -d)
	trap 'rm -f "$out"; rm -rf "$passdir" "$tails"' EXIT
	# The longest first (a run on this machine kind: 60-135 s each); then the rest of the first
	# pass in name order; then the other passes, those of the Kubernetes lookalike (the longest,
	# 35 s a test on average) first; the shortest tests end the queue.
	long="t_79_gateway_conformance t_75_dashboard t_86_bookinfo_waypoint t_85_dos_flood \
t_95_ztunnel_upgrade t_21_hbone_soak t_17_demo_guard t_74_dashboards t_56_dual_stack"
	# Those that must have the machine to themselves run first, one after the other: t_87's
	# waypoint restart under load fails a keep-alive request when another cluster shares the
	# two cores (the timing it depends on is not yet understood).
	alone="t_87_waypoint_resilience"
	# shellcheck disable=SC2086 # the lists are words
	{
		for l in $long; do printf '%s\n' "${main_tests[@]}" | grep -x "$l.sh"; done |
			sed 's/^/main /'
		printf '%s\n' "${main_tests[@]}" | grep -vxF -f <(printf '%s.sh\n' $long $alone) |
			sed 's/^/main /'
		pass_queue kube $kube_tests
		pass_queue ipv6-kube $ipv6_kube_tests
		pass_queue bridge $bridge_tests
		pass_queue ipv6 $ipv6_tests
		pass_queue dual $dual_tests
	} >"$passdir/queue"
	printf '%s\n' "${main_tests[@]}" | grep -xF -f <(printf '%s.sh\n' $alone) |
		sed 's/^/main /' >"$passdir/alone"
	(run_lane alone "$passdir/alone") >"$passdir/alone.log" 2>&1
	(run_lane line-1 "$passdir/queue") >"$passdir/line-1.log" 2>&1 &
	kpid=$!
	(run_lane line-2 "$passdir/queue") >"$passdir/line-2.log" 2>&1 &
	bpid=$!
	wait "$kpid" "$bpid"
	for name in alone line-1 line-2; do
		cat "$passdir/$name.log"
		res=()
		[ -f "$passdir/$name.res" ] && mapfile -t res <"$passdir/$name.res"
		if [ ${#res[@]} -eq 0 ]; then
			echo "--- FAIL the $name line left no result"
			fail=$((fail + 1)); failed+=("$name line")
			continue
		fi
		read -r p f s <<<"${res[0]}"
		pass=$((pass + p)) fail=$((fail + f)) skip=$((skip + s))
		failed+=("${res[@]:1}")
	done
fi

# Nothing may be left on the host: netns, cgroups, pins, /etc/netns entries, run dirs.
left=$(comm -13 <(printf '%s\n' "$before" | sort) <(bash "$here/leftovers.sh" | sort) | sed '/^$/d')
[ -n "$before" ] && echo "(present before the suite, not checked: $(printf '%s' "$before" | wc -l) item(s))"
if [ -n "$left" ]; then
	echo "--- FAIL leftovers after the suite:"
	echo "$left"
	fail=$((fail + 1))
	failed+=("leftovers")
else
	pass=$((pass + 1))
	echo "--- PASS no leftovers on the host"
fi
# Each failure again at the end, where a reader of the log's tail looks: the cluster's state
# dump (lib.sh), its errors and failures alone; then the test's own last lines before it, which
# end with its FAIL line; and last, a line per failed test with that reason.
reasons=()
for f in "${failed[@]}"; do
	[ -f "$tails/${f//\//_}" ] || continue
	echo "=== the state dump of $f (errors and failures)"
	sed -n '/--- cluster .* state at failure/,$p' "$tails/${f//\//_}" |
		grep -E '^--- |[Ee]rror|FAIL|fail|refus|denied|timed? ?out' | grep -v '"GET ' | tail -n 40
	echo "=== the last lines of $f before its state dump"
	sed '/--- cluster .* state at failure/,$d' "$tails/${f//\//_}" | tail -n 30
	echo "=== end of $f"
	reasons+=("$f: $(grep -E '\] FAIL: ' "$tails/${f//\//_}" | tail -n 1 | cut -c1-400)")
done
for r in "${reasons[@]}"; do echo "failed: $r"; done
[ ${#failed[@]} -gt 0 ] && echo "failed: ${failed[*]}"
echo "integration: $pass passed, $fail failed, $skip skipped"
[ $fail -eq 0 ]
