/* SPDX-License-Identifier: Apache-2.0 */
/* What every binary's --version prints: the tree it was built from (`git describe`). */
#ifndef AMBIT_VERSION_H
#define AMBIT_VERSION_H

const char *ambit_version(void);

#endif
