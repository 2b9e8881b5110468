/* SPDX-License-Identifier: Apache-2.0 */
/* Private to policy*.c: building blocks shared by the compiler and the JSON codec. */
#ifndef AMBIT_POLICY_PRIV_H
#define AMBIT_POLICY_PRIV_H

#include "ambit/policy.h"
#include "label_index.h"

/* The compiler's state (policy.c, policy_mtls.c). */
struct policy_comp {
	const struct config *cfg;
	const struct policy_workload_input *wls;
	size_t n_wls;
	size_t *by_ns;		     /* indexes into wls sorted by namespace, then uid */
	struct label_index by_label; /* positions in by_ns, by label */
	const char *root;
	struct config_diags *diags;
	struct policy_set *ps;
	/* policy_compile_from's: rules lent to ps until it is complete (see lend_rules). */
	struct policy_set *prev;
	bool *lent; /* per policy of prev */
};

/* Appends a warning about object @m (line 0: the object's) to c->diags, if any. */
void policy_warn(struct policy_comp *c, const struct config_meta *m, const char *kind, int line,
		 const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* Uids of the workloads @sel selects in @ns (NULL: every namespace), sorted. 0 or -ENOMEM. */
int policy_select_workloads(const struct policy_comp *c, const char *ns,
			    const struct config_labels *sel, char ***out, size_t *n);
/* Resolves the PeerAuthentications into c->ps (namespaces and workloads built). 0 or -ENOMEM. */
int policy_compile_peer_auths(struct policy_comp *c);
void policy_uids_free(char **u, size_t n);

/*
 * An address list entry that never matches (an IPv6 block: the mesh is IPv4 only). Its address
 * has bits outside its (empty) mask, which no parsed CIDR can have.
 */
#define POLICY_CIDR_NONE_ADDR 0xffffffffu

/* Parses an Istio pattern into @out (owned strings). 0, -EINVAL (empty) or -ENOMEM. */
int policy_str_init(struct policy_str *out, const char *text);
/* Parses "a.b.c.d[/len]" (IPv6 gives the never-matching entry). 0 or -EINVAL. */
int policy_cidr_parse(const char *text, struct policy_cidr *out);
/* Formats @c as "a.b.c.d/len" (or "none") into @buf of at least 24 bytes. */
void policy_cidr_format(const struct policy_cidr *c, char *buf, size_t len);

void policy_match_free(struct policy_match *m);
void policy_rule_free(struct policy_rule *r);
void policy_authz_free(struct policy_authz *p);
void policy_mtls_free(struct policy_mtls *m);
void policy_peer_auth_free(struct policy_peer_auth *pa);

/* bsearch comparators over the sorted arrays of a set. */
int policy_cmp_authz(const void *a, const void *b);
int policy_cmp_workload(const void *a, const void *b);
int policy_cmp_namespace(const void *a, const void *b);
int policy_cmp_port(const void *a, const void *b);

#endif
