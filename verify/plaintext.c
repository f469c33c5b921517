/*
 * plaintext.c - the per-object parts of the plaintext check: the hits
 * of a scan as findings, the byte statistics (is this ciphertext?), and
 * what the end phase searches for once the whole store is known - every
 * unwrapped DEK and intermediate key, and shingles (32-byte windows) of
 * every decrypted object.  Windows are kept only as hashes
 * (vfy_pset_hash_window), wiped when the worker is freed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "fsutil.h"
#include "vfy_engine.h"

void
eng_on_hit(void *arg, int type, uint32_t id, uint64_t off)
{
	struct hitagg *a = arg;

	if (type < 0 || type > 3)
		return;
	if (a->n[type]++ == 0 || off < a->first[type]) {
		a->first[type] = off;
		a->id[type] = id;
	}
}

void
eng_report_hits(struct worker *w, const struct job *j, const struct hitagg *a)
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
		eng_add(w, VFY_ERROR, j->store, j->rel,
		    (int64_t)a->first[VFY_PAT_CANARY], "plaintext.canary",
		    "canary %d of %s is stored in the clear (%llu "
		    "occurrence%s)",
		    id < E->ncanary ? E->canary_of[id].k + 1 : 0, where,
		    (unsigned long long)a->n[VFY_PAT_CANARY],
		    a->n[VFY_PAT_CANARY] == 1 ? "" : "s");
	}
	if (a->n[VFY_PAT_SHINGLE]) {
		w->stats[VS_P_SHINGLE_HITS] += (int64_t)a->n[VFY_PAT_SHINGLE];
		eng_add(w, VFY_ERROR, j->store, j->rel,
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
		eng_add(w, VFY_ERROR, j->store, j->rel, (int64_t)off,
		    "plaintext.dek",
		    "an unwrapped %s is stored in the clear (%llu "
		    "occurrence%s)",
		    a->n[VFY_PAT_DEK] ? "data key (DEK)" : "intermediate key",
		    (unsigned long long)a->n[VFY_PAT_DEK] + a->n[VFY_PAT_IK],
		    a->n[VFY_PAT_DEK] + a->n[VFY_PAT_IK] == 1 ? "" : "s");
	}
}

void
eng_judge_stats(struct worker *w, const struct job *j, int proven)
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
	eng_add(w, proven ? VFY_WARN : VFY_ERROR, j->store, j->rel, -1,
	    "plaintext.not-random",
	    "bytes do not look like ciphertext: chi-square %.0f > %.0f over "
	    "%llu bytes, entropy %.2f bits/byte", chi, bound,
	    (unsigned long long)w->hist.n, vfy_hist_entropy(&w->hist));
}

/* Scans the rest of an open file (its descriptor is at offset pos) for
 * the static set; the byte statistics see at most stat_max_bytes of it,
 * spread evenly. */
int
eng_scan_rest(struct worker *w, int fd, struct vfy_scanner *sc,
    uint64_t pos, uint64_t size, const struct job *j)
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
			eng_add(w, VFY_ERROR, j->store, j->rel, (int64_t)pos,
			    "envelope.unreadable",
			    "read failed or file shrank");
			eng_incomplete(w, "a file could not be read");
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

/* A free slot at the end of w->dyn, or NULL out of memory. */
static struct vfy_winhash *
dyn_slot(struct worker *w)
{
	if (w->ndyn == w->capdyn) {
		size_t nc = w->capdyn ? w->capdyn * 2 : 256;
		struct vfy_winhash *nv = malloc(nc * sizeof(*nv));

		if (nv == NULL)
			return NULL;
		if (w->ndyn)
			memcpy(nv, w->dyn, w->ndyn * sizeof(*nv));
		if (w->dyn != NULL)
			atr_secure_free(w->dyn, w->capdyn * sizeof(*w->dyn));
		w->dyn = nv;
		w->capdyn = nc;
	}
	return &w->dyn[w->ndyn++];
}

static int
push_dyn(struct worker *w, int type, const uint8_t win[32])
{
	struct vfy_winhash *s = dyn_slot(w);

	if (s == NULL)
		return -1;
	vfy_pset_hash_window(w->E->dyn, type, win, s);
	return 0;
}

void
eng_push_winhash(struct worker *w, const struct vfy_winhash *h)
{
	struct vfy_winhash *s = dyn_slot(w);

	if (s != NULL)
		*s = *h;
}

/* The DEK (and intermediate key) the configured key unwrapped, into the
 * plaintext check's windows; wiped at once. */
void
eng_track_keys(struct worker *w, const struct atr_header *h, size_t wk,
    size_t ws)
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
		/* IK wraps dek | digest with KWP (docs/FORMAT.md
		 * section 4). */
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

size_t
eng_shingle_plan(uint64_t plen, uint32_t fs, uint64_t nframes,
    unsigned k, struct splan *out)
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

void
eng_take_shingles(struct worker *w, const struct splan *plan, size_t n,
    size_t *si, uint64_t frame, const uint8_t *pt)
{
	for (; *si < n && plan[*si].frame == frame; (*si)++)
		if (vfy_window_diverse(pt + plan[*si].off)) {
			push_dyn(w, VFY_PAT_SHINGLE, pt + plan[*si].off);
			w->stats[VS_P_SHINGLES]++;
		}
}
