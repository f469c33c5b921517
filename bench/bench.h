/*
 * bench.h - `atrest bench`: envelope encryption with customer-managed
 * keys (CMK) against service-managed keys (SMK), next to the machine's
 * own limits measured in the same run (docs/BENCH.md).
 *
 * A cell is key setup x hierarchy x object size x operation x threads.
 * Cells that differ only by key and thread count form a group; the
 * repetitions of a group are interleaved (rep 1 of every member, then
 * rep 2, ...), each followed by the reference measurements its limit
 * needs, so that a burst of host slowness hits a cell, its CMK/SMK
 * partner and its reference alike and the per-repetition ratios stay
 * meaningful.  Every cell reuses the verified paths: atr_enc_new /
 * atr_enc_frame / atr_header_parse / atr_dec_new / atr_dec_frame, with
 * the key behind a counting wrapper of struct atr_key.
 *
 * Nothing here prints to stdout or exits; report.c writes to the FILE *
 * the caller gives it and cli/cmd_bench.c decides what goes where.
 *
 * Ownership, for every pointer below: a pointer argument is borrowed
 * for the call only, and an out-parameter struct or buffer is the
 * caller's, unless the declaration says otherwise.  What the bench
 * allocates for the caller (struct atb_results, struct atb_refs, the
 * rows of struct atb_cmp, atb_json_string's text) is freed by the
 * caller with the function named next to it.  Returned names (const
 * char *) are static strings.  What bench/ shares internally is in
 * bench_int.h.
 */
#ifndef ATR_BENCH_H
#define ATR_BENCH_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "err.h"
#include "key.h"
#include "keys.h"

#define ATB_SCHEMA "atrest-bench/1"

/* ---- latency histogram (hist.c) ------------------------------------ */

/*
 * HDR-style log-linear buckets over the whole uint64_t range: values
 * below 2^(SUB_BITS+1) have exact buckets, above that each power of two
 * is split into 2^SUB_BITS equal buckets, so a recorded value is known
 * to within 1/128 (0.8 %) whatever its magnitude.  The memory is fixed
 * (58 * 128 counters), so millions of samples cost nothing extra.
 */
#define ATB_HIST_SUB_BITS 7U
#define ATB_HIST_SUB (1U << ATB_HIST_SUB_BITS)
#define ATB_HIST_BUCKETS ((64U - ATB_HIST_SUB_BITS + 1U) * ATB_HIST_SUB)

struct atb_hist {
	uint64_t count;
	uint64_t min, max;
	double sum;
	uint64_t c[ATB_HIST_BUCKETS];
};

/* h is the caller's (about 60 KB: keep it off small stacks). */
void atb_hist_reset(struct atb_hist *h);
void atb_hist_add(struct atb_hist *h, uint64_t v);
void atb_hist_add_n(struct atb_hist *h, uint64_t v, uint64_t n);
void atb_hist_merge(struct atb_hist *dst, const struct atb_hist *src);
/* The value at quantile q (0..1): the middle of the bucket holding the
 * ceil(q * count)-th smallest sample, clamped to [min, max].  q = 0 is
 * the exact minimum, q = 1 the exact maximum; 0 when empty. */
uint64_t atb_hist_quantile(const struct atb_hist *h, double q);
double atb_hist_mean(const struct atb_hist *h);
/* Bucket arithmetic, exposed for the tests. */
size_t atb_hist_index(uint64_t v);
uint64_t atb_hist_lower(size_t idx);
uint64_t atb_hist_upper(size_t idx);

/* ---- small statistics (hist.c) ------------------------------------- */

struct atb_stat {
	double med, min, max;
	unsigned n;
};

/* Median, min and max of v[0..n) (v, the caller's, is reordered; NULL
 * when n == 0).  n == 0 gives NaNs. */
void atb_stat_of(double *v, unsigned n, struct atb_stat *out);
/* (max - min) / median; 0 when the median is not positive. */
double atb_stat_spread(const struct atb_stat *s);
/*
 * The spread of repetitions v[0..n) (not reordered): the width of the
 * distribution-free 95 % confidence interval of their median, between
 * the k-th smallest and the k-th largest value, over the median.  k is
 * the largest with 2 P(Bin(n, 1/2) < k) <= 0.05, at least 1: up to 8
 * repetitions that is (max - min) / median; from 9 on the extremes
 * drop out one by one, so more repetitions narrow the spread of a
 * cell with a few slow ones instead of only ever widening it
 * (docs/BENCH.md, "Noise").  0 when n == 0 or the median is not
 * positive; INFINITY (noisy, the safe side) on no memory.
 */
double atb_rep_spread(const double *v, unsigned n);
/* k of atb_rep_spread for n repetitions (1 when n < 9). */
unsigned atb_rep_spread_k(unsigned n);

/* ---- the U test (utest.c) ------------------------------------------ */

/*
 * Two-sided Mann-Whitney U test of x[0..n1) against y[0..n2): *u1 is
 * U of x (the number of pairs with x > y, ties counting one half), *p
 * the p-value: exact when there are no ties and n1 + n2 <= 50, else
 * the normal approximation with tie and continuity corrections (as
 * scipy.stats.mannwhitneyu, which Google Benchmark's compare.py uses);
 * *exact says which.  -1 when a sample is empty or on no memory.
 */
int atb_utest(const double *x, unsigned n1, const double *y, unsigned n2,
    double *u1, double *p, int *exact);
/* The smallest two-sided p-value samples of n1 and n2 can ever give,
 * 2 / C(n1 + n2, n1): at or above alpha the test can never decide. */
double atb_utest_min_p(unsigned n1, unsigned n2);
/* The fewest repetitions n (per side, n against n) whose smallest
 * p-value is below alpha: 4 for 0.05, 5 for 0.01; ATB_REPS_MAX + 1
 * when none up to ATB_REPS_MAX is. */
unsigned atb_utest_min_reps(double alpha);
/* Quartiles of v[0..n) (not reordered), linear interpolation. */
int atb_quartiles(const double *v, unsigned n, double *q1, double *med,
    double *q3);

/* ---- environment fingerprint (env.c) ------------------------------- */

struct atb_env {
	char cpu_model[128];
	int aes, pclmulqdq, vaes, vpclmulqdq, avx2, avx512f, avx512ifma,
	    sha_ni;
	char cpu_flags[160];       /* the flags above that are set */
	unsigned cores;            /* online */
	unsigned long mem_total_mb;
	char openssl_version[128]; /* OpenSSL_version(OPENSSL_VERSION) */
	char openssl_build[1024];  /* CFLAGS, BUILT_ON, PLATFORM */
	char openssl_cpuinfo[192]; /* OPENSSL_ia32cap as libcrypto saw it */
	char openssl_header[64];   /* OPENSSL_VERSION_TEXT compiled against */
	char compiler[128];        /* __VERSION__ */
	char kernel[320];          /* uname: sysname release version machine */
	char thp[32];              /* transparent hugepage mode */
	char started[32];          /* UTC, ISO 8601 */
	double load_start, load_end; /* 1-minute load average */
	/* --io DIR: the directory as given and its filesystem (statfs
	 * f_type, named by atb_fs_name); "" and 0 when cells run in
	 * memory. */
	char io_dir[256];
	char io_fs[32];
	unsigned long io_magic;
};

/* The 1-minute load average (/proc/loadavg), NaN when unknown. */
double atb_loadavg(void);

enum atr_err atb_env_collect(struct atb_env *e);
/* Fills the CPU fields from /proc/cpuinfo text (borrowed for the call);
 * for the tests. */
void atb_env_parse_cpuinfo(const char *text, struct atb_env *e);

/* ---- configuration (config.c) -------------------------------------- */

enum atb_hier {
	ATB_PER_OBJECT = 0,    /* a new DEK per object, wrapped by the KEK */
	ATB_INTERMEDIATE = 1,  /* KEK wraps an intermediate key (S3 Bucket Keys) */
	ATB_CACHED = 2,        /* DEK cache (ESDK caching CMM) */
	ATB_HIER__COUNT
};

enum atb_op {
	ATB_ENCRYPT = 0,
	ATB_DECRYPT = 1,
	ATB_OP__COUNT
};

/* Phases of one operation (microseconds per op in the results). */
enum atb_phase {
	ATB_PH_DEK = 0,   /* encrypt: DEK, ids, HKDF, header MAC, GCM setup;
	                   * decrypt: header parse, HKDF, commitment, MAC */
	ATB_PH_WRAP,      /* KEK wrap calls (the counting wrapper) */
	ATB_PH_UNWRAP,    /* KEK unwrap calls */
	ATB_PH_AEAD,      /* AES-256-GCM over the frames */
	ATB_PH_IO,        /* --io: the object's file written (temp file,
	                   * fsync, rename, directory fsync) or read back;
	                   * 0 in memory */
	ATB_PH_OTHER,     /* the rest: header copy, frees, hierarchy upkeep */
	ATB_PH__COUNT
};

#define ATB_MAX_KEYS 16U
#define ATB_MAX_SIZES 16U
#define ATB_MAX_THREADS 8U     /* entries in the thread list */
#define ATB_MAX_WORKERS 256U   /* threads in one cell */
#define ATB_NAME_MAX 160U
#define ATB_MAX_TTLS 8U

/*
 * Every pointer in the configuration is the caller's, borrowed: the
 * strings must outlive atb_run, and vault_faults and limit_filter must
 * also outlive the results, whose copy of the configuration (cfg) keeps
 * pointing at them.
 */
struct atb_config {
	/* Key setups: "smk", "rsa-2048", "rsa-3072", "rsa-4096" (ephemeral
	 * keys generated into a temporary directory) or any key URI. */
	const char *keys[ATB_MAX_KEYS];
	size_t nkeys;
	int hier[ATB_HIER__COUNT];   /* 1 = run this hierarchy */
	int ops[ATB_OP__COUNT];
	uint64_t sizes[ATB_MAX_SIZES];
	size_t nsizes;
	unsigned threads[ATB_MAX_THREADS];
	size_t nthreads;
	double seconds;              /* measured time per cell and repetition */
	double warmup;               /* seconds of warm-up per cell */
	unsigned reps;
	uint32_t frame_size;         /* 0 = ATR_FRAME_DEFAULT */
	/* intermediate: a new intermediate key every N objects and/or T s */
	uint64_t ik_every;
	double ik_seconds;
	/* cached: an entry is retired at max age, max uses or max bytes */
	double cache_max_age;
	uint64_t cache_max_uses;
	uint64_t cache_max_bytes;
	/* The decrypt-side key cache's lifetime (s, > 0; core/envelope.h):
	 * the first value for the matrix, every value for --revocation. */
	double cache_ttl[ATB_MAX_TTLS];
	size_t ncache_ttl;
	/* --revocation: seconds of workload before the disable, and the
	 * most to wait after it for the workloads to stop succeeding. */
	double rev_before;
	double rev_window;
	double noise_pct;            /* spread above which a cell is noisy */
	/*
	 * --until-quiet: seconds (0: off) the run may spend, over the whole
	 * matrix, on more repetitions of the cells that are not quiet: each
	 * extra round of a group runs one more repetition of every such
	 * member, then the references, as the first rounds did.  A cell is
	 * quiet when it has the repetitions a U test at alpha needs
	 * (atb_utest_min_reps) and the spread (atb_rep_spread) of its ops/s,
	 * vs_limit and vs_limit_cpu is each at most noise_pct.
	 */
	double until_quiet;
	double alpha;                /* --alpha, 0.05 */
	/* The loopback Key Vault (key setup "vault" or "vault:rsa-N"):
	 * one setup per added latency (ms), extra faults (docs/VAULT.md
	 * grammar, e.g. "429=0.05"), Azure's service limits on or off.
	 * vault_optional: skip the vault setups with a note when the vault
	 * cannot start (the embedded defaults) instead of failing. */
	double vault_latency_ms[ATB_MAX_KEYS];
	size_t nvault_latency;
	const char *vault_faults;
	int vault_limits;
	double vault_limit_scale;
	int vault_optional;
	int quick;                   /* recorded in the results */
	const char *limit_filter;    /* measure only limits whose name holds it */
	/* --io DIR (NULL: cells run in memory): objects go through files
	 * in a directory the run creates in DIR and removes at the end;
	 * the storage limits io-write-N / io-read-N join each cell's. */
	const char *io_dir;
	/* Asked between repetitions (may be NULL): non-zero ends the run
	 * early with ATR_ERR_IO "interrupted", through its clean-up. */
	int (*stop)(void *arg);
	void *stop_arg;
	struct atr_key_opts key_opts; /* for URI keys (CA file, timeouts) */
	/* Called before each cell repetition (done = repetitions finished)
	 * and once at the end with what = ""; may be NULL.  what is
	 * borrowed for the call; progress_arg is passed back as is. */
	void (*progress)(void *arg, size_t done, size_t total,
	    const char *what);
	void *progress_arg;
};

/* Defaults: the embedded matrix that runs in about a minute and a half (the key
 * names are static strings). */
void atb_config_default(struct atb_config *c);
/* The --quick matrix: small, for CI and the end-to-end test. */
void atb_config_quick(struct atb_config *c);

const char *atb_hier_name(enum atb_hier h);
const char *atb_op_name(enum atb_op o);
const char *atb_phase_name(enum atb_phase p);
int atb_hier_parse(const char *s, enum atb_hier *out);   /* 0 ok */
int atb_op_parse(const char *s, enum atb_op *out);       /* 0 ok */

/* ---- machine limits (limits.c) ------------------------------------- */

enum atb_limit_kind {
	ATB_L_GCM_SEAL = 0,   /* one object: nonce, update, final, tag */
	ATB_L_GCM_OPEN,
	ATB_L_GCM_STREAM,     /* EVP_EncryptUpdate only, as `openssl speed` */
	ATB_L_RSA_PUB,        /* RSA-OAEP-256 encrypt of 64 bytes */
	ATB_L_RSA_PRIV,       /* RSA-OAEP-256 decrypt */
	ATB_L_KWP_WRAP,       /* AES-256 KWP of 64 bytes (RFC 5649) */
	ATB_L_KWP_UNWRAP,
	ATB_L_HKDF,           /* HKDF-SHA-256, 96 bytes out */
	ATB_L_HMAC,           /* HMAC-SHA-256 of a 200-byte header */
	ATB_L_RAND,           /* RAND_bytes, 32 bytes */
	ATB_L_GCM_KEY,        /* AES-256-GCM context set-up (key schedule) */
	ATB_L_EMPTY,          /* the harness: an op that does nothing */
	ATB_L_IO_WRITE,       /* --io: write, fsync, rename, directory fsync */
	ATB_L_IO_READ,        /* --io: open, read, close (page cache warm) */
	ATB_L__COUNT
};

struct atb_limit {
	enum atb_limit_kind kind;
	uint64_t size;        /* bytes for GCM kinds */
	unsigned bits;        /* RSA modulus bits */
	char name[48];
	struct atb_stat ns_per_op;   /* over repetitions */
	double cpu_ns_per_op;        /* median thread CPU time per op */
	double ops_per_s;     /* from the median */
	double mb_per_s;      /* 10^6 B/s, GCM kinds */
};

struct atb_refs;  /* state for reference measurements */

/*
 * The buffers are the caller's, pre-faulted, each at least cap + 16
 * bytes: in is only read, out and scratch are written.  They are
 * borrowed until atb_refs_free, which frees *out_refs (owned by the
 * caller).
 */
enum atr_err atb_refs_new(const uint8_t *in, uint8_t *out, uint8_t *scratch,
    size_t cap, struct atb_refs **out_refs);
/* Uses the RSA private key in a PEM file (the path is borrowed for the
 * call) for the RSA references of its size instead of generating one.
 * ATR_ERR_KEY when it is not one. */
enum atr_err atb_refs_load_rsa(struct atb_refs *r, const char *pem_path);
void atb_refs_free(struct atb_refs *r);
/*
 * Runs one reference for at least `seconds` (and at least min_ops ops):
 * returns the mean wall-clock nanoseconds per op in *ns and the mean
 * thread CPU nanoseconds per op in *cpu_ns (may be NULL).  RSA kinds
 * generate (once) and reuse a key of `bits`.
 */
enum atr_err atb_ref_measure(struct atb_refs *r, enum atb_limit_kind kind,
    uint64_t size, unsigned bits, double seconds, uint64_t min_ops,
    double *ns, double *cpu_ns);
const char *atb_limit_kind_name(enum atb_limit_kind k);
/* Writes the limit's name ("aes-256-gcm-seal-1024", "rsa-3072-public") into
 * out (cap bytes, the caller's). */
void atb_limit_name(enum atb_limit_kind k, uint64_t size, unsigned bits,
    char *out, size_t cap);
/* The storage references (ATB_L_IO_*) write and read files in the
 * directory dirfd (borrowed, open until atb_refs_free); without it
 * they fail with ATR_ERR_USAGE. */
void atb_refs_set_io(struct atb_refs *r, int dirfd);
/* A filesystem's name for a statfs(2) f_type ("tmpfs", "xfs", ...;
 * "unknown"): a static string. */
const char *atb_fs_name(unsigned long magic);
/*
 * A cell's limit in ops/s (docs/BENCH.md, "Limits and ratios"): eff
 * threads, each needing the raw AEAD time, the KEK time and the storage
 * time (0 in memory) of one object, in ns:
 *	eff * 1e9 / (aead_ns + kek_ns + io_ns)
 * NaN when a time is NaN or negative or the sum is not positive.
 */
double atb_limit_ops_per_s(double aead_ns, double kek_ns, double io_ns,
    double eff);
/* Cost of one clock_gettime(CLOCK_MONOTONIC), in ns. */
double atb_clock_cost_ns(void);

/* ---- runs and results (run.c, results.c, targets.c) ---------------- */

/* Most repetitions of a cell (--reps 1..100). */
#define ATB_REPS_MAX 100U
#define ATB_CDF_POINTS 24U
/* Quantiles stored for each cell's latency CDF (charts, JSON). */
extern const double atb_cdf_q[ATB_CDF_POINTS];

struct atb_cell {
	char key[ATB_NAME_MAX];       /* "smk", "rsa-3072" or the URI */
	char key_desc[ATR_DESC_MAX];
	int cmk;                      /* 1 customer-managed */
	enum atb_hier hier;
	uint64_t size;
	enum atb_op op;
	unsigned threads;
	int skipped;
	char note[200];
	unsigned reps;
	uint64_t ops;                 /* measured ops, all repetitions */
	/* Ops a key service failed past the client's retries (throttled,
	 * timed out, unreachable): counted, the cell goes on; the note
	 * gives the last reason. */
	uint64_t op_errors;
	struct atb_stat ops_per_s;    /* per repetition */
	struct atb_stat mb_per_s;
	double p50_us, p90_us, p99_us, p999_us, max_us, min_us, mean_us;
	float cdf_us[ATB_CDF_POINTS];
	uint64_t kms_calls, kms_errors;
	double kms_calls_per_op;
	double kms_per_s;             /* KEK calls per second of wall time */
	/* Key Vault cells: HTTP attempts, retries and 429s the client saw,
	 * requests and throttles the loopback server counted. */
	uint64_t kms_attempts, kms_retries, kms_throttled;
	uint64_t vault_requests, vault_throttled;
	double vault_latency_ms;      /* added latency; < 0 not a vault cell */
	double kms_p50_us, kms_p99_us, kms_max_us;
	double cache_hit_rate;        /* < 0: not applicable */
	double cpu_us_per_op;
	/* Process CPU time (every thread: the workers and an in-process
	 * service such as the loopback vault) / (wall * threads). */
	double cpu_util;
	double phase_us[ATB_PH__COUNT];
	/* The limit: raw AES-256-GCM at this size plus the KEK operation the
	 * hierarchy needs per object (plus, with --io, the storage limit of
	 * the size), measured next to each repetition, times
	 * min(threads, cores): atb_limit_ops_per_s. */
	double limit_aead_us, limit_kek_us, limit_ops_per_s;
	/* --io: the cell ran through files (io), its storage limit per op
	 * (io-write-N or io-read-N; NaN in memory) is in its limit. */
	int io;
	double limit_io_us;
	struct atb_stat vs_limit;     /* cell ops/s / limit ops/s */
	/* The same on CPU time: limit CPU ns per op / cell CPU ns per op.
	 * Time slices lost to other processes do not count, so it holds on
	 * a busy shared machine (a CI runner) where wall time does not. */
	struct atb_stat vs_limit_cpu;
	/* Best-of-repetitions versions: the fastest repetition of the cell
	 * over the fastest of its reference.  Noise from other processes
	 * only ever slows a repetition down, so the best ones are the
	 * steadiest estimate on a shared machine. */
	double vs_limit_best, vs_limit_cpu_best;
	double ops_per_cpu_s;         /* 1 / CPU time per op */
	struct atb_stat vs_aead;      /* cell MB/s / raw GCM MB/s */
	struct atb_stat cmk_vs_smk;   /* n == 0 when not applicable */
	struct atb_stat vs_1thread;   /* n == 0 when not applicable */
	double spread;                /* of ops_per_s (atb_rep_spread) */
	int noisy;
	/* Quiet as --until-quiet means it (struct atb_config), whether or
	 * not the run re-ran anything; extra_reps: the repetitions
	 * --until-quiet added (reps counts them too). */
	int quiet;
	unsigned extra_reps;
	/* Every repetition's value, in the order they ran (nrep_v of
	 * them): what `bench compare` tests, not only the summary. */
	unsigned nrep_v;
	double rep_ops_per_s[ATB_REPS_MAX];
	double rep_vs_limit[ATB_REPS_MAX];
	double rep_vs_limit_cpu[ATB_REPS_MAX];
};

/* Owned by the caller after atb_run, with every array in it; freed by
 * atb_results_free. */
struct atb_results {
	struct atb_env env;
	/* The configuration as run: keys[] point into key_names, progress,
	 * progress_arg, key_opts.ca_file and key_opts.wrap_alg are NULL,
	 * vault_faults and limit_filter still point at the caller's strings
	 * (struct atb_config). */
	struct atb_config cfg;
	char key_names[ATB_MAX_KEYS][ATB_NAME_MAX];
	double clock_ns;              /* one clock_gettime */
	double empty_op_ns;           /* the measuring loop itself, per op */
	struct atb_limit *limits;
	size_t nlimits;
	struct atb_cell *cells;
	size_t ncells;
	char **warnings;              /* each line malloc'd, owned */
	size_t nwarnings;
	char **notes;                 /* each line malloc'd, owned */
	size_t nnotes;
	double wall_s, cpu_s;
	/* --until-quiet: seconds spent, cells re-run, repetitions added. */
	double quiet_s;
	size_t quiet_cells, quiet_reps;
};

/*
 * Runs the matrix.  cfg is borrowed (see struct atb_config).  On ATR_OK
 * *out holds the results (free with atb_results_free; NULL on error);
 * cells that cannot run (a public key asked to decrypt, a vault that is
 * not there) are marked skipped with a note.  Errors are setting-up
 * failures (a key that does not open, no memory).
 */
enum atr_err atb_run(const struct atb_config *cfg, struct atb_results **out);
/* Only the machine limits and the harness overhead (no cells). */
enum atr_err atb_run_limits(const struct atb_config *cfg,
    struct atb_results **out);
void atb_results_free(struct atb_results *r);   /* NULL is a no-op */

/* The targets that close the report (docs/BENCH.md, "Reading the
 * table"), measured, never asserted. */
struct atb_target {
	const char *name;     /* static */
	const char *want;     /* static */
	double value;     /* wall clock; NaN when the run lacks the cells */
	/* The same on CPU time (ops per CPU-second, CPU-time ratios): what
	 * a dedicated core would give when other jobs shared this one. */
	double value_cpu;
	double goal;
	int met, met_cpu; /* -1 unknown */
	char detail[512];
};
#define ATB_NTARGETS 9U
/* Fills the caller's t[] from r (borrowed for the call). */
void atb_targets(const struct atb_results *r,
    struct atb_target t[ATB_NTARGETS]);

/* ---- revocation latency (revocation.c) ------------------------------ */

/*
 * `atrest bench --revocation` (docs/BENCH.md, "Revocation latency"): per
 * hierarchy and cache TTL, a reader (decrypt) and a writer (encrypt)
 * run against a key in the loopback vault; the key is disabled at a
 * known instant and each workload runs on until it has failed for a
 * margin or the window closes.  The latency is the time from the
 * disable (the vault's answer) to the workload's last success.
 */
#define ATB_REV_MAX_ROWS (2U * (1U + 2U * ATB_MAX_TTLS))

struct atb_rev_row {
	enum atb_hier hier;
	enum atb_op op;
	double ttl_s;            /* reader's cache TTL; NaN: no cache */
	double lifetime_s;       /* writer's key lifetime; NaN: none */
	uint64_t ops_ok, ops_failed;
	uint64_t kms_calls;      /* KEK calls up to the last success */
	double ops_per_s;        /* successful ops / their wall time */
	double kms_calls_per_op;
	/* Last success after the disable, seconds; 0 when none came. */
	double latency_s;
	double window_s;         /* the most it was given after the disable */
	int censored;            /* still succeeding when the window closed */
	char last_error[48];     /* the failures' error name ("" none) */
};

/* The caller's (about 10 KB); filled by atb_run_revocation. */
struct atb_rev_results {
	char key_desc[ATR_DESC_MAX];
	uint64_t size;
	uint32_t frame_size;
	double before_s;         /* workload time before each disable */
	double margin_s;         /* failing this long ends a workload */
	double disable_ms_max;   /* slowest disable call (PATCH) */
	double ik_seconds, cache_max_age;
	struct atb_rev_row rows[ATB_REV_MAX_ROWS];
	size_t nrows;
	double wall_s;
};

/*
 * Runs the measurement for cfg's hierarchies (hier[]), cache TTLs
 * (cache_ttl[]), writer lifetimes (ik_seconds, cache_max_age), object
 * size (sizes[0]), rev_before and rev_window (0: the largest of TTL
 * and lifetime plus 3 s, at most 15 s).  Needs the loopback vault;
 * errors are set-up failures (the vault, the key, no memory).
 */
enum atr_err atb_run_revocation(const struct atb_config *cfg,
    struct atb_rev_results *out);
void atb_rev_print(FILE *f, const struct atb_rev_results *r);
/* path "-" is stdout; schema "atrest-bench-revocation/1". */
enum atr_err atb_rev_write_json(const struct atb_rev_results *r,
    const char *path);

/* ---- reports (report.c) -------------------------------------------- */

/* f is the caller's stream, written to and left open. */
void atb_print_env(FILE *f, const struct atb_results *r);
void atb_print_limits(FILE *f, const struct atb_results *r);
void atb_print_table(FILE *f, const struct atb_results *r);
void atb_print_targets(FILE *f, const struct atb_results *r);
void atb_print_warnings(FILE *f, const struct atb_results *r);
/* path "-" is stdout; otherwise written through a temporary file and
 * renamed into place. */
enum atr_err atb_write_json(const struct atb_results *r, const char *path);
enum atr_err atb_write_csv(const struct atb_results *r, const char *path);
/* The JSON text (malloc'd, caller frees); NULL on no memory. */
char *atb_json_string(const struct atb_results *r);
/*
 * Writes data files, a gnuplot script and, when gnuplot is installed,
 * the PNG charts into dir.  *drawn is 1 when gnuplot ran, 0 when only
 * the data and script were written (note, the caller's note_cap bytes,
 * says why).
 */
enum atr_err atb_write_charts(const struct atb_results *r, const char *dir,
    int *drawn, char *note, size_t note_cap);

/* ---- compare (compare.c) ------------------------------------------- */

enum atb_verdict {
	ATB_V_OK, ATB_V_IMPROVED, ATB_V_REGRESSED,
	ATB_V_NOISY,      /* inconclusive: noise wider than the threshold */
	ATB_V_FEW,        /* inconclusive: too few repetitions for alpha */
};

struct atb_cmp_row {
	char key[ATB_NAME_MAX];
	char hier[16], op[16];
	uint64_t size;
	unsigned threads;
	int in_base, in_new;
	double base_ratio, new_ratio;    /* the metric's medians */
	double base_ops, new_ops;        /* ops/s medians (for context) */
	double change_pct;               /* of the median */
	/* Repetitions each side recorded (0: an older document with only
	 * the summary, so no rank test: summary_only). */
	unsigned base_n, new_n;
	int summary_only;
	double u, p;                     /* the U test; NaN when not run */
	int exact;                       /* p is exact, not approximated */
	/* The spread, (max - min) / median of the repetitions, in % (of
	 * the summary's min, max and median for a summary-only side). */
	double base_noise_pct, new_noise_pct;
	enum atb_verdict verdict;
	int regressed;                   /* verdict == ATB_V_REGRESSED */
};

/* Filled by atb_compare; rows is owned, freed by atb_cmp_free. */
struct atb_cmp {
	struct atb_cmp_row *rows;
	size_t nrows;
	size_t regressions, improved, missing, added;
	size_t noisy, few, summary_only;   /* inconclusive = noisy + few */
	double max_regression_pct;
	double alpha;
	/* Geometric mean of new/base over the compared cells: noise in
	 * single cells averages out, a change in common code does not. */
	double geomean_change_pct;
	double max_geomean_pct;          /* <= 0: not checked */
	int geomean_regressed;           /* geomean.verdict == REGRESSED */
	/*
	 * The geometric mean judged as a cell is (docs/BENCH.md, "The CI
	 * gate"): each side's repetition i gives one geometric mean over
	 * the geomean_cells cells that recorded at least i + 1 repetitions
	 * on both sides; base_n and new_n are how many such means each side
	 * has, p the U test between them, the noise their spread, and the
	 * verdict that of a cell against max_geomean_pct (change_pct is
	 * geomean_change_pct).  summary_only when no cell has repetitions
	 * on both sides: then the change alone decides, as before.  Only
	 * meaningful when max_geomean_pct > 0.
	 */
	struct atb_cmp_row geomean;
	size_t geomean_cells;
	int cpu;                         /* the metric, as atb_compare's */
	char base_env[200], new_env[200];
};

/*
 * Checks that a results document (JSON text) has the documented schema:
 * 0 when it does, -1 with a one-line reason in why (cap bytes, the
 * caller's) otherwise.
 */
int atb_json_check(const char *text, char *why, size_t cap);
/*
 * Compares two results files (JSON text) on one metric: 0 vs_limit
 * ("wall"), 1 vs_limit_cpu ("cpu"), 2 vs_limit_best ("wall-best"),
 * 3 vs_limit_cpu_best ("cpu-best").  Per cell (docs/BENCH.md, "The CI
 * gate"): the two-sided U test over the repetitions (vs_limit_reps or
 * vs_limit_cpu_reps) and the change of the metric's median; regressed
 * when p < alpha and the change is below -max_regression_pct, improved
 * likewise above it; inconclusive when the samples are too small for
 * p to ever reach alpha, or otherwise when either side's spread
 * ((max - min) / median) is wider than max_regression_pct; ok
 * otherwise.  A side without repetitions (an older document) is judged
 * on its summary (the spread of its _min and _max fields), no test.  The
 * run regressed when the geometric mean of new/base medians fell by more
 * than max_geomean_pct (<= 0: not checked) and the U test between the
 * two sides' per-repetition geometric means says p < alpha; a fall
 * without it is inconclusive (struct atb_cmp, geomean).  The texts are borrowed for the call; on error
 * *out holds no rows.
 */
enum atr_err atb_compare(const char *base_json, const char *new_json,
    double max_regression_pct, double max_geomean_pct, double alpha,
    int metric, struct atb_cmp *out);
/* "wall", "cpu", "wall-best", "cpu-best" -> 0..3, -1 when unknown. */
int atb_metric_parse(const char *s);
const char *atb_metric_name(int metric);
void atb_cmp_print(FILE *f, const struct atb_cmp *c);
/* The gate's verdict as an exit status: 1 a cell or the geometric mean
 * regressed; else 3 a cell or the checked geometric mean could not be
 * judged; else 0. */
int atb_cmp_status(const struct atb_cmp *c);
void atb_cmp_free(struct atb_cmp *c);   /* frees the rows, not c */

#endif
