/* see jwk.h */
#include "jwk.h"

#include <string.h>
#include <strings.h>

static const struct {
	const char *name;
	unsigned bit;
} ops[ATR_JWK_COUNT] = {
	/* JsonWebKeyOperation, in the REST API's order. */
	{"encrypt", ATR_JWK_ENCRYPT},
	{"decrypt", ATR_JWK_DECRYPT},
	{"sign", ATR_JWK_SIGN},
	{"verify", ATR_JWK_VERIFY},
	{"wrapKey", ATR_JWK_WRAP},
	{"unwrapKey", ATR_JWK_UNWRAP},
	{"import", ATR_JWK_IMPORT},
	{"export", ATR_JWK_EXPORT},
};

unsigned
atr_jwk_op_parse(const char *name)
{
	unsigned i;

	for (i = 0; i < ATR_JWK_COUNT; i++)
		if (strcasecmp(name, ops[i].name) == 0)
			return ops[i].bit;
	return 0;
}

const char *
atr_jwk_op_name(unsigned op)
{
	unsigned i;

	for (i = 0; i < ATR_JWK_COUNT; i++)
		if (ops[i].bit == op)
			return ops[i].name;
	return "unknown";
}

unsigned
atr_jwk_op_at(unsigned i)
{
	return i < ATR_JWK_COUNT ? ops[i].bit : 0;
}

int
atr_kv_name_char(int c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	    (c >= 'A' && c <= 'Z') || c == '-';
}

int
atr_kv_name_valid(const char *name)
{
	size_t i, n = strlen(name);

	if (n == 0 || n > ATR_KV_NAME_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if (!atr_kv_name_char((unsigned char)name[i]))
			return 0;
	return 1;
}
