#!/usr/bin/env bash
# Fails when the code's rooms stop using each other one way (DESIGN.md §9, docs/INTERNALS.md
# "Layout"). Reads the symbols of the objects `make all` built: file A uses file B when A calls
# or reads something B defines; and the #include lines of every source and header: folder A
# uses folder B when a file of A includes a header of B. Six rules:
#  1. No circle of files that use each other spans two folders (userspace/*, ztunnel, waypoint).
#  2. The folders themselves use each other one way (no circle of folders), by symbols and by
#     includes alike: a header-only edge up fails as a call up does.
#  3. Within the proxies' runtime and each proxy (userspace/{net,tls,http,hbone}, ztunnel,
#     waypoint) the modules depend one way too. A module is a source file, or the files sharing
#     a prefix before "_" (hbone.c, hbone_pool.c, ...: one module with a private header).
#  4. No folder of userspace/ holds more than FOLDER_MAX_LINES lines or FOLDER_MAX_FILES files.
#  5. Folders are namespaces: another folder's header is included by its folder's name
#     ("net/buf.h"), never by a bare name, nor by a path climbing out but into ztunnel/ or
#     waypoint/; a private header (NAME_priv.h) only from its own folder. A binary's tree is one
#     folder with its subfolders as namespaces: waypoint/main.c names "engine/worker.h", the
#     engine the decisions beside it as "../route.h".
#  6. One definition a name: no global symbol but main is defined by two files (two binaries'
#     own agent_get, with two signatures, were one name for two things).
# --graph: prints the folder graph as well (floors, each folder's uses by symbols and by
# includes alone, edges, edges up and circles), the figure the layout is judged by.
set -u
cd "$(dirname "$0")/.."
graph=0
[ "${1:-}" = --graph ] && { graph=1; shift; }
obj=${1:-build/obj}
GRAPH=$graph python3 - "$obj" <<'PY'
import os, re, subprocess, sys
from collections import defaultdict

obj = sys.argv[1]
FOLDER_MAX_LINES, FOLDER_MAX_FILES = 12500, 30
MODULE_DIRS = ("userspace/net", "userspace/tls", "userspace/http", "userspace/hbone", "ztunnel",
               "waypoint")
# A name two binaries each define for themselves (today only main) resolves within the binary
# the user is linked into.
BINARY = {"userspace/agent": "agent", "userspace/control": "agent", "userspace/cli": "ctl",
          "userspace/local": "ctl", "userspace/kubelet": "ctl", "userspace/dashboard": "ctl",
          "userspace/istioctl": "ctl"}
# A binary's own tree (ztunnel/, waypoint/ and their subfolders, e.g. waypoint/engine/) is one
# folder to rules 1-3: its subfolders are namespaces within it (rule 5), its modules one way.
TREES = ("ztunnel", "waypoint")
dirs = sorted("userspace/" + d for d in os.listdir("userspace")
              if os.path.isdir("userspace/" + d))
dirs += sorted(r for t in TREES for r, _, _ in os.walk(t))


def folder(path):
    top = path.split("/")[0]
    return top if top in TREES else os.path.dirname(path)


folders = sorted({folder(os.path.join(d, "x")) for d in dirs})

defs, und, files, src_of = defaultdict(list), {}, [], {}
for d in dirs:
    for f in sorted(os.listdir(d)):
        if not f.endswith(".c"):
            continue
        src, o = os.path.join(d, f), os.path.join(obj, d, f[:-2] + ".o")
        if not os.path.exists(o):
            print(f"cycle-check: {o} is not built (run make all)")
            sys.exit(1)
        files.append(src)
        src_of[o] = src
# One nm for every object (-A: each line names its file): one per object took 30 s here.
for line in subprocess.run(["nm", "-A", *src_of], capture_output=True, text=True,
                           check=True).stdout.splitlines():
    o, _, rest = line.partition(":")
    src, p = src_of[o], rest.split()
    if len(p) == 3 and p[1] in "TDBR":
        defs[p[2]].append(src)
    elif len(p) == 2 and p[0] == "U":
        und.setdefault(src, set()).add(p[1])


def definer(user, cands):
    if len(cands) == 1:
        return cands[0]
    d = os.path.dirname(user)
    for pick in (lambda c: os.path.dirname(c) == d,
                 lambda c: BINARY.get(os.path.dirname(c)) == BINARY.get(d, "-"),
                 lambda c: os.path.dirname(c) not in BINARY):
        hit = [c for c in cands if pick(c)]
        if hit:
            return hit[0]
    return cands[0]


uses = {a: {definer(a, defs[s]) for s in und.get(a, ()) if s in defs} - {a} for a in files}


def sccs(nodes, g):
    """Tarjan's strongly connected components, iteratively (no recursion limit)."""
    index, low, on, stack, out, n = {}, {}, set(), [], [], 0
    for root in nodes:
        if root in index:
            continue
        work = [(root, iter(sorted(g[root])))]
        index[root] = low[root] = n
        n += 1
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = n
                    n += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(g[w]))))
                elif w in on:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                c = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    c.append(w)
                    if w == v:
                        break
                out.append(sorted(c))
    return [c for c in out if len(c) > 1]


bad = 0
# 6. One definition a name.
for s, where in sorted(defs.items()):
    if len(where) > 1 and s != "main":
        print(f"cycle-check: {s} is defined by {', '.join(where)}: one name, one definition")
        bad += 1

# 1. Circles of files within one folder only.
for c in sccs(files, uses):
    spans = sorted({folder(f) for f in c})
    if len(spans) > 1:
        edges = [f"{a}->{b}" for a in c for b in sorted(uses[a]) if b in c and
                 folder(a) != folder(b)]
        print(f"cycle-check: files of {', '.join(spans)} use each other in a circle; "
              f"across folders: {', '.join(edges)}")
        bad += 1

# 5. Includes: each names its folder; private headers stay home. Their edges join rule 2's.
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
GENERATED = (".skel.h", ".pb-c.h")  # made into build/ by the build
inc_edges = []
for d in dirs:
    for f in sorted(os.listdir(d)):
        if not f.endswith((".c", ".h")):
            continue
        src = os.path.join(d, f)
        for name in INCLUDE.findall(open(src, errors="replace").read()):
            if name.endswith(GENERATED):
                continue
            if name.startswith("../"):
                # The binaries' folders, outside userspace/, by their path (ambitctl's check
                # runs the waypoint's decision modules).
                hdr = os.path.normpath(os.path.join(d, name))
                if hdr.split("/")[0] in TREES and os.path.exists(hdr):
                    if name.endswith("_priv.h") and os.path.dirname(hdr) != d:
                        print(f"cycle-check: {src}: #include \"{name}\": a private header of "
                              f"{os.path.dirname(hdr)}")
                        bad += 1
                    inc_edges.append((src, hdr))
                else:
                    print(f"cycle-check: {src}: #include \"{name}\": a path climbing out "
                          f"reaches only ztunnel/ or waypoint/")
                    bad += 1
                continue
            if "/" not in name:
                if not os.path.exists(os.path.join(d, name)):
                    print(f"cycle-check: {src}: #include \"{name}\": no header of {d} has "
                          f"that name; name another folder's with its folder")
                    bad += 1
                continue
            if name.startswith("ambit/"):
                continue  # include/ambit: the contracts
            if folder(src) in TREES and os.path.exists(os.path.join(d, name)):
                # A subfolder of the binary's own tree ("engine/worker.h" in waypoint/).
                if name.endswith("_priv.h"):
                    print(f"cycle-check: {src}: #include \"{name}\": a private header of "
                          f"{os.path.dirname(os.path.join(d, name))}")
                    bad += 1
                inc_edges.append((src, os.path.join(d, name)))
                continue
            hdr = os.path.join("userspace", name)
            if not os.path.exists(hdr):
                print(f"cycle-check: {src}: #include \"{name}\": not a header of a folder of "
                      f"userspace/ named by its folder")
                bad += 1
                continue
            hd = os.path.dirname(hdr)
            if hd == d:
                print(f"cycle-check: {src}: #include \"{name}\": a header of its own folder: "
                      f"name it alone (\"{os.path.basename(name)}\")")
                bad += 1
            elif name.endswith("_priv.h"):
                print(f"cycle-check: {src}: #include \"{name}\": a private header of {hd}")
                bad += 1
            else:
                inc_edges.append((src, hdr))

# 2. Folders one way.
fuses, why = defaultdict(set), {}
for a in files:
    for b in uses[a]:
        da, db = folder(a), folder(b)
        if da != db:
            fuses[da].add(db)
            why.setdefault((da, db), f"{a}->{b}")
for a, h in inc_edges:
    da, dh = folder(a), folder(h)
    if da == dh:
        continue
    fuses[da].add(dh)
    why.setdefault((da, dh), f"{a} includes {h}")
circles = sccs(folders, {d: fuses[d] for d in folders})
for c in circles:
    edges = [why[(a, b)] for a in c for b in sorted(fuses[a]) if b in c]
    print(f"cycle-check: folders {', '.join(c)} use each other in a circle: {', '.join(edges)}")
    bad += 1
if os.environ.get("GRAPH") == "1":
    # A folder's floor: 0 when it uses no folder, else one above the highest it uses. An edge
    # up reaches a folder on its own floor or above: only a circle has one.
    by_sym = defaultdict(set)
    for a in files:
        for b in uses[a]:
            if folder(a) != folder(b):
                by_sym[folder(a)].add(folder(b))
    floor, inside = {}, {d for c in circles for d in c}

    def floor_of(d, seen=()):
        if d not in floor:
            below = [floor_of(u, seen + (d,)) for u in fuses[d] if u not in seen + (d,)]
            floor[d] = 1 + max(below) if below else 0
        return floor[d]

    for d in folders:
        floor_of(d)
    n_edges = sum(len(fuses[d]) for d in folders)
    n_inc = sum(len(fuses[d] - by_sym[d]) for d in folders)
    n_up = sum(1 for d in folders for u in fuses[d] if floor[u] >= floor[d])
    name = lambda d: d.replace("userspace/", "")
    print(f"cycle-check --graph: {len(folders)} folders, {n_edges} edges ({n_inc} by includes "
          f"alone), {n_up} up, {len(circles)} circles")
    for d in sorted(folders, key=lambda d: (floor[d], d)):
        inc = sorted(name(u) for u in fuses[d] - by_sym[d])
        print(f"  floor {floor[d]:2} {name(d):10} uses {', '.join(sorted(name(u) for u in by_sym[d])) or '-'}"
              + (f"; by includes alone {', '.join(inc)}" if inc else "")
              + (" (in a circle)" if d in inside else ""))

# 3. Modules one way in the runtime and the proxies.
for d in MODULE_DIRS:
    mod = lambda f: os.path.basename(f)[:-2].split("_")[0]
    here = [f for f in files if folder(f) == d]
    mods = sorted({mod(f) for f in here})
    g = {m: set() for m in mods}
    for f in here:
        g[mod(f)] |= {mod(b) for b in uses[f] if folder(b) == d and mod(b) != mod(f)}
    for c in sccs(mods, g):
        edges = [f"{a}->{b}" for a in c for b in sorted(g[a]) if b in c]
        print(f"cycle-check: {d}: modules call each other in a circle: {', '.join(edges)}")
        bad += 1

# 4. Rooms a newcomer can read.
for d in dirs:
    if not d.startswith("userspace/"):
        continue
    names = [f for f in os.listdir(d) if os.path.isfile(os.path.join(d, f))]
    lines = sum(sum(1 for _ in open(os.path.join(d, f), errors="replace")) for f in names)
    if len(names) > FOLDER_MAX_FILES or lines > FOLDER_MAX_LINES:
        print(f"cycle-check: {d} holds {len(names)} files and {lines} lines (at most "
              f"{FOLDER_MAX_FILES} and {FOLDER_MAX_LINES}): split it by concern")
        bad += 1

if not bad:
    print(f"cycle-check: {len(files)} files in {len(folders)} folders ({len(dirs)} with the "
          f"binaries' subfolders) use each other one way, "
          f"by symbols and {len(inc_edges)} includes named by folder; no folder over "
          f"{FOLDER_MAX_FILES} files or {FOLDER_MAX_LINES} lines")
sys.exit(1 if bad else 0)
PY
