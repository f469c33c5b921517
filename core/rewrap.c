/* see rewrap.h */
#include "rewrap.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "crypto.h"
#include "fsmeta.h"
#include "fsutil.h"
#include "outbatch.h"
#include "stream.h"

#define TMP_PREFIX_LEN (sizeof(ATR_TMP_PREFIX) - 1)
#define HOST_HEX 8
#define RAND_HEX 16

/*
 * An object whose stanzas already look right is "already done" only
 * when its header authenticates (DEK unwrapped, key commitment and
 * header MAC checked, docs/FORMAT.md) with a key this command holds: a
 * header that merely names the new key proves nothing, anyone can
 * write one.  The keys tried are those that open objects, then the keys
 * being added that can also unwrap (a private key, a vault key).  A
 * matching stanza or header that fails is an authentication failure; a
 * key service that refuses is reported as such.
 */
static enum atr_err
authenticate(const struct atr_header *h, const struct atr_rewrap_spec *spec)
{
	struct atr_key *const *lists[2];
	size_t counts[2], l, i;
	enum atr_err err, service = ATR_OK;
	char why[512] = "";
	struct atr_dec *d;

	lists[0] = spec->open;
	counts[0] = spec->nopen;
	lists[1] = spec->add;
	counts[1] = spec->nadd;
	for (l = 0; l < 2; l++) {
		for (i = 0; i < counts[l]; i++) {
			struct atr_key *k = lists[l][i];

			if (!k->can_unwrap)
				continue;
			d = NULL;
			err = atr_dec_new(h, &k, 1, NULL, &d, NULL, NULL);
			atr_dec_free(d);
			if (err == ATR_OK)
				return ATR_OK;
			if (err == ATR_ERR_AUTH)
				return err;
			if (err != ATR_ERR_NOKEY && service == ATR_OK) {
				service = err;
				snprintf(why, sizeof(why), "%s", atr_detail());
			}
		}
	}
	if (service != ATR_OK)
		return atr_fail(service, "not verifiable: %s", why);
	return atr_fail(ATR_ERR_NOKEY, "not verifiable: header could not be "
	    "authenticated with a key held by this command");
}

/* The host part of a temporary name: a digest, as a host name may hold
 * any byte and be up to HOST_NAME_MAX long (POSIX gethostname). */
static enum atr_err
host_tag(char out[HOST_HEX + 1])
{
	char name[256];
	uint8_t d[32];
	enum atr_err err;

	memset(name, 0, sizeof(name));
	if (gethostname(name, sizeof(name) - 1) != 0)
		snprintf(name, sizeof(name), "unknown");
	err = atr_sha256((const uint8_t *)name, strlen(name), d);
	if (err != ATR_OK)
		return err;
	atr_hex(d, HOST_HEX / 2, out);
	return ATR_OK;
}

int
atr_rewrap_tmp_reserved(const char *base)
{
	return strncmp(base, ATR_TMP_PREFIX, TMP_PREFIX_LEN) == 0;
}

/* "PID-HOST-": what precedes the random digits in a rewrap's name. */
static enum atr_err
owned_stem(long pid, char *out, size_t cap)
{
	char host[HOST_HEX + 1];
	enum atr_err err;
	int n;

	err = host_tag(host);
	if (err != ATR_OK)
		return err;
	n = snprintf(out, cap, "%ld-%s-", pid, host);
	if (n < 0 || (size_t)n >= cap)
		return atr_fail(ATR_ERR_USAGE, "name buffer too small");
	return ATR_OK;
}

enum atr_err
atr_rewrap_tmp_name(long pid, char *out, size_t cap)
{
	char stem[64];
	enum atr_err err;

	err = owned_stem(pid, stem, sizeof(stem));
	if (err != ATR_OK)
		return err;
	return atr_tmp_name(stem, ATR_TMP_HEX, RAND_HEX, out, cap);
}

static int
lower_hex(const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!((p[i] >= '0' && p[i] <= '9') ||
		    (p[i] >= 'a' && p[i] <= 'f')))
			return 0;
	return 1;
}

/* 1 when base is exactly .atrest-tmp-PID-HOST-RANDOM (rewrap.h). */
static int
parse_tmp(const char *base, pid_t *pid, char host[HOST_HEX + 1])
{
	const char *p;
	unsigned long long v = 0;
	size_t i;

	if (!atr_rewrap_tmp_reserved(base))
		return 0;
	p = base + TMP_PREFIX_LEN;
	if (*p < '1' || *p > '9')
		return 0;
	for (i = 0; p[i] >= '0' && p[i] <= '9'; i++) {
		if (i >= 10)
			return 0;
		v = v * 10 + (unsigned long long)(p[i] - '0');
	}
	if (v > INT_MAX)
		return 0;
	p += i;
	if (*p++ != '-' || !lower_hex(p, HOST_HEX))
		return 0;
	memcpy(host, p, HOST_HEX);
	host[HOST_HEX] = '\0';
	p += HOST_HEX;
	if (*p++ != '-' || !lower_hex(p, RAND_HEX))
		return 0;
	if (p[RAND_HEX] != '\0')
		return 0;
	*pid = (pid_t)v;
	return 1;
}

/* Leaves a file alone: *removed stays 0 and the detail says why. */
static enum atr_err
keep(const char *why)
{
	atr_detail_set("%s", why);
	return ATR_OK;
}

/* Opens the directory of path; *base points into path. */
static enum atr_err
open_parent(const char *path, int *dfd, const char **base)
{
	char dir[PATH_MAX];
	enum atr_err err;

	err = atr_path_split(path, dir, sizeof(dir), base);
	if (err != ATR_OK)
		return err;
	*dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (*dfd < 0)
		return atr_fail(ATR_ERR_IO, "cannot open its directory: %s",
		    strerror(errno));
	return ATR_OK;
}

enum atr_err
atr_rewrap_tmp_clean(const char *path, int *removed)
{
	const char *base;
	enum atr_err err;
	int dfd = -1;

	*removed = 0;
	err = open_parent(path, &dfd, &base);
	if (err != ATR_OK)
		return err;
	err = atr_rewrap_tmp_cleanat(dfd, base, removed);
	close(dfd);
	return err;
}

enum atr_err
atr_rewrap_tmp_cleanat(int dfd, const char *base, int *removed)
{
	char host[HOST_HEX + 1], mine[HOST_HEX + 1], why[160];
	unsigned char magic[ATR_MAGIC_BYTES];
	struct stat st, now;
	enum atr_err err;
	size_t got = 0;
	pid_t pid = 0;
	int fd = -1;

	*removed = 0;
	if (!parse_tmp(base, &pid, host))
		return keep("not a temporary file of atrest rewrap (another "
		    "writer's, or not atrest's)");
	err = host_tag(mine);
	if (err != ATR_OK)
		return err;
	if (fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW) != 0) {
		/* Its writer renamed or removed it since the listing. */
		if (errno == ENOENT)
			err = keep("it is gone");
		else
			err = atr_fail(ATR_ERR_IO, "%s", strerror(errno));
		goto out;
	}
	if (S_ISLNK(st.st_mode)) {
		err = keep("a symbolic link");
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		err = keep("not a regular file");
		goto out;
	}
	if (st.st_nlink != 1) {
		err = keep("it has other hard links");
		goto out;
	}
	if (geteuid() != 0 && st.st_uid != geteuid()) {
		snprintf(why, sizeof(why), "owned by uid %lu, not by this user",
		    (unsigned long)st.st_uid);
		err = keep(why);
		goto out;
	}
	/* O_NONBLOCK: a FIFO put there in the meantime must not hang us. */
	fd = openat(dfd, base, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC);
	if (fd < 0) {
		snprintf(why, sizeof(why), "cannot read it: %s",
		    strerror(errno));
		err = keep(why);
		goto out;
	}
	if (fstat(fd, &now) != 0 || now.st_dev != st.st_dev ||
	    now.st_ino != st.st_ino) {
		err = keep("it changed while being checked");
		goto out;
	}
	err = atr_read_full(fd, magic, sizeof(magic), &got);
	if (err != ATR_OK)
		goto out;
	/* A rewrap writes the header first, in one write(2). */
	if (got > 0 && memcmp(magic, ATR_MAGIC, got) != 0) {
		err = keep("it does not hold an atrest envelope");
		goto out;
	}
	if (strcmp(host, mine) == 0) {
		/* kill(2) with signal 0 only checks: EPERM means the
		 * process exists under another user. */
		if (kill(pid, 0) == 0 || errno != ESRCH) {
			snprintf(why, sizeof(why), "its writer (process "
			    "%ld) is still running", (long)pid);
			err = keep(why);
			goto out;
		}
	} else if (time(NULL) - st.st_mtime < ATR_REWRAP_TMP_FOREIGN_AGE) {
		err = keep("written on another host less than an hour ago");
		goto out;
	}
	/* Still the file just checked under that name. */
	if (fstatat(dfd, base, &now, AT_SYMLINK_NOFOLLOW) != 0 ||
	    now.st_dev != st.st_dev || now.st_ino != st.st_ino) {
		err = keep("it changed while being checked");
		goto out;
	}
	if (unlinkat(dfd, base, 0) != 0) {
		err = atr_fail(ATR_ERR_IO, "cannot remove: %s",
		    strerror(errno));
		goto out;
	}
	*removed = 1;
	err = ATR_OK;
out:
	if (fd >= 0)
		close(fd);
	return err;
}

/* Creates a fresh temporary file in dfd; name gets its name. */
static enum atr_err
tmp_create(int dfd, char *name, size_t cap, int *fd)
{
	char stem[64];
	enum atr_err err;
	int e = 0;

	*fd = -1;
	name[0] = '\0';
	err = owned_stem((long)getpid(), stem, sizeof(stem));
	if (err == ATR_OK)
		err = atr_tmp_createat(dfd, stem, ATR_TMP_HEX, RAND_HEX, name,
		    cap, fd, &e);
	if (err != ATR_OK && e != 0)
		return atr_fail(ATR_ERR_IO, "cannot create a temporary file "
		    "beside it: %s", strerror(e));
	return err;
}

enum atr_err
atr_rewrap_file(const char *path, const struct atr_rewrap_spec *spec,
    unsigned flags, struct atr_rewrap_result *res)
{
	const char *base;
	enum atr_err err;
	int dfd = -1;

	res->outcome = ATR_REWRAP_ALREADY_DONE;
	res->nlink = 0;
	err = open_parent(path, &dfd, &base);
	if (err != ATR_OK)
		return err;
	err = atr_rewrap_fileat(dfd, base, spec, flags, res);
	close(dfd);
	return err;
}

/* Hands the finished temporary file tmp (open as tfd) to the batch b:
 * it is renamed over base once durable, if base is still the object st
 * (core/outbatch.h).  *tmp is cleared when the batch took it. */
static enum atr_err
queue(struct atr_outbatch *b, int dfd, const char *base, char *tmp,
    int tfd, const struct stat *st, void *tag)
{
	enum atr_err err;

	err = atr_batch_add(b, tfd, dfd, tmp, base, NULL, st, tag);
	if (err == ATR_OK)
		tmp[0] = '\0';
	return err;
}

static enum atr_err rewrap_at(int dfd, const char *base,
    const struct atr_rewrap_spec *spec, unsigned flags,
    struct atr_outbatch *b, void *tag, struct atr_rewrap_result *res);

enum atr_err
atr_rewrap_fileat(int dfd, const char *base,
    const struct atr_rewrap_spec *spec, unsigned flags,
    struct atr_rewrap_result *res)
{
	return rewrap_at(dfd, base, spec, flags, NULL, NULL, res);
}

enum atr_err
atr_rewrap_fileat_batch(int dfd, const char *base,
    const struct atr_rewrap_spec *spec, unsigned flags,
    struct atr_outbatch *b, void *tag, struct atr_rewrap_result *res)
{
	return rewrap_at(dfd, base, spec, flags, b, tag, res);
}

/* atr_rewrap_fileat, through the batch b when not NULL. */
static enum atr_err
rewrap_at(int dfd, const char *base, const struct atr_rewrap_spec *spec,
    unsigned flags, struct atr_outbatch *b, void *tag,
    struct atr_rewrap_result *res)
{
	struct atr_header *h = NULL;
	uint8_t *spill = NULL, *hdr = NULL, *buf = NULL;
	char tmp[64];
	size_t extra = 0, hl = 0, got;
	struct stat st, now;
	enum atr_err err;
	int fd = -1, tfd = -1, changed = 0;

	res->outcome = ATR_REWRAP_ALREADY_DONE;
	res->nlink = 0;
	tmp[0] = '\0';
	h = malloc(sizeof(*h));
	spill = malloc(ATR_HEADER_MAX);
	hdr = malloc(ATR_HEADER_MAX);
	buf = malloc(1U << 20);
	if (h == NULL || spill == NULL || hdr == NULL || buf == NULL) {
		err = ATR_ERR_NOMEM;
		goto out;
	}
	/* Everything below goes through one directory descriptor, so the
	 * file read, its replacement and the rename are in one directory
	 * even if the path is changed meanwhile. */
	fd = openat(dfd, base, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0 || fstat(fd, &st) != 0) {
		err = atr_fail(ATR_ERR_IO, "cannot open: %s", strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		err = atr_fail(ATR_ERR_IO, "not a regular file");
		goto out;
	}
	res->nlink = (unsigned long)st.st_nlink;
	err = atr_read_header(fd, h, spill, &extra);
	if (err != ATR_OK)
		goto out;
	if (!atr_rewrap_needed(h, spec)) {
		err = authenticate(h, spec);
		if (err == ATR_ERR_NOKEY)
			res->outcome = ATR_REWRAP_UNVERIFIED;
		goto out;
	}
	/* Renaming over one name of several would leave the others with
	 * the old recipients and split what was one file in two. */
	if (st.st_nlink > 1 && !(flags & ATR_REWRAP_BREAK_HARDLINKS)) {
		res->outcome = ATR_REWRAP_HARDLINKED;
		err = ATR_OK;
		goto out;
	}
	err = atr_rewrap_header(h, spec, hdr, &hl, &changed);
	if (err != ATR_OK || !changed)
		goto out;
	err = tmp_create(dfd, tmp, sizeof(tmp), &tfd);
	if (err != ATR_OK)
		goto out;
	/* The owner first: chown(2) may clear set-ID bits and file
	 * capabilities, which atr_meta_finish sets afterwards. */
	err = atr_meta_owner(tfd, &st);
	if (err == ATR_OK)
		err = atr_write_all(tfd, hdr, hl);
	if (err == ATR_OK)
		err = atr_write_all(tfd, spill, extra);
	/* The body is copied byte for byte: it is never decrypted. */
	while (err == ATR_OK) {
		err = atr_read_full(fd, buf, 1U << 20, &got);
		if (err != ATR_OK || got == 0)
			break;
		err = atr_write_all(tfd, buf, got);
	}
	if (err == ATR_OK)
		err = atr_meta_finish(fd, tfd, &st);
	if (err != ATR_OK)
		goto out;
	if (b != NULL) {
		/* The object stays as it is until the batch made the new
		 * file durable (syncfs or fsync), then the same check and
		 * rename as below are done there, and the directory is
		 * fsynced once for the batch. */
		err = queue(b, dfd, base, tmp, tfd, &st, tag);
		if (err == ATR_OK)
			res->outcome = ATR_REWRAP_QUEUED;
		goto out;
	}
	if (fsync(tfd) != 0) {
		err = atr_fail(ATR_ERR_IO, "fsync: %s", strerror(errno));
		goto out;
	}
	if (close(tfd) != 0) {
		tfd = -1;
		err = atr_fail(ATR_ERR_IO, "close: %s", strerror(errno));
		goto out;
	}
	tfd = -1;
	/* Another writer replaced the object meanwhile: its version wins,
	 * as replacing it would lose that writer's data. */
	if (fstatat(dfd, base, &now, AT_SYMLINK_NOFOLLOW) != 0 ||
	    now.st_dev != st.st_dev || now.st_ino != st.st_ino) {
		err = atr_fail(ATR_ERR_IO, "it was replaced during the rewrap; "
		    "left as replaced");
		goto out;
	}
	if (renameat(dfd, tmp, dfd, base) != 0) {
		err = atr_fail(ATR_ERR_IO, "rename: %s", strerror(errno));
		goto out;
	}
	tmp[0] = '\0';
	/* The rename is durable once the directory is (fsync(2)). */
	(void)fsync(dfd);
	res->outcome = ATR_REWRAP_REPLACED;
out:
	if (tfd >= 0)
		close(tfd);
	if (tmp[0] != '\0')
		(void)unlinkat(dfd, tmp, 0);
	if (err != ATR_OK && res->outcome != ATR_REWRAP_UNVERIFIED)
		res->outcome = ATR_REWRAP_ALREADY_DONE;
	if (fd >= 0)
		close(fd);
	free(h);
	free(spill);
	free(hdr);
	free(buf);
	return err;
}
