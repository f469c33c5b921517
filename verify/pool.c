/*
 * pool.c - the pass over the store: a bounded queue, the walk that fills
 * it (in the deterministic order of core/walk.h, only the files of this
 * shard), the worker threads that empty it, and the progress callback.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "util.h"
#include "vfy_engine.h"
#include "walk.h"

void
eng_queue_init(struct queue *q)
{
	pthread_mutex_init(&q->mu, NULL);
	pthread_cond_init(&q->nonempty, NULL);
	pthread_cond_init(&q->nonfull, NULL);
}

void
eng_progress(struct engine *E, int phase, int force)
{
	struct vfy_progress p;
	int64_t t;

	if (E->c->progress == NULL)
		return;
	t = (int64_t)atr_now_ns();
	if (!force && t - E->last_progress < PROGRESS_NS)
		return;
	E->last_progress = t;
	p.files_queued = atomic_load(&E->queued);
	p.files_done = atomic_load(&E->done);
	p.bytes_done = atomic_load(&E->bytes);
	p.phase = phase;
	E->c->progress(E->c->progress_arg, &p);
}

/*
 * A worker: takes files until the queue is closed and empty and no
 * other worker is checking one.  With the queue empty it helps with
 * the frames of a large object another worker is checking (split.c);
 * a file comes first, since one worker per file needs no hand-off.
 */
static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	struct engine *E = w->E;
	struct queue *q = &E->q;
	struct spart *help;
	struct job j;

	for (;;) {
		help = NULL;
		pthread_mutex_lock(&q->mu);
		while (q->n == 0 && !(q->done && E->busy == 0) &&
		    (help = eng_split_join(E, w)) == NULL)
			pthread_cond_wait(&q->nonempty, &q->mu);
		if (help != NULL) {
			pthread_mutex_unlock(&q->mu);
			eng_split_help(help);
			continue;
		}
		if (q->n == 0) {
			pthread_mutex_unlock(&q->mu);
			break;
		}
		j = q->v[q->head];
		q->head = (q->head + 1) % QUEUE_CAP;
		q->n--;
		E->busy++;
		pthread_cond_signal(&q->nonfull);
		pthread_mutex_unlock(&q->mu);
		atr_detail_clear();
		/* After a credential failure the rest is only drained. */
		if (!eng_halted(E))
			eng_process_job(w, &j);
		atomic_fetch_add(&E->done, 1);
		free(j.path);
		free(j.rel);
		pthread_mutex_lock(&q->mu);
		/* The last file done: the idle workers may leave. */
		if (--E->busy == 0 && q->done)
			pthread_cond_broadcast(&q->nonempty);
		pthread_mutex_unlock(&q->mu);
	}
	return NULL;
}

struct walkarg {
	struct engine *E;
	int store;
	const char *root;   /* as given, for a file STORE's name */
	uint64_t queued;
};

/* Queues one entry of the walk (waiting while the queue is full). */
static enum atr_err
walk_cb(const char *path, const char *rel, enum atr_walk_type type,
    const struct stat *st, void *arg)
{
	struct walkarg *a = arg;
	struct engine *E = a->E;
	struct queue *q = &E->q;
	const char *r = rel;
	struct job j;

	(void)st;
	if (eng_halted(E))
		return ATR_ERR_UNAUTHORIZED;
	if (type == ATR_WALK_DIR)
		return ATR_OK;
	if (*rel == '\0') {
		/* A STORE that is a file: its relative path is its name as
		 * given (the manifest's view), even through a link. */
		const char *b = strrchr(a->root, '/');

		r = b ? b + 1 : a->root;
	}
	if (!vfy_in_shard(r, E->c->shard_k, E->c->shard_n))
		return ATR_OK;
	j.path = strdup(path);
	j.rel = strdup(r);
	j.store = a->store;
	j.type = (int)type;
	if (j.path == NULL || j.rel == NULL) {
		free(j.path);
		free(j.rel);
		return ATR_ERR_NOMEM;
	}
	pthread_mutex_lock(&q->mu);
	while (q->n == QUEUE_CAP) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 250000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&q->nonfull, &q->mu, &ts);
		pthread_mutex_unlock(&q->mu);
		eng_progress(E, 0, 0);
		pthread_mutex_lock(&q->mu);
	}
	a->queued++;
	q->v[(q->head + q->n) % QUEUE_CAP] = j;
	q->n++;
	pthread_cond_signal(&q->nonempty);
	pthread_mutex_unlock(&q->mu);
	atomic_fetch_add(&E->queued, 1);
	eng_progress(E, 0, 0);
	return ATR_OK;
}

enum atr_err
eng_start_workers(struct engine *E, unsigned *started)
{
	unsigned i;

	*started = 0;
	for (i = 0; i < E->nw; i++) {
		if (pthread_create(&E->w[i].th, NULL, worker_main, &E->w[i]) !=
		    0)
			return atr_fail(ATR_ERR_NOMEM,
			    "cannot start a worker thread");
		(*started)++;
	}
	return ATR_OK;
}

void
eng_walk_stores(struct engine *E)
{
	const struct vfy_config *c = E->c;
	size_t i;

	for (i = 0; i < c->nstores; i++) {
		struct walkarg a = {E, (int)i, c->stores[i], 0};
		const char *root = c->stores[i];
		char real[PATH_MAX];
		struct stat st;
		enum atr_err we;

		/* A STORE given through a symbolic link is walked: the walk
		 * itself never follows links below it. */
		if (lstat(root, &st) == 0 && S_ISLNK(st.st_mode) &&
		    realpath(root, real) != NULL)
			root = real;
		we = atr_walk(root, walk_cb, &a);
		if (eng_halted(E)) {
			atr_detail_clear();
			break;
		}
		if (we == ATR_OK && a.queued == 0 && c->shard_n <= 1)
			vfy_report_add(E->r, VFY_WARN, (int)i, "", -1,
			    "envelope.empty-store",
			    "the store holds no file: nothing was verified");
		if (we != ATR_OK) {
			E->walk_failed = 1;
			snprintf(E->walk_why, sizeof(E->walk_why), "%s: %s",
			    c->stores[i], *atr_detail() ? atr_detail() :
			    atr_strerror(we));
			atr_detail_clear();
		}
	}
}

void
eng_stop_workers(struct engine *E, unsigned started)
{
	unsigned i;

	pthread_mutex_lock(&E->q.mu);
	E->q.done = 1;
	pthread_cond_broadcast(&E->q.nonempty);
	pthread_mutex_unlock(&E->q.mu);
	for (i = 0; i < started; i++)
		pthread_join(E->w[i].th, NULL);
}
