// SPDX-License-Identifier: Apache-2.0
/*
 * Loading buffers, files and directories all-or-nothing per file: a file's objects are parsed
 * into a staging model (each document through the kinds table, kinds.c) and merged
 * only when the whole file was clean.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ambit/fileutil.h"
#include "decode/decode.h"

static void offset_to_mark(const char *buf, size_t len, size_t offset, int *line, int *column)
{
	*line = 1;
	*column = 1;
	for (size_t i = 0; i < offset && i < len; i++) {
		if (buf[i] == '\n') {
			(*line)++;
			*column = 1;
		} else if (((unsigned char)buf[i] & 0xc0) != 0x80) {
			(*column)++; /* columns count characters, as libyaml's marks do */
		}
	}
}

/*
 * The bounds that must hold before libyaml builds a document, judged on the token stream in one
 * linear pass: nesting (the scanner's per-token work grows with the open flow levels, so 200 KB
 * of "[[[[" took 20 s to load before the depth check on the loaded document could run) and
 * anchors and aliases (the loader resolves each alias by a linear search of the anchors).
 * Stops at the first token past a bound, so any input up to the size cap is judged in time
 * linear in the bytes read.
 */
static int prescan(struct cfg_ctx *ctx, const char *buf, size_t len)
{
	yaml_parser_t parser;
	yaml_token_t tok;
	int depth = 0, anchors = 0, aliases = 0, err = 0;
	const char *what = NULL;

	if (!yaml_parser_initialize(&parser)) {
		cfg_error(ctx, NULL, "out of memory");
		return -ENOMEM;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
	for (;;) {
		if (!yaml_parser_scan(&parser, &tok))
			break; /* a syntax error: the loader reports it with its context */
		switch (tok.type) {
		case YAML_BLOCK_SEQUENCE_START_TOKEN:
		case YAML_BLOCK_MAPPING_START_TOKEN:
		case YAML_FLOW_SEQUENCE_START_TOKEN:
		case YAML_FLOW_MAPPING_START_TOKEN:
			if (++depth > CFG_MAX_DEPTH)
				what = "nesting deeper than the limit";
			break;
		case YAML_BLOCK_END_TOKEN:
		case YAML_FLOW_SEQUENCE_END_TOKEN:
		case YAML_FLOW_MAPPING_END_TOKEN: depth--; break;
		case YAML_DOCUMENT_START_TOKEN:
		case YAML_DOCUMENT_END_TOKEN: anchors = aliases = 0; break;
		case YAML_ANCHOR_TOKEN:
			if (++anchors > CFG_MAX_ANCHORS)
				what = "too many anchors";
			break;
		case YAML_ALIAS_TOKEN:
			if (++aliases > CFG_MAX_ALIASES)
				what = "too many aliases";
			break;
		default: break;
		}
		if (what) {
			char msg[160];

			if (depth > CFG_MAX_DEPTH)
				snprintf(msg, sizeof(msg),
					 "nesting deeper than %d levels (parsing stopped here)",
					 CFG_MAX_DEPTH);
			else
				snprintf(msg, sizeof(msg),
					 "more than %d %s in one document (parsing stopped here)",
					 anchors > CFG_MAX_ANCHORS ? CFG_MAX_ANCHORS
								   : CFG_MAX_ALIASES,
					 anchors > CFG_MAX_ANCHORS ? "anchors" : "aliases");
			cfg_diag_at(ctx, (int)tok.start_mark.line + 1,
				    (int)tok.start_mark.column + 1, true, msg);
			err = -EINVAL;
		}
		if (tok.type == YAML_STREAM_END_TOKEN || err) {
			yaml_token_delete(&tok);
			break;
		}
		yaml_token_delete(&tok);
	}
	yaml_parser_delete(&parser);
	return err;
}

int cfg_parse_stream(struct cfg_ctx *ctx, const char *buf, size_t len)
{
	yaml_parser_t parser;
	yaml_document_t doc;
	int err;

	err = prescan(ctx, buf, len);
	if (err)
		return err;

	if (!yaml_parser_initialize(&parser)) {
		cfg_error(ctx, NULL, "out of memory");
		return -ENOMEM;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
	for (;;) {
		yaml_node_t *root;

		if (!yaml_parser_load(&parser, &doc)) {
			int line = (int)parser.problem_mark.line + 1;
			int column = (int)parser.problem_mark.column + 1;
			char msg[256];

			/* The reader (encoding) errors carry a byte offset, not a mark. */
			if (parser.error == YAML_READER_ERROR)
				offset_to_mark(buf, len, parser.problem_offset, &line, &column);
			snprintf(msg, sizeof(msg), "invalid YAML: %s%s%s",
				 parser.problem ? parser.problem : "syntax error",
				 parser.context ? " " : "", parser.context ? parser.context : "");
			cfg_diag_at(ctx, line, column, true, msg);
			err = -EINVAL;
			break;
		}
		root = yaml_document_get_root_node(&doc);
		if (!root) { /* end of stream */
			yaml_document_delete(&doc);
			break;
		}
		ctx->doc = &doc;
		/* Name the object before the bounds check so its errors say whose they are. */
		ctx->object = config_k8s_object_name(ctx, root);
		if (!cfg_is_null(root) && cfg_check_document(ctx) == 0)
			config_k8s_document(ctx, root);
		free(ctx->object);
		ctx->object = NULL;
		ctx->doc = NULL;
		yaml_document_delete(&doc);
	}
	yaml_parser_delete(&parser);
	return err;
}

int config_load_buffer(struct config *cfg, const char *name, const char *buf, size_t len,
		       struct config_diags *diags)
{
	return config_load_buffer_opts(cfg, name, buf, len, NULL, diags);
}

int cfg_probe_load(const char *buf, size_t len, struct cfg_probe *probe)
{
	struct config cfg, stage;
	struct cfg_ctx ctx;
	int err;

	config_init(&cfg);
	config_init(&stage);
	memset(&ctx, 0, sizeof(ctx));
	ctx.file = "<probe>";
	ctx.cfg = &cfg;
	ctx.stage = &stage;
	ctx.probe = probe;
	err = cfg_parse_stream(&ctx, buf, len);
	free(ctx.object);
	cfg_index_free(ctx.index);
	config_free(&stage);
	config_free(&cfg);
	return err;
}

int config_load_buffer_opts(struct config *cfg, const char *name, const char *buf, size_t len,
			    const struct config_load_opts *opts, struct config_diags *diags)
{
	struct config stage;
	struct cfg_ctx ctx;
	int err;

	config_init(&stage);
	memset(&ctx, 0, sizeof(ctx));
	ctx.file = name ? name : "<input>";
	ctx.opts = opts;
	ctx.cfg = cfg;
	ctx.stage = &stage;
	ctx.diags = diags;
	if (len > CFG_MAX_FILE_SIZE) {
		cfg_error(&ctx, NULL, "file larger than %u bytes", CFG_MAX_FILE_SIZE);
		return -EFBIG;
	}
	/* libyaml asserts on a NULL input even when it is empty. */
	err = cfg_parse_stream(&ctx, buf ? buf : "", buf ? len : 0);
	if (!err && ctx.nerrors)
		err = -EINVAL;
	/* Told only now: a file with an error contributes no object, also to the caller. */
	for (size_t i = 0; !err && i < ctx.ntold; i++) {
		const struct cfg_told *t = &ctx.told[i];
		const struct config_object obj = {
		    .file = ctx.file,
		    .api_version = t->api_version,
		    .kind = t->kind,
		    .namespace = t->namespace,
		    .name = t->name,
		    .line = t->line,
		    .yaml = t->yaml,
		};

		err = opts->on_object(opts->arg, &obj);
	}
	if (!err) {
		err = cfg_merge(cfg, &stage);
		if (err)
			cfg_error(&ctx, NULL, "out of memory");
	}
	for (size_t i = 0; i < ctx.ntold; i++) {
		free(ctx.told[i].api_version);
		free(ctx.told[i].kind);
		free(ctx.told[i].namespace);
		free(ctx.told[i].name);
		free(ctx.told[i].yaml);
	}
	free(ctx.told);
	free(ctx.object);
	cfg_index_free(ctx.index);
	config_free(&stage);
	return err;
}

int config_load_file(struct config *cfg, const char *path, struct config_diags *diags)
{
	return config_load_file_opts(cfg, path, NULL, diags);
}

int config_load_file_opts(struct config *cfg, const char *path, const struct config_load_opts *opts,
			  struct config_diags *diags)
{
	struct cfg_ctx ctx = {.file = path, .diags = diags};
	char *buf = NULL;
	size_t len = 0;
	struct stat st;
	int fd, err;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		err = -errno;
		cfg_error(&ctx, NULL, "cannot open: %s", strerror(-err));
		return err;
	}
	if (fstat(fd, &st) < 0) {
		err = -errno;
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		err = -EINVAL;
		cfg_error(&ctx, NULL, "not a regular file");
		goto out;
	}
	if ((unsigned long long)st.st_size > CFG_MAX_FILE_SIZE) {
		err = -EFBIG;
		cfg_error(&ctx, NULL, "file larger than %u bytes", CFG_MAX_FILE_SIZE);
		goto out;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		err = -ENOMEM;
		goto fail;
	}
	/* The file may change under us (ambitctl apply); read what is there, up to the cap. */
	err = fileutil_read_upto(fd, buf, (size_t)st.st_size + 1, &len);
	if (err)
		goto fail;
	if (len > (size_t)st.st_size) {
		err = -EAGAIN;
		cfg_error(&ctx, NULL, "file grew while being read");
		goto out;
	}
	err = config_load_buffer_opts(cfg, path, buf, len, opts, diags);
	goto out;
fail:
	cfg_error(&ctx, NULL, "cannot read: %s", strerror(-err));
out:
	free(buf);
	close(fd);
	return err;
}

struct load_walk {
	struct config *cfg;
	const struct config_load_opts *opts;
	struct config_diags *diags;
};

static int load_walked(const char *path, void *arg)
{
	struct load_walk *w = arg;

	return config_load_file_opts(w->cfg, path, w->opts, w->diags);
}

int config_load_dir(struct config *cfg, const char *dir, struct config_diags *diags)
{
	struct load_walk w = {cfg, NULL, diags};

	return config_walk_dir(dir, load_walked, &w, diags);
}

int config_load_path_opts(struct config *cfg, const char *path, const struct config_load_opts *opts,
			  struct config_diags *diags)
{
	struct cfg_ctx ctx = {.file = path, .diags = diags};
	struct load_walk w = {cfg, opts, diags};
	struct stat st;
	int err;

	if (stat(path, &st) < 0) {
		err = -errno;
		cfg_error(&ctx, NULL, "%s", strerror(-err));
		return err;
	}
	if (S_ISDIR(st.st_mode))
		return config_walk_dir(path, load_walked, &w, diags);
	return config_load_file_opts(cfg, path, opts, diags);
}
