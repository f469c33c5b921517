/*
 * see report_int.h: the bench section (docs/REPORT.md, "The bench part").
 *
 * The last run is shown in full: its environment, the limits measured in
 * the same run, and the charts (throughput against object size with the
 * machine's limit, latency CDFs, the per-phase breakdown, CMK/SMK
 * overhead, and revocation latency against throughput when a
 * `bench --revocation` document is given).  With several runs each later
 * run is compared with the first exactly as `atrest bench compare` does
 * (atb_compare with its default options), with the gate's exit status.
 *
 * Everything read from a document is hostile: strings go through
 * rb_text, numbers are used only when finite (svg.c drops the rest and
 * says so), and the number of cells, series and points is capped.
 */
#include "report_int.h"
#include "svg.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

/* At most this many cells of one run are read (the page says so). */
#define CELLS_MAX 4096
#define GROUP_NAME 160
#define PHASE_CHARTS_MAX 8
#define COMPARE_ROWS_MAX 2000

/* `atrest bench compare`'s defaults (cli/cmd_bench.c, docs/BENCH.md "The
 * CI gate"): --max-regression 15, --max-geomean-regression 8,
 * --alpha 0.05, --metric cpu. */
#define CMP_MAX_REGRESSION 15.0
#define CMP_MAX_GEOMEAN 8.0
#define CMP_ALPHA 0.05
#define CMP_METRIC 1

static const char *const phase_names[] = {
	"dek", "wrap", "unwrap", "aead", "io", "other",
};
#define NPHASES (sizeof(phase_names) / sizeof(phase_names[0]))

static double
num(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static const char *
str(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	return cJSON_IsString(v) && v->valuestring != NULL ? v->valuestring :
	    "";
}

static int
is_true(const cJSON *o, const char *name)
{
	return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, name));
}

/* Series built from cells: one per name, points appended in order. */
struct group {
	char name[GROUP_NAME];
	double x[SVG_POINTS_MAX], y[SVG_POINTS_MAX];
	size_t n, dropped;
};

struct groups {
	struct group *g;
	size_t n;
	size_t dropped;      /* series beyond SVG_SERIES_MAX */
};

static enum atr_err
groups_init(struct groups *gs)
{
	gs->g = calloc(SVG_SERIES_MAX, sizeof(*gs->g));
	gs->n = gs->dropped = 0;
	return gs->g == NULL ? ATR_ERR_NOMEM : ATR_OK;
}

static void
groups_reset(struct groups *gs)
{
	memset(gs->g, 0, SVG_SERIES_MAX * sizeof(*gs->g));
	gs->n = gs->dropped = 0;
}

static void
groups_add(struct groups *gs, const char *name, double x, double y)
{
	struct group *g = NULL;
	size_t i;

	for (i = 0; i < gs->n; i++)
		if (strcmp(gs->g[i].name, name) == 0) {
			g = &gs->g[i];
			break;
		}
	if (g == NULL) {
		if (gs->n == SVG_SERIES_MAX) {
			gs->dropped++;
			return;
		}
		g = &gs->g[gs->n++];
		snprintf(g->name, sizeof(g->name), "%s", name);
	}
	if (g->n == SVG_POINTS_MAX) {
		g->dropped++;
		return;
	}
	g->x[g->n] = x;
	g->y[g->n] = y;
	g->n++;
}

/* Sorts each series by x (insertion sort: a few dozen points), so lines
 * run left to right whatever the cells' order. */
static void
groups_sort(struct groups *gs)
{
	size_t i, j, k;
	double tx, ty;

	for (k = 0; k < gs->n; k++) {
		struct group *g = &gs->g[k];

		for (i = 1; i < g->n; i++)
			for (j = i; j > 0 && g->x[j - 1] > g->x[j]; j--) {
				tx = g->x[j], g->x[j] = g->x[j - 1];
				g->x[j - 1] = tx;
				ty = g->y[j], g->y[j] = g->y[j - 1];
				g->y[j - 1] = ty;
			}
	}
}

/* Draws the groups (plus extra series, e.g. a limit) as one plot. */
static enum atr_err
groups_plot(struct rpt_buf *b, const struct groups *gs,
    const struct svg_series *extra, size_t nextra, struct svg_plot *p)
{
	struct svg_series *s;
	size_t i, n = 0;

	s = calloc(gs->n + nextra + 1, sizeof(*s));
	if (s == NULL)
		return ATR_ERR_NOMEM;
	for (i = 0; i < gs->n; i++) {
		s[n].name = gs->g[i].name;
		s[n].x = gs->g[i].x;
		s[n].y = gs->g[i].y;
		s[n].n = gs->g[i].n;
		n++;
	}
	for (i = 0; i < nextra; i++)
		s[n++] = extra[i];
	p->s = s;
	p->ns = n;
	svg_plot(b, p, NULL);
	if (gs->dropped > 0)
		rb_rawf(b, "<p class=\"capped\">Chart capped: %zu more series "
		    "not drawn (at most %d).</p>\n", gs->dropped,
		    SVG_SERIES_MAX);
	free(s);
	return ATR_OK;
}

/* One run's cells as a bounded array (NULL-terminated view). */
struct run {
	const cJSON *doc, *env, *config, *limits, *cells;
	const cJSON **c;
	size_t nc, total;
	unsigned tmin, tmax;
	double smin;
};

static enum atr_err
run_load(struct run *r, const struct rpt_doc *d)
{
	const cJSON *c;
	double t, s;

	memset(r, 0, sizeof(*r));
	r->doc = d->json;
	r->env = cJSON_GetObjectItemCaseSensitive(d->json, "environment");
	r->config = cJSON_GetObjectItemCaseSensitive(d->json, "config");
	r->limits = cJSON_GetObjectItemCaseSensitive(d->json, "limits");
	r->cells = cJSON_GetObjectItemCaseSensitive(d->json, "cells");
	if (!cJSON_IsObject(r->env))
		return atr_fail(ATR_ERR_FORMAT, "%s: \"environment\" is not an "
		    "object", d->path);
	if (!cJSON_IsArray(r->limits))
		return atr_fail(ATR_ERR_FORMAT, "%s: \"limits\" is not an "
		    "array", d->path);
	if (!cJSON_IsArray(r->cells))
		return atr_fail(ATR_ERR_FORMAT, "%s: \"cells\" is not an "
		    "array", d->path);
	r->c = calloc(CELLS_MAX, sizeof(const cJSON *));
	if (r->c == NULL)
		return ATR_ERR_NOMEM;
	r->tmin = 0;
	r->smin = INFINITY;
	cJSON_ArrayForEach(c, r->cells) {
		r->total++;
		if (!cJSON_IsObject(c))
			return atr_fail(ATR_ERR_FORMAT, "%s: \"cells\"[%zu] is "
			    "not an object", d->path, r->total - 1);
		if (r->nc == CELLS_MAX)
			continue;
		r->c[r->nc++] = c;
		t = num(c, "threads");
		s = num(c, "size");
		if (!(t >= 1 && t <= 1e6) || !(s >= 0 && s <= 1e18))
			return atr_fail(ATR_ERR_FORMAT, "%s: \"cells\"[%zu]: "
			    "\"threads\" or \"size\" is not a valid number",
			    d->path, r->total - 1);
		if (r->tmin == 0 || (unsigned)t < r->tmin)
			r->tmin = (unsigned)t;
		if ((unsigned)t > r->tmax)
			r->tmax = (unsigned)t;
		if (s < r->smin)
			r->smin = s;
	}
	return ATR_OK;
}

static int
cell_usable(const cJSON *c, const char *op, unsigned threads)
{
	return !is_true(c, "skipped") && strcmp(str(c, "op"), op) == 0 &&
	    (unsigned)num(c, "threads") == threads;
}

static void
cell_name(char *buf, size_t cap, const cJSON *c)
{
	snprintf(buf, cap, "%s / %s", str(c, "key"), str(c, "hierarchy"));
}

static void
row_text(struct rpt_buf *b, const char *th, const char *td)
{
	rb_raw(b, "<tr><th scope=\"row\">");
	rb_text(b, th);
	rb_raw(b, "</th><td>");
	rb_text(b, td);
	rb_raw(b, "</td></tr>\n");
}

static void
row_num(struct rpt_buf *b, const char *th, double v, int prec)
{
	rb_raw(b, "<tr><th scope=\"row\">");
	rb_text(b, th);
	rb_raw(b, "</th><td>");
	rb_num(b, v, prec);
	rb_raw(b, "</td></tr>\n");
}

/* A short JSON rendering of a config value (arrays of scalars). */
static void
row_json(struct rpt_buf *b, const char *th, const cJSON *v)
{
	char *s;

	if (v == NULL)
		return;
	s = cJSON_PrintUnformatted(v);
	if (s == NULL) {
		b->failed = 1;
		return;
	}
	row_text(b, th, s);
	cJSON_free(s);
}

static void
env_table(struct rpt_buf *b, const struct run *r, const struct rpt_doc *d)
{
	static const char *const cfg[] = {
		"keys", "hierarchies", "ops", "sizes", "threads", "seconds",
		"warmup_seconds", "reps", "frame_size", "quick", "io",
		"noise_pct", "alpha", "cache_max_age", "cache_ttl",
		"vault_latency_ms",
	};
	size_t i;

	rb_raw(b, "<h3>Environment</h3>\n<table class=\"env\">\n"
	    "<caption>Where and how the run was made</caption>\n<tbody>\n");
	row_text(b, "results file", d->path);
	row_text(b, "started (UTC)", str(r->doc, "started"));
	row_text(b, "CPU", str(r->env, "cpu_model"));
	row_num(b, "cores", num(r->env, "cores"), 0);
	row_num(b, "memory (MB)", num(r->env, "mem_total_mb"), 0);
	row_text(b, "OpenSSL", str(r->env, "openssl_version"));
	row_text(b, "OpenSSL CPU capabilities", str(r->env, "openssl_cpuinfo"));
	row_text(b, "compiler", str(r->env, "compiler"));
	row_text(b, "kernel", str(r->env, "kernel"));
	row_num(b, "load at start (1 min)", num(r->env, "load_start"), 2);
	row_num(b, "load at end (1 min)", num(r->env, "load_end"), 2);
	if (cJSON_IsString(cJSON_GetObjectItemCaseSensitive(r->env, "io_fs")))
		row_text(b, "storage (--io)", str(r->env, "io_fs"));
	for (i = 0; cJSON_IsObject(r->config) && i < sizeof(cfg) /
	    sizeof(cfg[0]); i++) {
		char th[48];

		snprintf(th, sizeof(th), "config: %s", cfg[i]);
		row_json(b, th, cJSON_GetObjectItemCaseSensitive(r->config,
		    cfg[i]));
	}
	rb_raw(b, "</tbody>\n</table>\n");
}

static void
limits_table(struct rpt_buf *b, const struct run *r)
{
	const cJSON *l;
	size_t n = 0, total = 0;

	rb_raw(b, "<h3>Limits</h3>\n<p>Measured in the same run: the "
	    "cells' ratios are against these, so a slower machine lowers a "
	    "cell and its limit together.</p>\n<table class=\"limits\">\n"
	    "<thead><tr><th scope=\"col\">limit</th><th scope=\"col\">size "
	    "(bytes)</th><th scope=\"col\">ns/op</th><th scope=\"col\">"
	    "ops/s</th><th scope=\"col\">MB/s</th></tr></thead>\n<tbody>\n");
	cJSON_ArrayForEach(l, r->limits) {
		total++;
		if (n == CELLS_MAX || !cJSON_IsObject(l))
			continue;
		n++;
		rb_raw(b, "<tr><th scope=\"row\">");
		rb_text(b, str(l, "name"));
		rb_raw(b, "</th><td>");
		rb_num(b, num(l, "size"), 0);
		rb_raw(b, "</td><td>");
		rb_num(b, num(l, "ns_per_op"), 1);
		rb_raw(b, "</td><td>");
		rb_num(b, num(l, "ops_per_s"), 0);
		rb_raw(b, "</td><td>");
		rb_num(b, num(l, "mb_per_s"), 1);
		rb_raw(b, "</td></tr>\n");
	}
	rb_raw(b, "</tbody>\n</table>\n");
	if (n < total)
		rb_rawf(b, "<p class=\"capped\">Showing %zu of %zu limits.</p>\n",
		    n, total);
}

static enum atr_err
throughput_charts(struct rpt_buf *b, const struct run *r, struct groups *gs,
    const char *id)
{
	static const char *const ops[] = {"encrypt", "decrypt"};
	unsigned tl[2];
	double lx[SVG_POINTS_MAX], ly[SVG_POINTS_MAX], size, mb, lim;
	size_t o, t, i, j, nl, nt;
	char name[GROUP_NAME], cid[64], title[96];
	enum atr_err err = ATR_OK;

	tl[0] = r->tmin;
	tl[1] = r->tmax;
	nt = r->tmax > r->tmin ? 2 : 1;
	for (o = 0; o < 2; o++)
		for (t = 0; t < nt; t++) {
			struct svg_series lim_s;
			struct svg_plot p;

			groups_reset(gs);
			nl = 0;
			for (i = 0; i < r->nc; i++) {
				const cJSON *c = r->c[i];

				if (!cell_usable(c, ops[o], tl[t]))
					continue;
				cell_name(name, sizeof(name), c);
				size = num(c, "size");
				mb = num(c, "mb_per_s");
				groups_add(gs, name, size, mb);
				/* The machine's limit at this size: the
				 * highest limit_ops_per_s of the cells (the
				 * fastest setup's bound) in MB/s (10^6 B). */
				lim = num(c, "limit_ops_per_s") * size / 1e6;
				if (!isfinite(lim))
					continue;
				for (j = 0; j < nl && lx[j] != size; j++)
					;
				if (j == nl && nl < SVG_POINTS_MAX) {
					lx[nl] = size;
					ly[nl++] = lim;
				} else if (j < nl && lim > ly[j])
					ly[j] = lim;
			}
			if (gs->n == 0)
				continue;
			groups_sort(gs);
			/* Sort the limit too (same insertion sort). */
			for (i = 1; i < nl; i++)
				for (j = i; j > 0 && lx[j - 1] > lx[j]; j--) {
					double tx = lx[j], ty = ly[j];

					lx[j] = lx[j - 1], ly[j] = ly[j - 1];
					lx[j - 1] = tx, ly[j - 1] = ty;
				}
			memset(&lim_s, 0, sizeof(lim_s));
			lim_s.name = "machine limit (highest limit_ops_per_s "
			    "at each size)";
			lim_s.x = lx;
			lim_s.y = ly;
			lim_s.n = nl;
			lim_s.limit = 1;
			memset(&p, 0, sizeof(p));
			snprintf(cid, sizeof(cid), "%s-tp-%s-%u", id, ops[o],
			    tl[t]);
			snprintf(title, sizeof(title), "Throughput, %s, %u "
			    "thread(s): MB/s against object size", ops[o],
			    tl[t]);
			p.kind = "throughput";
			p.id = cid;
			p.title = title;
			p.desc = "One line per key setup and hierarchy (log-log "
			    "axes); the dashed red line is the machine's limit "
			    "measured in the same run. Higher is better.";
			p.xlabel = "object size (bytes)";
			p.ylabel = "MB/s";
			p.xlog = p.ylog = 1;
			p.xprec = 0;
			p.yprec = 2;
			err = groups_plot(b, gs, &lim_s, nl > 0 ? 1 : 0, &p);
			if (err != ATR_OK)
				return err;
		}
	return err;
}

static enum atr_err
cdf_charts(struct rpt_buf *b, const struct run *r, struct groups *gs,
    const char *id)
{
	static const char *const ops[] = {"encrypt", "decrypt"};
	const cJSON *cdf, *pt;
	char name[GROUP_NAME], cid[64], title[128];
	struct svg_plot p;
	size_t o, i;
	enum atr_err err;

	for (o = 0; o < 2; o++) {
		groups_reset(gs);
		for (i = 0; i < r->nc; i++) {
			const cJSON *c = r->c[i];

			if (!cell_usable(c, ops[o], r->tmin) ||
			    num(c, "size") != r->smin)
				continue;
			cdf = cJSON_GetObjectItemCaseSensitive(c, "cdf_us");
			if (!cJSON_IsArray(cdf))
				continue;
			cell_name(name, sizeof(name), c);
			cJSON_ArrayForEach(pt, cdf) {
				if (!cJSON_IsArray(pt) ||
				    cJSON_GetArraySize(pt) != 2 ||
				    !cJSON_IsNumber(cJSON_GetArrayItem(pt, 0)) ||
				    !cJSON_IsNumber(cJSON_GetArrayItem(pt, 1)))
					continue;
				groups_add(gs, name,
				    cJSON_GetArrayItem(pt, 1)->valuedouble,
				    cJSON_GetArrayItem(pt, 0)->valuedouble);
			}
		}
		if (gs->n == 0)
			continue;
		memset(&p, 0, sizeof(p));
		snprintf(cid, sizeof(cid), "%s-cdf-%s", id, ops[o]);
		snprintf(title, sizeof(title), "Latency CDF, %s, %.0f-byte "
		    "objects, %u thread(s)", ops[o], r->smin, r->tmin);
		p.kind = "latency-cdf";
		p.id = cid;
		p.title = title;
		p.desc = "The fraction of operations that finished within a "
		    "latency (log axis), one line per key setup and hierarchy "
		    "at the smallest object size. Further left is faster; a "
		    "long flat tail on the right is the slow operations.";
		p.xlabel = "latency (µs)";
		p.ylabel = "fraction of operations";
		p.xlog = 1;
		p.xprec = 3;
		p.yprec = 3;
		err = groups_plot(b, gs, NULL, 0, &p);
		if (err != ATR_OK)
			return err;
	}
	return ATR_OK;
}

static enum atr_err
phase_charts(struct rpt_buf *b, const struct run *r, const char *id)
{
	static const char *const ops[] = {"encrypt", "decrypt"};
	double sizes[16], s, *v = NULL;
	char (*names)[GROUP_NAME] = NULL;
	const char **cats = NULL;
	size_t ns = 0, o, k, i, j, nc, charts = 0, skipped = 0;
	char cid[64], title[128];
	struct svg_stack st;
	enum atr_err err = ATR_OK;

	for (i = 0; i < r->nc; i++) {
		s = num(r->c[i], "size");
		for (j = 0; j < ns && sizes[j] != s; j++)
			;
		if (j == ns && ns < sizeof(sizes) / sizeof(sizes[0]))
			sizes[ns++] = s;
	}
	v = calloc(SVG_BARS_MAX * NPHASES, sizeof(*v));
	names = calloc(SVG_BARS_MAX, sizeof(*names));
	cats = calloc(SVG_BARS_MAX, sizeof(*cats));
	if (v == NULL || names == NULL || cats == NULL) {
		err = ATR_ERR_NOMEM;
		goto out;
	}
	for (o = 0; o < 2; o++)
		for (k = 0; k < ns; k++) {
			const cJSON *ph;

			nc = 0;
			for (i = 0; i < r->nc && nc < SVG_BARS_MAX; i++) {
				const cJSON *c = r->c[i];

				if (!cell_usable(c, ops[o], r->tmin) ||
				    num(c, "size") != sizes[k])
					continue;
				ph = cJSON_GetObjectItemCaseSensitive(c,
				    "phase_us");
				if (!cJSON_IsObject(ph))
					continue;
				cell_name(names[nc], GROUP_NAME, c);
				cats[nc] = names[nc];
				for (j = 0; j < NPHASES; j++)
					v[nc * NPHASES + j] = num(ph,
					    phase_names[j]);
				nc++;
			}
			if (nc == 0)
				continue;
			if (charts == PHASE_CHARTS_MAX) {
				skipped++;
				continue;
			}
			charts++;
			memset(&st, 0, sizeof(st));
			snprintf(cid, sizeof(cid), "%s-ph-%s-%zu", id, ops[o],
			    k);
			snprintf(title, sizeof(title), "Where the time goes: "
			    "%s, %.0f-byte objects, %u thread(s)", ops[o],
			    sizes[k], r->tmin);
			st.kind = "phases";
			st.id = cid;
			st.title = title;
			st.desc = "Microseconds per operation in each phase, "
			    "stacked, one bar per key setup and hierarchy "
			    "(numbered as in the data table): DEK generation, "
			    "KEK wrap, KEK unwrap, AEAD, storage I/O, the rest.";
			st.ylabel = "µs per operation";
			st.cats = cats;
			st.ncat = nc;
			st.parts = phase_names;
			st.nparts = NPHASES;
			st.v = v;
			st.prec = 3;
			svg_stacked(b, &st);
		}
	if (skipped > 0)
		rb_rawf(b, "<p class=\"capped\">%zu more phase chart(s) not "
		    "drawn (at most %d); the numbers are in the JSON.</p>\n",
		    skipped, PHASE_CHARTS_MAX);
out:
	free(v);
	free(names);
	free(cats);
	return err;
}

static enum atr_err
overhead_charts(struct rpt_buf *b, const struct run *r, struct groups *gs,
    const char *id)
{
	static const char *const ops[] = {"encrypt", "decrypt"};
	static const struct svg_hline one = {1.0, "SMK (ratio 1)"};
	char name[GROUP_NAME], cid[64], title[128];
	struct svg_plot p;
	size_t o, i;
	enum atr_err err;

	for (o = 0; o < 2; o++) {
		groups_reset(gs);
		for (i = 0; i < r->nc; i++) {
			const cJSON *c = r->c[i];

			if (!cell_usable(c, ops[o], r->tmin) ||
			    !is_true(c, "cmk") ||
			    !isfinite(num(c, "cmk_vs_smk")))
				continue;
			cell_name(name, sizeof(name), c);
			groups_add(gs, name, num(c, "size"),
			    num(c, "cmk_vs_smk"));
		}
		if (gs->n == 0)
			continue;
		groups_sort(gs);
		memset(&p, 0, sizeof(p));
		snprintf(cid, sizeof(cid), "%s-ov-%s", id, ops[o]);
		snprintf(title, sizeof(title), "CMK/SMK, %s, %u thread(s): "
		    "customer-managed key ops/s over the service-managed key's",
		    ops[o], r->tmin);
		p.kind = "overhead";
		p.id = cid;
		p.title = title;
		p.desc = "Each CMK cell's ops/s over the SMK cell with the same "
		    "hierarchy, size, op and threads. 1 (the line) costs "
		    "nothing; 0.1 is ten times slower.";
		p.xlabel = "object size (bytes)";
		p.ylabel = "CMK/SMK (ops/s ratio)";
		p.xlog = 1;
		p.yzero = 1;
		p.hl = &one;
		p.nhl = 1;
		p.xprec = 0;
		p.yprec = 3;
		err = groups_plot(b, gs, NULL, 0, &p);
		if (err != ATR_OK)
			return err;
	}
	return ATR_OK;
}

static enum atr_err
revocation_chart(struct rpt_buf *b, const struct rpt_doc *d,
    struct groups *gs, const char *id, size_t k)
{
	const cJSON *rows, *w;
	char name[GROUP_NAME], cid[64];
	struct svg_plot p;
	size_t censored = 0, total = 0;

	rows = cJSON_GetObjectItemCaseSensitive(d->json, "rows");
	if (!cJSON_IsArray(rows))
		return atr_fail(ATR_ERR_FORMAT, "%s: \"rows\" is not an array",
		    d->path);
	groups_reset(gs);
	cJSON_ArrayForEach(w, rows) {
		if (!cJSON_IsObject(w))
			return atr_fail(ATR_ERR_FORMAT, "%s: \"rows\"[%zu] is "
			    "not an object", d->path, total);
		total++;
		if (!isfinite(num(w, "revocation_latency_s"))) {
			censored++;
			continue;
		}
		snprintf(name, sizeof(name), "%s %s", str(w, "hierarchy"),
		    str(w, "op"));
		groups_add(gs, name, num(w, "ops_per_s"),
		    num(w, "revocation_latency_s"));
	}
	rb_raw(b, "<h3>Revocation latency</h3>\n<p>From ");
	rb_text(b, d->path);
	rb_raw(b, " (key ");
	rb_text(b, str(d->json, "key"));
	rb_rawf(b, "): %zu workload(s), %zu without a measured latency "
	    "(censored: still working when the window closed, or never "
	    "failed), not drawn.</p>\n", total, censored);
	if (gs->n == 0)
		return ATR_OK;
	groups_sort(gs);
	memset(&p, 0, sizeof(p));
	snprintf(cid, sizeof(cid), "%s-rev%zu", id, k);
	p.kind = "revocation";
	p.id = cid;
	p.title = "Revocation latency against throughput, per hierarchy";
	p.desc = "Seconds from disabling the key to a workload's last "
	    "success, against its ops/s (log axis); one line per hierarchy "
	    "and op, one point per cache TTL or key lifetime. Lower is a "
	    "faster revocation; further right is faster work.";
	p.xlabel = "ops/s";
	p.ylabel = "last success after disable (s)";
	p.xlog = 1;
	p.yzero = 1;
	p.xprec = 0;
	p.yprec = 3;
	return groups_plot(b, gs, NULL, 0, &p);
}

static const char *
verdict_attr(const struct atb_cmp_row *r)
{
	switch (r->verdict) {
	case ATB_V_REGRESSED:
		return "regressed";
	case ATB_V_IMPROVED:
		return "improved";
	case ATB_V_NOISY:
	case ATB_V_FEW:
		return "inconclusive";
	default:
		return "ok";
	}
}

/* The verdict's text as `bench compare` prints it (bench/compare.c). */
static const char *
verdict_text(const struct atb_cmp_row *r)
{
	static const char *const v[] = {
		"ok", "improved", "REGRESSED", "inconclusive: noise",
		"inconclusive: too few reps",
	};

	if (!r->in_new)
		return "missing in new (not judged)";
	if (!r->in_base)
		return "new cell (not judged)";
	if (isnan(r->change_pct))
		return "not judged";
	return (unsigned)r->verdict < 5 ? v[r->verdict] : "?";
}

static const char *
status_text(int st)
{
	switch (st) {
	case 0:
		return "pass: no cell and not the geometric mean regressed";
	case 1:
		return "FAIL: a cell or the geometric mean regressed";
	case 3:
		return "NOT JUDGED: a cell or the geometric mean is "
		    "inconclusive (re-run with more repetitions or on a "
		    "quieter machine; never read 3 as a pass)";
	default:
		return "unknown";
	}
}

static void
compare_row(struct rpt_buf *b, const struct atb_cmp_row *r, size_t idx)
{
	rb_rawf(b, "<tr data-verdict=\"%s\" data-cell=\"%zu\"><td>",
	    !r->in_new || !r->in_base ? "ok" : verdict_attr(r), idx);
	rb_text(b, r->key);
	rb_raw(b, "</td><td>");
	rb_text(b, r->hier);
	rb_raw(b, "</td><td>");
	rb_text(b, r->op);
	rb_rawf(b, "</td><td>%llu</td><td>%u</td><td>",
	    (unsigned long long)r->size, r->threads);
	rb_num(b, r->base_ratio, 4);
	rb_raw(b, "</td><td>");
	rb_num(b, r->new_ratio, 4);
	rb_raw(b, "</td><td class=\"change\">");
	if (isfinite(r->change_pct))
		rb_rawf(b, "%+.1f%%", r->change_pct);
	else
		rb_raw(b, "n/a");
	rb_rawf(b, "</td><td>%u/%u</td><td>", r->base_n, r->new_n);
	if (isfinite(r->p))
		rb_num(b, r->p, 4);
	else
		rb_raw(b, r->summary_only ? "none (summary only)" : "n/a");
	rb_raw(b, "</td><td>");
	rb_num(b, r->base_noise_pct, 0);
	rb_raw(b, "% / ");
	rb_num(b, r->new_noise_pct, 0);
	rb_raw(b, "%</td><td class=\"verdict\">");
	rb_text(b, verdict_text(r));
	rb_raw(b, "</td></tr>\n");
}

static enum atr_err
compare_section(struct rpt_buf *b, const struct rpt_doc *base,
    const struct rpt_doc *nw, size_t k, const char *id)
{
	static const char *const vnames[] = {
		"ok", "improved", "REGRESSED", "inconclusive: noise",
		"inconclusive: too few reps",
	};
	static const struct svg_hline lines[] = {
		{-CMP_MAX_REGRESSION, "-15% (--max-regression)"},
		{CMP_MAX_REGRESSION, "+15%"},
	};
	struct atb_cmp c;
	struct groups gs;
	struct svg_plot p;
	char cid[64];
	enum atr_err err;
	int st;
	size_t i, shown;

	if (base->text == NULL || nw->text == NULL)
		return atr_fail(ATR_ERR_FORMAT, "%s: no text to compare",
		    nw->path);
	memset(&c, 0, sizeof(c));
	err = atb_compare(base->text, nw->text, CMP_MAX_REGRESSION,
	    CMP_MAX_GEOMEAN, CMP_ALPHA, CMP_METRIC, &c);
	if (err != ATR_OK)
		return atr_fail(err, "%s against %s: %s", nw->path, base->path,
		    atr_detail());
	st = atb_cmp_status(&c);
	rb_rawf(b, "<section class=\"comparison\" id=\"%s-cmp%zu\">\n<h3>", id,
	    k);
	rb_raw(b, "Comparison: ");
	rb_text(b, nw->path);
	rb_raw(b, " against ");
	rb_text(b, base->path);
	rb_rawf(b, "</h3>\n<p class=\"gate\" data-status=\"%d\"><strong>", st);
	rb_text(b, status_text(st));
	rb_rawf(b, "</strong>: <code>atrest bench compare</code> would exit "
	    "with status %d (metric %s, --max-regression %.0f%%, "
	    "--max-geomean-regression %.0f%%, --alpha %.2f). ", st,
	    atb_metric_name(CMP_METRIC), CMP_MAX_REGRESSION, CMP_MAX_GEOMEAN,
	    CMP_ALPHA);
	rb_rawf(b, "%zu regressed, %zu improved, %zu inconclusive (%zu noise, "
	    "%zu too few repetitions), %zu judged on the summary only, %zu "
	    "missing, %zu new.</p>\n", c.regressions, c.improved,
	    c.noisy + c.few, c.noisy, c.few, c.summary_only, c.missing,
	    c.added);
	rb_raw(b, "<p class=\"geomean\">Geometric mean of new/base over ");
	rb_rawf(b, "%zu cell(s): ", c.geomean_cells);
	if (isfinite(c.geomean_change_pct))
		rb_rawf(b, "%+.1f%%", c.geomean_change_pct);
	else
		rb_raw(b, "n/a");
	rb_raw(b, ", ");
	rb_text(b, (unsigned)c.geomean.verdict < 5 ?
	    vnames[c.geomean.verdict] : "?");
	rb_raw(b, ".</p>\n");
	rb_raw(b, "<table class=\"compare\">\n<thead><tr>"
	    "<th scope=\"col\">key</th><th scope=\"col\">hierarchy</th>"
	    "<th scope=\"col\">op</th><th scope=\"col\">size</th>"
	    "<th scope=\"col\">threads</th><th scope=\"col\">base</th>"
	    "<th scope=\"col\">new</th><th scope=\"col\">change</th>"
	    "<th scope=\"col\">reps</th><th scope=\"col\">p</th>"
	    "<th scope=\"col\">noise base / new</th>"
	    "<th scope=\"col\">verdict</th></tr></thead>\n<tbody>\n");
	shown = c.nrows > COMPARE_ROWS_MAX ? COMPARE_ROWS_MAX : c.nrows;
	for (i = 0; i < shown; i++)
		compare_row(b, &c.rows[i], i + 1);
	rb_raw(b, "</tbody>\n</table>\n");
	if (shown < c.nrows)
		rb_rawf(b, "<p class=\"capped\">Showing %zu of %zu cells.</p>\n",
		    shown, c.nrows);

	/* The changes as points, one series per verdict (so the marker's
	 * series, not only its colour, says the verdict). */
	err = groups_init(&gs);
	if (err != ATR_OK)
		goto out;
	for (i = 0; i < shown; i++) {
		const struct atb_cmp_row *r = &c.rows[i];

		if (!r->in_base || !r->in_new || !isfinite(r->change_pct))
			continue;
		groups_add(&gs, verdict_text(r), (double)(i + 1),
		    r->change_pct);
	}
	if (gs.n > 0) {
		memset(&p, 0, sizeof(p));
		snprintf(cid, sizeof(cid), "%s-cmp%zu-chart", id, k);
		p.kind = "compare";
		p.id = cid;
		p.title = "Change of each cell's median against the base run";
		p.desc = "One point per cell (numbered as in the comparison "
		    "table), grouped by verdict; the lines are the gate's "
		    "threshold. A point below the lower line with p < alpha "
		    "regressed.";
		p.xlabel = "cell (row of the table)";
		p.ylabel = "change of the median (%)";
		p.scatter = 1;
		p.yzero = 1;
		p.hl = lines;
		p.nhl = 2;
		p.xprec = 0;
		p.yprec = 1;
		err = groups_plot(b, &gs, NULL, 0, &p);
	}
	free(gs.g);
	rb_raw(b, "</section>\n");
out:
	atb_cmp_free(&c);
	return err;
}

enum atr_err
rpt_bench_section(struct rpt_buf *b, const struct rpt_doc *const *runs,
    size_t n, const char *id)
{
	const struct rpt_doc **bench = NULL, **rev = NULL;
	const struct rpt_doc *last;
	struct groups gs = {0};
	struct run r;
	size_t i, nb = 0, nr = 0;
	char why[256];
	enum atr_err err = ATR_OK;

	memset(&r, 0, sizeof(r));
	bench = calloc(n + 1, sizeof(const struct rpt_doc *));
	rev = calloc(n + 1, sizeof(const struct rpt_doc *));
	if (bench == NULL || rev == NULL) {
		err = ATR_ERR_NOMEM;
		goto out;
	}
	/* A `bench --revocation` document (its own schema) is drawn as the
	 * revocation chart; the rest are runs. */
	for (i = 0; i < n; i++) {
		if (strcmp(str(runs[i]->json, "schema"),
		    "atrest-bench-revocation/1") == 0) {
			rev[nr++] = runs[i];
			continue;
		}
		/* The schema check `bench compare` makes, naming the member. */
		if (runs[i]->text != NULL &&
		    atb_json_check(runs[i]->text, why, sizeof(why)) != 0) {
			err = atr_fail(ATR_ERR_FORMAT, "%s: %s", runs[i]->path,
			    why);
			goto out;
		}
		bench[nb++] = runs[i];
	}
	err = groups_init(&gs);
	if (err != ATR_OK)
		goto out;
	rb_rawf(b, "<section class=\"bench\" id=\"%s\">\n<h2>Bench</h2>\n", id);
	if (nb > 0) {
		last = bench[nb - 1];
		err = run_load(&r, last);
		if (err != ATR_OK)
			goto out;
		if (nb > 1) {
			rb_raw(b, "<p>Runs, the first is the base: ");
			for (i = 0; i < nb; i++) {
				rb_raw(b, i > 0 ? ", " : "");
				rb_text(b, bench[i]->path);
			}
			rb_raw(b, ". The environment and the charts are of the "
			    "last run.</p>\n");
		}
		env_table(b, &r, last);
		limits_table(b, &r);
		if (r.total > r.nc)
			rb_rawf(b, "<p class=\"capped\">The charts use the "
			    "first %zu of %zu cells.</p>\n", r.nc, r.total);
		rb_raw(b, "<h3>Charts</h3>\n");
		err = throughput_charts(b, &r, &gs, id);
		if (err == ATR_OK)
			err = cdf_charts(b, &r, &gs, id);
		if (err == ATR_OK)
			err = phase_charts(b, &r, id);
		if (err == ATR_OK)
			err = overhead_charts(b, &r, &gs, id);
		for (i = 1; err == ATR_OK && i < nb; i++)
			err = compare_section(b, bench[0], bench[i], i, id);
	}
	for (i = 0; err == ATR_OK && i < nr; i++)
		err = revocation_chart(b, rev[i], &gs, id, i);
	rb_raw(b, "</section>\n");
out:
	free(r.c);
	free(gs.g);
	free(bench);
	free(rev);
	return err;
}
