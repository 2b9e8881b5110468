#!/usr/bin/env bash
# Istio's bookinfo traffic-management tasks through ambit's waypoint, with the sample's own
# networking/*.yaml and gateway-api/*.yaml applied unchanged, and the outcome checked on the page
# users look at (productpage's HTML): request routing (all to v1; end-user jason to v2),
# traffic shifting (50/50 v1/v3 within a stated bound over 200 pages; 100% v3), fault injection
# (a 7 s delay for jason exceeds productpage's 3 s timeout and one retry: "Sorry, product
# reviews are currently unavailable"; an abort: "Ratings service is currently unavailable"),
# request timeouts (0.5 s on reviews against a 2 s ratings delay), and the Gateway API HTTPRoute
# equivalents. Each change is waited for by polling, never by a fixed sleep.
. "$(dirname "$0")/lib.sh"
need_root; need_bins; need_cmd curl
[ -x "$REPO/build/waypoint" ] || fail "build/waypoint is not built"
ISTIO_BOOKINFO=${ISTIO_BOOKINFO:-/work/shared/istio/samples/samples/bookinfo}
NET=$ISTIO_BOOKINFO/networking
GW=$ISTIO_BOOKINFO/gateway-api
[ -d "$NET" ] && [ -d "$GW" ] || fail "no Istio bookinfo samples in $ISTIO_BOOKINFO (set ISTIO_BOOKINFO)"
cluster_up "$REPO/examples/bookinfo"
WORK=$(mktemp -d /tmp/ambit-it-XXXXXX)
trap 'rm -rf "$WORK"; on_exit' EXIT

# A client pod (Istio's samples/curl): no command, so it idles.
actl apply -f "$REPO/examples/bookinfo-tasks/curl.yaml" >&2 || fail "client pod not applied"

page() { pod_exec default/curl-0 curl -sS --max-time 30 "$@" http://productpage:9080/productpage; }
# What one page showed of reviews: v1, v2, v3 (stars checked), "sorry" when reviews failed,
# "ratings-down" when the stars could not be had; from its signature (the marks below), or the
# page itself. Into REPLY: bash alone, no process started (this machine's fork and exec take
# milliseconds each, and the test classifies hundreds of pages).
MARKS='Reviews served by: reviews-v[123]-0\|glyphicon\|color="black"\|color="red"\|Sorry, product reviews are currently unavailable for this book.\|Ratings service is currently unavailable'
classify() {
	local sig=$1 v=
	case $sig in *"Sorry, product reviews"*) REPLY=sorry; return ;; esac
	[[ $sig =~ Reviews\ served\ by:\ reviews-v([123])-0 ]] && v=v${BASH_REMATCH[1]}
	case $v in
	v1) case $sig in *glyphicon*) REPLY=v1-with-stars ;; *) REPLY=v1 ;; esac ;;
	v2 | v3) case $sig in *"Ratings service is currently unavailable"*) REPLY=ratings-down ;;
		*'color="black"'*'color="red"'* | *'color="red"'*'color="black"'*) REPLY=$v-two-colours ;;
		*'color="black"'*) [ "$v" = v2 ] && REPLY=v2 || REPLY=v3-black ;;
		*'color="red"'*) [ "$v" = v3 ] && REPLY=v3 || REPLY=v2-red ;;
		*) REPLY=$v-without-stars ;; esac ;;
	*) REPLY=none ;;
	esac
}
version_of() { classify "$1"; echo "$REPLY"; }
# N pages' versions, counted ("v1=30 " or "v1=101 v3=99 "): one exec runs the N requests in
# the client pod, each page reduced there to its marks, one a line, and a line "." after them.
tally() {
	local n=$1 line sig=
	shift
	declare -A c=()
	while IFS= read -r line; do
		if [ "$line" != . ]; then
			sig+="$line "
			continue
		fi
		classify "$sig"
		c[$REPLY]=$((${c[$REPLY]:-0} + 1))
		sig=
	done < <(pod_exec default/curl-0 bash -c 'n=$1 marks=$2; shift 2
		for i in $(seq 1 "$n"); do
			curl -sS --max-time 30 "$@" http://productpage:9080/productpage | grep -o "$marks"
			echo .
		done' _ "$n" "$MARKS" "$@")
	for v in $(printf '%s\n' "${!c[@]}" | sort); do printf '%s=%s ' "$v" "${c[$v]}"; done
}
# Every one of $2 pages (options after) is version $1.
all_pages() { local want=$1 n=$2; shift 2; [ "$(tally "$n" "$@")" = "$want=$n " ]; }
apply() { local out; out=$(actl apply "$@" 2>&1) || fail "apply $*: $out"; }
delete() { local out; out=$(actl delete "$@" 2>&1) || fail "delete $*: $out"; }
# A delete where some objects went already (files sharing a VirtualService's name).
delete_rest() {
	local out
	out=$(actl delete "$@" 2>&1) && return
	grep 'ambitctl:' <<<"$out" | grep -vq ' not found' && fail "delete $*: $out"
	return 0
}

wait_for 60 pod_exec default/curl-0 curl -sf --max-time 5 http://productpage:9080/health ||
	fail "bookinfo never became healthy"

# The waypoint, for the namespace's Services.
out=$(actl waypoint apply -n default --enroll-namespace 2>&1) || fail "waypoint apply: $out"
wp_ready() { actl waypoint list -n default | grep -Eq '^default +waypoint +service .* 1 +True$'; }
wait_for 60 wp_ready || fail "the waypoint never ran: $(actl waypoint list -n default)"
via_wp() {
	local id="it86-probe-$RANDOM"
	# Answered (200), not only seen: a waypoint whose config lags its binding answers 404 NR.
	page -H "x-request-id: $id" >/dev/null &&
		actl local logs default/waypoint-0 | grep -q "\"GET /reviews/0 HTTP/1.1\" 200 .*\"$id\".*reviews:9080"
}
wait_for 30 via_wp || fail "reviews is not reached through the waypoint: $(actl local logs default/waypoint-0 | tail -3)"

# Sign in as jason: the session cookie makes productpage send end-user: jason.
hdrs=$(pod_exec default/curl-0 curl -sS --max-time 10 -D - -o /dev/null -d 'username=jason&passwd=x' \
	http://productpage:9080/login) || fail "login failed"
cookie=$(printf '%s' "$hdrs" | tr -d '\r' | sed -n 's/^set-cookie: \(session=[^;]*\).*/\1/Ip')
[ -n "$cookie" ] || fail "login set no session cookie: $hdrs"

# 1. Request routing: everything to v1 (subsets from destination-rule-all.yaml).
# `apply` returns once every node's ztunnel and waypoint runs the change (it waits unless
# --wait=false): the first pages after it already follow the new route.
apply -f "$NET/destination-rule-all.yaml" -f "$NET/virtual-service-all-v1.yaml"
got=$(tally 30)
[ "$got" = "v1=30 " ] || fail "all-v1: 30 pages gave $got"
got=$(tally 10 -H "Cookie: $cookie")
[ "$got" = "v1=10 " ] || fail "all-v1, signed in: $got"
log "all v1: $got (signed in) and 30/30 anonymous"

# A waypoint that does not take its snapshot keeps `apply` from saying "in force".
wpid=$(cat "/run/ambit/$CLUSTER/pods/default_waypoint-0.pid") || fail "no waypoint pid"
kill -STOP "$wpid"
out=$(actl apply --wait --timeout 3s -f "$NET/virtual-service-reviews-test-v2.yaml" 2>&1)
rc=$?
kill -CONT "$wpid"
[ $rc -ne 0 ] || fail "apply returned with the waypoint stopped: $out"
expect_contains "$out" "waypoint default/waypoint-0 not answering"

# 2. end-user: jason -> v2 (black stars); everyone else v1.
apply -f "$NET/virtual-service-reviews-test-v2.yaml"
wait_for 30 all_pages v2 3 -H "Cookie: $cookie" || fail "jason never got v2: $(tally 5 -H "Cookie: $cookie")"
got=$(tally 20 -H "Cookie: $cookie")
[ "$got" = "v2=20 " ] || fail "jason: $got"
got=$(tally 20)
[ "$got" = "v1=20 " ] || fail "anonymous with the jason route: $got"
# An end-user header from the client is not the session: productpage does not pass it on.
got=$(tally 5 -H "end-user: jason")
[ "$got" = "v1=5 " ] || fail "a client's own end-user header routed: $got"

# 3. Fault injection, delay: ratings waits 7 s for jason; productpage's 3 s timeout and one
# retry to reviews give up first, and the page says so. Others are not delayed.
apply -f "$NET/virtual-service-ratings-test-delay.yaml"
delayed() { [ "$(version_of "$(page -H "Cookie: $cookie")")" = sorry ]; }
wait_for 60 delayed || fail "the 7 s delay never showed on jason's page"
t0=$(date +%s%N)
html=$(page -H "Cookie: $cookie") || fail "delayed page failed"
t1=$(date +%s%N)
expect_contains "$html" "Sorry, product reviews are currently unavailable for this book."
log "jason's page with the ratings delay: $(((t1 - t0) / 1000000)) ms (Istio's task: about 6 s)"
got=$(tally 5)
[ "$got" = "v1=5 " ] || fail "anonymous pages with jason's delay: $got"
wait_log 10 default/waypoint-0 '"GET /ratings/0 HTTP/1.1" 200 DI ' || fail "the waypoint did not log the delay (DI)"

# 4. Fault injection, abort: ratings answers 500 to jason.
apply -f "$NET/virtual-service-ratings-test-abort.yaml"
aborted() { [ "$(version_of "$(page -H "Cookie: $cookie")")" = ratings-down ]; }
wait_for 30 aborted || fail "the abort never showed on jason's page: $(tally 3 -H "Cookie: $cookie")"
got=$(tally 10 -H "Cookie: $cookie")
[ "$got" = "ratings-down=10 " ] || fail "jason with the abort: $got"
got=$(tally 5)
[ "$got" = "v1=5 " ] || fail "anonymous pages with jason's abort: $got"
wait_log 10 default/waypoint-0 '"GET /ratings/0 HTTP/1.1" 500 FI fault_filter_abort' ||
	fail "the waypoint did not log the abort (FI)"
delete -f "$NET/virtual-service-ratings-test-abort.yaml"

# 5. Traffic shifting: 50/50 v1/v3, then 100% v3.
apply -f "$NET/virtual-service-reviews-50-v3.yaml"
has_v3() { tally 10 | grep -q 'v3='; }
wait_for 30 has_v3 || fail "virtual-service-reviews-50-v3 never took effect"
got=$(tally 200)
log "50/50 over 200 pages: $got"
v1=$(grep -o 'v1=[0-9]*' <<<"$got" | cut -d= -f2)
v3=$(grep -o 'v3=[0-9]*' <<<"$got" | cut -d= -f2)
[ "$((${v1:-0} + ${v3:-0}))" -eq 200 ] || fail "50/50: pages other than v1 and v3: $got"
# Binomial(200, 0.5): mean 100, sd 7.07. 65..135 is 5 sd: a correct split fails it about
# once in 1.7 million runs; a 70/30 split (mean 60) passes it about 8% of the time.
[ "$v3" -ge 65 ] && [ "$v3" -le 135 ] || fail "50/50: $v3 of 200 on v3, outside 65..135"
apply -f "$NET/virtual-service-reviews-v3.yaml"
wait_for 30 all_pages v3 5 || fail "virtual-service-reviews-v3 never took effect"
got=$(tally 30)
[ "$got" = "v3=30 " ] || fail "100% v3: $got"

# 6. Request timeouts (Istio's task): reviews -> v2, ratings delayed 2 s; then a 0.5 s timeout on
# reviews: productpage's call fails (and its one retry), the page says reviews are unavailable.
cat >"$WORK/timeout.yaml" <<'YAML'
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews
spec:
  hosts:
  - reviews
  http:
  - route:
    - destination:
        host: reviews
        subset: v2
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: ratings
spec:
  hosts:
  - ratings
  http:
  - fault:
      delay:
        percentage:
          value: 100
        fixedDelay: 2s
    route:
    - destination:
        host: ratings
        subset: v1
YAML
apply -f "$WORK/timeout.yaml"
slow_v2() { [ "$(version_of "$(page)")" = v2 ] && actl local logs default/waypoint-0 | tail -20 | grep -q '"GET /ratings/0 HTTP/1.1" 200 DI '; }
wait_for 30 slow_v2 || fail "reviews v2 with the 2 s ratings delay never took effect: $(tally 3)"
sed -i 's/^  - route:$/  - timeout: 0.5s\n    route:/' "$WORK/timeout.yaml"
grep -q 'timeout: 0.5s' "$WORK/timeout.yaml" || fail "test bug: no timeout in the VirtualService"
apply -f "$WORK/timeout.yaml"
timed_out() { [ "$(version_of "$(page)")" = sorry ]; }
wait_for 30 timed_out || fail "the 0.5 s timeout on reviews never showed: $(tally 3)"
got=$(tally 5)
[ "$got" = "sorry=5 " ] || fail "0.5 s timeout: $got"
wait_log 10 default/waypoint-0 '"GET /reviews/0 HTTP/1.1" 504 UT ' || fail "the waypoint did not log the timeout (504 UT)"
delete -f "$WORK/timeout.yaml"
delete_rest -f "$NET/virtual-service-all-v1.yaml" -f "$NET/destination-rule-all.yaml"

# 7. The Gateway API equivalents (parentRefs to the Service; per-version Services as backends).
apply -f "$GW/route-reviews-v1.yaml"
wait_for 30 all_pages v1 5 || fail "HTTPRoute route-reviews-v1 never took effect: $(tally 10)"
got=$(tally 20)
[ "$got" = "v1=20 " ] || fail "HTTPRoute v1: $got"
apply -f "$GW/route-reviews-50-v3.yaml"
wait_for 30 has_v3 || fail "HTTPRoute route-reviews-50-v3 never took effect"
got=$(tally 100)
log "HTTPRoute 50/50 over 100 pages: $got"
v3=$(grep -o 'v3=[0-9]*' <<<"$got" | cut -d= -f2)
v1=$(grep -o 'v1=[0-9]*' <<<"$got" | cut -d= -f2)
[ "$((${v1:-0} + ${v3:-0}))" -eq 100 ] || fail "HTTPRoute 50/50: pages other than v1 and v3: $got"
# Binomial(100, 0.5): sd 5; 25..75 is 5 sd.
[ "$v3" -ge 25 ] && [ "$v3" -le 75 ] || fail "HTTPRoute 50/50: $v3 of 100 on v3, outside 25..75"
apply -f "$GW/route-reviews-v3.yaml"
wait_for 30 all_pages v3 5 || fail "HTTPRoute route-reviews-v3 never took effect"
got=$(tally 20)
[ "$got" = "v3=20 " ] || fail "HTTPRoute v3: $got"
delete -f "$GW/route-reviews-v3.yaml"
# No route: the reviews Service balances over its three pods again.
spread() { local t; t=$(tally 30); grep -q v1= <<<"$t" && grep -q v2= <<<"$t" && grep -q v3= <<<"$t"; }
wait_for 30 spread || fail "without routes, reviews did not spread over v1..v3: $(tally 30)"
pass
