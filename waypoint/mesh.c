// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cjson/cJSON.h>

#include "ambit/log.h"
#include "mesh.h"
#include "remote.h"

/*
 * ISTIO_MUTUAL listeners of @l7: the proxy's own certificate (@id's in @s) and the mesh root,
 * as Envoy's gateways take them from SDS. A certificate missing leaves them empty (not served).
 */
static int mesh_certs(struct l7_config *l7, const struct snapshot *s, const char *id)
{
	const struct snap_cert *own = NULL;

	for (size_t i = 0; i < s->n_certs && !own; i++)
		if (s->certs[i].identity && !strcmp(s->certs[i].identity, id))
			own = &s->certs[i];
	for (size_t i = 0; i < l7->n_listeners; i++)
		for (size_t k = 0; k < l7->listeners[i].n_certs; k++) {
			struct l7_tls_cert *t = &l7->listeners[i].certs[k];

			if (!t->mesh || !own || !own->key_pem || !s->root_pem)
				continue;
			free(t->cert);
			free(t->key);
			free(t->ca);
			t->cert = strdup(own->cert_pem);
			t->key = strdup(own->key_pem);
			t->ca = strdup(s->root_pem);
			if (!t->cert || !t->key || !t->ca)
				return -ENOMEM;
		}
	return 0;
}

/* The snapshot's own certificate for @identity is loaded (a TLS context exists). */
static bool ready(const struct mesh_snap *zs)
{
	const struct l7_config *l7 = zs && zs->snap ? zs->snap->l7 : NULL;

	return l7 && l7->identity && mesh_snap_ctx(zs, l7->identity, true) &&
	       mesh_snap_ctx(zs, l7->identity, false);
}

int wp_mesh_start(struct wp_mesh *m, const char *socket, unsigned int wait_s)
{
	struct timespec tick = {.tv_nsec = 100 * 1000 * 1000};

	memset(m, 0, sizeof(*m));
	m->st = mesh_state_create();
	if (!m->st)
		return -ENOMEM;
	m->follow = agent_follow_start(m->st, socket);
	if (!m->follow) {
		int err = -errno;

		mesh_state_destroy(m->st);
		m->st = NULL;
		return err;
	}
	for (unsigned int i = 1; !wait_s || i <= wait_s * 10; i++) {
		struct mesh_snap *zs = mesh_state_get(m->st);
		bool ok = ready(zs);

		if (ok)
			m->identity = strdup(zs->snap->l7->identity);
		mesh_snap_put(zs);
		if (ok)
			return m->identity ? 0 : -ENOMEM;
		if (!wait_s && i % 600 == 0)
			pr_info("no config from %s yet (%u s): a gateway's comes once a Gateway "
				"selects its pod; waiting",
				socket, i / 10);
		nanosleep(&tick, NULL);
	}
	wp_mesh_stop(m);
	return -ETIMEDOUT;
}

void wp_mesh_stop(struct wp_mesh *m)
{
	agent_follow_stop(m->follow);
	mesh_state_destroy(m->st);
	free(m->identity);
	memset(m, 0, sizeof(*m));
}

struct wp_gen *wp_mesh_gen(struct wp_mesh *m)
{
	struct mesh_snap *zs = mesh_state_get(m->st);
	struct wp_gen *g = NULL;
	struct wp_remotes *rm = NULL;
	struct l7_config *l7;
	char err[512];

	if (!zs || !zs->snap->l7 || zs->snap->version <= m->gen_version)
		goto out;
	/* Whatever happens to this one, it is not tried again: the next snapshot is. */
	m->gen_version = zs->snap->version;
	if (!zs->snap->l7->identity || strcmp(zs->snap->l7->identity, m->identity)) {
		pr_err("snapshot %llu is for %s, not this waypoint's %s: ignored",
		       (unsigned long long)zs->snap->version,
		       zs->snap->l7->identity ? zs->snap->l7->identity : "(nobody)", m->identity);
		goto out;
	}
	l7 = wp_l7_copy(zs->snap->l7, err, sizeof(err));
	if (l7 && mesh_certs(l7, zs->snap, m->identity)) {
		l7_config_free(l7);
		l7 = NULL;
		snprintf(err, sizeof(err), "out of memory");
	}
	/*
	 * Clusters of this one's network: their pods among a Service's endpoints, reached
	 * directly (a waypoint's and an ingress gateway's; an east-west gateway has no use).
	 */
	if (l7 && !l7->east_west && wp_peers_add(l7, zs->snap)) {
		l7_config_free(l7);
		l7 = NULL;
		snprintf(err, sizeof(err), "other clusters' endpoints: out of memory");
	}
	/*
	 * A global Service's endpoints in other networks, as hosts of its clusters: a waypoint's
	 * (an east-west gateway passes to its own network alone; an ingress gateway stays in its).
	 */
	if (l7 && zs->snap->n_remote_services && !l7->gateway && !l7->east_west) {
		int rerr;

		rm = wp_remotes_add(l7, zs->snap, &rerr);
		if (rerr) {
			l7_config_free(l7);
			l7 = NULL;
			snprintf(err, sizeof(err), "remote endpoints: %s", strerror(-rerr));
		}
	}
	if (l7)
		g = wp_gen_new(l7, zs->snap->version, err, sizeof(err));
	if (g) {
		g->remotes = rm;
		rm = NULL;
		if (zs->snap->network && *zs->snap->network &&
		    !(g->network = strdup(zs->snap->network))) {
			wp_gen_put(g);
			g = NULL;
			snprintf(err, sizeof(err), "out of memory");
		}
	}
	wp_remotes_free(rm);
	if (g && (wp_gen_set_cluster_id(g, zs->snap->cluster_id) ||
		  wp_gen_set_trust_domains(g, zs->snap->trust_domain,
					   (const char *const *)zs->snap->trust_domain_aliases,
					   zs->snap->n_trust_domain_aliases))) {
		wp_gen_put(g);
		g = NULL;
		snprintf(err, sizeof(err), "out of memory");
	}
	if (!g)
		pr_err(
		    "snapshot %llu: the L7 config does not load, the last good one serves on: %s",
		    (unsigned long long)zs->snap->version, err);
out:
	mesh_snap_put(zs);
	return g;
}

static struct tls_ctx *ref(struct tls_ctx *c)
{
	return c ? tls_ctx_get(c) : NULL;
}

int wp_mesh_creds(void *arg, const char **identity, struct tls_ctx **ctx)
{
	struct wp_mesh *m = arg;
	struct mesh_snap *zs = mesh_state_get(m->st);

	*identity = m->identity;
	*ctx = ref(mesh_snap_ctx(zs, m->identity, false));
	mesh_snap_put(zs);
	return *ctx ? 0 : -ENOKEY;
}

struct tls_ctx *wp_mesh_server_ctx(struct wp_mesh *m)
{
	struct mesh_snap *zs = mesh_state_get(m->st);
	struct tls_ctx *ctx = ref(mesh_snap_ctx(zs, m->identity, true));

	mesh_snap_put(zs);
	return ctx;
}
