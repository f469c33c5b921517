/*
 * test_memory.c - encrypt and decrypt run in constant memory.
 *
 * The promise: a 10 GiB object is processed in buffers of about
 * one frame (one batch per thread with --jobs).  The test runs atrest on
 * a 1 MiB and on a 512 MiB object (a sparse input file: no disk to read)
 * through each path (one thread and two; to a file and to a pipe) and
 * compares the peak resident set of the processes (getrusage of the
 * children): the big object may not cost more than a few MiB over the
 * small one.  A buffer that grew with the object (a whole-file read, an
 * output kept in memory) would add at least 512 MiB.
 *
 * Not under valgrind (its own memory would be measured), hence its own
 * binary outside VALGRIND_SUITES.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "envelope.h"
#include "key.h"
#include "keys.h"
#include "stream.h"
#include "testutil.h"

#define BIG (512LL * 1024 * 1024)
#define SMALL (1024LL * 1024)
/* Allowed growth of the peak RSS from the small to the big object. */
#define SLACK_KIB (4 * 1024L)

static const char *
bin(void)
{
	const char *b = getenv("ATREST_BIN");

	return b && *b ? b : "build/atrest";
}

static char *dir;

static void
setup(void)
{
	dir = tu_tmpdir("mem");
	cr_assert_not_null(dir);
}

static void
teardown(void)
{
	if (dir != NULL) {
		tu_rmtree(dir);
		free(dir);
		dir = NULL;
	}
}

TestSuite(memory, .init = setup, .fini = teardown, .timeout = 300);

static long
peak_kib(void)
{
	struct rusage ru;

	cr_assert_eq(getrusage(RUSAGE_CHILDREN, &ru), 0);
	return ru.ru_maxrss;
}

static void
sparse(const char *path, long long size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	cr_assert_geq(fd, 0, "%s", path);
	cr_assert_eq(ftruncate(fd, size), 0);
	close(fd);
}

static void
run_ok(const char *const argv[])
{
	struct tu_run_opts o = {0};
	int rc;

	o.timeout_ms = 240000;
	rc = tu_run(argv, &o);
	cr_assert_eq(rc, 0, "atrest %s exited %d", argv[1], rc);
}

static void
seal(const char *key, const char *in, const char *out)
{
	char uri[600];
	struct atr_key *k = NULL;
	struct atr_enc *e = NULL;
	struct atr_stream_stats st;
	int ifd, ofd;

	snprintf(uri, sizeof(uri), "file:%s", key);
	cr_assert_eq(atr_key_open(uri, NULL, &k), ATR_OK, "%s", atr_detail());
	{
		struct atr_enc_params p = {&k, 1, NULL, 0};

		cr_assert_eq(atr_enc_new(&p, &e), ATR_OK, "%s", atr_detail());
	}
	ifd = open(in, O_RDONLY);
	ofd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	cr_assert(ifd >= 0 && ofd >= 0);
	cr_assert_eq(atr_encrypt_stream(e, ifd, ofd, 0, &st), ATR_OK, "%s",
	    atr_detail());
	close(ifd);
	close(ofd);
	atr_enc_free(e);
	atr_key_free(k);
}

/* key, small and big plaintexts; sealed copies when dec is set. */
static void
prepare(int dec, char key[], char ps[], char pb[], char cs[], char cb[])
{
	const char *kg[] = {bin(), "keygen", "--type", "aes-256", "-o", key,
	    NULL};

	snprintf(key, 512, "%s/smk.key", dir);
	snprintf(ps, 512, "%s/small", dir);
	snprintf(pb, 512, "%s/big", dir);
	snprintf(cs, 512, "%s/small.atr", dir);
	snprintf(cb, 512, "%s/big.atr", dir);
	run_ok(kg);
	sparse(ps, SMALL);
	sparse(pb, BIG);
	if (dec) {
		/* Sealed in this process, not by a child: the children's
		 * peak must be the decryptor's alone. */
		seal(key, ps, cs);
		seal(key, pb, cb);
		unlink(pb);
	}
}

/* Runs `atrest OP -j JOBS` on the small object, then on the big one, and
 * checks the growth of the peak.  ru_maxrss is the peak of every child
 * waited for; the small run, just before, sets the floor. */
static void
constant(const char *op, const char *jobs)
{
	char key[512], ps[512], pb[512], cs[512], cb[512], uri[600], out[600];
	int dec = strcmp(op, "decrypt") == 0;
	const char *small[] = {bin(), op, "-q", "-j", jobs, "-k", uri, "-o",
	    out, dec ? cs : ps, NULL};
	const char *big[] = {bin(), op, "-q", "-j", jobs, "-k", uri, "-o",
	    out, dec ? cb : pb, NULL};
	long before, after;

	prepare(dec, key, ps, pb, cs, cb);
	snprintf(uri, sizeof(uri), "file:%s", key);
	snprintf(out, sizeof(out), "%s/out", dir);
	run_ok(small);
	unlink(out);
	before = peak_kib();
	run_ok(big);
	after = peak_kib();
	cr_assert_lt(after - before, SLACK_KIB,
	    "%s -j %s: peak RSS %ld KiB for 1 MiB, %ld KiB for 512 MiB", op,
	    jobs, before, after);
	cr_assert_gt(before, 1024, "no child was measured");
}

Test(memory, encrypt_one_thread)
{
	constant("encrypt", "1");
}

Test(memory, encrypt_two_threads)
{
	constant("encrypt", "2");
}

Test(memory, decrypt_one_thread)
{
	constant("decrypt", "1");
}

Test(memory, decrypt_two_threads)
{
	constant("decrypt", "2");
}
