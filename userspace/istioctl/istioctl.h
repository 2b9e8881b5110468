/* SPDX-License-Identifier: Apache-2.0 */
/*
 * istioctl's command lines on ambit (userspace/istioctl/): the ambitctl binary, run under the
 * name istioctl (build/istioctl is a link to it), takes istioctl's verbs, flags, words, columns
 * and exit codes, and does each with what ambitctl already has (userspace/cli, local,
 * dashboard). docs/istioctl.md lists every verb and what it does here.
 */
#ifndef AMBIT_ISTIOCTL_H
#define AMBIT_ISTIOCTL_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "local/local.h"

/* istioctl's exit codes (its cmd/sysexits.go): usage, unparsable input, analyzers' findings. */
enum {
	IC_EXIT_OK = 0,
	IC_EXIT_ERROR = 1,
	IC_EXIT_USAGE = 64,
	IC_EXIT_DATA = 65,
	IC_EXIT_ANALYZE = 79,
};

/* The flags istioctl's verbs take here (words.c's table names them). */
enum ic_flag {
	IC_F_NAMESPACE, /* -n: the namespace a verb is about */
	IC_F_ISTIO_NS,	/* -i: where the control plane is (istio-system) */
	IC_F_CONTEXT,	/* --context: a local cluster's name, as a kubeconfig context */
	IC_F_KUBECONFIG,
	IC_F_CLUSTER, /* ambit's own: which local cluster */
	IC_F_REVISION,
	IC_F_OUTPUT,
	IC_F_ALL_NS, /* -A */
	IC_F_YES,    /* -y, --skip-confirmation */
	IC_F_SET,    /* --set (repeats: ic.sets) */
	IC_F_FILE,   /* -f (repeats: ic.files) */
	IC_F_PURGE,
	IC_F_DRY_RUN,
	IC_F_FORCE,
	IC_F_NODE,
	IC_F_WL_NS, /* --workload-namespace */
	IC_F_WL_NODE,
	IC_F_PORT,
	IC_F_ADDRESS,
	IC_F_BROWSER,
	IC_F_REMOTE,
	IC_F_SHORT,
	IC_F_FOR,
	IC_F_ENROLL,
	IC_F_WAIT,
	IC_F_OVERWRITE,
	IC_F_NAME,
	IC_F_ALL,
	IC_F_FAIL_THRESHOLD,
	IC_F_OUT_THRESHOLD,
	IC_F_USE_KUBE,
	IC_F_VKLOG,
	IC_F_HELP,
	IC_N_FLAGS,
};

/* A flag: istioctl's long and short names, whether it takes a value, what `--help` says. */
struct ic_flag_def {
	enum ic_flag f;
	const char *lng;
	char shrt;
	bool value;
	const char *help;
};
extern const struct ic_flag_def ic_flags[];
extern const size_t ic_n_flags;
#define IC_FLAG(x) (1ULL << (x))

#define IC_MAX_REPEAT 32
#define IC_MAX_POS 32

/* One istioctl command line, parsed. */
struct ic {
	struct ctl_opts o;		 /* the local cluster (o.cluster), --node, -o json */
	bool set[IC_N_FLAGS];		 /* the flag was given */
	const char *val[IC_N_FLAGS];	 /* its value (the last one), or NULL */
	const char *sets[IC_MAX_REPEAT]; /* every --set, in order */
	size_t n_sets;
	const char *files[IC_MAX_REPEAT]; /* every -f */
	size_t n_files;
	char *pos[IC_MAX_POS]; /* the words that are not flags: the verb's path, then arguments */
	int npos;
	int args; /* pos[args..] are the verb's arguments (the words before name the verb) */
};

/* words.c: the grammar and words (no I/O) */
/*
 * Reads @argv (argv[0] aside) as cobra does: flags anywhere before "--" (--f=v, --f v, -f v,
 * -f=v, -fv; booleans bare or =true|=false), every other word into ic->pos. 0, or 64 with the
 * error said on stderr in cobra's words.
 */
int ic_parse(int argc, char **argv, struct ic *ic);
/*
 * The lines of `--help` for the flags of @mask (IC_FLAG bits), on stdout; a flag's help is
 * @help's (IC_N_FLAGS entries by flag, or NULL) where it has one, for a flag that means
 * something else to a verb (create-remote-secret's --name names a cluster, not a waypoint).
 */
void ic_print_flags(unsigned long long mask, const char *const *help);
/* Whether a boolean flag @f was given and is not "=false". */
bool ic_flag_on(const struct ic *ic, enum ic_flag f);
/* -n's namespace, else "default" (istioctl's without a kubeconfig context namespace). */
const char *ic_namespace(const struct ic *ic);
/* Prints "Error: " @fmt on stderr; returns @code. */
int ic_error(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/*
 * A finding's code ("IST0101 ..." begins ambit's message), else @def, into @code; the message
 * after the code and the analyzer's CamelCase name, if any.
 */
const char *ic_split_code(const char *msg, const char *def, char code[8]);
/*
 * One finding as istioctl writes it: "Error [IST0101] (Kind ns/name file:line) message", from
 * ambit's "IST0101 Name: message" (a schema error without a code: IST0106; a note of ambit's
 * own that no Istio analyzer has: AMB0000). Into @buf.
 */
struct config_diag;
void ic_finding_format(const struct config_diag *d, bool with_file, char *buf, size_t len);

/* iop.c: an IstioOperator file (-f) */
/*
 * The --set paths IstioOperator @file ("-" for stdin) stands for (profile=, values.*,
 * meshConfig.*, components.*), malloc'd into *@sets (@n of them), and into *@said the lines
 * saying what it sets that ambit does otherwise (NULL: none). 0, or istioctl's exit code with
 * the error said (the file and the field).
 */
int ic_operator_sets(const char *file, char ***sets, size_t *n, char **said);

/* entry.c: main(), the verbs, and what they share */
/*
 * Loads the local cluster @ic names (--context, --cluster, --kubeconfig of a local cluster,
 * $AMBIT_CLUSTER, else the one up) into @c; else tells why (unless @quiet and none is up), as
 * istioctl tells a cluster without Istio, and returns non-zero.
 */
int ic_cluster(const struct ic *ic, struct ctl_cluster *c, bool quiet);
/* A certificate as istioctl's tables show one: its serial and validity (RFC 3339, UTC). */
struct ic_cert {
	bool ok;    /* a certificate could be read from the PEM */
	bool valid; /* now between its not-before and not-after */
	char serial[80], not_after[32], not_before[32];
};
/* The first certificate of @pem (NULL: none) into @out; "-" for what cannot be read. */
void ic_cert_read(const char *pem, struct ic_cert *out);
/* Prints @doc (taken) as JSON (istioctl's layout: two-space indent) or, @fmt "yaml", YAML. */
int ic_print(cJSON *doc, const char *fmt);

/* report.c: what runs, as istioctl shows it */
int ic_version(struct ic *ic);
int ic_proxy_status(struct ic *ic);
int ic_ztunnel_config(struct ic *ic);

/* findings.c */
int ic_analyze(struct ic *ic);
int ic_precheck(struct ic *ic);

/* proxyconf.c: proxy-config of a waypoint or gateway (or the waypoint of a pod's Services) */
int ic_proxy_config(struct ic *ic);

/* profiles.c */
int ic_install(struct ic *ic);
int ic_uninstall(struct ic *ic);
int ic_manifest(struct ic *ic);
int ic_profile(struct ic *ic);

#endif
