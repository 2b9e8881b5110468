#!/usr/bin/env bash
# Runs every integration test (t_*.sh, in name order) against the local cluster, then checks the
# host is left as it was. Each test brings its own cluster up and down (lib.sh), so one failing
# test cannot poison the next. Exit 77 from a test means skipped.
set -u
cd "$(dirname "$0")"
[ "$(id -u)" -eq 0 ] || { echo "integration: needs root"; echo "integration: 0 passed, 0 failed, 1 skipped"; exit 0; }

pass=0 fail=0 skip=0 failed=()
# What was already on the host (another cluster someone runs) is not the suite's to answer for.
before=$(bash ./leftovers.sh)
only=${ONLY:-}
for t in t_*.sh; do
	[ -n "$only" ] && [[ "$t" != *"$only"* ]] && continue
	echo "=== $t"
	start=$(date +%s)
	bash "$t"
	rc=$?
	dur=$(($(date +%s) - start))
	case $rc in
	0) pass=$((pass + 1)); echo "--- PASS $t (${dur}s)" ;;
	77) skip=$((skip + 1)); echo "--- SKIP $t" ;;
	*) fail=$((fail + 1)); failed+=("$t"); echo "--- FAIL $t (exit $rc, ${dur}s)" ;;
	esac
done

# Nothing may be left on the host: netns, cgroups, pins, /etc/netns entries, run dirs.
left=$(comm -13 <(printf '%s\n' "$before" | sort) <(bash ./leftovers.sh | sort) | sed '/^$/d')
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
