/* see codec.h */
#include "codec.h"

#include <limits.h>

#include "crypto.h"

static const char alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t
atr_b64url_len(size_t len)
{
	return len / 3 * 4 + (len % 3 == 0 ? 0 : len % 3 + 1);
}

long
atr_b64url_encode(const uint8_t *in, size_t len, char *out, size_t cap)
{
	size_t need, i, o = 0;
	uint32_t v;

	if (len > (size_t)LONG_MAX / 2)
		return -1;
	need = atr_b64url_len(len);
	if (cap < need + 1)
		return -1;
	for (i = 0; i + 3 <= len; i += 3) {
		v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 |
		    in[i + 2];
		out[o++] = alphabet[v >> 18 & 63];
		out[o++] = alphabet[v >> 12 & 63];
		out[o++] = alphabet[v >> 6 & 63];
		out[o++] = alphabet[v & 63];
	}
	if (len - i == 1) {
		v = (uint32_t)in[i] << 16;
		out[o++] = alphabet[v >> 18 & 63];
		out[o++] = alphabet[v >> 12 & 63];
	} else if (len - i == 2) {
		v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
		out[o++] = alphabet[v >> 18 & 63];
		out[o++] = alphabet[v >> 12 & 63];
		out[o++] = alphabet[v >> 6 & 63];
	}
	out[o] = '\0';
	return (long)o;
}

static int
value(int ch, unsigned flags)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9')
		return ch - '0' + 52;
	if (ch == '-' || (ch == '+' && (flags & ATR_B64_STD_ALPHABET)))
		return 62;
	if (ch == '_' || (ch == '/' && (flags & ATR_B64_STD_ALPHABET)))
		return 63;
	return -1;
}

int
atr_b64url_decode(const char *in, size_t in_len, unsigned flags,
    uint8_t *out, size_t cap, size_t *out_len)
{
	uint32_t acc = 0;
	size_t i, o = 0, bits = 0, pad = 0;
	int v;

	*out_len = 0;
	while (pad < 2 && in_len > 0 && in[in_len - 1] == '=') {
		in_len--;
		pad++;
	}
	/* One leftover character can never encode a whole byte. */
	if (in_len % 4 == 1 || (pad > 0 && (in_len + pad) % 4 != 0))
		return -1;
	for (i = 0; i < in_len; i++) {
		v = value((unsigned char)in[i], flags);
		if (v < 0)
			goto bad;
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (o >= cap)
				goto bad;
			out[o++] = (uint8_t)(acc >> bits);
		}
	}
	/* Non-zero leftover bits: not the canonical encoding (RFC 4648
	 * section 3.5). */
	if ((acc & ((1U << bits) - 1)) != 0)
		goto bad;
	*out_len = o;
	return 0;
bad:
	atr_memzero(out, o);
	return -1;
}

int
atr_uri_unreserved(int c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
	    c == '~';
}

long
atr_pct_encode(const uint8_t *in, size_t len, unsigned flags, char *out,
    size_t cap)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t i, o = 0;

	if (len > (size_t)LONG_MAX / 3 || cap == 0)
		return -1;
	for (i = 0; i < len; i++) {
		if (!(flags & ATR_PCT_ALL) && atr_uri_unreserved(in[i])) {
			if (o + 1 >= cap)
				goto full;
			out[o++] = (char)in[i];
			continue;
		}
		if (o + 3 >= cap)
			goto full;
		out[o++] = '%';
		out[o++] = hex[in[i] >> 4];
		out[o++] = hex[in[i] & 15];
	}
	out[o] = '\0';
	return (long)o;
full:
	atr_memzero(out, o);
	out[0] = '\0';
	return -1;
}
