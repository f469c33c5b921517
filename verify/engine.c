/*
 * engine.c - vfy_run(): checks the configuration, sets a run up (the
 * fingerprint key, the vault's versions for --min-version, the
 * manifest's canaries, the control keys, the workers), makes the pass
 * over the store (pool.c), then the end phase - the rescan (rescan.c),
 * the workers' results merged into the report, the manifest entries no
 * store holds, the revocation drill - and vfy_finalize().
 * vfy_engine.h describes the stages and their files.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "crypto.h"
#include "stream.h"
#include "util.h"
#include "vfy_engine.h"

static const struct vfy_decryptor lib_dec = {
	atr_dec_new, atr_dec_frame, atr_dec_free,
};

const struct vfy_decryptor *
vfy_lib_decryptor(void)
{
	return &lib_dec;
}

/* ---- setup ------------------------------------------------------------- */

static enum atr_err
check_config(const struct vfy_config *c)
{
	if (c->nkeys == 0 || c->nkeys > ATR_MAX_STANZAS)
		return atr_fail(ATR_ERR_CONFIG,
		    "1..%u --key options are needed", ATR_MAX_STANZAS);
	if (c->nstores == 0)
		return atr_fail(ATR_ERR_USAGE, "no STORE given");
	if (c->shard_n > 1 && (c->shard_k < 1 || c->shard_k > c->shard_n))
		return atr_fail(ATR_ERR_USAGE, "--shard K/N needs 1 <= K <= N");
	if (c->shard_n > 1 && c->revocation_drill)
		return atr_fail(ATR_ERR_USAGE, "--revocation-drill toggles the "
		    "key: run it in one job, not with --shard");
	return ATR_OK;
}

/* The DEK fingerprint key: given (shards must share it) or random. */
static enum atr_err
fingerprint_key(struct engine *E)
{
	const struct vfy_config *c = E->c;
	uint8_t id[32];

	if (c->fp_key == NULL || c->fp_key_len == 0) {
		E->fkey_len = sizeof(E->fkey);
		return atr_random(E->fkey, sizeof(E->fkey));
	}
	E->fkey_len = c->fp_key_len < sizeof(E->fkey) ? c->fp_key_len :
	    sizeof(E->fkey);
	memcpy(E->fkey, c->fp_key, E->fkey_len);
	if (atr_hmac_sha256(E->fkey, E->fkey_len,
	    (const uint8_t *)"atrest-verify fingerprint key id", 32, id) ==
	    ATR_OK)
		atr_hex(id, 16, E->r->fp_key_id);
	return ATR_OK;
}

/* --min-version orders versions by the vault's creation times. */
static enum atr_err
min_version(struct engine *E)
{
	const struct atr_key *k0 = E->c->keys[0];
	enum atr_err err;
	size_t m;

	if (!vfy_vault_is_vault_key(k0))
		return atr_fail(ATR_ERR_CONFIG, "--min-version needs a Key "
		    "Vault key as the first --key (file and pkcs11 keys have "
		    "no versions)");
	err = vfy_vault_versions(E->c->keys[0], &E->vv.v, &E->vv.n);
	if (err != ATR_OK)
		return err;
	for (m = 0; m < E->vv.n; m++)
		if (strcasecmp(E->vv.v[m].version, E->p->min_version) == 0)
			break;
	if (m == E->vv.n)
		return atr_fail(ATR_ERR_CONFIG, "--min-version %s: no such "
		    "version of %s", E->p->min_version, k0->uri);
	E->vv.min_created = E->vv.v[m].created;
	return ATR_OK;
}

/* The manifest's canaries into the static pattern set, numbered in
 * manifest order (entries', then the global ones). */
static enum atr_err
canaries(struct engine *E)
{
	const struct vfy_manifest *man = E->c->manifest;
	size_t n = vfy_manifest_count(man), id = 0, i, k, ng;
	char **g;

	ng = vfy_manifest_global_canaries(man, &g);
	E->mseen = calloc(n ? n : 1, sizeof(*E->mseen));
	E->ncanary = vfy_manifest_canaries(man);
	E->canary_of = calloc(E->ncanary ? E->ncanary : 1,
	    sizeof(*E->canary_of));
	if (E->mseen == NULL || E->canary_of == NULL)
		return ATR_ERR_NOMEM;
	for (i = 0; i < n; i++) {
		const struct vfy_mentry *m = vfy_manifest_entry(man, i);

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
		vfy_pset_add_exact(E->stat, (const uint8_t *)g[k], strlen(g[k]),
		    (uint32_t)id);
	}
	E->r->stats[VS_P_CANARIES] = (int64_t)E->ncanary;
	return ATR_OK;
}

/* jobs workers (online CPUs by default, 1..64), initialised. */
static enum atr_err
make_workers(struct engine *E)
{
	enum atr_err err;

	E->nw = E->c->jobs ? E->c->jobs : atr_cpu_count();
	if (E->nw < 1)
		E->nw = 1;
	if (E->nw > 64)
		E->nw = 64;
	E->r->jobs = E->nw;
	E->w = calloc(E->nw, sizeof(*E->w));
	if (E->w == NULL)
		return ATR_ERR_NOMEM;
	for (E->ninit = 0; E->ninit < E->nw; ) {
		err = eng_worker_init(E, &E->w[E->ninit++]);
		if (err != ATR_OK)
			return err;
	}
	return ATR_OK;
}

static enum atr_err
setup(struct engine *E)
{
	const struct vfy_config *c = E->c;
	enum atr_err err;

	if (c->policy == NULL) {
		vfy_policy_default(&E->pdef);
		E->p = &E->pdef;
	} else {
		E->p = c->policy;
	}
	E->dec = c->dec ? c->dec : &lib_dec;
	E->r = vfy_report_new(E->p);
	E->stat = vfy_pset_new();
	E->dyn = vfy_pset_new();
	if (E->r == NULL || E->stat == NULL || E->dyn == NULL)
		return ATR_ERR_NOMEM;
	eng_queue_init(&E->q);
	pthread_cond_init(&E->split_done, NULL);
	snprintf(E->current, sizeof(E->current), "%s", c->keys[0]->key_id);
	err = fingerprint_key(E);
	if (err == ATR_OK && E->p->min_version[0])
		err = min_version(E);
	if (err != ATR_OK)
		return err;
	if (c->revocation_drill && vfy_vault_is_vault_key(c->keys[0])) {
		struct vfy_vault_attrs va;

		if (vfy_vault_attrs(c->keys[0], 1, &va) == ATR_OK &&
		    !va.enabled)
			E->drill_only = 1;
		atr_detail_clear();
	}
	eng_fill_config(E);
	if (c->manifest != NULL && (err = canaries(E)) != ATR_OK)
		return err;
	if (vfy_pset_build(E->stat) != 0)
		return ATR_ERR_NOMEM;
	err = vfy_controls_new(c->control, &E->ctl);
	if (err != ATR_OK)
		return err;
	eng_config_findings(E);
	return make_workers(E);
}

/* ---- the pass ---------------------------------------------------------- */

static enum atr_err
run_pass(struct engine *E)
{
	unsigned started;
	enum atr_err err;

	err = eng_start_workers(E, &started);
	if (err == ATR_OK)
		eng_walk_stores(E);
	eng_stop_workers(E, started);
	if (err == ATR_OK)
		eng_progress(E, 0, 1);
	return err;
}

/* ---- end phase --------------------------------------------------------- */

/* A worker's findings, counters, coverage and object records into the
 * report, by rules that do not depend on which worker did what. */
static void
absorb_worker(struct engine *E, struct worker *w)
{
	struct vfy_report *r = E->r;
	size_t k;
	int s;

	for (s = 0; s < VFY_NCHECKS; s++)
		vfy_flist_absorb(&r->checks[s].f, &w->f[s]);
	for (s = 0; s < VS__COUNT; s++)
		if (vfy_stat_defs[s].op == VFY_OP_MAX) {
			if (w->stats[s] > r->stats[s])
				r->stats[s] = w->stats[s];
		} else {
			r->stats[s] += w->stats[s];
		}
	vfy_covmap_absorb(&r->cov, &w->cov);
	for (k = 0; k < w->objs.n; k++)
		if (vfy_objvec_push(&r->objs, &w->objs.v[k]) != 0) {
			free(w->objs.v[k].rel);
			r->incomplete = 1;
		}
	free(w->objs.v);
	memset(&w->objs, 0, sizeof(w->objs));
	if (w->incomplete && !r->incomplete) {
		r->incomplete = 1;
		snprintf(r->incomplete_why, sizeof(r->incomplete_why), "%s",
		    w->why);
	}
}

/* Moves w's drill candidates to the end of *cand (kept by w when the
 * list cannot grow). */
static void
take_cands(struct worker *w, struct cand **cand, size_t *ncand)
{
	struct cand *nc;

	if (w->ncand == 0)
		return;
	nc = realloc(*cand, (*ncand + w->ncand) * sizeof(**cand));
	if (nc == NULL)
		return;
	*cand = nc;
	memcpy(*cand + *ncand, w->cand, w->ncand * sizeof(**cand));
	*ncand += w->ncand;
	free(w->cand);
	w->cand = NULL;
	w->ncand = 0;
	w->capcand = 0;
}

/* Manifest entries of this shard that no store holds. */
static void
missing_entries(struct engine *E)
{
	const struct vfy_config *c = E->c;
	size_t n = vfy_manifest_count(c->manifest), i;

	for (i = 0; i < n; i++) {
		const struct vfy_mentry *m = vfy_manifest_entry(c->manifest, i);

		if (!vfy_in_shard(m->path, c->shard_k, c->shard_n))
			continue;
		E->r->stats[VS_D_MAN_ENTRIES]++;
		if (atomic_load(&E->mseen[i]))
			continue;
		E->r->stats[VS_D_MAN_MISSING]++;
		vfy_report_add(E->r, VFY_ERROR, c->nstores == 1 ? 0 : -1,
		    m->path, -1, "decrypt.missing",
		    "listed in the manifest but absent from the store (data "
		    "lost)");
	}
}

static void
end_phase(struct engine *E, struct cand **cand, size_t *ncand)
{
	const struct vfy_config *c = E->c;
	size_t i;

	for (i = 0; i < E->nw; i++) {
		absorb_worker(E, &E->w[i]);
		take_cands(&E->w[i], cand, ncand);
	}
	if (E->walk_failed) {
		E->r->incomplete = 1;
		snprintf(E->r->incomplete_why, sizeof(E->r->incomplete_why),
		    "%s", E->walk_why);
	}
	/* Stopped at a credential failure: what was not reached is neither
	 * missing nor judged, and the key service is not asked again
	 * (versions, the drill). */
	if (!eng_halted(E)) {
		if (c->manifest != NULL)
			missing_entries(E);
		eng_versions(E);
		if (c->revocation_drill && !E->drill_only)
			eng_revocation_drill(E, *cand, *ncand);
	}
	/* Also when the drill itself was refused the credential. */
	if (eng_halted(E)) {
		E->r->incomplete = 1;
		E->r->halted = 1;
		snprintf(E->r->incomplete_why, sizeof(E->r->incomplete_why),
		    "%s", E->halt_why);
	}
}

static void
engine_free(struct engine *E, struct cand *cand, size_t ncand)
{
	size_t i;

	for (i = 0; i < ncand; i++) {
		free(cand[i].rel);
		free(cand[i].path);
		free(cand[i].kid);
	}
	free(cand);
	for (i = 0; i < E->ninit; i++)
		eng_worker_free(&E->w[i]);
	free(E->w);
	vfy_report_free(E->r);
	vfy_pset_free(E->stat);
	vfy_pset_free(E->dyn);
	vfy_controls_free(E->ctl);
	free(E->mseen);
	free(E->canary_of);
	free(E->vv.v);
	atr_memzero(E->fkey, sizeof(E->fkey));
	free(E);
}

enum atr_err
vfy_run(const struct vfy_config *c, struct vfy_report **out)
{
	int64_t t0 = (int64_t)atr_now_ns();
	struct engine *E;
	struct cand *cand = NULL;
	size_t ncand = 0;
	enum atr_err err;

	*out = NULL;
	err = check_config(c);
	if (err != ATR_OK)
		return err;
	E = calloc(1, sizeof(*E));
	if (E == NULL)
		return ATR_ERR_NOMEM;
	E->c = c;
	err = setup(E);
	if (err == ATR_OK)
		err = run_pass(E);
	if (err == ATR_OK && !eng_halted(E))
		err = eng_rescan(E);
	if (err == ATR_OK) {
		end_phase(E, &cand, &ncand);
		eng_progress(E, 2, 1);
		E->r->elapsed_ms = ((int64_t)atr_now_ns() - t0) / 1000000;
		E->r->split_objects = atomic_load(&E->split_objects);
		E->r->split_rechecked = atomic_load(&E->split_rechecked);
		E->r->helped_batches = atomic_load(&E->helped_batches);
		E->r->started = c->started ? c->started : (int64_t)time(NULL);
		vfy_finalize(E->r);
		*out = E->r;
		E->r = NULL;
	}
	engine_free(E, cand, ncand);
	return err;
}
