/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the fuzz targets (tests/fuzz) set up once, before the first input: a network namespace
 * of their own, so that no socket a fuzzed input opens can reach the host's (or anyone's)
 * network, and a private scratch directory. Failures abort the target with a reason: a target
 * that ran without its sandbox would be worse than one that did not run.
 */
#ifndef AMBIT_TESTS_FUZZ_ENV_H
#define AMBIT_TESTS_FUZZ_ENV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Moves the process into a new network namespace (a user namespace first when not privileged)
 * with only "lo", up. @bpf: BPF will be loaded, which a user namespace cannot do; then root is
 * required. Returns 0, or -errno after printing why (the caller exits).
 */
int fuzz_private_netns(const char *target, bool bpf);

/*
 * Creates a private directory named after @target under $TMPDIR (else /tmp) into @buf, removed
 * at a normal exit (the fuzz runner removes its TMPDIR after a crash).
 */
int fuzz_scratch_dir(const char *target, char *buf, size_t len);

/*
 * The next NUL-terminated piece of an input (from *@p up to @end), or "" once it is used up;
 * *@p moves past it. The last piece runs to @end, where the caller's copy of the input holds
 * a NUL.
 */
const char *fuzz_piece(const char **p, const char *end);

/* The network-order address of dotted-quad @s (aborts on a typo). */
uint32_t fuzz_ip4(const char *s);

#endif
