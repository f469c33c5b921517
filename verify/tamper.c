/*
 * tamper.c - the tamper check: what an attacker with write access to
 * the store could do must be refused by the decryptor.  A copy of the
 * header with one bit flipped in each field, and, in memory with the
 * decryptor the object was opened with, frames with a flipped
 * ciphertext or tag bit, moved, truncated, cut short or extended
 * (docs/FORMAT.md section 5 says why each fails).  Nothing is written
 * to the store.
 */
#include <string.h>

#include "crypto.h"
#include "vfy_engine.h"

void
eng_tamper_header(struct worker *w, const struct job *j,
    const struct atr_header *h, size_t ws, size_t nkeys)
{
	struct engine *E = w->E;
	uint8_t buf[ATR_HEADER_MAX];
	size_t offs[5], nm = 0, i, off = ATR_CORE_BYTES + 2, s;
	static const char *const names[5] = {"object id", "nonce prefix",
	    "key commitment", "wrapped key", "header MAC"};
	const char *nm_of[5];

	/* Field offsets of docs/FORMAT.md sections 1 and 2. */
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
		if (e == ATR_ERR_UNAUTHORIZED) {
			/* The key service refused the credential: that is
			 * no rejection of the flipped bit. */
			eng_halt(E);
			break;
		}
		atr_detail_clear();
		if (e == ATR_OK) {
			w->stats[VS_T_ACCEPTED]++;
			eng_add(w, VFY_ERROR, j->store, j->rel,
			    (int64_t)offs[i], "tamper.accepted",
			    "a flipped bit in the %s was accepted by the "
			    "decryptor", nm_of[i]);
			E->dec->dec_free(d);
		} else {
			w->stats[VS_T_REJECTED]++;
		}
	}
	atr_memzero(buf, sizeof(buf));
}

void
eng_tamper_accepted(struct worker *w, const struct job *j, uint64_t frame,
    const char *what)
{
	w->stats[VS_T_ACCEPTED]++;
	eng_add(w, VFY_ERROR, j->store, j->rel, -1, "tamper.accepted",
	    "frame %llu: %s was accepted by the decryptor",
	    (unsigned long long)frame, what);
}

/* A mutation through the worker's own open decryptor. */
struct seq_try {
	struct worker *w;
	const struct job *j;
	struct atr_dec *d;
};

static void
seq_mutate(void *arg, uint64_t index, int final, const uint8_t *in,
    size_t len, uint64_t frame, const char *what)
{
	struct seq_try *t = arg;
	struct worker *w = t->w;
	enum atr_err e;

	w->stats[VS_T_MUTATIONS]++;
	e = w->E->dec->dec_frame(t->d, index, final, in, len, w->pt);
	atr_detail_clear();
	if (e == ATR_OK)
		eng_tamper_accepted(w, t->j, frame, what);
	else
		w->stats[VS_T_REJECTED]++;
}

void
eng_tamper_frame(struct worker *w, const struct job *j, struct atr_dec *d,
    uint64_t i, uint64_t nframes, uint8_t *fr, size_t len)
{
	struct seq_try t = {w, j, d};

	eng_tamper_frame_each(i, nframes, fr, len, seq_mutate, &t);
}

void
eng_tamper_frame_each(uint64_t i, uint64_t nframes, uint8_t *fr, size_t len,
    eng_mutate_fn mutate, void *arg)
{
	int final = i + 1 == nframes;

	if (i == 0 && len > ATR_GCM_TAGBYTES) {
		fr[0] ^= 0x01;
		mutate(arg, 0, final, fr, len, 0, "a flipped ciphertext bit");
		fr[0] ^= 0x01;
	}
	if (i == 1)
		mutate(arg, 0, 0, fr, len, 1,
		    "frame 1 moved to index 0 (reordering)");
	if (nframes >= 2 && i == nframes - 2)
		mutate(arg, i, 1, fr, len, i,
		    "truncation after this frame (opened as the final frame)");
	if (!final)
		return;
	fr[len - 1] ^= 0x80;
	mutate(arg, i, 1, fr, len, i, "a flipped tag bit");
	fr[len - 1] ^= 0x80;
	if (i + 1 < ATR_MAX_FRAMES)
		mutate(arg, i + 1, 1, fr, len, i,
		    "the final frame moved one index on (a dropped or "
		    "duplicated frame)");
	if (len > ATR_GCM_TAGBYTES)
		mutate(arg, i, 1, fr, len - 1, i,
		    "the final frame cut by one byte");
	mutate(arg, i, 0, fr, len, i,
	    "bytes appended (the final frame opened as a middle frame)");
}
