/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The L7 model of a set of manifests for their waypoint shop/wp (config_load_buffer, then
 * l7_compile_config): for the tests and fuzz targets that run the waypoint on a configuration
 * written as Istio YAML.
 */
#ifndef AMBIT_TESTS_L7_WORLD_H
#define AMBIT_TESTS_L7_WORLD_H

#include <stddef.h>

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

#endif
