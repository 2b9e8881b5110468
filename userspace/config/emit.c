// SPDX-License-Identifier: Apache-2.0
/*
 * One loaded object written back as a YAML document of its own: what `ambitctl apply` stores
 * per object and compares to tell "configured" from "unchanged". The node tree libyaml loaded
 * is replayed as emitter events, so values keep their scalar style (a quoted "80" stays a
 * string) and aliases come out expanded; comments are not kept, as with kubectl. A namespaced
 * object that named no namespace gets the one it was loaded into, so the stored copy says
 * where it lives.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "decode/decode.h"

struct out {
	char *buf;
	size_t len, cap;
	bool oom;
};

static int write_out(void *data, unsigned char *bytes, size_t size)
{
	struct out *o = data;

	if (o->len + size + 1 > o->cap) {
		size_t cap = o->cap ? o->cap : 1024;
		char *p;

		while (cap < o->len + size + 1)
			cap *= 2;
		p = realloc(o->buf, cap);
		if (!p) {
			o->oom = true;
			return 0;
		}
		o->buf = p;
		o->cap = cap;
	}
	memcpy(o->buf + o->len, bytes, size);
	o->len += size;
	o->buf[o->len] = '\0';
	return 1;
}

static int emit_scalar(yaml_emitter_t *e, const char *value, size_t len, yaml_scalar_style_t style,
		       const char *tag)
{
	yaml_event_t ev;
	/* A tag the loader did not infer by itself must be written to keep the meaning. */
	bool implicit = !tag || !strcmp(tag, YAML_DEFAULT_SCALAR_TAG);

	if (!yaml_scalar_event_initialize(&ev, NULL, implicit ? NULL : (yaml_char_t *)tag,
					  (yaml_char_t *)value, (int)len, implicit, implicit,
					  style))
		return -ENOMEM;
	return yaml_emitter_emit(e, &ev) ? 0 : -EIO;
}

static int emit_node(struct cfg_ctx *ctx, yaml_emitter_t *e, yaml_node_t *n, int depth,
		     const char *inject_ns);

/* metadata with "namespace: @ns" after its name (or last when it has no name). */
static int emit_pairs(struct cfg_ctx *ctx, yaml_emitter_t *e, yaml_node_t *map, int depth,
		      const char *inject_ns, bool is_metadata)
{
	bool injected = !is_metadata || !inject_ns;
	int err;

	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = cfg_node(ctx, p->key), *v = cfg_node(ctx, p->value);
		bool meta_key = !is_metadata && depth == 0 && k && k->type == YAML_SCALAR_NODE &&
				!strcmp((const char *)k->data.scalar.value, "metadata");

		if (!k || !v)
			return -EINVAL;
		err = emit_node(ctx, e, k, depth + 1, NULL);
		if (!err)
			err = meta_key && v->type == YAML_MAPPING_NODE
				  ? emit_node(ctx, e, v, -1, inject_ns)
				  : emit_node(ctx, e, v, depth + 1, NULL);
		if (err)
			return err;
		if (!injected && k->type == YAML_SCALAR_NODE &&
		    !strcmp((const char *)k->data.scalar.value, "name")) {
			err = emit_scalar(e, "namespace", 9, YAML_PLAIN_SCALAR_STYLE, NULL);
			if (!err)
				err = emit_scalar(e, inject_ns, strlen(inject_ns),
						  YAML_PLAIN_SCALAR_STYLE, NULL);
			if (err)
				return err;
			injected = true;
		}
	}
	if (!injected) {
		err = emit_scalar(e, "namespace", 9, YAML_PLAIN_SCALAR_STYLE, NULL);
		if (!err)
			err = emit_scalar(e, inject_ns, strlen(inject_ns), YAML_PLAIN_SCALAR_STYLE,
					  NULL);
		return err;
	}
	return 0;
}

/*
 * @depth -1 marks the root object's metadata mapping (where @inject_ns goes). Nesting was
 * bounded by cfg_check_document before any object is parsed.
 */
static int emit_node(struct cfg_ctx *ctx, yaml_emitter_t *e, yaml_node_t *n, int depth,
		     const char *inject_ns)
{
	bool is_metadata = depth < 0;
	yaml_event_t ev;
	int err = 0;

	if (is_metadata)
		depth = 1;
	switch (n->type) {
	case YAML_SCALAR_NODE:
		return emit_scalar(e, (const char *)n->data.scalar.value, n->data.scalar.length,
				   n->data.scalar.style, (const char *)n->tag);
	case YAML_SEQUENCE_NODE:
		if (!yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1,
							  YAML_BLOCK_SEQUENCE_STYLE) ||
		    !yaml_emitter_emit(e, &ev))
			return -EIO;
		for (yaml_node_item_t *it = n->data.sequence.items.start;
		     !err && it < n->data.sequence.items.top; it++) {
			yaml_node_t *item = cfg_node(ctx, *it);

			err = item ? emit_node(ctx, e, item, depth + 1, NULL) : -EINVAL;
		}
		if (err)
			return err;
		if (!yaml_sequence_end_event_initialize(&ev) || !yaml_emitter_emit(e, &ev))
			return -EIO;
		return 0;
	case YAML_MAPPING_NODE:
		if (!yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1,
							 YAML_BLOCK_MAPPING_STYLE) ||
		    !yaml_emitter_emit(e, &ev))
			return -EIO;
		err = emit_pairs(ctx, e, n, depth, inject_ns, is_metadata);
		if (err)
			return err;
		if (!yaml_mapping_end_event_initialize(&ev) || !yaml_emitter_emit(e, &ev))
			return -EIO;
		return 0;
	default: return -EINVAL;
	}
}

char *cfg_emit_object(struct cfg_ctx *ctx, yaml_node_t *root, const char *inject_ns)
{
	struct out o = {0};
	yaml_emitter_t e;
	yaml_event_t ev;
	int err = -EIO;

	if (!yaml_emitter_initialize(&e))
		return NULL;
	yaml_emitter_set_output(&e, write_out, &o);
	yaml_emitter_set_unicode(&e, 1);
	/* No folding of long plain scalars: one value, one line, byte-comparable copies. */
	yaml_emitter_set_width(&e, -1);
	if (yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING) &&
	    yaml_emitter_emit(&e, &ev) &&
	    yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1) &&
	    yaml_emitter_emit(&e, &ev)) {
		err = emit_node(ctx, &e, root, 0, inject_ns);
		if (!err && !(yaml_document_end_event_initialize(&ev, 1) &&
			      yaml_emitter_emit(&e, &ev) && yaml_stream_end_event_initialize(&ev) &&
			      yaml_emitter_emit(&e, &ev) && yaml_emitter_flush(&e)))
			err = -EIO;
	}
	yaml_emitter_delete(&e);
	if (err || o.oom || !o.buf) {
		free(o.buf);
		return NULL;
	}
	return o.buf;
}
