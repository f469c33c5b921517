/*
 * test_report_bench.c - report/: the SVG module (axis ticks and scaling,
 * linear and log; unplottable values; escaping of labels) and the bench
 * part of the page (the expected number of points in each chart for a
 * synthetic results document, the compare table's verdicts against
 * atb_compare's with a planted regression, malformed documents refused
 * naming the member).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include <cJSON.h>

#include "bench.h"
#include "report_int.h"
#include "svg.h"

/* ---- helpers ---------------------------------------------------------- */

static size_t
count(const char *hay, const char *needle)
{
	size_t n = 0, l = strlen(needle);
	const char *p = hay;

	while ((p = strstr(p, needle)) != NULL) {
		n++;
		p += l;
	}
	return n;
}

/* Occurrences of needle inside the n-th (0-based) figure of a kind. */
static size_t
count_in_chart(const char *html, const char *kind, size_t nth,
    const char *needle)
{
	char key[64], *fig;
	const char *p = html, *end;
	size_t n;

	snprintf(key, sizeof(key), "data-chart=\"%s\"", kind);
	for (n = 0; n <= nth; n++) {
		p = strstr(p, key);
		cr_assert_not_null(p, "chart %s #%zu missing", kind, nth);
		p += strlen(key);
	}
	end = strstr(p, "</figure>");
	cr_assert_not_null(end);
	fig = strndup(p, (size_t)(end - p));
	cr_assert_not_null(fig);
	n = count(fig, needle);
	free(fig);
	return n;
}

static int
has_ci(const char *hay, const char *needle)
{
	size_t l = strlen(needle);

	for (; *hay != '\0'; hay++)
		if (strncasecmp(hay, needle, l) == 0)
			return 1;
	return 0;
}

/* ---- axes ------------------------------------------------------------- */

Test(svg_axis, linear_nice_ticks)
{
	struct svg_axis a;

	svg_axis_fit(&a, 0, 97, 0);
	cr_assert_float_eq(a.lo, 0, 1e-12);
	cr_assert_float_eq(a.hi, 100, 1e-12);
	cr_assert_eq(a.nticks, 6);          /* step 20 */
	cr_assert_float_eq(a.tick[1], 20, 1e-12);
	cr_assert_float_eq(a.tick[5], 100, 1e-12);

	svg_axis_fit(&a, -0.33, 0.71, 0);   /* 0.208 a step: 0.5 */
	cr_assert_float_eq(a.lo, -0.5, 1e-12);
	cr_assert_float_eq(a.hi, 1.0, 1e-12);
	cr_assert_eq(a.nticks, 4);
	cr_assert_eq(a.tick[1], 0.0);       /* exactly 0 */

	svg_axis_fit(&a, -0.3, 0.71, 0);    /* 0.202: 0.5 */
	svg_axis_fit(&a, 0.1, 0.9, 0);      /* 0.16: 0.2, -0.0 avoided */
	cr_assert_float_eq(a.lo, 0, 1e-12);
	cr_assert_float_eq(a.hi, 1, 1e-12);
	cr_assert_eq(a.nticks, 6);

	svg_axis_fit(&a, 5, 5, 0);          /* flat: a range around it */
	cr_assert(a.lo < 5 && a.hi > 5);
}

Test(svg_axis, log_decades)
{
	struct svg_axis a;

	svg_axis_fit(&a, 3, 4500, 1);
	cr_assert_float_eq(a.lo, 1, 1e-12);
	cr_assert_float_eq(a.hi, 1e4, 1e-9);
	cr_assert_eq(a.nticks, 5);
	cr_assert_float_eq(a.tick[2], 100, 1e-9);

	/* Within one decade: 1, 2, 5, 10. */
	svg_axis_fit(&a, 2, 8, 1);
	cr_assert_eq(a.nticks, 4);
	cr_assert_float_eq(a.tick[1], 2, 1e-12);
	cr_assert_float_eq(a.tick[2], 5, 1e-12);

	/* Many decades: at most SVG_TICKS_MAX ticks. */
	svg_axis_fit(&a, 1e-9, 1e14, 1);
	cr_assert(a.nticks <= SVG_TICKS_MAX && a.nticks >= 2);
}

Test(svg_axis, bad_ranges_fall_back)
{
	struct svg_axis a;

	svg_axis_fit(&a, NAN, 3, 0);
	cr_assert_float_eq(a.lo, 0, 0);
	cr_assert_float_eq(a.hi, 1, 0);
	svg_axis_fit(&a, -1, 10, 1);       /* <= 0 on a log axis */
	cr_assert_float_eq(a.lo, 1, 0);
	cr_assert_float_eq(a.hi, 10, 0);
	svg_axis_fit(&a, 10, 1, 0);        /* lo > hi */
	cr_assert_float_eq(a.hi, 1, 0);
	svg_axis_fit(&a, 0, 1e300, 0);     /* beyond SVG_ABS_MAX */
	cr_assert(isfinite(a.hi) && a.hi <= 1);
}

Test(svg_axis, mapping)
{
	struct svg_axis a;

	svg_axis_fit(&a, 0, 100, 0);
	cr_assert_float_eq(svg_axis_map(&a, 50, 0, 200), 100, 1e-9);
	cr_assert_float_eq(svg_axis_map(&a, 25, 200, 0), 150, 1e-9);
	/* Out of range: clamped to the plot area. */
	cr_assert_float_eq(svg_axis_map(&a, 1e9, 0, 200), 200, 1e-9);
	svg_axis_fit(&a, 1, 1e4, 1);
	cr_assert_float_eq(svg_axis_map(&a, 100, 0, 400), 200, 1e-9);
	cr_assert_float_eq(svg_axis_map(&a, 10, 0, 400), 100, 1e-9);
}

Test(svg_axis, tick_labels)
{
	char t[32];

	svg_tick_label(t, sizeof(t), 1000);
	cr_assert_str_eq(t, "1k");
	svg_tick_label(t, sizeof(t), 2.5e6);
	cr_assert_str_eq(t, "2.5M");
	svg_tick_label(t, sizeof(t), 0.05);
	cr_assert_str_eq(t, "0.05");
	svg_tick_label(t, sizeof(t), 0);
	cr_assert_str_eq(t, "0");
	svg_tick_label(t, sizeof(t), NAN);
	cr_assert_str_eq(t, "n/a");
}

/* ---- the plot --------------------------------------------------------- */

static char *
plot_to_string(const struct svg_plot *p, size_t *drawn)
{
	struct rpt_buf b;
	char *s;
	size_t len;

	rb_init(&b);
	svg_plot(&b, p, drawn);
	cr_assert_eq(rb_take(&b, &s, &len), ATR_OK);
	return s;
}

Test(svg_plot, bad_values_never_printed)
{
	static const double x[] = {1, 10, 100, 1000, 1e4, 1e5, 1e6, 1e7};
	static const double y[] = {5, NAN, -3, 1e308, INFINITY, 0, -INFINITY,
	    50};
	static const struct svg_hline hl[] = {{NAN, "bad"}, {20, "good"}};
	struct svg_series s = {"s", x, y, 8, 0};
	struct svg_plot p;
	size_t drawn;
	char *out;

	memset(&p, 0, sizeof(p));
	p.kind = "throughput";
	p.id = "t";
	p.title = "t";
	p.desc = "d";
	p.xlabel = "x";
	p.ylabel = "y";
	p.xlog = p.ylog = 1;
	p.s = &s;
	p.ns = 1;
	p.hl = hl;
	p.nhl = 2;
	p.yprec = 2;
	out = plot_to_string(&p, &drawn);
	/* Only (1, 5) and (1e7, 50) are plottable on log-log axes. */
	cr_assert_eq(drawn, 2);
	cr_assert_eq(count(out, "<circle class=\"pt"), 2);
	cr_assert_eq(count(out, "<line class=\"limit\" data-y"), 1);
	cr_assert(!has_ci(out, "nan"), "%s", out);
	cr_assert(!has_ci(out, "inf"), "%s", out);
	cr_assert_not_null(strstr(out, "6 value(s) not finite"));
	free(out);

	/* The same on linear axes: the negative and zero are drawn. */
	p.xlog = p.ylog = 0;
	out = plot_to_string(&p, &drawn);
	cr_assert_eq(drawn, 4);
	cr_assert(!has_ci(out, "nan") && !has_ci(out, "inf"));
	free(out);
}

Test(svg_plot, labels_escaped)
{
	static const double x[] = {1, 2}, y[] = {1, 2};
	struct svg_series s = {"<script>alert(1)</script>\"'", x, y, 2, 0};
	struct svg_plot p;
	char *out;

	memset(&p, 0, sizeof(p));
	p.kind = "throughput";
	p.id = "t";
	p.title = "<script>t</script>";
	p.desc = "<img src=x onerror=alert(1)>";
	p.xlabel = "<b>x</b>";
	p.ylabel = "y";
	p.s = &s;
	p.ns = 1;
	out = plot_to_string(&p, NULL);
	cr_assert_null(strstr(out, "<script"), "%s", out);
	cr_assert_null(strstr(out, "<img"));
	cr_assert_null(strstr(out, "<b>"));
	cr_assert_not_null(strstr(out, "&lt;script&gt;alert(1)&lt;/script&gt;"));
	/* The quote cannot end the data-series attribute. */
	cr_assert_null(strstr(out, "</script>\""));
	free(out);
}

Test(svg_plot, capped_and_deterministic)
{
	static double x[SVG_POINTS_MAX + 10], y[SVG_POINTS_MAX + 10];
	struct svg_series s[SVG_SERIES_MAX + 3];
	struct svg_plot p;
	size_t i, drawn;
	char *a, *b;

	for (i = 0; i < SVG_POINTS_MAX + 10; i++)
		x[i] = (double)i, y[i] = (double)(i * i);
	for (i = 0; i < SVG_SERIES_MAX + 3; i++) {
		s[i].name = "s";
		s[i].x = x;
		s[i].y = y;
		s[i].n = i == 0 ? SVG_POINTS_MAX + 10 : 2;
		s[i].limit = 0;
	}
	memset(&p, 0, sizeof(p));
	p.kind = "throughput";
	p.id = "t";
	p.title = p.desc = p.xlabel = p.ylabel = "z";
	p.s = s;
	p.ns = SVG_SERIES_MAX + 3;
	a = plot_to_string(&p, &drawn);
	cr_assert_eq(drawn, SVG_POINTS_MAX + 2 * (SVG_SERIES_MAX - 1));
	cr_assert_not_null(strstr(a, "capped: 24 of 27 series, 10 point(s)"));
	b = plot_to_string(&p, NULL);
	cr_assert_str_eq(a, b);
	free(a);
	free(b);
}

Test(svg_stacked, bars_and_bad_parts)
{
	static const char *const cats[] = {"a", "<b>"};
	static const char *const parts[] = {"dek", "wrap", "aead"};
	static const double v[] = {1, 2, 3, NAN, -1, 1e300};
	struct svg_stack st;
	struct rpt_buf b;
	char *s;
	size_t len;

	memset(&st, 0, sizeof(st));
	st.kind = "phases";
	st.id = "p";
	st.title = st.desc = st.ylabel = "t";
	st.cats = cats;
	st.ncat = 2;
	st.parts = parts;
	st.nparts = 3;
	st.v = v;
	st.prec = 1;
	rb_init(&b);
	svg_stacked(&b, &st);
	cr_assert_eq(rb_take(&b, &s, &len), ATR_OK);
	cr_assert_eq(count(s, "<rect class=\"bar p"), 6);
	cr_assert(!has_ci(s, "nan") && !has_ci(s, "inf"));
	cr_assert_null(strstr(s, "<b>"));
	cr_assert_eq(count(s, "data-value=\"0\""), 3);
	free(s);
}

/* ---- a synthetic results document -------------------------------------- */

static const char *const keys[] = {"smk", "rsa-3072"};
static const char *const hiers[] = {"per-object", "intermediate"};
static const char *const ops[] = {"encrypt", "decrypt"};
static const double sizes[] = {1024, 65536};

/*
 * 16 cells: 2 keys x 2 hierarchies x 2 ops x 2 sizes, 1 thread, five
 * repetitions each; slow (a factor on the repetitions) applies to the
 * rsa-3072 intermediate encrypt 1024 cell only.
 */
static char *
results_doc(double slow, const char *label)
{
	cJSON *root, *env, *cells, *limits, *c, *a, *ph, *pt;
	size_t k, h, o, s, i, r;
	double base, reps[5];
	char *text;

	root = cJSON_CreateObject();
	cJSON_AddStringToObject(root, "schema", "atrest-bench/1");
	cJSON_AddStringToObject(root, "started", "2026-12-01T00:00:00Z");
	env = cJSON_AddObjectToObject(root, "environment");
	cJSON_AddStringToObject(env, "cpu_model", "<script>cpu</script>");
	cJSON_AddStringToObject(env, "openssl_version", "OpenSSL 3.0");
	cJSON_AddNumberToObject(env, "cores", 2);
	cJSON_AddNumberToObject(env, "load_start", 0.5);
	cJSON_AddObjectToObject(root, "config");
	limits = cJSON_AddArrayToObject(root, "limits");
	c = cJSON_CreateObject();
	cJSON_AddStringToObject(c, "name", "aes-256-gcm-seal-1024");
	cJSON_AddNumberToObject(c, "size", 1024);
	cJSON_AddNumberToObject(c, "ns_per_op", 400);
	cJSON_AddItemToArray(limits, c);
	cells = cJSON_AddArrayToObject(root, "cells");
	for (k = 0; k < 2; k++)
	for (h = 0; h < 2; h++)
	for (o = 0; o < 2; o++)
	for (s = 0; s < 2; s++) {
		c = cJSON_CreateObject();
		cJSON_AddStringToObject(c, "key", k == 1 && h == 1 && o == 0 &&
		    s == 0 && label != NULL ? label : keys[k]);
		cJSON_AddBoolToObject(c, "cmk", k == 1);
		cJSON_AddStringToObject(c, "hierarchy", hiers[h]);
		cJSON_AddStringToObject(c, "op", ops[o]);
		cJSON_AddNumberToObject(c, "size", sizes[s]);
		cJSON_AddNumberToObject(c, "threads", 1);
		cJSON_AddBoolToObject(c, "skipped", 0);
		cJSON_AddNumberToObject(c, "kms_calls", 10);
		base = 0.5 / (1.0 + (double)k + (double)h);
		cJSON_AddNumberToObject(c, "ops_per_s", 1e5 * base);
		cJSON_AddNumberToObject(c, "mb_per_s", 1e5 * base * sizes[s] /
		    1e6);
		cJSON_AddNumberToObject(c, "p50_us", 10);
		cJSON_AddNumberToObject(c, "p99_us", 20);
		cJSON_AddNumberToObject(c, "limit_ops_per_s", 2e5);
		if (k == 1)
			cJSON_AddNumberToObject(c, "cmk_vs_smk", 0.5);
		else
			cJSON_AddNullToObject(c, "cmk_vs_smk");
		for (r = 0; r < 5; r++)
			reps[r] = base * (1 + 0.002 * (double)r) *
			    (k == 1 && h == 1 && o == 0 && s == 0 ? slow : 1);
		cJSON_AddNumberToObject(c, "vs_limit", reps[2]);
		cJSON_AddNumberToObject(c, "vs_limit_cpu", reps[2]);
		cJSON_AddNumberToObject(c, "vs_limit_cpu_min", reps[0]);
		cJSON_AddNumberToObject(c, "vs_limit_cpu_max", reps[4]);
		cJSON_AddNumberToObject(c, "vs_limit_min", reps[0]);
		cJSON_AddNumberToObject(c, "vs_limit_max", reps[4]);
		cJSON_AddItemToObject(c, "vs_limit_reps",
		    cJSON_CreateDoubleArray(reps, 5));
		cJSON_AddItemToObject(c, "vs_limit_cpu_reps",
		    cJSON_CreateDoubleArray(reps, 5));
		ph = cJSON_AddObjectToObject(c, "phase_us");
		for (i = 0; i < 6; i++) {
			static const char *const pn[] = {"dek", "wrap",
			    "unwrap", "aead", "io", "other"};

			cJSON_AddNumberToObject(ph, pn[i], (double)i + 0.5);
		}
		a = cJSON_AddArrayToObject(c, "cdf_us");
		for (i = 0; i < 24; i++) {
			double q[2] = {(double)i / 23.0, 5.0 + (double)i};

			pt = cJSON_CreateDoubleArray(q, 2);
			cJSON_AddItemToArray(a, pt);
		}
		cJSON_AddItemToArray(cells, c);
	}
	text = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	cr_assert_not_null(text);
	return text;
}

struct parsed {
	struct rpt_doc d;
	cJSON *json;
	char *text;
};

static void
parse(struct parsed *p, char *text, const char *path)
{
	p->text = text;
	p->json = cJSON_Parse(text);
	cr_assert_not_null(p->json);
	p->d.path = path;
	p->d.text = text;
	p->d.json = p->json;
	p->d.kind = RPT_BENCH;
}

static void
unparse(struct parsed *p)
{
	cJSON_Delete(p->json);
	free(p->text);
}

static enum atr_err
section(struct parsed *ps, size_t n, char **html)
{
	const struct rpt_doc *runs[4];
	struct rpt_buf b;
	enum atr_err err;
	size_t i, len;

	for (i = 0; i < n; i++)
		runs[i] = &ps[i].d;
	rb_init(&b);
	err = rpt_bench_section(&b, runs, n, "b");
	if (err != ATR_OK) {
		rb_free(&b);
		*html = NULL;
		return err;
	}
	return rb_take(&b, html, &len);
}

Test(report_bench, charts_have_the_points)
{
	struct parsed p;
	char *html;

	parse(&p, results_doc(1, "<script>alert(1)</script>"), "<i>r.json");
	cr_assert_eq(section(&p, 1, &html), ATR_OK, "%s", atr_detail());
	cr_assert_not_null(strstr(html, "<section class=\"bench\" id=\"b\">"));
	cr_assert_not_null(strstr(html, "<table class=\"env\">"));
	cr_assert_not_null(strstr(html, "<table class=\"limits\">"));
	/* Nothing from the document as markup. */
	cr_assert_null(strstr(html, "<script"));
	cr_assert_null(strstr(html, "<i>"));
	cr_assert_not_null(strstr(html, "&lt;script&gt;cpu"));
	/* Throughput: per op, 2 keys x 2 hierarchies x 2 sizes; the limit. */
	cr_assert_eq(count(html, "data-chart=\"throughput\""), 2);
	cr_assert_eq(count_in_chart(html, "throughput", 0, "<circle class=\"pt"),
	    8);
	cr_assert_eq(count_in_chart(html, "throughput", 1, "<circle class=\"pt"),
	    8);
	cr_assert_eq(count_in_chart(html, "throughput", 0,
	    "<path class=\"limit\""), 1);
	/* One data-table row per point and one for the limit's 2 sizes. */
	cr_assert_eq(count_in_chart(html, "throughput", 0, "<tr><td>"), 10);
	/* Latency CDFs: 4 cells at 1 KiB x 24 quantiles. */
	cr_assert_eq(count(html, "data-chart=\"latency-cdf\""), 2);
	cr_assert_eq(count_in_chart(html, "latency-cdf", 0,
	    "<circle class=\"pt"), 96);
	/* Phases: per op and size, 4 bars of 6 parts. */
	cr_assert_eq(count(html, "data-chart=\"phases\""), 4);
	cr_assert_eq(count_in_chart(html, "phases", 3, "<rect class=\"bar p"),
	    24);
	/* CMK/SMK: the rsa-3072 cells, 2 hierarchies x 2 sizes, and the
	 * line at 1. */
	cr_assert_eq(count(html, "data-chart=\"overhead\""), 2);
	cr_assert_eq(count_in_chart(html, "overhead", 0, "<circle class=\"pt"),
	    4);
	cr_assert_eq(count_in_chart(html, "overhead", 0,
	    "<line class=\"limit\""), 1);
	/* One run: no comparison. */
	cr_assert_null(strstr(html, "class=\"compare\""));
	cr_assert(!has_ci(html, "nan") && !has_ci(html, ">inf"));
	free(html);
	unparse(&p);
}

Test(report_bench, compare_planted_regression)
{
	struct parsed p[2];
	struct atb_cmp c;
	char *html, want[64];
	size_t i, n[4] = {0};

	parse(&p[0], results_doc(1, NULL), "base.json");
	/* 30 % slower in every repetition of one cell: past the 15 %
	 * threshold, and 5 against 5 repetitions give p = 0.008. */
	parse(&p[1], results_doc(0.7, NULL), "new.json");
	cr_assert_eq(section(p, 2, &html), ATR_OK, "%s", atr_detail());
	cr_assert_eq(count(html, "<table class=\"compare\">"), 1);
	cr_assert_eq(count(html, "<tr data-verdict=\"regressed\""), 1);
	cr_assert_eq(count(html, "<tr data-verdict=\"ok\""), 15);
	cr_assert_not_null(strstr(html, "<td class=\"verdict\">REGRESSED</td>"));
	cr_assert_not_null(strstr(html, "data-status=\"1\""));
	cr_assert_not_null(strstr(html, "would exit with status 1"));
	cr_assert_eq(count(html, "data-chart=\"compare\""), 1);
	cr_assert_eq(count_in_chart(html, "compare", 0, "<circle class=\"pt"),
	    16);

	/* The same verdicts as atb_compare gives with bench compare's
	 * defaults. */
	memset(&c, 0, sizeof(c));
	cr_assert_eq(atb_compare(p[0].text, p[1].text, 15, 8, 0.05, 1, &c),
	    ATR_OK);
	for (i = 0; i < c.nrows; i++) {
		switch (c.rows[i].verdict) {
		case ATB_V_REGRESSED:
			n[0]++;
			break;
		case ATB_V_IMPROVED:
			n[1]++;
			break;
		case ATB_V_NOISY:
		case ATB_V_FEW:
			n[2]++;
			break;
		default:
			n[3]++;
		}
		if (c.rows[i].verdict == ATB_V_REGRESSED) {
			cr_assert_str_eq(c.rows[i].key, "rsa-3072");
			snprintf(want, sizeof(want), "data-cell=\"%zu\"", i + 1);
			cr_assert_not_null(strstr(strstr(html,
			    "data-verdict=\"regressed\""), want));
		}
	}
	cr_assert_eq(n[0], count(html, "<tr data-verdict=\"regressed\""));
	cr_assert_eq(n[2], count(html, "<tr data-verdict=\"inconclusive\""));
	cr_assert_eq(n[3], count(html, "<tr data-verdict=\"ok\""));
	cr_assert_eq(atb_cmp_status(&c), 1);
	atb_cmp_free(&c);
	free(html);
	unparse(&p[0]);
	unparse(&p[1]);
}

Test(report_bench, compare_same_run_passes)
{
	struct parsed p[2];
	char *html;

	parse(&p[0], results_doc(1, NULL), "a.json");
	parse(&p[1], results_doc(1, NULL), "b.json");
	cr_assert_eq(section(p, 2, &html), ATR_OK, "%s", atr_detail());
	cr_assert_eq(count(html, "<tr data-verdict=\"regressed\""), 0);
	cr_assert_eq(count(html, "<tr data-verdict=\"ok\""), 16);
	cr_assert_not_null(strstr(html, "would exit with status 0"));
	free(html);
	unparse(&p[0]);
	unparse(&p[1]);
}

static void
refuse(const char *text, const char *member)
{
	struct parsed p;
	char *html;

	parse(&p, strdup(text), "bad.json");
	cr_assert_eq(section(&p, 1, &html), ATR_ERR_FORMAT, "%s", text);
	cr_assert_not_null(strstr(atr_detail(), "bad.json"), "%s",
	    atr_detail());
	cr_assert_not_null(strstr(atr_detail(), member), "%s: %s", member,
	    atr_detail());
	unparse(&p);
}

Test(report_bench, malformed_refused_naming_the_member)
{
	refuse("{\"schema\":\"atrest-bench/1\",\"environment\":{\"cpu_model\":"
	    "\"x\",\"openssl_version\":\"y\",\"cores\":1},\"limits\":[],"
	    "\"cells\":{}}", "cells");
	refuse("{\"schema\":\"atrest-bench/1\",\"environment\":{\"cpu_model\":"
	    "\"x\",\"openssl_version\":\"y\",\"cores\":1},\"limits\":7,"
	    "\"cells\":[]}", "limits");
	refuse("{\"schema\":\"atrest-bench/1\",\"cells\":[],\"limits\":[]}",
	    "environment");
	refuse("{\"schema\":\"atrest-bench-revocation/1\",\"rows\":3}",
	    "rows");
}

Test(report_bench, revocation_chart)
{
	struct parsed p;
	char *html;

	parse(&p, strdup("{\"schema\":\"atrest-bench-revocation/1\","
	    "\"key\":\"k\",\"rows\":["
	    "{\"hierarchy\":\"per-object\",\"op\":\"decrypt\",\"ops_per_s\":138,"
	    "\"revocation_latency_s\":0},"
	    "{\"hierarchy\":\"cached\",\"op\":\"decrypt\",\"ops_per_s\":51969,"
	    "\"revocation_latency_s\":1.47},"
	    "{\"hierarchy\":\"cached\",\"op\":\"decrypt\",\"ops_per_s\":74296,"
	    "\"revocation_latency_s\":9.45},"
	    "{\"hierarchy\":\"cached\",\"op\":\"encrypt\",\"ops_per_s\":5,"
	    "\"revocation_latency_s\":null,\"censored\":true}]}"), "rev.json");
	cr_assert_eq(section(&p, 1, &html), ATR_OK, "%s", atr_detail());
	cr_assert_eq(count(html, "data-chart=\"revocation\""), 1);
	cr_assert_eq(count_in_chart(html, "revocation", 0,
	    "<circle class=\"pt"), 3);
	cr_assert_not_null(strstr(html, "4 workload(s), 1 without"));
	free(html);
	unparse(&p);
}
