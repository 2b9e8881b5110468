# The L7 demo (`sudo make demo`, DEMO=l7), sourced by run.sh after its guard: Istio's
# traffic-management tutorials on bookinfo, through an ambit waypoint, each step the command a
# user types and what it changes on the page. The routing files are examples/bookinfo-tasks/
# (the same names and effects as Istio's samples/bookinfo/networking/*.yaml, which apply
# unchanged too). Uses run.sh's $AMBITCTL, $C, $repo, $rundir, $secs, bg_pids, say and section.

tasks=$repo/examples/bookinfo-tasks
ingress_port=${DEMO_INGRESS_PORT:-8080}
prom_port=${DEMO_PROMETHEUS_PORT:-9090}
# The commands shown name examples/... as a user in the repository types them.
cd "$repo" || exit 1
A() { "$AMBITCTL" "$@"; }
# Shows a command as the user would type it, then runs it (output indented).
run() {
	printf '\033[36m$ %s\033[0m\n' "ambitctl $*"
	A "$@" 2>&1 | sed 's/^/  /'
}
apply_quiet() { A apply -f "$@" >/dev/null 2>&1 || { say "demo: apply $* failed"; A apply -f "$@"; exit 1; }; }
page() { A local exec default/curl-0 -- curl -sS --max-time 30 "$@" http://productpage:9080/productpage 2>/dev/null; }
# What a page shows of reviews: "v1 (no stars)", "v2 (black stars)", ..., or the error text (of
# the page itself, or of its marks as tally's pod prints them).
shows() {
	local html=$1 v=
	case $html in *"Sorry, product reviews are currently unavailable"*)
		echo '"Sorry, product reviews are currently unavailable for this book."'; return ;; esac
	[[ $html =~ Reviews\ served\ by:\ reviews-(v[123]) ]] && v=${BASH_REMATCH[1]}
	case $html in *"Ratings service is currently unavailable"*)
		echo "$v, stars: \"Ratings service is currently unavailable\""; return ;; esac
	case $v in
	v1) echo "v1 (no stars)" ;;
	v2) echo "v2 (black stars)" ;;
	v3) echo "v3 (red stars)" ;;
	*) echo "no page" ;;
	esac
}
# N page loads (curl options after N), counted by what they show: one exec runs them in the
# client pod, which prints each page's marks, one a line, and a line "." after them.
tally() {
	local n=$1 line sig=
	shift
	A local exec default/curl-0 -- bash -c 'n=$1; shift
		for i in $(seq 1 "$n"); do
			curl -sS --max-time 30 "$@" http://productpage:9080/productpage 2>/dev/null |
				grep -o "Reviews served by: reviews-v[123]\|Ratings service is currently unavailable\|Sorry, product reviews are currently unavailable"
			echo .
		done' _ "$n" "$@" | while IFS= read -r line; do
		if [ "$line" = . ]; then
			shows "$sig"
			sig=
		else
			sig+="$line "
		fi
	done | sort | uniq -c | sed 's/^ */    /'
}
timed_page() {
	local t0 t1 html
	t0=$(date +%s%N)
	html=$(page "$@")
	t1=$(date +%s%N)
	printf '    %s after %d.%01d s\n' "$(shows "$html")" $(((t1 - t0) / 1000000000)) $((((t1 - t0) / 100000000) % 10))
}

section "1. bookinfo on a two-node local cluster \"$C\", in the mesh"
say "Istio's sample application (examples/bookinfo): productpage calls details and reviews;"
say "reviews v2 and v3 call ratings. Namespace default is labelled istio.io/dataplane-mode=ambient."
# Prometheus on the host's port, unless someone holds it (then the tour goes on without it).
prom_flags=(--with-prometheus --prometheus-port "$prom_port")
if ss -Hltn "sport = :$prom_port" 2>/dev/null | grep -q .; then
	say "(port $prom_port is taken: no Prometheus this time; DEMO_PROMETHEUS_PORT=N picks another)"
	prom_flags=()
fi
printf '\033[36m$ %s\033[0m\n' "ambitctl local up -f examples/bookinfo --name $C --nodes 2 ${prom_flags[*]}"
uplog=$(mktemp)
A local up -f "$repo/examples/bookinfo" --name "$C" --nodes 2 "${prom_flags[@]}" >"$uplog" 2>&1 ||
	{ cat "$uplog"; rm -f "$uplog"; say "demo: local up failed"; exit 1; }
grep '^prometheus: ' "$uplog" | sed 's/^/  /'
rm -f "$uplog"
echo $$ >"$rundir/demo.pid"
printf '\033[36m$ %s\033[0m\n' "ambitctl apply -f examples/bookinfo-tasks/curl.yaml   (a client pod, Istio's samples/curl)"
apply_quiet "$tasks/curl.yaml"
for _ in $(seq 1 150); do
	A local exec default/curl-0 -- curl -sf --max-time 2 http://productpage:9080/health >/dev/null 2>&1 && break
	sleep 0.2
done
run workloads
say "Every pod has its SPIFFE identity; pod to pod is mutual TLS 1.3 (HBONE) between ztunnels."
say
say "With no routing rule, the reviews Service spreads page loads over its three versions:"
printf '\033[36m$ %s\033[0m\n' "ambitctl local exec default/curl-0 -- curl -s productpage:9080/productpage   (x12)"
tally 12

section "2. the ingress gateway: bookinfo from the host"
say "The cluster runs istio-ingressgateway in istio-system, as Istio's demo profile does."
say "Istio's bookinfo-gateway.yaml (the same as examples/bookinfo-tasks/bookinfo-gateway.yaml)"
say "gives it a listener and sends productpage's paths there:"
run apply -f examples/bookinfo-tasks/bookinfo-gateway.yaml
printf '\033[36m$ %s\033[0m\n' "ambitctl local port-forward -n istio-system svc/istio-ingressgateway $ingress_port:80 &"
setsid "$AMBITCTL" local port-forward -n istio-system svc/istio-ingressgateway "$ingress_port:80" \
	>"$rundir/port-forward.log" 2>&1 &
bg_pids+=($!)
gw_ok=
for _ in $(seq 1 150); do
	[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://localhost:$ingress_port/productpage")" = 200 ] &&
		gw_ok=1 && break
	sleep 0.2
done
sed 's/^/  /' "$rundir/port-forward.log"
printf '\033[36m$ %s\033[0m\n' "curl -s http://localhost:$ingress_port/productpage   (from the host)"
if [ -n "$gw_ok" ]; then
	say "  $(shows "$(curl -s --max-time 10 "http://localhost:$ingress_port/productpage")"), through the gateway"
	say "  (open http://localhost:$ingress_port/productpage in a browser: it stays up until the end)"
	A local logs istio-system/istio-ingressgateway-0 2>/dev/null | grep '"GET /productpage HTTP/1.1" 200' |
		tail -n 1 | cut -c1-120 | sed 's/^/  the gateway logged: /'
else
	say "  (port $ingress_port on the host did not answer: DEMO_INGRESS_PORT=N picks another)"
fi

section "3. a waypoint: the L7 proxy for the namespace's Services"
run waypoint apply -n default --enroll-namespace
for _ in $(seq 1 150); do
	A waypoint list -n default 2>/dev/null | grep -q ' True$' && break
	sleep 0.2
done
run waypoint list -n default
wp_ip=$(A local status 2>/dev/null | awk '$1 == "default/waypoint-0" { print $3; exit }')
say "The ztunnels now send traffic for the Services to waypoint-0 over HBONE; it applies"
say "VirtualServices, HTTPRoutes and DestinationRules, as Istio's waypoint does."

section "4. request routing: everything to v1"
run apply -f examples/bookinfo-tasks/destination-rule-all.yaml -f examples/bookinfo-tasks/virtual-service-all-v1.yaml
tally 10

section "5. request routing by user: jason sees v2"
run apply -f examples/bookinfo-tasks/virtual-service-reviews-test-v2.yaml
cookie=$(A local exec default/curl-0 -- curl -sS --max-time 10 -D - -o /dev/null \
	-d 'username=jason&passwd=x' http://productpage:9080/login 2>/dev/null |
	tr -d '\r' | sed -n 's/^set-cookie: \(session=[^;]*\).*/\1/Ip')
say "Signed in as jason (POST /login username=jason): productpage sends end-user: jason."
say "  jason:"
tally 5 -H "Cookie: $cookie"
say "  everyone else:"
tally 5

section "6. traffic shifting: 50% of reviews to v3, then all of it"
run apply -f examples/bookinfo-tasks/virtual-service-reviews-50-v3.yaml
tally 20
run apply -f examples/bookinfo-tasks/virtual-service-reviews-v3.yaml
tally 10

section "7. fault injection: a 7 s delay on ratings, for jason"
say "As Istio's task starts: reviews back to jason -> v2 (v2 calls ratings), then the delay."
run apply -f examples/bookinfo-tasks/virtual-service-reviews-test-v2.yaml
run apply -f examples/bookinfo-tasks/virtual-service-ratings-test-delay.yaml
say "reviews gives ratings 10 s; productpage gives reviews 3 s and one retry. So jason's page:"
timed_page -H "Cookie: $cookie"
say "  and everyone else's (no delay):"
timed_page

section "8. fault injection: ratings aborts with HTTP 500, for jason"
run apply -f examples/bookinfo-tasks/virtual-service-ratings-test-abort.yaml
say "  jason:"
tally 3 -H "Cookie: $cookie"
say "  the waypoint's access log (Envoy's format; FI: fault injected):"
A local logs default/waypoint-0 2>/dev/null | grep '"GET /ratings/0 HTTP/1.1" 500 FI' | tail -n 1 | cut -c1-120 | sed 's/^/    /'

section "9. request timeouts: 0.5 s on reviews, ratings 2 s slow"
run apply -f examples/bookinfo-tasks/request-timeouts.yaml
timed_page
say "  productpage's call to reviews (and its one retry) gave up at 0.5 s: 504, flag UT:"
A local logs default/waypoint-0 2>/dev/null | grep '"GET /reviews/0 HTTP/1.1" 504 UT' | tail -n 1 | cut -c1-120 | sed 's/^/    /'

section "10. circuit breaking: at most 1 connection and 1 waiting request to details"
run apply -f examples/bookinfo-tasks/circuit-breaker-details.yaml
say "20 requests to details, 10 at a time (curl --parallel):"
printf '\033[36m$ %s\033[0m\n' "ambitctl local exec default/curl-0 -- curl -s --parallel --parallel-max 10 -w '%{http_code}\\n' ..."
urls=()
for i in $(seq 1 20); do urls+=(-o /dev/null "http://details:9080/details/$i"); done
A local exec default/curl-0 -- curl -s --parallel --parallel-immediate --parallel-max 10 \
	-w '%{http_code}\n' "${urls[@]}" 2>/dev/null | sort | uniq -c | sed 's/^ */    /; s/ 200$/ x 200 OK/; s/ 503$/ x 503 (the breaker: overflow)/'
uo=$(A local logs default/waypoint-0 2>/dev/null | grep -c '"GET /details/[0-9]* HTTP/1.1" 503 UO ')
say "  the waypoint logged $uo of them as 503 UO (upstream overflow), as Envoy does."

if [ ${#prom_flags[@]} -gt 0 ]; then
	section "11. the metrics in Prometheus"
	say "Prometheus scrapes every ztunnel, the waypoint and the gateway as Istio's addon does"
	say "(their prometheus.io annotations), every 5 s. What the waypoint counted in this tour:"
	q='sum by (source_workload, destination_workload, response_code, response_flags) (istio_requests_total{reporter="waypoint"})'
	printf '\033[36m$ %s\033[0m\n' "curl -s localhost:$prom_port/api/v1/query --data-urlencode 'query=$q'"
	sleep 6 # one more scrape: the circuit breaker's 503s are in
	res=$(curl -s --max-time 5 "http://localhost:$prom_port/api/v1/query" --data-urlencode "query=$q" |
		jq -r '.data.result[] | "\(.value[1])\t\(.metric.source_workload) -> \(.metric.destination_workload)  \(.metric.response_code) \(.metric.response_flags)"' 2>/dev/null |
		sort -t$'\t' -k2 | awk -F'\t' '{ printf "    %5d  %s\n", $1, $2 }')
	printf '%s\n' "${res:-    (no series yet)}"
fi

# The dashboard reads that Prometheus: the service graph while the page loads below.
dash_port=${DEMO_DASHBOARD_PORT:-20001}
dash=
if [ ${#prom_flags[@]} -gt 0 ] && ! ss -Hltn "sport = :$dash_port" 2>/dev/null | grep -q .; then
	setsid "$AMBITCTL" dashboard --name "$C" --port "$dash_port" >"$rundir/dashboard.log" 2>&1 &
	bg_pids+=($!)
	dash=1
fi

# Tracing into the dashboard, which receives spans inside the cluster (the tour's timeouts and
# breaker lifted first: one page shows every hop).
if [ -n "$dash" ]; then
	A delete -f "$tasks/request-timeouts.yaml" >/dev/null 2>&1
	A delete -f "$tasks/circuit-breaker-details.yaml" >/dev/null 2>&1
	A apply -f "$tasks/destination-rule-all.yaml" -f "$tasks/virtual-service-reviews-v3.yaml" >/dev/null 2>&1
	section "12. tracing: one page's spans, productpage -> reviews -> ratings"
	say "Istio's way: extension providers in the mesh config, a Telemetry turning tracing on for"
	say "the mesh; the collector here is the dashboard (examples/tracing/tracing.yaml)."
	run apply -f examples/tracing/tracing.yaml
	trace_id=
	for i in $(seq 1 20); do
		rid=demo-$RANDOM$RANDOM
		A local exec default/curl-0 -- curl -s -o /dev/null -H "x-request-id: $rid" \
			http://productpage:9080/productpage 2>/dev/null
		sleep 1.5 # the waypoint sends its spans each second
		trace_id=$(curl -s --max-time 5 "http://localhost:$dash_port/api/traces?tagKey=guid:x-request-id&tagValue=$rid" |
			jq -r '.[0].traceID // empty' 2>/dev/null)
		[ -n "$trace_id" ] && break
	done
	if [ -n "$trace_id" ]; then
		# Each hop's spans come in a batch of their own: until the count stops growing.
		count=0
		for i in $(seq 1 8); do
			now=$(curl -s --max-time 5 "http://localhost:$dash_port/api/traces/$trace_id" |
				jq '.spans | length' 2>/dev/null)
			[ "${now:-0}" -gt "$count" ] || break
			count=$now
			sleep 1.2
		done
		say "trace $trace_id, as the waypoint reported it (server span, its client span below):"
		curl -s --max-time 5 "http://localhost:$dash_port/api/traces/$trace_id" | jq -r '
			.spans as $all | def depth($s): if $s.parentSpanID == null then 0 else
				([$all[] | select(.spanID == $s.parentSpanID)][0] // null) as $p |
				if $p == null then 0 else 1 + depth($p) end end;
			$all | sort_by(.start)[] | "\([range(depth(.))] | map("  ") | join(""))\(.kind) \(.name)  \(.duration / 1000 | floor) ms"' 2>/dev/null |
			sed 's/^/    /'
	else
		say "  (no trace came: see $rundir/dashboard.log)"
	fi
fi

section "where to look"
say "  http://localhost:$ingress_port/productpage       bookinfo through the ingress gateway"
[ -n "$dash" ] &&
	say "  http://localhost:$dash_port/                     ambitctl dashboard: the service graph and Traces (DEMO_DASHBOARD_PORT)"
[ ${#prom_flags[@]} -gt 0 ] &&
	say "  http://localhost:$prom_port/                      Prometheus (istio_requests_total, ...)"
say "  $AMBITCTL local logs default/waypoint-0        the waypoint's access log"
say "  $AMBITCTL local exec default/curl-0 -- curl -s ${wp_ip:-<waypoint ip>}:15020/stats/prometheus"
say "                                            istio_requests_total etc., reporter=\"waypoint\""
say "  $AMBITCTL waypoint status -n default waypoint  what is bound to it"
say "  $AMBITCTL analyze                               routes and rules, checked as istioctl does"
say "  examples/bookinfo-tasks/                        the routing files of this tour"
say "  sudo make demo DEMO=l4                          the L4 demo (identities, mTLS on the wire)"

if [ "$secs" -gt 0 ]; then
	section "requests as they happen (for ${secs}s): the gateway's and the waypoint's access logs"
else
	section "requests as they happen (Ctrl-C to stop and tear down): the gateway's and the waypoint's access logs"
fi
A apply -f "$tasks/virtual-service-reviews-50-v3.yaml" >/dev/null 2>&1
A delete -f "$tasks/request-timeouts.yaml" >/dev/null 2>&1
A delete -f "$tasks/circuit-breaker-details.yaml" >/dev/null 2>&1
A apply -f "$tasks/destination-rule-all.yaml" -f "$tasks/virtual-service-reviews-50-v3.yaml" >/dev/null 2>&1
say "(a page load every second from the host through the gateway; reviews split 50/50 between v1 and v3)"
setsid bash -c 'while :; do curl -s -o /dev/null --max-time 5 "http://localhost:$1/productpage" \
	>/dev/null 2>&1; sleep 1; done' _ "$ingress_port" &
bg_pids+=($!)
setsid bash -c 'tail -q -n 0 -F "$1" "$2" 2>/dev/null | grep --line-buffered " HTTP/1.1\" " |
	sed -u -E "s/^\[[^]]*\] //; s/^(.{1,110}).*/  \1/"' _ "$rundir/logs/default_waypoint-0.log" \
	"$rundir/logs/istio-system_istio-ingressgateway-0.log" &
bg_pids+=($!)
# In the background, waited for: a signal's trap runs at once (a foreground sleep would hold
# it back until the sleep ended; a SIGTERM to the demo alone waited up to an hour).
if [ "$secs" -gt 0 ]; then
	sleep "$secs" &
else
	sleep infinity &
fi
bg_pids+=($!)
wait "$!"
