#!/usr/bin/env bash
# The repository's documentation stands alone: the docs and the README point at no file outside
# the repository, and every NAME.md that a doc or a C source cites exists in it.
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
pass
