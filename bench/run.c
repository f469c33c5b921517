/*
 * run.c - the bench matrix: key setups, hierarchies, workers, pools,
 * interleaved repetitions with their reference measurements.
 *
 * Measurement rules (peer-bench.md section 5): every buffer is allocated
 * once, pre-faulted with non-zero writes and reused (a first touch costs
 * ~11 us per page on this VM); each cell gets a warm-up that is not
 * recorded; the repetitions of the cells of a group are interleaved and
 * each is followed by the references its limit needs, so ratios are
 * taken per repetition against references measured seconds apart.
 */
#include "bench.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <dirent.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "crypto.h"
#include "envelope.h"
#include "key.h"
#include "keys.h"
#include "keyuri.h"
#include "util.h"

#define POOL_PER_KEY_BYTES (16U * 1024U * 1024U)
#define POOL_MAX_OBJECTS 256U
#define POOL_MAX_REMOTE 16U
#define KCACHE_CAP 16U
#define MIN_OPS 2U
#define REF_MIN_OPS 3U

const double atb_cdf_q[ATB_CDF_POINTS] = {
	0.0, 0.01, 0.05, 0.10, 0.20, 0.30, 0.40, 0.50, 0.60, 0.70, 0.80,
	0.85, 0.90, 0.93, 0.95, 0.97, 0.98, 0.99, 0.995, 0.998, 0.999,
	0.9995, 0.9999, 1.0,
};

/* ---- names --------------------------------------------------------- */

static const char *const hier_names[ATB_HIER__COUNT] = {
	"per-object", "intermediate", "cached",
};
static const char *const op_names[ATB_OP__COUNT] = {"encrypt", "decrypt"};
static const char *const phase_names[ATB_PH__COUNT] = {
	"dek", "wrap", "unwrap", "aead", "io", "other",
};

const char *
atb_hier_name(enum atb_hier h)
{
	return (unsigned)h < ATB_HIER__COUNT ? hier_names[h] : "unknown";
}

const char *
atb_op_name(enum atb_op o)
{
	return (unsigned)o < ATB_OP__COUNT ? op_names[o] : "unknown";
}

const char *
atb_phase_name(enum atb_phase p)
{
	return (unsigned)p < ATB_PH__COUNT ? phase_names[p] : "unknown";
}

int
atb_hier_parse(const char *s, enum atb_hier *out)
{
	unsigned i;

	for (i = 0; i < ATB_HIER__COUNT; i++)
		if (strcmp(s, hier_names[i]) == 0) {
			*out = (enum atb_hier)i;
			return 0;
		}
	return -1;
}

int
atb_op_parse(const char *s, enum atb_op *out)
{
	unsigned i;

	for (i = 0; i < ATB_OP__COUNT; i++)
		if (strcmp(s, op_names[i]) == 0) {
			*out = (enum atb_op)i;
			return 0;
		}
	return -1;
}

/* ---- configuration ------------------------------------------------- */

void
atb_config_default(struct atb_config *c)
{
	unsigned cores = atr_cpu_count();

	memset(c, 0, sizeof(*c));
	c->keys[0] = "smk";
	c->keys[1] = "rsa-3072";
	c->keys[2] = "vault";
	c->nkeys = 3;
	c->vault_optional = 1;
	c->vault_limit_scale = 1.0;
	c->hier[ATB_PER_OBJECT] = c->hier[ATB_INTERMEDIATE] =
	    c->hier[ATB_CACHED] = 1;
	c->ops[ATB_ENCRYPT] = c->ops[ATB_DECRYPT] = 1;
	c->sizes[0] = 1024;
	c->sizes[1] = 64 * 1024;
	c->sizes[2] = 1024 * 1024;
	c->sizes[3] = 64 * 1024 * 1024;
	c->nsizes = 4;
	c->threads[0] = 1;
	c->nthreads = 1;
	if (cores > 1) {
		c->threads[1] = cores > ATB_MAX_WORKERS ? ATB_MAX_WORKERS : cores;
		c->nthreads = 2;
	}
	c->seconds = 0.1;
	c->warmup = 0.025;
	c->reps = 3;
	c->frame_size = 0;
	/* S3 Bucket Keys rotate by time; a count keeps CI deterministic. */
	c->ik_every = 10000;
	c->ik_seconds = 300.0;
	/* The ESDK caching CMM requires a max age; uses and bytes as ours. */
	c->cache_max_age = 300.0;
	c->cache_max_uses = 10000;
	c->cache_max_bytes = 1ULL << 30;
	c->noise_pct = 10.0;
	c->key_opts.max_retries = -1;
}

void
atb_config_quick(struct atb_config *c)
{
	atb_config_default(c);
	c->sizes[0] = 1024;
	c->sizes[1] = 64 * 1024;
	c->nsizes = 2;
	c->threads[0] = 1;
	c->nthreads = 1;
	c->seconds = 0.04;
	c->warmup = 0.01;
	c->reps = 5;
	c->quick = 1;
}

/* ---- big buffers ---------------------------------------------------- */

struct bigbuf {
	uint8_t *p;
	size_t len;
};

/*
 * Anonymous memory with transparent huge pages where the kernel allows
 * them (THP "madvise" mode here), touched with a non-zero pattern so no
 * page fault is left for the timed loops.
 */
static enum atr_err
big_alloc(struct bigbuf *b, size_t len, uint8_t fill)
{
	void *p;

	b->p = NULL;
	b->len = 0;
	if (len == 0)
		len = 1;
	len = (len + 4095U) & ~(size_t)4095U;
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
	    -1, 0);
	if (p == MAP_FAILED)
		return atr_fail(ATR_ERR_NOMEM, "cannot map %zu bytes", len);
#ifdef MADV_HUGEPAGE
	(void)madvise(p, len, MADV_HUGEPAGE);
#endif
	memset(p, fill, len);
	b->p = p;
	b->len = len;
	return ATR_OK;
}

static void
big_free(struct bigbuf *b)
{
	if (b->p != NULL)
		munmap(b->p, b->len);
	b->p = NULL;
	b->len = 0;
}

/* ---- key setups and the counting wrapper ---------------------------- */

struct worker;
static _Thread_local struct worker *tls_w;

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

struct counted {
	struct atr_key *inner;
};

struct member;
struct group;

struct worker {
	struct run *R;
	struct group *G;
	struct member *M;
	unsigned idx;
	pthread_t th;
	struct bigbuf out;
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

static void
kms_record(struct worker *w, enum atb_phase ph, uint64_t dt, enum atr_err err)
{
	if (w == NULL)
		return;
	w->kms_calls++;
	w->ns[ph] += dt;
	atb_hist_add(w->kms, dt);
	if (err != ATR_OK)
		w->kms_errors++;
}

static enum atr_err
cnt_wrap(struct atr_key *k, const uint8_t *in, size_t in_len, uint8_t *out,
    size_t *out_len)
{
	struct atr_key *inner = ((struct counted *)k->impl)->inner;
	uint64_t t0 = atr_now_ns();
	enum atr_err err = inner->ops->wrap(inner, in, in_len, out, out_len);

	kms_record(tls_w, ATB_PH_WRAP, atr_now_ns() - t0, err);
	return err;
}

static enum atr_err
cnt_unwrap(struct atr_key *k, const char *kid, enum atr_wrap_alg alg,
    const uint8_t *in, size_t in_len, uint8_t *out, size_t *out_len)
{
	struct atr_key *inner = ((struct counted *)k->impl)->inner;
	uint64_t t0 = atr_now_ns();
	enum atr_err err = inner->ops->unwrap(inner, kid, alg, in, in_len,
	    out, out_len);

	kms_record(tls_w, ATB_PH_UNWRAP, atr_now_ns() - t0,
	    err == ATR_ERR_AUTH ? ATR_OK : err);
	return err;
}

static int
cnt_matches(const struct atr_key *k, enum atr_provider_type prov,
    const char *kid)
{
	const struct atr_key *inner = ((const struct counted *)k->impl)->inner;

	return inner->ops->matches(inner, prov, kid);
}

static void
cnt_free(struct atr_key *k)
{
	/* The inner key belongs to the key setup, freed on its own. */
	free(k->impl);
	k->impl = NULL;
}

static const struct atr_key_ops counted_ops = {
	cnt_wrap, cnt_unwrap, cnt_matches, cnt_free,
};

/* A key that behaves as inner but counts and times every KEK call. */
static enum atr_err
counted_new(struct atr_key *inner, struct atr_key **out)
{
	struct atr_key *k = atr_key_alloc(&counted_ops);
	struct counted *c = calloc(1, sizeof(*c));

	if (k == NULL || c == NULL) {
		free(k);
		free(c);
		return ATR_ERR_NOMEM;
	}
	c->inner = inner;
	k->impl = c;
	k->provider = inner->provider;
	k->alg = inner->alg;
	memcpy(k->uri, inner->uri, sizeof(k->uri));
	memcpy(k->key_id, inner->key_id, sizeof(k->key_id));
	memcpy(k->desc, inner->desc, sizeof(k->desc));
	k->customer_managed = inner->customer_managed;
	k->can_wrap = inner->can_wrap;
	k->can_unwrap = inner->can_unwrap;
	k->bits = inner->bits;
	*out = k;
	return ATR_OK;
}

/* ---- the run --------------------------------------------------------- */

struct pobj {
	size_t off, len;
};

struct pool {
	struct kset *ks;           /* for this key */
	struct pobj *objs;
	size_t nobj;
};

/*
 * A thread's hierarchy state: its intermediate key or cached DEK and its
 * decrypt-side key cache.  It lives for the whole cell (warm-up and
 * repetitions), as in a long-running service, so a rotation happens
 * when the policy says, not at every repetition's start.
 */
struct hstate {
	struct atr_share *share;
	uint64_t born, uses, bytes;
	struct atr_kcache *kc;
	uint64_t kc_unwraps, kc_hits;   /* counters already reported */
};

struct member {
	struct kset *ks;
	struct hstate *hs;         /* one per thread; NULL: fresh per job */
	unsigned threads;
	struct atb_cell *cell;
	struct pool *pool;
	double *rep_ops, *rep_lim, *rep_gcm, *rep_kek;
	double *rep_cpu, *rep_gcm_cpu, *rep_kek_cpu;  /* CPU ns per op */
	unsigned nrep;
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

struct group {
	enum atb_hier hier;
	enum atb_op op;
	uint64_t size;
	struct member *m;
	size_t nm;
	struct pool pools[ATB_MAX_KEYS];
	size_t npools;
};

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
};

static void
add_text(char ***list, size_t *n, const char *fmt, ...)
{
	char buf[512], **l;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	l = realloc(*list, (*n + 1) * sizeof(*l));
	if (l == NULL)
		return;
	*list = l;
	l[*n] = strdup(buf);
	if (l[*n] != NULL)
		(*n)++;
}

#define WARN(R, ...) add_text(&(R)->res->warnings, &(R)->res->nwarnings, __VA_ARGS__)
#define NOTE(R, ...) add_text(&(R)->res->notes, &(R)->res->nnotes, __VA_ARGS__)

static size_t
obj_cap(uint64_t size, uint32_t fs)
{
	uint64_t frames = size == 0 ? 1 : (size + fs - 1) / fs;

	return (size_t)(ATR_HEADER_MAX + size + frames * ATR_GCM_TAGBYTES);
}

/* ---- key setups ------------------------------------------------------ */

static enum atr_err
tmpdir_make(struct run *R)
{
	const char *t = getenv("TMPDIR");

	if (R->tmpdir[0] != '\0')
		return ATR_OK;
	snprintf(R->tmpdir, sizeof(R->tmpdir), "%s/atrest-bench-XXXXXX",
	    t && *t ? t : "/tmp");
	if (mkdtemp(R->tmpdir) == NULL) {
		R->tmpdir[0] = '\0';
		return atr_fail(ATR_ERR_IO,
		    "cannot create a temporary directory: %s", strerror(errno));
	}
	return ATR_OK;
}

static enum atr_err
ephemeral(struct run *R, const char *type, const char *name, char *path,
    size_t cap)
{
	enum atr_err err = tmpdir_make(R);
	int n;

	if (err != ATR_OK)
		return err;
	n = snprintf(path, cap, "%s/%s.key", R->tmpdir, name);
	if (n < 0 || (size_t)n >= cap)
		return atr_fail(ATR_ERR_USAGE, "temporary path too long");
	return atr_keygen(type, path);
}

/* Removes path and what is below it, never following a symbolic link. */
static void
rm_tree(const char *path, int depth)
{
	struct stat st;
	DIR *d;
	struct dirent *e;

	if (depth > 8 || lstat(path, &st) != 0)
		return;
	if (!S_ISDIR(st.st_mode)) {
		unlink(path);
		return;
	}
	d = opendir(path);
	if (d != NULL) {
		while ((e = readdir(d)) != NULL) {
			char sub[1024];
			int n;

			if (strcmp(e->d_name, ".") == 0 ||
			    strcmp(e->d_name, "..") == 0)
				continue;
			n = snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
			if (n > 0 && (size_t)n < sizeof(sub))
				rm_tree(sub, depth + 1);
		}
		closedir(d);
	}
	rmdir(path);
}

static void
rm_tmpdir(struct run *R)
{
	/* Our own mkdtemp directory: ephemeral keys, the vault's state. */
	if (R->tmpdir[0] == '\0')
		return;
	rm_tree(R->tmpdir, 0);
	R->tmpdir[0] = '\0';
}

/* Common to every key setup once its key is open. */
static enum atr_err
kset_finish(struct kset *ks)
{
	ks->cmk = ks->inner->customer_managed;
	ks->remote = ks->inner->provider != ATR_PROV_FILE_RSA &&
	    ks->inner->provider != ATR_PROV_FILE_AES;
	if (ks->inner->alg == ATR_WRAP_AES_KWP ||
	    ks->inner->alg == ATR_WRAP_AES_KW) {
		ks->wrap_ref = ATB_L_KWP_WRAP;
		ks->unwrap_ref = ATB_L_KWP_UNWRAP;
	} else {
		ks->wrap_ref = ATB_L_RSA_PUB;
		ks->unwrap_ref = ATB_L_RSA_PRIV;
		ks->bits = ks->inner->bits >= 2048 ? ks->inner->bits : 3072;
	}
	if (!ks->inner->can_wrap)
		return atr_fail(ATR_ERR_KEY, "%s cannot wrap", ks->name);
	return counted_new(ks->inner, &ks->counted);
}

#define VAULT_TOKEN_ENV "ATREST_AZURE_TOKEN"

static enum atr_err
vault_start(struct run *R)
{
	char dir[300];
	const char *tok;
	enum atr_err err;

	if (R->kv != NULL)
		return ATR_OK;
	err = tmpdir_make(R);
	if (err != ATR_OK)
		return err;
	snprintf(dir, sizeof(dir), "%s/vault", R->tmpdir);
	err = atb_vault_start(dir, R->cfg->vault_limits,
	    R->cfg->vault_limit_scale, &R->kv);
	if (err != ATR_OK)
		return err;
	/* The server takes any bearer (token mode "any"); the client's
	 * first choice is a static token from the environment
	 * (docs/KEYVAULT.md).  Set only when the user has none. */
	tok = getenv(VAULT_TOKEN_ENV);
	if (tok == NULL || *tok == '\0') {
		if (setenv(VAULT_TOKEN_ENV, "atrest-bench-loopback", 1) == 0)
			R->kv_token_set = 1;
	}
	R->kv_faults[0] = '\0';
	return ATR_OK;
}

static void
vault_stop(struct run *R)
{
	atb_vault_stop(R->kv);
	R->kv = NULL;
	if (R->kv_token_set)
		unsetenv(VAULT_TOKEN_ENV);
	R->kv_token_set = 0;
}

/* The faults in force while a member runs (NULL: none, for set-up). */
static void
vault_faults_for(struct run *R, const struct kset *ks)
{
	char spec[512];
	const char *extra = R->cfg->vault_faults;

	if (R->kv == NULL)
		return;
	spec[0] = '\0';
	if (ks != NULL && ks->vault) {
		if (ks->vault_ms > 0)
			snprintf(spec, sizeof(spec), "latency=%gms%s%s",
			    ks->vault_ms, extra && *extra ? "," : "",
			    extra ? extra : "");
		else if (extra != NULL)
			snprintf(spec, sizeof(spec), "%s", extra);
	}
	if (strcmp(spec, R->kv_faults) == 0)
		return;
	if (atb_vault_set_faults(R->kv, spec) == ATR_OK)
		snprintf(R->kv_faults, sizeof(R->kv_faults), "%s", spec);
	atr_detail_clear();
}

static void
kv_snapshot(struct run *R, uint64_t kv[3], uint64_t sv[2])
{
	atb_kv_counters(&kv[0], &kv[1], &kv[2]);
	sv[0] = sv[1] = 0;
	if (R->kv != NULL)
		atb_vault_stats(R->kv, &sv[0], &sv[1]);
}

/* "vault" (RSA-3072) or "vault:rsa-2048|3072|4096" with latency ms. */
static enum atr_err
kset_open_vault(struct run *R, const char *spec, double ms, struct kset *ks)
{
	struct atr_key_opts o = R->cfg->key_opts;
	unsigned bits = 3072, i;
	const char *uri = NULL;
	char name[64];
	enum atr_err err;

	memset(ks, 0, sizeof(*ks));
	if (strcmp(spec, "vault:rsa-2048") == 0)
		bits = 2048;
	else if (strcmp(spec, "vault:rsa-4096") == 0)
		bits = 4096;
	else if (strcmp(spec, "vault") != 0 && strcmp(spec, "vault:rsa-3072"))
		return atr_fail(ATR_ERR_USAGE, "unknown vault key setup '%s' "
		    "(vault, vault:rsa-2048, vault:rsa-3072, vault:rsa-4096)",
		    spec);
	err = vault_start(R);
	if (err != ATR_OK)
		return err;
	for (i = 0; i < 4 && R->kv_bits[i] != 0; i++)
		if (R->kv_bits[i] == bits)
			uri = R->kv_keys[i];
	if (uri == NULL) {
		if (i == 4)
			return atr_fail(ATR_ERR_LIMIT, "too many vault keys");
		snprintf(name, sizeof(name), "bench-rsa-%u", bits);
		err = atb_vault_create_key(atb_vault_url(R->kv),
		    atb_vault_ca(R->kv), name, bits, R->kv_keys[i],
		    sizeof(R->kv_keys[i]));
		if (err != ATR_OK)
			return err;
		R->kv_bits[i] = bits;
		uri = R->kv_keys[i];
	}
	o.ca_file = atb_vault_ca(R->kv);
	err = atr_key_open(uri, &o, &ks->inner);
	if (err != ATR_OK)
		return err;
	snprintf(name, sizeof(name), bits == 3072 ? "vault" : "vault-rsa-%u",
	    bits);
	if (R->cfg->nvault_latency > 0)
		snprintf(ks->name, sizeof(ks->name), "%s+%gms", name, ms);
	else
		snprintf(ks->name, sizeof(ks->name), "%s", name);
	ks->vault = 1;
	ks->vault_ms = ms;
	return kset_finish(ks);
}

static enum atr_err
kset_open(struct run *R, const char *spec, struct kset *ks)
{
	char path[4096], uri[4200];
	enum atr_err err;

	memset(ks, 0, sizeof(*ks));
	if (strcmp(spec, "smk") == 0) {
		err = ephemeral(R, "aes-256", "smk", path, sizeof(path));
		if (err != ATR_OK)
			return err;
		snprintf(uri, sizeof(uri), "file:%s", path);
		snprintf(ks->name, sizeof(ks->name), "smk");
	} else if (strcmp(spec, "rsa-2048") == 0 ||
	    strcmp(spec, "rsa-3072") == 0 || strcmp(spec, "rsa-4096") == 0) {
		err = ephemeral(R, spec, spec, path, sizeof(path));
		if (err != ATR_OK)
			return err;
		snprintf(uri, sizeof(uri), "file:%s", path);
		snprintf(ks->pem, sizeof(ks->pem), "%s", path);
		snprintf(ks->name, sizeof(ks->name), "%s", spec);
	} else if (strchr(spec, ':') != NULL) {
		snprintf(uri, sizeof(uri), "%s", spec);
	} else {
		return atr_fail(ATR_ERR_USAGE,
		    "unknown key setup '%s' (smk, rsa-2048, rsa-3072, rsa-4096 "
		    "or a key URI)", spec);
	}
	err = atr_key_open(uri, &R->cfg->key_opts, &ks->inner);
	if (err != ATR_OK)
		return err;
	ks->vault_ms = -1;
	if (ks->name[0] == '\0') {
		/* key->uri is the URI without any secret (key.h); a PKCS#11
		 * URI is named by its path (token, object), not the module
		 * and PIN attributes of its query. */
		size_t l = strlen(ks->inner->uri);

		if (strncmp(ks->inner->uri, "pkcs11:", 7) == 0 &&
		    strchr(ks->inner->uri, '?') != NULL)
			l = (size_t)(strchr(ks->inner->uri, '?') - ks->inner->uri);

		if (l < sizeof(ks->name))
			snprintf(ks->name, sizeof(ks->name), "%.*s", (int)l,
			    ks->inner->uri);
		else
			snprintf(ks->name, sizeof(ks->name), "%.*s...",
			    (int)sizeof(ks->name) - 4, ks->inner->uri);
		if (ks->inner->provider == ATR_PROV_FILE_RSA &&
		    ks->inner->can_unwrap) {
			const char *p = uri + strlen("file:");

			if (strncmp(p, "//", 2) == 0)
				p += 2;
			snprintf(ks->pem, sizeof(ks->pem), "%.*s",
			    (int)sizeof(ks->pem) - 1, p);
		}
	}
	return kset_finish(ks);
}

static void
kset_close(struct kset *ks)
{
	atr_key_free(ks->counted);
	atr_key_free(ks->inner);
	ks->counted = ks->inner = NULL;
}

/* ---- one operation ---------------------------------------------------- */

/* Keeps the worker's intermediate key or cached DEK fresh. */
static enum atr_err
hier_prepare(struct worker *w, const struct group *G, uint64_t now)
{
	const struct atb_config *c = w->R->cfg;
	struct atr_key *const *k = &w->M->ks->counted;
	int renew = w->share == NULL;
	enum atr_stanza_kind kind;
	enum atr_err err;

	if (G->hier == ATB_PER_OBJECT)
		return ATR_OK;
	if (G->hier == ATB_INTERMEDIATE) {
		kind = ATR_KIND_INTERMEDIATE;
		if (c->ik_every > 0 && w->share_uses >= c->ik_every)
			renew = 1;
		if (c->ik_seconds > 0 &&
		    (double)(now - w->share_born) >= c->ik_seconds * 1e9)
			renew = 1;
	} else {
		kind = ATR_KIND_SHARED;
		if (c->cache_max_uses > 0 && w->share_uses >= c->cache_max_uses)
			renew = 1;
		if (c->cache_max_bytes > 0 &&
		    w->share_bytes + G->size > c->cache_max_bytes)
			renew = 1;
		if (c->cache_max_age > 0 &&
		    (double)(now - w->share_born) >= c->cache_max_age * 1e9)
			renew = 1;
	}
	if (renew) {
		atr_share_free(w->share);
		w->share = NULL;
		err = atr_share_new(kind, k, 1, &w->share);
		if (err != ATR_OK)
			return err;
		w->share_born = now;
		w->share_uses = w->share_bytes = 0;
		w->misses++;
	} else {
		w->hits++;
	}
	w->share_uses++;
	w->share_bytes += G->size;
	return ATR_OK;
}

/* Encrypts the plaintext's first size bytes into w->out; *len = bytes. */
static enum atr_err
op_encrypt(struct worker *w, uint64_t t0, uint64_t *t_end, size_t *len)
{
	const struct group *G = w->G;
	const uint8_t *pt = w->R->pt.p, *hdr;
	struct atr_enc_params p = {NULL, 0, NULL, w->R->fs};
	struct atr_enc *e = NULL;
	uint64_t wrap0 = w->ns[ATB_PH_WRAP], t1, t2, t3, pos = 0;
	size_t off, hl;
	enum atr_err err;

	err = hier_prepare(w, G, t0);
	if (err != ATR_OK)
		return err;
	if (G->hier == ATB_PER_OBJECT) {
		p.keys = &w->M->ks->counted;
		p.nkeys = 1;
	} else {
		p.share = w->share;
	}
	err = atr_enc_new(&p, &e);
	if (err != ATR_OK)
		return err;
	hdr = atr_enc_header(e, &hl);
	memcpy(w->out.p, hdr, hl);
	off = hl;
	t1 = atr_now_ns();
	do {
		size_t n = G->size - pos > w->R->fs ? w->R->fs :
		    (size_t)(G->size - pos);
		int final = pos + n == G->size;

		err = atr_enc_frame(e, pt + pos, n, final, w->out.p + off);
		if (err != ATR_OK)
			break;
		off += n + ATR_GCM_TAGBYTES;
		pos += n;
	} while (pos < G->size);
	t2 = atr_now_ns();
	atr_enc_free(e);
	t3 = atr_now_ns();
	w->ns[ATB_PH_DEK] += (t1 - t0) - (w->ns[ATB_PH_WRAP] - wrap0);
	w->ns[ATB_PH_AEAD] += t2 - t1;
	w->ns[ATB_PH_OTHER] += t3 - t2;
	*t_end = t3;
	*len = off;
	return err;
}

static enum atr_err
op_decrypt(struct worker *w, uint64_t t0, uint64_t *t_end)
{
	const struct pool *P = w->M->pool;
	const struct pobj *o = &P->objs[w->next_obj];
	const uint8_t *in = w->R->pool.p + o->off;
	struct atr_dec_opts opts = {w->kc};
	struct atr_dec *d = NULL;
	uint64_t unwrap0 = w->ns[ATB_PH_UNWRAP], t1, t2, t3, idx = 0;
	size_t off, pos = 0;
	enum atr_err err;

	w->next_obj = (w->next_obj + 1) % P->nobj;
	err = atr_header_parse(in, o->len, w->hdr);
	if (err != ATR_OK)
		return err;
	err = atr_dec_new(w->hdr, &w->M->ks->counted, 1, &opts, &d, NULL,
	    NULL);
	if (err != ATR_OK)
		return err;
	t1 = atr_now_ns();
	off = w->hdr->len;
	do {
		size_t rec = o->len - off, fs = w->hdr->frame_size;
		int final;

		if (rec > fs + ATR_GCM_TAGBYTES)
			rec = fs + ATR_GCM_TAGBYTES;
		final = off + rec == o->len;
		err = atr_dec_frame(d, idx++, final, in + off, rec,
		    w->out.p + pos);
		if (err != ATR_OK)
			break;
		off += rec;
		pos += rec - ATR_GCM_TAGBYTES;
	} while (off < o->len);
	t2 = atr_now_ns();
	atr_dec_free(d);
	t3 = atr_now_ns();
	if (err == ATR_OK && pos != w->G->size)
		err = atr_fail(ATR_ERR_AUTH, "decrypted %zu bytes, expected %llu",
		    pos, (unsigned long long)w->G->size);
	w->ns[ATB_PH_DEK] += (t1 - t0) - (w->ns[ATB_PH_UNWRAP] - unwrap0);
	w->ns[ATB_PH_AEAD] += t2 - t1;
	w->ns[ATB_PH_OTHER] += t3 - t2;
	*t_end = t3;
	return err;
}

/* ---- workers ---------------------------------------------------------- */

static void
worker_reset(struct worker *w, struct group *G, struct member *M)
{
	w->G = G;
	w->M = M;
	w->ops = w->kms_calls = w->kms_errors = w->hits = w->misses = 0;
	w->op_errors = 0;
	w->last_err = ATR_OK;
	w->last_detail[0] = '\0';
	memset(w->ns, 0, sizeof(w->ns));
	w->cpu_ns = 0;
	w->share = NULL;
	w->share_born = w->share_uses = w->share_bytes = 0;
	w->kc = NULL;
	w->err = ATR_OK;
	w->detail[0] = '\0';
	atb_hist_reset(w->lat);
	atb_hist_reset(w->kms);
	if (M->pool != NULL && M->pool->nobj > 0)
		w->next_obj = ((size_t)w->idx * 7919U) % M->pool->nobj;
}

static void
worker_fail(struct worker *w, enum atr_err err)
{
	w->err = err;
	snprintf(w->detail, sizeof(w->detail), "%s", atr_detail());
}

/* Errors of a key service that a throttling scenario expects. */
static int
transient(enum atr_err err)
{
	return err == ATR_ERR_THROTTLED || err == ATR_ERR_TIMEOUT ||
	    err == ATR_ERR_NETWORK || err == ATR_ERR_BAD_RESPONSE;
}

static uint64_t
process_cpu_ns(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) != 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* One job: the worker's share of a cell repetition. */
static void
worker_job(struct worker *w)
{
	struct hstate *h = w->M->hs ? &w->M->hs[w->idx] : NULL;
	uint64_t t0, prev, now = 0, deadline, cpu0;
	enum atr_err err = ATR_OK;
	size_t len;

	if (h != NULL) {
		w->share = h->share;
		w->share_born = h->born;
		w->share_uses = h->uses;
		w->share_bytes = h->bytes;
		w->kc = h->kc;
	}
	if (w->kc == NULL && w->G->hier != ATB_PER_OBJECT &&
	    w->G->op == ATB_DECRYPT) {
		w->kc = atr_kcache_new(KCACHE_CAP);
		if (w->kc == NULL)
			err = ATR_ERR_NOMEM;
	}
	cpu0 = atb_thread_cpu_ns();
	t0 = prev = now = atr_now_ns();
	w->t_start = t0;
	deadline = t0 + w->seconds_ns;
	while (err == ATR_OK) {
		if (w->G->op == ATB_ENCRYPT)
			err = op_encrypt(w, prev, &now, &len);
		else
			err = op_decrypt(w, prev, &now);
		if (err != ATR_OK && transient(err)) {
			/* A key service that throttled or timed out past the
			 * client's retries: a result of the scenario, counted;
			 * the op's time stays in the wall clock, not in the
			 * latency histogram. */
			w->op_errors++;
			w->last_err = err;
			snprintf(w->last_detail, sizeof(w->last_detail), "%s",
			    atr_detail());
			atr_detail_clear();
			err = ATR_OK;
			now = prev = atr_now_ns();
			if (now >= deadline)
				break;
			continue;
		}
		if (err != ATR_OK)
			break;
		atb_hist_add(w->lat, now - prev);
		w->ops++;
		prev = now;
		if (now >= deadline && w->ops >= w->min_ops)
			break;
	}
	w->t_stop = now;
	if (err == ATR_OK && w->ops == 0 && w->op_errors > 0) {
		/* Nothing got through: the cell fails with the reason. */
		atr_detail_set("%s", w->last_detail);
		err = w->last_err;
	}
	if (err != ATR_OK)
		worker_fail(w, err);
	w->cpu_ns = atb_thread_cpu_ns() - cpu0;
	if (w->kc != NULL) {
		uint64_t unwraps, hits;

		atr_kcache_stats(w->kc, &unwraps, &hits);
		w->hits = hits - (h ? h->kc_hits : 0);
		w->misses = unwraps - (h ? h->kc_unwraps : 0);
		if (h != NULL) {
			h->kc_hits = hits;
			h->kc_unwraps = unwraps;
		} else {
			atr_kcache_free(w->kc);
		}
	}
	if (h != NULL) {
		h->share = w->share;
		h->born = w->share_born;
		h->uses = w->share_uses;
		h->bytes = w->share_bytes;
		h->kc = w->kc;
	} else {
		atr_share_free(w->share);
	}
	w->share = NULL;
	w->kc = NULL;
}

/*
 * The workers live for the whole run, so that what a thread keeps (a
 * Key Vault client's TLS connection, a PKCS#11 session, OpenSSL's
 * per-thread state) survives from one repetition to the next, as it
 * would in a server.  Each waits for a new job generation, reports
 * ready, and all start together when the main thread opens the gate.
 */
static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	struct run *R = w->R;
	uint64_t seen = 0;

	tls_w = w;
	pthread_mutex_lock(&R->mu);
	for (;;) {
		while (R->gen == seen && !R->quit)
			pthread_cond_wait(&R->cv, &R->mu);
		if (R->quit)
			break;
		seen = R->gen;
		if (w->idx >= R->nactive)
			continue;
		R->ready++;
		pthread_cond_broadcast(&R->done_cv);
		while (!R->go)
			pthread_cond_wait(&R->cv, &R->mu);
		pthread_mutex_unlock(&R->mu);
		worker_job(w);
		pthread_mutex_lock(&R->mu);
		R->ndone++;
		pthread_cond_broadcast(&R->done_cv);
	}
	pthread_mutex_unlock(&R->mu);
	tls_w = NULL;
	return NULL;
}

/*
 * One repetition of a member: its threads run for `seconds`.  With
 * record, the counters and histograms go into the member.
 */
static enum atr_err
run_rep(struct run *R, struct group *G, struct member *M, double seconds,
    int record, double *ops_per_s, double *cpu_per_op)
{
	uint64_t t0, t1, ops = 0, cpu, pc0, pc1, kv0[3], kv1[3], sv0[2], sv1[2];
	unsigned i;

	*ops_per_s = NAN;
	*cpu_per_op = NAN;
	if (M->threads > R->nw)
		return atr_fail(ATR_ERR_USAGE, "more threads than workers");
	vault_faults_for(R, M->ks);
	kv_snapshot(R, kv0, sv0);
	pthread_mutex_lock(&R->mu);
	for (i = 0; i < M->threads; i++) {
		struct worker *w = &R->w[i];

		worker_reset(w, G, M);
		w->seconds_ns = (uint64_t)(seconds * 1e9);
		w->min_ops = record ? MIN_OPS : 1;
	}
	R->nactive = M->threads;
	R->ready = R->ndone = 0;
	R->go = 0;
	R->gen++;
	pthread_cond_broadcast(&R->cv);
	while (R->ready < M->threads)
		pthread_cond_wait(&R->done_cv, &R->mu);
	/* CPU time of the whole process: the workers, and the threads of
	 * an in-process service (the loopback vault) working for them. */
	pc0 = process_cpu_ns();
	R->go = 1;
	pthread_cond_broadcast(&R->cv);
	while (R->ndone < M->threads)
		pthread_cond_wait(&R->done_cv, &R->mu);
	pc1 = process_cpu_ns();
	R->go = 0;
	pthread_mutex_unlock(&R->mu);
	cpu = pc1 - pc0;
	kv_snapshot(R, kv1, sv1);
	/* The wall interval is the threads' own: from the first start to
	 * the last stop, as they read the clock (the main thread may not
	 * run between its wake-up call and the joins). */
	t0 = UINT64_MAX;
	t1 = 0;
	for (i = 0; i < M->threads; i++) {
		struct worker *w = &R->w[i];

		if (w->err != ATR_OK) {
			atr_fail(w->err, "%s", w->detail);
			return w->err;
		}
		ops += w->ops;
		if (w->t_start < t0)
			t0 = w->t_start;
		if (w->t_stop > t1)
			t1 = w->t_stop;
	}
	if (t1 <= t0)
		return atr_fail(ATR_ERR_USAGE, "no time measured");
	*ops_per_s = (double)ops * 1e9 / (double)(t1 - t0);
	*cpu_per_op = ops ? (double)cpu / (double)ops : NAN;
	if (!record)
		return ATR_OK;
	M->wall_ns += t1 - t0;
	M->cpu_ns += cpu;
	M->kv_attempts += kv1[0] - kv0[0];
	M->kv_retries += kv1[1] - kv0[1];
	M->kv_throttled += kv1[2] - kv0[2];
	M->srv_requests += sv1[0] - sv0[0];
	M->srv_throttled += sv1[1] - sv0[1];
	for (i = 0; i < M->threads; i++) {
		struct worker *w = &R->w[i];
		unsigned p;

		M->ops += w->ops;
		M->op_errors += w->op_errors;
		if (w->op_errors > 0) {
			M->last_err = w->last_err;
			snprintf(M->last_detail, sizeof(M->last_detail), "%s",
			    w->last_detail);
		}
		M->kms_calls += w->kms_calls;
		M->kms_errors += w->kms_errors;
		M->hits += w->hits;
		M->misses += w->misses;
		for (p = 0; p < ATB_PH__COUNT; p++)
			M->ns[p] += w->ns[p];
		atb_hist_merge(M->lat, w->lat);
		atb_hist_merge(M->kms, w->kms);
	}
	return ATR_OK;
}

/* ---- pools and the round-trip check ----------------------------------- */

static enum atr_err
pool_reserve(struct run *R, size_t need)
{
	if (R->pool.len >= need)
		return ATR_OK;
	big_free(&R->pool);
	return big_alloc(&R->pool, need, 0xa5);
}

/*
 * Encrypts nobj objects of the group's size for each key into the pool
 * (with the group's hierarchy, as the encrypt cells do), then decrypts
 * the first and last of each and compares them with the plaintext: the
 * cells then run paths that were just verified.
 */
static enum atr_err
pools_build(struct run *R, struct group *G, size_t nobj_enc)
{
	size_t cap = obj_cap(G->size, R->fs), per_key, need, off = 0, i, j;
	struct worker *w = &R->setup;
	struct member fake;
	enum atr_err err;

	memset(&fake, 0, sizeof(fake));
	per_key = G->op == ATB_DECRYPT ? POOL_PER_KEY_BYTES / (G->size ? G->size : 1) : nobj_enc;
	if (per_key < 1)
		per_key = 1;
	if (per_key > POOL_MAX_OBJECTS)
		per_key = POOL_MAX_OBJECTS;
	need = 0;
	for (i = 0; i < G->npools; i++) {
		size_t n = per_key;

		if (G->pools[i].ks->remote && n > POOL_MAX_REMOTE)
			n = POOL_MAX_REMOTE;
		need += n * ((cap + 63U) & ~(size_t)63U);
	}
	err = pool_reserve(R, need);
	if (err != ATR_OK)
		return err;
	vault_faults_for(R, NULL);
	tls_w = w;
	for (i = 0; i < G->npools; i++) {
		struct pool *P = &G->pools[i];
		size_t n = per_key;
		uint64_t t = atr_now_ns(), tend;

		if (P->ks->remote && n > POOL_MAX_REMOTE)
			n = POOL_MAX_REMOTE;
		free(P->objs);
		P->objs = calloc(n, sizeof(*P->objs));
		if (P->objs == NULL) {
			err = ATR_ERR_NOMEM;
			goto out;
		}
		P->nobj = 0;
		fake.ks = P->ks;
		fake.threads = 1;
		fake.pool = P;
		worker_reset(w, G, &fake);
		for (j = 0; j < n; j++) {
			struct bigbuf save = w->out;
			size_t len = 0;

			w->out.p = R->pool.p + off;
			w->out.len = cap;
			err = op_encrypt(w, t, &tend, &len);
			w->out = save;
			if (err != ATR_OK)
				goto out;
			P->objs[j].off = off;
			P->objs[j].len = len;
			P->nobj++;
			off += (len + 63U) & ~(size_t)63U;
		}
		atr_share_free(w->share);
		w->share = NULL;
		if (!P->ks->inner->can_unwrap)
			continue;
		/* Round trip of the first and the last object. */
		for (j = 0; j < 2 && j < P->nobj; j++) {
			w->next_obj = j ? P->nobj - 1 : 0;
			memset(w->out.p, 0, G->size ? (size_t)G->size : 1);
			err = op_decrypt(w, atr_now_ns(), &tend);
			if (err != ATR_OK)
				goto out;
			if (memcmp(w->out.p, R->pt.p, (size_t)G->size) != 0) {
				err = atr_fail(ATR_ERR_AUTH,
				    "%s %s %llu B: round trip differs",
				    P->ks->name, atb_hier_name(G->hier),
				    (unsigned long long)G->size);
				goto out;
			}
		}
	}
out:
	tls_w = NULL;
	return err;
}

/* ---- references -------------------------------------------------------- */

static enum atb_limit_kind
kek_ref(const struct group *G, const struct kset *ks, unsigned *bits)
{
	*bits = ks->bits;
	if (G->hier == ATB_CACHED)
		return ATB_L__COUNT;
	if (G->hier == ATB_INTERMEDIATE)
		return G->op == ATB_ENCRYPT ? ATB_L_KWP_WRAP : ATB_L_KWP_UNWRAP;
	return G->op == ATB_ENCRYPT ? ks->wrap_ref : ks->unwrap_ref;
}

/* ---- results ----------------------------------------------------------- */

static void
cell_init(struct atb_cell *c, const struct group *G, const struct member *M)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->key, sizeof(c->key), "%s", M->ks->name);
	snprintf(c->key_desc, sizeof(c->key_desc), "%s", M->ks->inner->desc);
	c->cmk = M->ks->cmk;
	c->hier = G->hier;
	c->size = G->size;
	c->op = G->op;
	c->threads = M->threads;
	c->cache_hit_rate = -1.0;
	c->vault_latency_ms = M->ks->vault ? M->ks->vault_ms : -1.0;
	c->kms_per_s = NAN;
	c->p50_us = c->p90_us = c->p99_us = c->p999_us = c->max_us =
	    c->min_us = c->mean_us = NAN;
	c->limit_aead_us = c->limit_kek_us = c->limit_ops_per_s = NAN;
	c->kms_p50_us = c->kms_p99_us = c->kms_max_us = NAN;
	c->cpu_us_per_op = c->cpu_util = c->kms_calls_per_op = NAN;
	atb_stat_of(NULL, 0, &c->ops_per_s);
	atb_stat_of(NULL, 0, &c->mb_per_s);
	atb_stat_of(NULL, 0, &c->vs_limit);
	atb_stat_of(NULL, 0, &c->vs_limit_cpu);
	c->ops_per_cpu_s = c->vs_limit_best = c->vs_limit_cpu_best = NAN;
	atb_stat_of(NULL, 0, &c->vs_aead);
	atb_stat_of(NULL, 0, &c->cmk_vs_smk);
	atb_stat_of(NULL, 0, &c->vs_1thread);
}

static void
stat_ratio(const double *a, const double *b, unsigned n, struct atb_stat *out)
{
	double v[256];
	unsigned i, k = 0;

	for (i = 0; i < n && k < 256; i++)
		if (a[i] > 0 && b[i] > 0)
			v[k++] = a[i] / b[i];
	atb_stat_of(v, k, out);
}

static void
member_finish(struct run *R, struct group *G, struct member *M)
{
	struct atb_cell *c = M->cell;
	double v[256], u[256];
	unsigned i, n = M->nrep < 256 ? M->nrep : 256, p;
	double eff = M->threads < R->cores ? M->threads : R->cores;

	c->reps = n;
	c->ops = M->ops;
	c->op_errors = M->op_errors;
	if (M->op_errors > 0 && !M->failed)
		snprintf(c->note, sizeof(c->note), "%llu ops failed: %s: %.120s",
		    (unsigned long long)M->op_errors, atr_strerror(M->last_err),
		    M->last_detail);
	if (M->failed || n == 0 || M->ops == 0)
		return;
	memcpy(v, M->rep_ops, n * sizeof(double));
	atb_stat_of(v, n, &c->ops_per_s);
	for (i = 0; i < n; i++)
		v[i] = M->rep_ops[i] * (double)G->size / 1e6;
	atb_stat_of(v, n, &c->mb_per_s);
	c->p50_us = atb_hist_quantile(M->lat, 0.50) / 1e3;
	c->p90_us = atb_hist_quantile(M->lat, 0.90) / 1e3;
	c->p99_us = atb_hist_quantile(M->lat, 0.99) / 1e3;
	c->p999_us = atb_hist_quantile(M->lat, 0.999) / 1e3;
	c->max_us = M->lat->max / 1e3;
	c->min_us = M->lat->min / 1e3;
	c->mean_us = atb_hist_mean(M->lat) / 1e3;
	for (i = 0; i < ATB_CDF_POINTS; i++)
		c->cdf_us[i] = (float)(atb_hist_quantile(M->lat, atb_cdf_q[i]) /
		    1e3);
	c->kms_calls = M->kms_calls;
	c->kms_errors = M->kms_errors;
	c->kms_calls_per_op = (double)M->kms_calls / (double)M->ops;
	c->kms_per_s = (double)M->kms_calls * 1e9 / (double)M->wall_ns;
	c->kms_attempts = M->kv_attempts;
	c->kms_retries = M->kv_retries;
	c->kms_throttled = M->kv_throttled;
	c->vault_requests = M->srv_requests;
	c->vault_throttled = M->srv_throttled;
	if (M->kms->count > 0) {
		c->kms_p50_us = atb_hist_quantile(M->kms, 0.50) / 1e3;
		c->kms_p99_us = atb_hist_quantile(M->kms, 0.99) / 1e3;
		c->kms_max_us = M->kms->max / 1e3;
	}
	if (G->hier != ATB_PER_OBJECT && M->hits + M->misses > 0)
		c->cache_hit_rate = (double)M->hits /
		    (double)(M->hits + M->misses);
	c->cpu_us_per_op = (double)M->cpu_ns / (double)M->ops / 1e3;
	c->cpu_util = (double)M->cpu_ns / ((double)M->wall_ns *
	    (double)M->threads);
	for (p = 0; p < ATB_PH__COUNT; p++)
		c->phase_us[p] = (double)M->ns[p] / (double)M->ops / 1e3;
	/* Limits, per repetition. */
	for (i = 0; i < n; i++) {
		double ns = M->rep_gcm[i] + M->rep_kek[i];

		M->rep_lim[i] = ns > 0 ? 1e9 / ns * eff : NAN;
	}
	memcpy(v, M->rep_gcm, n * sizeof(double));
	{
		struct atb_stat s;

		atb_stat_of(v, n, &s);
		c->limit_aead_us = s.med / 1e3;
		memcpy(v, M->rep_kek, n * sizeof(double));
		atb_stat_of(v, n, &s);
		c->limit_kek_us = s.med / 1e3;
		memcpy(v, M->rep_lim, n * sizeof(double));
		atb_stat_of(v, n, &s);
		c->limit_ops_per_s = s.med;
	}
	stat_ratio(M->rep_ops, M->rep_lim, n, &c->vs_limit);
	/* On CPU time: the limit's CPU per op over the cell's. */
	for (i = 0; i < n; i++)
		u[i] = M->rep_gcm_cpu[i] + M->rep_kek_cpu[i];
	stat_ratio(u, M->rep_cpu, n, &c->vs_limit_cpu);
	c->ops_per_cpu_s = M->cpu_ns ? 1e9 * (double)M->ops /
	    (double)M->cpu_ns : NAN;
	{
		double bo = 0, bl = 0, bc = INFINITY, blc = INFINITY;

		for (i = 0; i < n; i++) {
			if (M->rep_ops[i] > bo)
				bo = M->rep_ops[i];
			if (M->rep_lim[i] > bl)
				bl = M->rep_lim[i];
			if (M->rep_cpu[i] < bc)
				bc = M->rep_cpu[i];
			if (u[i] < blc)
				blc = u[i];
		}
		c->vs_limit_best = bl > 0 ? bo / bl : NAN;
		c->vs_limit_cpu_best = bc > 0 && !isinf(blc) ? blc / bc : NAN;
	}
	for (i = 0; i < n; i++)
		u[i] = M->rep_gcm[i] > 0 ? 1e9 / M->rep_gcm[i] * eff : NAN;
	stat_ratio(M->rep_ops, u, n, &c->vs_aead);
	c->spread = atb_stat_spread(&c->ops_per_s);
	c->noisy = c->spread * 100.0 > R->cfg->noise_pct;
	if (c->cache_hit_rate < 0 && G->hier != ATB_PER_OBJECT)
		c->cache_hit_rate = 0;
}

/* Ratios between members of a group, per repetition. */
static void
group_ratios(struct group *G)
{
	size_t i, j;

	for (i = 0; i < G->nm; i++) {
		struct member *M = &G->m[i];

		if (M->failed || M->nrep == 0)
			continue;
		for (j = 0; j < G->nm; j++) {
			struct member *S = &G->m[j];

			if (S->failed || S->nrep != M->nrep)
				continue;
			if (M->ks->cmk && !S->ks->cmk &&
			    S->threads == M->threads &&
			    M->cell->cmk_vs_smk.n == 0)
				stat_ratio(M->rep_ops, S->rep_ops, M->nrep,
				    &M->cell->cmk_vs_smk);
			if (M->threads > 1 && S->threads == 1 &&
			    S->ks == M->ks)
				stat_ratio(M->rep_ops, S->rep_ops, M->nrep,
				    &M->cell->vs_1thread);
		}
	}
}

/* ---- limits table ------------------------------------------------------- */

struct limspec {
	enum atb_limit_kind kind;
	uint64_t size;
	unsigned bits;
};

static size_t
limit_list(const struct run *R, struct limspec *l, size_t cap)
{
	const struct atb_config *c = R->cfg;
	size_t n = 0, i, j;
	unsigned bits[ATB_MAX_KEYS];
	size_t nb = 0;

#define ADD(k, s, b) do { if (n < cap) { l[n].kind = (k); l[n].size = (s); \
	l[n].bits = (b); n++; } } while (0)
	for (i = 0; i < c->nsizes; i++) {
		if (c->ops[ATB_ENCRYPT])
			ADD(ATB_L_GCM_SEAL, c->sizes[i], 0);
		if (c->ops[ATB_DECRYPT])
			ADD(ATB_L_GCM_OPEN, c->sizes[i], 0);
	}
	ADD(ATB_L_GCM_STREAM, 16384, 0);
	for (i = 0; i < R->nks; i++) {
		if (R->ks[i].wrap_ref != ATB_L_RSA_PUB)
			continue;
		for (j = 0; j < nb; j++)
			if (bits[j] == R->ks[i].bits)
				break;
		if (j < nb)
			continue;
		bits[nb++] = R->ks[i].bits;
		ADD(ATB_L_RSA_PUB, 0, R->ks[i].bits);
		ADD(ATB_L_RSA_PRIV, 0, R->ks[i].bits);
	}
	ADD(ATB_L_KWP_WRAP, 0, 0);
	ADD(ATB_L_KWP_UNWRAP, 0, 0);
	ADD(ATB_L_HKDF, 0, 0);
	ADD(ATB_L_HMAC, 0, 0);
	ADD(ATB_L_RAND, 0, 0);
	ADD(ATB_L_GCM_KEY, 0, 0);
	ADD(ATB_L_EMPTY, 0, 0);
#undef ADD
	if (c->limit_filter != NULL) {
		size_t k = 0;

		for (i = 0; i < n; i++) {
			char name[48];

			atb_limit_name(l[i].kind, l[i].size, l[i].bits, name,
			    sizeof(name));
			if (strstr(name, c->limit_filter) != NULL)
				l[k++] = l[i];
		}
		n = k;
	}
	return n;
}

/*
 * Measures every limit `passes` times (e.g. at the start and at the end
 * of the run), appending the values to vals[i * maxp + pass].
 */
static enum atr_err
limits_pass(struct run *R, const struct limspec *l, size_t n, double seconds,
    double *vals, double *cpus, unsigned pass, unsigned maxp)
{
	size_t i;
	enum atr_err err;

	for (i = 0; i < n; i++) {
		double ns, cpu;

		err = atb_ref_measure(R->refs, l[i].kind, l[i].size, l[i].bits,
		    seconds, REF_MIN_OPS, &ns, &cpu);
		if (err != ATR_OK)
			return err;
		vals[i * maxp + pass] = ns;
		cpus[i * maxp + pass] = cpu;
	}
	return ATR_OK;
}

static enum atr_err
limits_store(struct run *R, const struct limspec *l, size_t n,
    double *vals, double *cpus, unsigned npass, unsigned maxp)
{
	struct atb_results *res = R->res;
	size_t i;

	res->limits = calloc(n ? n : 1, sizeof(*res->limits));
	if (res->limits == NULL)
		return ATR_ERR_NOMEM;
	res->nlimits = n;
	for (i = 0; i < n; i++) {
		struct atb_limit *L = &res->limits[i];

		L->kind = l[i].kind;
		L->size = l[i].size;
		L->bits = l[i].bits;
		atb_limit_name(L->kind, L->size, L->bits, L->name,
		    sizeof(L->name));
		atb_stat_of(vals + i * maxp, npass, &L->ns_per_op);
		{
			struct atb_stat cs;

			atb_stat_of(cpus + i * maxp, npass, &cs);
			L->cpu_ns_per_op = cs.med;
		}
		L->ops_per_s = 1e9 / L->ns_per_op.med;
		L->mb_per_s = L->size ? L->ops_per_s * (double)L->size / 1e6 :
		    NAN;
		if (L->kind == ATB_L_EMPTY)
			res->empty_op_ns = L->ns_per_op.med;
	}
	return ATR_OK;
}

/* ---- setting up and tearing down ---------------------------------------- */

static void
run_free(struct run *R)
{
	size_t i;

	if (R->started > 0) {
		pthread_mutex_lock(&R->mu);
		R->quit = 1;
		pthread_cond_broadcast(&R->cv);
		pthread_mutex_unlock(&R->mu);
		for (i = 0; i < R->started; i++)
			pthread_join(R->w[i].th, NULL);
		R->started = 0;
	}
	for (i = 0; i < ATB_MAX_WORKERS; i++) {
		big_free(&R->w[i].out);
		free(R->w[i].hdr);
		free(R->w[i].lat);
		free(R->w[i].kms);
	}
	free(R->setup.hdr);
	free(R->setup.lat);
	free(R->setup.kms);
	big_free(&R->setup.out);
	big_free(&R->pt);
	big_free(&R->scratch);
	big_free(&R->pool);
	big_free(&R->refout);
	atb_refs_free(R->refs);
	for (i = 0; i < R->nks; i++)
		kset_close(&R->ks[i]);
	/* After the keys: their clients may still talk to it. */
	vault_stop(R);
	rm_tmpdir(R);
}

static enum atr_err
worker_alloc(struct worker *w, struct run *R, unsigned idx, size_t out_cap)
{
	w->R = R;
	w->idx = idx;
	w->hdr = malloc(sizeof(*w->hdr));
	w->lat = malloc(sizeof(*w->lat));
	w->kms = malloc(sizeof(*w->kms));
	if (w->hdr == NULL || w->lat == NULL || w->kms == NULL)
		return ATR_ERR_NOMEM;
	/* Touch the header and histograms too: they are written per op. */
	memset(w->hdr, 0x11, sizeof(*w->hdr));
	atb_hist_reset(w->lat);
	atb_hist_reset(w->kms);
	return big_alloc(&w->out, out_cap, 0x5a);
}

static enum atr_err
run_setup(struct run *R, int cells)
{
	const struct atb_config *c = R->cfg;
	uint64_t max = 0;
	unsigned maxthr = 1;
	size_t i, cap;
	enum atr_err err;

	R->cores = atr_cpu_count();
	R->fs = c->frame_size ? c->frame_size : ATR_FRAME_DEFAULT;
	if (R->fs < ATR_FRAME_MIN || R->fs > ATR_FRAME_MAX)
		return atr_fail(ATR_ERR_USAGE, "frame size must be %u..%u",
		    ATR_FRAME_MIN, ATR_FRAME_MAX);
	if (c->nkeys == 0 || c->nkeys > ATB_MAX_KEYS)
		return atr_fail(ATR_ERR_USAGE, "1..%u key setups", ATB_MAX_KEYS);
	if (c->nsizes == 0 || c->nthreads == 0 || c->reps == 0 ||
	    !(c->seconds > 0))
		return atr_fail(ATR_ERR_USAGE, "empty matrix");
	for (i = 0; i < c->nsizes; i++) {
		if (c->sizes[i] == 0 || c->sizes[i] > (1ULL << 30))
			return atr_fail(ATR_ERR_USAGE,
			    "object sizes must be 1 byte to 1 GiB");
		if (c->sizes[i] > max)
			max = c->sizes[i];
	}
	for (i = 0; i < c->nthreads; i++) {
		if (c->threads[i] == 0 || c->threads[i] > ATB_MAX_WORKERS)
			return atr_fail(ATR_ERR_USAGE, "threads must be 1..%u",
			    ATB_MAX_WORKERS);
		if (c->threads[i] > maxthr)
			maxthr = c->threads[i];
	}
	{
		int vault = 0, https = 0;

		for (i = 0; i < c->nkeys; i++) {
			vault |= strncmp(c->keys[i], "vault", 5) == 0;
			https |= strncmp(c->keys[i], "https://", 8) == 0;
		}
		if (vault && https)
			return atr_fail(ATR_ERR_USAGE, "the loopback vault and an "
			    "https:// key in one run: the loopback vault's "
			    "static token would go to the other vault; run them "
			    "separately");
	}
	for (i = 0; i < c->nkeys; i++) {
		const char *spec = c->keys[i];
		size_t j, nl = c->nvault_latency ? c->nvault_latency : 1;
		int is_vault = strncmp(spec, "vault", 5) == 0 &&
		    (spec[5] == '\0' || spec[5] == ':');

		for (j = 0; j < (is_vault ? nl : 1); j++) {
			if (R->nks == ATB_MAX_KEYS)
				return atr_fail(ATR_ERR_USAGE, "more than %u key "
				    "setups (with the vault latencies)",
				    ATB_MAX_KEYS);
			if (is_vault)
				err = kset_open_vault(R, spec, c->nvault_latency ?
				    c->vault_latency_ms[j] : 0, &R->ks[R->nks]);
			else
				err = kset_open(R, spec, &R->ks[R->nks]);
			if (err != ATR_OK) {
				/* The caller prints the detail; name the setup. */
				char d[400], shown[ATR_URI_SHOWN_MAX];

				snprintf(d, sizeof(d), "%s", atr_detail());
				kset_close(&R->ks[R->nks]);
				if (is_vault && c->vault_optional) {
					NOTE(R, "vault cells skipped: the loopback "
					    "Key Vault did not start: %s: %s",
					    atr_strerror(err), d);
					atr_detail_clear();
					break;
				}
				/* A URI may carry a PIN where the parser
				 * never took it (core/keyuri.h). */
				atr_key_uri_redact(spec, shown, sizeof(shown));
				return atr_fail(err, "key setup '%s': %s",
				    shown, d);
			}
			R->nks++;
		}
	}
	if (R->nks == 0)
		return atr_fail(ATR_ERR_USAGE, "no key setup to run");
	/* The references include AES-GCM over 16 KiB, as openssl speed. */
	if (max < 16384)
		max = 16384;
	R->max_obj = obj_cap(max, R->fs);
	cap = R->max_obj;
	err = big_alloc(&R->pt, (size_t)max + 64, 0);
	if (err != ATR_OK)
		return err;
	for (i = 0; i < (size_t)max + 64; i++)
		R->pt.p[i] = (uint8_t)(i * 131U + 17U);
	err = big_alloc(&R->scratch, cap, 0x3c);
	if (err == ATR_OK)
		err = big_alloc(&R->refout, cap, 0x3c);
	if (err == ATR_OK)
		err = atb_refs_new(R->pt.p, R->refout.p, R->scratch.p,
		    (size_t)max, &R->refs);
	if (err != ATR_OK)
		return err;
	for (i = 0; i < R->nks; i++)
		if (R->ks[i].pem[0] != '\0')
			(void)atb_refs_load_rsa(R->refs, R->ks[i].pem);
	atr_detail_clear();
	if (!cells)
		return ATR_OK;
	R->nw = maxthr;
	for (i = 0; i < maxthr; i++) {
		int rc;

		err = worker_alloc(&R->w[i], R, (unsigned)i, cap);
		if (err != ATR_OK)
			return err;
		rc = pthread_create(&R->w[i].th, NULL, worker_main, &R->w[i]);
		if (rc != 0)
			return atr_fail(ATR_ERR_NOMEM, "cannot start a thread: %s",
			    strerror(rc));
		R->started++;
	}
	return worker_alloc(&R->setup, R, 0, cap);
}

static void
results_begin(struct run *R, struct atb_results *res)
{
	size_t i;

	R->res = res;
	atb_env_collect(&res->env);
	res->cfg = *R->cfg;
	res->cfg.progress = NULL;
	res->cfg.progress_arg = NULL;
	res->cfg.key_opts.ca_file = NULL;
	res->cfg.key_opts.wrap_alg = NULL;
	/* The setups as run (a vault spec may become several). */
	res->cfg.nkeys = R->nks ? R->nks : R->cfg->nkeys;
	for (i = 0; i < res->cfg.nkeys && i < ATB_MAX_KEYS; i++) {
		snprintf(res->key_names[i], sizeof(res->key_names[i]), "%s",
		    R->nks ? R->ks[i].name : R->cfg->keys[i]);
		res->cfg.keys[i] = res->key_names[i];
	}
}

static void
progress(struct run *R, const char *what)
{
	if (R->cfg->progress != NULL)
		R->cfg->progress(R->cfg->progress_arg, R->done, R->total, what);
}

static double
cpu_seconds(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) != 0)
		return NAN;
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	    (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

/* ---- groups --------------------------------------------------------------- */

static void
size_label(uint64_t s, char *out, size_t cap)
{
	if (s >= 1024ULL * 1024 && s % (1024ULL * 1024) == 0)
		snprintf(out, cap, "%lluM", (unsigned long long)(s >> 20));
	else if (s >= 1024 && s % 1024 == 0)
		snprintf(out, cap, "%lluK", (unsigned long long)(s >> 10));
	else
		snprintf(out, cap, "%llu", (unsigned long long)s);
}

static void
member_free(struct member *M)
{
	unsigned i;

	for (i = 0; M->hs != NULL && i < M->threads; i++) {
		atr_share_free(M->hs[i].share);
		atr_kcache_free(M->hs[i].kc);
	}
	free(M->hs);
	free(M->rep_ops);
	free(M->rep_lim);
	free(M->rep_gcm);
	free(M->rep_kek);
	free(M->rep_cpu);
	free(M->rep_gcm_cpu);
	free(M->rep_kek_cpu);
	free(M->lat);
	free(M->kms);
}

static enum atr_err
group_run(struct run *R, struct group *G)
{
	const struct atb_config *c = R->cfg;
	/* A quarter of a cell's time, but at least 30 ms: every member of
	 * the group shares these references, so a short, noisy one would
	 * move all their ratios at once. */
	double ref_s = c->seconds / 4.0 > 0.03 ? c->seconds / 4.0 : 0.03;
	enum atr_err err = ATR_OK;
	char what[300], sl[32];
	unsigned r;
	size_t i, j;

	size_label(G->size, sl, sizeof(sl));
	/* Pools (decrypt) or the round-trip check (encrypt). */
	err = pools_build(R, G, 1);
	if (err != ATR_OK)
		return err;
	for (i = 0; i < G->nm; i++) {
		struct member *M = &G->m[i];

		for (j = 0; j < G->npools; j++)
			if (G->pools[j].ks == M->ks)
				M->pool = &G->pools[j];
		if (G->op == ATB_DECRYPT && !M->ks->inner->can_unwrap) {
			M->failed = 1;
			M->cell->skipped = 1;
			snprintf(M->cell->note, sizeof(M->cell->note),
			    "skipped: %s cannot unwrap (a public key)",
			    M->ks->name);
			continue;
		}
		if (c->warmup > 0) {
			double ops, cpu;

			err = run_rep(R, G, M, c->warmup, 0, &ops, &cpu);
			if (err != ATR_OK) {
				M->failed = 1;
				M->cell->skipped = 1;
				snprintf(M->cell->note, sizeof(M->cell->note),
				    "failed: %s: %s", atr_strerror(err),
				    atr_detail());
				atr_detail_clear();
			}
		}
	}
	for (r = 0; r < c->reps; r++) {
		double gcm_ns = NAN, gcm_cpu = NAN;
		struct {
			enum atb_limit_kind k;
			unsigned bits;
			double ns, cpu;
		} kref[ATB_MAX_KEYS + 1];
		size_t nk = 0;

		for (i = 0; i < G->nm; i++) {
			struct member *M = &G->m[i];
			double ops, cpu;

			if (M->failed) {
				R->done++;
				continue;
			}
			snprintf(what, sizeof(what), "%s %s %s %s x%u rep %u/%u",
			    M->ks->name, atb_hier_name(G->hier), sl,
			    atb_op_name(G->op), M->threads, r + 1, c->reps);
			progress(R, what);
			err = run_rep(R, G, M, c->seconds, 1, &ops, &cpu);
			R->done++;
			if (err != ATR_OK) {
				M->failed = 1;
				M->cell->skipped = 1;
				snprintf(M->cell->note, sizeof(M->cell->note),
				    "failed: %s: %s", atr_strerror(err),
				    atr_detail());
				atr_detail_clear();
				err = ATR_OK;
				continue;
			}
			M->rep_ops[M->nrep] = ops;
			M->rep_cpu[M->nrep] = cpu;
		}
		/* The references of this repetition. */
		err = atb_ref_measure(R->refs, G->op == ATB_ENCRYPT ?
		    ATB_L_GCM_SEAL : ATB_L_GCM_OPEN, G->size, 0, ref_s,
		    REF_MIN_OPS, &gcm_ns, &gcm_cpu);
		if (err != ATR_OK)
			return err;
		for (i = 0; i < G->nm; i++) {
			struct member *M = &G->m[i];
			unsigned bits;
			enum atb_limit_kind k = kek_ref(G, M->ks, &bits);
			double ns = 0, cpu = 0;

			if (M->failed)
				continue;
			if (k != ATB_L__COUNT) {
				for (j = 0; j < nk; j++)
					if (kref[j].k == k && kref[j].bits == bits)
						break;
				if (j == nk) {
					kref[nk].k = k;
					kref[nk].bits = bits;
					err = atb_ref_measure(R->refs, k, 0, bits,
					    ref_s, REF_MIN_OPS, &kref[nk].ns,
					    &kref[nk].cpu);
					if (err != ATR_OK)
						return err;
					nk++;
				}
				ns = kref[j].ns;
				cpu = kref[j].cpu;
			}
			M->rep_gcm[M->nrep] = gcm_ns;
			M->rep_kek[M->nrep] = ns;
			M->rep_gcm_cpu[M->nrep] = gcm_cpu;
			M->rep_kek_cpu[M->nrep] = cpu;
			M->nrep++;
		}
	}
	for (i = 0; i < G->nm; i++)
		member_finish(R, G, &G->m[i]);
	group_ratios(G);
	return ATR_OK;
}

static enum atr_err
run_groups(struct run *R)
{
	const struct atb_config *c = R->cfg;
	struct atb_results *res = R->res;
	size_t ng = 0, nm, gi, si, i, t, k;
	unsigned h, o;
	enum atr_err err = ATR_OK;

	nm = R->nks * c->nthreads;
	for (h = 0; h < ATB_HIER__COUNT; h++)
		for (o = 0; o < ATB_OP__COUNT; o++)
			if (c->hier[h] && c->ops[o])
				ng += c->nsizes;
	res->cells = calloc(ng * nm > 0 ? ng * nm : 1, sizeof(*res->cells));
	if (res->cells == NULL)
		return ATR_ERR_NOMEM;
	res->ncells = ng * nm;
	R->total = ng * nm * c->reps;
	gi = 0;
	for (h = 0; h < ATB_HIER__COUNT; h++) {
		if (!c->hier[h])
			continue;
		for (si = 0; si < c->nsizes; si++) {
			for (o = 0; o < ATB_OP__COUNT; o++) {
				struct group G;

				if (!c->ops[o])
					continue;
				memset(&G, 0, sizeof(G));
				G.hier = (enum atb_hier)h;
				G.op = (enum atb_op)o;
				G.size = c->sizes[si];
				G.m = calloc(nm, sizeof(*G.m));
				if (G.m == NULL)
					return ATR_ERR_NOMEM;
				G.nm = nm;
				for (k = 0; k < R->nks; k++) {
					G.pools[k].ks = &R->ks[k];
					G.npools++;
				}
				i = 0;
				for (t = 0; t < c->nthreads; t++) {
					for (k = 0; k < R->nks; k++, i++) {
						struct member *M = &G.m[i];

						M->ks = &R->ks[k];
						M->threads = c->threads[t];
						M->cell = &res->cells[gi * nm + i];
						cell_init(M->cell, &G, M);
						M->rep_ops = calloc(c->reps, sizeof(double));
						M->rep_lim = calloc(c->reps, sizeof(double));
						M->rep_gcm = calloc(c->reps, sizeof(double));
						M->rep_kek = calloc(c->reps, sizeof(double));
						M->rep_cpu = calloc(c->reps, sizeof(double));
						M->rep_gcm_cpu = calloc(c->reps, sizeof(double));
						M->rep_kek_cpu = calloc(c->reps, sizeof(double));
						M->hs = calloc(M->threads, sizeof(*M->hs));
						M->lat = malloc(sizeof(*M->lat));
						M->kms = malloc(sizeof(*M->kms));
						if (!M->rep_ops || !M->rep_lim ||
						    !M->rep_gcm || !M->rep_kek ||
						    !M->rep_cpu || !M->rep_gcm_cpu ||
						    !M->rep_kek_cpu || !M->hs ||
						    !M->lat || !M->kms)
							err = ATR_ERR_NOMEM;
						else {
							atb_hist_reset(M->lat);
							atb_hist_reset(M->kms);
						}
					}
				}
				if (err == ATR_OK)
					err = group_run(R, &G);
				for (i = 0; i < nm; i++)
					member_free(&G.m[i]);
				for (k = 0; k < G.npools; k++)
					free(G.pools[k].objs);
				free(G.m);
				if (err != ATR_OK)
					return err;
				gi++;
			}
		}
	}
	return ATR_OK;
}

static void
run_warnings(struct run *R)
{
	struct atb_results *res = R->res;
	size_t i, noisy = 0, failed = 0;
	char first[200] = "";

	for (i = 0; i < res->ncells; i++) {
		struct atb_cell *c = &res->cells[i];

		if (c->skipped && strncmp(c->note, "failed", 6) == 0)
			failed++;
		if (c->noisy) {
			if (noisy++ == 0)
				snprintf(first, sizeof(first),
				    "%s %s %llu B %s x%u: %.0f%%", c->key,
				    atb_hier_name(c->hier),
				    (unsigned long long)c->size,
				    atb_op_name(c->op), c->threads,
				    c->spread * 100.0);
		}
	}
	{
		double u[4096];
		unsigned k = 0;
		struct atb_stat us;

		for (i = 0; i < res->ncells && k < 4096; i++)
			if (!res->cells[i].skipped && res->cells[i].threads == 1 &&
			    !isnan(res->cells[i].cpu_util))
				u[k++] = res->cells[i].cpu_util;
		atb_stat_of(u, k, &us);
		if (k > 0 && us.med < 0.9)
			WARN(R, "the measuring threads got %.0f%% of a CPU (median "
			    "of the one-thread cells): other processes competed for "
			    "the CPU, so ops/s and vs_limit are low and noisy; "
			    "ops_per_cpu_s and vs_limit_cpu are not affected by "
			    "lost time slices", us.med * 100.0);
	}
	if (!isnan(res->env.load_start) &&
	    res->env.load_start > 0.5 * (double)R->cores)
		WARN(R, "busy machine: load average %.2f on %u cores when the run "
		    "started (%.2f at the end)", res->env.load_start, R->cores,
		    res->env.load_end);
	if (noisy > 0)
		WARN(R, "noisy machine: %zu of %zu cells spread more than %.0f%% "
		    "between repetitions (e.g. %s); ratios are per-repetition "
		    "medians, re-run with more --reps or a longer --time to "
		    "confirm", noisy, res->ncells, R->cfg->noise_pct, first);
	if (failed > 0)
		WARN(R, "%zu cells failed; see their notes", failed);
	for (i = 0; i < R->cfg->nthreads; i++)
		if (R->cfg->threads[i] > R->cores) {
			WARN(R, "%u threads on %u cores: the limit assumes %u "
			    "cores", R->cfg->threads[i], R->cores, R->cores);
			break;
		}
	for (i = 0; i < res->nlimits; i++) {
		const struct atb_limit *L = &res->limits[i];
		double s = atb_stat_spread(&L->ns_per_op);

		if (L->kind == ATB_L_GCM_STREAM && s * 100.0 > R->cfg->noise_pct)
			WARN(R, "the reference %s moved %.0f%% between the start "
			    "and the end of the run: the host's speed changed",
			    L->name, s * 100.0);
	}
}

static enum atr_err
run_common(const struct atb_config *cfg, struct atb_results **out, int cells)
{
	struct run *R;
	struct atb_results *res;
	struct limspec ls[64];
	double *vals = NULL, *cpus = NULL, lim_s;
	size_t nl;
	unsigned npass;
	uint64_t t0 = atr_now_ns();
	double cpu0 = cpu_seconds();
	enum atr_err err;

	*out = NULL;
	R = calloc(1, sizeof(*R));
	res = calloc(1, sizeof(*res));
	if (R == NULL || res == NULL) {
		free(R);
		free(res);
		return ATR_ERR_NOMEM;
	}
	R->cfg = cfg;
	R->res = res;
	pthread_mutex_init(&R->mu, NULL);
	pthread_cond_init(&R->cv, NULL);
	pthread_cond_init(&R->done_cv, NULL);
	err = run_setup(R, cells);
	results_begin(R, res);
	if (err != ATR_OK)
		goto out;
	res->clock_ns = atb_clock_cost_ns();
	if (cells)
		NOTE(R, "cells run in memory: the io phase is 0 by design "
		    "(plaintext and ciphertext are pre-faulted buffers)");
	nl = limit_list(R, ls, sizeof(ls) / sizeof(ls[0]));
	/* Cells: limits at the start and at the end.  Limits only: reps. */
	npass = cells ? 2 : cfg->reps;
	lim_s = cells ? (cfg->quick ? 0.02 : 0.05) : cfg->seconds;
	vals = calloc(nl * npass, sizeof(double));
	cpus = calloc(nl * npass, sizeof(double));
	if (vals == NULL || cpus == NULL) {
		err = ATR_ERR_NOMEM;
		goto out;
	}
	R->total = 1;
	progress(R, "machine limits");
	err = limits_pass(R, ls, nl, lim_s, vals, cpus, 0, npass);
	if (err != ATR_OK)
		goto out;
	if (cells) {
		err = run_groups(R);
		if (err != ATR_OK)
			goto out;
		progress(R, "machine limits (end)");
		err = limits_pass(R, ls, nl, lim_s, vals, cpus, 1, npass);
	} else {
		unsigned p;

		for (p = 1; p < npass && err == ATR_OK; p++)
			err = limits_pass(R, ls, nl, lim_s, vals, cpus, p, npass);
	}
	if (err != ATR_OK)
		goto out;
	err = limits_store(R, ls, nl, vals, cpus, npass, npass);
	if (err != ATR_OK)
		goto out;
	res->env.load_end = atb_loadavg();
	run_warnings(R);
	R->done = R->total;
	progress(R, "");
out:
	free(vals);
	free(cpus);
	res->env.load_end = atb_loadavg();
	run_free(R);
	res->wall_s = (double)(atr_now_ns() - t0) / 1e9;
	res->cpu_s = cpu_seconds() - cpu0;
	pthread_mutex_destroy(&R->mu);
	pthread_cond_destroy(&R->cv);
	pthread_cond_destroy(&R->done_cv);
	free(R);
	if (err != ATR_OK) {
		char d[512];

		snprintf(d, sizeof(d), "%s", atr_detail());
		atb_results_free(res);
		atr_detail_set("%s", d);
		return err;
	}
	*out = res;
	return ATR_OK;
}

enum atr_err
atb_run(const struct atb_config *cfg, struct atb_results **out)
{
	return run_common(cfg, out, 1);
}

enum atr_err
atb_run_limits(const struct atb_config *cfg, struct atb_results **out)
{
	return run_common(cfg, out, 0);
}

void
atb_results_free(struct atb_results *r)
{
	size_t i;

	if (r == NULL)
		return;
	for (i = 0; i < r->nwarnings; i++)
		free(r->warnings[i]);
	for (i = 0; i < r->nnotes; i++)
		free(r->notes[i]);
	free(r->warnings);
	free(r->notes);
	free(r->limits);
	free(r->cells);
	free(r);
}

/* ---- targets ------------------------------------------------------------- */

static const struct atb_cell *
find(const struct atb_results *r, int cmk, const char *key, enum atb_hier h,
    uint64_t size, enum atb_op op, unsigned threads)
{
	size_t i;

	for (i = 0; i < r->ncells; i++) {
		const struct atb_cell *c = &r->cells[i];

		if (c->skipped || c->hier != h || c->size != size ||
		    c->op != op || c->threads != threads)
			continue;
		if (key != NULL ? strcmp(c->key, key) == 0 : c->cmk == cmk)
			return c;
	}
	return NULL;
}

void
atb_targets(const struct atb_results *r, struct atb_target t[ATB_NTARGETS])
{
	const uint64_t big = 64ULL * 1024 * 1024;
	const struct atb_cell *a, *b, *c;
	size_t i;

	memset(t, 0, ATB_NTARGETS * sizeof(*t));
	for (i = 0; i < ATB_NTARGETS; i++) {
		t[i].value = t[i].value_cpu = NAN;
		t[i].met = t[i].met_cpu = -1;
	}
	t[0].name = "64 MiB encrypt vs raw AES-256-GCM";
	t[0].want = ">= 0.90";
	t[0].goal = 0.90;
	{
		/* The median over every one-thread 64 MiB encrypt cell (all
		 * keys and hierarchies): one cell's reference can land in a
		 * slow phase of the host.  At 64 MiB the KEK call is under
		 * 0.3 % of the limit, so the CPU-time ratio to the limit is
		 * the ratio to raw GCM. */
		double w[ATB_MAX_KEYS * ATB_HIER__COUNT], u[ATB_MAX_KEYS *
		    ATB_HIER__COUNT];
		unsigned nw = 0, nu = 0;
		struct atb_stat sw, su;

		for (i = 0; i < r->ncells && nw < ATB_MAX_KEYS * ATB_HIER__COUNT;
		    i++) {
			const struct atb_cell *x = &r->cells[i];

			if (x->skipped || x->size != big || x->op != ATB_ENCRYPT ||
			    x->threads != 1 || x->vs_aead.n == 0)
				continue;
			w[nw++] = x->vs_aead.med;
			if (x->vs_limit_cpu.n > 0)
				u[nu++] = x->vs_limit_cpu.med;
		}
		atb_stat_of(w, nw, &sw);
		atb_stat_of(u, nu, &su);
		if (nw > 0) {
			t[0].value = sw.med;
			t[0].value_cpu = nu ? su.med : NAN;
			snprintf(t[0].detail, sizeof(t[0].detail),
			    "median of %u cells (64 MiB, 1 thread, every key and "
			    "hierarchy): wall %.2f-%.2f, CPU %.2f-%.2f", nw, sw.min,
			    sw.max, nu ? su.min : NAN, nu ? su.max : NAN);
		}
	}
	t[1].name = "SMK 1 KiB encrypts per second, one core";
	t[1].want = ">= 150000";
	t[1].goal = 150000;
	a = find(r, 0, NULL, ATB_PER_OBJECT, 1024, ATB_ENCRYPT, 1);
	if (a != NULL) {
		t[1].value = a->ops_per_s.med;
		t[1].value_cpu = a->ops_per_cpu_s;
		snprintf(t[1].detail, sizeof(t[1].detail),
		    "%.40s per-object: %.0f/s [%.0f-%.0f], p50 %.2f us", a->key,
		    a->ops_per_s.med, a->ops_per_s.min, a->ops_per_s.max,
		    a->p50_us);
	}
	t[2].name = "CMK intermediate 1 KiB encrypt vs SMK";
	t[2].want = ">= 0.90";
	t[2].goal = 0.90;
	a = find(r, 1, NULL, ATB_INTERMEDIATE, 1024, ATB_ENCRYPT, 1);
	b = find(r, 0, NULL, ATB_PER_OBJECT, 1024, ATB_ENCRYPT, 1);
	if (a != NULL && b != NULL) {
		t[2].value = a->ops_per_s.med / b->ops_per_s.med;
		t[2].value_cpu = a->ops_per_cpu_s / b->ops_per_cpu_s;
		snprintf(t[2].detail, sizeof(t[2].detail),
		    "%.40s intermediate %.0f/s vs %.40s per-object %.0f/s "
		    "(vs %.40s intermediate, same reps: %.2f)", a->key,
		    a->ops_per_s.med, b->key, b->ops_per_s.med, b->key,
		    a->cmk_vs_smk.med);
	}
	t[3].name = "two threads vs one thread";
	t[3].want = ">= 1.80";
	t[3].goal = 1.80;
	{
		/* The median over every two-thread cell.  On CPU time: with
		 * two cores to itself, a cell whose CPU time per op does not
		 * grow with the second thread runs twice as fast. */
		double *w = calloc(r->ncells + 1, sizeof(double));
		double *u = calloc(r->ncells + 1, sizeof(double));
		unsigned nw = 0, nu = 0;
		struct atb_stat sw, su;

		for (i = 0; w != NULL && u != NULL && i < r->ncells; i++) {
			const struct atb_cell *x = &r->cells[i];

			if (x->skipped || x->threads != 2 || x->vs_1thread.n == 0)
				continue;
			w[nw++] = x->vs_1thread.med;
			c = find(r, x->cmk, x->key, x->hier, x->size, x->op, 1);
			if (c != NULL && x->cpu_us_per_op > 0)
				u[nu++] = 2.0 * c->cpu_us_per_op / x->cpu_us_per_op;
		}
		a = find(r, 0, NULL, ATB_PER_OBJECT, 1024, ATB_ENCRYPT, 2);
		if (nw > 0) {
			atb_stat_of(w, nw, &sw);
			atb_stat_of(u, nu, &su);
			t[3].value = sw.med;
			t[3].value_cpu = nu ? su.med : NAN;
			snprintf(t[3].detail, sizeof(t[3].detail),
			    "median of %u two-thread cells: wall %.2f-%.2f, CPU "
			    "%.2f-%.2f; SMK per-object 1K encrypt %.2f", nw, sw.min,
			    sw.max, nu ? su.min : NAN, nu ? su.max : NAN,
			    a && a->vs_1thread.n ? a->vs_1thread.med : NAN);
		}
		free(w);
		free(u);
	}
	for (i = 0; i < ATB_NTARGETS; i++) {
		if (!isnan(t[i].value))
			t[i].met = t[i].value >= t[i].goal;
		if (!isnan(t[i].value_cpu))
			t[i].met_cpu = t[i].value_cpu >= t[i].goal;
	}
}
