/*
 * test_envelope.c - core/envelope.c and core/stream.c, format v1.
 *
 * Round trips for every file key type and frame-size edge, several
 * recipients, the three key hierarchies and the share cache; random
 * access to frames; a tamper sweep over every header byte, body bytes,
 * frame order, truncation and appended bytes; stanza transplants; the
 * parser's limits; and the byte layout of docs/FORMAT.md re-derived with
 * plain OpenSSL (EVP, not core/crypto.c) from the key files.
 *
 * Every decryption is done twice: with the frame API (envtest's
 * et_open) and through core/stream.c (what the CLI uses).
 *
 * Keys are generated once per run in the runner (ReportHook PRE_ALL),
 * not per test: Criterion re-executes the binary for every test.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <criterion/criterion.h>
#include <criterion/hooks.h>

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "envelope.h"
#include "envtest.h"
#include "stream.h"
#include "testutil.h"

static const char *const key_types[] = {
	"rsa-2048", "rsa-3072", "rsa-4096", "aes-256",
	"rsa-b=rsa-2048", "aes-b=aes-256", NULL,
};

ReportHook(PRE_ALL)(struct criterion_test_set *set)
{
	(void)set;
	if (et_keydir_create("envelope", key_types) != ATR_OK)
		fprintf(stderr, "test_envelope: key generation failed: %s\n",
		    atr_detail());
}

ReportHook(POST_ALL)(struct criterion_global_stats *stats)
{
	(void)stats;
	et_keydir_remove();
}

/* ---- small helpers -------------------------------------------------- */

static struct atr_key *
key(const char *name)
{
	struct atr_key *k = NULL;
	enum atr_err err = et_key_open(name, &k);

	cr_assert_eq(err, ATR_OK, "open key %s: %s: %s", name,
	    atr_errname(err), atr_detail());
	return k;
}

static int
rejected(enum atr_err e)
{
	return e == ATR_ERR_FORMAT || e == ATR_ERR_AUTH || e == ATR_ERR_NOKEY;
}

static uint8_t *
pattern(size_t n, uint32_t seed)
{
	uint8_t *p = malloc(n + 1);

	cr_assert_not_null(p);
	et_fill(p, n, seed);
	return p;
}

static size_t
nframes_of(size_t len, uint32_t fs)
{
	return len == 0 ? 1 : (len + fs - 1) / fs;
}

static void
seal_ok(const struct atr_enc_params *p, const uint8_t *pt, size_t len,
    struct et_buf *ct)
{
	enum atr_err err = et_seal(p, pt, len, ct);

	cr_assert_eq(err, ATR_OK, "seal %zu bytes: %s: %s", len,
	    atr_errname(err), atr_detail());
}

/* Opens ct with both decoders and checks the plaintext. */
static void
open_both_ok(const struct et_buf *ct, struct atr_key *const *keys, size_t n,
    const struct atr_dec_opts *o, const uint8_t *pt, size_t len,
    const char *what)
{
	struct et_buf out;
	enum atr_err err;

	err = et_open(ct->p, ct->len, keys, n, o, &out, NULL);
	cr_assert_eq(err, ATR_OK, "%s: frame API: %s: %s", what,
	    atr_errname(err), atr_detail());
	cr_assert_eq(out.len, len, "%s: %zu bytes back, want %zu", what,
	    out.len, len);
	cr_assert(len == 0 || memcmp(out.p, pt, len) == 0,
	    "%s: plaintext differs", what);
	et_buf_free(&out);
	err = et_open_stream(ct->p, ct->len, keys, n, o, &out);
	cr_assert_eq(err, ATR_OK, "%s: stream: %s: %s", what,
	    atr_errname(err), atr_detail());
	cr_assert_eq(out.len, len, "%s: stream: %zu bytes back, want %zu",
	    what, out.len, len);
	cr_assert(len == 0 || memcmp(out.p, pt, len) == 0,
	    "%s: stream plaintext differs", what);
	et_buf_free(&out);
}

/* Both decoders must refuse ct; returns the frame API's code. */
static enum atr_err
open_both_fail(const uint8_t *ct, size_t len, struct atr_key *const *keys,
    size_t n, const struct atr_dec_opts *o, const char *what)
{
	struct et_buf out;
	enum atr_err e1, e2;

	e1 = et_open(ct, len, keys, n, o, &out, NULL);
	cr_assert_neq(e1, ATR_OK, "%s: frame API accepted it", what);
	cr_assert(rejected(e1), "%s: frame API: unexpected %s: %s", what,
	    atr_errname(e1), atr_detail());
	cr_assert_null(out.p, "%s: output left on failure", what);
	e2 = et_open_stream(ct, len, keys, n, o, &out);
	cr_assert_neq(e2, ATR_OK, "%s: stream accepted it", what);
	cr_assert(rejected(e2), "%s: stream: unexpected %s: %s", what,
	    atr_errname(e2), atr_detail());
	et_buf_free(&out);
	return e1;
}

static void
parse_ok(const uint8_t *b, size_t len, struct atr_header *h)
{
	enum atr_err err = atr_header_parse(b, len, h);

	cr_assert_eq(err, ATR_OK, "parse: %s: %s", atr_errname(err),
	    atr_detail());
}

/* ---- round trips ---------------------------------------------------- */

/* Every frame-size edge for frame sizes 64, 1024 and the default, with
 * the frame API and the stream, in both directions. */
static void
roundtrips(const char *wrap_name, const char *open_name)
{
	static const uint32_t fss[] = {64, 1024, 0};
	struct atr_key *wk = key(wrap_name), *ok = key(open_name);
	size_t fi, si;

	for (fi = 0; fi < sizeof(fss) / sizeof(fss[0]); fi++) {
		uint32_t fs = fss[fi] ? fss[fi] : ATR_FRAME_DEFAULT;
		size_t sizes[] = {0, 1, fs - 1, fs, fs + 1, 3 * (size_t)fs,
		    3 * (size_t)fs + 5};
		struct atr_enc_params p = {&wk, 1, NULL, fss[fi]};

		for (si = 0; si < sizeof(sizes) / sizeof(sizes[0]); si++) {
			size_t len = sizes[si];
			uint8_t *pt = pattern(len, (uint32_t)(len + fs));
			struct et_buf ct, ct2;
			struct atr_header h;
			char what[96];

			snprintf(what, sizeof(what), "%s fs %u len %zu",
			    wrap_name, fs, len);
			seal_ok(&p, pt, len, &ct);
			parse_ok(ct.p, ct.len, &h);
			cr_assert_eq(h.frame_size, fs, "%s: frame size", what);
			cr_assert_eq(ct.len, h.len + len +
			    nframes_of(len, fs) * ATR_GCM_TAGBYTES,
			    "%s: ciphertext length %zu", what, ct.len);
			open_both_ok(&ct, &ok, 1, NULL, pt, len, what);

			cr_assert_eq(et_seal_stream(&p, pt, len, &ct2), ATR_OK,
			    "%s: stream seal: %s", what, atr_detail());
			cr_assert_eq(ct2.len, ct.len, "%s: stream length", what);
			cr_assert(memcmp(ct2.p + 10, ct.p + 10, 32) != 0,
			    "%s: two objects share an object id", what);
			open_both_ok(&ct2, &ok, 1, NULL, pt, len, what);
			et_buf_free(&ct);
			et_buf_free(&ct2);
			free(pt);
		}
	}
	atr_key_free(wk);
	atr_key_free(ok);
}

Test(envelope, roundtrip_rsa2048)
{
	roundtrips("rsa-2048.pub", "rsa-2048");
}

Test(envelope, roundtrip_rsa3072)
{
	roundtrips("rsa-3072.pub", "rsa-3072");
}

Test(envelope, roundtrip_rsa4096)
{
	roundtrips("rsa-4096.pub", "rsa-4096");
}

Test(envelope, roundtrip_aes256)
{
	roundtrips("aes-256", "aes-256");
}

Test(envelope, roundtrip_private_key_wraps_too)
{
	/* The private key file also holds the public half. */
	roundtrips("rsa-2048", "rsa-2048");
}

Test(envelope, several_recipients_each_alone_opens)
{
	static const char *const wrap[] = {"rsa-2048.pub", "rsa-3072.pub",
	    "aes-256", "rsa-4096.pub"};
	static const char *const open[] = {"rsa-2048", "rsa-3072",
	    "aes-256", "rsa-4096"};
	struct atr_key *wk[4], *k, *pair[2];
	struct atr_enc_params p = {wk, 4, NULL, 64};
	size_t i, len = 64 * 3 + 17, which = 99;
	uint8_t *pt = pattern(len, 7);
	struct atr_header h;
	struct et_buf ct, out;

	for (i = 0; i < 4; i++)
		wk[i] = key(wrap[i]);
	seal_ok(&p, pt, len, &ct);
	parse_ok(ct.p, ct.len, &h);
	cr_assert_eq(h.nstanzas, 4);
	for (i = 0; i < 4; i++) {
		cr_assert_eq(h.st[i].provider, wk[i]->provider, "stanza %zu", i);
		cr_assert_eq(h.st[i].alg, wk[i]->alg, "stanza %zu", i);
		cr_assert_eq(h.st[i].kind, ATR_KIND_DIRECT, "stanza %zu", i);
		cr_assert_str_eq(h.st[i].key_id, wk[i]->key_id, "stanza %zu", i);
		k = key(open[i]);
		open_both_ok(&ct, &k, 1, NULL, pt, len, open[i]);
		atr_key_free(k);
	}
	/* A non-recipient first in the list is skipped, and which_key says
	 * which one opened it. */
	pair[0] = key("aes-b");
	pair[1] = key("rsa-3072");
	cr_assert_eq(et_open(ct.p, ct.len, pair, 2, NULL, &out, &which),
	    ATR_OK, "%s", atr_detail());
	cr_assert_eq(which, 1);
	et_buf_free(&out);
	atr_key_free(pair[0]);
	atr_key_free(pair[1]);
	for (i = 0; i < 4; i++)
		atr_key_free(wk[i]);
	et_buf_free(&ct);
	free(pt);
}

Test(envelope, two_objects_have_fresh_ids_and_prefixes)
{
	struct atr_key *k = key("aes-256");
	struct atr_enc_params p = {&k, 1, NULL, 64};
	uint8_t pt[100];
	struct et_buf a, b;
	struct atr_header ha, hb;

	memset(pt, 'x', sizeof(pt));
	seal_ok(&p, pt, sizeof(pt), &a);
	seal_ok(&p, pt, sizeof(pt), &b);
	parse_ok(a.p, a.len, &ha);
	parse_ok(b.p, b.len, &hb);
	cr_assert(memcmp(ha.object_id, hb.object_id, 32) != 0);
	cr_assert(memcmp(ha.nonce_prefix, hb.nonce_prefix, 7) != 0);
	cr_assert(memcmp(ha.commitment, hb.commitment, 32) != 0);
	cr_assert(!tu_all_zero(ha.object_id, 32));
	cr_assert_eq(a.len, b.len);
	cr_assert(memcmp(a.p + ha.len, b.p + hb.len, a.len - ha.len) != 0,
	    "same plaintext gave the same body twice");
	et_buf_free(&a);
	et_buf_free(&b);
	atr_key_free(k);
}

/* ---- hierarchies and the share cache -------------------------------- */

#define NOBJ 5

static void
hierarchy(enum atr_stanza_kind kind)
{
	struct atr_key *wk[2] = {key("rsa-2048.pub"), key("aes-256")};
	struct atr_key *ok[2] = {key("rsa-2048"), key("aes-256")};
	struct atr_share *sh = NULL, *sh2 = NULL;
	struct atr_enc_params p = {NULL, 0, NULL, 64};
	struct et_buf ct[NOBJ], other, out;
	struct atr_header h[NOBJ];
	size_t len = 200, i, j;
	uint8_t *pt = pattern(len, 3);
	uint64_t unwraps, hits;
	enum atr_err err;

	err = atr_share_new(kind, wk, 2, &sh);
	cr_assert_eq(err, ATR_OK, "share: %s", atr_detail());
	p.share = sh;
	for (i = 0; i < NOBJ; i++) {
		seal_ok(&p, pt, len, &ct[i]);
		parse_ok(ct[i].p, ct[i].len, &h[i]);
		cr_assert_eq(h[i].nstanzas, 2);
		for (j = 0; j < 2; j++) {
			cr_assert_eq(h[i].st[j].kind, kind);
			cr_assert_str_eq(h[i].st[j].key_id, wk[j]->key_id);
			cr_assert(memcmp(h[i].st[j].share_id, h[0].st[j].share_id,
			    ATR_SHARE_ID_BYTES) == 0, "share id differs");
			/* The KEK-wrapped share is the same bytes in every
			 * object: that is what makes one unwrap enough. */
			cr_assert_eq(h[i].st[j].wrapped_len,
			    h[0].st[j].wrapped_len);
			cr_assert(memcmp(h[i].st[j].wrapped, h[0].st[j].wrapped,
			    h[0].st[j].wrapped_len) == 0);
			if (kind == ATR_KIND_INTERMEDIATE) {
				cr_assert_eq(h[i].st[j].ik_wrapped_len,
				    ATR_IK_WRAPPED_BYTES);
				cr_assert(i == 0 || memcmp(h[i].st[j].ik_wrapped,
				    h[0].st[j].ik_wrapped,
				    ATR_IK_WRAPPED_BYTES) != 0,
				    "every object has its own DEK");
			}
		}
		cr_assert(memcmp(h[0].st[0].share_id, h[0].st[1].share_id, 16)
		    == 0);
		cr_assert(i == 0 || memcmp(h[i].object_id, h[0].object_id, 32)
		    != 0);
		cr_assert(i == 0 || memcmp(h[i].commitment, h[0].commitment, 32)
		    != 0, "objects of one share must derive different keys");
	}
	/* Without a cache, each key alone opens every object. */
	for (i = 0; i < NOBJ; i++)
		for (j = 0; j < 2; j++)
			open_both_ok(&ct[i], &ok[j], 1, NULL, pt, len, "no cache");
	/* With a cache: one KEK unwrap per share, then hits. */
	for (j = 0; j < 2; j++) {
		struct atr_dec_opts o = {atr_kcache_new(8)};

		cr_assert_not_null(o.cache);
		for (i = 0; i < NOBJ; i++) {
			err = et_open(ct[i].p, ct[i].len, &ok[j], 1, &o, &out, NULL);
			cr_assert_eq(err, ATR_OK, "cached open %zu: %s", i,
			    atr_detail());
			cr_assert(out.len == len && memcmp(out.p, pt, len) == 0);
			et_buf_free(&out);
		}
		atr_kcache_stats(o.cache, &unwraps, &hits);
		cr_assert_eq(unwraps, 1, "key %zu: %llu unwraps", j,
		    (unsigned long long)unwraps);
		cr_assert_eq(hits, NOBJ - 1, "key %zu: %llu hits", j,
		    (unsigned long long)hits);

		/* A warm cache is no bypass: a tampered object still fails
		 * and a different share still costs an unwrap. */
		{
			uint8_t *bad = malloc(ct[0].len);
			size_t so, sl;

			memcpy(bad, ct[0].p, ct[0].len);
			bad[h[0].len - 1] ^= 1; /* header MAC */
			cr_assert_eq(et_open(bad, ct[0].len, &ok[j], 1, &o, &out,
			    NULL), ATR_ERR_AUTH);
			memcpy(bad, ct[0].p, ct[0].len);
			bad[h[0].len + 3] ^= 1; /* frame 0 */
			cr_assert_eq(et_open(bad, ct[0].len, &ok[j], 1, &o, &out,
			    NULL), ATR_ERR_AUTH);
			if (kind == ATR_KIND_INTERMEDIATE) {
				/* last byte of this key's stanza: ik_wrapped */
				cr_assert_eq(et_stanza_span(ct[0].p, h[0].len, j,
				    &so, &sl), 0);
				memcpy(bad, ct[0].p, ct[0].len);
				bad[so + sl - 1] ^= 0x40;
				cr_assert_eq(et_open(bad, ct[0].len, &ok[j], 1, &o,
				    &out, NULL), ATR_ERR_AUTH);
			}
			free(bad);
		}
		err = atr_share_new(kind, wk, 2, &sh2);
		cr_assert_eq(err, ATR_OK);
		p.share = sh2;
		seal_ok(&p, pt, len, &other);
		p.share = sh;
		atr_kcache_stats(o.cache, &unwraps, &hits);
		err = et_open(other.p, other.len, &ok[j], 1, &o, &out, NULL);
		cr_assert_eq(err, ATR_OK, "%s", atr_detail());
		et_buf_free(&out);
		{
			uint64_t u2, h2;

			atr_kcache_stats(o.cache, &u2, &h2);
			cr_assert_eq(u2, unwraps + 1, "a new share must unwrap");
			cr_assert_eq(h2, hits);
		}
		et_buf_free(&other);
		atr_share_free(sh2);
		sh2 = NULL;
		atr_kcache_free(o.cache);
	}
	/* Frames never move between objects of one share: each object has
	 * its own payload key (FORMAT.md section 3). */
	{
		uint8_t *mix = malloc(ct[1].len);

		memcpy(mix, ct[1].p, ct[1].len);
		memcpy(mix + h[1].len, ct[0].p + h[0].len, 64 + 16);
		cr_assert_eq(et_open(mix, ct[1].len, &ok[1], 1, NULL, &out, NULL),
		    ATR_ERR_AUTH);
		free(mix);
	}
	for (i = 0; i < NOBJ; i++)
		et_buf_free(&ct[i]);
	atr_share_free(sh);
	for (j = 0; j < 2; j++) {
		atr_key_free(wk[j]);
		atr_key_free(ok[j]);
	}
	free(pt);
}

Test(envelope, hierarchy_shared)
{
	hierarchy(ATR_KIND_SHARED);
}

Test(envelope, hierarchy_intermediate)
{
	hierarchy(ATR_KIND_INTERMEDIATE);
}

Test(envelope, hierarchy_direct_with_cache_unwraps_every_object)
{
	struct atr_key *k = key("aes-256");
	struct atr_enc_params p = {&k, 1, NULL, 64};
	struct atr_dec_opts o = {atr_kcache_new(4)};
	struct atr_header h;
	struct et_buf ct, out;
	uint64_t u, hits;
	uint8_t pt[10] = "direct....";
	int i;

	cr_assert_not_null(o.cache);
	for (i = 0; i < 3; i++) {
		seal_ok(&p, pt, sizeof(pt), &ct);
		parse_ok(ct.p, ct.len, &h);
		cr_assert_eq(h.st[0].kind, ATR_KIND_DIRECT);
		cr_assert_eq(et_open(ct.p, ct.len, &k, 1, &o, &out, NULL), ATR_OK);
		et_buf_free(&out);
		et_buf_free(&ct);
	}
	atr_kcache_stats(o.cache, &u, &hits);
	cr_assert_eq(u, 3);
	cr_assert_eq(hits, 0);
	atr_kcache_free(o.cache);
	atr_key_free(k);
}

/*
 * The cache's lifetime (issue 11): an entry is served before its TTL
 * and never after, so a revoked key stops opening data within the TTL.
 * Each open after the TTL must go back to the key (one more unwrap).
 */
static void
open_shared(struct atr_key *k, struct atr_dec_opts *o, struct et_buf *ct)
{
	struct et_buf out;

	cr_assert_eq(et_open(ct->p, ct->len, &k, 1, o, &out, NULL), ATR_OK);
	et_buf_free(&out);
}

Test(envelope, kcache_entry_not_served_after_ttl)
{
	struct atr_key *k = key("aes-256");
	struct atr_share *sh = NULL;
	struct atr_enc_params p = {NULL, 0, NULL, 64};
	struct atr_dec_opts o = {atr_kcache_new(4)};
	struct et_buf ct;
	uint64_t u, hits;
	uint8_t pt[12] = "ttl-check...";

	cr_assert_not_null(o.cache);
	cr_assert_eq(atr_kcache_ttl(o.cache),
	    (uint64_t)ATR_KCACHE_TTL_DEFAULT_S * 1000000000ULL);
	atr_kcache_set_ttl(o.cache, 0);   /* ignored: no entry lives forever */
	cr_assert_eq(atr_kcache_ttl(o.cache),
	    (uint64_t)ATR_KCACHE_TTL_DEFAULT_S * 1000000000ULL);
	atr_kcache_set_ttl(o.cache, 300000000ULL);   /* 300 ms */
	cr_assert_eq(atr_share_new(ATR_KIND_SHARED, &k, 1, &sh), ATR_OK);
	p.share = sh;
	seal_ok(&p, pt, sizeof(pt), &ct);
	open_shared(k, &o, &ct);            /* unwrap, cached */
	open_shared(k, &o, &ct);            /* served from the cache */
	atr_kcache_stats(o.cache, &u, &hits);
	cr_assert_eq(u, 1);
	cr_assert_eq(hits, 1);
	{
		struct timespec nap = {0, 450000000L};

		nanosleep(&nap, NULL);
	}
	open_shared(k, &o, &ct);            /* expired: a new unwrap */
	atr_kcache_stats(o.cache, &u, &hits);
	cr_assert_eq(u, 2, "an entry older than the TTL was served");
	cr_assert_eq(hits, 1);
	open_shared(k, &o, &ct);            /* the fresh entry is served */
	atr_kcache_stats(o.cache, &u, &hits);
	cr_assert_eq(u, 2);
	cr_assert_eq(hits, 2);
	et_buf_free(&ct);
	atr_share_free(sh);
	atr_kcache_free(o.cache);
	atr_key_free(k);
}

Test(envelope, share_refuses_bad_arguments)
{
	struct atr_key *pub = key("rsa-2048.pub");
	struct atr_share *s = (struct atr_share *)1;

	cr_assert_eq(atr_share_new(ATR_KIND_DIRECT, &pub, 1, &s),
	    ATR_ERR_USAGE);
	cr_assert_null(s);
	cr_assert_eq(atr_share_new(ATR_KIND_SHARED, &pub, 0, &s),
	    ATR_ERR_USAGE);
	cr_assert_eq(atr_share_new(ATR_KIND_SHARED, &pub, 17, &s),
	    ATR_ERR_USAGE);
	atr_key_free(pub);
}

Test(envelope, enc_refuses_bad_parameters)
{
	struct atr_key *k = key("aes-256");
	struct atr_enc_params p = {&k, 1, NULL, 63};
	struct atr_enc *e = NULL;
	uint8_t buf[200], out[300];

	cr_assert_eq(atr_enc_new(&p, &e), ATR_ERR_USAGE);
	p.frame_size = ATR_FRAME_MAX + 1;
	cr_assert_eq(atr_enc_new(&p, &e), ATR_ERR_USAGE);
	p.frame_size = 64;
	p.nkeys = 0;
	cr_assert_eq(atr_enc_new(&p, &e), ATR_ERR_USAGE);
	p.nkeys = 1;
	cr_assert_eq(atr_enc_new(&p, &e), ATR_OK);
	memset(buf, 0, sizeof(buf));
	/* Non-final frames are exactly frame_size; the final one 1..F;
	 * empty only as the first; nothing after the final one. */
	cr_assert_eq(atr_enc_frame(e, buf, 63, 0, out), ATR_ERR_USAGE);
	cr_assert_eq(atr_enc_frame(e, buf, 65, 1, out), ATR_ERR_USAGE);
	cr_assert_eq(atr_enc_frame(e, buf, 64, 0, out), ATR_OK);
	cr_assert_eq(atr_enc_frame(e, buf, 0, 1, out), ATR_ERR_USAGE);
	cr_assert_eq(atr_enc_frame(e, buf, 5, 1, out), ATR_OK);
	cr_assert_eq(atr_enc_frame(e, buf, 5, 1, out), ATR_ERR_USAGE);
	atr_enc_free(e);
	atr_key_free(k);
}

/* ---- random access -------------------------------------------------- */

static void
random_access(size_t len)
{
	struct atr_key *k = key("aes-256");
	struct atr_enc_params p = {&k, 1, NULL, 64};
	uint8_t *pt = pattern(len, 11), out[64];
	struct atr_header h;
	struct atr_dec *d = NULL;
	struct et_buf ct;
	uint64_t n, i;

	seal_ok(&p, pt, len, &ct);
	parse_ok(ct.p, ct.len, &h);
	cr_assert_eq(atr_body_frames(ct.len - h.len, 64, &n), ATR_OK);
	cr_assert_eq(n, nframes_of(len, 64));
	cr_assert_eq(atr_dec_new(&h, &k, 1, NULL, &d, NULL, NULL), ATR_OK);
	/* Last frame first: no frame depends on another. */
	for (i = n; i-- > 0;) {
		size_t off = et_frame_off(h.len, 64, i);
		size_t rl = ct.len - off < 80 ? ct.len - off : 80;
		int final = i + 1 == n;

		cr_assert_eq(atr_dec_frame(d, i, final, ct.p + off, rl, out),
		    ATR_OK, "frame %llu alone", (unsigned long long)i);
		cr_assert(memcmp(out, pt + i * 64, rl - 16) == 0,
		    "frame %llu plaintext", (unsigned long long)i);
		/* The same bytes under another index or finality fail. */
		cr_assert_eq(atr_dec_frame(d, i + 1, final, ct.p + off, rl,
		    out), ATR_ERR_AUTH);
		if (i > 0)
			cr_assert_eq(atr_dec_frame(d, i - 1, final, ct.p + off,
			    rl, out), ATR_ERR_AUTH);
		if (rl == 80)
			cr_assert_eq(atr_dec_frame(d, i, !final, ct.p + off, rl,
			    out), ATR_ERR_AUTH, "frame %llu with final flipped",
			    (unsigned long long)i);
	}
	/* Lengths are checked before any tag. */
	cr_assert_eq(atr_dec_frame(d, 0, 0, ct.p + h.len, 15, out),
	    ATR_ERR_FORMAT);
	cr_assert_eq(atr_dec_frame(d, 0, 0, ct.p + h.len, 79, out),
	    ATR_ERR_FORMAT);
	cr_assert_eq(atr_dec_frame(d, 0, 1, ct.p + h.len, 81, out),
	    ATR_ERR_FORMAT);
	cr_assert_eq(atr_dec_frame(d, 1, 1, ct.p + h.len, 16, out),
	    ATR_ERR_FORMAT, "an empty frame is only valid as frame 0");
	cr_assert_eq(atr_dec_frame(d, ATR_MAX_FRAMES, 1, ct.p + h.len, 80,
	    out), ATR_ERR_FORMAT);
	atr_dec_free(d);
	et_buf_free(&ct);
	atr_key_free(k);
	free(pt);
}

Test(envelope, random_access_partial_last_frame)
{
	random_access(64 * 7 + 13);
}

Test(envelope, random_access_full_last_frame)
{
	random_access(64 * 5);
}

/* ---- tampering ------------------------------------------------------ */

/* Flips every header byte (with each mask) and requires a refusal. */
static void
sweep_header(const struct et_buf *ct, struct atr_key *const *keys, size_t n,
    const struct atr_dec_opts *o, const uint8_t *masks, size_t nmasks,
    const char *what)
{
	struct atr_header h;
	uint8_t *bad = malloc(ct->len);
	size_t i, m, counts[4] = {0};
	char msg[96];

	parse_ok(ct->p, ct->len, &h);
	for (i = 0; i < h.len; i++)
		for (m = 0; m < nmasks; m++) {
			enum atr_err e;

			memcpy(bad, ct->p, ct->len);
			bad[i] ^= masks[m];
			snprintf(msg, sizeof(msg), "%s: header byte %zu ^ 0x%02x",
			    what, i, masks[m]);
			e = open_both_fail(bad, ct->len, keys, n, o, msg);
			counts[e == ATR_ERR_FORMAT ? 0 : e == ATR_ERR_AUTH ? 1 : 2]++;
		}
	/* The sweep did reach every kind of check. */
	cr_assert_gt(counts[0], 0, "%s: no FORMAT refusal", what);
	cr_assert_gt(counts[1], 0, "%s: no AUTH refusal", what);
	free(bad);
}

Test(envelope, tamper_every_header_byte_direct_rsa)
{
	static const uint8_t masks[] = {0x80};
	struct atr_key *wk[2] = {key("rsa-2048.pub"), key("aes-256")};
	struct atr_key *rk = key("rsa-2048");
	struct atr_enc_params p = {wk, 2, NULL, 64};
	uint8_t *pt = pattern(150, 1);
	struct et_buf ct;

	seal_ok(&p, pt, 150, &ct);
	sweep_header(&ct, &rk, 1, NULL, masks, 1, "direct, rsa");
	et_buf_free(&ct);
	atr_key_free(wk[0]);
	atr_key_free(wk[1]);
	atr_key_free(rk);
	free(pt);
}

Test(envelope, tamper_every_header_byte_direct_aes)
{
	static const uint8_t masks[] = {0x01, 0xff};
	struct atr_key *wk[2] = {key("rsa-2048.pub"), key("aes-256")};
	struct atr_enc_params p = {wk, 2, NULL, 64};
	uint8_t *pt = pattern(150, 2);
	struct et_buf ct;

	seal_ok(&p, pt, 150, &ct);
	sweep_header(&ct, &wk[1], 1, NULL, masks, 2, "direct, aes");
	et_buf_free(&ct);
	atr_key_free(wk[0]);
	atr_key_free(wk[1]);
	free(pt);
}

static void
sweep_share(enum atr_stanza_kind kind)
{
	static const uint8_t masks[] = {0x01, 0xff};
	struct atr_key *k = key("aes-256"), *kb = key("aes-b"), *wk[2];
	struct atr_share *sh = NULL;
	struct atr_enc_params p = {NULL, 0, NULL, 64};
	struct atr_dec_opts o = {atr_kcache_new(4)};
	uint8_t *pt = pattern(150, 2);
	struct et_buf ct, out;

	wk[0] = kb;
	wk[1] = k;
	cr_assert_eq(atr_share_new(kind, wk, 2, &sh), ATR_OK);
	p.share = sh;
	seal_ok(&p, pt, 150, &ct);
	/* Without a cache, then with a warm one. */
	sweep_header(&ct, &k, 1, NULL, masks, 2, "share, no cache");
	cr_assert_eq(et_open(ct.p, ct.len, &k, 1, &o, &out, NULL), ATR_OK);
	et_buf_free(&out);
	sweep_header(&ct, &k, 1, &o, masks, 1, "share, warm cache");
	et_buf_free(&ct);
	atr_kcache_free(o.cache);
	atr_share_free(sh);
	atr_key_free(k);
	atr_key_free(kb);
	free(pt);
}

Test(envelope, tamper_every_header_byte_shared)
{
	sweep_share(ATR_KIND_SHARED);
}

Test(envelope, tamper_every_header_byte_intermediate)
{
	sweep_share(ATR_KIND_INTERMEDIATE);
}

Test(envelope, tamper_body_bytes)
{
	struct atr_key *k = key("aes-256");
	struct atr_enc_params p = {&k, 1, NULL, 64};
	size_t len = 64 * 5 + 10, i, tested = 0;
	uint8_t *pt = pattern(len, 5), *bad;
	struct atr_header h;
	struct et_buf ct;
	char msg[64];

	seal_ok(&p, pt, len, &ct);
	parse_ok(ct.p, ct.len, &h);
	bad = malloc(ct.len);
	for (i = h.len; i < ct.len; i++) {
		size_t r = (i - h.len) % 80;

		/* Every 7th byte, and both ends of every ciphertext and tag. */
		if ((i - h.len) % 7 != 0 && r != 0 && r != 63 && r != 64 &&
		    r != 79 && i != ct.len - 1 && i != ct.len - 16 &&
		    i != ct.len - 17)
			continue;
		memcpy(bad, ct.p, ct.len);
		bad[i] ^= 0x01;
		snprintf(msg, sizeof(msg), "body byte %zu", i);
		cr_assert_eq(open_both_fail(bad, ct.len, &k, 1, NULL, msg),
		    ATR_ERR_AUTH, "%s", msg);
		tested++;
	}
	cr_assert_gt(tested, 60);
	free(bad);
	et_buf_free(&ct);
	atr_key_free(k);
	free(pt);
}

Test(envelope, truncate_anywhere)
{
	struct atr_key *k = key("aes-256");
	struct atr_enc_params p = {&k, 1, NULL, 64};
	size_t len = 64 * 4 + 20, cut;
	uint8_t *pt = pattern(len, 9);
	struct atr_header h;
	struct et_buf ct;
	char msg[64];

	seal_ok(&p, pt, len, &ct);
	parse_ok(ct.p, ct.len, &h);
	/* Every length short of the whole object: inside the header, at
	 * every frame boundary, inside frames and tags. */
	for (cut = 0; cut < ct.len; cut++) {
		enum atr_err e;

		snprintf(msg, sizeof(msg), "truncated to %zu of %zu", cut, ct.len);
		e = open_both_fail(ct.p, cut, &k, 1, NULL, msg);
		if (cut < h.len)
			cr_assert_eq(e, ATR_ERR_FORMAT, "%s", msg);
		else
			cr_assert(e == ATR_ERR_FORMAT || e == ATR_ERR_AUTH,
			    "%s: %s", msg, atr_errname(e));
		if (cut > h.len && (cut - h.len) % 80 == 0)
			cr_assert_eq(e, ATR_ERR_AUTH,
			    "%s: a frame boundary must fail the final flag", msg);
	}
	et_buf_free(&ct);
	atr_key_free(k);
	free(pt);
}

/* Frame surgery on an object with a full and with a partial last frame. */
static void
reorder(size_t len)
{
	struct atr_key *k = key("aes-256");
	struct atr_enc_params p = {&k, 1, NULL, 64};
	uint8_t *pt = pattern(len, 13), *b, junk[100];
	struct atr_header h;
	struct et_buf ct;
	size_t bl, hl, n, f0, f1, f2, last;
	static const size_t app[] = {1, 15, 16, 17, 80};
	size_t i;
	char msg[64];

	memset(junk, 0x5a, sizeof(junk));
	seal_ok(&p, pt, len, &ct);
	parse_ok(ct.p, ct.len, &h);
	hl = h.len;
	n = nframes_of(len, 64);
	cr_assert_geq(n, 4);
	f0 = et_frame_off(hl, 64, 0);
	f1 = et_frame_off(hl, 64, 1);
	f2 = et_frame_off(hl, 64, 2);
	last = et_frame_off(hl, 64, n - 1);

	/* swap frames 1 and 2 */
	b = malloc(ct.len);
	memcpy(b, ct.p, ct.len);
	memcpy(b + f1, ct.p + f2, 80);
	memcpy(b + f2, ct.p + f1, 80);
	cr_assert_eq(open_both_fail(b, ct.len, &k, 1, NULL, "swap 1,2"),
	    ATR_ERR_AUTH);
	/* swap frames 0 and 1 */
	memcpy(b, ct.p, ct.len);
	memcpy(b + f0, ct.p + f1, 80);
	memcpy(b + f1, ct.p + f0, 80);
	cr_assert_eq(open_both_fail(b, ct.len, &k, 1, NULL, "swap 0,1"),
	    ATR_ERR_AUTH);
	free(b);
	/* duplicate frame 1 */
	b = et_splice(ct.p, ct.len, f2, 0, ct.p + f1, 80, &bl);
	cr_assert_eq(open_both_fail(b, bl, &k, 1, NULL, "duplicate 1"),
	    ATR_ERR_AUTH);
	free(b);
	/* drop frame 1 */
	b = et_splice(ct.p, ct.len, f1, 80, NULL, 0, &bl);
	cr_assert_eq(open_both_fail(b, bl, &k, 1, NULL, "drop 1"),
	    ATR_ERR_AUTH);
	free(b);
	/* drop frame 0 */
	b = et_splice(ct.p, ct.len, f0, 80, NULL, 0, &bl);
	cr_assert_eq(open_both_fail(b, bl, &k, 1, NULL, "drop 0"),
	    ATR_ERR_AUTH);
	free(b);
	/* drop the final frame: the one before it is now last */
	b = et_splice(ct.p, ct.len, last, ct.len - last, NULL, 0, &bl);
	cr_assert_eq(open_both_fail(b, bl, &k, 1, NULL, "drop final"),
	    ATR_ERR_AUTH);
	free(b);
	/* move the final frame before the one preceding it */
	b = et_splice(ct.p, ct.len, last, ct.len - last, NULL, 0, &bl);
	{
		size_t bl2;
		uint8_t *b2 = et_splice(b, bl, et_frame_off(hl, 64, n - 2), 0,
		    ct.p + last, ct.len - last, &bl2);

		open_both_fail(b2, bl2, &k, 1, NULL, "final moved up");
		free(b2);
	}
	free(b);
	/* appended bytes */
	for (i = 0; i < sizeof(app) / sizeof(app[0]); i++) {
		snprintf(msg, sizeof(msg), "append %zu", app[i]);
		b = et_splice(ct.p, ct.len, ct.len, 0, junk, app[i], &bl);
		open_both_fail(b, bl, &k, 1, NULL, msg);
		free(b);
	}
	/* append a genuine frame of the same object (a middle one) and
	 * the final one again */
	b = et_splice(ct.p, ct.len, ct.len, 0, ct.p + f1, 80, &bl);
	cr_assert_eq(open_both_fail(b, bl, &k, 1, NULL, "append frame 1"),
	    ATR_ERR_AUTH);
	free(b);
	b = et_splice(ct.p, ct.len, ct.len, 0, ct.p + last, ct.len - last, &bl);
	open_both_fail(b, bl, &k, 1, NULL, "append final again");
	free(b);
	et_buf_free(&ct);
	atr_key_free(k);
	free(pt);
}

Test(envelope, reorder_drop_duplicate_append_partial_last)
{
	reorder(64 * 4 + 10);
}

Test(envelope, reorder_drop_duplicate_append_full_last)
{
	reorder(64 * 5);
}

Test(envelope, empty_object_tamper)
{
	struct atr_key *k = key("aes-256");
	struct atr_enc_params p = {&k, 1, NULL, 64};
	struct atr_header h;
	struct et_buf ct;
	uint8_t *b;
	size_t bl, i;

	seal_ok(&p, NULL, 0, &ct);
	parse_ok(ct.p, ct.len, &h);
	cr_assert_eq(ct.len, h.len + 16, "the empty object is one tag");
	for (i = h.len; i < ct.len; i++) {
		b = malloc(ct.len);
		memcpy(b, ct.p, ct.len);
		b[i] ^= 0x10;
		cr_assert_eq(open_both_fail(b, ct.len, &k, 1, NULL, "tag"),
		    ATR_ERR_AUTH);
		free(b);
	}
	/* header only: the final frame is missing */
	cr_assert_eq(open_both_fail(ct.p, h.len, &k, 1, NULL, "no frame"),
	    ATR_ERR_FORMAT);
	b = et_splice(ct.p, ct.len, ct.len, 0, ct.p + h.len, 16, &bl);
	open_both_fail(b, bl, &k, 1, NULL, "two empty frames");
	free(b);
	et_buf_free(&ct);
	atr_key_free(k);
}

/* Moves stanza si of src into dst's header, replacing stanza di (or
 * appending it when di is -1), and fixes the stanza count. */
static uint8_t *
transplant(const struct et_buf *src, size_t si, const struct et_buf *dst,
    int di, size_t *out_len)
{
	struct atr_header hs, hd;
	size_t so, sl, doff, dl, count;
	uint8_t *b;

	parse_ok(src->p, src->len, &hs);
	parse_ok(dst->p, dst->len, &hd);
	cr_assert_eq(et_stanza_span(src->p, hs.len, si, &so, &sl), 0);
	if (di >= 0) {
		cr_assert_eq(et_stanza_span(dst->p, hd.len, (size_t)di, &doff,
		    &dl), 0);
		b = et_splice(dst->p, dst->len, doff, dl, src->p + so, sl,
		    out_len);
	} else {
		b = et_splice(dst->p, dst->len, hd.len - ATR_MAC_BYTES, 0,
		    src->p + so, sl, out_len);
		count = hd.nstanzas + 1U;
		b[85] = (uint8_t)(count >> 8);
		b[86] = (uint8_t)count;
	}
	cr_assert_not_null(b);
	return b;
}

Test(envelope, stanza_moved_between_objects_fails)
{
	struct atr_key *aes = key("aes-256"), *rpub = key("rsa-2048.pub");
	struct atr_key *rsa = key("rsa-2048"), *both[2];
	struct atr_enc_params pa = {&aes, 1, NULL, 64};
	struct atr_enc_params pr = {&rpub, 1, NULL, 64};
	uint8_t *pt = pattern(100, 4), *b;
	struct et_buf a1, a2, r1;
	struct atr_header h;
	size_t bl;

	seal_ok(&pa, pt, 100, &a1);
	seal_ok(&pa, pt, 100, &a2);
	seal_ok(&pr, pt, 100, &r1);
	both[0] = aes;
	both[1] = rsa;

	/* Same key, another object's stanza in place of this one's: the
	 * stanza unwraps, but its context names the other object id. */
	b = transplant(&a1, 0, &a2, 0, &bl);
	parse_ok(b, bl, &h);
	cr_assert_eq(bl, a2.len, "same-size stanza");
	cr_assert_eq(open_both_fail(b, bl, &aes, 1, NULL, "aes stanza swap"),
	    ATR_ERR_AUTH);
	free(b);
	/* An RSA recipient from another object added to an AES-only object
	 * (stanza count fixed): the RSA key unwraps a foreign DEK. */
	b = transplant(&r1, 0, &a2, -1, &bl);
	parse_ok(b, bl, &h);
	cr_assert_eq(h.nstanzas, 2);
	cr_assert_eq(open_both_fail(b, bl, &rsa, 1, NULL, "rsa added"),
	    ATR_ERR_AUTH);
	/* and the header's own recipient no longer authenticates it */
	cr_assert_eq(open_both_fail(b, bl, &aes, 1, NULL, "header changed"),
	    ATR_ERR_AUTH);
	cr_assert_eq(open_both_fail(b, bl, both, 2, NULL, "both keys"),
	    ATR_ERR_AUTH);
	free(b);
	/* RSA stanza replaces the AES one */
	b = transplant(&r1, 0, &a1, 0, &bl);
	cr_assert_eq(open_both_fail(b, bl, &rsa, 1, NULL, "rsa in place"),
	    ATR_ERR_AUTH);
	cr_assert_eq(open_both_fail(b, bl, &aes, 1, NULL, "aes gone"),
	    ATR_ERR_NOKEY);
	free(b);
	et_buf_free(&a1);
	et_buf_free(&a2);
	et_buf_free(&r1);
	atr_key_free(aes);
	atr_key_free(rpub);
	atr_key_free(rsa);
	free(pt);
}

Test(envelope, wrong_key_is_nokey)
{
	struct atr_key *wk[2] = {key("rsa-2048.pub"), key("aes-256")};
	struct atr_key *other[3] = {key("aes-b"), key("rsa-b"), key("rsa-3072")};
	struct atr_enc_params p = {wk, 2, NULL, 64};
	uint8_t pt[70] = "x";
	struct et_buf ct;
	size_t i;

	seal_ok(&p, pt, sizeof(pt), &ct);
	for (i = 0; i < 3; i++)
		cr_assert_eq(open_both_fail(ct.p, ct.len, &other[i], 1, NULL,
		    "wrong key"), ATR_ERR_NOKEY);
	cr_assert_eq(open_both_fail(ct.p, ct.len, other, 3, NULL, "3 wrong"),
	    ATR_ERR_NOKEY);
	cr_assert_eq(open_both_fail(ct.p, ct.len, other, 0, NULL, "no keys"),
	    ATR_ERR_NOKEY);
	et_buf_free(&ct);
	for (i = 0; i < 3; i++)
		atr_key_free(other[i]);
	atr_key_free(wk[0]);
	atr_key_free(wk[1]);
}

Test(envelope, corrupted_wrapped_dek_is_auth)
{
	struct atr_key *wk[2] = {key("rsa-2048.pub"), key("aes-256")};
	struct atr_key *ok[2] = {key("rsa-2048"), key("aes-256")};
	struct atr_enc_params p = {wk, 2, NULL, 64};
	uint8_t pt[70] = "y", *b;
	struct atr_header h;
	struct et_buf ct;
	size_t j, so, sl, pos[3];
	int q;

	seal_ok(&p, pt, sizeof(pt), &ct);
	parse_ok(ct.p, ct.len, &h);
	b = malloc(ct.len);
	for (j = 0; j < 2; j++) {
		size_t wstart;

		cr_assert_eq(et_stanza_span(ct.p, h.len, j, &so, &sl), 0);
		wstart = so + 5 + strlen(h.st[j].key_id) + 2;
		pos[0] = wstart;
		pos[1] = wstart + h.st[j].wrapped_len / 2;
		pos[2] = wstart + h.st[j].wrapped_len - 1;
		for (q = 0; q < 3; q++) {
			memcpy(b, ct.p, ct.len);
			b[pos[q]] ^= 0x04;
			cr_assert_eq(open_both_fail(b, ct.len, &ok[j], 1, NULL,
			    "wrapped DEK"), ATR_ERR_AUTH, "stanza %zu byte %zu",
			    j, pos[q]);
		}
	}
	free(b);
	et_buf_free(&ct);
	for (j = 0; j < 2; j++) {
		atr_key_free(wk[j]);
		atr_key_free(ok[j]);
	}
}

Test(envelope, public_key_alone_cannot_open)
{
	struct atr_key *pub = key("rsa-2048.pub");
	struct atr_enc_params p = {&pub, 1, NULL, 64};
	uint8_t pt[10] = "z";
	struct atr_header h;
	struct atr_dec *d = NULL;
	struct et_buf ct;
	enum atr_err err;

	seal_ok(&p, pt, sizeof(pt), &ct);
	parse_ok(ct.p, ct.len, &h);
	err = atr_dec_new(&h, &pub, 1, NULL, &d, NULL, NULL);
	cr_assert_eq(err, ATR_ERR_KEY, "got %s", atr_errname(err));
	cr_assert_not_null(strstr(atr_detail(), "private key"), "detail: %s",
	    atr_detail());
	cr_assert_null(d);
	et_buf_free(&ct);
	atr_key_free(pub);
}

/* ---- header parser limits ------------------------------------------- */

struct hb {
	uint8_t b[ATR_HEADER_MAX + 256];
	size_t n;
};

static void
put16(uint8_t *p, size_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void
hb_core(struct hb *h, uint8_t version, uint8_t flags, uint16_t suite,
    uint32_t fs, size_t count)
{
	memset(h->b, 0xee, sizeof(h->b));
	memcpy(h->b, "ATREST", 6);
	h->b[6] = version;
	h->b[7] = flags;
	put16(h->b + 8, suite);
	et_fill(h->b + 10, 32, 99);
	h->b[42] = (uint8_t)(fs >> 24);
	h->b[43] = (uint8_t)(fs >> 16);
	h->b[44] = (uint8_t)(fs >> 8);
	h->b[45] = (uint8_t)fs;
	et_fill(h->b + 46, 7 + 32, 98);
	put16(h->b + 85, count);
	h->n = 87;
}

/* A stanza with key id kid (kl bytes), wl wrapped bytes; kinds 1/2 get
 * a share id, kind 2 an intermediate wrap of ikl bytes. */
static void
hb_stanza(struct hb *h, uint8_t kind, const char *kid, size_t kl, size_t wl,
    size_t ikl)
{
	uint8_t *p = h->b + h->n;

	p[0] = ATR_PROV_FILE_AES;
	p[1] = ATR_WRAP_AES_KWP;
	p[2] = kind;
	put16(p + 3, kl);
	memcpy(p + 5, kid, kl);
	h->n += 5 + kl;
	put16(h->b + h->n, wl);
	memset(h->b + h->n + 2, 0xa5, wl);
	h->n += 2 + wl;
	if (kind == 0 || kind > 2)
		return;
	memset(h->b + h->n, 0x5a, 16);
	h->n += 16;
	if (kind != 2)
		return;
	put16(h->b + h->n, ikl);
	memset(h->b + h->n + 2, 0x3c, ikl);
	h->n += 2 + ikl;
}

static void
hb_mac(struct hb *h)
{
	memset(h->b + h->n, 0x77, 32);
	h->n += 32;
}

static const char kid1[] = "kek-sha256:abc";

static void
minimal(struct hb *h, uint8_t version, uint8_t flags, uint16_t suite,
    uint32_t fs)
{
	hb_core(h, version, flags, suite, fs, 1);
	hb_stanza(h, 0, kid1, strlen(kid1), 72, 0);
	hb_mac(h);
}

static enum atr_err
parse(const struct hb *b)
{
	static struct atr_header h;
	enum atr_err err = atr_header_parse(b->b, b->n, &h);

	if (err == ATR_OK)
		cr_assert_eq(h.len, b->n, "parsed length");
	return err;
}

Test(header, minimal_header_parses_field_by_field)
{
	static struct hb b;
	static struct atr_header h;

	minimal(&b, 1, 0, 1, 4096);
	cr_assert_eq(atr_header_parse(b.b, b.n, &h), ATR_OK, "%s",
	    atr_detail());
	cr_assert_eq(h.len, b.n);
	cr_assert_eq(h.len, 87 + 5 + strlen(kid1) + 2 + 72 + 32);
	cr_assert_eq(h.version, 1);
	cr_assert_eq(h.flags, 0);
	cr_assert_eq(h.suite, 1);
	cr_assert_eq(h.frame_size, 4096);
	cr_assert(memcmp(h.object_id, b.b + 10, 32) == 0);
	cr_assert(memcmp(h.nonce_prefix, b.b + 46, 7) == 0);
	cr_assert(memcmp(h.commitment, b.b + 53, 32) == 0);
	cr_assert(memcmp(h.mac, b.b + b.n - 32, 32) == 0);
	cr_assert_eq(h.nstanzas, 1);
	cr_assert_eq(h.st[0].provider, ATR_PROV_FILE_AES);
	cr_assert_eq(h.st[0].alg, ATR_WRAP_AES_KWP);
	cr_assert_eq(h.st[0].kind, 0);
	cr_assert_str_eq(h.st[0].key_id, kid1);
	cr_assert_eq(h.st[0].wrapped_len, 72);
	cr_assert_eq(h.st[0].wrapped[71], 0xa5);
	cr_assert(memcmp(h.raw, b.b, b.n) == 0);
}

Test(header, bad_core_fields)
{
	static struct hb b;
	static const uint8_t versions[] = {0, 2, 0x81, 0xff};
	static const uint8_t flags[] = {1, 2, 0x80, 0xff};
	static const uint16_t suites[] = {0, 2, 0x0100, 0xffff};
	static const uint32_t bad_fs[] = {0, 1, 63, ATR_FRAME_MAX + 1,
	    0x80000000U, 0xffffffffU};
	static const uint32_t good_fs[] = {64, 65, 65536, ATR_FRAME_MAX};
	size_t i;

	for (i = 0; i < sizeof(versions); i++) {
		minimal(&b, versions[i], 0, 1, 64);
		cr_assert_eq(parse(&b), ATR_ERR_FORMAT, "version %u",
		    versions[i]);
	}
	for (i = 0; i < sizeof(flags); i++) {
		minimal(&b, 1, flags[i], 1, 64);
		cr_assert_eq(parse(&b), ATR_ERR_FORMAT, "flags %u", flags[i]);
		cr_assert_not_null(strstr(atr_detail(), "flags"));
	}
	for (i = 0; i < sizeof(suites) / sizeof(suites[0]); i++) {
		minimal(&b, 1, 0, suites[i], 64);
		cr_assert_eq(parse(&b), ATR_ERR_FORMAT, "suite %u", suites[i]);
	}
	for (i = 0; i < sizeof(bad_fs) / sizeof(bad_fs[0]); i++) {
		minimal(&b, 1, 0, 1, bad_fs[i]);
		cr_assert_eq(parse(&b), ATR_ERR_FORMAT, "frame size %u",
		    bad_fs[i]);
	}
	for (i = 0; i < sizeof(good_fs) / sizeof(good_fs[0]); i++) {
		minimal(&b, 1, 0, 1, good_fs[i]);
		cr_assert_eq(parse(&b), ATR_OK, "frame size %u: %s", good_fs[i],
		    atr_detail());
	}
	minimal(&b, 1, 0, 1, 64);
	b.b[0] = 'a';
	cr_assert_eq(parse(&b), ATR_ERR_FORMAT);
	minimal(&b, 1, 0, 1, 64);
	b.b[5] ^= 0x20;
	cr_assert_eq(parse(&b), ATR_ERR_FORMAT);
	minimal(&b, 1, 0, 1, 64);
	b.n = 0;
	cr_assert_eq(parse(&b), ATR_ERR_FORMAT, "empty input");
}

Test(header, stanza_count_limits)
{
	static struct hb b;
	static struct atr_header h;
	char kid[32];
	size_t n, i;

	hb_core(&b, 1, 0, 1, 64, 0);
	hb_mac(&b);
	cr_assert_eq(parse(&b), ATR_ERR_FORMAT, "0 stanzas");
	for (n = 1; n <= 17; n++) {
		hb_core(&b, 1, 0, 1, 64, n);
		for (i = 0; i < n; i++) {
			snprintf(kid, sizeof(kid), "k%zu", i);
			hb_stanza(&b, (uint8_t)(i % 3), kid, strlen(kid), 72, 72);
		}
		hb_mac(&b);
		if (n <= 16) {
			cr_assert_eq(atr_header_parse(b.b, b.n, &h), ATR_OK,
			    "%zu stanzas: %s", n, atr_detail());
			cr_assert_eq(h.nstanzas, n);
			cr_assert_str_eq(h.st[n - 1].key_id, kid);
			cr_assert_eq(h.st[n - 1].kind, (n - 1) % 3);
		} else {
			cr_assert_eq(parse(&b), ATR_ERR_FORMAT, "17 stanzas");
		}
	}
	/* A count far above the stanzas present. */
	hb_core(&b, 1, 0, 1, 64, 0xffff);
	hb_stanza(&b, 0, kid1, strlen(kid1), 72, 0);
	hb_mac(&b);
	cr_assert_eq(parse(&b), ATR_ERR_FORMAT);
}

Test(header, largest_header_is_header_max)
{
	static struct hb b;
	static struct atr_header h;
	static uint8_t spill[ATR_HEADER_MAX];
	char kid[ATR_KEYID_MAX + 1];
	size_t i, extra = 0;
	FILE *f;

	memset(kid, 'K', ATR_KEYID_MAX);
	kid[ATR_KEYID_MAX] = '\0';
	hb_core(&b, 1, 0, 1, 64, 16);
	for (i = 0; i < 16; i++)
		hb_stanza(&b, 2, kid, ATR_KEYID_MAX, ATR_WRAPPED_MAX, 72);
	hb_mac(&b);
	cr_assert_eq(b.n, ATR_HEADER_MAX);
	cr_assert_eq(atr_header_parse(b.b, b.n, &h), ATR_OK, "%s",
	    atr_detail());
	cr_assert_eq(h.len, ATR_HEADER_MAX);
	cr_assert_eq(strlen(h.st[15].key_id), ATR_KEYID_MAX);
	cr_assert_eq(h.st[15].wrapped_len, ATR_WRAPPED_MAX);
	/* The streaming reader takes exactly ATR_HEADER_MAX bytes and
	 * hands back what follows the header. */
	f = tmpfile();
	cr_assert_not_null(f);
	cr_assert_eq(fwrite(b.b, 1, b.n, f), b.n);
	cr_assert_eq(fwrite("0123456789", 1, 10, f), 10);
	fflush(f);
	rewind(f);
	cr_assert_eq(atr_read_header(fileno(f), &h, spill, &extra), ATR_OK,
	    "%s", atr_detail());
	cr_assert_eq(extra, 0, "the spill buffer holds only the header");
	fclose(f);
	/* One byte more of key id in the last stanza is over every limit. */
	hb_core(&b, 1, 0, 1, 64, 16);
	for (i = 0; i < 15; i++)
		hb_stanza(&b, 2, kid, ATR_KEYID_MAX, ATR_WRAPPED_MAX, 72);
	hb_stanza(&b, 2, kid, ATR_KEYID_MAX, ATR_WRAPPED_MAX + 1, 72);
	hb_mac(&b);
	cr_assert_eq(parse(&b), ATR_ERR_FORMAT);
}

Test(header, key_id_and_wrapped_lengths)
{
	static struct hb b;
	static char kid[ATR_KEYID_MAX + 2];
	static const size_t kls[] = {0, 1, ATR_KEYID_MAX, ATR_KEYID_MAX + 1,
	    0xffff};
	static const size_t wls[] = {0, 1, ATR_WRAPPED_MAX,
	    ATR_WRAPPED_MAX + 1};
	size_t i;

	memset(kid, 'a', sizeof(kid));
	for (i = 0; i < sizeof(kls) / sizeof(kls[0]); i++) {
		size_t kl = kls[i] > ATR_KEYID_MAX + 1 ? ATR_KEYID_MAX + 1 :
		    kls[i];
		int good = kls[i] >= 1 && kls[i] <= ATR_KEYID_MAX;

		hb_core(&b, 1, 0, 1, 64, 1);
		hb_stanza(&b, 0, kid, kl, 72, 0);
		put16(b.b + 87 + 3, kls[i]); /* the length field as claimed */
		hb_mac(&b);
		cr_assert_eq(parse(&b), good ? ATR_OK : ATR_ERR_FORMAT,
		    "key id length %zu: %s", kls[i], atr_detail());
	}
	for (i = 0; i < sizeof(wls) / sizeof(wls[0]); i++) {
		int good = wls[i] >= 1 && wls[i] <= ATR_WRAPPED_MAX;

		hb_core(&b, 1, 0, 1, 64, 1);
		hb_stanza(&b, 0, kid1, strlen(kid1), wls[i], 0);
		hb_mac(&b);
		cr_assert_eq(parse(&b), good ? ATR_OK : ATR_ERR_FORMAT,
		    "wrapped length %zu: %s", wls[i], atr_detail());
	}
}

Test(header, key_id_must_be_printable)
{
	static struct hb b;
	static const uint8_t bad[] = {0x00, 0x09, 0x0a, 0x1b, 0x20, 0x7f,
	    0x80, 0xc3, 0xff};
	static const uint8_t good[] = {0x21, 0x41, 0x7e};
	char kid[8] = "abcdefg";
	size_t i;

	for (i = 0; i < sizeof(bad); i++) {
		kid[3] = (char)bad[i];
		hb_core(&b, 1, 0, 1, 64, 1);
		hb_stanza(&b, 0, kid, 7, 72, 0);
		hb_mac(&b);
		cr_assert_eq(parse(&b), ATR_ERR_FORMAT, "byte 0x%02x", bad[i]);
	}
	for (i = 0; i < sizeof(good); i++) {
		kid[3] = (char)good[i];
		hb_core(&b, 1, 0, 1, 64, 1);
		hb_stanza(&b, 0, kid, 7, 72, 0);
		hb_mac(&b);
		cr_assert_eq(parse(&b), ATR_OK, "byte 0x%02x", good[i]);
	}
}

Test(header, kinds_and_intermediate_length)
{
	static struct hb b;
	static const uint8_t bad_kinds[] = {3, 4, 0x80, 0xff};
	static const size_t bad_ik[] = {0, 1, 71, 73, 1024};
	size_t i;

	for (i = 0; i < sizeof(bad_kinds); i++) {
		hb_core(&b, 1, 0, 1, 64, 1);
		hb_stanza(&b, bad_kinds[i], kid1, strlen(kid1), 72, 0);
		hb_mac(&b);
		cr_assert_eq(parse(&b), ATR_ERR_FORMAT, "kind %u", bad_kinds[i]);
	}
	for (i = 0; i < sizeof(bad_ik) / sizeof(bad_ik[0]); i++) {
		hb_core(&b, 1, 0, 1, 64, 1);
		hb_stanza(&b, 2, kid1, strlen(kid1), 72, bad_ik[i]);
		hb_mac(&b);
		cr_assert_eq(parse(&b), ATR_ERR_FORMAT, "ik length %zu",
		    bad_ik[i]);
	}
	for (i = 0; i <= 2; i++) {
		hb_core(&b, 1, 0, 1, 64, 1);
		hb_stanza(&b, (uint8_t)i, kid1, strlen(kid1), 72, 72);
		hb_mac(&b);
		cr_assert_eq(parse(&b), ATR_OK, "kind %zu", i);
	}
	/* Unknown providers and algorithms parse (a reader without such a
	 * key finds no recipient); they are not format errors. */
	hb_core(&b, 1, 0, 1, 64, 1);
	hb_stanza(&b, 0, kid1, strlen(kid1), 72, 0);
	b.b[87] = 0xee;
	b.b[88] = 0xee;
	hb_mac(&b);
	cr_assert_eq(parse(&b), ATR_OK);
}

Test(header, every_truncation_is_format)
{
	static struct hb b;
	static struct atr_header h;
	size_t cut;

	hb_core(&b, 1, 0, 1, 64, 3);
	hb_stanza(&b, 0, kid1, strlen(kid1), 72, 0);
	hb_stanza(&b, 1, "second", 6, 256, 0);
	hb_stanza(&b, 2, "third", 5, 72, 72);
	hb_mac(&b);
	cr_assert_eq(parse(&b), ATR_OK);
	for (cut = 0; cut < b.n; cut++)
		cr_assert_eq(atr_header_parse(b.b, cut, &h), ATR_ERR_FORMAT,
		    "cut at %zu of %zu", cut, b.n);
}

Test(header, trailing_bytes_belong_to_the_body)
{
	static struct hb b;
	static struct atr_header h;
	uint64_t n = 99;

	minimal(&b, 1, 0, 1, 64);
	memset(b.b + b.n, 0x11, 100);
	cr_assert_eq(atr_header_parse(b.b, b.n + 100, &h), ATR_OK);
	cr_assert_eq(h.len, b.n, "the header ends at its MAC");
	/* 100 body bytes at F = 64: 80 + 20, a short final frame */
	cr_assert_eq(atr_body_frames(100, h.frame_size, &n), ATR_OK);
	cr_assert_eq(n, 2);
	/* 95: 80 + 15, a last record shorter than a tag */
	cr_assert_eq(atr_body_frames(95, h.frame_size, &n), ATR_ERR_FORMAT);
	cr_assert_eq(n, 0);
}

Test(header, body_frames_arithmetic)
{
	static const struct {
		uint64_t body;
		uint32_t fs;
		enum atr_err err;
		uint64_t n;
	} t[] = {
		{0, 64, ATR_ERR_FORMAT, 0},
		{1, 64, ATR_ERR_FORMAT, 0},
		{15, 64, ATR_ERR_FORMAT, 0},
		{16, 64, ATR_OK, 1},          /* the empty object */
		{17, 64, ATR_OK, 1},
		{79, 64, ATR_OK, 1},
		{80, 64, ATR_OK, 1},          /* one full frame */
		{81, 64, ATR_ERR_FORMAT, 0},  /* + 1 byte: no room for a tag */
		{95, 64, ATR_ERR_FORMAT, 0},
		{96, 64, ATR_ERR_FORMAT, 0},  /* + an empty frame after a full one */
		{97, 64, ATR_OK, 2},
		{160, 64, ATR_OK, 2},
		{161, 64, ATR_ERR_FORMAT, 0},
		{177, 64, ATR_OK, 3},
		{65552, 65536, ATR_OK, 1},
		{65553, 65536, ATR_ERR_FORMAT, 0},
		{65569, 65536, ATR_OK, 2},
		/* 2^32 - 1 frames is the most an object may hold */
		{0xFFFFFFFFULL * 80, 64, ATR_OK, 0xFFFFFFFFULL},
		{0xFFFFFFFFULL * 80 + 17, 64, ATR_ERR_FORMAT, 0},
		{0x100000000ULL * 80, 64, ATR_ERR_FORMAT, 0},
		{0xFFFFFFFFULL * (16777216ULL + 16), 16777216, ATR_OK,
		    0xFFFFFFFFULL},
		/* lengths near 2^64 must not wrap the arithmetic */
		{UINT64_MAX, 64, ATR_ERR_FORMAT, 0},
		{UINT64_MAX - 1, 64, ATR_ERR_FORMAT, 0},
		{UINT64_MAX - 78, 64, ATR_ERR_FORMAT, 0},
		{UINT64_MAX, ATR_FRAME_MAX, ATR_ERR_FORMAT, 0},
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		uint64_t n = 12345;
		enum atr_err err = atr_body_frames(t[i].body, t[i].fs, &n);

		cr_assert_eq(err, t[i].err, "body %llu fs %u: %s",
		    (unsigned long long)t[i].body, t[i].fs, atr_errname(err));
		cr_assert_eq(n, t[i].n, "body %llu fs %u: %llu frames",
		    (unsigned long long)t[i].body, t[i].fs,
		    (unsigned long long)n);
	}
}

Test(header, frame_nonce_bytes)
{
	static const uint8_t prefix[7] = {1, 2, 3, 4, 5, 6, 7};
	static const struct {
		uint32_t index;
		int final;
		uint8_t tail[5];
	} t[] = {
		{0, 0, {0, 0, 0, 0, 0}},
		{0, 1, {0, 0, 0, 0, 1}},
		{1, 0, {0, 0, 0, 1, 0}},
		{0x01020304U, 0, {1, 2, 3, 4, 0}},
		{0xfffffffeU, 1, {0xff, 0xff, 0xff, 0xfe, 1}},
		{0xffffffffU, 7, {0xff, 0xff, 0xff, 0xff, 1}},
	};
	uint8_t nonce[13];
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		memset(nonce, 0xcc, sizeof(nonce));
		atr_frame_nonce(prefix, t[i].index, t[i].final, nonce);
		cr_assert(memcmp(nonce, prefix, 7) == 0, "case %zu prefix", i);
		cr_assert(memcmp(nonce + 7, t[i].tail, 5) == 0, "case %zu tail",
		    i);
		cr_assert_eq(nonce[12], 0xcc, "wrote past 12 bytes");
	}
}

/* ---- the layout, re-derived with plain OpenSSL ---------------------- */

static void
sha256(const uint8_t *in, size_t n, uint8_t out[32])
{
	unsigned int ol = 0;

	cr_assert_eq(EVP_Digest(in, n, out, &ol, EVP_sha256(), NULL), 1);
	cr_assert_eq(ol, 32);
}

/* SHA-256 of the wrap context, FORMAT.md section 4, written out. */
static void
wrap_context(uint8_t kind, const uint8_t *binding, size_t blen,
    uint8_t prov, uint8_t alg, const char *kid, uint8_t out[32])
{
	uint8_t buf[2048];
	size_t n = 0, kl = strlen(kid);

	memcpy(buf, "atrest/v1 wrap", 14);
	n = 14;
	buf[n++] = 0;
	buf[n++] = 1;
	buf[n++] = kind;
	buf[n++] = (uint8_t)blen;
	memcpy(buf + n, binding, blen);
	n += blen;
	buf[n++] = prov;
	buf[n++] = alg;
	buf[n++] = (uint8_t)(kl >> 8);
	buf[n++] = (uint8_t)kl;
	memcpy(buf + n, kid, kl);
	n += kl;
	sha256(buf, n, out);
}

static void
kwp_unwrap(const uint8_t kek[32], const uint8_t *in, size_t in_len,
    uint8_t *out, size_t *out_len)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int l1 = 0, l2 = 0;

	cr_assert_not_null(c);
	EVP_CIPHER_CTX_set_flags(c, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
	cr_assert_eq(EVP_DecryptInit_ex(c, EVP_aes_256_wrap_pad(), NULL, kek,
	    NULL), 1);
	cr_assert_eq(EVP_DecryptUpdate(c, out, &l1, in, (int)in_len), 1,
	    "KWP unwrap");
	cr_assert_eq(EVP_DecryptFinal_ex(c, out + l1, &l2), 1);
	*out_len = (size_t)(l1 + l2);
	EVP_CIPHER_CTX_free(c);
}

static void
oaep_unwrap(const char *pem_path, const uint8_t *in, size_t in_len,
    uint8_t *out, size_t *out_len)
{
	BIO *bio = BIO_new_file(pem_path, "r");
	EVP_PKEY *pk;
	EVP_PKEY_CTX *c;

	cr_assert_not_null(bio);
	pk = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	BIO_free(bio);
	cr_assert_not_null(pk);
	c = EVP_PKEY_CTX_new(pk, NULL);
	cr_assert_eq(EVP_PKEY_decrypt_init(c), 1);
	cr_assert_eq(EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_OAEP_PADDING), 1);
	cr_assert_eq(EVP_PKEY_CTX_set_rsa_oaep_md(c, EVP_sha256()), 1);
	cr_assert_eq(EVP_PKEY_CTX_set_rsa_mgf1_md(c, EVP_sha256()), 1);
	cr_assert_eq(EVP_PKEY_decrypt(c, out, out_len, in, in_len), 1,
	    "RSA-OAEP-256 unwrap");
	EVP_PKEY_CTX_free(c);
	EVP_PKEY_free(pk);
}

/* HKDF-SHA-256 (RFC 5869) through EVP_KDF, FORMAT.md section 3. */
static void
derive(const uint8_t dek[32], const uint8_t *hdr, uint8_t okm[96])
{
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	EVP_KDF_CTX *c = EVP_KDF_CTX_new(kdf);
	uint8_t info[15 + 53];
	OSSL_PARAM ps[5];

	memcpy(info, "atrest/v1 keys", 14);
	info[14] = 0;
	memcpy(info + 15, hdr, 53);
	ps[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
	    (char *)"SHA256", 0);
	ps[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY,
	    (void *)dek, 32);
	ps[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT,
	    (void *)(hdr + 10), 32);
	ps[3] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info,
	    sizeof(info));
	ps[4] = OSSL_PARAM_construct_end();
	cr_assert_eq(EVP_KDF_derive(c, okm, 96, ps), 1);
	EVP_KDF_CTX_free(c);
	EVP_KDF_free(kdf);
}

static void
gcm_open(const uint8_t key32[32], const uint8_t nonce[12], const uint8_t *in,
    size_t ct_len, uint8_t *out)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int l = 0;

	cr_assert_eq(EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, NULL,
	    NULL), 1);
	cr_assert_eq(EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, 12, NULL),
	    1);
	cr_assert_eq(EVP_DecryptInit_ex(c, NULL, NULL, key32, nonce), 1);
	if (ct_len > 0)
		cr_assert_eq(EVP_DecryptUpdate(c, out, &l, in, (int)ct_len), 1);
	cr_assert_eq(EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, 16,
	    (void *)(in + ct_len)), 1);
	cr_assert_eq(EVP_DecryptFinal_ex(c, out + l, &l), 1, "GCM tag");
	EVP_CIPHER_CTX_free(c);
}

static void
read_aes_kek(uint8_t kek[32])
{
	char *path = et_key_path("aes-256");
	size_t n = 0, got = 0;
	uint8_t *hex = tu_read_file(path, &n);

	cr_assert_not_null(hex);
	cr_assert_eq(n, 65, "keygen writes 64 hex digits and a newline");
	cr_assert_eq(hex[64], '\n');
	cr_assert_eq(atr_unhex((const char *)hex, 64, kek, 32, &got), 0);
	cr_assert_eq(got, 32);
	free(hex);
	free(path);
}

/* Checks the core, the commitment, the MAC and every frame of ct from
 * the DEK alone, as FORMAT.md sections 1, 3 and 5 describe them. */
static void
check_object(const struct et_buf *ct, const uint8_t dek[32], uint32_t fs,
    const uint8_t *pt, size_t len)
{
	struct atr_header h;
	uint8_t okm[96], mac[32], nonce[12], *out = malloc(fs + 1);
	unsigned int ml = 0;
	size_t n = nframes_of(len, fs), i;

	parse_ok(ct->p, ct->len, &h);
	cr_assert(memcmp(ct->p, "ATREST", 6) == 0);
	cr_assert_eq(ct->p[6], 1);
	cr_assert_eq(ct->p[7], 0);
	cr_assert_eq(ct->p[8], 0x00);
	cr_assert_eq(ct->p[9], 0x01);
	cr_assert(memcmp(ct->p + 10, h.object_id, 32) == 0);
	cr_assert_eq((uint32_t)ct->p[42] << 24 | (uint32_t)ct->p[43] << 16 |
	    (uint32_t)ct->p[44] << 8 | ct->p[45], fs);
	cr_assert(memcmp(ct->p + 46, h.nonce_prefix, 7) == 0);
	cr_assert_eq((size_t)ct->p[85] << 8 | ct->p[86], h.nstanzas);
	derive(dek, ct->p, okm);
	cr_assert(memcmp(ct->p + 53, okm, 32) == 0, "commitment at 53..84");
	cr_assert_not_null(HMAC(EVP_sha256(), okm + 64, 32, ct->p,
	    h.len - 32, mac, &ml));
	cr_assert(memcmp(ct->p + h.len - 32, mac, 32) == 0,
	    "header MAC over every header byte before it");
	for (i = 0; i < n; i++) {
		size_t off = et_frame_off(h.len, fs, i);
		size_t cl = (i + 1 == n ? ct->len - off : fs + 16U) - 16;
		uint8_t want[12];

		memcpy(want, ct->p + 46, 7);
		want[7] = (uint8_t)(i >> 24);
		want[8] = (uint8_t)(i >> 16);
		want[9] = (uint8_t)(i >> 8);
		want[10] = (uint8_t)i;
		want[11] = i + 1 == n;
		atr_frame_nonce(h.nonce_prefix, (uint32_t)i, i + 1 == n, nonce);
		cr_assert(memcmp(nonce, want, 12) == 0, "nonce %zu", i);
		gcm_open(okm + 32, want, ct->p + off, cl, out);
		cr_assert(memcmp(out, pt + i * fs, cl) == 0, "frame %zu", i);
	}
	free(out);
}

Test(layout, direct_object_rederived_from_both_key_files)
{
	struct atr_key *wk[2] = {key("aes-256"), key("rsa-2048.pub")};
	struct atr_enc_params p = {wk, 2, NULL, 1024};
	size_t len = 3000, so, sl, wl, ol = 600, kl;
	uint8_t *pt = pattern(len, 21), kek[32], a[80], r[600], dig[32];
	struct atr_header h;
	struct et_buf ct;
	char *rsa_path = et_key_path("rsa-2048");

	seal_ok(&p, pt, len, &ct);
	parse_ok(ct.p, ct.len, &h);
	read_aes_kek(kek);
	/* stanza 0: AES-KWP of dek | context digest */
	cr_assert_eq(et_stanza_span(ct.p, h.len, 0, &so, &sl), 0);
	cr_assert_eq(so, 87, "first stanza right after the count");
	cr_assert_eq(ct.p[so], ATR_PROV_FILE_AES);
	cr_assert_eq(ct.p[so + 1], ATR_WRAP_AES_KWP);
	cr_assert_eq(ct.p[so + 2], 0);
	kl = (size_t)ct.p[so + 3] << 8 | ct.p[so + 4];
	cr_assert_eq(kl, strlen(wk[0]->key_id));
	cr_assert(memcmp(ct.p + so + 5, wk[0]->key_id, kl) == 0);
	wl = (size_t)ct.p[so + 5 + kl] << 8 | ct.p[so + 6 + kl];
	cr_assert_eq(wl, 72);
	cr_assert_eq(sl, 5 + kl + 2 + wl);
	kwp_unwrap(kek, ct.p + so + 7 + kl, wl, a, &ol);
	cr_assert_eq(ol, 64);
	wrap_context(0, h.object_id, 32, ATR_PROV_FILE_AES, ATR_WRAP_AES_KWP,
	    wk[0]->key_id, dig);
	cr_assert(memcmp(a + 32, dig, 32) == 0, "AES context digest");
	/* stanza 1: RSA-OAEP-256 of the same dek | its own context */
	cr_assert_eq(et_stanza_span(ct.p, h.len, 1, &so, &sl), 0);
	cr_assert_eq(so + sl + 32, h.len, "the MAC follows the last stanza");
	kl = (size_t)ct.p[so + 3] << 8 | ct.p[so + 4];
	wl = (size_t)ct.p[so + 5 + kl] << 8 | ct.p[so + 6 + kl];
	cr_assert_eq(wl, 256, "RSA-2048 output");
	ol = sizeof(r);
	oaep_unwrap(rsa_path, ct.p + so + 7 + kl, wl, r, &ol);
	cr_assert_eq(ol, 64);
	cr_assert(memcmp(r, a, 32) == 0, "one DEK for every recipient");
	wrap_context(0, h.object_id, 32, ATR_PROV_FILE_RSA,
	    ATR_WRAP_RSA_OAEP_256, wk[1]->key_id, dig);
	cr_assert(memcmp(r + 32, dig, 32) == 0, "RSA context digest");
	check_object(&ct, a, 1024, pt, len);
	OPENSSL_cleanse(a, sizeof(a));
	OPENSSL_cleanse(r, sizeof(r));
	et_buf_free(&ct);
	atr_key_free(wk[0]);
	atr_key_free(wk[1]);
	free(rsa_path);
	free(pt);
}

static void
layout_share(enum atr_stanza_kind kind)
{
	struct atr_key *k = key("aes-256");
	struct atr_share *sh = NULL;
	struct atr_enc_params p = {NULL, 0, NULL, 64};
	size_t len = 200, so, sl, ol = 80, kl, off;
	uint8_t *pt = pattern(len, 22), kek[32], sk[80], dek[80], dig[32];
	uint8_t ikin[18 + 1 + 32 + 16];
	struct atr_header h;
	struct et_buf ct;

	cr_assert_eq(atr_share_new(kind, &k, 1, &sh), ATR_OK);
	p.share = sh;
	seal_ok(&p, pt, len, &ct);
	parse_ok(ct.p, ct.len, &h);
	read_aes_kek(kek);
	cr_assert_eq(et_stanza_span(ct.p, h.len, 0, &so, &sl), 0);
	cr_assert_eq(ct.p[so + 2], kind);
	kl = (size_t)ct.p[so + 3] << 8 | ct.p[so + 4];
	off = so + 5 + kl + 2;
	kwp_unwrap(kek, ct.p + off, 72, sk, &ol);
	cr_assert_eq(ol, 64);
	off += 72;
	cr_assert(memcmp(ct.p + off, h.st[0].share_id, 16) == 0,
	    "share id after the wrapped key");
	/* the share key is bound to the share id, not the object */
	wrap_context((uint8_t)kind, ct.p + off, 16, ATR_PROV_FILE_AES,
	    ATR_WRAP_AES_KWP, k->key_id, dig);
	cr_assert(memcmp(sk + 32, dig, 32) == 0, "share context digest");
	if (kind == ATR_KIND_SHARED) {
		cr_assert_eq(sl, 5 + kl + 2 + 72 + 16);
		check_object(&ct, sk, 64, pt, len);
	} else {
		cr_assert_eq(sl, 5 + kl + 2 + 72 + 16 + 2 + 72);
		cr_assert_eq(ct.p[off + 16], 0);
		cr_assert_eq(ct.p[off + 17], 72);
		ol = 80;
		kwp_unwrap(sk, ct.p + off + 18, 72, dek, &ol);
		cr_assert_eq(ol, 64);
		memcpy(ikin, "atrest/v1 ik-wrap", 17);
		ikin[17] = 0;
		ikin[18] = 1;
		memcpy(ikin + 19, h.object_id, 32);
		memcpy(ikin + 51, ct.p + off, 16);
		sha256(ikin, sizeof(ikin), dig);
		cr_assert(memcmp(dek + 32, dig, 32) == 0, "ik context digest");
		check_object(&ct, dek, 64, pt, len);
	}
	OPENSSL_cleanse(sk, sizeof(sk));
	OPENSSL_cleanse(dek, sizeof(dek));
	et_buf_free(&ct);
	atr_share_free(sh);
	atr_key_free(k);
	free(pt);
}

Test(layout, shared_object_rederived)
{
	layout_share(ATR_KIND_SHARED);
}

Test(layout, intermediate_object_rederived)
{
	layout_share(ATR_KIND_INTERMEDIATE);
}

/* ---- checks that only a forger with the DEK could reach ------------- */

/*
 * The header MAC and the commitment come from the same DEK, so plain
 * tampering trips both.  These tests play a forger who knows the DEK
 * (here: from the AES key file) and recomputes the MAC, so that exactly
 * one check stands in the way; each has a control that must open, which
 * proves the forgery itself is well made.
 */

static void
kwp_wrap(const uint8_t kek[32], const uint8_t *in, size_t in_len,
    uint8_t *out, size_t *out_len)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int l1 = 0, l2 = 0;

	EVP_CIPHER_CTX_set_flags(c, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
	cr_assert_eq(EVP_EncryptInit_ex(c, EVP_aes_256_wrap_pad(), NULL, kek,
	    NULL), 1);
	cr_assert_eq(EVP_EncryptUpdate(c, out, &l1, in, (int)in_len), 1);
	cr_assert_eq(EVP_EncryptFinal_ex(c, out + l1, &l2), 1);
	*out_len = (size_t)(l1 + l2);
	EVP_CIPHER_CTX_free(c);
}

static void
oaep_wrap(const char *pub_path, const uint8_t *in, size_t in_len,
    uint8_t *out, size_t *out_len)
{
	BIO *bio = BIO_new_file(pub_path, "r");
	EVP_PKEY *pk;
	EVP_PKEY_CTX *c;

	cr_assert_not_null(bio);
	pk = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
	BIO_free(bio);
	cr_assert_not_null(pk);
	c = EVP_PKEY_CTX_new(pk, NULL);
	cr_assert_eq(EVP_PKEY_encrypt_init(c), 1);
	cr_assert_eq(EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_OAEP_PADDING), 1);
	cr_assert_eq(EVP_PKEY_CTX_set_rsa_oaep_md(c, EVP_sha256()), 1);
	cr_assert_eq(EVP_PKEY_CTX_set_rsa_mgf1_md(c, EVP_sha256()), 1);
	cr_assert_eq(EVP_PKEY_encrypt(c, out, out_len, in, in_len), 1);
	EVP_PKEY_CTX_free(c);
	EVP_PKEY_free(pk);
}

/* An AES-only object and its DEK, recovered with the key file. */
struct forge {
	struct et_buf ct;
	struct atr_header h;
	uint8_t kek[32], dek[32], okm[96];
	uint8_t *pt;
	size_t len;
};

static void
forge_setup(struct forge *f, struct atr_key *k)
{
	struct atr_enc_params p = {&k, 1, NULL, 64};
	uint8_t a[80];
	size_t so, sl, ol = sizeof(a);

	f->len = 150;
	f->pt = pattern(f->len, 31);
	seal_ok(&p, f->pt, f->len, &f->ct);
	parse_ok(f->ct.p, f->ct.len, &f->h);
	read_aes_kek(f->kek);
	cr_assert_eq(et_stanza_span(f->ct.p, f->h.len, 0, &so, &sl), 0);
	kwp_unwrap(f->kek, f->ct.p + so + sl - 72, 72, a, &ol);
	cr_assert_eq(ol, 64);
	memcpy(f->dek, a, 32);
	derive(f->dek, f->ct.p, f->okm);
}

/* Recomputes the header MAC of b (header length hl) with the DEK. */
static void
forge_mac(const struct forge *f, uint8_t *b, size_t hl)
{
	unsigned int ml = 0;

	cr_assert_not_null(HMAC(EVP_sha256(), f->okm + 64, 32, b, hl - 32,
	    b + hl - 32, &ml));
}

/* b = f's object with stanza 0 replaced by one of provider/alg, key id
 * kid and the given wrapped bytes, MAC recomputed. */
static uint8_t *
forge_stanza(const struct forge *f, uint8_t prov, uint8_t alg,
    const char *kid, const uint8_t *w, size_t wl, size_t *bl)
{
	uint8_t st[2048];
	size_t so, sl, kl = strlen(kid), n = 0;
	uint8_t *b;

	st[n++] = prov;
	st[n++] = alg;
	st[n++] = 0;
	put16(st + n, kl);
	n += 2;
	memcpy(st + n, kid, kl);
	n += kl;
	put16(st + n, wl);
	n += 2;
	memcpy(st + n, w, wl);
	n += wl;
	cr_assert_eq(et_stanza_span(f->ct.p, f->h.len, 0, &so, &sl), 0);
	b = et_splice(f->ct.p, f->ct.len, so, sl, st, n, bl);
	cr_assert_not_null(b);
	forge_mac(f, b, f->h.len - sl + n);
	return b;
}

Test(forgery, commitment_checked_even_with_a_valid_mac)
{
	struct atr_key *k = key("aes-256");
	struct forge f;
	struct et_buf out;
	uint8_t *b;
	size_t i;

	forge_setup(&f, k);
	/* control: MAC recomputed over unchanged bytes still opens */
	b = malloc(f.ct.len);
	memcpy(b, f.ct.p, f.ct.len);
	forge_mac(&f, b, f.h.len);
	cr_assert(memcmp(b, f.ct.p, f.ct.len) == 0, "MAC recomputed as-is");
	cr_assert_eq(et_open(b, f.ct.len, &k, 1, NULL, &out, NULL), ATR_OK);
	et_buf_free(&out);
	/* any commitment byte changed, MAC valid again: refused */
	for (i = 53; i < 85; i += 7) {
		memcpy(b, f.ct.p, f.ct.len);
		b[i] ^= 0x01;
		forge_mac(&f, b, f.h.len);
		cr_assert_eq(open_both_fail(b, f.ct.len, &k, 1, NULL,
		    "commitment"), ATR_ERR_AUTH, "commitment byte %zu", i);
	}
	free(b);
	et_buf_free(&f.ct);
	free(f.pt);
	atr_key_free(k);
}

Test(forgery, wrap_context_is_checked)
{
	struct atr_key *aes = key("aes-256"), *rsa = key("rsa-2048");
	struct atr_key *rpub = key("rsa-2048.pub");
	char *pub_path = et_key_path("rsa-2048.pub");
	struct forge f;
	struct et_buf out;
	uint8_t in[80], w[600], other[32];
	size_t wl, bl;
	uint8_t *b;
	int v;

	forge_setup(&f, aes);
	memset(other, 0x42, sizeof(other));
	memcpy(in, f.dek, 32);
	/* v 0: the true context (control); then each field of it wrong */
	for (v = 0; v < 6; v++) {
		const uint8_t *bind = v == 1 ? other : f.h.object_id;
		uint8_t kind = v == 2 ? 1 : 0;
		uint8_t alg = v == 3 ? ATR_WRAP_AES_KW : ATR_WRAP_AES_KWP;
		const char *kid = v == 4 ? "kek-sha256:other" : aes->key_id;
		size_t inl = v == 5 ? 65 : 64;

		wrap_context(kind, bind, 32, ATR_PROV_FILE_AES, alg, kid, in + 32);
		in[64] = 0;
		wl = sizeof(w);
		kwp_wrap(f.kek, in, inl, w, &wl);
		b = forge_stanza(&f, ATR_PROV_FILE_AES, ATR_WRAP_AES_KWP,
		    aes->key_id, w, wl, &bl);
		if (v == 0) {
			cr_assert_eq(et_open(b, bl, &aes, 1, NULL, &out, NULL),
			    ATR_OK, "control: %s", atr_detail());
			cr_assert(out.len == f.len &&
			    memcmp(out.p, f.pt, f.len) == 0);
			et_buf_free(&out);
		} else {
			cr_assert_eq(open_both_fail(b, bl, &aes, 1, NULL, "aes ctx"),
			    ATR_ERR_AUTH, "AES variant %d", v);
		}
		free(b);
	}
	/* The RSA public key lets anyone wrap anything for its holder: the
	 * context digest is what ties the wrap to this object and key. */
	for (v = 0; v < 4; v++) {
		const uint8_t *bind = v == 1 ? other : f.h.object_id;
		uint8_t alg = v == 2 ? ATR_WRAP_RSA_OAEP_SHA1 :
		    ATR_WRAP_RSA_OAEP_256;
		size_t inl = v == 3 ? 63 : 64;

		wrap_context(0, bind, 32, ATR_PROV_FILE_RSA, alg, rpub->key_id,
		    in + 32);
		wl = sizeof(w);
		oaep_wrap(pub_path, in, inl, w, &wl);
		b = forge_stanza(&f, ATR_PROV_FILE_RSA, ATR_WRAP_RSA_OAEP_256,
		    rpub->key_id, w, wl, &bl);
		if (v == 0) {
			cr_assert_eq(et_open(b, bl, &rsa, 1, NULL, &out, NULL),
			    ATR_OK, "RSA control: %s", atr_detail());
			et_buf_free(&out);
		} else {
			cr_assert_eq(open_both_fail(b, bl, &rsa, 1, NULL, "rsa ctx"),
			    ATR_ERR_AUTH, "RSA variant %d", v);
		}
		free(b);
	}
	OPENSSL_cleanse(in, sizeof(in));
	et_buf_free(&f.ct);
	free(f.pt);
	free(pub_path);
	atr_key_free(aes);
	atr_key_free(rsa);
	atr_key_free(rpub);
}

/* ---- several threads on one object (core/stream.c) -------------------
 *
 * With regular files at both ends and more than one batch (256 KiB of
 * frames, or one frame when frames are larger), core/stream.c splits the
 * object over threads that pread, seal or open and pwrite whole batches.
 * These tests pin the batch arithmetic (sizes around every boundary),
 * check that the parallel path really ran (et_stream_used), that it
 * agrees with the frame API and the one-thread stream both ways, and
 * that every tamper case still fails through it. */

#define PAR_BATCH (256U * 1024U)

static unsigned
par_expect(unsigned threads, uint32_t fs, size_t len)
{
	size_t batch = fs >= PAR_BATCH ? 1 : PAR_BATCH / fs;
	size_t frames = nframes_of(len, fs);
	size_t batches = (frames + batch - 1) / batch;

	if (batches < 2 || len <= batch * fs)
		return 1;
	return threads < batches ? threads : (unsigned)batches;
}

static void
par_roundtrip(const char *wrap_name, const char *open_name, uint32_t fsp,
    size_t len, unsigned threads)
{
	struct atr_key *wk = key(wrap_name), *ok = key(open_name);
	uint32_t fs = fsp ? fsp : ATR_FRAME_DEFAULT;
	struct atr_enc_params p = {&wk, 1, NULL, fsp};
	uint8_t *pt = pattern(len, (uint32_t)(len ^ fs));
	unsigned want = par_expect(threads, fs, len);
	struct et_buf ct, ct1;
	char what[96];

	snprintf(what, sizeof(what), "%u threads, fs %u, len %zu", threads, fs,
	    len);
	et_stream_threads = threads;
	cr_assert_eq(et_seal_stream(&p, pt, len, &ct), ATR_OK, "%s: seal: %s",
	    what, atr_detail());
	cr_assert_eq(et_stream_used, want, "%s: sealed on %u threads", what,
	    et_stream_used);
	/* The frame API, the one-thread stream and the parallel stream. */
	et_stream_threads = 1;
	open_both_ok(&ct, &ok, 1, NULL, pt, len, what);
	et_stream_threads = threads;
	open_both_ok(&ct, &ok, 1, NULL, pt, len, what);
	cr_assert_eq(et_stream_used, want, "%s: opened on %u threads", what,
	    et_stream_used);
	/* Sealed on one thread, opened on several; same length either way. */
	et_stream_threads = 1;
	cr_assert_eq(et_seal_stream(&p, pt, len, &ct1), ATR_OK, "%s: seal 1",
	    what);
	cr_assert_eq(ct1.len, ct.len, "%s: lengths differ", what);
	et_stream_threads = threads;
	open_both_ok(&ct1, &ok, 1, NULL, pt, len, what);
	et_stream_threads = 1;
	et_buf_free(&ct);
	et_buf_free(&ct1);
	free(pt);
	atr_key_free(wk);
	atr_key_free(ok);
}

Test(envelope, stream_parallel_roundtrips)
{
	static const struct {
		uint32_t fs;
		size_t len;
	} c[] = {
		{0, PAR_BATCH},                  /* one batch: one thread */
		{0, PAR_BATCH + 1},              /* two batches, 1 byte in the last */
		{0, 2 * PAR_BATCH - 1},
		{0, 2 * PAR_BATCH},              /* ends on a batch boundary */
		{0, 5 * PAR_BATCH + 7},
		{0, 40 * 65536},
		{1024 * 1024, 3 * 1024 * 1024},  /* frames larger than a batch */
		{1024 * 1024, 3 * 1024 * 1024 + 1},
		{300000, 1024 * 1024},           /* batch of one, frame not a divisor */
		{64, 1024 * 1024 + 3},           /* 4096-frame batches */
		{1000, PAR_BATCH + 1000},        /* 262 frames per batch */
	};
	static const unsigned threads[] = {2, 3};
	size_t i, t;

	for (t = 0; t < 2; t++)
		for (i = 0; i < sizeof(c) / sizeof(c[0]); i++)
			par_roundtrip("aes-256", "aes-256", c[i].fs, c[i].len,
			    threads[t]);
	par_roundtrip("rsa-3072.pub", "rsa-3072", 0, 3 * PAR_BATCH + 5, 2);
}

/* 40 frames of 64 KiB in 10 batches of 4, plus a short final frame. */
Test(envelope, stream_parallel_tamper)
{
	struct atr_key *k = key("aes-256");
	struct atr_enc_params p = {&k, 1, NULL, 0};
	const uint32_t fs = ATR_FRAME_DEFAULT;
	size_t len = 40 * (size_t)fs + 100, n = 41, hl, i, bl;
	uint8_t *pt = pattern(len, 77), *bad, *t;
	static const size_t flip[] = {0, 3, 4, 21, 39, 40};
	static const size_t cut_frames[] = {4, 8, 20, 40};
	struct atr_header h;
	struct et_buf ct;
	char msg[96];

	et_stream_threads = 2;
	seal_ok(&p, pt, len, &ct);
	parse_ok(ct.p, ct.len, &h);
	hl = h.len;
	bad = malloc(ct.len + 2 * (fs + 16));
	cr_assert_not_null(bad);
	/* A flipped bit in a frame at either end of a batch and in the
	 * final frame. */
	for (i = 0; i < sizeof(flip) / sizeof(flip[0]); i++) {
		memcpy(bad, ct.p, ct.len);
		bad[et_frame_off(hl, fs, flip[i]) + 5] ^= 0x80;
		snprintf(msg, sizeof(msg), "bit flipped in frame %zu", flip[i]);
		cr_assert_eq(open_both_fail(bad, ct.len, &k, 1, NULL, msg),
		    ATR_ERR_AUTH, "%s", msg);
		cr_assert_eq(et_stream_used, 2, "%s: opened on %u threads",
		    msg, et_stream_used);
	}
	/* Truncation at batch and frame boundaries (the last frame kept
	 * must fail its final flag), inside a frame, and by one byte. */
	for (i = 0; i < sizeof(cut_frames) / sizeof(cut_frames[0]); i++) {
		snprintf(msg, sizeof(msg), "cut after frame %zu", cut_frames[i]);
		open_both_fail(ct.p, et_frame_off(hl, fs, cut_frames[i]), &k,
		    1, NULL, msg);
	}
	open_both_fail(ct.p, et_frame_off(hl, fs, 21) + 100, &k, 1, NULL,
	    "cut inside frame 21");
	open_both_fail(ct.p, ct.len - 1, &k, 1, NULL, "last byte cut");
	/* Frames swapped across batches, dropped, duplicated; bytes and a
	 * whole frame appended. */
	{
		size_t rec = fs + 16;
		size_t pairs[][2] = {{3, 4}, {10, 30}, {0, 1}};

		for (i = 0; i < 3; i++) {
			memcpy(bad, ct.p, ct.len);
			memcpy(bad + et_frame_off(hl, fs, pairs[i][0]),
			    ct.p + et_frame_off(hl, fs, pairs[i][1]), rec);
			memcpy(bad + et_frame_off(hl, fs, pairs[i][1]),
			    ct.p + et_frame_off(hl, fs, pairs[i][0]), rec);
			snprintf(msg, sizeof(msg), "frames %zu and %zu swapped",
			    pairs[i][0], pairs[i][1]);
			cr_assert_eq(open_both_fail(bad, ct.len, &k, 1, NULL,
			    msg), ATR_ERR_AUTH, "%s", msg);
		}
		t = et_splice(ct.p, ct.len, et_frame_off(hl, fs, 9), rec, NULL,
		    0, &bl);
		open_both_fail(t, bl, &k, 1, NULL, "frame 9 dropped");
		free(t);
		t = et_splice(ct.p, ct.len, et_frame_off(hl, fs, 5), 0,
		    ct.p + et_frame_off(hl, fs, 5), rec, &bl);
		open_both_fail(t, bl, &k, 1, NULL, "frame 5 duplicated");
		free(t);
		t = et_splice(ct.p, ct.len, ct.len, 0, (const uint8_t *)"x", 1,
		    &bl);
		open_both_fail(t, bl, &k, 1, NULL, "one byte appended");
		free(t);
		t = et_splice(ct.p, ct.len, ct.len, 0,
		    ct.p + et_frame_off(hl, fs, n - 2), rec, &bl);
		open_both_fail(t, bl, &k, 1, NULL, "a frame appended");
		free(t);
	}
	et_stream_threads = 1;
	free(bad);
	et_buf_free(&ct);
	atr_key_free(k);
	free(pt);
}

/* The stanza kinds' names: one table for inspect and verify's reports
 * (verify reads them back from a shard's JSON). */
Test(names, stanza_kinds)
{
	cr_assert_str_eq(atr_stanza_kind_name(ATR_KIND_DIRECT), "per-object");
	cr_assert_str_eq(atr_stanza_kind_name(ATR_KIND_SHARED), "cached");
	cr_assert_str_eq(atr_stanza_kind_name(ATR_KIND_INTERMEDIATE),
	    "intermediate");
	cr_assert_str_eq(atr_stanza_kind_name(0x7f), "unknown");
}
