// SPDX-License-Identifier: Apache-2.0
/*
 * The local cluster's part of Istio's gateway deployment controller: each Gateway API Gateway of
 * class istio gets a Service `<name>-istio` in its namespace (type LoadBalancer, or the one its
 * networking.istio.io/service-type annotation names, one port per listener port, selecting the
 * pods labelled gateway.networking.k8s.io/gateway-name: <name>),
 * kept in the store as an object of its own, as the controller creates it in the API server;
 * plan.c makes the pod. A Service of a Gateway that is gone (or changed class) is removed.
 * Likewise each Gateway of class istio-east-west gets its Service `<name>` (east_west_service).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "local.h"
#include "objstore.h"

#define MANAGED_LABEL "gateway.istio.io/managed"
#define MANAGED_VALUE "istio.io-gateway-controller"
#define MANAGED_EASTWEST "istio.io-eastwest-controller"

static bool istio_class(const struct config_k8s_gateway *g)
{
	return g->class_name && !strcmp(g->class_name, CONFIG_GATEWAY_CLASS);
}

static bool east_west_class(const struct config_k8s_gateway *g)
{
	return g->class_name && !strcmp(g->class_name, CONFIG_EASTWEST_CLASS);
}

/* Appends printf(@fmt) to *@buf. 0 or -ENOMEM (then *@buf is freed). */
static int cat(char **buf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int cat(char **buf, const char *fmt, ...)
{
	char *more = NULL, *all = NULL;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&more, fmt, ap);
	va_end(ap);
	if (n < 0 || asprintf(&all, "%s%s", *buf ? *buf : "", more) < 0) {
		free(n < 0 ? NULL : more);
		free(*buf);
		*buf = NULL;
		return -ENOMEM;
	}
	free(more);
	free(*buf);
	*buf = all;
	return 0;
}

/*
 * An east-west gateway's Service, as Istio's controller makes it (its deployment testdata
 * istio-east-west.yaml): the Gateway's own name, LoadBalancer, both families where the cluster
 * has them, the status port and 15008 ("mesh"), the Gateway's network label.
 */
static int east_west_service(char **out, const struct config_k8s_gateway *g)
{
	const char *net = config_label_get(&g->meta.labels, CONFIG_LABEL_NETWORK);

	return cat(out,
		   "apiVersion: v1\nkind: Service\nmetadata:\n  name: %s\n  namespace: %s\n"
		   "  annotations:\n    networking.istio.io/traffic-distribution: PreferClose\n"
		   "  labels:\n    %s: %s\n    %s: %s\n"
		   "    gateway.networking.k8s.io/gateway-class-name: %s\n%s%s%s"
		   "spec:\n  type: LoadBalancer\n  ipFamilyPolicy: PreferDualStack\n"
		   "  selector:\n    %s: %s\n  ports:\n"
		   "  - {name: status-port, port: 15021, targetPort: 15020, protocol: TCP, "
		   "appProtocol: tcp}\n"
		   "  - {name: mesh, port: 15008, protocol: TCP, appProtocol: all}\n---\n",
		   g->meta.name, g->meta.namespace, CONFIG_LABEL_GATEWAY_NAME, g->meta.name,
		   MANAGED_LABEL, MANAGED_EASTWEST, CONFIG_EASTWEST_CLASS,
		   net ? "    " CONFIG_LABEL_NETWORK ": \"" : "", net ? net : "", net ? "\"\n" : "",
		   CONFIG_LABEL_GATEWAY_NAME, g->meta.name);
}

int gwdeploy_services(const struct config *cfg, char **out)
{
	*out = NULL;
	for (size_t i = 0; i < cfg->n_k8s_gateways; i++) {
		const struct config_k8s_gateway *g = &cfg->k8s_gateways[i];
		const char *annot =
		    config_label_get(&g->meta.annotations, CONFIG_ANNOT_SERVICE_TYPE);
		const char *type = config_gateway_service_type(annot, false);
		int err;

		if (east_west_class(g)) {
			err = east_west_service(out, g);
			if (err)
				return err;
			continue;
		}
		if (!istio_class(g))
			continue;
		/* As the API server refuses the Service Istio's controller would make of it. */
		if (!type) {
			fprintf(stderr,
				"ambitctl: gateway %s/%s: annotation %s: \"%.64s\" is not "
				"ClusterIP, NodePort or LoadBalancer: no Service made\n",
				g->meta.namespace, g->meta.name, CONFIG_ANNOT_SERVICE_TYPE, annot);
			continue;
		}
		err = cat(out,
			  "apiVersion: v1\nkind: Service\nmetadata:\n  name: %s-istio\n"
			  "  namespace: %s\n  labels:\n    %s: %s\n    %s: %s\n"
			  "spec:\n  type: %s\n  selector:\n    %s: %s\n  ports:\n",
			  g->meta.name, g->meta.namespace, CONFIG_LABEL_GATEWAY_NAME, g->meta.name,
			  MANAGED_LABEL, MANAGED_VALUE, type, CONFIG_LABEL_GATEWAY_NAME,
			  g->meta.name);
		/* One port per listener port, named after its first listener. */
		for (size_t l = 0; !err && l < g->n_listeners; l++) {
			bool seen = false;

			for (size_t k = 0; k < l; k++)
				seen |= g->listeners[k].port == g->listeners[l].port;
			if (!seen)
				err = cat(out, "  - name: %s\n    port: %u\n", g->listeners[l].name,
					  g->listeners[l].port);
		}
		if (err || (err = cat(out, "---\n")))
			return err;
	}
	return 0;
}

/* Whether Service @s is one this controller made for a Gateway @cfg no longer has. */
static bool orphan(const struct config *cfg, const struct config_service *s)
{
	const char *m = config_label_get(&s->meta.labels, MANAGED_LABEL);
	const char *gn = config_label_get(&s->meta.labels, CONFIG_LABEL_GATEWAY_NAME);

	bool ew = m && !strcmp(m, MANAGED_EASTWEST);

	if (!m || (strcmp(m, MANAGED_VALUE) && !ew) || !gn)
		return false;
	for (size_t i = 0; i < cfg->n_k8s_gateways; i++) {
		const struct config_k8s_gateway *g = &cfg->k8s_gateways[i];

		if (!strcmp(g->meta.namespace, s->meta.namespace) && !strcmp(g->meta.name, gn))
			return ew ? !east_west_class(g) : !istio_class(g);
	}
	return true;
}

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
		ret = gwdeploy_services(&cfg, &text);
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

		if (!orphan(&cfg, s))
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
