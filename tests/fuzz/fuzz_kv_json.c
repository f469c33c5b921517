/*
 * libFuzzer target: everything the Key Vault client parses from a vault
 * it does not control: KeyBundle JSON, error bodies, WWW-Authenticate
 * challenges, Retry-After values, base64url and key identifiers.  The
 * input is split at the first NUL byte: before it is fed to the JSON
 * parsers, after it to the header and string parsers.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kv_client.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct atr_kv_key key;
	struct atr_kv_challenge ch;
	struct atr_kv_kid kid;
	const uint8_t *nul = memchr(data, 0, size);
	size_t jl = nul ? (size_t)(nul - data) : size;
	char *json = malloc(jl + 1), *rest;
	size_t rl = nul ? size - jl - 1 : 0, ol;
	uint8_t out[1024];

	if (json == NULL)
		return 0;
	memcpy(json, data, jl);
	json[jl] = '\0';
	(void)atr_kv_key_from_json(json, jl, &key);
	(void)atr_kv_error_from_response(403, json, jl, ATR_KV_CALL_UNWRAP,
	    "fuzz", 1);
	(void)atr_kv_error_from_response(429, json, jl, ATR_KV_CALL_WRAP,
	    "fuzz", 3);
	rest = malloc(rl + 1);
	if (rest != NULL) {
		memcpy(rest, nul ? nul + 1 : data, rl);
		rest[rl] = '\0';
		(void)atr_kv_parse_challenge(rest, &ch);
		(void)atr_kv_parse_retry_after("retry-after", rest, 1700000000);
		(void)atr_kv_parse_retry_after("retry-after-ms", rest, 0);
		(void)atr_kv_parse_kid(rest, &kid);
		(void)atr_kv_parse_vault_url(rest, &kid);
		(void)atr_kv_b64url_decode(rest, rl, out, sizeof(out), &ol);
		free(rest);
	}
	free(json);
	return 0;
}
