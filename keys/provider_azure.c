/*
 * provider_azure.c - keys in Azure Key Vault (or the loopback emulator):
 *
 *   https://HOST[:PORT]/keys/NAME[/VERSION]
 *
 * The key never leaves the vault: wrap and unwrap are wrapkey/unwrapkey
 * calls (RSA-OAEP-256 by default, RSA-OAEP on request, A256KW for
 * oct-HSM keys of a Managed HSM).  Opening the key GETs it, which
 * resolves a versionless URI to the current version: new stanzas record
 * that versioned kid, exactly as the vault reports it, and are wrapped
 * with that version's path, so the recorded kid is the one used: the
 * SDKs' WrapResult.KeyId "must be stored alongside the EncryptedKey as
 * the same key must be used to unwrap it"
 * (https://learn.microsoft.com/en-us/dotnet/api/azure.security.keyvault.keys.cryptography.wrapresult.keyid).
 * A versionless URI opens stanzas of every version
 * of the key; a versioned one only its own.  Unwrap always goes to the
 * configured vault: a stanza names a version, never where to send the
 * token.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "crypto.h"
#include "key.h"
#include "keys.h"
#include "kv_client.h"
#include "provider_azure.h"
#include "jwk.h"

struct az_impl {
	struct atr_kv_client *c;
	struct atr_kv_kid uri;   /* as configured */
	struct atr_kv_kid kid;   /* the resolved, versioned kid */
	pthread_mutex_t mu;      /* guards info */
	struct atr_kv_key info;  /* as last read from the vault */
};

static const struct atr_key_ops az_ops;

/* 1 when kid names this key on this vault (and this version for a
 * versioned URI). */
static int
az_kid_ok(const struct az_impl *a, const char *kid, struct atr_kv_kid *id)
{
	return atr_kv_kid_matches(&a->uri, kid, a->uri.name, a->uri.version,
	    id);
}

static int
az_matches(const struct atr_key *k, enum atr_provider_type prov,
    const char *stanza_key_id)
{
	struct atr_kv_kid id;

	if (prov != ATR_PROV_AZURE_KV)
		return 0;
	return az_kid_ok(k->impl, stanza_key_id, &id);
}

static enum atr_err
az_wrap(struct atr_key *k, const uint8_t *in, size_t in_len, uint8_t *out,
    size_t *out_len)
{
	struct az_impl *a = k->impl;
	char kid[ATR_KEYID_MAX + 1];
	enum atr_err err;

	/* The client checks the reply: the kid is this version on this
	 * vault, the value the modulus length (or the KW length); the
	 * stanza records key_id, which is that kid. */
	err = atr_kv_wrap(a->c, a->kid.name, a->kid.version, k->alg, k->bits,
	    in, in_len, out, out_len, kid, sizeof(kid));
	if (err != ATR_OK)
		return err;
	return ATR_OK;
}

static enum atr_err
az_unwrap(struct atr_key *k, const char *stanza_key_id, enum atr_wrap_alg alg,
    const uint8_t *in, size_t in_len, uint8_t *out, size_t *out_len)
{
	struct az_impl *a = k->impl;
	struct atr_kv_kid id;

	if (!az_kid_ok(a, stanza_key_id, &id)) {
		atr_memzero(out, *out_len);
		*out_len = 0;
		return atr_fail(ATR_ERR_NOKEY,
		    "stanza key id '%.300s' is not a version of %s",
		    stanza_key_id != NULL ? stanza_key_id : "", k->uri);
	}
	return atr_kv_unwrap(a->c, a->uri.name, id.version, alg, k->bits, in,
	    in_len, out, out_len);
}

static void
az_free(struct atr_key *k)
{
	struct az_impl *a = k->impl;

	if (a == NULL)
		return;
	atr_kv_client_free(a->c);
	pthread_mutex_destroy(&a->mu);
	atr_memzero(a, sizeof(*a));
	free(a);
	k->impl = NULL;
}

static const struct atr_key_ops az_ops = {
	az_wrap, az_unwrap, az_matches, az_free,
};

static int
is_rsa(const char *kty)
{
	return strcmp(kty, "RSA") == 0 || strcmp(kty, "RSA-HSM") == 0;
}

static int
is_oct(const char *kty)
{
	return strcmp(kty, "oct") == 0 || strcmp(kty, "oct-HSM") == 0;
}

/* The client for the key's vault, with the provider options that are
 * the client's (the wrap algorithm is az_pick_alg's). */
static enum atr_err
az_connect(struct az_impl *a, const char *uri,
    const struct atr_key_opts *opts)
{
	struct atr_kv_opts ko;

	memset(&ko, 0, sizeof(ko));
	ko.max_retries = -1;
	if (opts != NULL) {
		ko.ca_file = opts->ca_file;
		ko.connect_timeout_ms = opts->connect_timeout_ms;
		ko.timeout_ms = opts->timeout_ms;
		ko.max_retries = opts->max_retries;
	}
	return atr_kv_client_new(uri, &ko, &a->c);
}

/*
 * k->alg from the key's type and the wrap_alg option: RSA-OAEP-256 (or
 * RSA-OAEP on request) for an RSA key of 2048 bits or more, A256KW for a
 * Managed HSM oct key of 256 bits; any other key cannot wrap.
 */
static enum atr_err
az_pick_alg(struct atr_key *k, struct atr_kv_key *info, const char *uri,
    const struct atr_key_opts *opts)
{
	const char *want = opts != NULL ? opts->wrap_alg : NULL;

	if (is_rsa(info->kty)) {
		if (info->bits < 2048)
			return atr_fail(ATR_ERR_KEY,
			    "%s: RSA key has %u bits; 2048 or more are required",
			    uri, info->bits);
		k->alg = ATR_WRAP_RSA_OAEP_256;
		if (want != NULL && (atr_kv_alg_parse(want, &k->alg) != 0 ||
		    k->alg == ATR_WRAP_AES_KW))
			return atr_fail(ATR_ERR_CONFIG,
			    "%s: wrap algorithm %s is not usable with an RSA "
			    "key (RSA-OAEP-256 or RSA-OAEP)", uri, want);
		return ATR_OK;
	}
	if (is_oct(info->kty)) {
		/* Managed HSM symmetric keys: A256KW (RFC 3394) only; the
		 * 64-byte wrap input is a multiple of 8, as KW needs. */
		if (info->bits == 0)
			info->bits = 256;
		if (info->bits != 256)
			return atr_fail(ATR_ERR_KEY,
			    "%s: AES key has %u bits; A256KW needs 256", uri,
			    info->bits);
		k->alg = ATR_WRAP_AES_KW;
		if (want != NULL && strcasecmp(want, "A256KW") != 0)
			return atr_fail(ATR_ERR_CONFIG,
			    "%s: an %s key wraps with A256KW only, not %s", uri,
			    info->kty, want);
		return ATR_OK;
	}
	return atr_fail(ATR_ERR_UNSUPPORTED,
	    "%s: a %s key cannot wrap keys (RSA, RSA-HSM or oct-HSM needed)",
	    uri, info->kty[0] != '\0' ? info->kty : "typeless");
}

/* The struct atr_key fields from what the vault said of the key. */
static void
az_describe(struct atr_key *k, const struct az_impl *a, const char *uri)
{
	const struct atr_kv_key *info = &a->info;

	snprintf(k->uri, sizeof(k->uri), "%s", uri);
	snprintf(k->key_id, sizeof(k->key_id), "%s", info->kid);
	snprintf(k->desc, sizeof(k->desc),
	    "%.15s-%u Key Vault key (vault %.120s, key %.80s)", info->kty,
	    info->bits, a->uri.hostport, a->uri.name);
	k->provider = ATR_PROV_AZURE_KV;
	k->customer_managed = 1;
	k->bits = info->bits;
	k->can_wrap = !info->key_ops_present ||
	    (info->key_ops & ATR_JWK_WRAP) != 0;
	k->can_unwrap = !info->key_ops_present ||
	    (info->key_ops & ATR_JWK_UNWRAP) != 0;
}

static enum atr_err
az_open(const char *uri, const struct atr_key_opts *opts, struct atr_key **out)
{
	struct atr_key *k = NULL;
	struct az_impl *a = NULL;
	enum atr_err err;

	*out = NULL;
	k = atr_key_alloc(&az_ops);
	a = calloc(1, sizeof(*a));
	if (k == NULL || a == NULL) {
		free(a);
		atr_key_free(k);
		return atr_fail(ATR_ERR_NOMEM, "out of memory");
	}
	if (pthread_mutex_init(&a->mu, NULL) != 0) {
		/* Not yet k's: az_free would destroy the mutex. */
		free(a);
		atr_key_free(k);
		return atr_fail(ATR_ERR_NOMEM, "cannot create a mutex");
	}
	k->impl = a;
	err = atr_kv_parse_kid(uri, &a->uri);
	if (err != ATR_OK)
		goto fail;
	err = az_connect(a, uri, opts);
	if (err != ATR_OK)
		goto fail;
	err = atr_kv_get_key(a->c, a->uri.name, a->uri.version, &a->info);
	if (err != ATR_OK)
		goto fail;
	/* The client refused a kid of another vault or key already; this
	 * only parses it.  Stanzas record it as the key's id. */
	if (!atr_kv_kid_matches(&a->uri, a->info.kid, a->uri.name,
	    a->uri.version, &a->kid)) {
		err = atr_fail(ATR_ERR_BAD_RESPONSE,
		    "%s: the vault answered with another key (%.200s)", uri,
		    a->info.kid);
		goto fail;
	}
	err = az_pick_alg(k, &a->info, uri, opts);
	if (err != ATR_OK)
		goto fail;
	az_describe(k, a, uri);
	*out = k;
	return ATR_OK;
fail:
	atr_key_free(k);
	return err;
}

enum atr_err
atr_kv_key_info(struct atr_key *k, int refresh, struct atr_kv_key *out)
{
	struct atr_kv_key fresh;
	struct az_impl *a;
	enum atr_err err;

	memset(out, 0, sizeof(*out));
	if (k == NULL || k->ops != &az_ops || k->impl == NULL)
		return atr_fail(ATR_ERR_USAGE, "not a Key Vault key");
	a = k->impl;
	if (refresh) {
		err = atr_kv_get_key(a->c, a->kid.name, a->kid.version, &fresh);
		if (err != ATR_OK)
			return err;
		pthread_mutex_lock(&a->mu);
		a->info = fresh;
		pthread_mutex_unlock(&a->mu);
	}
	pthread_mutex_lock(&a->mu);
	*out = a->info;
	pthread_mutex_unlock(&a->mu);
	return ATR_OK;
}

struct atr_kv_client *
atr_kv_key_client(struct atr_key *k)
{
	if (k == NULL || k->ops != &az_ops || k->impl == NULL)
		return NULL;
	return ((struct az_impl *)k->impl)->c;
}

const struct atr_provider atr_provider_azure = {
	"azure-kv", "https://", az_open,
};
