// SPDX-License-Identifier: Apache-2.0
/* The build's version (include/ambit/version.h): `git describe` at build time, set by make. */
#include "ambit/version.h"

#ifndef AMBIT_VERSION
#define AMBIT_VERSION "dev"
#endif

const char *ambit_version(void)
{
	return AMBIT_VERSION;
}
