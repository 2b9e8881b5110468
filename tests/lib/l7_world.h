/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The L7 model of a set of manifests for their waypoint shop/wp (config_load_buffer, then
 * l7_compile_config): for the tests and fuzz targets that run the waypoint on a configuration
 * written as Istio YAML.
 */
#ifndef AMBIT_TESTS_L7_WORLD_H
#define AMBIT_TESTS_L7_WORLD_H

#include <stddef.h>

#include "ambit/config.h"
#include "ambit/l7.h"

/* Namespace "shop" bound to waypoint "wp" (a Gateway of class istio-waypoint). */
#define L7_WORLD_HEAD                                                                              \
	"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n"                               \
	"  labels: {istio.io/use-waypoint: wp}\n---\n"                                             \
	"apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\n"                                \
	"metadata: {name: wp, namespace: shop}\n"                                                  \
	"spec:\n  gatewayClassName: istio-waypoint\n"                                              \
	"  listeners: [{name: mesh, port: 15008, protocol: HBONE}]\n---\n"

/*
 * The model of waypoint shop/wp for @yaml (borrowed), or NULL with the first problem in @err
 * (@len bytes). The caller frees the model with l7_config_free.
 */
struct l7_config *l7_world_compile(const char *yaml, char *err, size_t len);

/* Manifests loaded with their pods and bindings computed (l7_world_bind), for tests. */
struct l7_world_bound {
	struct config cfg;
	struct l7_pod *pods;
	struct l7_inputs in; /* trust_domain and service_vip may be set before l7_world_bind */
	struct l7_bindings b;
};

/*
 * Loads @yaml into @w and computes its bindings (@w->in as set by the caller, its config and
 * pods filled in). 0, or -1 with the first problem in @err (@len bytes), @w then freed.
 */
int l7_world_bind(struct l7_world_bound *w, const char *yaml, char *err, size_t len);
void l7_world_unbind(struct l7_world_bound *w);

#endif
