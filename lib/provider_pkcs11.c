/*
 * Placeholder until the pkcs11 provider lands: it claims its URI prefix so
 * the user gets a clear message instead of "unknown scheme".
 */
#include "key.h"

static enum atr_err
open_placeholder(const char *uri, const struct atr_key_opts *opts,
    struct atr_key **out)
{
	(void)uri;
	(void)opts;
	*out = NULL;
	return atr_fail(ATR_ERR_UNSUPPORTED, "the pkcs11 provider is not built yet");
}

const struct atr_provider atr_provider_pkcs11 = {
	"pkcs11", "pkcs11:", open_placeholder,
};
