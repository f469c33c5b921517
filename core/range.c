/* see range.h */
#include "range.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"

/* One ranged read: the opened object and the caller's stats. */
struct rng {
	int fd;
	struct atr_dec *d;
	uint64_t hlen, nframes, body;
	size_t fs;
	uint8_t *in, *out;        /* one record, one frame of plaintext */
	struct atr_range_stats *st;
};

/* Reads frame i at its offset (docs/FORMAT.md, section 5) and opens it,
 * as the final frame when it is the last one of the body. */
static enum atr_err
open_frame(struct rng *R, uint64_t i, size_t *plain)
{
	uint64_t rec = (uint64_t)R->fs + ATR_GCM_TAGBYTES, at = i * rec;
	size_t n = (size_t)(at + rec <= R->body ? rec : R->body - at);
	int final = i == R->nframes - 1;
	enum atr_err err;

	*plain = 0;
	err = atr_pread_full(R->fd, R->in, n, R->hlen + at);
	if (err != ATR_OK)
		return err;
	R->st->cipher_read += n;
	err = atr_dec_frame(R->d, i, final, R->in, n, R->out);
	if (err != ATR_OK)
		return err;
	R->st->frames_read++;
	R->st->final_read |= final;
	*plain = n - ATR_GCM_TAGBYTES;
	return ATR_OK;
}

/* Opens the frames covering [off, off + len) (len > 0) and writes the
 * requested part of each once it authenticated. */
static enum atr_err
copy_range(struct rng *R, int out_fd, uint64_t off, uint64_t len)
{
	uint64_t i, first = off / R->fs, last = (off + len - 1) / R->fs;
	uint64_t from, to;
	enum atr_err err;
	size_t n;

	for (i = first; i <= last; i++) {
		err = open_frame(R, i, &n);
		if (err != ATR_OK)
			return err;
		from = i == first ? off - i * R->fs : 0;
		to = i == last ? off + len - i * R->fs : n;
		err = atr_write_all(out_fd, R->out + from, (size_t)(to - from));
		if (err != ATR_OK)
			return err;
		R->st->out_bytes += to - from;
	}
	return ATR_OK;
}

/* Reads the header at offset 0 and opens it with the first key that has
 * a stanza. */
static enum atr_err
open_header(struct rng *R, uint64_t size, struct atr_key *const *keys,
    size_t nkeys, const struct atr_dec_opts *opts)
{
	struct atr_header *h = malloc(sizeof(*h));
	uint8_t *buf = malloc(ATR_HEADER_MAX);
	size_t want = size < ATR_HEADER_MAX ? (size_t)size : ATR_HEADER_MAX;
	enum atr_err err;

	if (h == NULL || buf == NULL) {
		err = ATR_ERR_NOMEM;
		goto out;
	}
	err = atr_pread_full(R->fd, buf, want, 0);
	if (err != ATR_OK)
		goto out;
	err = atr_header_parse(buf, want, h);
	if (err != ATR_OK)
		goto out;
	R->st->cipher_read = h->len;
	err = atr_dec_new(h, keys, nkeys, opts, &R->d, &R->st->key_index,
	    &R->st->stanza_index);
	if (err != ATR_OK)
		goto out;
	R->hlen = h->len;
	R->fs = h->frame_size;
	R->body = size - h->len;
	err = atr_body_frames(R->body, h->frame_size, &R->nframes);
out:
	free(h);
	free(buf);
	return err;
}

enum atr_err
atr_decrypt_range(int in_fd, int out_fd, struct atr_key *const *keys,
    size_t nkeys, const struct atr_dec_opts *opts, uint64_t off,
    uint64_t len, struct atr_range_stats *st)
{
	struct rng R = {in_fd, NULL, 0, 0, 0, 0, NULL, NULL, st};
	uint64_t plain;
	struct stat sb;
	enum atr_err err;
	int past;
	size_t n;

	memset(st, 0, sizeof(*st));
	if (fstat(in_fd, &sb) != 0 || !S_ISREG(sb.st_mode))
		return atr_fail(ATR_ERR_USAGE,
		    "a range read needs a regular file as input");
	err = open_header(&R, (uint64_t)sb.st_size, keys, nkeys, opts);
	if (err != ATR_OK)
		goto out;
	plain = R.body - R.nframes * ATR_GCM_TAGBYTES;
	st->plain_len = plain;
	if (len == ATR_RANGE_TO_END)
		len = off <= plain ? plain - off : 0;
	/* off > plain first: then plain - off would wrap. */
	past = off > plain || len > plain - off;
	R.in = malloc(R.fs + ATR_GCM_TAGBYTES);
	R.out = malloc(R.fs);
	if (R.in == NULL || R.out == NULL) {
		err = ATR_ERR_NOMEM;
		goto out;
	}
	if (!past && len > 0) {
		err = copy_range(&R, out_fd, off, len);
		if (err != ATR_OK)
			goto out;
	}
	/* A range reaching the end relies on the length the file size
	 * gives: the final frame proves it (truncation fails here). */
	if ((past || off + len == plain) && !st->final_read) {
		err = open_frame(&R, R.nframes - 1, &n);
		if (err != ATR_OK)
			goto out;
	}
	if (past)
		err = atr_fail(ATR_ERR_USAGE, "range of %llu bytes at offset "
		    "%llu is past the end of the object (%llu bytes)",
		    (unsigned long long)len, (unsigned long long)off,
		    (unsigned long long)plain);
out:
	atr_dec_free(R.d);
	free(R.in);
	atr_secure_free(R.out, R.fs);
	return err;
}
