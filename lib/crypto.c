/* see crypto.h */
#include "crypto.h"

#include <pthread.h>
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
 * (peer-bench.md section 4).
 */
static pthread_once_t fetch_once = PTHREAD_ONCE_INIT;
static EVP_CIPHER *c_gcm256;
static EVP_MAC *m_hmac;
static EVP_MD *d_sha256;

static void
fetch_all(void)
{
	c_gcm256 = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
	m_hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	d_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
}

static int
fetched(void)
{
	pthread_once(&fetch_once, fetch_all);
	return c_gcm256 != NULL && m_hmac != NULL && d_sha256 != NULL;
}

void
atr_memzero(void *p, size_t n)
{
	if (p != NULL && n > 0)
		OPENSSL_cleanse(p, n);
}

int
atr_ct_equal(const void *a, const void *b, size_t n)
{
	return CRYPTO_memcmp(a, b, n) == 0;
}

enum atr_err
atr_random(uint8_t *out, size_t n)
{
	if (n > 0 && !ATR_OSSL(RAND_bytes(out, (int)n)))
		return atr_fail(ATR_ERR_CRYPTO, "random generator failed");
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
	 * and only the tag check decides (s2n, style-anchors.md 8). */
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
atr_gcm_init(struct atr_gcm *g, const uint8_t key[32])
{
	memset(g, 0, sizeof(*g));
	if (!fetched())
		return atr_fail(ATR_ERR_CRYPTO, "AES-256-GCM is not available");
	g->enc = EVP_CIPHER_CTX_new();
	g->dec = EVP_CIPHER_CTX_new();
	if (g->enc == NULL || g->dec == NULL)
		goto fail;
	if (!ATR_OSSL(EVP_EncryptInit_ex2(g->enc, c_gcm256, key, NULL, NULL)) ||
	    !ATR_OSSL(EVP_DecryptInit_ex2(g->dec, c_gcm256, key, NULL, NULL)))
		goto fail;
	return ATR_OK;
fail:
	atr_gcm_clear(g);
	return atr_fail(ATR_ERR_CRYPTO, "cannot set up AES-256-GCM");
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

static const EVP_CIPHER *
kw_cipher(int pad, size_t kek_len)
{
	switch (kek_len) {
	case 16:
		return pad ? EVP_aes_128_wrap_pad() : EVP_aes_128_wrap();
	case 24:
		return pad ? EVP_aes_192_wrap_pad() : EVP_aes_192_wrap();
	case 32:
		return pad ? EVP_aes_256_wrap_pad() : EVP_aes_256_wrap();
	default:
		return NULL;
	}
}

static enum atr_err
kw_run(int enc, int pad, const uint8_t *kek, size_t kek_len,
    const uint8_t *in, size_t in_len, uint8_t *out, size_t *out_len)
{
	const EVP_CIPHER *c = kw_cipher(pad, kek_len);
	EVP_CIPHER_CTX *ctx = NULL;
	enum atr_err err = ATR_ERR_CRYPTO;
	int n = 0, m = 0;

	if (c == NULL)
		return atr_fail(ATR_ERR_UNSUPPORTED, "AES key wrap needs a 128, 192 or 256-bit KEK");
	ctx = EVP_CIPHER_CTX_new();
	if (ctx == NULL)
		return ATR_ERR_NOMEM;
	EVP_CIPHER_CTX_set_flags(ctx, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
	if (!ATR_OSSL(EVP_CipherInit_ex(ctx, c, NULL, kek, NULL, enc)))
		goto out;
	if (EVP_CipherUpdate(ctx, out, &n, in, (int)in_len) != 1 || n <= 0) {
		ERR_clear_error();
		err = enc ? ATR_ERR_CRYPTO : ATR_ERR_AUTH;
		goto out;
	}
	if (EVP_CipherFinal_ex(ctx, out + n, &m) != 1) {
		ERR_clear_error();
		err = enc ? ATR_ERR_CRYPTO : ATR_ERR_AUTH;
		goto out;
	}
	*out_len = (size_t)n + (size_t)m;
	err = ATR_OK;
out:
	if (err != ATR_OK && !enc)
		*out_len = 0;
	EVP_CIPHER_CTX_free(ctx);
	return err;
}

enum atr_err
atr_aes_kw_wrap(int pad, const uint8_t *kek, size_t kek_len,
    const uint8_t *in, size_t in_len, uint8_t *out, size_t *out_len)
{
	/* SP 800-38F 6.2 / RFC 3394: KW wraps at least 16 bytes, a multiple
	 * of 8; RFC 5649 KWP wraps 1 byte or more. */
	if (in_len > 4096 || (pad ? in_len < 1 : (in_len < 16 || in_len % 8)))
		return atr_fail(ATR_ERR_USAGE, "invalid key wrap input length");
	return kw_run(1, pad, kek, kek_len, in, in_len, out, out_len);
}

enum atr_err
atr_aes_kw_unwrap(int pad, const uint8_t *kek, size_t kek_len,
    const uint8_t *in, size_t in_len, uint8_t *out, size_t *out_len)
{
	*out_len = 0;
	/* Checked here because EVP "unwraps" an empty input successfully:
	 * KW needs >= 24 bytes, KWP >= 16, both multiples of 8. */
	if (in_len > 4096 + 16 || in_len % 8 != 0 ||
	    in_len < (pad ? 16U : 24U))
		return ATR_ERR_AUTH;
	return kw_run(0, pad, kek, kek_len, in, in_len, out, out_len);
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
	if (err != ATR_OK)
		return err;
	if (EVP_PKEY_encrypt(ctx, out, out_len, in, in_len) <= 0) {
		ERR_clear_error();
		err = atr_fail(ATR_ERR_CRYPTO, "RSA-OAEP encryption failed");
	}
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
	size_t cap = *out_len;

	*out_len = 0;
	err = oaep_ctx(priv, 0, md, label, label_len, &ctx);
	if (err != ATR_OK)
		return err;
	/* Every decoding failure is the same ATR_ERR_AUTH: telling them
	 * apart is Manger's oracle (RFC 8017 7.1.2 note). */
	if (EVP_PKEY_decrypt(ctx, out, &cap, in, in_len) <= 0) {
		ERR_clear_error();
		atr_memzero(out, *out_len);
		err = ATR_ERR_AUTH;
	} else {
		*out_len = cap;
	}
	EVP_PKEY_CTX_free(ctx);
	return err;
}

enum atr_err
atr_hmac_sha256(const uint8_t *key, size_t key_len, const uint8_t *msg,
    size_t msg_len, uint8_t out[32])
{
	EVP_MAC_CTX *ctx;
	OSSL_PARAM params[2];
	enum atr_err err = ATR_ERR_CRYPTO;
	size_t n = 0;

	if (!fetched())
		return atr_fail(ATR_ERR_CRYPTO, "HMAC-SHA-256 is not available");
	ctx = EVP_MAC_CTX_new(m_hmac);
	if (ctx == NULL)
		return ATR_ERR_NOMEM;
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
	    (char *)"SHA256", 0);
	params[1] = OSSL_PARAM_construct_end();
	if (ATR_OSSL(EVP_MAC_init(ctx, key, key_len, params)) &&
	    ATR_OSSL(EVP_MAC_update(ctx, msg, msg_len)) &&
	    ATR_OSSL(EVP_MAC_final(ctx, out, &n, 32)) && n == 32)
		err = ATR_OK;
	EVP_MAC_CTX_free(ctx);
	return err;
}

enum atr_err
atr_hkdf_sha256(const uint8_t *ikm, size_t ikm_len, const uint8_t *salt,
    size_t salt_len, const uint8_t *info, size_t info_len, uint8_t *out,
    size_t out_len)
{
	/* RFC 5869 2.2-2.3 written out with HMAC: EVP_KDF's per-call
	 * provider setup costs more than the hashing for 32-byte keys. */
	static const uint8_t zeros[32];
	uint8_t prk[32], t[32];
	EVP_MAC_CTX *base = NULL, *ctx = NULL;
	OSSL_PARAM params[2];
	enum atr_err err = ATR_ERR_CRYPTO;
	size_t done = 0, n;
	uint8_t counter = 0;

	if (out_len > 255 * 32)
		return atr_fail(ATR_ERR_USAGE, "HKDF output too long");
	if (salt == NULL || salt_len == 0) {
		salt = zeros;
		salt_len = sizeof(zeros);
	}
	err = atr_hmac_sha256(salt, salt_len, ikm, ikm_len, prk);
	if (err != ATR_OK)
		goto out;
	err = ATR_ERR_CRYPTO;
	base = EVP_MAC_CTX_new(m_hmac);
	if (base == NULL)
		goto out;
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
	    (char *)"SHA256", 0);
	params[1] = OSSL_PARAM_construct_end();
	if (!ATR_OSSL(EVP_MAC_init(base, prk, sizeof(prk), params)))
		goto out;
	while (done < out_len) {
		counter++;
		ctx = EVP_MAC_CTX_dup(base);
		if (ctx == NULL)
			goto out;
		if ((counter > 1 && !ATR_OSSL(EVP_MAC_update(ctx, t, 32))) ||
		    !ATR_OSSL(EVP_MAC_update(ctx, info, info_len)) ||
		    !ATR_OSSL(EVP_MAC_update(ctx, &counter, 1)) ||
		    !ATR_OSSL(EVP_MAC_final(ctx, t, &n, 32)))
			goto out;
		EVP_MAC_CTX_free(ctx);
		ctx = NULL;
		n = out_len - done < 32 ? out_len - done : 32;
		memcpy(out + done, t, n);
		done += n;
	}
	err = ATR_OK;
out:
	EVP_MAC_CTX_free(ctx);
	EVP_MAC_CTX_free(base);
	atr_memzero(prk, sizeof(prk));
	atr_memzero(t, sizeof(t));
	if (err != ATR_OK)
		atr_memzero(out, out_len);
	return err;
}

enum atr_err
atr_sha256(const uint8_t *msg, size_t len, uint8_t out[32])
{
	unsigned int n = 0;

	if (!fetched())
		return ATR_ERR_CRYPTO;
	if (!ATR_OSSL(EVP_Digest(msg, len, out, &n, d_sha256, NULL)) || n != 32)
		return ATR_ERR_CRYPTO;
	return ATR_OK;
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

static int
hexval(char c)
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

	if (in_len % 2 != 0 || in_len / 2 > cap)
		return -1;
	for (i = 0; i < in_len / 2; i++) {
		int hi = hexval(in[2 * i]), lo = hexval(in[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	*out_len = in_len / 2;
	return 0;
}
