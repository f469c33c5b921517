/* see walk.h */
#include "walk.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Flags for a directory the walk descends into: never through a link,
 * never blocking (a FIFO planted in its place fails O_DIRECTORY). */
#define DIR_FLAGS (O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_NONBLOCK | \
	O_CLOEXEC)

static int
cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static enum atr_walk_type
type_of(const struct stat *st)
{
	if (S_ISREG(st->st_mode))
		return ATR_WALK_FILE;
	if (S_ISDIR(st->st_mode))
		return ATR_WALK_DIR;
	if (S_ISLNK(st->st_mode))
		return ATR_WALK_SYMLINK;
	return ATR_WALK_OTHER;
}

/* Opens the directory e names and checks it is the one that was listed. */
static enum atr_err
open_dir(const struct atr_walk_ent *e, int *fd)
{
	struct stat st;
	int e2;

	*fd = openat(e->dirfd, e->name, DIR_FLAGS);
	if (*fd < 0) {
		e2 = errno;
		if (e2 == ELOOP || e2 == ENOTDIR)
			return atr_fail(ATR_ERR_IO,
			    "%s: changed during the walk (not followed)",
			    e->path);
		return atr_fail(ATR_ERR_IO, "%s: %s", e->path, strerror(e2));
	}
	if (fstat(*fd, &st) != 0 || st.st_dev != e->st->st_dev ||
	    st.st_ino != e->st->st_ino) {
		close(*fd);
		*fd = -1;
		return atr_fail(ATR_ERR_IO, "%s: changed during the walk",
		    e->path);
	}
	return ATR_OK;
}

/* The sorted names in the directory dfd (which stays open). */
static enum atr_err
list_dir(int dfd, const char *path, char ***names_out, size_t *n_out)
{
	DIR *d;
	struct dirent *de;
	char **names = NULL;
	size_t n = 0, cap = 0;
	enum atr_err err = ATR_OK;
	int fd;

	*names_out = NULL;
	*n_out = 0;
	fd = fcntl(dfd, F_DUPFD_CLOEXEC, 3);
	if (fd < 0)
		return atr_fail(ATR_ERR_IO, "%s: %s", path, strerror(errno));
	d = fdopendir(fd);
	if (d == NULL) {
		int e = errno;

		close(fd);
		return atr_fail(ATR_ERR_IO, "%s: %s", path, strerror(e));
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (n == cap) {
			char **nn;

			cap = cap ? cap * 2 : 64;
			nn = realloc(names, cap * sizeof(*names));
			if (nn == NULL) {
				err = ATR_ERR_NOMEM;
				break;
			}
			names = nn;
		}
		names[n] = strdup(de->d_name);
		if (names[n] == NULL) {
			err = ATR_ERR_NOMEM;
			break;
		}
		n++;
	}
	closedir(d);
	if (n > 1)
		qsort(names, n, sizeof(*names), cmp_names);
	*names_out = names;
	*n_out = n;
	return err;
}

/*
 * One call per level of the tree, so the frame stays small and the two
 * paths are on the heap: a tree may be as deep as PATH_MAX allows (some
 * 2000 levels of one-letter names), and 8 KiB of paths per frame ran a
 * walk 1500 levels deep off an 8 MiB stack (SIGSEGV).  The depth is
 * bounded by PATH_MAX ("path too long") and by the descriptor each
 * level holds open.
 */
static enum atr_err /* NOLINTNEXTLINE(misc-no-recursion): see above */
walk_dir(int dfd, const char *path, const char *rel, unsigned depth,
    atr_walkat_cb cb, void *arg)
{
	char **names = NULL, *cpath, *crel;
	size_t n = 0, i;
	enum atr_err err;

	cpath = malloc(2 * (size_t)PATH_MAX);
	if (cpath == NULL)
		return ATR_ERR_NOMEM;
	crel = cpath + PATH_MAX;
	err = list_dir(dfd, path, &names, &n);
	for (i = 0; i < n && err == ATR_OK; i++) {
		struct atr_walk_ent e;
		struct stat st;
		int a, b, cfd;

		a = snprintf(cpath, PATH_MAX, "%s/%s", path, names[i]);
		b = *rel ? snprintf(crel, PATH_MAX, "%s/%s", rel, names[i]) :
		    snprintf(crel, PATH_MAX, "%s", names[i]);
		if (a < 0 || a >= PATH_MAX || b < 0 || b >= PATH_MAX) {
			err = atr_fail(ATR_ERR_IO, "%s/%s: path too long", path,
			    names[i]);
			break;
		}
		if (fstatat(dfd, names[i], &st, AT_SYMLINK_NOFOLLOW) != 0) {
			/* Removed or renamed since the listing (another
			 * writer's temporary file, say): there is nothing
			 * left to visit, which is not an error of the
			 * walk. */
			if (errno == ENOENT)
				continue;
			err = atr_fail(ATR_ERR_IO, "%s: %s", cpath, strerror(errno));
			break;
		}
		memset(&e, 0, sizeof(e));
		e.path = cpath;
		e.rel = crel;
		e.name = names[i];
		e.dirfd = dfd;
		e.depth = depth;
		e.type = type_of(&st);
		e.st = &st;
		err = cb(&e, arg);
		if (err != ATR_OK || e.type != ATR_WALK_DIR || e.skip)
			continue;
		err = open_dir(&e, &cfd);
		if (err != ATR_OK)
			break;
		err = walk_dir(cfd, cpath, crel, depth + 1, cb, arg);
		close(cfd);
	}
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	free(cpath);
	return err;
}

enum atr_err
atr_walkat(const char *root, atr_walkat_cb cb, void *arg)
{
	struct atr_walk_ent e;
	struct stat st;
	enum atr_err err;
	int fd;

	if (fstatat(AT_FDCWD, root, &st, AT_SYMLINK_NOFOLLOW) != 0)
		return atr_fail(ATR_ERR_IO, "%s: %s", root, strerror(errno));
	memset(&e, 0, sizeof(e));
	e.path = root;
	e.rel = "";
	e.name = root;
	e.dirfd = AT_FDCWD;
	e.type = type_of(&st);
	e.st = &st;
	err = cb(&e, arg);
	if (err != ATR_OK || e.type != ATR_WALK_DIR || e.skip)
		return err;
	err = open_dir(&e, &fd);
	if (err != ATR_OK)
		return err;
	err = walk_dir(fd, root, "", 1, cb, arg);
	close(fd);
	return err;
}

/* atr_walk's callback on top of atr_walkat's. */
struct legacy {
	atr_walk_cb cb;
	void *arg;
};

static enum atr_err
legacy_cb(struct atr_walk_ent *e, void *arg)
{
	struct legacy *l = arg;

	return l->cb(e->path, e->rel, e->type, e->st, l->arg);
}

enum atr_err
atr_walk(const char *root, atr_walk_cb cb, void *arg)
{
	struct legacy l = {cb, arg};

	return atr_walkat(root, legacy_cb, &l);
}
