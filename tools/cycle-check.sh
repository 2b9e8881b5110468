#!/usr/bin/env bash
# Fails when the modules of a proxy call each other in a circle (DESIGN.md §9: the runtime in
# userspace/net, each proxy's decisions in its own directory, dependencies one way). A module is
# a source file, or the files sharing a prefix before "_" (hbone.c, hbone_pool.c, ...: one
# module with a private header). Reads the symbols of the objects `make all` built.
set -u
cd "$(dirname "$0")/.."
obj=${1:-build/obj}
python3 - "$obj" <<'PY'
import os, subprocess, sys

obj = sys.argv[1]
bad = 0
for d in ("userspace/net", "ztunnel", "waypoint"):
    srcs = sorted(f[:-2] for f in os.listdir(d) if f.endswith(".c"))
    defs, und = {}, {}
    for f in srcs:
        o = os.path.join(obj, d, f + ".o")
        if not os.path.exists(o):
            print(f"cycle-check: {o} is not built (run make all)")
            sys.exit(1)
        mod = f.split("_")[0]
        for line in subprocess.run(["nm", o], capture_output=True, text=True,
                                   check=True).stdout.splitlines():
            p = line.split()
            if len(p) == 3 and p[1] in "TDBR":
                defs.setdefault(mod, set()).add(p[2])
            elif len(p) == 2 and p[0] == "U":
                und.setdefault(mod, set()).add(p[1])
    mods = sorted(set(f.split("_")[0] for f in srcs))
    g = {a: {b for b in mods if b != a and und.get(a, set()) & defs.get(b, set())}
         for a in mods}
    # Strongly connected components (Tarjan): any with more than one module is a circle.
    index, low, stack, on, sccs = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in g[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            c = []
            while True:
                w = stack.pop()
                on.discard(w)
                c.append(w)
                if w == v:
                    break
            sccs.append(c)

    for v in mods:
        if v not in index:
            visit(v)
    for c in sccs:
        if len(c) > 1:
            edges = [f"{a}->{b}" for a in sorted(c) for b in sorted(g[a]) if b in c]
            print(f"cycle-check: {d}: modules call each other in a circle: {', '.join(edges)}")
            bad += 1
if not bad:
    print("cycle-check: userspace/net, ztunnel and waypoint modules depend one way")
sys.exit(1 if bad else 0)
PY
