/*
 * crypto.h - the primitives atrest is built from, as thin EVP wrappers.
 *
 * Every function returns enum atr_err.  A failed tag, unwrap integrity
 * check or OAEP decoding is ATR_ERR_AUTH; anything OpenSSL reports
 * otherwise is ATR_ERR_CRYPTO.  On ATR_ERR_AUTH output buffers are
 * wiped and their length set to 0: unauthenticated plaintext is never
 * handed back.
 */
#ifndef ATR_CRYPTO_H
#define ATR_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "err.h"

#define ATR_AES256_KEYBYTES 32U
#define ATR_GCM_TAGBYTES 16U   /* SP 800-38D 5.2.1.2: we use 128-bit tags only */
#define ATR_GCM_NONCEBYTES 12U /* SP 800-38D 8.2: 96-bit IVs, deterministic */
#define ATR_SHA256_BYTES 32U

/* OPENSSL_cleanse: the one wipe primitive. */
void atr_memzero(void *p, size_t n);

/* Constant-time comparison: 1 when equal. */
int atr_ct_equal(const void *a, const void *b, size_t n);

enum atr_err atr_random(uint8_t *out, size_t n);

/*
 * One-shot AES-GCM (128/192/256-bit key by key_len), any IV length
 * OpenSSL accepts (1..128 bytes) and tag length 4..16.  Used by the
 * vector tests; the envelope uses struct atr_gcm below.
 * ct must have room for pt_len bytes; pt for ct_len bytes.
 */
enum atr_err atr_gcm_seal(const uint8_t *key, size_t key_len,
    const uint8_t *iv, size_t iv_len, const uint8_t *aad, size_t aad_len,
    const uint8_t *pt, size_t pt_len, uint8_t *ct, uint8_t *tag,
    size_t tag_len);
enum atr_err atr_gcm_open(const uint8_t *key, size_t key_len,
    const uint8_t *iv, size_t iv_len, const uint8_t *aad, size_t aad_len,
    const uint8_t *ct, size_t ct_len, const uint8_t *tag, size_t tag_len,
    uint8_t *pt);

/*
 * A reusable AES-256-GCM context with a fixed key and 96-bit nonces: the
 * key schedule and the cipher fetch happen once, not once per frame.
 */
struct atr_gcm {
	EVP_CIPHER_CTX *enc;
	EVP_CIPHER_CTX *dec;
};
enum atr_err atr_gcm_init(struct atr_gcm *g, const uint8_t key[32]);
/* Sets up only the direction(s) needed: each costs a key schedule. */
#define ATR_GCM_ENC 1
#define ATR_GCM_DEC 2
enum atr_err atr_gcm_init_for(struct atr_gcm *g, const uint8_t key[32],
    int which);
void atr_gcm_clear(struct atr_gcm *g);
/* dst gets its own copy of src's keyed contexts (one per worker thread:
 * an EVP_CIPHER_CTX is not safe to share between threads). */
enum atr_err atr_gcm_copy(struct atr_gcm *dst, const struct atr_gcm *src);
/* out must hold len + 16 bytes: ciphertext then tag. */
enum atr_err atr_gcm_seal_frame(struct atr_gcm *g, const uint8_t nonce[12],
    const uint8_t *aad, size_t aad_len, const uint8_t *pt, size_t len,
    uint8_t *out);
/* in holds ct_len bytes of ciphertext then a 16-byte tag; pt gets ct_len. */
enum atr_err atr_gcm_open_frame(struct atr_gcm *g, const uint8_t nonce[12],
    const uint8_t *aad, size_t aad_len, const uint8_t *in, size_t ct_len,
    uint8_t *pt);

/*
 * AES key wrap: RFC 3394 (KW) and RFC 5649 (KWP), i.e. SP 800-38F KW and
 * KWP.  kek_len 16/24/32.  Output length: KW in+8, KWP roundup8(in)+8.
 * Lengths are checked here, before EVP, because EVP accepts an empty
 * unwrap input (Wycheproof aes_wrap_test.json, tcId 22/64/119).  Unwrap: out must hold
 * in_len - 8 bytes; on failure *out_len is 0 and, once the input
 * passed the length checks, those in_len - 8 bytes are wiped.
 */
enum atr_err atr_aes_kw_wrap(int pad, const uint8_t *kek, size_t kek_len,
    const uint8_t *in, size_t in_len, uint8_t *out, size_t *out_len);
enum atr_err atr_aes_kw_unwrap(int pad, const uint8_t *kek, size_t kek_len,
    const uint8_t *in, size_t in_len, uint8_t *out, size_t *out_len);

/*
 * RSAES-OAEP (RFC 8017 7.1) with MGF1 using the same hash as the label
 * hash.  md is EVP_sha256() or EVP_sha1().  label may be NULL/0.
 * *out_len is in: capacity, out: length written.
 */
enum atr_err atr_rsa_oaep_encrypt(EVP_PKEY *pub, const EVP_MD *md,
    const uint8_t *label, size_t label_len, const uint8_t *in,
    size_t in_len, uint8_t *out, size_t *out_len);
enum atr_err atr_rsa_oaep_decrypt(EVP_PKEY *priv, const EVP_MD *md,
    const uint8_t *label, size_t label_len, const uint8_t *in,
    size_t in_len, uint8_t *out, size_t *out_len);

/* HKDF-SHA-256 (RFC 5869), extract then expand; out_len <= 255*32. */
enum atr_err atr_hkdf_sha256(const uint8_t *ikm, size_t ikm_len,
    const uint8_t *salt, size_t salt_len, const uint8_t *info,
    size_t info_len, uint8_t *out, size_t out_len);

enum atr_err atr_hmac_sha256(const uint8_t *key, size_t key_len,
    const uint8_t *msg, size_t msg_len, uint8_t out[32]);

enum atr_err atr_sha256(const uint8_t *msg, size_t len, uint8_t out[32]);

/* Lower-case hex of in into out (2*n+1 bytes incl. NUL). */
void atr_hex(const uint8_t *in, size_t n, char *out);
/* Value of one hex digit (either case), -1 for anything else. */
int atr_hexval(int c);
/* Strict hex decode; returns -1 on a bad digit or odd length. */
int atr_unhex(const char *in, size_t in_len, uint8_t *out, size_t cap,
    size_t *out_len);

#endif
