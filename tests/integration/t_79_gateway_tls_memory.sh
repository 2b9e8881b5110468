#!/usr/bin/env bash
# The gateway's memory after a flood of TLS handshakes goes back to the system: thousands of
# clients complete a handshake at once and hold their connections, then all go; the gateway's
# RSS rose by tens of MB (OpenSSL's record buffers and ours, on its worker's malloc arena) and,
# once they are gone, falls back to within a quarter of that rise above what it was before
# (glibc kept every page until memtrim gave them back). The same for connections that never
# begin a handshake. Memory bounds only: the rise and the fall are waited for with a generous
# deadline. The gateway on its own, in a network namespace of its own.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/gateway_standalone_lib.sh"
gw_standalone_setup "$@"
FLOOD=${FLOOD:-3000}

python3 -m http.server --bind 127.0.0.2 18080 --directory "$tmp" >/dev/null 2>&1 &
pids+=($!)
echo backend >"$tmp/index.txt"
wait_for 20 curl -sf http://127.0.0.2:18080/index.txt || fail "the backend is not up"
world() { gw_world "$1"; }
gw_start "  - {port: {number: 18443, name: https, protocol: HTTPS}, hosts: [gw.test], tls: {mode: SIMPLE, credentialName: cred}}"
get() { curl -s --max-time 5 --cacert "$tmp/cert.pem" --resolve gw.test:18443:127.0.0.1 "$@" https://gw.test:18443/index.txt; }
wait_for 10 get -o /dev/null || fail "the gateway does not answer on 18443"
for _ in $(seq 20); do get -o /dev/null; done
kib() { awk -v k="$1:" '$1 == k {print $2}' "/proc/$gw_pid/status"; }
before=$(kib VmRSS)

# FLOOD clients at once (500 handshakes in flight at a time), each holding its connection
# until all are up, then all closed.
cat >"$tmp/flood.py" <<'PY'
import asyncio, ssl, sys
n = int(sys.argv[1])
ctx = ssl.create_default_context(cafile=sys.argv[2])
held, failed = [], []
async def one(sem):
    async with sem:
        try:
            _, w = await asyncio.wait_for(
                asyncio.open_connection("127.0.0.1", 18443, ssl=ctx, server_hostname="gw.test"), 60)
            held.append(w)
        except Exception as e:
            failed.append(repr(e))
async def main():
    sem = asyncio.Semaphore(500)
    await asyncio.gather(*[one(sem) for _ in range(n)])
    for w in held:
        w.transport.abort()
    print(len(held), len(failed), failed[:1])
asyncio.run(main())
PY
read -r made failed why < <(python3 "$tmp/flood.py" "$FLOOD" "$tmp/cert.pem") || fail "the flood client failed"
[ "$made" -ge $((FLOOD * 9 / 10)) ] || fail "only $made of $FLOOD handshakes completed ($failed failed: $why)"
peak=$(kib VmHWM)
log "RSS before the flood ${before} KiB, at its height ${peak} KiB ($made handshakes)"
# The flood must have cost something to give back (some 25 KiB a connection).
[ $((peak - before)) -ge $((FLOOD * 10)) ] ||
	fail "the flood grew the gateway's memory by only $((peak - before)) KiB: nothing to judge"
bound=$((before + (peak - before) / 4))
back() { [ "$(kib VmRSS)" -le "$bound" ]; }
wait_for 60 back || fail "RSS still $(kib VmRSS) KiB after the flood (before: $before, height: $peak, bound: $bound)"
log "RSS after the flood $(kib VmRSS) KiB (bound $bound KiB)"
expect_eq "$(get)" backend "a request after the flood"

# Connections that never begin their handshake (connflood: connect, then silence), held
# for a few seconds: counted as well, their memory back once they are gone.
[ -x "$REPO/build/connflood" ] || fail "build/connflood not built (make)"
before=$(kib VmRSS)
"$REPO/build/connflood" 127.0.0.1:18443 "$FLOOD" 5 >"$tmp/connflood.out" &
cf=$!
rose() { [ "$(kib VmRSS)" -ge $((before + FLOOD * 5)) ]; }
wait_for 60 rose || fail "$FLOOD silent connections did not grow the RSS ($(kib VmRSS) KiB from $before)"
wait "$cf" || fail "connflood failed: $(cat "$tmp/connflood.out")"
peak=$(kib VmRSS)
bound=$((before + (peak - before) / 4))
wait_for 60 back || fail "RSS still $(kib VmRSS) KiB after the silent connections (before: $before, held: $peak, bound: $bound)"
log "silent connections: RSS ${before} KiB, ${peak} KiB held, $(kib VmRSS) KiB after"
expect_eq "$(get)" backend "a request after the silent connections"
pass
