/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What a proxy facing clients accepts as a request's target and authority, one rule for HTTP/1.1
 * and HTTP/2 (the edge's and the waypoint's): anything else is a 400 before any routing or
 * policy sees it, so a rule written for "/admin" or "b.example.com" cannot be walked around by
 * a spelling the backend reads differently.
 */
#ifndef AMBIT_NET_HTTP_URI_H
#define AMBIT_NET_HTTP_URI_H

#include <stddef.h>

/*
 * Why @target (@len bytes) cannot be forwarded for @method (@mlen bytes), or NULL (RFC 9112 §3.2):
 * origin-form
 * ("/..."), absolute-form of http or https with a valid authority, asterisk-form for OPTIONS and
 * authority-form for CONNECT only. A fragment is never part of a request's target (RFC 9110
 * §7.1; Envoy's CVE-2021-32779): refused, not stripped. @method and @target are borrowed.
 */
const char *http_target_problem(const char *method, size_t mlen, const char *target, size_t len);

/*
 * Why @a (@len bytes), a Host or :authority value, names no host, or NULL: RFC 3986 §3.2.2's
 * host (reg-name, IPv4 or a bracketed IPv6 literal) and an optional port of digits up to 65535.
 * User-info ("x@host") is refused (RFC 9110 §4.2.4, RFC 9113 §8.3.1), as is any character a host
 * cannot hold. An empty value is left to the caller.
 */
const char *http_authority_problem(const char *a, size_t len);

/* The length of @a without an empty port ("host:" is "host", RFC 3986 §3.2.3). */
size_t http_authority_trim(const char *a, size_t len);

#endif
