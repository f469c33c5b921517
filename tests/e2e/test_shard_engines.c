/*
 * test_shard_engines.c - `atrest verify --shard K/N` run the way
 * docs/VERIFY.md ("Scale and sharding") tells users to run it: a store
 * of 2,015 objects split into 4 shards by GNU parallel (`parallel -j 2`)
 * and by `xargs -P 2`, the shard reports joined by `atrest verify merge`.
 * The merged summary, every check's result and counts, the findings
 * (compared as a set: same codes, same objects) and the exit status must
 * equal those of one run over the whole store, on a clean store and on
 * one with a tampered object (which lives in exactly one shard and must
 * be found there and once in the merge).
 *
 * The timings of the single run and of each engine are printed on
 * stderr, for the record only: nothing here asserts a time.
 *
 * GNU parallel is Debian's `parallel` (scripts/deps.sh installs it);
 * when it is missing the GNU parallel test is skipped saying so, as the
 * SoftHSM2 tests are.  Needs $ATREST_BIN and $ATREST_ROOT, as
 * scripts/run-tests.sh sets them.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <cjson/cJSON.h>

#include "testutil.h"

#define NSHARDS 4
/* 500 patients and 500 journeys (a CSV and a JSON file each), 8 blobs
 * and the generator's edge and hidden files: 2,015 objects. */
#define NOBJECTS 2015
/* The object tampered with in the defect test, and its finding. */
#define DEFECT_OBJ "patients/patient-0123.json"
#define DEFECT_CODE "decrypt.auth-failed"

struct env {
	char *dir;      /* private temp dir */
	char *cmk;      /* "file:" URI of a copy of the test CMK */
	char *plain;    /* the generated plaintext */
	char *manifest; /* its manifest */
	char *store;    /* the encrypted store */
	char *fk;       /* the fingerprint key every shard shares */
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
dpath(const struct env *e, const char *name)
{
	char *p = tu_path(e->dir, name);

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

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Runs argv (argv[0] looked up in $PATH) with stdout and stderr to the
 * env's files, stdin from in (NULL: /dev/null). */
static int
run_argv(const struct env *e, const char *const *argv, const char *in)
{
	struct tu_run_opts o;

	memset(&o, 0, sizeof(o));
	o.stdin_path = in;
	o.stdout_path = e->out;
	o.stderr_path = e->err;
	o.timeout_ms = 240000;
	return tu_run(argv, &o);
}

/* `atrest ARGS...` */
static int
run_atrest(const struct env *e, const char *const *args)
{
	const char *argv[40];
	size_t i;

	argv[0] = bin();
	for (i = 0; args[i] != NULL && i < 38; i++)
		argv[i + 1] = args[i];
	argv[i + 1] = NULL;
	return run_argv(e, argv, NULL);
}

static void
copy_key(const struct env *e, const char *name)
{
	const char *r = getenv("ATREST_ROOT");
	char *src, *dst, *rel;
	uint8_t *b;
	size_t n;

	rel = tu_path("fixtures/verify/small/keys", name);
	src = tu_path(r != NULL && *r ? r : ".", rel);
	dst = dpath(e, name);
	b = tu_read_file(src, &n);
	cr_assert_not_null(b, "%s", src);
	/* git keeps no modes: a private copy (fixtures/verify/README.md) */
	cr_assert_eq(tu_write_file(dst, b, n), 0);
	cr_assert_eq(chmod(dst, 0600), 0);
	free(b);
	free(rel);
	free(src);
	free(dst);
}

static void
write_fingerprint_key(const struct env *e)
{
	uint8_t raw[32];
	char hex[66];
	FILE *r = fopen("/dev/urandom", "rb");
	size_t i;

	cr_assert_not_null(r);
	cr_assert_eq(fread(raw, 1, sizeof(raw), r), sizeof(raw));
	fclose(r);
	for (i = 0; i < sizeof(raw); i++)
		snprintf(hex + 2 * i, 3, "%02x", raw[i]);
	hex[64] = '\n';
	cr_assert_eq(tu_write_file(e->fk, hex, 65), 0);
}

/* A store of NOBJECTS small objects under the test CMK (RSA-3072, so
 * that every object costs an RSA decryption, as with a real CMK), its
 * manifest and a fingerprint key. */
static void
env_init(struct env *e)
{
	char *key;
	int rc;

	memset(e, 0, sizeof(*e));
	e->dir = tu_tmpdir("shard-engines");
	cr_assert_not_null(e->dir);
	e->out = dpath(e, "stdout");
	e->err = dpath(e, "stderr");
	e->plain = dpath(e, "plain");
	e->manifest = dpath(e, "plain.manifest.json");
	e->store = dpath(e, "store");
	e->fk = dpath(e, "fp.key");
	copy_key(e, "TEST-ONLY-cmk-rsa3072.pem");
	key = dpath(e, "TEST-ONLY-cmk-rsa3072.pem");
	e->cmk = malloc(strlen(key) + 6);
	cr_assert_not_null(e->cmk);
	snprintf(e->cmk, strlen(key) + 6, "file:%s", key);
	free(key);
	write_fingerprint_key(e);
	{
		const char *a[] = {"verify", "fixture", "--seed", "12",
		    "--patients", "500", "--journeys", "500", "--blobs", "8",
		    "--rows", "2", e->plain, NULL};

		rc = run_atrest(e, a);
		cr_assert_eq(rc, 0, "fixture: exit %d: %s", rc, slurp(e->err));
	}
	{
		const char *a[] = {"encrypt", "-k", e->cmk, "-o", e->store,
		    e->plain, NULL};

		rc = run_atrest(e, a);
		cr_assert_eq(rc, 0, "encrypt: exit %d: %s", rc, slurp(e->err));
	}
}

static void
env_free(struct env *e)
{
	tu_rmtree(e->dir);
	free(e->dir);
	free(e->cmk);
	free(e->plain);
	free(e->manifest);
	free(e->store);
	free(e->fk);
	free(e->out);
	free(e->err);
}

/* ---- reports ------------------------------------------------------ */

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorts a findings array by its JSON text, so that two reports holding
 * the same findings in another order compare equal. */
static void
sort_findings(cJSON *arr)
{
	char **keys;
	int n = cJSON_GetArraySize(arr), i;

	if (n < 2)
		return;
	keys = calloc((size_t)n, sizeof(*keys));
	cr_assert_not_null(keys);
	for (i = 0; i < n; i++) {
		keys[i] = cJSON_PrintUnformatted(cJSON_GetArrayItem(arr, i));
		cr_assert_not_null(keys[i]);
	}
	qsort(keys, (size_t)n, sizeof(*keys), cmp_str);
	for (i = 0; i < n; i++) {
		cJSON *f = cJSON_Parse(keys[i]);

		cr_assert_not_null(f);
		cr_assert(cJSON_ReplaceItemInArray(arr, i, f));
		free(keys[i]);
	}
	free(keys);
}

/* The report at path without its "run" section (start time, elapsed,
 * jobs, merged_from: how it was made, not what it found), every
 * check's findings sorted. */
static cJSON *
load_report(const char *path)
{
	char *s = slurp(path);
	cJSON *j = cJSON_Parse(s), *c;

	cr_assert_not_null(j, "invalid JSON in %s", path);
	free(s);
	cJSON_DeleteItemFromObjectCaseSensitive(j, "run");
	cJSON_ArrayForEach(c, cJSON_GetObjectItem(j, "checks"))
		sort_findings(cJSON_GetObjectItem(c, "findings"));
	return j;
}

static char *
text(const cJSON *j)
{
	char *s = cJSON_PrintUnformatted(j);

	cr_assert_not_null(s);
	return s;
}

static const cJSON *
check_by_id(const cJSON *report, const char *id)
{
	const cJSON *c;

	cJSON_ArrayForEach(c, cJSON_GetObjectItem(report, "checks")) {
		const cJSON *i = cJSON_GetObjectItem(c, "id");

		if (cJSON_IsString(i) && strcmp(i->valuestring, id) == 0)
			return c;
	}
	return NULL;
}

/* The merged report equals the single run's: summary, then check by
 * check its status, counts and findings, then everything else. */
static void
assert_same_report(const cJSON *one, const cJSON *merged, const char *what)
{
	static const char *const fields[] = {"status", "errors", "warnings",
	    "infos", "stats", "findings", NULL};
	const cJSON *c, *sa = cJSON_GetObjectItem(one, "summary"),
	    *sb = cJSON_GetObjectItem(merged, "summary");
	size_t i;

	cr_assert(cJSON_Compare(sa, sb, 1), "%s: summary %s, one run %s", what,
	    text(sb), text(sa));
	cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(one, "checks")),
	    cJSON_GetArraySize(cJSON_GetObjectItem(merged, "checks")),
	    "%s: not the same checks", what);
	cJSON_ArrayForEach(c, cJSON_GetObjectItem(one, "checks")) {
		const char *id = cJSON_GetObjectItem(c, "id")->valuestring;
		const cJSON *m = check_by_id(merged, id);

		cr_assert_not_null(m, "%s: check %s missing", what, id);
		for (i = 0; fields[i] != NULL; i++) {
			const cJSON *x = cJSON_GetObjectItem(c, fields[i]),
			    *y = cJSON_GetObjectItem(m, fields[i]);

			cr_assert(cJSON_Compare(x, y, 1), "%s: check %s %s: %s, "
			    "one run: %s", what, id, fields[i],
			    y ? text(y) : "(none)", x ? text(x) : "(none)");
		}
	}
	cr_assert(cJSON_Compare(one, merged, 1), "%s: the reports differ "
	    "outside the summary and checks", what);
}

/* How many findings with code code name subject, over every check. */
static int
count_findings(const cJSON *report, const char *code, const char *subject)
{
	const cJSON *c, *f;
	int n = 0;

	cJSON_ArrayForEach(c, cJSON_GetObjectItem(report, "checks"))
		cJSON_ArrayForEach(f, cJSON_GetObjectItem(c, "findings")) {
			const cJSON *fc = cJSON_GetObjectItem(f, "code"),
			    *fs = cJSON_GetObjectItem(f, "subject");

			if (cJSON_IsString(fc) && cJSON_IsString(fs) &&
			    strcmp(fc->valuestring, code) == 0 &&
			    strcmp(fs->valuestring, subject) == 0)
				n++;
		}
	return n;
}

/* ---- engines ------------------------------------------------------ */

/* atrest verify over the whole store (shard NULL) or one shard; the
 * arguments docs/VERIFY.md's recipes give.  Returns the count. */
static size_t
verify_argv(const struct env *e, const char **a, const char *shard,
    const char *json)
{
	size_t n = 0;

	a[n++] = bin();
	a[n++] = "verify";
	a[n++] = "-q";
	a[n++] = "-k";
	a[n++] = e->cmk;
	a[n++] = "-m";
	a[n++] = e->manifest;
	a[n++] = "--fingerprint-key";
	a[n++] = e->fk;
	if (shard != NULL) {
		a[n++] = "--shard";
		a[n++] = shard;
	}
	a[n++] = "--json";
	a[n++] = json;
	a[n++] = e->store;
	a[n] = NULL;
	return n;
}

enum engine { GNU_PARALLEL, XARGS };

/* Runs the NSHARDS shards through the engine, 2 at a time, each writing
 * outdir/shard-K.json; returns the engine's exit status. */
static int
run_engine(const struct env *e, enum engine eng, const char *outdir,
    long long *ms)
{
	const char *a[48];
	char json[4096], *in = NULL;
	size_t n;
	long long t0;
	int rc;

	snprintf(json, sizeof(json), "%s/shard-{}.json", outdir);
	if (eng == GNU_PARALLEL) {
		/* parallel -j 2 atrest verify ... --shard {}/4 ... ::: 1 2 3 4 */
		a[0] = "parallel";
		a[1] = "-j";
		a[2] = "2";
		n = 3 + verify_argv(e, a + 3, "{}/4", json);
		a[n++] = ":::";
		a[n++] = "1";
		a[n++] = "2";
		a[n++] = "3";
		a[n++] = "4";
		a[n] = NULL;
	} else {
		/* seq 4 | xargs -P 2 -I{} atrest verify ... --shard {}/4 ... */
		in = dpath(e, "shard-numbers");
		cr_assert_eq(tu_write_file(in, "1\n2\n3\n4\n", 8), 0);
		a[0] = "xargs";
		a[1] = "-P";
		a[2] = "2";
		a[3] = "-I{}";
		verify_argv(e, a + 4, "{}/4", json);
	}
	cr_assert_eq(mkdir(outdir, 0700), 0, "%s", outdir);
	t0 = now_ms();
	rc = run_argv(e, a, in);
	*ms = now_ms() - t0;
	free(in);
	return rc;
}

/* What one run over the whole store said. */
struct single {
	cJSON *report;
	int rc;
	long long ms;
};

static void
run_single(const struct env *e, struct single *s)
{
	const char *a[24];
	char *json = dpath(e, "single.json");
	long long t0;

	verify_argv(e, a, NULL, json);
	t0 = now_ms();
	s->rc = run_argv(e, a, NULL);
	s->ms = now_ms() - t0;
	cr_assert(s->rc == 0 || s->rc == 1, "single run: exit %d: %s", s->rc,
	    slurp(e->err));
	s->report = load_report(json);
	free(json);
}

/*
 * The shards through one engine, then the merge: the engine's exit
 * status is engine_rc (GNU parallel: the number of failed jobs; xargs:
 * 123 when any failed), each shard's own exit status is in its report,
 * exactly `defects` shards found the tampered object (0 or 1), and the
 * merge equals the single run.  Returns the engine's time.
 */
static long long
engine_round(const struct env *e, enum engine eng, const struct single *s,
    int engine_rc, int defects)
{
	const char *name = eng == GNU_PARALLEL ? "parallel" : "xargs";
	const char *a[NSHARDS + 8];
	char *outdir = dpath(e, name), *shard[NSHARDS], *merged;
	int rc, k, found = 0, failed = 0;
	long long ms;
	cJSON *m;

	rc = run_engine(e, eng, outdir, &ms);
	cr_assert_eq(rc, engine_rc, "%s: exit %d, expected %d: %s", name, rc,
	    engine_rc, slurp(e->err));
	merged = dpath(e, eng == GNU_PARALLEL ? "merged-parallel.json" :
	    "merged-xargs.json");
	a[0] = "verify";
	a[1] = "merge";
	a[2] = "--json";
	a[3] = merged;
	for (k = 0; k < NSHARDS; k++) {
		char rel[32];
		cJSON *r;

		snprintf(rel, sizeof(rel), "shard-%d.json", k + 1);
		shard[k] = tu_path(outdir, rel);
		cr_assert_not_null(shard[k]);
		r = load_report(shard[k]);
		found += count_findings(r, DEFECT_CODE, DEFECT_OBJ);
		failed += cJSON_GetObjectItem(cJSON_GetObjectItem(r,
		    "summary"), "exit_code")->valueint != 0;
		cJSON_Delete(r);
		/* the reports in reverse order: merge does not care */
		a[4 + NSHARDS - 1 - k] = shard[k];
	}
	a[4 + NSHARDS] = NULL;
	cr_assert_eq(found, defects, "%s: %d shards found the tampered "
	    "object, expected %d", name, found, defects);
	cr_assert_eq(failed, defects, "%s: %d shards failed", name, failed);
	rc = run_atrest(e, a);
	cr_assert_eq(rc, s->rc, "%s: merge exit %d, one run %d: %s", name, rc,
	    s->rc, slurp(e->err));
	m = load_report(merged);
	assert_same_report(s->report, m, name);
	cJSON_Delete(m);
	for (k = 0; k < NSHARDS; k++)
		free(shard[k]);
	free(merged);
	free(outdir);
	return ms;
}

static int
have_gnu_parallel(const struct env *e)
{
	const char *argv[] = {"parallel", "--version", NULL};
	char *o;
	int rc, gnu;

	rc = run_argv(e, argv, NULL);
	o = (char *)tu_read_file(e->out, NULL);
	gnu = rc == 0 && o != NULL && strstr(o, "GNU parallel") != NULL;
	free(o);
	return gnu;
}

/* Both engines against the single run; skips (after checking xargs)
 * when GNU parallel is missing. */
static void
both_engines(struct env *e, const struct single *s, int defects,
    const char *label)
{
	long long tx, tp = 0;
	int gnu = have_gnu_parallel(e);

	tx = engine_round(e, XARGS, s, defects ? 123 : 0, defects);
	if (gnu)
		tp = engine_round(e, GNU_PARALLEL, s, defects, defects);
	/* for the record (docs/VERIFY.md), never asserted */
	fprintf(stderr, "shard_engines: %s, %d objects: one run %lld ms; "
	    "%d shards, xargs -P 2: %lld ms", label, NOBJECTS, s->ms, NSHARDS,
	    tx);
	if (gnu)
		fprintf(stderr, "; GNU parallel -j 2: %lld ms", tp);
	fprintf(stderr, "\n");
	if (!gnu) {
		cJSON_Delete(s->report);
		env_free(e);
		cr_skip_test("xargs -P checked; GNU parallel is not installed "
		    "(Debian: parallel; scripts/deps.sh installs it)");
	}
}

Test(shard_engines, clean_store_merged_equals_one_run, .timeout = 600)
{
	struct env e;
	struct single s;
	const cJSON *sum;

	env_init(&e);
	run_single(&e, &s);
	sum = cJSON_GetObjectItem(s.report, "summary");
	cr_assert_eq(s.rc, 0, "single run: %s", text(sum));
	cr_assert_eq(cJSON_GetObjectItem(sum, "files")->valueint, NOBJECTS);
	cr_assert_eq(cJSON_GetObjectItem(sum, "proven_by_decryption")->valueint,
	    NOBJECTS);
	both_engines(&e, &s, 0, "clean store");
	cJSON_Delete(s.report);
	env_free(&e);
}

/* Flips a byte of the last frame's tag of one object: that object, in
 * exactly one shard, fails authentication. */
static void
tamper(const struct env *e)
{
	char *p = tu_path(e->store, DEFECT_OBJ);
	uint8_t *b;
	size_t n;

	cr_assert_not_null(p);
	b = tu_read_file(p, &n);
	cr_assert(b != NULL && n > 16, "%s", p);
	b[n - 3] ^= 0x5a;
	cr_assert_eq(tu_write_file(p, b, n), 0);
	free(b);
	free(p);
}

Test(shard_engines, tampered_object_found_once, .timeout = 600)
{
	struct env e;
	struct single s;

	env_init(&e);
	tamper(&e);
	run_single(&e, &s);
	cr_assert_eq(s.rc, 1, "single run: exit %d", s.rc);
	cr_assert_eq(count_findings(s.report, DEFECT_CODE, DEFECT_OBJ), 1);
	both_engines(&e, &s, 1, "one tampered object");
	cJSON_Delete(s.report);
	env_free(&e);
}
