#!/usr/bin/env python3
"""bookinfo details: a book's publication details.

  GET /details/<id>   {"id": <id>, "author": ..., "year": ..., "type": ..., "pages": ...,
                       "publisher": ..., "language": ..., "ISBN-10": ..., "ISBN-13": ...}
  GET /health         {"status": "Details is healthy"}

The sample's details v2 (ENABLE_EXTERNAL_BOOK_SERVICE=true) asks the Google Books API; that
version is not provided here.
Usage: details.py [PORT]   (default 9080)
"""

import sys

sys.dont_write_bytecode = True

import re  # noqa: E402

import service  # noqa: E402

ROUTE = re.compile(r"^/details/([^/]*)$")


def details_of(product_id):
    return {
        "id": product_id,
        "author": "William Shakespeare",
        "year": 1595,
        "type": "paperback",
        "pages": 200,
        "publisher": "PublisherA",
        "language": "English",
        "ISBN-10": "1234567890",
        "ISBN-13": "123-1234567890",
    }


class Details(service.Handler):
    service = "details"

    def do_GET(self):
        path = self.path_only()
        if path == "/health":
            self.send_json(200, {"status": "Details is healthy"})
            return
        m = ROUTE.match(path)
        pid = service.product_id(m.group(1)) if m else None
        if not m:
            self.not_found()
        elif pid is None:
            self.send_json(400, {"error": "please provide numeric product id"})
        else:
            self.send_json(200, details_of(pid))


if __name__ == "__main__":
    if service.env("ENABLE_EXTERNAL_BOOK_SERVICE", "false") == "true":
        sys.exit("details: ENABLE_EXTERNAL_BOOK_SERVICE=true (the sample's details v2, which "
                 "calls the Google Books API) is not provided here")
    service.serve(Details, sys.argv)
