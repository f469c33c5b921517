/*
 * test_format.c - docs/FORMAT.md, re-implemented from the text.
 *
 * Opens the committed worked example (fixtures/format/hello.atr) using
 * only the primitives and the byte offsets the document gives, not
 * core/envelope.c.  If the code and the document ever disagree, this
 * fails.  ATREST_FORMAT_DUMP=1 prints the intermediate values quoted in
 * the document.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "crypto.h"
#include "envelope.h"
#include "stream.h"

static unsigned char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	unsigned char *b;
	long n;

	cr_assert_not_null(f, "cannot open %s", path);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	b = malloc((size_t)n + 1);
	cr_assert_eq(fread(b, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return b;
}

static void
dump(const char *name, const uint8_t *p, size_t n)
{
	char hex[1024];

	if (getenv("ATREST_FORMAT_DUMP") == NULL || n > 500)
		return;
	atr_hex(p, n, hex);
	fprintf(stderr, "%-16s %s\n", name, hex);
}

static uint32_t
be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

Test(format, worked_example_opens_from_the_spec)
{
	size_t len, plen, klen, kl, wl, off, got;
	unsigned char *ct = slurp("fixtures/format/hello.atr", &len);
	unsigned char *pt = slurp("fixtures/format/hello.txt", &plen);
	unsigned char *kx = slurp("fixtures/format/kek.hex", &klen);
	uint8_t kek[32], unwrapped[64], ctx[2048], digest[32], okm[96];
	uint8_t info[15 + 53], mac[32], nonce[12], out[64];
	size_t n = 0;

	cr_assert_eq(atr_unhex((char *)kx, 64, kek, 32, &got), 0);
	/* Core: offsets 0..86. */
	cr_assert_eq(memcmp(ct, "ATREST", 6), 0);
	cr_assert_eq(ct[6], 1);
	cr_assert_eq(ct[7], 0);
	cr_assert_eq(ct[8] << 8 | ct[9], 0x0001);
	cr_assert_eq(be32(ct + 42), 64);
	cr_assert_eq(ct[85] << 8 | ct[86], 1);
	/* Stanza 0 at 87. */
	off = 87;
	cr_assert_eq(ct[off], ATR_PROV_FILE_AES);
	cr_assert_eq(ct[off + 1], ATR_WRAP_AES_KWP);
	cr_assert_eq(ct[off + 2], ATR_KIND_DIRECT);
	kl = (size_t)(ct[off + 3] << 8 | ct[off + 4]);
	off += 5;
	const uint8_t *kid = ct + off;
	off += kl;
	wl = (size_t)(ct[off] << 8 | ct[off + 1]);
	off += 2;
	cr_assert_eq(wl, 72);
	cr_assert_eq(atr_aes_kw_unwrap(1, kek, 32, ct + off, wl, unwrapped,
	    &got), ATR_OK);
	cr_assert_eq(got, 64);
	off += wl;
	dump("dek", unwrapped, 32);

	/* Wrap context: "atrest/v1 wrap" NUL, version, kind, 32, object id,
	 * provider, alg, u16 key id length, key id. */
	memcpy(ctx, "atrest/v1 wrap", 15);
	n = 15;
	ctx[n++] = 1;
	ctx[n++] = 0;
	ctx[n++] = 32;
	memcpy(ctx + n, ct + 10, 32);
	n += 32;
	ctx[n++] = ATR_PROV_FILE_AES;
	ctx[n++] = ATR_WRAP_AES_KWP;
	ctx[n++] = (uint8_t)(kl >> 8);
	ctx[n++] = (uint8_t)kl;
	memcpy(ctx + n, kid, kl);
	n += kl;
	cr_assert_eq(atr_sha256(ctx, n, digest), ATR_OK);
	dump("context digest", digest, 32);
	cr_assert_eq(memcmp(digest, unwrapped + 32, 32), 0,
	    "wrap context digest differs from FORMAT.md");

	/* HKDF-SHA-256: salt = object id, info = "atrest/v1 keys" NUL | core[0..53). */
	memcpy(info, "atrest/v1 keys", 15);
	memcpy(info + 15, ct, 53);
	cr_assert_eq(atr_hkdf_sha256(unwrapped, 32, ct + 10, 32, info,
	    sizeof(info), okm, 96), ATR_OK);
	dump("commitment", okm, 32);
	dump("payload key", okm + 32, 32);
	dump("header mac key", okm + 64, 32);
	cr_assert_eq(memcmp(okm, ct + 53, 32), 0, "commitment differs");
	cr_assert_eq(atr_hmac_sha256(okm + 64, 32, ct, off, mac), ATR_OK);
	cr_assert_eq(memcmp(mac, ct + off, 32), 0, "header MAC differs");
	off += 32;

	/* Frame 0, final: nonce = prefix(7) | 00000000 | 01. */
	memcpy(nonce, ct + 46, 7);
	memset(nonce + 7, 0, 4);
	nonce[11] = 1;
	dump("frame 0 nonce", nonce, 12);
	cr_assert_eq(len - off, plen + 16);
	cr_assert_eq(atr_gcm_open(okm + 32, 32, nonce, 12, NULL, 0, ct + off,
	    plen, ct + off + plen, 16, out), ATR_OK);
	cr_assert_eq(memcmp(out, pt, plen), 0);
	free(ct);
	free(pt);
	free(kx);
}

Test(format, header_parser_agrees_with_the_example)
{
	size_t len;
	unsigned char *ct = slurp("fixtures/format/hello.atr", &len);
	struct atr_header *h = malloc(sizeof(*h));

	cr_assert_eq(atr_header_parse(ct, len, h), ATR_OK);
	cr_assert_eq(h->len, 273);
	cr_assert_eq(h->frame_size, 64);
	cr_assert_eq(h->nstanzas, 1);
	cr_assert_str_eq(h->st[0].key_id,
	    "kek-sha256:b149d97e84a0d7f7fb951c467a42092b6d6cd2c28279c494984bd812b9c072e5");
	free(h);
	free(ct);
}
