/*
 * kv_assert.c - the client assertion of a certificate credential: a JWT
 * signed with the application's certificate key, sent instead of a
 * client secret (Microsoft identity platform "certificate credentials",
 * RFC 7523 section 2.2).
 *
 *   https://learn.microsoft.com/en-us/entra/identity-platform/certificate-credentials
 *
 * Header: alg PS256 (the default, as the page above shows it) or RS256
 * (ATREST_AZURE_ASSERTION_ALG=RS256, for older tenants and tools), typ
 * JWT, x5t#S256 = base64url SHA-256 of the certificate's DER (RFC 7515
 * 4.1.8), and x5c = the chain, standard base64 DER, leaf first (RFC 7515
 * 4.1.6) when asked (subject name / issuer authentication).  Claims
 * (RFC 7519 4.1): aud = the token endpoint, iss = sub = the client id, a
 * random jti, nbf = iat = now, exp = now + 10 minutes.
 *
 * The certificate file is AZURE_CLIENT_CERTIFICATE_PATH: PEM holding the
 * certificate(s) and an RSA private key in any order, or PKCS#12
 * protected by AZURE_CLIENT_CERTIFICATE_PASSWORD.  It is read for every
 * token request (tokens live an hour or more) and the key is freed at
 * once: no key material stays in the process between requests.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "codec.h"
#include "crypto.h"
#include "fsutil.h"
#include "kv_internal.h"

#define CERT_FILE_MAX (256U * 1024U)
#define ASSERTION_LIFETIME 600
#define CHAIN_MAX 10

struct kv_cert {
	EVP_PKEY *key;
	X509 *leaf;
	STACK_OF(X509) *chain;  /* leaf first; owns its certificates */
};

void
kv_cert_free(struct kv_cert *c)
{
	if (c == NULL)
		return;
	EVP_PKEY_free(c->key);
	X509_free(c->leaf);
	sk_X509_pop_free(c->chain, X509_free);
	free(c);
}

/* A PEM pass phrase callback that gives the password, if any (an
 * encrypted PEM key is read with AZURE_CLIENT_CERTIFICATE_PASSWORD). */
static int
pem_pass(char *buf, int size, int rwflag, void *u)
{
	const char *pw = u;
	size_t n;

	(void)rwflag;
	if (pw == NULL || size <= 0)
		return 0;
	n = strlen(pw);
	if (n >= (size_t)size)
		return 0;
	memcpy(buf, pw, n);
	return (int)n;
}

/* PEM: every certificate, and the one private key, in any order. */
static enum atr_err
load_pem(const unsigned char *buf, size_t len, const char *pw,
    struct kv_cert *c)
{
	BIO *b = BIO_new_mem_buf(buf, (int)len);
	X509 *x;

	if (b == NULL)
		return atr_fail(ATR_ERR_NOMEM, "out of memory");
	c->key = PEM_read_bio_PrivateKey(b, NULL, pem_pass, (void *)pw);
	BIO_free(b);
	b = BIO_new_mem_buf(buf, (int)len);
	if (b == NULL)
		return atr_fail(ATR_ERR_NOMEM, "out of memory");
	while (sk_X509_num(c->chain) < CHAIN_MAX &&
	    (x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL)
		if (sk_X509_push(c->chain, x) <= 0) {
			X509_free(x);
			break;
		}
	BIO_free(b);
	ERR_clear_error();
	if (c->key == NULL)
		return atr_fail(ATR_ERR_CONFIG, "AZURE_CLIENT_CERTIFICATE_PATH: "
		    "no private key in the PEM file (or it is encrypted and "
		    "AZURE_CLIENT_CERTIFICATE_PASSWORD does not open it)");
	return ATR_OK;
}

static enum atr_err
load_p12(const unsigned char *buf, size_t len, const char *pw,
    struct kv_cert *c)
{
	const unsigned char *p = buf;
	PKCS12 *p12 = d2i_PKCS12(NULL, &p, (long)len);
	STACK_OF(X509) *ca = NULL;
	X509 *leaf = NULL;
	enum atr_err err = ATR_OK;

	if (p12 == NULL) {
		ERR_clear_error();
		return atr_fail(ATR_ERR_CONFIG, "AZURE_CLIENT_CERTIFICATE_PATH: "
		    "neither PEM nor PKCS#12");
	}
	if (!PKCS12_verify_mac(p12, pw, -1)) {
		err = atr_fail(ATR_ERR_CONFIG, "AZURE_CLIENT_CERTIFICATE_PATH: "
		    "the PKCS#12 file does not open with %s",
		    pw != NULL ? "AZURE_CLIENT_CERTIFICATE_PASSWORD" :
		    "an empty password (set AZURE_CLIENT_CERTIFICATE_PASSWORD)");
		goto out;
	}
	if (!PKCS12_parse(p12, pw, &c->key, &leaf, &ca) || c->key == NULL ||
	    leaf == NULL) {
		err = atr_fail(ATR_ERR_CONFIG, "AZURE_CLIENT_CERTIFICATE_PATH: "
		    "the PKCS#12 file holds no private key and certificate");
		goto out;
	}
	if (sk_X509_push(c->chain, leaf) <= 0) {
		err = atr_fail(ATR_ERR_NOMEM, "out of memory");
		goto out;
	}
	leaf = NULL;
	while (ca != NULL && sk_X509_num(ca) > 0 &&
	    sk_X509_num(c->chain) < CHAIN_MAX) {
		X509 *x = sk_X509_shift(ca);

		if (sk_X509_push(c->chain, x) <= 0) {
			X509_free(x);
			break;
		}
	}
out:
	ERR_clear_error();
	X509_free(leaf);
	sk_X509_pop_free(ca, X509_free);
	PKCS12_free(p12);
	return err;
}

/* Puts the certificate of the private key first (a PEM bundle may list
 * its CA first). */
static enum atr_err
pick_leaf(struct kv_cert *c)
{
	int i, n = sk_X509_num(c->chain);

	if (n <= 0)
		return atr_fail(ATR_ERR_CONFIG, "AZURE_CLIENT_CERTIFICATE_PATH: "
		    "no certificate in the file");
	if (!EVP_PKEY_is_a(c->key, "RSA"))
		return atr_fail(ATR_ERR_CONFIG, "AZURE_CLIENT_CERTIFICATE_PATH: "
		    "the private key is not RSA (Entra ID signs client "
		    "assertions with RS256 or PS256 only)");
	for (i = 0; i < n; i++) {
		X509 *x = sk_X509_value(c->chain, i);

		if (X509_check_private_key(x, c->key) == 1) {
			(void)sk_X509_delete(c->chain, i);
			if (sk_X509_unshift(c->chain, x) <= 0) {
				X509_free(x);
				return atr_fail(ATR_ERR_NOMEM, "out of memory");
			}
			c->leaf = X509_dup(x);
			ERR_clear_error();
			return c->leaf != NULL ? ATR_OK :
			    atr_fail(ATR_ERR_NOMEM, "out of memory");
		}
	}
	ERR_clear_error();
	return atr_fail(ATR_ERR_CONFIG, "AZURE_CLIENT_CERTIFICATE_PATH: no "
	    "certificate in the file matches its private key");
}

enum atr_err
kv_cert_load(const char *path, const char *password, struct kv_cert **out)
{
	unsigned char *buf = NULL;
	size_t len = 0;
	struct kv_cert *c;
	enum atr_err err;

	*out = NULL;
	if (password != NULL && *password == '\0')
		password = NULL;
	c = calloc(1, sizeof(*c));
	if (c == NULL || (c->chain = sk_X509_new_null()) == NULL) {
		kv_cert_free(c);
		return atr_fail(ATR_ERR_NOMEM, "out of memory");
	}
	err = atr_read_small_file(path, CERT_FILE_MAX, 0, &buf, &len);
	if (err != ATR_OK) {
		err = atr_fail(ATR_ERR_CONFIG,
		    "AZURE_CLIENT_CERTIFICATE_PATH: %s", atr_detail());
		goto out;
	}
	if (strstr((const char *)buf, "-----BEGIN") != NULL)
		err = load_pem(buf, len, password, c);
	else
		err = load_p12(buf, len, password, c);
	if (err == ATR_OK)
		err = pick_leaf(c);
out:
	atr_secure_free(buf, len);
	if (err != ATR_OK)
		kv_cert_free(c);
	else
		*out = c;
	return err;
}

/* base64url of a JSON document, appended to out at *pos. */
static enum atr_err
b64_json(const cJSON *j, char *out, size_t cap, size_t *pos)
{
	char *s = cJSON_PrintUnformatted(j);
	long n;

	if (s == NULL)
		return atr_fail(ATR_ERR_NOMEM, "out of memory");
	n = atr_b64url_encode((const uint8_t *)s, strlen(s), out + *pos,
	    cap - *pos);
	free(s);
	if (n < 0)
		return atr_fail(ATR_ERR_LIMIT, "client assertion too large");
	*pos += (size_t)n;
	return ATR_OK;
}

/* The header: alg, typ, x5t#S256, and x5c with send_chain. */
static cJSON *
make_header_json(const struct kv_cert *c, int pss, int send_chain)
{
	cJSON *h = cJSON_CreateObject(), *x5c;
	unsigned char *der = NULL;
	uint8_t dg[32];
	char t[64];
	int i, n;

	if (h == NULL)
		return NULL;
	n = i2d_X509(c->leaf, &der);
	if (n <= 0 || atr_sha256(der, (size_t)n, dg) != ATR_OK ||
	    atr_b64url_encode(dg, sizeof(dg), t, sizeof(t)) < 0)
		goto fail;
	OPENSSL_free(der);
	der = NULL;
	if (cJSON_AddStringToObject(h, "alg", pss ? "PS256" : "RS256") ==
	    NULL || cJSON_AddStringToObject(h, "typ", "JWT") == NULL ||
	    cJSON_AddStringToObject(h, "x5t#S256", t) == NULL)
		goto fail;
	if (!send_chain)
		return h;
	if ((x5c = cJSON_AddArrayToObject(h, "x5c")) == NULL)
		goto fail;
	for (i = 0; i < sk_X509_num(c->chain); i++) {
		char *b64;
		int bl;

		n = i2d_X509(sk_X509_value(c->chain, i), &der);
		if (n <= 0)
			goto fail;
		bl = 4 * ((n + 2) / 3) + 1;
		b64 = malloc((size_t)bl);
		/* RFC 7515 4.1.6: standard base64, not base64url. */
		if (b64 == NULL || EVP_EncodeBlock((unsigned char *)b64, der,
		    n) <= 0 || !cJSON_AddItemToArray(x5c,
		    cJSON_CreateString(b64))) {
			free(b64);
			goto fail;
		}
		free(b64);
		OPENSSL_free(der);
		der = NULL;
	}
	return h;
fail:
	OPENSSL_free(der);
	cJSON_Delete(h);
	return NULL;
}

static cJSON *
make_claims(const char *cid, const char *aud, time_t now)
{
	cJSON *p = cJSON_CreateObject();
	uint8_t r[16];
	char jti[40];

	if (p == NULL || atr_random(r, sizeof(r)) != ATR_OK) {
		cJSON_Delete(p);
		return NULL;
	}
	/* A version 4 UUID (RFC 9562 5.4) as the jti. */
	r[6] = (uint8_t)((r[6] & 0x0f) | 0x40);
	r[8] = (uint8_t)((r[8] & 0x3f) | 0x80);
	snprintf(jti, sizeof(jti), "%02x%02x%02x%02x-%02x%02x-%02x%02x-"
	    "%02x%02x-%02x%02x%02x%02x%02x%02x", r[0], r[1], r[2], r[3],
	    r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12], r[13],
	    r[14], r[15]);
	if (cJSON_AddStringToObject(p, "aud", aud) == NULL ||
	    cJSON_AddStringToObject(p, "iss", cid) == NULL ||
	    cJSON_AddStringToObject(p, "sub", cid) == NULL ||
	    cJSON_AddStringToObject(p, "jti", jti) == NULL ||
	    cJSON_AddNumberToObject(p, "nbf", (double)now) == NULL ||
	    cJSON_AddNumberToObject(p, "iat", (double)now) == NULL ||
	    cJSON_AddNumberToObject(p, "exp",
	    (double)(now + ASSERTION_LIFETIME)) == NULL) {
		cJSON_Delete(p);
		return NULL;
	}
	return p;
}

/* RS256 is RSASSA-PKCS1-v1_5, PS256 RSASSA-PSS with MGF1 and a salt as
 * long as the hash (RFC 7518 3.3 and 3.5), both over SHA-256. */
static enum atr_err
sign(EVP_PKEY *key, int pss, const char *in, size_t len, uint8_t *sig,
    size_t *sig_len)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pc = NULL;
	enum atr_err err = ATR_OK;

	if (md == NULL ||
	    EVP_DigestSignInit(md, &pc, EVP_sha256(), NULL, key) != 1 ||
	    (pss && (EVP_PKEY_CTX_set_rsa_padding(pc,
	    RSA_PKCS1_PSS_PADDING) != 1 ||
	    EVP_PKEY_CTX_set_rsa_pss_saltlen(pc, RSA_PSS_SALTLEN_DIGEST) !=
	    1)) ||
	    EVP_DigestSign(md, sig, sig_len, (const uint8_t *)in, len) != 1)
		err = atr_fail(ATR_ERR_CRYPTO,
		    "AZURE_CLIENT_CERTIFICATE_PATH: signing the client "
		    "assertion failed");
	ERR_clear_error();
	EVP_MD_CTX_free(md);
	return err;
}

enum atr_err
kv_assertion_build(const struct kv_cert *c, const char *cid, const char *aud,
    int pss, int send_chain, time_t now, char **jwt)
{
	cJSON *h = NULL, *p = NULL;
	uint8_t sig[1024];
	size_t sig_len = sizeof(sig), pos = 0, cap = 32768;
	char *out;
	enum atr_err err;

	*jwt = NULL;
	if (EVP_PKEY_get_size(c->key) > (int)sizeof(sig))
		return atr_fail(ATR_ERR_CONFIG, "AZURE_CLIENT_CERTIFICATE_PATH: "
		    "RSA key larger than 8192 bits");
	out = malloc(cap);
	h = make_header_json(c, pss, send_chain);
	p = make_claims(cid, aud, now);
	if (out == NULL || h == NULL || p == NULL) {
		err = atr_fail(ATR_ERR_NOMEM, "out of memory");
		goto out;
	}
	err = b64_json(h, out, cap, &pos);
	if (err == ATR_OK && pos + 1 < cap) {
		out[pos++] = '.';
		err = b64_json(p, out, cap, &pos);
	}
	if (err == ATR_OK)
		err = sign(c->key, pss, out, pos, sig, &sig_len);
	if (err == ATR_OK && pos + 2 + atr_b64url_len(sig_len) > cap)
		err = atr_fail(ATR_ERR_LIMIT, "client assertion too large");
	if (err != ATR_OK)
		goto out;
	out[pos++] = '.';
	(void)atr_b64url_encode(sig, sig_len, out + pos, cap - pos);
	*jwt = out;
	out = NULL;
out:
	free(out);
	cJSON_Delete(h);
	cJSON_Delete(p);
	return err;
}
