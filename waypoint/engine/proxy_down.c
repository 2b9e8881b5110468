// SPDX-License-Identifier: Apache-2.0
/*
 * The exchange's downstream side (proxy_priv.h): the request engine answers through these
 * calls, which go to the HTTP/1 server of the connection or to the HTTP/2 stream the request
 * came on (proxy_h2.c), so that every decision and the upstream side are written once.
 */
#include "proxy_priv.h"

int wp_down_respond(struct wp_conn *c, const struct h1_head *resp, enum h1_framing framing,
		    uint64_t length)
{
	if (!c->h2s)
		return h1_server_respond(c->s, resp, framing, length);
	if (resp->status < 200)
		return wp_h2s_interim(c->h2s, resp);
	return wp_h2s_respond(c->h2s, resp,
			      framing != H1_FRAMING_NONE &&
				  !(framing == H1_FRAMING_LENGTH && length == 0));
}

int wp_down_body(struct wp_conn *c, const char *data, size_t len)
{
	return c->h2s ? wp_h2s_body(c->h2s, data, len) : h1_server_body(c->s, data, len);
}

int wp_down_trailers(struct wp_conn *c, const struct http_fields *f)
{
	return c->h2s ? wp_h2s_trailers(c->h2s, f) : 0;
}

int wp_down_end(struct wp_conn *c)
{
	return c->h2s ? wp_h2s_end(c->h2s) : h1_server_end(c->s);
}

void wp_down_upgrade(struct wp_conn *c)
{
	if (!c->h2s)
		h1_server_upgrade(c->s);
}

size_t wp_down_queued(const struct wp_conn *c)
{
	return c->h2s ? wp_h2s_queued(c->h2s) : h1_server_queued(c->s);
}

void wp_down_pause(struct wp_conn *c)
{
	if (c->h2s)
		wp_h2s_pause(c->h2s);
	else
		h1_server_pause(c->s);
}

void wp_down_resume(struct wp_conn *c)
{
	if (c->h2s)
		wp_h2s_resume(c->h2s);
	else
		h1_server_resume(c->s);
}

bool wp_down_head_request(const struct wp_conn *c)
{
	return c->h2s ? wp_h2s_head_request(c->h2s) : h1_server_head_request(c->s);
}

void wp_down_close(struct wp_conn *c, bool reset)
{
	if (c->h2s)
		wp_h2s_reset(c->h2s);
	else
		h1_server_close(c->s, reset);
}

void wp_down_close_after(struct wp_conn *c)
{
	if (!c->h2s)
		h1_server_close_after(c->s);
}

void wp_down_cut(struct wp_conn *c)
{
	if (c->h2s)
		wp_h2s_reset(c->h2s);
	else
		h1_server_cut(c->s);
}
