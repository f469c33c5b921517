/*
 * test_bench_cli.c - `atrest bench` end to end: a short --quick run that
 * writes valid JSON and CSV, JSON on stdout, the compare gate's exit
 * codes on real output (a planted 20 % regression fails, 5 % passes),
 * a public-only CMK key (decrypt cells skipped), usage errors, and
 * --io DIR (cells through files, storage limits, DIR left empty, also
 * when interrupted; bad DIRs refused; no comparison with memory).
 *
 * The tool is $ATREST_BIN (scripts/run-tests.sh sets it), else the
 * atrest next to this test's build directory.
 */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include <cJSON.h>

#include "testutil.h"

static char bin[PATH_MAX + 16];

static const char *
atrest(void)
{
	const char *e = getenv("ATREST_BIN");
	char self[PATH_MAX];
	ssize_t n;
	char *s;

	if (e != NULL && *e != '\0')
		return e;
	/* $(B)/tests/e2e_test_bench_cli -> $(B)/atrest */
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	cr_assert_gt(n, 0);
	self[n] = '\0';
	s = strrchr(self, '/');
	cr_assert_not_null(s);
	*s = '\0';
	s = strrchr(self, '/');
	cr_assert_not_null(s);
	*s = '\0';
	snprintf(bin, sizeof(bin), "%s/atrest", self);
	return bin;
}

struct ctx {
	char *dir, *out, *err;
};

static void
ctx_init(struct ctx *c, const char *tag)
{
	c->dir = tu_tmpdir(tag);
	cr_assert_not_null(c->dir);
	c->out = tu_path(c->dir, "stdout");
	c->err = tu_path(c->dir, "stderr");
}

static void
ctx_free(struct ctx *c)
{
	tu_rmtree(c->dir);
	free(c->dir);
	free(c->out);
	free(c->err);
}

static int
run(struct ctx *c, const char *const *argv)
{
	struct tu_run_opts o = {0};

	o.stdout_path = c->out;
	o.stderr_path = c->err;
	o.timeout_ms = 180000;
	return tu_run(argv, &o);
}

static char *
slurp(const char *path)
{
	char *s = (char *)tu_read_file(path, NULL);

	cr_assert_not_null(s, "cannot read %s", path);
	return s;
}

/* The short run every test shares: 1 KiB only, two repetitions. */
#define QUICK "--quick", "--sizes", "1K", "--time", "0.02", "--reps", "2"

static cJSON *
load_json(const char *path)
{
	char *s = slurp(path);
	cJSON *j = cJSON_Parse(s);

	cr_assert_not_null(j, "%s is not JSON", path);
	free(s);
	return j;
}

Test(bench_cli, quick_run_writes_json_and_csv, .timeout = 180)
{
	struct ctx c;
	char *json, *csv, *charts, *out, *text, *p;
	cJSON *j, *cells, *cell;
	int rc, n = 0, lines = 0, vault = 0;

	ctx_init(&c, "bench-e2e");
	json = tu_path(c.dir, "r.json");
	csv = tu_path(c.dir, "r.csv");
	charts = tu_path(c.dir, "charts");
	{
		const char *argv[] = {atrest(), "bench", QUICK, "--json", json,
		    "--csv", csv, "--charts", charts, NULL};

		rc = run(&c, argv);
	}
	out = slurp(c.out);
	text = slurp(c.err);
	cr_assert_eq(rc, 0, "exit %d: %s", rc, text);
	/* The readable table, the limits and the targets. */
	cr_assert_not_null(strstr(out, "hierarchy"));
	cr_assert_not_null(strstr(out, "machine limits"));
	cr_assert_not_null(strstr(out, "aes-256-gcm-seal-1024"));
	cr_assert_not_null(strstr(out, "rsa-3072-private"));
	cr_assert_not_null(strstr(out, "targets"));
	/* Not a terminal: no progress line on stderr. */
	cr_assert_null(strstr(text, "\r"), "progress on a pipe: %s", text);
	j = load_json(json);
	cr_assert_str_eq(cJSON_GetObjectItem(j, "schema")->valuestring,
	    "atrest-bench/1");
	cells = cJSON_GetObjectItem(j, "cells");
	cJSON_ArrayForEach(cell, cells) {
		const char *key = cJSON_GetObjectItem(cell, "key")->valuestring;

		cr_assert(cJSON_IsFalse(cJSON_GetObjectItem(cell, "skipped")),
		    "%s skipped: %s", key,
		    cJSON_GetObjectItem(cell, "note")->valuestring);
		cr_assert_gt(cJSON_GetObjectItem(cell, "ops_per_s")->valuedouble,
		    0);
		/* Per-object: a KEK call per object.  The shared keys of the
		 * other hierarchies may all come from the warm-up. */
		if (strcmp(cJSON_GetObjectItem(cell, "hierarchy")->valuestring,
		    "per-object") == 0)
			cr_assert_eq(cJSON_GetObjectItem(cell,
			    "kms_calls")->valuedouble, cJSON_GetObjectItem(cell,
			    "ops")->valuedouble);
		cr_assert(strcmp(key, "smk") == 0 || strcmp(key, "rsa-3072") == 0 ||
		    strcmp(key, "vault") == 0, "default keys, not %s", key);
		vault += strcmp(key, "vault") == 0;
		n++;
	}
	/* 3 keys x 3 hierarchies x 1 size x 2 ops x 1 thread; without a
	 * loopback vault, 2 keys and a note saying why. */
	if (vault > 0) {
		cr_assert_eq(n, 18);
	} else {
		char *notes = cJSON_PrintUnformatted(cJSON_GetObjectItem(j,
		    "notes"));

		cr_assert_eq(n, 12);
		cr_assert_not_null(notes);
		cr_assert_not_null(strstr(notes, "vault cells skipped"));
		free(notes);
	}
	cJSON_Delete(j);
	free(text);
	text = slurp(csv);
	for (p = text; (p = strchr(p, '\n')) != NULL; p++)
		lines++;
	cr_assert_eq(lines, n + 1, "CSV: header and one row per cell");
	cr_assert_eq(strncmp(text, "key,cmk,hierarchy,", 18), 0);
	{
		char *gp = tu_path(charts, "throughput-encrypt.gp");

		cr_assert(tu_file_contains(gp, "plot "));
		free(gp);
	}
	free(text);
	free(out);
	free(json);
	free(csv);
	free(charts);
	ctx_free(&c);
}

Test(bench_cli, json_on_stdout_table_on_stderr, .timeout = 180)
{
	struct ctx c;
	char *out, *err;
	cJSON *j;
	int rc;
	const char *argv[] = {atrest(), "bench", QUICK, "--keys", "smk",
	    "--hierarchy", "cached", "--ops", "encrypt", "--json", "-", NULL};

	ctx_init(&c, "bench-e2e-stdout");
	rc = run(&c, argv);
	out = slurp(c.out);
	err = slurp(c.err);
	cr_assert_eq(rc, 0, "exit %d: %s", rc, err);
	j = cJSON_Parse(out);
	cr_assert_not_null(j, "stdout must be only JSON: %.200s", out);
	cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(j, "cells")), 1);
	cr_assert_not_null(strstr(err, "hierarchy"), "table on stderr");
	cJSON_Delete(j);
	free(out);
	free(err);
	ctx_free(&c);
}

/*
 * Scales the cell at index `which` (all cells when < 0) by f, as a real
 * and steady slowdown would: each ratio's median becomes f times what
 * it was and every repetition (min, max) equals it, so that the gate's
 * noise allowance (the best repetition) does not hide it.
 */
static void
scaled_copy(const char *from, const char *path, int which, double f)
{
	static const char *const fields[] = {"vs_limit", "vs_limit_cpu"};
	cJSON *j = load_json(from), *cell;
	char *s;
	int i = 0;
	size_t k;

	cJSON_ArrayForEach(cell, cJSON_GetObjectItem(j, "cells")) {
		for (k = 0; k < sizeof(fields) / sizeof(fields[0]); k++) {
			cJSON *v = cJSON_GetObjectItem(cell, fields[k]);
			char name[64];
			double x;

			if (!(which < 0 || i == which) || !cJSON_IsNumber(v))
				continue;
			x = v->valuedouble * f;
			cJSON_SetNumberValue(v, x);
			snprintf(name, sizeof(name), "%s_min", fields[k]);
			cJSON_SetNumberValue(cJSON_GetObjectItem(cell, name), x);
			snprintf(name, sizeof(name), "%s_max", fields[k]);
			cJSON_SetNumberValue(cJSON_GetObjectItem(cell, name), x);
			snprintf(name, sizeof(name), "%s_reps", fields[k]);
			{
				cJSON *r;

				cJSON_ArrayForEach(r, cJSON_GetObjectItem(cell,
				    name))
					cJSON_SetNumberValue(r, x);
			}
		}
		i++;
	}
	s = cJSON_Print(j);
	cr_assert_eq(tu_write_file(path, s, strlen(s)), 0);
	free(s);
	cJSON_Delete(j);
}

/* A copy of from whose cells keep only their first n repetitions. */
static void
reps_cut(const char *from, const char *path, int n)
{
	static const char *const fields[] = {"vs_limit_reps",
	    "vs_limit_cpu_reps", "ops_per_s_reps"};
	cJSON *j = load_json(from), *cell;
	char *s;
	size_t k;

	cJSON_ArrayForEach(cell, cJSON_GetObjectItem(j, "cells"))
		for (k = 0; k < sizeof(fields) / sizeof(fields[0]); k++) {
			cJSON *a = cJSON_GetObjectItem(cell, fields[k]);

			while (cJSON_GetArraySize(a) > n)
				cJSON_DeleteItemFromArray(a, n);
		}
	s = cJSON_Print(j);
	cr_assert_eq(tu_write_file(path, s, strlen(s)), 0);
	free(s);
	cJSON_Delete(j);
}

Test(bench_cli, compare_gate_exit_codes, .timeout = 180)
{
	struct ctx c;
	char *base, *steady, *reg, *ok, *junk, *few, *out, *err;
	int rc;

	ctx_init(&c, "bench-e2e-compare");
	base = tu_path(c.dir, "base.json");
	steady = tu_path(c.dir, "steady.json");
	reg = tu_path(c.dir, "regressed.json");
	ok = tu_path(c.dir, "ok.json");
	junk = tu_path(c.dir, "junk.json");
	few = tu_path(c.dir, "few.json");
	{
		/* 5 repetitions: the fewest for which the U test of 5
		 * against 5 can reach p < 0.05 (2 / C(10, 5) = 0.008). */
		const char *argv[] = {atrest(), "bench", QUICK, "--reps", "5",
		    "--keys", "smk", "--hierarchy", "per-object,cached",
		    "--json", base, "--no-table", NULL};

		rc = run(&c, argv);
		err = slurp(c.err);
		cr_assert_eq(rc, 0, "exit %d: %s", rc, err);
		free(err);
	}
	/* A steady base (every repetition at its median): a quick run on
	 * a busy machine can spread more than the threshold, which makes a
	 * cell inconclusive (exit 3) rather than judged. */
	scaled_copy(base, steady, -1, 1.0);
	scaled_copy(steady, reg, 1, 0.80);
	scaled_copy(steady, ok, -1, 0.95);
	reps_cut(steady, few, 2);
	cr_assert_eq(tu_write_file(junk, "{\"schema\": 1}", 13), 0);
	{
		const char *argv[] = {atrest(), "bench", "compare", base, base,
		    NULL};

		rc = run(&c, argv);
		out = slurp(c.out);
		/* 3 when a cell of this busy machine's run spread more
		 * than the threshold: never a regression. */
		cr_assert(rc == 0 || rc == 3, "a run against itself: %d %s",
		    rc, out);
		cr_assert_not_null(strstr(out, "0 regressed"));
		free(out);
	}
	{
		const char *argv[] = {atrest(), "bench", "compare",
		    "--max-regression", "10", steady, reg, NULL};

		rc = run(&c, argv);
		out = slurp(c.out);
		cr_assert_eq(rc, 1, "planted 20%% regression must fail: %s", out);
		cr_assert_not_null(strstr(out, "REGRESSED"));
		cr_assert_not_null(strstr(out, "-20.0%"));
		free(out);
	}
	{
		/* The same on the wall-clock metric. */
		const char *argv[] = {atrest(), "bench", "compare",
		    "--metric", "wall", "--max-regression", "10", steady, reg,
		    NULL};

		cr_assert_eq(run(&c, argv), 1);
	}
	{
		const char *argv[] = {atrest(), "bench", "compare",
		    "--metric", "fastest", base, reg, NULL};

		cr_assert_eq(run(&c, argv), 2, "unknown metric is a usage error");
	}
	{
		const char *argv[] = {atrest(), "bench", "compare",
		    "--max-regression", "10", steady, ok, NULL};

		rc = run(&c, argv);
		out = slurp(c.out);
		cr_assert_eq(rc, 0, "5%% everywhere is inside 10%%: %s", out);
		free(out);
	}
	{
		const char *argv[] = {atrest(), "bench", "compare", base, junk,
		    NULL};

		rc = run(&c, argv);
		err = slurp(c.err);
		cr_assert_eq(rc, 2, "a bad file is an input error");
		cr_assert_not_null(strstr(err, "schema"), "%s", err);
		free(err);
	}
	{
		/* Two repetitions can never reach p < 0.05: exit 3 with
		 * the reason, not 0. */
		const char *argv[] = {atrest(), "bench", "compare", "--alpha",
		    "0.3", steady, few, NULL};

		cr_assert_eq(run(&c, argv), 0, "alpha 0.3 is reachable");
	}
	{
		const char *argv[] = {atrest(), "bench", "compare", steady,
		    few, NULL};

		rc = run(&c, argv);
		err = slurp(c.err);
		cr_assert_eq(rc, 3, "too few repetitions must not pass: %s",
		    err);
		cr_assert_not_null(strstr(err, "could not judge"), "%s", err);
		free(err);
	}
	{
		const char *argv[] = {atrest(), "bench", "compare", base, NULL};

		cr_assert_eq(run(&c, argv), 2);
	}
	free(base);
	free(steady);
	free(reg);
	free(ok);
	free(junk);
	free(few);
	ctx_free(&c);
}

Test(bench_cli, public_key_skips_decrypt, .timeout = 180)
{
	struct ctx c;
	char *key, *pub, *uri, *json;
	cJSON *j, *cell;
	int rc, enc = 0, skipped = 0;

	ctx_init(&c, "bench-e2e-pub");
	key = tu_path(c.dir, "k.pem");
	pub = tu_path(c.dir, "k.pem.pub");
	json = tu_path(c.dir, "r.json");
	{
		const char *argv[] = {atrest(), "keygen", "--type", "rsa-2048",
		    "-o", key, NULL};

		cr_assert_eq(run(&c, argv), 0);
	}
	uri = malloc(strlen(pub) + 6);
	cr_assert_not_null(uri);
	memcpy(uri, "file:", 5);
	memcpy(uri + 5, pub, strlen(pub) + 1);
	{
		const char *argv[] = {atrest(), "bench", QUICK, "--keys", uri,
		    "--hierarchy", "per-object", "--json", json, "--no-table",
		    NULL};
		char *err;

		rc = run(&c, argv);
		err = slurp(c.err);
		cr_assert_eq(rc, 0, "exit %d: %s", rc, err);
		free(err);
	}
	j = load_json(json);
	cJSON_ArrayForEach(cell, cJSON_GetObjectItem(j, "cells")) {
		const char *op = cJSON_GetObjectItem(cell, "op")->valuestring;
		int sk = cJSON_IsTrue(cJSON_GetObjectItem(cell, "skipped"));

		cr_assert_str_eq(cJSON_GetObjectItem(cell, "key")->valuestring,
		    uri, "a URI key is named by its URI");
		if (strcmp(op, "decrypt") == 0) {
			cr_assert(sk, "decrypt with a public key must be skipped");
			cr_assert_not_null(strstr(cJSON_GetObjectItem(cell,
			    "note")->valuestring, "cannot unwrap"));
			skipped++;
		} else {
			cr_assert(!sk);
			cr_assert(cJSON_IsTrue(cJSON_GetObjectItem(cell, "cmk")));
			enc++;
		}
	}
	cr_assert_eq(enc, 1);
	cr_assert_eq(skipped, 1);
	cJSON_Delete(j);
	free(key);
	free(pub);
	free(uri);
	free(json);
	ctx_free(&c);
}

Test(bench_cli, limits_only, .timeout = 180)
{
	struct ctx c;
	char *out;
	const char *argv[] = {atrest(), "bench", "--limits", "--keys",
	    "rsa-2048", "--sizes", "16K", "--time", "0.01", "--reps", "2", NULL};

	ctx_init(&c, "bench-e2e-limits");
	cr_assert_eq(run(&c, argv), 0);
	out = slurp(c.out);
	cr_assert_not_null(strstr(out, "aes-256-gcm-stream-16384"));
	cr_assert_not_null(strstr(out, "rsa-2048-public"));
	cr_assert_not_null(strstr(out, "harness:"));
	cr_assert_null(strstr(out, "targets"), "no cells with --limits");
	free(out);
	ctx_free(&c);
}

/*
 * Revocation latency (issue 11, item 7): with a 2 s cache TTL the cached
 * and intermediate readers go on decrypting for about the TTL after the
 * key is disabled (2 s +- 1 s: the disable comes 0.5 s after their
 * unwrap), per-object stops at once (< 1 s), and the writers stop
 * within their key lifetime (1 s here).  Without the cache's TTL the
 * caching readers never stop: censored, the test fails.
 */
static const cJSON *
rev_row(const cJSON *rows, const char *hier, const char *op)
{
	const cJSON *r;

	cJSON_ArrayForEach(r, rows) {
		const char *h = cJSON_GetStringValue(
		    cJSON_GetObjectItemCaseSensitive(r, "hierarchy"));
		const char *o = cJSON_GetStringValue(
		    cJSON_GetObjectItemCaseSensitive(r, "op"));

		if (h && o && strcmp(h, hier) == 0 && strcmp(o, op) == 0)
			return r;
	}
	cr_assert_fail("no %s %s row", hier, op);
	return NULL;
}

static double
rev_num(const cJSON *row, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(row, name);

	cr_assert(cJSON_IsNumber(v), "%s is not a number", name);
	return v->valuedouble;
}

Test(bench_cli, revocation_latency_follows_cache_ttl, .timeout = 180)
{
	static const char *const hiers[] = {"per-object", "intermediate",
	    "cached"};
	struct ctx c;
	char *json;
	const char *argv[] = {atrest(), "bench", "--revocation",
	    "--hierarchy", "per-object,intermediate,cached", "--cache-ttl",
	    "2", "--cache-max-age", "1", "--intermediate-seconds", "1",
	    "--json", NULL, NULL};
	cJSON *j;
	const cJSON *rows;
	size_t i;
	int rc;

	/* Latency in seconds means nothing when every atrest process runs
	 * under valgrind, some 50 times slower (make check-valgrind sets
	 * ATREST_BIN_OVERRIDE): the normal and ASan runs measure it. */
	if (getenv("ATREST_BIN_OVERRIDE") != NULL)
		cr_skip_test("revocation timings are not measured under "
		    "valgrind");

	ctx_init(&c, "bench-e2e-revocation");
	json = tu_path(c.dir, "rev.json");
	argv[12] = json;
	rc = run(&c, argv);
	cr_assert_eq(rc, 0, "exit %d: %s", rc, slurp(c.err));
	{
		char *out = slurp(c.out);

		cr_assert_not_null(strstr(out, "last success after disable"),
		    "%s", out);
		free(out);
	}
	j = load_json(json);
	cr_assert_str_eq(cJSON_GetStringValue(
	    cJSON_GetObjectItemCaseSensitive(j, "schema")),
	    "atrest-bench-revocation/1");
	rows = cJSON_GetObjectItemCaseSensitive(j, "rows");
	cr_assert_eq(cJSON_GetArraySize(rows), 6);
	for (i = 0; i < 3; i++) {
		const cJSON *rd = rev_row(rows, hiers[i], "decrypt");
		const cJSON *wr = rev_row(rows, hiers[i], "encrypt");
		double ld = rev_num(rd, "revocation_latency_s");
		double lw = rev_num(wr, "revocation_latency_s");

		cr_assert(rev_num(rd, "ops_per_s") > 0);
		cr_assert(rev_num(rd, "kms_calls_per_op") > 0);
		cr_assert(rev_num(rd, "ops_failed") > 0);
		if (i == 0) {
			cr_assert_lt(ld, 1.0, "per-object reader: %g s", ld);
			cr_assert_eq(rev_num(rd, "kms_calls_per_op"), 1.0);
		} else {
			cr_assert_eq(rev_num(rd, "cache_ttl_s"), 2.0);
			cr_assert(ld >= 1.0 && ld <= 3.0,
			    "%s reader with a 2 s TTL: %g s", hiers[i], ld);
			cr_assert_lt(rev_num(rd, "kms_calls_per_op"), 0.5);
		}
		cr_assert_lt(lw, i == 0 ? 1.0 : 2.0, "%s writer: %g s",
		    hiers[i], lw);
	}
	cJSON_Delete(j);
	free(json);
	ctx_free(&c);
}

Test(bench_cli, until_quiet_table_and_json, .timeout = 180)
{
	struct ctx c;
	char *json, *out, *err;
	cJSON *j, *cells, *cell, *rs;
	int rc, n = 0;

	ctx_init(&c, "bench-e2e-quiet");
	json = tu_path(c.dir, "q.json");
	{
		/* --noise 0: no cell can become quiet, so every one gets
		 * rounds until the 0.5 s are spent and the table names it. */
		const char *argv[] = {atrest(), "bench", QUICK, "--keys", "smk",
		    "--hierarchy", "per-object", "--noise", "0",
		    "--until-quiet", "0.5", "--json", json, NULL};

		rc = run(&c, argv);
	}
	out = slurp(c.out);
	err = slurp(c.err);
	cr_assert_eq(rc, 0, "exit %d: %s", rc, err);
	cr_assert_not_null(strstr(out, "until quiet (--until-quiet 0.5 s"),
	    "%s", out);
	cr_assert_not_null(strstr(out, "2 cells stayed noisy:"), "%s", out);
	cr_assert_not_null(strstr(out, "still noisy: per-object"), "%s", out);
	j = load_json(json);
	cells = cJSON_GetObjectItem(j, "cells");
	cJSON_ArrayForEach(cell, cells) {
		double reps = cJSON_GetObjectItem(cell, "reps")->valuedouble;
		double extra = cJSON_GetObjectItem(cell,
		    "extra_reps")->valuedouble;

		cr_assert(cJSON_IsFalse(cJSON_GetObjectItem(cell, "quiet")));
		cr_assert_geq(extra, 1);
		cr_assert_float_eq(reps, 2 + extra, 1e-9);
		cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(cell,
		    "vs_limit_cpu_reps")), (int)reps);
		n++;
	}
	cr_assert_eq(n, 2);
	rs = cJSON_GetObjectItem(j, "run");
	cr_assert_eq(cJSON_GetObjectItem(rs, "until_quiet_cells")->valueint,
	    2);
	cr_assert_float_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(j,
	    "config"), "until_quiet_s")->valuedouble, 0.5, 1e-9);
	cJSON_Delete(j);
	free(out);
	free(err);
	free(json);
	ctx_free(&c);
}

Test(bench_cli, usage_errors)
{
	static const char *const cases[][4] = {
		{"--sizes", "0", NULL, "--sizes"},
		{"--sizes", "2G", NULL, "--sizes"},
		{"--hierarchy", "bucket", NULL, "bucket"},
		{"--ops", "sign", NULL, "sign"},
		{"--threads", "0", NULL, "--threads"},
		{"--time", "abc", NULL, "--time"},
		{"--reps", "0", NULL, "--reps"},
		{"--keys", "rsa-1024", NULL, "rsa-1024"},
		{"--keys", "file:/nonexistent/atrest-key", NULL, "nonexistent"},
		{"extra-arg", NULL, NULL, "extra-arg"},
		{"--cache-ttl", "0", NULL, "--cache-ttl"},
		{"--cache-ttl", "2,x", NULL, "'x'"},
		{"--revocation-window", "0", NULL, "--revocation-window"},
		{"--until-quiet", "-1", NULL, "--until-quiet"},
		{"--until-quiet", "soon", NULL, "--until-quiet"},
		{"--alpha", "0", NULL, "--alpha"},
		{"--alpha", "0.9", NULL, "--alpha"},
	};
	struct ctx c;
	size_t i;

	ctx_init(&c, "bench-e2e-usage");
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *argv[6] = {atrest(), "bench", cases[i][0], cases[i][1],
		    NULL, NULL};
		char *err;
		int rc = run(&c, argv);

		err = slurp(c.err);
		cr_assert_eq(rc, 2, "case %zu: exit %d: %s", i, rc, err);
		cr_assert_not_null(strstr(err, cases[i][3]),
		    "case %zu: the error names '%s': %s", i, cases[i][3], err);
		{
			const char *p;
			int lines = 0;

			for (p = err; *p; p++)
				lines += *p == '\n';
			cr_assert_eq(lines, 1, "case %zu: one line: %s", i, err);
		}
		free(err);
	}
	ctx_free(&c);
}

/* ---- --io DIR ------------------------------------------------------ */

/* Entries of dir besides . and ..; with inner, also those of the
 * directories in it (the run's own directory). */
static int
entries(const char *dir, int inner)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	cr_assert_not_null(d, "%s", dir);
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		n++;
		if (inner && e->d_type == DT_DIR) {
			char *sub = tu_path(dir, e->d_name);

			n += entries(sub, 0);
			free(sub);
		}
	}
	closedir(d);
	return n;
}

static const cJSON *
limit_named(const cJSON *root, const char *name)
{
	const cJSON *l;

	cJSON_ArrayForEach(l, cJSON_GetObjectItem(root, "limits"))
		if (strcmp(cJSON_GetObjectItem(l, "name")->valuestring,
		    name) == 0)
			return l;
	return NULL;
}

Test(bench_cli, io_cells_run_through_files, .timeout = 180)
{
	struct ctx c;
	char *dir, *json, *mem, *out, *err;
	const char *fs;
	cJSON *j, *cell;
	int rc, n = 0;

	ctx_init(&c, "bench-e2e-io");
	dir = tu_path(c.dir, "store");
	json = tu_path(c.dir, "io.json");
	mem = tu_path(c.dir, "mem.json");
	cr_assert_eq(mkdir(dir, 0700), 0);
	{
		const char *argv[] = {atrest(), "bench", QUICK, "--keys",
		    "smk,rsa-3072", "--io", dir, "--json", json, NULL};

		rc = run(&c, argv);
	}
	out = slurp(c.out);
	err = slurp(c.err);
	cr_assert_eq(rc, 0, "exit %d: %s", rc, err);
	cr_assert_not_null(strstr(out, "storage: --io "), "%s", out);
	cr_assert_not_null(strstr(out, "note: cells run through files in "));
	cr_assert_null(strstr(out, "cells run in memory"));
	cr_assert_not_null(strstr(out, "(--io: the targets are set for cells "
	    "in memory"));
	cr_assert_not_null(strstr(out, "io-write-1024"));
	j = load_json(json);
	cr_assert(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(j,
	    "config"), "io")));
	fs = cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(j,
	    "environment"), "io_fs"));
	cr_assert(fs != NULL && *fs != '\0', "environment.io_fs");
	cr_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(
	    cJSON_GetObjectItem(j, "environment"), "io_dir")), dir);
	/* The storage limits, measured on DIR in this run. */
	cr_assert_not_null(limit_named(j, "io-write-1024"));
	cr_assert_not_null(limit_named(j, "io-read-1024"));
	cr_assert_gt(cJSON_GetObjectItem(limit_named(j, "io-write-1024"),
	    "ns_per_op")->valuedouble, 0);
	cr_assert_gt(cJSON_GetObjectItem(limit_named(j, "io-read-1024"),
	    "ns_per_op")->valuedouble, 0);
	cJSON_ArrayForEach(cell, cJSON_GetObjectItem(j, "cells")) {
		const char *what = cJSON_GetObjectItem(cell, "op")->valuestring;

		cr_assert(cJSON_IsFalse(cJSON_GetObjectItem(cell, "skipped")),
		    "%s", cJSON_GetObjectItem(cell, "note")->valuestring);
		cr_assert(cJSON_IsTrue(cJSON_GetObjectItem(cell, "io")));
		cr_assert_str_eq(cJSON_GetObjectItem(cell, "io_fs")->valuestring,
		    fs);
		cr_assert_gt(cJSON_GetObjectItem(cJSON_GetObjectItem(cell,
		    "phase_us"), "io")->valuedouble, 0, "%s: io phase", what);
		cr_assert_gt(cJSON_GetObjectItem(cell,
		    "limit_io_us")->valuedouble, 0);
		n++;
	}
	/* 2 keys x 3 hierarchies x 1 size x 2 ops. */
	cr_assert_eq(n, 12);
	cr_assert_eq(entries(dir, 1), 0, "the run left files in DIR");
	cJSON_Delete(j);
	free(out);
	free(err);
	/* An in-memory run is not compared with it, either way round. */
	{
		const char *argv[] = {atrest(), "bench", QUICK, "--keys", "smk",
		    "--hierarchy", "per-object", "--json", mem, "--no-table",
		    NULL};
		const char *cmp[] = {atrest(), "bench", "compare", mem, json,
		    NULL};
		const char *rev[] = {atrest(), "bench", "compare", json, mem,
		    NULL};

		cr_assert_eq(run(&c, argv), 0);
		cr_assert_eq(run(&c, cmp), 2);
		err = slurp(c.err);
		cr_assert_not_null(strstr(err, "not comparable"), "%s", err);
		free(err);
		cr_assert_eq(run(&c, rev), 2);
	}
	free(dir);
	free(json);
	free(mem);
	ctx_free(&c);
}

Test(bench_cli, io_bad_dir_is_refused)
{
	struct ctx c;
	char *file, *missing;
	size_t i;

	ctx_init(&c, "bench-e2e-io-bad");
	file = tu_path(c.dir, "plain-file");
	missing = tu_path(c.dir, "missing");
	cr_assert_eq(tu_write_file(file, "x", 1), 0);
	for (i = 0; i < 2; i++) {
		const char *d = i ? file : missing;
		const char *argv[] = {atrest(), "bench", "--quick", "--io", d,
		    NULL};
		char *err;
		const char *p;
		int rc = run(&c, argv), lines = 0;

		err = slurp(c.err);
		cr_assert_eq(rc, 2, "%s: exit %d: %s", d, rc, err);
		cr_assert_not_null(strstr(err, d), "names the DIR: %s", err);
		cr_assert_not_null(strstr(err, i ? "not a directory" :
		    "No such file"), "%s", err);
		for (p = err; *p; p++)
			lines += *p == '\n';
		cr_assert_eq(lines, 1, "one line: %s", err);
		free(err);
	}
	/* stdout, stderr and the file: nothing else. */
	cr_assert_eq(entries(c.dir, 0), 3, "nothing created next to it");
	free(file);
	free(missing);
	ctx_free(&c);
}

/* SIGINT in the middle of an --io run: the run stops between two
 * repetitions, removes its files and exits 128 + SIGINT. */
Test(bench_cli, io_interrupt_leaves_dir_empty, .timeout = 180)
{
	struct ctx c;
	char *dir;
	pid_t pid;
	int st, i, busy = 0;

	ctx_init(&c, "bench-e2e-io-int");
	dir = tu_path(c.dir, "store");
	cr_assert_eq(mkdir(dir, 0700), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		const char *argv[] = {atrest(), "bench", "--quick", "--keys",
		    "smk", "--time", "0.2", "--io", dir, NULL};
		int fd = open(c.err, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	/* Wait until the run has files of its own in DIR. */
	for (i = 0; i < 1500 && !busy; i++) {
		busy = entries(dir, 1) > 1;
		if (!busy)
			usleep(10000);
	}
	cr_assert(busy, "the run never wrote into DIR");
	cr_assert_eq(kill(pid, SIGINT), 0);
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFEXITED(st), "killed by signal %d, not cleaned up",
	    WIFSIGNALED(st) ? WTERMSIG(st) : 0);
	cr_assert_eq(WEXITSTATUS(st), 128 + SIGINT);
	cr_assert_eq(entries(dir, 1), 0, "files left in DIR after SIGINT");
	cr_assert(tu_file_contains(c.err, "interrupted"));
	free(dir);
	ctx_free(&c);
}
