/*
 * compare.c - `atrest bench compare BASE.json NEW.json`: the CI gate.
 *
 * A cell is compared on vs_limit, its throughput divided by the limit
 * the same run measured next to it (raw AES-256-GCM at that size plus
 * the KEK operation).  A machine that is uniformly slower lowers both
 * and leaves the ratio alone, so a slower CI runner does not trip the
 * gate; a change in atrest's own code moves the ratio.
 *
 * Each cell is judged on its repetitions (docs/BENCH.md, "The CI
 * gate"): a rank test says whether the two samples differ at all, the
 * threshold whether the difference matters, and a cell whose noise is
 * wider than the threshold is reported inconclusive instead of ok, so
 * a noisy run never passes as if it had been judged.
 */
#include "bench.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

static const char *const cell_numbers[] = {
	"size", "threads", "kms_calls",
};
static const char *const cell_nullable[] = {
	"ops_per_s", "mb_per_s", "p50_us", "p99_us", "vs_limit", "cmk_vs_smk",
	"limit_ops_per_s",
};
static const char *const cell_strings[] = {"key", "hierarchy", "op"};

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static int
why_set(char *why, size_t cap, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, cap, fmt, ap);
	va_end(ap);
	return -1;
}

static int
check_cell(const cJSON *c, long i, char *why, size_t cap)
{
	enum atb_hier h;
	enum atb_op o;
	size_t k;
	const cJSON *x;

	if (!cJSON_IsObject(c))
		return why_set(why, cap, "cells[%ld] is not an object", i);
	for (k = 0; k < sizeof(cell_strings) / sizeof(cell_strings[0]); k++) {
		x = cJSON_GetObjectItemCaseSensitive(c, cell_strings[k]);
		if (!cJSON_IsString(x) || x->valuestring[0] == '\0')
			return why_set(why, cap,
			    "field \"%s\" of cells[%ld] is missing or not a string",
			    cell_strings[k], i);
	}
	for (k = 0; k < sizeof(cell_numbers) / sizeof(cell_numbers[0]); k++) {
		x = cJSON_GetObjectItemCaseSensitive(c, cell_numbers[k]);
		if (!cJSON_IsNumber(x) || x->valuedouble < 0)
			return why_set(why, cap,
			    "field \"%s\" of cells[%ld] is missing or not a number",
			    cell_numbers[k], i);
	}
	for (k = 0; k < sizeof(cell_nullable) / sizeof(cell_nullable[0]); k++) {
		x = cJSON_GetObjectItemCaseSensitive(c, cell_nullable[k]);
		if (!cJSON_IsNumber(x) && !cJSON_IsNull(x))
			return why_set(why, cap,
			    "field \"%s\" of cells[%ld] is missing (number or null)",
			    cell_nullable[k], i);
	}
	x = cJSON_GetObjectItemCaseSensitive(c, "skipped");
	if (!cJSON_IsBool(x))
		return why_set(why, cap, "field \"%s\" of cells[%ld] is not a "
		    "boolean", "skipped", i);
	if (atb_hier_parse(cJSON_GetObjectItemCaseSensitive(c,
	    "hierarchy")->valuestring, &h) != 0)
		return why_set(why, cap, "cells[%ld] has an unknown hierarchy",
		    i);
	if (atb_op_parse(cJSON_GetObjectItemCaseSensitive(c, "op")->valuestring,
	    &o) != 0)
		return why_set(why, cap, "cells[%ld] has an unknown op", i);
	x = cJSON_GetObjectItemCaseSensitive(c, "threads");
	if (x->valuedouble < 1)
		return why_set(why, cap, "cells[%ld] has threads < 1", i);
	if (cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(c, "skipped")) &&
	    !cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(c, "ops_per_s")))
		return why_set(why, cap, "cells[%ld] ran but has no ops_per_s",
		    i);
	return 0;
}

static int
check_doc(const cJSON *root, char *why, size_t cap)
{
	const cJSON *x, *c;
	long i = 0;

	if (!cJSON_IsObject(root))
		return why_set(why, cap, "not a JSON object");
	x = cJSON_GetObjectItemCaseSensitive(root, "schema");
	if (!cJSON_IsString(x) || strcmp(x->valuestring, ATB_SCHEMA) != 0) {
		snprintf(why, cap, "not an %s document (field \"schema\")",
		    ATB_SCHEMA);
		return -1;
	}
	x = cJSON_GetObjectItemCaseSensitive(root, "environment");
	if (!cJSON_IsObject(x) ||
	    !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(x, "cpu_model")) ||
	    !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(x,
	    "openssl_version")) ||
	    !cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(x, "cores"))) {
		snprintf(why, cap, "field \"environment\" is missing or "
		    "incomplete");
		return -1;
	}
	x = cJSON_GetObjectItemCaseSensitive(root, "limits");
	if (!cJSON_IsArray(x)) {
		snprintf(why, cap, "field \"limits\" is missing");
		return -1;
	}
	x = cJSON_GetObjectItemCaseSensitive(root, "cells");
	if (!cJSON_IsArray(x)) {
		snprintf(why, cap, "field \"cells\" is missing");
		return -1;
	}
	cJSON_ArrayForEach(c, x) {
		if (check_cell(c, i, why, cap) != 0)
			return -1;
		i++;
	}
	return 0;
}

int
atb_json_check(const char *text, char *why, size_t cap)
{
	cJSON *root = cJSON_Parse(text);
	int rc;

	if (root == NULL) {
		snprintf(why, cap, "not valid JSON");
		return -1;
	}
	rc = check_doc(root, why, cap);
	cJSON_Delete(root);
	return rc;
}

static double
num_or_nan(const cJSON *o, const char *name)
{
	const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, name);

	return cJSON_IsNumber(x) ? x->valuedouble : NAN;
}

static const char *
str_of(const cJSON *o, const char *name)
{
	const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, name);

	return cJSON_IsString(x) ? x->valuestring : "";
}

/* (max - min) / median of a metric's summary, in %; 0 when unknown. */
static double
summary_noise(const cJSON *cell, const char *metric)
{
	char n[64];
	double med = num_or_nan(cell, metric), lo, hi;

	snprintf(n, sizeof(n), "%s_min", metric);
	lo = num_or_nan(cell, n);
	snprintf(n, sizeof(n), "%s_max", metric);
	hi = num_or_nan(cell, n);
	if (!(med > 0) || isnan(lo) || isnan(hi) || hi < lo)
		return 0;
	return (hi - lo) / med * 100.0;
}

/*
 * The repetitions of a cell's metric (cpu odd: vs_limit_cpu_reps,
 * else vs_limit_reps) into v (ATB_REPS_MAX, the caller's): how many
 * are numbers, 0 when the document recorded none.
 */
static unsigned
reps_of(const cJSON *cell, int cpu, double *v)
{
	const cJSON *a = cJSON_GetObjectItemCaseSensitive(cell,
	    cpu % 2 ? "vs_limit_cpu_reps" : "vs_limit_reps"), *x;
	unsigned n = 0;

	cJSON_ArrayForEach(x, a) {
		if (n == ATB_REPS_MAX)
			break;
		if (cJSON_IsNumber(x) && x->valuedouble > 0)
			v[n++] = x->valuedouble;
	}
	return n;
}

/*
 * The spread of the repetitions in %: the project's one measure of a
 * cell's noise (the bench table's spread column, --noise), atb_rep_spread.
 * Up to 8 repetitions it is (max - min) / median, so one slow repetition
 * widens it; that is on purpose: the gate says it could not judge such a
 * cell rather than guess.  With more repetitions (bench --until-quiet)
 * the extremes drop out of the median's confidence interval.
 */
static double
rep_noise(const double *v, unsigned n)
{
	double s = atb_rep_spread(v, n);

	return isinf(s) ? INFINITY : s * 100.0;
}

static int
same_cell(const cJSON *a, const cJSON *b)
{
	return strcmp(str_of(a, "key"), str_of(b, "key")) == 0 &&
	    strcmp(str_of(a, "hierarchy"), str_of(b, "hierarchy")) == 0 &&
	    strcmp(str_of(a, "op"), str_of(b, "op")) == 0 &&
	    num_or_nan(a, "size") == num_or_nan(b, "size") &&
	    num_or_nan(a, "threads") == num_or_nan(b, "threads");
}

static void
env_line(const cJSON *root, char *out, size_t cap)
{
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(root, "environment");

	snprintf(out, cap, "%s, %.0f cores, %s, %s", str_of(e, "cpu_model"),
	    num_or_nan(e, "cores"), str_of(e, "openssl_version"),
	    str_of(root, "started"));
}

static struct atb_cmp_row *
add_row(struct atb_cmp *c, const cJSON *cell)
{
	struct atb_cmp_row *rows, *r;

	rows = realloc(c->rows, (c->nrows + 1) * sizeof(*rows));
	if (rows == NULL)
		return NULL;
	c->rows = rows;
	r = &rows[c->nrows++];
	memset(r, 0, sizeof(*r));
	snprintf(r->key, sizeof(r->key), "%s", str_of(cell, "key"));
	snprintf(r->hier, sizeof(r->hier), "%s", str_of(cell, "hierarchy"));
	snprintf(r->op, sizeof(r->op), "%s", str_of(cell, "op"));
	r->size = (uint64_t)num_or_nan(cell, "size");
	r->threads = (unsigned)num_or_nan(cell, "threads");
	r->base_ratio = r->new_ratio = r->base_ops = r->new_ops = NAN;
	r->change_pct = r->u = r->p = NAN;
	return r;
}

static const char *
metric_name(int metric)
{
	static const char *const names[] = {
		"vs_limit", "vs_limit_cpu", "vs_limit_best", "vs_limit_cpu_best",
	};

	return metric >= 0 && metric < 4 ? names[metric] : names[0];
}

const char *
atb_metric_name(int metric)
{
	return metric_name(metric);
}

int
atb_metric_parse(const char *s)
{
	static const char *const names[] = {"wall", "cpu", "wall-best",
	    "cpu-best"};
	int i;

	for (i = 0; i < 4; i++)
		if (strcmp(s, names[i]) == 0)
			return i;
	return -1;
}

static int
ran(const cJSON *cell, int cpu)
{
	return cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(cell, "skipped"))
	    && !isnan(num_or_nan(cell, metric_name(cpu)));
}

/* The first cell of cells at a's coordinates that ran, or NULL. */
static const cJSON *
match_of(const cJSON *a, const cJSON *cells, int cpu)
{
	const cJSON *b;

	cJSON_ArrayForEach(b, cells)
		if (same_cell(a, b))
			return ran(b, cpu) ? b : NULL;
	return NULL;
}

/* The verdict from the change, the test (p, NaN for none) and the
 * noise; thr is the threshold in %. */
static enum atb_verdict
verdict_of(const struct atb_cmp_row *r, double thr, double alpha)
{
	double noise = r->base_noise_pct > r->new_noise_pct ?
	    r->base_noise_pct : r->new_noise_pct;
	int sig = r->summary_only || r->p < alpha;

	if (!r->summary_only && atb_utest_min_p(r->base_n, r->new_n) >= alpha)
		return ATB_V_FEW;
	/* A significant change past the threshold is evidence even in a
	 * noisy cell; without a test (summary only) noise comes first. */
	if (r->summary_only && noise > thr)
		return ATB_V_NOISY;
	if (sig && r->change_pct < -thr)
		return ATB_V_REGRESSED;
	if (sig && r->change_pct > thr)
		return ATB_V_IMPROVED;
	return noise > thr ? ATB_V_NOISY : ATB_V_OK;
}

/*
 * What the geometric mean gathers over the cells: the sum of
 * log(new/base) of the medians (the change), and per repetition index i
 * the sums of log(value) of each side's repetition i over the cells that
 * recorded repetitions on both sides (cb[i], cn[i] of them).
 */
struct gacc {
	double logsum;
	unsigned nlog;
	unsigned ncells;                 /* cells with repetitions both sides */
	double sb[ATB_REPS_MAX], sn[ATB_REPS_MAX];
	unsigned cb[ATB_REPS_MAX], cn[ATB_REPS_MAX];
};

static void
gacc_add(struct gacc *g, const double *bv, unsigned nb, const double *nv,
    unsigned nn)
{
	unsigned i;

	g->ncells++;
	for (i = 0; i < nb; i++) {
		g->sb[i] += log(bv[i]);
		g->cb[i]++;
	}
	for (i = 0; i < nn; i++) {
		g->sn[i] += log(nv[i]);
		g->cn[i]++;
	}
}

/*
 * A cell in both runs: the change of its median, the U test over the
 * repetitions (base against new), the noise of each side and the
 * verdict.  The log of new/base and the repetitions go into the
 * geometric mean (g).
 */
static void
compare_cell(struct atb_cmp_row *r, const cJSON *a, const cJSON *match,
    const struct atb_cmp *c, struct gacc *g)
{
	const char *m = metric_name(c->cpu);
	double bv[ATB_REPS_MAX], nv[ATB_REPS_MAX];

	r->in_new = 1;
	r->new_ratio = num_or_nan(match, m);
	r->new_ops = num_or_nan(match, "ops_per_s");
	if (!(r->base_ratio > 0 && r->new_ratio > 0))
		return;
	r->change_pct = (r->new_ratio / r->base_ratio - 1.0) * 100.0;
	r->base_n = reps_of(a, c->cpu, bv);
	r->new_n = reps_of(match, c->cpu, nv);
	r->summary_only = r->base_n == 0 || r->new_n == 0;
	if (r->summary_only) {
		r->base_noise_pct = summary_noise(a, m);
		r->new_noise_pct = summary_noise(match, m);
	} else {
		r->base_noise_pct = rep_noise(bv, r->base_n);
		r->new_noise_pct = rep_noise(nv, r->new_n);
		if (atb_utest(bv, r->base_n, nv, r->new_n, &r->u, &r->p,
		    &r->exact) != 0)
			r->p = NAN;
		gacc_add(g, bv, r->base_n, nv, r->new_n);
	}
	r->verdict = verdict_of(r, c->max_regression_pct, c->alpha);
	r->regressed = r->verdict == ATB_V_REGRESSED;
	g->logsum += log(r->new_ratio / r->base_ratio);
	g->nlog++;
}

/*
 * The geometric mean as a row of its own.  Repetition i of a side is
 * summed over every cell with repetitions only while each of them has
 * an i-th one, so every per-repetition mean covers the same cells (the
 * extra repetitions of --until-quiet cells are left out of it).  The U
 * test between the two sides' means says whether the whole run moved
 * beyond its own repetition-to-repetition noise: a fall of the median
 * change past the threshold on a noisy run is then inconclusive, not a
 * failure, and a steady 10 % slowdown of every cell is significant.
 */
static void
geomean_judge(struct atb_cmp *c, const struct gacc *g)
{
	struct atb_cmp_row *r = &c->geomean;
	double bm[ATB_REPS_MAX], nm[ATB_REPS_MAX];
	unsigned nb = 0, nn = 0;

	memset(r, 0, sizeof(*r));
	snprintf(r->key, sizeof(r->key), "geometric mean");
	r->in_base = r->in_new = 1;
	r->base_ratio = r->new_ratio = r->base_ops = r->new_ops = NAN;
	r->u = r->p = NAN;
	r->change_pct = c->geomean_change_pct;
	c->geomean_cells = g->ncells;
	if (isnan(r->change_pct))
		return;
	while (nb < ATB_REPS_MAX && g->ncells > 0 && g->cb[nb] == g->ncells) {
		bm[nb] = exp(g->sb[nb] / g->ncells);
		nb++;
	}
	while (nn < ATB_REPS_MAX && g->ncells > 0 && g->cn[nn] == g->ncells) {
		nm[nn] = exp(g->sn[nn] / g->ncells);
		nn++;
	}
	r->base_n = nb;
	r->new_n = nn;
	r->summary_only = nb == 0 || nn == 0;
	if (!r->summary_only) {
		r->base_noise_pct = rep_noise(bm, nb);
		r->new_noise_pct = rep_noise(nm, nn);
		if (atb_utest(bm, nb, nm, nn, &r->u, &r->p, &r->exact) != 0)
			r->p = NAN;
	}
	if (c->max_geomean_pct > 0)
		r->verdict = verdict_of(r, c->max_geomean_pct, c->alpha);
	r->regressed = r->verdict == ATB_V_REGRESSED;
}

/* Counts a compared row's verdict into c. */
static void
count_verdict(struct atb_cmp *c, const struct atb_cmp_row *r)
{
	if (isnan(r->change_pct))
		return;
	c->summary_only += r->summary_only != 0;
	switch (r->verdict) {
	case ATB_V_REGRESSED:
		c->regressions++;
		break;
	case ATB_V_IMPROVED:
		c->improved++;
		break;
	case ATB_V_NOISY:
		c->noisy++;
		break;
	case ATB_V_FEW:
		c->few++;
		break;
	case ATB_V_OK:
		break;
	}
}

/* One row per cell that ran in the base run, compared with the new run
 * where it ran there too; then the geometric mean. */
static enum atr_err
compare_base_cells(struct atb_cmp *out, const cJSON *bc, const cJSON *nc,
    int cpu)
{
	const cJSON *a;
	struct gacc *g = calloc(1, sizeof(*g));

	if (g == NULL)
		return ATR_ERR_NOMEM;
	cJSON_ArrayForEach(a, bc) {
		struct atb_cmp_row *r;
		const cJSON *match;

		if (!ran(a, cpu))
			continue;
		match = match_of(a, nc, cpu);
		r = add_row(out, a);
		if (r == NULL) {
			free(g);
			return ATR_ERR_NOMEM;
		}
		r->in_base = 1;
		r->base_ratio = num_or_nan(a, metric_name(cpu));
		r->base_ops = num_or_nan(a, "ops_per_s");
		if (match == NULL) {
			out->missing++;
			continue;
		}
		compare_cell(r, a, match, out, g);
		count_verdict(out, r);
	}
	out->geomean_change_pct = g->nlog ? (exp(g->logsum / g->nlog) - 1.0) *
	    100.0 : NAN;
	geomean_judge(out, g);
	out->geomean_regressed = out->max_geomean_pct > 0 &&
	    out->geomean.regressed;
	free(g);
	return ATR_OK;
}

/* One row per cell that ran only in the new run. */
static enum atr_err
compare_new_cells(struct atb_cmp *out, const cJSON *bc, const cJSON *nc,
    int cpu)
{
	const cJSON *a, *b;

	cJSON_ArrayForEach(b, nc) {
		struct atb_cmp_row *r;
		int found = 0;

		if (!ran(b, cpu))
			continue;
		cJSON_ArrayForEach(a, bc)
			if (ran(a, cpu) && same_cell(a, b)) {
				found = 1;
				break;
			}
		if (found)
			continue;
		r = add_row(out, b);
		if (r == NULL)
			return ATR_ERR_NOMEM;
		r->in_new = 1;
		r->new_ratio = num_or_nan(b, metric_name(cpu));
		r->new_ops = num_or_nan(b, "ops_per_s");
		out->added++;
	}
	return ATR_OK;
}

/* Parses a results document and checks its schema; which names it
 * ("base", "new") in the error. */
static enum atr_err
parse_doc(const char *text, const char *which, cJSON **out)
{
	char why[256];

	*out = cJSON_Parse(text);
	if (*out == NULL || check_doc(*out, why, sizeof(why)) != 0)
		return atr_fail(ATR_ERR_FORMAT, "%s results: %s", which,
		    *out == NULL ? "not valid JSON" : why);
	return ATR_OK;
}

/*
 * How a run stored its objects: 0 in memory (also a document older than
 * --io, which has no "io" field), 1 through files, with the
 * filesystem's name in fs (cap bytes).
 */
static int
doc_io(const cJSON *root, char *fs, size_t cap)
{
	const cJSON *cfg = cJSON_GetObjectItemCaseSensitive(root, "config");
	const cJSON *env = cJSON_GetObjectItemCaseSensitive(root,
	    "environment");

	snprintf(fs, cap, "%s", str_of(env, "io_fs"));
	return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(cfg, "io"));
}

/*
 * An --io run's cells carry storage in their time and in their limit,
 * an in-memory run's do not, and fsync on one filesystem has nothing to
 * do with fsync on another: such ratios are not the same quantity, so
 * the two documents are refused rather than compared (docs/BENCH.md,
 * "Storage (--io)").
 */
static enum atr_err
same_storage(const cJSON *base, const cJSON *cur)
{
	char bfs[64], nfs[64];
	int bio = doc_io(base, bfs, sizeof(bfs));
	int nio = doc_io(cur, nfs, sizeof(nfs));

	if (bio != nio)
		return atr_fail(ATR_ERR_CONFIG, "the base results ran %s, the "
		    "new results %s: their cells are not comparable (compare "
		    "two runs made the same way)", bio ? "through files "
		    "(--io)" : "in memory", nio ? "through files (--io)" :
		    "in memory");
	if (bio && strcmp(bfs, nfs) != 0)
		return atr_fail(ATR_ERR_CONFIG, "the base results ran on %s, "
		    "the new results on %s (--io): their storage limits are "
		    "not comparable", bfs[0] ? bfs : "an unknown filesystem",
		    nfs[0] ? nfs : "an unknown filesystem");
	return ATR_OK;
}

enum atr_err
atb_compare(const char *base_json, const char *new_json,
    double max_regression_pct, double max_geomean_pct, double alpha,
    int cpu, struct atb_cmp *out)
{
	cJSON *base = NULL, *cur = NULL;
	const cJSON *bc, *nc;
	enum atr_err err;

	memset(out, 0, sizeof(*out));
	out->max_regression_pct = max_regression_pct;
	out->max_geomean_pct = max_geomean_pct;
	out->alpha = alpha;
	out->cpu = cpu;
	err = parse_doc(base_json, "base", &base);
	if (err == ATR_OK)
		err = parse_doc(new_json, "new", &cur);
	if (err == ATR_OK)
		err = same_storage(base, cur);
	if (err != ATR_OK)
		goto out;
	env_line(base, out->base_env, sizeof(out->base_env));
	env_line(cur, out->new_env, sizeof(out->new_env));
	bc = cJSON_GetObjectItemCaseSensitive(base, "cells");
	nc = cJSON_GetObjectItemCaseSensitive(cur, "cells");
	err = compare_base_cells(out, bc, nc, cpu);
	if (err == ATR_OK)
		err = compare_new_cells(out, bc, nc, cpu);
out:
	cJSON_Delete(base);
	cJSON_Delete(cur);
	if (err != ATR_OK)
		atb_cmp_free(out);
	return err;
}

static const char *
status_of(const struct atb_cmp_row *r)
{
	static const char *const v[] = {
		"ok", "improved", "REGRESSED", "inconclusive: noise",
		"inconclusive: too few reps",
	};

	if (!r->in_new)
		return "missing in new";
	if (!r->in_base)
		return "new cell";
	if (isnan(r->change_pct))
		return "-";
	return v[r->verdict];
}

static void
print_row(FILE *f, const struct atb_cmp_row *r)
{
	char ch[16], p[16], nz[24];

	if (isnan(r->change_pct))
		snprintf(ch, sizeof(ch), "-");
	else
		snprintf(ch, sizeof(ch), "%+.1f%%", r->change_pct);
	if (isnan(r->p))
		snprintf(p, sizeof(p), "%s", r->summary_only ? "none" : "-");
	else
		snprintf(p, sizeof(p), "%.4f", r->p);
	if (isnan(r->change_pct))
		snprintf(nz, sizeof(nz), "-");
	else
		snprintf(nz, sizeof(nz), "%.0f%%/%.0f%%", r->base_noise_pct,
		    r->new_noise_pct);
	fprintf(f, "%-22.22s %-12s %9llu %-7s %3u %9.4f %9.4f %8s %3u/%-3u "
	    "%7s %9s %11.0f %11.0f  %s%s\n", r->key, r->hier,
	    (unsigned long long)r->size, r->op, r->threads, r->base_ratio,
	    r->new_ratio, ch, r->base_n, r->new_n, p, nz, r->base_ops,
	    r->new_ops, status_of(r), r->summary_only && !isnan(r->change_pct)
	    ? " (summary only)" : "");
}

/* The geometric mean's line: its change, then how it was judged. */
static void
geomean_print(FILE *f, const struct atb_cmp *c)
{
	const struct atb_cmp_row *g = &c->geomean;
	static const char *const v[] = {
		"ok", "improved", "REGRESSED", "inconclusive: noise",
		"inconclusive: too few reps",
	};

	if (!(c->max_geomean_pct > 0)) {
		fprintf(f, "geometric mean of the changes: %+.1f%% (not "
		    "checked)\n", c->geomean_change_pct);
		return;
	}
	fprintf(f, "geometric mean of the changes: %+.1f%% (threshold "
	    "-%.1f%%): %s", c->geomean_change_pct, c->max_geomean_pct,
	    isnan(g->change_pct) ? "-" : v[g->verdict]);
	if (isnan(g->change_pct))
		fprintf(f, "\n");
	else if (g->summary_only)
		fprintf(f, " (no repetitions recorded: the change alone, no "
		    "test)\n");
	else
		fprintf(f, " (U test over %u against %u per-repetition "
		    "geometric means of %zu cells: p %.4f, spread %.0f%%/%.0f%%)"
		    "\n", g->base_n, g->new_n, c->geomean_cells, g->p,
		    g->base_noise_pct, g->new_noise_pct);
}

void
atb_cmp_print(FILE *f, const struct atb_cmp *c)
{
	size_t i;

	fprintf(f, "base: %s\nnew:  %s\n", c->base_env, c->new_env);
	fprintf(f, "metric: %s (%s%s); threshold %.1f%%, U test alpha %g\n\n",
	    metric_name(c->cpu), c->cpu % 2 ? "limit CPU time per op / cell "
	    "CPU time per op, same run" : "cell throughput / limit measured in "
	    "the same run", c->cpu >= 2 ? ", best repetitions" : "",
	    c->max_regression_pct, c->alpha);
	fprintf(f, "%-22s %-12s %9s %-7s %3s %9s %9s %8s %7s %7s %9s %11s %11s  "
	    "%s\n", "key", "hierarchy", "size", "op", "thr", "base", "new",
	    "change", "reps", "p", "noise", "base ops/s", "new ops/s",
	    "status");
	for (i = 0; i < c->nrows; i++)
		print_row(f, &c->rows[i]);
	fprintf(f, "\n%zu cells compared: %zu regressed, %zu improved, %zu "
	    "inconclusive (%zu noise wider than %.1f%%, %zu too few "
	    "repetitions for p < %g); %zu missing in new, %zu new\n",
	    c->nrows - c->added - c->missing, c->regressions, c->improved,
	    c->noisy + c->few, c->noisy, c->max_regression_pct, c->few,
	    c->alpha, c->missing, c->added);
	if (c->summary_only > 0)
		fprintf(f, "%zu cells judged on their summary only: a results "
		    "file without the repetitions (vs_limit_reps), so no rank "
		    "test\n", c->summary_only);
	if (c->few > 0)
		fprintf(f, "too few repetitions: the smallest two-sided p of n "
		    "against n is 2 / C(2n, n); p < %g needs at least %u on each "
		    "side (atrest bench --reps %u, the default 5, or "
		    "--until-quiet)\n", c->alpha, atb_utest_min_reps(c->alpha),
		    atb_utest_min_reps(c->alpha) > 5 ?
		    atb_utest_min_reps(c->alpha) : 5);
	geomean_print(f, c);
}

int
atb_cmp_status(const struct atb_cmp *c)
{
	int g_open = c->max_geomean_pct > 0 && !isnan(c->geomean.change_pct) &&
	    (c->geomean.verdict == ATB_V_NOISY ||
	    c->geomean.verdict == ATB_V_FEW);

	if (c->regressions > 0 || c->geomean_regressed)
		return 1;
	return c->noisy + c->few > 0 || g_open ? 3 : 0;
}

void
atb_cmp_free(struct atb_cmp *c)
{
	free(c->rows);
	c->rows = NULL;
	c->nrows = 0;
}
