/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The --kube cluster's API server holding exactly the local cluster's objects (kube_mirror in
 * kmirror.c): ambitctl plays the controllers and the scheduler of a real cluster, so its Pods are
 * the plan's, placed, addressed and Running, each owned by a ReplicaSet of its Deployment. Every
 * object the mirror writes carries KMIRROR_LABEL (what it lists, and all it ever touches) and
 * the hash of what it wrote: it writes only when that changes, since every write is a watch
 * event each agent reconciles on. This half (kmirror_obj.c) builds and compares objects without
 * I/O, for the unit tests.
 */
#ifndef AMBIT_CLI_KMIRROR_H
#define AMBIT_CLI_KMIRROR_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

struct ctl_pod;

#define KMIRROR_LABEL "ambit.dev/mirror"
#define KMIRROR_LABEL_VALUE "local"
#define KMIRROR_HASH_ANNOTATION "ambit.dev/mirror-hash"
#define KMIRROR_HASH_LEN 64	     /* SHA-256 in hex */
#define KMIRROR_TEMPLATE_HASH_LEN 10 /* a pod-template-hash's length */

enum kmirror_action {
	KMIRROR_KEEP,	/* as wanted, or none of the mirror's business */
	KMIRROR_CREATE, /* POST */
	KMIRROR_UPDATE, /* PUT, with the server's resourceVersion */
	/* As written, but without the status written: a server that drops it (the real one). */
	KMIRROR_STATUS,
	KMIRROR_DELETE,
};

/* @ns/@owner's pod-template-hash into @out: 10 characters of Kubernetes' own alphabet for it. */
void kmirror_template_hash(const char *ns, const char *owner,
			   char out[KMIRROR_TEMPLATE_HASH_LEN + 1]);
/* The ReplicaSet of Deployment @ns/@owner, <owner>-<template hash>, into @buf. 0 or -errno. */
int kmirror_replicaset(const char *ns, const char *owner, char *buf, size_t len);
/*
 * Adds to @o the array @key of Kubernetes' {"ip": ...} objects (status.podIPs, hostIPs) of @ip
 * and, when not "", @ip6 (borrowed): the mirror's and `ambitctl get`'s. Whether it was added.
 */
bool kmirror_add_ips(cJSON *o, const char *key, const char *ip, const char *ip6);
/*
 * Pod @pod (borrowed) as the API server holds it once scheduled and started: on the plan's node
 * with the plan's address, Running and Ready. Not sealed; caller deletes. NULL with errno set.
 */
cJSON *kmirror_pod(const struct ctl_pod *pod);
/*
 * Node @n (borrowed) as its kubelet registers it: name and hostname label, pod CIDR, InternalIP,
 * Ready (the cluster is up while it is mirrored), and what runs it (nodeInfo). Not sealed;
 * caller deletes. NULL on ENOMEM.
 */
cJSON *kmirror_node(const struct ctl_node *n);
/*
 * Gives the Running pod @want (sealed) the start time pod @have (the server's) holds, resealed:
 * a pod started once, and the same JSON from one mirror to the next. 0 or -ENOMEM.
 */
int kmirror_pod_keep_start(cJSON *want, const cJSON *have);
/*
 * The status of Deployment @ns/@name at generation @generation as a Deployment controller
 * writes it, for the pods of plan @pods (@npods; those it owns counted): NULL on ENOMEM.
 */
cJSON *kmirror_deployment_status(const struct ctl_pod *pods, size_t npods, const char *ns,
				 const char *name, int replicas, double generation);
/*
 * The status of Deployment @ns/@name of @replicas wanted at generation @generation, @have pods
 * of which run and @ready are ready, as its controller writes it. NULL on ENOMEM.
 */
cJSON *kmirror_replicas_status(const char *ns, const char *name, int replicas, int have, int ready,
			       double generation);
/*
 * The status of a DaemonSet at generation @generation with @desired nodes to run on, @current
 * of which run its pod and @ready have it ready, as its controller writes it. NULL on ENOMEM.
 */
cJSON *kmirror_daemonset_status(int desired, int current, int ready, double generation);
/*
 * The stored object @yaml (borrowed, one YAML document) as the JSON to write: without what the
 * server sets (uid, resourceVersion, ...), in namespace @ns (NULL: cluster-scoped, none). Not
 * sealed; caller deletes. NULL with the reason in @err.
 */
cJSON *kmirror_from_yaml(const char *yaml, const char *ns, char *err, size_t len);
/*
 * Gives Service @svc (borrowed) the ClusterIP @vip the plan has for it when it names none, and
 * its IPv6 one @vip6 (a dual-stack Service in a dual-stack cluster; NULL: none) in clusterIPs
 * and ipFamilies: the API server's allocator, here. @vip NULL with @vip6: a SingleStack IPv6
 * Service, @vip6 its only one. ExternalName and headless Services keep theirs. 0 or -errno.
 */
int kmirror_service_ip(cJSON *svc, const char *vip, const char *vip6);
/*
 * Sets Service spec @spec's clusterIP, clusterIPs and ipFamilies to @vip and @vip6 (either NULL:
 * none of that family), in the order its own ipFamilies ask (IPv6 first when they name it
 * first, as the API server keeps them), and its ipFamilyPolicy SingleStack when it has none:
 * kmirror_service_ip's and `ambitctl get`'s. 0 or -ENOMEM.
 */
int kmirror_service_ips(cJSON *spec, const char *vip, const char *vip6);
/*
 * Sets LoadBalancer Service @svc's status.loadBalancer.ingress to @lb and @lb6 (either NULL or
 * "": none of that family), each {ip, ipMode: VIP} as the API server holds what a balancer
 * controller wrote; an empty status.loadBalancer without them. 0 or -ENOMEM.
 */
int kmirror_service_lb(cJSON *svc, const char *lb, const char *lb6);
/* Labels @obj as the mirror's and annotates it with the hash of all the rest. 0 or -errno. */
int kmirror_seal(cJSON *obj);
/* What to do with @have (the server's object, or NULL) for @want (sealed, or NULL: unwanted). */
enum kmirror_action kmirror_decide(const cJSON *want, const cJSON *have);
/*
 * The server's object @have (borrowed) as the store would hold it: what the server sets, its
 * status and the mirror's label and hash gone. *@same when it is the mirror's own object as the
 * mirror wrote it (nothing another hand changed: nothing to import). NULL with errno set.
 */
cJSON *kmirror_import(const cJSON *have, bool *same);
/*
 * Whether the server's object @have holds what @want (sealed) says, whoever wrote it: 1 or 0,
 * -errno. The mirror takes over an object another hand made only when it does (kmirror.c).
 */
int kmirror_holds(const cJSON *have, const cJSON *want);
/* Order of the writes: Namespaces, CRDs, ServiceAccounts, the rest, Pods; deletes the reverse. */
int kmirror_rank(const char *kind);

#endif
