/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The config model: Kubernetes objects the mesh reads, parsed from YAML manifests with libyaml.
 * Every object remembers the file and line it came from so errors and `ambitctl` can name them.
 * Issue 4 extends this model with the Istio kinds; keep it one model for every source.
 */
#ifndef AMBIT_CONFIG_H
#define AMBIT_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct config_label {
	char *key;
	char *value;
};

struct config_labels {
	size_t n;
	struct config_label *items;
};

/* Where an object came from: file (absolute or as given) and 1-based line of its document. */
struct config_origin {
	char *file;
	int line;
};

struct config_meta {
	char *name;
	char *namespace; /* "default" when the manifest omits it (not for Namespace) */
	struct config_labels labels;
	struct config_labels annotations;
	struct config_origin origin;
};

struct config_namespace {
	struct config_meta meta;
};

struct config_service_account {
	struct config_meta meta;
};

struct config_container_port {
	char *name;
	uint16_t port;
	char *protocol; /* "TCP" by default */
};

/* The part of a pod template the mesh and the local cluster use. */
struct config_pod_spec {
	char *service_account; /* "default" when omitted */
	char *node_name;       /* spec.nodeName, or NULL: the local cluster places the pod */
	char **command;        /* containers[0].command + args, NULL-terminated, or NULL */
	size_t nports;
	struct config_container_port *ports; /* containers[*].ports */
};

struct config_pod {
	struct config_meta meta;
	struct config_pod_spec spec;
	char *pod_ip;  /* status.podIP, or NULL while not running */
	char *host_ip; /* status.hostIP */
};

struct config_deployment {
	struct config_meta meta;
	int replicas; /* 1 when omitted */
	struct config_labels selector; /* spec.selector.matchLabels */
	struct config_labels template_labels;
	struct config_labels template_annotations;
	struct config_pod_spec template;
};

struct config_service_port {
	char *name;
	uint16_t port;
	uint16_t target_port; /* = port when omitted; 0 when named (see target_port_name) */
	char *target_port_name;
	char *protocol; /* "TCP" by default */
};

struct config_service {
	struct config_meta meta;
	char *cluster_ip; /* spec.clusterIP, or NULL: the local cluster allocates one */
	struct config_labels selector;
	size_t nports;
	struct config_service_port *ports;
};

/* Everything loaded from a set of files. Arrays are owned by the struct. */
struct config {
	size_t n_namespaces, n_pods, n_deployments, n_services, n_service_accounts;
	struct config_namespace *namespaces;
	struct config_pod *pods;
	struct config_deployment *deployments;
	struct config_service *services;
	struct config_service_account *service_accounts;
};

/* One problem found while loading: "file:line:col: kind/ns/name: field: reason". */
struct config_diag {
	char *file;
	int line;
	int column;
	bool error; /* false: a warning */
	char *object; /* "Kind ns/name" when known, else NULL */
	char *field;  /* dotted path, e.g. "spec.ports[0].port", or NULL */
	char *message;
};

struct config_diags {
	size_t n;
	struct config_diag *items;
};

void config_init(struct config *cfg);
void config_free(struct config *cfg);
void config_diags_free(struct config_diags *diags);
/* Formats @d as one line "file:line:col: error: Kind ns/name: field: message" into @buf. */
void config_diag_format(const struct config_diag *d, char *buf, size_t len);

/*
 * Parses every document of @path (multi-document YAML) and appends the objects to @cfg.
 * A file with any error adds none of its objects (all or nothing per file) and appends the
 * errors to @diags. Returns 0, or -EINVAL when the file had errors, or -errno when unreadable.
 * Borrows @path; @cfg and @diags take ownership of what is appended.
 */
int config_load_file(struct config *cfg, const char *path, struct config_diags *diags);
/* Same for a memory buffer; @name is used as the file name in diagnostics. */
int config_load_buffer(struct config *cfg, const char *name, const char *buf, size_t len,
		       struct config_diags *diags);
/* Loads every *.yaml / *.yml file under @dir (sorted, recursive). Returns the first error. */
int config_load_dir(struct config *cfg, const char *dir, struct config_diags *diags);

/* Look-ups; return a borrowed pointer or NULL. */
const struct config_namespace *config_find_namespace(const struct config *cfg, const char *name);
const char *config_label_get(const struct config_labels *labels, const char *key);
/* True when every selector label is present with the same value in @labels (empty matches all). */
bool config_labels_match(const struct config_labels *selector, const struct config_labels *labels);

/* Mesh semantics (DESIGN.md §3). */
#define AMBIT_LABEL_DATAPLANE_MODE "istio.io/dataplane-mode"
#define AMBIT_DATAPLANE_AMBIENT "ambient"
#define AMBIT_DATAPLANE_NONE "none"
/* Pod annotations written by the local cluster (or by the agent's Kubernetes source). */
#define AMBIT_ANNOT_CGROUP "ambit.io/cgroup"       /* cgroup v2 path of the pod */
#define AMBIT_ANNOT_HOST_IFACE "ambit.io/host-iface" /* host-side veth name in the node netns */

/* A pod is enrolled when its namespace is labelled ambient and the pod does not opt out. */
bool config_pod_enrolled(const struct config *cfg, const struct config_pod *pod);

#endif
