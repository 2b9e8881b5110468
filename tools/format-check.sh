#!/usr/bin/env bash
# Fails when a tracked C file differs from what .clang-format asks (make format fixes it).
# One clang-format over every file (--dry-run names each place that differs), then a diff of
# each file it named: a process per file took 85 s of make test here, this takes 4.
set -u
cd "$(dirname "$0")/.."
command -v clang-format >/dev/null || { echo "format-check: clang-format is missing (make deps)"; exit 1; }
mapfile -t files < <(git ls-files '*.c' '*.h' | while read -r f; do [ -f "$f" ] && echo "$f"; done)
mapfile -t bad < <(printf '%s\0' "${files[@]}" |
	xargs -0 clang-format --style=file --dry-run 2>&1 |
	sed -n 's/^\([^:]*\):[0-9]*:[0-9]*: \(warning\|error\): code should be clang-formatted.*/\1/p' | sort -u)
for f in "${bad[@]}"; do
	echo "format-check: $f differs from .clang-format (run make format):"
	clang-format --style=file "$f" | diff -u "$f" - | head -20
done
[ ${#bad[@]} -eq 0 ] && echo "format-check: ${#files[@]} files follow .clang-format"
[ ${#bad[@]} -eq 0 ]
