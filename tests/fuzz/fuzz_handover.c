// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target for the "give" line of the ztunnel hand-over (ztunnel/handover.h), what a
 * predecessor sends with its listening sockets: the first byte says how many of six
 * descriptors travel with the line (listeners on loopback for slots 0-3, a pipe, a socket that
 * does not listen), the rest is the line. zt_handover_parse must take the line or refuse it
 * with a reason, never file a descriptor twice or one that does not listen on its slot's port,
 * and never close one (every slot is served here).
 * Seeds: tests/fuzz/corpus/fuzz_handover/.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../ztunnel/handover.h"
#include "net/sock.h"

#define N_GOT 6

static int got[N_GOT];
static union sockaddr_inet want[HO__COUNT];

static uint16_t port_of(int fd)
{
	union sockaddr_inet sa;
	socklen_t sl = sizeof(sa);

	return getsockname(fd, &sa.sa, &sl) ? 0 : sockaddr_inet_port(&sa);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	int p[2];

	for (int i = 0; i < 4; i++) {
		got[i] = sock_listen(htonl(INADDR_LOOPBACK), 0, false);
		if (got[i] < 0)
			abort();
	}
	if (pipe(p))
		abort();
	got[4] = p[0];
	got[5] = socket(AF_INET, SOCK_STREAM, 0);
	/* Slots 0-3 are served on the listeners' ports; 4 and 5 on ports nothing listens on. */
	for (int i = 0; i < HO__COUNT; i++)
		sockaddr_inet_v4(&want[i], htonl(INADDR_LOOPBACK),
				 i < 4 ? port_of(got[i]) : (uint16_t)(40000 + i));
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char line[300], why[256] = "";
	int fds[HO__COUNT];
	size_t n;
	int ret;

	if (!size)
		return 0;
	n = data[0] % (N_GOT + 1);
	size = size - 1 < sizeof(line) - 1 ? size - 1 : sizeof(line) - 1;
	memcpy(line, data + 1, size);
	line[size] = '\0';
	for (int i = 0; i < HO__COUNT; i++)
		fds[i] = -1;
	ret = zt_handover_parse(line, got, n, want, fds, why, sizeof(why));
	if (ret && (ret != -EPROTO || !why[0]))
		abort();
	for (int i = 0; i < HO__COUNT; i++) {
		if (fds[i] < 0)
			continue;
		for (int j = 0; j < HO__COUNT; j++)
			if (j != i && fds[j] == fds[i])
				abort(); /* one descriptor filed twice */
		if (!ret && port_of(fds[i]) != sockaddr_inet_port(&want[i]))
			abort(); /* taken on a slot it does not listen for */
	}
	/* Nothing was closed: every descriptor is still open. */
	for (int i = 0; i < N_GOT; i++)
		if (fcntl(got[i], F_GETFD) < 0)
			abort();
	return 0;
}
