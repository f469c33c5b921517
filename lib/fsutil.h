/*
 * fsutil.h - all-or-nothing output files and loop-until-done I/O.
 *
 * Every output atrest writes goes to a temporary file in the destination
 * directory, is flushed (fsync) and renamed over the destination; the
 * directory is then fsynced.  On any failure the temporary file is
 * removed, so nothing half-written is ever left at the destination.
 */
#ifndef ATR_FSUTIL_H
#define ATR_FSUTIL_H

#include <limits.h>
#include <stddef.h>
#include <sys/types.h>

#include "err.h"

struct atr_outfile {
	int fd;
	int is_stdout;
	int direct;     /* an existing device/FIFO, written in place */
	char tmp[PATH_MAX];
	char path[PATH_MAX];
};

/* path "-" means stdout, and an existing device, FIFO or socket (e.g.
 * /dev/null) is written in place: nothing to rename over it. */
enum atr_err atr_out_begin(struct atr_outfile *o, const char *path,
    mode_t mode);
/*
 * Flushes and renames into place.  With noclobber the rename refuses an
 * existing destination (ATR_ERR_EXISTS) instead of replacing it.
 * On failure the temporary file is gone.
 */
enum atr_err atr_out_commit(struct atr_outfile *o, int noclobber);
/* Removes the temporary file; safe to call after commit (no-op). */
void atr_out_abort(struct atr_outfile *o);

enum atr_err atr_write_all(int fd, const void *buf, size_t len);
/* Reads until len bytes or end of file; *got says how many. */
enum atr_err atr_read_full(int fd, void *buf, size_t len, size_t *got);

/*
 * Reads a whole small file (at most max bytes) into a malloc'd buffer
 * that the caller frees with atr_secure_free(buf, len) when it may hold a
 * secret.  With private_only, a file readable by group or others is
 * refused (ATR_ERR_KEY) as ssh and gpg do for private keys.
 */
enum atr_err atr_read_small_file(const char *path, size_t max,
    int private_only, unsigned char **buf, size_t *len);

void atr_secure_free(void *p, size_t n);

/* mkdir -p with mode 0755 for each missing component of path. */
enum atr_err atr_mkdirs(const char *path);

#endif
