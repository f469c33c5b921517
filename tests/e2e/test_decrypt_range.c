/*
 * test_decrypt_range.c - atrest decrypt --range end to end: the exact
 * bytes (to a file and to stdout), exit codes (0; 1 for a tampered
 * frame inside the range; 2 for a range past the end, a bad option or
 * an input that is not one regular file), nothing left at OUT on
 * failure, and a tampered frame outside the range left unread.  The
 * count of frames read is checked by the unit tests (test_range.c,
 * through the stats atr_decrypt_range returns).
 *
 * The object: 300000 bytes in frames of 4096 (73 full frames and a
 * final one of 992 bytes).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/hooks.h>

#include "envelope.h"
#include "envtest.h"
#include "testutil.h"

#define PLEN 300000U
#define FS 4096U

static const char *const key_types[] = {"aes=aes-256", NULL};

ReportHook(PRE_ALL)(struct criterion_test_set *set)
{
	(void)set;
	if (et_keydir_create("range-cli", key_types) != ATR_OK)
		fprintf(stderr, "test_decrypt_range: key generation failed: "
		    "%s\n", atr_detail());
}

ReportHook(POST_ALL)(struct criterion_global_stats *stats)
{
	(void)stats;
	et_keydir_remove();
}

static char *dir, *uri, *pt_path, *ct_path, *out, *errf;
static const char *bin;
static uint8_t *pt;

static int
run(const char *stdout_path, const char *const *args)
{
	const char *argv[16];
	struct tu_run_opts o = {0};
	size_t i;

	argv[0] = bin;
	for (i = 0; args[i] != NULL && i < 14; i++)
		argv[i + 1] = args[i];
	argv[i + 1] = NULL;
	o.stdout_path = stdout_path;
	o.stderr_path = errf;
	return tu_run(argv, &o);
}

#define RUN(so, ...) run(so, (const char *const[]){__VA_ARGS__, NULL})

static char *
err_text(void)
{
	uint8_t *e = tu_read_file(errf, NULL);

	return e != NULL ? (char *)e : strdup("");
}

static void
setup(void)
{
	int rc;

	bin = getenv("ATREST_BIN");
	if (bin == NULL || *bin == '\0')
		bin = "build/atrest";
	cr_assert_eq(access(bin, X_OK), 0, "%s is not executable", bin);
	cr_assert_not_null(et_keydir());
	dir = tu_tmpdir("range-cli");
	cr_assert_not_null(dir);
	uri = et_key_uri("aes");
	pt_path = tu_path(dir, "plain");
	ct_path = tu_path(dir, "obj.atr");
	out = tu_path(dir, "out");
	errf = tu_path(dir, "stderr");
	pt = malloc(PLEN);
	cr_assert_not_null(pt);
	et_fill(pt, PLEN, 13);
	cr_assert_eq(tu_write_file(pt_path, pt, PLEN), 0);
	rc = RUN(NULL, "encrypt", "-k", uri, "--frame-size", "4096", "-o",
	    ct_path, pt_path);
	cr_assert_eq(rc, 0, "encrypt: exit %d", rc);
}

static void
teardown(void)
{
	tu_rmtree(dir);
	free(dir);
	free(uri);
	free(pt_path);
	free(ct_path);
	free(out);
	free(errf);
	free(pt);
}

TestSuite(decrypt_range, .init = setup, .fini = teardown);

/* `decrypt --range spec` must exit 0 with pt[off, off + len) at OUT. */
static void
range_ok(const char *spec, size_t off, size_t len, int to_stdout)
{
	size_t n = 0;
	uint8_t *got;
	char *e;
	int rc;

	if (to_stdout)
		rc = RUN(out, "decrypt", "-k", uri, "--range", spec, "-o", "-",
		    ct_path);
	else
		rc = RUN(NULL, "decrypt", "-k", uri, "--range", spec, "-o",
		    out, ct_path);
	e = err_text();
	cr_assert_eq(rc, 0, "--range %s: exit %d: %s", spec, rc, e);
	free(e);
	got = tu_read_file(out, &n);
	cr_assert_not_null(got, "--range %s: no output", spec);
	cr_assert_eq(n, len, "--range %s: %zu bytes, want %zu", spec, n, len);
	cr_assert(len == 0 || memcmp(got, pt + off, len) == 0,
	    "--range %s: bytes differ", spec);
	free(got);
	unlink(out);
}

Test(decrypt_range, exact_bytes_to_a_file_and_to_stdout)
{
	range_ok("0:10", 0, 10, 0);
	range_ok("4000:200", 4000, 200, 0);          /* across a boundary */
	range_ok("8K:8K", 8192, 8192, 0);            /* whole frames */
	range_ok("299000:", 299000, PLEN - 299000, 0); /* into the final */
	range_ok("0:", 0, PLEN, 1);
	range_ok("123456:1000", 123456, 1000, 1);
	range_ok("300000:", PLEN, 0, 0);             /* at the length */
	range_ok("5:0", 5, 0, 0);
}

/* The command must fail with rc, one line on stderr holding `want`, and
 * leave nothing at OUT (no file, no temporary). */
static void
range_fails(const char *spec, const char *in, int rc_want, const char *want)
{
	char *e;
	int rc;

	rc = RUN(NULL, "decrypt", "-k", uri, "--range", spec, "-o", out, in);
	e = err_text();
	cr_assert_eq(rc, rc_want, "--range %s: exit %d, want %d: %s", spec,
	    rc, rc_want, e);
	cr_assert_not_null(strstr(e, want), "--range %s: %s", spec, e);
	cr_assert_eq(et_count_lines(e), 1, "one line: %s", e);
	free(e);
	cr_assert_neq(access(out, F_OK), 0, "--range %s left OUT", spec);
	cr_assert_eq(et_tree_has_tmp(dir), 0, "a temporary file is left");
}

Test(decrypt_range, bad_ranges_are_usage_errors)
{
	range_fails("300001:", ct_path, 2, "past the end");
	range_fails("299999:2", ct_path, 2, "past the end");
	range_fails("10", ct_path, 2, "--range");
	range_fails(":10", ct_path, 2, "--range");
	range_fails("1:x", ct_path, 2, "--range");
	range_fails("0:10", dir, 2, "regular file");
}

/* Flips a byte of frame i of the object in place. */
static void
tamper_frame(uint64_t i)
{
	struct atr_header *h = malloc(sizeof(*h));
	size_t n = 0;
	uint8_t *c = tu_read_file(ct_path, &n);

	cr_assert(h != NULL && c != NULL);
	cr_assert_eq(atr_header_parse(c, n, h), ATR_OK);
	c[et_frame_off(h->len, FS, i) + 100] ^= 0x04;
	cr_assert_eq(tu_write_file(ct_path, c, n), 0);
	free(h);
	free(c);
}

Test(decrypt_range, tampered_frame_inside_fails_with_nothing_written)
{
	tamper_frame(30);
	range_fails("122000:2000", ct_path, 1, "obj.atr");
	range_fails("120000:", ct_path, 1, "obj.atr");
}

Test(decrypt_range, tampered_frame_outside_is_not_read)
{
	tamper_frame(30);
	range_ok("0:4096", 0, 4096, 0);
	range_ok("126976:2000", 126976, 2000, 0);   /* frame 31 on */
	range_ok("120000:2880", 120000, 2880, 0);   /* up to frame 30 */
	range_ok("299000:", 299000, PLEN - 299000, 1);
	/* The whole object does read it. */
	range_fails("0:", ct_path, 1, "obj.atr");
}

Test(decrypt_range, truncated_before_the_range_fails)
{
	struct atr_header *h = malloc(sizeof(*h));
	size_t n = 0;
	uint8_t *c = tu_read_file(ct_path, &n);

	cr_assert(h != NULL && c != NULL);
	cr_assert_eq(atr_header_parse(c, n, h), ATR_OK);
	/* Drop the final frame and the one before it. */
	cr_assert_eq(tu_write_file(ct_path, c, et_frame_off(h->len, FS, 72)),
	    0);
	range_fails("299000:100", ct_path, 1, "obj.atr");
	range_fails("290000:", ct_path, 1, "obj.atr");
	free(h);
	free(c);
}
