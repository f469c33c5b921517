/*
 * test_cli.c - the atrest binary end to end: help and usage errors,
 * keygen, encrypt/decrypt of files, stdin/stdout and directory trees,
 * several recipients, inspect (text and JSON), and tampered inputs.
 *
 * The binary is $ATREST_BIN (scripts/run-tests.sh sets it), else
 * build/atrest.  Documented exit codes: 0 success, 1 authentication
 * failed / no key opens the data / not an envelope, 2 usage,
 * configuration or I/O error.  A failed decryption must print one line
 * naming the file and leave nothing at OUT: no output file and no
 * .atrest-tmp-* in the output directory.
 *
 * Keys are generated once per run in the runner (PRE_ALL).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/hooks.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "envelope.h"
#include "envtest.h"
#include "key.h"
#include "testutil.h"

static const char *const key_types[] = {
	"rsa-a=rsa-2048", "rsa-b=rsa-2048", "aes=aes-256", "aes-b=aes-256",
	NULL,
};

ReportHook(PRE_ALL)(struct criterion_test_set *set)
{
	(void)set;
	if (et_keydir_create("cli-keys", key_types) != ATR_OK)
		fprintf(stderr, "test_cli: key generation failed: %s\n",
		    atr_detail());
}

ReportHook(POST_ALL)(struct criterion_global_stats *stats)
{
	(void)stats;
	et_keydir_remove();
}

static char *dir;
static const char *bin;

static void
setup(void)
{
	bin = getenv("ATREST_BIN");
	if (bin == NULL || *bin == '\0')
		bin = "build/atrest";
	cr_assert_eq(access(bin, X_OK), 0, "%s is not executable (set ATREST_BIN)",
	    bin);
	cr_assert_not_null(et_keydir(), "%s not set: keygen failed",
	    ET_KEYDIR_ENV);
	dir = tu_tmpdir("cli");
	cr_assert_not_null(dir);
}

static char *pool[64];
static size_t npool;

static void
teardown(void)
{
	while (npool > 0)
		free(pool[--npool]);
	tu_rmtree(dir);
	free(dir);
}

TestSuite(cli, .init = setup, .fini = teardown, .timeout = 60);

/* ---- running the binary --------------------------------------------- */

struct run {
	int rc;
	char *out, *err;
	size_t out_len;
};

static void
run_free(struct run *r)
{
	free(r->out);
	free(r->err);
	memset(r, 0, sizeof(*r));
}

/* Runs bin with args (NULL-terminated), stdin from in (or /dev/null),
 * env entries added to the environment (tu_run_opts.env; may be NULL). */
static struct run
run_v(const char *in, const char *const *env, const char *const *args)
{
	const char *argv[64];
	char *o = tu_path(dir, ".stdout"), *e = tu_path(dir, ".stderr");
	struct tu_run_opts opts = {0};
	struct run r;
	size_t n = 0;

	argv[n++] = bin;
	while (*args != NULL && n < 63)
		argv[n++] = *args++;
	argv[n] = NULL;
	opts.stdin_path = in;
	opts.env = env;
	opts.stdout_path = o;
	opts.stderr_path = e;
	opts.timeout_ms = 30000;
	r.rc = tu_run(argv, &opts);
	r.out = (char *)tu_read_file(o, &r.out_len);
	r.err = (char *)tu_read_file(e, NULL);
	cr_assert_not_null(r.out);
	cr_assert_not_null(r.err);
	unlink(o);
	unlink(e);
	free(o);
	free(e);
	return r;
}

#define RUN(...) run_v(NULL, NULL, (const char *const[]){__VA_ARGS__, NULL})
#define RUN_IN(in, ...) \
	run_v(in, NULL, (const char *const[]){__VA_ARGS__, NULL})
#define RUN_ENV(env, ...) \
	run_v(NULL, env, (const char *const[]){__VA_ARGS__, NULL})

static void
expect_rc(const struct run *r, int want, const char *what)
{
	cr_assert_eq(r->rc, want, "%s: exit %d, want %d; stderr: %s", what,
	    r->rc, want, r->err);
}

/* Exactly one line on stderr that names path. */
static void
one_line_naming(const struct run *r, const char *path, const char *what)
{
	cr_assert_eq(et_count_lines(r->err), 1, "%s: stderr is not one line: %s",
	    what, r->err);
	cr_assert_not_null(strstr(r->err, path), "%s: stderr does not name %s: %s",
	    what, path, r->err);
	cr_assert(strncmp(r->err, "atrest", 6) == 0, "%s: %s", what, r->err);
}

static char *
p(const char *name)
{
	char *s = tu_path(dir, name);

	cr_assert_not_null(s);
	return s;
}

/* Strings kept for the test's lifetime, freed by teardown (LeakSanitizer
 * runs in the sanitizer build). */

/* "file:KEYDIR/name" */
static const char *
kuri(const char *name)
{
	char *u = et_key_uri(name);

	cr_assert_not_null(u);
	cr_assert_lt(npool, 64);
	pool[npool++] = u;
	return u;
}

static const char *
keep(char *s)
{
	cr_assert_lt(npool, 64);
	pool[npool++] = s;
	return s;
}

static const char *
P(const char *name)
{
	return keep(p(name));
}

static void
write_random(const char *path, size_t n, uint32_t seed)
{
	uint8_t *b = malloc(n + 1);

	et_fill(b, n, seed);
	cr_assert_eq(tu_write_file(path, b, n), 0);
	free(b);
}

static int
same_file(const char *a, const char *b)
{
	size_t la = 0, lb = 0;
	uint8_t *x = tu_read_file(a, &la), *y = tu_read_file(b, &lb);
	int same = x != NULL && y != NULL && la == lb &&
	    memcmp(x, y, la) == 0;

	free(x);
	free(y);
	return same;
}

static void
mkd(const char *path)
{
	cr_assert_eq(mkdir(path, 0755), 0, "mkdir %s", path);
}

static const char *
key_id_of(const char *name)
{
	struct atr_key *k = NULL;
	char *id;

	cr_assert_eq(et_key_open(name, &k), ATR_OK, "%s", atr_detail());
	id = strdup(k->key_id);
	atr_key_free(k);
	return keep(id);
}

/* ---- help, version, usage errors ------------------------------------ */

Test(cli, help_and_version)
{
	static const char *const cmds[] = {"encrypt", "decrypt", "inspect",
	    "keygen"};
	struct run r;
	char want[64];
	size_t i;

	r = RUN("--help");
	expect_rc(&r, 0, "--help");
	cr_assert_not_null(strstr(r.out, "usage: atrest"));
	for (i = 0; i < 4; i++)
		cr_assert_not_null(strstr(r.out, cmds[i]), "%s listed", cmds[i]);
	cr_assert_not_null(strstr(r.out, "exit codes"));
	cr_assert_str_eq(r.err, "");
	run_free(&r);
	r = RUN("-h");
	expect_rc(&r, 0, "-h");
	run_free(&r);

	r = RUN("--version");
	expect_rc(&r, 0, "--version");
	snprintf(want, sizeof(want), "atrest %s\n", ATR_VERSION_STRING);
	cr_assert_str_eq(r.out, want);
	run_free(&r);

	for (i = 0; i < 4; i++) {
		snprintf(want, sizeof(want), "usage: atrest %s", cmds[i]);
		r = RUN(cmds[i], "--help");
		expect_rc(&r, 0, cmds[i]);
		cr_assert_not_null(strstr(r.out, want), "%s --help: %s", cmds[i],
		    r.out);
		cr_assert_str_eq(r.err, "", "%s --help wrote to stderr", cmds[i]);
		run_free(&r);
		r = RUN(cmds[i], "-h");
		expect_rc(&r, 0, cmds[i]);
		run_free(&r);
	}
}

Test(cli, usage_errors_exit_2)
{
	const char *k = kuri("aes"), *in = P("in"), *out = P("out");
	struct run r;
	size_t i;
	struct {
		const char *what;
		const char *const args[8];
	} cases[] = {
		{"unknown option", {"encrypt", "--bogus", NULL}},
		{"no key", {"encrypt", "-o", out, in, NULL}},
		{"no output", {"encrypt", "-k", k, in, NULL}},
		{"no input", {"encrypt", "-k", k, "-o", out, NULL}},
		{"two inputs", {"encrypt", "-k", k, "-o", out, in, in, NULL}},
		{"frame size 63", {"encrypt", "-k", k, "-f", "63", "-o", out, NULL}},
		{"frame size junk", {"encrypt", "-k", k, "-f", "1x", "-o", out,
		    NULL}},
		{"decrypt option", {"decrypt", "--nope", NULL}},
		{"decrypt no key", {"decrypt", "-o", out, in, NULL}},
		{"inspect no file", {"inspect", NULL}},
		{"inspect option", {"inspect", "--bogus", NULL}},
		{"keygen no args", {"keygen", NULL}},
		{"keygen type", {"keygen", "--type", "rsa-1024", "-o", out, NULL}},
	};

	cr_assert_eq(tu_write_file(in, "x", 1), 0);
	r = RUN("frobnicate");
	expect_rc(&r, 2, "unknown command");
	one_line_naming(&r, "frobnicate", "unknown command");
	run_free(&r);
	{
		const char *argv[] = {bin, NULL};
		struct tu_run_opts o = {0};

		cr_assert_eq(tu_run(argv, &o), 2, "no command");
	}
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		r = run_v(NULL, NULL, cases[i].args);
		expect_rc(&r, 2, cases[i].what);
		cr_assert_gt(strlen(r.err), 0, "%s: silent", cases[i].what);
		cr_assert_eq(et_count_lines(r.err), 1, "%s: %s", cases[i].what,
		    r.err);
		run_free(&r);
	}
	cr_assert_eq(access(out, F_OK), -1, "no output on a usage error");
	/* An empty number is not 0 (the vault client read it so), and NaN
	 * is no number of seconds: the option is named. */
	r = RUN("vault", "get", "https://127.0.0.1:9/keys/k", "--retries", "");
	expect_rc(&r, 2, "empty --retries");
	one_line_naming(&r, "--retries", "empty --retries");
	run_free(&r);
	r = RUN("vault", "rotation-policy", "get", "https://127.0.0.1:9/keys/k",
	    "--retries", "");
	expect_rc(&r, 2, "empty rotation-policy --retries");
	one_line_naming(&r, "--retries", "empty rotation-policy --retries");
	run_free(&r);
	r = RUN("verify", "-k", k, "--cache-ttl", "nan", in);
	expect_rc(&r, 2, "--cache-ttl nan");
	one_line_naming(&r, "--cache-ttl", "--cache-ttl nan");
	run_free(&r);
}

/* ---- keygen --------------------------------------------------------- */

Test(cli, keygen_rsa_and_aes)
{
	const char *rsa = P("k.pem"), *aes = P("k.aes"), *pt = P("pt");
	const char *ct = P("ct"), *back = P("back");
	char pub[PATH_MAX], ru[PATH_MAX + 8], pu[PATH_MAX + 8], au[PATH_MAX + 8];
	uint8_t *before;
	size_t n = 0;
	struct run r;

	r = RUN("keygen", "--type", "rsa-2048", "-o", rsa);
	expect_rc(&r, 0, "keygen rsa");
	run_free(&r);
	snprintf(pub, sizeof(pub), "%s.pub", rsa);
	cr_assert_eq(et_file_mode(rsa), 0600);
	cr_assert_eq(et_file_mode(pub), 0644);
	r = RUN("keygen", "-t", "aes-256", "-o", aes);
	expect_rc(&r, 0, "keygen aes");
	run_free(&r);
	cr_assert_eq(et_file_mode(aes), 0600);
	before = tu_read_file(aes, &n);
	cr_assert_eq(n, 65);

	/* never overwrites; says so in one line naming the path */
	r = RUN("keygen", "-t", "aes-256", "-o", aes);
	expect_rc(&r, 2, "keygen over an existing key");
	one_line_naming(&r, aes, "keygen exists");
	cr_assert_not_null(strstr(r.err, "exist"), "%s", r.err);
	run_free(&r);
	{
		uint8_t *after = tu_read_file(aes, NULL);

		cr_assert_str_eq((char *)after, (char *)before);
		free(after);
	}
	free(before);
	r = RUN("keygen", "-t", "rsa-2048", "-o", rsa);
	expect_rc(&r, 2, "keygen rsa over existing");
	run_free(&r);

	/* the generated keys work: .pub encrypts, the private key opens */
	snprintf(ru, sizeof(ru), "file:%s", rsa);
	snprintf(pu, sizeof(pu), "file:%s", pub);
	snprintf(au, sizeof(au), "file:%s", aes);
	write_random(pt, 3000, 1);
	r = RUN("encrypt", "-k", pu, "-k", au, "-o", ct, pt);
	expect_rc(&r, 0, "encrypt with new keys");
	run_free(&r);
	r = RUN("decrypt", "-k", ru, "-o", back, ct);
	expect_rc(&r, 0, "decrypt with new rsa");
	run_free(&r);
	cr_assert(same_file(pt, back));
	unlink(back);
	r = RUN("decrypt", "-k", au, "-o", back, ct);
	expect_rc(&r, 0, "decrypt with new aes");
	run_free(&r);
	cr_assert(same_file(pt, back));
	cr_assert(!et_tree_has_tmp(dir));
}

/* ---- round trips ---------------------------------------------------- */

Test(cli, file_roundtrips)
{
	static const struct {
		size_t len;
		const char *fs;
		size_t fsn;
	} t[] = {
		{0, NULL, 65536}, {1, NULL, 65536}, {200000, NULL, 65536},
		{65536 * 2, NULL, 65536}, {5000, "1K", 1024}, {1024, "1K", 1024},
		{1000, "64", 64}, {129, "--frame-size=64", 64},
	};
	const char *k = kuri("aes"), *pt = P("pt"), *ct = P("ct");
	const char *back = P("back");
	struct atr_header h;
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct run r;
		uint8_t *c;
		size_t cl = 0, nf;

		write_random(pt, t[i].len, (uint32_t)i);
		unlink(ct);
		unlink(back);
		if (t[i].fs == NULL)
			r = RUN("encrypt", "-k", k, "-o", ct, pt);
		else if (t[i].fs[0] == '-')
			r = RUN("encrypt", "--key", k, t[i].fs, "--output", ct, pt);
		else
			r = RUN("encrypt", "-k", k, "-f", t[i].fs, "-o", ct, pt);
		expect_rc(&r, 0, "encrypt");
		cr_assert_str_eq(r.err, "", "one file: no summary");
		run_free(&r);
		cr_assert_eq(et_file_mode(ct), 0644);
		c = tu_read_file(ct, &cl);
		cr_assert_eq(atr_header_parse(c, cl, &h), ATR_OK);
		cr_assert_eq(h.frame_size, t[i].fsn, "case %zu", i);
		nf = t[i].len == 0 ? 1 : (t[i].len + t[i].fsn - 1) / t[i].fsn;
		cr_assert_eq(cl, h.len + t[i].len + nf * 16, "case %zu size", i);
		free(c);
		r = RUN("decrypt", "-k", k, "-o", back, ct);
		expect_rc(&r, 0, "decrypt");
		cr_assert_str_eq(r.err, "");
		run_free(&r);
		cr_assert(same_file(pt, back), "case %zu differs", i);
		cr_assert_eq(et_file_mode(back), 0600, "plaintext is private");
	}
	/* decrypt replaces an existing OUT only once it authenticated */
	write_random(back, 10, 99);
	{
		struct run r = RUN("decrypt", "-k", k, "-o", back, ct);

		expect_rc(&r, 0, "decrypt over existing");
		run_free(&r);
	}
	cr_assert(same_file(pt, back));
	cr_assert(!et_tree_has_tmp(dir));
}

/* --jobs: a multi-batch object sealed and opened on several threads (the
 * library suite pins the batch arithmetic; here the CLI's files). */
Test(cli, jobs_roundtrip_and_tamper)
{
	const char *k = kuri("aes"), *pt = P("pt"), *c1 = P("c1"), *c2 = P("c2");
	const char *c0 = P("c0"), *back = P("back"), *bad = P("bad");
	static const char *const jobs[] = {"1", "2", "0"};
	const char *cts[] = {c1, c2, c0};
	uint8_t *c;
	size_t cl = 0, i, j;
	struct run r;

	write_random(pt, 2 * 1024 * 1024 + 5, 31);
	for (i = 0; i < 3; i++) {
		r = RUN("encrypt", "-k", k, "-j", jobs[i], "-o", cts[i], pt);
		expect_rc(&r, 0, "encrypt -j");
		run_free(&r);
		for (j = 0; j < 3; j++) {
			unlink(back);
			r = RUN("decrypt", "-k", k, "--jobs", jobs[j], "-o", back,
			    cts[i]);
			expect_rc(&r, 0, "decrypt -j");
			run_free(&r);
			cr_assert(same_file(pt, back), "sealed -j %s, opened -j %s",
			    jobs[i], jobs[j]);
		}
	}
	r = RUN("encrypt", "-k", k, "-j", "65", "-o", c1, pt);
	expect_rc(&r, 2, "-j 65");
	run_free(&r);
	r = RUN("decrypt", "-k", k, "-j", "two", "-o", back, c1);
	expect_rc(&r, 2, "-j two");
	run_free(&r);
	/* A flipped bit in a middle frame: exit 1 on two threads, nothing at
	 * OUT, no temporary file left. */
	c = tu_read_file(c2, &cl);
	cr_assert_not_null(c);
	c[cl / 2] ^= 0x10;
	cr_assert_eq(tu_write_file(bad, c, cl), 0);
	free(c);
	unlink(back);
	r = RUN("decrypt", "-k", k, "-j", "2", "-o", back, bad);
	expect_rc(&r, 1, "tampered, -j 2");
	one_line_naming(&r, bad, "tampered, -j 2");
	run_free(&r);
	cr_assert_eq(access(back, F_OK), -1, "output left");
	cr_assert(!et_tree_has_tmp(dir));
	/* To standard output, even with -j 2: exit 1, and what came out is
	 * the plaintext of every frame before the spoilt one, in order (one
	 * thread, as the usage text promises; batches on several threads
	 * would stop at the start of the failing batch, or leave holes). */
	r = RUN("decrypt", "-k", k, "-j", "2", "-o", "-", bad);
	expect_rc(&r, 1, "tampered to stdout, -j 2");
	{
		size_t pl = 0, spoilt;
		uint8_t *p = tu_read_file(pt, &pl), *cb;
		struct atr_header h;

		cb = tu_read_file(bad, &cl);
		cr_assert_not_null(p);
		cr_assert_not_null(cb);
		cr_assert_eq(atr_header_parse(cb, cl, &h), ATR_OK);
		spoilt = (cl / 2 - h.len) / (65536 + 16);
		cr_assert_eq(r.out_len, spoilt * 65536, "stdout holds %zu "
		    "bytes, want the %zu frames before the spoilt one",
		    r.out_len, spoilt);
		cr_assert(memcmp(r.out, p, r.out_len) == 0,
		    "stdout is not a prefix of the plaintext");
		free(p);
		free(cb);
	}
	run_free(&r);
}

Test(cli, stdin_and_stdout)
{
	const char *k = kuri("rsa-a.pub"), *kp = kuri("rsa-a");
	const char *pt = P("pt"), *ct = P("ct"), *back = P("back");
	const char *ct2 = P("ct2");
	struct run r;

	write_random(pt, 150000, 7);
	r = RUN_IN(pt, "encrypt", "-k", k, "-o", "-", "-");
	expect_rc(&r, 0, "encrypt stdin to stdout");
	cr_assert_gt(r.out_len, 150000);
	cr_assert(memcmp(r.out, "ATREST", 6) == 0);
	cr_assert_eq(tu_write_file(ct, r.out, r.out_len), 0);
	run_free(&r);
	r = RUN_IN(ct, "decrypt", "-k", kp, "-o", "-", "-");
	expect_rc(&r, 0, "decrypt stdin to stdout");
	cr_assert_eq(tu_write_file(back, r.out, r.out_len), 0);
	run_free(&r);
	cr_assert(same_file(pt, back));
	/* mixed: stdin to a file, a file to stdout */
	r = RUN_IN(pt, "encrypt", "-k", k, "-o", ct2, "-");
	expect_rc(&r, 0, "encrypt stdin to file");
	run_free(&r);
	r = RUN("decrypt", "-k", kp, "-o", "-", ct2);
	expect_rc(&r, 0, "decrypt file to stdout");
	cr_assert_eq(tu_write_file(back, r.out, r.out_len), 0);
	run_free(&r);
	cr_assert(same_file(pt, back));
	/* an empty stdin is an empty object */
	r = RUN("encrypt", "-k", k, "-o", ct2, "-");
	expect_rc(&r, 0, "encrypt empty stdin");
	run_free(&r);
	r = RUN("decrypt", "-k", kp, "-o", "-", ct2);
	expect_rc(&r, 0, "decrypt empty");
	cr_assert_eq(r.out_len, 0, "decrypting the empty object wrote %zu "
	    "bytes (first: %.40s); stderr: %s", r.out_len, r.out, r.err);
	run_free(&r);
}

static void
make_tree(const char *root)
{
	char path[PATH_MAX];

	mkd(root);
	snprintf(path, sizeof(path), "%s/a.txt", root);
	write_random(path, 100, 1);
	snprintf(path, sizeof(path), "%s/.hidden", root);
	write_random(path, 70000, 2);
	snprintf(path, sizeof(path), "%s/empty", root);
	write_random(path, 0, 3);
	snprintf(path, sizeof(path), "%s/sub", root);
	mkd(path);
	snprintf(path, sizeof(path), "%s/sub/b.bin", root);
	write_random(path, 65536, 4);
	snprintf(path, sizeof(path), "%s/sub/deeper", root);
	mkd(path);
	snprintf(path, sizeof(path), "%s/sub/deeper/c", root);
	write_random(path, 5, 5);
	snprintf(path, sizeof(path), "%s/sub/deeper/.d", root);
	write_random(path, 1, 6);
}

Test(cli, directory_tree_mirrored)
{
	static const char *const files[] = {"a.txt", ".hidden", "empty",
	    "sub/b.bin", "sub/deeper/c", "sub/deeper/.d"};
	const char *k = kuri("aes"), *in = P("in"), *enc = P("enc");
	const char *dec = P("dec"), *inner = P("in/enc");
	char a[PATH_MAX], b[PATH_MAX];
	struct run r;
	size_t i;

	make_tree(in);
	r = RUN("encrypt", "-k", k, "-o", enc, in);
	expect_rc(&r, 0, "encrypt tree");
	cr_assert_not_null(strstr(r.err, "6 file(s) encrypted, 0 failed"), "%s",
	    r.err);
	run_free(&r);
	cr_assert_eq(et_tree_count(enc), et_tree_count(in), "same entries");
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		uint8_t *c;
		size_t cl = 0;

		snprintf(a, sizeof(a), "%s/%s", in, files[i]);
		snprintf(b, sizeof(b), "%s/%s", enc, files[i]);
		c = tu_read_file(b, &cl);
		cr_assert_not_null(c, "%s not mirrored", files[i]);
		cr_assert(memcmp(c, "ATREST", 6) == 0, "%s", files[i]);
		cr_assert(!same_file(a, b));
		free(c);
	}
	r = RUN("decrypt", "-k", k, "-o", dec, enc);
	expect_rc(&r, 0, "decrypt tree");
	cr_assert_not_null(strstr(r.err, "6 file(s) decrypted, 0 failed"), "%s",
	    r.err);
	run_free(&r);
	cr_assert(et_trees_equal(in, dec), "decrypted tree differs");
	cr_assert(!et_tree_has_tmp(enc) && !et_tree_has_tmp(dec));
	/* an output inside the input would be walked while written */
	r = RUN("encrypt", "-k", k, "-o", inner, in);
	expect_rc(&r, 2, "output inside input");
	run_free(&r);
	/* a directory cannot go to stdout */
	r = RUN("encrypt", "-k", k, "-o", "-", in);
	expect_rc(&r, 2, "directory to stdout");
	run_free(&r);
}

Test(cli, several_recipients_each_alone)
{
	static const char *const privs[] = {"rsa-a", "rsa-b", "aes"};
	const char *pt = P("pt"), *ct = P("ct"), *back = P("back");
	struct run r;
	size_t i;

	write_random(pt, 70000, 8);
	r = RUN("encrypt", "-k", kuri("rsa-a.pub"), "-k", kuri("rsa-b.pub"),
	    "-k", kuri("aes"), "-o", ct, pt);
	expect_rc(&r, 0, "encrypt for 3");
	run_free(&r);
	for (i = 0; i < 3; i++) {
		unlink(back);
		r = RUN("decrypt", "-k", kuri(privs[i]), "-o", back, ct);
		expect_rc(&r, 0, privs[i]);
		run_free(&r);
		cr_assert(same_file(pt, back), "%s", privs[i]);
	}
	/* a non-recipient first, then a recipient */
	unlink(back);
	r = RUN("decrypt", "-k", kuri("aes-b"), "-k", kuri("rsa-b"), "-o", back,
	    ct);
	expect_rc(&r, 0, "second key opens");
	run_free(&r);
	cr_assert(same_file(pt, back));
	unlink(back);
	r = RUN("decrypt", "-k", kuri("aes-b"), "-o", back, ct);
	expect_rc(&r, 1, "not a recipient");
	one_line_naming(&r, ct, "not a recipient");
	run_free(&r);
	cr_assert_eq(access(back, F_OK), -1);
}

/* ---- inspect -------------------------------------------------------- */

static const cJSON *
field(const cJSON *o, const char *name)
{
	const cJSON *f = cJSON_GetObjectItemCaseSensitive(o, name);

	cr_assert_not_null(f, "JSON has no \"%s\"", name);
	return f;
}

Test(cli, inspect_text_and_json)
{
	static const char *const names[] = {"rsa-a.pub", "aes", "rsa-b.pub"};
	const char *pt = P("pt"), *ct = P("ct"), *ct2 = P("ct2");
	uint8_t *c;
	size_t cl = 0, i;
	char *oid, line[128];
	struct run r;
	cJSON *doc;
	const cJSON *rec, *arr;

	write_random(pt, 10000, 9);
	r = RUN("encrypt", "-k", kuri(names[0]), "-k", kuri(names[1]), "-k",
	    kuri(names[2]), "-f", "4K", "-o", ct, pt);
	expect_rc(&r, 0, "encrypt");
	run_free(&r);
	c = tu_read_file(ct, &cl);
	oid = tu_hex(c + 10, 32);
	free(c);

	r = RUN("inspect", ct);
	expect_rc(&r, 0, "inspect");
	cr_assert_str_eq(r.err, "");
	cr_assert_not_null(strstr(r.out, oid), "object id shown");
	cr_assert_not_null(strstr(r.out, "version       1"), "%s", r.out);
	cr_assert_not_null(strstr(r.out, "0x0001"));
	cr_assert_not_null(strstr(r.out, "frame size    4096"));
	cr_assert_not_null(strstr(r.out, "frames        3"));
	cr_assert_not_null(strstr(r.out, "plaintext     10000 bytes"));
	cr_assert_not_null(strstr(r.out, "recipients    3"));
	for (i = 0; i < 3; i++)
		cr_assert_not_null(strstr(r.out, key_id_of(names[i])), "%s",
		    names[i]);
	snprintf(line, sizeof(line), "%s:", ct);
	cr_assert(strncmp(r.out, line, strlen(line)) == 0, "%s", r.out);
	run_free(&r);

	r = RUN("inspect", "--json", ct);
	expect_rc(&r, 0, "inspect --json");
	doc = cJSON_Parse(r.out);
	cr_assert_not_null(doc, "not JSON: %s", r.out);
	cr_assert(cJSON_IsObject(doc), "one file gives one object");
	cr_assert_str_eq(cJSON_GetStringValue(field(doc, "file")), ct);
	cr_assert(cJSON_IsTrue(field(doc, "well_formed")));
	cr_assert_eq(field(doc, "version")->valuedouble, 1);
	cr_assert_str_eq(cJSON_GetStringValue(field(doc, "suite")), "0x0001");
	cr_assert_str_eq(cJSON_GetStringValue(field(doc, "object_id")), oid);
	cr_assert_eq(field(doc, "frame_size")->valuedouble, 4096);
	cr_assert_eq(field(doc, "frame_count")->valuedouble, 3);
	cr_assert_eq(field(doc, "plaintext_size")->valuedouble, 10000);
	cr_assert_eq(field(doc, "file_size")->valuedouble, (double)cl);
	cr_assert_eq(field(doc, "header_size")->valuedouble + 10000 + 3 * 16,
	    (double)cl);
	arr = field(doc, "recipients");
	cr_assert(cJSON_IsArray(arr));
	cr_assert_eq(cJSON_GetArraySize(arr), 3);
	for (i = 0; i < 3; i++) {
		int is_aes = strcmp(names[i], "aes") == 0;

		rec = cJSON_GetArrayItem(arr, (int)i);
		cr_assert_str_eq(cJSON_GetStringValue(field(rec, "provider")),
		    is_aes ? "file-aes" : "file-rsa");
		cr_assert_str_eq(cJSON_GetStringValue(field(rec, "key_id")),
		    key_id_of(names[i]));
		cr_assert_str_eq(cJSON_GetStringValue(field(rec, "alg")),
		    is_aes ? "AES-KWP" : "RSA-OAEP-256");
		cr_assert_str_eq(cJSON_GetStringValue(field(rec, "hierarchy")),
		    "per-object");
		cr_assert_eq(field(rec, "wrapped_size")->valuedouble,
		    is_aes ? 72 : 256);
	}
	cJSON_Delete(doc);
	run_free(&r);

	/* two files give an array, in order */
	r = RUN("encrypt", "-k", kuri("aes"), "-o", ct2, pt);
	run_free(&r);
	r = RUN("inspect", "-j", ct, ct2);
	expect_rc(&r, 0, "inspect two");
	doc = cJSON_Parse(r.out);
	cr_assert(cJSON_IsArray(doc), "%s", r.out);
	cr_assert_eq(cJSON_GetArraySize(doc), 2);
	cr_assert_str_eq(cJSON_GetStringValue(field(cJSON_GetArrayItem(doc, 1),
	    "file")), ct2);
	cr_assert_eq(field(cJSON_GetArrayItem(doc, 1), "frame_size")->valuedouble,
	    65536);
	cJSON_Delete(doc);
	run_free(&r);
	free(oid);
}

Test(cli, inspect_refuses_non_envelopes)
{
	const char *junk = P("junk.bin"), *ct = P("ct"), *cut = P("cut");
	const char *pt = P("pt"), *missing = P("missing");
	uint8_t *c;
	size_t cl = 0;
	struct run r;
	cJSON *doc;

	write_random(junk, 5000, 10);
	r = RUN("inspect", junk);
	expect_rc(&r, 1, "inspect junk");
	one_line_naming(&r, junk, "inspect junk");
	cr_assert_not_null(strstr(r.out, "not a well-formed"), "%s", r.out);
	run_free(&r);
	r = RUN("inspect", "--json", junk);
	expect_rc(&r, 1, "inspect --json junk");
	doc = cJSON_Parse(r.out);
	cr_assert_not_null(doc, "%s", r.out);
	cr_assert(cJSON_IsFalse(field(doc, "well_formed")));
	cr_assert_not_null(cJSON_GetStringValue(field(doc, "error")));
	cJSON_Delete(doc);
	run_free(&r);

	/* an envelope cut inside its header, or inside its last tag */
	write_random(pt, 100, 11);
	r = RUN("encrypt", "-k", kuri("aes"), "-o", ct, pt);
	run_free(&r);
	c = tu_read_file(ct, &cl);
	cr_assert_eq(tu_write_file(cut, c, 100), 0);
	r = RUN("inspect", cut);
	expect_rc(&r, 1, "inspect cut header");
	one_line_naming(&r, cut, "cut header");
	run_free(&r);
	cr_assert_eq(tu_write_file(cut, c, cl - 100 - 1), 0);
	r = RUN("inspect", cut);
	expect_rc(&r, 1, "inspect cut body");
	one_line_naming(&r, cut, "cut body");
	run_free(&r);
	free(c);
	/* one bad among good ones: still 1; a missing file: 2 */
	r = RUN("inspect", ct, junk);
	expect_rc(&r, 1, "good and bad");
	run_free(&r);
	r = RUN("inspect", missing);
	expect_rc(&r, 2, "missing");
	one_line_naming(&r, missing, "missing");
	run_free(&r);
}

/* ---- tampering through the CLI -------------------------------------- */

enum tamper { T_HEADER_OID, T_HEADER_STANZA, T_HEADER_MAC, T_BODY,
	T_TRUNC1, T_TRUNC_BOUNDARY, T_TRUNC_HEADER, T_APPEND1, T_APPEND17,
	T_SWAP, T_DROP_LAST, T_COUNT };

static const char *const tamper_names[] = {"header object id",
	"header stanza", "header MAC", "body byte", "truncate 1",
	"truncate at frame boundary", "truncate in header", "append 1",
	"append 17", "swap frames", "drop final frame"};

static uint8_t *
tampered(const uint8_t *c, size_t cl, enum tamper t, size_t *out_len)
{
	struct atr_header h;
	uint8_t *b = NULL;
	size_t f1, f2, last;

	cr_assert_eq(atr_header_parse(c, cl, &h), ATR_OK);
	f1 = et_frame_off(h.len, h.frame_size, 1);
	f2 = et_frame_off(h.len, h.frame_size, 2);
	last = et_frame_off(h.len, h.frame_size, 4);
	*out_len = cl;
	switch (t) {
	case T_HEADER_OID:
	case T_HEADER_STANZA:
	case T_HEADER_MAC:
	case T_BODY:
		b = et_splice(c, cl, 0, 0, NULL, 0, out_len);
		b[t == T_HEADER_OID ? 20 : t == T_HEADER_STANZA ? 100 :
		    t == T_HEADER_MAC ? h.len - 1 : f2 + 7] ^= 0x01;
		break;
	case T_TRUNC1:
		b = et_splice(c, cl, cl - 1, 1, NULL, 0, out_len);
		break;
	case T_TRUNC_BOUNDARY:
		b = et_splice(c, cl, f2, cl - f2, NULL, 0, out_len);
		break;
	case T_TRUNC_HEADER:
		b = et_splice(c, cl, 60, cl - 60, NULL, 0, out_len);
		break;
	case T_APPEND1:
		b = et_splice(c, cl, cl, 0, (const uint8_t *)"x", 1, out_len);
		break;
	case T_APPEND17:
		b = et_splice(c, cl, cl, 0, c + 100, 17, out_len);
		break;
	case T_SWAP:
		b = et_splice(c, cl, 0, 0, NULL, 0, out_len);
		memcpy(b + f1, c + f2, f2 - f1);
		memcpy(b + f2, c + f1, f2 - f1);
		break;
	case T_DROP_LAST:
		b = et_splice(c, cl, last, cl - last, NULL, 0, out_len);
		break;
	case T_COUNT:
		break;
	}
	cr_assert_not_null(b);
	return b;
}

Test(cli, tampered_inputs_fail_cleanly)
{
	const char *k = kuri("aes"), *pt = P("pt"), *ct = P("ct");
	const char *in = P("in"), *bad = P("in/obj.atr"), *outd = P("out");
	const char *outf = P("out/obj.txt"), *keepf = P("keep.txt");
	const char *all = P("all"), *allout = P("allout");
	char path[PATH_MAX];
	uint8_t *c, *b;
	size_t cl = 0, bl, t;
	struct run r;

	mkd(in);
	mkd(outd);
	mkd(all);
	/* 4 full frames and a short one at F = 1 KiB */
	write_random(pt, 4 * 1024 + 100, 12);
	r = RUN("encrypt", "-k", kuri("rsa-a.pub"), "-k", k, "-f", "1K", "-o",
	    ct, pt);
	expect_rc(&r, 0, "encrypt");
	run_free(&r);
	c = tu_read_file(ct, &cl);
	for (t = 0; t < T_COUNT; t++) {
		b = tampered(c, cl, (enum tamper)t, &bl);
		cr_assert_eq(tu_write_file(bad, b, bl), 0);
		snprintf(path, sizeof(path), "%s/case%02zu", all, t);
		cr_assert_eq(tu_write_file(path, b, bl), 0);
		free(b);
		/* Process start-up is the cost here: the variants below run
		 * for a few cases only; the library suite covers them all. */
		r = RUN("decrypt", "-k", t % 2 ? kuri("rsa-a") : k, "-o", outf,
		    bad);
		expect_rc(&r, 1, tamper_names[t]);
		one_line_naming(&r, bad, tamper_names[t]);
		run_free(&r);
		cr_assert_eq(access(outf, F_OK), -1, "%s: output left",
		    tamper_names[t]);
		cr_assert_eq(et_tree_count(outd), 0, "%s: something left in OUT",
		    tamper_names[t]);
		if (t != T_BODY && t != T_TRUNC_BOUNDARY && t != T_APPEND17)
			continue;
		/* an existing OUT is left as it was */
		cr_assert_eq(tu_write_file(keepf, "precious", 8), 0);
		r = RUN("decrypt", "-k", k, "-o", keepf, bad);
		expect_rc(&r, 1, tamper_names[t]);
		run_free(&r);
		{
			uint8_t *kept = tu_read_file(keepf, NULL);

			cr_assert_str_eq((char *)kept, "precious", "%s",
			    tamper_names[t]);
			free(kept);
		}
		/* to stdout: frames may have been written, but exit is 1 */
		r = RUN("decrypt", "-k", k, "-o", "-", bad);
		expect_rc(&r, 1, tamper_names[t]);
		one_line_naming(&r, bad, tamper_names[t]);
		run_free(&r);
	}
	/* every variant at once, as a tree: each named, nothing written */
	r = RUN("decrypt", "-k", k, "-o", allout, all);
	expect_rc(&r, 1, "tree of tampered objects");
	for (t = 0; t < T_COUNT; t++) {
		snprintf(path, sizeof(path), "%s/case%02zu:", all, t);
		cr_assert_not_null(strstr(r.err, path), "%s not reported: %s",
		    path, r.err);
	}
	cr_assert_eq(et_count_lines(r.err), T_COUNT + 1, "%s", r.err);
	run_free(&r);
	cr_assert_eq(et_tree_count(allout), 0, "output written for a bad object");
	/* the untouched object still opens */
	cr_assert_eq(tu_write_file(bad, c, cl), 0);
	r = RUN("decrypt", "-k", k, "-o", outf, bad);
	expect_rc(&r, 0, "control");
	run_free(&r);
	cr_assert(same_file(pt, outf));
	unlink(outf);
	/* a key that is no recipient */
	r = RUN("decrypt", "-k", kuri("aes-b"), "-o", outf, bad);
	expect_rc(&r, 1, "wrong key");
	one_line_naming(&r, bad, "wrong key");
	run_free(&r);
	cr_assert_eq(et_tree_count(outd), 0);
	free(c);
	cr_assert(!et_tree_has_tmp(dir));
}

Test(cli, tree_with_one_tampered_file)
{
	const char *k = kuri("aes"), *in = P("in"), *enc = P("enc");
	const char *dec = P("dec"), *victim = P("enc/sub/b.bin");
	const char *good = P("dec/sub/deeper/c"), *gone = P("dec/sub/b.bin");
	uint8_t *c;
	size_t cl = 0;
	struct run r;

	make_tree(in);
	r = RUN("encrypt", "-k", k, "-o", enc, in);
	expect_rc(&r, 0, "encrypt tree");
	run_free(&r);
	c = tu_read_file(victim, &cl);
	c[cl - 3] ^= 0x80;
	cr_assert_eq(tu_write_file(victim, c, cl), 0);
	free(c);
	r = RUN("decrypt", "-k", k, "-o", dec, enc);
	expect_rc(&r, 1, "one bad file");
	cr_assert_not_null(strstr(r.err, victim), "%s", r.err);
	cr_assert_not_null(strstr(r.err, "5 file(s) decrypted, 1 failed"), "%s",
	    r.err);
	cr_assert_eq(et_count_lines(r.err), 2, "one line for the file and the "
	    "summary: %s", r.err);
	run_free(&r);
	cr_assert_eq(access(gone, F_OK), -1, "tampered file decrypted");
	cr_assert_eq(access(good, F_OK), 0, "the others are processed");
	cr_assert(!et_tree_has_tmp(dec));
}

/* A tree of 60 files processed by 1, 3 and 8 workers: the same outputs,
 * every bad file named once, the counts right, nothing half-written. */
Test(cli, tree_jobs_agree)
{
	const char *k = kuri("aes"), *in = P("in"), *enc = P("enc");
	static const char *const jobs[] = {"1", "3", "8"};
	char path[PATH_MAX], want[64];
	size_t i, j;
	struct run r;

	mkd(in);
	for (i = 0; i < 6; i++) {
		snprintf(path, sizeof(path), "%s/d%zu", in, i);
		mkd(path);
		for (j = 0; j < 10; j++) {
			snprintf(path, sizeof(path), "%s/d%zu/f%zu", in, i, j);
			write_random(path, 100 + 997 * j + 31 * i,
			    (uint32_t)(i * 10 + j));
		}
	}
	r = RUN("encrypt", "-k", k, "-j", "4", "-o", enc, in);
	expect_rc(&r, 0, "encrypt tree -j 4");
	cr_assert_not_null(strstr(r.err, "60 file(s) encrypted, 0 failed"),
	    "%s", r.err);
	run_free(&r);
	/* Spoil one file in each of three directories. */
	for (i = 0; i < 3; i++) {
		uint8_t *c;
		size_t cl = 0;

		snprintf(path, sizeof(path), "%s/d%zu/f%zu", enc, 2 * i, i + 3);
		c = tu_read_file(path, &cl);
		cr_assert_not_null(c);
		c[cl - 1] ^= 0x01;
		cr_assert_eq(tu_write_file(path, c, cl), 0);
		free(c);
	}
	for (i = 0; i < 3; i++) {
		char dec[64];

		snprintf(dec, sizeof(dec), "dec%s", jobs[i]);
		r = RUN("decrypt", "-k", k, "-j", jobs[i], "-o", P(dec), enc);
		expect_rc(&r, 1, "decrypt tree");
		cr_assert_not_null(strstr(r.err, "57 file(s) decrypted, 3 failed"),
		    "-j %s: %s", jobs[i], r.err);
		cr_assert_eq(et_count_lines(r.err), 4, "-j %s: %s", jobs[i],
		    r.err);
		for (j = 0; j < 3; j++) {
			snprintf(want, sizeof(want), "/d%zu/f%zu: ", 2 * j, j + 3);
			cr_assert_not_null(strstr(r.err, want), "-j %s: %s not "
			    "named: %s", jobs[i], want, r.err);
		}
		run_free(&r);
		for (j = 0; j < 60; j++) {
			char a[PATH_MAX], b[PATH_MAX];
			size_t d = j / 10, f = j % 10;
			int bad = d % 2 == 0 && f == d / 2 + 3; /* spoilt above */

			snprintf(a, sizeof(a), "%s/d%zu/f%zu", in, d, f);
			snprintf(b, sizeof(b), "%s/%s/d%zu/f%zu", dir, dec, d, f);
			if (bad)
				cr_assert_eq(access(b, F_OK), -1, "%s written", b);
			else
				cr_assert(same_file(a, b), "-j %s: %s differs",
				    jobs[i], b);
		}
		snprintf(path, sizeof(path), "%s/%s", dir, dec);
		cr_assert(!et_tree_has_tmp(path));
	}
}

/* libcurl and libmicrohttpd are opened only when a command needs them
 * (core/dlib.h): with both made unloadable, local keys work as ever,
 * and a vault key or `vault serve` fails with a one-line reason. */
Test(cli, network_libraries_load_on_demand)
{
	static const char *const env[] = {
	    "ATREST_LIBCURL=/nonexistent/libcurl.so.4",
	    "ATREST_LIBMICROHTTPD=/nonexistent/libmicrohttpd.so.12", NULL};
	const char *k = kuri("aes"), *pt = P("pt"), *ct = P("ct");
	const char *back = P("back"), *ct2 = P("ct2");
	struct run r;

	write_random(pt, 70000, 5);
	r = RUN_ENV(env, "encrypt", "-q", "-k", k, "-o", ct, pt);
	expect_rc(&r, 0, "local key without the network libraries");
	run_free(&r);
	r = RUN_ENV(env, "decrypt", "-q", "-k", k, "-o", back, ct);
	expect_rc(&r, 0, "local key without the network libraries");
	run_free(&r);
	cr_assert(same_file(pt, back));
	r = RUN_ENV(env, "encrypt", "-q", "-k", "https://127.0.0.1:9/keys/cmk",
	    "-o", ct2, pt);
	expect_rc(&r, 2, "vault key without libcurl");
	cr_assert_eq(et_count_lines(r.err), 1, "%s", r.err);
	cr_assert_not_null(strstr(r.err, "cannot load libcurl: "
	    "/nonexistent/libcurl.so.4"), "%s", r.err);
	run_free(&r);
	cr_assert_eq(access(ct2, F_OK), -1);
	r = RUN_ENV(env, "vault", "serve", "--state", P("vault"), "--listen",
	    "127.0.0.1:0");
	expect_rc(&r, 2, "vault serve without libmicrohttpd");
	cr_assert_not_null(strstr(r.err, "cannot load libmicrohttpd"), "%s",
	    r.err);
	run_free(&r);
}

/* ---- key and input errors ------------------------------------------- */

Test(cli, key_and_input_errors_exit_2)
{
	const char *pt = P("pt"), *ct = P("ct"), *out = P("out");
	const char *missing = "/nonexistent/atrest-e2e.key";
	char mu[64];
	struct run r;

	snprintf(mu, sizeof(mu), "file:%s", missing);
	write_random(pt, 10, 13);
	r = RUN("encrypt", "-k", mu, "-o", ct, pt);
	expect_rc(&r, 2, "missing key file");
	one_line_naming(&r, missing, "missing key file");
	run_free(&r);
	cr_assert_eq(access(ct, F_OK), -1);
	r = RUN("encrypt", "-k", "nope:thing", "-o", ct, pt);
	expect_rc(&r, 2, "unknown scheme");
	one_line_naming(&r, "nope:thing", "unknown scheme");
	run_free(&r);

	r = RUN("encrypt", "-k", kuri("rsa-a.pub"), "-o", ct, pt);
	expect_rc(&r, 0, "encrypt");
	run_free(&r);
	r = RUN("decrypt", "-k", mu, "-o", out, ct);
	expect_rc(&r, 2, "decrypt with missing key file");
	one_line_naming(&r, missing, "decrypt missing key");
	run_free(&r);
	/* the public key names the recipient but cannot open it */
	r = RUN("decrypt", "-k", kuri("rsa-a.pub"), "-o", out, ct);
	expect_rc(&r, 2, "decrypt with a public key");
	one_line_naming(&r, ct, "public key");
	cr_assert_not_null(strstr(r.err, "private key"), "%s", r.err);
	run_free(&r);
	cr_assert_eq(access(out, F_OK), -1);
	/* a missing input */
	r = RUN("encrypt", "-k", kuri("aes"), "-o", out, P("nothing"));
	expect_rc(&r, 2, "missing input");
	cr_assert_not_null(strstr(r.err, "nothing"));
	run_free(&r);
	/* a world-readable private key */
	{
		const char *lax = P("lax.pem");
		char lu[PATH_MAX + 8];
		char *src = et_key_path("rsa-a");
		size_t n = 0;
		uint8_t *pem = tu_read_file(src, &n);

		cr_assert_eq(tu_write_file(lax, pem, n), 0);
		cr_assert_eq(chmod(lax, 0644), 0);
		snprintf(lu, sizeof(lu), "file:%s", lax);
		r = RUN("decrypt", "-k", lu, "-o", out, ct);
		expect_rc(&r, 2, "lax private key");
		one_line_naming(&r, lax, "lax key");
		cr_assert_not_null(strstr(r.err, "chmod 600"), "%s", r.err);
		run_free(&r);
		free(pem);
		free(src);
	}
	cr_assert(!et_tree_has_tmp(dir));
}
