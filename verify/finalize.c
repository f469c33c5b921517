/*
 * finalize.c - what needs the whole store, derived once the checks ran
 * (and again by merge.c over the union of shard reports, so a merge
 * derives exactly what one run would): uniqueness of object ids, nonce
 * prefixes and DEKs from the object records; per-key policy, KEK wrap
 * counts and rotation findings from the coverage; skip reasons and each
 * check's status.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto.h"
#include "jwk.h"
#include "vfy_int.h"

void
vfy_drop_derived(struct vfy_report *r)
{
	int c, i, v;

	for (c = 0; c < VFY_NCHECKS; c++) {
		struct vfy_checkres *k = &r->checks[c];
		struct vfy_flist *l = &k->f, keep;
		size_t n;

		vfy_flist_init(&keep, l->cap);
		for (n = 0; n < l->n; n++) {
			struct vfy_finding *f = &l->v[n];

			if (vfy_code_derived(f->code)) {
				vfy_finding_free(f);
				continue;
			}
			vfy_flist_add(&keep, f);
		}
		/* Counts include findings beyond the cap: take the derived
		 * ones off by their own count. */
		for (v = 0; v < 3; v++)
			keep.count[v] = l->count[v] - k->dcount[v];
		memset(k->dcount, 0, sizeof(k->dcount));
		free(l->v);
		*l = keep;
	}
	for (i = 0; i < VS__COUNT; i++)
		if (vfy_stat_defs[i].derived)
			r->stats[i] = 0;
}

/* ---- uniqueness -------------------------------------------------------- */

/* The object record fields compared, one sort each. */
enum { F_OID = 0, F_NONCE = 1, F_DEK = 2 };

/* Sorting the object records by one field at a time (qsort has no
 * argument for them; vfy_finalize is not called from two threads). */
static const struct vfy_obj *sort_base;
static int sort_field;

static int
obj_path_cmp(const struct vfy_obj *a, const struct vfy_obj *b)
{
	if (a->store != b->store)
		return a->store < b->store ? -1 : 1;
	return vfy_path_cmp(a->rel, b->rel);
}

static int
cmp_by_field(const void *x, const void *y)
{
	const struct vfy_obj *a = &sort_base[*(const size_t *)x];
	const struct vfy_obj *b = &sort_base[*(const size_t *)y];
	int c = 0;

	switch (sort_field) {
	case F_OID:
		c = memcmp(a->oid, b->oid, sizeof(a->oid));
		break;
	case F_NONCE:
		c = memcmp(a->nonce, b->nonce, sizeof(a->nonce));
		break;
	default:
		if (a->has_fp != b->has_fp)
			c = a->has_fp < b->has_fp ? -1 : 1;
		else
			c = memcmp(a->fp, b->fp, sizeof(a->fp));
		break;
	}
	return c ? c : obj_path_cmp(a, b);
}

static int
same_field(const struct vfy_obj *a, const struct vfy_obj *b, int field)
{
	switch (field) {
	case F_OID:
		return memcmp(a->oid, b->oid, sizeof(a->oid)) == 0;
	case F_NONCE:
		return memcmp(a->nonce, b->nonce, sizeof(a->nonce)) == 0;
	default:
		return a->has_fp && b->has_fp &&
		    memcmp(a->fp, b->fp, sizeof(a->fp)) == 0;
	}
}

/* ix[0..n) = the records in order of field, then path. */
static void
sort_by(const struct vfy_obj *o, size_t *ix, size_t n, int field)
{
	size_t i;

	for (i = 0; i < n; i++)
		ix[i] = i;
	sort_base = o;
	sort_field = field;
	qsort(ix, n, sizeof(*ix), cmp_by_field);
}

/* End of the run of records equal to ix[i] in field. */
static size_t
group_end(const struct vfy_obj *o, const size_t *ix, size_t n, size_t i,
    int field)
{
	size_t j;

	for (j = i + 1; j < n && same_field(&o[ix[i]], &o[ix[j]], field); j++)
		;
	return j;
}

/* A group of records ix[i..j) with one object id: every one after the
 * first is a copy or a replay.  first is the first one's display path. */
static void
dup_ids(struct vfy_report *r, const struct vfy_obj *o, const size_t *ix,
    size_t i, size_t j, const char *first)
{
	char hex[65];
	size_t k;

	atr_hex(o[ix[i]].oid, 8, hex);
	for (k = i + 1; k < j; k++) {
		const struct vfy_obj *b = &o[ix[k]];

		r->stats[VS_U_DUP_IDS]++;
		vfy_report_add(r, VFY_ERROR, b->store, b->rel, -1,
		    "uniqueness.object-id",
		    "object id %s... is also the id of %s (a copied or "
		    "replayed object)", hex, first);
	}
}

/* A group with one nonce prefix: a reuse when an earlier record of the
 * group has the same DEK and object id, else a harmless collision. */
static void
dup_nonces(struct vfy_report *r, const struct vfy_obj *o, const size_t *ix,
    size_t i, size_t j, const char *first)
{
	char hex[65];
	size_t k, m;

	atr_hex(o[ix[i]].nonce, ATR_NONCE_PREFIX_BYTES, hex);
	for (k = i + 1; k < j; k++) {
		const struct vfy_obj *b = &o[ix[k]];
		int reuse = 0;

		/* The payload key is HKDF(DEK, object id): only the same
		 * DEK and object id repeat (key, nonce) pairs (SP 800-38D
		 * 8). */
		for (m = i; m < k && !reuse; m++) {
			const struct vfy_obj *c = &o[ix[m]];

			reuse = same_field(b, c, F_DEK) &&
			    same_field(b, c, F_OID);
		}
		if (reuse) {
			r->stats[VS_U_NONCE_REUSE]++;
			vfy_report_add(r, VFY_ERROR, b->store, b->rel, -1,
			    "uniqueness.nonce-reuse",
			    "nonce prefix %s and payload key are those of %s: "
			    "GCM nonces repeat under one key", hex, first);
		} else {
			r->stats[VS_U_NONCE_COLLISIONS]++;
			vfy_report_add(r, VFY_WARN, b->store, b->rel, -1,
			    "uniqueness.nonce-collision",
			    "nonce prefix %s is also used by %s under a "
			    "different key (harmless, but unexpected from a "
			    "56-bit random prefix)", hex, first);
		}
	}
}

/* A group with one DEK fingerprint: by design when every record is of
 * one cached share (within the policy's limit), else DEK reuse. */
static void
dup_deks(struct vfy_report *r, const struct vfy_obj *o, const size_t *ix,
    size_t i, size_t j, const char *first)
{
	const struct vfy_obj *a = &o[ix[i]];
	uint64_t lim = r->policy.max_objects_per_shared_dek;
	int same_share = 1;
	char hex[65];
	size_t k;

	if (!a->has_fp)
		return;
	for (k = i; k < j; k++) {
		const struct vfy_obj *b = &o[ix[k]];

		if (b->kind != ATR_KIND_SHARED ||
		    memcmp(b->share, a->share, 16) != 0)
			same_share = 0;
	}
	if (same_share) {
		/* A cached hierarchy shares its DEK by design; each object
		 * still has its own payload key (docs/FORMAT.md section 3). */
		atr_hex(a->share, 8, hex);
		if (lim != 0 && (uint64_t)(j - i) > lim)
			vfy_report_add(r, VFY_ERROR, a->store, a->rel, -1,
			    "uniqueness.shared-dek",
			    "cached DEK (share %s...) is used by %zu objects; "
			    "the policy allows %llu", hex, j - i,
			    (unsigned long long)lim);
		else
			vfy_report_add(r, r->policy.shared_dek, a->store,
			    a->rel, -1, "uniqueness.shared-dek",
			    "cached DEK (share %s...) is shared by %zu objects "
			    "(by design of the cached hierarchy)", hex, j - i);
		return;
	}
	for (k = i + 1; k < j; k++) {
		const struct vfy_obj *b = &o[ix[k]];

		r->stats[VS_U_DEK_REUSE]++;
		vfy_report_add(r, VFY_ERROR, b->store, b->rel, -1,
		    "uniqueness.dek-reuse",
		    "the DEK (by keyed fingerprint) is also the DEK of %s",
		    first);
	}
}

/* Distinct cached DEKs and the objects that use them. */
static void
count_shares(struct vfy_report *r, const struct vfy_obj *o, size_t *ix,
    size_t n)
{
	size_t i, j;

	sort_by(o, ix, n, F_DEK);
	for (i = 0; i < n; i = j) {
		const struct vfy_obj *a = &o[ix[i]];

		j = group_end(o, ix, n, i, F_DEK);
		if (a->has_fp && a->kind == ATR_KIND_SHARED) {
			r->stats[VS_U_SHARES]++;
			r->stats[VS_U_SHARED_OBJECTS] += (int64_t)(j - i);
		}
	}
}

static void
uniqueness(struct vfy_report *r)
{
	const struct vfy_obj *o = r->objs.v;
	size_t n = r->objs.n, *ix, i, j;
	char first[4096];
	int field;

	r->stats[VS_U_OBJECTS] = (int64_t)n;
	for (i = 0; i < n; i++)
		if ((int64_t)o[i].frames > r->stats[VS_U_MAX_FRAMES])
			r->stats[VS_U_MAX_FRAMES] = (int64_t)o[i].frames;
	if (n < 1)
		return;
	ix = malloc(n * sizeof(*ix));
	if (ix == NULL) {
		r->incomplete = 1;
		snprintf(r->incomplete_why, sizeof(r->incomplete_why),
		    "out of memory in the uniqueness check");
		return;
	}
	for (field = F_OID; field <= F_DEK; field++) {
		sort_by(o, ix, n, field);
		for (i = 0; i < n; i = j) {
			const struct vfy_obj *a = &o[ix[i]];

			j = group_end(o, ix, n, i, field);
			if (j - i < 2)
				continue;
			vfy_display_path(r, a->store, a->rel, first,
			    sizeof(first));
			if (field == F_OID)
				dup_ids(r, o, ix, i, j, first);
			else if (field == F_NONCE)
				dup_nonces(r, o, ix, i, j, first);
			else
				dup_deks(r, o, ix, i, j, first);
		}
	}
	count_shares(r, o, ix, n);
	free(ix);
}

/* ---- coverage: per key id ---------------------------------------------- */

static int
cmp_share(const void *a, const void *b)
{
	return memcmp(a, b, 16);
}

static int
cmp_cov(const void *a, const void *b)
{
	return strcmp(((const struct vfy_cov *)a)->key_id,
	    ((const struct vfy_cov *)b)->key_id);
}

/* The share ids as a sorted set: one wrap per distinct share. */
static void
dedup_shares(struct vfy_cov *c)
{
	size_t k, m;

	if (c->nshares < 2)
		return;
	qsort(c->shares, c->nshares, 16, cmp_share);
	for (k = m = 0; k < c->nshares; k++)
		if (m == 0 || memcmp(c->shares + 16 * (m - 1),
		    c->shares + 16 * k, 16) != 0) {
			memmove(c->shares + 16 * m, c->shares + 16 * k, 16);
			m++;
		}
	c->nshares = m;
}

static void
kek_wraps(struct vfy_report *r, const struct vfy_cov *c, uint64_t wraps)
{
	const struct vfy_policy *p = &r->policy;
	double warn = p->kek_warn_fraction * (double)p->kek_max_wraps;

	/* SP 800-38D 8.3 bounds a key to 2^32 invocations with random IVs;
	 * KW/KWP and OAEP have no IV, but the same bound is a prudent cap
	 * on what one KEK protects (Vault transit's barrier is
	 * 0.9 * 2^32). */
	if (p->kek_max_wraps == 0)
		return;
	if (wraps >= p->kek_max_wraps)
		vfy_report_add(r, VFY_ERROR, -1, c->key_id, -1,
		    "uniqueness.kek-wraps",
		    "%llu wraps under this KEK reach the limit of %llu",
		    (unsigned long long)wraps,
		    (unsigned long long)p->kek_max_wraps);
	else if (p->kek_warn_fraction > 0.0 && (double)wraps >= warn)
		vfy_report_add(r, VFY_WARN, -1, c->key_id, -1,
		    "uniqueness.kek-wraps",
		    "%llu wraps under this KEK exceed %.0f%% of the limit of "
		    "%llu", (unsigned long long)wraps,
		    p->kek_warn_fraction * 100.0,
		    (unsigned long long)p->kek_max_wraps);
}

/* Algorithm findings of one stanza key id: RSA size, OAEP with SHA-1,
 * unpadded KW, unknown provider or algorithm. */
static void
key_policy(struct vfy_report *r, const struct vfy_cov *c)
{
	const struct vfy_policy *p = &r->policy;
	const char *kid = c->key_id;

	if (c->algs & ((1U << ATR_WRAP_RSA_OAEP_256) |
	    (1U << ATR_WRAP_RSA_OAEP_SHA1))) {
		if (c->rsa_min < p->rsa_error_below)
			vfy_report_add(r, VFY_ERROR, -1, kid, -1,
			    "policy.rsa-size",
			    "%llu objects are wrapped with an RSA-%u key "
			    "(below %u bits is not allowed)",
			    (unsigned long long)c->objects, c->rsa_min,
			    p->rsa_error_below);
		else if (c->rsa_min < p->rsa_min_bits)
			vfy_report_add(r, VFY_WARN, -1, kid, -1,
			    "policy.rsa-size",
			    "%llu objects are wrapped with an RSA-%u key (%u "
			    "bits or more required for data kept past 2030, SP "
			    "800-57)", (unsigned long long)c->objects,
			    c->rsa_min, p->rsa_min_bits);
	}
	if (c->algs & (1U << ATR_WRAP_RSA_OAEP_SHA1))
		vfy_report_add(r, p->oaep_sha1, -1, kid, -1, "policy.oaep-sha1",
		    "stanzas use RSA-OAEP with SHA-1 (RFC 8017 allows it; the "
		    "policy asks for SHA-256)");
	if (c->algs & (1U << ATR_WRAP_AES_KW))
		vfy_report_add(r, p->aes_kw, -1, kid, -1, "policy.aes-kw",
		    "stanzas use unpadded AES-KW (RFC 3394)");
	if ((c->algs & ~((1U << 1) | (1U << 2) | (1U << 3) | (1U << 4))) !=
	    0 || c->provider < 1 || c->provider > 4)
		vfy_report_add(r, VFY_ERROR, -1, kid, -1, "policy.unknown-alg",
		    "stanzas name an unknown provider (%u) or wrap algorithm",
		    c->provider);
}

static void
coverage_derived(struct vfy_report *r)
{
	size_t i;

	/* Deterministic order for the report; the index is rebuilt. */
	if (r->cov.n > 1)
		qsort(r->cov.v, r->cov.n, sizeof(*r->cov.v), cmp_cov);
	vfy_covmap_reindex(&r->cov);
	for (i = 0; i < r->cov.n; i++) {
		struct vfy_cov *c = &r->cov.v[i];
		uint64_t wraps;

		dedup_shares(c);
		wraps = c->direct + c->nshares;
		r->stats[VS_PO_STANZA_KEYS]++;
		r->stats[VS_RO_KEY_IDS]++;
		if ((int64_t)wraps > r->stats[VS_U_MAX_WRAPS])
			r->stats[VS_U_MAX_WRAPS] = (int64_t)wraps;
		kek_wraps(r, c, wraps);
		key_policy(r, c);
		if (c->configured && !c->current && r->current_key_id[0])
			vfy_report_add(r, VFY_INFO, -1, c->key_id, -1,
			    "rotation.old-version",
			    "%llu objects have a stanza for this allowed key "
			    "that is not the current one",
			    (unsigned long long)c->objects);
	}
}

/* ---- key versions in use ----------------------------------------------- */

static int
cmp_version(const void *a, const void *b)
{
	return strcmp(((const struct vfy_version *)a)->kid,
	    ((const struct vfy_version *)b)->kid);
}

/* Objects with a stanza for kid (from the coverage). */
static uint64_t
objects_of(const struct vfy_report *r, const char *kid)
{
	size_t i;

	for (i = 0; i < r->cov.n; i++)
		if (strcmp(r->cov.v[i].key_id, kid) == 0)
			return r->cov.v[i].objects;
	return 0;
}

/* The dates of one version: past exp is an error (what it wraps can no
 * longer be opened), a near one a warning. */
static void
version_dates(struct vfy_report *r, const struct vfy_version *v, int64_t now)
{
	const struct vfy_policy *p = &r->policy;
	unsigned long long n = (unsigned long long)v->objects;

	if (v->has_exp && v->exp <= now)
		vfy_report_add(r, VFY_ERROR, -1, v->kid, -1,
		    "policy.version-expired", "this version expired: the %llu "
		    "objects wrapped under it can no longer be opened", n);
	else if (v->has_exp && v->exp - now <
	    (int64_t)p->vault_expiry_warn_days * 86400)
		vfy_report_add(r, VFY_WARN, -1, v->kid, -1,
		    "policy.version-expiring", "this version expires within %u "
		    "days (in %lld h): then its %llu objects can no longer be "
		    "opened", p->vault_expiry_warn_days,
		    (long long)((v->exp - now) / 3600), n);
	if (v->has_nbf && v->nbf > now)
		vfy_report_add(r, VFY_ERROR, -1, v->kid, -1,
		    "policy.version-not-yet-valid",
		    "this version's not-before date is in the future");
}

/* key_ops of a version beyond the policy's, listed by name. */
static void
extra_ops(struct vfy_report *r, const struct vfy_version *v, unsigned ops)
{
	char list[160] = "";
	unsigned k, bit;
	size_t l;

	for (k = 0; k < ATR_JWK_COUNT; k++) {
		bit = atr_jwk_op_at(k);
		l = strlen(list);
		if (ops & bit)
			snprintf(list + l, sizeof(list) - l, "%s%s",
			    l ? ", " : "", atr_jwk_op_name(bit));
	}
	vfy_report_add(r, VFY_ERROR, -1, v->kid, -1, "policy.version-key-ops",
	    "key_ops allow more than the policy: %s", list);
}

/* kty, size and key_ops of one version. */
static void
version_key(struct vfy_report *r, const struct vfy_version *v)
{
	const struct vfy_policy *p = &r->policy;
	unsigned need = ATR_JWK_WRAP | ATR_JWK_UNWRAP;
	int rsa = strncmp(v->kty, "RSA", 3) == 0;

	/* The policy's key types (vault.allowed_kty: azure-cmk allows
	 * RSA and RSA-HSM only), as for the configured key. */
	if (!vfy_policy_kty_ok(p, v->kty))
		vfy_report_add(r, VFY_ERROR, -1, v->kid, -1,
		    "policy.version-kty", "key type %s is not allowed by the "
		    "policy", v->kty[0] ? v->kty : "(none)");
	if (rsa && v->bits != 0 && v->bits < p->rsa_error_below)
		vfy_report_add(r, VFY_ERROR, -1, v->kid, -1,
		    "policy.version-rsa-size", "RSA-%u version (below %u bits "
		    "is not allowed)", v->bits, p->rsa_error_below);
	else if (rsa && v->bits != 0 && v->bits < p->rsa_min_bits)
		vfy_report_add(r, VFY_WARN, -1, v->kid, -1,
		    "policy.version-rsa-size", "RSA-%u version (%u bits or "
		    "more are required)", v->bits, p->rsa_min_bits);
	if (!v->key_ops_present)
		vfy_report_add(r, VFY_WARN, -1, v->kid, -1,
		    "policy.version-key-ops",
		    "this version lists no key_ops (every operation allowed)");
	else if ((v->key_ops & need) != need)
		vfy_report_add(r, VFY_ERROR, -1, v->kid, -1,
		    "policy.version-key-ops", "key_ops lack %s: the %llu "
		    "objects wrapped under this version cannot be %s",
		    (v->key_ops & ATR_JWK_UNWRAP) ? "wrapKey" : "unwrapKey",
		    (unsigned long long)v->objects,
		    (v->key_ops & ATR_JWK_UNWRAP) ? "rewrapped under it" :
		    "opened");
	else if ((v->key_ops & ~p->vault_allowed_ops) != 0)
		extra_ops(r, v, v->key_ops & ~p->vault_allowed_ops);
}

/* Objects that would stay readable if only the current version of key k
 * were disabled: those under its older, enabled versions. */
static void
readable_after_revoke(struct vfy_report *r, int k)
{
	uint64_t n = 0;
	size_t i, nv = 0;
	char list[256] = "";

	for (i = 0; i < r->nversions; i++) {
		const struct vfy_version *v = &r->versions[i];
		size_t l = strlen(list);

		if (v->key != k || v->resolved || !v->available ||
		    !v->enabled || v->objects == 0)
			continue;
		n += v->objects;
		nv++;
		if (l < 160)
			snprintf(list + l, sizeof(list) - l, "%s%s", l ? ", " :
			    "", strrchr(v->kid, '/') + 1);
	}
	if (n == 0)
		return;
	vfy_report_add(r, VFY_WARN, -1, r->keys[k].uri, -1,
	    "rotation.readable-after-revoke", "disabling only the current "
	    "version would leave %llu objects readable through %zu older "
	    "enabled version%s (%s): rewrap them to the current version "
	    "(atrest rewrap), then disable the old versions",
	    (unsigned long long)n, nv, nv == 1 ? "" : "s", list);
}

static void
versions_derived(struct vfy_report *r)
{
	int64_t now = r->started ? r->started : (int64_t)time(NULL);
	/* The caller's own drill disabled the key: not a finding. */
	int caller_drill = r->stats[VS_D_ATTEMPTED] == 0 &&
	    r->stats[VS_N_DRILL] > 0;
	size_t i;

	if (r->nversions > 1)
		qsort(r->versions, r->nversions, sizeof(*r->versions),
		    cmp_version);
	for (i = 0; i < r->nversions; i++) {
		struct vfy_version *v = &r->versions[i];

		v->objects = objects_of(r, v->kid);
		/* The resolved version is the configured key: config.c
		 * checked it already (policy.vault-*). */
		if (v->resolved)
			continue;
		if (!v->available) {
			vfy_report_add(r, VFY_WARN, -1, v->kid, -1,
			    "policy.version-unavailable", "the attributes of "
			    "this version could not be read");
			continue;
		}
		if (!v->enabled && !caller_drill)
			vfy_report_add(r, VFY_ERROR, -1, v->kid, -1,
			    "policy.version-disabled", "this version is "
			    "disabled: the %llu objects wrapped under it "
			    "cannot be opened",
			    (unsigned long long)v->objects);
		version_dates(r, v, now);
		version_key(r, v);
	}
	for (i = 0; i < r->nkeys; i++)
		readable_after_revoke(r, (int)i);
}

/* Kept findings naming each version (its kid, or for the resolved one
 * the configured key's URI). */
static void
versions_count(struct vfy_report *r)
{
	size_t i, n;
	int c;

	for (i = 0; i < r->nversions; i++) {
		struct vfy_version *v = &r->versions[i];
		const char *uri = v->resolved && (size_t)v->key < r->nkeys ?
		    r->keys[v->key].uri : NULL;

		v->findings = 0;
		for (c = 0; c < VFY_NCHECKS; c++)
			for (n = 0; n < r->checks[c].f.n; n++) {
				const char *s = r->checks[c].f.v[n].subject;

				if (r->checks[c].f.v[n].store >= 0 || s == NULL)
					continue;
				if (strcmp(s, v->kid) == 0 ||
				    (uri != NULL && strcmp(s, uri) == 0))
					v->findings++;
			}
	}
}

/* A run that proved nothing says so (docs/VERIFY.md "Exit status"). */
static void
nothing_verified(struct vfy_report *r)
{
	const char *why = vfy_nothing_verified(r);

	if (why[0] != '\0')
		vfy_report_add(r, VFY_WARN, -1, "", -1,
		    "envelope.nothing-verified", "nothing verified: %s%s", why,
		    r->allow_empty ? " (allowed by --allow-empty)" :
		    " (exit 2; --allow-empty accepts it)");
}

/* ---- statuses ---------------------------------------------------------- */

/* A check that had nothing to examine says so rather than passing. */
static void
skip_reasons(struct vfy_report *r)
{
	static const int dep[] = {VFY_RECIPIENTS, VFY_DECRYPT, VFY_NEGATIVE,
	    VFY_TAMPER, VFY_UNIQUENESS, VFY_ROTATION};
	size_t i;

	if (r->stats[VS_ENVELOPES] == 0) {
		for (i = 0; i < sizeof(dep) / sizeof(dep[0]); i++)
			snprintf(r->checks[dep[i]].reason,
			    sizeof(r->checks[dep[i]].reason),
			    "no envelope in the store");
		return;
	}
	if (r->stats[VS_D_ATTEMPTED] == 0)
		snprintf(r->checks[VFY_DECRYPT].reason,
		    sizeof(r->checks[VFY_DECRYPT].reason),
		    "no object was decrypted (the key was disabled for the "
		    "revocation drill)");
	if (r->stats[VS_T_OBJECTS] == 0)
		snprintf(r->checks[VFY_TAMPER].reason,
		    sizeof(r->checks[VFY_TAMPER].reason),
		    "no object was opened, so none could be tampered with");
	if (r->stats[VS_N_CONTROL] + r->stats[VS_N_IMPOSTOR] +
	    r->stats[VS_N_DRILL] == 0)
		snprintf(r->checks[VFY_NEGATIVE].reason,
		    sizeof(r->checks[VFY_NEGATIVE].reason),
		    "no control key attempt was made");
}

void
vfy_finalize(struct vfy_report *r)
{
	uint64_t before[VFY_NCHECKS][3];
	int c, v;

	vfy_drop_derived(r);
	for (c = 0; c < VFY_NCHECKS; c++)
		memcpy(before[c], r->checks[c].f.count, sizeof(before[c]));
	nothing_verified(r);
	coverage_derived(r);
	versions_derived(r);
	uniqueness(r);
	if (r->is_merged && r->fp_key_id[0] == '\0' && r->merged_from > 1)
		vfy_report_add(r, VFY_WARN, -1, "", -1,
		    "uniqueness.dek-unchecked",
		    "the shards used different DEK fingerprint keys: DEK reuse "
		    "across shards was not checked (give every shard the same "
		    "--fingerprint-key)");
	for (c = 0; c < VFY_NCHECKS; c++) {
		struct vfy_checkres *k = &r->checks[c];

		for (v = 0; v < 3; v++)
			k->dcount[v] = k->f.count[v] - before[c][v];
		vfy_flist_sort(&k->f);
		k->reason[0] = '\0';
	}
	versions_count(r);
	skip_reasons(r);
	for (c = 0; c < VFY_NCHECKS; c++) {
		struct vfy_checkres *k = &r->checks[c];

		if (k->f.count[VFY_ERROR])
			k->status = VFY_FAILED;
		else if (k->f.count[VFY_WARN])
			k->status = VFY_WARNED;
		else if (k->reason[0])
			k->status = VFY_SKIPPED;
		else
			k->status = VFY_PASS;
	}
}
