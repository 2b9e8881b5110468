#!/usr/bin/env bash
# Prints the "Performance" summary table of docs/performance.md from a bench results JSON
# (default: the committed latest), so that page shows exactly the figures of one run.
# readme-table.sh --ipv6 [JSON]: the "IPv6 beside IPv4" table of that page, from a run with the
# IPv6 paths (default: bench/results/ipv6.json).
set -euo pipefail
if [ "${1:-}" = --ipv6 ]; then
	json=${2:-$(dirname "$0")/../../bench/results/ipv6.json}
	jq -r '
def f: if . == null then "–" elif . >= 100 then (. | round | tostring)
	elif . >= 10 then ((. * 10 | round) / 10 | tostring) else ((. * 1000 | round) / 1000 | tostring) end;
def mm: if . == null then "–" else "\(.median | f) (\(.min | f)–\(.max | f))" end;
def yn: if . == null then "–" elif . then "yes" else "**no**" end;
.workloads as $all |
"| figure (this machine) | no mesh | no mesh IPv6 | ambit | ambit IPv6 | stunnel4 IPv6 | nginx IPv6 | ambit IPv6/IPv4 | within 5% | ambit/stunnel4, IPv6 | ambit/nginx, IPv6 |",
"|---|---|---|---|---|---|---|---|---|---|---|",
(.ipv6[] | $all[.workload][.figure] as $x |
	"| \(.workload) \(.figure) (\(.better) is better) | \($x.paths.nomesh.median | f) | \($x.paths.nomesh6.median | f) | \($x.paths.ambit.median | f) | \($x.paths.ambit6.median | f) | \($x.paths.stunnel6.median | f) | \($x.paths.nginx6.median | f) | \(.ambit6_vs_ambit | mm) | \(.within_5pct | yn) | \(.ambit6_vs_stunnel6 | mm) | \(.ambit6_vs_nginx6 | mm) |"),
"",
"Run \(.meta.date) at commit \(.meta.commit), \(.meta.elapsed_s) s; \(.meta.knobs_overridden | rtrimstr(" "))."
' "$json"
	exit 0
fi
json=${1:-$(dirname "$0")/../../bench/results/latest.json}
jq -r '
def f: if . == null then "–" elif . >= 100 then (. | round | tostring)
	elif . >= 10 then ((. * 10 | round) / 10 | tostring) else ((. * 1000 | round) / 1000 | tostring) end;
def row(w; fig; name):
	.workloads[w][fig] as $x
	| if $x == null then empty else
	"| \(name) | \($x.paths.nomesh.median | f) | \($x.paths.ambit.median | f) | \($x.paths.stunnel.median | f) | \($x.paths.nginx.median | f) | \($x.paths.relay.median | f) | \($x.ratios["ambit/nomesh"].median | f) | \($x.ratios["ambit/stunnel"].median | f) | \($x.ratios["ambit/nginx"].median | f) | \($x.ratios["relay/nomesh"].median | f) |" end;
"| figure (this machine) | no mesh | ambit | stunnel4 | nginx stream | plain relay | ambit/no-mesh | ambit/stunnel4 | ambit/nginx | relay/no-mesh |",
"|---|---|---|---|---|---|---|---|---|---|",
row("tput1"; "gbps"; "1-stream throughput, Gbit/s"),
row("tput8"; "gbps"; "8-stream throughput, Gbit/s"),
row("lat1k"; "p99_us"; "p99 RTT at 1k msg/s, µs"),
row("lat10k"; "p99_us"; "p99 RTT at 10k msg/s, µs"),
row("http"; "rps"; "HTTP/1.1 req/s (wrk, keep-alive)"),
row("connrate"; "conn_per_s"; "new connections/s"),
row("tput1"; "proxy_cpu_s_per_gb"; "proxy CPU s per GB (1 stream)"),
row("tput1"; "sys_cpu_s_per_gb"; "whole-machine CPU s per GB (1 stream)"),
row("http"; "proxy_cpu_s_per_1k"; "proxy CPU s per 1k HTTP requests"),
row("scale"; "open_rss_mb"; "proxy RSS, 1,000 conns open, MB"),
"",
(.ceiling | if . == null then empty else
"Ceiling of any mTLS proxy pair on this machine (the plain relay'"'"'s CPU per GB + AES-256-GCM twice per byte at the measured \(.aes_gcm_gbytes_per_core_s | f) GB/s per core, all cores busy): **\(.tput1_gbps | f) Gbit/s = \(.vs_nomesh | f)× no mesh, \(.vs_stunnel | f)× stunnel4**.\n" end),
"Run \(.meta.date) at commit \(.meta.commit), \(.meta.elapsed_s) s."
' "$json"
