/*
 * test_bench.c - bench/: the latency histogram on known distributions,
 * the small statistics, the environment fingerprint, the references,
 * a tiny in-process run (counting wrapper, hierarchies, phases), the
 * JSON schema and CSV, the compare gate (a planted 20 % regression
 * fails, variation inside the threshold passes), and --io: the limit's
 * composition, cells through files, DIR left empty, bad DIRs refused.
 *
 * Speed is never asserted: only counts, bounds that hold on any
 * machine, and the shape of the results.
 */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include <cJSON.h>

#include "bench.h"
#include "testutil.h"

/* ---- histogram -------------------------------------------------------- */

static struct atb_hist *
hist_new(void)
{
	struct atb_hist *h = malloc(sizeof(*h));

	cr_assert_not_null(h);
	atb_hist_reset(h);
	return h;
}

static void
assert_close(double got, double want, double rel, const char *what)
{
	cr_assert(fabs(got - want) <= rel * want,
	    "%s: got %.1f, want %.1f within %.2f%%", what, got, want, rel * 100);
}

Test(hist, bucket_bounds_hold_every_value)
{
	static const uint64_t fixed[] = {
		0, 1, 127, 128, 129, 255, 256, 257, 1000, 4095, 4096, 65535,
		65536, 1000000, 123456789, 1ULL << 40, (1ULL << 63) - 1,
		1ULL << 63, UINT64_MAX - 1, UINT64_MAX,
	};
	uint64_t v = 1;
	size_t i, prev = 0;

	for (i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
		size_t idx = atb_hist_index(fixed[i]);

		cr_assert_lt(idx, ATB_HIST_BUCKETS, "index of %llu",
		    (unsigned long long)fixed[i]);
		cr_assert_leq(atb_hist_lower(idx), fixed[i]);
		cr_assert_geq(atb_hist_upper(idx), fixed[i]);
		cr_assert_geq(idx, prev, "index must not decrease");
		prev = idx;
	}
	cr_assert_eq(atb_hist_index(UINT64_MAX), ATB_HIST_BUCKETS - 1);
	cr_assert_eq(atb_hist_upper(ATB_HIST_BUCKETS - 1), UINT64_MAX);
	/* Exact below 256; relative width at most 1/128 above. */
	for (i = 0; i < 256; i++)
		cr_assert_eq(atb_hist_lower(atb_hist_index(i)), i);
	for (i = 0; i < 4000; i++) {
		size_t idx;
		double w;

		v = v * 6364136223846793005ULL + 1442695040888963407ULL;
		idx = atb_hist_index(v >> (i % 60));
		cr_assert_leq(atb_hist_lower(idx), v >> (i % 60));
		cr_assert_geq(atb_hist_upper(idx), v >> (i % 60));
		if ((v >> (i % 60)) >= 256) {
			w = (double)(atb_hist_upper(idx) - atb_hist_lower(idx) + 1);
			cr_assert_leq(w / (double)atb_hist_lower(idx), 1.0 / 128.0,
			    "bucket %zu too wide", idx);
		}
		/* Adjacent buckets tile the range without gaps. */
		if (idx + 1 < ATB_HIST_BUCKETS)
			cr_assert_eq(atb_hist_upper(idx) + 1,
			    atb_hist_lower(idx + 1));
	}
}

Test(hist, uniform_percentiles)
{
	struct atb_hist *h = hist_new();
	uint64_t v;

	for (v = 1; v <= 1000000; v++)
		atb_hist_add(h, v);
	cr_assert_eq(h->count, 1000000);
	cr_assert_eq(atb_hist_quantile(h, 0.0), 1);
	cr_assert_eq(atb_hist_quantile(h, 1.0), 1000000);
	assert_close(atb_hist_quantile(h, 0.50), 500000, 0.008, "p50");
	assert_close(atb_hist_quantile(h, 0.90), 900000, 0.008, "p90");
	assert_close(atb_hist_quantile(h, 0.99), 990000, 0.008, "p99");
	assert_close(atb_hist_quantile(h, 0.999), 999000, 0.008, "p99.9");
	assert_close(atb_hist_mean(h), 500000.5, 1e-9, "mean");
	free(h);
}

Test(hist, exponential_percentiles)
{
	/* Deterministic samples at the midpoints of N equal-probability
	 * slices of an exponential with mean 50 us (in ns). */
	const double mean = 50000.0;
	const unsigned n = 2000000;
	static const double qs[] = {0.10, 0.50, 0.90, 0.99, 0.999};
	struct atb_hist *h = hist_new();
	unsigned i;

	for (i = 0; i < n; i++)
		atb_hist_add(h, (uint64_t)llround(-mean *
		    log(1.0 - (i + 0.5) / n)));
	for (i = 0; i < sizeof(qs) / sizeof(qs[0]); i++) {
		char what[32];

		snprintf(what, sizeof(what), "q%.3f", qs[i]);
		assert_close(atb_hist_quantile(h, qs[i]), -mean * log(1 - qs[i]),
		    0.01, what);
	}
	assert_close(atb_hist_mean(h), mean, 0.001, "mean");
	free(h);
}

Test(hist, nearest_rank_on_two_points)
{
	struct atb_hist *h = hist_new();

	/* 990 fast ops at 10 us and 10 slow ones at 1 ms. */
	atb_hist_add_n(h, 10000, 990);
	atb_hist_add_n(h, 1000000, 10);
	assert_close(atb_hist_quantile(h, 0.50), 10000, 0.004, "p50");
	assert_close(atb_hist_quantile(h, 0.99), 10000, 0.004, "p99");
	assert_close(atb_hist_quantile(h, 0.991), 1000000, 0.004, "p99.1");
	cr_assert_eq(atb_hist_quantile(h, 1.0), 1000000);
	free(h);
}

Test(hist, constant_and_empty)
{
	struct atb_hist *h = hist_new();

	cr_assert_eq(atb_hist_quantile(h, 0.5), 0, "empty histogram");
	cr_assert_eq(atb_hist_mean(h), 0.0);
	atb_hist_add_n(h, 123457, 1000);
	/* Clamped to [min, max]: a constant is reported exactly. */
	cr_assert_eq(atb_hist_quantile(h, 0.01), 123457);
	cr_assert_eq(atb_hist_quantile(h, 0.5), 123457);
	cr_assert_eq(atb_hist_quantile(h, 0.999), 123457);
	free(h);
}

Test(hist, merge_equals_single)
{
	struct atb_hist *a = hist_new(), *b = hist_new(), *all = hist_new();
	uint64_t v = 7;
	unsigned i;

	for (i = 0; i < 100000; i++) {
		v = v * 2862933555777941757ULL + 3037000493ULL;
		atb_hist_add(i % 3 ? a : b, v >> 40);
		atb_hist_add(all, v >> 40);
	}
	atb_hist_merge(a, b);
	cr_assert_eq(a->count, all->count);
	cr_assert_eq(a->min, all->min);
	cr_assert_eq(a->max, all->max);
	cr_assert_eq(memcmp(a->c, all->c, sizeof(a->c)), 0);
	cr_assert_eq(atb_hist_quantile(a, 0.99), atb_hist_quantile(all, 0.99));
	free(a);
	free(b);
	free(all);
}

Test(hist, millions_of_samples_constant_memory)
{
	struct atb_hist *h = hist_new();
	unsigned i;

	/* The structure is fixed-size: a few tens of KB whatever the count. */
	cr_assert_lt(sizeof(*h), 64 * 1024);
	for (i = 0; i < 5000000; i++)
		atb_hist_add(h, 1000 + i % 9000);
	cr_assert_eq(h->count, 5000000);
	assert_close(atb_hist_quantile(h, 0.5), 5500, 0.01, "p50");
	free(h);
}

/* ---- statistics --------------------------------------------------------- */

Test(stat, median_min_max_spread)
{
	double odd[] = {5, 1, 3}, even[] = {4, 1, 3, 2}, one[] = {7};
	struct atb_stat s;

	atb_stat_of(odd, 3, &s);
	cr_assert(s.med == 3 && s.min == 1 && s.max == 5 && s.n == 3);
	cr_assert_float_eq(atb_stat_spread(&s), 4.0 / 3.0, 1e-12);
	atb_stat_of(even, 4, &s);
	cr_assert(s.med == 2.5 && s.min == 1 && s.max == 4);
	atb_stat_of(one, 1, &s);
	cr_assert(s.med == 7 && atb_stat_spread(&s) == 0);
	atb_stat_of(NULL, 0, &s);
	cr_assert(s.n == 0 && isnan(s.med));
	cr_assert_eq(atb_stat_spread(&s), 0.0);
}

Test(stat, names_parse_and_reject)
{
	enum atb_hier h;
	enum atb_op o;

	cr_assert_eq(atb_hier_parse("intermediate", &h), 0);
	cr_assert_eq(h, ATB_INTERMEDIATE);
	cr_assert_eq(atb_hier_parse("cached", &h), 0);
	cr_assert_eq(h, ATB_CACHED);
	cr_assert_eq(atb_hier_parse("Cached", &h), -1);
	cr_assert_eq(atb_hier_parse("", &h), -1);
	cr_assert_eq(atb_op_parse("decrypt", &o), 0);
	cr_assert_eq(o, ATB_DECRYPT);
	cr_assert_eq(atb_op_parse("sign", &o), -1);
}

/* ---- environment --------------------------------------------------------- */

Test(env, cpuinfo_flags_are_whole_words)
{
	struct atb_env e;
	static const char text[] =
	    "processor\t: 0\n"
	    "model name\t: Test CPU 9000\n"
	    "flags\t\t: fpu vaes avx2 avx512f avx512ifmaX sha_ni pclmulqdq\n"
	    "processor\t: 1\n";

	memset(&e, 0, sizeof(e));
	atb_env_parse_cpuinfo(text, &e);
	cr_assert_str_eq(e.cpu_model, "Test CPU 9000");
	cr_assert_eq(e.aes, 0, "'vaes' is not 'aes'");
	cr_assert_eq(e.vaes, 1);
	cr_assert_eq(e.avx2, 1);
	cr_assert_eq(e.avx512f, 1);
	cr_assert_eq(e.avx512ifma, 0, "'avx512ifmaX' is not 'avx512ifma'");
	cr_assert_eq(e.sha_ni, 1);
	cr_assert_eq(e.pclmulqdq, 1);
	cr_assert_eq(e.vpclmulqdq, 0);
	cr_assert_str_eq(e.cpu_flags, "pclmulqdq vaes avx2 avx512f sha_ni");
}

Test(env, collect_fingerprint)
{
	struct atb_env e;

	cr_assert_eq(atb_env_collect(&e), ATR_OK);
	cr_assert_geq(e.cores, 1);
	cr_assert_eq(strncmp(e.openssl_version, "OpenSSL ", 8), 0,
	    "openssl version '%s'", e.openssl_version);
	cr_assert_neq(e.compiler[0], '\0');
	cr_assert_neq(e.kernel[0], '\0');
	cr_assert_eq(strlen(e.started), 20, "started '%s'", e.started);
	cr_assert_eq(e.started[10], 'T');
	cr_assert_eq(e.started[19], 'Z');
}

/* ---- references ------------------------------------------------------------ */

Test(limits, references_measure_positive_times)
{
	static const size_t cap = 128 * 1024;
	uint8_t *in = malloc(cap + 64), *out = malloc(cap + 64),
	    *scr = malloc(cap + 64);
	static const enum atb_limit_kind kinds[] = {
		ATB_L_GCM_SEAL, ATB_L_GCM_OPEN, ATB_L_GCM_STREAM, ATB_L_KWP_WRAP,
		ATB_L_KWP_UNWRAP, ATB_L_HKDF, ATB_L_HMAC, ATB_L_RAND,
		ATB_L_GCM_KEY, ATB_L_EMPTY, ATB_L_RSA_PUB, ATB_L_RSA_PRIV,
	};
	struct atb_refs *r = NULL;
	size_t i;
	double ns, cpu;

	cr_assert(in && out && scr);
	memset(in, 0x41, cap + 64);
	memset(out, 0x42, cap + 64);
	memset(scr, 0x43, cap + 64);
	cr_assert_eq(atb_refs_new(in, out, scr, cap, &r), ATR_OK);
	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		enum atr_err err = atb_ref_measure(r, kinds[i], 16384, 2048,
		    0.002, 3, &ns, &cpu);

		cr_assert_eq(err, ATR_OK, "%s: %s", atb_limit_kind_name(kinds[i]),
		    atr_strerror(err));
		cr_assert(ns > 0 && isfinite(ns), "%s: %f ns",
		    atb_limit_kind_name(kinds[i]), ns);
		cr_assert(cpu >= 0 && isfinite(cpu));
	}
	/* Larger than the buffers: refused, not overrun. */
	cr_assert_eq(atb_ref_measure(r, ATB_L_GCM_SEAL, cap + 1, 0, 0.001, 1,
	    &ns, NULL), ATR_ERR_LIMIT);
	cr_assert(isnan(ns));
	atb_refs_free(r);
	free(in);
	free(out);
	free(scr);
}

Test(limits, names)
{
	char n[64];

	atb_limit_name(ATB_L_GCM_SEAL, 1024, 0, n, sizeof(n));
	cr_assert_str_eq(n, "aes-256-gcm-seal-1024");
	atb_limit_name(ATB_L_RSA_PRIV, 0, 3072, n, sizeof(n));
	cr_assert_str_eq(n, "rsa-3072-private");
	atb_limit_name(ATB_L_KWP_WRAP, 0, 0, n, sizeof(n));
	cr_assert_str_eq(n, "aes-kwp-wrap");
}

/* ---- a tiny run ---------------------------------------------------------------- */

static struct atb_results *
tiny_run(const char *const *keys, size_t nkeys)
{
	struct atb_config c;
	struct atb_results *r = NULL;
	enum atr_err err;
	size_t i;

	atb_config_default(&c);
	for (i = 0; i < nkeys; i++)
		c.keys[i] = keys[i];
	c.nkeys = nkeys;
	c.sizes[0] = 1024;
	c.sizes[1] = 70000;   /* two frames of 64K: a short final frame */
	c.nsizes = 2;
	c.threads[0] = 1;
	c.nthreads = 1;
	c.seconds = 0.01;
	c.warmup = 0.002;
	c.reps = 2;
	c.ik_every = 7;
	c.cache_max_uses = 4;
	err = atb_run(&c, &r);
	cr_assert_eq(err, ATR_OK, "atb_run: %s: %s", atr_strerror(err),
	    atr_detail());
	return r;
}

static const struct atb_cell *
cell(const struct atb_results *r, const char *key, enum atb_hier h,
    uint64_t size, enum atb_op op)
{
	size_t i;

	for (i = 0; i < r->ncells; i++)
		if (strcmp(r->cells[i].key, key) == 0 && r->cells[i].hier == h &&
		    r->cells[i].size == size && r->cells[i].op == op)
			return &r->cells[i];
	cr_assert_fail("no cell %s %s %llu %s", key, atb_hier_name(h),
	    (unsigned long long)size, atb_op_name(op));
	return NULL;
}

Test(run, counts_calls_per_hierarchy, .timeout = 180)
{
	static const char *const keys[] = {"smk"};
	struct atb_results *r = tiny_run(keys, 1);
	const struct atb_cell *c;
	size_t i;

	cr_assert_eq(r->ncells, 3 * 2 * 2);
	for (i = 0; i < r->ncells; i++) {
		const struct atb_cell *x = &r->cells[i];
		double sum = 0;
		int p;

		cr_assert_eq(x->skipped, 0, "cell %zu: %s", i, x->note);
		cr_assert_gt(x->ops, 0);
		cr_assert_eq(x->reps, 2);
		cr_assert(x->ops_per_s.med > 0 && x->p50_us > 0);
		cr_assert(x->p50_us <= x->p99_us && x->p99_us <= x->max_us);
		cr_assert(x->vs_limit.med > 0 && x->vs_limit_cpu.med > 0);
		cr_assert_eq(x->kms_errors, 0);
		cr_assert_eq(x->phase_us[ATB_PH_IO], 0.0, "in-memory runs");
		/* The phases split the op: their sum is the mean latency,
		 * less the loop's own histogram update. */
		for (p = 0; p < ATB_PH__COUNT; p++)
			sum += x->phase_us[p];
		cr_assert(sum <= x->mean_us * 1.02 && sum >= x->mean_us * 0.7,
		    "phases %.3f vs mean %.3f us", sum, x->mean_us);
	}
	/* per-object: one KEK call per object, in both directions. */
	c = cell(r, "smk", ATB_PER_OBJECT, 1024, ATB_ENCRYPT);
	cr_assert_eq(c->kms_calls, c->ops);
	cr_assert_gt(c->phase_us[ATB_PH_WRAP], 0);
	cr_assert_eq(c->phase_us[ATB_PH_UNWRAP], 0);
	cr_assert_lt(c->cache_hit_rate, 0, "no cache in per-object");
	c = cell(r, "smk", ATB_PER_OBJECT, 70000, ATB_DECRYPT);
	cr_assert_eq(c->kms_calls, c->ops);
	cr_assert_gt(c->phase_us[ATB_PH_UNWRAP], 0);
	/* intermediate, a new key every 7 objects.  The key lives for the
	 * whole cell (the warm-up's key carries on), so the recorded ops
	 * hold ops/7 rotations, give or take one. */
	c = cell(r, "smk", ATB_INTERMEDIATE, 1024, ATB_ENCRYPT);
	cr_assert_geq(c->kms_calls * 7 + 7, c->ops, "%llu calls, %llu ops",
	    (unsigned long long)c->kms_calls, (unsigned long long)c->ops);
	cr_assert_leq(c->kms_calls, c->ops / 7 + 1);
	/* cached, 4 uses per DEK: a hit rate of 3/4, give or take one. */
	c = cell(r, "smk", ATB_CACHED, 1024, ATB_ENCRYPT);
	cr_assert_leq(fabs(c->cache_hit_rate - 0.75), 1.0 / c->ops + 1e-9,
	    "hit rate %f over %llu ops", c->cache_hit_rate,
	    (unsigned long long)c->ops);
	cr_assert_geq(c->kms_calls * 4 + 4, c->ops);
	/* Decrypting a cached pool: one unwrap per share the worker's key
	 * cache does not hold. */
	c = cell(r, "smk", ATB_CACHED, 1024, ATB_DECRYPT);
	cr_assert_gt(c->cache_hit_rate, 0.5);
	cr_assert_lt(c->kms_calls, c->ops);
	atb_results_free(r);
}

/* The cells' decrypt cache honours cache_ttl[0] (issue 11): with a
 * 1 us lifetime no entry is ever served, every object unwraps. */
Test(run, decrypt_cache_ttl_applies, .timeout = 180)
{
	struct atb_config c;
	struct atb_results *r = NULL;
	const struct atb_cell *x;
	enum atr_err err;

	atb_config_default(&c);
	c.keys[0] = "smk";
	c.nkeys = 1;
	c.hier[ATB_PER_OBJECT] = c.hier[ATB_INTERMEDIATE] = 0;
	c.ops[ATB_ENCRYPT] = 0;
	c.sizes[0] = 1024;
	c.nsizes = 1;
	c.threads[0] = 1;
	c.nthreads = 1;
	c.seconds = 0.01;
	c.warmup = 0.002;
	c.reps = 2;
	c.cache_ttl[0] = 1e-6;
	err = atb_run(&c, &r);
	cr_assert_eq(err, ATR_OK, "atb_run: %s", atr_detail());
	x = cell(r, "smk", ATB_CACHED, 1024, ATB_DECRYPT);
	cr_assert_gt(x->ops, 10);
	cr_assert_eq(x->kms_calls, x->ops, "%llu calls, %llu ops",
	    (unsigned long long)x->kms_calls, (unsigned long long)x->ops);
	cr_assert_eq(r->cfg.cache_ttl[0], 1e-6);
	atb_results_free(r);
}

Test(run, cmk_against_smk, .timeout = 180)
{
	static const char *const keys[] = {"smk", "rsa-2048"};
	struct atb_results *r = tiny_run(keys, 2);
	const struct atb_cell *s, *k;

	s = cell(r, "smk", ATB_PER_OBJECT, 1024, ATB_ENCRYPT);
	k = cell(r, "rsa-2048", ATB_PER_OBJECT, 1024, ATB_ENCRYPT);
	cr_assert_eq(s->cmk, 0);
	cr_assert_eq(k->cmk, 1);
	cr_assert_eq(s->cmk_vs_smk.n, 0, "SMK cells have no CMK/SMK ratio");
	cr_assert_eq(k->cmk_vs_smk.n, 2);
	cr_assert_gt(k->cmk_vs_smk.med, 0);
	cr_assert_eq(k->kms_calls, k->ops);
	/* RSA references exist next to the cells and in the limits. */
	cr_assert_gt(k->limit_kek_us, s->limit_kek_us);
	k = cell(r, "rsa-2048", ATB_PER_OBJECT, 1024, ATB_DECRYPT);
	cr_assert_eq(k->skipped, 0, "%s", k->note);
	cr_assert_eq(k->kms_calls, k->ops);
	{
		size_t i;
		int pub = 0, priv = 0;

		for (i = 0; i < r->nlimits; i++) {
			pub |= strcmp(r->limits[i].name, "rsa-2048-public") == 0;
			priv |= strcmp(r->limits[i].name, "rsa-2048-private") == 0;
		}
		cr_assert(pub && priv);
	}
	atb_results_free(r);
}

/* --until-quiet on a one-group run (smk and rsa-2048, per-object 1K
 * encrypt): reps first repetitions, noise and alpha as given. */
static struct atb_results *
quiet_run(unsigned reps, double noise, double alpha, double until)
{
	struct atb_config c;
	struct atb_results *r = NULL;
	enum atr_err err;

	atb_config_default(&c);
	c.keys[0] = "smk";
	c.keys[1] = "rsa-2048";
	c.nkeys = 2;
	c.hier[ATB_INTERMEDIATE] = c.hier[ATB_CACHED] = 0;
	c.ops[ATB_DECRYPT] = 0;
	c.sizes[0] = 1024;
	c.nsizes = 1;
	c.threads[0] = 1;
	c.nthreads = 1;
	c.seconds = 0.005;
	c.warmup = 0.001;
	c.reps = reps;
	c.noise_pct = noise;
	c.alpha = alpha;
	c.until_quiet = until;
	err = atb_run(&c, &r);
	cr_assert_eq(err, ATR_OK, "atb_run: %s: %s", atr_strerror(err),
	    atr_detail());
	cr_assert_eq(r->ncells, 2);
	return r;
}

Test(run, until_quiet_adds_the_repetitions_the_test_needs, .timeout = 180)
{
	struct atb_results *r;
	size_t i;

	/* A --noise no spread reaches: only the count decides.  2
	 * repetitions are too few for p < 0.05 (4 a side): 2 rounds more
	 * for both members, interleaved, so the CMK/SMK ratio pairs all 4. */
	r = quiet_run(2, 1e6, 0.05, 60);
	for (i = 0; i < r->ncells; i++) {
		const struct atb_cell *c = &r->cells[i];

		cr_assert_eq(c->reps, 4, "%s: %u reps", c->key, c->reps);
		cr_assert_eq(c->extra_reps, 2);
		cr_assert_eq(c->nrep_v, 4);
		cr_assert(c->quiet);
		cr_assert_gt(c->rep_vs_limit_cpu[3], 0);
	}
	cr_assert_eq(cell(r, "rsa-2048", ATB_PER_OBJECT, 1024,
	    ATB_ENCRYPT)->cmk_vs_smk.n, 4);
	cr_assert_eq(r->quiet_cells, 2);
	cr_assert_eq(r->quiet_reps, 4);
	atb_results_free(r);
	/* Already enough: nothing re-run.  At alpha 0.01 (5 a side): one
	 * round more. */
	r = quiet_run(4, 1e6, 0.05, 60);
	cr_assert_eq(r->quiet_cells, 0);
	cr_assert_eq(r->cells[0].reps, 4);
	cr_assert(r->cells[0].quiet && r->cells[1].quiet);
	atb_results_free(r);
	r = quiet_run(4, 1e6, 0.01, 60);
	cr_assert_eq(r->cells[0].reps, 5);
	cr_assert_eq(r->cells[1].extra_reps, 1);
	atb_results_free(r);
	/* Without --until-quiet the verdict is still recorded. */
	r = quiet_run(2, 1e6, 0.05, 0);
	cr_assert_eq(r->cells[0].reps, 2);
	cr_assert(!r->cells[0].quiet);
	cr_assert_eq(r->cells[0].extra_reps, 0);
	atb_results_free(r);
}

Test(run, until_quiet_stops_when_the_time_is_spent, .timeout = 180)
{
	struct atb_results *r;
	char *j;

	/* --noise 0: only identical repetitions would be quiet, so the
	 * cells stay noisy; the run stops adding rounds once its 0.3 s are
	 * spent (well before ATB_REPS_MAX) and says so per cell. */
	r = quiet_run(2, 0, 0.05, 0.3);
	cr_assert_eq(r->quiet_cells, 2);
	cr_assert(!r->cells[0].quiet && !r->cells[1].quiet);
	cr_assert_geq(r->cells[0].extra_reps, 1);
	cr_assert_lt(r->cells[0].reps, ATB_REPS_MAX);
	cr_assert_eq(r->cells[0].reps, 2 + r->cells[0].extra_reps);
	j = atb_json_string(r);
	cr_assert_not_null(j);
	cr_assert_not_null(strstr(j, "\"quiet\":\tfalse"), "%.400s", j);
	cr_assert_not_null(strstr(j, "\"until_quiet_s\":\t0.3"));
	free(j);
	atb_results_free(r);
}

Test(run, bad_configurations_fail_cleanly)
{
	static struct atb_results sentinel;
	struct atb_config c;
	struct atb_results *r = &sentinel;

	atb_config_quick(&c);
	c.keys[0] = "rsa-1024";
	c.nkeys = 1;
	cr_assert_eq(atb_run(&c, &r), ATR_ERR_USAGE);
	cr_assert_null(r);
	cr_assert_not_null(strstr(atr_detail(), "rsa-1024"), "%s", atr_detail());
	atb_config_quick(&c);
	c.keys[0] = "file:/nonexistent/atrest-bench-key";
	c.nkeys = 1;
	cr_assert_neq(atb_run(&c, &r), ATR_OK);
	atb_config_quick(&c);
	c.sizes[0] = 0;
	cr_assert_eq(atb_run(&c, &r), ATR_ERR_USAGE);
	atb_config_quick(&c);
	c.reps = 0;
	cr_assert_eq(atb_run(&c, &r), ATR_ERR_USAGE);
}

/* ---- JSON schema and CSV ---------------------------------------------------------- */

static const char *const cell_fields[] = {
	"key", "hierarchy", "size", "op", "threads", "ops_per_s", "mb_per_s",
	"p50_us", "p90_us", "p99_us", "p999_us", "max_us", "kms_calls",
	"kms_calls_per_op", "cache_hit_rate", "cpu_us_per_op", "phase_us",
	"limit_ops_per_s", "vs_limit", "vs_limit_cpu", "vs_aead", "cmk_vs_smk",
	"vs_1thread", "spread", "noisy", "cdf_us", "skipped", "reps",
};

Test(json, schema_of_a_real_run, .timeout = 180)
{
	static const char *const keys[] = {"smk"};
	struct atb_results *r = tiny_run(keys, 1);
	char *dir = tu_tmpdir("bench-json"), *path, *text, why[256];
	cJSON *root, *cells, *c, *x;
	size_t i, n = 0;

	cr_assert_not_null(dir);
	path = tu_path(dir, "r.json");
	cr_assert_eq(atb_write_json(r, path), ATR_OK);
	text = (char *)tu_read_file(path, NULL);
	cr_assert_not_null(text);
	cr_assert_eq(atb_json_check(text, why, sizeof(why)), 0, "%s", why);
	root = cJSON_Parse(text);
	cr_assert_not_null(root);
	cr_assert_str_eq(cJSON_GetObjectItem(root, "schema")->valuestring,
	    ATB_SCHEMA);
	x = cJSON_GetObjectItem(root, "environment");
	cr_assert(cJSON_IsObject(cJSON_GetObjectItem(x, "cpu_flags")));
	cr_assert(cJSON_IsBool(cJSON_GetObjectItem(cJSON_GetObjectItem(x,
	    "cpu_flags"), "vaes")));
	cr_assert(cJSON_IsString(cJSON_GetObjectItem(x, "openssl_build")));
	cr_assert(cJSON_IsString(cJSON_GetObjectItem(x, "compiler")));
	cr_assert(cJSON_IsString(cJSON_GetObjectItem(x, "kernel")));
	cr_assert(cJSON_IsNumber(cJSON_GetObjectItem(cJSON_GetObjectItem(root,
	    "harness"), "empty_op_ns")));
	x = cJSON_GetObjectItem(root, "limits");
	cr_assert_eq((size_t)cJSON_GetArraySize(x), r->nlimits);
	cr_assert_gt(cJSON_GetArraySize(x), 5);
	cells = cJSON_GetObjectItem(root, "cells");
	cJSON_ArrayForEach(c, cells) {
		for (i = 0; i < sizeof(cell_fields) / sizeof(cell_fields[0]); i++)
			cr_assert_not_null(cJSON_GetObjectItem(c, cell_fields[i]),
			    "cell %zu lacks %s", n, cell_fields[i]);
		cr_assert(cJSON_IsNumber(cJSON_GetObjectItem(c, "ops_per_s")));
		cr_assert(cJSON_IsNumber(cJSON_GetObjectItem(c, "p99_us")));
		cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(c, "cdf_us")),
		    ATB_CDF_POINTS);
		n++;
	}
	cr_assert_eq(n, r->ncells);
	cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(root, "targets")),
	    ATB_NTARGETS);
	cJSON_Delete(root);
	free(text);
	free(path);
	atb_results_free(r);
	tu_rmtree(dir);
	free(dir);
}

Test(json, check_rejects_broken_documents)
{
	static const char good[] =
	    "{\"schema\":\"atrest-bench/1\",\"environment\":{\"cpu_model\":\"x\","
	    "\"openssl_version\":\"OpenSSL 3\",\"cores\":2},\"limits\":[],"
	    "\"cells\":[{\"key\":\"smk\",\"hierarchy\":\"cached\",\"size\":1024,"
	    "\"op\":\"encrypt\",\"threads\":1,\"kms_calls\":3,\"skipped\":false,"
	    "\"ops_per_s\":10,\"mb_per_s\":0.01,\"p50_us\":1,\"p99_us\":2,"
	    "\"vs_limit\":0.5,\"cmk_vs_smk\":null,\"limit_ops_per_s\":20}]}";
	struct {
		const char *from, *to, *why;
	} bad[] = {
		{"atrest-bench/1", "atrest-bench/0", "schema"},
		{"\"cells\"", "\"cellz\"", "cells"},
		{"\"op\":\"encrypt\"", "\"op\":\"sign\"", "op"},
		{"\"op\":\"encrypt\",", "", "op"},
		{"\"threads\":1", "\"threads\":0", "threads"},
		{"\"p99_us\":2", "\"p99_us\":\"2\"", "p99_us"},
		{"\"skipped\":false", "\"skipped\":0", "skipped"},
		{"\"cores\":2", "\"cores\":\"2\"", "environment"},
		{"{\"schema\"", "[{\"schema\"", "JSON"},
	};
	char why[256], doc[2048];
	size_t i;

	cr_assert_eq(atb_json_check(good, why, sizeof(why)), 0, "%s", why);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *p = strstr(good, bad[i].from);
		size_t pre;

		cr_assert_not_null(p);
		pre = (size_t)(p - good);
		snprintf(doc, sizeof(doc), "%.*s%s%s", (int)pre, good, bad[i].to,
		    p + strlen(bad[i].from));
		why[0] = '\0';
		cr_assert_eq(atb_json_check(doc, why, sizeof(why)), -1,
		    "case %zu accepted", i);
		cr_assert_not_null(strstr(why, bad[i].why), "case %zu: '%s'", i,
		    why);
	}
}

Test(csv, one_row_per_cell, .timeout = 180)
{
	static const char *const keys[] = {"smk"};
	struct atb_results *r = tiny_run(keys, 1);
	char *dir = tu_tmpdir("bench-csv"), *path, *text, *line, *eol;
	size_t rows = 0, cols0 = 0;

	cr_assert_not_null(dir);
	path = tu_path(dir, "r.csv");
	cr_assert_eq(atb_write_csv(r, path), ATR_OK);
	text = (char *)tu_read_file(path, NULL);
	cr_assert_not_null(text);
	cr_assert_eq(strncmp(text, "key,cmk,hierarchy,size,op,threads,", 34), 0);
	for (line = text; *line != '\0'; line = eol + 1) {
		size_t cols = 1;
		char *p;

		eol = strchr(line, '\n');
		cr_assert_not_null(eol, "row %zu is not terminated", rows);
		*eol = '\0';
		cr_assert_eq(line[strlen(line) - 1], '\r', "RFC 4180 CRLF");
		for (p = line; *p; p++)
			cols += *p == ',';
		if (rows == 0)
			cols0 = cols;
		cr_assert_eq(cols, cols0, "row %zu has %zu columns, not %zu",
		    rows, cols, cols0);
		rows++;
	}
	cr_assert_eq(rows, r->ncells + 1);
	free(text);
	free(path);
	atb_results_free(r);
	tu_rmtree(dir);
	free(dir);
}

/* ---- compare ------------------------------------------------------------------------ */

/* A results document with n cells; ratio[i] is cell i's vs_limit (and
 * 1.1 times that its vs_limit_cpu); best[i], when given, the best
 * repetition of both (the _max fields). */
static char *
doc_with_best(const double *ratio, const double *best, size_t n,
    const char *skip_key)
{
	cJSON *root = cJSON_CreateObject(), *env, *cells;
	char *s;
	size_t i;

	cJSON_AddStringToObject(root, "schema", ATB_SCHEMA);
	cJSON_AddStringToObject(root, "started", "2026-11-28T00:00:00Z");
	env = cJSON_AddObjectToObject(root, "environment");
	cJSON_AddStringToObject(env, "cpu_model", "Test CPU");
	cJSON_AddStringToObject(env, "openssl_version", "OpenSSL 3.0.x");
	cJSON_AddNumberToObject(env, "cores", 2);
	cJSON_AddArrayToObject(root, "limits");
	cells = cJSON_AddArrayToObject(root, "cells");
	for (i = 0; i < n; i++) {
		cJSON *c = cJSON_CreateObject();
		char key[32];

		snprintf(key, sizeof(key), "key%zu", i);
		cJSON_AddStringToObject(c, "key", key);
		cJSON_AddStringToObject(c, "hierarchy", "per-object");
		cJSON_AddNumberToObject(c, "size", 1024);
		cJSON_AddStringToObject(c, "op", "encrypt");
		cJSON_AddNumberToObject(c, "threads", 1);
		cJSON_AddNumberToObject(c, "kms_calls", 100);
		cJSON_AddBoolToObject(c, "skipped",
		    skip_key && strcmp(skip_key, key) == 0);
		cJSON_AddNumberToObject(c, "ops_per_s", 1000 * ratio[i]);
		cJSON_AddNumberToObject(c, "mb_per_s", 1.024 * ratio[i]);
		cJSON_AddNumberToObject(c, "p50_us", 10);
		cJSON_AddNumberToObject(c, "p99_us", 20);
		cJSON_AddNumberToObject(c, "vs_limit", ratio[i]);
		cJSON_AddNumberToObject(c, "vs_limit_cpu", ratio[i] * 1.1);
		if (best != NULL) {
			cJSON_AddNumberToObject(c, "vs_limit_min", ratio[i]);
			cJSON_AddNumberToObject(c, "vs_limit_cpu_min",
			    ratio[i] * 1.1);
			cJSON_AddNumberToObject(c, "vs_limit_max", best[i]);
			cJSON_AddNumberToObject(c, "vs_limit_cpu_max", best[i] * 1.1);
		}
		cJSON_AddNullToObject(c, "cmk_vs_smk");
		cJSON_AddNumberToObject(c, "limit_ops_per_s", 2000);
		cJSON_AddItemToArray(cells, c);
	}
	s = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	cr_assert_not_null(s);
	return s;
}

static char *
doc_with(const double *ratio, size_t n, const char *skip_key)
{
	return doc_with_best(ratio, NULL, n, skip_key);
}

Test(compare, planted_regression_fails)
{
	double base[] = {0.50, 0.80, 0.95, 0.30}, cur[4];
	struct atb_cmp c;
	char *a, *b;
	size_t i;

	memcpy(cur, base, sizeof(cur));
	cur[2] *= 0.80;   /* a 20 % regression in one cell */
	a = doc_with(base, 4, NULL);
	b = doc_with(cur, 4, NULL);
	cr_assert_eq(atb_compare(a, b, 10.0, 0, 0.05, 0, &c), ATR_OK);
	cr_assert_eq(c.regressions, 1);
	cr_assert_eq(c.nrows, 4);
	for (i = 0; i < c.nrows; i++)
		cr_assert_eq(c.rows[i].regressed, i == 2, "row %zu", i);
	cr_assert_float_eq(c.rows[2].change_pct, -20.0, 1e-6);
	atb_cmp_free(&c);
	/* The same on the CPU-time metric. */
	cr_assert_eq(atb_compare(a, b, 10.0, 0, 0.05, 1, &c), ATR_OK);
	cr_assert_eq(c.regressions, 1);
	atb_cmp_free(&c);
	/* A threshold above the drop lets it pass. */
	cr_assert_eq(atb_compare(a, b, 25.0, 0, 0.05, 0, &c), ATR_OK);
	cr_assert_eq(c.regressions, 0);
	atb_cmp_free(&c);
	free(a);
	free(b);
}

Test(compare, variation_inside_threshold_passes)
{
	double base[] = {0.50, 0.80, 0.95, 0.30, 0.10};
	double cur[] = {0.47, 0.86, 0.91, 0.32, 0.0905};  /* -6..+7.5 % */
	double better[] = {0.90, 1.60, 1.90, 0.60, 0.20};
	struct atb_cmp c;
	char *a = doc_with(base, 5, NULL), *b = doc_with(cur, 5, NULL);
	char *d = doc_with(better, 5, NULL);

	cr_assert_eq(atb_compare(a, b, 10.0, 0, 0.05, 0, &c), ATR_OK);
	cr_assert_eq(c.regressions, 0);
	cr_assert_eq(c.missing + c.added, 0);
	atb_cmp_free(&c);
	cr_assert_eq(atb_compare(a, d, 10.0, 0, 0.05, 0, &c), ATR_OK);
	cr_assert_eq(c.regressions, 0, "improvements are not regressions");
	atb_cmp_free(&c);
	/* Reversed, the improvement is a regression in every cell. */
	cr_assert_eq(atb_compare(d, a, 10.0, 0, 0.05, 0, &c), ATR_OK);
	cr_assert_eq(c.regressions, 5);
	atb_cmp_free(&c);
	free(a);
	free(b);
	free(d);
}

Test(compare, missing_and_new_cells)
{
	double base[] = {0.5, 0.6, 0.7};
	struct atb_cmp c;
	char *a = doc_with(base, 2, NULL), *b = doc_with(base, 3, "key0");

	/* key0 was skipped in the new run, key2 is new: neither fails. */
	cr_assert_eq(atb_compare(a, b, 10.0, 0, 0.05, 0, &c), ATR_OK);
	cr_assert_eq(c.regressions, 0);
	cr_assert_eq(c.missing, 1);
	cr_assert_eq(c.added, 1);
	atb_cmp_free(&c);
	free(a);
	free(b);
}

Test(compare, bad_documents_are_format_errors)
{
	double base[] = {0.5};
	struct atb_cmp c;
	char *a = doc_with(base, 1, NULL);

	cr_assert_eq(atb_compare(a, "{not json", 10.0, 0, 0.05, 0, &c),
	    ATR_ERR_FORMAT);
	cr_assert_not_null(strstr(atr_detail(), "new results"));
	cr_assert_eq(atb_compare("{\"schema\":\"x\"}", a, 10.0, 0, 0.05, 0, &c),
	    ATR_ERR_FORMAT);
	cr_assert_not_null(strstr(atr_detail(), "base results"));
	free(a);
}

/* ---- targets and charts --------------------------------------------------------------- */

Test(targets, computed_from_cells)
{
	struct atb_results r;
	struct atb_cell cells[3];
	struct atb_target t[ATB_NTARGETS];

	memset(&r, 0, sizeof(r));
	memset(cells, 0, sizeof(cells));
	cells[0].hier = ATB_PER_OBJECT;
	cells[0].size = 1024;
	cells[0].op = ATB_ENCRYPT;
	cells[0].threads = 1;
	snprintf(cells[0].key, sizeof(cells[0].key), "smk");
	cells[0].ops_per_s.med = 200000;
	cells[0].ops_per_s.n = 3;
	cells[1] = cells[0];
	cells[1].cmk = 1;
	cells[1].hier = ATB_INTERMEDIATE;
	snprintf(cells[1].key, sizeof(cells[1].key), "rsa-3072");
	cells[1].ops_per_s.med = 170000;   /* 0.85 of SMK */
	cells[2] = cells[0];
	cells[2].threads = 2;
	cells[2].ops_per_s.med = 390000;
	cells[2].vs_1thread.med = cells[2].vs_1thread.min =
	    cells[2].vs_1thread.max = 1.95;
	cells[2].vs_1thread.n = 3;
	cells[0].cpu_us_per_op = 5.0;
	cells[2].cpu_us_per_op = 5.5;
	r.cells = cells;
	r.ncells = 3;
	atb_targets(&r, t);
	cr_assert_eq(t[0].met, -1, "no 64 MiB cell");
	cr_assert(isnan(t[0].value));
	cr_assert_eq(t[1].met, -1, "no 64 MiB cell");
	/* The SMK cell has no vs-limit ratio: unknown, not met. */
	cr_assert_eq(t[2].met, -1);
	cr_assert_eq(t[6].met, 1);
	cr_assert_float_eq(t[6].value, 200000, 1e-9);
	cr_assert_eq(t[7].met, 0);
	cr_assert_float_eq(t[7].value, 0.85, 1e-9);
	cr_assert_eq(t[8].met, 1);
	cr_assert_float_eq(t[8].value, 1.95, 1e-9);
	/* Two-thread CPU time per op 10 % above one thread's: 2 / 1.1. */
	cr_assert_float_eq(t[8].value_cpu, 2.0 / 1.1, 1e-9);
}

/* The round-2 per-object targets: each cell against its own limit,
 * found by key and op, on wall clock and CPU time apart. */
Test(targets, per_object_vs_limit)
{
	struct atb_results r;
	struct atb_cell c[5];
	struct atb_target t[ATB_NTARGETS];
	size_t i;

	memset(&r, 0, sizeof(r));
	memset(c, 0, sizeof(c));
	for (i = 0; i < 5; i++) {
		c[i].hier = ATB_PER_OBJECT;
		c[i].size = 1024;
		c[i].threads = 1;
		c[i].op = i % 2 ? ATB_DECRYPT : ATB_ENCRYPT;
		c[i].vs_limit.n = c[i].vs_limit_cpu.n = 3;
		c[i].ops_per_s.med = 1000;
		c[i].limit_ops_per_s = 2000;
	}
	snprintf(c[0].key, sizeof(c[0].key), "smk");
	snprintf(c[1].key, sizeof(c[1].key), "smk");
	c[0].vs_limit.med = 0.61;
	c[0].vs_limit_cpu.med = 0.59;
	c[1].vs_limit.med = 0.55;
	c[1].vs_limit_cpu.med = 0.65;
	for (i = 2; i < 4; i++) {
		snprintf(c[i].key, sizeof(c[i].key), "rsa-3072");
		c[i].cmk = 1;
	}
	c[2].vs_limit.med = c[2].vs_limit_cpu.med = 0.96;
	c[3].vs_limit.med = c[3].vs_limit_cpu.med = 0.96; /* < 0.97 */
	/* Another CMK that must not be taken for RSA-3072. */
	snprintf(c[4].key, sizeof(c[4].key), "rsa-2048");
	c[4].cmk = 1;
	c[4].op = ATB_DECRYPT;
	c[4].vs_limit.med = c[4].vs_limit_cpu.med = 0.99;
	memmove(&c[1], &c[4], sizeof(c[4])); /* rsa-2048 decrypt first */
	snprintf(c[4].key, sizeof(c[4].key), "smk");
	c[4].cmk = 0;
	c[4].op = ATB_DECRYPT;
	c[4].vs_limit.med = 0.55;
	c[4].vs_limit_cpu.med = 0.65;
	r.cells = c;
	r.ncells = 5;
	atb_targets(&r, t);
	cr_assert_eq(t[2].met, 1);
	cr_assert_eq(t[2].met_cpu, 0);
	cr_assert_float_eq(t[2].value, 0.61, 1e-9);
	cr_assert_eq(t[3].met, 0);
	cr_assert_eq(t[3].met_cpu, 1);
	cr_assert_float_eq(t[3].value_cpu, 0.65, 1e-9);
	cr_assert_eq(t[4].met, 1, "0.96 >= 0.95");
	cr_assert_eq(t[5].met, 0, "0.96 < 0.97, not rsa-2048's 0.99");
	cr_assert_float_eq(t[5].value, 0.96, 1e-9);
	cr_assert_not_null(strstr(t[5].detail, "rsa-3072"));
}

Test(charts, scripts_and_pictures, .timeout = 180)
{
	static const char *const keys[] = {"smk"};
	struct atb_results *r = tiny_run(keys, 1);
	char *dir = tu_tmpdir("bench-charts"), *gp, *png, note[512];
	int drawn = -1;
	struct stat st;

	cr_assert_not_null(dir);
	cr_assert_eq(atb_write_charts(r, dir, &drawn, note, sizeof(note)),
	    ATR_OK);
	gp = tu_path(dir, "throughput-encrypt.gp");
	png = tu_path(dir, "latency-cdf-decrypt.png");
	cr_assert(tu_file_contains(gp, "plot "), "%s", note);
	cr_assert(tu_file_contains(gp, "smk per-object"));
	if (access("/usr/bin/gnuplot", X_OK) == 0) {
		cr_assert_eq(drawn, 1, "%s", note);
		cr_assert_eq(stat(png, &st), 0, "%s", note);
		cr_assert_gt(st.st_size, 1000);
	} else {
		cr_assert_eq(drawn, 0);
		cr_assert_not_null(strstr(note, "gnuplot"));
	}
	free(gp);
	free(png);
	atb_results_free(r);
	tu_rmtree(dir);
	free(dir);
}

/* ---- the loopback Key Vault ------------------------------------------------------------ */

Test(vault, loopback_cells_with_added_latency, .timeout = 180)
{
	struct atb_config c;
	struct atb_results *r = NULL;
	enum atr_err err;
	size_t i, vault = 0;
	const char *tok = getenv("ATREST_AZURE_TOKEN");

	atb_config_default(&c);
	c.keys[0] = "smk";
	c.keys[1] = "vault:rsa-2048";
	c.nkeys = 2;
	c.vault_optional = 0;
	c.vault_latency_ms[0] = 0;
	c.vault_latency_ms[1] = 3;
	c.nvault_latency = 2;
	memset(c.hier, 0, sizeof(c.hier));
	c.hier[ATB_PER_OBJECT] = c.hier[ATB_CACHED] = 1;
	c.sizes[0] = 1024;
	c.nsizes = 1;
	c.threads[0] = 1;
	c.nthreads = 1;
	c.seconds = 0.03;
	c.warmup = 0.005;
	c.reps = 2;
	err = atb_run(&c, &r);
	cr_assert_eq(err, ATR_OK, "%s: %s", atr_strerror(err), atr_detail());
	/* One setup per latency, named after it. */
	cr_assert_eq(r->cfg.nkeys, 3);
	cr_assert_str_eq(r->cfg.keys[1], "vault-rsa-2048+0ms");
	cr_assert_str_eq(r->cfg.keys[2], "vault-rsa-2048+3ms");
	for (i = 0; i < r->ncells; i++) {
		const struct atb_cell *x = &r->cells[i];

		cr_assert_eq(x->skipped, 0, "%s: %s", x->key, x->note);
		if (x->vault_latency_ms < 0)
			continue;
		vault++;
		cr_assert_eq(x->cmk, 1);
		cr_assert_eq(x->kms_errors, 0);
		/* Every KEK call reached the vault over HTTP. */
		cr_assert_geq(x->kms_attempts, x->kms_calls);
		cr_assert_geq(x->vault_requests, x->kms_calls);
		cr_assert_gt(x->cmk_vs_smk.n, 0);
		if (x->hier == ATB_PER_OBJECT) {
			cr_assert_eq(x->kms_calls, x->ops);
			/* The injected delay is in every call (a lower bound,
			 * not a speed). */
			if (x->vault_latency_ms == 3)
				cr_assert_geq(x->kms_p50_us, 3000.0, "%f",
				    x->kms_p50_us);
		} else {
			cr_assert_lt(x->kms_calls, x->ops);
		}
	}
	cr_assert_eq(vault, 2 * 2 * 2);
	/* The run restores the environment it changed. */
	cr_assert_eq(getenv("ATREST_AZURE_TOKEN") == NULL, tok == NULL);
	atb_results_free(r);
}

Test(vault, mixing_with_https_keys_is_refused)
{
	struct atb_config c;
	struct atb_results *r = NULL;

	atb_config_quick(&c);
	c.keys[0] = "vault";
	c.keys[1] = "https://127.0.0.1:1/keys/x";
	c.nkeys = 2;
	cr_assert_eq(atb_run(&c, &r), ATR_ERR_USAGE);
	cr_assert_not_null(strstr(atr_detail(), "loopback"), "%s", atr_detail());
}

Test(compare, metrics_by_name)
{
	double base[] = {0.5}, cur[] = {0.4};
	struct atb_cmp c;
	char *a = doc_with(base, 1, NULL), *b = doc_with(cur, 1, NULL);

	cr_assert_eq(atb_metric_parse("wall"), 0);
	cr_assert_eq(atb_metric_parse("cpu"), 1);
	cr_assert_eq(atb_metric_parse("wall-best"), 2);
	cr_assert_eq(atb_metric_parse("cpu-best"), 3);
	cr_assert_eq(atb_metric_parse("fast"), -1);
	cr_assert_str_eq(atb_metric_name(3), "vs_limit_cpu_best");
	/* The synthetic documents carry no best-of ratios: no cell has the
	 * metric, so none is compared and none regresses... */
	cr_assert_eq(atb_compare(a, b, 10.0, 0, 0.05, 2, &c), ATR_OK);
	cr_assert_eq(c.regressions, 0);
	cr_assert_eq(c.nrows, 0);
	atb_cmp_free(&c);
	/* ...while the default metric sees the 20 % drop. */
	cr_assert_eq(atb_compare(a, b, 10.0, 0, 0.05, 0, &c), ATR_OK);
	cr_assert_eq(c.regressions, 1);
	atb_cmp_free(&c);
	free(a);
	free(b);
}

Test(compare, summary_only_cells_use_their_spread)
{
	double base[] = {0.50, 0.80};
	double med[] = {0.40, 0.80};        /* cell 0: median -20 % */
	double noisy_best[] = {0.49, 0.82}; /* ...spread 22.5 % */
	double slow_best[] = {0.42, 0.82};  /* ...spread 5 % */
	struct atb_cmp c;
	char *a = doc_with(base, 2, NULL);
	char *n1 = doc_with_best(med, noisy_best, 2, NULL);
	char *n2 = doc_with_best(med, slow_best, 2, NULL);
	int m;

	for (m = 0; m < 2; m++) {
		/* Documents without repetitions: no test, and a spread
		 * wider than the threshold cannot be judged (it used to
		 * widen the threshold and pass). */
		cr_assert_eq(atb_compare(a, n1, 10.0, 0, 0.05, m, &c), ATR_OK);
		cr_assert_eq(c.regressions, 0, "metric %d", m);
		cr_assert_eq(c.rows[0].verdict, ATB_V_NOISY);
		cr_assert(c.rows[0].summary_only && isnan(c.rows[0].p));
		cr_assert_eq(c.summary_only, 2);
		cr_assert_eq(atb_cmp_status(&c), 3);
		atb_cmp_free(&c);
		cr_assert_eq(atb_compare(a, n2, 10.0, 0, 0.05, m, &c), ATR_OK);
		cr_assert_eq(c.regressions, 1, "metric %d", m);
		cr_assert(c.rows[0].regressed && !c.rows[1].regressed);
		cr_assert_eq(atb_cmp_status(&c), 1);
		atb_cmp_free(&c);
	}
	free(a);
	free(n1);
	free(n2);
}

/* ---- the U test over recorded repetitions --------------------------------------------- */

/* A results document of one cell whose vs_limit and vs_limit_cpu
 * repetitions are v[0..n), the summary fields their median, min, max. */
static char *
doc_reps(const double *v, unsigned n)
{
	static const char *const m[] = {"vs_limit", "vs_limit_cpu"};
	double med = NAN, lo = NAN, hi = NAN, s[ATB_REPS_MAX];
	cJSON *root, *cell;
	char *out, name[48];
	unsigned i, k;

	memcpy(s, v, n * sizeof(*s));
	if (n > 0) {
		struct atb_stat st;

		atb_stat_of(s, n, &st);
		med = st.med;
		lo = st.min;
		hi = st.max;
	}
	out = doc_with(&med, 1, NULL);
	root = cJSON_Parse(out);
	free(out);
	cell = cJSON_GetArrayItem(cJSON_GetObjectItem(root, "cells"), 0);
	for (k = 0; k < 2; k++) {
		cJSON *a;

		cJSON_ReplaceItemInObject(cell, m[k], cJSON_CreateNumber(med));
		snprintf(name, sizeof(name), "%s_min", m[k]);
		cJSON_AddNumberToObject(cell, name, lo);
		snprintf(name, sizeof(name), "%s_max", m[k]);
		cJSON_AddNumberToObject(cell, name, hi);
		snprintf(name, sizeof(name), "%s_reps", m[k]);
		a = cJSON_AddArrayToObject(cell, name);
		for (i = 0; i < n; i++)
			cJSON_AddItemToArray(a, cJSON_CreateNumber(v[i]));
	}
	out = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	cr_assert_not_null(out);
	return out;
}

/* xorshift64*: the same samples on every machine. */
static double
rnd_unit(uint64_t *st)
{
	*st ^= *st >> 12;
	*st ^= *st << 25;
	*st ^= *st >> 27;
	return (double)((*st * 0x2545F4914F6CDD1DULL) >> 11) * 0x1.0p-53;
}

/* n repetitions around mean: Gaussian with relative sd (Box-Muller),
 * or uniform over mean * (1 +- half) when half > 0. */
static void
sample(uint64_t *st, double mean, double sd, double half, double *v,
    unsigned n)
{
	unsigned i;

	for (i = 0; i < n; i++) {
		double u1 = rnd_unit(st), u2 = rnd_unit(st);

		if (half > 0)
			v[i] = mean * (1.0 + half * (2.0 * u1 - 1.0));
		else
			v[i] = mean * (1.0 + sd * sqrt(-2.0 * log(u1 + 1e-300)) *
			    cos(2.0 * M_PI * u2));
	}
}

/* The verdicts of comparing base and new samples of n repetitions. */
static int
status_of_pair(const double *b, const double *nw, unsigned n, double thr,
    struct atb_cmp *c)
{
	char *a = doc_reps(b, n), *d = doc_reps(nw, n);

	cr_assert_eq(atb_compare(a, d, thr, 0, 0.05, 1, c), ATR_OK);
	free(a);
	free(d);
	cr_assert_eq(c->nrows, 1);
	cr_assert(!c->rows[0].summary_only);
	return atb_cmp_status(c);
}

Test(utest, textbook_exact_and_normal_values)
{
	/* Mann-Whitney's worked example in scipy.stats.mannwhitneyu's
	 * documentation: U1 = 17, exact two-sided p = 1/9 (7 of the 126
	 * orderings of 5 and 4 values give U <= 3, doubled), and with
	 * the normal approximation (continuity-corrected) 0.1113. */
	double males[] = {19, 22, 16, 29, 24}, females[] = {20, 11, 17, 12};
	double lo[] = {1, 2, 3, 4, 5}, hi[] = {6, 7, 8, 9, 10};
	double x[60], y[60], u, p, q1, med, q3;
	int exact;
	unsigned i;

	cr_assert_eq(atb_utest(males, 5, females, 4, &u, &p, &exact), 0);
	cr_assert_float_eq(u, 17.0, 1e-12);
	cr_assert(exact);
	cr_assert_float_eq(p, 1.0 / 9.0, 1e-12);
	/* The same data, 6 copies each (n = 54 > 50): the approximation.
	 * z = (|U - mu| - 0.5) / sigma by hand with the tie term. */
	for (i = 0; i < 30; i++)
		x[i] = males[i % 5];
	for (i = 0; i < 24; i++)
		y[i] = females[i % 4];
	cr_assert_eq(atb_utest(x, 30, y, 24, &u, &p, &exact), 0);
	cr_assert(!exact);
	cr_assert_float_eq(u, 17.0 * 36.0, 1e-9);
	{
		/* 9 distinct values, each tied 6 times: sum(t^3 - t) =
		 * 9 * 210; var = n1 n2 / 12 * (N + 1 - 1890 / (N (N - 1))). */
		double n = 54, var = 30.0 * 24.0 / 12.0 *
		    (n + 1.0 - 1890.0 / (n * (n - 1.0)));
		double z = (612.0 - 360.0 - 0.5) / sqrt(var);

		cr_assert_float_eq(p, erfc(z / sqrt(2.0)), 1e-12);
		cr_assert(p < 0.001, "p %g", p);
	}
	/* Complete separation: 2 / C(10, 5), the smallest p of 5 + 5,
	 * either way round; 3 + 3 can never go below 0.1. */
	cr_assert_eq(atb_utest(lo, 5, hi, 5, &u, &p, &exact), 0);
	cr_assert_float_eq(u, 0.0, 1e-12);
	cr_assert_float_eq(p, 2.0 / 252.0, 1e-12);
	cr_assert_eq(atb_utest(hi, 5, lo, 5, &u, &p, &exact), 0);
	cr_assert_float_eq(u, 25.0, 1e-12);
	cr_assert_float_eq(p, 2.0 / 252.0, 1e-12);
	cr_assert_float_eq(atb_utest_min_p(5, 5), 2.0 / 252.0, 1e-12);
	cr_assert_float_eq(atb_utest_min_p(3, 3), 0.1, 1e-12);
	cr_assert_float_eq(atb_utest_min_p(1, 1), 1.0, 1e-12);
	/* Identical samples: no evidence. */
	cr_assert_eq(atb_utest(lo, 5, lo, 5, &u, &p, &exact), 0);
	cr_assert_float_eq(p, 1.0, 1e-12);
	cr_assert_eq(atb_quartiles(lo, 5, &q1, &med, &q3), 0);
	cr_assert_float_eq(q1, 2.0, 1e-12);
	cr_assert_float_eq(med, 3.0, 1e-12);
	cr_assert_float_eq(q3, 4.0, 1e-12);
}

Test(utest, planted_uniform_regression_is_caught)
{
	double b[10], nw[10];
	struct atb_cmp c;
	uint64_t st = 0x9e3779b97f4a7c15ULL;
	unsigned k, i;

	/* 20 seeded cases: every repetition 10 % slower, 2.5 % noise,
	 * threshold 5 %: regressed every time, exit 1. */
	for (k = 0; k < 20; k++) {
		sample(&st, 0.60, 0.025, 0, b, 10);
		sample(&st, 0.60, 0.025, 0, nw, 10);
		for (i = 0; i < 10; i++)
			nw[i] *= 0.90;
		cr_assert_eq(status_of_pair(b, nw, 10, 5.0, &c), 1,
		    "case %u: p %g change %.1f%%", k, c.rows[0].p,
		    c.rows[0].change_pct);
		cr_assert_eq(c.rows[0].verdict, ATB_V_REGRESSED);
		cr_assert(c.rows[0].p < 0.05 && c.rows[0].exact);
		atb_cmp_free(&c);
	}
}

Test(utest, same_distribution_twenty_pairs_never_regress)
{
	double b[10], nw[10];
	struct atb_cmp c;
	uint64_t st = 0x0123456789abcdefULL;
	unsigned k, ok = 0;

	for (k = 0; k < 20; k++) {
		int rc;

		sample(&st, 0.60, 0.025, 0, b, 10);
		sample(&st, 0.60, 0.025, 0, nw, 10);
		rc = status_of_pair(b, nw, 10, 10.0, &c);
		cr_assert_neq(rc, 1, "pair %u: p %g change %.1f%%", k,
		    c.rows[0].p, c.rows[0].change_pct);
		cr_assert_neq(c.rows[0].verdict, ATB_V_IMPROVED);
		ok += rc == 0;
		atb_cmp_free(&c);
	}
	/* Quiet cells (spread about 7.7 % against a 10 % threshold) are
	 * mostly judged, not waved through as inconclusive. */
	cr_assert_geq(ok, 10, "%u of 20 ok", ok);
}

Test(utest, noisy_cell_is_inconclusive_not_ok)
{
	double b[10], nw[10];
	struct atb_cmp c;
	uint64_t st = 42;
	unsigned k, noisy = 0;

	/* Spread 30 % (uniform +-15 %) against a 10 % threshold, 20
	 * seeded pairs from one distribution: never ok.  A pair may
	 * still differ significantly by more than the threshold (the
	 * test's alpha; one improved here): reported as that change. */
	for (k = 0; k < 20; k++) {
		int rc;

		sample(&st, 0.60, 0, 0.15, b, 10);
		sample(&st, 0.60, 0, 0.15, nw, 10);
		rc = status_of_pair(b, nw, 10, 10.0, &c);
		cr_assert_neq(c.rows[0].verdict, ATB_V_OK, "case %u ok", k);
		if (c.rows[0].verdict == ATB_V_NOISY) {
			cr_assert_eq(rc, 3);
			cr_assert_eq(c.noisy, 1);
			noisy++;
		}
		atb_cmp_free(&c);
	}
	cr_assert_geq(noisy, 18, "%u of 20 inconclusive", noisy);
}

Test(utest, too_few_repetitions_are_inconclusive)
{
	double b[] = {0.60, 0.61, 0.59}, nw[] = {0.40, 0.41, 0.39};
	struct atb_cmp c;

	/* -33 %, perfectly separated, but 3 + 3 repetitions can never
	 * reach p < 0.05 (their smallest p is 0.1): not judged. */
	cr_assert_eq(status_of_pair(b, nw, 3, 10.0, &c), 3);
	cr_assert_eq(c.rows[0].verdict, ATB_V_FEW);
	cr_assert_eq(c.few, 1);
	atb_cmp_free(&c);
}

Test(compare, geometric_mean_catches_a_broad_slowdown)
{
	double base[] = {0.5, 0.6, 0.7, 0.8, 0.9, 1.0};
	double cur[6];
	struct atb_cmp c;
	char *a, *b;
	size_t i;

	/* Every cell 10 % slower: under the 15 % per-cell threshold, over
	 * an 8 % threshold on the geometric mean. */
	for (i = 0; i < 6; i++)
		cur[i] = base[i] * 0.90;
	a = doc_with(base, 6, NULL);
	b = doc_with(cur, 6, NULL);
	cr_assert_eq(atb_compare(a, b, 15.0, 8.0, 0.05, 1, &c), ATR_OK);
	cr_assert_eq(c.regressions, 0);
	cr_assert_float_eq(c.geomean_change_pct, -10.0, 1e-6);
	cr_assert_eq(c.geomean_regressed, 1);
	atb_cmp_free(&c);
	/* Off when the threshold is 0; passes at 12 %. */
	cr_assert_eq(atb_compare(a, b, 15.0, 0, 0.05, 1, &c), ATR_OK);
	cr_assert_eq(c.geomean_regressed, 0);
	atb_cmp_free(&c);
	cr_assert_eq(atb_compare(a, b, 15.0, 12.0, 0.05, 1, &c), ATR_OK);
	cr_assert_eq(c.geomean_regressed, 0);
	atb_cmp_free(&c);
	free(a);
	free(b);
}

/* ---- the geometric mean's own test ----------------------------------------------------- */

/* A document of nc cells whose vs_limit and vs_limit_cpu repetitions are
 * v[c * n .. c * n + n) (cell c), the summary fields their medians. */
static char *
doc_cells_reps(const double *v, unsigned nc, unsigned n)
{
	static const char *const m[] = {"vs_limit", "vs_limit_cpu"};
	double med[16];
	cJSON *root, *cells;
	char *out, name[48];
	unsigned c, i, k;

	cr_assert(nc <= 16);
	for (c = 0; c < nc; c++) {
		double s[ATB_REPS_MAX];
		struct atb_stat st;

		memcpy(s, v + c * n, n * sizeof(*s));
		atb_stat_of(s, n, &st);
		med[c] = st.med;
	}
	out = doc_with(med, nc, NULL);
	root = cJSON_Parse(out);
	free(out);
	cells = cJSON_GetObjectItem(root, "cells");
	for (c = 0; c < nc; c++) {
		cJSON *cell = cJSON_GetArrayItem(cells, (int)c);

		for (k = 0; k < 2; k++) {
			cJSON *a;

			cJSON_ReplaceItemInObject(cell, m[k],
			    cJSON_CreateNumber(med[c]));
			snprintf(name, sizeof(name), "%s_reps", m[k]);
			a = cJSON_AddArrayToObject(cell, name);
			for (i = 0; i < n; i++)
				cJSON_AddItemToArray(a,
				    cJSON_CreateNumber(v[c * n + i]));
		}
	}
	out = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	cr_assert_not_null(out);
	return out;
}

/* Compares base and new (nc cells of n repetitions) with a per-cell
 * threshold of cthr and a geometric-mean threshold of gthr. */
static int
geomean_pair(const double *b, const double *nw, unsigned nc, unsigned n,
    double cthr, double gthr, struct atb_cmp *c)
{
	char *a = doc_cells_reps(b, nc, n), *d = doc_cells_reps(nw, nc, n);

	cr_assert_eq(atb_compare(a, d, cthr, gthr, 0.05, 1, c), ATR_OK);
	free(a);
	free(d);
	cr_assert_eq(c->nrows, nc);
	cr_assert_eq(c->geomean_cells, nc);
	return atb_cmp_status(c);
}

Test(geomean, planted_uniform_regression_is_caught)
{
	double b[8 * 5], nw[8 * 5];
	struct atb_cmp c;
	uint64_t st = 0x51ed270b27a4c3d1ULL;
	unsigned k, cell, i;

	/* 20 seeded runs of 8 cells x 5 repetitions, 2.5 % noise, every
	 * cell 10 % slower: under the 20 % per-cell threshold, so only the
	 * geometric mean (threshold 8 %) catches it, and its test agrees:
	 * the 5 per-repetition means of each side never overlap. */
	for (k = 0; k < 20; k++) {
		for (cell = 0; cell < 8; cell++) {
			double mean = 0.3 + 0.1 * cell;

			sample(&st, mean, 0.025, 0, b + cell * 5, 5);
			sample(&st, mean, 0.025, 0, nw + cell * 5, 5);
			for (i = 0; i < 5; i++)
				nw[cell * 5 + i] *= 0.90;
		}
		cr_assert_eq(geomean_pair(b, nw, 8, 5, 20.0, 8.0, &c), 1,
		    "run %u: change %.1f%% p %g", k, c.geomean_change_pct,
		    c.geomean.p);
		cr_assert_eq(c.regressions, 0);
		cr_assert(c.geomean_regressed);
		cr_assert_eq(c.geomean.verdict, ATB_V_REGRESSED);
		cr_assert(c.geomean.p < 0.05 && c.geomean.exact);
		cr_assert_eq(c.geomean.base_n, 5);
		atb_cmp_free(&c);
	}
}

Test(geomean, noise_only_never_regresses)
{
	double b[8 * 5], nw[8 * 5];
	struct atb_cmp c;
	uint64_t st = 0x2545f4914f6cdd1dULL;
	unsigned k, cell, judged = 0;

	/* 40 seeded pairs from one distribution, wide noise (uniform
	 * +-15 % per repetition): the geometric mean may be ok or
	 * inconclusive, never regressed (nor improved).  The per-repetition
	 * means of 8 cells still spread about 7 %, near the threshold, so
	 * about half are inconclusive; some must be judged ok. */
	for (k = 0; k < 40; k++) {
		int rc;

		for (cell = 0; cell < 8; cell++) {
			sample(&st, 0.5, 0, 0.15, b + cell * 5, 5);
			sample(&st, 0.5, 0, 0.15, nw + cell * 5, 5);
		}
		rc = geomean_pair(b, nw, 8, 5, 100.0, 8.0, &c);
		cr_assert_neq(rc, 1, "pair %u: change %.1f%% p %g", k,
		    c.geomean_change_pct, c.geomean.p);
		cr_assert(c.geomean.verdict == ATB_V_OK ||
		    c.geomean.verdict == ATB_V_NOISY, "pair %u: verdict %d",
		    k, (int)c.geomean.verdict);
		judged += c.geomean.verdict == ATB_V_OK;
		atb_cmp_free(&c);
	}
	cr_assert_geq(judged, 10, "%u of 40 judged ok", judged);
}

Test(geomean, a_noisy_fall_is_inconclusive_not_a_failure)
{
	/* Every cell's median fell 12 % (past the 8 % threshold: the old
	 * rule, on the change alone, failed the run), but the new run's
	 * repetitions swing from 0.6 to 1.15 of the base in step across
	 * the cells: its per-repetition geometric means overlap the base's
	 * (p 0.55), so the run is not judged: inconclusive, exit 3. */
	static const double br[5] = {0.90, 0.95, 1.00, 1.05, 1.10};
	static const double nr[5] = {0.60, 0.70, 0.88, 1.12, 1.15};
	double b[6 * 5], nw[6 * 5];
	struct atb_cmp c;
	unsigned cell, i;

	for (cell = 0; cell < 6; cell++)
		for (i = 0; i < 5; i++) {
			b[cell * 5 + i] = (0.4 + 0.1 * cell) * br[i];
			nw[cell * 5 + i] = (0.4 + 0.1 * cell) * nr[i];
		}
	cr_assert_eq(geomean_pair(b, nw, 6, 5, 100.0, 8.0, &c), 3);
	cr_assert_float_eq(c.geomean_change_pct, -12.0, 1e-6);
	cr_assert_eq(c.regressions, 0);
	cr_assert(!c.geomean_regressed);
	cr_assert_eq(c.geomean.verdict, ATB_V_NOISY);
	cr_assert(c.geomean.p > 0.5, "p %g", c.geomean.p);
	atb_cmp_free(&c);
	/* Two repetitions a side cannot be tested at all: too few. */
	{
		double b2[6 * 2], n2[6 * 2];

		for (cell = 0; cell < 6; cell++)
			for (i = 0; i < 2; i++) {
				b2[cell * 2 + i] = b[cell * 5 + i];
				n2[cell * 2 + i] = b[cell * 5 + i] * 0.8;
			}
		cr_assert_eq(geomean_pair(b2, n2, 6, 2, 100.0, 8.0, &c), 3);
		cr_assert_eq(c.geomean.verdict, ATB_V_FEW);
		atb_cmp_free(&c);
	}
}

Test(stat, rep_spread_narrows_with_more_repetitions)
{
	double v[30];
	unsigned i;

	/* k of the median's 95 % interval: 1 up to 8 repetitions (the
	 * range), then 2 at 9, 3 at 12, 6 at 20 (2 P(Bin(n, 1/2) < k) <=
	 * 0.05, the largest). */
	cr_assert_eq(atb_rep_spread_k(3), 1);
	cr_assert_eq(atb_rep_spread_k(5), 1);
	cr_assert_eq(atb_rep_spread_k(8), 1);
	cr_assert_eq(atb_rep_spread_k(9), 2);
	cr_assert_eq(atb_rep_spread_k(12), 3);
	cr_assert_eq(atb_rep_spread_k(20), 6);
	/* Five steady repetitions and one slow one: the range (spread 50 %);
	 * the same slow one among 12 drops out (spread 4 %). */
	for (i = 0; i < 12; i++)
		v[i] = 1.0 + 0.01 * (i % 5);
	v[0] = 0.5;
	cr_assert_float_eq(atb_rep_spread(v, 6), 0.54 / 1.015, 1e-9);
	cr_assert_lt(atb_rep_spread(v, 12), 0.05);
	cr_assert_float_eq(atb_rep_spread(v, 0), 0.0, 1e-12);
	cr_assert_eq(atb_utest_min_reps(0.05), 4);
	cr_assert_eq(atb_utest_min_reps(0.01), 5);
}

Test(vault, throttled_ops_are_counted_not_fatal, .timeout = 180)
{
	struct atb_config c;
	struct atb_results *r = NULL;
	enum atr_err err;
	size_t i;

	/* No retries: every injected 429 fails its op. */
	cr_assert_eq(setenv("ATREST_KV_MAX_RETRIES", "0", 1), 0);
	atb_config_default(&c);
	c.keys[0] = "vault:rsa-2048";
	c.nkeys = 1;
	c.vault_optional = 0;
	c.vault_faults = "429=0.3,retry-after=0,seed=7";
	memset(c.hier, 0, sizeof(c.hier));
	c.hier[ATB_PER_OBJECT] = 1;
	memset(c.ops, 0, sizeof(c.ops));
	c.ops[ATB_ENCRYPT] = 1;
	c.sizes[0] = 1024;
	c.nsizes = 1;
	c.threads[0] = 1;
	c.nthreads = 1;
	c.seconds = 0.05;
	c.warmup = 0;
	c.reps = 2;
	err = atb_run(&c, &r);
	cr_assert_eq(err, ATR_OK, "%s: %s", atr_strerror(err), atr_detail());
	cr_assert_eq(r->ncells, 1);
	cr_assert_eq(r->cells[0].skipped, 0, "%s", r->cells[0].note);
	cr_assert_gt(r->cells[0].ops, 0);
	cr_assert_gt(r->cells[0].op_errors, 0);
	cr_assert_not_null(strstr(r->cells[0].note, "throttled"), "%s",
	    r->cells[0].note);
	cr_assert_gt(r->cells[0].kms_throttled, 0);
	atb_results_free(r);
	/* Every call throttled: nothing gets through, the cell fails and
	 * says why; the run itself still completes. */
	c.vault_faults = "429=1,retry-after=0";
	err = atb_run(&c, &r);
	cr_assert_eq(err, ATR_OK, "%s: %s", atr_strerror(err), atr_detail());
	for (i = 0; i < r->ncells; i++) {
		cr_assert_eq(r->cells[i].skipped, 1);
		cr_assert_not_null(strstr(r->cells[i].note, "throttled"), "%s",
		    r->cells[i].note);
	}
	atb_results_free(r);
}

/* ---- storage (--io) ------------------------------------------------------------ */

Test(io, limit_composition)
{
	/* In memory: raw AEAD plus the KEK operation, per op. */
	assert_close(atb_limit_ops_per_s(1000, 3000, 0, 1), 250000, 1e-12,
	    "aead + kek");
	/* --io: storage's time per op joins the sum, it does not replace
	 * or multiply it. */
	assert_close(atb_limit_ops_per_s(1000, 3000, 6000, 1), 100000, 1e-12,
	    "aead + kek + io");
	/* min(threads, cores) multiplies the whole. */
	assert_close(atb_limit_ops_per_s(1000, 3000, 6000, 2), 200000, 1e-12,
	    "two threads");
	/* cached: no KEK call per object. */
	assert_close(atb_limit_ops_per_s(500, 0, 500, 1), 1e6, 1e-12,
	    "no kek");
	/* A part that was not measured makes no limit at all. */
	cr_assert(isnan(atb_limit_ops_per_s(NAN, 0, 0, 1)));
	cr_assert(isnan(atb_limit_ops_per_s(1000, NAN, 0, 1)));
	cr_assert(isnan(atb_limit_ops_per_s(1000, 0, NAN, 1)));
	cr_assert(isnan(atb_limit_ops_per_s(1000, -1, 0, 1)));
	cr_assert(isnan(atb_limit_ops_per_s(0, 0, 0, 1)));
	cr_assert(isnan(atb_limit_ops_per_s(1000, 0, 0, 0)));
}

Test(io, filesystem_names)
{
	cr_assert_str_eq(atb_fs_name(0x01021994UL), "tmpfs");
	cr_assert_str_eq(atb_fs_name(0xEF53UL), "ext2/ext3/ext4");
	cr_assert_str_eq(atb_fs_name(0x58465342UL), "xfs");
	cr_assert_str_eq(atb_fs_name(0x9123683EUL), "btrfs");
	cr_assert_str_eq(atb_fs_name(0x794C7630UL), "overlayfs");
	cr_assert_str_eq(atb_fs_name(0x12345678UL), "unknown");
}

/* Entries in dir besides . and .. */
static int
dir_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	cr_assert_not_null(d, "%s", dir);
	while ((e = readdir(d)) != NULL)
		n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
	closedir(d);
	return n;
}

/* One key, per-object, 1 KiB, both ops, one repetition, through dir
 * (NULL: in memory); stop and stop_arg as given. */
static enum atr_err
io_run(const char *dir, int (*stop)(void *), void *arg,
    struct atb_results **r)
{
	struct atb_config c;

	atb_config_default(&c);
	c.keys[0] = "smk";
	c.nkeys = 1;
	c.hier[ATB_INTERMEDIATE] = c.hier[ATB_CACHED] = 0;
	c.sizes[0] = 1024;
	c.nsizes = 1;
	c.threads[0] = 1;
	c.nthreads = 1;
	c.seconds = 0.01;
	c.warmup = 0.002;
	c.reps = 1;
	c.io_dir = dir;
	c.stop = stop;
	c.stop_arg = arg;
	return atb_run(&c, r);
}

static int
has_limit(const struct atb_results *r, const char *name)
{
	size_t i;

	for (i = 0; i < r->nlimits; i++)
		if (strcmp(r->limits[i].name, name) == 0)
			return r->limits[i].ns_per_op.med > 0;
	return 0;
}

Test(io, cells_run_through_files_and_leave_dir_empty, .timeout = 180)
{
	char *dir = tu_tmpdir("bench-io");
	struct atb_results *r = NULL;
	enum atr_err err;
	size_t i;

	err = io_run(dir, NULL, NULL, &r);
	cr_assert_eq(err, ATR_OK, "%s", atr_detail());
	cr_assert_str_eq(r->env.io_dir, dir);
	cr_assert_str_neq(r->env.io_fs, "");
	cr_assert_str_eq(r->cfg.io_dir, dir);
	cr_assert(has_limit(r, "io-write-1024"));
	cr_assert(has_limit(r, "io-read-1024"));
	cr_assert_eq(r->ncells, 2);
	for (i = 0; i < r->ncells; i++) {
		const struct atb_cell *c = &r->cells[i];
		double want;

		cr_assert_not(c->skipped, "%s", c->note);
		cr_assert(c->io);
		cr_assert_gt(c->phase_us[ATB_PH_IO], 0, "%s: io phase",
		    atb_op_name(c->op));
		cr_assert_gt(c->limit_io_us, 0);
		/* One repetition: the limit is exactly the formula over the
		 * parts the cell records (docs/BENCH.md). */
		want = atb_limit_ops_per_s(c->limit_aead_us * 1e3,
		    c->limit_kek_us * 1e3, c->limit_io_us * 1e3, 1);
		assert_close(c->limit_ops_per_s, want, 1e-9, "the limit");
	}
	cr_assert_eq(dir_entries(dir), 0, "files left in DIR");
	atb_results_free(r);
	/* In memory: no storage anywhere. */
	err = io_run(NULL, NULL, NULL, &r);
	cr_assert_eq(err, ATR_OK, "%s", atr_detail());
	cr_assert_str_eq(r->env.io_dir, "");
	cr_assert_not(has_limit(r, "io-write-1024"));
	for (i = 0; i < r->ncells; i++) {
		const struct atb_cell *c = &r->cells[i];

		cr_assert_not(c->io);
		cr_assert_eq(c->phase_us[ATB_PH_IO], 0);
		cr_assert(isnan(c->limit_io_us));
		assert_close(c->limit_ops_per_s, atb_limit_ops_per_s(
		    c->limit_aead_us * 1e3, c->limit_kek_us * 1e3, 0, 1), 1e-9,
		    "the in-memory limit");
	}
	atb_results_free(r);
	tu_rmtree(dir);
	free(dir);
}

/* Counts its calls down (arg: the calls left, int) and says stop on
 * the last; a negative count never stops, it only counts. */
static int
stop_after(void *arg)
{
	int *n = arg;

	return --*n == 0;
}

Test(io, interrupted_run_leaves_dir_empty, .timeout = 180)
{
	char *dir = tu_tmpdir("bench-io-stop");
	struct atb_results *r = NULL;
	int total = -1, at[3];
	size_t i;
	enum atr_err err;

	/* How often a whole run asks, then a stop at the first question
	 * (the start's limits), in the middle (inside the groups) and at
	 * the last (the end's limits). */
	err = io_run(dir, stop_after, &total, &r);
	cr_assert_eq(err, ATR_OK, "%s", atr_detail());
	atb_results_free(r);
	r = NULL;
	total = -1 - total;
	cr_assert_gt(total, 4, "%d questions", total);
	at[0] = 1;
	at[1] = total / 2;
	at[2] = total;
	for (i = 0; i < 3; i++) {
		int n = at[i];

		err = io_run(dir, stop_after, &n, &r);
		cr_assert_eq(err, ATR_ERR_IO, "stop at question %d of %d: %s",
		    at[i], total, atr_strerror(err));
		cr_assert_not_null(strstr(atr_detail(), "interrupted"));
		cr_assert_null(r);
		cr_assert_eq(dir_entries(dir), 0, "stop at question %d: files "
		    "left in DIR", at[i]);
	}
	atr_detail_clear();
	tu_rmtree(dir);
	free(dir);
}

Test(io, bad_dir_is_refused)
{
	char *dir = tu_tmpdir("bench-io-bad"), *file = tu_path(dir, "f");
	char *missing = tu_path(dir, "missing");
	struct atb_results *r = NULL;

	cr_assert_eq(tu_write_file(file, "x", 1), 0);
	cr_assert_eq(io_run(missing, NULL, NULL, &r), ATR_ERR_CONFIG);
	cr_assert_not_null(strstr(atr_detail(), missing), "%s", atr_detail());
	cr_assert_eq(io_run(file, NULL, NULL, &r), ATR_ERR_CONFIG);
	cr_assert_not_null(strstr(atr_detail(), "not a directory"), "%s",
	    atr_detail());
	cr_assert_null(r);
	atr_detail_clear();
	tu_rmtree(dir);
	free(dir);
	free(file);
	free(missing);
}

/* doc_with's document, stored through files on fs (NULL: in memory). */
static char *
doc_io(const double *ratio, size_t n, const char *fs)
{
	char *s = doc_with(ratio, n, NULL), *t;
	cJSON *root = cJSON_Parse(s);

	cr_assert_not_null(root);
	free(s);
	if (fs != NULL) {
		cJSON *cfg = cJSON_GetObjectItem(root, "config");

		if (cfg == NULL)
			cfg = cJSON_AddObjectToObject(root, "config");
		cJSON_AddBoolToObject(cfg, "io", 1);
		cJSON_AddStringToObject(cJSON_GetObjectItem(root, "environment"),
		    "io_fs", fs);
	}
	t = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	cr_assert_not_null(t);
	return t;
}

Test(compare, io_and_memory_runs_are_not_compared)
{
	double ratio[] = {0.5, 0.6};
	char *mem = doc_io(ratio, 2, NULL), *ext = doc_io(ratio, 2, "xfs");
	char *ext2 = doc_io(ratio, 2, "xfs"), *tmp = doc_io(ratio, 2, "tmpfs");
	struct atb_cmp c;

	cr_assert_eq(atb_compare(mem, ext, 10.0, 0, 0.05, 0, &c),
	    ATR_ERR_CONFIG);
	cr_assert_not_null(strstr(atr_detail(), "in memory"));
	cr_assert_eq(c.nrows, 0);
	cr_assert_eq(atb_compare(ext, mem, 10.0, 0, 0.05, 0, &c),
	    ATR_ERR_CONFIG);
	cr_assert_eq(atb_compare(ext, tmp, 10.0, 0, 0.05, 0, &c),
	    ATR_ERR_CONFIG);
	cr_assert_not_null(strstr(atr_detail(), "tmpfs"));
	/* Two --io runs on the same filesystem compare as usual. */
	cr_assert_eq(atb_compare(ext, ext2, 10.0, 0, 0.05, 0, &c), ATR_OK,
	    "%s", atr_detail());
	cr_assert_eq(c.nrows, 2);
	atb_cmp_free(&c);
	atr_detail_clear();
	free(mem);
	free(ext);
	free(ext2);
	free(tmp);
}
