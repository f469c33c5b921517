/*
 * test_kv_cred: the Key Vault client's credentials (keyvault/kv_cred.c,
 * kv_assert.c) against the in-process loopback vault in token-mode
 * validate: the certificate credential (PEM, PKCS#12, PS256, RS256,
 * x5c), workload identity (the token file re-read at every token
 * request), the chain's order, pinning, the all-failed message, the
 * refresh-failure latch, the static token's expiry, and the vault's
 * refusals as atrest reports them.  Certificates, keys and issuer tokens
 * are made with OpenSSL in tests/testlib/jwt_mint.h, not by the code
 * under test.
 *
 * A GET of a key that does not exist answers 404 only to an
 * authenticated client: ATR_ERR_NOT_FOUND below means "a token was
 * accepted".
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "codec.h"
#include "crypto.h"
#include "fsutil.h"
#include "jwt_mint.h"
#include "kv_client.h"
#include "kv_fedtoken.h"
#include "kv_internal.h"
#include "kv_mint.h"
#include "kv_server.h"
#include "testutil.h"

#define ISSUER "https://oidc.example.test/cluster-1"
#define SUBJECT "system:serviceaccount:default:atrest"
#define CERT_ID "cert-app"
#define FED_ID "fed-app"

static char *dir;
static EVP_PKEY *ka, *kb;
static char *pem_a, *pem_b, *p12_a, *issuer_key, *jwks, *tokfile;
static char spec_cert[600], spec_fed[600];
static const char *certs[1], *feds[1];
static struct atr_kv_server *srv;
static char url[256], secret[256];

static const char *const cred_vars[] = {
	"ATREST_AZURE_TOKEN", "ATREST_AZURE_CREDENTIAL", "AZURE_CLIENT_ID",
	"AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PATH",
	"AZURE_CLIENT_CERTIFICATE_PASSWORD", "AZURE_CLIENT_SEND_CERTIFICATE_CHAIN",
	"AZURE_FEDERATED_TOKEN_FILE", "ATREST_IMDS_ENDPOINT",
	"IDENTITY_ENDPOINT", "IDENTITY_HEADER", "ATREST_AZURE_ASSERTION_ALG",
	"ATREST_AZ_PATH", NULL
};

/* The issuer's token for subject, lifetime seconds, into the file. */
static void
write_fed(const char *subject, long lifetime)
{
	struct atr_fedtoken_opts o = {.key_path = issuer_key,
	    .issuer = ISSUER, .subject = subject, .lifetime = lifetime};
	char *t = NULL;
	size_t n = 0;

	cr_assert_eq(atr_fedtoken_make(&o, &t, &n), ATR_OK, "%s",
	    atr_detail());
	cr_assert_eq(atr_write_file(tokfile, 0600, t, n), ATR_OK, "%s",
	    atr_detail());
	atr_secure_free(t, n);
}

static void
start(long token_lifetime)
{
	struct atr_kv_server_opts o;
	struct atr_fedtoken_opts fo = {0};
	char *t = NULL;
	uint8_t *s;
	size_t n = 0;
	int i;

	dir = tu_tmpdir("kvcred");
	cr_assert_not_null(dir);
	ka = tl_rsa_key(2048);
	kb = tl_rsa_key(2048);
	cr_assert(ka != NULL && kb != NULL);
	pem_a = tu_path(dir, "a.pem");
	pem_b = tu_path(dir, "b.pem");
	p12_a = tu_path(dir, "a.p12");
	issuer_key = tu_path(dir, "issuer.pem");
	jwks = tu_path(dir, "jwks.json");
	tokfile = tu_path(dir, "fed-token");
	cr_assert_eq(tl_cert_write(ka, "cert-app", pem_a, pem_a), 0);
	cr_assert_eq(tl_cert_write(kb, "cert-app", pem_b, pem_b), 0);
	cr_assert_eq(tl_p12_write(ka, pem_a, "p12-Pa55word", p12_a), 0);
	/* Creates the issuer key and its JWKS. */
	fo.key_path = issuer_key;
	fo.issuer = ISSUER;
	fo.subject = SUBJECT;
	fo.jwks_path = jwks;
	cr_assert_eq(atr_fedtoken_make(&fo, &t, &n), ATR_OK, "%s",
	    atr_detail());
	atr_secure_free(t, n);
	snprintf(spec_cert, sizeof(spec_cert), CERT_ID ":%s", pem_a);
	snprintf(spec_fed, sizeof(spec_fed), FED_ID ":" ISSUER ":%s", jwks);
	certs[0] = spec_cert;
	feds[0] = spec_fed;
	atr_kv_server_opts_init(&o);
	o.listen = "127.0.0.1:0";
	o.state_dir = dir;
	o.token_mode = ATR_KV_TOKEN_VALIDATE;
	if (token_lifetime > 0)
		o.token_lifetime = token_lifetime;
	o.cert_clients = certs;
	o.ncert_clients = 1;
	o.fed_clients = feds;
	o.nfed_clients = 1;
	o.managed_identity = "2f4d7e0a-6b1c-4c8e-9a35-0d1e2f3a4b5c";
	cr_assert_eq(atr_kv_server_start(&o, &srv), ATR_OK, "%s",
	    atr_detail());
	snprintf(url, sizeof(url), "%s", atr_kv_server_url(srv));
	s = tu_read_file(atr_kv_server_client_secret_path(srv), &n);
	cr_assert_not_null(s);
	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r'))
		n--;
	snprintf(secret, sizeof(secret), "%.*s", (int)n, (char *)s);
	free(s);
	for (i = 0; cred_vars[i] != NULL; i++)
		unsetenv(cred_vars[i]);
	setenv("ATREST_CA_FILE", atr_kv_server_ca_path(srv), 1);
	setenv("AZURE_AUTHORITY_HOST", url, 1);
	setenv("AZURE_TENANT_ID", atr_kv_server_tenant(srv), 1);
	setenv("ATREST_KV_BACKOFF_MS", "1", 1);
	setenv("ATREST_KV_MAX_BACKOFF_MS", "20", 1);
	/* No az: a chain test must not find a real one. */
	setenv("PATH", dir, 1);
	atr_kv_cache_clear();
	atr_kv_stats_reset();
}

static void
start_default(void)
{
	start(0);
}

static void
stop(void)
{
	atr_kv_thread_cleanup();
	atr_kv_cache_clear();
	atr_kv_server_stop(srv);
	EVP_PKEY_free(ka);
	EVP_PKEY_free(kb);
	tu_rmtree(dir);
	free(dir);
	free(pem_a);
	free(pem_b);
	free(p12_a);
	free(issuer_key);
	free(jwks);
	free(tokfile);
}

/* A GET of a missing key: ATR_ERR_NOT_FOUND once authenticated. */
static enum atr_err
probe(void)
{
	struct atr_kv_client *c;
	struct atr_kv_key k;
	enum atr_err err;

	cr_assert_eq(atr_kv_client_new(url, NULL, &c), ATR_OK, "%s",
	    atr_detail());
	err = atr_kv_get_key(c, "absent", NULL, &k);
	atr_kv_client_free(c);
	return err;
}

static uint64_t
issued(void)
{
	struct atr_kv_server_stats st;

	atr_kv_server_get_stats(srv, &st);
	return st.tokens_issued;
}

#define HAS(s) cr_assert(strstr(atr_detail(), (s)) != NULL, \
	"no '%s' in: %s", (s), atr_detail())

TestSuite(kv_cred, .init = start_default, .fini = stop, .timeout = 60);

/* ---- the JWT client assertion itself ---- */

/* The JSON of the n-th part of a compact JWS. */
static cJSON *
jws_part(const char *jwt, int part)
{
	const char *p = jwt, *e;
	uint8_t buf[8192];
	size_t n = 0;

	while (part-- > 0)
		p = strchr(p, '.') + 1;
	e = strchr(p, '.');
	cr_assert_eq(atr_b64url_decode(p, e != NULL ? (size_t)(e - p) :
	    strlen(p), 0, buf, sizeof(buf) - 1, &n), 0);
	buf[n] = '\0';
	return cJSON_Parse((char *)buf);
}

static int
jws_verify(EVP_PKEY *k, const char *jwt, int pss)
{
	const char *dot = strrchr(jwt, '.');
	uint8_t sig[1024];
	size_t n = 0;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pc = NULL;
	int ok;

	cr_assert_eq(atr_b64url_decode(dot + 1, strlen(dot + 1), 0, sig,
	    sizeof(sig), &n), 0);
	ok = EVP_DigestVerifyInit(md, &pc, EVP_sha256(), NULL, k) == 1 &&
	    (!pss || (EVP_PKEY_CTX_set_rsa_padding(pc,
	    RSA_PKCS1_PSS_PADDING) == 1 &&
	    EVP_PKEY_CTX_set_rsa_pss_saltlen(pc, 32) == 1)) &&
	    EVP_DigestVerify(md, sig, n, (const uint8_t *)jwt,
	    (size_t)(dot - jwt)) == 1;
	EVP_MD_CTX_free(md);
	return ok;
}

static const char *
str(const cJSON *o, const char *name)
{
	return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, name));
}

Test(kv_cred, assertion_header_claims_and_signature)
{
	const char *aud = "https://login.example/t/oauth2/v2.0/token";
	char *thumb = tl_cert_thumb(pem_a, 1), *j1 = NULL, *j2 = NULL;
	char both[8192];
	uint8_t *c1, *c2;
	size_t n1, n2;
	struct kv_cert *cert;
	cJSON *h, *p;
	time_t now = time(NULL);

	/* Key first, then the certificate: any order is read. */
	c1 = tu_read_file(pem_a, &n1);
	cr_assert_not_null(c1);
	c2 = (uint8_t *)strstr((char *)c1, "-----BEGIN PRIVATE KEY");
	cr_assert_not_null(c2);
	n2 = n1 - (size_t)(c2 - c1);
	snprintf(both, sizeof(both), "%.*s%.*s", (int)n2, (char *)c2,
	    (int)(n1 - n2), (char *)c1);
	free(c1);
	cr_assert_eq(atr_write_file(pem_b, 0600, both, strlen(both)), ATR_OK);
	cr_assert_eq(kv_cert_load(pem_b, NULL, &cert), ATR_OK, "%s",
	    atr_detail());
	cr_assert_eq(kv_assertion_build(cert, CERT_ID, aud, 1, 0, now, &j1),
	    ATR_OK, "%s", atr_detail());
	cr_assert_eq(kv_assertion_build(cert, CERT_ID, aud, 0, 1, now, &j2),
	    ATR_OK, "%s", atr_detail());
	kv_cert_free(cert);
	h = jws_part(j1, 0);
	p = jws_part(j1, 1);
	cr_assert_str_eq(str(h, "alg"), "PS256");
	cr_assert_str_eq(str(h, "typ"), "JWT");
	cr_assert_str_eq(str(h, "x5t#S256"), thumb);
	cr_assert_null(cJSON_GetObjectItem(h, "x5c"));
	cr_assert_str_eq(str(p, "aud"), aud);
	cr_assert_str_eq(str(p, "iss"), CERT_ID);
	cr_assert_str_eq(str(p, "sub"), CERT_ID);
	cr_assert_eq(strlen(str(p, "jti")), 36);
	cr_assert_eq(cJSON_GetObjectItem(p, "nbf")->valuedouble, (double)now);
	cr_assert_eq(cJSON_GetObjectItem(p, "exp")->valuedouble,
	    (double)(now + 600));
	cr_assert(jws_verify(ka, j1, 1), "PS256 signature does not verify");
	cr_assert(!jws_verify(kb, j1, 1));
	cJSON_Delete(h);
	h = jws_part(j2, 0);
	cr_assert_str_eq(str(h, "alg"), "RS256");
	cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(h, "x5c")), 1);
	cr_assert(jws_verify(ka, j2, 0), "RS256 signature does not verify");
	cJSON_Delete(p);
	p = jws_part(j2, 1);
	/* A fresh jti for each assertion. */
	cr_assert(strcmp(str(p, "jti"), "") != 0);
	{
		cJSON *p1 = jws_part(j1, 1);

		cr_assert_str_neq(str(p, "jti"), str(p1, "jti"));
		cJSON_Delete(p1);
	}
	cJSON_Delete(h);
	cJSON_Delete(p);
	free(j1);
	free(j2);
	free(thumb);
}

/* ---- each credential against the vault ---- */

Test(kv_cred, certificate_pem_ps256_rs256_and_chain)
{
	setenv("AZURE_CLIENT_ID", CERT_ID, 1);
	setenv("AZURE_CLIENT_CERTIFICATE_PATH", pem_a, 1);
	cr_assert_eq(probe(), ATR_ERR_NOT_FOUND, "%s", atr_detail());
	cr_assert_eq(issued(), 1);
	atr_kv_cache_clear();
	setenv("ATREST_AZURE_ASSERTION_ALG", "RS256", 1);
	setenv("AZURE_CLIENT_SEND_CERTIFICATE_CHAIN", "true", 1);
	cr_assert_eq(probe(), ATR_ERR_NOT_FOUND, "%s", atr_detail());
	cr_assert_eq(issued(), 2);
	setenv("ATREST_AZURE_ASSERTION_ALG", "HS256", 1);
	atr_kv_cache_clear();
	cr_assert_eq(probe(), ATR_ERR_CONFIG);
	HAS("ATREST_AZURE_ASSERTION_ALG");
}

Test(kv_cred, certificate_pkcs12_and_its_password)
{
	setenv("AZURE_CLIENT_ID", CERT_ID, 1);
	setenv("AZURE_CLIENT_CERTIFICATE_PATH", p12_a, 1);
	setenv("AZURE_CLIENT_CERTIFICATE_PASSWORD", "p12-Pa55word", 1);
	cr_assert_eq(probe(), ATR_ERR_NOT_FOUND, "%s", atr_detail());
	atr_kv_cache_clear();
	setenv("AZURE_CLIENT_CERTIFICATE_PASSWORD", "not-the-Pa55word", 1);
	cr_assert_eq(probe(), ATR_ERR_CONFIG);
	HAS("ClientCertificateCredential: ");
	HAS("AZURE_CLIENT_CERTIFICATE_PASSWORD");
	cr_assert_null(strstr(atr_detail(), "Pa55word"));
}

Test(kv_cred, certificate_of_another_key_is_refused)
{
	/* b.pem: a certificate and key the vault does not know. */
	setenv("AZURE_CLIENT_ID", CERT_ID, 1);
	setenv("AZURE_CLIENT_CERTIFICATE_PATH", pem_b, 1);
	cr_assert_eq(probe(), ATR_ERR_UNAUTHORIZED);
	HAS("ClientCertificateCredential: token endpoint");
	HAS("AADSTS");
	HAS("configured, so the credential chain stops here");
}

Test(kv_cred, workload_file_reread_then_refresh_failure_latched)
{
	struct atr_kv_stats st;
	char first[2048];

	stop();
	start(2);  /* 2 s tokens: refreshed after 1 s */
	setenv("AZURE_CLIENT_ID", FED_ID, 1);
	setenv("AZURE_FEDERATED_TOKEN_FILE", tokfile, 1);
	write_fed(SUBJECT, 600);
	cr_assert_eq(probe(), ATR_ERR_NOT_FOUND, "%s", atr_detail());
	cr_assert_eq(issued(), 1);
	usleep(1200000);
	write_fed(SUBJECT, 600);
	cr_assert_eq(probe(), ATR_ERR_NOT_FOUND, "%s", atr_detail());
	cr_assert_eq(issued(), 2);
	/* The platform rotates the file: a token for another service
	 * account is what the next request must send. */
	usleep(1200000);
	write_fed("system:serviceaccount:default:other", 600);
	cr_assert_eq(probe(), ATR_ERR_UNAUTHORIZED);
	HAS("WorkloadIdentityCredential: token endpoint");
	HAS("AADSTS70021");
	snprintf(first, sizeof(first), "%s", atr_detail());
	/* Latched: a good file no longer helps, nothing is sent. */
	write_fed(SUBJECT, 600);
	atr_kv_stats_reset();
	cr_assert_eq(probe(), ATR_ERR_UNAUTHORIZED);
	cr_assert_str_eq(atr_detail(), first);
	atr_kv_stats_get(&st);
	cr_assert_eq(st.token_fetches, 0);
	cr_assert_eq(issued(), 2);
}

/* An issuer token that expired 10 minutes ago (beyond any clock skew
 * the vault allows), signed by the issuer's key with its kid. */
static void
write_expired_fed(void)
{
	FILE *f = fopen(issuer_key, "r");
	EVP_PKEY *k = f != NULL ? PEM_read_PrivateKey(f, NULL, NULL, NULL) :
	    NULL;
	uint8_t *js = tu_read_file(jwks, NULL);
	cJSON *doc = js != NULL ? cJSON_Parse((char *)js) : NULL;
	const char *kid = str(cJSON_GetArrayItem(cJSON_GetObjectItem(doc,
	    "keys"), 0), "kid");
	char hdr[300], claims[600], *jwt;
	long long now = (long long)time(NULL);

	cr_assert(k != NULL && kid != NULL);
	snprintf(hdr, sizeof(hdr), "{\"alg\":\"RS256\",\"typ\":\"JWT\","
	    "\"kid\":\"%s\"}", kid);
	snprintf(claims, sizeof(claims), "{\"iss\":\"" ISSUER "\",\"sub\":"
	    "\"" SUBJECT "\",\"aud\":\"api://AzureADTokenExchange\","
	    "\"iat\":%lld,\"nbf\":%lld,\"exp\":%lld,\"jti\":\"x1\"}",
	    now - 4000, now - 4000, now - 600);
	jwt = tl_jwt_sign(k, "RS256", hdr, claims);
	cr_assert_not_null(jwt);
	cr_assert_eq(atr_write_file(tokfile, 0600, jwt, strlen(jwt)), ATR_OK);
	free(jwt);
	cJSON_Delete(doc);
	free(js);
	fclose(f);
	EVP_PKEY_free(k);
}

Test(kv_cred, workload_expired_token_file_refused)
{
	setenv("AZURE_CLIENT_ID", FED_ID, 1);
	setenv("AZURE_FEDERATED_TOKEN_FILE", tokfile, 1);
	write_expired_fed();
	cr_assert_eq(probe(), ATR_ERR_UNAUTHORIZED);
	HAS("WorkloadIdentityCredential: ");
	HAS("AADSTS700024");
	unlink(tokfile);
	atr_kv_cache_clear();
	cr_assert_eq(probe(), ATR_ERR_CONFIG);
	HAS("AZURE_FEDERATED_TOKEN_FILE");
}

/* ---- the chain ---- */

Test(kv_cred, chain_order_secret_then_certificate_workload_then_managed)
{
	char ep[300];

	/* Both secret and certificate: the secret is used (the certificate
	 * path does not exist, so trying it first would fail). */
	setenv("AZURE_CLIENT_ID", atr_kv_server_client_id(srv), 1);
	setenv("AZURE_CLIENT_SECRET", secret, 1);
	setenv("AZURE_CLIENT_CERTIFICATE_PATH", "/nonexistent/cert.pem", 1);
	cr_assert_eq(probe(), ATR_ERR_NOT_FOUND, "%s", atr_detail());
	/* Workload identity before managed identity: the managed identity
	 * endpoint set here refuses every request. */
	atr_kv_cache_clear();
	unsetenv("AZURE_CLIENT_SECRET");
	unsetenv("AZURE_CLIENT_CERTIFICATE_PATH");
	setenv("AZURE_CLIENT_ID", FED_ID, 1);
	setenv("AZURE_FEDERATED_TOKEN_FILE", tokfile, 1);
	write_fed(SUBJECT, 600);
	snprintf(ep, sizeof(ep), "%s/no-such-endpoint", url);
	setenv("ATREST_IMDS_ENDPOINT", ep, 1);
	cr_assert_eq(probe(), ATR_ERR_NOT_FOUND, "%s", atr_detail());
	/* Managed identity before the static token. */
	atr_kv_cache_clear();
	unsetenv("AZURE_FEDERATED_TOKEN_FILE");
	unsetenv("AZURE_CLIENT_ID");
	snprintf(ep, sizeof(ep), "%s/metadata/identity/oauth2/token", url);
	setenv("ATREST_IMDS_ENDPOINT", ep, 1);
	setenv("ATREST_AZURE_TOKEN", "not-a-token-the-vault-knows", 1);
	cr_assert_eq(probe(), ATR_ERR_NOT_FOUND, "%s", atr_detail());
}

Test(kv_cred, pinning)
{
	char ep[300];

	/* A wrong secret would stop the chain; pinned, it is not tried. */
	setenv("AZURE_CLIENT_ID", "2f4d7e0a-6b1c-4c8e-9a35-0d1e2f3a4b5c", 1);
	setenv("AZURE_CLIENT_SECRET", "wrong-secret", 1);
	snprintf(ep, sizeof(ep), "%s/metadata/identity/oauth2/token", url);
	setenv("ATREST_IMDS_ENDPOINT", ep, 1);
	cr_assert_eq(probe(), ATR_ERR_UNAUTHORIZED);
	HAS("ClientSecretCredential: ");
	cr_assert_null(strstr(atr_detail(), "wrong-secret"));
	setenv("ATREST_AZURE_CREDENTIAL", "managed", 1);
	cr_assert_eq(probe(), ATR_ERR_NOT_FOUND, "%s", atr_detail());
	atr_kv_cache_clear();
	setenv("ATREST_AZURE_CREDENTIAL", "cli", 1);
	cr_assert_eq(probe(), ATR_ERR_UNAUTHORIZED);
	HAS("AzureCliCredential: unavailable: ");
	HAS("ATREST_AZURE_CREDENTIAL pins it");
	setenv("ATREST_AZURE_CREDENTIAL", "kerberos", 1);
	cr_assert_eq(probe(), ATR_ERR_CONFIG);
	HAS("ATREST_AZURE_CREDENTIAL must be one of");
}

Test(kv_cred, all_failed_lists_each_credential)
{
	static const char *const lines[] = {
		"\n  ClientSecretCredential: unavailable: AZURE_CLIENT_SECRET",
		"\n  ClientCertificateCredential: unavailable: "
		    "AZURE_CLIENT_CERTIFICATE_PATH",
		"\n  WorkloadIdentityCredential: unavailable: "
		    "AZURE_FEDERATED_TOKEN_FILE",
		"\n  ManagedIdentityCredential: unavailable: ",
		"\n  AzureCliCredential: unavailable: ",
		"\n  StaticTokenCredential: unavailable: ATREST_AZURE_TOKEN",
	};
	const char *prev;
	size_t i;

	cr_assert_eq(probe(), ATR_ERR_UNAUTHORIZED);
	HAS("no Azure credential gave a token");
	prev = atr_detail();
	for (i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		const char *at = strstr(atr_detail(), lines[i]);

		cr_assert_not_null(at, "no '%s' in: %s", lines[i],
		    atr_detail());
		cr_assert_gt(at, prev, "out of order: %s", lines[i]);
		prev = at;
	}
}

/* ---- the Azure CLI credential in the chain ---- */

Test(kv_cred, cli_before_static_token)
{
	char tok[4096], script[8192], *az = tu_path(dir, "az");

	cr_assert_eq(tl_kv_mint_token(srv, atr_kv_server_client_id(srv),
	    NULL, 3600, tok, sizeof(tok)), ATR_OK);
	snprintf(script, sizeof(script), "#!/bin/sh\nprintf '%%s' "
	    "'{\"accessToken\":\"%s\",\"expires_on\":%lld,"
	    "\"tokenType\":\"Bearer\"}'\n", tok, (long long)time(NULL) + 3600);
	cr_assert_eq(atr_write_file(az, 0700, script, strlen(script)),
	    ATR_OK);
	atr_memzero(tok, sizeof(tok));
	atr_memzero(script, sizeof(script));
	/* The chain, unpinned: the default IMDS is probed (absent here),
	 * then az answers before the static token is reached. */
	setenv("ATREST_AZ_PATH", az, 1);
	setenv("ATREST_AZURE_TOKEN", "not-a-token-the-vault-knows", 1);
	cr_assert_eq(probe(), ATR_ERR_NOT_FOUND, "%s", atr_detail());
	/* Pinned to the static token, the vault refuses it. */
	atr_kv_cache_clear();
	setenv("ATREST_AZURE_CREDENTIAL", "token", 1);
	cr_assert_eq(probe(), ATR_ERR_UNAUTHORIZED);
	free(az);
}

/* ---- the static token ---- */

Test(kv_cred, static_token_expired_or_refused_names_the_variable)
{
	EVP_PKEY *k = tl_rsa_key(2048);
	char claims[200], *jwt;

	snprintf(claims, sizeof(claims), "{\"aud\":\"https://vault.azure.net\","
	    "\"exp\":%lld}", (long long)time(NULL) - 60);
	jwt = tl_jwt_sign(k, "RS256", "{\"alg\":\"RS256\",\"typ\":\"JWT\"}",
	    claims);
	cr_assert_not_null(jwt);
	setenv("ATREST_AZURE_CREDENTIAL", "token", 1);
	setenv("ATREST_AZURE_TOKEN", jwt, 1);
	atr_kv_stats_reset();
	cr_assert_eq(probe(), ATR_ERR_UNAUTHORIZED);
	HAS("ATREST_AZURE_TOKEN expired at ");
	cr_assert_null(strstr(atr_detail(), jwt));
	free(jwt);
	/* Unexpired but unknown to the vault: the 401 names it too. */
	snprintf(claims, sizeof(claims), "{\"aud\":\"https://vault.azure.net\","
	    "\"exp\":%lld}", (long long)time(NULL) + 600);
	jwt = tl_jwt_sign(k, "RS256", "{\"alg\":\"RS256\",\"typ\":\"JWT\"}",
	    claims);
	setenv("ATREST_AZURE_TOKEN", jwt, 1);
	atr_kv_cache_clear();
	cr_assert_eq(probe(), ATR_ERR_UNAUTHORIZED);
	HAS("the vault refused ATREST_AZURE_TOKEN");
	cr_assert_null(strstr(atr_detail(), jwt));
	free(jwt);
	EVP_PKEY_free(k);
}
