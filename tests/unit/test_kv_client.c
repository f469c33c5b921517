/*
 * test_kv_client.c - the Key Vault client and the azure key provider.
 *
 * Part 1: the pure parsers (key identifiers, base64url, challenges,
 * Retry-After, error bodies, KeyBundles).  Part 2: transport failures
 * that need no vault (closed port, silent peer).  Part 3: everything
 * through the client and provider against the loopback server
 * (vault/kv_server.h), started in-process on port 0 in a temp directory.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "crypto.h"
#include "key.h"
#include "keys.h"
#include "kv_client.h"

/* ---- key identifiers ---- */

Test(kv_kid, versionless_and_versioned)
{
	struct atr_kv_kid id;

	cr_assert_eq(atr_kv_parse_kid("https://MyVault.vault.azure.net/keys/cmk",
	    &id), ATR_OK, "%s", atr_detail());
	cr_assert_str_eq(id.host, "myvault.vault.azure.net");
	cr_assert_eq(id.port, 443);
	cr_assert_str_eq(id.origin, "https://myvault.vault.azure.net");
	cr_assert_str_eq(id.hostport, "myvault.vault.azure.net");
	cr_assert_str_eq(id.name, "cmk");
	cr_assert_str_eq(id.version, "");

	cr_assert_eq(atr_kv_parse_kid("https://127.0.0.1:8443/keys/my-Key-1/"
	    "78deebed173b48e48f55abf87ed4cf71", &id), ATR_OK);
	cr_assert_str_eq(id.origin, "https://127.0.0.1:8443");
	cr_assert_str_eq(id.hostport, "127.0.0.1:8443");
	cr_assert_eq(id.port, 8443);
	cr_assert_str_eq(id.name, "my-Key-1");
	cr_assert_str_eq(id.version, "78deebed173b48e48f55abf87ed4cf71");

	/* The SDKs' trailing slash, with and without a version. */
	cr_assert_eq(atr_kv_parse_kid("https://v:1/keys/cmk/", &id), ATR_OK);
	cr_assert_str_eq(id.version, "");
	cr_assert_eq(atr_kv_parse_kid("https://v:1/keys/cmk/abc/", &id), ATR_OK);
	cr_assert_str_eq(id.version, "abc");
	cr_assert_eq(atr_kv_parse_kid("https://[::1]:9/KEYS/k", &id), ATR_OK);
	cr_assert_str_eq(id.host, "[::1]");
	cr_assert_str_eq(id.hostport, "[::1]:9");
}

Test(kv_kid, rejects_bad_identifiers)
{
	static const char *const bad[] = {
		"http://v/keys/cmk",            /* not TLS */
		"https:///keys/cmk",            /* no host */
		"https://v/secrets/cmk",        /* not a key */
		"https://v/keys/",              /* no name */
		"https://v/keys/c_k",           /* bad name character */
		"https://v/keys/cmk/ver/extra", /* extra segment */
		"https://v/keys/cmk?x=1",       /* query */
		"https://v/keys/cmk#f",         /* fragment */
		"https://user@v/keys/cmk",      /* user info */
		"https://u:p@v/keys/cmk",       /* user info */
		"https://v:0/keys/cmk",
		"https://v:65536/keys/cmk",
		"https://v:/keys/cmk",
		"https://v/keys/cmk/v-1",       /* version is alphanumeric */
		"https://[::1/keys/cmk",
		"file:/tmp/k",
		"",
	};
	struct atr_kv_kid id;
	char longname[200];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		atr_detail_clear();
		cr_assert_eq(atr_kv_parse_kid(bad[i], &id), ATR_ERR_CONFIG,
		    "accepted '%s'", bad[i]);
		cr_assert_neq(atr_detail()[0], '\0', "no reason for '%s'",
		    bad[i]);
	}
	/* 127 characters is the limit for a name. */
	memcpy(longname, "https://v/keys/", 15);
	memset(longname + 15, 'a', 127);
	longname[15 + 127] = '\0';
	cr_assert_eq(atr_kv_parse_kid(longname, &id), ATR_OK);
	longname[15 + 127] = 'a';
	longname[15 + 128] = '\0';
	cr_assert_eq(atr_kv_parse_kid(longname, &id), ATR_ERR_CONFIG);
	cr_assert(strstr(atr_detail(), "1 to 127") != NULL, "%s", atr_detail());
}

/* A URI's user information or query may carry a secret (a password, a
 * SAS-style signature): messages show neither (core/keyuri.h). */
Test(kv_kid, messages_never_show_user_info_or_query)
{
	static const char *const bad[] = {
		"https://user:s3cretpw@v.example/keys/cmk",
		"https://v.example/keys/cmk?sig=s3cretpw",
		"https://v.example:8443/keys/cmk/1?sig=s3cretpw",
		"http://user:s3cretpw@v.example/keys/cmk",
		"https://v.example/secrets/x?sig=s3cretpw",
		"https://v.example?sig=s3cretpw",
	};
	struct atr_kv_kid id;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(atr_kv_parse_kid(bad[i], &id), ATR_ERR_CONFIG);
		cr_assert(strstr(atr_detail(), "s3cretpw") == NULL, "%s",
		    atr_detail());
		cr_assert(strstr(atr_detail(), "v.example") != NULL, "%s",
		    atr_detail());
		cr_assert_eq(atr_kv_parse_vault_url(bad[i], &id),
		    ATR_ERR_CONFIG);
		cr_assert(strstr(atr_detail(), "s3cretpw") == NULL, "%s",
		    atr_detail());
	}
}

Test(kv_kid, vault_urls_and_same_vault)
{
	struct atr_kv_kid a, b;

	cr_assert_eq(atr_kv_parse_vault_url("https://V.example:443/", &a),
	    ATR_OK);
	cr_assert_str_eq(a.origin, "https://v.example");
	cr_assert_eq(atr_kv_parse_vault_url("https://v.example/keys", &b),
	    ATR_ERR_CONFIG);
	cr_assert_eq(atr_kv_parse_kid("https://v.EXAMPLE/keys/x/1", &b), ATR_OK);
	cr_assert(atr_kv_same_vault(&a, &b));
	cr_assert_eq(atr_kv_parse_kid("https://v.example:444/keys/x", &b),
	    ATR_OK);
	cr_assert_not(atr_kv_same_vault(&a, &b));
	cr_assert_eq(atr_kv_parse_kid("https://w.example/keys/x", &b), ATR_OK);
	cr_assert_not(atr_kv_same_vault(&a, &b));
}

/* ---- base64url ---- */

Test(kv_b64, rfc4648_vectors)
{
	/* RFC 4648 section 10, without padding. */
	static const struct {
		const char *in, *out;
	} v[] = {
		{"", ""}, {"f", "Zg"}, {"fo", "Zm8"}, {"foo", "Zm9v"},
		{"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"}, {"foobar", "Zm9vYmFy"},
	};
	char out[32];
	uint8_t back[32];
	size_t i, n;

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		cr_assert_eq(atr_b64url_encode((const uint8_t *)v[i].in,
		    strlen(v[i].in), out, sizeof(out)), (long)strlen(v[i].out));
		cr_assert_str_eq(out, v[i].out);
		cr_assert_eq(atr_b64url_decode(v[i].out, strlen(v[i].out), ATR_B64_STD_ALPHABET,
		    back, sizeof(back), &n), 0);
		cr_assert_eq(n, strlen(v[i].in));
		cr_assert_arr_eq(back, v[i].in, n);
	}
	/* The url alphabet: 0xfb 0xff -> "-_8". */
	cr_assert_eq(atr_b64url_encode((const uint8_t *)"\xfb\xff", 2, out,
	    sizeof(out)), 3);
	cr_assert_str_eq(out, "-_8");
}

Test(kv_b64, round_trip_and_tolerance)
{
	uint8_t in[300], back[300];
	char enc[420];
	size_t len, n;
	long e;

	for (len = 0; len < sizeof(in); len += 7) {
		cr_assert_eq(atr_random(in, len == 0 ? 1 : len), ATR_OK);
		e = atr_b64url_encode(in, len, enc, sizeof(enc));
		cr_assert_geq(e, 0);
		cr_assert_eq(strchr(enc, '='), NULL);
		cr_assert_eq(atr_b64url_decode(enc, (size_t)e, ATR_B64_STD_ALPHABET, back,
		    sizeof(back), &n), 0);
		cr_assert_eq(n, len);
		cr_assert_arr_eq(back, in, len);
	}
	/* Padding and the standard alphabet are accepted on input. */
	cr_assert_eq(atr_b64url_decode("Zg==", 4, ATR_B64_STD_ALPHABET, back, sizeof(back), &n), 0);
	cr_assert_eq(n, 1);
	cr_assert_eq(atr_b64url_decode("+/8=", 4, ATR_B64_STD_ALPHABET, back, sizeof(back), &n), 0);
	cr_assert_eq(n, 2);
	cr_assert_eq(back[0], 0xfb);
	/* Too small a buffer for encode or decode. */
	cr_assert_eq(atr_b64url_encode((const uint8_t *)"foo", 3, enc, 4), -1);
	cr_assert_eq(atr_b64url_decode("Zm9v", 4, ATR_B64_STD_ALPHABET, back, 2, &n), -1);
}

Test(kv_b64, rejects_malformed)
{
	static const char *const bad[] = {
		"Z",       /* one leftover character */
		"Zm9vY",   /* 4n+1 */
		"Zh",      /* non-zero trailing bits */
		"Zm9=",    /* non-zero trailing bits */
		"Zm 9v",   /* space */
		"Zm9v\n",
		"Zm.v",
		"Zg=",     /* padding without a full quantum */
		"Z===",
	};
	uint8_t out[16];
	size_t i, n;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(atr_b64url_decode(bad[i], strlen(bad[i]), ATR_B64_STD_ALPHABET, out,
		    sizeof(out), &n), -1, "accepted '%s'", bad[i]);
}

/* ---- WWW-Authenticate ---- */

Test(kv_challenge, live_service_form)
{
	struct atr_kv_challenge ch;

	/* The form the live service sends (the example of "Authentication,
	 * requests and responses", learn.microsoft.com/azure/key-vault). */
	cr_assert_eq(atr_kv_parse_challenge("Bearer authorization=\"https://"
	    "login.windows.net/72f988bf-86f1-41af-91ab-2d7cd011db47\", "
	    "resource=\"https://vault.azure.net\"", &ch), 0);
	cr_assert_str_eq(ch.authorization,
	    "https://login.windows.net/72f988bf-86f1-41af-91ab-2d7cd011db47");
	cr_assert_str_eq(ch.tenant, "72f988bf-86f1-41af-91ab-2d7cd011db47");
	cr_assert_str_eq(ch.resource, "https://vault.azure.net");
	cr_assert_str_eq(ch.scope, "https://vault.azure.net/.default");
}

Test(kv_challenge, variants)
{
	struct atr_kv_challenge ch;

	/* authorization_uri, explicit scope, extra parameters. */
	cr_assert_eq(atr_kv_parse_challenge("bearer authorization_uri="
	    "\"https://login.microsoftonline.com/tid/oauth2/authorize\","
	    "scope=\"https://vault.azure.net/.default\",error="
	    "\"insufficient_claims\",claims=\"eyJ\"", &ch), 0);
	cr_assert_str_eq(ch.tenant, "tid");
	cr_assert_str_eq(ch.scope, "https://vault.azure.net/.default");
	cr_assert_str_eq(ch.error, "insufficient_claims");
	/* Another scheme first; a trailing slash on the resource. */
	cr_assert_eq(atr_kv_parse_challenge("PoP nonce=\"abc\", Bearer "
	    "resource=\"https://managedhsm.azure.net/\", authorization=x",
	    &ch), 0);
	cr_assert_str_eq(ch.scope, "https://managedhsm.azure.net/.default");
	cr_assert_str_eq(ch.authorization, "x");
	/* Bearer params of another scheme are not taken. */
	cr_assert_eq(atr_kv_parse_challenge("Bearer resource=\"r\", Basic "
	    "realm=\"x\", scope=\"s\"", &ch), 0);
	cr_assert_str_eq(ch.scope, "r/.default");
	/* Quoted-pair escapes (RFC 9110 5.6.4). */
	cr_assert_eq(atr_kv_parse_challenge("Bearer resource=\"a\\\"b\"", &ch),
	    0);
	cr_assert_str_eq(ch.resource, "a\"b");
}

Test(kv_challenge, rejects_non_bearer)
{
	struct atr_kv_challenge ch;

	cr_assert_eq(atr_kv_parse_challenge("Basic realm=\"x\"", &ch), -1);
	cr_assert_eq(atr_kv_parse_challenge("", &ch), -1);
	cr_assert_eq(atr_kv_parse_challenge(NULL, &ch), -1);
	cr_assert_eq(atr_kv_parse_challenge("Bearer", &ch), -1);
	cr_assert_eq(atr_kv_parse_challenge("Bearer realm=\"x\"", &ch), -1);
}

Test(kv_challenge, resource_must_be_the_vault_domain)
{
	struct atr_kv_challenge ch;

	cr_assert_eq(atr_kv_parse_challenge("Bearer authorization=\"https://"
	    "login.windows.net/t\", resource=\"https://vault.azure.net\"", &ch),
	    0);
	cr_assert(atr_kv_challenge_fits("myvault.vault.azure.net", &ch));
	cr_assert(atr_kv_challenge_fits("vault.azure.net", &ch));
	cr_assert_not(atr_kv_challenge_fits("myvault.evilvault.azure.net.example",
	    &ch));
	cr_assert_not(atr_kv_challenge_fits("evilvault.azure.net", &ch));
	cr_assert_not(atr_kv_challenge_fits("azure.net", &ch));
	/* A vault asking for a management-plane token is refused. */
	cr_assert_eq(atr_kv_parse_challenge("Bearer resource="
	    "\"https://management.azure.com\"", &ch), 0);
	cr_assert_not(atr_kv_challenge_fits("myvault.vault.azure.net", &ch));
	/* The scope, when given, is what counts. */
	cr_assert_eq(atr_kv_parse_challenge("Bearer scope="
	    "\"https://managedhsm.azure.net/.default\"", &ch), 0);
	cr_assert(atr_kv_challenge_fits("hsm1.managedhsm.azure.net", &ch));
	cr_assert_not(atr_kv_challenge_fits("v.vault.azure.net", &ch));
}

/* ---- Retry-After ---- */

Test(kv_retry_after, forms)
{
	/* Sun, 06 Nov 1994 08:49:37 GMT = 784111777 (RFC 9110 5.6.7). */
	time_t date = 784111777;

	cr_assert_eq(atr_kv_parse_retry_after("Retry-After", "5", 0), 5000);
	cr_assert_eq(atr_kv_parse_retry_after("retry-after", " 0 ", 0), 0);
	cr_assert_eq(atr_kv_parse_retry_after("retry-after-ms", "250", 0), 250);
	cr_assert_eq(atr_kv_parse_retry_after("x-ms-retry-after-ms", "12.5", 0),
	    12);
	cr_assert_eq(atr_kv_parse_retry_after("Retry-After",
	    "Sun, 06 Nov 1994 08:49:37 GMT", date - 10), 10000);
	/* A date in the past means "now". */
	cr_assert_eq(atr_kv_parse_retry_after("Retry-After",
	    "Sun, 06 Nov 1994 08:49:37 GMT", date + 100), 0);
	/* Huge values are capped at a day. */
	cr_assert_eq(atr_kv_parse_retry_after("Retry-After", "99999999", 0),
	    86400000L);
}

Test(kv_retry_after, rejects_garbage)
{
	cr_assert_eq(atr_kv_parse_retry_after("Retry-After", "-1", 0), -1);
	cr_assert_eq(atr_kv_parse_retry_after("Retry-After", "5s", 0), -1);
	cr_assert_eq(atr_kv_parse_retry_after("Retry-After", "soon", 0), -1);
	cr_assert_eq(atr_kv_parse_retry_after("retry-after-ms", "x", 0), -1);
	cr_assert_eq(atr_kv_parse_retry_after("X-Other", "5", 0), -1);
	cr_assert_eq(atr_kv_parse_retry_after("Retry-After", NULL, 0), -1);
}

/* ---- error bodies ---- */

#define BODY(s) (s), strlen(s)

Test(kv_errors, statuses_and_inner_codes)
{
	enum atr_err e;

	e = atr_kv_error_from_response(404, BODY("{\"error\":{\"code\":"
	    "\"KeyNotFound\",\"message\":\"A key with (name/id) cmk was not "
	    "found in this key vault.\"}}"), ATR_KV_CALL_GET,
	    "get https://v/keys/cmk", 1);
	cr_assert_eq(e, ATR_ERR_NOT_FOUND);
	cr_assert_str_eq(atr_detail(), "get https://v/keys/cmk: HTTP 404 "
	    "KeyNotFound: A key with (name/id) cmk was not found in this key "
	    "vault.");

	e = atr_kv_error_from_response(403, BODY("{\"error\":{\"code\":"
	    "\"Forbidden\",\"message\":\"Operation unwrapKey is not allowed on "
	    "a disabled key.\",\"innererror\":{\"code\":\"KeyDisabled\"}}}"),
	    ATR_KV_CALL_UNWRAP, "unwrapkey with https://v/keys/cmk/1", 1);
	cr_assert_eq(e, ATR_ERR_DISABLED);
	cr_assert(strstr(atr_detail(), "Forbidden/KeyDisabled: Operation "
	    "unwrapKey is not allowed on a disabled key.") != NULL, "%s",
	    atr_detail());

	e = atr_kv_error_from_response(403, BODY("{\"error\":{\"code\":"
	    "\"Forbidden\",\"message\":\"Operation decrypt is not permitted on "
	    "this key.\",\"innererror\":{\"code\":\"KeyOperationForbidden\"}}}"),
	    ATR_KV_CALL_UNWRAP, "x", 1);
	cr_assert_eq(e, ATR_ERR_FORBIDDEN);
	cr_assert(strstr(atr_detail(), "KeyOperationForbidden") != NULL);

	e = atr_kv_error_from_response(401, BODY("{\"error\":{\"code\":"
	    "\"Unauthorized\",\"message\":\"AKV10000: Request is missing a "
	    "Bearer or PoP token.\"}}"), ATR_KV_CALL_GET, "x", 1);
	cr_assert_eq(e, ATR_ERR_UNAUTHORIZED);
	cr_assert(strstr(atr_detail(), "AKV10000") != NULL);

	e = atr_kv_error_from_response(429, BODY("{\"error\":{\"code\":"
	    "\"Throttled\",\"message\":\"Request was not processed because too "
	    "many requests were received.\"}}"), ATR_KV_CALL_WRAP, "x", 5);
	cr_assert_eq(e, ATR_ERR_THROTTLED);
	cr_assert(strstr(atr_detail(), "(after 5 attempts)") != NULL, "%s",
	    atr_detail());

	cr_assert_eq(atr_kv_error_from_response(503, "", 0, ATR_KV_CALL_GET,
	    "x", 3), ATR_ERR_NETWORK);
	cr_assert_str_eq(atr_detail(),
	    "x: HTTP 503 with no error description (after 3 attempts)");
	cr_assert_eq(atr_kv_error_from_response(409, BODY("{}"),
	    ATR_KV_CALL_MANAGE, "x", 1), ATR_ERR_CONFLICT);
	cr_assert_eq(atr_kv_error_from_response(501, BODY("nope"),
	    ATR_KV_CALL_MANAGE, "x", 1), ATR_ERR_UNSUPPORTED);
	cr_assert_eq(atr_kv_error_from_response(302, BODY("<html>"),
	    ATR_KV_CALL_MANAGE, "x", 1), ATR_ERR_BAD_RESPONSE);
}

Test(kv_errors, bad_parameter_depends_on_operation)
{
	static const char body[] = "{\"error\":{\"code\":\"BadParameter\","
	    "\"message\":\"Invalid kty value: oct\",\"innererror\":{\"code\":"
	    "\"KeyTypeNotSupported\"}}}";

	cr_assert_eq(atr_kv_error_from_response(400, BODY(body),
	    ATR_KV_CALL_MANAGE, "create", 1), ATR_ERR_CONFIG);
	cr_assert(strstr(atr_detail(), "KeyTypeNotSupported") != NULL);
	/* On unwrap a 400 is a wrong key or a corrupt input: one
	 * "authentication failed" that does not relay the vault's reason. */
	cr_assert_eq(atr_kv_error_from_response(400, BODY(body),
	    ATR_KV_CALL_UNWRAP, "unwrap", 1), ATR_ERR_AUTH);
	cr_assert_null(strstr(atr_detail(), "BadParameter"));
	cr_assert_null(strstr(atr_detail(), "kty"));
}

Test(kv_errors, one_line_and_oauth_form)
{
	const char *d;

	/* The real BadParameter message has CRLFs in it. */
	cr_assert_eq(atr_kv_error_from_response(400, BODY("{\"error\":{\"code\":"
	    "\"BadParameter\",\"message\":\"Content of 'value' is not base64url."
	    "\\r\\nProperty 'value' is required.\\r\\n\"}}"),
	    ATR_KV_CALL_WRAP, "w", 1), ATR_ERR_CONFIG);
	d = atr_detail();
	cr_assert_null(strchr(d, '\n'));
	cr_assert_null(strchr(d, '\r'));
	cr_assert(strstr(d, "base64url. Property 'value' is required.") != NULL,
	    "%s", d);
	/* Entra ID (RFC 6749 5.2) error bodies. */
	cr_assert_eq(atr_kv_error_from_response(401, BODY("{\"error\":"
	    "\"invalid_client\",\"error_description\":\"AADSTS7000215: Invalid "
	    "client secret provided.\"}"), ATR_KV_CALL_MANAGE, "token", 1),
	    ATR_ERR_UNAUTHORIZED);
	cr_assert(strstr(atr_detail(), "invalid_client: AADSTS7000215") != NULL,
	    "%s", atr_detail());
}

/* ---- KeyBundle ---- */

/* A JSON KeyBundle for a fresh RSA key of bits bits. */
static char *
rsa_bundle(unsigned bits, const char *extra_attr)
{
	EVP_PKEY *pk = EVP_RSA_gen(bits);
	BIGNUM *n = NULL;
	uint8_t nb[1024];
	char n64[1400], *out;
	int len;

	cr_assert_not_null(pk);
	cr_assert(EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_RSA_N, &n));
	len = BN_bn2bin(n, nb);
	cr_assert_geq(atr_b64url_encode(nb, (size_t)len, n64, sizeof(n64)),
	    0);
	out = malloc(4096);
	cr_assert_not_null(out);
	snprintf(out, 4096, "{\"key\":{\"kid\":\"https://myvault.vault.azure.net"
	    "/keys/CreateSoftKeyTest/78deebed173b48e48f55abf87ed4cf71\","
	    "\"kty\":\"RSA\",\"key_ops\":[\"encrypt\",\"decrypt\",\"wrapKey\","
	    "\"unwrapKey\"],\"n\":\"%s\",\"e\":\"AQAB\"},\"attributes\":{"
	    "\"enabled\":true,\"created\":1493942451,\"updated\":1493942452,"
	    "\"recoveryLevel\":\"Recoverable+Purgeable\"%s},\"tags\":{\"purpose\":"
	    "\"unit test\"}}", n64, extra_attr);
	BN_free(n);
	EVP_PKEY_free(pk);
	return out;
}

Test(kv_bundle, official_example_shape)
{
	struct atr_kv_key k;
	char *j = rsa_bundle(3072, ",\"nbf\":1700000000,\"exp\":1800000000,"
	    "\"recoverableDays\":90");

	cr_assert_eq(atr_kv_key_from_json(j, strlen(j), &k), ATR_OK, "%s",
	    atr_detail());
	cr_assert_str_eq(k.kid, "https://myvault.vault.azure.net/keys/"
	    "CreateSoftKeyTest/78deebed173b48e48f55abf87ed4cf71");
	cr_assert_str_eq(k.name, "CreateSoftKeyTest");
	cr_assert_str_eq(k.version, "78deebed173b48e48f55abf87ed4cf71");
	cr_assert_str_eq(k.kty, "RSA");
	cr_assert_eq(k.bits, 3072);
	cr_assert(k.key_ops_present);
	cr_assert_eq(k.key_ops, ATR_JWK_ENCRYPT | ATR_JWK_DECRYPT |
	    ATR_JWK_WRAP | ATR_JWK_UNWRAP);
	cr_assert_eq(k.enabled, 1);
	cr_assert(k.has_nbf && k.has_exp);
	cr_assert_eq(k.nbf, 1700000000);
	cr_assert_eq(k.exp, 1800000000);
	cr_assert_eq(k.created, 1493942451);
	cr_assert_eq(k.updated, 1493942452);
	cr_assert_str_eq(k.recovery_level, "Recoverable+Purgeable");
	cr_assert_eq(k.recoverable_days, 90);
	cr_assert_eq(k.e_len, 3);
	free(j);
}

Test(kv_bundle, items_deleted_and_errors)
{
	struct atr_kv_key k;
	static const char item[] = "{\"kid\":\"https://v/keys/k/0123abc\","
	    "\"attributes\":{\"enabled\":false,\"created\":1,\"updated\":2}}";
	static const char del[] = "{\"recoveryId\":\"https://v/deletedkeys/k\","
	    "\"deletedDate\":1493938433,\"scheduledPurgeDate\":1501714433,"
	    "\"key\":{\"kid\":\"https://v/keys/k/0123abc\",\"kty\":\"oct-HSM\","
	    "\"key_size\":256},\"attributes\":{\"enabled\":true}}";
	static const char *const bad[] = {
		"",
		"[]",
		"{\"attributes\":{}}",                               /* no kid */
		"{\"kid\":\"https://v/keys/k\"}",                    /* versionless */
		"{\"kid\":\"http://v/keys/k/1\"}",                   /* not https */
		"{\"key\":{\"kid\":\"https://v/keys/k/1\",\"n\":\"*\"}}",
	};
	size_t i;

	cr_assert_eq(atr_kv_key_from_json(item, strlen(item), &k), ATR_OK);
	cr_assert_eq(k.enabled, 0);
	cr_assert_eq(k.key_ops_present, 0);
	cr_assert_str_eq(k.version, "0123abc");
	cr_assert_eq(atr_kv_key_from_json(del, strlen(del), &k), ATR_OK);
	cr_assert_str_eq(k.recovery_id, "https://v/deletedkeys/k");
	cr_assert_eq(k.deleted_date, 1493938433);
	cr_assert_eq(k.scheduled_purge_date, 1501714433);
	cr_assert_str_eq(k.kty, "oct-HSM");
	cr_assert_eq(k.bits, 256);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(atr_kv_key_from_json(bad[i], strlen(bad[i]), &k),
		    ATR_ERR_BAD_RESPONSE, "accepted '%s'", bad[i]);
}

Test(kv_bundle, bits_ops_and_algs)
{
	unsigned m = 0;
	enum atr_wrap_alg a;

	cr_assert_eq(atr_kv_bits_of((const uint8_t *)"\x00\x80", 2), 8);
	cr_assert_eq(atr_kv_bits_of((const uint8_t *)"\x01\x00", 2), 9);
	cr_assert_eq(atr_kv_bits_of((const uint8_t *)"\x00", 1), 0);
	cr_assert_eq(atr_kv_ops_parse_list("wrapKey,unwrapkey", &m), 0);
	cr_assert_eq(m, ATR_JWK_WRAP | ATR_JWK_UNWRAP);
	cr_assert_eq(atr_kv_ops_parse_list("wrapKey,frobnicate", &m), -1);
	cr_assert_str_eq(atr_jwk_op_name(ATR_JWK_UNWRAP), "unwrapKey");
	cr_assert_eq(atr_kv_alg_parse("RSA-OAEP", &a), 0);
	cr_assert_eq(a, ATR_WRAP_RSA_OAEP_SHA1);
	cr_assert_eq(atr_kv_alg_parse("RSA1_5", &a), -1);
	cr_assert_str_eq(atr_kv_alg_for(ATR_WRAP_RSA_OAEP_256), "RSA-OAEP-256");
	cr_assert_str_eq(atr_kv_alg_for(ATR_WRAP_AES_KW), "A256KW");
	cr_assert_null(atr_kv_alg_for(ATR_WRAP_AES_KWP));
}

/* ---- clients without a vault ---- */

Test(kv_client, bad_configuration)
{
	struct atr_kv_client *c = (struct atr_kv_client *)1;
	struct atr_kv_opts o = {.max_retries = -1};

	cr_assert_eq(atr_kv_client_new("http://v", NULL, &c), ATR_ERR_CONFIG);
	cr_assert_null(c);
	o.ca_file = "/nonexistent/ca.pem";
	cr_assert_eq(atr_kv_client_new("https://v", &o, &c), ATR_ERR_CONFIG);
	cr_assert(strstr(atr_detail(), "/nonexistent/ca.pem") != NULL);
	o.ca_file = NULL;
	o.api_version = "7.4&x=1";
	cr_assert_eq(atr_kv_client_new("https://v", &o, &c), ATR_ERR_CONFIG);
	o.api_version = NULL;
	cr_assert_eq(atr_kv_client_new("https://v:1/keys/k/abc", &o, &c),
	    ATR_OK);
	cr_assert_str_eq(atr_kv_client_origin(c), "https://v:1");
	cr_assert_str_eq(atr_kv_client_hostport(c), "v:1");
	atr_kv_client_free(c);
	/* Key names are checked before anything is sent. */
	cr_assert_eq(atr_kv_client_new("https://v:1", &o, &c), ATR_OK);
	{
		struct atr_kv_key k;

		cr_assert_eq(atr_kv_get_key(c, "bad/name", NULL, &k),
		    ATR_ERR_USAGE);
		cr_assert_eq(atr_kv_get_key(c, "ok", "v/1", &k), ATR_ERR_USAGE);
	}
	atr_kv_client_free(c);
}

/* A port with nothing listening (bound, then closed). */
static int
closed_port(void)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	cr_assert_geq(fd, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
	close(fd);
	return ntohs(sa.sin_port);
}

Test(kv_client, connection_refused_is_retried_then_reported)
{
	struct atr_kv_opts o = {.max_retries = 3, .backoff_ms = 1,
	    .max_backoff_ms = 5};
	struct atr_kv_client *c;
	struct atr_kv_key k;
	struct atr_kv_call call;
	struct atr_kv_stats st;
	char url[64];
	int port = closed_port();

	unsetenv("ATREST_CA_FILE");
	snprintf(url, sizeof(url), "https://127.0.0.1:%d", port);
	cr_assert_eq(atr_kv_client_new(url, &o, &c), ATR_OK);
	atr_kv_stats_reset();
	cr_assert_eq(atr_kv_get_key(c, "cmk", NULL, &k), ATR_ERR_NETWORK);
	cr_assert(strstr(atr_detail(), "cannot connect") != NULL, "%s",
	    atr_detail());
	cr_assert(strstr(atr_detail(), "(after 4 attempts)") != NULL, "%s",
	    atr_detail());
	atr_kv_last_call(&call);
	cr_assert_eq(call.attempts, 4);
	cr_assert_eq(call.retries, 3);
	cr_assert_eq(call.err, ATR_ERR_NETWORK);
	atr_kv_stats_get(&st);
	cr_assert_eq(st.calls[ATR_KV_CALL_GET], 1);
	cr_assert_eq(st.failures[ATR_KV_CALL_GET], 1);
	cr_assert_eq(st.attempts, 4);
	atr_kv_client_free(c);
	atr_kv_thread_cleanup();
}

/* A peer that accepts TCP and never answers: the TLS handshake stalls. */
Test(kv_client, silent_peer_times_out)
{
	struct atr_kv_opts o = {.max_retries = 1, .backoff_ms = 1,
	    .timeout_ms = 200, .connect_timeout_ms = 200};
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	struct atr_kv_client *c;
	struct atr_kv_key k;
	struct atr_kv_call call;
	char url[64];
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	cr_assert_geq(fd, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(listen(fd, 8), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
	snprintf(url, sizeof(url), "https://127.0.0.1:%d", ntohs(sa.sin_port));
	cr_assert_eq(atr_kv_client_new(url, &o, &c), ATR_OK);
	cr_assert_eq(atr_kv_get_key(c, "cmk", NULL, &k), ATR_ERR_TIMEOUT,
	    "%s", atr_detail());
	cr_assert(strstr(atr_detail(), "did not answer in time") != NULL, "%s",
	    atr_detail());
	atr_kv_last_call(&call);
	cr_assert_eq(call.attempts, 2);
	atr_kv_client_free(c);
	close(fd);
}

/* ------------------------------------------------------------------ */
/* Part 3: against the loopback server, in-process on port 0.         */

#include <curl/curl.h>

#include "kv_mint.h"
#include "kv_server.h"
#include "testutil.h"
#include "provider_azure.h"
#include "jwk.h"
#include "codec.h"

/* kv_client.h and kv_server.h name the four crypto operations alike. */
_Static_assert(ATR_JWK_ENCRYPT == ATR_JWK_ENCRYPT &&
    ATR_JWK_DECRYPT == ATR_JWK_DECRYPT &&
    ATR_JWK_WRAP == ATR_JWK_WRAP &&
    ATR_JWK_UNWRAP == ATR_JWK_UNWRAP, "key_ops bits differ");

static struct atr_kv_server *srv;
static char *srv_dir;
static char srv_url[128];

/*
 * Starts a server (token validation on, as a real vault) and points the
 * client at it with client credentials: the full challenge + Entra ID
 * flow runs in every test unless the test changes it.
 */
static void
srv_start_with(int allow_oct, const char *faults)
{
	struct atr_kv_server_opts o;
	uint8_t *secret;
	size_t n;

	srv_dir = tu_tmpdir("kvc");
	cr_assert_not_null(srv_dir);
	atr_kv_server_opts_init(&o);
	o.listen = "127.0.0.1:0";
	o.state_dir = srv_dir;
	o.token_mode = ATR_KV_TOKEN_VALIDATE;
	o.allow_oct = allow_oct;
	o.faults = faults;
	o.admin = 1;
	/* The system-assigned identity of the managed identity tests. */
	o.managed_identity = "2f4d7e0a-6b1c-4c8e-9a35-0d1e2f3a4b5c";
	cr_assert_eq(atr_kv_server_start(&o, &srv), ATR_OK, "server: %s",
	    atr_detail());
	snprintf(srv_url, sizeof(srv_url), "%s", atr_kv_server_url(srv));
	secret = tu_read_file(atr_kv_server_client_secret_path(srv), &n);
	cr_assert_not_null(secret);
	while (n > 0 && (secret[n - 1] == '\n' || secret[n - 1] == '\r'))
		secret[--n] = '\0';
	setenv("ATREST_CA_FILE", atr_kv_server_ca_path(srv), 1);
	setenv("AZURE_AUTHORITY_HOST", srv_url, 1);
	setenv("AZURE_TENANT_ID", atr_kv_server_tenant(srv), 1);
	setenv("AZURE_CLIENT_ID", atr_kv_server_client_id(srv), 1);
	setenv("AZURE_CLIENT_SECRET", (char *)secret, 1);
	atr_memzero(secret, n);
	free(secret);
	unsetenv("ATREST_AZURE_TOKEN");
	unsetenv("ATREST_IMDS_ENDPOINT");
	unsetenv("IDENTITY_ENDPOINT");
	unsetenv("ATREST_KV_MAX_RETRIES");
	/* Keep retry delays small; Retry-After is capped by the maximum. */
	setenv("ATREST_KV_BACKOFF_MS", "1", 1);
	setenv("ATREST_KV_MAX_BACKOFF_MS", "20", 1);
	atr_kv_cache_clear();
	atr_kv_stats_reset();
}

static void
srv_start(void)
{
	srv_start_with(0, NULL);
}

/* The pid file of an nghttpx front end a test started (HTTP/2 test):
 * stopped here, so that a failed assertion does not leave it running. */
static char h2_pidf[PATH_MAX];

static void
h2_stop(void)
{
	char *pid_s;

	if (h2_pidf[0] == '\0')
		return;
	pid_s = (char *)tu_read_file(h2_pidf, NULL);
	if (pid_s != NULL && strtol(pid_s, NULL, 10) > 1)
		kill((pid_t)strtol(pid_s, NULL, 10), SIGTERM);
	free(pid_s);
	h2_pidf[0] = '\0';
}

static void
srv_stop(void)
{
	h2_stop();
	atr_kv_thread_cleanup();
	atr_kv_cache_clear();
	atr_kv_server_stop(srv);
	srv = NULL;
	if (srv_dir != NULL) {
		tu_rmtree(srv_dir);
		free(srv_dir);
		srv_dir = NULL;
	}
}

static struct atr_kv_client *
client(void)
{
	struct atr_kv_client *c;

	cr_assert_eq(atr_kv_client_new(srv_url, NULL, &c), ATR_OK, "%s",
	    atr_detail());
	return c;
}

/* Creates NAME (RSA-2048 unless kty/size say otherwise). */
static void
make_key(const char *name, const char *kty, unsigned size, unsigned ops,
    struct atr_kv_key *out)
{
	struct atr_kv_client *c = client();
	struct atr_kv_create p = {.kty = kty, .size = size ? size : 2048,
	    .key_ops = ops};
	struct atr_kv_key k;

	cr_assert_eq(atr_kv_create_key(c, name, &p, out != NULL ? out : &k),
	    ATR_OK, "create %s: %s", name, atr_detail());
	atr_kv_client_free(c);
}

static char *
key_uri(const char *name, const char *version)
{
	char *u = malloc(ATR_URI_MAX);

	cr_assert_not_null(u);
	snprintf(u, ATR_URI_MAX, "%s/keys/%s%s%s", srv_url, name,
	    version != NULL ? "/" : "", version != NULL ? version : "");
	return u;
}

static struct atr_key *
open_key(const char *uri, const struct atr_key_opts *o)
{
	struct atr_key *k;

	cr_assert_eq(atr_key_open(uri, o, &k), ATR_OK, "open %s: %s", uri,
	    atr_detail());
	return k;
}

/* Wraps 64 random bytes; returns the wrapped length. */
static size_t
wrap64(struct atr_key *k, uint8_t pt[64], uint8_t *ct, size_t cap)
{
	size_t n = cap;

	cr_assert_eq(atr_random(pt, 64), ATR_OK);
	cr_assert_eq(k->ops->wrap(k, pt, 64, ct, &n), ATR_OK, "wrap: %s",
	    atr_detail());
	return n;
}

static enum atr_err
unwrap(struct atr_key *k, const char *kid, const uint8_t *ct, size_t n,
    uint8_t out[ATR_WRAPPED_MAX], size_t *out_len)
{
	*out_len = ATR_WRAPPED_MAX;
	return k->ops->unwrap(k, kid, k->alg, ct, n, out, out_len);
}

static size_t
discard(char *p, size_t size, size_t n, void *ud)
{
	(void)p;
	(void)ud;
	return size * n;
}

/* POST to the server's admin endpoint (not part of the client API). */
static void
admin_post(const char *path, const char *json)
{
	CURL *h = curl_easy_init();
	struct curl_slist *hl = NULL;
	char url[256], hdr[200];
	uint8_t *tok;
	size_t n;
	long st = 0;

	cr_assert_not_null(h);
	snprintf(url, sizeof(url), "%s%s", srv_url, path);
	tok = tu_read_file(atr_kv_server_admin_token_path(srv), &n);
	cr_assert_not_null(tok);
	snprintf(hdr, sizeof(hdr), "x-atrest-admin: %.*s", (int)n, (char *)tok);
	free(tok);
	hl = curl_slist_append(hl, "Content-Type: application/json");
	hl = curl_slist_append(hl, hdr);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_CAINFO, atr_kv_server_ca_path(srv));
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, json);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
	cr_assert_eq(curl_easy_perform(h), CURLE_OK);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &st);
	cr_assert_eq(st, 200, "admin %s: HTTP %ld", path, st);
	curl_slist_free_all(hl);
	curl_easy_cleanup(h);
}

TestSuite(kv_vault, .init = srv_start, .fini = srv_stop, .timeout = 60);

Test(kv_vault, provider_round_trip_versionless)
{
	struct atr_kv_key made;
	struct atr_key *k;
	uint8_t pt[64], ct[ATR_WRAPPED_MAX], back[ATR_WRAPPED_MAX];
	size_t n, bn;
	char *uri, desc[160];

	make_key("cmk", "RSA", 3072, 0, &made);
	uri = key_uri("cmk", NULL);
	k = open_key(uri, NULL);
	cr_assert_eq(k->provider, ATR_PROV_AZURE_KV);
	cr_assert_eq(k->alg, ATR_WRAP_RSA_OAEP_256);
	cr_assert_eq(k->bits, 3072);
	cr_assert_eq(k->customer_managed, 1);
	cr_assert(k->can_wrap && k->can_unwrap);
	/* The versioned kid as the vault reported it. */
	cr_assert_str_eq(k->key_id, made.kid);
	cr_assert_str_eq(k->uri, uri);
	snprintf(desc, sizeof(desc), "RSA-3072 Key Vault key (vault %s, key cmk)",
	    srv_url + 8);
	cr_assert_str_eq(k->desc, desc);

	n = wrap64(k, pt, ct, sizeof(ct));
	cr_assert_eq(n, 384);
	cr_assert_eq(unwrap(k, k->key_id, ct, n, back, &bn), ATR_OK, "%s",
	    atr_detail());
	cr_assert_eq(bn, 64);
	cr_assert_arr_eq(back, pt, 64);
	/* RSA-OAEP-256 really was used: unwrapping as RSA-OAEP fails. */
	bn = sizeof(back);
	cr_assert_eq(k->ops->unwrap(k, k->key_id, ATR_WRAP_RSA_OAEP_SHA1, ct, n,
	    back, &bn), ATR_ERR_AUTH);
	cr_assert_eq(bn, 0);
	cr_assert(tu_all_zero(back, sizeof(back)));
	/* A corrupted wrapped key does not unwrap, and nothing leaks out. */
	ct[n / 2] ^= 1;
	cr_assert_eq(unwrap(k, k->key_id, ct, n, back, &bn), ATR_ERR_AUTH);
	cr_assert_eq(bn, 0);
	atr_key_free(k);
	free(uri);
}

Test(kv_vault, matches_versioned_and_versionless)
{
	struct atr_kv_key v1, v2;
	struct atr_key *any, *one;
	char *u_any, *u_one, other[512], upper[ATR_KEYID_MAX + 1];
	size_t i;

	make_key("cmk", NULL, 0, 0, &v1);
	make_key("cmk", NULL, 0, 0, &v2);   /* create again: a new version */
	cr_assert_str_neq(v1.version, v2.version);
	u_any = key_uri("cmk", NULL);
	u_one = key_uri("cmk", v1.version);
	any = open_key(u_any, NULL);
	one = open_key(u_one, NULL);
	/* Versionless resolves to the current version for wrapping. */
	cr_assert_str_eq(any->key_id, v2.kid);
	cr_assert_str_eq(one->key_id, v1.kid);

	cr_assert(any->ops->matches(any, ATR_PROV_AZURE_KV, v1.kid));
	cr_assert(any->ops->matches(any, ATR_PROV_AZURE_KV, v2.kid));
	cr_assert(one->ops->matches(one, ATR_PROV_AZURE_KV, v1.kid));
	cr_assert_not(one->ops->matches(one, ATR_PROV_AZURE_KV, v2.kid));
	/* Wrong provider type, versionless or foreign ids never match. */
	cr_assert_not(any->ops->matches(any, ATR_PROV_FILE_RSA, v1.kid));
	cr_assert_not(any->ops->matches(any, ATR_PROV_AZURE_KV, u_any));
	snprintf(other, sizeof(other), "%s/keys/cmk2/%s", srv_url, v1.version);
	cr_assert_not(any->ops->matches(any, ATR_PROV_AZURE_KV, other));
	snprintf(other, sizeof(other), "https://127.0.0.2:%u/keys/cmk/%s",
	    atr_kv_server_port(srv), v1.version);
	cr_assert_not(any->ops->matches(any, ATR_PROV_AZURE_KV, other));
	cr_assert_not(any->ops->matches(any, ATR_PROV_AZURE_KV, "garbage"));
	/* Identifiers compare without regard to case. */
	snprintf(upper, sizeof(upper), "%s", v1.kid);
	for (i = strlen(srv_url); upper[i] != '\0'; i++)
		if (upper[i] >= 'a' && upper[i] <= 'z')
			upper[i] = (char)(upper[i] - 'a' + 'A');
	cr_assert(one->ops->matches(one, ATR_PROV_AZURE_KV, upper));
	atr_key_free(any);
	atr_key_free(one);
	free(u_any);
	free(u_one);
}

Test(kv_vault, rotate_new_wraps_use_new_version_old_still_unwrap)
{
	struct atr_kv_client *c;
	struct atr_kv_key v1, v2;
	struct atr_key *k, *k2, *pinned;
	uint8_t pt1[64], pt2[64], ct1[512], ct2[512], back[ATR_WRAPPED_MAX];
	size_t n1, n2, bn;
	char *uri, *u_v2, stanza1[ATR_KEYID_MAX + 1];

	make_key("cmk", NULL, 0, 0, &v1);
	uri = key_uri("cmk", NULL);
	k = open_key(uri, NULL);
	n1 = wrap64(k, pt1, ct1, sizeof(ct1));
	snprintf(stanza1, sizeof(stanza1), "%s", k->key_id);
	cr_assert_str_eq(stanza1, v1.kid);

	c = client();
	cr_assert_eq(atr_kv_rotate_key(c, "cmk", &v2), ATR_OK, "%s",
	    atr_detail());
	cr_assert_str_neq(v2.version, v1.version);
	atr_kv_client_free(c);

	k2 = open_key(uri, NULL);
	cr_assert_str_eq(k2->key_id, v2.kid);
	n2 = wrap64(k2, pt2, ct2, sizeof(ct2));
	/* Old stanzas still unwrap through the versionless key... */
	cr_assert(k2->ops->matches(k2, ATR_PROV_AZURE_KV, stanza1));
	cr_assert_eq(unwrap(k2, stanza1, ct1, n1, back, &bn), ATR_OK, "%s",
	    atr_detail());
	cr_assert_arr_eq(back, pt1, 64);
	cr_assert_eq(unwrap(k2, k2->key_id, ct2, n2, back, &bn), ATR_OK);
	cr_assert_arr_eq(back, pt2, 64);
	/* ...and the new version cannot open what the old one wrapped. */
	cr_assert_eq(unwrap(k2, k2->key_id, ct1, n1, back, &bn), ATR_ERR_AUTH);
	/* A key pinned to v2 does not claim v1 stanzas at all. */
	u_v2 = key_uri("cmk", v2.version);
	pinned = open_key(u_v2, NULL);
	cr_assert_not(pinned->ops->matches(pinned, ATR_PROV_AZURE_KV, stanza1));
	cr_assert_eq(unwrap(pinned, stanza1, ct1, n1, back, &bn),
	    ATR_ERR_NOKEY);
	atr_key_free(k);
	atr_key_free(k2);
	atr_key_free(pinned);
	free(uri);
	free(u_v2);
}

Test(kv_vault, disabled_key_then_enabled)
{
	struct atr_kv_client *c;
	struct atr_kv_update u = {.set_enabled = 1, .enabled = 0};
	struct atr_kv_key v1, upd, info;
	struct atr_key *k;
	uint8_t pt[64], ct[512], back[ATR_WRAPPED_MAX];
	size_t n, bn;
	char *uri;

	make_key("cmk", NULL, 0, 0, &v1);
	uri = key_uri("cmk", NULL);
	k = open_key(uri, NULL);
	n = wrap64(k, pt, ct, sizeof(ct));
	c = client();
	cr_assert_eq(atr_kv_update_key(c, "cmk", v1.version, &u, &upd), ATR_OK,
	    "%s", atr_detail());
	cr_assert_eq(upd.enabled, 0);

	memset(back, 0xaa, sizeof(back));
	cr_assert_eq(unwrap(k, k->key_id, ct, n, back, &bn), ATR_ERR_DISABLED);
	cr_assert_eq(bn, 0);
	cr_assert(tu_all_zero(back, sizeof(back)));
	cr_assert(strstr(atr_detail(), "KeyDisabled") != NULL, "%s",
	    atr_detail());
	cr_assert(strstr(atr_detail(), "disabled key") != NULL, "%s",
	    atr_detail());
	cr_assert(strstr(atr_detail(), "unwrapkey with") != NULL, "%s",
	    atr_detail());
	/* Wrapping is refused too (the server's default switch). */
	bn = sizeof(back);
	cr_assert_eq(k->ops->wrap(k, pt, 64, back, &bn), ATR_ERR_DISABLED);
	/* The attributes say so. */
	cr_assert_eq(atr_kv_key_info(k, 1, &info), ATR_OK, "%s", atr_detail());
	cr_assert_eq(info.enabled, 0);

	u.enabled = 1;
	cr_assert_eq(atr_kv_update_key(c, "cmk", v1.version, &u, &upd), ATR_OK);
	cr_assert_eq(unwrap(k, k->key_id, ct, n, back, &bn), ATR_OK, "%s",
	    atr_detail());
	cr_assert_arr_eq(back, pt, 64);
	cr_assert_eq(atr_kv_key_info(k, 1, &info), ATR_OK);
	cr_assert_eq(info.enabled, 1);
	atr_kv_client_free(c);
	atr_key_free(k);
	free(uri);
}

Test(kv_vault, key_not_found)
{
	struct atr_key *k = NULL;
	struct atr_kv_key v1;
	char *uri = key_uri("nokey", NULL), *uv;

	cr_assert_eq(atr_key_open(uri, NULL, &k), ATR_ERR_NOT_FOUND);
	cr_assert_null(k);
	cr_assert(strstr(atr_detail(), "KeyNotFound") != NULL, "%s",
	    atr_detail());
	cr_assert(strstr(atr_detail(), "nokey") != NULL, "%s", atr_detail());
	/* An existing key with a version it never had. */
	make_key("cmk", NULL, 0, 0, &v1);
	uv = key_uri("cmk", "0123456789abcdef0123456789abcdef");
	cr_assert_eq(atr_key_open(uv, NULL, &k), ATR_ERR_NOT_FOUND, "%s",
	    atr_detail());
	free(uri);
	free(uv);
}

Test(kv_vault, forbidden_key_ops)
{
	struct atr_key *wo, *uo;
	uint8_t pt[64], ct[512], back[ATR_WRAPPED_MAX];
	size_t n, bn;
	char *u1, *u2;

	make_key("wraponly", NULL, 0, ATR_JWK_WRAP, NULL);
	make_key("unwraponly", NULL, 0, ATR_JWK_UNWRAP, NULL);
	u1 = key_uri("wraponly", NULL);
	u2 = key_uri("unwraponly", NULL);
	wo = open_key(u1, NULL);
	uo = open_key(u2, NULL);
	cr_assert(wo->can_wrap && !wo->can_unwrap);
	cr_assert(!uo->can_wrap && uo->can_unwrap);
	n = wrap64(wo, pt, ct, sizeof(ct));
	cr_assert_eq(unwrap(wo, wo->key_id, ct, n, back, &bn),
	    ATR_ERR_FORBIDDEN);
	cr_assert(strstr(atr_detail(), "KeyOperationForbidden") != NULL, "%s",
	    atr_detail());
	bn = sizeof(back);
	cr_assert_eq(uo->ops->wrap(uo, pt, 64, back, &bn), ATR_ERR_FORBIDDEN);
	atr_key_free(wo);
	atr_key_free(uo);
	free(u1);
	free(u2);
}

Test(kv_vault, client_management_operations)
{
	struct atr_kv_client *c = client();
	struct atr_kv_create p = {.kty = "RSA", .size = 2048,
	    .key_ops = ATR_JWK_WRAP | ATR_JWK_UNWRAP,
	    .exp = 4102444800LL};
	struct atr_kv_update u = {.set_key_ops = 1, .key_ops =
	    ATR_JWK_WRAP, .set_nbf = 1, .nbf = 1700000000};
	struct atr_kv_key k, r1, r2, got, del, *items;
	size_t n, i;

	cr_assert_eq(atr_kv_create_key(c, "mgmt", &p, &k), ATR_OK, "%s",
	    atr_detail());
	cr_assert_str_eq(k.kty, "RSA");
	cr_assert_eq(k.bits, 2048);
	cr_assert_eq(k.key_ops, ATR_JWK_WRAP | ATR_JWK_UNWRAP);
	cr_assert(k.has_exp);
	cr_assert_eq(k.exp, 4102444800LL);
	cr_assert_eq(k.enabled, 1);
	cr_assert_neq(k.recovery_level[0], '\0');

	cr_assert_eq(atr_kv_update_key(c, "mgmt", NULL, &u, &got), ATR_OK,
	    "%s", atr_detail());
	cr_assert_str_eq(got.version, k.version);
	cr_assert_eq(got.key_ops, ATR_JWK_WRAP);
	cr_assert(got.has_nbf);
	cr_assert_eq(got.nbf, 1700000000);

	cr_assert_eq(atr_kv_rotate_key(c, "mgmt", &r1), ATR_OK, "%s",
	    atr_detail());
	cr_assert_eq(atr_kv_rotate_key(c, "mgmt", &r2), ATR_OK);
	cr_assert_eq(atr_kv_get_key(c, "mgmt", NULL, &got), ATR_OK);
	cr_assert_str_eq(got.kid, r2.kid);
	cr_assert_eq(atr_kv_get_key(c, "MGMT", k.version, &got), ATR_OK);
	cr_assert_str_eq(got.version, k.version);

	cr_assert_eq(atr_kv_list_versions(c, "mgmt", &items, &n), ATR_OK, "%s",
	    atr_detail());
	cr_assert_eq(n, 3);
	for (i = 0; i < n; i++)
		cr_assert(strcmp(items[i].version, k.version) == 0 ||
		    strcmp(items[i].version, r1.version) == 0 ||
		    strcmp(items[i].version, r2.version) == 0);
	free(items);

	cr_assert_eq(atr_kv_delete_key(c, "mgmt", &del), ATR_OK, "%s",
	    atr_detail());
	cr_assert(strstr(del.recovery_id, "/deletedkeys/mgmt") != NULL);
	cr_assert_gt(del.scheduled_purge_date, del.deleted_date);
	cr_assert_eq(atr_kv_get_key(c, "mgmt", NULL, &got), ATR_ERR_NOT_FOUND);
	cr_assert_eq(atr_kv_get_deleted_key(c, "mgmt", &got), ATR_OK);
	/* A soft-deleted name cannot be created again. */
	cr_assert_eq(atr_kv_create_key(c, "mgmt", &p, &got), ATR_ERR_CONFLICT,
	    "%s", atr_detail());
	cr_assert_eq(atr_kv_recover_key(c, "mgmt", &got), ATR_OK, "%s",
	    atr_detail());
	cr_assert_eq(atr_kv_get_key(c, "mgmt", NULL, &got), ATR_OK);
	cr_assert_str_eq(got.kid, r2.kid);
	cr_assert_eq(atr_kv_delete_key(c, "mgmt", &del), ATR_OK);
	cr_assert_eq(atr_kv_purge_key(c, "mgmt"), ATR_OK, "%s", atr_detail());
	cr_assert_eq(atr_kv_get_deleted_key(c, "mgmt", &got), ATR_ERR_NOT_FOUND);
	cr_assert_eq(atr_kv_purge_key(c, "mgmt"), ATR_ERR_NOT_FOUND);
	/* The service rejects what the client passes through. */
	p.kty = "EC-bogus";
	cr_assert_eq(atr_kv_create_key(c, "bad", &p, &got), ATR_ERR_CONFIG,
	    "%s", atr_detail());
	cr_assert(strstr(atr_detail(), "HTTP 400") != NULL, "%s", atr_detail());
	atr_kv_client_free(c);
}

Test(kv_vault, rsa_oaep_sha1_by_option)
{
	struct atr_key_opts o = {.max_retries = -1, .wrap_alg = "RSA-OAEP"};
	struct atr_key *k, *bad = NULL;
	uint8_t pt[64], ct[512], back[ATR_WRAPPED_MAX];
	size_t n, bn;
	char *uri;

	make_key("cmk", NULL, 0, 0, NULL);
	uri = key_uri("cmk", NULL);
	k = open_key(uri, &o);
	cr_assert_eq(k->alg, ATR_WRAP_RSA_OAEP_SHA1);
	n = wrap64(k, pt, ct, sizeof(ct));
	cr_assert_eq(unwrap(k, k->key_id, ct, n, back, &bn), ATR_OK);
	cr_assert_arr_eq(back, pt, 64);
	bn = sizeof(back);
	cr_assert_eq(k->ops->unwrap(k, k->key_id, ATR_WRAP_RSA_OAEP_256, ct, n,
	    back, &bn), ATR_ERR_AUTH);
	o.wrap_alg = "A256KW";
	cr_assert_eq(atr_key_open(uri, &o, &bad), ATR_ERR_CONFIG);
	cr_assert_null(bad);
	atr_key_free(k);
	free(uri);
}

Test(kv_vault, oct_hsm_a256kw)
{
	struct atr_key *k;
	uint8_t pt[64], ct[512], back[ATR_WRAPPED_MAX];
	size_t n, bn;
	char *uri;

	srv_stop();
	srv_start_with(1, NULL);
	make_key("hsmkey", "oct-HSM", 256, 0, NULL);
	uri = key_uri("hsmkey", NULL);
	k = open_key(uri, NULL);
	cr_assert_eq(k->alg, ATR_WRAP_AES_KW);
	cr_assert_eq(k->bits, 256);
	cr_assert(strstr(k->desc, "oct-HSM-256 Key Vault key") != NULL, "%s",
	    k->desc);
	n = wrap64(k, pt, ct, sizeof(ct));
	cr_assert_eq(n, 72);   /* RFC 3394: n + 8 */
	cr_assert_eq(unwrap(k, k->key_id, ct, n, back, &bn), ATR_OK, "%s",
	    atr_detail());
	cr_assert_eq(bn, 64);
	cr_assert_arr_eq(back, pt, 64);
	ct[0] ^= 1;
	cr_assert_eq(unwrap(k, k->key_id, ct, n, back, &bn), ATR_ERR_AUTH);
	atr_key_free(k);
	free(uri);
}

/* ---- authentication ---- */

Test(kv_vault, client_credentials_token_cached)
{
	struct atr_kv_client *c;
	struct atr_kv_key k;
	struct atr_kv_call call;
	struct atr_kv_stats st;
	struct atr_kv_server_stats ss;

	make_key("cmk", NULL, 0, 0, NULL);
	atr_kv_cache_clear();
	atr_kv_stats_reset();
	c = client();
	cr_assert_eq(atr_kv_get_key(c, "cmk", NULL, &k), ATR_OK, "%s",
	    atr_detail());
	atr_kv_last_call(&call);
	/* Challenge, then the request with a fresh token. */
	cr_assert_eq(call.attempts, 2);
	cr_assert_eq(call.token_fetches, 1);
	cr_assert_eq(call.status, 200);
	cr_assert_eq(atr_kv_get_key(c, "cmk", NULL, &k), ATR_OK);
	atr_kv_last_call(&call);
	cr_assert_eq(call.attempts, 1);
	cr_assert_eq(call.token_fetches, 0);
	atr_kv_stats_get(&st);
	cr_assert_eq(st.token_fetches, 1);
	cr_assert_eq(st.challenges, 1);
	cr_assert_eq(st.calls[ATR_KV_CALL_GET], 2);
	atr_kv_server_get_stats(srv, &ss);
	cr_assert_geq(ss.tokens_issued, 1);
	atr_kv_client_free(c);
}

Test(kv_vault, client_credentials_wrong_secret)
{
	struct atr_key *k = NULL;
	char *uri;

	make_key("cmk", NULL, 0, 0, NULL);
	atr_kv_cache_clear();
	setenv("AZURE_CLIENT_SECRET", "not-the-secret", 1);
	uri = key_uri("cmk", NULL);
	cr_assert_eq(atr_key_open(uri, NULL, &k), ATR_ERR_UNAUTHORIZED);
	cr_assert(strstr(atr_detail(), "token endpoint") != NULL, "%s",
	    atr_detail());
	cr_assert(strstr(atr_detail(), "invalid_client") != NULL, "%s",
	    atr_detail());
	cr_assert_null(strstr(atr_detail(), "not-the-secret"));
	/* A non-TLS authority is refused before the secret is sent. */
	setenv("AZURE_AUTHORITY_HOST", "http://127.0.0.1:1", 1);
	cr_assert_eq(atr_key_open(uri, NULL, &k), ATR_ERR_CONFIG);
	cr_assert(strstr(atr_detail(), "AZURE_AUTHORITY_HOST") != NULL);
	free(uri);
}

Test(kv_vault, static_token_from_env)
{
	struct atr_kv_client *c;
	struct atr_kv_key k;
	struct atr_kv_call call;
	char tok[4096];

	make_key("cmk", NULL, 0, 0, NULL);
	atr_kv_cache_clear();
	unsetenv("AZURE_CLIENT_SECRET");
	setenv("ATREST_AZURE_CREDENTIAL", "token", 1);
	cr_assert_eq(tl_kv_mint_token(srv, atr_kv_server_client_id(srv),
	    NULL, 3600, tok, sizeof(tok)), ATR_OK);
	setenv("ATREST_AZURE_TOKEN", tok, 1);
	c = client();
	cr_assert_eq(atr_kv_get_key(c, "cmk", NULL, &k), ATR_OK, "%s",
	    atr_detail());
	atr_kv_last_call(&call);
	cr_assert_eq(call.token_fetches, 0);
	/* A token for another audience: 401 with the service's reason, and
	 * no refresh attempt (there is nothing to refresh). */
	cr_assert_eq(tl_kv_mint_token(srv, atr_kv_server_client_id(srv),
	    "https://management.azure.com", 3600, tok, sizeof(tok)), ATR_OK);
	setenv("ATREST_AZURE_TOKEN", tok, 1);
	cr_assert_eq(atr_kv_get_key(c, "cmk", NULL, &k), ATR_ERR_UNAUTHORIZED);
	cr_assert(strstr(atr_detail(), "AKV10022") != NULL, "%s", atr_detail());
	cr_assert_null(strstr(atr_detail(), tok));
	atr_kv_last_call(&call);
	cr_assert_eq(call.attempts, 1);
	/* Not a bearer token at all: refused before anything is sent. */
	setenv("ATREST_AZURE_TOKEN", "a b\r\nX-Injected: 1", 1);
	cr_assert_eq(atr_kv_get_key(c, "cmk", NULL, &k), ATR_ERR_CONFIG);
	atr_memzero(tok, sizeof(tok));
	atr_kv_client_free(c);
}

Test(kv_vault, managed_identity_via_env_endpoint)
{
	struct atr_kv_client *c;
	struct atr_kv_key k;
	struct atr_kv_call call;
	char ep[256];

	make_key("cmk", NULL, 0, 0, NULL);
	atr_kv_cache_clear();
	unsetenv("AZURE_CLIENT_SECRET");
	unsetenv("AZURE_CLIENT_ID");
	snprintf(ep, sizeof(ep), "%s/metadata/identity/oauth2/token", srv_url);
	setenv("ATREST_IMDS_ENDPOINT", ep, 1);
	c = client();
	cr_assert_eq(atr_kv_get_key(c, "cmk", NULL, &k), ATR_OK, "%s",
	    atr_detail());
	atr_kv_last_call(&call);
	cr_assert_eq(call.token_fetches, 1);
	/* A user-assigned identity the endpoint does not know. */
	atr_kv_cache_clear();
	setenv("AZURE_CLIENT_ID", "00000000-0000-0000-0000-000000000000", 1);
	cr_assert_eq(atr_kv_get_key(c, "cmk", NULL, &k), ATR_ERR_UNAUTHORIZED,
	    "%s", atr_detail());
	cr_assert(strstr(atr_detail(), "managed identity endpoint") != NULL,
	    "%s", atr_detail());
	atr_kv_client_free(c);
}

Test(kv_vault, refresh_once_on_401)
{
	struct atr_kv_client *c;
	struct atr_kv_key k;
	struct atr_kv_call call;

	make_key("cmk", NULL, 0, 0, NULL);
	c = client();
	cr_assert_eq(atr_kv_get_key(c, "cmk", NULL, &k), ATR_OK);
	/* The vault's clock jumps two hours: the cached token is expired
	 * there, though not by our clock. */
	admin_post("/admin/config", "{\"clock_offset\":7200}");
	cr_assert_eq(atr_kv_get_key(c, "cmk", NULL, &k), ATR_OK, "%s",
	    atr_detail());
	atr_kv_last_call(&call);
	cr_assert_eq(call.attempts, 2);      /* 401, then the retry */
	cr_assert_eq(call.token_fetches, 1);
	cr_assert_eq(call.status, 200);
	atr_kv_client_free(c);
}

/* ---- retries and faults ---- */

static void
faults(const char *spec)
{
	cr_assert_eq(atr_kv_server_set_faults(srv, spec), ATR_OK, "%s",
	    atr_detail());
}

/* n wrap/unwrap pairs that must all succeed; returns total retries. */
static unsigned
round_trips(struct atr_key *k, int n, unsigned *throttled, long *ra)
{
	uint8_t pt[64], ct[512], back[ATR_WRAPPED_MAX];
	struct atr_kv_call call;
	unsigned retries = 0;
	size_t cn, bn;
	int i;

	*throttled = 0;
	*ra = -1;
	for (i = 0; i < n; i++) {
		cn = wrap64(k, pt, ct, sizeof(ct));
		atr_kv_last_call(&call);
		retries += call.retries;
		*throttled += call.throttled;
		if (call.retry_after_ms >= 0)
			*ra = call.retry_after_ms;
		cr_assert_eq(unwrap(k, k->key_id, ct, cn, back, &bn), ATR_OK,
		    "unwrap %d: %s", i, atr_detail());
		cr_assert_arr_eq(back, pt, 64);
		atr_kv_last_call(&call);
		retries += call.retries;
		*throttled += call.throttled;
		if (call.retry_after_ms >= 0)
			*ra = call.retry_after_ms;
	}
	return retries;
}

static struct atr_key *
open_cmk_retrying(void)
{
	struct atr_key_opts o = {.max_retries = 12};
	char *uri;
	struct atr_key *k;

	make_key("cmk", NULL, 0, 0, NULL);
	uri = key_uri("cmk", NULL);
	k = open_key(uri, &o);
	free(uri);
	return k;
}

Test(kv_vault, retries_429_with_retry_after)
{
	struct atr_key *k = open_cmk_retrying();
	unsigned thr, r;
	long ra;

	faults("429=0.5,retry-after=1,seed=11");
	r = round_trips(k, 8, &thr, &ra);
	cr_assert_gt(r, 0);
	cr_assert_eq(thr, r);
	/* The server's Retry-After: 1 was read (then capped for the test). */
	cr_assert_eq(ra, 1000);
	atr_key_free(k);
}

Test(kv_vault, retries_429_without_retry_after)
{
	struct atr_key *k = open_cmk_retrying();
	unsigned thr, r;
	long ra;

	faults("429=0.5,seed=12");
	r = round_trips(k, 8, &thr, &ra);
	cr_assert_gt(r, 0);
	cr_assert_eq(thr, r);
	cr_assert_eq(ra, -1);
	atr_key_free(k);
}

Test(kv_vault, retries_503_and_dropped_connections)
{
	struct atr_key *k = open_cmk_retrying();
	struct atr_kv_stats st;
	unsigned thr, r;
	long ra;

	atr_kv_stats_reset();
	faults("503=0.3,drop=0.3,seed=13");
	r = round_trips(k, 8, &thr, &ra);
	cr_assert_gt(r, 0);
	cr_assert_eq(thr, 0);
	atr_kv_stats_get(&st);
	cr_assert_eq(st.retries, r);
	cr_assert_eq(st.failures[ATR_KV_CALL_WRAP], 0);
	cr_assert_eq(st.failures[ATR_KV_CALL_UNWRAP], 0);
	cr_assert_eq(st.calls[ATR_KV_CALL_WRAP], 8);
	atr_key_free(k);
}

Test(kv_vault, persistent_faults_fail_with_a_reason)
{
	struct atr_key_opts o = {.max_retries = 3};
	struct atr_kv_call call;
	struct atr_key *k;
	uint8_t pt[64], ct[512];
	size_t n;
	char *uri;

	make_key("cmk", NULL, 0, 0, NULL);
	uri = key_uri("cmk", NULL);
	k = open_key(uri, &o);
	cr_assert_eq(atr_random(pt, sizeof(pt)), ATR_OK);

	faults("429=1");
	n = sizeof(ct);
	cr_assert_eq(k->ops->wrap(k, pt, 64, ct, &n), ATR_ERR_THROTTLED);
	cr_assert(strstr(atr_detail(), "HTTP 429 Throttled") != NULL, "%s",
	    atr_detail());
	cr_assert(strstr(atr_detail(), "(after 4 attempts)") != NULL, "%s",
	    atr_detail());
	atr_kv_last_call(&call);
	cr_assert_eq(call.attempts, 4);
	cr_assert_eq(call.throttled, 4);

	faults("503=1");
	n = sizeof(ct);
	cr_assert_eq(k->ops->wrap(k, pt, 64, ct, &n), ATR_ERR_NETWORK);
	cr_assert(strstr(atr_detail(), "HTTP 503 ServiceUnavailable") != NULL,
	    "%s", atr_detail());

	faults("drop=1");
	n = sizeof(ct);
	cr_assert_eq(k->ops->wrap(k, pt, 64, ct, &n), ATR_ERR_NETWORK);
	cr_assert(strstr(atr_detail(), "(after 4 attempts)") != NULL, "%s",
	    atr_detail());
	atr_kv_last_call(&call);
	cr_assert_eq(call.attempts, 4);
	cr_assert_eq(call.status, 0);

	faults("none");
	n = sizeof(ct);
	cr_assert_eq(k->ops->wrap(k, pt, 64, ct, &n), ATR_OK, "%s",
	    atr_detail());
	atr_key_free(k);
	free(uri);
}

/* ---- TLS ---- */

Test(kv_vault, wrong_ca_fails_without_fallback)
{
	struct atr_kv_server_opts o;
	struct atr_kv_server *other;
	struct atr_kv_call call;
	struct atr_key *k = NULL;
	char *dir2, *uri, want[256];

	make_key("cmk", NULL, 0, 0, NULL);
	uri = key_uri("cmk", NULL);
	/* Another server's CA: a well-formed, unrelated trust anchor. */
	dir2 = tu_tmpdir("kvc2");
	atr_kv_server_opts_init(&o);
	o.state_dir = dir2;
	cr_assert_eq(atr_kv_server_start(&o, &other), ATR_OK, "%s",
	    atr_detail());
	setenv("ATREST_CA_FILE", atr_kv_server_ca_path(other), 1);
	cr_assert_eq(atr_key_open(uri, NULL, &k), ATR_ERR_TLS);
	cr_assert_null(k);
	snprintf(want, sizeof(want), "TLS certificate of %s not trusted (set "
	    "ATREST_CA_FILE)", srv_url + 8);
	cr_assert(strstr(atr_detail(), want) != NULL, "%s", atr_detail());
	atr_kv_last_call(&call);
	cr_assert_eq(call.attempts, 1);   /* never retried */
	/* The system store does not know the test CA either. */
	unsetenv("ATREST_CA_FILE");
	cr_assert_eq(atr_key_open(uri, NULL, &k), ATR_ERR_TLS);
	/* With the right CA it works. */
	setenv("ATREST_CA_FILE", atr_kv_server_ca_path(srv), 1);
	cr_assert_eq(atr_key_open(uri, NULL, &k), ATR_OK, "%s", atr_detail());
	atr_key_free(k);
	atr_kv_server_stop(other);
	tu_rmtree(dir2);
	free(dir2);
	free(uri);
}

/* ---- threads ---- */

struct thr_arg {
	struct atr_key *k;
	int ok;
	char why[256];
};

static void *
thr_main(void *p)
{
	struct thr_arg *a = p;
	uint8_t pt[64], ct[512], back[ATR_WRAPPED_MAX];
	size_t n, bn;
	int i;

	a->ok = 0;
	for (i = 0; i < 10; i++) {
		n = sizeof(ct);
		if (atr_random(pt, sizeof(pt)) != ATR_OK ||
		    a->k->ops->wrap(a->k, pt, 64, ct, &n) != ATR_OK) {
			snprintf(a->why, sizeof(a->why), "wrap: %s",
			    atr_detail());
			return NULL;
		}
		bn = sizeof(back);
		if (a->k->ops->unwrap(a->k, a->k->key_id, a->k->alg, ct, n,
		    back, &bn) != ATR_OK || bn != 64 ||
		    memcmp(back, pt, 64) != 0) {
			snprintf(a->why, sizeof(a->why), "unwrap: %s",
			    atr_detail());
			return NULL;
		}
	}
	a->ok = 1;
	return NULL;
}

Test(kv_vault, four_threads_share_one_key)
{
	struct thr_arg a[4];
	pthread_t t[4];
	struct atr_kv_stats st;
	struct atr_key *k;
	char *uri;
	int i;

	make_key("cmk", NULL, 0, 0, NULL);
	atr_kv_cache_clear();
	atr_kv_stats_reset();
	uri = key_uri("cmk", NULL);
	k = open_key(uri, NULL);
	/* Some turbulence, so that retries run concurrently as well. */
	faults("503=0.1,seed=5");
	for (i = 0; i < 4; i++) {
		a[i].k = k;
		a[i].why[0] = '\0';
		cr_assert_eq(pthread_create(&t[i], NULL, thr_main, &a[i]), 0);
	}
	for (i = 0; i < 4; i++) {
		cr_assert_eq(pthread_join(t[i], NULL), 0);
		cr_assert(a[i].ok, "thread %d: %s", i, a[i].why);
	}
	atr_kv_stats_get(&st);
	cr_assert_eq(st.calls[ATR_KV_CALL_WRAP], 40);
	cr_assert_eq(st.calls[ATR_KV_CALL_UNWRAP], 40);
	cr_assert_eq(st.failures[ATR_KV_CALL_WRAP], 0);
	/* One token for everyone: fetches are serialised and cached. */
	cr_assert_eq(st.token_fetches, 1);
	atr_key_free(k);
	free(uri);
}

Test(kv_vault, app_service_identity_endpoint)
{
	struct atr_kv_client *c;
	struct atr_kv_key k;
	struct atr_kv_call call;
	char ep[256];

	make_key("cmk", NULL, 0, 0, NULL);
	atr_kv_cache_clear();
	unsetenv("AZURE_CLIENT_SECRET");
	unsetenv("AZURE_CLIENT_ID");
	snprintf(ep, sizeof(ep), "%s/metadata/identity/oauth2/token", srv_url);
	setenv("IDENTITY_ENDPOINT", ep, 1);
	setenv("IDENTITY_HEADER", "opaque-header-value", 1);
	c = client();
	cr_assert_eq(atr_kv_get_key(c, "cmk", NULL, &k), ATR_OK, "%s",
	    atr_detail());
	atr_kv_last_call(&call);
	cr_assert_eq(call.token_fetches, 1);
	/* An endpoint that is not an URL is refused before any request. */
	atr_kv_cache_clear();
	setenv("IDENTITY_ENDPOINT", "ftp://x/y", 1);
	cr_assert_eq(atr_kv_get_key(c, "cmk", NULL, &k), ATR_ERR_CONFIG);
	unsetenv("IDENTITY_ENDPOINT");
	unsetenv("IDENTITY_HEADER");
	atr_kv_client_free(c);
}

Test(kv_vault, list_versions_follows_next_link)
{
	struct atr_kv_client *c;
	struct atr_kv_key k, *items;
	size_t n, i, j;
	char seen[30][ATR_KV_VERSION_MAX + 1];

	srv_stop();
	srv_start_with(1, NULL);
	c = client();
	/* oct-HSM keys are quick to make; 30 versions is two pages. */
	for (i = 0; i < 30; i++) {
		struct atr_kv_create p = {.kty = "oct-HSM", .size = 256};

		cr_assert_eq(atr_kv_create_key(c, "many", &p, &k), ATR_OK, "%s",
		    atr_detail());
		snprintf(seen[i], sizeof(seen[i]), "%s", k.version);
	}
	cr_assert_eq(atr_kv_list_versions(c, "many", &items, &n), ATR_OK, "%s",
	    atr_detail());
	cr_assert_eq(n, 30);
	for (i = 0; i < 30; i++) {
		int found = 0;

		for (j = 0; j < n; j++)
			found += strcmp(items[j].version, seen[i]) == 0;
		cr_assert_eq(found, 1, "version %s seen %d times", seen[i],
		    found);
	}
	free(items);
	cr_assert_eq(atr_kv_list_versions(c, "none", &items, &n),
	    ATR_ERR_NOT_FOUND);
	cr_assert_null(items);
	atr_kv_client_free(c);
}

/* ---- HTTP/2 ----
 *
 * The loopback server speaks HTTP/1.1 only (libmicrohttpd), while Azure's
 * front ends offer HTTP/2 through ALPN.  nghttpx (nghttp2's proxy, from
 * Debian's nghttp2-proxy) fronts the loopback vault here with TLS and h2,
 * so the client's HTTP/2 path runs for real: negotiation, the challenge
 * and token flow, wrap/unwrap, and retries on 429 across one connection. */

static const char *
find_nghttpx(void)
{
	static const char *const where[] = {"/usr/sbin/nghttpx",
	    "/usr/bin/nghttpx", "/usr/local/bin/nghttpx", NULL};
	size_t i;

	for (i = 0; where[i] != NULL; i++)
		if (access(where[i], X_OK) == 0)
			return where[i];
	return NULL;
}

/* A port that was free a moment ago (nghttpx binds it next). */
static int
free_port(void)
{
	struct sockaddr_in a;
	socklen_t al = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	cr_assert_geq(fd, 0);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &al), 0);
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

static int
port_accepts(int port)
{
	struct sockaddr_in a;
	int fd = socket(AF_INET, SOCK_STREAM, 0), ok;

	if (fd < 0)
		return 0;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ok = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
	close(fd);
	return ok;
}

Test(kv_vault, http2_through_an_h2_front_end)
{
	const char *ngx = find_nghttpx(), *vport;
	char fe[64], be[128], ca[PATH_MAX + 16], key[PATH_MAX];
	char crt[PATH_MAX], elog[PATH_MAX + 32], alog[PATH_MAX + 32];
	char url[96], *uri;
	struct timespec nap = {0, 20 * 1000 * 1000};
	struct atr_key_opts o = {.max_retries = 12};
	struct atr_kv_stats st;
	struct atr_key *k;
	unsigned thr, r;
	long ra;
	int port, i, rc;

	if (ngx == NULL)
		cr_skip_test("nghttpx is not installed (Debian: nghttp2-proxy; "
		    "scripts/deps.sh installs it)");
	vport = strrchr(srv_url, ':') + 1;
	port = free_port();
	snprintf(fe, sizeof(fe), "--frontend=127.0.0.1,%d", port);
	snprintf(be, sizeof(be), "--backend=127.0.0.1,%s;;tls;sni=localhost",
	    vport);
	snprintf(ca, sizeof(ca), "--cacert=%s", atr_kv_server_ca_path(srv));
	snprintf(h2_pidf, sizeof(h2_pidf), "%s/nghttpx.pid", srv_dir);
	snprintf(key, sizeof(key), "%s/server-key.pem", srv_dir);
	snprintf(crt, sizeof(crt), "%s/server.pem", srv_dir);
	snprintf(elog, sizeof(elog), "--errorlog-file=%s/nghttpx.err", srv_dir);
	snprintf(alog, sizeof(alog), "--accesslog-file=%s/nghttpx.log", srv_dir);
	{
		char pidopt[PATH_MAX + 16];
		const char *argv[] = {ngx, "--conf=/dev/null", fe, be, ca,
		    "--workers=1", "--no-ocsp", "--daemon", pidopt, elog, alog,
		    key, crt, NULL};
		struct tu_run_opts ro = {.timeout_ms = 10000};

		snprintf(pidopt, sizeof(pidopt), "--pid-file=%s", h2_pidf);
		rc = tu_run(argv, &ro);
		cr_assert_eq(rc, 0, "nghttpx exited %d", rc);
	}
	for (i = 0; i < 250 && !port_accepts(port); i++)
		nanosleep(&nap, NULL);
	cr_assert(port_accepts(port), "nghttpx does not listen on %d", port);

	make_key("h2", NULL, 0, 0, NULL);
	snprintf(url, sizeof(url), "https://127.0.0.1:%d", port);
	uri = malloc(ATR_URI_MAX);
	cr_assert_not_null(uri);
	snprintf(uri, ATR_URI_MAX, "%s/keys/h2", url);
	atr_kv_stats_reset();
	k = open_key(uri, &o);
	faults("429=0.4,retry-after=1,seed=21");
	r = round_trips(k, 6, &thr, &ra);
	cr_assert_gt(r, 0, "no 429 came through the front end");
	cr_assert_eq(thr, r);
	cr_assert_eq(ra, 1000, "Retry-After lost over HTTP/2");
	faults("none");
	atr_kv_stats_get(&st);
	/* Every call of the provider (get, 12 wraps/unwraps and their
	 * retries) went over HTTP/2; only the token came from the vault
	 * directly (AZURE_AUTHORITY_HOST). */
	cr_assert_geq(st.http2, 13 + r, "%llu responses over HTTP/2",
	    (unsigned long long)st.http2);
	cr_assert(strncmp(k->key_id, url, strlen(url)) == 0,
	    "the kid names the front end: %s", k->key_id);
	atr_key_free(k);
	free(uri);
	cr_assert_eq(access(h2_pidf, R_OK), 0, "no nghttpx pid file");
	/* srv_stop (the suite's fini) stops it, failed or not. */
}
