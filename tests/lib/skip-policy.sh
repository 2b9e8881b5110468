# Sourced by the test runners (tests/run-unit.sh, tests/integration/run.sh, tests/fuzz/run.sh):
# may a test be skipped here? A skip means something the test needs is missing. As root on a
# supported kernel (README: Linux >= 6.1 with BTF) nothing may be missing, so a skip there is a
# test that silently stopped testing, and the runners count it as a failure.
# AMBIT_SKIP_POLICY=strict|lenient forces the answer (the runners' self-test uses it; a root
# developer on a machine missing a tool may use lenient); unset or "auto" decides as above.

# Succeeds when a skip must fail; says why in SKIP_POLICY_WHY either way.
skip_is_failure() {
	local v major minor
	case ${AMBIT_SKIP_POLICY:-auto} in
	strict) SKIP_POLICY_WHY="AMBIT_SKIP_POLICY=strict"; return 0 ;;
	lenient) SKIP_POLICY_WHY="AMBIT_SKIP_POLICY=lenient"; return 1 ;;
	auto) ;;
	*) echo "skip-policy: AMBIT_SKIP_POLICY=$AMBIT_SKIP_POLICY: want strict, lenient or auto" >&2
	   SKIP_POLICY_WHY="bad AMBIT_SKIP_POLICY"; return 0 ;;
	esac
	if [ "$(id -u)" -ne 0 ]; then
		SKIP_POLICY_WHY="not root"
		return 1
	fi
	v=$(uname -r)
	major=${v%%.*}
	minor=${v#*.}
	minor=${minor%%[!0-9]*}
	if [ "$major" -lt 6 ] || { [ "$major" -eq 6 ] && [ "${minor:-0}" -lt 1 ]; }; then
		SKIP_POLICY_WHY="kernel $v is older than the supported 6.1"
		return 1
	fi
	if [ ! -r /sys/kernel/btf/vmlinux ]; then
		SKIP_POLICY_WHY="kernel $v has no BTF (/sys/kernel/btf/vmlinux)"
		return 1
	fi
	SKIP_POLICY_WHY="root on a supported kernel (Linux $v with BTF)"
	return 0
}
