// SPDX-License-Identifier: Apache-2.0
/*
 * `istioctl install -f FILE`, `manifest generate -f FILE`: an IstioOperator (install.istio.io/
 * v1alpha1) read as the --set paths it stands for, as istioctl overlays its files before its
 * --set values: spec.profile, spec.values.* and spec.meshConfig.* (scalars, and lists of them as
 * KEY[i]), spec.components.<name>.enabled and the ingress gateways by name, and the components'
 * k8s.env of istiod that Istio's ambient pages set, which ambit does always. What ambit has no
 * use for is said (hub, tag), what it cannot mean is refused (revision, a component's other
 * settings), naming the file and the field.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "istioctl.h"

struct iop {
	const char *file;
	yaml_document_t doc;
	char **sets;
	size_t n, cap;
	char *said;
	size_t said_len;
};

static yaml_node_t *node(struct iop *o, int i)
{
	return i ? yaml_document_get_node(&o->doc, i) : NULL;
}

static yaml_node_t *get(struct iop *o, yaml_node_t *m, const char *key)
{
	if (!m || m->type != YAML_MAPPING_NODE)
		return NULL;
	for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = node(o, p->key);

		if (k && k->type == YAML_SCALAR_NODE && !strcmp((char *)k->data.scalar.value, key))
			return node(o, p->value);
	}
	return NULL;
}

static const char *scalar(yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static int add(struct iop *o, const char *path, const char *value)
{
	char *kv;

	if (o->n == o->cap) {
		size_t cap = o->cap ? 2 * o->cap : 16;
		char **grown = realloc(o->sets, cap * sizeof(*grown));

		if (!grown)
			return -ENOMEM;
		o->sets = grown;
		o->cap = cap;
	}
	if (asprintf(&kv, "%s=%s", path, value) < 0)
		return -ENOMEM;
	o->sets[o->n++] = kv;
	return 0;
}

static int say(struct iop *o, const char *fmt, const char *a)
{
	char line[512];
	int n = snprintf(line, sizeof(line), fmt, o->file, a);
	char *grown = realloc(o->said, o->said_len + (size_t)n + 1);

	if (!grown)
		return -ENOMEM;
	memcpy(grown + o->said_len, line, (size_t)n + 1);
	o->said = grown;
	o->said_len += (size_t)n;
	return 0;
}

/* Every scalar under @n as PATH=VALUE (a list's items as PATH[i]). */
static int flatten(struct iop *o, yaml_node_t *n, const char *path)
{
	char sub[512];
	int err = 0;

	if (!n)
		return 0;
	switch (n->type) {
	case YAML_SCALAR_NODE: return add(o, path, scalar(n));
	case YAML_SEQUENCE_NODE: {
		size_t i = 0;

		for (yaml_node_item_t *it = n->data.sequence.items.start;
		     !err && it < n->data.sequence.items.top; it++, i++) {
			snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
			err = flatten(o, node(o, *it), sub);
		}
		return err;
	}
	case YAML_MAPPING_NODE:
		for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
		     !err && p < n->data.mapping.pairs.top; p++) {
			const char *k = scalar(node(o, p->key));

			if (!k)
				return ic_error(IC_EXIT_ERROR, "%s: %s: a key that is no string",
						o->file, path);
			snprintf(sub, sizeof(sub), "%s.%s", path, k);
			err = flatten(o, node(o, p->value), sub);
		}
		return err;
	default: return 0;
	}
}

/* The environment Istio's ambient pages give istiod: what each is on ambit. */
static int pilot_env(struct iop *o, yaml_node_t *env)
{
	static const char *const always[] = {
	    "AMBIENT_ENABLE_MULTI_NETWORK", "AMBIENT_ENABLE_MULTI_NETWORK_WAYPOINT",
	    "AMBIENT_ENABLE_MULTI_NETWORK_INGRESS", "AMBIENT_ENABLE_BAGGAGE"};

	if (!env || env->type != YAML_SEQUENCE_NODE)
		return env ? ic_error(IC_EXIT_ERROR,
				      "%s: spec.components.pilot.k8s.env: want a list", o->file)
			   : 0;
	for (yaml_node_item_t *it = env->data.sequence.items.start;
	     it < env->data.sequence.items.top; it++) {
		const char *name = scalar(get(o, node(o, *it), "name"));
		bool known = false;

		for (size_t i = 0; name && i < sizeof(always) / sizeof(always[0]); i++)
			known |= !strcmp(name, always[i]);
		if (!name)
			return ic_error(
			    IC_EXIT_ERROR,
			    "%s: spec.components.pilot.k8s.env: an entry without a name", o->file);
		if (!known)
			return ic_error(IC_EXIT_ERROR,
					"%s: spec.components.pilot.k8s.env: %s: not an istiod "
					"setting ambit knows",
					o->file, name);
		if (say(o, "  %s: istiod's %s: ambit's agents do so always.\n", name))
			return -ENOMEM;
	}
	return 0;
}

/* spec.components: enabled flags, istiod's env, the ingress gateways by name. */
static int components(struct iop *o, yaml_node_t *c)
{
	char path[256];
	int err = 0;

	if (!c)
		return 0;
	if (c->type != YAML_MAPPING_NODE)
		return ic_error(IC_EXIT_ERROR, "%s: spec.components: want a mapping", o->file);
	for (yaml_node_pair_t *p = c->data.mapping.pairs.start;
	     !err && p < c->data.mapping.pairs.top; p++) {
		const char *name = scalar(node(o, p->key));
		yaml_node_t *v = node(o, p->value);

		if (!name)
			continue;
		if (!strcmp(name, "ingressGateways") || !strcmp(name, "egressGateways")) {
			if (!v || v->type != YAML_SEQUENCE_NODE)
				return ic_error(IC_EXIT_ERROR,
						"%s: spec.components.%s: want a list", o->file,
						name);
			for (yaml_node_item_t *it = v->data.sequence.items.start;
			     !err && it < v->data.sequence.items.top; it++) {
				const char *gw = scalar(get(o, node(o, *it), "name"));
				const char *on = scalar(get(o, node(o, *it), "enabled"));

				if (!gw || !on)
					continue;
				snprintf(path, sizeof(path), "components.%s[name:%s].enabled", name,
					 gw);
				err = add(o, path, on);
			}
			continue;
		}
		if (v && get(o, v, "enabled")) {
			snprintf(path, sizeof(path), "components.%s.enabled", name);
			err = add(o, path, scalar(get(o, v, "enabled")) ?: "");
		}
		if (!err && !strcmp(name, "pilot"))
			err = pilot_env(o, get(o, get(o, v, "k8s"), "env"));
		else if (!err && get(o, v, "k8s"))
			return ic_error(IC_EXIT_ERROR,
					"%s: spec.components.%s.k8s: ambit sets its components' "
					"Kubernetes settings itself (ambitctl install --help)",
					o->file, name);
	}
	return err;
}

static int read_spec(struct iop *o, yaml_node_t *spec)
{
	static const char *const known[] = {"profile", "values", "meshConfig", "components",
					    "hub",     "tag",	 "namespace",  "revision"};
	const char *v;
	int err = 0;

	for (yaml_node_pair_t *p = spec->data.mapping.pairs.start; p < spec->data.mapping.pairs.top;
	     p++) {
		const char *k = scalar(node(o, p->key));
		bool ok = false;

		for (size_t i = 0; k && i < sizeof(known) / sizeof(known[0]); i++)
			ok |= !strcmp(k, known[i]);
		if (!ok)
			return ic_error(
			    IC_EXIT_ERROR,
			    "%s: spec.%s: not a field of IstioOperator's spec ambit reads", o->file,
			    k ? k : "?");
	}
	if (get(o, spec, "revision"))
		return ic_error(IC_EXIT_ERROR,
				"%s: spec.revision: ambit has no revisions: one install a cluster, "
				"upgraded in place (ambitctl install)",
				o->file);
	if ((v = scalar(get(o, spec, "profile"))))
		err = add(o, "profile", v);
	if (!err && (v = scalar(get(o, spec, "namespace"))))
		err = add(o, "values.global.istioNamespace", v);
	for (int i = 0; !err && i < 2; i++)
		if ((v = scalar(get(o, spec, i ? "tag" : "hub"))))
			err = say(
			    o, "  %s: spec.hub and spec.tag (%s): ambit runs its own images.\n", v);
	if (!err)
		err = flatten(o, get(o, spec, "values"), "values");
	if (!err)
		err = flatten(o, get(o, spec, "meshConfig"), "meshConfig");
	return err ?: components(o, get(o, spec, "components"));
}

int ic_operator_sets(const char *file, char ***sets, size_t *n, char **said)
{
	struct iop o = {.file = file};
	yaml_parser_t p;
	yaml_node_t *root, *spec;
	const char *kind, *api;
	FILE *f = strcmp(file, "-") ? fopen(file, "re") : stdin;
	int err = 0;

	*sets = NULL;
	*n = 0;
	*said = NULL;
	if (!f)
		return ic_error(IC_EXIT_ERROR, "%s: %s", file, strerror(errno));
	yaml_parser_initialize(&p);
	yaml_parser_set_input_file(&p, f);
	if (!yaml_parser_load(&p, &o.doc)) {
		err = ic_error(IC_EXIT_ERROR, "%s:%zu: not YAML: %s", file, p.problem_mark.line + 1,
			       p.problem ? p.problem : "parse error");
		yaml_parser_delete(&p);
		if (f != stdin)
			fclose(f);
		return err;
	}
	yaml_parser_delete(&p);
	if (f != stdin)
		fclose(f);
	root = yaml_document_get_root_node(&o.doc);
	kind = scalar(get(&o, root, "kind"));
	api = scalar(get(&o, root, "apiVersion"));
	spec = get(&o, root, "spec");
	if (!kind || strcmp(kind, "IstioOperator") || !api || strncmp(api, "install.istio.io/", 17))
		err = ic_error(IC_EXIT_ERROR,
			       "%s: not an IstioOperator (apiVersion install.istio.io/v1alpha1, "
			       "kind IstioOperator)",
			       file);
	else if (spec && spec->type != YAML_MAPPING_NODE)
		err = ic_error(IC_EXIT_ERROR, "%s: spec: want a mapping", file);
	else if (spec)
		err = read_spec(&o, spec);
	if (err == -ENOMEM)
		err = ic_error(IC_EXIT_ERROR, "out of memory");
	yaml_document_delete(&o.doc);
	if (err) {
		for (size_t i = 0; i < o.n; i++)
			free(o.sets[i]);
		free(o.sets);
		free(o.said);
		return err;
	}
	*sets = o.sets;
	*n = o.n;
	*said = o.said;
	return 0;
}
