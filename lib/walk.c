/* see walk.h */
#include "walk.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static enum atr_err
walk_dir(const char *path, const char *rel, atr_walk_cb cb, void *arg)
{
	DIR *d = NULL;
	struct dirent *de;
	char **names = NULL, cpath[PATH_MAX], crel[PATH_MAX];
	size_t n = 0, cap = 0, i;
	enum atr_err err = ATR_OK;

	d = opendir(path);
	if (d == NULL)
		return atr_fail(ATR_ERR_IO, "%s: %s", path, strerror(errno));
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (n == cap) {
			char **nn;

			cap = cap ? cap * 2 : 64;
			nn = realloc(names, cap * sizeof(*names));
			if (nn == NULL) {
				err = ATR_ERR_NOMEM;
				goto out;
			}
			names = nn;
		}
		names[n] = strdup(de->d_name);
		if (names[n] == NULL) {
			err = ATR_ERR_NOMEM;
			goto out;
		}
		n++;
	}
	if (n > 1)
		qsort(names, n, sizeof(*names), cmp_names);
	for (i = 0; i < n && err == ATR_OK; i++) {
		struct stat st;
		int a, b;

		a = snprintf(cpath, sizeof(cpath), "%s/%s", path, names[i]);
		b = *rel ? snprintf(crel, sizeof(crel), "%s/%s", rel, names[i]) :
		    snprintf(crel, sizeof(crel), "%s", names[i]);
		if (a < 0 || (size_t)a >= sizeof(cpath) || b < 0 ||
		    (size_t)b >= sizeof(crel)) {
			err = atr_fail(ATR_ERR_IO, "%s/%s: path too long", path,
			    names[i]);
			break;
		}
		if (lstat(cpath, &st) != 0) {
			err = atr_fail(ATR_ERR_IO, "%s: %s", cpath, strerror(errno));
			break;
		}
		err = cb(cpath, crel, type_of(&st), &st, arg);
		if (err == ATR_OK && S_ISDIR(st.st_mode))
			err = walk_dir(cpath, crel, cb, arg);
	}
out:
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	closedir(d);
	return err;
}

enum atr_err
atr_walk(const char *root, atr_walk_cb cb, void *arg)
{
	struct stat st;
	enum atr_err err;

	if (lstat(root, &st) != 0)
		return atr_fail(ATR_ERR_IO, "%s: %s", root, strerror(errno));
	err = cb(root, "", type_of(&st), &st, arg);
	if (err == ATR_OK && S_ISDIR(st.st_mode))
		err = walk_dir(root, "", cb, arg);
	return err;
}
