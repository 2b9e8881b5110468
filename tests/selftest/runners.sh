#!/usr/bin/env bash
# Self-test of the test runners: a case that calls cmocka's skip() (the binary still exits 0), a
# binary that exits 77 and an integration script that skips are reported SKIP with their reason
# where a skip is allowed, and fail the run, with a line saying why, where it is not
# (tests/lib/skip-policy.sh); an integration script that hangs is stopped at its time limit. Also: test_istio_samples fails, naming where it looked, when the
# samples are missing; tools/cycle-check.sh fails on each kind of bad include and on a name defined twice. Usage: runners.sh BUILD_DIR (holding tests/selftest_skip, tests/config/test_load).
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-build}" && pwd)
bin=$build/tests/selftest_skip
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0

check() { # name, expected exit status (0 or "nonzero"), actual, output, grep patterns...
	local name=$1 want=$2 rc=$3 out=$4 p
	shift 4
	if { [ "$want" = 0 ] && [ "$rc" -ne 0 ]; } || { [ "$want" != 0 ] && [ "$rc" -eq 0 ]; }; then
		echo "FAIL $name: exit $rc, expected $want"; printf '%s\n' "$out" | sed 's/^/    /'
		fail=$((fail + 1)); return
	fi
	for p in "$@"; do
		if ! grep -qF -- "$p" <<<"$out"; then
			echo "FAIL $name: no line with '$p' in:"; printf '%s\n' "$out" | sed 's/^/    /'
			fail=$((fail + 1)); return
		fi
	done
	echo "PASS $name"
	pass=$((pass + 1))
}

printf '#!/bin/sh\nexec %s 77\n' "$bin" >"$tmp/exits77"
chmod +x "$tmp/exits77"

out=$(AMBIT_SKIP_POLICY=lenient bash "$root/tests/run-unit.sh" "$bin" 2>&1)
check "run-unit: a skipped case is SKIP with its reason" 0 $? "$out" "SKIP $bin" \
	"skipped: test_skips: needs the selftest-widget" "unit: 0 passed, 0 failed, 1 skipped"
out=$(AMBIT_SKIP_POLICY=strict bash "$root/tests/run-unit.sh" "$bin" 2>&1)
check "run-unit: a skipped case fails where skips may not happen" nonzero $? "$out" \
	"FAIL $bin (skipped, and a skip is a failure here: AMBIT_SKIP_POLICY=strict)" \
	"skipped: test_skips: needs the selftest-widget" "unit: 0 passed, 1 failed, 0 skipped"
out=$(AMBIT_SKIP_POLICY=lenient bash "$root/tests/run-unit.sh" "$tmp/exits77" 2>&1)
check "run-unit: exit 77 is SKIP with the binary's reason" 0 $? "$out" "SKIP $tmp/exits77" \
	"skipped: selftest_skip: needs the selftest-gadget, skipping"
out=$(AMBIT_SKIP_POLICY=strict bash "$root/tests/run-unit.sh" "$tmp/exits77" 2>&1)
check "run-unit: exit 77 fails where skips may not happen" nonzero $? "$out" \
	"a skip is a failure here"

# The integration runner needs root (it checks the host for leftovers). One that ignored
# AMBIT_IT_DIR would run the whole suite instead of the fake script: fail rather than do that.
if ! grep -q AMBIT_IT_DIR "$root/tests/integration/run.sh"; then
	echo "FAIL integration: run.sh does not honour AMBIT_IT_DIR"
	fail=$((fail + 1))
elif [ "$(id -u)" -eq 0 ]; then
	mkdir "$tmp/it"
	cat >"$tmp/it/t_00_skips.sh" <<EOT
. "$root/tests/integration/lib.sh"
skip "needs the selftest-gizmo"
EOT
	out=$(AMBIT_IT_DIR=$tmp/it AMBIT_SKIP_POLICY=lenient bash "$root/tests/integration/run.sh" 2>&1)
	check "integration: a skipped script is SKIP with its reason" 0 $? "$out" \
		"--- SKIP t_00_skips.sh: needs the selftest-gizmo" "1 skipped"
	out=$(AMBIT_IT_DIR=$tmp/it AMBIT_SKIP_POLICY=strict bash "$root/tests/integration/run.sh" 2>&1)
	check "integration: a skipped script fails where skips may not happen" nonzero $? "$out" \
		"--- FAIL t_00_skips.sh (skipped: needs the selftest-gizmo; a skip is a failure here"
	# A test that hangs is stopped at the limit, its EXIT trap still runs, and the run fails.
	mkdir "$tmp/hang"
	cat >"$tmp/hang/t_00_hangs.sh" <<EOT
trap 'echo torn-down >"$tmp/hang/trap-ran"' EXIT
sleep 300
EOT
	out=$(AMBIT_IT_DIR=$tmp/hang AMBIT_IT_TIMEOUT=2 bash "$root/tests/integration/run.sh" 2>&1)
	check "integration: a hung script is stopped and fails" nonzero $? "$out" \
		"--- FAIL t_00_hangs.sh (stopped after" "over the 2 s a test may take" "1 failed"
	[ -f "$tmp/hang/trap-ran" ] && pass=$((pass + 1)) && echo "PASS integration: the hung script's EXIT trap ran" ||
		{ fail=$((fail + 1)); echo "FAIL integration: the hung script's EXIT trap did not run"; }
	# A failed script's last lines come again at the end, beside the summary.
	mkdir "$tmp/fails"
	# Its cluster's state dump (lib.sh) comes after, and its log tails must not push the reason out.
	cat >"$tmp/fails/t_00_fails.sh" <<'EOT'
echo "why-it-failed: 42 != 43"
echo "[t_00_fails] FAIL: the reason, 42 != 43" >&2
echo "--- cluster it-x state at failure"
echo "--- agent-node1.log (last 20 lines)"
echo "agent: error: the dump's own error line"
for i in $(seq 60); do echo "10.0.0.1 - - \"GET / HTTP/1.1\" 200 66"; done
exit 1
EOT
	out=$(AMBIT_IT_DIR=$tmp/fails bash "$root/tests/integration/run.sh" 2>&1)
	check "integration: a failed script's last lines are printed again with the summary" nonzero \
		$? "$(printf '%s\n' "$out" | sed -n '/=== the state dump of t_00_fails.sh/,$p')" \
		"why-it-failed: 42 != 43" "agent: error: the dump's own error line" \
		"failed: t_00_fails.sh: [t_00_fails] FAIL: the reason, 42 != 43" "failed: t_00_fails.sh"
fi

# tools/cycle-check.sh (which make test runs on the tree itself first) on one copy of the sources
# and objects with six faults planted: a header-only edge up (the symbols alone would pass), a
# bare name from another folder, a private header from outside its folder and one from outside
# the waypoint's engine/ (a subfolder of a binary's tree), a path climbing out, and a second
# definition of a name (its object beside hard links to the build's). One run, each fault's own
# words checked.
rm -rf "$tmp/cc" && mkdir -p "$tmp/cc/tools"
cp -r "$root/userspace" "$root/ztunnel" "$root/waypoint" "$tmp/cc/"
cp "$root/tools/cycle-check.sh" "$tmp/cc/tools/"
cp -rl "$build/obj" "$tmp/cc/obj" 2>/dev/null || { rm -rf "$tmp/cc/obj"; cp -r "$build/obj" "$tmp/cc/obj"; }
echo '#include "net/loop.h"' >>"$tmp/cc/userspace/lib/buf.h"
echo '#include "loop.h"' >>"$tmp/cc/userspace/tls/tls.c"
echo '#include "http/h2_priv.h"' >>"$tmp/cc/userspace/hbone/hbone.c"
echo '#include "../tls/tls.h"' >>"$tmp/cc/userspace/net/loop.c"
echo '#include "engine/proxy_priv.h"' >>"$tmp/cc/waypoint/route.c"
echo 'void loop_create(void) {}' >"$tmp/cc/userspace/lib/zz_dup.c"
cc -c "$tmp/cc/userspace/lib/zz_dup.c" -o "$tmp/cc/obj/userspace/lib/zz_dup.o"
out=$(bash "$tmp/cc/tools/cycle-check.sh" "$tmp/cc/obj" 2>&1)
rc=$?
check "cycle-check: an include of a folder above is an edge like a call" nonzero $rc "$out" \
	"userspace/lib/buf.h includes userspace/net/loop.h" "use each other in a circle"
check "cycle-check: a bare name from another folder fails" nonzero $rc "$out" \
	'userspace/tls/tls.c: #include "loop.h": no header of userspace/tls has that name'
check "cycle-check: a private header from outside its folder fails" nonzero $rc "$out" \
	'userspace/hbone/hbone.c: #include "http/h2_priv.h": a private header of userspace/http'
check "cycle-check: an engine's private header from the waypoint's decisions fails" nonzero $rc \
	"$out" 'waypoint/route.c: #include "engine/proxy_priv.h": a private header of waypoint/engine'
check "cycle-check: a path climbing out elsewhere than the binaries fails" nonzero $rc "$out" \
	'userspace/net/loop.c: #include "../tls/tls.h": a path climbing out reaches only ztunnel/ or waypoint/'
check "cycle-check: a name defined twice fails" nonzero $rc "$out" \
	"loop_create is defined by userspace/lib/zz_dup.c, userspace/net/loop.c"

out=$(cd "$root" && AMBIT_ISTIO_SAMPLES=$tmp/no-samples "$build/tests/config/test_load" 2>&1)
check "test_istio_samples fails (not skips) without the samples, naming the path" nonzero $? \
	"$out" "[  FAILED  ] test_istio_samples" "$tmp/no-samples"

echo "selftest: $pass passed, $fail failed"
[ $fail -eq 0 ]
