#!/usr/bin/python3
"""Unit tests of tests/k8s/fake_rbac.py through a fake API server of their own (token table
auth, as `local up --kube` runs it): bindings of each kind and their subjects, groups, Roles
in their namespace only, resourceNames on get against list and watch, subresources, verbs,
cluster-scoped objects, non-resource URLs and the default discovery roles, system:masters,
impersonation, access reviews, and the 403's exact Status. Run from
tests/integration/t_91_fake_apiserver.sh."""
import http.client
import json
import os
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import fake_rbac  # noqa: E402

ADMIN = "admin-token"
NODE_SA = "system:serviceaccount:ambit-system:ambit-node"
USERS = {
    "node-token": {"username": NODE_SA,
                   "groups": ["system:serviceaccounts", "system:serviceaccounts:ambit-system",
                              "system:authenticated"]},
    "alice-token": {"username": "alice", "groups": ["devs"]},
    "bob-token": {"username": "bob"},
    "root-token": {"username": "root", "groups": ["system:masters"]},
}
RBAC = "/apis/rbac.authorization.k8s.io/v1"


def pb(num, payload):
    """One length-delimited protobuf field (payloads here are under 128 bytes)."""
    payload = payload.encode() if isinstance(payload, str) else payload
    return bytes([num << 3 | 2, len(payload)]) + payload


class FakeRbacTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        port_file = os.path.join(self.tmp.name, "port")
        table = os.path.join(self.tmp.name, "tokens.json")
        with open(table, "w") as fh:
            json.dump({"kind": "FakeTokenTable", "tokens": USERS}, fh)
        self.log_path = os.path.join(self.tmp.name, "api.log")
        with open(self.log_path, "w") as log:
            self.proc = subprocess.Popen(
                [sys.executable, os.path.join(HERE, "fake_apiserver.py"), "--listen",
                 "127.0.0.1:0", "--port-file", port_file, "--token", ADMIN, "--token-table-auth",
                 "--load", table], stderr=log)
        for _ in range(200):
            if os.path.exists(port_file) or self.proc.poll() is not None:
                break
            time.sleep(0.05)
        self.assertIsNone(self.proc.poll(), "fake_apiserver.py exited at start")
        with open(port_file) as fh:
            self.port = int(fh.read())
        for ns in ("ambit-system", "shop", "other"):
            self.admin("POST", "/api/v1/namespaces", {"metadata": {"name": ns}})
        for ns, name in (("ambit-system", "ambit-ca-root"), ("shop", "tls")):
            self.admin("POST", f"/api/v1/namespaces/{ns}/secrets",
                       {"metadata": {"name": name}, "data": {}})
        for ns in ("shop", "other"):
            for name in ("istio", "plain"):
                self.admin("POST", f"/api/v1/namespaces/{ns}/configmaps",
                           {"metadata": {"name": name}, "data": {}})

    def tearDown(self):
        self.proc.kill()
        self.proc.wait()
        self.tmp.cleanup()

    def request(self, method, path, body=None, token=ADMIN, headers=None,
                ctype="application/json"):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        h = {"Content-Type": ctype, "Authorization": f"Bearer {token}"}
        h.update(headers or {})
        if body is not None and not isinstance(body, bytes):
            body = json.dumps(body)
        conn.request(method, path, body, h)
        resp = conn.getresponse()
        raw = resp.read()
        conn.close()
        try:
            return resp.status, json.loads(raw)
        except ValueError:
            return resp.status, raw

    def admin(self, method, path, body=None):
        status, doc = self.request(method, path, body)
        self.assertIn(status, (200, 201), f"{method} {path}: {doc}")
        return doc

    def code(self, method, path, token, body=None, **kw):
        return self.request(method, path, body, token=token, **kw)[0]

    def role(self, kind, name, rules, ns=None):
        plural = "clusterroles" if kind == "ClusterRole" else "roles"
        where = f"{RBAC}/namespaces/{ns}/{plural}" if ns else f"{RBAC}/{plural}"
        self.admin("POST", where, {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind,
                                   "metadata": {"name": name}, "rules": rules})

    def bind(self, name, role_kind, role, subjects, ns=None):
        kind = "RoleBinding" if ns else "ClusterRoleBinding"
        where = f"{RBAC}/namespaces/{ns}/rolebindings" if ns else f"{RBAC}/clusterrolebindings"
        self.admin("POST", where, {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind,
                                   "metadata": {"name": name},
                                   "roleRef": {"apiGroup": "rbac.authorization.k8s.io",
                                               "kind": role_kind, "name": role},
                                   "subjects": subjects})

    def sa(self, ns="ambit-system", name="ambit-node"):
        return [{"kind": "ServiceAccount", "name": name, "namespace": ns}]

    # ---- the refusal ----

    def test_forbidden_status_as_the_real_server(self):
        status, doc = self.request("GET", "/api/v1/namespaces/ambit-system/secrets/ambit-ca-root",
                                   token="node-token")
        self.assertEqual(status, 403)
        self.assertEqual(doc, {
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": 'secrets "ambit-ca-root" is forbidden: User "system:serviceaccount:'
                       'ambit-system:ambit-node" cannot get resource "secrets" in API group "" '
                       'in the namespace "ambit-system"',
            "reason": "Forbidden", "details": {"name": "ambit-ca-root", "kind": "secrets"},
            "code": 403})
        status, doc = self.request("GET", "/api/v1/secrets", token="node-token")
        self.assertEqual(status, 403)
        self.assertEqual(doc["message"], f'secrets is forbidden: User "{NODE_SA}" cannot list '
                         'resource "secrets" in API group "" at the cluster scope')
        self.assertEqual(doc["details"], {"kind": "secrets"})
        with open(self.log_path) as fh:  # each refusal is in the server's log
            self.assertIn('fake_apiserver: forbidden: secrets "ambit-ca-root" is forbidden: User '
                          f'"{NODE_SA}" cannot get resource', fh.read())
        status, doc = self.request("GET", "/apis/apps/v1/namespaces/shop/deployments?watch=1",
                                   token="bob-token")
        self.assertEqual(doc["message"], 'deployments.apps is forbidden: User "bob" cannot '
                         'watch resource "deployments" in API group "apps" in the namespace '
                         '"shop"')
        self.assertEqual(doc["details"], {"kind": "deployments", "group": "apps"})
        # Authorized before it is routed: a path not served is 403 too, not 404.
        self.assertEqual(self.code("GET", "/api/v1/namespaces/shop/nothings", "bob-token"), 403)

    def test_unknown_token_is_401_not_403(self):
        self.assertEqual(self.code("GET", "/api/v1/pods", "nobody"), 401)

    # ---- bindings and subjects ----

    def test_cluster_role_binding_to_a_service_account(self):
        self.role("ClusterRole", "pod-reader", [{"apiGroups": [""], "resources": ["pods"],
                                                 "verbs": ["get", "list", "watch"]}])
        self.bind("pod-reader", "ClusterRole", "pod-reader", self.sa())
        for path in ("/api/v1/pods", "/api/v1/namespaces/shop/pods",
                     "/api/v1/pods?watch=1&timeoutSeconds=1"):
            self.assertEqual(self.code("GET", path, "node-token"), 200, path)
        self.assertEqual(self.code("GET", "/api/v1/namespaces/shop/pods/nope", "node-token"), 404)
        self.assertEqual(self.code("POST", "/api/v1/namespaces/shop/pods", "node-token",
                                   {"metadata": {"name": "p"}}), 403)
        # Another account of the same name elsewhere is another subject.
        self.assertEqual(self.code("GET", "/api/v1/pods", "bob-token"), 403)
        self.bind("wrong-ns", "ClusterRole", "pod-reader", self.sa(ns="shop"))
        self.assertEqual(self.code("GET", "/api/v1/pods", "alice-token"), 403)

    def token_request(self, ns, name, spec=None, token=ADMIN):
        return self.request("POST", f"/api/v1/namespaces/{ns}/serviceaccounts/{name}/token",
                            {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                             "spec": spec or {}}, token=token)

    def test_token_request(self):
        """A TokenRequest's token is its service account's, RBAC says what it may do, and it
        is good while that account is there (the reader role of Istio's remote secrets)."""
        self.admin("POST", "/api/v1/namespaces/ambit-system/serviceaccounts",
                   {"metadata": {"name": "reader"}})
        self.role("ClusterRole", "reader", [{"apiGroups": [""], "resources": ["pods"],
                                             "verbs": ["get", "list", "watch"]}])
        self.bind("reader", "ClusterRole", "reader", self.sa(name="reader"))
        status, doc = self.token_request("ambit-system", "reader",
                                         {"expirationSeconds": 365 * 24 * 3600})
        self.assertEqual(status, 201, doc)
        self.assertEqual((doc["kind"], doc["apiVersion"]),
                         ("TokenRequest", "authentication.k8s.io/v1"))
        self.assertEqual(doc["metadata"], {"name": "reader", "namespace": "ambit-system",
                                           "creationTimestamp": None})
        self.assertEqual(doc["spec"]["expirationSeconds"], 365 * 24 * 3600)
        self.assertEqual(doc["spec"]["audiences"], ["https://kubernetes.default.svc"])
        self.assertRegex(doc["status"]["expirationTimestamp"], r"^\d{4}-\d\d-\d\dT.*Z$")
        tok = doc["status"]["token"]
        self.assertEqual(len(tok.split(".")), 3)  # a JWT's shape
        # Its own user, authorized as every other token: pods yes, secrets and writes no.
        self.assertEqual(self.code("GET", "/api/v1/pods", tok), 200)
        status, doc = self.request("GET", "/api/v1/secrets", token=tok)
        self.assertEqual(status, 403)
        self.assertEqual(doc["message"], 'secrets is forbidden: User "system:serviceaccount:'
                         'ambit-system:reader" cannot list resource "secrets" in API group "" '
                         'at the cluster scope')
        self.assertEqual(self.code("POST", "/api/v1/namespaces/shop/pods", tok,
                                   {"metadata": {"name": "p"}}), 403)
        # A token may not make tokens unless RBAC says so (create serviceaccounts/token).
        self.assertEqual(self.token_request("ambit-system", "reader", token=tok)[0], 403)
        status, doc = self.request("POST", "/apis/authentication.k8s.io/v1/tokenreviews",
                                   {"apiVersion": "authentication.k8s.io/v1",
                                    "kind": "TokenReview", "spec": {"token": tok}})
        user = doc["status"]["user"]
        self.assertEqual(user["username"], "system:serviceaccount:ambit-system:reader")
        self.assertEqual(user["groups"], ["system:serviceaccounts",
                                          "system:serviceaccounts:ambit-system",
                                          "system:authenticated"])
        # Each request a new token; each good on its own.
        other = self.token_request("ambit-system", "reader")[1]["status"]["token"]
        self.assertNotEqual(other, tok)
        self.assertEqual(self.code("GET", "/api/v1/pods", other), 200)
        # For another audience: not the API server's to take.
        aud = self.token_request("ambit-system", "reader",
                                 {"audiences": ["vault"]})[1]["status"]["token"]
        self.assertEqual(self.code("GET", "/api/v1/pods", aud), 401)
        # The account deleted (and made again: another uid), its tokens are no more.
        self.admin("DELETE", "/api/v1/namespaces/ambit-system/serviceaccounts/reader")
        self.admin("POST", "/api/v1/namespaces/ambit-system/serviceaccounts",
                   {"metadata": {"name": "reader"}})
        self.assertEqual(self.code("GET", "/api/v1/pods", tok), 401)
        # What the real server refuses.
        status, doc = self.token_request("ambit-system", "nobody")
        self.assertEqual((status, doc["message"]),
                         (404, 'serviceaccounts "nobody" not found'))
        status, doc = self.token_request("ambit-system", "reader", {"expirationSeconds": 60})
        self.assertEqual(status, 422)
        self.assertEqual(doc["message"], 'TokenRequest.authentication.k8s.io "reader" is '
                         'invalid: spec.expirationSeconds: Invalid value: 60: may not specify '
                         'a duration less than 10 minutes')
        self.assertEqual(self.code("GET", "/api/v1/namespaces/ambit-system/serviceaccounts/"
                                   "reader/token", ADMIN), 405)
        self.assertEqual(self.code("POST", "/api/v1/namespaces/shop/configmaps/istio/token",
                                   ADMIN, {}), 404)

    def test_token_request_bound_to_a_pod(self):
        """boundObjectRef: the token goes with the Pod it is bound to."""
        self.admin("POST", "/api/v1/namespaces/shop/serviceaccounts", {"metadata": {"name": "a"}})
        self.bind("a", "ClusterRole", "cluster-admin", self.sa(ns="shop", name="a"))
        self.admin("POST", "/api/v1/namespaces/shop/pods",
                   {"metadata": {"name": "p"},
                    "spec": {"containers": [{"name": "c", "image": "i"}]}})
        status, doc = self.token_request("shop", "a", {"boundObjectRef": {
            "apiVersion": "v1", "kind": "Pod", "name": "p"}})
        self.assertEqual(status, 201, doc)
        tok = doc["status"]["token"]
        self.assertEqual(self.code("GET", "/api/v1/pods", tok), 200)
        self.admin("DELETE", "/api/v1/namespaces/shop/pods/p")
        self.assertEqual(self.code("GET", "/api/v1/pods", tok), 401)
        status, doc = self.token_request("shop", "a", {"boundObjectRef": {"kind": "ConfigMap",
                                                                          "name": "istio"}})
        self.assertEqual(status, 422)
        self.assertIn('spec.boundObjectRef.kind: Unsupported value: "ConfigMap"', doc["message"])

    def test_role_binding_grants_in_its_namespace_only(self):
        self.role("Role", "cm", [{"apiGroups": [""], "resources": ["configmaps"],
                                  "verbs": ["get"]}], ns="shop")
        # A ServiceAccount subject with no namespace is the binding's namespace's.
        self.bind("cm", "Role", "cm", [{"kind": "ServiceAccount", "name": "ambit-node"},
                                        {"kind": "User", "name": "alice"}], ns="shop")
        self.assertEqual(self.code("GET", "/api/v1/namespaces/shop/configmaps/plain",
                                   "alice-token"), 200)
        self.assertEqual(self.code("GET", "/api/v1/namespaces/other/configmaps/plain",
                                   "alice-token"), 403)
        self.assertEqual(self.code("GET", "/api/v1/namespaces/shop/configmaps/plain",
                                   "node-token"), 403)
        self.bind("cm", "Role", "cm", [{"kind": "ServiceAccount", "name": "ambit-node"}],
                  ns="ambit-system")
        status, doc = self.request("GET", "/api/v1/namespaces/ambit-system/configmaps/x",
                                   token="node-token")
        self.assertEqual(status, 403, "the Role is shop's: ambit-system has none of that name")
        self.assertTrue(doc["message"].endswith(
            ': RBAC: role.rbac.authorization.k8s.io "cm" not found'), doc["message"])
        # A RoleBinding of a ClusterRole: its rules, in the binding's namespace only.
        self.role("ClusterRole", "cm-all", [{"apiGroups": [""], "resources": ["configmaps"],
                                             "verbs": ["*"]}])
        self.bind("cm-all", "ClusterRole", "cm-all", [{"kind": "User", "name": "bob"}],
                  ns="other")
        self.assertEqual(self.code("GET", "/api/v1/namespaces/other/configmaps", "bob-token"),
                         200)
        self.assertEqual(self.code("DELETE", "/api/v1/namespaces/other/configmaps/plain",
                                   "bob-token"), 200)
        self.assertEqual(self.code("GET", "/api/v1/namespaces/shop/configmaps", "bob-token"),
                         403)
        self.assertEqual(self.code("GET", "/api/v1/configmaps", "bob-token"), 403)

    def test_groups(self):
        self.role("ClusterRole", "ns-reader", [{"apiGroups": [""], "resources": ["namespaces"],
                                                "verbs": ["get", "list"]}])
        self.bind("devs", "ClusterRole", "ns-reader", [{"kind": "Group", "name": "devs"}])
        self.assertEqual(self.code("GET", "/api/v1/namespaces", "alice-token"), 200)
        self.assertEqual(self.code("GET", "/api/v1/namespaces", "bob-token"), 403)
        # Every token's user is in system:authenticated, whether its table says so or not.
        self.bind("everyone", "ClusterRole", "ns-reader",
                  [{"kind": "Group", "name": "system:authenticated"}])
        self.assertEqual(self.code("GET", "/api/v1/namespaces", "bob-token"), 200)
        # A service account's groups.
        self.role("ClusterRole", "svc", [{"apiGroups": [""], "resources": ["services"],
                                          "verbs": ["list"]}])
        self.bind("svc", "ClusterRole", "svc",
                  [{"kind": "Group", "name": "system:serviceaccounts:ambit-system"}])
        self.assertEqual(self.code("GET", "/api/v1/services", "node-token"), 200)
        self.assertEqual(self.code("GET", "/api/v1/services", "alice-token"), 403)

    def test_cluster_scoped_and_namespace_objects(self):
        # namespaces/NAME is in the namespace NAME: a RoleBinding there lets it be read.
        self.role("ClusterRole", "ns-get", [{"apiGroups": [""], "resources": ["namespaces"],
                                             "verbs": ["get"]}])
        self.bind("ns-get", "ClusterRole", "ns-get", [{"kind": "User", "name": "bob"}],
                  ns="shop")
        self.assertEqual(self.code("GET", "/api/v1/namespaces/shop", "bob-token"), 200)
        status, doc = self.request("GET", "/api/v1/namespaces/other", token="bob-token")
        self.assertEqual(status, 403)
        self.assertEqual(doc["message"], 'namespaces "other" is forbidden: User "bob" cannot '
                         'get resource "namespaces" in API group "" in the namespace "other"')
        self.assertEqual(self.code("GET", "/api/v1/namespaces", "bob-token"), 403)
        # A cluster-scoped kind is never granted by a RoleBinding.
        self.role("ClusterRole", "crs", [{"apiGroups": ["rbac.authorization.k8s.io"],
                                          "resources": ["clusterroles"], "verbs": ["get"]}])
        self.bind("crs", "ClusterRole", "crs", [{"kind": "User", "name": "bob"}], ns="shop")
        status, doc = self.request("GET", f"{RBAC}/clusterroles/crs", token="bob-token")
        self.assertEqual(doc["message"], 'clusterroles.rbac.authorization.k8s.io "crs" is '
                         'forbidden: User "bob" cannot get resource "clusterroles" in API group '
                         '"rbac.authorization.k8s.io" at the cluster scope')
        self.assertEqual(doc["details"], {"name": "crs", "group": "rbac.authorization.k8s.io",
                                          "kind": "clusterroles"})

    # ---- rules ----

    def test_resource_names_get_against_list_and_watch(self):
        self.role("ClusterRole", "mesh", [{"apiGroups": [""], "resources": ["configmaps"],
                                           "resourceNames": ["istio"],
                                           "verbs": ["get", "list", "watch"]}])
        self.bind("mesh", "ClusterRole", "mesh", self.sa())
        cm = "/api/v1/namespaces/shop/configmaps"
        self.assertEqual(self.code("GET", f"{cm}/istio", "node-token"), 200)
        self.assertEqual(self.code("GET", f"{cm}/plain", "node-token"), 403)
        self.assertEqual(self.code("GET", cm, "node-token"), 403)
        self.assertEqual(self.code("GET", "/api/v1/configmaps?watch=1", "node-token"), 403)
        # A list or watch asking for one object by name (fieldSelector) names it.
        for q in ("fieldSelector=metadata.name%3Distio",
                  "fieldSelector=metadata.name%3D%3Distio",
                  "fieldSelector=metadata.namespace%3Dshop,metadata.name%3Distio",
                  "fieldSelector=metadata.name%3Distio&watch=1&timeoutSeconds=1"):
            self.assertEqual(self.code("GET", f"/api/v1/configmaps?{q}", "node-token"), 200, q)
        for q in ("fieldSelector=metadata.name%3Dplain", "fieldSelector=metadata.name!%3Distio",
                  "labelSelector=name%3Distio"):
            self.assertEqual(self.code("GET", f"{cm}?{q}", "node-token"), 403, q)
        # resourceNames cannot allow a create (it has no name yet) nor a deletecollection.
        self.role("ClusterRole", "mesh-w", [{"apiGroups": [""], "resources": ["configmaps"],
                                             "resourceNames": ["istio"],
                                             "verbs": ["create", "delete", "deletecollection"]}])
        self.bind("mesh-w", "ClusterRole", "mesh-w", self.sa())
        self.assertEqual(self.code("POST", cm, "node-token", {"metadata": {"name": "istio2"}}),
                         403)
        self.assertEqual(self.code("DELETE", cm, "node-token"), 403)
        self.assertEqual(self.code("DELETE", f"{cm}/istio", "node-token"), 200)

    def test_verbs(self):
        cm = "/api/v1/namespaces/shop/configmaps"
        for verb, method, path, body in (
                ("update", "PUT", f"{cm}/plain", {"metadata": {"name": "plain"}}),
                ("patch", "PATCH", f"{cm}/plain", {"data": {"a": "b"}}),
                ("delete", "DELETE", f"{cm}/plain", None),
                ("deletecollection", "DELETE", cm, None),
                ("create", "POST", cm, {"metadata": {"name": "n"}})):
            ctype = "application/merge-patch+json" if verb == "patch" else "application/json"
            status, doc = self.request(method, path, body, token="bob-token", ctype=ctype)
            self.assertEqual(status, 403, verb)
            self.assertIn(f'cannot {verb} resource "configmaps"', doc["message"])
            self.role("ClusterRole", verb, [{"apiGroups": [""], "resources": ["configmaps"],
                                             "verbs": [verb]}])
            self.bind(verb, "ClusterRole", verb, [{"kind": "User", "name": "bob"}])
            status, doc = self.request(method, path, body, token="bob-token", ctype=ctype)
            self.assertIn(status, (200, 201), f"{verb}: {doc}")
            if verb == "delete":
                self.admin("POST", cm, {"metadata": {"name": "plain"}})
        # "*" in verbs, apiGroups and resources.
        self.role("ClusterRole", "all", [{"apiGroups": ["*"], "resources": ["*"],
                                          "verbs": ["*"]}])
        self.bind("all", "ClusterRole", "all", [{"kind": "User", "name": "alice"}])
        self.assertEqual(self.code("GET", "/apis/apps/v1/deployments", "alice-token"), 200)
        self.assertEqual(self.code("GET", "/api/v1/namespaces/shop/secrets/tls",
                                   "alice-token"), 200)
        self.assertEqual(self.code("GET", "/metrics", "alice-token"), 403,
                         "resources: [*] is no non-resource URL")

    def test_subresources(self):
        gw = "/apis/gateway.networking.k8s.io/v1/namespaces/shop/gateways"
        self.admin("POST", gw, {"metadata": {"name": "g"}, "spec": {"gatewayClassName": "x"}})
        self.role("ClusterRole", "gw", [{"apiGroups": ["gateway.networking.k8s.io"],
                                         "resources": ["gateways/status"],
                                         "verbs": ["update", "get"]}])
        self.bind("gw", "ClusterRole", "gw", [{"kind": "User", "name": "bob"}])
        cur = self.admin("GET", f"{gw}/g")
        self.assertEqual(self.code("PUT", f"{gw}/g/status", "bob-token", cur), 200)
        status, doc = self.request("PUT", f"{gw}/g", cur, token="bob-token")
        self.assertEqual(status, 403, "gateways/status is not gateways")
        self.assertEqual(self.code("PATCH", f"{gw}/g/status", "bob-token", {"status": {}},
                                   ctype="application/merge-patch+json"), 403)
        # gateways is not gateways/status either; "*/status" is every kind's status.
        self.role("ClusterRole", "gw2", [{"apiGroups": ["gateway.networking.k8s.io"],
                                          "resources": ["gateways"], "verbs": ["patch"]}])
        self.bind("gw2", "ClusterRole", "gw2", [{"kind": "User", "name": "alice"}])
        self.assertEqual(self.code("PATCH", f"{gw}/g/status", "alice-token", {"status": {}},
                                   ctype="application/merge-patch+json"), 403)
        self.role("ClusterRole", "st", [{"apiGroups": ["*"], "resources": ["*/status"],
                                         "verbs": ["patch"]}])
        self.bind("st", "ClusterRole", "st", [{"kind": "User", "name": "alice"}])
        self.assertEqual(self.code("PATCH", f"{gw}/g/status", "alice-token", {"status": {}},
                                   ctype="application/merge-patch+json"), 200)
        # pods/log, pods/exec, pods/portforward: judged before they are served.
        pod = "/api/v1/namespaces/shop/pods/p"
        for sub, method, verb in (("log", "GET", "get"), ("exec", "POST", "create"),
                                  ("portforward", "POST", "create")):
            status, doc = self.request(method, f"{pod}/{sub}", token="bob-token")
            self.assertEqual(status, 403, sub)
            self.assertEqual(doc["message"], f'pods "p" is forbidden: User "bob" cannot {verb} '
                             f'resource "pods/{sub}" in API group "" in the namespace "shop"')
        self.role("ClusterRole", "logs", [{"apiGroups": [""], "resources": ["pods/log"],
                                           "verbs": ["get"]}])
        self.bind("logs", "ClusterRole", "logs", [{"kind": "User", "name": "bob"}])
        self.assertEqual(self.code("GET", f"{pod}/log", "bob-token"), 404, "allowed: no pod p")
        self.assertEqual(self.code("GET", pod, "bob-token"), 403)

    # ---- what every cluster has ----

    def test_non_resource_urls_and_discovery(self):
        for path in ("/api", "/api/v1", "/apis", "/apis/apps/v1", "/version", "/healthz",
                     "/openapi/v2", "/openapi/v3/apis/apps/v1"):
            self.assertEqual(self.code("GET", path, "bob-token"), 200, path)
        status, doc = self.request("GET", "/metrics", token="bob-token")
        self.assertEqual(status, 403)
        self.assertEqual(doc, {"kind": "Status", "apiVersion": "v1", "metadata": {},
                               "status": "Failure",
                               "message": 'forbidden: User "bob" cannot get path "/metrics"',
                               "reason": "Forbidden", "details": {}, "code": 403})
        self.role("ClusterRole", "metrics", [{"nonResourceURLs": ["/metr*"], "verbs": ["get"]}])
        self.bind("metrics", "ClusterRole", "metrics", [{"kind": "User", "name": "bob"}])
        status, _ = self.request("GET", "/metrics", token="bob-token")
        self.assertNotEqual(status, 403)
        # The defaults are objects, as on a real cluster.
        names = [o["metadata"]["name"] for o in
                 self.admin("GET", f"{RBAC}/clusterrolebindings")["items"]]
        for n in ("cluster-admin", "system:discovery", "system:basic-user",
                  "system:public-info-viewer"):
            self.assertIn(n, names)

    def test_roles_are_read_live(self):
        path = "/api/v1/namespaces/shop/secrets/tls"
        self.bind("late", "ClusterRole", "late", [{"kind": "User", "name": "bob"}])
        status, doc = self.request("GET", path, token="bob-token")
        self.assertEqual(status, 403)
        self.assertTrue(doc["message"].endswith(
            ': RBAC: clusterrole.rbac.authorization.k8s.io "late" not found'), doc["message"])
        self.role("ClusterRole", "late", [{"apiGroups": [""], "resources": ["secrets"],
                                           "verbs": ["get"]}])
        self.assertEqual(self.code("GET", path, "bob-token"), 200)
        status, doc = self.request("PATCH", f"{RBAC}/clusterroles/late",
                                   {"rules": [{"apiGroups": [""], "resources": ["secrets"],
                                               "resourceNames": ["other"], "verbs": ["get"]}]},
                                   ctype="application/merge-patch+json")
        self.assertEqual(status, 200, doc)
        self.assertEqual(self.code("GET", path, "bob-token"), 403)
        self.admin("DELETE", f"{RBAC}/clusterroles/late")
        self.assertEqual(self.code("GET", path, "bob-token"), 403)

    def test_masters_impersonation_and_reviews(self):
        secret = "/api/v1/namespaces/ambit-system/secrets/ambit-ca-root"
        self.assertEqual(self.code("GET", secret, "root-token"), 200)
        self.assertEqual(self.code("GET", secret, ADMIN), 200)
        # kubectl --as: the request runs as the service account, with its groups.
        as_node = {"Impersonate-User": NODE_SA}
        status, doc = self.request("GET", secret, headers=as_node)
        self.assertEqual(status, 403)
        self.assertIn(f'User "{NODE_SA}" cannot get', doc["message"])
        ssar = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                "spec": {"resourceAttributes": {"namespace": "ambit-system", "verb": "get",
                                                "resource": "secrets",
                                                "name": "ambit-ca-root"}}}
        ssar_path = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
        status, doc = self.request("POST", ssar_path, ssar, headers=as_node)
        self.assertEqual((status, doc["status"]["allowed"]), (201, False), doc)
        status, doc = self.request("POST", ssar_path, ssar)
        self.assertEqual((status, doc["status"]["allowed"]), (201, True), doc)
        # Any authenticated user may ask about itself (system:basic-user).
        self.role("ClusterRole", "sec", [{"apiGroups": [""], "resources": ["secrets"],
                                          "verbs": ["get"]}])
        self.bind("sec", "ClusterRole", "sec", self.sa())
        status, doc = self.request("POST", ssar_path, ssar, token="node-token")
        self.assertEqual(doc["status"], {
            "allowed": True, "reason": 'RBAC: allowed by ClusterRoleBinding "sec" of '
            'ClusterRole "sec" to ServiceAccount "ambit-system/ambit-node"'})
        # Impersonating takes the impersonate verb, which bob has not.
        status, doc = self.request("GET", secret, token="bob-token", headers=as_node)
        self.assertEqual(status, 403)
        self.assertEqual(doc["message"], 'serviceaccounts "ambit-node" is forbidden: User "bob" '
                         'cannot impersonate resource "serviceaccounts" in API group "" in the '
                         'namespace "ambit-system"')
        status, doc = self.request("GET", secret, token="bob-token",
                                   headers={"Impersonate-User": "alice"})
        self.assertEqual(doc["message"], 'users "alice" is forbidden: User "bob" cannot '
                         'impersonate resource "users" in API group "" at the cluster scope')
        # A SubjectAccessReview judges exactly the user and groups it names.
        sar = {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
               "spec": {"user": "carol", "groups": ["system:masters"],
                        "nonResourceAttributes": {"path": "/metrics", "verb": "get"}}}
        sar_path = "/apis/authorization.k8s.io/v1/subjectaccessreviews"
        self.assertTrue(self.admin("POST", sar_path, sar)["status"]["allowed"])
        sar["spec"]["groups"] = ["devs"]
        self.assertFalse(self.admin("POST", sar_path, sar)["status"]["allowed"])
        self.assertEqual(self.code("POST", sar_path, "bob-token", sar), 403)
        del sar["spec"]["nonResourceAttributes"]
        self.assertEqual(self.code("POST", sar_path, ADMIN, sar), 422)

    def test_self_subject_access_review_in_protobuf(self):
        """kubectl auth can-i sends its SelfSubjectAccessReview in protobuf."""
        ra = pb(1, "ambit-system") + pb(2, "get") + pb(5, "secrets") + pb(7, "ambit-ca-root")
        body = b"k8s\x00" + pb(1, pb(1, "authorization.k8s.io/v1") +
                               pb(2, "SelfSubjectAccessReview")) + pb(2, pb(1, b"") +
                                                                     pb(2, pb(1, ra)))
        path = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
        for headers, allowed in (({}, True), ({"Impersonate-User": NODE_SA}, False)):
            status, doc = self.request("POST", path, body, headers=headers,
                                       ctype="application/vnd.kubernetes.protobuf")
            self.assertEqual(status, 201, doc)
            self.assertEqual(doc["spec"]["resourceAttributes"],
                             {"namespace": "ambit-system", "verb": "get", "resource": "secrets",
                              "name": "ambit-ca-root"})
            self.assertEqual(doc["status"]["allowed"], allowed)


class AttributesTest(unittest.TestCase):
    """RequestInfo's reading of a request, without a server."""

    def test_attributes(self):
        at = fake_rbac.attributes
        a = at("GET", "/api/v1/namespaces/ns/pods/p/log", {})
        self.assertEqual((a["verb"], a["resource"], a["subresource"], a["namespace"], a["name"]),
                         ("get", "pods", "log", "ns", "p"))
        a = at("GET", "/api/v1/watch/namespaces/ns/pods", {})
        self.assertEqual((a["verb"], a["resource"], a["namespace"]), ("watch", "pods", "ns"))
        self.assertEqual(at("GET", "/api/v1/pods", {"watch": "false"})["verb"], "list")
        self.assertEqual(at("GET", "/api/v1/pods", {"watch": "0"})["verb"], "list")
        self.assertEqual(at("GET", "/api/v1/pods", {"watch": "true"})["verb"], "watch")
        self.assertEqual(at("HEAD", "/apis/apps/v1/namespaces/n/deployments/d", {})["verb"],
                         "get")
        a = at("PUT", "/api/v1/namespaces/n/finalize", {})
        self.assertEqual((a["resource"], a["name"], a["subresource"], a["namespace"]),
                         ("namespaces", "n", "finalize", "n"))
        self.assertFalse(at("GET", "/apis/apps/v1", {})["resource_request"])
        self.assertFalse(at("GET", "/api/v1", {})["resource_request"])
        self.assertEqual(at("POST", "/healthz", {})["verb"], "post")
        # An invalid name in a fieldSelector names nothing.
        self.assertEqual(at("GET", "/api/v1/pods", {"fieldSelector": "metadata.name=a/b"})["name"],
                         "")


if __name__ == "__main__":
    unittest.main()
