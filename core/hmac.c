/*
 * SHA-256, HMAC-SHA-256 (RFC 2104) and HKDF-SHA-256 (RFC 5869): the
 * hashing every object pays for once (key derivation, key commitment,
 * header MAC, wrap contexts); see crypto.h for the interface.
 *
 * Two paths compute the same bytes:
 *
 * - the direct path runs OpenSSL's SHA-256 block function through the
 *   SHA256_Init/Update/Final interface (deprecated in OpenSSL 3, still
 *   in every 3.x).  On OpenSSL 3.0 an EVP digest costs about 75 ns of
 *   dispatch per hash, more than the two SHA-NI compressions a short
 *   message needs (~40 ns each here), and an object hashes about 25
 *   times; and a keyed HMAC state is a plain struct, so HKDF-Expand
 *   keys the PRK once for all its blocks instead of once per block.
 *   Measured: HKDF of 96 bytes 1.23 us through EVP, see docs/BENCH.md
 *   ("Per-object cost") for the direct path's figures.
 * - the provider path (EVP_Q_mac, EVP_KDF "HKDF", EVP_Digest) is taken
 *   when the process runs with FIPS properties by default, so that a
 *   FIPS deployment hashes only inside its validated provider.  The
 *   tests run the RFC 4231 / RFC 5869 vectors through both paths.
 */
#define OPENSSL_SUPPRESS_DEPRECATED /* SHA256_Init & co.; see above */
#include "crypto.h"

#include <pthread.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/sha.h>

static pthread_once_t path_once = PTHREAD_ONCE_INIT;
static int direct_ok;      /* the direct path may be used */
static int force_provider; /* tests: atr_hash_force_provider() */

static void
path_init(void)
{
	direct_ok = !EVP_default_properties_is_fips_enabled(NULL);
}

static int
direct(void)
{
	pthread_once(&path_once, path_init);
	return direct_ok && !force_provider;
}

void
atr_hash_force_provider(int on)
{
	force_provider = on != 0;
}

int
atr_hash_direct(void)
{
	return direct();
}

/* ---- direct path ------------------------------------------------------ */

static void
sha256_direct(const uint8_t *msg, size_t len, uint8_t out[32])
{
	SHA256_CTX c;

	/* Not SHA256(): OpenSSL 3 routes that one-shot through a fetch by
	 * name on every call. */
	(void)SHA256_Init(&c);
	(void)SHA256_Update(&c, msg, len);
	(void)SHA256_Final(out, &c);
	atr_memzero(&c, sizeof(c));
}

/* An HMAC key absorbed into the inner and outer hash (RFC 2104 section
 * 2: H(K ^ opad, H(K ^ ipad, text))); copying it is a struct copy. */
struct hmac_key {
	SHA256_CTX in, out;
};

static void
hk_init(struct hmac_key *hk, const uint8_t *key, size_t key_len)
{
	uint8_t k[SHA256_CBLOCK], pad[SHA256_CBLOCK];
	size_t i;

	memset(k, 0, sizeof(k));
	if (key_len > sizeof(k))
		sha256_direct(key, key_len, k); /* RFC 2104: long keys */
	else if (key_len > 0)
		memcpy(k, key, key_len);
	for (i = 0; i < sizeof(pad); i++)
		pad[i] = k[i] ^ 0x36;
	(void)SHA256_Init(&hk->in);
	(void)SHA256_Update(&hk->in, pad, sizeof(pad));
	for (i = 0; i < sizeof(pad); i++)
		pad[i] = k[i] ^ 0x5c;
	(void)SHA256_Init(&hk->out);
	(void)SHA256_Update(&hk->out, pad, sizeof(pad));
	atr_memzero(k, sizeof(k));
	atr_memzero(pad, sizeof(pad));
}

/* HMAC of m1 | m2 | m3 (any may be empty) under a keyed state. */
static void
hk_mac(const struct hmac_key *hk, const uint8_t *m1, size_t l1,
    const uint8_t *m2, size_t l2, const uint8_t *m3, size_t l3,
    uint8_t out[32])
{
	SHA256_CTX c = hk->in;
	uint8_t ih[32];

	if (l1 > 0)
		(void)SHA256_Update(&c, m1, l1);
	if (l2 > 0)
		(void)SHA256_Update(&c, m2, l2);
	if (l3 > 0)
		(void)SHA256_Update(&c, m3, l3);
	(void)SHA256_Final(ih, &c);
	c = hk->out;
	(void)SHA256_Update(&c, ih, sizeof(ih));
	(void)SHA256_Final(out, &c);
	atr_memzero(ih, sizeof(ih));
	atr_memzero(&c, sizeof(c));
}

static void
hk_clear(struct hmac_key *hk)
{
	atr_memzero(hk, sizeof(*hk));
}

/* RFC 5869 2.2-2.3 with the PRK keyed once for every Expand block. */
static void
hkdf_direct(const uint8_t *ikm, size_t ikm_len, const uint8_t *salt,
    size_t salt_len, const uint8_t *info, size_t info_len, uint8_t *out,
    size_t out_len)
{
	struct hmac_key hk;
	uint8_t prk[32], tb[32];
	size_t done = 0, n;
	uint8_t counter = 0;

	hk_init(&hk, salt, salt_len);
	hk_mac(&hk, ikm, ikm_len, NULL, 0, NULL, 0, prk);
	hk_init(&hk, prk, sizeof(prk));
	while (done < out_len) {
		counter++;
		hk_mac(&hk, tb, counter > 1 ? sizeof(tb) : 0, info, info_len,
		    &counter, 1, tb);
		n = out_len - done < sizeof(tb) ? out_len - done : sizeof(tb);
		memcpy(out + done, tb, n);
		done += n;
	}
	hk_clear(&hk);
	atr_memzero(prk, sizeof(prk));
	atr_memzero(tb, sizeof(tb));
}

/* ---- provider path ---------------------------------------------------- */

/* The OSSL_PARAM constructors take non-const pointers; the KDF only
 * reads through them. */
static void *
unconst(const void *p)
{
	union {
		const void *c;
		void *v;
	} u;

	u.c = p;
	return u.v;
}

static enum atr_err
hkdf_provider(const uint8_t *ikm, size_t ikm_len, const uint8_t *salt,
    size_t salt_len, const uint8_t *info, size_t info_len, uint8_t *out,
    size_t out_len)
{
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, OSSL_KDF_NAME_HKDF, NULL);
	EVP_KDF_CTX *ctx = kdf != NULL ? EVP_KDF_CTX_new(kdf) : NULL;
	OSSL_PARAM p[5];
	enum atr_err err = ATR_ERR_CRYPTO;

	if (ctx == NULL)
		goto out;
	p[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
	    unconst("SHA256"), 0);
	p[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY,
	    unconst(ikm), ikm_len);
	p[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT,
	    unconst(salt), salt_len);
	p[3] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO,
	    unconst(info), info_len);
	p[4] = OSSL_PARAM_construct_end();
	if (ATR_OSSL(EVP_KDF_derive(ctx, out, out_len, p)))
		err = ATR_OK;
out:
	EVP_KDF_CTX_free(ctx);
	EVP_KDF_free(kdf);
	if (err != ATR_OK)
		atr_memzero(out, out_len);
	return err;
}

/* ---- interface -------------------------------------------------------- */

enum atr_err
atr_hmac_sha256(const uint8_t *key, size_t key_len, const uint8_t *msg,
    size_t msg_len, uint8_t out[32])
{
	struct hmac_key hk;
	size_t n = 32;

	if (direct()) {
		hk_init(&hk, key, key_len);
		hk_mac(&hk, msg, msg_len, NULL, 0, NULL, 0, out);
		hk_clear(&hk);
		return ATR_OK;
	}
	/* EVP_Q_mac takes a NULL key as "no key": give it a zero byte. */
	if (EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL,
	    key_len > 0 ? key : (const uint8_t *)"", key_len, msg, msg_len,
	    out, 32, &n) == NULL || n != 32)
		return atr_fail(ATR_ERR_CRYPTO, "HMAC-SHA-256 failed");
	return ATR_OK;
}

enum atr_err
atr_hkdf_sha256(const uint8_t *ikm, size_t ikm_len, const uint8_t *salt,
    size_t salt_len, const uint8_t *info, size_t info_len, uint8_t *out,
    size_t out_len)
{
	/* RFC 5869 2.2: an absent salt is HashLen zeros. */
	static const uint8_t zeros[32];

	if (out_len > 255 * 32)
		return atr_fail(ATR_ERR_USAGE, "HKDF output too long");
	if (salt == NULL || salt_len == 0) {
		salt = zeros;
		salt_len = sizeof(zeros);
	}
	if (out_len == 0)
		return ATR_OK;
	if (direct()) {
		hkdf_direct(ikm, ikm_len, salt, salt_len, info, info_len, out,
		    out_len);
		return ATR_OK;
	}
	if (hkdf_provider(ikm, ikm_len, salt, salt_len, info, info_len, out,
	    out_len) != ATR_OK)
		return atr_fail(ATR_ERR_CRYPTO, "HKDF-SHA-256 failed");
	return ATR_OK;
}

enum atr_err
atr_sha256(const uint8_t *msg, size_t len, uint8_t out[32])
{
	unsigned int n = 0;

	if (direct()) {
		sha256_direct(msg, len, out);
		return ATR_OK;
	}
	if (!ATR_OSSL(EVP_Digest(msg, len, out, &n, EVP_sha256(), NULL)) ||
	    n != 32)
		return atr_fail(ATR_ERR_CRYPTO, "SHA-256 failed");
	return ATR_OK;
}
