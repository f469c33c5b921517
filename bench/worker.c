/*
 * worker.c - the worker threads and what they measure: one object
 * through the envelope (encrypt or decrypt, with the hierarchy's
 * shared key kept fresh), a worker's job (ops until its deadline), the
 * threads that live for the whole run, and one repetition of a member,
 * which opens their start gate and gathers their counters.
 */
#include "bench_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* ---- one operation ---------------------------------------------------- */

/* Keeps the worker's intermediate key or cached DEK fresh. */
static enum atr_err
hier_prepare(struct worker *w, const struct group *G, uint64_t now)
{
	const struct atb_config *c = w->R->cfg;
	struct atr_key *const *k = &w->M->ks->counted;
	int renew = w->share == NULL;
	enum atr_stanza_kind kind;
	enum atr_err err;

	if (G->hier == ATB_PER_OBJECT)
		return ATR_OK;
	if (G->hier == ATB_INTERMEDIATE) {
		kind = ATR_KIND_INTERMEDIATE;
		if (c->ik_every > 0 && w->share_uses >= c->ik_every)
			renew = 1;
		if (c->ik_seconds > 0 &&
		    (double)(now - w->share_born) >= c->ik_seconds * 1e9)
			renew = 1;
	} else {
		kind = ATR_KIND_SHARED;
		if (c->cache_max_uses > 0 && w->share_uses >= c->cache_max_uses)
			renew = 1;
		if (c->cache_max_bytes > 0 &&
		    w->share_bytes + G->size > c->cache_max_bytes)
			renew = 1;
		if (c->cache_max_age > 0 &&
		    (double)(now - w->share_born) >= c->cache_max_age * 1e9)
			renew = 1;
	}
	if (renew) {
		atr_share_free(w->share);
		w->share = NULL;
		err = atr_share_new(kind, k, 1, &w->share);
		if (err != ATR_OK)
			return err;
		w->share_born = now;
		w->share_uses = w->share_bytes = 0;
		w->misses++;
	} else {
		w->hits++;
	}
	w->share_uses++;
	w->share_bytes += G->size;
	return ATR_OK;
}

/* Encrypts the plaintext's first size bytes into w->out; *len = bytes. */
enum atr_err
bn_op_encrypt(struct worker *w, uint64_t t0, uint64_t *t_end, size_t *len)
{
	const struct group *G = w->G;
	const uint8_t *pt = w->R->pt.p, *hdr;
	struct atr_enc_params p = {NULL, 0, NULL, w->R->fs};
	struct atr_enc *e = NULL;
	uint64_t wrap0 = w->ns[ATB_PH_WRAP], t1, t2, t3, pos = 0;
	size_t off, hl;
	enum atr_err err;

	err = hier_prepare(w, G, t0);
	if (err != ATR_OK)
		return err;
	if (G->hier == ATB_PER_OBJECT) {
		p.keys = &w->M->ks->counted;
		p.nkeys = 1;
	} else {
		p.share = w->share;
	}
	err = atr_enc_new(&p, &e);
	if (err != ATR_OK)
		return err;
	hdr = atr_enc_header(e, &hl);
	memcpy(w->out.p, hdr, hl);
	off = hl;
	t1 = atr_now_ns();
	do {
		size_t n = G->size - pos > w->R->fs ? w->R->fs :
		    (size_t)(G->size - pos);
		int final = pos + n == G->size;

		err = atr_enc_frame(e, pt + pos, n, final, w->out.p + off);
		if (err != ATR_OK)
			break;
		off += n + ATR_GCM_TAGBYTES;
		pos += n;
	} while (pos < G->size);
	t2 = atr_now_ns();
	atr_enc_free(e);
	t3 = atr_now_ns();
	w->ns[ATB_PH_DEK] += (t1 - t0) - (w->ns[ATB_PH_WRAP] - wrap0);
	w->ns[ATB_PH_AEAD] += t2 - t1;
	w->ns[ATB_PH_OTHER] += t3 - t2;
	if (err == ATR_OK && w->R->io_fd >= 0 && !w->no_io) {
		char name[48];
		uint64_t t4;

		/* --io: the object as `atrest encrypt` stores it, over the
		 * oldest name of this thread's ring. */
		bn_io_enc_name(w->idx, w->io_seq++, G->size, name,
		    sizeof(name));
		err = bn_io_write_obj(w->R->io_fd, name, w->out.p, off);
		t4 = atr_now_ns();
		w->ns[ATB_PH_IO] += t4 - t3;
		t3 = t4;
	}
	*t_end = t3;
	*len = off;
	return err;
}

enum atr_err
bn_op_decrypt(struct worker *w, uint64_t t0, uint64_t *t_end)
{
	const struct pool *P = w->M->pool;
	const struct pobj *o = &P->objs[w->next_obj];
	const uint8_t *in = w->R->pool.p + o->off;
	struct atr_dec_opts opts = {w->kc};
	struct atr_dec *d = NULL;
	uint64_t unwrap0 = w->ns[ATB_PH_UNWRAP], t1, t2, t3, idx = 0;
	size_t off, pos = 0, obj = w->next_obj;
	enum atr_err err;

	w->next_obj = (w->next_obj + 1) % P->nobj;
	if (w->R->io_fd >= 0 && !w->no_io) {
		char name[48];
		size_t got = 0;
		uint64_t tio;

		/* --io: the object's file, read whole as `atrest decrypt`
		 * opens and reads its input; decrypted from that copy. */
		bn_io_pool_name((size_t)(P - w->G->pools), obj, name,
		    sizeof(name));
		err = bn_io_read_obj(w->R->io_fd, name, w->in.p, w->in.len,
		    &got);
		tio = atr_now_ns();
		w->ns[ATB_PH_IO] += tio - t0;
		t0 = tio;
		if (err == ATR_OK && got != o->len)
			err = atr_fail(ATR_ERR_IO, "%s: %zu bytes, expected %zu",
			    name, got, o->len);
		if (err != ATR_OK) {
			*t_end = tio;
			return err;
		}
		in = w->in.p;
	}
	err = atr_header_parse(in, o->len, w->hdr);
	if (err != ATR_OK)
		return err;
	err = atr_dec_new(w->hdr, &w->M->ks->counted, 1, &opts, &d, NULL,
	    NULL);
	if (err != ATR_OK)
		return err;
	t1 = atr_now_ns();
	off = w->hdr->len;
	do {
		size_t rec = o->len - off, fs = w->hdr->frame_size;
		int final;

		if (rec > fs + ATR_GCM_TAGBYTES)
			rec = fs + ATR_GCM_TAGBYTES;
		final = off + rec == o->len;
		err = atr_dec_frame(d, idx++, final, in + off, rec,
		    w->out.p + pos);
		if (err != ATR_OK)
			break;
		off += rec;
		pos += rec - ATR_GCM_TAGBYTES;
	} while (off < o->len);
	t2 = atr_now_ns();
	atr_dec_free(d);
	t3 = atr_now_ns();
	if (err == ATR_OK && pos != w->G->size)
		err = atr_fail(ATR_ERR_AUTH, "decrypted %zu bytes, expected %llu",
		    pos, (unsigned long long)w->G->size);
	w->ns[ATB_PH_DEK] += (t1 - t0) - (w->ns[ATB_PH_UNWRAP] - unwrap0);
	w->ns[ATB_PH_AEAD] += t2 - t1;
	w->ns[ATB_PH_OTHER] += t3 - t2;
	*t_end = t3;
	return err;
}

/* ---- workers ---------------------------------------------------------- */

void
bn_worker_reset(struct worker *w, struct group *G, struct member *M)
{
	w->G = G;
	w->M = M;
	w->ops = w->kms_calls = w->kms_errors = w->hits = w->misses = 0;
	w->op_errors = 0;
	w->last_err = ATR_OK;
	w->last_detail[0] = '\0';
	memset(w->ns, 0, sizeof(w->ns));
	w->cpu_ns = 0;
	w->share = NULL;
	w->share_born = w->share_uses = w->share_bytes = 0;
	w->kc = NULL;
	w->err = ATR_OK;
	w->detail[0] = '\0';
	atb_hist_reset(w->lat);
	atb_hist_reset(w->kms);
	if (M->pool != NULL && M->pool->nobj > 0)
		w->next_obj = ((size_t)w->idx * 7919U) % M->pool->nobj;
}

static void
worker_fail(struct worker *w, enum atr_err err)
{
	w->err = err;
	snprintf(w->detail, sizeof(w->detail), "%s", atr_detail());
}

/* Errors of a key service that a throttling scenario expects. */
static int
transient(enum atr_err err)
{
	return err == ATR_ERR_THROTTLED || err == ATR_ERR_TIMEOUT ||
	    err == ATR_ERR_NETWORK || err == ATR_ERR_BAD_RESPONSE;
}

/*
 * Takes the thread's hierarchy state for the job (h: the member's, kept
 * across jobs; NULL: fresh for this job) and the decrypt-side key cache
 * an intermediate or cached decrypt needs.
 */
static enum atr_err
job_load(struct worker *w, const struct hstate *h)
{
	if (h != NULL) {
		w->share = h->share;
		w->share_born = h->born;
		w->share_uses = h->uses;
		w->share_bytes = h->bytes;
		w->kc = h->kc;
	}
	if (w->kc == NULL && w->G->hier != ATB_PER_OBJECT &&
	    w->G->op == ATB_DECRYPT) {
		w->kc = atr_kcache_new(KCACHE_CAP);
		if (w->kc == NULL)
			return ATR_ERR_NOMEM;
		atr_kcache_set_ttl(w->kc,
		    (uint64_t)(w->R->cfg->cache_ttl[0] * 1e9));
	}
	return ATR_OK;
}

/*
 * Counts the key cache's hits and misses of this job, then gives the
 * hierarchy state back to h (or frees it when the member keeps none).
 */
static void
job_store(struct worker *w, struct hstate *h)
{
	if (w->kc != NULL) {
		uint64_t unwraps, hits;

		atr_kcache_stats(w->kc, &unwraps, &hits);
		w->hits = hits - (h ? h->kc_hits : 0);
		w->misses = unwraps - (h ? h->kc_unwraps : 0);
		if (h != NULL) {
			h->kc_hits = hits;
			h->kc_unwraps = unwraps;
		} else {
			atr_kcache_free(w->kc);
		}
	}
	if (h != NULL) {
		h->share = w->share;
		h->born = w->share_born;
		h->uses = w->share_uses;
		h->bytes = w->share_bytes;
		h->kc = w->kc;
	} else {
		atr_share_free(w->share);
	}
	w->share = NULL;
	w->kc = NULL;
}

/* One job: the worker's share of a cell repetition. */
static void
worker_job(struct worker *w)
{
	struct hstate *h = w->M->hs ? &w->M->hs[w->idx] : NULL;
	uint64_t t0, prev, now = 0, deadline, cpu0;
	enum atr_err err;
	size_t len;

	err = job_load(w, h);
	cpu0 = atb_thread_cpu_ns();
	t0 = prev = now = atr_now_ns();
	w->t_start = t0;
	deadline = t0 + w->seconds_ns;
	while (err == ATR_OK) {
		if (w->G->op == ATB_ENCRYPT)
			err = bn_op_encrypt(w, prev, &now, &len);
		else
			err = bn_op_decrypt(w, prev, &now);
		if (err != ATR_OK && transient(err)) {
			/* A key service that throttled or timed out past the
			 * client's retries: a result of the scenario, counted;
			 * the op's time stays in the wall clock, not in the
			 * latency histogram. */
			w->op_errors++;
			w->last_err = err;
			snprintf(w->last_detail, sizeof(w->last_detail), "%s",
			    atr_detail());
			atr_detail_clear();
			err = ATR_OK;
			now = prev = atr_now_ns();
			if (now >= deadline)
				break;
			continue;
		}
		if (err != ATR_OK)
			break;
		atb_hist_add(w->lat, now - prev);
		w->ops++;
		prev = now;
		if (now >= deadline && w->ops >= w->min_ops)
			break;
	}
	w->t_stop = now;
	if (err == ATR_OK && w->ops == 0 && w->op_errors > 0) {
		/* Nothing got through: the cell fails with the reason. */
		atr_detail_set("%s", w->last_detail);
		err = w->last_err;
	}
	if (err != ATR_OK)
		worker_fail(w, err);
	w->cpu_ns = atb_thread_cpu_ns() - cpu0;
	job_store(w, h);
}

/*
 * The workers live for the whole run, so that what a thread keeps (a
 * Key Vault client's TLS connection, a PKCS#11 session, OpenSSL's
 * per-thread state) survives from one repetition to the next, as it
 * would in a server.  Each waits for a new job generation, reports
 * ready, and all start together when the main thread opens the gate.
 */
static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	struct run *R = w->R;
	uint64_t seen = 0;

	bn_tls_worker = w;
	pthread_mutex_lock(&R->mu);
	for (;;) {
		while (R->gen == seen && !R->quit)
			pthread_cond_wait(&R->cv, &R->mu);
		if (R->quit)
			break;
		seen = R->gen;
		if (w->idx >= R->nactive)
			continue;
		R->ready++;
		pthread_cond_broadcast(&R->done_cv);
		while (!R->go)
			pthread_cond_wait(&R->cv, &R->mu);
		pthread_mutex_unlock(&R->mu);
		worker_job(w);
		pthread_mutex_lock(&R->mu);
		R->ndone++;
		pthread_cond_broadcast(&R->done_cv);
	}
	pthread_mutex_unlock(&R->mu);
	bn_tls_worker = NULL;
	return NULL;
}

/*
 * Hands the member's job to its threads, waits until all are ready,
 * opens the start gate and waits until all are done.  Returns the
 * process CPU time between the gate and the last thread's end.
 */
static uint64_t
rep_launch(struct run *R, struct group *G, struct member *M, double seconds,
    int record)
{
	uint64_t pc0, pc1;
	unsigned i;

	pthread_mutex_lock(&R->mu);
	for (i = 0; i < M->threads; i++) {
		struct worker *w = &R->w[i];

		bn_worker_reset(w, G, M);
		w->seconds_ns = (uint64_t)(seconds * 1e9);
		w->min_ops = record ? MIN_OPS : 1;
	}
	R->nactive = M->threads;
	R->ready = R->ndone = 0;
	R->go = 0;
	R->gen++;
	pthread_cond_broadcast(&R->cv);
	while (R->ready < M->threads)
		pthread_cond_wait(&R->done_cv, &R->mu);
	/* CPU time of the whole process: the workers, and the threads of
	 * an in-process service (the loopback vault) working for them. */
	pc0 = bn_process_cpu_ns();
	R->go = 1;
	pthread_cond_broadcast(&R->cv);
	while (R->ndone < M->threads)
		pthread_cond_wait(&R->done_cv, &R->mu);
	pc1 = bn_process_cpu_ns();
	R->go = 0;
	pthread_mutex_unlock(&R->mu);
	return pc1 - pc0;
}

/* Adds the repetition's counters, histograms and the key service's
 * counter deltas (kv: client, sv: server; 0 before, 1 after) to M. */
static void
rep_record(struct run *R, struct member *M, uint64_t wall, uint64_t cpu,
    const uint64_t kv0[3], const uint64_t kv1[3], const uint64_t sv0[2],
    const uint64_t sv1[2])
{
	unsigned i;

	M->wall_ns += wall;
	M->cpu_ns += cpu;
	M->kv_attempts += kv1[0] - kv0[0];
	M->kv_retries += kv1[1] - kv0[1];
	M->kv_throttled += kv1[2] - kv0[2];
	M->srv_requests += sv1[0] - sv0[0];
	M->srv_throttled += sv1[1] - sv0[1];
	for (i = 0; i < M->threads; i++) {
		struct worker *w = &R->w[i];
		unsigned p;

		M->ops += w->ops;
		M->op_errors += w->op_errors;
		if (w->op_errors > 0) {
			M->last_err = w->last_err;
			snprintf(M->last_detail, sizeof(M->last_detail), "%s",
			    w->last_detail);
		}
		M->kms_calls += w->kms_calls;
		M->kms_errors += w->kms_errors;
		M->hits += w->hits;
		M->misses += w->misses;
		for (p = 0; p < ATB_PH__COUNT; p++)
			M->ns[p] += w->ns[p];
		atb_hist_merge(M->lat, w->lat);
		atb_hist_merge(M->kms, w->kms);
	}
}

enum atr_err
bn_run_rep(struct run *R, struct group *G, struct member *M, double seconds,
    int record, double *ops_per_s, double *cpu_per_op)
{
	uint64_t t0, t1, ops = 0, cpu, kv0[3], kv1[3], sv0[2], sv1[2];
	unsigned i;

	*ops_per_s = NAN;
	*cpu_per_op = NAN;
	if (M->threads > R->nw)
		return atr_fail(ATR_ERR_USAGE, "more threads than workers");
	bn_vault_faults_for(R, M->ks);
	bn_kv_snapshot(R, kv0, sv0);
	cpu = rep_launch(R, G, M, seconds, record);
	bn_kv_snapshot(R, kv1, sv1);
	/* The wall interval is the threads' own: from the first start to
	 * the last stop, as they read the clock (the main thread may not
	 * run between its wake-up call and the joins). */
	t0 = UINT64_MAX;
	t1 = 0;
	for (i = 0; i < M->threads; i++) {
		struct worker *w = &R->w[i];

		if (w->err != ATR_OK) {
			atr_fail(w->err, "%s", w->detail);
			return w->err;
		}
		ops += w->ops;
		if (w->t_start < t0)
			t0 = w->t_start;
		if (w->t_stop > t1)
			t1 = w->t_stop;
	}
	if (t1 <= t0)
		return atr_fail(ATR_ERR_USAGE, "no time measured");
	*ops_per_s = (double)ops * 1e9 / (double)(t1 - t0);
	*cpu_per_op = ops ? (double)cpu / (double)ops : NAN;
	if (record)
		rep_record(R, M, t1 - t0, cpu, kv0, kv1, sv0, sv1);
	return ATR_OK;
}

/* ---- allocation and the threads' lifetime ---------------------------- */

enum atr_err
bn_worker_alloc(struct worker *w, struct run *R, unsigned idx, size_t out_cap)
{
	w->R = R;
	w->idx = idx;
	w->hdr = malloc(sizeof(*w->hdr));
	w->lat = malloc(sizeof(*w->lat));
	w->kms = malloc(sizeof(*w->kms));
	if (w->hdr == NULL || w->lat == NULL || w->kms == NULL)
		return ATR_ERR_NOMEM;
	/* Touch the header and histograms too: they are written per op. */
	memset(w->hdr, 0x11, sizeof(*w->hdr));
	atb_hist_reset(w->lat);
	atb_hist_reset(w->kms);
	if (R->io_fd >= 0) {
		enum atr_err err = bn_big_alloc(&w->in, out_cap, 0x6b);

		if (err != ATR_OK)
			return err;
	}
	return bn_big_alloc(&w->out, out_cap, 0x5a);
}

void
bn_worker_free(struct worker *w)
{
	bn_big_free(&w->out);
	bn_big_free(&w->in);
	free(w->hdr);
	free(w->lat);
	free(w->kms);
	w->hdr = NULL;
	w->lat = w->kms = NULL;
}

enum atr_err
bn_workers_start(struct run *R, size_t out_cap)
{
	enum atr_err err;
	unsigned i;

	for (i = 0; i < R->nw; i++) {
		int rc;

		err = bn_worker_alloc(&R->w[i], R, i, out_cap);
		if (err != ATR_OK)
			return err;
		rc = pthread_create(&R->w[i].th, NULL, worker_main, &R->w[i]);
		if (rc != 0)
			return atr_fail(ATR_ERR_NOMEM, "cannot start a thread: %s",
			    strerror(rc));
		R->started++;
	}
	return ATR_OK;
}

void
bn_workers_stop(struct run *R)
{
	unsigned i;

	if (R->started == 0)
		return;
	pthread_mutex_lock(&R->mu);
	R->quit = 1;
	pthread_cond_broadcast(&R->cv);
	pthread_mutex_unlock(&R->mu);
	for (i = 0; i < R->started; i++)
		pthread_join(R->w[i].th, NULL);
	R->started = 0;
}
