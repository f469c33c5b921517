/*
 * vault_key.c - the client side of the bench's Key Vault cells: creating
 * the RSA key in a vault and reading the client's retry and throttling
 * counters (keyvault/kv_client.h, docs/KEYVAULT.md "Statistics for bench").
 */
#include "bench_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv_client.h"
#include "jwk.h"

enum atr_err
atb_vault_create_key(const char *url, const char *ca_file, const char *name,
    unsigned bits, char *uri, size_t cap)
{
	struct atr_kv_opts o;
	struct atr_kv_create p;
	struct atr_kv_client *c = NULL;
	struct atr_kv_key *k;
	enum atr_err err;
	int n;

	memset(&o, 0, sizeof(o));
	o.ca_file = ca_file;
	o.max_retries = -1;
	memset(&p, 0, sizeof(p));
	p.kty = "RSA";
	p.size = bits;
	p.key_ops = ATR_JWK_WRAP | ATR_JWK_UNWRAP;
	/* struct atr_kv_key holds a modulus: keep it off the stack. */
	k = calloc(1, sizeof(*k));
	if (k == NULL)
		return ATR_ERR_NOMEM;
	err = atr_kv_client_new(url, &o, &c);
	if (err == ATR_OK)
		err = atr_kv_create_key(c, name, &p, k);
	atr_kv_client_free(c);
	free(k);
	if (err != ATR_OK)
		return err;
	n = snprintf(uri, cap, "%s/keys/%s", url, name);
	if (n < 0 || (size_t)n >= cap)
		return atr_fail(ATR_ERR_LIMIT, "vault key URI too long");
	return ATR_OK;
}

enum atr_err
atb_vault_set_enabled(const char *url, const char *ca_file, const char *name,
    const char *version, int enabled)
{
	struct atr_kv_opts o;
	struct atr_kv_update u;
	struct atr_kv_client *c = NULL;
	struct atr_kv_key *k;
	enum atr_err err;

	memset(&o, 0, sizeof(o));
	o.ca_file = ca_file;
	o.max_retries = -1;
	memset(&u, 0, sizeof(u));
	u.set_enabled = 1;
	u.enabled = enabled;
	k = calloc(1, sizeof(*k));
	if (k == NULL)
		return ATR_ERR_NOMEM;
	/* PATCH /keys/{name}/{version} (Update Key,
	 * https://learn.microsoft.com/en-us/rest/api/keyvault/keys/update-key/update-key). */
	err = atr_kv_client_new(url, &o, &c);
	if (err == ATR_OK)
		err = atr_kv_update_key(c, name, version, &u, k);
	atr_kv_client_free(c);
	free(k);
	return err;
}

void
atb_kv_counters(uint64_t *attempts, uint64_t *retries, uint64_t *throttled)
{
	struct atr_kv_stats s;

	atr_kv_stats_get(&s);
	*attempts = s.attempts;
	*retries = s.retries;
	*throttled = s.throttled;
}
