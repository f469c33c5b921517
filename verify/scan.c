/*
 * scan.c - searching a store's bytes for what must not be there.
 *
 * Patterns are canaries (exact bytes from the manifest) and 32-byte
 * windows (shingles of decrypted plaintext, unwrapped DEKs and
 * intermediate keys).  Windows are kept only as hashes: the set never
 * holds a key or plaintext, and a report names a file and an offset,
 * never what matched.
 *
 * Every byte position is tested against a bit filter indexed by a hash
 * of the 8 bytes starting there (one multiply, one load): a position that
 * misses costs a few instructions, so the scan keeps up with AES-GCM.  A
 * hit is confirmed against the sorted lists (full 64-bit prefix hash),
 * then by comparing the canary bytes or a keyed SHA-256 of the window.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "fsutil.h"
#include "vfy_int.h"

#define MULK 0x9E3779B97F4A7C15ULL

struct exact {
	uint64_t h;
	uint32_t pat;
	uint32_t k;     /* the 8 bytes hashed start k bytes into the pattern */
};

struct pat {
	uint8_t *b;
	uint16_t len;
	uint32_t id;
};

struct vfy_pset {
	uint64_t seed;
	uint8_t ckey[32];       /* key of the window confirmation hash */
	struct exact *ex;
	size_t nex, capex;
	struct pat *pats;
	size_t npats, cappats;
	struct vfy_winhash *kw;
	size_t nkw, capkw;
	uint64_t *bm;
	size_t words;
	unsigned shift;
	size_t maxlen;
	size_t minlen;   /* shortest canary */
	unsigned stride; /* probe every stride-th position */
	int built;
};

static uint64_t
load64(const uint8_t *p)
{
	uint64_t w;

	memcpy(&w, p, 8);
	return w;
}

static uint64_t
hash8(uint64_t seed, const uint8_t *p)
{
	/* A bijection of the 8 bytes for a given seed: equal hashes mean
	 * equal prefixes, so the sorted lists need no byte copies. */
	return (load64(p) ^ seed) * MULK;
}

struct vfy_pset *
vfy_pset_new(void)
{
	struct vfy_pset *s = calloc(1, sizeof(*s));
	uint8_t seed[8];

	if (s == NULL)
		return NULL;
	if (atr_random(seed, sizeof(seed)) != ATR_OK ||
	    atr_random(s->ckey, sizeof(s->ckey)) != ATR_OK) {
		free(s);
		return NULL;
	}
	memcpy(&s->seed, seed, 8);
	s->seed |= 1;
	s->maxlen = VFY_WIN;
	s->minlen = VFY_PAT_MAX;
	s->stride = 1;
	return s;
}

void
vfy_pset_free(struct vfy_pset *s)
{
	size_t i;

	if (s == NULL)
		return;
	for (i = 0; i < s->npats; i++)
		free(s->pats[i].b);
	free(s->pats);
	free(s->ex);
	/* Window hashes are derived from keys and plaintext: wiped. */
	if (s->kw != NULL)
		atr_secure_free(s->kw, s->capkw * sizeof(*s->kw));
	free(s->bm);
	atr_memzero(s, sizeof(*s));
	free(s);
}

static int
grow(void **p, size_t *cap, size_t need, size_t elem)
{
	void *np;
	size_t nc;

	if (need <= *cap)
		return 0;
	nc = *cap ? *cap * 2 : 64;
	while (nc < need)
		nc *= 2;
	np = realloc(*p, nc * elem);
	if (np == NULL)
		return -1;
	*p = np;
	*cap = nc;
	return 0;
}

int
vfy_pset_add_exact(struct vfy_pset *s, const uint8_t *p, size_t len,
    uint32_t id)
{
	struct pat *pt;

	if (s->built || len < VFY_PAT_MIN || len > VFY_PAT_MAX)
		return -1;
	if (grow((void **)&s->pats, &s->cappats, s->npats + 1,
	    sizeof(*s->pats)) != 0)
		return -1;
	pt = &s->pats[s->npats];
	pt->b = malloc(len);
	if (pt->b == NULL)
		return -1;
	memcpy(pt->b, p, len);
	pt->len = (uint16_t)len;
	pt->id = id;
	s->npats++;
	if (len > s->maxlen)
		s->maxlen = len;
	if (len < s->minlen)
		s->minlen = len;
	return 0;
}

static uint64_t
confirm_hash(const uint8_t ckey[32], const uint8_t *w)
{
	uint8_t buf[64], md[32];
	uint64_t v;

	memcpy(buf, ckey, 32);
	memcpy(buf + 32, w, 32);
	if (atr_sha256(buf, sizeof(buf), md) != ATR_OK)
		memset(md, 0, sizeof(md));
	memcpy(&v, md, 8);
	atr_memzero(buf, sizeof(buf));
	atr_memzero(md, sizeof(md));
	return v;
}

void
vfy_pset_hash_window(const struct vfy_pset *s, int type, const uint8_t w[32],
    struct vfy_winhash *out)
{
	out->h = hash8(s->seed, w);
	out->confirm = confirm_hash(s->ckey, w);
	out->type = (uint8_t)type;
}

int
vfy_pset_add_hashes(struct vfy_pset *s, const struct vfy_winhash *v, size_t n)
{
	size_t oldcap = s->capkw;
	struct vfy_winhash *nk;
	size_t nc;

	if (s->built)
		return -1;
	if (s->nkw + n > s->capkw) {
		/* Not realloc: the old block holds key-derived hashes and is
		 * wiped before it is released. */
		nc = s->capkw ? s->capkw * 2 : 256;
		while (nc < s->nkw + n)
			nc *= 2;
		nk = malloc(nc * sizeof(*nk));
		if (nk == NULL)
			return -1;
		if (s->nkw)
			memcpy(nk, s->kw, s->nkw * sizeof(*nk));
		if (s->kw != NULL)
			atr_secure_free(s->kw, oldcap * sizeof(*s->kw));
		s->kw = nk;
		s->capkw = nc;
	}
	if (n)
		memcpy(s->kw + s->nkw, v, n * sizeof(*v));
	s->nkw += n;
	return 0;
}

int
vfy_pset_add_window(struct vfy_pset *s, int type, const uint8_t w[32])
{
	struct vfy_winhash h;
	int rc;

	vfy_pset_hash_window(s, type, w, &h);
	rc = vfy_pset_add_hashes(s, &h, 1);
	atr_memzero(&h, sizeof(h));
	return rc;
}

static int
cmp_ex(const void *a, const void *b)
{
	const struct exact *x = a, *y = b;

	if (x->h != y->h)
		return x->h < y->h ? -1 : 1;
	if (x->pat != y->pat)
		return x->pat < y->pat ? -1 : 1;
	return x->k < y->k ? -1 : x->k > y->k;
}

static int
cmp_kw(const void *a, const void *b)
{
	const struct vfy_winhash *x = a, *y = b;

	if (x->h != y->h)
		return x->h < y->h ? -1 : 1;
	if (x->confirm != y->confirm)
		return x->confirm < y->confirm ? -1 : 1;
	return (int)x->type - (int)y->type;
}

int
vfy_pset_build(struct vfy_pset *s)
{
	size_t n, bits = 1U << 16, i, j;
	unsigned lg = 16, k;

	if (s->built)
		return 0;
	/*
	 * An occurrence of a pattern of length L >= stride + 7 at position x
	 * covers the 8 bytes at the first lattice point y >= x, which are
	 * the pattern's bytes k = y - x .. k + 7 for some k < stride.  With
	 * all stride alignments of every canary in the filter, probing the
	 * lattice points alone finds every occurrence: 8 times fewer probes
	 * than every byte.  Windows (32 bytes, only hashes kept) are probed
	 * at every position, so a set holding them has stride 1.
	 */
	s->stride = 1;
	if (s->npats > 0 && s->nkw == 0)
		s->stride = s->minlen - 7 < 8 ? (unsigned)(s->minlen - 7) : 8;
	s->ex = calloc(s->npats * s->stride + 1, sizeof(*s->ex));
	if (s->ex == NULL)
		return -1;
	for (i = 0; i < s->npats; i++)
		for (k = 0; k < s->stride; k++) {
			s->ex[s->nex].h = hash8(s->seed, s->pats[i].b + k);
			s->ex[s->nex].pat = (uint32_t)i;
			s->ex[s->nex].k = k;
			s->nex++;
		}
	if (s->nex > 1)
		qsort(s->ex, s->nex, sizeof(*s->ex), cmp_ex);
	if (s->nkw > 1)
		qsort(s->kw, s->nkw, sizeof(*s->kw), cmp_kw);
	/* Duplicates (a shared DEK seen per object) are dropped. */
	for (i = j = 0; i < s->nkw; i++)
		if (j == 0 || cmp_kw(&s->kw[j - 1], &s->kw[i]) != 0)
			s->kw[j++] = s->kw[i];
	s->nkw = j;
	n = s->nex + s->nkw;
	/* About 16 bits per entry: one probe in 16 hits the filter in the
	 * worst case, and a miss is what nearly every probe costs. */
	while (bits < n * 16 && lg < 30) {
		bits <<= 1;
		lg++;
	}
	s->words = bits / 64;
	s->shift = 64 - lg;
	s->bm = calloc(s->words, sizeof(uint64_t));
	if (s->bm == NULL)
		return -1;
	for (i = 0; i < s->nex; i++) {
		uint64_t b = s->ex[i].h >> s->shift;

		s->bm[b >> 6] |= 1ULL << (b & 63);
	}
	for (i = 0; i < s->nkw; i++) {
		uint64_t b = s->kw[i].h >> s->shift;

		s->bm[b >> 6] |= 1ULL << (b & 63);
	}
	s->built = 1;
	return 0;
}

size_t
vfy_pset_size(const struct vfy_pset *s)
{
	return s->npats + s->nkw;
}

int
vfy_window_diverse(const uint8_t w[32])
{
	uint64_t seen[4] = {0, 0, 0, 0};
	unsigned i, d = 0, d8 = 0;

	/* A run of one byte or a short repeated motif would match padding
	 * and zero fill everywhere: such windows are not sampled. */
	for (i = 0; i < 32; i++) {
		uint64_t bit = 1ULL << (w[i] & 63);

		if (!(seen[w[i] >> 6] & bit)) {
			seen[w[i] >> 6] |= bit;
			d++;
			if (i < 8)
				d8++;
		}
	}
	return d >= 10 && d8 >= 5;
}

/* ---- scanning ---------------------------------------------------------- */

/*
 * The probe at lattice point y of a piece: base points at stream offset
 * base_off; bytes [lo, hi) of the stream are readable there.
 */
static void
slow(struct vfy_scanner *sc, const uint8_t *base, uint64_t base_off,
    uint64_t lo, uint64_t hi, uint64_t y, uint64_t h)
{
	const struct vfy_pset *s = sc->ps;
	size_t a = 0, b = s->nex, m;
	uint64_t conf = 0;
	int have_conf = 0, reported[4] = {0, 0, 0, 0};

	while (a < b) {
		m = a + (b - a) / 2;
		if (s->ex[m].h < h)
			a = m + 1;
		else
			b = m;
	}
	for (; a < s->nex && s->ex[a].h == h; a++) {
		const struct pat *pt = &s->pats[s->ex[a].pat];
		uint64_t x = y - s->ex[a].k;

		/* Before the stream's first byte, or (at its end) past its
		 * last: not an occurrence. */
		if (y < sc->begin + s->ex[a].k || x < lo || x + pt->len > hi)
			continue;
		if (memcmp(base + (x - base_off), pt->b, pt->len) == 0)
			sc->hit(sc->arg, VFY_PAT_CANARY, pt->id, x);
	}
	if (y + VFY_WIN > hi)
		return;
	a = 0;
	b = s->nkw;
	while (a < b) {
		m = a + (b - a) / 2;
		if (s->kw[m].h < h)
			a = m + 1;
		else
			b = m;
	}
	for (; a < s->nkw && s->kw[a].h == h; a++) {
		if (!have_conf) {
			conf = confirm_hash(s->ckey, base + (y - base_off));
			have_conf = 1;
		}
		if (s->kw[a].confirm == conf && s->kw[a].type < 4 &&
		    !reported[s->kw[a].type]) {
			reported[s->kw[a].type] = 1;
			sc->hit(sc->arg, s->kw[a].type, 0, y);
		}
	}
}

/*
 * Probes the lattice points y >= sc->next_y with y < y_end, in a piece
 * holding stream bytes [lo, hi) at base (base_off = lo).  The caller
 * makes sure every probed point has its look-behind and look-ahead in
 * the piece (or the stream ends there).
 */
static void
probe(struct vfy_scanner *sc, const uint8_t *base, uint64_t lo, uint64_t hi,
    uint64_t y_end)
{
	const struct vfy_pset *s = sc->ps;
	const uint64_t *bm = s->bm, seed = s->seed;
	const unsigned shift = s->shift, st = s->stride;
	uint64_t y = sc->next_y;

	if (hi >= 8 && y_end > hi - 7)
		y_end = hi - 7;     /* the probe reads 8 bytes */
	else if (hi < 8)
		y_end = 0;
	for (; y < y_end; y += st) {
		uint64_t h = hash8(seed, base + (y - lo)), b = h >> shift;

		if (bm[b >> 6] & (1ULL << (b & 63)))
			slow(sc, base, lo, lo, hi, y, h);
	}
	if (y > sc->next_y)
		sc->next_y = y;
}

/* Look-behind and look-ahead a probe needs. */
static uint64_t
behind(const struct vfy_scanner *sc)
{
	return sc->ps->stride - 1;
}

static uint64_t
ahead(const struct vfy_scanner *sc)
{
	return sc->ps->maxlen;
}

void
vfy_scan_begin(struct vfy_scanner *sc, const struct vfy_pset *ps,
    uint64_t off, vfy_hit_fn hit, void *arg)
{
	sc->ps = ps;
	sc->tlen = 0;
	sc->tail_off = off;
	sc->begin = off;
	sc->next_y = off;
	sc->hit = hit;
	sc->arg = arg;
	sc->scanned = 0;
}

/* Keeps the last `keep` bytes of the stream (tail then p[0..n)). */
static void
keep_tail(struct vfy_scanner *sc, const uint8_t *p, size_t n, size_t keep)
{
	if (n >= keep) {
		memcpy(sc->tail, p + n - keep, keep);
		sc->tail_off += sc->tlen + n - keep;
		sc->tlen = keep;
		return;
	}
	if (sc->tlen + n > keep) {
		size_t drop = sc->tlen + n - keep;

		memmove(sc->tail, sc->tail + drop, sc->tlen - drop);
		sc->tlen -= drop;
		sc->tail_off += drop;
	}
	memcpy(sc->tail + sc->tlen, p, n);
	sc->tlen += n;
}

void
vfy_scan_feed(struct vfy_scanner *sc, const uint8_t *p, size_t n)
{
	const struct vfy_pset *s = sc->ps;
	uint64_t o, bh, ah, jl, lim, first;
	size_t c, take;
	uint8_t j[VFY_TAIL_MAX];

	if (n == 0)
		return;
	sc->scanned += n;
	if (s->nex + s->nkw == 0) {
		sc->tail_off += sc->tlen + n;
		sc->tlen = 0;
		sc->next_y = sc->tail_off;
		return;
	}
	/*
	 * A probe at y reads the stream's bytes [y - bh, y + ah).  Points
	 * not probed yet have y + ah beyond what came before, so the tail
	 * (the last bh + ah bytes) holds their look-behind.
	 */
	o = sc->tail_off + sc->tlen;   /* stream offset of p[0] */
	bh = behind(sc);
	ah = ahead(sc);
	c = (size_t)(bh + ah);
	/* 1. Points whose look-behind reaches into the tail (y < o + bh):
	 * probed in a joined copy of the tail and the head of the piece. */
	take = n < c ? n : c;
	if (sc->tlen > 0) {
		memcpy(j, sc->tail, sc->tlen);
		memcpy(j + sc->tlen, p, take);
		jl = o + take;
		lim = jl >= ah ? jl - ah + 1 : 0;
		if (lim > o + bh)
			lim = o + bh;
		probe(sc, j, sc->tail_off, jl, lim);
		atr_memzero(j, sc->tlen + take);
	}
	/* 2. Points whose look-behind and look-ahead are in the piece (at
	 * the stream's start there is no look-behind to need). */
	first = o == sc->begin ? o : o + bh;
	lim = n >= ah ? o + n - ah + 1 : 0;
	if (sc->next_y >= first && lim > sc->next_y)
		probe(sc, p, o, o + n, lim);
	keep_tail(sc, p, n, c);
}

void
vfy_scan_skip(struct vfy_scanner *sc, uint64_t n)
{
	/* What vfy_scan_feed does with n bytes when the set is empty. */
	sc->scanned += n;
	sc->tail_off += sc->tlen + n;
	sc->tlen = 0;
	sc->next_y = sc->tail_off;
}

void
vfy_scan_end(struct vfy_scanner *sc)
{
	if (sc->tlen > 0 && sc->ps->nex + sc->ps->nkw > 0)
		probe(sc, sc->tail, sc->tail_off, sc->tail_off + sc->tlen,
		    sc->tail_off + sc->tlen);
	/* The tail may hold plaintext of an unencrypted file. */
	atr_memzero(sc->tail, sc->tlen);
	sc->tlen = 0;
}

/* ---- byte statistics --------------------------------------------------- */

void
vfy_hist_reset(struct vfy_hist *h)
{
	memset(h, 0, sizeof(*h));
}

void
vfy_hist_add(struct vfy_hist *h, const uint8_t *p, size_t len)
{
	size_t i = 0;

	/* Four tables so consecutive equal bytes do not serialise on one
	 * counter. */
	for (; i + 4 <= len; i += 4) {
		h->c[0][p[i]]++;
		h->c[1][p[i + 1]]++;
		h->c[2][p[i + 2]]++;
		h->c[3][p[i + 3]]++;
	}
	for (; i < len; i++)
		h->c[0][p[i]]++;
	h->n += len;
}

static uint64_t
count_of(const struct vfy_hist *h, unsigned b)
{
	return h->c[0][b] + h->c[1][b] + h->c[2][b] + h->c[3][b];
}

double
vfy_hist_chi2(const struct vfy_hist *h)
{
	double e = (double)h->n / 256.0, x = 0.0;
	unsigned b;

	if (h->n == 0)
		return 0.0;
	for (b = 0; b < 256; b++) {
		double d = (double)count_of(h, b) - e;

		x += d * d / e;
	}
	return x;
}

double
vfy_hist_entropy(const struct vfy_hist *h)
{
	double e = 0.0;
	unsigned b;

	if (h->n == 0)
		return 0.0;
	for (b = 0; b < 256; b++) {
		uint64_t c = count_of(h, b);

		if (c) {
			double q = (double)c / (double)h->n;

			e -= q * log2(q);
		}
	}
	return e;
}

double
vfy_chi2_bound(double z)
{
	/* Wilson-Hilferty: (X/k)^(1/3) is close to normal with mean
	 * 1 - 2/(9k) and variance 2/(9k); k = 255 degrees of freedom. */
	const double k = 255.0, v = 2.0 / (9.0 * k);
	double t = 1.0 - v + z * sqrt(v);

	return k * t * t * t;
}
