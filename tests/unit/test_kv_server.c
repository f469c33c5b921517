/*
 * test_kv_server: the loopback Key Vault, started in-process on port 0
 * in a temporary state directory and spoken to over HTTPS with libcurl,
 * the generated test CA verified (never "verify off").
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>

#include "crypto.h"
#include "kv_mint.h"
#include "kv_server.h"
/* Internals, for the store's limits and its key generation. */
#include "kv_server_int.h"
#include "testutil.h"
#include "jwk.h"

struct srv {
	char dir[256];
	struct atr_kv_server *s;
	char url[256];
};

struct resp {
	CURLcode rc;
	long status;
	char *body;
	size_t len;
	char hdr[16384];
	size_t hlen;
	cJSON *json;
};

static void
setup(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* One timeout for the whole suite: Criterion 2.4's runner leaks (and
 * LeakSanitizer fails the run) when parallel tests have different ones. */
TestSuite(kv_server, .init = setup, .timeout = 90);

static int
rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(p);
}

typedef void (*tweak_fn)(struct atr_kv_server_opts *);

static void
srv_start_in(struct srv *v, const char *dir, const char *faults, tweak_fn tweak)
{
	struct atr_kv_server_opts o;
	enum atr_err err;

	atr_kv_server_opts_init(&o);
	o.state_dir = dir;
	o.faults = faults;
	o.admin = 1;                /* tests reach /admin with its token */
	if (tweak != NULL)
		tweak(&o);
	err = atr_kv_server_start(&o, &v->s);
	cr_assert_eq(err, ATR_OK, "start: %s", atr_detail());
	snprintf(v->url, sizeof(v->url), "%s", atr_kv_server_url(v->s));
}

static void
srv_start(struct srv *v, const char *faults, tweak_fn tweak)
{
	snprintf(v->dir, sizeof(v->dir), "/tmp/atr-kvs-XXXXXX");
	cr_assert_not_null(mkdtemp(v->dir));
	srv_start_in(v, v->dir, faults, tweak);
}

static void
srv_stop(struct srv *v, int remove_dir)
{
	atr_kv_server_stop(v->s);
	v->s = NULL;
	if (remove_dir)
		nftw(v->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
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

static size_t
on_header(char *p, size_t sz, size_t n, void *arg)
{
	struct resp *r = arg;
	size_t k = sz * n;

	if (r->hlen + k < sizeof(r->hdr)) {
		memcpy(r->hdr + r->hlen, p, k);
		r->hlen += k;
		r->hdr[r->hlen] = '\0';
	}
	return k;
}

static void
resp_free(struct resp *r)
{
	free(r->body);
	cJSON_Delete(r->json);
	memset(r, 0, sizeof(*r));
}

/* auth NULL: "Bearer test"; "": no Authorization header. */
static void
http_full(struct srv *v, const char *base, const char *method,
    const char *path, const char *body, const char *auth,
    const char *extra_hdr, struct resp *r)
{
	CURL *c = curl_easy_init();
	struct curl_slist *h = NULL;
	char url[2048], authh[4096];

	memset(r, 0, sizeof(*r));
	cr_assert_not_null(c);
	if (strncmp(path, "https://", 8) == 0)
		snprintf(url, sizeof(url), "%s", path);
	else
		snprintf(url, sizeof(url), "%s%s", base, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CAINFO, atr_kv_server_ca_path(v->s));
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	if (body != NULL) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
		h = curl_slist_append(h, "Content-Type: application/json");
	}
	if (auth == NULL)
		auth = "Bearer test";
	if (*auth != '\0') {
		snprintf(authh, sizeof(authh), "Authorization: %s", auth);
		h = curl_slist_append(h, authh);
	}
	if (extra_hdr != NULL)
		h = curl_slist_append(h, extra_hdr);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
	r->rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	if (r->body != NULL)
		r->json = cJSON_Parse(r->body);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
}

static void
http(struct srv *v, const char *method, const char *path, const char *body,
    const char *auth, struct resp *r)
{
	http_full(v, v->url, method, path, body, auth, NULL, r);
}

/* An /admin request with the token of STATE/admin-token. */
static void
admin_http(struct srv *v, const char *method, const char *path,
    const char *body, struct resp *r)
{
	char hdr[256], tok[128] = "";
	FILE *f = fopen(atr_kv_server_admin_token_path(v->s), "r");

	cr_assert_not_null(f, "admin-token");
	cr_assert_not_null(fgets(tok, sizeof(tok), f));
	fclose(f);
	snprintf(hdr, sizeof(hdr), "x-atrest-admin: %s", tok);
	http_full(v, v->url, method, path, body, "", hdr, r);
}

/* Header value, case-insensitive name; NULL if absent. */
static const char *
header(const struct resp *r, const char *name, char *out, size_t cap)
{
	const char *p = r->hdr;
	size_t n = strlen(name);

	while ((p = strchr(p, '\n')) != NULL) {
		p++;
		if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
			const char *v = p + n + 1, *e;

			while (*v == ' ')
				v++;
			e = strpbrk(v, "\r\n");
			snprintf(out, cap, "%.*s", (int)(e ? e - v : (long)strlen(v)), v);
			return out;
		}
	}
	return NULL;
}

/* "a.b.c" path into the JSON; NULL when absent. */
static const cJSON *
jget(const cJSON *j, const char *path)
{
	char buf[256], *p, *q;

	snprintf(buf, sizeof(buf), "%s", path);
	for (p = buf; p != NULL && j != NULL; p = q) {
		q = strchr(p, '.');
		if (q != NULL)
			*q++ = '\0';
		j = cJSON_GetObjectItemCaseSensitive(j, p);
	}
	return j;
}

static const char *
jstr(const cJSON *j, const char *path)
{
	const cJSON *it = jget(j, path);

	return cJSON_IsString(it) ? it->valuestring : NULL;
}

static void
expect_error(const struct resp *r, long status, const char *code,
    const char *inner)
{
	cr_assert_eq(r->status, status, "status %ld, want %ld: %s", r->status,
	    status, r->body ? r->body : "");
	cr_assert_str_eq(jstr(r->json, "error.code"), code);
	if (inner != NULL)
		cr_assert_str_eq(jstr(r->json, "error.innererror.code"), inner);
}

static void
b64u(const uint8_t *in, size_t n, char *out, size_t cap)
{
	static const char a[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t i, o = 0;

	for (i = 0; i + 2 < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];

		out[o++] = a[v >> 18 & 63];
		out[o++] = a[v >> 12 & 63];
		out[o++] = a[v >> 6 & 63];
		out[o++] = a[v & 63];
	}
	if (n - i == 1) {
		out[o++] = a[in[i] >> 2];
		out[o++] = a[(in[i] & 3) << 4];
	} else if (n - i == 2) {
		out[o++] = a[in[i] >> 2];
		out[o++] = a[(in[i] & 3) << 4 | in[i + 1] >> 4];
		out[o++] = a[(in[i + 1] & 15) << 2];
	}
	out[o] = '\0';
	cr_assert_lt(o, cap);
}

static size_t
unb64u(const char *s, uint8_t *out, size_t cap)
{
	size_t i, o = 0;
	uint32_t acc = 0;
	int bits = 0;

	for (i = 0; s[i] != '\0'; i++) {
		const char *a =
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
		const char *p = strchr(a, s[i]);

		cr_assert_not_null(p, "not base64url: %s", s);
		acc = acc << 6 | (uint32_t)(p - a);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			cr_assert_lt(o, cap);
			out[o++] = (uint8_t)(acc >> bits);
		}
	}
	return o;
}

/* Creates a key; returns its versioned kid's version in ver. */
static void
create_key(struct srv *v, const char *name, const char *body, char *ver,
    size_t cap)
{
	struct resp r;
	char path[256];
	const char *kid, *slash;

	snprintf(path, sizeof(path), "/keys/%s/create?api-version=7.4", name);
	http(v, "POST", path, body, NULL, &r);
	cr_assert_eq(r.status, 200, "create %s: %ld %s", name, r.status,
	    r.body ? r.body : "");
	kid = jstr(r.json, "key.kid");
	cr_assert_not_null(kid);
	slash = strrchr(kid, '/');
	cr_assert_not_null(slash);
	if (ver != NULL)
		snprintf(ver, cap, "%s", slash + 1);
	resp_free(&r);
}

/* POST op; returns the value (base64url) in out. */
static long
crypt_op(struct srv *v, const char *path, const char *alg, const char *val,
    char *out, size_t cap, struct resp *keep)
{
	struct resp r;
	char body[4096];
	long st;

	snprintf(body, sizeof(body), "{\"alg\":\"%s\",\"value\":\"%s\"}", alg, val);
	http(v, "POST", path, body, NULL, &r);
	st = r.status;
	if (st == 200 && out != NULL) {
		cr_assert_not_null(jstr(r.json, "value"));
		snprintf(out, cap, "%s", jstr(r.json, "value"));
	}
	if (keep != NULL)
		*keep = r;
	else
		resp_free(&r);
	return st;
}

static const char *
dek_b64(char *out, size_t cap, uint8_t dek[32])
{
	for (int i = 0; i < 32; i++)
		dek[i] = (uint8_t)(i * 7 + 3);
	b64u(dek, 32, out, cap);
	return out;
}

/* ------------------------------------------------------------------ */

Test(kv_server, challenge_401_before_anything)
{
	struct srv v;
	struct resp r;
	char hv[1024], want[1024];

	srv_start(&v, NULL, NULL);
	snprintf(want, sizeof(want), "Bearer authorization=\"%s/%s\", "
	    "resource=\"https://vault.azure.net\"", v.url,
	    atr_kv_server_tenant(v.s));
	http(&v, "GET", "/keys/k1?api-version=7.4", NULL, "", &r);
	expect_error(&r, 401, "Unauthorized", NULL);
	cr_assert_str_eq(jstr(r.json, "error.message"),
	    "AKV10000: Request is missing a Bearer or PoP token.");
	cr_assert_not_null(header(&r, "WWW-Authenticate", hv, sizeof(hv)));
	cr_assert_str_eq(hv, want);
	cr_assert_str_eq(atr_kv_server_challenge(v.s), want);
	cr_assert_not_null(header(&r, "x-ms-request-id", hv, sizeof(hv)));
	cr_assert_eq(strlen(hv), 36);
	resp_free(&r);
	/* Bad body, unknown api-version, unknown path: still 401 first. */
	http(&v, "POST", "/keys/k1/create?api-version=1.0", "{not json", "", &r);
	cr_assert_eq(r.status, 401);
	resp_free(&r);
	http(&v, "GET", "/nothing/here", NULL, "Basic Zm9vOmJhcg==", &r);
	cr_assert_eq(r.status, 401);
	resp_free(&r);
	/* Any bearer in the default mode; TLS verified for "localhost" too. */
	{
		char lh[256];

		snprintf(lh, sizeof(lh), "https://localhost:%u",
		    (unsigned)atr_kv_server_port(v.s));
		http_full(&v, lh, "GET", "/keys?api-version=7.4", NULL, NULL,
		    "x-ms-client-request-id: 11111111-2222-3333-4444-555555555555",
		    &r);
		cr_assert_eq(r.rc, CURLE_OK, "%s", curl_easy_strerror(r.rc));
		cr_assert_eq(r.status, 200, "%s", r.body);
		cr_assert_str_eq(header(&r, "x-ms-client-request-id", hv,
		    sizeof(hv)), "11111111-2222-3333-4444-555555555555");
		cr_assert_not_null(header(&r, "x-ms-keyvault-network-info", hv,
		    sizeof(hv)));
		resp_free(&r);
	}
	srv_stop(&v, 1);
}

Test(kv_server, api_version)
{
	struct srv v;
	struct resp r;
	static const char *const ok[] = {"7.0", "7.3", "7.6", "2025-07-01"};

	srv_start(&v, NULL, NULL);
	http(&v, "GET", "/keys?api-version=7.9", NULL, NULL, &r);
	expect_error(&r, 400, "BadParameter", NULL);
	cr_assert_str_eq(jstr(r.json, "error.message"), "The specified version "
	    "(7.9) is not recognized. Consider using the latest supported "
	    "version (2025-07-01).");
	resp_free(&r);
	http(&v, "GET", "/keys", NULL, NULL, &r);
	expect_error(&r, 400, "BadParameter", NULL);
	resp_free(&r);
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		char p[64];

		snprintf(p, sizeof(p), "/keys?api-version=%s", ok[i]);
		http(&v, "GET", p, NULL, NULL, &r);
		cr_assert_eq(r.status, 200, "%s: %ld", ok[i], r.status);
		cr_assert(cJSON_IsArray(jget(r.json, "value")));
		resp_free(&r);
	}
	srv_stop(&v, 1);
}

static void
lax_api(struct atr_kv_server_opts *o)
{
	o->api_version_strict = 0;
}

Test(kv_server, api_version_any_switch)
{
	struct srv v;
	struct resp r;

	srv_start(&v, NULL, lax_api);
	http(&v, "GET", "/keys?api-version=9.9-future", NULL, NULL, &r);
	cr_assert_eq(r.status, 200);
	resp_free(&r);
	srv_stop(&v, 1);
}

Test(kv_server, create_get_rotate_versions)
{
	struct srv v;
	struct resp r;
	char ver1[64], ver2[64], p[1200], want[512], next[1024];
	uint8_t n[600];
	const cJSON *ops;

	srv_start(&v, NULL, NULL);
	http(&v, "POST", "/keys/cmk1/create?api-version=7.5",
	    "{\"kty\":\"RSA\",\"key_size\":2048,\"tags\":{\"purpose\":\"unit test\"}}",
	    NULL, &r);
	cr_assert_eq(r.status, 200, "%s", r.body);
	snprintf(want, sizeof(want), "%s/keys/cmk1/", v.url);
	cr_assert_eq(strncmp(jstr(r.json, "key.kid"), want, strlen(want)), 0);
	snprintf(ver1, sizeof(ver1), "%s", jstr(r.json, "key.kid") + strlen(want));
	cr_assert_eq(strlen(ver1), 32);
	cr_assert_eq(strspn(ver1, "0123456789abcdef"), 32);
	cr_assert_str_eq(jstr(r.json, "key.kty"), "RSA");
	cr_assert_str_eq(jstr(r.json, "key.e"), "AQAB");
	cr_assert_null(strchr(jstr(r.json, "key.n"), '='));
	cr_assert_eq(unb64u(jstr(r.json, "key.n"), n, sizeof(n)), 256);
	cr_assert(n[0] & 0x80);
	cr_assert_null(jget(r.json, "key.d"), "private parts never returned");
	ops = jget(r.json, "key.key_ops");
	cr_assert_eq(cJSON_GetArraySize(ops), 6);
	cr_assert_str_eq(cJSON_GetArrayItem(ops, 4)->valuestring, "wrapKey");
	cr_assert(cJSON_IsTrue(jget(r.json, "attributes.enabled")));
	cr_assert_str_eq(jstr(r.json, "attributes.recoveryLevel"),
	    "Recoverable+Purgeable");
	cr_assert_eq(jget(r.json, "attributes.recoverableDays")->valueint, 90);
	cr_assert(cJSON_IsNumber(jget(r.json, "attributes.created")));
	cr_assert_str_eq(jstr(r.json, "tags.purpose"), "unit test");
	resp_free(&r);

	/* Latest: no slash, trailing slash, and by version. */
	snprintf(p, sizeof(p), "%s%s", want, ver1);
	http(&v, "GET", "/keys/cmk1?api-version=7.4", NULL, NULL, &r);
	cr_assert_str_eq(jstr(r.json, "key.kid"), p);
	resp_free(&r);
	http(&v, "GET", "/keys/cmk1/?api-version=7.4", NULL, NULL, &r);
	cr_assert_str_eq(jstr(r.json, "key.kid"), p);
	resp_free(&r);

	http(&v, "POST", "/keys/cmk1/rotate?api-version=7.4", NULL, NULL, &r);
	cr_assert_eq(r.status, 200, "%s", r.body);
	snprintf(ver2, sizeof(ver2), "%s", jstr(r.json, "key.kid") + strlen(want));
	cr_assert_str_neq(ver1, ver2);
	cr_assert_str_eq(jstr(r.json, "tags.purpose"), "unit test");
	cr_assert_str_neq(jstr(r.json, "key.n"), "");
	resp_free(&r);

	http(&v, "GET", "/keys/cmk1?api-version=7.4", NULL, NULL, &r);
	cr_assert_eq(strcmp(jstr(r.json, "key.kid") + strlen(want), ver2), 0);
	resp_free(&r);
	snprintf(p, sizeof(p), "/keys/cmk1/%s?api-version=7.4", ver1);
	http(&v, "GET", p, NULL, NULL, &r);
	cr_assert_eq(r.status, 200);
	cr_assert_eq(strcmp(jstr(r.json, "key.kid") + strlen(want), ver1), 0);
	resp_free(&r);

	http(&v, "GET", "/keys/cmk1/versions?api-version=7.4", NULL, NULL, &r);
	cr_assert_eq(r.status, 200);
	cr_assert_eq(cJSON_GetArraySize(jget(r.json, "value")), 2);
	cr_assert(cJSON_IsNull(jget(r.json, "nextLink")));
	resp_free(&r);
	/* Paging: one per page, nextLink absolute, then null. */
	http(&v, "GET", "/keys/cmk1/versions?api-version=7.4&maxresults=1",
	    NULL, NULL, &r);
	cr_assert_eq(cJSON_GetArraySize(jget(r.json, "value")), 1);
	snprintf(p, sizeof(p), "%s%s", want, ver1);
	cr_assert_str_eq(jstr(cJSON_GetArrayItem(jget(r.json, "value"), 0),
	    "kid"), p);
	cr_assert_not_null(jstr(r.json, "nextLink"));
	snprintf(next, sizeof(next), "%s", jstr(r.json, "nextLink"));
	cr_assert(strstr(next, "$skiptoken=") != NULL);
	resp_free(&r);
	http(&v, "GET", next, NULL, NULL, &r);
	cr_assert_eq(r.status, 200, "%s", r.body);
	cr_assert_eq(cJSON_GetArraySize(jget(r.json, "value")), 1);
	snprintf(p, sizeof(p), "%s%s", want, ver2);
	cr_assert_str_eq(jstr(cJSON_GetArrayItem(jget(r.json, "value"), 0),
	    "kid"), p);
	cr_assert(cJSON_IsNull(jget(r.json, "nextLink")));
	resp_free(&r);
	http(&v, "GET", "/keys/cmk1/versions?api-version=7.4&maxresults=26",
	    NULL, NULL, &r);
	expect_error(&r, 400, "BadParameter", NULL);
	resp_free(&r);
	srv_stop(&v, 1);
}

Test(kv_server, update_disable_enable)
{
	struct srv v;
	struct resp r;
	char ver[64], p[512], dek[64], wrapped[1024], out[1024];
	uint8_t raw[32];
	int64_t created;

	srv_start(&v, NULL, NULL);
	create_key(&v, "cmk2", "{\"kty\":\"RSA\"}", ver, sizeof(ver));
	dek_b64(dek, sizeof(dek), raw);
	snprintf(p, sizeof(p), "/keys/cmk2/%s/wrapkey?api-version=7.4", ver);
	cr_assert_eq(crypt_op(&v, p, "RSA-OAEP-256", dek, wrapped,
	    sizeof(wrapped), NULL), 200);

	snprintf(p, sizeof(p), "/keys/cmk2/%s?api-version=7.4", ver);
	http(&v, "PATCH", p, "{\"attributes\":{\"enabled\":false}}", NULL, &r);
	cr_assert_eq(r.status, 200, "%s", r.body);
	cr_assert(cJSON_IsFalse(jget(r.json, "attributes.enabled")));
	created = (int64_t)jget(r.json, "attributes.created")->valuedouble;
	cr_assert_geq((int64_t)jget(r.json, "attributes.updated")->valuedouble,
	    created);
	resp_free(&r);

	snprintf(p, sizeof(p), "/keys/cmk2/%s/unwrapkey?api-version=7.4", ver);
	cr_assert_eq(crypt_op(&v, p, "RSA-OAEP-256", wrapped, NULL, 0, &r), 403);
	expect_error(&r, 403, "Forbidden", "KeyDisabled");
	cr_assert_str_eq(jstr(r.json, "error.message"),
	    "Operation unwrapKey is not allowed on a disabled key.");
	resp_free(&r);
	snprintf(p, sizeof(p), "/keys/cmk2/%s/wrapkey?api-version=7.4", ver);
	cr_assert_eq(crypt_op(&v, p, "RSA-OAEP-256", dek, NULL, 0, NULL), 403);
	/* GET of a disabled key: 200 with enabled=false by default. */
	http(&v, "GET", "/keys/cmk2/?api-version=7.4", NULL, NULL, &r);
	cr_assert_eq(r.status, 200);
	cr_assert(cJSON_IsFalse(jget(r.json, "attributes.enabled")));
	resp_free(&r);

	/* Enable through verb tunnelling (POST + X-HTTP-METHOD: PATCH). */
	snprintf(p, sizeof(p), "/keys/cmk2/%s?api-version=7.4", ver);
	http_full(&v, v.url, "POST", p, "{\"attributes\":{\"enabled\":true}}",
	    NULL, "X-HTTP-METHOD: PATCH", &r);
	cr_assert_eq(r.status, 200, "%s", r.body);
	cr_assert(cJSON_IsTrue(jget(r.json, "attributes.enabled")));
	resp_free(&r);
	snprintf(p, sizeof(p), "/keys/cmk2/%s/unwrapkey?api-version=7.4", ver);
	cr_assert_eq(crypt_op(&v, p, "RSA-OAEP-256", wrapped, out, sizeof(out),
	    NULL), 200);
	cr_assert_str_eq(out, dek);

	/* key_ops enforcement. */
	snprintf(p, sizeof(p), "/keys/cmk2/%s?api-version=7.4", ver);
	http(&v, "PATCH", p, "{\"key_ops\":[\"wrapKey\"],\"tags\":{\"a\":\"b\"}}",
	    NULL, &r);
	cr_assert_eq(r.status, 200);
	cr_assert_eq(cJSON_GetArraySize(jget(r.json, "key.key_ops")), 1);
	cr_assert_str_eq(jstr(r.json, "tags.a"), "b");
	resp_free(&r);
	snprintf(p, sizeof(p), "/keys/cmk2/%s/unwrapkey?api-version=7.4", ver);
	cr_assert_eq(crypt_op(&v, p, "RSA-OAEP-256", wrapped, NULL, 0, &r), 403);
	expect_error(&r, 403, "Forbidden", "KeyOperationForbidden");
	cr_assert_str_eq(jstr(r.json, "error.message"),
	    "Operation unwrapKey is not permitted on this key.");
	resp_free(&r);
	http(&v, "PATCH", p, "{\"key_ops\":[\"launch\"]}", NULL, &r);
	cr_assert_neq(r.status, 200);
	resp_free(&r);
	snprintf(p, sizeof(p), "/keys/cmk2/%s?api-version=7.4", ver);
	http(&v, "PATCH", p, "{\"key_ops\":[\"launch\"]}", NULL, &r);
	expect_error(&r, 400, "BadParameter", NULL);
	resp_free(&r);
	srv_stop(&v, 1);
}

static void
block_decrypt_only(struct atr_kv_server_opts *o)
{
	o->disabled_blocks = ATR_JWK_DECRYPT | ATR_JWK_UNWRAP;
	o->disabled_get_forbidden = 1;
}

Test(kv_server, disabled_switches)
{
	struct srv v;
	struct resp r;
	char dek[64], wrapped[1024];
	uint8_t raw[32];

	srv_start(&v, NULL, block_decrypt_only);
	create_key(&v, "d1", "{\"kty\":\"RSA\",\"attributes\":{\"enabled\":false}}",
	    NULL, 0);
	dek_b64(dek, sizeof(dek), raw);
	/* The one live report: wrap still works, unwrap does not. */
	cr_assert_eq(crypt_op(&v, "/keys/d1/wrapkey?api-version=7.4",
	    "RSA-OAEP-256", dek, wrapped, sizeof(wrapped), NULL), 200);
	cr_assert_eq(crypt_op(&v, "/keys/d1/unwrapkey?api-version=7.4",
	    "RSA-OAEP-256", wrapped, NULL, 0, NULL), 403);
	http(&v, "GET", "/keys/d1?api-version=7.4", NULL, NULL, &r);
	expect_error(&r, 403, "Forbidden", "KeyDisabled");
	resp_free(&r);
	/* And switched at run time through /admin/config. */
	admin_http(&v, "POST", "/admin/config",
	    "{\"disabled_blocks\":[],\"disabled_get_forbidden\":false}", &r);
	cr_assert_eq(r.status, 200, "%s", r.body);
	resp_free(&r);
	cr_assert_eq(crypt_op(&v, "/keys/d1/unwrapkey?api-version=7.4",
	    "RSA-OAEP-256", wrapped, NULL, 0, NULL), 200);
	http(&v, "GET", "/keys/d1?api-version=7.4", NULL, NULL, &r);
	cr_assert_eq(r.status, 200);
	resp_free(&r);
	srv_stop(&v, 1);
}

Test(kv_server, nbf_exp_rules)
{
	struct srv v;
	struct resp r;
	char dek[64], wrapped[1024], out[1024], body[256];
	uint8_t raw[32];
	long now = (long)time(NULL);

	srv_start(&v, NULL, NULL);
	create_key(&v, "e1", "{\"kty\":\"RSA\"}", NULL, 0);
	dek_b64(dek, sizeof(dek), raw);
	cr_assert_eq(crypt_op(&v, "/keys/e1/wrapkey?api-version=7.4",
	    "RSA-OAEP-256", dek, wrapped, sizeof(wrapped), NULL), 200);
	snprintf(body, sizeof(body), "{\"attributes\":{\"exp\":%ld}}", now - 100);
	http(&v, "PATCH", "/keys/e1?api-version=7.4", body, NULL, &r);
	cr_assert_eq(r.status, 200);
	cr_assert_eq((long)jget(r.json, "attributes.exp")->valuedouble, now - 100);
	resp_free(&r);
	/* Expired: wrap refused, unwrap still allowed. */
	cr_assert_eq(crypt_op(&v, "/keys/e1/wrapkey?api-version=7.4",
	    "RSA-OAEP-256", dek, NULL, 0, &r), 403);
	expect_error(&r, 403, "Forbidden", NULL);
	resp_free(&r);
	cr_assert_eq(crypt_op(&v, "/keys/e1/unwrapkey?api-version=7.4",
	    "RSA-OAEP-256", wrapped, out, sizeof(out), NULL), 200);
	cr_assert_str_eq(out, dek);
	/* Not yet valid likewise; exp null clears. */
	snprintf(body, sizeof(body), "{\"attributes\":{\"exp\":null,\"nbf\":%ld}}",
	    now + 3600);
	http(&v, "PATCH", "/keys/e1?api-version=7.4", body, NULL, &r);
	cr_assert_eq(r.status, 200);
	cr_assert_null(jget(r.json, "attributes.exp"));
	resp_free(&r);
	cr_assert_eq(crypt_op(&v, "/keys/e1/encrypt?api-version=7.4",
	    "RSA-OAEP-256", dek, NULL, 0, NULL), 403);
	cr_assert_eq(crypt_op(&v, "/keys/e1/decrypt?api-version=7.4",
	    "RSA-OAEP-256", wrapped, out, sizeof(out), NULL), 200);
	cr_assert_str_eq(out, dek);
	/* The server clock can be moved (admin clock_offset). */
	admin_http(&v, "POST", "/admin/config", "{\"clock_offset\":7200}", &r);
	cr_assert_eq(r.status, 200);
	resp_free(&r);
	cr_assert_eq(crypt_op(&v, "/keys/e1/encrypt?api-version=7.4",
	    "RSA-OAEP-256", dek, NULL, 0, NULL), 200);
	srv_stop(&v, 1);
}

Test(kv_server, delete_recover_purge)
{
	struct srv v;
	struct resp r;
	char want[512];
	double dd;
	struct stat st;

	srv_start(&v, NULL, NULL);
	create_key(&v, "gone", "{\"kty\":\"RSA\"}", NULL, 0);
	http(&v, "DELETE", "/keys/gone?api-version=7.4", NULL, NULL, &r);
	cr_assert_eq(r.status, 200, "%s", r.body);
	snprintf(want, sizeof(want), "%s/deletedkeys/gone", v.url);
	cr_assert_str_eq(jstr(r.json, "recoveryId"), want);
	dd = jget(r.json, "deletedDate")->valuedouble;
	cr_assert_eq(jget(r.json, "scheduledPurgeDate")->valuedouble,
	    dd + 90.0 * 86400.0);
	cr_assert_not_null(jstr(r.json, "key.kid"));
	resp_free(&r);

	http(&v, "GET", "/keys/gone?api-version=7.4", NULL, NULL, &r);
	expect_error(&r, 404, "KeyNotFound", NULL);
	cr_assert_str_eq(jstr(r.json, "error.message"), "A key with (name/id) "
	    "gone was not found in this key vault. If you recently deleted this "
	    "key you may be able to recover it using the correct recovery "
	    "command. For help resolving this issue, please see "
	    "https://go.microsoft.com/fwlink/?linkid=2125182");
	resp_free(&r);
	http(&v, "POST", "/keys/gone/create?api-version=7.4", "{\"kty\":\"RSA\"}",
	    NULL, &r);
	expect_error(&r, 409, "Conflict", "ObjectIsDeletedButRecoverable");
	resp_free(&r);
	http(&v, "GET", "/deletedkeys/gone?api-version=7.4", NULL, NULL, &r);
	cr_assert_eq(r.status, 200);
	cr_assert_str_eq(jstr(r.json, "recoveryId"), want);
	resp_free(&r);
	http(&v, "GET", "/deletedkeys?api-version=7.4", NULL, NULL, &r);
	cr_assert_eq(cJSON_GetArraySize(jget(r.json, "value")), 1);
	resp_free(&r);

	http(&v, "POST", "/deletedkeys/gone/recover?api-version=7.4", NULL, NULL,
	    &r);
	cr_assert_eq(r.status, 200, "%s", r.body);
	cr_assert_null(jget(r.json, "recoveryId"));
	resp_free(&r);
	http(&v, "GET", "/keys/gone?api-version=7.4", NULL, NULL, &r);
	cr_assert_eq(r.status, 200);
	resp_free(&r);

	http(&v, "DELETE", "/keys/gone?api-version=7.4", NULL, NULL, &r);
	cr_assert_eq(r.status, 200);
	resp_free(&r);
	http(&v, "DELETE", "/deletedkeys/gone?api-version=7.4", NULL, NULL, &r);
	cr_assert_eq(r.status, 204);
	cr_assert_eq(r.len, 0);
	resp_free(&r);
	snprintf(want, sizeof(want), "%s/keys/gone.json", v.dir);
	cr_assert_neq(stat(want, &st), 0, "purged key file must be gone");
	http(&v, "GET", "/deletedkeys/gone?api-version=7.4", NULL, NULL, &r);
	expect_error(&r, 404, "KeyNotFound", NULL);
	cr_assert_str_eq(jstr(r.json, "error.message"),
	    "Deleted Key not found: gone");
	resp_free(&r);
	http(&v, "POST", "/deletedkeys/gone/recover?api-version=7.4", NULL, NULL,
	    &r);
	cr_assert_eq(r.status, 404);
	resp_free(&r);
	create_key(&v, "gone", "{\"kty\":\"RSA\"}", NULL, 0);
	srv_stop(&v, 1);
}

static void
purge_protected(struct atr_kv_server_opts *o)
{
	o->purge_protection = 1;
	o->recoverable_days = 7;
}

Test(kv_server, purge_protection)
{
	struct srv v;
	struct resp r;

	srv_start(&v, NULL, purge_protected);
	http(&v, "POST", "/keys/pp/create?api-version=7.4", "{\"kty\":\"RSA\"}",
	    NULL, &r);
	cr_assert_str_eq(jstr(r.json, "attributes.recoveryLevel"),
	    "CustomizedRecoverable");
	cr_assert_eq(jget(r.json, "attributes.recoverableDays")->valueint, 7);
	resp_free(&r);
	http(&v, "DELETE", "/keys/pp?api-version=7.4", NULL, NULL, &r);
	cr_assert_eq(r.status, 200);
	resp_free(&r);
	http(&v, "DELETE", "/deletedkeys/pp?api-version=7.4", NULL, NULL, &r);
	expect_error(&r, 403, "Forbidden", NULL);
	resp_free(&r);
	srv_stop(&v, 1);
}

/* form POST to the token endpoint */
static void
token_req(struct srv *v, const char *tenant, const char *form, struct resp *r)
{
	CURL *c = curl_easy_init();
	char url[512];

	memset(r, 0, sizeof(*r));
	snprintf(url, sizeof(url), "%s/%s/oauth2/v2.0/token", v->url, tenant);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CAINFO, atr_kv_server_ca_path(v->s));
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, form);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	r->rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	if (r->body != NULL)
		r->json = cJSON_Parse(r->body);
	curl_easy_cleanup(c);
}

static void
read_secret(struct srv *v, char *out, size_t cap)
{
	FILE *f = fopen(atr_kv_server_client_secret_path(v->s), "r");
	struct stat st;

	cr_assert_not_null(f);
	cr_assert_not_null(fgets(out, (int)cap, f));
	fclose(f);
	cr_assert_eq(stat(atr_kv_server_client_secret_path(v->s), &st), 0);
	cr_assert_eq(st.st_mode & 0777, 0600);
}

static const char *const extra_clients[] = {"extra-app:extra-secret"};

static void
validate_mode(struct atr_kv_server_opts *o)
{
	o->token_mode = ATR_KV_TOKEN_VALIDATE;
	o->clients = extra_clients;
	o->nclients = 1;
}

Test(kv_server, token_endpoint_and_validation)
{
	struct srv v;
	struct resp r;
	char secret[256], form[1024], tok[4096], bearer[4200], *esc;
	const char *tenant;
	CURL *c;

	srv_start(&v, NULL, validate_mode);
	tenant = atr_kv_server_tenant(v.s);
	read_secret(&v, secret, sizeof(secret));
	c = curl_easy_init();
	esc = curl_easy_escape(c, secret, 0);
	snprintf(form, sizeof(form), "client_id=%s&client_secret=%s&scope="
	    "https%%3A%%2F%%2Fvault.azure.net%%2F.default&grant_type="
	    "client_credentials", atr_kv_server_client_id(v.s), esc);
	token_req(&v, tenant, form, &r);
	cr_assert_eq(r.status, 200, "%s", r.body);
	cr_assert_str_eq(jstr(r.json, "token_type"), "Bearer");
	cr_assert_eq(jget(r.json, "expires_in")->valueint, 3599);
	snprintf(tok, sizeof(tok), "%s", jstr(r.json, "access_token"));
	cr_assert_not_null(strchr(tok, '.'));
	resp_free(&r);

	snprintf(bearer, sizeof(bearer), "Bearer %s", tok);
	http(&v, "GET", "/keys?api-version=7.4", NULL, bearer, &r);
	cr_assert_eq(r.status, 200, "%s", r.body);
	resp_free(&r);
	/* A tampered token: 401 with the challenge again. */
	tok[strlen(tok) - 2] ^= 1;
	snprintf(bearer, sizeof(bearer), "Bearer %s", tok);
	http(&v, "GET", "/keys?api-version=7.4", NULL, bearer, &r);
	expect_error(&r, 401, "Unauthorized", NULL);
	cr_assert(strncmp(jstr(r.json, "error.message"), "AKV10046:", 9) == 0);
	{
		char hv[1024];

		cr_assert_not_null(header(&r, "WWW-Authenticate", hv, sizeof(hv)));
	}
	resp_free(&r);
	http(&v, "GET", "/keys?api-version=7.4", NULL, "Bearer test", &r);
	cr_assert_eq(r.status, 401);
	resp_free(&r);
	/* Wrong audience: AKV10022, the service's text. */
	cr_assert_eq(tl_kv_mint_token(v.s, NULL,
	    "https://management.azure.com/", 600, tok, sizeof(tok)), ATR_OK);
	snprintf(bearer, sizeof(bearer), "Bearer %s", tok);
	http(&v, "GET", "/keys?api-version=7.4", NULL, bearer, &r);
	expect_error(&r, 401, "Unauthorized", NULL);
	cr_assert_str_eq(jstr(r.json, "error.message"), "AKV10022: Invalid "
	    "audience. Expected https://vault.azure.net, found: "
	    "https://management.azure.com/.");
	resp_free(&r);
	/* Expired. */
	cr_assert_eq(tl_kv_mint_token(v.s, NULL, NULL, -60, tok,
	    sizeof(tok)), ATR_OK);
	snprintf(bearer, sizeof(bearer), "Bearer %s", tok);
	http(&v, "GET", "/keys?api-version=7.4", NULL, bearer, &r);
	expect_error(&r, 401, "Unauthorized", NULL);
	cr_assert_str_eq(jstr(r.json, "error.message"),
	    "[TokenExpired] Error validating token: 'S2S12086'.");
	resp_free(&r);

	/* Token endpoint refusals. */
	snprintf(form, sizeof(form), "client_id=%s&client_secret=wrong&scope="
	    "https%%3A%%2F%%2Fvault.azure.net%%2F.default&grant_type="
	    "client_credentials", atr_kv_server_client_id(v.s));
	token_req(&v, tenant, form, &r);
	cr_assert_eq(r.status, 401);
	cr_assert_str_eq(jstr(r.json, "error"), "invalid_client");
	cr_assert_eq(cJSON_GetArrayItem(jget(r.json, "error_codes"), 0)->valueint,
	    7000215);
	cr_assert(strncmp(jstr(r.json, "error_description"), "AADSTS7000215:",
	    14) == 0);
	resp_free(&r);
	snprintf(form, sizeof(form), "client_id=%s&client_secret=%s&scope="
	    "https%%3A%%2F%%2Fvault.azure.net&grant_type=client_credentials",
	    atr_kv_server_client_id(v.s), esc);
	token_req(&v, tenant, form, &r);
	cr_assert_eq(r.status, 400);
	cr_assert_str_eq(jstr(r.json, "error"), "invalid_scope");
	resp_free(&r);
	snprintf(form, sizeof(form), "client_id=%s&client_secret=%s&scope="
	    "https%%3A%%2F%%2Fvault.azure.net%%2F.default&grant_type=password",
	    atr_kv_server_client_id(v.s), esc);
	token_req(&v, tenant, form, &r);
	cr_assert_str_eq(jstr(r.json, "error"), "unsupported_grant_type");
	resp_free(&r);
	token_req(&v, "00000000-0000-0000-0000-000000000000", form, &r);
	cr_assert_eq(r.status, 400);
	resp_free(&r);
	snprintf(form, sizeof(form), "client_id=nobody&client_secret=x&scope="
	    "https%%3A%%2F%%2Fvault.azure.net%%2F.default&grant_type="
	    "client_credentials");
	token_req(&v, tenant, form, &r);
	cr_assert_str_eq(jstr(r.json, "error"), "unauthorized_client");
	resp_free(&r);
	/* A configured extra client, and a scope for another resource
	 * whose token the vault then refuses (AKV10022). */
	snprintf(form, sizeof(form), "client_id=extra-app&client_secret="
	    "extra-secret&scope=https%%3A%%2F%%2Fmanagement.azure.com%%2F"
	    ".default&grant_type=client_credentials");
	token_req(&v, tenant, form, &r);
	cr_assert_eq(r.status, 200, "%s", r.body);
	snprintf(bearer, sizeof(bearer), "Bearer %s",
	    jstr(r.json, "access_token"));
	resp_free(&r);
	http(&v, "GET", "/keys?api-version=7.4", NULL, bearer, &r);
	cr_assert_eq(r.status, 401);
	cr_assert(strncmp(jstr(r.json, "error.message"), "AKV10022:", 9) == 0);
	resp_free(&r);
	curl_free(esc);
	curl_easy_cleanup(c);
	{
		struct atr_kv_server_stats st;

		atr_kv_server_get_stats(v.s, &st);
		cr_assert_geq(st.tokens_issued, 2);
		cr_assert_geq(st.unauthorized, 5);
	}
	srv_stop(&v, 1);
}

#define MI_ID "5c6f1c2e-0000-4000-8000-00000000a1b2"

static void
validate_mi(struct atr_kv_server_opts *o)
{
	validate_mode(o);
	o->managed_identity = MI_ID;
}

Test(kv_server, imds_managed_identity)
{
	struct srv v;
	struct resp r;
	char bearer[4200];
	const char *p = "/metadata/identity/oauth2/token?api-version=2018-02-01"
	    "&resource=https://vault.azure.net";

	srv_start(&v, NULL, validate_mi);
	http(&v, "GET", p, NULL, "", &r);
	cr_assert_eq(r.status, 400);
	cr_assert_str_eq(jstr(r.json, "error"), "invalid_request");
	resp_free(&r);
	http_full(&v, v.url, "GET", p, NULL, "", "Metadata: true", &r);
	cr_assert_eq(r.status, 200, "%s", r.body);
	cr_assert(cJSON_IsString(jget(r.json, "expires_in")), "IMDS numbers are strings");
	cr_assert(cJSON_IsString(jget(r.json, "expires_on")));
	cr_assert_str_eq(jstr(r.json, "resource"), "https://vault.azure.net");
	cr_assert_str_eq(jstr(r.json, "token_type"), "Bearer");
	cr_assert_str_eq(jstr(r.json, "client_id"), MI_ID);
	snprintf(bearer, sizeof(bearer), "Bearer %s", jstr(r.json, "access_token"));
	resp_free(&r);
	/* A user-assigned identity is asked for by its client id. */
	http_full(&v, v.url, "GET", "/metadata/identity/oauth2/token?"
	    "api-version=2018-02-01&resource=https://vault.azure.net&client_id="
	    MI_ID, NULL, "", "Metadata: true", &r);
	cr_assert_eq(r.status, 200, "%s", r.body);
	resp_free(&r);
	http_full(&v, v.url, "GET", "/metadata/identity/oauth2/token?"
	    "api-version=2018-02-01&resource=https://vault.azure.net&client_id="
	    "00000000-0000-0000-0000-000000000000", NULL, "", "Metadata: true",
	    &r);
	cr_assert_eq(r.status, 400);
	cr_assert_null(jget(r.json, "access_token"));
	resp_free(&r);
	http(&v, "GET", "/keys?api-version=7.4", NULL, bearer, &r);
	cr_assert_eq(r.status, 200);
	resp_free(&r);
	srv_stop(&v, 1);
}

Test(kv_server, bad_inputs)
{
	struct srv v;
	struct resp r;

	srv_start(&v, NULL, NULL);
	create_key(&v, "bk", "{\"kty\":\"RSA\"}", NULL, 0);
	cr_assert_eq(crypt_op(&v, "/keys/bk/wrapkey?api-version=7.4",
	    "RSA-OAEP-256", "ab+c/d==", NULL, 0, &r), 400);
	expect_error(&r, 400, "BadParameter", NULL);
	cr_assert_str_eq(jstr(r.json, "error.message"), "Content of 'value' is "
	    "not base64url.\r\nProperty 'value' is required.\r\n");
	resp_free(&r);
	http(&v, "POST", "/keys/bk/wrapkey?api-version=7.4", "{\"value\":\"AAAA\"}",
	    NULL, &r);
	expect_error(&r, 400, "BadParameter", NULL);
	cr_assert_str_eq(jstr(r.json, "error.message"),
	    "Property  has invalid value\r\n");
	resp_free(&r);
	cr_assert_eq(crypt_op(&v, "/keys/bk/wrapkey?api-version=7.4",
	    "RSA-OAEP-512", "AAAA", NULL, 0, NULL), 400);
	cr_assert_eq(crypt_op(&v, "/keys/bk/wrapkey?api-version=7.4",
	    "A256KW", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", NULL, 0,
	    NULL), 400);
	http(&v, "POST", "/keys/ec/create?api-version=7.4", "{\"kty\":\"EC-FOO\"}",
	    NULL, &r);
	expect_error(&r, 400, "BadParameter", "KeyTypeNotSupported");
	cr_assert_str_eq(jstr(r.json, "error.message"),
	    "Invalid kty value: EC-FOO");
	resp_free(&r);
	http(&v, "POST", "/keys/small/create?api-version=7.4",
	    "{\"kty\":\"RSA\",\"key_size\":1024}", NULL, &r);
	expect_error(&r, 400, "BadParameter", NULL);
	resp_free(&r);
	http(&v, "POST", "/keys/bad_name/create?api-version=7.4",
	    "{\"kty\":\"RSA\"}", NULL, &r);
	expect_error(&r, 400, "BadParameter", NULL);
	cr_assert_str_eq(jstr(r.json, "error.message"),
	    "The request URI contains an invalid name: bad_name");
	resp_free(&r);
	http(&v, "POST", "/keys/x/create?api-version=7.4", "[1,2", NULL, &r);
	expect_error(&r, 400, "BadParameter", NULL);
	resp_free(&r);
	http(&v, "GET", "/keys/nokey/0123456789abcdef0123456789abcdef"
	    "?api-version=7.4", NULL, NULL, &r);
	expect_error(&r, 404, "KeyNotFound", NULL);
	cr_assert(strncmp(jstr(r.json, "error.message"), "A key with (name/id) "
	    "nokey/0123456789abcdef0123456789abcdef was not found", 73) == 0);
	resp_free(&r);
	http(&v, "PUT", "/keys/bk/create?api-version=7.4", "{}", NULL, &r);
	cr_assert_eq(r.status, 405);
	resp_free(&r);
	http(&v, "POST", "/keys/bk/sign?api-version=7.4", "{}", NULL, &r);
	cr_assert_eq(r.status, 501);
	resp_free(&r);
	srv_stop(&v, 1);
}

Test(kv_server, case_insensitive_and_versionless_paths)
{
	struct srv v;
	struct resp r;
	char ver[64], up[64], p[512], dek[64], w[1024], out[1024];
	uint8_t raw[32];
	size_t i;

	srv_start(&v, NULL, NULL);
	create_key(&v, "CaseKey", "{\"kty\":\"RSA\"}", ver, sizeof(ver));
	http(&v, "GET", "/KEYS/casekey?api-version=7.4", NULL, NULL, &r);
	cr_assert_eq(r.status, 200);
	snprintf(p, sizeof(p), "%s/keys/CaseKey/%s", v.url, ver);
	cr_assert_str_eq(jstr(r.json, "key.kid"), p);
	resp_free(&r);
	for (i = 0; ver[i] != '\0'; i++)
		up[i] = (char)(ver[i] >= 'a' && ver[i] <= 'f' ? ver[i] - 32 : ver[i]);
	up[i] = '\0';
	dek_b64(dek, sizeof(dek), raw);
	/* .NET's camel case, versioned. */
	snprintf(p, sizeof(p), "/Keys/CASEKEY/%s/wrapKey?api-version=7.6", up);
	cr_assert_eq(crypt_op(&v, p, "RSA-OAEP-256", dek, w, sizeof(w), &r), 200);
	snprintf(p, sizeof(p), "%s/keys/CaseKey/%s", v.url, ver);
	cr_assert_str_eq(jstr(r.json, "kid"), p, "versioned kid in every result");
	resp_free(&r);
	/* Versionless, both spellings. */
	cr_assert_eq(crypt_op(&v, "/keys/casekey/UnwrapKey?api-version=7.6",
	    "RSA-OAEP-256", w, out, sizeof(out), &r), 200);
	cr_assert_str_eq(out, dek);
	cr_assert_str_eq(jstr(r.json, "kid"), p);
	resp_free(&r);
	cr_assert_eq(crypt_op(&v, "/keys/casekey//wrapkey?api-version=7.6",
	    "RSA-OAEP-256", dek, w, sizeof(w), NULL), 200);
	cr_assert_eq(crypt_op(&v, "/keys/casekey//unwrapkey?api-version=7.6",
	    "RSA-OAEP-256", w, out, sizeof(out), NULL), 200);
	cr_assert_str_eq(out, dek);
	srv_stop(&v, 1);
}

static void
read_all(const char *path, char *buf, size_t cap)
{
	FILE *f = fopen(path, "r");
	size_t n;

	cr_assert_not_null(f, "%s", path);
	n = fread(buf, 1, cap - 1, f);
	buf[n] = '\0';
	fclose(f);
}

static void
expect_mode(const char *dir, const char *name, unsigned mode)
{
	char p[512];
	struct stat st;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	cr_assert_eq(stat(p, &st), 0, "%s", p);
	cr_assert_eq(st.st_mode & 0777, mode, "%s mode %o", p, st.st_mode & 0777);
}

Test(kv_server, persistence_across_restart)
{
	struct srv v, v2;
	struct resp r;
	char ver[64], ver_oct[64], dek[64], w[1024], wo[1024], out[1024];
	char ca1[8192], ca2[8192], tenant[64], p[512];
	uint8_t raw[32];
	struct atr_kv_server *dup = NULL;
	struct atr_kv_server_opts o;

	srv_start(&v, NULL, NULL);
	create_key(&v, "persist", "{\"kty\":\"RSA\",\"key_size\":3072}", ver,
	    sizeof(ver));
	create_key(&v, "aes", "{\"kty\":\"oct-HSM\",\"key_size\":256}", ver_oct,
	    sizeof(ver_oct));
	dek_b64(dek, sizeof(dek), raw);
	cr_assert_eq(crypt_op(&v, "/keys/persist/wrapkey?api-version=7.4",
	    "RSA-OAEP-256", dek, w, sizeof(w), NULL), 200);
	cr_assert_eq(crypt_op(&v, "/keys/aes/wrapkey?api-version=7.4",
	    "A256KW", dek, wo, sizeof(wo), NULL), 200);
	read_all(atr_kv_server_ca_path(v.s), ca1, sizeof(ca1));
	snprintf(tenant, sizeof(tenant), "%s", atr_kv_server_tenant(v.s));
	/* One server per state directory. */
	atr_kv_server_opts_init(&o);
	o.state_dir = v.dir;
	cr_assert_eq(atr_kv_server_start(&o, &dup), ATR_ERR_CONFIG);
	cr_assert_null(dup);
	srv_stop(&v, 0);

	expect_mode(v.dir, "keys/persist.json", 0600);
	expect_mode(v.dir, "keys/aes.json", 0600);
	expect_mode(v.dir, "ca-key.pem", 0600);
	expect_mode(v.dir, "server-key.pem", 0600);
	expect_mode(v.dir, "server.json", 0600);
	expect_mode(v.dir, "ca.pem", 0644);

	memset(&v2, 0, sizeof(v2));
	snprintf(v2.dir, sizeof(v2.dir), "%s", v.dir);
	srv_start_in(&v2, v2.dir, NULL, NULL);
	read_all(atr_kv_server_ca_path(v2.s), ca2, sizeof(ca2));
	cr_assert_str_eq(ca1, ca2, "the CA is reused");
	cr_assert_str_eq(atr_kv_server_tenant(v2.s), tenant);
	http(&v2, "GET", "/keys/persist?api-version=7.4", NULL, NULL, &r);
	cr_assert_eq(r.status, 200);
	snprintf(p, sizeof(p), "%s/keys/persist/%s", v2.url, ver);
	cr_assert_str_eq(jstr(r.json, "key.kid"), p);
	resp_free(&r);
	snprintf(p, sizeof(p), "/keys/persist/%s/unwrapkey?api-version=7.4", ver);
	cr_assert_eq(crypt_op(&v2, p, "RSA-OAEP-256", w, out, sizeof(out),
	    NULL), 200);
	cr_assert_str_eq(out, dek);
	snprintf(p, sizeof(p), "/keys/aes/%s/unwrapkey?api-version=7.4", ver_oct);
	cr_assert_eq(crypt_op(&v2, p, "A256KW", wo, out, sizeof(out), NULL), 200);
	cr_assert_str_eq(out, dek);
	srv_stop(&v2, 1);
}

Test(kv_server, fault_injection)
{
	struct srv v;
	struct resp r;
	char hv[64];
	struct atr_kv_server_stats st;

	srv_start(&v, "429=1.0,retry-after=2", NULL);
	http(&v, "GET", "/keys?api-version=7.4", NULL, NULL, &r);
	expect_error(&r, 429, "Throttled", NULL);
	cr_assert_str_eq(jstr(r.json, "error.message"), "Request was not "
	    "processed because too many requests were received. Reason: "
	    "VaultRequestTypeLimitReached");
	cr_assert_str_eq(header(&r, "Retry-After", hv, sizeof(hv)), "2");
	resp_free(&r);
	/* Unauthenticated requests still get the challenge, not a fault. */
	http(&v, "GET", "/keys?api-version=7.4", NULL, "", &r);
	cr_assert_eq(r.status, 401);
	resp_free(&r);

	/* 503 without Retry-After, via the admin endpoint. */
	admin_http(&v, "POST", "/admin/faults",
	    "{\"503\":1,\"retry-after\":null}", &r);
	cr_assert_eq(r.status, 200, "%s", r.body);
	cr_assert_str_eq(jstr(r.json, "spec"), "503=1");
	resp_free(&r);
	http(&v, "GET", "/keys?api-version=7.4", NULL, NULL, &r);
	cr_assert_eq(r.status, 503);
	cr_assert_null(header(&r, "Retry-After", hv, sizeof(hv)));
	resp_free(&r);

	/* Dropped connections: no response at all. */
	admin_http(&v, "POST", "/admin/faults", "{\"spec\":\"drop=1\"}", &r);
	cr_assert_eq(r.status, 200);
	resp_free(&r);
	http(&v, "GET", "/keys?api-version=7.4", NULL, NULL, &r);
	cr_assert_neq(r.rc, CURLE_OK, "a dropped connection is a curl error");
	cr_assert_eq(r.status, 0);
	resp_free(&r);

	/* Scoped to one operation. */
	cr_assert_eq(atr_kv_server_set_faults(v.s, "500=1,ops=wrapkey"), ATR_OK);
	http(&v, "GET", "/keys?api-version=7.4", NULL, NULL, &r);
	cr_assert_eq(r.status, 200);
	resp_free(&r);
	cr_assert_eq(crypt_op(&v, "/keys/none/wrapkey?api-version=7.4",
	    "RSA-OAEP-256", "AAAA", NULL, 0, NULL), 500);
	cr_assert_neq(atr_kv_server_set_faults(v.s, "500=0.7,429=0.7"), ATR_OK);
	cr_assert_neq(atr_kv_server_set_faults(v.s, "bogus=1"), ATR_OK);

	cr_assert_eq(atr_kv_server_set_faults(v.s, "latency=1ms,jitter=1ms"),
	    ATR_OK);
	http(&v, "GET", "/keys?api-version=7.4", NULL, NULL, &r);
	cr_assert_eq(r.status, 200);
	resp_free(&r);

	admin_http(&v, "GET", "/admin/stats", NULL, &r);
	cr_assert_eq(r.status, 200);
	cr_assert_geq(jget(r.json, "faults.429")->valueint, 1);
	cr_assert_geq(jget(r.json, "faults.503")->valueint, 1);
	cr_assert_geq(jget(r.json, "faults.drop")->valueint, 1);
	cr_assert_geq(jget(r.json, "faults.500")->valueint, 1);
	cr_assert_geq(jget(r.json, "status.401")->valueint, 1);
	resp_free(&r);
	atr_kv_server_get_stats(v.s, &st);
	cr_assert_geq(st.fault_drop, 1);
	cr_assert_geq(st.fault_status, 3); /* 429, 503, 500 */
	cr_assert_geq(st.requests, 7);
	srv_stop(&v, 1);
}

Test(kv_server, fault_spec_rejected_at_start)
{
	struct atr_kv_server_opts o;
	struct atr_kv_server *s = NULL;

	atr_kv_server_opts_init(&o);
	o.state_dir = "/tmp/atr-kvs-never";
	o.faults = "429=2";
	cr_assert_eq(atr_kv_server_start(&o, &s), ATR_ERR_USAGE);
	cr_assert_null(s);
}

Test(kv_server, rsa_wrap_unwrap_roundtrips)
{
	struct srv v;
	struct resp r;
	static const char *const algs[] = {"RSA-OAEP-256", "RSA-OAEP", "RSA1_5"};
	char dek[64], w[1024], out[1024];
	uint8_t raw[32], ct[600];

	srv_start(&v, NULL, NULL);
	create_key(&v, "rt", "{\"kty\":\"RSA-HSM\",\"key_size\":2048}", NULL, 0);
	dek_b64(dek, sizeof(dek), raw);
	for (size_t i = 0; i < 3; i++) {
		cr_assert_eq(crypt_op(&v, "/keys/rt/wrapkey?api-version=7.4",
		    algs[i], dek, w, sizeof(w), NULL), 200, "%s", algs[i]);
		cr_assert_eq(unb64u(w, ct, sizeof(ct)), 256);
		cr_assert_eq(crypt_op(&v, "/keys/rt/unwrapkey?api-version=7.4",
		    algs[i], w, out, sizeof(out), NULL), 200);
		cr_assert_str_eq(out, dek, "%s", algs[i]);
	}
	/* A flipped bit: 400, never the plaintext. */
	cr_assert_eq(crypt_op(&v, "/keys/rt/wrapkey?api-version=7.4",
	    "RSA-OAEP-256", dek, w, sizeof(w), NULL), 200);
	w[10] = w[10] == 'A' ? 'B' : 'A';
	cr_assert_eq(crypt_op(&v, "/keys/rt/unwrapkey?api-version=7.4",
	    "RSA-OAEP-256", w, NULL, 0, &r), 400);
	cr_assert_null(jget(r.json, "value"));
	resp_free(&r);
	/* Too long for OAEP-256 on 2048 bits (190 bytes max). */
	{
		uint8_t big[191];
		char b[400];

		memset(big, 1, sizeof(big));
		b64u(big, sizeof(big), b, sizeof(b));
		cr_assert_eq(crypt_op(&v, "/keys/rt/encrypt?api-version=7.4",
		    "RSA-OAEP-256", b, NULL, 0, NULL), 400);
		b64u(big, 190, b, sizeof(b));
		cr_assert_eq(crypt_op(&v, "/keys/rt/encrypt?api-version=7.4",
		    "RSA-OAEP-256", b, NULL, 0, NULL), 200);
	}
	http(&v, "GET", "/keys/rt?api-version=7.4", NULL, NULL, &r);
	cr_assert_str_eq(jstr(r.json, "key.kty"), "RSA-HSM");
	resp_free(&r);
	srv_stop(&v, 1);
}

static EVP_PKEY *
pub_from_jwk(const char *n_b64, const char *e_b64)
{
	uint8_t n[1024], e[16];
	size_t nl = unb64u(n_b64, n, sizeof(n)), el = unb64u(e_b64, e, sizeof(e));
	BIGNUM *bn = BN_bin2bn(n, (int)nl, NULL), *be = BN_bin2bn(e, (int)el, NULL);
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	OSSL_PARAM *params;
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	EVP_PKEY *pk = NULL;

	cr_assert(OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn));
	cr_assert(OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be));
	params = OSSL_PARAM_BLD_to_param(bld);
	cr_assert_eq(EVP_PKEY_fromdata_init(ctx), 1);
	cr_assert_eq(EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_PUBLIC_KEY, params), 1);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	EVP_PKEY_CTX_free(ctx);
	BN_free(bn);
	BN_free(be);
	return pk;
}

Test(kv_server, local_oaep256_wrap_server_unwrap)
{
	struct srv v;
	struct resp r;
	char ver[64], p[512], w[1024], out[1024], dek[64];
	uint8_t raw[32], ct[512];
	size_t ctlen = sizeof(ct);
	EVP_PKEY *pub;

	srv_start(&v, NULL, NULL);
	create_key(&v, "local", "{\"kty\":\"RSA\",\"key_size\":4096}", ver,
	    sizeof(ver));
	snprintf(p, sizeof(p), "/keys/local/%s?api-version=7.4", ver);
	http(&v, "GET", p, NULL, NULL, &r);
	cr_assert_eq(r.status, 200);
	pub = pub_from_jwk(jstr(r.json, "key.n"), jstr(r.json, "key.e"));
	resp_free(&r);
	cr_assert_eq(EVP_PKEY_get_bits(pub), 4096);
	dek_b64(dek, sizeof(dek), raw);
	/* RFC 8017 RSAES-OAEP, SHA-256 and MGF1-SHA-256, no label. */
	cr_assert_eq(atr_rsa_oaep_encrypt(pub, EVP_sha256(), NULL, 0, raw, 32,
	    ct, &ctlen), ATR_OK);
	cr_assert_eq(ctlen, 512);
	b64u(ct, ctlen, w, sizeof(w));
	snprintf(p, sizeof(p), "/keys/local/%s/unwrapkey?api-version=7.4", ver);
	cr_assert_eq(crypt_op(&v, p, "RSA-OAEP-256", w, out, sizeof(out), NULL),
	    200);
	cr_assert_str_eq(out, dek);
	/* SHA-1 OAEP is a different scheme: the server must refuse it. */
	cr_assert_eq(crypt_op(&v, p, "RSA-OAEP", w, NULL, 0, NULL), 400);
	EVP_PKEY_free(pub);
	srv_stop(&v, 1);
}

Test(kv_server, import_rsa_then_decrypt_locally)
{
	struct srv v;
	struct resp r;
	EVP_PKEY *pk = EVP_RSA_gen(2048);
	static const char *const jn[] = {"n", "e", "d", "p", "q", "dp", "dq", "qi"};
	static const char *const pn[] = {
		OSSL_PKEY_PARAM_RSA_N, OSSL_PKEY_PARAM_RSA_E,
		OSSL_PKEY_PARAM_RSA_D, OSSL_PKEY_PARAM_RSA_FACTOR1,
		OSSL_PKEY_PARAM_RSA_FACTOR2, OSSL_PKEY_PARAM_RSA_EXPONENT1,
		OSSL_PKEY_PARAM_RSA_EXPONENT2, OSSL_PKEY_PARAM_RSA_COEFFICIENT1,
	};
	cJSON *body = cJSON_CreateObject(), *key;
	char *text, dek[64], w[1024];
	uint8_t raw[32], ct[256], pt[256];
	size_t ptlen = sizeof(pt);

	cr_assert_not_null(pk);
	srv_start(&v, NULL, NULL);
	key = cJSON_AddObjectToObject(body, "key");
	cJSON_AddStringToObject(key, "kty", "RSA");
	for (size_t i = 0; i < 8; i++) {
		BIGNUM *bn = NULL;
		uint8_t b[512];
		char s[800];
		int n;

		cr_assert_eq(EVP_PKEY_get_bn_param(pk, pn[i], &bn), 1);
		n = BN_bn2bin(bn, b);
		BN_clear_free(bn);
		b64u(b, (size_t)n, s, sizeof(s));
		cJSON_AddStringToObject(key, jn[i], s);
	}
	text = cJSON_PrintUnformatted(body);
	http(&v, "PUT", "/keys/imported?api-version=7.4", text, NULL, &r);
	cr_assert_eq(r.status, 200, "%s", r.body);
	cr_assert_str_eq(jstr(r.json, "key.kty"), "RSA");
	resp_free(&r);
	dek_b64(dek, sizeof(dek), raw);
	cr_assert_eq(crypt_op(&v, "/keys/imported/wrapkey?api-version=7.4",
	    "RSA-OAEP-256", dek, w, sizeof(w), NULL), 200);
	cr_assert_eq(unb64u(w, ct, sizeof(ct)), 256);
	cr_assert_eq(atr_rsa_oaep_decrypt(pk, EVP_sha256(), NULL, 0, ct, 256, pt,
	    &ptlen), ATR_OK);
	cr_assert_eq(ptlen, 32);
	cr_assert_arr_eq(pt, raw, 32);
	/* A key whose parts do not match is refused. */
	cJSON_ReplaceItemInObject(key, "e", cJSON_CreateString("Aw"));
	free(text);
	text = cJSON_PrintUnformatted(body);
	http(&v, "PUT", "/keys/broken?api-version=7.4", text, NULL, &r);
	expect_error(&r, 400, "BadParameter", NULL);
	resp_free(&r);
	free(text);
	cJSON_Delete(body);
	EVP_PKEY_free(pk);
	srv_stop(&v, 1);
}

/* ------------------------------------------------------------------ */
/*
 * kv_store: hostile requests against the key store.  Each test is an
 * attack from the security review: it must be refused (Key Vault's
 * 400 BadParameter shape), and the state must load again with every
 * key afterwards.
 */

TestSuite(kv_store, .init = setup, .timeout = 90);

static double
now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* The server's log lines, for the loader's reports. */
static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static char log_text[65536];
static size_t log_len;

static void
collect_log(void *arg, const char *line)
{
	size_t n = strlen(line);

	(void)arg;
	pthread_mutex_lock(&log_mu);
	if (log_len + n + 2 < sizeof(log_text)) {
		memcpy(log_text + log_len, line, n);
		log_len += n;
		log_text[log_len++] = '\n';
		log_text[log_len] = '\0';
	}
	pthread_mutex_unlock(&log_mu);
}

static void
with_log(struct atr_kv_server_opts *o)
{
	o->log = collect_log;
}

static void
srv_restart(struct srv *v, tweak_fn tweak)
{
	char dir[256];

	snprintf(dir, sizeof(dir), "%s", v->dir);
	srv_stop(v, 0);
	srv_start_in(v, dir, NULL, tweak);
}

static long
status_of(struct srv *v, const char *method, const char *path,
    const char *body)
{
	struct resp r;
	long st;

	http(v, method, path, body, NULL, &r);
	st = r.status;
	if (st >= 400)
		cr_assert_str_eq(jstr(r.json, "error.code"), st == 409 ?
		    "Conflict" : st == 404 ? "KeyNotFound" : "BadParameter",
		    "%s %s: %s", method, path, r.body ? r.body : "");
	resp_free(&r);
	return st;
}

/* Number of versions GET /keys/NAME/versions lists (one page). */
static int
count_versions(struct srv *v, const char *name)
{
	struct resp r;
	char path[256];
	int n = 0;

	for (;;) {
		const cJSON *next;

		if (n == 0)
			snprintf(path, sizeof(path),
			    "/keys/%s/versions?api-version=7.4", name);
		http(v, "GET", path, NULL, NULL, &r);
		cr_assert_eq(r.status, 200, "%s: %s", path, r.body);
		n += cJSON_GetArraySize(jget(r.json, "value"));
		next = jget(r.json, "nextLink");
		if (!cJSON_IsString(next)) {
			resp_free(&r);
			return n;
		}
		snprintf(path, sizeof(path), "%s", next->valuestring);
		resp_free(&r);
	}
}

/* The eight RSA parts of pk as a JWK import body. */
static cJSON *
jwk_import_body(EVP_PKEY *pk)
{
	static const char *const jn[] = {"n", "e", "d", "p", "q", "dp", "dq",
	    "qi"};
	static const char *const pn[] = {
		OSSL_PKEY_PARAM_RSA_N, OSSL_PKEY_PARAM_RSA_E,
		OSSL_PKEY_PARAM_RSA_D, OSSL_PKEY_PARAM_RSA_FACTOR1,
		OSSL_PKEY_PARAM_RSA_FACTOR2, OSSL_PKEY_PARAM_RSA_EXPONENT1,
		OSSL_PKEY_PARAM_RSA_EXPONENT2, OSSL_PKEY_PARAM_RSA_COEFFICIENT1,
	};
	cJSON *body = cJSON_CreateObject(), *key;

	key = cJSON_AddObjectToObject(body, "key");
	cJSON_AddStringToObject(key, "kty", "RSA");
	for (size_t i = 0; i < 8; i++) {
		BIGNUM *bn = NULL;
		uint8_t b[1024];
		char s[1400];
		int n;

		cr_assert_eq(EVP_PKEY_get_bn_param(pk, pn[i], &bn), 1);
		n = BN_bn2bin(bn, b);
		BN_clear_free(bn);
		b64u(b, (size_t)n, s, sizeof(s));
		cJSON_AddStringToObject(key, jn[i], s);
	}
	return body;
}

/* Replaces part name of the JWK in body by the value bn. */
static void
jwk_set(cJSON *body, const char *name, const BIGNUM *bn)
{
	int n = BN_num_bytes(bn);
	uint8_t *b = malloc((size_t)n + 1);
	char *s = malloc((size_t)n * 4 / 3 + 8);

	cr_assert(b != NULL && s != NULL);
	BN_bn2bin(bn, b);
	b64u(b, (size_t)n, s, (size_t)n * 4 / 3 + 8);
	cJSON_ReplaceItemInObject(cJSON_GetObjectItem(body, "key"), name,
	    cJSON_CreateString(s));
	free(b);
	free(s);
}

/*
 * An odd number of the given bits with no prime factor below 20000, so
 * that OpenSSL's primality test cannot reject it by trial division and
 * runs Miller-Rabin on it: about 8 s of CPU at 32768 bits on the
 * machine this was written on, some four times that at 65536.
 */
static BIGNUM *
rough_odd(int bits)
{
	BIGNUM *x = BN_new(), *prod = BN_new(), *g = BN_new();
	BN_CTX *ctx = BN_CTX_new();

	cr_assert(x != NULL && prod != NULL && g != NULL && ctx != NULL);
	cr_assert(BN_one(prod));
	for (unsigned long p = 3; p < 20000; p += 2) {
		int prime = 1;

		for (unsigned long d = 3; d * d <= p; d += 2)
			if (p % d == 0) {
				prime = 0;
				break;
			}
		if (prime)
			cr_assert(BN_mul_word(prod, p));
	}
	do {
		cr_assert(BN_rand(x, bits, BN_RAND_TOP_ONE,
		    BN_RAND_BOTTOM_ODD));
		cr_assert(BN_gcd(g, x, prod, ctx));
	} while (!BN_is_one(g));
	BN_free(prod);
	BN_free(g);
	BN_CTX_free(ctx);
	return x;
}

/* Item 3: every part's length is checked against n before arithmetic. */
Test(kv_store, import_hostile_rsa_parts_refused_at_once)
{
	struct srv v;
	struct resp r;
	EVP_PKEY *pk = EVP_RSA_gen(2048);
	cJSON *body;
	BIGNUM *big, *x = BN_new();
	char *text;
	double t0, dt;
	static const struct {
		const char *part;
		int bits;
	} cases[] = {
		{"q", 4096},    /* more than half of n */
		{"dp", 1032},
		{"dq", 1032},
		{"qi", 1032},
		{"d", 2056},    /* longer than n */
		{"e", 40},      /* more than 4 bytes */
		{"n", 8192},    /* a size Key Vault does not take */
		{"n", 1024},
	};

	cr_assert_not_null(pk);
	cr_assert_not_null(x);
	srv_start(&v, NULL, NULL);

	/* The review's attack: a p of 65536 bits that passes trial
	 * division.  OpenSSL's key check used to spend a minute of CPU on
	 * it; the length check refuses it before any arithmetic. */
	body = jwk_import_body(pk);
	big = rough_odd(65536);
	jwk_set(body, "p", big);
	text = cJSON_PrintUnformatted(body);
	t0 = now_s();
	http(&v, "PUT", "/keys/hostile?api-version=7.4", text, NULL, &r);
	dt = now_s() - t0;
	expect_error(&r, 400, "BadParameter", NULL);
	cr_assert(strstr(jstr(r.json, "error.message"), "'p'") != NULL, "%s",
	    r.body);
	/* A bound on a hang, not a speed test: the refusal needs no
	 * arithmetic, the old check took a minute. */
	cr_assert_lt(dt, 5.0, "refused after %.1f s", dt);
	resp_free(&r);
	free(text);
	cJSON_Delete(body);
	BN_free(big);

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		body = jwk_import_body(pk);
		cr_assert(BN_rand(x, cases[i].bits, BN_RAND_TOP_ONE,
		    BN_RAND_BOTTOM_ODD));
		jwk_set(body, cases[i].part, x);
		text = cJSON_PrintUnformatted(body);
		http(&v, "PUT", "/keys/hostile?api-version=7.4", text, NULL,
		    &r);
		expect_error(&r, 400, "BadParameter", NULL);
		resp_free(&r);
		free(text);
		cJSON_Delete(body);
	}
	/* Parts of the right sizes that do not multiply out (n != p q). */
	body = jwk_import_body(pk);
	cr_assert(BN_rand(x, 1024, BN_RAND_TOP_ONE, BN_RAND_BOTTOM_ODD));
	jwk_set(body, "p", x);
	text = cJSON_PrintUnformatted(body);
	http(&v, "PUT", "/keys/hostile?api-version=7.4", text, NULL, &r);
	expect_error(&r, 400, "BadParameter", NULL);
	resp_free(&r);
	free(text);
	cJSON_Delete(body);
	/* oct: only 16, 24 or 32 bytes. */
	http(&v, "PUT", "/keys/hostile?api-version=7.4", "{\"key\":{\"kty\":"
	    "\"oct\",\"k\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}}",
	    NULL, &r);
	expect_error(&r, 400, "BadParameter", NULL);
	resp_free(&r);
	/* The untouched key still imports. */
	body = jwk_import_body(pk);
	text = cJSON_PrintUnformatted(body);
	http(&v, "PUT", "/keys/hostile?api-version=7.4", text, NULL, &r);
	cr_assert_eq(r.status, 200, "%s", r.body);
	resp_free(&r);
	free(text);
	cJSON_Delete(body);
	BN_free(x);
	EVP_PKEY_free(pk);
	srv_stop(&v, 1);
}

struct inflight {
	struct srv *v;
	const char *ca;
	CURLcode rc;
};

static void *
inflight_main(void *arg)
{
	struct inflight *f = arg;
	CURL *c = curl_easy_init();
	struct curl_slist *h = NULL;
	struct resp r;
	char url[512];

	memset(&r, 0, sizeof(r));
	if (c == NULL) {
		f->rc = CURLE_FAILED_INIT;
		return NULL;
	}
	snprintf(url, sizeof(url), "%s/keys?api-version=7.4", f->v->url);
	h = curl_slist_append(h, "Authorization: Bearer x");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CAINFO, f->ca);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 600L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
	f->rc = curl_easy_perform(c);
	free(r.body);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	return NULL;
}

/* Item 3: stopping the server does not wait for a request in flight
 * (here an injected delay of 300 s) longer than a bound. */
Test(kv_store, stop_with_request_in_flight_is_bounded)
{
	struct srv v;
	struct atr_kv_server_stats st;
	struct inflight f;
	pthread_t t;
	char ca[512];
	double t0, dt;
	int i;

	srv_start(&v, "latency=300s", NULL);
	snprintf(ca, sizeof(ca), "%s", atr_kv_server_ca_path(v.s));
	f.v = &v;
	f.ca = ca;
	f.rc = CURLE_OK;
	cr_assert_eq(pthread_create(&t, NULL, inflight_main, &f), 0);
	for (i = 0; i < 3000; i++) {
		atr_kv_server_get_stats(v.s, &st);
		if (st.fault_latency > 0)
			break;
		usleep(10000);
	}
	cr_assert_gt(st.fault_latency, 0, "the request never arrived");
	t0 = now_s();
	srv_stop(&v, 0);
	dt = now_s() - t0;
	pthread_join(t, NULL);
	/* A bound on a hang: the old stop waited the whole 300 s. */
	cr_assert_lt(dt, 20.0, "stop took %.1f s", dt);
	nftw(v.dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Item 3: key generation, the one long computation left (RSA-4096 is a
 * random search with no fixed end), stops when the server stops. */
Test(kv_store, key_generation_stops_with_the_server)
{
	_Atomic int stop = 1;
	struct kvs_version *v = NULL;
	double t0 = now_s(), dt;
	enum atr_err err;

	err = kvs_version_generate(KVS_KTY_RSA, 4096, &stop, &v);
	dt = now_s() - t0;
	cr_assert_eq(err, ATR_ERR_TIMEOUT, "err %d", (int)err);
	cr_assert_null(v);
	cr_assert_lt(dt, 5.0, "gave up after %.1f s", dt);
	stop = 0;
	err = kvs_version_generate(KVS_KTY_RSA, 2048, &stop, &v);
	cr_assert_eq(err, ATR_OK, "%s", atr_detail());
	cr_assert_eq(v->bits, 2048);
	kvs_version_free(v);
}

/* Item 4: tags are Azure's 15 pairs of at most 512 / 256 characters of
 * text; anything else is refused on create, import and update. */
Test(kv_store, tag_limits_and_control_characters)
{
	struct srv v;
	char body[16384], name[600], val[600], big[1200];
	size_t i;
	static const char *const bad_tags[] = {
		"{\"a\":\"\x01\x02\x03\"}",           /* raw controls */
		"{\"a\":\"x\\u0007y\"}",              /* escaped control */
		"{\"\x1b\":\"v\"}",                   /* control in a name */
		"{\"a\":\"\xc3\x28\"}",               /* bad UTF-8 */
		"{\"a\":\"\xed\xa0\x80\"}",           /* a surrogate */
		"{\"\":\"v\"}",                       /* empty name */
		"{\"a\":1}",                          /* not a string */
	};
	static const char *const routes[][2] = {
		{"POST", "/keys/tagged/create?api-version=7.4"},
		{"PUT", "/keys/tagged?api-version=7.4"},
		{"PATCH", "/keys/tagged?api-version=7.4"},
	};

	srv_start(&v, NULL, NULL);
	create_key(&v, "tagged", "{\"kty\":\"oct-HSM\"}", NULL, 0);
	for (size_t rt = 0; rt < 3; rt++) {
		const char *pre = rt == 0 ? "\"kty\":\"oct-HSM\"," : rt == 1 ?
		    "\"key\":{\"kty\":\"oct\",\"k\":"
		    "\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8\"}," : "";

		for (i = 0; i < sizeof(bad_tags) / sizeof(bad_tags[0]); i++) {
			snprintf(body, sizeof(body), "{%s\"tags\":%s}", pre,
			    bad_tags[i]);
			cr_assert_eq(status_of(&v, routes[rt][0], routes[rt][1],
			    body), 400, "%s tags %zu", routes[rt][0], i);
		}
		/* 16 tags */
		snprintf(body, sizeof(body), "{%s\"tags\":{", pre);
		for (i = 0; i < 16; i++) {
			size_t o = strlen(body);

			snprintf(body + o, sizeof(body) - o,
			    "%s\"t%zu\":\"v\"", i ? "," : "", i);
		}
		i = strlen(body);
		snprintf(body + i, sizeof(body) - i, "}}");
		cr_assert_eq(status_of(&v, routes[rt][0], routes[rt][1], body),
		    400);
		/* A name of 513 and a value of 257 characters. */
		memset(name, 'n', 513);
		name[513] = '\0';
		snprintf(body, sizeof(body), "{%s\"tags\":{\"%s\":\"v\"}}", pre,
		    name);
		cr_assert_eq(status_of(&v, routes[rt][0], routes[rt][1], body),
		    400);
		memset(val, 'v', 257);
		val[257] = '\0';
		snprintf(body, sizeof(body), "{%s\"tags\":{\"a\":\"%s\"}}", pre,
		    val);
		cr_assert_eq(status_of(&v, routes[rt][0], routes[rt][1], body),
		    400);
		/* The limits exactly, counted in characters: 256 two-byte
		 * characters are 512 bytes. */
		name[512] = '\0';
		for (i = 0; i < 256; i++)
			memcpy(big + 2 * i, "\xc3\xa9", 2);
		big[512] = '\0';
		snprintf(body, sizeof(body), "{%s\"tags\":{\"%s\":\"%s\"}}",
		    pre, name, big);
		cr_assert_eq(status_of(&v, routes[rt][0], routes[rt][1], body),
		    200);
	}
	srv_restart(&v, NULL);
	cr_assert_eq(count_versions(&v, "tagged"), 3);
	srv_stop(&v, 1);
}

/* Item 4: versions per key are capped (KVS_VERSIONS_MAX). */
Test(kv_store, versions_per_key_capped)
{
	struct srv v;
	char ver[64];
	int i;

	srv_start(&v, NULL, NULL);
	create_key(&v, "many", "{\"kty\":\"oct-HSM\"}", ver, sizeof(ver));
	for (i = 1; i < (int)KVS_VERSIONS_MAX; i++)
		cr_assert_eq(status_of(&v, "POST",
		    "/keys/many/rotate?api-version=7.4", "{}"), 200,
		    "rotation %d", i);
	cr_assert_eq(status_of(&v, "POST", "/keys/many/rotate?api-version=7.4",
	    "{}"), 400);
	cr_assert_eq(status_of(&v, "PUT", "/keys/many?api-version=7.4",
	    "{\"key\":{\"kty\":\"oct\",\"k\":"
	    "\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8\"}}"), 400);
	cr_assert_eq(status_of(&v, "POST", "/keys/many/create?api-version=7.4",
	    "{\"kty\":\"oct-HSM\"}"), 400);
	srv_restart(&v, NULL);
	cr_assert_eq(count_versions(&v, "many"), (int)KVS_VERSIONS_MAX);
	srv_stop(&v, 1);
}

/* Item 4: a rotation policy is bounded in size, nesting and text. */
Test(kv_store, rotation_policy_bounded)
{
	struct srv v;
	char *body = malloc(64 * 1024);
	size_t i, o;

	cr_assert_not_null(body);
	srv_start(&v, NULL, NULL);
	create_key(&v, "pol", "{\"kty\":\"oct-HSM\"}", NULL, 0);
	/* Raw and escaped controls. */
	cr_assert_eq(status_of(&v, "PUT", "/keys/pol/rotationpolicy?"
	    "api-version=7.4", "{\"lifetimeActions\":[],\"attributes\":"
	    "{\"expiryTime\":\"P2Y\x01\"}}"), 400);
	cr_assert_eq(status_of(&v, "PUT", "/keys/pol/rotationpolicy?"
	    "api-version=7.4", "{\"lifetimeActions\":[{\"x\\u001fy\":1}],"
	    "\"attributes\":{}}"), 400);
	/* 40 KiB of text. */
	o = (size_t)snprintf(body, 64 * 1024, "{\"lifetimeActions\":[],"
	    "\"attributes\":{},\"junk\":\"");
	for (i = 0; i < 40 * 1024; i++)
		body[o++] = 'x';
	snprintf(body + o, 64 * 1024 - o, "\"}");
	cr_assert_eq(status_of(&v, "PUT", "/keys/pol/rotationpolicy?"
	    "api-version=7.4", body), 400);
	/* Nested 100 deep. */
	o = (size_t)snprintf(body, 64 * 1024, "{\"lifetimeActions\":");
	for (i = 0; i < 100; i++)
		body[o++] = '[';
	for (i = 0; i < 100; i++)
		body[o++] = ']';
	snprintf(body + o, 64 * 1024 - o, "}");
	cr_assert_eq(status_of(&v, "PUT", "/keys/pol/rotationpolicy?"
	    "api-version=7.4", body), 400);
	/* What the SDK sends is taken. */
	cr_assert_eq(status_of(&v, "PUT", "/keys/pol/rotationpolicy?"
	    "api-version=7.4", "{\"lifetimeActions\":[{\"trigger\":"
	    "{\"timeAfterCreate\":\"P90D\"},\"action\":{\"type\":\"Rotate\"}},"
	    "{\"trigger\":{\"timeBeforeExpiry\":\"P30D\"},\"action\":"
	    "{\"type\":\"Notify\"}}],\"attributes\":{\"expiryTime\":"
	    "\"P2Y\"}}"), 200);
	srv_restart(&v, NULL);
	cr_assert_eq(status_of(&v, "GET", "/keys/pol/rotationpolicy?"
	    "api-version=7.4", NULL), 200);
	free(body);
	srv_stop(&v, 1);
}

/*
 * Item 4, the review's attack end to end: tags and a policy of raw
 * control characters (written back six times larger) and rotations
 * carrying the tags used to grow a key file past the loader's 16 MiB,
 * after which the server refused to start at all.  Each write is
 * refused now, and a restart serves every key.
 */
Test(kv_store, hostile_writes_keep_the_state_loadable)
{
	struct srv v;
	char *body = malloc(KVS_BODY_MAX), *p;
	size_t i, o;
	int rot;

	cr_assert_not_null(body);
	srv_start(&v, NULL, NULL);
	create_key(&v, "bystander", "{\"kty\":\"oct-HSM\"}", NULL, 0);
	/* 15 tags, names and values of raw controls. */
	o = (size_t)snprintf(body, KVS_BODY_MAX, "{\"kty\":\"oct-HSM\","
	    "\"tags\":{");
	for (i = 0; i < 15; i++) {
		o += (size_t)snprintf(body + o, KVS_BODY_MAX - o, "%s\"%c",
		    i ? "," : "", 'a' + (int)i);
		memset(body + o, 1, 500);
		o += 500;
		memcpy(body + o, "\":\"", 3);
		o += 3;
		memset(body + o, 2, 250);
		o += 250;
		body[o++] = '"';
	}
	snprintf(body + o, KVS_BODY_MAX - o, "}}");
	cr_assert_eq(status_of(&v, "POST", "/keys/victim/create?"
	    "api-version=7.4", body), 400);
	/* The same key with ordinary tags. */
	create_key(&v, "victim", "{\"kty\":\"oct-HSM\",\"tags\":"
	    "{\"purpose\":\"test\"}}", NULL, 0);
	/* A policy of 900 KiB of raw controls (5.4 MiB written). */
	p = body;
	p += snprintf(p, 64, "{\"lifetimeActions\":[],\"junk\":\"");
	memset(p, 3, 900 * 1024);
	p += 900 * 1024;
	snprintf(p, 8, "\"}");
	cr_assert_eq(status_of(&v, "PUT", "/keys/victim/rotationpolicy?"
	    "api-version=7.4", body), 400);
	/* Tags of raw controls by update, then carried by rotations. */
	o = (size_t)snprintf(body, KVS_BODY_MAX, "{\"tags\":{");
	for (i = 0; i < 15; i++) {
		o += (size_t)snprintf(body + o, KVS_BODY_MAX - o, "%s\"%c",
		    i ? "," : "", 'a' + (int)i);
		memset(body + o, 4, 500);
		o += 500;
		memcpy(body + o, "\":\"", 3);
		o += 3;
		memset(body + o, 5, 500);
		o += 500;
		body[o++] = '"';
	}
	snprintf(body + o, KVS_BODY_MAX - o, "}}");
	cr_assert_eq(status_of(&v, "PATCH", "/keys/victim?api-version=7.4",
	    body), 400);
	for (rot = 0; rot < 150; rot++)
		if (status_of(&v, "POST", "/keys/victim/rotate?api-version=7.4",
		    "{}") != 200)
			break;
	cr_assert_eq(rot, 150);
	srv_restart(&v, NULL);
	cr_assert_eq(count_versions(&v, "victim"), 151);
	cr_assert_eq(count_versions(&v, "bystander"), 1);
	free(body);
	srv_stop(&v, 1);
}

static void
plant(const char *dir, const char *name, const char *text, mode_t mode)
{
	char path[512];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	cr_assert_geq(fd, 0, "%s", path);
	cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	cr_assert_eq(fchmod(fd, mode), 0);
	close(fd);
}

/*
 * Item 4: one unloadable key file costs its own key, not every key.
 * The loader reports it, serves the rest, keeps the file and reserves
 * its name (docs/VAULT.md, "State directory").
 */
Test(kv_store, bad_key_file_reported_others_served)
{
	struct srv v;
	char keys[300], path[400], *got;
	int fd;

	srv_start(&v, NULL, with_log);
	create_key(&v, "good1", "{\"kty\":\"oct-HSM\"}", NULL, 0);
	create_key(&v, "good2", "{\"kty\":\"RSA\"}", NULL, 0);
	srv_stop(&v, 0);
	snprintf(keys, sizeof(keys), "%s/keys", v.dir);
	plant(keys, "corrupt.json", "{\"name\":\"corrupt\",\"versions\":[{",
	    0600);
	plant(keys, "elsewhere.json", "{\"name\":\"good1\",\"versions\":[]}",
	    0600);
	/* Above the loader's limit: a sparse file. */
	snprintf(path, sizeof(path), "%s/huge.json", keys);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	cr_assert_geq(fd, 0);
	cr_assert_eq(ftruncate(fd, (off_t)KVS_FILE_MAX + 1), 0);
	close(fd);

	pthread_mutex_lock(&log_mu);
	log_len = 0;
	log_text[0] = '\0';
	pthread_mutex_unlock(&log_mu);
	srv_start_in(&v, v.dir, NULL, with_log);
	cr_assert_eq(status_of(&v, "GET", "/keys/good1?api-version=7.4", NULL),
	    200);
	cr_assert_eq(status_of(&v, "GET", "/keys/good2?api-version=7.4", NULL),
	    200);
	cr_assert_eq(status_of(&v, "GET", "/keys/corrupt?api-version=7.4",
	    NULL), 404);
	pthread_mutex_lock(&log_mu);
	cr_assert(strstr(log_text, "/keys/corrupt.json: key file not loaded")
	    != NULL, "%s", log_text);
	cr_assert(strstr(log_text, "/keys/huge.json: key file not loaded")
	    != NULL, "%s", log_text);
	cr_assert(strstr(log_text, "/keys/elsewhere.json: key file not loaded")
	    != NULL, "%s", log_text);
	pthread_mutex_unlock(&log_mu);
	/* The name stays reserved: the file is not overwritten. */
	cr_assert_eq(status_of(&v, "POST", "/keys/corrupt/create?"
	    "api-version=7.4", "{\"kty\":\"oct-HSM\"}"), 409);
	cr_assert_eq(status_of(&v, "PUT", "/keys/HUGE?api-version=7.4",
	    "{\"key\":{\"kty\":\"oct\",\"k\":"
	    "\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8\"}}"), 409);
	snprintf(path, sizeof(path), "%s/corrupt.json", keys);
	got = (char *)tu_read_file(path, NULL);
	cr_assert_not_null(got);
	cr_assert_str_eq(got, "{\"name\":\"corrupt\",\"versions\":[{");
	free(got);
	srv_stop(&v, 1);
}

/* Item 6: every route that takes a key name checks it, "" included. */
Test(kv_store, empty_and_invalid_names_refused_everywhere)
{
	struct srv v;
	struct resp r;
	char path[300], keyfile[400];
	struct stat sb;
	static const char *const routes[][2] = {
		{"POST", "/keys//create"},
		{"PUT", "/keys//"},
		{"PATCH", "/keys//"},
		{"GET", "/keys//"},
		{"GET", "/keys//versions"},
		{"DELETE", "/keys//"},
		{"POST", "/keys//rotate"},
		{"GET", "/keys//rotationpolicy"},
		{"PUT", "/keys//rotationpolicy"},
		{"POST", "/keys//wrapkey"},
		{"POST", "/keys///unwrapkey"},
		{"GET", "/deletedkeys//"},
		{"DELETE", "/deletedkeys//"},
		{"POST", "/deletedkeys//recover"},
		{"POST", "/keys/a_b/create"},
		{"POST", "/keys/a.b/create"},
		{"POST", "/keys/%C3%A9/create"},
	};
	static const char *const bodies[] = {
		"{\"kty\":\"oct-HSM\"}",
		"{\"key\":{\"kty\":\"oct\",\"k\":"
		"\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8\"}}",
	};

	srv_start(&v, NULL, NULL);
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		snprintf(path, sizeof(path), "%s?api-version=7.4",
		    routes[i][1]);
		http(&v, routes[i][0], path, strcmp(routes[i][0], "PUT") == 0 &&
		    strstr(path, "policy") == NULL ? bodies[1] : bodies[0],
		    NULL, &r);
		expect_error(&r, 400, "BadParameter", NULL);
		cr_assert(strstr(jstr(r.json, "error.message"), "invalid name")
		    != NULL, "%s %s: %s", routes[i][0], path, r.body);
		resp_free(&r);
	}
	snprintf(keyfile, sizeof(keyfile), "%s/keys/.json", v.dir);
	cr_assert_neq(stat(keyfile, &sb), 0, "no file for an empty name");
	http(&v, "GET", "/keys?api-version=7.4", NULL, NULL, &r);
	cr_assert_eq(cJSON_GetArraySize(jget(r.json, "value")), 0);
	resp_free(&r);
	srv_stop(&v, 1);
}

/* Item 7: the state directories are 0700 and one that group or others
 * may write to is refused at start. */
Test(kv_store, state_dirs_private)
{
	struct srv v;
	struct atr_kv_server_opts o;
	struct atr_kv_server *s = NULL;
	char top[] = "/tmp/atr-kvs-perm-XXXXXX", state[200], keys[320];

	cr_assert_not_null(mkdtemp(top));
	snprintf(state, sizeof(state), "%s/a/state", top);
	memset(&v, 0, sizeof(v));
	snprintf(v.dir, sizeof(v.dir), "%s", state);
	srv_start_in(&v, state, NULL, NULL);
	create_key(&v, "k", "{\"kty\":\"oct-HSM\"}", NULL, 0);
	srv_stop(&v, 0);
	expect_mode(top, "a/state", 0700);
	expect_mode(top, "a/state/keys", 0700);
	expect_mode(top, "a/state/keys/k.json", 0600);

	/* A keys directory made 0755 by an older version is narrowed. */
	snprintf(keys, sizeof(keys), "%s/keys", state);
	cr_assert_eq(chmod(keys, 0755), 0);
	srv_start_in(&v, state, NULL, NULL);
	srv_stop(&v, 0);
	expect_mode(top, "a/state/keys", 0700);

	/* Writable by group or others: refused, naming the directory. */
	atr_kv_server_opts_init(&o);
	o.state_dir = state;
	cr_assert_eq(chmod(state, 0770), 0);
	cr_assert_eq(atr_kv_server_start(&o, &s), ATR_ERR_CONFIG);
	cr_assert_null(s);
	cr_assert(strstr(atr_detail(), state) != NULL, "%s", atr_detail());
	cr_assert_eq(chmod(state, 0700), 0);
	cr_assert_eq(chmod(keys, 0703), 0);
	cr_assert_eq(atr_kv_server_start(&o, &s), ATR_ERR_CONFIG);
	cr_assert_null(s);
	cr_assert(strstr(atr_detail(), keys) != NULL, "%s", atr_detail());
	cr_assert_eq(chmod(keys, 0700), 0);
	nftw(top, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Item 7: temporary files of an interrupted write (they may hold private
 * keys) are removed at start; files that are not the server's stay. */
Test(kv_store, leftover_temp_files_removed)
{
	struct srv v;
	char keys[300], p[400];
	struct stat sb;
	static const char *const gone[] = {
		".atrest-tmp-AbC123", "keys/.atrest-tmp-x9Y8z7",
		"keys/.atrest-tmp-Q1w2E3r4T5y6",
	};
	static const char *const kept[] = {
		"notes.txt", ".atrest-tmp-short", "keys/.atrest-tmp-toolong1",
		"keys/.hidden", "keys/.atrest-tmp-ab.d12",
	};

	srv_start(&v, NULL, NULL);
	create_key(&v, "k", "{\"kty\":\"oct-HSM\"}", NULL, 0);
	srv_stop(&v, 0);
	snprintf(keys, sizeof(keys), "%s/keys", v.dir);
	for (size_t i = 0; i < 3; i++)
		plant(v.dir, gone[i], "-----BEGIN PRIVATE KEY-----\n", 0600);
	for (size_t i = 0; i < 5; i++)
		plant(v.dir, kept[i], "not the server's\n", 0600);
	srv_start_in(&v, v.dir, NULL, NULL);
	for (size_t i = 0; i < 3; i++) {
		snprintf(p, sizeof(p), "%s/%s", v.dir, gone[i]);
		cr_assert_neq(stat(p, &sb), 0, "%s is still there", p);
	}
	for (size_t i = 0; i < 5; i++) {
		snprintf(p, sizeof(p), "%s/%s", v.dir, kept[i]);
		cr_assert_eq(stat(p, &sb), 0, "%s was removed", p);
	}
	cr_assert_eq(status_of(&v, "GET", "/keys/k?api-version=7.4", NULL),
	    200);
	srv_stop(&v, 1);
}

static void
no_oct(struct atr_kv_server_opts *o)
{
	o->allow_oct = 0;
}

Test(kv_server, oct_hsm_a256kw_and_gcm)
{
	struct srv v;
	struct resp r;
	char dek[64], w[256], out[256], body[512], iv[64], tag[64];
	uint8_t raw[32], bytes[64];

	srv_start(&v, NULL, NULL);
	http(&v, "POST", "/keys/aes1/create?api-version=7.4",
	    "{\"kty\":\"oct-HSM\",\"key_size\":256}", NULL, &r);
	cr_assert_eq(r.status, 200, "%s", r.body);
	cr_assert_str_eq(jstr(r.json, "key.kty"), "oct-HSM");
	cr_assert_null(jget(r.json, "key.k"), "no symmetric material returned");
	cr_assert_null(jget(r.json, "key.n"));
	resp_free(&r);
	dek_b64(dek, sizeof(dek), raw);
	cr_assert_eq(crypt_op(&v, "/keys/aes1/wrapkey?api-version=7.4", "A256KW",
	    dek, w, sizeof(w), NULL), 200);
	cr_assert_eq(unb64u(w, bytes, sizeof(bytes)), 40, "RFC 3394: n+8 bytes");
	cr_assert_eq(crypt_op(&v, "/keys/aes1/unwrapkey?api-version=7.4",
	    "A256KW", w, out, sizeof(out), NULL), 200);
	cr_assert_str_eq(out, dek);
	w[5] = w[5] == 'A' ? 'B' : 'A';
	cr_assert_eq(crypt_op(&v, "/keys/aes1/unwrapkey?api-version=7.4",
	    "A256KW", w, NULL, 0, NULL), 400);
	cr_assert_eq(crypt_op(&v, "/keys/aes1/wrapkey?api-version=7.4",
	    "RSA-OAEP-256", dek, NULL, 0, NULL), 400);
	cr_assert_eq(crypt_op(&v, "/keys/aes1/wrapkey?api-version=7.4",
	    "A128KW", dek, NULL, 0, NULL), 400);

	/* A256GCM encrypt: the service makes the IV, returns iv and tag. */
	cr_assert_eq(crypt_op(&v, "/keys/aes1/encrypt?api-version=7.4",
	    "A256GCM", dek, w, sizeof(w), &r), 200);
	snprintf(iv, sizeof(iv), "%s", jstr(r.json, "iv"));
	snprintf(tag, sizeof(tag), "%s", jstr(r.json, "tag"));
	cr_assert_eq(unb64u(iv, bytes, sizeof(bytes)), 12);
	cr_assert_eq(unb64u(tag, bytes, sizeof(bytes)), 16);
	resp_free(&r);
	snprintf(body, sizeof(body), "{\"alg\":\"A256GCM\",\"value\":\"%s\","
	    "\"iv\":\"%s\",\"tag\":\"%s\"}", w, iv, tag);
	http(&v, "POST", "/keys/aes1/decrypt?api-version=7.4", body, NULL, &r);
	cr_assert_eq(r.status, 200, "%s", r.body);
	cr_assert_str_eq(jstr(r.json, "value"), dek);
	resp_free(&r);
	tag[0] = tag[0] == 'A' ? 'B' : 'A';
	snprintf(body, sizeof(body), "{\"alg\":\"A256GCM\",\"value\":\"%s\","
	    "\"iv\":\"%s\",\"tag\":\"%s\"}", w, iv, tag);
	http(&v, "POST", "/keys/aes1/decrypt?api-version=7.4", body, NULL, &r);
	expect_error(&r, 400, "BadParameter", NULL);
	resp_free(&r);
	srv_stop(&v, 1);

	srv_start(&v, NULL, no_oct);
	http(&v, "POST", "/keys/aes1/create?api-version=7.4",
	    "{\"kty\":\"oct-HSM\"}", NULL, &r);
	expect_error(&r, 400, "BadParameter", "KeyTypeNotSupported");
	resp_free(&r);
	srv_stop(&v, 1);
}

static void
tight_limits(struct atr_kv_server_opts *o)
{
	o->limits = 1;
	o->limit_scale = 0.05;  /* CREATE: 1 per 10 s; others 200 units */
}

Test(kv_server, service_limits)
{
	struct srv v;
	struct resp r;
	char hv[32];
	long ra;

	srv_start(&v, NULL, tight_limits);
	create_key(&v, "l1", "{\"kty\":\"RSA\"}", NULL, 0);
	http(&v, "POST", "/keys/l2/create?api-version=7.4", "{\"kty\":\"RSA\"}",
	    NULL, &r);
	expect_error(&r, 429, "Throttled", NULL);
	cr_assert_null(header(&r, "Retry-After", hv, sizeof(hv)),
	    "a limit 429 has no Retry-After by default");
	resp_free(&r);
	/* Other operations have their own budget. */
	http(&v, "GET", "/keys/l1?api-version=7.4", NULL, NULL, &r);
	cr_assert_eq(r.status, 200);
	resp_free(&r);
	admin_http(&v, "POST", "/admin/config",
	    "{\"throttle_retry_after\":true}", &r);
	cr_assert_eq(r.status, 200);
	resp_free(&r);
	http(&v, "POST", "/keys/l3/create?api-version=7.4", "{\"kty\":\"RSA\"}",
	    NULL, &r);
	cr_assert_eq(r.status, 429);
	cr_assert_not_null(header(&r, "Retry-After", hv, sizeof(hv)));
	ra = strtol(hv, NULL, 10);
	cr_assert(ra >= 1 && ra <= 10, "Retry-After %ld", ra);
	resp_free(&r);
	admin_http(&v, "GET", "/admin/stats", NULL, &r);
	cr_assert_eq(jget(r.json, "throttled")->valueint, 2);
	resp_free(&r);
	srv_stop(&v, 1);
}

Test(kv_server, list_keys_paging)
{
	struct srv v;
	struct resp r;
	char next[1024], want[512];

	srv_start(&v, NULL, NULL);
	create_key(&v, "b-key", "{\"kty\":\"RSA\"}", NULL, 0);
	create_key(&v, "a-key", "{\"kty\":\"RSA\"}", NULL, 0);
	create_key(&v, "c-key", "{\"kty\":\"RSA\"}", NULL, 0);
	http(&v, "GET", "/keys?api-version=7.4&maxresults=2", NULL, NULL, &r);
	cr_assert_eq(cJSON_GetArraySize(jget(r.json, "value")), 2);
	snprintf(want, sizeof(want), "%s/keys/a-key", v.url);
	cr_assert_str_eq(jstr(cJSON_GetArrayItem(jget(r.json, "value"), 0), "kid"),
	    want, "list items carry the base id, no version");
	snprintf(next, sizeof(next), "%s", jstr(r.json, "nextLink"));
	resp_free(&r);
	http(&v, "GET", next, NULL, NULL, &r);
	cr_assert_eq(cJSON_GetArraySize(jget(r.json, "value")), 1);
	snprintf(want, sizeof(want), "%s/keys/c-key", v.url);
	cr_assert_str_eq(jstr(cJSON_GetArrayItem(jget(r.json, "value"), 0), "kid"),
	    want);
	cr_assert(cJSON_IsNull(jget(r.json, "nextLink")));
	resp_free(&r);
	http(&v, "GET", "/keys?api-version=7.4&$skiptoken=garbage!", NULL, NULL,
	    &r);
	expect_error(&r, 400, "BadParameter", NULL);
	resp_free(&r);
	srv_stop(&v, 1);
}

Test(kv_server, rotation_policy_expiry)
{
	struct srv v;
	struct resp r;
	double created, exp;

	srv_start(&v, NULL, NULL);
	create_key(&v, "rp", "{\"kty\":\"RSA\"}", NULL, 0);
	http(&v, "GET", "/keys/rp/rotationpolicy?api-version=7.4", NULL, NULL, &r);
	cr_assert_eq(r.status, 200);
	cr_assert(cJSON_IsArray(jget(r.json, "lifetimeActions")));
	resp_free(&r);
	http(&v, "PUT", "/keys/rp/rotationpolicy?api-version=7.4",
	    "{\"lifetimeActions\":[{\"trigger\":{\"timeAfterCreate\":\"P90D\"},"
	    "\"action\":{\"type\":\"Rotate\"}}],\"attributes\":"
	    "{\"expiryTime\":\"P2Y\"}}", NULL, &r);
	cr_assert_eq(r.status, 200, "%s", r.body);
	cr_assert(strstr(jstr(r.json, "id"), "/keys/rp/rotationpolicy") != NULL);
	cr_assert(cJSON_IsNumber(jget(r.json, "attributes.created")));
	resp_free(&r);
	http(&v, "POST", "/keys/rp/rotate?api-version=7.4", "{}", NULL, &r);
	cr_assert_eq(r.status, 200);
	created = jget(r.json, "attributes.created")->valuedouble;
	exp = jget(r.json, "attributes.exp")->valuedouble;
	cr_assert_eq(exp - created, 2.0 * 365 * 86400);
	resp_free(&r);
	srv_stop(&v, 1);
}

struct worker {
	struct srv *v;
	int ok;
};

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	CURL *c = curl_easy_init();
	struct curl_slist *h = NULL;
	char url[512], body[2048], dek[64], wrapped[1024];
	uint8_t raw[32];
	int i;

	dek_b64(dek, sizeof(dek), raw);
	h = curl_slist_append(h, "Authorization: Bearer x");
	h = curl_slist_append(h, "Content-Type: application/json");
	curl_easy_setopt(c, CURLOPT_CAINFO, atr_kv_server_ca_path(w->v->s));
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	for (i = 0; i < 10; i++) {
		struct resp r;
		cJSON *j;
		long st = 0;

		memset(&r, 0, sizeof(r));
		snprintf(url, sizeof(url), "%s/keys/conc/wrapkey?api-version=7.4",
		    w->v->url);
		snprintf(body, sizeof(body), "{\"alg\":\"RSA-OAEP-256\",\"value\":"
		    "\"%s\"}", dek);
		curl_easy_setopt(c, CURLOPT_URL, url);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
		if (curl_easy_perform(c) != CURLE_OK)
			goto fail;
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &st);
		j = cJSON_Parse(r.body);
		if (st != 200 || !cJSON_IsString(cJSON_GetObjectItem(j, "value"))) {
			cJSON_Delete(j);
			free(r.body);
			goto fail;
		}
		snprintf(wrapped, sizeof(wrapped), "%s",
		    cJSON_GetObjectItem(j, "value")->valuestring);
		cJSON_Delete(j);
		free(r.body);
		memset(&r, 0, sizeof(r));
		snprintf(url, sizeof(url), "%s/keys/conc/unwrapkey?api-version=7.4",
		    w->v->url);
		snprintf(body, sizeof(body), "{\"alg\":\"RSA-OAEP-256\",\"value\":"
		    "\"%s\"}", wrapped);
		curl_easy_setopt(c, CURLOPT_URL, url);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
		if (curl_easy_perform(c) != CURLE_OK)
			goto fail;
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &st);
		j = cJSON_Parse(r.body);
		if (st != 200 || !cJSON_IsString(cJSON_GetObjectItem(j, "value")) ||
		    strcmp(cJSON_GetObjectItem(j, "value")->valuestring, dek) != 0) {
			cJSON_Delete(j);
			free(r.body);
			goto fail;
		}
		cJSON_Delete(j);
		free(r.body);
		w->ok++;
	}
fail:
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	return NULL;
}

Test(kv_server, concurrent_keepalive_clients)
{
	struct srv v;
	pthread_t t[4];
	struct worker w[4];
	int i;

	srv_start(&v, NULL, NULL);
	create_key(&v, "conc", "{\"kty\":\"RSA\"}", NULL, 0);
	for (i = 0; i < 4; i++) {
		w[i].v = &v;
		w[i].ok = 0;
		cr_assert_eq(pthread_create(&t[i], NULL, worker_main, &w[i]), 0);
	}
	for (i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		cr_assert_eq(w[i].ok, 10, "worker %d: %d of 10", i, w[i].ok);
	}
	srv_stop(&v, 1);
}

/* The CLI: prints its facts, serves, stops on SIGTERM with exit 0. */
Test(kv_server, cli_serve_lines_and_sigterm)
{
	const char *bin = getenv("ATREST_BIN");
	char dir[] = "/tmp/atr-kvs-cli-XXXXXX", pidf[300], line[1024];
	char url[1024] = "", ca[1024] = "", curl_url[1200], adm[1024] = "";
	int pfd[2], status = 0, ready = 0, env = 0;
	pid_t pid;
	FILE *f;
	struct stat st;

	if (bin == NULL || access(bin, X_OK) != 0)
		cr_skip_test("ATREST_BIN not set (scripts/run-tests.sh sets it)");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(pidf, sizeof(pidf), "%s/serve.pid", dir);
	cr_assert_eq(pipe(pfd), 0);
	pid = fork();
	cr_assert_neq(pid, -1);
	if (pid == 0) {
		char state[300];

		snprintf(state, sizeof(state), "%s/state", dir);
		snprintf(pidf, sizeof(pidf), "%s/serve.log", dir);
		dup2(pfd[1], 1);
		{
			int lf = open(pidf, O_WRONLY | O_CREAT | O_TRUNC, 0600);

			if (lf >= 0)
				dup2(lf, 2);
		}
		snprintf(pidf, sizeof(pidf), "%s/serve.pid", dir);
		close(pfd[0]);
		execl(bin, bin, "vault", "serve", "--state", state, "--listen",
		    "127.0.0.1:0", "--pidfile", pidf, "--print-env",
		    "--faults", "latency=0ms", "--admin", (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	f = fdopen(pfd[0], "r");
	while (fgets(line, sizeof(line), f) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		if (strncmp(line, "url=", 4) == 0)
			snprintf(url, sizeof(url), "%s", line + 4);
		else if (strncmp(line, "ca=", 3) == 0)
			snprintf(ca, sizeof(ca), "%s", line + 3);
		else if (strncmp(line, "admin_token_file=", 17) == 0)
			snprintf(adm, sizeof(adm), "%s", line + 17);
		else if (strncmp(line, "export AZURE_CLIENT_SECRET=", 27) == 0)
			env = strstr(line, "$(cat ") != NULL;
		else if (strcmp(line, "ready=1") == 0) {
			ready = 1;
			break;
		}
	}
	cr_assert(ready, "no ready line");
	cr_assert(env, "secret printed by reference, not value");
	cr_assert_eq(strncmp(url, "https://127.0.0.1:", 18), 0);
	cr_assert_eq(ca[0], '/', "absolute CA path");
	cr_assert_eq(stat(pidf, &st), 0);
	{
		CURL *c = curl_easy_init();
		long code = 0;

		snprintf(curl_url, sizeof(curl_url), "%s/keys?api-version=7.4", url);
		curl_easy_setopt(c, CURLOPT_URL, curl_url);
		curl_easy_setopt(c, CURLOPT_CAINFO, ca);
		curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
		{
			struct resp r;

			memset(&r, 0, sizeof(r));
			curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
			cr_assert_eq(curl_easy_perform(c), CURLE_OK);
			free(r.body);
		}
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
		cr_assert_eq(code, 401);
		curl_easy_cleanup(c);
	}
	{
		/* Through the binary's run-time libmicrohttpd: an
		 * authenticated request (its connection's longer timeout is
		 * set, core/dlib.h) and the admin API with its token. */
		CURL *c = curl_easy_init();
		struct curl_slist *hl = NULL;
		char tok[128] = "", hdr[200];
		long code = 0;
		struct resp r;
		FILE *tf;

		cr_assert_eq(adm[0], '/', "admin_token_file= printed");
		cr_assert_eq(stat(adm, &st), 0);
		cr_assert_eq(st.st_mode & 0777, 0600);
		tf = fopen(adm, "r");
		cr_assert_not_null(tf);
		cr_assert_not_null(fgets(tok, sizeof(tok), tf));
		fclose(tf);
		snprintf(hdr, sizeof(hdr), "x-atrest-admin: %s", tok);
		hl = curl_slist_append(hl, hdr);
		hl = curl_slist_append(hl, "Authorization: Bearer any");
		memset(&r, 0, sizeof(r));
		curl_easy_setopt(c, CURLOPT_CAINFO, ca);
		curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
		curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
		curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
		snprintf(curl_url, sizeof(curl_url), "%s/keys?api-version=7.4",
		    url);
		curl_easy_setopt(c, CURLOPT_URL, curl_url);
		cr_assert_eq(curl_easy_perform(c), CURLE_OK);
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
		cr_assert_eq(code, 200, "%s", r.body);
		snprintf(curl_url, sizeof(curl_url), "%s/admin/stats", url);
		curl_easy_setopt(c, CURLOPT_URL, curl_url);
		cr_assert_eq(curl_easy_perform(c), CURLE_OK);
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
		cr_assert_eq(code, 200, "%s", r.body);
		free(r.body);
		curl_slist_free_all(hl);
		curl_easy_cleanup(c);
	}
	kill(pid, SIGTERM);
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d",
	    status);
	cr_assert_neq(stat(pidf, &st), 0, "pidfile removed");
	cr_assert_neq(stat(adm, &st), 0, "admin token removed");
	fclose(f);
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}
