/* see key.h */
#include "key.h"

#include <stdlib.h>
#include <string.h>

#include "crypto.h"

struct atr_key *
atr_key_alloc(const struct atr_key_ops *ops)
{
	struct atr_key *k = calloc(1, sizeof(*k));

	if (k != NULL)
		k->ops = ops;
	return k;
}

struct atr_key *
atr_key_alloc_as(const struct atr_key_ops *ops, const struct atr_key *inner,
    void *impl)
{
	struct atr_key *k = atr_key_alloc(ops);

	if (k == NULL)
		return NULL;
	k->impl = impl;
	k->provider = inner->provider;
	k->alg = inner->alg;
	memcpy(k->uri, inner->uri, sizeof(k->uri));
	memcpy(k->key_id, inner->key_id, sizeof(k->key_id));
	memcpy(k->desc, inner->desc, sizeof(k->desc));
	k->customer_managed = inner->customer_managed;
	k->can_wrap = inner->can_wrap;
	k->can_unwrap = inner->can_unwrap;
	k->bits = inner->bits;
	return k;
}

void
atr_key_free(struct atr_key *k)
{
	if (k == NULL)
		return;
	if (k->ops != NULL && k->ops->free_impl != NULL)
		k->ops->free_impl(k);
	atr_memzero(k, sizeof(*k));
	free(k);
}

const char *
atr_provider_name(enum atr_provider_type p)
{
	switch (p) {
	case ATR_PROV_FILE_RSA:
		return "file-rsa";
	case ATR_PROV_FILE_AES:
		return "file-aes";
	case ATR_PROV_PKCS11:
		return "pkcs11";
	case ATR_PROV_AZURE_KV:
		return "azure-kv";
	}
	return "unknown";
}

const char *
atr_wrap_alg_name(enum atr_wrap_alg a)
{
	switch (a) {
	case ATR_WRAP_RSA_OAEP_256:
		return "RSA-OAEP-256";
	case ATR_WRAP_RSA_OAEP_SHA1:
		return "RSA-OAEP";
	case ATR_WRAP_AES_KWP:
		return "AES-KWP";
	case ATR_WRAP_AES_KW:
		return "A256KW";
	}
	return "unknown";
}
