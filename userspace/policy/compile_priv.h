/* SPDX-License-Identifier: Apache-2.0 */
/* Private to the L4 policy compiler and evaluator (the files of policy/). */
#ifndef AMBIT_POLICY_COMPILE_PRIV_H
#define AMBIT_POLICY_COMPILE_PRIV_H

#include "ambit/policy.h"
#include "lib/label_index.h"
#include "lib/serial_map.h"
#include "wire/policy_model.h"

/* The compiler's state (policy.c and the policy_*.c files of the compile). */
struct policy_comp {
	const struct config *cfg;
	const struct policy_workload_input *wls;
	size_t n_wls;
	const uint64_t *serials; /* per input, or NULL */
	size_t *by_ns;		 /* indexes into wls sorted by namespace, then uid; NULL: not yet */
	struct label_index by_label; /* positions in by_ns, by label */
	size_t n_scans; /* selections made without by_ns (see policy_select_workloads) */
	const char *root;
	struct config_diags *diags;
	struct policy_set *ps;
	/* policy_compile_from's: rules lent to ps until it is complete (see lend_rules). */
	struct policy_set *prev;
	bool *lent;		     /* per policy of prev */
	struct serial_map *prev_aps; /* prev's policies by serial, or NULL */
	/* For the memo of ps (policy_memo_take): where each workload and policy came from. */
	size_t *wl_src;	 /* per workload: its input */
	size_t *ap_src;	 /* per policy: its object in cfg */
	bool *ap_quiet;	 /* per policy: compiled without a warning (known only with diags) */
	size_t *ns_refs; /* per namespace: the inputs and objects naming it */
	size_t *ap_ns;	 /* per policy: its namespace */
	bool exact;	 /* no workload without a serial, no uid and no policy key twice */
	bool pa_quiet;	 /* the PeerAuthentications gave no warning (known only with diags) */
};

/*
 * What policy_compile_from takes from the compile that made a set: which input each workload
 * and policy came from (by serial), so that the next compile sees what changed without
 * comparing strings, and how many inputs name each namespace, so that it sees one go.
 */
struct policy_memo {
	bool exact;
	bool pa_quiet;
	uint64_t *wl_serial; /* per workload of the set: its input's serial */
	uint64_t *ap_serial; /* per policy: its object's serial */
	bool *ap_quiet;	     /* per policy: compiled without a warning */
	size_t *ns_refs;     /* per namespace */
	size_t *ap_ns;	     /* per policy: its namespace (position in the set's) */
	size_t n_pa, n_ns;
	uint64_t *pa_serial; /* the config's PeerAuthentications, in its order */
	uint64_t *ns_serial; /* its Namespaces, in its order */
};

/* Appends a warning about object @m (line 0: the object's) to c->diags, if any. */
void policy_warn(struct policy_comp *c, const struct config_meta *m, const char *kind, int line,
		 const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* Uids of the workloads @sel selects in @ns (NULL: every namespace), sorted. 0 or -ENOMEM. */
int policy_select_workloads(struct policy_comp *c, const char *ns, const struct config_labels *sel,
			    char ***out, size_t *n);
/*
 * Merges the sorted uids @add (@n_add, malloc'd, taken) into the sorted *@into (*@n), each
 * uid once. 0 or -ENOMEM (*@into kept).
 */
int policy_uids_merge(char ***into, size_t *n, char **add, size_t n_add);
/*
 * c->by_ns (the inputs by namespace, then uid, then position) and the label index over it.
 * 0 or -ENOMEM; without memory for the index, selections scan.
 */
int policy_comp_index(struct policy_comp *c);
/* True when a policy or PA of namespace @ns (@any: the root's) selects workload @w. */
bool policy_selects(const struct config_labels *sel, const char *ns, bool any,
		    const struct policy_workload_input *w);
/*
 * Compiles @ap into @out (zeroed first; owned strings), its selection too when @select. Appends
 * its warnings to c->diags. 0 or -ENOMEM (then @out holds what it made: free it).
 */
int policy_compile_authz(struct policy_comp *c, const struct config_authorization_policy *ap,
			 struct policy_authz *out, bool select);
/* The set is complete: the lent rules are its own now. */
void policy_give_rules(struct policy_comp *c);
/* The set failed: the lent rules stay @prev's (never freed with the new set). */
void policy_take_back_rules(struct policy_comp *c, struct policy_set *ps);
/*
 * c->ps's workloads: the inputs, in c->by_ns's order, sorted by uid (of one namespace and uid,
 * the first); c->wl_src says whence, c->exact turns false on a missing serial or a uid twice.
 * 0 or -ENOMEM (c->ps holds what it made).
 */
int policy_build_workloads(struct policy_comp *c);
/*
 * c->ps's namespaces, sorted: every one an input, policy, PeerAuthentication or Namespace
 * names; c->ns_refs and c->ap_ns for the memo. 0 or -ENOMEM (c->ps holds what it made).
 */
int policy_build_namespaces(struct policy_comp *c);
/* @ps's lists of policies: global, per namespace, per workload. 0 or -ENOMEM. */
int policy_build_index(struct policy_set *ps);
/*
 * policy_compile_from's short way (memo.c): c->ps built from @prev and what changed
 * since, when the memo of @prev allows it. 1: done (what @prev lent is c->ps's now); 0: not
 * possible, compile in full (nothing done); -ENOMEM (@prev as it was, c->ps to be freed).
 */
int policy_reuse(struct policy_comp *c, struct policy_set *prev);
/* Positions by serial: open addressing over a power of two, at most half full. */

/* c->ps's memo from what the full compile recorded in @c (taking its arrays). 0 or -ENOMEM. */
int policy_memo_take(struct policy_comp *c);
void policy_memo_free(struct policy_memo *m);
/*
 * An open-addressing table for @n keys, at most half full: *@cap slots (a power of two) and
 * their hashes, zeroed (slot 0: free). 0 or -ENOMEM.
 */
int policy_hash_table(size_t n, size_t *cap, size_t **slot, uint64_t **hash);
/* The serials of @n objects whose metas are @stride bytes apart, into @out (n entries). */
void policy_serials(const void *objs, size_t n, size_t stride, uint64_t *out);

/*
 * policy_reuse's state (memo.c, reuse_*.c): what changed, and what is lent. The
 * arrays the steps allocate are its own, freed with it (reuse_free).
 */
struct reuse {
	struct policy_comp *c;
	struct policy_set *prev, *ps;
	const struct policy_memo *memo;
	struct serial_map wl_map, ap_map;
	/* Workloads: the inputs added, by uid; the previous ones removed, in the set's order. */
	size_t *added, n_added, *added_at; /* added_at: where each goes among the previous */
	size_t *removed, n_removed;
	size_t *prev_in; /* per previous workload: the input that is it now, or SIZE_MAX */
	size_t *w_from;	 /* per workload: the previous one it is, or SIZE_MAX (added) */
	size_t *w_in;	 /* per workload: its input */
	/* Policies: the objects new (or of a new load), in the config's order, and by key. */
	size_t *fresh, n_fresh, *fresh_at, n_dropped;
	char **fresh_key;
	size_t *fresh_order;
	size_t *prev_ap; /* per previous policy: the object that is it now, or SIZE_MAX */
	size_t *p_from;	 /* per policy: the previous one it is, or SIZE_MAX (fresh) */
	size_t *p_cfg;	 /* per policy: its object */
	size_t *at_of;	 /* per object: its policy */
	size_t *pmap;	 /* per previous policy: the policy it is, or SIZE_MAX */
	bool *dirty;	 /* per previous policy: selects again */
	bool *sel_own;	 /* per policy: its selection is new (its lists are made, not mapped) */
	bool *quiet;	 /* per policy: compiled without a warning */
	size_t *ns_refs;
	size_t *added_ns; /* per workload added: its namespace */
	size_t *fresh_ns; /* per fresh object: its namespace */
	size_t *ap_ns;	  /* per policy: its namespace */
	size_t root_ns;	  /* the root namespace's position, or SIZE_MAX */
	/* What the set borrows from @prev until it is complete. */
	bool *body_lent, *sel_lent;	  /* per policy */
	bool *prev_body, *prev_sel;	  /* per previous policy: the same, from its side */
	size_t *w_new;			  /* per previous workload: the one it is, or SIZE_MAX */
	bool *w_pol_lent, *w_mtls_lent;	  /* per workload */
	bool *n_pol_lent, n_mtls_lent;	  /* per namespace; all of their mtls */
	bool g_lent, pa_lent, names_lent; /* global list; PeerAuthentications and mesh; names */
	uint32_t *scratch;
};

/* The inputs against the previous workloads: false when the short way cannot take them. */
bool policy_reuse_classify_workloads(struct reuse *r);
/* The config's policies against the previous ones: false when the short way cannot take them. */
bool policy_reuse_classify_policies(struct reuse *r);
/* The namespaces stay those of @prev (each still named, none new): else false. */
bool policy_reuse_same_namespaces(struct reuse *r);
/* The workloads in uid order: the kept ones borrowed, the added ones made. 0 or -ENOMEM. */
int policy_reuse_merge_workloads(struct reuse *r);
/* The policies' order: the kept ones in theirs, each fresh one where its key goes. 0/-ENOMEM. */
int policy_reuse_order_policies(struct reuse *r);
/* Every policy, in the config's order (the order of its warnings). 0 or -ENOMEM. */
int policy_reuse_fill_policies(struct reuse *r);
/* The namespaces (the previous ones) and every list of policies. 0 or -ENOMEM. */
int policy_reuse_build_lists(struct reuse *r);
/*
 * The PeerAuthentications: those of @prev when nothing they depend on changed (the objects,
 * the namespaces, the selections of workload ones, no warning to give again), else resolved
 * again. 0 or -ENOMEM.
 */
int policy_reuse_peer_auths(struct reuse *r);

/* @src's mode and source into @dst (overwritten; no ports). 0 or -ENOMEM. */
int policy_mtls_copy(struct policy_mtls *dst, const struct policy_mtls *src);
/* Resolves the PeerAuthentications into c->ps (namespaces and workloads built). 0 or -ENOMEM. */
int policy_compile_peer_auths(struct policy_comp *c);

/*
 * Sorts @n strings' indexes by the strings (strcmp's order; equal ones by index), comparing their
 * first 8 bytes as a number before calling strcmp. @idx gets the order. 0 or -ENOMEM.
 */
int policy_sort_strs(const char *const *s, size_t n, size_t *idx);

/* bsearch comparators over the sorted arrays of a set. */
int policy_cmp_authz(const void *a, const void *b);
int policy_cmp_workload(const void *a, const void *b);
int policy_cmp_namespace(const void *a, const void *b);
int policy_cmp_port(const void *a, const void *b);

#endif
