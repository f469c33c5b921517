/*
 * report.c - the report model: bounded finding lists kept in report
 * order, coverage per stanza key id, object records, the report itself
 * and the queries the CLI and the tests make of it.  What needs the
 * whole store is derived from these by finalize.c.
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

void
vfy_finding_free(struct vfy_finding *f)
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
		vfy_finding_free(&l->v[i]);
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
		vfy_finding_free(f);
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
				vfy_finding_free(f);
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
		vfy_finding_free(f);
		return;
	}
	vfy_finding_free(&l->v[0]);
	/* memcpy, not "l->v[0] = *f": clang's analyzer loses a struct
	 * assignment into a heap array and then reports the old strings
	 * as used after free (make lint). */
	memcpy(&l->v[0], f, sizeof(*f));
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
	f->subject = strdup(subject ? subject : "");
	f->message = strdup(msg ? msg : "");
}

int
vfy_finding_vmake(struct vfy_finding *f, int sev, int store,
    const char *subject, int64_t offset, const char *code, const char *fmt,
    va_list ap)
{
	char msg[1024];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	vfy_finding_set(f, sev, store, subject, offset, code, msg);
	if (f->check < 0 || f->check >= VFY_NCHECKS) {
		vfy_finding_free(f);
		return -1;
	}
	return f->check;
}

void
vfy_report_add(struct vfy_report *r, int sev, int store, const char *subject,
    int64_t offset, const char *code, const char *fmt, ...)
{
	struct vfy_finding f;
	va_list ap;
	int c;

	if (sev < 0)
		return;   /* policy says "allow" */
	va_start(ap, fmt);
	c = vfy_finding_vmake(&f, sev, store, subject, offset, code, fmt, ap);
	va_end(ap);
	if (c >= 0)
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
	c->key_id = strdup(key_id);
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

/* rsa_min counts only where an RSA size was seen (rsa_max > 0): a report
 * read back without "rsa_bits" has no minimum to give. */
void
vfy_cov_sum(struct vfy_cov *d, const struct vfy_cov *s)
{
	size_t k;

	d->provider = s->provider;
	d->algs |= s->algs;
	d->kinds |= s->kinds;
	if (s->rsa_max > 0 && s->rsa_min < d->rsa_min)
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

void
vfy_covmap_absorb(struct vfy_covmap *dst, struct vfy_covmap *src)
{
	size_t i;

	for (i = 0; i < src->n; i++) {
		struct vfy_cov *d = vfy_covmap_get(dst, src->v[i].key_id);

		if (d != NULL)
			vfy_cov_sum(d, &src->v[i]);
	}
	vfy_covmap_free(src);
}

void
vfy_covmap_reindex(struct vfy_covmap *m)
{
	size_t i, j;

	if (m->idx_cap == 0)
		return;
	memset(m->idx, 0, m->idx_cap * sizeof(*m->idx));
	for (i = 0; i < m->n; i++) {
		j = str_hash(m->v[i].key_id) & (m->idx_cap - 1);
		while (m->idx[j])
			j = (j + 1) & (m->idx_cap - 1);
		m->idx[j] = (uint32_t)i + 1;
	}
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
	for (i = 0; i < r->nversions; i++)
		free(r->versions[i].kid);
	free(r->versions);
	free(r);
}

struct vfy_version *
vfy_version_get(struct vfy_report *r, const char *kid)
{
	struct vfy_version *v;
	size_t i;

	for (i = 0; i < r->nversions; i++)
		if (strcmp(r->versions[i].kid, kid) == 0)
			return &r->versions[i];
	v = realloc(r->versions, (r->nversions + 1) * sizeof(*v));
	if (v == NULL)
		return NULL;
	r->versions = v;
	v += r->nversions;
	memset(v, 0, sizeof(*v));
	v->kid = strdup(kid);
	if (v->kid == NULL)
		return NULL;
	r->nversions++;
	return v;
}

const char *
vfy_nothing_verified(const struct vfy_report *r)
{
	/* No verdict without evidence (docs/VERIFY.md "Exit status"): a
	 * PASS over an empty mount or a shard that selected nothing would
	 * say nothing about the data. */
	if (r->stats[VS_FILES] == 0 && r->shard_n > 1 && !r->is_merged)
		return "this shard selects no file";
	if (r->stats[VS_FILES] == 0)
		return "the store holds no file (an empty directory or only "
		    "empty directories: a failed mount?)";
	if (r->stats[VS_D_PROVEN] > 0)
		return "";
	/* The caller's own drill (the primary key already disabled):
	 * the evidence is that every object was tried and none opened. */
	if (r->stats[VS_D_ATTEMPTED] == 0 && r->stats[VS_N_DRILL] > 0)
		return "";
	return "no object was proven by decryption";
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
	if (!r->allow_empty && vfy_nothing_verified(r)[0] != '\0')
		return 2;
	return 0;
}

const char *
vfy_report_halted(const struct vfy_report *r)
{
	return r != NULL && r->halted ? r->incomplete_why : NULL;
}
