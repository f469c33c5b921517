/* see fsutil.h */
#include "fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto.h"

static void
dir_of(const char *path, char *dir, size_t cap)
{
	const char *slash = strrchr(path, '/');

	if (slash == NULL)
		snprintf(dir, cap, ".");
	else if (slash == path)
		snprintf(dir, cap, "/");
	else
		snprintf(dir, cap, "%.*s", (int)(slash - path), path);
}

enum atr_err
atr_out_begin(struct atr_outfile *o, const char *path, mode_t mode)
{
	char dir[PATH_MAX];
	struct stat st;
	int n;

	memset(o, 0, sizeof(*o));
	o->fd = -1;
	if (strcmp(path, "-") == 0) {
		o->fd = STDOUT_FILENO;
		o->is_stdout = 1;
		return ATR_OK;
	}
	if (strlen(path) >= sizeof(o->path))
		return atr_fail(ATR_ERR_USAGE, "path too long");
	snprintf(o->path, sizeof(o->path), "%s", path);
	/* A device, FIFO or socket (-o /dev/null, a named pipe) is written
	 * in place: renaming a temporary file over it would replace the
	 * device node itself (as root, /dev/null).  Only regular files get
	 * the all-or-nothing treatment. */
	if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
		if (S_ISDIR(st.st_mode))
			return atr_fail(ATR_ERR_USAGE, "%s is a directory", path);
		o->fd = open(path, O_WRONLY | O_CLOEXEC);
		if (o->fd < 0)
			return atr_fail(ATR_ERR_IO, "cannot open %s: %s", path,
			    strerror(errno));
		o->is_stdout = 1;
		o->direct = 1;
		return ATR_OK;
	}
	dir_of(path, dir, sizeof(dir));
	n = snprintf(o->tmp, sizeof(o->tmp), "%s/.atrest-tmp-XXXXXX", dir);
	if (n < 0 || (size_t)n >= sizeof(o->tmp))
		return atr_fail(ATR_ERR_USAGE, "path too long");
	o->fd = mkstemp(o->tmp);
	if (o->fd < 0) {
		o->tmp[0] = '\0';
		return atr_fail(ATR_ERR_IO, "cannot create a file in %s: %s",
		    dir, strerror(errno));
	}
	if (fchmod(o->fd, mode) != 0) {
		atr_out_abort(o);
		return atr_fail(ATR_ERR_IO, "chmod: %s", strerror(errno));
	}
	return ATR_OK;
}

enum atr_err
atr_out_commit(struct atr_outfile *o, int noclobber)
{
	char dir[PATH_MAX];
	int dfd;

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
		atr_out_abort(o);
		return atr_fail(ATR_ERR_IO, "fsync: %s", strerror(errno));
	}
	if (close(o->fd) != 0) {
		o->fd = -1;
		atr_out_abort(o);
		return atr_fail(ATR_ERR_IO, "close: %s", strerror(errno));
	}
	o->fd = -1;
	if (noclobber) {
		/* link() fails on an existing name: no window where a
		 * concurrent writer's file is replaced. */
		if (link(o->tmp, o->path) != 0) {
			int e = errno;

			atr_out_abort(o);
			if (e == EEXIST)
				return atr_fail(ATR_ERR_EXISTS,
				    "%s already exists", o->path);
			return atr_fail(ATR_ERR_IO, "%s: %s", o->path,
			    strerror(e));
		}
		unlink(o->tmp);
	} else if (rename(o->tmp, o->path) != 0) {
		int e = errno;

		atr_out_abort(o);
		return atr_fail(ATR_ERR_IO, "rename to %s: %s", o->path,
		    strerror(e));
	}
	o->tmp[0] = '\0';
	dir_of(o->path, dir, sizeof(dir));
	dfd = open(dir, O_RDONLY | O_DIRECTORY);
	if (dfd >= 0) {
		(void)fsync(dfd);
		close(dfd);
	}
	return ATR_OK;
}

void
atr_out_abort(struct atr_outfile *o)
{
	if (o->direct && o->fd >= 0) {
		close(o->fd);
		o->fd = -1;
	}
	if (o->is_stdout)
		return;
	if (o->fd >= 0) {
		close(o->fd);
		o->fd = -1;
	}
	if (o->tmp[0] != '\0') {
		unlink(o->tmp);
		o->tmp[0] = '\0';
	}
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

void
atr_secure_free(void *p, size_t n)
{
	if (p == NULL)
		return;
	atr_memzero(p, n);
	free(p);
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
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return atr_fail(errno == ENOENT ? ATR_ERR_CONFIG : ATR_ERR_IO,
		    "cannot open: %s", strerror(errno));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return atr_fail(ATR_ERR_IO, "not a regular file");
	}
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
