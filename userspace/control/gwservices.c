// SPDX-License-Identifier: Apache-2.0
/*
 * The Services Istio's gateway deployment controller makes of Gateway API Gateways, as manifests
 * (gwservices.h): a Gateway of class istio gets `<name>-istio` (type LoadBalancer, or the one its
 * networking.istio.io/service-type annotation names, one port per listener port, selecting the
 * pods labelled gateway.networking.k8s.io/gateway-name: <name>); a Gateway of class
 * istio-east-west its Service `<name>` (east_west_service). The local cluster keeps them in its
 * store (local/gwdeploy.c); the waypoint controller renders a class istio Gateway's on
 * Kubernetes from deploy/'s template.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gwservices.h"

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

int gwservices_render(const struct config *cfg, char **out)
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

bool gwservices_orphan(const struct config *cfg, const struct config_service *s)
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
