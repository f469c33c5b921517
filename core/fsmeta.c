/* see fsmeta.h */
#include "fsmeta.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/xattr.h>
#include <unistd.h>

/* A list or value that keeps changing size under us is given up on. */
#define META_TRIES 8

/* An attribute name as printable text for a detail line: names are
 * chosen by whoever owns the file, so control bytes become '?'. */
static void
printable(const char *name, char *out, size_t cap)
{
	size_t i;

	for (i = 0; name[i] != '\0' && i + 1 < cap; i++)
		out[i] = (char)((name[i] >= 0x20 && name[i] < 0x7f) ?
		    name[i] : '?');
	out[i] = '\0';
}

/* The NUL-separated attribute names of fd (listxattr(2)); a file system
 * without extended attributes has none. */
static enum atr_err
list_names(int fd, char **out, size_t *len)
{
	char *b;
	ssize_t n, m;
	int i;

	*out = NULL;
	*len = 0;
	for (i = 0; i < META_TRIES; i++) {
		n = flistxattr(fd, NULL, 0);
		if (n < 0 && errno == ENOTSUP)
			return ATR_OK;
		if (n < 0)
			return atr_fail(ATR_ERR_IO,
			    "cannot list extended attributes: %s",
			    strerror(errno));
		if (n == 0)
			return ATR_OK;
		b = malloc((size_t)n);
		if (b == NULL)
			return ATR_ERR_NOMEM;
		m = flistxattr(fd, b, (size_t)n);
		if (m >= 0) {
			*out = b;
			*len = (size_t)m;
			return ATR_OK;
		}
		free(b);
		if (errno != ERANGE)
			return atr_fail(ATR_ERR_IO,
			    "cannot list extended attributes: %s",
			    strerror(errno));
	}
	return atr_fail(ATR_ERR_IO,
	    "extended attributes kept changing while being copied");
}

static int
has_name(const char *list, size_t len, const char *name)
{
	size_t off = 0;

	while (off < len) {
		if (strcmp(list + off, name) == 0)
			return 1;
		off += strlen(list + off) + 1;
	}
	return 0;
}

static enum atr_err
copy_one(int src, int dst, const char *name)
{
	char shown[128];
	void *v = NULL;
	ssize_t n, m = -1;
	int i, e = 0;

	printable(name, shown, sizeof(shown));
	for (i = 0; i < META_TRIES; i++) {
		n = fgetxattr(src, name, NULL, 0);
		if (n < 0) {
			e = errno;
			break;
		}
		v = malloc(n > 0 ? (size_t)n : 1);
		if (v == NULL)
			return ATR_ERR_NOMEM;
		if (n == 0) {
			/* A size of 0 would ask for the size again. */
			m = 0;
			break;
		}
		m = fgetxattr(src, name, v, (size_t)n);
		if (m >= 0)
			break;
		e = errno;
		free(v);
		v = NULL;
		if (e != ERANGE)
			break;
	}
	if (v == NULL)
		return atr_fail(ATR_ERR_IO,
		    "cannot read extended attribute %s: %s", shown,
		    strerror(e != 0 ? e : ERANGE));
	if (fsetxattr(dst, name, v, (size_t)m, 0) != 0) {
		e = errno;
		free(v);
		/* security.* (an LSM label, file capabilities) and
		 * trusted.* need privileges the process may not have: the
		 * object is not replaced without them (attr(7)). */
		return atr_fail(ATR_ERR_IO,
		    "cannot keep extended attribute %s: %s", shown,
		    strerror(e));
	}
	free(v);
	return ATR_OK;
}

enum atr_err
atr_meta_owner(int dst, const struct stat *src)
{
	struct stat ds;
	uid_t uid;
	gid_t gid;

	if (fstat(dst, &ds) != 0)
		return atr_fail(ATR_ERR_IO, "fstat: %s", strerror(errno));
	if (ds.st_uid == src->st_uid && ds.st_gid == src->st_gid)
		return ATR_OK;
	/* -1 leaves that id alone (chown(2)), so a process that is the
	 * owner only needs to be a member of the group. */
	uid = ds.st_uid == src->st_uid ? (uid_t)-1 : src->st_uid;
	gid = ds.st_gid == src->st_gid ? (gid_t)-1 : src->st_gid;
	if (fchown(dst, uid, gid) != 0)
		return atr_fail(ATR_ERR_IO,
		    "cannot keep owner %lu and group %lu (%s); run as root "
		    "or as the owner", (unsigned long)src->st_uid,
		    (unsigned long)src->st_gid, strerror(errno));
	return ATR_OK;
}

enum atr_err
atr_meta_finish(int src_fd, int dst, const struct stat *src)
{
	char *sl = NULL, *dl = NULL, shown[128];
	size_t sn = 0, dn = 0, off;
	struct stat ds;
	enum atr_err err;

	err = list_names(src_fd, &sl, &sn);
	if (err == ATR_OK)
		err = list_names(dst, &dl, &dn);
	if (err != ATR_OK)
		goto out;
	/* What the new file got on its own and the original lacks (an
	 * ACL from the directory's default ACL) would change access. */
	for (off = 0; off < dn; off += strlen(dl + off) + 1) {
		if (has_name(sl, sn, dl + off))
			continue;
		if (fremovexattr(dst, dl + off) != 0) {
			printable(dl + off, shown, sizeof(shown));
			err = atr_fail(ATR_ERR_IO,
			    "cannot remove extended attribute %s that the "
			    "original does not have: %s", shown,
			    strerror(errno));
			goto out;
		}
	}
	for (off = 0; off < sn; off += strlen(sl + off) + 1) {
		err = copy_one(src_fd, dst, sl + off);
		if (err != ATR_OK)
			goto out;
	}
	/* Last, as chown(2) and an ACL write may have changed the bits; a
	 * process that is not root and not in the file's group cannot set
	 * set-group-ID (chmod(2)), which the check below catches. */
	if (fchmod(dst, src->st_mode & 07777) != 0) {
		err = atr_fail(ATR_ERR_IO, "cannot keep mode %04o: %s",
		    (unsigned)(src->st_mode & 07777), strerror(errno));
		goto out;
	}
	if (fstat(dst, &ds) != 0) {
		err = atr_fail(ATR_ERR_IO, "fstat: %s", strerror(errno));
		goto out;
	}
	if (ds.st_uid != src->st_uid || ds.st_gid != src->st_gid) {
		err = atr_fail(ATR_ERR_IO,
		    "cannot keep owner %lu and group %lu",
		    (unsigned long)src->st_uid, (unsigned long)src->st_gid);
		goto out;
	}
	if ((ds.st_mode & 07777) != (src->st_mode & 07777)) {
		err = atr_fail(ATR_ERR_IO, "cannot keep mode %04o (got %04o)",
		    (unsigned)(src->st_mode & 07777),
		    (unsigned)(ds.st_mode & 07777));
		goto out;
	}
	err = ATR_OK;
out:
	free(sl);
	free(dl);
	return err;
}
