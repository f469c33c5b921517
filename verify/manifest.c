/*
 * manifest.c - what a store should hold: relative path, plaintext size,
 * SHA-256 and the canaries planted in it (docs/VERIFY.md "Manifest").
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "crypto.h"
#include "fsutil.h"
#include "vfy_int.h"

#define MANIFEST_MAX (1ULL << 31)

struct vfy_manifest {
	struct vfy_mentry *e;
	size_t n;
	char **canaries;          /* global */
	size_t ncanaries;
	size_t total_canaries;
	uint32_t *idx;            /* open addressing over paths */
	size_t idx_cap;
	char sha[65];
};

static uint64_t
path_hash(const char *s)
{
	return vfy_path_hash("manifest", s);
}

void
vfy_manifest_free(struct vfy_manifest *m)
{
	size_t i, k;

	if (m == NULL)
		return;
	for (i = 0; i < m->n; i++) {
		free(m->e[i].path);
		for (k = 0; k < m->e[i].ncanaries; k++)
			free(m->e[i].canaries[k]);
		free(m->e[i].canaries);
	}
	for (k = 0; k < m->ncanaries; k++)
		free(m->canaries[k]);
	free(m->canaries);
	free(m->e);
	free(m->idx);
	free(m);
}

static enum atr_err
take_canaries(const cJSON *arr, const char *where, char ***out, size_t *n)
{
	const cJSON *c;
	size_t k = 0, cnt;

	*out = NULL;
	*n = 0;
	if (arr == NULL)
		return ATR_OK;
	if (!cJSON_IsArray(arr))
		return atr_fail(ATR_ERR_CONFIG,
		    "manifest: %s: \"canaries\" is not an array", where);
	cnt = (size_t)cJSON_GetArraySize(arr);
	if (cnt == 0)
		return ATR_OK;
	*out = calloc(cnt, sizeof(char *));
	if (*out == NULL)
		return ATR_ERR_NOMEM;
	cJSON_ArrayForEach(c, arr) {
		size_t l;

		if (!cJSON_IsString(c))
			return atr_fail(ATR_ERR_CONFIG,
			    "manifest: %s: a canary is not a string", where);
		l = strlen(c->valuestring);
		if (l < VFY_PAT_MIN || l > VFY_PAT_MAX)
			return atr_fail(ATR_ERR_CONFIG,
			    "manifest: %s: canary %zu is %zu bytes long "
			    "(%u..%u allowed)", where, k, l, VFY_PAT_MIN,
			    VFY_PAT_MAX);
		(*out)[k] = strdup(c->valuestring);
		if ((*out)[k] == NULL)
			return ATR_ERR_NOMEM;
		k++;
		*n = k;
	}
	return ATR_OK;
}

/* Fills me from files[i] (an object with a relative "path", optional
 * "size", "sha256" and "canaries"). */
static enum atr_err
parse_entry(const cJSON *f, size_t i, struct vfy_mentry *me)
{
	const cJSON *p = cJSON_GetObjectItemCaseSensitive(f, "path");
	const cJSON *sz = cJSON_GetObjectItemCaseSensitive(f, "size");
	const cJSON *sh = cJSON_GetObjectItemCaseSensitive(f, "sha256");
	size_t got = 0;

	if (!cJSON_IsObject(f) || !cJSON_IsString(p) ||
	    p->valuestring[0] == '\0' || p->valuestring[0] == '/')
		return atr_fail(ATR_ERR_CONFIG, "manifest: files[%zu]: no "
		    "relative \"path\"", i);
	me->path = strdup(p->valuestring);
	if (me->path == NULL)
		return ATR_ERR_NOMEM;
	if (sz != NULL) {
		if (!cJSON_IsNumber(sz) || !(sz->valuedouble >= 0) ||
		    sz->valuedouble > 9.2e18)
			return atr_fail(ATR_ERR_CONFIG,
			    "manifest: %s: bad \"size\"", me->path);
		me->size = (uint64_t)sz->valuedouble;
		me->has_size = 1;
	}
	if (sh != NULL) {
		if (!cJSON_IsString(sh) || atr_unhex(sh->valuestring,
		    strlen(sh->valuestring), me->sha256, sizeof(me->sha256),
		    &got) != 0 || got != 32)
			return atr_fail(ATR_ERR_CONFIG,
			    "manifest: %s: \"sha256\" is not 64 hex digits",
			    me->path);
		me->has_sha = 1;
	}
	return take_canaries(cJSON_GetObjectItemCaseSensitive(f, "canaries"),
	    me->path, &me->canaries, &me->ncanaries);
}

/* Indexes the last entry (m->e[m->n - 1]) by path; a path listed
 * twice is an error. */
static enum atr_err
index_entry(struct vfy_manifest *m)
{
	const char *path = m->e[m->n - 1].path;
	size_t j = path_hash(path) & (m->idx_cap - 1);

	while (m->idx[j]) {
		if (strcmp(m->e[m->idx[j] - 1].path, path) == 0)
			return atr_fail(ATR_ERR_CONFIG,
			    "manifest: %s is listed twice", path);
		j = (j + 1) & (m->idx_cap - 1);
	}
	m->idx[j] = (uint32_t)m->n;
	return ATR_OK;
}

/* The entries of the "files" array, and the index over their paths. */
static enum atr_err
parse_files(struct vfy_manifest *m, const cJSON *files)
{
	size_t cnt = (size_t)cJSON_GetArraySize(files);
	const cJSON *f;
	enum atr_err e;

	m->e = calloc(cnt ? cnt : 1, sizeof(*m->e));
	m->idx_cap = 64;
	while (m->idx_cap < cnt * 2)
		m->idx_cap *= 2;
	m->idx = calloc(m->idx_cap, sizeof(*m->idx));
	if (m->e == NULL || m->idx == NULL)
		return ATR_ERR_NOMEM;
	cJSON_ArrayForEach(f, files) {
		/* counted before it is complete, so that free releases
		 * what parse_entry took */
		e = parse_entry(f, m->n, &m->e[m->n]);
		if (m->e[m->n].path != NULL)
			m->n++;
		if (e != ATR_OK)
			return e;
		m->total_canaries += m->e[m->n - 1].ncanaries;
		e = index_entry(m);
		if (e != ATR_OK)
			return e;
	}
	return ATR_OK;
}

enum atr_err
vfy_manifest_parse(const char *json, size_t len, struct vfy_manifest **out)
{
	struct vfy_manifest *m = NULL;
	cJSON *root = NULL;
	const cJSON *files, *fmt;
	enum atr_err e = ATR_OK;
	uint8_t md[32];

	*out = NULL;
	root = cJSON_ParseWithLength(json, len);
	if (root == NULL || !cJSON_IsObject(root)) {
		cJSON_Delete(root);
		return atr_fail(ATR_ERR_CONFIG, "manifest: not a JSON object");
	}
	fmt = cJSON_GetObjectItemCaseSensitive(root, "format");
	files = cJSON_GetObjectItemCaseSensitive(root, "files");
	if (fmt != NULL && (!cJSON_IsString(fmt) ||
	    strcmp(fmt->valuestring, "atrest-manifest/1") != 0))
		e = atr_fail(ATR_ERR_CONFIG,
		    "manifest: format is not \"atrest-manifest/1\"");
	else if (!cJSON_IsArray(files))
		e = atr_fail(ATR_ERR_CONFIG, "manifest: no \"files\" array");
	else if ((m = calloc(1, sizeof(*m))) == NULL)
		e = ATR_ERR_NOMEM;
	if (e == ATR_OK)
		e = parse_files(m, files);
	if (e == ATR_OK)
		e = take_canaries(cJSON_GetObjectItemCaseSensitive(root,
		    "canaries"), "canaries", &m->canaries, &m->ncanaries);
	if (e == ATR_OK) {
		m->total_canaries += m->ncanaries;
		if (atr_sha256((const uint8_t *)json, len, md) == ATR_OK)
			atr_hex(md, sizeof(md), m->sha);
		*out = m;
		m = NULL;
	}
	cJSON_Delete(root);
	vfy_manifest_free(m);
	return e;
}

enum atr_err
vfy_manifest_load(const char *path, struct vfy_manifest **out)
{
	unsigned char *buf = NULL;
	size_t len = 0;
	enum atr_err e;

	e = atr_read_small_file(path, MANIFEST_MAX, 0, &buf, &len);
	if (e != ATR_OK)
		return e;
	e = vfy_manifest_parse((const char *)buf, len, out);
	free(buf);
	return e;
}

size_t
vfy_manifest_count(const struct vfy_manifest *m)
{
	return m ? m->n : 0;
}

size_t
vfy_manifest_canaries(const struct vfy_manifest *m)
{
	return m ? m->total_canaries : 0;
}

const struct vfy_mentry *
vfy_manifest_entry(const struct vfy_manifest *m, size_t i)
{
	return i < m->n ? &m->e[i] : NULL;
}

long
vfy_manifest_find(const struct vfy_manifest *m, const char *rel)
{
	size_t j;

	if (m == NULL || m->n == 0)
		return -1;
	j = path_hash(rel) & (m->idx_cap - 1);
	while (m->idx[j]) {
		if (strcmp(m->e[m->idx[j] - 1].path, rel) == 0)
			return (long)m->idx[j] - 1;
		j = (j + 1) & (m->idx_cap - 1);
	}
	return -1;
}

size_t
vfy_manifest_global_canaries(const struct vfy_manifest *m, char ***out)
{
	*out = m->canaries;
	return m->ncanaries;
}

const char *
vfy_manifest_sha(const struct vfy_manifest *m)
{
	return m->sha;
}
