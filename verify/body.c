/*
 * body.c - every check of one file, in the order a worker runs them.
 *
 * A file that is not an envelope is scanned whole.  An envelope's header
 * goes to header.c; then the configured keys open it (decrypt check),
 * every frame is read once - scanned when the policy says so, fed to the
 * byte statistics, decrypted, hashed for the manifest, sampled for
 * shingles and mutated in memory (tamper.c) - and the control keys try
 * it (negative.c).  An object that does not open, or a frame that does
 * not authenticate, is not proven ciphertext: from there on every byte
 * is scanned.  What the end phase needs is queued on the worker.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto.h"
#include "fsutil.h"
#include "stream.h"
#include "vfy_engine.h"
#include "walk.h"

/* One envelope being checked: what its steps share. */
struct obj {
	struct worker *w;
	const struct job *j;
	const struct atr_header *h;   /* w->h */
	int fd;
	uint64_t size;                /* of the file */
	size_t got;                   /* bytes of it read into w->hbuf */
	size_t spos;                  /* first byte of w->hbuf not used */
	struct vfy_scanner *sc;
	struct hitagg *ha;
	struct atr_dec *d;            /* the open decryptor, or NULL */
	size_t wk, ws;                /* configured key, stanza that opened */
	uint64_t body, nframes, plen, stepf;
	uint32_t fs;                  /* frame size */
	size_t rec;                   /* frame size with its tag */
	long me;                      /* manifest entry, or -1 */
	int scanning;                 /* the body is fed to the scanner */
	int hashing;                  /* plaintext SHA-256 for the manifest */
};

/* Reads the next len bytes of the body: from the bytes read with the
 * header first, then from the file. */
static int
next_bytes(struct worker *w, int fd, size_t *spos, size_t slen, size_t len,
    uint8_t **out)
{
	size_t have = slen - *spos, got = 0;

	if (have >= len) {
		*out = w->hbuf + *spos;
		*spos += len;
		return 0;
	}
	if (have)
		memcpy(w->rb, w->hbuf + *spos, have);
	*spos = slen;
	if (atr_read_full(fd, w->rb + have, len - have, &got) != ATR_OK ||
	    got != len - have)
		return -1;
	*out = w->rb;
	return 0;
}

/* The manifest entry of j's path (marked as found), or -1. */
static long
manifest_entry(struct worker *w, const struct job *j)
{
	const struct vfy_config *c = w->E->c;
	long me = c->manifest ? vfy_manifest_find(c->manifest, j->rel) : -1;

	if (me >= 0)
		atomic_store(&w->E->mseen[me], 1);
	return me;
}

/* A listed file whose plaintext could not be compared: why says so. */
static void
unverified(struct worker *w, const struct job *j, long me, const char *why)
{
	if (me >= 0)
		eng_add(w, VFY_ERROR, j->store, j->rel, -1,
		    "decrypt.unverified", "listed in the manifest but %s", why);
}

/* Appends an object record (rel copied) for the uniqueness check. */
static void
record_object(struct worker *w, const struct job *j, struct vfy_obj *ob)
{
	ob->rel = strdup(j->rel);
	if (ob->rel == NULL || vfy_objvec_push(&w->objs, ob) != 0) {
		free(ob->rel);
		eng_incomplete(w, "out of memory");
	}
}

/* The frame layout of the body, and buffers for one frame; -1 when the
 * body cannot be read as frames (a finding made) or out of memory. */
static int
body_layout(struct obj *o)
{
	struct worker *w = o->w;
	const struct vfy_policy *p = w->E->p;
	const struct atr_header *h = o->h;

	if (atr_body_frames(o->body, o->fs, &o->nframes) != ATR_OK) {
		eng_add(w, VFY_ERROR, o->j->store, o->j->rel, (int64_t)h->len,
		    "envelope.bad-body", "%s", atr_detail());
		atr_detail_clear();
		w->stats[VS_MALFORMED]++;
		unverified(w, o->j, o->me, "its body is malformed");
		return -1;
	}
	if (eng_frame_bufs(w, o->fs) != 0) {
		eng_incomplete(w, "out of memory");
		return -1;
	}
	o->plen = o->body - o->nframes * ATR_GCM_TAGBYTES;
	if (p->stat_max_bytes > 0 && o->body > p->stat_max_bytes)
		o->stepf = (o->body + p->stat_max_bytes - 1) /
		    p->stat_max_bytes;
	return 0;
}

/* The configured keys, through the worker's capture wrappers, open the
 * object; 0 when open, else -1 after the findings and the control keys'
 * attempt, or -2 when the key service refused the credential: a token
 * that can no longer be had fails every later object the same way, so
 * the run stops there (eng_halt) with one reason instead of a finding
 * per object (issue 12: "reported once"). */
static int
open_with_keys(struct obj *o)
{
	struct worker *w = o->w;
	struct engine *E = w->E;
	const struct vfy_config *c = E->c;
	const struct job *j = o->j;
	const struct atr_header *h = o->h;
	int cacheable = 0;
	enum atr_err e;
	size_t k;

	for (k = 0; k < h->nstanzas; k++)
		if (h->st[k].kind != ATR_KIND_DIRECT)
			cacheable = 1;
	for (k = 0; k < c->nkeys; k++)
		vfy_wkey_set_cacheable(w->ww[k], cacheable);
	w->stats[VS_D_ATTEMPTED]++;
	e = E->dec->dec_new(h, w->wk, c->nkeys, NULL, &o->d, &o->wk, &o->ws);
	if (e == ATR_OK)
		return 0;
	if (e == ATR_ERR_NOKEY) {
		w->stats[VS_D_NO_KEY]++;
		eng_add(w, VFY_ERROR, j->store, j->rel, -1, "decrypt.no-key",
		    "none of the configured keys can open it");
	} else if (e == ATR_ERR_AUTH) {
		w->stats[VS_D_AUTH_FAILED]++;
		eng_add(w, VFY_ERROR, j->store, j->rel, -1,
		    "decrypt.auth-failed",
		    "the key unwrap or the header failed authentication");
	} else if (e == ATR_ERR_UNAUTHORIZED) {
		eng_halt(E);
		return -2;
	} else {
		w->stats[VS_D_SERVICE]++;
		eng_add(w, VFY_ERROR, j->store, j->rel, -1,
		    "decrypt.key-service", "%s%s%s", atr_strerror(e),
		    *atr_detail() ? ": " : "", atr_detail());
		eng_incomplete(w, "the key service failed");
	}
	atr_detail_clear();
	unverified(w, j, o->me, "could not be decrypted");
	for (k = 0; k < c->nkeys; k++)
		vfy_wkey_forget(w->ww[k]);
	eng_negative(w, j, h);
	return -1;
}

/* What opening tells: coverage, the object record (ids, keyed DEK
 * fingerprint), the unwrapped keys, a drill candidate; starts the
 * plaintext digest when the manifest has one. */
static void
record_opened(struct obj *o, struct vfy_obj *ob)
{
	struct worker *w = o->w;
	struct engine *E = w->E;
	const struct vfy_config *c = E->c;
	const struct atr_stanza *st = &o->h->st[o->ws];
	struct vfy_cov *cv;
	uint8_t fp[32];

	w->stats[VS_D_OPENED]++;
	cv = vfy_covmap_get(&w->cov, st->key_id);
	if (cv != NULL)
		cv->opened++;
	memset(ob, 0, sizeof(*ob));
	ob->store = o->j->store;
	ob->kind = st->kind;
	memcpy(ob->oid, o->h->object_id, sizeof(ob->oid));
	memcpy(ob->nonce, o->h->nonce_prefix, sizeof(ob->nonce));
	if (st->kind != ATR_KIND_DIRECT)
		memcpy(ob->share, st->share_id, sizeof(ob->share));
	if (atr_dec_dek_fingerprint(o->d, E->fkey, E->fkey_len, fp) ==
	    ATR_OK) {
		memcpy(ob->fp, fp, sizeof(ob->fp));
		ob->has_fp = 1;
	}
	atr_memzero(fp, sizeof(fp));
	ob->frames = o->nframes;
	eng_track_keys(w, o->h, o->wk, o->ws);
	if (c->revocation_drill &&
	    c->keys[o->wk]->provider == ATR_PROV_AZURE_KV)
		eng_push_cand(w, o->j->path, o->j->rel, o->j->store,
		    st->key_id);
	if (o->me >= 0 &&
	    vfy_manifest_entry(c->manifest, (size_t)o->me)->has_sha)
		o->hashing = EVP_DigestInit_ex(w->md, w->sha, NULL) == 1;
}

/* Frame i (fr, len bytes) failed authentication: from there on the file
 * is not proven ciphertext, so the rest of it is scanned. */
static void
frame_failed(struct obj *o, uint64_t i, const uint8_t *fr, size_t len)
{
	struct worker *w = o->w;
	const struct job *j = o->j;
	uint64_t at = o->h->len + i * o->rec;

	w->stats[VS_D_AUTH_FAILED]++;
	eng_add(w, VFY_ERROR, j->store, j->rel, (int64_t)at,
	    "decrypt.auth-failed", "frame %llu of %llu failed authentication",
	    (unsigned long long)i, (unsigned long long)o->nframes);
	atr_detail_clear();
	if (!o->scanning) {
		vfy_scan_end(o->sc);
		vfy_scan_begin(o->sc, w->E->stat, at, eng_on_hit, o->ha);
		vfy_scan_feed(o->sc, fr, len);
	}
	if (o->spos < o->got) {
		vfy_scan_feed(o->sc, w->hbuf + o->spos, o->got - o->spos);
		vfy_hist_add(&w->hist, w->hbuf + o->spos, o->got - o->spos);
		eng_scan_rest(w, o->fd, o->sc, o->got, o->size, j);
	} else {
		eng_scan_rest(w, o->fd, o->sc, at + len, o->size, j);
	}
}

/*
 * Whether the frames may be checked by several workers (split.c): more
 * than one batch of them (core/stream.h) and other workers to help, the
 * library's decryptor (whose framers open frames on other threads), and
 * nothing that needs the bytes in order - no SHA-256 for the manifest,
 * no canary to search the ciphertext for (the store-wide keys and
 * shingles are searched in the end phase, not here).
 */
static int
splittable(const struct obj *o)
{
	const struct engine *E = o->w->E;

	return E->nw > 1 && E->dec == vfy_lib_decryptor() && !o->hashing &&
	    (!o->scanning || vfy_pset_size(E->stat) == 0) &&
	    o->body > (uint64_t)atr_batch_frames(o->fs) * o->rec;
}

/* Reads every frame once: scanned (per policy), statistics, decrypted,
 * hashed, sampled for shingles, mutated (tamper).  1 when every frame
 * authenticated. */
static int
decrypt_frames(struct obj *o)
{
	struct worker *w = o->w;
	struct engine *E = w->E;
	const struct job *j = o->j;
	struct splan plan[MAX_SHINGLES];
	size_t ns, si = 0;
	uint64_t i;

	ns = eng_shingle_plan(o->plen, o->fs, o->nframes,
	    E->p->shingles_per_object, plan);
	w->stats[VS_T_OBJECTS]++;
	if (splittable(o) && eng_split_frames(w, j, o->fd, o->h->len,
	    o->body, o->nframes, o->fs, o->stepf, plan, ns, o->d)) {
		/* Nothing to find in the scan (splittable): only counted. */
		if (o->scanning)
			vfy_scan_skip(o->sc, o->body);
		return 1;
	}
	for (i = 0; i < o->nframes; i++) {
		int final = i + 1 == o->nframes;
		size_t len = final ? (size_t)(o->body - i * o->rec) : o->rec;
		uint8_t *fr;

		if (next_bytes(w, o->fd, &o->spos, o->got, len, &fr) != 0) {
			eng_add(w, VFY_ERROR, j->store, j->rel,
			    (int64_t)(o->h->len + i * o->rec),
			    "envelope.unreadable",
			    "read failed or file shrank");
			eng_incomplete(w, "a file could not be read");
			return 0;
		}
		if (o->scanning)
			vfy_scan_feed(o->sc, fr, len);
		if (i % o->stepf == 0)
			vfy_hist_add(&w->hist, fr, len);
		if (E->dec->dec_frame(o->d, i, final, fr, len, w->pt) !=
		    ATR_OK) {
			frame_failed(o, i, fr, len);
			return 0;
		}
		w->stats[VS_D_FRAMES]++;
		w->stats[VS_D_PLAIN_BYTES] += (int64_t)(len - ATR_GCM_TAGBYTES);
		if (o->hashing && EVP_DigestUpdate(w->md, w->pt,
		    len - ATR_GCM_TAGBYTES) != 1)
			o->hashing = 0;
		eng_take_shingles(w, plan, ns, &si, i, w->pt);
		/* Active tamper, in memory, with the same open decryptor. */
		eng_tamper_frame(w, j, o->d, i, o->nframes, fr, len);
	}
	return 1;
}

/* The decrypted plaintext against its manifest entry: size, SHA-256. */
static void
compare_manifest(struct obj *o, int ok_all)
{
	struct worker *w = o->w;
	const struct job *j = o->j;
	const struct vfy_mentry *m;
	unsigned char md[32];
	unsigned mdlen = 0;

	if (o->me < 0)
		return;
	m = vfy_manifest_entry(w->E->c->manifest, (size_t)o->me);
	if (o->hashing && EVP_DigestFinal_ex(w->md, md, &mdlen) != 1)
		o->hashing = 0;
	if (!ok_all) {
		unverified(w, j, o->me, "did not decrypt");
	} else if (m->has_size && m->size != o->plen) {
		w->stats[VS_D_MAN_MISMATCH]++;
		eng_add(w, VFY_ERROR, j->store, j->rel, -1,
		    "decrypt.size-mismatch",
		    "plaintext is %llu bytes; the manifest says %llu",
		    (unsigned long long)o->plen, (unsigned long long)m->size);
	} else if (m->has_sha && (!o->hashing || mdlen != 32 ||
	    memcmp(md, m->sha256, 32) != 0)) {
		w->stats[VS_D_MAN_MISMATCH]++;
		eng_add(w, VFY_ERROR, j->store, j->rel, -1,
		    "decrypt.digest-mismatch",
		    "plaintext SHA-256 differs from the manifest");
	} else {
		w->stats[VS_D_MAN_VERIFIED]++;
	}
}

/* The object opened: every frame, then what needs the whole object. */
static void
check_opened(struct obj *o)
{
	struct worker *w = o->w;
	struct engine *E = w->E;
	const struct vfy_policy *p = E->p;
	const struct job *j = o->j;
	struct vfy_obj ob;
	int proven;

	record_opened(o, &ob);
	proven = decrypt_frames(o);
	if (proven && p->tamper_header_sample &&
	    eng_sampled("tamper", j->rel, p->tamper_header_sample))
		eng_tamper_header(w, j, o->h, o->ws, E->c->nkeys);
	compare_manifest(o, proven);
	record_object(w, j, &ob);
	eng_negative(w, j, o->h);
	E->dec->dec_free(o->d);
	o->d = NULL;
	eng_judge_stats(w, j, proven);
	/* The header is not ciphertext: rescanned once every key and
	 * shingle of the store is known. */
	if (proven) {
		w->stats[VS_D_PROVEN]++;
		eng_push_header(w, j->path, j->rel, j->store, o->h->raw,
		    o->h->len);
	} else
		eng_push_rescan(w, j->path, j->rel, j->store, o->size);
}

/* The object did not open: its body is not proven ciphertext. */
static void
check_unopened(struct obj *o)
{
	struct worker *w = o->w;
	struct engine *E = w->E;
	const struct job *j = o->j;
	struct vfy_obj ob;

	if (o->d != NULL)
		E->dec->dec_free(o->d);
	o->d = NULL;
	/* Object id and nonce prefix are public: their uniqueness is
	 * checked for objects that did not open too (no DEK to compare). */
	memset(&ob, 0, sizeof(ob));
	ob.store = j->store;
	ob.kind = 0xff;
	memcpy(ob.oid, o->h->object_id, sizeof(ob.oid));
	memcpy(ob.nonce, o->h->nonce_prefix, sizeof(ob.nonce));
	ob.frames = o->nframes;
	record_object(w, j, &ob);
	if (!o->scanning) {
		vfy_scan_end(o->sc);
		vfy_scan_begin(o->sc, E->stat, o->h->len, eng_on_hit, o->ha);
	}
	if (o->spos < o->got) {
		vfy_scan_feed(o->sc, w->hbuf + o->spos, o->got - o->spos);
		vfy_hist_add(&w->hist, w->hbuf + o->spos, o->got - o->spos);
	}
	eng_scan_rest(w, o->fd, o->sc, o->got, o->size, j);
	eng_judge_stats(w, j, 0);
	eng_push_rescan(w, j->path, j->rel, j->store, o->size);
}

/* An envelope whose header parsed into w->h; got bytes are in w->hbuf,
 * fd is after them. */
static void
check_envelope(struct worker *w, const struct job *j, int fd, uint64_t size,
    size_t got, struct vfy_scanner *sc, struct hitagg *ha)
{
	struct obj o;

	memset(&o, 0, sizeof(o));
	o.w = w;
	o.j = j;
	o.h = w->h;
	o.fd = fd;
	o.size = size;
	o.got = got;
	o.spos = w->h->len;
	o.sc = sc;
	o.ha = ha;
	o.body = size - w->h->len;
	o.fs = w->h->frame_size;
	o.rec = (size_t)o.fs + ATR_GCM_TAGBYTES;
	o.stepf = 1;
	w->stats[VS_ENVELOPES]++;
	eng_header_checks(w, j, o.h);
	o.me = manifest_entry(w, j);
	if (w->E->c->manifest != NULL && o.me < 0) {
		w->stats[VS_D_UNLISTED]++;
		eng_add(w, VFY_WARN, j->store, j->rel, -1, "decrypt.unlisted",
		    "the object is not listed in the manifest");
	}
	/* scan the header always; the body per policy */
	vfy_scan_feed(sc, w->hbuf, o.h->len);
	o.scanning = w->E->p->scan_all;
	if (body_layout(&o) == 0) {
		if (w->E->drill_only) {
			/* The caller disabled the key: nothing may open. */
			eng_drill_object(w, j, o.h);
		} else {
			int opened = open_with_keys(&o);

			if (opened == 0) {
				check_opened(&o);
				return;
			}
			if (opened == -2)
				return;
		}
	}
	check_unopened(&o);
}

/* A file that is not an envelope (or a malformed one): all of it is
 * scanned. */
static void
check_not_envelope(struct worker *w, const struct job *j, int fd,
    uint64_t size, size_t got, struct vfy_scanner *sc)
{
	if (got >= ATR_MAGIC_BYTES &&
	    memcmp(w->hbuf, ATR_MAGIC, ATR_MAGIC_BYTES) == 0) {
		w->stats[VS_MALFORMED]++;
		eng_add(w, VFY_ERROR, j->store, j->rel, -1,
		    "envelope.malformed", "%s", atr_detail());
	} else {
		w->stats[VS_NOT_ENVELOPE]++;
		eng_add(w, VFY_ERROR, j->store, j->rel, -1,
		    "envelope.not-envelope",
		    "not an atrest envelope: %llu bytes stored unencrypted",
		    (unsigned long long)size);
	}
	atr_detail_clear();
	unverified(w, j, manifest_entry(w, j), "not stored as an envelope");
	vfy_scan_feed(sc, w->hbuf, got);
	vfy_hist_add(&w->hist, w->hbuf, got);
	eng_scan_rest(w, fd, sc, got, size, j);
	eng_judge_stats(w, j, 0);
	eng_push_rescan(w, j->path, j->rel, j->store, size);
}

static void
check_file(struct worker *w, const struct job *j)
{
	struct vfy_scanner sc;
	struct hitagg ha;
	struct stat st;
	const char *why = "";
	size_t want, got = 0;
	uint64_t size;
	int fd;

	fd = eng_open_object(j->path, &why);
	if (fd < 0 || fstat(fd, &st) != 0) {
		eng_add(w, VFY_ERROR, j->store, j->rel, -1,
		    "envelope.unreadable",
		    "cannot open: %s", fd < 0 ? why : strerror(errno));
		eng_incomplete(w, "a file could not be read");
		if (fd >= 0)
			close(fd);
		return;
	}
	size = (uint64_t)st.st_size;
	w->stats[VS_FILES]++;
	w->stats[VS_BYTES] += (int64_t)size;
#ifdef POSIX_FADV_SEQUENTIAL
	/* Read-ahead matters for large objects only; a syscall per small
	 * file costs more than it saves. */
	if (size > 4 * (uint64_t)CHUNK)
		(void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
#endif
	memset(&ha, 0, sizeof(ha));
	vfy_hist_reset(&w->hist);
	vfy_scan_begin(&sc, w->E->stat, 0, eng_on_hit, &ha);
	if (size == 0) {
		w->stats[VS_EMPTY]++;
		eng_add(w, VFY_WARN, j->store, j->rel, -1,
		    "envelope.empty-file",
		    "an empty file is not an envelope (it holds no data)");
		unverified(w, j, manifest_entry(w, j),
		    "the stored file is empty");
		close(fd);
		return;
	}
	want = size < ATR_HEADER_MAX ? (size_t)size : ATR_HEADER_MAX;
	if (atr_read_full(fd, w->hbuf, want, &got) != ATR_OK || got != want) {
		eng_add(w, VFY_ERROR, j->store, j->rel, -1,
		    "envelope.unreadable", "read failed or file shrank");
		eng_incomplete(w, "a file could not be read");
		close(fd);
		return;
	}
	if (atr_header_parse(w->hbuf, got, w->h) == ATR_OK)
		check_envelope(w, j, fd, size, got, &sc, &ha);
	else
		check_not_envelope(w, j, fd, size, got, &sc);
	vfy_scan_end(&sc);
	w->stats[VS_P_SCANNED] += (int64_t)sc.scanned;
	eng_report_hits(w, j, &ha);
	close(fd);
	atomic_fetch_add(&w->E->bytes, size);
}

void
eng_process_job(struct worker *w, const struct job *j)
{
	switch (j->type) {
	case ATR_WALK_SYMLINK:
		w->stats[VS_SYMLINKS]++;
		eng_add(w, VFY_WARN, j->store, j->rel, -1, "envelope.symlink",
		    "a symbolic link (not followed): what it points to is not "
		    "verified");
		break;
	case ATR_WALK_OTHER:
		w->stats[VS_SPECIAL]++;
		eng_add(w, VFY_WARN, j->store, j->rel, -1,
		    "envelope.special-file",
		    "a FIFO, socket or device in the store (not read)");
		break;
	default:
		check_file(w, j);
		break;
	}
}
