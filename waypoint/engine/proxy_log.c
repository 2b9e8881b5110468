// SPDX-License-Identifier: Apache-2.0
/*
 * Whether a finished request gets its access-log line, as the Telemetry API says for its
 * service (struct l7_telemetry: accessLogging off, or on with a CEL filter), and the request's
 * attributes under Envoy's names for the filter (ambit/cel.h).
 */
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>

#include "ambit/cel.h"
#include "proxy_priv.h"

const struct l7_telemetry *wp_req_telemetry(const struct wp_req *r, size_t *idx)
{
	const struct l7_config *l7 = r->view->gen->l7;
	uint32_t i = r->svc >= 0 ? l7->services[r->svc].telemetry : 0;

	if (!l7->n_telemetry)
		return NULL;
	if (i >= l7->n_telemetry)
		i = 0;
	if (idx)
		*idx = i;
	return &l7->telemetry[i];
}

struct attrs {
	const struct wp_req *r;
	char buf[4][64];
};

static bool str(struct cel_value *out, const char *s)
{
	if (!s)
		return false;
	*out = (struct cel_value){.type = CEL_STRING, .s = s};
	return true;
}

static bool num(struct cel_value *out, int64_t v)
{
	*out = (struct cel_value){.type = CEL_INT, .i = v};
	return true;
}

/* The address alone, of either family ("2001:db8::1": CEL's source.address has no port). */
static bool addr(struct cel_value *out, const union sockaddr_inet *a, char *buf)
{
	if (!a->sa.sa_family)
		return false;
	return str(out, sockaddr_inet_ntop(a, buf, 64));
}

static bool attr(void *arg, const char *name, const char *key, struct cel_value *out)
{
	struct attrs *at = arg;
	const struct wp_req *r = at->r;
	const struct transport_peer *p = &r->conn->peer;
	const char *path = r->orig_path;

	if (!strcmp(name, "response.code"))
		return r->status ? num(out, r->status) : false;
	if (!strcmp(name, "request.method"))
		return str(out, r->head.method);
	if (!strcmp(name, "request.path"))
		return str(out, path);
	if (!strcmp(name, "request.url_path")) {
		size_t n = path ? strcspn(path, "?") : 0;

		if (!path || n >= sizeof(at->buf[0]) * 4 - 1)
			return str(out, path);
		memcpy(at->buf[0], path, n);
		at->buf[0][n] = '\0';
		return str(out, at->buf[0]);
	}
	if (!strcmp(name, "request.host"))
		return str(out, r->authority);
	if (!strcmp(name, "request.scheme"))
		return str(out, p->tls ? "https" : "http");
	if (!strcmp(name, "request.protocol"))
		return str(out, r->conn->h2s ? "HTTP/2" : r->head.minor ? "HTTP/1.1" : "HTTP/1.0");
	if (!strcmp(name, "request.id"))
		return str(out, r->request_id);
	if (!strcmp(name, "request.useragent"))
		return str(out, r->user_agent);
	if (!strcmp(name, "request.referer"))
		return str(out, http_fields_get(&r->head.fields, "referer"));
	if (!strcmp(name, "request.headers"))
		return str(out, http_fields_get(&r->head.fields, key));
	if (!strcmp(name, "request.size") || !strcmp(name, "request.total_size"))
		return num(out, (int64_t)r->bytes_in);
	if (!strcmp(name, "response.size"))
		return num(out, (int64_t)r->bytes_out);
	if (!strcmp(name, "response.code_details"))
		return str(out, r->details);
	if (!strcmp(name, "response.grpc_status"))
		return r->grpc_status >= 0 ? num(out, r->grpc_status) : false;
	if (!strcmp(name, "response.flags_text")) {
		wp_req_flags_text(r, at->buf[1], sizeof(at->buf[1]));
		return str(out, at->buf[1][0] ? at->buf[1] : "-");
	}
	if (!strcmp(name, "connection.mtls")) {
		*out = (struct cel_value){.type = CEL_BOOL, .b = p->mtls};
		return true;
	}
	if (!strcmp(name, "connection.requested_server_name"))
		return str(out, p->sni);
	if (!strcmp(name, "source.address")) {
		return addr(out, r->client.sa.sa_family ? &r->client : &p->client, at->buf[2]);
	}
	if (!strcmp(name, "source.port"))
		return num(out, sockaddr_inet_port(&p->client));
	if (!strcmp(name, "source.principal"))
		return str(out, p->identity);
	if (!strcmp(name, "destination.address"))
		return addr(out, &p->local, at->buf[3]);
	if (!strcmp(name, "destination.port"))
		return num(out, p->dest_port ? p->dest_port : sockaddr_inet_port(&p->local));
	if (!strcmp(name, "destination.principal"))
		return str(out, r->view->gen->l7->identity);
	if (!strcmp(name, "upstream.address"))
		return r->up && r->host >= 0 ? str(out, r->up->c->addr_text[r->host]) : false;
	if (!strcmp(name, "xds.cluster_name"))
		return r->up ? str(out, r->up->c->name) : false;
	return false; /* response.headers: not kept once forwarded */
}

static bool no_attr(void *arg, const char *name, const char *key, struct cel_value *out)
{
	return false;
}

/* Entry @i of @g's overrides, values from @fn(@arg). */
static bool metric_ops(const struct wp_gen *g, size_t i, cel_attr_fn fn, void *arg,
		       struct wp_metric_ops *mo, struct wp_tag_op *ops,
		       char (*bufs)[WP_TAG_VALUE_MAX], size_t max)
{
	const struct l7_telemetry *t = &g->l7->telemetry[i];
	struct cel_expr *const *vals = g->tag_values[i];

	if (!t->metrics_off && !t->n_tag_ops)
		return false;
	mo->off = t->metrics_off;
	mo->ops = ops;
	mo->n = 0;
	for (size_t j = 0; j < t->n_tag_ops && mo->n < max; j++) {
		struct wp_tag_op *o = &ops[mo->n];
		struct cel_value v;

		o->metrics = t->tag_ops[j].metrics;
		o->tag = t->tag_ops[j].tag;
		o->value = NULL;
		if (t->tag_ops[j].value) {
			if (!vals[j] || !cel_eval_value(vals[j], fn, arg, &v))
				snprintf(bufs[mo->n], WP_TAG_VALUE_MAX, "unknown");
			else if (v.type == CEL_STRING)
				snprintf(bufs[mo->n], WP_TAG_VALUE_MAX, "%s", v.s);
			else if (v.type == CEL_INT)
				snprintf(bufs[mo->n], WP_TAG_VALUE_MAX, "%lld", (long long)v.i);
			else if (v.type == CEL_BOOL)
				snprintf(bufs[mo->n], WP_TAG_VALUE_MAX, "%s",
					 v.b ? "true" : "false");
			else
				snprintf(bufs[mo->n], WP_TAG_VALUE_MAX, "unknown");
			o->value = bufs[mo->n];
		}
		mo->n++;
	}
	return true;
}

bool wp_req_metric_ops(const struct wp_req *r, struct wp_metric_ops *mo, struct wp_tag_op *ops,
		       char (*bufs)[WP_TAG_VALUE_MAX], size_t max)
{
	size_t i;
	struct attrs at = {.r = r};

	return wp_req_telemetry(r, &i) &&
	       metric_ops(r->view->gen, i, attr, &at, mo, ops, bufs, max);
}

bool wp_svc_metric_ops(const struct wp_gen *g, const struct l7_service *svc,
		       struct wp_metric_ops *mo, struct wp_tag_op *ops,
		       char (*bufs)[WP_TAG_VALUE_MAX], size_t max)
{
	uint32_t i = svc ? svc->telemetry : 0;

	if (!g->l7->n_telemetry)
		return false;
	return metric_ops(g, i < g->l7->n_telemetry ? i : 0, no_attr, NULL, mo, ops, bufs, max);
}

bool wp_req_logged(const struct wp_req *r)
{
	size_t i;
	const struct l7_telemetry *t = wp_req_telemetry(r, &i);
	const struct cel_expr *f = t ? r->view->gen->log_filters[i] : NULL;
	struct attrs at = {.r = r};

	if (t && t->access_log == 0)
		return false;
	return !f || cel_eval(f, attr, &at);
}
