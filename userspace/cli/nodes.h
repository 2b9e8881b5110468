/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `ambitctl nodes` (nodes.c): each node's capture mode, agent version and Lease, as the agents
 * keep them on Kubernetes (userspace/k8s/klease.h). This half (nodes_fmt.c) renders a
 * LeaseList without I/O, for the unit tests.
 */
#ifndef AMBIT_CLI_NODES_H
#define AMBIT_CLI_NODES_H

#include <stdbool.h>
#include <time.h>

#include <cjson/cJSON.h>

/*
 * The LeaseList @list (its items that klease_read takes, sorted by node) at @now: a table
 * (NODE, CAPTURE, VERSION, RENEWED, STATUS; NAMESPACE first when they are in several) or with
 * @json a JSON array. Returns a malloc'd text (the caller's) and the number of nodes in *@n, or
 * NULL when out of memory.
 */
char *nodes_render(const cJSON *list, time_t now, bool json, int *n);

#endif
