/*
 * test_rewrap_safety.c - what `atrest rewrap` must not do to a store
 * that others write to too (security review, items 10 and 11).
 *
 * - An object whose stanzas merely name the --to key (bad MAC, random
 *   body) is a failure, not "skipped (already done)"; a genuinely done
 *   object is recognised only with a key that authenticates its header.
 * - The replacement keeps owner, group, mode (set-ID bits included),
 *   extended attributes and the POSIX ACL, and gets no ACL the original
 *   did not have; an owner the process cannot reproduce fails the
 *   object and leaves it as it was.
 * - A hard-linked object is reported and left alone unless
 *   --break-hardlinks.
 * - Only temporary files of an interrupted rewrap are removed: another
 *   writer's temporary file, a user's file with a similar name, a
 *   temporary file whose writer still runs, or one with foreign content
 *   or links stays.
 *
 * The ownership cases need root (to give files to uid 1234); CI runs as
 * root.  Elsewhere they are skipped with a message.  The attribute and
 * ACL cases need a file system with user.* attributes and ACLs: /tmp,
 * or a directory beside the binary (build/) when /tmp has none.
 *
 * Keys are generated once per run in the runner (PRE_ALL).
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/hooks.h>

#include "envelope.h"
#include "envtest.h"
#include "key.h"
#include "rewrap.h"
#include "testutil.h"

#define OTHER_UID 1234
#define OTHER_GID 1235

static const char *const key_types[] = {
	"old=aes-256", "new=rsa-2048", NULL,
};

ReportHook(PRE_ALL)(struct criterion_test_set *set)
{
	(void)set;
	if (et_keydir_create("rewrap-safety", key_types) != ATR_OK)
		fprintf(stderr, "test_rewrap_safety: key generation failed: "
		    "%s\n", atr_detail());
}

ReportHook(POST_ALL)(struct criterion_global_stats *stats)
{
	(void)stats;
	et_keydir_remove();
}

static char *dir;
static char olduri[600], newuri[600], newpub[600];

static const char *
bin(void)
{
	const char *b = getenv("ATREST_BIN");

	return b && *b ? b : "build/atrest";
}

/* A directory whose file system takes user.* attributes: /tmp, or one
 * beside the binary (removed with rm -rf, as tu_rmtree only works in
 * /tmp). */
static int in_build;

static int
xattrs_work(const char *d)
{
	char *p = tu_path(d, "probe");
	int ok;

	cr_assert_eq(tu_write_file(p, "", 0), 0);
	ok = setxattr(p, "user.atrest-probe", "1", 1, 0) == 0;
	unlink(p);
	free(p);
	return ok;
}

static void
setup(void)
{
	char *u;

	cr_assert_not_null(et_keydir(), "key generation failed in PRE_ALL");
	dir = tu_tmpdir("rwsafe");
	cr_assert_not_null(dir);
	if (!xattrs_work(dir)) {
		char tmpl[600], *slash;

		/* Beside the binary: build/ or build-san/. */
		tu_rmtree(dir);
		free(dir);
		snprintf(tmpl, sizeof(tmpl), "%s", bin());
		slash = strrchr(tmpl, '/');
		cr_assert_not_null(slash);
		snprintf(slash, sizeof(tmpl) - (size_t)(slash - tmpl),
		    "/rwsafe-XXXXXX");
		cr_assert_not_null(mkdtemp(tmpl));
		dir = strdup(tmpl);
		in_build = 1;
		fprintf(stderr, "test_rewrap_safety: /tmp has no user.* "
		    "attributes; using %s\n", dir);
	}
	u = et_key_uri("old");
	snprintf(olduri, sizeof(olduri), "%s", u);
	free(u);
	u = et_key_uri("new");
	snprintf(newuri, sizeof(newuri), "%s", u);
	free(u);
	u = et_key_uri("new.pub");
	snprintf(newpub, sizeof(newpub), "%s", u);
	free(u);
}

static void
teardown(void)
{
	if (in_build) {
		const char *rm[] = {"rm", "-rf", dir, NULL};

		tu_run(rm, NULL);
	} else {
		tu_rmtree(dir);
	}
	free(dir);
}

TestSuite(rewrap_safety, .init = setup, .fini = teardown, .timeout = 120);

/* Runs argv; *out (freed by the caller) gets stdout and stderr. */
static int
run(const char *const argv[], char **out)
{
	char *o = tu_path(dir, "run.out");
	struct tu_run_opts ro = {0};
	int rc;

	ro.stdout_path = o;
	ro.stderr_path = o;
	ro.timeout_ms = 60000;
	rc = tu_run(argv, &ro);
	*out = (char *)tu_read_file(o, NULL);
	cr_assert_not_null(*out);
	unlink(o);
	free(o);
	return rc;
}

static char *
P(const char *name)
{
	char *p = tu_path(dir, name);

	cr_assert_not_null(p);
	return p;
}

/* Encrypts n random bytes for uri into path. */
static void
make_object(const char *path, const char *uri, size_t n)
{
	char *plain = P("plain.tmp"), *msg;
	uint8_t *b = malloc(n + 1);
	const char *enc[] = {bin(), "encrypt", "-q", "-k", uri, "-o", path,
	    plain, NULL};
	int rc;

	atr_random(b, n);
	cr_assert_eq(tu_write_file(plain, b, n), 0);
	free(b);
	rc = run(enc, &msg);
	cr_assert_eq(rc, 0, "encrypt: %s", msg);
	free(msg);
	unlink(plain);
	free(plain);
}

/* Whether the object at path opens (frames and all) with key `name`. */
static enum atr_err
opens(const char *path, const char *name)
{
	struct atr_key *k = NULL;
	struct et_buf out = {0};
	enum atr_err err;
	uint8_t *ct;
	size_t len;

	cr_assert_eq(et_key_open(name, &k), ATR_OK);
	ct = tu_read_file(path, &len);
	cr_assert_not_null(ct, "%s", path);
	err = et_open(ct, len, &k, 1, NULL, &out, NULL);
	et_buf_free(&out);
	free(ct);
	atr_key_free(k);
	return err;
}

static int
same_bytes(const char *a, const uint8_t *b, size_t blen)
{
	size_t len;
	uint8_t *p = tu_read_file(a, &len);
	int same = p != NULL && len == blen && memcmp(p, b, len) == 0;

	free(p);
	return same;
}

/* ---- item 11: "already done" only after authentication ------------- */

Test(rewrap_safety, header_naming_to_with_bad_mac_is_a_failure)
{
	char *store = P("store"), *obj = P("store/forged"), *msg;
	struct atr_header *h = malloc(sizeof(*h));
	const char *rw[] = {bin(), "rewrap", "--from", olduri, "--to", newpub,
	    store, NULL};
	const char *rwk[] = {bin(), "rewrap", "--from", olduri, "--to", newpub,
	    "--key", newuri, store, NULL};
	uint8_t *buf;
	size_t len;
	int rc;

	cr_assert_eq(mkdir(store, 0700), 0);
	/* A header naming the --to key, with a MAC that cannot verify and
	 * a random body: what anyone can write without any key. */
	make_object(obj, newpub, 3000);
	buf = tu_read_file(obj, &len);
	cr_assert_not_null(buf);
	cr_assert_eq(atr_header_parse(buf, len, h), ATR_OK);
	buf[h->len - 1] ^= 0x01;
	atr_random(buf + h->len, len - h->len);
	cr_assert_eq(tu_write_file(obj, buf, len), 0);

	rc = run(rw, &msg);
	cr_assert_eq(rc, 1, "a forged header must fail the run (exit %d): %s",
	    rc, msg);
	cr_assert_null(strstr(msg, "1 skipped (already done)"), "%s", msg);
	cr_assert_not_null(strstr(msg, "forged: not verifiable: header could "
	    "not be authenticated with a key held by this command"), "%s", msg);
	cr_assert_not_null(strstr(msg, "1 failed"), "%s", msg);
	free(msg);

	/* With a key that can check it, it is an authentication failure. */
	rc = run(rwk, &msg);
	cr_assert_eq(rc, 1, "exit %d: %s", rc, msg);
	cr_assert_not_null(strstr(msg, "authentication failed"), "%s", msg);
	cr_assert_null(strstr(msg, "1 skipped (already done)"), "%s", msg);
	free(msg);
	cr_assert(same_bytes(obj, buf, len), "the object was changed");
	free(buf);
	free(h);
	free(obj);
	free(store);
}

Test(rewrap_safety, done_object_recognised_only_with_a_key_that_opens_it)
{
	char *store = P("store"), *obj = P("store/done"), *msg;
	const char *rw[] = {bin(), "rewrap", "--from", olduri, "--to", newpub,
	    store, NULL};
	const char *rwk[] = {bin(), "rewrap", "--from", olduri, "--to", newpub,
	    "--key", newuri, store, NULL};
	const char *rwto[] = {bin(), "rewrap", "--from", olduri, "--to", newuri,
	    store, NULL};
	size_t len;
	uint8_t *before;
	int rc;

	cr_assert_eq(mkdir(store, 0700), 0);
	make_object(obj, newpub, 1000);
	before = tu_read_file(obj, &len);

	/* --to is a public key: nothing held can vouch for the object. */
	rc = run(rw, &msg);
	cr_assert_eq(rc, 1, "exit %d: %s", rc, msg);
	cr_assert_not_null(strstr(msg, "not verifiable"), "%s", msg);
	cr_assert_not_null(strstr(msg, "private key of --to"), "%s", msg);
	free(msg);

	/* The new private key given with --key, or as --to: done. */
	rc = run(rwk, &msg);
	cr_assert_eq(rc, 0, "exit %d: %s", rc, msg);
	cr_assert_not_null(strstr(msg,
	    "0 rewrapped, 1 skipped (already done), 0 failed"), "%s", msg);
	free(msg);
	rc = run(rwto, &msg);
	cr_assert_eq(rc, 0, "exit %d: %s", rc, msg);
	cr_assert_not_null(strstr(msg, "1 skipped (already done)"), "%s", msg);
	free(msg);
	cr_assert(same_bytes(obj, before, len));
	free(before);
	free(obj);
	free(store);
}

/* ---- item 10: metadata ---------------------------------------------- */

/* A POSIX ACL in the Linux xattr form (include/uapi/linux/
 * posix_acl_xattr.h): version 2 (u32), then entries tag u16, perm u16,
 * id u32, all little-endian, sorted by tag then id. */
struct ace {
	uint16_t tag;
	uint16_t perm;
	uint32_t id;
};

#define ACL_USER_OBJ 0x01
#define ACL_USER 0x02
#define ACL_GROUP_OBJ 0x04
#define ACL_MASK 0x10
#define ACL_OTHER 0x20
#define ACL_NOID 0xFFFFFFFFU

static size_t
acl_bytes(const struct ace *e, size_t n, uint8_t *out)
{
	size_t i, off = 4;

	out[0] = 2;
	out[1] = out[2] = out[3] = 0;
	for (i = 0; i < n; i++) {
		out[off++] = (uint8_t)(e[i].tag & 0xff);
		out[off++] = (uint8_t)(e[i].tag >> 8);
		out[off++] = (uint8_t)(e[i].perm & 0xff);
		out[off++] = (uint8_t)(e[i].perm >> 8);
		out[off++] = (uint8_t)(e[i].id & 0xff);
		out[off++] = (uint8_t)((e[i].id >> 8) & 0xff);
		out[off++] = (uint8_t)((e[i].id >> 16) & 0xff);
		out[off++] = (uint8_t)(e[i].id >> 24);
	}
	return off;
}

struct meta {
	struct stat st;
	char user[64];
	ssize_t user_len;
	uint8_t acl[256];
	ssize_t acl_len;
	int acl_errno;
};

static void
meta_of(const char *path, struct meta *m)
{
	memset(m, 0, sizeof(*m));
	cr_assert_eq(lstat(path, &m->st), 0);
	m->user_len = getxattr(path, "user.note", m->user, sizeof(m->user));
	m->acl_len = getxattr(path, "system.posix_acl_access", m->acl,
	    sizeof(m->acl));
	m->acl_errno = m->acl_len < 0 ? errno : 0;
}

Test(rewrap_safety, keeps_owner_group_mode_xattrs_and_acl)
{
	char *store = P("store"), *a = P("store/a"), *b = P("store/b");
	char *c = P("store/c"), *msg;
	const struct ace acc[] = {
		{ACL_USER_OBJ, 6, ACL_NOID}, {ACL_USER, 6, OTHER_UID},
		{ACL_GROUP_OBJ, 4, ACL_NOID}, {ACL_MASK, 6, ACL_NOID},
		{ACL_OTHER, 0, ACL_NOID},
	};
	const struct ace def[] = {
		{ACL_USER_OBJ, 7, ACL_NOID}, {ACL_USER, 5, OTHER_UID},
		{ACL_GROUP_OBJ, 5, ACL_NOID}, {ACL_MASK, 5, ACL_NOID},
		{ACL_OTHER, 0, ACL_NOID},
	};
	const char *rw[] = {bin(), "rewrap", "--from", olduri, "--to", newpub,
	    store, NULL};
	struct meta ma, mb, mc, na, nb, nc;
	uint8_t acl[256];
	size_t al;
	int rc, root = geteuid() == 0;

	cr_assert_eq(mkdir(store, 0755), 0);
	make_object(a, olduri, 2000);
	make_object(b, olduri, 100);
	make_object(c, olduri, 0);
	if (root) {
		cr_assert_eq(chown(a, OTHER_UID, OTHER_GID), 0);
		cr_assert_eq(chown(b, OTHER_UID, OTHER_GID), 0);
	} else {
		fprintf(stderr, "test_rewrap_safety: not root: the files keep "
		    "this user's owner; the uid %d case needs root (CI)\n",
		    OTHER_UID);
	}
	/* a: an attribute and an access ACL (which sets the group bits
	 * to its mask: mode 0660).  b: set-user-ID and an attribute. */
	cr_assert_eq(setxattr(a, "user.note", "hello", 5, 0), 0);
	al = acl_bytes(acc, sizeof(acc) / sizeof(acc[0]), acl);
	cr_assert_eq(setxattr(a, "system.posix_acl_access", acl, al, 0), 0,
	    "setting an ACL: %s", strerror(errno));
	cr_assert_eq(chmod(b, 04750), 0);
	cr_assert_eq(setxattr(b, "user.note", "b", 1, 0), 0);
	/* c: no ACL, in a directory whose default ACL a new file would
	 * inherit: the replacement must not gain it. */
	cr_assert_eq(chmod(c, 0604), 0);
	al = acl_bytes(def, sizeof(def) / sizeof(def[0]), acl);
	cr_assert_eq(setxattr(store, "system.posix_acl_default", acl, al, 0),
	    0, "setting a default ACL: %s", strerror(errno));
	meta_of(a, &ma);
	meta_of(b, &mb);
	meta_of(c, &mc);
	cr_assert_eq(ma.st.st_mode & 07777, 0660);
	cr_assert_eq(mc.acl_errno, ENODATA);

	rc = run(rw, &msg);
	cr_assert_eq(rc, 0, "exit %d: %s", rc, msg);
	cr_assert_not_null(strstr(msg, "3 rewrapped"), "%s", msg);
	free(msg);
	meta_of(a, &na);
	meta_of(b, &nb);
	meta_of(c, &nc);
	cr_assert_neq(na.st.st_ino, ma.st.st_ino, "a was not replaced");
	cr_assert_eq(na.st.st_uid, ma.st.st_uid, "a: owner %lu, was %lu",
	    (unsigned long)na.st.st_uid, (unsigned long)ma.st.st_uid);
	cr_assert_eq(na.st.st_gid, ma.st.st_gid, "a: group %lu, was %lu",
	    (unsigned long)na.st.st_gid, (unsigned long)ma.st.st_gid);
	cr_assert_eq(na.st.st_mode, ma.st.st_mode, "a: mode %o, was %o",
	    (unsigned)na.st.st_mode, (unsigned)ma.st.st_mode);
	cr_assert_eq(nb.st.st_uid, mb.st.st_uid);
	cr_assert_eq(nb.st.st_gid, mb.st.st_gid);
	cr_assert_eq(nb.st.st_mode, mb.st.st_mode, "b: mode %o, was %o",
	    (unsigned)nb.st.st_mode, (unsigned)mb.st.st_mode);
	cr_assert_eq(nc.st.st_mode, mc.st.st_mode, "c: mode %o, was %o",
	    (unsigned)nc.st.st_mode, (unsigned)mc.st.st_mode);
	cr_assert_eq(na.user_len, 5, "a: user.note lost");
	cr_assert_eq(memcmp(na.user, "hello", 5), 0);
	cr_assert_eq(nb.user_len, 1, "b: user.note lost");
	cr_assert_eq(na.acl_len, ma.acl_len, "a: ACL lost");
	cr_assert_eq(memcmp(na.acl, ma.acl, (size_t)ma.acl_len), 0,
	    "a: ACL changed");
	cr_assert_eq(nc.acl_errno, ENODATA,
	    "c gained the directory's default ACL");
	cr_assert_eq(opens(a, "new"), ATR_OK);
	cr_assert_eq(opens(a, "old"), ATR_ERR_NOKEY);
	cr_assert_eq(opens(b, "new"), ATR_OK);
	cr_assert_eq(opens(c, "new"), ATR_OK);
	free(a);
	free(b);
	free(c);
	free(store);
}

/* Runs argv as uid/gid OTHER_UID (root only); output to *out. */
static int
run_as_other(const char *const argv[], char **out)
{
	char *o = tu_path(dir, "other.out");
	pid_t pid;
	int st, fd;

	fd = open(o, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	cr_assert_geq(fd, 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		if (dup2(fd, 1) < 0 || dup2(fd, 2) < 0 ||
		    setgroups(0, NULL) != 0 || setgid(OTHER_UID) != 0 ||
		    setuid(OTHER_UID) != 0)
			_exit(126);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(fd);
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	*out = (char *)tu_read_file(o, NULL);
	cr_assert_not_null(*out);
	free(o);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

Test(rewrap_safety, owner_that_cannot_be_kept_fails_the_object)
{
	char *store = P("store"), *obj = P("store/theirs"), *key = P("old.key");
	char *kp = et_key_path("old"), uri[700], *msg;
	const char *rw[] = {NULL, "rewrap", "--from", uri, "--to", newpub,
	    store, NULL};
	uint8_t *kb, *before;
	size_t kl, len;
	struct stat st;
	int rc;

	if (geteuid() != 0)
		cr_skip_test("needs root to make a file owned by another user "
		    "(CI runs as root)");
	rw[0] = bin();
	/* uid 1234 may write the store, but the object is uid 1235's. */
	cr_assert_eq(chmod(dir, 0755), 0);
	cr_assert_eq(mkdir(store, 0755), 0);
	cr_assert_eq(chown(store, OTHER_UID, OTHER_UID), 0);
	make_object(obj, olduri, 1500);
	cr_assert_eq(chown(obj, OTHER_GID, OTHER_GID), 0);
	cr_assert_eq(chmod(obj, 0644), 0);
	kb = tu_read_file(kp, &kl);
	cr_assert_not_null(kb);
	cr_assert_eq(tu_write_file(key, kb, kl), 0);
	atr_memzero(kb, kl);
	free(kb);
	cr_assert_eq(chown(key, OTHER_UID, OTHER_UID), 0);
	snprintf(uri, sizeof(uri), "file:%s", key);
	/* The new public key must be readable by uid 1234 too. */
	{
		char *pub = et_key_path("new.pub"), *pcopy = P("new.pem.pub");

		kb = tu_read_file(pub, &kl);
		cr_assert_not_null(kb);
		cr_assert_eq(tu_write_file(pcopy, kb, kl), 0);
		cr_assert_eq(chmod(pcopy, 0644), 0);
		free(kb);
		free(pub);
		snprintf(newpub, sizeof(newpub), "file:%s", pcopy);
		free(pcopy);
	}
	before = tu_read_file(obj, &len);

	rc = run_as_other(rw, &msg);
	cr_assert_eq(rc, 2, "exit %d: %s", rc, msg);
	cr_assert_not_null(strstr(msg, "theirs: I/O error: cannot keep owner "
	    "1235 and group 1235"), "%s", msg);
	free(msg);
	cr_assert_eq(stat(obj, &st), 0);
	cr_assert_eq(st.st_uid, OTHER_GID, "the object changed owner to %lu",
	    (unsigned long)st.st_uid);
	cr_assert(same_bytes(obj, before, len), "the object was changed");
	cr_assert_eq(et_tree_has_tmp(store), 0, "a temporary file was left");
	free(before);
	free(kp);
	free(key);
	free(obj);
	free(store);
}

/* ---- item 10: hard links -------------------------------------------- */

Test(rewrap_safety, hardlinked_object_reported_and_skipped)
{
	char *store = P("store"), *obj = P("store/obj"), *other = P("link");
	const char *rw[] = {bin(), "rewrap", "--from", olduri, "--to", newpub,
	    store, NULL};
	const char *rwb[] = {bin(), "rewrap", "--break-hardlinks", "--from",
	    olduri, "--to", newpub, store, NULL};
	struct stat a, b;
	char *msg;
	int rc;

	cr_assert_eq(mkdir(store, 0700), 0);
	make_object(obj, olduri, 700);
	cr_assert_eq(link(obj, other), 0);

	rc = run(rw, &msg);
	cr_assert_eq(rc, 2, "a skipped object must not look done (exit %d): "
	    "%s", rc, msg);
	cr_assert_not_null(strstr(msg, "obj: hard-linked (2 links), skipped"),
	    "%s", msg);
	cr_assert_not_null(strstr(msg, "0 rewrapped"), "%s", msg);
	free(msg);
	cr_assert_eq(stat(obj, &a), 0);
	cr_assert_eq(stat(other, &b), 0);
	cr_assert_eq(a.st_ino, b.st_ino, "the hard link was broken");
	cr_assert_eq(a.st_nlink, 2);
	cr_assert_eq(opens(obj, "old"), ATR_OK);

	/* Asked for: this name gets the new file, the other keeps the old. */
	rc = run(rwb, &msg);
	cr_assert_eq(rc, 0, "exit %d: %s", rc, msg);
	cr_assert_not_null(strstr(msg, "(hard link broken: it had 2 links)"),
	    "%s", msg);
	free(msg);
	cr_assert_eq(opens(obj, "new"), ATR_OK);
	cr_assert_eq(opens(obj, "old"), ATR_ERR_NOKEY);
	cr_assert_eq(opens(other, "old"), ATR_OK);
	cr_assert_eq(stat(other, &b), 0);
	cr_assert_eq(b.st_nlink, 1);
	free(obj);
	free(other);
	free(store);
}

/* ---- item 10: temporary files ---------------------------------------- */

/* A pid that no longer exists: a child that exited and was reaped. */
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

static char *
tmp_path(const char *store, long pid)
{
	char name[80];

	cr_assert_eq(atr_rewrap_tmp_name(pid, name, sizeof(name)), ATR_OK);
	return tu_path(store, name);
}

/* The same name with another host's tag. */
static char *
foreign(const char *path)
{
	char *p = strdup(path), *host;

	cr_assert_not_null(p);
	host = strrchr(p, '-') - 8;
	memcpy(host, strncmp(host, "00000000", 8) == 0 ? "11111111" :
	    "00000000", 8);
	return p;
}

static int
exists(const char *p)
{
	struct stat st;

	return lstat(p, &st) == 0;
}

Test(rewrap_safety, only_own_stale_temporary_files_are_removed)
{
	char *store = P("store"), *obj = P("store/obj"), *msg;
	char *mk = P("store/.atrest-tmp-Ab12Cd");
	char *user = P("store/.atrest-tmp-notes");
	pid_t dead = dead_pid();
	char *stale = tmp_path(store, dead), *empty = tmp_path(store, dead);
	char *live = tmp_path(store, (long)getpid());
	char *text = tmp_path(store, dead), *linked = tmp_path(store, dead);
	char *sym = tmp_path(store, dead), *far = NULL, *farold = NULL;
	char *elsewhere = P("elsewhere");
	const char *rw[] = {bin(), "rewrap", "--from", olduri, "--to", newpub,
	    store, NULL};
	struct timespec ts[2];
	uint8_t *env;
	size_t envlen;
	int rc;

	cr_assert_eq(mkdir(store, 0700), 0);
	make_object(obj, olduri, 500);
	env = tu_read_file(obj, &envlen);
	cr_assert_not_null(env);
	/* Another atrest writer's temporary file, complete but not yet
	 * renamed, and a user's file: neither is rewrap's. */
	cr_assert_eq(tu_write_file(mk, env, envlen), 0);
	cr_assert_eq(tu_write_file(user, "my notes\n", 9), 0);
	/* Left by a killed rewrap on this host: removed. */
	cr_assert_eq(tu_write_file(stale, env, 100), 0);
	cr_assert_eq(tu_write_file(empty, "", 0), 0);
	/* Its writer still runs: kept. */
	cr_assert_eq(tu_write_file(live, env, 100), 0);
	/* Not an envelope, or with another link, or a symbolic link:
	 * kept. */
	cr_assert_eq(tu_write_file(text, "hello world", 11), 0);
	cr_assert_eq(tu_write_file(linked, env, 100), 0);
	cr_assert_eq(link(linked, elsewhere), 0);
	cr_assert_eq(symlink(elsewhere, sym), 0);
	/* Written on another host: kept while recent, removed when old. */
	far = foreign(live);
	farold = foreign(stale);
	cr_assert_eq(tu_write_file(far, env, 100), 0);
	cr_assert_eq(tu_write_file(farold, env, 100), 0);
	ts[0].tv_sec = ts[1].tv_sec = time(NULL) - 2 *
	    ATR_REWRAP_TMP_FOREIGN_AGE;
	ts[0].tv_nsec = ts[1].tv_nsec = 0;
	cr_assert_eq(utimensat(AT_FDCWD, farold, ts, 0), 0);

	rc = run(rw, &msg);
	cr_assert_eq(rc, 0, "exit %d: %s", rc, msg);
	cr_assert_not_null(strstr(msg, "1 rewrapped"), "%s", msg);
	cr_assert(exists(mk), "another writer's temporary file was removed");
	cr_assert(exists(user), "a user's file was removed");
	cr_assert(same_bytes(mk, env, envlen), "another writer's file changed");
	cr_assert(!exists(stale), "a stale temporary file was left");
	cr_assert(!exists(empty), "a stale empty temporary file was left");
	cr_assert(!exists(farold), "an old one from another host was left");
	cr_assert(exists(live), "a running writer's file was removed");
	cr_assert(exists(text), "a file with other content was removed");
	cr_assert(exists(linked), "a hard-linked file was removed");
	cr_assert(exists(sym), "a symbolic link was removed");
	cr_assert(exists(far), "a recent one from another host was removed");
	cr_assert_not_null(strstr(msg, "removed 3 temporary file(s) of an "
	    "interrupted run; left 6 other temporary file(s) alone"), "%s",
	    msg);
	cr_assert_not_null(strstr(msg, "is still running"), "%s", msg);
	free(msg);
	cr_assert_eq(opens(obj, "new"), ATR_OK);
	free(env);
	free(stale);
	free(empty);
	free(live);
	free(text);
	free(linked);
	free(sym);
	free(far);
	free(farold);
	free(elsewhere);
	free(mk);
	free(user);
	free(obj);
	free(store);
}

/* ---- names in rewrap's text output ----------------------------------- */

/* A name that would forge a line and erase the one above it if printed
 * raw. */
#define EVIL "evil\n[PASS] rotated\x1b[2K\x1b[1A"

Test(rewrap_safety, hostile_names_are_escaped)
{
	char *store = P("names"), *obj, *junk, *msg, *p;
	char name[64];
	const char *argv[] = {bin(), "rewrap", "--from", olduri, "--to",
	    newpub, store, NULL};
	int rc;

	cr_assert_eq(mkdir(store, 0700), 0);
	snprintf(name, sizeof(name), "names/%s", EVIL);
	obj = P(name);
	make_object(obj, olduri, 100);
	snprintf(name, sizeof(name), "names/%s.junk", EVIL);
	junk = P(name);
	cr_assert_eq(tu_write_file(junk, "not an envelope", 15), 0);
	/* One object rewrapped (stdout), one failure (stderr). */
	rc = run(argv, &msg);
	cr_assert_eq(rc, 1, "rc %d: %s", rc, msg);
	cr_assert_not_null(strstr(msg, "rewrapped "), "%s", msg);
	for (p = msg; *p != '\0'; p++)
		cr_assert(*p == '\n' || (unsigned char)*p >= 0x20,
		    "a raw control byte 0x%02x in: %s", (unsigned char)*p, msg);
	cr_assert_null(strstr(msg, "\n[PASS]"), "a forged line: %s", msg);
	cr_assert_not_null(strstr(msg, "/evil\\n[PASS] rotated\\033[2K"),
	    "quoted name: %s", msg);
	free(msg);
	free(junk);
	free(obj);
	free(store);
}
