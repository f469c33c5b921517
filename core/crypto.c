/* see crypto.h */
#include "crypto.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

/*
 * Algorithms are fetched once per process: in OpenSSL 3 an implicit
 * fetch per call (EVP_aes_256_gcm() inside EVP_CipherInit_ex, an HMAC
 * by name) costs locks and name lookups that dominate small objects
 * (OpenSSL 3 migration guide, "Fetching algorithms"; docs/BENCH.md).
 */
static pthread_once_t fetch_once = PTHREAD_ONCE_INIT;
static EVP_CIPHER *c_gcm256;
static EVP_CIPHER *c_ecb[3]; /* AES-128/192/256-ECB */
static pthread_key_t tls_key;

/*
 * Per-thread scratch state, so the per-object primitives neither
 * allocate nor fetch: one AES-ECB context re-keyed per key wrap (an
 * AES-NI key schedule costs ~0.2 us) and a pool of DRBG output.  The
 * hashes (core/hmac.c) need no context.
 */
#define RAND_POOL_BYTES 1024U
struct tls_ctx {
	EVP_CIPHER_CTX *ecb;
	/* DRBG output drawn ahead, handed out once and wiped as it goes. */
	uint8_t pool[RAND_POOL_BYTES];
	size_t pool_left;
	unsigned long pool_gen;
};

/* Bumped in a forked child: a pool drawn before fork() is never used
 * by both processes (that would repeat DEKs and object ids). */
static volatile unsigned long fork_gen = 1;

static void
on_fork_child(void)
{
	fork_gen++;
}

static void
tls_free(void *p)
{
	struct tls_ctx *t = p;

	if (t == NULL)
		return;
	atr_memzero(t->pool, sizeof(t->pool));
	EVP_CIPHER_CTX_free(t->ecb); /* cleanses the key schedule */
	free(t);
}

static void
fetch_all(void)
{
	c_gcm256 = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
	c_ecb[0] = EVP_CIPHER_fetch(NULL, "AES-128-ECB", NULL);
	c_ecb[1] = EVP_CIPHER_fetch(NULL, "AES-192-ECB", NULL);
	c_ecb[2] = EVP_CIPHER_fetch(NULL, "AES-256-ECB", NULL);
	(void)pthread_key_create(&tls_key, tls_free);
	(void)pthread_atfork(NULL, NULL, on_fork_child);
}

static int
fetched(void)
{
	pthread_once(&fetch_once, fetch_all);
	return c_gcm256 != NULL &&
	    c_ecb[0] != NULL && c_ecb[1] != NULL && c_ecb[2] != NULL;
}

static struct tls_ctx *
tls_get(void)
{
	struct tls_ctx *t;

	if (!fetched())
		return NULL;
	t = pthread_getspecific(tls_key);
	if (t != NULL)
		return t;
	t = calloc(1, sizeof(*t));
	if (t == NULL)
		return NULL;
	t->ecb = EVP_CIPHER_CTX_new();
	if (t->ecb == NULL ||
	    pthread_setspecific(tls_key, t) != 0) {
		tls_free(t);
		return NULL;
	}
	return t;
}

/*
 * explicit_bzero (glibc 2.25, the BSDs) is a memset the compiler may not
 * remove; it runs at memset's speed where OPENSSL_cleanse's x86-64 loop
 * stores 8 bytes at a time, and an object wipes a few KiB of key
 * material and hash states.
 */
void
atr_memzero(void *p, size_t n)
{
	if (p == NULL || n == 0)
		return;
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 25)
	explicit_bzero(p, n);
#else
	OPENSSL_cleanse(p, n);
#endif
}

int
atr_ct_equal(const void *a, const void *b, size_t n)
{
	return CRYPTO_memcmp(a, b, n) == 0;
}

/*
 * RAND_bytes costs ~3 us a call here whatever the length (locks and a
 * getpid() fork check), more than the rest of a small object's
 * encryption; so small requests are served from a per-thread pool of
 * DRBG output, refilled 1 KiB at a time.  Bytes are wiped from the pool
 * as they are handed out, and a fork discards the pool.
 */
enum atr_err
atr_random(uint8_t *out, size_t n)
{
	struct tls_ctx *t;
	uint8_t *src;

	if (n == 0)
		return ATR_OK;
	t = n <= 128 ? tls_get() : NULL;
	if (t == NULL) {
		if (n > INT32_MAX || !ATR_OSSL(RAND_bytes(out, (int)n)))
			return atr_fail(ATR_ERR_CRYPTO, "random generator failed");
		return ATR_OK;
	}
	if (t->pool_gen != fork_gen) {
		atr_memzero(t->pool, sizeof(t->pool));
		t->pool_left = 0;
		t->pool_gen = fork_gen;
	}
	if (t->pool_left < n) {
		if (!ATR_OSSL(RAND_bytes(t->pool, (int)sizeof(t->pool))))
			return atr_fail(ATR_ERR_CRYPTO, "random generator failed");
		t->pool_left = sizeof(t->pool);
	}
	src = t->pool + sizeof(t->pool) - t->pool_left;
	memcpy(out, src, n);
	atr_memzero(src, n);
	t->pool_left -= n;
	return ATR_OK;
}

static const EVP_CIPHER *
gcm_cipher(size_t key_len)
{
	switch (key_len) {
	case 16:
		return EVP_aes_128_gcm();
	case 24:
		return EVP_aes_192_gcm();
	case 32:
		return EVP_aes_256_gcm();
	default:
		return NULL;
	}
}

enum atr_err
atr_gcm_seal(const uint8_t *key, size_t key_len, const uint8_t *iv,
    size_t iv_len, const uint8_t *aad, size_t aad_len, const uint8_t *pt,
    size_t pt_len, uint8_t *ct, uint8_t *tag, size_t tag_len)
{
	const EVP_CIPHER *c = gcm_cipher(key_len);
	EVP_CIPHER_CTX *ctx = NULL;
	enum atr_err err = ATR_ERR_CRYPTO;
	int n;

	if (c == NULL || iv_len == 0 || iv_len > 128 || tag_len < 4 ||
	    tag_len > 16 || pt_len > INT32_MAX || aad_len > INT32_MAX)
		return atr_fail(ATR_ERR_UNSUPPORTED, "unsupported GCM parameters");
	ctx = EVP_CIPHER_CTX_new();
	if (ctx == NULL)
		return ATR_ERR_NOMEM;
	if (!ATR_OSSL(EVP_EncryptInit_ex(ctx, c, NULL, NULL, NULL)) ||
	    !ATR_OSSL(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_IVLEN,
		(int)iv_len, NULL)) ||
	    !ATR_OSSL(EVP_EncryptInit_ex(ctx, NULL, NULL, key, iv)))
		goto out;
	if (aad_len > 0 &&
	    !ATR_OSSL(EVP_EncryptUpdate(ctx, NULL, &n, aad, (int)aad_len)))
		goto out;
	if (pt_len > 0 &&
	    !ATR_OSSL(EVP_EncryptUpdate(ctx, ct, &n, pt, (int)pt_len)))
		goto out;
	if (!ATR_OSSL(EVP_EncryptFinal_ex(ctx, ct + pt_len, &n)) ||
	    !ATR_OSSL(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG,
		(int)tag_len, tag)))
		goto out;
	err = ATR_OK;
out:
	EVP_CIPHER_CTX_free(ctx);
	return err;
}

enum atr_err
atr_gcm_open(const uint8_t *key, size_t key_len, const uint8_t *iv,
    size_t iv_len, const uint8_t *aad, size_t aad_len, const uint8_t *ct,
    size_t ct_len, const uint8_t *tag, size_t tag_len, uint8_t *pt)
{
	const EVP_CIPHER *c = gcm_cipher(key_len);
	EVP_CIPHER_CTX *ctx = NULL;
	enum atr_err err = ATR_ERR_CRYPTO;
	uint8_t tagbuf[16];
	int n, ok;

	if (c == NULL || iv_len == 0 || iv_len > 128 || tag_len < 4 ||
	    tag_len > 16 || ct_len > INT32_MAX || aad_len > INT32_MAX)
		return atr_fail(ATR_ERR_UNSUPPORTED, "unsupported GCM parameters");
	memcpy(tagbuf, tag, tag_len);
	ctx = EVP_CIPHER_CTX_new();
	if (ctx == NULL)
		return ATR_ERR_NOMEM;
	if (!ATR_OSSL(EVP_DecryptInit_ex(ctx, c, NULL, NULL, NULL)) ||
	    !ATR_OSSL(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_IVLEN,
		(int)iv_len, NULL)) ||
	    !ATR_OSSL(EVP_DecryptInit_ex(ctx, NULL, NULL, key, iv)) ||
	    !ATR_OSSL(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG,
		(int)tag_len, tagbuf)))
		goto out;
	if (aad_len > 0 &&
	    !ATR_OSSL(EVP_DecryptUpdate(ctx, NULL, &n, aad, (int)aad_len)))
		goto out;
	/* No early exit between Update and Final: both results are combined
	 * and only the tag check decides, as s2n-tls's GCM decrypt does. */
	ok = 1;
	if (ct_len > 0)
		ok &= EVP_DecryptUpdate(ctx, pt, &n, ct, (int)ct_len) == 1;
	ERR_clear_error();
	ok &= EVP_DecryptFinal_ex(ctx, pt + ct_len, &n) == 1;
	if (!ok) {
		atr_memzero(pt, ct_len);
		err = ATR_ERR_AUTH;
		goto out;
	}
	err = ATR_OK;
out:
	EVP_CIPHER_CTX_free(ctx);
	return err;
}

enum atr_err
atr_gcm_init_for(struct atr_gcm *g, const uint8_t key[32], int which)
{
	memset(g, 0, sizeof(*g));
	if (!fetched())
		return atr_fail(ATR_ERR_CRYPTO, "AES-256-GCM is not available");
	if (which & ATR_GCM_ENC) {
		g->enc = EVP_CIPHER_CTX_new();
		if (g->enc == NULL || !ATR_OSSL(EVP_EncryptInit_ex2(g->enc,
		    c_gcm256, key, NULL, NULL)))
			goto fail;
	}
	if (which & ATR_GCM_DEC) {
		g->dec = EVP_CIPHER_CTX_new();
		if (g->dec == NULL || !ATR_OSSL(EVP_DecryptInit_ex2(g->dec,
		    c_gcm256, key, NULL, NULL)))
			goto fail;
	}
	return ATR_OK;
fail:
	atr_gcm_clear(g);
	return atr_fail(ATR_ERR_CRYPTO, "cannot set up AES-256-GCM");
}

enum atr_err
atr_gcm_init(struct atr_gcm *g, const uint8_t key[32])
{
	return atr_gcm_init_for(g, key, ATR_GCM_ENC | ATR_GCM_DEC);
}

enum atr_err
atr_gcm_copy(struct atr_gcm *dst, const struct atr_gcm *src)
{
	memset(dst, 0, sizeof(*dst));
	if (src->enc != NULL) {
		dst->enc = EVP_CIPHER_CTX_new();
		if (dst->enc == NULL ||
		    !ATR_OSSL(EVP_CIPHER_CTX_copy(dst->enc, src->enc)))
			goto fail;
	}
	if (src->dec != NULL) {
		dst->dec = EVP_CIPHER_CTX_new();
		if (dst->dec == NULL ||
		    !ATR_OSSL(EVP_CIPHER_CTX_copy(dst->dec, src->dec)))
			goto fail;
	}
	return ATR_OK;
fail:
	atr_gcm_clear(dst);
	return atr_fail(ATR_ERR_CRYPTO, "cannot copy an AES-256-GCM context");
}

void
atr_gcm_clear(struct atr_gcm *g)
{
	/* EVP_CIPHER_CTX_free cleanses the key schedule. */
	EVP_CIPHER_CTX_free(g->enc);
	EVP_CIPHER_CTX_free(g->dec);
	g->enc = g->dec = NULL;
}

enum atr_err
atr_gcm_seal_frame(struct atr_gcm *g, const uint8_t nonce[12],
    const uint8_t *aad, size_t aad_len, const uint8_t *pt, size_t len,
    uint8_t *out)
{
	int n;

	if (g->enc == NULL)
		return atr_fail(ATR_ERR_USAGE, "GCM context not set up to seal");
	if (len > INT32_MAX)
		return atr_fail(ATR_ERR_LIMIT, "frame too large");
	if (!ATR_OSSL(EVP_EncryptInit_ex2(g->enc, NULL, NULL, nonce, NULL)))
		return ATR_ERR_CRYPTO;
	if (aad_len > 0 &&
	    !ATR_OSSL(EVP_EncryptUpdate(g->enc, NULL, &n, aad, (int)aad_len)))
		return ATR_ERR_CRYPTO;
	if (len > 0 && !ATR_OSSL(EVP_EncryptUpdate(g->enc, out, &n, pt,
	    (int)len)))
		return ATR_ERR_CRYPTO;
	if (!ATR_OSSL(EVP_EncryptFinal_ex(g->enc, out + len, &n)) ||
	    !ATR_OSSL(EVP_CIPHER_CTX_ctrl(g->enc, EVP_CTRL_AEAD_GET_TAG,
		ATR_GCM_TAGBYTES, out + len)))
		return ATR_ERR_CRYPTO;
	return ATR_OK;
}

enum atr_err
atr_gcm_open_frame(struct atr_gcm *g, const uint8_t nonce[12],
    const uint8_t *aad, size_t aad_len, const uint8_t *in, size_t ct_len,
    uint8_t *pt)
{
	uint8_t tag[ATR_GCM_TAGBYTES];
	int n, ok;

	if (g->dec == NULL)
		return atr_fail(ATR_ERR_USAGE, "GCM context not set up to open");
	if (ct_len > INT32_MAX)
		return atr_fail(ATR_ERR_LIMIT, "frame too large");
	memcpy(tag, in + ct_len, sizeof(tag));
	if (!ATR_OSSL(EVP_DecryptInit_ex2(g->dec, NULL, NULL, nonce, NULL)) ||
	    !ATR_OSSL(EVP_CIPHER_CTX_ctrl(g->dec, EVP_CTRL_AEAD_SET_TAG,
		ATR_GCM_TAGBYTES, tag)))
		return ATR_ERR_CRYPTO;
	if (aad_len > 0 &&
	    !ATR_OSSL(EVP_DecryptUpdate(g->dec, NULL, &n, aad, (int)aad_len)))
		return ATR_ERR_CRYPTO;
	ok = 1;
	if (ct_len > 0)
		ok &= EVP_DecryptUpdate(g->dec, pt, &n, in, (int)ct_len) == 1;
	ok &= EVP_DecryptFinal_ex(g->dec, pt + ct_len, &n) == 1;
	if (!ok) {
		ERR_clear_error();
		atr_memzero(pt, ct_len);
		return ATR_ERR_AUTH;
	}
	return ATR_OK;
}

/*
 * AES key wrap, written out over AES-ECB: RFC 3394 section 2.2 (the
 * index form of W and W^-1) and RFC 5649 section 4 (KWP), which are
 * SP 800-38F's KW and KWP.  OpenSSL 3.0's wrap ciphers run the block
 * function without AES-NI (~8 us to wrap 64 bytes here); the same 54
 * block operations through an AES-NI ECB context take ~1.8 us.  The
 * Wycheproof KW/KWP vectors check this code (tests/unit/test_crypto.c).
 */
#define KW_SEMIBLOCK 8U
static const uint8_t kw_iv[8] = {0xA6, 0xA6, 0xA6, 0xA6, 0xA6, 0xA6, 0xA6,
    0xA6};
static const uint8_t kwp_aiv[4] = {0xA6, 0x59, 0x59, 0xA6};

static enum atr_err
ecb_key(struct tls_ctx *t, const uint8_t *kek, size_t kek_len, int enc)
{
	int i = kek_len == 16 ? 0 : kek_len == 24 ? 1 : kek_len == 32 ? 2 : -1;

	if (i < 0)
		return atr_fail(ATR_ERR_UNSUPPORTED,
		    "AES key wrap needs a 128, 192 or 256-bit KEK");
	if (!ATR_OSSL(EVP_CipherInit_ex2(t->ecb, c_ecb[i], kek, NULL, enc,
	    NULL)) || !ATR_OSSL(EVP_CIPHER_CTX_set_padding(t->ecb, 0)))
		return ATR_ERR_CRYPTO;
	return ATR_OK;
}

/* Re-keys the thread's ECB context with zeros so that no KEK schedule
 * outlives the call (costs one key schedule, ~0.2 us). */
static void
ecb_forget(struct tls_ctx *t, size_t kek_len)
{
	static const uint8_t zeros[32];

	(void)ecb_key(t, zeros, kek_len, 1);
}

static enum atr_err
ecb_block(struct tls_ctx *t, uint8_t b[16])
{
	int n = 0;

	if (!ATR_OSSL(EVP_CipherUpdate(t->ecb, b, &n, b, 16)) || n != 16)
		return ATR_ERR_CRYPTO;
	return ATR_OK;
}

static void
xor_t(uint8_t a[8], uint64_t v)
{
	int k;

	for (k = 7; k >= 0; k--) {
		a[k] ^= (uint8_t)v;
		v >>= 8;
	}
}

/* W (RFC 3394 2.2.1): r holds n >= 2 semiblocks, a the initial value. */
static enum atr_err
kw_w(struct tls_ctx *t, uint8_t a[8], uint8_t *r, size_t n)
{
	uint8_t b[16];
	size_t i, j;
	enum atr_err err = ATR_OK;

	for (j = 0; j <= 5 && err == ATR_OK; j++)
		for (i = 1; i <= n && err == ATR_OK; i++) {
			memcpy(b, a, 8);
			memcpy(b + 8, r + 8 * (i - 1), 8);
			err = ecb_block(t, b);
			memcpy(a, b, 8);
			xor_t(a, (uint64_t)(n * j + i));
			memcpy(r + 8 * (i - 1), b + 8, 8);
		}
	atr_memzero(b, sizeof(b));
	return err;
}

/* W^-1 (RFC 3394 2.2.2). */
static enum atr_err
kw_w_inv(struct tls_ctx *t, uint8_t a[8], uint8_t *r, size_t n)
{
	uint8_t b[16];
	size_t i, j;
	enum atr_err err = ATR_OK;

	for (j = 6; j-- > 0 && err == ATR_OK;)
		for (i = n; i >= 1 && err == ATR_OK; i--) {
			memcpy(b, a, 8);
			xor_t(b, (uint64_t)(n * j + i));
			memcpy(b + 8, r + 8 * (i - 1), 8);
			err = ecb_block(t, b);
			memcpy(a, b, 8);
			memcpy(r + 8 * (i - 1), b + 8, 8);
		}
	atr_memzero(b, sizeof(b));
	return err;
}

enum atr_err
atr_aes_kw_wrap(int pad, const uint8_t *kek, size_t kek_len,
    const uint8_t *in, size_t in_len, uint8_t *out, size_t *out_len)
{
	struct tls_ctx *t;
	uint8_t a[8];
	size_t padded, n;
	enum atr_err err;

	*out_len = 0;
	/* SP 800-38F 6.2 / RFC 3394: KW wraps at least 16 bytes, a multiple
	 * of 8; RFC 5649 KWP wraps 1 byte or more. */
	if (in_len > 4096 || (pad ? in_len < 1 : (in_len < 16 || in_len % 8)))
		return atr_fail(ATR_ERR_USAGE, "invalid key wrap input length");
	t = tls_get();
	if (t == NULL)
		return ATR_ERR_NOMEM;
	err = ecb_key(t, kek, kek_len, 1);
	if (err != ATR_OK)
		return err;
	padded = (in_len + 7) & ~(size_t)7;
	n = padded / 8;
	if (pad) {
		memcpy(a, kwp_aiv, 4);
		a[4] = (uint8_t)(in_len >> 24);
		a[5] = (uint8_t)(in_len >> 16);
		a[6] = (uint8_t)(in_len >> 8);
		a[7] = (uint8_t)in_len;
	} else {
		memcpy(a, kw_iv, 8);
	}
	memmove(out + 8, in, in_len);
	memset(out + 8 + in_len, 0, padded - in_len);
	if (pad && n == 1) {
		/* RFC 5649 4.1 step 2: a single semiblock is one AES block. */
		memcpy(out, a, 8);
		err = ecb_block(t, out);
	} else {
		err = kw_w(t, a, out + 8, n);
		memcpy(out, a, 8);
	}
	ecb_forget(t, kek_len);
	/* out held the key in the clear before the rounds ran over it. */
	if (err != ATR_OK)
		atr_memzero(out, padded + 8);
	*out_len = err == ATR_OK ? padded + 8 : 0;
	return err;
}

enum atr_err
atr_aes_kw_unwrap(int pad, const uint8_t *kek, size_t kek_len,
    const uint8_t *in, size_t in_len, uint8_t *out, size_t *out_len)
{
	struct tls_ctx *t;
	uint8_t a[8], r[4096 + 8];
	size_t n, mli, i;
	unsigned bad;
	enum atr_err err;

	*out_len = 0;
	/* KW needs >= 24 bytes, KWP >= 16, both multiples of 8. */
	if (in_len > 4096 + 16 || in_len % 8 != 0 ||
	    in_len < (pad ? 16U : 24U))
		return ATR_ERR_AUTH;
	t = tls_get();
	if (t == NULL)
		return ATR_ERR_NOMEM;
	err = ecb_key(t, kek, kek_len, 0);
	if (err != ATR_OK)
		return err;
	n = in_len / 8 - 1;
	if (n == 1) {
		uint8_t b[16];

		memcpy(b, in, 16);
		err = ecb_block(t, b);
		memcpy(a, b, 8);
		memcpy(r, b + 8, 8);
		atr_memzero(b, sizeof(b));
	} else {
		memcpy(a, in, 8);
		memcpy(r, in + 8, in_len - 8);
		err = kw_w_inv(t, a, r, n);
	}
	if (err != ATR_OK)
		goto out;
	/* Every check is computed, then combined: the result does not say
	 * which one failed, nor when. */
	if (!pad) {
		bad = (unsigned)!atr_ct_equal(a, kw_iv, 8);
		mli = n * 8;
	} else {
		uint8_t nz = 0;

		mli = (size_t)a[4] << 24 | (size_t)a[5] << 16 |
		    (size_t)a[6] << 8 | a[7];
		bad = (unsigned)!atr_ct_equal(a, kwp_aiv, 4);
		/* RFC 5649 3: 8*(n-1) < MLI <= 8*n, zero padding. */
		bad |= (unsigned)(mli <= 8 * (n - 1) || mli > 8 * n);
		for (i = 0; i < 8 * n; i++)
			nz |= (uint8_t)(r[i] & (uint8_t)-(int)(i >= mli));
		bad |= (unsigned)(nz != 0);
	}
	if (bad) {
		err = ATR_ERR_AUTH;
		goto out;
	}
	memcpy(out, r, mli);
	*out_len = mli;
out:
	ecb_forget(t, kek_len);
	atr_memzero(a, sizeof(a));
	atr_memzero(r, in_len - 8); /* what was written of r */
	if (err != ATR_OK)
		atr_memzero(out, in_len - 8);
	return err;
}

static enum atr_err
oaep_ctx(EVP_PKEY *key, int enc, const EVP_MD *md, const uint8_t *label,
    size_t label_len, EVP_PKEY_CTX **out)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
	uint8_t *lab = NULL;

	if (ctx == NULL)
		return ATR_ERR_NOMEM;
	if (!ATR_OSSL(enc ? EVP_PKEY_encrypt_init(ctx) :
		EVP_PKEY_decrypt_init(ctx)) ||
	    EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_oaep_md(ctx, md) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, md) <= 0)
		goto fail;
	if (label_len > 0) {
		/* set0 takes ownership of the label: hand it a copy. */
		lab = OPENSSL_memdup(label, label_len);
		if (lab == NULL)
			goto fail;
		if (EVP_PKEY_CTX_set0_rsa_oaep_label(ctx, lab,
		    (int)label_len) <= 0) {
			OPENSSL_free(lab);
			goto fail;
		}
	}
	*out = ctx;
	return ATR_OK;
fail:
	EVP_PKEY_CTX_free(ctx);
	return atr_fail(ATR_ERR_CRYPTO, "cannot set up RSA-OAEP");
}

enum atr_err
atr_rsa_oaep_encrypt(EVP_PKEY *pub, const EVP_MD *md, const uint8_t *label,
    size_t label_len, const uint8_t *in, size_t in_len, uint8_t *out,
    size_t *out_len)
{
	EVP_PKEY_CTX *ctx = NULL;
	enum atr_err err;

	err = oaep_ctx(pub, 1, md, label, label_len, &ctx);
	if (err == ATR_OK &&
	    EVP_PKEY_encrypt(ctx, out, out_len, in, in_len) <= 0) {
		ERR_clear_error();
		err = atr_fail(ATR_ERR_CRYPTO, "RSA-OAEP encryption failed");
	}
	if (err != ATR_OK)
		*out_len = 0;
	EVP_PKEY_CTX_free(ctx);
	return err;
}

enum atr_err
atr_rsa_oaep_decrypt(EVP_PKEY *priv, const EVP_MD *md, const uint8_t *label,
    size_t label_len, const uint8_t *in, size_t in_len, uint8_t *out,
    size_t *out_len)
{
	EVP_PKEY_CTX *ctx = NULL;
	enum atr_err err;
	size_t room = *out_len, cap = *out_len;

	*out_len = 0;
	err = oaep_ctx(priv, 0, md, label, label_len, &ctx);
	if (err != ATR_OK)
		return err;
	/* Every decoding failure is the same ATR_ERR_AUTH: telling them
	 * apart is Manger's oracle (RFC 8017 7.1.2 note).  OpenSSL's
	 * constant-time decoder writes into out even when the padding
	 * check fails, so the whole capacity is wiped. */
	if (EVP_PKEY_decrypt(ctx, out, &cap, in, in_len) <= 0) {
		ERR_clear_error();
		atr_memzero(out, room);
		err = ATR_ERR_AUTH;
	} else {
		*out_len = cap;
	}
	EVP_PKEY_CTX_free(ctx);
	return err;
}

void
atr_hex(const uint8_t *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

int
atr_hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
atr_unhex(const char *in, size_t in_len, uint8_t *out, size_t cap,
    size_t *out_len)
{
	size_t i;

	*out_len = 0;
	if (in_len % 2 != 0 || in_len / 2 > cap)
		return -1;
	for (i = 0; i < in_len / 2; i++) {
		int hi = atr_hexval((unsigned char)in[2 * i]);
		int lo = atr_hexval((unsigned char)in[2 * i + 1]);

		if (hi < 0 || lo < 0) {
			/* The input may be a key (a file: AES key). */
			atr_memzero(out, i);
			return -1;
		}
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	*out_len = in_len / 2;
	return 0;
}
