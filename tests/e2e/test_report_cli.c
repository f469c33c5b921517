/*
 * test_report_cli.c - `atrest report` as a user runs it, on reports the
 * real `atrest verify` wrote: the committed small store passes and its
 * page shows the nine checks passing; the same store with a tampered
 * object and an unencrypted file (named "<script>...") fails, and the
 * page shows the failing checks, the findings with their fix and the
 * file name as text; merged shard reports say so; an empty store is
 * NOTHING-VERIFIED with exit status 2; bad inputs (not JSON,
 * unknown schema, missing file, a verify report without its summary)
 * exit 2 and write nothing; "-o -" writes the page to stdout.
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

#include "testutil.h"

struct env {
	char *dir, *keys, *cmk, *store, *manifest, *out, *err;
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

static size_t
count(const char *hay, const char *needle)
{
	size_t n = 0, l = strlen(needle);

	while ((hay = strstr(hay, needle)) != NULL) {
		n++;
		hay += l;
	}
	return n;
}

static void
env_init(struct env *e)
{
	static const char *const names[] = {"TEST-ONLY-cmk-rsa3072.pem",
	    "TEST-ONLY-cmk-rsa3072.pem.pub", NULL};
	char *src = root_path("fixtures/verify/small/keys"), *p, *q;
	size_t i;

	memset(e, 0, sizeof(*e));
	e->dir = tu_tmpdir("report-cli");
	cr_assert_not_null(e->dir);
	e->keys = tu_path(e->dir, "keys");
	cr_assert_eq(mkdir(e->keys, 0700), 0);
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
	free(e->out);
	free(e->err);
}

/* `atrest verify --json` of store into json; returns verify's status. */
static int
verify(struct env *e, const char *store, const char *json)
{
	const char *a[] = {"verify", "-q", "-k", e->cmk, "-m", e->manifest,
	    "--json", json, store, NULL};

	return run(e, a);
}

/* `atrest report -o html inputs...`, expecting status want. */
static char *
report(struct env *e, const char *html, const char *in1, const char *in2,
    int want)
{
	const char *a[] = {"report", "-o", html, in1, in2, NULL};
	int rc = run(e, a);
	char *msg = slurp(e->err);

	cr_assert_eq(rc, want, "report exit %d: %s", rc, msg);
	free(msg);
	return want == 0 ? slurp(html) : NULL;
}

/* The section of check id in the page (up to the next section). */
static char *
check_section(const char *h, const char *vid, const char *id)
{
	char key[128], *p, *end, *s;

	snprintf(key, sizeof(key), "<section class=\"check\" id=\"%s-check-%s\""
	    " data-check=\"%s\"", vid, id, id);
	p = strstr(h, key);
	cr_assert_not_null(p, "no section %s", key);
	end = strstr(p + 1, "</section>");
	cr_assert_not_null(end);
	s = strndup(p, (size_t)(end - p));
	cr_assert_not_null(s);
	return s;
}

static const char *const check_ids[] = {"envelope", "recipients",
    "decrypt", "negative", "plaintext", "tamper", "uniqueness", "policy",
    "rotation"};

Test(report_cli, a_passing_store_renders_nine_passing_checks)
{
	struct env e;
	char *json, *html, *h, *s;
	size_t i;

	env_init(&e);
	json = tu_path(e.dir, "pass.json");
	html = tu_path(e.dir, "pass.html");
	cr_assert_eq(verify(&e, e.store, json), 0);
	h = report(&e, html, json, NULL, 0);
	cr_assert_not_null(strstr(h, "<section class=\"verify\" id=\"v1\" "
	    "data-verdict=\"PASS\">"));
	cr_assert_not_null(strstr(h, "<p class=\"verdict\" data-verdict="
	    "\"PASS\"><strong>PASS</strong>"));
	cr_assert_not_null(strstr(h, "exit status 0"));
	cr_assert_eq(count(h, "<section class=\"check\""), 9);
	for (i = 0; i < 9; i++) {
		s = check_section(h, "v1", check_ids[i]);
		cr_assert_not_null(strstr(s, "data-status=\"pass\""), "%s",
		    check_ids[i]);
		cr_assert_not_null(strstr(s, "PASS</span></h3>"));
		free(s);
	}
	/* What was proven: the 17 objects of the fixture, the key. */
	cr_assert_not_null(strstr(h, "proven by decryption (every frame "
	    "authenticated)</th><td>17</td>"));
	cr_assert_not_null(strstr(h, "RSA-3072 private key (file)"));
	cr_assert_not_null(strstr(h, "Policy profile in force: "
	    "<strong>default</strong>"));
	cr_assert_null(strstr(h, "<script"));
	cr_assert_null(strstr(h, "http:"));
	cr_assert_null(strstr(h, "https:"));
	free(h);
	free(json);
	free(html);
	env_free(&e);
}

Test(report_cli, a_tampered_store_renders_the_failures_and_their_fixes)
{
	struct env e;
	char *store, *json, *html, *victim, *planted, *h, *s;
	uint8_t *b;
	size_t n;
	const char *cp[] = {"cp", "-a", NULL, NULL, NULL};

	env_init(&e);
	store = tu_path(e.dir, "store");
	cp[2] = e.store;
	cp[3] = store;
	cr_assert_eq(tu_run(cp, NULL), 0);
	/* A flipped byte in a frame of one object... */
	victim = tu_path(store, "patients/patient-0000.csv");
	b = tu_read_file(victim, &n);
	cr_assert_not_null(b, "%s", victim);
	cr_assert_gt(n, 400);
	b[n - 20] ^= 0x01;
	cr_assert_eq(tu_write_file(victim, b, n), 0);
	free(b);
	/* ... and data stored in the clear under a hostile name. */
	planted = tu_path(store, "<script>alert('x')&amp;.txt");
	cr_assert_eq(tu_write_file(planted, "plain text, not encrypted\n",
	    26), 0);
	json = tu_path(e.dir, "fail.json");
	html = tu_path(e.dir, "fail.html");
	cr_assert_eq(verify(&e, store, json), 1);
	h = report(&e, html, json, NULL, 0);
	cr_assert_not_null(strstr(h, "data-verdict=\"FAIL\""));
	cr_assert_not_null(strstr(h, "<strong>FAIL</strong>"));
	cr_assert_not_null(strstr(h, "exit status 1"));
	cr_assert_eq(count(h, "<section class=\"check\""), 9);
	s = check_section(h, "v1", "envelope");
	cr_assert_not_null(strstr(s, "data-status=\"fail\""));
	cr_assert_not_null(strstr(s, "data-code=\"envelope.not-envelope\" "
	    "data-severity=\"error\""));
	cr_assert_not_null(strstr(s, "&lt;script&gt;alert(&#39;x&#39;)&amp;amp;"
	    ".txt"));
	cr_assert_not_null(strstr(s, "encrypt it (atrest encrypt)"));
	free(s);
	s = check_section(h, "v1", "decrypt");
	cr_assert_not_null(strstr(s, "data-status=\"fail\""));
	cr_assert_not_null(strstr(s, "data-code=\"decrypt.auth-failed\""));
	cr_assert_not_null(strstr(s, "patients/patient-0000.csv"));
	cr_assert_not_null(strstr(s, "restore it; investigate the storage"));
	free(s);
	s = check_section(h, "v1", "tamper");
	cr_assert_not_null(strstr(s, "data-status=\"pass\""));
	free(s);
	cr_assert_null(strstr(h, "<script"), "unescaped <script");
	free(h);
	free(store);
	free(victim);
	free(planted);
	free(json);
	free(html);
	env_free(&e);
}

Test(report_cli, merged_shard_reports_and_several_reports)
{
	struct env e;
	char *s1, *s2, *m, *full, *html, *h, *s;
	int rc;

	env_init(&e);
	s1 = tu_path(e.dir, "s1.json");
	s2 = tu_path(e.dir, "s2.json");
	m = tu_path(e.dir, "merged.json");
	full = tu_path(e.dir, "full.json");
	html = tu_path(e.dir, "m.html");
	{
		const char *a[] = {"verify", "-q", "-k", e.cmk, "-m", e.manifest,
		    "--shard", "1/2", "--allow-empty", "--json", s1, e.store,
		    NULL};

		rc = run(&e, a);
		cr_assert(rc == 0, "shard 1: exit %d", rc);
	}
	{
		const char *a[] = {"verify", "-q", "-k", e.cmk, "-m", e.manifest,
		    "--shard", "2/2", "--allow-empty", "--json", s2, e.store,
		    NULL};

		rc = run(&e, a);
		cr_assert(rc == 0, "shard 2: exit %d", rc);
	}
	{
		const char *a[] = {"verify", "merge", "-q", "--json", m, s1, s2,
		    NULL};

		rc = run(&e, a);
		cr_assert_eq(rc, 0, "merge: exit %d", rc);
	}
	cr_assert_eq(verify(&e, e.store, full), 0);
	h = report(&e, html, m, full, 0);
	cr_assert_not_null(strstr(h, "(merged from 2 shard reports)"));
	/* Shards without a common --fingerprint-key: DEKs were not
	 * compared across them, a warning (docs/VERIFY.md). */
	cr_assert_not_null(strstr(h, "id=\"v1\" data-verdict=\"WARN\""));
	s = check_section(h, "v1", "uniqueness");
	cr_assert_not_null(strstr(s, "data-status=\"warn\""));
	cr_assert_not_null(strstr(s, "data-code=\"uniqueness.dek-unchecked\" "
	    "data-severity=\"warning\""));
	free(s);
	cr_assert_not_null(strstr(h, "id=\"v2\" data-verdict=\"PASS\""));
	cr_assert_eq(count(h, "<section class=\"check\""), 18);
	cr_assert_not_null(strstr(h, "<table class=\"verdicts\">"));
	free(h);
	free(s1);
	free(s2);
	free(m);
	free(full);
	free(html);
	env_free(&e);
}

/* An empty store: verify's "nothing verified" (exit 2) is the verdict
 * shown, with its reason and exit status. */
Test(report_cli, an_empty_store_is_nothing_verified)
{
	struct env e;
	char *store, *json, *html, *h;

	env_init(&e);
	store = tu_path(e.dir, "empty");
	cr_assert_eq(mkdir(store, 0700), 0);
	json = tu_path(e.dir, "empty.json");
	html = tu_path(e.dir, "empty.html");
	{
		const char *a[] = {"verify", "-q", "-k", e.cmk, "--json", json,
		    store, NULL};

		cr_assert_eq(run(&e, a), 2);
	}
	h = report(&e, html, json, NULL, 0);
	cr_assert_not_null(strstr(h, "<section class=\"verify\" id=\"v1\" "
	    "data-verdict=\"NOTHING-VERIFIED\">"));
	cr_assert_not_null(strstr(h, "<strong>NOTHING-VERIFIED</strong>"));
	cr_assert_not_null(strstr(h, "exit status 2"));
	cr_assert_not_null(strstr(h, "Nothing verified: "));
	cr_assert_not_null(strstr(h, "data-code=\"envelope.nothing-verified\""));
	free(h);
	free(store);
	free(json);
	free(html);
	env_free(&e);
}

/* Bad input: exit 2, a one-line message naming the file, nothing
 * written - neither a new file nor a change to an existing one. */
Test(report_cli, bad_inputs_exit_2_and_write_nothing)
{
	static const struct {
		const char *name, *text, *says;
	} bad[] = {
		{"notjson.json", "this is not JSON", "not valid JSON"},
		{"schema.json", "{\"schema\":\"atrest-other/9\"}",
		    "unknown schema"},
		{"noschema.json", "[1,2]", "not a JSON object"},
		{"nosummary.json", "{\"schema\":\"atrest-verify/1\","
		    "\"checks\":[]}", "\"summary\""},
		{"badcheck.json", "{\"schema\":\"atrest-verify/1\","
		    "\"summary\":{\"status\":\"pass\"},\"checks\":[{\"id\":"
		    "\"envelope\",\"status\":\"<b>\"}]}", "checks[0].status"},
	};
	struct env e;
	char *in, *html, *fresh, *msg, *good;
	size_t i;

	env_init(&e);
	html = tu_path(e.dir, "kept.html");
	fresh = tu_path(e.dir, "fresh.html");
	cr_assert_eq(tu_write_file(html, "old page", 8), 0);
	good = tu_path(e.dir, "good.json");
	cr_assert_eq(verify(&e, e.store, good), 0);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		in = tu_path(e.dir, bad[i].name);
		cr_assert_eq(tu_write_file(in, bad[i].text, strlen(bad[i].text)),
		    0);
		/* A good report with the bad one: still nothing written. */
		(void)report(&e, html, good, in, 2);
		msg = slurp(e.err);
		cr_assert_not_null(strstr(msg, bad[i].name), "%s", msg);
		cr_assert_not_null(strstr(msg, bad[i].says), "%s", msg);
		cr_assert_eq(count(msg, "\n"), 1, "one line: %s", msg);
		free(msg);
		msg = slurp(html);
		cr_assert_str_eq(msg, "old page");
		free(msg);
		(void)report(&e, fresh, in, NULL, 2);
		cr_assert_neq(access(fresh, F_OK), 0, "%s written", fresh);
		free(in);
	}
	in = tu_path(e.dir, "missing.json");
	(void)report(&e, fresh, in, NULL, 2);
	cr_assert_neq(access(fresh, F_OK), 0);
	msg = slurp(e.err);
	cr_assert_not_null(strstr(msg, "missing.json"), "%s", msg);
	free(msg);
	free(in);
	{
		const char *a[] = {"report", "-o", fresh, NULL};

		cr_assert_eq(run(&e, a), 2, "no input");
	}
	free(html);
	free(fresh);
	free(good);
	env_free(&e);
}

Test(report_cli, dash_writes_the_page_to_stdout)
{
	struct env e;
	char *json, *page;

	env_init(&e);
	json = tu_path(e.dir, "r.json");
	cr_assert_eq(verify(&e, e.store, json), 0);
	{
		const char *a[] = {"report", "-o", "-", "--title", "T <&>", json,
		    NULL};

		cr_assert_eq(run(&e, a), 0);
	}
	page = slurp(e.out);
	cr_assert_eq(strncmp(page, "<!DOCTYPE html>", 15), 0);
	cr_assert_not_null(strstr(page, "<title>T &lt;&amp;&gt;</title>"));
	cr_assert_not_null(strstr(page, "</html>\n"));
	cr_assert_neq(access("-", F_OK), 0, "a file named - was written");
	free(page);
	free(json);
	env_free(&e);
}
