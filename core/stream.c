/* see stream.h */
#include "stream.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "util.h"

/* One thread, about three frames of memory. */
static enum atr_err
seq_encrypt(struct atr_enc *e, int in_fd, int out_fd,
    struct atr_stream_stats *st)
{
	size_t fs = atr_enc_frame_size(e), na = 0, nb = 0, hi = 0;
	uint8_t *a = NULL, *b = NULL, *o = NULL, *t;
	enum atr_err err;
	int final;

	a = malloc(fs);
	b = malloc(fs);
	o = malloc(fs + ATR_GCM_TAGBYTES);
	if (a == NULL || b == NULL || o == NULL) {
		err = ATR_ERR_NOMEM;
		goto out;
	}
	err = atr_read_full(in_fd, a, fs, &na);
	hi = na;
	if (err != ATR_OK)
		goto out;
	for (;;) {
		/* A full frame is final only if nothing follows it: read
		 * the next one ahead to know. */
		final = na < fs;
		if (!final) {
			err = atr_read_full(in_fd, b, fs, &nb);
			hi = nb > hi ? nb : hi;
			if (err != ATR_OK)
				goto out;
			final = nb == 0;
		}
		err = atr_enc_frame(e, a, na, final, o);
		if (err != ATR_OK)
			goto out;
		err = atr_write_all(out_fd, o, na + ATR_GCM_TAGBYTES);
		if (err != ATR_OK)
			goto out;
		st->plain_bytes += na;
		st->cipher_bytes += na + ATR_GCM_TAGBYTES;
		st->frames++;
		if (final)
			break;
		t = a;
		a = b;
		b = t;
		na = nb;
	}
out:
	/* Plaintext buffers are wiped before they are released: the bytes
	 * read into them, no more (a 1 KiB file, the frequent case in a
	 * tree, need not wipe two 64 KiB frames).  hi counts a failed
	 * read's bytes too (atr_read_full sets *got on failure). */
	atr_secure_free(a, hi);
	atr_secure_free(b, hi);
	free(o);
	return err;
}

enum atr_err
atr_read_header(int in_fd, struct atr_header *h, uint8_t *spill,
    size_t *extra)
{
	enum atr_err err;
	size_t got;

	*extra = 0;
	err = atr_read_full(in_fd, spill, ATR_HEADER_MAX, &got);
	if (err != ATR_OK)
		return err;
	err = atr_header_parse(spill, got, h);
	if (err != ATR_OK)
		return err;
	*extra = got - h->len;
	memmove(spill, spill + h->len, *extra);
	return ATR_OK;
}

/* A reader that first returns the bytes read past the header (the
 * spill), then reads the descriptor. */
struct src {
	int fd;
	uint8_t *spill;
	size_t spill_len, spill_off;
};

/* Fills buf up to want bytes; fewer only at the end of the input. */
static enum atr_err
src_read(struct src *r, uint8_t *buf, size_t want, size_t *got)
{
	size_t take = 0, n = 0;
	enum atr_err err;

	if (r->spill_len > r->spill_off) {
		take = r->spill_len - r->spill_off;
		if (take > want)
			take = want;
		memcpy(buf, r->spill + r->spill_off, take);
		r->spill_off += take;
	}
	err = atr_read_full(r->fd, buf + take, want - take, &n);
	*got = take + n;
	return err;
}

/* One thread, about three records of memory; the first record may
 * already be in the spill after the header. */
static enum atr_err
seq_decrypt(struct atr_dec *d, uint32_t frame_size, struct src *r,
    int out_fd, struct atr_stream_stats *st)
{
	uint8_t *a = NULL, *b = NULL, *o = NULL, *t;
	size_t fs = frame_size, rec = fs + ATR_GCM_TAGBYTES, na = 0, nb = 0;
	size_t hi = 0;
	uint64_t index = 0;
	enum atr_err err;
	int final;

	a = malloc(rec);
	b = malloc(rec);
	o = malloc(fs);
	if (a == NULL || b == NULL || o == NULL) {
		err = ATR_ERR_NOMEM;
		goto out;
	}
	err = src_read(r, a, rec, &na);
	if (err != ATR_OK)
		goto out;
	if (na == 0) {
		err = atr_fail(ATR_ERR_FORMAT, "missing final frame");
		goto out;
	}
	for (;;) {
		final = na < rec;
		if (!final) {
			err = src_read(r, b, rec, &nb);
			if (err != ATR_OK)
				goto out;
			final = nb == 0;
		}
		/* A frame that claims to be final but was sealed as a middle
		 * frame (truncation at a frame boundary) fails its tag. */
		/* What atr_dec_frame may write into o, authenticated or not:
		 * the wipe below covers it. */
		if (na > ATR_GCM_TAGBYTES && na - ATR_GCM_TAGBYTES > hi)
			hi = na - ATR_GCM_TAGBYTES;
		err = atr_dec_frame(d, index, final, a, na, o);
		if (err != ATR_OK)
			goto out;
		if (out_fd >= 0) {
			err = atr_write_all(out_fd, o, na - ATR_GCM_TAGBYTES);
			if (err != ATR_OK)
				goto out;
		}
		st->plain_bytes += na - ATR_GCM_TAGBYTES;
		st->cipher_bytes += na;
		st->frames++;
		index++;
		if (final)
			break;
		t = a;
		a = b;
		b = t;
		na = nb;
	}
out:
	free(a);
	free(b);
	atr_secure_free(o, hi);   /* the plaintext written into it */
	return err;
}

/* ---- several threads on one object ----------------------------------
 *
 * When both ends are regular files, the place of every frame in the
 * input and in the output follows from the input's size (docs/FORMAT.md:
 * frames of frame_size bytes plus a 16-byte tag, only the last one
 * shorter).  T threads then each take the next batch of frames, read it
 * with pread, seal or open it with their own framer and write it with
 * pwrite: no hand-off between threads, and a batch stays in the cache of
 * the core that handles it.  (A ring of batches read and written by one
 * thread and sealed by others was tried first: the cross-core copies made
 * it no faster than one thread on this 2-vCPU machine.)
 *
 * Decryption writes a batch only after each of its frames authenticated;
 * batches may land out of order in the output, which is a temporary file
 * that the caller discards on any failure (core/fsutil.h), as it discards
 * the frames a one-thread run wrote before a failure.  The failure
 * reported is that of the first failing batch in the object's order,
 * whatever the threads' timing: batches are taken in order, so every
 * batch before a failed one was taken and is finished before the workers
 * stop. */

#define MAX_WORKERS 16U

/* ---- batches (stream.h) ---- */

size_t
atr_batch_frames(size_t frame_size)
{
	return frame_size >= ATR_BATCH_BYTES ? 1 :
	    ATR_BATCH_BYTES / frame_size;
}

enum atr_err
atr_batches_init(struct atr_batches *b, int fd, uint64_t off, uint64_t len,
    size_t unit, size_t frame_size, uint64_t nframes)
{
	memset(b, 0, sizeof(*b));
	b->fd = fd;
	b->off = off;
	b->len = len;
	b->unit = unit;
	b->batch = atr_batch_frames(frame_size);
	b->nframes = nframes;
	b->nbatches = (nframes + b->batch - 1) / b->batch;
	b->err_batch = UINT64_MAX;
	if (pthread_mutex_init(&b->mu, NULL) != 0)
		return atr_fail(ATR_ERR_NOMEM, "cannot set up threads");
	return ATR_OK;
}

void
atr_batches_destroy(struct atr_batches *b)
{
	pthread_mutex_destroy(&b->mu);
}

int
atr_batches_take(struct atr_batches *b, uint64_t *k)
{
	int ok;

	pthread_mutex_lock(&b->mu);
	ok = !b->stop && b->next < b->nbatches;
	if (ok)
		*k = b->next++;
	pthread_mutex_unlock(&b->mu);
	return ok;
}

void
atr_batches_fail(struct atr_batches *b, uint64_t k, enum atr_err err)
{
	pthread_mutex_lock(&b->mu);
	if (k < b->err_batch) {
		b->err_batch = k;
		b->err = err;
		snprintf(b->detail, sizeof(b->detail), "%s", atr_detail());
	}
	b->stop = 1;
	pthread_mutex_unlock(&b->mu);
	atr_detail_clear();
}

enum atr_err
atr_batches_result(struct atr_batches *b)
{
	enum atr_err err = ATR_OK;

	pthread_mutex_lock(&b->mu);
	if (b->err_batch != UINT64_MAX) {
		atr_detail_set("%s", b->detail);
		err = b->err;
	}
	pthread_mutex_unlock(&b->mu);
	return err;
}

enum atr_err
atr_batches_read(const struct atr_batches *b, uint64_t k, uint8_t *buf,
    uint64_t *first, size_t *len)
{
	uint64_t nfr;

	*first = k * b->batch;
	nfr = b->nframes - *first;
	if (nfr > b->batch)
		nfr = b->batch;
	*len = (size_t)(b->len - *first * b->unit);
	if (*len > nfr * b->unit)
		*len = nfr * b->unit;
	return atr_pread_full(b->fd, buf, *len, b->off + *first * b->unit);
}

/* ---- stream's use of them ---- */

struct par {
	struct atr_batches B;
	pthread_mutex_t wmu;     /* one writer at a time (see par_batch) */
	int sealing;             /* 1: encrypt, 0: decrypt */
	int out_fd;
	off_t out_off;           /* where frame 0 starts in the output */
	size_t unit_out;
	const struct atr_enc *e;
	const struct atr_dec *d;
};

struct par_worker {
	struct par *P;
	struct atr_framer f;
	int has_framer, started;
	pthread_t th;
	uint8_t *in, *out;
};

static enum atr_err
pwrite_all(int fd, const uint8_t *buf, size_t len, off_t off)
{
	ssize_t n;

	while (len > 0) {
		n = pwrite(fd, buf, len, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return atr_fail(ATR_ERR_IO, "write: %s",
			    n < 0 ? strerror(errno) : "no progress");
		buf += n;
		len -= (size_t)n;
		off += n;
	}
	return ATR_OK;
}

static enum atr_err
par_batch(struct par *P, struct par_worker *w, uint64_t k)
{
	const struct atr_batches *B = &P->B;
	uint64_t first, idx;
	size_t len, off = 0, olen = 0, n;
	enum atr_err err;
	int final;

	err = atr_batches_read(B, k, w->in, &first, &len);
	if (err != ATR_OK)
		return err;
	idx = first;
	do {
		n = len - off;
		if (n > B->unit)
			n = B->unit;
		final = idx == B->nframes - 1;
		if (P->sealing) {
			err = atr_framer_seal(&w->f, idx, final, w->in + off, n,
			    w->out + olen);
			olen += n + ATR_GCM_TAGBYTES;
		} else {
			err = atr_framer_open(&w->f, idx, final, w->in + off, n,
			    w->out + olen);
			olen += n - ATR_GCM_TAGBYTES;
		}
		if (err != ATR_OK)
			return err;
		off += n;
		idx++;
	} while (off < len);
	/* The kernel serializes writes to one file on the inode's lock
	 * anyway, and a writer that waits for it there spins on the CPU
	 * (rwsem optimistic spinning: seen here to cost a whole core and
	 * triple the time on tmpfs); waiting on this mutex sleeps. */
	pthread_mutex_lock(&P->wmu);
	err = pwrite_all(P->out_fd, w->out, olen,
	    P->out_off + (off_t)(first * P->unit_out));
	pthread_mutex_unlock(&P->wmu);
	return err;
}

static void *
par_main(void *arg)
{
	struct par_worker *w = arg;
	struct par *P = w->P;
	enum atr_err err;
	uint64_t k;

	while (atr_batches_take(&P->B, &k)) {
		atr_detail_clear();
		err = par_batch(P, w, k);
		if (err != ATR_OK) {
			atr_batches_fail(&P->B, k, err);
			break;
		}
	}
	return NULL;
}

/* Runs P with `threads` workers; the calling thread is one of them. */
static enum atr_err
par_run(struct par *P, unsigned threads, unsigned *used)
{
	struct par_worker w[MAX_WORKERS];
	struct atr_batches *B = &P->B;
	size_t inb = B->batch * B->unit, outb = B->batch * P->unit_out;
	enum atr_err err = ATR_OK;
	unsigned i, n = 0;
	uint8_t c;

	if (threads > MAX_WORKERS)
		threads = MAX_WORKERS;
	/* At least the calling thread, w[0], which par_main reads (the
	 * callers come here with more than one batch of body). */
	if (threads > B->nbatches)
		threads = B->nbatches > 0 ? (unsigned)B->nbatches : 1;
	memset(w, 0, sizeof(w));
	if (pthread_mutex_init(&P->wmu, NULL) != 0) {
		atr_batches_destroy(B);
		return atr_fail(ATR_ERR_NOMEM, "cannot set up threads");
	}
	for (n = 0; n < threads; n++) {
		w[n].P = P;
		w[n].in = malloc(inb);
		w[n].out = malloc(outb);
		if (w[n].in == NULL || w[n].out == NULL) {
			n++;
			err = ATR_ERR_NOMEM;
			goto out;
		}
		err = P->sealing ? atr_enc_framer(P->e, &w[n].f) :
		    atr_dec_framer(P->d, &w[n].f);
		if (err != ATR_OK) {
			n++;
			goto out;
		}
		w[n].has_framer = 1;
	}
	for (i = 1; i < n; i++) {
		if (pthread_create(&w[i].th, NULL, par_main, &w[i]) != 0)
			break;
		w[i].started = 1;
	}
	par_main(&w[0]);
	*used = 1;
	for (i = 1; i < n; i++)
		if (w[i].started) {
			pthread_join(w[i].th, NULL);
			(*used)++;
		}
	err = atr_batches_result(B);
	if (err != ATR_OK)
		goto out;
	/* The body length came from the size at the start: an input that
	 * grew since would be cut short without a word. */
	if (pread(B->fd, &c, 1, (off_t)(B->off + B->len)) != 0) {
		err = atr_fail(ATR_ERR_IO, "the input grew while it was read");
		goto out;
	}
	if (lseek(B->fd, (off_t)(B->off + B->len), SEEK_SET) < 0 ||
	    lseek(P->out_fd, P->out_off + (off_t)(P->sealing ?
	    B->len + B->nframes * ATR_GCM_TAGBYTES :
	    B->len - B->nframes * ATR_GCM_TAGBYTES), SEEK_SET) < 0)
		err = atr_fail(ATR_ERR_IO, "seek: %s", strerror(errno));
out:
	for (i = 0; i < n; i++) {
		if (w[i].has_framer)
			atr_framer_clear(&w[i].f);
		/* The plaintext side is wiped before it is released. */
		if (P->sealing) {
			atr_secure_free(w[i].in, inb);
			free(w[i].out);
		} else {
			free(w[i].in);
			atr_secure_free(w[i].out, outb);
		}
	}
	pthread_mutex_destroy(&P->wmu);
	atr_batches_destroy(B);
	return err;
}

/* Where fd stands, when it is a regular file that pread/pwrite can
 * address (not O_APPEND, which would make pwrite append); -1 if not. */
static off_t
regular_at(int fd, uint64_t *size)
{
	struct stat sb;
	off_t at;
	int fl;

	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode))
		return -1;
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || (fl & O_APPEND))
		return -1;
	at = lseek(fd, 0, SEEK_CUR);
	if (at < 0 || at > sb.st_size)
		return -1;
	*size = (uint64_t)sb.st_size;
	return at;
}

/* P for a body of in_len bytes at in_off, cut into nframes frames;
 * par_run destroys it. */
static enum atr_err
par_init(struct par *P, int sealing, int in_fd, off_t in_off, int out_fd,
    off_t out_off, uint64_t in_len, size_t frame_size, uint64_t nframes)
{
	memset(P, 0, sizeof(*P));
	P->sealing = sealing;
	P->out_fd = out_fd;
	P->out_off = out_off;
	P->unit_out = sealing ? frame_size + ATR_GCM_TAGBYTES : frame_size;
	return atr_batches_init(&P->B, in_fd, (uint64_t)in_off, in_len,
	    sealing ? frame_size : frame_size + ATR_GCM_TAGBYTES, frame_size,
	    nframes);
}

unsigned
atr_stream_threads(unsigned threads)
{
	unsigned n;

	if (threads != 0)
		return threads;
	n = atr_cpu_count();
	return n > 64 ? 64 : n;
}

enum atr_err
atr_encrypt_stream(struct atr_enc *e, int in_fd, int out_fd,
    unsigned threads, struct atr_stream_stats *st)
{
	struct par P;
	const uint8_t *hdr;
	uint64_t isz, osz, body, nframes;
	off_t ioff, ooff;
	enum atr_err err;
	size_t hl, fs = atr_enc_frame_size(e);

	memset(st, 0, sizeof(*st));
	hdr = atr_enc_header(e, &hl);
	err = atr_write_all(out_fd, hdr, hl);
	if (err != ATR_OK)
		return err;
	st->cipher_bytes = hl;
	threads = atr_stream_threads(threads);
	st->threads = 1;
	ioff = threads > 1 ? regular_at(in_fd, &isz) : -1;
	ooff = ioff >= 0 ? regular_at(out_fd, &osz) : -1;
	body = ioff >= 0 ? isz - (uint64_t)ioff : 0;
	/* Parallel only when it pays: at least two batches. */
	if (ooff < 0 || body <= (uint64_t)atr_batch_frames(fs) * fs)
		return seq_encrypt(e, in_fd, out_fd, st);
	nframes = body / fs + (body % fs != 0);
	if (nframes > ATR_MAX_FRAMES)
		return atr_fail(ATR_ERR_LIMIT, "object exceeds %llu frames",
		    (unsigned long long)ATR_MAX_FRAMES);
	err = par_init(&P, 1, in_fd, ioff, out_fd, ooff, body, fs, nframes);
	if (err != ATR_OK)
		return err;
	P.e = e;
	err = par_run(&P, threads, &st->threads);
	if (err != ATR_OK)
		return err;
	st->plain_bytes = body;
	st->cipher_bytes += body + nframes * ATR_GCM_TAGBYTES;
	st->frames = nframes;
	return ATR_OK;
}

enum atr_err
atr_decrypt_stream(int in_fd, int out_fd, struct atr_key *const *keys,
    size_t nkeys, const struct atr_dec_opts *opts, unsigned threads,
    struct atr_stream_stats *st)
{
	struct atr_header *h = NULL;
	struct atr_dec *d = NULL;
	struct src r = {in_fd, NULL, 0, 0};
	struct par P;
	uint64_t isz = 0, osz, body = 0, nframes;
	off_t ioff = -1, ooff = -1;
	enum atr_err err;

	memset(st, 0, sizeof(*st));
	h = malloc(sizeof(*h));
	r.spill = malloc(ATR_HEADER_MAX);
	if (h == NULL || r.spill == NULL) {
		err = ATR_ERR_NOMEM;
		goto out;
	}
	threads = atr_stream_threads(threads);
	st->threads = 1;
	if (threads > 1 && out_fd >= 0) {
		ioff = regular_at(in_fd, &isz);
		ooff = ioff >= 0 ? regular_at(out_fd, &osz) : -1;
	}
	err = atr_read_header(in_fd, h, r.spill, &r.spill_len);
	if (err != ATR_OK)
		goto out;
	err = atr_dec_new(h, keys, nkeys, opts, &d, &st->key_index,
	    &st->stanza_index);
	if (err != ATR_OK)
		goto out;
	st->cipher_bytes = h->len;
	if (ooff >= 0 && isz - (uint64_t)ioff > h->len)
		body = isz - (uint64_t)ioff - h->len;
	if (ooff < 0 || body <= (uint64_t)atr_batch_frames(h->frame_size) *
	    (h->frame_size + ATR_GCM_TAGBYTES)) {
		err = seq_decrypt(d, h->frame_size, &r, out_fd, st);
		goto out;
	}
	err = atr_body_frames(body, h->frame_size, &nframes);
	if (err != ATR_OK)
		goto out;
	err = par_init(&P, 0, in_fd, ioff + (off_t)h->len, out_fd, ooff, body,
	    h->frame_size, nframes);
	if (err != ATR_OK)
		goto out;
	P.d = d;
	err = par_run(&P, threads, &st->threads);
	if (err != ATR_OK)
		goto out;
	st->plain_bytes = body - nframes * ATR_GCM_TAGBYTES;
	st->cipher_bytes += body;
	st->frames = nframes;
out:
	atr_dec_free(d);
	free(h);
	free(r.spill);
	return err;
}
