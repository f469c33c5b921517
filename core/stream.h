/*
 * stream.h - envelopes between file descriptors in constant memory.
 *
 * Memory stays constant whatever the object size.  With one thread
 * both directions hold about three frames: the frame being processed,
 * one read ahead (to learn whether it is the final one) and its output.
 * With T threads (T > 1), when both descriptors are regular files and
 * the object spans more than one batch of about 256 KiB, T threads (this
 * one included) each read, seal or open and write whole batches at their
 * offsets (pread/pwrite): T batches in and out, about 512 KiB per thread
 * (or one frame each way, if frames are larger).  Pipes, terminals and
 * small objects take the one-thread path.
 *
 * Decryption writes a frame only after its tag verified (with T > 1,
 * batches may reach the output file out of order); the caller writes
 * into a temporary file that it discards on any error (core/fsutil.h).
 *
 * Ownership: the descriptors are the caller's, never closed here; on
 * success both are left positioned after what was read and written (the
 * several-thread path reads and writes at offsets, then seeks there).  The
 * encryptor, the keys and the options are borrowed for the call; the
 * worker threads are joined and every buffer is released before a
 * function returns, plaintext buffers wiped first.  Thread-safety: the
 * functions may run on several objects at once from several threads
 * (the CLI does, on a tree), sharing keys (core/key.h) and a key cache,
 * but never on one atr_enc or one descriptor at once.
 */
#ifndef ATR_STREAM_H
#define ATR_STREAM_H

#include <pthread.h>
#include <stdint.h>

#include "envelope.h"

/* The caller's; zeroed at the start of each call, then filled (also
 * partly on failure). */
struct atr_stream_stats {
	uint64_t plain_bytes;
	uint64_t cipher_bytes;
	uint64_t frames;
	size_t key_index;     /* decrypt: which key opened it */
	size_t stanza_index;  /* decrypt: which stanza */
	unsigned threads;     /* threads that sealed or opened frames */
};

/* threads as the functions below take it: 0 becomes the number of online
 * CPUs (1..64); anything else is returned as it is. */
unsigned atr_stream_threads(unsigned threads);

/*
 * Writes the header, then the frames of everything read from in_fd.
 * threads: 1 = this thread only, 0 = one worker per online CPU (at most
 * 16 are used).  e is spent by the call, whatever its outcome: the
 * one-thread path finishes it, the other seals through framers, which do
 * not advance it (core/envelope.h), so a second call with the same e
 * would reuse its nonces.  Free it with atr_enc_free afterwards.
 */
enum atr_err atr_encrypt_stream(struct atr_enc *e, int in_fd, int out_fd,
    unsigned threads, struct atr_stream_stats *st);

/*
 * Reads a header and frames from in_fd, writes plaintext to out_fd
 * (out_fd < 0: authenticate only, write nothing).  The first key with a
 * recipient stanza opens it (atr_dec_new).  threads as for
 * atr_encrypt_stream.  On failure out_fd may already hold the frames
 * that authenticated before the failing one (or, with several threads,
 * some later ones): the caller discards the output.
 */
enum atr_err atr_decrypt_stream(int in_fd, int out_fd,
    struct atr_key *const *keys, size_t nkeys,
    const struct atr_dec_opts *opts, unsigned threads,
    struct atr_stream_stats *st);

/*
 * Batches: the several-thread scheme above, for any reader of a body
 * (core/stream.c, and verify's per-object check).  A body of nframes
 * frames of `unit` bytes each as they are read (frame_size, plus the
 * 16-byte tag for ciphertext), only the last one shorter, is cut into
 * batches of whole frames of about ATR_BATCH_BYTES (one frame, if frames
 * are larger).  Any number of threads take batches in order
 * (atr_batches_take) and read each at its offset (atr_batches_read).
 * A failure (atr_batches_fail) stops the taking, and the one kept is
 * that of the lowest failed batch: since batches are taken in order,
 * every batch before it was taken, and it is finished once its thread
 * has returned, so what is reported does not depend on the threads'
 * timing.  The struct is the caller's; the functions lock it, so any
 * thread may call them between init and destroy.
 */
#define ATR_BATCH_BYTES (256U * 1024U)

struct atr_batches {
	pthread_mutex_t mu;
	int fd;
	uint64_t off;            /* where frame 0 starts in fd */
	uint64_t len;            /* bytes of the body */
	size_t unit;             /* bytes of a whole frame, as read */
	size_t batch;            /* frames per batch */
	uint64_t nframes, nbatches;
	uint64_t next;           /* next batch to take */
	uint64_t err_batch;      /* lowest failed batch; UINT64_MAX: none */
	enum atr_err err;
	char detail[256];        /* that failure's error detail */
	int stop;
};

/* Frames of frame_size bytes in one batch. */
size_t atr_batch_frames(size_t frame_size);
/* Sets b up for the body [off, off + len) of fd; ATR_ERR_NOMEM when the
 * lock cannot be made (then nothing to destroy). */
enum atr_err atr_batches_init(struct atr_batches *b, int fd, uint64_t off,
    uint64_t len, size_t unit, size_t frame_size, uint64_t nframes);
void atr_batches_destroy(struct atr_batches *b);
/* The next batch into *k: 1, or 0 when none is left or a batch failed. */
int atr_batches_take(struct atr_batches *b, uint64_t *k);
/* Batch k failed with err (the calling thread's error detail is kept
 * with it, then cleared); no batch is taken after this. */
void atr_batches_fail(struct atr_batches *b, uint64_t k, enum atr_err err);
/* Once every thread is done: the lowest failed batch's error, with its
 * detail set on the calling thread, or ATR_OK. */
enum atr_err atr_batches_result(struct atr_batches *b);
/* Reads batch k into buf (b->batch * b->unit bytes): its frames start
 * at *first and take *len bytes; frame i of it is the next min(unit,
 * rest) bytes. */
enum atr_err atr_batches_read(const struct atr_batches *b, uint64_t k,
    uint8_t *buf, uint64_t *first, size_t *len);

/*
 * Reads and parses the header at the start of in_fd (reading up to
 * ATR_HEADER_MAX bytes, fewer at end of file).  h is the caller's (see
 * atr_header_parse).  spill is a caller's buffer of ATR_HEADER_MAX
 * bytes: on ATR_OK, spill[0..*extra) holds the bytes read past the
 * header, so that a streaming reader continues from there.  *extra is 0
 * on failure.
 */
enum atr_err atr_read_header(int in_fd, struct atr_header *h,
    uint8_t *spill, size_t *extra);

#endif
