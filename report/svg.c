/* see svg.h */
#include "svg.h"
#include "report_int.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* The plot area inside a W x H viewBox; the legend goes below it. */
#define W 640.0
#define H 320.0
#define ML 72.0
#define MR 16.0
#define MT 16.0
#define MB 48.0
#define LEG_ROW 18.0

/* Series differ by colour (CSS s0..s7), dash pattern and marker fill, so
 * colour is never the only way to tell them apart (WCAG 2.1, 1.4.1). */
#define NSTYLE 8
static const char *const dashes[4] = {"none", "6 3", "2 3", "8 3 2 3"};

int
svg_plottable(double v, int log)
{
	if (!isfinite(v) || fabs(v) > SVG_ABS_MAX)
		return 0;
	return !log || v >= SVG_LOG_MIN;
}

static double
nice_step(double range, int target)
{
	double raw = range / target, mag, f;

	if (!(raw > 0) || !isfinite(raw))
		return 1;
	mag = pow(10, floor(log10(raw)));
	f = raw / mag;
	if (f <= 1)
		f = 1;
	else if (f <= 2)
		f = 2;
	else if (f <= 5)
		f = 5;
	else
		f = 10;
	return f * mag;
}

void
svg_axis_fit(struct svg_axis *a, double lo, double hi, int log)
{
	double step, t;
	int d0, d1, d, every;
	size_t i;

	memset(a, 0, sizeof(*a));
	a->log = log;
	if (!svg_plottable(lo, log) || !svg_plottable(hi, log) || lo > hi) {
		lo = log ? 1 : 0;
		hi = log ? 10 : 1;
	}
	if (log) {
		d0 = (int)floor(log10(lo) + 1e-9);
		d1 = (int)ceil(log10(hi) - 1e-9);
		if (d1 <= d0)
			d1 = d0 + 1;
		a->lo = pow(10, d0);
		a->hi = pow(10, d1);
		every = (d1 - d0 + SVG_TICKS_MAX - 2) / (SVG_TICKS_MAX - 1);
		if (every < 1)
			every = 1;
		for (d = d0; d <= d1 && a->nticks < SVG_TICKS_MAX; d += every) {
			a->tick[a->nticks++] = pow(10, d);
			/* One decade has too few ticks to read: add 2 and 5. */
			if (d1 - d0 == 1 && d < d1) {
				a->tick[a->nticks++] = 2 * pow(10, d);
				a->tick[a->nticks++] = 5 * pow(10, d);
			}
		}
		return;
	}
	if (hi == lo) {
		/* A flat series: a range around it (or [0, 1] at zero). */
		t = fabs(lo) > 0 ? fabs(lo) / 2 : 1;
		lo -= t;
		hi += t;
	}
	step = nice_step(hi - lo, 5);
	a->lo = floor(lo / step) * step;
	a->hi = ceil(hi / step) * step;
	if (a->hi <= a->lo)
		a->hi = a->lo + step;
	for (i = 0; i < SVG_TICKS_MAX; i++) {
		t = a->lo + (double)i * step;
		if (t > a->hi + step * 1e-9)
			break;
		/* -0.0 and 1e-17 from the sum print as 0. */
		a->tick[a->nticks++] = fabs(t) < step * 1e-9 ? 0 : t;
	}
}

double
svg_axis_map(const struct svg_axis *a, double v, double p0, double p1)
{
	double f;

	if (a->log)
		f = (log10(v) - log10(a->lo)) / (log10(a->hi) - log10(a->lo));
	else
		f = (v - a->lo) / (a->hi - a->lo);
	if (!isfinite(f))
		f = 0;
	/* Clamp: a point never leaves the plot area. */
	if (f < 0)
		f = 0;
	if (f > 1)
		f = 1;
	return p0 + f * (p1 - p0);
}

void
svg_tick_label(char *buf, size_t cap, double v)
{
	static const struct { double f; const char *s; } si[] = {
		{1e12, "T"}, {1e9, "G"}, {1e6, "M"}, {1e3, "k"},
	};
	double av = fabs(v);
	size_t i;

	if (!isfinite(v)) {
		snprintf(buf, cap, "n/a");
		return;
	}
	for (i = 0; i < sizeof(si) / sizeof(si[0]); i++)
		if (av >= si[i].f) {
			snprintf(buf, cap, "%.3g%s", v / si[i].f, si[i].s);
			return;
		}
	if (av == 0) {
		snprintf(buf, cap, "0");
		return;
	}
	snprintf(buf, cap, "%.3g", v);
}

/* A coordinate (one decimal: sub-pixel is enough, and it is stable). */
static void
coord(struct rpt_buf *b, const char *name, double v)
{
	rb_rawf(b, " %s=\"%.1f\"", name, v);
}

static void
data_num(struct rpt_buf *b, double v)
{
	/* %.6g is deterministic and exact enough to check against the
	 * table; the caller passes only finite values. */
	rb_rawf(b, "%.6g", isfinite(v) ? v : 0);
}

static void
svg_open(struct rpt_buf *b, const char *kind, const char *id,
    const char *title, const char *desc, double h)
{
	rb_raw(b, "<figure class=\"chart\" data-chart=\"");
	rb_raw(b, kind);
	rb_rawf(b, "\" id=\"%s\">\n<svg role=\"img\" viewBox=\"0 0 %.0f %.0f\" "
	    "width=\"100%%\" preserveAspectRatio=\"xMinYMin meet\" "
	    "aria-labelledby=\"%s-t %s-d\">\n"
	    "<title id=\"%s-t\">", id, W, h, id, id, id);
	rb_text(b, title);
	rb_rawf(b, "</title>\n<desc id=\"%s-d\">", id);
	rb_text(b, desc);
	rb_raw(b, "</desc>\n");
}

static void
axes(struct rpt_buf *b, const struct svg_axis *xa, const struct svg_axis *ya,
    const char *xlabel, const char *ylabel)
{
	char t[32];
	double p;
	size_t i;

	rb_raw(b, "<g class=\"axes\">\n");
	for (i = 0; ya != NULL && i < ya->nticks; i++) {
		p = svg_axis_map(ya, ya->tick[i], H - MB, MT);
		rb_raw(b, "<line class=\"grid\"");
		coord(b, "x1", ML);
		coord(b, "x2", W - MR);
		coord(b, "y1", p);
		coord(b, "y2", p);
		rb_raw(b, "/><text class=\"tick\" text-anchor=\"end\"");
		coord(b, "x", ML - 6);
		coord(b, "y", p + 4);
		svg_tick_label(t, sizeof(t), ya->tick[i]);
		rb_raw(b, ">");
		rb_text(b, t);
		rb_raw(b, "</text>\n");
	}
	for (i = 0; xa != NULL && i < xa->nticks; i++) {
		p = svg_axis_map(xa, xa->tick[i], ML, W - MR);
		rb_raw(b, "<line class=\"grid\"");
		coord(b, "x1", p);
		coord(b, "x2", p);
		coord(b, "y1", MT);
		coord(b, "y2", H - MB);
		rb_raw(b, "/><text class=\"tick\" text-anchor=\"middle\"");
		coord(b, "x", p);
		coord(b, "y", H - MB + 16);
		svg_tick_label(t, sizeof(t), xa->tick[i]);
		rb_raw(b, ">");
		rb_text(b, t);
		rb_raw(b, "</text>\n");
	}
	rb_rawf(b, "<path class=\"frame\" d=\"M%.1f %.1fV%.1fH%.1f\"/>\n",
	    ML, MT, H - MB, W - MR);
	rb_rawf(b, "<text class=\"label\" text-anchor=\"middle\" x=\"%.1f\" "
	    "y=\"%.1f\">", (ML + W - MR) / 2, H - 10);
	rb_text(b, xlabel);
	rb_rawf(b, "</text>\n<text class=\"label\" text-anchor=\"middle\" "
	    "transform=\"translate(14 %.1f) rotate(-90)\">", (MT + H - MB) / 2);
	rb_text(b, ylabel);
	rb_raw(b, "</text>\n</g>\n");
}

/* The style of series i: colour i % 8, and a dash pattern and marker
 * fill that also change every 8 series, so no two of the first 32 share
 * all three. */
static size_t
st_colour(size_t i)
{
	return i % NSTYLE;
}

static const char *
st_dash(size_t i)
{
	return dashes[(i % 4 + i / NSTYLE) % 4];
}

static const char *
st_fill(size_t i)
{
	return (i / 4 + i / NSTYLE) % 2 ? " hollow" : "";
}

static void
legend_row(struct rpt_buf *b, size_t row, size_t style, int limit,
    const char *name, double top)
{
	double y = top + (double)row * LEG_ROW + 12;

	rb_raw(b, "<g class=\"legend\">");
	if (limit)
		rb_rawf(b, "<line class=\"lim-key\" x1=\"%.1f\" x2=\"%.1f\" "
		    "y1=\"%.1f\" y2=\"%.1f\"/>", ML, ML + 28, y - 4, y - 4);
	else
		rb_rawf(b, "<line class=\"ln s%zu\" stroke-dasharray=\"%s\" "
		    "x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"/>"
		    "<circle class=\"mk s%zu%s\" cx=\"%.1f\" cy=\"%.1f\" "
		    "r=\"3.5\"/>", st_colour(style), st_dash(style),
		    ML, ML + 28, y - 4, y - 4, st_colour(style),
		    st_fill(style), ML + 14, y - 4);
	rb_rawf(b, "<text class=\"tick\" x=\"%.1f\" y=\"%.1f\">", ML + 36, y);
	rb_text(b, name);
	rb_raw(b, "</text></g>\n");
}

static void
table_open(struct rpt_buf *b, const char *c1, const char *c2, const char *c3)
{
	rb_raw(b, "<details><summary>data</summary>\n<table class=\"chart-data\">"
	    "<thead><tr><th scope=\"col\">");
	rb_text(b, c1);
	rb_raw(b, "</th><th scope=\"col\">");
	rb_text(b, c2);
	rb_raw(b, "</th><th scope=\"col\">");
	rb_text(b, c3);
	rb_raw(b, "</th></tr></thead>\n<tbody>\n");
}

/* The data's range over the drawable values; counts the rest. */
static void
plot_range(const struct svg_plot *p, size_t ns, struct svg_axis *xa,
    struct svg_axis *ya, size_t *bad, size_t *capped)
{
	double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
	double x, y;
	size_t i, j, n;

	*bad = *capped = 0;
	for (i = 0; i < ns; i++) {
		n = p->s[i].n > SVG_POINTS_MAX ? SVG_POINTS_MAX : p->s[i].n;
		*capped += p->s[i].n - n;
		for (j = 0; j < n; j++) {
			x = p->s[i].x[j];
			y = p->s[i].y[j];
			if (!svg_plottable(x, p->xlog) ||
			    !svg_plottable(y, p->ylog)) {
				(*bad)++;
				continue;
			}
			xlo = fmin(xlo, x), xhi = fmax(xhi, x);
			ylo = fmin(ylo, y), yhi = fmax(yhi, y);
		}
	}
	for (i = 0; i < p->nhl; i++)
		if (svg_plottable(p->hl[i].y, p->ylog))
			ylo = fmin(ylo, p->hl[i].y), yhi = fmax(yhi, p->hl[i].y);
	if (p->yzero && !p->ylog && ylo <= yhi)
		ylo = fmin(ylo, 0), yhi = fmax(yhi, 0);
	svg_axis_fit(xa, xlo, xhi, p->xlog);
	svg_axis_fit(ya, ylo, yhi, p->ylog);
}

static void
plot_hlines(struct rpt_buf *b, const struct svg_plot *p,
    const struct svg_axis *ya)
{
	double y;
	size_t i;

	for (i = 0; i < p->nhl; i++) {
		if (!svg_plottable(p->hl[i].y, p->ylog))
			continue;
		y = svg_axis_map(ya, p->hl[i].y, H - MB, MT);
		rb_rawf(b, "<line class=\"limit\" data-y=\"");
		data_num(b, p->hl[i].y);
		rb_raw(b, "\" data-series=\"");
		rb_attr(b, p->hl[i].label);
		rb_raw(b, "\"");
		coord(b, "x1", ML);
		coord(b, "x2", W - MR);
		coord(b, "y1", y);
		coord(b, "y2", y);
		rb_raw(b, "/>\n");
	}
}

/* Series i: its line (or limit path), then its points; returns how
 * many points were drawn. */
static size_t
plot_series(struct rpt_buf *b, const struct svg_plot *p, size_t i,
    const struct svg_axis *xa, const struct svg_axis *ya)
{
	const struct svg_series *s = &p->s[i];
	size_t j, n, pts = 0;
	int first;

	n = s->n > SVG_POINTS_MAX ? SVG_POINTS_MAX : s->n;
	rb_raw(b, "<g class=\"series\" data-series=\"");
	rb_attr(b, s->name);
	rb_raw(b, "\">");
	if (!p->scatter || s->limit) {
		if (s->limit)
			rb_raw(b, "<path class=\"limit\" d=\"");
		else
			rb_rawf(b, "<path class=\"ln s%zu\" "
			    "stroke-dasharray=\"%s\" d=\"", st_colour(i),
			    st_dash(i));
		for (j = 0, first = 1; j < n; j++) {
			if (!svg_plottable(s->x[j], p->xlog) ||
			    !svg_plottable(s->y[j], p->ylog))
				continue;
			rb_rawf(b, "%s%.1f %.1f", first ? "M" : "L",
			    svg_axis_map(xa, s->x[j], ML, W - MR),
			    svg_axis_map(ya, s->y[j], H - MB, MT));
			first = 0;
		}
		rb_raw(b, "\"/>");
	}
	for (j = 0; !s->limit && j < n; j++) {
		if (!svg_plottable(s->x[j], p->xlog) ||
		    !svg_plottable(s->y[j], p->ylog))
			continue;
		rb_rawf(b, "\n<circle class=\"pt s%zu%s\" r=\"3.5\"",
		    st_colour(i), st_fill(i));
		coord(b, "cx", svg_axis_map(xa, s->x[j], ML, W - MR));
		coord(b, "cy", svg_axis_map(ya, s->y[j], H - MB, MT));
		rb_raw(b, " data-x=\"");
		data_num(b, s->x[j]);
		rb_raw(b, "\" data-y=\"");
		data_num(b, s->y[j]);
		rb_raw(b, "\" data-series=\"");
		rb_attr(b, s->name);
		rb_raw(b, "\"><title>");
		rb_text(b, s->name);
		rb_raw(b, ": ");
		rb_num(b, s->x[j], p->xprec);
		rb_raw(b, ", ");
		rb_num(b, s->y[j], p->yprec);
		rb_raw(b, "</title></circle>");
		pts++;
	}
	rb_raw(b, "</g>\n");
	return pts;
}

static void
plot_table(struct rpt_buf *b, const struct svg_plot *p, size_t ns)
{
	size_t i, j, n;

	table_open(b, "series", p->xlabel, p->ylabel);
	for (i = 0; i < ns; i++) {
		n = p->s[i].n > SVG_POINTS_MAX ? SVG_POINTS_MAX : p->s[i].n;
		for (j = 0; j < n; j++) {
			rb_raw(b, "<tr><td>");
			rb_text(b, p->s[i].name);
			rb_raw(b, "</td><td>");
			rb_num(b, p->s[i].x[j], p->xprec);
			rb_raw(b, "</td><td>");
			rb_num(b, p->s[i].y[j], p->yprec);
			rb_raw(b, "</td></tr>\n");
		}
	}
	for (i = 0; i < p->nhl; i++) {
		rb_raw(b, "<tr><td>");
		rb_text(b, p->hl[i].label);
		rb_raw(b, "</td><td>all</td><td>");
		rb_num(b, p->hl[i].y, p->yprec);
		rb_raw(b, "</td></tr>\n");
	}
	rb_raw(b, "</tbody></table></details>\n");
}

void
svg_plot(struct rpt_buf *b, const struct svg_plot *p, size_t *drawn)
{
	struct svg_axis xa, ya;
	size_t ns, i, bad, capped, pts = 0;

	ns = p->ns > SVG_SERIES_MAX ? SVG_SERIES_MAX : p->ns;
	plot_range(p, ns, &xa, &ya, &bad, &capped);
	svg_open(b, p->kind, p->id, p->title, p->desc,
	    H + LEG_ROW * (double)(ns + p->nhl) + 8);
	axes(b, &xa, &ya, p->xlabel, p->ylabel);
	plot_hlines(b, p, &ya);
	for (i = 0; i < ns; i++)
		pts += plot_series(b, p, i, &xa, &ya);
	for (i = 0; i < ns; i++)
		legend_row(b, i, i, p->s[i].limit, p->s[i].name, H);
	for (i = 0; i < p->nhl; i++)
		legend_row(b, ns + i, 0, 1, p->hl[i].label, H);
	rb_raw(b, "</svg>\n<figcaption><strong>");
	rb_text(b, p->title);
	rb_raw(b, ".</strong> ");
	rb_text(b, p->desc);
	if (bad > 0)
		rb_rawf(b, " (%zu value(s) not finite or out of the axis' "
		    "range: not drawn)", bad);
	if (p->ns > ns || capped > 0)
		rb_rawf(b, " (capped: %zu of %zu series, %zu point(s) left "
		    "out)", ns, p->ns, capped);
	rb_raw(b, "</figcaption>\n");
	plot_table(b, p, ns);
	rb_raw(b, "</figure>\n");
	if (drawn != NULL)
		*drawn = pts;
}

/* Hatching per stacked part (part 0 plain): the parts differ by pattern
 * as well as by colour.  Paths in a 6 x 6 tile. */
static const char *const hatch[SVG_PARTS_MAX] = {
	NULL, "M0 6L6 0", "M0 3H6", "M0 0L6 6", "M3 0V6", "M2 2h1v1h-1z",
	"M0 6L6 0M0 0L6 6", "M0 3H6M3 0V6",
};

static void
hatch_defs(struct rpt_buf *b, const char *id, size_t np)
{
	size_t k;

	rb_raw(b, "<defs>");
	for (k = 1; k < np; k++)
		rb_rawf(b, "<pattern id=\"%s-h%zu\" width=\"6\" height=\"6\" "
		    "patternUnits=\"userSpaceOnUse\"><path class=\"hatch\" "
		    "d=\"%s\"/></pattern>", id, k, hatch[k]);
	rb_raw(b, "</defs>\n");
}

static void
hatch_rect(struct rpt_buf *b, const char *id, size_t k, double x, double y,
    double w, double h)
{
	if (k == 0 || k >= SVG_PARTS_MAX)
		return;
	rb_rawf(b, "<rect class=\"hatched\" fill=\"url(#%s-h%zu)\" x=\"%.1f\" "
	    "y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"/>", id, k, x, y, w, h);
}

static double
part_value(const struct svg_stack *s, size_t c, size_t k)
{
	double v = s->v[c * s->nparts + k];

	/* A negative or unplottable part would break the stack: 0. */
	return svg_plottable(v, 0) && v > 0 ? v : 0;
}

void
svg_stacked(struct rpt_buf *b, const struct svg_stack *s)
{
	struct svg_axis ya;
	size_t nc, np, c, k;
	double tot, hi = 0, bw, x, y0, y1, h;

	nc = s->ncat > SVG_BARS_MAX ? SVG_BARS_MAX : s->ncat;
	np = s->nparts > SVG_PARTS_MAX ? SVG_PARTS_MAX : s->nparts;
	for (c = 0; c < nc; c++) {
		for (k = 0, tot = 0; k < np; k++)
			tot += part_value(s, c, k);
		hi = fmax(hi, tot);
	}
	svg_axis_fit(&ya, 0, hi > 0 ? hi : 1, 0);
	h = H - MB + 36 + LEG_ROW * (double)np;
	svg_open(b, s->kind, s->id, s->title, s->desc, h);
	hatch_defs(b, s->id, np);
	axes(b, NULL, &ya, "", s->ylabel);
	bw = nc > 0 ? (W - ML - MR) / (double)nc : 0;
	for (c = 0; c < nc; c++) {
		x = ML + bw * (double)c;
		rb_raw(b, "<g class=\"stack\" data-series=\"");
		rb_attr(b, s->cats[c]);
		rb_raw(b, "\">");
		for (k = 0, tot = 0; k < np; k++) {
			double v = part_value(s, c, k);

			y0 = svg_axis_map(&ya, tot, H - MB, MT);
			tot += v;
			y1 = svg_axis_map(&ya, tot, H - MB, MT);
			rb_rawf(b, "\n<rect class=\"bar p%zu\"", k);
			coord(b, "x", x + bw * 0.15);
			coord(b, "y", y1);
			coord(b, "width", bw * 0.7);
			coord(b, "height", y0 - y1);
			rb_raw(b, " data-value=\"");
			data_num(b, v);
			rb_raw(b, "\" data-part=\"");
			rb_attr(b, s->parts[k]);
			rb_raw(b, "\" data-series=\"");
			rb_attr(b, s->cats[c]);
			rb_raw(b, "\"><title>");
			rb_text(b, s->cats[c]);
			rb_raw(b, " ");
			rb_text(b, s->parts[k]);
			rb_raw(b, ": ");
			rb_num(b, v, s->prec);
			rb_raw(b, "</title></rect>");
			hatch_rect(b, s->id, k, x + bw * 0.15, y1, bw * 0.7,
			    y0 - y1);
		}
		/* The category's number under its bar (the names are in the
		 * data table and in each bar's title: too long to fit). */
		rb_rawf(b, "\n<text class=\"tick\" text-anchor=\"middle\" "
		    "x=\"%.1f\" y=\"%.1f\">%zu</text></g>\n", x + bw / 2,
		    H - MB + 16, c + 1);
	}
	for (k = 0; k < np; k++) {
		y0 = H - MB + 30 + (double)k * LEG_ROW;
		rb_rawf(b, "<g class=\"legend\"><rect class=\"bar-key p%zu\" "
		    "x=\"%.1f\" y=\"%.1f\" width=\"14\" height=\"12\"/>",
		    k, ML, y0);
		hatch_rect(b, s->id, k, ML, y0, 14, 12);
		rb_rawf(b, "<text class=\"tick\" x=\"%.1f\" y=\"%.1f\">",
		    ML + 22, y0 + 11);
		rb_text(b, s->parts[k]);
		rb_raw(b, "</text></g>\n");
	}
	rb_raw(b, "</svg>\n<figcaption><strong>");
	rb_text(b, s->title);
	rb_raw(b, ".</strong> ");
	rb_text(b, s->desc);
	if (s->ncat > nc || s->nparts > np)
		rb_rawf(b, " (capped: %zu of %zu bars)", nc, s->ncat);
	rb_raw(b, "</figcaption>\n<details><summary>data</summary>\n"
	    "<table class=\"chart-data\"><thead><tr><th scope=\"col\">#</th>"
	    "<th scope=\"col\">cell</th>");
	for (k = 0; k < np; k++) {
		rb_raw(b, "<th scope=\"col\">");
		rb_text(b, s->parts[k]);
		rb_raw(b, "</th>");
	}
	rb_raw(b, "</tr></thead>\n<tbody>\n");
	for (c = 0; c < nc; c++) {
		rb_rawf(b, "<tr><td>%zu</td><td>", c + 1);
		rb_text(b, s->cats[c]);
		rb_raw(b, "</td>");
		for (k = 0; k < np; k++) {
			rb_raw(b, "<td>");
			rb_num(b, part_value(s, c, k), s->prec);
			rb_raw(b, "</td>");
		}
		rb_raw(b, "</tr>\n");
	}
	rb_raw(b, "</tbody></table></details>\n</figure>\n");
}

const char *
rpt_css_charts(void)
{
	/* Okabe-Ito colours: distinguishable with the common colour vision
	 * deficiencies; dashes and fills carry the same distinction. */
	return
	    "figure.chart{margin:1em 0;max-width:48rem}\n"
	    "figure.chart svg{display:block;width:100%;height:auto;"
	    "font:12px sans-serif}\n"
	    "figure.chart .grid{stroke:#ddd;stroke-width:1}\n"
	    "figure.chart .frame{fill:none;stroke:#444;stroke-width:1}\n"
	    "figure.chart .tick,figure.chart .label{fill:#222}\n"
	    "figure.chart .label{font-weight:bold}\n"
	    "figure.chart .ln{fill:none;stroke-width:2}\n"
	    "figure.chart .limit,figure.chart .lim-key{fill:none;"
	    "stroke:#c00;stroke-width:2;stroke-dasharray:10 4}\n"
	    "figure.chart .pt,figure.chart .mk{stroke-width:1.5}\n"
	    "figure.chart .hollow{fill:#fff !important}\n"
	    ".s0{stroke:#0072b2;fill:#0072b2}.s1{stroke:#e69f00;fill:#e69f00}"
	    ".s2{stroke:#009e73;fill:#009e73}.s3{stroke:#cc79a7;fill:#cc79a7}"
	    ".s4{stroke:#56b4e9;fill:#56b4e9}.s5{stroke:#d55e00;fill:#d55e00}"
	    ".s6{stroke:#000;fill:#000}.s7{stroke:#999;fill:#999}\n"
	    ".p0{fill:#0072b2}.p1{fill:#e69f00}.p2{fill:#009e73}"
	    ".p3{fill:#cc79a7}.p4{fill:#56b4e9}.p5{fill:#d55e00}"
	    ".p6{fill:#999}.p7{fill:#000}\n"
	    "figure.chart rect.bar{stroke:#fff;stroke-width:.5}\n"
	    "figure.chart .hatch{fill:none;stroke:#000;stroke-opacity:.55;"
	    "stroke-width:1}\n"
	    "figure.chart .hatched{pointer-events:none}\n"
	    "table.compare tr[data-verdict=regressed] td.verdict{"
	    "font-weight:bold;color:#b00}\n"
	    "table.compare tr[data-verdict=improved] td.verdict{color:#060}\n"
	    "@media (prefers-color-scheme: dark){\n"
	    "figure.chart .grid{stroke:#444}\n"
	    "figure.chart .frame{stroke:#bbb}\n"
	    "figure.chart .tick,figure.chart .label{fill:#eee}\n"
	    "figure.chart .hollow{fill:#111 !important}\n"
	    "figure.chart .limit,figure.chart .lim-key{stroke:#ff6b6b}\n"
	    ".s6{stroke:#eee;fill:#eee}.p7{fill:#eee}\n"
	    "figure.chart rect.bar{stroke:#111}\n"
	    "table.compare tr[data-verdict=regressed] td.verdict{color:#ff6b6b}\n"
	    "table.compare tr[data-verdict=improved] td.verdict{color:#7c7}\n"
	    "}\n"
	    "@media print{\n"
	    "figure.chart{break-inside:avoid;max-width:100%}\n"
	    "figure.chart .grid{stroke:#ccc}\n"
	    "figure.chart .tick,figure.chart .label{fill:#000}\n"
	    "}\n";
}
