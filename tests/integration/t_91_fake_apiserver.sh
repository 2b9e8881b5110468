#!/usr/bin/env bash
# The fake Kubernetes API server for tests (tests/k8s/fake_apiserver.py, tests/k8s/README.md):
# its unittest file, each case against a server of its own (lists, selectors, chunking and 410
# on compaction, watches with bookmarks and 410 ERROR events, dropped watches, writes, Status
# shapes, 401, TokenReview), its streams and its RBAC. The kubectl checks are
# tests/k8s/kubectl_check.sh (kubectl is no Debian package here). No local cluster, no root needed.
. "$(dirname "$0")/lib.sh"
need_cmd /usr/bin/python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
/usr/bin/python3 "$REPO/tests/k8s/test_fake_apiserver.py" 2>"$tmp/unit.err" ||
	fail "test_fake_apiserver.py: $(tail -30 "$tmp/unit.err")"
log "$(grep -E '^Ran [0-9]+ tests' "$tmp/unit.err")"
# Its streaming subresources (tests/k8s/fake_streams.py): SPDY framing and hostile frames,
# pods/log, exec and portforward with a stand-in pod.
/usr/bin/python3 -W ignore "$REPO/tests/k8s/test_fake_streams.py" 2>"$tmp/streams.err" ||
	fail "test_fake_streams.py: $(tail -30 "$tmp/streams.err")"
log "streams: $(grep -E '^Ran [0-9]+ tests' "$tmp/streams.err")"
# Its RBAC authorizer (tests/k8s/fake_rbac.py): bindings, rules, the 403's Status.
/usr/bin/python3 "$REPO/tests/k8s/test_fake_rbac.py" 2>"$tmp/rbac.err" ||
	fail "test_fake_rbac.py: $(tail -30 "$tmp/rbac.err")"
log "rbac: $(grep -E '^Ran [0-9]+ tests' "$tmp/rbac.err")"
pass
