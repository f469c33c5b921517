/*
 * kv_server_util.c - the loopback Key Vault's small helpers: atomic
 * file writes, constant-time secret comparison, base64url with Key
 * Vault's strict alphabet, identifiers, name and text checks, form
 * decoding, timestamps.
 */
#include "kv_server_int.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "codec.h"
#include "crypto.h"
#include "fsutil.h"
#include "json.h"

/* RFC 4648 section 5 with the padding left off, as every Key Vault
 * example does (JWK, RFC 7515 section 2); core/codec.h encodes. */
char *
kvs_b64url(const uint8_t *in, size_t len)
{
	size_t cap = atr_b64url_len(len) + 1;
	char *out = malloc(cap);

	if (out != NULL && atr_b64url_encode(in, len, out, cap) < 0) {
		free(out);
		out = NULL;
	}
	return out;
}

int
kvs_unb64url(const char *in, uint8_t **out, size_t *len)
{
	size_t n = strlen(in), cap = n / 4 * 3 + 3;
	uint8_t *buf;

	*out = NULL;
	*len = 0;
	buf = malloc(cap);
	if (buf == NULL)
		return -1;
	/* The URL alphabet only: '+' and '/' are refused, as the service
	 * refuses them; trailing '=' is tolerated (some clients pad). */
	if (atr_b64url_decode(in, n, 0, buf, cap, len) != 0) {
		free(buf);
		return -1;
	}
	*out = buf;
	return 0;
}

int
kvs_secret_equal(const void *a, size_t alen, const void *b, size_t blen)
{
	uint8_t da[32], db[32];
	int ok = 0;

	/* Digests compared in constant time: neither the bytes nor the
	 * lengths show in the timing. */
	if (atr_sha256(a, alen, da) == ATR_OK &&
	    atr_sha256(b, blen, db) == ATR_OK)
		ok = atr_ct_equal(da, db, sizeof(da));
	atr_memzero(da, sizeof(da));
	atr_memzero(db, sizeof(db));
	return ok;
}

void
kvs_uuid(char out[37])
{
	uint8_t r[16];
	char hex[33];

	if (atr_random(r, sizeof(r)) != ATR_OK)
		memset(r, 0x5a, sizeof(r));
	/* RFC 4122 section 4.4: version 4, variant 10. */
	r[6] = (uint8_t)((r[6] & 0x0f) | 0x40);
	r[8] = (uint8_t)((r[8] & 0x3f) | 0x80);
	atr_hex(r, sizeof(r), hex);
	snprintf(out, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12,
	    hex + 16, hex + 20);
}

void
kvs_hex_id(char out[KVS_VERSION_LEN + 1])
{
	uint8_t r[KVS_VERSION_LEN / 2];

	if (atr_random(r, sizeof(r)) != ATR_OK)
		memset(r, 0xa5, sizeof(r));
	atr_hex(r, sizeof(r), out);
}

int
kvs_text_valid(const char *s, size_t max_chars)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = 0;

	while (*p != '\0') {
		uint32_t cp, min;
		unsigned need, i;

		if (*p < 0x80) {
			if (*p < 0x20 || *p == 0x7f)
				return 0;
			p++;
		} else {
			/* RFC 3629 section 4: lead bytes C2..F4. */
			if (*p >= 0xc2 && *p <= 0xdf)
				need = 1, cp = *p & 0x1fU, min = 0x80;
			else if (*p >= 0xe0 && *p <= 0xef)
				need = 2, cp = *p & 0x0fU, min = 0x800;
			else if (*p >= 0xf0 && *p <= 0xf4)
				need = 3, cp = *p & 0x07U, min = 0x10000;
			else
				return 0;
			p++;
			/* A NUL ends the loop here: 0 is no continuation. */
			for (i = 0; i < need; i++) {
				if ((p[i] & 0xc0) != 0x80)
					return 0;
				cp = cp << 6 | (p[i] & 0x3fU);
			}
			/* Overlong forms, surrogates, above U+10FFFF. */
			if (cp < min || cp > 0x10ffff ||
			    (cp >= 0xd800 && cp <= 0xdfff))
				return 0;
			p += need;
		}
		if (++n > max_chars)
			return 0;
	}
	return 1;
}

int /* NOLINTNEXTLINE(misc-no-recursion): at most depth levels */
kvs_json_text_valid(const cJSON *j, unsigned depth)
{
	const cJSON *it;

	if (depth == 0)
		return 0;
	cJSON_ArrayForEach(it, j) {
		if (it->string != NULL && !kvs_text_valid(it->string,
		    KVS_BODY_MAX))
			return 0;
		if (cJSON_IsString(it) && !kvs_text_valid(it->valuestring,
		    KVS_BODY_MAX))
			return 0;
		if ((cJSON_IsObject(it) || cJSON_IsArray(it)) &&
		    !kvs_json_text_valid(it, depth - 1))
			return 0;
	}
	return 1;
}

int
kvs_form_get(const char *body, size_t len, const char *key, char *out,
    size_t cap)
{
	size_t klen = strlen(key), i = 0;

	while (i < len) {
		size_t start = i, end, o = 0;

		while (i < len && body[i] != '&')
			i++;
		end = i;
		i++;
		if (end - start <= klen || memcmp(body + start, key, klen) != 0 ||
		    body[start + klen] != '=')
			continue;
		/* application/x-www-form-urlencoded (HTML 4.01 17.13.4). */
		for (start += klen + 1; start < end; start++) {
			int c = (unsigned char)body[start];

			if (c == '+') {
				c = ' ';
			} else if (c == '%') {
				int hi, lo;

				if (end - start < 3)
					return -1;
				hi = atr_hexval((unsigned char)body[start + 1]);
				lo = atr_hexval((unsigned char)body[start + 2]);
				if (hi < 0 || lo < 0)
					return -1;
				c = hi << 4 | lo;
				start += 2;
			}
			if (o + 1 >= cap || c == 0) {
				atr_memzero(out, cap);
				return -1;
			}
			out[o++] = (char)c;
		}
		out[o] = '\0';
		return 1;
	}
	return 0;
}

void
kvs_timestamp(int64_t t, char *out, size_t cap)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL ||
	    strftime(out, cap, "%Y-%m-%d %H:%M:%SZ", &tm) == 0)
		snprintf(out, cap, "1970-01-01 00:00:00Z");
}
