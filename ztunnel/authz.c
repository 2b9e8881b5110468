// SPDX-License-Identifier: Apache-2.0
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>

#include "ambit/log.h"
#include "authz.h"
#include "metrics.h"

/* ---- decision counters: (policy, action) -> allow/deny, hashed so lookups stay O(1) ---- */

#define COUNTER_BUCKETS 4096

struct counter {
	struct counter *next;
	char *policy;
	const char *action; /* static string */
	uint64_t allow, deny;
};

static pthread_mutex_t counters_lock = PTHREAD_MUTEX_INITIALIZER;
static struct counter *counters[COUNTER_BUCKETS];

static unsigned int counter_hash(const char *policy, const char *action)
{
	unsigned int h = 2166136261u; /* FNV-1a */

	for (const char *p = policy; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	for (const char *p = action; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	return h % COUNTER_BUCKETS;
}

static void count(const char *policy, const char *action, bool allow)
{
	unsigned int b = counter_hash(policy, action);
	struct counter *c;

	pthread_mutex_lock(&counters_lock);
	for (c = counters[b]; c; c = c->next)
		if (c->action == action && strcmp(c->policy, policy) == 0)
			break;
	if (!c && (c = calloc(1, sizeof(*c)))) {
		c->policy = strdup(policy);
		c->action = action;
		if (!c->policy) {
			free(c);
			c = NULL;
		} else {
			c->next = counters[b];
			counters[b] = c;
		}
	}
	/* Out of memory loses one count, never the decision. */
	if (c) {
		if (allow)
			c->allow++;
		else
			c->deny++;
	}
	pthread_mutex_unlock(&counters_lock);
}

static void appendf(char **out, size_t *len, size_t *cap, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void appendf(char **out, size_t *len, size_t *cap, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!*out)
		return;
	va_start(ap, fmt);
	n = vsnprintf(*out + *len, *cap - *len, fmt, ap);
	va_end(ap);
	if (n < 0)
		goto fail;
	if (*len + (size_t)n + 1 > *cap) {
		size_t ncap = (*cap + (size_t)n + 1) * 2;
		char *p = realloc(*out, ncap);

		if (!p)
			goto fail;
		*out = p;
		*cap = ncap;
		va_start(ap, fmt);
		vsnprintf(*out + *len, *cap - *len, fmt, ap);
		va_end(ap);
	}
	*len += (size_t)n;
	return;
fail:
	free(*out);
	*out = NULL;
}

/* Prometheus label value escaping (backslash, quote, newline) into @buf. */
static const char *label_value(const char *v, char *buf, size_t len)
{
	size_t o = 0;

	for (; *v && o + 3 < len; v++) {
		if (*v == '"' || *v == '\\' || *v == '\n') {
			buf[o++] = '\\';
			buf[o++] = *v == '\n' ? 'n' : *v;
		} else {
			buf[o++] = *v;
		}
	}
	buf[o] = '\0';
	return buf;
}

char *authz_metrics_render(void)
{
	static const char name[] = "ambit_policy_decisions_total";
	size_t cap = 1024, len = 0;
	char *out = malloc(cap), esc[512];

	if (!out)
		return NULL;
	out[0] = '\0';
	appendf(&out, &len, &cap,
		"# HELP %s Connections decided by L4 policy in the ztunnel, by deciding policy.\n"
		"# TYPE %s counter\n",
		name, name);
	pthread_mutex_lock(&counters_lock);
	for (unsigned int b = 0; b < COUNTER_BUCKETS && out; b++) {
		for (struct counter *c = counters[b]; c && out; c = c->next) {
			label_value(c->policy, esc, sizeof(esc));
			if (c->allow)
				appendf(&out, &len, &cap,
					"%s{policy=\"%s\",action=\"%s\",decision=\"allow\"} %llu\n",
					name, esc, c->action, (unsigned long long)c->allow);
			if (c->deny)
				appendf(&out, &len, &cap,
					"%s{policy=\"%s\",action=\"%s\",decision=\"deny\"} %llu\n",
					name, esc, c->action, (unsigned long long)c->deny);
		}
	}
	pthread_mutex_unlock(&counters_lock);
	return out;
}

char *authz_policies_json(void)
{
	cJSON *root = cJSON_CreateObject(), *arr;
	char *out = NULL;

	if (!root || !(arr = cJSON_AddArrayToObject(root, "policies")))
		goto out;
	pthread_mutex_lock(&counters_lock);
	for (unsigned int b = 0; b < COUNTER_BUCKETS; b++) {
		for (struct counter *c = counters[b]; c; c = c->next) {
			cJSON *o = cJSON_CreateObject();

			if (!o || !cJSON_AddItemToArray(arr, o)) {
				cJSON_Delete(o);
				pthread_mutex_unlock(&counters_lock);
				goto out;
			}
			if (!cJSON_AddStringToObject(o, "policy", c->policy) ||
			    !cJSON_AddStringToObject(o, "action", c->action) ||
			    !cJSON_AddNumberToObject(o, "allow", (double)c->allow) ||
			    !cJSON_AddNumberToObject(o, "deny", (double)c->deny)) {
				pthread_mutex_unlock(&counters_lock);
				goto out;
			}
		}
	}
	pthread_mutex_unlock(&counters_lock);
	out = cJSON_PrintUnformatted(root);
out:
	cJSON_Delete(root);
	return out;
}

/* ---- decisions ---- */

/* Appends @pol's key to the comma-separated @buf when it is an enforced ALLOW policy. */
static void add_allow_name(const struct policy_authz *pol, char *buf, size_t len)
{
	size_t n = strlen(buf);

	if (pol->action != POLICY_ACTION_ALLOW || pol->dry_run || pol->scope == POLICY_SCOPE_NONE)
		return;
	snprintf(buf + n, len - n, "%s%s", n ? "," : "", pol->key);
}

/*
 * "ALLOW policies apply and none matched" has no single deciding policy; the access log and the
 * counters name the ALLOW policies that applied (the usual culprit: an allow-nothing policy).
 * Walks the same three index lists the evaluation does, so it stays cheap as policies grow.
 */
static void applicable_allow_names(const struct policy_set *ps, const struct snap_workload *dst,
				   char *buf, size_t len)
{
	const struct policy_namespace *ns = policy_set_namespace(ps, dst->namespace);
	const struct policy_workload *wl = policy_set_workload(ps, dst->uid);

	buf[0] = '\0';
	for (size_t i = 0; i < ps->n_global; i++)
		add_allow_name(&ps->policies[ps->global[i]], buf, len);
	for (size_t i = 0; ns && i < ns->n_policies; i++)
		add_allow_name(&ps->policies[ns->policies[i]], buf, len);
	for (size_t i = 0; wl && i < wl->n_policies; i++)
		add_allow_name(&ps->policies[wl->policies[i]], buf, len);
}

/*
 * The counter a decision belongs to: the deciding policy under its action, a STRICT refusal
 * under its PeerAuthentication, a denial for want of a matching ALLOW under the ALLOW policies
 * that applied. "No ALLOW policy applies" is decided by no object: not counted.
 */
static void count_decision(const struct authz_result *r, bool allow)
{
	const struct policy_decision *d = &r->d;
	char one[256];

	if (d->policy) {
		count(d->policy->key, policy_action_str(d->policy->action), allow);
	} else if (d->reason == POLICY_REASON_MTLS_REQUIRED) {
		count(r->name[0] ? r->name : "PeerAuthentication", "STRICT", allow);
	} else if (d->reason == POLICY_REASON_NO_ALLOW_MATCHED) {
		for (const char *p = r->name; *p;) {
			size_t n = strcspn(p, ",");

			snprintf(one, sizeof(one), "%.*s", (int)n, p);
			count(one, "ALLOW", allow);
			p += n + (p[n] == ',');
		}
	}
}

static bool decide(const struct snapshot *s, const struct snap_workload *dst,
		   const struct ipaddr *dst_ip, uint16_t port, const struct ipaddr *src_ip,
		   const char *src_identity, struct authz_result *out, bool revisit)
{
	struct policy_conn c = {
	    .dst_uid = dst->uid,
	    .dst_namespace = dst->namespace,
	    .dst_port = port,
	    .src_identity = src_identity,
	};
	const char *tds[17];
	char sip[IPADDR_STRLEN], dip[IPADDR_STRLEN];
	bool allow;

	/* The mesh's trust domain and its aliases, which principals stand for together. */
	c.n_trust_domains = snapshot_trust_domains(s, tds, sizeof(tds) / sizeof(tds[0]));
	c.trust_domains = tds;

	c.dst_ip = *dst_ip;
	c.src_ip = *src_ip;
	policy_evaluate(s->policies, &c, &out->d);
	policy_decision_name(&out->d, out->name, sizeof(out->name));
	if (out->d.reason == POLICY_REASON_NO_ALLOW_MATCHED && s->policies)
		applicable_allow_names(s->policies, dst, out->name, sizeof(out->name));
	allow = out->d.verdict == POLICY_VERDICT_ALLOW;
	out->explain[0] = '\0';
	if (!allow)
		policy_decision_explain(&out->d, &c, out->explain, sizeof(out->explain));
	/* A connection kept open is not a new decision; a revoked one is. */
	if (revisit && allow)
		return true;
	count_decision(out, allow);
	for (size_t i = 0; i < out->d.n_audit && i < POLICY_MAX_AUDIT; i++) {
		count(out->d.audit[i]->key, "AUDIT", allow);
		pr_info(
		    "audit policy=%s src.addr=%s src.identity=%s dst.addr=%s:%u dst.workload=%s "
		    "decision=%s",
		    out->d.audit[i]->key, ipaddr_format(src_ip, sip, sizeof(sip)),
		    src_identity ? src_identity : "-", ipaddr_format(dst_ip, dip, sizeof(dip)),
		    port, dst->uid, allow ? "allow" : "deny");
	}
	if (out->d.shadow)
		pr_info("dry-run policy=%s would %s src.addr=%s src.identity=%s dst.addr=%s:%u "
			"dst.workload=%s (enforced: %s)",
			out->d.shadow_policy ? out->d.shadow_policy->key : "-",
			policy_verdict_str(out->d.shadow_verdict),
			ipaddr_format(src_ip, sip, sizeof(sip)), src_identity ? src_identity : "-",
			ipaddr_format(dst_ip, dip, sizeof(dip)), port, dst->uid,
			allow ? "allow" : "deny");
	return allow;
}

bool authz_decide(const struct snapshot *s, const struct snap_workload *dst,
		  const struct ipaddr *dst_ip, uint16_t port, const struct ipaddr *src_ip,
		  const char *src_identity, struct authz_result *out)
{
	return decide(s, dst, dst_ip, port, src_ip, src_identity, out, false);
}

/* ---- open connections of one worker ---- */

struct authz_entry {
	struct authz_entry *next, *prev;
	struct authz_tracker *t;
	struct connrec *rec;
	struct ipaddr dst_ip, src_ip;
	uint16_t port;
	char *src_identity; /* NULL: plaintext */
};

struct authz_tracker {
	struct authz_entry *head;
	size_t n;
};

struct authz_tracker *authz_tracker_create(void)
{
	return calloc(1, sizeof(struct authz_tracker));
}

static void entry_unlink(struct authz_entry *e)
{
	struct authz_tracker *t = e->t;

	if (e->prev)
		e->prev->next = e->next;
	else
		t->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	t->n--;
	free(e->src_identity);
	free(e);
}

/* connrec close hook: the connection ended on its own. */
static void entry_closed(void *arg)
{
	entry_unlink(arg);
}

void authz_tracker_destroy(struct authz_tracker *t)
{
	if (!t)
		return;
	while (t->head) {
		/* The record may outlive us (owned by its splice or stream): unhook first. */
		connrec_on_close_ptr(t->head->rec, NULL, NULL);
		entry_unlink(t->head);
	}
	free(t);
}

int authz_track(struct authz_tracker *t, struct connrec *rec, const struct ipaddr *dst_ip,
		uint16_t port, const struct ipaddr *src_ip, const char *src_identity)
{
	struct authz_entry *e;

	if (!rec)
		return -EINVAL; /* not recorded (out of memory): nothing to revoke it through */
	e = calloc(1, sizeof(*e));
	if (!e || (src_identity && !(e->src_identity = strdup(src_identity)))) {
		free(e);
		pr_warn("authz: out of memory: a connection cannot be revoked by later policy");
		return -ENOMEM;
	}
	e->t = t;
	e->rec = rec;
	e->dst_ip = *dst_ip;
	e->src_ip = *src_ip;
	e->port = port;
	e->next = t->head;
	if (t->head)
		t->head->prev = e;
	t->head = e;
	t->n++;
	connrec_on_close_ptr(rec, entry_closed, e);
	return 0;
}

unsigned int authz_reevaluate(struct authz_tracker *t, const struct snapshot *s)
{
	struct authz_entry *e, *next;
	unsigned int closed = 0;

	for (e = t->head; e; e = next) {
		const struct snap_workload *dst = snapshot_workload_by_addr(s, &e->dst_ip);
		struct authz_result r;
		char reason[600];

		/* Saved first: revoking frees @e (and only @e). */
		next = e->next;
		/* A workload that left the mesh or the node is no policy decision of ours. */
		if (!dst || !dst->enrolled)
			continue;
		if (decide(s, dst, &e->dst_ip, e->port, &e->src_ip, e->src_identity, &r, true))
			continue;
		snprintf(reason, sizeof(reason), "policy revoked: %s", r.explain);
		connrec_set_decision(e->rec, "deny", r.name);
		if (connrec_abort(e->rec, reason))
			closed++;
	}
	return closed;
}

size_t authz_tracked(const struct authz_tracker *t)
{
	return t ? t->n : 0;
}
