#!/usr/bin/python3
"""What kubectl cannot show of fake_apiserver.py: chunked lists, BOOKMARKs, 410 after a
compaction, dropped watches, TokenReview, Status shapes, 401. Each test starts its own server
on a free port with the fixtures loaded, so no test sees another's writes."""
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
TOKEN = "test-token"


class FakeApiServerTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        port_file = os.path.join(self.tmp.name, "port")
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "fake_apiserver.py"), "--listen", "127.0.0.1:0",
             "--port-file", port_file, "--token", TOKEN, "--bookmark-seconds", "0.2",
             "--load", os.path.join(HERE, "fixtures")])
        for _ in range(200):
            if os.path.exists(port_file) or self.proc.poll() is not None:
                break
            time.sleep(0.05)
        self.assertIsNone(self.proc.poll(), "fake_apiserver.py exited at start")
        with open(port_file) as fh:
            self.port = int(fh.read())

    def tearDown(self):
        self.proc.kill()
        self.proc.wait()
        self.tmp.cleanup()

    def request(self, method, path, body=None, token=TOKEN, ctype="application/json"):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        headers = {"Content-Type": ctype}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        conn.request(method, path, json.dumps(body) if body is not None else None, headers)
        resp = conn.getresponse()
        doc = json.loads(resp.read())
        conn.close()
        return resp.status, doc

    def get(self, path):
        status, doc = self.request("GET", path)
        self.assertEqual(status, 200, doc)
        return doc

    def open_watch(self, path):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        conn.request("GET", path, headers={"Authorization": f"Bearer {TOKEN}"})
        resp = conn.getresponse()
        self.assertEqual(resp.status, 200)
        self.assertEqual(resp.getheader("Transfer-Encoding"), "chunked")
        return conn, resp

    @staticmethod
    def next_event(resp):
        line = resp.readline()
        return json.loads(line) if line else None

    def patch_labels(self, ns, name, labels):
        status, doc = self.request("PATCH", f"/api/v1/namespaces/{ns}/pods/{name}",
                                   {"metadata": {"labels": labels}},
                                   ctype="application/merge-patch+json")
        self.assertEqual(status, 200, doc)
        return doc

    def assert_status(self, doc, code, reason):
        self.assertEqual(doc["kind"], "Status")
        self.assertEqual(doc["apiVersion"], "v1")
        self.assertEqual(doc["metadata"], {})
        self.assertEqual(doc["status"], "Failure")
        self.assertEqual(doc["code"], code)
        self.assertEqual(doc["reason"], reason)
        self.assertIsInstance(doc["message"], str)

    # ---- auth and errors ----

    def test_401_without_token(self):
        for token in (None, "wrong"):
            status, doc = self.request("GET", "/api/v1/pods", token=token)
            self.assertEqual(status, 401)
            self.assert_status(doc, 401, "Unauthorized")

    def test_not_found_status(self):
        status, doc = self.request("GET", "/api/v1/namespaces/bookinfo/pods/nope")
        self.assertEqual(status, 404)
        self.assert_status(doc, 404, "NotFound")
        self.assertEqual(doc["details"], {"name": "nope", "group": "", "kind": "pods"})
        self.assertEqual(doc["message"], 'pods "nope" not found')

    def test_already_exists_and_conflict(self):
        pod = self.get("/api/v1/namespaces/bookinfo/pods/ratings-v1-686ccfb5d8-q2vbn")
        status, doc = self.request("POST", "/api/v1/namespaces/bookinfo/pods", pod)
        self.assertEqual(status, 409)
        self.assert_status(doc, 409, "AlreadyExists")
        pod["metadata"]["labels"]["x"] = "1"
        status, fresh = self.request("PUT", "/api/v1/namespaces/bookinfo/pods/" +
                                     pod["metadata"]["name"], pod)
        self.assertEqual(status, 200, fresh)
        # pod still carries the old RV: a second PUT with it is stale.
        status, doc = self.request("PUT", "/api/v1/namespaces/bookinfo/pods/" +
                                   pod["metadata"]["name"], pod)
        self.assertEqual(status, 409)
        self.assert_status(doc, 409, "Conflict")

    def test_service_families(self):
        """A Service's families as the real server validates them: clusterIPs match ipFamilies,
        in order, clusterIP is the first, and the primary family never changes: a dual-stack
        Service made [IPv6, IPv4] is allocated in that order (the --kube mirror once wrote
        IPv4 first over it)."""
        path = "/api/v1/namespaces/bookinfo/services"

        def svc(name, **spec):
            return {"apiVersion": "v1", "kind": "Service",
                    "metadata": {"name": name, "namespace": "bookinfo"},
                    "spec": dict({"selector": {"app": name}, "ports": [{"port": 80}]}, **spec)}

        status, doc = self.request("POST", path, svc(
            "swapped", ipFamilyPolicy="PreferDualStack", ipFamilies=["IPv6", "IPv4"],
            clusterIP="10.96.0.5", clusterIPs=["10.96.0.5", "fd00:96::5"]))
        self.assertEqual(status, 422, doc)
        self.assert_status(doc, 422, "Invalid")
        self.assertIn('spec.clusterIPs[0]: Invalid value: "10.96.0.5": expected an IPv6 value',
                      doc["message"])
        status, doc = self.request("POST", path, svc("first", clusterIP="10.96.0.5",
                                                      clusterIPs=["10.96.0.6"]))
        self.assertEqual(status, 422, doc)
        self.assertIn("must match `clusterIP`", doc["message"])

        status, made = self.request("POST", path, svc(
            "v6first", ipFamilyPolicy="PreferDualStack", ipFamilies=["IPv6", "IPv4"]))
        self.assertEqual(status, 201, made)
        wrong = json.loads(json.dumps(made))
        wrong["spec"].update(clusterIP="10.96.0.7", clusterIPs=["10.96.0.7", "fd00:96::7"],
                             ipFamilies=["IPv4", "IPv6"])
        status, doc = self.request("PUT", path + "/v6first", wrong)
        self.assertEqual(status, 422, doc)
        self.assertIn('spec.ipFamilies[0]: Invalid value: "IPv4": may not change once set',
                      doc["message"])
        made["spec"].update(clusterIP="fd00:96::7", clusterIPs=["fd00:96::7", "10.96.0.7"])
        status, doc = self.request("PUT", path + "/v6first", made)
        self.assertEqual(status, 200, doc)
        got = self.get(path + "/v6first")["spec"]
        self.assertEqual((got["clusterIP"], got["clusterIPs"], got["ipFamilies"]),
                         ("fd00:96::7", ["fd00:96::7", "10.96.0.7"], ["IPv6", "IPv4"]))
        got["clusterIPs"] = ["fd00:96::8", "10.96.0.7"]
        got["clusterIP"] = "fd00:96::8"
        status, doc = self.request("PUT", path + "/v6first", {
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "v6first", "namespace": "bookinfo"}, "spec": got})
        self.assertEqual(status, 422, doc)
        self.assertIn('spec.clusterIPs[0]: Invalid value: "fd00:96::8": may not change',
                      doc["message"])

    def test_lease_create_renew_and_list(self):
        path = "/apis/coordination.k8s.io/v1/namespaces/ambit-system/leases"
        status, doc = self.request("POST", "/api/v1/namespaces", {
            "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ambit-system"}})
        self.assertEqual(status, 201, doc)
        lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                 "metadata": {"name": "ambit-node-node1",
                              "labels": {"app.kubernetes.io/part-of": "ambit"},
                              "annotations": {"ambit.io/capture-mode": "host"}},
                 "spec": {"holderIdentity": "node1", "leaseDurationSeconds": 90,
                          "renewTime": "2026-11-24T06:00:00.000000Z"}}
        status, made = self.request("POST", path, lease)
        self.assertEqual(status, 201, made)
        made["spec"]["renewTime"] = "2026-11-24T06:00:30.000000Z"
        status, doc = self.request("PUT", path + "/ambit-node-node1", made)
        self.assertEqual(status, 200, doc)
        status, doc = self.request("PUT", path + "/ambit-node-node1", made)  # stale RV
        self.assertEqual(status, 409)
        got = self.get(path + "/ambit-node-node1")
        self.assertEqual(got["spec"]["renewTime"], "2026-11-24T06:00:30.000000Z")
        every = self.get("/apis/coordination.k8s.io/v1/leases?labelSelector="
                         "app.kubernetes.io%2Fpart-of%3Dambit")
        self.assertEqual((every["kind"], self.names(every)), ("LeaseList", ["ambit-node-node1"]))
        res = {r["name"]: r for r in self.get("/apis/coordination.k8s.io/v1")["resources"]}
        self.assertTrue(res["leases"]["namespaced"])
        self.assertIn("update", res["leases"]["verbs"])

    def test_bad_selector_is_400(self):
        status, doc = self.request("GET", "/api/v1/pods?fieldSelector=spec.bogus%3Dx")
        self.assertEqual(status, 400)
        self.assert_status(doc, 400, "BadRequest")

    # ---- writes ----

    def test_create_sets_metadata_and_rv_grows(self):
        before = int(self.get("/api/v1/pods")["metadata"]["resourceVersion"])
        status, pod = self.request("POST", "/api/v1/namespaces/default/pods", {
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p1"},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]}})
        self.assertEqual(status, 201, pod)
        md = pod["metadata"]
        self.assertEqual(md["namespace"], "default")
        self.assertRegex(md["uid"], r"^[0-9a-f-]{36}$")
        self.assertRegex(md["creationTimestamp"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        self.assertIsInstance(md["resourceVersion"], str)
        self.assertGreater(int(md["resourceVersion"]), before)
        self.assertEqual(md["generation"], 1)
        labelled = self.patch_labels("default", "p1", {"a": "b"})
        self.assertGreater(int(labelled["metadata"]["resourceVersion"]),
                           int(md["resourceVersion"]))
        self.assertEqual(labelled["metadata"]["generation"], 1)  # metadata only
        status, respec = self.request("PATCH", "/api/v1/namespaces/default/pods/p1",
                                      {"spec": {"nodeName": "node2"}},
                                      ctype="application/merge-patch+json")
        self.assertEqual(respec["metadata"]["generation"], 2)
        self.assertEqual(respec["metadata"]["uid"], md["uid"])
        self.assertEqual(respec["spec"]["containers"][0]["name"], "c")  # merged, not replaced
        status, gone = self.request("DELETE", "/api/v1/namespaces/default/pods/p1")
        self.assertEqual(status, 200)
        self.assertEqual(gone["metadata"]["name"], "p1")
        status, _ = self.request("GET", "/api/v1/namespaces/default/pods/p1")
        self.assertEqual(status, 404)

    def test_namespace_name_label(self):
        """As the real server: every Namespace carries kubernetes.io/metadata.name, its name,
        set on create and put back on update whatever the client wrote."""
        status, ns = self.request("POST", "/api/v1/namespaces", {
            "apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": "team", "labels": {"kubernetes.io/metadata.name": "other"}}})
        self.assertEqual(status, 201, ns)
        self.assertEqual(ns["metadata"]["labels"], {"kubernetes.io/metadata.name": "team"})
        status, ns = self.request("PATCH", "/api/v1/namespaces/team",
                                  {"metadata": {"labels": {"kubernetes.io/metadata.name": None,
                                                           "istio.io/use-waypoint": "wp"}}},
                                  ctype="application/merge-patch+json")
        self.assertEqual(status, 200, ns)
        self.assertEqual(ns["metadata"]["labels"], {"kubernetes.io/metadata.name": "team",
                                                    "istio.io/use-waypoint": "wp"})
        listed = self.get("/api/v1/namespaces?labelSelector=kubernetes.io%2Fmetadata.name%3Dteam")
        self.assertEqual(self.names(listed), ["team"])

    # ---- lists ----

    def names(self, doc):
        return [i["metadata"]["name"] for i in doc["items"]]

    def test_list_shape_and_scopes(self):
        doc = self.get("/api/v1/pods")
        self.assertEqual((doc["kind"], doc["apiVersion"]), ("PodList", "v1"))
        self.assertEqual(len(doc["items"]), 4)
        self.assertTrue(all(i["kind"] == "Pod" for i in doc["items"]))
        self.assertEqual(self.get("/api/v1/namespaces/default/pods")["items"], [])
        vs = self.get("/apis/networking.istio.io/v1alpha3/namespaces/bookinfo/virtualservices")
        self.assertEqual(vs["kind"], "VirtualServiceList")
        self.assertEqual(vs["items"][0]["apiVersion"], "networking.istio.io/v1alpha3")
        nodes = self.get("/api/v1/nodes")
        self.assertEqual(self.names(nodes), ["node1", "node2"])

    def test_label_selectors(self):
        def count(sel):
            return len(self.get("/api/v1/namespaces/bookinfo/pods?labelSelector=" +
                                sel.replace(" ", "%20"))["items"])
        self.assertEqual(count("app=reviews"), 2)
        self.assertEqual(count("app==reviews"), 2)
        self.assertEqual(count("app!=reviews"), 2)
        self.assertEqual(count("app in (reviews,ratings)"), 3)
        self.assertEqual(count("app notin (reviews,ratings)"), 1)
        self.assertEqual(count("app=reviews,version=v2"), 1)
        self.assertEqual(count("version"), 4)
        self.assertEqual(count("!version"), 0)
        self.assertEqual(count("nothere"), 0)

    def test_field_selectors(self):
        on1 = self.get("/api/v1/pods?fieldSelector=spec.nodeName%3Dnode1")
        self.assertEqual(len(on1["items"]), 2)
        self.assertTrue(all(p["spec"]["nodeName"] == "node1" for p in on1["items"]))
        self.assertEqual(len(self.get("/api/v1/pods?fieldSelector=spec.nodeName!%3Dnode1")
                             ["items"]), 2)
        one = self.get("/api/v1/pods?fieldSelector=metadata.name%3Dreviews-v1-5fd6d4f8f8-8kqzj,"
                       "metadata.namespace%3Dbookinfo")
        self.assertEqual(self.names(one), ["reviews-v1-5fd6d4f8f8-8kqzj"])

    def test_chunked_list_with_continue(self):
        full = self.names(self.get("/api/v1/pods"))
        page1 = self.get("/api/v1/pods?limit=3")
        self.assertEqual(len(page1["items"]), 3)
        self.assertEqual(page1["metadata"]["remainingItemCount"], 1)
        token = page1["metadata"]["continue"]
        page2 = self.get("/api/v1/pods?limit=3&continue=" + token)
        self.assertNotIn("continue", page2["metadata"])
        self.assertEqual(page2["metadata"]["resourceVersion"], page1["metadata"]["resourceVersion"])
        self.assertEqual(self.names(page1) + self.names(page2), full)

    def test_continue_after_compaction_is_410(self):
        token = self.get("/api/v1/pods?limit=1")["metadata"]["continue"]
        self.assertEqual(self.request("POST", "/_fake/compact")[0], 200)
        status, doc = self.request("GET", "/api/v1/pods?limit=1&continue=" + token)
        self.assertEqual(status, 410)
        self.assert_status(doc, 410, "Expired")

    # ---- watches ----

    def test_watch_from_zero_lists_then_streams(self):
        conn, resp = self.open_watch("/api/v1/namespaces/bookinfo/pods?watch=1&resourceVersion=0")
        seen = [self.next_event(resp) for _ in range(4)]
        self.assertEqual({e["type"] for e in seen}, {"ADDED"})
        self.assertEqual(len({e["object"]["metadata"]["name"] for e in seen}), 4)
        self.assertEqual(seen[0]["object"]["kind"], "Pod")
        self.patch_labels("bookinfo", "reviews-v1-5fd6d4f8f8-8kqzj", {"x": "1"})
        ev = self.next_event(resp)
        self.assertEqual(ev["type"], "MODIFIED")
        self.assertEqual(ev["object"]["metadata"]["labels"]["x"], "1")
        conn.close()

    def test_watch_from_rv_streams_only_later_changes(self):
        listed = self.get("/api/v1/pods")
        self.patch_labels("bookinfo", "ratings-v1-686ccfb5d8-q2vbn", {"step": "1"})
        conn, resp = self.open_watch("/api/v1/pods?watch=true&resourceVersion=" +
                                     listed["metadata"]["resourceVersion"])
        ev = self.next_event(resp)  # the change made after the list, nothing before it
        self.assertEqual((ev["type"], ev["object"]["metadata"]["labels"]["step"]),
                         ("MODIFIED", "1"))
        self.request("DELETE", "/api/v1/namespaces/bookinfo/pods/ratings-v1-686ccfb5d8-q2vbn")
        self.assertEqual(self.next_event(resp)["type"], "DELETED")
        conn.close()

    def test_watch_selector_leaving_is_deleted(self):
        listed = self.get("/api/v1/pods?labelSelector=app%3Dreviews")
        conn, resp = self.open_watch("/api/v1/pods?watch=1&labelSelector=app%3Dreviews"
                                     "&resourceVersion=" + listed["metadata"]["resourceVersion"])
        self.patch_labels("bookinfo", "ratings-v1-686ccfb5d8-q2vbn", {"x": "1"})  # not matched
        self.patch_labels("bookinfo", "reviews-v2-6f9b55c5db-m4t9w", {"app": "other"})
        ev = self.next_event(resp)
        self.assertEqual((ev["type"], ev["object"]["metadata"]["name"]),
                         ("DELETED", "reviews-v2-6f9b55c5db-m4t9w"))
        conn.close()

    def test_watch_bookmarks(self):
        rv = self.get("/api/v1/pods")["metadata"]["resourceVersion"]
        conn, resp = self.open_watch(f"/api/v1/pods?watch=1&allowWatchBookmarks=true"
                                     f"&resourceVersion={rv}")
        ev = self.next_event(resp)
        self.assertEqual(ev["type"], "BOOKMARK")
        self.assertEqual(ev["object"], {"kind": "Pod", "apiVersion": "v1",
                                        "metadata": {"resourceVersion": rv}})
        conn.close()

    def test_watch_without_bookmarks_gets_none(self):
        conn, resp = self.open_watch("/api/v1/namespaces/default/pods?watch=1&resourceVersion=2"
                                     "&timeoutSeconds=1")
        self.assertIsNone(self.next_event(resp))  # ends cleanly at timeoutSeconds, no events
        self.assertTrue(resp.isclosed())
        conn.close()

    def test_watch_compacted_rv_is_410(self):
        rv = self.get("/api/v1/pods")["metadata"]["resourceVersion"]
        self.patch_labels("bookinfo", "ratings-v1-686ccfb5d8-q2vbn", {"x": "1"})
        self.request("POST", "/_fake/compact")
        conn, resp = self.open_watch(f"/api/v1/pods?watch=1&resourceVersion={rv}")
        ev = self.next_event(resp)
        self.assertEqual(ev["type"], "ERROR")
        self.assert_status(ev["object"], 410, "Expired")
        self.assertIn("too old resource version", ev["object"]["message"])
        self.assertIsNone(self.next_event(resp))
        conn.close()

    def raw_watch(self, path, before_eof=None, first=b"\r\n\r\n"):
        """The watch's raw bytes up to EOF; before_eof runs once `first` (the head) arrived."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as sock:
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n"
                         f"Authorization: Bearer {TOKEN}\r\n\r\n".encode())
            data = b""
            while first not in data:
                more = sock.recv(65536)
                if not more:
                    return data
                data += more
            if before_eof:
                before_eof()
            while True:
                more = sock.recv(65536)
                if not more:
                    return data
                data += more

    def test_watch_timeout_ends_with_last_chunk(self):
        data = self.raw_watch("/api/v1/pods?watch=1&resourceVersion=0&timeoutSeconds=1")
        self.assertTrue(data.endswith(b"\r\n0\r\n\r\n"), data[-40:])
        self.assertEqual(data.count(b'"type": "ADDED"'), 4)

    def test_close_watches_drops_the_stream(self):
        closed = []
        # Closed once an event came: the head alone may arrive before the server wrote any.
        data = self.raw_watch("/api/v1/pods?watch=1&resourceVersion=0",
                              lambda: closed.append(self.request("POST", "/_fake/close-watches")),
                              first=b'"type": "ADDED"')
        self.assertEqual(closed[0][0], 200)
        self.assertEqual(closed[0][1]["closed"], 1)
        # No terminating chunk: the client sees the stream cut, as when the server restarts.
        self.assertIn(b'"type": "ADDED"', data)
        self.assertFalse(data.endswith(b"0\r\n\r\n"), data[-40:])

    # ---- TokenReview and discovery ----

    def token_review(self, token):
        status, doc = self.request("POST", "/apis/authentication.k8s.io/v1/tokenreviews", {
            "apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
            "spec": {"token": token}})
        self.assertEqual(status, 201)
        self.assertEqual(doc["kind"], "TokenReview")
        return doc["status"]

    def test_token_review(self):
        st = self.token_review("ztunnel-node1-token")
        self.assertTrue(st["authenticated"])
        self.assertEqual(st["user"]["username"], "system:serviceaccount:istio-system:ztunnel")
        self.assertEqual(st["user"]["extra"]["authentication.kubernetes.io/node-name"], ["node1"])
        self.assertIn("system:authenticated", st["user"]["groups"])
        st = self.token_review("made-up")
        self.assertNotIn("authenticated", st)  # omitempty false, as the real one prints it
        self.assertEqual(st["user"], {})

    def test_discovery(self):
        groups = {g["name"]: [v["version"] for v in g["versions"]]
                  for g in self.get("/apis")["groups"]}
        self.assertEqual(groups["networking.istio.io"], ["v1", "v1beta1", "v1alpha3"])
        self.assertEqual(groups["gateway.networking.k8s.io"], ["v1", "v1beta1", "v1alpha2", "v1alpha3"])
        core = {r["name"]: r for r in self.get("/api/v1")["resources"]}
        self.assertTrue(core["pods"]["namespaced"])
        self.assertFalse(core["nodes"]["namespaced"])
        self.assertIn("watch", core["pods"]["verbs"])
        v1a2 = [r["name"] for r in
                self.get("/apis/gateway.networking.k8s.io/v1alpha2")["resources"]]
        self.assertEqual(sorted(v1a2), ["referencegrants", "tcproutes", "tlsroutes"])
        # ReferenceGrant is served as v1 too (Gateway API 1.5), as v1beta1 still.
        for v in ("v1", "v1beta1"):
            grants = [r for r in self.get("/apis/gateway.networking.k8s.io/" + v)["resources"]
                      if r["name"] == "referencegrants"]
            self.assertEqual(len(grants), 1, v)
        self.assertEqual(self.get("/version")["major"], "1")


    # ---- what kubectl 1.20 and 1.32 need of a real server (issue 39) ----

    def raw_request(self, method, path, body=b"", headers=None):
        """(status, headers, body bytes) of one request on its own connection."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        hdrs = {"Authorization": f"Bearer {TOKEN}"}
        hdrs.update(headers or {})
        conn.request(method, path, body, hdrs)
        resp = conn.getresponse()
        out = (resp.status, resp.getheaders(), resp.read())
        conn.close()
        return out

    def table(self, path, v="v1", include=None):
        if include:
            path += ("&" if "?" in path else "?") + f"includeObject={include}"
        status, _, body = self.raw_request("GET", path, headers={
            "Accept": f"application/json;as=Table;v={v};g=meta.k8s.io,application/json"})
        self.assertEqual(status, 200, body)
        doc = json.loads(body)
        self.assertEqual((doc["kind"], doc["apiVersion"]), ("Table", f"meta.k8s.io/{v}"))
        return doc

    @staticmethod
    def columns(doc, wide=False):
        return [c["name"] for c in doc["columnDefinitions"] if wide or c["priority"] == 0]

    def make_ns(self, name):
        status, doc = self.request("POST", "/api/v1/namespaces", {
            "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
        self.assertEqual(status, 201, doc)

    DEPLOY = {"apiVersion": "apps/v1", "kind": "Deployment",
              "metadata": {"name": "web", "labels": {"app": "web"}},
              "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                       "template": {"metadata": {"labels": {"app": "web"}},
                                    "spec": {"containers": [
                                        {"name": "a", "image": "a:1",
                                         "env": [{"name": "X", "value": "1"},
                                                 {"name": "Y", "value": "2"}],
                                         "ports": [{"containerPort": 80}]},
                                        {"name": "b", "image": "b:1"}]}}}}

    def make_deploy(self, ns="bookinfo", body=None, query=""):
        status, doc = self.request("POST", f"/apis/apps/v1/namespaces/{ns}/deployments{query}",
                                   body or self.DEPLOY)
        self.assertEqual(status, 201, doc)
        return doc

    def test_openapi_v2_json(self):
        doc = self.get("/openapi/v2")
        self.assertEqual(doc["swagger"], "2.0")
        dep = doc["definitions"]["io.k8s.api.apps.v1.Deployment"]
        self.assertEqual(dep["x-kubernetes-group-version-kind"],
                         [{"group": "apps", "kind": "Deployment", "version": "v1"}])
        self.assertEqual(dep["properties"]["spec"],
                         {"$ref": "#/definitions/io.k8s.api.apps.v1.DeploymentSpec"})
        cont = doc["definitions"]["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"]
        self.assertEqual(cont["x-kubernetes-patch-merge-key"], "name")
        vs = [d for d in doc["definitions"].values()
              if {"group": "networking.istio.io", "kind": "VirtualService", "version": "v1"}
              in d.get("x-kubernetes-group-version-kind", [])]
        self.assertEqual(len(vs), 1)
        self.assertNotIn("properties", vs[0])  # open: any field of a real Istio object
        patch = doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"]
        self.assertIn("fieldValidation", [p["name"] for p in patch["parameters"]])

    @staticmethod
    def pb_fields(buf):
        """A protobuf message's length-delimited fields: [(number, bytes)] (written here from
        the wire format, independently of the server's encoder)."""
        out, i = [], 0
        while i < len(buf):
            key = shift = 0
            while True:
                b = buf[i]
                i += 1
                key |= (b & 0x7F) << shift
                shift += 7
                if not b & 0x80:
                    break
            assert key & 7 == 2, key
            n = shift = 0
            while True:
                b = buf[i]
                i += 1
                n |= (b & 0x7F) << shift
                shift += 7
                if not b & 0x80:
                    break
            out.append((key >> 3, buf[i:i + n]))
            i += n
        return out

    def test_openapi_v2_protobuf_as_kubectl_120_asks(self):
        status, headers, body = self.raw_request("GET", "/openapi/v2", headers={
            "Accept": "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"})
        self.assertEqual(status, 200)
        self.assertIn("protobuf", dict(headers)["Content-Type"])
        top = self.pb_fields(body)
        self.assertEqual(top[0], (1, b"2.0"))  # Document.swagger
        defs = dict((self.pb_fields(ns)[0][1].decode(), self.pb_fields(ns)[1][1])
                    for num, d in top if num == 9 for _, ns in self.pb_fields(d))
        dep = self.pb_fields(defs["io.k8s.api.apps.v1.Deployment"])
        ext = dict((self.pb_fields(v)[0][1].decode(), self.pb_fields(self.pb_fields(v)[1][1])[0][1])
                   for num, v in dep if num == 31)  # vendor_extension: NamedAny{name, Any{yaml}}
        self.assertEqual(json.loads(ext["x-kubernetes-group-version-kind"]),
                         [{"group": "apps", "kind": "Deployment", "version": "v1"}])
        props = [self.pb_fields(p)[0][1].decode() for num, v in dep if num == 25
                 for _, p in self.pb_fields(v)]
        self.assertEqual(props, ["apiVersion", "kind", "metadata", "spec", "status"])
        # kubectl 1.20's --dry-run=server looks for the dryRun parameter of the kind's PATCH.
        paths = dict((self.pb_fields(np)[0][1].decode(), self.pb_fields(np)[1][1])
                     for num, p in top if num == 8 for _, np in self.pb_fields(p))
        item = self.pb_fields(paths["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"])
        patch = [v for num, v in item if num == 8][0]
        names = [self.pb_fields(self.pb_fields(self.pb_fields(self.pb_fields(v)[0][1])[0][1])
                                [0][1]) for num, v in self.pb_fields(patch) if num == 8]
        self.assertIn((4, b"dryRun"), [f for q in names for f in q])

    def test_dry_run_stores_nothing(self):
        status, doc = self.request("POST", "/apis/apps/v1/namespaces/bookinfo/deployments"
                                   "?dryRun=All", self.DEPLOY)
        self.assertEqual(status, 201, doc)
        status, doc = self.request("GET", "/apis/apps/v1/namespaces/bookinfo/deployments/web")
        self.assert_status(doc, 404, "NotFound")

    def test_openapi_v3(self):
        index = self.get("/openapi/v3")["paths"]
        self.assertIn("apis/networking.istio.io/v1alpha3", index)
        doc = self.get(index["apis/apps/v1"]["serverRelativeURL"])
        schemas = doc["components"]["schemas"]
        self.assertEqual(schemas["io.k8s.api.apps.v1.Deployment"]
                         ["x-kubernetes-group-version-kind"][0]["kind"], "Deployment")
        self.assertIn("io.k8s.api.core.v1.Container", schemas)  # every $ref it needs
        patch = doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"]
        self.assertIn("fieldValidation", [p["name"] for p in patch["parameters"]])
        istio = self.get("/openapi/v3/apis/networking.istio.io/v1")["components"]["schemas"]
        vs = istio["io.istio.networking.v1.VirtualService"]
        self.assertTrue(vs["x-kubernetes-preserve-unknown-fields"])
        status, doc = self.request("GET", "/openapi/v3/apis/nosuch.io/v1")
        self.assert_status(doc, 404, "NotFound")

    def test_field_validation(self):
        bad = json.loads(json.dumps(self.DEPLOY))
        bad["spec"]["replica"] = 2
        bad["spec"]["template"]["spec"]["containers"][0]["imagePolicy"] = "Always"
        path = "/apis/apps/v1/namespaces/bookinfo/deployments"
        status, doc = self.request("POST", path + "?fieldValidation=Strict", bad)
        self.assert_status(doc, 400, "BadRequest")
        self.assertEqual(doc["message"], 'Deployment in version "v1" cannot be handled as a '
                         'Deployment: strict decoding error: unknown field '
                         '"spec.template.spec.containers[0].imagePolicy", unknown field '
                         '"spec.replica"')  # in the body's order
        status, headers, body = self.raw_request("POST", path, json.dumps(bad),
                                                 {"Content-Type": "application/json"})
        self.assertEqual(status, 201, body)  # Warn, the server's default: dropped, said
        warns = [v for k, v in headers if k == "Warning"]
        self.assertIn('299 - "unknown field \\"spec.replica\\""', warns)
        self.assertNotIn("replica", json.loads(body)["spec"])
        bad["metadata"]["name"] = "web2"
        status, headers, body = self.raw_request(
            "POST", path + "?fieldValidation=Ignore", json.dumps(bad),
            {"Content-Type": "application/json"})
        self.assertEqual(status, 201, body)
        self.assertEqual([v for k, v in headers if k == "Warning"], [])
        # A custom kind keeps what it is given (Istio's CRDs are open for our purposes).
        vs = {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
              "metadata": {"name": "x"}, "spec": {"hosts": ["x"], "madeUp": {"a": 1}}}
        status, doc = self.request("POST", "/apis/networking.istio.io/v1/namespaces/bookinfo/"
                                   "virtualservices?fieldValidation=Strict", vs)
        self.assertEqual(status, 201, doc)
        self.assertEqual(doc["spec"]["madeUp"], {"a": 1})

    def test_tables(self):
        pods = self.table("/api/v1/namespaces/bookinfo/pods")
        self.assertEqual(self.columns(pods), ["Name", "Ready", "Status", "Restarts", "Age"])
        self.assertEqual(self.columns(pods, True)[5:], ["IP", "Node", "Nominated Node",
                                                        "Readiness Gates"])
        row = [r for r in pods["rows"] if r["cells"][0] == "productpage-v1-54bb874995-x7k2p"][0]
        self.assertEqual(row["cells"][2], "Running")
        self.assertEqual(row["cells"][5:7], ["10.244.1.10", "node1"])
        self.assertEqual(row["object"]["kind"], "PartialObjectMetadata")  # the default
        self.assertEqual(row["object"]["metadata"]["namespace"], "bookinfo")
        full = self.table("/api/v1/namespaces/bookinfo/pods", include="Object")
        self.assertEqual(full["rows"][0]["object"]["kind"], "Pod")
        self.assertIn("spec", full["rows"][0]["object"])
        none = self.table("/api/v1/namespaces/bookinfo/pods", "v1beta1", include="None")
        self.assertNotIn("object", none["rows"][0])
        svc = self.table("/api/v1/namespaces/bookinfo/services")
        self.assertEqual(self.columns(svc, True), ["Name", "Type", "Cluster-IP", "External-IP",
                                                   "Port(s)", "Age", "Selector"])
        row = [r for r in svc["rows"] if r["cells"][0] == "reviews"][0]
        self.assertEqual(row["cells"][1:5], ["ClusterIP", "10.96.10.2", "<none>", "9080/TCP"])
        self.assertEqual(row["cells"][6], "app=reviews")
        self.make_deploy()
        dep = self.table("/apis/apps/v1/namespaces/bookinfo/deployments/web")
        self.assertEqual(self.columns(dep), ["Name", "Ready", "Up-to-date", "Available", "Age"])
        self.assertEqual(dep["rows"][0]["cells"][:2], ["web", "0/1"])
        self.assertEqual(self.columns(self.table("/api/v1/namespaces")),
                         ["Name", "Status", "Age"])
        nodes = self.table("/api/v1/nodes")
        self.assertEqual(self.columns(nodes), ["Name", "Status", "Roles", "Age", "Version"])
        self.assertEqual(nodes["rows"][0]["cells"][1], "Ready")
        crd = self.table("/apis/apiextensions.k8s.io/v1/customresourcedefinitions")
        self.assertEqual(self.columns(crd), ["Name", "Created At"])
        vs = self.table("/apis/networking.istio.io/v1/namespaces/bookinfo/virtualservices")
        self.assertEqual(self.columns(vs), ["Name", "Gateways", "Hosts", "Age"])
        self.assertEqual(vs["rows"][0]["cells"][2], '["reviews"]')
        self.assertEqual(self.columns(self.table(
            "/apis/security.istio.io/v1/authorizationpolicies")), ["Name", "Action", "Age"])
        gw = self.table("/apis/gateway.networking.k8s.io/v1/gateways")
        self.assertEqual(self.columns(gw), ["Name", "Class", "Address", "Programmed", "Age"])
        self.assertEqual(gw["rows"][0]["cells"][1], "istio-waypoint")
        self.assertEqual(self.columns(self.table(
            "/apis/gateway.networking.k8s.io/v1/httproutes")), ["Name", "Hostnames", "Age"])
        self.assertEqual(self.columns(self.table("/apis/networking.istio.io/v1/destinationrules")),
                         ["Name", "Host", "Age"])
        # Without the Table Accept, the same path is a plain List.
        self.assertEqual(self.get("/api/v1/namespaces/bookinfo/pods")["kind"], "PodList")

    def test_discovery_for_kubectl(self):
        core = {r["name"]: r for r in self.get("/api/v1")["resources"]}
        self.assertEqual(core["pods"]["categories"], ["all"])
        self.assertEqual(core["services"]["categories"], ["all"])
        self.assertNotIn("categories", core["secrets"])
        self.assertEqual(core["pods"]["singularName"], "pod")
        # `kubectl create token` looks for it before it sends a TokenRequest.
        self.assertEqual((core["serviceaccounts/token"]["kind"],
                          core["serviceaccounts/token"]["group"],
                          core["serviceaccounts/token"]["verbs"]),
                         ("TokenRequest", "authentication.k8s.io", ["create"]))
        apps = {r["name"]: r for r in self.get("/apis/apps/v1")["resources"]}
        self.assertEqual(apps["deployments"]["categories"], ["all"])
        self.assertEqual(apps["deployments/scale"]["kind"], "Scale")
        self.assertEqual(apps["deployments/scale"]["group"], "autoscaling")
        vs = {r["name"]: r for r in self.get("/apis/networking.istio.io/v1")["resources"]}
        self.assertEqual(vs["virtualservices"]["shortNames"], ["vs"])
        crd = self.get("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/"
                       "virtualservices.networking.istio.io")
        self.assertEqual(crd["spec"]["names"]["kind"], "VirtualService")
        self.assertEqual([c["name"] for c in crd["spec"]["versions"][0]
                          ["additionalPrinterColumns"]], ["Gateways", "Hosts", "Age"])
        names = self.names(self.get("/api/v1/namespaces"))
        self.assertIn("kube-system", names)
        # The CRDs' short names: `kubectl get gtw`, `ap`, `refgrant`.
        gwapi = {r["name"]: r for r in self.get("/apis/gateway.networking.k8s.io/v1")["resources"]}
        self.assertEqual(gwapi["gateways"]["shortNames"], ["gtw"])
        refs = {r["name"]: r
                for r in self.get("/apis/gateway.networking.k8s.io/v1beta1")["resources"]}
        self.assertEqual(refs["referencegrants"]["shortNames"], ["refgrant"])
        sec = {r["name"]: r for r in self.get("/apis/security.istio.io/v1")["resources"]}
        self.assertEqual(sec["authorizationpolicies"]["shortNames"], ["ap"])
        crd = self.get("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/"
                       "gateways.gateway.networking.k8s.io")
        self.assertEqual(crd["spec"]["names"]["shortNames"], ["gtw"])

    def test_status_subresource_only(self):
        """A kind with a status subresource (a CRD's, a Pod's): the object's own PUT and PATCH
        leave status as it was, /status changes nothing else, and generation moves with spec
        only. A kind without one (ConfigMap) has no /status."""
        coll = "/apis/gateway.networking.k8s.io/v1/namespaces/bookinfo/httproutes"
        status, doc = self.request("POST", coll, {
            "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
            "metadata": {"name": "r"}, "spec": {"hostnames": ["a"]}})
        self.assertEqual(status, 201, doc)
        path = coll + "/r"
        parents = {"parents": [{"parentRef": {"name": "gw"}, "controllerName": "c",
                                "conditions": [{"type": "Accepted", "status": "True"}]}]}
        doc["status"] = parents
        doc["spec"]["hostnames"] = ["changed-by-status"]
        status, doc = self.request("PUT", path + "/status", doc)
        self.assertEqual(status, 200, doc)
        got = self.get(path)
        self.assertEqual((got["status"], got["spec"]["hostnames"]), (parents, ["a"]))
        self.assertEqual(got["metadata"]["generation"], 1)
        # The object's own PUT (the mirror's, kubectl replace) with another status, or none.
        got["spec"]["hostnames"] = ["b"]
        got["status"] = {"parents": []}
        status, doc = self.request("PUT", path, got)
        self.assertEqual(status, 200, doc)
        self.assertEqual((doc["status"], doc["spec"]["hostnames"]), (parents, ["b"]))
        self.assertEqual(doc["metadata"]["generation"], 2)
        del doc["status"]
        status, doc = self.request("PUT", path, doc)
        self.assertEqual((status, doc.get("status")), (200, parents), doc)
        # kubectl apply's and label's PATCH.
        status, doc = self.request("PATCH", path, {"metadata": {"labels": {"x": "y"}},
                                                   "status": {"parents": None}},
                                   ctype="application/merge-patch+json")
        self.assertEqual((status, doc["status"], doc["metadata"]["labels"]),
                         (200, parents, {"x": "y"}), doc)
        status, doc = self.request("PATCH", path + "/status", {"status": {"parents": []}},
                                   ctype="application/merge-patch+json")
        self.assertEqual((status, self.get(path)["status"]), (200, {"parents": []}), doc)
        # A Pod's too: the kubelet writes its readiness through /status.
        pod = "/api/v1/namespaces/bookinfo/pods/ratings-v1-686ccfb5d8-q2vbn"
        got = self.get(pod)
        phase = got["status"]["phase"]
        got["status"]["phase"] = "Failed"
        status, doc = self.request("PUT", pod, got)
        self.assertEqual((status, doc["status"]["phase"]), (200, phase), doc)
        status, doc = self.request("GET", "/api/v1/namespaces/bookinfo/configmaps/x/status")
        self.assert_status(doc, 404, "NotFound")

    def test_events_field_selector(self):
        pod = self.get("/api/v1/namespaces/bookinfo/pods/ratings-v1-686ccfb5d8-q2vbn")
        for i, (kind, name, uid, reason) in enumerate([
                ("Pod", pod["metadata"]["name"], pod["metadata"]["uid"], "Scheduled"),
                ("Pod", "other", "u2", "Pulled"),
                ("VirtualService", "reviews", "u3", "Synced")]):
            status, doc = self.request("POST", "/api/v1/namespaces/bookinfo/events", {
                "apiVersion": "v1", "kind": "Event", "metadata": {"name": f"e{i}"},
                "involvedObject": {"kind": kind, "name": name, "namespace": "bookinfo",
                                   "uid": uid},
                "reason": reason, "type": "Warning" if i == 1 else "Normal", "message": "m"})
            self.assertEqual(status, 201, doc)
        sel = (f"involvedObject.name%3D{pod['metadata']['name']}%2CinvolvedObject.namespace"
               f"%3Dbookinfo%2CinvolvedObject.uid%3D{pod['metadata']['uid']}")
        doc = self.get(f"/api/v1/namespaces/bookinfo/events?fieldSelector={sel}")
        self.assertEqual(self.names(doc), ["e0"])
        doc = self.get("/api/v1/events?fieldSelector=involvedObject.kind%3DVirtualService")
        self.assertEqual(self.names(doc), ["e2"])
        doc = self.get("/api/v1/events?fieldSelector=type%3DWarning,reason%3DPulled")
        self.assertEqual(self.names(doc), ["e1"])
        ev = self.table("/api/v1/namespaces/bookinfo/events")
        self.assertEqual(self.columns(ev), ["Last Seen", "Type", "Reason", "Object", "Message"])

    def test_scale_subresource(self):
        self.make_deploy()
        path = "/apis/apps/v1/namespaces/bookinfo/deployments/web/scale"
        sc = self.get(path)
        self.assertEqual((sc["kind"], sc["apiVersion"], sc["spec"]), ("Scale", "autoscaling/v1",
                                                                     {"replicas": 1}))
        self.assertEqual(sc["status"]["selector"], "app=web")
        sc["spec"]["replicas"] = 3
        status, doc = self.request("PUT", path, sc)  # kubectl 1.20 scale
        self.assertEqual((status, doc["spec"]["replicas"]), (200, 3), doc)
        status, doc = self.request("PUT", path, sc)  # the RV it read is stale now
        self.assert_status(doc, 409, "Conflict")
        status, doc = self.request("PATCH", path, {"spec": {"replicas": 5}},
                                   ctype="application/merge-patch+json")  # kubectl 1.32 scale
        self.assertEqual((status, doc["spec"]["replicas"]), (200, 5), doc)
        self.assertEqual(self.get(path[:-6])["spec"]["replicas"], 5)
        status, doc = self.request("PATCH", path, {"spec": {"replicas": -1}},
                                   ctype="application/merge-patch+json")
        self.assert_status(doc, 422, "Invalid")
        status, doc = self.request("GET", "/api/v1/namespaces/bookinfo/services/reviews/scale")
        self.assert_status(doc, 404, "NotFound")

    def test_status_subresource_patch(self):
        path = "/api/v1/namespaces/bookinfo/pods/ratings-v1-686ccfb5d8-q2vbn"
        status, doc = self.request("PATCH", path + "/status",
                                   {"status": {"phase": "Failed"}, "spec": {"nodeName": "x"}},
                                   ctype="application/strategic-merge-patch+json")
        self.assertEqual(status, 200, doc)
        got = self.get(path)
        self.assertEqual((got["status"]["phase"], got["spec"]["nodeName"]), ("Failed", "node2"))
        self.assertEqual(got["status"]["podIP"], "10.244.2.13")  # merged, not replaced

    def test_namespace_lifecycle(self):
        status, doc = self.request("POST", "/api/v1/namespaces/nosuch/configmaps", {
            "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}})
        self.assert_status(doc, 404, "NotFound")
        self.assertEqual(doc["message"], 'namespaces "nosuch" not found')
        before = self.get("/api/v1/pods")["metadata"]["resourceVersion"]
        conn, resp = self.open_watch(f"/api/v1/pods?watch=1&resourceVersion={before}")
        status, doc = self.request("DELETE", "/api/v1/namespaces/bookinfo")
        self.assertEqual(status, 200, doc)
        deleted = sorted(self.next_event(resp)["object"]["metadata"]["name"] for _ in range(4))
        conn.close()
        self.assertEqual(len(deleted), 4)
        for path in ("/api/v1/namespaces/bookinfo/pods", "/api/v1/namespaces/bookinfo/services",
                     "/apis/networking.istio.io/v1/namespaces/bookinfo/virtualservices"):
            self.assertEqual(self.get(path)["items"], [], path)
        self.assertIn("default", self.names(self.get("/api/v1/namespaces")))
        self.assertEqual(self.names(self.get("/api/v1/namespaces/default/serviceaccounts")),
                         ["default"])  # other namespaces keep theirs

    def patch(self, path, body, ctype, code=200):
        status, doc = self.request("PATCH", path, body, ctype=ctype)
        self.assertEqual(status, code, doc)
        return doc

    def test_strategic_merge_patch(self):
        self.make_deploy()
        path = "/apis/apps/v1/namespaces/bookinfo/deployments/web"
        smp = "application/strategic-merge-patch+json"
        # kubectl set image / apply: a container by name, its env by name.
        doc = self.patch(path, {"spec": {"template": {"spec": {"containers": [
            {"name": "b", "image": "b:2"},
            {"name": "a", "env": [{"name": "Y", "value": "3"}, {"name": "Z", "value": "4"}]}]}}}},
            smp)
        cs = doc["spec"]["template"]["spec"]["containers"]
        self.assertEqual([(c["name"], c["image"]) for c in cs], [("a", "a:1"), ("b", "b:2")])
        self.assertEqual(cs[0]["env"], [{"name": "X", "value": "1"}, {"name": "Y", "value": "3"},
                                        {"name": "Z", "value": "4"}])
        self.assertEqual(cs[0]["ports"], [{"containerPort": 80}])
        # kubectl apply: $setElementOrder and a deleted element.
        doc = self.patch(path, {"spec": {"template": {"spec": {
            "$setElementOrder/containers": [{"name": "b"}, {"name": "a"}],
            "containers": [{"name": "a", "$setElementOrder/env": [{"name": "Z"}, {"name": "X"}],
                            "env": [{"name": "Y", "$patch": "delete"}]}]}}}}, smp)
        cs = doc["spec"]["template"]["spec"]["containers"]
        self.assertEqual([c["name"] for c in cs], ["b", "a"])
        self.assertEqual([e["name"] for e in cs[1]["env"]], ["Z", "X"])
        # kubectl rollout restart; a map replaced whole with $patch: replace; $retainKeys.
        doc = self.patch(path, {"spec": {"template": {"metadata": {"annotations": {
            "kubectl.kubernetes.io/restartedAt": "2026-11-26T00:00:00Z"}}}}}, smp)
        self.assertEqual(doc["spec"]["template"]["metadata"]["annotations"],
                         {"kubectl.kubernetes.io/restartedAt": "2026-11-26T00:00:00Z"})
        self.assertEqual(doc["metadata"]["generation"], 4)
        doc = self.patch(path, {"metadata": {"labels": {"$patch": "replace", "new": "1"}}}, smp)
        self.assertEqual(doc["metadata"]["labels"], {"new": "1"})
        doc = self.patch(path, {"spec": {"strategy": {"$retainKeys": ["type"],
                                                      "type": "Recreate"}}}, smp)
        self.assertEqual(doc["spec"]["strategy"], {"type": "Recreate"})
        # A label removed with null, as kubectl label k- sends it.
        doc = self.patch(path, {"metadata": {"labels": {"new": None}}}, smp)
        self.assertEqual(doc["metadata"].get("labels", {}), {})

    def test_json_patch(self):
        path = "/api/v1/namespaces/bookinfo/pods/ratings-v1-686ccfb5d8-q2vbn"
        jp = "application/json-patch+json"
        doc = self.patch(path, [{"op": "add", "path": "/metadata/labels/x~1y", "value": "1"},
                                {"op": "replace", "path": "/spec/nodeName", "value": "node1"},
                                {"op": "test", "path": "/spec/nodeName", "value": "node1"}], jp)
        self.assertEqual((doc["metadata"]["labels"]["x/y"], doc["spec"]["nodeName"]),
                         ("1", "node1"))
        doc = self.patch(path, [{"op": "remove", "path": "/metadata/labels/x~1y"}], jp)
        self.assertNotIn("x/y", doc["metadata"]["labels"])
        status, doc = self.request("PATCH", path, [{"op": "test", "path": "/spec/nodeName",
                                                    "value": "node2"}], ctype=jp)
        self.assert_status(doc, 422, "Invalid")

    def test_unsupported_media_type(self):
        path = "/api/v1/namespaces/bookinfo/pods/ratings-v1-686ccfb5d8-q2vbn"
        status, doc = self.request("PATCH", path, {"metadata": {}},
                                   ctype="application/apply-patch+yaml")
        self.assert_status(doc, 415, "UnsupportedMediaType")
        # A custom kind takes no strategic merge patch, as the real server's CRDs.
        status, doc = self.request("PATCH", "/apis/networking.istio.io/v1/namespaces/bookinfo/"
                                   "virtualservices/reviews", {"metadata": {}},
                                   ctype="application/strategic-merge-patch+json")
        self.assert_status(doc, 415, "UnsupportedMediaType")
        status, doc = self.request("POST", "/api/v1/namespaces/bookinfo/configmaps", {},
                                   ctype="text/plain")
        self.assert_status(doc, 415, "UnsupportedMediaType")

    def test_protobuf_namespace_as_kubectl_132_creates_it(self):
        def field(num, payload):
            return bytes([num << 3 | 2, len(payload)]) + payload
        meta = field(1, field(1, b"demo") + field(11, field(1, b"k") + field(2, b"v")))
        body = b"k8s\x00" + field(1, field(1, b"v1") + field(2, b"Namespace")) + field(2, meta)
        status, _, out = self.raw_request("POST", "/api/v1/namespaces", body, {
            "Content-Type": "application/vnd.kubernetes.protobuf"})
        self.assertEqual(status, 201, out)
        got = self.get("/api/v1/namespaces/demo")
        self.assertEqual(got["metadata"]["labels"], {"k": "v", "kubernetes.io/metadata.name":
                                                     "demo"})

    def test_unknown_paths_and_verbs(self):
        for path in ("/apis/nosuch.io/v1/things", "/api/v1/nosuchkinds",
                     "/api/v1/namespaces/bookinfo/pods/x/nosuchsub", "/nothing/here",
                     "/api/v1/namespaces/bookinfo/nodes"):
            status, doc = self.request("GET", path)
            self.assert_status(doc, 404, "NotFound")
            self.assertEqual(doc["message"], "the server could not find the requested resource")
        status, doc = self.request("PUT", "/api/v1/namespaces/bookinfo/pods", {})
        self.assert_status(doc, 405, "MethodNotAllowed")
        status, doc = self.request("POST", "/api/v1/namespaces/bookinfo/pods/x", {})
        self.assert_status(doc, 405, "MethodNotAllowed")
        status, doc = self.request("OPTIONS", "/api/v1/namespaces/bookinfo/pods/x")
        self.assert_status(doc, 405, "MethodNotAllowed")

    def test_no_traceback_on_the_wire(self):
        """Malformed requests of every sort get a Status (or an error line from the HTTP
        layer) and never a Python exception's text; the server answers after each."""
        pod = "/api/v1/namespaces/bookinfo/pods/ratings-v1-686ccfb5d8-q2vbn"
        dep = "/apis/apps/v1/namespaces/bookinfo/deployments/web"
        self.make_deploy()
        cases = [
            ("GET", "/api/v1/pods?limit=abc", None, "application/json"),
            ("GET", "/api/v1/pods?watch=1&timeoutSeconds=abc", None, "application/json"),
            ("GET", "/api/v1/pods?continue=%%%", None, "application/json"),
            ("GET", "/api/v1/pods?labelSelector=a+in+(b", None, "application/json"),
            ("GET", "/api/v1/pods?fieldSelector=%3D%3D", None, "application/json"),
            ("POST", "/api/v1/namespaces/bookinfo/pods", b"{not json", "application/json"),
            ("POST", "/api/v1/namespaces/bookinfo/pods", b"[1,2]", "application/json"),
            ("POST", "/api/v1/namespaces/bookinfo/pods", b'{"metadata": "x"}',
             "application/json"),
            ("POST", "/api/v1/namespaces/bookinfo/pods", b'{"metadata": {"name": 5}}',
             "application/json"),
            ("POST", "/api/v1/namespaces/bookinfo/pods", b'{"metadata": {"name": "p", '
             b'"labels": [1]}, "spec": []}', "application/json"),
            ("PUT", pod, b'{"metadata": {"name": ["x"]}}', "application/json"),
            ("PATCH", pod, b'{"metadata": null}', "application/merge-patch+json"),
            ("PATCH", pod, b'{"metadata": {"labels": 7}}', "application/strategic-merge-patch+json"),
            ("PATCH", pod, b'{"spec": {"containers": "x"}}',
             "application/strategic-merge-patch+json"),
            ("PATCH", pod, b'{"spec": {"containers": [1, {"$patch": "delete"}]}}',
             "application/strategic-merge-patch+json"),
            ("PATCH", pod, b'{"$patch": "delete"}', "application/strategic-merge-patch+json"),
            ("PATCH", pod, b'[{"op": "move", "from": "/nope", "path": "/x"}]',
             "application/json-patch+json"),
            ("PATCH", pod, b'[{"op": "add", "path": "/spec/containers/99", "value": 1}]',
             "application/json-patch+json"),
            ("PATCH", pod, b'[{"op": "replace", "path": "", "value": 3}]',
             "application/json-patch+json"),
            ("PATCH", pod, b'{"a": 1}', "application/json-patch+json"),
            ("PATCH", pod, b"\xff\xfe", "application/merge-patch+json"),
            ("PUT", dep + "/scale", b'"x"', "application/json"),
            ("PUT", dep + "/scale", b'{"spec": 3}', "application/json"),
            ("PATCH", dep + "/scale", b'{"spec": {"replicas": "x"}}',
             "application/merge-patch+json"),
            ("PUT", pod + "/status", b'{"status": 1}', "application/json"),
            ("PATCH", pod + "/status", b'[1]', "application/merge-patch+json"),
            ("POST", "/api/v1/namespaces", b"k8s\x00\x0a\xff", "application/vnd.kubernetes.protobuf"),
            ("POST", "/apis/authentication.k8s.io/v1/tokenreviews", b'{"kind": "TokenReview", '
             b'"spec": []}', "application/json"),
            ("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
             b'{"kind": "SelfSubjectAccessReview", "spec": {"resourceAttributes": {"verb": 5}}}',
             "application/json"),
            ("POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews",
             b'{"kind": "SubjectAccessReview", "spec": {"user": [], "groups": 3, '
             b'"nonResourceAttributes": {"path": "/"}}}', "application/json"),
            ("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
             b"k8s\x00\x0a\x33\x0a\x17authorization.k8s.io/v1\x12\x17SelfSubjectAccessReview"
             b"\x12\x04\x12\x02\x0a\x05", "application/vnd.kubernetes.protobuf"),
            ("DELETE", "/api/v1/namespaces/bookinfo/pods?labelSelector=!!", None,
             "application/json"),
            ("GET", "/openapi/v3/apis", None, "application/json"),
            ("GET", "/api/v1/pods", None, "application/json;as=Table;v=v1;g=meta.k8s.io"),
        ]
        for method, path, body, ctype in cases:
            headers = {"Content-Type": ctype}
            if "as=Table" in ctype:
                headers["Accept"] = ctype
            try:
                status, _, out = self.raw_request(method, path, body, headers)
            except (http.client.HTTPException, OSError) as e:
                self.fail(f"{method} {path} {body!r}: no answer ({e!r})")
            text = out.decode("utf-8", "replace")
            for word in ("Traceback", 'File "', "Error(", "Exception", "object has no",
                         "not subscriptable", "unhashable", "NoneType", "KeyError"):
                self.assertNotIn(word, text, f"{method} {path} {body!r}: {text}")
            if status >= 400:
                doc = json.loads(out)
                self.assertEqual(doc["kind"], "Status", text)
                self.assertEqual(doc["code"], status, text)
            # Each is the client's error, none the server's; none stores a broken object.
            self.assertTrue(400 <= status < 500 or "as=Table" in ctype or
                            "tokenreviews" in path, f"{status} {method} {path} {body!r}: {text}")
        self.assertEqual(self.get("/api/v1/namespaces/bookinfo/pods")["kind"], "PodList")

if __name__ == "__main__":
    unittest.main()
