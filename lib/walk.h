/*
 * walk.h - deterministic recursive listing of a file or directory.
 *
 * Entries are visited in byte order of their names, depth first, so two
 * runs over the same tree see the same sequence (reports are stable and
 * shards are reproducible).  Symbolic links are reported, never followed.
 * Hidden and temporary files are visited like any other.
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
 * everything below it; rel is the path relative to root.  cb returns
 * ATR_OK to go on; anything else stops the walk and is returned.
 */
typedef enum atr_err (*atr_walk_cb)(const char *path, const char *rel,
    enum atr_walk_type type, const struct stat *st, void *arg);

enum atr_err atr_walk(const char *root, atr_walk_cb cb, void *arg);

#endif
