/*
 * range.h - ranged reads: part of an object's plaintext, opening only
 * the frames that cover it.
 *
 * Frame i of an object starts at header_len + i*(F + 16) and its nonce
 * carries i and the final flag (docs/FORMAT.md, section 5), so a frame
 * can be read with pread and authenticated alone: a range costs the
 * header, the stanza and its frames, whatever the object's size (the
 * ranged reads of Tink's streaming AEAD and Azure's client-side
 * encryption v2 rest on the same property).
 *
 * What a range read proves: the header (key commitment and MAC) and each
 * frame it returns, at its index.  Frames outside the range are not read,
 * so damage there is not detected.  The object's length comes from the
 * file size; a range that reaches or passes the end (OFFSET + LENGTH >=
 * plaintext length) authenticates the last frame as final, which proves
 * that length (a truncated object fails there with ATR_ERR_AUTH).  A
 * range that stops earlier does not need the final frame.
 */
#ifndef ATR_RANGE_H
#define ATR_RANGE_H

#include <stdint.h>

#include "envelope.h"

/* len meaning "to the end of the object". */
#define ATR_RANGE_TO_END UINT64_MAX

/* The caller's; zeroed at the start of each call, then filled (also
 * partly on failure). */
struct atr_range_stats {
	uint64_t plain_len;     /* object's plaintext length (file size) */
	uint64_t out_bytes;     /* plaintext bytes written to out_fd */
	uint64_t frames_read;   /* frames read and authenticated */
	uint64_t cipher_read;   /* bytes read from in_fd, header included */
	int final_read;         /* the final frame was authenticated */
	size_t key_index;       /* which key opened it */
	size_t stanza_index;    /* which stanza */
};

/*
 * Writes plaintext bytes [off, off + len) of the object in in_fd to
 * out_fd (len ATR_RANGE_TO_END: up to the end).  in_fd must be a regular
 * file, read with pread only (its position is not used or moved); out_fd
 * is written in order (write), a frame's bytes only after its tag
 * verified.  The first key with a stanza opens the header (atr_dec_new).
 *
 * off == plaintext length gives zero bytes (after the final frame
 * authenticated); off or off + len past it is ATR_ERR_USAGE (once the
 * final frame authenticated, so the length is proven).  A frame of the
 * range that fails its tag is ATR_ERR_AUTH, and its bytes are never
 * written; out_fd may hold the frames of the range before it: the caller
 * discards the output on any error, as for atr_decrypt_stream.  keys and
 * opts are borrowed for the call; plaintext buffers are wiped before
 * they are released.
 */
enum atr_err atr_decrypt_range(int in_fd, int out_fd,
    struct atr_key *const *keys, size_t nkeys,
    const struct atr_dec_opts *opts, uint64_t off, uint64_t len,
    struct atr_range_stats *st);

#endif
