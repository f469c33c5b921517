/*
 * group.c - the matrix as groups: cells that differ only by key setup
 * and thread count.  A group builds its ciphertext pools (and checks a
 * round trip), warms each member up, then runs repetition 1 of every
 * member, the references that repetition needs, repetition 2, ..., so
 * that a burst of host slowness hits a cell, its partners and its
 * reference alike (docs/BENCH.md, "Groups and interleaving").
 */
#include "bench_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* ---- pools and the round-trip check ----------------------------------- */

static enum atr_err
pool_reserve(struct run *R, size_t need)
{
	if (R->pool.len >= need)
		return ATR_OK;
	bn_big_free(&R->pool);
	return bn_big_alloc(&R->pool, need, 0xa5);
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
	size_t cap = bn_obj_cap(G->size, R->fs), per_key, need, off = 0, i, j;
	struct worker *w = &R->setup;
	struct member fake;
	enum atr_err err;

	memset(&fake, 0, sizeof(fake));
	per_key = G->op == ATB_DECRYPT ?
	    POOL_PER_KEY_BYTES / (G->size ? G->size : 1) : nobj_enc;
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
	bn_vault_faults_for(R, NULL);
	bn_tls_worker = w;
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
		bn_worker_reset(w, G, &fake);
		for (j = 0; j < n; j++) {
			struct bigbuf save = w->out;
			size_t len = 0;

			w->out.p = R->pool.p + off;
			w->out.len = cap;
			err = bn_op_encrypt(w, t, &tend, &len);
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
			err = bn_op_decrypt(w, atr_now_ns(), &tend);
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
	bn_tls_worker = NULL;
	return err;
}

/* ---- one group ------------------------------------------------------- */

/* The reference for the KEK call the member's hierarchy makes per
 * object (ATB_L__COUNT: none, a cached DEK makes none). */
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
	free(M->rep_round);
	free(M->rep_io);
	free(M->rep_io_cpu);
	free(M->lat);
	free(M->kms);
}

/* A member that cannot go on: its cell is skipped with the reason; a
 * credential the key service refused stops the whole run (R->halted). */
static void
member_fail(struct run *R, struct member *M, enum atr_err err)
{
	if (err == ATR_ERR_UNAUTHORIZED && !R->halted) {
		R->halted = 1;
		snprintf(R->halt_why, sizeof(R->halt_why), "%s", *atr_detail() ?
		    atr_detail() : atr_strerror(err));
	}
	M->failed = 1;
	M->cell->skipped = 1;
	snprintf(M->cell->note, sizeof(M->cell->note), "failed: %s: %s",
	    atr_strerror(err), atr_detail());
	atr_detail_clear();
}

/* Points each member at its pool, skips what cannot run and warms the
 * others up (unrecorded). */
static void
group_warmup(struct run *R, struct group *G)
{
	const struct atb_config *c = R->cfg;
	size_t i, j;

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
		if (c->warmup > 0 && !bn_stop_check(R)) {
			double ops, cpu;
			enum atr_err err;

			err = bn_run_rep(R, G, M, c->warmup, 0, &ops, &cpu);
			if (err != ATR_OK)
				member_fail(R, M, err);
		}
	}
}

/* Repetition r of every member that still runs; a member that fails is
 * skipped with the reason, the others go on. */
static void
group_rep_cells(struct run *R, struct group *G, unsigned r, const char *sl)
{
	const struct atb_config *c = R->cfg;
	char what[300];
	size_t i;

	for (i = 0; i < G->nm; i++) {
		struct member *M = &G->m[i];
		double ops, cpu;
		enum atr_err err;

		if (M->sit_out)
			continue;
		if (M->failed || R->halted || bn_stop_check(R)) {
			R->done++;
			continue;
		}
		if (r < c->reps)
			snprintf(what, sizeof(what), "%s %s %s %s x%u rep %u/%u",
			    M->ks->name, atb_hier_name(G->hier), sl,
			    atb_op_name(G->op), M->threads, r + 1, c->reps);
		else
			snprintf(what, sizeof(what), "%s %s %s %s x%u rep %u "
			    "(until quiet)", M->ks->name, atb_hier_name(G->hier),
			    sl, atb_op_name(G->op), M->threads, M->nrep + 1);
		bn_progress(R, what);
		err = bn_run_rep(R, G, M, c->seconds, 1, &ops, &cpu);
		R->done++;
		if (err != ATR_OK) {
			member_fail(R, M, err);
			continue;
		}
		M->rep_ops[M->nrep] = ops;
		M->rep_cpu[M->nrep] = cpu;
		M->rep_round[M->nrep] = r;
	}
}

/*
 * The references of one repetition: raw GCM at the group's size, then
 * each distinct KEK operation the members need (measured once, shared),
 * recorded in every member that still runs.
 */
static enum atr_err
group_rep_refs(struct run *R, struct group *G)
{
	/* A quarter of a cell's time, but at least 30 ms: every member of
	 * the group shares these references, so a short, noisy one would
	 * move all their ratios at once. */
	double secs = R->cfg->seconds, ref_s = secs / 4.0 > 0.03 ?
	    secs / 4.0 : 0.03;
	double gcm_ns = NAN, gcm_cpu = NAN, io_ns = 0, io_cpu = 0;
	struct {
		enum atb_limit_kind k;
		unsigned bits;
		double ns, cpu;
	} kref[ATB_MAX_KEYS + 1];
	size_t nk = 0, i, j;
	enum atr_err err;

	err = atb_ref_measure(R->refs, G->op == ATB_ENCRYPT ?
	    ATB_L_GCM_SEAL : ATB_L_GCM_OPEN, G->size, 0, ref_s,
	    REF_MIN_OPS, &gcm_ns, &gcm_cpu);
	if (err != ATR_OK)
		return err;
	/* --io: storage's own cost of the object, written as the encrypt
	 * cells write it or read as the decrypt cells read it. */
	if (R->io_fd >= 0) {
		err = atb_ref_measure(R->refs, G->op == ATB_ENCRYPT ?
		    ATB_L_IO_WRITE : ATB_L_IO_READ, G->size, 0, ref_s,
		    REF_MIN_OPS, &io_ns, &io_cpu);
		if (err != ATR_OK)
			return err;
	}
	for (i = 0; i < G->nm; i++) {
		struct member *M = &G->m[i];
		unsigned bits;
		enum atb_limit_kind k = kek_ref(G, M->ks, &bits);
		double ns = 0, cpu = 0;

		if (M->failed || M->sit_out)
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
		M->rep_io[M->nrep] = io_ns;
		M->rep_io_cpu[M->nrep] = io_cpu;
		M->nrep++;
	}
	return ATR_OK;
}

/*
 * --until-quiet: more rounds of the members that are not quiet yet
 * (bn_member_quiet), each a repetition of every such member and then the
 * references, as the first rounds; members already quiet sit the round
 * out.  The group gets an even share of the time left (R->quiet_left /
 * R->groups_left; what it does not use goes to the groups after it) and
 * starts no round once its share is spent, so it may run over by one
 * round.  A member stops at ATB_REPS_MAX repetitions.
 */
static enum atr_err
group_until_quiet(struct run *R, struct group *G, const char *sl)
{
	double share = R->groups_left > 0 ?
	    R->quiet_left / (double)R->groups_left : R->quiet_left;
	uint64_t t0 = atr_now_ns();
	unsigned r = R->cfg->reps;
	enum atr_err err = ATR_OK;
	size_t i, n;

	for (;;) {
		double spent = (double)(atr_now_ns() - t0) / 1e9;

		for (i = 0, n = 0; i < G->nm; i++) {
			struct member *M = &G->m[i];

			M->sit_out = M->failed || M->nrep >= M->cap ||
			    bn_member_quiet(R, M);
			n += !M->sit_out;
		}
		if (n == 0 || spent >= share || R->halted)
			break;
		R->total += n;
		group_rep_cells(R, G, r, sl);
		err = group_rep_refs(R, G);
		if (err != ATR_OK)
			break;
		for (i = 0; i < G->nm; i++)
			if (!G->m[i].sit_out && !G->m[i].failed)
				G->m[i].extra++;
		r++;
	}
	for (i = 0; i < G->nm; i++) {
		G->m[i].sit_out = 0;
		if (G->m[i].extra > 0) {
			R->res->quiet_cells++;
			R->res->quiet_reps += G->m[i].extra;
		}
	}
	R->res->quiet_s += (double)(atr_now_ns() - t0) / 1e9;
	R->quiet_left -= (double)(atr_now_ns() - t0) / 1e9;
	if (R->quiet_left < 0)
		R->quiet_left = 0;
	return err;
}

static enum atr_err
group_run(struct run *R, struct group *G)
{
	enum atr_err err;
	char sl[32];
	unsigned r;
	size_t i;

	atr_size_label(G->size, sl, sizeof(sl));
	/* Pools (decrypt) or the round-trip check (encrypt). */
	err = pools_build(R, G, 1);
	if (err == ATR_OK)
		err = bn_io_group_files(R, G);
	if (err != ATR_OK)
		return err;
	group_warmup(R, G);
	for (r = 0; r < R->cfg->reps; r++) {
		if (R->halted || bn_stop_check(R))
			break;
		group_rep_cells(R, G, r, sl);
		err = group_rep_refs(R, G);
		if (err != ATR_OK)
			return err;
	}
	if (R->cfg->until_quiet > 0 && !R->halted) {
		err = group_until_quiet(R, G, sl);
		if (err != ATR_OK)
			return err;
	}
	if (R->halted)
		return atr_fail(ATR_ERR_UNAUTHORIZED, "%s", R->halt_why);
	if (R->stopped)
		return atr_fail(ATR_ERR_IO, "interrupted");
	for (i = 0; i < G->nm; i++)
		bn_member_finish(R, G, &G->m[i]);
	bn_group_ratios(G);
	return ATR_OK;
}

/* ---- the matrix ------------------------------------------------------ */

/* The member's per-repetition arrays, thread states and histograms. */
static enum atr_err
member_alloc(struct member *M, unsigned reps)
{
	M->cap = reps;
	M->rep_round = calloc(reps, sizeof(unsigned));
	M->rep_ops = calloc(reps, sizeof(double));
	M->rep_lim = calloc(reps, sizeof(double));
	M->rep_gcm = calloc(reps, sizeof(double));
	M->rep_kek = calloc(reps, sizeof(double));
	M->rep_cpu = calloc(reps, sizeof(double));
	M->rep_gcm_cpu = calloc(reps, sizeof(double));
	M->rep_kek_cpu = calloc(reps, sizeof(double));
	M->rep_io = calloc(reps, sizeof(double));
	M->rep_io_cpu = calloc(reps, sizeof(double));
	M->hs = calloc(M->threads, sizeof(*M->hs));
	M->lat = malloc(sizeof(*M->lat));
	M->kms = malloc(sizeof(*M->kms));
	if (!M->rep_ops || !M->rep_lim || !M->rep_gcm || !M->rep_kek ||
	    !M->rep_cpu || !M->rep_gcm_cpu || !M->rep_kek_cpu || !M->rep_io ||
	    !M->rep_io_cpu || !M->hs || !M->lat || !M->kms || !M->rep_round)
		return ATR_ERR_NOMEM;
	atb_hist_reset(M->lat);
	atb_hist_reset(M->kms);
	return ATR_OK;
}

/*
 * Sets up, runs and frees group gi (hierarchy h, size, op o): one
 * member per thread count x key setup, their cells at
 * cells[gi * nm ...], in that order.
 */
static enum atr_err
group_one(struct run *R, size_t gi, enum atb_hier h, uint64_t size,
    enum atb_op o)
{
	const struct atb_config *c = R->cfg;
	size_t nm = R->nks * c->nthreads, i = 0, t, k;
	enum atr_err err = ATR_OK;
	struct group G;

	memset(&G, 0, sizeof(G));
	G.hier = h;
	G.op = o;
	G.size = size;
	G.m = calloc(nm, sizeof(*G.m));
	if (G.m == NULL)
		return ATR_ERR_NOMEM;
	G.nm = nm;
	for (k = 0; k < R->nks; k++) {
		G.pools[k].ks = &R->ks[k];
		G.npools++;
	}
	for (t = 0; t < c->nthreads; t++) {
		for (k = 0; k < R->nks; k++, i++) {
			struct member *M = &G.m[i];

			M->ks = &R->ks[k];
			M->threads = c->threads[t];
			M->cell = &R->res->cells[gi * nm + i];
			bn_cell_init(M->cell, &G, M);
			M->cell->io = R->io_fd >= 0;
			/* --until-quiet may add repetitions up to the most
			 * a cell records. */
			if (member_alloc(M, c->until_quiet > 0 ?
			    ATB_REPS_MAX : c->reps) != ATR_OK)
				err = ATR_ERR_NOMEM;
		}
	}
	if (err == ATR_OK)
		err = group_run(R, &G);
	/* --io: the group's files go with it, whatever happened. */
	bn_io_group_clean(R, &G);
	for (i = 0; i < nm; i++)
		member_free(&G.m[i]);
	for (k = 0; k < G.npools; k++)
		free(G.pools[k].objs);
	free(G.m);
	return err;
}

enum atr_err
bn_run_groups(struct run *R)
{
	const struct atb_config *c = R->cfg;
	struct atb_results *res = R->res;
	size_t ng = 0, nm, gi, si;
	unsigned h, o;
	enum atr_err err;

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
	R->quiet_left = c->until_quiet;
	gi = 0;
	for (h = 0; h < ATB_HIER__COUNT; h++) {
		if (!c->hier[h])
			continue;
		for (si = 0; si < c->nsizes; si++) {
			for (o = 0; o < ATB_OP__COUNT; o++) {
				if (!c->ops[o])
					continue;
				R->groups_left = ng - gi;
				if (bn_stop_check(R))
					return atr_fail(ATR_ERR_IO,
					    "interrupted");
				err = group_one(R, gi, (enum atb_hier)h,
				    c->sizes[si], (enum atb_op)o);
				if (err != ATR_OK)
					return err;
				gi++;
			}
		}
	}
	return ATR_OK;
}
