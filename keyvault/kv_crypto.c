/*
 * kv_crypto.c - the key operations that protect data: wrapkey and
 * unwrapkey (Wrap Key / Unwrap Key in the Azure Key Vault REST API
 * reference, https://learn.microsoft.com/en-us/rest/api/keyvault/keys/).
 * The lengths of both directions are checked against the algorithm and
 * the key size (RFC 8017 7.1.1, RFC 3394 2.2.1), so a vault cannot hand
 * back a value no one can ever open; every buffer that held a key is
 * wiped.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "crypto.h"
#include "kv_internal.h"
#include "codec.h"
#include "json.h"

/* SHA-256 and SHA-1 output bytes: the OAEP hash of each algorithm. */
static size_t
oaep_hlen(enum atr_wrap_alg alg)
{
	return alg == ATR_WRAP_RSA_OAEP_SHA1 ? 20 : 32;
}

/*
 * The lengths the algorithm allows: *wrapped is the one length of the
 * wrapped value, *plain_max the longest plain value (and *plain_min the
 * shortest).  RSA-OAEP (RFC 8017 7.1.1): the ciphertext is exactly k,
 * the modulus length, and the message at most k - 2 hLen - 2 bytes.
 * AES-KW (RFC 3394 2.2.1): at least two 64-bit blocks in, one more out.
 * -1 when the key size cannot give a length.
 */
static int
wrap_lengths(enum atr_wrap_alg alg, unsigned key_bits, size_t plain_len,
    int unwrap, size_t *wrapped, size_t *plain_min, size_t *plain_max)
{
	size_t k;

	if (alg == ATR_WRAP_AES_KW) {
		if (unwrap) {
			/* plain_len is the wrapped input here. */
			if (plain_len < 24 || plain_len % 8 != 0)
				return -1;
			*wrapped = plain_len;
			*plain_min = *plain_max = plain_len - 8;
			return 0;
		}
		if (plain_len < 16 || plain_len % 8 != 0)
			return -1;
		*wrapped = plain_len + 8;
		*plain_min = *plain_max = plain_len;
		return 0;
	}
	k = ((size_t)key_bits + 7) / 8;
	if (key_bits == 0 || k > ATR_WRAPPED_MAX ||
	    k < 2 * oaep_hlen(alg) + 3)
		return -1;
	*wrapped = k;
	*plain_min = 1;
	*plain_max = k - 2 * oaep_hlen(alg) - 2;
	return 0;
}

/* One wrapkey or unwrapkey call: the caller's arguments (borrowed for
 * the call) and what the steps below work out from them. */
struct crypt_call {
	struct atr_kv_client *c;
	int unwrap;
	const char *name, *version;   /* version "" when versionless */
	enum atr_wrap_alg alg;
	unsigned key_bits;
	const uint8_t *in;
	size_t in_len;
	uint8_t *out;
	size_t cap;                   /* of out */
	size_t *out_len;
	char *kid;                    /* may be NULL */
	size_t kid_cap;
	const char *algname;          /* the service's name of alg */
	size_t wlen, pmin, pmax;      /* wrap_lengths() */
	char what[512];               /* "wrapkey with https://..." */
};

/*
 * Checks the request before anything is sent.  On unwrap every refusal
 * is ATR_ERR_AUTH with no detail, as for a value that does not open: a
 * wrapped input of the wrong length, or for an algorithm this client
 * does not use, is no wrapped key of this one.
 */
static enum atr_err
crypt_check(struct crypt_call *x)
{
	enum atr_err err;

	if ((err = kv_check_name(x->name, x->version)) != ATR_OK)
		return err;
	if (x->version == NULL)
		x->version = "";
	x->algname = atr_kv_alg_for(x->alg);
	if (x->algname == NULL) {
		if (x->unwrap) {
			atr_detail_clear();
			return ATR_ERR_AUTH;
		}
		return atr_fail(ATR_ERR_UNSUPPORTED,
		    "%s is not a Key Vault wrap algorithm",
		    atr_wrap_alg_name(x->alg));
	}
	if (x->alg != ATR_WRAP_AES_KW && x->key_bits == 0)
		return atr_fail(ATR_ERR_USAGE, "the RSA key's size is unknown");
	if (x->in_len == 0 || x->in_len > ATR_WRAPPED_MAX ||
	    wrap_lengths(x->alg, x->key_bits, x->in_len, x->unwrap, &x->wlen,
	    &x->pmin, &x->pmax) != 0 ||
	    (x->unwrap ? x->in_len != x->wlen : x->in_len > x->pmax)) {
		if (x->unwrap) {
			atr_detail_clear();
			return ATR_ERR_AUTH;
		}
		return atr_fail(ATR_ERR_USAGE,
		    "bad wrap input length %zu for %s with a %u-bit key",
		    x->in_len, x->algname, x->key_bits);
	}
	return ATR_OK;
}

/*
 * The request body {"alg":"...","value":"BASE64URL"} into a malloc'd
 * *body of *blen bytes (set as soon as it is allocated, so the caller
 * wipes and frees it on every path), *len of them used.
 */
static enum atr_err
crypt_body(const struct crypt_call *x, char **body, size_t *blen,
    size_t *len)
{
	size_t b64cap = x->in_len / 3 * 4 + 5;
	long w, e;

	*blen = b64cap + 64;
	*body = malloc(*blen);
	if (*body == NULL)
		return atr_fail(ATR_ERR_NOMEM, "out of memory");
	w = snprintf(*body, *blen, "{\"alg\":\"%s\",\"value\":\"",
	    x->algname);
	if (w < 0 || (size_t)w >= *blen)
		return atr_fail(ATR_ERR_NOMEM, "wrap body");
	e = atr_b64url_encode(x->in, x->in_len, *body + w,
	    *blen - (size_t)w);
	if (e < 0 || (size_t)(w + e) + 3 > *blen)
		return atr_fail(ATR_ERR_NOMEM, "wrap body");
	w += e;
	memcpy(*body + w, "\"}", 3);
	*len = (size_t)w + 2;
	return ATR_OK;
}

/*
 * The reply {"kid":...,"value":...}: the value decoded into out, of the
 * one length the algorithm gives, and the kid this key on this vault.
 * The parsed document is wiped: it holds the value.
 */
static enum atr_err
crypt_reply(struct crypt_call *x, const struct kv_resp *rs)
{
	const char *v, *rkid;
	cJSON *doc;
	enum atr_err err;

	doc = cJSON_ParseWithLength(rs->body.p, rs->body.len);
	v = doc != NULL ? cJSON_GetStringValue(
	    cJSON_GetObjectItemCaseSensitive(doc, "value")) : NULL;
	rkid = doc != NULL ? cJSON_GetStringValue(
	    cJSON_GetObjectItemCaseSensitive(doc, "kid")) : NULL;
	if (v == NULL || atr_b64url_decode(v, strlen(v), ATR_B64_STD_ALPHABET,
	    x->out, x->cap, x->out_len) != 0 || *x->out_len == 0) {
		err = atr_fail(ATR_ERR_BAD_RESPONSE,
		    "%s: the reply's \"value\" is missing, not base64url or "
		    "larger than %zu bytes", x->what, x->cap);
		goto out;
	}
	/* A wrapped key of another length cannot be opened by anyone
	 * (and an unwrapped one of another length is not what was
	 * wrapped): recording it would lose the data for good. */
	if (x->unwrap ? (*x->out_len < x->pmin || *x->out_len > x->pmax) :
	    *x->out_len != x->wlen) {
		err = atr_fail(ATR_ERR_BAD_RESPONSE,
		    "%s: the reply's value has %zu bytes; %s with a %u-bit "
		    "key gives %s %zu", x->what, *x->out_len, x->algname,
		    x->key_bits, x->unwrap && x->pmin != x->pmax ? "at most" :
		    "exactly", x->unwrap ? x->pmax : x->wlen);
		goto out;
	}
	/* The kid the vault used must be this key on this vault, and this
	 * version when one was asked for: it is what the stanza records. */
	if (!atr_kv_kid_matches(&x->c->vault, rkid, x->name, x->version,
	    NULL)) {
		err = kv_wrong_kid(x->c, x->what, rkid, NULL);
		goto out;
	}
	if (x->kid != NULL && x->kid_cap > 0)
		snprintf(x->kid, x->kid_cap, "%s", rkid);
	err = ATR_OK;
out:
	if (doc != NULL) {
		atr_json_wipe(doc);
		cJSON_Delete(doc);
	}
	return err;
}

/*
 * POST .../{wrapkey|unwrapkey}: {"alg":...,"value":base64url} ->
 * {"kid":...,"value":...} (KeyOperationsParameters and
 * KeyOperationResult in the REST API reference).  The request body and
 * the reply are wiped: they hold the DEK in one direction or the other.
 */
static enum atr_err
crypt_op(struct crypt_call *x)
{
	struct kv_resp rs;
	char url[KV_URL_MAX];
	char *body = NULL;
	size_t blen = 0, len = 0;
	enum atr_err err;

	x->cap = *x->out_len;
	*x->out_len = 0;
	kv_resp_init(&rs);
	if ((err = crypt_check(x)) != ATR_OK)
		goto out;
	kv_key_what(x->c, x->unwrap ? "unwrapkey with" : "wrapkey with",
	    x->name, x->version, x->what, sizeof(x->what));
	snprintf(url, sizeof(url), "%s/keys/%s%s%s/%s?api-version=%s",
	    x->c->vault.origin, x->name, *x->version ? "/" : "", x->version,
	    x->unwrap ? "unwrapkey" : "wrapkey", x->c->api_version);
	if ((err = crypt_body(x, &body, &blen, &len)) != ATR_OK)
		goto out;
	err = kv_vault_call(x->c, x->unwrap ? ATR_KV_CALL_UNWRAP :
	    ATR_KV_CALL_WRAP, "POST", url, body, len, x->what, &rs);
	if (err != ATR_OK)
		goto out;
	err = crypt_reply(x, &rs);
out:
	if (err != ATR_OK && x->out != NULL) {
		atr_memzero(x->out, x->cap);
		*x->out_len = 0;
	}
	if (body != NULL) {
		atr_memzero(body, blen);
		free(body);
	}
	kv_resp_free(&rs);
	return err;
}

enum atr_err
atr_kv_wrap(struct atr_kv_client *c, const char *name, const char *version,
    enum atr_wrap_alg alg, unsigned key_bits, const uint8_t *in,
    size_t in_len, uint8_t *out, size_t *out_len, char *kid, size_t kid_cap)
{
	struct crypt_call x = {
		.c = c, .unwrap = 0, .name = name, .version = version,
		.alg = alg, .key_bits = key_bits, .in = in, .in_len = in_len,
		.out = out, .out_len = out_len, .kid = kid, .kid_cap = kid_cap,
	};

	return crypt_op(&x);
}

enum atr_err
atr_kv_unwrap(struct atr_kv_client *c, const char *name, const char *version,
    enum atr_wrap_alg alg, unsigned key_bits, const uint8_t *in,
    size_t in_len, uint8_t *out, size_t *out_len)
{
	struct crypt_call x = {
		.c = c, .unwrap = 1, .name = name, .version = version,
		.alg = alg, .key_bits = key_bits, .in = in, .in_len = in_len,
		.out = out, .out_len = out_len,
	};

	return crypt_op(&x);
}
