/* SPDX-License-Identifier: Apache-2.0 */
/* The Services of class istio and istio-east-west Gateways, as Istio's controller makes them. */
#ifndef AMBIT_CONTROL_GWSERVICES_H
#define AMBIT_CONTROL_GWSERVICES_H

#include <stdbool.h>

#include "ambit/config.h"

/*
 * The Services @cfg's Gateways of class istio and istio-east-west have, as one YAML stream
 * (malloc'd into *@out; NULL when none); a Gateway whose service-type annotation names no type
 * is said on stderr and gets none. 0 or -ENOMEM.
 */
int gwservices_render(const struct config *cfg, char **out);
/* Whether Service @s is one of these that was made for a Gateway @cfg no longer has. */
bool gwservices_orphan(const struct config *cfg, const struct config_service *s);

#endif
