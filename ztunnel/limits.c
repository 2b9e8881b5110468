// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "ambit/log.h"
#include "limits.h"

/* The fd limit asked for by default: room for the caps below and then some. */
#define NOFILE_DEFAULT 1048576UL

enum where { W_GUARD, W_HBONE, W_SPLICE, W_UDP, W_NOFILE };

/* One user-settable limit: its flag, what it sets, and what it means (usage). */
struct knob {
	const char *name;
	enum where where;
	size_t off;
	const char *help;
};

#define G(f) W_GUARD, offsetof(struct guard_config, f)
#define H(f) W_HBONE, offsetof(struct hbone_limits, f)
#define S(f) W_SPLICE, offsetof(struct splice_limits, f)
#define U(f) W_UDP, offsetof(struct zt_udp_limits, f)

static const struct knob knobs[] = {
    {"max-conns", G(max_conns), "open connections per listener (nofile/8)"},
    {"max-conns-per-source", G(max_conns_per_source), "15001/15006: per source IP (max-conns/2)"},
    {"max-handshakes", G(max_handshakes),
     "15008: unfinished TLS handshakes (max-conns/2, at most 4096)"},
    {"max-handshakes-per-source", G(max_handshakes_per_source),
     "15008: the same per source IP (1024)"},
    {"max-streams", G(max_streams), "inbound HBONE streams (nofile/4)"},
    {"max-streams-per-identity", G(max_streams_per_identity),
     "the same per peer identity (max-streams/2)"},
    {"max-streams-per-conn", H(max_streams), "SETTINGS_MAX_CONCURRENT_STREAMS (100)"},
    {"max-early-resets", H(max_early_resets),
     "streams reset before answered per 10 s, then GOAWAY (100)"},
    {"handshake-timeout", H(handshake_s), "15008: TLS handshake, seconds (10)"},
    {"first-request-timeout", H(first_request_s), "15008: first CONNECT, seconds (10)"},
    {"hbone-idle-timeout", H(idle_s), "15008: connection without streams, seconds (120)"},
    {"stream-idle-timeout", H(stream_idle_s), "HBONE stream without traffic, seconds (3600)"},
    {"hbone-ping-interval", H(ping_interval_s),
     "HBONE: a PING after this many seconds without a byte from the peer (10; 0: none)"},
    {"hbone-ping-timeout", H(ping_timeout_s),
     "HBONE: the connection closed when its PING gets no answer within, seconds (5)"},
    {"connect-timeout", S(connect_s), "upstream TCP connect (plaintext and HBONE), seconds (10)"},
    {"first-byte-timeout", S(first_byte_s), "plaintext leg with no byte yet, seconds (60)"},
    {"idle-timeout", S(idle_s), "plaintext leg without traffic, seconds (3600)"},
    {"udp-timeout", U(idle_s), "UDP flow the pod has not answered, idle seconds (30)"},
    {"udp-timeout-stream", U(stream_idle_s), "UDP flow the pod answered, idle seconds (120)"},
    {"udp-max-flows", U(max_flows), "UDP flows out of the node's pods (16384)"},
    {"udp-max-flows-per-identity", U(max_flows_per_identity),
     "the same per pod identity (2048): the least recently active is reclaimed"},
    {"nofile", W_NOFILE, 0, "RLIMIT_NOFILE to raise to (1048576)"},
};

#define NKNOBS (sizeof(knobs) / sizeof(knobs[0]))

void zt_limits_init(struct zt_limits *z)
{
	memset(z, 0, sizeof(*z));
	hbone_limits_default(&z->hbone);
	splice_limits_default(&z->splice);
	zt_udp_limits_default(&z->udp);
	/* 15008 takes CONNECT-UDP (udp.h). */
	z->hbone.udp = true;
	z->nofile = NOFILE_DEFAULT;
}

size_t zt_limits_noptions(void)
{
	return NKNOBS;
}

size_t zt_limits_options(struct option *opts, size_t n)
{
	for (size_t i = 0; i < NKNOBS; i++)
		opts[n++] =
		    (struct option){knobs[i].name, required_argument, NULL, ZT_LIMITS_OPT + (int)i};
	opts[n] = (struct option){0};
	return n;
}

const char *zt_limits_usage(void)
{
	static char text[4096];

	if (!text[0]) {
		size_t len = 0;

		for (size_t i = 0; i < NKNOBS && len < sizeof(text); i++)
			len += (size_t)snprintf(text + len, sizeof(text) - len, "  --%-26s %s\n",
						knobs[i].name, knobs[i].help);
	}
	return text;
}

/* Sets knob @k from @arg; @what names the source for the error ("--x" or "ZTUNNEL_X"). */
static int knob_set(struct zt_limits *z, size_t k, const char *arg, const char *what)
{
	unsigned long v;
	char *end;

	errno = 0;
	v = strtoul(arg, &end, 10);
	if (!*arg || *end || errno || arg[0] == '-' ||
	    (knobs[k].where != W_NOFILE && v > UINT_MAX)) {
		pr_err("%s: '%s' is not a count (a whole number, 0 for no limit)", what, arg);
		return -EINVAL;
	}
	switch (knobs[k].where) {
	case W_GUARD:
		*(unsigned int *)((char *)&z->guard + knobs[k].off) = (unsigned int)v;
		z->set |= 1u << (knobs[k].off / sizeof(unsigned int));
		break;
	case W_HBONE: *(unsigned int *)((char *)&z->hbone + knobs[k].off) = (unsigned int)v; break;
	case W_SPLICE:
		*(unsigned int *)((char *)&z->splice + knobs[k].off) = (unsigned int)v;
		/* One upstream connect deadline, whichever way the connection came. */
		if (knobs[k].off == offsetof(struct splice_limits, connect_s))
			z->hbone.connect_s = (unsigned int)v;
		break;
	case W_UDP: *(unsigned int *)((char *)&z->udp + knobs[k].off) = (unsigned int)v; break;
	case W_NOFILE:
		if (v < 1024) {
			pr_err("%s: %lu is below 1024 file descriptors", what, v);
			return -EINVAL;
		}
		z->nofile = v;
		break;
	}
	return 0;
}

int zt_limits_env(struct zt_limits *z)
{
	for (size_t i = 0; i < NKNOBS; i++) {
		char var[64] = "ZTUNNEL_";
		size_t len = strlen(var);
		const char *v;
		int err;

		for (const char *p = knobs[i].name; *p && len + 1 < sizeof(var); p++)
			var[len++] = *p == '-' ? '_' : (char)(*p - 'a' + 'A');
		var[len] = '\0';
		v = getenv(var);
		if (v && (err = knob_set(z, i, v, var)))
			return err;
	}
	return 0;
}

int zt_limits_option(struct zt_limits *z, int val, const char *arg)
{
	char what[64];
	size_t k = (size_t)(val - ZT_LIMITS_OPT);

	if (val < ZT_LIMITS_OPT || k >= NKNOBS)
		return -ENOENT;
	snprintf(what, sizeof(what), "--%s", knobs[k].name);
	return knob_set(z, k, arg, what);
}

/* The soft fd limit raised towards @want: the hard limit first when allowed (root). */
static unsigned long nofile_raise(unsigned long want)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return 0;
	if (rl.rlim_cur >= want)
		return rl.rlim_cur;
	if (rl.rlim_max < want) {
		struct rlimit up = {want, want};

		/* Above fs.nr_open or without CAP_SYS_RESOURCE this fails: the hard limit then. */
		if (setrlimit(RLIMIT_NOFILE, &up) == 0)
			return want;
	}
	rl.rlim_cur = rl.rlim_max < want ? rl.rlim_max : want;
	if (setrlimit(RLIMIT_NOFILE, &rl))
		getrlimit(RLIMIT_NOFILE, &rl);
	return rl.rlim_cur;
}

int zt_limits_finish(struct zt_limits *z)
{
	struct guard_config def;
	unsigned long got = nofile_raise(z->nofile);

	if (!got)
		return -errno;
	if (got < z->nofile)
		pr_warn("fd limit %lu, below the %lu asked (raise the hard limit or fs.nr_open): "
			"the connection caps are scaled down to it",
			got, z->nofile);
	z->nofile = got;
	guard_config_defaults(&def, got);
	/* Each cap not given follows the limit obtained. */
	for (size_t off = 0; off < sizeof(def); off += sizeof(unsigned int))
		if (!(z->set & (1u << (off / sizeof(unsigned int)))))
			*(unsigned int *)((char *)&z->guard + off) =
			    *(unsigned int *)((char *)&def + off);
	guard_configure(&z->guard);
	pr_info("limits: fd %lu; per listener %u connections, %u per source; %u TLS handshakes, "
		"%u per source; %u inbound streams, %u per identity, %u per connection",
		got, z->guard.max_conns, z->guard.max_conns_per_source, z->guard.max_handshakes,
		z->guard.max_handshakes_per_source, z->guard.max_streams,
		z->guard.max_streams_per_identity, z->hbone.max_streams);
	return 0;
}
