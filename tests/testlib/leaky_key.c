/* see leaky_key.h */
#include "leaky_key.h"

#include <stdio.h>
#include <string.h>

#include "err.h"

static enum atr_err
leak_wrap(struct atr_key *k, const uint8_t *in, size_t in_len, uint8_t *out,
    size_t *out_len)
{
	(void)k;
	if (*out_len < in_len)
		return atr_fail(ATR_ERR_USAGE, "wrap buffer too small");
	/* The defect: the "wrapped" key is the key itself. */
	memcpy(out, in, in_len);
	*out_len = in_len;
	return ATR_OK;
}

static enum atr_err
leak_unwrap(struct atr_key *k, const char *kid, enum atr_wrap_alg alg,
    const uint8_t *in, size_t in_len, uint8_t *out, size_t *out_len)
{
	(void)k;
	(void)kid;
	(void)alg;
	if (*out_len < in_len) {
		*out_len = 0;
		return ATR_ERR_AUTH;
	}
	memcpy(out, in, in_len);
	*out_len = in_len;
	return ATR_OK;
}

static int
leak_matches(const struct atr_key *k, enum atr_provider_type prov,
    const char *kid)
{
	return prov == k->provider && strcmp(kid, k->key_id) == 0;
}

static void
leak_free(struct atr_key *k)
{
	(void)k;
}

static const struct atr_key_ops leak_ops = {
	leak_wrap, leak_unwrap, leak_matches, leak_free,
};

struct atr_key *
tl_leaky_key(const char *key_id)
{
	struct atr_key *k = atr_key_alloc(&leak_ops);

	if (k == NULL)
		return NULL;
	k->provider = ATR_PROV_PKCS11;
	k->alg = ATR_WRAP_AES_KW;
	k->can_wrap = 1;
	k->can_unwrap = 1;
	k->customer_managed = 1;
	snprintf(k->uri, sizeof(k->uri), "test:leaky");
	snprintf(k->key_id, sizeof(k->key_id), "%s", key_id);
	snprintf(k->desc, sizeof(k->desc), "TEST-ONLY broken provider");
	return k;
}
