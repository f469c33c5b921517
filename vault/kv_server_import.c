/*
 * kv_server_import.c - PUT /keys/{name}: a key brought in as a JSON Web
 * Key, RSA from n, e, d, p, q, dp, dq, qi (RFC 7518 section 6.3) or an
 * AES key from k, checked before any costly arithmetic (Key Vault REST
 * API reference, Import Key,
 * https://learn.microsoft.com/en-us/rest/api/keyvault/keys/import-key).
 */
#include "kv_server_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/param_build.h>

#include "crypto.h"
#include "fsutil.h"
#include "jwk.h"
#include "json.h"

/* The RSA JWK parts (RFC 7518 section 6.3), in this order. */
#define JWK_N 0
#define JWK_E 1
#define JWK_D 2
#define JWK_NPARTS 8
static const char *const jwk_names[JWK_NPARTS] = {
	"n", "e", "d", "p", "q", "dp", "dq", "qi",
};

struct rsa_jwk {
	uint8_t *raw[JWK_NPARTS];       /* as decoded; wiped and freed */
	size_t raw_len[JWK_NPARTS];
	const uint8_t *v[JWK_NPARTS];   /* without leading zero octets */
	size_t len[JWK_NPARTS];
};

static void
rsa_jwk_free(struct rsa_jwk *k)
{
	size_t i;

	for (i = 0; i < JWK_NPARTS; i++)
		if (k->raw[i] != NULL)
			atr_secure_free(k->raw[i], k->raw_len[i]);
	memset(k, 0, sizeof(*k));
}

/*
 * Decodes the parts and checks every length against the modulus before
 * any arithmetic: OpenSSL's key check tests p and q for primality, and
 * for a 32k-bit p that alone takes seconds of CPU (minutes for larger
 * ones) in a thread that outlives the client.  The modulus decides the
 * size (2048, 3072 or 4096 bits, as the service); e is at most 32 bits,
 * d at most as long as n, and p, q, dp, dq, qi at most half as long
 * (FIPS 186-5 Appendix A.1 makes p and q nlen/2 bits each).  Leading zero
 * octets are tolerated (RFC 7518 6.3.1.1 notes that some libraries add
 * one).  Returns -1 after replying 400.
 */
static int
rsa_jwk_parse(struct kvs_http *h, enum kvs_kty t, const cJSON *key,
    struct rsa_jwk *k, unsigned *bits)
{
	size_t i, half, bad = JWK_E;
	uint32_t e = 0;
	uint8_t top;

	memset(k, 0, sizeof(*k));
	for (i = 0; i < JWK_NPARTS; i++) {
		const cJSON *it = cJSON_GetObjectItemCaseSensitive(key,
		    jwk_names[i]);

		if (!cJSON_IsString(it) || kvs_unb64url(it->valuestring,
		    &k->raw[i], &k->raw_len[i]) != 0)
			goto invalid;
		k->v[i] = k->raw[i];
		k->len[i] = k->raw_len[i];
		while (k->len[i] > 0 && k->v[i][0] == 0) {
			k->v[i]++;
			k->len[i]--;
		}
		if (k->len[i] == 0)
			goto invalid;
	}
	top = k->v[JWK_N][0];
	*bits = 0;
	while (top != 0) {
		(*bits)++;
		top >>= 1;
	}
	/* At most KVS_BODY_MAX octets: no overflow. */
	*bits += (unsigned)(k->len[JWK_N] - 1) * 8;
	if (!kvs_size_allowed(h, t, *bits))
		return -1;
	if (k->len[JWK_E] > 4)
		goto too_long;
	for (i = 0; i < k->len[JWK_E]; i++)
		e = e << 8 | k->v[JWK_E][i];
	/* RFC 8017 3.1: 3 <= e < n, and odd since it is coprime to
	 * (p-1)(q-1). */
	if (e < 3 || (e & 1) == 0)
		goto invalid;
	half = (k->len[JWK_N] + 1) / 2;
	for (i = JWK_D; i < JWK_NPARTS; i++)
		if (k->len[i] > (i == JWK_D ? k->len[JWK_N] : half)) {
			bad = i;
			goto too_long;
		}
	return 0;
too_long:
	kvs_reply_error(h, 400, "BadParameter", NULL, "Property '%s' of the "
	    "key has invalid value: too long for a %u-bit modulus.",
	    jwk_names[bad], *bits);
	return -1;
invalid:
	kvs_reply_error(h, 400, "BadParameter", NULL,
	    "The RSA key (n, e, d, p, q, dp, dq, qi) is not valid.");
	return -1;
}

/*
 * The parts must form one key (RFC 8017 3.2).  n = p q is checked
 * first, a multiplication, so that only a factorisation of an allowed
 * modulus reaches OpenSSL's primality tests (about 0.25 s of CPU for
 * RSA-4096).
 */
static EVP_PKEY *
rsa_from_jwk(const struct rsa_jwk *k)
{
	static const char *const pn[JWK_NPARTS] = {
		OSSL_PKEY_PARAM_RSA_N, OSSL_PKEY_PARAM_RSA_E,
		OSSL_PKEY_PARAM_RSA_D, OSSL_PKEY_PARAM_RSA_FACTOR1,
		OSSL_PKEY_PARAM_RSA_FACTOR2, OSSL_PKEY_PARAM_RSA_EXPONENT1,
		OSSL_PKEY_PARAM_RSA_EXPONENT2, OSSL_PKEY_PARAM_RSA_COEFFICIENT1,
	};
	BIGNUM *bn[JWK_NPARTS] = {0}, *pq = BN_new();
	BN_CTX *bctx = BN_CTX_new();
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *pkey = NULL, *check = NULL;
	size_t i;

	if (bld == NULL || pq == NULL || bctx == NULL)
		goto out;
	for (i = 0; i < JWK_NPARTS; i++) {
		bn[i] = BN_bin2bn(k->v[i], (int)k->len[i], NULL);
		if (bn[i] == NULL || !OSSL_PARAM_BLD_push_BN(bld, pn[i], bn[i]))
			goto out;
	}
	if (!BN_mul(pq, bn[3], bn[4], bctx) || BN_cmp(pq, bn[JWK_N]) != 0)
		goto out;
	params = OSSL_PARAM_BLD_to_param(bld);
	ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	if (params == NULL || ctx == NULL ||
	    EVP_PKEY_fromdata_init(ctx) <= 0 ||
	    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_KEYPAIR, params) <= 0)
		goto out;
	EVP_PKEY_CTX_free(ctx);
	ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
	if (ctx == NULL || EVP_PKEY_pairwise_check(ctx) != 1) {
		check = pkey;
		pkey = NULL;
	}
out:
	ERR_clear_error();
	EVP_PKEY_free(check);
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_CTX_free(bctx);
	BN_free(pq);
	for (i = 0; i < JWK_NPARTS; i++)
		BN_clear_free(bn[i]);
	return pkey;
}

/* The key type.  Import names the family ("RSA", "oct"); "Hsm": true
 * picks RSA-HSM, and so does a Managed HSM, whose keys are all
 * HSM-protected.  0 after replying 400. */
static int
import_kty(struct kvs_http *h, const cJSON *j, const cJSON *key,
    enum kvs_kty *t)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(key, "kty");
	const char *kty;

	if (!cJSON_IsObject(key) || !cJSON_IsString(it)) {
		kvs_reply_error(h, 400, "BadParameter", NULL,
		    "Property key has invalid value\r\n");
		return 0;
	}
	kty = it->valuestring;
	if (strcmp(kty, "RSA") == 0 && (h->s->managed_hsm ||
	    cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "Hsm"))))
		kty = "RSA-HSM";
	else if (strcmp(kty, "oct") == 0)
		kty = "oct-HSM";
	return kvs_kty_allowed(h, kty, t);
}

/* The AES key k into v.  -1 after replying. */
static int
import_oct(struct kvs_http *h, const cJSON *key, struct kvs_version *v)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(key, "k");

	if (cJSON_IsString(it) && kvs_version_set_oct(v, it->valuestring) == 0)
		return 0;
	kvs_reply_error(h, 400, "BadParameter", NULL, "Content of 'k' is not "
	    "a 128, 192 or 256-bit base64url AES key.");
	return -1;
}

/* The RSA key into v: its parts checked, the key built and checked,
 * its public parts.  -1 after replying. */
static int
import_rsa(struct kvs_http *h, enum kvs_kty t, const cJSON *key,
    struct kvs_version *v)
{
	struct rsa_jwk parts;

	if (rsa_jwk_parse(h, t, key, &parts, &v->bits) != 0) {
		rsa_jwk_free(&parts);
		return -1;
	}
	v->pkey = rsa_from_jwk(&parts);
	rsa_jwk_free(&parts);
	if (v->pkey == NULL) {
		kvs_reply_error(h, 400, "BadParameter", NULL, "The RSA key (n, "
		    "e, d, p, q, dp, dq, qi) is not valid.");
		return -1;
	}
	v->bits = (unsigned)EVP_PKEY_get_bits(v->pkey);
	if (!kvs_size_allowed(h, t, v->bits))
		return -1;
	if (kvs_version_rsa_public(v) != ATR_OK) {
		kvs_reply_oom(h);
		return -1;
	}
	return 0;
}

void
kvs_handle_import(struct kvs_http *h, const struct kvs_route *r)
{
	cJSON *j = kvs_parse_body(h, 1);
	const cJSON *key;
	struct kvs_attr_update u;
	struct kvs_version *v = NULL;
	enum kvs_kty t;
	unsigned ops;

	memset(&u, 0, sizeof(u));
	if (j == NULL)
		return;
	key = cJSON_GetObjectItemCaseSensitive(j, "key");
	if (!import_kty(h, j, key, &t) || kvs_parse_common(h, j, &u) != 0)
		goto out;
	v = calloc(1, sizeof(*v));
	if (v == NULL) {
		kvs_reply_oom(h);
		goto out;
	}
	kvs_hex_id(v->id);
	v->kty = t;
	v->enabled = 1;
	if (t == KVS_KTY_OCT_HSM ? import_oct(h, key, v) != 0 :
	    import_rsa(h, t, key, v) != 0)
		goto out;
	/* key_ops: the request's, else the JWK's, else the default. */
	v->key_ops = kvs_default_ops(t);
	ops = kvs_kop_parse(cJSON_GetObjectItemCaseSensitive(key, "key_ops"));
	if (!u.has_ops && ops != 0)
		v->key_ops = ops;
	v->created = kvs_now(h->s);
	kvs_apply_update(v, &u, v->created);
	kvs_add_version(h, r->name, v, 0);
	v = NULL;
out:
	kvs_version_free(v);
	cJSON_Delete(u.tags);
	atr_json_free_wiped(j);
}
