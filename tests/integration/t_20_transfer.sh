#!/usr/bin/env bash
# 100 MB through the mesh, both directions, byte-identical (with half-close at the end of each).
. "$(dirname "$0")/lib.sh"
need_root; need_bins; need_cmd socat openssl sha256sum
cluster_up manifests
wait_for 30 pod_exec mesh/client-0 curl -sf --max-time 2 http://server/ || fail "server never answered"

size=$((100 * 1024 * 1024))
gen="head -c $size /dev/zero | openssl enc -aes-128-ctr -K 00112233445566778899aabbccddeeff -iv 0 -nosalt"
want=$(bash -c "$gen" | sha256sum | cut -d' ' -f1)

up=$(pod_exec mesh/client-0 bash -c "{ echo UP; $gen; } | socat -t 60 -T 120 - TCP:server:9000") ||
	fail "upload failed"
expect_eq "$up" "$want" "upload checksum (client -> server)"
down=$(pod_exec mesh/client-0 bash -c "echo 'DOWN $size' | socat -t 60 -T 120 - TCP:server:9000 | sha256sum | cut -d' ' -f1") ||
	fail "download failed"
expect_eq "$down" "$want" "download checksum (server -> client)"

m2=$(node_metrics node2)
recv=$(metric_sum "$m2" istio_tcp_received_bytes_total 'reporter="destination"' 'destination_workload="server"')
sent=$(metric_sum "$m2" istio_tcp_sent_bytes_total 'reporter="destination"' 'destination_workload="server"')
log "node2 counted received=$recv sent=$sent bytes"
[ "${recv%.*}" -ge "$size" ] && [ "${sent%.*}" -ge "$size" ] || fail "byte metrics below the transfer size"
pass
