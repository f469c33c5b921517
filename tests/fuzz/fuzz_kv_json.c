/*
 * libFuzzer target: everything the Key Vault client parses from a vault
 * it does not control: KeyBundle JSON, error bodies, WWW-Authenticate
 * challenges, Retry-After values, base64url, key identifiers and the
 * range-checked number reader; and the key URI redaction of messages.
 * The input is split at the first NUL byte: before it is fed to the
 * JSON parsers, after it to the header and string parsers.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "keyuri.h"
#include "kv_client.h"
#include "codec.h"

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
	{
		cJSON *doc = cJSON_ParseWithLength(json, jl);
		int64_t v;

		if (doc != NULL) {
			if (atr_kv_json_int(doc, "n", -5, 253402300799LL,
			    &v) > 0 && (v < -5 || v > 253402300799LL))
				abort();
			cJSON_Delete(doc);
		}
	}
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
		(void)atr_b64url_decode(rest, rl, ATR_B64_STD_ALPHABET, out, sizeof(out), &ol);
		{
			struct atr_kv_kid vault;
			char shown[ATR_URI_SHOWN_MAX];
			int64_t v;

			if (atr_kv_dec_parse(rest, rl, 86400, &v) == 0 &&
			    (v < 0 || v > 86400))
				abort();
			(void)atr_kv_host_is_loopback(rest);
			if (atr_kv_parse_vault_url("https://v.example:8443",
			    &vault) == ATR_OK)
				(void)atr_kv_kid_matches(&vault, rest, "cmk",
				    "", &kid);
			atr_key_uri_redact(rest, shown, sizeof(shown));
			if (strlen(shown) >= sizeof(shown))
				abort();
		}
		free(rest);
	}
	free(json);
	return 0;
}
