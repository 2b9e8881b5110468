// SPDX-License-Identifier: Apache-2.0
/* Outlier detection state machine (outlier.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "outlier.h"

#define MAX_EJECTION_MS 300000 /* Envoy's max_ejection_time default */

int wp_outlier_init(struct wp_outlier *o, const struct config_outlier_detection *cfg,
		    size_t n_hosts, uint64_t now_ms)
{
	memset(o, 0, sizeof(*o));
	o->cfg = *cfg;
	o->n_hosts = n_hosts;
	o->hosts = calloc(n_hosts + 1, sizeof(*o->hosts));
	o->next_sweep_ms = now_ms + cfg->interval_ms;
	return o->hosts ? 0 : -ENOMEM;
}

void wp_outlier_destroy(struct wp_outlier *o)
{
	free(o->hosts);
	memset(o, 0, sizeof(*o));
}

bool wp_outlier_ejected(const struct wp_outlier *o, size_t i)
{
	return i < o->n_hosts && o->hosts[i].ejected;
}

static bool eject(struct wp_outlier *o, struct wp_outlier_host *h, uint64_t now_ms)
{
	/*
	 * Envoy: eject only while the share already ejected is under maxEjectionPercent, so one
	 * host at least is ejected whatever the value (two hosts and Istio's default 10% included).
	 */
	if (o->n_ejected * 100 >= (size_t)o->cfg.max_ejection_percent * o->n_hosts)
		return false;
	h->ejected = true;
	h->ejected_this_interval = true;
	h->ejected_at_ms = now_ms;
	h->times_ejected++;
	h->consecutive_5xx = h->consecutive_gateway = h->consecutive_local = 0;
	o->n_ejected++;
	return true;
}

/* Whether @status is an error: outlierDetectionHttpErrorCodes when set, else any 5xx. */
static bool error_status(const struct wp_outlier *o, int status)
{
	if (!o->cfg.n_error_codes)
		return status >= 500 && status <= 599;
	for (size_t i = 0; i < o->cfg.n_error_codes; i++)
		if (o->cfg.error_codes[i] == status)
			return true;
	return false;
}

bool wp_outlier_record(struct wp_outlier *o, size_t i, enum wp_outcome what, int status,
		       uint64_t now_ms)
{
	struct wp_outlier_host *h;
	bool gateway;

	if (!o->cfg.present || i >= o->n_hosts || o->hosts[i].ejected)
		return false;
	h = &o->hosts[i];
	if (what != WP_OUTCOME_RESPONSE) {
		if (o->cfg.split_local_origin) {
			return o->cfg.consecutive_local_origin &&
			       ++h->consecutive_local >= o->cfg.consecutive_local_origin &&
			       eject(o, h, now_ms);
		}
		status = 503; /* a local-origin failure counts as the 503 it becomes */
	} else if (o->cfg.split_local_origin) {
		h->consecutive_local = 0; /* the host answered */
	}
	if (!error_status(o, status)) {
		h->consecutive_5xx = 0;
		h->consecutive_gateway = 0;
		return false;
	}
	gateway = status == 502 || status == 503 || status == 504;
	h->consecutive_gateway = gateway ? h->consecutive_gateway + 1 : 0;
	h->consecutive_5xx++;
	if (o->cfg.consecutive_gateway && h->consecutive_gateway >= o->cfg.consecutive_gateway)
		return eject(o, h, now_ms);
	if (o->cfg.consecutive_5xx && h->consecutive_5xx >= o->cfg.consecutive_5xx)
		return eject(o, h, now_ms);
	return false;
}

size_t wp_outlier_sweep(struct wp_outlier *o, uint64_t now_ms)
{
	uint64_t max =
	    o->cfg.base_ejection_ms > MAX_EJECTION_MS ? o->cfg.base_ejection_ms : MAX_EJECTION_MS;
	size_t back = 0;

	if (!o->cfg.present || now_ms < o->next_sweep_ms)
		return 0;
	o->next_sweep_ms = now_ms + o->cfg.interval_ms;
	for (size_t i = 0; i < o->n_hosts; i++) {
		struct wp_outlier_host *h = &o->hosts[i];
		uint64_t span = o->cfg.base_ejection_ms * h->times_ejected;

		if (h->ejected) {
			if (now_ms >= h->ejected_at_ms + (span < max ? span : max)) {
				h->ejected = false;
				o->n_ejected--;
				back++;
			}
		} else if (!h->ejected_this_interval && h->times_ejected) {
			h->times_ejected--; /* a healthy interval forgets one ejection */
		}
		h->ejected_this_interval = false;
	}
	return back;
}
