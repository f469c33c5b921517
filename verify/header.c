/*
 * header.c - the checks that need only an object's header: who the
 * recipients are (recipients check), what each stanza key id covers
 * (coverage, from which finalize.c derives the per-key policy and KEK
 * wrap counts) and whether the object is on the current key or a recent
 * enough version (rotation check).
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "vfy_engine.h"

/* What the stanzas of one header say, for the recipient findings. */
struct rcpt {
	int any;             /* a stanza for a configured key */
	int all_smk;         /* every stanza is a service-managed wrap */
	int has_current;     /* a stanza for the current key */
	int nforeign;        /* stanzas for keys outside the allowed set */
	int other_version;   /* one is another version of a vault key */
	int present[ATR_MAX_STANZAS];   /* by configured key */
	char foreign[512];   /* the foreign key ids, for the message */
};

/* The first configured key that matches st, or -1; marks every one
 * that does in rc->present. */
static int
match_stanza(const struct vfy_config *c, const struct atr_stanza *st,
    struct rcpt *rc)
{
	int matched = -1;
	size_t i;

	for (i = 0; i < c->nkeys; i++)
		if (c->keys[i]->ops->matches(c->keys[i],
		    (enum atr_provider_type)st->provider, st->key_id)) {
			rc->present[i] = 1;
			if (matched < 0)
				matched = (int)i;
		}
	return matched;
}

/* 1 when kid names another version of a configured vault key (same
 * vault and key name). */
static int
other_version_of(const struct vfy_config *c, const char *kid)
{
	char o1[300], n1[160], v1[128], o2[300], n2[160], v2[128];
	size_t i;

	for (i = 0; i < c->nkeys; i++)
		if (vfy_vault_is_vault_key(c->keys[i]) &&
		    vfy_kid_split(kid, o1, sizeof(o1), n1, sizeof(n1), v1,
		    sizeof(v1)) == 0 &&
		    vfy_kid_split(c->keys[i]->key_id, o2, sizeof(o2), n2,
		    sizeof(n2), v2, sizeof(v2)) == 0 &&
		    strcasecmp(o1, o2) == 0 && strcasecmp(n1, n2) == 0)
			return 1;
	return 0;
}

static void
note_foreign(struct worker *w, struct rcpt *rc, const struct atr_stanza *st)
{
	size_t l = strlen(rc->foreign);

	rc->nforeign++;
	w->stats[VS_R_FOREIGN]++;
	if (l < 200)
		snprintf(rc->foreign + l, sizeof(rc->foreign) - l, "%s%.120s",
		    rc->foreign[0] ? ", " : "", st->key_id);
	if (other_version_of(w->E->c, st->key_id))
		rc->other_version = 1;
}

/* What this stanza adds to its key id's coverage entry. */
static void
cover(struct worker *w, const struct atr_stanza *st, int matched)
{
	struct vfy_cov *cv = vfy_covmap_get(&w->cov, st->key_id);

	if (cv == NULL)
		return;
	cv->provider = st->provider;
	if (st->alg < 8)
		cv->algs |= (uint8_t)(1U << st->alg);
	else
		cv->algs |= (uint8_t)(1U << VFY_ALG_OTHER_BIT);
	if (st->kind < 8)
		cv->kinds |= (uint8_t)(1U << st->kind);
	if (st->alg == ATR_WRAP_RSA_OAEP_256 ||
	    st->alg == ATR_WRAP_RSA_OAEP_SHA1) {
		/* OAEP output is as long as the modulus (RFC 8017 7.1.1):
		 * the key size of any RSA recipient, even one we do not
		 * hold. */
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
	if (strcmp(st->key_id, w->E->current) == 0)
		cv->current = 1;
}

static void
recipient_findings(struct worker *w, const struct job *j,
    const struct atr_header *h, const struct rcpt *rc)
{
	const struct vfy_config *c = w->E->c;
	const struct vfy_policy *p = w->E->p;
	size_t s, i;

	if (!rc->any) {
		char list[512] = "";

		for (s = 0; s < h->nstanzas && strlen(list) < 200; s++)
			snprintf(list + strlen(list),
			    sizeof(list) - strlen(list),
			    "%s%.120s", s ? ", " : "", h->st[s].key_id);
		eng_add(w, VFY_ERROR, j->store, j->rel, -1,
		    "recipients.not-configured",
		    "no stanza for a configured key; recipients: %s", list);
	} else {
		w->stats[VS_R_CONFIGURED]++;
	}
	if (rc->nforeign > 0 && rc->any)
		eng_add(w, p->allow_foreign ? VFY_INFO : VFY_ERROR, j->store,
		    j->rel, -1, rc->other_version ? "recipients.other-version" :
		    "recipients.foreign",
		    "%d stanza%s for key%s outside the allowed set%s: %s",
		    rc->nforeign, rc->nforeign == 1 ? "" : "s",
		    rc->nforeign == 1 ? "" : "s", rc->other_version ?
		    " (another version of a configured vault key)" : "",
		    rc->foreign);
	else if (rc->nforeign > 0 && rc->other_version)
		eng_add(w, VFY_ERROR, j->store, j->rel, -1,
		    "recipients.other-version",
		    "wrapped only by another version of a configured vault "
		    "key: %s", rc->foreign);
	if (p->require_cmk && rc->all_smk) {
		w->stats[VS_R_SMK_ONLY]++;
		eng_add(w, VFY_ERROR, j->store, j->rel, -1,
		    "recipients.smk-only",
		    "every stanza is a service-managed (SMK) wrap: no "
		    "customer-managed key protects this object");
	}
	if (p->require_keys == VFY_REQ_ALL) {
		for (i = 0; i < c->nkeys; i++)
			if (!rc->present[i])
				eng_add(w, VFY_ERROR, j->store, j->rel, -1,
				    "recipients.missing-key",
				    "no stanza for configured key %s",
				    c->keys[i]->uri);
	} else if (p->require_keys == VFY_REQ_PRIMARY && !rc->present[0]) {
		eng_add(w, VFY_ERROR, j->store, j->rel, -1,
		    "recipients.missing-key",
		    "no stanza for the primary key %s", c->keys[0]->uri);
	}
}

/* --min-version: a stanza for the primary key's name at a version
 * created no earlier than the minimum (versions as the vault lists them,
 * E->vv). */
static void
min_version(struct worker *w, const struct job *j, const struct atr_header *h)
{
	struct engine *E = w->E;
	char o1[300], n1[160], v1[128], o2[300], n2[160], v2[128];
	int ok = 0, unknown = 0;
	size_t s, i;

	vfy_kid_split(E->c->keys[0]->key_id, o2, sizeof(o2), n2, sizeof(n2),
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
	if (ok)
		return;
	w->stats[VS_RO_STALE]++;
	eng_add(w, unknown ? VFY_WARN : VFY_ERROR, j->store, j->rel, -1,
	    unknown ? "rotation.version-unknown" : "rotation.below-min-version",
	    unknown ? "a stanza names a version the vault does not list" :
	    "every stanza for %s is older than version %s", n2,
	    E->p->min_version);
}

static void
rotation_findings(struct worker *w, const struct job *j,
    const struct atr_header *h, const struct rcpt *rc)
{
	struct engine *E = w->E;

	if (rc->has_current)
		w->stats[VS_RO_CURRENT]++;
	if (E->p->current_only && !rc->has_current) {
		w->stats[VS_RO_STALE]++;
		eng_add(w, VFY_ERROR, j->store, j->rel, -1, "rotation.stale",
		    "no stanza for the current key %.200s (rewrap it)",
		    E->current);
	}
	if (E->p->min_version[0] && E->vv.v != NULL)
		min_version(w, j, h);
}

void
eng_header_checks(struct worker *w, const struct job *j,
    const struct atr_header *h)
{
	struct rcpt rc;
	size_t s;

	memset(&rc, 0, sizeof(rc));
	rc.all_smk = 1;
	w->stats[VS_R_OBJECTS]++;
	w->stats[VS_R_STANZAS] += h->nstanzas;
	if (h->suite == ATR_SUITE_V1)
		w->stats[VS_PO_SUITE_V1]++;
	for (s = 0; s < h->nstanzas; s++) {
		const struct atr_stanza *st = &h->st[s];
		int matched = match_stanza(w->E->c, st, &rc);

		if (st->provider != ATR_PROV_FILE_AES)
			rc.all_smk = 0;
		if (strcmp(st->key_id, w->E->current) == 0)
			rc.has_current = 1;
		if (matched >= 0)
			rc.any = 1;
		else
			note_foreign(w, &rc, st);
		cover(w, st, matched);
	}
	recipient_findings(w, j, h, &rc);
	rotation_findings(w, j, h, &rc);
}
