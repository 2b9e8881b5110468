#!/usr/bin/env python3
"""The bookinfo example (examples/bookinfo/src) without a cluster: each service runs on loopback
on a port of its own, pointed at the others (or at stubs this test serves) by the same
environment variables the sample reads.

What it holds the services to: the page and its markers (stars and their colour per version),
login and logout, end-user from the session through reviews to ratings, every propagated header
on every hop, productpage's 3 s timeout and single retry of reviews, reviews' ratings timeout
(10 s for v2, 2.5 s for v3) against a 7 s delay as in the fault-injection task, the sample's error
texts, and clear refusals of bad input. No assertion is on elapsed time: slow upstreams are
stubs that record whether the caller gave up (closed the connection) or waited for the answer.

Run: python3 tests/examples/test_bookinfo.py   (make bookinfo-test)
"""

import http.client
import http.server
import json
import os
import re
import select
import socket
import subprocess
import sys
import threading
import time
import unittest

SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../examples/bookinfo/src")
PROPAGATED = ("x-request-id", "traceparent", "tracestate", "b3", "x-b3-traceid", "x-b3-spanid",
              "x-b3-parentspanid", "x-b3-sampled", "x-b3-flags", "x-ot-span-context",
              "x-datadog-trace-id", "x-datadog-parent-id", "x-datadog-sampling-priority",
              "x-cloud-trace-context", "grpc-trace-bin", "sw8", "user-agent", "authorization",
              "jwt")
REVIEWS_ERROR = "Sorry, product reviews are currently unavailable for this book."
DETAILS_ERROR = "Sorry, product details are currently unavailable for this book."
RATINGS_ERROR = "Ratings service is currently unavailable"
# Longest a stub holds a request before giving up on the caller (far above every timeout tested).
STUB_DEADLINE = 40.0
# Settings of the services this test must not inherit from whoever runs it.
SCRUB = re.compile(r"^(ENABLE_RATINGS|STAR_COLOR|SERVICE_VERSION|SERVICES_DOMAIN|CLUSTER_NAME|"
                   r"POD_NAME|SESSION_SECRET|BIND_ADDRESS|ENABLE_EXTERNAL_BOOK_SERVICE|"
                   r"[A-Z]+_HOSTNAME|[A-Z]+_SERVICE_PORT)$")

REVIEWS_JSON = {"id": "0", "podname": "stub", "clustername": "null", "reviews": [
    {"reviewer": "Reviewer1", "text": "stub review one"},
    {"reviewer": "Reviewer2", "text": "stub review two"}]}
DETAILS_JSON = {"id": 0, "publisher": "StubPublisher", "pages": 1, "type": "paperback",
                "language": "English", "ISBN-10": "0000000000"}
RATINGS_JSON = {"id": 0, "ratings": {"Reviewer1": 3, "Reviewer2": 1}}


class Stub:
    """An upstream on loopback that records each request (path, headers, outcome) and answers as
    told: ("ok",), ("status", N), ("fail-once",) = 503 then ok, ("delay", S) = ok after S
    seconds unless the caller leaves first, ("hang",) = never answer."""

    def __init__(self, mode, body):
        self.mode, self.body, self.records, self.lock = mode, body, [], threading.Lock()
        stub = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                stub.serve(self)

            def log_message(self, *args):
                pass

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.srv.daemon_threads = True
        self.port = self.srv.server_address[1]
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def serve(self, h):
        with self.lock:
            n = len(self.records)
            rec = {"path": h.path, "headers": {k.lower(): v for k, v in h.headers.items()},
                   "outcome": "pending"}
            self.records.append(rec)
        kind = self.mode[0]
        if kind == "hang" or kind == "delay":
            wait = STUB_DEADLINE if kind == "hang" else self.mode[1]
            if caller_left(h.connection, wait):
                rec["outcome"] = "caller left"
                return
            if kind == "hang":
                rec["outcome"] = "stub deadline"
                return
        status = 200
        if kind == "status" or (kind == "fail-once" and n == 0):
            status = self.mode[1] if kind == "status" else 503
        data = json.dumps(self.body if status == 200 else {"error": "stub"}).encode()
        try:
            h.send_response(status)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            h.wfile.write(data)
            rec["outcome"] = "answered %d" % status
        except OSError:
            rec["outcome"] = "caller left"

    def settled(self, count, timeout=STUB_DEADLINE + 10):
        """The records once COUNT requests came and none is pending (or after TIMEOUT)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with self.lock:
                if len(self.records) >= count and all(r["outcome"] != "pending"
                                                      for r in self.records):
                    break
            time.sleep(0.05)
        with self.lock:
            return list(self.records)

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


def caller_left(conn, seconds):
    """Waits up to SECONDS for the peer of CONN to close it; True if it did."""
    end = time.monotonic() + seconds
    while True:
        left = end - time.monotonic()
        if left <= 0:
            return False
        r, _, _ = select.select([conn], [], [], min(left, 0.1))
        if r:
            try:
                if conn.recv(1, socket.MSG_PEEK) == b"":
                    return True
            except OSError:
                return True
            time.sleep(0.05)


class Service:
    """One bookinfo service as a child process on 127.0.0.1 (a free port), its log collected."""

    def __init__(self, name, **env):
        e = {k: v for k, v in os.environ.items() if not SCRUB.match(k)}
        e.update(BIND_ADDRESS="127.0.0.1", PYTHONUNBUFFERED="1")
        e.update({k: str(v) for k, v in env.items()})
        self.name = name
        self.proc = subprocess.Popen([sys.executable, os.path.join(SRC, name + ".py"), "0"],
                                     env=e, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True)
        first = self.proc.stdout.readline()
        m = re.search(r"listening on 127\.0\.0\.1:(\d+)", first)
        if not m:
            self.proc.kill()
            raise RuntimeError("%s did not start: %r" % (name, first + self.proc.stdout.read()))
        self.port = int(m.group(1))
        self.lines, self.lock = [], threading.Lock()
        threading.Thread(target=self.drain, daemon=True).start()

    def drain(self):
        for line in self.proc.stdout:
            with self.lock:
                self.lines.append(line.rstrip("\n"))

    def log(self, pattern, count=1, timeout=10):
        """The log lines matching PATTERN, once there are COUNT of them (or after TIMEOUT)."""
        end = time.monotonic() + timeout
        while True:
            with self.lock:
                found = [ln for ln in self.lines if re.search(pattern, ln)]
            if len(found) >= count or time.monotonic() > end:
                return found
            time.sleep(0.05)

    def stop(self):
        self.proc.kill()
        self.proc.wait()
        self.proc.stdout.close()


def call(port, method, path, headers=None, body=None, timeout=60):
    """(status, headers, text) of one request to 127.0.0.1:PORT."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        return r.status, r.headers, r.read().decode()
    finally:
        c.close()


def at(svc_or_stub, name):
    """The env variables pointing a service at upstream NAME served by SVC_OR_STUB."""
    return {name.upper() + "_HOSTNAME": "127.0.0.1",
            name.upper() + "_SERVICE_PORT": svc_or_stub.port}


def login(port, user):
    status, headers, _ = call(port, "POST", "/login", {
        "Content-Type": "application/x-www-form-urlencoded"}, "username=%s&passwd=x" % user)
    assert status == 302, status
    cookie = headers.get("Set-Cookie", "")
    assert cookie.startswith("session="), cookie
    return cookie.split(";", 1)[0]


class Bookinfo(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.procs, cls.stubs = [], []
        try:
            cls.ratings = cls.start("ratings")
            cls.details = cls.start("details")
            cls.v1 = cls.start("reviews", POD_NAME="reviews-v1-t", **at(cls.ratings, "ratings"))
            cls.v2 = cls.start("reviews", POD_NAME="reviews-v2-t", ENABLE_RATINGS="true",
                               **at(cls.ratings, "ratings"))
            cls.v3 = cls.start("reviews", POD_NAME="reviews-v3-t", ENABLE_RATINGS="true",
                               STAR_COLOR="red", **at(cls.ratings, "ratings"))
            cls.page = cls.start("productpage", **at(cls.details, "details"),
                                 **at(cls.v2, "reviews"), **at(cls.ratings, "ratings"))
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        for p in cls.procs:
            p.stop()
        for s in cls.stubs:
            s.close()

    @classmethod
    def start(cls, name, **env):
        svc = Service(name, **env)
        cls.procs.append(svc)
        return svc

    @classmethod
    def stub(cls, mode, body):
        s = Stub(mode, body)
        cls.stubs.append(s)
        return s

    def test_page_as_jason_v2_black_stars_and_end_user_to_ratings(self):
        cookie = login(self.page.port, "jason")
        status, _, html = call(self.page.port, "GET", "/productpage",
                               {"Cookie": cookie, "x-request-id": "rid-jason-1"})
        self.assertEqual(status, 200)
        for text in ("<title>Simple Bookstore App</title>", "The Comedy of Errors",
                     "Book Details", "PublisherA", "1234567890", "Reviewer1", "Reviewer2",
                     "Reviews served by: reviews-v2-t", "jason", "Sign out"):
            self.assertIn(text, html)
        self.assertEqual(html.count('<span class="glyphicon glyphicon-star"></span>'), 9)
        self.assertEqual(html.count("glyphicon-star-empty"), 1)
        self.assertEqual(html.count('<font color="black">'), 2)
        self.assertNotIn('color="red"', html)
        # One log line per request on each hop, each carrying the user and the request id.
        for svc, path in ((self.v2, "/reviews/0"), (self.ratings, "/ratings/0"),
                          (self.details, "/details/0")):
            lines = svc.log("GET %s 200 .*end-user=jason x-request-id=rid-jason-1$" % path)
            self.assertEqual(len(lines), 1, "%s log: %s" % (svc.name, svc.lines))

    def test_logout_and_anonymous(self):
        status, headers, _ = call(self.page.port, "GET", "/logout")
        self.assertEqual(status, 302)
        self.assertEqual(headers["Location"], "/productpage")
        self.assertIn("Max-Age=0", headers["Set-Cookie"])
        _, _, html = call(self.page.port, "GET", "/productpage", {"x-request-id": "rid-anon"})
        self.assertIn('name="username"', html)
        self.assertNotIn("Sign out", html)
        self.assertEqual(len(self.ratings.log("end-user=- x-request-id=rid-anon$")), 1)
        # A forged or stale cookie, or an end-user header from the client, signs nobody in.
        forged = "session=amFzb24=.0000"
        _, _, html = call(self.page.port, "GET", "/productpage", {
            "Cookie": forged, "end-user": "mallory", "x-request-id": "rid-forged"})
        self.assertNotIn("Sign out", html)
        self.assertEqual(len(self.ratings.log("end-user=- x-request-id=rid-forged$")), 1)

    def test_bad_login_refused(self):
        for form in ("passwd=x", "username=", "username=%0d%0aX-Evil:%201", "username=" + "a" * 65):
            status, _, text = call(self.page.port, "POST", "/login", {
                "Content-Type": "application/x-www-form-urlencoded"}, form)
            self.assertEqual(status, 400, form)
            self.assertIn("username must be 1 to 64 printable ASCII characters", text)

    def test_versions_and_json(self):
        for svc, pod, color in ((self.v1, "reviews-v1-t", None),
                                (self.v2, "reviews-v2-t", "black"),
                                (self.v3, "reviews-v3-t", "red")):
            status, _, text = call(svc.port, "GET", "/reviews/0")
            self.assertEqual(status, 200)
            r = json.loads(text)
            self.assertEqual((r["id"], r["podname"], r["clustername"]), ("0", pod, "null"))
            self.assertEqual([x["reviewer"] for x in r["reviews"]], ["Reviewer1", "Reviewer2"])
            if color is None:
                self.assertTrue(all("rating" not in x for x in r["reviews"]))
            else:
                self.assertEqual([x["rating"] for x in r["reviews"]],
                                 [{"stars": 5, "color": color}, {"stars": 4, "color": color}])
        page = self.start("productpage", **at(self.details, "details"), **at(self.v3, "reviews"))
        _, _, html = call(page.port, "GET", "/productpage")
        self.assertEqual(html.count('<font color="red">'), 2)
        self.assertEqual(html.count('<span class="glyphicon glyphicon-star"></span>'), 9)
        page = self.start("productpage", **at(self.details, "details"), **at(self.v1, "reviews"))
        _, _, html = call(page.port, "GET", "/productpage")
        self.assertIn("Reviews served by: reviews-v1-t", html)
        self.assertNotIn("glyphicon", html)

    def test_api_and_other_services(self):
        p = self.page.port
        cases = [
            (p, "/health", 200, "Product page is healthy"),
            (p, "/", 200, "Simple Bookstore App"),
            (p, "/api/v1/products", 200, '"title": "The Comedy of Errors"'),
            (p, "/api/v1/products/0", 200, '"publisher": "PublisherA"'),
            (p, "/api/v1/products/0/reviews", 200, '"color": "black"'),
            (p, "/api/v1/products/0/ratings", 200, '"Reviewer1": 5'),
            (p, "/api/v1/products/x/reviews", 400, "numeric product id"),
            (p, "/nothing", 404, "productpage has no GET /nothing"),
            (self.details.port, "/details/0", 200, '"ISBN-13": "123-1234567890"'),
            (self.details.port, "/details/zero", 400, "please provide numeric product id"),
            (self.details.port, "/health", 200, "Details is healthy"),
            (self.ratings.port, "/ratings/0", 200, '"ratings": {"Reviewer1": 5, "Reviewer2": 4}'),
            (self.ratings.port, "/health", 200, "Ratings is healthy"),
            (self.v1.port, "/reviews/99999999999", 400, "numeric product id"),
            (self.v1.port, "/health", 200, "Reviews is healthy"),
        ]
        for port, path, want, text in cases:
            status, _, body = call(port, "GET", path)
            self.assertEqual(status, want, path)
            self.assertIn(text, body, path)
        # A superscript two is a digit to str.isdigit(), not a product id.
        with socket.create_connection(("127.0.0.1", self.ratings.port), timeout=30) as s:
            s.sendall(b"GET /ratings/\xb2 HTTP/1.0\r\n\r\n")
            answer = b"".join(iter(lambda: s.recv(4096), b""))
        self.assertTrue(answer.startswith(b"HTTP/1.1 400 "), answer)
        self.assertIn(b"numeric product ID", answer)

    def test_ratings_post(self):
        port = self.ratings.port
        status, _, text = call(port, "POST", "/ratings/7", {}, '{"Reviewer1": 1, "Reviewer2": 2}')
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(text), {"id": 7, "ratings": {"Reviewer1": 1, "Reviewer2": 2}})
        self.assertIn('"Reviewer1": 1', call(port, "GET", "/ratings/7")[2])
        for bad in ("nope", '{"Reviewer1": 9}', "[1]", "{}"):
            status, _, text = call(port, "POST", "/ratings/7", {}, bad)
            self.assertEqual(status, 400, bad)
            self.assertIn("please provide valid ratings JSON", text)
        status, _, _ = call(port, "POST", "/ratings/7", {"Content-Length": "99999999"}, "")
        self.assertEqual(status, 413)

    def test_headers_propagated_on_every_hop(self):
        details, reviews = self.stub(("ok",), DETAILS_JSON), self.stub(("ok",), REVIEWS_JSON)
        page = self.start("productpage", **at(details, "details"), **at(reviews, "reviews"))
        ratings = self.stub(("ok",), RATINGS_JSON)
        v2 = self.start("reviews", ENABLE_RATINGS="true", **at(ratings, "ratings"))
        sent = {h: "val-%d-%s" % (i, h) for i, h in enumerate(PROPAGATED)}
        cookie = login(page.port, "jason")
        status, _, html = call(page.port, "GET", "/productpage",
                               dict(sent, cookie=cookie, **{"end-user": "mallory"}))
        self.assertEqual(status, 200)
        self.assertIn("StubPublisher", html)
        self.assertIn("stub review two", html)
        for stub in (details, reviews):
            got = stub.settled(1)[0]["headers"]
            for h, v in sent.items():
                self.assertEqual(got.get(h), v, "productpage -> %s: %s" % (stub.body, h))
            self.assertEqual(got.get("end-user"), "jason", "end-user comes from the session")
            self.assertEqual(got.get("cookie"), cookie)
        status, _, text = call(v2.port, "GET", "/reviews/0", dict(sent, **{"end-user": "jason"}))
        self.assertEqual(json.loads(text)["reviews"][0]["rating"], {"stars": 3, "color": "black"})
        got = ratings.settled(1)[0]["headers"]
        for h, v in dict(sent, **{"end-user": "jason"}).items():
            self.assertEqual(got.get(h), v, "reviews -> ratings: %s" % h)

    def test_reviews_retried_once(self):
        for mode, want_status, want_text in ((("fail-once",), 200, "stub review one"),
                                              (("status", 503), 503, REVIEWS_ERROR)):
            reviews = self.stub(mode, REVIEWS_JSON)
            page = self.start("productpage", **at(self.details, "details"),
                              **at(reviews, "reviews"))
            _, _, html = call(page.port, "GET", "/productpage")
            self.assertIn(want_text, html, mode)
            status, _, text = call(page.port, "GET", "/api/v1/products/0/reviews")
            self.assertEqual(status, want_status, mode)
            self.assertIn(want_text, text)
            self.assertEqual(len(reviews.settled(4 if want_status != 200 else 3)),
                             4 if want_status != 200 else 3, "two tries per failed call")

    def test_details_error_not_retried(self):
        details = self.stub(("status", 500), DETAILS_JSON)
        page = self.start("productpage", **at(details, "details"), **at(self.v1, "reviews"))
        _, _, html = call(page.port, "GET", "/productpage")
        self.assertIn("Error fetching product details", html)
        self.assertIn(DETAILS_ERROR, html)
        self.assertIn("Reviewer1", html)
        self.assertEqual(len(details.settled(1)), 1)
        status, _, text = call(page.port, "GET", "/api/v1/products/0")
        self.assertEqual((status, json.loads(text)), (500, {"error": DETAILS_ERROR}))

    def test_ratings_abort(self):
        ratings = self.stub(("status", 500), RATINGS_JSON)
        v2 = self.start("reviews", ENABLE_RATINGS="true", **at(ratings, "ratings"))
        page = self.start("productpage", **at(self.details, "details"), **at(v2, "reviews"))
        _, _, html = call(page.port, "GET", "/productpage")
        self.assertEqual(html.count(RATINGS_ERROR), 2)
        self.assertNotIn("glyphicon", html)
        self.assertIn("Reviewer2", html)

    def test_timeouts(self):
        """The fault-injection numbers, all at once (threads) to keep the test short."""
        hung_reviews = self.stub(("hang",), REVIEWS_JSON)
        page_a = self.start("productpage", **at(self.details, "details"),
                            **at(hung_reviews, "reviews"))
        quick_reviews = self.stub(("delay", 0.3), REVIEWS_JSON)
        page_q = self.start("productpage", **at(self.details, "details"),
                            **at(quick_reviews, "reviews"))
        delayed_v2, delayed_v3 = self.stub(("delay", 7), RATINGS_JSON), \
            self.stub(("delay", 7), RATINGS_JSON)
        v2 = self.start("reviews", ENABLE_RATINGS="true", **at(delayed_v2, "ratings"))
        v3 = self.start("reviews", ENABLE_RATINGS="true", STAR_COLOR="red",
                        **at(delayed_v3, "ratings"))
        page_b = self.start("productpage", **at(self.details, "details"), **at(v2, "reviews"))
        page_c = self.start("productpage", **at(self.details, "details"), **at(v3, "reviews"))
        hung_ratings = self.stub(("hang",), RATINGS_JSON)
        v2_hung = self.start("reviews", ENABLE_RATINGS="true", **at(hung_ratings, "ratings"))

        results = {}

        def run(key, port, path, cookie=None):
            results[key] = call(port, "GET", path, {"Cookie": cookie} if cookie else {})

        jobs = [("a", page_a.port, "/productpage"), ("q", page_q.port, "/productpage"),
                ("b", page_b.port, "/productpage", login(page_b.port, "jason")),
                ("c", page_c.port, "/productpage"), ("d", v2_hung.port, "/reviews/0")]
        threads = [threading.Thread(target=run, args=j) for j in jobs]
        for t in threads:
            t.start()
        for t in threads:
            t.join(90)

        # productpage -> reviews that never answers: two tries, each abandoned by productpage.
        self.assertIn(REVIEWS_ERROR, results["a"][2])
        self.assertIn("Error fetching product reviews", results["a"][2])
        self.assertEqual([r["outcome"] for r in hung_reviews.settled(2)], ["caller left"] * 2)
        # An answer well inside the timeout is taken at the first try.
        self.assertIn("stub review one", results["q"][2])
        self.assertEqual([r["outcome"] for r in quick_reviews.settled(1)], ["answered 200"])
        # The task's 7 s ratings delay for jason: reviews v2 waits it out (10 s timeout), but
        # productpage has given up on both tries by then: reviews unavailable.
        self.assertIn(REVIEWS_ERROR, results["b"][2])
        recs = delayed_v2.settled(2)
        self.assertEqual([r["outcome"] for r in recs], ["answered 200"] * 2)
        self.assertEqual([r["headers"].get("end-user") for r in recs], ["jason"] * 2)
        # reviews v3 gives up on ratings first (2.5 s): the page has reviews, ratings unavailable.
        self.assertEqual(results["c"][2].count(RATINGS_ERROR), 2)
        self.assertIn("Reviewer1", results["c"][2])
        self.assertEqual([r["outcome"] for r in delayed_v3.settled(1)], ["caller left"])
        # ...and v2's wait is bounded too: a ratings that never answers is abandoned.
        self.assertEqual([r["rating"] for r in json.loads(results["d"][2])["reviews"]],
                         [{"error": RATINGS_ERROR}] * 2)
        self.assertEqual([r["outcome"] for r in hung_ratings.settled(1)], ["caller left"])

    def test_bad_settings_refused(self):
        env = {k: v for k, v in os.environ.items() if not SCRUB.match(k)}
        cases = [(["ratings.py"], {"SERVICE_VERSION": "v2"}, "SERVICE_VERSION=v2 is not provided"),
                 (["details.py"], {"ENABLE_EXTERNAL_BOOK_SERVICE": "true"}, "Google Books"),
                 (["reviews.py", "ninety"], {}, "'ninety' is not a port number"),
                 (["productpage.py", str(self.page.port)], {"BIND_ADDRESS": "127.0.0.1"},
                  "cannot listen on 127.0.0.1:%d" % self.page.port)]
        for argv, extra, text in cases:
            argv = [sys.executable, os.path.join(SRC, argv[0])] + argv[1:]
            r = subprocess.run(argv, env=dict(env, **extra), capture_output=True, text=True,
                               timeout=30)
            self.assertNotEqual(r.returncode, 0, argv)
            self.assertIn(text, r.stderr, argv)
            self.assertNotIn("Traceback", r.stderr, argv)

    def test_nothing_written_to_the_tree(self):
        self.assertEqual([f for f in os.listdir(SRC) if not f.endswith(".py")], [])


if __name__ == "__main__":
    unittest.main(verbosity=2)
