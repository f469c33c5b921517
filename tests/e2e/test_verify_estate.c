/*
 * test_verify_estate.c - `atrest verify` end to end: no verdict without
 * evidence (an empty STORE, a STORE of empty directories, a shard that
 * selects nothing: exit 2 unless --allow-empty; the merge of every shard
 * still verifies every object), and a revocation drill interrupted by
 * SIGINT that restores every key version before it exits
 * (docs/VERIFY.md "Exit status", "The revocation drill").
 */
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

#include "jwk.h"
#include "kv_client.h"
#include "kv_server.h"
#include "testutil.h"

struct env {
	char *dir, *cmk, *out, *err;
};

static const char *
bin(void)
{
	const char *b = getenv("ATREST_BIN");

	cr_assert(b != NULL && *b, "ATREST_BIN is not set");
	return b;
}

static char *
slurp(const char *path)
{
	uint8_t *b = tu_read_file(path, NULL);

	return b ? (char *)b : strdup("");
}

static void
env_init(struct env *e)
{
	const char *r = getenv("ATREST_ROOT");
	char *src, *p;
	uint8_t *b;
	size_t n;

	memset(e, 0, sizeof(*e));
	e->dir = tu_tmpdir("verify-estate");
	cr_assert_not_null(e->dir);
	src = tu_path(r && *r ? r : ".",
	    "fixtures/verify/small/keys/TEST-ONLY-cmk-rsa3072.pem");
	p = tu_path(e->dir, "cmk.pem");
	b = tu_read_file(src, &n);
	cr_assert_not_null(b, "%s", src);
	cr_assert_eq(tu_write_file(p, b, n), 0);
	cr_assert_eq(chmod(p, 0600), 0);
	free(b);
	free(src);
	e->cmk = malloc(strlen(p) + 6);
	cr_assert_not_null(e->cmk);
	snprintf(e->cmk, strlen(p) + 6, "file:%s", p);
	free(p);
	e->out = tu_path(e->dir, "stdout");
	e->err = tu_path(e->dir, "stderr");
}

static void
env_free(struct env *e)
{
	tu_rmtree(e->dir);
	free(e->dir);
	free(e->cmk);
	free(e->out);
	free(e->err);
}

/* Runs atrest with args (NULL-terminated, without argv[0]). */
static int
run(struct env *e, const char *const *args)
{
	const char *argv[40];
	struct tu_run_opts o;
	size_t i;

	memset(&o, 0, sizeof(o));
	argv[0] = bin();
	for (i = 0; args[i] != NULL && i < 38; i++)
		argv[i + 1] = args[i];
	argv[i + 1] = NULL;
	o.stdout_path = e->out;
	o.stderr_path = e->err;
	o.timeout_ms = 120000;
	return tu_run(argv, &o);
}

static cJSON *
load_json(const char *path)
{
	char *s = slurp(path);
	cJSON *j = cJSON_Parse(s);

	cr_assert_not_null(j, "bad JSON in %s", path);
	free(s);
	return j;
}

static cJSON *
summary(const char *path, cJSON **root)
{
	*root = load_json(path);
	return cJSON_GetObjectItem(*root, "summary");
}

/* verify STORE (with --allow-empty when allow) writing JSON; the exit. */
static int
verify_store(struct env *e, const char *store, int allow, const char *json)
{
	const char *a[] = {"verify", "-k", e->cmk, "--json", json, store,
	    allow ? "--allow-empty" : NULL, NULL};

	return run(e, a);
}

static void
expect_nothing(struct env *e, const char *store)
{
	char *json = tu_path(e->dir, "r.json"), *out;
	cJSON *root, *s;
	int rc;

	rc = verify_store(e, store, 0, json);
	out = slurp(e->out);
	cr_assert_eq(rc, 2, "exit %d:\n%s", rc, out);
	cr_assert(strstr(out, "0 objects proven by decryption") != NULL, "%s",
	    out);
	cr_assert(strstr(out, "NOTHING VERIFIED") != NULL, "%s", out);
	free(out);
	s = summary(json, &root);
	cr_assert(cJSON_IsTrue(cJSON_GetObjectItem(s, "nothing_verified")));
	cr_assert(strstr(cJSON_GetObjectItem(s, "nothing_verified_reason")->
	    valuestring, "no file") != NULL);
	cr_assert_eq(cJSON_GetObjectItem(s, "proven_by_decryption")->valueint,
	    0);
	cr_assert_str_eq(cJSON_GetObjectItem(s, "status")->valuestring,
	    "nothing-verified");
	cJSON_Delete(root);
	rc = verify_store(e, store, 1, json);
	cr_assert_eq(rc, 0, "--allow-empty: exit %d", rc);
	free(json);
}

Test(estate, an_empty_store_is_not_a_pass, .timeout = 120)
{
	struct env e;
	char *empty, *nested, *p;

	env_init(&e);
	empty = tu_path(e.dir, "empty");
	cr_assert_eq(mkdir(empty, 0700), 0);
	expect_nothing(&e, empty);
	/* a directory of empty directories (a failed mount's skeleton) */
	nested = tu_path(e.dir, "nested");
	cr_assert_eq(mkdir(nested, 0700), 0);
	p = tu_path(nested, "a");
	cr_assert_eq(mkdir(p, 0700), 0);
	free(p);
	p = tu_path(nested, "b");
	cr_assert_eq(mkdir(p, 0700), 0);
	free(p);
	p = tu_path(nested, "b/c");
	cr_assert_eq(mkdir(p, 0700), 0);
	free(p);
	expect_nothing(&e, nested);
	free(empty);
	free(nested);
	env_free(&e);
}

Test(estate, a_shard_that_selects_nothing_is_not_a_pass, .timeout = 120)
{
	struct env e;
	char *plain, *store, *j1, *j2, *jm, *out;
	const char *enc[] = {"encrypt", "-q", "-k", NULL, "-o", NULL, NULL,
	    NULL};
	cJSON *root, *s;
	int rc1, rc2, rcm, empty_rc, full_rc;

	env_init(&e);
	plain = tu_path(e.dir, "plain");
	store = tu_path(e.dir, "store");
	cr_assert_eq(mkdir(plain, 0700), 0);
	{
		char *f = tu_path(plain, "one.csv");

		cr_assert_eq(tu_write_file(f, "a,b\n1,2\n", 8), 0);
		free(f);
	}
	enc[3] = e.cmk;
	enc[5] = store;
	enc[6] = plain;
	cr_assert_eq(run(&e, enc), 0, "encrypt: %s", slurp(e.err));
	j1 = tu_path(e.dir, "s1.json");
	j2 = tu_path(e.dir, "s2.json");
	jm = tu_path(e.dir, "m.json");
	{
		const char *a1[] = {"verify", "-k", e.cmk, "--shard", "1/2",
		    "--json", j1, store, NULL};
		const char *a2[] = {"verify", "-k", e.cmk, "--shard", "2/2",
		    "--json", j2, store, NULL};

		rc1 = run(&e, a1);
		rc2 = run(&e, a2);
	}
	/* one shard holds the object, the other selects nothing */
	cr_assert((rc1 == 2) != (rc2 == 2), "exits %d and %d", rc1, rc2);
	empty_rc = rc1 == 2 ? 1 : 2;
	full_rc = rc1 == 2 ? rc2 : rc1;
	cr_assert_eq(full_rc, 0, "the shard with the object: %d: %s", full_rc,
	    slurp(e.out));
	s = summary(empty_rc == 1 ? j1 : j2, &root);
	cr_assert(strstr(cJSON_GetObjectItem(s, "nothing_verified_reason")->
	    valuestring, "shard") != NULL);
	cJSON_Delete(root);
	{
		const char *a[] = {"verify", "-k", e.cmk, "--shard",
		    empty_rc == 1 ? "1/2" : "2/2", "--allow-empty", "--json",
		    empty_rc == 1 ? j1 : j2, store, NULL};

		cr_assert_eq(run(&e, a), 0, "--allow-empty: %s",
		    slurp(e.out));
	}
	/* the merge of every shard still verifies every object */
	{
		const char *a[] = {"verify", "merge", "--json", jm, j1, j2,
		    NULL};

		rcm = run(&e, a);
	}
	out = slurp(e.out);
	cr_assert_eq(rcm, 0, "merge exit %d: %s", rcm, out);
	free(out);
	s = summary(jm, &root);
	cr_assert_eq(cJSON_GetObjectItem(s, "proven_by_decryption")->valueint,
	    1);
	cr_assert(cJSON_IsFalse(cJSON_GetObjectItem(s, "nothing_verified")));
	cJSON_Delete(root);
	free(plain);
	free(store);
	free(j1);
	free(j2);
	free(jm);
	env_free(&e);
}

/* ---- an interrupted drill restores every version ------------------------ */

static int
enabled(struct atr_kv_client *c, const char *ver)
{
	struct atr_kv_key *k = calloc(1, sizeof(*k));
	int on;

	cr_assert_not_null(k);
	cr_assert_eq(atr_kv_get_key(c, "cmk", ver, k), ATR_OK, "%s",
	    atr_detail());
	on = k->enabled;
	free(k);
	return on;
}

static void
new_version(struct atr_kv_client *c, int create, char *ver)
{
	struct atr_kv_key *k = calloc(1, sizeof(*k));
	struct atr_kv_create p;

	cr_assert_not_null(k);
	memset(&p, 0, sizeof(p));
	p.kty = "RSA";
	p.size = 3072;
	p.key_ops = ATR_JWK_WRAP | ATR_JWK_UNWRAP;
	if (create)
		cr_assert_eq(atr_kv_create_key(c, "cmk", &p, k), ATR_OK, "%s",
		    atr_detail());
	else
		cr_assert_eq(atr_kv_rotate_key(c, "cmk", k), ATR_OK, "%s",
		    atr_detail());
	snprintf(ver, 128, "%s", k->version);
	free(k);
}

Test(estate, an_interrupted_drill_restores_every_version, .timeout = 240)
{
	struct env e;
	struct atr_kv_server_opts o;
	struct atr_kv_server *srv = NULL;
	struct atr_kv_client *c = NULL;
	struct atr_kv_update u;
	struct atr_kv_key *kk = calloc(1, sizeof(*kk));
	char v[3][128], url[256], *store, *json, name[32], *f;
	int i, st, seen = 0;
	pid_t pid;

	cr_assert_not_null(kk);
	env_init(&e);
	atr_kv_server_opts_init(&o);
	o.listen = "127.0.0.1:0";
	o.state_dir = e.dir;
	o.token_mode = ATR_KV_TOKEN_ANY;
	o.purge_protection = 1;
	cr_assert_eq(atr_kv_server_start(&o, &srv), ATR_OK, "%s", atr_detail());
	setenv("ATREST_CA_FILE", atr_kv_server_ca_path(srv), 1);
	setenv("ATREST_AZURE_TOKEN", "test-token-for-the-loopback-vault", 1);
	setenv("ATREST_AZURE_CREDENTIAL", "token", 1);
	setenv("ATREST_KV_MAX_RETRIES", "0", 1);
	cr_assert_eq(atr_kv_client_new(atr_kv_server_url(srv), NULL, &c),
	    ATR_OK, "%s", atr_detail());
	snprintf(url, sizeof(url), "%s/keys/cmk", atr_kv_server_url(srv));
	store = tu_path(e.dir, "store");
	json = tu_path(e.dir, "drill.json");
	/* three versions, 2 objects under each (a versioned URI wraps
	 * under that version); v2 disabled */
	for (i = 0; i < 3; i++)
		new_version(c, i == 0, v[i]);
	cr_assert_eq(mkdir(store, 0700), 0);
	for (i = 0; i < 3; i++) {
		char *in, *out;
		char vurl[400];
		const char *a[] = {"encrypt", "-q", "-k", vurl, "-o", NULL,
		    NULL, NULL};

		snprintf(vurl, sizeof(vurl), "%s/%s", url, v[i]);
		snprintf(name, sizeof(name), "p%d", i);
		in = tu_path(e.dir, name);
		cr_assert_eq(mkdir(in, 0700), 0);
		f = tu_path(in, "a.csv");
		cr_assert_eq(tu_write_file(f, "x,y\n1,2\n", 8), 0);
		free(f);
		f = tu_path(in, "b.csv");
		cr_assert_eq(tu_write_file(f, "x,y\n3,4\n", 8), 0);
		free(f);
		snprintf(name, sizeof(name), "store/v%d", i);
		out = tu_path(e.dir, name);
		a[5] = out;
		a[6] = in;
		cr_assert_eq(run(&e, a), 0, "encrypt: %s", slurp(e.err));
		free(in);
		free(out);
	}
	memset(&u, 0, sizeof(u));
	u.set_enabled = 1;
	u.enabled = 0;
	cr_assert_eq(atr_kv_update_key(c, "cmk", v[1], &u, kk), ATR_OK, "%s",
	    atr_detail());
	/* a slow vault: the drill takes seconds */
	cr_assert_eq(atr_kv_server_set_faults(srv, "latency=150ms"), ATR_OK,
	    "%s", atr_detail());
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		const char *argv[] = {bin(), "verify", "-q", "-k", url,
		    "--revocation-drill", "--jobs", "1", "--json", json, store,
		    NULL};

		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	/* wait until the drill has a version disabled, then interrupt */
	for (i = 0; i < 400 && !seen; i++) {
		seen = !enabled(c, v[0]) || !enabled(c, v[2]);
		if (!seen)
			usleep(20000);
	}
	cr_assert(seen, "the drill never disabled a version");
	cr_assert_eq(kill(pid, SIGINT), 0);
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFEXITED(st), "killed by signal %d before restoring",
	    WIFSIGNALED(st) ? WTERMSIG(st) : 0);
	cr_assert_eq(WEXITSTATUS(st), 128 + SIGINT);
	cr_assert_eq(atr_kv_server_set_faults(srv, ""), ATR_OK);
	cr_assert(enabled(c, v[0]), "v1 left disabled");
	cr_assert_not(enabled(c, v[1]), "v2 was disabled before the drill");
	cr_assert(enabled(c, v[2]), "v3 left disabled");
	{
		cJSON *root, *s = summary(json, &root);

		cr_assert(cJSON_IsTrue(cJSON_GetObjectItem(s, "incomplete")));
		cJSON_Delete(root);
	}
	atr_kv_client_free(c);
	atr_kv_thread_cleanup();
	atr_kv_server_stop(srv);
	free(kk);
	free(store);
	free(json);
	env_free(&e);
}
