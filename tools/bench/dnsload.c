// SPDX-License-Identifier: Apache-2.0
/*
 * bench-dnsload: UDP DNS queries as fast as one core can send them, for the DNS proxy's
 * throughput (tools/bench/dns.sh). dnsperf sends and reads one query a system call, and on one
 * core it tops out below what the kernel's answers (bpf/lib/dnsfast.h) can serve, so it measures
 * itself there; this client moves up to BATCH queries a system call each way (sendmmsg,
 * recvmmsg), and nothing more:
 *
 *   bench-dnsload SERVER PORT QUERYFILE SECONDS [SOCKETS [OUTSTANDING]]
 *   bench-dnsload SERVER PORT QUERYFILE SECONDS --rate R
 *
 * sends the queries of QUERYFILE (dnsperf's format: "name type" a line), round robin, to
 * SERVER:PORT for SECONDS over SOCKETS connected UDP sockets (8), keeping up to OUTSTANDING
 * queries in flight on each (64). An answer counts when its id is one in flight on its socket; a
 * query unanswered after a second is lost. The queries are built by ldns. Prints one JSON line:
 * sent, answered, noerror (answers with RCODE 0), lost, qps (answers a second). Exit 0 when
 * every answer was NOERROR and no more than 1 % were lost.
 *
 * With --rate, latency as a resolver sees it: one socket and one thread, as glibc's resolver,
 * sending R queries a second on schedule and waiting in ppoll for the answers between sends
 * (dnsperf's latency mode sends and receives on two threads, which on one client core wait for
 * each other's time slices). Each answer's time from its send; the JSON line adds p50_us, p99_us
 * and max_us.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <ldns/ldns.h>

#define BATCH 64
#define MSG_MAX 512
#define LOST_NS 1000000000ull
#define MAX_SOCKETS 64

struct query {
	uint8_t *wire;
	size_t len;
};

struct sock {
	int fd;
	uint16_t next_id;
	unsigned int inflight;
	uint8_t live[65536];
	uint64_t sent_ns[65536];
	/* Ids in the order sent, oldest first: a ring of the ones that may still be in flight. */
	uint16_t ring[65536];
	uint32_t head, tail;
};

static uint64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static int load_queries(const char *path, struct query **out, size_t *n)
{
	FILE *f = fopen(path, "r");
	char line[512], name[300], type[32];
	size_t cap = 0;

	*out = NULL;
	*n = 0;
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		ldns_rr_type t;
		ldns_rdf *dname;
		ldns_pkt *pkt;
		uint8_t *wire = NULL;
		size_t len = 0;

		if (sscanf(line, "%299s %31s", name, type) != 2)
			continue;
		t = ldns_get_rr_type_by_name(type);
		dname = ldns_dname_new_frm_str(name);
		if (!t || !dname) {
			fprintf(stderr, "bench-dnsload: %s: bad query \"%s %s\"\n", path, name,
				type);
			ldns_rdf_deep_free(dname);
			continue;
		}
		pkt = ldns_pkt_query_new(dname, t, LDNS_RR_CLASS_IN, LDNS_RD);
		if (!pkt || ldns_pkt2wire(&wire, pkt, &len) != LDNS_STATUS_OK || len > MSG_MAX) {
			ldns_pkt_free(pkt);
			free(wire);
			continue;
		}
		ldns_pkt_free(pkt);
		if (*n == cap) {
			struct query *q = realloc(*out, (cap = cap ? cap * 2 : 256) * sizeof(*q));

			if (!q) {
				free(wire);
				break;
			}
			*out = q;
		}
		(*out)[(*n)++] = (struct query){.wire = wire, .len = len};
	}
	fclose(f);
	return *n ? 0 : -ENOENT;
}

/* Frees the slots of answered queries at the ring's head, and counts the lost ones. */
static void expire(struct sock *s, uint64_t now, uint64_t *lost)
{
	while (s->head != s->tail) {
		uint16_t id = s->ring[s->head % 65536];

		if (s->live[id]) {
			if (now - s->sent_ns[id] < LOST_NS)
				break;
			s->live[id] = 0;
			s->inflight--;
			(*lost)++;
		}
		s->head++;
	}
}

/* Where answers are read, BATCH at a time (main sets the vectors up). */
static uint8_t in[BATCH][MSG_MAX];
static struct mmsghdr imsg[BATCH];
static struct iovec iiov[BATCH];

/* Reads what came to @s: answers to queries in flight there count. recvmmsg's result. */
static int read_answers(struct sock *s, uint64_t *answered, uint64_t *noerror)
{
	int got = recvmmsg(s->fd, imsg, BATCH, MSG_DONTWAIT, NULL);

	for (int i = 0; i < got; i++) {
		uint16_t id = (uint16_t)(in[i][0] << 8 | in[i][1]);

		if (imsg[i].msg_len < 12 || !(in[i][2] & 0x80) || !s->live[id])
			continue;
		s->live[id] = 0;
		s->inflight--;
		(*answered)++;
		*noerror += (in[i][3] & 0x0f) == 0;
	}
	return got;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* --rate: R queries a second on one socket, each answer's latency. */
static int run_rate(const struct sockaddr_in *srv, const struct query *qs, size_t nq, double secs,
		    double rate)
{
	static uint8_t buf[MSG_MAX];
	static uint8_t live[65536];
	static uint64_t sent_ns[65536];
	uint64_t n = (uint64_t)(secs * rate), sent = 0, answered = 0, noerror = 0, *lat;
	uint64_t start, stop, gap = (uint64_t)(1e9 / rate);
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	lat = calloc(n ? n : 1, sizeof(*lat));
	if (fd < 0 || !lat || connect(fd, (const struct sockaddr *)srv, sizeof(*srv))) {
		perror("bench-dnsload: socket");
		return 1;
	}
	start = now_ns();
	stop = start + (uint64_t)(secs * 1e9) + 100000000ull; /* the last answers: 100 ms */
	for (uint64_t now = start; now < stop; now = now_ns()) {
		uint64_t due = start + sent * gap, wait;
		struct pollfd p = {.fd = fd, .events = POLLIN};
		struct timespec ts;

		if (sent < n && now >= due) {
			const struct query *q = &qs[sent % nq];
			uint16_t id = (uint16_t)sent;

			memcpy(buf, q->wire, q->len);
			buf[0] = (uint8_t)(id >> 8);
			buf[1] = (uint8_t)id;
			sent_ns[id] = now_ns();
			live[id] = 1;
			if (send(fd, buf, q->len, 0) < 0)
				live[id] = 0;
			sent++;
			continue;
		}
		wait = sent < n ? due - now : stop - now;
		ts = (struct timespec){.tv_sec = (time_t)(wait / 1000000000ull),
				       .tv_nsec = (long)(wait % 1000000000ull)};
		if (ppoll(&p, 1, &ts, NULL) <= 0)
			continue;
		for (;;) {
			ssize_t got = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
			uint64_t t = now_ns();
			uint16_t id;

			if (got < 12)
				break;
			id = (uint16_t)(buf[0] << 8 | buf[1]);
			if (!(buf[2] & 0x80) || !live[id])
				continue;
			live[id] = 0;
			lat[answered++] = t - sent_ns[id];
			noerror += (buf[3] & 0x0f) == 0;
		}
	}
	qsort(lat, answered, sizeof(*lat), cmp_u64);
#define PCT(p) (answered ? lat[(size_t)((double)(answered - 1) * (p))] / 1000.0 : 0.0)
	printf("{\"sent\":%llu,\"answered\":%llu,\"noerror\":%llu,\"lost\":%llu,"
	       "\"p50_us\":%.1f,\"p99_us\":%.1f,\"max_us\":%.1f}\n",
	       (unsigned long long)sent, (unsigned long long)answered, (unsigned long long)noerror,
	       (unsigned long long)(sent - answered), PCT(0.50), PCT(0.99), PCT(1.0));
#undef PCT
	free(lat);
	close(fd);
	return noerror == answered && (sent - answered) * 100 <= sent ? 0 : 1;
}

int main(int argc, char **argv)
{
	static uint8_t out[BATCH][MSG_MAX];
	struct mmsghdr omsg[BATCH];
	struct iovec oiov[BATCH];
	uint64_t sent = 0, answered = 0, noerror = 0, lost = 0, start, end, now;
	struct sockaddr_in srv = {.sin_family = AF_INET};
	struct pollfd pfd[MAX_SOCKETS];
	unsigned int nsock = 8, outstanding = 64;
	struct query *qs;
	struct sock *socks;
	size_t nq, qi = 0;
	double secs;

	if (argc < 5 || inet_pton(AF_INET, argv[1], &srv.sin_addr) != 1) {
		fprintf(
		    stderr,
		    "usage: bench-dnsload SERVER PORT QUERYFILE SECONDS [SOCKETS [OUTSTANDING]]\n"
		    "       bench-dnsload SERVER PORT QUERYFILE SECONDS --rate R\n");
		return 2;
	}
	srv.sin_port = htons((uint16_t)atoi(argv[2]));
	secs = atof(argv[4]);
	if (argc > 6 && !strcmp(argv[5], "--rate")) {
		double rate = atof(argv[6]);

		if (rate <= 0 || rate > 1e6 || secs <= 0 || secs * rate > 1e8) {
			fprintf(stderr, "bench-dnsload: --rate 1..1000000, SECONDS > 0\n");
			return 2;
		}
		if (load_queries(argv[3], &qs, &nq)) {
			fprintf(stderr, "bench-dnsload: no queries in %s\n", argv[3]);
			return 2;
		}
		return run_rate(&srv, qs, nq, secs, rate);
	}
	if (argc > 5)
		nsock = (unsigned int)atoi(argv[5]);
	if (argc > 6)
		outstanding = (unsigned int)atoi(argv[6]);
	if (!nsock || nsock > MAX_SOCKETS || !outstanding || outstanding > 4096 || secs <= 0) {
		fprintf(stderr, "bench-dnsload: SOCKETS 1..%d, OUTSTANDING 1..4096, SECONDS > 0\n",
			MAX_SOCKETS);
		return 2;
	}
	if (load_queries(argv[3], &qs, &nq)) {
		fprintf(stderr, "bench-dnsload: no queries in %s\n", argv[3]);
		return 2;
	}
	socks = calloc(nsock, sizeof(*socks));
	if (!socks)
		return 1;
	for (unsigned int i = 0; i < nsock; i++) {
		int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0), sz = 4 << 20;

		if (fd < 0 || connect(fd, (struct sockaddr *)&srv, sizeof(srv))) {
			perror("bench-dnsload: socket");
			return 1;
		}
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
		socks[i].fd = fd;
		socks[i].next_id = (uint16_t)(i * 7919);
		pfd[i] = (struct pollfd){.fd = fd, .events = POLLIN};
	}
	for (int i = 0; i < BATCH; i++) {
		iiov[i] = (struct iovec){.iov_base = in[i], .iov_len = MSG_MAX};
		imsg[i] = (struct mmsghdr){.msg_hdr = {.msg_iov = &iiov[i], .msg_iovlen = 1}};
		omsg[i] = (struct mmsghdr){.msg_hdr = {.msg_iov = &oiov[i], .msg_iovlen = 1}};
	}
	start = now_ns();
	end = start + (uint64_t)(secs * 1e9);
	for (now = start; now < end; now = now_ns()) {
		bool idle = true;

		for (unsigned int k = 0; k < nsock; k++) {
			struct sock *s = &socks[k];
			unsigned int want, n = 0;
			int got;

			got = read_answers(s, &answered, &noerror);
			idle &= got <= 0;
			expire(s, now, &lost);
			want = outstanding - s->inflight;
			while (n < want && n < BATCH) {
				const struct query *q = &qs[qi++ % nq];
				uint16_t id = s->next_id++;

				if (s->live[id])
					break; /* in flight for a whole id cycle: wait for it */
				memcpy(out[n], q->wire, q->len);
				out[n][0] = (uint8_t)(id >> 8);
				out[n][1] = (uint8_t)id;
				oiov[n] = (struct iovec){.iov_base = out[n], .iov_len = q->len};
				s->live[id] = 1;
				s->sent_ns[id] = now;
				s->ring[s->tail++ % 65536] = id;
				s->inflight++;
				n++;
			}
			if (!n)
				continue;
			got = sendmmsg(s->fd, omsg, n, MSG_DONTWAIT);
			/* What did not go: no longer in flight (the ring skips it). */
			for (int i = got < 0 ? 0 : got; i < (int)n; i++) {
				uint16_t id = (uint16_t)(out[i][0] << 8 | out[i][1]);

				s->live[id] = 0;
				s->inflight--;
			}
			sent += got < 0 ? 0 : (uint64_t)got;
			idle &= got <= 0;
		}
		if (idle)
			(void)poll(pfd, nsock, 1);
	}
	/* Answers already on their way count (queries/s is of the run's time): 100 ms for them. */
	secs = (double)(now_ns() - start) / 1e9;
	for (uint64_t stop = now_ns() + 100000000ull; now_ns() < stop;) {
		for (unsigned int k = 0; k < nsock; k++) {
			(void)read_answers(&socks[k], &answered, &noerror);
		}
		(void)poll(pfd, nsock, 1);
	}
	for (unsigned int k = 0; k < nsock; k++)
		lost += socks[k].inflight;
	printf("{\"sent\":%llu,\"answered\":%llu,\"noerror\":%llu,\"lost\":%llu,\"qps\":%.0f}\n",
	       (unsigned long long)sent, (unsigned long long)answered, (unsigned long long)noerror,
	       (unsigned long long)lost, (double)answered / secs);
	return noerror == answered && lost * 100 <= sent ? 0 : 1;
}
