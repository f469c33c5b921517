/*
 * results.c - struct atb_results as a run fills it: the configuration as
 * run, each cell's figures from its member's repetitions (throughput,
 * latency quantiles, KEK calls, phases, the ratios to the limit and
 * between members), the warnings and notes, and freeing it all.
 */
#include "bench_int.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const double atb_cdf_q[ATB_CDF_POINTS] = {
	0.0, 0.01, 0.05, 0.10, 0.20, 0.30, 0.40, 0.50, 0.60, 0.70, 0.80,
	0.85, 0.90, 0.93, 0.95, 0.97, 0.98, 0.99, 0.995, 0.998, 0.999,
	0.9995, 0.9999, 1.0,
};


void
bn_add_text(char ***list, size_t *n, const char *fmt, ...)
{
	char buf[512], **l;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	l = realloc(*list, (*n + 1) * sizeof(*l));
	if (l == NULL)
		return;
	*list = l;
	l[*n] = strdup(buf);
	if (l[*n] != NULL)
		(*n)++;
}


void
bn_results_begin(struct run *R, struct atb_results *res)
{
	size_t i;

	R->res = res;
	atb_env_collect(&res->env);
	res->cfg = *R->cfg;
	res->cfg.progress = NULL;
	res->cfg.progress_arg = NULL;
	res->cfg.key_opts.ca_file = NULL;
	res->cfg.key_opts.wrap_alg = NULL;
	res->cfg.stop = NULL;
	res->cfg.stop_arg = NULL;
	/* --io: the results keep their own copy of DIR. */
	if (R->cfg->io_dir != NULL) {
		snprintf(res->env.io_dir, sizeof(res->env.io_dir), "%s",
		    R->cfg->io_dir);
		snprintf(res->env.io_fs, sizeof(res->env.io_fs), "%s", R->io_fs);
		res->env.io_magic = R->io_magic;
		res->cfg.io_dir = res->env.io_dir;
	}
	/* The setups as run (a vault spec may become several). */
	res->cfg.nkeys = R->nks ? R->nks : R->cfg->nkeys;
	for (i = 0; i < res->cfg.nkeys && i < ATB_MAX_KEYS; i++) {
		snprintf(res->key_names[i], sizeof(res->key_names[i]), "%s",
		    R->nks ? R->ks[i].name : R->cfg->keys[i]);
		res->cfg.keys[i] = res->key_names[i];
	}
}

/* ---- cells ------------------------------------------------------------- */

void
bn_cell_init(struct atb_cell *c, const struct group *G, const struct member *M)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->key, sizeof(c->key), "%s", M->ks->name);
	snprintf(c->key_desc, sizeof(c->key_desc), "%s", M->ks->inner->desc);
	c->cmk = M->ks->cmk;
	c->hier = G->hier;
	c->size = G->size;
	c->op = G->op;
	c->threads = M->threads;
	c->cache_hit_rate = -1.0;
	c->vault_latency_ms = M->ks->vault ? M->ks->vault_ms : -1.0;
	c->kms_per_s = NAN;
	c->p50_us = c->p90_us = c->p99_us = c->p999_us = c->max_us =
	    c->min_us = c->mean_us = NAN;
	c->limit_aead_us = c->limit_kek_us = c->limit_ops_per_s = NAN;
	c->limit_io_us = NAN;
	c->kms_p50_us = c->kms_p99_us = c->kms_max_us = NAN;
	c->cpu_us_per_op = c->cpu_util = c->kms_calls_per_op = NAN;
	atb_stat_of(NULL, 0, &c->ops_per_s);
	atb_stat_of(NULL, 0, &c->mb_per_s);
	atb_stat_of(NULL, 0, &c->vs_limit);
	atb_stat_of(NULL, 0, &c->vs_limit_cpu);
	c->ops_per_cpu_s = c->vs_limit_best = c->vs_limit_cpu_best = NAN;
	atb_stat_of(NULL, 0, &c->vs_aead);
	atb_stat_of(NULL, 0, &c->cmk_vs_smk);
	atb_stat_of(NULL, 0, &c->vs_1thread);
}

static void
stat_ratio(const double *a, const double *b, unsigned n, struct atb_stat *out)
{
	double v[256];
	unsigned i, k = 0;

	for (i = 0; i < n && k < 256; i++)
		if (a[i] > 0 && b[i] > 0)
			v[k++] = a[i] / b[i];
	atb_stat_of(v, k, out);
}

/* Latency quantiles, KEK calls, the key service's counters, the hit
 * rate, CPU time and phases: per op over every repetition. */
static void
cell_counts(struct atb_cell *c, const struct group *G,
    const struct member *M)
{
	unsigned i, p;

	c->p50_us = (double)atb_hist_quantile(M->lat, 0.50) / 1e3;
	c->p90_us = (double)atb_hist_quantile(M->lat, 0.90) / 1e3;
	c->p99_us = (double)atb_hist_quantile(M->lat, 0.99) / 1e3;
	c->p999_us = (double)atb_hist_quantile(M->lat, 0.999) / 1e3;
	c->max_us = (double)M->lat->max / 1e3;
	c->min_us = (double)M->lat->min / 1e3;
	c->mean_us = atb_hist_mean(M->lat) / 1e3;
	for (i = 0; i < ATB_CDF_POINTS; i++)
		c->cdf_us[i] = (float)((double)atb_hist_quantile(M->lat,
		    atb_cdf_q[i]) / 1e3);
	c->kms_calls = M->kms_calls;
	c->kms_errors = M->kms_errors;
	c->kms_calls_per_op = (double)M->kms_calls / (double)M->ops;
	c->kms_per_s = (double)M->kms_calls * 1e9 / (double)M->wall_ns;
	c->kms_attempts = M->kv_attempts;
	c->kms_retries = M->kv_retries;
	c->kms_throttled = M->kv_throttled;
	c->vault_requests = M->srv_requests;
	c->vault_throttled = M->srv_throttled;
	if (M->kms->count > 0) {
		c->kms_p50_us = (double)atb_hist_quantile(M->kms, 0.50) / 1e3;
		c->kms_p99_us = (double)atb_hist_quantile(M->kms, 0.99) / 1e3;
		c->kms_max_us = (double)M->kms->max / 1e3;
	}
	if (G->hier != ATB_PER_OBJECT && M->hits + M->misses > 0)
		c->cache_hit_rate = (double)M->hits /
		    (double)(M->hits + M->misses);
	c->cpu_us_per_op = (double)M->cpu_ns / (double)M->ops / 1e3;
	c->cpu_util = (double)M->cpu_ns / ((double)M->wall_ns *
	    (double)M->threads);
	for (p = 0; p < ATB_PH__COUNT; p++)
		c->phase_us[p] = (double)M->ns[p] / (double)M->ops / 1e3;
}

/*
 * The limit of each of the n repetitions (raw GCM + the KEK op, times
 * eff cores, into M->rep_lim) and the cell's ratios to it, on wall
 * time, on CPU time and on the best repetitions.
 */
static void
cell_limits(struct atb_cell *c, struct member *M, unsigned n, double eff)
{
	double v[256], u[256];
	struct atb_stat s;
	unsigned i;

	for (i = 0; i < n; i++)
		M->rep_lim[i] = atb_limit_ops_per_s(M->rep_gcm[i], M->rep_kek[i],
		    c->io ? M->rep_io[i] : 0, eff);
	if (c->io) {
		memcpy(v, M->rep_io, n * sizeof(double));
		atb_stat_of(v, n, &s);
		c->limit_io_us = s.med / 1e3;
	}
	memcpy(v, M->rep_gcm, n * sizeof(double));
	atb_stat_of(v, n, &s);
	c->limit_aead_us = s.med / 1e3;
	memcpy(v, M->rep_kek, n * sizeof(double));
	atb_stat_of(v, n, &s);
	c->limit_kek_us = s.med / 1e3;
	memcpy(v, M->rep_lim, n * sizeof(double));
	atb_stat_of(v, n, &s);
	c->limit_ops_per_s = s.med;
	stat_ratio(M->rep_ops, M->rep_lim, n, &c->vs_limit);
	/* On CPU time: the limit's CPU per op over the cell's. */
	for (i = 0; i < n; i++)
		u[i] = M->rep_gcm_cpu[i] + M->rep_kek_cpu[i] +
		    (c->io ? M->rep_io_cpu[i] : 0);
	stat_ratio(u, M->rep_cpu, n, &c->vs_limit_cpu);
	/* Each repetition's own values, in order, for the U test of
	 * `bench compare` (NaN where a repetition has none). */
	c->nrep_v = n < ATB_REPS_MAX ? n : ATB_REPS_MAX;
	for (i = 0; i < c->nrep_v; i++) {
		c->rep_ops_per_s[i] = M->rep_ops[i];
		c->rep_vs_limit[i] = M->rep_ops[i] > 0 && M->rep_lim[i] > 0 ?
		    M->rep_ops[i] / M->rep_lim[i] : NAN;
		c->rep_vs_limit_cpu[i] = u[i] > 0 && M->rep_cpu[i] > 0 ?
		    u[i] / M->rep_cpu[i] : NAN;
	}
	c->ops_per_cpu_s = M->cpu_ns ? 1e9 * (double)M->ops /
	    (double)M->cpu_ns : NAN;
	{
		double bo = 0, bl = 0, bc = INFINITY, blc = INFINITY;

		for (i = 0; i < n; i++) {
			if (M->rep_ops[i] > bo)
				bo = M->rep_ops[i];
			if (M->rep_lim[i] > bl)
				bl = M->rep_lim[i];
			if (M->rep_cpu[i] < bc)
				bc = M->rep_cpu[i];
			if (u[i] < blc)
				blc = u[i];
		}
		c->vs_limit_best = bl > 0 ? bo / bl : NAN;
		c->vs_limit_cpu_best = bc > 0 && !isinf(blc) ? blc / bc : NAN;
	}
	for (i = 0; i < n; i++)
		u[i] = M->rep_gcm[i] > 0 ? 1e9 / M->rep_gcm[i] * eff : NAN;
	stat_ratio(M->rep_ops, u, n, &c->vs_aead);
}

void
bn_member_finish(struct run *R, struct group *G, struct member *M)
{
	struct atb_cell *c = M->cell;
	double v[256];
	unsigned i, n = M->nrep < 256 ? M->nrep : 256;
	double eff = M->threads < R->cores ? M->threads : R->cores;

	c->reps = n;
	c->ops = M->ops;
	c->op_errors = M->op_errors;
	if (M->op_errors > 0 && !M->failed)
		snprintf(c->note, sizeof(c->note), "%llu ops failed: %s: %.120s",
		    (unsigned long long)M->op_errors, atr_strerror(M->last_err),
		    M->last_detail);
	if (M->failed || n == 0 || M->ops == 0)
		return;
	memcpy(v, M->rep_ops, n * sizeof(double));
	atb_stat_of(v, n, &c->ops_per_s);
	for (i = 0; i < n; i++)
		v[i] = M->rep_ops[i] * (double)G->size / 1e6;
	atb_stat_of(v, n, &c->mb_per_s);
	cell_counts(c, G, M);
	cell_limits(c, M, n, eff);
	c->spread = atb_rep_spread(M->rep_ops, n);
	c->noisy = c->spread * 100.0 > R->cfg->noise_pct;
	c->quiet = bn_member_quiet(R, M);
	c->extra_reps = M->extra;
	if (c->cache_hit_rate < 0 && G->hier != ATB_PER_OBJECT)
		c->cache_hit_rate = 0;
}

int
bn_member_quiet(const struct run *R, const struct member *M)
{
	const struct atb_config *c = R->cfg;
	double lim[ATB_REPS_MAX], cpu[ATB_REPS_MAX];
	unsigned i, n = M->nrep < ATB_REPS_MAX ? M->nrep : ATB_REPS_MAX;

	if (M->failed || n < atb_utest_min_reps(c->alpha))
		return 0;
	/* vs_limit up to the constant factor of the cores, which does not
	 * change a spread: ops/s times the limit's ns per op. */
	for (i = 0; i < n; i++) {
		lim[i] = M->rep_ops[i] * (M->rep_gcm[i] + M->rep_kek[i]);
		cpu[i] = M->rep_cpu[i] > 0 ? (M->rep_gcm_cpu[i] +
		    M->rep_kek_cpu[i]) / M->rep_cpu[i] : 0;
	}
	return atb_rep_spread(M->rep_ops, n) * 100.0 <= c->noise_pct &&
	    atb_rep_spread(lim, n) * 100.0 <= c->noise_pct &&
	    atb_rep_spread(cpu, n) * 100.0 <= c->noise_pct;
}

/* The ratio of M's repetitions to S's that ran in the same round. */
static void
round_ratio(const struct member *M, const struct member *S,
    struct atb_stat *out)
{
	double a[256], b[256];
	unsigned i, j, k = 0;

	for (i = 0; i < M->nrep && k < 256; i++)
		for (j = 0; j < S->nrep; j++)
			if (S->rep_round[j] == M->rep_round[i]) {
				a[k] = M->rep_ops[i];
				b[k++] = S->rep_ops[j];
				break;
			}
	stat_ratio(a, b, k, out);
}

void
bn_group_ratios(struct group *G)
{
	size_t i, j;

	for (i = 0; i < G->nm; i++) {
		struct member *M = &G->m[i];

		if (M->failed || M->nrep == 0)
			continue;
		for (j = 0; j < G->nm; j++) {
			struct member *S = &G->m[j];

			if (S->failed || S->nrep == 0)
				continue;
			if (M->ks->cmk && !S->ks->cmk &&
			    S->threads == M->threads &&
			    M->cell->cmk_vs_smk.n == 0)
				round_ratio(M, S, &M->cell->cmk_vs_smk);
			if (M->threads > 1 && S->threads == 1 &&
			    S->ks == M->ks)
				round_ratio(M, S, &M->cell->vs_1thread);
		}
	}
}

/* ---- warnings ----------------------------------------------------------- */

void
bn_run_warnings(struct run *R)
{
	struct atb_results *res = R->res;
	size_t i, noisy = 0, failed = 0;
	char first[200] = "";

	for (i = 0; i < res->ncells; i++) {
		struct atb_cell *c = &res->cells[i];

		if (c->skipped && strncmp(c->note, "failed", 6) == 0)
			failed++;
		if (c->noisy) {
			if (noisy++ == 0)
				snprintf(first, sizeof(first),
				    "%s %s %llu B %s x%u: %.0f%%", c->key,
				    atb_hier_name(c->hier),
				    (unsigned long long)c->size,
				    atb_op_name(c->op), c->threads,
				    c->spread * 100.0);
		}
	}
	{
		double u[4096];
		unsigned k = 0;
		struct atb_stat us;

		for (i = 0; i < res->ncells && k < 4096; i++)
			/* An --io encrypt cell waits for fsync off the CPU
			 * by design: not a sign of competition. */
			if (!res->cells[i].skipped && res->cells[i].threads == 1 &&
			    !(res->cells[i].io && res->cells[i].op ==
			    ATB_ENCRYPT) && !isnan(res->cells[i].cpu_util))
				u[k++] = res->cells[i].cpu_util;
		atb_stat_of(u, k, &us);
		if (k > 0 && us.med < 0.9)
			WARN(R, "the measuring threads got %.0f%% of a CPU (median "
			    "of the one-thread cells): other processes competed for "
			    "the CPU, so ops/s and vs_limit are low and noisy; "
			    "ops_per_cpu_s and vs_limit_cpu are not affected by "
			    "lost time slices", us.med * 100.0);
	}
	if (!isnan(res->env.load_start) &&
	    res->env.load_start > 0.5 * (double)R->cores)
		WARN(R, "busy machine: load average %.2f on %u cores when the run "
		    "started (%.2f at the end)", res->env.load_start, R->cores,
		    res->env.load_end);
	if (noisy > 0)
		WARN(R, "noisy machine: %zu of %zu cells spread more than %.0f%% "
		    "between repetitions (e.g. %s); ratios are per-repetition "
		    "medians, re-run with more --reps, a longer --time or "
		    "--until-quiet to confirm", noisy, res->ncells,
		    R->cfg->noise_pct, first);
	if (res->ncells > 0 && R->cfg->reps < atb_utest_min_reps(R->cfg->alpha)
	    && R->cfg->until_quiet <= 0)
		NOTE(R, "%u repetitions per cell: bench compare's U test "
		    "needs at least %u on each side to reach p < %g, so it will "
		    "call every cell of this run inconclusive", R->cfg->reps,
		    atb_utest_min_reps(R->cfg->alpha), R->cfg->alpha);
	if (failed > 0)
		WARN(R, "%zu cells failed; see their notes", failed);
	for (i = 0; i < R->cfg->nthreads; i++)
		if (R->cfg->threads[i] > R->cores) {
			WARN(R, "%u threads on %u cores: the limit assumes %u "
			    "cores", R->cfg->threads[i], R->cores, R->cores);
			break;
		}
	for (i = 0; i < res->nlimits; i++) {
		const struct atb_limit *L = &res->limits[i];
		double s = atb_stat_spread(&L->ns_per_op);

		if (L->kind == ATB_L_GCM_STREAM && s * 100.0 > R->cfg->noise_pct)
			WARN(R, "the reference %s moved %.0f%% between the start "
			    "and the end of the run: the host's speed changed",
			    L->name, s * 100.0);
	}
}

void
atb_results_free(struct atb_results *r)
{
	size_t i;

	if (r == NULL)
		return;
	for (i = 0; i < r->nwarnings; i++)
		free(r->warnings[i]);
	for (i = 0; i < r->nnotes; i++)
		free(r->notes[i]);
	free(r->warnings);
	free(r->notes);
	free(r->limits);
	free(r->cells);
	free(r);
}
