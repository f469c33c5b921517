/*
 * stream.h - envelopes between file descriptors in constant memory.
 *
 * Both directions hold about three frames in memory whatever the object
 * size: the frame being processed, one read ahead (to learn whether it
 * is the final one) and its output.  Decryption writes a frame only
 * after its tag verified, and the caller writes into a temporary file
 * that it discards on any error (lib/fsutil.h).
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
};

/* Writes the header, then the frames of everything read from in_fd. */
enum atr_err atr_encrypt_stream(struct atr_enc *e, int in_fd, int out_fd,
    struct atr_stream_stats *st);

/*
 * Reads a header and frames from in_fd, writes plaintext to out_fd
 * (out_fd < 0: authenticate only, write nothing).  The first key with a
 * recipient stanza opens it.
 */
enum atr_err atr_decrypt_stream(int in_fd, int out_fd,
    struct atr_key *const *keys, size_t nkeys,
    const struct atr_dec_opts *opts, struct atr_stream_stats *st);

/*
 * Reads and parses the header at the start of in_fd.  *extra gets the
 * bytes read past the header (into a caller buffer of ATR_HEADER_MAX
 * bytes, `spill`), so a streaming reader can continue from there.
 */
enum atr_err atr_read_header(int in_fd, struct atr_header *h,
    uint8_t *spill, size_t *extra);

#endif
