// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer driver: hostile bytes into the HBONE server session (HTTP/2 preface, frames, HPACK,
 * CONNECT validation), as a peer would send them after the TLS handshake.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "../../ztunnel/hbone.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
	static uint8_t buf[1 << 16];

	hbone_fuzz_server_input(data, size);
	/* Past the preface too, so the frame parser sees most inputs. */
	if (size + sizeof(preface) - 1 <= sizeof(buf)) {
		memcpy(buf, preface, sizeof(preface) - 1);
		memcpy(buf + sizeof(preface) - 1, data, size);
		hbone_fuzz_server_input(buf, size + sizeof(preface) - 1);
	}
	return 0;
}
