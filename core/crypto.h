/*
 * crypto.h - the primitives atrest is built from, as thin EVP wrappers.
 *
 * Every function returns enum atr_err.  A failed tag, unwrap integrity
 * check or OAEP decoding is ATR_ERR_AUTH; anything OpenSSL reports
 * otherwise is ATR_ERR_CRYPTO.  On ATR_ERR_AUTH output buffers are
 * wiped and their length set to 0: unauthenticated plaintext is never
 * handed back.
 *
 * Ownership: every buffer is the caller's.  Inputs (keys included) are
 * borrowed for the call only and never kept: a key lives on only inside
 * an EVP context this module owns, which is cleansed when freed.  The
 * caller wipes its own copies of keys.  Outputs are written only within
 * the sizes stated below.  Unless a function says otherwise, an output
 * must not overlap an input; where in-place use is allowed it means the
 * very same pointer (EVP_EncryptUpdate(3): other overlaps are undefined).
 * A pointer may be NULL only with a length of 0.
 *
 * Thread-safety: every function may be called from any number of
 * threads at once, except that one struct atr_gcm (and so one
 * EVP_CIPHER_CTX) is used by one thread at a time.  The algorithms are
 * fetched once per process (pthread_once); the key wrap, HMAC, HKDF and
 * small random draws use per-thread contexts and a per-thread pool of
 * DRBG output, which are freed and wiped when the thread exits.  A
 * fork() discards the random pool in the child.
 */
#ifndef ATR_CRYPTO_H
#define ATR_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "err.h"

#define ATR_AES256_KEYBYTES 32U
#define ATR_GCM_TAGBYTES 16U   /* SP 800-38D 5.2.1.2: 128-bit tags only */
#define ATR_GCM_NONCEBYTES 12U /* SP 800-38D 8.2: 96-bit IVs, deterministic */
#define ATR_SHA256_BYTES 32U

/* OPENSSL_cleanse: the one wipe primitive.  NULL-safe (no-op for NULL
 * or n == 0). */
void atr_memzero(void *p, size_t n);

/* Constant-time comparison (CRYPTO_memcmp): 1 when equal.  a and b must
 * both hold n bytes. */
int atr_ct_equal(const void *a, const void *b, size_t n);

/*
 * n bytes from the OpenSSL DRBG into out[n] (n == 0: nothing).  Draws
 * of up to 128 bytes come from the calling thread's pool, whose bytes are
 * wiped as they are handed out.  On failure out holds nothing usable.
 */
enum atr_err atr_random(uint8_t *out, size_t n);

/*
 * One-shot AES-GCM (128/192/256-bit key by key_len), any IV length
 * OpenSSL accepts (1..128 bytes) and tag length 4..16.  Used by the
 * vector tests; the envelope uses struct atr_gcm below.
 * ct must have room for pt_len bytes, tag for tag_len; pt for ct_len
 * bytes.  ct may be pt (in place).  atr_gcm_open wipes pt[ct_len] when
 * the tag does not verify (ATR_ERR_AUTH).  A fresh context is made and
 * freed per call: nothing is kept.
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
 *
 * The struct is the caller's (on the stack or inside another struct);
 * the two EVP contexts it points to are owned by it, hold the key
 * schedule, and are released (cleansed) only by atr_gcm_clear.  A
 * context is used by one thread at a time: it changes with every frame.
 */
struct atr_gcm {
	EVP_CIPHER_CTX *enc;  /* NULL when not set up to seal */
	EVP_CIPHER_CTX *dec;  /* NULL when not set up to open */
};
/*
 * Sets g up for both directions with key[32], which is not kept.  g is
 * overwritten without being released first: it must be zeroed, cleared
 * or never set up.  On failure g holds nothing (as after atr_gcm_clear).
 */
enum atr_err atr_gcm_init(struct atr_gcm *g, const uint8_t key[32]);
/* Sets up only the direction(s) needed: each costs a key schedule. */
#define ATR_GCM_ENC 1
#define ATR_GCM_DEC 2
enum atr_err atr_gcm_init_for(struct atr_gcm *g, const uint8_t key[32],
    int which);
/* Frees and cleanses both contexts and sets them to NULL; safe on a
 * zeroed struct and when called twice.  g itself is not freed. */
void atr_gcm_clear(struct atr_gcm *g);
/*
 * dst gets its own copy of src's keyed contexts (one per worker thread:
 * an EVP_CIPHER_CTX is not safe to share between threads).  As for
 * atr_gcm_init, dst is overwritten and holds nothing on failure; it is
 * released with atr_gcm_clear, independently of src.  src is only read,
 * but no other thread may be sealing or opening with it meanwhile.
 */
enum atr_err atr_gcm_copy(struct atr_gcm *dst, const struct atr_gcm *src);
/* Needs g->enc.  pt[len] in, out gets len + 16 bytes: ciphertext then
 * tag; out may be pt (in place).  aad may be NULL when aad_len is 0. */
enum atr_err atr_gcm_seal_frame(struct atr_gcm *g, const uint8_t nonce[12],
    const uint8_t *aad, size_t aad_len, const uint8_t *pt, size_t len,
    uint8_t *out);
/* Needs g->dec.  in holds ct_len bytes of ciphertext then a 16-byte tag;
 * pt gets ct_len bytes, wiped on ATR_ERR_AUTH; pt may be in (in place). */
enum atr_err atr_gcm_open_frame(struct atr_gcm *g, const uint8_t nonce[12],
    const uint8_t *aad, size_t aad_len, const uint8_t *in, size_t ct_len,
    uint8_t *pt);

/*
 * AES key wrap: RFC 3394 (KW) and RFC 5649 (KWP), i.e. SP 800-38F KW and
 * KWP, with pad 0 (KW) or 1 (KWP).  kek_len 16/24/32.  Lengths are
 * checked here, before EVP, because EVP accepts an empty unwrap input
 * (Wycheproof aes_wrap_test.json, tcId 22/64/119).
 * Wrap: in_len 16..4096 and a multiple of 8 (KW) or 1..4096 (KWP), else
 * ATR_ERR_USAGE; out must hold in_len + 8 (KW) or roundup8(in_len) + 8
 * (KWP) bytes.  On failure *out_len is 0 and, once out was written, it
 * is wiped (it held the key in the clear while being wrapped).
 * Unwrap: out must hold in_len - 8 bytes; on failure *out_len is 0 and,
 * once the input passed the length checks, those in_len - 8 bytes are
 * wiped.  A bad length is ATR_ERR_AUTH, like a failed integrity check.
 * Both use the calling thread's AES-ECB context, re-keyed with zeros
 * before returning so that no KEK schedule outlives the call.
 */
enum atr_err atr_aes_kw_wrap(int pad, const uint8_t *kek, size_t kek_len,
    const uint8_t *in, size_t in_len, uint8_t *out, size_t *out_len);
enum atr_err atr_aes_kw_unwrap(int pad, const uint8_t *kek, size_t kek_len,
    const uint8_t *in, size_t in_len, uint8_t *out, size_t *out_len);

/*
 * RSAES-OAEP (RFC 8017 7.1) with MGF1 using the same hash as the label
 * hash.  md is EVP_sha256() or EVP_sha1().  label may be NULL/0 (it is
 * copied).  *out_len is in: capacity, out: length written; 0 on failure.
 * pub/priv and md are borrowed for the call (the EVP_PKEY_CTX made from
 * the key takes a reference and drops it before returning); one
 * EVP_PKEY may be used by several threads at once.  Every decryption
 * failure past the set-up is ATR_ERR_AUTH, whatever its cause (Manger's
 * oracle, RFC 8017 7.1.2), and wipes the whole capacity of out.
 */
enum atr_err atr_rsa_oaep_encrypt(EVP_PKEY *pub, const EVP_MD *md,
    const uint8_t *label, size_t label_len, const uint8_t *in,
    size_t in_len, uint8_t *out, size_t *out_len);
enum atr_err atr_rsa_oaep_decrypt(EVP_PKEY *priv, const EVP_MD *md,
    const uint8_t *label, size_t label_len, const uint8_t *in,
    size_t in_len, uint8_t *out, size_t *out_len);

/* HKDF-SHA-256 (RFC 5869), extract then expand; out_len <= 255*32.  A
 * NULL or empty salt is 32 zero bytes (RFC 5869 2.2).  The PRK and every
 * block are wiped; out[out_len] is wiped on failure. */
enum atr_err atr_hkdf_sha256(const uint8_t *ikm, size_t ikm_len,
    const uint8_t *salt, size_t salt_len, const uint8_t *info,
    size_t info_len, uint8_t *out, size_t out_len);

/* HMAC-SHA-256 (RFC 2104) of msg under key into out[32]; the padded
 * key and the inner hash are wiped. */
enum atr_err atr_hmac_sha256(const uint8_t *key, size_t key_len,
    const uint8_t *msg, size_t msg_len, uint8_t out[32]);

enum atr_err atr_sha256(const uint8_t *msg, size_t len, uint8_t out[32]);

/* The three functions above hash with OpenSSL's SHA-256 block function
 * directly unless the process runs with FIPS properties by default,
 * when they go through the provider (EVP); core/hmac.c says why.
 * atr_hash_direct() says which path is in use; tests force the
 * provider path with atr_hash_force_provider(1) to check both against
 * the same vectors (not thread-safe: call before hashing starts). */
int atr_hash_direct(void);
void atr_hash_force_provider(int on);

/* Lower-case hex of in[n] into out, which must hold 2*n + 1 bytes (the
 * NUL included). */
void atr_hex(const uint8_t *in, size_t n, char *out);
/* Value of one hex digit (either case), -1 for anything else. */
int atr_hexval(int c);
/*
 * Strict hex decode of in[in_len] (no NUL needed; either case) into
 * out[cap]; *out_len gets in_len / 2.  Returns 0, or -1 on a bad digit,
 * an odd length or too small a cap, and then *out_len is 0 and the bytes
 * already written are wiped (the input may be a key).
 */
int atr_unhex(const char *in, size_t in_len, uint8_t *out, size_t cap,
    size_t *out_len);

#endif
