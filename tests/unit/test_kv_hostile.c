/*
 * test_kv_hostile.c - the Key Vault client against a vault (and a token
 * endpoint) that lies: a test HTTPS server with canned answers
 * (tests/testlib/hostile.h) in the test's own process.
 *
 *   kv_hostile_kid        kids naming another vault, key or version
 *   kv_hostile_len        wrapped and unwrapped values of the wrong length
 *   kv_hostile_wait       Retry-After values a call must not sleep through
 *   kv_hostile_numbers    absurd numbers in tokens and KeyBundles
 *   kv_hostile_challenge  a vault named like loopback asking for another
 *                         audience's token
 *
 * Each refusal is checked for what it must not do as well: no record of
 * the lying kid, no wrapped value handed back, no request sent, no
 * token fetched or sent.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <criterion/criterion.h>

#include <cjson/cJSON.h>

#include "crypto.h"
#include "hostile.h"
#include "key.h"
#include "keys.h"
#include "kv_client.h"
#include "testutil.h"
#include "codec.h"

#define VERSION1 "0123456789abcdef0123456789abcdef"
#define VERSION2 "fedcba9876543210fedcba9876543210"
#define TOKEN "hostile-test-token"

static struct hs_server *hs;
static const char *const names[] = {"127.evil.test", "vault.evil.test",
    NULL};

static void
clear_env(void)
{
	static const char *const vars[] = {"https_proxy", "HTTPS_PROXY",
	    "http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY", "no_proxy",
	    "NO_PROXY", "AZURE_CLIENT_SECRET", "AZURE_CLIENT_ID",
	    "AZURE_TENANT_ID", "AZURE_AUTHORITY_HOST", "ATREST_IMDS_ENDPOINT",
	    "IDENTITY_ENDPOINT", "IDENTITY_HEADER", "ATREST_KV_MAX_RETRIES",
	    "ATREST_KV_MAX_WAIT_MS", "ATREST_KV_DISABLE_CHALLENGE_VERIFY",
	    "ATREST_KV_API_VERSION", NULL};
	size_t i;

	for (i = 0; vars[i] != NULL; i++)
		unsetenv(vars[i]);
}

static void
up(void)
{
	hs = hs_start(names);
	cr_assert_not_null(hs, "cannot start the test server");
	clear_env();
	setenv("ATREST_CA_FILE", hs_ca(hs), 1);
	setenv("ATREST_AZURE_TOKEN", TOKEN, 1);
	setenv("ATREST_AZURE_CREDENTIAL", "token", 1);
	setenv("ATREST_KV_BACKOFF_MS", "1", 1);
	setenv("ATREST_KV_MAX_BACKOFF_MS", "20", 1);
	setenv("ATREST_KV_TIMEOUT_MS", "10000", 1);
	atr_kv_cache_clear();
	atr_kv_stats_reset();
}

static void
down(void)
{
	atr_kv_thread_cleanup();
	atr_kv_cache_clear();
	hs_stop(hs);
	hs = NULL;
}

/* ---- canned documents ---- */

static char *
b64(const uint8_t *p, size_t n)
{
	char *s = malloc(n / 3 * 4 + 8);

	cr_assert_not_null(s);
	cr_assert_geq(atr_b64url_encode(p, n, s, n / 3 * 4 + 8), 0);
	return s;
}

/* base64url of n bytes, the first with its top bit set (an RSA modulus
 * of n * 8 bits, or just n bytes of a value). */
static char *
b64_fill(size_t n)
{
	uint8_t *p = malloc(n);
	char *s;

	cr_assert_not_null(p);
	memset(p, 0x5a, n);
	p[0] = 0xc3;
	s = b64(p, n);
	free(p);
	return s;
}

/* "https://127.0.0.1:PORT/keys/NAME/VERSION" */
static char *
kid_on(const char *origin, const char *name, const char *version)
{
	char *s = malloc(512);

	cr_assert_not_null(s);
	snprintf(s, 512, "%s/keys/%s/%s", origin, name, version);
	return s;
}

/* A KeyBundle: RSA with bits, or oct-HSM when bits is 0. */
static char *
bundle(const char *kid, unsigned bits, const char *extra_attr)
{
	char *n = bits ? b64_fill(bits / 8) : NULL, *j = malloc(4096);

	cr_assert_not_null(j);
	if (bits)
		snprintf(j, 4096, "{\"key\":{\"kid\":\"%s\",\"kty\":\"RSA\","
		    "\"key_ops\":[\"wrapKey\",\"unwrapKey\"],\"n\":\"%s\","
		    "\"e\":\"AQAB\"},\"attributes\":{\"enabled\":true,"
		    "\"created\":1700000000,\"updated\":1700000000%s}}", kid,
		    n, extra_attr != NULL ? extra_attr : "");
	else
		snprintf(j, 4096, "{\"key\":{\"kid\":\"%s\",\"kty\":"
		    "\"oct-HSM\",\"key_ops\":[\"wrapKey\",\"unwrapKey\"],"
		    "\"key_size\":256},\"attributes\":{\"enabled\":true%s}}",
		    kid, extra_attr != NULL ? extra_attr : "");
	free(n);
	return j;
}

/* {"kid": kid, "value": n bytes} */
static char *
op_reply(const char *kid, size_t n)
{
	char *v = b64_fill(n), *j = malloc(strlen(v) + 600);

	cr_assert_not_null(j);
	snprintf(j, strlen(v) + 600, "{\"kid\":\"%s\",\"value\":\"%s\"}", kid,
	    v);
	free(v);
	return j;
}

static void
reply(const char *match, int status, const char *headers, const char *body,
    int times)
{
	cr_assert_eq(hs_reply(hs, match, status, headers, body, times), 0);
}

/* Serves GET /keys/cmk with a good RSA (bits) or oct-HSM (0) bundle. */
static void
serve_key(unsigned bits)
{
	char *kid = kid_on(hs_url(hs), "cmk", VERSION1);
	char *b = bundle(kid, bits, NULL);

	reply("GET /keys/cmk", 200, NULL, b, 0);
	free(b);
	free(kid);
}

static struct atr_key *
open_cmk(void)
{
	char uri[256];
	struct atr_key *k;

	snprintf(uri, sizeof(uri), "%s/keys/cmk", hs_url(hs));
	cr_assert_eq(atr_key_open(uri, NULL, &k), ATR_OK, "open: %s",
	    atr_detail());
	return k;
}

static struct atr_kv_client *
client(void)
{
	struct atr_kv_client *c;

	cr_assert_eq(atr_kv_client_new(hs_url(hs), NULL, &c), ATR_OK, "%s",
	    atr_detail());
	return c;
}

/* ================================================================== */

TestSuite(kv_hostile_kid, .init = up, .fini = down, .timeout = 60);

Test(kv_hostile_kid, get_naming_another_vault_is_refused)
{
	char *kid = kid_on("https://vault.evil.test", "cmk", VERSION1);
	char *b = bundle(kid, 2048, NULL), uri[256];
	struct atr_kv_client *c = client();
	struct atr_kv_key info;
	struct atr_key *k = NULL;

	reply("GET /keys/cmk", 200, NULL, b, 0);
	cr_assert_eq(atr_kv_get_key(c, "cmk", NULL, &info),
	    ATR_ERR_BAD_RESPONSE, "a kid of another vault was accepted");
	cr_assert(strstr(atr_detail(), "is not this key on vault") != NULL,
	    "%s", atr_detail());
	cr_assert_str_empty(info.kid, "the lying kid is kept: %s", info.kid);
	/* The provider records what the GET reports as the stanzas' key
	 * id: it must not open at all. */
	snprintf(uri, sizeof(uri), "%s/keys/cmk", hs_url(hs));
	cr_assert_eq(atr_key_open(uri, NULL, &k), ATR_ERR_BAD_RESPONSE);
	cr_assert_null(k);
	atr_kv_client_free(c);
	free(b);
	free(kid);
}

Test(kv_hostile_kid, get_naming_another_port_key_or_version_is_refused)
{
	struct atr_kv_client *c = client();
	struct atr_kv_key info;
	char *kids[3], *b;
	size_t i;

	kids[0] = kid_on("https://127.0.0.1:1", "cmk", VERSION1);
	kids[1] = kid_on(hs_url(hs), "other", VERSION1);
	kids[2] = kid_on(hs_url(hs), "cmk", VERSION2);
	for (i = 0; i < 3; i++) {
		b = bundle(kids[i], 2048, NULL);
		reply("GET /keys/cmk", 200, NULL, b, 1);
		free(b);
	}
	for (i = 0; i < 3; i++) {
		cr_assert_eq(atr_kv_get_key(c, "cmk", VERSION1, &info),
		    ATR_ERR_BAD_RESPONSE, "accepted %s", kids[i]);
		free(kids[i]);
	}
	atr_kv_client_free(c);
}

Test(kv_hostile_kid, wrap_naming_another_vault_is_refused)
{
	char *evil = kid_on("https://vault.evil.test", "cmk", VERSION1);
	char *r = op_reply(evil, 256), kid[ATR_KEYID_MAX + 1] = "";
	uint8_t pt[64], ct[ATR_WRAPPED_MAX];
	struct atr_kv_client *c = client();
	struct atr_key *k;
	size_t n = sizeof(ct);

	serve_key(2048);
	reply("/wrapkey", 200, NULL, r, 0);
	k = open_cmk();
	memset(pt, 7, sizeof(pt));
	cr_assert_eq(k->ops->wrap(k, pt, sizeof(pt), ct, &n),
	    ATR_ERR_BAD_RESPONSE, "a wrap reported by another vault was "
	    "accepted");
	cr_assert_eq(n, 0);
	cr_assert(tu_all_zero(ct, sizeof(ct)), "the refused value is left");
	cr_assert(strstr(atr_detail(), "vault.evil.test") != NULL, "%s",
	    atr_detail());
	/* The client alone: nothing recorded into kid. */
	n = sizeof(ct);
	cr_assert_eq(atr_kv_wrap(c, "cmk", NULL, ATR_WRAP_RSA_OAEP_256, 2048,
	    pt, sizeof(pt), ct, &n, kid, sizeof(kid)), ATR_ERR_BAD_RESPONSE);
	cr_assert_str_empty(kid, "recorded %s", kid);
	atr_key_free(k);
	atr_kv_client_free(c);
	free(r);
	free(evil);
}

Test(kv_hostile_kid, wrap_naming_another_key_or_version_is_refused)
{
	char *other = kid_on(hs_url(hs), "other", VERSION1);
	char *v2 = kid_on(hs_url(hs), "cmk", VERSION2);
	char *r1 = op_reply(other, 256), *r2 = op_reply(v2, 256);
	struct atr_kv_client *c = client();
	uint8_t pt[64], ct[ATR_WRAPPED_MAX];
	size_t n;

	memset(pt, 7, sizeof(pt));
	reply("/wrapkey", 200, NULL, r1, 1);
	reply("/wrapkey", 200, NULL, r2, 1);
	n = sizeof(ct);
	cr_assert_eq(atr_kv_wrap(c, "cmk", NULL, ATR_WRAP_RSA_OAEP_256, 2048,
	    pt, sizeof(pt), ct, &n, NULL, 0), ATR_ERR_BAD_RESPONSE);
	n = sizeof(ct);
	cr_assert_eq(atr_kv_wrap(c, "cmk", VERSION1, ATR_WRAP_RSA_OAEP_256,
	    2048, pt, sizeof(pt), ct, &n, NULL, 0), ATR_ERR_BAD_RESPONSE);
	atr_kv_client_free(c);
	free(r1);
	free(r2);
	free(other);
	free(v2);
}

Test(kv_hostile_kid, case_is_ignored_and_a_versionless_wrap_takes_any)
{
	char origin[64], *kid, *r, got[ATR_KEYID_MAX + 1] = "";
	struct atr_kv_client *c = client();
	uint8_t pt[64], ct[ATR_WRAPPED_MAX];
	size_t n = sizeof(ct);

	/* Scheme and name in upper case; the version is whatever the
	 * vault used, recorded as it reported it. */
	snprintf(origin, sizeof(origin), "HTTPS://127.0.0.1:%d", hs_port(hs));
	kid = kid_on(origin, "CMK", VERSION2);
	r = op_reply(kid, 256);
	reply("/wrapkey", 200, NULL, r, 0);
	memset(pt, 7, sizeof(pt));
	cr_assert_eq(atr_kv_wrap(c, "cmk", NULL, ATR_WRAP_RSA_OAEP_256, 2048,
	    pt, sizeof(pt), ct, &n, got, sizeof(got)), ATR_OK, "%s",
	    atr_detail());
	cr_assert_eq(n, 256);
	cr_assert_str_eq(got, kid);
	atr_kv_client_free(c);
	free(r);
	free(kid);
}

Test(kv_hostile_kid, matcher_rules)
{
	struct atr_kv_kid v, id;

	cr_assert_eq(atr_kv_parse_vault_url("https://V.example:8443", &v),
	    ATR_OK);
	cr_assert(atr_kv_kid_matches(&v, "https://v.EXAMPLE:8443/keys/Cmk/AB1",
	    "cmk", NULL, &id));
	cr_assert_str_eq(id.version, "AB1");
	cr_assert(atr_kv_kid_matches(&v, "https://v.example:8443/keys/cmk/ab1",
	    "cmk", "AB1", NULL));
	cr_assert_not(atr_kv_kid_matches(&v, "https://v.example/keys/cmk/ab1",
	    "cmk", NULL, NULL), "another port");
	cr_assert_not(atr_kv_kid_matches(&v,
	    "https://v.example.evil:8443/keys/cmk/ab1", "cmk", NULL, NULL));
	cr_assert_not(atr_kv_kid_matches(&v, "https://v.example:8443/keys/cmk",
	    "cmk", NULL, NULL), "no version");
	cr_assert_not(atr_kv_kid_matches(&v,
	    "https://v.example:8443/keys/cmk/ab2", "cmk", "ab1", NULL));
	cr_assert_not(atr_kv_kid_matches(&v,
	    "https://v.example:8443/keys/cmk2/ab1", "cmk", NULL, NULL));
	cr_assert_not(atr_kv_kid_matches(&v, NULL, "cmk", NULL, NULL));
	cr_assert_not(atr_kv_kid_matches(&v, "http://v.example:8443/keys/cmk/1",
	    "cmk", NULL, NULL));
}

/* ================================================================== */

TestSuite(kv_hostile_len, .init = up, .fini = down, .timeout = 60);

static enum atr_err
wrap_with(struct atr_key *k, size_t pt_len, uint8_t *ct, size_t *n)
{
	uint8_t pt[64];

	memset(pt, 7, sizeof(pt));
	*n = ATR_WRAPPED_MAX;
	return k->ops->wrap(k, pt, pt_len, ct, n);
}

Test(kv_hostile_len, rsa_wrap_of_the_wrong_length_is_refused)
{
	static const size_t lens[] = {3, 255, 257, 512};
	char *kid = kid_on(hs_url(hs), "cmk", VERSION1), *r;
	uint8_t ct[ATR_WRAPPED_MAX];
	struct atr_key *k;
	size_t i, n;

	serve_key(2048);
	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		r = op_reply(kid, lens[i]);
		reply("/wrapkey", 200, NULL, r, 1);
		free(r);
	}
	r = op_reply(kid, 256);
	reply("/wrapkey", 200, NULL, r, 1);
	free(r);
	k = open_cmk();
	cr_assert_eq(k->bits, 2048);
	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		cr_assert_eq(wrap_with(k, 64, ct, &n), ATR_ERR_BAD_RESPONSE,
		    "a %zu-byte RSA-2048 wrap was accepted", lens[i]);
		cr_assert_eq(n, 0);
		cr_assert(tu_all_zero(ct, sizeof(ct)));
		cr_assert(strstr(atr_detail(), "exactly 256") != NULL, "%s",
		    atr_detail());
	}
	/* The modulus length itself is fine. */
	cr_assert_eq(wrap_with(k, 64, ct, &n), ATR_OK, "%s", atr_detail());
	cr_assert_eq(n, 256);
	atr_key_free(k);
	free(kid);
}

Test(kv_hostile_len, a256kw_wrap_of_the_wrong_length_is_refused)
{
	char *kid = kid_on(hs_url(hs), "cmk", VERSION1), *r;
	uint8_t ct[ATR_WRAPPED_MAX];
	struct atr_key *k;
	size_t n;

	serve_key(0);
	r = op_reply(kid, 64);     /* RFC 3394: 64 in, 72 out */
	reply("/wrapkey", 200, NULL, r, 1);
	free(r);
	r = op_reply(kid, 72);
	reply("/wrapkey", 200, NULL, r, 1);
	free(r);
	k = open_cmk();
	cr_assert_eq(k->alg, ATR_WRAP_AES_KW);
	cr_assert_eq(wrap_with(k, 64, ct, &n), ATR_ERR_BAD_RESPONSE);
	cr_assert(strstr(atr_detail(), "exactly 72") != NULL, "%s",
	    atr_detail());
	cr_assert_eq(wrap_with(k, 64, ct, &n), ATR_OK, "%s", atr_detail());
	cr_assert_eq(n, 72);
	atr_key_free(k);
	free(kid);
}

Test(kv_hostile_len, unwrap_input_of_the_wrong_length_is_never_sent)
{
	uint8_t ct[ATR_WRAPPED_MAX], out[ATR_WRAPPED_MAX];
	struct atr_key *k;
	size_t n;

	serve_key(2048);
	k = open_cmk();
	memset(ct, 1, sizeof(ct));
	n = sizeof(out);
	cr_assert_eq(k->ops->unwrap(k, k->key_id, k->alg, ct, 3, out, &n),
	    ATR_ERR_AUTH);
	n = sizeof(out);
	cr_assert_eq(k->ops->unwrap(k, k->key_id, k->alg, ct, 257, out, &n),
	    ATR_ERR_AUTH);
	cr_assert_eq(n, 0);
	cr_assert_eq(hs_count(hs, "unwrapkey"), 0,
	    "a wrapped key that cannot be this key's went to the vault");
	atr_key_free(k);
}

Test(kv_hostile_len, unwrapped_value_of_the_wrong_length_is_refused)
{
	char *kid = kid_on(hs_url(hs), "cmk", VERSION1), *r;
	uint8_t ct[ATR_WRAPPED_MAX], out[ATR_WRAPPED_MAX];
	struct atr_key *k;
	size_t n;

	serve_key(2048);
	/* RSA-2048 with OAEP-256 holds at most 256 - 2 * 32 - 2 = 190. */
	r = op_reply(kid, 191);
	reply("/unwrapkey", 200, NULL, r, 1);
	free(r);
	r = op_reply(kid, 190);
	reply("/unwrapkey", 200, NULL, r, 1);
	free(r);
	k = open_cmk();
	memset(ct, 1, sizeof(ct));
	n = sizeof(out);
	cr_assert_eq(k->ops->unwrap(k, k->key_id, k->alg, ct, 256, out, &n),
	    ATR_ERR_BAD_RESPONSE, "191 bytes from RSA-2048 were accepted");
	cr_assert_eq(n, 0);
	cr_assert(tu_all_zero(out, sizeof(out)));
	n = sizeof(out);
	cr_assert_eq(k->ops->unwrap(k, k->key_id, k->alg, ct, 256, out, &n),
	    ATR_OK, "%s", atr_detail());
	cr_assert_eq(n, 190);
	atr_key_free(k);
	free(kid);
}

Test(kv_hostile_len, a256kw_unwrap_lengths)
{
	char *kid = kid_on(hs_url(hs), "cmk", VERSION1), *r;
	uint8_t ct[ATR_WRAPPED_MAX], out[ATR_WRAPPED_MAX];
	struct atr_key *k;
	size_t n;

	serve_key(0);
	r = op_reply(kid, 72);
	reply("/unwrapkey", 200, NULL, r, 1);
	free(r);
	k = open_cmk();
	memset(ct, 1, sizeof(ct));
	/* Not a multiple of 8, or shorter than 24: not sent. */
	n = sizeof(out);
	cr_assert_eq(k->ops->unwrap(k, k->key_id, k->alg, ct, 71, out, &n),
	    ATR_ERR_AUTH);
	n = sizeof(out);
	cr_assert_eq(k->ops->unwrap(k, k->key_id, k->alg, ct, 16, out, &n),
	    ATR_ERR_AUTH);
	cr_assert_eq(hs_count(hs, "unwrapkey"), 0);
	/* 72 in must give 64 out, not 72. */
	n = sizeof(out);
	cr_assert_eq(k->ops->unwrap(k, k->key_id, k->alg, ct, 72, out, &n),
	    ATR_ERR_BAD_RESPONSE);
	cr_assert_eq(n, 0);
	atr_key_free(k);
	free(kid);
}

/* ================================================================== */

TestSuite(kv_hostile_wait, .init = up, .fini = down, .timeout = 120);

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

Test(kv_hostile_wait, retry_after_3600_fails_at_once)
{
	struct atr_kv_client *c;
	struct atr_kv_call call;
	struct atr_kv_key info;
	double t0;

	/* The defaults: 4 retries, back-off up to 60 s each.  Sleeping
	 * what the vault asks, capped per retry, was 240 s. */
	unsetenv("ATREST_KV_BACKOFF_MS");
	unsetenv("ATREST_KV_MAX_BACKOFF_MS");
	reply("GET /keys/cmk", 429, "Retry-After: 3600\r\n",
	    "{\"error\":{\"code\":\"Throttled\",\"message\":\"later\"}}", 0);
	c = client();
	t0 = now_s();
	cr_assert_eq(atr_kv_get_key(c, "cmk", NULL, &info), ATR_ERR_THROTTLED);
	cr_assert_lt(now_s() - t0, 20.0, "the call slept %.0f s",
	    now_s() - t0);
	atr_kv_last_call(&call);
	cr_assert_eq(call.attempts, 1);
	cr_assert_eq(call.slept_ms, 0);
	cr_assert_eq(call.retry_after_ms, 3600000L);
	cr_assert(strstr(atr_detail(), "retry after 3600 s") != NULL, "%s",
	    atr_detail());
	cr_assert(strstr(atr_detail(), "HTTP 429 Throttled") != NULL, "%s",
	    atr_detail());
	atr_kv_client_free(c);
}

Test(kv_hostile_wait, delays_of_one_call_have_a_budget)
{
	struct atr_kv_opts o = {.max_retries = 20, .max_backoff_ms = 5000,
	    .max_wait_ms = 2500};
	struct atr_kv_client *c;
	struct atr_kv_call call;
	struct atr_kv_key info;

	reply("GET /keys/cmk", 503, "Retry-After: 1\r\n", NULL, 0);
	cr_assert_eq(atr_kv_client_new(hs_url(hs), &o, &c), ATR_OK);
	cr_assert_eq(atr_kv_get_key(c, "cmk", NULL, &info), ATR_ERR_NETWORK);
	atr_kv_last_call(&call);
	/* 1 s, 1 s, then a third second would pass the 2.5 s budget. */
	cr_assert_eq(call.attempts, 3, "%u attempts", call.attempts);
	cr_assert_leq(call.slept_ms, 2500);
	atr_kv_client_free(c);
	/* The same budget from the environment, for exponential back-off
	 * too (no Retry-After). */
	setenv("ATREST_KV_MAX_WAIT_MS", "300", 1);
	setenv("ATREST_KV_BACKOFF_MS", "200", 1);
	setenv("ATREST_KV_MAX_RETRIES", "20", 1);
	unsetenv("ATREST_KV_MAX_BACKOFF_MS");
	hs_forget(hs);
	reply("GET /keys/cmk", 503, NULL, NULL, 0);
	c = client();
	cr_assert_eq(atr_kv_get_key(c, "cmk", NULL, &info), ATR_ERR_NETWORK);
	atr_kv_last_call(&call);
	cr_assert_leq(call.slept_ms, 300);
	cr_assert_leq(call.attempts, 3, "%u attempts", call.attempts);
	atr_kv_client_free(c);
}

Test(kv_hostile_wait, retry_after_values_are_range_checked)
{
	/* Any number of digits: the cap, never an overflow or a refusal. */
	cr_assert_eq(atr_kv_parse_retry_after("Retry-After",
	    "99999999999999999999999", 0), ATR_KV_RETRY_AFTER_CAP_MS);
	cr_assert_eq(atr_kv_parse_retry_after("retry-after-ms",
	    "99999999999999999999999.5", 0), ATR_KV_RETRY_AFTER_CAP_MS);
	cr_assert_eq(atr_kv_parse_retry_after("Retry-After", "86400", 0),
	    86400000L);
	cr_assert_eq(atr_kv_parse_retry_after("Retry-After", "3600", 0),
	    3600000L);
	cr_assert_eq(atr_kv_parse_retry_after("Retry-After", "+5", 0), -1);
	cr_assert_eq(atr_kv_parse_retry_after("Retry-After", "1e3", 0), -1);
	cr_assert_eq(atr_kv_parse_retry_after("retry-after-ms", "-5", 0), -1);
}

/* ================================================================== */

TestSuite(kv_hostile_numbers, .init = up, .fini = down, .timeout = 60);

/* Client credentials against the test server as the authority. */
static void
use_client_credentials(void)
{
	unsetenv("ATREST_AZURE_TOKEN");
	unsetenv("ATREST_AZURE_CREDENTIAL");
	setenv("AZURE_CLIENT_ID", "cid", 1);
	setenv("AZURE_CLIENT_SECRET", "hostile-test-secret", 1);
	setenv("AZURE_TENANT_ID", "tid", 1);
	setenv("AZURE_AUTHORITY_HOST", hs_url(hs), 1);
}

#define CHALLENGE_VAULT "WWW-Authenticate: Bearer authorization=" \
	"\"https://login.example/tid\", " \
	"resource=\"https://vault.azure.net\"\r\n"

static enum atr_err
get_with_token_reply(const char *token_json)
{
	char *kid = kid_on(hs_url(hs), "cmk", VERSION1);
	char *b = bundle(kid, 2048, NULL);
	struct atr_kv_client *c = client();
	struct atr_kv_key info;
	enum atr_err err;

	use_client_credentials();
	reply("GET /keys/cmk", 401, CHALLENGE_VAULT, NULL, 1);
	reply("POST /tid/oauth2/v2.0/token", 200, NULL, token_json, 0);
	reply("GET /keys/cmk", 200, NULL, b, 0);
	err = atr_kv_get_key(c, "cmk", NULL, &info);
	atr_kv_client_free(c);
	free(b);
	free(kid);
	return err;
}

Test(kv_hostile_numbers, token_expires_in_1e300_is_refused)
{
	cr_assert_eq(get_with_token_reply("{\"token_type\":\"Bearer\","
	    "\"access_token\":\"tok123\",\"expires_in\":1e300}"),
	    ATR_ERR_BAD_RESPONSE, "a token with expires_in 1e300 was used");
	cr_assert(strstr(atr_detail(), "expires_in") != NULL, "%s",
	    atr_detail());
	cr_assert_eq(hs_count(hs, "oauth2"), 1);
	cr_assert_not(hs_saw(hs, "Bearer tok123"), "the token was sent");
}

Test(kv_hostile_numbers, token_numbers_out_of_range_are_refused)
{
	static const char *const bad[] = {
		"\"expires_in\":-1",
		"\"expires_in\":3599.5",
		"\"expires_in\":\"99999999999999999999\"",
		"\"expires_in\":\"12abc\"",
		"\"expires_on\":1e19",
		"\"expires_on\":\"-5\"",
	};
	char doc[256];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(doc, sizeof(doc), "{\"token_type\":\"Bearer\","
		    "\"access_token\":\"tok123\",%s}", bad[i]);
		atr_kv_cache_clear();
		hs_forget(hs);
		cr_assert_eq(get_with_token_reply(doc), ATR_ERR_BAD_RESPONSE,
		    "accepted %s", bad[i]);
	}
	cr_assert_not(hs_saw(hs, "Bearer tok123"), "the token was sent");
}

Test(kv_hostile_numbers, token_numbers_in_range_work)
{
	/* As Entra ID sends them, and as IMDS does (strings). */
	cr_assert_eq(get_with_token_reply("{\"token_type\":\"Bearer\","
	    "\"access_token\":\"tok123\",\"expires_in\":3599,"
	    "\"ext_expires_in\":3599}"), ATR_OK, "%s", atr_detail());
	atr_kv_cache_clear();
	hs_forget(hs);
	cr_assert_eq(get_with_token_reply("{\"token_type\":\"Bearer\","
	    "\"access_token\":\"tok456\",\"expires_in\":\"86399\","
	    "\"expires_on\":\"1900000000\"}"), ATR_OK, "%s", atr_detail());
	cr_assert(hs_saw(hs, "Bearer tok456"));
}

Test(kv_hostile_numbers, bundle_numbers_out_of_range_are_refused)
{
	static const char *const bad[] = {
		",\"created\":1e300",
		",\"updated\":-1e300",
		",\"exp\":-1",
		",\"nbf\":1.5",
		",\"nbf\":\"1e3\"",
		",\"recoverableDays\":10000000000",
		",\"recoverableDays\":\"99999999999999999999\"",
		",\"exp\":253402300800",
	};
	struct atr_kv_key k;
	char *j;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		j = bundle("https://v/keys/cmk/1", 0, bad[i]);
		cr_assert_eq(atr_kv_key_from_json(j, strlen(j), &k),
		    ATR_ERR_BAD_RESPONSE, "accepted %s", bad[i]);
		cr_assert(strstr(atr_detail(), "is not an integer") != NULL,
		    "%s", atr_detail());
		free(j);
	}
	j = bundle("https://v/keys/cmk/1", 0,
	    ",\"exp\":253402300799,\"recoverableDays\":\"90\"");
	cr_assert_eq(atr_kv_key_from_json(j, strlen(j), &k), ATR_OK, "%s",
	    atr_detail());
	cr_assert_eq(k.exp, 253402300799LL);
	cr_assert(k.has_exp);
	cr_assert_eq(k.recoverable_days, 90);
	free(j);
}

Test(kv_hostile_numbers, key_size_is_not_truncated)
{
	/* 2^32 + 256 would read as 256 through an (unsigned) cast: an
	 * A256KW key of a size the vault never had. */
	char *kid = kid_on(hs_url(hs), "cmk", VERSION1), *j = malloc(1024);
	char uri[256];
	struct atr_key *k = NULL;

	cr_assert_not_null(j);
	snprintf(j, 1024, "{\"key\":{\"kid\":\"%s\",\"kty\":\"oct-HSM\","
	    "\"key_size\":4294967552},\"attributes\":{}}", kid);
	reply("GET /keys/cmk", 200, NULL, j, 0);
	snprintf(uri, sizeof(uri), "%s/keys/cmk", hs_url(hs));
	cr_assert_eq(atr_key_open(uri, NULL, &k), ATR_ERR_BAD_RESPONSE);
	cr_assert(strstr(atr_detail(), "key_size") != NULL, "%s",
	    atr_detail());
	cr_assert_null(k);
	free(j);
	free(kid);
}

Test(kv_hostile_numbers, json_int_helper)
{
	cJSON *d = cJSON_Parse("{\"a\":5,\"b\":1e300,\"c\":\"17\",\"d\":1.25,"
	    "\"e\":null,\"f\":true,\"g\":\"\",\"h\":-3,\"i\":9007199254740992,"
	    "\"j\":\"007\"}");
	int64_t v;

	cr_assert_not_null(d);
	cr_assert_eq(atr_kv_json_int(d, "a", 0, 10, &v), 1);
	cr_assert_eq(v, 5);
	cr_assert_eq(atr_kv_json_int(d, "a", 6, 10, &v), -1);
	cr_assert_eq(atr_kv_json_int(d, "b", 0, ATR_KV_INT_EXACT, &v), -1);
	cr_assert_eq(atr_kv_json_int(d, "c", 0, 17, &v), 1);
	cr_assert_eq(v, 17);
	cr_assert_eq(atr_kv_json_int(d, "c", 0, 16, &v), -1);
	cr_assert_eq(atr_kv_json_int(d, "d", 0, 10, &v), -1);
	cr_assert_eq(atr_kv_json_int(d, "e", 0, 10, &v), 0);
	cr_assert_eq(atr_kv_json_int(d, "missing", 0, 10, &v), 0);
	cr_assert_eq(atr_kv_json_int(d, "f", 0, 10, &v), -1);
	cr_assert_eq(atr_kv_json_int(d, "g", 0, 10, &v), -1);
	cr_assert_eq(atr_kv_json_int(d, "h", -5, 10, &v), 1);
	cr_assert_eq(v, -3);
	cr_assert_eq(atr_kv_json_int(d, "i", 0, ATR_KV_INT_EXACT, &v), 1);
	cr_assert_eq(atr_kv_json_int(d, "j", 0, 10, &v), 1);
	cr_assert_eq(v, 7);
	cJSON_Delete(d);
	cr_assert_eq(atr_kv_dec_parse("9223372036854775808", 19, INT64_MAX,
	    &v), 1, "one past INT64_MAX is too large, not an overflow");
	cr_assert_eq(atr_kv_dec_parse("9223372036854775807", 19, INT64_MAX,
	    &v), 0);
	cr_assert_eq(v, INT64_MAX);
	cr_assert_eq(atr_kv_dec_parse("12 ", 3, 100, &v), -1);
	cr_assert_eq(atr_kv_dec_parse("", 0, 100, &v), -1);
}

/* ================================================================== */

TestSuite(kv_hostile_challenge, .init = up, .fini = down, .timeout = 60);

#define CHALLENGE_MGMT "WWW-Authenticate: Bearer authorization=" \
	"\"https://login.example/tid\", " \
	"resource=\"https://management.azure.com\"\r\n"

Test(kv_hostile_challenge, loopback_means_a_literal_address)
{
	static const char *const yes[] = {"127.0.0.1", "127.1.2.3",
	    "localhost", "[::1]", "[::ffff:127.0.0.1]", "LOCALHOST", NULL};
	static const char *const no[] = {"127.evil.test", "127.0.0.1.nip.io",
	    "127.0.0.1.evil", "localhost.evil.test", "127.1", "128.0.0.1",
	    "[::2]", "[::ffff:10.0.0.1]", "::1", "[::1", "", "127.", NULL};
	size_t i;

	for (i = 0; yes[i] != NULL; i++)
		cr_assert(atr_kv_host_is_loopback(yes[i]), "%s", yes[i]);
	for (i = 0; no[i] != NULL; i++)
		cr_assert_not(atr_kv_host_is_loopback(no[i]), "%s", no[i]);
}

/*
 * https://127.evil.test:PORT/keys/cmk, reached through the test server
 * acting as an https proxy (so no DNS is needed), answers with a
 * challenge for the management plane.
 */
static enum atr_err
evil_named_vault(void)
{
	char *kid, *b, url[128], proxy[64];
	struct atr_kv_client *c;
	struct atr_kv_key info;
	enum atr_err err;

	snprintf(url, sizeof(url), "https://127.evil.test:%d", hs_port(hs));
	snprintf(proxy, sizeof(proxy), "http://127.0.0.1:%d", hs_port(hs));
	setenv("https_proxy", proxy, 1);
	kid = kid_on(url, "cmk", VERSION1);
	b = bundle(kid, 2048, NULL);
	reply("GET /keys/cmk", 401, CHALLENGE_MGMT, NULL, 1);
	reply("POST /tid/oauth2/v2.0/token", 200, NULL, "{\"token_type\":"
	    "\"Bearer\",\"access_token\":\"mgmt123\",\"expires_in\":3599}", 0);
	reply("GET /keys/cmk", 200, NULL, b, 0);
	cr_assert_eq(atr_kv_client_new(url, NULL, &c), ATR_OK, "%s",
	    atr_detail());
	err = atr_kv_get_key(c, "cmk", NULL, &info);
	atr_kv_client_free(c);
	cr_assert_geq(hs_tunnels(hs), 1, "the request did not go through "
	    "the test proxy");
	cr_assert(hs_saw(hs, "CONNECT 127.evil.test:"));
	free(b);
	free(kid);
	return err;
}

Test(kv_hostile_challenge, a_127_named_vault_gets_no_client_secret_token)
{
	use_client_credentials();
	cr_assert_eq(evil_named_vault(), ATR_ERR_UNAUTHORIZED,
	    "127.evil.test was treated as loopback");
	cr_assert(strstr(atr_detail(), "not its domain") != NULL, "%s",
	    atr_detail());
	cr_assert_eq(hs_count(hs, "oauth2"), 0,
	    "a token for another audience was requested");
	cr_assert_not(hs_saw(hs, "hostile-test-secret"));
	cr_assert_not(hs_saw(hs, "Authorization:"));
}

Test(kv_hostile_challenge, a_127_named_vault_gets_no_static_token)
{
	cr_assert_eq(evil_named_vault(), ATR_ERR_UNAUTHORIZED,
	    "127.evil.test was treated as loopback");
	cr_assert_not(hs_saw(hs, TOKEN), "the token was sent");
	cr_assert_not(hs_saw(hs, "Authorization:"));
}

Test(kv_hostile_challenge, literal_loopback_stays_exempt)
{
	char *kid = kid_on(hs_url(hs), "cmk", VERSION1);
	char *b = bundle(kid, 2048, NULL);
	struct atr_kv_client *c = client();
	struct atr_kv_key info;

	/* The emulator case: any resource is accepted from 127.0.0.1. */
	use_client_credentials();
	reply("GET /keys/cmk", 401, CHALLENGE_MGMT, NULL, 1);
	reply("POST /tid/oauth2/v2.0/token", 200, NULL, "{\"token_type\":"
	    "\"Bearer\",\"access_token\":\"emu123\",\"expires_in\":3599}", 0);
	reply("GET /keys/cmk", 200, NULL, b, 0);
	cr_assert_eq(atr_kv_get_key(c, "cmk", NULL, &info), ATR_OK, "%s",
	    atr_detail());
	cr_assert(hs_saw(hs, "Bearer emu123"));
	atr_kv_client_free(c);
	free(b);
	free(kid);
}
