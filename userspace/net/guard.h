/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Admission control against resource exhaustion (docs/internals/limits.md): how many
 * connections each listener holds, in all and per source IP, how many HBONE streams the peers
 * hold, in all and per identity; the counters of what was refused, timed out or closed for
 * abuse (`ambit_connections_*`, `ambit_hbone_*` on /metrics); and returning memory to the
 * system once a burst of connections is gone. Process-wide and thread-safe: every worker
 * admits into the same budget, since a flood spreads over all of them. In libnet with splice.c,
 * the HTTP/2 layer and HBONE, which hold their connections' and streams' shares; the listeners
 * are the ztunnel's.
 */
#ifndef AMBIT_NET_GUARD_H
#define AMBIT_NET_GUARD_H

#include <stdbool.h>
#include <stdint.h>

#include "ambit/ipaddr.h"

/* The listeners, in proxy_priv.h's L_* order. */
enum guard_listener {
	GUARD_OUTBOUND = 0, /* 15001 */
	GUARD_INBOUND,	    /* 15006, plaintext */
	GUARD_HBONE,	    /* 15008 */
	GUARD__LISTENERS,
};

enum guard_refusal {
	GUARD_OK = 0,
	GUARD_PER_SOURCE,   /* the source IP holds its share of the listener */
	GUARD_TOTAL,	    /* the listener holds its cap */
	GUARD_HANDSHAKES,   /* 15008: too many connections still in their TLS handshake */
	GUARD_FD_EXHAUSTED, /* accept() failed for want of a file descriptor */
	GUARD__REFUSALS,
};

enum guard_timeout {
	GUARD_T_HANDSHAKE = 0, /* 15008: TLS handshake not done in time */
	GUARD_T_FIRST_REQUEST, /* 15008: no CONNECT after the handshake */
	GUARD_T_CONNECT,       /* upstream TCP connect */
	GUARD_T_FIRST_BYTE,    /* plaintext leg: no byte either way since connected */
	GUARD_T_IDLE,	       /* no byte either way (a leg or a stream), or no stream (HBONE) */
	GUARD__TIMEOUTS,
};

enum guard_stream_refusal {
	GUARD_S_PER_CONNECTION = 0, /* over SETTINGS_MAX_CONCURRENT_STREAMS */
	GUARD_S_PER_IDENTITY,	    /* the peer identity holds its share */
	GUARD_S_TOTAL,		    /* the ztunnel holds its cap of inbound streams */
	GUARD__STREAM_REFUSALS,
};

/* 0 everywhere means "no cap". */
struct guard_config {
	unsigned int max_conns;		   /* per listener, open accepted connections */
	unsigned int max_conns_per_source; /* 15001/15006: per source IP */
	unsigned int max_handshakes;	   /* 15008: connections before their handshake is done */
	unsigned int max_handshakes_per_source; /* 15008: the same, per source IP */
	unsigned int max_streams;		/* inbound HBONE streams */
	unsigned int max_streams_per_identity;	/* the same, per peer identity */
};

/*
 * Defaults scaled to the fd limit @nofile: the caps of all listeners together stay below it, so
 * a flood meets a cap (and a log line naming it) before accept() meets EMFILE.
 */
void guard_config_defaults(struct guard_config *c, unsigned long nofile);
/* Sets the caps (copied). Call before the workers start; tests may call it between cases. */
void guard_configure(const struct guard_config *c);

struct guard_entry;

/*
 * What an accepted connection holds of its listener's budget. Owned by whoever owns the client
 * socket (held connection, splice, HBONE connection or stream) and released with it; moved
 * with guard_slot_move when the socket changes hands. A zeroed slot holds nothing.
 */
struct guard_slot {
	struct guard_entry *src; /* this source's count, while it counts per source */
	uint8_t listener;
	bool held;	/* counts in the listener's total */
	bool handshake; /* 15008: counts as an unfinished handshake */
};

/*
 * Admits a connection from @ip (either family; borrowed) accepted on @l into @s (zeroed first).
 * Returns GUARD_OK, or the cap it would exceed: then @s holds nothing, the refusal is counted and
 * logged (rate-limited), and the caller resets the connection.
 */
enum guard_refusal guard_admit(struct guard_slot *s, enum guard_listener l,
			       const struct ipaddr *ip);
/* 15008: the TLS handshake is done; the connection stops counting against its source. */
void guard_handshake_done(struct guard_slot *s);
/* Gives back what @s holds (idempotent, accepts NULL). */
void guard_release(struct guard_slot *s);
/* Moves what @from holds into @to (which must hold nothing); @from is left empty. */
void guard_slot_move(struct guard_slot *to, struct guard_slot *from);

/* Counts a connection refused without a slot (fd exhaustion), logging @why rate-limited. */
void guard_count_refusal(enum guard_listener l, enum guard_refusal r);
/* Counts a connection or stream closed by a deadline; @l is the listener it came from. */
void guard_count_timeout(enum guard_listener l, enum guard_timeout t);
/* Counts an accept pause (the fd reserve was used and the listener rests). */
void guard_count_accept_pause(enum guard_listener l);

/* An inbound HBONE stream's share of its peer identity's budget. Zeroed: holds nothing. */
struct guard_stream {
	struct guard_entry *id;
	bool held;
};

/*
 * Admits an inbound stream of @identity (borrowed) into @s (zeroed first): 0, or -1 when a cap
 * is reached (counted, and logged rate-limited). Per-connection refusals are nghttp2's, counted
 * with guard_count_stream_refusal.
 */
int guard_stream_admit(struct guard_stream *s, const char *identity);
void guard_stream_release(struct guard_stream *s); /* idempotent, accepts NULL */
void guard_count_stream_refusal(enum guard_stream_refusal r);
/* Counts an HBONE connection closed for resetting streams before they were answered. */
void guard_count_rapid_reset(void);

/*
 * Returns freed memory to the system after a burst: called from the workers' ticks; trims when
 * the number of connections and streams fell to half its peak since the last trim (at most
 * every few seconds, one thread at a time). Returns true when it trimmed.
 */
bool guard_memory_tick(void);

/* Open connections of @l (gauge; tests). */
unsigned long guard_open(enum guard_listener l);
/* Prometheus text of the families above (with # HELP and # TYPE); malloc'd or NULL. */
char *guard_metrics_render(void);

#endif
