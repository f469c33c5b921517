/*
 * rewrap.h - replace an object's recipients in place, crash-safely.
 *
 * The new header and the untouched body go to a temporary file in the
 * object's directory, which gets the object's owner, group, mode and
 * extended attributes (POSIX ACLs included), is fsynced and renamed over
 * the object, and the directory is fsynced.  A crash at any moment
 * leaves either the old object or the new one, both complete; running
 * the rewrap again skips objects that are already done, which it only
 * says after their header authenticated with a key it holds.
 *
 * Ownership: paths, names, the spec (with its keys) and the result struct
 * are the caller's, borrowed for the call; a directory descriptor passed
 * in is borrowed and never closed.  Each call allocates its buffers (the
 * header twice, a 1 MiB copy buffer) and opens its descriptors itself,
 * and releases them before returning.  The body is copied, never
 * decrypted: no plaintext is ever in memory.  Thread-safety: no state;
 * calls may run at once on different objects (the spec's keys are
 * thread-safe, core/key.h), never on one object.
 */
#ifndef ATR_REWRAP_H
#define ATR_REWRAP_H

#include <stddef.h>

#include "envelope.h"

/* atr_rewrap_file flags. */
/* Rewrap an object with several hard links: the name rewrapped gets a
 * new file, the other names keep the old one (and the old recipients). */
#define ATR_REWRAP_BREAK_HARDLINKS 0x1U

enum atr_rewrap_outcome {
	ATR_REWRAP_REPLACED,      /* the object was rewritten */
	/* Nothing to change, and its header authenticated with one of the
	 * spec's keys that can unwrap (open, or add when it can unwrap). */
	ATR_REWRAP_ALREADY_DONE,
	/* It needs a change but has other hard links: left as it was. */
	ATR_REWRAP_HARDLINKED,
	/* Nothing to change by its stanzas, but no key of the spec could
	 * authenticate its header (ATR_ERR_NOKEY): not a success. */
	ATR_REWRAP_UNVERIFIED,
	/* atr_rewrap_fileat_batch: the new file is written and waits in
	 * the batch; its callback says whether it replaced the object. */
	ATR_REWRAP_QUEUED,
};

/* The caller's; filled by every call (nlink once the object was
 * opened, 0 before). */
struct atr_rewrap_result {
	enum atr_rewrap_outcome outcome;
	unsigned long nlink;      /* the object's link count */
};

/*
 * Rewraps the object at path (a regular file; a symbolic link is
 * refused).  On any error the object is left as it was and no temporary
 * file remains; an owner, group, mode or extended attribute that cannot
 * be reproduced on the replacement is such an error.  res tells what
 * happened on ATR_OK; on an error its outcome is ATR_REWRAP_UNVERIFIED
 * only for the case described there.
 */
enum atr_err atr_rewrap_file(const char *path,
    const struct atr_rewrap_spec *spec, unsigned flags,
    struct atr_rewrap_result *res);

/*
 * The same for the entry name of the directory open as dirfd (borrowed;
 * not closed): the read, the temporary file and the rename all happen
 * in that directory, whatever is done to the path above it meanwhile
 * (a store directory swapped for a symbolic link is not followed).
 */
enum atr_err atr_rewrap_fileat(int dirfd, const char *name,
    const struct atr_rewrap_spec *spec, unsigned flags,
    struct atr_rewrap_result *res);

/*
 * The same, for many objects with few waits (core/outbatch.h): the new
 * file is written and handed to the batch b with tag (outcome
 * ATR_REWRAP_QUEUED), instead of being fsynced and renamed at once.  The
 * object stays intact until the batch has made the new file durable
 * (syncfs(2) or fsync(2)); then, if the name still holds the object that
 * was read, the new file is renamed over it and the directory fsynced
 * once per batch; the batch's callback gets tag with ATR_OK, or the
 * error (the object then left as it was, the temporary file removed).
 * Any other outcome or an error: tag stays the caller's.
 */
struct atr_outbatch;
enum atr_err atr_rewrap_fileat_batch(int dirfd, const char *name,
    const struct atr_rewrap_spec *spec, unsigned flags,
    struct atr_outbatch *b, void *tag, struct atr_rewrap_result *res);

/*
 * Temporary files.  A rewrap names its temporary file
 *
 *	.atrest-tmp-PID-HOST-RANDOM
 *
 * PID the writer's process id in decimal, HOST 8 lower-case hex digits
 * of SHA-256 of the host name, RANDOM 16 lower-case hex digits.  The
 * other atrest writers' temporary files (core/fsutil.h: 12 letters and
 * digits after the prefix; the loopback vault's store: 6) never have this
 * form, so a rewrap never takes one of them for its own.
 */
/* A temporary file written on another host is presumed abandoned only
 * after this many seconds without a write. */
#define ATR_REWRAP_TMP_FOREIGN_AGE 3600

/* 1 when base (a file name) starts with ATR_TMP_PREFIX: some
 * atrest writer's temporary file, never an object to rewrap. */
int atr_rewrap_tmp_reserved(const char *base);

/* The temporary file name a rewrap by process pid on this host uses,
 * with fresh random digits, into out[cap] (cap >= 64 always suffices);
 * ATR_ERR_USAGE when it does not fit. */
enum atr_err atr_rewrap_tmp_name(long pid, char *out, size_t cap);

/*
 * Removes path when it is a temporary file that an interrupted rewrap
 * left, i.e. all of: its name has the form above; it is a regular file
 * with one link; it belongs to the running user (any user when running
 * as root, whose temporary files take the owner of the object they
 * replace); it is empty or starts with the envelope magic; and its
 * writer is gone (same host: process PID no longer exists; another
 * host: no write for ATR_REWRAP_TMP_FOREIGN_AGE seconds).  Otherwise it
 * is left alone, *removed is 0 and atr_detail() says why (still ATR_OK:
 * leaving a file alone is not an error).  The file is checked through a
 * descriptor and removed only if the name still holds that file.
 */
enum atr_err atr_rewrap_tmp_clean(const char *path, int *removed);

/* The same for the entry name of the directory open as dirfd
 * (borrowed). */
enum atr_err atr_rewrap_tmp_cleanat(int dirfd, const char *name,
    int *removed);

#endif
