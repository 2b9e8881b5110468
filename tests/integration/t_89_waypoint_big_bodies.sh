#!/usr/bin/env bash
# A real HTTP proxy streams (issue: "a 1 GB upload and download pass byte-exact in bounded
# memory"): build/waypoint as a process on loopback, a 1 GiB file of random bytes down and up
# through it, over HTTP/1.1 (Content-Length and chunked) and HTTP/2 (prior knowledge; the
# backend speaks HTTP/1.1), then over TLS (--listen-tls: HTTP/1.1 and HTTP/2 by ALPN), each
# checked by SHA-256 at the far end; the waypoint's peak RSS stays a small bound while it does
# (backpressure, not buffering). A plaintext client on the TLS port gets no answer.
. "$(dirname "$0")/lib.sh"
need_cmd python3 curl sha256sum openssl
WAYPOINT=$REPO/build/waypoint
for b in "$AMBITCTL" "$WAYPOINT"; do
	[ -x "$b" ] || fail "$b not built (make)"
done
tmp=$(mktemp -d)
pids=()
cleanup() {
	# A failed transfer leaves what the waypoint said, to tell a stall from a refusal.
	if [ "${LIB_RC:-}" != 0 ] && [ -f "$tmp/waypoint.log" ]; then
		log "waypoint log (tail):"
		tail -20 "$tmp/waypoint.log" >&2
		tail -5 "$tmp/access.log" >&2
	fi
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	rm -rf "$tmp"
}
trap cleanup EXIT
SIZE=$((1 << 30))
RSS_BOUND_MB=64

FREE_PORTS_FILE=$tmp/ports
read -r be lp ap tp < <(free_ports 4)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=files \
	-addext subjectAltName=DNS:files -keyout "$tmp/key.pem" -out "$tmp/cert.pem" 2>/dev/null ||
	fail "openssl could not make a certificate"

mkdir -p "$tmp/www"
head -c "$SIZE" /dev/urandom >"$tmp/www/big.bin" || fail "cannot make the 1 GiB file"
want=$(sha256sum <"$tmp/www/big.bin" | cut -d' ' -f1)
python3 "$REPO/tests/integration/bin/bigbody_backend.py" "$be" "$tmp/www" >"$tmp/backend.log" 2>&1 &
pids+=($!)

. "$REPO/tools/waypoint-world.sh"
{
	wp_world it
	wp_service it files "{app: files}" "[{name: http, port: 80, targetPort: $be}]"
	wp_pod it files-1 127.0.0.1 "{app: files}"
} >"$tmp/world.yaml"
actl waypoint config -f "$tmp/world.yaml" -n it --name wp >"$tmp/l7.json" || fail "waypoint config"
"$WAYPOINT" --config "$tmp/l7.json" --listen "127.0.0.1:$lp=files.it.svc.cluster.local:80" \
	--listen-tls "127.0.0.1:$tp=files.it.svc.cluster.local:80" \
	--tls-cert "$tmp/cert.pem" --tls-key "$tmp/key.pem" \
	--admin "127.0.0.1:$ap" --workers 2 >"$tmp/access.log" 2>"$tmp/waypoint.log" &
wp_pid=$!
pids+=($wp_pid)
wait_for 10 curl -sf "http://127.0.0.1:$ap/healthz/ready" || fail "the waypoint is not ready"
wait_for 10 curl -sf -o /dev/null -r 0-0 "http://127.0.0.1:$be/big.bin" || fail "the backend is not up"

URL=http://127.0.0.1:$lp
TLS=(--cacert "$tmp/cert.pem" --resolve "files:$tp:127.0.0.1")
# Over TLS first, small: the certificate verifies, ALPN picks the protocol; a plaintext request
# to the TLS port gets no HTTP answer.
echo small >"$tmp/www/small.txt"
out=$(curl -sS --max-time 20 "${TLS[@]}" --http1.1 -w ' %{http_version}' "https://files:$tp/small.txt" -o /dev/null) ||
	fail "HTTPS request failed: $out"
expect_eq "$out" " 1.1" "ALPN http/1.1"
out=$(curl -sS --max-time 20 "${TLS[@]}" --http2 -w ' %{http_version}' "https://files:$tp/small.txt" -o /dev/null) ||
	fail "HTTPS h2 request failed: $out"
expect_eq "$out" " 2" "ALPN h2"
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -H 'Host: files' "http://127.0.0.1:$tp/small.txt")
expect_eq "$code" "000" "plaintext to the TLS port"
# A transfer that stalls (under 64 KB/s for 30 s) ends with curl's error, not a hung test; ten
# minutes is the most any one of them may take.
BOUND=(--speed-limit 65536 --speed-time 30 --max-time 600)
down() { # curl options...: the SHA-256 of what came back
	curl -sS --fail "${BOUND[@]}" "$@" -H 'Host: files' "$URL/big.bin" | sha256sum | cut -d' ' -f1
}
up() { # curl options...: what the backend says it got
	curl -sS --fail "${BOUND[@]}" "$@" -H 'Host: files' "$URL/up"
}
expect_eq "$(down)" "$want" "1 GiB down, HTTP/1.1 (Content-Length)"
expect_eq "$(down --http2-prior-knowledge)" "$want" "1 GiB down, HTTP/2"
expect_eq "$(up -T "$tmp/www/big.bin")" "$SIZE $want" "1 GiB up, HTTP/1.1 (Content-Length)"
expect_eq "$(up -T - -H 'Transfer-Encoding: chunked' <"$tmp/www/big.bin")" "$SIZE $want" \
	"1 GiB up, HTTP/1.1 (chunked)"
expect_eq "$(up --http2-prior-knowledge -T "$tmp/www/big.bin")" "$SIZE $want" "1 GiB up, HTTP/2"
URL=https://files:$tp
expect_eq "$(down "${TLS[@]}" --http1.1)" "$want" "1 GiB down, HTTPS HTTP/1.1"
expect_eq "$(down "${TLS[@]}" --http2)" "$want" "1 GiB down, HTTPS HTTP/2"
expect_eq "$(up "${TLS[@]}" --http1.1 -T "$tmp/www/big.bin")" "$SIZE $want" "1 GiB up, HTTPS HTTP/1.1"
n=$(grep -c '"\(GET /big.bin\|PUT /up\) HTTP/[12.]*" 200 - via_upstream' "$tmp/access.log")
[ "$n" -eq 8 ] || fail "the access log has $n of the 8 transfers: $(tail -5 "$tmp/access.log")"
# 8 GiB passed; the waypoint never held more than a small bound of it.
hwm=$(awk '/^VmHWM:/ { print int($2 / 1024) }' "/proc/$wp_pid/status")
log "waypoint peak RSS after 8 GiB through it: $hwm MB (bound $RSS_BOUND_MB MB)"
[ "$hwm" -le "$RSS_BOUND_MB" ] || fail "the waypoint's peak RSS reached $hwm MB"
pass
