// SPDX-License-Identifier: Apache-2.0
/*
 * Trace context propagation and span encodings (trace.h).
 *
 * W3C Trace Context (traceparent: version-traceid-parentid-flags, 2-32-16-2 hex digits; a
 * version other than 00 may carry more after the flags, which is ignored; version ff and
 * all-zero ids are invalid) and B3 (openzipkin/b3-propagation: `b3: traceid-spanid[-sampled
 * [-parentspanid]]` or just the sampling state, and x-b3-traceid (16 or 32 hex digits),
 * x-b3-spanid, x-b3-sampled (1/0, or true/false from old clients), x-b3-flags: 1 (debug,
 * which implies sampled)). Envoy reads W3C first when its tracer is OpenTelemetry; the proxy
 * reads traceparent first, then b3, then x-b3-*, and writes both kinds, so a chain of Zipkin
 * and OpenTelemetry clients stays one trace.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ambit/fmt.h"
#include "cluster.h"
#include "ambit/otlp_packed.pb-c.h"
#include "opentelemetry/proto/trace/v1/trace.pb-c.h"
#include "trace.h"

/* Exactly @n hex digits at @s into @out (n/2 bytes); false when not hex. */
static bool hex_bytes(const char *s, size_t n, uint8_t *out)
{
	for (size_t i = 0; i < n; i += 2) {
		int h = fmt_hexval(s[i]), l = fmt_hexval(s[i + 1]);

		if (h < 0 || l < 0)
			return false;
		out[i / 2] = (uint8_t)(h << 4 | l);
	}
	return true;
}

static bool all_zero(const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (b[i])
			return false;
	return true;
}

static size_t hex_len(const char *s)
{
	size_t n = 0;

	while (fmt_hexval(s[n]) >= 0)
		n++;
	return n;
}

/* A trace id of 16 or 32 hex digits at @s (length @n) into @out (16 bytes). */
static bool trace_id(const char *s, size_t n, uint8_t out[16])
{
	memset(out, 0, 16);
	if (n != 16 && n != 32)
		return false;
	return hex_bytes(s, n, out + 16 - n / 2) && !all_zero(out, 16);
}

static bool traceparent(const char *v, struct wp_trace_ctx *c)
{
	uint8_t ver, flags;

	/* 00-<32>-<16>-<2>: 55 characters, more only for a later version. */
	if (strlen(v) < 55 || v[2] != '-' || v[35] != '-' || v[52] != '-' ||
	    !hex_bytes(v, 2, &ver) || ver == 0xff || (ver == 0 && v[55]) ||
	    (ver != 0 && v[55] && v[55] != '-') || !hex_bytes(v + 3, 32, c->trace_id) ||
	    !hex_bytes(v + 36, 16, c->parent_id) || !hex_bytes(v + 53, 2, &flags) ||
	    all_zero(c->trace_id, 16) || all_zero(c->parent_id, 8))
		return false;
	c->has_parent = true;
	c->sampled = flags & 1;
	return true;
}

/* The sampling state of b3 or x-b3-sampled: 1, 0, or -1 (not one). */
static int sampled_state(const char *s, size_t n)
{
	if ((n == 1 && (*s == '1' || *s == 'd')) || (n == 4 && !strncasecmp(s, "true", 4)))
		return 1;
	if ((n == 1 && *s == '0') || (n == 5 && !strncasecmp(s, "false", 5)))
		return 0;
	return -1;
}

static bool b3_single(const char *v, struct wp_trace_ctx *c)
{
	size_t n = hex_len(v);
	const char *p;

	if (!v[n] && (n == 1) && sampled_state(v, 1) >= 0) {
		c->sampled = sampled_state(v, 1); /* only a decision */
		c->b3_single = true;
		return false;
	}
	if (v[n] != '-' || !trace_id(v, n, c->trace_id))
		return false;
	p = v + n + 1;
	if (hex_len(p) != 16 || !hex_bytes(p, 16, c->parent_id) || all_zero(c->parent_id, 8) ||
	    (p[16] && p[16] != '-'))
		return false;
	c->has_parent = true;
	c->sampled = -1;
	c->b3_single = true;
	if (!p[16])
		return true;
	p += 17;
	n = strcspn(p, "-");
	c->sampled = sampled_state(p, n);
	if (c->sampled < 0)
		return false;
	return !p[n] || (p[n] == '-' && hex_len(p + n + 1) == 16 && !p[n + 17]);
}

static bool b3_multi(const struct http_fields *f, struct wp_trace_ctx *c)
{
	const char *t = http_fields_get(f, "x-b3-traceid"), *s = http_fields_get(f, "x-b3-spanid");
	const char *smp = http_fields_get(f, "x-b3-sampled"),
		   *fl = http_fields_get(f, "x-b3-flags");
	int st = smp ? sampled_state(smp, strlen(smp)) : -1;

	if (fl && !strcmp(fl, "1"))
		st = 1; /* debug */
	c->sampled = st;
	if (!t || !s)
		return false;
	if (!trace_id(t, strlen(t), c->trace_id) || strlen(s) != 16 ||
	    !hex_bytes(s, 16, c->parent_id) || all_zero(c->parent_id, 8))
		return false;
	c->has_parent = true;
	return true;
}

bool wp_trace_extract(const struct http_fields *f, struct wp_trace_ctx *ctx)
{
	const char *v;

	memset(ctx, 0, sizeof(*ctx));
	ctx->sampled = -1;
	if ((v = http_fields_get(f, "traceparent")) && traceparent(v, ctx))
		return true;
	memset(ctx, 0, sizeof(*ctx));
	ctx->sampled = -1;
	if ((v = http_fields_get(f, "b3"))) {
		if (b3_single(v, ctx))
			return true;
		if (ctx->b3_single && !ctx->has_parent) {
			int s = ctx->sampled; /* a decision alone still counts */

			memset(ctx, 0, sizeof(*ctx));
			ctx->sampled = s;
			ctx->b3_single = true;
			return false;
		}
		memset(ctx, 0, sizeof(*ctx));
		ctx->sampled = -1;
	}
	if (b3_multi(f, ctx))
		return true;
	{
		int s = ctx->sampled;

		memset(ctx, 0, sizeof(*ctx));
		ctx->sampled = s;
	}
	return false;
}

void wp_trace_hex(const uint8_t *in, size_t n, char *out)
{
	static const char hex[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hex[in[i] >> 4];
		out[2 * i + 1] = hex[in[i] & 15];
	}
	out[2 * n] = '\0';
}

void wp_trace_random_id(uint8_t *out, size_t n)
{
	do {
		for (size_t i = 0; i < n; i += 8) {
			uint64_t x = wp_random();

			memcpy(out + i, &x, n - i < 8 ? n - i : 8);
		}
	} while (all_zero(out, n));
}

/* The fields wp_trace_inject writes, and x-b3-flags, which it drops (debug: sampled, said). */
static const char *const trace_fields[] = {
    "traceparent",  "x-b3-traceid", "x-b3-spanid", "x-b3-parentspanid",
    "x-b3-sampled", "x-b3-flags",   "b3"};

int wp_trace_inject(struct http_fields *f, const struct wp_trace_ctx *ctx, const uint8_t span[8],
		    const uint8_t parent[8], bool sampled)
{
	char tid[33], sid[17], pid[17], tp[56], b3[72];
	/* A 64-bit B3 trace stays 64-bit in B3 fields (16 digits), as the caller sent it. */
	bool short_id = all_zero(ctx->trace_id, 8);
	const char *b3tid;

	wp_trace_hex(ctx->trace_id, 16, tid);
	wp_trace_hex(span, 8, sid);
	wp_trace_hex(parent, 8, pid);
	b3tid = short_id ? tid + 16 : tid;
	/* 00-<32>-<16>-0x, by hand: this runs on every traced request. */
	memcpy(tp, "00-", 3);
	memcpy(tp + 3, tid, 32);
	tp[35] = '-';
	memcpy(tp + 36, sid, 16);
	memcpy(tp + 52, sampled ? "-01" : "-00", 4);
	/*
	 * What the caller sent of either kind goes, in one pass over the fields, and the new ones
	 * are added: this runs on every traced request, sampled or not.
	 */
	http_fields_remove_any(f, trace_fields, sizeof(trace_fields) / sizeof(trace_fields[0]));
	if (http_fields_addn(f, "traceparent", 11, tp, 55) ||
	    http_fields_addn(f, "x-b3-traceid", 12, b3tid, short_id ? 16 : 32) ||
	    http_fields_addn(f, "x-b3-spanid", 11, sid, 16) ||
	    http_fields_addn(f, "x-b3-parentspanid", 17, pid, 16) ||
	    http_fields_addn(f, "x-b3-sampled", 12, sampled ? "1" : "0", 1))
		return -ENOMEM;
	if (ctx->b3_single) {
		size_t n = short_id ? 16 : 32;

		memcpy(b3, b3tid, n);
		b3[n] = '-';
		memcpy(b3 + n + 1, sid, 16);
		b3[n + 17] = '-';
		b3[n + 18] = sampled ? '1' : '0';
		b3[n + 19] = '-';
		memcpy(b3 + n + 20, pid, 17);
		return http_fields_addn(f, "b3", 2, b3, n + 36);
	}
	return 0; /* a b3 that did not parse is not passed on */
}

/* ---- spans ---- */

/* @s (@n bytes) and a NUL into @sp's memory: its offset, or UINT32_MAX. */
static uint32_t put(struct wp_span *sp, const char *s, size_t n)
{
	uint32_t off = sp->len;

	if (n > (1u << 20) || sp->len + n + 1 > (1u << 24))
		return UINT32_MAX;
	if (sp->len + n + 1 > sp->cap) {
		uint32_t cap = sp->cap ? sp->cap : 512;
		char *m;

		while (cap < sp->len + n + 1)
			cap *= 2;
		if (!(m = realloc(sp->mem, cap)))
			return UINT32_MAX;
		sp->mem = m;
		sp->cap = cap;
	}
	memcpy(sp->mem + sp->len, s, n);
	sp->mem[sp->len + n] = '\0';
	sp->len += (uint32_t)n + 1;
	return off;
}

int wp_span_begin(struct wp_span *s, const char *name)
{
	char *mem = s->mem;
	uint32_t cap = s->cap;

	memset(s, 0, sizeof(*s));
	s->mem = mem;
	s->cap = cap;
	s->name = put(s, name, strlen(name));
	return s->name == UINT32_MAX ? -ENOMEM : 0;
}

int wp_span_begin_from(struct wp_span *s, const struct wp_span *from, uint16_t n_tags,
		       const char *name)
{
	char *mem = s->mem;
	uint32_t cap = s->cap;

	memset(s, 0, sizeof(*s));
	s->mem = mem;
	s->cap = cap;
	if (from->len > s->cap) {
		if (!(mem = realloc(s->mem, from->cap)))
			return -ENOMEM;
		s->mem = mem;
		s->cap = from->cap;
	}
	memcpy(s->mem, from->mem, from->len);
	s->len = from->len;
	s->n_tags = n_tags < from->n_tags ? n_tags : from->n_tags;
	memcpy(s->key, from->key, s->n_tags * sizeof(s->key[0]));
	memcpy(s->value, from->value, s->n_tags * sizeof(s->value[0]));
	s->from = from;
	s->shared = s->n_tags;
	s->fixed = from->fixed < s->n_tags ? from->fixed : s->n_tags;
	s->name = put(s, name, strlen(name));
	return s->name == UINT32_MAX ? -ENOMEM : 0;
}

int wp_span_tag(struct wp_span *s, const char *key, const char *value, size_t max)
{
	size_t n;
	uint32_t k, v;

	if (!value || s->n_tags >= WP_SPAN_TAGS_MAX)
		return 0;
	n = strlen(value);
	if (max && n > max)
		n = max;
	k = put(s, key, strlen(key));
	v = k == UINT32_MAX ? k : put(s, value, n);
	if (v == UINT32_MAX)
		return -ENOMEM;
	s->key[s->n_tags] = k;
	s->value[s->n_tags++] = v;
	return 0;
}

const char *wp_span_str(const struct wp_span *s, uint32_t off)
{
	return s->mem + off;
}

void wp_span_free(struct wp_span *s)
{
	free(s->mem);
	memset(s, 0, sizeof(*s));
}

/* ---- Zipkin v2 JSON ---- */

/*
 * A span's JSON is written at a cursor into room reserved for the worst case (every byte of its
 * strings escaped as \u00XX: six), not piece by piece through the buffer's bounds checks: the
 * encoding is most of what a span costs the proxy.
 */

/* What ends a run of a JSON string's bytes: its NUL, and what it cannot hold as it is (", \ and
 * control characters). */
static const uint8_t json_stop[256] = {[0 ... 0x1f] = 1, ['"'] = 1, ['\\'] = 1};

/* @n bytes of @s at @w; past them. */
static char *put_raw(char *w, const char *s, size_t n)
{
	memcpy(w, s, n);
	return w + n;
}

#define PUT_LIT(w, lit) put_raw((w), (lit), sizeof(lit) - 1)

/* @s as a JSON string (quotes, escapes for ", \ and control characters) at @w; past it. */
static char *put_json(char *w, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s, *run = p;

	*w++ = '"';
	for (;;) {
		while (!json_stop[*p])
			p++;
		w = put_raw(w, (const char *)run, (size_t)(p - run));
		if (!*p)
			break;
		if (*p == '"' || *p == '\\') {
			*w++ = '\\';
			*w++ = (char)*p;
		} else {
			w = PUT_LIT(w, "\\u00");
			*w++ = hex[*p >> 4];
			*w++ = hex[*p & 15];
		}
		run = ++p;
	}
	*w++ = '"';
	return w;
}

int wp_trace_zipkin(const struct wp_span *const *s, size_t n, const struct wp_trace_resource *res,
		    struct buf *out)
{
	size_t fixed = 6 * (strlen(res->service) + (res->ip ? strlen(res->ip) : 0)) + 512;
	char *w;

	if (!(w = buf_reserve(out, 1, 64u << 20)))
		return -ENOMEM;
	*w = '[';
	out->len++;
	/* Where the previous span's tags are in @out (positions from its head): tag k ends at
	 * tag_end[k]; the tags start at tags_at. */
	size_t tags_at = 0, tag_end[WP_SPAN_TAGS_MAX], prev_tags = 0;

	for (size_t i = 0; i < n; i++) {
		const struct wp_span *sp = s[i];
		char tid[33], sid[17], pid[17], *start;
		size_t shared =
		    i && sp->from == s[i - 1] && sp->shared <= prev_tags ? sp->shared : 0;
		size_t base;

		/* The span's strings are its memory's (sp->len bytes with their NULs). */
		if (!(start = w =
			  buf_reserve(out, fixed + 6u * sp->len + 8u * sp->n_tags, 64u << 20)))
			return -ENOMEM;
		wp_trace_hex(sp->trace_id, 16, tid);
		wp_trace_hex(sp->span_id, 8, sid);
		if (i)
			*w++ = ',';
		w = PUT_LIT(w, "{\"traceId\":\"");
		w = res->trace_id_128 ? put_raw(w, tid, 32) : put_raw(w, tid + 16, 16);
		w = PUT_LIT(w, "\",\"id\":\"");
		w = put_raw(w, sid, 16);
		if (sp->has_parent) {
			wp_trace_hex(sp->parent_id, 8, pid);
			w = PUT_LIT(w, "\",\"parentId\":\"");
			w = put_raw(w, pid, 16);
		}
		w = sp->client ? PUT_LIT(w, "\",\"kind\":\"CLIENT\",\"timestamp\":")
			       : PUT_LIT(w, "\",\"kind\":\"SERVER\",\"timestamp\":");
		w += fmt_u64(w, sp->start_us);
		w = PUT_LIT(w, ",\"duration\":");
		w += fmt_u64(w, sp->duration_us ? sp->duration_us : 1);
		w = PUT_LIT(w, ",\"name\":");
		w = put_json(w, wp_span_str(sp, sp->name));
		w = PUT_LIT(w, ",\"localEndpoint\":{\"serviceName\":");
		w = put_json(w, res->service);
		if (res->ip) {
			w = PUT_LIT(w, ",\"ipv4\":");
			w = put_json(w, res->ip);
		}
		w = PUT_LIT(w, "},\"tags\":{");
		/* @out's head may have moved in buf_reserve: positions, not pointers. */
		base = (size_t)(w - buf_head(out));
		if (shared) {
			size_t from = tags_at, n_bytes = tag_end[shared - 1] - tags_at;

			memcpy(w, buf_head(out) + from, n_bytes);
			for (size_t t = 0; t < shared; t++)
				tag_end[t] = base + (tag_end[t] - from);
			w += n_bytes;
		}
		tags_at = base;
		for (size_t t = shared; t < sp->n_tags; t++) {
			if (t)
				*w++ = ',';
			w = put_json(w, wp_span_str(sp, sp->key[t]));
			*w++ = ':';
			w = put_json(w, wp_span_str(sp, sp->value[t]));
			tag_end[t] = (size_t)(w - buf_head(out));
		}
		prev_tags = sp->n_tags;
		w = PUT_LIT(w, "}}");
		out->len += (size_t)(w - start);
	}
	if (!(w = buf_reserve(out, 1, 64u << 20)))
		return -ENOMEM;
	*w = ']';
	out->len++;
	return 0;
}

/* ---- OTLP protobuf ---- */

typedef Opentelemetry__Proto__Common__V1__KeyValue KeyValue;
typedef Opentelemetry__Proto__Common__V1__AnyValue AnyValue;

static void kv_init(KeyValue *kv, AnyValue *av, const char *k, const char *v)
{
	opentelemetry__proto__common__v1__key_value__init(kv);
	opentelemetry__proto__common__v1__any_value__init(av);
	kv->key = (char *)k;
	kv->value = av;
	av->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
	av->string_value = (char *)v;
}

/* One span's message and what it points at. */
struct otlp_span {
	Ambit__Otlp__SpanOut span;
	Opentelemetry__Proto__Trace__V1__Status status;
	Ambit__Otlp__KeyValueOut kv[WP_SPAN_TAGS_MAX];
	Ambit__Otlp__AnyValueOut av[WP_SPAN_TAGS_MAX];
	Ambit__Otlp__KeyValueOut *kvp[WP_SPAN_TAGS_MAX];
};

static ProtobufCBinaryData text(const struct wp_span *sp, uint32_t off)
{
	const char *s = wp_span_str(sp, off);

	return (ProtobufCBinaryData){strlen(s), (uint8_t *)s};
}

/* @sp's tags [@lo, @hi) as @m's attributes. */
static void otlp_attrs(struct otlp_span *o, Ambit__Otlp__SpanOut *m, const struct wp_span *sp,
		       size_t lo, size_t hi)
{
	size_t k = 0;

	for (size_t t = lo; t < hi; t++, k++) {
		o->kv[k] = (Ambit__Otlp__KeyValueOut)AMBIT__OTLP__KEY_VALUE_OUT__INIT;
		o->av[k] = (Ambit__Otlp__AnyValueOut)AMBIT__OTLP__ANY_VALUE_OUT__INIT;
		o->kv[k].key = text(sp, sp->key[t]);
		o->kv[k].value = &o->av[k];
		o->av[k].value_case = AMBIT__OTLP__ANY_VALUE_OUT__VALUE_STRING_VALUE;
		o->av[k].string_value = text(sp, sp->value[t]);
		o->kvp[k] = &o->kv[k];
	}
	m->n_attributes = k;
	m->attributes = o->kvp;
}

/* @sp with its tags from @lo on (those before are packed apart: wp_trace_otlp). */
static void otlp_span(struct otlp_span *o, const struct wp_span *sp, size_t lo)
{
	Ambit__Otlp__SpanOut *m = &o->span;

	*m = (Ambit__Otlp__SpanOut)AMBIT__OTLP__SPAN_OUT__INIT;
	o->status =
	    (Opentelemetry__Proto__Trace__V1__Status)OPENTELEMETRY__PROTO__TRACE__V1__STATUS__INIT;
	m->trace_id = (ProtobufCBinaryData){16, (uint8_t *)sp->trace_id};
	m->span_id = (ProtobufCBinaryData){8, (uint8_t *)sp->span_id};
	if (sp->has_parent)
		m->parent_span_id = (ProtobufCBinaryData){8, (uint8_t *)sp->parent_id};
	m->name = text(sp, sp->name);
	m->kind = sp->client ? OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_CLIENT
			     : OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_SERVER;
	m->start_time_unix_nano = sp->start_us * 1000;
	m->end_time_unix_nano = (sp->start_us + sp->duration_us) * 1000;
	otlp_attrs(o, m, sp, lo, sp->n_tags);
	o->status.code =
	    sp->error ? OPENTELEMETRY__PROTO__TRACE__V1__STATUS__STATUS_CODE__STATUS_CODE_ERROR
		      : OPENTELEMETRY__PROTO__TRACE__V1__STATUS__STATUS_CODE__STATUS_CODE_UNSET;
	m->status = &o->status;
}

/* Whether @sp starts with @ref's @ref->fixed tags, keys and values. */
static bool same_fixed(const struct wp_span *sp, const struct wp_span *ref)
{
	if (sp->fixed != ref->fixed)
		return false;
	for (size_t t = 0; t < ref->fixed; t++)
		if (strcmp(wp_span_str(sp, sp->key[t]), wp_span_str(ref, ref->key[t])) ||
		    strcmp(wp_span_str(sp, sp->value[t]), wp_span_str(ref, ref->value[t])))
			return false;
	return true;
}

/* Room for @need more bytes at @*used in @*block (@*cap). 0 or -ENOMEM. */
static int block_room(uint8_t **block, size_t *cap, size_t used, size_t need)
{
	size_t ncap = *cap ? *cap : 4096;
	uint8_t *grown;

	if (used + need <= *cap)
		return 0;
	while (ncap < used + need)
		ncap *= 2;
	if (!(grown = realloc(*block, ncap)))
		return -ENOMEM;
	*block = grown;
	*cap = ncap;
	return 0;
}

int wp_trace_otlp(const struct wp_span *const *s, size_t n, const struct wp_trace_resource *res,
		  uint8_t **out, size_t *len)
{
	Ambit__Otlp__ExportRequestPacked req;
	Ambit__Otlp__ResourceSpansPacked rs, *rsp = &rs;
	Ambit__Otlp__ScopeSpansPacked ss, *ssp = &ss;
	Opentelemetry__Proto__Resource__V1__Resource resource;
	Opentelemetry__Proto__Common__V1__InstrumentationScope scope;
	KeyValue rkv[2], *rkvp[2];
	AnyValue rav[2];
	struct otlp_span one, run;
	/*
	 * Each span packed on its own (proto/ambit/otlp_packed.proto), one after another. The tags
	 * a CLIENT span shares with its SERVER span just before it (wp_span_begin_from) are packed
	 * once, as a run of attribute fields after the SERVER span's others, and the run's bytes
	 * copied after the CLIENT span's own: a repeated field's entries may come anywhere in a
	 * message. The proxy's own tags (wp_span.fixed), the same on most spans of a batch, are
	 * packed once, from the first span that has them, and copied to the front of each run (or
	 * after a span's others when it has no run) that starts with the same.
	 */
	ProtobufCBinaryData *packed = calloc(n ? n : 1, sizeof(*packed));
	size_t nr = 0, used = 0, cap = 0, run_at = 0, run_len = 0, run_tags = 0, fixed_len = 0;
	const struct wp_span *ref = NULL;
	uint8_t *block = NULL, *fixed = NULL;
	int err = -ENOMEM;

	*out = NULL;
	if (!packed)
		goto done;
	for (size_t i = 0; i < n && !ref; i++)
		if (s[i]->fixed)
			ref = s[i];
	if (ref) {
		run.span = (Ambit__Otlp__SpanOut)AMBIT__OTLP__SPAN_OUT__INIT;
		otlp_attrs(&run, &run.span, ref, 0, ref->fixed);
		fixed_len = ambit__otlp__span_out__get_packed_size(&run.span);
		if (!(fixed = malloc(fixed_len)))
			goto done;
		ambit__otlp__span_out__pack(&run.span, fixed);
	}
	for (size_t i = 0; i < n; i++) {
		const struct wp_span *sp = s[i];
		const struct wp_span *next = i + 1 < n ? s[i + 1] : NULL;
		size_t in =
		    i && sp->from == s[i - 1] && run_tags && sp->shared == run_tags ? run_tags : 0;
		size_t give = !in && next && next->from == sp && next->shared <= sp->n_tags
				  ? next->shared
				  : 0;
		/* The fixed tags from the copy: the first of the run, or of the span's own. */
		size_t pre =
		    ref && !in && (give ? give : sp->n_tags) >= ref->fixed && same_fixed(sp, ref)
			? ref->fixed
			: 0;
		size_t own, extra = 0;

		otlp_span(&one, sp, in ? in : give ? give : pre);
		own = ambit__otlp__span_out__get_packed_size(&one.span);
		if (give) {
			run.span = (Ambit__Otlp__SpanOut)AMBIT__OTLP__SPAN_OUT__INIT;
			otlp_attrs(&run, &run.span, sp, pre, give);
			extra = ambit__otlp__span_out__get_packed_size(&run.span);
		} else if (in) {
			extra = run_len;
		}
		if (pre)
			extra += fixed_len;
		if (block_room(&block, &cap, used, own + extra))
			goto done;
		packed[i].len = ambit__otlp__span_out__pack(&one.span, block + used);
		if (give) {
			run_at = used + packed[i].len;
			run_len = pre ? fixed_len : 0;
			if (pre)
				memcpy(block + run_at, fixed, fixed_len);
			run_len += ambit__otlp__span_out__pack(&run.span, block + run_at + run_len);
			run_tags = give;
			packed[i].len += run_len;
		} else if (in) {
			memcpy(block + used + packed[i].len, block + run_at, run_len);
			packed[i].len += run_len;
			run_tags = 0;
		} else {
			if (pre) {
				memcpy(block + used + packed[i].len, fixed, fixed_len);
				packed[i].len += fixed_len;
			}
			run_tags = 0;
		}
		packed[i].data =
		    (uint8_t *)(uintptr_t)used; /* an offset until the block stops moving */
		used += packed[i].len;
	}
	for (size_t i = 0; i < n; i++)
		packed[i].data = block + (uintptr_t)packed[i].data;
	ambit__otlp__export_request_packed__init(&req);
	ambit__otlp__resource_spans_packed__init(&rs);
	ambit__otlp__scope_spans_packed__init(&ss);
	opentelemetry__proto__resource__v1__resource__init(&resource);
	opentelemetry__proto__common__v1__instrumentation_scope__init(&scope);
	kv_init(&rkv[nr], &rav[nr], "service.name", res->service);
	rkvp[nr] = &rkv[nr];
	nr++;
	if (res->ip) {
		kv_init(&rkv[nr], &rav[nr], "host.ip", res->ip);
		rkvp[nr] = &rkv[nr];
		nr++;
	}
	resource.n_attributes = nr;
	resource.attributes = rkvp;
	scope.name = "ambit";
	ss.scope = &scope;
	ss.n_spans = n;
	ss.spans = packed;
	rs.resource = &resource;
	rs.n_scope_spans = 1;
	rs.scope_spans = &ssp;
	req.n_resource_spans = 1;
	req.resource_spans = &rsp;
	*len = ambit__otlp__export_request_packed__get_packed_size(&req);
	if (!(*out = malloc(*len ? *len : 1)))
		goto done;
	ambit__otlp__export_request_packed__pack(&req, *out);
	err = 0;
done:
	free(fixed);
	free(block);
	free(packed);
	return err;
}

/* ---- counters ---- */

static uint64_t counters[3]; /* atomic, the process's, by enum wp_trace_counter */

void wp_trace_count(enum wp_trace_counter c, uint64_t n)
{
	__atomic_fetch_add(&counters[c], n, __ATOMIC_RELAXED);
}

void wp_trace_metrics(struct prom_buf *b)
{
	prom_printf(
	    b,
	    "# HELP ambit_tracing_spans_total Spans this proxy made, by what became of "
	    "them.\n# TYPE ambit_tracing_spans_total counter\n"
	    "ambit_tracing_spans_total{outcome=\"exported\"} %llu\n"
	    "ambit_tracing_spans_total{outcome=\"dropped\"} %llu\n"
	    "# HELP ambit_tracing_export_failures_total Span exports that failed.\n"
	    "# TYPE ambit_tracing_export_failures_total counter\n"
	    "ambit_tracing_export_failures_total %llu\n",
	    (unsigned long long)__atomic_load_n(&counters[WP_TRACE_EXPORTED], __ATOMIC_RELAXED),
	    (unsigned long long)__atomic_load_n(&counters[WP_TRACE_DROPPED], __ATOMIC_RELAXED),
	    (unsigned long long)__atomic_load_n(&counters[WP_TRACE_EXPORT_FAILED],
						__ATOMIC_RELAXED));
}
