// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target for what a node agent reads of a remote cluster (userspace/agent/remote.c):
 * a remote secret's kubeconfig (kconn_kubeconfig_text, which must refuse fields naming files of
 * the node) and another cluster's API server's lists, turned into objects and a pod list
 * (remote_api_convert), whose pod list must then parse as pods.json does. The same input is
 * given to both. Seeds: tests/fuzz/corpus/fuzz_remote/ (lists of every kind, a kubeconfig).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/confstore.h"
#include "agent/remote.h"
#include "config/runtime.h"
#include "k8s/kconn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1), why[300] = "", err[256] = "", *pods = NULL;
	struct confstore cs = {0};
	struct kconn c;

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (!kconn_kubeconfig_text(&c, "fuzz", text, size, why, sizeof(why))) {
		/* What it took names no file of this machine. */
		if (c.token_file || !c.server)
			abort();
		kconn_free(&c);
	} else if (!why[0]) {
		abort(); /* a refusal says why */
	}
	if (!remote_api_convert(text, &cs, &pods, err, sizeof(err))) {
		struct runtime rt = {0};

		if (!pods)
			abort();
		/* A pod list it makes is one pods.json's parser takes (or refuses, saying why). */
		err[0] = '\0';
		if (runtime_parse(pods, strlen(pods), &rt, err, sizeof(err)) && !err[0])
			abort();
		runtime_free(&rt);
		free(pods);
	}
	confstore_free(&cs);
	free(text);
	return 0;
}
