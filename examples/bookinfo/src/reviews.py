#!/usr/bin/env python3
"""bookinfo reviews: two reviews of a book, with their ratings in v2 and v3.

  GET /reviews/<id>   {"id": "<id>", "podname": ..., "clustername": ...,
                       "reviews": [{"reviewer": "Reviewer1", "text": ...,
                                    "rating": {"stars": 5, "color": "black"}}, ...]}
  GET /health         {"status": "Reviews is healthy"}

Environment, as the sample's images set it:
  SERVICE_VERSION   v1 | v2 | v3 (informational)
  ENABLE_RATINGS    "true": ask ratings and add each review's "rating" (v2, v3); otherwise no
                    rating at all (v1). When ratings fails, a review's rating is
                    {"error": "Ratings service is currently unavailable"}.
  STAR_COLOR        the rating's "color": black (default, v2) or red (v3)
  RATINGS_HOSTNAME, RATINGS_SERVICE_PORT, SERVICES_DOMAIN   where ratings is (ratings:9080)
  CLUSTER_NAME      reported as "clustername" (the string "null" when unset, as the sample)

The call to ratings waits 10 s with black stars and 2.5 s otherwise, as the sample's reviews do:
the fault-injection task's 7 s delay fits under v2's timeout but not under productpage's
2 x 3 s, and v3's is the "fixed" one that fits under productpage's.
Usage: reviews.py [PORT]   (default 9080)
"""

import sys

sys.dont_write_bytecode = True

import re  # noqa: E402

import service  # noqa: E402

ROUTE = re.compile(r"^/reviews/([^/]*)$")
REVIEWS = (
    ("Reviewer1", "An extremely entertaining play by Shakespeare. "
                  "The slapstick humour is refreshing!"),
    ("Reviewer2", "Absolutely fun and entertaining. "
                  "The play lacks thematic depth when compared to other plays by Shakespeare."),
)
RATINGS_ERROR = "Ratings service is currently unavailable"

RATINGS_ENABLED = service.env("ENABLE_RATINGS", "false").lower() == "true"
STAR_COLOR = service.env("STAR_COLOR", "black")
RATINGS_TIMEOUT = 10.0 if STAR_COLOR == "black" else 2.5


def fetch_stars(product_id, headers):
    """Reviewer name -> stars from ratings; {} when ratings did not answer 200 with them."""
    url = "%s/ratings/%d" % (service.upstream("ratings"), product_id)
    status, body = service.get_json(url, headers, RATINGS_TIMEOUT)
    if status != 200:
        service.log("ratings answered %s for %s" % (status or "nothing", url))
        return {}
    found = body.get("ratings") if isinstance(body, dict) else None
    if not isinstance(found, dict):
        return {}
    return {k: v for k, v in found.items() if type(v) is int and 0 <= v <= 5}


def reviews_of(product_id, headers):
    stars = fetch_stars(product_id, headers) if RATINGS_ENABLED else {}
    out = []
    for reviewer, text in REVIEWS:
        review = {"reviewer": reviewer, "text": text}
        if RATINGS_ENABLED:
            if reviewer in stars:
                review["rating"] = {"stars": stars[reviewer], "color": STAR_COLOR}
            else:
                review["rating"] = {"error": RATINGS_ERROR}
        out.append(review)
    return {
        "id": str(product_id),
        "podname": service.pod_name(),
        "clustername": service.env("CLUSTER_NAME", "null"),
        "reviews": out,
    }


class Reviews(service.Handler):
    service = "reviews"

    def do_GET(self):
        path = self.path_only()
        if path == "/health":
            self.send_json(200, {"status": "Reviews is healthy"})
            return
        m = ROUTE.match(path)
        pid = service.product_id(m.group(1)) if m else None
        if not m:
            self.not_found()
        elif pid is None:
            self.send_json(400, {"error": "please provide numeric product id"})
        else:
            self.send_json(200, reviews_of(pid, service.forwarded(self.headers)))


if __name__ == "__main__":
    service.serve(Reviews, sys.argv)
