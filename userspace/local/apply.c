// SPDX-License-Identifier: Apache-2.0
/*
 * `ambitctl apply|delete -f FILE|DIR... [-n NS] [--dry-run] [--wait=false] [--timeout 30s]`:
 * object by object, as kubectl does (an object is group/kind/namespace/name; applying one that
 * exists replaces it). The whole resulting state is validated before anything is written —
 * every object must load and `analyze` may find no new error — so a refused change writes
 * nothing. Then each change is one atomic file in the store (objstore.h), the store's
 * generation goes up, and apply waits until every node has that generation in force.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "ambit/fileutil.h"
#include "local.h"
#include "k8s/kconn.h"
#include "objstore.h"

#define APPLY_MAX_FILES 64
#define APPLY_WAIT_DEFAULT_S 30

/* One -f: a file or directory, or "-" (stdin) or a URL, read into @buf before anything else. */
struct apply_input {
	const char *name;
	char *buf; /* NULL: @name is a path */
	size_t len;
};

struct apply_args {
	const char *cluster; /* --name, or NULL: the one the command line resolved */
	struct apply_input files[APPLY_MAX_FILES];
	int nfiles;
	const char *ns; /* -n, or NULL: "default" and objects may name their own */
	bool remove, dry_run, wait;
	int timeout_s;
};

enum action { A_CREATE, A_CONFIGURE, A_UNCHANGED, A_DELETE, A_NOT_FOUND };

static const char *const action_words[] = {"created", "configured", "unchanged", "deleted",
					   "not found"};

static void print_diags(const struct config_diags *d, FILE *f)
{
	char line[2048];

	for (size_t i = 0; i < d->n; i++) {
		config_diag_format(&d->items[i], line, sizeof(line));
		fprintf(f, "%s\n", line);
	}
}

static size_t count_errors(const struct config_diags *d)
{
	size_t n = 0;

	for (size_t i = 0; i < d->n; i++)
		n += d->items[i].error;
	return n;
}

/* A finding's identity across two loads (files and lines differ: the object moved). */
static bool same_finding(const struct config_diag *a, const struct config_diag *b)
{
	return a->error == b->error &&
	       !strcmp(a->object ? a->object : "", b->object ? b->object : "") &&
	       !strcmp(a->field ? a->field : "", b->field ? b->field : "") &&
	       !strcmp(a->message ? a->message : "", b->message ? b->message : "");
}

static bool has_finding(const struct config_diags *d, const struct config_diag *f)
{
	for (size_t i = 0; i < d->n; i++)
		if (same_finding(&d->items[i], f))
			return true;
	return false;
}

static int parse_duration_s(const char *s, int *out)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (end == s || v < 0 || v > 86400)
		return -EINVAL;
	if (!strcmp(end, "m"))
		v *= 60;
	else if (*end && strcmp(end, "s"))
		return -EINVAL;
	*out = (int)v;
	return 0;
}

static void usage_apply(bool remove)
{
	fprintf(
	    stderr,
	    "usage: ambitctl %s -f FILE|DIR [-f ...] [-n NAMESPACE] [--dry-run]%s\n"
	    "  -n, --namespace NS  namespace of objects that name none (default \"default\"); an\n"
	    "                      object naming another one is refused\n"
	    "  --dry-run           validate and say what would change; write nothing\n"
	    "  --wait=false        do not wait for the nodes to have the change in force\n"
	    "  --timeout DURATION  how long to wait (default %ds; e.g. 10s, 2m)\n",
	    remove ? "delete" : "apply", remove ? "" : " [--wait=false] [--timeout 30s]",
	    APPLY_WAIT_DEFAULT_S);
}

static int parse_args(int argc, char **argv, struct apply_args *a)
{
	a->wait = true;
	a->timeout_s = APPLY_WAIT_DEFAULT_S;
	for (int i = 0; i < argc; i++) {
		const char *s = argv[i], *v = NULL;
		bool next = i + 1 < argc;

		if ((!strcmp(s, "-f") || !strcmp(s, "--filename")) && next)
			v = argv[++i];
		else if (!strncmp(s, "--filename=", 11))
			v = s + 11;
		if (v) {
			if (a->nfiles == APPLY_MAX_FILES)
				return -E2BIG;
			a->files[a->nfiles++].name = v;
		} else if ((!strcmp(s, "--name") || !strcmp(s, "--cluster")) && next) {
			a->cluster = argv[++i];
		} else if ((!strcmp(s, "-n") || !strcmp(s, "--namespace")) && next) {
			a->ns = argv[++i];
		} else if (!strncmp(s, "--namespace=", 12)) {
			a->ns = s + 12;
		} else if (!strcmp(s, "--dry-run") || !strcmp(s, "--dry-run=client")) {
			a->dry_run = true;
		} else if (!strcmp(s, "--wait") || !strcmp(s, "--wait=true")) {
			a->wait = true;
		} else if (!strcmp(s, "--wait=false")) {
			a->wait = false;
		} else if (!strcmp(s, "--timeout") && next) {
			if (parse_duration_s(argv[++i], &a->timeout_s))
				return -EINVAL;
		} else if (!strncmp(s, "--timeout=", 10)) {
			if (parse_duration_s(s + 10, &a->timeout_s))
				return -EINVAL;
		} else {
			return -EINVAL;
		}
	}
	return 0;
}

/* Loads every file of @objs not in @skip (by path) into @cfg: the state without those objects. */
static int load_files_except(struct config *cfg, const struct store_objs *objs,
			     const struct store_objs *skip, struct config_diags *diags)
{
	int first = 0;

	for (size_t i = 0; i < objs->n; i++) {
		const char *file = objs->items[i].file;
		bool seen = false, skipped = false;

		for (size_t j = 0; j < i && !seen; j++)
			seen = !strcmp(objs->items[j].file, file);
		for (size_t j = 0; skip && j < skip->n && !skipped; j++)
			skipped = skip->items[j].path && !strcmp(skip->items[j].path, file);
		if (seen || skipped)
			continue;
		int err = config_load_file(cfg, file, diags);

		if (err && !first)
			first = err;
	}
	return first;
}

/* The size cap of the loader, plus one byte to tell "too large" from "exactly the cap". */
#define APPLY_MAX_INPUT ((8u << 20) + 1)

static bool is_url(const char *s)
{
	return !strncmp(s, "http://", 7) || !strncmp(s, "https://", 8);
}

/* All of @fd up to @cap bytes into a malloc'd buffer (the loader judges what is too large). */
static char *read_fd_upto(int fd, size_t cap, size_t *len)
{
	char *buf = malloc(cap);
	int err;

	if (!buf)
		return NULL;
	err = fileutil_read_upto(fd, buf, cap, len);
	if (err) {
		free(buf);
		errno = -err;
		return NULL;
	}
	return buf;
}

/* Reads "-" (stdin, once) and URLs into memory, as kubectl does for `-f -` and `-f https://`. */
static int read_inputs(struct apply_args *a)
{
	bool stdin_used = false;

	for (int i = 0; i < a->nfiles; i++) {
		struct apply_input *in = &a->files[i];
		char err[CURL_ERROR_SIZE + 64];
		int ret;

		if (!strcmp(in->name, "-")) {
			if (stdin_used) {
				fprintf(stderr, "ambitctl: -f - given twice\n");
				return -EINVAL;
			}
			stdin_used = true;
			in->buf = read_fd_upto(STDIN_FILENO, APPLY_MAX_INPUT, &in->len);
			if (!in->buf) {
				ret = -errno;
				fprintf(stderr, "ambitctl: reading stdin: %s\n", strerror(-ret));
				return ret;
			}
			in->name = "<stdin>";
		} else if (is_url(in->name)) {
			ret = http_fetch(in->name, APPLY_MAX_INPUT, &in->buf, &in->len, err,
					 sizeof(err));
			if (ret) {
				fprintf(stderr, "ambitctl: %s: %s\n", in->name, err);
				return ret;
			}
		}
	}
	return 0;
}

static void inputs_free(struct apply_args *a)
{
	for (int i = 0; i < a->nfiles; i++) {
		free(a->files[i].buf);
		a->files[i].buf = NULL;
	}
}

static int load_input(struct config *cfg, const struct apply_input *in,
		      const struct config_load_opts *opts, struct config_diags *diags)
{
	return in->buf ? config_load_buffer_opts(cfg, in->name, in->buf, in->len, opts, diags)
		       : config_load_path_opts(cfg, in->name, opts, diags);
}

static int load_inputs(const struct apply_args *a, struct config *cfg, struct store_objs *objs,
		       struct config_diags *diags)
{
	struct config_load_opts opts = {
	    .default_namespace = a->ns,
	    .enforce_namespace = a->ns != NULL,
	    .on_object = store_objs_collect,
	    .arg = objs,
	};
	int first = 0;

	for (int i = 0; i < a->nfiles; i++) {
		int err = load_input(cfg, &a->files[i], &opts, diags);

		if (err && !first)
			first = err;
	}
	return first;
}

/*
 * What each input object does to the store. Objects another file defines (one ambitctl did not
 * write: a hand-placed manifest) cannot be replaced or deleted here: that would leave two
 * definitions, which the agents refuse to let change what is in force.
 */
static int plan_actions(const char *state, const struct apply_args *a, struct store_objs *in,
			const struct store_objs *cur, enum action *act)
{
	int bad = 0;

	for (size_t i = 0; i < in->n; i++) {
		struct store_obj *o = &in->items[i];
		const struct store_obj *old;
		char disp[400];

		store_obj_display(o, disp, sizeof(disp));
		if (store_obj_path(state, o)) {
			fprintf(stderr, "ambitctl: %s: %s:%d: a name that cannot be stored\n", disp,
				o->file, o->line);
			bad++;
			continue;
		}
		old = NULL;
		for (const struct store_obj *f = store_objs_find(cur, o, 0); f;
		     f = store_objs_find(cur, o, (size_t)(f - cur->items) + 1)) {
			if (!strcmp(f->file, o->path)) {
				old = f;
				continue;
			}
			fprintf(stderr,
				"ambitctl: %s%s%s is also defined in %s:%d, which ambitctl did not "
				"write; remove it there first\n",
				disp, o->namespace ? " in namespace " : "",
				o->namespace ? o->namespace : "", f->file, f->line);
			bad++;
		}
		if (bad)
			continue;
		if (a->remove)
			act[i] = old ? A_DELETE : A_NOT_FOUND;
		else
			act[i] = !old			      ? A_CREATE
				 : strcmp(old->yaml, o->yaml) ? A_CONFIGURE
							      : A_UNCHANGED;
	}
	return bad ? -EINVAL : 0;
}

/* The state's objects this change replaces or removes (their canonical files are skipped). */
static int changed_set(const struct store_objs *in, const enum action *act, struct store_objs *out)
{
	for (size_t i = 0; i < in->n; i++) {
		struct store_obj *o;

		/* An unchanged object too: the input stands for it in the resulting state. */
		if (act[i] == A_CREATE || act[i] == A_NOT_FOUND)
			continue;
		o = realloc(out->items, (out->n + 1) * sizeof(*o));
		if (!o)
			return -ENOMEM;
		out->items = o;
		memset(&o[out->n], 0, sizeof(*o));
		o[out->n].path = strdup(in->items[i].path);
		if (!o[out->n++].path)
			return -ENOMEM;
	}
	return 0;
}

static void diag_print_error(const struct config_diag *d, const char *prefix)
{
	char line[2048];

	config_diag_format(d, line, sizeof(line));
	fprintf(stderr, "%s%s\n", prefix, line);
}

/*
 * Validates the state this change leads to. @in_cfg holds the input objects; prints what the
 * user must see and returns -EINVAL when the change must not be written.
 */
static int validate(const struct apply_args *a, const struct config *in_cfg,
		    const struct store_objs *cur, const struct store_objs *changed)
{
	struct config before, rest, after;
	struct config_diags d_before = {0}, d_after = {0}, d_in = {0}, ignored = {0};
	struct config_analyze_opts an = {0};
	struct config_load_opts in_opts = {.default_namespace = a->ns};
	int ret = 0, bad = 0;

	config_init(&before);
	config_init(&rest);
	config_init(&after);
	/* The state as it is, and without what this change replaces or removes. */
	load_files_except(&before, cur, NULL, &ignored);
	load_files_except(&rest, cur, changed, &ignored);
	load_files_except(&after, cur, changed, &ignored);
	if (!a->remove) {
		for (int i = 0; i < a->nfiles && !ret; i++)
			ret = load_input(&after, &a->files[i], &in_opts, &d_after);
		if (ret || count_errors(&d_after)) {
			/* The input loaded alone: a conflict with the state (a duplicate). */
			print_diags(&d_after, stderr);
			ret = -EINVAL;
			goto out;
		}
		config_diags_free(&d_after);
		/* What analyze says of the applied objects, once each; errors refuse the change. */
		an.context = &rest;
		ret = config_analyze(in_cfg, &an, &d_in);
		if (ret)
			goto out;
		for (size_t i = 0; i < d_in.n; i++) {
			diag_print_error(&d_in.items[i], "");
			bad += d_in.items[i].error;
		}
	}
	/* Findings the change causes elsewhere: a reference it breaks, a conflict it makes. */
	an.context = NULL;
	ret = config_analyze(&before, &an, &d_before);
	if (!ret)
		ret = config_analyze(&after, &an, &d_after);
	if (ret)
		goto out;
	for (size_t i = 0; i < d_after.n; i++) {
		const struct config_diag *f = &d_after.items[i];

		if (!f->error || has_finding(&d_before, f) || has_finding(&d_in, f))
			continue;
		diag_print_error(f, a->remove ? "after this delete: " : "after this apply: ");
		/* A delete that leaves a dangling reference is reported, never refused. */
		bad += !a->remove;
	}
	ret = bad ? -EINVAL : 0;
out:
	if (ret == -EINVAL && bad)
		fprintf(stderr, "ambitctl: %d error(s): nothing was %s\n", bad,
			a->remove ? "deleted" : "applied");
	config_diags_free(&d_before);
	config_diags_free(&d_after);
	config_diags_free(&d_in);
	config_diags_free(&ignored);
	config_free(&before);
	config_free(&rest);
	config_free(&after);
	return ret;
}

static int write_changes(const char *state, const struct store_objs *in, const enum action *act,
			 bool dry_run, bool quiet, uint64_t *generation)
{
	bool any = false;
	int err;

	for (size_t i = 0; i < in->n; i++) {
		const struct store_obj *o = &in->items[i];
		char disp[400];

		store_obj_display(o, disp, sizeof(disp));
		if (act[i] == A_NOT_FOUND) {
			fprintf(stderr, "ambitctl: %s%s%s not found\n", disp,
				o->namespace ? " in namespace " : "",
				o->namespace ? o->namespace : "");
			continue;
		}
		err = 0;
		if (!dry_run && (act[i] == A_CREATE || act[i] == A_CONFIGURE))
			err = store_write(o);
		else if (!dry_run && act[i] == A_DELETE)
			err = store_remove(state, o);
		if (err) {
			fprintf(stderr, "ambitctl: %s: writing %s: %s\n", disp, o->path,
				strerror(-err));
			return err;
		}
		any |= act[i] != A_UNCHANGED;
		if (!quiet)
			printf("%s %s%s\n", disp, action_words[act[i]],
			       dry_run ? " (dry run)" : "");
	}
	/* Nothing changed: nothing to wait for. */
	*generation = 0;
	if (dry_run || !any)
		return 0;
	*generation = store_generation_bump(state);
	if (!*generation) {
		err = -errno;
		fprintf(stderr, "ambitctl: %s/generation: %s\n", state, strerror(-err));
		return err;
	}
	return 0;
}

int apply_store_path(const struct ctl_cluster *c, const char *path, bool quiet)
{
	struct apply_args a = {.files = {{.name = path}}, .nfiles = 1};
	struct store_objs in = {0}, cur = {0}, changed = {0};
	struct config in_cfg;
	struct config_diags diags = {0}, ignored = {0};
	char state[PATH_MAX];
	enum action *act = NULL;
	uint64_t gen;
	int lock, ret;

	cluster_path(c, state, sizeof(state), "state");
	lock = store_lock(state);
	if (lock < 0) {
		fprintf(stderr, "ambitctl: %s/.lock: %s\n", state, strerror(-lock));
		return lock;
	}
	config_init(&in_cfg);
	store_load(state, &cur, &ignored);
	ret = load_inputs(&a, &in_cfg, &in, &diags);
	print_diags(&diags, stderr);
	if (ret || count_errors(&diags)) {
		ret = -EINVAL;
		goto out;
	}
	act = calloc(in.n ? in.n : 1, sizeof(*act));
	ret = act ? plan_actions(state, &a, &in, &cur, act) : -ENOMEM;
	if (!ret)
		ret = changed_set(&in, act, &changed);
	if (!ret)
		ret = validate(&a, &in_cfg, &cur, &changed);
	/* `local up` prints its own summary. */
	if (!ret)
		ret = write_changes(state, &in, act, false, quiet, &gen);
out:
	free(act);
	store_objs_free(&in);
	store_objs_free(&cur);
	store_objs_free(&changed);
	config_diags_free(&diags);
	config_diags_free(&ignored);
	config_free(&in_cfg);
	store_unlock(lock);
	return ret;
}

/* --kube: whether the API server has namespace @ns (made there by kubectl, say). */
static bool kube_has_ns(const struct ctl_cluster *c, const char *ns)
{
	struct kconn k = {0};
	char path[512];
	long code = 0;
	int saved;

	if (!c->kube || str_fmt(path, sizeof(path), "/api/v1/namespaces/%s", ns) ||
	    cluster_kube_enter(c, &k, &saved))
		return false;
	code = kube_call(&k, "GET", path, NULL, NULL);
	cluster_kube_leave(&k, saved);
	return code == 200;
}

/* Whether namespace @ns is a Namespace of @objs, or holds one of its objects. */
static bool ns_in(const struct store_objs *objs, const char *ns)
{
	for (size_t i = 0; i < objs->n; i++) {
		const struct store_obj *x = &objs->items[i];

		if (x->namespace ? !strcmp(x->namespace, ns)
				 : !strcmp(x->kind, "Namespace") && !strcmp(x->name, ns))
			return true;
	}
	return false;
}

/*
 * As the API server: an object goes only into a namespace that exists (default, istio-system, a
 * Namespace, or one the cluster's own manifests already hold objects in) or that the same apply
 * makes. Each refused object is told in kubectl's words; -ENOENT refuses the whole apply.
 */
static int namespaces_exist(const struct ctl_cluster *c, const struct store_objs *in,
			    const struct store_objs *cur)
{
	int bad = 0;

	for (size_t i = 0; i < in->n; i++) {
		const char *ns = in->items[i].namespace;

		if (!ns || !strcmp(ns, "default") || !strcmp(ns, "istio-system") || ns_in(cur, ns))
			continue;
		bool made = false;

		for (size_t j = 0; j < in->n && !made; j++)
			made = !in->items[j].namespace && !strcmp(in->items[j].kind, "Namespace") &&
			       !strcmp(in->items[j].name, ns);
		if (made || kube_has_ns(c, ns))
			continue;
		fprintf(stderr,
			"Error from server (NotFound): error when creating \"%s\": namespaces "
			"\"%s\" not found\n",
			strcmp(in->items[i].file, "<stdin>") ? in->items[i].file : "STDIN", ns);
		bad++;
	}
	if (bad)
		fprintf(stderr,
			"ambitctl: nothing was applied (apply the Namespace first, or in the "
			"same apply)\n");
	return bad ? -ENOENT : 0;
}

static int apply_main(const struct ctl_opts *o, struct apply_args *args);

int cmd_apply(const struct ctl_opts *o, int argc, char **argv, bool remove)
{
	struct apply_args a = {.remove = remove};

	if (parse_args(argc, argv, &a) || !a.nfiles) {
		usage_apply(remove);
		return -EINVAL;
	}
	return apply_main(o, &a);
}

int apply_manifest(const struct ctl_opts *o, const char *label, const char *text, int argc,
		   char **argv, bool remove)
{
	struct apply_args a = {.remove = remove};

	if (parse_args(argc, argv, &a) || a.nfiles == APPLY_MAX_FILES)
		return -EINVAL;
	a.files[a.nfiles].name = label;
	a.files[a.nfiles].len = strlen(text);
	a.files[a.nfiles].buf = strdup(text);
	if (!a.files[a.nfiles++].buf)
		return -ENOMEM;
	return apply_main(o, &a);
}

/* Applies (or deletes) what @args names; frees its inputs. */
static int apply_main(const struct ctl_opts *o, struct apply_args *args)
{
	struct apply_args a = *args;
	struct store_objs in = {0}, cur = {0}, changed = {0};
	struct config in_cfg;
	struct config_diags diags = {0}, ignored = {0};
	struct ctl_opts opts = *o;
	struct ctl_cluster c;
	char state[PATH_MAX];
	enum action *act = NULL;
	uint64_t gen = 0;
	int lock = -1, rlock = -1, ret, missing = 0;

	if (a.cluster)
		opts.cluster = a.cluster;
	ret = cluster_open(&c, &opts);
	c.quiet = opts.quiet;
	if (!ret)
		ret = read_inputs(&a);
	if (ret) {
		inputs_free(&a);
		return ret;
	}
	cluster_path(&c, state, sizeof(state), "state");
	config_init(&in_cfg);
	/* Everything the input says is judged before the store is even locked. */
	ret = load_inputs(&a, &in_cfg, &in, &diags);
	print_diags(&diags, stderr);
	if (ret || count_errors(&diags)) {
		fprintf(stderr, "ambitctl: invalid manifests: nothing was %s\n",
			a.remove ? "deleted" : "applied");
		ret = -EINVAL;
		goto out;
	}
	if (!in.n) {
		fprintf(stderr, "ambitctl: no objects in %s\n", a.files[0].name);
		ret = -EINVAL;
		goto out;
	}
	/*
	 * --kube: what kubectl wrote into the API server comes into the store first, and nothing
	 * is imported over this change until the cluster has it (kimport.c).
	 */
	rlock = kube_reconcile_lock(&c);
	if (c.kube && rlock < 0) {
		ret = rlock;
		fprintf(stderr, "ambitctl: reconcile.lock: %s\n", strerror(-ret));
		goto out;
	}
	if (c.kube) {
		bool imported;

		kube_import(&c, &imported); /* an API server not answering is told by the mirror */
	}
	lock = store_lock(state);
	if (lock < 0) {
		ret = lock;
		fprintf(stderr, "ambitctl: %s/.lock: %s\n", state, strerror(-ret));
		goto out;
	}
	store_load(state, &cur, &ignored);
	if (!a.remove) {
		ret = namespaces_exist(&c, &in, &cur);
		if (ret)
			goto unlock;
	}
	act = calloc(in.n, sizeof(*act));
	ret = act ? plan_actions(state, &a, &in, &cur, act) : -ENOMEM;
	if (!ret)
		ret = changed_set(&in, act, &changed);
	if (!ret)
		ret = validate(&a, &in_cfg, &cur, &changed);
	if (!ret)
		ret = write_changes(state, &in, act, a.dry_run, opts.quiet, &gen);
unlock:
	store_unlock(lock);
	lock = -1;
	for (size_t i = 0; act && i < in.n; i++)
		missing += act[i] == A_NOT_FOUND;
	if (ret || a.dry_run)
		goto out;
	/* Pods, Deployments and Services of the local cluster follow the store. */
	ret = state_reconcile(&c);
	store_unlock(rlock);
	rlock = -1;
	if (ret)
		fprintf(stderr, "ambitctl: updating the running cluster: %s\n", strerror(-ret));
	if (ret && c.kube)
		fprintf(stderr, "ambitctl: the local store has the change, the API server may not: "
				"the agents read the API server; apply again once it answers\n");
	/* --kube: the agents read the API server, not the store: its version is what they report.
	 */
	if (!ret && a.wait && gen && c.kube)
		ret = kube_resource_version(&c, &gen);
	if (!ret && a.wait && gen)
		ret = wait_generation(&c, gen, a.timeout_s, opts.quiet);
	if (!ret && missing)
		ret = -ENOENT;
out:
	free(act);
	store_objs_free(&in);
	store_objs_free(&cur);
	store_objs_free(&changed);
	config_diags_free(&diags);
	config_diags_free(&ignored);
	config_free(&in_cfg);
	store_unlock(lock);
	store_unlock(rlock);
	inputs_free(&a);
	return ret;
}
