/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One proxied connection as metrics, the access log and /connections see it. The data-path
 * modules (hbone.c, splice.c) only report bytes and the end; the proxy that opens records
 * implements them (the ztunnel: ztunnel/metrics.c), its record starting with struct connrec.
 */
#ifndef AMBIT_NET_CONNREC_H
#define AMBIT_NET_CONNREC_H

#include <stdbool.h>
#include <stddef.h>

struct connrec;

struct connrec_ops {
	void (*bytes)(struct connrec *r, bool request_dir, size_t n);
	/* Counts it closed, logs it, frees it. */
	void (*close)(struct connrec *r, const char *reason);
};

/* The head of every implementation's record. */
struct connrec {
	const struct connrec_ops *ops;
	void (*abort_fn)(void *arg, const char *reason); /* connrec_set_abort */
	void *abort_arg;
};

/* @request_dir: bytes moving from the connection's client towards its server. Accepts NULL. */
void connrec_bytes(struct connrec *r, bool request_dir, size_t n);
/* Ends the record (counts it closed, logs it, frees it: takes @r). @reason is borrowed. */
void connrec_close(struct connrec *r, const char *reason);

/*
 * Set by the module owning the connection's sockets (splice, HBONE stream) once it holds them:
 * how to end the connection early, resetting it (a policy change revoked it). @fn runs on the
 * owner's loop thread only and ends in connrec_close. Accepts NULL @r.
 */
void connrec_set_abort(struct connrec *r, void (*fn)(void *arg, const char *reason), void *arg);
/*
 * Ends the connection through its owner's abort hook (call on the owner's loop thread). Returns
 * false when no owner registered one yet (nothing happened). @r is freed when this returns true.
 */
bool connrec_abort(struct connrec *r, const char *reason);

#endif
