/*
 * merge.c - reading JSON reports back and merging shard reports.
 *
 * A shard report carries, besides its findings and counters, the data
 * the store-wide checks need (object ids, nonce prefixes, keyed DEK
 * fingerprints, share ids per KEK).  Merging takes the union of what is
 * per file, drops what vfy_finalize() derives and derives it again over
 * the union: the result is the report one run over the whole store gives
 * (docs/VERIFY.md "Scale and sharding" lists the two exceptions).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "crypto.h"
#include "fsutil.h"
#include "jwk.h"
#include "vfy_int.h"

#define REPORT_MAX (1ULL << 32)

static const char *
str_of(const cJSON *o, const char *k)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, k);

	return cJSON_IsString(it) ? it->valuestring : NULL;
}

/* A JSON number as an integer in [lo, hi], else dflt: an out-of-range
 * double converted to an integer is undefined behaviour in C. */
static int64_t
num_in(const cJSON *it, double lo, double hi, int64_t dflt)
{
	if (!cJSON_IsNumber(it) || !(it->valuedouble >= lo) ||
	    !(it->valuedouble <= hi))
		return dflt;
	return (int64_t)it->valuedouble;
}

static int64_t
num_of(const cJSON *o, const char *k, int64_t dflt)
{
	return num_in(cJSON_GetObjectItemCaseSensitive(o, k), -9.2e18, 9.2e18,
	    dflt);
}

static int
bool_of(const cJSON *o, const char *k)
{
	return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, k));
}

static int
hexn(const char *s, uint8_t *out, size_t n)
{
	size_t got = 0;

	if (s == NULL || strlen(s) != 2 * n)
		return -1;
	return atr_unhex(s, 2 * n, out, n, &got) == 0 && got == n ? 0 : -1;
}

/* A JSON array of names as bits (1 << value), by a name table of
 * names.c; unknown names are ignored. */
static unsigned
names_to_bits(const cJSON *arr, int (*from_name)(const char *))
{
	const cJSON *it;
	unsigned m = 0;
	int b;

	cJSON_ArrayForEach(it, arr) {
		if (!cJSON_IsString(it))
			continue;
		b = from_name(it->valuestring);
		if (b >= 0 && b < 8)
			m |= 1U << b;
	}
	return m;
}

static enum atr_err
load_config(struct vfy_report *r, const cJSON *cfg)
{
	const cJSON *it, *a;
	const char *fp;
	size_t n, i;
	char *pol;
	enum atr_err e;

	a = cJSON_GetObjectItemCaseSensitive(cfg, "stores");
	n = (size_t)cJSON_GetArraySize(a);
	r->stores = calloc(n ? n : 1, sizeof(*r->stores));
	if (r->stores == NULL)
		return ATR_ERR_NOMEM;
	i = 0;
	cJSON_ArrayForEach(it, a) {
		const char *p = str_of(it, "path"), *t = str_of(it, "type");

		r->stores[i].arg = strdup(p ? p : "");
		r->stores[i].is_file = t != NULL && strcmp(t, "file") == 0;
		i++;
	}
	r->nstores = i;
	a = cJSON_GetObjectItemCaseSensitive(cfg, "keys");
	n = (size_t)cJSON_GetArraySize(a);
	r->keys = calloc(n ? n : 1, sizeof(*r->keys));
	if (r->keys == NULL)
		return ATR_ERR_NOMEM;
	i = 0;
	cJSON_ArrayForEach(it, a) {
		const char *u = str_of(it, "uri"), *k = str_of(it, "key_id");
		const char *d = str_of(it, "description"), *p = str_of(it,
		    "provider");

		r->keys[i].uri = strdup(u ? u : "");
		r->keys[i].key_id = strdup(k ? k : "");
		r->keys[i].desc = strdup(d ? d : "");
		r->keys[i].provider = strdup(p ? p : "");
		r->keys[i].bits = (unsigned)num_of(it, "bits", 0);
		r->keys[i].customer_managed = bool_of(it, "customer_managed");
		r->keys[i].primary = bool_of(it, "primary");
		i++;
	}
	r->nkeys = i;
	snprintf(r->current_key_id, sizeof(r->current_key_id), "%s",
	    str_of(cfg, "current_key_id") ? str_of(cfg, "current_key_id") : "");
	r->control = strdup(str_of(cfg, "control_key") ?
	    str_of(cfg, "control_key") : "generated");
	it = cJSON_GetObjectItemCaseSensitive(cfg, "manifest");
	if (cJSON_IsObject(it)) {
		r->manifest = strdup(str_of(it, "path") ? str_of(it, "path") :
		    "");
		snprintf(r->manifest_sha, sizeof(r->manifest_sha), "%s",
		    str_of(it, "sha256") ? str_of(it, "sha256") : "");
	}
	it = cJSON_GetObjectItemCaseSensitive(cfg, "shard");
	if (cJSON_IsObject(it)) {
		r->shard_k = (unsigned)num_of(it, "k", 0);
		r->shard_n = (unsigned)num_of(it, "n", 0);
	}
	r->revocation_drill = bool_of(cfg, "revocation_drill");
	r->allow_empty = bool_of(cfg, "allow_empty");
	fp = str_of(cfg, "fingerprint_key");
	if (fp != NULL && strcmp(fp, "ephemeral") != 0)
		snprintf(r->fp_key_id, sizeof(r->fp_key_id), "%s", fp);
	it = cJSON_GetObjectItemCaseSensitive(cfg, "policy");
	if (!cJSON_IsObject(it))
		return atr_fail(ATR_ERR_FORMAT, "no policy in the report");
	pol = cJSON_PrintUnformatted(it);
	if (pol == NULL)
		return ATR_ERR_NOMEM;
	vfy_policy_default(&r->policy);
	e = vfy_policy_parse(pol, strlen(pol), &r->policy);
	cJSON_free(pol);
	return e;
}

static enum atr_err
load_checks(struct vfy_report *r, const cJSON *checks)
{
	const cJSON *ck, *it, *f;
	int s;

	cJSON_ArrayForEach(ck, checks) {
		const char *id = str_of(ck, "id");
		int c = id ? vfy_check_from_name(id) : -1;
		struct vfy_checkres *k;
		const cJSON *d;

		if (c < 0)
			return atr_fail(ATR_ERR_FORMAT, "unknown check \"%s\"",
			    id ? id : "?");
		k = &r->checks[c];
		vfy_flist_init(&k->f, r->policy.max_findings);
		snprintf(k->reason, sizeof(k->reason), "%s",
		    str_of(ck, "reason") ? str_of(ck, "reason") : "");
		cJSON_ArrayForEach(f, cJSON_GetObjectItemCaseSensitive(ck,
		    "findings")) {
			struct vfy_finding x;
			const char *code = str_of(f, "code");
			const char *sev = str_of(f, "severity");
			const cJSON *off = cJSON_GetObjectItemCaseSensitive(f,
			    "offset");
			int sv = sev ? vfy_sev_from_name(sev) : -2;

			if (code == NULL || vfy_code_check(code) != c || sv < 0)
				return atr_fail(ATR_ERR_FORMAT, "bad finding in "
				    "check %s", id);
			vfy_finding_set(&x, sv, (int)num_of(f, "store", -1),
			    str_of(f, "subject") ? str_of(f, "subject") : "",
			    num_in(off, -1, 9.2e18, -1),
			    code, str_of(f, "message") ? str_of(f, "message") :
			    "");
			vfy_flist_add(&k->f, &x);
		}
		/* counts include the findings that were not kept */
		k->f.count[2] = (uint64_t)num_of(ck, "errors", 0);
		k->f.count[1] = (uint64_t)num_of(ck, "warnings", 0);
		k->f.count[0] = (uint64_t)num_of(ck, "infos", 0);
		d = cJSON_GetObjectItemCaseSensitive(ck, "derived");
		k->dcount[2] = (uint64_t)num_of(d, "errors", 0);
		k->dcount[1] = (uint64_t)num_of(d, "warnings", 0);
		k->dcount[0] = (uint64_t)num_of(d, "infos", 0);
		it = cJSON_GetObjectItemCaseSensitive(ck, "stats");
		for (s = 0; s < VS__COUNT; s++)
			if (vfy_stat_defs[s].check == c)
				r->stats[s] = num_of(it, vfy_stat_defs[s].name, 0);
	}
	return ATR_OK;
}

static enum atr_err
load_coverage(struct vfy_report *r, const cJSON *cov, const cJSON *sd)
{
	const cJSON *it, *x;

	cJSON_ArrayForEach(it, cov) {
		const char *kid = str_of(it, "key_id");
		struct vfy_cov *c;
		const cJSON *rb;

		if (kid == NULL)
			return atr_fail(ATR_ERR_FORMAT, "coverage without key_id");
		c = vfy_covmap_get(&r->cov, kid);
		if (c == NULL)
			return ATR_ERR_NOMEM;
		c->provider = (uint8_t)vfy_provider_from_name(str_of(it,
		    "provider"));
		c->algs = (uint8_t)names_to_bits(cJSON_GetObjectItemCaseSensitive(
		    it, "algorithms"), vfy_alg_bit_from_name);
		c->kinds = (uint8_t)names_to_bits(
		    cJSON_GetObjectItemCaseSensitive(it, "kinds"),
		    vfy_kind_from_name);
		rb = cJSON_GetObjectItemCaseSensitive(it, "rsa_bits");
		if (cJSON_IsArray(rb) && cJSON_GetArraySize(rb) == 2) {
			c->rsa_min = (uint32_t)num_in(cJSON_GetArrayItem(rb, 0),
			    0, 1e6, 0);
			c->rsa_max = (uint32_t)num_in(cJSON_GetArrayItem(rb, 1),
			    0, 1e6, 0);
		}
		c->objects = (uint64_t)num_of(it, "objects", 0);
		c->opened = (uint64_t)num_of(it, "opened", 0);
		c->configured = bool_of(it, "configured");
		c->primary = bool_of(it, "primary");
		c->current = bool_of(it, "current");
	}
	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(sd, "coverage")) {
		const char *kid = str_of(it, "key_id");
		struct vfy_cov *c = kid ? vfy_covmap_get(&r->cov, kid) : NULL;

		if (c == NULL)
			return atr_fail(ATR_ERR_FORMAT, "bad shard coverage");
		c->direct = (uint64_t)num_of(it, "direct", 0);
		cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(it,
		    "shares")) {
			uint8_t sh[16];

			if (!cJSON_IsString(x) || hexn(x->valuestring, sh, 16) != 0)
				return atr_fail(ATR_ERR_FORMAT, "bad share id");
			vfy_cov_add_share(c, sh);
		}
	}
	return ATR_OK;
}

static enum atr_err
load_objects(struct vfy_report *r, const cJSON *sd)
{
	const cJSON *it;

	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(sd, "objects")) {
		struct vfy_obj o;
		const cJSON *e[8];
		int i;

		if (!cJSON_IsArray(it) || cJSON_GetArraySize(it) != 8)
			return atr_fail(ATR_ERR_FORMAT, "bad object record");
		for (i = 0; i < 8; i++)
			e[i] = cJSON_GetArrayItem(it, i);
		memset(&o, 0, sizeof(o));
		o.store = (int)num_in(e[0], -1, 1e6, -1);
		o.kind = (uint8_t)num_in(e[5], 0, 255, 0);
		o.frames = (uint64_t)num_in(e[7], 0, 9.2e18, 0);
		if (!cJSON_IsString(e[1]) || !cJSON_IsString(e[2]) ||
		    !cJSON_IsString(e[3]) || hexn(e[2]->valuestring, o.oid, 16) ||
		    hexn(e[3]->valuestring, o.nonce, ATR_NONCE_PREFIX_BYTES))
			return atr_fail(ATR_ERR_FORMAT, "bad object record");
		if (cJSON_IsString(e[4]) && e[4]->valuestring[0]) {
			if (hexn(e[4]->valuestring, o.fp, 16) != 0)
				return atr_fail(ATR_ERR_FORMAT, "bad fingerprint");
			o.has_fp = 1;
		}
		if (cJSON_IsString(e[6]) && e[6]->valuestring[0] &&
		    hexn(e[6]->valuestring, o.share, 16) != 0)
			return atr_fail(ATR_ERR_FORMAT, "bad share id");
		o.rel = strdup(e[1]->valuestring);
		if (o.rel == NULL || vfy_objvec_push(&r->objs, &o) != 0) {
			free(o.rel);
			return ATR_ERR_NOMEM;
		}
	}
	return ATR_OK;
}

/* "versions": the vault attributes of the key versions in use (reports
 * written before they existed have none). */
static enum atr_err
load_versions(struct vfy_report *r, const cJSON *a)
{
	const cJSON *it, *ops, *op;
	struct vfy_version *v;
	unsigned bit;

	cJSON_ArrayForEach(it, a) {
		const char *kid = str_of(it, "kid"), *kty = str_of(it, "kty");

		if (kid == NULL)
			return atr_fail(ATR_ERR_FORMAT, "a version without kid");
		v = vfy_version_get(r, kid);
		if (v == NULL)
			return ATR_ERR_NOMEM;
		v->key = (int)num_of(it, "key_index", 0);
		v->resolved = bool_of(it, "resolved");
		v->available = bool_of(it, "available");
		v->enabled = bool_of(it, "enabled");
		v->bits = (unsigned)num_of(it, "bits", 0);
		snprintf(v->kty, sizeof(v->kty), "%s", kty ? kty : "");
		v->has_nbf = cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(
		    it, "nbf"));
		v->nbf = num_of(it, "nbf", 0);
		v->has_exp = cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(
		    it, "exp"));
		v->exp = num_of(it, "exp", 0);
		ops = cJSON_GetObjectItemCaseSensitive(it, "key_ops");
		v->key_ops_present = cJSON_IsArray(ops);
		cJSON_ArrayForEach(op, ops)
			if (cJSON_IsString(op) &&
			    (bit = atr_jwk_op_parse(op->valuestring)) != 0)
				v->key_ops |= bit;
	}
	return ATR_OK;
}

enum atr_err
vfy_report_load(const char *path, struct vfy_report **out)
{
	unsigned char *buf = NULL;
	size_t len = 0;
	cJSON *root = NULL;
	const cJSON *run, *sum, *sd;
	struct vfy_report *r = NULL;
	const char *schema;
	enum atr_err e;

	*out = NULL;
	e = atr_read_small_file(path, REPORT_MAX, 0, &buf, &len);
	if (e != ATR_OK)
		return e;
	root = cJSON_ParseWithLength((const char *)buf, len);
	free(buf);
	if (root == NULL)
		return atr_fail(ATR_ERR_FORMAT, "not JSON");
	schema = str_of(root, "schema");
	if (schema == NULL || strcmp(schema, VFY_SCHEMA) != 0) {
		cJSON_Delete(root);
		return atr_fail(ATR_ERR_FORMAT, "not an %s report", VFY_SCHEMA);
	}
	r = vfy_report_new(NULL);
	if (r == NULL) {
		cJSON_Delete(root);
		return ATR_ERR_NOMEM;
	}
	e = load_config(r, cJSON_GetObjectItemCaseSensitive(root, "config"));
	if (e == ATR_OK)
		e = load_checks(r, cJSON_GetObjectItemCaseSensitive(root,
		    "checks"));
	sd = cJSON_GetObjectItemCaseSensitive(root, "shard_data");
	if (e == ATR_OK)
		e = load_coverage(r, cJSON_GetObjectItemCaseSensitive(root,
		    "coverage"), sd);
	if (e == ATR_OK && sd != NULL) {
		e = load_objects(r, sd);
		r->keep_shard_data = 1;
	}
	if (e == ATR_OK)
		e = load_versions(r, cJSON_GetObjectItemCaseSensitive(root,
		    "versions"));
	run = cJSON_GetObjectItemCaseSensitive(root, "run");
	r->elapsed_ms = num_of(run, "elapsed_ms", 0);
	r->jobs = (unsigned)num_of(run, "jobs", 0);
	r->split_objects = (uint64_t)num_in(cJSON_GetObjectItemCaseSensitive(
	    run, "split_objects"), 0, 9.2e18, 0);
	r->split_rechecked = (uint64_t)num_in(
	    cJSON_GetObjectItemCaseSensitive(run, "split_rechecked"), 0, 9.2e18,
	    0);
	r->helped_batches = (uint64_t)num_in(cJSON_GetObjectItemCaseSensitive(
	    run, "helped_batches"), 0, 9.2e18, 0);
	sum = cJSON_GetObjectItemCaseSensitive(root, "summary");
	r->incomplete = bool_of(sum, "incomplete");
	snprintf(r->incomplete_why, sizeof(r->incomplete_why), "%s",
	    str_of(sum, "incomplete_reason") ? str_of(sum, "incomplete_reason") :
	    "");
	{
		/* started: the ISO time back to seconds.  The field widths
		 * keep every number far from INT_MAX, so sscanf cannot meet
		 * a value it cannot convert; what does not match is left. */
		const char *st = str_of(run, "started");
		struct tm tm;

		memset(&tm, 0, sizeof(tm));
		/* NOLINTNEXTLINE(cert-err34-c): widths bound it, see above */
		if (st != NULL && sscanf(st, "%4d-%2d-%2dT%2d:%2d:%2dZ",
		    &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
		    &tm.tm_min, &tm.tm_sec) == 6) {
			tm.tm_year -= 1900;
			tm.tm_mon -= 1;
			r->started = (int64_t)timegm(&tm);
		}
	}
	cJSON_Delete(root);
	if (e != ATR_OK) {
		vfy_report_free(r);
		return e;
	}
	*out = r;
	return ATR_OK;
}

static int
same_config(const struct vfy_report *a, const struct vfy_report *b,
    const char **what)
{
	size_t i;

	*what = NULL;
	if (a->nstores != b->nstores)
		*what = "stores";
	for (i = 0; !*what && i < a->nstores; i++)
		if (strcmp(a->stores[i].arg, b->stores[i].arg) != 0)
			*what = "stores";
	if (!*what && a->nkeys != b->nkeys)
		*what = "keys";
	for (i = 0; !*what && i < a->nkeys; i++)
		if (strcmp(a->keys[i].key_id, b->keys[i].key_id) != 0)
			*what = "keys";
	/* Byte for byte: both sides were built alike (vfy_policy_default,
	 * which memsets, then vfy_policy_parse of the report's full
	 * policy), so equal policies are equal bytes, padding and doubles
	 * included; a member-by-member list would go stale. */
	/* NOLINTNEXTLINE(bugprone-suspicious-memory-comparison) */
	if (!*what && memcmp(&a->policy, &b->policy, sizeof(a->policy)) != 0)
		*what = "policy";
	if (!*what && strcmp(a->manifest_sha, b->manifest_sha) != 0)
		*what = "manifest";
	if (!*what && strcmp(a->current_key_id, b->current_key_id) != 0)
		*what = "keys";
	return *what == NULL;
}

static int
dup_in(const struct vfy_flist *l, const struct vfy_finding *f)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (l->v[i].store == f->store && l->v[i].sev == f->sev &&
		    strcmp(l->v[i].code, f->code) == 0 &&
		    strcmp(l->v[i].subject, f->subject) == 0 &&
		    strcmp(l->v[i].message, f->message) == 0)
			return 1;
	return 0;
}

/* Every shard of one N-way split (N from the first), each once, all
 * run with the same stores, keys, policy and manifest. */
static enum atr_err
check_shards(struct vfy_report *const *sh, size_t n)
{
	unsigned N = sh[0]->shard_n, *seen;
	const struct vfy_report *a;
	enum atr_err e = ATR_OK;
	const char *what;
	size_t i, k;

	if (N < 2)
		return atr_fail(ATR_ERR_USAGE, "the first report is not a shard "
		    "report (run verify with --shard K/N)");
	seen = calloc(N + 1, sizeof(*seen));
	if (seen == NULL)
		return ATR_ERR_NOMEM;
	for (i = 0; e == ATR_OK && i < n; i++) {
		a = sh[i];
		if (a->shard_n != N || a->shard_k < 1 || a->shard_k > N ||
		    !a->keep_shard_data)
			e = atr_fail(ATR_ERR_USAGE, "report %zu is not a shard "
			    "of the same %u-way split", i + 1, N);
		else if (seen[a->shard_k]++)
			e = atr_fail(ATR_ERR_USAGE, "shard %u/%u given twice",
			    a->shard_k, N);
		else if (!same_config(sh[0], a, &what))
			e = atr_fail(ATR_ERR_USAGE, "shard %u/%u was run with "
			    "other %s than shard %u/%u", a->shard_k, N, what,
			    sh[0]->shard_k, N);
	}
	for (k = 1; e == ATR_OK && k <= N; k++)
		if (!seen[k])
			e = atr_fail(ATR_ERR_USAGE, "shard %zu/%u is missing: a "
			    "merge without it would not cover the store", k, N);
	free(seen);
	return e;
}

/* The configuration every shard shares, from a, into r (strings
 * copied). */
static enum atr_err
copy_config(struct vfy_report *r, const struct vfy_report *a)
{
	size_t i;

	r->stores = calloc(a->nstores ? a->nstores : 1, sizeof(*r->stores));
	r->keys = calloc(a->nkeys ? a->nkeys : 1, sizeof(*r->keys));
	if (r->stores == NULL || r->keys == NULL)
		return ATR_ERR_NOMEM;
	r->nstores = a->nstores;
	for (i = 0; i < a->nstores; i++) {
		r->stores[i].arg = strdup(a->stores[i].arg);
		r->stores[i].is_file = a->stores[i].is_file;
	}
	r->nkeys = a->nkeys;
	for (i = 0; i < a->nkeys; i++) {
		r->keys[i] = a->keys[i];
		r->keys[i].uri = strdup(a->keys[i].uri);
		r->keys[i].key_id = strdup(a->keys[i].key_id);
		r->keys[i].desc = strdup(a->keys[i].desc);
		r->keys[i].provider = strdup(a->keys[i].provider);
	}
	r->control = strdup(a->control);
	r->manifest = a->manifest ? strdup(a->manifest) : NULL;
	memcpy(r->manifest_sha, a->manifest_sha, sizeof(r->manifest_sha));
	memcpy(r->current_key_id, a->current_key_id, sizeof(r->current_key_id));
	r->revocation_drill = a->revocation_drill;
	r->allow_empty = a->allow_empty;
	return ATR_OK;
}

/* The run: earliest start, longest shard, most jobs, the first shard's
 * reason to be incomplete. */
static void
merge_run(struct vfy_report *r, const struct vfy_report *a)
{
	if (a->started < r->started)
		r->started = a->started;
	if (a->elapsed_ms > r->elapsed_ms)
		r->elapsed_ms = a->elapsed_ms;
	if (a->jobs > r->jobs)
		r->jobs = a->jobs;
	r->split_objects += a->split_objects;
	r->split_rechecked += a->split_rechecked;
	r->helped_batches += a->helped_batches;
	if (a->incomplete && !r->incomplete) {
		r->incomplete = 1;
		snprintf(r->incomplete_why, sizeof(r->incomplete_why),
		    "shard %u/%u: %.200s", a->shard_k, a->shard_n,
		    a->incomplete_why);
	}
}

/* a's findings that are not derived (vfy_finalize derives those again
 * over the union), with their counts, including those not kept. */
static void
merge_findings(struct vfy_report *r, const struct vfy_report *a)
{
	size_t k;
	int c, v;

	for (c = 0; c < VFY_NCHECKS; c++) {
		const struct vfy_checkres *from = &a->checks[c];
		uint64_t kept[3] = {0, 0, 0};

		for (k = 0; k < from->f.n; k++) {
			const struct vfy_finding *f = &from->f.v[k];
			struct vfy_finding x;

			if (vfy_code_derived(f->code))
				continue;
			kept[f->sev]++;
			/* Key and configuration findings are the same in
			 * every shard: once. */
			if (f->store < 0 && dup_in(&r->checks[c].f, f))
				continue;
			vfy_finding_set(&x, f->sev, f->store, f->subject,
			    f->offset, f->code, f->message);
			vfy_flist_add(&r->checks[c].f, &x);
		}
		for (v = 0; v < 3; v++)
			r->checks[c].f.count[v] += from->f.count[v] -
			    from->dcount[v] - kept[v];
	}
}

/* Counters: summed, or the largest for maxima and for those every
 * shard has alike; derived ones are left to vfy_finalize. */
static void
merge_stats(struct vfy_report *r, const struct vfy_report *a)
{
	int s;

	for (s = 0; s < VS__COUNT; s++) {
		if (vfy_stat_defs[s].derived)
			continue;
		switch (vfy_stat_defs[s].op) {
		case VFY_OP_MAX:
		case VFY_OP_SAME:
			if (a->stats[s] > r->stats[s])
				r->stats[s] = a->stats[s];
			break;
		default:
			r->stats[s] += a->stats[s];
		}
	}
}

/* Coverage, key versions and object records: the union (strings
 * copied; a version's attributes from the first shard that read them). */
static enum atr_err
merge_shard_data(struct vfy_report *r, const struct vfy_report *a)
{
	size_t k;

	for (k = 0; k < a->nversions; k++) {
		const struct vfy_version *s = &a->versions[k];
		struct vfy_version *d = vfy_version_get(r, s->kid);
		char *kid;

		if (d == NULL)
			return ATR_ERR_NOMEM;
		if (d->available)
			continue;
		kid = d->kid;
		*d = *s;
		d->kid = kid;
	}

	for (k = 0; k < a->cov.n; k++) {
		struct vfy_cov *d = vfy_covmap_get(&r->cov, a->cov.v[k].key_id);

		if (d == NULL)
			return ATR_ERR_NOMEM;
		vfy_cov_sum(d, &a->cov.v[k]);
	}
	for (k = 0; k < a->objs.n; k++) {
		struct vfy_obj o = a->objs.v[k];

		o.rel = strdup(o.rel);
		if (o.rel == NULL || vfy_objvec_push(&r->objs, &o) != 0) {
			free(o.rel);
			return ATR_ERR_NOMEM;
		}
	}
	return ATR_OK;
}

enum atr_err
vfy_merge(struct vfy_report *const *sh, size_t n, struct vfy_report **out)
{
	struct vfy_report *r;
	enum atr_err e;
	size_t i;

	*out = NULL;
	if (n == 0)
		return atr_fail(ATR_ERR_USAGE, "no report to merge");
	e = check_shards(sh, n);
	if (e != ATR_OK)
		return e;
	r = vfy_report_new(&sh[0]->policy);
	if (r == NULL)
		return ATR_ERR_NOMEM;
	e = copy_config(r, sh[0]);
	/* DEKs compare across shards only under one fingerprint key. */
	memcpy(r->fp_key_id, sh[0]->fp_key_id, sizeof(r->fp_key_id));
	for (i = 1; i < n; i++)
		if (strcmp(sh[i]->fp_key_id, sh[0]->fp_key_id) != 0)
			r->fp_key_id[0] = '\0';
	r->is_merged = 1;
	r->merged_from = (unsigned)n;
	r->started = sh[0]->started;
	for (i = 0; e == ATR_OK && i < n; i++) {
		merge_run(r, sh[i]);
		merge_findings(r, sh[i]);
		merge_stats(r, sh[i]);
		e = merge_shard_data(r, sh[i]);
	}
	if (e != ATR_OK) {
		vfy_report_free(r);
		return e;
	}
	vfy_finalize(r);
	*out = r;
	return ATR_OK;
}
