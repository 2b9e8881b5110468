#!/usr/bin/env python3
"""Evaluates every PromQL expression of Grafana dashboards against a live Prometheus.

usage: dashboards_eval.py PROMETHEUS_URL EXEMPT_TSV DASHBOARD.json...

Each dashboard's template variables are given the values Grafana would offer: a `custom`
variable each of its options (and all of them, when multi), a `query` variable the values its
own query_result() query finds on this Prometheus (extracted with the variable's regex), or
"All" when it has includeAll. Every combination is tried, as a user picking from the
drop-downs would. An expression passes when it parses under every combination and returns at
least one series under one of them ($__rate_interval is 1m, $__interval 15s). One that matches a
line of EXEMPT_TSV (a Python regex, a tab, the reason) is reported with that reason instead and
not required to return series; an exemption that no expression needs is an error too, so the
list stays true. Prints one line per expression and a summary; exits 1 on any failure.
"""
import itertools
import json
import re
import sys
import urllib.parse
import urllib.request

PROM = sys.argv[1].rstrip("/")
RATE_INTERVAL = "1m"


def query(expr):
    data = urllib.parse.urlencode({"query": expr}).encode()
    req = urllib.request.Request(PROM + "/api/v1/query", data=data)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            body = json.load(r)
    except urllib.error.HTTPError as e:
        body = json.load(e)
    if body.get("status") != "success":
        return None, body.get("error", "query failed")
    return body["data"]["result"], None


def exprs_of(node, out):
    if isinstance(node, dict):
        if isinstance(node.get("expr"), str) and node["expr"].strip():
            out.append(node["expr"])
        for v in node.values():
            exprs_of(v, out)
    elif isinstance(node, list):
        for v in node:
            exprs_of(v, out)


def substitute(text, values):
    # Longest names first: $srcwl must not be read as $src followed by "wl".
    for name in sorted(values, key=len, reverse=True):
        text = text.replace("${%s}" % name, values[name]).replace("$" + name, values[name])
    return (text.replace("$__rate_interval", RATE_INTERVAL).replace("$__interval", "15s")
            .replace("$__range", "5m"))


def regex_join(vals):
    # As Grafana's Prometheus data source escapes a value for a regex matcher: the backslash
    # doubled, since the matcher is a PromQL string.
    vals = [re.sub(r"([.+*?()|\[\]{}^$\\])", r"\\\\\1", v) for v in vals]
    return vals[0] if len(vals) == 1 else "(" + "|".join(vals) + ")"


def query_values(var, values):
    q = substitute(var.get("query") if isinstance(var.get("query"), str)
                   else var["query"].get("query", ""), values)
    m = re.fullmatch(r"\s*query_result\((.*)\)\s*", q, re.S)
    result, err = query(m.group(1) if m else q)
    if err:
        raise RuntimeError("variable %s: %s" % (var["name"], err))
    rx = (var.get("regex") or "").strip()
    rx = re.compile(rx[1:-1]) if rx.startswith("/") and rx.endswith("/") else None
    found = []
    for s in result:
        text = "{" + ",".join('%s="%s"' % kv for kv in sorted(s["metric"].items())) + "}"
        mm = rx.match(text) if rx else None
        v = mm.group(1) if mm else (next(iter(s["metric"].values()), "") if not rx else None)
        if v is not None and v not in found:
            found.append(v)
    return found


def choices(var, values):
    if var.get("type") == "custom":
        opts = [o.strip() for o in var.get("query", "").split(",") if o.strip()]
        out = [regex_join([o]) for o in opts]
        if var.get("multi") and len(opts) > 1:
            out.append(regex_join(opts))
        return out
    if var.get("type") == "query":
        found = query_values(var, values)
        if var.get("includeAll"):
            return [var["allValue"] if var.get("allValue") else
                    (regex_join(found) if found else "")]
        # A single value goes in as it is (Grafana escapes only a multi or All variable's).
        return [v if not var.get("multi") else regex_join([v]) for v in found]
    return None  # datasource, interval...: not in expressions


def assignments(variables, values=None, i=0):
    values = dict(values or {})
    if i == len(variables):
        yield values
        return
    var = variables[i]
    opts = choices(var, values)
    if opts is None:
        yield from assignments(variables, values, i + 1)
        return
    for o in opts or [""]:
        values[var["name"]] = o
        yield from assignments(variables, values, i + 1)


def main():
    exempt = []
    with open(sys.argv[2]) as f:
        for line in f:
            line = line.rstrip("\n")
            if line and not line.startswith("#"):
                rx, reason = line.split("\t", 1)
                exempt.append([re.compile(rx), reason, 0])
    failed = passed = exempted = 0
    for path in sys.argv[3:]:
        dash = json.load(open(path))
        exprs = []
        exprs_of(dash.get("panels", []) + dash.get("rows", []), exprs)
        exprs = list(dict.fromkeys(exprs))
        variables = dash.get("templating", {}).get("list", [])
        combos = list(assignments(variables))
        name = path.rsplit("/", 1)[-1]
        print("== %s: %d expressions, %d variable combinations" % (name, len(exprs), len(combos)))
        for e in exprs:
            reason = next((x for x in exempt if x[0].search(e)), None)
            series, errors = 0, []
            for values in combos:
                result, err = query(substitute(e, values))
                if err:
                    errors.append(err)
                elif result:
                    series = max(series, len(result))
                    if reason is None:
                        break
            short = " ".join(e.split())[:150]
            if errors:
                failed += 1
                print("FAIL  %s\n      error: %s" % (short, errors[0]))
            elif reason is not None:
                reason[2] += 1
                exempted += 1
                print("EXEMPT %s\n      %s%s" % (short, reason[1],
                                                  " (has %d series here)" % series if series else ""))
            elif series:
                passed += 1
                print("ok    %s  [%d series]" % (short, series))
            else:
                failed += 1
                print("FAIL  %s\n      no series under any of the %d combinations" % (short, len(combos)))
    for rx, why, used in exempt:
        if not used:
            failed += 1
            print("FAIL  exemption %r matches no expression" % rx.pattern)
        else:
            print("exempt %3d: %s" % (used, why.split(":")[0]))
    print("dashboards: %d expressions return series, %d exempt, %d failed" % (passed, exempted, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
