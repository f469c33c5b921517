/* see stream.h */
#include "stream.h"

#include <stdlib.h>
#include <string.h>

#include "fsutil.h"

enum atr_err
atr_encrypt_stream(struct atr_enc *e, int in_fd, int out_fd,
    struct atr_stream_stats *st)
{
	size_t fs = atr_enc_frame_size(e), hl, na = 0, nb = 0;
	uint8_t *a = NULL, *b = NULL, *o = NULL, *t;
	const uint8_t *hdr = atr_enc_header(e, &hl);
	enum atr_err err;
	int final;

	memset(st, 0, sizeof(*st));
	a = malloc(fs);
	b = malloc(fs);
	o = malloc(fs + ATR_GCM_TAGBYTES);
	if (a == NULL || b == NULL || o == NULL) {
		err = ATR_ERR_NOMEM;
		goto out;
	}
	err = atr_write_all(out_fd, hdr, hl);
	if (err != ATR_OK)
		goto out;
	st->cipher_bytes = hl;
	err = atr_read_full(in_fd, a, fs, &na);
	if (err != ATR_OK)
		goto out;
	for (;;) {
		/* A full frame is final only if nothing follows it: read
		 * the next one ahead to know. */
		final = na < fs;
		if (!final) {
			err = atr_read_full(in_fd, b, fs, &nb);
			if (err != ATR_OK)
				goto out;
			final = nb == 0;
		}
		err = atr_enc_frame(e, a, na, final, o);
		if (err != ATR_OK)
			goto out;
		err = atr_write_all(out_fd, o, na + ATR_GCM_TAGBYTES);
		if (err != ATR_OK)
			goto out;
		st->plain_bytes += na;
		st->cipher_bytes += na + ATR_GCM_TAGBYTES;
		st->frames++;
		if (final)
			break;
		t = a;
		a = b;
		b = t;
		na = nb;
	}
out:
	/* Plaintext buffers are wiped before they are released. */
	atr_secure_free(a, fs);
	atr_secure_free(b, fs);
	free(o);
	return err;
}

enum atr_err
atr_read_header(int in_fd, struct atr_header *h, uint8_t *spill,
    size_t *extra)
{
	enum atr_err err;
	size_t got;

	*extra = 0;
	err = atr_read_full(in_fd, spill, ATR_HEADER_MAX, &got);
	if (err != ATR_OK)
		return err;
	err = atr_header_parse(spill, got, h);
	if (err != ATR_OK)
		return err;
	*extra = got - h->len;
	memmove(spill, spill + h->len, *extra);
	return ATR_OK;
}

/* Fills buf up to want bytes: first from the spill left after the
 * header, then from the descriptor. */
static enum atr_err
fill(int fd, uint8_t *spill, size_t *spill_len, size_t *spill_off,
    uint8_t *buf, size_t want, size_t *got)
{
	size_t take = 0, n = 0;
	enum atr_err err;

	if (*spill_len > *spill_off) {
		take = *spill_len - *spill_off;
		if (take > want)
			take = want;
		memcpy(buf, spill + *spill_off, take);
		*spill_off += take;
	}
	err = atr_read_full(fd, buf + take, want - take, &n);
	*got = take + n;
	return err;
}

enum atr_err
atr_decrypt_stream(int in_fd, int out_fd, struct atr_key *const *keys,
    size_t nkeys, const struct atr_dec_opts *opts,
    struct atr_stream_stats *st)
{
	struct atr_header *h = NULL;
	struct atr_dec *d = NULL;
	uint8_t *spill = NULL, *a = NULL, *b = NULL, *o = NULL, *t;
	size_t extra = 0, soff = 0, rec, na = 0, nb = 0, fs = 0;
	uint64_t index = 0;
	enum atr_err err;
	int final;

	memset(st, 0, sizeof(*st));
	h = malloc(sizeof(*h));
	spill = malloc(ATR_HEADER_MAX);
	if (h == NULL || spill == NULL) {
		err = ATR_ERR_NOMEM;
		goto out;
	}
	err = atr_read_header(in_fd, h, spill, &extra);
	if (err != ATR_OK)
		goto out;
	err = atr_dec_new(h, keys, nkeys, opts, &d, &st->key_index,
	    &st->stanza_index);
	if (err != ATR_OK)
		goto out;
	fs = h->frame_size;
	rec = fs + ATR_GCM_TAGBYTES;
	st->cipher_bytes = h->len;
	a = malloc(rec);
	b = malloc(rec);
	o = malloc(fs);
	if (a == NULL || b == NULL || o == NULL) {
		err = ATR_ERR_NOMEM;
		goto out;
	}
	err = fill(in_fd, spill, &extra, &soff, a, rec, &na);
	if (err != ATR_OK)
		goto out;
	if (na == 0) {
		err = atr_fail(ATR_ERR_FORMAT, "missing final frame");
		goto out;
	}
	for (;;) {
		final = na < rec;
		if (!final) {
			err = fill(in_fd, spill, &extra, &soff, b, rec, &nb);
			if (err != ATR_OK)
				goto out;
			final = nb == 0;
		}
		/* A frame that claims to be final but was sealed as a middle
		 * frame (truncation at a frame boundary) fails its tag. */
		err = atr_dec_frame(d, index, final, a, na, o);
		if (err != ATR_OK)
			goto out;
		if (out_fd >= 0) {
			err = atr_write_all(out_fd, o, na - ATR_GCM_TAGBYTES);
			if (err != ATR_OK)
				goto out;
		}
		st->plain_bytes += na - ATR_GCM_TAGBYTES;
		st->cipher_bytes += na;
		st->frames++;
		index++;
		if (final)
			break;
		t = a;
		a = b;
		b = t;
		na = nb;
	}
out:
	atr_dec_free(d);
	free(h);
	free(spill);
	free(a);
	free(b);
	atr_secure_free(o, fs);
	return err;
}
