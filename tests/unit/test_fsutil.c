/*
 * test_fsutil.c - all-or-nothing outputs, small-file reads and mkdirs
 * (core/fsutil.c), the deterministic tree walk (core/walk.c), and what
 * neither may do with what another user planted (FIFOs, links, a
 * directory swapped mid-walk; docs/FILES.md), plus the quoting of names
 * for text output (core/quote.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "envtest.h"
#include "fsutil.h"
#include "pkcs11_uri.h"
#include "quote.h"
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
TestSuite(quote);

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

/* Removes the entry "b" (listed, not yet visited) when "a" is
 * visited, as another writer renaming its temporary file would. */
static enum atr_err
remove_b(const char *path, const char *rel, enum atr_walk_type type,
    const struct stat *st, void *arg)
{
	unsigned *n = arg;
	char b[PATH_MAX];

	(void)type;
	(void)st;
	(*n)++;
	if (strcmp(rel, "a") == 0) {
		snprintf(b, sizeof(b), "%.*sb", (int)(strlen(path) - 1), path);
		cr_assert_eq(unlink(b), 0, "%s", b);
	}
	return ATR_OK;
}

Test(walk, entry_gone_since_the_listing_is_not_an_error)
{
	char *root = at("vanish"), *a = at("vanish/a"), *b = at("vanish/b"),
	    *c = at("vanish/c");
	unsigned n = 0;

	cr_assert_eq(mkdir(root, 0700), 0);
	cr_assert_eq(tu_write_file(a, "a", 1), 0);
	cr_assert_eq(tu_write_file(b, "b", 1), 0);
	cr_assert_eq(tu_write_file(c, "c", 1), 0);
	cr_assert_eq(atr_walk(root, remove_b, &n), ATR_OK, "%s",
	    atr_detail());
	cr_assert_eq(n, 3, "root, a and c visited, b skipped: %u", n);
	free(root);
	free(a);
	free(b);
	free(c);
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
 * Review item 9: a directory swapped for a symbolic link between being
 * listed and being entered (here by the callback itself, the worst
 * moment).  lstat() then opendir(path) followed the link and listed
 * what it pointed to; now the walk opens it with O_NOFOLLOW relative to
 * its parent and stops with "changed during the walk".
 */
struct swap {
	struct seen s;
	char *dir_path, *moved, *target;
};

static enum atr_err
swap_cb(const char *path, const char *rel, enum atr_walk_type type,
    const struct stat *st, void *arg)
{
	struct swap *w = arg;

	if (type == ATR_WALK_DIR && strcmp(rel, "a") == 0) {
		cr_assert_eq(rename(w->dir_path, w->moved), 0);
		cr_assert_eq(symlink(w->target, w->dir_path), 0);
	}
	return record(path, rel, type, st, &w->s);
}

Test(walk, directory_swapped_for_a_link_is_not_followed)
{
	static struct swap w;
	char *root, *secret;
	size_t i;

	build_tree();
	mk("outside", 1);
	mk("outside/secret", 0);
	root = at("root");
	w.dir_path = at("root/a");
	w.moved = at("moved-a");
	w.target = at("outside");
	cr_assert_eq(atr_walk(root, swap_cb, &w), ATR_ERR_IO);
	cr_assert_not_null(strstr(atr_detail(), "changed during the walk"),
	    "%s", atr_detail());
	for (i = 0; i < w.s.n; i++)
		cr_assert_null(strstr(w.s.line[i], "secret"),
		    "the link was followed: %s", w.s.line[i]);
	secret = at("outside/secret");
	cr_assert_eq(access(secret, F_OK), 0);
	free(secret);
	free(root);
	free(w.dir_path);
	free(w.moved);
	free(w.target);
}

/* atr_walkat hands each entry's directory descriptor and depth. */
struct at_seen {
	unsigned files, max_depth;
	int ok;
};

static enum atr_err
at_cb(struct atr_walk_ent *e, void *arg)
{
	struct at_seen *a = arg;
	struct stat st;

	if (e->depth > a->max_depth)
		a->max_depth = e->depth;
	if (fstatat(e->dirfd, e->name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
	    st.st_ino != e->st->st_ino)
		a->ok = 0;
	if (e->type == ATR_WALK_FILE)
		a->files++;
	if (e->type == ATR_WALK_DIR && strcmp(e->name, "b") == 0)
		e->skip = 1;
	return ATR_OK;
}

Test(walk, walkat_descriptors_depth_and_skip)
{
	struct at_seen a = {0, 0, 1};
	char *root;

	build_tree();
	root = at("root");
	cr_assert_eq(atr_walkat(root, at_cb, &a), ATR_OK, "%s", atr_detail());
	cr_assert(a.ok, "dirfd/name did not name the entry");
	cr_assert_eq(a.max_depth, 2);
	/* 9 files, minus b/a and b/z below the skipped b */
	cr_assert_eq(a.files, 7);
	free(root);
}

/*
 * A deep tree, walked in a thread with a small stack.  Each level's
 * frame held two PATH_MAX buffers: 200 levels took 1.7 MiB of stack,
 * and a tree 1500 deep overflowed the main thread's 8 MiB (encrypt and
 * rewrap of such a tree died of SIGSEGV; found by make lint,
 * misc-no-recursion).
 */
#define DEEP_LEVELS 200U

struct deep_walk {
	const char *root;
	struct at_seen a;
	enum atr_err err;
	char detail[512];
};

static void *
deep_walk_main(void *arg)
{
	struct deep_walk *d = arg;

	d->err = atr_walkat(d->root, at_cb, &d->a);
	snprintf(d->detail, sizeof(d->detail), "%s", atr_detail());
	return NULL;
}

Test(walk, deep_tree_in_a_small_stack)
{
	struct deep_walk d;
	pthread_attr_t attr;
	pthread_t th;
	char *root = at("deep");
	unsigned i;
	int fd, sub;

	cr_assert_eq(mkdir(root, 0700), 0);
	fd = open(root, O_RDONLY | O_DIRECTORY);
	cr_assert_geq(fd, 0);
	for (i = 0; i < DEEP_LEVELS; i++) {
		cr_assert_eq(mkdirat(fd, "a", 0700), 0);
		sub = openat(fd, "a", O_RDONLY | O_DIRECTORY);
		cr_assert_geq(sub, 0);
		close(fd);
		fd = sub;
	}
	close(fd);
	memset(&d, 0, sizeof(d));
	d.root = root;
	d.a.ok = 1;
	cr_assert_eq(pthread_attr_init(&attr), 0);
	cr_assert_eq(pthread_attr_setstacksize(&attr, 512 * 1024), 0);
	cr_assert_eq(pthread_create(&th, &attr, deep_walk_main, &d), 0);
	pthread_join(th, NULL);
	pthread_attr_destroy(&attr);
	cr_assert_eq(d.err, ATR_OK, "%s", d.detail);
	cr_assert(d.a.ok, "dirfd/name did not name the entry");
	cr_assert_eq(d.a.max_depth, DEEP_LEVELS);
	free(root);
}

/*
 * An existing character device (/dev/null) is written in place: a rename
 * over it would replace the node itself.  Found when a run as root turned
 * /dev/null into a regular file (c103f07).
 */
Test(fsutil, out_to_dev_null_writes_in_place)
{
	struct atr_outfile o;
	struct stat st;

	cr_assert_eq(atr_out_begin(&o, "/dev/null", 0600), ATR_OK, "%s",
	    atr_detail());
	cr_assert(o.direct);
	cr_assert_eq(atr_write_all(o.fd, "hello", 5), ATR_OK);
	cr_assert_eq(atr_out_commit(&o, 0), ATR_OK);
	cr_assert_eq(lstat("/dev/null", &st), 0);
	cr_assert(S_ISCHR(st.st_mode), "/dev/null was replaced by a file");
}

/* In a tree (no ATR_OUT_DEVICE) even a device is refused. */
Test(fsutil, beginat_without_device_flag_refuses_a_device)
{
	struct atr_outfile o;
	int dfd = open("/dev", O_RDONLY | O_DIRECTORY);

	cr_assert_geq(dfd, 0);
	cr_assert_eq(atr_out_beginat(&o, dfd, "null", "/dev/null", 0600, 0),
	    ATR_ERR_EXISTS);
	cr_assert_not_null(strstr(atr_detail(), "character device"), "%s",
	    atr_detail());
	atr_out_abort(&o);
	close(dfd);
}

/*
 * Review item 8: a FIFO planted where atrest writes.  Without a reader,
 * open(O_WRONLY) waited for ever; with one, the reader got the data.
 * Now it is refused at once, the reader gets nothing, the FIFO stays.
 */
Test(fsutil, out_refuses_a_planted_fifo, .timeout = 30)
{
	char *fifo = at("pipe");
	struct atr_outfile o;
	char buf[16];
	int rfd;

	cr_assert_eq(mkfifo(fifo, 0666), 0);
	cr_assert_eq(atr_out_begin(&o, fifo, 0600), ATR_ERR_EXISTS,
	    "no reader: %s", atr_detail());
	cr_assert_not_null(strstr(atr_detail(), "FIFO"), "%s", atr_detail());
	atr_out_abort(&o);
	rfd = open(fifo, O_RDONLY | O_NONBLOCK);
	cr_assert_geq(rfd, 0);
	if (atr_out_begin(&o, fifo, 0600) == ATR_OK) {
		(void)atr_write_all(o.fd, "secret", 6);
		(void)atr_out_commit(&o, 0);
		cr_assert_fail("a FIFO with a reader was opened for writing");
	}
	cr_assert(read(rfd, buf, sizeof(buf)) <= 0, "the reader got data");
	close(rfd);
	cr_assert(et_tree_count(dir) == 1 && !et_tree_has_tmp(dir));
	{
		struct stat st;

		cr_assert_eq(lstat(fifo, &st), 0);
		cr_assert(S_ISFIFO(st.st_mode), "the FIFO was replaced");
	}
	free(fifo);
}

/* A symbolic link at OUT is neither followed nor replaced, whatever it
 * points to (a file, a FIFO, a device). */
Test(fsutil, out_refuses_a_planted_symlink, .timeout = 30)
{
	char *victim = at("victim"), *l1 = at("l1"), *l2 = at("l2");
	struct atr_outfile o;
	struct stat st;

	cr_assert_eq(tu_write_file(victim, "mine", 4), 0);
	cr_assert_eq(symlink(victim, l1), 0);
	cr_assert_eq(symlink("/dev/null", l2), 0);
	cr_assert_eq(atr_out_begin(&o, l1, 0600), ATR_ERR_EXISTS);
	cr_assert_not_null(strstr(atr_detail(), "symbolic link"), "%s",
	    atr_detail());
	atr_out_abort(&o);
	cr_assert_eq(atr_out_begin(&o, l2, 0600), ATR_ERR_EXISTS);
	atr_out_abort(&o);
	assert_content(victim, "mine");
	cr_assert_eq(lstat(l1, &st), 0);
	cr_assert(S_ISLNK(st.st_mode));
	cr_assert(!et_tree_has_tmp(dir));
	free(victim);
	free(l1);
	free(l2);
}

/* Something planted while the output was being written: the rename
 * replaces only a regular file. */
Test(fsutil, commit_refuses_a_destination_swapped_for_a_link)
{
	char *dst = at("late"), *victim = at("victim");
	struct atr_outfile o;
	struct stat st;

	cr_assert_eq(tu_write_file(victim, "mine", 4), 0);
	cr_assert_eq(atr_out_begin(&o, dst, 0600), ATR_OK);
	cr_assert_eq(atr_write_all(o.fd, "data", 4), ATR_OK);
	cr_assert_eq(symlink(victim, dst), 0);
	cr_assert_eq(atr_out_commit(&o, 0), ATR_ERR_EXISTS);
	cr_assert_eq(lstat(dst, &st), 0);
	cr_assert(S_ISLNK(st.st_mode), "the planted link was replaced");
	assert_content(victim, "mine");
	cr_assert(!et_tree_has_tmp(dir));
	free(dst);
	free(victim);
}

/*
 * Review item 9: the output is made relative to the directory descriptor
 * (openat, renameat, fsync of that descriptor).  The directory is
 * renamed away and a link to elsewhere takes its name between begin and
 * commit: the file still lands in the directory that was opened.
 */
Test(fsutil, beginat_stays_in_the_opened_directory)
{
	char *d = at("d"), *moved = at("moved"), *other = at("other");
	char *in_moved = at("moved/f"), *in_other = at("other/f");
	struct atr_outfile o;
	int dfd;

	cr_assert_eq(mkdir(d, 0755), 0);
	cr_assert_eq(mkdir(other, 0755), 0);
	dfd = open(d, O_RDONLY | O_DIRECTORY);
	cr_assert_geq(dfd, 0);
	cr_assert_eq(atr_out_beginat(&o, dfd, "f", "d/f", 0600, 0), ATR_OK,
	    "%s", atr_detail());
	close(dfd);
	cr_assert_eq(atr_write_all(o.fd, "data", 4), ATR_OK);
	cr_assert_eq(rename(d, moved), 0);
	cr_assert_eq(symlink(other, d), 0);
	cr_assert_eq(atr_out_commit(&o, 0), ATR_OK, "%s", atr_detail());
	assert_content(in_moved, "data");
	cr_assert_eq(access(in_other, F_OK), -1, "written through the link");
	cr_assert(!et_tree_has_tmp(dir));
	free(d);
	free(moved);
	free(other);
	free(in_moved);
	free(in_other);
}

Test(fsutil, out_names_of_descriptors)
{
	struct atr_outfile o;
	int fd = -1;

	cr_assert(atr_out_names_fd("-", &fd) && fd == 1);
	cr_assert(atr_out_names_fd("/dev/stdout", &fd) && fd == 1);
	cr_assert(atr_out_names_fd("/dev/stderr", &fd) && fd == 2);
	cr_assert(atr_out_names_fd("/dev/fd/7", &fd) && fd == 7);
	cr_assert(!atr_out_names_fd("/dev/fd/", &fd));
	cr_assert(!atr_out_names_fd("/dev/fd/1x", &fd));
	cr_assert(!atr_out_names_fd("/dev/null", &fd));
	cr_assert(!atr_out_names_fd("./-", &fd));
	cr_assert_eq(atr_out_begin(&o, "/dev/stdout", 0600), ATR_OK);
	cr_assert(o.is_stdout);
	cr_assert_eq(o.fd, STDOUT_FILENO);
	cr_assert_eq(atr_out_commit(&o, 0), ATR_OK);
	cr_assert_neq(fcntl(STDOUT_FILENO, F_GETFD), -1, "stdout stays open");
}

/* ---- inputs that are not data: never block ---------------------------- */

/* Review item 12: a FIFO as a key file, PIN file, policy or manifest
 * (all read with atr_read_small_file) hung in open(2). */
Test(fsutil, read_small_file_refuses_a_fifo, .timeout = 30)
{
	char *fifo = at("key.fifo");
	unsigned char *buf = NULL;
	size_t len = 0;

	cr_assert_eq(mkfifo(fifo, 0600), 0);
	cr_assert_eq(atr_read_small_file(fifo, 100, 1, &buf, &len), ATR_ERR_IO);
	cr_assert_null(buf);
	cr_assert_not_null(strstr(atr_detail(), "FIFO"), "%s", atr_detail());
	free(fifo);
}

Test(fsutil, pin_source_fifo_does_not_hang, .timeout = 30)
{
	char *fifo = at("pin.fifo");
	char uri[PATH_MAX + 64];
	struct atr_p11_uri u;

	cr_assert_eq(mkfifo(fifo, 0600), 0);
	snprintf(uri, sizeof(uri), "pkcs11:token=t;object=o?pin-source=file:%s",
	    fifo);
	cr_assert_eq(atr_p11_uri_parse(uri, &u), ATR_OK, "%s", atr_detail());
	cr_assert_neq(atr_p11_uri_load_pin(&u), ATR_OK);
	cr_assert(!u.has_pin);
	atr_p11_uri_clear(&u);
	free(fifo);
}

/* ---- atr_quote / atr_escape ------------------------------------------- */

static void
q_is(const char *in, const char *want)
{
	char buf[ATR_QUOTE_BUF];

	cr_assert_str_eq(atr_quote(in, buf, sizeof(buf)), want, "quote of %s",
	    in);
}

Test(quote, names_like_ls_shell_escape)
{
	/* plain names are unchanged: existing outputs stay the same */
	q_is("store/a-1_b.txt", "store/a-1_b.txt");
	q_is("/tmp/x/.hidden~", "/tmp/x/.hidden~");
	q_is("file:/k@host,v=2%", "file:/k@host,v=2%");
	q_is("caf\xc3\xa9/\xe6\x97\xa5", "caf\xc3\xa9/\xe6\x97\xa5");
	/* spaces, quotes and shell metacharacters: single quotes */
	q_is("a b", "'a b'");
	q_is("it's", "'it'\\''s'");
	q_is("~x", "'~x'");
	q_is("a;b$c*", "'a;b$c*'");
	q_is("", "''");
	/* controls, DEL, C1, invalid UTF-8, reordering marks: $'...' */
	q_is("a\nb", "$'a\\nb'");
	q_is("x\x1b[2K", "$'x\\033[2K'");
	q_is("t\tr\r", "$'t\\tr\\r'");
	q_is("d\x7f", "$'d\\177'");
	q_is("c1\xc2\x9b", "$'c1\\302\\233'");
	q_is("bad\xff\xc3", "$'bad\\377\\303'");
	q_is("over\xc0\xaf", "$'over\\300\\257'");
	q_is("sur\xed\xa0\x80", "$'sur\\355\\240\\200'");
	q_is("rlo\xe2\x80\xaetxt", "$'rlo\\342\\200\\256txt'");
	q_is("ls\xe2\x80\xa8", "$'ls\\342\\200\\250'");
	q_is("q'\\\n", "$'q\\'\\\\\\n'");
}

Test(quote, escape_and_truncation)
{
	char buf[ATR_QUOTE_BUF], small[16];
	char *big = malloc(PATH_MAX);
	size_t i, n;

	cr_assert_str_eq(atr_escape("no: such file", buf, sizeof(buf)),
	    "no: such file");
	cr_assert_str_eq(atr_escape("a\nb\x1b", buf, sizeof(buf)),
	    "a\\nb\\033");
	cr_assert_str_eq(atr_escape("it's \\ fine", buf, sizeof(buf)),
	    "it's \\ fine");
	/* a whole escape or none of it, then "..." */
	atr_quote("\n\n\n\n\n\n\n\n", small, sizeof(small));
	n = strlen(small);
	cr_assert_lt(n, sizeof(small));
	cr_assert_str_eq(small + n - 3, "...", "%s", small);
	cr_assert_str_eq(small, "$'\\n\\n\\n\\n'...", "%s", small);
	/* the worst case of a full-length name fits ATR_QUOTE_BUF */
	cr_assert_not_null(big);
	for (i = 0; i < PATH_MAX - 1; i++)
		big[i] = '\x01';
	big[PATH_MAX - 1] = '\0';
	atr_quote(big, buf, sizeof(buf));
	n = strlen(buf);
	cr_assert_eq(n, 3 + 4 * (PATH_MAX - 1), "cut: %zu", n);
	cr_assert_eq(buf[n - 1], '\'');
	free(big);
}

/* Scratch directories: private, under $TMPDIR, and a clear error (with
 * nothing left in the buffer) when the name cannot fit. */
Test(fsutil, mkdtemp_private_and_bounded)
{
	char buf[PATH_MAX], small[16], *old = getenv("TMPDIR");
	char *saved = old ? strdup(old) : NULL;
	struct stat st;

	cr_assert_eq(atr_mkdtemp("atrest-test", buf, sizeof(buf)), ATR_OK,
	    "%s", atr_detail());
	cr_assert_eq(stat(buf, &st), 0);
	cr_assert(S_ISDIR(st.st_mode));
	cr_assert_eq(st.st_mode & 0777, 0700);
	cr_assert_not_null(strstr(buf, "/atrest-test-"));
	cr_assert_eq(rmdir(buf), 0);
	setenv("TMPDIR", "/tmp", 1);
	cr_assert_eq(atr_mkdtemp("atrest-test", small, sizeof(small)),
	    ATR_ERR_IO);
	cr_assert_str_eq(small, "");
	if (saved != NULL)
		setenv("TMPDIR", saved, 1);
	else
		unsetenv("TMPDIR");
	free(saved);
	atr_detail_clear();
}
