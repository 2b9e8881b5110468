#!/usr/bin/env bash
# The tutorials' kubectl commands against the fake Kubernetes API server, with both kubectls a
# user of `local up --kube` may have: /usr/bin/kubectl (1.32 here) and Debian 12's
# kubernetes-client (1.20), fetched with `apt-get download` into a scratch directory and unpacked
# there, never installed. tests/k8s/kubectl_conformance.sh runs the commands (apply with the
# default validation, get's columns, describe's events, label, scale, rollout restart, wait,
# api-resources, delete -f, delete namespace) and checks what kubectl prints.
# No local cluster; root only for apt-get.
. "$(dirname "$0")/lib.sh"
need_cmd /usr/bin/python3 openssl curl apt-get dpkg-deb
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

kubectls=()
[ -x /usr/bin/kubectl ] && kubectls+=(/usr/bin/kubectl)
k=$(kubectl_debian "$tmp") || exit 1
kubectls+=("$k")

bash "$REPO/tests/k8s/kubectl_conformance.sh" "${kubectls[@]}" || fail "kubectl_conformance.sh"
pass
