/* see fsutil.h */
#include "fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto.h"

const char *
atr_file_kind(mode_t mode)
{
	if (S_ISREG(mode))
		return "a regular file";
	if (S_ISDIR(mode))
		return "a directory";
	if (S_ISLNK(mode))
		return "a symbolic link";
	if (S_ISFIFO(mode))
		return "a FIFO";
	if (S_ISSOCK(mode))
		return "a socket";
	if (S_ISCHR(mode))
		return "a character device";
	if (S_ISBLK(mode))
		return "a block device";
	return "not a regular file";
}

int
atr_out_names_fd(const char *path, int *fd)
{
	const char *p;
	long v = 0;

	if (strcmp(path, "-") == 0 || strcmp(path, "/dev/stdout") == 0) {
		*fd = STDOUT_FILENO;
		return 1;
	}
	if (strcmp(path, "/dev/stderr") == 0) {
		*fd = STDERR_FILENO;
		return 1;
	}
	if (strncmp(path, "/dev/fd/", 8) != 0 || path[8] == '\0')
		return 0;
	for (p = path + 8; *p != '\0'; p++) {
		if (*p < '0' || *p > '9' || v > 1000000)
			return 0;
		v = v * 10 + (*p - '0');
	}
	*fd = (int)v;
	return 1;
}

enum atr_err
atr_path_split(const char *path, char *dir, size_t cap, const char **base)
{
	size_t n = strlen(path), b = n;

	*base = NULL;
	if (n > 0 && path[n - 1] == '/')
		return atr_fail(ATR_ERR_USAGE, "%s is a directory, not a file "
		    "name", path);
	while (b > 0 && path[b - 1] != '/')
		b--;
	if (n - b == 0 || n - b > NAME_MAX)
		return atr_fail(ATR_ERR_USAGE, "%s: not a file name", path);
	if (b == 0)
		snprintf(dir, cap, ".");
	else if (b == 1)
		snprintf(dir, cap, "/");
	else if (b - 1 < cap)
		snprintf(dir, cap, "%.*s", (int)(b - 1), path);
	else
		return atr_fail(ATR_ERR_USAGE, "path too long");
	*base = path + b;
	return ATR_OK;
}

/* Why an existing name is not written (the message names it). */
static enum atr_err
refuse(const char *shown, mode_t mode)
{
	if (S_ISDIR(mode))
		return atr_fail(ATR_ERR_USAGE, "%s is a directory", shown);
	if (S_ISLNK(mode))
		return atr_fail(ATR_ERR_EXISTS,
		    "%s is a symbolic link: not followed", shown);
	return atr_fail(ATR_ERR_EXISTS,
	    "%s is %s: only a regular file is replaced (write to a pipe "
	    "with -o - and the shell)", shown, atr_file_kind(mode));
}

enum atr_err
atr_tmp_name(const char *stem, const char *set, size_t n, char *out,
    size_t cap)
{
	size_t pl = sizeof(ATR_TMP_PREFIX) - 1, sl = strlen(stem);
	size_t m = strlen(set), i;
	uint8_t r[64];
	enum atr_err err;

	if (n > sizeof(r) || m == 0 || pl + sl + n >= cap)
		return atr_fail(ATR_ERR_USAGE, "name buffer too small");
	err = atr_random(r, n);
	if (err != ATR_OK)
		return err;
	memcpy(out, ATR_TMP_PREFIX, pl);
	memcpy(out + pl, stem, sl);
	for (i = 0; i < n; i++)
		out[pl + sl + i] = set[r[i] % m];
	out[pl + sl + n] = '\0';
	return ATR_OK;
}

/* Names drawn before giving up when each one exists already. */
#define TMP_TRIES 100

enum atr_err
atr_tmp_createat(int dirfd, const char *stem, const char *set, size_t n,
    char *name, size_t cap, int *fd, int *eno)
{
	enum atr_err err = ATR_OK;
	int i;

	*fd = -1;
	*eno = 0;
	for (i = 0; i < TMP_TRIES; i++) {
		err = atr_tmp_name(stem, set, n, name, cap);
		if (err != ATR_OK)
			break;
		/* Like mkstemp(3), but relative to the directory descriptor;
		 * O_CREAT | O_EXCL never follows a link. */
		*fd = openat(dirfd, name, O_RDWR | O_CREAT | O_EXCL |
		    O_NOFOLLOW | O_CLOEXEC, 0600);
		if (*fd >= 0)
			return ATR_OK;
		*eno = errno;
		if (*eno != EEXIST)
			break;
	}
	if (cap > 0)
		name[0] = '\0';
	if (err != ATR_OK)
		return err;
	return atr_fail(ATR_ERR_IO, "cannot create a temporary file: %s",
	    strerror(*eno));
}

/* A new, empty temporary file in o->dirfd (fsutil.h, "Temporary
 * files"), with the output's mode. */
static enum atr_err
make_temp(struct atr_outfile *o, const char *shown, mode_t mode)
{
	char dir[PATH_MAX];
	const char *base;
	enum atr_err err;
	int i, e;

	err = atr_tmp_createat(o->dirfd, "", ATR_TMP_ALNUM, ATR_OUT_TMP_RANDOM,
	    o->tmpname, sizeof(o->tmpname), &o->fd, &e);
	if (atr_path_split(shown, dir, sizeof(dir), &base) != ATR_OK)
		snprintf(dir, sizeof(dir), ".");
	if (err != ATR_OK && e == 0)
		return err;
	if (err != ATR_OK)
		return atr_fail(ATR_ERR_IO, "cannot create a file in %s: %s",
		    dir, strerror(e));
	i = strcmp(dir, "/") == 0 ?
	    snprintf(o->tmp, sizeof(o->tmp), "/%s", o->tmpname) :
	    snprintf(o->tmp, sizeof(o->tmp), "%s/%s", dir, o->tmpname);
	if (i < 0 || (size_t)i >= sizeof(o->tmp))
		o->tmp[0] = '\0';
	if (fchmod(o->fd, mode) != 0) {
		e = errno;
		atr_out_abort(o);
		return atr_fail(ATR_ERR_IO, "chmod: %s", strerror(e));
	}
	return ATR_OK;
}

enum atr_err
atr_out_beginat(struct atr_outfile *o, int dirfd, const char *name,
    const char *shown, mode_t mode, unsigned flags)
{
	struct stat st;
	enum atr_err err;
	int fd, e;

	memset(o, 0, sizeof(*o));
	o->fd = -1;
	o->dirfd = -1;
	if (strlen(shown) >= sizeof(o->path) || strlen(name) >= sizeof(o->name))
		return atr_fail(ATR_ERR_USAGE, "path too long");
	snprintf(o->path, sizeof(o->path), "%s", shown);
	snprintf(o->name, sizeof(o->name), "%s", name);
	if (*name == '\0' || strchr(name, '/') != NULL ||
	    strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return atr_fail(ATR_ERR_USAGE, "%s is a directory", shown);
	/* O_NONBLOCK: opening a FIFO for writing without a reader fails
	 * (ENXIO) instead of waiting for one; O_NOCTTY: a terminal never
	 * becomes our controlling terminal (POSIX open(2)). */
	fd = openat(dirfd, name, O_WRONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_NOCTTY | O_CLOEXEC);
	e = errno;
	if (fd >= 0) {
		if (fstat(fd, &st) != 0) {
			e = errno;
			close(fd);
			return atr_fail(ATR_ERR_IO, "%s: %s", shown,
			    strerror(e));
		}
		if (S_ISCHR(st.st_mode) && (flags & ATR_OUT_DEVICE)) {
			int fl = fcntl(fd, F_GETFL);

			/* Written like any descriptor from now on. */
			if (fl < 0 ||
			    fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0) {
				e = errno;
				close(fd);
				return atr_fail(ATR_ERR_IO, "%s: %s", shown,
				    strerror(e));
			}
			o->fd = fd;
			o->direct = 1;
			return ATR_OK;
		}
		close(fd);
		if (!S_ISREG(st.st_mode))
			return refuse(shown, st.st_mode);
	} else if (e != ENOENT) {
		/* ELOOP is the link itself (O_NOFOLLOW), ENXIO a FIFO
		 * without a reader or a socket, EACCES a file we may not
		 * write but may still replace: the type says which. */
		if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
			if (errno != ENOENT)
				return atr_fail(ATR_ERR_IO, "%s: %s", shown,
				    strerror(e));
		} else if (!S_ISREG(st.st_mode)) {
			return refuse(shown, st.st_mode);
		}
	}
	o->dirfd = fcntl(dirfd, F_DUPFD_CLOEXEC, 3);
	if (o->dirfd < 0)
		return atr_fail(ATR_ERR_IO, "%s: %s", shown, strerror(errno));
	o->has_dir = 1;
	err = make_temp(o, shown, mode);
	if (err != ATR_OK)
		atr_out_abort(o);
	return err;
}

enum atr_err
atr_out_begin(struct atr_outfile *o, const char *path, mode_t mode)
{
	char dir[PATH_MAX];
	const char *base;
	enum atr_err err;
	int dfd, fd;

	memset(o, 0, sizeof(*o));
	o->fd = -1;
	o->dirfd = -1;
	if (atr_out_names_fd(path, &fd)) {
		o->fd = fd;
		o->is_stdout = 1;
		return ATR_OK;
	}
	if (strlen(path) >= sizeof(o->path))
		return atr_fail(ATR_ERR_USAGE, "path too long");
	err = atr_path_split(path, dir, sizeof(dir), &base);
	if (err != ATR_OK)
		return err;
	/* The directory part is the caller's to name: resolved as usual. */
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return atr_fail(ATR_ERR_IO, "cannot create a file in %s: %s",
		    dir, strerror(errno));
	err = atr_out_beginat(o, dfd, base, path, mode, ATR_OUT_DEVICE);
	close(dfd);
	return err;
}

enum atr_err
atr_out_commit(struct atr_outfile *o, int noclobber)
{
	struct stat st;
	int e;

	if (o->direct) {
		if (noclobber) {
			close(o->fd);
			o->fd = -1;
			return atr_fail(ATR_ERR_EXISTS, "%s already exists",
			    o->path);
		}
		if (close(o->fd) != 0) {
			o->fd = -1;
			return atr_fail(ATR_ERR_IO, "close %s: %s", o->path,
			    strerror(errno));
		}
		o->fd = -1;
		return ATR_OK;
	}
	if (o->is_stdout)
		return ATR_OK;
	if (fsync(o->fd) != 0) {
		e = errno;
		atr_out_abort(o);
		return atr_fail(ATR_ERR_IO, "fsync: %s", strerror(e));
	}
	if (close(o->fd) != 0) {
		e = errno;
		o->fd = -1;
		atr_out_abort(o);
		return atr_fail(ATR_ERR_IO, "close: %s", strerror(e));
	}
	o->fd = -1;
	/* What was checked at the start may have been swapped meanwhile:
	 * rename(2) replaces a link or a FIFO without writing into it, but
	 * the promise is that only a regular file is ever replaced. */
	if (fstatat(o->dirfd, o->name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    !S_ISREG(st.st_mode)) {
		atr_out_abort(o);
		return refuse(o->path, st.st_mode);
	}
	if (noclobber) {
		/* link() fails on an existing name: no window where a
		 * concurrent writer's file is replaced. */
		if (linkat(o->dirfd, o->tmpname, o->dirfd, o->name, 0) != 0) {
			e = errno;
			atr_out_abort(o);
			if (e == EEXIST)
				return atr_fail(ATR_ERR_EXISTS,
				    "%s already exists", o->path);
			return atr_fail(ATR_ERR_IO, "%s: %s", o->path,
			    strerror(e));
		}
		unlinkat(o->dirfd, o->tmpname, 0);
	} else if (renameat(o->dirfd, o->tmpname, o->dirfd, o->name) != 0) {
		e = errno;
		atr_out_abort(o);
		return atr_fail(ATR_ERR_IO, "rename to %s: %s", o->path,
		    strerror(e));
	}
	o->tmpname[0] = '\0';
	o->tmp[0] = '\0';
	/* The rename is durable once the directory is (POSIX fsync(2) on
	 * a directory descriptor; Linux needs it for the new entry). */
	(void)fsync(o->dirfd);
	close(o->dirfd);
	o->dirfd = -1;
	o->has_dir = 0;
	return ATR_OK;
}

void
atr_out_abort(struct atr_outfile *o)
{
	if (o->is_stdout)
		return;
	if (o->fd >= 0) {
		close(o->fd);
		o->fd = -1;
	}
	if (o->has_dir) {
		if (o->tmpname[0] != '\0')
			unlinkat(o->dirfd, o->tmpname, 0);
		close(o->dirfd);
		o->dirfd = -1;
		o->has_dir = 0;
	}
	o->tmpname[0] = '\0';
	o->tmp[0] = '\0';
}

enum atr_err
atr_write_all(int fd, const void *buf, size_t len)
{
	const unsigned char *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return atr_fail(ATR_ERR_IO, "write: %s", strerror(errno));
		}
		p += n;
		len -= (size_t)n;
	}
	return ATR_OK;
}

enum atr_err
atr_read_full(int fd, void *buf, size_t len, size_t *got)
{
	unsigned char *p = buf;
	size_t done = 0;

	while (done < len) {
		ssize_t n = read(fd, p + done, len - done);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			*got = done;
			return atr_fail(ATR_ERR_IO, "read: %s", strerror(errno));
		}
		if (n == 0)
			break;
		done += (size_t)n;
	}
	*got = done;
	return ATR_OK;
}

enum atr_err
atr_pread_full(int fd, void *buf, size_t len, uint64_t off)
{
	unsigned char *p = buf;
	ssize_t n;

	while (len > 0) {
		n = pread(fd, p, len, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return atr_fail(ATR_ERR_IO, "read: %s", strerror(errno));
		if (n == 0)
			return atr_fail(ATR_ERR_IO,
			    "the input shrank while it was read");
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return ATR_OK;
}

void
atr_secure_free(void *p, size_t n)
{
	if (p == NULL)
		return;
	atr_memzero(p, n);
	free(p);
}

enum atr_err
atr_open_regular(const char *path, int *fd, struct stat *st)
{
	int f, fl, e;

	*fd = -1;
	/* O_NONBLOCK: opening a FIFO for reading without a writer, or a
	 * device, must not wait; the type is then checked on the
	 * descriptor itself (no window between check and use). */
	f = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (f < 0)
		return atr_fail(errno == ENOENT ? ATR_ERR_CONFIG : ATR_ERR_IO,
		    "cannot open: %s", strerror(errno));
	if (fstat(f, st) != 0) {
		e = errno;
		close(f);
		return atr_fail(ATR_ERR_IO, "%s", strerror(e));
	}
	if (!S_ISREG(st->st_mode)) {
		close(f);
		return atr_fail(ATR_ERR_IO, "is %s, not a regular file",
		    atr_file_kind(st->st_mode));
	}
	fl = fcntl(f, F_GETFL);
	if (fl < 0 || fcntl(f, F_SETFL, fl & ~O_NONBLOCK) != 0) {
		e = errno;
		close(f);
		return atr_fail(ATR_ERR_IO, "%s", strerror(e));
	}
	*fd = f;
	return ATR_OK;
}

enum atr_err
atr_read_small_file(const char *path, size_t max, int private_only,
    unsigned char **buf, size_t *len)
{
	struct stat st;
	unsigned char *b = NULL;
	enum atr_err err;
	size_t got;
	int fd;

	*buf = NULL;
	*len = 0;
	err = atr_open_regular(path, &fd, &st);
	if (err != ATR_OK)
		return err;
	if (private_only && (st.st_mode & 077) != 0) {
		close(fd);
		return atr_fail(ATR_ERR_KEY,
		    "private key file is accessible by group or others "
		    "(mode %03o); run chmod 600 on it",
		    (unsigned)(st.st_mode & 0777));
	}
	if ((size_t)st.st_size > max) {
		close(fd);
		return atr_fail(ATR_ERR_KEY, "file too large for a key");
	}
	b = malloc((size_t)st.st_size + 1);
	if (b == NULL) {
		close(fd);
		return ATR_ERR_NOMEM;
	}
	err = atr_read_full(fd, b, (size_t)st.st_size, &got);
	close(fd);
	if (err != ATR_OK) {
		atr_secure_free(b, (size_t)st.st_size + 1);
		return err;
	}
	b[got] = '\0';
	*buf = b;
	*len = got;
	return ATR_OK;
}

enum atr_err
atr_mkdirs(const char *path)
{
	char tmp[PATH_MAX];
	size_t i, n = strlen(path);

	if (n == 0 || n >= sizeof(tmp))
		return atr_fail(ATR_ERR_USAGE, "bad directory path");
	memcpy(tmp, path, n + 1);
	for (i = 1; i <= n; i++) {
		if (tmp[i] != '/' && tmp[i] != '\0')
			continue;
		tmp[i] = '\0';
		if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
			return atr_fail(ATR_ERR_IO, "mkdir %s: %s", tmp,
			    strerror(errno));
		if (i < n)
			tmp[i] = '/';
	}
	return ATR_OK;
}

enum atr_err
atr_write_file(const char *path, mode_t mode, const void *buf, size_t len)
{
	struct atr_outfile o;
	enum atr_err err = atr_out_begin(&o, path, mode);

	if (err != ATR_OK)
		return err;
	err = atr_write_all(o.fd, buf, len);
	if (err == ATR_OK)
		return atr_out_commit(&o, 0);
	atr_out_abort(&o);
	return err;
}

int
atr_out_tmp_name(const char *name)
{
	size_t n = strlen(ATR_TMP_PREFIX), len, i;

	if (strncmp(name, ATR_TMP_PREFIX, n) != 0)
		return 0;
	len = strlen(name) - n;
	if (len != ATR_OUT_TMP_RANDOM && len != 6)
		return 0;
	for (i = n; name[i] != '\0'; i++)
		if (strchr(ATR_TMP_ALNUM, name[i]) == NULL)
			return 0;
	return 1;
}

enum atr_err
atr_mkdtemp(const char *prefix, char *buf, size_t cap)
{
	const char *t = getenv("TMPDIR");
	int n;

	n = snprintf(buf, cap, "%s/%s-XXXXXX", t != NULL && *t != '\0' ?
	    t : "/tmp", prefix);
	if (n < 0 || (size_t)n >= cap) {
		if (cap > 0)
			buf[0] = '\0';
		return atr_fail(ATR_ERR_IO, "cannot create a temporary "
		    "directory: $TMPDIR is too long");
	}
	if (mkdtemp(buf) == NULL) {
		int e = errno;

		buf[0] = '\0';
		return atr_fail(ATR_ERR_IO, "cannot create a temporary "
		    "directory: %s", strerror(e));
	}
	return ATR_OK;
}
