/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The ztunnel's resource limits as users set them (docs/internals/limits.md): a flag
 * `--NAME N` for each, or the environment variable ZTUNNEL_NAME (upper case, '-' as '_'), which
 * `ambitctl local up` passes on; a flag wins over the environment. Also raises RLIMIT_NOFILE,
 * from which the connection caps take their defaults.
 */
#ifndef ZT_LIMITS_H
#define ZT_LIMITS_H

#include <getopt.h>

#include "net/guard.h"
#include "hbone/hbone.h"
#include "net/splice.h"
#include "udp.h"

struct zt_limits {
	struct guard_config guard;
	struct hbone_limits hbone;
	struct splice_limits splice;
	struct zt_udp_limits udp;
	unsigned long nofile; /* the fd limit wanted (--nofile), then the one obtained */
	unsigned int set;     /* which guard caps were given (the others follow nofile) */
};

/* getopt_long values of the limit options: ZT_LIMITS_OPT + index. */
#define ZT_LIMITS_OPT 0x1000

/* The defaults of every module (the guard caps are filled in by zt_limits_finish). */
void zt_limits_init(struct zt_limits *z);
/*
 * Appends the limit options to @opts (room for zt_limits_noptions() more, then the
 * terminator). Returns the new count.
 */
size_t zt_limits_options(struct option *opts, size_t n);
size_t zt_limits_noptions(void);
/* The usage text of the limit options (static). */
const char *zt_limits_usage(void);
/*
 * Reads the ZTUNNEL_* variables. 0, or -EINVAL after logging which variable is wrong and why.
 */
int zt_limits_env(struct zt_limits *z);
/*
 * Applies the option getopt_long returned as @val with @arg. 0, -ENOENT if @val is not a limit
 * option, or -EINVAL after logging which flag is wrong and why.
 */
int zt_limits_option(struct zt_limits *z, int val, const char *arg);
/*
 * Raises RLIMIT_NOFILE (soft to z->nofile, raising the hard limit too when allowed, else to
 * the hard limit), then sets the caps not given from the limit obtained and installs them
 * (guard_configure). Logs the outcome. 0 or -errno.
 */
int zt_limits_finish(struct zt_limits *z);

#endif
