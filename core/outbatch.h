/*
 * outbatch.h - many outputs made durable with a few waits.
 *
 * A tree of small files written the way core/fsutil.h writes one file
 * (temporary file, fsync, rename, fsync of the directory) waits for the
 * disk twice per file.  A batch keeps the promise of that sequence with
 * fewer waits: outputs are written to their temporary files as usual,
 * then, for a batch of them at once:
 *
 *   1. one syncfs(2) (Linux) makes every temporary file's data and inode
 *      durable, where the file system is one on which syncfs writes and
 *      waits for all of them and reports a failed write-back (below);
 *      elsewhere each file was fsynced (POSIX fsync(2)) when it was added;
 *   2. each temporary file is renamed over its name (POSIX rename(2):
 *      the name holds the old file or the new one, never neither);
 *   3. each directory touched is fsynced once, which makes its renames
 *      durable (Linux needs the directory's fsync for a new entry).
 *
 * No name is ever renamed before its data is durable, so after a crash
 * at any moment every output name holds a complete file (the new one or
 * what was there before); only the temporary files of the batch in
 * flight may be left, under their own names (ATR_TMP_PREFIX).  An entry
 * is reported done (the callback, ATR_OK) only after step 3.  See
 * docs/DURABILITY.md.
 *
 * syncfs is used only on the file system of the root directory given to
 * atr_batch_new, only when it is ext2/3/4, XFS, Btrfs or tmpfs (their
 * sync_fs writes back and waits for every dirty inode and commits the
 * journal), and only on Linux 5.8 or later, which reports a write-back
 * error to syncfs(2) (through a descriptor opened before the data was
 * written: the batch opens its own at atr_batch_new).  Every other
 * output (a mount point below the root, a network or FUSE file system,
 * an older kernel) is fsynced when it is added: slower, never weaker.
 *
 * Bounds: at most max_files temporary files, max_dirs directory
 * descriptors and about max_bytes of unsynced data are held, for at most
 * about ATR_OUTBATCH_MS (checked as entries are added); reaching one
 * flushes the batch.  The age bound keeps a slow run (a key service per
 * object) showing progress, and limits what a crash makes it redo.
 *
 * Ownership: the batch owns what is added to it (the temporary file, a
 * duplicate of its directory descriptor, the tag) until it calls done
 * for the entry, exactly once.  Thread-safety: none; one batch per
 * thread (several batches may flush at once: each syncfs covers the
 * others' data too, which is harmless).
 */
#ifndef ATR_OUTBATCH_H
#define ATR_OUTBATCH_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "err.h"
#include "fsutil.h"

struct atr_outbatch;

/*
 * Called once per entry, on the thread that flushes or discards.  ATR_OK:
 * the output is at its name, complete and durable.  Otherwise
 * atr_detail() says why, and the temporary file is gone (except after a
 * failed directory fsync: the output is then at its name and complete,
 * but not known to be durable).  done owns tag from then on.
 */
typedef void (*atr_batch_done_fn)(void *tag, enum atr_err err, void *arg);

/* Defaults for a tree (cli/common.c, rewrap): measured with
 * scripts/tree-cost.sh (docs/DURABILITY.md). */
#define ATR_OUTBATCH_FILES 1024U
#define ATR_OUTBATCH_BYTES (64ULL << 20)
#define ATR_OUTBATCH_MS 250L

/*
 * A new, empty batch in *out (NULL on failure).  rootfd (borrowed) is a
 * directory on the file system the outputs will mostly go to, opened
 * before any of them is written; the batch opens its own descriptor of
 * it, so that syncfs reports write-back errors from now on.  max_dirs is
 * at least 1.
 */
enum atr_err atr_batch_new(int rootfd, size_t max_files, size_t max_dirs,
    uint64_t max_bytes, atr_batch_done_fn done, void *arg,
    struct atr_outbatch **out);

/* 1 when outputs on the root's file system wait for one syncfs per
 * batch, 0 when each is fsynced as it is added. */
int atr_batch_uses_syncfs(const struct atr_outbatch *b);

/*
 * Adds the temporary file tmpname (in the directory dirfd, open as fd,
 * fully written) that is to replace name in dirfd.  fd and dirfd are
 * borrowed (the caller closes fd afterwards; the batch keeps its own
 * duplicate of dirfd).  shown names the output in messages (NULL: none).
 * expect NULL: name may be missing or a regular file, anything else
 * there at the rename is refused; expect non-NULL: name must still be
 * that file (same device and inode), else it is left as it is.  May
 * flush the batch first (done is then called for the others).
 * ATR_OK: the batch owns the temporary file and tag.  On an error
 * (the fsync of a file that cannot wait for syncfs, no memory) the
 * caller still owns both.
 */
enum atr_err atr_batch_add(struct atr_outbatch *b, int fd, int dirfd,
    const char *tmpname, const char *name, const char *shown,
    const struct stat *expect, void *tag);

/* Ends an output begun with atr_out_begin*, as atr_out_commit(o, 0)
 * would, through the batch; tag as for atr_batch_add.  Standard output
 * and devices are committed at once (and done told at once).  Success
 * or failure, o owns nothing afterwards; on ATR_OK done is told (or
 * was), on an error the temporary file is gone and the caller keeps
 * tag. */
enum atr_err atr_out_commit_batch(struct atr_outfile *o,
    struct atr_outbatch *b, void *tag);

/* Makes every entry durable and renames it (steps 1-3 above), calling
 * done for each.  Returns ATR_OK, or the first entry's error. */
enum atr_err atr_batch_flush(struct atr_outbatch *b);

/* Removes every temporary file of the batch without renaming it (an
 * interrupted run): done gets ATR_ERR_IO "interrupted" for each. */
void atr_batch_discard(struct atr_outbatch *b);

/* Discards what is left (flush first to keep it), frees b.  NULL-safe. */
void atr_batch_free(struct atr_outbatch *b);

#endif
