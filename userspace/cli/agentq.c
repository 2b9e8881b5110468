// SPDX-License-Identifier: Apache-2.0
/* Queries to a node's agent over its socket (ipc.h), shared by the inspection commands. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ambit/ipc.h"
#include "ambit/snapshot.h"
#include "ctl.h"

static cJSON *agent_query(const struct ctl_node *n, const char *what, bool quiet)
{
	char req[700], *reply = NULL;
	cJSON *root, *res = NULL;
	int ret;

	str_fmt(req, sizeof(req), "{\"op\":\"get\",\"what\":\"%s\"}", what);
	ret = ipc_request(n->socket, req, &reply);
	if (ret) {
		fprintf(stderr, "ambitctl: %s agent (%s): %s\n", n->name, n->socket,
			strerror(-ret));
		return NULL;
	}
	root = cJSON_Parse(reply);
	free(reply);
	if (!root || !cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root, "ok")) ||
	    !(res = cJSON_DetachItemFromObjectCaseSensitive(root, "result"))) {
		const cJSON *err = root ? cJSON_GetObjectItemCaseSensitive(root, "error") : NULL;

		if (!quiet)
			fprintf(stderr, "ambitctl: %s agent: %s\n", n->name,
				cJSON_IsString(err) ? err->valuestring : "malformed reply");
	}
	cJSON_Delete(root);
	return res;
}

cJSON *agentq_get(const struct ctl_node *n, const char *what)
{
	return agent_query(n, what, false);
}

cJSON *agent_try(const struct ctl_node *n, const char *what)
{
	return agent_query(n, what, true);
}

struct snapshot *agent_snapshot(const struct ctl_node *n, cJSON **raw)
{
	cJSON *res = agentq_get(n, "snapshot");
	struct snapshot *s = NULL;
	char err[256] = "", *text;

	if (!res)
		return NULL;
	text = cJSON_PrintUnformatted(res);
	if (text)
		s = snapshot_decode(text, strlen(text), err, sizeof(err));
	if (!s)
		fprintf(stderr, "ambitctl: %s snapshot: %s\n", n->name, err[0] ? err : "no memory");
	free(text);
	if (s && raw)
		*raw = res;
	else
		cJSON_Delete(res);
	return s;
}
