#!/usr/bin/env bash
# The ambit demo (`sudo make demo`). DEMO=l7 (the default) is the traffic-management tour of
# Istio's tutorials on bookinfo through a waypoint (l7.sh); DEMO=l4 is the L4 demo, a meshed and
# a legacy client calling nginx (l4.sh). DEMO_SECONDS=N ends the live part at the end after N
# seconds; otherwise Ctrl-C. Everything the cluster made is removed on the way out. DEMO_CLUSTER
# names the cluster (default "demo"); one of that name already up is left alone and the demo
# refuses.
set -u

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
AMBITCTL=${AMBITCTL:-$repo/build/ambitctl}
C=${DEMO_CLUSTER:-demo}
export AMBIT_CLUSTER=$C
secs=${DEMO_SECONDS:-0}
tour=${DEMO:-l7}
bg_pids=()

say() { printf '%s\n' "$*"; }
section() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

[ "$(id -u)" -eq 0 ] || { say "demo: run as root (sudo make demo)"; exit 1; }
# ambitctl honours AMBIT_AGENT_BIN / AMBIT_ZTUNNEL_BIN; check what will really run.
for b in "$AMBITCTL" "${AMBIT_AGENT_BIN:-$repo/build/ambit-agent}" \
	"${AMBIT_ZTUNNEL_BIN:-$repo/build/ztunnel}"; do
	[ -f "$b" ] && [ -x "$b" ] || { say "demo: $b is missing; run make first"; exit 1; }
done
case $secs in '' | *[!0-9]*) say "demo: DEMO_SECONDS must be a number"; exit 1 ;; esac
case $tour in
l7) [ -f "${AMBIT_WAYPOINT_BIN:-$repo/build/waypoint}" ] || { say "demo: the waypoint is missing; run make first"; exit 1; } ;;
l4) ;;
*) say "demo: DEMO must be l7 (the bookinfo tour, the default) or l4"; exit 1 ;;
esac

# A cluster of this name may be someone's work: never remove it unasked. The one exception is
# what a demo run left when it was killed before its trap could tear down (its pid, recorded in
# the run dir below, is gone): that is this script's own leftover, removed before starting over.
rundir=/run/ambit/$C
if [ -e "$rundir" ]; then
	owner=$(cat "$rundir/demo.pid" 2>/dev/null)
	case $owner in '' | *[!0-9]*) owner= ;; esac
	# A live pid is that demo only if it still runs this script (pids are reused).
	if [ -n "$owner" ] && ! tr '\0' ' ' <"/proc/$owner/cmdline" 2>/dev/null | grep -q 'demo/run\.sh'; then
		say "demo: removing cluster \"$C\" left by a demo run that ended without tearing down (pid $owner)"
		"$AMBITCTL" local down --name "$C" >/dev/null || { say "demo: could not remove it"; exit 1; }
	else
		if [ -n "$owner" ]; then
			say "demo: a demo is already running as cluster \"$C\" (pid $owner)."
		else
			say "demo: a cluster named \"$C\" is already up ($rundir) and is not a demo's leftover;"
			say "      the demo does not remove it for you."
		fi
		say "Remove it with:        sudo $AMBITCTL local down --name $C"
		say "or run another demo:   sudo DEMO_CLUSTER=${C}2 make demo"
		exit 1
	fi
fi

cleanup() {
	local p
	trap - EXIT INT TERM
	# Process groups (setsid pipelines), or plain processes (the final sleep).
	for p in "${bg_pids[@]}"; do kill -- "-$p" 2>/dev/null || kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	section "tearing down"
	"$AMBITCTL" local down --name "$C"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

. "$here/$tour.sh"
