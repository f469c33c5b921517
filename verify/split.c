/*
 * split.c - the frames of one large object checked by several workers.
 *
 * The pool is over files, so a store of one huge object (or the last
 * large object of a store) would keep one core busy and the others
 * idle.  The worker that opened such an object (the owner) cuts its body
 * into batches of frames with core/stream.c's batch scheme
 * (atr_batches_*: taken in order, read at their offsets) and offers
 * them: a worker that finds the queue empty joins (pool.c) and takes
 * batches too.  Each participant opens its frames with its own framer
 * (a copy of the owner's GCM context, core/envelope.h) and keeps what
 * body.c's decrypt_frames would add to the worker - frame and byte
 * counts, the byte statistics of the sampled frames, the hashed
 * shingles, the frame mutations (tamper.c) - in its own part; the owner
 * adds the parts up once every participant has left.
 *
 * Every count and finding is a sum over frames or is sorted later
 * (docs/VERIFY.md "report order"), so when every frame authenticates
 * the parts add up to what one thread finds.  When one does not (or a
 * batch cannot be read), what one thread reports depends on where it
 * stopped (the first failing frame, its offset, the frames before it,
 * the scan of the rest): the parts are dropped and the owner checks the
 * object again frame by frame (body.c), so the report is the same with
 * one worker or many.  A damaged object costs up to one more pass; an
 * intact one is read once.
 *
 * A split is made only when nothing about the object needs its bytes in
 * order: no SHA-256 for the manifest and no canary to search in its
 * ciphertext (body.c decides).
 */
#include <stdlib.h>
#include <string.h>

#include "fsutil.h"
#include "stream.h"
#include "vfy_engine.h"

/* Frame mutations accepted: at most 7 per object (tamper.c). */
#define MAX_ACCEPTED 8

/* One participant's share of a split object. */
struct spart {
	struct split *sp;
	struct worker *w;
	struct atr_framer f;
	int64_t frames, plain, mutations, rejected, shingles;
	struct vfy_hist hist;
	struct vfy_winhash sh[MAX_SHINGLES];
	size_t nsh;
	struct {
		uint64_t frame;
		const char *what;      /* static (tamper.c) */
	} acc[MAX_ACCEPTED];
	size_t nacc;
};

struct split {
	struct atr_batches B;
	struct engine *E;
	const struct atr_dec *d;       /* the owner's; framers copied under mu */
	pthread_mutex_t mu;
	const struct splan *plan;
	size_t ns;
	uint64_t stepf;
	uint32_t fs;
	struct spart *parts;           /* E->nw: the owner's first */
	unsigned nparts;               /* taken (E->q.mu) */
	unsigned refs;                 /* helpers inside (E->q.mu) */
	struct split *next;            /* E->splits (E->q.mu) */
};

int
eng_frame_bufs(struct worker *w, uint32_t fs)
{
	size_t rec = (size_t)fs + ATR_GCM_TAGBYTES;

	if (w->rbcap < rec) {
		free(w->rb);
		w->rb = malloc(rec);
		w->rbcap = w->rb ? rec : 0;
	}
	if (w->ptcap < fs) {
		atr_secure_free(w->pt, w->ptcap);
		w->pt = malloc(fs);
		w->ptcap = w->pt ? fs : 0;
	}
	return w->rb != NULL && w->pt != NULL ? 0 : -1;
}

/* A mutation opened with the participant's framer. */
static void
part_mutate(void *arg, uint64_t index, int final, const uint8_t *in,
    size_t len, uint64_t frame, const char *what)
{
	struct spart *p = arg;

	p->mutations++;
	if (atr_framer_open(&p->f, index, final, in, len, p->w->pt) !=
	    ATR_OK) {
		atr_detail_clear();
		p->rejected++;
		return;
	}
	if (p->nacc < MAX_ACCEPTED) {
		p->acc[p->nacc].frame = frame;
		p->acc[p->nacc].what = what;
		p->nacc++;
	}
}

/* Batch k, frame by frame as decrypt_frames (body.c) checks them. */
static enum atr_err
part_batch(struct split *sp, struct spart *p, uint64_t k)
{
	const struct atr_batches *B = &sp->B;
	struct worker *w = p->w;
	uint64_t first, idx;
	size_t len, off = 0, n, si = 0;
	enum atr_err err;

	err = atr_batches_read(B, k, w->sbuf, &first, &len);
	if (err != ATR_OK)
		return err;
	while (si < sp->ns && sp->plan[si].frame < first)
		si++;
	for (idx = first; off < len; idx++, off += n) {
		uint8_t *fr = w->sbuf + off;

		n = len - off < B->unit ? len - off : B->unit;
		if (idx % sp->stepf == 0)
			vfy_hist_add(&p->hist, fr, n);
		err = atr_framer_open(&p->f, idx, idx + 1 == B->nframes, fr, n,
		    w->pt);
		if (err != ATR_OK)
			return err;
		p->frames++;
		p->plain += (int64_t)(n - ATR_GCM_TAGBYTES);
		for (; si < sp->ns && sp->plan[si].frame == idx; si++)
			if (vfy_window_diverse(w->pt + sp->plan[si].off) &&
			    p->nsh < MAX_SHINGLES) {
				vfy_pset_hash_window(sp->E->dyn,
				    VFY_PAT_SHINGLE, w->pt + sp->plan[si].off,
				    &p->sh[p->nsh++]);
				p->shingles++;
			}
		eng_tamper_frame_each(idx, B->nframes, fr, n, part_mutate, p);
	}
	return ATR_OK;
}

/* Buffers for batches and frames of sp in p->w; -1 out of memory. */
static int
part_bufs(struct split *sp, struct spart *p)
{
	struct worker *w = p->w;
	size_t need = sp->B.batch * sp->B.unit;

	if (eng_frame_bufs(w, sp->fs) != 0)
		return -1;
	if (w->sbufcap < need) {
		free(w->sbuf);
		w->sbuf = malloc(need);
		w->sbufcap = w->sbuf ? need : 0;
	}
	return w->sbuf != NULL ? 0 : -1;
}

/* Takes batches of sp until none is left; returns how many it did. */
static uint64_t
part_run(struct split *sp, struct spart *p)
{
	uint64_t k, done = 0;
	enum atr_err err;

	if (part_bufs(sp, p) != 0)
		return 0;
	pthread_mutex_lock(&sp->mu);
	err = atr_dec_framer(sp->d, &p->f);
	pthread_mutex_unlock(&sp->mu);
	if (err != ATR_OK) {
		/* The others carry on without this one. */
		atr_detail_clear();
		return 0;
	}
	while (atr_batches_take(&sp->B, &k)) {
		err = part_batch(sp, p, k);
		if (err != ATR_OK) {
			atr_batches_fail(&sp->B, k, err);
			break;
		}
		done++;
	}
	atr_framer_clear(&p->f);
	/* The last frame's plaintext is the object's. */
	atr_memzero(p->w->pt, p->w->ptcap);
	return done;
}

static int
has_work(struct split *sp)
{
	int yes;

	pthread_mutex_lock(&sp->B.mu);
	yes = !sp->B.stop && sp->B.next < sp->B.nbatches;
	pthread_mutex_unlock(&sp->B.mu);
	return yes;
}

struct spart *
eng_split_join(struct engine *E, struct worker *w)
{
	struct split *sp;
	struct spart *p;

	for (sp = E->splits; sp != NULL; sp = sp->next)
		if (sp->nparts < E->nw && has_work(sp))
			break;
	if (sp == NULL)
		return NULL;
	p = &sp->parts[sp->nparts++];
	p->sp = sp;
	p->w = w;
	sp->refs++;
	return p;
}

void
eng_split_help(struct spart *p)
{
	struct split *sp = p->sp;
	struct engine *E = sp->E;
	uint64_t done;

	done = part_run(sp, p);
	atomic_fetch_add(&E->helped_batches, done);
	pthread_mutex_lock(&E->q.mu);
	if (--sp->refs == 0)
		pthread_cond_broadcast(&E->split_done);
	pthread_mutex_unlock(&E->q.mu);
}

/* The parts, every frame having authenticated, into the owner w. */
static void
add_parts(struct split *sp, struct worker *w, const struct job *j)
{
	unsigned i, t, b;
	size_t k;

	for (i = 0; i < sp->nparts; i++) {
		struct spart *p = &sp->parts[i];

		w->stats[VS_D_FRAMES] += p->frames;
		w->stats[VS_D_PLAIN_BYTES] += p->plain;
		w->stats[VS_T_MUTATIONS] += p->mutations;
		w->stats[VS_T_REJECTED] += p->rejected;
		w->stats[VS_P_SHINGLES] += p->shingles;
		for (t = 0; t < 4; t++)
			for (b = 0; b < 256; b++)
				w->hist.c[t][b] += p->hist.c[t][b];
		w->hist.n += p->hist.n;
		for (k = 0; k < p->nsh; k++)
			eng_push_winhash(w, &p->sh[k]);
		for (k = 0; k < p->nacc; k++)
			eng_tamper_accepted(w, j, p->acc[k].frame,
			    p->acc[k].what);
	}
}

int
eng_split_frames(struct worker *w, const struct job *j, int fd,
    uint64_t hlen, uint64_t body, uint64_t nframes, uint32_t fs,
    uint64_t stepf, const struct splan *plan, size_t ns,
    const struct atr_dec *d)
{
	struct engine *E = w->E;
	struct split *sp, **pp;
	enum atr_err err;
	int ok = 0;

	sp = calloc(1, sizeof(*sp));
	if (sp == NULL)
		return 0;
	sp->parts = calloc(E->nw, sizeof(*sp->parts));
	if (sp->parts == NULL || pthread_mutex_init(&sp->mu, NULL) != 0) {
		free(sp->parts);
		free(sp);
		return 0;
	}
	if (atr_batches_init(&sp->B, fd, hlen, body,
	    (size_t)fs + ATR_GCM_TAGBYTES, fs, nframes) != ATR_OK) {
		atr_detail_clear();
		goto out_mu;
	}
	sp->E = E;
	sp->d = d;
	sp->plan = plan;
	sp->ns = ns;
	sp->stepf = stepf;
	sp->fs = fs;
	sp->nparts = 1;
	sp->parts[0].sp = sp;
	sp->parts[0].w = w;
	pthread_mutex_lock(&E->q.mu);
	sp->next = E->splits;
	E->splits = sp;
	pthread_cond_broadcast(&E->q.nonempty);
	pthread_mutex_unlock(&E->q.mu);

	atomic_fetch_add(&E->split_objects, 1);
	(void)part_run(sp, &sp->parts[0]);

	/* No one joins from here on; wait for those inside. */
	pthread_mutex_lock(&E->q.mu);
	for (pp = &E->splits; *pp != NULL; pp = &(*pp)->next)
		if (*pp == sp) {
			*pp = sp->next;
			break;
		}
	while (sp->refs > 0)
		pthread_cond_wait(&E->split_done, &E->q.mu);
	pthread_mutex_unlock(&E->q.mu);

	err = atr_batches_result(&sp->B);
	atr_detail_clear();
	/* Every frame must have been checked: a participant that could
	 * not start (no memory, no framer) left its batches to the others,
	 * and if they were all in that case some are undone. */
	if (err == ATR_OK && sp->B.next >= sp->B.nbatches) {
		uint64_t frames = 0;
		unsigned i;

		for (i = 0; i < sp->nparts; i++)
			frames += (uint64_t)sp->parts[i].frames;
		if (frames == nframes) {
			add_parts(sp, w, j);
			ok = 1;
		}
	}
	if (!ok)
		atomic_fetch_add(&E->split_rechecked, 1);
	atr_batches_destroy(&sp->B);
out_mu:
	pthread_mutex_destroy(&sp->mu);
	/* Shingle hashes are keyed hashes of plaintext. */
	atr_memzero(sp->parts, E->nw * sizeof(*sp->parts));
	free(sp->parts);
	free(sp);
	return ok;
}
