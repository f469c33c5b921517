/* see html.h */
#include "html.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
rb_init(struct rpt_buf *b)
{
	memset(b, 0, sizeof(*b));
}

void
rb_free(struct rpt_buf *b)
{
	free(b->p);
	rb_init(b);
}

static int
grow(struct rpt_buf *b, size_t more)
{
	size_t need, cap;
	char *p;

	if (b->failed)
		return 0;
	if (more > SIZE_MAX / 2 - b->len - 1) {
		b->failed = 1;
		return 0;
	}
	need = b->len + more + 1;
	if (need <= b->cap)
		return 1;
	cap = b->cap ? b->cap : 4096;
	while (cap < need)
		cap *= 2;
	p = realloc(b->p, cap);
	if (p == NULL) {
		b->failed = 1;
		return 0;
	}
	b->p = p;
	b->cap = cap;
	return 1;
}

static void
put(struct rpt_buf *b, const char *s, size_t n)
{
	if (n == 0 || !grow(b, n))
		return;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

enum atr_err
rb_take(struct rpt_buf *b, char **out, size_t *len)
{
	*out = NULL;
	*len = 0;
	if (!b->failed && b->p == NULL && grow(b, 0))
		b->p[0] = '\0';
	if (b->failed || b->p == NULL) {
		rb_free(b);
		return ATR_ERR_NOMEM;
	}
	*out = b->p;
	*len = b->len;
	rb_init(b);
	return ATR_OK;
}

void
rb_raw(struct rpt_buf *b, const char *s)
{
	put(b, s, strlen(s));
}

void
rb_rawf(struct rpt_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->failed = 1;
		return;
	}
	if (!grow(b, (size_t)n))
		return;
	va_start(ap, fmt);
	(void)vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

/* Length of the well-formed UTF-8 sequence at s[0..n), 0 when it is
 * not one (RFC 3629 section 4: no overlongs, no surrogates, at most
 * U+10FFFF). */
static size_t
utf8_len(const unsigned char *s, size_t n)
{
	unsigned c = s[0];
	size_t k, i;
	uint32_t cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		k = 2, cp = c & 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		k = 3, cp = c & 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		k = 4, cp = c & 0x07;
	else
		return 0;
	if (n < k)
		return 0;
	for (i = 1; i < k; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((k == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (k == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return k;
}

void
rb_textn(struct rpt_buf *b, const char *s, size_t n)
{
	static const char repl[] = "\xef\xbf\xbd"; /* U+FFFD */
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, k, cut = 0;

	if (s == NULL)
		return;
	if (n > RB_TEXT_MAX) {
		n = RB_TEXT_MAX;
		cut = 1;
	}
	while (i < n) {
		unsigned c = u[i];

		switch (c) {
		case '&':
			rb_raw(b, "&amp;");
			i++;
			continue;
		case '<':
			rb_raw(b, "&lt;");
			i++;
			continue;
		case '>':
			rb_raw(b, "&gt;");
			i++;
			continue;
		case '"':
			rb_raw(b, "&quot;");
			i++;
			continue;
		case '\'':
			rb_raw(b, "&#39;");
			i++;
			continue;
		default:
			break;
		}
		if ((c < 0x20 && c != '\t' && c != '\n') || c == 0x7f) {
			put(b, repl, 3);
			i++;
			continue;
		}
		k = utf8_len(u + i, n - i);
		if (k == 0) {
			/* Invalid, or a sequence the cut split: one
			 * replacement per bad byte. */
			put(b, repl, 3);
			i++;
			continue;
		}
		put(b, s + i, k);
		i += k;
	}
	if (cut)
		rb_raw(b, "\xe2\x80\xa6"); /* U+2026 */
}

void
rb_text(struct rpt_buf *b, const char *s)
{
	if (s != NULL)
		rb_textn(b, s, strlen(s));
}

void
rb_num(struct rpt_buf *b, double v, int prec)
{
	if (!isfinite(v)) {
		rb_raw(b, "n/a");
		return;
	}
	rb_rawf(b, "%.*f", prec < 0 ? 0 : prec > 9 ? 9 : prec, v);
}
