/*
 * engine.c - one pass over the store with a worker pool, then the end
 * phase (rescan for keys and shingles, missing manifest entries, the
 * revocation drill) and vfy_finalize().
 *
 * The main thread walks the STOREs in deterministic order and queues
 * regular files (and the symlinks and special files it reports); workers
 * take them in any order.  Each worker keeps its own findings, counters,
 * coverage and object records, merged at the end by rules that do not
 * depend on who did what, so the report is the same for any number of
 * workers.
 *
 * Per file, memory is bounded by the frame size: a header buffer, two
 * record buffers and a plaintext buffer (docs/VERIFY.md "Scale").
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "crypto.h"
#include "fsutil.h"
#include "jwk.h"
#include "stream.h"
#include "vfy_int.h"
#include "walk.h"
#include "util.h"

#define QUEUE_CAP 256
#define CHUNK (1U << 20)
#define MAX_SHINGLES 64
#define PROGRESS_NS 250000000LL

/* ---- decryptor --------------------------------------------------------- */

static const struct vfy_decryptor lib_dec = {
	atr_dec_new, atr_dec_frame, atr_dec_free,
};

const struct vfy_decryptor *
vfy_lib_decryptor(void)
{
	return &lib_dec;
}

/* ---- shard and sampling ------------------------------------------------ */

/*
 * Opens a store object the walk listed.  Between the listing and this
 * open, or a later reopen, another user may have put a FIFO in its
 * place: O_NONBLOCK keeps that from hanging a worker and the type is
 * checked on the descriptor itself.  -1 with *why on failure.
 */
static int
open_object(const char *path, const char **why)
{
	struct stat st;
	int fd;

	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK |
	    O_NOCTTY);
	if (fd < 0) {
		*why = strerror(errno);
		return -1;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		*why = "no longer a regular file";
		return -1;
	}
	return fd;
}

static int
sampled(const char *salt, const char *rel, unsigned rate)
{
	if (rate == 0)
		return 0;
	if (rate == 1)
		return 1;
	return vfy_path_hash(salt, rel) % rate == 0;
}

/* ---- jobs -------------------------------------------------------------- */

struct job {
	char *path;
	char *rel;
	int store;
	int type;
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
 * (path NULL, at spill_off). */
struct rescan {
	char *path;
	char *rel;
	int store;
	uint64_t len;
	uint64_t spill_off;
};

#define SPILL_BUF (256U * 1024U)

struct cand {
	int store;
	char *rel;
	char *path;
	char *kid;
};

struct engine;

struct worker {
	struct engine *E;
	pthread_t th;
	struct vfy_flist f[VFY_NCHECKS];
	int64_t stats[VS__COUNT];
	struct vfy_covmap cov;
	struct vfy_objvec objs;
	struct vfy_winhash *dyn;
	size_t ndyn, capdyn;
	struct rescan *rs;
	size_t nrs, caprs;
	struct cand *cand;
	size_t ncand;
	int incomplete;
	char why[256];
	struct atr_key *wk[ATR_MAX_STANZAS];
	struct vfy_wkey *ww[ATR_MAX_STANZAS];
	uint8_t *hbuf;
	uint8_t *rb;
	size_t rbcap;
	uint8_t *pt;
	size_t ptcap;
	uint8_t *chunk;
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

struct vver {
	struct vfy_vver *v;
	size_t n;
	int64_t min_created;
};

struct engine {
	const struct vfy_config *c;
	const struct vfy_policy *p;
	struct vfy_report *r;
	const struct vfy_decryptor *dec;
	struct vfy_pset *stat;
	struct vfy_pset *dyn;
	struct vfy_controls *ctl;
	uint8_t fkey[32];
	size_t fkey_len;
	atomic_uchar *mseen;
	struct { long entry; int k; } *canary_of;
	size_t ncanary;
	char current[ATR_KEYID_MAX + 1];
	struct vver vv;
	int drill_only;
	struct queue q;
	struct worker *w;
	unsigned nw;
	atomic_uint_fast64_t queued, done, bytes;
	int64_t last_progress;
	int walk_failed;
	char walk_why[256];
};

static void
progress(struct engine *E, int phase, int force)
{
	struct vfy_progress p;
	int64_t t;

	if (E->c->progress == NULL)
		return;
	t = (int64_t)atr_now_ns();
	if (!force && t - E->last_progress < PROGRESS_NS)
		return;
	E->last_progress = t;
	p.files_queued = atomic_load(&E->queued);
	p.files_done = atomic_load(&E->done);
	p.bytes_done = atomic_load(&E->bytes);
	p.phase = phase;
	E->c->progress(E->c->progress_arg, &p);
}

/* ---- worker-side findings ---------------------------------------------- */

#if defined(__GNUC__)
__attribute__((format(printf, 7, 8)))
#endif
static void
wadd(struct worker *w, int sev, int store, const char *subject,
    int64_t offset, const char *code, const char *fmt, ...)
{
	struct vfy_finding f;
	char msg[1024];
	va_list ap;
	int c;

	if (sev < 0)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	vfy_finding_set(&f, sev, store, subject, offset, code, msg);
	c = f.check;
	if (c < 0 || c >= VFY_NCHECKS) {
		free(f.subject);
		free(f.message);
		return;
	}
	vfy_flist_add(&w->f[c], &f);
}

static void
mark_incomplete(struct worker *w, const char *why)
{
	if (!w->incomplete)
		snprintf(w->why, sizeof(w->why), "%s", why);
	w->incomplete = 1;
}

static int
push_dyn(struct worker *w, int type, const uint8_t win[32])
{
	if (w->ndyn == w->capdyn) {
		size_t nc = w->capdyn ? w->capdyn * 2 : 256;
		struct vfy_winhash *nv = malloc(nc * sizeof(*nv));

		if (nv == NULL)
			return -1;
		if (w->ndyn)
			memcpy(nv, w->dyn, w->ndyn * sizeof(*nv));
		if (w->dyn != NULL)
			atr_secure_free(w->dyn, w->capdyn * sizeof(*w->dyn));
		w->dyn = nv;
		w->capdyn = nc;
	}
	vfy_pset_hash_window(w->E->dyn, type, win, &w->dyn[w->ndyn++]);
	return 0;
}

static struct rescan *
new_rescan(struct worker *w, const char *rel, int store, uint64_t len)
{
	struct rescan *r;

	if (w->nrs == w->caprs) {
		size_t nc = w->caprs ? w->caprs * 2 : 64;
		struct rescan *nv = realloc(w->rs, nc * sizeof(*nv));

		if (nv == NULL) {
			mark_incomplete(w, "out of memory");
			return NULL;
		}
		w->rs = nv;
		w->caprs = nc;
	}
	r = &w->rs[w->nrs];
	memset(r, 0, sizeof(*r));
	r->rel = vfy_strdup(rel);
	r->store = store;
	r->len = len;
	if (r->rel == NULL) {
		mark_incomplete(w, "out of memory");
		return NULL;
	}
	w->nrs++;
	return r;
}

static void
push_rescan(struct worker *w, const char *path, const char *rel, int store,
    uint64_t len)
{
	struct rescan *r;

	if (len == 0 || (r = new_rescan(w, rel, store, len)) == NULL)
		return;
	r->path = vfy_strdup(path);
	if (r->path == NULL) {
		free(r->rel);
		w->nrs--;
		mark_incomplete(w, "out of memory");
	}
}

static int
spill_flush(struct worker *w)
{
	if (w->spill_n == 0)
		return 0;
	if (atr_write_all(w->spill_fd, w->spill_buf, w->spill_n) != ATR_OK)
		return -1;
	w->spill_n = 0;
	return 0;
}

/* A proven object's header, for the end phase; falls back to reading the
 * file again if the spill file cannot be written. */
static void
push_header(struct worker *w, const char *path, const char *rel, int store,
    const uint8_t *hdr, size_t len)
{
	struct rescan *r;

	if (w->spill_fd < 0 || (w->spill_n + len > SPILL_BUF &&
	    spill_flush(w) != 0)) {
		push_rescan(w, path, rel, store, len);
		return;
	}
	if ((r = new_rescan(w, rel, store, len)) == NULL)
		return;
	r->spill_off = w->spill_len;
	memcpy(w->spill_buf + w->spill_n, hdr, len);
	w->spill_n += len;
	w->spill_len += len;
}

/* Keeps the drill_objects first candidates in report (path) order. */
static void
push_cand(struct worker *w, const char *path, const char *rel, int store,
    const char *kid)
{
	size_t cap = w->E->p->drill_objects, i, worst = 0;
	struct cand *c;

	if (cap == 0)
		return;
	if (w->cand == NULL) {
		w->cand = calloc(cap, sizeof(*w->cand));
		if (w->cand == NULL)
			return;
	}
	if (w->ncand < cap) {
		c = &w->cand[w->ncand++];
	} else {
		for (i = 1; i < w->ncand; i++) {
			const struct cand *a = &w->cand[i], *b = &w->cand[worst];

			if (a->store > b->store || (a->store == b->store &&
			    vfy_path_cmp(a->rel, b->rel) > 0))
				worst = i;
		}
		c = &w->cand[worst];
		if (store > c->store || (store == c->store &&
		    vfy_path_cmp(rel, c->rel) >= 0))
			return;
		free(c->rel);
		free(c->path);
		free(c->kid);
	}
	c->store = store;
	c->rel = vfy_strdup(rel);
	c->path = vfy_strdup(path);
	c->kid = vfy_strdup(kid);
}

/* ---- per file ---------------------------------------------------------- */

struct hitagg {
	uint64_t n[4];
	uint64_t first[4];
	uint32_t id[4];
};

static void
on_hit(void *arg, int type, uint32_t id, uint64_t off)
{
	struct hitagg *a = arg;

	if (type < 0 || type > 3)
		return;
	if (a->n[type]++ == 0 || off < a->first[type]) {
		a->first[type] = off;
		a->id[type] = id;
	}
}

static void
report_hits(struct worker *w, const struct job *j, const struct hitagg *a)
{
	struct engine *E = w->E;

	if (a->n[VFY_PAT_CANARY]) {
		uint32_t id = a->id[VFY_PAT_CANARY];
		char where[512] = "the manifest's global list";

		w->stats[VS_P_CANARY_HITS] += (int64_t)a->n[VFY_PAT_CANARY];
		if (id < E->ncanary && E->canary_of[id].entry >= 0)
			snprintf(where, sizeof(where), "%s",
			    vfy_manifest_entry(E->c->manifest,
			    (size_t)E->canary_of[id].entry)->path);
		wadd(w, VFY_ERROR, j->store, j->rel,
		    (int64_t)a->first[VFY_PAT_CANARY], "plaintext.canary",
		    "canary %d of %s is stored in the clear (%llu occurrence%s)",
		    id < E->ncanary ? E->canary_of[id].k + 1 : 0, where,
		    (unsigned long long)a->n[VFY_PAT_CANARY],
		    a->n[VFY_PAT_CANARY] == 1 ? "" : "s");
	}
	if (a->n[VFY_PAT_SHINGLE]) {
		w->stats[VS_P_SHINGLE_HITS] += (int64_t)a->n[VFY_PAT_SHINGLE];
		wadd(w, VFY_ERROR, j->store, j->rel,
		    (int64_t)a->first[VFY_PAT_SHINGLE], "plaintext.shingle",
		    "a sampled 32-byte shingle of a stored object's plaintext "
		    "is stored in the clear (%llu occurrence%s)",
		    (unsigned long long)a->n[VFY_PAT_SHINGLE],
		    a->n[VFY_PAT_SHINGLE] == 1 ? "" : "s");
	}
	if (a->n[VFY_PAT_DEK] || a->n[VFY_PAT_IK]) {
		int t = a->n[VFY_PAT_DEK] ? VFY_PAT_DEK : VFY_PAT_IK;
		uint64_t off = a->first[t];

		if (a->n[VFY_PAT_DEK] && a->n[VFY_PAT_IK] &&
		    a->first[VFY_PAT_IK] < off)
			off = a->first[VFY_PAT_IK];
		w->stats[VS_P_KEY_HITS] += (int64_t)(a->n[VFY_PAT_DEK] +
		    a->n[VFY_PAT_IK]);
		wadd(w, VFY_ERROR, j->store, j->rel, (int64_t)off,
		    "plaintext.dek",
		    "an unwrapped %s is stored in the clear (%llu occurrence%s)",
		    a->n[VFY_PAT_DEK] ? "data key (DEK)" : "intermediate key",
		    (unsigned long long)(a->n[VFY_PAT_DEK] + a->n[VFY_PAT_IK]),
		    a->n[VFY_PAT_DEK] + a->n[VFY_PAT_IK] == 1 ? "" : "s");
	}
}

static void
judge_stats(struct worker *w, const struct job *j, int proven)
{
	const struct vfy_policy *p = w->E->p;
	double chi, bound;

	if (w->hist.n < p->stat_min_bytes || w->hist.n == 0)
		return;
	w->stats[VS_P_STAT_TESTED]++;
	chi = vfy_hist_chi2(&w->hist);
	bound = vfy_chi2_bound(p->chi2_z);
	if (chi <= bound)
		return;
	w->stats[VS_P_NOT_RANDOM]++;
	/* An authenticated object's body is AES-GCM output: failing the
	 * test there is a statistical oddity; elsewhere it is plaintext. */
	wadd(w, proven ? VFY_WARN : VFY_ERROR, j->store, j->rel, -1,
	    "plaintext.not-random",
	    "bytes do not look like ciphertext: chi-square %.0f > %.0f over "
	    "%llu bytes, entropy %.2f bits/byte", chi, bound,
	    (unsigned long long)w->hist.n, vfy_hist_entropy(&w->hist));
}

/* Scans the rest of an open file (its descriptor is at offset pos) for
 * the static set; the byte statistics see at most stat_max_bytes of it,
 * spread evenly. */
static int
scan_rest(struct worker *w, int fd, struct vfy_scanner *sc, uint64_t pos,
    uint64_t size, const struct job *j)
{
	uint64_t k = 0, step = 1, chunks, budget;
	uint64_t smax = w->E->p->stat_max_bytes;

	if (pos >= size)
		return 0;
	chunks = (size - pos + CHUNK - 1) / CHUNK;
	budget = smax / CHUNK ? smax / CHUNK : 1;
	if (chunks > budget)
		step = (chunks + budget - 1) / budget;
	while (pos < size) {
		size_t want = size - pos < CHUNK ? (size_t)(size - pos) : CHUNK;
		size_t got = 0;

		if (atr_read_full(fd, w->chunk, want, &got) != ATR_OK ||
		    got == 0) {
			wadd(w, VFY_ERROR, j->store, j->rel, (int64_t)pos,
			    "envelope.unreadable", "read failed or file shrank");
			mark_incomplete(w, "a file could not be read");
			return -1;
		}
		if (sc != NULL)
			vfy_scan_feed(sc, w->chunk, got);
		if (k % step == 0)
			vfy_hist_add(&w->hist, w->chunk, got);
		k++;
		pos += got;
	}
	return 0;
}

/* Checks that need only the header. */
static void
header_checks(struct worker *w, const struct job *j,
    const struct atr_header *h)
{
	struct engine *E = w->E;
	const struct vfy_config *c = E->c;
	const struct vfy_policy *p = E->p;
	int any = 0, all_smk = 1, present[ATR_MAX_STANZAS] = {0};
	int has_current = 0, nforeign = 0, other_version = 0;
	char foreign[512] = "";
	size_t s, i;

	w->stats[VS_R_OBJECTS]++;
	w->stats[VS_R_STANZAS] += h->nstanzas;
	if (h->suite == ATR_SUITE_V1)
		w->stats[VS_PO_SUITE_V1]++;
	for (s = 0; s < h->nstanzas; s++) {
		const struct atr_stanza *st = &h->st[s];
		struct vfy_cov *cv;
		int matched = -1;

		for (i = 0; i < c->nkeys; i++)
			if (c->keys[i]->ops->matches(c->keys[i],
			    (enum atr_provider_type)st->provider, st->key_id)) {
				present[i] = 1;
				if (matched < 0)
					matched = (int)i;
			}
		if (st->provider != ATR_PROV_FILE_AES)
			all_smk = 0;
		if (strcmp(st->key_id, E->current) == 0)
			has_current = 1;
		if (matched >= 0) {
			any = 1;
		} else {
			char o1[300], n1[160], v1[128], o2[300], n2[160], v2[128];

			nforeign++;
			w->stats[VS_R_FOREIGN]++;
			if (strlen(foreign) < 200)
				snprintf(foreign + strlen(foreign),
				    sizeof(foreign) - strlen(foreign), "%s%.120s",
				    foreign[0] ? ", " : "", st->key_id);
			for (i = 0; i < c->nkeys; i++)
				if (vfy_vault_is_vault_key(c->keys[i]) &&
				    vfy_kid_split(st->key_id, o1, sizeof(o1), n1,
				    sizeof(n1), v1, sizeof(v1)) == 0 &&
				    vfy_kid_split(c->keys[i]->key_id, o2,
				    sizeof(o2), n2, sizeof(n2), v2,
				    sizeof(v2)) == 0 &&
				    strcasecmp(o1, o2) == 0 &&
				    strcasecmp(n1, n2) == 0)
					other_version = 1;
		}
		cv = vfy_covmap_get(&w->cov, st->key_id);
		if (cv == NULL)
			continue;
		cv->provider = st->provider;
		if (st->alg < 8)
			cv->algs |= (uint8_t)(1U << st->alg);
		else
			cv->algs |= 0x80;
		if (st->kind < 8)
			cv->kinds |= (uint8_t)(1U << st->kind);
		if (st->alg == ATR_WRAP_RSA_OAEP_256 ||
		    st->alg == ATR_WRAP_RSA_OAEP_SHA1) {
			/* OAEP output is as long as the modulus (RFC 8017
			 * 7.1.1): the key size of any RSA recipient, even one
			 * we do not hold. */
			uint32_t bits = (uint32_t)st->wrapped_len * 8U;

			if (bits < cv->rsa_min)
				cv->rsa_min = bits;
			if (bits > cv->rsa_max)
				cv->rsa_max = bits;
		}
		cv->objects++;
		if (st->kind == ATR_KIND_DIRECT)
			cv->direct++;
		else
			vfy_cov_add_share(cv, st->share_id);
		if (matched >= 0)
			cv->configured = 1;
		if (matched == 0)
			cv->primary = 1;
		if (strcmp(st->key_id, E->current) == 0)
			cv->current = 1;
	}
	if (!any) {
		char list[512] = "";

		for (s = 0; s < h->nstanzas && strlen(list) < 200; s++)
			snprintf(list + strlen(list), sizeof(list) - strlen(list),
			    "%s%.120s", s ? ", " : "", h->st[s].key_id);
		wadd(w, VFY_ERROR, j->store, j->rel, -1,
		    "recipients.not-configured",
		    "no stanza for a configured key; recipients: %s", list);
	} else {
		w->stats[VS_R_CONFIGURED]++;
	}
	if (nforeign > 0 && any)
		wadd(w, p->allow_foreign ? VFY_INFO : VFY_ERROR, j->store,
		    j->rel, -1, other_version ? "recipients.other-version" :
		    "recipients.foreign",
		    "%d stanza%s for key%s outside the allowed set%s: %s",
		    nforeign, nforeign == 1 ? "" : "s", nforeign == 1 ? "" : "s",
		    other_version ? " (another version of a configured vault "
		    "key)" : "", foreign);
	else if (nforeign > 0 && other_version)
		wadd(w, VFY_ERROR, j->store, j->rel, -1,
		    "recipients.other-version",
		    "wrapped only by another version of a configured vault key: "
		    "%s", foreign);
	if (p->require_cmk && all_smk) {
		w->stats[VS_R_SMK_ONLY]++;
		wadd(w, VFY_ERROR, j->store, j->rel, -1, "recipients.smk-only",
		    "every stanza is a service-managed (SMK) wrap: no "
		    "customer-managed key protects this object");
	}
	if (p->require_keys == VFY_REQ_ALL) {
		for (i = 0; i < c->nkeys; i++)
			if (!present[i])
				wadd(w, VFY_ERROR, j->store, j->rel, -1,
				    "recipients.missing-key",
				    "no stanza for configured key %s",
				    c->keys[i]->uri);
	} else if (p->require_keys == VFY_REQ_PRIMARY && !present[0]) {
		wadd(w, VFY_ERROR, j->store, j->rel, -1,
		    "recipients.missing-key", "no stanza for the primary key %s",
		    c->keys[0]->uri);
	}
	/* rotation */
	if (has_current)
		w->stats[VS_RO_CURRENT]++;
	if (p->current_only && !has_current) {
		w->stats[VS_RO_STALE]++;
		wadd(w, VFY_ERROR, j->store, j->rel, -1, "rotation.stale",
		    "no stanza for the current key %.200s (rewrap it)",
		    E->current);
	}
	if (p->min_version[0] && E->vv.v != NULL) {
		int ok = 0, unknown = 0;
		char o1[300], n1[160], v1[128], o2[300], n2[160], v2[128];

		vfy_kid_split(c->keys[0]->key_id, o2, sizeof(o2), n2, sizeof(n2),
		    v2, sizeof(v2));
		for (s = 0; s < h->nstanzas; s++) {
			if (vfy_kid_split(h->st[s].key_id, o1, sizeof(o1), n1,
			    sizeof(n1), v1, sizeof(v1)) != 0 ||
			    strcasecmp(o1, o2) != 0 || strcasecmp(n1, n2) != 0)
				continue;
			for (i = 0; i < E->vv.n; i++)
				if (strcasecmp(E->vv.v[i].version, v1) == 0)
					break;
			if (i == E->vv.n)
				unknown = 1;
			else if (E->vv.v[i].created >= E->vv.min_created)
				ok = 1;
		}
		if (!ok) {
			w->stats[VS_RO_STALE]++;
			wadd(w, unknown ? VFY_WARN : VFY_ERROR, j->store, j->rel,
			    -1, unknown ? "rotation.version-unknown" :
			    "rotation.below-min-version",
			    unknown ? "a stanza names a version the vault does not "
			    "list" : "every stanza for %s is older than version "
			    "%s", n2, p->min_version);
		}
	}
}

/* Flip one bit of a header copy and try to open it: must fail. */
static void
tamper_header(struct worker *w, const struct job *j, const struct atr_header *h,
    size_t ws, size_t nkeys)
{
	struct engine *E = w->E;
	uint8_t buf[ATR_HEADER_MAX];
	size_t offs[5], nm = 0, i, off = ATR_CORE_BYTES + 2, s;
	static const char *const names[5] = {"object id", "nonce prefix",
	    "key commitment", "wrapped key", "header MAC"};
	const char *nm_of[5];

	offs[nm] = 10;
	nm_of[nm++] = names[0];
	offs[nm] = 46;
	nm_of[nm++] = names[1];
	offs[nm] = 53;
	nm_of[nm++] = names[2];
	for (s = 0; s < h->nstanzas; s++) {
		const struct atr_stanza *st = &h->st[s];
		size_t kl = strlen(st->key_id);

		if (s == ws) {
			offs[nm] = off + 5 + kl + 2;
			nm_of[nm++] = names[3];
			break;
		}
		off += 5 + kl + 2 + st->wrapped_len;
		if (st->kind != ATR_KIND_DIRECT)
			off += ATR_SHARE_ID_BYTES;
		if (st->kind == ATR_KIND_INTERMEDIATE)
			off += 2 + ATR_IK_WRAPPED_BYTES;
	}
	offs[nm] = h->len - 1;
	nm_of[nm++] = names[4];
	w->stats[VS_T_HEADER_OBJECTS]++;
	for (i = 0; i < nm; i++) {
		struct atr_dec *d = NULL;
		enum atr_err e;

		if (offs[i] >= h->len)
			continue;
		memcpy(buf, h->raw, h->len);
		buf[offs[i]] ^= 0x01;
		w->stats[VS_T_MUTATIONS]++;
		e = atr_header_parse(buf, h->len, w->h2);
		if (e == ATR_OK)
			e = E->dec->dec_new(w->h2, w->wk, nkeys, NULL, &d, NULL,
			    NULL);
		atr_detail_clear();
		if (e == ATR_OK) {
			w->stats[VS_T_ACCEPTED]++;
			wadd(w, VFY_ERROR, j->store, j->rel, (int64_t)offs[i],
			    "tamper.accepted",
			    "a flipped bit in the %s was accepted by the decryptor",
			    nm_of[i]);
			E->dec->dec_free(d);
		} else {
			w->stats[VS_T_REJECTED]++;
		}
	}
	atr_memzero(buf, sizeof(buf));
}

static void
mutate(struct worker *w, const struct job *j, struct atr_dec *d,
    uint64_t index, int final, uint8_t *in, size_t len, const char *what,
    uint64_t frame)
{
	enum atr_err e;

	w->stats[VS_T_MUTATIONS]++;
	e = w->E->dec->dec_frame(d, index, final, in, len, w->pt);
	atr_detail_clear();
	if (e == ATR_OK) {
		w->stats[VS_T_ACCEPTED]++;
		wadd(w, VFY_ERROR, j->store, j->rel, -1, "tamper.accepted",
		    "frame %llu: %s was accepted by the decryptor",
		    (unsigned long long)frame, what);
	} else {
		w->stats[VS_T_REJECTED]++;
	}
}

/* Reads the next len bytes of the body: from the bytes read with the
 * header first, then from the file. */
static int
next_bytes(struct worker *w, int fd, size_t *spos, size_t slen, size_t len,
    uint8_t **out)
{
	size_t have = slen - *spos, got = 0;

	if (have >= len) {
		*out = w->hbuf + *spos;
		*spos += len;
		return 0;
	}
	if (have)
		memcpy(w->rb, w->hbuf + *spos, have);
	*spos = slen;
	if (atr_read_full(fd, w->rb + have, len - have, &got) != ATR_OK ||
	    got != len - have)
		return -1;
	*out = w->rb;
	return 0;
}

static int
ensure_bufs(struct worker *w, uint32_t fs)
{
	size_t rec = (size_t)fs + ATR_GCM_TAGBYTES;

	if (w->rbcap < rec) {
		free(w->rb);
		w->rb = malloc(rec);
		w->rbcap = w->rb ? rec : 0;
	}
	if (w->ptcap < fs) {
		atr_secure_free(w->pt, w->ptcap);
		w->pt = malloc(fs);
		w->ptcap = w->pt ? fs : 0;
	}
	return w->rb != NULL && w->pt != NULL ? 0 : -1;
}

static void
negative(struct worker *w, const struct job *j, const struct atr_header *h)
{
	struct engine *E = w->E;
	struct atr_key *k;
	struct atr_dec *d = NULL;
	enum atr_err e;

	if (E->ctl == NULL)
		return;
	k = vfy_controls_plain(E->ctl);
	if (k != NULL) {
		w->stats[VS_N_CONTROL]++;
		e = E->dec->dec_new(h, &k, 1, NULL, &d, NULL, NULL);
		if (e == ATR_OK) {
			w->stats[VS_N_CONTROL_OPENED]++;
			wadd(w, VFY_ERROR, j->store, j->rel, -1, "negative.opened",
			    "the control key %s opens this object",
			    vfy_controls_desc(E->ctl));
			E->dec->dec_free(d);
			d = NULL;
		} else if (e != ATR_ERR_NOKEY && e != ATR_ERR_AUTH) {
			wadd(w, VFY_WARN, j->store, j->rel, -1,
			    "negative.inconclusive",
			    "the control key attempt failed with \"%s\" rather "
			    "than an authentication failure", atr_strerror(e));
		}
		atr_detail_clear();
	}
	if (!sampled("negative", j->rel, E->p->negative_sample))
		return;
	k = vfy_controls_impostor(E->ctl);
	w->stats[VS_N_IMPOSTOR]++;
	e = E->dec->dec_new(h, &k, 1, NULL, &d, NULL, NULL);
	if (e == ATR_OK) {
		w->stats[VS_N_IMPOSTOR_OPENED]++;
		wadd(w, VFY_ERROR, j->store, j->rel, -1,
		    "negative.impostor-opened",
		    "a control key that claims every stanza opens this object");
		E->dec->dec_free(d);
	} else if (e == ATR_ERR_KEY) {
		wadd(w, VFY_WARN, j->store, j->rel, -1,
		    "negative.control-unavailable",
		    "no control key could be made for this object's algorithm");
	} else if (e != ATR_ERR_AUTH && e != ATR_ERR_NOKEY) {
		wadd(w, VFY_WARN, j->store, j->rel, -1, "negative.inconclusive",
		    "the impostor attempt failed with \"%s\" rather than an "
		    "authentication failure", atr_strerror(e));
	}
	atr_detail_clear();
}

/* The DEK (and intermediate key) the configured key unwrapped, into the
 * plaintext check's windows; wiped at once. */
static void
track_keys(struct worker *w, const struct atr_header *h, size_t wk, size_t ws)
{
	const struct atr_stanza *st = &h->st[ws];
	uint8_t cap[ATR_WRAP_INPUT_BYTES], in[ATR_WRAP_INPUT_BYTES];
	size_t il = sizeof(in);

	if (!w->E->p->dek_scan || wk >= w->E->c->nkeys)
		return;
	if (!vfy_wkey_captured(w->ww[wk], st->wrapped, st->wrapped_len, cap))
		return;
	if (st->kind == ATR_KIND_INTERMEDIATE) {
		push_dyn(w, VFY_PAT_IK, cap);
		w->stats[VS_P_KEYS]++;
		/* FORMAT.md 4: IK wraps dek | digest with KWP. */
		if (atr_aes_kw_unwrap(1, cap, 32, st->ik_wrapped,
		    st->ik_wrapped_len, in, &il) == ATR_OK && il >= 32) {
			push_dyn(w, VFY_PAT_DEK, in);
			w->stats[VS_P_KEYS]++;
		}
	} else {
		push_dyn(w, VFY_PAT_DEK, cap);
		w->stats[VS_P_KEYS]++;
	}
	atr_memzero(cap, sizeof(cap));
	atr_memzero(in, sizeof(in));
	vfy_wkey_forget(w->ww[wk]);
}

struct splan {
	uint64_t frame;
	size_t off;
};

static size_t
shingle_plan(uint64_t plen, uint32_t fs, uint64_t nframes, unsigned k,
    struct splan *out)
{
	size_t n = 0;
	unsigned t;

	if (plen < VFY_WIN || k == 0)
		return 0;
	if (k > MAX_SHINGLES)
		k = MAX_SHINGLES;
	for (t = 0; t < k; t++) {
		uint64_t pos = k == 1 ? 0 : (plen - VFY_WIN) * t / (k - 1);
		uint64_t fr = pos / fs, flen;
		size_t o = (size_t)(pos % fs);

		if (fr >= nframes)
			fr = nframes - 1;
		flen = fr + 1 < nframes ? fs : plen - fr * (uint64_t)fs;
		if (flen < VFY_WIN)
			continue;
		if (o + VFY_WIN > flen)
			o = (size_t)(flen - VFY_WIN);
		if (n > 0 && out[n - 1].frame == fr && out[n - 1].off == o)
			continue;
		out[n].frame = fr;
		out[n].off = o;
		n++;
	}
	return n;
}

static void
process_envelope(struct worker *w, const struct job *j, int fd,
    uint64_t size, size_t got, struct vfy_scanner *sc, struct hitagg *ha,
    int *proven_out)
{
	struct engine *E = w->E;
	const struct vfy_policy *p = E->p;
	const struct vfy_config *c = E->c;
	struct atr_header *h = w->h;
	struct atr_dec *d = NULL;
	uint64_t body = size - h->len, nframes = 0, i, plen = 0, stepf = 1;
	uint32_t fs = h->frame_size;
	size_t rec = (size_t)fs + ATR_GCM_TAGBYTES, spos = h->len, wk = 0, ws = 0;
	size_t ns = 0, si = 0, k;
	long me = -1;
	int cacheable = 0, ok_all = 0, hashing = 0, proven = 0, scanning;
	struct splan plan[MAX_SHINGLES];
	struct vfy_obj ob;
	unsigned char md[32];
	unsigned mdlen = 0;
	enum atr_err e;

	w->stats[VS_ENVELOPES]++;
	header_checks(w, j, h);
	if (c->manifest != NULL) {
		me = vfy_manifest_find(c->manifest, j->rel);
		if (me >= 0)
			atomic_store(&E->mseen[me], 1);
		else {
			w->stats[VS_D_UNLISTED]++;
			wadd(w, VFY_WARN, j->store, j->rel, -1, "decrypt.unlisted",
			    "the object is not listed in the manifest");
		}
	}
	/* scan the header always; the body per policy */
	vfy_scan_feed(sc, w->hbuf, h->len);
	scanning = p->scan_all;
	if (atr_body_frames(body, fs, &nframes) != ATR_OK) {
		wadd(w, VFY_ERROR, j->store, j->rel, (int64_t)h->len,
		    "envelope.bad-body", "%s", atr_detail());
		atr_detail_clear();
		w->stats[VS_MALFORMED]++;
		if (me >= 0)
			wadd(w, VFY_ERROR, j->store, j->rel, -1,
			    "decrypt.unverified",
			    "listed in the manifest but its body is malformed");
		goto unproven;
	}
	if (ensure_bufs(w, fs) != 0) {
		mark_incomplete(w, "out of memory");
		goto unproven;
	}
	plen = body - nframes * ATR_GCM_TAGBYTES;
	if (p->stat_max_bytes > 0 && body > p->stat_max_bytes)
		stepf = (body + p->stat_max_bytes - 1) / p->stat_max_bytes;
	if (E->drill_only) {
		/* The caller disabled the key: nothing may open. */
		w->stats[VS_N_DRILL]++;
		e = E->dec->dec_new(h, c->keys, c->nkeys, NULL, &d, NULL, NULL);
		if (e == ATR_OK) {
			w->stats[VS_N_DRILL_OPENED]++;
			wadd(w, VFY_ERROR, j->store, j->rel, -1,
			    "negative.revocation-opened",
			    "opened while the key is disabled");
			E->dec->dec_free(d);
			d = NULL;
		}
		atr_detail_clear();
		goto unproven;
	}
	for (k = 0; k < h->nstanzas; k++)
		if (h->st[k].kind != ATR_KIND_DIRECT)
			cacheable = 1;
	for (k = 0; k < c->nkeys; k++)
		vfy_wkey_set_cacheable(w->ww[k], cacheable);
	w->stats[VS_D_ATTEMPTED]++;
	e = E->dec->dec_new(h, w->wk, c->nkeys, NULL, &d, &wk, &ws);
	if (e != ATR_OK) {
		if (e == ATR_ERR_NOKEY) {
			w->stats[VS_D_NO_KEY]++;
			wadd(w, VFY_ERROR, j->store, j->rel, -1, "decrypt.no-key",
			    "none of the configured keys can open it");
		} else if (e == ATR_ERR_AUTH) {
			w->stats[VS_D_AUTH_FAILED]++;
			wadd(w, VFY_ERROR, j->store, j->rel, -1,
			    "decrypt.auth-failed",
			    "the key unwrap or the header failed authentication");
		} else {
			w->stats[VS_D_SERVICE]++;
			wadd(w, VFY_ERROR, j->store, j->rel, -1,
			    "decrypt.key-service", "%s%s%s", atr_strerror(e),
			    *atr_detail() ? ": " : "", atr_detail());
			mark_incomplete(w, "the key service failed");
		}
		atr_detail_clear();
		if (me >= 0)
			wadd(w, VFY_ERROR, j->store, j->rel, -1,
			    "decrypt.unverified",
			    "listed in the manifest but could not be decrypted");
		for (k = 0; k < c->nkeys; k++)
			vfy_wkey_forget(w->ww[k]);
		negative(w, j, h);
		goto unproven;
	}
	w->stats[VS_D_OPENED]++;
	{
		struct vfy_cov *cv = vfy_covmap_get(&w->cov, h->st[ws].key_id);

		if (cv != NULL)
			cv->opened++;
	}
	memset(&ob, 0, sizeof(ob));
	ob.store = j->store;
	ob.kind = h->st[ws].kind;
	memcpy(ob.oid, h->object_id, sizeof(ob.oid));
	memcpy(ob.nonce, h->nonce_prefix, sizeof(ob.nonce));
	if (h->st[ws].kind != ATR_KIND_DIRECT)
		memcpy(ob.share, h->st[ws].share_id, sizeof(ob.share));
	{
		uint8_t fp[32];

		if (atr_dec_dek_fingerprint(d, E->fkey, E->fkey_len, fp) ==
		    ATR_OK) {
			memcpy(ob.fp, fp, sizeof(ob.fp));
			ob.has_fp = 1;
		}
		atr_memzero(fp, sizeof(fp));
	}
	ob.frames = nframes;
	track_keys(w, h, wk, ws);
	if (c->revocation_drill && c->keys[wk]->provider == ATR_PROV_AZURE_KV)
		push_cand(w, j->path, j->rel, j->store, h->st[ws].key_id);
	if (me >= 0 && (vfy_manifest_entry(c->manifest, (size_t)me)->has_sha)) {
		hashing = EVP_DigestInit_ex(w->md, w->sha, NULL) == 1;
	}
	ns = shingle_plan(plen, fs, nframes, p->shingles_per_object, plan);
	w->stats[VS_T_OBJECTS]++;
	ok_all = 1;
	for (i = 0; i < nframes; i++) {
		int final = i + 1 == nframes;
		size_t len = final ? (size_t)(body - i * rec) : rec;
		uint8_t *fr;

		if (next_bytes(w, fd, &spos, got, len, &fr) != 0) {
			wadd(w, VFY_ERROR, j->store, j->rel,
			    (int64_t)(h->len + i * rec), "envelope.unreadable",
			    "read failed or file shrank");
			mark_incomplete(w, "a file could not be read");
			ok_all = 0;
			break;
		}
		if (scanning)
			vfy_scan_feed(sc, fr, len);
		if (i % stepf == 0)
			vfy_hist_add(&w->hist, fr, len);
		e = E->dec->dec_frame(d, i, final, fr, len, w->pt);
		if (e != ATR_OK) {
			w->stats[VS_D_AUTH_FAILED]++;
			wadd(w, VFY_ERROR, j->store, j->rel,
			    (int64_t)(h->len + i * rec), "decrypt.auth-failed",
			    "frame %llu of %llu failed authentication",
			    (unsigned long long)i, (unsigned long long)nframes);
			atr_detail_clear();
			ok_all = 0;
			if (!scanning) {
				/* From here on the bytes are not proven
				 * ciphertext: scan them. */
				vfy_scan_end(sc);
				vfy_scan_begin(sc, E->stat, h->len + i * rec, on_hit,
				    ha);
				vfy_scan_feed(sc, fr, len);
			}
			if (spos < got) {
				vfy_scan_feed(sc, w->hbuf + spos, got - spos);
				vfy_hist_add(&w->hist, w->hbuf + spos, got - spos);
				scan_rest(w, fd, sc, got, size, j);
			} else {
				scan_rest(w, fd, sc, h->len + i * rec + len, size,
				    j);
			}
			break;
		}
		w->stats[VS_D_FRAMES]++;
		w->stats[VS_D_PLAIN_BYTES] += (int64_t)(len - ATR_GCM_TAGBYTES);
		if (hashing && EVP_DigestUpdate(w->md, w->pt,
		    len - ATR_GCM_TAGBYTES) != 1)
			hashing = 0;
		for (; si < ns && plan[si].frame == i; si++)
			if (vfy_window_diverse(w->pt + plan[si].off)) {
				push_dyn(w, VFY_PAT_SHINGLE, w->pt + plan[si].off);
				w->stats[VS_P_SHINGLES]++;
			}
		/* Active tamper, in memory, with the same open decryptor:
		 * each must be rejected (FORMAT.md 5). */
		if (i == 0 && len > ATR_GCM_TAGBYTES) {
			fr[0] ^= 0x01;
			mutate(w, j, d, 0, final, fr, len, "a flipped ciphertext bit",
			    0);
			fr[0] ^= 0x01;
		}
		if (i == 1)
			mutate(w, j, d, 0, 0, fr, len,
			    "frame 1 moved to index 0 (reordering)", 1);
		if (nframes >= 2 && i == nframes - 2)
			mutate(w, j, d, i, 1, fr, len,
			    "truncation after this frame (opened as the final "
			    "frame)", i);
		if (final) {
			fr[len - 1] ^= 0x80;
			mutate(w, j, d, i, 1, fr, len, "a flipped tag bit", i);
			fr[len - 1] ^= 0x80;
			if (i + 1 < ATR_MAX_FRAMES)
				mutate(w, j, d, i + 1, 1, fr, len,
				    "the final frame moved one index on "
				    "(a dropped or duplicated frame)", i);
			if (len > ATR_GCM_TAGBYTES)
				mutate(w, j, d, i, 1, fr, len - 1,
				    "the final frame cut by one byte", i);
			mutate(w, j, d, i, 0, fr, len,
			    "bytes appended (the final frame opened as a "
			    "middle frame)", i);
		}
	}
	if (ok_all && p->tamper_header_sample &&
	    sampled("tamper", j->rel, p->tamper_header_sample))
		tamper_header(w, j, h, ws, c->nkeys);
	if (me >= 0) {
		const struct vfy_mentry *m = vfy_manifest_entry(c->manifest,
		    (size_t)me);

		if (hashing && EVP_DigestFinal_ex(w->md, md, &mdlen) != 1)
			hashing = 0;
		if (!ok_all) {
			wadd(w, VFY_ERROR, j->store, j->rel, -1,
			    "decrypt.unverified",
			    "listed in the manifest but did not decrypt");
		} else if (m->has_size && m->size != plen) {
			w->stats[VS_D_MAN_MISMATCH]++;
			wadd(w, VFY_ERROR, j->store, j->rel, -1,
			    "decrypt.size-mismatch",
			    "plaintext is %llu bytes; the manifest says %llu",
			    (unsigned long long)plen,
			    (unsigned long long)m->size);
		} else if (m->has_sha && (!hashing || mdlen != 32 ||
		    memcmp(md, m->sha256, 32) != 0)) {
			w->stats[VS_D_MAN_MISMATCH]++;
			wadd(w, VFY_ERROR, j->store, j->rel, -1,
			    "decrypt.digest-mismatch",
			    "plaintext SHA-256 differs from the manifest");
		} else {
			w->stats[VS_D_MAN_VERIFIED]++;
		}
	}
	ob.rel = vfy_strdup(j->rel);
	if (ob.rel == NULL || vfy_objvec_push(&w->objs, &ob) != 0) {
		free(ob.rel);
		mark_incomplete(w, "out of memory");
	}
	negative(w, j, h);
	E->dec->dec_free(d);
	d = NULL;
	proven = ok_all;
	judge_stats(w, j, proven);
	*proven_out = proven;
	/* The header is not ciphertext: rescanned once every key and
	 * shingle of the store is known. */
	if (proven)
		push_header(w, j->path, j->rel, j->store, h->raw, h->len);
	else
		push_rescan(w, j->path, j->rel, j->store, size);
	return;
unproven:
	if (d != NULL)
		E->dec->dec_free(d);
	/* Object id and nonce prefix are public: their uniqueness is
	 * checked for objects that did not open too (no DEK to compare). */
	memset(&ob, 0, sizeof(ob));
	ob.store = j->store;
	ob.kind = 0xff;
	memcpy(ob.oid, h->object_id, sizeof(ob.oid));
	memcpy(ob.nonce, h->nonce_prefix, sizeof(ob.nonce));
	ob.frames = nframes;
	ob.rel = vfy_strdup(j->rel);
	if (ob.rel == NULL || vfy_objvec_push(&w->objs, &ob) != 0) {
		free(ob.rel);
		mark_incomplete(w, "out of memory");
	}
	if (!scanning) {
		vfy_scan_end(sc);
		vfy_scan_begin(sc, E->stat, h->len, on_hit, ha);
	}
	if (spos < got) {
		vfy_scan_feed(sc, w->hbuf + spos, got - spos);
		vfy_hist_add(&w->hist, w->hbuf + spos, got - spos);
	}
	scan_rest(w, fd, sc, got, size, j);
	judge_stats(w, j, 0);
	*proven_out = 0;
	push_rescan(w, j->path, j->rel, j->store, size);
}

static void
process_file(struct worker *w, const struct job *j)
{
	struct engine *E = w->E;
	const struct vfy_config *c = E->c;
	struct vfy_scanner sc;
	struct hitagg ha;
	struct stat st;
	const char *why = "";
	size_t want, got = 0;
	uint64_t size;
	int fd, proven = 0;
	enum atr_err e;
	long me;

	fd = open_object(j->path, &why);
	if (fd < 0 || fstat(fd, &st) != 0) {
		wadd(w, VFY_ERROR, j->store, j->rel, -1, "envelope.unreadable",
		    "cannot open: %s", fd < 0 ? why : strerror(errno));
		mark_incomplete(w, "a file could not be read");
		if (fd >= 0)
			close(fd);
		return;
	}
	size = (uint64_t)st.st_size;
	w->stats[VS_FILES]++;
	w->stats[VS_BYTES] += (int64_t)size;
#ifdef POSIX_FADV_SEQUENTIAL
	/* Read-ahead matters for large objects only; a syscall per small
	 * file costs more than it saves. */
	if (size > 4 * (uint64_t)CHUNK)
		(void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
#endif
	memset(&ha, 0, sizeof(ha));
	vfy_hist_reset(&w->hist);
	vfy_scan_begin(&sc, E->stat, 0, on_hit, &ha);
	if (size == 0) {
		w->stats[VS_EMPTY]++;
		wadd(w, VFY_WARN, j->store, j->rel, -1, "envelope.empty-file",
		    "an empty file is not an envelope (it holds no data)");
		me = c->manifest ? vfy_manifest_find(c->manifest, j->rel) : -1;
		if (me >= 0) {
			atomic_store(&E->mseen[me], 1);
			wadd(w, VFY_ERROR, j->store, j->rel, -1,
			    "decrypt.unverified",
			    "listed in the manifest but the stored file is empty");
		}
		close(fd);
		return;
	}
	want = size < ATR_HEADER_MAX ? (size_t)size : ATR_HEADER_MAX;
	if (atr_read_full(fd, w->hbuf, want, &got) != ATR_OK || got != want) {
		wadd(w, VFY_ERROR, j->store, j->rel, -1, "envelope.unreadable",
		    "read failed or file shrank");
		mark_incomplete(w, "a file could not be read");
		close(fd);
		return;
	}
	e = atr_header_parse(w->hbuf, got, w->h);
	if (e == ATR_OK) {
		process_envelope(w, j, fd, size, got, &sc, &ha, &proven);
	} else {
		int magic = got >= ATR_MAGIC_BYTES &&
		    memcmp(w->hbuf, ATR_MAGIC, ATR_MAGIC_BYTES) == 0;

		if (magic) {
			w->stats[VS_MALFORMED]++;
			wadd(w, VFY_ERROR, j->store, j->rel, -1,
			    "envelope.malformed", "%s", atr_detail());
		} else {
			w->stats[VS_NOT_ENVELOPE]++;
			wadd(w, VFY_ERROR, j->store, j->rel, -1,
			    "envelope.not-envelope",
			    "not an atrest envelope: %llu bytes stored unencrypted",
			    (unsigned long long)size);
		}
		atr_detail_clear();
		me = c->manifest ? vfy_manifest_find(c->manifest, j->rel) : -1;
		if (me >= 0) {
			atomic_store(&E->mseen[me], 1);
			wadd(w, VFY_ERROR, j->store, j->rel, -1,
			    "decrypt.unverified",
			    "listed in the manifest but not stored as an envelope");
		}
		vfy_scan_feed(&sc, w->hbuf, got);
		vfy_hist_add(&w->hist, w->hbuf, got);
		scan_rest(w, fd, &sc, got, size, j);
		judge_stats(w, j, 0);
		push_rescan(w, j->path, j->rel, j->store, size);
	}
	vfy_scan_end(&sc);
	w->stats[VS_P_SCANNED] += (int64_t)sc.scanned;
	report_hits(w, j, &ha);
	close(fd);
	atomic_fetch_add(&E->bytes, size);
}

static void
process_job(struct worker *w, const struct job *j)
{
	switch (j->type) {
	case ATR_WALK_SYMLINK:
		w->stats[VS_SYMLINKS]++;
		wadd(w, VFY_WARN, j->store, j->rel, -1, "envelope.symlink",
		    "a symbolic link (not followed): what it points to is not "
		    "verified");
		break;
	case ATR_WALK_OTHER:
		w->stats[VS_SPECIAL]++;
		wadd(w, VFY_WARN, j->store, j->rel, -1, "envelope.special-file",
		    "a FIFO, socket or device in the store (not read)");
		break;
	default:
		process_file(w, j);
		break;
	}
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	struct engine *E = w->E;
	struct queue *q = &E->q;
	struct job j;

	for (;;) {
		pthread_mutex_lock(&q->mu);
		while (q->n == 0 && !q->done)
			pthread_cond_wait(&q->nonempty, &q->mu);
		if (q->n == 0 && q->done) {
			pthread_mutex_unlock(&q->mu);
			break;
		}
		j = q->v[q->head];
		q->head = (q->head + 1) % QUEUE_CAP;
		q->n--;
		pthread_cond_signal(&q->nonfull);
		pthread_mutex_unlock(&q->mu);
		atr_detail_clear();
		process_job(w, &j);
		atomic_fetch_add(&E->done, 1);
		free(j.path);
		free(j.rel);
	}
	return NULL;
}

/* ---- rescan (end phase) ------------------------------------------------ */

static void
rescan_bytes(struct worker *w, const struct rescan *r, const uint8_t *p,
    size_t n, struct vfy_scanner *sc)
{
	(void)r;
	vfy_scan_feed(sc, p, n);
	w->stats[VS_P_RESCANNED] += (int64_t)n;
}

static void
rescan_one(struct worker *w, const struct rescan *r, const uint8_t *seg)
{
	struct vfy_scanner sc;
	struct hitagg ha;
	struct job j;
	const char *why = "";
	uint64_t pos = 0;
	int fd;

	j.path = r->path;
	j.rel = r->rel;
	j.store = r->store;
	j.type = ATR_WALK_FILE;
	memset(&ha, 0, sizeof(ha));
	vfy_scan_begin(&sc, w->E->dyn, 0, on_hit, &ha);
	if (seg != NULL) {
		rescan_bytes(w, r, seg, (size_t)r->len, &sc);
	} else {
		fd = open_object(r->path, &why);
		if (fd < 0) {
			wadd(w, VFY_ERROR, r->store, r->rel, -1,
			    "envelope.unreadable", "cannot reopen: %s", why);
			mark_incomplete(w, "a file could not be read");
			return;
		}
		while (pos < r->len) {
			size_t want = r->len - pos < CHUNK ?
			    (size_t)(r->len - pos) : CHUNK, got = 0;

			if (atr_read_full(fd, w->chunk, want, &got) != ATR_OK ||
			    got == 0)
				break;
			rescan_bytes(w, r, w->chunk, got, &sc);
			pos += got;
		}
		close(fd);
	}
	vfy_scan_end(&sc);
	report_hits(w, &j, &ha);
	atomic_fetch_add(&w->E->done, 1);
}

static void *
rescan_main(void *arg)
{
	struct worker *w = arg;
	uint64_t pos = 0;     /* spill offset of chunk[0] */
	size_t have = 0, i;
	int spill_ok = w->spill_fd >= 0 && spill_flush(w) == 0 &&
	    lseek(w->spill_fd, 0, SEEK_SET) == 0;

	for (i = 0; i < w->nrs; i++) {
		const struct rescan *r = &w->rs[i];

		if (r->path != NULL) {
			rescan_one(w, r, NULL);
			continue;
		}
		if (!spill_ok) {
			wadd(w, VFY_ERROR, r->store, r->rel, -1,
			    "envelope.unreadable",
			    "the header copy for the end phase was lost");
			mark_incomplete(w, "the spill file could not be read");
			continue;
		}
		/* Segments were appended in order and are shorter than the
		 * chunk: slide the window forward until this one fits. */
		while (r->spill_off + r->len > pos + have) {
			size_t got = 0, drop = (size_t)(r->spill_off - pos);

			if (drop > have)
				drop = have;
			memmove(w->chunk, w->chunk + drop, have - drop);
			have -= drop;
			pos += drop;
			if (atr_read_full(w->spill_fd, w->chunk + have,
			    CHUNK - have, &got) != ATR_OK || got == 0) {
				spill_ok = 0;
				break;
			}
			have += got;
		}
		if (!spill_ok) {
			i--;
			continue;
		}
		rescan_one(w, r, w->chunk + (r->spill_off - pos));
	}
	return NULL;
}

/* ---- walk -------------------------------------------------------------- */

struct walkarg {
	struct engine *E;
	int store;
	const char *root;   /* as given, for a file STORE's name */
	uint64_t queued;
};

static enum atr_err
walk_cb(const char *path, const char *rel, enum atr_walk_type type,
    const struct stat *st, void *arg)
{
	struct walkarg *a = arg;
	struct engine *E = a->E;
	struct queue *q = &E->q;
	const char *r = rel;
	struct job j;

	(void)st;
	if (type == ATR_WALK_DIR)
		return ATR_OK;
	if (*rel == '\0') {
		/* A STORE that is a file: its relative path is its name as
		 * given (the manifest's view), even through a link. */
		const char *b = strrchr(a->root, '/');

		r = b ? b + 1 : a->root;
	}
	if (!vfy_in_shard(r, E->c->shard_k, E->c->shard_n))
		return ATR_OK;
	j.path = vfy_strdup(path);
	j.rel = vfy_strdup(r);
	j.store = a->store;
	j.type = (int)type;
	if (j.path == NULL || j.rel == NULL) {
		free(j.path);
		free(j.rel);
		return ATR_ERR_NOMEM;
	}
	pthread_mutex_lock(&q->mu);
	while (q->n == QUEUE_CAP) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 250000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&q->nonfull, &q->mu, &ts);
		pthread_mutex_unlock(&q->mu);
		progress(E, 0, 0);
		pthread_mutex_lock(&q->mu);
	}
	a->queued++;
	q->v[(q->head + q->n) % QUEUE_CAP] = j;
	q->n++;
	pthread_cond_signal(&q->nonempty);
	pthread_mutex_unlock(&q->mu);
	atomic_fetch_add(&E->queued, 1);
	progress(E, 0, 0);
	return ATR_OK;
}

/* ---- setup ------------------------------------------------------------- */

static void
worker_free(struct worker *w)
{
	size_t i;

	for (i = 0; i < VFY_NCHECKS; i++)
		vfy_flist_free(&w->f[i]);
	vfy_covmap_free(&w->cov);
	vfy_objvec_free(&w->objs);
	if (w->dyn != NULL)
		atr_secure_free(w->dyn, w->capdyn * sizeof(*w->dyn));
	for (i = 0; i < w->nrs; i++) {
		free(w->rs[i].path);
		free(w->rs[i].rel);
	}
	free(w->rs);
	for (i = 0; i < w->ncand; i++) {
		free(w->cand[i].rel);
		free(w->cand[i].path);
		free(w->cand[i].kid);
	}
	free(w->cand);
	for (i = 0; i < ATR_MAX_STANZAS; i++)
		atr_key_free(w->wk[i]);
	free(w->hbuf);
	free(w->rb);
	atr_secure_free(w->pt, w->ptcap);
	free(w->chunk);
	free(w->h);
	free(w->h2);
	atr_memzero(&w->hist, sizeof(w->hist));
	EVP_MD_CTX_free(w->md);
	EVP_MD_free(w->sha);
	if (w->spill_fd >= 0)
		close(w->spill_fd);
	free(w->spill_buf);
}

static enum atr_err
worker_init(struct engine *E, struct worker *w)
{
	size_t i;

	memset(w, 0, sizeof(*w));
	w->E = E;
	for (i = 0; i < VFY_NCHECKS; i++)
		vfy_flist_init(&w->f[i], E->p->max_findings);
	for (i = 0; i < E->c->nkeys; i++) {
		w->wk[i] = vfy_wkey_new(E->c->keys[i], &w->ww[i]);
		if (w->wk[i] == NULL)
			return ATR_ERR_NOMEM;
	}
	w->hbuf = malloc(ATR_HEADER_MAX);
	w->chunk = malloc(CHUNK);
	w->h = malloc(sizeof(*w->h));
	w->h2 = malloc(sizeof(*w->h2));
	w->md = EVP_MD_CTX_new();
	w->sha = EVP_MD_fetch(NULL, "SHA256", NULL);
	w->spill_buf = malloc(SPILL_BUF);
	w->spill_fd = -1;
	if (w->spill_buf != NULL) {
		const char *tmp = getenv("TMPDIR");
		char path[PATH_MAX];

		snprintf(path, sizeof(path), "%s/atrest-verify-spill-XXXXXX",
		    tmp != NULL && *tmp ? tmp : "/tmp");
		w->spill_fd = mkstemp(path);
		if (w->spill_fd >= 0)
			unlink(path);
	}
	if (w->hbuf == NULL || w->chunk == NULL || w->h == NULL ||
	    w->h2 == NULL || w->md == NULL || w->sha == NULL)
		return ATR_ERR_NOMEM;
	return ATR_OK;
}

static void
config_findings(struct engine *E)
{
	const struct vfy_config *c = E->c;
	const struct vfy_policy *p = E->p;
	struct vfy_report *r = E->r;
	size_t i, k;
	time_t now = time(NULL);

	r->stats[VS_PO_KEYS] = (int64_t)c->nkeys;
	for (i = 0; i < c->nkeys; i++) {
		struct atr_key *key = c->keys[i];
		struct vfy_vault_attrs va;
		enum atr_err e;

		if (key->alg == ATR_WRAP_RSA_OAEP_256 ||
		    key->alg == ATR_WRAP_RSA_OAEP_SHA1) {
			if (key->bits != 0 && key->bits < p->rsa_error_below)
				vfy_report_add(r, VFY_ERROR, -1, key->uri, -1,
				    "policy.key-rsa-size",
				    "configured RSA-%u key (below %u bits is not "
				    "allowed)", key->bits, p->rsa_error_below);
			else if (key->bits != 0 && key->bits < p->rsa_min_bits)
				vfy_report_add(r, VFY_WARN, -1, key->uri, -1,
				    "policy.key-rsa-size",
				    "configured RSA-%u key (%u bits or more are "
				    "required for data kept past 2030, SP 800-57)",
				    key->bits, p->rsa_min_bits);
		}
		if (!key->customer_managed && p->require_cmk)
			vfy_report_add(r, VFY_WARN, -1, key->uri, -1,
			    "policy.key-smk",
			    "the configured key is service-managed: objects "
			    "wrapped only by it are findings (recipients.smk-only)");
		if (!vfy_vault_is_vault_key(key))
			continue;
		r->stats[VS_PO_VAULT_KEYS]++;
		e = vfy_vault_attrs(key, 1, &va);
		if (e != ATR_OK) {
			vfy_report_add(r, VFY_WARN, -1, key->uri, -1,
			    "policy.vault-unavailable",
			    "the vault key's attributes could not be read: %s%s%s",
			    atr_strerror(e), *atr_detail() ? ": " : "",
			    atr_detail());
			atr_detail_clear();
			continue;
		}
		if (!va.enabled && p->vault_require_enabled && !E->drill_only)
			vfy_report_add(r, VFY_ERROR, -1, key->uri, -1,
			    "policy.vault-disabled", "the key is disabled");
		if (va.has_exp && va.exp <= (int64_t)now)
			vfy_report_add(r, VFY_ERROR, -1, key->uri, -1,
			    "policy.vault-expired", "the key expired");
		else if (va.has_exp && va.exp - (int64_t)now <
		    (int64_t)p->vault_expiry_warn_days * 86400)
			vfy_report_add(r, VFY_WARN, -1, key->uri, -1,
			    "policy.vault-expiring",
			    "the key expires within %u days",
			    p->vault_expiry_warn_days);
		else if (!va.has_exp && p->vault_require_expiry)
			vfy_report_add(r, VFY_ERROR, -1, key->uri, -1,
			    "policy.vault-no-expiry",
			    "the key has no expiry date (policy requires one)");
		if (va.has_nbf && va.nbf > (int64_t)now)
			vfy_report_add(r, VFY_ERROR, -1, key->uri, -1,
			    "policy.vault-not-yet-valid",
			    "the key's not-before date is in the future");
		if (!va.key_ops_present)
			vfy_report_add(r, VFY_WARN, -1, key->uri, -1,
			    "policy.vault-key-ops",
			    "the key lists no key_ops (every operation allowed)");
		else if (va.key_ops & ~p->vault_allowed_ops) {
			char list[160] = "";

			for (k = 0; k < ATR_JWK_COUNT; k++)
				if (va.key_ops & ~p->vault_allowed_ops &
				    atr_jwk_op_at((unsigned)k))
					snprintf(list + strlen(list),
					    sizeof(list) - strlen(list), "%s%s",
					    list[0] ? ", " : "", atr_jwk_op_name(
					    atr_jwk_op_at((unsigned)k)));
			vfy_report_add(r, VFY_ERROR, -1, key->uri, -1,
			    "policy.vault-key-ops",
			    "key_ops allow more than the policy: %s", list);
		}
		for (k = 0; k < p->vault_nrecovery; k++)
			if (strcmp(va.recovery_level, p->vault_recovery[k]) == 0)
				break;
		if (k == p->vault_nrecovery)
			vfy_report_add(r, VFY_ERROR, -1, key->uri, -1,
			    "policy.vault-recovery",
			    "recoveryLevel \"%s\" lacks soft delete with purge "
			    "protection", va.recovery_level[0] ?
			    va.recovery_level : "(none)");
		if (strncmp(va.kty, "RSA", 3) != 0 && strncmp(va.kty, "oct", 3))
			vfy_report_add(r, VFY_ERROR, -1, key->uri, -1,
			    "policy.vault-kty",
			    "key type %s cannot wrap data keys", va.kty);
		if (strncmp(va.kty, "RSA", 3) == 0 && va.bits != 0 &&
		    va.bits < p->rsa_error_below)
			vfy_report_add(r, VFY_ERROR, -1, key->uri, -1,
			    "policy.key-rsa-size", "vault RSA-%u key", va.bits);
	}
}

static int
cmp_cand(const void *a, const void *b)
{
	const struct cand *x = a, *y = b;

	if (x->store != y->store)
		return x->store < y->store ? -1 : 1;
	return vfy_path_cmp(x->rel, y->rel);
}

/* The revocation drill over the first candidates, key by key. */
static void
drill(struct engine *E, struct cand *cand, size_t ncand)
{
	const struct vfy_config *c = E->c;
	struct vfy_report *r = E->r;
	struct atr_header *h = malloc(sizeof(*h));
	uint8_t *spill = malloc(ATR_HEADER_MAX);
	const char *why = "";
	size_t i, k, tried = 0;
	int any_vault = 0;

	if (h == NULL || spill == NULL) {
		free(h);
		free(spill);
		return;
	}
	for (k = 0; k < c->nkeys; k++) {
		struct atr_key *key = c->keys[k];
		enum atr_err e;

		if (!vfy_vault_is_vault_key(key))
			continue;
		any_vault = 1;
		if (c->drill_guard != NULL)
			c->drill_guard(c->drill_guard_arg, 1);
		e = vfy_vault_set_enabled(key, 0);
		if (e != ATR_OK) {
			vfy_report_add(r, VFY_ERROR, -1, key->uri, -1,
			    "negative.revocation-failed",
			    "could not disable the key for the drill: %s%s%s",
			    atr_strerror(e), *atr_detail() ? ": " : "",
			    atr_detail());
			atr_detail_clear();
			if (c->drill_guard != NULL)
				c->drill_guard(c->drill_guard_arg, 0);
			continue;
		}
		for (i = 0; i < ncand; i++) {
			struct atr_dec *d = NULL;
			size_t extra = 0;
			int fd;

			if (strcmp(cand[i].kid, key->key_id) != 0)
				continue;
			fd = open_object(cand[i].path, &why);
			if (fd < 0)
				continue;
			e = atr_read_header(fd, h, spill, &extra);
			close(fd);
			if (e != ATR_OK)
				continue;
			tried++;
			r->stats[VS_N_DRILL]++;
			/* The real keys, without the per-worker cache: every
			 * attempt asks the vault. */
			e = E->dec->dec_new(h, c->keys, c->nkeys, NULL, &d, NULL,
			    NULL);
			if (e == ATR_OK) {
				r->stats[VS_N_DRILL_OPENED]++;
				vfy_report_add(r, VFY_ERROR, cand[i].store,
				    cand[i].rel, -1, "negative.revocation-opened",
				    "opened while %s was disabled", key->uri);
				E->dec->dec_free(d);
			}
			atr_detail_clear();
		}
		e = vfy_vault_set_enabled(key, 1);
		if (e != ATR_OK) {
			vfy_report_add(r, VFY_ERROR, -1, key->uri, -1,
			    "negative.revocation-failed",
			    "could not re-enable the key after the drill (enable "
			    "it by hand): %s%s%s", atr_strerror(e),
			    *atr_detail() ? ": " : "", atr_detail());
			atr_detail_clear();
		}
		if (c->drill_guard != NULL)
			c->drill_guard(c->drill_guard_arg, 0);
	}
	if (!any_vault)
		vfy_report_add(r, VFY_WARN, -1, "", -1,
		    "negative.revocation-unavailable",
		    "the revocation drill needs a Key Vault key (--key https://...)");
	else if (tried == 0)
		vfy_report_add(r, VFY_WARN, -1, "", -1,
		    "negative.revocation-unavailable",
		    "no object opened through a vault key could be tried");
	free(h);
	free(spill);
}

static void
fill_config(struct engine *E)
{
	const struct vfy_config *c = E->c;
	struct vfy_report *r = E->r;
	size_t i;

	r->stores = calloc(c->nstores, sizeof(*r->stores));
	r->keys = calloc(c->nkeys, sizeof(*r->keys));
	if (r->stores != NULL) {
		r->nstores = c->nstores;
		for (i = 0; i < c->nstores; i++) {
			struct stat st;

			r->stores[i].arg = vfy_strdup(c->stores[i]);
			r->stores[i].is_file = stat(c->stores[i], &st) == 0 &&
			    !S_ISDIR(st.st_mode);
		}
	}
	if (r->keys != NULL) {
		r->nkeys = c->nkeys;
		for (i = 0; i < c->nkeys; i++) {
			struct atr_key *k = c->keys[i];

			r->keys[i].uri = vfy_strdup(k->uri);
			r->keys[i].key_id = vfy_strdup(k->key_id);
			r->keys[i].desc = vfy_strdup(k->desc);
			r->keys[i].provider = vfy_strdup(atr_provider_name(k->provider));
			r->keys[i].bits = k->bits;
			r->keys[i].customer_managed = k->customer_managed;
			r->keys[i].primary = i == 0;
		}
	}
	r->control = vfy_strdup(c->control_uri ? c->control_uri : "generated");
	if (c->manifest != NULL) {
		r->manifest = vfy_strdup(c->manifest_path ? c->manifest_path :
		    "(given)");
		snprintf(r->manifest_sha, sizeof(r->manifest_sha), "%s",
		    vfy_manifest_sha(c->manifest));
	}
	r->shard_k = c->shard_n > 1 ? c->shard_k : 0;
	r->shard_n = c->shard_n > 1 ? c->shard_n : 0;
	r->keep_shard_data = c->shard_n > 1;
	r->revocation_drill = c->revocation_drill;
	snprintf(r->current_key_id, sizeof(r->current_key_id), "%s", E->current);
}

enum atr_err
vfy_run(const struct vfy_config *c, struct vfy_report **out)
{
	struct engine *E = NULL;
	struct vfy_policy defp;
	enum atr_err err = ATR_OK;
	size_t i, k, total_rs = 0, total_dyn = 0, ncand = 0;
	struct cand *cand = NULL;
	int64_t t0 = (int64_t)atr_now_ns();
	unsigned started = 0;
	char joined[64];

	*out = NULL;
	if (c->nkeys == 0 || c->nkeys > ATR_MAX_STANZAS)
		return atr_fail(ATR_ERR_CONFIG, "1..%u --key options are needed",
		    ATR_MAX_STANZAS);
	if (c->nstores == 0)
		return atr_fail(ATR_ERR_USAGE, "no STORE given");
	if (c->shard_n > 1 && (c->shard_k < 1 || c->shard_k > c->shard_n))
		return atr_fail(ATR_ERR_USAGE, "--shard K/N needs 1 <= K <= N");
	if (c->shard_n > 1 && c->revocation_drill)
		return atr_fail(ATR_ERR_USAGE, "--revocation-drill toggles the "
		    "key: run it in one job, not with --shard");
	E = calloc(1, sizeof(*E));
	if (E == NULL)
		return ATR_ERR_NOMEM;
	E->c = c;
	if (c->policy == NULL) {
		vfy_policy_default(&defp);
		E->p = &defp;
	} else {
		E->p = c->policy;
	}
	E->dec = c->dec ? c->dec : &lib_dec;
	E->r = vfy_report_new(E->p);
	E->stat = vfy_pset_new();
	E->dyn = vfy_pset_new();
	if (E->r == NULL || E->stat == NULL || E->dyn == NULL) {
		err = ATR_ERR_NOMEM;
		goto out;
	}
	pthread_mutex_init(&E->q.mu, NULL);
	pthread_cond_init(&E->q.nonempty, NULL);
	pthread_cond_init(&E->q.nonfull, NULL);
	snprintf(E->current, sizeof(E->current), "%s", c->keys[0]->key_id);
	/* DEK fingerprint key: given (shards must share it) or random. */
	if (c->fp_key != NULL && c->fp_key_len > 0) {
		uint8_t id[32];

		E->fkey_len = c->fp_key_len < sizeof(E->fkey) ? c->fp_key_len :
		    sizeof(E->fkey);
		memcpy(E->fkey, c->fp_key, E->fkey_len);
		if (atr_hmac_sha256(E->fkey, E->fkey_len,
		    (const uint8_t *)"atrest-verify fingerprint key id", 32,
		    id) == ATR_OK)
			atr_hex(id, 16, E->r->fp_key_id);
	} else {
		E->fkey_len = sizeof(E->fkey);
		err = atr_random(E->fkey, sizeof(E->fkey));
		if (err != ATR_OK)
			goto out;
	}
	/* --min-version orders versions by the vault's creation times. */
	if (E->p->min_version[0]) {
		size_t m;

		if (!vfy_vault_is_vault_key(c->keys[0])) {
			err = atr_fail(ATR_ERR_CONFIG, "--min-version needs a Key "
			    "Vault key as the first --key (file and pkcs11 keys "
			    "have no versions)");
			goto out;
		}
		err = vfy_vault_versions(c->keys[0], &E->vv.v, &E->vv.n);
		if (err != ATR_OK)
			goto out;
		for (m = 0; m < E->vv.n; m++)
			if (strcasecmp(E->vv.v[m].version, E->p->min_version) == 0)
				break;
		if (m == E->vv.n) {
			err = atr_fail(ATR_ERR_CONFIG, "--min-version %s: no such "
			    "version of %s", E->p->min_version, c->keys[0]->uri);
			goto out;
		}
		E->vv.min_created = E->vv.v[m].created;
	}
	if (c->revocation_drill && vfy_vault_is_vault_key(c->keys[0])) {
		struct vfy_vault_attrs va;

		if (vfy_vault_attrs(c->keys[0], 1, &va) == ATR_OK && !va.enabled)
			E->drill_only = 1;
		atr_detail_clear();
	}
	fill_config(E);
	/* static patterns: the manifest's canaries */
	if (c->manifest != NULL) {
		size_t n = vfy_manifest_count(c->manifest), id = 0;
		char **g;
		size_t ng = vfy_manifest_global_canaries(c->manifest, &g);

		E->mseen = calloc(n ? n : 1, sizeof(*E->mseen));
		E->ncanary = vfy_manifest_canaries(c->manifest);
		E->canary_of = calloc(E->ncanary ? E->ncanary : 1,
		    sizeof(*E->canary_of));
		if (E->mseen == NULL || E->canary_of == NULL) {
			err = ATR_ERR_NOMEM;
			goto out;
		}
		for (i = 0; i < n; i++) {
			const struct vfy_mentry *m = vfy_manifest_entry(c->manifest,
			    i);

			for (k = 0; k < m->ncanaries; k++, id++) {
				E->canary_of[id].entry = (long)i;
				E->canary_of[id].k = (int)k;
				vfy_pset_add_exact(E->stat,
				    (const uint8_t *)m->canaries[k],
				    strlen(m->canaries[k]), (uint32_t)id);
			}
		}
		for (k = 0; k < ng; k++, id++) {
			E->canary_of[id].entry = -1;
			E->canary_of[id].k = (int)k;
			vfy_pset_add_exact(E->stat, (const uint8_t *)g[k],
			    strlen(g[k]), (uint32_t)id);
		}
		E->r->stats[VS_P_CANARIES] = (int64_t)E->ncanary;
	}
	if (vfy_pset_build(E->stat) != 0) {
		err = ATR_ERR_NOMEM;
		goto out;
	}
	err = vfy_controls_new(c->control, &E->ctl);
	if (err != ATR_OK)
		goto out;
	config_findings(E);
	E->nw = c->jobs ? c->jobs : atr_cpu_count();
	if (E->nw < 1)
		E->nw = 1;
	if (E->nw > 64)
		E->nw = 64;
	E->r->jobs = E->nw;
	E->w = calloc(E->nw, sizeof(*E->w));
	if (E->w == NULL) {
		err = ATR_ERR_NOMEM;
		goto out;
	}
	for (i = 0; i < E->nw; i++) {
		err = worker_init(E, &E->w[i]);
		if (err != ATR_OK)
			goto out;
	}
	for (i = 0; i < E->nw; i++) {
		if (pthread_create(&E->w[i].th, NULL, worker_main, &E->w[i]) !=
		    0) {
			err = atr_fail(ATR_ERR_NOMEM, "cannot start a worker thread");
			break;
		}
		started++;
	}
	for (i = 0; err == ATR_OK && i < c->nstores; i++) {
		struct walkarg a = {E, (int)i, c->stores[i], 0};
		const char *root = c->stores[i];
		char real[PATH_MAX];
		struct stat st;
		enum atr_err we;

		/* A STORE given through a symbolic link is walked: the walk
		 * itself never follows links below it. */
		if (lstat(root, &st) == 0 && S_ISLNK(st.st_mode) &&
		    realpath(root, real) != NULL)
			root = real;
		we = atr_walk(root, walk_cb, &a);
		if (we == ATR_OK && a.queued == 0 && c->shard_n <= 1)
			vfy_report_add(E->r, VFY_WARN, (int)i, "", -1,
			    "envelope.empty-store",
			    "the store holds no file: nothing was verified");
		if (we != ATR_OK) {
			E->walk_failed = 1;
			snprintf(E->walk_why, sizeof(E->walk_why), "%s: %s",
			    c->stores[i], *atr_detail() ? atr_detail() :
			    atr_strerror(we));
			atr_detail_clear();
		}
	}
	pthread_mutex_lock(&E->q.mu);
	E->q.done = 1;
	pthread_cond_broadcast(&E->q.nonempty);
	pthread_mutex_unlock(&E->q.mu);
	for (i = 0; i < started; i++)
		pthread_join(E->w[i].th, NULL);
	if (err != ATR_OK)
		goto out;
	progress(E, 0, 1);

	/* End phase 1: every key and shingle is known; rescan what is not
	 * proven ciphertext. */
	for (i = 0; i < E->nw; i++) {
		total_rs += E->w[i].nrs;
		total_dyn += E->w[i].ndyn;
	}
	for (i = 0; i < E->nw; i++)
		if (vfy_pset_add_hashes(E->dyn, E->w[i].dyn, E->w[i].ndyn) != 0)
			err = ATR_ERR_NOMEM;
	if (err != ATR_OK || vfy_pset_build(E->dyn) != 0) {
		err = ATR_ERR_NOMEM;
		goto out;
	}
	if (total_dyn > 0 && total_rs > 0) {
		atomic_store(&E->done, 0);
		atomic_store(&E->queued, total_rs);
		for (i = 0; i < E->nw; i++) {
			joined[i] = pthread_create(&E->w[i].th, NULL, rescan_main,
			    &E->w[i]) == 0;
			if (!joined[i])
				rescan_main(&E->w[i]);
		}
		for (i = 0; i < E->nw; i++)
			if (joined[i])
				pthread_join(E->w[i].th, NULL);
		progress(E, 1, 1);
	}

	/* Merge the workers' results into the report. */
	for (i = 0; i < E->nw; i++) {
		struct worker *w = &E->w[i];
		int s;

		for (s = 0; s < VFY_NCHECKS; s++)
			vfy_flist_absorb(&E->r->checks[s].f, &w->f[s]);
		for (s = 0; s < VS__COUNT; s++)
			if (vfy_stat_defs[s].op == VFY_OP_MAX) {
				if (w->stats[s] > E->r->stats[s])
					E->r->stats[s] = w->stats[s];
			} else {
				E->r->stats[s] += w->stats[s];
			}
		vfy_covmap_absorb(&E->r->cov, &w->cov);
		for (k = 0; k < w->objs.n; k++)
			if (vfy_objvec_push(&E->r->objs, &w->objs.v[k]) != 0) {
				free(w->objs.v[k].rel);
				E->r->incomplete = 1;
			}
		free(w->objs.v);
		memset(&w->objs, 0, sizeof(w->objs));
		if (w->incomplete && !E->r->incomplete) {
			E->r->incomplete = 1;
			snprintf(E->r->incomplete_why,
			    sizeof(E->r->incomplete_why), "%s", w->why);
		}
		if (w->ncand) {
			struct cand *nc = realloc(cand, (ncand + w->ncand) *
			    sizeof(*cand));

			if (nc != NULL) {
				cand = nc;
				memcpy(cand + ncand, w->cand,
				    w->ncand * sizeof(*cand));
				ncand += w->ncand;
				free(w->cand);
				w->cand = NULL;
				w->ncand = 0;
			}
		}
	}
	if (E->walk_failed) {
		E->r->incomplete = 1;
		snprintf(E->r->incomplete_why, sizeof(E->r->incomplete_why),
		    "%s", E->walk_why);
	}
	/* Manifest entries of this shard that no store holds. */
	if (c->manifest != NULL) {
		size_t n = vfy_manifest_count(c->manifest);

		for (i = 0; i < n; i++) {
			const struct vfy_mentry *m = vfy_manifest_entry(c->manifest,
			    i);

			if (!vfy_in_shard(m->path, c->shard_k, c->shard_n))
				continue;
			E->r->stats[VS_D_MAN_ENTRIES]++;
			if (atomic_load(&E->mseen[i]))
				continue;
			E->r->stats[VS_D_MAN_MISSING]++;
			vfy_report_add(E->r, VFY_ERROR, c->nstores == 1 ? 0 : -1,
			    m->path, -1, "decrypt.missing",
			    "listed in the manifest but absent from the store "
			    "(data lost)");
		}
	}
	if (c->revocation_drill && !E->drill_only) {
		if (ncand > 1)
			qsort(cand, ncand, sizeof(*cand), cmp_cand);
		drill(E, cand, ncand < E->p->drill_objects ? ncand :
		    E->p->drill_objects);
	}
	progress(E, 2, 1);
	E->r->elapsed_ms = ((int64_t)atr_now_ns() - t0) / 1000000;
	E->r->started = c->started ? c->started : (int64_t)time(NULL);
	vfy_finalize(E->r);
	*out = E->r;
	E->r = NULL;
out:
	if (cand != NULL) {
		for (i = 0; i < ncand; i++) {
			free(cand[i].rel);
			free(cand[i].path);
			free(cand[i].kid);
		}
		free(cand);
	}
	if (E->w != NULL) {
		for (i = 0; i < E->nw; i++)
			worker_free(&E->w[i]);
		free(E->w);
	}
	vfy_report_free(E->r);
	vfy_pset_free(E->stat);
	vfy_pset_free(E->dyn);
	vfy_controls_free(E->ctl);
	free(E->mseen);
	free(E->canary_of);
	free(E->vv.v);
	atr_memzero(E->fkey, sizeof(E->fkey));
	free(E);
	return err;
}
