/*
 * io.c - `atrest bench --io DIR`: the cells' objects go through files
 * (docs/BENCH.md, "Storage (--io)").
 *
 * An encrypt cell writes each object with the atomic write `atrest
 * encrypt` uses (core/fsutil.h atr_out_beginat / atr_out_commit: a
 * temporary file, the bytes, fsync, renameat, fsync of the directory);
 * a decrypt cell opens and reads back files written before it was
 * timed, as `atrest decrypt` opens its inputs.  The storage limit is
 * the same work without atrest: a plain write, fsync, rename and
 * directory fsync, or a plain open, read and close, of the same sizes.
 *
 * Everything is written into one private directory the run creates in
 * DIR (mkdtemp, mode 0700) and removes with its contents at the end,
 * on success, error or interrupt; file names inside it are reused in a
 * small ring per thread, so the disk holds a bounded amount whatever
 * the run's length.
 */
/* syncfs(2) is a GNU extension (glibc 2.14, Linux 2.6.39). */
#define _GNU_SOURCE
#include "bench_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "fsutil.h"

/* ---- the filesystem's name ------------------------------------------ */

/* statfs(2) f_type magic numbers (linux/magic.h) of the filesystems a
 * bench directory is likely to be on. */
static const struct {
	unsigned long magic;
	const char *name;
} fs_names[] = {
	{0xEF53UL, "ext2/ext3/ext4"},
	{0x58465342UL, "xfs"},
	{0x9123683EUL, "btrfs"},
	{0x01021994UL, "tmpfs"},
	{0x858458F6UL, "ramfs"},
	{0x794C7630UL, "overlayfs"},
	{0x2FC12FC1UL, "zfs"},
	{0xF2F52010UL, "f2fs"},
	{0x6969UL, "nfs"},
	{0xFF534D42UL, "cifs"},
	{0xFE534D42UL, "smb2"},
	{0x65735546UL, "fuse"},
	{0x01021997UL, "9p"},
	{0x4D44UL, "vfat"},
	{0x5346544EUL, "ntfs"},
	{0x3153464AUL, "jfs"},
	{0x52654973UL, "reiserfs"},
	{0x73717368UL, "squashfs"},
	{0x9FA0UL, "proc"},
};

const char *
atb_fs_name(unsigned long magic)
{
	size_t i;

	for (i = 0; i < sizeof(fs_names) / sizeof(fs_names[0]); i++)
		if (fs_names[i].magic == (magic & 0xFFFFFFFFUL))
			return fs_names[i].name;
	return "unknown";
}

/* ---- the run's directory --------------------------------------------- */

enum atr_err
bn_io_open(struct run *R)
{
	const char *dir = R->cfg->io_dir;
	struct statfs sf;
	struct stat st;
	int n;

	R->io_fd = -1;
	R->io_path[0] = '\0';
	if (dir == NULL)
		return ATR_OK;
	if (stat(dir, &st) != 0)
		return atr_fail(ATR_ERR_CONFIG, "--io %s: %s", dir,
		    strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return atr_fail(ATR_ERR_CONFIG, "--io %s: not a directory", dir);
	if (statfs(dir, &sf) != 0)
		return atr_fail(ATR_ERR_CONFIG, "--io %s: %s", dir,
		    strerror(errno));
	R->io_magic = (unsigned long)sf.f_type & 0xFFFFFFFFUL;
	snprintf(R->io_fs, sizeof(R->io_fs), "%s", atb_fs_name(R->io_magic));
	n = snprintf(R->io_path, sizeof(R->io_path), "%s/.atrest-bench-XXXXXX",
	    dir);
	if (n < 0 || (size_t)n >= sizeof(R->io_path)) {
		R->io_path[0] = '\0';
		return atr_fail(ATR_ERR_CONFIG, "--io %s: path too long", dir);
	}
	if (mkdtemp(R->io_path) == NULL) {
		int e = errno;

		R->io_path[0] = '\0';
		return atr_fail(ATR_ERR_CONFIG, "--io %s: cannot create a "
		    "directory in it: %s", dir, strerror(e));
	}
	R->io_fd = open(R->io_path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	if (R->io_fd < 0) {
		int e = errno;

		bn_rm_tree(R->io_path, 0);
		R->io_path[0] = '\0';
		return atr_fail(ATR_ERR_CONFIG, "--io %s: %s", dir, strerror(e));
	}
	return ATR_OK;
}

void
bn_io_close(struct run *R)
{
	if (R->io_fd >= 0)
		close(R->io_fd);
	R->io_fd = -1;
	/* Whatever a failed or interrupted cell left, temporary files
	 * included: the directory is ours alone. */
	if (R->io_path[0] != '\0')
		bn_rm_tree(R->io_path, 0);
	R->io_path[0] = '\0';
}

unsigned
bn_io_ring(uint64_t size)
{
	uint64_t n = size ? IO_RING_BYTES / size : IO_RING_MAX;

	if (n < 1)
		n = 1;
	return n > IO_RING_MAX ? IO_RING_MAX : (unsigned)n;
}

void
bn_io_enc_name(unsigned thread, uint64_t seq, uint64_t size, char *out,
    size_t cap)
{
	snprintf(out, cap, "e-%u-%u", thread,
	    (unsigned)(seq % bn_io_ring(size)));
}

void
bn_io_pool_name(size_t pool, size_t obj, char *out, size_t cap)
{
	snprintf(out, cap, "d-%zu-%zu", pool, obj);
}

/* ---- what the cells do -------------------------------------------------- */

enum atr_err
bn_io_write_obj(int dirfd, const char *name, const uint8_t *p, size_t len)
{
	struct atr_outfile o;
	enum atr_err err;

	/* cli/common.c one_file: the same calls, in the same order. */
	err = atr_out_beginat(&o, dirfd, name, name, 0644, 0);
	if (err != ATR_OK)
		return err;
	err = atr_write_all(o.fd, p, len);
	if (err != ATR_OK) {
		atr_out_abort(&o);
		return err;
	}
	return atr_out_commit(&o, 0);
}

enum atr_err
bn_io_read_obj(int dirfd, const char *name, uint8_t *buf, size_t cap,
    size_t *len)
{
	struct stat st;
	size_t got = 0;
	enum atr_err err;
	int fd, fl;

	*len = 0;
	/* cli/common.c open_listed: not through a link, never blocking on
	 * a FIFO, a regular file, then blocking reads. */
	fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return atr_fail(ATR_ERR_IO, "%s: cannot open: %s", name,
		    strerror(errno));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    (fl = fcntl(fd, F_GETFL)) < 0 ||
	    fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0) {
		close(fd);
		return atr_fail(ATR_ERR_IO, "%s: not a regular file", name);
	}
	if ((uint64_t)st.st_size > cap) {
		close(fd);
		return atr_fail(ATR_ERR_IO, "%s: larger than expected", name);
	}
	err = atr_read_full(fd, buf, (size_t)st.st_size, &got);
	close(fd);
	if (err == ATR_OK && got != (size_t)st.st_size)
		err = atr_fail(ATR_ERR_IO, "%s: the file shrank", name);
	*len = got;
	return err;
}

/* ---- the storage limit ---------------------------------------------------- */

enum atr_err
bn_io_plain_write(int dirfd, const char *tmp, const char *name,
    const uint8_t *p, size_t len, int durable)
{
	enum atr_err err;
	int fd;

	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return atr_fail(ATR_ERR_IO, "%s: cannot create: %s", tmp,
		    strerror(errno));
	err = atr_write_all(fd, p, len);
	if (err == ATR_OK && durable && fsync(fd) != 0)
		err = atr_fail(ATR_ERR_IO, "%s: fsync: %s", tmp,
		    strerror(errno));
	if (close(fd) != 0 && err == ATR_OK)
		err = atr_fail(ATR_ERR_IO, "%s: close: %s", tmp,
		    strerror(errno));
	if (err != ATR_OK) {
		(void)unlinkat(dirfd, tmp, 0);
		return err;
	}
	if (strcmp(tmp, name) != 0 && renameat(dirfd, tmp, dirfd, name) != 0) {
		err = atr_fail(ATR_ERR_IO, "%s: rename: %s", name,
		    strerror(errno));
		(void)unlinkat(dirfd, tmp, 0);
		return err;
	}
	if (durable && fsync(dirfd) != 0)
		return atr_fail(ATR_ERR_IO, "directory fsync: %s",
		    strerror(errno));
	return ATR_OK;
}

enum atr_err
bn_io_plain_read(int dirfd, const char *name, uint8_t *buf, size_t len)
{
	enum atr_err err;
	size_t got = 0;
	int fd;

	fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return atr_fail(ATR_ERR_IO, "%s: cannot open: %s", name,
		    strerror(errno));
	err = atr_read_full(fd, buf, len, &got);
	close(fd);
	if (err == ATR_OK && got != len)
		err = atr_fail(ATR_ERR_IO, "%s: short read", name);
	return err;
}

/* ---- a group's files ------------------------------------------------------ */

enum atr_err
bn_io_group_files(struct run *R, struct group *G)
{
	size_t p, j;
	enum atr_err err;

	if (R->io_fd < 0)
		return ATR_OK;
	for (p = 0; p < G->npools; p++) {
		const struct pool *P = &G->pools[p];
		char name[48];
		size_t len = 0;

		if (P->nobj == 0)
			continue;
		/* The atomic write and the read the cells use, once, checked
		 * byte for byte: the cells then run a path just verified. */
		err = bn_io_write_obj(R->io_fd, "check", R->pool.p +
		    P->objs[0].off, P->objs[0].len);
		if (err == ATR_OK)
			err = bn_io_read_obj(R->io_fd, "check", R->refout.p,
			    R->refout.len, &len);
		(void)unlinkat(R->io_fd, "check", 0);
		if (err != ATR_OK)
			return err;
		if (len != P->objs[0].len || memcmp(R->refout.p, R->pool.p +
		    P->objs[0].off, len) != 0)
			return atr_fail(ATR_ERR_IO, "a file read back differs "
			    "from what was written");
		if (G->op != ATB_DECRYPT)
			continue;
		/* The decrypt cells' inputs, written before they are timed:
		 * plain writes, made durable below by one syncfs, so that no
		 * writeback of theirs is left to run during the cells. */
		for (j = 0; j < P->nobj; j++) {
			bn_io_pool_name(p, j, name, sizeof(name));
			err = bn_io_plain_write(R->io_fd, name, name,
			    R->pool.p + P->objs[j].off, P->objs[j].len, 0);
			if (err != ATR_OK)
				return err;
		}
	}
	return G->op == ATB_DECRYPT ? bn_io_sync(R->io_fd) : ATR_OK;
}

enum atr_err
bn_io_sync(int dirfd)
{
	if (syncfs(dirfd) != 0)
		return atr_fail(ATR_ERR_IO, "syncfs: %s", strerror(errno));
	return ATR_OK;
}

void
bn_io_group_clean(struct run *R, struct group *G)
{
	char name[48];
	size_t p, j;
	unsigned t, k;

	if (R->io_fd < 0)
		return;
	for (p = 0; p < G->npools; p++)
		for (j = 0; j < G->pools[p].nobj; j++) {
			bn_io_pool_name(p, j, name, sizeof(name));
			(void)unlinkat(R->io_fd, name, 0);
		}
	for (t = 0; t < R->nw; t++)
		for (k = 0; k < IO_RING_MAX; k++) {
			snprintf(name, sizeof(name), "e-%u-%u", t, k);
			(void)unlinkat(R->io_fd, name, 0);
		}
}
