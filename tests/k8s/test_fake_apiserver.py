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
        self.assertEqual(self.get("/version")["major"], "1")


if __name__ == "__main__":
    unittest.main()
