// SPDX-License-Identifier: Apache-2.0
/*
 * Analysis of Telemetries against the mesh config (API_SEMANTICS.md §8): a provider that
 * extensionProviders does not define (istiod drops the name: nothing is reported to it), a
 * tracing provider ambit does not export spans to (only zipkin and opentelemetry), access
 * logging naming no provider where the mesh has no default (IST0157), and more than one
 * Telemetry of a namespace without selector or targetRefs (IST0160). The mesh config's own
 * defaultProviders are held to the same rules.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decode/decode.h"

#define CONFIG_MAP "ConfigMap"
#define TELEMETRY "Telemetry"

/* Tracers Istio configures that ambit reports no span to. */
static const char *const other_tracers[] = {"skywalking", "datadog", "lightstep", "stackdriver",
					    NULL};

static const struct config_mesh *mesh_of(struct cfg_an *a)
{
	CFG_FOR_SETS(a, c)
	{
		const struct config_mesh *m = config_mesh_of(c);

		if (m)
			return m;
	}
	return NULL;
}

static bool in_list(const char *const *list, const char *s)
{
	for (; *list; list++)
		if (!strcmp(*list, s))
			return true;
	return false;
}

/* Provider @name, written at @field of object @m, as the mesh @mesh defines it. */
static void check_provider(struct cfg_an *a, const struct config_mesh *mesh,
			   const struct config_meta *m, const char *kind, const char *field,
			   const char *name, bool tracing)
{
	const char *pk = config_mesh_provider_kind(mesh, name);

	if (!pk) {
		cfg_an_add(
		    a, m, kind, 0, true, field,
		    "provider %s is not defined in extensionProviders%s", name,
		    mesh ? ""
			 : " (no mesh config: only Istio's prometheus, stackdriver and envoy)");
		return;
	}
	if (!tracing || !strcmp(pk, "zipkin") || !strcmp(pk, "opentelemetry"))
		return;
	if (in_list(other_tracers, pk))
		cfg_an_add(a, m, kind, 0, false, field,
			   "provider %s is a %s tracer: ambit exports spans only to zipkin and "
			   "opentelemetry providers, so no span is reported",
			   name, pk);
	else
		cfg_an_add(a, m, kind, 0, false, field,
			   "provider %s (%s) is not a tracing provider: no span is reported", name,
			   pk);
}

static void check_providers(struct cfg_an *a, const struct config_mesh *mesh,
			    const struct config_meta *m, const char *kind, const char *what,
			    const struct config_strings *names, bool tracing)
{
	char field[160];

	for (size_t i = 0; i < names->n; i++) {
		snprintf(field, sizeof(field), "%s[%zu]", what, i);
		check_provider(a, mesh, m, kind, field, names->items[i], tracing);
	}
}

static void analyze_providers(struct cfg_an *a, const struct config_telemetry *t)
{
	const struct config_mesh *mesh = mesh_of(a);
	char what[96];

	for (size_t i = 0; i < t->n_tracing; i++) {
		snprintf(what, sizeof(what), "spec.tracing[%zu].providers", i);
		check_providers(a, mesh, &t->meta, TELEMETRY, what, &t->tracing[i].providers, true);
	}
	for (size_t i = 0; i < t->n_access_logging; i++) {
		const struct config_telemetry_access_logging *l = &t->access_logging[i];

		snprintf(what, sizeof(what), "spec.accessLogging[%zu].providers", i);
		check_providers(a, mesh, &t->meta, TELEMETRY, what, &l->providers, false);
		/* Istio's telemetry.ProviderAnalyzer. */
		if (!l->providers.n && (!mesh || !mesh->default_access_logging.n)) {
			snprintf(what, sizeof(what), "spec.accessLogging[%zu]", i);
			cfg_an_add(a, &t->meta, TELEMETRY, 0, false, what,
				   "IST0157 InvalidTelemetryProvider: no provider, and the mesh "
				   "config has no defaultProviders.accessLogging: it is ignored");
		}
	}
	for (size_t i = 0; i < t->n_metrics; i++) {
		snprintf(what, sizeof(what), "spec.metrics[%zu].providers", i);
		check_providers(a, mesh, &t->meta, TELEMETRY, what, &t->metrics[i].providers,
				false);
	}
}

/* ---- IST0160 ---- */

static bool namespace_wide(const struct config_telemetry *t)
{
	return !t->has_selector && !t->n_target_refs;
}

/* Whether @t is one of the set before @c (the same object analyzed and in the context). */
static bool seen_before(struct cfg_an *a, const struct config *c, const struct config_telemetry *t)
{
	for (const struct config *const *p = a->sets; p < a->sets + 2 && *p != c; p++)
		for (size_t i = 0; *p && i < (*p)->n_telemetries; i++)
			if (!strcmp((*p)->telemetries[i].meta.namespace, t->meta.namespace) &&
			    !strcmp((*p)->telemetries[i].meta.name, t->meta.name))
				return true;
	return false;
}

static void analyze_namespace_wide(struct cfg_an *a, const struct config_telemetry *t)
{
	char names[512];
	size_t used = 0, n = 0;

	if (!namespace_wide(t))
		return;
	names[0] = '\0';
	CFG_FOR_SETS(a, c)
	{
		for (size_t i = 0; i < c->n_telemetries; i++) {
			const struct config_telemetry *o = &c->telemetries[i];

			if (!namespace_wide(o) || strcmp(o->meta.namespace, t->meta.namespace) ||
			    seen_before(a, c, o))
				continue;
			n++;
			if (used < sizeof(names))
				used += (size_t)snprintf(names + used, sizeof(names) - used, "%s%s",
							 used ? ", " : "", o->meta.name);
		}
	}
	if (n > 1)
		cfg_an_add(a, &t->meta, TELEMETRY, 0, true, NULL,
			   "IST0160 MultipleTelemetriesWithoutWorkloadSelectors: the Telemetries "
			   "[%s] in namespace %s have no workload selector, which can lead to "
			   "undefined behavior (istiod uses the oldest)",
			   names, t->meta.namespace);
}

/* ---- the mesh config's defaultProviders ---- */

static void analyze_mesh(struct cfg_an *a, const struct config_config_map *cm)
{
	const struct config_mesh *m = &cm->mesh;

	check_providers(a, m, &cm->meta, CONFIG_MAP, "data.mesh.defaultProviders.tracing",
			&m->default_tracing, true);
	check_providers(a, m, &cm->meta, CONFIG_MAP, "data.mesh.defaultProviders.metrics",
			&m->default_metrics, false);
	check_providers(a, m, &cm->meta, CONFIG_MAP, "data.mesh.defaultProviders.accessLogging",
			&m->default_access_logging, false);
}

void cfg_analyze_telemetry(struct cfg_an *a)
{
	const struct config *c = a->sets[0];

	for (size_t i = 0; i < c->n_config_maps; i++)
		if (c->config_maps[i].has_mesh)
			analyze_mesh(a, &c->config_maps[i]);
	for (size_t i = 0; i < c->n_telemetries; i++) {
		analyze_providers(a, &c->telemetries[i]);
		analyze_namespace_wide(a, &c->telemetries[i]);
	}
}
