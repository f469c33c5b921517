/* see common.h */
#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "fsutil.h"
#include "outbatch.h"
#include "keyuri.h"
#include "quote.h"
#include "stream.h"
#include "walk.h"
#include "keys.h"

int
cli_keys_add(const char *cmd, struct cli_keys *ks, const char *uri)
{
	if (ks->n >= ATR_MAX_STANZAS)
		return cli_usage_error(cmd, "at most %u --key options",
		    ATR_MAX_STANZAS);
	ks->uri[ks->n++] = uri;
	return 0;
}

int
cli_key_error(const char *uri, enum atr_err err)
{
	/* Never echo a URI that may carry a secret (core/keyuri.h). */
	char shown[ATR_URI_SHOWN_MAX];

	atr_key_uri_redact(uri, shown, sizeof(shown));
	return cli_error(shown, err);
}

int
cli_keys_open(struct cli_keys *ks)
{
	size_t i;

	for (i = 0; i < ks->n; i++) {
		enum atr_err err = atr_key_open(ks->uri[i], NULL, &ks->k[i]);

		if (err != ATR_OK)
			return cli_key_error(ks->uri[i], err);
	}
	return 0;
}

void
cli_keys_free(struct cli_keys *ks)
{
	size_t i;

	for (i = 0; i < ks->n; i++) {
		atr_key_free(ks->k[i]);
		ks->k[i] = NULL;
	}
}

#undef cli_bad_option /* the function itself (common.h, make lint) */
int
cli_bad_option(const char *cmd, char **argv)
{
	/* glibc sets optopt to the option character for an unknown short
	 * option or a missing value, and to 0 for an unknown long option,
	 * which is then argv[optind - 1]. */
	if (optopt > 0 && optopt < 128)
		return cli_usage_error(cmd,
		    "option -%c is unknown or lacks its value", optopt);
	return cli_usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
}

int
cli_parse_jobs(const char *cmd, const char *s, unsigned *out)
{
	uint64_t v;

	if (cli_parse_size(s, &v) != 0 || v > 64 || strpbrk(s, "kKmMgGB"))
		return cli_usage_error(cmd, "--jobs must be 0..64 (0 = every CPU)");
	*out = (unsigned)v;
	return 0;
}

int
cli_parse_long(const char *s, long min, long max, long *out)
{
	char *end = NULL;
	long v;

	if (s == NULL || *s == '\0' || (min >= 0 && *s == '-'))
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

int
cli_parse_double(const char *s, double lo, double hi, double *out)
{
	char *end = NULL;
	double v;

	if (s == NULL)
		return -1;
	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || isnan(v) || v < lo ||
	    v > hi)
		return -1;
	*out = v;
	return 0;
}

int
cli_parse_size(const char *s, uint64_t *out)
{
	char *end = NULL;
	unsigned long long v, mult = 1;

	errno = 0;
	if (s == NULL || *s < '0' || *s > '9')
		return -1;
	v = strtoull(s, &end, 10);
	if (errno != 0)
		return -1;
	if (*end == 'k' || *end == 'K')
		mult = 1024ULL;
	else if (*end == 'm' || *end == 'M')
		mult = 1024ULL * 1024ULL;
	else if (*end == 'g' || *end == 'G')
		mult = 1024ULL * 1024ULL * 1024ULL;
	if (mult != 1) {
		/* 18014398509481985K would wrap to 1024: refuse, never
		 * reduce modulo 2^64. */
		if (v > ULLONG_MAX / mult)
			return -1;
		v *= mult;
		end++;
	}
	if (*end == 'i' && end[1] == 'B')
		end += 2;
	else if (*end == 'B')
		end++;
	if (*end != '\0')
		return -1;
	*out = v;
	return 0;
}

int
cli_error_file(const char *path, enum atr_err err)
{
	char q[ATR_QUOTE_BUF];

	return cli_error(atr_quote(path, q, sizeof(q)), err);
}

/* A tree is walked by the calling thread, which creates the directories
 * in order, opens each input file and queues it; `jobs` workers take
 * them from a bounded queue.  Files are independent (each has its own
 * temporary output), so only the counters and the exit code are shared.
 *
 * Nothing is resolved by path below IN and OUT: the walk hands over each
 * entry's directory descriptor (core/walk.h), output directories are made
 * and opened with mkdirat/openat(O_NOFOLLOW | O_DIRECTORY) from OUT's
 * descriptor, and a job carries its own descriptors (the open input and
 * a dup(2) of its output directory), so the walker may move on and close
 * its own while a worker still writes, and a directory or file swapped
 * for a symbolic link can never send a write outside OUT.
 *
 * Each worker (or the walker, with one job) ends its files through its
 * own batch (core/outbatch.h): the temporary files of up to
 * ATR_OUTBATCH_FILES outputs wait for one syncfs(2), then are renamed,
 * then each directory is fsynced once; a file is counted done only then.
 * SIGINT, SIGTERM and SIGHUP are held during a tree: when one arrives,
 * no new file is started, the files in flight finish, every batch's
 * temporary files are removed (what was renamed stays: complete and
 * durable), and the signal is let through (docs/DURABILITY.md). */
#define TX_QUEUE 64U

struct tx_job {
	int in_fd, out_dirfd;
	char *in, *out, *name;   /* shown paths; the output's name */
};

struct tx {
	const char *cmd, *in_root, *out_root;
	mode_t mode;
	cli_file_fn fn;
	void *arg;
	unsigned threads;        /* for fn: frames of one file */
	pthread_mutex_t mu;
	pthread_cond_t more, room;
	struct tx_job q[TX_QUEUE];
	size_t head, count;
	int closed, pooled;
	unsigned ok, fail;
	int rc;
	/* The key service refused the credential: said once, then every
	 * file not yet started is left alone and the walk stops (a token
	 * that cannot be had fails them all the same way). */
	atomic_int halted;
	/* SIGINT, SIGTERM or SIGHUP is pending: stop, keep nothing queued. */
	atomic_int interrupted;
	size_t batch_dirs;       /* directories a batch may hold open */
	struct atr_outbatch *wb; /* the walker's, when it does the files */
	/* Output directories by depth (walker only): odir[0] is OUT. */
	int *odir;
	size_t nodir;
};

static int
worse(int a, int b)
{
	/* 2 (I/O, usage) outranks 1 (authentication). */
	return a > b ? a : b;
}

static void
tx_result(struct tx *t, int rc)
{
	if (t->pooled)
		pthread_mutex_lock(&t->mu);
	t->rc = worse(t->rc, rc);
	if (rc == 0)
		t->ok++;
	else
		t->fail++;
	if (t->pooled)
		pthread_mutex_unlock(&t->mu);
}

void
cli_stop_sigset(sigset_t *s)
{
	sigemptyset(s);
	sigaddset(s, SIGINT);
	sigaddset(s, SIGTERM);
	sigaddset(s, SIGHUP);
}

int
cli_stop_pending(void)
{
	sigset_t pend;

	if (sigpending(&pend) != 0)
		return 0;
	return sigismember(&pend, SIGINT) == 1 ||
	    sigismember(&pend, SIGTERM) == 1 || sigismember(&pend, SIGHUP) == 1;
}

int
cli_stop_take(void)
{
	const struct timespec zero = {0, 0};
	sigset_t s;
	int sig, first = 0;

	cli_stop_sigset(&s);
	while (cli_stop_pending() && (sig = sigtimedwait(&s, NULL, &zero)) > 0)
		if (first == 0)
			first = sig;
	return first;
}

/* 1 once a stop signal is pending (checked between files); it stays
 * pending until the run takes it. */
static int
tx_interrupted(struct tx *t)
{
	if (atomic_load(&t->interrupted))
		return 1;
	if (cli_stop_pending()) {
		atomic_store(&t->interrupted, 1);
		return 1;
	}
	return 0;
}

/* A batch entry's end (core/outbatch.h): tag is the input's shown path. */
static void
tx_done(void *tag, enum atr_err err, void *arg)
{
	struct tx *t = arg;

	if (err == ATR_OK)
		tx_result(t, 0);
	else if (!atomic_load(&t->interrupted))
		tx_result(t, cli_error_file(tag, err));
	free(tag);
}

/* Ends o: through the batch b (counted by tx_done, *queued set), or at
 * once without one (a single file: fsync, rename, directory fsync). */
static enum atr_err
tx_commit(struct atr_outfile *o, struct atr_outbatch *b, const char *in,
    int *queued)
{
	enum atr_err err;
	char *tag;

	*queued = 0;
	if (b == NULL)
		return atr_out_commit(o, 0);
	tag = strdup(in);
	if (tag == NULL) {
		atr_out_abort(o);
		return ATR_ERR_NOMEM;
	}
	err = atr_out_commit_batch(o, b, tag);
	if (err != ATR_OK)
		free(tag);
	else
		*queued = 1;
	return err;
}

/* Transforms in_fd into the output: name in out_dirfd (a tree, ended
 * through the batch b), or the path out (a single file, out_dirfd < 0,
 * b NULL).  in names the input in messages. */
static void
one_file(struct tx *t, struct atr_outbatch *b, int in_fd, const char *in,
    int out_dirfd, const char *name, const char *out)
{
	struct atr_outfile o;
	enum atr_err err;
	int queued = 0;

	atr_detail_clear();
	if (atomic_load(&t->halted)) {
		tx_result(t, 2);
		return;
	}
	if (out_dirfd >= 0)
		err = atr_out_beginat(&o, out_dirfd, name, out, t->mode, 0);
	else
		err = atr_out_begin(&o, out, t->mode);
	if (err == ATR_OK) {
		err = t->fn(in_fd, o.fd, t->threads, t->arg);
		if (err == ATR_OK)
			err = tx_commit(&o, b, in, &queued);
		else
			atr_out_abort(&o);
	}
	if (queued)
		return;   /* tx_done counts it once it is durable */
	if (err == ATR_ERR_UNAUTHORIZED) {
		int zero = 0;

		/* The file in flight was aborted above: nothing half-written. */
		if (!atomic_compare_exchange_strong(&t->halted, &zero, 1)) {
			tx_result(t, atr_exit_code(err));
			return;
		}
	}
	if (err != ATR_OK) {
		tx_result(t, strcmp(in, "-") == 0 ? cli_error("stdin", err) :
		    cli_error_file(in, err));
		return;
	}
	tx_result(t, 0);
}

static void
job_free(struct tx_job *j)
{
	if (j->in_fd >= 0)
		close(j->in_fd);
	if (j->out_dirfd >= 0)
		close(j->out_dirfd);
	free(j->in);
	free(j->out);
	free(j->name);
}

/* A worker: its tree and its own batch. */
struct tx_worker_arg {
	struct tx *t;
	struct atr_outbatch *b;
};

/* What a batch holds when the work ends: made durable and renamed, or
 * removed after a signal. */
static void
tx_batch_end(struct tx *t, struct atr_outbatch *b)
{
	if (b == NULL)
		return;
	if (tx_interrupted(t))
		atr_batch_discard(b);
	else
		(void)atr_batch_flush(b);   /* tx_done reported each */
}

static void *
tx_worker(void *arg)
{
	struct tx_worker_arg *w = arg;
	struct tx *t = w->t;
	struct tx_job j;

	for (;;) {
		pthread_mutex_lock(&t->mu);
		while (t->count == 0 && !t->closed)
			pthread_cond_wait(&t->more, &t->mu);
		if (t->count == 0) {
			pthread_mutex_unlock(&t->mu);
			tx_batch_end(t, w->b);
			return NULL;
		}
		j = t->q[t->head];
		t->head = (t->head + 1) % TX_QUEUE;
		t->count--;
		pthread_cond_signal(&t->room);
		pthread_mutex_unlock(&t->mu);
		if (!tx_interrupted(t))
			one_file(t, w->b, j.in_fd, j.in, j.out_dirfd, j.name,
			    j.out);
		job_free(&j);
	}
}

/* Opens the regular file the walk listed, relative to its directory: not
 * through a link, without blocking, and only if it is still that file. */
static enum atr_err
open_listed(const struct atr_walk_ent *e, int *fd)
{
	struct stat st;
	int fl;

	*fd = openat(e->dirfd, e->name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_NOCTTY | O_CLOEXEC);
	if (*fd < 0)
		return atr_fail(ATR_ERR_IO, "cannot open: %s", errno == ELOOP ?
		    "changed during the walk (not followed)" : strerror(errno));
	if (fstat(*fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    st.st_dev != e->st->st_dev || st.st_ino != e->st->st_ino ||
	    (fl = fcntl(*fd, F_GETFL)) < 0 ||
	    fcntl(*fd, F_SETFL, fl & ~O_NONBLOCK) != 0) {
		close(*fd);
		*fd = -1;
		return atr_fail(ATR_ERR_IO, "changed during the walk");
	}
	return ATR_OK;
}

/* Queues a file for the workers, or does it here (through b) when there
 * are none. */
static enum atr_err
tx_file(struct tx *t, struct atr_outbatch *b, const struct atr_walk_ent *e,
    const char *out)
{
	struct tx_job j = {-1, -1, NULL, NULL, NULL};
	enum atr_err err;
	int dfd = t->odir[e->depth - 1];

	err = open_listed(e, &j.in_fd);
	if (err != ATR_OK) {
		tx_result(t, cli_error_file(e->path, err));
		return ATR_OK;
	}
	if (!t->pooled) {
		one_file(t, b, j.in_fd, e->path, dfd, e->name, out);
		close(j.in_fd);
		return ATR_OK;
	}
	j.out_dirfd = fcntl(dfd, F_DUPFD_CLOEXEC, 3);
	j.in = strdup(e->path);
	j.out = strdup(out);
	j.name = strdup(e->name);
	if (j.out_dirfd < 0 || j.in == NULL || j.out == NULL ||
	    j.name == NULL) {
		err = j.out_dirfd < 0 ? atr_fail(ATR_ERR_IO, "%s",
		    strerror(errno)) : ATR_ERR_NOMEM;
		job_free(&j);
		return err;
	}
	pthread_mutex_lock(&t->mu);
	while (t->count == TX_QUEUE)
		pthread_cond_wait(&t->room, &t->mu);
	t->q[(t->head + t->count) % TX_QUEUE] = j;
	t->count++;
	pthread_cond_signal(&t->more);
	pthread_mutex_unlock(&t->mu);
	return ATR_OK;
}

/* Makes (or reuses) the output directory for e and keeps its descriptor
 * as odir[depth]; anything but a real directory there (a planted link to
 * elsewhere, a file) is refused and the subtree skipped. */
static enum atr_err
tx_dir(struct tx *t, struct atr_walk_ent *e, const char *out)
{
	int parent = t->odir[e->depth - 1], fd, en;
	size_t d;
	struct stat st;

	if (e->depth >= t->nodir) {
		size_t n = t->nodir * 2;
		int *no;

		while (n <= e->depth)
			n *= 2;
		no = realloc(t->odir, n * sizeof(*no));
		if (no == NULL)
			return ATR_ERR_NOMEM;
		for (d = t->nodir; d < n; d++)
			no[d] = -1;
		t->odir = no;
		t->nodir = n;
	}
	/* A sibling's subtree is done: its descriptors are not needed. */
	for (d = e->depth; d < t->nodir; d++) {
		if (t->odir[d] >= 0)
			close(t->odir[d]);
		t->odir[d] = -1;
	}
	if (mkdirat(parent, e->name, 0755) != 0 && errno != EEXIST) {
		en = errno;
		goto refused;
	}
	fd = openat(parent, e->name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_NONBLOCK | O_CLOEXEC);
	if (fd >= 0) {
		t->odir[e->depth] = fd;
		return ATR_OK;
	}
	en = errno;
refused:
	e->skip = 1;
	if ((en == ELOOP || en == ENOTDIR) &&
	    fstatat(parent, e->name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		atr_fail(ATR_ERR_EXISTS, "is %s, not a directory: not "
		    "followed; the files below %s are skipped",
		    atr_file_kind(st.st_mode), e->path);
		tx_result(t, cli_error_file(out, ATR_ERR_EXISTS));
	} else {
		atr_fail(ATR_ERR_IO, "mkdir: %s", strerror(en));
		tx_result(t, cli_error_file(out, ATR_ERR_IO));
	}
	return ATR_OK;
}

static enum atr_err
tx_cb(struct atr_walk_ent *e, void *arg)
{
	struct tx *t = arg;
	char out[PATH_MAX], q[ATR_QUOTE_BUF];
	int n;

	if (atomic_load(&t->halted))
		return ATR_ERR_UNAUTHORIZED;
	if (tx_interrupted(t))
		return atr_fail(ATR_ERR_IO, "interrupted");
	if (e->depth == 0)   /* IN itself, a directory a moment ago */
		return e->type == ATR_WALK_DIR ? ATR_OK :
		    atr_fail(ATR_ERR_IO, "changed during the walk");
	n = snprintf(out, sizeof(out), "%s/%s", t->out_root, e->rel);
	if (n < 0 || (size_t)n >= sizeof(out))
		return atr_fail(ATR_ERR_IO, "%s: output path too long",
		    e->path);
	switch (e->type) {
	case ATR_WALK_DIR:
		return tx_dir(t, e, out);
	case ATR_WALK_FILE:
		return tx_file(t, t->wb, e, out);
	default:
		cli_warn("%s: skipped (%s, not a regular file or directory)",
		    atr_quote(e->path, q, sizeof(q)),
		    atr_file_kind(e->st->st_mode));
		return ATR_OK;
	}
}

/* Directories one batch may hold open: a share of half the descriptor
 * limit among the batches (the rest is for the queue and the walk). */
static size_t
tx_batch_dirs(unsigned batches)
{
	struct rlimit rl;
	rlim_t n = 1024;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		n = rl.rlim_cur;
	n = n / 2 / (batches > 0 ? batches : 1);
	return n < 1 ? 1 : n > 64 ? 64 : (size_t)n;
}

/* One batch per worker: w[i].b (NULL where it could not be made; that
 * worker's files then fail). */
static enum atr_err
tx_batches(struct tx *t, struct tx_worker_arg *w, unsigned n)
{
	enum atr_err err;
	unsigned i;

	t->batch_dirs = tx_batch_dirs(n);
	for (i = 0; i < n; i++) {
		w[i].t = t;
		err = atr_batch_new(t->odir[0], ATR_OUTBATCH_FILES, t->batch_dirs,
		    ATR_OUTBATCH_BYTES, tx_done, t, &w[i].b);
		if (err != ATR_OK)
			return err;
	}
	return ATR_OK;
}

/* Walks the tree with `jobs` workers (see cli_transform). */
static enum atr_err
tx_tree(struct tx *t, const char *in, unsigned jobs)
{
	pthread_t th[64];
	struct tx_worker_arg w[64];
	unsigned i, started = 0, n = jobs > 64 ? 64 : jobs;
	enum atr_err err;

	memset(w, 0, sizeof(w));
	if (n > 1 && pthread_mutex_init(&t->mu, NULL) == 0) {
		pthread_cond_init(&t->more, NULL);
		pthread_cond_init(&t->room, NULL);
		t->pooled = 1;
		err = tx_batches(t, w, n);
		for (i = 0; err == ATR_OK && i < n; i++) {
			if (pthread_create(&th[i], NULL, tx_worker, &w[i]) != 0)
				break;
			started++;
		}
		if (started == 0) {
			t->pooled = 0;
			pthread_cond_destroy(&t->more);
			pthread_cond_destroy(&t->room);
			pthread_mutex_destroy(&t->mu);
		}
	}
	if (!t->pooled) {
		for (i = 0; i < 64; i++)
			atr_batch_free(w[i].b);
		memset(w, 0, sizeof(w));
		err = tx_batches(t, w, 1);
		if (err != ATR_OK) {
			atr_batch_free(w[0].b);
			return err;
		}
		t->wb = w[0].b;
		err = atr_walkat(in, tx_cb, t);
		tx_batch_end(t, t->wb);
		atr_batch_free(t->wb);
		t->wb = NULL;
		return err;
	}
	err = atr_walkat(in, tx_cb, t);
	pthread_mutex_lock(&t->mu);
	t->closed = 1;
	pthread_cond_broadcast(&t->more);
	pthread_mutex_unlock(&t->mu);
	for (i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	for (i = 0; i < 64; i++)
		atr_batch_free(w[i].b);
	t->pooled = 0;
	pthread_cond_destroy(&t->more);
	pthread_cond_destroy(&t->room);
	pthread_mutex_destroy(&t->mu);
	return err;
}

/* "-", /dev/stdin and /dev/fd/N are descriptors the shell opened. */
static int
in_names_fd(const char *in, int *fd)
{
	if (strcmp(in, "-") == 0 || strcmp(in, "/dev/stdin") == 0) {
		*fd = STDIN_FILENO;
		return 1;
	}
	return strncmp(in, "/dev/fd/", 8) == 0 && atr_out_names_fd(in, fd);
}

/* path without its trailing slashes ("in/" is "in", "/" stays). */
static int
strip_slashes(const char *path, char *buf, size_t cap)
{
	size_t n = strlen(path);

	while (n > 1 && path[n - 1] == '/')
		n--;
	if (n >= cap)
		return -1;
	memcpy(buf, path, n);
	buf[n] = '\0';
	return 0;
}

/* One input file named on the command line: a data stream, so a FIFO
 * or a device is read like '-' (a FIFO waits for its writer, as cat(1)
 * does); a symbolic link is not followed (checked by the caller). */
static void
single(struct tx *t, const char *in, const char *out)
{
	struct stat st;
	int fd, e;

	fd = open(in, O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC);
	if (fd < 0) {
		e = errno;
		atr_fail(ATR_ERR_IO, "cannot open: %s", e == ELOOP ?
		    "a symbolic link: not followed" : strerror(e));
		tx_result(t, cli_error_file(in, ATR_ERR_IO));
		return;
	}
	if (fstat(fd, &st) != 0 || S_ISDIR(st.st_mode)) {
		close(fd);
		atr_fail(ATR_ERR_IO, "changed while opened");
		tx_result(t, cli_error_file(in, ATR_ERR_IO));
		return;
	}
	one_file(t, NULL, fd, in, -1, NULL, out);
	close(fd);
}

int
cli_transform(const char *cmd, const char *in, const char *out, mode_t mode,
    cli_file_fn fn, void *arg, unsigned jobs, unsigned *nok, unsigned *nfail)
{
	struct tx t;
	struct stat st;
	enum atr_err err;
	char ib[PATH_MAX], ob[PATH_MAX], rin[PATH_MAX], rout[PATH_MAX];
	sigset_t hold, old;
	size_t l, d;
	int fd;

	memset(&t, 0, sizeof(t));
	t.cmd = cmd;
	t.in_root = in;
	t.out_root = out;
	t.mode = mode;
	t.fn = fn;
	t.arg = arg;
	jobs = atr_stream_threads(jobs);
	/* Standard output gets its frames in order on one thread, so that
	 * what a failed decrypt leaves there is a prefix of the object (the
	 * usage text's promise), never batches with holes between them. */
	t.threads = atr_out_names_fd(out, &fd) ? 1 : jobs;

	if (in_names_fd(in, &fd)) {
		one_file(&t, NULL, fd, strcmp(in, "/dev/stdin") ? in : "-", -1,
		    NULL, out);
		goto done;
	}
	if (strip_slashes(in, ib, sizeof(ib)) != 0) {
		atr_fail(ATR_ERR_USAGE, "path too long");
		return cli_error_file(in, ATR_ERR_USAGE);
	}
	if (lstat(ib, &st) != 0) {
		atr_fail(ATR_ERR_IO, "%s", strerror(errno));
		return cli_error_file(in, ATR_ERR_IO);
	}
	if (S_ISLNK(st.st_mode)) {
		/* Links are never followed (core/walk.h), the root neither:
		 * an exit 0 that encrypted nothing would be a silent
		 * failure. */
		atr_fail(ATR_ERR_IO, "is a symbolic link: not followed "
		    "(name the file or directory itself)");
		return cli_error_file(in, ATR_ERR_IO);
	}
	if (!S_ISDIR(st.st_mode)) {
		single(&t, ib, out);
		goto done;
	}
	if (atr_out_names_fd(out, &fd))
		return cli_usage_error(cmd, "a directory input needs -o DIR");
	if (strip_slashes(out, ob, sizeof(ob)) != 0)
		return cli_usage_error(cmd, "output path too long");
	t.out_root = ob;
	/* The path to OUT is the user's (resolved as usual); OUT itself is
	 * opened without following a link, like every directory below. */
	if (atr_mkdirs(ob) != ATR_OK)
		return cli_error_file(out, ATR_ERR_IO);
	fd = open(ob, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;

		if ((e == ELOOP || e == ENOTDIR) && lstat(ob, &st) == 0)
			atr_fail(ATR_ERR_EXISTS, "is %s: not followed (name "
			    "the directory itself)", atr_file_kind(st.st_mode));
		else
			atr_fail(ATR_ERR_IO, "%s", strerror(e));
		return cli_error_file(out, e == ELOOP || e == ENOTDIR ?
		    ATR_ERR_EXISTS : ATR_ERR_IO);
	}
	/* An output tree inside the input tree would be walked while it
	 * is being written. */
	if (realpath(ib, rin) != NULL && realpath(ob, rout) != NULL) {
		l = strlen(rin);
		if (strncmp(rin, rout, l) == 0 &&
		    (rout[l] == '/' || rout[l] == '\0' || l == 1)) {
			char q1[ATR_QUOTE_BUF], q2[ATR_QUOTE_BUF];

			close(fd);
			return cli_usage_error(cmd,
			    "output directory %s is inside the input %s",
			    atr_quote(out, q1, sizeof(q1)),
			    atr_quote(in, q2, sizeof(q2)));
		}
	}
	t.nodir = 16;
	t.odir = malloc(t.nodir * sizeof(*t.odir));
	if (t.odir == NULL) {
		close(fd);
		return cli_error(NULL, ATR_ERR_NOMEM);
	}
	t.odir[0] = fd;
	for (d = 1; d < t.nodir; d++)
		t.odir[d] = -1;
	/* A tree: files in parallel, each on one thread. */
	t.threads = 1;
#ifdef __GLIBC__
	/* Each file takes and frees its frame buffers (~200 KiB, wiped
	 * before free): glibc would hand them back to the kernel and fault
	 * them in again for every file of a tree of small files. */
	(void)mallopt(M_TRIM_THRESHOLD, 16 << 20);
#endif
	cli_stop_sigset(&hold);
	pthread_sigmask(SIG_BLOCK, &hold, &old);
	err = tx_tree(&t, ib, jobs);
	if (tx_interrupted(&t)) {
		/* Every batch removed its temporary files: the signal may
		 * end the process now, as it would have. */
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		atr_fail(ATR_ERR_IO, "interrupted");
		t.rc = worse(t.rc, cli_error_file(in, ATR_ERR_IO));
	} else {
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	}
	if (atomic_load(&t.halted))
		t.rc = worse(t.rc, 2);
	else if (err != ATR_OK && !atomic_load(&t.interrupted))
		t.rc = worse(t.rc, cli_error_file(in, err));
	for (d = 0; d < t.nodir; d++)
		if (t.odir[d] >= 0)
			close(t.odir[d]);
	free(t.odir);
done:
	if (nok)
		*nok = t.ok;
	if (nfail)
		*nfail = t.fail;
	return t.rc;
}
