#!/usr/bin/env bash
# Helpers shared by the t_70_policy*.sh tests (sourced after lib.sh; not a pod command).

# host_prefix ADDR: ADDR as an ipBlocks entry of the one host (/32, or /128 for an IPv6 one).
host_prefix() {
	case $1 in *:*) echo "$1/128" ;; *) echo "$1/32" ;; esac
}

# family_map MAP ADDR: the name of the pinned map MAP of ADDR's family (strict_ports or
# strict_ports6), and addr_bytes ADDR its bytes in network order as bpftool takes a key.
family_map() {
	case $2 in *:*) echo "${1}6" ;; *) echo "$1" ;; esac
}
addr_bytes() {
	python3 -c 'import ipaddress, sys; print(*ipaddress.ip_address(sys.argv[1]).packed)' "$1"
}

# fetch POD HOST:PORT [SECS]: one HTTP GET from inside POD; prints the body, curl's status.
fetch() { pod_exec "$1" curl -s --max-time "${3:-3}" "http://$2/"; }

# allowed POD HOST:PORT: the server answered (and said who it is).
allowed() {
	local out
	out=$(fetch "$1" "$2") || return 1
	case $out in pod=*) return 0 ;; *) return 1 ;; esac
}

# denied POD HOST:PORT: no answer at all (reset, or dropped until the timeout).
denied() {
	local out
	out=$(fetch "$1" "$2" 2) && return 1
	[ -z "$out" ]
}

# expect_allowed / expect_denied POD HOST:PORT WHY: waits (policy propagates within ~1 s) and
# fails with WHY when it does not settle that way.
expect_allowed() { wait_for 10 allowed "$1" "$2" || fail "$3: $1 -> $2 should be allowed"; }
expect_denied() { wait_for 10 denied "$1" "$2" || fail "$3: $1 -> $2 should be denied"; }

# policy NAME <<YAML: writes the manifest to $POLICY_DIR/NAME.yaml and applies it.
policy() {
	cat >"$POLICY_DIR/$1.yaml"
	actl apply -f "$POLICY_DIR/$1.yaml" >&2 || fail "apply $1 refused"
}

unpolicy() { actl delete -f "$POLICY_DIR/$1.yaml" >&2 || fail "delete $1 failed"; }

# drops NODE REASON: that node's kernel counter for a reason (ambitctl maps).
drops() {
	actl maps --node "$1" | awk -v r="$2" '$1 == r { print $2; found = 1 } END { if (!found) print 0 }'
}

# decisions NODE POLICY DECISION: ambit_policy_decisions_total of that node for that policy.
decisions() {
	metric_sum "$(node_metrics "$1")" ambit_policy_decisions_total "policy=\"$2\"" \
		"decision=\"$3\""
}
