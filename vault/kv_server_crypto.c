/*
 * kv_server_crypto.c - the loopback Key Vault's cryptographic
 * operations: POST /keys/{name}[/{version}]/wrapkey, unwrapkey, encrypt
 * and decrypt (Key Vault REST API reference,
 * https://learn.microsoft.com/en-us/rest/api/keyvault/keys/wrap-key),
 * from the request model through the key's attributes to the
 * algorithms: RSA-OAEP, RSA-OAEP-256, RSA1_5 with RSA keys, AES key
 * wrap and AES-GCM with oct-HSM keys.
 */
#include "kv_server_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/err.h>
#include <openssl/rsa.h>

#include "crypto.h"
#include "fsutil.h"
#include "jwk.h"
#include "json.h"

/* ------------------------------------------------------------------ */
/* The request */

/* base64url field; 0 absent, 1 present, -1 replied 400. */
static int
b64_field(struct kvs_http *h, const cJSON *j, const char *name, uint8_t **out,
    size_t *len)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(j, name);

	*out = NULL;
	*len = 0;
	if (it == NULL || cJSON_IsNull(it))
		return 0;
	if (!cJSON_IsString(it) || kvs_unb64url(it->valuestring, out,
	    len) != 0) {
		/* Key Vault's text (bad base64url in 'value'). */
		kvs_reply_error(h, 400, "BadParameter", NULL, "Content of '%s' "
		    "is not base64url.\r\nProperty '%s' is required.\r\n",
		    name, name);
		return -1;
	}
	return 1;
}

/* A wrapkey, unwrapkey, encrypt or decrypt body (KeyOperationsParameters):
 * the decoded fields are wiped and freed by crypt_req_free. */
struct crypt_req {
	enum kvs_alg alg;
	uint8_t *val, *iv, *aad, *tag;
	size_t val_len, iv_len, aad_len, tag_len;
};

static void
crypt_req_free(struct crypt_req *q)
{
	atr_secure_free(q->val, q->val_len);
	atr_secure_free(q->iv, q->iv_len);
	atr_secure_free(q->aad, q->aad_len);
	atr_secure_free(q->tag, q->tag_len);
	memset(q, 0, sizeof(*q));
}

/* The request model first, as the service binds the body before it
 * looks at the key.  -1 after replying 400. */
static int
crypt_req_parse(struct kvs_http *h, const cJSON *j, struct crypt_req *q)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(j, "alg");

	if (!cJSON_IsString(it) || it->valuestring[0] == '\0') {
		/* Verbatim from the service, double space included. */
		kvs_reply_error(h, 400, "BadParameter", NULL,
		    "Property  has invalid value\r\n");
		return -1;
	}
	q->alg = kvs_alg_parse(it->valuestring);
	if (q->alg == KVS_ALG_NONE) {
		kvs_reply_error(h, 400, "BadParameter", NULL,
		    "Property alg has invalid value\r\n");
		return -1;
	}
	if (q->alg == KVS_ALG_UNSUPPORTED) {
		kvs_reply_error(h, 400, "BadParameter", NULL, "Algorithm %s is "
		    "not supported by this server.", it->valuestring);
		return -1;
	}
	switch (b64_field(h, j, "value", &q->val, &q->val_len)) {
	case -1:
		return -1;
	case 0:
		kvs_reply_error(h, 400, "BadParameter", NULL,
		    "Property 'value' is required.\r\n");
		return -1;
	}
	if (b64_field(h, j, "iv", &q->iv, &q->iv_len) < 0 ||
	    b64_field(h, j, "aad", &q->aad, &q->aad_len) < 0 ||
	    b64_field(h, j, "tag", &q->tag, &q->tag_len) < 0)
		return -1;
	if (q->val_len > 65536) {
		kvs_reply_error(h, 400, "BadParameter", NULL,
		    "Property 'value' is too long.");
		return -1;
	}
	return 0;
}

/* The ATR_JWK_* bit an operation needs, which is also the bit that
 * disabled_blocks names. */
static unsigned
crypt_op_bit(enum kvs_op op)
{
	switch (op) {
	case KVS_OP_WRAP:
		return ATR_JWK_WRAP;
	case KVS_OP_UNWRAP:
		return ATR_JWK_UNWRAP;
	case KVS_OP_ENCRYPT:
		return ATR_JWK_ENCRYPT;
	default:
		return ATR_JWK_DECRYPT;
	}
}

/*
 * Whether the key version's state allows the operation need: enabled
 * (or need not blocked when disabled), need in key_ops and, for encrypt
 * and wrapKey (fwd), within nbf and exp.  0 after replying 403.
 */
static int
crypt_allowed(struct kvs_http *h, const struct kvs_version *v,
    unsigned need, int fwd, unsigned disabled_blocks)
{
	const char *opname = atr_jwk_op_name(need);
	int64_t now;

	if (!v->enabled && (disabled_blocks & need)) {
		kvs_reply_error(h, 403, "Forbidden", "KeyDisabled",
		    "Operation %s is not allowed on a disabled key.", opname);
		return 0;
	}
	if (!(v->key_ops & need)) {
		kvs_reply_error(h, 403, "Forbidden", "KeyOperationForbidden",
		    "Operation %s is not permitted on this key.", opname);
		return 0;
	}
	/* Outside nbf/exp only decrypt, unwrap, verify and release work
	 * ("Date-time controlled operations" in "About keys",
	 * https://learn.microsoft.com/en-us/azure/key-vault/keys/about-keys-details). */
	now = kvs_now(h->s);
	if (fwd && v->has_nbf && now < v->nbf) {
		kvs_reply_error(h, 403, "Forbidden", "KeyNotYetValid",
		    "Operation %s is not allowed on a key that is not yet "
		    "valid.", opname);
		return 0;
	}
	if (fwd && v->has_exp && now > v->exp) {
		kvs_reply_error(h, 403, "Forbidden", "KeyExpired",
		    "Operation %s is not allowed on an expired key.", opname);
		return 0;
	}
	return 1;
}

/* The answer when kvs_crypt failed with err. */
static void
crypt_failed(struct kvs_http *h, enum kvs_alg alg, enum atr_err err)
{
	if (err == ATR_ERR_AUTH) {
		const char *why = alg == KVS_ALG_RSA_OAEP ||
		    alg == KVS_ALG_RSA_OAEP_256 ?
		    "Error occurred while decoding OAEP padding." :
		    alg == KVS_ALG_RSA1_5 ?
		    "Error occurred while decoding PKCS1 padding." :
		    "The ciphertext failed the integrity check.";

		kvs_reply_error(h, 400, "BadParameter", NULL, "%s", why);
	} else if (err == ATR_ERR_USAGE) {
		kvs_reply_error(h, 400, "BadParameter", NULL, "%s",
		    atr_detail());
	} else {
		kvs_reply_error(h, 500, "InternalServerError", NULL,
		    "The operation failed.");
	}
}

/* KeyOperationResult: the versioned kid, always; the value; and for
 * AES-GCM encryption iv, tag and the request's aad.  NULL without
 * memory. */
static cJSON *
crypt_result(struct kvs_http *h, const struct kvs_key *k,
    const struct kvs_version *v, const struct kvs_crypt_io *io,
    const struct crypt_req *q, const cJSON *j)
{
	char kid[KVS_BASE_MAX + 200], *b, *t;
	cJSON *res = cJSON_CreateObject();

	if (res == NULL)
		return NULL;
	kvs_kid_of(h, k, v, kid, sizeof(kid));
	cJSON_AddStringToObject(res, "kid", kid);
	b = kvs_b64url(io->out, io->out_len);
	if (b == NULL) {
		cJSON_Delete(res);
		return NULL;
	}
	cJSON_AddStringToObject(res, "value", b);
	atr_secure_free(b, strlen(b));
	if (io->has_iv_out) {
		b = kvs_b64url(io->iv_out, sizeof(io->iv_out));
		t = kvs_b64url(io->tag_out, sizeof(io->tag_out));
		if (b != NULL)
			cJSON_AddStringToObject(res, "iv", b);
		if (t != NULL)
			cJSON_AddStringToObject(res, "tag", t);
		free(b);
		free(t);
		if (q->aad != NULL)
			cJSON_AddItemToObject(res, "aad", cJSON_Duplicate(
			    cJSON_GetObjectItemCaseSensitive(j, "aad"), 1));
	}
	return res;
}

void
kvs_handle_crypt(struct kvs_http *h, const struct kvs_route *r)
{
	struct kvs_store *st = &h->s->store;
	cJSON *j = kvs_parse_body(h, 1), *res = NULL;
	unsigned need = crypt_op_bit(r->op);
	int fwd = need == ATR_JWK_WRAP || need == ATR_JWK_ENCRYPT;
	struct crypt_req q;
	struct kvs_crypt_io io;
	struct kvs_config c;
	struct kvs_key *k;
	struct kvs_version *v;
	size_t out_cap = 0;
	enum atr_err err;

	memset(&q, 0, sizeof(q));
	memset(&io, 0, sizeof(io));
	if (j == NULL)
		return;
	if (crypt_req_parse(h, j, &q) != 0)
		goto out;
	out_cap = q.val_len + 512;
	io.out = malloc(out_cap);
	if (io.out == NULL) {
		kvs_reply_oom(h);
		goto out;
	}
	kvs_config_get(h->s, &c);
	pthread_rwlock_rdlock(&st->lock);
	v = kvs_store_find_version(st, r->name, r->version, &k);
	if (v == NULL) {
		kvs_not_found(h, r->name, r->version);
	} else if (crypt_allowed(h, v, need, fwd, c.disabled_blocks)) {
		io.in = q.val;
		io.in_len = q.val_len;
		io.iv = q.iv;
		io.iv_len = q.iv_len;
		io.aad = q.aad;
		io.aad_len = q.aad_len;
		io.tag = q.tag;
		io.tag_len = q.tag_len;
		atr_detail_clear();
		err = kvs_crypt(v, q.alg, fwd, &io);
		if (err != ATR_OK)
			crypt_failed(h, q.alg, err);
		else if ((res = crypt_result(h, k, v, &io, &q, j)) == NULL)
			kvs_reply_oom(h);
	}
	pthread_rwlock_unlock(&st->lock);
	if (res != NULL)
		kvs_reply(h, 200, res);
out:
	if (io.out != NULL)
		atr_secure_free(io.out, out_cap);
	crypt_req_free(&q);
	atr_json_free_wiped(j);
}

/* ------------------------------------------------------------------ */
/* The algorithms */

enum kvs_alg
kvs_alg_parse(const char *s)
{
	static const struct {
		const char *name;
		enum kvs_alg alg;
	} t[] = {
		{"RSA-OAEP", KVS_ALG_RSA_OAEP},
		{"RSA-OAEP-256", KVS_ALG_RSA_OAEP_256},
		{"RSA1_5", KVS_ALG_RSA1_5},
		{"A128KW", KVS_ALG_A128KW},
		{"A192KW", KVS_ALG_A192KW},
		{"A256KW", KVS_ALG_A256KW},
		{"A128GCM", KVS_ALG_A128GCM},
		{"A192GCM", KVS_ALG_A192GCM},
		{"A256GCM", KVS_ALG_A256GCM},
		/* Valid JsonWebKeyEncryptionAlgorithm values we do not do. */
		{"A128CBC", KVS_ALG_UNSUPPORTED},
		{"A192CBC", KVS_ALG_UNSUPPORTED},
		{"A256CBC", KVS_ALG_UNSUPPORTED},
		{"A128CBCPAD", KVS_ALG_UNSUPPORTED},
		{"A192CBCPAD", KVS_ALG_UNSUPPORTED},
		{"A256CBCPAD", KVS_ALG_UNSUPPORTED},
		{"CKM_AES_KEY_WRAP", KVS_ALG_UNSUPPORTED},
		{"CKM_AES_KEY_WRAP_PAD", KVS_ALG_UNSUPPORTED},
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (strcmp(s, t[i].name) == 0)
			return t[i].alg;
	return KVS_ALG_NONE;
}

static enum atr_err
rsa_pkcs1(EVP_PKEY *pkey, int enc, struct kvs_crypt_io *io)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
	size_t cap = io->in_len + 512;
	enum atr_err err = ATR_OK;

	if (ctx == NULL)
		return ATR_ERR_NOMEM;
	if (!ATR_OSSL(enc ? EVP_PKEY_encrypt_init(ctx) :
	    EVP_PKEY_decrypt_init(ctx)) ||
	    EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) <= 0) {
		err = atr_fail(ATR_ERR_CRYPTO, "cannot set up RSA1_5");
		goto out;
	}
	/* RFC 8017 7.2: RSAES-PKCS1-v1_5, kept only because the service
	 * offers it; every decoding failure is one answer. */
	if ((enc ? EVP_PKEY_encrypt(ctx, io->out, &cap, io->in, io->in_len) :
	    EVP_PKEY_decrypt(ctx, io->out, &cap, io->in, io->in_len)) <= 0) {
		ERR_clear_error();
		err = enc ? atr_fail(ATR_ERR_CRYPTO, "RSA1_5 failed") :
		    ATR_ERR_AUTH;
		goto out;
	}
	io->out_len = cap;
out:
	EVP_PKEY_CTX_free(ctx);
	return err;
}

static enum atr_err
crypt_rsa(const struct kvs_version *v, enum kvs_alg alg, int fwd,
    struct kvs_crypt_io *io)
{
	size_t k = (v->bits + 7) / 8, max;
	const EVP_MD *md = alg == KVS_ALG_RSA_OAEP_256 ? EVP_sha256() :
	    EVP_sha1();

	if (alg != KVS_ALG_RSA_OAEP && alg != KVS_ALG_RSA_OAEP_256 &&
	    alg != KVS_ALG_RSA1_5)
		return atr_fail(ATR_ERR_USAGE, "Algorithm is not supported "
		    "for key type %s", kvs_kty_name(v->kty));
	if (fwd) {
		/* RFC 8017 7.1.1 (mLen <= k - 2hLen - 2), 7.2.1 (k - 11). */
		max = alg == KVS_ALG_RSA1_5 ? k - 11 :
		    k - 2 * (size_t)EVP_MD_get_size(md) - 2;
		if (io->in_len > max)
			return atr_fail(ATR_ERR_USAGE, "The plaintext is too "
			    "long for this key and algorithm (at most %zu "
			    "bytes)", max);
	} else if (io->in_len != k) {
		return ATR_ERR_AUTH;
	}
	if (alg == KVS_ALG_RSA1_5)
		return rsa_pkcs1(v->pkey, fwd, io);
	io->out_len = io->in_len + 512;
	if (fwd)
		return atr_rsa_oaep_encrypt(v->pkey, md, NULL, 0, io->in,
		    io->in_len, io->out, &io->out_len);
	return atr_rsa_oaep_decrypt(v->pkey, md, NULL, 0, io->in, io->in_len,
	    io->out, &io->out_len);
}

static enum atr_err
crypt_oct(const struct kvs_version *v, enum kvs_alg alg, int fwd,
    struct kvs_crypt_io *io)
{
	size_t need;

	switch (alg) {
	case KVS_ALG_A128KW:
	case KVS_ALG_A128GCM:
		need = 16;
		break;
	case KVS_ALG_A192KW:
	case KVS_ALG_A192GCM:
		need = 24;
		break;
	case KVS_ALG_A256KW:
	case KVS_ALG_A256GCM:
		need = 32;
		break;
	default:
		return atr_fail(ATR_ERR_USAGE, "Algorithm is not supported "
		    "for key type %s", kvs_kty_name(v->kty));
	}
	if (need != v->oct_len)
		return atr_fail(ATR_ERR_USAGE, "The algorithm does not match "
		    "the key size (%u bits)", v->bits);
	if (alg == KVS_ALG_A128KW || alg == KVS_ALG_A192KW ||
	    alg == KVS_ALG_A256KW) {
		/* RFC 3394 (SP 800-38F KW): no padding. */
		if (fwd) {
			if (io->in_len < 16 || io->in_len % 8 != 0 ||
			    io->in_len > 4096)
				return atr_fail(ATR_ERR_USAGE, "AES key wrap "
				    "needs 16 bytes or more, a multiple of 8");
			return atr_aes_kw_wrap(0, v->oct, v->oct_len, io->in,
			    io->in_len, io->out, &io->out_len);
		}
		return atr_aes_kw_unwrap(0, v->oct, v->oct_len, io->in,
		    io->in_len, io->out, &io->out_len);
	}
	/* AES-GCM (SP 800-38D): the service makes the 96-bit IV on
	 * encrypt and returns it with the 128-bit tag. */
	if (fwd) {
		enum atr_err err = atr_random(io->iv_out, sizeof(io->iv_out));

		if (err != ATR_OK)
			return err;
		err = atr_gcm_seal(v->oct, v->oct_len, io->iv_out,
		    sizeof(io->iv_out), io->aad, io->aad_len, io->in,
		    io->in_len, io->out, io->tag_out, sizeof(io->tag_out));
		if (err != ATR_OK)
			return err;
		io->out_len = io->in_len;
		io->has_iv_out = 1;
		return ATR_OK;
	}
	if (io->iv == NULL || io->iv_len == 0 || io->tag == NULL ||
	    io->tag_len < 12 || io->tag_len > 16)
		return atr_fail(ATR_ERR_USAGE, "AES-GCM decryption needs 'iv' "
		    "and 'tag'");
	io->out_len = io->in_len;
	return atr_gcm_open(v->oct, v->oct_len, io->iv, io->iv_len, io->aad,
	    io->aad_len, io->in, io->in_len, io->tag, io->tag_len, io->out);
}

enum atr_err
kvs_crypt(const struct kvs_version *v, enum kvs_alg alg, int fwd,
    struct kvs_crypt_io *io)
{
	enum atr_err err;

	io->out_len = 0;
	io->has_iv_out = 0;
	if (v->kty == KVS_KTY_OCT_HSM)
		err = crypt_oct(v, alg, fwd, io);
	else
		err = crypt_rsa(v, alg, fwd, io);
	if (err != ATR_OK && !fwd)
		io->out_len = 0;
	return err;
}
