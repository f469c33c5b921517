/* see keys.h */
#include "keys.h"

#include <string.h>

extern const struct atr_provider atr_provider_file;
extern const struct atr_provider atr_provider_pkcs11;
extern const struct atr_provider atr_provider_azure;

const struct atr_provider *const atr_providers[] = {
	&atr_provider_file,
	&atr_provider_pkcs11,
	&atr_provider_azure,
	NULL,
};

enum atr_err
atr_key_open(const char *uri, const struct atr_key_opts *opts,
    struct atr_key **out)
{
	static const struct atr_key_opts defaults = {.max_retries = -1};
	size_t i;

	*out = NULL;
	if (uri == NULL || *uri == '\0')
		return atr_fail(ATR_ERR_CONFIG, "empty key URI");
	if (strlen(uri) >= ATR_URI_MAX)
		return atr_fail(ATR_ERR_CONFIG, "key URI longer than %u bytes",
		    ATR_URI_MAX - 1);
	if (opts == NULL)
		opts = &defaults;
	for (i = 0; atr_providers[i] != NULL; i++) {
		const struct atr_provider *p = atr_providers[i];

		if (strncmp(uri, p->prefix, strlen(p->prefix)) == 0)
			return p->open(uri, opts, out);
	}
	return atr_fail(ATR_ERR_CONFIG,
	    "unknown key URI scheme (expected file:, pkcs11: or https://)");
}
