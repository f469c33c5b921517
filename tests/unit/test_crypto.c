/*
 * test_crypto.c - core/crypto.c against external vectors and known
 * answers.
 *
 * Every vector file is run in full and every case is counted: a test
 * asserts the exact number of passed, skipped and (for Wycheproof
 * "acceptable") accepted/rejected cases the vector files hold (counted
 * when the files were added), so a file that silently loses vectors
 * fails.  Skips are only the cases
 * OpenSSL 3 cannot run (GCM IVs over 128 bytes) and must be reported by
 * the library as ATR_ERR_UNSUPPORTED.  Mismatches print the tcId or
 * Count, the flags and expected vs actual hex (at most MAX_PRINTED per
 * test, all are counted).
 *
 * Sources: Project Wycheproof (C2SP) testvectors_v1, NIST CAVP GCMVS
 * (SP 800-38D), RFC 5869 Appendix A, RFC 4231 section 4, FIPS 180-4.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <criterion/logging.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "crypto.h"
#include "testutil.h"
#include "vectors.h"

#define MAX_PRINTED 25
#define GUARD 8       /* bytes after an output buffer that must stay 0xAA */
#define FILL 0xAA

/* ---- counting and reporting ---- */

struct tally {
	const char *what;
	long total;
	long passed;
	long skipped;
	long failed;
	long printed;
	/* per-module extras */
	long valid_ok, invalid_ok;     /* passed, split by expectation */
	long unsupported;              /* invalid, rejected as unsupported */
	long acc_accepted, acc_rejected;
	long frame_checked;            /* also run through struct atr_gcm */
	long fail_markers;             /* NIST FAIL cases */
};

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static void
tfail(struct tally *t, const char *fmt, ...)
{
	char msg[2048];
	va_list ap;

	t->failed++;
	if (t->printed++ >= MAX_PRINTED)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	cr_log_error("%s: %s", t->what, msg);
}

/* 1 when equal; otherwise records a failure with both values in hex. */
static int
same(struct tally *t, const char *id, const char *field, const uint8_t *exp,
    size_t exp_len, const uint8_t *got, size_t got_len)
{
	char *he, *hg;

	if (exp_len == got_len && (exp_len == 0 || memcmp(exp, got, exp_len) == 0))
		return 1;
	he = tu_hex(exp, exp_len);
	hg = tu_hex(got, got_len);
	tfail(t, "%s: %s mismatch: expected %s, got %s", id, field,
	    he ? he : "?", hg ? hg : "?");
	free(he);
	free(hg);
	return 0;
}

static int
guard_ok(const uint8_t *buf, size_t off)
{
	size_t i;

	for (i = 0; i < GUARD; i++)
		if (buf[off + i] != FILL)
			return 0;
	return 1;
}

static int
all_fill(const uint8_t *buf, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (buf[i] != FILL)
			return 0;
	return 1;
}

/* malloc(n + GUARD) filled with FILL; n may be 0. */
static uint8_t *
filled(size_t n)
{
	uint8_t *p = malloc(n + GUARD);

	cr_assert_not_null(p);
	memset(p, FILL, n + GUARD);
	return p;
}

static void
load_wp(const char *rel, struct wp_file *f, const char *algorithm)
{
	char err[512], *path = tu_vector_path(rel);

	cr_assert_not_null(path);
	cr_assert_eq(wp_load(path, f, err, sizeof(err)), 0,
	    "%s (set VECTOR_DIR; run from the repository root)", err);
	cr_assert_str_eq(f->algorithm, algorithm, "%s: algorithm", path);
	/* f->path points at path: freed by the caller through wp_done(). */
}

static void
wp_done(struct wp_file *f)
{
	char *path = (char *)(uintptr_t)f->path;

	wp_free(f);
	free(path);
}

static void
summary(const struct tally *t, const char *extra)
{
	/* stderr as well as the log: run-tests.sh shows either on failure. */
	fprintf(stderr, "%s: %ld passed, %ld skipped%s, %ld failed of %ld\n",
	    t->what, t->passed, t->skipped, extra, t->failed, t->total);
	cr_log_info("%s: %ld passed, %ld skipped%s, %ld failed of %ld",
	    t->what, t->passed, t->skipped, extra, t->failed, t->total);
}

/* ---- AES-GCM: Wycheproof ---- */

/* The frame API on a 256-bit key, 96-bit IV, 128-bit tag case. */
static void
gcm_frame_check(struct tally *t, const char *id, int expect_ok,
    const uint8_t *key, const uint8_t *iv, const uint8_t *aad, size_t aad_len,
    const uint8_t *msg, size_t msg_len, const uint8_t *ct, size_t ct_len,
    const uint8_t *tag)
{
	struct atr_gcm g;
	uint8_t *in = filled(ct_len + 16), *out = NULL, *pt = filled(ct_len);
	enum atr_err e;

	t->frame_checked++;
	memcpy(in, ct, ct_len);
	memcpy(in + ct_len, tag, 16);
	e = atr_gcm_init(&g, key);
	if (e != ATR_OK) {
		tfail(t, "%s: atr_gcm_init: %s", id, atr_errname(e));
		goto out;
	}
	if (expect_ok) {
		out = filled(msg_len + 16);
		e = atr_gcm_seal_frame(&g, iv, aad, aad_len, msg, msg_len, out);
		if (e != ATR_OK)
			tfail(t, "%s: seal_frame: %s", id, atr_errname(e));
		else if (same(t, id, "frame ct||tag", in, ct_len + 16, out,
		    msg_len + 16) && !guard_ok(out, msg_len + 16))
			tfail(t, "%s: seal_frame wrote past ct||tag", id);
	}
	e = atr_gcm_open_frame(&g, iv, aad, aad_len, in, ct_len, pt);
	if (expect_ok) {
		if (e != ATR_OK)
			tfail(t, "%s: open_frame: %s, expected ok", id,
			    atr_errname(e));
		else
			same(t, id, "frame pt", msg, msg_len, pt, ct_len);
	} else if (e != ATR_ERR_AUTH) {
		tfail(t, "%s: open_frame: %s, expected auth", id,
		    atr_errname(e));
	} else if (!tu_all_zero(pt, ct_len)) {
		tfail(t, "%s: open_frame failed but left plaintext", id);
	}
	if (!guard_ok(pt, ct_len))
		tfail(t, "%s: open_frame wrote past the plaintext", id);
out:
	atr_gcm_clear(&g);
	free(in);
	free(out);
	free(pt);
}

static int
gcm_wp_case(const struct wp_test *wt, void *arg)
{
	struct tally *t = arg;
	const cJSON *c = wt->test;
	uint8_t *key, *iv, *aad, *msg, *ct, *tag, *ct2 = NULL, *pt = NULL;
	uint8_t tag2[16 + GUARD];
	size_t key_len, iv_len, aad_len, msg_len, ct_len, tag_len;
	long failed = t->failed;
	enum atr_err e;
	char id[320];

	t->total++;
	snprintf(id, sizeof(id), "tcId %ld [%s] %s", wt->tc_id, wt->flags,
	    wp_result_name(wt->result));
	key = wp_hex(c, "key", &key_len);
	iv = wp_hex(c, "iv", &iv_len);
	aad = wp_hex(c, "aad", &aad_len);
	msg = wp_hex(c, "msg", &msg_len);
	ct = wp_hex(c, "ct", &ct_len);
	tag = wp_hex(c, "tag", &tag_len);
	if (!key || !iv || !aad || !msg || !ct || !tag || tag_len > 16) {
		tfail(t, "%s: missing or malformed field", id);
		goto out;
	}
	pt = filled(ct_len);
	if (wt->result == WP_VALID) {
		ct2 = filled(msg_len);
		memset(tag2, FILL, sizeof(tag2));
		e = atr_gcm_seal(key, key_len, iv, iv_len, aad, aad_len, msg,
		    msg_len, ct2, tag2, tag_len);
		if (e == ATR_ERR_UNSUPPORTED && iv_len > 128) {
			/* OpenSSL 3 takes 1..128-byte GCM IVs. */
			e = atr_gcm_open(key, key_len, iv, iv_len, aad, aad_len,
			    ct, ct_len, tag, tag_len, pt);
			if (e != ATR_ERR_UNSUPPORTED)
				tfail(t, "%s: open of a %zu-byte IV gave %s, "
				    "expected unsupported", id, iv_len,
				    atr_errname(e));
			else
				t->skipped++;
			goto out;
		}
		if (e != ATR_OK) {
			tfail(t, "%s: seal: %s (%s)", id, atr_errname(e),
			    atr_detail());
			goto out;
		}
		same(t, id, "ct", ct, ct_len, ct2, msg_len);
		same(t, id, "tag", tag, tag_len, tag2, tag_len);
		if (!guard_ok(ct2, msg_len) || !guard_ok(tag2, tag_len))
			tfail(t, "%s: seal wrote past its output", id);
		e = atr_gcm_open(key, key_len, iv, iv_len, aad, aad_len, ct,
		    ct_len, tag, tag_len, pt);
		if (e != ATR_OK)
			tfail(t, "%s: open: %s, expected ok", id,
			    atr_errname(e));
		else
			same(t, id, "pt", msg, msg_len, pt, ct_len);
	} else {
		e = atr_gcm_open(key, key_len, iv, iv_len, aad, aad_len, ct,
		    ct_len, tag, tag_len, pt);
		if (e == ATR_ERR_UNSUPPORTED && iv_len == 0) {
			/* ZeroLengthIv: SP 800-38D 5.2.1.1 needs len(IV) >= 1;
			 * rejecting the parameters is agreement. */
			t->unsupported++;
		} else if (e != ATR_ERR_AUTH) {
			tfail(t, "%s: open: %s, expected auth", id,
			    atr_errname(e));
		} else if (!tu_all_zero(pt, ct_len)) {
			tfail(t, "%s: open failed but left plaintext", id);
		}
	}
	if (!guard_ok(pt, ct_len))
		tfail(t, "%s: open wrote past the plaintext", id);
	if (key_len == 32 && iv_len == 12 && tag_len == 16)
		gcm_frame_check(t, id, wt->result == WP_VALID, key, iv, aad,
		    aad_len, msg, msg_len, ct, ct_len, tag);
	if (t->failed == failed) {
		t->passed++;
		if (wt->result == WP_VALID)
			t->valid_ok++;
		else
			t->invalid_ok++;
	}
out:
	free(key);
	free(iv);
	free(aad);
	free(msg);
	free(ct);
	free(tag);
	free(ct2);
	free(pt);
	return 0;
}

Test(crypto_gcm, wycheproof)
{
	struct tally t = { .what = "aes_gcm" };
	struct wp_file f;
	char err[512], extra[128];
	long n;

	load_wp("wycheproof/aes_gcm_test.json", &f, "AES-GCM");
	n = wp_foreach(&f, gcm_wp_case, &t, err, sizeof(err));
	cr_assert_geq(n, 0, "%s", err);
	snprintf(extra, sizeof(extra), " (IV longer than 128 bytes: "
	    "unsupported by OpenSSL 3)");
	summary(&t, extra);
	cr_expect_eq(n, f.number_of_tests, "visited %ld of %ld declared", n,
	    f.number_of_tests);
	cr_expect_eq(t.failed, 0, "%ld aes_gcm vectors failed", t.failed);
	/* The file's counts: 316 = 229 valid (3 with 257-byte IVs) + 87 invalid
	 * (6 of them ZeroLengthIv); 66 fit the frame API. */
	cr_expect_eq(n, 316);
	cr_expect_eq(t.passed, 313);
	cr_expect_eq(t.valid_ok, 226);
	cr_expect_eq(t.invalid_ok, 87);
	cr_expect_eq(t.unsupported, 6);
	cr_expect_eq(t.skipped, 3);
	cr_expect_eq(t.frame_checked, 39 + 27);
	wp_done(&f);
}

Test(crypto_gcm, parameter_rejection)
{
	uint8_t key[32] = { 1 }, iv[129] = { 2 }, pt[16] = { 3 }, ct[16];
	uint8_t tag[17], out[16];

	/* Lengths OpenSSL would refuse or that SP 800-38D forbids are
	 * ATR_ERR_UNSUPPORTED before any EVP call. */
	cr_expect_eq(atr_gcm_seal(key, 32, iv, 0, NULL, 0, pt, 16, ct, tag,
	    16), ATR_ERR_UNSUPPORTED);
	cr_expect_eq(atr_gcm_seal(key, 32, iv, 129, NULL, 0, pt, 16, ct, tag,
	    16), ATR_ERR_UNSUPPORTED);
	cr_expect_eq(atr_gcm_seal(key, 20, iv, 12, NULL, 0, pt, 16, ct, tag,
	    16), ATR_ERR_UNSUPPORTED);
	cr_expect_eq(atr_gcm_seal(key, 32, iv, 12, NULL, 0, pt, 16, ct, tag,
	    3), ATR_ERR_UNSUPPORTED);
	cr_expect_eq(atr_gcm_seal(key, 32, iv, 12, NULL, 0, pt, 16, ct, tag,
	    17), ATR_ERR_UNSUPPORTED);
	cr_assert_eq(atr_gcm_seal(key, 32, iv, 128, NULL, 0, pt, 16, ct, tag,
	    16), ATR_OK);
	cr_expect_eq(atr_gcm_open(key, 32, iv, 128, NULL, 0, ct, 16, tag, 16,
	    out), ATR_OK);
	cr_expect_eq(memcmp(out, pt, 16), 0);
	cr_expect_eq(atr_gcm_open(key, 32, iv, 0, NULL, 0, ct, 16, tag, 16,
	    out), ATR_ERR_UNSUPPORTED);
	cr_expect_eq(atr_gcm_open(key, 32, iv, 12, NULL, 0, ct, 16, tag, 17,
	    out), ATR_ERR_UNSUPPORTED);
	/* SP 800-38D 7.1 step 8: a t-bit tag is MSB_t of the full tag, so
	 * a 15-byte prefix opens: the tag length must be fixed by the
	 * caller (the envelope uses struct atr_gcm, 16 bytes only). */
	cr_expect_eq(atr_gcm_open(key, 32, iv, 128, NULL, 0, ct, 16, tag, 15,
	    out), ATR_OK);
	tag[15] ^= 1;
	memset(out, FILL, sizeof(out));
	cr_expect_eq(atr_gcm_open(key, 32, iv, 128, NULL, 0, ct, 16, tag, 16,
	    out), ATR_ERR_AUTH);
	cr_expect(tu_all_zero(out, 16));
}

/* ---- AES-GCM: NIST CAVP ---- */

struct nist_ctx {
	struct tally t;
	int decrypt;
	long keylen;  /* bits, from the file name */
};

static int
nist_case(const struct rsp_case *rc, void *arg)
{
	struct nist_ctx *nc = arg;
	struct tally *t = &nc->t;
	const char *names[] = { "Keylen", "IVlen", "PTlen", "AADlen",
	    "Taglen" };
	long sect[5];
	const char *hpt = rsp_field(rc, "PT");
	uint8_t *key = NULL, *iv = NULL, *aad = NULL, *ct = NULL, *tag = NULL;
	uint8_t *pt = NULL, *out = NULL, tag2[16 + GUARD];
	size_t key_len, iv_len, aad_len, ct_len, tag_len, pt_len = 0;
	long failed = t->failed;
	enum atr_err e;
	char id[96];
	size_t i;

	t->total++;
	snprintf(id, sizeof(id), "line %u Count %ld [Keylen %s IVlen %s "
	    "Taglen %s]%s", rc->line, rc->count, rsp_sect(rc, "Keylen"),
	    rsp_sect(rc, "IVlen"), rsp_sect(rc, "Taglen"),
	    rc->fail ? " FAIL" : "");
	for (i = 0; i < 5; i++) {
		if (rsp_sect_long(rc, names[i], &sect[i]) != 0) {
			tfail(t, "%s: section has no %s", id, names[i]);
			return 0;
		}
	}
	key = tu_unhex(rsp_field(rc, "Key"), &key_len);
	iv = tu_unhex(rsp_field(rc, "IV"), &iv_len);
	aad = tu_unhex(rsp_field(rc, "AAD"), &aad_len);
	ct = tu_unhex(rsp_field(rc, "CT"), &ct_len);
	tag = tu_unhex(rsp_field(rc, "Tag"), &tag_len);
	if (hpt != NULL)
		pt = tu_unhex(hpt, &pt_len);
	if (!key || !iv || !aad || !ct || !tag || (hpt != NULL && !pt)) {
		tfail(t, "%s: missing or malformed field", id);
		goto out;
	}
	/* Either PT or FAIL, and FAIL only in decrypt files. */
	if ((hpt != NULL) == (rc->fail != 0) || (rc->fail && !nc->decrypt)) {
		tfail(t, "%s: needs exactly one of PT and FAIL", id);
		goto out;
	}
	/* The section header must describe the case: guards the parser. */
	if (sect[0] != nc->keylen || (long)key_len * 8 != sect[0] ||
	    (long)iv_len * 8 != sect[1] || (long)ct_len * 8 != sect[2] ||
	    (hpt != NULL && pt_len != ct_len) ||
	    (long)aad_len * 8 != sect[3] || (long)tag_len * 8 != sect[4]) {
		tfail(t, "%s: lengths do not match the section", id);
		goto out;
	}
	out = filled(ct_len);
	if (!nc->decrypt) {
		memset(tag2, FILL, sizeof(tag2));
		e = atr_gcm_seal(key, key_len, iv, iv_len, aad, aad_len, pt,
		    pt_len, out, tag2, tag_len);
		if (e != ATR_OK) {
			tfail(t, "%s: seal: %s (%s)", id, atr_errname(e),
			    atr_detail());
			goto out;
		}
		same(t, id, "CT", ct, ct_len, out, pt_len);
		same(t, id, "Tag", tag, tag_len, tag2, tag_len);
		if (!guard_ok(out, pt_len) || !guard_ok(tag2, tag_len))
			tfail(t, "%s: seal wrote past its output", id);
		memset(out, FILL, ct_len);
	}
	e = atr_gcm_open(key, key_len, iv, iv_len, aad, aad_len, ct, ct_len,
	    tag, tag_len, out);
	if (rc->fail) {
		nc->t.fail_markers++;
		if (e != ATR_ERR_AUTH)
			tfail(t, "%s: open: %s, expected auth", id,
			    atr_errname(e));
		else if (!tu_all_zero(out, ct_len))
			tfail(t, "%s: open failed but left plaintext", id);
	} else if (e != ATR_OK) {
		tfail(t, "%s: open: %s, expected ok", id, atr_errname(e));
	} else {
		same(t, id, "PT", pt, pt_len, out, ct_len);
	}
	if (!guard_ok(out, ct_len))
		tfail(t, "%s: open wrote past the plaintext", id);
	if (key_len == 32 && iv_len == 12 && tag_len == 16)
		gcm_frame_check(t, id, !rc->fail, key, iv, aad, aad_len, pt,
		    pt_len, ct, ct_len, tag);
	if (t->failed == failed)
		t->passed++;
out:
	free(key);
	free(iv);
	free(aad);
	free(ct);
	free(tag);
	free(pt);
	free(out);
	return 0;
}

static void
run_nist(const char *file, int decrypt, long keylen, long expect_fail)
{
	struct nist_ctx nc;
	char err[512], extra[96], *path, *rel;
	long n;

	memset(&nc, 0, sizeof(nc));
	nc.t.what = file;
	nc.decrypt = decrypt;
	nc.keylen = keylen;
	rel = tu_path("nist-cavp-gcm", file);
	path = tu_vector_path(rel);
	cr_assert_not_null(path);
	n = rsp_foreach(path, nist_case, &nc, err, sizeof(err));
	cr_assert_geq(n, 0, "%s (set VECTOR_DIR; run from the repository "
	    "root)", err);
	snprintf(extra, sizeof(extra), " (none expected), %ld FAIL cases "
	    "rejected, %ld via atr_gcm", nc.t.fail_markers,
	    nc.t.frame_checked);
	summary(&nc.t, extra);
	/* CAVP GCM response files: 7875 cases per file, all checked; 375
	 * per 256-bit file are 96-bit IV / 128-bit tag (frame API). */
	cr_expect_eq(n, 7875, "%s: %ld cases", file, n);
	cr_expect_eq(nc.t.total, 7875);
	cr_expect_eq(nc.t.failed, 0, "%s: %ld cases failed", file,
	    nc.t.failed);
	cr_expect_eq(nc.t.passed, 7875);
	cr_expect_eq(nc.t.skipped, 0);
	cr_expect_eq(nc.t.fail_markers, expect_fail, "%s: %ld FAIL cases",
	    file, nc.t.fail_markers);
	cr_expect_eq(nc.t.frame_checked, keylen == 256 ? 375 : 0);
	free(rel);
	free(path);
}

Test(crypto_gcm_nist, encrypt128) { run_nist("gcmEncryptExtIV128.rsp", 0, 128, 0); }
Test(crypto_gcm_nist, encrypt192) { run_nist("gcmEncryptExtIV192.rsp", 0, 192, 0); }
Test(crypto_gcm_nist, encrypt256) { run_nist("gcmEncryptExtIV256.rsp", 0, 256, 0); }
Test(crypto_gcm_nist, decrypt128) { run_nist("gcmDecrypt128.rsp", 1, 128, 4011); }
Test(crypto_gcm_nist, decrypt192) { run_nist("gcmDecrypt192.rsp", 1, 192, 3978); }
Test(crypto_gcm_nist, decrypt256) { run_nist("gcmDecrypt256.rsp", 1, 256, 3919); }

/* ---- AES-GCM: the reusable frame context ---- */

struct frame_fixture {
	uint8_t key[32], nonce[12], aad[29], pt[67];
	uint8_t sealed[67 + 16];
};

static void
make_frame(struct atr_gcm *g, struct frame_fixture *f)
{
	size_t i;

	for (i = 0; i < sizeof(f->key); i++)
		f->key[i] = (uint8_t)(i * 7 + 1);
	for (i = 0; i < sizeof(f->nonce); i++)
		f->nonce[i] = (uint8_t)(0xc0 + i);
	for (i = 0; i < sizeof(f->aad); i++)
		f->aad[i] = (uint8_t)(i ^ 0x5a);
	for (i = 0; i < sizeof(f->pt); i++)
		f->pt[i] = (uint8_t)(i * 3);
	cr_assert_eq(atr_gcm_init(g, f->key), ATR_OK);
	cr_assert_eq(atr_gcm_seal_frame(g, f->nonce, f->aad, sizeof(f->aad),
	    f->pt, sizeof(f->pt), f->sealed), ATR_OK);
}

/* Opens with one byte of one input changed; must fail and wipe. */
static void
expect_tamper_fails(struct atr_gcm *g, const char *what, size_t i,
    const uint8_t *nonce, const uint8_t *aad, size_t aad_len,
    const uint8_t *in, size_t ct_len)
{
	uint8_t pt[67 + GUARD];
	enum atr_err e;

	memset(pt, FILL, sizeof(pt));
	e = atr_gcm_open_frame(g, nonce, aad, aad_len, in, ct_len, pt);
	cr_expect_eq(e, ATR_ERR_AUTH, "%s byte %zu flipped: %s, expected auth",
	    what, i, atr_errname(e));
	cr_expect(tu_all_zero(pt, ct_len), "%s byte %zu flipped: plaintext "
	    "buffer not wiped", what, i);
	cr_expect(guard_ok(pt, ct_len), "%s byte %zu: wrote past pt", what, i);
}

Test(crypto_gcm_frame, tamper_every_byte)
{
	struct atr_gcm g;
	struct frame_fixture f;
	uint8_t in[sizeof(f.sealed)], nonce[12], aad[sizeof(f.aad)];
	uint8_t pt[sizeof(f.pt)];
	size_t i, ct_len = sizeof(f.pt), checked = 0;

	make_frame(&g, &f);
	/* Ciphertext bytes then tag bytes (SP 800-38D 7.2: any change to
	 * C, T, IV or A must fail authentication). */
	for (i = 0; i < sizeof(f.sealed); i++, checked++) {
		memcpy(in, f.sealed, sizeof(in));
		in[i] ^= (uint8_t)(1U << (i % 8));
		expect_tamper_fails(&g, i < ct_len ? "ciphertext" : "tag",
		    i, f.nonce, f.aad, sizeof(f.aad), in, ct_len);
	}
	for (i = 0; i < sizeof(nonce); i++, checked++) {
		memcpy(nonce, f.nonce, sizeof(nonce));
		nonce[i] ^= 0x80;
		expect_tamper_fails(&g, "nonce", i, nonce, f.aad,
		    sizeof(f.aad), f.sealed, ct_len);
	}
	for (i = 0; i < sizeof(aad); i++, checked++) {
		memcpy(aad, f.aad, sizeof(aad));
		aad[i] ^= 0x01;
		expect_tamper_fails(&g, "aad", i, f.nonce, aad, sizeof(aad),
		    f.sealed, ct_len);
	}
	/* Length changes: a missing or extra AAD byte, a shorter
	 * ciphertext (the tag then starts one byte early). */
	expect_tamper_fails(&g, "aad length -1", 0, f.nonce, f.aad,
	    sizeof(f.aad) - 1, f.sealed, ct_len);
	expect_tamper_fails(&g, "no aad", 0, f.nonce, NULL, 0, f.sealed,
	    ct_len);
	expect_tamper_fails(&g, "ct length -1", 0, f.nonce, f.aad,
	    sizeof(f.aad), f.sealed, ct_len - 1);
	cr_expect_eq(checked, sizeof(f.sealed) + 12 + sizeof(f.aad));
	/* The context survives failed opens: the genuine frame opens. */
	cr_assert_eq(atr_gcm_open_frame(&g, f.nonce, f.aad, sizeof(f.aad),
	    f.sealed, ct_len, pt), ATR_OK);
	cr_expect_eq(memcmp(pt, f.pt, ct_len), 0);
	atr_gcm_clear(&g);
	cr_expect_null(g.enc);
	cr_expect_null(g.dec);
}

Test(crypto_gcm_frame, reuse_matches_one_shot)
{
	struct atr_gcm g;
	struct frame_fixture f;
	uint8_t out[4][67 + 16], ct[67], tag[16], pt[67], nonce[4][12];
	size_t i, lens[4] = { 0, 1, 16, 67 };

	make_frame(&g, &f);
	/* Several frames through one context, each equal to the one-shot
	 * AES-256-GCM of the same inputs; then opened in reverse order. */
	for (i = 0; i < 4; i++) {
		memcpy(nonce[i], f.nonce, 12);
		nonce[i][11] = (uint8_t)i;
		cr_assert_eq(atr_gcm_seal_frame(&g, nonce[i], f.aad,
		    i == 0 ? 0 : sizeof(f.aad), f.pt, lens[i], out[i]), ATR_OK);
		cr_assert_eq(atr_gcm_seal(f.key, 32, nonce[i], 12, f.aad,
		    i == 0 ? 0 : sizeof(f.aad), f.pt, lens[i], ct, tag, 16),
		    ATR_OK);
		cr_expect_eq(memcmp(out[i], ct, lens[i]), 0, "frame %zu ct", i);
		cr_expect_eq(memcmp(out[i] + lens[i], tag, 16), 0,
		    "frame %zu tag", i);
	}
	for (i = 4; i-- > 0;) {
		memset(pt, FILL, sizeof(pt));
		cr_expect_eq(atr_gcm_open_frame(&g, nonce[i], f.aad,
		    i == 0 ? 0 : sizeof(f.aad), out[i], lens[i], pt), ATR_OK,
		    "frame %zu", i);
		cr_expect_eq(memcmp(pt, f.pt, lens[i]), 0, "frame %zu pt", i);
	}
	/* A frame opened under another frame's nonce fails. */
	cr_expect_eq(atr_gcm_open_frame(&g, nonce[2], f.aad, sizeof(f.aad),
	    out[3], lens[3], pt), ATR_ERR_AUTH);
	/* An empty frame (tag only) is authenticated too. */
	out[0][0] ^= 1;
	cr_expect_eq(atr_gcm_open_frame(&g, nonce[0], NULL, 0, out[0], 0, pt),
	    ATR_ERR_AUTH);
	atr_gcm_clear(&g);
}

Test(crypto_gcm_frame, one_direction_contexts)
{
	struct atr_gcm enc, dec;
	struct frame_fixture f;
	uint8_t out[67 + 16], pt[67];
	struct atr_gcm both;

	make_frame(&both, &f);
	atr_gcm_clear(&both);
	/* A seal-only context gives the same frame; an open-only context
	 * opens it; the missing direction is a usage error, not a crash. */
	cr_assert_eq(atr_gcm_init_for(&enc, f.key, ATR_GCM_ENC), ATR_OK);
	cr_assert_eq(atr_gcm_init_for(&dec, f.key, ATR_GCM_DEC), ATR_OK);
	cr_assert_eq(atr_gcm_seal_frame(&enc, f.nonce, f.aad, sizeof(f.aad),
	    f.pt, sizeof(f.pt), out), ATR_OK);
	cr_expect_eq(memcmp(out, f.sealed, sizeof(out)), 0);
	cr_expect_eq(atr_gcm_open_frame(&dec, f.nonce, f.aad, sizeof(f.aad),
	    out, sizeof(f.pt), pt), ATR_OK);
	cr_expect_eq(memcmp(pt, f.pt, sizeof(pt)), 0);
	cr_expect_eq(atr_gcm_open_frame(&enc, f.nonce, f.aad, sizeof(f.aad),
	    out, sizeof(f.pt), pt), ATR_ERR_USAGE);
	cr_expect_eq(atr_gcm_seal_frame(&dec, f.nonce, f.aad, sizeof(f.aad),
	    f.pt, sizeof(f.pt), out), ATR_ERR_USAGE);
	atr_gcm_clear(&enc);
	atr_gcm_clear(&dec);
	/* A cleared context is refused too. */
	cr_expect_eq(atr_gcm_seal_frame(&enc, f.nonce, NULL, 0, f.pt, 1, out),
	    ATR_ERR_USAGE);
}

/* ---- AES key wrap: Wycheproof KW and KWP ---- */

struct kw_ctx {
	struct tally t;
	int pad;
};

static size_t
wrapped_len(int pad, size_t n)
{
	return pad ? (n + 7) / 8 * 8 + 8 : n + 8;
}

/* Whether atr_aes_kw_unwrap lets this length reach EVP (crypto.c). */
static int
unwrap_len_ok(int pad, size_t n)
{
	return n % 8 == 0 && n >= (pad ? 16U : 24U);
}

/* Unwraps ct; returns the error and checks the failure contract. */
static enum atr_err
kw_unwrap_checked(struct tally *t, const char *id, int pad,
    const uint8_t *kek, size_t kek_len, const uint8_t *ct, size_t ct_len,
    uint8_t **outp, size_t *out_len)
{
	size_t room = ct_len >= 8 ? ct_len - 8 : 0;
	uint8_t *out = filled(room);
	enum atr_err e;

	*out_len = 12345;
	e = atr_aes_kw_unwrap(pad, kek, kek_len, ct, ct_len, out, out_len);
	if (!guard_ok(out, room))
		tfail(t, "%s: unwrap wrote past ct_len - 8 bytes", id);
	if (e != ATR_OK) {
		if (*out_len != 0)
			tfail(t, "%s: failed unwrap left out_len %zu", id,
			    *out_len);
		/* Rejected on length: nothing written; else wiped. */
		if (unwrap_len_ok(pad, ct_len) ? !tu_all_zero(out, room) :
		    !all_fill(out, room))
			tfail(t, "%s: failed unwrap left data in out", id);
	}
	*outp = out;
	return e;
}

static int
kw_wp_case(const struct wp_test *wt, void *arg)
{
	struct kw_ctx *kc = arg;
	struct tally *t = &kc->t;
	uint8_t *key, *msg, *ct, *w = NULL, *u = NULL;
	size_t key_len, msg_len, ct_len, w_len = 0, u_len = 0;
	enum atr_err ew, eu;
	long failed = t->failed;
	char id[320];

	t->total++;
	snprintf(id, sizeof(id), "tcId %ld [%s] %s", wt->tc_id, wt->flags,
	    wp_result_name(wt->result));
	key = wp_hex(wt->test, "key", &key_len);
	msg = wp_hex(wt->test, "msg", &msg_len);
	ct = wp_hex(wt->test, "ct", &ct_len);
	if (!key || !msg || !ct) {
		tfail(t, "%s: missing or malformed field", id);
		goto out;
	}
	w = filled(wrapped_len(kc->pad, msg_len));
	ew = atr_aes_kw_wrap(kc->pad, key, key_len, msg, msg_len, w, &w_len);
	if (ew == ATR_OK && !guard_ok(w, wrapped_len(kc->pad, msg_len)))
		tfail(t, "%s: wrap wrote past its output", id);
	eu = kw_unwrap_checked(t, id, kc->pad, key, key_len, ct, ct_len, &u,
	    &u_len);
	switch (wt->result) {
	case WP_VALID:
		if (ew != ATR_OK)
			tfail(t, "%s: wrap: %s (%s)", id, atr_errname(ew),
			    atr_detail());
		else
			same(t, id, "wrapped", ct, ct_len, w, w_len);
		if (eu != ATR_OK)
			tfail(t, "%s: unwrap: %s, expected ok", id,
			    atr_errname(eu));
		else
			same(t, id, "unwrapped", msg, msg_len, u, u_len);
		break;
	case WP_INVALID:
		if (eu != ATR_ERR_AUTH)
			tfail(t, "%s: unwrap: %s, expected auth", id,
			    atr_errname(eu));
		/* WrongDataSize / EmptyKey: msg cannot be wrapped at all;
		 * otherwise its wrapping must not be the invalid ct. */
		if (ct_len == 0 && ew == ATR_OK)
			tfail(t, "%s: wrapped a %zu-byte key that must be "
			    "refused", id, msg_len);
		else if (ew == ATR_OK && w_len == ct_len &&
		    memcmp(w, ct, ct_len) == 0)
			tfail(t, "%s: wrap produced the invalid ct", id);
		break;
	case WP_ACCEPTABLE:
		/* Either both accept and agree, or both refuse. */
		if (ew == ATR_OK && eu == ATR_OK) {
			if (same(t, id, "wrapped", ct, ct_len, w, w_len) &&
			    same(t, id, "unwrapped", msg, msg_len, u, u_len))
				t->acc_accepted++;
		} else if (ew != ATR_OK && eu == ATR_ERR_AUTH) {
			t->acc_rejected++;
		} else {
			tfail(t, "%s: wrap %s but unwrap %s", id,
			    atr_errname(ew), atr_errname(eu));
		}
		break;
	}
	if (t->failed == failed) {
		t->passed++;
		if (wt->result == WP_VALID)
			t->valid_ok++;
		else if (wt->result == WP_INVALID)
			t->invalid_ok++;
	}
out:
	free(key);
	free(msg);
	free(ct);
	free(w);
	free(u);
	return 0;
}

static void
run_kw(const char *rel, const char *alg, int pad, struct kw_ctx *kc)
{
	struct wp_file f;
	char err[512], extra[160];
	long n;

	memset(kc, 0, sizeof(*kc));
	kc->t.what = pad ? "aes_kwp" : "aes_kw";
	kc->pad = pad;
	load_wp(rel, &f, alg);
	n = wp_foreach(&f, kw_wp_case, kc, err, sizeof(err));
	cr_assert_geq(n, 0, "%s", err);
	snprintf(extra, sizeof(extra), " (none expected); acceptable: %ld "
	    "accepted, %ld rejected", kc->t.acc_accepted,
	    kc->t.acc_rejected);
	summary(&kc->t, extra);
	cr_expect_eq(n, f.number_of_tests);
	cr_expect_eq(kc->t.failed, 0, "%s: %ld vectors failed", kc->t.what,
	    kc->t.failed);
	wp_done(&f);
}

Test(crypto_kw, wycheproof_kw)
{
	struct kw_ctx kc;

	run_kw("wycheproof/aes_wrap_test.json", "AES-WRAP", 0, &kc);
	/* 165 = 36 valid + 126 invalid + 3 acceptable ShortKey.  atrest
	 * follows SP 800-38F (KW wraps >= 16 bytes), so all three are
	 * refused; RFC 3394 alone would allow them. */
	cr_expect_eq(kc.t.total, 165);
	cr_expect_eq(kc.t.passed, 165);
	cr_expect_eq(kc.t.valid_ok, 36);
	cr_expect_eq(kc.t.invalid_ok, 126);
	cr_expect_eq(kc.t.acc_rejected, 3);
	cr_expect_eq(kc.t.acc_accepted, 0);
}

Test(crypto_kw, wycheproof_kwp)
{
	struct kw_ctx kc;

	run_kw("wycheproof/aes_kwp_test.json", "AES-KWP", 1, &kc);
	cr_expect_eq(kc.t.total, 254);
	cr_expect_eq(kc.t.passed, 254);
	cr_expect_eq(kc.t.valid_ok, 77);
	cr_expect_eq(kc.t.invalid_ok, 177);
	cr_expect_eq(kc.t.acc_rejected + kc.t.acc_accepted, 0);
}

Test(crypto_kw, unwrap_rejects_bad_lengths)
{
	static const size_t kw_bad[] = { 0, 1, 7, 8, 15, 16, 17, 23, 25, 31,
	    33, 4096 + 24 };
	static const size_t kwp_bad[] = { 0, 1, 7, 8, 9, 15, 17, 23, 25,
	    4096 + 24 };
	uint8_t kek[32], *in, out[4200];
	size_t i, out_len;
	enum atr_err e;

	memset(kek, 0x42, sizeof(kek));
	in = calloc(1, 4200);
	cr_assert_not_null(in);
	for (i = 0; i < sizeof(kw_bad) / sizeof(kw_bad[0]); i++) {
		out_len = 777;
		memset(out, FILL, sizeof(out));
		e = atr_aes_kw_unwrap(0, kek, 32, in, kw_bad[i], out, &out_len);
		cr_expect_eq(e, ATR_ERR_AUTH, "KW %zu bytes: %s", kw_bad[i],
		    atr_errname(e));
		cr_expect_eq(out_len, 0, "KW %zu bytes: out_len %zu",
		    kw_bad[i], out_len);
		cr_expect(all_fill(out, sizeof(out)), "KW %zu bytes: out "
		    "written", kw_bad[i]);
	}
	for (i = 0; i < sizeof(kwp_bad) / sizeof(kwp_bad[0]); i++) {
		out_len = 777;
		e = atr_aes_kw_unwrap(1, kek, 32, in, kwp_bad[i], out, &out_len);
		cr_expect_eq(e, ATR_ERR_AUTH, "KWP %zu bytes: %s", kwp_bad[i],
		    atr_errname(e));
		cr_expect_eq(out_len, 0, "KWP %zu bytes", kwp_bad[i]);
	}
	/* The empty input with a NULL pointer, as a caller with nothing
	 * read might pass it (EVP alone "succeeds" here). */
	out_len = 5;
	cr_expect_eq(atr_aes_kw_unwrap(0, kek, 32, NULL, 0, out, &out_len),
	    ATR_ERR_AUTH);
	cr_expect_eq(out_len, 0);
	out_len = 5;
	cr_expect_eq(atr_aes_kw_unwrap(1, kek, 16, NULL, 0, out, &out_len),
	    ATR_ERR_AUTH);
	cr_expect_eq(out_len, 0);
	free(in);
}

Test(crypto_kw, wrap_rejects_bad_lengths)
{
	uint8_t kek[32] = { 9 }, in[64] = { 1 }, out[128];
	size_t out_len, i;

	/* SP 800-38F 6.2: KW needs n >= 2 semiblocks; KWP n >= 1 byte. */
	for (i = 0; i < 24; i++) {
		if (i >= 16 && i % 8 == 0)
			continue;
		cr_expect_neq(atr_aes_kw_wrap(0, kek, 32, in, i, out,
		    &out_len), ATR_OK, "KW wrapped %zu bytes", i);
	}
	cr_expect_neq(atr_aes_kw_wrap(1, kek, 32, in, 0, out, &out_len),
	    ATR_OK);
	cr_expect_eq(atr_aes_kw_wrap(0, kek, 20, in, 16, out, &out_len),
	    ATR_ERR_UNSUPPORTED);
	cr_expect_eq(atr_aes_kw_wrap(1, kek, 0, in, 16, out, &out_len),
	    ATR_ERR_UNSUPPORTED);
}

Test(crypto_kw, round_trip_and_wrong_kek)
{
	uint8_t kek[32], kek2[32], msg[64], w[80], u[80];
	size_t n, w_len, u_len;
	int pad;

	cr_assert_eq(atr_random(kek, sizeof(kek)), ATR_OK);
	memcpy(kek2, kek, sizeof(kek));
	kek2[31] ^= 1;
	cr_assert_eq(atr_random(msg, sizeof(msg)), ATR_OK);
	for (pad = 0; pad <= 1; pad++) {
		for (n = pad ? 1 : 16; n <= sizeof(msg); n += pad ? 1 : 8) {
			cr_assert_eq(atr_aes_kw_wrap(pad, kek, 32, msg, n, w,
			    &w_len), ATR_OK, "pad %d n %zu", pad, n);
			cr_assert_eq(w_len, wrapped_len(pad, n));
			cr_expect_eq(atr_aes_kw_unwrap(pad, kek, 32, w, w_len,
			    u, &u_len), ATR_OK, "pad %d n %zu", pad, n);
			cr_expect_eq(u_len, n);
			cr_expect_eq(memcmp(u, msg, n), 0);
			memset(u, FILL, sizeof(u));
			u_len = 99;
			cr_expect_eq(atr_aes_kw_unwrap(pad, kek2, 32, w, w_len,
			    u, &u_len), ATR_ERR_AUTH, "pad %d n %zu wrong KEK",
			    pad, n);
			cr_expect_eq(u_len, 0);
			cr_expect(tu_all_zero(u, w_len - 8), "pad %d n %zu: "
			    "not wiped", pad, n);
		}
	}
}

/* OpenSSL's own RFC 3394 / RFC 5649 ciphers, as the reference. */
static size_t
evp_wrap(int pad, const uint8_t *kek, size_t kek_len, const uint8_t *in,
    size_t in_len, uint8_t *out)
{
	const EVP_CIPHER *c;
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int n = 0, m = 0;

	if (kek_len == 16)
		c = pad ? EVP_aes_128_wrap_pad() : EVP_aes_128_wrap();
	else if (kek_len == 24)
		c = pad ? EVP_aes_192_wrap_pad() : EVP_aes_192_wrap();
	else
		c = pad ? EVP_aes_256_wrap_pad() : EVP_aes_256_wrap();
	cr_assert_not_null(ctx);
	EVP_CIPHER_CTX_set_flags(ctx, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
	cr_assert_eq(EVP_EncryptInit_ex(ctx, c, NULL, kek, NULL), 1);
	cr_assert_eq(EVP_EncryptUpdate(ctx, out, &n, in, (int)in_len), 1);
	cr_assert_eq(EVP_EncryptFinal_ex(ctx, out + n, &m), 1);
	EVP_CIPHER_CTX_free(ctx);
	return (size_t)(n + m);
}

Test(crypto_kw, matches_openssl_wrap_ciphers)
{
	static const size_t kek_lens[] = { 16, 24, 32 };
	uint8_t kek[32], *msg = malloc(4096), *w = malloc(4112 + GUARD);
	uint8_t *ref = malloc(4112 + 16), *u = malloc(4104 + GUARD);
	size_t k, n, w_len, r_len, u_len, checked = 0;
	int pad;

	/* The key wrap is written out over AES-ECB (core/crypto.c); every
	 * length a small key can have, and the 4096-byte limit, must give
	 * the bytes of OpenSSL's wrap ciphers and unwrap back. */
	cr_assert(msg && w && ref && u);
	cr_assert_eq(atr_random(msg, 4096), ATR_OK);
	for (k = 0; k < 3; k++) {
		cr_assert_eq(atr_random(kek, sizeof(kek)), ATR_OK);
		for (pad = 0; pad <= 1; pad++) {
			for (n = 1; n <= 4096;
			    n = n < 80 ? n + 1 : n == 80 ? 128 : n * 2) {
				if (!pad && (n < 16 || n % 8))
					continue;
				memset(w, FILL, 4112 + GUARD);
				cr_assert_eq(atr_aes_kw_wrap(pad, kek,
				    kek_lens[k], msg, n, w, &w_len), ATR_OK,
				    "pad %d kek %zu n %zu", pad, kek_lens[k], n);
				r_len = evp_wrap(pad, kek, kek_lens[k], msg, n,
				    ref);
				cr_expect_eq(w_len, r_len, "pad %d n %zu", pad,
				    n);
				cr_expect_eq(memcmp(w, ref, r_len), 0, "pad %d "
				    "kek %zu n %zu: differs from OpenSSL", pad,
				    kek_lens[k], n);
				cr_expect(guard_ok(w, w_len));
				memset(u, FILL, 4104 + GUARD);
				cr_expect_eq(atr_aes_kw_unwrap(pad, kek,
				    kek_lens[k], w, w_len, u, &u_len), ATR_OK);
				cr_expect_eq(u_len, n);
				cr_expect_eq(memcmp(u, msg, n), 0);
				cr_expect(guard_ok(u, w_len - 8));
				checked++;
			}
		}
	}
	/* KWP: 80 + 6 lengths (..4096), KW: 9 + 6, for 3 KEK sizes. */
	cr_expect_eq(checked, 3 * (86 + 15), "%zu lengths", checked);
	cr_expect_neq(atr_aes_kw_wrap(1, kek, 32, msg, 4097, w, &w_len),
	    ATR_OK);
	free(msg);
	free(w);
	free(ref);
	free(u);
}

/* ---- RSA-OAEP SHA-256 ---- */

struct oaep_ctx {
	struct tally t;
	const cJSON *group;  /* whose key is loaded */
	EVP_PKEY *priv, *pub;
	long bits;
	long roundtrips;
};

static void
oaep_load_group(struct oaep_ctx *oc, const cJSON *g)
{
	const char *pem = wp_str(g, "privateKeyPem");
	unsigned char *der = NULL;
	const unsigned char *p;
	BIO *bio;
	int len;

	EVP_PKEY_free(oc->priv);
	EVP_PKEY_free(oc->pub);
	oc->priv = oc->pub = NULL;
	oc->group = g;
	cr_assert_eq(wp_int(g, "keySize", &oc->bits), 0, "group keySize");
	cr_assert_str_eq(wp_str(g, "sha"), "SHA-256");
	cr_assert_str_eq(wp_str(g, "mgf"), "MGF1");
	cr_assert_str_eq(wp_str(g, "mgfSha"), "SHA-256");
	cr_assert_not_null(pem, "group has no privateKeyPem");
	bio = BIO_new_mem_buf(pem, -1);
	cr_assert_not_null(bio);
	oc->priv = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	BIO_free(bio);
	cr_assert_not_null(oc->priv, "privateKeyPem does not load");
	cr_assert_eq(EVP_PKEY_get_bits(oc->priv), oc->bits);
	/* Encrypt with the public half only, as a KMS caller would. */
	len = i2d_PUBKEY(oc->priv, &der);
	cr_assert_gt(len, 0);
	p = der;
	oc->pub = d2i_PUBKEY(NULL, &p, len);
	OPENSSL_free(der);
	cr_assert_not_null(oc->pub);
}

static int
oaep_case(const struct wp_test *wt, void *arg)
{
	struct oaep_ctx *oc = arg;
	struct tally *t = &oc->t;
	uint8_t *msg, *ct, *label, *out = NULL, *ct2 = NULL;
	size_t msg_len, ct_len, label_len, cap, out_len, ct2_len;
	long failed = t->failed;
	enum atr_err e;
	char id[320];

	t->total++;
	if (wt->group != oc->group)
		oaep_load_group(oc, wt->group);
	snprintf(id, sizeof(id), "%ld-bit tcId %ld [%s] %s", oc->bits,
	    wt->tc_id, wt->flags, wp_result_name(wt->result));
	msg = wp_hex(wt->test, "msg", &msg_len);
	ct = wp_hex(wt->test, "ct", &ct_len);
	label = wp_hex(wt->test, "label", &label_len);
	if (!msg || !ct || !label) {
		tfail(t, "%s: missing or malformed field", id);
		goto out;
	}
	cap = (size_t)EVP_PKEY_get_size(oc->priv);
	out = filled(cap);
	out_len = cap;
	e = atr_rsa_oaep_decrypt(oc->priv, EVP_sha256(), label, label_len, ct,
	    ct_len, out, &out_len);
	if (!guard_ok(out, cap))
		tfail(t, "%s: decrypt wrote past its capacity", id);
	if (wt->result == WP_VALID) {
		if (e != ATR_OK) {
			tfail(t, "%s: decrypt: %s, expected ok", id,
			    atr_errname(e));
			goto out;
		}
		same(t, id, "msg", msg, msg_len, out, out_len);
		/* Round trip: public-key encryption with the same label. */
		ct2 = filled(cap);
		ct2_len = cap;
		e = atr_rsa_oaep_encrypt(oc->pub, EVP_sha256(), label,
		    label_len, msg, msg_len, ct2, &ct2_len);
		if (e != ATR_OK || ct2_len != cap) {
			tfail(t, "%s: encrypt: %s, %zu bytes", id,
			    atr_errname(e), ct2_len);
			goto out;
		}
		memset(out, FILL, cap);
		out_len = cap;
		e = atr_rsa_oaep_decrypt(oc->priv, EVP_sha256(), label,
		    label_len, ct2, ct2_len, out, &out_len);
		if (e != ATR_OK)
			tfail(t, "%s: round trip decrypt: %s", id,
			    atr_errname(e));
		else if (same(t, id, "round trip msg", msg, msg_len, out,
		    out_len))
			oc->roundtrips++;
	} else if (e != ATR_ERR_AUTH) {
		tfail(t, "%s: decrypt: %s, expected auth", id, atr_errname(e));
	} else {
		if (out_len != 0)
			tfail(t, "%s: failed decrypt left out_len %zu", id,
			    out_len);
		/* RFC 8017 7.1.2: nothing of a failed decoding may leak;
		 * OpenSSL's constant-time decoder writes into out. */
		if (!tu_all_zero(out, cap))
			tfail(t, "%s: failed decrypt left data in out", id);
	}
	if (t->failed == failed) {
		t->passed++;
		if (wt->result == WP_VALID)
			t->valid_ok++;
		else
			t->invalid_ok++;
	}
out:
	free(msg);
	free(ct);
	free(label);
	free(out);
	free(ct2);
	return 0;
}

static void
run_oaep(const char *rel, const char *what)
{
	struct oaep_ctx oc;
	struct wp_file f;
	char err[512], extra[96];
	long n;

	memset(&oc, 0, sizeof(oc));
	oc.t.what = what;
	load_wp(rel, &f, "RSAES-OAEP");
	n = wp_foreach(&f, oaep_case, &oc, err, sizeof(err));
	cr_assert_geq(n, 0, "%s", err);
	snprintf(extra, sizeof(extra), " (none expected), %ld round trips",
	    oc.roundtrips);
	summary(&oc.t, extra);
	/* The files' counts: 37 per key size, 18 valid + 19 invalid. */
	cr_expect_eq(n, f.number_of_tests);
	cr_expect_eq(n, 37);
	cr_expect_eq(oc.t.failed, 0, "%s: %ld vectors failed", what,
	    oc.t.failed);
	cr_expect_eq(oc.t.valid_ok, 18);
	cr_expect_eq(oc.t.invalid_ok, 19);
	cr_expect_eq(oc.roundtrips, 18);
	EVP_PKEY_free(oc.priv);
	EVP_PKEY_free(oc.pub);
	wp_done(&f);
}

Test(crypto_rsa, oaep_2048)
{
	run_oaep("wycheproof/rsa_oaep_2048_sha256_mgf1sha256_test.json",
	    "rsa_oaep_2048");
}

Test(crypto_rsa, oaep_3072)
{
	run_oaep("wycheproof/rsa_oaep_3072_sha256_mgf1sha256_test.json",
	    "rsa_oaep_3072");
}

Test(crypto_rsa, oaep_4096)
{
	run_oaep("wycheproof/rsa_oaep_4096_sha256_mgf1sha256_test.json",
	    "rsa_oaep_4096");
}

Test(crypto_rsa, decrypt_failure_contract)
{
	struct oaep_ctx oc;
	struct wp_file f;
	const cJSON *groups;
	EVP_PKEY *key;
	uint8_t dek[32], ct[256], out[256 + GUARD];
	size_t ct_len = sizeof(ct), out_len;
	static const uint8_t label[] = "atrest";

	/* The Wycheproof 2048-bit key: generating one would cost more
	 * than the rest of the suite. */
	memset(&oc, 0, sizeof(oc));
	load_wp("wycheproof/rsa_oaep_2048_sha256_mgf1sha256_test.json", &f,
	    "RSAES-OAEP");
	groups = cJSON_GetObjectItemCaseSensitive(f.root, "testGroups");
	oaep_load_group(&oc, cJSON_GetArrayItem(groups, 0));
	key = oc.priv;
	EVP_PKEY_free(oc.pub);
	wp_done(&f);
	cr_assert_eq(oc.bits, 2048);
	memset(dek, 0x5c, sizeof(dek));
	cr_assert_eq(atr_rsa_oaep_encrypt(key, EVP_sha256(), label,
	    sizeof(label), dek, sizeof(dek), ct, &ct_len), ATR_OK);
	cr_assert_eq(ct_len, 256);
	/* Wrong label, wrong hash, a flipped bit, a short input: all the
	 * same ATR_ERR_AUTH, out_len 0 and nothing left in out. */
	memset(out, FILL, sizeof(out));
	out_len = 256;
	cr_expect_eq(atr_rsa_oaep_decrypt(key, EVP_sha256(), NULL, 0, ct,
	    ct_len, out, &out_len), ATR_ERR_AUTH, "no label");
	cr_expect_eq(out_len, 0);
	cr_expect(tu_all_zero(out, 256), "no label: out not wiped");
	cr_expect(guard_ok(out, 256));
	out_len = 256;
	cr_expect_eq(atr_rsa_oaep_decrypt(key, EVP_sha1(), label,
	    sizeof(label), ct, ct_len, out, &out_len), ATR_ERR_AUTH, "SHA-1");
	cr_expect_eq(out_len, 0);
	cr_expect(tu_all_zero(out, 256), "SHA-1: out not wiped");
	ct[100] ^= 4;
	out_len = 256;
	cr_expect_eq(atr_rsa_oaep_decrypt(key, EVP_sha256(), label,
	    sizeof(label), ct, ct_len, out, &out_len), ATR_ERR_AUTH, "bit");
	cr_expect_eq(out_len, 0);
	cr_expect(tu_all_zero(out, 256), "flipped bit: out not wiped");
	ct[100] ^= 4;
	out_len = 256;
	cr_expect_eq(atr_rsa_oaep_decrypt(key, EVP_sha256(), label,
	    sizeof(label), ct, ct_len - 1, out, &out_len), ATR_ERR_AUTH,
	    "short");
	cr_expect_eq(out_len, 0);
	/* And the genuine ciphertext still decrypts. */
	out_len = 256;
	cr_expect_eq(atr_rsa_oaep_decrypt(key, EVP_sha256(), label,
	    sizeof(label), ct, ct_len, out, &out_len), ATR_OK);
	cr_expect_eq(out_len, 32);
	cr_expect_eq(memcmp(out, dek, 32), 0);
	EVP_PKEY_free(key);
}

/* ---- HKDF, HMAC, SHA-256 ---- */

struct hkdf_kat {
	const char *ikm, *salt, *info, *okm;
};

/* RFC 5869 Appendix A.1-A.3 (checked with `openssl kdf ... HKDF`). */
static const struct hkdf_kat hkdf_kats[] = {
	{ "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b",
	  "000102030405060708090a0b0c",
	  "f0f1f2f3f4f5f6f7f8f9",
	  "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf"
	  "34007208d5b887185865" },
	{ "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
	  "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"
	  "404142434445464748494a4b4c4d4e4f",
	  "606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f"
	  "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f"
	  "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf",
	  "b0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7c8c9cacbcccdcecf"
	  "d0d1d2d3d4d5d6d7d8d9dadbdcdddedfe0e1e2e3e4e5e6e7e8e9eaebecedeeef"
	  "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff",
	  "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c"
	  "59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71"
	  "cc30c58179ec3e87c14c01d5c1f3434f1d87" },
	{ "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b",
	  "",
	  "",
	  "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d"
	  "9d201395faa4b61a96c8" },
};

static void
run_hkdf_kats(void)
{
	struct tally t = { .what = "hkdf_sha256" };
	size_t i, ikm_len, salt_len, info_len, okm_len;
	char id[32];

	for (i = 0; i < sizeof(hkdf_kats) / sizeof(hkdf_kats[0]); i++) {
		uint8_t *ikm = tu_unhex(hkdf_kats[i].ikm, &ikm_len);
		uint8_t *salt = tu_unhex(hkdf_kats[i].salt, &salt_len);
		uint8_t *info = tu_unhex(hkdf_kats[i].info, &info_len);
		uint8_t *okm = tu_unhex(hkdf_kats[i].okm, &okm_len);
		uint8_t *out = filled(okm_len);
		enum atr_err e;

		cr_assert(ikm && salt && info && okm);
		t.total++;
		snprintf(id, sizeof(id), "RFC 5869 A.%zu", i + 1);
		e = atr_hkdf_sha256(ikm, ikm_len, salt, salt_len, info,
		    info_len, out, okm_len);
		if (e != ATR_OK)
			tfail(&t, "%s: %s", id, atr_errname(e));
		else if (same(&t, id, "OKM", okm, okm_len, out, okm_len) &&
		    guard_ok(out, okm_len))
			t.passed++;
		/* A.3's empty salt is the same as NULL (RFC 5869 2.2:
		 * HashLen zeros), and as an explicit 32 zero bytes. */
		if (salt_len == 0) {
			static const uint8_t zeros[32];

			memset(out, FILL, okm_len);
			cr_expect_eq(atr_hkdf_sha256(ikm, ikm_len, NULL, 0,
			    NULL, 0, out, okm_len), ATR_OK);
			cr_expect_eq(memcmp(out, okm, okm_len), 0, "NULL salt");
			cr_expect_eq(atr_hkdf_sha256(ikm, ikm_len, zeros, 32,
			    NULL, 0, out, okm_len), ATR_OK);
			cr_expect_eq(memcmp(out, okm, okm_len), 0, "zero salt");
		}
		free(ikm);
		free(salt);
		free(info);
		free(okm);
		free(out);
	}
	summary(&t, "");
	cr_expect_eq(t.failed, 0);
	cr_expect_eq(t.passed, 3);
}

/* core/hmac.c has two paths (crypto.h): the direct one by default, the
 * provider one under FIPS properties; every vector runs through both. */
static void
provider_path(void)
{
	atr_hash_force_provider(1);
	cr_assert_eq(atr_hash_direct(), 0);
}

Test(crypto_kdf, hkdf_rfc5869)
{
	cr_assert_eq(atr_hash_direct(), 1, "not FIPS: the direct path");
	run_hkdf_kats();
}

Test(crypto_kdf_provider, hkdf_rfc5869, .init = provider_path)
{
	run_hkdf_kats();
}

Test(crypto_kdf, hkdf_limits)
{
	uint8_t ikm[32] = { 1 }, *out = malloc(255 * 32 + 1), prefix[40];

	cr_assert_not_null(out);
	/* RFC 5869 2.3: L <= 255 * HashLen. */
	cr_expect_eq(atr_hkdf_sha256(ikm, 32, NULL, 0, NULL, 0, out,
	    255 * 32), ATR_OK);
	cr_expect_eq(atr_hkdf_sha256(ikm, 32, NULL, 0, NULL, 0, out,
	    255 * 32 + 1), ATR_ERR_USAGE);
	/* A shorter output is a prefix of a longer one (T(1) | T(2)...). */
	cr_expect_eq(atr_hkdf_sha256(ikm, 32, NULL, 0, NULL, 0, prefix,
	    sizeof(prefix)), ATR_OK);
	cr_expect_eq(memcmp(prefix, out, sizeof(prefix)), 0);
	cr_expect_eq(atr_hkdf_sha256(ikm, 32, NULL, 0, NULL, 0, prefix, 0),
	    ATR_OK);
	free(out);
}

struct hmac_kat {
	const char *name, *key, *data, *mac;
};

/* RFC 4231 4.2, 4.3, 4.7 (checked with `openssl dgst -sha256 -mac
 * HMAC`), plus an empty key (Python hmac). */
static const struct hmac_kat hmac_kats[] = {
	{ "RFC 4231 case 1",
	  "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b",
	  "4869205468657265",
	  "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7" },
	{ "RFC 4231 case 2",
	  "4a656665",
	  "7768617420646f2079612077616e7420666f72206e6f7468696e673f",
	  "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843" },
	{ "RFC 4231 case 6",
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "aaaaaa",
	  "54657374205573696e67204c6172676572205468616e20426c6f636b2d53697a"
	  "65204b6579202d2048617368204b6579204669727374",
	  "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54" },
	{ "empty key",
	  "",
	  "616263",
	  "fd7adb152c05ef80dccf50a1fa4c05d5a3ec6da95575fc312ae7c5d091836351" },
};

static void
run_hmac_kats(void)
{
	struct tally t = { .what = "hmac_sha256" };
	size_t i, key_len, data_len, mac_len;

	for (i = 0; i < sizeof(hmac_kats) / sizeof(hmac_kats[0]); i++) {
		const struct hmac_kat *k = &hmac_kats[i];
		uint8_t *key = tu_unhex(k->key, &key_len);
		uint8_t *data = tu_unhex(k->data, &data_len);
		uint8_t *mac = tu_unhex(k->mac, &mac_len);
		uint8_t out[32];
		enum atr_err e;

		cr_assert(key && data && mac && mac_len == 32);
		t.total++;
		e = atr_hmac_sha256(key, key_len, data, data_len, out);
		if (e != ATR_OK)
			tfail(&t, "%s: %s", k->name, atr_errname(e));
		else if (same(&t, k->name, "HMAC", mac, 32, out, 32))
			t.passed++;
		free(key);
		free(data);
		free(mac);
	}
	summary(&t, "");
	cr_expect_eq(t.failed, 0);
	cr_expect_eq(t.passed, 4);
}

Test(crypto_kdf, hmac_sha256_rfc4231) { run_hmac_kats(); }

Test(crypto_kdf_provider, hmac_sha256_rfc4231, .init = provider_path)
{
	run_hmac_kats();
}

static void
run_hmac_null_empty_key(void)
{
	uint8_t out[32], *mac;
	size_t len;

	/* A NULL, zero-length key is the empty key (RFC 2104 2). */
	cr_assert_eq(atr_hmac_sha256(NULL, 0, (const uint8_t *)"abc", 3, out),
	    ATR_OK);
	cr_assert_str_eq(hmac_kats[3].key, "");
	mac = tu_unhex(hmac_kats[3].mac, &len);
	cr_assert_not_null(mac);
	cr_expect_eq(memcmp(out, mac, 32), 0);
	free(mac);
}

Test(crypto_kdf, hmac_null_empty_key) { run_hmac_null_empty_key(); }

Test(crypto_kdf_provider, hmac_null_empty_key, .init = provider_path)
{
	run_hmac_null_empty_key();
}

static void
run_sha256_fips180(void)
{
	uint8_t out[32], *exp;
	size_t len;

	/* FIPS 180-4 / NIST example "abc", and the empty message. */
	cr_assert_eq(atr_sha256((const uint8_t *)"abc", 3, out), ATR_OK);
	exp = tu_unhex("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61"
	    "f20015ad", &len);
	cr_expect_eq(memcmp(out, exp, 32), 0);
	free(exp);
	cr_assert_eq(atr_sha256(NULL, 0, out), ATR_OK);
	exp = tu_unhex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b"
	    "7852b855", &len);
	cr_expect_eq(memcmp(out, exp, 32), 0);
	free(exp);
}

Test(crypto_kdf, sha256_fips180) { run_sha256_fips180(); }

Test(crypto_kdf_provider, sha256_fips180, .init = provider_path)
{
	run_sha256_fips180();
}

/*
 * Beyond the vectors: both paths give the same bytes for every message
 * length across the block and padding boundaries (0..300), keys of
 * 0..130 bytes (hashed above 64, RFC 2104) and HKDF outputs of
 * 1..200 bytes (partial last block).
 */
Test(crypto_kdf_provider, paths_agree)
{
	uint8_t msg[300], key[130], a[200], b[200];
	size_t n;

	for (n = 0; n < sizeof(msg); n++)
		msg[n] = (uint8_t)(n * 7 + 1);
	for (n = 0; n < sizeof(key); n++)
		key[n] = (uint8_t)(n * 13 + 5);
	for (n = 0; n <= sizeof(msg); n++) {
		atr_hash_force_provider(0);
		cr_assert_eq(atr_sha256(msg, n, a), ATR_OK);
		cr_assert_eq(atr_hmac_sha256(key, n % 131, msg, n, a + 32),
		    ATR_OK);
		atr_hash_force_provider(1);
		cr_assert_eq(atr_sha256(msg, n, b), ATR_OK);
		cr_assert_eq(atr_hmac_sha256(key, n % 131, msg, n, b + 32),
		    ATR_OK);
		cr_assert_eq(memcmp(a, b, 64), 0, "length %zu", n);
	}
	for (n = 1; n <= sizeof(a); n++) {
		atr_hash_force_provider(0);
		cr_assert_eq(atr_hkdf_sha256(key, 32, msg, n % 70, msg + 100,
		    n % 90, a, n), ATR_OK);
		atr_hash_force_provider(1);
		cr_assert_eq(atr_hkdf_sha256(key, 32, msg, n % 70, msg + 100,
		    n % 90, b, n), ATR_OK);
		cr_assert_eq(memcmp(a, b, n), 0, "HKDF length %zu", n);
	}
}

/* ---- hex ---- */

Test(crypto_hex, round_trip_and_strictness)
{
	uint8_t in[256], out[256];
	char hex[513];
	size_t i, n;

	for (i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)i;
	atr_hex(in, sizeof(in), hex);
	cr_expect_eq(strlen(hex), 512);
	cr_expect_eq(strncmp(hex, "000102", 6), 0);
	cr_expect_str_eq(hex + 500, "fafbfcfdfeff");
	cr_assert_eq(atr_unhex(hex, 512, out, sizeof(out), &n), 0);
	cr_expect_eq(n, 256);
	cr_expect_eq(memcmp(in, out, 256), 0);
	cr_expect_eq(atr_unhex("ABcdEf", 6, out, 3, &n), 0);
	cr_expect(n == 3 && out[0] == 0xab && out[1] == 0xcd && out[2] == 0xef);
	cr_expect_eq(atr_unhex("", 0, out, 0, &n), 0);
	cr_expect_eq(n, 0);
	cr_expect_eq(atr_unhex("abc", 3, out, 8, &n), -1, "odd length");
	cr_expect_eq(atr_unhex("0g", 2, out, 8, &n), -1, "bad digit");
	cr_expect_eq(atr_unhex(" 0", 2, out, 8, &n), -1, "space");
	cr_expect_eq(atr_unhex("0011", 4, out, 1, &n), -1, "capacity");
	atr_hex(in, 0, hex);
	cr_expect_str_eq(hex, "");
}

/* ---- the vector loaders themselves ---- */

/*
 * The exact counts above depend on the loaders; these pin down how
 * they parse (CRLF, sections, FAIL) and that malformed input is an
 * error naming the line or tcId rather than fewer vectors.
 */

struct rsp_seen {
	long n, fails;
	long keylen[4];
	unsigned line[4];
	char pt[4][16];
};

static int
rsp_record(const struct rsp_case *c, void *arg)
{
	struct rsp_seen *s = arg;
	const char *pt = rsp_field(c, "PT");

	if (s->n < 4) {
		cr_expect_eq(rsp_sect_long(c, "Keylen", &s->keylen[s->n]), 0);
		s->line[s->n] = c->line;
		snprintf(s->pt[s->n], sizeof(s->pt[0]), "%s", pt ? pt : "-");
	}
	s->n++;
	s->fails += c->fail;
	return 0;
}

static long
rsp_text(const char *dir, const char *text, struct rsp_seen *s, char *err,
    size_t errlen)
{
	char *path = tu_path(dir, "t.rsp");
	long n;

	cr_assert_not_null(path);
	cr_assert_eq(tu_write_file(path, text, strlen(text)), 0);
	memset(s, 0, sizeof(*s));
	err[0] = '\0';
	n = rsp_foreach(path, rsp_record, s, err, errlen);
	free(path);
	return n;
}

Test(crypto_vectors, rsp_parser)
{
	static const char good[] =
	    "# CAVS 14.0\r\n\r\n[Keylen = 128]\r\n[IVlen = 96]\r\n\r\n"
	    "Count = 0\r\nKey = 00\r\nPT = \r\nTag = 11\r\n\r\n"
	    "Count = 1\r\nKey = 01\r\nTag = 12\r\nFAIL\r\n\r\n"
	    "[Keylen = 256]\r\n[IVlen = 8]\r\n\r\n"
	    "Count = 0\r\nKey = 02\r\nPT = abcd\r\n";  /* no final newline */
	static const char *const bad[] = {
	    "Count = 0\nKey = 00\ngarbage\n",
	    "Count = 0\nKey = 00\nKey = 01\n",
	    "FAIL\nCount = 0\n",
	    "Count = 0\nFAIL\nFAIL\n",
	    "Count = x\n",
	    "Count = -1\n",
	    "[Keylen = 128\nCount = 0\n",
	    "[Keylen = 128]\n[Keylen = 256]\nCount = 0\n",
	};
	char *dir = tu_tmpdir("vec-rsp"), err[512];
	struct rsp_seen s;
	size_t i;
	long n;

	cr_assert_not_null(dir);
	n = rsp_text(dir, good, &s, err, sizeof(err));
	cr_assert_eq(n, 3, "%ld cases: %s", n, err);
	cr_expect_eq(s.fails, 1);
	cr_expect_eq(s.keylen[0], 128);
	cr_expect_eq(s.keylen[1], 128);
	cr_expect_eq(s.keylen[2], 256, "a new run of [..] starts a section");
	cr_expect_eq(s.line[0], 6);
	cr_expect_eq(s.line[2], 19);
	cr_expect_str_eq(s.pt[0], "", "CR stripped from an empty value");
	cr_expect_str_eq(s.pt[1], "-");
	cr_expect_str_eq(s.pt[2], "abcd");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		n = rsp_text(dir, bad[i], &s, err, sizeof(err));
		cr_expect_eq(n, -1, "bad input %zu parsed as %ld cases", i, n);
		cr_expect(strstr(err, "t.rsp:") != NULL, "bad input %zu: "
		    "error \"%s\" names no line", i, err);
	}
	cr_expect_eq(tu_rmtree(dir), 0);
	free(dir);
}

static int
wp_record(const struct wp_test *t, void *arg)
{
	char *seen = arg;
	size_t used = strlen(seen);

	snprintf(seen + used, 256 - used, "%ld:%s:%s;", t->tc_id,
	    wp_result_name(t->result), t->flags);
	return 0;
}

static long
wp_text(const char *dir, const char *text, char *seen, char *err,
    size_t errlen)
{
	char *path = tu_path(dir, "t.json");
	struct wp_file f;
	long n = -2;

	cr_assert_not_null(path);
	cr_assert_eq(tu_write_file(path, text, strlen(text)), 0);
	seen[0] = err[0] = '\0';
	if (wp_load(path, &f, err, errlen) == 0) {
		n = wp_foreach(&f, wp_record, seen, err, errlen);
		wp_free(&f);
	}
	free(path);
	return n;
}

Test(crypto_vectors, wycheproof_loader)
{
	static const char good[] =
	    "{\"algorithm\":\"X\",\"numberOfTests\":3,\"testGroups\":["
	    "{\"tests\":[{\"tcId\":1,\"result\":\"valid\",\"flags\":[]},"
	    "{\"tcId\":2,\"result\":\"invalid\",\"flags\":[\"A\",\"B\"]}]},"
	    "{\"tests\":[{\"tcId\":7,\"result\":\"acceptable\"}]}]}";
	static const char *const bad_load[] = {
	    "{\"algorithm\":\"X\"",
	    "{\"numberOfTests\":1,\"testGroups\":[]}",
	    "{\"algorithm\":\"X\",\"numberOfTests\":1.5,\"testGroups\":[]}",
	};
	static const char *const bad_iter[] = {
	    "{\"algorithm\":\"X\",\"numberOfTests\":1,\"testGroups\":[{}]}",
	    "{\"algorithm\":\"X\",\"numberOfTests\":1,\"testGroups\":"
	    "[{\"tests\":[{\"result\":\"valid\"}]}]}",
	    "{\"algorithm\":\"X\",\"numberOfTests\":1,\"testGroups\":"
	    "[{\"tests\":[{\"tcId\":1,\"result\":\"ok\"}]}]}",
	};
	char *dir = tu_tmpdir("vec-wp"), err[512], seen[256];
	size_t i;
	long n;

	cr_assert_not_null(dir);
	n = wp_text(dir, good, seen, err, sizeof(err));
	cr_assert_eq(n, 3, "%ld: %s", n, err);
	cr_expect_str_eq(seen, "1:valid:;2:invalid:A,B;7:acceptable:;");
	for (i = 0; i < sizeof(bad_load) / sizeof(bad_load[0]); i++) {
		n = wp_text(dir, bad_load[i], seen, err, sizeof(err));
		cr_expect_eq(n, -2, "bad file %zu loaded", i);
		cr_expect_neq(err[0], '\0');
	}
	for (i = 0; i < sizeof(bad_iter) / sizeof(bad_iter[0]); i++) {
		n = wp_text(dir, bad_iter[i], seen, err, sizeof(err));
		cr_expect_eq(n, -1, "bad tests %zu gave %ld", i, n);
		cr_expect(strstr(err, "t.json") != NULL, "%s", err);
	}
	cr_expect_eq(tu_rmtree(dir), 0);
	free(dir);
}
