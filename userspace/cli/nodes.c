// SPDX-License-Identifier: Apache-2.0
/*
 * `ambitctl nodes [--kubeconfig F] [-n NS] [-o json]`: on Kubernetes, which capture mode each
 * node's agent took, its version and whether it keeps its Lease (userspace/k8s/klease.h),
 * from the Leases the agents keep, with the user's kubeconfig (it lists Leases: a cluster
 * administrator's access, or `list` on coordination.k8s.io leases in ambit's namespace).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl.h"
#include "k8s/kconn.h"
#include "k8s/klease.h"
#include "nodes.h"

static const char usage_text[] =
    "usage: ambitctl nodes [--kubeconfig F] [-n NAMESPACE] [-o json]\n"
    "  each node's capture mode, agent version and Lease (all namespaces unless -n)\n";

/* @in for a URL's query: what is not unreserved (RFC 3986 §2.3) percent-encoded. */
static int query_escape(const char *in, char *out, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (; *in; in++) {
		unsigned char ch = (unsigned char)*in;
		bool plain = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			     (ch >= '0' && ch <= '9') || strchr("-._~/", ch);

		if (o + 4 > len)
			return -ENAMETOOLONG;
		if (plain) {
			out[o++] = (char)ch;
			continue;
		}
		out[o++] = '%';
		out[o++] = hex[ch >> 4];
		out[o++] = hex[ch & 15];
	}
	out[o] = '\0';
	return 0;
}

int cmd_nodes(int argc, char **argv)
{
	const char *kubeconfig = NULL, *ns = NULL;
	char sel[256], path[800], *resp = NULL, *text;
	struct kconn k = {0};
	bool json = false;
	cJSON *list = NULL;
	int ret, n = 0;
	long code;

	for (int i = 0; i < argc; i++) {
		bool next = i + 1 < argc;

		if (!strcmp(argv[i], "--kubeconfig") && next) {
			kubeconfig = argv[++i];
		} else if ((!strcmp(argv[i], "-n") || !strcmp(argv[i], "--namespace")) && next) {
			ns = argv[++i];
		} else if (!strcmp(argv[i], "-A") || !strcmp(argv[i], "--all-namespaces")) {
			ns = NULL;
		} else if (!strcmp(argv[i], "-o") && next &&
			   (!strcmp(argv[i + 1], "json") || !strcmp(argv[i + 1], "table"))) {
			json = !strcmp(argv[++i], "json");
		} else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			fputs(usage_text, stdout);
			return 0;
		} else {
			fprintf(stderr, "ambitctl: nodes: unknown or incomplete option %s\n%s",
				argv[i], usage_text);
			return -EINVAL;
		}
	}
	if (query_escape(KLEASE_SELECTOR, sel, sizeof(sel)) ||
	    (ns ? str_fmt(path, sizeof(path), KLEASE_API "/namespaces/%s/leases?labelSelector=%s",
			  ns, sel)
		: str_fmt(path, sizeof(path), KLEASE_API "/leases?labelSelector=%s", sel))) {
		fprintf(stderr, "ambitctl: nodes: namespace too long\n");
		return -EINVAL;
	}
	ret = kube_connect(&k, kubeconfig);
	if (ret)
		return ret;
	code = kube_call(&k, "GET", path, NULL, &resp);
	list = code == 200 ? cJSON_Parse(resp) : NULL;
	if (!list) {
		if (code)
			fprintf(stderr,
				"ambitctl: nodes: listing the node Leases (%s): %s%ld: %.300s\n",
				k.server, code == 200 ? "unreadable answer, HTTP " : "HTTP ", code,
				resp ? resp : "");
		ret = -EIO;
		goto out;
	}
	text = nodes_render(list, time(NULL), json, &n);
	if (!text) {
		ret = -ENOMEM;
		goto out;
	}
	if (n || json)
		fputs(text, stdout);
	if (json)
		fputs("\n", stdout);
	if (!n)
		fprintf(stderr,
			"ambitctl: no node Lease%s%s: no agent runs there with --kube, or none "
			"could write its Lease yet\n",
			ns ? " in namespace " : "", ns ? ns : "");
	free(text);
out:
	cJSON_Delete(list);
	free(resp);
	kconn_free(&k);
	return ret;
}
