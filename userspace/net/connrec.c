// SPDX-License-Identifier: Apache-2.0
/* Connection records (connrec.h): the runtime's side, dispatching to the proxy's. */
#include <stddef.h>

#include "connrec.h"

void connrec_bytes(struct connrec *r, bool request_dir, size_t n)
{
	if (r)
		r->ops->bytes(r, request_dir, n);
}

void connrec_close(struct connrec *r, const char *reason)
{
	if (r)
		r->ops->close(r, reason);
}

void connrec_set_abort(struct connrec *r, void (*fn)(void *arg, const char *reason), void *arg)
{
	if (!r)
		return;
	r->abort_fn = fn;
	r->abort_arg = arg;
}

bool connrec_abort(struct connrec *r, const char *reason)
{
	if (!r || !r->abort_fn)
		return false;
	r->abort_fn(r->abort_arg, reason);
	return true;
}
