/* see envtest.h */
#include "envtest.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "stream.h"
#include "testutil.h"
#include "keys.h"

/* ---- shared keys --------------------------------------------------- */

struct kg_job {
	const char *dir, *spec;
	enum atr_err err;
	char detail[256];
	pthread_t th;
	int started;
};

/* Generates one "NAME=TYPE" or "TYPE" key into dir. */
static void *
kg_run(void *arg)
{
	struct kg_job *j = arg;
	const char *eq = strchr(j->spec, '=');
	char name[64], *path;

	snprintf(name, sizeof(name), "%.*s", eq != NULL ?
	    (int)(eq - j->spec) : (int)strlen(j->spec), j->spec);
	path = tu_path(j->dir, name);
	if (path == NULL) {
		j->err = ATR_ERR_NOMEM;
		return NULL;
	}
	j->err = atr_keygen(eq != NULL ? eq + 1 : j->spec, path);
	/* The detail is per thread: keep it for the caller. */
	snprintf(j->detail, sizeof(j->detail), "%s: %s", name, atr_detail());
	free(path);
	return NULL;
}

enum atr_err
et_keydir_create(const char *tag, const char *const *types)
{
	struct kg_job *jobs;
	enum atr_err err = ATR_OK;
	size_t i, n = 0;
	char *dir;

	while (types[n] != NULL)
		n++;
	dir = tu_tmpdir(tag);
	if (dir == NULL)
		return atr_fail(ATR_ERR_IO, "cannot create a temporary directory");
	jobs = calloc(n + 1, sizeof(*jobs));
	if (jobs == NULL) {
		tu_rmtree(dir);
		free(dir);
		return ATR_ERR_NOMEM;
	}
	/* RSA keygen dominates the suites' run time: one thread per key
	 * lets the larger keys overlap. */
	for (i = 0; i < n; i++) {
		jobs[i].dir = dir;
		jobs[i].spec = types[i];
		jobs[i].started = pthread_create(&jobs[i].th, NULL, kg_run,
		    &jobs[i]) == 0;
		if (!jobs[i].started)
			kg_run(&jobs[i]);
	}
	for (i = 0; i < n; i++) {
		if (jobs[i].started)
			pthread_join(jobs[i].th, NULL);
		if (jobs[i].err != ATR_OK && err == ATR_OK)
			err = atr_fail(jobs[i].err, "%s", jobs[i].detail);
	}
	free(jobs);
	if (err == ATR_OK && setenv(ET_KEYDIR_ENV, dir, 1) != 0)
		err = ATR_ERR_NOMEM;
	if (err != ATR_OK)
		tu_rmtree(dir);
	free(dir);
	return err;
}

void
et_keydir_remove(void)
{
	const char *d = et_keydir();

	if (d != NULL)
		tu_rmtree(d);
	unsetenv(ET_KEYDIR_ENV);
}

const char *
et_keydir(void)
{
	const char *d = getenv(ET_KEYDIR_ENV);

	return d != NULL && *d != '\0' ? d : NULL;
}

char *
et_key_path(const char *name)
{
	const char *d = et_keydir();

	return d != NULL ? tu_path(d, name) : NULL;
}

char *
et_key_uri(const char *name)
{
	char *p = et_key_path(name), *u;
	size_t n;

	if (p == NULL)
		return NULL;
	n = strlen(p) + sizeof("file:");
	u = malloc(n);
	if (u != NULL)
		snprintf(u, n, "file:%s", p);
	free(p);
	return u;
}

enum atr_err
et_key_open(const char *name, struct atr_key **k)
{
	char *u = et_key_uri(name);
	enum atr_err err;

	*k = NULL;
	if (u == NULL)
		return atr_fail(ATR_ERR_CONFIG, "%s is not set (no PRE_ALL keygen?)",
		    ET_KEYDIR_ENV);
	err = atr_key_open(u, NULL, k);
	free(u);
	return err;
}

/* ---- envelopes in memory ------------------------------------------- */

void
et_buf_free(struct et_buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = 0;
}

void
et_fill(uint8_t *p, size_t n, uint32_t seed)
{
	uint32_t x = seed * 2654435761U + 0x9e3779b9U;
	size_t i;

	if (x == 0)
		x = 1;
	for (i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		p[i] = (uint8_t)(x >> 11);
	}
}

enum atr_err
et_seal(const struct atr_enc_params *p, const uint8_t *pt, size_t len,
    struct et_buf *out)
{
	struct atr_enc *e = NULL;
	const uint8_t *hdr;
	size_t hl, fs, nframes, i, off, cap;
	enum atr_err err;

	out->p = NULL;
	out->len = 0;
	err = atr_enc_new(p, &e);
	if (err != ATR_OK)
		return err;
	hdr = atr_enc_header(e, &hl);
	fs = atr_enc_frame_size(e);
	nframes = len == 0 ? 1 : (len + fs - 1) / fs;
	cap = hl + len + nframes * ATR_GCM_TAGBYTES;
	out->p = malloc(cap);
	if (out->p == NULL) {
		atr_enc_free(e);
		return ATR_ERR_NOMEM;
	}
	memcpy(out->p, hdr, hl);
	off = hl;
	for (i = 0; i < nframes; i++) {
		size_t n = len - i * fs < fs ? len - i * fs : fs;

		err = atr_enc_frame(e, pt + i * fs, n, i + 1 == nframes,
		    out->p + off);
		if (err != ATR_OK)
			break;
		off += n + ATR_GCM_TAGBYTES;
	}
	atr_enc_free(e);
	if (err != ATR_OK) {
		et_buf_free(out);
		return err;
	}
	out->len = off;
	return ATR_OK;
}

enum atr_err
et_open(const uint8_t *ct, size_t len, struct atr_key *const *keys,
    size_t nkeys, const struct atr_dec_opts *opts, struct et_buf *out,
    size_t *which_key)
{
	struct atr_header *h = NULL;
	struct atr_dec *d = NULL;
	uint64_t nframes = 0, i;
	size_t rec, off, wk = 0, pos = 0;
	enum atr_err err;

	out->p = NULL;
	out->len = 0;
	h = malloc(sizeof(*h));
	if (h == NULL)
		return ATR_ERR_NOMEM;
	err = atr_header_parse(ct, len, h);
	if (err != ATR_OK)
		goto out;
	err = atr_body_frames(len - h->len, h->frame_size, &nframes);
	if (err != ATR_OK)
		goto out;
	err = atr_dec_new(h, keys, nkeys, opts, &d, &wk, NULL);
	if (err != ATR_OK)
		goto out;
	out->p = malloc(len - h->len + 1);
	if (out->p == NULL) {
		err = ATR_ERR_NOMEM;
		goto out;
	}
	rec = (size_t)h->frame_size + ATR_GCM_TAGBYTES;
	off = h->len;
	for (i = 0; i < nframes; i++) {
		size_t n = len - off < rec ? len - off : rec;

		err = atr_dec_frame(d, i, i + 1 == nframes, ct + off, n,
		    out->p + pos);
		if (err != ATR_OK)
			goto out;
		pos += n - ATR_GCM_TAGBYTES;
		off += n;
	}
	out->len = pos;
	if (which_key != NULL)
		*which_key = wk;
out:
	if (err != ATR_OK)
		et_buf_free(out);
	atr_dec_free(d);
	free(h);
	return err;
}

/* An unlinked temporary file holding data, positioned at its start. */
static FILE *
tmp_with(const uint8_t *data, size_t len)
{
	FILE *f = tmpfile();

	if (f == NULL)
		return NULL;
	if ((len > 0 && fwrite(data, 1, len, f) != len) || fflush(f) != 0 ||
	    fseek(f, 0, SEEK_SET) != 0) {
		fclose(f);
		return NULL;
	}
	return f;
}

/* The whole content of f into out. */
static enum atr_err
slurp(FILE *f, struct et_buf *out)
{
	long n;

	if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET) != 0)
		return ATR_ERR_IO;
	out->p = malloc((size_t)n + 1);
	if (out->p == NULL)
		return ATR_ERR_NOMEM;
	if (n > 0 && fread(out->p, 1, (size_t)n, f) != (size_t)n) {
		et_buf_free(out);
		return ATR_ERR_IO;
	}
	out->len = (size_t)n;
	return ATR_OK;
}

unsigned et_stream_threads = 1;
unsigned et_stream_used;

enum atr_err
et_seal_stream(const struct atr_enc_params *p, const uint8_t *pt,
    size_t len, struct et_buf *out)
{
	struct atr_stream_stats st;
	struct atr_enc *e = NULL;
	FILE *in = NULL, *o = NULL;
	enum atr_err err;

	out->p = NULL;
	out->len = 0;
	err = atr_enc_new(p, &e);
	if (err != ATR_OK)
		return err;
	in = tmp_with(pt, len);
	o = tmpfile();
	if (in == NULL || o == NULL) {
		err = ATR_ERR_IO;
		goto out;
	}
	err = atr_encrypt_stream(e, fileno(in), fileno(o),
	    et_stream_threads, &st);
	et_stream_used = st.threads;
	if (err == ATR_OK)
		err = slurp(o, out);
	if (err == ATR_OK && (st.plain_bytes != len ||
	    st.cipher_bytes != out->len)) {
		et_buf_free(out);
		err = atr_fail(ATR_ERR_IO, "stream statistics disagree");
	}
out:
	if (in != NULL)
		fclose(in);
	if (o != NULL)
		fclose(o);
	atr_enc_free(e);
	return err;
}

/* Small objects go through pipes (a pipe holds 64 KiB on Linux, so
 * neither end blocks): the tamper sweeps open thousands of them. */
#define PIPE_MAX 32768U

static enum atr_err
open_stream_pipes(const uint8_t *ct, size_t len, struct atr_key *const *keys,
    size_t nkeys, const struct atr_dec_opts *opts, struct et_buf *out)
{
	struct atr_stream_stats st;
	int in[2] = {-1, -1}, o[2] = {-1, -1};
	enum atr_err err = ATR_ERR_IO;
	size_t got = 0;

	if (pipe(in) != 0 || pipe(o) != 0)
		goto out;
	if (atr_write_all(in[1], ct, len) != ATR_OK)
		goto out;
	close(in[1]);
	in[1] = -1;
	err = atr_decrypt_stream(in[0], o[1], keys, nkeys, opts,
	    et_stream_threads, &st);
	et_stream_used = st.threads;
	close(o[1]);
	o[1] = -1;
	if (err != ATR_OK)
		goto out;
	out->p = malloc(PIPE_MAX + 1);
	if (out->p == NULL) {
		err = ATR_ERR_NOMEM;
		goto out;
	}
	err = atr_read_full(o[0], out->p, PIPE_MAX + 1, &got);
	out->len = got;
	if (err == ATR_OK && (got > len || st.plain_bytes != got))
		err = atr_fail(ATR_ERR_IO, "stream statistics disagree");
	if (err != ATR_OK)
		et_buf_free(out);
out:
	if (in[0] >= 0)
		close(in[0]);
	if (in[1] >= 0)
		close(in[1]);
	if (o[0] >= 0)
		close(o[0]);
	if (o[1] >= 0)
		close(o[1]);
	return err;
}

enum atr_err
et_open_stream(const uint8_t *ct, size_t len, struct atr_key *const *keys,
    size_t nkeys, const struct atr_dec_opts *opts, struct et_buf *out)
{
	struct atr_stream_stats st;
	FILE *in = NULL, *o = NULL;
	enum atr_err err;

	out->p = NULL;
	out->len = 0;
	if (len <= PIPE_MAX)
		return open_stream_pipes(ct, len, keys, nkeys, opts, out);
	in = tmp_with(ct, len);
	o = tmpfile();
	if (in == NULL || o == NULL) {
		err = ATR_ERR_IO;
		goto out;
	}
	err = atr_decrypt_stream(fileno(in), fileno(o), keys, nkeys, opts,
	    et_stream_threads, &st);
	et_stream_used = st.threads;
	if (err == ATR_OK)
		err = slurp(o, out);
out:
	if (in != NULL)
		fclose(in);
	if (o != NULL)
		fclose(o);
	return err;
}

/* ---- byte surgery -------------------------------------------------- */

uint8_t *
et_splice(const uint8_t *a, size_t alen, size_t off, size_t del,
    const uint8_t *ins, size_t ins_len, size_t *out_len)
{
	uint8_t *b;
	size_t n;

	if (off > alen || del > alen - off)
		return NULL;
	n = alen - del + ins_len;
	b = malloc(n + 1);
	if (b == NULL)
		return NULL;
	memcpy(b, a, off);
	if (ins_len > 0)
		memcpy(b + off, ins, ins_len);
	memcpy(b + off + ins_len, a + off + del, alen - off - del);
	*out_len = n;
	return b;
}

static size_t
be16(const uint8_t *p)
{
	return (size_t)p[0] << 8 | p[1];
}

int
et_stanza_span(const uint8_t *hdr, size_t len, size_t idx, size_t *off,
    size_t *slen)
{
	size_t o = 87, i, n, start, kl, wl;

	if (len < 87)
		return -1;
	n = be16(hdr + 85);
	if (idx >= n)
		return -1;
	for (i = 0; i <= idx; i++) {
		start = o;
		if (len - o < 5)
			return -1;
		kl = be16(hdr + o + 3);
		o += 5;
		if (len - o < kl + 2)
			return -1;
		o += kl;
		wl = be16(hdr + o);
		o += 2 + wl;
		if (hdr[start + 2] >= 1)
			o += 16;
		if (hdr[start + 2] == 2)
			o += 2 + 72;
		if (o > len)
			return -1;
		*off = start;
		*slen = o - start;
	}
	return 0;
}

size_t
et_frame_off(size_t hl, uint32_t fs, uint64_t i)
{
	return hl + (size_t)i * ((size_t)fs + ATR_GCM_TAGBYTES);
}

/* ---- files and trees ----------------------------------------------- */

size_t
et_count_lines(const char *s)
{
	size_t n = 0;

	for (; s != NULL && *s != '\0'; s++)
		if (*s == '\n')
			n++;
	return n;
}

/* Calls fn for every entry below dir; stops at the first nonzero. */
static int
each_entry(const char *dir, int (*fn)(const char *path, const char *name,
    const struct stat *st, void *arg), void *arg)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	struct stat st;
	char path[PATH_MAX];
	int rc = 0;

	if (d == NULL)
		return -1;
	while (rc == 0 && (e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (lstat(path, &st) != 0) {
			rc = -1;
			break;
		}
		rc = fn(path, e->d_name, &st, arg);
		if (rc == 0 && S_ISDIR(st.st_mode))
			rc = each_entry(path, fn, arg);
	}
	closedir(d);
	return rc;
}

static int
is_tmp(const char *path, const char *name, const struct stat *st, void *arg)
{
	(void)path;
	(void)st;
	(void)arg;
	return strncmp(name, ".atrest-tmp-", 12) == 0 ? 1 : 0;
}

int
et_tree_has_tmp(const char *dir)
{
	return each_entry(dir, is_tmp, NULL) == 1;
}

static int
count_one(const char *path, const char *name, const struct stat *st,
    void *arg)
{
	(void)path;
	(void)name;
	(void)st;
	(*(long *)arg)++;
	return 0;
}

long
et_tree_count(const char *dir)
{
	long n = 0;

	if (each_entry(dir, count_one, &n) != 0)
		return -1;
	return n;
}

struct cmp_arg {
	const char *a, *b;
};

/* Checks that the entry of tree a at path exists alike in tree b. */
static int
same_in_b(const char *path, const char *name, const struct stat *st,
    void *arg)
{
	struct cmp_arg *c = arg;
	char other[PATH_MAX];
	struct stat ost;
	uint8_t *x, *y;
	size_t xl = 0, yl = 0;
	int rc = 0;

	(void)name;
	snprintf(other, sizeof(other), "%s%s", c->b, path + strlen(c->a));
	if (lstat(other, &ost) != 0 ||
	    (st->st_mode & S_IFMT) != (ost.st_mode & S_IFMT))
		return 1;
	if (!S_ISREG(st->st_mode))
		return 0;
	x = tu_read_file(path, &xl);
	y = tu_read_file(other, &yl);
	if (x == NULL || y == NULL || xl != yl || memcmp(x, y, xl) != 0)
		rc = 1;
	free(x);
	free(y);
	return rc;
}

int
et_trees_equal(const char *a, const char *b)
{
	struct cmp_arg c = {a, b};

	if (each_entry(a, same_in_b, &c) != 0)
		return 0;
	return et_tree_count(a) == et_tree_count(b);
}

int
et_file_mode(const char *path)
{
	struct stat st;

	if (stat(path, &st) != 0)
		return -1;
	return (int)(st.st_mode & 07777);
}
