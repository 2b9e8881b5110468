#!/usr/bin/env bash
# Fails when a tracked C file differs from what .clang-format asks (make format fixes it).
set -u
cd "$(dirname "$0")/.."
command -v clang-format >/dev/null || { echo "format-check: clang-format is missing (make deps)"; exit 1; }
bad=0
for f in $(git ls-files '*.c' '*.h'); do
	[ -f "$f" ] || continue
	if ! clang-format --style=file "$f" | cmp -s "$f" -; then
		echo "format-check: $f differs from .clang-format (run make format):"
		clang-format --style=file "$f" | diff -u "$f" - | head -20
		bad=$((bad + 1))
	fi
done
[ $bad -eq 0 ] && echo "format-check: $(git ls-files '*.c' '*.h' | wc -l) files follow .clang-format"
[ $bad -eq 0 ]
