/* SPDX-License-Identifier: Apache-2.0 */
/*
 * L4 security policy: AuthorizationPolicy + PeerAuthentication compiled into an immutable,
 * indexed policy set, evaluated per connection by the ztunnel (and by `ambitctl check`).
 *
 * The model mirrors Istio ztunnel (istio/ztunnel src/rbac.rs, and what istiod's
 * pilot/pkg/serviceregistry/ambient/authorization.go sends it; API_SEMANTICS.md §3, §4, §9):
 *  - a policy's scope is GLOBAL (root namespace, no selector), NAMESPACE (no selector) or
 *    WORKLOAD (selector; selector policies of the root namespace select in every namespace).
 *    Selectors are resolved at compile time against the workloads given, so the set is indexed by
 *    workload: a decision walks the global list, its namespace's list and its workload's list,
 *    never every policy.
 *  - only L4 attributes are kept. An ALLOW rule using any L7-only field (or remoteIpBlocks, or a
 *    `when` key ztunnel cannot evaluate) is dropped whole (never matches: stricter than written).
 *    A DENY rule keeps its L4 parts; a match left with no L4 field matches nothing.
 *  - AUDIT policies are evaluated and reported, never change the decision; CUSTOM and targetRefs
 *    policies are not enforced by the ztunnel (kept in the set, scope NONE, for display).
 *  - decision: STRICT mTLS without a peer principal ⇒ deny; any DENY matches ⇒ deny; no ALLOW
 *    applies ⇒ allow; any ALLOW matches ⇒ allow; else deny. ALLOW with no rules ⇒ deny all.
 *  - `istio.io/dry-run: "true"` policies are evaluated as a shadow decision, not enforced.
 * IPv4 addresses in network byte order, ports in host order.
 */
#ifndef AMBIT_POLICY_H
#define AMBIT_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ambit/config.h"
#include "ambit/ipaddr.h"

struct cJSON;

#define POLICY_ROOT_NAMESPACE_DEFAULT "istio-system"

/* Istio string match: "abc" exact, "abc*" prefix, "*abc" suffix, "*" any non-empty value. */
enum policy_str_kind {
	POLICY_STR_EXACT = 0,
	POLICY_STR_PREFIX,
	POLICY_STR_SUFFIX,
	POLICY_STR_PRESENT,
};

struct policy_str {
	enum policy_str_kind kind;
	char *text; /* as written, with its '*' (the JSON form) */
	char *s;    /* the part to compare (without '*') */
	size_t len;
};

struct policy_strs {
	size_t n;
	struct policy_str *items;
};

/* Prefixes of either family; one that could not be read is family 0 and matches nothing. */
struct policy_cidrs {
	size_t n;
	struct ipaddr *items;
};

struct policy_ports {
	size_t n;
	uint16_t *items;
};

/*
 * One match (ztunnel RbacMatch): every non-empty field must hold (a list field holds when any
 * value matches; a not* field when none does). A match with every field empty matches nothing:
 * it only arises from dropping L7 fields (validation rejects empty sources and operations).
 * Principals are compared without "spiffe://": "<td>/ns/<ns>/sa/<sa>". serviceAccounts
 * ("ns/sa" or "sa") compile to principal suffixes "/ns/<ns>/sa/<sa>".
 */
struct policy_match {
	struct policy_strs principals, not_principals;
	struct policy_strs namespaces, not_namespaces;
	struct policy_cidrs src_ips, not_src_ips;
	struct policy_cidrs dst_ips, not_dst_ips;
	struct policy_ports ports, not_ports;
};

/* A clause holds when any of its matches does; a rule when all its clauses hold. */
struct policy_clause {
	size_t n;
	struct policy_match *items;
};

struct policy_rule {
	int line;		       /* YAML line of the rule (0: unknown) */
	bool dropped;		       /* ALLOW rule with L7-only fields: never matches */
	char *note;		       /* why it was dropped or trimmed, or NULL */
	size_t n_clauses;	       /* 0: matches everything (`rules: [{}]`) */
	struct policy_clause *clauses; /* from[], to[], then one per `when` condition */
};

enum policy_action {
	POLICY_ACTION_ALLOW = 0,
	POLICY_ACTION_DENY,
	POLICY_ACTION_AUDIT,
	POLICY_ACTION_CUSTOM, /* never enforced by the ztunnel */
};

enum policy_scope {
	POLICY_SCOPE_GLOBAL = 0, /* root namespace, no selector */
	POLICY_SCOPE_NAMESPACE,	 /* no selector */
	POLICY_SCOPE_WORKLOAD,	 /* selector */
	POLICY_SCOPE_NONE,	 /* targetRefs or CUSTOM: for waypoints, not the ztunnel */
};

struct policy_authz {
	char *namespace;
	char *name;
	char *key; /* "ns/name": names the policy in logs, metrics, `ambitctl` */
	enum policy_scope scope;
	enum policy_action action;
	bool dry_run;
	char *note;	/* why the ztunnel ignores it (scope NONE), or NULL */
	size_t n_rules; /* 0 on ALLOW: allow nothing (deny everything in scope) */
	struct policy_rule *rules;
	size_t n_workloads; /* WORKLOAD scope: uids it selects, sorted */
	char **workloads;
	/*
	 * The object's config_meta.serial when its rules compiled without a warning, so a
	 * policy_compile_from of the same object takes them over; 0: never.
	 */
	uint64_t serial;
};

/* The effective mTLS mode of one workload (API_SEMANTICS §4); never UNSET after compile. */
struct policy_port_mtls {
	uint16_t port; /* workload (container) port */
	enum config_mtls_mode mode;
};

struct policy_mtls {
	enum config_mtls_mode mode; /* PERMISSIVE when no PeerAuthentication sets one */
	char *source;		    /* "PeerAuthentication ns/name" that set @mode, or NULL */
	size_t n_ports;
	struct policy_port_mtls *ports; /* portLevelMtls overrides (resolved), sorted by port */
	char *port_source;		/* the workload PeerAuthentication giving them, or NULL */
};

/* A PeerAuthentication as compiled, for display (`ambitctl policies`). */
struct policy_peer_auth {
	char *namespace;
	char *name;
	enum policy_scope scope; /* NONE: a selector PA in the root namespace (ignored) */
	enum config_mtls_mode mode;
	bool in_force;	    /* false: an older PA of the same level and target wins */
	size_t n_workloads; /* WORKLOAD scope: uids it selects, sorted */
	char **workloads;
};

struct policy_workload {
	char *uid; /* "ns/name" */
	char *namespace;
	struct policy_mtls mtls;
	size_t n_policies;
	uint32_t *policies; /* indexes into policy_set.policies of WORKLOAD-scope policies */
};

struct policy_namespace {
	char *name;
	struct policy_mtls mtls; /* namespace level, falling back to mesh (no port overrides) */
	size_t n_policies;
	uint32_t *policies; /* NAMESPACE-scope policies of this namespace */
};

/* Immutable after compile/decode: share it read-only between threads. */
struct policy_set {
	char *root_namespace;
	size_t n_policies;
	struct policy_authz *policies; /* sorted by key */
	size_t n_peer_auths;
	struct policy_peer_auth *peer_auths;
	size_t n_global;
	uint32_t *global; /* GLOBAL-scope policies */
	size_t n_namespaces;
	struct policy_namespace *namespaces; /* sorted by name */
	size_t n_workloads;
	struct policy_workload *workloads; /* sorted by uid */
	struct policy_mtls mesh;
	/*
	 * What policy_compile_from needs of the compile that made the set (private; NULL: none),
	 * and its destructor, the compiler's: the set's own (wire/policy_model.c) calls it.
	 */
	struct policy_memo *memo;
	void (*memo_free)(struct policy_memo *memo);
};

/* A workload to resolve selectors against (borrowed for the duration of policy_compile). */
struct policy_workload_input {
	const char *uid; /* "ns/name" */
	const char *namespace;
	const struct config_labels *labels;
};

/*
 * Compiles the AuthorizationPolicies and PeerAuthentications of @cfg for the workloads @wls.
 * @root_ns NULL means istio-system. Appends warnings (L7 fields dropped, CUSTOM/targetRefs not
 * enforced by ztunnel, conflicting PeerAuthentications, ...) to @diags when non-NULL; objects the
 * loader accepted never make compile fail. Returns a new set (free with policy_set_free), or NULL
 * with errno set (ENOMEM). Borrows everything.
 */
struct policy_set *policy_compile(const struct config *cfg, const struct policy_workload_input *wls,
				  size_t n_wls, const char *root_ns, struct config_diags *diags);
/*
 * policy_compile, taking over what @prev (a set policy_compile or policy_compile_from made)
 * computed from the same inputs: the compiled rules of policies whose object is the same load
 * (config_meta.serial, config_stamp_ids) and compiled without a warning. @serials (NULL: none)
 * gives per workload the serial of the object its uid, namespace and labels come from (the
 * same serial, the same three; 0: unknown). When every workload has one and the change since
 * @prev is small (a few pods and AuthorizationPolicies; the same
 * root namespace, Namespaces and PeerAuthentications), it takes over whole policies, workloads
 * and namespaces, reselecting only for the policies a changed workload could enter or leave:
 * the work is that of the change, not of the cluster. The set is the one policy_compile gives,
 * and so are the warnings. On success @prev is left hollow (free it, never use it again); on
 * failure @prev is as it was. @prev NULL: policy_compile.
 */
struct policy_set *policy_compile_from(const struct config *cfg,
				       const struct policy_workload_input *wls, size_t n_wls,
				       const uint64_t *serials, const char *root_ns,
				       struct config_diags *diags, struct policy_set *prev);
void policy_set_free(struct policy_set *ps);

/* JSON form carried in the snapshot ("policies"). Returns a new cJSON object, or NULL+errno. */
struct cJSON *policy_set_to_json(const struct policy_set *ps);
struct jbuf;
struct json_memo;
/*
 * policy_set_to_json's text, appended to @b, each policy's, namespace's and workload's through
 * @m (json_memo.h; NULL: none). 0 or -ENOMEM.
 */
int policy_set_write(struct jbuf *b, const struct policy_set *ps, struct json_memo *m);
/*
 * Strict decode of policy_set_to_json output (wrong types, unknown enums, bad CIDRs, bad indexes
 * are errors naming the field, written to @err). Returns a new set or NULL with errno EINVAL.
 */
struct policy_set *policy_set_from_json(const struct cJSON *obj, char *err, size_t errlen);

/* The connection to decide, as the destination ztunnel sees it. Borrowed strings. */
struct policy_conn {
	const char *dst_uid;	   /* destination workload "ns/name" */
	const char *dst_namespace; /* its namespace */
	struct ipaddr dst_ip;
	uint16_t dst_port; /* workload port */
	struct ipaddr src_ip;
	const char *src_identity; /* "spiffe://td/ns/x/sa/y" from the peer cert, NULL: plaintext */
	/*
	 * The mesh's trust domain then its aliases (Istio's trustDomainAliases; NULL/0: none).
	 * A peer of one of them matches a principal of any of them, or of "cluster.local", with
	 * the same rest, as Istio's ReplaceTrustDomainAliases expands principals.
	 */
	const char *const *trust_domains;
	size_t n_trust_domains;
};

enum policy_verdict {
	POLICY_VERDICT_ALLOW = 0,
	POLICY_VERDICT_DENY,
};

enum policy_reason {
	POLICY_REASON_NO_ALLOW_POLICY = 0, /* allowed: no ALLOW policy applies */
	POLICY_REASON_ALLOW_MATCHED,	   /* allowed by @policy rule @rule */
	POLICY_REASON_DENY_MATCHED,	   /* denied by @policy rule @rule */
	POLICY_REASON_NO_ALLOW_MATCHED,	   /* denied: ALLOW policies apply, none matched */
	POLICY_REASON_MTLS_REQUIRED,	   /* denied: plaintext under STRICT (@mtls_source) */
};

#define POLICY_MAX_AUDIT 8

struct policy_decision {
	enum policy_verdict verdict;
	enum policy_reason reason;
	const struct policy_authz *policy; /* deciding policy (borrowed from the set) or NULL */
	int rule;			   /* its matching rule, or -1 */
	enum config_mtls_mode mtls; /* effective mode for the destination workload and port */
	const char *mtls_source;    /* "PeerAuthentication ns/name" or NULL (default) */
	size_t n_applicable;	    /* ALLOW/DENY policies that applied (enforced) */
	size_t n_audit;		    /* AUDIT policies that matched (first POLICY_MAX_AUDIT) */
	const struct policy_authz *audit[POLICY_MAX_AUDIT];
	/* Dry-run policies: the decision had they been enforced, when it differs. */
	bool shadow;
	enum policy_verdict shadow_verdict;
	const struct policy_authz *shadow_policy;
	/*
	 * NO_ALLOW_MATCHED: an applicable ALLOW policy with a rule the ztunnel dropped (L7 fields),
	 * and that rule, so `ambitctl check` names the policy that failed closed; else NULL, -1.
	 */
	const struct policy_authz *dropped_policy;
	int dropped_rule;
};

/*
 * Decides @conn against @ps (NULL: no policy, allow). Never fails; pure and thread-safe.
 * Borrows everything; @out points into @ps.
 */
void policy_evaluate(const struct policy_set *ps, const struct policy_conn *conn,
		     struct policy_decision *out);

/* "ns/name", "PeerAuthentication ns/name" or "" (no deciding object), into @buf. */
void policy_decision_name(const struct policy_decision *d, char *buf, size_t len);
/* One human sentence explaining @d (for `ambitctl check` and access logs), into @buf. */
void policy_decision_explain(const struct policy_decision *d, const struct policy_conn *conn,
			     char *buf, size_t len);

/* Effective mTLS mode of workload @uid (namespace @ns) on @port; @source gets the deciding PA. */
enum config_mtls_mode policy_mtls_mode(const struct policy_set *ps, const char *uid, const char *ns,
				       uint16_t port, const char **source);

/*
 * Source CIDRs that enforced DENY policies applying to @uid deny on every port without any other
 * condition (the kernel may drop them before the handshake). @out receives a malloc'd array
 * (caller frees out->items). 0 or -ENOMEM.
 */
int policy_deny_src_cidrs(const struct policy_set *ps, const char *uid, const char *ns,
			  struct policy_cidrs *out);
/*
 * The DENY policy that puts @block into policy_deny_src_cidrs of @uid: the first in evaluation
 * order when several name the same block (the kernel keeps one entry for them). Borrowed from
 * @ps, or NULL when none does.
 */
const struct policy_authz *policy_deny_src_owner(const struct policy_set *ps, const char *uid,
						 const char *ns, const struct ipaddr *block);

/* Look-ups: borrowed pointers or NULL. */
const struct policy_authz *policy_set_find(const struct policy_set *ps, const char *key);
const struct policy_workload *policy_set_workload(const struct policy_set *ps, const char *uid);
const struct policy_namespace *policy_set_namespace(const struct policy_set *ps, const char *ns);

/* Names for logs and JSON: "ALLOW", "GLOBAL"/"global", "STRICT", "allow", "deny". */
const char *policy_action_str(enum policy_action a);
const char *policy_scope_str(enum policy_scope s);
const char *policy_mtls_str(enum config_mtls_mode m);
const char *policy_verdict_str(enum policy_verdict v);
const char *policy_reason_str(enum policy_reason r);

/* True when @value matches Istio string pattern @p. */
bool policy_str_match(const struct policy_str *p, const char *value);

#endif
