/*
 * worker.c - a worker's state, and what every stage adds to it: its
 * findings and counters, the reason a run is incomplete, the list of
 * what the end phase must search again (whole files, or headers kept in
 * the worker's spill file) and the revocation drill candidates.
 * Nothing here is shared between workers: each is merged into the
 * report once the pass is over (engine.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto.h"
#include "fsutil.h"
#include "vfy_engine.h"

void
eng_worker_free(struct worker *w)
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
	free(w->sbuf);
	free(w->h);
	free(w->h2);
	atr_memzero(&w->hist, sizeof(w->hist));
	EVP_MD_CTX_free(w->md);
	EVP_MD_free(w->sha);
	if (w->spill_fd >= 0)
		close(w->spill_fd);
	free(w->spill_buf);
}

enum atr_err
eng_worker_init(struct engine *E, struct worker *w)
{
	size_t i;

	memset(w, 0, sizeof(*w));
	w->E = E;
	w->spill_fd = -1;
	for (i = 0; i < VFY_NCHECKS; i++)
		vfy_flist_init(&w->f[i], E->p->max_findings);
	for (i = 0; i < E->c->nkeys; i++) {
		w->wk[i] = vfy_wkey_new(E->c->keys[i], &w->ww[i]);
		if (w->wk[i] == NULL)
			return ATR_ERR_NOMEM;
		if (E->c->cache_ttl > 0)
			vfy_wkey_set_ttl(w->ww[i],
			    (uint64_t)(E->c->cache_ttl * 1e9));
	}
	w->hbuf = malloc(ATR_HEADER_MAX);
	w->chunk = malloc(CHUNK);
	w->h = malloc(sizeof(*w->h));
	w->h2 = malloc(sizeof(*w->h2));
	w->md = EVP_MD_CTX_new();
	w->sha = EVP_MD_fetch(NULL, "SHA256", NULL);
	w->spill_buf = malloc(SPILL_BUF);
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

void
eng_add(struct worker *w, int sev, int store, const char *subject,
    int64_t offset, const char *code, const char *fmt, ...)
{
	struct vfy_finding f;
	va_list ap;
	int c;

	if (sev < 0)
		return;
	va_start(ap, fmt);
	c = vfy_finding_vmake(&f, sev, store, subject, offset, code, fmt, ap);
	va_end(ap);
	if (c >= 0)
		vfy_flist_add(&w->f[c], &f);
}

void
eng_incomplete(struct worker *w, const char *why)
{
	if (!w->incomplete)
		snprintf(w->why, sizeof(w->why), "%s", why);
	w->incomplete = 1;
}

void
eng_halt(struct engine *E)
{
	const char *why = atr_detail();
	int zero = 0;

	if (atomic_compare_exchange_strong(&E->halted, &zero, 1))
		snprintf(E->halt_why, sizeof(E->halt_why), "%s",
		    *why ? why : "the key service refused the credential");
	atr_detail_clear();
}

int
eng_halted(struct engine *E)
{
	return atomic_load(&E->halted) != 0;
}

/*
 * Opens a store object the walk listed.  Between the listing and this
 * open, or a later reopen, another user may have put a FIFO in its
 * place: O_NONBLOCK keeps that from hanging a worker and the type is
 * checked on the descriptor itself.  -1 with *why on failure.
 */
int
eng_open_object(const char *path, const char **why)
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

int
eng_sampled(const char *salt, const char *rel, unsigned rate)
{
	if (rate == 0)
		return 0;
	if (rate == 1)
		return 1;
	return vfy_path_hash(salt, rel) % rate == 0;
}

static struct rescan *
new_rescan(struct worker *w, const char *rel, int store, uint64_t len)
{
	struct rescan *r;

	if (w->nrs == w->caprs) {
		size_t nc = w->caprs ? w->caprs * 2 : 64;
		struct rescan *nv = realloc(w->rs, nc * sizeof(*nv));

		if (nv == NULL) {
			eng_incomplete(w, "out of memory");
			return NULL;
		}
		w->rs = nv;
		w->caprs = nc;
	}
	r = &w->rs[w->nrs];
	memset(r, 0, sizeof(*r));
	r->rel = strdup(rel);
	r->store = store;
	r->len = len;
	if (r->rel == NULL) {
		eng_incomplete(w, "out of memory");
		return NULL;
	}
	w->nrs++;
	return r;
}

void
eng_push_rescan(struct worker *w, const char *path, const char *rel,
    int store, uint64_t len)
{
	struct rescan *r;

	if (len == 0 || (r = new_rescan(w, rel, store, len)) == NULL)
		return;
	r->path = strdup(path);
	if (r->path == NULL) {
		free(r->rel);
		w->nrs--;
		eng_incomplete(w, "out of memory");
	}
}

int
eng_spill_flush(struct worker *w)
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
void
eng_push_header(struct worker *w, const char *path, const char *rel,
    int store, const uint8_t *hdr, size_t len)
{
	struct rescan *r;

	if (w->spill_fd < 0 || (w->spill_n + len > SPILL_BUF &&
	    eng_spill_flush(w) != 0)) {
		eng_push_rescan(w, path, rel, store, len);
		return;
	}
	if ((r = new_rescan(w, rel, store, len)) == NULL)
		return;
	r->spill_off = w->spill_len;
	memcpy(w->spill_buf + w->spill_n, hdr, len);
	w->spill_n += len;
	w->spill_len += len;
}

/* Keeps every candidate: the drill tries them all, or samples them
 * (negative.c). */
void
eng_push_cand(struct worker *w, const char *path, const char *rel,
    int store, const char *kid)
{
	struct cand *c;

	if (w->ncand == w->capcand) {
		size_t cap = w->capcand ? 2 * w->capcand : 64;

		c = realloc(w->cand, cap * sizeof(*c));
		if (c == NULL) {
			eng_incomplete(w, "out of memory for drill candidates");
			return;
		}
		w->cand = c;
		w->capcand = cap;
	}
	c = &w->cand[w->ncand];
	c->store = store;
	c->rel = strdup(rel);
	c->path = strdup(path);
	c->kid = strdup(kid);
	if (c->rel == NULL || c->path == NULL || c->kid == NULL) {
		free(c->rel);
		free(c->path);
		free(c->kid);
		eng_incomplete(w, "out of memory for drill candidates");
		return;
	}
	w->ncand++;
}
