/* see common.h */
#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "fsutil.h"
#include "keyuri.h"
#include "stream.h"
#include "walk.h"

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
	/* Never echo a URI that may carry a secret (lib/keyuri.h). */
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
cli_parse_size(const char *s, uint64_t *out)
{
	char *end = NULL;
	unsigned long long v;

	errno = 0;
	if (s == NULL || *s < '0' || *s > '9')
		return -1;
	v = strtoull(s, &end, 10);
	if (errno != 0)
		return -1;
	if (*end == 'k' || *end == 'K') {
		v *= 1024ULL;
		end++;
	} else if (*end == 'm' || *end == 'M') {
		v *= 1024ULL * 1024ULL;
		end++;
	} else if (*end == 'g' || *end == 'G') {
		v *= 1024ULL * 1024ULL * 1024ULL;
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

/* A tree is walked by the calling thread, which creates the directories
 * in order and queues the files; `jobs` workers take them from a bounded
 * queue.  Files are independent (each has its own temporary output), so
 * only the counters and the exit code are shared. */
#define TX_QUEUE 64U

struct tx_job {
	char *in, *out;
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

static void
one_file(struct tx *t, const char *in, const char *out)
{
	struct atr_outfile o;
	enum atr_err err;
	int fd = 0;

	atr_detail_clear();
	if (strcmp(in, "-") != 0) {
		fd = open(in, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0) {
			fprintf(stderr, "atrest: %s: cannot open: %s\n", in,
			    strerror(errno));
			tx_result(t, 2);
			return;
		}
	}
	err = atr_out_begin(&o, out, t->mode);
	if (err == ATR_OK) {
		err = t->fn(fd, o.fd, t->threads, t->arg);
		if (err == ATR_OK)
			err = atr_out_commit(&o, 0);
		else
			atr_out_abort(&o);
	}
	if (fd > 0)
		close(fd);
	if (err != ATR_OK) {
		tx_result(t, cli_error(strcmp(in, "-") ? in : "stdin", err));
		return;
	}
	tx_result(t, 0);
}

static void *
tx_worker(void *arg)
{
	struct tx *t = arg;
	struct tx_job j;

	for (;;) {
		pthread_mutex_lock(&t->mu);
		while (t->count == 0 && !t->closed)
			pthread_cond_wait(&t->more, &t->mu);
		if (t->count == 0) {
			pthread_mutex_unlock(&t->mu);
			return NULL;
		}
		j = t->q[t->head];
		t->head = (t->head + 1) % TX_QUEUE;
		t->count--;
		pthread_cond_signal(&t->room);
		pthread_mutex_unlock(&t->mu);
		one_file(t, j.in, j.out);
		free(j.in);
		free(j.out);
	}
}

/* Queues a file for the workers, or does it here when there are none. */
static enum atr_err
tx_file(struct tx *t, const char *in, const char *out)
{
	struct tx_job j;

	if (!t->pooled) {
		one_file(t, in, out);
		return ATR_OK;
	}
	j.in = strdup(in);
	j.out = strdup(out);
	if (j.in == NULL || j.out == NULL) {
		free(j.in);
		free(j.out);
		return ATR_ERR_NOMEM;
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

static enum atr_err
tx_cb(const char *path, const char *rel, enum atr_walk_type type,
    const struct stat *st, void *arg)
{
	struct tx *t = arg;
	char out[PATH_MAX];
	int n;

	(void)st;
	n = *rel ? snprintf(out, sizeof(out), "%s/%s", t->out_root, rel) :
	    snprintf(out, sizeof(out), "%s", t->out_root);
	if (n < 0 || (size_t)n >= sizeof(out))
		return atr_fail(ATR_ERR_IO, "%s: output path too long", path);
	switch (type) {
	case ATR_WALK_DIR:
		return atr_mkdirs(out);
	case ATR_WALK_FILE:
		return tx_file(t, path, out);
	default:
		cli_warn("%s: skipped (not a regular file or directory)", path);
		return ATR_OK;
	}
}

/* Walks the tree with `jobs` workers (see cli_transform). */
static enum atr_err
tx_tree(struct tx *t, const char *in, unsigned jobs)
{
	pthread_t th[64];
	unsigned i, started = 0;
	enum atr_err err;

	if (jobs > 1 && pthread_mutex_init(&t->mu, NULL) == 0) {
		pthread_cond_init(&t->more, NULL);
		pthread_cond_init(&t->room, NULL);
		t->pooled = 1;
		for (i = 0; i < jobs && i < 64; i++) {
			if (pthread_create(&th[i], NULL, tx_worker, t) != 0)
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
	err = atr_walk(in, tx_cb, t);
	if (!t->pooled)
		return err;
	pthread_mutex_lock(&t->mu);
	t->closed = 1;
	pthread_cond_broadcast(&t->more);
	pthread_mutex_unlock(&t->mu);
	for (i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	t->pooled = 0;
	pthread_cond_destroy(&t->more);
	pthread_cond_destroy(&t->room);
	pthread_mutex_destroy(&t->mu);
	return err;
}

int
cli_transform(const char *cmd, const char *in, const char *out, mode_t mode,
    cli_file_fn fn, void *arg, unsigned jobs, unsigned *nok, unsigned *nfail)
{
	struct tx t;
	struct stat st;
	enum atr_err err;

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
	t.threads = strcmp(out, "-") == 0 ? 1 : jobs;

	if (strcmp(in, "-") == 0) {
		one_file(&t, "-", out);
		goto done;
	}
	if (stat(in, &st) != 0) {
		fprintf(stderr, "atrest: %s: %s\n", in, strerror(errno));
		return 2;
	}
	if (!S_ISDIR(st.st_mode)) {
		one_file(&t, in, out);
		goto done;
	}
	if (strcmp(out, "-") == 0)
		return cli_usage_error(cmd, "a directory input needs -o DIR");
	{
		char rin[PATH_MAX], rout[PATH_MAX];
		size_t l;

		/* An output tree inside the input tree would be walked
		 * while it is being written. */
		if (atr_mkdirs(out) != ATR_OK)
			return cli_error(out, ATR_ERR_IO);
		if (realpath(in, rin) != NULL && realpath(out, rout) != NULL) {
			l = strlen(rin);
			if (strncmp(rin, rout, l) == 0 &&
			    (rout[l] == '/' || rout[l] == '\0'))
				return cli_usage_error(cmd,
				    "output directory %s is inside the input %s",
				    out, in);
		}
	}
	/* A tree: files in parallel, each on one thread. */
	t.threads = 1;
	err = tx_tree(&t, in, jobs);
	if (err != ATR_OK)
		t.rc = worse(t.rc, cli_error(in, err));
done:
	if (nok)
		*nok = t.ok;
	if (nfail)
		*nfail = t.fail;
	return t.rc;
}
