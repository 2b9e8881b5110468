/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Passive outlier detection, Envoy's as Istio configures it (API_SEMANTICS.md §2): a host is
 * ejected the moment it reaches consecutive5xxErrors 5xx answers (or consecutiveGatewayErrors
 * 502/503/504 answers; with outlierDetectionHttpErrorCodes, those codes instead of 5xx), while
 * the share already ejected is under maxEjectionPercent (Envoy's rule: one host at least is
 * ejected, whatever the value). Failures to reach the host (connect failure, reset, timeout)
 * count as a 503 unless splitExternalLocalOriginErrors, which counts them separately against
 * consecutiveLocalOriginFailures. Each interval a sweep returns hosts whose ejection time,
 * baseEjectionTime x times ejected (capped at Envoy's 300 s max_ejection_time, or the base
 * when larger), has passed, and lets a host that stayed healthy a whole interval forget one
 * ejection. Time is injected (milliseconds of any monotonic clock).
 */
#ifndef AMBIT_WAYPOINT_OUTLIER_H
#define AMBIT_WAYPOINT_OUTLIER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ambit/config.h"

enum wp_outcome {
	WP_OUTCOME_RESPONSE = 0, /* an upstream response with a status */
	WP_OUTCOME_CONNECT_FAILURE,
	WP_OUTCOME_TIMEOUT,
	WP_OUTCOME_RESET,
};

struct wp_outlier_host {
	uint32_t consecutive_5xx, consecutive_gateway, consecutive_local;
	uint32_t times_ejected;
	bool ejected;
	uint64_t ejected_at_ms;
	bool ejected_this_interval;
};

struct wp_outlier {
	struct config_outlier_detection cfg; /* error_codes borrowed from the policy */
	size_t n_hosts, n_ejected;
	struct wp_outlier_host *hosts;
	uint64_t next_sweep_ms;
};

/* @cfg borrowed (its error codes must outlive @o). 0 or -ENOMEM; free with wp_outlier_destroy. */
int wp_outlier_init(struct wp_outlier *o, const struct config_outlier_detection *cfg,
		    size_t n_hosts, uint64_t now_ms);
void wp_outlier_destroy(struct wp_outlier *o);
/* Records one result of host @i; returns true when it ejected the host. */
bool wp_outlier_record(struct wp_outlier *o, size_t i, enum wp_outcome what, int status,
		       uint64_t now_ms);
/* Runs the interval sweep when due (call on every tick); returns how many hosts came back. */
size_t wp_outlier_sweep(struct wp_outlier *o, uint64_t now_ms);
bool wp_outlier_ejected(const struct wp_outlier *o, size_t i);

#endif
