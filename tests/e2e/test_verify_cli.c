/*
 * test_verify_cli.c - `atrest verify` as a user runs it: the committed
 * small store (fixtures/verify/small, TEST-ONLY keys) passes; a store
 * with unencrypted data fails with exit 1; usage, configuration and I/O
 * errors exit 2 with a one-line message; shard reports merged with
 * `atrest verify merge` equal one run; the JSON and JUnit files are
 * valid; the fixture generator is deterministic.
 *
 * Needs $ATREST_BIN (the binary) and $ATREST_ROOT (the repository), as
 * scripts/run-tests.sh sets them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <cjson/cJSON.h>

#include "testutil.h"

struct env {
	char *dir;      /* private temp dir */
	char *keys;     /* dir/keys, 0600 copies */
	char *cmk;      /* "file:" URI of the test CMK */
	char *store;    /* the committed store (read only) */
	char *manifest;
	char *policy;
	char *out, *err;
};

static const char *
bin(void)
{
	const char *b = getenv("ATREST_BIN");

	cr_assert(b != NULL && *b, "ATREST_BIN is not set");
	return b;
}

static char *
root_path(const char *rel)
{
	const char *r = getenv("ATREST_ROOT");
	char *p = tu_path(r && *r ? r : ".", rel);

	cr_assert_not_null(p);
	return p;
}

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

static char *
slurp(const char *path)
{
	uint8_t *b = tu_read_file(path, NULL);

	cr_assert_not_null(b, "cannot read %s", path);
	return (char *)b;
}

static void
cp_tree(const char *from, const char *to)
{
	const char *argv[] = {"cp", "-a", from, to, NULL};

	cr_assert_eq(tu_run(argv, NULL), 0, "cp -a %s %s", from, to);
}

static void
env_init(struct env *e)
{
	static const char *const names[] = {"TEST-ONLY-cmk-rsa3072.pem",
	    "TEST-ONLY-cmk-rsa3072.pem.pub", "TEST-ONLY-smk-aes256.key", NULL};
	char *src = root_path("fixtures/verify/small/keys"), *p, *q;
	size_t i;

	memset(e, 0, sizeof(*e));
	e->dir = tu_tmpdir("verify-cli");
	cr_assert_not_null(e->dir);
	e->keys = tu_path(e->dir, "keys");
	cr_assert_eq(mkdir(e->keys, 0700), 0);
	/* git keeps no modes: private copies, as fixtures/verify/README.md
	 * says */
	for (i = 0; names[i] != NULL; i++) {
		uint8_t *b;
		size_t n;

		p = tu_path(src, names[i]);
		q = tu_path(e->keys, names[i]);
		b = tu_read_file(p, &n);
		cr_assert_not_null(b, "%s", p);
		cr_assert_eq(tu_write_file(q, b, n), 0);
		cr_assert_eq(chmod(q, 0600), 0);
		free(b);
		free(p);
		free(q);
	}
	free(src);
	p = tu_path(e->keys, "TEST-ONLY-cmk-rsa3072.pem");
	e->cmk = malloc(strlen(p) + 6);
	cr_assert_not_null(e->cmk);
	snprintf(e->cmk, strlen(p) + 6, "file:%s", p);
	free(p);
	e->store = root_path("fixtures/verify/small/store");
	e->manifest = root_path("fixtures/verify/small/manifest.json");
	e->policy = root_path("fixtures/verify/small/policy-ci.json");
	e->out = tu_path(e->dir, "stdout");
	e->err = tu_path(e->dir, "stderr");
}

static void
env_free(struct env *e)
{
	tu_rmtree(e->dir);
	free(e->dir);
	free(e->keys);
	free(e->cmk);
	free(e->store);
	free(e->manifest);
	free(e->policy);
	free(e->out);
	free(e->err);
}

static cJSON *
load_json(const char *path, int drop_run)
{
	char *s = slurp(path);
	cJSON *j = cJSON_Parse(s);

	cr_assert_not_null(j, "invalid JSON in %s", path);
	free(s);
	if (drop_run)
		cJSON_DeleteItemFromObjectCaseSensitive(j, "run");
	return j;
}

Test(verify_cli, committed_store_passes)
{
	struct env e;
	char *json, *xml, *x, *o;
	cJSON *j, *sum;
	int rc;

	env_init(&e);
	json = tu_path(e.dir, "r.json");
	xml = tu_path(e.dir, "r.xml");
	{
		const char *a[] = {"verify", "-k", e.cmk, "-m", e.manifest, "-p",
		    e.policy, "--json", json, "--junit", xml, e.store, NULL};

		rc = run(&e, a);
	}
	o = slurp(e.out);
	cr_assert_eq(rc, 0, "exit %d:\n%s%s", rc, o, slurp(e.err));
	cr_assert(strstr(o, "result: PASS") != NULL, "%s", o);
	cr_assert_null(strchr(o, '\033'), "no colour when not a terminal");
	j = load_json(json, 0);
	sum = cJSON_GetObjectItem(j, "summary");
	cr_assert_str_eq(cJSON_GetObjectItem(sum, "status")->valuestring, "pass");
	cr_assert_eq(cJSON_GetObjectItem(sum, "files")->valueint, 17);
	cr_assert_eq(cJSON_GetObjectItem(sum, "opened")->valueint, 17);
	x = slurp(xml);
	cr_assert(strncmp(x, "<?xml", 5) == 0);
	{
		size_t n = 0;
		const char *p = x;

		while ((p = strstr(p, "<testcase ")) != NULL) {
			n++;
			p++;
		}
		cr_assert_eq(n, 9, "one testcase per check");
		cr_assert_null(strstr(x, "<failure"));
	}
	if (access("/usr/bin/xmllint", X_OK) == 0) {
		const char *a[] = {"/usr/bin/xmllint", "--noout", xml, NULL};

		cr_assert_eq(tu_run(a, NULL), 0, "xmllint rejects %s", xml);
	}
	cJSON_Delete(j);
	free(x);
	free(o);
	free(json);
	free(xml);
	env_free(&e);
}

Test(verify_cli, unencrypted_data_fails_with_exit_1)
{
	struct env e;
	char *store, *json, *o, *js, *leak, *man;
	const char *canary;
	cJSON *m, *files, *f;
	char buf[512];
	int rc;

	env_init(&e);
	store = tu_path(e.dir, "store");
	cp_tree(e.store, store);
	/* a plaintext export left next to the envelopes, holding a canary */
	man = slurp(e.manifest);
	m = cJSON_Parse(man);
	cr_assert_not_null(m);
	files = cJSON_GetObjectItem(m, "files");
	canary = NULL;
	cJSON_ArrayForEach(f, files) {
		cJSON *c = cJSON_GetObjectItem(f, "canaries");

		if (cJSON_GetArraySize(c) > 0) {
			canary = cJSON_GetArrayItem(c, 0)->valuestring;
			break;
		}
	}
	cr_assert_not_null(canary);
	snprintf(buf, sizeof(buf), "id,notes\n1,%s\n", canary);
	leak = tu_path(store, "export.csv");
	cr_assert_eq(tu_write_file(leak, buf, strlen(buf)), 0);
	json = tu_path(e.dir, "r.json");
	{
		const char *a[] = {"verify", "-k", e.cmk, "-m", e.manifest,
		    "--json", json, store, NULL};
		const char *envs[] = {"NO_COLOR=1", NULL};
		const char *argv[20];
		struct tu_run_opts op;
		size_t i;

		memset(&op, 0, sizeof(op));
		argv[0] = bin();
		for (i = 0; a[i]; i++)
			argv[i + 1] = a[i];
		argv[i + 1] = NULL;
		op.stdout_path = e.out;
		op.stderr_path = e.err;
		op.env = envs;
		rc = tu_run(argv, &op);
	}
	o = slurp(e.out);
	cr_assert_eq(rc, 1, "exit %d:\n%s", rc, o);
	cr_assert(strstr(o, "envelope.not-envelope") != NULL, "%s", o);
	cr_assert(strstr(o, "plaintext.canary") != NULL, "%s", o);
	cr_assert(strstr(o, "result: FAIL") != NULL);
	cr_assert_null(strchr(o, '\033'));
	/* findings give file and offset, never content */
	js = slurp(json);
	cr_assert_null(strstr(o, canary), "the canary is printed");
	cr_assert_null(strstr(js, canary), "the canary is in the report");
	cr_assert(strstr(js, "\"offset\": 11") != NULL, "offset of the canary");
	cJSON_Delete(m);
	free(man);
	free(js);
	free(o);
	free(leak);
	free(json);
	free(store);
	env_free(&e);
}

Test(verify_cli, usage_config_and_io_errors_exit_2)
{
	struct env e;
	char *pol, *fk, *missing;
	char *e1;
	int rc;

	env_init(&e);
	pol = tu_path(e.dir, "bad-policy.json");
	cr_assert_eq(tu_write_file(pol, "{\"algorithms\": {\"rsa_bits\": 1}}", 31),
	    0);
	fk = tu_path(e.dir, "fp.key");
	cr_assert_eq(tu_write_file(fk, "0123456789abcdef0123456789abcdef"
	    "0123456789abcdef0123456789abcdef\n", 65), 0);
	cr_assert_eq(chmod(fk, 0644), 0);
	missing = tu_path(e.dir, "no-such-store");
	{
		const char *a[] = {"verify", e.store, NULL};

		cr_assert_eq(run(&e, a), 2, "no --key");
	}
	{
		const char *a[] = {"verify", "-k", e.cmk, NULL};

		cr_assert_eq(run(&e, a), 2, "no STORE");
	}
	{
		const char *a[] = {"verify", "-k", e.cmk, "--shard", "3/2", e.store,
		    NULL};

		cr_assert_eq(run(&e, a), 2, "bad shard");
	}
	{
		const char *a[] = {"verify", "-k", e.cmk, missing, NULL};

		cr_assert_eq(run(&e, a), 2, "missing store");
		e1 = slurp(e.err);
		cr_assert(strstr(e1, "no-such-store") != NULL, "%s", e1);
		free(e1);
	}
	{
		const char *a[] = {"verify", "-k", e.cmk, "-p", pol, e.store, NULL};

		rc = run(&e, a);
		e1 = slurp(e.err);
		cr_assert_eq(rc, 2);
		cr_assert(strstr(e1, "bad-policy.json") != NULL &&
		    strstr(e1, "rsa_bits") != NULL, "%s", e1);
		free(e1);
	}
	{
		const char *a[] = {"verify", "-k", e.cmk, "--fingerprint-key", fk,
		    e.store, NULL};

		cr_assert_eq(run(&e, a), 2, "a readable fingerprint key");
	}
	{
		const char *a[] = {"verify", "-k", e.cmk, "--revocation-drill",
		    "--shard", "1/2", e.store, NULL};

		cr_assert_eq(run(&e, a), 2, "drill with shards");
	}
	{
		const char *a[] = {"verify", "-k", "file:/nonexistent/key.pem",
		    e.store, NULL};

		cr_assert_eq(run(&e, a), 2, "unopenable key");
	}
	{
		const char *a[] = {"verify", "merge", e.manifest, NULL};

		cr_assert_eq(run(&e, a), 2, "merge of a non-report");
	}
	{
		const char *a[] = {"verify", "--frobnicate", NULL};

		cr_assert_eq(run(&e, a), 2);
	}
	{
		const char *a[] = {"verify", "--help", NULL};

		cr_assert_eq(run(&e, a), 0);
		e1 = slurp(e.out);
		cr_assert(strstr(e1, "--revocation-drill") != NULL);
		free(e1);
	}
	free(pol);
	free(fk);
	free(missing);
	env_free(&e);
}

Test(verify_cli, shard_reports_merge_into_one_run)
{
	struct env e;
	char *store, *fk, *full, *s1, *s2, *merged, *a1, *b1;
	char fkey_hex[66];
	uint8_t raw[32];
	cJSON *x, *y;
	int rc_full, rc;

	env_init(&e);
	store = tu_path(e.dir, "store");
	cp_tree(e.store, store);
	a1 = tu_path(store, "blobs/blob-000.bin");
	b1 = tu_path(store, "blobs/zz-copy.bin");
	{
		size_t n;
		uint8_t *b = tu_read_file(a1, &n);

		cr_assert_not_null(b);
		cr_assert_eq(tu_write_file(b1, b, n), 0);
		free(b);
	}
	fk = tu_path(e.dir, "fp.key");
	{
		FILE *r = fopen("/dev/urandom", "rb");
		size_t i;

		cr_assert_not_null(r);
		cr_assert_eq(fread(raw, 1, 32, r), 32);
		fclose(r);
		for (i = 0; i < 32; i++)
			snprintf(fkey_hex + 2 * i, 3, "%02x", raw[i]);
		fkey_hex[64] = '\n';
		cr_assert_eq(tu_write_file(fk, fkey_hex, 65), 0);
	}
	full = tu_path(e.dir, "full.json");
	s1 = tu_path(e.dir, "s1.json");
	s2 = tu_path(e.dir, "s2.json");
	merged = tu_path(e.dir, "merged.json");
	{
		const char *a[] = {"verify", "-q", "-k", e.cmk, "-m", e.manifest,
		    "--fingerprint-key", fk, "--json", full, store, NULL};

		rc_full = run(&e, a);
		cr_assert_eq(rc_full, 1, "the copy is a uniqueness finding");
	}
	{
		const char *a[] = {"verify", "-q", "-k", e.cmk, "-m", e.manifest,
		    "--fingerprint-key", fk, "--shard", "1/2", "--json", s1, store,
		    NULL};

		rc = run(&e, a);
		cr_assert(rc == 0 || rc == 1, "shard 1: exit %d", rc);
	}
	{
		const char *a[] = {"verify", "-q", "-k", e.cmk, "-m", e.manifest,
		    "--fingerprint-key", fk, "--shard", "2/2", "--json", s2, store,
		    NULL};

		rc = run(&e, a);
		cr_assert(rc == 0 || rc == 1, "shard 2: exit %d", rc);
	}
	{
		const char *a[] = {"verify", "merge", "--json", merged, s2, s1,
		    NULL};

		rc = run(&e, a);
		cr_assert_eq(rc, rc_full, "merge exit %d, full run %d: %s", rc,
		    rc_full, slurp(e.err));
	}
	x = load_json(full, 1);
	y = load_json(merged, 1);
	cr_assert(cJSON_Compare(x, y, 1), "merged report differs from one run");
	{
		const char *a[] = {"verify", "merge", s1, NULL};

		cr_assert_eq(run(&e, a), 2, "a shard is missing");
	}
	cJSON_Delete(x);
	cJSON_Delete(y);
	free(a1);
	free(b1);
	free(store);
	free(fk);
	free(full);
	free(s1);
	free(s2);
	free(merged);
	env_free(&e);
}

Test(verify_cli, json_to_stdout_and_deterministic_fixtures)
{
	struct env e;
	char *d1, *d2, *m1, *m2, *o, *x1, *x2;
	cJSON *j;

	env_init(&e);
	{
		const char *a[] = {"verify", "-k", e.cmk, "--json", "-", e.store,
		    NULL};

		cr_assert_eq(run(&e, a), 0, "default policy, no manifest");
	}
	o = slurp(e.out);
	j = cJSON_Parse(o);
	cr_assert_not_null(j, "stdout is not only JSON:\n%s", o);
	cJSON_Delete(j);
	free(o);
	d1 = tu_path(e.dir, "d1");
	d2 = tu_path(e.dir, "d2");
	m1 = tu_path(e.dir, "m1.json");
	m2 = tu_path(e.dir, "m2.json");
	{
		const char *a[] = {"verify", "fixture", "--seed", "5", "--manifest",
		    m1, d1, NULL};

		cr_assert_eq(run(&e, a), 0);
	}
	{
		const char *a[] = {"verify", "fixture", "--seed", "5", "--manifest",
		    m2, d2, NULL};

		cr_assert_eq(run(&e, a), 0);
	}
	x1 = slurp(m1);
	x2 = slurp(m2);
	cr_assert_str_eq(x1, x2, "the same seed gives the same dataset");
	cr_assert(strstr(x1, "CANARY-PAT-") != NULL);
	cr_assert(strstr(x1, "\"edge/size-0.dat\", \"size\": 0") != NULL);
	free(x1);
	free(x2);
	free(d1);
	free(d2);
	free(m1);
	free(m2);
	env_free(&e);
}

/* ---- the revocation drill through the CLI, against the loopback vault -- */

#include "crypto.h"
#include "kv_client.h"
#include "kv_server.h"
#include "jwk.h"

Test(verify_cli, revocation_drill_disables_and_reenables, .timeout = 180)
{
	struct env e;
	struct atr_kv_server_opts o;
	struct atr_kv_server *srv = NULL;
	struct atr_kv_client *c = NULL;
	struct atr_kv_create p;
	struct atr_kv_key *k = calloc(1, sizeof(*k));
	char *sdir, *plain, *store, *json, url[256], ca[600], *s;
	const char *envs[4];
	const char *argv[24];
	struct tu_run_opts ro;
	cJSON *j, *checks, *ck;
	int rc, attempts = -1, opened = -1;

	cr_assert_not_null(k);
	env_init(&e);
	sdir = tu_path(e.dir, "vault");
	atr_kv_server_opts_init(&o);
	o.listen = "127.0.0.1:0";
	o.state_dir = sdir;
	o.purge_protection = 1;
	cr_assert_eq(atr_kv_server_start(&o, &srv), ATR_OK, "%s", atr_detail());
	setenv("ATREST_CA_FILE", atr_kv_server_ca_path(srv), 1);
	setenv("ATREST_AZURE_TOKEN", "test-token-for-the-loopback-vault", 1);
	setenv("ATREST_AZURE_CREDENTIAL", "token", 1);
	cr_assert_eq(atr_kv_client_new(atr_kv_server_url(srv), NULL, &c), ATR_OK,
	    "%s", atr_detail());
	memset(&p, 0, sizeof(p));
	p.kty = "RSA";
	p.size = 3072;
	p.key_ops = ATR_JWK_WRAP | ATR_JWK_UNWRAP;
	cr_assert_eq(atr_kv_create_key(c, "cmk", &p, k), ATR_OK, "%s",
	    atr_detail());
	snprintf(url, sizeof(url), "%s/keys/cmk", atr_kv_server_url(srv));
	snprintf(ca, sizeof(ca), "ATREST_CA_FILE=%s", atr_kv_server_ca_path(srv));
	envs[0] = ca;
	envs[1] = "ATREST_AZURE_TOKEN=test-token-for-the-loopback-vault";
	envs[2] = "ATREST_KV_MAX_RETRIES=0";
	envs[3] = NULL;
	memset(&ro, 0, sizeof(ro));
	ro.stdout_path = e.out;
	ro.stderr_path = e.err;
	ro.env = envs;
	ro.timeout_ms = 120000;
	plain = tu_path(e.dir, "plain");
	store = tu_path(e.dir, "store");
	json = tu_path(e.dir, "drill.json");
	{
		const char *a[] = {bin(), "verify", "fixture", "--patients", "1",
		    "--journeys", "1", "--blobs", "1", "--rows", "5", plain, NULL};

		cr_assert_eq(tu_run(a, &ro), 0);
	}
	{
		const char *a[] = {bin(), "encrypt", "-q", "-k", url, "-o", store,
		    plain, NULL};

		rc = tu_run(a, &ro);
		cr_assert_eq(rc, 0, "encrypt exit %d: %s", rc, slurp(e.err));
	}
	argv[0] = bin();
	argv[1] = "verify";
	argv[2] = "-k";
	argv[3] = url;
	argv[4] = "--revocation-drill";
	argv[5] = "--json";
	argv[6] = json;
	argv[7] = store;
	argv[8] = NULL;
	rc = tu_run(argv, &ro);
	s = slurp(e.out);
	cr_assert_eq(rc, 0, "verify exit %d:\n%s%s", rc, s, slurp(e.err));
	free(s);
	j = load_json(json, 0);
	checks = cJSON_GetObjectItem(j, "checks");
	cJSON_ArrayForEach(ck, checks)
		if (strcmp(cJSON_GetObjectItem(ck, "id")->valuestring,
		    "negative") == 0) {
			cJSON *st = cJSON_GetObjectItem(ck, "stats");

			attempts = cJSON_GetObjectItem(st,
			    "revocation_attempts")->valueint;
			opened = cJSON_GetObjectItem(st,
			    "revocation_opened")->valueint;
		}
	cr_assert_gt(attempts, 0);
	cr_assert_eq(opened, 0);
	/* and the key is enabled again */
	cr_assert_eq(atr_kv_get_key(c, "cmk", NULL, k), ATR_OK, "%s",
	    atr_detail());
	cr_assert(k->enabled, "the drill left the key disabled");
	cJSON_Delete(j);
	atr_kv_client_free(c);
	atr_kv_thread_cleanup();
	atr_kv_server_stop(srv);
	free(k);
	free(sdir);
	free(plain);
	free(store);
	free(json);
	env_free(&e);
}
