/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the waypoint's fuzz targets (fuzz_waypoint_http1, fuzz_waypoint_h2) share: one input's
 * downstream bytes through a fresh engine on memory transports, the upstream connections it
 * opens answered by the target's own open callback. Header-only: each target is one binary.
 */
#ifndef AMBIT_FUZZ_WAYPOINT_DRIVE_H
#define AMBIT_FUZZ_WAYPOINT_DRIVE_H

#include <arpa/inet.h>
#include <stdlib.h>
#include <cjson/cJSON.h>

#include "ambit/l7.h"
#include "../../waypoint/engine/proxy.h"

/* Every round: the engine's tasks, the peers taking what was written. */
static void wp_drive_pump(struct loop *l, struct transport *down, struct transport *const *ups,
			  const size_t *n_ups)
{
	for (int i = 0; i < 4; i++) {
		size_t n;

		loop_run_once(l, 0);
		transport_mem_output(down, &n);
		transport_mem_take(down, n);
		for (size_t k = 0; k < *n_ups; k++) {
			transport_mem_output(ups[k], &n);
			transport_mem_take(ups[k], n);
		}
	}
}

/*
 * Serves @len bytes of @data (fed @split at a time, 0: at once, then EOF) from a client at
 * 10.0.0.1 to @peer's destination, through an engine with options @o (its connector made
 * here) on a generation of its own copied from @model. @open_up(@arg) sees each upstream and
 * records it in @ups/@n_ups, which are freed here at the end.
 */
static void wp_drive(const struct l7_config *model, struct wp_engine_opts o,
		     struct transport_peer *peer, const uint8_t *data, size_t len, size_t split,
		     int (*open_up)(void *, struct transport *, const union sockaddr_inet *),
		     void *arg, struct transport **ups, size_t *n_ups)
{
	struct l7_config *copy;
	struct transport *down;
	struct wp_engine *e;
	struct wp_gen *g;
	struct loop *l;
	size_t off = 0;
	char err[256];
	cJSON *j;

	/* Each input gets a generation of its own (the engine may keep state in it). */
	j = l7_to_json(model);
	copy = j ? l7_from_json(j, err, sizeof(err)) : NULL;
	cJSON_Delete(j);
	if (!copy)
		abort();
	g = wp_gen_new(copy, 1, err, sizeof(err));
	l = loop_create();
	if (!g || !l)
		abort();
	o.cn = connector_mem_new(l, open_up, arg);
	e = wp_engine_new(l, g, &o);
	/* An odd-length input comes from an IPv6 client: x-forwarded-for and the logs see both. */
	if (len & 1) {
		if (sock_parse_authority("[2001:db8::1]:40000", &peer->client))
			abort();
	} else {
		sockaddr_inet_v4(&peer->client, htonl(0x0a000001), 0);
	}
	down = transport_mem_new(l, peer);
	if (!o.cn || !e || !down || wp_engine_serve(e, down))
		abort();
	while (off < len) {
		size_t n = split ? split : len;

		if (n > len - off)
			n = len - off;
		transport_mem_input(down, (const char *)data + off, n);
		wp_drive_pump(l, down, ups, n_ups);
		off += n;
	}
	transport_mem_input(down, NULL, 0);
	wp_drive_pump(l, down, ups, n_ups);
	wp_engine_destroy(e);
	loop_run_once(l, 0);
	transport_mem_free(down);
	for (size_t k = 0; k < *n_ups; k++)
		transport_mem_free(ups[k]);
	connector_destroy(o.cn);
	wp_gen_put(g);
	loop_destroy(l);
}

#endif
