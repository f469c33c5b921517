/*
 * revocation.c - `atrest bench --revocation`: how long a process keeps
 * decrypting and encrypting after its key is disabled, per hierarchy
 * and decrypt-cache TTL (docs/BENCH.md, "Revocation latency").
 *
 * One RSA-3072 key in the loopback vault.  For each measurement the key
 * is enabled, a pool of objects is sealed under the hierarchy, and two
 * threads start: a reader that opens the pool's objects round robin
 * through an atr_kcache with the TTL under test (the caching paths of
 * core/envelope.c), and a writer that seals new objects, keeping its
 * intermediate key or cached DEK for its configured lifetime as
 * bench/worker.c does.  After rev_before seconds the key is disabled
 * (PATCH attributes.enabled = false, as a security engineer revoking
 * it would); the instant is the vault's answer.  Each thread runs on
 * until it has failed for REV_MARGIN_S or the window closes.
 *
 * The platform's CMK documentation gives minutes to 24 hours for a
 * revocation to reach a service, because of its caches; this measures
 * what our own caches add.
 */
#include "bench_int.h"
#include "fsutil.h"

#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util.h"

#define REV_POOL 16U
#define REV_MARGIN_S 1.0
#define REV_WINDOW_AUTO_MAX_S 15.0
#define REV_FAIL_NAP_NS 5000000L
#define VAULT_TOKEN_ENV "ATREST_AZURE_TOKEN"

/* ---- a key that counts its KEK calls (one per thread, unshared) ------- */

struct rcount {
	struct atr_key *inner;
	uint64_t calls;
};

static enum atr_err
rc_wrap(struct atr_key *k, const uint8_t *in, size_t in_len, uint8_t *out,
    size_t *out_len)
{
	struct rcount *c = k->impl;

	c->calls++;
	return c->inner->ops->wrap(c->inner, in, in_len, out, out_len);
}

static enum atr_err
rc_unwrap(struct atr_key *k, const char *kid, enum atr_wrap_alg alg,
    const uint8_t *in, size_t in_len, uint8_t *out, size_t *out_len)
{
	struct rcount *c = k->impl;

	c->calls++;
	return c->inner->ops->unwrap(c->inner, kid, alg, in, in_len, out,
	    out_len);
}

static int
rc_matches(const struct atr_key *k, enum atr_provider_type p, const char *id)
{
	const struct rcount *c = k->impl;

	return c->inner->ops->matches(c->inner, p, id);
}

static void
rc_free(struct atr_key *k)
{
	free(k->impl);
	k->impl = NULL;
}

static const struct atr_key_ops rcount_ops = {
	rc_wrap, rc_unwrap, rc_matches, rc_free,
};

static struct atr_key *
rcount_new(struct atr_key *inner)
{
	struct rcount *c = calloc(1, sizeof(*c));
	struct atr_key *k;

	if (c == NULL)
		return NULL;
	c->inner = inner;
	k = atr_key_alloc_as(&rcount_ops, inner, c);
	if (k == NULL)
		free(c);
	return k;
}

static uint64_t
rcount_calls(const struct atr_key *k)
{
	return ((const struct rcount *)k->impl)->calls;
}

/* ---- sealing and opening one object ----------------------------------- */

/* A sealed object: header and frames, malloc'd. */
struct robj {
	uint8_t *p;
	size_t len;
};

/* Seals size bytes of pt with key (share NULL) or share into o. */
static enum atr_err
seal(struct atr_key *key, const struct atr_share *share, const uint8_t *pt,
    uint64_t size, uint32_t fs, struct robj *o)
{
	struct atr_enc_params p = {NULL, 0, share, fs};
	struct atr_enc *e = NULL;
	const uint8_t *hdr;
	uint64_t pos = 0;
	size_t hl, off;
	enum atr_err err;

	o->p = NULL;
	if (share == NULL) {
		p.keys = &key;
		p.nkeys = 1;
	}
	err = atr_enc_new(&p, &e);
	if (err != ATR_OK)
		return err;
	hdr = atr_enc_header(e, &hl);
	o->p = malloc(bn_obj_cap(size, fs) + hl);
	if (o->p == NULL) {
		err = ATR_ERR_NOMEM;
		goto out;
	}
	memcpy(o->p, hdr, hl);
	off = hl;
	do {
		size_t n = size - pos > fs ? fs : (size_t)(size - pos);
		int final = pos + n == size;

		err = atr_enc_frame(e, pt + pos, n, final, o->p + off);
		if (err != ATR_OK)
			goto out;
		off += n + ATR_GCM_TAGBYTES;
		pos += n;
	} while (pos < size);
	o->len = off;
out:
	atr_enc_free(e);
	if (err != ATR_OK) {
		free(o->p);
		o->p = NULL;
	}
	return err;
}

/* Opens o with key through cache kc (may be NULL) into out. */
static enum atr_err
open_obj(struct atr_key *key, struct atr_kcache *kc, const struct robj *o,
    struct atr_header *h, uint8_t *out)
{
	struct atr_dec_opts opts = {kc};
	struct atr_dec *d = NULL;
	uint64_t idx = 0;
	size_t off;
	enum atr_err err;

	err = atr_header_parse(o->p, o->len, h);
	if (err != ATR_OK)
		return err;
	err = atr_dec_new(h, &key, 1, &opts, &d, NULL, NULL);
	if (err != ATR_OK)
		return err;
	off = h->len;
	do {
		size_t rec = o->len - off, fs = h->frame_size;

		if (rec > fs + ATR_GCM_TAGBYTES)
			rec = fs + ATR_GCM_TAGBYTES;
		err = atr_dec_frame(d, idx++, off + rec == o->len, o->p + off,
		    rec, out);
		off += rec;
	} while (err == ATR_OK && off < o->len);
	atr_dec_free(d);
	return err;
}

/* ---- the two workloads ------------------------------------------------ */

/* What the main thread and a workload share: the disable instant (0
 * before it) and the window after it, in monotonic ns. */
struct rctl {
	_Atomic uint64_t t_disable;
	_Atomic int disabling;        /* set before the disable is sent */
	uint64_t window_ns, margin_ns;
};

struct rthread {
	struct rctl *ctl;
	enum atb_hier hier;
	enum atb_op op;
	struct atr_key *key;          /* counting wrapper, owned */
	struct atr_kcache *kc;        /* reader, caching hierarchies; owned */
	const struct robj *pool;      /* reader; borrowed */
	const uint8_t *pt;            /* writer; borrowed */
	uint64_t size;
	uint32_t fs;
	double lifetime_s;            /* writer's share lifetime */
	struct atr_share *share;      /* writer's; owned */
	uint64_t share_born;
	uint8_t *out;                 /* one frame of plaintext */
	struct atr_header *h;
	pthread_t th;
	int started;
	/* Results. */
	uint64_t t_start, last_ok, ops_ok, ops_failed, kms_ok;
	int censored, early_fail;
	enum atr_err last_err;
};

static enum atr_err
write_one(struct rthread *t, uint64_t now)
{
	struct robj o;
	enum atr_err err;

	if (t->hier != ATB_PER_OBJECT && (t->share == NULL ||
	    (double)(now - t->share_born) >= t->lifetime_s * 1e9)) {
		atr_share_free(t->share);
		t->share = NULL;
		err = atr_share_new(t->hier == ATB_INTERMEDIATE ?
		    ATR_KIND_INTERMEDIATE : ATR_KIND_SHARED, &t->key, 1,
		    &t->share);
		if (err != ATR_OK)
			return err;
		t->share_born = now;
	}
	err = seal(t->key, t->share, t->pt, t->size, t->fs, &o);
	free(o.p);
	return err;
}

/* Whether the workload is done, after an op that ended at now. */
static int
rt_done(struct rthread *t, int ok, uint64_t now, uint64_t *fail_since)
{
	uint64_t td = atomic_load(&t->ctl->t_disable);

	if (ok)
		*fail_since = 0;
	else if (*fail_since == 0)
		*fail_since = now;
	if (td == 0) {
		/* A failure while the disable is on its way is the disable;
		 * one before it is a broken set-up: nothing to measure. */
		if (ok || atomic_load(&t->ctl->disabling))
			return 0;
		t->early_fail = 1;
		return 1;
	}
	if (now >= td + t->ctl->window_ns) {
		t->censored = ok;
		return 1;
	}
	return !ok && now - (*fail_since > td ? *fail_since : td) >=
	    t->ctl->margin_ns;
}

static void *
rt_main(void *arg)
{
	struct rthread *t = arg;
	struct timespec nap = {0, REV_FAIL_NAP_NS};
	uint64_t now, fail_since = 0;
	size_t next = 0;
	enum atr_err err;

	t->t_start = now = atr_now_ns();
	for (;;) {
		if (t->op == ATB_DECRYPT) {
			err = open_obj(t->key, t->kc, &t->pool[next], t->h,
			    t->out);
			next = (next + 1) % REV_POOL;
		} else {
			err = write_one(t, now);
		}
		now = atr_now_ns();
		atr_detail_clear();
		if (err == ATR_OK) {
			t->ops_ok++;
			t->last_ok = now;
			t->kms_ok = rcount_calls(t->key);
		} else {
			t->ops_failed++;
			t->last_err = err;
		}
		if (rt_done(t, err == ATR_OK, now, &fail_since))
			break;
		if (err != ATR_OK) {
			nanosleep(&nap, NULL);
			now = atr_now_ns();
		}
	}
	return NULL;
}

static void
rt_free(struct rthread *t)
{
	atr_key_free(t->key);
	atr_kcache_free(t->kc);
	atr_share_free(t->share);
	free(t->out);
	free(t->h);
	t->key = NULL;
	t->kc = NULL;
	t->share = NULL;
	t->out = NULL;
	t->h = NULL;
}

/* ---- one measurement -------------------------------------------------- */

static void progress_text(const struct atb_config *c, const char *what);

/* The run's state: the vault, its key and the plaintext. */
struct rrun {
	const struct atb_config *cfg;
	struct atb_rev_results *res;
	struct atb_vault *kv;
	char dir[256];
	char uri[ATR_URI_MAX];
	char name[64], version[128];
	struct atr_key *key;
	uint8_t *pt;
	uint32_t fs;
	int token_set;
};

static enum atr_err
set_enabled(struct rrun *R, int on, double *ms)
{
	uint64_t t0 = atr_now_ns();
	enum atr_err err;

	err = atb_vault_set_enabled(atb_vault_url(R->kv), atb_vault_ca(R->kv),
	    R->name, R->version, on);
	if (ms != NULL)
		*ms = (double)(atr_now_ns() - t0) / 1e6;
	return err;
}

/* Seals the reader's pool under the hierarchy (one share for all). */
static enum atr_err
pool_make(struct rrun *R, enum atb_hier hier, struct robj pool[REV_POOL])
{
	struct atr_share *sh = NULL;
	enum atr_err err = ATR_OK;
	size_t i;

	if (hier != ATB_PER_OBJECT)
		err = atr_share_new(hier == ATB_INTERMEDIATE ?
		    ATR_KIND_INTERMEDIATE : ATR_KIND_SHARED, &R->key, 1, &sh);
	for (i = 0; i < REV_POOL && err == ATR_OK; i++)
		err = seal(R->key, sh, R->pt, R->cfg->sizes[0], R->fs,
		    &pool[i]);
	atr_share_free(sh);
	return err;
}

/* t is zeroed by the caller (measure), and freed by rt_free whatever
 * this returns. */
static enum atr_err
rt_init(struct rrun *R, struct rthread *t, struct rctl *ctl,
    enum atb_hier hier, enum atb_op op, double ttl, double lifetime)
{
	t->ctl = ctl;
	t->hier = hier;
	t->op = op;
	t->pt = R->pt;
	t->size = R->cfg->sizes[0];
	t->fs = R->fs;
	t->lifetime_s = lifetime;
	t->key = rcount_new(R->key);
	t->out = malloc(R->fs);
	t->h = malloc(sizeof(*t->h));
	if (t->key == NULL || t->out == NULL || t->h == NULL)
		return ATR_ERR_NOMEM;
	if (op == ATB_DECRYPT && hier != ATB_PER_OBJECT) {
		t->kc = atr_kcache_new(KCACHE_CAP);
		if (t->kc == NULL)
			return ATR_ERR_NOMEM;
		atr_kcache_set_ttl(t->kc, (uint64_t)(ttl * 1e9));
	}
	return ATR_OK;
}

static void
row_fill(struct atb_rev_row *w, const struct rthread *t, uint64_t td,
    double ttl, double lifetime, double window)
{
	memset(w, 0, sizeof(*w));
	w->hier = t->hier;
	w->op = t->op;
	w->ttl_s = t->kc != NULL ? ttl : NAN;
	w->lifetime_s = t->op == ATB_ENCRYPT && t->hier != ATB_PER_OBJECT ?
	    lifetime : NAN;
	w->ops_ok = t->ops_ok;
	w->ops_failed = t->ops_failed;
	w->kms_calls = t->kms_ok;
	w->ops_per_s = t->last_ok > t->t_start ? (double)t->ops_ok * 1e9 /
	    (double)(t->last_ok - t->t_start) : NAN;
	w->kms_calls_per_op = t->ops_ok ? (double)t->kms_ok /
	    (double)t->ops_ok : NAN;
	w->latency_s = t->last_ok > td ? (double)(t->last_ok - td) / 1e9 : 0;
	w->window_s = window;
	w->censored = t->censored;
	if (t->ops_failed > 0)
		snprintf(w->last_error, sizeof(w->last_error), "%s",
		    atr_errname(t->last_err));
}

/* The writer's key lifetime for a hierarchy (NaN: per object). */
static double
lifetime_for(const struct atb_config *c, enum atb_hier hier)
{
	if (hier == ATB_INTERMEDIATE)
		return c->ik_seconds > 0 ? c->ik_seconds : INFINITY;
	if (hier == ATB_CACHED)
		return c->cache_max_age > 0 ? c->cache_max_age : INFINITY;
	return NAN;
}

static double
window_for(const struct atb_config *c, double ttl, double lifetime)
{
	double w = 0;

	if (c->rev_window > 0)
		return c->rev_window;
	if (!isnan(ttl))
		w = ttl;
	if (!isnan(lifetime) && lifetime > w)
		w = lifetime;
	w += 3.0;
	return w < REV_WINDOW_AUTO_MAX_S ? w : REV_WINDOW_AUTO_MAX_S;
}

static void
pool_free(struct robj pool[REV_POOL])
{
	size_t i;

	for (i = 0; i < REV_POOL; i++) {
		free(pool[i].p);
		pool[i].p = NULL;
	}
}

/* Starts the reader and writer, disables the key after rev_before,
 * waits for both; the key is enabled again for the next measurement. */
static enum atr_err
rt_run(struct rrun *R, struct rthread t[2], struct rctl *ctl)
{
	struct timespec before;
	double ms = 0;
	enum atr_err err = ATR_OK, e2;
	int i;

	for (i = 0; i < 2; i++) {
		if (pthread_create(&t[i].th, NULL, rt_main, &t[i]) != 0) {
			err = atr_fail(ATR_ERR_NOMEM, "cannot start a thread");
			break;
		}
		t[i].started = 1;
	}
	before.tv_sec = (time_t)R->cfg->rev_before;
	before.tv_nsec = (long)((R->cfg->rev_before -
	    (double)before.tv_sec) * 1e9);
	if (err == ATR_OK) {
		nanosleep(&before, NULL);
		atomic_store(&ctl->disabling, 1);
		err = set_enabled(R, 0, &ms);
	}
	/* The instant is the vault's answer: any success after it came
	 * after the key was disabled.  Stopping the threads on a failed
	 * disable: a zero window. */
	if (err != ATR_OK)
		ctl->window_ns = 0;
	atomic_store(&ctl->t_disable, atr_now_ns());
	if (ms > R->res->disable_ms_max)
		R->res->disable_ms_max = ms;
	for (i = 0; i < 2; i++)
		if (t[i].started)
			pthread_join(t[i].th, NULL);
	e2 = set_enabled(R, 1, NULL);
	if (err == ATR_OK)
		err = e2;
	for (i = 0; i < 2 && err == ATR_OK; i++)
		if (t[i].early_fail)
			err = atr_fail(t[i].last_err, "%s %s failed before the "
			    "key was disabled", atb_hier_name(t[i].hier),
			    atb_op_name(t[i].op));
	return err;
}

/* One disable: a reader with cache TTL ttl and a writer, under hier. */
static enum atr_err
measure(struct rrun *R, enum atb_hier hier, double ttl)
{
	struct robj pool[REV_POOL];
	struct rthread t[2];
	struct rctl ctl;
	double life = lifetime_for(R->cfg, hier), window;
	enum atr_err err;
	int i;

	memset(pool, 0, sizeof(pool));
	memset(t, 0, sizeof(t));
	if (R->res->nrows + 2 > ATB_REV_MAX_ROWS)
		return atr_fail(ATR_ERR_LIMIT, "too many revocation rows");
	window = window_for(R->cfg, hier == ATB_PER_OBJECT ? NAN : ttl, life);
	atomic_init(&ctl.t_disable, 0);
	atomic_init(&ctl.disabling, 0);
	ctl.window_ns = (uint64_t)(window * 1e9);
	ctl.margin_ns = (uint64_t)(REV_MARGIN_S * 1e9);
	progress_text(R->cfg, atb_hier_name(hier));
	err = pool_make(R, hier, pool);
	if (err == ATR_OK)
		err = rt_init(R, &t[0], &ctl, hier, ATB_DECRYPT, ttl, life);
	if (err == ATR_OK)
		err = rt_init(R, &t[1], &ctl, hier, ATB_ENCRYPT, ttl, life);
	if (err == ATR_OK) {
		t[0].pool = pool;
		err = rt_run(R, t, &ctl);
	}
	if (err == ATR_OK)
		for (i = 0; i < 2; i++)
			row_fill(&R->res->rows[R->res->nrows++], &t[i],
			    atomic_load(&ctl.t_disable), ttl, life, window);
	for (i = 0; i < 2; i++)
		rt_free(&t[i]);
	pool_free(pool);
	return err;
}

/* ---- the run ---------------------------------------------------------- */

static void
progress_text(const struct atb_config *c, const char *what)
{
	if (c->progress != NULL)
		c->progress(c->progress_arg, 0, 0, what);
}

/* The vault, its RSA-3072 key (versioned, so the disable names the
 * version the objects are wrapped under) and the plaintext. */
static enum atr_err
rrun_open(struct rrun *R)
{
	struct atr_key_opts o = R->cfg->key_opts;
	const char *tok, *slash;
	char state[300];
	enum atr_err err;

	err = atr_mkdtemp("atrest-bench-rev", R->dir, sizeof(R->dir));
	if (err != ATR_OK)
		return err;
	snprintf(state, sizeof(state), "%s/vault", R->dir);
	err = atb_vault_start(state, 0, 1.0, &R->kv);
	if (err != ATR_OK)
		return err;
	/* The loopback vault takes any bearer (docs/VAULT.md); set only
	 * when the user has none, as bench/keyset.c does. */
	tok = getenv(VAULT_TOKEN_ENV);
	if ((tok == NULL || *tok == '\0') &&
	    setenv(VAULT_TOKEN_ENV, "atrest-bench-loopback", 1) == 0 &&
	    setenv("ATREST_AZURE_CREDENTIAL", "token", 1) == 0)
		R->token_set = 1;
	snprintf(R->name, sizeof(R->name), "bench-revocation");
	err = atb_vault_create_key(atb_vault_url(R->kv), atb_vault_ca(R->kv),
	    R->name, 3072, R->uri, sizeof(R->uri));
	if (err != ATR_OK)
		return err;
	o.ca_file = atb_vault_ca(R->kv);
	err = atr_key_open(R->uri, &o, &R->key);
	if (err != ATR_OK)
		return err;
	slash = strrchr(R->key->key_id, '/');
	if (slash == NULL || strlen(slash + 1) >= sizeof(R->version))
		return atr_fail(ATR_ERR_KEY, "%s: no version in its key id",
		    R->uri);
	snprintf(R->version, sizeof(R->version), "%s", slash + 1);
	snprintf(R->res->key_desc, sizeof(R->res->key_desc), "%s",
	    R->key->desc);
	R->pt = malloc(R->cfg->sizes[0] ? R->cfg->sizes[0] : 1);
	if (R->pt == NULL)
		return ATR_ERR_NOMEM;
	memset(R->pt, 0x5a, R->cfg->sizes[0]);
	return ATR_OK;
}

static void
rrun_close(struct rrun *R)
{
	atr_key_free(R->key);
	R->key = NULL;
	atb_vault_stop(R->kv);
	R->kv = NULL;
	if (R->token_set) {
		unsetenv(VAULT_TOKEN_ENV);
		unsetenv("ATREST_AZURE_CREDENTIAL");
	}
	R->token_set = 0;
	if (R->dir[0] != '\0')
		bn_rm_tree(R->dir, 0);
	R->dir[0] = '\0';
	free(R->pt);
	R->pt = NULL;
}

enum atr_err
atb_run_revocation(const struct atb_config *cfg, struct atb_rev_results *out)
{
	struct rrun R;
	uint64_t t0 = atr_now_ns();
	enum atr_err err;
	size_t i;

	memset(out, 0, sizeof(*out));
	memset(&R, 0, sizeof(R));
	if (cfg->nsizes == 0 || cfg->ncache_ttl == 0)
		return atr_fail(ATR_ERR_USAGE, "no object size or cache TTL");
	R.cfg = cfg;
	R.res = out;
	R.fs = cfg->frame_size ? cfg->frame_size : ATR_FRAME_DEFAULT;
	out->size = cfg->sizes[0];
	out->frame_size = R.fs;
	out->before_s = cfg->rev_before;
	out->margin_s = REV_MARGIN_S;
	out->ik_seconds = cfg->ik_seconds;
	out->cache_max_age = cfg->cache_max_age;
	progress_text(cfg, "revocation: starting the loopback vault");
	err = rrun_open(&R);
	if (err == ATR_OK && cfg->hier[ATB_PER_OBJECT])
		err = measure(&R, ATB_PER_OBJECT, NAN);
	for (i = 0; i < cfg->ncache_ttl && err == ATR_OK; i++) {
		if (cfg->hier[ATB_INTERMEDIATE])
			err = measure(&R, ATB_INTERMEDIATE, cfg->cache_ttl[i]);
		if (err == ATR_OK && cfg->hier[ATB_CACHED])
			err = measure(&R, ATB_CACHED, cfg->cache_ttl[i]);
	}
	rrun_close(&R);
	progress_text(cfg, "");
	out->wall_s = (double)(atr_now_ns() - t0) / 1e9;
	return err;
}
