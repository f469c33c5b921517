/*
 * test_mhsm_cli.c - a Managed HSM key end to end through the CLI: the
 * loopback vault runs as `atrest vault serve --managed-hsm` (token
 * validation on, a certificate naming myhsm.managedhsm.azure.net), and
 * every command is given the production URI
 * https://myhsm.managedhsm.azure.net/keys/cmk, which
 * ATREST_KV_CONNECT_TO sends to the loopback port.  The URI, the TLS
 * name check, the challenge (resource https://managedhsm.azure.net) and
 * the token's audience (checked by the server) are those of Azure.
 *
 * Needs $ATREST_BIN (the binary), as scripts/run-tests.sh sets it.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "crypto.h"
#include "testutil.h"

#define HSM_HOST "myhsm.managedhsm.azure.net"
#define KEY_URI "https://" HSM_HOST "/keys/cmk"

static pid_t serve_pid = -1;
static char *dir;

struct served {
	char url[256], port[16], ca[1024], tenant[128], client[128];
	char secret_file[1024];
};

static const char *
bin(void)
{
	const char *b = getenv("ATREST_BIN");

	cr_assert(b != NULL && *b, "ATREST_BIN is not set");
	return b;
}

static void
fact(const char *line, const char *name, char *out, size_t cap)
{
	size_t n = strlen(name);

	if (strncmp(line, name, n) == 0 && line[n] == '=')
		snprintf(out, cap, "%s", line + n + 1);
}

/* Starts `atrest vault serve --managed-hsm ...` and reads its facts up
 * to ready=1. */
static void
serve(struct served *sv)
{
	char line[1200], state[600], log[600];
	int pfd[2], ready = 0;
	FILE *f;

	memset(sv, 0, sizeof(*sv));
	snprintf(state, sizeof(state), "%s/vault", dir);
	snprintf(log, sizeof(log), "%s/serve.log", dir);
	cr_assert_eq(pipe(pfd), 0);
	serve_pid = fork();
	cr_assert_neq(serve_pid, -1);
	if (serve_pid == 0) {
		int lf = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		dup2(pfd[1], 1);
		if (lf >= 0)
			dup2(lf, 2);
		close(pfd[0]);
		execl(bin(), bin(), "vault", "serve", "--state", state,
		    "--listen", "127.0.0.1:0", "--managed-hsm", "--san",
		    HSM_HOST, "--token-mode", "validate", "--purge-protection",
		    (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	f = fdopen(pfd[0], "r");
	cr_assert_not_null(f);
	while (fgets(line, sizeof(line), f) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		fact(line, "url", sv->url, sizeof(sv->url));
		fact(line, "port", sv->port, sizeof(sv->port));
		fact(line, "ca", sv->ca, sizeof(sv->ca));
		fact(line, "tenant", sv->tenant, sizeof(sv->tenant));
		fact(line, "client_id", sv->client, sizeof(sv->client));
		fact(line, "client_secret_file", sv->secret_file,
		    sizeof(sv->secret_file));
		if (strcmp(line, "ready=1") == 0) {
			ready = 1;
			break;
		}
		if (strncmp(line, "challenge=", 10) == 0)
			cr_assert(strstr(line, "resource=\"https://"
			    "managedhsm.azure.net\"") != NULL, "%s", line);
	}
	fclose(f);
	cr_assert(ready, "vault serve --managed-hsm did not start");
	cr_assert(sv->port[0] != '\0' && sv->secret_file[0] != '\0');
}

static void
setup(void)
{
	dir = tu_tmpdir("mhsm-cli");
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
	if (dir != NULL) {
		tu_rmtree(dir);
		free(dir);
		dir = NULL;
	}
}

/* Environment of every command: client credentials against the
 * server's token endpoint, its CA, and the HSM name mapped to it. */
struct cenv {
	char ca[1100], map[200], auth[300], tenant[160], client[160];
	char secret[300];
	const char *v[12];
};

static void
cenv_init(struct cenv *e, const struct served *sv)
{
	uint8_t *s;
	size_t n, i = 0;

	s = tu_read_file(sv->secret_file, &n);
	cr_assert_not_null(s);
	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r'))
		n--;
	snprintf(e->secret, sizeof(e->secret), "AZURE_CLIENT_SECRET=%.*s",
	    (int)n, (char *)s);
	atr_memzero(s, n);
	free(s);
	snprintf(e->ca, sizeof(e->ca), "ATREST_CA_FILE=%s", sv->ca);
	snprintf(e->map, sizeof(e->map),
	    "ATREST_KV_CONNECT_TO=" HSM_HOST ":443:127.0.0.1:%s", sv->port);
	snprintf(e->auth, sizeof(e->auth), "AZURE_AUTHORITY_HOST=%s", sv->url);
	snprintf(e->tenant, sizeof(e->tenant), "AZURE_TENANT_ID=%s",
	    sv->tenant);
	snprintf(e->client, sizeof(e->client), "AZURE_CLIENT_ID=%s",
	    sv->client);
	e->v[i++] = e->ca;
	e->v[i++] = e->map;
	e->v[i++] = e->auth;
	e->v[i++] = e->tenant;
	e->v[i++] = e->client;
	e->v[i++] = e->secret;
	e->v[i++] = "ATREST_AZURE_TOKEN";
	e->v[i++] = "ATREST_IMDS_ENDPOINT";
	e->v[i++] = "ATREST_KV_DISABLE_CHALLENGE_VERIFY";
	e->v[i++] = "ATREST_KV_MAX_RETRIES=0";
	e->v[i] = NULL;
}

/* Runs atrest with args; stdout and stderr into dir/out, dir/err. */
static int
run(const struct cenv *e, const char *const *args, char **out)
{
	const char *argv[32];
	struct tu_run_opts o;
	char *po = tu_path(dir, "out"), *pe = tu_path(dir, "err");
	size_t i;
	int rc;

	argv[0] = bin();
	for (i = 0; args[i] != NULL && i < 30; i++)
		argv[i + 1] = args[i];
	argv[i + 1] = NULL;
	memset(&o, 0, sizeof(o));
	o.stdout_path = po;
	o.stderr_path = pe;
	o.env = e->v;
	o.timeout_ms = 120000;
	rc = tu_run(argv, &o);
	if (out != NULL) {
		uint8_t *a = tu_read_file(po, NULL), *b = tu_read_file(pe, NULL);
		size_t n = (a ? strlen((char *)a) : 0) +
		    (b ? strlen((char *)b) : 0) + 2;

		*out = malloc(n);
		cr_assert_not_null(*out);
		snprintf(*out, n, "%s\n%s", a ? (char *)a : "",
		    b ? (char *)b : "");
		free(a);
		free(b);
	}
	free(po);
	free(pe);
	return rc;
}

TestSuite(mhsm_cli, .init = setup, .fini = teardown, .timeout = 180);

/* Creates the key through the CLI; `vault get` reports RSA-HSM (the
 * default kty on a Managed HSM) and a kid on the HSM's name. */
static void
create_and_get(const struct cenv *e)
{
	const char *c[] = {"vault", "create", KEY_URI, "--size", "3072",
	    "--ops", "wrapKey,unwrapKey", NULL};
	const char *g[] = {"vault", "get", KEY_URI, NULL};
	char *out = NULL;
	int rc;

	rc = run(e, c, &out);
	cr_assert_eq(rc, 0, "vault create exit %d: %s", rc, out);
	free(out);
	rc = run(e, g, &out);
	cr_assert_eq(rc, 0, "vault get exit %d: %s", rc, out);
	cr_assert(strstr(out, "\"RSA-HSM\"") != NULL, "%s", out);
	cr_assert(strstr(out, "https://" HSM_HOST "/keys/cmk/") != NULL, "%s",
	    out);
	free(out);
}

/* The kid of obj's first stanza must be a version of KEY_URI. */
static void
stanza_kid_is_the_hsms(const struct cenv *e, const char *obj)
{
	const char *a[] = {"inspect", "--json", obj, NULL};
	char *po = tu_path(dir, "out");
	const char *kid;
	uint8_t *b;
	cJSON *j, *r;

	cr_assert_eq(run(e, a, NULL), 0);
	b = tu_read_file(po, NULL);
	cr_assert_not_null(b);
	j = cJSON_Parse((char *)b);
	cr_assert_not_null(j, "%s", (char *)b);
	r = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "recipients"), 0);
	kid = cJSON_GetStringValue(cJSON_GetObjectItem(r, "key_id"));
	cr_assert_not_null(kid);
	cr_assert_eq(strncmp(kid, KEY_URI "/", strlen(KEY_URI "/")), 0, "%s",
	    kid);
	cr_assert_gt(strlen(kid), strlen(KEY_URI "/"));
	cJSON_Delete(j);
	free(b);
	free(po);
}

/* encrypt, inspect and decrypt of one file. */
static void
one_object(const struct cenv *e)
{
	const char *msg = "a record kept under a Managed HSM key\n";
	char *out = NULL, *one = tu_path(dir, "one.txt"),
	    *obj = tu_path(dir, "one.atr"), *back = tu_path(dir, "back.txt");
	const char *enc[] = {"encrypt", "-q", "-k", KEY_URI, "-o", obj, one,
	    NULL};
	const char *dec[] = {"decrypt", "-k", KEY_URI, "-o", back, obj, NULL};
	uint8_t *b;
	int rc;

	cr_assert_eq(tu_write_file(one, msg, strlen(msg)), 0);
	rc = run(e, enc, &out);
	cr_assert_eq(rc, 0, "encrypt exit %d: %s", rc, out);
	free(out);
	stanza_kid_is_the_hsms(e, obj);
	rc = run(e, dec, &out);
	cr_assert_eq(rc, 0, "decrypt exit %d: %s", rc, out);
	free(out);
	b = tu_read_file(back, NULL);
	cr_assert_not_null(b);
	cr_assert_str_eq((char *)b, msg);
	free(b);
	free(one);
	free(obj);
	free(back);
}

/* A fixture store encrypted for the HSM key verifies (exit 0). */
static void
verify_store(const struct cenv *e)
{
	char *out = NULL, *plain = tu_path(dir, "plain"),
	    *store = tu_path(dir, "store"), *json = tu_path(dir, "verify.json");
	const char *f[] = {"verify", "fixture", "--patients", "1",
	    "--journeys", "1", "--blobs", "1", "--rows", "5", plain, NULL};
	const char *enc[] = {"encrypt", "-q", "-k", KEY_URI, "-o", store,
	    plain, NULL};
	const char *v[] = {"verify", "-k", KEY_URI, "--json", json, store,
	    NULL};
	uint8_t *b;
	int rc;

	cr_assert_eq(run(e, f, NULL), 0);
	rc = run(e, enc, &out);
	cr_assert_eq(rc, 0, "encrypt store exit %d: %s", rc, out);
	free(out);
	rc = run(e, v, &out);
	cr_assert_eq(rc, 0, "verify exit %d: %s", rc, out);
	free(out);
	b = tu_read_file(json, NULL);
	cr_assert_not_null(b);
	cr_assert(strstr((char *)b, HSM_HOST) != NULL);
	free(b);
	free(plain);
	free(store);
	free(json);
}

Test(mhsm_cli, encrypt_decrypt_verify_with_a_managed_hsm_uri)
{
	struct served sv;
	struct cenv e;

	serve(&sv);
	cenv_init(&e, &sv);
	create_and_get(&e);
	one_object(&e);
	verify_store(&e);
}

static size_t
on_body(char *p, size_t size, size_t n, void *ud)
{
	char *b = ud;
	size_t have = strlen(b), add = size * n;

	if (have + add < 8192) {
		memcpy(b + have, p, add);
		b[have + add] = '\0';
	}
	return size * n;
}

/* A token from the server's token endpoint for scope, as
 * "ATREST_AZURE_TOKEN=..." in out. */
static void
token_for(const struct served *sv, const struct cenv *e, const char *scope,
    char *out, size_t cap)
{
	CURL *h = curl_easy_init();
	char url[700], body[1024], *reply = calloc(1, 8192), *esc;
	cJSON *j;
	const char *t;

	cr_assert(h != NULL && reply != NULL);
	snprintf(url, sizeof(url), "%s/%s/oauth2/v2.0/token", sv->url,
	    sv->tenant);
	esc = curl_easy_escape(h, scope, 0);
	snprintf(body, sizeof(body), "grant_type=client_credentials&"
	    "client_id=%s&client_secret=%s&scope=%s", sv->client,
	    e->secret + strlen("AZURE_CLIENT_SECRET="), esc);
	curl_free(esc);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_CAINFO, sv->ca);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, reply);
	cr_assert_eq(curl_easy_perform(h), CURLE_OK);
	curl_easy_cleanup(h);
	atr_memzero(body, sizeof(body));
	j = cJSON_Parse(reply);
	t = cJSON_GetStringValue(cJSON_GetObjectItem(j, "access_token"));
	cr_assert_not_null(t, "token endpoint: %s", reply);
	snprintf(out, cap, "ATREST_AZURE_TOKEN=%s", t);
	cJSON_Delete(j);
	atr_memzero(reply, 8192);
	free(reply);
}

/* A software key type is refused by the HSM; RSA-HSM is taken.  The
 * HSM checks the token's audience: a token for the vault audience is
 * refused, one for the Managed HSM audience is taken. */
Test(mhsm_cli, hsm_refuses_software_keys_and_vault_tokens)
{
	struct served sv;
	struct cenv e;
	char *out = NULL, tok[4200];
	int rc;

	serve(&sv);
	cenv_init(&e, &sv);
	{
		const char *a[] = {"vault", "create", KEY_URI, "--kty", "RSA",
		    NULL};

		rc = run(&e, a, &out);
		cr_assert_eq(rc, 2, "exit %d: %s", rc, out);
		cr_assert(strstr(out, "KeyTypeNotSupported") != NULL, "%s", out);
		free(out);
	}
	{
		const char *a[] = {"vault", "create", KEY_URI, "--kty", "RSA-HSM",
		    NULL};

		rc = run(&e, a, &out);
		cr_assert_eq(rc, 0, "exit %d: %s", rc, out);
		free(out);
	}
	{
		const char *a[] = {"vault", "get", KEY_URI, NULL};

		token_for(&sv, &e, "https://vault.azure.net/.default", tok,
		    sizeof(tok));
		e.v[6] = tok;
		/* The static token is the chain's last credential: pinned,
		 * in place of the client secret. */
		e.v[5] = "ATREST_AZURE_CREDENTIAL=token";
		rc = run(&e, a, &out);
		cr_assert_neq(rc, 0, "a vault token opened the HSM: %s", out);
		cr_assert(strstr(out, "AKV10022") != NULL, "%s", out);
		free(out);
		token_for(&sv, &e, "https://managedhsm.azure.net/.default", tok,
		    sizeof(tok));
		rc = run(&e, a, &out);
		cr_assert_eq(rc, 0, "exit %d: %s", rc, out);
		cr_assert(strstr(out, "\"RSA-HSM\"") != NULL, "%s", out);
		free(out);
		atr_memzero(tok, sizeof(tok));
	}
}
