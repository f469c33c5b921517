/*
 * envtest.h - helpers for the envelope, key, fsutil and CLI suites.
 *
 * Linked into test binaries only.  Like testutil.h, nothing here prints,
 * exits or asserts: every function reports failure through its return
 * value so the calling test says what went wrong.  Pointer arguments are
 * borrowed for the call and nothing keeps one; what a function allocates
 * is said with it.  Not thread-safe: the stream knobs below are globals,
 * and the key directory goes through the environment.
 *
 * Key generation is the slow part of these suites (an RSA-4096 keygen
 * can take seconds), and Criterion runs every test in a freshly executed
 * process, so a constructor or a pthread_once would run once per test.
 * A suite therefore generates its keys once in a ReportHook(PRE_ALL),
 * which runs only in the runner, with et_keydir_create(); the directory
 * reaches the test processes through the environment (ET_KEYDIR_ENV).
 */
#ifndef ATR_ENVTEST_H
#define ATR_ENVTEST_H

#include <stddef.h>
#include <stdint.h>

#include "envelope.h"
#include "key.h"
#include "keys.h"

#define ET_KEYDIR_ENV "ATREST_TEST_KEYDIR"

/* ---- shared keys --------------------------------------------------- */

/*
 * Creates a temporary directory, generates one key per entry of types
 * (NULL-terminated; "rsa-2048", "aes-256", ... or "NAME=TYPE") with
 * atr_keygen (one thread per key), in a file named after the type or
 * NAME (an RSA key also gets NAME.pub), and exports the directory as
 * $ET_KEYDIR_ENV (setenv: call it before any other thread runs, in the
 * runner's PRE_ALL).  Returns ATR_OK, or the first error with its detail;
 * then the directory is gone and nothing is exported.
 */
enum atr_err et_keydir_create(const char *tag, const char *const *types);
/* Removes the directory made by et_keydir_create (if any) and unsets
 * $ET_KEYDIR_ENV. */
void et_keydir_remove(void);
/* $ET_KEYDIR_ENV (the environment's string: not to be freed), or NULL
 * when the runner did not set it up. */
const char *et_keydir(void);
/* keydir/name and "file:keydir/name", malloc'd (free()); NULL without a
 * keydir or memory. */
char *et_key_path(const char *name);
char *et_key_uri(const char *name);
/* Opens file:keydir/name into *k (NULL on failure), the caller's to
 * release with atr_key_free. */
enum atr_err et_key_open(const char *name, struct atr_key **k);

/* ---- envelopes in memory ------------------------------------------- */

/* A malloc'd buffer the et_* functions fill (p NULL and len 0 when they
 * fail); the caller releases it with et_buf_free.  Test data: not wiped. */
struct et_buf {
	uint8_t *p;
	size_t len;
};

/* free(b->p), then an empty buffer; safe on an empty one.  b not NULL. */
void et_buf_free(struct et_buf *b);

/* A deterministic, non-repeating-looking fill (xorshift from seed). */
void et_fill(uint8_t *p, size_t n, uint32_t seed);

/*
 * Encrypts pt[len] with atr_enc_new/atr_enc_frame exactly as the stream
 * does (frames of frame_size, the last one final, one empty final frame
 * for an empty input) into out (see struct et_buf).  p's keys and share
 * are borrowed for the call.
 */
enum atr_err et_seal(const struct atr_enc_params *p, const uint8_t *pt,
    size_t len, struct et_buf *out);

/*
 * Decrypts an envelope held in memory with the frame API only:
 * atr_header_parse, atr_body_frames (so trailing or missing bytes count),
 * atr_dec_new and atr_dec_frame for each frame with its index and
 * finality.  On failure out is empty.  which_key (may be NULL) gets the
 * index of the key that opened it.  out->p has one spare byte past the
 * plaintext.
 */
enum atr_err et_open(const uint8_t *ct, size_t len,
    struct atr_key *const *keys, size_t nkeys,
    const struct atr_dec_opts *opts, struct et_buf *out, size_t *which_key);

/* The same through core/stream.c (atr_encrypt_stream/atr_decrypt_stream)
 * over unlinked temporary files, as the CLI uses them (pipes for an
 * object of up to 32 KiB to decrypt), with et_stream_threads threads
 * (default 1). */
extern unsigned et_stream_threads;
/* Threads the last et_seal_stream/et_open_stream ran on. */
extern unsigned et_stream_used;
enum atr_err et_seal_stream(const struct atr_enc_params *p,
    const uint8_t *pt, size_t len, struct et_buf *out);
enum atr_err et_open_stream(const uint8_t *ct, size_t len,
    struct atr_key *const *keys, size_t nkeys,
    const struct atr_dec_opts *opts, struct et_buf *out);

/* ---- byte surgery -------------------------------------------------- */

/*
 * A new buffer: a[0..off) | ins[0..ins_len) | a[off+del..alen),
 * malloc'd with one spare byte (free()); *out_len gets its length.
 * NULL when off+del > alen or on no memory (*out_len untouched).
 * ins may be NULL when ins_len is 0.
 */
uint8_t *et_splice(const uint8_t *a, size_t alen, size_t off, size_t del,
    const uint8_t *ins, size_t ins_len, size_t *out_len);

/*
 * Offset and length of stanza idx inside a serialized header, found by
 * walking the layout of docs/FORMAT.md section 2 (independently of
 * atr_header_parse).  0 on success, -1 when the header is malformed
 * (*off and *slen then unspecified).
 */
int et_stanza_span(const uint8_t *hdr, size_t len, size_t idx, size_t *off,
    size_t *slen);

/* Offset of frame i in an object with header length hl and frame size fs. */
size_t et_frame_off(size_t hl, uint32_t fs, uint64_t i);

/* ---- files and trees ----------------------------------------------- */

/* Number of '\n' in s (a one-line message has exactly one); NULL-safe
 * (0). */
size_t et_count_lines(const char *s);

/* 1 when any name below dir (recursively) starts with ".atrest-tmp-".
 * The tree helpers below use lstat: links are never followed. */
int et_tree_has_tmp(const char *dir);

/* Number of entries below dir (recursively, directories included). */
long et_tree_count(const char *dir);

/*
 * 1 when trees a and b hold the same relative paths with the same types
 * and, for regular files, the same bytes; 0 otherwise or on an error.
 */
int et_trees_equal(const char *a, const char *b);

/* File mode bits (st_mode & 07777, following a link) or -1. */
int et_file_mode(const char *path);

#endif
