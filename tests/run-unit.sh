#!/usr/bin/env bash
# Runs unit-test binaries (cmocka), prints each one's result and a total line.
# A binary is SKIP, with its reason, when it exits 77 (missing privilege or kernel feature, as in
# automake) or when any of its cases called cmocka's skip() (cmocka then still exits 0): the
# reason is what that case printed before cmocka's "[  SKIPPED ]" line, or the binary's last
# lines for 77. Where nothing may be missing (tests/lib/skip-policy.sh: root on a supported
# kernel) a skip counts as a failure, with a line saying why.
set -u
. "$(dirname "$0")/lib/skip-policy.sh"
strict=0
skip_is_failure && strict=1

# The skipped cases of a cmocka run on stdin, one "case: reason" line each.
skipped_cases() {
	awk '
	/^\[ RUN      \] / { name = substr($0, 14); why = ""; next }
	/^\[  SKIPPED \] / {
		if (name != "" && substr($0, 14) == name)
			printf "%s: %s\n", name, why == "" ? "(the case printed no reason)" : why
		name = ""; next
	}
	/^\[  *(OK|FAILED|ERROR) *\] / { name = ""; next }
	name != "" { sub(/[ \t]+$/, ""); if ($0 != "") why = why == "" ? $0 : why "; " $0 }'
}

pass=0 fail=0 skip=0
for t in "$@"; do
	# Line-buffered stdout keeps a case's messages in order with cmocka's status lines.
	# A binary that hangs (a blocking open, a lost wake-up) fails after UNIT_TIMEOUT seconds
	# instead of holding the run: a bound, not a measure (no case comes near it).
	out=$(timeout -k 10 "${UNIT_TIMEOUT:-600}" stdbuf -oL "$t" 2>&1)
	rc=$?
	[ $rc -eq 124 ] && out="$out
(killed: still running after ${UNIT_TIMEOUT:-600} s)"
	reasons=
	if [ $rc -eq 0 ]; then
		reasons=$(printf '%s\n' "$out" | skipped_cases)
		[ -n "$reasons" ] && rc=77
	elif [ $rc -eq 77 ]; then
		reasons=$(printf '%s\n' "$out" | tail -3)
	fi
	case $rc in
	0) pass=$((pass + 1)); echo "PASS $t" ;;
	77)
		if [ $strict -eq 1 ]; then
			fail=$((fail + 1))
			echo "FAIL $t (skipped, and a skip is a failure here: $SKIP_POLICY_WHY)"
		else
			skip=$((skip + 1))
			echo "SKIP $t"
		fi
		printf '%s\n' "$reasons" | sed 's/^/    skipped: /'
		;;
	*)
		fail=$((fail + 1))
		echo "FAIL $t (exit $rc)"
		# Every failed case with its reason (a long run's first ones fall out of the tail),
		# then the end of what the binary printed.
		printf '%s\n' "$out" | grep -E -B1 -A1 '^\[   LINE   \]' | grep -v '^--$' | head -60 |
			sed 's/^/    /'
		printf '%s\n' "$out" | tail -40
		;;
	esac
done
echo "unit: $pass passed, $fail failed, $skip skipped"
[ $fail -eq 0 ]
