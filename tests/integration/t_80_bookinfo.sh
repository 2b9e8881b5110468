#!/usr/bin/env bash
# The bookinfo example (examples/bookinfo) in the ambient mesh, L4 only (no waypoint yet), as
# examples/bookinfo/README.md runs it: every pod enrolled with its bookinfo-<app> identity; a
# client pod gets the product page through the productpage Service; with no routing, the reviews
# Service's three versions all answer across requests (v1 no stars, v2 black, v3 red); a user
# signed in as jason has end-user: jason reach ratings (its log, with the request id the client
# sent); sign-out works. The Istio sample's own networking/*.yaml files apply to it with no error
# when $ISTIO_BOOKINFO names a samples/bookinfo directory (skipped, and said so, when it does not).
. "$(dirname "$0")/lib.sh"
need_root; need_bins; need_cmd python3 curl
ISTIO_BOOKINFO=${ISTIO_BOOKINFO:-/work/shared/istio/samples/samples/bookinfo}
cluster_up "$REPO/examples/bookinfo"

# A client pod (Istio's samples/curl): no command, so it idles.
actl apply -f "$REPO/examples/bookinfo-tasks/curl.yaml" >&2 || fail "client pod not applied"

pods="details-v1-0 ratings-v1-0 reviews-v1-0 reviews-v2-0 reviews-v3-0 productpage-v1-0"
out=$(actl workloads) || fail "workloads"
for p in $pods; do
	app=${p%%-*}
	printf '%s\n' "$out" | grep -E "^default +$p .* spiffe://cluster.local/ns/default/sa/bookinfo-$app +Running +[0-9]+ +yes" >/dev/null ||
		fail "$p is not enrolled as bookinfo-$app: $out"
done

# Every service answers its health check through the mesh (pod IP), from the client.
all_healthy() {
	local p ip
	for p in $pods; do
		ip=$(pod_ip "default/$p")
		[ -n "$ip" ] && pod_exec default/curl-0 curl -sf --max-time 5 "http://$ip:9080/health" >/dev/null || return 1
	done
}
wait_for 60 all_healthy || fail "bookinfo never became healthy"

page() { pod_exec default/curl-0 curl -sS --max-time 20 "$@" http://productpage:9080/productpage; }

# No VirtualService: the reviews Service balances over its three pods.
declare -A seen=()
for i in $(seq 1 30); do
	html=$(page -H "x-request-id: it-anon-$i") || fail "productpage request $i failed"
	expect_contains "$html" "<title>Simple Bookstore App</title>"
	expect_contains "$html" "The Comedy of Errors"
	expect_contains "$html" "PublisherA" "details missing"
	expect_not_contains "$html" "Sorry" "a service failed"
	v=$(printf '%s' "$html" | grep -o 'Reviews served by: reviews-v[123]-0' | grep -o 'v[123]')
	case $v in
	v1) expect_not_contains "$html" "glyphicon" "v1 shows stars" ;;
	v2) expect_contains "$html" '<font color="black">' "v2 without black stars"
	    expect_not_contains "$html" 'color="red"' "v2 with red stars" ;;
	v3) expect_contains "$html" '<font color="red">' "v3 without red stars"
	    expect_not_contains "$html" 'color="black"' "v3 with black stars" ;;
	*) fail "no reviews version on the page: $html" ;;
	esac
	seen[$v]=$((${seen[$v]:-0} + 1))
done
log "30 pages: reviews v1=${seen[v1]:-0} v2=${seen[v2]:-0} v3=${seen[v3]:-0}"
[ "${#seen[@]}" -eq 3 ] || fail "not every reviews version answered: ${!seen[*]}"
wait_log 10 default/ratings-v1-0 'GET /ratings/0 200 .* end-user=- x-request-id=it-anon-' ||
	fail "ratings never logged an anonymous request"

# Sign in as jason (the sample's form); the session cookie makes productpage send end-user.
hdrs=$(pod_exec default/curl-0 curl -sS --max-time 10 -D - -o /dev/null -d 'username=jason&passwd=x' \
	http://productpage:9080/login) || fail "login failed"
expect_contains "$hdrs" "302 Found"
cookie=$(printf '%s' "$hdrs" | tr -d '\r' | sed -n 's/^Set-Cookie: \(session=[^;]*\).*/\1/p')
[ -n "$cookie" ] || fail "login set no session cookie: $hdrs"
starred=
for i in $(seq 1 10); do
	html=$(page -H "Cookie: $cookie" -H "x-request-id: it-jason-$i") || fail "signed-in request failed"
	expect_contains "$html" "jason" "the page does not show the user"
	expect_contains "$html" "Sign out"
	case $html in *glyphicon-star*) starred=$i; break ;; esac
done
[ -n "$starred" ] || fail "10 signed-in pages, none from reviews v2 or v3"
wait_log 10 default/ratings-v1-0 "GET /ratings/0 200 .* end-user=jason x-request-id=it-jason-$starred\$" ||
	fail "end-user: jason did not reach ratings"
reviewer=$(grep -o 'reviews-v[23]-0' <<<"$html" | head -1)
wait_log 10 "default/$reviewer" "GET /reviews/0 200 .* end-user=jason x-request-id=it-jason-$starred\$" ||
	fail "end-user: jason did not reach $reviewer"

hdrs=$(pod_exec default/curl-0 curl -sS --max-time 10 -D - -o /dev/null -H "Cookie: $cookie" \
	http://productpage:9080/logout) || fail "logout failed"
expect_contains "$hdrs" "Max-Age=0" "logout does not clear the session"

# The sample's routing files name our hosts, subsets and labels: they apply without an error
# (with no waypoint serving the namespace, analyze says "not enforced yet").
if [ -d "$ISTIO_BOOKINFO/networking" ]; then
	for f in destination-rule-all.yaml virtual-service-all-v1.yaml virtual-service-reviews-test-v2.yaml \
		virtual-service-ratings-test-delay.yaml virtual-service-ratings-test-abort.yaml \
		virtual-service-reviews-50-v3.yaml virtual-service-reviews-80-20.yaml \
		virtual-service-reviews-90-10.yaml virtual-service-reviews-v3.yaml \
		virtual-service-reviews-jason-v2-v3.yaml virtual-service-reviews-v2-v3.yaml; do
		out=$(actl apply -f "$ISTIO_BOOKINFO/networking/$f" 2>&1) || fail "apply $f: $out"
		expect_not_contains "$out" "error" "$f"
	done
	for f in virtual-service-all-v1.yaml destination-rule-all.yaml; do
		out=$(actl delete -f "$ISTIO_BOOKINFO/networking/$f" 2>&1) || fail "delete $f: $out"
	done
else
	log "no $ISTIO_BOOKINFO/networking (set ISTIO_BOOKINFO to an Istio samples/bookinfo): the sample's files were not applied"
fi
html=$(page) || fail "productpage after the routing files"
expect_contains "$html" "Reviews served by"
pass
