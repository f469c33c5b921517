/*
 * vfy_engine.h - what the files of the engine (vfy_run) share, and only
 * they: the run, a worker's state, a queued file.
 *
 * The main thread walks the STOREs in deterministic order and queues
 * regular files (and the symlinks and special files it reports); workers
 * take them in any order.  Each worker keeps its own findings, counters,
 * coverage and object records, merged at the end by rules that do not
 * depend on who did what, so the report is the same for any number of
 * workers.  Per file, memory is bounded by the frame size: a header
 * buffer, two record buffers and a plaintext buffer (docs/VERIFY.md
 * "Scale and sharding").
 *
 * The stages a file goes through, one file each; each calls only into
 * the files listed before it:
 *
 *   worker.c     a worker's state and what every stage adds to it:
 *                findings, the rescan list and spill file, drill
 *                candidates
 *   plaintext.c  scan hits, byte statistics, unwrapped keys and
 *                shingles for the end phase
 *   header.c     recipients, coverage and rotation, from a header
 *   tamper.c     flipped bits in a header copy, mutated frames
 *   negative.c   control and impostor keys per object; the revocation
 *                drill
 *   split.c      the frames of one large object on several workers
 *   body.c       one file: open, classify, decrypt every frame, compare
 *                with the manifest
 *   pool.c       the queue, the walk that fills it, the worker threads,
 *                progress
 *   rescan.c     end phase: search what is not proven ciphertext for
 *                every key and shingle of the store
 *   config.c     the configuration into the report; findings about the
 *                configured keys themselves
 *   engine.c     vfy_run(): setup, the pass, the end phase, the report
 *
 * Pointers: the engine owns every worker and what it holds; a worker
 * owns its buffers, lists and spill file (eng_worker_free releases
 * them).  struct job strings are owned by whoever holds the job (the
 * queue, then the worker that took it).  E->c and what it points to are
 * the caller's, borrowed for the run.
 */
#ifndef ATR_VFY_ENGINE_H
#define ATR_VFY_ENGINE_H

#include <pthread.h>
#include <stdatomic.h>

#include <openssl/evp.h>

#include "vfy_int.h"

#define QUEUE_CAP 256
#define CHUNK (1U << 20)
#define MAX_SHINGLES 64
#define PROGRESS_NS 250000000LL
#define SPILL_BUF (256U * 1024U)

/* A file the walk listed.  path and rel are malloc'd. */
struct job {
	char *path;
	char *rel;
	int store;
	int type;              /* enum atr_walk_type */
};

struct queue {
	pthread_mutex_t mu;
	pthread_cond_t nonempty, nonfull;
	struct job v[QUEUE_CAP];
	size_t head, n;
	int done;
};

/* Something to search again once every key and shingle is known: a
 * whole file (path set), or a header spilled to the worker's spill file
 * (path NULL, at spill_off).  path and rel are malloc'd. */
struct rescan {
	char *path;
	char *rel;
	int store;
	uint64_t len;
	uint64_t spill_off;
};

/* An object opened through a vault key: a revocation drill candidate.
 * Strings malloc'd. */
struct cand {
	int store;
	char *rel;
	char *path;
	char *kid;
};

struct engine;
struct split;
struct spart;

struct worker {
	struct engine *E;      /* borrowed: the run */
	pthread_t th;
	struct vfy_flist f[VFY_NCHECKS];
	int64_t stats[VS__COUNT];
	struct vfy_covmap cov;
	struct vfy_objvec objs;
	/* hashes of unwrapped keys and shingles (wiped when freed) */
	struct vfy_winhash *dyn;
	size_t ndyn, capdyn;
	struct rescan *rs;
	size_t nrs, caprs;
	struct cand *cand;     /* every object opened through a vault key */
	size_t ncand, capcand;
	int incomplete;
	char why[256];
	/* capture wrappers around the configured keys (worker.c owns the
	 * wrappers, the caller the keys inside) */
	struct atr_key *wk[ATR_MAX_STANZAS];
	struct vfy_wkey *ww[ATR_MAX_STANZAS];
	uint8_t *hbuf;         /* ATR_HEADER_MAX: the header and what follows */
	uint8_t *rb;           /* one record, when it is not all in hbuf */
	size_t rbcap;
	uint8_t *pt;           /* one frame's plaintext (wiped when freed) */
	size_t ptcap;
	uint8_t *chunk;        /* CHUNK: reads of the rest of a file, and of
	                        * whole files in the end phase */
	uint8_t *sbuf;         /* one batch of frames of a split object */
	size_t sbufcap;
	struct atr_header *h, *h2;
	struct vfy_hist hist;
	EVP_MD_CTX *md;
	EVP_MD *sha;
	/* Headers of proven objects, appended to an unlinked temporary
	 * file: the end phase reads them back in sequence instead of
	 * opening every file again. */
	int spill_fd;
	uint8_t *spill_buf;
	size_t spill_n;
	uint64_t spill_len;
};

/* Versions of the primary vault key (--min-version). */
struct vver {
	struct vfy_vver *v;    /* malloc'd by vfy_vault_versions */
	size_t n;
	int64_t min_created;
};

struct engine {
	const struct vfy_config *c;
	const struct vfy_policy *p;     /* c->policy, or &pdef */
	struct vfy_policy pdef;         /* the defaults, when no policy */
	struct vfy_report *r;           /* owned until vfy_run hands it out */
	const struct vfy_decryptor *dec;
	struct vfy_pset *stat;          /* canaries: known before the walk */
	struct vfy_pset *dyn;           /* keys and shingles: after it */
	struct vfy_controls *ctl;
	uint8_t fkey[32];               /* DEK fingerprint key (wiped) */
	size_t fkey_len;
	atomic_uchar *mseen;            /* per manifest entry: found */
	struct { long entry; int k; } *canary_of;  /* by canary id */
	size_t ncanary;
	char current[ATR_KEYID_MAX + 1];
	struct vver vv;
	int drill_only;                 /* the primary key is disabled */
	struct queue q;
	struct worker *w;
	unsigned nw;                    /* workers allocated */
	unsigned ninit;                 /* workers initialised */
	atomic_uint_fast64_t queued, done, bytes;
	int64_t last_progress;
	int walk_failed;
	char walk_why[256];
	/* A credential failed (ATR_ERR_UNAUTHORIZED from the key service):
	 * every worker stops taking objects and the walk stops; halt_why
	 * is written once, by the worker that set halted first, and read
	 * after the workers are joined. */
	atomic_int halted;
	char halt_why[256];
	/* Objects whose frames idle workers may help check (split.c);
	 * splits, busy and the refs of each split are under q.mu. */
	struct split *splits;
	unsigned busy;                  /* workers checking a file */
	pthread_cond_t split_done;      /* a split's last helper left */
	atomic_uint_fast64_t split_objects, split_rechecked;
	atomic_uint_fast64_t helped_batches;
};

/* ---- worker.c ---------------------------------------------------------- */

/* Sets up w for E (w is overwritten); eng_worker_free releases it even
 * after a failure. */
enum atr_err eng_worker_init(struct engine *E, struct worker *w);
void eng_worker_free(struct worker *w);
/* A finding for the worker's lists (strings copied); sev < 0 ("allow")
 * adds nothing. */
#if defined(__GNUC__)
__attribute__((format(printf, 7, 8)))
#endif
void eng_add(struct worker *w, int sev, int store, const char *subject,
    int64_t offset, const char *code, const char *fmt, ...);
/* The run is incomplete; the first reason is kept. */
void eng_incomplete(struct worker *w, const char *why);
/* The key service refused the credential (ATR_ERR_UNAUTHORIZED): the
 * run stops.  The first call keeps this thread's error detail (the
 * credential's one-line reason) as the run's; every call clears the
 * detail.  eng_halted: 1 when the run is halted. */
void eng_halt(struct engine *E);
int eng_halted(struct engine *E);
/* Opens a listed object for reading (non-blocking, not following a
 * link, a regular file only); -1 with *why (static) on failure. */
int eng_open_object(const char *path, const char **why);
/* 1 when rel is among the 1 in rate objects sampled for salt. */
int eng_sampled(const char *salt, const char *rel, unsigned rate);
/* Queues a whole file for the end phase (path and rel copied). */
void eng_push_rescan(struct worker *w, const char *path, const char *rel,
    int store, uint64_t len);
/* Queues a proven object's header bytes for the end phase (copied into
 * the spill file; the whole file when it cannot be written). */
void eng_push_header(struct worker *w, const char *path, const char *rel,
    int store, const uint8_t *hdr, size_t len);
/* Writes out the spill buffer; 0 ok, -1 on a write error. */
int eng_spill_flush(struct worker *w);
/* Offers an object as a revocation drill candidate (strings copied). */
void eng_push_cand(struct worker *w, const char *path, const char *rel,
    int store, const char *kid);

/* ---- plaintext.c ------------------------------------------------------- */

/* Hits of one scan, by pattern type: count, first offset and its id. */
struct hitagg {
	uint64_t n[4];
	uint64_t first[4];
	uint32_t id[4];
};
/* A vfy_hit_fn for a struct hitagg. */
void eng_on_hit(void *arg, int type, uint32_t id, uint64_t off);
void eng_report_hits(struct worker *w, const struct job *j,
    const struct hitagg *a);
/* The byte statistics of the object just read (w->hist). */
void eng_judge_stats(struct worker *w, const struct job *j, int proven);
/* Feeds the rest of an open file (fd at offset pos) to sc (may be NULL)
 * and the statistics; 0 ok, -1 after a read error finding. */
int eng_scan_rest(struct worker *w, int fd, struct vfy_scanner *sc,
    uint64_t pos, uint64_t size, const struct job *j);
/* The DEK (and intermediate key) the configured key wk unwrapped from
 * stanza ws, as windows for the end phase; wiped at once. */
void eng_track_keys(struct worker *w, const struct atr_header *h, size_t wk,
    size_t ws);

/* Where the shingles of an object are taken: frame and offset in it. */
struct splan {
	uint64_t frame;
	size_t off;
};
/* Up to k (at most MAX_SHINGLES) evenly spaced windows of a plaintext of
 * plen bytes in frames of fs; returns how many were planned. */
size_t eng_shingle_plan(uint64_t plen, uint32_t fs, uint64_t nframes,
    unsigned k, struct splan *out);
/* A shingle or key window hashed elsewhere (split.c), for the end
 * phase. */
void eng_push_winhash(struct worker *w, const struct vfy_winhash *h);
/* Takes the planned shingles of frame (plaintext pt), from *si on. */
void eng_take_shingles(struct worker *w, const struct splan *plan, size_t n,
    size_t *si, uint64_t frame, const uint8_t *pt);

/* ---- header.c ---------------------------------------------------------- */

/* Recipients, coverage and rotation: the checks that need only h. */
void eng_header_checks(struct worker *w, const struct job *j,
    const struct atr_header *h);

/* ---- tamper.c ---------------------------------------------------------- */

/* One flipped bit in each field of a copy of h (ws: the stanza the
 * configured key opened): every copy must be refused. */
void eng_tamper_header(struct worker *w, const struct job *j,
    const struct atr_header *h, size_t ws, size_t nkeys);
/* The in-memory mutations of frame i of nframes (fr, len bytes, modified
 * and restored) through the open decryptor d: each must be refused. */
void eng_tamper_frame(struct worker *w, const struct job *j,
    struct atr_dec *d, uint64_t i, uint64_t nframes, uint8_t *fr,
    size_t len);
/* One mutation: in (len bytes) opened at index, final or not; frame and
 * what name it for a finding when it is accepted. */
typedef void (*eng_mutate_fn)(void *arg, uint64_t index, int final,
    const uint8_t *in, size_t len, uint64_t frame, const char *what);
/* The mutations eng_tamper_frame makes, each through mutate (split.c
 * opens them with a framer on another thread). */
void eng_tamper_frame_each(uint64_t i, uint64_t nframes, uint8_t *fr,
    size_t len, eng_mutate_fn mutate, void *arg);
/* A mutation of frame `frame` was accepted: the finding and its count. */
void eng_tamper_accepted(struct worker *w, const struct job *j,
    uint64_t frame, const char *what);

/* ---- negative.c -------------------------------------------------------- */

/* The control key and (sampled) the impostor try to open h. */
void eng_negative(struct worker *w, const struct job *j,
    const struct atr_header *h);
/* With the key disabled by the caller: the configured keys must not
 * open h. */
void eng_drill_object(struct worker *w, const struct job *j,
    const struct atr_header *h);
/* Disables every key version in use (E->r->versions), tries every
 * candidate (or a sample) and restores each version (cand is the
 * caller's). */
void eng_revocation_drill(struct engine *E, struct cand *cand, size_t n);

/* ---- split.c ----------------------------------------------------------- */

/* Buffers for one record and one frame's plaintext of frames of fs
 * bytes in w->rb and w->pt; -1 out of memory. */
int eng_frame_bufs(struct worker *w, uint32_t fs);

/*
 * One object's frames checked by several workers (the owner w and the
 * idle ones): every frame authenticated, the byte statistics, shingles
 * and frame mutations as decrypt_frames in body.c makes them, each
 * participant keeping its part until the owner adds them up.  fd holds
 * the body (nframes frames of fs bytes plus tags) at hlen; d is the
 * owner's open decryptor (each participant opens with a framer copied
 * from it); plan and stepf as body.c has them.  1 when every frame
 * authenticated and the parts went to w; 0 when a frame did not
 * authenticate or a batch could not be read or set up: then nothing of
 * the attempt went to w, and the caller checks the object frame by frame
 * (so that what it reports is what one thread reports).
 */
int eng_split_frames(struct worker *w, const struct job *j, int fd,
    uint64_t hlen, uint64_t body, uint64_t nframes, uint32_t fs,
    uint64_t stepf, const struct splan *plan, size_t ns,
    const struct atr_dec *d);
/* pool.c, under E->q.mu: w joins a split that still has batches (NULL
 * when none has); then, without q.mu, eng_split_help takes batches until
 * none is left and leaves (the owner waits for it before it ends). */
struct spart *eng_split_join(struct engine *E, struct worker *w);
void eng_split_help(struct spart *p);

/* ---- body.c ------------------------------------------------------------ */

/* Every check of one queued file. */
void eng_process_job(struct worker *w, const struct job *j);

/* ---- pool.c ------------------------------------------------------------ */

void eng_queue_init(struct queue *q);
/* Calls the configured progress callback (at most every PROGRESS_NS
 * unless force). */
void eng_progress(struct engine *E, int phase, int force);
/* Starts the E->nw workers; *started gets how many run. */
enum atr_err eng_start_workers(struct engine *E, unsigned *started);
/* Walks every STORE into the queue (errors are kept in E->walk_*). */
void eng_walk_stores(struct engine *E);
/* Closes the queue and joins the started workers. */
void eng_stop_workers(struct engine *E, unsigned started);

/* ---- rescan.c ---------------------------------------------------------- */

/* End phase: every key and shingle is known; rescans what is not
 * proven ciphertext. */
enum atr_err eng_rescan(struct engine *E);

/* ---- config.c ---------------------------------------------------------- */

/* The run's configuration into the report (strings copied). */
void eng_fill_config(struct engine *E);
/* Policy findings about the configured keys (sizes, vault attributes). */
void eng_config_findings(struct engine *E);
/* The vault attributes of every key version in use (from the coverage)
 * into r->versions; vfy_finalize checks them. */
void eng_versions(struct engine *E);

/* ---- rotation.c -------------------------------------------------------- */

/* What the policy asks of a configured vault key beyond its attributes
 * (va, as read): the key_ops it must hold, and its rotation policy,
 * reported, checked when the policy asks (strict), with the age of the
 * current version. */
void eng_vault_policy_findings(struct engine *E, struct atr_key *key,
    const struct vfy_vault_attrs *va);
/* An error when the policy asks (rotation.version_age) and the version
 * kid, created at created (seconds since 1970), is older than its key's
 * rotation period while nobjects objects (0: the current version) are
 * wrapped under it.  kid must be a version of a configured key. */
void eng_version_age_finding(struct engine *E, const char *kid,
    int64_t created, uint64_t nobjects);

#endif
