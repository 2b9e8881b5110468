#!/usr/bin/env bash
# The HBONE soak at bench scale: tests/integration/t_21_hbone_soak.sh with SOAK_CONNS (10,000)
# idle connections held SOAK_SECS (3600, an hour) through node1's ztunnel,
# namespace mesh's waypoint and node2's ztunnel with keep-alive PINGs, then the clients' clean
# close (CLOSE_WAIT, fds) and a peer frozen without a FIN (detection time). QUICK=1 (make test's
# smoke run of this script): 600 for 8 s; the test alone, in `make test`, holds 10,000 for 30 s.
# Writes the test's figures to OUT.md (bench/results/soak).
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
QUICK=${QUICK:-}
[ "$QUICK" = 0 ] && QUICK=
SOAK_CONNS=${SOAK_CONNS:-$([ -n "$QUICK" ] && echo 600 || echo 10000)}
SOAK_SECS=${SOAK_SECS:-$([ -n "$QUICK" ] && echo 8 || echo 3600)}
OUT=${OUT:-$REPO/$([ -n "$QUICK" ] && echo build/bench/soak || echo bench/results/soak)}
mkdir -p "$(dirname "$OUT")"
log=$(mktemp)
# (The test lifts the ztunnel's per-listener and per-identity caps and its idle timeouts itself.)
AMBIT_SOAK_N=$SOAK_CONNS AMBIT_SOAK_S=$SOAK_SECS bash "$REPO/tests/integration/t_21_hbone_soak.sh" \
	2>"$log"
rc=$?
{
	printf '# HBONE soak: %s idle connections for %s s (%s)\n\n' "$SOAK_CONNS" "$SOAK_SECS" "$(date -u +%F)"
	echo 'tools/bench/soak.sh (tests/integration/t_21_hbone_soak.sh): enrolled pod on node1 to a TCP Service backed by a pod on node2, through node1'"'"'s ztunnel, the namespace'"'"'s waypoint and node2'"'"'s ztunnel, PINGs every 2 s.'
	echo
	grep '^\[t_21_hbone_soak\]' "$log" | grep -v 'soak samples' | sed 's/^\[t_21_hbone_soak\] /- /'
	echo
	echo 'Samples (unix time, node1 ztunnel RSS kB and fds, node2 ztunnel RSS kB and fds, waypoint RSS kB and fds):'
	echo
	# At most some 60 lines of them.
	grep 'soak samples' "$log" | sed 's/.*): //' | tr ';' '\n' | awk 'NF' >"$log.s"
	awk -v n="$(wc -l <"$log.s")" 'NR == 1 || NR == n || NR % int(n / 60 + 1) == 0 { print "    " $0 }' "$log.s"
	rm -f "$log.s"
} >"$OUT.md"
rm -f "$log"
cat "$OUT.md"
exit $rc
