// SPDX-License-Identifier: Apache-2.0
/*
 * Re-emitting a manifest file with one Namespace object replaced (for `ambitctl label`), through
 * libyaml's document API: other documents of the file are loaded and dumped back unchanged in
 * meaning (comments and quoting style are not preserved: libyaml does not keep them).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "ambit/config.h"

static const char *scalar(yaml_document_t *d, yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static yaml_node_t *map_get(yaml_document_t *d, yaml_node_t *map, const char *key)
{
	if (!map || map->type != YAML_MAPPING_NODE)
		return NULL;
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
	     p++) {
		const char *k = scalar(d, yaml_document_get_node(d, p->key));
		if (k && !strcmp(k, key))
			return yaml_document_get_node(d, p->value);
	}
	return NULL;
}

static bool is_namespace(yaml_document_t *d, const char *ns)
{
	yaml_node_t *root = yaml_document_get_root_node(d);
	const char *kind = scalar(d, map_get(d, root, "kind"));
	const char *name = scalar(d, map_get(d, map_get(d, root, "metadata"), "name"));

	return kind && name && !strcmp(kind, "Namespace") && !strcmp(name, ns);
}

static int add_pair(yaml_document_t *d, int map, const char *key, int value)
{
	int k = yaml_document_add_scalar(d, NULL, (yaml_char_t *)key, -1, YAML_PLAIN_SCALAR_STYLE);

	if (!k || !value || !yaml_document_append_mapping_pair(d, map, k, value))
		return -ENOMEM;
	return 0;
}

static int add_str(yaml_document_t *d, int map, const char *key, const char *value, bool quote)
{
	int v = yaml_document_add_scalar(d, NULL, (yaml_char_t *)value, -1,
					 quote ? YAML_DOUBLE_QUOTED_SCALAR_STYLE
					       : YAML_PLAIN_SCALAR_STYLE);
	return add_pair(d, map, key, v);
}

static int add_labels(yaml_document_t *d, int meta, const char *key, const struct config_labels *l)
{
	int map, ret;

	if (!l || !l->n)
		return 0;
	map = yaml_document_add_mapping(d, NULL, YAML_BLOCK_MAPPING_STYLE);
	ret = add_pair(d, meta, key, map);
	/* Label values are strings: quoting keeps "true" or "1" from turning into other types. */
	for (size_t i = 0; i < l->n && !ret; i++)
		ret = add_str(d, map, l->items[i].key, l->items[i].value, true);
	return ret;
}

static int build_namespace(yaml_document_t *d, const char *ns, const struct config_labels *labels,
			   const struct config_labels *annotations)
{
	int root, meta, ret;

	if (!yaml_document_initialize(d, NULL, NULL, NULL, 1, 1))
		return -ENOMEM;
	root = yaml_document_add_mapping(d, NULL, YAML_BLOCK_MAPPING_STYLE);
	ret = root ? 0 : -ENOMEM;
	if (!ret)
		ret = add_str(d, root, "apiVersion", "v1", false);
	if (!ret)
		ret = add_str(d, root, "kind", "Namespace", false);
	meta = yaml_document_add_mapping(d, NULL, YAML_BLOCK_MAPPING_STYLE);
	if (!ret)
		ret = add_pair(d, root, "metadata", meta);
	if (!ret)
		ret = add_str(d, meta, "name", ns, false);
	if (!ret)
		ret = add_labels(d, meta, "labels", labels);
	if (!ret)
		ret = add_labels(d, meta, "annotations", annotations);
	if (ret)
		yaml_document_delete(d);
	return ret;
}

static int emit_write(void *data, unsigned char *buf, size_t size)
{
	return fwrite(buf, 1, size, data) == size;
}

int config_emit_ns_labels(const char *file, const char *ns, const struct config_labels *labels,
			  const struct config_labels *annotations, char **out)
{
	yaml_parser_t parser;
	yaml_emitter_t emitter;
	yaml_document_t doc;
	char *buf = NULL;
	size_t len = 0;
	FILE *in, *mem;
	bool replaced = false;
	int ret = 0;

	in = fopen(file, "re");
	if (!in)
		return -errno;
	mem = open_memstream(&buf, &len);
	if (!mem) {
		ret = -errno;
		fclose(in);
		return ret;
	}
	yaml_parser_initialize(&parser);
	yaml_parser_set_input_file(&parser, in);
	yaml_emitter_initialize(&emitter);
	yaml_emitter_set_output(&emitter, emit_write, mem);
	yaml_emitter_set_unicode(&emitter, 1);
	if (!yaml_emitter_open(&emitter)) {
		ret = -EIO;
		goto out;
	}
	for (;;) {
		if (!yaml_parser_load(&parser, &doc)) {
			fprintf(stderr, "ambitctl: %s:%zu: %s\n", file,
				parser.problem_mark.line + 1,
				parser.problem ? parser.problem : "YAML error");
			ret = -EINVAL;
			goto out;
		}
		if (!yaml_document_get_root_node(&doc)) {
			yaml_document_delete(&doc);
			break;
		}
		if (!replaced && is_namespace(&doc, ns)) {
			yaml_document_delete(&doc);
			ret = build_namespace(&doc, ns, labels, annotations);
			if (ret)
				goto out;
			replaced = true;
		}
		/* yaml_emitter_dump takes the document and frees it, on success or not. */
		if (!yaml_emitter_dump(&emitter, &doc)) {
			ret = -EIO;
			goto out;
		}
	}
	if (!yaml_emitter_close(&emitter) || !yaml_emitter_flush(&emitter))
		ret = -EIO;
	else if (!replaced)
		ret = -ENOENT;
out:
	yaml_emitter_delete(&emitter);
	yaml_parser_delete(&parser);
	fclose(in);
	if (fclose(mem) != 0 && !ret)
		ret = -ENOMEM;
	if (ret)
		free(buf);
	else
		*out = buf;
	return ret;
}
