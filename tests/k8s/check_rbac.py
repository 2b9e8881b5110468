#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Who may read Secrets, by the RBAC objects of a rendering of deploy/ambit.yaml.tmpl.

    check_rbac.py FILE.yaml NAMESPACE CA_SECRET     exit 0 when it holds, 1 otherwise

Kubernetes' RBAC is additive and cannot narrow a grant by a Secret's type or a field: any rule
that covers the Secret NAMESPACE/CA_SECRET (the mesh's root key) lets its holder mint every
identity of the mesh. What must hold (issue 55):
  - no subject but the CA's service account (NAMESPACE/ambit-ca) has a rule, through any binding,
    covering that Secret for get, list or watch;
  - the node agents (ambit-node) read Secrets in istio-system only, and the waypoint controller
    (ambit-waypoints) none at all;
  - Istio's reader (istio-system/istio-reader-service-account), whose token leaves the cluster
    in remote secrets, reads no Secret and may do nothing but get, list and watch.
Each violation is printed as "<binding> gives <subject> <verbs> on <resources> in <where>".
"""
import sys

import yaml

READ = {"get", "list", "watch"}
READER = "ServiceAccount istio-system/istio-reader-service-account"


def covers(rule, verbs, name):
    """The verbs of @verbs @rule grants on secrets (named @name, or any when None)."""
    if not ({"", "*"} & set(rule.get("apiGroups") or [])):
        return set()
    if not ({"secrets", "*"} & set(rule.get("resources") or [])):
        return set()
    names = rule.get("resourceNames") or []
    if names and (name is None or name not in names):
        return set()
    granted = set(rule.get("verbs") or [])
    return set(verbs) if "*" in granted else set(verbs) & granted


def grants(docs):
    """(binding, subject, scope, rules): scope None is every namespace."""
    roles = {}
    for d in docs:
        if d.get("kind") in ("Role", "ClusterRole"):
            m = d.get("metadata", {})
            roles[(d["kind"], m.get("namespace") if d["kind"] == "Role" else None,
                   m.get("name"))] = d.get("rules") or []
    for d in docs:
        kind = d.get("kind")
        if kind not in ("RoleBinding", "ClusterRoleBinding"):
            continue
        m = d.get("metadata", {})
        ref = d.get("roleRef", {})
        ns = m.get("namespace") if kind == "RoleBinding" else None
        rk = ref.get("kind")
        rules = roles.get((rk, ns if rk == "Role" else None, ref.get("name")))
        if rules is None:
            continue
        for s in d.get("subjects") or []:
            who = "%s %s/%s" % (s.get("kind"), s.get("namespace", ""), s.get("name"))
            yield "%s %s" % (kind, m.get("name")), who, ns, rules


def check(docs, namespace, ca_secret):
    bad = []
    ca = "ServiceAccount %s/ambit-ca" % namespace
    node = "ServiceAccount %s/ambit-node" % namespace
    waypoints = "ServiceAccount %s/ambit-waypoints" % namespace
    for binding, who, scope, rules in grants(docs):
        where = scope or "every namespace"
        for r in rules:
            root = covers(r, READ, ca_secret) if scope in (None, namespace) else set()
            if root and who != ca:
                bad.append("%s gives %s %s on secrets in %s: the root key %s/%s among them"
                           % (binding, who, sorted(root), where, namespace, ca_secret))
            some = covers(r, READ, None)
            if who == waypoints and some:
                bad.append("%s gives %s %s on secrets in %s: it reads none"
                           % (binding, who, sorted(some), where))
            if who == node and some and scope != "istio-system":
                bad.append("%s gives %s %s on secrets in %s: istio-system's only"
                           % (binding, who, sorted(some), where))
            if who == READER and some:
                bad.append("%s gives %s %s on secrets in %s: it reads none"
                           % (binding, who, sorted(some), where))
            writes = set(r.get("verbs") or []) - READ
            if who == READER and writes:
                bad.append("%s gives %s %s on %s in %s: it only reads"
                           % (binding, who, sorted(writes), r.get("resources"), where))
    return bad


def main(argv):
    if len(argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[1]) as f:
        docs = [d for d in yaml.safe_load_all(f) if isinstance(d, dict)]
    if not any(d.get("kind") == "ClusterRoleBinding" for d in docs):
        print("%s: no ClusterRoleBinding: not a rendering of ambit.yaml.tmpl" % argv[1])
        return 1
    bad = check(docs, argv[2], argv[3])
    for b in bad:
        print(b)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
