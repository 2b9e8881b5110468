#!/usr/bin/env bash
# Builds the libFuzzer targets into build/fuzz/ (clang -fsanitize=fuzzer,address,undefined).
# Usage: tests/fuzz/build.sh [OUTDIR]; run e.g. build/fuzz/fuzz_hbone -max_total_time=60
# tests/fuzz/corpus/<target>/ when present.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-build/fuzz}
mkdir -p "$out"
CC=${CLANG:-clang}
flags=(-g -O1 -std=gnu11 -D_GNU_SOURCE -Iinclude -Iuserspace/lib -fsanitize=fuzzer,address,undefined
	-fno-omit-frame-pointer)
libs=(-lssl -lcrypto -lnghttp2 -lcjson -lpcre2-8 -lxxhash -lpthread)
# Library sources each target needs, built with the same sanitizers (not libambit.a: it is not
# instrumented and pulls in libbpf).
# The snapshot carries the policy set (policy_json.c), whose compiler needs the config model.
"$CC" "${flags[@]}" tests/fuzz/fuzz_snapshot.c userspace/lib/snapshot.c userspace/lib/policy*.c userspace/lib/l7_*.c \
	userspace/lib/config*.c userspace/lib/re2.c userspace/lib/fileutil.c userspace/lib/log.c "${libs[@]}" -lyaml -lbpf -o "$out/fuzz_snapshot"
"$CC" "${flags[@]}" tests/fuzz/fuzz_hbone.c ztunnel/hbone.c ztunnel/hbone_pool.c ztunnel/loop.c ztunnel/tls.c \
	ztunnel/metrics.c userspace/lib/log.c "${libs[@]}" -lbpf -o "$out/fuzz_hbone"
"$CC" "${flags[@]}" tests/fuzz/fuzz_config.c userspace/lib/config*.c userspace/lib/re2.c userspace/lib/fileutil.c \
	userspace/lib/log.c "${libs[@]}" -lyaml -lbpf -o "$out/fuzz_config"
"$CC" "${flags[@]}" tests/fuzz/fuzz_forwarded.c ztunnel/sock.c userspace/lib/log.c -lbpf -o "$out/fuzz_forwarded"
"$CC" "${flags[@]}" tests/fuzz/fuzz_l7.c userspace/lib/l7_*.c userspace/lib/re2.c userspace/lib/config*.c \
	userspace/lib/fileutil.c userspace/lib/log.c "${libs[@]}" -lyaml -lbpf -o "$out/fuzz_l7"
echo "built: $out/fuzz_snapshot $out/fuzz_hbone $out/fuzz_config $out/fuzz_forwarded $out/fuzz_l7"
