/*
 * report_int.h - what the report layer's files share (internal).
 *
 *   render.c       the page: head, inline style, header, table of
 *                  contents, then the sections below; rpt_classify
 *   verify_html.c  one verify report (verdict, what was proven, checks)
 *   bench_html.c   bench results: one run, or several compared
 *   svg.c          inline SVG charts (svg.h)
 *   html.c         the builder and its escaping (html.h)
 */
#ifndef ATR_REPORT_INT_H
#define ATR_REPORT_INT_H

#include "html.h"
#include "report.h"

/* Appends the section of verify report d; id is unique on the page (an
 * anchor prefix, e.g. "v1"). */
enum atr_err rpt_verify_section(struct rpt_buf *b, const struct rpt_doc *d,
    const char *id);

/* Appends the bench section for runs[0..n) (n >= 1): the last run in
 * full, and with n > 1 each cell's change against runs[0] with the
 * gate's verdict, as `atrest bench compare` gives it. */
enum atr_err rpt_bench_section(struct rpt_buf *b,
    const struct rpt_doc *const *runs, size_t n, const char *id);

/* Findings shown per check at most (the JSON caps them already, at
 * report.max_findings_per_check; a hostile report may not). */
#define RPT_FINDINGS_MAX 1000U
/* Checks shown per verify report at most (verify writes nine). */
#define RPT_CHECKS_MAX 64U

/* A verify report's verdict word (PASS, WARN, FAIL, INCOMPLETE,
 * NOTHING-VERIFIED) and exit status from summary.status/exit_code;
 * 0 when the status is missing or unknown. */
int rpt_verdict_of(const cJSON *json, const char **verdict, int *exit_code);
/* The anchor id of check ck (index idx) in the section id: "ID-check-X". */
void rpt_check_anchor(char *out, size_t n, const char *id, const cJSON *ck,
    size_t idx);

/* The remedy for a verify finding code (verify_fixes.c, from
 * docs/VERIFY.md), NULL when the code is unknown; the table's entries by
 * index, for the test that checks every code has one. */
const char *rpt_verify_fix(const char *code);
size_t rpt_verify_fix_count(void);
const char *rpt_verify_fix_code(size_t i);

/* The page's stylesheet (light, dark by prefers-color-scheme, print);
 * each part adds its own rules: render.c the page, svg.c the charts. */
const char *rpt_css_page(void);
const char *rpt_css_charts(void);

#endif
