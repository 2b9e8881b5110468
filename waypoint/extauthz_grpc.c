// SPDX-License-Identifier: Apache-2.0
/*
 * Envoy's ext_authz gRPC messages (extauthz_grpc.h) over the C protobuf-c generates from proto/
 * at build time.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "envoy/service/auth/v3/external_auth.pb-c.h"
#include "extauthz_grpc.h"

/* ---- the request ---- */

struct peer_msg {
	Envoy__Service__Auth__V3__AttributeContext__Peer peer;
	Envoy__Config__Core__V3__Address address;
	Envoy__Config__Core__V3__SocketAddress sock;
	char ip[INET6_ADDRSTRLEN];
};

static Envoy__Service__Auth__V3__AttributeContext__Peer *peer_msg(struct peer_msg *m,
								  const struct xa_grpc_peer *p)
{
	envoy__service__auth__v3__attribute_context__peer__init(&m->peer);
	if (p->principal)
		m->peer.principal = (char *)p->principal;
	if (p->addr.sa.sa_family && !sockaddr_inet_is_any(&p->addr)) {
		envoy__config__core__v3__address__init(&m->address);
		envoy__config__core__v3__socket_address__init(&m->sock);
		/* Envoy's socket_address.address: the bare address, IPv6 without brackets. */
		sockaddr_inet_ntop(&p->addr, m->ip, sizeof(m->ip));
		m->sock.address = m->ip;
		m->sock.port_specifier_case =
		    ENVOY__CONFIG__CORE__V3__SOCKET_ADDRESS__PORT_SPECIFIER_PORT_VALUE;
		m->sock.port_value = sockaddr_inet_port(&p->addr);
		m->address.address_case = ENVOY__CONFIG__CORE__V3__ADDRESS__ADDRESS_SOCKET_ADDRESS;
		m->address.socket_address = &m->sock;
		m->peer.address = &m->address;
	}
	return &m->peer;
}

typedef Envoy__Service__Auth__V3__AttributeContext__HttpRequest__HeadersEntry headers_entry;

/* @h's value and those of the fields of its name after it, joined with "," (in @mem). */
static char *joined_value(const struct http_fields *f, size_t i, struct http_fields *mem)
{
	const struct http_field *h = &f->items[i];
	size_t len = 0;
	char *w, *p;

	for (ssize_t j = (ssize_t)i; j >= 0; j = http_fields_find(f, h->name, h->name_len, j + 1))
		len += f->items[j].value_len + 1;
	if (!(w = arena_alloc(&mem->mem, len)))
		return NULL;
	p = w;
	for (ssize_t j = (ssize_t)i; j >= 0; j = http_fields_find(f, h->name, h->name_len, j + 1)) {
		if (p != w)
			*p++ = ',';
		memcpy(p, f->items[j].value, f->items[j].value_len);
		p += f->items[j].value_len;
	}
	*p = '\0';
	return w;
}

/*
 * The headers map, as Envoy fills it: the pseudo-headers of the request, then every field by
 * its (lower-case) name, repeated ones joined with "," (a map holds one value a name). *@v and
 * *@e (the entries) malloc'd, the joined values in @mem: the caller frees them.
 */
static int headers_map(const struct xa_grpc_check *c, headers_entry ***v, headers_entry **e,
		       size_t *n, struct http_fields *mem)
{
	const struct http_fields *f = c->fields;
	size_t cap = 4 + (f ? f->n : 0), k = 0;
	const char *pseudo[4][2] = {{":authority", c->host},
				    {":method", c->method},
				    {":path", c->path},
				    {":scheme", c->scheme}};

	*v = calloc(cap, sizeof(**v));
	*e = calloc(cap, sizeof(**e));
	if (!*v || !*e)
		return -ENOMEM;
	for (size_t i = 0; i < 4 + (f ? f->n : 0); i++) {
		const char *name = i < 4 ? pseudo[i][0] : f->items[i - 4].name;
		char *value;

		if (i < 4) {
			value = (char *)pseudo[i][1];
			if (!value)
				continue;
		} else {
			const struct http_field *h = &f->items[i - 4];

			/* Host is :authority; a name seen before was joined there. */
			if (!strcmp(h->name, "host") ||
			    http_fields_find(f, h->name, h->name_len, 0) < (ssize_t)(i - 4))
				continue;
			if (!(value = joined_value(f, i - 4, mem)))
				return -ENOMEM;
		}
		envoy__service__auth__v3__attribute_context__http_request__headers_entry__init(
		    &(*e)[k]);
		(*e)[k].key = (char *)name;
		(*e)[k].value = value;
		(*v)[k] = &(*e)[k];
		k++;
	}
	*n = k;
	return 0;
}

int xa_grpc_encode(const struct xa_grpc_check *c, uint8_t **out, size_t *len)
{
	Envoy__Service__Auth__V3__CheckRequest req = ENVOY__SERVICE__AUTH__V3__CHECK_REQUEST__INIT;
	Envoy__Service__Auth__V3__AttributeContext ac =
	    ENVOY__SERVICE__AUTH__V3__ATTRIBUTE_CONTEXT__INIT;
	Envoy__Service__Auth__V3__AttributeContext__Request rq =
	    ENVOY__SERVICE__AUTH__V3__ATTRIBUTE_CONTEXT__REQUEST__INIT;
	Envoy__Service__Auth__V3__AttributeContext__HttpRequest http =
	    ENVOY__SERVICE__AUTH__V3__ATTRIBUTE_CONTEXT__HTTP_REQUEST__INIT;
	struct peer_msg src, dst;
	struct http_fields mem = {0};
	headers_entry *entries = NULL;
	uint8_t *b = NULL;
	size_t n = 0;

	ac.source = peer_msg(&src, &c->source);
	ac.destination = peer_msg(&dst, &c->destination);
	ac.request = &rq;
	rq.http = &http;
#define STR(field)                                                                                 \
	if (c->field)                                                                              \
		http.field = (char *)c->field;
	STR(id)
	STR(method)
	STR(path)
	STR(host)
	STR(scheme)
	STR(protocol)
#undef STR
	req.attributes = &ac;
	if (!headers_map(c, &http.headers, &entries, &http.n_headers, &mem)) {
		n = envoy__service__auth__v3__check_request__get_packed_size(&req);
		b = n <= UINT32_MAX - XA_GRPC_PREFIX ? malloc(XA_GRPC_PREFIX + n) : NULL;
	}
	if (b) {
		b[0] = 0; /* not compressed */
		b[1] = (uint8_t)(n >> 24);
		b[2] = (uint8_t)(n >> 16);
		b[3] = (uint8_t)(n >> 8);
		b[4] = (uint8_t)n;
		envoy__service__auth__v3__check_request__pack(&req, b + XA_GRPC_PREFIX);
	}
	free(entries);
	free(http.headers);
	http_fields_free(&mem);
	if (!b)
		return -ENOMEM;
	*out = b;
	*len = XA_GRPC_PREFIX + n;
	return 0;
}

/* ---- the answer ---- */

static bool token_char(unsigned char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

/* A name and value that may go on a request or reply (RFC 9110 §5.1, §5.5). */
static bool field_ok(const char *name, const char *value)
{
	if (!*name)
		return false;
	for (const char *p = name; *p; p++)
		if (!token_char((unsigned char)*p))
			return false;
	return !strpbrk(value, "\r\n");
}

/* Host and the pseudo-headers (not tokens) are not the authorizer's to change (Envoy). */
static bool modifiable(const char *name)
{
	return strcasecmp(name, "host") != 0;
}

static int take_headers(struct xa_grpc_answer *a, Envoy__Config__Core__V3__HeaderValueOption **h,
			size_t n)
{
	if (!n)
		return 0;
	if (!(a->headers = calloc(n, sizeof(*a->headers))))
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const Envoy__Config__Core__V3__HeaderValue *hv = h[i]->header;
		struct xa_grpc_header *o = &a->headers[a->n_headers];

		if (!hv || !field_ok(hv->key, hv->value) || !modifiable(hv->key)) {
			a->n_invalid++;
			continue;
		}
		o->name = hv->key;
		o->value = hv->value;
		if (h[i]->append)
			/* The deprecated BoolValue wins when present (Envoy). */
			o->action = h[i]->append->value ? XA_GRPC_APPEND_VALUE
							: XA_GRPC_OVERWRITE_IF_EXISTS_OR_ADD;
		else if ((unsigned int)h[i]->append_action <= XA_GRPC_OVERWRITE_IF_EXISTS)
			o->action = (enum xa_grpc_action)h[i]->append_action;
		else
			o->action = XA_GRPC_OVERWRITE_IF_EXISTS_OR_ADD; /* unknown: as Envoy */
		a->n_headers++;
	}
	return 0;
}

static void take_denied(struct xa_grpc_answer *a,
			const Envoy__Service__Auth__V3__DeniedHttpResponse *d)
{
	a->body = d->body ? d->body : "";
	a->body_len = strlen(a->body);
	if (d->status && d->status->code >= 100 && d->status->code <= 599)
		a->status = d->status->code;
}

int xa_grpc_decode(const uint8_t *data, size_t len, struct xa_grpc_answer *a)
{
	Envoy__Service__Auth__V3__CheckResponse *m;
	uint32_t n;
	int err = 0;

	memset(a, 0, sizeof(*a));
	if (len < XA_GRPC_PREFIX || data[0] != 0)
		return -EPROTO; /* no grpc-accept-encoding was sent: a compressed answer is wrong */
	n = (uint32_t)data[1] << 24 | (uint32_t)data[2] << 16 | (uint32_t)data[3] << 8 | data[4];
	if (n != len - XA_GRPC_PREFIX)
		return -EPROTO; /* a unary call's answer is exactly one message */
	m = envoy__service__auth__v3__check_response__unpack(NULL, n, data + XA_GRPC_PREFIX);
	if (!m)
		return -EPROTO;
	a->msg = m;
	a->code = m->status ? m->status->code : 0;
	a->body = "";
	if (!a->code) {
		a->verdict = XA_GRPC_OK;
		if (m->http_response_case ==
		    ENVOY__SERVICE__AUTH__V3__CHECK_RESPONSE__HTTP_RESPONSE_OK_RESPONSE) {
			const Envoy__Service__Auth__V3__OkHttpResponse *ok = m->ok_response;

			err = take_headers(a, ok->headers, ok->n_headers);
			a->remove = (const char **)ok->headers_to_remove;
			a->n_remove = ok->n_headers_to_remove;
		}
	} else if (m->http_response_case ==
		   ENVOY__SERVICE__AUTH__V3__CHECK_RESPONSE__HTTP_RESPONSE_ERROR_RESPONSE) {
		a->verdict = XA_GRPC_ERROR;
	} else {
		a->verdict = XA_GRPC_DENIED;
		a->status = 403;
		if (m->http_response_case ==
		    ENVOY__SERVICE__AUTH__V3__CHECK_RESPONSE__HTTP_RESPONSE_DENIED_RESPONSE) {
			take_denied(a, m->denied_response);
			err = take_headers(a, m->denied_response->headers,
					   m->denied_response->n_headers);
		}
	}
	if (err)
		xa_grpc_answer_free(a);
	return err;
}

void xa_grpc_answer_free(struct xa_grpc_answer *a)
{
	free(a->headers);
	if (a->msg)
		envoy__service__auth__v3__check_response__free_unpacked(a->msg, NULL);
	memset(a, 0, sizeof(*a));
}

/* One header operation on @f. */
static int apply_one(const struct xa_grpc_header *h, struct http_fields *f)
{
	ssize_t at = http_fields_find(f, h->name, strlen(h->name), 0);
	char *joined;
	int err;

	switch (h->action) {
	case XA_GRPC_APPEND_IF_EXISTS_OR_ADD: return http_fields_add(f, h->name, h->value);
	case XA_GRPC_ADD_IF_ABSENT: return at < 0 ? http_fields_add(f, h->name, h->value) : 0;
	case XA_GRPC_OVERWRITE_IF_EXISTS:
		return at >= 0 ? http_fields_set(f, h->name, h->value) : 0;
	case XA_GRPC_APPEND_VALUE:
		if (at < 0)
			return http_fields_add(f, h->name, h->value);
		if (asprintf(&joined, "%s,%s", f->items[at].value, h->value) < 0)
			return -ENOMEM;
		err = http_fields_set(f, h->name, joined);
		free(joined);
		return err;
	case XA_GRPC_OVERWRITE_IF_EXISTS_OR_ADD:
	default: return http_fields_set(f, h->name, h->value);
	}
}

int xa_grpc_apply(const struct xa_grpc_answer *a, struct http_fields *f)
{
	for (size_t i = 0; i < a->n_headers; i++)
		if (apply_one(&a->headers[i], f))
			return -ENOMEM;
	for (size_t i = 0; i < a->n_remove; i++)
		if (a->remove[i][0] != ':' && modifiable(a->remove[i]))
			http_fields_remove(f, a->remove[i]);
	return 0;
}

int xa_grpc_reply_fields(const struct xa_grpc_answer *a, struct http_fields *out)
{
	for (size_t i = 0; i < a->n_headers; i++)
		if (apply_one(&a->headers[i], out))
			return -ENOMEM;
	return 0;
}
