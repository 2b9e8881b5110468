#!/usr/bin/env python3
"""bookinfo productpage: the page of one book, made of its details and its reviews.

  GET  /, /index.html                  what the application is made of, with links
  GET  /productpage                    the book: details (from details) and reviews (from reviews)
  POST /login                          form field "username" (any password): signs in, sets the
                                       session cookie, redirects to /productpage
  GET  /logout                         signs out, redirects to /productpage
  GET  /api/v1/products                the products, JSON
  GET  /api/v1/products/<id>           its details, JSON (details' status)
  GET  /api/v1/products/<id>/reviews   its reviews, JSON (reviews' status)
  GET  /api/v1/products/<id>/ratings   its ratings, JSON (ratings' status)
  GET  /health                         "Product page is healthy"

While a user is signed in, every call to details, reviews and ratings carries `end-user: <user>`
(the request-routing task routes on it). Each call waits 3 s; the reviews call is tried twice, so
the page gives up on reviews after 6 s (the fault-injection task relies on both numbers).
Environment: DETAILS_HOSTNAME, DETAILS_SERVICE_PORT, REVIEWS_HOSTNAME, REVIEWS_SERVICE_PORT,
RATINGS_HOSTNAME, RATINGS_SERVICE_PORT, SERVICES_DOMAIN (default: <service>:9080);
SESSION_SECRET signs the session cookie (default: random per process, so a restart signs
everyone out).
Usage: productpage.py [PORT]   (default 9080)
"""

import sys

sys.dont_write_bytecode = True

import base64  # noqa: E402
import hashlib  # noqa: E402
import hmac  # noqa: E402
import html  # noqa: E402
import http.cookies  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import urllib.parse  # noqa: E402

import service  # noqa: E402

TIMEOUT = 3.0
REVIEWS_TRIES = 2
DETAILS_ERROR = "Sorry, product details are currently unavailable for this book."
REVIEWS_ERROR = "Sorry, product reviews are currently unavailable for this book."
RATINGS_ERROR = "Sorry, product ratings are currently unavailable for this book."
PRODUCTS = [{
    "id": 0,
    "title": "The Comedy of Errors",
    "descriptionHtml": '<a href="https://en.wikipedia.org/wiki/The_Comedy_of_Errors">'
                       "Wikipedia Summary</a>: one of <b>William Shakespeare's</b> early "
                       "plays, and his shortest: two pairs of twins, separated at birth, "
                       "meet again in Ephesus, and nobody can tell who is who.",
}]
API = re.compile(r"^/api/v1/products/([^/]*)(/reviews|/ratings)?$")

SECRET = os.environb.get(b"SESSION_SECRET") or os.urandom(32)
USER_OK = re.compile(r"^[\x21-\x7e]([\x20-\x7e]{0,62}[\x21-\x7e])?$")


def sign(user):
    mac = hmac.new(SECRET, user.encode(), hashlib.sha256).hexdigest()
    return base64.urlsafe_b64encode(user.encode()).decode() + "." + mac


def session_user(cookie_header):
    """The signed-in user of a Cookie header, or "" (no cookie, or one this process did not
    sign)."""
    try:
        jar = http.cookies.SimpleCookie(cookie_header or "")
        value = jar["session"].value if "session" in jar else ""
        user = base64.urlsafe_b64decode(value.split(".", 1)[0]).decode()
    except (http.cookies.CookieError, ValueError):
        return ""
    return user if user and hmac.compare_digest(sign(user), value) else ""


def fetch(what, product_id, headers, tries=1):
    """(status, body) of GET <what>/<what>/<id>, tried TRIES times until one answers 200; on
    failure the status of the last try (500 when none answered) and the sample's error body."""
    url = "%s/%s/%d" % (service.upstream(what), what, product_id)
    for _ in range(tries):
        status, body = service.get_json(url, headers, TIMEOUT)
        if status == 200 and body is not None:
            return 200, body
    errors = {"details": DETAILS_ERROR, "reviews": REVIEWS_ERROR, "ratings": RATINGS_ERROR}
    return (status if status and status != 200 else 500), {"error": errors[what]}


def esc(v):
    return html.escape(str(v), quote=True)


def page(title, body):
    return ("<!DOCTYPE html>\n<html>\n<head>\n<meta charset=\"utf-8\">\n<title>%s</title>\n"
            "<style>body{font-family:sans-serif;margin:0}nav{background:#1f2937;color:#fff;"
            "padding:.8em 2em}nav form,nav span{float:right}main{padding:1em 2em;max-width:60em}"
            "table{border-collapse:collapse}th,td{border:1px solid #ccc;padding:.3em .8em}"
            ".error{color:#b91c1c}.review{margin:1em 0}.served{color:#666;font-size:small}"
            "</style>\n</head>\n<body>\n%s</body>\n</html>\n" % (esc(title), body))


def nav(user):
    if user:
        right = '<span>%s &middot; <a href="logout" style="color:#ddd">Sign out</a></span>' % esc(
            user)
    else:
        right = ('<form method="post" action="login" name="login_form">'
                 '<input name="username" placeholder="Username" required> '
                 '<input name="passwd" type="password" placeholder="Password"> '
                 '<button type="submit">Sign in</button></form>')
    return "<nav>BookInfo Sample %s</nav>\n" % right


def details_html(status, details):
    if status != 200:
        return ('<h4 class="error">Error fetching product details</h4>\n<p>%s</p>\n'
                % esc(details.get("error", DETAILS_ERROR)))
    cols = ("ISBN-10", "Publisher", "Pages", "Type", "Language")
    keys = ("ISBN-10", "publisher", "pages", "type", "language")
    return ("<h4>Book Details</h4>\n<table><tr>%s</tr>\n<tr>%s</tr></table>\n" % (
        "".join("<th>%s</th>" % c for c in cols),
        "".join("<td>%s</td>" % esc(details.get(k, "")) for k in keys)))


def stars_html(rating):
    """The rating as the sample's page draws it: full and empty glyphicon stars in a <font> of
    the rating's color (what the tutorials grep for), or the rating's error."""
    if not isinstance(rating, dict):
        return ""
    stars = rating.get("stars")
    if type(stars) is int and 0 <= stars <= 5:
        return '<font color="%s">%s%s</font>\n' % (
            esc(rating.get("color", "black")),
            '<span class="glyphicon glyphicon-star"></span>' * stars,
            '<span class="glyphicon glyphicon-star-empty"></span>' * (5 - stars))
    if rating.get("error"):
        return '<p class="error"><i>%s</i></p>\n' % esc(rating["error"])
    return ""


def reviews_html(status, reviews):
    items = reviews.get("reviews") if status == 200 else None
    if not isinstance(items, list):
        return ('<h4 class="error">Error fetching product reviews</h4>\n<p>%s</p>\n'
                % esc(reviews.get("error", REVIEWS_ERROR)))
    out = ["<h4>Book Reviews</h4>\n"]
    for r in items:
        if isinstance(r, dict):
            out.append('<div class="review"><blockquote><p>%s</p><small>%s</small></blockquote>\n'
                       '%s</div>\n' % (esc(r.get("text", "")), esc(r.get("reviewer", "")),
                                       stars_html(r.get("rating"))))
    cluster = reviews.get("clustername")
    out.append('<p class="served">Reviews served by: %s%s</p>\n' % (
        esc(reviews.get("podname", "")),
        " on cluster %s" % esc(cluster) if cluster and cluster != "null" else ""))
    return "".join(out)


def index_html():
    rows = [("productpage", "http://productpage:9080", "details, reviews"),
            ("details", service.upstream("details"), ""),
            ("reviews", service.upstream("reviews"), "ratings"),
            ("ratings", service.upstream("ratings"), "")]
    table = "".join("<tr><td>%s</td><td>%s</td><td>%s</td></tr>\n" % tuple(map(esc, r))
                    for r in rows)
    return page("Simple Bookstore App", nav("") + (
        "<main>\n<h3>A small bookstore: one page, made by productpage from three more "
        "services.</h3>\n<table><tr><th>service</th><th>address</th><th>calls</th></tr>\n%s"
        "</table>\n<p>Open the product page as a normal user or as a tester:</p>\n<ul><li>"
        '<a href="/productpage?u=normal">Normal user</a></li><li>'
        '<a href="/productpage?u=test">Test user</a></li></ul>\n</main>\n' % table))


class ProductPage(service.Handler):
    service = "productpage"

    def user(self):
        return session_user(self.headers.get("cookie"))

    def upstream_headers(self):
        # end-user comes from the session only, as in the sample: a client cannot claim one.
        headers = service.forwarded(self.headers, skip=("end-user",))
        user = self.user()
        if user:
            headers["end-user"] = user
        return headers

    def redirect(self, cookie):
        self.send(302, "", "text/plain", (("Location", "/productpage"), ("Set-Cookie", cookie)))

    def do_GET(self):
        path = self.path_only()
        api = API.match(path)
        if path in ("/", "/index.html"):
            self.send(200, index_html(), "text/html; charset=utf-8")
        elif path == "/health":
            self.send(200, "Product page is healthy", "text/plain")
        elif path == "/productpage":
            self.product_page()
        elif path == "/logout":
            self.redirect("session=; Path=/; Max-Age=0; HttpOnly")
        elif path == "/api/v1/products":
            self.send_json(200, [{k: p[k] for k in ("id", "title", "descriptionHtml")}
                                 for p in PRODUCTS])
        elif api:
            self.api(api)
        else:
            self.not_found()

    def do_POST(self):
        if self.path_only() != "/login":
            self.not_found()
            return
        raw = self.body()
        if raw is None:
            return
        form = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        form.update(urllib.parse.parse_qs(raw.decode("utf-8", "replace")))
        user = (form.get("username") or [""])[0]
        if not USER_OK.match(user):
            self.send(400, "login: the form field username must be 1 to 64 printable ASCII "
                      "characters, not starting or ending with a space\n", "text/plain")
            return
        self.redirect("session=%s; Path=/; HttpOnly" % sign(user))

    def product_page(self):
        headers = self.upstream_headers()
        product = PRODUCTS[0]
        d_status, details = fetch("details", product["id"], headers)
        r_status, reviews = fetch("reviews", product["id"], headers, REVIEWS_TRIES)
        body = "%s<main>\n<h1>%s</h1>\n<p>%s</p>\n%s%s</main>\n" % (
            nav(self.user()), esc(product["title"]), product["descriptionHtml"],
            details_html(d_status, details), reviews_html(r_status, reviews))
        self.send(200, page("Simple Bookstore App", body), "text/html; charset=utf-8")

    def api(self, m):
        pid = service.product_id(m.group(1))
        if pid is None:
            self.send_json(400, {"error": "please provide numeric product id"})
            return
        what = {None: "details", "/reviews": "reviews", "/ratings": "ratings"}[m.group(2)]
        tries = REVIEWS_TRIES if what == "reviews" else 1
        self.send_json(*fetch(what, pid, self.upstream_headers(), tries))


if __name__ == "__main__":
    service.serve(ProductPage, sys.argv)
