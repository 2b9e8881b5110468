#!/usr/bin/env bash
# The repository's documentation stands alone: the docs and the README point at no file outside
# the repository, and every NAME.md that a doc or a C source cites exists in it. README.md is the
# first screens (at most 250 lines) and a table linking every page of docs/; every relative link
# of README.md, docs/*.md and examples/*/README.md reaches a tracked file, and its #anchor a
# heading of that file (GitHub's anchors).
. "$(dirname "$0")/lib.sh"
cd "$REPO" || fail "cd $REPO"
command -v git >/dev/null 2>&1 && git rev-parse --is-inside-work-tree >/dev/null 2>&1 ||
	skip "needs a git checkout (the tracked files are what is checked)"

out=$(git grep -n -E '\.\./shared|/work/|issue #?[0-9]+' -- README.md 'docs/*.md' 'examples/*')
[ -z "$out" ] || fail "docs point outside the repository (or at an issue tracker):"$'\n'"$out"

# bench/results holds generated reports.
missing=
for name in $(git grep -h -o -E '\b[A-Z][A-Z_]*\.md\b' -- '*.md' '*.c' '*.h' ':!bench/results' | sort -u); do
	[ -n "$(git ls-files -- "$name" "*/$name")" ] || missing="$missing $name"
done
[ -z "$missing" ] || fail "cited but not in the repository:$missing"

need_cmd /usr/bin/python3
n=$(grep -c '' README.md)
[ "$n" -le 250 ] || fail "README.md has $n lines: the first screens and the docs table only (250 at most)"
out=$(/usr/bin/python3 tools/doc-links.py 2>&1) || fail "$out"
pass
