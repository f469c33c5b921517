/*
 * test_vault_fed_cli.c - `atrest vault federated-token` and `atrest
 * vault serve --federated/--client-cert` through the binary: the token
 * and JWKS are checked here with OpenSSL (signature, kid as the RFC
 * 7638 thumbprint, claims), then presented to a served vault's token
 * endpoint, as a pod presents its projected service-account token.
 *
 * Needs $ATREST_BIN (the binary), as scripts/run-tests.sh sets it.
 */
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include "jwt_mint.h"
#include "testutil.h"

#define ISSUER "https://oidc.cluster.example.test/abc"
#define SUBJECT "system:serviceaccount:batch:atrest-verify"

static char *dir;
static pid_t serve_pid = -1;

static const char *
bin(void)
{
	const char *b = getenv("ATREST_BIN");

	cr_assert(b != NULL && *b, "ATREST_BIN is not set");
	return b;
}

static void
setup(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
	dir = tu_tmpdir("vault-fed");
	cr_assert_not_null(dir);
}

static void
teardown(void)
{
	int st;

	if (serve_pid > 0) {
		kill(serve_pid, SIGTERM);
		waitpid(serve_pid, &st, 0);
		serve_pid = -1;
	}
	tu_rmtree(dir);
	free(dir);
}

TestSuite(vault_fed_cli, .init = setup, .fini = teardown, .timeout = 120);

static char *
P(const char *name)
{
	char *p = tu_path(dir, name);

	cr_assert_not_null(p);
	return p;
}

struct out {
	int rc;
	char *out, *err;
};

/* Runs atrest with args (NULL-terminated, at most 16). */
static struct out
run(const char *const *args)
{
	const char *argv[20];
	char *o = P("stdout"), *e = P("stderr");
	struct tu_run_opts opts = { .stdout_path = o, .stderr_path = e,
	    .timeout_ms = 60000 };
	struct out r;
	size_t i;

	argv[0] = bin();
	for (i = 0; args[i] != NULL; i++)
		argv[i + 1] = args[i];
	argv[i + 1] = NULL;
	r.rc = tu_run(argv, &opts);
	r.out = (char *)tu_read_file(o, NULL);
	r.err = (char *)tu_read_file(e, NULL);
	cr_assert(r.out != NULL && r.err != NULL);
	free(o);
	free(e);
	return r;
}

static void
out_free(struct out *r)
{
	free(r->out);
	free(r->err);
}

static int
mode_of(const char *path)
{
	struct stat st;

	cr_assert_eq(stat(path, &st), 0, "%s", path);
	return (int)(st.st_mode & 07777);
}

static unsigned char *
unb64url(const char *s, size_t n, size_t *len)
{
	char *t = malloc(n + 4);
	unsigned char *o = malloc(n + 4);
	size_t i, m = n;
	int k;

	cr_assert(t != NULL && o != NULL);
	for (i = 0; i < n; i++)
		t[i] = s[i] == '-' ? '+' : s[i] == '_' ? '/' : s[i];
	while (m % 4 != 0)
		t[m++] = '=';
	t[m] = '\0';
	k = EVP_DecodeBlock(o, (unsigned char *)t, (int)m);
	cr_assert_geq(k, 0);
	*len = (size_t)k - (m - n);
	free(t);
	return o;
}

static EVP_PKEY *
jwk_pub(const cJSON *k)
{
	const char *n = cJSON_GetObjectItem(k, "n")->valuestring;
	const char *e = cJSON_GetObjectItem(k, "e")->valuestring;
	size_t nl, el;
	unsigned char *nb = unb64url(n, strlen(n), &nl);
	unsigned char *eb = unb64url(e, strlen(e), &el);
	BIGNUM *bn = BN_bin2bn(nb, (int)nl, NULL), *be = BN_bin2bn(eb, (int)el,
	    NULL);
	OSSL_PARAM_BLD *b = OSSL_PARAM_BLD_new();
	OSSL_PARAM *p;
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	EVP_PKEY *pk = NULL;

	OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_N, bn);
	OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_E, be);
	p = OSSL_PARAM_BLD_to_param(b);
	cr_assert_eq(EVP_PKEY_fromdata_init(c), 1);
	cr_assert_eq(EVP_PKEY_fromdata(c, &pk, EVP_PKEY_PUBLIC_KEY, p), 1);
	OSSL_PARAM_free(p);
	OSSL_PARAM_BLD_free(b);
	EVP_PKEY_CTX_free(c);
	BN_free(bn);
	BN_free(be);
	free(nb);
	free(eb);
	return pk;
}

/* The RFC 7638 thumbprint of an RSA JWK, base64url. */
static void
thumbprint(const cJSON *k, char *out, size_t cap)
{
	char canon[2048];
	unsigned char h[32];
	char b64[64];
	int n, i;

	snprintf(canon, sizeof(canon), "{\"e\":\"%s\",\"kty\":\"RSA\",\"n\":"
	    "\"%s\"}", cJSON_GetObjectItem(k, "e")->valuestring,
	    cJSON_GetObjectItem(k, "n")->valuestring);
	EVP_Digest(canon, strlen(canon), h, NULL, EVP_sha256(), NULL);
	n = EVP_EncodeBlock((unsigned char *)b64, h, 32);
	for (i = 0; i < n; i++)
		b64[i] = b64[i] == '+' ? '-' : b64[i] == '/' ? '_' : b64[i];
	while (n > 0 && b64[n - 1] == '=')
		n--;
	b64[n] = '\0';
	snprintf(out, cap, "%s", b64);
}

/* Checks tok against the JWKS file; returns its claims. */
static cJSON *
check_token(const char *tok, const char *jwks_path, char *kid, size_t cap)
{
	char *jw = (char *)tu_read_file(jwks_path, NULL);
	cJSON *j = cJSON_Parse(jw), *key, *hdr, *claims;
	const char *d1 = strchr(tok, '.'), *d2 = strrchr(tok, '.');
	unsigned char *h, *c, *sig;
	size_t hl, cl, sl;
	EVP_PKEY *pk;
	EVP_MD_CTX *m = EVP_MD_CTX_new();
	char tp[64];

	cr_assert(j != NULL && d1 != NULL && d2 != NULL && d1 != d2);
	key = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "keys"), 0);
	cr_assert_not_null(key);
	cr_assert_str_eq(cJSON_GetObjectItem(key, "kty")->valuestring, "RSA");
	thumbprint(key, tp, sizeof(tp));
	cr_assert_str_eq(cJSON_GetObjectItem(key, "kid")->valuestring, tp);
	h = unb64url(tok, (size_t)(d1 - tok), &hl);
	c = unb64url(d1 + 1, (size_t)(d2 - d1 - 1), &cl);
	sig = unb64url(d2 + 1, strlen(d2 + 1), &sl);
	hdr = cJSON_ParseWithLength((char *)h, hl);
	claims = cJSON_ParseWithLength((char *)c, cl);
	cr_assert(hdr != NULL && claims != NULL);
	cr_assert_str_eq(cJSON_GetObjectItem(hdr, "alg")->valuestring, "RS256");
	cr_assert_str_eq(cJSON_GetObjectItem(hdr, "kid")->valuestring, tp);
	pk = jwk_pub(key);
	cr_assert_eq(EVP_DigestVerifyInit(m, NULL, EVP_sha256(), NULL, pk), 1);
	cr_assert_eq(EVP_DigestVerify(m, sig, sl, (const unsigned char *)tok,
	    (size_t)(d2 - tok)), 1, "the token does not verify against "
	    "the JWKS");
	snprintf(kid, cap, "%s", tp);
	EVP_MD_CTX_free(m);
	EVP_PKEY_free(pk);
	cJSON_Delete(hdr);
	cJSON_Delete(j);
	free(jw);
	free(h);
	free(c);
	free(sig);
	return claims;
}

Test(vault_fed_cli, federated_token_key_jwks_and_claims)
{
	char *key = P("issuer.pem"), *jwks = P("jwks.json"), *tokf = P("tok");
	const char *a1[] = {"vault", "federated-token", "--issuer-key", key,
	    "--issuer", ISSUER, "--subject", SUBJECT, "--jwks", jwks, "--out",
	    tokf, "--lifetime", "600", NULL};
	const char *a2[] = {"vault", "federated-token", "--issuer-key", key,
	    "--issuer", ISSUER, "--subject", SUBJECT, "--audience", "api://x",
	    NULL};
	char kid1[64], kid2[64], *tok;
	cJSON *cl, *aud;
	struct out r;
	double exp, iat;

	r = run(a1);
	cr_assert_eq(r.rc, 0, "%s", r.err);
	cr_assert_str_empty(r.out, "the token went to --out, not stdout");
	out_free(&r);
	cr_assert_eq(mode_of(key), 0600);
	cr_assert_eq(mode_of(tokf), 0600);
	tok = (char *)tu_read_file(tokf, NULL);
	cr_assert_not_null(tok);
	cl = check_token(tok, jwks, kid1, sizeof(kid1));
	cr_assert_str_eq(cJSON_GetObjectItem(cl, "iss")->valuestring, ISSUER);
	cr_assert_str_eq(cJSON_GetObjectItem(cl, "sub")->valuestring, SUBJECT);
	aud = cJSON_GetObjectItem(cl, "aud");
	cr_assert_str_eq(cJSON_GetArrayItem(aud, 0)->valuestring,
	    "api://AzureADTokenExchange");
	exp = cJSON_GetObjectItem(cl, "exp")->valuedouble;
	iat = cJSON_GetObjectItem(cl, "iat")->valuedouble;
	cr_assert_eq((long)(exp - iat), 600);
	cr_assert_leq(cJSON_GetObjectItem(cl, "nbf")->valuedouble, iat);
	cr_assert(fabs(iat - (double)time(NULL)) < 60);
	cr_assert_not_null(cJSON_GetObjectItem(cl, "jti"));
	cJSON_Delete(cl);
	/* The same key again (not replaced), to stdout, another audience. */
	r = run(a2);
	cr_assert_eq(r.rc, 0, "%s", r.err);
	r.out[strcspn(r.out, "\n")] = '\0';
	cr_assert_str_neq(r.out, tok);
	cl = check_token(r.out, jwks, kid2, sizeof(kid2));
	cr_assert_str_eq(kid1, kid2);
	cr_assert_str_eq(cJSON_GetArrayItem(cJSON_GetObjectItem(cl, "aud"),
	    0)->valuestring, "api://x");
	cJSON_Delete(cl);
	out_free(&r);
	free(tok);
	free(key);
	free(jwks);
	free(tokf);
}

Test(vault_fed_cli, federated_token_bad_input_exits_2)
{
	char *key = P("issuer.pem");
	const char *nosub[] = {"vault", "federated-token", "--issuer-key", key,
	    "--issuer", ISSUER, NULL};
	const char *life[] = {"vault", "federated-token", "--issuer-key", key,
	    "--issuer", ISSUER, "--subject", "s", "--lifetime", "0", NULL};
	const char *ok[] = {"vault", "federated-token", "--issuer-key", key,
	    "--issuer", ISSUER, "--subject", "s", NULL};
	struct out r;

	r = run(nosub);
	cr_assert_eq(r.rc, 2);
	cr_assert_not_null(strstr(r.err, "--subject"), "%s", r.err);
	cr_assert_eq(access(key, F_OK), -1, "no key made for a usage error");
	out_free(&r);
	r = run(life);
	cr_assert_eq(r.rc, 2);
	cr_assert_not_null(strstr(r.err, "--lifetime"), "%s", r.err);
	out_free(&r);
	r = run(ok);
	cr_assert_eq(r.rc, 0, "%s", r.err);
	out_free(&r);
	/* An issuer key others can read is refused, naming it. */
	cr_assert_eq(chmod(key, 0644), 0);
	r = run(ok);
	cr_assert_eq(r.rc, 2, "%s", r.err);
	cr_assert_not_null(strstr(r.err, "issuer.pem"), "%s", r.err);
	cr_assert_str_empty(r.out);
	out_free(&r);
	free(key);
}

struct served {
	char url[1200], ca[1200], token_url[1200];
	int n_cert, n_fed;
};

/* `atrest vault serve` with the given extra arguments (NULL-ended, at
 * most 8), its facts read up to ready=1. */
static void
serve(struct served *sv, const char *const *extra)
{
	char line[1200], state[600], log[600];
	const char *argv[24];
	int pfd[2], ready = 0;
	size_t n = 0, i;
	FILE *f;

	memset(sv, 0, sizeof(*sv));
	snprintf(state, sizeof(state), "%s/vault", dir);
	snprintf(log, sizeof(log), "%s/serve.log", dir);
	argv[n++] = bin();
	argv[n++] = "vault";
	argv[n++] = "serve";
	argv[n++] = "--state";
	argv[n++] = state;
	argv[n++] = "--token-mode";
	argv[n++] = "validate";
	for (i = 0; extra[i] != NULL; i++)
		argv[n++] = extra[i];
	argv[n] = NULL;
	cr_assert_eq(pipe(pfd), 0);
	serve_pid = fork();
	cr_assert_neq(serve_pid, -1);
	if (serve_pid == 0) {
		int lf = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		dup2(pfd[1], 1);
		if (lf >= 0)
			dup2(lf, 2);
		close(pfd[0]);
		execv(bin(), (char *const *)argv);
		_exit(127);
	}
	close(pfd[1]);
	f = fdopen(pfd[0], "r");
	cr_assert_not_null(f);
	while (fgets(line, sizeof(line), f) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		if (strncmp(line, "url=", 4) == 0)
			snprintf(sv->url, sizeof(sv->url), "%s", line + 4);
		if (strncmp(line, "ca=", 3) == 0)
			snprintf(sv->ca, sizeof(sv->ca), "%s", line + 3);
		if (strncmp(line, "token_url=", 10) == 0)
			snprintf(sv->token_url, sizeof(sv->token_url), "%s",
			    line + 10);
		if (strcmp(line, "client_cert=cert-app") == 0)
			sv->n_cert++;
		if (strcmp(line, "federated=fed-app") == 0)
			sv->n_fed++;
		if (strcmp(line, "ready=1") == 0) {
			ready = 1;
			break;
		}
	}
	fclose(f);
	cr_assert(ready, "vault serve did not start");
}

static size_t
on_body(char *p, size_t sz, size_t n, void *arg)
{
	char **b = arg;
	size_t old = *b != NULL ? strlen(*b) : 0;
	char *nb = realloc(*b, old + sz * n + 1);

	if (nb == NULL)
		return 0;
	memcpy(nb + old, p, sz * n);
	nb[old + sz * n] = '\0';
	*b = nb;
	return sz * n;
}

/* The token endpoint's answer to fed-app presenting the token of file
 * tokf; *body malloc'd. */
static long
present(const struct served *sv, const char *tokf, char **body)
{
	CURL *c = curl_easy_init();
	char *tok = (char *)tu_read_file(tokf, NULL), *form;
	size_t cap;
	long status = 0;

	cr_assert(c != NULL && tok != NULL);
	tok[strcspn(tok, "\n")] = '\0';
	cap = strlen(tok) + 400;
	form = malloc(cap);
	snprintf(form, cap, "grant_type=client_credentials&client_id=fed-app&"
	    "scope=https%%3A%%2F%%2Fvault.azure.net%%2F.default&"
	    "client_assertion_type=urn%%3Aietf%%3Aparams%%3Aoauth%%3A"
	    "client-assertion-type%%3Ajwt-bearer&client_assertion=%s", tok);
	*body = NULL;
	curl_easy_setopt(c, CURLOPT_URL, sv->token_url);
	curl_easy_setopt(c, CURLOPT_CAINFO, sv->ca);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, form);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
	cr_assert_eq(curl_easy_perform(c), CURLE_OK);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(c);
	free(form);
	free(tok);
	return status;
}

static void
fedtoken(const char *key, const char *subject, const char *out_path,
    const char *jwks)
{
	const char *a[] = {"vault", "federated-token", "--issuer-key", key,
	    "--issuer", ISSUER, "--subject", subject, "--out", out_path,
	    jwks != NULL ? "--jwks" : NULL, jwks, NULL};
	struct out r = run(a);

	cr_assert_eq(r.rc, 0, "%s", r.err);
	out_free(&r);
}

Test(vault_fed_cli, serve_federated_and_certificate_clients)
{
	char *key = P("issuer.pem"), *other = P("other.pem");
	char *jwks = P("jwks.json"), *tok = P("tok"), *cert = P("cert.pem");
	char fedspec[1200], certspec[1200], *body;
	const char *extra[8];
	struct served sv;
	EVP_PKEY *k = tl_rsa_key(2048);

	cr_assert_not_null(k);
	cr_assert_eq(tl_cert_write(k, "cert-app", cert, NULL), 0);
	EVP_PKEY_free(k);
	fedtoken(key, SUBJECT, tok, jwks);
	snprintf(fedspec, sizeof(fedspec), "fed-app:%s:%s", ISSUER, jwks);
	snprintf(certspec, sizeof(certspec), "cert-app:%s", cert);
	extra[0] = "--federated";
	extra[1] = fedspec;
	extra[2] = "--federated-subject";
	extra[3] = SUBJECT;
	extra[4] = "--client-cert";
	extra[5] = certspec;
	extra[6] = NULL;
	serve(&sv, extra);
	cr_assert_eq(sv.n_cert, 1);
	cr_assert_eq(sv.n_fed, 1);
	cr_assert_eq(present(&sv, tok, &body), 200, "%s", body);
	cr_assert_not_null(strstr(body, "\"access_token\""));
	free(body);
	/* Another service account of the same cluster. */
	fedtoken(key, "system:serviceaccount:batch:other", tok, NULL);
	cr_assert_eq(present(&sv, tok, &body), 400, "%s", body);
	cr_assert_not_null(strstr(body, "AADSTS70021"), "%s", body);
	free(body);
	/* Another issuer key (another cluster claiming the issuer URL). */
	fedtoken(other, SUBJECT, tok, NULL);
	cr_assert_eq(present(&sv, tok, &body), 401, "%s", body);
	cr_assert_not_null(strstr(body, "AADSTS700027"), "%s", body);
	free(body);
	free(key);
	free(other);
	free(jwks);
	free(tok);
	free(cert);
}

Test(vault_fed_cli, serve_bad_registration_exits_2)
{
	const char *a[] = {"vault", "serve", "--state", dir, "--client-cert",
	    "app:/nonexistent/cert.pem", NULL};
	const char *b[] = {"vault", "serve", "--state", dir, "--federated",
	    "app-without-issuer", NULL};
	struct out r;

	r = run(a);
	cr_assert_eq(r.rc, 2);
	cr_assert_not_null(strstr(r.err, "/nonexistent/cert.pem"), "%s", r.err);
	cr_assert_str_empty(r.out);
	out_free(&r);
	r = run(b);
	cr_assert_eq(r.rc, 2);
	cr_assert_not_null(strstr(r.err, "ID:ISSUER:JWKS.json"), "%s", r.err);
	out_free(&r);
}
