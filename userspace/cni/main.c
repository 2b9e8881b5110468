// SPDX-License-Identifier: Apache-2.0
/* ambit-cni: the runtime's CNI call (configuration on stdin, CNI_* in the environment), cni.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cni.h"

/* A network configuration is small; one this large is refused as undecodable. */
#define CNI_MAX_STDIN (1u << 20)

int main(void)
{
	struct cni_env env = {
	    .command = getenv("CNI_COMMAND"),
	    .containerid = getenv("CNI_CONTAINERID"),
	    .netns = getenv("CNI_NETNS"),
	    .ifname = getenv("CNI_IFNAME"),
	    .args = getenv("CNI_ARGS"),
	    .path = getenv("CNI_PATH"),
	};
	char *in = malloc(CNI_MAX_STDIN + 1), *out = NULL;
	size_t len = 0, n;
	int status;

	if (!in)
		return 1;
	/* VERSION may come with no stdin at all; everything else reads it to the end. */
	if (!env.command || strcmp(env.command, "VERSION")) {
		while (len <= CNI_MAX_STDIN &&
		       (n = fread(in + len, 1, CNI_MAX_STDIN + 1 - len, stdin)) > 0)
			len += n;
		if (len > CNI_MAX_STDIN)
			len = 0;
	}
	status = cni_run(&env, in, len, &out);
	if (out) {
		fputs(out, stdout);
		fputc('\n', stdout);
	}
	free(out);
	free(in);
	return status;
}
