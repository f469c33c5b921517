/*
 * atrest inspect [--json] FILE...  - an envelope's header, without keys.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "common.h"
#include "fsutil.h"
#include "quote.h"
#include "stream.h"

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: atrest inspect [--json] FILE...\n\n"
	    "Shows each envelope's header without any key: format version, suite,\n"
	    "object id, frame size and count, plaintext size, recipients (provider,\n"
	    "key id, wrap algorithm, hierarchy) and whether the header is well formed.\n"
	    "Nothing here is authenticated: only a key proves the header (decrypt).\n\n"
	    "  -j, --json   JSON: one object for one FILE, an array for several\n"
	    "  -h, --help\n\n"
	    "exit status: 0 all well formed, 1 some file is not a well-formed envelope,\n"
	    "2 a file could not be read\n");
}

struct info {
	struct atr_header *h;
	uint64_t file_size, frames, plain;
	enum atr_err err;
	char reason[512];
};

static int
examine(const char *path, struct info *in)
{
	uint8_t *spill = malloc(ATR_HEADER_MAX);
	struct stat st;
	size_t extra;
	int fd;

	in->err = ATR_OK;
	in->reason[0] = '\0';
	if (spill == NULL)
		return 2;
	/* Sizes and frame counts come from fstat: only a regular file has
	 * one, and a FIFO must not hang the open (fsutil.h). */
	if (atr_open_regular(path, &fd, &st) != ATR_OK) {
		free(spill);
		(void)cli_error_file(path, ATR_ERR_IO);
		return 2;   /* in->h is not filled: the caller skips it */
	}
	in->file_size = (uint64_t)st.st_size;
	in->err = atr_read_header(fd, in->h, spill, &extra);
	close(fd);
	free(spill);
	if (in->err == ATR_OK)
		in->err = atr_body_frames(in->file_size - in->h->len,
		    in->h->frame_size, &in->frames);
	if (in->err != ATR_OK) {
		snprintf(in->reason, sizeof(in->reason), "%s", atr_detail());
		return in->err == ATR_ERR_IO ? 2 : 1;
	}
	in->plain = in->file_size - in->h->len - in->frames * ATR_GCM_TAGBYTES;
	return 0;
}

static void
print_text(const char *path, const struct info *in)
{
	const struct atr_header *h = in->h;
	char oid[2 * ATR_OBJECT_ID_BYTES + 1], q[ATR_QUOTE_BUF];
	char r[4 * sizeof(in->reason) + 8];
	size_t i;

	if (in->err != ATR_OK) {
		printf("%s: not a well-formed atrest envelope: %s\n",
		    atr_quote(path, q, sizeof(q)),
		    atr_escape(in->reason, r, sizeof(r)));
		return;
	}
	atr_hex(h->object_id, sizeof(h->object_id), oid);
	printf("%s:\n", atr_quote(path, q, sizeof(q)));
	printf("  well-formed   yes (header structure; authenticity needs a key)\n");
	printf("  version       %u\n", h->version);
	printf("  suite         0x%04x AES-256-GCM, HKDF-SHA-256, committed\n",
	    h->suite);
	printf("  object id     %s\n", oid);
	printf("  frame size    %u\n", h->frame_size);
	printf("  frames        %llu\n", (unsigned long long)in->frames);
	printf("  plaintext     %llu bytes\n", (unsigned long long)in->plain);
	printf("  header        %zu bytes\n", h->len);
	printf("  recipients    %u\n", h->nstanzas);
	for (i = 0; i < h->nstanzas; i++) {
		const struct atr_stanza *s = &h->st[i];

		printf("    [%zu] %-9s %-13s %-12s %s\n", i,
		    atr_provider_name((enum atr_provider_type)s->provider),
		    atr_wrap_alg_name((enum atr_wrap_alg)s->alg),
		    atr_stanza_kind_name(s->kind), s->key_id);
	}
}

static cJSON *
to_json(const char *path, const struct info *in)
{
	const struct atr_header *h = in->h;
	cJSON *o = cJSON_CreateObject(), *r;
	char hex[2 * ATR_WRAPPED_MAX + 1];
	size_t i;

	cJSON_AddStringToObject(o, "file", path);
	cJSON_AddBoolToObject(o, "well_formed", in->err == ATR_OK);
	if (in->err != ATR_OK) {
		cJSON_AddStringToObject(o, "error", in->reason);
		return o;
	}
	cJSON_AddNumberToObject(o, "version", h->version);
	snprintf(hex, sizeof(hex), "0x%04x", h->suite);
	cJSON_AddStringToObject(o, "suite", hex);
	cJSON_AddStringToObject(o, "suite_name",
	    "AES-256-GCM/HKDF-SHA-256/HMAC-SHA-256/commit");
	atr_hex(h->object_id, sizeof(h->object_id), hex);
	cJSON_AddStringToObject(o, "object_id", hex);
	cJSON_AddNumberToObject(o, "frame_size", h->frame_size);
	cJSON_AddNumberToObject(o, "frame_count", (double)in->frames);
	cJSON_AddNumberToObject(o, "plaintext_size", (double)in->plain);
	cJSON_AddNumberToObject(o, "header_size", (double)h->len);
	cJSON_AddNumberToObject(o, "file_size", (double)in->file_size);
	atr_hex(h->nonce_prefix, sizeof(h->nonce_prefix), hex);
	cJSON_AddStringToObject(o, "nonce_prefix", hex);
	r = cJSON_AddArrayToObject(o, "recipients");
	for (i = 0; i < h->nstanzas; i++) {
		const struct atr_stanza *s = &h->st[i];
		cJSON *j = cJSON_CreateObject();

		cJSON_AddStringToObject(j, "provider",
		    atr_provider_name((enum atr_provider_type)s->provider));
		cJSON_AddStringToObject(j, "key_id", s->key_id);
		cJSON_AddStringToObject(j, "alg",
		    atr_wrap_alg_name((enum atr_wrap_alg)s->alg));
		cJSON_AddStringToObject(j, "hierarchy",
		    atr_stanza_kind_name(s->kind));
		cJSON_AddNumberToObject(j, "wrapped_size", s->wrapped_len);
		if (s->kind != ATR_KIND_DIRECT) {
			atr_hex(s->share_id, sizeof(s->share_id), hex);
			cJSON_AddStringToObject(j, "share_id", hex);
		}
		cJSON_AddItemToArray(r, j);
	}
	return o;
}

int
cmd_inspect(int argc, char **argv)
{
	static const struct option opts[] = {
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct info in;
	cJSON *arr = NULL;
	int c, i, json = 0, rc = 0, r;
	char *s;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "jh", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			return cli_bad_option("inspect", argv);
		}
	}
	if (optind >= argc)
		return cli_usage_error("inspect", "at least one FILE is required");
	in.h = malloc(sizeof(*in.h));
	if (in.h == NULL)
		return cli_error(NULL, ATR_ERR_NOMEM);
	if (json)
		arr = cJSON_CreateArray();
	for (i = optind; i < argc; i++) {
		r = examine(argv[i], &in);
		if (r > rc)
			rc = r;
		if (r == 2)
			continue;
		if (!json) {
			print_text(argv[i], &in);
			if (in.err != ATR_OK) {
				atr_detail_set("%s", in.reason);
				cli_error_file(argv[i], in.err);
			}
		} else {
			cJSON_AddItemToArray(arr, to_json(argv[i], &in));
		}
	}
	if (json) {
		cJSON *doc = arr;

		if (argc - optind == 1 && cJSON_GetArraySize(arr) == 1)
			doc = cJSON_DetachItemFromArray(arr, 0);
		s = cJSON_Print(doc);
		if (s != NULL)
			printf("%s\n", s);
		cJSON_free(s);
		if (doc != arr)
			cJSON_Delete(doc);
		cJSON_Delete(arr);
	}
	free(in.h);
	return rc;
}
