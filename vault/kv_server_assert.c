/*
 * kv_server_assert.c - the token endpoint's certificate and federated
 * clients: JWT client assertions (RFC 7523 2.2, RFC 7521 4.2) checked
 * as the Microsoft identity platform checks them.
 *
 * A certificate client ("Microsoft identity platform application
 * authentication certificate credentials",
 * https://learn.microsoft.com/en-us/entra/identity-platform/certificate-credentials)
 * signs with the key of a registered certificate: header alg RS256 or
 * PS256 and x5t#S256 (or the older x5t) naming it; claims aud = the
 * token endpoint, iss = sub = the client id, exp and nbf, and a jti no
 * other assertion used.
 * A federated client ("Workload identity federation",
 * https://learn.microsoft.com/en-us/entra/workload-id/workload-identity-federation)
 * presents a token of an external issuer: signed by a key of the
 * issuer's JWKS named by kid, iss = the issuer, sub = the subject of
 * the federated identity credential, aud = api://AzureADTokenExchange.
 *
 * Only the signature algorithms named are accepted, never "none" or an
 * HMAC (RFC 8725 3.1, 3.2).  Times allow 300 s of clock skew either
 * way, the default of Microsoft's token validation library
 * (TokenValidationParameters.DefaultClockSkew,
 * https://learn.microsoft.com/en-us/dotnet/api/microsoft.identitymodel.tokens.tokenvalidationparameters.defaultclockskew).
 */
#include "kv_server_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "crypto.h"
#include "fsutil.h"

#define SKEW 300                    /* seconds, both ways */
#define FED_AUDIENCE "api://AzureADTokenExchange"
#define ASSERT_TYPE "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
/* Used jti values are kept until exp: an assertion valid for longer
 * than this is refused, so that the cache stays bounded. */
#define ASSERT_MAX_LIFETIME 86400

/* ------------------------------------------------------------------ */
/* Registration */

void
kvs_client_free(struct kvs_client *c)
{
	size_t i;

	if (c->secret != NULL)
		atr_secure_free(c->secret, c->secret_len);
	EVP_PKEY_free(c->cert_pub);
	free(c->issuer);
	free(c->subject);
	for (i = 0; i < c->nkeys; i++)
		EVP_PKEY_free(c->keys[i].pub);
	free(c->keys);
	memset(c, 0, sizeof(*c));
}

/* An RSA key of at least 2048 bits, as Entra ID requires of
 * certificate credentials. */
static int
rsa_ok(EVP_PKEY *k)
{
	return k != NULL && EVP_PKEY_is_a(k, "RSA") &&
	    EVP_PKEY_get_bits(k) >= 2048;
}

/* The first certificate of the PEM file path into c. */
static enum atr_err
cert_load(struct kvs_client *c, const char *path)
{
	unsigned char *buf = NULL, *der = NULL;
	size_t len = 0;
	unsigned dlen = 0;
	BIO *b = NULL;
	X509 *x = NULL;
	int n;
	enum atr_err err;

	err = atr_read_small_file(path, 1U << 20, 0, &buf, &len);
	if (err != ATR_OK)
		return atr_fail(err, "--client-cert %s: %s", path,
		    atr_detail());
	err = ATR_ERR_CONFIG;
	b = BIO_new_mem_buf(buf, (int)len);
	x = b != NULL ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
	if (x == NULL) {
		err = atr_fail(err, "--client-cert %s: no PEM certificate",
		    path);
		goto out;
	}
	c->cert_pub = X509_get_pubkey(x);
	if (!rsa_ok(c->cert_pub)) {
		err = atr_fail(err, "--client-cert %s: the certificate's key "
		    "is not RSA of 2048 bits or more", path);
		goto out;
	}
	n = i2d_X509(x, &der);
	if (n <= 0 ||
	    atr_sha256(der, (size_t)n, c->x5t_s256) != ATR_OK ||
	    EVP_Digest(der, (size_t)n, c->x5t_sha1, &dlen, EVP_sha1(),
	    NULL) != 1 || dlen != sizeof(c->x5t_sha1)) {
		err = atr_fail(ATR_ERR_CRYPTO, "--client-cert %s: cannot "
		    "hash the certificate", path);
		goto out;
	}
	err = ATR_OK;
out:
	ERR_clear_error();
	OPENSSL_free(der);
	X509_free(x);
	BIO_free(b);
	free(buf);
	return err;
}

enum atr_err
kvs_cert_client_add(struct atr_kv_server *s, const char *spec)
{
	const char *colon = strchr(spec, ':');
	struct kvs_client *c;
	char id[128];
	enum atr_err err;

	if (colon == NULL || colon == spec || colon[1] == '\0' ||
	    (size_t)(colon - spec) >= sizeof(id))
		return atr_fail(ATR_ERR_USAGE, "--client-cert takes "
		    "ID:CERT.pem, not '%.80s'", spec);
	snprintf(id, sizeof(id), "%.*s", (int)(colon - spec), spec);
	err = kvs_client_new(s, id, &c);
	if (err != ATR_OK)
		return err;
	c->kind = KVS_CLIENT_CERT;
	return cert_load(c, colon + 1);
}

/* An RSA public key from a JWK's n and e (RFC 7518 6.3.1). */
static EVP_PKEY *
rsa_pub_from_jwk(const char *n_b64, const char *e_b64)
{
	uint8_t *n = NULL, *e = NULL;
	size_t nlen = 0, elen = 0;
	BIGNUM *bn = NULL, *be = NULL;
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *pkey = NULL;

	if (bld == NULL || kvs_unb64url(n_b64, &n, &nlen) != 0 ||
	    kvs_unb64url(e_b64, &e, &elen) != 0)
		goto out;
	bn = BN_bin2bn(n, (int)nlen, NULL);
	be = BN_bin2bn(e, (int)elen, NULL);
	if (bn == NULL || be == NULL ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be))
		goto out;
	params = OSSL_PARAM_BLD_to_param(bld);
	ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	if (params == NULL || ctx == NULL ||
	    EVP_PKEY_fromdata_init(ctx) <= 0 ||
	    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0)
		goto out;
	if (!rsa_ok(pkey)) {
		EVP_PKEY_free(pkey);
		pkey = NULL;
	}
out:
	ERR_clear_error();
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_free(bn);
	BN_free(be);
	free(n);
	free(e);
	return pkey;
}

/* The RSA keys with a kid of the JWKS j (RFC 7517 5) into c. */
static enum atr_err
jwks_parse(struct kvs_client *c, const cJSON *j, const char *path)
{
	const cJSON *keys = cJSON_GetObjectItemCaseSensitive(j, "keys"), *k;
	size_t n = (size_t)cJSON_GetArraySize(keys);

	if (!cJSON_IsArray(keys) || n == 0 || n > 64)
		return atr_fail(ATR_ERR_CONFIG, "--federated %s: not a JWKS "
		    "(an object with 1 to 64 \"keys\")", path);
	c->keys = calloc(n, sizeof(*c->keys));
	if (c->keys == NULL)
		return ATR_ERR_NOMEM;
	cJSON_ArrayForEach(k, keys) {
		const cJSON *kty = cJSON_GetObjectItemCaseSensitive(k, "kty");
		const cJSON *kid = cJSON_GetObjectItemCaseSensitive(k, "kid");
		const cJSON *kn = cJSON_GetObjectItemCaseSensitive(k, "n");
		const cJSON *ke = cJSON_GetObjectItemCaseSensitive(k, "e");
		struct kvs_fed_key *fk = &c->keys[c->nkeys];

		if (!cJSON_IsString(kty) ||
		    strcmp(kty->valuestring, "RSA") != 0 ||
		    !cJSON_IsString(kid) || !cJSON_IsString(kn) ||
		    !cJSON_IsString(ke) ||
		    strlen(kid->valuestring) >= sizeof(fk->kid))
			continue;
		fk->pub = rsa_pub_from_jwk(kn->valuestring, ke->valuestring);
		if (fk->pub == NULL)
			return atr_fail(ATR_ERR_CONFIG, "--federated %s: key "
			    "'%.60s' is not an RSA key of 2048 bits or more",
			    path, kid->valuestring);
		snprintf(fk->kid, sizeof(fk->kid), "%s", kid->valuestring);
		c->nkeys++;
	}
	if (c->nkeys == 0)
		return atr_fail(ATR_ERR_CONFIG, "--federated %s: no RSA key "
		    "with a kid", path);
	return ATR_OK;
}

enum atr_err
kvs_fed_client_add(struct atr_kv_server *s, const char *spec,
    const char *subject)
{
	const char *c1 = strchr(spec, ':'), *c2 = strrchr(spec, ':');
	struct kvs_client *c;
	unsigned char *buf = NULL;
	size_t len = 0;
	char id[128];
	cJSON *j;
	enum atr_err err;

	if (c1 == NULL || c1 == spec || c2 == c1 || c2 == c1 + 1 ||
	    c2[1] == '\0' || (size_t)(c1 - spec) >= sizeof(id))
		return atr_fail(ATR_ERR_USAGE, "--federated takes "
		    "ID:ISSUER:JWKS.json, not '%.80s'", spec);
	snprintf(id, sizeof(id), "%.*s", (int)(c1 - spec), spec);
	err = kvs_client_new(s, id, &c);
	if (err != ATR_OK)
		return err;
	c->kind = KVS_CLIENT_FED;
	c->issuer = strndup(c1 + 1, (size_t)(c2 - c1 - 1));
	c->subject = strdup(subject);
	if (c->issuer == NULL || c->subject == NULL)
		return ATR_ERR_NOMEM;
	err = atr_read_small_file(c2 + 1, 1U << 20, 0, &buf, &len);
	if (err != ATR_OK)
		return atr_fail(err, "--federated %s: %s", c2 + 1,
		    atr_detail());
	j = cJSON_ParseWithLength((const char *)buf, len);
	free(buf);
	err = jwks_parse(c, j, c2 + 1);
	cJSON_Delete(j);
	return err;
}

const char *
atr_kv_server_assert_client(const struct atr_kv_server *s, size_t i,
    int *federated)
{
	size_t k;

	for (k = 0; k < s->nclients; k++) {
		if (s->clients[k].kind == KVS_CLIENT_SECRET)
			continue;
		if (i-- == 0) {
			*federated = s->clients[k].kind == KVS_CLIENT_FED;
			return s->clients[k].id;
		}
	}
	return NULL;
}

/* ------------------------------------------------------------------ */
/* Assertions */

/* A JWS in compact serialisation (RFC 7515 7.1), decoded. */
struct jwt {
	cJSON *hdr, *claims;
	size_t signed_len;          /* header.payload */
	uint8_t *sig;
	size_t sig_len;
};

static void
jwt_free(struct jwt *t)
{
	cJSON_Delete(t->hdr);
	cJSON_Delete(t->claims);
	free(t->sig);
	memset(t, 0, sizeof(*t));
}

/* One base64url part of tok, [from, to), as JSON (or NULL). */
static cJSON *
part_json(const char *from, const char *to)
{
	char *p = strndup(from, (size_t)(to - from));
	uint8_t *raw = NULL;
	size_t len = 0;
	cJSON *j = NULL;

	if (p != NULL && kvs_unb64url(p, &raw, &len) == 0)
		j = cJSON_ParseWithLength((const char *)raw, len);
	free(p);
	free(raw);
	if (j != NULL && !cJSON_IsObject(j)) {
		cJSON_Delete(j);
		j = NULL;
	}
	return j;
}

static int
jwt_parse(const char *tok, struct jwt *t)
{
	const char *d1 = strchr(tok, '.'), *d2;

	memset(t, 0, sizeof(*t));
	d2 = d1 != NULL ? strchr(d1 + 1, '.') : NULL;
	if (d2 == NULL || strchr(d2 + 1, '.') != NULL)
		return -1;
	t->hdr = part_json(tok, d1);
	t->claims = part_json(d1 + 1, d2);
	t->signed_len = (size_t)(d2 - tok);
	/* An empty signature ("alg":"none") decodes to nothing. */
	if (t->hdr == NULL || t->claims == NULL ||
	    (d2[1] != '\0' &&
	    kvs_unb64url(d2 + 1, &t->sig, &t->sig_len) != 0)) {
		jwt_free(t);
		return -1;
	}
	return 0;
}

static const char *
jstr(const cJSON *j, const char *name)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(j, name);

	return cJSON_IsString(it) ? it->valuestring : NULL;
}

/* RS256 (RSASSA-PKCS1-v1_5) or PS256 (RSASSA-PSS, MGF1 and salt of
 * SHA-256's length, RFC 7518 3.3, 3.5) over msg[len]. */
static int
sig_ok(EVP_PKEY *pub, int pss, const char *msg, size_t len,
    const uint8_t *sig, size_t sig_len)
{
	EVP_MD_CTX *m = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pc = NULL;
	int ok;

	ok = m != NULL && sig != NULL &&
	    EVP_DigestVerifyInit_ex(m, &pc, "SHA256", NULL, NULL, pub,
	    NULL) == 1 &&
	    (!pss ||
	    (EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PSS_PADDING) == 1 &&
	    EVP_PKEY_CTX_set_rsa_pss_saltlen(pc, RSA_PSS_SALTLEN_DIGEST) == 1 &&
	    EVP_PKEY_CTX_set_rsa_mgf1_md(pc, EVP_sha256()) == 1)) &&
	    EVP_DigestVerify(m, sig, sig_len, (const unsigned char *)msg,
	    len) == 1;
	ERR_clear_error();
	EVP_MD_CTX_free(m);
	return ok;
}

static int
fail(struct kvs_assert_fail *f, int status, const char *error, long code,
    const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 5, 6)))
#endif
    ;

static int
fail(struct kvs_assert_fail *f, int status, const char *error, long code,
    const char *fmt, ...)
{
	va_list ap;

	f->status = status;
	f->error = error;
	f->code = code;
	va_start(ap, fmt);
	vsnprintf(f->desc, sizeof(f->desc), fmt, ap);
	va_end(ap);
	return -1;
}

/* 1 when the header's base64url thumbprint b64 names digest d[n]. */
static int
thumb_is(const char *b64, const uint8_t *d, size_t n)
{
	uint8_t *raw = NULL;
	size_t len = 0;
	int ok;

	if (b64 == NULL || kvs_unb64url(b64, &raw, &len) != 0)
		return 0;
	ok = len == n && memcmp(raw, d, n) == 0;
	free(raw);
	return ok;
}

/* exp and nbf against the server's clock, with SKEW; also a bound on
 * exp (the replay cache keeps a jti until then). */
static int
times_check(struct atr_kv_server *s, const struct jwt *t, int64_t *exp,
    struct kvs_assert_fail *f)
{
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(t->claims, "exp");
	const cJSON *nb = cJSON_GetObjectItemCaseSensitive(t->claims, "nbf");
	int64_t now = kvs_now(s);
	char ts_now[40], ts_nbf[40], ts_exp[40];

	if (!cJSON_IsNumber(e))
		return fail(f, 401, "invalid_client", 700024, "Client "
		    "assertion has no 'exp' claim.");
	kvs_timestamp(now, ts_now, sizeof(ts_now));
	kvs_timestamp(cJSON_IsNumber(nb) && nb->valuedouble > 0 &&
	    nb->valuedouble < 1e11 ? (int64_t)nb->valuedouble : 0,
	    ts_nbf, sizeof(ts_nbf));
	kvs_timestamp(e->valuedouble > 0 && e->valuedouble < 1e11 ?
	    (int64_t)e->valuedouble : 0, ts_exp, sizeof(ts_exp));
	/* Doubles: an exp of 1e300 must not reach an integer conversion. */
	if (!(e->valuedouble > (double)(now - SKEW)) ||
	    (cJSON_IsNumber(nb) && !(nb->valuedouble <= (double)(now + SKEW))))
		return fail(f, 401, "invalid_client", 700024, "Client "
		    "assertion is not within its valid time range. Current "
		    "time: %s, assertion valid from %s, expiry time of "
		    "assertion %s.", ts_now, ts_nbf, ts_exp);
	if (!(e->valuedouble <= (double)(now + ASSERT_MAX_LIFETIME)))
		return fail(f, 401, "invalid_client", 700024, "Client "
		    "assertion is not within its valid time range: its "
		    "expiry time %s is more than %d seconds ahead.", ts_exp,
		    ASSERT_MAX_LIFETIME);
	*exp = (int64_t)e->valuedouble;
	return 0;
}

/* 1 when aud (a string or an array of them, RFC 7519 4.1.3) holds
 * want. */
static int
aud_has(const cJSON *claims, const char *want)
{
	const cJSON *a = cJSON_GetObjectItemCaseSensitive(claims, "aud"), *it;

	if (cJSON_IsString(a))
		return strcmp(a->valuestring, want) == 0;
	if (!cJSON_IsArray(a))
		return 0;
	cJSON_ArrayForEach(it, a)
		if (cJSON_IsString(it) && strcmp(it->valuestring, want) == 0)
			return 1;
	return 0;
}

/*
 * Spends jti of client id until exp: -1 when another assertion spent
 * it before (RFC 7523 3, item 7) or the cache is full of live entries.
 *
 * The same assertion (byte for byte) presented again is accepted until
 * its exp.  Microsoft's own libraries do that: msal-node signs one
 * assertion per certificate and sends it with every token request
 * until it is within its 10 minutes (ClientAssertion.getJwt,
 * https://github.com/AzureAD/microsoft-authentication-library-for-js/blob/dev/lib/msal-node/src/client/ClientAssertion.ts),
 * so @azure/identity's ClientCertificateCredential asking for a second
 * scope sends the jti it sent for the first, and Entra ID answers it;
 * RFC 7523 3 item 7 makes the replay check a MAY.  A different
 * assertion that reuses a jti is still refused.
 */
static int
jti_spend(struct atr_kv_server *s, const char *id, const char *jti,
    const char *jwt, int64_t exp, struct kvs_assert_fail *f)
{
	uint8_t h[32], a[32];
	int64_t now = kvs_now(s);
	size_t i, k;
	int rc = 0, again = 0;
	EVP_MD_CTX *m = EVP_MD_CTX_new();

	if (m == NULL || EVP_DigestInit_ex(m, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(m, id, strlen(id) + 1) != 1 ||
	    EVP_DigestUpdate(m, jti, strlen(jti)) != 1 ||
	    EVP_DigestFinal_ex(m, h, NULL) != 1 ||
	    EVP_DigestInit_ex(m, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(m, jwt, strlen(jwt)) != 1 ||
	    EVP_DigestFinal_ex(m, a, NULL) != 1) {
		EVP_MD_CTX_free(m);
		return fail(f, 500, "server_error", 50000, "Cannot record "
		    "the assertion.");
	}
	EVP_MD_CTX_free(m);
	pthread_mutex_lock(&s->mu);
	if (s->jti == NULL)
		s->jti = calloc(KVS_JTI_MAX, sizeof(*s->jti));
	for (i = k = 0; s->jti != NULL && i < s->njti; i++) {
		if (s->jti[i].exp + SKEW < now)
			continue;           /* expired: dropped */
		if (memcmp(s->jti[i].h, h, sizeof(h)) == 0) {
			if (memcmp(s->jti[i].a, a, sizeof(a)) == 0)
				again = 1;
			else
				rc = 1;
		}
		s->jti[k++] = s->jti[i];
	}
	s->njti = k;
	/* again: already recorded, until its exp. */
	if (rc == 0 && !again && s->jti != NULL && s->njti < KVS_JTI_MAX) {
		memcpy(s->jti[s->njti].h, h, sizeof(h));
		memcpy(s->jti[s->njti].a, a, sizeof(a));
		s->jti[s->njti++].exp = exp;
	} else if (rc == 0 && !again) {
		rc = 2;
	}
	pthread_mutex_unlock(&s->mu);
	if (rc == 1)
		/* Entra's public error list names no code of its own for a
		 * replay; AADSTS50013 is its "InvalidAssertion". */
		return fail(f, 401, "invalid_client", 50013, "Assertion is "
		    "invalid: its jti '%.64s' was already used by another "
		    "assertion (RFC 7523 section 3).", jti);
	if (rc == 2)
		return fail(f, 503, "temporarily_unavailable", 90033, "Too "
		    "many unexpired client assertions; retry later.");
	return 0;
}

/* The certificate client's checks after the signature: iss, sub, aud,
 * times, jti. */
static int
cert_claims(struct atr_kv_server *s, const struct kvs_client *c,
    const struct jwt *t, const char *jwt, const char *endpoint,
    struct kvs_assert_fail *f)
{
	const char *iss = jstr(t->claims, "iss"), *sub = jstr(t->claims, "sub");
	const char *jti = jstr(t->claims, "jti");
	int64_t exp = 0;

	if (iss == NULL || sub == NULL || strcmp(iss, c->id) != 0 ||
	    strcmp(sub, c->id) != 0)
		return fail(f, 401, "invalid_client", 700021, "Client "
		    "assertion application identifier doesn't match "
		    "'client_id' parameter. Review the documentation at "
		    "https://learn.microsoft.com/entra/identity-platform/"
		    "certificate-credentials .");
	if (!aud_has(t->claims, endpoint))
		return fail(f, 401, "invalid_client", 50013, "Assertion "
		    "audience does not match the token endpoint: expected "
		    "'%.300s'.", endpoint);
	if (times_check(s, t, &exp, f) != 0)
		return -1;
	if (jti == NULL || *jti == '\0' || strlen(jti) > 256)
		return fail(f, 401, "invalid_client", 50013, "Assertion is "
		    "invalid: it has no 'jti' claim of 1 to 256 characters.");
	return jti_spend(s, c->id, jti, jwt, exp, f);
}

static int
cert_verify(struct atr_kv_server *s, const struct kvs_client *c,
    const struct jwt *t, const char *jwt, const char *endpoint,
    struct kvs_assert_fail *f)
{
	const char *alg = jstr(t->hdr, "alg");
	const char *s256 = jstr(t->hdr, "x5t#S256"), *x5t = jstr(t->hdr, "x5t");
	int pss;

	if (alg == NULL || (strcmp(alg, "RS256") != 0 &&
	    strcmp(alg, "PS256") != 0))
		return fail(f, 401, "invalid_client", 700027, "Client "
		    "assertion contains an invalid signature. [Reason - The "
		    "signing algorithm '%.20s' is not accepted: RS256 or "
		    "PS256.]", alg != NULL ? alg : "");
	pss = strcmp(alg, "PS256") == 0;
	if (s256 != NULL ? !thumb_is(s256, c->x5t_s256, sizeof(c->x5t_s256)) :
	    !thumb_is(x5t, c->x5t_sha1, sizeof(c->x5t_sha1)))
		return fail(f, 401, "invalid_client", 700027, "Client "
		    "assertion contains an invalid signature. [Reason - The "
		    "key was not found., Thumbprint of key used by client: "
		    "'%.64s', configured keys for app Id '%s' do not include "
		    "it.]", s256 != NULL ? s256 : x5t != NULL ? x5t : "",
		    c->id);
	if (!sig_ok(c->cert_pub, pss, jwt, t->signed_len, t->sig, t->sig_len))
		return fail(f, 401, "invalid_client", 700027, "Client "
		    "assertion contains an invalid signature. [Reason - The "
		    "provided signature value did not match the expected "
		    "signature value., Thumbprint of key used by client: "
		    "'%.64s']", s256 != NULL ? s256 : x5t);
	return cert_claims(s, c, t, jwt, endpoint, f);
}

static int
fed_verify(struct atr_kv_server *s, const struct kvs_client *c,
    const struct jwt *t, const char *jwt, struct kvs_assert_fail *f)
{
	const char *alg = jstr(t->hdr, "alg"), *kid = jstr(t->hdr, "kid");
	const char *iss = jstr(t->claims, "iss"), *sub = jstr(t->claims, "sub");
	const struct kvs_fed_key *k = NULL;
	int64_t exp = 0;
	size_t i;

	for (i = 0; kid != NULL && i < c->nkeys; i++)
		if (strcmp(c->keys[i].kid, kid) == 0)
			k = &c->keys[i];
	if (alg == NULL || strcmp(alg, "RS256") != 0 || k == NULL ||
	    !sig_ok(k->pub, 0, jwt, t->signed_len, t->sig, t->sig_len))
		return fail(f, 401, "invalid_client", 700027, "Client "
		    "assertion failed signature validation. [Reason - %s, "
		    "kid '%.80s', alg '%.20s', issuer of the federated "
		    "identity credential '%.200s'.]", k == NULL ? "The key "
		    "was not found in the issuer's JWKS" : "The provided "
		    "signature value did not match the expected signature "
		    "value", kid != NULL ? kid : "", alg != NULL ? alg : "",
		    c->issuer);
	if (iss == NULL || sub == NULL || strcmp(iss, c->issuer) != 0 ||
	    strcmp(sub, c->subject) != 0 || !aud_has(t->claims, FED_AUDIENCE))
		return fail(f, 400, "invalid_request", 70021, "No matching "
		    "federated identity record found for presented assertion. "
		    "Assertion Issuer: '%.200s'. Assertion Subject: '%.200s'. "
		    "Assertion Audience: '%.100s'.", iss != NULL ? iss : "",
		    sub != NULL ? sub : "", jstr(t->claims, "aud") != NULL ?
		    jstr(t->claims, "aud") : "");
	return times_check(s, t, &exp, f);
}

int
kvs_assert_verify(struct atr_kv_server *s, const struct kvs_client *c,
    const char *jwt, const char *endpoint, struct kvs_assert_fail *f)
{
	struct jwt t;
	int rc;

	memset(f, 0, sizeof(*f));
	if (jwt_parse(jwt, &t) != 0)
		return fail(f, 400, "invalid_request", 50027, "JWT token is "
		    "invalid or malformed: the client assertion is not a JWS "
		    "in compact serialisation.");
	if (c->kind == KVS_CLIENT_CERT)
		rc = cert_verify(s, c, &t, jwt, endpoint, f);
	else
		rc = fed_verify(s, c, &t, jwt, f);
	jwt_free(&t);
	return rc;
}

int
kvs_assert_subject(const char *jwt, char *out, size_t cap)
{
	struct jwt t;
	const char *sub;
	int rc = -1;

	if (jwt_parse(jwt, &t) != 0)
		return -1;
	sub = jstr(t.claims, "sub");
	if (sub != NULL && strlen(sub) < cap) {
		snprintf(out, cap, "%s", sub);
		rc = 0;
	}
	jwt_free(&t);
	return rc;
}

const char *
kvs_assert_type(void)
{
	return ASSERT_TYPE;
}
