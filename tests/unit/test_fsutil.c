/*
 * test_fsutil.c - all-or-nothing outputs, small-file reads and mkdirs
 * (lib/fsutil.c), and the deterministic tree walk (lib/walk.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "envtest.h"
#include "fsutil.h"
#include "testutil.h"
#include "walk.h"

static char *dir;

static void
setup(void)
{
	dir = tu_tmpdir("fsutil");
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

TestSuite(fsutil, .init = setup, .fini = teardown);
TestSuite(walk, .init = setup, .fini = teardown);

static char *
at(const char *name)
{
	char *p = tu_path(dir, name);

	cr_assert_not_null(p);
	return p;
}

static void
assert_content(const char *path, const char *want)
{
	uint8_t *t = tu_read_file(path, NULL);

	cr_assert_not_null(t, "%s missing", path);
	cr_assert_str_eq((char *)t, want, "%s", path);
	free(t);
}

/* ---- atr_out_* ------------------------------------------------------ */

Test(fsutil, commit_renames_temp_into_place)
{
	struct atr_outfile o;
	char *dst = at("out.bin");
	const char *base;

	cr_assert_eq(atr_out_begin(&o, dst, 0640), ATR_OK, "%s", atr_detail());
	cr_assert_geq(o.fd, 0);
	cr_assert(!o.is_stdout);
	/* the temporary file sits next to the destination, hidden */
	base = strrchr(o.tmp, '/');
	cr_assert_not_null(base);
	cr_assert(strncmp(base + 1, ".atrest-tmp-", 12) == 0, "%s", o.tmp);
	cr_assert(strncmp(o.tmp, dir, strlen(dir)) == 0);
	cr_assert_eq(access(o.tmp, F_OK), 0);
	cr_assert_eq(access(dst, F_OK), -1, "nothing at OUT before commit");
	cr_assert_eq(atr_write_all(o.fd, "hello", 5), ATR_OK);
	cr_assert_eq(atr_out_commit(&o, 0), ATR_OK, "%s", atr_detail());
	assert_content(dst, "hello");
	cr_assert_eq(et_file_mode(dst), 0640);
	cr_assert(!et_tree_has_tmp(dir));
	cr_assert_eq(et_tree_count(dir), 1);
	/* abort after commit is a no-op */
	atr_out_abort(&o);
	assert_content(dst, "hello");
	free(dst);
}

Test(fsutil, abort_leaves_nothing)
{
	struct atr_outfile o;
	char *dst = at("never");
	char tmp[PATH_MAX];

	cr_assert_eq(atr_out_begin(&o, dst, 0600), ATR_OK);
	snprintf(tmp, sizeof(tmp), "%s", o.tmp);
	cr_assert_eq(atr_write_all(o.fd, "partial", 7), ATR_OK);
	atr_out_abort(&o);
	cr_assert_eq(access(tmp, F_OK), -1, "temporary file left: %s", tmp);
	cr_assert_eq(access(dst, F_OK), -1);
	cr_assert_eq(et_tree_count(dir), 0);
	cr_assert_eq(o.fd, -1);
	/* twice is harmless */
	atr_out_abort(&o);
	free(dst);
}

Test(fsutil, abort_keeps_an_existing_destination)
{
	struct atr_outfile o;
	char *dst = at("kept");

	cr_assert_eq(tu_write_file(dst, "old", 3), 0);
	cr_assert_eq(atr_out_begin(&o, dst, 0600), ATR_OK);
	cr_assert_eq(atr_write_all(o.fd, "new!", 4), ATR_OK);
	atr_out_abort(&o);
	assert_content(dst, "old");
	cr_assert_eq(et_tree_count(dir), 1);
	free(dst);
}

Test(fsutil, many_aborted_outputs_leave_no_temp)
{
	struct atr_outfile o[20];
	char *dst = at("x");
	int i;

	for (i = 0; i < 20; i++)
		cr_assert_eq(atr_out_begin(&o[i], dst, 0600), ATR_OK);
	cr_assert_eq(et_tree_count(dir), 20, "distinct temporary names");
	for (i = 0; i < 20; i++)
		atr_out_abort(&o[i]);
	cr_assert_eq(et_tree_count(dir), 0);
	free(dst);
}

Test(fsutil, noclobber_refuses_existing)
{
	struct atr_outfile o;
	char *dst = at("exists");

	cr_assert_eq(tu_write_file(dst, "original", 8), 0);
	cr_assert_eq(atr_out_begin(&o, dst, 0600), ATR_OK);
	cr_assert_eq(atr_write_all(o.fd, "replacement", 11), ATR_OK);
	cr_assert_eq(atr_out_commit(&o, 1), ATR_ERR_EXISTS);
	cr_assert_not_null(strstr(atr_detail(), "already exists"));
	assert_content(dst, "original");
	cr_assert(!et_tree_has_tmp(dir), "temporary file left");
	cr_assert_eq(et_tree_count(dir), 1);
	/* without noclobber the same output replaces it */
	cr_assert_eq(atr_out_begin(&o, dst, 0600), ATR_OK);
	cr_assert_eq(atr_write_all(o.fd, "replacement", 11), ATR_OK);
	cr_assert_eq(atr_out_commit(&o, 0), ATR_OK);
	assert_content(dst, "replacement");
	cr_assert_eq(et_tree_count(dir), 1);
	free(dst);
}

Test(fsutil, noclobber_writes_new_file)
{
	struct atr_outfile o;
	char *dst = at("fresh");

	cr_assert_eq(atr_out_begin(&o, dst, 0644), ATR_OK);
	cr_assert_eq(atr_write_all(o.fd, "data", 4), ATR_OK);
	cr_assert_eq(atr_out_commit(&o, 1), ATR_OK, "%s", atr_detail());
	assert_content(dst, "data");
	cr_assert_eq(et_file_mode(dst), 0644);
	cr_assert_eq(et_tree_count(dir), 1, "the link's temporary name is gone");
	free(dst);
}

Test(fsutil, begin_in_missing_directory_fails)
{
	struct atr_outfile o;
	char *dst = at("no/such/dir/file");

	cr_assert_eq(atr_out_begin(&o, dst, 0600), ATR_ERR_IO);
	cr_assert_eq(o.fd, -1);
	atr_out_abort(&o);
	cr_assert_eq(et_tree_count(dir), 0);
	free(dst);
}

Test(fsutil, relative_path_and_stdout)
{
	struct atr_outfile o;
	char cwd[PATH_MAX];

	cr_assert_not_null(getcwd(cwd, sizeof(cwd)));
	cr_assert_eq(chdir(dir), 0);
	cr_assert_eq(atr_out_begin(&o, "rel.txt", 0600), ATR_OK);
	cr_assert(strncmp(o.tmp, "./.atrest-tmp-", 14) == 0, "%s", o.tmp);
	cr_assert_eq(atr_write_all(o.fd, "r", 1), ATR_OK);
	cr_assert_eq(atr_out_commit(&o, 0), ATR_OK);
	cr_assert_eq(chdir(cwd), 0);
	{
		char *p = at("rel.txt");

		assert_content(p, "r");
		free(p);
	}
	cr_assert_eq(atr_out_begin(&o, "-", 0600), ATR_OK);
	cr_assert(o.is_stdout);
	cr_assert_eq(o.fd, STDOUT_FILENO);
	cr_assert_eq(atr_out_commit(&o, 1), ATR_OK);
	atr_out_abort(&o);
	cr_assert_neq(fcntl(STDOUT_FILENO, F_GETFD), -1, "stdout stays open");
}

/* ---- read/write helpers --------------------------------------------- */

Test(fsutil, read_full_and_write_all_through_a_pipe)
{
	int p[2];
	uint8_t out[100], in[200];
	size_t got = 0;

	et_fill(out, sizeof(out), 4);
	cr_assert_eq(pipe(p), 0);
	cr_assert_eq(atr_write_all(p[1], out, sizeof(out)), ATR_OK);
	close(p[1]);
	cr_assert_eq(atr_read_full(p[0], in, sizeof(in), &got), ATR_OK);
	cr_assert_eq(got, sizeof(out), "stops at end of file");
	cr_assert(memcmp(in, out, sizeof(out)) == 0);
	cr_assert_eq(atr_read_full(p[0], in, sizeof(in), &got), ATR_OK);
	cr_assert_eq(got, 0);
	close(p[0]);
	cr_assert_eq(atr_write_all(-1, out, 1), ATR_ERR_IO);
	cr_assert_eq(atr_read_full(-1, in, 1, &got), ATR_ERR_IO);
}

Test(fsutil, read_small_file_checks)
{
	char *p = at("small"), *sub = at("d");
	unsigned char *buf = NULL;
	size_t len = 99;

	cr_assert_eq(tu_write_file(p, "abc", 3), 0);
	cr_assert_eq(atr_read_small_file(p, 3, 1, &buf, &len), ATR_OK);
	cr_assert_eq(len, 3);
	cr_assert_str_eq((char *)buf, "abc", "NUL-terminated");
	atr_secure_free(buf, len);
	cr_assert_eq(atr_read_small_file(p, 2, 0, &buf, &len), ATR_ERR_KEY);
	cr_assert_null(buf);
	cr_assert_eq(chmod(p, 0640), 0);
	cr_assert_eq(atr_read_small_file(p, 10, 1, &buf, &len), ATR_ERR_KEY);
	cr_assert_not_null(strstr(atr_detail(), "chmod 600"));
	cr_assert_not_null(strstr(atr_detail(), "640"), "%s", atr_detail());
	cr_assert_eq(atr_read_small_file(p, 10, 0, &buf, &len), ATR_OK);
	atr_secure_free(buf, len);
	cr_assert_eq(mkdir(sub, 0700), 0);
	cr_assert_eq(atr_read_small_file(sub, 10, 0, &buf, &len), ATR_ERR_IO);
	cr_assert_eq(atr_read_small_file("/nonexistent/x", 10, 0, &buf, &len),
	    ATR_ERR_CONFIG);
	atr_secure_free(NULL, 10);
	free(p);
	free(sub);
}

Test(fsutil, mkdirs)
{
	char *deep = at("a/b/c/d");
	char *file = at("f");
	char *under = at("f/x");
	struct stat st;

	cr_assert_eq(atr_mkdirs(deep), ATR_OK, "%s", atr_detail());
	cr_assert_eq(stat(deep, &st), 0);
	cr_assert(S_ISDIR(st.st_mode));
	cr_assert_eq(atr_mkdirs(deep), ATR_OK, "existing is fine");
	cr_assert_eq(tu_write_file(file, "x", 1), 0);
	cr_assert_eq(atr_mkdirs(under), ATR_ERR_IO);
	cr_assert_eq(atr_mkdirs(""), ATR_ERR_USAGE);
	free(deep);
	free(file);
	free(under);
}

/* ---- atr_walk ------------------------------------------------------- */

struct seen {
	char line[64][PATH_MAX + 8];
	size_t n;
	size_t stop_at;
};

static enum atr_err
record(const char *path, const char *rel, enum atr_walk_type type,
    const struct stat *st, void *arg)
{
	struct seen *s = arg;
	static const char tc[] = "FDLO";

	cr_assert_not_null(st);
	cr_assert(strstr(path, rel) != NULL, "path %s ends with rel %s", path,
	    rel);
	if (s->n >= 64)
		return ATR_ERR_LIMIT;
	snprintf(s->line[s->n], sizeof(s->line[0]), "%c %s", tc[type], rel);
	s->n++;
	if (s->stop_at != 0 && s->n == s->stop_at)
		return ATR_ERR_AUTH;
	return ATR_OK;
}

static void
mk(const char *rel, int is_dir)
{
	char *p = at(rel);

	if (is_dir)
		cr_assert_eq(mkdir(p, 0755), 0, "%s", p);
	else
		cr_assert_eq(tu_write_file(p, rel, strlen(rel)), 0, "%s", p);
	free(p);
}

static void
build_tree(void)
{
	char *t, *l;

	mk("root", 1);
	/* created out of order on purpose */
	mk("root/b", 1);
	mk("root/b/z", 0);
	mk("root/b/a", 0);
	mk("root/Z", 0);
	mk("root/a", 1);
	mk("root/a/2", 0);
	mk("root/a/10", 0);
	mk("root/a.txt", 0);
	mk("root/.hidden", 0);
	mk("root/a-", 0);
	mk("root/.atrest-tmp-abc", 0);
	/* links: to a directory (not followed), to a file, dangling */
	t = at("root/b");
	l = at("root/link-dir");
	cr_assert_eq(symlink(t, l), 0);
	free(l);
	l = at("root/link-file");
	cr_assert_eq(symlink("Z", l), 0);
	free(l);
	l = at("root/link-dangling");
	cr_assert_eq(symlink("nowhere", l), 0);
	free(l);
	free(t);
	t = at("root/fifo");
	cr_assert_eq(mkfifo(t, 0600), 0);
	free(t);
}

/* strcmp order of the names, depth first, each directory before its
 * contents; links reported as links; "" is the root. */
static const char *const expected[] = {
	"D ",
	"F .atrest-tmp-abc",
	"F .hidden",
	"F Z",
	"D a",
	"F a/10",
	"F a/2",
	"F a-",
	"F a.txt",
	"D b",
	"F b/a",
	"F b/z",
	"O fifo",
	"L link-dangling",
	"L link-dir",
	"L link-file",
};

Test(walk, sorted_depth_first_links_not_followed)
{
	static struct seen s, s2;
	char *root;
	size_t i, n = sizeof(expected) / sizeof(expected[0]);

	build_tree();
	root = at("root");
	cr_assert_eq(atr_walk(root, record, &s), ATR_OK, "%s", atr_detail());
	for (i = 0; i < s.n && i < n; i++)
		cr_assert_str_eq(s.line[i], expected[i], "entry %zu", i);
	cr_assert_eq(s.n, n, "%zu entries, want %zu", s.n, n);
	/* a second walk sees exactly the same sequence */
	cr_assert_eq(atr_walk(root, record, &s2), ATR_OK);
	cr_assert_eq(s2.n, s.n);
	for (i = 0; i < s.n; i++)
		cr_assert_str_eq(s2.line[i], s.line[i]);
	free(root);
}

Test(walk, root_file_and_root_symlink)
{
	static struct seen s, s2;
	char *f = at("file"), *l = at("link");

	cr_assert_eq(tu_write_file(f, "x", 1), 0);
	cr_assert_eq(symlink(f, l), 0);
	cr_assert_eq(atr_walk(f, record, &s), ATR_OK);
	cr_assert_eq(s.n, 1);
	cr_assert_str_eq(s.line[0], "F ");
	cr_assert_eq(atr_walk(l, record, &s2), ATR_OK);
	cr_assert_eq(s2.n, 1);
	cr_assert_str_eq(s2.line[0], "L ");
	free(f);
	free(l);
}

Test(walk, callback_error_stops_the_walk)
{
	static struct seen s;
	char *root;

	build_tree();
	root = at("root");
	s.stop_at = 5;
	cr_assert_eq(atr_walk(root, record, &s), ATR_ERR_AUTH);
	cr_assert_eq(s.n, 5, "no entry visited after the error");
	free(root);
}

Test(walk, missing_root)
{
	static struct seen s;
	char *root = at("nope");

	cr_assert_eq(atr_walk(root, record, &s), ATR_ERR_IO);
	cr_assert_eq(s.n, 0);
	cr_assert_not_null(strstr(atr_detail(), "nope"), "names the path");
	free(root);
}

Test(walk, unreadable_dir)
{
	static struct seen s;
	char *d = at("locked");

	mk("locked", 1);
	mk("locked/inner", 0);
	cr_assert_eq(chmod(d, 0), 0);
	if (access(d, R_OK) == 0) {
		/* cr_skip_test does not run .fini: clean up first. */
		free(d);
		teardown();
		dir = NULL;
		cr_skip_test("running as root: permissions are not enforced");
	}
	cr_assert_eq(atr_walk(d, record, &s), ATR_ERR_IO);
	cr_assert_eq(s.n, 1, "the root itself was reported first");
	chmod(d, 0700);
	free(d);
}

/*
 * An existing FIFO (like /dev/null or any device) is written in place:
 * a rename over it would replace the node itself.  Found when a run as
 * root turned /dev/null into a regular file.
 */
Test(fsutil, out_to_a_fifo_writes_in_place)
{
	char *d = tu_tmpdir("fifo"), *fifo = tu_path(d, "pipe");
	struct atr_outfile o;
	struct stat st;
	char buf[16] = {0};
	int rfd;

	cr_assert_eq(mkfifo(fifo, 0600), 0);
	rfd = open(fifo, O_RDONLY | O_NONBLOCK);
	cr_assert_geq(rfd, 0);
	cr_assert_eq(atr_out_begin(&o, fifo, 0600), ATR_OK);
	cr_assert_eq(atr_write_all(o.fd, "hello", 5), ATR_OK);
	cr_assert_eq(atr_out_commit(&o, 0), ATR_OK);
	cr_assert_eq(read(rfd, buf, sizeof(buf)), 5);
	cr_assert_str_eq(buf, "hello");
	close(rfd);
	cr_assert_eq(lstat(fifo, &st), 0);
	cr_assert(S_ISFIFO(st.st_mode), "the FIFO was replaced by a file");
	tu_rmtree(d);
	free(fifo);
	free(d);
}
