/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `ambitctl services`' cells (svcfmt.c), from a snapshot without I/O, for the unit tests: a
 * Service's ports and its endpoints of both families.
 */
#ifndef AMBIT_CLI_SVCFMT_H
#define AMBIT_CLI_SVCFMT_H

#include <stddef.h>

#include "ambit/snapshot.h"

/*
 * @sv's "port->target" list into @ports (@plen) and its endpoints, each with its pod's name
 * where @s has one there, into @eps (@elen): the IPv4 ones, then its endpoints6 (the IPv6 VIP's:
 * a selectorless Service's IPv6 slices', or every selected pod's IPv6 when some have no IPv4);
 * "<none>" when it has none. Borrows @s and @sv; truncates at the buffers' ends.
 */
void svcfmt_ports_endpoints(const struct snapshot *s, const struct snap_service *sv, char *ports,
			    size_t plen, char *eps, size_t elen);

#endif
