/*
 * out.c - the buffered writer the JSON and XML outputs go through (the
 * report, the policy, the fixture manifest), with JSON and XML string
 * escaping.  The first error sticks and is returned by vfy_out_flush().
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fsutil.h"
#include "vfy_int.h"

void
vfy_out_init(struct vfy_out *o, int fd)
{
	o->fd = fd;
	o->err = ATR_OK;
	o->n = 0;
}

enum atr_err
vfy_out_flush(struct vfy_out *o)
{
	if (o->err == ATR_OK && o->n > 0)
		o->err = atr_write_all(o->fd, o->buf, o->n);
	o->n = 0;
	return o->err;
}

void
vfy_out_put(struct vfy_out *o, const char *s, size_t n)
{
	while (n > 0 && o->err == ATR_OK) {
		size_t room = sizeof(o->buf) - o->n, take = n < room ? n : room;

		memcpy(o->buf + o->n, s, take);
		o->n += take;
		s += take;
		n -= take;
		if (o->n == sizeof(o->buf))
			vfy_out_flush(o);
	}
}

void
vfy_out_str(struct vfy_out *o, const char *s)
{
	vfy_out_put(o, s, strlen(s));
}

void
vfy_out_fmt(struct vfy_out *o, const char *fmt, ...)
{
	char tmp[2048];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n < sizeof(tmp)) {
		vfy_out_put(o, tmp, (size_t)n);
		return;
	} else {
		char *big = malloc((size_t)n + 1);

		if (big == NULL) {
			o->err = ATR_ERR_NOMEM;
			return;
		}
		va_start(ap, fmt);
		vsnprintf(big, (size_t)n + 1, fmt, ap);
		va_end(ap);
		vfy_out_put(o, big, (size_t)n);
		free(big);
	}
}

/* Length of a valid UTF-8 sequence at p (RFC 3629), 0 when invalid. */
static size_t
utf8_len(const unsigned char *p)
{
	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		return (p[1] & 0xc0) == 0x80 ? 2 : 0;
	if (p[0] >= 0xe0 && p[0] <= 0xef) {
		if ((p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80)
			return 0;
		if (p[0] == 0xe0 && p[1] < 0xa0)
			return 0;
		if (p[0] == 0xed && p[1] >= 0xa0)
			return 0;   /* surrogates */
		return 3;
	}
	if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		if ((p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80 ||
		    (p[3] & 0xc0) != 0x80)
			return 0;
		if (p[0] == 0xf0 && p[1] < 0x90)
			return 0;
		if (p[0] == 0xf4 && p[1] >= 0x90)
			return 0;
		return 4;
	}
	return 0;
}

void
vfy_out_json_str(struct vfy_out *o, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	char esc[8];

	vfy_out_put(o, "\"", 1);
	while (*p) {
		size_t l = utf8_len(p);

		if (*p == '"' || *p == '\\') {
			esc[0] = '\\';
			esc[1] = (char)*p;
			vfy_out_put(o, esc, 2);
			p++;
		} else if (*p < 0x20 || l == 0) {
			/* Control bytes and bytes that are not UTF-8 (a file
			 * name is any bytes): \u00XX keeps the JSON valid. */
			snprintf(esc, sizeof(esc), "\\u%04x", *p);
			vfy_out_put(o, esc, 6);
			p++;
		} else {
			vfy_out_put(o, (const char *)p, l);
			p += l;
		}
	}
	vfy_out_put(o, "\"", 1);
}

void
vfy_out_xml_str(struct vfy_out *o, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p) {
		size_t l = utf8_len(p);

		switch (*p) {
		case '&':
			vfy_out_str(o, "&amp;");
			break;
		case '<':
			vfy_out_str(o, "&lt;");
			break;
		case '>':
			vfy_out_str(o, "&gt;");
			break;
		case '"':
			vfy_out_str(o, "&quot;");
			break;
		case '\'':
			vfy_out_str(o, "&apos;");
			break;
		default:
			/* XML 1.0 allows no control characters but tab, LF
			 * and CR, and no invalid UTF-8. */
			if ((*p < 0x20 && *p != '\t' && *p != '\n' &&
			    *p != '\r') || l == 0)
				vfy_out_put(o, "?", 1);
			else {
				vfy_out_put(o, (const char *)p, l);
				p += l;
				continue;
			}
		}
		p++;
	}
}
