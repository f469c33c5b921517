/*
 * html.h - the page builder of the report layer (internal).
 *
 * A growing buffer with one rule: text that came from a document goes
 * through rb_text or rb_attr (escaped for element content or a quoted
 * attribute value), never through rb_raw or rb_rawf, which take markup
 * the layer wrote itself.  A failed allocation latches: every later
 * call does nothing and rb_take reports ATR_ERR_NOMEM, so the callers
 * need not check each append.
 */
#ifndef ATR_REPORT_HTML_H
#define ATR_REPORT_HTML_H

#include <stddef.h>

#include "err.h"

/* Longest string shown from a document; longer ones are cut and end in
 * an ellipsis (a hostile report cannot make the page enormous). */
#define RB_TEXT_MAX 4096U

struct rpt_buf {
	char *p;
	size_t len, cap;
	int failed;
};

void rb_init(struct rpt_buf *b);
void rb_free(struct rpt_buf *b);
/* Hands the NUL-terminated page to the caller; ATR_ERR_NOMEM when an
 * append failed (and then frees it). */
enum atr_err rb_take(struct rpt_buf *b, char **out, size_t *len);

/* Markup written by this layer: appended as is. */
void rb_raw(struct rpt_buf *b, const char *s);
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
void rb_rawf(struct rpt_buf *b, const char *fmt, ...);

/* Untrusted text, escaped: & < > " ' become entities, control
 * characters other than tab and newline become U+FFFD, invalid UTF-8
 * becomes U+FFFD, and more than RB_TEXT_MAX bytes are cut.  NULL is
 * shown as nothing.  The same escaping is safe in element content and
 * in a double- or single-quoted attribute value. */
void rb_text(struct rpt_buf *b, const char *s);
void rb_textn(struct rpt_buf *b, const char *s, size_t n);
#define rb_attr rb_text

/* A number with prec decimals; NaN and infinities as "n/a". */
void rb_num(struct rpt_buf *b, double v, int prec);

#endif
