/*
 * fixture.c - synthetic data shaped like what CMK protects, for the
 * verifier's tests and demos (docs/VERIFY.md "Fixtures").
 *
 * The dataset is patient records and customer-journey events in CSV and
 * JSON, binary blobs, files at the frame-size edges and a hidden file.
 * Every value is made up from a seeded generator (the same seed gives the
 * same bytes); canaries - unique strings that must never be found in a
 * store - are planted in records and blobs and listed in the manifest
 * with each file's size and SHA-256.
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

#include <openssl/evp.h>

#include "crypto.h"
#include "fsutil.h"
#include "stream.h"
#include "vfy_int.h"
#include "walk.h"

/* ---- generator --------------------------------------------------------- */

struct rng {
	uint64_t s;
};

static uint64_t
rnext(struct rng *r)
{
	/* splitmix64: good enough to look varied, and reproducible */
	r->s += 0x9E3779B97F4A7C15ULL;
	return vfy_mix64(r->s);
}

static unsigned
rbelow(struct rng *r, unsigned n)
{
	return n ? (unsigned)(rnext(r) % n) : 0;
}

struct buf {
	char *p;
	size_t n, cap;
	int err;
};

static void
bput(struct buf *b, const void *s, size_t n)
{
	if (b->err)
		return;
	if (b->p == NULL || b->n + n > b->cap) {   /* none yet, too small */
		size_t nc = b->cap ? b->cap * 2 : 4096;
		char *np;

		while (nc < b->n + n)
			nc *= 2;
		np = realloc(b->p, nc);
		if (np == NULL) {
			b->err = 1;
			return;
		}
		b->p = np;
		b->cap = nc;
	}
	memcpy(b->p + b->n, s, n);
	b->n += n;
}

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static void
bfmt(struct buf *b, const char *fmt, ...)
{
	char tmp[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(tmp)) {
		b->err = 1;
		return;
	}
	bput(b, tmp, (size_t)n);
}

static const char *const first_names[] = {
	"Amelia", "Oliver", "Isla", "Noah", "Freya", "Leo", "Maya", "Arthur",
	"Zara", "Elias", "Nora", "Hugo", "Ines", "Mateo", "Lena", "Tomas",
};
static const char *const last_names[] = {
	"Okafor", "Lindqvist", "Moreau", "Kowalski", "Haddad", "Brennan",
	"Tanaka", "Rossi", "Novak", "Fernandes", "Schmidt", "Ivanova",
};
static const char *const icd10[] = {
	"E11.9", "I10", "J45.909", "M54.5", "F32.9", "K21.9", "N39.0", "E78.5",
};
static const char *const meds[] = {
	"metformin 500mg", "lisinopril 10mg", "salbutamol inhaler",
	"ibuprofen 400mg", "sertraline 50mg", "omeprazole 20mg",
	"atorvastatin 20mg", "none",
};
static const char *const notes[] = {
	"follow-up in 3 months", "referred to cardiology",
	"patient reports improvement", "allergy to penicillin noted",
	"blood panel requested", "discussed lifestyle changes",
};
static const char *const channels[] = {"web", "app", "email", "store", "call"};
static const char *const events[] = {
	"page_view", "search", "add_to_basket", "checkout_start", "purchase",
	"support_chat", "newsletter_open", "return_request",
};
static const char *const pages[] = {
	"/", "/search", "/product/sku-2231", "/basket", "/checkout",
	"/account/orders", "/help/returns", "/offers/spring",
};

#define PICK(r, a) ((a)[rbelow((r), sizeof(a) / sizeof((a)[0]))])

static void
canary(struct rng *r, const char *tag, char *out, size_t cap)
{
	snprintf(out, cap, "CANARY-%s-%016llx", tag,
	    (unsigned long long)rnext(r));
}

struct mfile {
	char path[256];
	uint64_t size;
	uint8_t sha[32];
	char canaries[4][64];
	int ncan;
};

struct mlist {
	struct mfile *v;
	size_t n, cap;
};

static struct mfile *
madd(struct mlist *m)
{
	if (m->n == m->cap) {
		size_t nc = m->cap ? m->cap * 2 : 32;
		struct mfile *nv = realloc(m->v, nc * sizeof(*nv));

		if (nv == NULL)
			return NULL;
		m->v = nv;
		m->cap = nc;
	}
	memset(&m->v[m->n], 0, sizeof(m->v[0]));
	return &m->v[m->n++];
}

static enum atr_err
write_file(const char *dir, const char *rel, const void *p, size_t n)
{
	char path[PATH_MAX], d[PATH_MAX];
	enum atr_err e;
	char *slash;

	if (snprintf(path, sizeof(path), "%s/%s", dir, rel) >= (int)sizeof(path))
		return atr_fail(ATR_ERR_IO, "path too long");
	snprintf(d, sizeof(d), "%s", path);
	slash = strrchr(d, '/');
	if (slash != NULL) {
		*slash = '\0';
		e = atr_mkdirs(d);
		if (e != ATR_OK)
			return e;
	}
	return atr_write_file(path, 0644, p, n);
}

static enum atr_err
emit(const char *dir, struct mlist *m, const char *rel, struct buf *b,
    char can[][64], int ncan)
{
	struct mfile *f;
	int i;
	enum atr_err e;

	if (b->err)
		return ATR_ERR_NOMEM;
	e = write_file(dir, rel, b->p, b->n);
	if (e != ATR_OK)
		return e;
	f = madd(m);
	if (f == NULL)
		return ATR_ERR_NOMEM;
	snprintf(f->path, sizeof(f->path), "%s", rel);
	f->size = b->n;
	e = atr_sha256((const uint8_t *)b->p, b->n, f->sha);
	for (i = 0; i < ncan && i < 4; i++)
		snprintf(f->canaries[i], sizeof(f->canaries[i]), "%s", can[i]);
	f->ncan = ncan < 4 ? ncan : 4;
	b->n = 0;
	return e;
}

static void
patients_csv(struct rng *r, struct buf *b, unsigned rows, const char *can)
{
	unsigned i, at = rbelow(r, rows ? rows : 1);

	bfmt(b, "patient_id,name,date_of_birth,postcode,diagnosis_icd10,"
	    "medication,notes\n");
	for (i = 0; i < rows; i++)
		bfmt(b, "P%07u,%s %s,%04u-%02u-%02u,%c%c%u %u%c%c,%s,%s,%s\n",
		    rbelow(r, 9999999), PICK(r, first_names), PICK(r, last_names),
		    1930 + rbelow(r, 90), 1 + rbelow(r, 12), 1 + rbelow(r, 28),
		    'A' + rbelow(r, 26), 'A' + rbelow(r, 26), 1 + rbelow(r, 20),
		    rbelow(r, 10), 'A' + rbelow(r, 26), 'A' + rbelow(r, 26),
		    PICK(r, icd10), PICK(r, meds), i == at ? can : PICK(r, notes));
}

static void
patients_json(struct rng *r, struct buf *b, unsigned rows, const char *can)
{
	unsigned i, at = rbelow(r, rows ? rows : 1);

	bfmt(b, "{\"source\": \"synthetic-ehr\", \"records\": [\n");
	for (i = 0; i < rows; i++)
		bfmt(b, "  {\"patient_id\": \"P%07u\", \"name\": \"%s %s\", "
		    "\"dob\": \"%04u-%02u-%02u\", \"diagnosis\": \"%s\", "
		    "\"medication\": \"%s\", \"notes\": \"%s\"}%s\n",
		    rbelow(r, 9999999), PICK(r, first_names), PICK(r, last_names),
		    1930 + rbelow(r, 90), 1 + rbelow(r, 12), 1 + rbelow(r, 28),
		    PICK(r, icd10), PICK(r, meds), i == at ? can : PICK(r, notes),
		    i + 1 < rows ? "," : "");
	bfmt(b, "]}\n");
}

static void
journeys_csv(struct rng *r, struct buf *b, unsigned rows, const char *can)
{
	unsigned i, at = rbelow(r, rows ? rows : 1);

	bfmt(b, "customer_id,session_id,timestamp,channel,event,page,"
	    "basket_value_eur,consent\n");
	for (i = 0; i < rows; i++)
		bfmt(b, "C%08u,%016llx,2025-%02u-%02uT%02u:%02u:%02uZ,%s,%s,%s%s,"
		    "%u.%02u,%s\n", rbelow(r, 99999999),
		    (unsigned long long)rnext(r), 1 + rbelow(r, 12),
		    1 + rbelow(r, 28), rbelow(r, 24), rbelow(r, 60), rbelow(r, 60),
		    PICK(r, channels), PICK(r, events), PICK(r, pages),
		    i == at ? "?ref=" : "", rbelow(r, 500), rbelow(r, 100),
		    rbelow(r, 2) ? "yes" : "no");
	(void)can;
	if (rows)
		bfmt(b, "C%08u,%016llx,2025-06-01T12:00:00Z,web,page_view,/%s,0.00,"
		    "yes\n", rbelow(r, 99999999), (unsigned long long)rnext(r),
		    can);
}

static void
journeys_json(struct rng *r, struct buf *b, unsigned rows, const char *can)
{
	unsigned i;

	bfmt(b, "{\"customer_id\": \"C%08u\", \"events\": [\n",
	    rbelow(r, 99999999));
	for (i = 0; i < rows; i++)
		bfmt(b, "  {\"t\": \"2025-%02u-%02uT%02u:%02u:%02uZ\", \"channel\": "
		    "\"%s\", \"event\": \"%s\", \"page\": \"%s\"},\n",
		    1 + rbelow(r, 12), 1 + rbelow(r, 28), rbelow(r, 24),
		    rbelow(r, 60), rbelow(r, 60), PICK(r, channels),
		    PICK(r, events), PICK(r, pages));
	bfmt(b, "  {\"t\": \"2025-12-31T23:59:59Z\", \"channel\": \"app\", "
	    "\"event\": \"support_chat\", \"page\": \"/help/%s\"}\n]}\n", can);
}

static void
blob(struct rng *r, struct buf *b, size_t n, const char *can)
{
	size_t i, at;
	uint64_t v;

	for (i = 0; i < n; i += 8) {
		v = rnext(r);
		bput(b, &v, n - i < 8 ? n - i : 8);
	}
	if (can != NULL && n > 64 && !b->err) {
		size_t cl = strlen(can);

		at = rbelow(r, (unsigned)(n - cl));
		memcpy(b->p + b->n - n + at, can, cl);
	}
}

void
vfy_fixture_defaults(struct vfy_fixture_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->seed = 1;
	o->patients = 4;
	o->journeys = 4;
	o->blobs = 3;
	o->rows = 40;
	o->frame_size = ATR_FRAME_DEFAULT;
}

static enum atr_err
big_blob(const char *dir, struct mlist *m, struct rng *r, uint64_t size)
{
	char path[PATH_MAX], d[PATH_MAX];
	struct atr_outfile o;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	uint8_t *chunk = malloc(1U << 20);
	struct mfile *f;
	uint64_t left = size;
	unsigned mdl = 0;
	enum atr_err e = ATR_OK;

	if (md == NULL || chunk == NULL) {
		EVP_MD_CTX_free(md);
		free(chunk);
		return ATR_ERR_NOMEM;
	}
	snprintf(d, sizeof(d), "%s/big", dir);
	snprintf(path, sizeof(path), "%s/big/big.bin", dir);
	e = atr_mkdirs(d);
	if (e == ATR_OK)
		e = atr_out_begin(&o, path, 0644);
	if (e != ATR_OK)
		goto out;
	if (EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1)
		e = ATR_ERR_CRYPTO;
	while (e == ATR_OK && left > 0) {
		size_t n = left < (1U << 20) ? (size_t)left : (1U << 20), i;

		for (i = 0; i < n; i += 8) {
			uint64_t v = rnext(r);

			memcpy(chunk + i, &v, n - i < 8 ? n - i : 8);
		}
		if (EVP_DigestUpdate(md, chunk, n) != 1)
			e = ATR_ERR_CRYPTO;
		else
			e = atr_write_all(o.fd, chunk, n);
		left -= n;
	}
	if (e == ATR_OK)
		e = atr_out_commit(&o, 0);
	else
		atr_out_abort(&o);
	if (e != ATR_OK)
		goto out;
	f = madd(m);
	if (f == NULL) {
		e = ATR_ERR_NOMEM;
		goto out;
	}
	snprintf(f->path, sizeof(f->path), "big/big.bin");
	f->size = size;
	if (EVP_DigestFinal_ex(md, f->sha, &mdl) != 1)
		e = ATR_ERR_CRYPTO;
out:
	EVP_MD_CTX_free(md);
	free(chunk);
	return e;
}

static int
cmp_mfile(const void *a, const void *b)
{
	return vfy_path_cmp(((const struct mfile *)a)->path,
	    ((const struct mfile *)b)->path);
}

static enum atr_err
write_manifest(const char *path, struct mlist *m, uint64_t seed)
{
	struct atr_outfile of;
	struct vfy_out *o = malloc(sizeof(*o));
	enum atr_err e;
	char hex[65];
	size_t i;
	int k;

	if (o == NULL)
		return ATR_ERR_NOMEM;
	e = atr_out_begin(&of, path, 0644);
	if (e != ATR_OK) {
		free(o);
		return e;
	}
	vfy_out_init(o, of.fd);
	if (m->n > 1)
		qsort(m->v, m->n, sizeof(*m->v), cmp_mfile);
	vfy_out_fmt(o, "{\n  \"format\": \"atrest-manifest/1\",\n  "
	    "\"generator\": \"atrest verify fixture\",\n  \"seed\": %llu,\n  "
	    "\"files\": [", (unsigned long long)seed);
	for (i = 0; i < m->n; i++) {
		atr_hex(m->v[i].sha, 32, hex);
		vfy_out_str(o, i ? ",\n    {\"path\": " : "\n    {\"path\": ");
		vfy_out_json_str(o, m->v[i].path);
		vfy_out_fmt(o, ", \"size\": %llu, \"sha256\": \"%s\", "
		    "\"canaries\": [", (unsigned long long)m->v[i].size, hex);
		for (k = 0; k < m->v[i].ncan; k++) {
			if (k)
				vfy_out_str(o, ", ");
			vfy_out_json_str(o, m->v[i].canaries[k]);
		}
		vfy_out_str(o, "]}");
	}
	vfy_out_str(o, "\n  ]\n}\n");
	e = vfy_out_flush(o);
	free(o);
	if (e != ATR_OK) {
		atr_out_abort(&of);
		return e;
	}
	return atr_out_commit(&of, 0);
}

enum atr_err
vfy_fixture_dataset(const char *dir, const char *manifest_path,
    const struct vfy_fixture_opts *opt, unsigned *nfiles)
{
	struct vfy_fixture_opts defo;
	struct rng r;
	struct buf b = {NULL, 0, 0, 0};
	struct mlist m = {NULL, 0, 0};
	char rel[256], can[4][64];
	enum atr_err e;
	unsigned i;
	uint32_t fs;

	if (opt == NULL) {
		vfy_fixture_defaults(&defo);
		opt = &defo;
	}
	fs = opt->frame_size ? opt->frame_size : ATR_FRAME_DEFAULT;
	r.s = opt->seed;
	e = atr_mkdirs(dir);
	for (i = 0; e == ATR_OK && i < opt->patients; i++) {
		canary(&r, "PAT", can[0], sizeof(can[0]));
		patients_csv(&r, &b, opt->rows, can[0]);
		snprintf(rel, sizeof(rel), "patients/patient-%04u.csv", i);
		e = emit(dir, &m, rel, &b, can, 1);
		if (e != ATR_OK)
			break;
		canary(&r, "PAT", can[0], sizeof(can[0]));
		patients_json(&r, &b, opt->rows, can[0]);
		snprintf(rel, sizeof(rel), "patients/patient-%04u.json", i);
		e = emit(dir, &m, rel, &b, can, 1);
	}
	for (i = 0; e == ATR_OK && i < opt->journeys; i++) {
		canary(&r, "CJ", can[0], sizeof(can[0]));
		journeys_csv(&r, &b, opt->rows, can[0]);
		snprintf(rel, sizeof(rel), "journeys/journey-%04u.csv", i);
		e = emit(dir, &m, rel, &b, can, 1);
		if (e != ATR_OK)
			break;
		canary(&r, "CJ", can[0], sizeof(can[0]));
		journeys_json(&r, &b, opt->rows, can[0]);
		snprintf(rel, sizeof(rel), "journeys/journey-%04u.json", i);
		e = emit(dir, &m, rel, &b, can, 1);
	}
	for (i = 0; e == ATR_OK && i < opt->blobs; i++) {
		canary(&r, "BIN", can[0], sizeof(can[0]));
		blob(&r, &b, 4096U << (i % 6), can[0]);
		snprintf(rel, sizeof(rel), "blobs/blob-%03u.bin", i);
		e = emit(dir, &m, rel, &b, can, 1);
	}
	/* Frame-size edges: empty, one byte, F-1, F, F+1, 2F. */
	if (e == ATR_OK) {
		static const char *const names[] = {"size-0.dat", "size-1.dat",
		    "frame-minus-1.dat", "frame.dat", "frame-plus-1.dat",
		    "two-frames.dat"};
		size_t sizes[6];
		int k;

		sizes[0] = 0;
		sizes[1] = 1;
		sizes[2] = fs - 1;
		sizes[3] = fs;
		sizes[4] = (size_t)fs + 1;
		sizes[5] = 2 * (size_t)fs;
		for (k = 0; e == ATR_OK && k < 6; k++) {
			blob(&r, &b, sizes[k], NULL);
			snprintf(rel, sizeof(rel), "edge/%s", names[k]);
			e = emit(dir, &m, rel, &b, can, 0);
		}
	}
	if (e == ATR_OK) {
		canary(&r, "HID", can[0], sizeof(can[0]));
		bfmt(&b, "scratch notes, not for sharing: %s\n", can[0]);
		e = emit(dir, &m, ".hidden/.notes.txt", &b, can, 1);
	}
	if (e == ATR_OK && opt->big_bytes > 0)
		e = big_blob(dir, &m, &r, opt->big_bytes);
	if (e == ATR_OK && manifest_path != NULL)
		e = write_manifest(manifest_path, &m, opt->seed);
	if (nfiles != NULL)
		*nfiles = (unsigned)m.n;
	free(b.p);
	free(m.v);
	return e;
}

/* ---- encryption -------------------------------------------------------- */

enum atr_err
vfy_fixture_encrypt_file(const char *in, const char *out,
    struct atr_key *const *keys, size_t nkeys, const struct atr_share *share,
    uint32_t frame_size)
{
	struct atr_enc_params p;
	struct atr_stream_stats st;
	struct atr_outfile o;
	struct atr_enc *e = NULL;
	enum atr_err err;
	int fd;

	memset(&p, 0, sizeof(p));
	p.keys = keys;
	p.nkeys = nkeys;
	p.share = share;
	p.frame_size = frame_size;
	fd = open(in, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return atr_fail(ATR_ERR_IO, "%s: %s", in, strerror(errno));
	err = atr_enc_new(&p, &e);
	if (err == ATR_OK)
		err = atr_out_begin(&o, out, 0644);
	if (err == ATR_OK) {
		err = atr_encrypt_stream(e, fd, o.fd, 1, &st);
		if (err == ATR_OK)
			err = atr_out_commit(&o, 0);
		else
			atr_out_abort(&o);
	}
	atr_enc_free(e);
	close(fd);
	return err;
}

struct enc_tree {
	const char *out;
	struct atr_key *const *keys;
	size_t nkeys;
	const struct atr_share *share;
	uint32_t fs;
};

static enum atr_err
enc_cb(const char *path, const char *rel, enum atr_walk_type type,
    const struct stat *st, void *arg)
{
	struct enc_tree *t = arg;
	char out[PATH_MAX];

	(void)st;
	if (snprintf(out, sizeof(out), "%s%s%s", t->out, *rel ? "/" : "",
	    rel) >= (int)sizeof(out))
		return atr_fail(ATR_ERR_IO, "path too long");
	if (type == ATR_WALK_DIR)
		return atr_mkdirs(out);
	if (type != ATR_WALK_FILE)
		return ATR_OK;
	return vfy_fixture_encrypt_file(path, out, t->keys, t->nkeys, t->share,
	    t->fs);
}

enum atr_err
vfy_fixture_encrypt_tree(const char *in, const char *out,
    struct atr_key *const *keys, size_t nkeys, int kind, uint32_t frame_size)
{
	struct enc_tree t = {out, keys, nkeys, NULL, frame_size};
	struct atr_share *sh = NULL;
	enum atr_err e;

	if (kind != ATR_KIND_DIRECT) {
		e = atr_share_new((enum atr_stanza_kind)kind, keys, nkeys, &sh);
		if (e != ATR_OK)
			return e;
		t.share = sh;
	}
	e = atr_walk(in, enc_cb, &t);
	atr_share_free(sh);
	return e;
}
