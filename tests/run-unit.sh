#!/usr/bin/env bash
# Runs unit-test binaries (cmocka), prints each one's result and a total line.
# A binary exiting 77 is skipped (missing privilege or kernel feature), as in automake.
set -u
pass=0 fail=0 skip=0
for t in "$@"; do
	out=$("$t" 2>&1)
	rc=$?
	case $rc in
	0) pass=$((pass + 1)); echo "PASS $t" ;;
	77) skip=$((skip + 1)); echo "SKIP $t"; echo "$out" | tail -3 ;;
	*) fail=$((fail + 1)); echo "FAIL $t (exit $rc)"; echo "$out" | tail -40 ;;
	esac
done
echo "unit: $pass passed, $fail failed, $skip skipped"
[ $fail -eq 0 ]
