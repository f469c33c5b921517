/*
 * negative.c - the negative check: keys that must open nothing.  Per
 * object, a control key of the object's algorithm family and (eng_sampled)
 * an impostor that claims every stanza (keys.c); once the pass is over,
 * the revocation drill disables every key version objects are wrapped
 * under, tries every object (or a deterministic sample with at least
 * one object per version) and restores each version's prior state.  A
 * run whose primary key is already disabled (the caller's drill) only
 * checks that nothing opens.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "stream.h"
#include "util.h"
#include "vfy_engine.h"

void
eng_negative(struct worker *w, const struct job *j, const struct atr_header *h)
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
			eng_add(w, VFY_ERROR, j->store, j->rel, -1,
			    "negative.opened",
			    "the control key %s opens this object",
			    vfy_controls_desc(E->ctl));
			E->dec->dec_free(d);
			d = NULL;
		} else if (e != ATR_ERR_NOKEY && e != ATR_ERR_AUTH) {
			eng_add(w, VFY_WARN, j->store, j->rel, -1,
			    "negative.inconclusive",
			    "the control key attempt failed with \"%s\" rather "
			    "than an authentication failure", atr_strerror(e));
		}
		atr_detail_clear();
	}
	if (!eng_sampled("negative", j->rel, E->p->negative_sample))
		return;
	k = vfy_controls_impostor(E->ctl);
	w->stats[VS_N_IMPOSTOR]++;
	e = E->dec->dec_new(h, &k, 1, NULL, &d, NULL, NULL);
	if (e == ATR_OK) {
		w->stats[VS_N_IMPOSTOR_OPENED]++;
		eng_add(w, VFY_ERROR, j->store, j->rel, -1,
		    "negative.impostor-opened",
		    "a control key that claims every stanza opens this object");
		E->dec->dec_free(d);
	} else if (e == ATR_ERR_KEY) {
		eng_add(w, VFY_WARN, j->store, j->rel, -1,
		    "negative.control-unavailable",
		    "no control key could be made for this object's algorithm");
	} else if (e != ATR_ERR_AUTH && e != ATR_ERR_NOKEY) {
		eng_add(w, VFY_WARN, j->store, j->rel, -1,
		    "negative.inconclusive",
		    "the impostor attempt failed with \"%s\" rather than an "
		    "authentication failure", atr_strerror(e));
	}
	atr_detail_clear();
}

void
eng_drill_object(struct worker *w, const struct job *j,
    const struct atr_header *h)
{
	struct engine *E = w->E;
	struct atr_dec *d = NULL;
	enum atr_err e;

	w->stats[VS_N_DRILL]++;
	e = E->dec->dec_new(h, E->c->keys, E->c->nkeys, NULL, &d, NULL, NULL);
	if (e == ATR_ERR_UNAUTHORIZED) {
		/* Refused for the credential, not for the disabled key: no
		 * evidence that revocation works. */
		eng_halt(E);
		return;
	}
	if (e == ATR_OK) {
		w->stats[VS_N_DRILL_OPENED]++;
		eng_add(w, VFY_ERROR, j->store, j->rel, -1,
		    "negative.revocation-opened",
		    "opened while the key is disabled");
		E->dec->dec_free(d);
	}
	atr_detail_clear();
}

/* Calls the caller's guard (signals held while a key is disabled). */
static void
guard(const struct vfy_config *c, int on)
{
	if (c->drill_guard != NULL)
		c->drill_guard(c->drill_guard_arg, on);
}

/* A candidate with its sampling hash, for a deterministic order. */
struct dcand {
	const struct cand *c;
	uint64_t h;
};

static int
cmp_dcand(const void *a, const void *b)
{
	const struct dcand *x = a, *y = b;

	if (x->h != y->h)
		return x->h < y->h ? -1 : 1;
	if (x->c->store != y->c->store)
		return x->c->store < y->c->store ? -1 : 1;
	return vfy_path_cmp(x->c->rel, y->c->rel);
}

/* One version of the drill: its key, the state it had, what we did. */
struct dver {
	struct vfy_version *v;
	struct atr_key *key;
	int prior;          /* enabled before the drill */
	int disabled;       /* we disabled it: it must be enabled again */
};

/* The state of the drill over every version in use. */
struct drill {
	struct engine *E;
	struct dver *dv;
	size_t ndv;
	int64_t t_off;      /* ns: every version is disabled */
	int64_t t_last;     /* ns: the last object that still opened */
	struct atr_header *h;
	uint8_t *hbuf;
};

static void
add_err(struct vfy_report *r, const char *kid, const char *code,
    const char *what, enum atr_err e)
{
	vfy_report_add(r, VFY_ERROR, -1, kid, -1, code, "%s: %s%s%s", what,
	    atr_strerror(e), *atr_detail() ? ": " : "", atr_detail());
	atr_detail_clear();
}

/* Reads each version's exact state, then disables the enabled ones
 * (a version already disabled stays so). */
static void
drill_disable(struct drill *D)
{
	struct vfy_report *r = D->E->r;
	struct vfy_vault_attrs va;
	enum atr_err e;
	size_t i;

	for (i = 0; i < D->ndv; i++) {
		struct dver *d = &D->dv[i];

		e = vfy_vault_kid_attrs(d->key, d->v->kid, &va);
		if (e != ATR_OK) {
			add_err(r, d->v->kid, "negative.revocation-failed",
			    "could not read this version's state, so it was "
			    "not disabled", e);
			continue;
		}
		d->prior = va.enabled;
		r->stats[VS_N_DRILL_VERSIONS]++;
		if (!va.enabled)
			continue;
		e = vfy_vault_kid_set_enabled(d->key, d->v->kid, 0);
		if (e != ATR_OK) {
			add_err(r, d->v->kid, "negative.revocation-failed",
			    "could not disable this version for the drill", e);
			continue;
		}
		d->disabled = 1;
	}
	D->t_off = (int64_t)atr_now_ns();
}

/* Enables again every version the drill disabled (twice on failure);
 * one that stays disabled is an error with the command to fix it. */
static void
drill_restore(struct drill *D)
{
	struct vfy_report *r = D->E->r;
	enum atr_err e = ATR_OK;
	size_t i;
	int t;

	for (i = 0; i < D->ndv; i++) {
		struct dver *d = &D->dv[i];

		if (!d->disabled)
			continue;
		for (t = 0; t < 3; t++) {
			e = vfy_vault_kid_set_enabled(d->key, d->v->kid, 1);
			if (e == ATR_OK)
				break;
		}
		if (e == ATR_OK) {
			d->disabled = 0;
			continue;
		}
		vfy_report_add(r, VFY_ERROR, -1, d->v->kid, -1,
		    "negative.revocation-not-restored",
		    "this version was enabled before the drill and could not "
		    "be enabled again (%s%s%s); restore it by hand: atrest "
		    "vault enable %s (or: az keyvault key set-attributes --id "
		    "%s --enabled true)", atr_strerror(e),
		    *atr_detail() ? ": " : "", atr_detail(), d->v->kid,
		    d->v->kid);
		atr_detail_clear();
	}
}

/* Tries one candidate while every version is disabled. */
static void
drill_one(struct drill *D, const struct cand *cand)
{
	struct engine *E = D->E;
	struct vfy_report *r = E->r;
	struct atr_dec *d = NULL;
	const char *why = "";
	size_t extra = 0;
	enum atr_err e;
	int fd;

	fd = eng_open_object(cand->path, &why);
	if (fd < 0)
		return;
	e = atr_read_header(fd, D->h, D->hbuf, &extra);
	close(fd);
	if (e != ATR_OK)
		return;
	r->stats[VS_N_DRILL]++;
	/* The real keys, without the per-worker cache: every attempt asks
	 * the vault. */
	e = E->dec->dec_new(D->h, E->c->keys, E->c->nkeys, NULL, &d, NULL,
	    NULL);
	if (e == ATR_ERR_UNAUTHORIZED) {
		/* As in eng_drill_object: no evidence; the run stops. */
		eng_halt(E);
		return;
	}
	if (e == ATR_OK) {
		D->t_last = (int64_t)atr_now_ns();
		r->stats[VS_N_DRILL_OPENED]++;
		vfy_report_add(r, VFY_ERROR, cand->store, cand->rel, -1,
		    "negative.revocation-opened", "opened while every key "
		    "version in use was disabled (opened through %s before)",
		    cand->kid);
		E->dec->dec_free(d);
	}
	atr_detail_clear();
}

/* Index of kid in the drill's versions, or -1. */
static long
dver_of(const struct drill *D, const char *kid)
{
	size_t i;

	for (i = 0; i < D->ndv; i++)
		if (strcmp(D->dv[i].v->kid, kid) == 0)
			return (long)i;
	return -1;
}

/* Every candidate, or (policy drill_objects N > 0) the N with the
 * smallest drill hash plus the first by that order under each version
 * none of them is under (docs/VERIFY.md "The revocation drill"). */
static void
drill_objects(struct drill *D, const struct cand *cand, size_t ncand)
{
	const struct vfy_config *c = D->E->c;
	unsigned n = D->E->p->drill_objects;
	struct dcand *o = calloc(ncand ? ncand : 1, sizeof(*o));
	uint8_t *seen = calloc(D->ndv ? D->ndv : 1, 1);
	size_t i;

	if (o == NULL || seen == NULL) {
		vfy_report_add(D->E->r, VFY_ERROR, -1, "", -1,
		    "negative.drill-interrupted", "out of memory: the drill "
		    "tried no object");
		goto out;
	}
	for (i = 0; i < ncand; i++) {
		o[i].c = &cand[i];
		o[i].h = vfy_path_hash("drill", cand[i].rel);
	}
	if (ncand > 1)
		qsort(o, ncand, sizeof(*o), cmp_dcand);
	for (i = 0; i < ncand; i++) {
		long vi = dver_of(D, o[i].c->kid);

		if (n != 0 && i >= n && (vi < 0 || seen[vi]))
			continue;
		if (vi >= 0)
			seen[vi] = 1;
		if (eng_halted(D->E))
			break;
		if (c->drill_stop != NULL &&
		    c->drill_stop(c->drill_guard_arg)) {
			vfy_report_add(D->E->r, VFY_WARN, -1, "", -1,
			    "negative.drill-interrupted", "interrupted after "
			    "%zu objects; every version was restored", i);
			D->E->r->incomplete = 1;
			snprintf(D->E->r->incomplete_why,
			    sizeof(D->E->r->incomplete_why),
			    "the revocation drill was interrupted");
			break;
		}
		drill_one(D, o[i].c);
	}
out:
	free(o);
	free(seen);
}

void
eng_revocation_drill(struct engine *E, struct cand *cand, size_t ncand)
{
	const struct vfy_config *c = E->c;
	struct vfy_report *r = E->r;
	struct drill D;
	int64_t t0 = (int64_t)atr_now_ns();
	size_t i;

	memset(&D, 0, sizeof(D));
	D.E = E;
	D.h = malloc(sizeof(*D.h));
	D.hbuf = malloc(ATR_HEADER_MAX);
	D.dv = calloc(r->nversions ? r->nversions : 1, sizeof(*D.dv));
	if (D.h == NULL || D.hbuf == NULL || D.dv == NULL) {
		r->incomplete = 1;
		snprintf(r->incomplete_why, sizeof(r->incomplete_why),
		    "out of memory for the revocation drill");
		goto out;
	}
	/* Every version objects are wrapped under, and only those: one
	 * left enabled would keep its objects readable. */
	for (i = 0; i < r->nversions; i++) {
		D.dv[D.ndv].v = &r->versions[i];
		D.dv[D.ndv++].key = c->keys[r->versions[i].key];
	}
	if (D.ndv == 0) {
		vfy_report_add(r, VFY_WARN, -1, "", -1,
		    "negative.revocation-unavailable",
		    "the revocation drill needs objects wrapped under a Key "
		    "Vault key (--key https://...)");
		goto out;
	}
	guard(c, 1);
	drill_disable(&D);
	drill_objects(&D, cand, ncand);
	drill_restore(&D);
	guard(c, 0);
	if (r->stats[VS_N_DRILL] == 0)
		vfy_report_add(r, VFY_WARN, -1, "", -1,
		    "negative.revocation-unavailable",
		    "no object opened through a vault key could be tried");
	r->stats[VS_N_DRILL_LATENCY_MS] = D.t_last > D.t_off ?
	    (D.t_last - D.t_off) / 1000000 : 0;
out:
	r->stats[VS_N_DRILL_MS] = ((int64_t)atr_now_ns() - t0) / 1000000;
	free(D.h);
	free(D.hbuf);
	free(D.dv);
}
