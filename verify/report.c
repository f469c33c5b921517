/*
 * report.c - the report model: checks, counters, bounded finding lists,
 * coverage per key id, object records; and vfy_finalize(), which derives
 * what needs the whole store (uniqueness, per-key policy, rotation
 * versions, statuses) so that a merge of shard reports derives exactly
 * what a single run would.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "vfy_int.h"

/* ---- findings ---------------------------------------------------------- */

int
vfy_finding_cmp(const struct vfy_finding *a, const struct vfy_finding *b)
{
	int c;

	if (a->sev != b->sev)
		return a->sev > b->sev ? -1 : 1;
	if (a->store != b->store)
		return a->store < b->store ? -1 : 1;
	c = vfy_path_cmp(a->subject ? a->subject : "",
	    b->subject ? b->subject : "");
	if (c)
		return c;
	if (a->offset != b->offset)
		return a->offset < b->offset ? -1 : 1;
	c = strcmp(a->code, b->code);
	if (c)
		return c;
	return strcmp(a->message ? a->message : "",
	    b->message ? b->message : "");
}

void
vfy_flist_init(struct vfy_flist *l, size_t cap)
{
	memset(l, 0, sizeof(*l));
	l->cap = cap;
}

static void
finding_free(struct vfy_finding *f)
{
	free(f->subject);
	free(f->message);
	f->subject = f->message = NULL;
}

void
vfy_flist_free(struct vfy_flist *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		finding_free(&l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = l->alloc = 0;
}

static void
sift_up(struct vfy_finding *v, size_t i)
{
	while (i > 0) {
		size_t p = (i - 1) / 2;
		struct vfy_finding t;

		if (vfy_finding_cmp(&v[p], &v[i]) >= 0)
			break;
		t = v[p];
		v[p] = v[i];
		v[i] = t;
		i = p;
	}
}

static void
sift_down(struct vfy_finding *v, size_t n, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		struct vfy_finding t;

		if (l < n && vfy_finding_cmp(&v[l], &v[m]) > 0)
			m = l;
		if (r < n && vfy_finding_cmp(&v[r], &v[m]) > 0)
			m = r;
		if (m == i)
			break;
		t = v[m];
		v[m] = v[i];
		v[i] = t;
		i = m;
	}
}

void
vfy_flist_add(struct vfy_flist *l, struct vfy_finding *f)
{
	if (f->sev >= 0 && f->sev <= 2)
		l->count[f->sev]++;
	if (l->cap == 0) {
		finding_free(f);
		return;
	}
	if (l->n < l->cap) {
		if (l->n == l->alloc) {
			size_t na = l->alloc ? l->alloc * 2 : 16;
			struct vfy_finding *nv;

			if (na > l->cap)
				na = l->cap;
			nv = realloc(l->v, na * sizeof(*nv));
			if (nv == NULL) {
				finding_free(f);
				return;
			}
			l->v = nv;
			l->alloc = na;
		}
		l->v[l->n] = *f;
		sift_up(l->v, l->n);
		l->n++;
		return;
	}
	/* Full: keep f only if it comes before the current last one. */
	if (vfy_finding_cmp(f, &l->v[0]) >= 0) {
		finding_free(f);
		return;
	}
	finding_free(&l->v[0]);
	l->v[0] = *f;
	sift_down(l->v, l->n, 0);
}

void
vfy_flist_absorb(struct vfy_flist *dst, struct vfy_flist *src)
{
	size_t i;
	int s;

	for (i = 0; i < src->n; i++) {
		struct vfy_finding f = src->v[i];

		/* counted below, not again by add */
		if (f.sev >= 0 && f.sev <= 2)
			dst->count[f.sev]--;
		vfy_flist_add(dst, &f);
	}
	for (s = 0; s < 3; s++)
		dst->count[s] += src->count[s];
	free(src->v);
	src->v = NULL;
	src->n = src->alloc = 0;
	memset(src->count, 0, sizeof(src->count));
}

static int
cmp_findings(const void *a, const void *b)
{
	return vfy_finding_cmp(a, b);
}

void
vfy_flist_sort(struct vfy_flist *l)
{
	if (l->n > 1)
		qsort(l->v, l->n, sizeof(*l->v), cmp_findings);
}

void
vfy_finding_set(struct vfy_finding *f, int sev, int store,
    const char *subject, int64_t offset, const char *code, const char *msg)
{
	memset(f, 0, sizeof(*f));
	f->check = vfy_code_check(code);
	f->sev = sev;
	f->store = store;
	f->offset = offset;
	snprintf(f->code, sizeof(f->code), "%s", code);
	f->subject = vfy_strdup(subject ? subject : "");
	f->message = vfy_strdup(msg ? msg : "");
}

void
vfy_report_add(struct vfy_report *r, int sev, int store, const char *subject,
    int64_t offset, const char *code, const char *fmt, ...)
{
	struct vfy_finding f;
	char msg[1024];
	va_list ap;
	int c;

	if (sev < 0)
		return;   /* policy says "allow" */
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	vfy_finding_set(&f, sev, store, subject, offset, code, msg);
	c = f.check;
	if (c < 0 || c >= VFY_NCHECKS) {
		free(f.subject);
		free(f.message);
		return;
	}
	vfy_flist_add(&r->checks[c].f, &f);
}

/* ---- coverage ---------------------------------------------------------- */

/* Hash of a key id for the coverage index (only where it is looked up:
 * the entries keep their order). */
static uint64_t
str_hash(const char *s)
{
	return vfy_path_hash("coverage", s);
}

static int
covmap_rehash(struct vfy_covmap *m, size_t ncap)
{
	uint32_t *ni = calloc(ncap, sizeof(*ni));
	size_t i;

	if (ni == NULL)
		return -1;
	for (i = 0; i < m->n; i++) {
		size_t j = str_hash(m->v[i].key_id) & (ncap - 1);

		while (ni[j])
			j = (j + 1) & (ncap - 1);
		ni[j] = (uint32_t)i + 1;
	}
	free(m->idx);
	m->idx = ni;
	m->idx_cap = ncap;
	return 0;
}

struct vfy_cov *
vfy_covmap_get(struct vfy_covmap *m, const char *key_id)
{
	size_t j;
	struct vfy_cov *c;

	if (m->idx_cap == 0 && covmap_rehash(m, 64) != 0)
		return NULL;
	j = str_hash(key_id) & (m->idx_cap - 1);
	while (m->idx[j]) {
		c = &m->v[m->idx[j] - 1];
		if (strcmp(c->key_id, key_id) == 0)
			return c;
		j = (j + 1) & (m->idx_cap - 1);
	}
	if (m->n == m->cap) {
		size_t nc = m->cap ? m->cap * 2 : 16;
		struct vfy_cov *nv = realloc(m->v, nc * sizeof(*nv));

		if (nv == NULL)
			return NULL;
		m->v = nv;
		m->cap = nc;
	}
	c = &m->v[m->n];
	memset(c, 0, sizeof(*c));
	c->key_id = vfy_strdup(key_id);
	if (c->key_id == NULL)
		return NULL;
	c->rsa_min = UINT32_MAX;
	m->idx[j] = (uint32_t)m->n + 1;
	m->n++;
	if (m->n * 2 > m->idx_cap && covmap_rehash(m, m->idx_cap * 2) != 0)
		return NULL;
	return &m->v[m->n - 1];
}

void
vfy_cov_add_share(struct vfy_cov *c, const uint8_t share[16])
{
	size_t i, from = c->nshares > 8 ? c->nshares - 8 : 0;

	/* Objects of one share are usually written together: a look at the
	 * last few keeps the list short; vfy_finalize() dedups the rest. */
	for (i = from; i < c->nshares; i++)
		if (memcmp(c->shares + 16 * i, share, 16) == 0)
			return;
	if (c->nshares == c->capshares) {
		size_t nc = c->capshares ? c->capshares * 2 : 8;
		uint8_t *ns = realloc(c->shares, nc * 16);

		if (ns == NULL)
			return;
		c->shares = ns;
		c->capshares = nc;
	}
	memcpy(c->shares + 16 * c->nshares, share, 16);
	c->nshares++;
}

void
vfy_covmap_free(struct vfy_covmap *m)
{
	size_t i;

	for (i = 0; i < m->n; i++) {
		free(m->v[i].key_id);
		free(m->v[i].shares);
	}
	free(m->v);
	free(m->idx);
	memset(m, 0, sizeof(*m));
}

void
vfy_covmap_absorb(struct vfy_covmap *dst, struct vfy_covmap *src)
{
	size_t i, k;

	for (i = 0; i < src->n; i++) {
		struct vfy_cov *s = &src->v[i], *d = vfy_covmap_get(dst, s->key_id);

		if (d == NULL)
			continue;
		d->provider = s->provider;
		d->algs |= s->algs;
		d->kinds |= s->kinds;
		if (s->rsa_min < d->rsa_min)
			d->rsa_min = s->rsa_min;
		if (s->rsa_max > d->rsa_max)
			d->rsa_max = s->rsa_max;
		d->objects += s->objects;
		d->opened += s->opened;
		d->direct += s->direct;
		d->configured |= s->configured;
		d->primary |= s->primary;
		d->current |= s->current;
		for (k = 0; k < s->nshares; k++)
			vfy_cov_add_share(d, s->shares + 16 * k);
	}
	vfy_covmap_free(src);
}

/* ---- object records ---------------------------------------------------- */

int
vfy_objvec_push(struct vfy_objvec *o, const struct vfy_obj *x)
{
	if (o->n == o->cap) {
		size_t nc = o->cap ? o->cap * 2 : 256;
		struct vfy_obj *nv = realloc(o->v, nc * sizeof(*nv));

		if (nv == NULL)
			return -1;
		o->v = nv;
		o->cap = nc;
	}
	o->v[o->n++] = *x;
	return 0;
}

void
vfy_objvec_free(struct vfy_objvec *o)
{
	size_t i;

	for (i = 0; i < o->n; i++)
		free(o->v[i].rel);
	/* fingerprints are keyed hashes of DEKs: wiped */
	if (o->v != NULL)
		atr_memzero(o->v, o->cap * sizeof(*o->v));
	free(o->v);
	memset(o, 0, sizeof(*o));
}

/* ---- the report -------------------------------------------------------- */

struct vfy_report *
vfy_report_new(const struct vfy_policy *p)
{
	struct vfy_report *r = calloc(1, sizeof(*r));
	int i;

	if (r == NULL)
		return NULL;
	if (p != NULL)
		r->policy = *p;
	else
		vfy_policy_default(&r->policy);
	for (i = 0; i < VFY_NCHECKS; i++)
		vfy_flist_init(&r->checks[i].f, r->policy.max_findings);
	return r;
}

void
vfy_report_free(struct vfy_report *r)
{
	size_t i;

	if (r == NULL)
		return;
	for (i = 0; i < r->nstores; i++)
		free(r->stores[i].arg);
	free(r->stores);
	for (i = 0; i < r->nkeys; i++) {
		free(r->keys[i].uri);
		free(r->keys[i].key_id);
		free(r->keys[i].desc);
		free(r->keys[i].provider);
	}
	free(r->keys);
	free(r->control);
	free(r->manifest);
	for (i = 0; i < VFY_NCHECKS; i++)
		vfy_flist_free(&r->checks[i].f);
	vfy_covmap_free(&r->cov);
	vfy_objvec_free(&r->objs);
	free(r);
}

void
vfy_display_path(const struct vfy_report *r, int store, const char *rel,
    char *out, size_t cap)
{
	const char *arg;
	size_t al;

	if (store < 0 || (size_t)store >= r->nstores) {
		snprintf(out, cap, "%s", rel);
		return;
	}
	arg = r->stores[store].arg;
	if (r->stores[store].is_file || *rel == '\0') {
		snprintf(out, cap, "%s", arg);
		return;
	}
	al = strlen(arg);
	if (al > 0 && arg[al - 1] == '/')
		snprintf(out, cap, "%s%s", arg, rel);
	else
		snprintf(out, cap, "%s/%s", arg, rel);
}

int
vfy_report_status(const struct vfy_report *r, int check)
{
	return r->checks[check].status;
}

uint64_t
vfy_report_count(const struct vfy_report *r, int check, int sev)
{
	return r->checks[check].f.count[sev];
}

size_t
vfy_report_count_code(const struct vfy_report *r, const char *code)
{
	int c = vfy_code_check(code);
	size_t i, n = 0;

	if (c < 0)
		return 0;
	for (i = 0; i < r->checks[c].f.n; i++)
		if (strcmp(r->checks[c].f.v[i].code, code) == 0)
			n++;
	return n;
}

int
vfy_report_has(const struct vfy_report *r, const char *code)
{
	return vfy_report_count_code(r, code) > 0;
}

int64_t
vfy_report_stat(const struct vfy_report *r, const char *name)
{
	const char *dot = strchr(name, '.');
	int c, i;
	char head[32];
	size_t n;

	if (dot == NULL || (n = (size_t)(dot - name)) >= sizeof(head))
		return -1;
	memcpy(head, name, n);
	head[n] = '\0';
	c = vfy_check_from_name(head);
	for (i = 0; i < VS__COUNT; i++)
		if (vfy_stat_defs[i].check == c &&
		    strcmp(vfy_stat_defs[i].name, dot + 1) == 0)
			return r->stats[i];
	return -1;
}

int
vfy_report_exit(const struct vfy_report *r)
{
	int c;

	if (r->incomplete)
		return 2;
	for (c = 0; c < VFY_NCHECKS; c++)
		if (r->checks[c].f.count[VFY_ERROR] > 0)
			return 1;
	return 0;
}

/* ---- finalize ---------------------------------------------------------- */

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
				finding_free(f);
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

static void
hex16(const uint8_t *p, size_t n, char *out)
{
	atr_hex(p, n, out);
}

/* Sorting the object records by one field at a time. */
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
	case 0:
		c = memcmp(a->oid, b->oid, sizeof(a->oid));
		break;
	case 1:
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
	case 0:
		return memcmp(a->oid, b->oid, sizeof(a->oid)) == 0;
	case 1:
		return memcmp(a->nonce, b->nonce, sizeof(a->nonce)) == 0;
	default:
		return a->has_fp && b->has_fp &&
		    memcmp(a->fp, b->fp, sizeof(a->fp)) == 0;
	}
}

static void
uniqueness(struct vfy_report *r)
{
	const struct vfy_obj *o = r->objs.v;
	size_t n = r->objs.n, *ix, i, j, k;
	char first[4096], hex[65];
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
	sort_base = o;
	for (field = 0; field < 3; field++) {
		for (i = 0; i < n; i++)
			ix[i] = i;
		sort_field = field;
		qsort(ix, n, sizeof(*ix), cmp_by_field);
		for (i = 0; i < n; i = j) {
			const struct vfy_obj *a = &o[ix[i]];
			int same_share = 1;

			for (j = i + 1; j < n && same_field(a, &o[ix[j]], field);
			    j++)
				;
			if (j - i < 2)
				continue;
			vfy_display_path(r, a->store, a->rel, first,
			    sizeof(first));
			if (field == 0) {
				hex16(a->oid, 8, hex);
				for (k = i + 1; k < j; k++) {
					const struct vfy_obj *b = &o[ix[k]];

					r->stats[VS_U_DUP_IDS]++;
					vfy_report_add(r, VFY_ERROR, b->store,
					    b->rel, -1, "uniqueness.object-id",
					    "object id %s... is also the id of %s "
					    "(a copied or replayed object)", hex,
					    first);
				}
			} else if (field == 1) {
				hex16(a->nonce, ATR_NONCE_PREFIX_BYTES, hex);
				for (k = i + 1; k < j; k++) {
					const struct vfy_obj *b = &o[ix[k]];
					size_t m;
					int reuse = 0;

					/* The payload key is HKDF(DEK, object id):
					 * only the same DEK and object id repeat
					 * (key, nonce) pairs (SP 800-38D 8). */
					for (m = i; m < k && !reuse; m++) {
						const struct vfy_obj *c = &o[ix[m]];

						reuse = same_field(b, c, 2) &&
						    same_field(b, c, 0);
					}
					if (reuse) {
						r->stats[VS_U_NONCE_REUSE]++;
						vfy_report_add(r, VFY_ERROR,
						    b->store, b->rel, -1,
						    "uniqueness.nonce-reuse",
						    "nonce prefix %s and payload key "
						    "are those of %s: GCM nonces repeat "
						    "under one key", hex, first);
					} else {
						r->stats[VS_U_NONCE_COLLISIONS]++;
						vfy_report_add(r, VFY_WARN, b->store,
						    b->rel, -1,
						    "uniqueness.nonce-collision",
						    "nonce prefix %s is also used by %s "
						    "under a different key (harmless, "
						    "but unexpected from a 56-bit "
						    "random prefix)", hex, first);
					}
				}
			} else {
				if (!a->has_fp)
					continue;
				for (k = i; k < j; k++) {
					const struct vfy_obj *b = &o[ix[k]];

					if (b->kind != ATR_KIND_SHARED ||
					    memcmp(b->share, a->share, 16) != 0)
						same_share = 0;
				}
				if (same_share) {
					/* A cached hierarchy shares its DEK by
					 * design; each object still has its own
					 * payload key (FORMAT.md 3). */
					uint64_t lim =
					    r->policy.max_objects_per_shared_dek;

					hex16(a->share, 8, hex);
					if (lim != 0 && (uint64_t)(j - i) > lim)
						vfy_report_add(r, VFY_ERROR, a->store,
						    a->rel, -1,
						    "uniqueness.shared-dek",
						    "cached DEK (share %s...) is used by "
						    "%zu objects; the policy allows %llu",
						    hex, j - i,
						    (unsigned long long)lim);
					else
						vfy_report_add(r,
						    r->policy.shared_dek, a->store,
						    a->rel, -1,
						    "uniqueness.shared-dek",
						    "cached DEK (share %s...) is shared "
						    "by %zu objects (by design of the "
						    "cached hierarchy)", hex, j - i);
					continue;
				}
				for (k = i + 1; k < j; k++) {
					const struct vfy_obj *b = &o[ix[k]];

					r->stats[VS_U_DEK_REUSE]++;
					vfy_report_add(r, VFY_ERROR, b->store,
					    b->rel, -1, "uniqueness.dek-reuse",
					    "the DEK (by keyed fingerprint) is also "
					    "the DEK of %s", first);
				}
			}
		}
	}
	/* Shares: distinct cached DEKs and their objects. */
	for (i = 0; i < n; i++)
		ix[i] = i;
	sort_field = 2;
	qsort(ix, n, sizeof(*ix), cmp_by_field);
	for (i = 0; i < n; i = j) {
		const struct vfy_obj *a = &o[ix[i]];

		for (j = i + 1; j < n && same_field(a, &o[ix[j]], 2); j++)
			;
		if (a->has_fp && a->kind == ATR_KIND_SHARED) {
			r->stats[VS_U_SHARES]++;
			r->stats[VS_U_SHARED_OBJECTS] += (int64_t)(j - i);
		}
	}
	free(ix);
}

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

static void
coverage_derived(struct vfy_report *r)
{
	const struct vfy_policy *p = &r->policy;
	size_t i, k, m;

	/* Deterministic order for the report; the index is rebuilt. */
	if (r->cov.n > 1)
		qsort(r->cov.v, r->cov.n, sizeof(*r->cov.v), cmp_cov);
	if (r->cov.idx_cap) {
		memset(r->cov.idx, 0, r->cov.idx_cap * sizeof(*r->cov.idx));
		for (i = 0; i < r->cov.n; i++) {
			size_t j = str_hash(r->cov.v[i].key_id) &
			    (r->cov.idx_cap - 1);

			while (r->cov.idx[j])
				j = (j + 1) & (r->cov.idx_cap - 1);
			r->cov.idx[j] = (uint32_t)i + 1;
		}
	}
	for (i = 0; i < r->cov.n; i++) {
		struct vfy_cov *c = &r->cov.v[i];
		uint64_t wraps;
		const char *kid = c->key_id;

		if (c->nshares > 1) {
			qsort(c->shares, c->nshares, 16, cmp_share);
			for (k = m = 0; k < c->nshares; k++)
				if (m == 0 || memcmp(c->shares + 16 * (m - 1),
				    c->shares + 16 * k, 16) != 0) {
					memmove(c->shares + 16 * m,
					    c->shares + 16 * k, 16);
					m++;
				}
			c->nshares = m;
		}
		wraps = c->direct + c->nshares;
		r->stats[VS_PO_STANZA_KEYS]++;
		r->stats[VS_RO_KEY_IDS]++;
		if ((int64_t)wraps > r->stats[VS_U_MAX_WRAPS])
			r->stats[VS_U_MAX_WRAPS] = (int64_t)wraps;
		/* SP 800-38D 8.3 bounds a key to 2^32 invocations with random
		 * IVs; KW/KWP and OAEP have no IV, but the same bound is a
		 * prudent cap on what one KEK protects (Vault transit's
		 * barrier is 0.9 * 2^32). */
		if (p->kek_max_wraps != 0) {
			double warn = p->kek_warn_fraction *
			    (double)p->kek_max_wraps;

			if (wraps >= p->kek_max_wraps)
				vfy_report_add(r, VFY_ERROR, -1, kid, -1,
				    "uniqueness.kek-wraps",
				    "%llu wraps under this KEK reach the limit "
				    "of %llu", (unsigned long long)wraps,
				    (unsigned long long)p->kek_max_wraps);
			else if (p->kek_warn_fraction > 0.0 &&
			    (double)wraps >= warn)
				vfy_report_add(r, VFY_WARN, -1, kid, -1,
				    "uniqueness.kek-wraps",
				    "%llu wraps under this KEK exceed %.0f%% of "
				    "the limit of %llu",
				    (unsigned long long)wraps,
				    p->kek_warn_fraction * 100.0,
				    (unsigned long long)p->kek_max_wraps);
		}
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
				    "%llu objects are wrapped with an RSA-%u key "
				    "(%u bits or more required for data kept "
				    "past 2030, SP 800-57)",
				    (unsigned long long)c->objects, c->rsa_min,
				    p->rsa_min_bits);
		}
		if (c->algs & (1U << ATR_WRAP_RSA_OAEP_SHA1))
			vfy_report_add(r, p->oaep_sha1, -1, kid, -1,
			    "policy.oaep-sha1",
			    "stanzas use RSA-OAEP with SHA-1 (RFC 8017 allows "
			    "it; the policy asks for SHA-256)");
		if (c->algs & (1U << ATR_WRAP_AES_KW))
			vfy_report_add(r, p->aes_kw, -1, kid, -1,
			    "policy.aes-kw",
			    "stanzas use unpadded AES-KW (RFC 3394)");
		if ((c->algs & ~((1U << 1) | (1U << 2) | (1U << 3) |
		    (1U << 4))) != 0 || c->provider < 1 || c->provider > 4)
			vfy_report_add(r, VFY_ERROR, -1, kid, -1,
			    "policy.unknown-alg",
			    "stanzas name an unknown provider (%u) or wrap "
			    "algorithm", c->provider);
		if (c->configured && !c->current && r->current_key_id[0])
			vfy_report_add(r, VFY_INFO, -1, kid, -1,
			    "rotation.old-version",
			    "%llu objects have a stanza for this allowed key "
			    "that is not the current one",
			    (unsigned long long)c->objects);
	}
}

void
vfy_finalize(struct vfy_report *r)
{
	int c;

	uint64_t before[VFY_NCHECKS][3];

	vfy_drop_derived(r);
	for (c = 0; c < VFY_NCHECKS; c++)
		memcpy(before[c], r->checks[c].f.count, sizeof(before[c]));
	coverage_derived(r);
	uniqueness(r);
	if (r->is_merged && r->fp_key_id[0] == '\0' && r->merged_from > 1)
		vfy_report_add(r, VFY_WARN, -1, "", -1,
		    "uniqueness.dek-unchecked",
		    "the shards used different DEK fingerprint keys: DEK reuse "
		    "across shards was not checked (give every shard the same "
		    "--fingerprint-key)");
	for (c = 0; c < VFY_NCHECKS; c++) {
		int v;

		for (v = 0; v < 3; v++)
			r->checks[c].dcount[v] = r->checks[c].f.count[v] -
			    before[c][v];
	}
	for (c = 0; c < VFY_NCHECKS; c++) {
		struct vfy_checkres *k = &r->checks[c];

		vfy_flist_sort(&k->f);
		k->reason[0] = '\0';
	}
	/* Skip reasons: a check that had nothing to examine says so rather
	 * than passing. */
	if (r->stats[VS_ENVELOPES] == 0) {
		static const int dep[] = {VFY_RECIPIENTS, VFY_DECRYPT,
		    VFY_NEGATIVE, VFY_TAMPER, VFY_UNIQUENESS, VFY_ROTATION};
		size_t i;

		for (i = 0; i < sizeof(dep) / sizeof(dep[0]); i++)
			snprintf(r->checks[dep[i]].reason,
			    sizeof(r->checks[dep[i]].reason),
			    "no envelope in the store");
	} else {
		if (r->stats[VS_D_ATTEMPTED] == 0)
			snprintf(r->checks[VFY_DECRYPT].reason,
			    sizeof(r->checks[VFY_DECRYPT].reason),
			    "no object was decrypted (the key was disabled for "
			    "the revocation drill)");
		if (r->stats[VS_T_OBJECTS] == 0)
			snprintf(r->checks[VFY_TAMPER].reason,
			    sizeof(r->checks[VFY_TAMPER].reason),
			    "no object was opened, so none could be tampered "
			    "with");
		if (r->stats[VS_N_CONTROL] + r->stats[VS_N_IMPOSTOR] +
		    r->stats[VS_N_DRILL] == 0)
			snprintf(r->checks[VFY_NEGATIVE].reason,
			    sizeof(r->checks[VFY_NEGATIVE].reason),
			    "no control key attempt was made");
	}
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
