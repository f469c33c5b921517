/*
 * run.c - one run from start to end: checking the configuration,
 * setting up (key setups, pre-faulted buffers, the reference state,
 * the worker threads), the machine limits measured at the start and at
 * the end, the groups of cells between them, and tearing down.
 *
 * Measurement rules (docs/BENCH.md, "Groups and interleaving" and
 * "Buffers"): every buffer is allocated once, pre-faulted with non-zero
 * writes and reused (a first touch costs ~11 us per page on the
 * development VM); each cell gets a warm-up that is not recorded; the
 * repetitions of the cells of a group are interleaved and each is
 * followed by the references its limit needs, so ratios are taken per
 * repetition against references measured seconds apart.
 */
#include "bench_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>

#include "util.h"

/* ---- big buffers ---------------------------------------------------- */

/* THP "madvise" mode on the development VM: MADV_HUGEPAGE gets them. */
enum atr_err
bn_big_alloc(struct bigbuf *b, size_t len, uint8_t fill)
{
	void *p;

	b->p = NULL;
	b->len = 0;
	if (len == 0)
		len = 1;
	len = (len + 4095U) & ~(size_t)4095U;
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
	    -1, 0);
	if (p == MAP_FAILED)
		return atr_fail(ATR_ERR_NOMEM, "cannot map %zu bytes", len);
#ifdef MADV_HUGEPAGE
	(void)madvise(p, len, MADV_HUGEPAGE);
#endif
	memset(p, fill, len);
	b->p = p;
	b->len = len;
	return ATR_OK;
}

void
bn_big_free(struct bigbuf *b)
{
	if (b->p != NULL)
		munmap(b->p, b->len);
	b->p = NULL;
	b->len = 0;
}

size_t
bn_obj_cap(uint64_t size, uint32_t fs)
{
	uint64_t frames = size == 0 ? 1 : (size + fs - 1) / fs;

	return (size_t)(ATR_HEADER_MAX + size + frames * ATR_GCM_TAGBYTES);
}

/* ---- limits table ------------------------------------------------------- */

struct limspec {
	uint64_t size;
	enum atb_limit_kind kind;
	unsigned bits;
};

static size_t
limit_list(const struct run *R, struct limspec *l, size_t cap)
{
	const struct atb_config *c = R->cfg;
	size_t n = 0, i, j;
	unsigned bits[ATB_MAX_KEYS];
	size_t nb = 0;

#define ADD(k, s, b) do { if (n < cap) { l[n].kind = (k); l[n].size = (s); \
	l[n].bits = (b); n++; } } while (0)
	for (i = 0; i < c->nsizes; i++) {
		if (c->ops[ATB_ENCRYPT])
			ADD(ATB_L_GCM_SEAL, c->sizes[i], 0);
		if (c->ops[ATB_DECRYPT])
			ADD(ATB_L_GCM_OPEN, c->sizes[i], 0);
	}
	/* --io: the storage limit of each size, next to its GCM limit's
	 * place in the cells' formula (docs/BENCH.md, "Storage (--io)"). */
	for (i = 0; R->io_fd >= 0 && i < c->nsizes; i++) {
		if (c->ops[ATB_ENCRYPT])
			ADD(ATB_L_IO_WRITE, c->sizes[i], 0);
		if (c->ops[ATB_DECRYPT])
			ADD(ATB_L_IO_READ, c->sizes[i], 0);
	}
	ADD(ATB_L_GCM_STREAM, 16384, 0);
	for (i = 0; i < R->nks; i++) {
		if (R->ks[i].wrap_ref != ATB_L_RSA_PUB)
			continue;
		for (j = 0; j < nb; j++)
			if (bits[j] == R->ks[i].bits)
				break;
		if (j < nb)
			continue;
		bits[nb++] = R->ks[i].bits;
		ADD(ATB_L_RSA_PUB, 0, R->ks[i].bits);
		ADD(ATB_L_RSA_PRIV, 0, R->ks[i].bits);
	}
	ADD(ATB_L_KWP_WRAP, 0, 0);
	ADD(ATB_L_KWP_UNWRAP, 0, 0);
	ADD(ATB_L_HKDF, 0, 0);
	ADD(ATB_L_HMAC, 0, 0);
	ADD(ATB_L_RAND, 0, 0);
	ADD(ATB_L_GCM_KEY, 0, 0);
	ADD(ATB_L_EMPTY, 0, 0);
#undef ADD
	if (c->limit_filter != NULL) {
		size_t k = 0;

		for (i = 0; i < n; i++) {
			char name[48];

			atb_limit_name(l[i].kind, l[i].size, l[i].bits, name,
			    sizeof(name));
			if (strstr(name, c->limit_filter) != NULL)
				l[k++] = l[i];
		}
		n = k;
	}
	return n;
}

/*
 * Measures every limit `passes` times (e.g. at the start and at the end
 * of the run), appending the values to vals[i * maxp + pass].
 */
static enum atr_err
limits_pass(struct run *R, const struct limspec *l, size_t n, double seconds,
    double *vals, double *cpus, unsigned pass, unsigned maxp)
{
	size_t i;
	enum atr_err err;

	for (i = 0; i < n; i++) {
		double ns, cpu;

		if (bn_stop_check(R))
			return atr_fail(ATR_ERR_IO, "interrupted");
		err = atb_ref_measure(R->refs, l[i].kind, l[i].size, l[i].bits,
		    seconds, REF_MIN_OPS, &ns, &cpu);
		if (err != ATR_OK)
			return err;
		vals[i * maxp + pass] = ns;
		cpus[i * maxp + pass] = cpu;
	}
	return ATR_OK;
}

static enum atr_err
limits_store(struct run *R, const struct limspec *l, size_t n,
    double *vals, double *cpus, unsigned npass, unsigned maxp)
{
	struct atb_results *res = R->res;
	size_t i;

	res->limits = calloc(n ? n : 1, sizeof(*res->limits));
	if (res->limits == NULL)
		return ATR_ERR_NOMEM;
	res->nlimits = n;
	for (i = 0; i < n; i++) {
		struct atb_limit *L = &res->limits[i];

		L->kind = l[i].kind;
		L->size = l[i].size;
		L->bits = l[i].bits;
		atb_limit_name(L->kind, L->size, L->bits, L->name,
		    sizeof(L->name));
		atb_stat_of(vals + i * maxp, npass, &L->ns_per_op);
		{
			struct atb_stat cs;

			atb_stat_of(cpus + i * maxp, npass, &cs);
			L->cpu_ns_per_op = cs.med;
		}
		L->ops_per_s = 1e9 / L->ns_per_op.med;
		L->mb_per_s = L->size ? L->ops_per_s * (double)L->size / 1e6 :
		    NAN;
		if (L->kind == ATB_L_EMPTY)
			res->empty_op_ns = L->ns_per_op.med;
	}
	return ATR_OK;
}

/* ---- setting up and tearing down ---------------------------------------- */

static void
run_free(struct run *R)
{
	size_t i;

	bn_workers_stop(R);
	for (i = 0; i < ATB_MAX_WORKERS; i++)
		bn_worker_free(&R->w[i]);
	bn_worker_free(&R->setup);
	bn_big_free(&R->pt);
	bn_big_free(&R->scratch);
	bn_big_free(&R->pool);
	bn_big_free(&R->refout);
	atb_refs_free(R->refs);
	bn_io_close(R);
	bn_ksets_close(R);
}

/*
 * The matrix's bounds, before anything is opened: *max_size is the
 * largest object size, *max_threads the largest thread count.
 */
static enum atr_err
config_check(struct run *R, uint64_t *max_size, unsigned *max_threads)
{
	const struct atb_config *c = R->cfg;
	size_t i;

	*max_size = 0;
	*max_threads = 1;
	if (R->fs < ATR_FRAME_MIN || R->fs > ATR_FRAME_MAX)
		return atr_fail(ATR_ERR_USAGE, "frame size must be %u..%u",
		    ATR_FRAME_MIN, ATR_FRAME_MAX);
	if (c->nkeys == 0 || c->nkeys > ATB_MAX_KEYS)
		return atr_fail(ATR_ERR_USAGE, "1..%u key setups", ATB_MAX_KEYS);
	if (c->nsizes == 0 || c->nthreads == 0 || c->reps == 0 ||
	    !(c->seconds > 0))
		return atr_fail(ATR_ERR_USAGE, "empty matrix");
	for (i = 0; i < c->nsizes; i++) {
		if (c->sizes[i] == 0 || c->sizes[i] > (1ULL << 30))
			return atr_fail(ATR_ERR_USAGE,
			    "object sizes must be 1 byte to 1 GiB");
		if (c->sizes[i] > *max_size)
			*max_size = c->sizes[i];
	}
	for (i = 0; i < c->nthreads; i++) {
		if (c->threads[i] == 0 || c->threads[i] > ATB_MAX_WORKERS)
			return atr_fail(ATR_ERR_USAGE, "threads must be 1..%u",
			    ATB_MAX_WORKERS);
		if (c->threads[i] > *max_threads)
			*max_threads = c->threads[i];
	}
	return ATR_OK;
}

/*
 * The plaintext (a fixed pattern), the references' output and scratch
 * buffers of cap bytes, and the reference state, which uses the RSA
 * private keys of the key setups that have one.
 */
static enum atr_err
buffers_setup(struct run *R, uint64_t max, size_t cap)
{
	enum atr_err err;
	size_t i;

	err = bn_big_alloc(&R->pt, (size_t)max + 64, 0);
	if (err != ATR_OK)
		return err;
	for (i = 0; i < (size_t)max + 64; i++)
		R->pt.p[i] = (uint8_t)(i * 131U + 17U);
	err = bn_big_alloc(&R->scratch, cap, 0x3c);
	if (err == ATR_OK)
		err = bn_big_alloc(&R->refout, cap, 0x3c);
	if (err == ATR_OK)
		err = atb_refs_new(R->pt.p, R->refout.p, R->scratch.p,
		    (size_t)max, &R->refs);
	if (err != ATR_OK)
		return err;
	atb_refs_set_io(R->refs, R->io_fd);
	for (i = 0; i < R->nks; i++)
		if (R->ks[i].pem[0] != '\0')
			(void)atb_refs_load_rsa(R->refs, R->ks[i].pem);
	atr_detail_clear();
	return ATR_OK;
}

static enum atr_err
run_setup(struct run *R, int cells)
{
	uint64_t max;
	unsigned maxthr;
	enum atr_err err;

	R->cores = atr_cpu_count();
	R->fs = R->cfg->frame_size ? R->cfg->frame_size : ATR_FRAME_DEFAULT;
	err = config_check(R, &max, &maxthr);
	/* A bad --io DIR is refused before any key is made. */
	if (err == ATR_OK)
		err = bn_io_open(R);
	if (err == ATR_OK)
		err = bn_ksets_open(R);
	if (err != ATR_OK)
		return err;
	/* The references include AES-GCM over 16 KiB, as openssl speed. */
	if (max < 16384)
		max = 16384;
	R->max_obj = bn_obj_cap(max, R->fs);
	err = buffers_setup(R, max, R->max_obj);
	if (err != ATR_OK || !cells)
		return err;
	R->nw = maxthr;
	err = bn_workers_start(R, R->max_obj);
	if (err != ATR_OK)
		return err;
	/* Builds the pools in memory: the cells alone do the --io. */
	R->setup.no_io = 1;
	return bn_worker_alloc(&R->setup, R, 0, R->max_obj);
}

int
bn_stop_check(struct run *R)
{
	if (!R->stopped && R->cfg->stop != NULL &&
	    R->cfg->stop(R->cfg->stop_arg))
		R->stopped = 1;
	return R->stopped;
}

void
bn_progress(struct run *R, const char *what)
{
	if (R->cfg->progress != NULL)
		R->cfg->progress(R->cfg->progress_arg, R->done, R->total, what);
}

static double
cpu_seconds(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) != 0)
		return NAN;
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	    (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}


static enum atr_err
run_common(const struct atb_config *cfg, struct atb_results **out, int cells)
{
	struct run *R;
	struct atb_results *res;
	struct limspec ls[64];
	double *vals = NULL, *cpus = NULL, lim_s;
	size_t nl;
	unsigned npass;
	uint64_t t0 = atr_now_ns();
	double cpu0 = cpu_seconds();
	enum atr_err err;

	*out = NULL;
	R = calloc(1, sizeof(*R));
	res = calloc(1, sizeof(*res));
	if (R == NULL || res == NULL) {
		free(R);
		free(res);
		return ATR_ERR_NOMEM;
	}
	R->cfg = cfg;
	R->res = res;
	R->io_fd = -1;
	pthread_mutex_init(&R->mu, NULL);
	pthread_cond_init(&R->cv, NULL);
	pthread_cond_init(&R->done_cv, NULL);
	err = run_setup(R, cells);
	bn_results_begin(R, res);
	if (err != ATR_OK)
		goto out;
	res->clock_ns = atb_clock_cost_ns();
	if (cells && R->io_fd < 0)
		NOTE(R, "cells run in memory: the io phase is 0 by design "
		    "(plaintext and ciphertext are pre-faulted buffers)");
	else if (cells)
		NOTE(R, "cells run through files in %s (%s): encrypt writes "
		    "each object as atrest encrypt does (temporary file, fsync, "
		    "rename, directory fsync), decrypt reads back files written "
		    "before it was timed, from a warm page cache; each limit "
		    "adds io-write-N or io-read-N", cfg->io_dir, R->io_fs);
	nl = limit_list(R, ls, sizeof(ls) / sizeof(ls[0]));
	/* Cells: limits at the start and at the end.  Limits only: reps. */
	npass = cells ? 2 : cfg->reps;
	lim_s = cells ? (cfg->quick ? 0.02 : 0.05) : cfg->seconds;
	vals = calloc(nl * npass, sizeof(double));
	cpus = calloc(nl * npass, sizeof(double));
	if (vals == NULL || cpus == NULL) {
		err = ATR_ERR_NOMEM;
		goto out;
	}
	R->total = 1;
	bn_progress(R, "machine limits");
	err = limits_pass(R, ls, nl, lim_s, vals, cpus, 0, npass);
	if (err != ATR_OK)
		goto out;
	if (cells) {
		err = bn_run_groups(R);
		if (err != ATR_OK)
			goto out;
		bn_progress(R, "machine limits (end)");
		err = limits_pass(R, ls, nl, lim_s, vals, cpus, 1, npass);
	} else {
		unsigned p;

		for (p = 1; p < npass && err == ATR_OK; p++)
			err = limits_pass(R, ls, nl, lim_s, vals, cpus, p, npass);
	}
	if (err != ATR_OK)
		goto out;
	err = limits_store(R, ls, nl, vals, cpus, npass, npass);
	if (err != ATR_OK)
		goto out;
	res->env.load_end = atb_loadavg();
	bn_run_warnings(R);
	R->done = R->total;
	bn_progress(R, "");
out:
	free(vals);
	free(cpus);
	/* A storage failure (a full disk, a file gone) names DIR: the io
	 * code below knows only the names inside the run's directory. */
	if (err == ATR_ERR_IO && cfg->io_dir != NULL && !R->stopped &&
	    strncmp(atr_detail(), "--io ", 5) != 0) {
		char d[400];

		snprintf(d, sizeof(d), "%s", atr_detail());
		atr_detail_set("--io %s: %s", cfg->io_dir, d);
	}
	res->env.load_end = atb_loadavg();
	run_free(R);
	res->wall_s = (double)(atr_now_ns() - t0) / 1e9;
	res->cpu_s = cpu_seconds() - cpu0;
	pthread_mutex_destroy(&R->mu);
	pthread_cond_destroy(&R->cv);
	pthread_cond_destroy(&R->done_cv);
	free(R);
	if (err != ATR_OK) {
		char d[512];

		snprintf(d, sizeof(d), "%s", atr_detail());
		atb_results_free(res);
		atr_detail_set("%s", d);
		return err;
	}
	*out = res;
	return ATR_OK;
}

enum atr_err
atb_run(const struct atb_config *cfg, struct atb_results **out)
{
	return run_common(cfg, out, 1);
}

enum atr_err
atb_run_limits(const struct atb_config *cfg, struct atb_results **out)
{
	return run_common(cfg, out, 0);
}
