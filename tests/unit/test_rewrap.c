/*
 * test_rewrap.c - the pieces of core/rewrap.c and core/fsmeta.c under the
 * rewrap command: which temporary files a rewrap may remove, and the
 * metadata copy onto a replacement.  test_rewrap_safety (e2e) drives
 * the same through the binary.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "fsmeta.h"
#include "rewrap.h"
#include "testutil.h"

static char *dir;

static void
setup(void)
{
	dir = tu_tmpdir("rewrap");
	cr_assert_not_null(dir);
}

static void
teardown(void)
{
	if (dir != NULL)
		tu_rmtree(dir);
	free(dir);
	dir = NULL;
}

TestSuite(rewrap_tmp, .init = setup, .fini = teardown, .timeout = 60);
TestSuite(fsmeta, .init = setup, .fini = teardown, .timeout = 60);

static pid_t
dead_pid(void)
{
	pid_t pid = fork();
	int st;

	cr_assert_geq(pid, 0);
	if (pid == 0)
		_exit(0);
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	return pid;
}

/* Creates dir/name with data; returns the malloc'd path. */
static char *
mk(const char *name, const char *data)
{
	char *p = tu_path(dir, name);

	cr_assert_not_null(p);
	cr_assert_eq(tu_write_file(p, data, strlen(data)), 0, "%s", p);
	return p;
}

static int
exists(const char *p)
{
	struct stat st;

	return lstat(p, &st) == 0;
}

Test(rewrap_tmp, name_form)
{
	char a[64], b[64];

	cr_assert_eq(atr_rewrap_tmp_name(42, a, sizeof(a)), ATR_OK);
	cr_assert_eq(atr_rewrap_tmp_name(42, b, sizeof(b)), ATR_OK);
	cr_assert_eq(strncmp(a, ".atrest-tmp-42-", 15), 0, "%s", a);
	cr_assert_eq(strlen(a), 15 + 8 + 1 + 16, "%s", a);
	cr_assert_str_neq(a, b, "the random part repeated");
	cr_assert(atr_rewrap_tmp_reserved(a));
	cr_assert(atr_rewrap_tmp_reserved(".atrest-tmp-x"));
	cr_assert(!atr_rewrap_tmp_reserved("atrest-tmp-x"));
	cr_assert_neq(atr_rewrap_tmp_name(42, a, 20), ATR_OK);
}

Test(rewrap_tmp, only_the_exact_form_is_removed)
{
	char good[64], bad[128], *p;
	pid_t pid = dead_pid();
	const char *rest, *pre = ".atrest-tmp-";
	int removed;
	size_t i;

	cr_assert_eq(atr_rewrap_tmp_name((long)pid, good, sizeof(good)),
	    ATR_OK);
	rest = good + strlen(pre);
	/* Variants of a valid name with a dead writer: none is one of
	 * rewrap's names, so each stays. */
	for (i = 0; i < 5; i++) {
		switch (i) {
		case 0: /* a leading zero */
			snprintf(bad, sizeof(bad), "%s0%s", pre, rest);
			break;
		case 1: /* a trailing byte */
			snprintf(bad, sizeof(bad), "%s%sx", pre, rest);
			break;
		case 2:
			snprintf(bad, sizeof(bad), "%s%s.tmp", pre, rest);
			break;
		case 3: /* a pid longer than any */
			snprintf(bad, sizeof(bad), "%s99999999999%s", pre,
			    rest);
			break;
		default: /* the random part cut short */
			snprintf(bad, sizeof(bad), "%s%.*s", pre,
			    (int)strlen(rest) - 2, rest);
			break;
		}
		p = mk(bad, "");
		atr_detail_clear();
		cr_assert_eq(atr_rewrap_tmp_clean(p, &removed), ATR_OK, "%s",
		    bad);
		cr_assert_eq(removed, 0, "%s was removed", bad);
		cr_assert(exists(p));
		cr_assert_not_null(strstr(atr_detail(), "not a temporary file"),
		    "%s: %s", bad, atr_detail());
		free(p);
	}
	/* Upper-case hex is not what a rewrap writes. */
	snprintf(bad, sizeof(bad), "%s", good);
	for (i = strlen(bad) - 16; bad[i] != '\0'; i++)
		if (bad[i] >= 'a' && bad[i] <= 'f')
			bad[i] = (char)(bad[i] - 'a' + 'A');
	if (strcmp(bad, good) != 0) {
		p = mk(bad, "");
		cr_assert_eq(atr_rewrap_tmp_clean(p, &removed), ATR_OK);
		cr_assert_eq(removed, 0, "%s was removed", bad);
		free(p);
	}
	p = mk(good, "ATRE");
	cr_assert_eq(atr_rewrap_tmp_clean(p, &removed), ATR_OK, "%s",
	    atr_detail());
	cr_assert_eq(removed, 1, "%s", atr_detail());
	cr_assert(!exists(p));
	free(p);
}

Test(rewrap_tmp, fifo_left_alone_without_blocking)
{
	char name[64], *p;
	int removed;

	cr_assert_eq(atr_rewrap_tmp_name((long)dead_pid(), name, sizeof(name)),
	    ATR_OK);
	p = tu_path(dir, name);
	cr_assert_eq(mkfifo(p, 0600), 0);
	cr_assert_eq(atr_rewrap_tmp_clean(p, &removed), ATR_OK);
	cr_assert_eq(removed, 0);
	cr_assert_str_eq(atr_detail(), "not a regular file");
	free(p);
}

/*
 * Not root: another user's file with a valid name stays (it may be a
 * user's own file under a reserved name); root may remove it, as root's
 * temporary files take the owner of the object they replace.
 */
Test(rewrap_tmp, other_users_file_only_removed_by_root)
{
	char name[64], *p;
	pid_t pid;
	int st, removed;

	if (geteuid() != 0)
		cr_skip_test("needs root to make a file owned by another user "
		    "(CI runs as root)");
	cr_assert_eq(chmod(dir, 0777), 0);
	cr_assert_eq(atr_rewrap_tmp_name((long)dead_pid(), name, sizeof(name)),
	    ATR_OK);
	p = mk(name, "ATREST");
	cr_assert_eq(chown(p, 1235, 1235), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		if (setgid(1234) != 0 || setuid(1234) != 0)
			_exit(10);
		if (atr_rewrap_tmp_clean(p, &removed) != ATR_OK)
			_exit(11);
		if (removed)
			_exit(12);
		_exit(strstr(atr_detail(), "owned by uid 1235") ? 0 : 13);
	}
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	    "as uid 1234: status %d", st);
	cr_assert(exists(p));
	cr_assert_eq(atr_rewrap_tmp_clean(p, &removed), ATR_OK);
	cr_assert_eq(removed, 1, "%s", atr_detail());
	free(p);
}

/* ---- fsmeta ---------------------------------------------------------- */

Test(fsmeta, copies_every_attribute_and_removes_extra_ones)
{
	char *src = mk("src", "data"), *dst = mk("dst", "");
	uint8_t big[4000], got[4100];
	struct stat st;
	ssize_t n;
	int s, d;

	atr_random(big, sizeof(big));
	if (setxattr(src, "user.empty", "", 0, 0) != 0 && errno == ENOTSUP)
		cr_skip_test("%s: no user.* attributes here", dir);
	cr_assert_eq(setxattr(src, "user.big", big, sizeof(big), 0), 0);
	cr_assert_eq(setxattr(dst, "user.extra", "x", 1, 0), 0);
	cr_assert_eq(chmod(src, 0751), 0);
	s = open(src, O_RDONLY);
	d = open(dst, O_WRONLY);
	cr_assert_geq(s, 0);
	cr_assert_geq(d, 0);
	cr_assert_eq(fstat(s, &st), 0);
	cr_assert_eq(atr_meta_owner(d, &st), ATR_OK, "%s", atr_detail());
	cr_assert_eq(atr_meta_finish(s, d, &st), ATR_OK, "%s", atr_detail());
	close(s);
	close(d);
	cr_assert_eq(getxattr(dst, "user.empty", got, sizeof(got)), 0);
	n = getxattr(dst, "user.big", got, sizeof(got));
	cr_assert_eq(n, (ssize_t)sizeof(big));
	cr_assert_eq(memcmp(got, big, sizeof(big)), 0);
	cr_assert_eq(getxattr(dst, "user.extra", got, sizeof(got)), -1);
	cr_assert_eq(errno, ENODATA);
	cr_assert_eq(stat(dst, &st), 0);
	cr_assert_eq(st.st_mode & 07777, 0751);
	free(src);
	free(dst);
}

Test(fsmeta, owner_that_cannot_be_given_is_an_error)
{
	char *src = mk("src", "data"), *dst = mk("dst", "");
	struct stat st;
	pid_t pid;
	int rc;

	if (geteuid() != 0)
		cr_skip_test("needs root to make a file owned by another user "
		    "(CI runs as root)");
	cr_assert_eq(chmod(dir, 0755), 0);
	cr_assert_eq(chown(dst, 1234, 1234), 0);
	cr_assert_eq(chown(src, 1235, 1235), 0);
	cr_assert_eq(stat(src, &st), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		int d;

		if (setgid(1234) != 0 || setuid(1234) != 0)
			_exit(10);
		d = open(dst, O_WRONLY);
		if (d < 0)
			_exit(11);
		if (atr_meta_owner(d, &st) != ATR_ERR_IO)
			_exit(12);
		_exit(strstr(atr_detail(), "cannot keep owner 1235 and group "
		    "1235") ? 0 : 13);
	}
	cr_assert_eq(waitpid(pid, &rc, 0), pid);
	cr_assert(WIFEXITED(rc) && WEXITSTATUS(rc) == 0, "status %d", rc);
	cr_assert_eq(stat(dst, &st), 0);
	cr_assert_eq(st.st_uid, 1234);
	free(src);
	free(dst);
}
