/* see quote.h */
#include "quote.h"

#include <string.h>

/* Room kept for the end of a cut output: a closing quote, "..." and NUL. */
#define RESERVE 5U

struct w {
	char *p;
	size_t cap, n;
	int full;
};

static void
put(struct w *w, const char *s, size_t len)
{
	if (w->full || w->n + len + RESERVE > w->cap) {
		w->full = 1;
		return;
	}
	memcpy(w->p + w->n, s, len);
	w->n += len;
}

/* The end of the output: what the reserve was kept for. */
static const char *
finish(struct w *w, const char *closing)
{
	size_t cl = strlen(closing);

	if (w->cap == 0)
		return w->p;
	if (w->cap < RESERVE + 1) {
		w->p[0] = '\0';
		return w->p;
	}
	memcpy(w->p + w->n, closing, cl);
	w->n += cl;
	if (w->full) {
		memcpy(w->p + w->n, "...", 3);
		w->n += 3;
	}
	w->p[w->n] = '\0';
	return w->p;
}

/*
 * Length of the character at s and whether it must be escaped: C0
 * controls and DEL, C1 controls (U+0080..U+009F), bytes that are not
 * well-formed UTF-8 (RFC 3629 section 4: no overlong forms, surrogates or
 * code points above U+10FFFF; escaped one byte at a time), and the
 * characters that move or reorder what a terminal shows (U+200E/F, the
 * line and paragraph separators U+2028/9, the bidirectional embeddings,
 * overrides and isolates U+202A..E and U+2066..9, Unicode TR #9).
 */
static size_t
char_at(const unsigned char *s, int *bad)
{
	unsigned c = s[0], cp, lo = 0x80, hi = 0xbf;
	size_t len, i;

	*bad = 0;
	if (c < 0x20 || c == 0x7f) {
		*bad = 1;
		return 1;
	}
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		cp = c & 0x0f;
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		cp = c & 0x07;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;
	} else {
		*bad = 1;
		return 1;
	}
	for (i = 1; i < len; i++) {
		unsigned b = s[i];

		if (b < (i == 1 ? lo : 0x80) || b > (i == 1 ? hi : 0xbf)) {
			*bad = 1;
			return 1;
		}
		cp = (cp << 6) | (b & 0x3f);
	}
	if (cp <= 0x9f || cp == 0x200e || cp == 0x200f ||
	    (cp >= 0x2028 && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069))
		*bad = 1;
	return len;
}

/* One byte as a C escape, as bash's $'...' and printf(1) read it. */
static void
put_esc(struct w *w, unsigned char c)
{
	static const char named[] = "\a\b\t\n\v\f\r";
	static const char letter[] = "abtnvfr";
	const char *p = c != 0 ? strchr(named, c) : NULL;
	char e[4];

	if (p != NULL) {
		e[0] = '\\';
		e[1] = letter[p - named];
		put(w, e, 2);
		return;
	}
	e[0] = '\\';
	e[1] = (char)('0' + ((c >> 6) & 7));
	e[2] = (char)('0' + ((c >> 3) & 7));
	e[3] = (char)('0' + (c & 7));
	put(w, e, 4);
}

/* Characters a shell reads as themselves anywhere in a word; '~' and
 * '#' only after the first character (tilde expansion, comments). */
static int
plain(unsigned char c, size_t at)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return 1;
	if (c != '\0' && strchr("%+,-./:=@_", c) != NULL)
		return 1;
	return at > 0 && (c == '~' || c == '#');
}

const char *
atr_quote(const char *name, char *buf, size_t cap)
{
	const unsigned char *s = (const unsigned char *)name;
	struct w w = {buf, cap, 0, 0};
	size_t i, len;
	int bad, any_bad = 0, any_special = 0;

	for (i = 0; s[i] != '\0'; i += len) {
		len = char_at(s + i, &bad);
		if (bad)
			any_bad = 1;
		else if (len == 1 && !plain(s[i], i))
			any_special = 1;
	}
	if (i == 0) {
		put(&w, "''", 2);
		return finish(&w, "");
	}
	if (!any_bad && !any_special) {
		for (i = 0; s[i] != '\0'; i++)
			put(&w, (const char *)s + i, 1);
		return finish(&w, "");
	}
	if (!any_bad) {
		/* Single quotes keep everything but a single quote, which
		 * closes, is escaped and reopens: 'it'\''s'. */
		put(&w, "'", 1);
		for (i = 0; s[i] != '\0'; i++) {
			if (s[i] == '\'')
				put(&w, "'\\''", 4);
			else
				put(&w, (const char *)s + i, 1);
		}
		return finish(&w, "'");
	}
	put(&w, "$'", 2);
	for (i = 0; s[i] != '\0'; i += len) {
		size_t k;

		len = char_at(s + i, &bad);
		if (bad) {
			for (k = 0; k < len; k++)
				put_esc(&w, s[i + k]);
		} else if (s[i] == '\'' || s[i] == '\\') {
			char e[2] = {'\\', (char)s[i]};

			put(&w, e, 2);
		} else {
			/* a whole character or none of it */
			put(&w, (const char *)s + i, len);
		}
	}
	return finish(&w, "'");
}

const char *
atr_escape(const char *text, char *buf, size_t cap)
{
	const unsigned char *s = (const unsigned char *)text;
	struct w w = {buf, cap, 0, 0};
	size_t i, k, len;
	int bad;

	for (i = 0; s[i] != '\0'; i += len) {
		len = char_at(s + i, &bad);
		if (bad)
			for (k = 0; k < len; k++)
				put_esc(&w, s[i + k]);
		else
			put(&w, (const char *)s + i, len);
	}
	return finish(&w, "");
}
