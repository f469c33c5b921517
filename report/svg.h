/*
 * svg.h - inline SVG charts of the report layer (internal).
 *
 * A small plotting module: linear and logarithmic axes with "nice"
 * ticks (1, 2, 5 x 10^k), line or scatter series with points, limit
 * lines (horizontal, or a series drawn as a dashed limit path), stacked
 * bars, a legend, an accessible <title>/<desc>, and the same numbers in
 * a data table under the chart (docs/REPORT.md, "The bench part").
 *
 * Every chart is a <figure class="chart" data-chart=KIND>; data points
 * are <circle class="pt" data-x data-y data-series>, bars <rect
 * class="bar" data-value data-series>, limits <line class="limit"> or
 * <path class="limit">.  Output is deterministic (fixed precision, no
 * clock, no randomness); every label goes through rb_text; a value that
 * is not finite, or not > 0 on a log axis, or beyond SVG_ABS_MAX is not
 * drawn and is counted in the caption.  Colour is never the only
 * carrier: series also differ by dash pattern and marker fill, and the
 * legend names them.
 */
#ifndef ATR_REPORT_SVG_H
#define ATR_REPORT_SVG_H

#include <stddef.h>

#include "html.h"

#define SVG_TICKS_MAX 16
#define SVG_SERIES_MAX 24     /* more are not drawn (the caption says so) */
#define SVG_POINTS_MAX 256    /* per series */
#define SVG_BARS_MAX 48
#define SVG_PARTS_MAX 8
/* Values beyond this magnitude (or below SVG_LOG_MIN on a log axis)
 * are treated as unplottable: the axis arithmetic stays finite. */
#define SVG_ABS_MAX 1e15
#define SVG_LOG_MIN 1e-12

struct svg_axis {
	double lo, hi;          /* the drawn range (after svg_axis_fit) */
	int log;                /* base-10 logarithmic */
	double tick[SVG_TICKS_MAX];
	size_t nticks;
};

/*
 * Fits the axis to the data range [lo, hi]: a linear axis gets a range
 * rounded out to a nice step and ticks at its multiples; a log axis
 * gets whole decades (with 2 and 5 in between when it spans less than
 * two).  Bad input (non-finite, lo > hi, lo <= 0 on a log axis) gives a
 * default range: [0, 1], or [1, 10] for log.
 */
void svg_axis_fit(struct svg_axis *a, double lo, double hi, int log);
/* Position of v on the axis mapped to [p0, p1] (p1 may be < p0). */
double svg_axis_map(const struct svg_axis *a, double v, double p0, double p1);
/* 1 when v can be drawn on the axis kind (finite, in range, > 0 for log). */
int svg_plottable(double v, int log);
/* A tick label: up to 3 significant digits with k/M/G/T, or m/u for small
 * values ("1k", "2.5M", "0.05"); always finite text. */
void svg_tick_label(char *buf, size_t cap, double v);

struct svg_series {
	const char *name;       /* legend and data-series (escaped) */
	const double *x, *y;
	size_t n;
	int limit;              /* drawn as a dashed <path class="limit"> */
};

struct svg_hline {
	double y;
	const char *label;
};

struct svg_plot {
	const char *kind;       /* data-chart value (layer's own) */
	const char *id;         /* unique element id prefix (layer's own) */
	const char *title;      /* <title>, heading of the figure (escaped) */
	const char *desc;       /* <desc> and figcaption (escaped) */
	const char *xlabel, *ylabel;
	int xlog, ylog;
	int scatter;            /* points only, no connecting lines */
	int yzero;              /* a linear y axis includes 0 */
	const struct svg_series *s;
	size_t ns;
	const struct svg_hline *hl;
	size_t nhl;
	int xprec, yprec;       /* decimals in the data table */
};

/* Appends the figure (SVG, caption, data table).  Returns the number of
 * points drawn through *drawn when not NULL. */
void svg_plot(struct rpt_buf *b, const struct svg_plot *p, size_t *drawn);

struct svg_stack {
	const char *kind, *id, *title, *desc, *ylabel;
	const char *const *cats;   /* one bar per category (escaped) */
	size_t ncat;
	const char *const *parts;  /* stacked parts, bottom first */
	size_t nparts;
	const double *v;           /* v[cat * nparts + part]; bad -> 0 */
	int prec;
};

void svg_stacked(struct rpt_buf *b, const struct svg_stack *s);

#endif
