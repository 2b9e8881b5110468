/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Kubernetes manifests from templates: the {{key}} substitution of the deploy/ templates and the
 * YAML documents as the JSON objects the API server takes (libyaml), shared by `ambitctl
 * install` and the waypoint controller.
 */
#ifndef AMBIT_AGENT_KMANIFEST_H
#define AMBIT_AGENT_KMANIFEST_H

#include <stddef.h>

#include <cjson/cJSON.h>

/*
 * @tmpl (@len bytes) with every {{key}} replaced by @val(@arg, key) (borrowed), malloc'd; NULL
 * with errno EINVAL when a key is unterminated, too long or @val knows it not, or ENOMEM.
 */
char *kmanifest_render(const char *tmpl, size_t len, const char *(*val)(void *arg, const char *key),
		       void *arg);
/*
 * Every YAML document of @text as a JSON object, in an array (caller frees). Plain scalars are
 * typed as YAML 1.2's core schema types them, quoted ones are strings. NULL with the reason in
 * @err (@len bytes).
 */
cJSON *kmanifest_documents(const char *text, char *err, size_t len);
/* @o[@a][@b] (or @o[@a] when @b is NULL), or NULL. */
cJSON *kjson_get(const cJSON *o, const char *a, const char *b);
/* @o[@a][@b] (or @o[@a] when @b is NULL) as a string (borrowed), or NULL. */
const char *kjson_str(const cJSON *o, const char *a, const char *b);

#endif
