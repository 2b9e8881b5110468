// SPDX-License-Identifier: Apache-2.0
/*
 * `ambitctl local port-forward`'s arguments (userspace/cli/portfwd_spec.c), read as kubectl
 * reads them: TYPE/NAME forms, --address lists (localhost's two addresses, sorted and
 * deduplicated), port specs (LOCAL:REMOTE, PORT, :REMOTE) and their translation through a
 * Service (numeric, omitted and named targetPorts, service ports by name, headless) or a pod's
 * named containerPorts, with kubectl's messages for what it refuses.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "cli/portfwd.h"

static struct config_container_port cports[] = {{"http-web", 9080, "TCP"}, {NULL, 7000, "TCP"}};
static struct config_pod_spec spec = {.nports = 2, .ports = cports};
static struct config_service_port sports[] = {
    {.name = "http", .port = 80, .target_port = 8080},
    {.name = "web", .port = 81, .target_port_name = "http-web"},
    {.name = "same", .port = 9000},
    {.name = "ghost", .port = 82, .target_port_name = "nope"},
};
static struct config_service svc = {
    .meta = {.name = "server", .namespace = "mesh"}, .nports = 4, .ports = sports};

static void test_target(void **state)
{
	enum portfwd_kind kind;
	const char *name;
	char err[256];

	assert_int_equal(portfwd_target_parse("svc/web", &kind, &name, err, sizeof(err)), 0);
	assert_int_equal(kind, PORTFWD_SERVICE);
	assert_string_equal(name, "web");
	assert_int_equal(portfwd_target_parse("Services/web", &kind, &name, err, sizeof(err)), 0);
	assert_int_equal(kind, PORTFWD_SERVICE);
	assert_int_equal(portfwd_target_parse("po/web-0", &kind, &name, err, sizeof(err)), 0);
	assert_int_equal(kind, PORTFWD_POD);
	assert_int_equal(portfwd_target_parse("web-0", &kind, &name, err, sizeof(err)), 0);
	assert_int_equal(kind, PORTFWD_POD);
	assert_string_equal(name, "web-0");
	assert_int_equal(
	    portfwd_target_parse("deployment.apps/web", &kind, &name, err, sizeof(err)), 0);
	assert_int_equal(kind, PORTFWD_DEPLOYMENT);
	assert_int_equal(portfwd_target_parse("deploy/web", &kind, &name, err, sizeof(err)), 0);
	assert_int_equal(kind, PORTFWD_DEPLOYMENT);
	assert_int_equal(portfwd_target_parse("rs/web", &kind, &name, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "the server doesn't have a resource type \"rs\"");
	assert_int_equal(portfwd_target_parse("svc/", &kind, &name, err, sizeof(err)), -EINVAL);
	assert_int_equal(portfwd_target_parse("a/b/c", &kind, &name, err, sizeof(err)), -EINVAL);
	assert_string_equal(err,
			    "arguments in resource/name form must have a single resource and name");
}

static void test_addrs(void **state)
{
	struct portfwd_addr a[PORTFWD_MAX_ADDRS];
	char *both[] = {"::1,0.0.0.0", "localhost"};
	char *bad[] = {"127.0.0.1,example.com"};
	char *trailing[] = {"127.0.0.1,"};
	char err[256];
	size_t n;

	assert_int_equal(portfwd_addrs_parse(NULL, 0, a, PORTFWD_MAX_ADDRS, &n, err, sizeof(err)),
			 0);
	assert_int_equal(n, 2);
	assert_string_equal(a[0].ip, "127.0.0.1");
	assert_int_equal(a[0].family, AF_INET);
	assert_true(a[0].all);
	assert_string_equal(a[1].ip, "::1");
	assert_int_equal(a[1].family, AF_INET6);
	assert_true(a[1].all);
	/* An address named twice (::1, by itself and as localhost's) listens once, kept as given.
	 */
	assert_int_equal(portfwd_addrs_parse(both, 2, a, PORTFWD_MAX_ADDRS, &n, err, sizeof(err)),
			 0);
	assert_int_equal(n, 3);
	assert_string_equal(a[0].ip, "0.0.0.0");
	assert_false(a[0].all);
	assert_string_equal(a[1].ip, "127.0.0.1");
	assert_true(a[1].all);
	assert_string_equal(a[2].ip, "::1");
	assert_false(a[2].all);
	assert_int_equal(portfwd_addrs_parse(bad, 1, a, PORTFWD_MAX_ADDRS, &n, err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "example.com is not a valid IP");
	assert_int_equal(
	    portfwd_addrs_parse(trailing, 1, a, PORTFWD_MAX_ADDRS, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 1);
}

/* The one port @spec resolves to, or the error text in @err. */
static int one(const char *s, const struct config_service *sv, struct portfwd_port *p, char *err)
{
	char *specs[] = {(char *)s};

	return portfwd_ports_resolve(specs, 1, sv, "server-0", &spec, p, err, 256);
}

static void test_pod_ports(void **state)
{
	struct portfwd_port p;
	char err[256];

	assert_int_equal(one("8080:80", NULL, &p, err), 0);
	assert_int_equal(p.local, 8080);
	assert_int_equal(p.remote, 80);
	assert_int_equal(one("7000", NULL, &p, err), 0);
	assert_int_equal(p.local, 7000);
	assert_int_equal(p.remote, 7000);
	assert_int_equal(one(":7000", NULL, &p, err), 0);
	assert_int_equal(p.local, 0);
	assert_int_equal(p.remote, 7000);
	/* A named containerPort: a bare name listens on its number too. */
	assert_int_equal(one("http-web", NULL, &p, err), 0);
	assert_int_equal(p.local, 9080);
	assert_int_equal(p.remote, 9080);
	assert_int_equal(one("5000:http-web", NULL, &p, err), 0);
	assert_int_equal(p.local, 5000);
	assert_int_equal(p.remote, 9080);
	assert_int_equal(one("nope", NULL, &p, err), -EINVAL);
	assert_string_equal(err, "Pod 'server-0' does not have a named port 'nope'");
	assert_int_equal(one("8080:0", NULL, &p, err), -EINVAL);
	assert_string_equal(err, "remote port must be > 0");
	assert_int_equal(one("1:2:3", NULL, &p, err), -EINVAL);
	assert_string_equal(err, "invalid port format '1:2:3'");
	assert_int_equal(one("x:80", NULL, &p, err), -EINVAL);
	assert_string_equal(err, "error parsing local port 'x': strconv.ParseUint: parsing \"x\": "
				 "invalid syntax");
	assert_int_equal(one("70000:80", NULL, &p, err), -EINVAL);
	assert_string_equal(err, "error parsing local port '70000': strconv.ParseUint: parsing "
				 "\"70000\": value out of range");
	assert_int_equal(one("80:70000", NULL, &p, err), -EINVAL);
	assert_string_equal(err, "error parsing remote port '70000': strconv.ParseUint: parsing "
				 "\"70000\": value out of range");
}

static void test_service_ports(void **state)
{
	struct config_service headless = svc;
	struct portfwd_port p;
	char err[256];

	/* kubectl keeps LOCAL and forwards to the targetPort (8080 -> 8080 here, 80 -> 8080). */
	assert_int_equal(one("8080:80", &svc, &p, err), 0);
	assert_int_equal(p.local, 8080);
	assert_int_equal(p.remote, 8080);
	assert_int_equal(one("80", &svc, &p, err), 0);
	assert_int_equal(p.local, 80);
	assert_int_equal(p.remote, 8080);
	assert_int_equal(one(":80", &svc, &p, err), 0);
	assert_int_equal(p.local, 0);
	assert_int_equal(p.remote, 8080);
	/* targetPort omitted: the port itself. */
	assert_int_equal(one("9000", &svc, &p, err), 0);
	assert_int_equal(p.remote, 9000);
	/* A named targetPort, resolved against the pod's containerPorts. */
	assert_int_equal(one("5000:81", &svc, &p, err), 0);
	assert_int_equal(p.local, 5000);
	assert_int_equal(p.remote, 9080);
	/* A service port by name: a bare name listens on the service port's number. */
	assert_int_equal(one("http", &svc, &p, err), 0);
	assert_int_equal(p.local, 80);
	assert_int_equal(p.remote, 8080);
	assert_int_equal(one("6000:web", &svc, &p, err), 0);
	assert_int_equal(p.local, 6000);
	assert_int_equal(p.remote, 9080);
	assert_int_equal(one("8080:8080", &svc, &p, err), -EINVAL);
	assert_string_equal(err, "Service server does not have a service port 8080");
	assert_int_equal(one("8080:99999", &svc, &p, err), -EINVAL);
	assert_string_equal(err, "Service server does not have a service port 99999");
	assert_int_equal(one("grpc", &svc, &p, err), -EINVAL);
	assert_string_equal(err, "Service 'server' does not have a named port 'grpc'");
	assert_int_equal(one("82", &svc, &p, err), -EINVAL);
	assert_string_equal(err, "Pod 'server-0' does not have a named port 'nope'");
	/* Headless: the service port is the pod's. */
	headless.cluster_ip = "None";
	assert_int_equal(one("8080:80", &headless, &p, err), 0);
	assert_int_equal(p.remote, 80);
}

static void test_several(void **state)
{
	char *specs[] = {"8080:80", ":81", "9000"};
	struct portfwd_port p[3];
	char err[256];

	assert_int_equal(
	    portfwd_ports_resolve(specs, 3, &svc, "server-0", &spec, p, err, sizeof(err)), 0);
	assert_int_equal(p[0].remote, 8080);
	assert_int_equal(p[1].local, 0);
	assert_int_equal(p[1].remote, 9080);
	assert_int_equal(p[2].local, 9000);
	assert_int_equal(
	    portfwd_ports_resolve(specs, 0, &svc, "server-0", &spec, p, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "TYPE/NAME and list of ports are required for port-forward");
	/* Without the pod's spec (a waypoint's pod) a named port cannot be found. */
	assert_int_equal(
	    portfwd_ports_resolve(specs + 1, 1, &svc, "server-0", NULL, p, err, sizeof(err)),
	    -EINVAL);
	assert_string_equal(err, "Pod 'server-0' does not have a named port 'http-web'");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_target),    cmocka_unit_test(test_addrs),
	    cmocka_unit_test(test_pod_ports), cmocka_unit_test(test_service_ports),
	    cmocka_unit_test(test_several),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
