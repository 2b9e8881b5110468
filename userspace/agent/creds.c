// SPDX-License-Identifier: Apache-2.0
/*
 * The certificates of this node's Gateway API gateways, from the CA server (caserver.h, POST
 * /v1/credentials), as Istio's gateways get theirs from istiod's SDS: the agent holds no grant
 * on Secrets outside istio-system (deploy/ambit.yaml), so none on the root key. Each gateway or
 * waypoint pod this node serves (agent_dir) is asked for when it comes and at every resync (15
 * s: a Secret made after its Gateway, or renewed, is served within that); what
 * the CA serves is put in the store as the Kubernetes source puts objects
 * ("ca:secrets/<ns>/<name>"), and what it no longer serves is taken out. istio-system's
 * Secrets come from the agent's own watch (ksource.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>
#include <cjson/cJSON.h>

#include "ambit/fileutil.h"
#include "ambit/log.h"
#include "agent.h"
#include "control/caserver.h"
#include "k8s/kmanifest.h"

#define PREFIX "ca:secrets/"

/* Whether @name is in @names (@n). */
static bool listed(char *const *names, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(names[i], name))
			return true;
	return false;
}

/*
 * The Secrets the CA serves gateway pod @ref into @now (entry names), the store updated; why
 * it serves none of the others appended to @refused_all ("<pod>: <why>").
 */
static int take_pod(struct agent *a, const char *token, const char *ref, char ***now, size_t *n,
		    cJSON *refused_all, bool *changed)
{
	cJSON *secrets = NULL, *refused = NULL, *s;
	char why[512], name[600], **grown;
	int err = caserver_credentials(a->opts.ca_url, a->root_pem, token, ref, &secrets, &refused,
				       why, sizeof(why));

	if (err) {
		pr_warn("credentials of gateway pod %s: %s", ref, why);
		return err;
	}
	cJSON_ArrayForEach(s, refused)
	{
		if (cJSON_IsString(s) &&
		    snprintf(name, sizeof(name), "credentials of %s: %s", ref, s->valuestring) > 0)
			cJSON_AddItemToArray(refused_all, cJSON_CreateString(name));
	}
	cJSON_Delete(refused);
	cJSON_ArrayForEach(s, secrets)
	{
		const char *ns = kjson_str(s, "metadata", "namespace"),
			   *sname = kjson_str(s, "metadata", "name");
		char *text;

		/* istio-system's are the watch's own (one definition of each object). */
		if (!ns || !sname || !strcmp(ns, "istio-system"))
			continue;
		snprintf(name, sizeof(name), PREFIX "%s/%s", ns, sname);
		if (listed(*now, *n, name))
			continue;
		grown = realloc(*now, (*n + 1) * sizeof(**now));
		if (!grown || !(grown[*n] = strdup(name))) {
			*now = grown ? grown : *now;
			err = -ENOMEM;
			break;
		}
		*now = grown;
		(*n)++;
		text = cJSON_PrintUnformatted(s);
		if (!text || confstore_put(&a->conf, name, text, strlen(text), changed))
			err = -ENOMEM;
		if (text) {
			explicit_bzero(text, strlen(text)); /* key material */
			free(text);
		}
	}
	cJSON_Delete(secrets);
	return err;
}

/* This node's gateway pods ("ns/name"), as one hash: what was last asked for, or not. */
static uint64_t gateway_pods(const struct agent *a)
{
	uint64_t h = 0;

	for (size_t i = 0; i < a->rt.n_pods; i++) {
		const struct rt_pod *p = &a->rt.pods[i];

		if (p->here && p->uid && p->agent_dir)
			h = XXH3_64bits_withSeed(p->uid, strlen(p->uid), h);
	}
	return h;
}

bool agent_credentials_due(const struct agent *a)
{
	return a->kube && !a->ca && a->opts.ca_url && a->root_pem &&
	       gateway_pods(a) != a->creds_pods;
}

/* Logged when they change, not at every refresh. */
static void log_refused(struct agent *a, const cJSON *refused)
{
	char *text = cJSON_PrintUnformatted(refused);
	uint64_t h = text ? XXH3_64bits(text, strlen(text)) : 0;
	const cJSON *r;

	free(text);
	if (h == a->creds_refused)
		return;
	a->creds_refused = h;
	cJSON_ArrayForEach(r, refused) pr_warn("%s", r->valuestring);
}

void agent_credentials_refresh(struct agent *a, bool *changed)
{
	char path[4200], *token = NULL, **now = NULL;
	cJSON *refused = cJSON_CreateArray();
	size_t len = 0, n = 0;
	bool failed = false;
	int err;

	if (!refused || !a->kube || a->ca || !a->opts.ca_url || !a->root_pem) {
		cJSON_Delete(refused);
		return;
	}
	a->creds_pods = gateway_pods(a);
	for (size_t i = 0; i < a->rt.n_pods; i++) {
		const struct rt_pod *p = &a->rt.pods[i];

		if (!p->here || !p->agent_dir || !p->uid)
			continue;
		/* The token read again each time (projected tokens rotate). */
		if (!token) {
			snprintf(path, sizeof(path), "%s/token", a->opts.kube_sa_dir);
			err = fileutil_read_file(path, 64 << 10, &token, &len);
			if (err) {
				pr_err("credentials: %.400s: %s", path, strerror(-err));
				failed = true;
				break;
			}
		}
		/* The loop waits on the CA: one that fails is not asked again before the next time.
		 */
		if (take_pod(a, token, p->uid, &now, &n, refused, changed)) {
			failed = true;
			break;
		}
	}
	if (!failed)
		log_refused(a, refused);
	cJSON_Delete(refused);
	if (token) {
		explicit_bzero(token, len);
		free(token);
	}
	/*
	 * Served no more: taken out. A failed request takes nothing out (the last good one keeps
	 * serving, as a Secret whose new version is refused).
	 */
	for (size_t i = 0; !failed && i < a->n_creds; i++)
		if (!listed(now, n, a->creds[i])) {
			pr_info("credentials: %s is served no more", a->creds[i] + strlen(PREFIX));
			confstore_drop(&a->conf, a->creds[i], changed);
		}
	if (failed) {
		/* Keep the old names too: they are still in the store. */
		for (size_t i = 0; i < a->n_creds; i++) {
			char **grown;

			if (listed(now, n, a->creds[i]))
				continue;
			grown = realloc(now, (n + 1) * sizeof(*now));
			if (!grown)
				break;
			now = grown;
			now[n++] = a->creds[i];
			a->creds[i] = NULL;
		}
	}
	agent_credentials_free(a);
	a->creds = now;
	a->n_creds = n;
}

void agent_credentials_free(struct agent *a)
{
	for (size_t i = 0; i < a->n_creds; i++)
		free(a->creds[i]);
	free(a->creds);
	a->creds = NULL;
	a->n_creds = 0;
}
