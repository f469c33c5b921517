/*
 * kv_fedtoken.c - see kv_fedtoken.h.
 */
#include "kv_fedtoken.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "crypto.h"
#include "fsutil.h"
#include "kv_server_int.h"

/* The key of path, or a new RSA-2048 key made there without ever
 * replacing one that another process wrote first. */
static enum atr_err
issuer_key_create(const char *path, EVP_PKEY **out)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	/* secmem: the PEM is cleared when freed. */
	BIO *b = BIO_new(BIO_s_secmem());
	char tmp[PATH_MAX];
	char *pem = NULL;
	long n;
	enum atr_err err = ATR_ERR_CRYPTO;

	*out = NULL;
	if (k == NULL || b == NULL ||
	    PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL) != 1 ||
	    (n = BIO_get_mem_data(b, &pem)) <= 0)
		goto out;
	if (snprintf(tmp, sizeof(tmp), "%s.new-%ld", path, (long)getpid()) >=
	    (int)sizeof(tmp)) {
		err = atr_fail(ATR_ERR_USAGE, "%s: path too long", path);
		goto out;
	}
	err = atr_write_file(tmp, 0600, pem, (size_t)n);
	if (err != ATR_OK) {
		err = atr_fail(err, "%s: %s", tmp, atr_detail());
		goto out;
	}
	/* link(2) fails with EEXIST rather than replace: the first key
	 * written wins and every process signs with it. */
	if (link(tmp, path) != 0 && errno != EEXIST)
		err = atr_fail(ATR_ERR_IO, "%s: %s", path, strerror(errno));
	unlink(tmp);
out:
	ERR_clear_error();
	BIO_free(b);
	EVP_PKEY_free(k);
	return err;
}

static enum atr_err
issuer_key_load(const char *path, EVP_PKEY **out)
{
	unsigned char *buf = NULL;
	size_t len = 0;
	BIO *b;
	enum atr_err err;

	*out = NULL;
	err = atr_read_small_file(path, 65536, 1, &buf, &len);
	if (err == ATR_ERR_CONFIG) {        /* missing: made here */
		err = issuer_key_create(path, out);
		if (err != ATR_OK)
			return err;
		err = atr_read_small_file(path, 65536, 1, &buf, &len);
	}
	if (err != ATR_OK)
		return atr_fail(err, "%s: %s", path, atr_detail());
	b = BIO_new_mem_buf(buf, (int)len);
	*out = b != NULL ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
	BIO_free(b);
	atr_secure_free(buf, len);
	ERR_clear_error();
	if (*out == NULL || !EVP_PKEY_is_a(*out, "RSA") ||
	    EVP_PKEY_get_bits(*out) < 2048) {
		EVP_PKEY_free(*out);
		*out = NULL;
		return atr_fail(ATR_ERR_KEY, "%s: not a PEM RSA private key of "
		    "2048 bits or more", path);
	}
	return ATR_OK;
}

static char *
bn_b64url(const EVP_PKEY *k, const char *name)
{
	BIGNUM *bn = NULL;
	uint8_t buf[1024];
	int n;
	char *r = NULL;

	if (EVP_PKEY_get_bn_param(k, name, &bn) == 1 &&
	    BN_num_bytes(bn) <= (int)sizeof(buf) &&
	    (n = BN_bn2bin(bn, buf)) > 0)
		r = kvs_b64url(buf, (size_t)n);
	BN_free(bn);
	return r;
}

/* The public JWK of k, with its RFC 7638 thumbprint as kid: SHA-256 of
 * the required members in lexicographic order, no whitespace. */
static enum atr_err
public_jwk(const EVP_PKEY *k, cJSON **jwk, char *kid, size_t cap)
{
	char *n = bn_b64url(k, OSSL_PKEY_PARAM_RSA_N);
	char *e = bn_b64url(k, OSSL_PKEY_PARAM_RSA_E);
	char *canon = NULL, *t = NULL;
	uint8_t h[32];
	size_t len;
	enum atr_err err = ATR_ERR_NOMEM;

	*jwk = NULL;
	if (n == NULL || e == NULL)
		goto out;
	len = strlen(n) + strlen(e) + 32;
	canon = malloc(len);
	if (canon == NULL)
		goto out;
	snprintf(canon, len, "{\"e\":\"%s\",\"kty\":\"RSA\",\"n\":\"%s\"}", e,
	    n);
	err = atr_sha256((const uint8_t *)canon, strlen(canon), h);
	t = err == ATR_OK ? kvs_b64url(h, sizeof(h)) : NULL;
	*jwk = cJSON_CreateObject();
	if (t == NULL || *jwk == NULL || strlen(t) >= cap) {
		err = ATR_ERR_NOMEM;
		goto out;
	}
	snprintf(kid, cap, "%s", t);
	cJSON_AddStringToObject(*jwk, "kty", "RSA");
	cJSON_AddStringToObject(*jwk, "use", "sig");
	cJSON_AddStringToObject(*jwk, "alg", "RS256");
	cJSON_AddStringToObject(*jwk, "kid", kid);
	cJSON_AddStringToObject(*jwk, "n", n);
	cJSON_AddStringToObject(*jwk, "e", e);
	err = ATR_OK;
out:
	if (err != ATR_OK) {
		cJSON_Delete(*jwk);
		*jwk = NULL;
	}
	free(n);
	free(e);
	free(canon);
	free(t);
	return err;
}

/* {"keys":[jwk]} into path (taken: jwk). */
static enum atr_err
jwks_write(const char *path, cJSON *jwk)
{
	cJSON *j = cJSON_CreateObject(), *a;
	char *text;
	enum atr_err err = ATR_ERR_NOMEM;

	a = j != NULL ? cJSON_AddArrayToObject(j, "keys") : NULL;
	if (a == NULL) {
		cJSON_Delete(jwk);
		cJSON_Delete(j);
		return ATR_ERR_NOMEM;
	}
	cJSON_AddItemToArray(a, jwk);
	text = cJSON_Print(j);
	cJSON_Delete(j);
	if (text == NULL)
		return err;
	err = atr_write_file(path, 0644, text, strlen(text));
	free(text);
	if (err != ATR_OK)
		return atr_fail(err, "%s: %s", path, atr_detail());
	return ATR_OK;
}

/* The claims of a Kubernetes service-account token (RFC 7519 4.1). */
static char *
claims_json(const struct atr_fedtoken_opts *o, long lifetime)
{
	cJSON *c = cJSON_CreateObject(), *aud;
	int64_t now = (int64_t)time(NULL);
	char jti[37], *s;

	if (c == NULL)
		return NULL;
	kvs_uuid(jti);
	aud = cJSON_AddArrayToObject(c, "aud");
	cJSON_AddItemToArray(aud, cJSON_CreateString(o->audience != NULL ?
	    o->audience : ATR_FED_AUDIENCE));
	cJSON_AddNumberToObject(c, "exp", (double)(now + lifetime));
	cJSON_AddNumberToObject(c, "iat", (double)now);
	cJSON_AddStringToObject(c, "iss", o->issuer);
	cJSON_AddStringToObject(c, "jti", jti);
	cJSON_AddNumberToObject(c, "nbf", (double)now);
	cJSON_AddStringToObject(c, "sub", o->subject);
	s = cJSON_PrintUnformatted(c);
	cJSON_Delete(c);
	return s;
}

/* "b64(header).b64(claims).b64(RS256 signature)" into *out. */
static enum atr_err
sign_rs256(EVP_PKEY *k, const char *hdr, const char *claims, char **out,
    size_t *olen)
{
	char *h = kvs_b64url((const uint8_t *)hdr, strlen(hdr));
	char *c = kvs_b64url((const uint8_t *)claims, strlen(claims));
	char *sig64 = NULL, *tok = NULL;
	uint8_t sig[1024];
	size_t slen = sizeof(sig), n;
	EVP_MD_CTX *m = EVP_MD_CTX_new();
	enum atr_err err = ATR_ERR_NOMEM;

	if (h == NULL || c == NULL || m == NULL)
		goto out;
	n = strlen(h) + strlen(c) + 1;
	tok = malloc(n + 1 + 2 * sizeof(sig));
	if (tok == NULL)
		goto out;
	snprintf(tok, n + 1, "%s.%s", h, c);
	err = ATR_ERR_CRYPTO;
	if (EVP_DigestSignInit_ex(m, NULL, "SHA256", NULL, NULL, k,
	    NULL) != 1 || EVP_DigestSign(m, sig, &slen, (const uint8_t *)tok,
	    n) != 1)
		goto out;
	err = ATR_ERR_NOMEM;
	sig64 = kvs_b64url(sig, slen);
	if (sig64 == NULL)
		goto out;
	snprintf(tok + n, 1 + 2 * sizeof(sig), ".%s", sig64);
	*olen = strlen(tok);
	*out = tok;
	tok = NULL;
	err = ATR_OK;
out:
	ERR_clear_error();
	EVP_MD_CTX_free(m);
	free(h);
	free(c);
	free(sig64);
	free(tok);
	return err;
}

static enum atr_err
opts_check(const struct atr_fedtoken_opts *o, long *lifetime)
{
	*lifetime = o->lifetime == 0 ? 3600 : o->lifetime;
	if (o->key_path == NULL || *o->key_path == '\0')
		return atr_fail(ATR_ERR_USAGE, "an issuer key file is needed");
	if (o->issuer == NULL || *o->issuer == '\0' || o->subject == NULL ||
	    *o->subject == '\0' ||
	    (o->audience != NULL && *o->audience == '\0'))
		return atr_fail(ATR_ERR_USAGE, "issuer, subject and audience "
		    "must not be empty");
	if (*lifetime < 1 || *lifetime > 86400)
		return atr_fail(ATR_ERR_USAGE, "lifetime must be 1..86400 "
		    "seconds");
	return ATR_OK;
}

enum atr_err
atr_fedtoken_make(const struct atr_fedtoken_opts *o, char **token,
    size_t *len)
{
	EVP_PKEY *k = NULL;
	cJSON *jwk = NULL, *hdr = NULL;
	char kid[64], *hjson = NULL, *cjson = NULL;
	long lifetime;
	enum atr_err err;

	*token = NULL;
	*len = 0;
	err = opts_check(o, &lifetime);
	if (err == ATR_OK)
		err = issuer_key_load(o->key_path, &k);
	if (err == ATR_OK)
		err = public_jwk(k, &jwk, kid, sizeof(kid));
	if (err != ATR_OK)
		goto out;
	err = ATR_ERR_NOMEM;
	hdr = cJSON_CreateObject();
	if (hdr == NULL)
		goto out;
	cJSON_AddStringToObject(hdr, "alg", "RS256");
	cJSON_AddStringToObject(hdr, "kid", kid);
	cJSON_AddStringToObject(hdr, "typ", "JWT");
	hjson = cJSON_PrintUnformatted(hdr);
	cjson = claims_json(o, lifetime);
	if (hjson == NULL || cjson == NULL)
		goto out;
	err = sign_rs256(k, hjson, cjson, token, len);
	if (err == ATR_OK && o->jwks_path != NULL) {
		err = jwks_write(o->jwks_path, jwk);
		jwk = NULL;
	}
	if (err != ATR_OK && *token != NULL) {
		atr_secure_free(*token, *len);
		*token = NULL;
		*len = 0;
	}
out:
	cJSON_Delete(jwk);
	cJSON_Delete(hdr);
	free(hjson);
	free(cjson);
	EVP_PKEY_free(k);
	return err;
}
