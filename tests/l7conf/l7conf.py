#!/usr/bin/env python3
"""The L7 engine's conformance suite: raw bytes from clients, through a router, to a backend
that records exactly what it receives (tests/l7conf/cases.py holds the cases).

For every case it observes what a client cares about and a reviewer checks:
  status    the statuses each client received, in order, 1xx included ("400", "100,200")
  backend   how many requests the backend saw (a refused request must reach nobody)
  client    whether the router closed the client's connection or kept it reusable
            (proved by a second request on it)
  upstream  whether the upstream connection went back to the pool (the next client's request
            rides it) or was closed
plus the case's own checks (a header as the backend saw it, a body, a log line).

  l7conf.py [--router waypoint] [CASE ...]      assert every case (make test: the waypoint)
  l7conf.py --waypoint OLD/build/waypoint        the same cases against another build
  l7conf.py --router haproxy --observe --json F  record what a router does (tools/l7-diff.sh)

Each case gets a fresh router and backend: the pool holds nothing from the case before.
"""

import argparse
import json
import os
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import cases as corpus  # noqa: E402
import harness  # noqa: E402
from harness import Client  # noqa: E402

PROBE = b"GET /probe HTTP/1.1\r\nHost: web\r\n\r\n"


class Ctx:
    """What a case's steps and checks see."""

    def __init__(self, router, backend, observe):
        self.router = router
        self.backend = backend
        self.observe = observe
        self.clients = []
        self.failures = []

    def client(self):
        c = Client(self.router.port)
        self.clients.append(c)
        return c

    def h2(self):
        c = harness.H2Client(self.router.port)
        self.clients.append(c.c)
        return c

    def req(self, i):
        """The backend's @i-th request (or an empty message when it never came)."""
        _, reqs = self.backend.snapshot()
        return reqs[i] if i < len(reqs) else harness.h1wire.Message()

    def check(self, label, ok):
        if not ok:
            self.failures.append(label)
        return ok


def statuses(msgs):
    out = []
    for m in msgs:
        out.append(m[0] if isinstance(m, tuple) else str(m.status))
    return ",".join(out) or "none"


def client_state(ctx, c, want):
    """closed / reset / open, by a probe request on the same connection when it may be open."""
    if want in ("closed", "reset") or ctx.observe:
        st = c.wait_close(harness.DEADLINE if not ctx.observe else 1.0)
        if st != "open":
            return st
    if not c.send(PROBE):
        return "reset"
    got = c.recv(1)
    if got and not isinstance(got[0], tuple):
        return "open"
    st = c.wait_close(1.0)
    return "stuck" if st == "open" else st


def upstream_state(ctx, conns_before, conns_after, want):
    """reused / closed / stays: does the next client's request ride the case's connection?
    The case's connections are those opened while its own steps ran (not by our probes)."""
    conns, reqs = ctx.backend.snapshot()
    case_conns = [c for c in conns if conns_before <= c.id < conns_after]
    if not case_conns:
        return "-"
    if want == "closed" or ctx.observe:
        for c in case_conns:
            c.eof.wait(harness.DEADLINE if not ctx.observe else 1.0)
    n = len(reqs)
    p = Client(ctx.router.port)
    p.send(PROBE)
    got = p.recv(1)
    p.close()
    if not ctx.backend.wait_requests(n + 1, 5.0) or not got:
        return "no-probe"
    _, reqs = ctx.backend.snapshot()
    probe = reqs[n]
    rode = [c for c in case_conns if c.id == probe.conn]
    if rode:
        # A connection the case never wrote on is as good as new: reusing it is fine.
        return "reused" if rode[0].raw[:len(rode[0].raw) - len(probe.raw)] else "unused"
    return "closed" if all(c.eof.is_set() for c in case_conns) else "stays"


def run_case(router, case, observe):
    # A backend behaviour marked h2 is served by the HTTP/2 backend.
    backend = (harness.H2Backend if getattr(case.backend, "h2", False)
               else harness.Backend)(case.backend)
    ctx = Ctx(router, backend, observe)
    obs = {}
    try:
        router.start(backend.port, case.opts)
        conns_before = len(backend.conns)
        if case.steps:
            out = case.steps(ctx)
            obs.update(out or {})
            obs.setdefault("backend", len(backend.snapshot()[1]))
            conns_after = len(backend.snapshot()[0])
        else:
            c = ctx.client()
            for i, piece in enumerate(case.send):
                if i:
                    time.sleep(0.05)  # separate reads, not a timing check
                c.send(piece)
            got = c.recv(case.responses, head=case.head)
            obs["status"] = statuses(got)
            ctx.responses = got
            # What reached the backend for the case itself, before any probe of ours.
            obs["backend"] = len(backend.snapshot()[1])
            conns_after = len(backend.snapshot()[0])
            obs["client"] = client_state(ctx, c, case.expect.get("client"))
        errors = [c.error for c in backend.snapshot()[0] if c.error]
        if errors:
            obs["backend_error"] = errors[0]
        if "upstream" in case.expect or observe:
            obs["upstream"] = upstream_state(ctx, conns_before, conns_after,
                                             case.expect.get("upstream"))
        if case.check:
            case.check(ctx)
        obs["checks"] = ctx.failures
    except Exception:  # noqa: BLE001 - a harness error fails the case, with its trace
        obs["error"] = traceback.format_exc()
    finally:
        for c in ctx.clients:
            c.close()
        router.stop()
        backend.stop()
    return obs


def verdict(case, obs):
    """The differences between what the case expects and what was observed."""
    bad = []
    if "error" in obs:
        return [obs["error"]]
    for k, want in case.expect.items():
        got = obs.get(k)
        if isinstance(want, (list, tuple, set)):
            if got not in want:
                bad.append(f"{k}: got {got!r}, want one of {sorted(want)!r}")
        elif got != want:
            bad.append(f"{k}: got {got!r}, want {want!r}")
    if obs.get("backend_error"):
        bad.append(f"the backend could not read what it was sent: {obs['backend_error']}")
    bad += [f"check failed: {c}" for c in obs.get("checks", [])]
    return bad


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--router", default="waypoint", choices=sorted(harness.ROUTERS))
    ap.add_argument("--observe", action="store_true", help="record, do not assert")
    ap.add_argument("--json", help="write the observations here")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--waypoint", help="the waypoint binary (default: build/waypoint)")
    ap.add_argument("--ambitctl", help="the ambitctl that compiles its config (build/ambitctl)")
    ap.add_argument("cases", nargs="*")
    a = ap.parse_args()
    todo = [c for c in corpus.CASES if not a.cases or c.name in a.cases]
    if a.list:
        for c in todo:
            print(f"{c.name}: {c.title}")
        return 0
    if a.cases and len(todo) != len(a.cases):
        print(f"unknown case(s): {set(a.cases) - {c.name for c in todo}}", file=sys.stderr)
        return 2
    tmp = harness.make_tmp()
    if a.router == "waypoint":
        router = harness.Waypoint(tmp, binary=a.waypoint, ambitctl=a.ambitctl)
    else:
        router = harness.ROUTERS[a.router](tmp)
    results, failed = {}, []
    try:
        for case in todo:
            if a.observe and case.waypoint_only and a.router != "waypoint":
                continue
            obs = run_case(router, case, a.observe)
            results[case.name] = obs
            if a.observe:
                print(f"[l7conf] {case.name}: {json.dumps(obs, sort_keys=True)}", flush=True)
                continue
            bad = verdict(case, obs)
            if bad:
                failed.append(case.name)
                print(f"FAIL {case.name}: {case.title}", flush=True)
                for b in bad:
                    print(f"     {b}", flush=True)
                if getattr(router, "access_log", None):
                    tail = router.access_log().strip().splitlines()[-3:]
                    for line in tail:
                        print(f"     access log: {line}", flush=True)
            else:
                print(f"ok   {case.name}", flush=True)
    finally:
        router.stop()
        harness.rm_tmp(tmp)
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"router": a.router, "cases": results}, f, indent=1, sort_keys=True)
    if a.observe:
        return 0
    print(f"[l7conf] {len(todo) - len(failed)} of {len(todo)} cases pass"
          + (f"; failing: {' '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
