#!/usr/bin/env bash
# Inspection: ambitctl workloads/services/certs/connections/metrics say what the mesh does, and
# `ambitctl maps -o json` is exactly what bpftool dumps from the pinned, BTF-typed maps.
. "$(dirname "$0")/lib.sh"
need_root; need_bins; need_cmd jq bpftool
cluster_up manifests
wait_for 30 pod_exec mesh/client-0 curl -sf --max-time 2 http://server/ || fail "server never answered"

out=$(actl workloads) || fail "workloads"
expect_contains "$out" "spiffe://cluster.local/ns/mesh/sa/client"
expect_contains "$out" "not labelled istio.io/dataplane-mode=ambient" "why plain pods are out"
[ "$(printf '%s\n' "$out" | grep -c -- '-0 ')" -eq 5 ] || fail "workloads should list 5 pods: $out"
out=$(actl services) || fail "services"
expect_contains "$out" "80->8080,9000->9000"
out=$(actl certs) || fail "certs"
expect_contains "$out" "spiffe://cluster.local/ns/mesh/sa/client       node1"
printf "%s\n" "$out" | grep -Eq " 2[34]h[0-9]+m" || fail "24 h certificates expected: $out"

# A held connection shows on both ztunnels with both identities.
pod_exec mesh/client-0 bash -c 'exec 3<>/dev/tcp/server/9000; sleep 4' &
held=$!
wait_for 5 bash -c '"$1" connections --name "$2" | grep -q "dst=.*:9000.*direction=inbound"' _ "$AMBITCTL" "$CLUSTER" ||
	fail "held connection not listed: $(actl connections)"
out=$(actl connections)
expect_contains "$out" "srcIdentity=spiffe://cluster.local/ns/mesh/sa/client"
expect_contains "$out" "direction=outbound"
wait $held
# The DNS proxy has handed answers to the kernel by now (the pods looked "server" up).
pod_exec mesh/client-0 getent hosts server >/dev/null || fail "server does not resolve"

# ambitctl maps -o json against bpftool's BTF-formatted dump, map by map.
json=$(actl maps -o json) || fail "maps -o json"
for node in node1 node2; do
	for m in workloads enrolled_cgrp pod_ifaces services backends counters dns_answers node_cfg; do
		a=$(printf '%s' "$json" | jq -S --arg n "$node" --arg m "$m" '.[$n][$m] | sort_by(.key | tostring)')
		b=$(bpftool map dump pinned "$(pin_path "$node" "$m")" -j | jq -S '[.[].formatted] | sort_by(.key | tostring)')
		if [ "$m" = counters ] || [ "$m" = dns_answers ]; then
			# Counters (and answers' hits) move between the two reads: compare keys only.
			a=$(printf '%s' "$a" | jq -c '[.[].key]'); b=$(printf '%s' "$b" | jq -c '[.[].key]')
		fi
		[ "$a" = "$b" ] || fail "$node/$m: ambitctl maps differs from bpftool:\n$a\n---\n$b"
	done
	[ "$(printf '%s' "$json" | jq --arg n "$node" '.[$n].workloads | length')" -eq 5 ] || fail "$node workloads"
done
[ "$(printf '%s' "$json" | jq '[.[].dns_answers | length] | add')" -gt 0 ] ||
	fail "no DNS answer in the kernel to compare"
out=$(actl maps) || fail "maps"
expect_contains "$out" "mesh/client-0"
expect_contains "$out" "drop_spoofed_source"

m=$(node_metrics node2)
for l in reporter source_workload source_workload_namespace source_principal source_app \
	source_version source_cluster destination_service destination_service_namespace \
	destination_service_name destination_workload destination_workload_namespace \
	destination_principal destination_app destination_version destination_cluster \
	request_protocol response_flags connection_security_policy; do
	printf '%s\n' "$m" | grep '^istio_tcp_connections_opened_total{' | grep -q "[{,]$l=\"" ||
		fail "metric label $l missing"
done
pass
