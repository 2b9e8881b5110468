// SPDX-License-Identifier: Apache-2.0
/*
 * The config model: ownership, look-ups, mesh semantics, and loading files and directories
 * all-or-nothing per file (a file's objects are parsed into a staging model and merged only
 * when the whole file was clean).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ambit/fileutil.h"
#include "config_priv.h"

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
	config_labels_free(&s->selector);
	for (size_t i = 0; i < s->nports; i++) {
		free(s->ports[i].name);
		free(s->ports[i].target_port_name);
		free(s->ports[i].protocol);
		free(s->ports[i].app_protocol);
	}
	free(s->ports);
}

void config_free(struct config *cfg)
{
	if (!cfg)
		return;
	for (size_t i = 0; i < cfg->n_namespaces; i++)
		config_meta_free(&cfg->namespaces[i].meta);
	for (size_t i = 0; i < cfg->n_service_accounts; i++)
		config_meta_free(&cfg->service_accounts[i].meta);
	for (size_t i = 0; i < cfg->n_pods; i++)
		config_pod_free(&cfg->pods[i]);
	for (size_t i = 0; i < cfg->n_deployments; i++)
		config_deployment_free(&cfg->deployments[i]);
	for (size_t i = 0; i < cfg->n_services; i++)
		config_service_free(&cfg->services[i]);
	for (size_t i = 0; i < cfg->n_authorization_policies; i++)
		config_authorization_policy_free(&cfg->authorization_policies[i]);
	for (size_t i = 0; i < cfg->n_peer_authentications; i++)
		config_peer_authentication_free(&cfg->peer_authentications[i]);
	for (size_t i = 0; i < cfg->n_virtual_services; i++)
		config_virtual_service_free(&cfg->virtual_services[i]);
	for (size_t i = 0; i < cfg->n_destination_rules; i++)
		config_destination_rule_free(&cfg->destination_rules[i]);
	for (size_t i = 0; i < cfg->n_gateways; i++)
		config_gateway_free(&cfg->gateways[i]);
	for (size_t i = 0; i < cfg->n_service_entries; i++)
		config_service_entry_free(&cfg->service_entries[i]);
	for (size_t i = 0; i < cfg->n_request_authentications; i++)
		config_request_authentication_free(&cfg->request_authentications[i]);
	for (size_t i = 0; i < cfg->n_k8s_gateways; i++)
		config_k8s_gateway_free(&cfg->k8s_gateways[i]);
	for (size_t i = 0; i < cfg->n_http_routes; i++)
		config_gw_route_free(&cfg->http_routes[i]);
	for (size_t i = 0; i < cfg->n_grpc_routes; i++)
		config_gw_route_free(&cfg->grpc_routes[i]);
	for (size_t i = 0; i < cfg->n_tls_routes; i++)
		config_gw_route_free(&cfg->tls_routes[i]);
	for (size_t i = 0; i < cfg->n_tcp_routes; i++)
		config_gw_route_free(&cfg->tcp_routes[i]);
	for (size_t i = 0; i < cfg->n_endpoint_slices; i++)
		config_endpoint_slice_free(&cfg->endpoint_slices[i]);
	free(cfg->endpoint_slices);
	for (size_t i = 0; i < cfg->n_config_maps; i++)
		config_config_map_free(&cfg->config_maps[i]);
	free(cfg->config_maps);
	for (size_t i = 0; i < cfg->n_secrets; i++)
		config_secret_free(&cfg->secrets[i]);
	free(cfg->secrets);
	for (size_t i = 0; i < cfg->n_envoy_filters; i++)
		config_rate_limit_free(&cfg->envoy_filters[i]);
	free(cfg->envoy_filters);
	for (size_t i = 0; i < cfg->n_local_rate_limits; i++)
		config_rate_limit_free(&cfg->local_rate_limits[i]);
	free(cfg->local_rate_limits);
	for (size_t i = 0; i < cfg->n_telemetries; i++)
		config_telemetry_free(&cfg->telemetries[i]);
	free(cfg->telemetries);
	free(cfg->k8s_gateways);
	free(cfg->http_routes);
	free(cfg->grpc_routes);
	free(cfg->tls_routes);
	free(cfg->tcp_routes);
	for (size_t i = 0; i < cfg->n_reference_grants; i++)
		config_reference_grant_free(&cfg->reference_grants[i]);
	free(cfg->reference_grants);
	free(cfg->request_authentications);
	free(cfg->authorization_policies);
	free(cfg->peer_authentications);
	free(cfg->virtual_services);
	free(cfg->destination_rules);
	free(cfg->gateways);
	free(cfg->service_entries);
	free(cfg->namespaces);
	free(cfg->service_accounts);
	free(cfg->pods);
	free(cfg->deployments);
	free(cfg->services);
	config_init(cfg);
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

/*
 * Preallocates every destination first so the merge itself cannot fail half-way: a file
 * contributes either all its objects or none.
 */
static int config_merge(struct config *cfg, struct config *stage)
{
#define ARR(field, nfield)                                                                         \
	{                                                                                          \
		(void **)&cfg->field, (void **)&stage->field, &cfg->nfield, &stage->nfield,        \
		    sizeof(*cfg->field)                                                            \
	}
	struct {
		void **dst, **src;
		size_t *ndst, *nsrc;
		size_t size;
	} arrs[] = {
	    ARR(namespaces, n_namespaces),
	    ARR(pods, n_pods),
	    ARR(deployments, n_deployments),
	    ARR(services, n_services),
	    ARR(service_accounts, n_service_accounts),
	    ARR(authorization_policies, n_authorization_policies),
	    ARR(peer_authentications, n_peer_authentications),
	    ARR(virtual_services, n_virtual_services),
	    ARR(destination_rules, n_destination_rules),
	    ARR(gateways, n_gateways),
	    ARR(service_entries, n_service_entries),
	    ARR(request_authentications, n_request_authentications),
	    ARR(k8s_gateways, n_k8s_gateways),
	    ARR(http_routes, n_http_routes),
	    ARR(grpc_routes, n_grpc_routes),
	    ARR(tls_routes, n_tls_routes),
	    ARR(tcp_routes, n_tcp_routes),
	    ARR(reference_grants, n_reference_grants),
	    ARR(endpoint_slices, n_endpoint_slices),
	    ARR(config_maps, n_config_maps),
	    ARR(secrets, n_secrets),
	    ARR(envoy_filters, n_envoy_filters),
	    ARR(local_rate_limits, n_local_rate_limits),
	    ARR(telemetries, n_telemetries),
	};
#undef ARR
	size_t i, n = sizeof(arrs) / sizeof(arrs[0]);

	cfg->namespaces_sorted = false; /* what comes is appended */
	for (i = 0; i < n; i++) {
		void *arr;

		if (!*arrs[i].nsrc)
			continue;
		arr = realloc(*arrs[i].dst, (*arrs[i].ndst + *arrs[i].nsrc) * arrs[i].size);
		if (!arr)
			return -ENOMEM;
		*arrs[i].dst = arr;
	}
	for (i = 0; i < n; i++) {
		if (!*arrs[i].nsrc)
			continue;
		memcpy((char *)*arrs[i].dst + *arrs[i].ndst * arrs[i].size, *arrs[i].src,
		       *arrs[i].nsrc * arrs[i].size);
		*arrs[i].ndst += *arrs[i].nsrc;
		free(*arrs[i].src);
		*arrs[i].src = NULL;
		*arrs[i].nsrc = 0;
	}
	return 0;
}

const char *config_api_group(const char *api_version, char *buf, size_t len)
{
	const char *slash = strchr(api_version, '/');

	snprintf(buf, len, "%.*s", slash ? (int)(slash - api_version) : 0, api_version);
	return buf;
}

int config_load_buffer(struct config *cfg, const char *name, const char *buf, size_t len,
		       struct config_diags *diags)
{
	return config_load_buffer_opts(cfg, name, buf, len, NULL, diags);
}

int cfg_probe_load(const char *buf, size_t len, struct cfg_probe *probe)
{
	struct config cfg, stage;
	struct cfg_ctx ctx;
	int err;

	config_init(&cfg);
	config_init(&stage);
	memset(&ctx, 0, sizeof(ctx));
	ctx.file = "<probe>";
	ctx.cfg = &cfg;
	ctx.stage = &stage;
	ctx.probe = probe;
	err = cfg_parse_stream(&ctx, buf, len);
	free(ctx.object);
	cfg_index_free(ctx.index);
	config_free(&stage);
	config_free(&cfg);
	return err;
}

int config_load_buffer_opts(struct config *cfg, const char *name, const char *buf, size_t len,
			    const struct config_load_opts *opts, struct config_diags *diags)
{
	struct config stage;
	struct cfg_ctx ctx;
	int err;

	config_init(&stage);
	memset(&ctx, 0, sizeof(ctx));
	ctx.file = name ? name : "<input>";
	ctx.opts = opts;
	ctx.cfg = cfg;
	ctx.stage = &stage;
	ctx.diags = diags;
	if (len > CFG_MAX_FILE_SIZE) {
		cfg_error(&ctx, NULL, "file larger than %u bytes", CFG_MAX_FILE_SIZE);
		return -EFBIG;
	}
	/* libyaml asserts on a NULL input even when it is empty. */
	err = cfg_parse_stream(&ctx, buf ? buf : "", buf ? len : 0);
	if (!err && ctx.nerrors)
		err = -EINVAL;
	/* Told only now: a file with an error contributes no object, also to the caller. */
	for (size_t i = 0; !err && i < ctx.ntold; i++) {
		const struct cfg_told *t = &ctx.told[i];
		const struct config_object obj = {
		    .file = ctx.file,
		    .api_version = t->api_version,
		    .kind = t->kind,
		    .namespace = t->namespace,
		    .name = t->name,
		    .line = t->line,
		    .yaml = t->yaml,
		};

		err = opts->on_object(opts->arg, &obj);
	}
	if (!err) {
		err = config_merge(cfg, &stage);
		if (err)
			cfg_error(&ctx, NULL, "out of memory");
	}
	for (size_t i = 0; i < ctx.ntold; i++) {
		free(ctx.told[i].api_version);
		free(ctx.told[i].kind);
		free(ctx.told[i].namespace);
		free(ctx.told[i].name);
		free(ctx.told[i].yaml);
	}
	free(ctx.told);
	free(ctx.object);
	cfg_index_free(ctx.index);
	config_free(&stage);
	return err;
}

int config_load_file(struct config *cfg, const char *path, struct config_diags *diags)
{
	return config_load_file_opts(cfg, path, NULL, diags);
}

int config_load_file_opts(struct config *cfg, const char *path, const struct config_load_opts *opts,
			  struct config_diags *diags)
{
	struct cfg_ctx ctx = {.file = path, .diags = diags};
	char *buf = NULL;
	size_t len = 0;
	struct stat st;
	int fd, err;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		err = -errno;
		cfg_error(&ctx, NULL, "cannot open: %s", strerror(-err));
		return err;
	}
	if (fstat(fd, &st) < 0) {
		err = -errno;
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		err = -EINVAL;
		cfg_error(&ctx, NULL, "not a regular file");
		goto out;
	}
	if ((unsigned long long)st.st_size > CFG_MAX_FILE_SIZE) {
		err = -EFBIG;
		cfg_error(&ctx, NULL, "file larger than %u bytes", CFG_MAX_FILE_SIZE);
		goto out;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		err = -ENOMEM;
		goto fail;
	}
	/* The file may change under us (ambitctl apply); read what is there, up to the cap. */
	err = fileutil_read_upto(fd, buf, (size_t)st.st_size + 1, &len);
	if (err)
		goto fail;
	if (len > (size_t)st.st_size) {
		err = -EAGAIN;
		cfg_error(&ctx, NULL, "file grew while being read");
		goto out;
	}
	err = config_load_buffer_opts(cfg, path, buf, len, opts, diags);
	goto out;
fail:
	cfg_error(&ctx, NULL, "cannot read: %s", strerror(-err));
out:
	free(buf);
	close(fd);
	return err;
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

struct load_walk {
	struct config *cfg;
	const struct config_load_opts *opts;
	struct config_diags *diags;
};

static int load_walked(const char *path, void *arg)
{
	struct load_walk *w = arg;

	return config_load_file_opts(w->cfg, path, w->opts, w->diags);
}

int config_load_dir(struct config *cfg, const char *dir, struct config_diags *diags)
{
	struct load_walk w = {cfg, NULL, diags};

	return config_walk_dir(dir, load_walked, &w, diags);
}

int config_load_path_opts(struct config *cfg, const char *path, const struct config_load_opts *opts,
			  struct config_diags *diags)
{
	struct cfg_ctx ctx = {.file = path, .diags = diags};
	struct load_walk w = {cfg, opts, diags};
	struct stat st;
	int err;

	if (stat(path, &st) < 0) {
		err = -errno;
		cfg_error(&ctx, NULL, "%s", strerror(-err));
		return err;
	}
	if (S_ISDIR(st.st_mode))
		return config_walk_dir(path, load_walked, &w, diags);
	return config_load_file_opts(cfg, path, opts, diags);
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

	if (!ns)
		return false;
	mode = config_label_get(&ns->meta.labels, AMBIT_LABEL_DATAPLANE_MODE);
	if (!mode || strcmp(mode, AMBIT_DATAPLANE_AMBIENT) != 0)
		return false;
	mode = labels ? config_label_get(labels, AMBIT_LABEL_DATAPLANE_MODE) : NULL;
	return !mode || strcmp(mode, AMBIT_DATAPLANE_NONE) != 0;
}

bool config_pod_enrolled(const struct config *cfg, const struct config_pod *pod)
{
	return config_enrolled(cfg, pod->meta.namespace, &pod->meta.labels);
}
