/*
 * test_keygen_cli.c - atrest keygen and standard output.
 *
 * "-o -" puts a private key on standard output: only with
 * --force-stdout, only for aes-256 (an RSA pair needs PATH and
 * PATH.pub), and never onto a terminal, where it would stay in
 * scrollback buffers and terminal logs (cli/cmd_keygen.c).
 */
#define _XOPEN_SOURCE 700   /* posix_openpt, grantpt, unlockpt, ptsname */

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "testutil.h"

static char *dir;
static const char *bin;

static void
setup(void)
{
	bin = getenv("ATREST_BIN");
	if (bin == NULL || *bin == '\0')
		bin = "build/atrest";
	cr_assert_eq(access(bin, X_OK), 0,
	    "%s is not executable (set ATREST_BIN)", bin);
	dir = tu_tmpdir("keygen");
	cr_assert_not_null(dir);
}

static void
teardown(void)
{
	tu_rmtree(dir);
	free(dir);
}

TestSuite(keygen_cli, .init = setup, .fini = teardown, .timeout = 60);

struct res {
	int rc;
	char *out, *err;
	size_t out_len;
};

/* keygen ARGS... in dir, standard output to a file (or stdout_path). */
static struct res
keygen(const char *stdout_path, const char *type, int force)
{
	const char *argv[] = {bin, "keygen", "-t", type, "-o", "-",
	    force ? "--force-stdout" : NULL, NULL};
	char *o = tu_path(dir, ".stdout"), *e = tu_path(dir, ".stderr");
	struct tu_run_opts opts = {.cwd = dir, .timeout_ms = 30000,
	    .stderr_path = e};
	struct res r;

	opts.stdout_path = stdout_path != NULL ? stdout_path : o;
	r.rc = tu_run(argv, &opts);
	r.out = (char *)tu_read_file(o, &r.out_len);
	if (r.out == NULL) {
		r.out = calloc(1, 1);
		r.out_len = 0;
	}
	r.err = (char *)tu_read_file(e, NULL);
	cr_assert_not_null(r.out);
	cr_assert_not_null(r.err);
	unlink(o);
	unlink(e);
	free(o);
	free(e);
	return r;
}

static void
res_free(struct res *r)
{
	free(r->out);
	free(r->err);
}

Test(keygen_cli, stdout_needs_force_stdout)
{
	struct res r = keygen(NULL, "aes-256", 0);

	cr_assert_eq(r.rc, 2, "exit %d: %s", r.rc, r.err);
	cr_assert_eq(r.out_len, 0, "a key was printed: %s", r.out);
	cr_assert_not_null(strstr(r.err, "--force-stdout"), "%s", r.err);
	res_free(&r);

	r = keygen(NULL, "aes-256", 1);
	cr_assert_eq(r.rc, 0, "exit %d: %s", r.rc, r.err);
	cr_assert_eq(r.out_len, 65);
	cr_assert_eq(strspn(r.out, "0123456789abcdef"), 64, "%s", r.out);
	res_free(&r);
}

Test(keygen_cli, rsa_pair_is_never_printed)
{
	char *pub = tu_path(dir, "-.pub");
	struct res r = keygen(NULL, "rsa-2048", 1);

	cr_assert_eq(r.rc, 2, "exit %d: %s", r.rc, r.err);
	cr_assert_eq(r.out_len, 0, "a key was printed: %s", r.out);
	cr_assert_not_null(strstr(r.err, "PATH.pub"), "%s", r.err);
	cr_assert_eq(access(pub, F_OK), -1, "wrote %s", pub);
	res_free(&r);
	free(pub);
}

Test(keygen_cli, never_onto_a_terminal)
{
	char buf[512];
	ssize_t got;
	struct res r;
	int m = posix_openpt(O_RDWR | O_NOCTTY);

	cr_assert_geq(m, 0);
	cr_assert_eq(grantpt(m), 0);
	cr_assert_eq(unlockpt(m), 0);
	r = keygen(ptsname(m), "aes-256", 1);
	cr_assert_eq(r.rc, 2, "exit %d: %s", r.rc, r.err);
	cr_assert_not_null(strstr(r.err, "terminal"), "%s", r.err);
	cr_assert_eq(fcntl(m, F_SETFL, O_NONBLOCK), 0);
	got = read(m, buf, sizeof(buf) - 1);
	cr_assert(got <= 0, "printed on the terminal: %.*s",
	    (int)(got > 0 ? got : 0), buf);
	res_free(&r);
	close(m);
}
