#!/usr/bin/env bash
# Runs every integration test (t_*.sh, in name order) against the local cluster, then checks the
# host is left as it was. Each test brings its own cluster up and down (lib.sh), so one failing
# test cannot poison the next. Exit 77 from a test means skipped, with the reason its skip line
# gave; where nothing may be missing (tests/lib/skip-policy.sh: root on a supported kernel) a skip
# is a failure. A test that runs longer than AMBIT_IT_TIMEOUT seconds (600) is stopped with
# SIGTERM (its EXIT trap tears its cluster down; SIGKILL 30 s later) and fails: one hung test must
# not eat the whole CI budget. AMBIT_IT_DIR runs the t_*.sh of another directory (the runners'
# self-test).
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/skip-policy.sh"
cd "${AMBIT_IT_DIR:-$here}"
[ "$(id -u)" -eq 0 ] || { echo "integration: needs root"; echo "integration: 0 passed, 0 failed, 1 skipped"; exit 0; }
strict=0
skip_is_failure && strict=1
out=$(mktemp)
trap 'rm -f "$out"' EXIT

pass=0 fail=0 skip=0 failed=()
# What was already on the host (another cluster someone runs) is not the suite's to answer for.
before=$(bash "$here/leftovers.sh")
only=${ONLY:-}
limit=${AMBIT_IT_TIMEOUT:-600}
for t in t_*.sh; do
	[ -n "$only" ] && ! [[ "$t" =~ $only ]] && continue # ONLY: a regex (t_8[67])
	echo "=== $t"
	start=$(date +%s)
	# lib.sh's skip() leaves its reason there.
	: >"$out"
	AMBIT_SKIP_REASON_FILE=$out timeout -k 30 "$limit" bash "$t"
	rc=$?
	dur=$(($(date +%s) - start))
	[ $rc -eq 137 ] && [ $dur -ge "$limit" ] && rc=124 # it ignored SIGTERM
	why=$(head -c 300 "$out")
	case $rc in
	0) pass=$((pass + 1)); echo "--- PASS $t (${dur}s)" ;;
	77)
		if [ $strict -eq 1 ]; then
			fail=$((fail + 1)); failed+=("$t")
			echo "--- FAIL $t (skipped: ${why:-no reason given}; a skip is a failure here: $SKIP_POLICY_WHY)"
		else
			skip=$((skip + 1)); echo "--- SKIP $t: ${why:-no reason given}"
		fi
		;;
	124) fail=$((fail + 1)); failed+=("$t"); echo "--- FAIL $t (stopped after ${dur}s: over the ${limit} s a test may take)" ;;
	*) fail=$((fail + 1)); failed+=("$t"); echo "--- FAIL $t (exit $rc, ${dur}s)" ;;
	esac
done

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
[ ${#failed[@]} -gt 0 ] && echo "failed: ${failed[*]}"
echo "integration: $pass passed, $fail failed, $skip skipped"
[ $fail -eq 0 ]
