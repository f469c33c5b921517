/*
 * verify.h - `atrest verify`: evidence that the configured key, and only
 * it, protects a store (docs/VERIFY.md).
 *
 * The engine walks one or more STOREs, runs every check of docs/VERIFY.md
 * over every file with a small worker pool, and fills a report: per check
 * a status, counters and findings (file, offset, code, severity, a
 * content-free message).  The report is then written as text, JSON
 * (schema "atrest-verify/1") or JUnit XML, and shard reports merge into
 * the report a single run would have produced.
 *
 * Like the layers below it, nothing here prints or exits: the CLI
 * (cli/cmd_verify.c) parses arguments, calls vfy_run()/vfy_merge(),
 * prints.
 *
 * Ownership.  A function that hands out an object through an out
 * parameter (a report, a manifest) allocates it; the caller frees it
 * with the matching *_free(), which accepts NULL.  On failure the out
 * parameter is set to NULL.  Every pointer passed in is borrowed for the
 * duration of the call only, unless its comment says otherwise; strings
 * that the result needs are copied.  Returned strings are static
 * (names) or belong to the object they were read from.
 */
#ifndef ATR_VERIFY_H
#define ATR_VERIFY_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "envelope.h"
#include "err.h"
#include "key.h"
#include "jwk.h"

#define VFY_SCHEMA "atrest-verify/1"

/* ---- checks, severities, statuses -------------------------------------- */

enum vfy_check {
	VFY_ENVELOPE = 0,
	VFY_RECIPIENTS,
	VFY_DECRYPT,
	VFY_NEGATIVE,
	VFY_PLAINTEXT,
	VFY_TAMPER,
	VFY_UNIQUENESS,
	VFY_POLICY,
	VFY_ROTATION,
	VFY_NCHECKS
};

enum vfy_sev { VFY_INFO = 0, VFY_WARN = 1, VFY_ERROR = 2 };
/* Policy levels: a severity, or "allow" (no finding at all). */
#define VFY_ALLOW (-1)

enum vfy_status { VFY_PASS = 0, VFY_WARNED, VFY_FAILED, VFY_SKIPPED };

/* Names and titles: static strings ("?" or a default when out of
 * range). */
const char *vfy_check_name(int check);    /* "envelope" */
const char *vfy_check_title(int check);   /* one line */
int vfy_check_from_name(const char *name); /* -1 when unknown */
const char *vfy_sev_name(int sev);         /* "error", "warning", "info" */
int vfy_sev_from_name(const char *name);   /* also "allow"; -2 unknown */
const char *vfy_status_name(int status);   /* "pass", "warn", "fail", "skip" */

/* ---- policy ------------------------------------------------------------ */

enum vfy_require_keys { VFY_REQ_ANY = 0, VFY_REQ_ALL, VFY_REQ_PRIMARY };

#define VFY_MAX_RECOVERY 8

/* Key types a policy may allow (vault.allowed_kty). */
#define VFY_KTY_RSA 1U
#define VFY_KTY_RSA_HSM 2U
#define VFY_KTY_OCT 4U
#define VFY_KTY_OCT_HSM 8U

/* Every field's default and meaning is in docs/VERIFY.md "Policy". */
struct vfy_policy {
	/* the built-in profile the rest overrides (docs/VERIFY.md
	 * "Profiles"): "default", "azure-cmk" or "strict" */
	char profile[16];
	/* algorithms */
	unsigned rsa_min_bits;        /* 3072: smaller is a warning */
	unsigned rsa_error_below;     /* 2048: smaller is an error */
	int oaep_sha1;                /* level of RSA-OAEP with SHA-1 stanzas */
	int aes_kw;                   /* level of RFC 3394 (unpadded) KW stanzas */
	unsigned tag_bits;            /* 128 */
	int require_commitment;       /* 1 */
	/* recipients */
	int require_cmk;              /* 1: an SMK-only object is an error */
	int allow_foreign;            /* 0: a stanza outside --key is an error */
	int require_keys;             /* enum vfy_require_keys */
	/* uniqueness */
	int shared_dek;               /* level of "N objects share a cached DEK" */
	uint64_t max_objects_per_shared_dek; /* 0: no limit */
	uint64_t kek_max_wraps;       /* 2^32 (SP 800-38D 8.3 bound) */
	double kek_warn_fraction;     /* 0.5 of the limit warns */
	/* plaintext */
	int scan_all;                 /* 1: scan every byte; 0: unproven bytes only */
	unsigned shingles_per_object; /* 4 */
	double chi2_z;                /* 6.0 (one-sided z of the chi-square bound) */
	uint64_t stat_min_bytes;      /* 1024 */
	uint64_t stat_max_bytes;      /* 4 MiB per object */
	int dek_scan;                 /* 1 */
	/* sampling: 1 in N objects (by a hash of the path; 1 = all, 0 = none) */
	unsigned tamper_header_sample; /* 32 */
	unsigned negative_sample;      /* 32 */
	unsigned drill_objects;        /* 16 */
	/* vault keys */
	int vault_require_enabled;    /* 1 */
	int vault_require_expiry;     /* 0 */
	unsigned vault_expiry_warn_days; /* 30 */
	unsigned vault_allowed_ops;   /* ATR_JWK_* (core/jwk.h) */
	char vault_recovery[VFY_MAX_RECOVERY][48];
	size_t vault_nrecovery;       /* the four purge-protected levels */
	unsigned vault_required_ops;  /* ATR_JWK_*: key_ops must hold (none) */
	unsigned vault_kty;           /* VFY_KTY_* allowed (all four) */
	/* rotation (also --current-only / --min-version) */
	int current_only;
	char min_version[128];
	/* the key's rotation policy (strict: 1, 365, 1, 1) */
	int rotation_require_policy;  /* an automatic Rotate action */
	unsigned rotation_max_days;   /* its period at most (0: any) */
	int rotation_require_expiry;  /* attributes.expiryTime set */
	int rotation_version_age;     /* no version in use older than it */
	/* report */
	unsigned max_findings;        /* kept per check (1000); all are counted */
};

/* A policy is a plain value (no pointers): the caller owns it. */
void vfy_policy_default(struct vfy_policy *p);
/* The built-in profile name into p (everything reset); ATR_ERR_CONFIG
 * naming the profiles when there is none of that name. */
enum atr_err vfy_policy_profile(const char *name, struct vfy_policy *p);
/* 1 when a vault key's recoveryLevel / kty meets p. */
int vfy_policy_recovery_ok(const struct vfy_policy *p, const char *level);
int vfy_policy_kty_ok(const struct vfy_policy *p, const char *kty);
/* The policy as --policy reads it, into f (the CLI's --print-policy);
 * 0, or -1 on a write error. */
int vfy_policy_print(const struct vfy_policy *p, FILE *f);
/*
 * Applies the overrides of a --policy JSON document (json, len bytes,
 * borrowed) onto p.  Unknown sections or keys and bad values are
 * ATR_ERR_CONFIG with a detail that names them; p may then hold some of
 * the overrides.
 */
enum atr_err vfy_policy_parse(const char *json, size_t len,
    struct vfy_policy *p);
/* The same for the file at path (at most 1 MiB). */
enum atr_err vfy_policy_load(const char *path, struct vfy_policy *p);

/* ---- manifest ---------------------------------------------------------- */

/*
 * A manifest lists the plaintext a store should hold:
 *   {"format": "atrest-manifest/1",
 *    "files": [{"path": "rel/path", "size": N, "sha256": "hex",
 *               "canaries": ["..."]}],
 *    "canaries": ["..."]}
 * Paths are relative to the STORE root.
 *
 * *out is a new manifest (the caller frees it with vfy_manifest_free);
 * it keeps copies of what it needs, not json.
 */
struct vfy_manifest;
enum atr_err vfy_manifest_load(const char *path, struct vfy_manifest **out);
enum atr_err vfy_manifest_parse(const char *json, size_t len,
    struct vfy_manifest **out);
void vfy_manifest_free(struct vfy_manifest *m);     /* NULL-safe */
size_t vfy_manifest_count(const struct vfy_manifest *m);
size_t vfy_manifest_canaries(const struct vfy_manifest *m);

/* ---- the decryptor under test ------------------------------------------ */

/*
 * The operations the checks drive.  vfy_lib_decryptor() returns a
 * static table of core/stream.h's; a test substitutes a deliberately
 * broken one to see the tamper check fail (format v1 has no
 * unauthenticated mode, so no stored object can plant that defect).
 * The workers call it from several threads at once.
 */
struct vfy_decryptor {
	enum atr_err (*dec_new)(const struct atr_header *h,
	    struct atr_key *const *keys, size_t nkeys,
	    const struct atr_dec_opts *opts, struct atr_dec **out,
	    size_t *which_key, size_t *which_stanza);
	enum atr_err (*dec_frame)(struct atr_dec *d, uint64_t index, int final,
	    const uint8_t *in, size_t in_len, uint8_t *out);
	void (*dec_free)(struct atr_dec *d);
};
const struct vfy_decryptor *vfy_lib_decryptor(void);

/* ---- running ----------------------------------------------------------- */

/* Passed to vfy_config.progress, valid during the call only. */
struct vfy_progress {
	uint64_t files_queued, files_done, bytes_done;
	int phase;  /* 0 walk+check, 1 rescan, 2 finishing */
};

/*
 * What a run checks.  Every pointer is the caller's, borrowed for the
 * whole of vfy_run(): nothing is freed and nothing is kept after it
 * returns (the report copies the store arguments, key URIs and ids, the
 * control URI and the manifest path).  The keys and the control key are
 * used from the worker threads at once (core/key.h allows it); the
 * callbacks are called from the thread that called vfy_run().
 */
struct vfy_config {
	const char *const *stores;
	size_t nstores;
	/* The allowed set; keys[0] is the primary (current) key. */
	struct atr_key *const *keys;
	size_t nkeys;
	/* Given control key (NULL: generated, one per algorithm family). */
	struct atr_key *control;
	const char *control_uri;
	const struct vfy_policy *policy;     /* NULL: defaults */
	const struct vfy_manifest *manifest; /* may be NULL */
	const char *manifest_path;
	/* --shard K/N (1-based K); n 0 or 1: the whole store. */
	unsigned shard_k, shard_n;
	int revocation_drill;
	/* Key of the DEK fingerprints (copied, at most 32 bytes used);
	 * NULL: random per run (then merged shard reports cannot compare
	 * DEKs across shards). */
	const uint8_t *fp_key;
	size_t fp_key_len;
	unsigned jobs;                       /* 0: online CPUs */
	/* Lifetime of the workers' unwrap caches, seconds (0: core's
	 * ATR_KCACHE_TTL_DEFAULT_S). */
	double cache_ttl;
	const struct vfy_decryptor *dec;     /* NULL: lib */
	void (*progress)(void *arg, const struct vfy_progress *p);
	void *progress_arg;
	/* Called with on = 1 before the revocation drill disables a key and
	 * with on = 0 after it re-enabled it: the CLI holds signals in
	 * between, so an interrupt cannot leave the key disabled. */
	void (*drill_guard)(void *arg, int on);
	void *drill_guard_arg;
	/* Polled by the drill between objects with drill_guard_arg (may
	 * be NULL): non-zero stops it early (the run is then incomplete);
	 * every version is restored all the same. */
	int (*drill_stop)(void *arg);
	/* --allow-empty: a run that verified no object may exit 0. */
	int allow_empty;
	/* Wall-clock start for the report's "run" section (0: now). */
	int64_t started;
};

struct vfy_report;

/*
 * Runs every check.  ATR_OK means a report was produced (which may hold
 * findings, or be incomplete because a file could not be read: see
 * vfy_report_exit()); anything else is a configuration error (bad
 * --min-version, no key) with a detail.  *out is a new report, the
 * caller's to free with vfy_report_free().
 */
enum atr_err vfy_run(const struct vfy_config *c, struct vfy_report **out);
void vfy_report_free(struct vfy_report *r);         /* NULL-safe */

/* Queries: r is borrowed; nothing returned points into it. */

/* 0 every check passed (warnings allowed), 1 an error finding, 2 the run
 * was incomplete (I/O or key service errors, a missing shard) or, unless
 * allow_empty, verified no object (no file, an empty shard). */
int vfy_report_exit(const struct vfy_report *r);
/* The credential's one-line failure when the run stopped because the
 * key service refused it (ATR_ERR_UNAUTHORIZED); NULL otherwise.  The
 * run is then incomplete (exit 2). */
const char *vfy_report_halted(const struct vfy_report *r);
int vfy_report_status(const struct vfy_report *r, int check);
uint64_t vfy_report_count(const struct vfy_report *r, int check, int sev);
/* 1 when the report holds at least one finding with this code
 * ("envelope.not-envelope"). */
int vfy_report_has(const struct vfy_report *r, const char *code);
/* Number of findings kept with this code. */
size_t vfy_report_count_code(const struct vfy_report *r, const char *code);
/* Stat by "check.name" (e.g. "decrypt.opened"); -1 when unknown. */
int64_t vfy_report_stat(const struct vfy_report *r, const char *name);

/* Writers.  Each writes to a temporary file and renames (path "-" is
 * stdout).  The text writer takes a FILE (borrowed, neither flushed nor
 * closed) so that the CLI decides about colour; o may be NULL (the
 * defaults); max_per_check findings are listed per check. */
enum atr_err vfy_write_json(const struct vfy_report *r, const char *path);
enum atr_err vfy_write_junit(const struct vfy_report *r, const char *path);
struct vfy_text_opts {
	int color;
	unsigned max_per_check;  /* 0: 5 */
	int verbose;             /* also list info findings */
};
void vfy_write_text(const struct vfy_report *r, FILE *f,
    const struct vfy_text_opts *o);

/*
 * Reads a report written by vfy_write_json (for merge) into a new report
 * (*out, freed with vfy_report_free).  Reports of other schemas are
 * ATR_ERR_FORMAT.
 */
enum atr_err vfy_report_load(const char *path, struct vfy_report **out);
/*
 * Combines shard reports (the same N, every K once, the same stores,
 * keys and policy) into the report of one run over the whole store.
 * The shards are borrowed and left as they were (the caller still frees
 * them); *out is a new report with copies of what it needs.
 */
enum atr_err vfy_merge(struct vfy_report *const *shards, size_t n,
    struct vfy_report **out);

/* ---- shard partition --------------------------------------------------- */

/* 64-bit FNV-1a of salt then the relative path: the shard and sampling
 * hash (stable across runs, machines and shard counts). */
uint64_t vfy_path_hash(const char *salt, const char *rel);
/* 1 when rel belongs to shard k of n (1-based). */
int vfy_in_shard(const char *rel, unsigned k, unsigned n);

/* ---- fixtures (docs/VERIFY.md "Fixtures") ------------------------------ */

struct vfy_fixture_opts {
	uint64_t seed;
	unsigned patients;     /* number of patient records files (CSV+JSON) */
	unsigned journeys;     /* customer-journey files (CSV+JSON) */
	unsigned blobs;        /* binary blobs */
	unsigned rows;         /* records per file */
	uint32_t frame_size;   /* edge sizes around it (0: 65536) */
	uint64_t big_bytes;    /* one extra large blob of this size (0: none) */
};
void vfy_fixture_defaults(struct vfy_fixture_opts *o);
/*
 * Writes a synthetic plaintext dataset under dir (created) and its
 * manifest (path, size, SHA-256, planted canaries) to manifest_path.
 * Deterministic for a seed.  *nfiles (may be NULL) gets the count.
 * (Here and below, every argument is borrowed for the call.)
 */
enum atr_err vfy_fixture_dataset(const char *dir, const char *manifest_path,
    const struct vfy_fixture_opts *o, unsigned *nfiles);

/*
 * Encrypts every file below in into the same relative path below out with
 * the given keys (kind 0: per-object DEKs), or with a share (kind 1
 * cached, 2 intermediate).
 */
enum atr_err vfy_fixture_encrypt_tree(const char *in, const char *out,
    struct atr_key *const *keys, size_t nkeys, int kind, uint32_t frame_size);
/* Encrypts one file. */
enum atr_err vfy_fixture_encrypt_file(const char *in, const char *out,
    struct atr_key *const *keys, size_t nkeys, const struct atr_share *share,
    uint32_t frame_size);

#endif
