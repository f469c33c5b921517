/*
 * walk.h - deterministic recursive listing of a file or directory.
 *
 * Entries are visited in byte order of their names, depth first, so two
 * runs over the same tree see the same sequence (reports are stable and
 * shards are reproducible).  Symbolic links are reported, never followed.
 * Hidden and temporary files are visited like any other.
 *
 * Directories are opened relative to their parent's descriptor with
 * O_DIRECTORY | O_NOFOLLOW (openat(2)) and must still be the directory
 * that was listed (same device and inode), so a directory swapped for a
 * symbolic link during the walk is never followed: the walk fails with
 * "changed during the walk" instead.  An entry removed between the
 * listing and its visit is skipped silently.
 *
 * Ownership: root is borrowed for the call.  Everything handed to a
 * callback (the strings, the stat, the entry and its descriptor) is the
 * walk's and valid during that callback only: copy what you keep.  arg
 * is passed through untouched.  The walk holds, per directory level
 * being visited, one open descriptor and the sorted names of that
 * directory, all released before it returns, also on failure.
 * Thread-safety: the callbacks run on the calling thread, one at a time;
 * a callback may hand work to other threads only with copies (cli/
 * common.c dup(2)s the descriptor).  Several walks may run at once.
 */
#ifndef ATR_WALK_H
#define ATR_WALK_H

#include <sys/stat.h>

#include "err.h"

enum atr_walk_type {
	ATR_WALK_FILE,
	ATR_WALK_DIR,     /* visited before its contents */
	ATR_WALK_SYMLINK,
	ATR_WALK_OTHER,   /* fifo, socket, device */
};

/*
 * Calls cb for root itself (rel "") and, when root is a directory, for
 * everything below it; rel is the path relative to root, path is
 * root/rel.  cb returns ATR_OK to go on; anything else stops the walk
 * and is returned.  A failure of the walk itself (a directory that
 * cannot be read or changed, a path longer than PATH_MAX) is ATR_ERR_IO
 * with a detail naming the path, or ATR_ERR_NOMEM.
 */
typedef enum atr_err (*atr_walk_cb)(const char *path, const char *rel,
    enum atr_walk_type type, const struct stat *st, void *arg);

enum atr_err atr_walk(const char *root, atr_walk_cb cb, void *arg);

/*
 * The same walk with each entry's directory descriptor, for callers that
 * open what they visit: openat(e->dirfd, e->name, ... | O_NOFOLLOW)
 * opens exactly the entry that was listed, whatever happened to the
 * path above it since.  dirfd is the walk's own, valid during the call
 * only (dup(2) it to keep it; never close it).  For the root, dirfd is
 * AT_FDCWD and name the root path.  A callback may set e->skip on a
 * directory to stay out of it; it changes nothing else in e.
 */
struct atr_walk_ent {
	const char *path;    /* root/rel, for messages */
	const char *rel;     /* "" for the root */
	const char *name;    /* the entry in dirfd */
	int dirfd;
	unsigned depth;      /* 0 for the root, 1 for its entries, ... */
	enum atr_walk_type type;
	const struct stat *st;   /* fstatat(AT_SYMLINK_NOFOLLOW) */
	int skip;
};

typedef enum atr_err (*atr_walkat_cb)(struct atr_walk_ent *e, void *arg);

enum atr_err atr_walkat(const char *root, atr_walkat_cb cb, void *arg);

#endif
