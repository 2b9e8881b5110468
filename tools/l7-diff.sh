#!/usr/bin/env bash
# The differential run of issue 25: the conformance corpus (tests/l7conf/cases.py) sent to the
# waypoint, HAProxy and nginx alike, and a table of where they differ, so that a reviewer sees at
# a glance where the waypoint is stricter than its peers, equal, or looser. Not part of
# `make test`: it needs haproxy and nginx (tools/install-deps.sh installs both) and takes minutes.
#
# Each router runs `l7conf.py --router R --observe --json`, which records what the router did
# without asserting anything; the routers run one after the other, not side by side, because
# some cases hinge on 1 s timeouts and the harness's own short waits. The cases marked
# waypoint_only (HTTP/2, CONNECT routes, the waypoint's own header policy) are skipped for the
# peers and shown as "n/a". How HAProxy and nginx are configured for a fair comparison (the
# same timeouts, a shared upstream pool, the same added request fields) is in the HAProxy and
# Nginx classes of tests/l7conf/harness.py.
#
# Knobs: OUT [build/l7-diff] writes OUT.md (the table, also printed) and OUT.json (each router's
# raw observations, merged, plus the verdicts); CASES="a b" runs only those cases; ROUTERS
# [waypoint haproxy nginx] chooses the routers (the verdict column needs the waypoint and at
# least one peer). Exits 0 whatever the routers do (it is a report); non-zero only when a
# router could not be run.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
OUT=${OUT:-$REPO/build/l7-diff}
CASES=${CASES:-}
ROUTERS=${ROUTERS:-waypoint haproxy nginx}
# Debian's interpreter, as `make l7conf` uses: python3-hpack is installed for it.
PY=/usr/bin/python3

say() { echo "[l7-diff] $*" >&2; }
die() { say "error: $*"; exit 1; }

[ -x "$PY" ] || die "needs $PY (make deps)"
"$PY" -c 'import hpack' 2>/dev/null || die "needs python3-hpack (make deps)"
[ -n "$ROUTERS" ] || die "ROUTERS is empty"
for r in $ROUTERS; do
	case $r in
	waypoint)
		for b in waypoint ambitctl; do
			[ -x "$REPO/build/$b" ] || die "$REPO/build/$b not built (make)"
		done ;;
	haproxy | nginx) command -v "$r" >/dev/null || die "needs $r (make deps)" ;;
	*) die "unknown router $r (waypoint, haproxy, nginx)" ;;
	esac
done
mkdir -p "$(dirname "$OUT")" || die "cannot make $(dirname "$OUT")"

tmp=$(mktemp -d /tmp/ambit-l7-diff.XXXXXX) || die "mktemp failed"
# l7conf.py runs in the foreground: an interrupt reaches it too, and it stops its router and
# removes its own temporary directory (a background job of this shell would ignore SIGINT).
cleanup() { rm -rf "$tmp"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

# The suite and the waypoint's binaries are copied first, into a tree of the same shape (the
# harness finds them at ../../build from its own directory): the three routers then get the same
# corpus and the same waypoint even when an edit or a `make` changes the working tree during the
# minutes this runs (a waypoint relinked mid-run fails every case after it).
SUITE=$tmp/repo/tests/l7conf
mkdir -p "$SUITE" "$tmp/repo/build" || die "cannot make $tmp/repo"
cp "$REPO"/tests/l7conf/*.py "$SUITE/" || die "cannot copy tests/l7conf"
case " $ROUTERS " in
*" waypoint "*) cp "$REPO/build/waypoint" "$REPO/build/ambitctl" "$tmp/repo/build/" ||
	die "cannot copy the waypoint's binaries" ;;
esac
# A mistyped case name fails here, before minutes of running (l7conf.py's --list names the
# known ones among those given, one a line).
# shellcheck disable=SC2086 # CASES and ROUTERS are word lists
if [ -n "$CASES" ]; then
	known=$("$PY" "$SUITE/l7conf.py" --list $CASES | wc -l)
	[ "$known" = "$(echo $CASES | wc -w)" ] ||
		die "unknown case in CASES (l7conf.py --list names them all)"
fi

# What was compared, for the report's head (the waypoint as built from this commit, "-dirty"
# when the working tree had changes).
versions=
for r in $ROUTERS; do
	case $r in
	waypoint) v="waypoint $(git -C "$REPO" describe --always --dirty 2>/dev/null || echo '?')" ;;
	haproxy) v=$(haproxy -v 2>/dev/null | head -1 | awk '{print "HAProxy " $3}') ;;
	nginx) v=$(nginx -v 2>&1 | sed 's|.*nginx/|nginx |') ;;
	esac
	versions="$versions${versions:+, }$v"
done

t0=$SECONDS
times=
for r in $ROUTERS; do
	say "$r: running the corpus${CASES:+ ($CASES)}"
	t=$SECONDS
	# shellcheck disable=SC2086
	"$PY" "$SUITE/l7conf.py" --router "$r" --observe --json "$tmp/$r.json" \
		$CASES >"$tmp/$r.log" 2>&1
	rc=$?
	{ [ "$rc" = 0 ] && [ -s "$tmp/$r.json" ]; } ||
		die "$r could not be run (l7conf.py exited $rc): $(tail -5 "$tmp/$r.log")"
	# Observe mode turns every failure into a case's "error"; a router that never started
	# leaves nothing else, and a report on it would be a column of errors.
	"$PY" -c '
import json, sys
cases = json.load(open(sys.argv[1]))["cases"]
sys.exit(1 if cases and all("status" not in o for o in cases.values()) else 0)' "$tmp/$r.json" ||
		die "$r could not be run: every case failed in the harness: $("$PY" -c '
import json, sys
o = next(iter(json.load(open(sys.argv[1]))["cases"].values()))
print(o.get("error", "").strip().splitlines()[-1])' "$tmp/$r.json")"
	say "$r: done in $((SECONDS - t)) s"
	times="$times${times:+, }$r $((SECONDS - t)) s"
done

# shellcheck disable=SC2086
"$PY" - "$tmp" "$OUT" "$SUITE" "$versions" "$times" $ROUTERS <<'PY' ||
import json
import os
import sys

tmp, out, confdir, versions, times = sys.argv[1:6]
routers = sys.argv[6:]
sys.path.insert(0, confdir)
import cases as corpus  # noqa: E402 - titles, order and waypoint_only, read only

obs = {r: json.load(open(os.path.join(tmp, r + ".json")))["cases"] for r in routers}
peers = [r for r in routers if r != "waypoint"]
judged = "waypoint" in routers and peers

# The verdict rules. Of each router's observation of a case, what matters is its outcome:
#   finals   the final statuses its client(s) got, each reduced to its class (2xx, 4xx, ...):
#            1xx dropped but 101 kept; a client that got no status keeps a word: "none" (no
#            answer), "truncated" (the connection ended mid-response), "malformed" (bytes that
#            are not a response); order kept ("200;200" is two clients)
#   reached  the backend saw the request: it counted one, or it got bytes it could not even
#            parse (the router forwarded something)
#   fate     the client connection afterwards: open / closed (a reset counts as closed: both
#            end it) / stuck (neither answered the next request nor closed); cases whose steps
#            drive several clients record none
#   checks   the case's own checks (a field as the backend saw it, which upstream connection
#            the next client rode, ...) all passed; a check that raised counts as failed
# and it refused the request when it did not reach the backend or some final status is
# 4xx/5xx (for the response-direction cases, a 502/503 is the router refusing the response).
# The verdict compares the waypoint W with the peers P that ran the case:
#   equal     W's outcome is the same as every peer's
#   stricter  W refused, and some peer did not
#   looser    W did not refuse, and some peer did
#   differs   otherwise: W refused exactly when every peer did, yet some outcome differs (a
#             status class such as 501 against 422, the connection's fate, a check)
#   n/a       no peer ran it (waypoint_only); error: W's or a peer's run of it broke in the
#             harness before anything was observed
# Status codes within a class (400 against 431) and the upstream connection's fate are shown
# in the cells but are not judged.


def finals(status):
    out = []
    for tok in status.replace(";", ",").split(","):
        tok = tok.strip()
        if tok.isdigit():
            if 100 <= int(tok) < 200 and tok != "101":
                continue
            out.append(tok[0] + "xx")
        else:
            out.append(tok or "none")
    return tuple(out)


def reached(o):
    return o.get("backend", 0) > 0 or bool(o.get("backend_error"))


def refused(o):
    return not reached(o) or any(f in ("4xx", "5xx") for f in finals(o["status"]))


def checks_ok(o):
    return not o.get("checks") and "error" not in o


def outcome(o):
    fate = {"reset": "closed"}.get(o.get("client"), o.get("client"))
    return (finals(o["status"]), reached(o), fate, checks_ok(o))


def verdict(name):
    w = obs["waypoint"].get(name)
    ps = [obs[p][name] for p in peers if name in obs[p]]
    if w is None or not ps:
        return "n/a"
    if any("status" not in o for o in [w] + ps):
        return "error"
    if all(outcome(w) == outcome(p) for p in ps):
        return "equal"
    if refused(w) and any(not refused(p) for p in ps):
        return "stricter"
    if not refused(w) and any(refused(p) for p in ps):
        return "looser"
    return "differs"


BENIGN_UPSTREAM = ("reused", "unused", "-", None)


def cell(o, show_upstream):
    """"400 · 0 up · closed": statuses, requests the backend saw, the client connection."""
    if o is None:
        return "n/a"
    if "status" not in o:
        return "error (harness)"
    st = {"none": "no answer"}.get(o["status"], o["status"])
    parts = [st, f"{o.get('backend', 0)} up" + (" + unparsable" if o.get("backend_error")
                                                 else "")]
    if o.get("client"):
        parts.append(o["client"])
    if show_upstream and o.get("upstream") not in ("-", None):  # "-": none was opened
        parts.append("upstream " + o["upstream"])
    if "error" in o:
        parts.append("✗ check raised")
    elif o.get("checks"):
        n = len(o["checks"])
        parts.append(f"✗ {n} check{'s' if n > 1 else ''}")
    return " · ".join(parts)


def short(title, n=60):
    """The case's title (it names what the waypoint is held to), cut to @n characters."""
    if len(title) > n:
        title = title[:n].rsplit(" ", 1)[0] + " …"
    return title.replace("|", "\\|")


ran = [c for c in corpus.CASES if any(c.name in obs[r] for r in routers)]
rows, verdicts, checks, broken = [], {}, [], []
for c in ran:
    here = [obs[r].get(c.name) for r in routers]
    show_up = any(o and o.get("upstream") not in BENIGN_UPSTREAM for o in here)
    row = [f"`{c.name}`", short(c.title)] + [cell(o, show_up) for o in here]
    if judged:
        verdicts[c.name] = verdict(c.name)
        row.append(f"**{verdicts[c.name]}**" if verdicts[c.name] in ("looser", "error")
                   else verdicts[c.name])
    rows.append(row)
    for r, o in zip(routers, here):
        for chk in (o or {}).get("checks", []):
            checks.append(f"- `{c.name}` {r}: {chk}")
        if o and "error" in o:
            last = o["error"].strip().splitlines()[-1]
            broken.append(f"- `{c.name}` {r}: {last}")

md = ["# L7 differential run: " + " / ".join(routers), "",
      f"{len(ran)} cases; {versions}; run times: {times}. A cell: the statuses the client got (1xx "
      "included; `;` between clients), the requests the backend saw (`+ unparsable`: bytes it "
      "could not parse as one), the client connection afterwards (`stuck`: neither answered "
      "the next request nor closed), the upstream connection when some router did not pool "
      "it (`closed`, `stays`: open but not reused, `no-probe`: the next request never "
      "arrived), and the case's own checks that failed (listed below the table). Verdict "
      "rules: tools/l7-diff.sh.", ""]
head = ["case", "what"] + routers + (["verdict"] if judged else [])
md.append("| " + " | ".join(head) + " |")
md.append("|" + "---|" * len(head))
md += ["| " + " | ".join(r) + " |" for r in rows]
md.append("")
if judged:
    n = {k: sum(1 for v in verdicts.values() if v == k)
         for k in ("equal", "stricter", "looser", "differs", "n/a", "error")}
    md.append("Waypoint against " + " and ".join(peers) + ": " +
              ", ".join(f"{v} {k}" for k, v in n.items() if v or k in
                        ("equal", "stricter", "looser", "differs")) + ".")
    md.append("")
    loose = [c for c in ran if verdicts[c.name] == "looser"]
    if loose:
        md.append("## To look at: where the waypoint is looser")
        md.append("")
        for c in loose:
            md.append(f"- `{c.name}`, {c.title}: " + "; ".join(
                f"{r} {cell(obs[r].get(c.name), True)}" for r in routers))
        md.append("")
if broken:
    md.append("## Harness errors (a case's steps or checks raised)")
    md.append("")
    md += broken
    md.append("")
if checks:
    md.append("## Case checks that failed")
    md.append("")
    md += checks
    md.append("")
with open(out + ".md", "w") as f:
    f.write("\n".join(md))
merged = {"routers": routers, "versions": versions, "run_times": times,
          "observations": obs, "verdicts": verdicts}
with open(out + ".json", "w") as f:
    json.dump(merged, f, indent=1, sort_keys=True)
print("\n".join(md))
if broken:
    print(f"[l7-diff] warning: {len(broken)} case run(s) broke in the harness (listed in "
          f"{out}.md)", file=sys.stderr)
PY
	die "could not write the report"
say "wrote $OUT.md and $OUT.json in $((SECONDS - t0)) s"
