/*
 * negative.c - the negative check: keys that must open nothing.  Per
 * object, a control key of the object's algorithm family and (eng_sampled)
 * an impostor that claims every stanza (keys.c); once the pass is over,
 * the revocation drill disables each vault key in turn, tries objects
 * opened through it and enables it again.  A run whose primary key is
 * already disabled (the caller's drill) only checks that nothing opens.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "stream.h"
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

static int
cmp_cand(const void *a, const void *b)
{
	const struct cand *x = a, *y = b;

	if (x->store != y->store)
		return x->store < y->store ? -1 : 1;
	return vfy_path_cmp(x->rel, y->rel);
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

/* Tries candidate cand (opened through key) while key is disabled;
 * 1 when it could be tried.  h and hbuf are scratch space. */
static int
drill_one(struct engine *E, const struct atr_key *key, const struct cand *cand,
    struct atr_header *h, uint8_t *hbuf)
{
	const struct vfy_config *c = E->c;
	struct vfy_report *r = E->r;
	struct atr_dec *d = NULL;
	const char *why = "";
	size_t extra = 0;
	enum atr_err e;
	int fd;

	fd = eng_open_object(cand->path, &why);
	if (fd < 0)
		return 0;
	e = atr_read_header(fd, h, hbuf, &extra);
	close(fd);
	if (e != ATR_OK)
		return 0;
	r->stats[VS_N_DRILL]++;
	/* The real keys, without the per-worker cache: every attempt asks
	 * the vault. */
	e = E->dec->dec_new(h, c->keys, c->nkeys, NULL, &d, NULL, NULL);
	if (e == ATR_OK) {
		r->stats[VS_N_DRILL_OPENED]++;
		vfy_report_add(r, VFY_ERROR, cand->store, cand->rel, -1,
		    "negative.revocation-opened",
		    "opened while %s was disabled", key->uri);
		E->dec->dec_free(d);
	}
	atr_detail_clear();
	return 1;
}

/* Disables key, tries its candidates, enables it again; returns how
 * many were tried. */
static size_t
drill_key(struct engine *E, struct atr_key *key, const struct cand *cand,
    size_t ncand, struct atr_header *h, uint8_t *hbuf)
{
	const struct vfy_config *c = E->c;
	struct vfy_report *r = E->r;
	size_t i, tried = 0;
	enum atr_err e;

	guard(c, 1);
	e = vfy_vault_set_enabled(key, 0);
	if (e != ATR_OK) {
		vfy_report_add(r, VFY_ERROR, -1, key->uri, -1,
		    "negative.revocation-failed",
		    "could not disable the key for the drill: %s%s%s",
		    atr_strerror(e), *atr_detail() ? ": " : "", atr_detail());
		atr_detail_clear();
		guard(c, 0);
		return 0;
	}
	for (i = 0; i < ncand; i++)
		if (strcmp(cand[i].kid, key->key_id) == 0)
			tried += (size_t)drill_one(E, key, &cand[i], h, hbuf);
	e = vfy_vault_set_enabled(key, 1);
	if (e != ATR_OK) {
		vfy_report_add(r, VFY_ERROR, -1, key->uri, -1,
		    "negative.revocation-failed",
		    "could not re-enable the key after the drill (enable it by "
		    "hand): %s%s%s", atr_strerror(e),
		    *atr_detail() ? ": " : "", atr_detail());
		atr_detail_clear();
	}
	guard(c, 0);
	return tried;
}

void
eng_revocation_drill(struct engine *E, struct cand *cand, size_t ncand)
{
	const struct vfy_config *c = E->c;
	struct atr_header *h = malloc(sizeof(*h));
	uint8_t *hbuf = malloc(ATR_HEADER_MAX);
	size_t k, tried = 0;
	int any_vault = 0;

	if (h == NULL || hbuf == NULL) {
		free(h);
		free(hbuf);
		return;
	}
	/* The first drill_objects candidates in report order, whichever
	 * worker found them. */
	if (ncand > 1)
		qsort(cand, ncand, sizeof(*cand), cmp_cand);
	if (ncand > E->p->drill_objects)
		ncand = E->p->drill_objects;
	for (k = 0; k < c->nkeys; k++) {
		if (!vfy_vault_is_vault_key(c->keys[k]))
			continue;
		any_vault = 1;
		tried += drill_key(E, c->keys[k], cand, ncand, h, hbuf);
	}
	if (!any_vault)
		vfy_report_add(E->r, VFY_WARN, -1, "", -1,
		    "negative.revocation-unavailable",
		    "the revocation drill needs a Key Vault key (--key "
		    "https://...)");
	else if (tried == 0)
		vfy_report_add(E->r, VFY_WARN, -1, "", -1,
		    "negative.revocation-unavailable",
		    "no object opened through a vault key could be tried");
	free(h);
	free(hbuf);
}
