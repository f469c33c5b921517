/*
 * test_verify_profile_cli.c - `atrest verify --profile/--print-policy`
 * and `atrest vault rotation-policy get|set` as a user runs them: the
 * printed policy reads back to itself, an unknown profile is exit 2 with
 * the list, the profile is in the report and survives `verify merge`,
 * and a key's rotation policy is set and read through the loopback
 * vault, then judged by `verify --profile strict`.
 *
 * Needs $ATREST_BIN and $ATREST_ROOT, as scripts/run-tests.sh sets them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <cjson/cJSON.h>

#include "kv_client.h"
#include "kv_server.h"
#include "jwk.h"
#include "testutil.h"

struct env {
	char *dir, *out, *err;
	const char *envs[4];
	char ca[600];
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

static char *
slurp(const char *path)
{
	uint8_t *b = tu_read_file(path, NULL);

	cr_assert_not_null(b, "cannot read %s", path);
	return (char *)b;
}

static void
env_init(struct env *e)
{
	memset(e, 0, sizeof(*e));
	e->dir = tu_tmpdir("verify-prof-cli");
	cr_assert_not_null(e->dir);
	e->out = tu_path(e->dir, "stdout");
	e->err = tu_path(e->dir, "stderr");
}

static void
env_free(struct env *e)
{
	tu_rmtree(e->dir);
	free(e->dir);
	free(e->out);
	free(e->err);
}

/* atrest ARGS...; stdout and stderr into e->out and e->err. */
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
	o.env = e->envs[0] != NULL ? e->envs : NULL;
	o.timeout_ms = 120000;
	return tu_run(argv, &o);
}

/* Runs args, expects exit want, and returns stdout (malloc'd). */
static char *
run_out(struct env *e, int want, const char *const *args)
{
	int rc = run(e, args);
	char *err = slurp(e->err);

	cr_assert_eq(rc, want, "%s %s: exit %d, wanted %d: %s", args[0],
	    args[1] ? args[1] : "", rc, want, err);
	free(err);
	return slurp(e->out);
}

Test(profile_cli, print_policy_reads_back_and_unknown_profiles_exit_2)
{
	static const char *const names[] = {"default", "azure-cmk", "strict"};
	struct env e;
	char *pol = NULL, *again, *err, *over;
	size_t i;

	env_init(&e);
	pol = tu_path(e.dir, "policy.json");
	for (i = 0; i < 3; i++) {
		const char *a[] = {"verify", "--profile", names[i],
		    "--print-policy", NULL};
		const char *b[] = {"verify", "--policy", pol, "--print-policy",
		    NULL};
		char *first = run_out(&e, 0, a);
		cJSON *j = cJSON_Parse(first);

		cr_assert_not_null(j, "not JSON: %s", first);
		cr_assert_str_eq(cJSON_GetObjectItem(j, "profile")->valuestring,
		    names[i]);
		cJSON_Delete(j);
		cr_assert_eq(tu_write_file(pol, first, strlen(first)), 0);
		again = run_out(&e, 0, b);
		cr_assert_str_eq(first, again, "%s does not read back",
		    names[i]);
		free(first);
		free(again);
	}
	/* the profile first, the file's fields on top */
	over = tu_path(e.dir, "over.json");
	{
		static const char j[] = "{\"algorithms\": {\"rsa_min_bits\": "
		    "4096}}";
		const char *a[] = {"verify", "--profile", "azure-cmk",
		    "--policy", over, "--print-policy", NULL};
		char *o;

		cr_assert_eq(tu_write_file(over, j, sizeof(j) - 1), 0);
		o = run_out(&e, 0, a);
		cr_assert(strstr(o, "\"rsa_min_bits\": 4096") != NULL, "%s", o);
		cr_assert(strstr(o, "\"rsa_error_below_bits\": 3072") != NULL);
		cr_assert(strstr(o, "\"profile\": \"azure-cmk\"") != NULL);
		free(o);
	}
	{
		const char *a[] = {"verify", "--profile", "azure", "-k",
		    "file:/nonexistent", "/nonexistent", NULL};

		cr_assert_eq(run(&e, a), 2);
		err = slurp(e.err);
		cr_assert(strstr(err, "unknown profile \"azure\"") != NULL &&
		    strstr(err, "azure-cmk") != NULL, "%s", err);
		cr_assert_eq(strchr(err, '\n'), err + strlen(err) - 1,
		    "one line: %s", err);
		free(err);
	}
	free(over);
	free(pol);
	env_free(&e);
}

/* The committed small store, in shards, under a profile. */
static void
shard_report(struct env *e, const char *cmk, const char *profile,
    const char *shard, const char *json)
{
	char *store = root_path("fixtures/verify/small/store");
	const char *a[] = {"verify", "-q", "-k", cmk, "--profile", profile,
	    "--fingerprint-key", NULL, "--shard", shard, "--json", json, store,
	    NULL};
	char *fk = tu_path(e->dir, "fp.key");
	int rc;

	cr_assert_eq(tu_write_file(fk, "0123456789abcdef0123456789abcdef"
	    "0123456789abcdef0123456789abcdef\n", 65), 0);
	cr_assert_eq(chmod(fk, 0600), 0);
	a[7] = fk;
	rc = run(e, a);
	cr_assert(rc == 0 || rc == 1, "shard %s: exit %d: %s", shard, rc,
	    slurp(e->err));
	free(fk);
	free(store);
}

Test(profile_cli, the_profile_is_in_the_report_and_survives_merge)
{
	struct env e;
	char *key, *cmk, *s1, *s2, *s3, *merged, *src;
	uint8_t *b;
	size_t n;
	cJSON *j;
	const cJSON *pol;

	env_init(&e);
	src = root_path("fixtures/verify/small/keys/TEST-ONLY-cmk-rsa3072.pem");
	key = tu_path(e.dir, "cmk.pem");
	b = tu_read_file(src, &n);
	cr_assert_not_null(b);
	cr_assert_eq(tu_write_file(key, b, n), 0);
	cr_assert_eq(chmod(key, 0600), 0);
	free(b);
	cmk = malloc(strlen(key) + 6);
	cr_assert_not_null(cmk);
	snprintf(cmk, strlen(key) + 6, "file:%s", key);
	s1 = tu_path(e.dir, "s1.json");
	s2 = tu_path(e.dir, "s2.json");
	s3 = tu_path(e.dir, "s3.json");
	merged = tu_path(e.dir, "merged.json");
	shard_report(&e, cmk, "azure-cmk", "1/2", s1);
	shard_report(&e, cmk, "azure-cmk", "2/2", s2);
	shard_report(&e, cmk, "strict", "2/2", s3);
	{
		const char *a[] = {"verify", "merge", "-q", "--json", merged,
		    s1, s2, NULL};
		int rc = run(&e, a);

		cr_assert(rc == 0 || rc == 1, "merge: exit %d: %s", rc,
		    slurp(e.err));
	}
	j = cJSON_Parse(slurp(merged));
	cr_assert_not_null(j);
	pol = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "config"), "policy");
	cr_assert_not_null(pol);
	cr_assert_str_eq(cJSON_GetObjectItem(pol, "profile")->valuestring,
	    "azure-cmk");
	cJSON_Delete(j);
	{
		/* shards of different profiles are not one run */
		const char *a[] = {"verify", "merge", "-q", s1, s3, NULL};
		char *err;

		cr_assert_eq(run(&e, a), 2);
		err = slurp(e.err);
		cr_assert(strstr(err, "policy") != NULL, "%s", err);
		free(err);
	}
	free(src);
	free(key);
	free(cmk);
	free(s1);
	free(s2);
	free(s3);
	free(merged);
	env_free(&e);
}

/* ---- rotation policies through the loopback vault ---------------------- */

struct vs {
	struct atr_kv_server *srv;
	char *sdir;
	char url[256];
};

static void
vs_start(struct env *e, struct vs *v)
{
	struct atr_kv_server_opts o;
	struct atr_kv_client *c = NULL;
	struct atr_kv_create p;
	struct atr_kv_key *k = calloc(1, sizeof(*k));

	cr_assert_not_null(k);
	v->sdir = tu_path(e->dir, "vault");
	atr_kv_server_opts_init(&o);
	o.listen = "127.0.0.1:0";
	o.state_dir = v->sdir;
	o.purge_protection = 1;
	cr_assert_eq(atr_kv_server_start(&o, &v->srv), ATR_OK, "%s",
	    atr_detail());
	setenv("ATREST_CA_FILE", atr_kv_server_ca_path(v->srv), 1);
	setenv("ATREST_AZURE_TOKEN", "test-token-for-the-loopback-vault", 1);
	setenv("ATREST_AZURE_CREDENTIAL", "token", 1);
	cr_assert_eq(atr_kv_client_new(atr_kv_server_url(v->srv), NULL, &c),
	    ATR_OK, "%s", atr_detail());
	memset(&p, 0, sizeof(p));
	p.kty = "RSA";
	p.size = 3072;
	p.key_ops = ATR_JWK_WRAP | ATR_JWK_UNWRAP;
	cr_assert_eq(atr_kv_create_key(c, "cmk", &p, k), ATR_OK, "%s",
	    atr_detail());
	atr_kv_client_free(c);
	free(k);
	snprintf(v->url, sizeof(v->url), "%s/keys/cmk",
	    atr_kv_server_url(v->srv));
	snprintf(e->ca, sizeof(e->ca), "ATREST_CA_FILE=%s",
	    atr_kv_server_ca_path(v->srv));
	e->envs[0] = e->ca;
	e->envs[1] = "ATREST_AZURE_TOKEN=test-token-for-the-loopback-vault";
	e->envs[2] = "ATREST_KV_MAX_RETRIES=0";
	e->envs[3] = NULL;
}

static void
vs_stop(struct vs *v)
{
	atr_kv_thread_cleanup();
	atr_kv_cache_clear();
	atr_kv_server_stop(v->srv);
	free(v->sdir);
}

Test(profile_cli, vault_rotation_policy_get_and_set, .timeout = 180)
{
	struct env e;
	struct vs v;
	char *o, *file, versioned[300];

	env_init(&e);
	vs_start(&e, &v);
	{
		const char *a[] = {"vault", "rotation-policy", "get", v.url,
		    NULL};

		o = run_out(&e, 0, a);
		cr_assert(strstr(o, "\"timeBeforeExpiry\":\t\"P30D\"") !=
		    NULL && strstr(o, "\"Notify\"") != NULL, "%s", o);
		free(o);
	}
	{
		const char *a[] = {"vault", "rotation-policy", "set", v.url,
		    "--rotate-after", "P90D", "--notify-before", "P30D",
		    "--expiry", "P1Y", NULL};

		free(run_out(&e, 0, a));
	}
	file = tu_path(e.dir, "rp.json");
	{
		const char *a[] = {"vault", "rotation-policy", "get", v.url,
		    NULL};
		cJSON *j;

		o = run_out(&e, 0, a);
		j = cJSON_Parse(o);
		cr_assert_not_null(j, "%s", o);
		cr_assert(strstr(o, "\"timeAfterCreate\":\t\"P90D\"") != NULL &&
		    strstr(o, "\"Rotate\"") != NULL, "%s", o);
		cr_assert_str_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(j,
		    "attributes"), "expiryTime")->valuestring, "P1Y");
		cJSON_Delete(j);
		/* what get prints, set --file takes */
		cr_assert_eq(tu_write_file(file, o, strlen(o)), 0);
		free(o);
	}
	{
		const char *a[] = {"vault", "rotation-policy", "set", v.url,
		    "--file", file, NULL};

		o = run_out(&e, 0, a);
		cr_assert(strstr(o, "P90D") != NULL, "%s", o);
		free(o);
	}
	snprintf(versioned, sizeof(versioned), "%s/0123abcd", v.url);
	{
		const char *bad1[] = {"vault", "rotation-policy", "set", v.url,
		    "--rotate-after", "90 days", NULL};
		const char *bad2[] = {"vault", "rotation-policy", "get",
		    versioned, NULL};
		const char *bad3[] = {"vault", "rotation-policy", "set", v.url,
		    NULL};
		const char *bad4[] = {"vault", "rotation-policy", "get", v.url,
		    "--expiry", "P1Y", NULL};
		char *err;

		cr_assert_eq(run(&e, bad1), 2);
		err = slurp(e.err);
		cr_assert(strstr(err, "--rotate-after") != NULL, "%s", err);
		free(err);
		cr_assert_eq(run(&e, bad2), 2);
		cr_assert_eq(run(&e, bad3), 2);
		cr_assert_eq(run(&e, bad4), 2);
	}
	free(file);
	vs_stop(&v);
	env_free(&e);
}

Test(profile_cli, strict_judges_the_rotation_policy_end_to_end,
    .timeout = 180)
{
	struct env e;
	struct vs v;
	char *plain, *store, *json, *o;
	int rc;

	env_init(&e);
	vs_start(&e, &v);
	plain = tu_path(e.dir, "plain");
	store = tu_path(e.dir, "store");
	json = tu_path(e.dir, "r.json");
	{
		const char *a[] = {"verify", "fixture", "--patients", "1",
		    "--journeys", "0", "--blobs", "1", "--rows", "5", plain,
		    NULL};
		const char *b[] = {"encrypt", "-q", "-k", v.url, "-o", store,
		    plain, NULL};

		free(run_out(&e, 0, a));
		free(run_out(&e, 0, b));
	}
	{
		const char *a[] = {"verify", "-q", "-k", v.url, "--profile",
		    "strict", "--json", json, store, NULL};

		rc = run(&e, a);
		o = slurp(json);
		cr_assert_eq(rc, 1, "no rotation policy: exit %d", rc);
		cr_assert(strstr(o, "policy.rotation-missing") != NULL);
		cr_assert(strstr(o, "policy.rotation-no-expiry") != NULL);
		free(o);
	}
	{
		const char *a[] = {"vault", "rotation-policy", "set", v.url,
		    "--rotate-after", "P90D", "--expiry", "P1Y", NULL};
		const char *b[] = {"verify", "-q", "-k", v.url, "--profile",
		    "strict", "--json", json, store, NULL};

		free(run_out(&e, 0, a));
		rc = run(&e, b);
		o = slurp(json);
		cr_assert_eq(rc, 0, "a good policy: exit %d: %s", rc, o);
		cr_assert(strstr(o, "Rotate P90D after creation") != NULL, "%s",
		    o);
		free(o);
	}
	free(plain);
	free(store);
	free(json);
	vs_stop(&v);
	env_free(&e);
}
