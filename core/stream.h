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
