// SPDX-License-Identifier: Apache-2.0
/*
 * Writes the binary seed corpora of the fuzz targets into tests/fuzz/corpus/<target>/
 * (`make fuzz-seeds`; the outputs are committed, so a run needs no generator). Each seed is a
 * real input of its kind, made by the code that makes it in the mesh or by the library the peer
 * would use:
 *   fuzz_connect  a peer ztunnel's bytes (nghttp2 client: preface, SETTINGS, CONNECTs, DATA)
 *   fuzz_client   a peer ztunnel's answers (nghttp2 server fed the ztunnel's CONNECTs)
 *   fuzz_h2       an HTTP/2 client's requests (nghttp2 client: GET, POST, trailers, resets)
 *   fuzz_waypoint_h2  gRPC clients' calls to the waypoint (nghttp2 client) and its upstreams'
 *                 answers (nghttp2 server: messages and grpc-status trailers, trailers-only
 *                 errors, resets, GOAWAY)
 *   fuzz_spiffe   certificates of the project's CA (ca_issue), PEM and DER
 *   fuzz_bpf      Ethernet frames: SYNs, segments, UDP, ARP, options, fragments; IPv6 TCP, UDP,
 *                 ND, MLD behind Hop-by-Hop, spoofed, cut; IPv6 TCP to and from the dual-stack
 *                 pod behind each kind of extension header, fragmented, refused with a reset;
 *                 the node's own segments marked as tc_veth_egress turns them back
 *   fuzz_ipc      agent socket requests, framed as ipc_write_frame frames them
 *   fuzz_snapshot a snapshot as the agent encodes it (snapshot_encode), policies included
 *   fuzz_tls_hello ClientHellos of an OpenSSL client: with and without SNI, TLS 1.2 only,
 *                 ALPN, a long name; one cut short
 *   fuzz_jwt      tokens signed with the target's embedded keys (jwt_sign.h), claims for it to
 *                 sign, key sets good and hostile
 *   fuzz_dns_query     pods' queries as a resolver sends them (ldns): A, AAAA, SRV, ANY, EDNS,
 *                 short and search-list names, another opcode, one cut short; AAAA of
 *                 dual-stack, headless and IPv4-only names
 *   fuzz_dns_upstream  resolvers' answers (ldns): A, CNAME chains, SRV, NXDOMAIN with SOA,
 *                 truncated, EDNS, compressed names
 * The text seeds (fuzz_config, fuzz_runtime, fuzz_forwarded, fuzz_l7) are files written by hand.
 * Usage: gen_seeds CORPUS_DIR [TARGET...] (tests/fuzz/corpus; with TARGETs, only theirs: the
 * certificate and key seeds differ on every run).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip6.h>
#include <netinet/tcp.h>
#include <linux/if_ether.h>
#include <ldns/ldns.h>
#include <nghttp2/nghttp2.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "ambit/ca.h"
#include "ambit/config.h"
#include "ambit/log.h"
#include "ambit/policy.h"
#include "ambit/snapshot.h"
#include "bpf_dns.h"
#include "jwt_sign.h"

#define TD "spiffe://cluster.local/ns/demo/sa/"

static const char *corpus;

static void die(const char *what)
{
	fprintf(stderr, "gen_seeds: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void put(const char *target, const char *name, const void *data, size_t len)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", corpus, target);
	if (mkdir(path, 0755) && errno != EEXIST)
		die(path);
	snprintf(path, sizeof(path), "%s/%s/%s", corpus, target, name);
	f = fopen(path, "wb");
	if (!f || fwrite(data, 1, len, f) != len || fclose(f))
		die(path);
}

/* ---- HTTP/2: a growing byte buffer and sessions run from memory ---- */

struct bytes {
	uint8_t buf[8192];
	size_t len;
};

static void add(struct bytes *b, const void *p, size_t n)
{
	if (b->len + n > sizeof(b->buf))
		die("seed too large");
	memcpy(b->buf + b->len, p, n);
	b->len += n;
}

static void drain(nghttp2_session *h2, struct bytes *out)
{
	const uint8_t *data;
	ssize_t n;

	while ((n = nghttp2_session_mem_send(h2, &data)) > 0)
		if (out)
			add(out, data, (size_t)n);
	if (n < 0)
		die("nghttp2_session_mem_send");
}

struct body {
	const char *data;
	size_t off;
	bool end; /* END_STREAM after the body (the TCP side's EOF) */
};

static ssize_t body_read(nghttp2_session *h2, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
			 nghttp2_data_source *src, void *arg)
{
	struct body *b = src->ptr;
	size_t n = strlen(b->data) - b->off;

	if (n > len)
		n = len;
	memcpy(buf, b->data + b->off, n);
	b->off += n;
	if (b->off == strlen(b->data)) {
		if (!b->end)
			return n ? (ssize_t)n : NGHTTP2_ERR_DEFERRED;
		*flags |= NGHTTP2_DATA_FLAG_EOF;
	}
	return (ssize_t)n;
}

struct req {
	const char *authority;
	const char *forwarded; /* NULL: none */
	struct body body;      /* data: NULL for none */
};

/* x-forwarded-network on every CONNECT client_requests writes (double HBONE's inner), or NULL. */
static const char *seed_network;

static nghttp2_session *client_new(void)
{
	nghttp2_session_callbacks *cbs;
	nghttp2_session *h2;

	if (nghttp2_session_callbacks_new(&cbs) || nghttp2_session_client_new(&h2, cbs, NULL))
		die("nghttp2 client");
	nghttp2_session_callbacks_del(cbs);
	if (nghttp2_submit_settings(h2, NGHTTP2_FLAG_NONE, NULL, 0))
		die("settings");
	return h2;
}

/* The CONNECTs of @reqs as the ztunnel's hbone_pool_open sends them, with their bodies. */
static void client_requests(nghttp2_session *h2, struct req *reqs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		nghttp2_nv nv[4] = {
		    {(uint8_t *)":method", (uint8_t *)"CONNECT", 7, 7, NGHTTP2_NV_FLAG_NONE},
		    {(uint8_t *)":authority", (uint8_t *)reqs[i].authority, 10,
		     strlen(reqs[i].authority), NGHTTP2_NV_FLAG_NONE},
		};
		nghttp2_data_provider prd = {.source.ptr = &reqs[i].body,
					     .read_callback = body_read};
		size_t nnv = 2;

		if (reqs[i].forwarded)
			nv[nnv++] =
			    (nghttp2_nv){(uint8_t *)"forwarded", (uint8_t *)reqs[i].forwarded, 9,
					 strlen(reqs[i].forwarded), NGHTTP2_NV_FLAG_NONE};
		if (seed_network)
			nv[nnv++] =
			    (nghttp2_nv){(uint8_t *)"x-forwarded-network", (uint8_t *)seed_network,
					 19, strlen(seed_network), NGHTTP2_NV_FLAG_NONE};
		if (nghttp2_submit_request(h2, NULL, nv, nnv, reqs[i].body.data ? &prd : NULL,
					   NULL) < 0)
			die("request");
	}
}

/*
 * fuzz_connect: byte 0 = peer identity (bits 0-1) | cut << 2, then the peer's bytes (the client
 * magic included: nghttp2's client session writes it).
 */
static void connect_seed(const char *name, uint8_t ident, uint8_t cut, struct req *reqs, size_t n,
			 bool goaway)
{
	nghttp2_session *h2 = client_new();
	struct bytes b = {.len = 1};

	b.buf[0] = (uint8_t)(ident | cut << 2);
	client_requests(h2, reqs, n);
	if (goaway)
		nghttp2_submit_goaway(h2, NGHTTP2_FLAG_NONE, 0, NGHTTP2_NO_ERROR, NULL, 0);
	drain(h2, &b);
	nghttp2_session_del(h2);
	put("fuzz_connect", name, b.buf, b.len);
}

#define FWD_CLIENT "for=\"127.0.0.3:40000\";host=web.demo.svc.cluster.local"
#define GET "GET / HTTP/1.1\r\nHost: web\r\n\r\n"

static void gen_connect(void)
{
	struct req web = {"127.0.0.2:8080", FWD_CLIENT, {GET, 0, true}};
	struct req web_open = {"127.0.0.2:8080", FWD_CLIENT, {GET, 0, false}};
	struct req db = {"127.0.0.5:5432", "for=\"127.0.0.3:40001\"", {"SELECT 1;\n", 0, true}};
	struct req plain = {"127.0.0.4:80", NULL, {NULL, 0, false}};
	struct req node = {"127.0.0.2:8080", NULL, {GET, 0, true}};
	struct req spoof = {"127.0.0.2:8080", "for=127.0.0.5", {NULL, 0, false}};
	struct req bad[] = {{"web.demo:8080", NULL, {NULL, 0, false}},
			    {"127.0.0.2", NULL, {NULL, 0, false}},
			    {"127.0.0.2:0", NULL, {NULL, 0, false}},
			    {"127.0.0.2:8080", "for=\"[::1]:80\";by=x, for=127.0.0.3", {0}}};
	struct req three[] = {web, db, plain};
	struct req by_host[] = {{"web.demo.svc.cluster.local:80", FWD_CLIENT, {GET, 0, true}},
				{"web.demo.svc.cluster.local:81", NULL, {NULL, 0, false}},
				{"nothere.demo.svc.cluster.local:80", NULL, {NULL, 0, false}}};
	/* The proxy's own ports: refused (503) before policy, nothing connected. */
	struct req own[] = {{"127.0.0.2:15008", FWD_CLIENT, {GET, 0, true}},
			    {"127.0.0.2:15006", NULL, {NULL, 0, false}},
			    {"127.0.0.2:15001", NULL, {NULL, 0, false}}};

	connect_seed("web_allowed", 0, 0, &web, 1, false);
	connect_seed("web_allowed_cut", 0, 5, &web_open, 1, false);
	connect_seed("web_from_node", 0, 0, &node, 1, false);
	connect_seed("db_denied_by_policy", 0, 0, &db, 1, false);
	connect_seed("not_enrolled", 0, 0, &plain, 1, false);
	connect_seed("local_identity", 1, 0, &web, 1, false);
	connect_seed("no_identity", 2, 0, &web, 1, false);
	connect_seed("foreign_trust_domain", 3, 0, &web, 1, false);
	connect_seed("claims_other_workload", 0, 0, &spoof, 1, false);
	connect_seed("bad_authorities", 0, 0, bad, 4, false);
	connect_seed("three_streams_goaway", 0, 9, three, 3, true);
	connect_seed("proxy_ports", 0, 0, own, 3, false);
	/*
	 * Istio's double HBONE, the inner CONNECT an east-west gateway passes on: the Service's
	 * hostname and port, from another network (whose claimed address names no one here), a
	 * port the Service lacks, a host no Service has.
	 */
	seed_network = "network2";
	connect_seed("by_service_host", 0, 0, by_host, 3, false);
	seed_network = NULL;
}

/* fuzz_client: what a server answers to @n CONNECTs (streams 1, 3, 5). */
enum answer { OK_DATA, OK_OPEN, DENIED, REFUSED, RESET, NONE, OK_BAGGAGE, OK_ODD_BAGGAGE };

/* The 200's `baggage`: the destination as Istio's ztunnel describes it, and a hostile one. */
static const char *const answer_baggage[] = {
    [OK_BAGGAGE] = "k8s.cluster.name=Kubernetes,k8s.namespace.name=demo,"
		   "k8s.deployment.name=web,service.name=web,service.version=v1,"
		   "cloud.region=r1,cloud.availability_zone=z1",
    [OK_ODD_BAGGAGE] = "k8s.namespace.name=,k8s.statefulset.name=db,k8s.job.name=a\"b,"
		       "service.name = x;prop=1,service.name=y,k8s.pod.name=%41,=,,;",
};

static void client_seed(const char *name, uint8_t cut, const enum answer *ans, size_t n,
			bool goaway)
{
	static struct req r = {"127.0.0.2:8080", FWD_CLIENT, {GET, 0, false}};
	struct req reqs[3] = {r, r, r};
	nghttp2_session_callbacks *cbs;
	nghttp2_session *cli = client_new(), *srv;
	struct body bodies[3];
	struct bytes req = {0}, b = {.len = 1};

	client_requests(cli, reqs, n);
	drain(cli, &req);
	nghttp2_session_del(cli);
	if (nghttp2_session_callbacks_new(&cbs) || nghttp2_session_server_new(&srv, cbs, NULL))
		die("nghttp2 server");
	nghttp2_session_callbacks_del(cbs);
	nghttp2_submit_settings(srv, NGHTTP2_FLAG_NONE, NULL, 0);
	if (nghttp2_session_mem_recv(srv, req.buf, req.len) != (ssize_t)req.len)
		die("server recv");
	for (size_t i = 0; i < n; i++) {
		int32_t id = (int32_t)(1 + 2 * i);
		const char *status = ans[i] == DENIED ? "401" : ans[i] == REFUSED ? "503" : "200";
		const char *bag = ans[i] >= OK_BAGGAGE ? answer_baggage[ans[i]] : NULL;
		nghttp2_nv nv[2] = {
		    {(uint8_t *)":status", (uint8_t *)status, 7, 3, NGHTTP2_NV_FLAG_NONE},
		    {(uint8_t *)"baggage", (uint8_t *)bag, 7, bag ? strlen(bag) : 0,
		     NGHTTP2_NV_FLAG_NONE},
		};
		nghttp2_data_provider prd = {.source.ptr = &bodies[i], .read_callback = body_read};
		bool data = ans[i] == OK_DATA || ans[i] >= OK_BAGGAGE;

		bodies[i] =
		    (struct body){"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", 0, data};
		if (ans[i] == NONE)
			continue;
		if (nghttp2_submit_response(srv, id, nv, bag ? 2 : 1,
					    data || ans[i] == OK_OPEN ? &prd : NULL))
			die("response");
		if (ans[i] == RESET)
			nghttp2_submit_rst_stream(srv, NGHTTP2_FLAG_NONE, id,
						  NGHTTP2_CONNECT_ERROR);
	}
	if (goaway)
		nghttp2_submit_goaway(srv, NGHTTP2_FLAG_NONE, 1, NGHTTP2_NO_ERROR, NULL, 0);
	b.buf[0] = (uint8_t)((n - 1) | cut << 2);
	drain(srv, &b);
	nghttp2_session_del(srv);
	put("fuzz_client", name, b.buf, b.len);
}

static void gen_client(void)
{
	static const enum answer ok[] = {OK_DATA}, open[] = {OK_OPEN}, denied[] = {DENIED},
				 refused[] = {REFUSED}, reset[] = {RESET},
				 mixed[] = {OK_DATA, DENIED, REFUSED},
				 half[] = {OK_OPEN, NONE, RESET},
				 bag[] = {OK_BAGGAGE, OK_ODD_BAGGAGE, DENIED};

	client_seed("ok_data_eof", 0, ok, 1, false);
	client_seed("ok_open_cut", 2, open, 1, false);
	client_seed("denied_401", 0, denied, 1, false);
	client_seed("refused_503", 0, refused, 1, false);
	client_seed("ok_then_reset", 0, reset, 1, false);
	client_seed("three_mixed", 4, mixed, 3, false);
	client_seed("three_goaway", 0, half, 3, true);
	client_seed("ok_with_baggage", 0, bag, 1, false);
	client_seed("three_baggage", 0, bag, 3, false);
}

/* ---- fuzz_h2: plain HTTP/2 requests, as a client library sends them ---- */

/* A request body that ends with trailers instead of END_STREAM. */
static ssize_t body_then_trailers(nghttp2_session *h2, int32_t id, uint8_t *buf, size_t len,
				  uint32_t *flags, nghttp2_data_source *src, void *arg)
{
	static const nghttp2_nv trailer = {(uint8_t *)"grpc-timeout", (uint8_t *)"1S", 12, 2,
					   NGHTTP2_NV_FLAG_NONE};
	ssize_t n = body_read(h2, id, buf, len, flags, src, arg);

	if (*flags & NGHTTP2_DATA_FLAG_EOF) {
		*flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
		if (nghttp2_submit_trailer(h2, id, &trailer, 1))
			die("trailer");
	}
	return n;
}

struct h2req {
	const char *method, *path;
	const char *body; /* NULL: none */
	bool trailers;	  /* the body ends with trailers */
	bool reset;	  /* RST_STREAM right after the request */
	size_t big;	  /* a header value this long (0: none) */
};

static void h2_seed(const char *name, uint8_t limits, uint8_t cut, const struct h2req *r, size_t n,
		    bool goaway)
{
	nghttp2_session *h2 = client_new();
	struct bytes b = {.len = 1};
	struct body bodies[8];
	char big[256];

	memset(big, 'x', sizeof(big));
	b.buf[0] = (uint8_t)(limits | cut << 2);
	for (size_t i = 0; i < n; i++) {
		nghttp2_nv nv[5] = {
		    {(uint8_t *)":method", (uint8_t *)r[i].method, 7, strlen(r[i].method),
		     NGHTTP2_NV_FLAG_NONE},
		    {(uint8_t *)":scheme", (uint8_t *)"http", 7, 4, NGHTTP2_NV_FLAG_NONE},
		    {(uint8_t *)":authority", (uint8_t *)"svc.demo:8080", 10, 13,
		     NGHTTP2_NV_FLAG_NONE},
		    {(uint8_t *)":path", (uint8_t *)r[i].path, 5, strlen(r[i].path),
		     NGHTTP2_NV_FLAG_NONE},
		    {(uint8_t *)"x-big", (uint8_t *)big, 5, r[i].big, NGHTTP2_NV_FLAG_NONE},
		};
		nghttp2_data_provider prd = {.source.ptr = &bodies[i],
					     .read_callback =
						 r[i].trailers ? body_then_trailers : body_read};
		int32_t id;

		if (i >= sizeof(bodies) / sizeof(bodies[0]) || r[i].big > sizeof(big))
			die("h2 seed");
		bodies[i] = (struct body){r[i].body, 0, true};
		id = nghttp2_submit_request(h2, NULL, nv, r[i].big ? 5 : 4, r[i].body ? &prd : NULL,
					    NULL);
		if (id < 0)
			die("request");
		drain(h2, &b);
		if (r[i].reset) {
			nghttp2_submit_rst_stream(h2, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
			drain(h2, &b);
		}
	}
	if (goaway)
		nghttp2_submit_goaway(h2, NGHTTP2_FLAG_NONE, 0, NGHTTP2_NO_ERROR, NULL, 0);
	drain(h2, &b);
	nghttp2_session_del(h2);
	put("fuzz_h2", name, b.buf, b.len);
}

static void gen_h2(void)
{
	static const struct h2req get = {"GET", "/", NULL, false, false, 0},
				  echo = {"POST", "/echo", "ping\n", false, false, 0},
				  grpc = {"POST", "/echo", "hello grpc", true, false, 0},
				  hold = {"POST", "/hold", GET GET GET GET, false, false, 0},
				  big = {"GET", "/", NULL, false, false, 200};
	const struct h2req mixed[] = {get,
				      {"GET", "/reset", NULL, false, false, 0},
				      {"GET", "/refuse", NULL, false, false, 0},
				      echo,
				      {"DELETE", "/", NULL, false, false, 0}};
	const struct h2req close[] = {get, {"GET", "/close", NULL, false, false, 0}, get};
	const struct h2req holds[] = {hold, hold, hold, get};
	struct h2req resets[6];

	for (size_t i = 0; i < 6; i++)
		resets[i] = (struct h2req){"GET", "/hold", NULL, false, true, 0};
	h2_seed("get", 0, 0, &get, 1, false);
	h2_seed("post_echo", 0, 0, &echo, 1, false);
	h2_seed("post_echo_cut", 0, 5, &echo, 1, false);
	h2_seed("grpc_trailers", 0, 0, &grpc, 1, false);
	h2_seed("hold", 0, 0, &hold, 1, false);
	h2_seed("mixed_goaway", 0, 8, mixed, 5, true);
	h2_seed("close_inside", 0, 0, close, 3, false);
	h2_seed("max_streams", 1, 0, holds, 4, false);
	h2_seed("rapid_reset", 2, 0, resets, 6, false);
	h2_seed("rapid_reset_cut", 2, 7, resets, 6, false);
	h2_seed("big_header", 3, 0, &big, 1, false);
}

/* ---- certificates ---- */

static void put_der(const char *name, const char *pem)
{
	BIO *bio = BIO_new_mem_buf(pem, -1);
	X509 *x = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
	unsigned char *der = NULL;
	int len = x ? i2d_X509(x, &der) : -1;

	if (len <= 0)
		die("DER");
	put("fuzz_spiffe", name, der, (size_t)len);
	OPENSSL_free(der);
	X509_free(x);
	BIO_free(bio);
}

static void gen_spiffe(const char *dir)
{
	struct ambit_ca *ca = ca_open(dir);
	struct ca_issued is;

	if (!ca || ca_issue(ca, TD "web", 3600, &is))
		die("CA");
	put("fuzz_spiffe", "leaf.pem", is.cert_pem, strlen(is.cert_pem));
	put_der("leaf.der", is.cert_pem);
	put("fuzz_spiffe", "root.pem", ca_root_pem(ca), strlen(ca_root_pem(ca)));
	put_der("root.der", ca_root_pem(ca));
	ca_issued_free(&is);
	ca_destroy(ca);
}

/* ---- packets, as tests/bpf/test_steer.c builds them ---- */

struct pkt {
	uint8_t ifpick; /* fuzz_bpf's byte 0: 0 uplink, 1 pod 10.1.0.5's veth, 2 10.1.0.9's */
	uint16_t eth_proto;
	uint8_t ihl, protocol;
	uint16_t frag_off;
	const char *saddr, *daddr;
	uint16_t sport, dport;
	uint8_t flags; /* TCP flags byte */
	size_t truncate;
};

static uint32_t ip4(const char *s)
{
	struct in_addr a;

	if (inet_pton(AF_INET, s, &a) != 1)
		die(s);
	return a.s_addr;
}

static void packet(const char *name, struct pkt p)
{
	uint8_t buf[128] = {0};
	uint8_t ihl = p.ihl ? p.ihl : 5;
	size_t l3 = 1 + ETH_HLEN, l4 = l3 + ihl * 4u;
	size_t len = l4 + (p.protocol == IPPROTO_TCP ? sizeof(struct tcphdr) : 8);
	struct ethhdr eth = {.h_proto = htons(p.eth_proto ? p.eth_proto : ETH_P_IP)};
	struct iphdr ip = {.version = 4, .ihl = ihl, .ttl = 64, .protocol = p.protocol};

	buf[0] = p.ifpick;
	ip.frag_off = htons(p.frag_off);
	ip.saddr = ip4(p.saddr);
	ip.daddr = ip4(p.daddr);
	ip.tot_len = htons((uint16_t)(len - l3));
	memcpy(buf + 1, &eth, sizeof(eth));
	memcpy(buf + l3, &ip, sizeof(ip));
	if (p.protocol == IPPROTO_TCP) {
		struct tcphdr tcp = {.source = htons(p.sport), .dest = htons(p.dport), .doff = 5};

		memcpy(buf + l4, &tcp, sizeof(tcp));
		buf[l4 + 13] = p.flags;
	} else {
		uint16_t udp[4] = {htons(p.sport), htons(p.dport), htons(8), 0};

		memcpy(buf + l4, udp, sizeof(udp));
	}
	put("fuzz_bpf", name, buf, p.truncate ? 1 + p.truncate : len);
}

#define SYN 0x02
#define ACK 0x10
#define FIN 0x01
#define RST 0x04

/*
 * An IPv6 frame (fixed header, an optional 8-byte extension header @ext before @nexthdr, then
 * 20 bytes of TCP, 8 of UDP or 24 of ICMPv6 @icmp), as test_steer's steer_fixture_build6.
 */
struct pkt6 {
	uint8_t ifpick, version, ext_nexthdr, nexthdr, icmp;
	bool ext;
	const char *saddr, *daddr;
	size_t truncate;
};

static void packet6(const char *name, struct pkt6 p)
{
	uint8_t buf[128] = {0};
	size_t l3 = 1 + ETH_HLEN, ext = p.ext ? 8 : 0, l4 = l3 + sizeof(struct ip6_hdr) + ext;
	size_t l4_len = p.nexthdr == IPPROTO_TCP   ? sizeof(struct tcphdr)
			: p.nexthdr == IPPROTO_UDP ? 8
						   : 24;
	struct ethhdr eth = {.h_proto = htons(ETH_P_IPV6)};
	struct ip6_hdr ip6 = {.ip6_hlim = 64};

	buf[0] = p.ifpick;
	ip6.ip6_flow = htonl((uint32_t)(p.version ? p.version : 6) << 28);
	ip6.ip6_plen = htons((uint16_t)(ext + l4_len));
	ip6.ip6_nxt = p.ext ? p.ext_nexthdr : p.nexthdr;
	if (inet_pton(AF_INET6, p.saddr, &ip6.ip6_src) != 1 ||
	    inet_pton(AF_INET6, p.daddr, &ip6.ip6_dst) != 1)
		die(name);
	memcpy(buf + 1, &eth, sizeof(eth));
	memcpy(buf + l3, &ip6, sizeof(ip6));
	if (p.ext) {
		/* Hop-by-Hop with Router Alert and PadN; the same bytes pass for another header. */
		const uint8_t hdr[8] = {p.nexthdr, 0, 5, 2, 0, 0, 1, 0};

		memcpy(buf + l3 + sizeof(ip6), hdr, sizeof(hdr));
	}
	if (p.nexthdr == IPPROTO_TCP) {
		struct tcphdr tcp = {
		    .source = htons(40000), .dest = htons(80), .doff = 5, .syn = 1};

		memcpy(buf + l4, &tcp, sizeof(tcp));
	} else if (p.nexthdr == IPPROTO_UDP) {
		uint16_t udp[4] = {htons(40000), htons(53), htons(8), 0};

		memcpy(buf + l4, udp, sizeof(udp));
	} else {
		buf[l4] = p.icmp;
		memcpy(buf + l4 + 8, &ip6.ip6_dst, 16);
	}
	put("fuzz_bpf", name, buf, p.truncate ? 1 + p.truncate : l4 + l4_len);
}

/* IPv6 (fuzz_bpf's ifpick 2 is the enrolled pod 10.1.0.9's veth): refused but for ICMPv6. */
static void gen_bpf6(void)
{
	/* ifpick, version, ext_nexthdr, nexthdr, icmp, ext, saddr, daddr, cut */
	static const struct {
		const char *name;
		struct pkt6 p;
	} pkts[] = {
	    {"ipv6_tcp_from_enrolled", {2, 0, 0, 6, 0, false, "fd00:1::9", "fd00:3::1", 0}},
	    {"ipv6_udp_from_enrolled", {2, 0, 0, 17, 0, false, "fe80::9", "ff02::1:2", 0}},
	    {"ipv6_tcp_to_pod", {0, 0, 0, 6, 0, false, "fd00:3::1", "fd00:1::9", 0}},
	    {"ipv6_udp_from_plain_pod", {1, 0, 0, 17, 0, false, "fd00:1::5", "fd00:3::1", 0}},
	    {"ipv6_nd_from_enrolled", {2, 0, 0, 58, 135, false, "fe80::9", "ff02::1:ff00:1", 0}},
	    {"ipv6_dad_from_enrolled", {2, 0, 0, 58, 135, false, "::", "ff02::1:ff00:9", 0}},
	    {"ipv6_echo_spoofed", {2, 0, 0, 58, 128, false, "fd00:1::9", "fd00:3::1", 0}},
	    {"ipv6_mld_hopopts", {2, 0, 0, 58, 143, true, "fe80::9", "ff02::16", 0}},
	    {"ipv6_tcp_behind_fragment", {2, 0, 44, 6, 0, true, "fe80::9", "fd00:3::1", 0}},
	    {"ipv6_header_cut", {0, 0, 0, 6, 0, false, "fd00:3::1", "fd00:1::9", ETH_HLEN + 39}},
	    {"ipv6_payload_cut", {2, 0, 0, 6, 0, false, "fe80::9", "fd00:3::1", ETH_HLEN + 40}},
	    {"ipv6_version_4", {1, 4, 0, 6, 0, false, "fd00:1::5", "fd00:3::1", 0}},
	    /* No pod is a router (lib/ndguard.h); an NA's target is the seed's destination. */
	    {"ipv6_ra_from_dual", {4, 0, 0, 58, 134, false, "fe80::11", "ff02::1", 0}},
	    {"ipv6_redirect_from_enrolled", {2, 0, 0, 58, 137, false, "fe80::9", "fe80::5", 0}},
	    {"ipv6_na_own_from_dual", {4, 0, 0, 58, 136, false, "fe80::11", "fd00:1::11", 0}},
	    {"ipv6_na_foreign_from_dual", {4, 0, 0, 58, 136, false, "fe80::11", "fd00:1::5", 0}},
	};

	for (size_t i = 0; i < sizeof(pkts) / sizeof(pkts[0]); i++)
		packet6(pkts[i].name, pkts[i].p);
}

/*
 * IPv6 TCP (or @proto) of the dual-stack pod fd00:1::11 (fuzz_bpf's ifpick 4 is its veth) behind
 * extension headers @ext[0..n): Hop-by-Hop, Routing and Destination Options of 8 bytes, AH of 16,
 * Fragment with @frag_off (host order).
 */
struct chain6 {
	uint8_t ifpick;
	const char *saddr, *daddr;
	uint16_t dport;
	uint8_t flags;
	uint8_t n;
	uint8_t ext[9];
	uint16_t frag_off;
	uint8_t proto; /* 0: TCP */
};

static void chain6(const char *name, struct chain6 c)
{
	uint8_t buf[256] = {0};
	size_t off = 1 + ETH_HLEN + sizeof(struct ip6_hdr), l4_len;
	uint8_t proto = c.proto ? c.proto : IPPROTO_TCP;
	struct ethhdr eth = {.h_proto = htons(ETH_P_IPV6)};
	struct ip6_hdr ip6 = {.ip6_flow = htonl(6u << 28), .ip6_hlim = 64};

	buf[0] = c.ifpick;
	for (unsigned int i = 0; i < c.n; i++) {
		size_t len = c.ext[i] == IPPROTO_AH ? 16 : 8;

		buf[off] = i + 1 < c.n ? c.ext[i + 1] : proto;
		if (c.ext[i] == IPPROTO_FRAGMENT) {
			buf[off + 2] = (uint8_t)(c.frag_off >> 8);
			buf[off + 3] = (uint8_t)c.frag_off;
		} else if (c.ext[i] == IPPROTO_AH) {
			buf[off + 1] = 2;
		} else {
			buf[off + 2] = 1; /* PadN */
			buf[off + 3] = 4;
		}
		off += len;
	}
	if (proto == IPPROTO_TCP) {
		struct tcphdr tcp = {.source = htons(40000), .dest = htons(c.dport), .doff = 5};

		memcpy(buf + off, &tcp, sizeof(tcp));
		buf[off + 13] = c.flags;
		l4_len = sizeof(tcp);
	} else {
		buf[off] = 143; /* an MLDv2 report */
		l4_len = 24;
	}
	ip6.ip6_plen = htons((uint16_t)(off + l4_len - 1 - ETH_HLEN - sizeof(ip6)));
	ip6.ip6_nxt = c.n ? c.ext[0] : proto;
	if (inet_pton(AF_INET6, c.saddr, &ip6.ip6_src) != 1 ||
	    inet_pton(AF_INET6, c.daddr, &ip6.ip6_dst) != 1)
		die(name);
	memcpy(buf + 1, &eth, sizeof(eth));
	memcpy(buf + 1 + ETH_HLEN, &ip6, sizeof(ip6));
	put("fuzz_bpf", name, buf, off + l4_len);
}

#define HOP IPPROTO_HOPOPTS
#define RT IPPROTO_ROUTING
#define FRAG IPPROTO_FRAGMENT
#define DST IPPROTO_DSTOPTS

static void gen_bpf6_dual(void)
{
	/* ifpick, saddr, daddr, dport, flags, headers: n, kinds, fragment offset; protocol */
	static const struct {
		const char *name;
		struct chain6 c;
	} pkts[] = {
	    {"ipv6_syn_dual_no_proxy", {0, "2001:db8::1", "fd00:1::11", 80, SYN, 0, {0}, 0, 0}},
	    {"ipv6_syn_dual_hbone", {0, "2001:db8::1", "fd00:1::11", 15008, SYN, 0, {0}, 0, 0}},
	    {"ipv6_syn_dual_strict_reset",
	     {0, "2001:db8::1", "fd00:1::11", 8080, SYN, 0, {0}, 0, 0}},
	    {"ipv6_syn_dual_denied_reset",
	     {0, "2001:db8:9::1", "fd00:1::11", 80, SYN, 2, {HOP, DST}, 0, 0}},
	    {"ipv6_syn_dual_three_headers",
	     {0, "2001:db8::1", "fd00:1::11", 80, SYN, 3, {HOP, RT, DST}, 0, 0}},
	    {"ipv6_syn_dual_ah", {0, "2001:db8::1", "fd00:1::11", 80, SYN, 1, {IPPROTO_AH}, 0, 0}},
	    {"ipv6_syn_dual_fragment_first",
	     {0, "2001:db8::1", "fd00:1::11", 80, SYN, 1, {FRAG}, 1, 0}},
	    {"ipv6_dual_fragment_later",
	     {0, "2001:db8::1", "fd00:1::11", 80, SYN, 1, {FRAG}, 185 << 3, 0}},
	    {"ipv6_syn_dual_eight_headers",
	     {0,
	      "2001:db8::1",
	      "fd00:1::11",
	      80,
	      SYN,
	      8,
	      {DST, DST, DST, DST, DST, DST, DST, DST},
	      0,
	      0}},
	    {"ipv6_syn_dual_nine_headers",
	     {0,
	      "2001:db8::1",
	      "fd00:1::11",
	      80,
	      SYN,
	      9,
	      {HOP, DST, DST, DST, DST, DST, DST, DST, DST},
	      0,
	      0}},
	    {"ipv6_ack_dual_hbone", {0, "2001:db8::1", "fd00:1::11", 15008, ACK, 0, {0}, 0, 0}},
	    {"ipv6_ack_dual_no_flow", {0, "2001:db8::1", "fd00:1::11", 80, ACK, 0, {0}, 0, 0}},
	    {"ipv6_from_dual_pod", {4, "fd00:1::11", "2001:db8::1", 443, ACK, 0, {0}, 0, 0}},
	    {"ipv6_dual_to_plain_pod", {4, "fd00:1::11", "fd00:1::5", 80, SYN, 0, {0}, 0, 0}},
	    {"ipv6_spoofed_from_dual", {4, "fd00:1::12", "2001:db8::1", 443, SYN, 0, {0}, 0, 0}},
	    {"ipv6_linklocal_tcp_from_dual", {4, "fe80::11", "fd00:1::5", 80, SYN, 1, {HOP}, 0, 0}},
	    {"ipv6_mld_from_dual", {4, "fe80::11", "ff02::16", 0, 0, 1, {HOP}, 0, IPPROTO_ICMPV6}},
	    {"ipv6_node_syn_marked", {4 | 8, "fd00:98::1", "fd00:1::11", 80, SYN, 0, {0}, 0, 0}},
	    {"ipv6_node_syn_marked_hopopts",
	     {4 | 8, "fd00:98::1", "fd00:1::11", 80, SYN, 1, {HOP}, 0, 0}},
	};

	for (size_t i = 0; i < sizeof(pkts) / sizeof(pkts[0]); i++)
		chain6(pkts[i].name, pkts[i].c);
}

/* From 10.1.0.5's veth, the DNS query fuzz_bpf's kernel holds an answer to (bpf_dns.h). */
static void dns_packet(void)
{
	uint8_t buf[128] = {0};
	size_t l3 = 1 + ETH_HLEN, l4 = l3 + sizeof(struct iphdr), q = sizeof(fuzz_bpf_dns_query);
	struct ethhdr eth = {.h_proto = htons(ETH_P_IP)};
	struct iphdr ip = {.version = 4, .ihl = 5, .ttl = 64, .protocol = IPPROTO_UDP};
	uint16_t udp[4] = {htons(40000), htons(15053), htons((uint16_t)(8 + q)), 0};

	buf[0] = 1;
	ip.saddr = ip4(FUZZ_BPF_DNS_POD);
	ip.daddr = ip4(FUZZ_BPF_DNS_PROXY);
	ip.tot_len = htons((uint16_t)(sizeof(ip) + 8 + q));
	memcpy(buf + 1, &eth, sizeof(eth));
	memcpy(buf + l3, &ip, sizeof(ip));
	memcpy(buf + l4, udp, sizeof(udp));
	memcpy(buf + l4 + 8, fuzz_bpf_dns_query, q);
	put("fuzz_bpf", "dns_query_answered", buf, l4 + 8 + q);
}

/*
 * From fd00:1::5's veth, the same query over IPv6 (dns_answers6), behind @hbh bytes of a
 * Hop-by-Hop header (0: none), to @dport.
 */
static void dns_packet6(const char *name, size_t hbh, uint16_t dport)
{
	uint8_t buf[160] = {0};
	size_t l3 = 1 + ETH_HLEN, l4 = l3 + sizeof(struct ip6_hdr) + hbh,
	       q = sizeof(fuzz_bpf_dns_query);
	struct ethhdr eth = {.h_proto = htons(ETH_P_IPV6)};
	struct ip6_hdr ip6 = {.ip6_flow = htonl(6u << 28), .ip6_hlim = 64};
	uint16_t udp[4] = {htons(40000), htons(dport), htons((uint16_t)(8 + q)), 0};

	buf[0] = 1;
	ip6.ip6_plen = htons((uint16_t)(hbh + 8 + q));
	ip6.ip6_nxt = hbh ? IPPROTO_HOPOPTS : IPPROTO_UDP;
	if (inet_pton(AF_INET6, FUZZ_BPF_DNS_POD6, &ip6.ip6_src) != 1 ||
	    inet_pton(AF_INET6, FUZZ_BPF_DNS_PROXY6, &ip6.ip6_dst) != 1)
		die(name);
	memcpy(buf + 1, &eth, sizeof(eth));
	memcpy(buf + l3, &ip6, sizeof(ip6));
	if (hbh) {
		buf[l3 + sizeof(ip6)] = IPPROTO_UDP;
		buf[l3 + sizeof(ip6) + 1] = (uint8_t)(hbh / 8 - 1);
		buf[l3 + sizeof(ip6) + 2] = 1; /* PadN */
		buf[l3 + sizeof(ip6) + 3] = (uint8_t)(hbh - 4);
	}
	memcpy(buf + l4, udp, sizeof(udp));
	memcpy(buf + l4 + 8, fuzz_bpf_dns_query, q);
	put("fuzz_bpf", name, buf, l4 + 8 + q);
}

static void gen_bpf(void)
{
	/* ifpick, ethertype, ihl, protocol, frag_off, saddr, daddr, sport, dport, flags, cut */
	static const struct {
		const char *name;
		struct pkt p;
	} pkts[] = {
	    {"syn_enrolled_no_proxy", {0, 0, 0, 6, 0, "10.9.0.1", "10.1.0.9", 40000, 80, SYN, 0}},
	    {"syn_hbone_listener", {0, 0, 0, 6, 0, "10.2.0.9", "10.1.0.9", 40000, 15008, SYN, 0}},
	    {"syn_strict_reset", {0, 0, 0, 6, 0, "10.3.0.1", "10.1.0.9", 40000, 8080, SYN, 0}},
	    {"syn_denied_source_reset", {0, 0, 0, 6, 0, "10.9.1.1", "10.1.0.9", 40000, 80, SYN, 0}},
	    {"ack_existing_flow", {0, 0, 0, 6, 0, "10.9.0.1", "10.1.0.9", 40000, 80, ACK, 0}},
	    {"fin_no_flow", {0, 0, 0, 6, 0, "10.9.0.1", "10.1.0.9", 40000, 80, FIN, 0}},
	    {"rst_no_flow", {0, 0, 0, 6, 0, "10.9.0.1", "10.1.0.9", 40000, 80, RST, 0}},
	    {"syn_from_pod", {1, 0, 0, 6, 0, "10.1.0.5", "10.1.0.9", 40000, 80, SYN, 0}},
	    {"spoofed_from_pod", {1, 0, 0, 6, 0, "10.1.0.6", "10.3.0.1", 40000, 80, SYN, 0}},
	    {"pod_to_outside", {2, 0, 0, 6, 0, "10.1.0.9", "10.3.0.1", 40000, 443, ACK, 0}},
	    {"other_node_pod", {0, 0, 0, 6, 0, "10.9.0.1", "10.2.0.9", 40000, 80, SYN, 0}},
	    {"udp_enrolled", {0, 0, 0, 17, 0, "10.9.0.1", "10.1.0.9", 5353, 53, 0, 0}},
	    {"arp", {1, ETH_P_ARP, 0, 6, 0, "10.1.0.6", "10.1.0.9", 0, 0, 0, 0}},
	    {"ipv6_ethertype_ipv4_header",
	     {0, ETH_P_IPV6, 0, 6, 0, "10.9.0.1", "10.1.0.9", 1, 2, SYN, 0}},
	    {"ip_options", {0, 0, 6, 6, 0, "10.9.0.1", "10.1.0.9", 40000, 80, SYN, 0}},
	    {"options_past_end",
	     {0, 0, 15, 6, 0, "10.9.0.1", "10.1.0.9", 40000, 80, SYN, ETH_HLEN + 40}},
	    {"tcp_cut", {0, 0, 0, 6, 0, "10.9.0.1", "10.1.0.9", 40000, 80, SYN, ETH_HLEN + 28}},
	    {"fragment_mf", {0, 0, 0, 6, 0x2000, "10.9.0.1", "10.1.0.9", 40000, 80, SYN, 0}},
	    {"fragment_later", {0, 0, 0, 6, 185, "10.9.0.1", "10.1.0.5", 40000, 80, SYN, 0}},
	    /* ifpick | 8: marked as tc_veth_egress turns the node's own back (AMBIT_NODE_MARK). */
	    {"node_syn_marked", {2 | 8, 0, 0, 6, 0, "10.98.1.1", "10.1.0.9", 40000, 80, SYN, 0}},
	    {"node_ack_marked", {2 | 8, 0, 0, 6, 0, "10.98.1.1", "10.1.0.9", 40000, 80, ACK, 0}},
	    {"node_syn_marked_plain_pod",
	     {1 | 8, 0, 0, 6, 0, "10.98.1.1", "10.1.0.5", 40000, 80, SYN, 0}},
	    {"node_udp_marked", {2 | 8, 0, 0, 17, 0, "10.98.1.1", "10.1.0.9", 5353, 53, 0, 0}},
	};

	for (size_t i = 0; i < sizeof(pkts) / sizeof(pkts[0]); i++)
		packet(pkts[i].name, pkts[i].p);
	dns_packet();
	dns_packet6("ipv6_dns_query_answered", 0, 15053);
	dns_packet6("ipv6_dns_query_hopopts_answered", 8, 15053);
	dns_packet6("ipv6_dns_query_port_53", 0, 53);
	gen_bpf6();
	gen_bpf6_dual();
}

/* ---- agent socket requests ---- */

static void frames(const char *name, const char *const *msgs, size_t n)
{
	struct bytes b = {0};

	for (size_t i = 0; i < n; i++) {
		uint32_t be = htonl((uint32_t)strlen(msgs[i]));

		add(&b, &be, 4);
		add(&b, msgs[i], strlen(msgs[i]));
	}
	put("fuzz_ipc", name, b.buf, b.len);
}

static void gen_ipc(void)
{
	static const char *const watch[] = {"{\"op\":\"watch\"}"};
	static const char *const gets[] = {"{\"op\":\"get\",\"what\":\"snapshot\"}",
					   "{\"op\":\"get\",\"what\":\"status\"}"};
	static const char *const bad[] = {"{\"op\":\"get\",\"what\":\"nothing\"}",
					  "{\"op\":\"get\",\"what\":7}", "{\"op\":\"dance\"}",
					  "[1,2]", "{\"op\":"};
	static const uint8_t huge[] = {0x7f, 0xff, 0xff, 0xff, '{'};
	static const uint8_t cut[] = {0, 0, 0, 40, '{', '"', 'o', 'p', '"'};

	frames("watch", watch, 1);
	frames("get_snapshot_status", gets, 2);
	frames("errors", bad, 5);
	put("fuzz_ipc", "frame_too_large", huge, sizeof(huge));
	put("fuzz_ipc", "frame_cut", cut, sizeof(cut));
}

/* ---- a snapshot as the agent sends it ---- */

static const char policy_yaml[] =
    "apiVersion: v1\nkind: Pod\nmetadata:\n  name: db\n  namespace: demo\n  labels:\n"
    "    app: db\nspec:\n  containers:\n  - name: c\n    image: x\n"
    "---\napiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata:\n"
    "  name: db-allow-web\n  namespace: demo\nspec:\n  selector:\n    matchLabels:\n"
    "      app: db\n  action: ALLOW\n  rules:\n  - from:\n    - source:\n        principals:\n"
    "        - cluster.local/ns/demo/sa/web\n    to:\n    - operation:\n        ports: [\"5432\"]\n"
    "---\napiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata:\n"
    "  name: strict\n  namespace: demo\nspec:\n  mtls:\n    mode: STRICT\n";

static void wl(struct snap_workload *w, const char *name, const char *ip, bool enrolled)
{
	char id[128];

	snprintf(id, sizeof(id), TD "%s", name);
	*w = (struct snap_workload){.name = strdup(name),
				    .namespace = strdup("demo"),
				    .service_account = strdup(name),
				    .identity = strdup(id),
				    .node = strdup("node1"),
				    .workload_name = strdup(name),
				    .app = strdup(name),
				    .version = strdup("v1"),
				    .ip = ip4(ip),
				    .node_ip = ip4("10.99.0.11"),
				    .enrolled = enrolled};
	if (asprintf(&w->uid, "demo/%s", name) < 0)
		die("asprintf");
}

static void gen_snapshot(void)
{
	struct config_diags d = {0};
	struct policy_workload_input in;
	struct snapshot *s = calloc(1, sizeof(*s));
	struct config cfg;
	char *json;

	config_init(&cfg);
	if (!s || config_load_buffer(&cfg, "seed.yaml", policy_yaml, sizeof(policy_yaml) - 1, &d))
		die("config");
	s->version = 3;
	s->node = strdup("node1");
	s->trust_domain = strdup("cluster.local");
	s->n_workloads = 2;
	s->workloads = calloc(2, sizeof(*s->workloads));
	s->services = calloc(1, sizeof(*s->services));
	if (!s->workloads || !s->services)
		die("calloc");
	wl(&s->workloads[0], "web", "10.98.1.2", true);
	wl(&s->workloads[1], "db", "10.98.1.3", true);
	s->n_services = 1;
	s->services[0] = (struct snap_service){.name = strdup("web"),
					       .namespace = strdup("demo"),
					       .hostname = strdup("web.demo.svc.cluster.local"),
					       .vip = ip4("10.96.0.10"),
					       .nports = 1,
					       .ports = calloc(1, sizeof(struct snap_service_port)),
					       .nendpoints = 1,
					       .endpoints = calloc(1, sizeof(uint32_t))};
	s->services[0].ports[0] = (struct snap_service_port){strdup("http"), 80, 8080};
	s->services[0].endpoints[0] = s->workloads[0].ip;
	in = (struct policy_workload_input){"demo/db", "demo", &cfg.pods[0].meta.labels};
	s->policies = policy_compile(&cfg, &in, 1, NULL, NULL);
	json = s->policies ? snapshot_encode_public(s) : NULL;
	if (!json)
		die("snapshot");
	put("fuzz_snapshot", "demo.json", json, strlen(json));
	free(json);
	config_free(&cfg);
	config_diags_free(&d);
	snapshot_free(s);
}

/* ---- fuzz_waypoint_h2: gRPC calls through the waypoint, and the upstreams' answers ---- */

#define WP_MARK "\n--upstream--\n"
/* One gRPC message: not compressed, 3 bytes. */
#define GRPC_MSG "\0\0\0\0\3abc"

enum wp_answer { WP_OK, WP_UNAVAILABLE, WP_RESET, WP_GOAWAY };

static ssize_t grpc_then_status(nghttp2_session *h2, int32_t id, uint8_t *buf, size_t len,
				uint32_t *flags, nghttp2_data_source *src, void *arg)
{
	static const nghttp2_nv st = {(uint8_t *)"grpc-status", (uint8_t *)"0", 11, 1,
				      NGHTTP2_NV_FLAG_NONE};
	ssize_t n = body_read(h2, id, buf, len, flags, src, arg);

	if (*flags & NGHTTP2_DATA_FLAG_EOF) {
		*flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
		if (nghttp2_submit_trailer(h2, id, &st, 1))
			die("trailer");
	}
	return n;
}

/* A gRPC call on @h2 to @path, its message ending the stream (with @extra, a header, or NULL). */
static void grpc_call(nghttp2_session *h2, const char *path, const char *extra, struct body *body)
{
	nghttp2_nv nv[7] = {
	    {(uint8_t *)":method", (uint8_t *)"POST", 7, 4, NGHTTP2_NV_FLAG_NONE},
	    {(uint8_t *)":scheme", (uint8_t *)"http", 7, 4, NGHTTP2_NV_FLAG_NONE},
	    {(uint8_t *)":authority", (uint8_t *)"greeter:50051", 10, 13, NGHTTP2_NV_FLAG_NONE},
	    {(uint8_t *)":path", (uint8_t *)path, 5, strlen(path), NGHTTP2_NV_FLAG_NONE},
	    {(uint8_t *)"content-type", (uint8_t *)"application/grpc", 12, 16,
	     NGHTTP2_NV_FLAG_NONE},
	    {(uint8_t *)"te", (uint8_t *)"trailers", 2, 8, NGHTTP2_NV_FLAG_NONE},
	    {(uint8_t *)"x-canary", (uint8_t *)"yes", 8, 3, NGHTTP2_NV_FLAG_NONE},
	};
	nghttp2_data_provider prd = {.source.ptr = body, .read_callback = body_read};

	*body = (struct body){GRPC_MSG, 0, true};
	if (nghttp2_submit_request(h2, NULL, nv, extra ? 7 : 6, &prd, NULL) < 0)
		die("request");
}

/* What an upstream gRPC server answers to the waypoint's first call on a connection. */
static void grpc_answer(struct bytes *out, enum wp_answer ans)
{
	nghttp2_session_callbacks *cbs;
	nghttp2_session *cli = client_new(), *srv;
	struct bytes req = {0};
	struct body in, resp = {"\0\0\0\0\2ok", 0, true};
	nghttp2_nv ok[2] = {{(uint8_t *)":status", (uint8_t *)"200", 7, 3, NGHTTP2_NV_FLAG_NONE},
			    {(uint8_t *)"content-type", (uint8_t *)"application/grpc", 12, 16,
			     NGHTTP2_NV_FLAG_NONE}};
	nghttp2_nv unavailable[3] = {
	    ok[0], ok[1], {(uint8_t *)"grpc-status", (uint8_t *)"14", 11, 2, NGHTTP2_NV_FLAG_NONE}};
	nghttp2_data_provider prd = {.source.ptr = &resp, .read_callback = grpc_then_status};

	grpc_call(cli, "/demo.Echo/Hello", NULL, &in);
	drain(cli, &req);
	nghttp2_session_del(cli);
	if (nghttp2_session_callbacks_new(&cbs) || nghttp2_session_server_new(&srv, cbs, NULL))
		die("nghttp2 server");
	nghttp2_session_callbacks_del(cbs);
	nghttp2_submit_settings(srv, NGHTTP2_FLAG_NONE, NULL, 0);
	if (nghttp2_session_mem_recv(srv, req.buf, req.len) != (ssize_t)req.len)
		die("server recv");
	if (ans == WP_OK && nghttp2_submit_response(srv, 1, ok, 2, &prd))
		die("response");
	if (ans == WP_UNAVAILABLE && nghttp2_submit_response(srv, 1, unavailable, 3, NULL))
		die("response");
	if (ans == WP_RESET)
		nghttp2_submit_rst_stream(srv, NGHTTP2_FLAG_NONE, 1, NGHTTP2_REFUSED_STREAM);
	if (ans == WP_GOAWAY)
		nghttp2_submit_goaway(srv, NGHTTP2_FLAG_NONE, 0, NGHTTP2_NO_ERROR, NULL, 0);
	drain(srv, out);
	nghttp2_session_del(srv);
}

/*
 * fuzz_waypoint_h2: byte 0 = cut (bits 0-5) | upstream mode << 6, the client's bytes (@n calls
 * to @paths, the first with an x-canary header when @canary), "\n--upstream--\n", the answer.
 */
static void wp_h2_seed(const char *name, uint8_t cut, const char *const *paths, size_t n,
		       bool canary, enum wp_answer ans, bool reset_first)
{
	nghttp2_session *h2 = client_new();
	struct bytes b = {.len = 1};
	struct body bodies[4];

	b.buf[0] = cut;
	for (size_t i = 0; i < n && i < 4; i++) {
		grpc_call(h2, paths[i], canary && !i ? "yes" : NULL, &bodies[i]);
		drain(h2, &b);
	}
	if (reset_first) {
		nghttp2_submit_rst_stream(h2, NGHTTP2_FLAG_NONE, 1, NGHTTP2_CANCEL);
		drain(h2, &b);
	}
	nghttp2_session_del(h2);
	add(&b, WP_MARK, sizeof(WP_MARK) - 1);
	grpc_answer(&b, ans);
	put("fuzz_waypoint_h2", name, b.buf, b.len);
}

/*
 * fuzz_waypoint_h2: one request of the fields @nv (@n of them) and a second, plain one behind
 * it on the connection (the first is refused or denied: the connection must go on).
 */
static void wp_h2_fields_seed(const char *name, const nghttp2_nv *nv, size_t n)
{
	static const char *const hello[] = {"/demo.Echo/Hello"};
	nghttp2_session *h2 = client_new();
	struct bytes b = {.len = 1};
	struct body body;

	if (nghttp2_submit_request(h2, NULL, nv, n, NULL, NULL) < 0)
		die("request");
	grpc_call(h2, hello[0], NULL, &body);
	drain(h2, &b);
	nghttp2_session_del(h2);
	add(&b, WP_MARK, sizeof(WP_MARK) - 1);
	grpc_answer(&b, WP_OK);
	put("fuzz_waypoint_h2", name, b.buf, b.len);
}

#define NV(n, v)                                                                                   \
	{                                                                                          \
		(uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, sizeof(v) - 1, NGHTTP2_NV_FLAG_NONE \
	}

/* Issue 38's refusals: a fragment, user-info, an empty port, a :scheme, two x-forwarded-for. */
static void gen_waypoint_h2_hardening(void)
{
	static const nghttp2_nv fragment[] = {NV(":method", "GET"), NV(":scheme", "http"),
					      NV(":authority", "greeter:50051"),
					      NV(":path", "/direct#x")};
	static const nghttp2_nv userinfo[] = {NV(":method", "GET"), NV(":scheme", "http"),
					      NV(":authority", "x@greeter:50051"),
					      NV(":path", "/direct")};
	static const nghttp2_nv empty_port[] = {NV(":method", "GET"), NV(":scheme", "https"),
						NV(":authority", "greeter:"),
						NV(":path", "/direct")};
	static const nghttp2_nv scheme[] = {NV(":method", "GET"), NV(":scheme", "ftp"),
					    NV(":authority", "greeter:50051"), NV(":path", "/")};
	static const nghttp2_nv xff[] = {NV(":method", "GET"),
					 NV(":scheme", "http"),
					 NV(":authority", "greeter:50051"),
					 NV(":path", "/direct"),
					 NV("x-forwarded-for", "1.2.3.4"),
					 NV("x-forwarded-for", "203.0.113.9")};

	wp_h2_fields_seed("fragment", fragment, 4);
	wp_h2_fields_seed("authority_userinfo", userinfo, 4);
	wp_h2_fields_seed("authority_empty_port", empty_port, 4);
	wp_h2_fields_seed("scheme_ftp", scheme, 4);
	wp_h2_fields_seed("xff_two_fields", xff, 6);
}

static void gen_waypoint_h2(void)
{
	static const char *const hello[] = {"/demo.Echo/Hello"};
	static const char *const mixed[] = {"/demo.Echo/Hello", "/abort/grpc", "/abort/http",
					    "/retry/x"};
	static const char *const local[] = {"/redirect", "/direct", "/timeout"};

	wp_h2_seed("unary_ok", 0, hello, 1, false, WP_OK, false);
	wp_h2_seed("unary_canary_cut", 7, hello, 1, true, WP_OK, false);
	wp_h2_seed("unavailable_retried", 0, mixed + 3, 1, false, WP_UNAVAILABLE, false);
	wp_h2_seed("mixed_aborts", 0, mixed, 4, false, WP_OK, false);
	wp_h2_seed("local_answers", 3, local, 3, false, WP_OK, false);
	wp_h2_seed("upstream_reset", 0, hello, 1, false, WP_RESET, false);
	wp_h2_seed("upstream_goaway", 0, mixed, 2, false, WP_GOAWAY, false);
	wp_h2_seed("client_cancels", 0, hello, 1, false, WP_OK, true);
	gen_waypoint_h2_hardening();
}

/* ---- fuzz_jwt: byte 0 mode and place, byte 1 how the target signs, then NUL-split pieces ---- */

enum { JWT_RAW = 0, JWT_SIGN = 1, JWT_JWKS = 2 };
enum { AT_BEARER, AT_X_JWT, AT_PARAM, AT_COOKIE, AT_ACCESS_TOKEN, AT_X_RAW, AT_LONG, AT_NOWHERE };
/* Byte 1: the algs' order in fuzz_jwt.c, the kid (0: the alg's key's), tampering. */
enum { S_RS256 = 0, S_PS384 = 4, S_ES256 = 6, S_EDDSA = 9, S_HS256 = 10, S_NONE = 13 };
#define S_TAMPER_SIG (1 << 6)

#define CLAIMS_A                                                                                   \
	"{\"iss\":\"https://a.example\",\"sub\":\"alice\",\"aud\":\"shop\",\"exp\":1900000000,"    \
	"\"groups\":[\"dev\",\"admins\"],\"org\":{\"tier\":\"gold\"}}"

static void jwt_seed(const char *name, uint8_t how, uint8_t sign, const char *const *pieces,
		     size_t n)
{
	size_t len = 2;
	char *buf, *p;

	for (size_t i = 0; i < n; i++)
		len += strlen(pieces[i]) + 1;
	buf = malloc(len);
	if (!buf)
		die("malloc");
	buf[0] = (char)how;
	buf[1] = (char)sign;
	p = buf + 2;
	for (size_t i = 0; i < n; i++) {
		memcpy(p, pieces[i], strlen(pieces[i]) + 1);
		p += strlen(pieces[i]) + 1;
	}
	put("fuzz_jwt", name, buf, len - 1);
	free(buf);
}

/* A token @payload signed here as @alg with "kid" @kid, for the raw seeds. */
static char *jwt_token(const struct jwtk *k, const char *alg, const char *kid, const char *secret,
		       const char *payload)
{
	char hdr[96], *t;

	snprintf(hdr, sizeof(hdr), "{\"alg\":\"%s\",\"typ\":\"JWT\",\"kid\":\"%s\"}", alg, kid);
	t = jwtk_sign(k, alg, secret, secret ? strlen(secret) : 0, hdr, strlen(hdr), payload,
		      strlen(payload));
	if (!t)
		die("jwtk_sign");
	return t;
}

static void gen_jwt(void)
{
	static char deep[4096], huge[40000];
	struct jwtk k;
	char *rs, *es, *ed, *hs, *secret, *jwks, *t1, *t2;
	size_t n = 0;

	if (jwtk_load(&k))
		die("jwtk_load");
#define SIGNED(name, at, sign, payload)                                                            \
	jwt_seed(name, JWT_SIGN | (at) << 2, sign, (const char *const[]){payload}, 1)
	SIGNED("sign_rs256_header", AT_X_JWT, S_RS256, CLAIMS_A);
	SIGNED("sign_es256_cookie", AT_COOKIE, S_ES256, CLAIMS_A);
	SIGNED("sign_eddsa_param", AT_PARAM, S_EDDSA, CLAIMS_A);
	SIGNED("sign_ps384_bearer", AT_BEARER, S_PS384,
	       "{\"iss\":\"https://b.example\",\"sub\":\"bob\",\"scope\":\"read write\"}");
	SIGNED("sign_eddsa_access_token", AT_ACCESS_TOKEN, S_EDDSA,
	       "{\"iss\":\"https://b.example\",\"sub\":\"bob\",\"exp\":1800000030}");
	SIGNED("sign_expired", AT_X_JWT, S_RS256,
	       "{\"iss\":\"https://a.example\",\"sub\":\"alice\",\"aud\":\"shop\",\"exp\":1000}");
	SIGNED("sign_not_yet_valid", AT_X_RAW, S_ES256,
	       "{\"iss\":\"https://a.example\",\"aud\":[\"x\",\"shop2\"],\"nbf\":1900000000}");
	SIGNED("sign_wrong_issuer", AT_BEARER, S_RS256,
	       "{\"iss\":\"https://evil.example\",\"sub\":\"x\"}");
	SIGNED("sign_wrong_audience", AT_X_JWT, S_EDDSA,
	       "{\"iss\":\"https://a.example\",\"sub\":\"alice\",\"aud\":\"other\"}");
	SIGNED("sign_alg_none", AT_BEARER, S_NONE,
	       "{\"iss\":\"https://b.example\",\"sub\":\"root\"}");
	/* HS256 keyed with rsa-1's public JWK, "kid" rsa-1: the key-confusion forgery. */
	SIGNED("sign_hmac_confusion", AT_X_JWT, S_HS256, CLAIMS_A);
	SIGNED("sign_tampered", AT_X_JWT, S_RS256 | S_TAMPER_SIG, CLAIMS_A);
	SIGNED("sign_jwks_missing", AT_BEARER, S_ES256,
	       "{\"iss\":\"https://c.example\",\"sub\":\"c\"}");
	SIGNED("sign_long_header", AT_LONG, S_EDDSA,
	       "{\"iss\":\"https://d.example\",\"sub\":\"d\"}");
	SIGNED(
	    "sign_nested_claims", AT_X_JWT, S_ES256,
	    "{\"iss\":\"https://a.example\",\"sub\":\"\\u00e9l\\ud83d\\ude00\",\"aud\":[\"shop\"],"
	    "\"exp\":1.9e9,\"nbf\":0,\"groups\":[[\"a\",{\"b\":[1,2.5,-3e300]}],true,null],"
	    "\"org\":{\"tier\":\"gold\",\"big\":1e999,\"s\":\"a\\r\\nx-evil: 1\"},\"scope\":7}");
	SIGNED("sign_nul_in_claim", AT_X_JWT, S_RS256,
	       "{\"iss\":\"https://a.example\",\"sub\":\"alice\\u0000admin\",\"aud\":\"shop\","
	       "\"groups\":[\"admins\\u0000x\"]}");
	/* "groups" 1,000 arrays deep (cJSON's nesting limit), and a payload of 40 kB. */
	n = (size_t)snprintf(deep, sizeof(deep),
			     "{\"iss\":\"https://a.example\",\"aud\":\"shop\",\"groups\":");
	for (int i = 0; i < 1000; i++)
		deep[n++] = '[';
	for (int i = 0; i < 1000; i++)
		deep[n++] = ']';
	memcpy(deep + n, "}", 2);
	SIGNED("sign_deep_json", AT_X_RAW, S_EDDSA, deep);
	n = (size_t)snprintf(huge, sizeof(huge), "{\"iss\":\"https://b.example\",\"sub\":\"h\"");
	for (int i = 0; n + 64 < sizeof(huge); i++)
		n += (size_t)snprintf(huge + n, sizeof(huge) - n, ",\"c%d\":[\"%08x\",{\"v\":%d}]",
				      i, (unsigned int)i * 2654435761u, i);
	memcpy(huge + n, "}", 2);
	SIGNED("sign_huge_json", AT_BEARER, S_RS256, huge);
	jwt_seed("sign_header_override", JWT_SIGN | AT_BEARER << 2, S_RS256,
		 (const char *const[]){
		     "{\"iss\":\"https://b.example\",\"sub\":\"b\"}",
		     "{\"alg\":\"RS256\",\"kid\":[\"rsa-1\"],\"crit\":[\"exp\"],\"b64\":false}"},
		 2);
#undef SIGNED
	rs = jwt_token(&k, "RS256", "rsa-1", NULL, CLAIMS_A);
	es = jwt_token(&k, "ES256", "ec-1", NULL, CLAIMS_A);
	ed = jwt_token(&k, "EdDSA", "ed-1", NULL, CLAIMS_A);
	jwt_seed("raw_rs256", JWT_RAW | AT_X_RAW << 2, 0, (const char *const[]){rs}, 1);
	jwt_seed("raw_es256", JWT_RAW | AT_COOKIE << 2, 0, (const char *const[]){es}, 1);
	jwt_seed("raw_eddsa", JWT_RAW | AT_PARAM << 2, 0, (const char *const[]){ed}, 1);
	jwt_seed("raw_bad_base64", JWT_RAW | AT_X_JWT << 2, 0,
		 (const char *const[]){"e!J*bGc.eyJpc3MiOiJ4In0=.c2ln+/"}, 1);
	/* No token placed: the input's own target and fields carry them, one good among bad. */
	if (asprintf(&t1, "/p?x=1&token=%s#frag", es) < 0 ||
	    asprintf(&t2, "a=1;session=%s", rs) < 0)
		die("asprintf");
	jwt_seed("raw_many_places", JWT_RAW | AT_NOWHERE << 2, 0,
		 (const char *const[]){"", "", t1, "authorization", "Bearer   ", "x-jwt",
				       "token abc", "cookie", t2, "x-raw", " \t"},
		 11);
	free(t1);
	free(t2);
	/* Key sets: the target's own plus an HMAC key, with a token that key signed. */
	secret = jwtk_b64url(JWTK_HMAC_SECRET, strlen(JWTK_HMAC_SECRET));
	if (!secret || asprintf(&jwks, "{\"keys\":[{\"kty\":\"oct\",\"k\":\"%s\"},%s", secret,
				strstr(k.jwks, "[") + 1) < 0)
		die("asprintf");
	hs = jwt_token(&k, "HS256", "none", JWTK_HMAC_SECRET, CLAIMS_A);
	jwt_seed("jwks_with_hmac", JWT_JWKS, 0, (const char *const[]){jwks, hs}, 2);
	free(jwks);
	if (asprintf(&jwks,
		     "{\"keys\":[1,\"x\",null,{\"kty\":\"RSA\",\"n\":\"AA\",\"e\":\"AQAB\"},"
		     "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"AAAA\",\"y\":\"AAAA\"},"
		     "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"c2hvcnQ\"},{\"kty\":\"oct\","
		     "\"k\":\"\"},"
		     "{\"kty\":\"RSA\",\"kid\":\"rsa-1\",\"n\":\"%s\",\"e\":\"Aw\"},"
		     "{\"kty\":\"OKP\",\"crv\":\"X25519\",\"x\":\"%s\"},"
		     "{\"kty\":\"EC\",\"crv\":\"P-521\",\"x\":\"%s\",\"y\":\"%s\"},"
		     "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":\"ed-1\",\"use\":\"sig\",\"x\":"
		     "\"%s\"}],"
		     "\"keys\":[]}",
		     k.rsa_n, k.ed_x, k.ec_x, k.ec_y, k.ed_x) < 0)
		die("asprintf");
	jwt_seed("jwks_hostile", JWT_JWKS, 0, (const char *const[]){jwks, ed}, 2);
	free(jwks);
	jwt_seed("jwks_not_a_set", JWT_JWKS, 0,
		 (const char *const[]){"{\"keys\":{\"kty\":\"RSA\"}}", "eyJhbGciOiJub25lIn0.e30."},
		 2);
	free(rs);
	free(es);
	free(ed);
	free(hs);
	free(secret);
	jwtk_free(&k);
}

/* ---- TLS ClientHellos (an OpenSSL client writing into memory) ---- */

static void hello_seed(const char *name, const char *sni, int max_version, bool alpn, size_t cut)
{
	static const unsigned char protos[] = "\x02h2\x08http/1.1";
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	SSL *s = ctx ? SSL_new(ctx) : NULL;
	BIO *rb = BIO_new(BIO_s_mem()), *wb = BIO_new(BIO_s_mem());
	char *data;
	long n;

	if (!s || !rb || !wb)
		die("SSL_new");
	if (max_version)
		SSL_set_max_proto_version(s, max_version);
	if (sni)
		SSL_set_tlsext_host_name(s, sni);
	if (alpn)
		SSL_set_alpn_protos(s, protos, sizeof(protos) - 1);
	SSL_set_bio(s, rb, wb);
	SSL_connect(s); /* writes the ClientHello, then wants the server's answer */
	n = BIO_get_mem_data(wb, &data);
	if (n <= 0)
		die("ClientHello");
	put("fuzz_tls_hello", name, data, cut && cut < (size_t)n ? cut : (size_t)n);
	SSL_free(s);
	SSL_CTX_free(ctx);
}

static void gen_tls_hello(void)
{
	hello_seed("sni", "nginx.example.com", 0, false, 0);
	hello_seed("no_sni", NULL, 0, false, 0);
	hello_seed("tls12_alpn", "Shop.Example.COM", TLS1_2_VERSION, true, 0);
	hello_seed("long_name",
		   "a-very-long-label-that-goes-on-and-on.another-long-label-for-the-name."
		   "yet-another-label.example.com",
		   0, true, 0);
	hello_seed("cut", "nginx.example.com", 0, false, 60);
}

/* A DNS message made by ldns from @txt's records (zone-file lines) into @section. */
static void dns_rrs(ldns_pkt *p, ldns_pkt_section section, const char *const *txt)
{
	for (; *txt; txt++) {
		ldns_rr *rr = NULL;

		if (ldns_rr_new_frm_str(&rr, *txt, 0, NULL, NULL) != LDNS_STATUS_OK ||
		    !ldns_pkt_push_rr(p, section, rr))
			die(*txt);
	}
}

static void dns_put(const char *target, const char *name, ldns_pkt *p, size_t cut)
{
	uint8_t *w = NULL;
	size_t len;

	if (ldns_pkt2wire(&w, p, &len) != LDNS_STATUS_OK)
		die(name);
	put(target, name, w, cut && cut < len ? cut : len);
	free(w);
	ldns_pkt_free(p);
}

static ldns_pkt *dns_q(const char *name, ldns_rr_type type, uint16_t id, uint16_t edns)
{
	ldns_pkt *q = NULL;

	if (ldns_pkt_query_new_frm_str(&q, name, type, LDNS_RR_CLASS_IN, LDNS_RD) != LDNS_STATUS_OK)
		die(name);
	ldns_pkt_set_id(q, id);
	if (edns)
		ldns_pkt_set_edns_udp_size(q, edns);
	return q;
}

static ldns_pkt *dns_r(const char *name, ldns_rr_type type, uint16_t id, ldns_pkt_rcode rcode,
		       const char *const *answers, const char *const *authority)
{
	ldns_pkt *p = dns_q(name, type, id, 0);

	ldns_pkt_set_qr(p, true);
	ldns_pkt_set_ra(p, true);
	ldns_pkt_set_rcode(p, (uint8_t)rcode);
	if (answers)
		dns_rrs(p, LDNS_SECTION_ANSWER, answers);
	if (authority)
		dns_rrs(p, LDNS_SECTION_AUTHORITY, authority);
	return p;
}

static void gen_dns(void)
{
	static const char *const a[] = {"example.org. 300 IN A 93.184.215.14", NULL};
	static const char *const cname[] = {"alias.example.org. 60 IN CNAME www.example.org.",
					    "www.example.org. 60 IN CNAME edge.example.net.",
					    "edge.example.net. 60 IN A 192.0.2.7", NULL};
	static const char *const srv[] = {
	    "_sip._tcp.example.org. 60 IN SRV 10 60 5060 sip1.example.org.",
	    "_sip._tcp.example.org. 60 IN SRV 20 40 5060 sip2.example.org.", NULL};
	static const char *const soa[] = {
	    "example.org. 900 IN SOA ns.example.org. admin.example.org. 1 7200 900 1209600 86400",
	    NULL};
	static const char *const aaaa[] = {"www.example.org. 60 IN AAAA 2001:db8::7", NULL};
	const char *T = "fuzz_dns_query";
	ldns_pkt *p;

	dns_put(T, "a_fqdn", dns_q("server.mesh.svc.cluster.local.", LDNS_RR_TYPE_A, 1, 0), 0);
	dns_put(T, "a_short", dns_q("server.", LDNS_RR_TYPE_A, 2, 0), 0);
	dns_put(T, "a_search",
		dns_q("api.example.com.mesh.svc.cluster.local.", LDNS_RR_TYPE_A, 3, 0), 0);
	dns_put(T, "aaaa_entry", dns_q("api.example.com.", LDNS_RR_TYPE_AAAA, 4, 1232), 0);
	dns_put(T, "srv",
		dns_q("_http._tcp.server.mesh.svc.cluster.local.", LDNS_RR_TYPE_SRV, 5, 0), 0);
	dns_put(T, "any_headless", dns_q("db.mesh.svc.cluster.local.", LDNS_RR_TYPE_ANY, 6, 4096),
		0);
	dns_put(T, "pod", dns_q("10-98-1-3.mesh.pod.cluster.local.", LDNS_RR_TYPE_A, 7, 0), 0);
	dns_put(T, "external", dns_q("example.org.", LDNS_RR_TYPE_A, 8, 0), 0);
	p = dns_q("server.mesh.", LDNS_RR_TYPE_A, 9, 0);
	ldns_pkt_set_opcode(p, LDNS_PACKET_STATUS);
	dns_put(T, "opcode_status", p, 0);
	dns_put(T, "cut", dns_q("server.mesh.svc.cluster.local.", LDNS_RR_TYPE_A, 10, 0), 20);
	/* Both families: a dual-stack Service, a headless one and its member, an entry's. */
	dns_put(T, "aaaa_fqdn", dns_q("server.mesh.svc.cluster.local.", LDNS_RR_TYPE_AAAA, 11, 0),
		0);
	dns_put(T, "aaaa_short", dns_q("server.", LDNS_RR_TYPE_AAAA, 12, 1232), 0);
	dns_put(T, "aaaa_headless", dns_q("db.mesh.svc.cluster.local.", LDNS_RR_TYPE_AAAA, 13, 0),
		0);
	dns_put(T, "aaaa_member",
		dns_q("primary.db.mesh.svc.cluster.local.", LDNS_RR_TYPE_AAAA, 14, 0), 0);
	dns_put(T, "aaaa_v4only", dns_q("four.mesh.svc.cluster.local.", LDNS_RR_TYPE_AAAA, 15, 0),
		0);
	dns_put(T, "any_dual", dns_q("server.mesh.svc.cluster.local.", LDNS_RR_TYPE_ANY, 16, 0), 0);
	dns_put(T, "srv_dual",
		dns_q("_pg._tcp.db.mesh.svc.cluster.local.", LDNS_RR_TYPE_SRV, 17, 1232), 0);

	T = "fuzz_dns_upstream";
	dns_put(T, "a", dns_r("example.org.", LDNS_RR_TYPE_A, 0x0101, LDNS_RCODE_NOERROR, a, NULL),
		0);
	dns_put(T, "cname_chain",
		dns_r("alias.example.org.", LDNS_RR_TYPE_CNAME, 0x0202, LDNS_RCODE_NOERROR, cname,
		      NULL),
		0);
	dns_put(T, "srv",
		dns_r("_sip._tcp.example.org.", LDNS_RR_TYPE_SRV, 0x0303, LDNS_RCODE_NOERROR, srv,
		      NULL),
		0);
	dns_put(
	    T, "nxdomain_soa",
	    dns_r("nothing.example.org.", LDNS_RR_TYPE_A, 0x0404, LDNS_RCODE_NXDOMAIN, NULL, soa),
	    0);
	p = dns_r("www.example.org.", LDNS_RR_TYPE_AAAA, 0x0505, LDNS_RCODE_NOERROR, aaaa, NULL);
	ldns_pkt_set_edns_udp_size(p, 1232);
	dns_put(T, "aaaa_edns", p, 0);
	p = dns_r("example.org.", LDNS_RR_TYPE_A, 0x0606, LDNS_RCODE_NOERROR, NULL, NULL);
	ldns_pkt_set_tc(p, true);
	dns_put(T, "truncated", p, 0);
	dns_put(T, "cut",
		dns_r("example.org.", LDNS_RR_TYPE_A, 0x0707, LDNS_RCODE_NOERROR, a, NULL), 40);
}

/* Whether @name's seeds are wanted: all without targets named. */
static bool wanted(int argc, char **argv, const char *name)
{
	for (int i = 2; i < argc; i++)
		if (!strncmp(argv[i], name, strlen(name)))
			return true;
	return argc <= 2;
}

int main(int argc, char **argv)
{
	char dir[] = "/tmp/ambit-gen-seeds-XXXXXX", cmd[64];

	if (argc < 2) {
		fprintf(stderr, "usage: gen_seeds CORPUS_DIR [TARGET...]\n");
		return 2;
	}
	corpus = argv[1];
	log_init("gen_seeds", LOG_LEVEL_ERROR);
	if (!mkdtemp(dir))
		die("mkdtemp");
	if (wanted(argc, argv, "fuzz_connect"))
		gen_connect();
	if (wanted(argc, argv, "fuzz_client"))
		gen_client();
	if (wanted(argc, argv, "fuzz_h2"))
		gen_h2();
	if (wanted(argc, argv, "fuzz_waypoint_h2"))
		gen_waypoint_h2();
	if (wanted(argc, argv, "fuzz_spiffe"))
		gen_spiffe(dir);
	if (wanted(argc, argv, "fuzz_bpf"))
		gen_bpf();
	if (wanted(argc, argv, "fuzz_ipc"))
		gen_ipc();
	if (wanted(argc, argv, "fuzz_snapshot"))
		gen_snapshot();
	if (wanted(argc, argv, "fuzz_jwt"))
		gen_jwt();
	if (wanted(argc, argv, "fuzz_tls_hello"))
		gen_tls_hello();
	if (wanted(argc, argv, "fuzz_dns"))
		gen_dns();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : 1;
}
