/*
 * bench_int.h - what the files of bench/ share: the run's state (key
 * setups, worker threads, groups of cells and their members), the
 * buffers, the loopback vault fixture and the per-thread CPU clocks.
 * Not for the CLI or the tests: they use bench.h.
 *
 * Ownership: one struct run lives for one atb_run / atb_run_limits call
 * (run.c) and owns everything reachable from it (key setups, workers,
 * buffers, the vault, the temporary directory); struct group and its
 * members live for one group (group.c).  Pointers between them are
 * borrowed: a worker's R/G/M point at the run, the group and the
 * member it is working for, valid while the job runs.
 */
#ifndef ATR_BENCH_INT_H
#define ATR_BENCH_INT_H

#include <limits.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "bench.h"
#include "envelope.h"
#include "key.h"

#define POOL_PER_KEY_BYTES (16U * 1024U * 1024U)
#define POOL_MAX_OBJECTS 256U
#define POOL_MAX_REMOTE 16U
#define KCACHE_CAP 16U
#define MIN_OPS 2U
#define REF_MIN_OPS 3U

/* ---- clocks (hist.c) ------------------------------------------------- */

/* CLOCK_THREAD_CPUTIME_ID and CLOCK_PROCESS_CPUTIME_ID in ns; 0 when the
 * clock cannot be read.  Wall time is core/util.h's atr_now_ns. */
uint64_t atb_thread_cpu_ns(void);
uint64_t bn_process_cpu_ns(void);

/* ---- big buffers (run.c) --------------------------------------------- */

/* Pages that belong to the buffer: bn_big_alloc maps them, bn_big_free
 * unmaps them (and is a no-op on a zeroed or freed buffer). */
struct bigbuf {
	uint8_t *p;
	size_t len;
};

/*
 * Anonymous memory with transparent huge pages where the kernel allows
 * them, touched with a non-zero pattern so no page fault is left for
 * the timed loops.
 */
enum atr_err bn_big_alloc(struct bigbuf *b, size_t len, uint8_t fill);
void bn_big_free(struct bigbuf *b);
/* Ciphertext bytes of an object of size bytes in frames of fs. */
size_t bn_obj_cap(uint64_t size, uint32_t fs);

/* ---- the run's state ----------------------------------------------- */

struct worker;
struct member;
struct group;
struct run;

/* A key setup: inner is opened by keyset.c and owned here; counted is
 * the counting wrapper around it (also owned), which the cells use. */
struct kset {
	char name[ATB_NAME_MAX];
	int vault;                 /* a key in the loopback vault */
	double vault_ms;           /* its added latency */
	struct atr_key *inner;
	struct atr_key *counted;
	int cmk;
	int remote;                /* not a local file key */
	enum atb_limit_kind wrap_ref, unwrap_ref;
	unsigned bits;             /* of the RSA reference */
	char pem[4096];            /* RSA private PEM path, for references */
};

/* A worker thread (or the main thread's pseudo-worker for set-up).  It
 * owns out, hdr, lat and kms (worker.c allocates and frees them); R, G
 * and M are borrowed; share and kc are the job's hierarchy state,
 * borrowed from the member's hstate or owned for one job when the
 * member keeps none. */
struct worker {
	struct run *R;
	struct group *G;
	struct member *M;
	unsigned idx;
	pthread_t th;
	struct bigbuf out;
	struct bigbuf in;          /* --io decrypt: the file read back */
	uint64_t io_seq;           /* --io encrypt: objects written */
	int no_io;                 /* the set-up worker: memory only */
	struct atr_header *hdr;
	struct atb_hist *lat, *kms;
	uint64_t seconds_ns, min_ops;
	uint64_t ops, kms_calls, kms_errors, hits, misses;
	uint64_t op_errors;        /* ops a key service failed (counted) */
	enum atr_err last_err;
	char last_detail[256];
	uint64_t ns[ATB_PH__COUNT];
	uint64_t cpu_ns;
	uint64_t t_start, t_stop;  /* this thread's measured interval */
	struct atr_share *share;
	uint64_t share_born, share_uses, share_bytes;
	struct atr_kcache *kc;
	size_t next_obj;
	enum atr_err err;
	char detail[256];
};

/* An object of a pool: its place in the run's pool buffer. */
struct pobj {
	size_t off, len;
};

/* The ciphertexts of one key setup for a group: objs is owned (freed
 * with the group), ks borrowed from the run. */
struct pool {
	struct kset *ks;
	struct pobj *objs;
	size_t nobj;
};

/*
 * A thread's hierarchy state: its intermediate key or cached DEK and its
 * decrypt-side key cache (both owned, freed with the member).  It lives
 * for the whole cell (warm-up and repetitions), as in a long-running
 * service, so a rotation happens when the policy says, not at every
 * repetition's start.
 */
struct hstate {
	struct atr_share *share;
	uint64_t born, uses, bytes;
	struct atr_kcache *kc;
	uint64_t kc_unwraps, kc_hits;   /* counters already reported */
};

/* One cell of a group while it runs.  The arrays and histograms are
 * owned (group.c allocates, member_free frees); ks, cell (in the
 * results) and pool (in the group) are borrowed. */
struct member {
	struct kset *ks;
	struct hstate *hs;         /* one per thread; NULL: fresh per job */
	unsigned threads;
	struct atb_cell *cell;
	struct pool *pool;
	double *rep_ops, *rep_lim, *rep_gcm, *rep_kek;
	double *rep_cpu, *rep_gcm_cpu, *rep_kek_cpu;  /* CPU ns per op */
	double *rep_io, *rep_io_cpu;  /* --io: the storage reference (ns) */
	/* The group's round each repetition ran in: ratios between members
	 * pair repetitions of the same round (--until-quiet rounds run only
	 * some members). */
	unsigned *rep_round;
	unsigned nrep, cap;        /* repetitions recorded, array length */
	int sit_out;               /* not in the current --until-quiet round */
	unsigned extra;            /* repetitions --until-quiet added */
	struct atb_hist *lat, *kms;
	uint64_t ops, kms_calls, kms_errors, hits, misses, cpu_ns, wall_ns;
	uint64_t ns[ATB_PH__COUNT];
	uint64_t kv_attempts, kv_retries, kv_throttled;
	uint64_t srv_requests, srv_throttled;
	uint64_t op_errors;
	enum atr_err last_err;
	char last_detail[256];
	int failed;
};

/* Cells that differ only by key setup and thread count; m and the
 * pools' objects are owned by group.c for the group's run. */
struct group {
	enum atb_hier hier;
	enum atb_op op;
	uint64_t size;
	struct member *m;
	size_t nm;
	struct pool pools[ATB_MAX_KEYS];
	size_t npools;
};

/* One run.  cfg is the caller's, borrowed for the call; res is the
 * results being filled (handed to the caller at the end, or freed). */
struct run {
	const struct atb_config *cfg;
	struct atb_results *res;
	uint32_t fs;
	unsigned cores;
	struct kset ks[ATB_MAX_KEYS];
	size_t nks;
	char tmpdir[256];
	struct bigbuf pt, scratch, pool, refout;
	size_t max_obj;            /* ciphertext bytes of the largest object */
	struct worker w[ATB_MAX_WORKERS];
	unsigned nw;
	struct worker setup;       /* the main thread's pseudo-worker */
	struct atb_refs *refs;
	/* The workers' jobs: a generation number, a ready count, a start
	 * gate and a done count, all under mu. */
	pthread_mutex_t mu;
	pthread_cond_t cv, done_cv;
	uint64_t gen;
	unsigned nactive, ready, ndone, started;
	int go, quit;
	/* The loopback vault, when a key setup needs it. */
	struct atb_vault *kv;
	char kv_faults[512];      /* the spec in force */
	int kv_token_set;         /* we set ATREST_AZURE_TOKEN */
	char kv_keys[4][ATR_URI_MAX]; /* created keys' URIs, by size */
	unsigned kv_bits[4];
	size_t done, total;
	/* A key service refused the credential (ATR_ERR_UNAUTHORIZED): the
	 * run ends with that error rather than skipping cell after cell
	 * (group.c); halt_why is the credential's one-line detail. */
	int halted;
	char halt_why[512];
	/* --until-quiet: seconds left for the groups still to run, and how
	 * many of them there are (group.c shares the time out). */
	double quiet_left;
	size_t groups_left;
	/* The caller's stop callback said stop (an interrupt): the run
	 * ends between two repetitions, through its normal clean-up. */
	int stopped;
	/* --io DIR: the run's own directory in DIR (io_path, removed with
	 * everything in it by bn_io_close), open as io_fd; -1 in memory. */
	int io_fd;
	char io_path[PATH_MAX];
	char io_fs[32];            /* atb_fs_name of DIR's statfs f_type */
	unsigned long io_magic;
};

/* ---- run.c and results.c ------------------------------------------- */

/* Appends a formatted line (strdup'd, owned by the list) to a warning
 * or note list; on no memory the line is dropped (results.c). */
void bn_add_text(char ***list, size_t *n, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
#define WARN(R, ...) \
	bn_add_text(&(R)->res->warnings, &(R)->res->nwarnings, __VA_ARGS__)
#define NOTE(R, ...) \
	bn_add_text(&(R)->res->notes, &(R)->res->nnotes, __VA_ARGS__)

/* Calls the configured progress callback with what (borrowed; run.c). */
void bn_progress(struct run *R, const char *what);

/* ---- key setups (keyset.c) ------------------------------------------- */

/* The worker whose KEK calls the counting wrapper records (NULL: none);
 * set by each worker thread and by the set-up code. */
extern _Thread_local struct worker *bn_tls_worker;

/* Opens every configured key setup into R->ks (a vault spec becomes one
 * setup per latency); a vault that does not start is a note when the
 * vault is optional. */
enum atr_err bn_ksets_open(struct run *R);
/* Closes every key setup, then stops the loopback vault and removes the
 * run's temporary directory (ephemeral keys, the vault's state). */
void bn_ksets_close(struct run *R);
/* Removes path and what is below it (8 levels at most), never
 * following a symbolic link; depth is 0 for the top. */
void bn_rm_tree(const char *path, int depth);
/* Sets the vault faults for the member's key setup (NULL: none). */
void bn_vault_faults_for(struct run *R, const struct kset *ks);
/* Client counters (attempts, retries, throttled) and server counters
 * (requests, throttled). */
void bn_kv_snapshot(struct run *R, uint64_t kv[3], uint64_t sv[2]);

/* ---- workers (worker.c) ---------------------------------------------- */

/* One object through the envelope, timed into w->ns: encrypt the
 * plaintext's first G->size bytes into w->out (*len bytes), or decrypt
 * the member's next pool object into w->out. */
enum atr_err bn_op_encrypt(struct worker *w, uint64_t t0, uint64_t *t_end,
    size_t *len);
enum atr_err bn_op_decrypt(struct worker *w, uint64_t t0, uint64_t *t_end);
void bn_worker_reset(struct worker *w, struct group *G, struct member *M);
/* Allocates the worker's buffers (out of out_cap bytes), pre-faulted. */
enum atr_err bn_worker_alloc(struct worker *w, struct run *R, unsigned idx,
    size_t out_cap);
void bn_worker_free(struct worker *w);
/* Starts R->nw worker threads; bn_workers_stop joins those started. */
enum atr_err bn_workers_start(struct run *R, size_t out_cap);
void bn_workers_stop(struct run *R);
/*
 * One repetition of a member: its threads run for `seconds`.  With
 * record, the counters and histograms go into the member.
 */
enum atr_err bn_run_rep(struct run *R, struct group *G, struct member *M,
    double seconds, int record, double *ops_per_s, double *cpu_per_op);

/* ---- storage (io.c) -------------------------------------------------- */

/* A thread's encrypt objects cycle through at most IO_RING_MAX file
 * names and IO_RING_BYTES, overwritten through the atomic rename. */
#define IO_RING_MAX 4U
#define IO_RING_BYTES (64ULL * 1024U * 1024U)

/* With cfg->io_dir: checks DIR (a directory), records its filesystem
 * and creates the run's directory in it; a no-op without. */
enum atr_err bn_io_open(struct run *R);
/* Removes the run's directory and everything in it (no-op when none). */
void bn_io_close(struct run *R);
/* Names in a thread's ring for objects of size bytes (1..IO_RING_MAX). */
unsigned bn_io_ring(uint64_t size);
/* The file name of encrypt object seq of a thread, of pool pool's
 * object obj (decrypt); out is the caller's (cap bytes). */
void bn_io_enc_name(unsigned thread, uint64_t seq, uint64_t size, char *out,
    size_t cap);
void bn_io_pool_name(size_t pool, size_t obj, char *out, size_t cap);
/* The cells' write (atr_out_beginat ... atr_out_commit, as `atrest
 * encrypt`) and read (open, fstat, read, as `atrest decrypt`) of name
 * in dirfd; *len = bytes read (at most cap). */
enum atr_err bn_io_write_obj(int dirfd, const char *name, const uint8_t *p,
    size_t len);
enum atr_err bn_io_read_obj(int dirfd, const char *name, uint8_t *buf,
    size_t cap, size_t *len);
/* The storage limit's: open(tmp, O_CREAT | O_TRUNC), write, then with
 * durable fsync, rename to name (when it differs) and fsync of the
 * directory; and open, read len bytes, close. */
enum atr_err bn_io_plain_write(int dirfd, const char *tmp, const char *name,
    const uint8_t *p, size_t len, int durable);
enum atr_err bn_io_plain_read(int dirfd, const char *name, uint8_t *buf,
    size_t len);
/* Writes back everything dirty on dirfd's filesystem (syncfs), so that
 * no writeback of set-up files runs while cells are timed. */
enum atr_err bn_io_sync(int dirfd);
/* Before a group's cells: checks the write and read paths on one pool
 * object and writes the decrypt cells' inputs (untimed).  After: removes
 * the group's files. */
enum atr_err bn_io_group_files(struct run *R, struct group *G);
void bn_io_group_clean(struct run *R, struct group *G);
/* 1 when the caller asked the run to stop (sets R->stopped). */
int bn_stop_check(struct run *R);

/* ---- groups (group.c) ------------------------------------------------ */

/* Runs every group of the matrix, filling R->res->cells. */
enum atr_err bn_run_groups(struct run *R);

/* ---- results (results.c) --------------------------------------------- */

/* Copies the configuration as run into res (R->res = res). */
void bn_results_begin(struct run *R, struct atb_results *res);
void bn_cell_init(struct atb_cell *c, const struct group *G,
    const struct member *M);
/* The member's cell from its repetitions (after the last one). */
void bn_member_finish(struct run *R, struct group *G, struct member *M);
/* Ratios between members of a group, per repetition. */
void bn_group_ratios(struct group *G);
/* 1 when the member's repetitions are quiet (struct atb_config,
 * until_quiet): enough for the U test at alpha, and the spread of ops/s,
 * vs_limit and vs_limit_cpu each within noise_pct. */
int bn_member_quiet(const struct run *R, const struct member *M);
/* Warnings about the machine and the cells, once the run is done. */
void bn_run_warnings(struct run *R);

/* ---- the loopback Key Vault (vault.c, vault_key.c) ------------------- */

/* An in-process vault/kv_server.h: *out is owned by the caller, freed by
 * atb_vault_stop.  state_dir is borrowed for the call.  The URL and CA
 * path strings are the vault's, valid until atb_vault_stop. */
struct atb_vault;
enum atr_err atb_vault_start(const char *state_dir, int limits,
    double limit_scale, struct atb_vault **out);
const char *atb_vault_url(const struct atb_vault *v);
const char *atb_vault_ca(const struct atb_vault *v);
/* spec (docs/VAULT.md grammar) is borrowed for the call. */
enum atr_err atb_vault_set_faults(struct atb_vault *v, const char *spec);
void atb_vault_stats(struct atb_vault *v, uint64_t *requests,
    uint64_t *throttled);
void atb_vault_stop(struct atb_vault *v);   /* NULL is a no-op */
/* Creates an RSA key NAME (wrapKey, unwrapKey) and writes its URI into
 * uri (cap bytes, the caller's); the strings are borrowed. */
enum atr_err atb_vault_create_key(const char *url, const char *ca_file,
    const char *name, unsigned bits, char *uri, size_t cap);
/* Enables or disables version `version` of key `name` (PATCH
 * attributes.enabled); the strings are borrowed. */
enum atr_err atb_vault_set_enabled(const char *url, const char *ca_file,
    const char *name, const char *version, int enabled);
/* Process-wide Key Vault client counters (all threads). */
void atb_kv_counters(uint64_t *attempts, uint64_t *retries,
    uint64_t *throttled);

/* v as a JSON number, or null when NaN or infinite (JSON has neither);
 * one definition for the bench results and the revocation table. */
struct cJSON;
void atb_json_num(struct cJSON *o, const char *name, double v);

#endif
