// SPDX-License-Identifier: Apache-2.0
/*
 * `local port-forward`'s arguments as kubectl reads them (k8s.io/kubectl cmd/portforward and
 * client-go tools/portforward): the target's TYPE/NAME, the --address list and the port specs
 * with their Service and named-port translation. Messages are kubectl's own, so a tutorial's
 * expected output and a user's search for it both still hold. No I/O.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "portfwd.h"

static int say(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int say(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static bool type_is(const char *type, size_t len, const char *const *names)
{
	for (; *names; names++)
		if (strlen(*names) == len && !strncasecmp(type, *names, len))
			return true;
	return false;
}

int portfwd_target_parse(const char *target, enum portfwd_kind *kind, const char **name, char *err,
			 size_t errlen)
{
	static const char *const pods[] = {"pod", "pods", "po", NULL};
	static const char *const svcs[] = {"service", "services", "svc", NULL};
	static const char *const deps[] = {"deployment",      "deployments",	  "deploy",
					   "deployment.apps", "deployments.apps", NULL};
	const char *slash = strchr(target, '/');
	size_t len;

	if (!slash) {
		if (!*target)
			return say(err, errlen,
				   "TYPE/NAME and list of ports are required for "
				   "port-forward");
		*kind = PORTFWD_POD;
		*name = target;
		return 0;
	}
	len = (size_t)(slash - target);
	if (!len || !slash[1] || strchr(slash + 1, '/'))
		return say(err, errlen,
			   "arguments in resource/name form must have a single resource and name");
	if (type_is(target, len, pods))
		*kind = PORTFWD_POD;
	else if (type_is(target, len, svcs))
		*kind = PORTFWD_SERVICE;
	else if (type_is(target, len, deps))
		*kind = PORTFWD_DEPLOYMENT;
	else
		return say(err, errlen, "the server doesn't have a resource type \"%.*s\"",
			   (int)len, target);
	*name = slash + 1;
	return 0;
}

static int addr_add(struct portfwd_addr *out, size_t max, size_t *n, const char *ip, int family,
		    bool all, char *err, size_t errlen)
{
	for (size_t i = 0; i < *n; i++)
		if (!strcmp(out[i].ip, ip))
			return 0;
	if (*n == max)
		return say(err, errlen, "at most %zu addresses", max);
	snprintf(out[*n].ip, sizeof(out[*n].ip), "%s", ip);
	out[*n].family = family;
	out[*n].all = all;
	(*n)++;
	return 0;
}

static int addr_cmp(const void *a, const void *b)
{
	return strcmp(((const struct portfwd_addr *)a)->ip, ((const struct portfwd_addr *)b)->ip);
}

/* One element of an --address list. */
static int addr_one(const char *s, struct portfwd_addr *out, size_t max, size_t *n, char *err,
		    size_t errlen)
{
	unsigned char bin[sizeof(struct in6_addr)];
	int ret;

	if (!strcmp(s, "localhost")) {
		ret = addr_add(out, max, n, "127.0.0.1", AF_INET, true, err, errlen);
		return ret ? ret : addr_add(out, max, n, "::1", AF_INET6, true, err, errlen);
	}
	if (strlen(s) < INET6_ADDRSTRLEN && inet_pton(AF_INET, s, bin) == 1)
		return addr_add(out, max, n, s, AF_INET, false, err, errlen);
	if (strlen(s) < INET6_ADDRSTRLEN && inet_pton(AF_INET6, s, bin) == 1)
		return addr_add(out, max, n, s, AF_INET6, false, err, errlen);
	return say(err, errlen, "%s is not a valid IP", s);
}

int portfwd_addrs_parse(char *const *vals, size_t n, struct portfwd_addr *out, size_t max,
			size_t *nout, char *err, size_t errlen)
{
	int ret = 0;

	*nout = 0;
	if (!n)
		ret = addr_one("localhost", out, max, nout, err, errlen);
	for (size_t i = 0; i < n && !ret; i++) {
		char *list = strdup(vals[i]), *save = NULL;

		if (!list)
			return -ENOMEM;
		/* A trailing or doubled comma is an empty element, which is no IP (as kubectl). */
		for (char *p = list, *tok; !ret; p = NULL) {
			tok = strtok_r(p, ",", &save);
			if (!tok)
				break;
			ret = addr_one(tok, out, max, nout, err, errlen);
		}
		free(list);
	}
	if (!ret)
		qsort(out, *nout, sizeof(*out), addr_cmp);
	return ret;
}

static bool all_digits(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

/* Go's strconv.ParseUint(@s, 10, 16), with its error text. */
static int parse_u16(const char *s, const char *which, uint16_t *v, char *err, size_t errlen)
{
	unsigned long n;

	if (!all_digits(s))
		return say(err, errlen,
			   "error parsing %s port '%s': strconv.ParseUint: parsing \"%s\": invalid "
			   "syntax",
			   which, s, s);
	errno = 0;
	n = strtoul(s, NULL, 10);
	if (errno || n > UINT16_MAX)
		return say(
		    err, errlen,
		    "error parsing %s port '%s': strconv.ParseUint: parsing \"%s\": value out "
		    "of range",
		    which, s, s);
	*v = (uint16_t)n;
	return 0;
}

/* client-go's LookupContainerPortNumberByName. */
static int container_port(const struct config_pod_spec *spec, const char *pod, const char *name,
			  uint16_t *port, char *err, size_t errlen)
{
	for (size_t i = 0; spec && i < spec->nports; i++) {
		if (spec->ports[i].name && !strcmp(spec->ports[i].name, name)) {
			*port = spec->ports[i].port;
			return 0;
		}
	}
	return say(err, errlen, "Pod '%s' does not have a named port '%s'", pod, name);
}

/*
 * kubectl's LookupContainerPortNumberByServicePort: service port @port to the port the pod
 * serves it on (targetPort: a number, the port itself when omitted, or a containerPort name; a
 * headless Service's port as is).
 */
static int service_target(const struct config_service *svc, const char *pod,
			  const struct config_pod_spec *spec, unsigned long port, uint16_t *out,
			  char *err, size_t errlen)
{
	for (size_t i = 0; i < svc->nports; i++) {
		const struct config_service_port *p = &svc->ports[i];

		if (p->port != port)
			continue;
		if (svc->cluster_ip && !strcmp(svc->cluster_ip, "None")) {
			*out = p->port;
			return 0;
		}
		if (p->target_port_name)
			return container_port(spec, pod, p->target_port_name, out, err, errlen);
		*out = p->target_port ? p->target_port : p->port;
		return 0;
	}
	return say(err, errlen, "Service %s does not have a service port %lu", svc->meta.name,
		   port);
}

/* One spec, kubectl's translateServicePortToTargetPort or convertPodNamedPortToNumber and then
 * its parsePorts. */
static int port_one(const char *spec, const struct config_service *svc, const char *pod,
		    const struct config_pod_spec *pspec, struct portfwd_port *out, char *err,
		    size_t errlen)
{
	char local[64], remote[64];
	const char *colon = strchr(spec, ':');
	uint16_t to = 0;
	int ret;

	if (colon && strchr(colon + 1, ':'))
		return say(err, errlen, "invalid port format '%s'", spec);
	if (snprintf(local, sizeof(local), "%.*s", colon ? (int)(colon - spec) : (int)strlen(spec),
		     spec) >= (int)sizeof(local) ||
	    snprintf(remote, sizeof(remote), "%s", colon ? colon + 1 : spec) >= (int)sizeof(remote))
		return say(err, errlen, "invalid port format '%s'", spec);
	if (svc) {
		unsigned long num = 0;

		if (all_digits(remote)) {
			errno = 0;
			num = strtoul(remote, NULL, 10);
			if (errno)
				num = ~0UL;
		} else {
			size_t i;

			for (i = 0; i < svc->nports; i++)
				if (svc->ports[i].name && !strcmp(svc->ports[i].name, remote))
					break;
			if (i == svc->nports)
				return say(err, errlen,
					   "Service '%s' does not have a named port '%s'",
					   svc->meta.name, remote);
			num = svc->ports[i].port;
			/* A bare name listens on the service port's number. */
			if (!strcmp(local, remote))
				snprintf(local, sizeof(local), "%lu", num);
		}
		ret = service_target(svc, pod, pspec, num, &to, err, errlen);
		if (ret)
			return ret;
		snprintf(remote, sizeof(remote), "%u", to);
	} else if (!all_digits(remote)) {
		ret = container_port(pspec, pod, remote, &to, err, errlen);
		if (ret)
			return ret;
		if (!strcmp(local, remote))
			snprintf(local, sizeof(local), "%u", to);
		snprintf(remote, sizeof(remote), "%u", to);
	}
	ret = parse_u16(*local ? local : "0", "local", &out->local, err, errlen);
	if (!ret)
		ret = parse_u16(remote, "remote", &out->remote, err, errlen);
	if (!ret && !out->remote)
		return say(err, errlen, "remote port must be > 0");
	return ret;
}

int portfwd_ports_resolve(char *const *specs, size_t n, const struct config_service *svc,
			  const char *pod, const struct config_pod_spec *spec,
			  struct portfwd_port *out, char *err, size_t errlen)
{
	if (!n)
		return say(err, errlen,
			   "TYPE/NAME and list of ports are required for port-forward");
	if (n > PORTFWD_MAX_PORTS)
		return say(err, errlen, "at most %d ports", PORTFWD_MAX_PORTS);
	for (size_t i = 0; i < n; i++) {
		int ret = port_one(specs[i], svc, pod, spec, &out[i], err, errlen);

		if (ret)
			return ret;
	}
	return 0;
}
