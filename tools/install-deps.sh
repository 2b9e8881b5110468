#!/usr/bin/env bash
# Installs the Debian packages ambit needs to build, test and run the demo, only where missing.
# Used by `make deps` (and so by `make test`, `make demo`, `make bench`).
set -euo pipefail

pkgs=(
	# build
	clang llvm make gcc pkg-config bpftool libbpf-dev libelf-dev zlib1g-dev
	libssl-dev libyaml-dev libnghttp2-dev libcjson-dev libmicrohttpd-dev libcmocka-dev
	libcurl4-openssl-dev clang-format libpcre2-dev libxxhash-dev libmnl-dev
	# the event loop's io_uring (its epoll wait and the sends of a batch in one system call)
	liburing-dev
	# JOSE (JWK, JWS) for RequestAuthentication's JWTs
	libcjose-dev
	# DNS messages (the ztunnel's DNS proxy)
	libldns-dev
	# llhttp's C sources (the HTTP/1 parser of userspace/http/http1.c)
	node-llhttp
	# run: the local cluster's load balancers (nft in its fabric: LoadBalancer addresses)
	nftables
	# run: topology and workloads (python3: examples/bookinfo)
	iproute2 procps util-linux nginx-light curl openssl python3
	# tests: wire checks and transfers
	iperf3 tcpdump tshark socat
	# run: the local cluster's DNS (dnsmasq); tests and bench: DNS through the ztunnel's proxy
	# (dig), an upstream resolver (dnsmasq again), the load client (dnsperf)
	bind9-dnsutils dnsmasq-base dnsperf
	# ext_authz over gRPC: the CheckRequest/CheckResponse messages (proto/), C made by protoc-c
	libprotobuf-c-dev protobuf-c-compiler
	# tests: a real gRPC client and server through the waypoint (t_88), and the gRPC ext_authz
	# server of t_83 (its Python classes made by protoc at test time)
	python3-grpcio python3-protobuf protobuf-compiler
	# tests: HTTP/2 frames of the L7 conformance suite (tests/l7conf) decoded
	python3-hpack
	# tests: an HBONE client written from Istio ztunnel's wire, not from ours (t_41)
	python3-h2
	# tests: HTTP/3 over QUIC through the mesh's UDP (t_41): ngtcp2's example client and
	# server (gtlsclient, gtlsserver; Debian has no python3-aioquic in this release)
	ngtcp2-client ngtcp2-server
	# tests: `promtool check metrics` on the ztunnel's exposition (t_71)
	prometheus
	# bench (tools/bench): load generators, reference mTLS tunnels, report; system calls
	# counted per message (multicluster.sh, permsg.sh, l7-syscalls.sh)
	sockperf wrk stunnel4 nginx-light libnginx-mod-stream jq strace
	# bench (tools/bench/l7.sh): the reference L7 router; gateway.sh: nginx's JWT check (njs)
	haproxy libnginx-mod-http-js
	# `make image` and its test: podman build FROM scratch without a registry, run with runc (t_92)
	buildah podman runc
	# tests: the manifests checked offline against the Kubernetes API's models (t_94)
	python3-kubernetes
	# `ambitctl dashboard`: its libraries from npm (dashboard/package-lock.json), built by make;
	# its test drives Debian's headless Chromium (t_75)
	nodejs chromium
)
# tests: the libFuzzer runtime (make fuzz, make test) of the clang that builds the fuzz targets
# (clang-14 on Debian 12).
clang_major=$(clang -dumpversion 2>/dev/null | cut -d. -f1)
pkgs+=("libclang-rt-${clang_major:-14}-dev")

# npm comes with NodeSource's nodejs; with Debian's own nodejs it is a package of its own.
command -v npm >/dev/null 2>&1 || pkgs+=(npm)

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing packages: ${missing[*]}; run as root (sudo make ...)" >&2
	exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
