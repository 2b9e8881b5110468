#!/usr/bin/env bash
# The demo's client pod: one GET a second, one line per request with the answer or the error.
set -u
url=${1:-http://web/}
while :; do
	body=$(curl -sS -m 3 "$url" 2>&1)
	if [ $? -eq 0 ]; then
		echo "$(date +%T) $POD_NAMESPACE/$POD_NAME GET $url -> ok: $body"
	else
		echo "$(date +%T) $POD_NAMESPACE/$POD_NAME GET $url -> FAILED: $body"
	fi
	sleep 1
done
