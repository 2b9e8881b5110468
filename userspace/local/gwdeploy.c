// SPDX-License-Identifier: Apache-2.0
/*
 * The local cluster's part of Istio's gateway deployment controller: each Gateway API Gateway of
 * class istio gets a Service `<name>-istio` in its namespace (type LoadBalancer, or the one its
 * networking.istio.io/service-type annotation names, one port per listener port, selecting the
 * pods labelled gateway.networking.k8s.io/gateway-name: <name>),
 * kept in the store as an object of its own, as the controller creates it in the API server
 * (control/gwservices.c renders them); plan.c makes the pod. A Service of a Gateway that is gone
 * (or changed class) is removed. Likewise each Gateway of class istio-east-west gets its
 * Service `<name>`.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/gwservices.h"
#include "local.h"
#include "objstore.h"

static int sync_locked(const char *state, bool *changed)
{
	struct config cfg, tmp;
	struct store_objs cur = {0}, want = {0};
	struct config_diags diags = {0};
	struct config_load_opts opts = {.on_object = store_objs_collect, .arg = &want};
	char *text = NULL;
	int ret;

	config_init(&cfg);
	config_init(&tmp);
	ret = load_state_quiet(&cfg, state);
	if (!ret)
		ret = store_load(state, &cur, &diags);
	if (!ret)
		ret = gwservices_render(&cfg, &text);
	if (!ret && text)
		ret = config_load_buffer_opts(&tmp, "gateway-deployments", text, strlen(text),
					      &opts, &diags);
	for (size_t i = 0; !ret && i < want.n; i++) {
		const struct store_obj *had = store_objs_find(&cur, &want.items[i], 0);

		if (had && !strcmp(had->yaml, want.items[i].yaml))
			continue;
		ret = store_obj_path(state, &want.items[i]);
		ret = ret ? ret : store_write(&want.items[i]);
		*changed = true;
	}
	for (size_t i = 0; !ret && i < cfg.n_services; i++) {
		const struct config_service *s = &cfg.services[i];
		struct store_obj id = {.group = "", .kind = "Service"};
		struct store_obj *had;

		if (!gwservices_orphan(&cfg, s))
			continue;
		id.namespace = s->meta.namespace;
		id.name = s->meta.name;
		had = store_objs_find(&cur, &id, 0);
		if (had && !(ret = store_obj_path(state, had)))
			ret = store_remove(state, had);
		*changed = true;
	}
	if (!ret && *changed && !store_generation_bump(state))
		ret = -errno;
	free(text);
	store_objs_free(&cur);
	store_objs_free(&want);
	config_diags_free(&diags);
	config_free(&cfg);
	config_free(&tmp);
	return ret;
}

int gwdeploy_sync(const char *state)
{
	bool changed = false;
	int lock = store_lock(state), ret;

	if (lock < 0)
		return lock;
	ret = sync_locked(state, &changed);
	store_unlock(lock);
	if (ret)
		fprintf(stderr, "ambitctl: the Services of class istio Gateways: %s\n",
			strerror(-ret));
	return ret;
}
