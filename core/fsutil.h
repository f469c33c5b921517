/*
 * fsutil.h - all-or-nothing output files and loop-until-done I/O.
 *
 * Every output atrest writes goes to a temporary file in the destination
 * directory, is flushed (fsync) and renamed over the destination; the
 * directory is then fsynced.  On any failure the temporary file is
 * removed, so nothing half-written is ever left at the destination.
 * Nothing another user planted at the destination (a FIFO, a symbolic
 * link) is followed or written into, and inputs that are not data
 * streams never block on a FIFO: docs/FILES.md has the rule.
 *
 * Ownership: paths and buffers passed in are borrowed for the call (an
 * output copies the names it needs into its struct).  Descriptors passed
 * in are the caller's and never closed here; a descriptor handed out
 * (*fd, o->fd) is the caller's to close, except an output's, which the
 * output owns.  Thread-safety: no state; every function may run on
 * several threads at once, one struct atr_outfile per thread.
 */
#ifndef ATR_FSUTIL_H
#define ATR_FSUTIL_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "err.h"

/*
 * An output being written: the caller's struct, filled by atr_out_begin
 * or atr_out_beginat (which overwrite it whole: no need to zero it
 * first).  It owns fd (unless is_stdout), and dirfd when has_dir; after
 * a failed begin it owns nothing.  After a successful begin the caller
 * writes to fd (never closing it) and ends with exactly one of
 * atr_out_commit or atr_out_abort, which release everything; abort after
 * a commit, or twice, does nothing.
 */
struct atr_outfile {
	int fd;
	int is_stdout;  /* a descriptor the caller opened: never closed */
	int direct;     /* an existing character device, written in place */
	int dirfd;      /* the destination's directory, when has_dir */
	int has_dir;    /* dirfd is ours (a zeroed struct owns nothing) */
	char tmp[PATH_MAX];   /* the temporary file's path, for messages */
	char path[PATH_MAX];  /* the destination as given, for messages */
	char name[NAME_MAX + 1];  /* the destination's name in dirfd */
	char tmpname[32];         /* the temporary file's name in dirfd */
};

/*
 * What an output path may name (docs/FILES.md):
 *
 * - "-", "/dev/stdout", "/dev/stderr" and "/dev/fd/N" are descriptors
 *   the caller's shell already opened (a pipe, a terminal, >(cmd)): they
 *   are written as they are and never closed.  These names are matched
 *   literally, not resolved.
 * - A missing name or an existing regular file: a temporary file is
 *   created next to it (O_CREAT | O_EXCL), filled, flushed and renamed
 *   over it, so the old file is replaced, never written into.
 * - An existing character device (/dev/null): written in place when the
 *   caller allows it (ATR_OUT_DEVICE), since renaming over it would
 *   replace the device node, and only root (CAP_MKNOD, mknod(2)) can
 *   create one, so none can be planted by another user.
 * - Anything else is refused: a symbolic link (never followed nor
 *   replaced), a FIFO or socket (anyone can mkfifo one where another user
 *   will write: it would receive the data, or hang the writer without a
 *   reader), a block device, a directory.
 *
 * The name is opened with O_NOFOLLOW | O_NONBLOCK | O_NOCTTY and its type
 * is taken from fstat(2) on that descriptor, so there is no window between
 * the check and the use.
 */
#define ATR_OUT_DEVICE 0x1U

/* path "-" means stdout; the directory part of path is resolved as usual
 * (the caller named it); allows devices (ATR_OUT_DEVICE).  mode is the
 * new file's (the temporary file is created 0600, then given it). */
enum atr_err atr_out_begin(struct atr_outfile *o, const char *path,
    mode_t mode);
/*
 * The same for name (one component, no '/') inside the directory dirfd,
 * which is borrowed (the output holds its own duplicate); shown is the
 * path used in messages.  Everything, down to the final rename and the
 * directory fsync, is done relative to the directory descriptor, so a
 * directory swapped for a symbolic link cannot redirect the output.
 * flags: 0 or ATR_OUT_DEVICE.  The descriptor names ("-", /dev/fd/N)
 * are not recognised here: only atr_out_begin takes them.
 */
enum atr_err atr_out_beginat(struct atr_outfile *o, int dirfd,
    const char *name, const char *shown, mode_t mode, unsigned flags);
/* 1 when path names a descriptor ("-", /dev/stdout, /dev/stderr,
 * /dev/fd/N: see above) and then *fd is it (not opened: the caller's
 * own); 0, *fd untouched, otherwise. */
int atr_out_names_fd(const char *path, int *fd);
/*
 * Flushes and renames into place (renameat, then fsync of the directory).
 * With noclobber the rename refuses an existing destination
 * (ATR_ERR_EXISTS) instead of replacing it.  A destination that became
 * anything but a regular file meanwhile is refused, not replaced.
 * Standard output is left as it is; a device is closed (with noclobber:
 * refused, ATR_ERR_EXISTS).  Success or failure, o owns nothing
 * afterwards and the temporary file is gone.
 */
enum atr_err atr_out_commit(struct atr_outfile *o, int noclobber);
/* Closes fd (never standard output's) and removes the temporary file:
 * nothing is left at the destination.  A no-op after commit. */
void atr_out_abort(struct atr_outfile *o);

/*
 * A whole small file written the same way (atr_out_begin, the bytes,
 * atr_out_commit without noclobber): path ends up with exactly buf[len]
 * and mode, or is left as it was.  buf is borrowed for the call.
 */
enum atr_err atr_write_file(const char *path, mode_t mode, const void *buf,
    size_t len);

/* "a FIFO", "a symbolic link", ... for st_mode (messages): a static
 * string. */
const char *atr_file_kind(mode_t mode);

/*
 * Opens an input file that is not a data stream (key, PIN, policy,
 * manifest, report) without ever blocking: O_NONBLOCK | O_NOCTTY, then
 * fstat(2) on the descriptor must show a regular file, else ATR_ERR_IO
 * "is a FIFO, not a regular file" (a FIFO would hang the open or the
 * read for ever).  Symbolic links are followed: the caller named the
 * file.  Returns the descriptor (blocking again, close-on-exec) in *fd,
 * the caller's to close, and its status in *st (the caller's).  *fd is
 * -1 on failure; a missing file is ATR_ERR_CONFIG, other failures
 * ATR_ERR_IO.
 */
enum atr_err atr_open_regular(const char *path, int *fd, struct stat *st);

/* Writes all of buf[len], retrying after EINTR and short writes. */
enum atr_err atr_write_all(int fd, const void *buf, size_t len);
/* Reads until len bytes or end of file; *got says how many, also on
 * failure (the bytes read before the error). */
enum atr_err atr_read_full(int fd, void *buf, size_t len, size_t *got);
/* Reads exactly len bytes at offset off (pread, retrying after EINTR and
 * short reads); end of file before len bytes is ATR_ERR_IO ("the input
 * shrank"): callers know the size from fstat. */
enum atr_err atr_pread_full(int fd, void *buf, size_t len, uint64_t off);

/*
 * Reads a whole small file (at most max bytes, else ATR_ERR_KEY "file
 * too large for a key", whatever the file) into *buf, allocated with
 * malloc and NUL-terminated ((*buf)[*len] is 0), so text can be used as
 * a string.  The caller frees it: with atr_secure_free(*buf, *len) when
 * it may hold a secret, else with free().  On failure *buf is NULL and
 * *len 0.  With private_only, a file readable by group or others is
 * refused (ATR_ERR_KEY) as ssh and gpg do for private keys.  Opened as
 * atr_open_regular does.
 */
enum atr_err atr_read_small_file(const char *path, size_t max,
    int private_only, unsigned char **buf, size_t *len);

/* Wipes p[n], then free(p).  NULL-safe.  p must come from malloc. */
void atr_secure_free(void *p, size_t n);

/*
 * Splits path into the directory to open, dir[cap] ("." when path has no
 * '/', "/" for a name in the root), and its last component, *base, which
 * points into path (borrowed from it).  A trailing slash names a
 * directory (POSIX 4.13), never a file: ATR_ERR_USAGE, as are an empty
 * last component, one longer than NAME_MAX and a directory part that
 * does not fit in cap.
 */
enum atr_err atr_path_split(const char *path, char *dir, size_t cap,
    const char **base);

/*
 * Temporary files.  Every atrest writer creates its temporary file in the
 * directory of the file it replaces, named ATR_TMP_PREFIX, a stem, then
 * random characters, so that a walk over a store tells one from an object:
 *
 *	.atrest-tmp-XXXXXXXXXXXX	atr_out_begin*: 12 letters and digits
 *	.atrest-tmp-PID-HOST-RANDOM	a rewrap (core/rewrap.h): 16 hex digits
 */
#define ATR_TMP_PREFIX ".atrest-tmp-"
#define ATR_TMP_ALNUM \
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
#define ATR_TMP_HEX "0123456789abcdef"
/* Random characters in atr_out_begin's names. */
#define ATR_OUT_TMP_RANDOM 12U

/*
 * 1 when name (a file name, not a path) has the form of atr_out_begin's
 * temporary files: ATR_TMP_PREFIX and ATR_OUT_TMP_RANDOM letters and
 * digits, or 6 (the mkstemp names of atrest 0.1.0's first releases), so
 * that a writer can recognise what its own interrupted runs left.
 */
int atr_out_tmp_name(const char *name);

/* ATR_TMP_PREFIX, stem, then n (<= 64) characters drawn at random from
 * set, into out[cap]; ATR_ERR_USAGE when that does not fit. */
enum atr_err atr_tmp_name(const char *stem, const char *set, size_t n,
    char *out, size_t cap);

/*
 * Creates a new, empty file with mode 0600 in the directory dirfd, named
 * by atr_tmp_name(stem, set, n), opened O_RDWR | O_CREAT | O_EXCL |
 * O_NOFOLLOW (never through a link, never an existing file); while a name
 * exists another is drawn, up to 100.  On ATR_OK *fd is open and name
 * holds its name.  On failure *fd is -1, name is "" (so that a caller
 * never removes a name it did not create) and *eno is the errno of the
 * last openat, 0 when none failed (the random generator did).
 */
enum atr_err atr_tmp_createat(int dirfd, const char *stem, const char *set,
    size_t n, char *name, size_t cap, int *fd, int *eno);

/* mkdir -p with mode 0755 for each missing component of path (links
 * followed: the caller named it). */
enum atr_err atr_mkdirs(const char *path);

/*
 * A new private directory (mkdtemp: mode 0700) named PREFIX-XXXXXX in
 * $TMPDIR (or /tmp), its path into buf (cap bytes).  ATR_ERR_IO with
 * the reason when the name does not fit or mkdtemp fails (buf then "").
 * One definition for the bench's, the revocation run's and verify's
 * scratch directories.
 */
enum atr_err atr_mkdtemp(const char *prefix, char *buf, size_t cap);

#endif
