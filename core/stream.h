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
 */
#ifndef ATR_STREAM_H
#define ATR_STREAM_H

#include <stdint.h>

#include "envelope.h"

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

/* Writes the header, then the frames of everything read from in_fd.
 * threads: 1 = this thread only, 0 = one worker per online CPU. */
enum atr_err atr_encrypt_stream(struct atr_enc *e, int in_fd, int out_fd,
    unsigned threads, struct atr_stream_stats *st);

/*
 * Reads a header and frames from in_fd, writes plaintext to out_fd
 * (out_fd < 0: authenticate only, write nothing).  The first key with a
 * recipient stanza opens it.  threads as for atr_encrypt_stream.
 */
enum atr_err atr_decrypt_stream(int in_fd, int out_fd,
    struct atr_key *const *keys, size_t nkeys,
    const struct atr_dec_opts *opts, unsigned threads,
    struct atr_stream_stats *st);

/*
 * Reads and parses the header at the start of in_fd.  *extra gets the
 * bytes read past the header (into a caller buffer of ATR_HEADER_MAX
 * bytes, `spill`), so a streaming reader can continue from there.
 */
enum atr_err atr_read_header(int in_fd, struct atr_header *h,
    uint8_t *spill, size_t *extra);

#endif
