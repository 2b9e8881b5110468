#!/usr/bin/env bash
# Builds every tests/fuzz/fuzz_*.c into build/fuzz/<name> with libFuzzer, ASan and UBSan.
# Run one with e.g. `build/fuzz/fuzz_config -max_total_time=60 CORPUS_DIR`.
set -euo pipefail
cd "$(dirname "$0")/../.."

CLANG=${CLANG:-clang}
OUT=${OUT:-build/fuzz}
CFLAGS="-g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined -std=gnu11 \
	-D_GNU_SOURCE -Iinclude -Iuserspace/lib -I build"
LDLIBS="-lbpf -lelf -lz -lssl -lcrypto -lnghttp2 -lyaml -lcjson -lmicrohttpd -lpthread"

# The library sources each fuzzer links (a glob); one line per fuzzer, whole library if absent.
declare -A SRCS=(
	[fuzz_config]="userspace/lib/config*.c"
)

mkdir -p "$OUT"
for f in tests/fuzz/fuzz_*.c; do
	name=$(basename "$f" .c)
	srcs=${SRCS[$name]:-userspace/lib/*.c}
	echo "  FUZZ    $OUT/$name"
	# shellcheck disable=SC2086 # $srcs is a glob, $CFLAGS/$LDLIBS are word lists
	$CLANG $CFLAGS "$f" $srcs $LDLIBS -o "$OUT/$name"
done
