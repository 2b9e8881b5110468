// SPDX-License-Identifier: Apache-2.0
/*
 * `ambitctl create secret tls|generic`, as kubectl's: the Secret a gateway's credentialName
 * names, made from files and applied like any manifest (or printed with -o yaml).
 *   create secret tls NAME --cert FILE --key FILE [-n NS] [apply's options] [-o yaml]
 *   create secret generic NAME --from-file=[KEY=]FILE... [-n NS] [apply's options] [-o yaml]
 * A generic key defaults to the file's base name. The loader checks what it holds (a
 * certificate and its key belong together) before anything is applied.
 */
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ambit/fileutil.h"
#include "tls/crypto.h"
#include "ctl.h"

#define MAX_KEYS 16
#define SECRET_FILE_MAX (1u << 20)

struct secret_item {
	char key[256];
	const char *path;
};

static void usage_create(void)
{
	fprintf(stderr,
		"usage: ambitctl create secret tls NAME --cert FILE --key FILE [-n NS] "
		"[--dry-run] [-o yaml]\n"
		"       ambitctl create secret generic NAME --from-file=[KEY=]FILE... [-n NS] "
		"[--dry-run] [-o yaml]\n");
}

/* Appends "  KEY: base64(FILE)\n" to the manifest @m (of length *@len). 0 or -errno. */
static int add_data(char **m, const struct secret_item *it)
{
	char *text = NULL, *b64, *out;
	size_t len = 0;
	int err = fileutil_read_file(it->path, SECRET_FILE_MAX, &text, &len);

	if (err) {
		fprintf(stderr, "ambitctl: %s: %s\n", it->path, strerror(-err));
		return err;
	}
	b64 = crypto_base64_encode(text, len);
	free(text);
	if (!b64 || asprintf(&out, "%s  %s: %s\n", *m, it->key, b64) < 0) {
		free(b64);
		return -ENOMEM;
	}
	free(b64);
	free(*m);
	*m = out;
	return 0;
}

int cmd_create(const struct ctl_opts *o, int argc, char **argv)
{
	struct secret_item items[MAX_KEYS];
	char *pass[32], *m = NULL;
	const char *type, *name, *cert = NULL, *key = NULL, *ns = NULL;
	const char *pos[3];
	size_t n = 0;
	int npass = 0, npos = 0, err = 0;
	bool yaml = false, tls;

	if (argc && (!strcmp(argv[0], "namespace") || !strcmp(argv[0], "ns")))
		return cmd_create_namespace(o, argc - 1, argv + 1);
	/* The words (secret, tls|generic, NAME) among the options, wherever they are. */
	for (int i = 0; i < argc; i++) {
		if (argv[i][0] != '-') {
			if (npos == 3) {
				usage_create();
				return -EINVAL;
			}
			pos[npos++] = argv[i];
		} else if (!strchr(argv[i], '=') && strcmp(argv[i], "--dry-run") && i + 1 < argc) {
			i++; /* an option's value */
		}
	}
	if (npos != 3 || strcmp(pos[0], "secret") ||
	    (strcmp(pos[1], "tls") && strcmp(pos[1], "generic"))) {
		usage_create();
		return -EINVAL;
	}
	tls = !strcmp(pos[1], "tls");
	type = tls ? "kubernetes.io/tls" : "Opaque";
	name = pos[2];
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (a[0] != '-') {
			continue;
		} else if (tls && (!strcmp(a, "--cert") || !strcmp(a, "--key")) && v) {
			*(!strcmp(a, "--cert") ? &cert : &key) = v;
			i++;
		} else if (tls && !strncmp(a, "--cert=", 7)) {
			cert = a + 7;
		} else if (tls && !strncmp(a, "--key=", 6)) {
			key = a + 6;
		} else if (!tls && !strncmp(a, "--from-file=", 12) && n < MAX_KEYS) {
			const char *spec = a + 12, *eq = strchr(spec, '=');
			char tmp[4096];

			if (eq) {
				snprintf(items[n].key, sizeof(items[n].key), "%.*s",
					 (int)(eq - spec), spec);
				items[n].path = eq + 1;
			} else {
				snprintf(tmp, sizeof(tmp), "%s", spec);
				snprintf(items[n].key, sizeof(items[n].key), "%s", basename(tmp));
				items[n].path = spec;
			}
			n++;
		} else if (!strcmp(a, "-o") && v && !strcmp(v, "yaml")) {
			yaml = true;
			i++;
		} else if ((!strcmp(a, "-n") || !strcmp(a, "--namespace")) && v &&
			   npass < (int)(sizeof(pass) / sizeof(pass[0])) - 2) {
			ns = v;
			pass[npass++] = argv[i++];
			pass[npass++] = argv[i];
		} else if (npass < (int)(sizeof(pass) / sizeof(pass[0])) - 1) {
			pass[npass++] = argv[i]; /* apply's: -n NS, --dry-run, --wait=false, ... */
		}
	}
	if (tls) {
		if (!cert || !key) {
			usage_create();
			return -EINVAL;
		}
		snprintf(items[0].key, sizeof(items[0].key), "tls.crt");
		items[0].path = cert;
		snprintf(items[1].key, sizeof(items[1].key), "tls.key");
		items[1].path = key;
		n = 2;
	}
	if (!n) {
		usage_create();
		return -EINVAL;
	}
	if (asprintf(&m,
		     "apiVersion: v1\nkind: Secret\nmetadata:\n  name: %s\n%s%s%stype: %s\ndata:\n",
		     name, ns ? "  namespace: " : "", ns ? ns : "", ns ? "\n" : "", type) < 0)
		return -ENOMEM;
	for (size_t i = 0; i < n && !err; i++)
		err = add_data(&m, &items[i]);
	if (!err && yaml)
		fputs(m, stdout);
	else if (!err)
		err = apply_manifest(o, "create secret", m, npass, pass, false);
	free(m);
	return err;
}
