/*
 * kv_server_auth.c - the loopback Key Vault's access tokens: the bearer
 * check on every vault API request (any non-empty token, or only ours
 * with --token-mode validate) and the tokens the identity endpoints
 * (kv_server_identity.c) issue.  They are JWT-shaped (RFC 7519) with
 * the claims of a Microsoft identity platform v1 access token, and
 * HMAC-SHA-256 signed (RFC 7515 HS256) with a key kept in
 * STATE/server.json: the server can check them, nobody else needs to.
 */
#include "kv_server_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "crypto.h"

#define KV_APP_ID "cfa8b339-82a2-471a-a3c9-0fc0be7a4093"

void
kvs_token_issuer(const char *tenant, char *out, size_t cap)
{
	snprintf(out, cap, "https://sts.windows.net/%s/", tenant);
}

static char *
b64url_str(const char *s)
{
	return kvs_b64url((const uint8_t *)s, strlen(s));
}

enum atr_err
kvs_token_issue(struct atr_kv_server *s, const char *appid, const char *aud,
    long lifetime, char *out, size_t cap)
{
	cJSON *p = cJSON_CreateObject();
	char *hdr = NULL, *payload = NULL, *pjson = NULL, *sig = NULL;
	char iss[160], uti[37];
	uint8_t mac[32];
	int64_t now = kvs_now(s);
	enum atr_err err = ATR_ERR_NOMEM;
	int n;

	if (p == NULL)
		return ATR_ERR_NOMEM;
	kvs_token_issuer(s->tenant, iss, sizeof(iss));
	kvs_uuid(uti);
	/* The claims Key Vault looks at in Entra ID v1 access tokens. */
	cJSON_AddStringToObject(p, "aud", aud);
	cJSON_AddStringToObject(p, "iss", iss);
	cJSON_AddNumberToObject(p, "iat", (double)now);
	cJSON_AddNumberToObject(p, "nbf", (double)now);
	cJSON_AddNumberToObject(p, "exp", (double)(now + lifetime));
	cJSON_AddStringToObject(p, "appid", appid);
	cJSON_AddStringToObject(p, "appidacr", "1");
	cJSON_AddStringToObject(p, "idp", iss);
	cJSON_AddStringToObject(p, "oid", appid);
	cJSON_AddStringToObject(p, "sub", appid);
	cJSON_AddStringToObject(p, "tid", s->tenant);
	cJSON_AddStringToObject(p, "uti", uti);
	cJSON_AddStringToObject(p, "ver", "1.0");
	pjson = cJSON_PrintUnformatted(p);
	hdr = b64url_str("{\"typ\":\"JWT\",\"alg\":\"HS256\",\"kid\":\"atrest-kv\"}");
	if (pjson == NULL || hdr == NULL)
		goto out;
	payload = b64url_str(pjson);
	if (payload == NULL)
		goto out;
	n = snprintf(out, cap, "%s.%s", hdr, payload);
	if (n < 0 || (size_t)n >= cap) {
		err = atr_fail(ATR_ERR_LIMIT, "token buffer too small");
		goto out;
	}
	err = atr_hmac_sha256(s->token_key, sizeof(s->token_key),
	    (const uint8_t *)out, (size_t)n, mac);
	if (err != ATR_OK)
		goto out;
	err = ATR_ERR_NOMEM;
	sig = kvs_b64url(mac, sizeof(mac));
	if (sig == NULL)
		goto out;
	if ((size_t)n + 1 + strlen(sig) + 1 > cap) {
		err = atr_fail(ATR_ERR_LIMIT, "token buffer too small");
		goto out;
	}
	snprintf(out + n, cap - (size_t)n, ".%s", sig);
	err = ATR_OK;
	pthread_mutex_lock(&s->mu);
	s->stats.pub.tokens_issued++;
	pthread_mutex_unlock(&s->mu);
out:
	if (err != ATR_OK && cap > 0)
		atr_memzero(out, cap);
	atr_memzero(mac, sizeof(mac));
	free(hdr);
	free(payload);
	free(pjson);
	free(sig);
	cJSON_Delete(p);
	return err;
}

/*
 * 0 when valid; else msg gets the service's 401 message.  The order -
 * signature, lifetime, issuer, audience - is that of a JWT validator.
 */
static int
token_check(struct atr_kv_server *s, const char *tok, char *msg, size_t cap)
{
	const char *d1 = strchr(tok, '.'), *d2;
	uint8_t mac[32], *sig = NULL, *pl = NULL, *hd = NULL;
	size_t siglen = 0, pllen = 0, hdlen = 0;
	char part[4096], iss[160];
	cJSON *p = NULL, *h = NULL;
	const cJSON *it;
	int64_t now = kvs_now(s);
	int rc = -1;

	/* Key Vault's answer when the signing key is unknown (AKV10046);
	 * used here for every signature-level failure. */
	snprintf(msg, cap, "AKV10046: Unable to resolve the key used for "
	    "signature validation.");
	d2 = d1 != NULL ? strchr(d1 + 1, '.') : NULL;
	if (d1 == NULL || d2 == NULL || strchr(d2 + 1, '.') != NULL ||
	    (size_t)(d1 - tok) >= sizeof(part) ||
	    (size_t)(d2 - d1 - 1) >= sizeof(part))
		goto out;
	snprintf(part, sizeof(part), "%.*s", (int)(d1 - tok), tok);
	if (kvs_unb64url(part, &hd, &hdlen) != 0)
		goto out;
	h = cJSON_ParseWithLength((const char *)hd, hdlen);
	it = cJSON_GetObjectItemCaseSensitive(h, "alg");
	/* RFC 8725 3.1: only the one algorithm we sign with; "none" and
	 * anything else is refused. */
	if (!cJSON_IsString(it) || strcmp(it->valuestring, "HS256") != 0)
		goto out;
	if (kvs_unb64url(d2 + 1, &sig, &siglen) != 0 || siglen != sizeof(mac))
		goto out;
	if (atr_hmac_sha256(s->token_key, sizeof(s->token_key),
	    (const uint8_t *)tok, (size_t)(d2 - tok), mac) != ATR_OK ||
	    !atr_ct_equal(mac, sig, sizeof(mac)))
		goto out;
	snprintf(part, sizeof(part), "%.*s", (int)(d2 - d1 - 1), d1 + 1);
	if (kvs_unb64url(part, &pl, &pllen) != 0)
		goto out;
	p = cJSON_ParseWithLength((const char *)pl, pllen);
	if (!cJSON_IsObject(p))
		goto out;
	it = cJSON_GetObjectItemCaseSensitive(p, "exp");
	/* Compared as doubles: a token's exp of 1e300 must not reach an
	 * out-of-range integer conversion. */
	if (!cJSON_IsNumber(it) || !(it->valuedouble > (double)now)) {
		/* Key Vault's text for an expired token. */
		snprintf(msg, cap, "[TokenExpired] Error validating token: "
		    "'S2S12086'.");
		goto out;
	}
	it = cJSON_GetObjectItemCaseSensitive(p, "nbf");
	if (cJSON_IsNumber(it) && !(it->valuedouble <= (double)now)) {
		snprintf(msg, cap, "Token not yet valid");
		goto out;
	}
	kvs_token_issuer(s->tenant, iss, sizeof(iss));
	it = cJSON_GetObjectItemCaseSensitive(p, "iss");
	if (!cJSON_IsString(it) || strcmp(it->valuestring, iss) != 0) {
		snprintf(msg, cap, "AKV10032: Invalid issuer. Expected one of "
		    "%s, found %.100s.", iss,
		    cJSON_IsString(it) ? it->valuestring : "");
		goto out;
	}
	it = cJSON_GetObjectItemCaseSensitive(p, "aud");
	/* Audience: the resource exactly (no trailing slash) or Key
	 * Vault's application id. */
	if (!cJSON_IsString(it) || (strcmp(it->valuestring, s->resource) != 0 &&
	    strcmp(it->valuestring, KV_APP_ID) != 0)) {
		snprintf(msg, cap, "AKV10022: Invalid audience. Expected %s, "
		    "found: %.200s.", s->resource,
		    cJSON_IsString(it) ? it->valuestring : "");
		goto out;
	}
	rc = 0;
out:
	cJSON_Delete(h);
	cJSON_Delete(p);
	free(hd);
	free(pl);
	free(sig);
	return rc;
}

int
kvs_auth_check(struct kvs_http *h)
{
	const char *a = kvs_header(h, "Authorization");
	struct kvs_config c;
	char msg[512];

	if (a == NULL || strncasecmp(a, "Bearer", 6) != 0 ||
	    (a[6] != ' ' && a[6] != '\t'))
		goto missing;
	for (a += 6; *a == ' ' || *a == '\t'; a++)
		;
	if (*a == '\0')
		goto missing;
	kvs_config_get(h->s, &c);
	if (c.token_mode == ATR_KV_TOKEN_ANY)
		return 1;
	if (token_check(h->s, a, msg, sizeof(msg)) == 0)
		return 1;
	h->www_auth = 1;
	kvs_reply_error(h, 401, "Unauthorized", NULL, "%s", msg);
	return 0;
missing:
	h->www_auth = 1;
	kvs_reply_error(h, 401, "Unauthorized", NULL,
	    "AKV10000: Request is missing a Bearer or PoP token.");
	return 0;
}
