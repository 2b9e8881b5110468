#!/usr/bin/env bash
# Fails when a library seam leaks (STYLE.md rule 8): OpenSSL is included only by the runtime's
# seam (userspace/tls/{tls,tls_hello,ca,crypto}.c, declared in tls.h, ca.h, crypto.h), nghttp2
# only by the HTTP/2 modules and protobuf-c only by the codecs of proto/'s messages: ext_authz's
# gRPC (waypoint/extauthz_grpc.c), OTLP's export (waypoint/trace.c) and OTLP's receipt
# (userspace/dashboard/traces.c). The contract's codec benchmark (tools/bench/wire/) measures a
# protobuf mirror of the snapshot beside the JSON that ships. Tests and hbone-probe are exempt on
# purpose: they check our
# certificates and HBONE with OpenSSL and nghttp2 directly, independently of the code under test.
set -u
cd "$(dirname "$0")/.."
bad=0
check() { # LIBRARY-INCLUDE-PREFIX ALLOWED-REGEX SEAM-DESCRIPTION
	local f
	for f in $(git grep -l "#include <$1" -- '*.c' '*.h'); do
		[[ $f =~ ^tests/ || $f == tools/hbone-probe.c || $f =~ $2 ]] && continue
		echo "seam-check: $f includes <$1...>: use $3 instead"
		bad=$((bad + 1))
	done
}
check openssl/ '^userspace/tls/(tls|tls_hello|ca|crypto)\.c$' 'userspace/tls/{tls,ca,crypto}.h'
check nghttp2/ '^userspace/http/h2_(conn|stream|server)\.c$|^userspace/http/h2_priv\.h$' 'the HTTP/2 layer (userspace/http/h2.h)'
# protobuf-c and the C it generates from proto/: one codec per protocol.
for f in $(git grep -l -E '#include [<"](protobuf-c/|.*\.pb-c\.h)' -- '*.c' '*.h'); do
	[[ $f =~ ^tests/ || $f =~ ^tools/bench/wire/ ||
		$f =~ ^(waypoint/(extauthz_grpc|trace)|userspace/dashboard/traces)\.c$ ]] &&
		continue
	echo "seam-check: $f includes protobuf-c's: use waypoint/extauthz_grpc.h, waypoint/trace.h" \
		"or dashboard.h instead"
	bad=$((bad + 1))
done
[ $bad -eq 0 ] && echo "seam-check: OpenSSL, nghttp2 and protobuf-c stay behind their seams"
[ $bad -eq 0 ]
