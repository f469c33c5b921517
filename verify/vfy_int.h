/*
 * vfy_int.h - what the verify/ files share (report model, pattern scan,
 * key wrappers, vault interface).  Not for the CLI: it uses verify.h.
 *
 * Dependencies go one way: each file calls only into the files listed
 * before it (and core/, keyvault/, keys/), never back.
 *
 *   util.c      64-bit mixer, path hash (shards, sampling), path order
 *   names.c     check, severity and status names; counters; finding
 *               codes; stanza kind, algorithm and provider names
 *   out.c       buffered writer with JSON and XML escaping
 *   scan.c      pattern sets, the streaming scanner, byte statistics
 *   keys.c      capture wrapper, impostor and control keys
 *   vault.c     what the checks need from the Key Vault client
 *   policy.c    defaults, --policy parsing, writing the policy back
 *   manifest.c  the expected plaintext
 *   report.c    finding lists, coverage, object records, the report
 *   finalize.c  what needs the whole store: uniqueness, per-key policy,
 *               rotation versions, statuses
 *   worker.c .. engine.c
 *               vfy_run(): the pass over the store and the end phase,
 *               one file per stage (vfy_engine.h lists them in order)
 *   output.c    the report as JSON, JUnit XML and text
 *   merge.c     reading JSON reports back, merging shard reports
 *   fixture.c   synthetic datasets
 *
 * Ownership, as in verify.h: what a function hands out is the caller's
 * to free with the matching *_free(); arguments are borrowed for the
 * call; the exceptions are said where they are declared.  The
 * collections below (finding lists, coverage, object records, the
 * report) own the strings and arrays they point to.
 */
#ifndef ATR_VFY_INT_H
#define ATR_VFY_INT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "verify.h"

/* ---- small helpers (util.c) -------------------------------------------- */

uint64_t vfy_mix64(uint64_t x);
/* Path order of the walk: '/' sorts before every other byte. */
int vfy_path_cmp(const char *a, const char *b);

/* ---- counters ---------------------------------------------------------- */

enum vfy_stat_op { VFY_OP_SUM = 0, VFY_OP_MAX, VFY_OP_SAME };

enum vfy_stat {
	/* envelope */
	VS_FILES, VS_ENVELOPES, VS_NOT_ENVELOPE, VS_MALFORMED, VS_SYMLINKS,
	VS_SPECIAL, VS_EMPTY, VS_BYTES,
	/* recipients */
	VS_R_OBJECTS, VS_R_STANZAS, VS_R_FOREIGN, VS_R_SMK_ONLY, VS_R_CONFIGURED,
	/* decrypt */
	VS_D_ATTEMPTED, VS_D_OPENED, VS_D_PROVEN, VS_D_FRAMES, VS_D_PLAIN_BYTES,
	VS_D_AUTH_FAILED, VS_D_NO_KEY, VS_D_SERVICE, VS_D_MAN_ENTRIES,
	VS_D_MAN_VERIFIED, VS_D_MAN_MISSING, VS_D_MAN_MISMATCH, VS_D_UNLISTED,
	/* negative */
	VS_N_CONTROL, VS_N_CONTROL_OPENED, VS_N_IMPOSTOR, VS_N_IMPOSTOR_OPENED,
	VS_N_DRILL, VS_N_DRILL_OPENED, VS_N_DRILL_VERSIONS, VS_N_DRILL_LATENCY_MS,
	VS_N_DRILL_MS,
	/* plaintext */
	VS_P_SCANNED, VS_P_RESCANNED, VS_P_CANARIES, VS_P_SHINGLES, VS_P_KEYS,
	VS_P_CANARY_HITS, VS_P_SHINGLE_HITS, VS_P_KEY_HITS, VS_P_STAT_TESTED,
	VS_P_NOT_RANDOM,
	/* tamper */
	VS_T_OBJECTS, VS_T_HEADER_OBJECTS, VS_T_MUTATIONS, VS_T_REJECTED,
	VS_T_ACCEPTED,
	/* uniqueness (derived from the object records) */
	VS_U_OBJECTS, VS_U_DUP_IDS, VS_U_NONCE_REUSE, VS_U_NONCE_COLLISIONS,
	VS_U_DEK_REUSE, VS_U_SHARES, VS_U_SHARED_OBJECTS, VS_U_MAX_WRAPS,
	VS_U_MAX_FRAMES,
	/* policy */
	VS_PO_KEYS, VS_PO_VAULT_KEYS, VS_PO_STANZA_KEYS, VS_PO_SUITE_V1,
	/* rotation */
	VS_RO_KEY_IDS, VS_RO_CURRENT, VS_RO_STALE,
	VS__COUNT
};

struct vfy_stat_def {
	int check;
	const char *name;
	int op;
	int derived;   /* recomputed by vfy_finalize (merge ignores shards') */
};
extern const struct vfy_stat_def vfy_stat_defs[VS__COUNT];

/* ---- findings ---------------------------------------------------------- */

#define VFY_CODE_MAX 48

struct vfy_finding {
	int check;
	int sev;
	int store;          /* STORE index; -1: the subject is a key or config */
	int64_t offset;     /* byte offset in the file; -1: none */
	char code[VFY_CODE_MAX];
	char *subject;      /* relative path (store >= 0), or key URI / key id */
	char *message;      /* subject and message: malloc'd, the finding's */
};

/* Known codes and whether vfy_finalize() derives them (docs/VERIFY.md
 * has a section per check listing them). */
struct vfy_code_def {
	const char *code;
	int derived;
};
extern const struct vfy_code_def vfy_code_defs[];
int vfy_code_check(const char *code);   /* -1 when unknown */
int vfy_code_derived(const char *code);
/* A policy level's name: a severity's, or "allow". */
const char *vfy_level_name(int level);

/*
 * Stanza fields as the JSON report names them (names.c), and back.
 * Algorithms and kinds are kept as bit sets (1 << value); an algorithm
 * above 7 sets VFY_ALG_OTHER_BIT.  The names are static strings.
 */
#define VFY_ALG_OTHER_BIT 7
const char *vfy_alg_bit_name(unsigned bit);      /* "RSA-OAEP-256" */
int vfy_alg_bit_from_name(const char *name);     /* -1 when unknown */
int vfy_kind_from_name(const char *name);        /* -1 when unknown */
/* The enum atr_provider_type of a name atr_provider_name() gives (name
 * may be NULL); 0 when unknown. */
int vfy_provider_from_name(const char *name);

/*
 * A bounded collection: every finding is counted, and the `cap` first in
 * report order (vfy_finding_cmp) are kept, so the kept set does not
 * depend on which worker found what first.
 */
struct vfy_flist {
	struct vfy_finding *v;  /* a max-heap while collecting */
	size_t n, cap, alloc;
	uint64_t count[3];      /* by severity, kept or not */
};
/* Frees f's strings (not f). */
void vfy_finding_free(struct vfy_finding *f);
/* The list owns its findings; vfy_flist_free releases them. */
void vfy_flist_init(struct vfy_flist *l, size_t cap);
void vfy_flist_free(struct vfy_flist *l);
/* Takes ownership of f->subject and f->message (freed if not kept). */
void vfy_flist_add(struct vfy_flist *l, struct vfy_finding *f);
/* Moves every kept finding of src into dst (src is left empty); adds
 * the counts. */
void vfy_flist_absorb(struct vfy_flist *dst, struct vfy_flist *src);
void vfy_flist_sort(struct vfy_flist *l);
int vfy_finding_cmp(const struct vfy_finding *a, const struct vfy_finding *b);

/* ---- coverage: one entry per stanza key id ----------------------------- */

struct vfy_cov {
	char *key_id;
	uint8_t provider;
	uint8_t algs;          /* 1 << alg */
	uint8_t kinds;         /* 1 << kind */
	uint32_t rsa_min, rsa_max; /* RSA modulus bits seen (wrapped length) */
	uint64_t objects;      /* objects with a stanza for this key id */
	uint64_t opened;       /* objects opened through it */
	uint64_t direct;       /* kind-0 stanzas: one wrap each */
	uint8_t *shares;       /* 16-byte share ids of kind 1/2 stanzas */
	size_t nshares, capshares;
	int configured;        /* matched by a --key */
	int primary;           /* matched by the first --key */
	int current;           /* is the current version of the primary key */
};

/* Owns its entries and their key_id and shares. */
struct vfy_covmap {
	struct vfy_cov *v;
	size_t n, cap;
	uint32_t *idx;         /* open addressing, 0 = empty, else i + 1 */
	size_t idx_cap;
};
void vfy_covmap_free(struct vfy_covmap *m);
/* The entry of key_id (copied), added when new; NULL when out of
 * memory.  The pointer is valid until the next vfy_covmap_get on m (the
 * entries may move). */
struct vfy_cov *vfy_covmap_get(struct vfy_covmap *m, const char *key_id);
void vfy_cov_add_share(struct vfy_cov *c, const uint8_t share[16]);
/* Adds s's counts, bits and share ids into d (same key id). */
void vfy_cov_sum(struct vfy_cov *d, const struct vfy_cov *s);
/* Moves src's entries into dst, summing; src is left empty. */
void vfy_covmap_absorb(struct vfy_covmap *dst, struct vfy_covmap *src);
/* Rebuilds the index after the entries were reordered. */
void vfy_covmap_reindex(struct vfy_covmap *m);

/* ---- object records (uniqueness, shard data) --------------------------- */

struct vfy_obj {
	char *rel;             /* malloc'd, owned by the vector holding it */
	int store;
	uint8_t kind;          /* kind of the opening stanza; 0xff: not opened */
	uint8_t has_fp;
	uint8_t oid[16];       /* first 16 bytes of the object id */
	uint8_t nonce[ATR_NONCE_PREFIX_BYTES];
	uint8_t fp[16];        /* keyed DEK fingerprint (truncated) */
	uint8_t share[16];     /* share id when kind is 1 or 2 */
	uint64_t frames;
};

struct vfy_objvec {
	struct vfy_obj *v;
	size_t n, cap;
};
/* Appends a copy of *x, taking ownership of x->rel; -1 (x->rel still
 * the caller's) when out of memory. */
int vfy_objvec_push(struct vfy_objvec *o, const struct vfy_obj *x);
/* Frees every rel and wipes the records (keyed DEK fingerprints). */
void vfy_objvec_free(struct vfy_objvec *o);

/* ---- the report -------------------------------------------------------- */

struct vfy_store {
	char *arg;
	int is_file;
};

struct vfy_keyinfo {
	char *uri;
	char *key_id;
	char *desc;
	char *provider;
	unsigned bits;
	int customer_managed;
	int primary;
};

struct vfy_checkres {
	int status;
	char reason[256];
	struct vfy_flist f;
	uint64_t dcount[3];     /* of f.count: derived by vfy_finalize */
};

/*
 * A Key Vault key version that objects in the store are wrapped under
 * (a stanza key id matched by a configured vault key), with the
 * attributes the vault gave for that version (docs/VERIFY.md "Verifying
 * a rotated estate").  objects and findings are derived by vfy_finalize.
 */
struct vfy_version {
	char *kid;             /* versioned kid, malloc'd */
	int key;               /* index of the configured key it belongs to */
	int resolved;          /* the version that key's URI resolves to */
	int available;         /* the attributes below were read */
	int enabled, has_nbf, has_exp, key_ops_present;
	int64_t nbf, exp;
	char kty[16];
	unsigned bits, key_ops;
	uint64_t objects;      /* objects with a stanza for it */
	uint64_t findings;     /* kept findings naming it */
};

/* Every pointer in a report is malloc'd and its own (vfy_report_free). */
struct vfy_report {
	struct vfy_store *stores;
	size_t nstores;
	struct vfy_keyinfo *keys;
	size_t nkeys;
	char *control;          /* "generated" or a URI */
	char *manifest;         /* path or NULL */
	char manifest_sha[65];
	struct vfy_policy policy;
	unsigned shard_k, shard_n;
	int revocation_drill;
	char fp_key_id[33];     /* "" : ephemeral fingerprint key */
	char current_key_id[ATR_KEYID_MAX + 1];
	struct vfy_checkres checks[VFY_NCHECKS];
	int64_t stats[VS__COUNT];
	struct vfy_covmap cov;
	struct vfy_objvec objs;
	struct vfy_version *versions;  /* key versions in use, by kid */
	size_t nversions;
	int allow_empty;        /* --allow-empty: zero objects verified is ok */
	int incomplete;
	char incomplete_why[256];
	/* stopped at a credential failure (incomplete_why: its detail) */
	int halted;
	/* run (not compared between a merged and a full report) */
	int64_t started;
	int64_t elapsed_ms;
	unsigned jobs;
	/* objects whose frames were offered to several workers, those of
	 * them checked again by one (a frame failed), and the batches of
	 * frames helping workers took (verify/split.c) */
	uint64_t split_objects, split_rechecked, helped_batches;
	int keep_shard_data;    /* write shard_data (a --shard run) */
	int is_merged;
	unsigned merged_from;
};

/* An empty report under a copy of *p (NULL: the defaults). */
struct vfy_report *vfy_report_new(const struct vfy_policy *p);
/* Adds a finding (strings copied; fmt gives the message). */
#if defined(__GNUC__)
__attribute__((format(printf, 7, 8)))
#endif
void vfy_report_add(struct vfy_report *r, int sev, int store,
    const char *subject, int64_t offset, const char *code,
    const char *fmt, ...);
/* The finding of fmt/ap into *f (strings copied): its check's index, or
 * -1 when code names no check (*f then holds nothing to free).  One
 * definition for the report's and the workers' lists. */
int vfy_finding_vmake(struct vfy_finding *f, int sev, int store,
    const char *subject, int64_t offset, const char *code, const char *fmt,
    va_list ap);
/* Fills *f (overwritten) with copies of subject and msg (NULL: ""). */
void vfy_finding_set(struct vfy_finding *f, int sev, int store,
    const char *subject, int64_t offset, const char *code, const char *msg);
/* Display path of a finding subject, into out (cap bytes). */
void vfy_display_path(const struct vfy_report *r, int store, const char *rel,
    char *out, size_t cap);

/* ---- derived findings (finalize.c) ------------------------------------- */

/*
 * Derived findings and counters (coverage-based policy and rotation
 * findings, uniqueness from the object records), skip reasons and
 * statuses.  Run once after the checks, and again by merge.
 */
void vfy_finalize(struct vfy_report *r);
/* Removes the derived findings and counters (vfy_finalize starts so). */
void vfy_drop_derived(struct vfy_report *r);
/* The entry of kid in r->versions, added (kid copied) when new; NULL
 * when out of memory.  Valid until the next call. */
struct vfy_version *vfy_version_get(struct vfy_report *r, const char *kid);
/* Why no verdict can be given ("" when objects were proven): a store
 * with no file, or no object verified. */
const char *vfy_nothing_verified(const struct vfy_report *r);

/* ---- pattern scan (canaries, shingles, unwrapped keys) ----------------- */

enum vfy_pat_type {
	VFY_PAT_CANARY = 0,
	VFY_PAT_DEK = 1,
	VFY_PAT_IK = 2,
	VFY_PAT_SHINGLE = 3,
};

#define VFY_WIN 32U          /* shingle and key window */
#define VFY_PAT_MAX 256U     /* longest canary */
#define VFY_PAT_MIN 8U       /* shortest canary */

/* A set of patterns; it keeps copies of canaries and only hashes of
 * windows. */
struct vfy_pset;
struct vfy_pset *vfy_pset_new(void);
void vfy_pset_free(struct vfy_pset *s);             /* NULL-safe */
/* Canary (exact bytes, VFY_PAT_MIN..VFY_PAT_MAX long, copied); id is
 * reported. */
int vfy_pset_add_exact(struct vfy_pset *s, const uint8_t *p, size_t len,
    uint32_t id);
/* A 32-byte window that must not appear; only hashes are kept. */
int vfy_pset_add_window(struct vfy_pset *s, int type, const uint8_t w[32]);
/* Hash of a window, as add_window would keep it, so workers can collect
 * them without sharing the set. */
struct vfy_winhash {
	uint64_t h;
	uint64_t confirm;
	uint8_t type;
};
void vfy_pset_hash_window(const struct vfy_pset *s, int type,
    const uint8_t w[32], struct vfy_winhash *out);
int vfy_pset_add_hashes(struct vfy_pset *s, const struct vfy_winhash *v,
    size_t n);
/* Sorts and builds the filter; no additions afterwards. */
int vfy_pset_build(struct vfy_pset *s);
size_t vfy_pset_size(const struct vfy_pset *s);
/* 1 when a shingle window looks like text worth sampling (diverse). */
int vfy_window_diverse(const uint8_t w[32]);

typedef void (*vfy_hit_fn)(void *arg, int type, uint32_t id, uint64_t off);

/*
 * A scan over one contiguous stream of bytes fed in pieces of any size.
 * Probes are made at the lattice points begin + m * stride; tail keeps
 * the last bytes of the stream for the look-behind and look-ahead that
 * points near a piece boundary need.
 */
#define VFY_TAIL_MAX (4 * VFY_PAT_MAX)

struct vfy_scanner {
	const struct vfy_pset *ps;
	uint8_t tail[VFY_TAIL_MAX];
	size_t tlen;
	uint64_t tail_off;     /* stream offset of tail[0] */
	uint64_t begin;        /* stream offset of the first byte */
	uint64_t next_y;       /* next lattice point to probe */
	vfy_hit_fn hit;
	void *arg;
	uint64_t scanned;
};
/* ps and arg are borrowed until vfy_scan_end; the caller owns sc. */
void vfy_scan_begin(struct vfy_scanner *sc, const struct vfy_pset *ps,
    uint64_t off, vfy_hit_fn hit, void *arg);
/* Feeds the next bytes of the stream (contiguous with what came before). */
void vfy_scan_feed(struct vfy_scanner *sc, const uint8_t *p, size_t len);
/* Counts n more bytes of the stream as scanned without their bytes: only
 * for a scan of an empty set, where there is nothing to find. */
void vfy_scan_skip(struct vfy_scanner *sc, uint64_t n);
void vfy_scan_end(struct vfy_scanner *sc);

/* Byte statistics: chi-square against uniform and Shannon entropy. */
struct vfy_hist {
	uint64_t c[4][256];
	uint64_t n;
};
void vfy_hist_reset(struct vfy_hist *h);
void vfy_hist_add(struct vfy_hist *h, const uint8_t *p, size_t len);
double vfy_hist_chi2(const struct vfy_hist *h);
double vfy_hist_entropy(const struct vfy_hist *h);
/* Wilson-Hilferty bound of chi-square with 255 degrees of freedom. */
double vfy_chi2_bound(double z);

/* ---- keys: capture wrapper, impostor, controls ------------------------- */

/*
 * A per-worker wrapper around a configured key.  It forwards every
 * operation, keeps the last unwrap output (the DEK or intermediate key
 * with its context digest) for the plaintext scan and the fingerprint,
 * and caches unwraps of shared stanzas (kinds 1 and 2) so a cached
 * hierarchy costs one KEK call per share per worker.  Everything it holds
 * is wiped when reset and when freed.
 *
 * vfy_wkey_new returns a new key (atr_key_free() frees it and *w, not
 * inner); inner is borrowed for the wrapper's life.  NULL when out of
 * memory.
 */
struct vfy_wkey;
struct atr_key *vfy_wkey_new(struct atr_key *inner, struct vfy_wkey **w);
void vfy_wkey_set_cacheable(struct vfy_wkey *w, int on);
/* The cache's lifetime (default ATR_KCACHE_TTL_DEFAULT_S; 0 ignored):
 * an older entry is wiped, never served. */
void vfy_wkey_set_ttl(struct vfy_wkey *w, uint64_t ttl_ns);
/* Copies the last captured unwrap for these wrapped bytes (64 bytes);
 * 0 when none. */
int vfy_wkey_captured(struct vfy_wkey *w, const uint8_t *wrapped,
    size_t wrapped_len, uint8_t out[ATR_WRAP_INPUT_BYTES]);
void vfy_wkey_forget(struct vfy_wkey *w);

/*
 * Control keys for the negative proof: an impostor that claims every
 * stanza and unwraps with a control key of the stanza's family.  given
 * (NULL: generated keys) is borrowed for the life of *out; the keys and
 * the description returned below belong to the controls and last until
 * vfy_controls_free (NULL-safe).
 */
struct vfy_controls;
enum atr_err vfy_controls_new(struct atr_key *given,
    struct vfy_controls **out);
void vfy_controls_free(struct vfy_controls *c);
/* The impostor key (matches everything). */
struct atr_key *vfy_controls_impostor(struct vfy_controls *c);
/* The control key used for plain (non-impostor) attempts. */
struct atr_key *vfy_controls_plain(struct vfy_controls *c);
const char *vfy_controls_desc(const struct vfy_controls *c);

/* ---- Key Vault interface ----------------------------------------------- */

struct vfy_vault_attrs {
	char kid[ATR_KEYID_MAX + 1];
	char version[128];
	char kty[16];
	unsigned bits;
	unsigned key_ops;     /* ATR_JWK_* (core/jwk.h) */
	int key_ops_present;
	int enabled;
	int has_nbf, has_exp;
	int64_t nbf, exp, created;
	char recovery_level[64];
};

/* 1 when k is a Key Vault key. */
int vfy_vault_is_vault_key(const struct atr_key *k);
/* The vault's attributes of k (read again when refresh) into *out. */
enum atr_err vfy_vault_attrs(struct atr_key *k, int refresh,
    struct vfy_vault_attrs *out);
enum atr_err vfy_vault_set_enabled(struct atr_key *k, int enabled);
/* The same for the version kid of k's key (same vault and name). */
enum atr_err vfy_vault_kid_attrs(struct atr_key *k, const char *kid,
    struct vfy_vault_attrs *out);
enum atr_err vfy_vault_kid_set_enabled(struct atr_key *k, const char *kid,
    int enabled);
/* Every version of k's key with its creation time (free() the array). */
struct vfy_vver {
	char version[128];
	int64_t created;
};
enum atr_err vfy_vault_versions(struct atr_key *k, struct vfy_vver **out,
    size_t *n);
/* Origin, name and version of a Key Vault kid into the caller's
 * buffers; 0 ok, -1 not a kid (or a buffer too small). */
int vfy_kid_split(const char *kid, char *origin, size_t ocap, char *name,
    size_t ncap, char *version, size_t vcap);

/* ---- buffered writer (out.c) ------------------------------------------- */

/* Buffered writer over a file descriptor (borrowed: neither synced nor
 * closed), for the JSON and XML outputs. */
struct vfy_out {
	int fd;
	enum atr_err err;
	size_t n;
	char buf[65536];
};
void vfy_out_init(struct vfy_out *o, int fd);
void vfy_out_put(struct vfy_out *o, const char *s, size_t n);
void vfy_out_str(struct vfy_out *o, const char *s);
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
void vfy_out_fmt(struct vfy_out *o, const char *fmt, ...);
void vfy_out_json_str(struct vfy_out *o, const char *s);
void vfy_out_xml_str(struct vfy_out *o, const char *s);
enum atr_err vfy_out_flush(struct vfy_out *o);

/* ---- policy.c, manifest.c ---------------------------------------------- */

/* Policy as the JSON --policy reads (so merge can re-read it). */
void vfy_policy_write(struct vfy_out *o, const struct vfy_policy *p,
    const char *indent);

/* Manifest lookups for the engine.  What they return belongs to the
 * manifest and lasts until vfy_manifest_free. */
struct vfy_mentry {
	char *path;
	uint64_t size;
	uint8_t sha256[32];
	int has_sha, has_size;
	char **canaries;
	size_t ncanaries;
};
const struct vfy_mentry *vfy_manifest_entry(const struct vfy_manifest *m,
    size_t i);
/* Index of the entry for rel, or -1. */
long vfy_manifest_find(const struct vfy_manifest *m, const char *rel);
/* Global canaries (not tied to an entry). */
size_t vfy_manifest_global_canaries(const struct vfy_manifest *m,
    char ***out);
const char *vfy_manifest_sha(const struct vfy_manifest *m);

#endif
