/*
 * rescan.c - the end phase's search.  Unwrapped keys and shingles are
 * known only once every object was opened, so what is not proven
 * ciphertext (headers of proven objects, kept in each worker's spill
 * file, and whole unproven files) is searched again for them, each
 * worker over its own list.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fsutil.h"
#include "vfy_engine.h"
#include "walk.h"

static void
rescan_bytes(struct worker *w, const struct rescan *r, const uint8_t *p,
    size_t n, struct vfy_scanner *sc)
{
	(void)r;
	vfy_scan_feed(sc, p, n);
	w->stats[VS_P_RESCANNED] += (int64_t)n;
}

/* One entry: seg holds its bytes (a spilled header), or is NULL and
 * the file is read again. */
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
	vfy_scan_begin(&sc, w->E->dyn, 0, eng_on_hit, &ha);
	if (seg != NULL) {
		rescan_bytes(w, r, seg, (size_t)r->len, &sc);
	} else {
		fd = eng_open_object(r->path, &why);
		if (fd < 0) {
			eng_add(w, VFY_ERROR, r->store, r->rel, -1,
			    "envelope.unreadable", "cannot reopen: %s", why);
			eng_incomplete(w, "a file could not be read");
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
	eng_report_hits(w, &j, &ha);
	atomic_fetch_add(&w->E->done, 1);
}

/*
 * A worker's rescan list, in order.  Spilled headers are read back
 * through a window of their own: whole files are read into w->chunk in
 * between, and a window kept there would be overwritten by them (the
 * next header would then be searched in another file's bytes).
 */
static void *
rescan_main(void *arg)
{
	struct worker *w = arg;
	uint8_t *win = malloc(CHUNK);
	uint64_t pos = 0;     /* spill offset of win[0] */
	size_t have = 0, i;
	int spill_ok = win != NULL && w->spill_fd >= 0 &&
	    eng_spill_flush(w) == 0 && lseek(w->spill_fd, 0, SEEK_SET) == 0;

	for (i = 0; i < w->nrs; i++) {
		const struct rescan *r = &w->rs[i];

		if (r->path != NULL) {
			rescan_one(w, r, NULL);
			continue;
		}
		if (!spill_ok) {
			eng_add(w, VFY_ERROR, r->store, r->rel, -1,
			    "envelope.unreadable",
			    "the header copy for the end phase was lost");
			eng_incomplete(w, "the spill file could not be read");
			continue;
		}
		/* Segments were appended in order and are shorter than the
		 * chunk: slide the window forward until this one fits. */
		while (r->spill_off + r->len > pos + have) {
			size_t got = 0, drop = (size_t)(r->spill_off - pos);

			if (drop > have)
				drop = have;
			memmove(win, win + drop, have - drop);
			have -= drop;
			pos += drop;
			if (atr_read_full(w->spill_fd, win + have, CHUNK - have,
			    &got) != ATR_OK || got == 0) {
				spill_ok = 0;
				break;
			}
			have += got;
		}
		if (!spill_ok) {
			i--;
			continue;
		}
		rescan_one(w, r, win + (r->spill_off - pos));
	}
	free(win);
	return NULL;
}

enum atr_err
eng_rescan(struct engine *E)
{
	size_t i, total_rs = 0, total_dyn = 0;
	enum atr_err err = ATR_OK;
	unsigned char joined[64];

	for (i = 0; i < E->nw; i++) {
		total_rs += E->w[i].nrs;
		total_dyn += E->w[i].ndyn;
	}
	for (i = 0; i < E->nw; i++)
		if (vfy_pset_add_hashes(E->dyn, E->w[i].dyn, E->w[i].ndyn) != 0)
			err = ATR_ERR_NOMEM;
	if (err != ATR_OK || vfy_pset_build(E->dyn) != 0)
		return ATR_ERR_NOMEM;
	if (total_dyn == 0 || total_rs == 0)
		return ATR_OK;
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
	eng_progress(E, 1, 1);
	return ATR_OK;
}
