/*
 * envelope.h - the atrest envelope, format v1 (docs/FORMAT.md).
 *
 *   header = core(85) | stanza count u16 | stanzas | HMAC-SHA-256(32)
 *   body   = frames of frame_size plaintext bytes, each ct | tag(16)
 *
 * A DEK (32 random bytes) is wrapped for each recipient together with a
 * digest of its context (format version, object id, provider, algorithm,
 * key id), so a stanza moved to another object or relabelled does not
 * unwrap.  From the DEK and the object id, HKDF-SHA-256 (RFC 5869)
 * derives the key commitment stored in the header, the payload key and
 * the header MAC key.  Frames are AES-256-GCM (SP 800-38D) with the
 * deterministic 96-bit nonce  prefix(7) | frame index u32 | final flag.
 *
 * Every integer is big-endian.  Limits are checked before any
 * allocation; the header structs are fixed-size.
 *
 * Ownership, for the whole file: the opaque objects (atr_share, atr_enc,
 * atr_kcache, atr_dec) are allocated here and released only by their
 * *_free function, which is NULL-safe and wipes every secret they hold;
 * a constructor that fails leaves NULL (in *out, or as its result).
 * The plain structs (atr_header, atr_framer, the parameter structs) are
 * the caller's.  Keys, key arrays, headers and buffers passed in are
 * borrowed for the call: nothing here keeps a pointer to an argument
 * past the call, except where said.  A key's ops run on the calling
 * thread.
 *
 * Thread-safety: an atr_share and an atr_kcache may be used from several
 * threads at once (the first is read-only once made, the second has a
 * lock).  An atr_enc, an atr_dec and an atr_framer are used by one thread
 * at a time (each holds a GCM context that changes with every frame);
 * framers are how several threads work on one object.
 */
#ifndef ATR_ENVELOPE_H
#define ATR_ENVELOPE_H

#include <stddef.h>
#include <stdint.h>

#include "crypto.h"
#include "err.h"
#include "key.h"

#define ATR_MAGIC "ATREST"
#define ATR_MAGIC_BYTES 6U
#define ATR_FORMAT_VERSION 1U
/* AES-256-GCM, 128-bit tags, HKDF-SHA-256, HMAC-SHA-256 header, commitment */
#define ATR_SUITE_V1 0x0001U
#define ATR_OBJECT_ID_BYTES 32U
#define ATR_NONCE_PREFIX_BYTES 7U
#define ATR_COMMIT_BYTES 32U
#define ATR_MAC_BYTES 32U
#define ATR_SHARE_ID_BYTES 16U
#define ATR_DEK_BYTES 32U
/* What a KEK wraps: the key (32) | SHA-256 of the wrap context (32). */
#define ATR_WRAP_INPUT_BYTES 64U
/* KWP of 64 bytes under an intermediate key: 64 + 8. */
#define ATR_IK_WRAPPED_BYTES 72U
#define ATR_CORE_BYTES 85U        /* magic..commitment */
#define ATR_CORE_PRE_BYTES 53U    /* magic..nonce prefix: bound into HKDF */
#define ATR_MAX_STANZAS 16U
#define ATR_FRAME_MIN 64U
#define ATR_FRAME_MAX (16U * 1024U * 1024U)
#define ATR_FRAME_DEFAULT (64U * 1024U)
#define ATR_MAX_FRAMES 0xFFFFFFFFULL /* the frame index is a u32 */
/* Largest possible stanza and header. */
#define ATR_STANZA_MAX (1U + 1U + 1U + 2U + ATR_KEYID_MAX + 2U + \
	ATR_WRAPPED_MAX + ATR_SHARE_ID_BYTES + 2U + ATR_IK_WRAPPED_BYTES)
#define ATR_HEADER_MAX (ATR_CORE_BYTES + 2U + ATR_MAX_STANZAS * \
	ATR_STANZA_MAX + ATR_MAC_BYTES)

/* How the wrapped key relates to the object (a "key hierarchy"). */
enum atr_stanza_kind {
	/* The KEK wraps this object's own DEK; context = object id. */
	ATR_KIND_DIRECT = 0,
	/* The KEK wraps a DEK shared by several objects (a DEK cache, as
	 * the ESDK caching CMM); context = share id.  Each object still
	 * derives its own payload key from the DEK and its object id. */
	ATR_KIND_SHARED = 1,
	/* The KEK wraps an intermediate key (as S3 Bucket Keys), which
	 * wraps the object's DEK with AES-KWP; KEK context = share id, the
	 * inner wrap's context = object id. */
	ATR_KIND_INTERMEDIATE = 2,
};

/* "per-object", "cached", "intermediate" (inspect, verify's reports);
 * a static string, "unknown" for any other value. */
const char *atr_stanza_kind_name(unsigned kind);

struct atr_stanza {
	uint8_t provider;   /* enum atr_provider_type (unknown values kept) */
	uint8_t alg;        /* enum atr_wrap_alg */
	uint8_t kind;       /* enum atr_stanza_kind */
	char key_id[ATR_KEYID_MAX + 1];
	uint16_t wrapped_len;
	uint8_t wrapped[ATR_WRAPPED_MAX];
	uint8_t share_id[ATR_SHARE_ID_BYTES];      /* kinds 1, 2 */
	uint16_t ik_wrapped_len;                    /* kind 2 */
	uint8_t ik_wrapped[ATR_IK_WRAPPED_BYTES];  /* kind 2 */
};

struct atr_header {
	uint8_t version;
	uint8_t flags;
	uint16_t suite;
	uint8_t object_id[ATR_OBJECT_ID_BYTES];
	uint32_t frame_size;
	uint8_t nonce_prefix[ATR_NONCE_PREFIX_BYTES];
	uint8_t commitment[ATR_COMMIT_BYTES];
	uint16_t nstanzas;
	struct atr_stanza st[ATR_MAX_STANZAS];
	uint8_t mac[ATR_MAC_BYTES];
	size_t len;                    /* header bytes including the MAC */
	uint8_t raw[ATR_HEADER_MAX];   /* the header bytes as read */
};

/*
 * Parses a header from buf[len] into h, a caller's struct of about 70
 * KiB (allocate it, do not put it on a small stack), which gets copies of
 * everything (h->raw: the header's bytes); buf is not kept.  On ATR_OK,
 * h->len is the header's length (buf may hold more: the body follows).
 * A short or malformed header is ATR_ERR_FORMAT with a detail naming the
 * field, h->len is 0 and the rest of h is unspecified.  Needs no key:
 * nothing in h is authenticated until atr_dec_new accepts it.
 */
enum atr_err atr_header_parse(const uint8_t *buf, size_t len,
    struct atr_header *h);

/*
 * Number of frames a body of body_len bytes holds, checking that it is
 * a whole number of frames with a possible short last one.  *nframes is
 * 0 on failure (ATR_ERR_FORMAT).
 */
enum atr_err atr_body_frames(uint64_t body_len, uint32_t frame_size,
    uint64_t *nframes);

/*
 * A key shared by several objects (kinds SHARED and INTERMEDIATE): it is
 * wrapped by the KEKs once, then used for many encryptors.  keys[nkeys]
 * (1..ATR_MAX_STANZAS, each able to wrap) are borrowed for the call: the
 * share keeps a copy of each one's provider, algorithm, key id and
 * wrapped key, not the key.  *out is the caller's, released with
 * atr_share_free, which wipes the shared key.  Once made, a share is
 * only read: several threads may encrypt with it at once.
 */
struct atr_share;
enum atr_err atr_share_new(enum atr_stanza_kind kind,
    struct atr_key *const *keys, size_t nkeys, struct atr_share **out);
void atr_share_free(struct atr_share *s);

/* Everything here is borrowed by atr_enc_new for the call only. */
struct atr_enc_params {
	struct atr_key *const *keys;  /* direct: wrap a new DEK for each */
	size_t nkeys;
	const struct atr_share *share; /* or: use this shared/intermediate key */
	uint32_t frame_size;           /* 0 = ATR_FRAME_DEFAULT */
};

/*
 * One object being encrypted: a fresh object id, nonce prefix and DEK,
 * the serialized header, and the payload key inside a GCM context (the
 * DEK and the derived keys are wiped before atr_enc_new returns).  An
 * atr_enc is for one object only: its nonces must never seal a second
 * one (see atr_encrypt_stream).  Released with atr_enc_free, which
 * cleanses the key schedule.
 */
struct atr_enc;
enum atr_err atr_enc_new(const struct atr_enc_params *p,
    struct atr_enc **out);
/* The serialized header, e's own bytes: valid until atr_enc_free. */
const uint8_t *atr_enc_header(const struct atr_enc *e, size_t *len);
/*
 * Seals the next frame.  len must be frame_size for a non-final frame and
 * 1..frame_size for the final one (0 only when it is also the first:
 * the empty object).  out gets len + 16 bytes.  After the final frame
 * every call fails (ATR_ERR_USAGE).
 */
enum atr_err atr_enc_frame(struct atr_enc *e, const uint8_t *pt, size_t len,
    int final, uint8_t *out);
uint32_t atr_enc_frame_size(const struct atr_enc *e);
void atr_enc_free(struct atr_enc *e);

/*
 * Optional cache of unwrapped shared keys, so decrypting many objects
 * of a SHARED/INTERMEDIATE hierarchy costs one KEK unwrap per share.  It
 * holds up to capacity keys (0: 64), the oldest replaced first, and
 * is shared by any number of threads (a mutex).  It holds secrets:
 * atr_kcache_free (NULL-safe) wipes them; no other thread may be using
 * it then.  atr_kcache_new returns NULL when out of memory.
 *
 * Every entry has a lifetime, counted on the monotonic clock from the
 * unwrap that filled it: an entry older than the TTL is never served
 * (it is wiped when found), so the next object needs a new KEK unwrap,
 * which fails once the key is disabled.  The TTL bounds how long a
 * process keeps opening data after a revocation (docs/BENCH.md,
 * "Revocation latency").  atr_kcache_new uses ATR_KCACHE_TTL_DEFAULT_S;
 * atr_kcache_set_ttl changes it (ttl_ns > 0; 0 is ignored: an entry
 * without a lifetime is what the TTL exists to prevent).
 */
#define ATR_KCACHE_TTL_DEFAULT_S 300U
#define ATR_KCACHE_TTL_MAX_S 86400U
struct atr_kcache;
struct atr_kcache *atr_kcache_new(size_t capacity);
void atr_kcache_set_ttl(struct atr_kcache *c, uint64_t ttl_ns);
uint64_t atr_kcache_ttl(const struct atr_kcache *c);
void atr_kcache_free(struct atr_kcache *c);
/* Counters: KEK unwraps done and hits served from the cache.  c and both
 * out pointers must not be NULL. */
void atr_kcache_stats(const struct atr_kcache *c, uint64_t *unwraps,
    uint64_t *hits);

/* Borrowed by atr_dec_new for the call only (an atr_dec does not keep
 * the cache: it is consulted while the header is opened). */
struct atr_dec_opts {
	struct atr_kcache *cache;  /* may be NULL */
};

struct atr_dec;
/*
 * Opens a parsed header with the first key that has a stanza in it:
 * unwraps the DEK, checks the key commitment and the header MAC.
 * ATR_ERR_NOKEY when no key matches a stanza, ATR_ERR_AUTH when a
 * matching stanza does not open or the header fails authentication; a
 * key service's own refusal (disabled, forbidden, unreachable) is
 * returned as such.  which_key and which_stanza (each may be NULL) get
 * the index of the key and of the stanza used, once the header
 * authenticated.  h, keys and opts are borrowed for the call: *out keeps
 * copies of what it needs (the DEK, the nonce prefix, the frame size)
 * and is released with atr_dec_free, which wipes them.
 */
enum atr_err atr_dec_new(const struct atr_header *h,
    struct atr_key *const *keys, size_t nkeys,
    const struct atr_dec_opts *opts, struct atr_dec **out,
    size_t *which_key, size_t *which_stanza);
/*
 * Opens frame `index` (in: ciphertext then tag, in_len >= 16).  final
 * says whether it is the last frame of the object, which the caller
 * knows from the body length.  Any frame can be opened alone.  out gets
 * in_len - 16 bytes, wiped when the tag does not verify (ATR_ERR_AUTH).
 */
enum atr_err atr_dec_frame(struct atr_dec *d, uint64_t index, int final,
    const uint8_t *in, size_t in_len, uint8_t *out);
/* HMAC-SHA-256(fkey, DEK): lets a verifier spot DEK reuse across a
 * store without keeping DEKs.  Only reads d: may run while another
 * thread opens frames with a framer taken from d. */
enum atr_err atr_dec_dek_fingerprint(const struct atr_dec *d,
    const uint8_t *fkey, size_t fkey_len, uint8_t out[32]);
void atr_dec_free(struct atr_dec *d);

/*
 * A framer seals or opens the frames of one object at explicit indexes,
 * with its own GCM context, so that several threads can work on one
 * object (core/stream.c).  The caller owns the order: it gives each frame
 * its index and says which one is final, and the length rules of
 * atr_enc_frame/atr_dec_frame apply.  Frames sealed through a framer do
 * not advance the atr_enc they were taken from: sealing an index twice
 * (through two framers, or a framer and atr_enc_frame) reuses a nonce,
 * which the caller must never do.
 *
 * The struct is the caller's.  atr_enc_framer/atr_dec_framer fill it
 * with the object's nonce prefix and frame size and a copy of the
 * object's GCM context; it keeps no pointer to e or d, which may be
 * freed first.  No other thread may use e or d during the copy.  On
 * failure the framer holds no context.  atr_framer_clear releases the
 * context and wipes the prefix; it is safe after a failed fill.
 */
struct atr_framer {
	struct atr_gcm gcm;
	uint8_t prefix[ATR_NONCE_PREFIX_BYTES];
	uint32_t frame_size;
};
enum atr_err atr_enc_framer(const struct atr_enc *e, struct atr_framer *f);
enum atr_err atr_dec_framer(const struct atr_dec *d, struct atr_framer *f);
enum atr_err atr_framer_seal(struct atr_framer *f, uint64_t index,
    int final, const uint8_t *pt, size_t len, uint8_t *out);
enum atr_err atr_framer_open(struct atr_framer *f, uint64_t index,
    int final, const uint8_t *in, size_t in_len, uint8_t *out);
void atr_framer_clear(struct atr_framer *f);

/*
 * Rewrap: a new header for the same object, without touching its body.
 * The object is opened with one of `open` (DEK unwrapped, commitment and
 * MAC checked); stanzas matched by any `remove` key are dropped; a stanza
 * is added for each `add` key that is not already a recipient, wrapping
 * the same key under the same hierarchy kind.  out (ATR_HEADER_MAX
 * bytes, the caller's) gets the new header; *changed is 0 when there was
 * nothing to do (a resumed rewrap).  On failure *out_len and *changed
 * are 0.  The body stays valid because the core, and so the payload key,
 * is unchanged.  The key arrays of the spec and h are borrowed for the
 * call; the DEK and derived keys are wiped before returning.
 */
struct atr_rewrap_spec {
	struct atr_key *const *open;
	size_t nopen;
	struct atr_key *const *remove;
	size_t nremove;
	struct atr_key *const *add;
	size_t nadd;
};
enum atr_err atr_rewrap_header(const struct atr_header *h,
    const struct atr_rewrap_spec *spec, uint8_t *out, size_t *out_len,
    int *changed);
/* 1 when the header still has a stanza to remove or lacks one to add
 * (by provider and key id: no key is used, nothing is authenticated). */
int atr_rewrap_needed(const struct atr_header *h,
    const struct atr_rewrap_spec *spec);

/* The 12-byte nonce of frame index (docs/FORMAT.md). */
void atr_frame_nonce(const uint8_t prefix[ATR_NONCE_PREFIX_BYTES],
    uint32_t index, int final, uint8_t nonce[12]);

#endif
