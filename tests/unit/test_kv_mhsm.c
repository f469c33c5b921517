/*
 * test_kv_mhsm.c - Managed HSM: key URIs on NAME.managedhsm.azure.net
 * through the Key Vault client and the azure key provider, against the
 * loopback vault in its Managed HSM mode (docs/KEYVAULT.md, "Managed
 * HSM"; docs/VAULT.md, --managed-hsm).
 *
 * Part 1: the pure checks (the challenge audience of each service zone,
 * which hosts are Managed HSMs, ATREST_KV_CONNECT_TO).  Part 2: the
 * client against the server started in-process with managed_hsm set,
 * token validation on, a certificate naming myhsm.managedhsm.azure.net,
 * and ATREST_KV_CONNECT_TO sending that name to the loopback port: the
 * URI, the TLS name check, the challenge check and the token audience
 * are those of production.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "codec.h"
#include "crypto.h"
#include "key.h"
#include "keys.h"
#include "kv_client.h"
#include "kv_mint.h"
#include "kv_server.h"
#include "provider_azure.h"
#include "jwk.h"
#include "testutil.h"

#define HSM_HOST "myhsm.managedhsm.azure.net"
#define HSM_URL "https://" HSM_HOST

/* ---- Part 1: pure ---- */

static int
fits(const char *host, const char *header)
{
	struct atr_kv_challenge ch;

	cr_assert_eq(atr_kv_parse_challenge(header, &ch), 0, "%s", header);
	return atr_kv_challenge_fits(host, &ch);
}

#define RES(r) "Bearer authorization=\"https://login.windows.net/t\", " \
	"resource=\"" r "\""

Test(mhsm_challenge, audience_of_each_zone)
{
	/* Each service takes its own audience, by resource or by scope. */
	cr_assert(fits(HSM_HOST, RES("https://managedhsm.azure.net")));
	cr_assert(fits("MyHSM.ManagedHSM.Azure.Net",
	    RES("https://managedhsm.azure.net/")));
	cr_assert(fits(HSM_HOST,
	    "Bearer scope=\"https://managedhsm.azure.net/.default\""));
	cr_assert(fits("myvault.vault.azure.net", RES("https://vault.azure.net")));
	/* ... and not the other's. */
	cr_assert_not(fits("myvault.vault.azure.net",
	    RES("https://managedhsm.azure.net")));
	cr_assert_not(fits("myvault.vault.azure.net",
	    "Bearer scope=\"https://managedhsm.azure.net/.default\""));
	cr_assert_not(fits(HSM_HOST, RES("https://vault.azure.net")));
	/* A parent of the zone is a suffix of the host, but no service's
	 * audience: refused within a known zone. */
	cr_assert_not(fits(HSM_HOST, RES("https://azure.net")));
	cr_assert_not(fits(HSM_HOST, RES("https://net")));
	cr_assert_not(fits("myvault.vault.azure.net", RES("https://azure.net")));
	cr_assert_not(fits(HSM_HOST, RES("https://management.azure.com")));
	/* Outside the known zones the SDKs' suffix rule holds as before. */
	cr_assert(fits("kv.example.test", RES("https://example.test")));
	cr_assert_not(fits("kv.example.test", RES("https://other.test")));
}

Test(mhsm_challenge, which_hosts_are_managed_hsms)
{
	cr_assert(atr_kv_host_is_mhsm(HSM_HOST));
	cr_assert(atr_kv_host_is_mhsm("A.MANAGEDHSM.AZURE.NET"));
	cr_assert_not(atr_kv_host_is_mhsm("managedhsm.azure.net"));
	cr_assert_not(atr_kv_host_is_mhsm("evilmanagedhsm.azure.net"));
	cr_assert_not(atr_kv_host_is_mhsm(HSM_HOST ".evil.test"));
	cr_assert_not(atr_kv_host_is_mhsm("myvault.vault.azure.net"));
	cr_assert_not(atr_kv_host_is_mhsm("127.0.0.1"));
}

Test(mhsm_client, connect_to_is_checked)
{
	static const char *const bad[] = {
		"myhsm.managedhsm.azure.net",
		"myhsm.managedhsm.azure.net:443",
		"myhsm.managedhsm.azure.net:443:127.0.0.1",
		"myhsm.managedhsm.azure.net:443:127.0.0.1:",
		":443:127.0.0.1:8443",
		"h:443:127.0.0.1:8443:9",
		"h:443:127.0.0.1:123456",
		"h:x:127.0.0.1:8443",
		"h:443:[::1:8443",
		"h:443:[::1\r\nX: y]:8443",
		"h:443:a b:8443",
		"a:1:b:2,c:3:d:4,e:5:f:6,g:7:h:8,i:9:j:10",
	};
	static const char *const good[] = {
		HSM_HOST ":443:127.0.0.1:8443",
		HSM_HOST ":443:[::1]:8443, x",
		HSM_HOST ":443:localhost:1,other.example:443:127.0.0.2:2",
	};
	struct atr_kv_opts o;
	struct atr_kv_client *c;
	size_t i;

	memset(&o, 0, sizeof(o));
	o.max_retries = -1;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		o.connect_to = bad[i];
		c = NULL;
		cr_assert_eq(atr_kv_client_new(HSM_URL, &o, &c), ATR_ERR_CONFIG,
		    "accepted '%s'", bad[i]);
		cr_assert_null(c);
		cr_assert(strstr(atr_detail(), "ATREST_KV_CONNECT_TO") != NULL,
		    "%s", atr_detail());
		cr_assert_eq(strchr(atr_detail(), '\n'), NULL);
	}
	/* good[1] has a bad second entry: only the first two pass. */
	o.connect_to = good[0];
	cr_assert_eq(atr_kv_client_new(HSM_URL, &o, &c), ATR_OK, "%s",
	    atr_detail());
	atr_kv_client_free(c);
	o.connect_to = good[1];
	cr_assert_eq(atr_kv_client_new(HSM_URL, &o, &c), ATR_ERR_CONFIG);
	o.connect_to = good[2];
	cr_assert_eq(atr_kv_client_new(HSM_URL, &o, &c), ATR_OK, "%s",
	    atr_detail());
	atr_kv_client_free(c);
	/* The environment when the option is not given. */
	o.connect_to = NULL;
	setenv("ATREST_KV_CONNECT_TO", "nonsense", 1);
	cr_assert_eq(atr_kv_client_new(HSM_URL, &o, &c), ATR_ERR_CONFIG);
	unsetenv("ATREST_KV_CONNECT_TO");
}

/* ---- Part 2: the Managed HSM mode of the loopback vault ---- */

static struct atr_kv_server *srv;
static char *srv_dir;

/* A server in Managed HSM mode (resource NULL: its default), reached as
 * HSM_URL through ATREST_KV_CONNECT_TO, with client credentials. */
static void
hsm_start_with(const char *resource)
{
	static const char *const sans[] = {HSM_HOST};
	struct atr_kv_server_opts o;
	uint8_t *secret;
	char map[200];
	size_t n;

	srv_dir = tu_tmpdir("mhsm");
	cr_assert_not_null(srv_dir);
	atr_kv_server_opts_init(&o);
	o.listen = "127.0.0.1:0";
	o.state_dir = srv_dir;
	o.token_mode = ATR_KV_TOKEN_VALIDATE;
	o.managed_hsm = 1;
	o.purge_protection = 1;
	o.challenge_resource = resource;
	o.extra_sans = sans;
	o.n_extra_sans = 1;
	cr_assert_eq(atr_kv_server_start(&o, &srv), ATR_OK, "server: %s",
	    atr_detail());
	secret = tu_read_file(atr_kv_server_client_secret_path(srv), &n);
	cr_assert_not_null(secret);
	while (n > 0 && (secret[n - 1] == '\n' || secret[n - 1] == '\r'))
		secret[--n] = '\0';
	snprintf(map, sizeof(map), HSM_HOST ":443:127.0.0.1:%u",
	    (unsigned)atr_kv_server_port(srv));
	setenv("ATREST_KV_CONNECT_TO", map, 1);
	setenv("ATREST_CA_FILE", atr_kv_server_ca_path(srv), 1);
	setenv("AZURE_AUTHORITY_HOST", atr_kv_server_url(srv), 1);
	setenv("AZURE_TENANT_ID", atr_kv_server_tenant(srv), 1);
	setenv("AZURE_CLIENT_ID", atr_kv_server_client_id(srv), 1);
	setenv("AZURE_CLIENT_SECRET", (char *)secret, 1);
	atr_memzero(secret, n);
	free(secret);
	unsetenv("ATREST_AZURE_TOKEN");
	unsetenv("ATREST_AZURE_CREDENTIAL");
	unsetenv("ATREST_IMDS_ENDPOINT");
	unsetenv("IDENTITY_ENDPOINT");
	unsetenv("ATREST_KV_DISABLE_CHALLENGE_VERIFY");
	setenv("ATREST_KV_MAX_RETRIES", "0", 1);
	atr_kv_cache_clear();
	atr_kv_stats_reset();
}

static void
hsm_start(void)
{
	hsm_start_with(NULL);
}

static void
hsm_stop(void)
{
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
hsm_client(void)
{
	struct atr_kv_client *c = NULL;

	cr_assert_eq(atr_kv_client_new(HSM_URL, NULL, &c), ATR_OK, "%s",
	    atr_detail());
	return c;
}

TestSuite(mhsm_vault, .init = hsm_start, .fini = hsm_stop, .timeout = 60);

/* The whole production path: challenge with the Managed HSM audience,
 * a token for it from the token endpoint (checked by the server), an
 * RSA-HSM key by default, kids on the HSM's name, wrap and unwrap
 * through the provider. */
Test(mhsm_vault, create_get_wrap_unwrap_by_the_hsm_name)
{
	struct atr_kv_client *c = hsm_client();
	struct atr_kv_create p = {.size = 3072,
	    .key_ops = ATR_JWK_WRAP | ATR_JWK_UNWRAP};
	struct atr_kv_key *k = calloc(1, sizeof(*k));
	struct atr_kv_server_stats ss;
	struct atr_kv_stats st;
	struct atr_key *key = NULL;
	uint8_t pt[64], ct[ATR_WRAPPED_MAX], back[ATR_WRAPPED_MAX];
	size_t n = sizeof(ct), bn = sizeof(back);
	char kid[ATR_KEYID_MAX + 1];

	cr_assert_not_null(k);
	cr_assert(strstr(atr_kv_server_challenge(srv),
	    "resource=\"https://managedhsm.azure.net\"") != NULL, "%s",
	    atr_kv_server_challenge(srv));
	cr_assert_eq(atr_kv_create_key(c, "cmk", &p, k), ATR_OK, "%s",
	    atr_detail());
	cr_assert_str_eq(k->kty, "RSA-HSM");
	cr_assert_eq(k->bits, 3072);
	cr_assert_eq(strncmp(k->kid, HSM_URL "/keys/cmk/",
	    strlen(HSM_URL "/keys/cmk/")), 0, "%s", k->kid);
	cr_assert_str_eq(k->recovery_level, "Recoverable");
	atr_kv_stats_get(&st);
	cr_assert_eq(st.challenges, 1);
	cr_assert_eq(st.token_fetches, 1);
	atr_kv_server_get_stats(srv, &ss);
	cr_assert_eq(ss.tokens_issued, 1);
	cr_assert_eq(atr_kv_get_key(c, "cmk", NULL, k), ATR_OK, "%s",
	    atr_detail());
	cr_assert_str_eq(k->kty, "RSA-HSM");

	cr_assert_eq(atr_key_open(HSM_URL "/keys/cmk", NULL, &key), ATR_OK,
	    "%s", atr_detail());
	cr_assert_eq(atr_random(pt, sizeof(pt)), ATR_OK);
	cr_assert_eq(key->ops->wrap(key, pt, sizeof(pt), ct, &n), ATR_OK, "%s",
	    atr_detail());
	cr_assert_eq(n, 384);
	/* The stanza records the kid on the HSM's name. */
	snprintf(kid, sizeof(kid), "%s", key->key_id);
	cr_assert_str_eq(kid, k->kid);
	cr_assert(strstr(key->desc, "RSA-HSM-3072") != NULL, "%s", key->desc);
	cr_assert_eq(key->ops->unwrap(key, kid, key->alg, ct, n, back, &bn),
	    ATR_OK, "%s", atr_detail());
	cr_assert_eq(bn, sizeof(pt));
	cr_assert_eq(memcmp(back, pt, sizeof(pt)), 0);
	atr_key_free(key);
	atr_kv_client_free(c);
	free(k);
}

/* A Managed HSM has no software-protected keys: kty RSA is refused,
 * oct-HSM is taken, and a rotation stays RSA-HSM. */
Test(mhsm_vault, hsm_key_types_only)
{
	struct atr_kv_client *c = hsm_client();
	struct atr_kv_create p = {.kty = "RSA", .size = 2048};
	struct atr_kv_key *k = calloc(1, sizeof(*k));

	cr_assert_not_null(k);
	cr_assert_eq(atr_kv_create_key(c, "soft", &p, k), ATR_ERR_CONFIG);
	cr_assert(strstr(atr_detail(), "KeyTypeNotSupported") != NULL, "%s",
	    atr_detail());
	p.kty = "oct-HSM";
	p.size = 256;
	cr_assert_eq(atr_kv_create_key(c, "aes", &p, k), ATR_OK, "%s",
	    atr_detail());
	cr_assert_str_eq(k->kty, "oct-HSM");
	p.kty = "RSA-HSM";
	p.size = 2048;
	cr_assert_eq(atr_kv_create_key(c, "rsa", &p, k), ATR_OK, "%s",
	    atr_detail());
	cr_assert_eq(atr_kv_rotate_key(c, "rsa", k), ATR_OK, "%s",
	    atr_detail());
	cr_assert_str_eq(k->kty, "RSA-HSM");
	atr_kv_client_free(c);
	free(k);
}

/* The server checks the audience: a vault token does not open an HSM. */
Test(mhsm_vault, token_for_the_vault_audience_is_refused)
{
	struct atr_kv_client *c;
	struct atr_kv_key *k = calloc(1, sizeof(*k));
	char t[4096];

	cr_assert_not_null(k);
	c = hsm_client();
	cr_assert_eq(atr_kv_create_key(c, "cmk", NULL, k), ATR_OK, "%s",
	    atr_detail());
	atr_kv_client_free(c);
	atr_kv_cache_clear();
	cr_assert_eq(tl_kv_mint_token(srv, NULL, "https://vault.azure.net",
	    600, t, sizeof(t)), ATR_OK);
	setenv("ATREST_AZURE_TOKEN", t, 1);
	setenv("ATREST_AZURE_CREDENTIAL", "token", 1);
	c = hsm_client();
	cr_assert_eq(atr_kv_get_key(c, "cmk", NULL, k), ATR_ERR_UNAUTHORIZED);
	cr_assert(strstr(atr_detail(), "AKV10022") != NULL, "%s",
	    atr_detail());
	atr_kv_client_free(c);
	cr_assert_eq(tl_kv_mint_token(srv, NULL, "https://managedhsm.azure.net",
	    600, t, sizeof(t)), ATR_OK);
	setenv("ATREST_AZURE_TOKEN", t, 1);
	setenv("ATREST_AZURE_CREDENTIAL", "token", 1);
	c = hsm_client();
	cr_assert_eq(atr_kv_get_key(c, "cmk", NULL, k), ATR_OK, "%s",
	    atr_detail());
	cr_assert_str_eq(k->kty, "RSA-HSM");
	atr_memzero(t, sizeof(t));
	unsetenv("ATREST_AZURE_TOKEN");
	unsetenv("ATREST_AZURE_CREDENTIAL");
	atr_kv_client_free(c);
	free(k);
}

/* An HSM host whose challenge names the vault audience is refused
 * before any token is fetched. */
Test(mhsm_vault_wrong_audience, challenge_refused_before_a_token,
    .init = NULL, .fini = hsm_stop, .timeout = 60)
{
	struct atr_kv_client *c;
	struct atr_kv_key *k = calloc(1, sizeof(*k));
	struct atr_kv_stats st;
	struct atr_kv_server_stats ss;

	cr_assert_not_null(k);
	hsm_start_with("https://vault.azure.net");
	c = hsm_client();
	cr_assert_eq(atr_kv_get_key(c, "cmk", NULL, k), ATR_ERR_UNAUTHORIZED);
	cr_assert(strstr(atr_detail(), "not its domain") != NULL, "%s",
	    atr_detail());
	atr_kv_stats_get(&st);
	cr_assert_eq(st.token_fetches, 0);
	atr_kv_server_get_stats(srv, &ss);
	cr_assert_eq(ss.tokens_issued, 0);
	atr_kv_client_free(c);
	free(k);
}

/* One RSA private-key parameter as base64url into a JWK object. */
static void
jwk_part(cJSON *jwk, const char *name, EVP_PKEY *pk, const char *param)
{
	BIGNUM *bn = NULL;
	uint8_t buf[512];
	char b64[720];
	int n;

	cr_assert(EVP_PKEY_get_bn_param(pk, param, &bn), "%s", param);
	n = BN_bn2bin(bn, buf);
	cr_assert_gt(n, 0);
	cr_assert_gt(atr_b64url_encode(buf, (size_t)n, b64, sizeof(b64)), 0);
	cJSON_AddStringToObject(jwk, name, b64);
	atr_memzero(buf, sizeof(buf));
	BN_clear_free(bn);
}

static size_t
discard(char *p, size_t size, size_t n, void *ud)
{
	(void)p;
	(void)ud;
	return size * n;
}

/* An import of plain RSA material (no "Hsm") into a Managed HSM makes
 * an RSA-HSM key: the HSM has no other kind. */
Test(mhsm_vault, import_of_rsa_material_is_rsa_hsm)
{
	static const struct {
		const char *jwk, *param;
	} parts[] = {
		{"n", OSSL_PKEY_PARAM_RSA_N}, {"e", OSSL_PKEY_PARAM_RSA_E},
		{"d", OSSL_PKEY_PARAM_RSA_D}, {"p", OSSL_PKEY_PARAM_RSA_FACTOR1},
		{"q", OSSL_PKEY_PARAM_RSA_FACTOR2},
		{"dp", OSSL_PKEY_PARAM_RSA_EXPONENT1},
		{"dq", OSSL_PKEY_PARAM_RSA_EXPONENT2},
		{"qi", OSSL_PKEY_PARAM_RSA_COEFFICIENT1},
	};
	EVP_PKEY *pk = EVP_RSA_gen(2048);
	cJSON *doc = cJSON_CreateObject(), *jwk = cJSON_CreateObject();
	struct curl_slist *hl = NULL;
	struct atr_kv_client *c;
	struct atr_kv_key *k = calloc(1, sizeof(*k));
	char tok[4096], hdr[4200], map[200], *body;
	CURL *h = curl_easy_init();
	long status = 0;
	size_t i;

	cr_assert(pk != NULL && doc != NULL && jwk != NULL && k != NULL &&
	    h != NULL);
	cJSON_AddStringToObject(jwk, "kty", "RSA");
	for (i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
		jwk_part(jwk, parts[i].jwk, pk, parts[i].param);
	cJSON_AddItemToObject(doc, "key", jwk);
	body = cJSON_PrintUnformatted(doc);
	cr_assert_not_null(body);
	cr_assert_eq(tl_kv_mint_token(srv, NULL, ATR_KV_MHSM_RESOURCE, 600,
	    tok, sizeof(tok)), ATR_OK);
	snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s", tok);
	hl = curl_slist_append(hl, hdr);
	hl = curl_slist_append(hl, "Content-Type: application/json");
	snprintf(map, sizeof(map), "%s", getenv("ATREST_KV_CONNECT_TO"));
	{
		struct curl_slist ct = {map, NULL};

		curl_easy_setopt(h, CURLOPT_URL,
		    HSM_URL "/keys/imp?api-version=7.4");
		curl_easy_setopt(h, CURLOPT_CONNECT_TO, &ct);
		curl_easy_setopt(h, CURLOPT_CAINFO,
		    atr_kv_server_ca_path(srv));
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "PUT");
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
		curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
		cr_assert_eq(curl_easy_perform(h), CURLE_OK);
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	cr_assert_eq(status, 200);
	c = hsm_client();
	cr_assert_eq(atr_kv_get_key(c, "imp", NULL, k), ATR_OK, "%s",
	    atr_detail());
	cr_assert_str_eq(k->kty, "RSA-HSM");
	cr_assert_eq(k->bits, 2048);
	atr_memzero(tok, sizeof(tok));
	atr_memzero(hdr, sizeof(hdr));
	atr_memzero(body, strlen(body));
	free(body);
	cJSON_Delete(doc);
	curl_slist_free_all(hl);
	curl_easy_cleanup(h);
	EVP_PKEY_free(pk);
	atr_kv_client_free(c);
	free(k);
}
