#!/usr/bin/env bash
# Runs libFuzzer targets for FUZZ_SECONDS each, one after the other, from their committed seeds
# (tests/fuzz/corpus/<target>/, never written to) and a working corpus in OUTDIR/corpus/<target>/
# (emptied first when FUZZ_FRESH=1, as `make test` does; kept and grown by `make fuzz`).
# Usage: tests/fuzz/run.sh OUTDIR TARGET...
# Prints one line per target with libFuzzer's final figures (runs, cov, ft, corpus), fails when
# a target crashes, leaks, times out on an input, exceeds its memory limit or has no seeds; the
# input that did it is kept in OUTDIR/artifacts/<target>/. A target that exits 77 (it needs root
# or a kernel feature, e.g. fuzz_bpf) is a skip, which fails where nothing may be missing
# (tests/lib/skip-policy.sh).
set -u
cd "$(dirname "$0")/../.."
. tests/lib/skip-policy.sh
out=$1
shift
secs=${FUZZ_SECONDS:-15}
strict=0
skip_is_failure && strict=1
pass=0 fail=0 skip=0

# "key value" pairs from libFuzzer's last status line and final stats in log $1.
figures() {
	awk '
	/(DONE|pulse|NEW|REDUCE|INITED) +cov: / {
		for (i = 1; i < NF; i++) {
			if ($i == "cov:") cov = $(i + 1)
			if ($i == "ft:") ft = $(i + 1)
			if ($i == "corp:") corp = $(i + 1)
		}
	}
	/^stat::number_of_executed_units:/ { runs = $2 }
	END { printf "runs %s cov %s ft %s corpus %s\n", runs, cov, ft, corp }' "$1"
}

for t in "$@"; do
	seeds=tests/fuzz/corpus/$t
	work=$out/corpus/$t
	art=$out/artifacts/$t
	log=$out/logs/$t.log
	if [ -z "$(ls -A "$seeds" 2>/dev/null)" ]; then
		echo "FAIL $t: no seed corpus in $seeds"
		fail=$((fail + 1))
		continue
	fi
	[ "${FUZZ_FRESH:-0}" = 1 ] && rm -rf "$work"
	mkdir -p "$work" "$art" "$(dirname "$log")"
	# -timeout: one input running 10 s is a stall; the outer timeout catches a hung target.
	# libFuzzer's own failures exit 1 (its default, 77, is the skip code here).
	# A private TMPDIR: a target that crashes leaves its scratch files there, removed below.
	rm -rf "$out/tmp/$t"
	mkdir -p "$out/tmp/$t"
	TMPDIR=$(realpath "$out/tmp/$t") timeout $((secs + 120)) "$out/$t" -max_total_time="$secs" -print_final_stats=1 \
		-error_exitcode=1 -timeout_exitcode=1 -timeout=10 -rss_limit_mb=2048 -max_len=65536 -artifact_prefix="$art/" \
		"$work" "$seeds" >"$log" 2>&1
	rc=$?
	rm -rf "$out/tmp/$t"
	nseeds=$(ls "$seeds" | wc -l)
	if [ $rc -eq 0 ]; then
		pass=$((pass + 1))
		echo "PASS $t: $(figures "$log") (seeds $nseeds, ${secs}s)"
	elif [ $rc -eq 77 ]; then
		reason=$(tail -1 "$log")
		if [ $strict = 1 ]; then
			fail=$((fail + 1))
			echo "FAIL $t: skipped ($reason), but nothing may be missing here ($SKIP_POLICY_WHY)"
		else
			skip=$((skip + 1))
			echo "SKIP $t: $reason"
		fi
	else
		fail=$((fail + 1))
		echo "FAIL $t (exit $rc): $(figures "$log"); log $log, input in $art/"
		grep -E "^(==[0-9]+==ERROR|SUMMARY|Test unit written)|^ +#[0-9] " "$log" | head -20
	fi
done
echo "fuzz: $pass passed, $fail failed, $skip skipped"
[ $fail -eq 0 ]
