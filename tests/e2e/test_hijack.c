/*
 * test_hijack.c - planted FIFOs, symbolic links and hostile file names
 * against the atrest binary: what another local user can leave where
 * atrest (often root) will write or read (docs/FILES.md).
 *
 * - A FIFO at OUT must neither receive the plaintext nor hang the
 *   command; a link at OUT is not followed; -o /dev/null and -o
 *   /dev/stdout still work.
 * - Links planted inside an output tree (directories and files, at
 *   several depths) never send a write outside OUT.
 * - A FIFO given as a key file or read by inspect does not hang; a
 *   symbolic link as the input root is exit 2; --frame-size overflowing
 *   2^64 is refused.
 * - File names with a newline and escape sequences cannot forge or erase
 *   lines in verify's text report or in error messages.
 *
 * Every run is bounded (tu_run timeout): a hang fails the test instead of
 * the whole suite.  Keys are generated once per run in the runner.
 */
#include <errno.h>
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
#include <criterion/hooks.h>

#include "envtest.h"
#include "testutil.h"

static const char *const key_types[] = {"aes=aes-256", NULL};

ReportHook(PRE_ALL)(struct criterion_test_set *set)
{
	(void)set;
	if (et_keydir_create("hijack-keys", key_types) != ATR_OK)
		fprintf(stderr, "test_hijack: key generation failed: %s\n",
		    atr_detail());
}

ReportHook(POST_ALL)(struct criterion_global_stats *stats)
{
	(void)stats;
	et_keydir_remove();
}

static char *dir;
static const char *bin;
static char *key;   /* "file:KEYDIR/aes" */

static void
setup(void)
{
	bin = getenv("ATREST_BIN");
	if (bin == NULL || *bin == '\0')
		bin = "build/atrest";
	cr_assert_eq(access(bin, X_OK), 0, "%s is not executable", bin);
	cr_assert_not_null(et_keydir(), "%s not set: keygen failed",
	    ET_KEYDIR_ENV);
	key = et_key_uri("aes");
	cr_assert_not_null(key);
	dir = tu_tmpdir("hijack");
	cr_assert_not_null(dir);
}

static void pool_free(void);

static void
teardown(void)
{
	pool_free();
	if (dir != NULL)
		tu_rmtree(dir);
	free(dir);
	free(key);
	dir = NULL;
	key = NULL;
}

/* A hang is killed after 20 s and reported as TU_RUN_TIMEOUT; an
 * answer takes milliseconds, so the margin covers a loaded machine and
 * the sanitizer build. */
#define BOUND_MS 20000U

TestSuite(hijack, .init = setup, .fini = teardown, .timeout = 120);

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

static struct run
run_v(const char *const *args)
{
	const char *argv[32];
	char *o = tu_path(dir, ".stdout"), *e = tu_path(dir, ".stderr");
	struct tu_run_opts opts = {0};
	struct run r;
	size_t n = 0;

	argv[n++] = bin;
	while (*args != NULL && n < 31)
		argv[n++] = *args++;
	argv[n] = NULL;
	opts.stdout_path = o;
	opts.stderr_path = e;
	opts.timeout_ms = BOUND_MS;
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

#define RUN(...) run_v((const char *const[]){__VA_ARGS__, NULL})

static void
expect_rc(const struct run *r, int want, const char *what)
{
	cr_assert_neq(r->rc, TU_RUN_TIMEOUT, "%s: hung (killed after %u ms)",
	    what, BOUND_MS);
	cr_assert_eq(r->rc, want, "%s: exit %d, want %d; stderr: %s", what,
	    r->rc, want, r->err);
}

/* dir/rel, kept until the end of the test (freed by the pool). */
static char *pool[64];
static size_t npool;

static const char *
P(const char *rel)
{
	char *s = tu_path(dir, rel);

	cr_assert_not_null(s);
	cr_assert_lt(npool, 64);
	pool[npool++] = s;
	return s;
}

static void
pool_free(void)
{
	while (npool > 0)
		free(pool[--npool]);
}

static void
put(const char *path, const char *text)
{
	cr_assert_eq(tu_write_file(path, text, strlen(text)), 0, "%s", path);
}

static void
mkd(const char *path)
{
	cr_assert_eq(mkdir(path, 0755), 0, "mkdir %s: %s", path,
	    strerror(errno));
}

static void
lnk(const char *target, const char *path)
{
	cr_assert_eq(symlink(target, path), 0, "symlink %s: %s", path,
	    strerror(errno));
}

static int
is_link(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0 && S_ISLNK(st.st_mode);
}

static int
is_fifo(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0 && S_ISFIFO(st.st_mode);
}

/* No byte of text is a C0 control but '\n', nor DEL, nor ESC. */
static void
no_control_bytes(const char *text, const char *what)
{
	const unsigned char *p = (const unsigned char *)text;

	for (; *p != '\0'; p++)
		cr_assert(*p == '\n' || (*p >= 0x20 && *p != 0x7f),
		    "%s: raw control byte 0x%02x in: %s", what, *p, text);
}

/* An encrypted object ct of plaintext pt (with text). */
static void
make_object(const char *pt, const char *ct, const char *text)
{
	struct run r;

	put(pt, text);
	r = RUN("encrypt", "-k", key, "-o", ct, pt);
	expect_rc(&r, 0, "encrypt");
	run_free(&r);
}

/* ---- 8: the output path ---------------------------------------------- */

Test(hijack, planted_fifo_at_output_gets_nothing_and_does_not_hang)
{
	const char *pt = P("pt"), *ct = P("ct"), *fifo = P("fifo");
	char buf[4096];
	struct run r;
	ssize_t n;
	int rfd;

	make_object(pt, ct, "the secret plaintext\n");
	cr_assert_eq(mkfifo(fifo, 0666), 0);
	/* No reader: an open for writing would wait for ever. */
	r = RUN("decrypt", "-k", key, "-o", fifo, ct);
	expect_rc(&r, 2, "decrypt into a FIFO without a reader");
	cr_assert_not_null(strstr(r.err, fifo), "names OUT: %s", r.err);
	cr_assert_not_null(strstr(r.err, "FIFO"), "says why: %s", r.err);
	run_free(&r);
	/* A reader waiting (the planting user): it must get nothing. */
	rfd = open(fifo, O_RDONLY | O_NONBLOCK);
	cr_assert_geq(rfd, 0);
	r = RUN("decrypt", "-k", key, "-o", fifo, ct);
	n = read(rfd, buf, sizeof(buf));
	close(rfd);
	expect_rc(&r, 2, "decrypt into a FIFO with a reader");
	cr_assert(n <= 0, "the FIFO received %zd bytes of plaintext", n);
	run_free(&r);
	/* Nor the ciphertext, and the FIFO is still there. */
	rfd = open(fifo, O_RDONLY | O_NONBLOCK);
	cr_assert_geq(rfd, 0);
	r = RUN("encrypt", "-k", key, "-o", fifo, pt);
	n = read(rfd, buf, sizeof(buf));
	close(rfd);
	expect_rc(&r, 2, "encrypt into a FIFO");
	cr_assert(n <= 0, "the FIFO received %zd bytes", n);
	run_free(&r);
	cr_assert(is_fifo(fifo), "the FIFO was replaced");
	cr_assert(!et_tree_has_tmp(dir));
}

Test(hijack, planted_symlink_at_output_is_not_followed)
{
	const char *pt = P("pt"), *ct = P("ct"), *out = P("out");
	const char *victim = P("victim"), *fifo = P("fifo"), *out2 = P("out2");
	char buf[4096];
	struct run r;
	uint8_t *v;
	ssize_t n;
	int rfd;

	make_object(pt, ct, "plaintext\n");
	put(victim, "victim's own data\n");
	lnk(victim, out);
	r = RUN("decrypt", "-k", key, "-o", out, ct);
	expect_rc(&r, 2, "decrypt onto a link");
	cr_assert_not_null(strstr(r.err, "symbolic link"), "%s", r.err);
	run_free(&r);
	cr_assert(is_link(out), "the link was replaced");
	v = tu_read_file(victim, NULL);
	cr_assert_str_eq((char *)v, "victim's own data\n");
	free(v);
	/* a link to a FIFO (with a reader): never followed into it */
	cr_assert_eq(mkfifo(fifo, 0666), 0);
	lnk(fifo, out2);
	rfd = open(fifo, O_RDONLY | O_NONBLOCK);
	cr_assert_geq(rfd, 0);
	r = RUN("decrypt", "-k", key, "-o", out2, ct);
	n = read(rfd, buf, sizeof(buf));
	close(rfd);
	expect_rc(&r, 2, "decrypt onto a link to a FIFO");
	cr_assert(n <= 0, "%zd bytes of plaintext went through the link", n);
	run_free(&r);
	cr_assert(!et_tree_has_tmp(dir));
}

Test(hijack, dev_null_and_stdout_names_still_work)
{
	const char *pt = P("pt"), *ct = P("ct");
	struct stat st;
	struct run r;
	mode_t mode;

	make_object(pt, ct, "to nowhere\n");
	/* c103f07: written in place, the device node stays a device */
	r = RUN("encrypt", "-k", key, "-o", "/dev/null", pt);
	expect_rc(&r, 0, "encrypt -o /dev/null");
	run_free(&r);
	r = RUN("decrypt", "-k", key, "-o", "/dev/null", ct);
	expect_rc(&r, 0, "decrypt -o /dev/null");
	run_free(&r);
	cr_assert_eq(stat("/dev/null", &st), 0);
	cr_assert(S_ISCHR(st.st_mode), "/dev/null is no longer a device");
	/* /dev/stdout is standard output by name, not a path to resolve:
	 * nothing is renamed over the node in /dev */
	cr_assert_eq(lstat("/dev/stdout", &st), 0);
	mode = st.st_mode & S_IFMT;
	r = RUN("decrypt", "-k", key, "-o", "/dev/stdout", ct);
	expect_rc(&r, 0, "decrypt -o /dev/stdout");
	cr_assert_str_eq(r.out, "to nowhere\n");
	run_free(&r);
	cr_assert_eq(lstat("/dev/stdout", &st), 0);
	cr_assert_eq(st.st_mode & S_IFMT, mode, "/dev/stdout was replaced");
}

/* ---- 9: planted links inside the output tree -------------------------- */

static void
make_input_tree(void)
{
	mkd(P("in"));
	put(P("in/a.txt"), "secret a\n");
	put(P("in/ok.txt"), "secret ok\n");
	mkd(P("in/sub"));
	put(P("in/sub/b.txt"), "secret b\n");
	mkd(P("in/sub/deeper"));
	put(P("in/sub/deeper/c.txt"), "secret c\n");
	mkd(P("in/x"));
	put(P("in/x/w.txt"), "secret w\n");
	mkd(P("in/x/y"));
	put(P("in/x/y/z.txt"), "secret z\n");
	mkd(P("in/x/v"));
	put(P("in/x/v/u.txt"), "secret u\n");
}

/* dec/ with links planted by another user at depths 1 and 2, to
 * directories and to files outside it. */
static void
plant_output_tree(const char *dec)
{
	char p[PATH_MAX];

	mkd(P("outside"));
	mkd(P("outside2"));
	put(P("victim"), "victim\n");
	put(P("victim2"), "victim2\n");
	mkd(dec);
	snprintf(p, sizeof(p), "%s/sub", dec);
	lnk("../outside", p);                        /* dir, depth 1 */
	snprintf(p, sizeof(p), "%s/a.txt", dec);
	lnk(P("victim"), p);                         /* file, depth 1 */
	snprintf(p, sizeof(p), "%s/x", dec);
	mkd(p);
	snprintf(p, sizeof(p), "%s/x/y", dec);
	lnk(P("outside2"), p);                       /* dir, depth 2 */
	snprintf(p, sizeof(p), "%s/x/w.txt", dec);
	lnk("../../victim2", p);                     /* file, depth 2 */
}

static void
check_nothing_escaped(const char *dec)
{
	char p[PATH_MAX];
	uint8_t *v;

	cr_assert_eq(et_tree_count(P("outside")), 0,
	    "plaintext written through dec/sub into outside/");
	cr_assert_eq(et_tree_count(P("outside2")), 0,
	    "plaintext written through dec/x/y into outside2/");
	v = tu_read_file(P("victim"), NULL);
	cr_assert_str_eq((char *)v, "victim\n", "victim overwritten");
	free(v);
	v = tu_read_file(P("victim2"), NULL);
	cr_assert_str_eq((char *)v, "victim2\n", "victim2 overwritten");
	free(v);
	snprintf(p, sizeof(p), "%s/sub", dec);
	cr_assert(is_link(p));
	snprintf(p, sizeof(p), "%s/a.txt", dec);
	cr_assert(is_link(p));
	snprintf(p, sizeof(p), "%s/x/y", dec);
	cr_assert(is_link(p));
	snprintf(p, sizeof(p), "%s/x/w.txt", dec);
	cr_assert(is_link(p));
	/* what was not planted is decrypted: the run went on */
	snprintf(p, sizeof(p), "%s/ok.txt", dec);
	v = tu_read_file(p, NULL);
	cr_assert_not_null(v, "dec/ok.txt missing");
	cr_assert_str_eq((char *)v, "secret ok\n");
	free(v);
	snprintf(p, sizeof(p), "%s/x/v/u.txt", dec);
	v = tu_read_file(p, NULL);
	cr_assert_not_null(v, "dec/x/v/u.txt missing");
	free(v);
	cr_assert(!et_tree_has_tmp(dir), "temporary file left");
}

static void
planted_tree(const char *jobs)
{
	const char *enc = P("enc"), *dec = P("dec");
	struct run r;

	make_input_tree();
	r = RUN("encrypt", "-q", "-k", key, "-o", enc, P("in"));
	expect_rc(&r, 0, "encrypt the tree");
	run_free(&r);
	plant_output_tree(dec);
	r = RUN("decrypt", "-k", key, "-j", jobs, "-o", dec, enc);
	expect_rc(&r, 2, "decrypt into a planted tree");
	cr_assert_not_null(strstr(r.err, "symbolic link"), "%s", r.err);
	run_free(&r);
	check_nothing_escaped(dec);
}

Test(hijack, planted_links_in_output_tree_one_job)
{
	planted_tree("1");
}

Test(hijack, planted_links_in_output_tree_four_jobs)
{
	planted_tree("4");
}

/* The output root itself: a link there is not followed either. */
Test(hijack, output_root_symlink_is_refused)
{
	const char *enc = P("enc"), *dec = P("dec");
	struct run r;

	make_input_tree();
	r = RUN("encrypt", "-q", "-k", key, "-o", enc, P("in"));
	expect_rc(&r, 0, "encrypt the tree");
	run_free(&r);
	mkd(P("outside"));
	lnk(P("outside"), dec);
	r = RUN("decrypt", "-q", "-k", key, "-o", dec, enc);
	expect_rc(&r, 2, "decrypt into a linked root");
	run_free(&r);
	cr_assert_eq(et_tree_count(P("outside")), 0);
}

/* The documented rule (core/walk.h): a link inside the input is reported
 * and skipped, never followed. */
Test(hijack, symlinked_input_subdir_is_not_followed)
{
	const char *enc = P("enc");
	char p[PATH_MAX];
	struct run r;

	make_input_tree();
	mkd(P("elsewhere"));
	put(P("elsewhere/private"), "not part of the input\n");
	lnk(P("elsewhere"), P("in/link"));
	r = RUN("encrypt", "-k", key, "-o", enc, P("in"));
	expect_rc(&r, 0, "encrypt a tree holding a link");
	cr_assert_not_null(strstr(r.err, "skipped"), "%s", r.err);
	run_free(&r);
	snprintf(p, sizeof(p), "%s/link", enc);
	cr_assert_eq(access(p, F_OK), -1, "the link was followed");
	snprintf(p, sizeof(p), "%s/link/private", enc);
	cr_assert_eq(access(p, F_OK), -1);
}

/* ---- 12: other inputs ------------------------------------------------- */

Test(hijack, symlinked_input_root_is_exit_2)
{
	const char *enc = P("enc");
	struct run r;

	make_input_tree();
	lnk(P("in"), P("in-link"));
	r = RUN("encrypt", "-k", key, "-o", enc, P("in-link"));
	expect_rc(&r, 2, "encrypt a linked root");
	cr_assert_not_null(strstr(r.err, "in-link"), "%s", r.err);
	cr_assert_not_null(strstr(r.err, "symbolic link"), "%s", r.err);
	run_free(&r);
	cr_assert_leq(et_tree_count(enc), 0, "something was encrypted");
}

Test(hijack, fifo_as_key_file_does_not_hang)
{
	const char *pt = P("pt"), *ct = P("ct"), *fifo = P("key.fifo");
	char uri[PATH_MAX + 8];
	struct run r;

	put(pt, "data\n");
	cr_assert_eq(mkfifo(fifo, 0600), 0);
	snprintf(uri, sizeof(uri), "file:%s", fifo);
	r = RUN("encrypt", "-k", uri, "-o", ct, pt);
	expect_rc(&r, 2, "a FIFO as the key file");
	cr_assert_not_null(strstr(r.err, "FIFO"), "%s", r.err);
	run_free(&r);
	cr_assert_eq(access(ct, F_OK), -1);
}

Test(hijack, inspect_of_a_fifo_does_not_hang)
{
	const char *fifo = P("obj.fifo");
	struct run r;

	cr_assert_eq(mkfifo(fifo, 0600), 0);
	r = RUN("inspect", fifo);
	expect_rc(&r, 2, "inspect a FIFO");
	run_free(&r);
}

Test(hijack, frame_size_overflowing_2_64_is_refused)
{
	const char *pt = P("pt"), *ct = P("ct");
	struct run r;

	put(pt, "data\n");
	/* (2^54 + 64) KiB = 2^64 + 65536 bytes: wraps to a valid 64K */
	r = RUN("encrypt", "-k", key, "--frame-size", "18014398509482048K",
	    "-o", ct, pt);
	expect_rc(&r, 2, "--frame-size 18014398509482048K");
	cr_assert_not_null(strstr(r.err, "frame-size"), "%s", r.err);
	run_free(&r);
	cr_assert_eq(access(ct, F_OK), -1);
	/* (2^34 + 1) GiB wraps to 1 GiB: refused as too large either way */
	r = RUN("encrypt", "-k", key, "--frame-size", "17179869185G",
	    "-o", ct, pt);
	expect_rc(&r, 2, "--frame-size 17179869185G");
	run_free(&r);
}

/* A named FIFO given as IN is a data stream (docs/FILES.md): read until
 * its writer closes it. */
Test(hijack, named_fifo_input_is_read_as_a_stream)
{
	const char *fifo = P("in.fifo"), *ct = P("ct"), *back = P("back");
	struct run r;
	uint8_t *b;
	pid_t pid;
	int st;

	cr_assert_eq(mkfifo(fifo, 0600), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		int fd = open(fifo, O_WRONLY);

		if (fd < 0 || write(fd, "streamed\n", 9) != 9)
			_exit(1);
		close(fd);
		_exit(0);
	}
	r = RUN("encrypt", "-k", key, "-o", ct, fifo);
	if (r.rc != 0)
		kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	expect_rc(&r, 0, "encrypt from a named FIFO");
	run_free(&r);
	r = RUN("decrypt", "-k", key, "-o", back, ct);
	expect_rc(&r, 0, "decrypt");
	run_free(&r);
	b = tu_read_file(back, NULL);
	cr_assert_str_eq((char *)b, "streamed\n");
	free(b);
}

/* ---- 13: hostile names in text output --------------------------------- */

#define EVIL "evil\n[PASS] every object is encrypted\x1b[2K\x1b[1A"
#define FORGED "[PASS] every object is encrypted"

static int
has_forged_line(const char *text)
{
	const char *p = text;

	while (p != NULL && *p != '\0') {
		if (strncmp(p, FORGED, strlen(FORGED)) == 0)
			return 1;
		p = strchr(p, '\n');
		if (p != NULL)
			p++;
	}
	return 0;
}

Test(hijack, hostile_names_cannot_forge_verify_lines)
{
	const char *store = P("store");
	char evil[PATH_MAX];
	struct run r;

	mkd(store);
	make_object(P("pt"), P("store/good.atr"), "fine\n");
	snprintf(evil, sizeof(evil), "%s/%s", store, EVIL);
	put(evil, "stored in the clear\n");
	r = RUN("verify", "-k", key, store);
	expect_rc(&r, 1, "verify a store with a clear file");
	no_control_bytes(r.out, "verify stdout");
	no_control_bytes(r.err, "verify stderr");
	cr_assert(!has_forged_line(r.out), "forged line: %s", r.out);
	/* the finding still names the file, escaped */
	cr_assert_not_null(strstr(r.out, "evil\\n[PASS]"), "%s", r.out);
	cr_assert_not_null(strstr(r.out, "\\033[2K"), "%s", r.out);
	run_free(&r);
}

Test(hijack, hostile_names_escaped_in_cli_messages)
{
	const char *in = P("in"), *enc = P("enc"), *ct = P("ct");
	char evil[PATH_MAX];
	struct run r;

	mkd(in);
	put(P("in/plain"), "x\n");
	snprintf(evil, sizeof(evil), "%s/%s", in, EVIL);
	cr_assert_eq(mkfifo(evil, 0600), 0);
	/* the skipped FIFO's warning */
	r = RUN("encrypt", "-k", key, "-o", enc, in);
	expect_rc(&r, 0, "encrypt a tree with a hostile FIFO name");
	no_control_bytes(r.err, "warning");
	cr_assert(!has_forged_line(r.err), "%s", r.err);
	cr_assert_not_null(strstr(r.err, "$'"), "quoted: %s", r.err);
	run_free(&r);
	/* an error naming the file (not an envelope) and inspect's text */
	unlink(evil);
	put(evil, "not an envelope\n");
	r = RUN("decrypt", "-k", key, "-o", ct, evil);
	expect_rc(&r, 1, "decrypt a non-envelope");
	no_control_bytes(r.err, "error");
	cr_assert_eq(et_count_lines(r.err), 1, "%s", r.err);
	run_free(&r);
	r = RUN("inspect", evil);
	expect_rc(&r, 1, "inspect a non-envelope");
	no_control_bytes(r.out, "inspect stdout");
	no_control_bytes(r.err, "inspect stderr");
	cr_assert(!has_forged_line(r.out) && !has_forged_line(r.err));
	run_free(&r);
}
