#!/usr/bin/env python3
"""bookinfo ratings: the stars two reviewers gave a book.

  GET  /ratings/<id>   {"id": <id>, "ratings": {"Reviewer1": 5, "Reviewer2": 4}}
  POST /ratings/<id>   body {"Reviewer1": n, ...}: replaces that book's ratings (kept in memory)
  GET  /health         {"status": "Ratings is healthy"}

SERVICE_VERSION=v1 (the default) is the only version: the sample's v2 reads a database.
Usage: ratings.py [PORT]   (default 9080)
"""

import sys

sys.dont_write_bytecode = True

import json  # noqa: E402
import re  # noqa: E402
import threading  # noqa: E402

import service  # noqa: E402

DEFAULT = {"Reviewer1": 5, "Reviewer2": 4}
ROUTE = re.compile(r"^/ratings/([^/]*)$")

_lock = threading.Lock()
_posted = {}  # product id -> ratings POSTed while this process runs


def ratings_of(product_id):
    with _lock:
        return {"id": product_id, "ratings": _posted.get(product_id, DEFAULT)}


def parse_ratings(raw):
    """The reviewer -> stars object of a POST body, or None unless it is one with 0..5 stars."""
    try:
        obj = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(obj, dict) or not obj:
        return None
    for name, stars in obj.items():
        if type(stars) is not int or not 0 <= stars <= 5 or not name:
            return None
    return obj


class Ratings(service.Handler):
    service = "ratings"

    def product_id(self):
        """The numeric id of a /ratings/<id> path; None (answered) when the path is not one."""
        m = ROUTE.match(self.path_only())
        if not m:
            self.not_found()
            return None
        pid = service.product_id(m.group(1))
        if pid is None:
            self.send_json(400, {"error": "please provide numeric product ID"})
        return pid

    def do_GET(self):
        if self.path_only() == "/health":
            self.send_json(200, {"status": "Ratings is healthy"})
            return
        pid = self.product_id()
        if pid is not None:
            self.send_json(200, ratings_of(pid))

    def do_POST(self):
        pid = self.product_id()
        if pid is None:
            return
        raw = self.body()
        if raw is None:
            return
        new = parse_ratings(raw)
        if new is None:
            self.send_json(400, {"error": "please provide valid ratings JSON: "
                                          "{\"Reviewer1\": 0..5, ...}"})
            return
        with _lock:
            _posted[pid] = new
        self.send_json(200, ratings_of(pid))


if __name__ == "__main__":
    version = service.env("SERVICE_VERSION", "v1")
    if version != "v1":
        sys.exit("ratings: SERVICE_VERSION=%s is not provided here (only v1, in-memory ratings)"
                 % version)
    service.serve(Ratings, sys.argv)
