// SPDX-License-Identifier: Apache-2.0
/*
 * The config model: ownership, look-ups, mesh semantics, and walking a directory of files
 * (config/load.c loads them; config/kinds.c frees and merges every kind).
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "decode.h"

#define CFG_MAX_DIR_DEPTH 16

char *cfg_strdup(const char *s)
{
	return s ? strdup(s) : NULL;
}

void config_init(struct config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
}

void config_labels_free(struct config_labels *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->items[i].key);
		free(l->items[i].value);
	}
	free(l->items);
	l->items = NULL;
	l->n = 0;
}

int config_labels_add(struct config_labels *l, const char *key, const char *value)
{
	struct config_label *items = realloc(l->items, (l->n + 1) * sizeof(*items));

	if (!items)
		return -ENOMEM;
	l->items = items;
	items[l->n].key = strdup(key);
	items[l->n].value = strdup(value);
	if (!items[l->n].key || !items[l->n].value) {
		free(items[l->n].key);
		free(items[l->n].value);
		return -ENOMEM;
	}
	l->n++;
	return 0;
}

void config_meta_free(struct config_meta *m)
{
	free(m->name);
	free(m->namespace);
	config_labels_free(&m->labels);
	config_labels_free(&m->annotations);
	free(m->origin.file);
	free(m->creation_timestamp);
	free(m->api_version);
	free(m->uid);
	free(m->controller_kind);
	free(m->controller_name);
	memset(m, 0, sizeof(*m));
}

void config_pod_spec_free(struct config_pod_spec *s)
{
	free(s->service_account);
	free(s->container);
	free(s->node_name);
	free(s->hostname);
	free(s->subdomain);
	for (char **c = s->command; c && *c; c++)
		free(*c);
	free(s->command);
	for (size_t i = 0; i < s->nports; i++) {
		free(s->ports[i].name);
		free(s->ports[i].protocol);
	}
	free(s->ports);
	memset(s, 0, sizeof(*s));
}

void config_pod_free(struct config_pod *p)
{
	config_meta_free(&p->meta);
	config_pod_spec_free(&p->spec);
	free(p->pod_ip);
	config_strings_free(&p->pod_ips);
	free(p->phase);
	free(p->host_ip);
}

void config_deployment_free(struct config_deployment *d)
{
	config_meta_free(&d->meta);
	config_labels_free(&d->selector);
	config_labels_free(&d->template_labels);
	config_labels_free(&d->template_annotations);
	config_pod_spec_free(&d->template);
}

void config_service_free(struct config_service *s)
{
	config_meta_free(&s->meta);
	free(s->cluster_ip);
	config_strings_free(&s->cluster_ips);
	config_strings_free(&s->lb_ingress);
	config_labels_free(&s->selector);
	for (size_t i = 0; i < s->nports; i++) {
		free(s->ports[i].name);
		free(s->ports[i].target_port_name);
		free(s->ports[i].protocol);
		free(s->ports[i].app_protocol);
	}
	free(s->ports);
}

void config_diags_free(struct config_diags *diags)
{
	if (!diags)
		return;
	for (size_t i = 0; i < diags->n; i++) {
		free(diags->items[i].file);
		free(diags->items[i].object);
		free(diags->items[i].field);
		free(diags->items[i].message);
	}
	free(diags->items);
	diags->items = NULL;
	diags->n = 0;
}

void config_diag_format(const struct config_diag *d, char *buf, size_t len)
{
	char where[32] = "";

	if (!len)
		return;
	/* Whole-file problems (size, unreadable) have no position: no ":0:0". */
	if (d->line > 0)
		snprintf(where, sizeof(where), ":%d:%d", d->line, d->column);
	snprintf(buf, len, "%s%s: %s: %s%s%s%s%s", d->file ? d->file : "<input>", where,
		 d->error ? "error" : "warning", d->object ? d->object : "", d->object ? ": " : "",
		 d->field ? d->field : "", d->field ? ": " : "", d->message ? d->message : "");
}

const char *config_api_group(const char *api_version, char *buf, size_t len)
{
	const char *slash = strchr(api_version, '/');

	snprintf(buf, len, "%.*s", slash ? (int)(slash - api_version) : 0, api_version);
	return buf;
}

static bool config_file_wanted(const char *name)
{
	size_t n = strlen(name);

	/* Dotfiles (.#x.yaml, .x.yaml.swp) and editor backups (x.yaml~, #x.yaml#) are skipped. */
	if (name[0] == '.' || name[0] == '#' || name[n - 1] == '~')
		return false;
	return (n > 5 && strcmp(name + n - 5, ".yaml") == 0) ||
	       (n > 4 && strcmp(name + n - 4, ".yml") == 0);
}

static int name_cmp(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static int walk_dir_rec(const char *dir, int (*fn)(const char *path, void *arg), void *arg,
			struct config_diags *diags, int depth)
{
	struct cfg_ctx ctx = {.file = dir, .diags = diags};
	struct dirent **ents = NULL;
	int n, i, first = 0;

	if (depth > CFG_MAX_DIR_DEPTH) {
		cfg_error(&ctx, NULL, "directories nested deeper than %d", CFG_MAX_DIR_DEPTH);
		return -ELOOP;
	}
	n = scandir(dir, &ents, NULL, name_cmp);
	if (n < 0) {
		first = -errno;
		cfg_error(&ctx, NULL, "cannot read directory: %s", strerror(-first));
		return first;
	}
	for (i = 0; i < n; i++) {
		const char *name = ents[i]->d_name;
		struct stat st;
		char *path;
		int err = 0;

		if (name[0] == '.' || asprintf(&path, "%s/%s", dir, name) < 0)
			continue;
		if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
			err = walk_dir_rec(path, fn, arg, diags, depth + 1);
		else if (config_file_wanted(name))
			err = fn(path, arg);
		if (err && !first)
			first = err;
		free(path);
	}
	for (i = 0; i < n; i++)
		free(ents[i]);
	free(ents);
	return first;
}

int config_walk_dir(const char *dir, int (*fn)(const char *path, void *arg), void *arg,
		    struct config_diags *diags)
{
	return walk_dir_rec(dir, fn, arg, diags, 0);
}

static int cmp_ns(const void *a, const void *b)
{
	return strcmp(((const struct config_namespace *)a)->meta.name,
		      ((const struct config_namespace *)b)->meta.name);
}

void config_sort_namespaces(struct config *cfg)
{
	if (cfg->n_namespaces > 1)
		qsort(cfg->namespaces, cfg->n_namespaces, sizeof(*cfg->namespaces), cmp_ns);
	cfg->namespaces_sorted = true;
}

const struct config_namespace *config_find_namespace(const struct config *cfg, const char *name)
{
	if (cfg->namespaces_sorted) {
		struct config_namespace key = {.meta.name = (char *)name};

		return cfg->n_namespaces ? bsearch(&key, cfg->namespaces, cfg->n_namespaces,
						   sizeof(*cfg->namespaces), cmp_ns)
					 : NULL;
	}
	for (size_t i = 0; i < cfg->n_namespaces; i++)
		if (strcmp(cfg->namespaces[i].meta.name, name) == 0)
			return &cfg->namespaces[i];
	return NULL;
}

const char *config_label_get(const struct config_labels *labels, const char *key)
{
	for (size_t i = 0; i < labels->n; i++)
		if (strcmp(labels->items[i].key, key) == 0)
			return labels->items[i].value;
	return NULL;
}

bool config_labels_match(const struct config_labels *selector, const struct config_labels *labels)
{
	for (size_t i = 0; i < selector->n; i++) {
		const char *v = config_label_get(labels, selector->items[i].key);

		if (!v || strcmp(v, selector->items[i].value) != 0)
			return false;
	}
	return true;
}

bool config_enrolled(const struct config *cfg, const char *namespace,
		     const struct config_labels *labels)
{
	const struct config_namespace *ns = config_find_namespace(cfg, namespace);
	const char *mode;

	if (!ns || cfg->mesh_off)
		return false;
	mode = config_label_get(&ns->meta.labels, AMBIT_LABEL_DATAPLANE_MODE);
	if (!mode || strcmp(mode, AMBIT_DATAPLANE_AMBIENT) != 0)
		return false;
	mode = labels ? config_label_get(labels, AMBIT_LABEL_DATAPLANE_MODE) : NULL;
	return !mode || strcmp(mode, AMBIT_DATAPLANE_NONE) != 0;
}

static bool is_v4(const char *ip)
{
	struct in_addr a;

	return ip && inet_pton(AF_INET, ip, &a) == 1;
}

/* @first when it is an IPv4 address, else the first IPv4 one of @list. */
static const char *first_v4(const char *first, const struct config_strings *list)
{
	if (is_v4(first))
		return first;
	for (size_t i = 0; i < list->n; i++)
		if (is_v4(list->items[i]))
			return list->items[i];
	return NULL;
}

const char *config_pod_ipv4(const struct config_pod *pod)
{
	return first_v4(pod->pod_ip, &pod->pod_ips);
}

const char *config_pod_ipv6(const struct config_pod *pod)
{
	if (pod->pod_ip && !is_v4(pod->pod_ip))
		return pod->pod_ip;
	for (size_t i = 0; i < pod->pod_ips.n; i++)
		if (!is_v4(pod->pod_ips.items[i]))
			return pod->pod_ips.items[i];
	return NULL;
}

const char *config_service_ipv4(const struct config_service *svc)
{
	return first_v4(svc->cluster_ip, &svc->cluster_ips);
}

bool config_pod_ipv6_only(const struct config_pod *pod)
{
	return (pod->pod_ip || pod->pod_ips.n) && !config_pod_ipv4(pod);
}

bool config_pod_enrolled(const struct config *cfg, const struct config_pod *pod)
{
	return config_enrolled(cfg, pod->meta.namespace, &pod->meta.labels);
}
