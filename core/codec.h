/*
 * codec.h - base64url (RFC 4648 section 5), the encoding of every JWK
 * field, JWT segment and Key Vault value (RFC 7515 section 2: without
 * '=' padding), and percent-encoding (RFC 3986 section 2.1), for token
 * request forms and PKCS#11 URIs.  One implementation each for the Key
 * Vault client, the providers and the loopback vault.
 *
 * Buffers are the caller's, read or written during the call only;
 * nothing is allocated or kept, so every function is safe from any
 * thread.  in may be NULL only when its length is 0.  A failed decode
 * wipes what it wrote (the input may be a wrapped or unwrapped key).
 */
#ifndef ATR_CODEC_H
#define ATR_CODEC_H

#include <stddef.h>
#include <stdint.h>

/* Characters of the unpadded encoding of len bytes (no NUL). */
size_t atr_b64url_len(size_t len);

/*
 * Encodes in[len] without padding into out, NUL-terminated; cap must hold
 * atr_b64url_len(len) + 1.  Returns the length written, or -1 (nothing
 * written) when cap is too small.
 */
long atr_b64url_encode(const uint8_t *in, size_t len, char *out, size_t cap);

/* Also accept '+' and '/' of the standard alphabet (RFC 4648 section 4),
 * which some clients send; the service itself sends and takes only the
 * URL alphabet. */
#define ATR_B64_STD_ALPHABET 0x1U

/*
 * Decodes in[in_len] into out[cap]; *out_len gets the byte count.  Up to
 * two '=' of padding are tolerated (then the length must be a multiple
 * of 4).  Returns 0, or -1 on a character outside the alphabet, an
 * impossible length, non-zero unused bits (not the canonical encoding)
 * or a full buffer; then *out_len is 0 and out holds nothing (wiped).
 */
int atr_b64url_decode(const char *in, size_t in_len, unsigned flags,
    uint8_t *out, size_t cap, size_t *out_len);

/* RFC 3986 section 2.3: ALPHA / DIGIT / "-" / "." / "_" / "~" (ASCII,
 * whatever the locale). */
int atr_uri_unreserved(int c);

/* Encode every byte, unreserved ones included. */
#define ATR_PCT_ALL 0x1U

/*
 * Percent-encodes in[len] into out (upper-case hex, RFC 3986 section
 * 2.1): every byte outside "unreserved", or every byte with ATR_PCT_ALL.
 * out is NUL-terminated; cap must hold 3 * len + 1 in the worst case.
 * Returns the length written, or -1 when cap is too small (out is then
 * wiped: the input may be a client secret).
 */
long atr_pct_encode(const uint8_t *in, size_t len, unsigned flags,
    char *out, size_t cap);

#endif
