#!/usr/bin/python3
"""Checks the links of the repository's documentation, from the root of a git checkout.

README.md, docs/*.md (docs/internals/*.md too) and examples/*/README.md, as git tracks them:
every relative link or image reaches a tracked file or directory (relative to the page, as GitHub
resolves it), and a `#anchor` names a heading of its target page by GitHub's rule (lower case,
punctuation but `-` and `_` dropped, spaces to `-`, `-1`, `-2` for repeats). README.md's
"Documentation" table links every page of docs/ and of its folders, so none is left where no
reader finds it. Prints each broken link as FILE:LINE and exits 1 if there is one.
"""
import os
import re
import subprocess
import sys

LINK = re.compile(r'!?\[(?:[^\]`]|`[^`]*`)*\]\(([^()\s]+)\)')
HEADING = re.compile(r'^(#{1,6})\s+(.*?)\s*#*\s*$')


def tracked():
    out = subprocess.run(['git', 'ls-files'], capture_output=True, text=True, check=True).stdout
    files = set(out.split('\n')) - {''}
    dirs = set()
    for f in files:
        d = os.path.dirname(f)
        while d:
            dirs.add(d)
            d = os.path.dirname(d)
    return files, dirs


def prose(path):
    """(line number, text) of the lines outside fenced code blocks."""
    fence = None
    with open(path, encoding='utf-8') as f:
        for n, line in enumerate(f, 1):
            m = re.match(r'^\s*(`{3,}|~{3,})', line)
            if m:
                if fence is None:
                    fence = m.group(1)[0] * len(m.group(1))
                elif m.group(1).startswith(fence):
                    fence = None
                continue
            if fence is None:
                yield n, line.rstrip('\n')


def slug(text):
    text = re.sub(r'\[([^\]]*)\]\([^)]*\)', r'\1', text)  # a link in a heading: its text
    text = re.sub(r'[^\w\- ]', '', text.lower())
    return text.replace(' ', '-')


def anchors(path, cache={}):
    if path not in cache:
        seen, found = {}, set()
        for _, line in prose(path):
            m = HEADING.match(line)
            if not m:
                continue
            s = slug(m.group(2))
            k = seen.get(s, 0)
            seen[s] = k + 1
            found.add(s if k == 0 else f'{s}-{k}')
        cache[path] = found
    return cache[path]


def main():
    files, dirs = tracked()
    pages = sorted(f for f in files
                   if f == 'README.md' or re.fullmatch(r'docs/.+\.md', f)
                   or re.fullmatch(r'examples/[^/]+/README\.md', f))
    bad = []
    for page in pages:
        for n, line in prose(page):
            for m in LINK.finditer(line):
                target = m.group(1)
                if re.match(r'^[a-z][a-z0-9+.-]*:', target):  # https:, mailto:
                    continue
                path, _, frag = target.partition('#')
                if path:
                    dest = os.path.normpath(os.path.join(os.path.dirname(page), path))
                    if dest not in files and dest not in dirs:
                        bad.append(f'{page}:{n}: {target}: no such file in the repository')
                        continue
                else:
                    dest = page
                if frag and dest.endswith('.md') and frag not in anchors(dest):
                    bad.append(f'{page}:{n}: {target}: no heading "#{frag}" in {dest}')
    # Every page of docs/ (docs/internals/ too) is linked from README.md's Documentation table.
    table, on = set(), False
    for _, line in prose('README.md'):
        if re.match(r'^## ', line):
            on = line.strip() == '## Documentation'
            continue
        if on:
            table.update(m.group(1).partition('#')[0] for m in LINK.finditer(line))
    for page in pages:
        if page.startswith('docs/') and page not in table:
            bad.append(f'README.md: the Documentation table does not link {page}')
    for b in bad:
        print(b)
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main())
