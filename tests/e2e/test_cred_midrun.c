/*
 * test_cred_midrun.c - a credential that stops working in the middle of
 * a run (issue 12, item 3).
 *
 * The loopback vault runs in this process in --token-mode validate with
 * added latency; the commands get a token minted for a short lifetime
 * in ATREST_AZURE_TOKEN, which cannot be renewed: once it has expired,
 * partway through the run, the client refuses to send it (or the vault
 * answers 401), naming the variable once.  Every command must
 * then stop at the first refusal: the reason said once, exit 2, nothing
 * half-written (verify: the report says incomplete; encrypt, decrypt and
 * rewrap: every output is complete or absent, no temporary file left;
 * rewrap: what was done stays done).
 *
 * The refresh test: tokens of 5 s from the token endpoint (the client
 * secret credential) during a verify of some 20 s on 2 threads: every
 * object verified, several tokens fetched, no failure.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "crypto.h"
#include "fsutil.h"
#include "kv_client.h"
#include "kv_mint.h"
#include "kv_server.h"
#include "rewrap.h"
#include "testutil.h"
#include "util.h"

#define NFILES 60

static const char *
bin(void)
{
	const char *b = getenv("ATREST_BIN");

	return b && *b ? b : "build/atrest";
}

static char *dir;
static struct atr_kv_server *srv;
static char key[700], key1[1100], ca_env[800], plain[600], store[600];
static char long_tok[2048], tok_env[2200];
static long token_lifetime;     /* of the token endpoint; 0: default */

static int
run(const char *const argv[], const char *const *env, char **out,
    char **err)
{
	char *o = tu_path(dir, "run.out"), *e = tu_path(dir, "run.err");
	struct tu_run_opts ro = {0};
	int rc;

	ro.stdout_path = o;
	ro.stderr_path = e;
	ro.env = env;
	ro.timeout_ms = 120000;
	rc = tu_run(argv, &ro);
	if (out != NULL)
		*out = (char *)tu_read_file(o, NULL);
	if (err != NULL)
		*err = (char *)tu_read_file(e, NULL);
	free(o);
	free(e);
	return rc;
}

static size_t
count(const char *text, const char *needle)
{
	size_t n = 0;
	const char *p = text;

	while (p != NULL && (p = strstr(p, needle)) != NULL) {
		n++;
		p += strlen(needle);
	}
	return n;
}

/* The vault (validate mode), an RSA key with two versions (key1 the
 * first), NFILES plaintext files and the store encrypted to key1. */
static void
setup(void)
{
	struct atr_kv_server_opts o;
	struct atr_kv_client *c = NULL;
	struct atr_kv_create cr = {0};
	struct atr_kv_key v1;
	char p[700];
	uint8_t buf[3000];
	int i;

	dir = tu_tmpdir("midrun");
	cr_assert_not_null(dir);
	atr_kv_server_opts_init(&o);
	o.listen = "127.0.0.1:0";
	o.state_dir = tu_path(dir, "vault");
	o.token_mode = ATR_KV_TOKEN_VALIDATE;
	if (token_lifetime > 0)
		o.token_lifetime = token_lifetime;
	cr_assert_eq(atr_kv_server_start(&o, &srv), ATR_OK, "%s", atr_detail());
	free((char *)o.state_dir);
	snprintf(ca_env, sizeof(ca_env), "ATREST_CA_FILE=%s",
	    atr_kv_server_ca_path(srv));
	setenv("ATREST_CA_FILE", atr_kv_server_ca_path(srv), 1);
	cr_assert_eq(tl_kv_mint_token(srv, NULL, NULL, 3600, long_tok,
	    sizeof(long_tok)), ATR_OK);
	setenv("ATREST_AZURE_TOKEN", long_tok, 1);
	snprintf(tok_env, sizeof(tok_env), "ATREST_AZURE_TOKEN=%s", long_tok);
	cr_assert_eq(atr_kv_client_new(atr_kv_server_url(srv), NULL, &c), ATR_OK);
	cr.kty = "RSA";
	cr.size = 2048;
	cr_assert_eq(atr_kv_create_key(c, "cmk", &cr, &v1), ATR_OK, "%s",
	    atr_detail());
	atr_kv_client_free(c);
	snprintf(key, sizeof(key), "%s/keys/cmk", atr_kv_server_url(srv));
	snprintf(key1, sizeof(key1), "%s", v1.kid);
	snprintf(plain, sizeof(plain), "%s/plain", dir);
	snprintf(store, sizeof(store), "%s/store", dir);
	cr_assert_eq(mkdir(plain, 0700), 0);
	for (i = 0; i < NFILES; i++) {
		snprintf(p, sizeof(p), "%s/f%02d", plain, i);
		atr_random(buf, sizeof(buf));
		cr_assert_eq(tu_write_file(p, buf, 1000 + (size_t)i * 30), 0);
	}
	{
		const char *enc[] = {bin(), "encrypt", "-q", "-k", key1, "-o",
		    store, plain, NULL};
		const char *env[] = {ca_env, tok_env, NULL};
		char *e = NULL;

		cr_assert_eq(run(enc, env, NULL, &e), 0, "encrypt: %s", e);
		free(e);
	}
}

static void
teardown(void)
{
	atr_memzero(long_tok, sizeof(long_tok));
	atr_memzero(tok_env, sizeof(tok_env));
	atr_kv_thread_cleanup();
	atr_kv_cache_clear();
	if (srv != NULL)
		atr_kv_server_stop(srv);
	srv = NULL;
	tu_rmtree(dir);
	free(dir);
}

TestSuite(cred_midrun, .init = setup, .fini = teardown, .timeout = 240);

/* A token of `secs` for the command under test, in *env_entry. */
static void
short_token(long secs, char *env_entry, size_t cap)
{
	char t[2048];

	cr_assert_eq(tl_kv_mint_token(srv, NULL, NULL, secs, t, sizeof(t)),
	    ATR_OK);
	snprintf(env_entry, cap, "ATREST_AZURE_TOKEN=%s", t);
	atr_memzero(t, sizeof(t));
}

/* No temporary file of any atrest writer below d. */
static void
no_tmp(const char *d)
{
	DIR *dd = opendir(d);
	struct dirent *e;

	cr_assert_not_null(dd, "%s", d);
	while ((e = readdir(dd)) != NULL) {
		cr_assert(!atr_out_tmp_name(e->d_name) &&
		    !atr_rewrap_tmp_reserved(e->d_name),
		    "temporary file left: %s/%s", d, e->d_name);
	}
	closedir(dd);
}

/* Every file of out decrypts (with a good token) to its plaintext;
 * returns how many there are. */
static int
outputs_complete(const char *out, const char *ref)
{
	char od[700], f[1100], g[1100];
	const char *env[] = {ca_env, tok_env, NULL};
	DIR *dd = opendir(out);
	struct dirent *e;
	int n = 0;

	cr_assert_not_null(dd, "%s", out);
	snprintf(od, sizeof(od), "%s/check", dir);
	while ((e = readdir(dd)) != NULL) {
		const char *dec[] = {bin(), "decrypt", "-q", "-k", key, "-o", g, f,
		    NULL};
		uint8_t *a, *b;
		size_t la, lb;
		char *err = NULL;

		if (e->d_name[0] == '.')
			continue;
		snprintf(f, sizeof(f), "%s/%s", out, e->d_name);
		snprintf(g, sizeof(g), "%s.plain", od);
		cr_assert_eq(run(dec, env, NULL, &err), 0, "%s: %s", f, err);
		free(err);
		snprintf(f, sizeof(f), "%s/%s", ref, e->d_name);
		a = tu_read_file(g, &la);
		b = tu_read_file(f, &lb);
		cr_assert(a != NULL && b != NULL && la == lb &&
		    memcmp(a, b, la) == 0, "%s differs", e->d_name);
		free(a);
		free(b);
		unlink(g);
		n++;
	}
	closedir(dd);
	return n;
}

static void
slow_vault(const char *spec)
{
	cr_assert_eq(atr_kv_server_set_faults(srv, spec), ATR_OK, "%s",
	    atr_detail());
}

Test(cred_midrun, verify_stops_once_and_reports_incomplete)
{
	char t[2200], json[700], *out = NULL, *err = NULL, *rep;
	const char *env[] = {ca_env, t, NULL};
	const char *v[] = {bin(), "verify", "--jobs", "2", "-k", key, "--json",
	    json, store, NULL};
	int rc;

	snprintf(json, sizeof(json), "%s/report.json", dir);
	slow_vault("latency=100ms");
	short_token(2, t, sizeof(t));
	rc = run(v, env, &out, &err);
	cr_assert_eq(rc, 2, "exit %d\n%s\n%s", rc, out, err);
	/* Said once, on stderr, with the vault's reason. */
	cr_assert_eq(count(err, "stopped:"), 1, "%s", err);
	cr_assert_eq(count(err, "\n"), 1, "more than one line: %s", err);
	cr_assert_eq(count(err, "ATREST_AZURE_TOKEN"), 1, "%s", err);
	cr_assert_eq(count(out, "key-service"), 0, "a finding per object: %s",
	    out);
	rep = (char *)tu_read_file(json, NULL);
	cr_assert_not_null(rep, "no report");
	cr_assert_not_null(strstr(rep, "\"incomplete\": true"), "%s", rep);
	cr_assert_not_null(strstr(rep, "\"status\": \"incomplete\""));
	cr_assert_eq(count(rep, "ATREST_AZURE_TOKEN"), 1, "%s", rep);
	cr_assert_eq(count(rep, "decrypt.key-service"), 0);
	/* Not reached is not missing: no finding about unread objects. */
	cr_assert_eq(count(rep, "decrypt.missing"), 0);
	/* Stopped in the middle: some objects were proven first. */
	cr_assert_null(strstr(rep, "\"opened\": 0,"), "nothing opened: the "
	    "token expired before the run started");
	free(rep);
	free(out);
	free(err);
}

Test(cred_midrun, decrypt_tree_stops_once_nothing_half_written)
{
	char t[2200], outd[700], *err = NULL;
	const char *env[] = {ca_env, t, NULL};
	const char *d[] = {bin(), "decrypt", "-q", "-j", "2", "-k", key, "-o",
	    outd, store, NULL};
	int rc, n;
	DIR *dd;
	struct dirent *e;

	snprintf(outd, sizeof(outd), "%s/out", dir);
	slow_vault("latency=100ms");
	short_token(2, t, sizeof(t));
	rc = run(d, env, NULL, &err);
	cr_assert_eq(rc, 2, "exit %d: %s", rc, err);
	cr_assert_eq(count(err, "ATREST_AZURE_TOKEN"), 1, "%s", err);
	no_tmp(outd);
	/* Every plaintext written is whole. */
	n = 0;
	dd = opendir(outd);
	cr_assert_not_null(dd);
	while ((e = readdir(dd)) != NULL) {
		char a[1100], b[1100];
		uint8_t *x, *y;
		size_t lx, ly;

		if (e->d_name[0] == '.')
			continue;
		snprintf(a, sizeof(a), "%s/%s", outd, e->d_name);
		snprintf(b, sizeof(b), "%s/%s", plain, e->d_name);
		x = tu_read_file(a, &lx);
		y = tu_read_file(b, &ly);
		cr_assert(x && y && lx == ly && memcmp(x, y, lx) == 0,
		    "%s is not the whole plaintext", e->d_name);
		free(x);
		free(y);
		n++;
	}
	closedir(dd);
	cr_assert(n > 0 && n < NFILES, "%d of %d decrypted", n, NFILES);
	free(err);
}

Test(cred_midrun, encrypt_tree_stops_once_nothing_half_written)
{
	char t[2200], outd[700], *err = NULL;
	const char *env[] = {ca_env, t, NULL};
	const char *en[] = {bin(), "encrypt", "-q", "-j", "2", "-k", key, "-o",
	    outd, plain, NULL};
	int rc, n;

	snprintf(outd, sizeof(outd), "%s/enc", dir);
	slow_vault("latency=100ms");
	short_token(2, t, sizeof(t));
	rc = run(en, env, NULL, &err);
	cr_assert_eq(rc, 2, "exit %d: %s", rc, err);
	cr_assert_eq(count(err, "ATREST_AZURE_TOKEN"), 1, "%s", err);
	no_tmp(outd);
	slow_vault("");
	n = outputs_complete(outd, plain);
	cr_assert(n > 0 && n < NFILES, "%d of %d encrypted", n, NFILES);
	free(err);
}

Test(cred_midrun, rewrap_stops_once_done_stays_done)
{
	struct atr_kv_client *c = NULL;
	struct atr_kv_key v2;
	char t[2200], *err = NULL, *m;
	const char *env[] = {ca_env, t, NULL};
	const char *rw[] = {bin(), "rewrap", "-q", "--from", key1, "--to", key,
	    store, NULL};
	unsigned done;
	int rc, n;

	cr_assert_eq(atr_kv_client_new(atr_kv_server_url(srv), NULL, &c), ATR_OK);
	cr_assert_eq(atr_kv_rotate_key(c, "cmk", &v2), ATR_OK, "%s",
	    atr_detail());
	atr_kv_client_free(c);
	slow_vault("latency=60ms");
	short_token(2, t, sizeof(t));
	rc = run(rw, env, NULL, &err);
	cr_assert_eq(rc, 2, "exit %d: %s", rc, err);
	cr_assert_eq(count(err, "ATREST_AZURE_TOKEN"), 1, "%s", err);
	cr_assert_not_null(strstr(err, "stopped at the credential failure"),
	    "%s", err);
	m = strstr(err, "atrest rewrap: ");
	cr_assert_not_null(m, "%s", err);
	cr_assert_eq(sscanf(m, "atrest rewrap: %u rewrapped", &done), 1);
	cr_assert(done > 0 && done < NFILES, "%u of %d rewrapped", done, NFILES);
	no_tmp(store);
	slow_vault("");
	/* Every object whole, old or new; a second run with a good token
	 * finishes the rest. */
	n = outputs_complete(store, plain);
	cr_assert_eq(n, NFILES);
	free(err);
	{
		const char *genv[] = {ca_env, tok_env, NULL};

		rc = run(rw, genv, NULL, &err);
		cr_assert_eq(rc, 0, "%s", err);
		unsigned again, skipped;

		m = strstr(err, "atrest rewrap: ");
		cr_assert_not_null(m);
		cr_assert_eq(sscanf(m, "atrest rewrap: %u rewrapped, %u skipped",
		    &again, &skipped), 2, "%s", err);
		cr_assert_eq(skipped, done, "%s", err);
		cr_assert_eq(again + skipped, NFILES, "%s", err);
		free(err);
	}
}

Test(cred_midrun, bench_stops_with_exit_2)
{
	char t[2200], *out = NULL, *err = NULL;
	const char *env[] = {ca_env, t, NULL};
	const char *b[] = {bin(), "bench", "-k", key, "-s", "1K", "-o",
	    "encrypt", "-H", "per-object", "-T", "0.5", "-r", "8", "-w", "0",
	    "-t", "1", NULL};
	int rc;

	slow_vault("latency=20ms");
	short_token(2, t, sizeof(t));
	rc = run(b, env, &out, &err);
	cr_assert_eq(rc, 2, "exit %d\n%s\n%s", rc, out, err);
	cr_assert_eq(count(err, "ATREST_AZURE_TOKEN"), 1, "%s", err);
	free(out);
	free(err);
}

/* ---- refresh ---------------------------------------------------------- */

#define NREFRESH 160

static void
setup_refresh(void)
{
	token_lifetime = 5;
	setup();
}

TestSuite(cred_refresh, .init = setup_refresh, .fini = teardown,
    .timeout = 240);

/* Tokens of 5 s from the token endpoint (client secret credential)
 * during a verify of some 20 s on 2 threads: each is renewed before it
 * expires, from both workers, and nothing fails. */
Test(cred_refresh, short_tokens_renewed_during_a_long_verify)
{
	struct atr_kv_server_stats st0, st1;
	char big[700], json[700], p[800], *out = NULL, *err = NULL, *rep, *sec;
	const char *d;
	char tenant[200], client[200], secret[600], authority[700];
	const char *env[] = {ca_env, tenant, client, secret, authority,
	    "ATREST_AZURE_TOKEN", NULL};
	const char *v[] = {bin(), "verify", "--jobs", "2", "-k", key, "--json",
	    json, big, NULL};
	uint8_t buf[600];
	uint64_t t0, ms;
	size_t n;
	int i, rc;

	snprintf(big, sizeof(big), "%s/big", dir);
	snprintf(json, sizeof(json), "%s/report.json", dir);
	cr_assert_eq(mkdir(big, 0700), 0);
	for (i = 0; i < NREFRESH; i++) {
		snprintf(p, sizeof(p), "%s/o%03d", big, i);
		atr_random(buf, sizeof(buf));
		cr_assert_eq(tu_write_file(p, buf, sizeof(buf)), 0);
	}
	{
		const char *enc[] = {bin(), "encrypt", "-q", "-k", key, "-o", big,
		    big, NULL};
		const char *genv[] = {ca_env, tok_env, NULL};

		snprintf(p, sizeof(p), "%s/bigenc", dir);
		enc[6] = p;
		cr_assert_eq(run(enc, genv, NULL, &err), 0, "%s", err);
		free(err);
		err = NULL;
		v[8] = p;
	}
	sec = (char *)tu_read_file(atr_kv_server_client_secret_path(srv), &n);
	cr_assert_not_null(sec);
	while (n > 0 && (sec[n - 1] == '\n' || sec[n - 1] == '\r'))
		sec[--n] = '\0';
	snprintf(tenant, sizeof(tenant), "AZURE_TENANT_ID=%s",
	    atr_kv_server_tenant(srv));
	snprintf(client, sizeof(client), "AZURE_CLIENT_ID=%s",
	    atr_kv_server_client_id(srv));
	snprintf(secret, sizeof(secret), "AZURE_CLIENT_SECRET=%s", sec);
	snprintf(authority, sizeof(authority), "AZURE_AUTHORITY_HOST=%s",
	    atr_kv_server_url(srv));
	atr_memzero(sec, n);
	free(sec);
	/* Some 20 s on 2 threads: an unwrap per object. */
	slow_vault("latency=200ms");
	atr_kv_server_get_stats(srv, &st0);
	t0 = atr_now_ns();
	rc = run(v, env, &out, &err);
	ms = (atr_now_ns() - t0) / 1000000U;
	atr_kv_server_get_stats(srv, &st1);
	atr_memzero(secret, sizeof(secret));
	/* Exit 1 is the policy's word on the test key's attributes (key_ops,
	 * recovery level); the decrypt check is what must pass. */
	cr_assert(rc == 0 || rc == 1, "exit %d\n%s\n%s", rc, out, err);
	rep = (char *)tu_read_file(json, NULL);
	cr_assert_not_null(rep);
	d = strstr(rep, "\"id\": \"decrypt\"");
	cr_assert_not_null(d);
	d = strstr(d, "\"status\": \"");
	cr_assert(d != NULL && strncmp(d + 11, "pass\"", 5) == 0,
	    "decrypt did not pass: %.80s", d ? d : "");
	snprintf(p, sizeof(p), "\"opened\": %d,", NREFRESH);
	cr_assert_not_null(strstr(rep, p), "not every object verified: %s", rep);
	cr_assert_not_null(strstr(rep, "\"incomplete\": false"));
	/* The run outlived several tokens and fetched new ones. */
	cr_assert(ms > 10000, "the run took %llu ms: too short to need a "
	    "refresh", (unsigned long long)ms);
	cr_assert(st1.tokens_issued - st0.tokens_issued > 1,
	    "%llu token(s) for a run of %llu ms",
	    (unsigned long long)(st1.tokens_issued - st0.tokens_issued),
	    (unsigned long long)ms);
	cr_assert_eq(count(err, "atrest"), 0, "%s", err);
	/* Renewed before expiry, not after a refusal: the only 401s are
	 * the first request's challenge (one per worker at most).  A
	 * client that waits for the 401 to renew draws one per token. */
	cr_assert(st1.unauthorized - st0.unauthorized <= 2,
	    "%llu requests refused: tokens renewed only after they expired",
	    (unsigned long long)(st1.unauthorized - st0.unauthorized));
	cr_log_info("refresh: %llu ms, %llu tokens issued, %llu 401s",
	    (unsigned long long)ms,
	    (unsigned long long)(st1.tokens_issued - st0.tokens_issued),
	    (unsigned long long)(st1.unauthorized - st0.unauthorized));
	free(rep);
	free(out);
	free(err);
}
