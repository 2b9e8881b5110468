// SPDX-License-Identifier: Apache-2.0
/*
 * `ambitctl policies` and `ambitctl check SRC DST:PORT`. The policy set is the one the agents
 * publish in their snapshot (every node compiles the same set); the allow/deny counts are the
 * ztunnels' (admin /policies, summed over nodes), the kernel refusals the nodes' strict_ports and
 * deny_src entries counted, charged to the object each entry was made from. `check` decides with
 * policy_evaluate, the very
 * code the destination ztunnel runs, so its answer is the data path's.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <linux/types.h>

#include "ambit/datapath.h"
#include "ambit/ipc.h"
#include "ambit/ipaddr.h"
#include "ambit/policy.h"
#include "ambit/snapshot.h"
#include "ctl.h"

/* The first selected node's snapshot that carries a policy set. */
static struct snapshot *cluster_snapshot(const struct ctl_opts *o, const struct ctl_cluster *c)
{
	for (int i = 0; i < c->nnodes; i++) {
		struct snapshot *s;

		if (o->node && strcmp(o->node, c->nodes[i].name))
			continue;
		s = agent_snapshot(&c->nodes[i], NULL);
		if (s && s->policies)
			return s;
		if (s)
			fprintf(stderr, "ambitctl: %s: the snapshot carries no policy set yet\n",
				c->nodes[i].name);
		snapshot_free(s);
	}
	return NULL;
}

/* ---- counts ---- */

struct count {
	char *policy;
	double allow, deny;
	double kernel; /* SYNs refused in tc by entries this object made (DESIGN.md §2) */
};

struct counts {
	size_t n;
	struct count *items;
};

static struct count *count_of(struct counts *cs, const char *policy, bool create)
{
	struct count *p;

	for (size_t i = 0; i < cs->n; i++)
		if (!strcmp(cs->items[i].policy, policy))
			return &cs->items[i];
	if (!create || !(p = realloc(cs->items, (cs->n + 1) * sizeof(*p))))
		return NULL;
	cs->items = p;
	p = &p[cs->n];
	memset(p, 0, sizeof(*p));
	if (!(p->policy = strdup(policy)))
		return NULL;
	cs->n++;
	return p;
}

/* Sums every selected node's ztunnel admin /policies; an unreachable ztunnel is reported. */
static void collect_counts(const struct ctl_opts *o, const struct ctl_cluster *c, struct counts *cs)
{
	for (int i = 0; i < c->nnodes; i++) {
		const cJSON *arr, *it;
		char *body = NULL;
		cJSON *root;
		int code;

		if (o->node && strcmp(o->node, c->nodes[i].name))
			continue;
		code = http_get_in_netns(c->nodes[i].netns, 15000, "/policies", &body);
		if (code != 200) {
			fprintf(stderr,
				"ambitctl: %s ztunnel admin /policies: %s%d; counts omitted\n",
				c->nodes[i].name, code < 0 ? "error " : "HTTP ",
				code < 0 ? -code : code);
			free(body);
			continue;
		}
		root = cJSON_Parse(body);
		free(body);
		arr = root ? cJSON_GetObjectItemCaseSensitive(root, "policies") : NULL;
		if (!cJSON_IsArray(arr))
			arr = NULL;
		cJSON_ArrayForEach(it, arr)
		{
			const cJSON *p = cJSON_GetObjectItemCaseSensitive(it, "policy");
			const cJSON *al = cJSON_GetObjectItemCaseSensitive(it, "allow");
			const cJSON *de = cJSON_GetObjectItemCaseSensitive(it, "deny");
			struct count *ct;

			if (!cJSON_IsString(p) || !(ct = count_of(cs, p->valuestring, true)))
				continue;
			ct->allow += cJSON_IsNumber(al) ? al->valuedouble : 0;
			ct->deny += cJSON_IsNumber(de) ? de->valuedouble : 0;
		}
		cJSON_Delete(root);
	}
}

/* Charges @drops to @policy (NULL: an entry no current object explains, left uncounted). */
static void count_kernel(struct counts *cs, const char *policy, uint64_t drops)
{
	struct count *ct;

	if (policy && drops && (ct = count_of(cs, policy, true)))
		ct->kernel += (double)drops;
}

/*
 * strict_ports: a DROP entry is the effective STRICT mode of (pod, port), so the object that
 * made it is the PeerAuthentication that decides that mode (port 0: the pod's default).
 */
static void kernel_strict(const struct snapshot *s, int fd, struct counts *cs)
{
	struct ambit_addr key, next;
	struct ambit_strict_port v;
	bool first = true;

	while (bpf_map_get_next_key(fd, first ? NULL : &key, &next) == 0) {
		const struct snap_workload *w = snapshot_workload_by_ip(s, next.ip);
		const char *source = NULL;

		key = next;
		first = false;
		if (!w || bpf_map_lookup_elem(fd, &key, &v) || v.mode != AMBIT_PLAINTEXT_DROP)
			continue;
		policy_mtls_mode(s->policies, w->uid, w->namespace, ntohs(key.port), &source);
		count_kernel(cs, source, v.drops);
	}
}

/* deny_src: the DENY policy whose source-only ipBlocks rule gave (pod, block). */
static void kernel_deny(const struct snapshot *s, int fd, struct counts *cs)
{
	struct ambit_deny_src_key key, next;
	struct ambit_deny_src v;
	bool first = true;

	while (bpf_map_get_next_key(fd, first ? NULL : &key, &next) == 0) {
		const struct snap_workload *w = snapshot_workload_by_ip(s, next.dst_ip);
		struct ipaddr block;
		const struct policy_authz *pol;
		unsigned int bits;

		key = next;
		first = false;
		if (!w || next.prefixlen < 32 || next.prefixlen > 64 ||
		    bpf_map_lookup_elem(fd, &key, &v))
			continue;
		bits = next.prefixlen - 32;
		ipaddr_from_v4(&block, next.src_ip);
		block.len = (uint8_t)bits; /* the key's source is masked to it */
		pol = policy_deny_src_owner(s->policies, w->uid, w->namespace, &block);
		count_kernel(cs, pol ? pol->key : NULL, v.drops);
	}
}

/* Adds every selected node's kernel refusals; a node whose pins cannot be opened is reported. */
static void collect_kernel(const struct ctl_opts *o, const struct ctl_cluster *c,
			   const struct snapshot *s, struct counts *cs)
{
	for (int i = 0; i < c->nnodes; i++) {
		int sfd, dfd;

		if (o->node && strcmp(o->node, c->nodes[i].name))
			continue;
		sfd = pinned_map_open(c->nodes[i].pin_root, "strict_ports");
		dfd = pinned_map_open(c->nodes[i].pin_root, "deny_src");
		if (sfd < 0 || dfd < 0)
			fprintf(stderr,
				"ambitctl: %s: cannot open %s/%s: %s; kernel counts omitted\n",
				c->nodes[i].name, c->nodes[i].pin_root,
				sfd < 0 ? "strict_ports" : "deny_src",
				strerror(-(sfd < 0 ? sfd : dfd)));
		else {
			kernel_strict(s, sfd, cs);
			kernel_deny(s, dfd, cs);
		}
		if (sfd >= 0)
			close(sfd);
		if (dfd >= 0)
			close(dfd);
	}
}

static void counts_free(struct counts *cs)
{
	for (size_t i = 0; i < cs->n; i++)
		free(cs->items[i].policy);
	free(cs->items);
}

/* ---- policies ---- */

static size_t ns_workloads(const struct policy_set *ps, const char *ns)
{
	size_t n = 0;

	for (size_t i = 0; i < ps->n_workloads; i++)
		n += !ns || !strcmp(ps->workloads[i].namespace, ns);
	return n;
}

/* "what it applies to" as text: every workload of a scope, or the selected ones. */
static void applies_to(const struct policy_set *ps, enum policy_scope scope, const char *ns,
		       char **wls, size_t n, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = '\0';
	switch (scope) {
	case POLICY_SCOPE_GLOBAL:
		snprintf(buf, len, "every workload (%zu)", ns_workloads(ps, NULL));
		return;
	case POLICY_SCOPE_NAMESPACE:
		snprintf(buf, len, "every workload in %s (%zu)", ns, ns_workloads(ps, ns));
		return;
	case POLICY_SCOPE_NONE: snprintf(buf, len, "-"); return;
	case POLICY_SCOPE_WORKLOAD: break;
	}
	if (!n) {
		snprintf(buf, len, "no workload (selector matches none)");
		return;
	}
	for (size_t i = 0; i < n && off + 1 < len; i++) {
		int w = (i < 4) ? snprintf(buf + off, len - off, "%s%s", i ? "," : "", wls[i])
				: snprintf(buf + off, len - off, ",+%zu more", n - i);

		if (w < 0)
			return;
		off += (size_t)w;
		if (i >= 4)
			break;
	}
}

static cJSON *policies_json(const struct policy_set *ps, struct counts *cs)
{
	cJSON *root = cJSON_CreateObject(), *pols, *pas;

	if (!root || !(pols = cJSON_AddArrayToObject(root, "authorizationPolicies")) ||
	    !(pas = cJSON_AddArrayToObject(root, "peerAuthentications")))
		goto fail;
	for (size_t i = 0; i < ps->n_policies; i++) {
		const struct policy_authz *p = &ps->policies[i];
		struct count *ct = count_of(cs, p->key, false);
		cJSON *o = cJSON_CreateObject(), *w;

		if (!o || !cJSON_AddItemToArray(pols, o))
			goto fail_o;
		cJSON_AddStringToObject(o, "policy", p->key);
		cJSON_AddStringToObject(o, "scope", policy_scope_str(p->scope));
		cJSON_AddStringToObject(o, "action", policy_action_str(p->action));
		cJSON_AddBoolToObject(o, "dryRun", p->dry_run);
		if (p->note)
			cJSON_AddStringToObject(o, "note", p->note);
		w = cJSON_AddArrayToObject(o, "workloads");
		for (size_t k = 0; w && k < ps->n_workloads; k++) {
			const struct policy_workload *wl = &ps->workloads[k];
			bool in = p->scope == POLICY_SCOPE_GLOBAL ||
				  (p->scope == POLICY_SCOPE_NAMESPACE &&
				   !strcmp(wl->namespace, p->namespace));

			for (size_t j = 0;
			     !in && p->scope == POLICY_SCOPE_WORKLOAD && j < p->n_workloads; j++)
				in = !strcmp(p->workloads[j], wl->uid);
			if (in)
				cJSON_AddItemToArray(w, cJSON_CreateString(wl->uid));
		}
		cJSON_AddNumberToObject(o, "allow", ct ? ct->allow : 0);
		cJSON_AddNumberToObject(o, "deny", ct ? ct->deny : 0);
		cJSON_AddNumberToObject(o, "kernelRefusals", ct ? ct->kernel : 0);
		continue;
	fail_o:
		cJSON_Delete(o);
		goto fail;
	}
	for (size_t i = 0; i < ps->n_peer_auths; i++) {
		const struct policy_peer_auth *pa = &ps->peer_auths[i];
		char key[300];
		struct count *ct;
		cJSON *o = cJSON_CreateObject();

		if (!o || !cJSON_AddItemToArray(pas, o)) {
			cJSON_Delete(o);
			goto fail;
		}
		snprintf(key, sizeof(key), "PeerAuthentication %s/%s", pa->namespace, pa->name);
		ct = count_of(cs, key, false);
		cJSON_AddStringToObject(o, "policy", key);
		cJSON_AddStringToObject(o, "scope", policy_scope_str(pa->scope));
		cJSON_AddStringToObject(o, "mode", policy_mtls_str(pa->mode));
		cJSON_AddBoolToObject(o, "inForce", pa->in_force);
		cJSON_AddNumberToObject(o, "deny", ct ? ct->deny : 0);
		cJSON_AddNumberToObject(o, "kernelRefusals", ct ? ct->kernel : 0);
	}
	return root;
fail:
	cJSON_Delete(root);
	return NULL;
}

int cmd_policies(const struct ctl_opts *o)
{
	struct counts cs = {0};
	struct ctl_cluster c;
	struct snapshot *s;
	char buf[512];
	int ret;

	ret = cluster_open(&c, o);
	if (ret)
		return ret;
	s = cluster_snapshot(o, &c);
	if (!s)
		return -EIO;
	collect_counts(o, &c, &cs);
	collect_kernel(o, &c, s, &cs);
	if (o->json) {
		cJSON *j = policies_json(s->policies, &cs);
		char *text = j ? cJSON_Print(j) : NULL;

		if (text)
			printf("%s\n", text);
		ret = text ? 0 : -ENOMEM;
		free(text);
		cJSON_Delete(j);
		goto out;
	}
	printf("root namespace %s; mesh mTLS %s%s%s\n", s->policies->root_namespace,
	       policy_mtls_str(s->policies->mesh.mode), s->policies->mesh.source ? " by " : "",
	       s->policies->mesh.source ? s->policies->mesh.source : " (default)");
	printf("%-40s %-9s %-6s %8s %8s %8s  %s\n", "AUTHORIZATIONPOLICY", "SCOPE", "ACTION",
	       "ALLOW", "DENY", "KERNEL", "APPLIES TO");
	for (size_t i = 0; i < s->policies->n_policies; i++) {
		const struct policy_authz *p = &s->policies->policies[i];
		struct count *ct = count_of(&cs, p->key, false);
		char action[16];

		applies_to(s->policies, p->scope, p->namespace, p->workloads, p->n_workloads, buf,
			   sizeof(buf));
		snprintf(action, sizeof(action), "%s%s", policy_action_str(p->action),
			 p->dry_run ? "*" : "");
		printf("%-40s %-9s %-6s %8.0f %8.0f %8.0f  %s\n", p->key,
		       policy_scope_str(p->scope), action, ct ? ct->allow : 0, ct ? ct->deny : 0,
		       ct ? ct->kernel : 0, buf);
		if (p->note)
			printf("%-40s   note: %s\n", "", p->note);
		for (size_t r = 0; r < p->n_rules; r++)
			if (p->rules[r].note)
				printf("%-40s   rule %zu: %s\n", "", r, p->rules[r].note);
	}
	printf("\n%-40s %-9s %-10s %-8s %8s %8s  %s\n", "PEERAUTHENTICATION", "SCOPE", "MODE",
	       "IN FORCE", "REFUSED", "KERNEL", "APPLIES TO");
	for (size_t i = 0; i < s->policies->n_peer_auths; i++) {
		const struct policy_peer_auth *pa = &s->policies->peer_auths[i];
		char key[340], name[300];
		struct count *ct;

		snprintf(name, sizeof(name), "%s/%s", pa->namespace, pa->name);
		snprintf(key, sizeof(key), "PeerAuthentication %s", name);
		ct = count_of(&cs, key, false);
		applies_to(s->policies, pa->scope, pa->namespace, pa->workloads, pa->n_workloads,
			   buf, sizeof(buf));
		printf("%-40s %-9s %-10s %-8s %8.0f %8.0f  %s\n", name, policy_scope_str(pa->scope),
		       policy_mtls_str(pa->mode), pa->in_force ? "yes" : "no", ct ? ct->deny : 0,
		       ct ? ct->kernel : 0, buf);
	}
	printf(
	    "(* dry-run: evaluated and logged, not enforced; KERNEL: plaintext SYNs refused with a "
	    "reset in the kernel before the ztunnel saw them)\n");
out:
	counts_free(&cs);
	snapshot_free(s);
	return ret;
}

/* ---- check ---- */

/* A workload by "ns/name", unique "name" or IP (either family); NULL if none. */
static const struct snap_workload *find_workload(const struct snapshot *s, const char *spec)
{
	const struct snap_workload *hit = NULL;
	struct ipaddr a;

	if (!ipaddr_parse_addr(spec, &a))
		return snapshot_workload_by_addr(s, &a);
	for (size_t i = 0; i < s->n_workloads; i++) {
		const struct snap_workload *w = &s->workloads[i];

		if (!strcmp(w->uid, spec))
			return w;
		if (!strcmp(w->name, spec)) {
			if (hit)
				return NULL; /* ambiguous: ask for ns/name */
			hit = w;
		}
	}
	return hit;
}

static void print_applicable(const struct policy_set *ps, const struct snap_workload *dst)
{
	const struct policy_namespace *n = policy_set_namespace(ps, dst->namespace);
	const struct policy_workload *w = policy_set_workload(ps, dst->uid);
	const uint32_t *lists[3] = {ps->global, n ? n->policies : NULL, w ? w->policies : NULL};
	size_t counts[3] = {ps->n_global, n ? n->n_policies : 0, w ? w->n_policies : 0};
	size_t total = 0;

	for (int l = 0; l < 3; l++) {
		for (size_t i = 0; i < counts[l]; i++) {
			const struct policy_authz *p = &ps->policies[lists[l][i]];

			printf("%s %s %s%s (%s)", total++ ? "," : "policies:   ", p->key,
			       policy_action_str(p->action), p->dry_run ? " dry-run" : "",
			       policy_scope_str(p->scope));
		}
	}
	printf("%s\n", total ? "" : "policies:    none apply");
}

/* A Service by VIP (either family), "ns/name", "name.ns" or its hostname; NULL if none. */
static const struct snap_service *find_service(const struct snapshot *s, const char *spec)
{
	struct ipaddr a;

	if (!ipaddr_parse_addr(spec, &a))
		return snapshot_service_by_addr(s, &a);
	for (size_t i = 0; i < s->n_services; i++) {
		const struct snap_service *svc = &s->services[i];
		char buf[512];

		snprintf(buf, sizeof(buf), "%s/%s", svc->namespace, svc->name);
		if (!strcmp(buf, spec) || !strcmp(svc->hostname, spec))
			return svc;
		snprintf(buf, sizeof(buf), "%s.%s", svc->name, svc->namespace);
		if (!strcmp(buf, spec))
			return svc;
	}
	return NULL;
}

/*
 * Which agent's snapshot a destination's policies are read from: the destination's ztunnel
 * decides by its own node's agent, and each agent reads the policies on its own (one may lag
 * another). @first is the one the workloads are looked up in; @per_node (c->nnodes slots) keeps
 * the other nodes' once fetched.
 */
struct deciders {
	const struct ctl_opts *o;
	const struct ctl_cluster *c;
	const struct snapshot *first;
	struct snapshot **per_node;
};

/* The snapshot of @dw's node's agent; @d->first under --node, or when that agent has none. */
static const struct snapshot *decider_of(struct deciders *d, const struct snap_workload *dw)
{
	const struct ctl_node *n =
	    d->o->node || !dw->node || !d->per_node ? NULL : cluster_node(d->c, dw->node);
	struct snapshot **s;

	if (!n)
		return d->first;
	s = &d->per_node[n - d->c->nodes];
	if (!*s) {
		*s = agent_snapshot(n, NULL);
		if (*s && !(*s)->policies) {
			snapshot_free(*s);
			*s = NULL;
		}
	}
	return *s ? *s : d->first;
}

/*
 * Decides and prints one source -> destination workload connection; @via (may be NULL) is the
 * waypoint it comes through, whose identity the destination sees.
 */
/*
 * @src_ip: the source's address (either family); the destination is addressed by its IPv6
 * when @src_ip is IPv6 (a dual-stack pod; a flow keeps its family), else by its IPv4.
 */
static void check_one(const struct ctl_opts *o, struct deciders *dz, const struct snap_workload *sw,
		      const struct ipaddr *src_ip, const struct snap_workload *dw, uint16_t port,
		      const struct snap_waypoint *via, bool udp, cJSON *out)
{
	const struct snapshot *s = decider_of(dz, dw);
	char name[300], why[1024], ipb[IPADDR_STRLEN], dipb[IPADDR_STRLEN];
	const char *tds[17];
	struct policy_conn conn = {
	    .dst_uid = dw->uid,
	    .dst_namespace = dw->namespace,
	    .dst_port = port,
	    /* Only an enrolled source reaches the destination over HBONE with its identity. */
	    .src_identity = via					    ? via->identity
			    : sw && sw->enrolled && sw->identity[0] ? sw->identity
								    : NULL,
	};
	struct policy_decision d;

	if (src_ip->family == AF_INET6 && dw->ip6.family == AF_INET6)
		conn.dst_ip = dw->ip6;
	else
		ipaddr_from_v4(&conn.dst_ip, dw->ip);
	conn.src_ip = *src_ip;
	/* As the ztunnel decides it: principals stand for the mesh's trust domain and aliases. */
	conn.n_trust_domains = snapshot_trust_domains(s, tds, sizeof(tds) / sizeof(tds[0]));
	conn.trust_domains = tds;
	policy_evaluate(s->policies, &conn, &d);
	policy_decision_name(&d, name, sizeof(name));
	policy_decision_explain(&d, &conn, why, sizeof(why));
	ipaddr_format(src_ip, ipb, sizeof(ipb));
	ipaddr_format(&conn.dst_ip, dipb, sizeof(dipb));
	if (o->json) {
		cJSON *j = cJSON_CreateObject();

		if (!j || !cJSON_AddItemToArray(out, j)) {
			cJSON_Delete(j);
			return;
		}
		cJSON_AddStringToObject(j, "source", sw ? sw->uid : ipb);
		cJSON_AddStringToObject(j, "identity", conn.src_identity ? conn.src_identity : "");
		cJSON_AddStringToObject(j, "destination", dw->uid);
		cJSON_AddNumberToObject(j, "port", port);
		cJSON_AddStringToObject(j, "protocol", udp ? "UDP" : "TCP");
		cJSON_AddStringToObject(j, "mtls", policy_mtls_str(d.mtls));
		cJSON_AddStringToObject(j, "decision", policy_verdict_str(d.verdict));
		cJSON_AddStringToObject(j, "reason", policy_reason_str(d.reason));
		cJSON_AddStringToObject(j, "policy", name);
		cJSON_AddStringToObject(j, "why", why);
		return;
	}
	printf("source:      %s (%s) %s\n", sw ? sw->uid : "outside the mesh", ipb,
	       conn.src_identity ? conn.src_identity : "plaintext, no identity");
	printf("destination: %s (%s) port %u%s%s\n", dw->uid, dipb, port, udp ? "/udp" : "",
	       dw->enrolled ? "" : " (not enrolled: the mesh enforces nothing)");
	/* docs/udp.md: what carries a flow, as the data path decides it. */
	if (udp)
		printf("carried:     %s\n",
		       via	       ? "CONNECT-UDP over HBONE from the waypoint, as its identity"
		       : !dw->enrolled ? "plain UDP"
		       : conn.src_identity && sw->node && dw->node && !strcmp(sw->node, dw->node)
			   ? "by the node's ztunnel between two sockets of its own (same node)"
		       : conn.src_identity ? "CONNECT-UDP over HBONE, as the source's identity"
					   : "plain UDP (the source is outside the mesh)");
	printf("mTLS:        %s (%s)\n", policy_mtls_str(d.mtls),
	       d.mtls_source ? d.mtls_source : "mesh default");
	print_applicable(s->policies, dw);
	printf("decision:    %s%s%s\n", policy_verdict_str(d.verdict), name[0] ? " by " : "", name);
	printf("why:         %s\n", why);
}

/*
 * Other clusters' shares of a global Service @svc on @port (docs/multicluster.md), as the source's
 * ztunnel routes to them: a share in another network is reached through that network's east-west
 * gateways (double HBONE; CONNECT-UDP inside it for @udp), its endpoints' identities checked on
 * the inner tunnel, and that cluster's ztunnel (or the waypoint bound there) decides by @sw's
 * identity with its own policies, which this cluster does not hold. To a Service a waypoint
 * serves here, that waypoint balances over the shares too, its identity is the one seen there
 * (as check_one's @via), and its streams reach the endpoints, not a waypoint bound there. A share
 * in this network (@s->network) has its pods among this snapshot's workloads: listed above, not
 * here.
 */
static void check_remote(const struct ctl_opts *o, const struct snapshot *s,
			 const struct snap_service *svc, uint16_t port, bool local,
			 const struct snap_workload *sw, bool udp, cJSON *out)
{
	const char *id = svc->waypoint				 ? svc->waypoint->identity
			 : sw && sw->enrolled && sw->identity[0] ? sw->identity
								 : NULL;

	for (size_t i = 0; i < svc->n_remote; i++) {
		const struct snap_remote_service *r = &svc->remote[i];
		const char *why = NULL;
		cJSON *j, *gws = NULL, *ids = NULL;
		size_t ngw = 0;
		/*
		 * The gateway sends a stream to the waypoint bound there unless a waypoint sent it
		 * (x-istio-source: waypoint): this cluster's then reaches the endpoints.
		 */
		bool rwp = r->waypoint && !svc->waypoint;

		if (s->network && !strcmp(r->network, s->network))
			continue;
		for (size_t g = 0; g < s->n_net_gateways; g++)
			ngw += !strcmp(s->net_gateways[g].network, r->network);
		if (!snapshot_remote_has_port(r, port))
			why = "the Service has not this port there";
		else if (!r->endpoints || !r->n_identities)
			why = "no ready endpoint there";
		else if (!ngw)
			why = "no east-west gateway of that network is known";
		else if (!id)
			why = "the source is outside the mesh: only the mesh's ztunnels reach "
			      "other networks";
		else if (svc->prefer_close && local)
			why = "PreferClose: used only while this network has no endpoint";
		if (!o->json) {
			printf("\n%s share in cluster %s (network %s): %u endpoint(s)%s%s\n",
			       why ? "unused" : "routed", r->cluster, r->network, r->endpoints,
			       why ? ", " : "", why ? why : "");
			for (size_t g = 0; g < s->n_net_gateways; g++) {
				const struct snap_net_gateway *gw = &s->net_gateways[g];
				char ab[IPADDR_STRLEN] = "";
				struct ipaddr ga = gw->ip6;

				if (strcmp(gw->network, r->network))
					continue;
				if (gw->ip)
					ipaddr_from_v4(&ga, gw->ip);
				ipaddr_format(&ga, ab, sizeof(ab));
				printf("  gateway:   %s/%s %s:%u (%s), outer CONNECT %s:%u%s\n",
				       gw->cluster, gw->name, ab, gw->port, gw->identity,
				       svc->hostname, port, udp ? ", CONNECT-UDP inside" : "");
			}
			for (size_t k = 0; k < r->n_identities; k++)
				printf("  %s %s\n",
				       k ? "           " : "endpoints:", r->identities[k]);
			if (rwp)
				printf("  waypoint:  %s (%s): the inner tunnel ends at it\n",
				       r->waypoint, r->waypoint_identity);
			printf("  decision:  %s's, by %s%s and its own policies (not held here)\n",
			       rwp ? "the waypoint" : "that cluster's ztunnel",
			       svc->waypoint ? "this cluster's waypoint, " : "",
			       id ? id : "no identity");
			continue;
		}
		j = cJSON_CreateObject();
		if (!j || !cJSON_AddItemToArray(out, j)) {
			cJSON_Delete(j);
			return;
		}
		cJSON_AddStringToObject(j, "source", sw ? sw->uid : "");
		cJSON_AddStringToObject(j, "identity", id ? id : "");
		cJSON_AddStringToObject(j, "destination", svc->hostname);
		cJSON_AddNumberToObject(j, "port", port);
		cJSON_AddStringToObject(j, "protocol", udp ? "UDP" : "TCP");
		cJSON_AddStringToObject(j, "cluster", r->cluster);
		cJSON_AddStringToObject(j, "network", r->network);
		cJSON_AddNumberToObject(j, "endpoints", r->endpoints);
		cJSON_AddBoolToObject(j, "routed", !why);
		if (why)
			cJSON_AddStringToObject(j, "why", why);
		if ((gws = cJSON_AddArrayToObject(j, "gateways")))
			for (size_t g = 0; g < s->n_net_gateways; g++)
				if (!strcmp(s->net_gateways[g].network, r->network))
					cJSON_AddItemToArray(
					    gws, cJSON_CreateString(s->net_gateways[g].identity));
		if ((ids = cJSON_AddArrayToObject(j, "identities")))
			for (size_t k = 0; k < r->n_identities; k++)
				cJSON_AddItemToArray(ids, cJSON_CreateString(r->identities[k]));
		if (rwp)
			cJSON_AddStringToObject(j, "waypoint", r->waypoint);
		cJSON_AddStringToObject(j, "decision", "remote");
	}
}

/*
 * The ServiceEntry host @spec names: by its name, its address, or an address of one of its CIDR
 * blocks (or an endpoint's) on @port as the source's ztunnel would route it for namespace @ns
 * (snapshot_entry_by_addr); NULL: none.
 */
static const struct snap_service *find_entry(const struct snapshot *s, const char *spec,
					     uint16_t port, const char *ns)
{
	struct ipaddr a;
	bool by_addr = !ipaddr_parse_addr(spec, &a);
	uint32_t v4;

	for (size_t i = 0; i < s->n_entries; i++) {
		const struct snap_service *e = &s->entries[i];

		if (by_addr
			? (ipaddr_v4(&a, &v4) ? e->vip && e->vip == v4 : ipaddr_equal(&e->vip6, &a))
			: !strcmp(e->hostname, spec))
			return e;
	}
	if (!by_addr)
		return NULL;
	return ipaddr_v4(&a, &v4) ? snapshot_entry_by_addr(s, v4, port, ns)
				  : snapshot_entry_by_addr6(s, &a, port, ns);
}

/*
 * A ServiceEntry's host @e at @port: its endpoints that are the mesh's workloads are judged as
 * any; to the rest, outside the mesh, the source's ztunnel sends the traffic on as it is (TCP,
 * and a UDP port of the entry's, docs/udp.md), with no policy of the mesh's to ask. 0, or
 * -ENOENT when the entry lists no such port.
 */
static int check_entry(const struct ctl_opts *o, struct deciders *dz,
		       const struct snap_workload *sw, const struct ipaddr *src_ip,
		       const struct snap_service *e, uint16_t port, bool udp, cJSON *out)
{
	const struct snapshot *s = dz->first;
	bool captured = sw && sw->enrolled;
	const char *how = !captured ? "not carried: the entry's address is the mesh's, and the "
				      "source is outside it"
			  : udp	    ? "by the source's ztunnel, plain UDP from the node's address"
				    : "by the source's ztunnel, plain TCP from the node's address";
	size_t outside = 0;
	uint16_t tport = 0;

	for (size_t i = 0; i < e->nports; i++)
		if (e->ports[i].port == port)
			tport = e->ports[i].target_port;
	if (!tport) {
		fprintf(stderr, "ambitctl: check: ServiceEntry %s (%s) lists no port %u\n",
			e->hostname, e->namespace, port);
		return -ENOENT;
	}
	if (!o->json)
		printf("ServiceEntry %s (%s, %s) port %u -> target port %u, %zu endpoint(s)%s\n",
		       e->hostname, e->namespace,
		       e->kind == SNAP_SVC_MESH_INTERNAL ? "MESH_INTERNAL" : "MESH_EXTERNAL", port,
		       tport, e->nendpoints + e->nendpoints6,
		       e->n_names ? " and the addresses its names resolve to" : "");
	for (size_t i = 0; i < e->nendpoints + e->nendpoints6; i++) {
		const struct snap_workload *ep =
		    i < e->nendpoints
			? snapshot_workload_by_ip(s, e->endpoints[i])
			: snapshot_workload_by_ip6(s, &e->endpoints6[i - e->nendpoints]);

		if (!ep || !ep->enrolled) {
			outside++;
			continue;
		}
		if (!o->json)
			printf("\n");
		check_one(o, dz, sw, src_ip, ep, tport, NULL, udp, out);
	}
	if (!outside && !e->n_names)
		return 0;
	if (o->json) {
		cJSON *j = cJSON_CreateObject();

		if (!j || !cJSON_AddItemToArray(out, j)) {
			cJSON_Delete(j);
			return -ENOMEM;
		}
		cJSON_AddStringToObject(j, "source", sw ? sw->uid : "");
		cJSON_AddStringToObject(j, "destination", e->hostname);
		cJSON_AddNumberToObject(j, "port", port);
		cJSON_AddStringToObject(j, "protocol", udp ? "UDP" : "TCP");
		cJSON_AddStringToObject(j, "decision", captured ? "ALLOW" : "NOT_CARRIED");
		cJSON_AddStringToObject(j, "why", how);
		return 0;
	}
	printf("\noutside the mesh: %zu endpoint(s)%s\n", outside,
	       e->n_names ? " and its names' addresses" : "");
	printf("carried:     %s\n", how);
	printf("decision:    %s\n", captured ? "ALLOW (no policy of the mesh applies outside it)"
					     : "none (nothing reaches the entry's address)");
	return 0;
}

/*
 * A Service whose endpoints are an ingress gateway's pods: the gateway judges the request (its
 * policies, then the route it takes), then the destination's ztunnels the connection from the
 * gateway's identity. 1 when @svc is no gateway's, 0 when told, -errno.
 */
static int check_at_gateway(const struct ctl_opts *o, struct deciders *dz,
			    const struct snap_service *svc, uint32_t src_ip, uint16_t port,
			    uint16_t tport, const struct check_l7 *q, cJSON *out)
{
	const struct snapshot *s = dz->first;
	const struct snap_workload *gw = NULL;
	const struct snap_service *to;
	const struct ctl_node *n;
	char what[600], dst[300];
	uint16_t dport, dtport = 0;
	cJSON *l7;
	int ret;

	for (size_t i = 0; i < svc->nendpoints && !gw; i++)
		gw = snapshot_workload_by_ip(s, svc->endpoints[i]);
	n = gw && gw->node ? cluster_node(dz->c, gw->node) : NULL;
	if (!n)
		return 1;
	snprintf(what, sizeof(what), "gateway %s/%s", gw->namespace, gw->workload_name);
	l7 = agent_try(n, what);
	if (!l7)
		return 1;
	ret = check_gateway(what + 8, l7, svc->hostname, src_ip, port, tport, q, out, dst,
			    sizeof(dst), &dport);
	if (ret || !dst[0])
		return ret;
	to = find_service(s, dst);
	for (size_t i = 0; to && i < to->nports; i++)
		if (to->ports[i].port == dport || (!dport && i == 0))
			dtport = to->ports[i].target_port;
	if (!to || !dtport) {
		if (!o->json)
			printf("\n%s:%u is no Service of the mesh's: nothing more to check\n", dst,
			       dport);
		return 0;
	}
	if (!o->json)
		printf("\nL4 at the destination, from the gateway (%s):\n", gw->identity);
	for (size_t i = 0; i < to->nendpoints; i++) {
		const struct snap_workload *ep = snapshot_workload_by_ip(s, to->endpoints[i]);

		if (!ep)
			continue;
		if (!o->json)
			printf("\n");
		/* The gateway speaks HBONE itself, with its identity (its pod is not captured). */
		struct ipaddr gip;

		ipaddr_from_v4(&gip, gw->ip);
		check_one(o, dz, gw, &gip, ep, dtport,
			  &(struct snap_waypoint){.name = what + 8, .identity = gw->identity},
			  false, out);
	}
	return 0;
}

int cmd_check(const struct ctl_opts *o, const char *src, const char *dst, const struct check_l7 *q)
{
	const struct snap_workload *sw, *dw;
	const struct snap_service *svc = NULL, *entry;
	char dspec[256], *colon, *end;
	struct ctl_cluster c;
	struct snapshot *s;
	struct deciders dz = {.o = o, .c = &c};
	cJSON *out = NULL;
	struct ipaddr a;
	bool by_name = false;
	uint32_t src4;
	uint16_t tport;
	long port;
	int ret;

	snprintf(dspec, sizeof(dspec), "%s", dst);
	colon = strrchr(dspec, ':');
	/* An IPv6 destination is [ADDR]:PORT, as in a URL. */
	if (dspec[0] == '[' && colon && colon > dspec && colon[-1] == ']') {
		memmove(dspec, dspec + 1, strlen(dspec));
		colon--;
		colon[-1] = '\0';
	} else if (colon && strchr(dspec, ':') != colon) {
		colon = NULL;
	}
	if (!colon) {
		fprintf(stderr, "ambitctl: check: DST must be ns/pod:PORT, a Service:PORT, IP:PORT "
				"or [IPv6]:PORT\n");
		return -EINVAL;
	}
	*colon = '\0';
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (!colon[1] || *end || errno || port < 1 || port > 65535) {
		fprintf(stderr, "ambitctl: check: port \"%s\": want 1..65535\n", colon + 1);
		return -EINVAL;
	}
	ret = cluster_open(&c, o);
	if (ret)
		return ret;
	s = cluster_snapshot(o, &c);
	if (!s)
		return -EIO;
	dz.first = s;
	/* (none: each destination's policies then come from the first snapshot) */
	dz.per_node = c.nnodes > 0 ? calloc((size_t)c.nnodes, sizeof(*dz.per_node)) : NULL;
	ret = -ENOENT;
	sw = find_workload(s, src);
	if (!sw && ipaddr_parse_addr(src, &a)) {
		fprintf(stderr, "ambitctl: check: no (unique) workload %s: use ns/pod or an IP\n",
			src);
		goto out;
	}
	/*
	 * The source's address: the one given, else the workload's of the destination's family
	 * (a Service or pod named by its IPv6 address is reached over IPv6).
	 */
	if (sw && ipaddr_parse_addr(src, &a)) {
		by_name = true;
		if (strchr(dspec, ':') && sw->ip6.family == AF_INET6)
			a = sw->ip6;
		else
			ipaddr_from_v4(&a, sw->ip);
	}
	/* A bare Service name means the one in the source's namespace, as the pod's DNS would. */
	if (sw && !strchr(dspec, '/') && !strchr(dspec, '.')) {
		char scoped[512];

		snprintf(scoped, sizeof(scoped), "%s/%s", sw->namespace, dspec);
		svc = find_service(s, scoped);
	}
	dw = svc ? NULL : find_workload(s, dspec);
	if (!dw && !svc)
		svc = find_service(s, dspec);
	if (!dw && !svc &&
	    (entry = find_entry(s, dspec, (uint16_t)port, sw ? sw->namespace : NULL))) {
		if (o->json && !(out = cJSON_CreateArray())) {
			ret = -ENOMEM;
			goto out;
		}
		if ((ret = check_entry(o, &dz, sw, &a, entry, (uint16_t)port, q->udp, out)))
			goto out;
		goto print;
	}
	if (!dw && !svc) {
		fprintf(
		    stderr,
		    "ambitctl: check: no (unique) workload, Service or ServiceEntry host %s: use "
		    "ns/pod, a pod IP, ns/service, a Service VIP or a ServiceEntry's host\n",
		    dspec);
		goto out;
	}
	/* A SingleStack IPv6 Service is reached over IPv6 alone: from a named source's IPv6. */
	if (by_name && svc && !svc->vip && svc->vip6.family == AF_INET6 &&
	    sw->ip6.family == AF_INET6)
		a = sw->ip6;
	/* The gateway's and the waypoint's L7 checks take an IPv4 client; an IPv6 one is none. */
	if (!ipaddr_v4(&a, &src4))
		src4 = 0;
	if (o->json && !(out = cJSON_CreateArray())) {
		ret = -ENOMEM;
		goto out;
	}
	if (dw) {
		check_one(o, &dz, sw, &a, dw, (uint16_t)port, NULL, q->udp, out);
	} else {
		/* Policy ports are workload ports: translate the Service port, then each endpoint.
		 */
		tport = 0;
		for (size_t i = 0; i < svc->nports; i++)
			if (svc->ports[i].port == port)
				tport = svc->ports[i].target_port;
		if (!tport) {
			fprintf(stderr, "ambitctl: check: Service %s/%s has no port %ld\n",
				svc->namespace, svc->name, port);
			goto out;
		}
		/* Over IPv6 the ztunnel takes the IPv6 endpoints (endpoints6) when there are. */
		bool by6 = a.family == AF_INET6 && svc->nendpoints6;
		size_t neps = by6 ? svc->nendpoints6 : svc->nendpoints;

		if (!o->json)
			printf("Service %s/%s port %ld -> target port %u, %zu endpoint(s)\n",
			       svc->namespace, svc->name, port, tport, neps);
		/*
		 * A Service a waypoint serves: the waypoint judges the request (L7), then each
		 * endpoint's ztunnel the connection from the waypoint (its identity, not SRC's).
		 */
		/* UDP: a gateway is no UDP proxy: the flow goes to the endpoint the kernel picks.
		 */
		if (!q->udp && !svc->waypoint &&
		    (ret = check_at_gateway(o, &dz, svc, src4, (uint16_t)port, tport, q, out)) <=
			0) {
			if (ret)
				goto out;
			goto print;
		}
		ret = -ENOENT;
		if (svc->waypoint) {
			const char *id =
			    sw && sw->enrolled && sw->identity[0] ? sw->identity : NULL;

			if (check_l7(&c, s, svc->waypoint, svc->hostname, (uint16_t)port, id, src4,
				     q, out))
				goto out;
			if (!o->json)
				printf("\nL4 at the destination, from the waypoint (%s):\n",
				       svc->waypoint->identity);
		}
		for (size_t i = 0; i < neps; i++) {
			const struct snap_workload *ep =
			    by6 ? snapshot_workload_by_ip6(s, &svc->endpoints6[i])
				: snapshot_workload_by_ip(s, svc->endpoints[i]);

			if (!ep)
				continue;
			if (!o->json)
				printf("\n");
			check_one(o, &dz, sw, &a, ep, tport, svc->waypoint, q->udp, out);
		}
		check_remote(o, s, svc, (uint16_t)port, neps > 0, sw, q->udp, out);
	}
print:
	if (out) {
		char *text = cJSON_Print(dw ? cJSON_GetArrayItem(out, 0) : out);

		if (text)
			printf("%s\n", text);
		free(text);
	}
	ret = 0;
out:
	cJSON_Delete(out);
	for (int i = 0; dz.per_node && i < c.nnodes; i++)
		snapshot_free(dz.per_node[i]);
	free(dz.per_node);
	snapshot_free(s);
	return ret;
}
