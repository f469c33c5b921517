/*
 * test_kv_server_assert: the loopback vault's certificate and federated
 * clients (vault/kv_server_assert.c), in-process, over HTTPS with
 * libcurl.  The assertions are made here with OpenSSL
 * (tests/testlib/jwt_mint.h), never by atrest's own code; each refusal
 * plants the one defect it is about in an otherwise valid assertion.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "jwt_mint.h"
#include "kv_server.h"
#include "testutil.h"

#define ISSUER "https://oidc.example.test/cluster-1"
#define SUBJECT "system:serviceaccount:default:atrest"
#define FED_AUD "api://AzureADTokenExchange"

struct fx {
	char *dir;
	EVP_PKEY *a, *b, *f, *g;        /* a: registered cert, f: issuer */
	char *cert_a, *cert_b, *jwks;
	char *x5t_s256, *x5t_sha1, *x5t_b;
	char spec_cert[600], spec_fed[600];
	const char *certs[1], *feds[1];
	struct atr_kv_server *s;
	char token_url[512], token_url_v1[512];
};

struct resp {
	long status;
	char *body;
	size_t len;
	cJSON *json;
};

static void
setup(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

TestSuite(kv_server_assert, .init = setup, .timeout = 120);

static void
fx_start(struct fx *x)
{
	struct atr_kv_server_opts o;

	memset(x, 0, sizeof(*x));
	x->dir = tu_tmpdir("kvs-assert");
	cr_assert_not_null(x->dir);
	x->a = tl_rsa_key(2048);
	x->b = tl_rsa_key(2048);
	x->f = tl_rsa_key(2048);
	x->g = tl_rsa_key(2048);
	cr_assert(x->a && x->b && x->f && x->g);
	x->cert_a = tu_path(x->dir, "a.pem");
	x->cert_b = tu_path(x->dir, "b.pem");
	x->jwks = tu_path(x->dir, "jwks.json");
	cr_assert_eq(tl_cert_write(x->a, "cert-app", x->cert_a, NULL), 0);
	cr_assert_eq(tl_cert_write(x->b, "other", x->cert_b, NULL), 0);
	cr_assert_eq(tl_jwks_write(x->f, "issuer-key-1", x->jwks), 0);
	x->x5t_s256 = tl_cert_thumb(x->cert_a, 1);
	x->x5t_sha1 = tl_cert_thumb(x->cert_a, 0);
	x->x5t_b = tl_cert_thumb(x->cert_b, 1);
	snprintf(x->spec_cert, sizeof(x->spec_cert), "cert-app:%s", x->cert_a);
	snprintf(x->spec_fed, sizeof(x->spec_fed), "fed-app:%s:%s", ISSUER,
	    x->jwks);
	x->certs[0] = x->spec_cert;
	x->feds[0] = x->spec_fed;
	atr_kv_server_opts_init(&o);
	o.state_dir = x->dir;
	o.token_mode = ATR_KV_TOKEN_VALIDATE;
	o.cert_clients = x->certs;
	o.ncert_clients = 1;
	o.fed_clients = x->feds;
	o.nfed_clients = 1;
	cr_assert_eq(atr_kv_server_start(&o, &x->s), ATR_OK, "start: %s",
	    atr_detail());
	snprintf(x->token_url, sizeof(x->token_url), "%s/%s/oauth2/v2.0/token",
	    atr_kv_server_url(x->s), atr_kv_server_tenant(x->s));
	snprintf(x->token_url_v1, sizeof(x->token_url_v1),
	    "%s/%s/oauth2/token", atr_kv_server_url(x->s),
	    atr_kv_server_tenant(x->s));
}

static void
fx_stop(struct fx *x)
{
	atr_kv_server_stop(x->s);
	EVP_PKEY_free(x->a);
	EVP_PKEY_free(x->b);
	EVP_PKEY_free(x->f);
	EVP_PKEY_free(x->g);
	free(x->cert_a);
	free(x->cert_b);
	free(x->jwks);
	free(x->x5t_s256);
	free(x->x5t_sha1);
	free(x->x5t_b);
	tu_rmtree(x->dir);
	free(x->dir);
}

static size_t
on_body(char *p, size_t sz, size_t n, void *arg)
{
	struct resp *r = arg;
	char *b = realloc(r->body, r->len + sz * n + 1);

	if (b == NULL)
		return 0;
	r->body = b;
	memcpy(r->body + r->len, p, sz * n);
	r->len += sz * n;
	r->body[r->len] = '\0';
	return sz * n;
}

static void
resp_free(struct resp *r)
{
	free(r->body);
	cJSON_Delete(r->json);
	memset(r, 0, sizeof(*r));
}

/* POST url with form; GET when form is NULL.  auth: a bearer or NULL. */
static void
request(struct fx *x, const char *url, const char *form, const char *auth,
    struct resp *r)
{
	CURL *c = curl_easy_init();
	struct curl_slist *h = NULL;
	char hv[4200];

	memset(r, 0, sizeof(*r));
	cr_assert_not_null(c);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CAINFO, atr_kv_server_ca_path(x->s));
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
	if (form != NULL)
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, form);
	if (auth != NULL) {
		snprintf(hv, sizeof(hv), "Authorization: Bearer %s", auth);
		h = curl_slist_append(h, hv);
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	}
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
	cr_assert_eq(curl_easy_perform(c), CURLE_OK);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	if (r->body != NULL)
		r->json = cJSON_Parse(r->body);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
}

/* A client-credentials request with an assertion (and a secret, when
 * secret is not NULL) to url. */
static void
assert_req(struct fx *x, const char *url, const char *id, const char *jwt,
    const char *secret, struct resp *r)
{
	char *form;
	size_t cap = strlen(jwt) + 512;

	form = malloc(cap);
	cr_assert_not_null(form);
	snprintf(form, cap, "grant_type=client_credentials&scope=https%%3A%%2F"
	    "%%2Fvault.azure.net%%2F.default&client_assertion_type=urn%%3A"
	    "ietf%%3Aparams%%3Aoauth%%3Aclient-assertion-type%%3Ajwt-bearer"
	    "&client_assertion=%s%s%s%s%s", jwt, id != NULL ? "&client_id=" :
	    "", id != NULL ? id : "", secret != NULL ? "&client_secret=" : "",
	    secret != NULL ? secret : "");
	request(x, url, form, NULL, r);
	free(form);
}

/* A certificate client's assertion: header with thumb under thumb_name
 * (NULL: none), claims with aud, iss = sub = id, exp and nbf relative
 * to now, jti (NULL: none). */
static char *
cert_jwt(EVP_PKEY *k, const char *alg, const char *thumb_name,
    const char *thumb, const char *aud, const char *id, long exp_off,
    long nbf_off, const char *jti)
{
	char hdr[512], cl[2048], jt[300] = "";
	long now = (long)time(NULL);

	if (thumb_name != NULL)
		snprintf(hdr, sizeof(hdr), "{\"alg\":\"%s\",\"typ\":\"JWT\","
		    "\"%s\":\"%s\"}", alg, thumb_name, thumb);
	else
		snprintf(hdr, sizeof(hdr), "{\"alg\":\"%s\",\"typ\":\"JWT\"}",
		    alg);
	if (jti != NULL)
		snprintf(jt, sizeof(jt), ",\"jti\":\"%s\"", jti);
	snprintf(cl, sizeof(cl), "{\"aud\":\"%s\",\"iss\":\"%s\",\"sub\":"
	    "\"%s\",\"exp\":%ld,\"nbf\":%ld,\"iat\":%ld%s}", aud, id, id,
	    now + exp_off, now + nbf_off, now, jt);
	return tl_jwt_sign(k, strcmp(alg, "PS256") == 0 ? "PS256" :
	    strcmp(alg, "RS256") == 0 ? "RS256" : alg, hdr, cl);
}

static char *
fed_jwt(EVP_PKEY *k, const char *kid, const char *iss, const char *sub,
    const char *aud, long exp_off)
{
	char hdr[256], cl[1024];
	long now = (long)time(NULL);

	snprintf(hdr, sizeof(hdr), "{\"alg\":\"RS256\",\"kid\":\"%s\"}", kid);
	snprintf(cl, sizeof(cl), "{\"aud\":[\"%s\"],\"iss\":\"%s\",\"sub\":"
	    "\"%s\",\"exp\":%ld,\"nbf\":%ld,\"iat\":%ld,\"jti\":\"j-%ld\"}",
	    aud, iss, sub, now + exp_off, now - 5, now - 5, now);
	return tl_jwt_sign(k, "RS256", hdr, cl);
}

static long
aad_code(const struct resp *r)
{
	const cJSON *c = cJSON_GetObjectItemCaseSensitive(r->json,
	    "error_codes");

	return cJSON_IsArray(c) ? (long)cJSON_GetArrayItem(c, 0)->valuedouble :
	    -1;
}

static const char *
jstr(const struct resp *r, const char *name)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(r->json, name);

	return cJSON_IsString(it) ? it->valuestring : "";
}

/* The request with jwt is refused with status, error and AADSTS code,
 * the description starting "AADSTS<code>: " and holding needle. */
static void
expect_refused(struct fx *x, const char *id, char *jwt, long status,
    const char *error, long code, const char *needle)
{
	struct resp r;
	char prefix[32];

	cr_assert_not_null(jwt);
	assert_req(x, x->token_url, id, jwt, NULL, &r);
	cr_assert_eq(r.status, status, "%s: %ld %s", needle, r.status, r.body);
	cr_assert_str_eq(jstr(&r, "error"), error, "%s", r.body);
	cr_assert_eq(aad_code(&r), code, "%s", r.body);
	snprintf(prefix, sizeof(prefix), "AADSTS%ld: ", code);
	cr_assert(strncmp(jstr(&r, "error_description"), prefix,
	    strlen(prefix)) == 0, "%s", r.body);
	cr_assert_not_null(strstr(jstr(&r, "error_description"), needle),
	    "'%s' not in %s", needle, r.body);
	cr_assert_null(strstr(r.body, "access_token"));
	resp_free(&r);
	free(jwt);
}

/* The token of r opens the vault (validate mode). */
static void
expect_token_works(struct fx *x, struct resp *r)
{
	struct resp k;
	char url[512];
	const char *tok = jstr(r, "access_token");

	cr_assert_eq(r->status, 200, "%s", r->body);
	cr_assert_str_eq(jstr(r, "token_type"), "Bearer");
	cr_assert_gt(strlen(tok), 20);
	snprintf(url, sizeof(url), "%s/keys?api-version=7.4",
	    atr_kv_server_url(x->s));
	request(x, url, NULL, tok, &k);
	cr_assert_eq(k.status, 200, "%s", k.body);
	resp_free(&k);
}

Test(kv_server_assert, certificate_rs256_ps256_and_v1_get_tokens)
{
	struct fx x;
	struct resp r;
	char *jwt;

	fx_start(&x);
	/* Current docs: PS256 with x5t#S256. */
	jwt = cert_jwt(x.a, "PS256", "x5t#S256", x.x5t_s256, x.token_url,
	    "cert-app", 600, -5, "jti-ps256");
	cr_assert_not_null(jwt);
	assert_req(&x, x.token_url, "cert-app", jwt, NULL, &r);
	expect_token_works(&x, &r);
	resp_free(&r);
	free(jwt);
	/* Older clients: RS256 with the SHA-1 x5t, no client_id (RFC 7521
	 * 4.2: the subject names the client). */
	jwt = cert_jwt(x.a, "RS256", "x5t", x.x5t_sha1, x.token_url,
	    "cert-app", 600, -5, "jti-rs256");
	assert_req(&x, x.token_url, NULL, jwt, NULL, &r);
	expect_token_works(&x, &r);
	resp_free(&r);
	free(jwt);
	/* The v1 endpoint: its own URL is the audience. */
	jwt = cert_jwt(x.a, "RS256", "x5t#S256", x.x5t_s256, x.token_url_v1,
	    "cert-app", 600, -5, "jti-v1");
	{
		char *form = NULL;
		size_t cap = strlen(jwt) + 512;

		form = malloc(cap);
		snprintf(form, cap, "grant_type=client_credentials&client_id="
		    "cert-app&resource=https%%3A%%2F%%2Fvault.azure.net&"
		    "client_assertion_type=urn%%3Aietf%%3Aparams%%3Aoauth%%3A"
		    "client-assertion-type%%3Ajwt-bearer&client_assertion=%s",
		    jwt);
		request(&x, x.token_url_v1, form, NULL, &r);
		free(form);
	}
	expect_token_works(&x, &r);
	resp_free(&r);
	free(jwt);
	fx_stop(&x);
}

Test(kv_server_assert, certificate_refusals)
{
	struct fx x;
	struct resp r;
	char *jwt;
	int i;

	fx_start(&x);
	/* Another key signing a header that names the registered cert. */
	expect_refused(&x, "cert-app", cert_jwt(x.b, "RS256", "x5t#S256",
	    x.x5t_s256, x.token_url, "cert-app", 600, -5, "j1"), 401,
	    "invalid_client", 700027, "did not match the expected signature");
	/* A certificate the app does not have. */
	expect_refused(&x, "cert-app", cert_jwt(x.b, "RS256", "x5t#S256",
	    x.x5t_b, x.token_url, "cert-app", 600, -5, "j2"), 401,
	    "invalid_client", 700027, "The key was not found");
	expect_refused(&x, "cert-app", cert_jwt(x.a, "RS256", NULL, NULL,
	    x.token_url, "cert-app", 600, -5, "j2b"), 401, "invalid_client",
	    700027, "The key was not found");
	/* RFC 8725: none and HMAC are never accepted. */
	expect_refused(&x, "cert-app", cert_jwt(x.a, "none", "x5t#S256",
	    x.x5t_s256, x.token_url, "cert-app", 600, -5, "j3"), 401,
	    "invalid_client", 700027, "'none' is not accepted");
	expect_refused(&x, "cert-app", cert_jwt(x.a, "HS256", "x5t#S256",
	    x.x5t_s256, x.token_url, "cert-app", 600, -5, "j4"), 401,
	    "invalid_client", 700027, "'HS256' is not accepted");
	/* Audience: another endpoint. */
	expect_refused(&x, "cert-app", cert_jwt(x.a, "PS256", "x5t#S256",
	    x.x5t_s256, "https://login.microsoftonline.com/t/oauth2/v2.0/"
	    "token", "cert-app", 600, -5, "j5"), 401, "invalid_client", 50013,
	    "audience");
	/* Expired well past the skew; not yet valid. */
	expect_refused(&x, "cert-app", cert_jwt(x.a, "PS256", "x5t#S256",
	    x.x5t_s256, x.token_url, "cert-app", -3600, -7200, "j6"), 401,
	    "invalid_client", 700024, "not within its valid time range");
	expect_refused(&x, "cert-app", cert_jwt(x.a, "PS256", "x5t#S256",
	    x.x5t_s256, x.token_url, "cert-app", 7200, 3600, "j7"), 401,
	    "invalid_client", 700024, "not within its valid time range");
	/* A year ahead: beyond what the replay cache keeps. */
	expect_refused(&x, "cert-app", cert_jwt(x.a, "PS256", "x5t#S256",
	    x.x5t_s256, x.token_url, "cert-app", 86400L * 365, -5, "j7b"),
	    401, "invalid_client", 700024, "seconds ahead");
	/* iss/sub of another app than client_id. */
	expect_refused(&x, "cert-app", cert_jwt(x.a, "PS256", "x5t#S256",
	    x.x5t_s256, x.token_url, "other-app", 600, -5, "j8"), 401,
	    "invalid_client", 700021, "doesn't match 'client_id'");
	/* No jti. */
	expect_refused(&x, "cert-app", cert_jwt(x.a, "PS256", "x5t#S256",
	    x.x5t_s256, x.token_url, "cert-app", 600, -5, NULL), 401,
	    "invalid_client", 50013, "no 'jti'");
	/* Replay.  msal-node (@azure/identity's ClientCertificateCredential)
	 * signs one assertion, PS256 with x5t#S256, exp = nbf = iat + 600,
	 * a UUID jti, and sends the same one with every token request
	 * within those 10 minutes (a second scope, say): the identical
	 * assertion is answered each time.  Another assertion with that
	 * jti is refused. */
	jwt = cert_jwt(x.a, "PS256", "x5t#S256", x.x5t_s256, x.token_url,
	    "cert-app", 600, 0, "0f6a7c52-6a1e-4d4b-9a53-3c1e1e0b7a11");
	for (i = 0; i < 2; i++) {
		assert_req(&x, x.token_url, "cert-app", jwt, NULL, &r);
		cr_assert_eq(r.status, 200, "use %d: %s", i + 1, r.body);
		expect_token_works(&x, &r);
		resp_free(&r);
	}
	free(jwt);
	expect_refused(&x, "cert-app", cert_jwt(x.a, "PS256", "x5t#S256",
	    x.x5t_s256, x.token_url, "cert-app", 601, 0,
	    "0f6a7c52-6a1e-4d4b-9a53-3c1e1e0b7a11"), 401, "invalid_client",
	    50013, "was already used by another assertion");
	/* A secret from a certificate client; an assertion to a secret
	 * client; a malformed assertion. */
	jwt = cert_jwt(x.a, "PS256", "x5t#S256", x.x5t_s256, x.token_url,
	    "cert-app", 600, -5, "j9");
	assert_req(&x, x.token_url, "cert-app", jwt, "guess", &r);
	cr_assert_eq(r.status, 401);
	cr_assert_eq(aad_code(&r), 7000215, "%s", r.body);
	resp_free(&r);
	assert_req(&x, x.token_url, atr_kv_server_client_id(x.s), jwt, NULL,
	    &r);
	cr_assert_eq(r.status, 401);
	cr_assert_eq(aad_code(&r), 700027, "%s", r.body);
	resp_free(&r);
	free(jwt);
	expect_refused(&x, "cert-app", strdup("not.a-jwt"), 400,
	    "invalid_request", 50027, "malformed");
	fx_stop(&x);
}

Test(kv_server_assert, federated_accepts_and_refuses)
{
	struct fx x;
	struct resp r;
	char *jwt;
	int i;

	fx_start(&x);
	jwt = fed_jwt(x.f, "issuer-key-1", ISSUER, SUBJECT, FED_AUD, 3600);
	cr_assert_not_null(jwt);
	/* The kubelet's token is sent again until it is rotated: no
	 * replay check for federated assertions. */
	for (i = 0; i < 2; i++) {
		assert_req(&x, x.token_url, "fed-app", jwt, NULL, &r);
		expect_token_works(&x, &r);
		resp_free(&r);
	}
	free(jwt);
	expect_refused(&x, "fed-app", fed_jwt(x.f, "issuer-key-1", ISSUER,
	    "system:serviceaccount:default:other", FED_AUD, 3600), 400,
	    "invalid_request", 70021, "Assertion Subject: "
	    "'system:serviceaccount:default:other'");
	expect_refused(&x, "fed-app", fed_jwt(x.f, "issuer-key-1",
	    "https://evil.example.test", SUBJECT, FED_AUD, 3600), 400,
	    "invalid_request", 70021, "Assertion Issuer: "
	    "'https://evil.example.test'");
	expect_refused(&x, "fed-app", fed_jwt(x.f, "issuer-key-1", ISSUER,
	    SUBJECT, "api://other", 3600), 400, "invalid_request", 70021,
	    "No matching federated identity record");
	/* Another issuer key, claiming the registered kid; an unknown kid. */
	expect_refused(&x, "fed-app", fed_jwt(x.g, "issuer-key-1", ISSUER,
	    SUBJECT, FED_AUD, 3600), 401, "invalid_client", 700027,
	    "did not match the expected signature");
	expect_refused(&x, "fed-app", fed_jwt(x.g, "issuer-key-2", ISSUER,
	    SUBJECT, FED_AUD, 3600), 401, "invalid_client", 700027,
	    "not found in the issuer's JWKS");
	expect_refused(&x, "fed-app", fed_jwt(x.f, "issuer-key-1", ISSUER,
	    SUBJECT, FED_AUD, -3600), 401, "invalid_client", 700024,
	    "not within its valid time range");
	fx_stop(&x);
}

Test(kv_server_assert, metadata_names_private_key_jwt)
{
	struct fx x;
	struct resp r;
	char url[512];

	fx_start(&x);
	snprintf(url, sizeof(url), "%s/%s/v2.0/.well-known/openid-configuration",
	    atr_kv_server_url(x.s), atr_kv_server_tenant(x.s));
	request(&x, url, NULL, NULL, &r);
	cr_assert_eq(r.status, 200);
	cr_assert_not_null(strstr(r.body, "\"private_key_jwt\""));
	resp_free(&r);
	{
		int fed = -1;

		cr_assert_str_eq(atr_kv_server_assert_client(x.s, 0, &fed),
		    "cert-app");
		cr_assert_eq(fed, 0);
		cr_assert_str_eq(atr_kv_server_assert_client(x.s, 1, &fed),
		    "fed-app");
		cr_assert_eq(fed, 1);
		cr_assert_null(atr_kv_server_assert_client(x.s, 2, &fed));
	}
	fx_stop(&x);
}

/* Bad registrations stop the start, naming the option and file. */
Test(kv_server_assert, bad_registrations_refused)
{
	struct atr_kv_server_opts o;
	struct atr_kv_server *s = NULL;
	char *dir = tu_tmpdir("kvs-assert-bad"), *small, *spec_small;
	char spec[600];
	const char *one[1];
	EVP_PKEY *k = tl_rsa_key(1024);
	size_t len;

	cr_assert(dir != NULL && k != NULL);
	small = tu_path(dir, "small.pem");
	cr_assert_eq(tl_cert_write(k, "small", small, NULL), 0);
	len = strlen(small) + 16;
	spec_small = malloc(len);
	snprintf(spec_small, len, "app:%s", small);
	atr_kv_server_opts_init(&o);
	o.state_dir = dir;
	one[0] = spec_small;
	o.cert_clients = one;
	o.ncert_clients = 1;
	cr_assert_neq(atr_kv_server_start(&o, &s), ATR_OK);
	cr_assert_null(s);
	cr_assert_not_null(strstr(atr_detail(), "2048"), "%s", atr_detail());
	snprintf(spec, sizeof(spec), "app:%s/missing.pem", dir);
	one[0] = spec;
	cr_assert_neq(atr_kv_server_start(&o, &s), ATR_OK);
	cr_assert_not_null(strstr(atr_detail(), "missing.pem"));
	one[0] = "no-colon";
	cr_assert_eq(atr_kv_server_start(&o, &s), ATR_ERR_USAGE);
	o.ncert_clients = 0;
	o.fed_clients = one;
	o.nfed_clients = 1;
	snprintf(spec, sizeof(spec), "app:https://i.example:%s", small);
	one[0] = spec;
	cr_assert_neq(atr_kv_server_start(&o, &s), ATR_OK);
	cr_assert_not_null(strstr(atr_detail(), "not a JWKS"), "%s",
	    atr_detail());
	EVP_PKEY_free(k);
	free(small);
	free(spec_small);
	tu_rmtree(dir);
	free(dir);
}
