/*
 * test_kv_server_hostile: the loopback Key Vault against callers who are
 * not its clients (docs/VAULT.md, "Threat model"):
 *
 *   kv_unauth  a client without credentials: the managed-identity
 *              endpoint, the admin API, a body sent before any token;
 *   kv_listen  where the server may listen, and what url= then says;
 *   kv_slow    a client that opens connections and sends nothing;
 *   kv_files   secrets in files: --client-file, a readable ca-key.pem.
 *
 * In-process servers on port 0 in temporary state directories; the CLI
 * parts drive the binary ($ATREST_BIN, set by scripts/run-tests.sh).
 * TLS is always verified against the server's test CA.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "kv_server.h"
#include "testutil.h"

#define MI_ID "7d3c9a10-1f2e-4b5a-8c6d-0e1f2a3b4c5d"
#define IMDS_PATH "/metadata/identity/oauth2/token?api-version=2018-02-01" \
	"&resource=https://vault.azure.net"

static void
setup(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* One timeout per suite file (Criterion 2.4 leaks with mixed ones). */
TestSuite(kv_unauth, .init = setup, .timeout = 120);
TestSuite(kv_listen, .init = setup, .timeout = 120);
TestSuite(kv_slow, .init = setup, .timeout = 120);
TestSuite(kv_files, .init = setup, .timeout = 120);

/* ------------------------------------------------------------------ */
/* Helpers */

struct srv {
	char *dir;
	struct atr_kv_server *s;
	char url[256];
	unsigned short port;
};

static void
srv_up(struct srv *v, struct atr_kv_server_opts *o)
{
	enum atr_err err;

	if (v->dir == NULL) {
		v->dir = tu_tmpdir("kvh");
		cr_assert_not_null(v->dir);
	}
	o->state_dir = v->dir;
	err = atr_kv_server_start(o, &v->s);
	cr_assert_eq(err, ATR_OK, "start: %s", atr_detail());
	snprintf(v->url, sizeof(v->url), "%s", atr_kv_server_url(v->s));
	v->port = atr_kv_server_port(v->s);
}

static void
srv_down(struct srv *v)
{
	atr_kv_server_stop(v->s);
	v->s = NULL;
	if (v->dir != NULL) {
		tu_rmtree(v->dir);
		free(v->dir);
		v->dir = NULL;
	}
}

struct resp {
	CURLcode rc;
	long status;
	char *body;
	size_t len;
	cJSON *json;
};

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

struct req {
	const char *method;         /* NULL: GET, or POST with a body */
	const char *url;            /* absolute */
	const char *body;
	const char *hdr[3];         /* "Name: value" lines */
	const char *iface;          /* local address to connect from */
	long timeout;               /* seconds, 0: 30 */
};

static void
fetch(struct srv *v, const struct req *q, struct resp *r)
{
	CURL *c = curl_easy_init();
	struct curl_slist *h = NULL;
	size_t i;

	memset(r, 0, sizeof(*r));
	cr_assert_not_null(c);
	curl_easy_setopt(c, CURLOPT_URL, q->url);
	curl_easy_setopt(c, CURLOPT_CAINFO, atr_kv_server_ca_path(v->s));
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, q->timeout > 0 ? q->timeout : 30L);
	if (q->method != NULL)
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, q->method);
	if (q->body != NULL) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, q->body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE,
		    (long)strlen(q->body));
	}
	if (q->iface != NULL)
		curl_easy_setopt(c, CURLOPT_INTERFACE, q->iface);
	for (i = 0; i < 3; i++)
		if (q->hdr[i] != NULL)
			h = curl_slist_append(h, q->hdr[i]);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
	r->rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	if (r->body != NULL)
		r->json = cJSON_Parse(r->body);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
}

/* GET or POST path of the server's URL with up to two header lines. */
static long
call(struct srv *v, const char *method, const char *path, const char *body,
    const char *h1, const char *h2, struct resp *r)
{
	char url[1024];
	struct req q = {.method = method, .url = url, .body = body,
	    .hdr = {h1, h2, NULL}};

	snprintf(url, sizeof(url), "%s%s", v->url, path);
	fetch(v, &q, r);
	return r->status;
}

static const char *
jstr(const cJSON *j, const char *name)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(j, name);

	return cJSON_IsString(it) ? it->valuestring : NULL;
}

/* "x-atrest-admin: TOKEN" from the server's admin-token file. */
static void
admin_header(struct srv *v, char *out, size_t cap)
{
	const char *p = atr_kv_server_admin_token_path(v->s);
	uint8_t *t;
	size_t n;

	cr_assert_not_null(p, "admin API on");
	t = tu_read_file(p, &n);
	cr_assert_not_null(t, "%s", p);
	snprintf(out, cap, "x-atrest-admin: %.*s", (int)n, (char *)t);
	free(t);
}

/* 1 when "Bearer any-token" is refused, i.e. tokens are validated. */
static int
validating(struct srv *v)
{
	struct resp r;
	long st = call(v, NULL, "/keys?api-version=7.4", NULL,
	    "Authorization: Bearer any-token", NULL, &r);

	resp_free(&r);
	cr_assert(st == 401 || st == 200, "HTTP %ld", st);
	return st == 401;
}

/*
 * Sends req (headers and part of a body) over TLS to 127.0.0.1:port and
 * reads what comes back until the server closes or 10 s pass without a
 * byte.  Returns the bytes read: 0 when nothing came.
 */
static size_t
tls_raw(struct srv *v, const char *req, char *out, size_t cap)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	struct timeval tv = {10, 0};
	struct sockaddr_in a;
	size_t got = 0;
	SSL *ssl;
	int fd;

	cr_assert_not_null(ctx);
	cr_assert_eq(SSL_CTX_load_verify_locations(ctx,
	    atr_kv_server_ca_path(v->s), NULL), 1);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_geq(fd, 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons(v->port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	ssl = SSL_new(ctx);
	cr_assert_not_null(ssl);
	SSL_set_fd(ssl, fd);
	X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), "127.0.0.1");
	cr_assert_eq(SSL_connect(ssl), 1, "TLS handshake");
	cr_assert_eq(SSL_write(ssl, req, (int)strlen(req)), (int)strlen(req));
	while (got + 1 < cap) {
		int n = SSL_read(ssl, out + got, (int)(cap - 1 - got));

		if (n <= 0)
			break;
		got += (size_t)n;
	}
	out[got] = '\0';
	SSL_free(ssl);
	close(fd);
	SSL_CTX_free(ctx);
	return got;
}

/* A non-loopback IPv4 address of this host, or 0 when it has none. */
static int
host_address(char *out, size_t cap)
{
	struct ifaddrs *ifa, *i;
	int found = 0;

	if (getifaddrs(&ifa) != 0)
		return 0;
	for (i = ifa; i != NULL && !found; i = i->ifa_next) {
		const struct sockaddr_in *in = (const void *)i->ifa_addr;

		if (i->ifa_addr == NULL || i->ifa_addr->sa_family != AF_INET ||
		    (ntohl(in->sin_addr.s_addr) >> 24) == 127)
			continue;
		found = inet_ntop(AF_INET, &in->sin_addr, out,
		    (socklen_t)cap) != NULL;
	}
	freeifaddrs(ifa);
	return found;
}

/* ---- the binary ---- */

struct served {
	pid_t pid;
	FILE *out;
	char url[512], ca[512], admin[512], token_mode[32], tenant[64];
	char log[600];
};

static void
copy_fact(char *out, size_t cap, const char *v)
{
	size_t n = strlen(v);

	if (n >= cap)
		n = cap - 1;
	memcpy(out, v, n);
	out[n] = '\0';
}

static const char *
atrest_bin(void)
{
	const char *bin = getenv("ATREST_BIN");

	if (bin == NULL || access(bin, X_OK) != 0)
		cr_skip_test("ATREST_BIN not set (scripts/run-tests.sh sets it)");
	return bin;
}

/*
 * Runs "atrest vault serve --state DIR/state ARGS..." and reads its facts.
 * Returns 1 once it printed ready=1 (stop it with serve_stop), else 0
 * with its exit status in *rc and its standard error in sv->log's file.
 */
static int
serve_start(const char *dir, const char *const *args, struct served *sv,
    int *rc)
{
	const char *argv[32];
	char state[512], line[2048];
	size_t n = 0, i;
	int pfd[2], status = 0;

	memset(sv, 0, sizeof(*sv));
	snprintf(state, sizeof(state), "%s/state", dir);
	snprintf(sv->log, sizeof(sv->log), "%s/serve.log", dir);
	argv[n++] = atrest_bin();
	argv[n++] = "vault";
	argv[n++] = "serve";
	argv[n++] = "--state";
	argv[n++] = state;
	for (i = 0; args[i] != NULL && n < 31; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	cr_assert_eq(pipe(pfd), 0);
	sv->pid = fork();
	cr_assert_neq(sv->pid, -1);
	if (sv->pid == 0) {
		int lf = open(sv->log, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		dup2(pfd[1], 1);
		if (lf >= 0)
			dup2(lf, 2);
		close(pfd[0]);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(pfd[1]);
	sv->out = fdopen(pfd[0], "r");
	cr_assert_not_null(sv->out);
	while (fgets(line, sizeof(line), sv->out) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		if (strncmp(line, "url=", 4) == 0)
			copy_fact(sv->url, sizeof(sv->url), line + 4);
		else if (strncmp(line, "ca=", 3) == 0)
			copy_fact(sv->ca, sizeof(sv->ca), line + 3);
		else if (strncmp(line, "admin_token_file=", 17) == 0)
			copy_fact(sv->admin, sizeof(sv->admin), line + 17);
		else if (strncmp(line, "tenant=", 7) == 0)
			copy_fact(sv->tenant, sizeof(sv->tenant), line + 7);
		else if (strncmp(line, "token_mode=", 11) == 0)
			copy_fact(sv->token_mode, sizeof(sv->token_mode),
			    line + 11);
		else if (strcmp(line, "ready=1") == 0)
			return 1;
	}
	fclose(sv->out);
	sv->out = NULL;
	cr_assert_eq(waitpid(sv->pid, &status, 0), sv->pid);
	sv->pid = 0;
	*rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
	return 0;
}

static void
serve_stop(struct served *sv)
{
	int status = 0;

	if (sv->pid > 0) {
		kill(sv->pid, SIGTERM);
		waitpid(sv->pid, &status, 0);
		cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		    "status %d", status);
	}
	if (sv->out != NULL)
		fclose(sv->out);
	sv->pid = 0;
	sv->out = NULL;
}

/* Expects the server to refuse to start: exit 2, stderr has both. */
static void
serve_refused(const char *dir, const char *const *args, const char *want1,
    const char *want2)
{
	struct served sv;
	char *log;
	int rc = -1;

	if (serve_start(dir, args, &sv, &rc)) {
		serve_stop(&sv);
		cr_assert_fail("the server started (%s)", want1);
	}
	log = (char *)tu_read_file(sv.log, NULL);
	cr_assert_not_null(log);
	cr_assert_eq(rc, 2, "exit %d: %s", rc, log);
	cr_assert(strstr(log, want1) != NULL, "'%s' not in: %s", want1, log);
	cr_assert(want2 == NULL || strstr(log, want2) != NULL,
	    "'%s' not in: %s", want2, log);
	cr_assert(strchr(log, '\n') == log + strlen(log) - 1, "one line: %s",
	    log);
	free(log);
}

/* ------------------------------------------------------------------ */
/* kv_unauth: a caller with no credential */

/* The managed-identity endpoint is off unless an identity was named:
 * before, any local caller got a token that validate mode accepted. */
Test(kv_unauth, identity_endpoint_off_without_managed_identity)
{
	struct atr_kv_server_opts o;
	struct atr_kv_server_stats st;
	struct srv v = {0};
	struct resp r;

	atr_kv_server_opts_init(&o);
	o.token_mode = ATR_KV_TOKEN_VALIDATE;
	srv_up(&v, &o);
	cr_assert_null(atr_kv_server_mi_client_id(v.s));
	cr_assert_eq(call(&v, NULL, IMDS_PATH, NULL, "Metadata: true", NULL,
	    &r), 400, "%s", r.body);
	cr_assert_null(jstr(r.json, "access_token"), "no token issued");
	cr_assert_str_eq(jstr(r.json, "error_description"),
	    "Identity not found");
	resp_free(&r);
	/* MSAL's form of the path, and a user-assigned identity's. */
	cr_assert_eq(call(&v, NULL, "/metadata/identity/oauth2/token/?api-"
	    "version=2018-02-01&resource=https://vault.azure.net&client_id="
	    MI_ID, NULL, "Metadata: true", NULL, &r), 400);
	cr_assert_null(jstr(r.json, "access_token"));
	resp_free(&r);
	atr_kv_server_get_stats(v.s, &st);
	cr_assert_eq(st.tokens_issued, 0);
	cr_assert(validating(&v));
	srv_down(&v);
}

/* Named: tokens for that identity only, with IMDS's Metadata header. */
Test(kv_unauth, identity_endpoint_serves_the_named_identity)
{
	struct atr_kv_server_opts o;
	struct srv v = {0};
	struct resp r;
	char bearer[4200];

	atr_kv_server_opts_init(&o);
	o.token_mode = ATR_KV_TOKEN_VALIDATE;
	o.managed_identity = MI_ID;
	srv_up(&v, &o);
	cr_assert_str_eq(atr_kv_server_mi_client_id(v.s), MI_ID);
	cr_assert_eq(call(&v, NULL, IMDS_PATH, NULL, NULL, NULL, &r), 400);
	cr_assert_null(jstr(r.json, "access_token"), "Metadata: true needed");
	resp_free(&r);
	cr_assert_eq(call(&v, NULL, IMDS_PATH "&client_id=00000000-0000-0000-"
	    "0000-000000000000", NULL, "Metadata: true", NULL, &r), 400);
	cr_assert_null(jstr(r.json, "access_token"));
	resp_free(&r);
	cr_assert_eq(call(&v, NULL, IMDS_PATH, NULL, "Metadata: true", NULL,
	    &r), 200, "%s", r.body);
	cr_assert_str_eq(jstr(r.json, "client_id"), MI_ID);
	snprintf(bearer, sizeof(bearer), "Authorization: Bearer %s",
	    jstr(r.json, "access_token"));
	resp_free(&r);
	cr_assert_eq(call(&v, NULL, "/keys?api-version=7.4", NULL, bearer, NULL,
	    &r), 200);
	resp_free(&r);
	srv_down(&v);
}

/* Without admin on, /admin is not there: nobody changes a setting. */
Test(kv_unauth, admin_api_off_without_admin)
{
	struct atr_kv_server_opts o;
	struct srv v = {0};
	struct resp r;
	struct stat st;
	char path[600];

	atr_kv_server_opts_init(&o);
	o.token_mode = ATR_KV_TOKEN_VALIDATE;
	srv_up(&v, &o);
	cr_assert_null(atr_kv_server_admin_token_path(v.s));
	snprintf(path, sizeof(path), "%s/admin-token", v.dir);
	cr_assert_neq(stat(path, &st), 0, "no admin-token file");
	cr_assert_eq(call(&v, NULL, "/admin/config", "{\"token_mode\":\"any\"}",
	    "Content-Type: application/json", NULL, &r), 404, "%s", r.body);
	resp_free(&r);
	cr_assert_eq(call(&v, NULL, "/admin/faults", "{\"spec\":\"500=1\"}",
	    NULL, NULL, &r), 404);
	resp_free(&r);
	cr_assert_eq(call(&v, NULL, "/admin/stats", NULL, NULL, NULL, &r), 404);
	resp_free(&r);
	cr_assert(validating(&v), "token mode unchanged");
	srv_down(&v);
}

/* With admin on: its token, and nothing else, opens /admin. */
Test(kv_unauth, admin_api_needs_its_token)
{
	struct atr_kv_server_opts o;
	struct srv v = {0};
	struct resp r;
	struct stat st;
	char hdr[200], longer[210], shorter[200];
	const char *cfg = "{\"token_mode\":\"any\",\"clock_offset\":99999,"
	    "\"disabled_blocks\":[]}";
	const char *bad[] = {NULL, "x-atrest-admin: ", "x-atrest-admin: wrong",
	    longer, shorter, "Authorization: Bearer any-token"};
	size_t i;

	atr_kv_server_opts_init(&o);
	o.token_mode = ATR_KV_TOKEN_VALIDATE;
	o.admin = 1;
	srv_up(&v, &o);
	cr_assert_eq(stat(atr_kv_server_admin_token_path(v.s), &st), 0);
	cr_assert_eq(st.st_mode & 0777, 0600, "admin-token mode %o",
	    (unsigned)(st.st_mode & 0777));
	cr_assert_geq(st.st_size, 43, "a 256-bit token");
	admin_header(&v, hdr, sizeof(hdr));
	snprintf(longer, sizeof(longer), "%sx", hdr);
	snprintf(shorter, sizeof(shorter), "%.*s", (int)strlen(hdr) - 1, hdr);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(call(&v, NULL, "/admin/config", cfg, bad[i], NULL,
		    &r), 401, "%s: %s", bad[i] ? bad[i] : "none", r.body);
		resp_free(&r);
		cr_assert_eq(call(&v, NULL, "/admin/faults",
		    "{\"spec\":\"drop=1\"}", bad[i], NULL, &r), 401);
		resp_free(&r);
		cr_assert_eq(call(&v, NULL, "/admin/info", NULL, bad[i], NULL,
		    &r), 401);
		cr_assert_null(strstr(r.body, atr_kv_server_tenant(v.s)));
		resp_free(&r);
		cr_assert(validating(&v), "token mode unchanged (%s)",
		    bad[i] ? bad[i] : "none");
	}
	cr_assert_eq(call(&v, NULL, "/admin/config", cfg, hdr, NULL, &r), 200,
	    "%s", r.body);
	cr_assert_str_eq(jstr(r.json, "token_mode"), "any");
	resp_free(&r);
	cr_assert(!validating(&v), "the admin switched it");
	srv_down(&v);
}

/*
 * Content-Length 1000000 and a few bytes: the answer comes from the
 * headers at once, nothing waits for (or buffers) the body.  Before, the
 * server waited for the rest of the body until its 120 s timeout.
 */
Test(kv_unauth, answered_from_the_headers_before_the_body)
{
	struct atr_kv_server_opts o;
	struct srv v = {0};
	char req[8192], out[8192], hdr[200];
	const char *auth_cases[][2] = {
		/* path, extra header line */
		{"/keys/k1/create?api-version=7.4", ""},
		{"/keys/k1/create?api-version=7.4",
		    "Authorization: Bearer not.a-token\r\n"},
		{"/admin/config", ""},
		{"/admin/config", "x-atrest-admin: wrong\r\n"},
	};
	size_t i;

	atr_kv_server_opts_init(&o);
	o.token_mode = ATR_KV_TOKEN_VALIDATE;
	o.admin = 1;
	srv_up(&v, &o);
	for (i = 0; i < sizeof(auth_cases) / sizeof(auth_cases[0]); i++) {
		snprintf(req, sizeof(req), "POST %s HTTP/1.1\r\nHost: 127.0.0.1"
		    "\r\n%sContent-Type: application/json\r\nContent-Length: "
		    "1000000\r\n\r\n{\"kty\":", auth_cases[i][0],
		    auth_cases[i][1]);
		cr_assert_gt(tls_raw(&v, req, out, sizeof(out)), 0,
		    "%s: no answer within 10 s", auth_cases[i][0]);
		cr_assert_eq(strncmp(out, "HTTP/1.1 401 ", 13), 0, "%s: %.200s",
		    auth_cases[i][0], out);
		if (strncmp(auth_cases[i][0], "/keys", 5) == 0)
			cr_assert(strstr(out, "WWW-Authenticate: Bearer "
			    "authorization=") != NULL, "challenge: %s", out);
	}
	/* No token is needed on the token endpoint, but its body is a
	 * small form: a large one is refused before it is read. */
	snprintf(req, sizeof(req), "POST /%s/oauth2/v2.0/token HTTP/1.1\r\n"
	    "Host: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded"
	    "\r\nContent-Length: 1000000\r\n\r\ngrant_type=",
	    atr_kv_server_tenant(v.s));
	cr_assert_gt(tls_raw(&v, req, out, sizeof(out)), 0, "no answer");
	cr_assert_eq(strncmp(out, "HTTP/1.1 413 ", 13), 0, "%.200s", out);
	/* An authenticated caller too: beyond the limit is refused at once. */
	admin_header(&v, hdr, sizeof(hdr));
	snprintf(req, sizeof(req), "POST /admin/config HTTP/1.1\r\nHost: "
	    "127.0.0.1\r\n%s\r\nContent-Length: 1000000\r\n\r\n{", hdr);
	cr_assert_gt(tls_raw(&v, req, out, sizeof(out)), 0, "no answer");
	cr_assert_eq(strncmp(out, "HTTP/1.1 413 ", 13), 0, "%.200s", out);
	srv_down(&v);
}

/* ------------------------------------------------------------------ */
/* kv_listen: loopback unless allow_remote, and url= names the address */

static enum atr_err
try_listen(const char *listen, int allow_remote, struct srv *v)
{
	struct atr_kv_server_opts o;
	enum atr_err err;

	atr_kv_server_opts_init(&o);
	o.listen = listen;
	o.allow_remote = allow_remote;
	if (v->dir == NULL)
		v->dir = tu_tmpdir("kvl");
	o.state_dir = v->dir;
	err = atr_kv_server_start(&o, &v->s);
	if (err == ATR_OK) {
		snprintf(v->url, sizeof(v->url), "%s", atr_kv_server_url(v->s));
		v->port = atr_kv_server_port(v->s);
	}
	return err;
}

Test(kv_listen, non_loopback_refused_without_allow_remote)
{
	char addr[64], l[80];
	const char *refused[] = {"0.0.0.0:0", "[::]:0", "0:0", l};
	size_t i, n = 3;
	struct srv v = {0};

	if (host_address(addr, sizeof(addr))) {
		snprintf(l, sizeof(l), "%s:0", addr);
		n = 4;
	} else {
		cr_log_warn("no non-loopback IPv4 address here: not tried");
	}
	for (i = 0; i < n; i++) {
		enum atr_err err = try_listen(refused[i], 0, &v);

		if (err == ATR_OK)
			atr_kv_server_stop(v.s);
		cr_assert_eq(err, ATR_ERR_USAGE, "%s accepted (url %s)",
		    refused[i], err == ATR_OK ? v.url : "-");
		cr_assert(strstr(atr_detail(), "not a loopback address") !=
		    NULL && strstr(atr_detail(), "--allow-remote") != NULL,
		    "%s", atr_detail());
	}
	srv_down(&v);
}

/* Loopback in any spelling getaddrinfo takes; url= is the address. */
Test(kv_listen, loopback_forms_and_the_url)
{
	static const struct {
		const char *listen, *url_prefix;
	} ok[] = {
		{"127.0.0.1:0", "https://127.0.0.1:"},
		{"127.0.0.2:0", "https://127.0.0.2:"},
		{"127.1:0", "https://127.0.0.1:"},
		{"0x7f000001:0", "https://127.0.0.1:"},
		{"[::1]:0", "https://[::1]:"},
		{":0", "https://127.0.0.1:"},
	};
	size_t i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		struct srv v = {0};
		struct resp r;
		char want[64];

		cr_assert_eq(try_listen(ok[i].listen, 0, &v), ATR_OK, "%s: %s",
		    ok[i].listen, atr_detail());
		snprintf(want, sizeof(want), "%s%u", ok[i].url_prefix,
		    (unsigned)v.port);
		cr_assert_str_eq(v.url, want, "%s", ok[i].listen);
		/* The certificate names it: the URL works, verified. */
		cr_assert_eq(call(&v, NULL, "/keys?api-version=7.4", NULL,
		    "Authorization: Bearer t", NULL, &r), 200, "%s: curl %d",
		    v.url, (int)r.rc);
		resp_free(&r);
		cr_assert_eq(atr_kv_server_token_mode(v.s), ATR_KV_TOKEN_ANY);
		srv_down(&v);
	}
}

/* allow_remote: validate forced, url= is the wildcard address bound and
 * works (its certificate names 0.0.0.0); IMDS answers this host only. */
Test(kv_listen, allow_remote_validates_and_names_the_address)
{
	struct atr_kv_server_opts o;
	struct srv v = {0};
	struct resp r;
	char want[128], addr[64] = "", hdr[200], url[256];
	const char *sans[1];
	int have_addr = host_address(addr, sizeof(addr));

	atr_kv_server_opts_init(&o);
	o.listen = "0.0.0.0:0";
	o.allow_remote = 1;
	o.token_mode = ATR_KV_TOKEN_ANY;    /* overridden */
	o.managed_identity = MI_ID;
	o.admin = 1;
	if (have_addr) {
		sans[0] = addr;
		o.extra_sans = sans;
		o.n_extra_sans = 1;
	}
	srv_up(&v, &o);
	snprintf(want, sizeof(want), "https://0.0.0.0:%u", (unsigned)v.port);
	cr_assert_str_eq(v.url, want);
	cr_assert_eq(atr_kv_server_token_mode(v.s), ATR_KV_TOKEN_VALIDATE);
	cr_assert(validating(&v), "Bearer any-token refused via %s", v.url);
	/* Nor can the admin switch validation off. */
	admin_header(&v, hdr, sizeof(hdr));
	cr_assert_eq(call(&v, NULL, "/admin/config", "{\"token_mode\":\"any\"}",
	    hdr, NULL, &r), 400, "%s", r.body);
	resp_free(&r);
	cr_assert(validating(&v));
	/* A caller on this host gets the identity's token. */
	snprintf(url, sizeof(url), "https://127.0.0.1:%u" IMDS_PATH,
	    (unsigned)v.port);
	{
		struct req q = {.url = url, .hdr = {"Metadata: true"}};

		fetch(&v, &q, &r);
		cr_assert_eq(r.status, 200, "%s", r.body);
		resp_free(&r);
	}
	if (!have_addr) {
		cr_log_warn("no non-loopback IPv4 address: no remote peer");
	} else {
		/* A caller from another address does not: IMDS is reachable
		 * from its own VM only. */
		struct req q = {.url = url, .hdr = {"Metadata: true"}};

		snprintf(url, sizeof(url), "https://%s:%u" IMDS_PATH, addr,
		    (unsigned)v.port);
		fetch(&v, &q, &r);
		cr_assert_eq(r.status, 400, "curl %d: %s", (int)r.rc, r.body);
		cr_assert_null(jstr(r.json, "access_token"));
		resp_free(&r);
	}
	srv_down(&v);

	if (have_addr) {
		/* A specific address: url= names it, the cert covers it. */
		snprintf(want, sizeof(want), "%s:0", addr);
		cr_assert_eq(try_listen(want, 1, &v), ATR_OK, "%s", atr_detail());
		snprintf(url, sizeof(url), "https://%s:%u", addr,
		    (unsigned)v.port);
		cr_assert_str_eq(v.url, url);
		cr_assert(validating(&v));
		srv_down(&v);
	}
}

/* The same rules through the binary. */
Test(kv_listen, cli_listen_rules)
{
	char *dir = tu_tmpdir("kvlc");
	struct served sv;
	int rc = 0;
	const char *wild[] = {"--listen", "0.0.0.0:0", NULL};
	const char *any[] = {"--listen", "0.0.0.0:0", "--allow-remote",
	    "--token-mode", "any", NULL};
	const char *remote[] = {"--listen", "0.0.0.0:0", "--allow-remote", NULL};

	cr_assert_not_null(dir);
	serve_refused(dir, wild, "not a loopback address", "--allow-remote");
	serve_refused(dir, any, "--allow-remote", "--token-mode any");
	cr_assert(serve_start(dir, remote, &sv, &rc), "exit %d", rc);
	cr_assert_eq(strncmp(sv.url, "https://0.0.0.0:", 16), 0, "%s", sv.url);
	cr_assert_str_eq(sv.token_mode, "validate");
	cr_assert_str_eq(sv.admin, "", "no admin API without --admin");
	serve_stop(&sv);
	tu_rmtree(dir);
	free(dir);
}

/* ------------------------------------------------------------------ */
/* kv_slow: idle connections */

#define IDLE_CONNS 1100

/* The descriptors for n connections and the server's own. */
static void
nofile_for(rlim_t n)
{
	struct rlimit rl;

	cr_assert_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < n) {
		rl.rlim_cur = rl.rlim_max;
		cr_assert_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
	}
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < n)
		cr_skip_test("RLIMIT_NOFILE hard limit %llu < %llu",
		    (unsigned long long)rl.rlim_max, (unsigned long long)n);
}

/* IDLE_CONNS TCP connections to the server that never say a word. */
static int *
hold_idle(unsigned short port)
{
	int *fds = calloc(IDLE_CONNS, sizeof(*fds));
	struct timeval tv = {10, 0};
	struct sockaddr_in a;
	size_t i;

	cr_assert_not_null(fds);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons(port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	for (i = 0; i < IDLE_CONNS; i++) {
		fds[i] = socket(AF_INET, SOCK_STREAM, 0);
		cr_assert_geq(fds[i], 0, "socket %zu: %s", i, strerror(errno));
		setsockopt(fds[i], SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		cr_assert_eq(connect(fds[i], (struct sockaddr *)&a, sizeof(a)),
		    0, "connect %zu: %s", i, strerror(errno));
	}
	return fds;
}

static void
drop_idle(int *fds)
{
	size_t i;

	for (i = 0; i < IDLE_CONNS; i++)
		close(fds[i]);
	free(fds);
}

static double
since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) +
	    (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/* One address's idle connections leave room for another's request:
 * before, they took every connection slot for 120 s. */
Test(kv_slow, idle_connections_leave_room_for_others)
{
	struct atr_kv_server_opts o;
	struct srv v = {0};
	struct resp r;
	char url[320];
	struct req q = {.url = url, .iface = "host!127.0.0.2", .timeout = 15,
	    .hdr = {"Authorization: Bearer t"}};
	int *fds;

	nofile_for(IDLE_CONNS + 512);
	atr_kv_server_opts_init(&o);
	srv_up(&v, &o);
	fds = hold_idle(v.port);
	snprintf(url, sizeof(url), "%s/keys?api-version=7.4", v.url);
	fetch(&v, &q, &r);
	cr_assert_eq(r.status, 200, "from 127.0.0.2 while %d idle connections "
	    "are held: curl %d (%s)", IDLE_CONNS, (int)r.rc,
	    curl_easy_strerror(r.rc));
	resp_free(&r);
	drop_idle(fds);
	srv_down(&v);
}

/* From the same address: served once the idle ones time out, within
 * seconds (handshake_timeout 10 s), not after 120 s. */
Test(kv_slow, idle_connections_time_out)
{
	struct atr_kv_server_opts o;
	struct srv v = {0};
	struct resp r = {0};
	struct timespec t0;
	char url[320];
	struct req q = {.url = url, .timeout = 5,
	    .hdr = {"Authorization: Bearer t"}};
	int *fds;

	nofile_for(IDLE_CONNS + 512);
	atr_kv_server_opts_init(&o);
	srv_up(&v, &o);
	fds = hold_idle(v.port);
	snprintf(url, sizeof(url), "%s/keys?api-version=7.4", v.url);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		fetch(&v, &q, &r);
		if (r.status == 200 || since(&t0) > 45)
			break;
		resp_free(&r);
		usleep(500 * 1000);
	}
	cr_assert_eq(r.status, 200, "not served within %.0f s while %d idle "
	    "connections are held: curl %d", since(&t0), IDLE_CONNS, (int)r.rc);
	resp_free(&r);
	drop_idle(fds);
	srv_down(&v);
}

/* The binary's limits (--max-connections, --max-per-ip), small here. */
Test(kv_slow, cli_limits)
{
	char *dir = tu_tmpdir("kvsl"), url[700];
	const char *args[] = {"--max-connections", "16", "--max-per-ip", "4",
	    NULL};
	struct served sv;
	struct resp r;
	int rc = 0, *fds;

	cr_assert_not_null(dir);
	nofile_for(IDLE_CONNS + 512);
	cr_assert(serve_start(dir, args, &sv, &rc), "exit %d", rc);
	fds = hold_idle((unsigned short)strtoul(strrchr(sv.url, ':') + 1,
	    NULL, 10));
	snprintf(url, sizeof(url), "%s/keys?api-version=7.4", sv.url);
	{
		CURL *c = curl_easy_init();
		struct curl_slist *h = curl_slist_append(NULL,
		    "Authorization: Bearer t");

		memset(&r, 0, sizeof(r));
		curl_easy_setopt(c, CURLOPT_URL, url);
		curl_easy_setopt(c, CURLOPT_CAINFO, sv.ca);
		curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(c, CURLOPT_TIMEOUT, 15L);
		curl_easy_setopt(c, CURLOPT_INTERFACE, "host!127.0.0.2");
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
		curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
		curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
		r.rc = curl_easy_perform(c);
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
		curl_slist_free_all(h);
		curl_easy_cleanup(c);
	}
	cr_assert_eq(r.status, 200, "curl %d", (int)r.rc);
	resp_free(&r);
	drop_idle(fds);
	serve_stop(&sv);
	tu_rmtree(dir);
	free(dir);
}

/* ------------------------------------------------------------------ */
/* kv_files: secrets in files */

static char *
write_mode(const char *dir, const char *name, const char *text, mode_t mode)
{
	char *p = tu_path(dir, name);

	cr_assert_not_null(p);
	cr_assert_eq(tu_write_file(p, text, strlen(text)), 0);
	cr_assert_eq(chmod(p, mode), 0);
	return p;
}

/* A client secret file that others can read is refused, naming it. */
Test(kv_files, client_file_refused_unless_private)
{
	char *dir = tu_tmpdir("kvcf"), *f, *d, fifo[600];
	const char *args[] = {"--client-file", NULL, NULL};
	static const mode_t modes[] = {0640, 0604, 0660, 0620};
	size_t i;

	cr_assert_not_null(dir);
	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		f = write_mode(dir, "client", "file-app:file-secret\n", modes[i]);
		args[1] = f;
		serve_refused(dir, args, f, "group or others");
		free(f);
	}
	/* Not a regular file: a directory, a FIFO (which must not block). */
	d = tu_path(dir, "subdir");
	cr_assert_eq(mkdir(d, 0700), 0);
	args[1] = d;
	serve_refused(dir, args, d, "not a regular file");
	free(d);
	snprintf(fifo, sizeof(fifo), "%s/fifo", dir);
	cr_assert_eq(mkfifo(fifo, 0600), 0);
	args[1] = fifo;
	serve_refused(dir, args, fifo, "not a regular file");
	/* Not ID:SECRET. */
	f = write_mode(dir, "client2", "no-colon-here\n", 0600);
	args[1] = f;
	serve_refused(dir, args, f, "ID:SECRET");
	free(f);
	tu_rmtree(dir);
	free(dir);
}

/* A private one works, and the secret is not in the process list. */
Test(kv_files, client_file_serves_its_client)
{
	char *dir = tu_tmpdir("kvcf"), *f, *cmdline, path[64], url[700];
	const char *args[] = {"--client-file", NULL, "--token-mode", "validate",
	    NULL};
	struct served sv;
	size_t n = 0, i;
	int rc = 0;

	cr_assert_not_null(dir);
	f = write_mode(dir, "client", "file-app:file-secret-123\n", 0600);
	args[1] = f;
	cr_assert(serve_start(dir, args, &sv, &rc), "exit %d", rc);
	snprintf(path, sizeof(path), "/proc/%ld/cmdline", (long)sv.pid);
	cmdline = (char *)tu_read_file(path, &n);
	cr_assert_not_null(cmdline);
	for (i = 0; i < n; i++)
		if (cmdline[i] == '\0')
			cmdline[i] = ' ';
	cr_assert_null(strstr(cmdline, "file-secret-123"), "%s", cmdline);
	free(cmdline);
	for (i = 0; i < 2; i++) {
		CURL *c = curl_easy_init();
		const char *form = i == 0 ?
		    "grant_type=client_credentials&client_id=file-app&"
		    "client_secret=file-secret-123&scope=https%3A%2F%2Fvault."
		    "azure.net%2F.default" :
		    "grant_type=client_credentials&client_id=file-app&"
		    "client_secret=wrong&scope=https%3A%2F%2Fvault.azure.net"
		    "%2F.default";
		struct resp r = {0};

		snprintf(url, sizeof(url), "%s/%s/oauth2/v2.0/token", sv.url,
		    sv.tenant);
		curl_easy_setopt(c, CURLOPT_URL, url);
		curl_easy_setopt(c, CURLOPT_CAINFO, sv.ca);
		curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, form);
		curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
		curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
		cr_assert_eq(curl_easy_perform(c), CURLE_OK);
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
		cr_assert_eq(r.status, i == 0 ? 200 : 401, "%s", r.body);
		free(r.body);
		curl_easy_cleanup(c);
	}
	serve_stop(&sv);
	free(f);
	tu_rmtree(dir);
	free(dir);
}

/* A group-readable CA key (or server key) is refused with its name:
 * before, the server silently made a new CA and clients stopped
 * trusting it - or kept trusting a key others may have copied. */
Test(kv_files, readable_private_key_refused)
{
	static const char *const keys[] = {"ca-key.pem", "server-key.pem"};
	size_t i;

	for (i = 0; i < 2; i++) {
		struct atr_kv_server_opts o;
		struct atr_kv_server *s = NULL;
		uint8_t *ca1, *ca2, *k1, *k2;
		size_t l1, l2, kl1, kl2;
		char *parent = tu_tmpdir("kvck"), state[600], kp[700];
		struct stat st;
		enum atr_err err;
		const char *args[] = {NULL};

		cr_assert_not_null(parent);
		snprintf(state, sizeof(state), "%s/state", parent);
		atr_kv_server_opts_init(&o);
		o.state_dir = state;
		cr_assert_eq(atr_kv_server_start(&o, &s), ATR_OK, "%s",
		    atr_detail());
		ca1 = tu_read_file(atr_kv_server_ca_path(s), &l1);
		atr_kv_server_stop(s);
		s = NULL;
		snprintf(kp, sizeof(kp), "%s/%s", state, keys[i]);
		k1 = tu_read_file(kp, &kl1);
		cr_assert_eq(chmod(kp, 0640), 0);
		err = atr_kv_server_start(&o, &s);
		if (err == ATR_OK)
			atr_kv_server_stop(s);
		cr_assert_neq(err, ATR_OK, "%s mode 0640 accepted", keys[i]);
		cr_assert(strstr(atr_detail(), kp) != NULL &&
		    strstr(atr_detail(), "group or others") != NULL, "%s",
		    atr_detail());
		/* The binary says so in one line and exits 2. */
		if (getenv("ATREST_BIN") != NULL)
			serve_refused(parent, args, kp, "group or others");
		/* Nothing was replaced. */
		k2 = tu_read_file(kp, &kl2);
		cr_assert(kl1 == kl2 && memcmp(k1, k2, kl1) == 0, "key kept");
		cr_assert_eq(stat(kp, &st), 0);
		cr_assert_eq(st.st_mode & 0777, 0640);
		snprintf(kp, sizeof(kp), "%s/ca.pem", state);
		ca2 = tu_read_file(kp, &l2);
		cr_assert(l1 == l2 && memcmp(ca1, ca2, l1) == 0, "ca.pem kept");
		free(ca1);
		free(ca2);
		free(k1);
		free(k2);
		tu_rmtree(parent);
		free(parent);
	}
}
