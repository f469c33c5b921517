/* see outbatch.h */
#define _GNU_SOURCE   /* syncfs(2), Linux */
#include "outbatch.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/utsname.h>
#include <sys/vfs.h>
#endif

/* A directory the batch renames in: its own descriptor, once. */
struct ob_dir {
	int fd;
	dev_t dev;
	ino_t ino;
	int touched;        /* a rename was done in it: fsync it */
	enum atr_err err;   /* its fsync failed */
	char why[256];
};

struct ob_ent {
	size_t dir;         /* index in dirs */
	char *tmp, *name, *shown;
	void *tag;
	int has_expect;
	dev_t dev;
	ino_t ino;
	int synced;         /* fsynced when added: needs no syncfs */
	enum atr_err err;   /* failed at a step; done told once */
};

struct atr_outbatch {
	int syncfd;         /* own descriptor of the root, for syncfs */
	int use_syncfs;
	dev_t root_dev;
	size_t max_files, max_dirs;
	uint64_t max_bytes, bytes;
	struct ob_ent *ent;
	size_t nent;
	struct ob_dir *dirs;
	size_t ndirs;
	atr_batch_done_fn done;
	void *arg;
	struct timespec first;   /* when the oldest entry was added */
};

/* Milliseconds since *t (CLOCK_MONOTONIC). */
static long
ms_since(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (long)(now.tv_sec - t->tv_sec) * 1000L +
	    (now.tv_nsec - t->tv_nsec) / 1000000L;
}

#ifdef __linux__
/* File systems whose sync_fs writes back and waits for every dirty
 * inode and commits the journal (or has none to commit): linux/magic.h. */
static int
fs_syncs_all(long type)
{
	switch ((unsigned long)type & 0xffffffffUL) {
	case 0xEF53UL:       /* ext2, ext3, ext4 */
	case 0x58465342UL:   /* XFS */
	case 0x9123683EUL:   /* Btrfs */
	case 0x01021994UL:   /* tmpfs: nothing to make durable */
		return 1;
	default:
		return 0;
	}
}

/* syncfs(2) reports a failed write-back since Linux 5.8 (before, it
 * returned 0 whatever happened to the data). */
static int
kernel_reports_syncfs_errors(void)
{
	struct utsname u;
	unsigned long maj, min;
	char *end;

	if (uname(&u) != 0)
		return 0;
	maj = strtoul(u.release, &end, 10);
	if (*end != '.')
		return 0;
	min = strtoul(end + 1, NULL, 10);
	return maj > 5 || (maj == 5 && min >= 8);
}
#endif

enum atr_err
atr_batch_new(int rootfd, size_t max_files, size_t max_dirs,
    uint64_t max_bytes, atr_batch_done_fn done, void *arg,
    struct atr_outbatch **out)
{
	struct atr_outbatch *b;
	struct stat st;
	enum atr_err err = ATR_OK;

	*out = NULL;
	b = calloc(1, sizeof(*b));
	if (b == NULL)
		return ATR_ERR_NOMEM;
	b->syncfd = -1;
	b->max_files = max_files > 0 ? max_files : 1;
	b->max_dirs = max_dirs > 0 ? max_dirs : 1;
	b->max_bytes = max_bytes;
	b->done = done;
	b->arg = arg;
	b->ent = calloc(b->max_files, sizeof(*b->ent));
	b->dirs = calloc(b->max_dirs, sizeof(*b->dirs));
	if (b->ent == NULL || b->dirs == NULL) {
		err = ATR_ERR_NOMEM;
		goto out;
	}
	/* A description of our own: syncfs reports the write-back errors
	 * of the file system since this descriptor was opened (Linux 5.8,
	 * errseq of the superblock), and no other batch consumes them. */
	b->syncfd = openat(rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (b->syncfd < 0 || fstat(b->syncfd, &st) != 0) {
		err = atr_fail(ATR_ERR_IO, "cannot open the output directory: "
		    "%s", strerror(errno));
		goto out;
	}
	b->root_dev = st.st_dev;
#ifdef __linux__
	{
		struct statfs sf;

		b->use_syncfs = fstatfs(b->syncfd, &sf) == 0 &&
		    fs_syncs_all((long)sf.f_type) &&
		    kernel_reports_syncfs_errors();
	}
#endif
out:
	if (err != ATR_OK) {
		if (b->syncfd >= 0)
			close(b->syncfd);
		free(b->ent);
		free(b->dirs);
		free(b);
		return err;
	}
	*out = b;
	return ATR_OK;
}

int
atr_batch_uses_syncfs(const struct atr_outbatch *b)
{
	return b->use_syncfs;
}

static void
ent_release(struct ob_ent *e)
{
	free(e->tmp);
	free(e->name);
	free(e->shown);
	memset(e, 0, sizeof(*e));
}

/* Empties the batch after every entry was told. */
static void
reset(struct atr_outbatch *b)
{
	size_t i;

	for (i = 0; i < b->nent; i++)
		ent_release(&b->ent[i]);
	for (i = 0; i < b->ndirs; i++) {
		close(b->dirs[i].fd);
		memset(&b->dirs[i], 0, sizeof(b->dirs[i]));
	}
	b->nent = 0;
	b->ndirs = 0;
	b->bytes = 0;
}

/* Fails entry e: its temporary file is removed, done is told (with the
 * detail the caller set through atr_fail). */
static void
fail_ent(struct atr_outbatch *b, struct ob_ent *e, enum atr_err err)
{
	(void)unlinkat(b->dirs[e->dir].fd, e->tmp, 0);
	e->err = err;
	b->done(e->tag, err, b->arg);
	e->tag = NULL;
}

/* Step 2 for one entry: the name is still what may be replaced, then
 * the rename. */
static void
place(struct atr_outbatch *b, struct ob_ent *e)
{
	struct ob_dir *d = &b->dirs[e->dir];
	const char *s = e->shown != NULL ? e->shown : e->name;
	struct stat st;
	int have;

	have = fstatat(d->fd, e->name, &st, AT_SYMLINK_NOFOLLOW) == 0;
	if (e->has_expect && (!have || st.st_dev != e->dev ||
	    st.st_ino != e->ino)) {
		/* Another writer's version wins: replacing it would lose
		 * that writer's data. */
		fail_ent(b, e, atr_fail(ATR_ERR_IO, "it was replaced during "
		    "the rewrap; left as replaced"));
		return;
	}
	if (!e->has_expect && have && !S_ISREG(st.st_mode)) {
		/* rename(2) would replace a link or a FIFO planted since the
		 * start: only a regular file is ever replaced (fsutil.h). */
		fail_ent(b, e, atr_fail(ATR_ERR_EXISTS, S_ISLNK(st.st_mode) ?
		    "%s is %s: not followed" : "%s is %s: only a regular file "
		    "is replaced", s, atr_file_kind(st.st_mode)));
		return;
	}
	if (renameat(d->fd, e->tmp, d->fd, e->name) != 0) {
		int en = errno;

		fail_ent(b, e, atr_fail(ATR_ERR_IO, "rename to %s: %s", s,
		    strerror(en)));
		return;
	}
	d->touched = 1;
}

enum atr_err
atr_batch_flush(struct atr_outbatch *b)
{
	enum atr_err first = ATR_OK;
	size_t i, unsynced = 0;

	if (b->nent == 0)
		return ATR_OK;
	for (i = 0; i < b->nent; i++)
		if (!b->ent[i].synced)
			unsynced++;
#ifdef __linux__
	/* Step 1: the data (and inodes) of every temporary file on the
	 * root's file system, at once (Linux syncfs(2)). */
	if (unsynced > 0 && syncfs(b->syncfd) != 0) {
		int en = errno;

		for (i = 0; i < b->nent; i++) {
			if (b->ent[i].synced)
				continue;
			fail_ent(b, &b->ent[i], atr_fail(ATR_ERR_IO,
			    "syncfs: %s", strerror(en)));
		}
	}
#else
	(void)unsynced;   /* never deferred: see atr_batch_new */
#endif
	/* Step 2: only now may a name show the new file. */
	for (i = 0; i < b->nent; i++)
		if (b->ent[i].err == ATR_OK)
			place(b, &b->ent[i]);
	/* Step 3: each directory once.  EINVAL: a file system that cannot
	 * sync a directory (POSIX fsync(2)); the rename stands as it is. */
	for (i = 0; i < b->ndirs; i++) {
		struct ob_dir *d = &b->dirs[i];

		if (d->touched && fsync(d->fd) != 0 && errno != EINVAL) {
			d->err = ATR_ERR_IO;
			snprintf(d->why, sizeof(d->why), "fsync of the "
			    "directory: %s (the output is complete but may not "
			    "be durable)", strerror(errno));
		}
	}
	for (i = 0; i < b->nent; i++) {
		struct ob_ent *e = &b->ent[i];
		struct ob_dir *d = &b->dirs[e->dir];

		if (e->err != ATR_OK) {
			if (first == ATR_OK)
				first = e->err;
			continue;
		}
		if (d->err != ATR_OK) {
			if (first == ATR_OK)
				first = d->err;
			atr_fail(d->err, "%s", d->why);
			b->done(e->tag, d->err, b->arg);
		} else {
			atr_detail_clear();
			b->done(e->tag, ATR_OK, b->arg);
		}
		e->tag = NULL;
	}
	reset(b);
	return first;
}

void
atr_batch_discard(struct atr_outbatch *b)
{
	size_t i;

	for (i = 0; i < b->nent; i++)
		fail_ent(b, &b->ent[i], atr_fail(ATR_ERR_IO, "interrupted"));
	reset(b);
}

void
atr_batch_free(struct atr_outbatch *b)
{
	if (b == NULL)
		return;
	atr_batch_discard(b);
	close(b->syncfd);
	free(b->ent);
	free(b->dirs);
	free(b);
}

/* The index of dirfd's directory in b, added (duplicated) when new;
 * may flush first when b holds max_dirs already. */
static enum atr_err
dir_index(struct atr_outbatch *b, int dirfd, const struct stat *ds,
    size_t *idx)
{
	size_t i;
	int fd;

	for (i = 0; i < b->ndirs; i++) {
		if (b->dirs[i].dev == ds->st_dev &&
		    b->dirs[i].ino == ds->st_ino) {
			*idx = i;
			return ATR_OK;
		}
	}
	if (b->ndirs == b->max_dirs)
		(void)atr_batch_flush(b);   /* each entry's done said it */
	fd = fcntl(dirfd, F_DUPFD_CLOEXEC, 3);
	if (fd < 0)
		return atr_fail(ATR_ERR_IO, "%s", strerror(errno));
	b->dirs[b->ndirs].fd = fd;
	b->dirs[b->ndirs].dev = ds->st_dev;
	b->dirs[b->ndirs].ino = ds->st_ino;
	*idx = b->ndirs++;
	return ATR_OK;
}

enum atr_err
atr_batch_add(struct atr_outbatch *b, int fd, int dirfd,
    const char *tmpname, const char *name, const char *shown,
    const struct stat *expect, void *tag)
{
	struct stat fs, ds;
	struct ob_ent *e;
	enum atr_err err;
	size_t di = 0;
	int synced = 0;

	if (fstat(fd, &fs) != 0 || fstat(dirfd, &ds) != 0)
		return atr_fail(ATR_ERR_IO, "%s", strerror(errno));
	if (!b->use_syncfs || ds.st_dev != b->root_dev) {
		/* No syncfs covers this file: fsync it now (fsutil.h). */
		if (fsync(fd) != 0)
			return atr_fail(ATR_ERR_IO, "fsync: %s",
			    strerror(errno));
		synced = 1;
	}
	if (b->nent == b->max_files)
		(void)atr_batch_flush(b);
	err = dir_index(b, dirfd, &ds, &di);
	if (err != ATR_OK)
		return err;
	e = &b->ent[b->nent];
	memset(e, 0, sizeof(*e));
	e->tmp = strdup(tmpname);
	e->name = strdup(name);
	e->shown = shown != NULL ? strdup(shown) : NULL;
	if (e->tmp == NULL || e->name == NULL ||
	    (shown != NULL && e->shown == NULL)) {
		ent_release(e);
		return ATR_ERR_NOMEM;
	}
	e->dir = di;
	e->tag = tag;
	e->synced = synced;
	if (expect != NULL) {
		e->has_expect = 1;
		e->dev = expect->st_dev;
		e->ino = expect->st_ino;
	}
	if (b->nent++ == 0)
		clock_gettime(CLOCK_MONOTONIC, &b->first);
	b->bytes += fs.st_size > 0 ? (uint64_t)fs.st_size : 0;
	if (b->bytes >= b->max_bytes || ms_since(&b->first) >= ATR_OUTBATCH_MS)
		(void)atr_batch_flush(b);
	return ATR_OK;
}

enum atr_err
atr_out_commit_batch(struct atr_outfile *o, struct atr_outbatch *b,
    void *tag)
{
	enum atr_err err;

	if (o->direct || o->is_stdout || !o->has_dir) {
		err = atr_out_commit(o, 0);
		if (err == ATR_OK)
			b->done(tag, ATR_OK, b->arg);
		return err;
	}
	err = atr_batch_add(b, o->fd, o->dirfd, o->tmpname, o->name,
	    o->path, NULL, tag);
	if (err != ATR_OK) {
		atr_out_abort(o);
		return err;
	}
	/* The batch owns the temporary file now.  A failed close(2) on a
	 * local file system reports nothing the syncfs will not (and the
	 * others were fsynced above). */
	(void)close(o->fd);
	o->fd = -1;
	o->tmpname[0] = '\0';
	o->tmp[0] = '\0';
	close(o->dirfd);
	o->dirfd = -1;
	o->has_dir = 0;
	return ATR_OK;
}
