/*
 * test_range.c - core/range.c: ranged reads (atr_decrypt_range).
 *
 * An object of 337 bytes in frames of 64 (five full frames and a final
 * one of 17 bytes) and one of 320 (five full frames, the last one
 * final), sealed with an AES key file.  Each range checks the exact
 * bytes written and how many frames were read, which is how the tests
 * see that frames outside the range are never read.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/hooks.h>

#include "envelope.h"
#include "envtest.h"
#include "range.h"

#define FS 64U
#define PLEN 337U

static const char *const key_types[] = {"aes-256", NULL};

ReportHook(PRE_ALL)(struct criterion_test_set *set)
{
	(void)set;
	if (et_keydir_create("range", key_types) != ATR_OK)
		fprintf(stderr, "test_range: key generation failed: %s\n",
		    atr_detail());
}

ReportHook(POST_ALL)(struct criterion_global_stats *stats)
{
	(void)stats;
	et_keydir_remove();
}

static struct atr_key *K;
static uint8_t *PT;
static struct et_buf CT;
static size_t HL;

/* Seals plen bytes of a pattern in frames of FS. */
static void
seal(size_t plen)
{
	struct atr_enc_params p = {0};
	struct atr_header *h = malloc(sizeof(*h));
	enum atr_err err;

	cr_assert_eq(et_key_open("aes-256", &K), ATR_OK, "%s", atr_detail());
	PT = malloc(plen + 1);
	cr_assert(PT != NULL && h != NULL);
	et_fill(PT, plen, 7);
	p.keys = &K;
	p.nkeys = 1;
	p.frame_size = FS;
	err = et_seal(&p, PT, plen, &CT);
	cr_assert_eq(err, ATR_OK, "seal: %s", atr_detail());
	cr_assert_eq(atr_header_parse(CT.p, CT.len, h), ATR_OK);
	HL = h->len;
	free(h);
}

static void
setup(void)
{
	seal(PLEN);
}

static void
teardown(void)
{
	atr_key_free(K);
	free(PT);
	et_buf_free(&CT);
}

/* Reads [off, off + len) of ct[n]; *out gets what was written. */
static enum atr_err
range(const uint8_t *ct, size_t n, uint64_t off, uint64_t len,
    struct et_buf *out, struct atr_range_stats *st)
{
	FILE *in = tmpfile(), *o = tmpfile();
	enum atr_err err;
	long end;

	cr_assert(in != NULL && o != NULL);
	cr_assert_eq(fwrite(ct, 1, n, in), n);
	cr_assert_eq(fflush(in), 0);
	err = atr_decrypt_range(fileno(in), fileno(o), &K, 1, NULL, off, len,
	    st);
	end = lseek(fileno(o), 0, SEEK_END);
	cr_assert_geq(end, 0);
	out->len = (size_t)end;
	out->p = malloc(out->len + 1);
	cr_assert_not_null(out->p);
	cr_assert_eq(pread(fileno(o), out->p, out->len, 0),
	    (ssize_t)out->len);
	fclose(in);
	fclose(o);
	return err;
}

/* The range must succeed with exactly PT[off, off + want) after reading
 * `frames` frames. */
static void
range_ok(uint64_t off, uint64_t len, size_t want, uint64_t frames,
    int final)
{
	struct atr_range_stats st;
	struct et_buf out;
	enum atr_err err = range(CT.p, CT.len, off, len, &out, &st);

	cr_assert_eq(err, ATR_OK, "%llu:%llu: %s: %s",
	    (unsigned long long)off, (unsigned long long)len,
	    atr_errname(err), atr_detail());
	cr_assert_eq(out.len, want, "%llu: %zu bytes, want %zu",
	    (unsigned long long)off, out.len, want);
	cr_assert(want == 0 || memcmp(out.p, PT + off, want) == 0,
	    "bytes differ");
	cr_assert_eq(st.out_bytes, want);
	cr_assert_eq(st.frames_read, frames, "%llu frames read, want %llu",
	    (unsigned long long)st.frames_read, (unsigned long long)frames);
	cr_assert_eq(st.final_read, final, "final frame read: %d", final);
	cr_assert_eq(st.plain_len, PLEN);
	cr_assert_eq(st.cipher_read, HL + frames * (FS + 16) -
	    (final ? FS - (PLEN % FS) : 0));
	et_buf_free(&out);
}

TestSuite(range, .init = setup, .fini = teardown);

Test(range, at_zero)
{
	range_ok(0, 10, 10, 1, 0);
}

Test(range, inside_one_frame)
{
	range_ok(70, 20, 20, 1, 0);
}

Test(range, across_frame_boundaries)
{
	range_ok(60, 140, 140, 4, 0);
}

Test(range, ends_exactly_at_a_frame_end)
{
	range_ok(64, 128, 128, 2, 0);
}

Test(range, in_the_final_frame)
{
	range_ok(330, 7, 7, 1, 1);
	range_ok(320, ATR_RANGE_TO_END, 17, 1, 1);
}

Test(range, whole_object)
{
	range_ok(0, ATR_RANGE_TO_END, PLEN, 6, 1);
	range_ok(0, PLEN, PLEN, 6, 1);
}

Test(range, empty_range_reads_no_frame)
{
	range_ok(100, 0, 0, 0, 0);
}

Test(range, offset_at_the_length_proves_it_with_the_final_frame)
{
	range_ok(PLEN, ATR_RANGE_TO_END, 0, 1, 1);
	range_ok(PLEN, 0, 0, 1, 1);
}

Test(range, past_the_end_is_usage_after_the_final_frame)
{
	struct atr_range_stats st;
	struct et_buf out;

	cr_assert_eq(range(CT.p, CT.len, PLEN + 1, ATR_RANGE_TO_END, &out,
	    &st), ATR_ERR_USAGE);
	cr_assert_eq(out.len, 0);
	cr_assert(st.final_read);
	cr_assert_not_null(strstr(atr_detail(), "past the end"));
	et_buf_free(&out);
	cr_assert_eq(range(CT.p, CT.len, 300, 38, &out, &st), ATR_ERR_USAGE);
	cr_assert_eq(out.len, 0, "nothing written for a range past the end");
	et_buf_free(&out);
	cr_assert_eq(range(CT.p, CT.len, UINT64_MAX - 1, 5, &out, &st),
	    ATR_ERR_USAGE);
	et_buf_free(&out);
}

/* Flips a byte of frame i's ciphertext in a copy of CT. */
static uint8_t *
tampered(uint64_t i)
{
	uint8_t *c = malloc(CT.len);

	cr_assert_not_null(c);
	memcpy(c, CT.p, CT.len);
	c[et_frame_off(HL, FS, i) + 3] ^= 0x01;
	return c;
}

Test(range, tampered_frame_inside_fails_and_releases_nothing_of_it)
{
	struct atr_range_stats st;
	struct et_buf out;
	uint8_t *c = tampered(2);

	cr_assert_eq(range(c, CT.len, 130, 10, &out, &st), ATR_ERR_AUTH);
	cr_assert_eq(out.len, 0, "bytes released from a failed frame");
	et_buf_free(&out);
	/* Frames before it authenticated and went out (the caller discards
	 * them); none of frame 2's. */
	cr_assert_eq(range(c, CT.len, 60, 140, &out, &st), ATR_ERR_AUTH);
	cr_assert_eq(out.len, 128 - 60);
	cr_assert_eq(st.frames_read, 2);
	et_buf_free(&out);
	free(c);
}

Test(range, tampered_frame_outside_is_not_read)
{
	struct atr_range_stats st;
	struct et_buf out;
	uint8_t *c = tampered(4);

	cr_assert_eq(range(c, CT.len, 64, 128, &out, &st), ATR_OK,
	    "%s", atr_detail());
	cr_assert_eq(out.len, 128);
	cr_assert(memcmp(out.p, PT + 64, 128) == 0);
	et_buf_free(&out);
	/* ... but the whole object does read it. */
	cr_assert_eq(range(c, CT.len, 0, ATR_RANGE_TO_END, &out, &st),
	    ATR_ERR_AUTH);
	et_buf_free(&out);
	free(c);
}

Test(range, tampered_header_fails)
{
	struct atr_range_stats st;
	struct et_buf out;
	uint8_t *c = malloc(CT.len);

	cr_assert_not_null(c);
	memcpy(c, CT.p, CT.len);
	c[HL - 1] ^= 0x80;   /* the header MAC */
	cr_assert_eq(range(c, CT.len, 0, 10, &out, &st), ATR_ERR_AUTH);
	cr_assert_eq(out.len, 0);
	et_buf_free(&out);
	free(c);
}

Test(range, truncated_object)
{
	struct atr_range_stats st;
	struct et_buf out;
	size_t cut = et_frame_off(HL, FS, 5);   /* final frame dropped */

	/* The range ends in what now looks like the final frame. */
	cr_assert_eq(range(CT.p, cut, 300, ATR_RANGE_TO_END, &out, &st),
	    ATR_ERR_AUTH);
	cr_assert_eq(out.len, 0);
	et_buf_free(&out);
	/* Truncated before the range: not "past the end" but a failure. */
	cr_assert_eq(range(CT.p, cut, 330, 7, &out, &st), ATR_ERR_AUTH);
	et_buf_free(&out);
	cr_assert_eq(range(CT.p, cut, 320, ATR_RANGE_TO_END, &out, &st),
	    ATR_ERR_AUTH);
	et_buf_free(&out);
	/* Cut inside a tag: the body is no whole number of frames. */
	cr_assert_eq(range(CT.p, cut + 10, 0, 10, &out, &st),
	    ATR_ERR_FORMAT);
	et_buf_free(&out);
	/* A range that stops earlier does not need the final frame. */
	cr_assert_eq(range(CT.p, cut, 0, 10, &out, &st), ATR_OK);
	et_buf_free(&out);
}

Test(range, reordered_frames_inside_fail)
{
	struct atr_range_stats st;
	struct et_buf out;
	uint8_t *c = malloc(CT.len);
	size_t a = et_frame_off(HL, FS, 1), b = et_frame_off(HL, FS, 2);

	cr_assert_not_null(c);
	memcpy(c, CT.p, CT.len);
	memcpy(c + a, CT.p + b, FS + 16);
	memcpy(c + b, CT.p + a, FS + 16);
	cr_assert_eq(range(c, CT.len, 64, 10, &out, &st), ATR_ERR_AUTH);
	cr_assert_eq(out.len, 0);
	et_buf_free(&out);
	cr_assert_eq(range(c, CT.len, 0, 10, &out, &st), ATR_OK);
	et_buf_free(&out);
	free(c);
}

Test(range, a_pipe_is_refused)
{
	struct atr_range_stats st;
	int p[2];

	cr_assert_eq(pipe(p), 0);
	cr_assert_eq(atr_decrypt_range(p[0], -1, &K, 1, NULL, 0, 1, &st),
	    ATR_ERR_USAGE);
	close(p[0]);
	close(p[1]);
}

Test(range, full_last_frame_and_empty_object)
{
	teardown();
	seal(320);
	{
		struct atr_range_stats st;
		struct et_buf out;

		cr_assert_eq(range(CT.p, CT.len, 256, ATR_RANGE_TO_END, &out,
		    &st), ATR_OK, "%s", atr_detail());
		cr_assert_eq(out.len, 64);
		cr_assert(memcmp(out.p, PT + 256, 64) == 0);
		cr_assert_eq(st.frames_read, 1);
		cr_assert(st.final_read);
		et_buf_free(&out);
		cr_assert_eq(range(CT.p, CT.len, 320, 0, &out, &st), ATR_OK);
		cr_assert_eq(st.frames_read, 1);
		et_buf_free(&out);
		teardown();
		seal(0);
		cr_assert_eq(range(CT.p, CT.len, 0, ATR_RANGE_TO_END, &out,
		    &st), ATR_OK, "%s", atr_detail());
		cr_assert_eq(out.len, 0);
		cr_assert(st.final_read);
		et_buf_free(&out);
		cr_assert_eq(range(CT.p, CT.len, 1, 0, &out, &st),
		    ATR_ERR_USAGE);
		et_buf_free(&out);
	}
}
