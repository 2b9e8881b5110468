#!/usr/bin/env bash
# The agent<->proxy contract's codec at 10,000 pods: the snapshot a node's ztunnel receives,
# encoded and decoded as JSON (userspace/wire/snapshot.c, as it ships) and as a protobuf mirror of
# the same model (tools/bench/wire/snapshot.proto, protoc-c): sizes (raw and gzip), encode (cold,
# and with the agent's memo warm), decode into struct snapshot, peak memory of one decode, and
# where the JSON's bytes go. Three passes pinned to CPU 1; the figures behind keeping JSON
# (docs/performance.md). Writes build/bench/wire/wire.md.
set -eu
cd "$(dirname "$0")/../.."
make -s build/bench-wire
out=build/bench/wire
mkdir -p "$out"
cd "$out"
{
	echo "# The contract's codec at 10,000 pods ($(date -u +%F), $(git -C ../../.. rev-parse --short HEAD))"
	echo
	echo '```'
	for i in 1 2 3; do
		echo "=== pass $i (load: $(cut -d' ' -f1-3 /proc/loadavg))"
		taskset -c 1 ../../bench-wire 25
	done
	for f in snap.json snap.pb; do
		echo "$f: $(stat -c %s $f) bytes, gzip -1: $(gzip -1 -c $f | wc -c)," \
			"gzip -6: $(gzip -6 -c $f | wc -c)"
	done
	for i in 1 2 3; do
		taskset -c 1 ../../bench-wire rss-json snap.json
		taskset -c 1 ../../bench-wire rss-pb snap.pb
	done
	python3 ../../../tools/bench/wire/analyze.py snap.json
	echo '```'
} | tee wire.md
