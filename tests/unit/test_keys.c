/*
 * test_keys.c - the key URI table (core/key.c), file keys
 * (keys/provider_file.c) and atr_keygen.
 *
 * Key files in every accepted encoding (SPKI and PKCS#1 public keys,
 * PKCS#8 and PKCS#1 private keys, raw and hex AES keys) must open with
 * the same key id; weak, foreign, malformed and group-readable key files
 * must be refused with a detail that says why.  Key ids are checked
 * against an independent computation with plain OpenSSL.
 *
 * The RSA keys are generated once per run in the runner (PRE_ALL).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/hooks.h>

#include <openssl/bio.h>
#include <openssl/encoder.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "crypto.h"
#include "envtest.h"
#include "keyuri.h"
#include "key.h"
#include "keys.h"
#include "testutil.h"

static const char *const key_types[] = {
	"rsa-2048", "rsa-3072", "rsa-4096", NULL,
};
static const unsigned sizes[] = {2048, 3072, 4096};

ReportHook(PRE_ALL)(struct criterion_test_set *set)
{
	(void)set;
	if (et_keydir_create("keys", key_types) != ATR_OK)
		fprintf(stderr, "test_keys: key generation failed: %s\n",
		    atr_detail());
}

ReportHook(POST_ALL)(struct criterion_global_stats *stats)
{
	(void)stats;
	et_keydir_remove();
}

static char *dir;

static void
setup(void)
{
	dir = tu_tmpdir("keys");
	cr_assert_not_null(dir);
	cr_assert_not_null(et_keydir(), "%s not set: keygen failed",
	    ET_KEYDIR_ENV);
}

static void
teardown(void)
{
	if (dir != NULL)
		tu_rmtree(dir);
	free(dir);
	dir = NULL;
}

TestSuite(keys, .init = setup, .fini = teardown, .timeout = 60);

/* ---- helpers -------------------------------------------------------- */

static char *
path_in(const char *name)
{
	char *p = tu_path(dir, name);

	cr_assert_not_null(p);
	return p;
}

static char *
uri_of(const char *path)
{
	size_t n = strlen(path) + 6;
	char *u = malloc(n);

	cr_assert_not_null(u);
	snprintf(u, n, "file:%s", path);
	return u;
}

static void
write_mode(const char *path, const void *data, size_t len, mode_t mode)
{
	cr_assert_eq(tu_write_file(path, data, len), 0, "write %s", path);
	cr_assert_eq(chmod(path, mode), 0);
}

static enum atr_err
open_path(const char *path, struct atr_key **k)
{
	char *u = uri_of(path);
	enum atr_err err;

	*k = NULL;
	err = atr_key_open(u, NULL, k);
	free(u);
	return err;
}

static struct atr_key *
open_ok(const char *path)
{
	struct atr_key *k = NULL;
	enum atr_err err = open_path(path, &k);

	cr_assert_eq(err, ATR_OK, "open %s: %s: %s", path, atr_errname(err),
	    atr_detail());
	cr_assert_not_null(k);
	return k;
}

static void
open_fails(const char *path, enum atr_err want, const char *detail_has)
{
	struct atr_key *k = (struct atr_key *)&k;
	enum atr_err err = open_path(path, &k);

	cr_assert_eq(err, want, "open %s: got %s (%s), want %s", path,
	    atr_errname(err), atr_detail(), atr_errname(want));
	cr_assert_null(k, "no key on failure");
	if (detail_has != NULL)
		cr_assert_not_null(strstr(atr_detail(), detail_has),
		    "detail \"%s\" lacks \"%s\"", atr_detail(), detail_has);
}

static EVP_PKEY *
load_private(const char *name)
{
	char *p = et_key_path(name);
	BIO *b = BIO_new_file(p, "r");
	EVP_PKEY *k;

	cr_assert_not_null(b, "%s", p);
	k = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
	cr_assert_not_null(k);
	BIO_free(b);
	free(p);
	return k;
}

/* Writes pkey with fn into path (mode) and returns the PEM text. */
enum pem_kind { PEM_PKCS8, PEM_PKCS1, PEM_SPKI, PEM_PKCS1_PUB, PEM_PKCS8_ENC };

static char *
write_pem(EVP_PKEY *pk, enum pem_kind kind, const char *path, mode_t mode)
{
	BIO *b = BIO_new(BIO_s_mem());
	OSSL_ENCODER_CTX *ec;
	char *data, *copy;
	long n;
	int ok = 0;

	cr_assert_not_null(b);
	switch (kind) {
	case PEM_PKCS8:
		ok = PEM_write_bio_PrivateKey(b, pk, NULL, NULL, 0, NULL, NULL);
		break;
	case PEM_PKCS1:
		ok = PEM_write_bio_PrivateKey_traditional(b, pk, NULL, NULL, 0,
		    NULL, NULL);
		break;
	case PEM_SPKI:
		ok = PEM_write_bio_PUBKEY(b, pk);
		break;
	case PEM_PKCS1_PUB:
		ec = OSSL_ENCODER_CTX_new_for_pkey(pk, EVP_PKEY_PUBLIC_KEY, "PEM",
		    "type-specific", NULL);
		cr_assert_not_null(ec);
		ok = OSSL_ENCODER_to_bio(ec, b);
		OSSL_ENCODER_CTX_free(ec);
		break;
	case PEM_PKCS8_ENC:
		ok = PEM_write_bio_PKCS8PrivateKey(b, pk, EVP_aes_256_cbc(),
		    (char *)"secret", 6, NULL, NULL);
		break;
	}
	cr_assert_eq(ok, 1, "PEM encoding %d", kind);
	n = BIO_get_mem_data(b, &data);
	copy = malloc((size_t)n + 1);
	memcpy(copy, data, (size_t)n);
	copy[n] = '\0';
	write_mode(path, copy, (size_t)n, mode);
	BIO_free(b);
	return copy;
}

/* "spki-sha256:" + hex SHA-256 of the DER SPKI, computed here. */
static void
expected_rsa_id(EVP_PKEY *pk, char out[12 + 65])
{
	unsigned char *der = NULL, md[32];
	unsigned int ml = 0;
	char *hex;
	int n = i2d_PUBKEY(pk, &der);

	cr_assert_gt(n, 0);
	cr_assert_eq(EVP_Digest(der, (size_t)n, md, &ml, EVP_sha256(), NULL), 1);
	OPENSSL_free(der);
	hex = tu_hex(md, 32);
	snprintf(out, 12 + 65, "spki-sha256:%s", hex);
	free(hex);
}

static void
expected_aes_id(const uint8_t key[32], char out[11 + 65])
{
	uint8_t in[20 + 32], md[32];
	unsigned int ml = 0;
	char *hex;

	memcpy(in, "atrest/v1 aes-kek-id", 20);
	memcpy(in + 20, key, 32);
	cr_assert_eq(EVP_Digest(in, sizeof(in), md, &ml, EVP_sha256(), NULL), 1);
	hex = tu_hex(md, 32);
	snprintf(out, 11 + 65, "kek-sha256:%s", hex);
	free(hex);
}

/* Wraps 64 bytes with w and unwraps them with u. */
static void
wrap_roundtrip(struct atr_key *w, struct atr_key *u)
{
	uint8_t in[64], wrapped[ATR_WRAPPED_MAX], out[ATR_WRAPPED_MAX];
	size_t wl = sizeof(wrapped), ol = sizeof(out);
	enum atr_err err;

	et_fill(in, sizeof(in), 77);
	err = w->ops->wrap(w, in, sizeof(in), wrapped, &wl);
	cr_assert_eq(err, ATR_OK, "wrap: %s", atr_detail());
	cr_assert_eq(wl, w->provider == ATR_PROV_FILE_AES ? 72 : w->bits / 8);
	cr_assert(u->ops->matches(u, w->provider, w->key_id));
	err = u->ops->unwrap(u, w->key_id, w->alg, wrapped, wl, out, &ol);
	cr_assert_eq(err, ATR_OK, "unwrap: %s", atr_detail());
	cr_assert_eq(ol, 64);
	cr_assert(memcmp(in, out, 64) == 0);
}

/* ---- RSA ------------------------------------------------------------ */

Test(keys, rsa_spki_and_pkcs8_from_keygen)
{
	size_t i;

	for (i = 0; i < 3; i++) {
		char name[16], pubname[20], want[80];
		char *priv_path, *pub_path;
		uint8_t *text;
		struct atr_key *pub, *priv, *again;
		EVP_PKEY *pk;

		snprintf(name, sizeof(name), "rsa-%u", sizes[i]);
		snprintf(pubname, sizeof(pubname), "rsa-%u.pub", sizes[i]);
		priv_path = et_key_path(name);
		pub_path = et_key_path(pubname);
		text = tu_read_file(priv_path, NULL);
		cr_assert_not_null(strstr((char *)text,
		    "-----BEGIN PRIVATE KEY-----"), "keygen writes PKCS#8");
		free(text);
		text = tu_read_file(pub_path, NULL);
		cr_assert_not_null(strstr((char *)text,
		    "-----BEGIN PUBLIC KEY-----"), "keygen writes SPKI");
		free(text);

		pub = open_ok(pub_path);
		priv = open_ok(priv_path);
		again = open_ok(priv_path);
		cr_assert_eq(pub->provider, ATR_PROV_FILE_RSA);
		cr_assert_eq(pub->alg, ATR_WRAP_RSA_OAEP_256);
		cr_assert_eq(pub->bits, sizes[i]);
		cr_assert_eq(priv->bits, sizes[i]);
		cr_assert_eq(pub->customer_managed, 1);
		cr_assert(pub->can_wrap && !pub->can_unwrap);
		cr_assert(priv->can_wrap && priv->can_unwrap);
		cr_assert_not_null(strstr(pub->desc, "public"), "%s", pub->desc);
		cr_assert_not_null(strstr(priv->desc, "private"), "%s",
		    priv->desc);
		/* One id for both files of a pair, stable across loads, and
		 * equal to SHA-256 of the DER SPKI. */
		pk = load_private(name);
		expected_rsa_id(pk, want);
		cr_assert_str_eq(pub->key_id, want);
		cr_assert_str_eq(priv->key_id, want);
		cr_assert_str_eq(again->key_id, want);
		cr_assert(strncmp(pub->uri, "file:", 5) == 0);
		cr_assert(strstr(pub->uri, pubname) != NULL);
		wrap_roundtrip(pub, priv);
		EVP_PKEY_free(pk);
		atr_key_free(pub);
		atr_key_free(priv);
		atr_key_free(again);
		free(priv_path);
		free(pub_path);
	}
}

Test(keys, rsa_pkcs1_private_and_public)
{
	size_t i;

	for (i = 0; i < 3; i++) {
		char name[16], want[80], *p1, *p1pub, *pem;
		struct atr_key *priv, *pub, *spki;
		EVP_PKEY *pk;

		snprintf(name, sizeof(name), "rsa-%u", sizes[i]);
		pk = load_private(name);
		expected_rsa_id(pk, want);
		p1 = path_in("pkcs1.pem");
		p1pub = path_in("pkcs1-pub.pem");
		unlink(p1);
		unlink(p1pub);
		pem = write_pem(pk, PEM_PKCS1, p1, 0600);
		cr_assert_not_null(strstr(pem, "-----BEGIN RSA PRIVATE KEY-----"),
		    "%s", pem);
		free(pem);
		pem = write_pem(pk, PEM_PKCS1_PUB, p1pub, 0644);
		cr_assert_not_null(strstr(pem, "-----BEGIN RSA PUBLIC KEY-----"),
		    "%s", pem);
		free(pem);
		priv = open_ok(p1);
		pub = open_ok(p1pub);
		cr_assert(priv->can_unwrap);
		cr_assert(!pub->can_unwrap);
		cr_assert_eq(priv->bits, sizes[i]);
		cr_assert_str_eq(priv->key_id, want);
		cr_assert_str_eq(pub->key_id, want);
		/* what the SPKI file wraps, the PKCS#1 file unwraps */
		{
			char *sp = et_key_path(name);
			size_t n = strlen(sp);

			sp = realloc(sp, n + 5);
			memcpy(sp + n, ".pub", 5);
			spki = open_ok(sp);
			free(sp);
		}
		wrap_roundtrip(spki, priv);
		wrap_roundtrip(pub, priv);
		atr_key_free(priv);
		atr_key_free(pub);
		atr_key_free(spki);
		EVP_PKEY_free(pk);
		free(p1);
		free(p1pub);
	}
}

Test(keys, pkcs1_private_from_openssl_command)
{
	/* The file the brief's users make: `openssl rsa -traditional`. */
	char *src = et_key_path("rsa-2048"), *dst = path_in("trad.pem");
	const char *argv[] = {"openssl", "rsa", "-in", src, "-out", dst,
	    "-traditional", NULL};
	struct tu_run_opts o = {0};
	struct atr_key *a, *b;
	int rc;

	rc = tu_run(argv, &o);
	if (rc == 127) {
		/* cr_skip_test does not run .fini: clean up first. */
		free(src);
		free(dst);
		teardown();
		cr_skip_test("openssl command not installed");
	}
	cr_assert_eq(rc, 0, "openssl rsa exit %d", rc);
	cr_assert(tu_file_contains(dst, "BEGIN RSA PRIVATE KEY"));
	cr_assert_eq(chmod(dst, 0600), 0);
	a = open_ok(dst);
	b = open_ok(src);
	cr_assert_str_eq(a->key_id, b->key_id);
	wrap_roundtrip(b, a);
	atr_key_free(a);
	atr_key_free(b);
	free(src);
	free(dst);
}

Test(keys, rsa_1024_refused_with_reason)
{
	EVP_PKEY *pk = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
	char *priv = path_in("weak.pem"), *pub = path_in("weak.pub");

	cr_assert_not_null(pk);
	free(write_pem(pk, PEM_PKCS8, priv, 0600));
	free(write_pem(pk, PEM_SPKI, pub, 0644));
	open_fails(priv, ATR_ERR_KEY, "1024 bits");
	cr_assert_not_null(strstr(atr_detail(), "2048"), "%s", atr_detail());
	open_fails(pub, ATR_ERR_KEY, "1024 bits");
	EVP_PKEY_free(pk);
	free(priv);
	free(pub);
}

Test(keys, non_rsa_keys_refused)
{
	EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	EVP_PKEY *ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	char *p = path_in("ec.pem"), *q = path_in("ec.pub"), *r = path_in("ed");

	cr_assert_not_null(ec);
	cr_assert_not_null(ed);
	free(write_pem(ec, PEM_PKCS8, p, 0600));
	free(write_pem(ec, PEM_SPKI, q, 0644));
	free(write_pem(ed, PEM_PKCS8, r, 0600));
	open_fails(p, ATR_ERR_KEY, "not an RSA key");
	open_fails(q, ATR_ERR_KEY, "not an RSA key");
	open_fails(r, ATR_ERR_KEY, "not an RSA key");
	EVP_PKEY_free(ec);
	EVP_PKEY_free(ed);
	free(p);
	free(q);
	free(r);
}

Test(keys, malformed_and_encrypted_pem_refused)
{
	static const char junk[] = "-----BEGIN PRIVATE KEY-----\n"
	    "bm90IGEga2V5\n-----END PRIVATE KEY-----\n";
	static const char junkpub[] = "-----BEGIN PUBLIC KEY-----\n"
	    "bm90IGEga2V5\n-----END PUBLIC KEY-----\n";
	EVP_PKEY *pk = load_private("rsa-2048");
	char *a = path_in("junk.pem"), *b = path_in("junk.pub");
	char *c = path_in("enc.pem");

	write_mode(a, junk, strlen(junk), 0600);
	write_mode(b, junkpub, strlen(junkpub), 0644);
	free(write_pem(pk, PEM_PKCS8_ENC, c, 0600));
	cr_assert(tu_file_contains(c, "ENCRYPTED PRIVATE KEY"));
	open_fails(a, ATR_ERR_KEY, "cannot parse");
	open_fails(b, ATR_ERR_KEY, "cannot parse");
	/* never prompts for a passphrase: refused with a reason */
	open_fails(c, ATR_ERR_KEY, "encrypted");
	EVP_PKEY_free(pk);
	free(a);
	free(b);
	free(c);
}

Test(keys, group_or_world_readable_private_key_refused)
{
	static const mode_t bad[] = {0644, 0640, 0604, 0660, 0666};
	char *src = et_key_path("rsa-2048"), *p = path_in("priv.pem");
	char *pub = et_key_path("rsa-2048.pub");
	size_t len = 0, i;
	uint8_t *pem = tu_read_file(src, &len);
	struct atr_key *k;

	cr_assert_not_null(pem);
	cr_assert_eq(et_file_mode(src), 0600, "keygen's private key mode");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		write_mode(p, pem, len, bad[i]);
		open_fails(p, ATR_ERR_KEY, "chmod 600");
	}
	write_mode(p, pem, len, 0400);
	k = open_ok(p);
	atr_key_free(k);
	/* A public key may be readable by anyone. */
	cr_assert_eq(et_file_mode(pub), 0644, "keygen's public key mode");
	k = open_ok(pub);
	atr_key_free(k);
	free(pem);
	free(src);
	free(pub);
	free(p);
}

Test(keys, public_key_cannot_unwrap)
{
	char *pp = et_key_path("rsa-2048.pub");
	struct atr_key *pub = open_ok(pp);
	uint8_t in[64] = {1}, w[512], out[512];
	size_t wl = sizeof(w), ol = sizeof(out);
	enum atr_err err;

	cr_assert_eq(pub->ops->wrap(pub, in, sizeof(in), w, &wl), ATR_OK);
	err = pub->ops->unwrap(pub, pub->key_id, ATR_WRAP_RSA_OAEP_256, w, wl,
	    out, &ol);
	cr_assert_eq(err, ATR_ERR_KEY, "got %s", atr_errname(err));
	cr_assert_eq(ol, 0);
	cr_assert_not_null(strstr(atr_detail(), "public key"), "%s",
	    atr_detail());
	cr_assert_not_null(strstr(atr_detail(), "private key"), "%s",
	    atr_detail());
	atr_key_free(pub);
	free(pp);
}

Test(keys, wrong_rsa_key_or_alg_is_auth)
{
	char *a = et_key_path("rsa-2048"), *b = et_key_path("rsa-3072");
	struct atr_key *ka = open_ok(a), *kb = open_ok(b);
	uint8_t in[64], w[512], out[512];
	size_t wl = sizeof(w), ol = sizeof(out);

	et_fill(in, sizeof(in), 5);
	cr_assert_eq(ka->ops->wrap(ka, in, sizeof(in), w, &wl), ATR_OK);
	cr_assert(!kb->ops->matches(kb, ATR_PROV_FILE_RSA, ka->key_id));
	cr_assert(!ka->ops->matches(ka, ATR_PROV_FILE_AES, ka->key_id));
	cr_assert(ka->ops->matches(ka, ATR_PROV_FILE_RSA, ka->key_id));
	cr_assert_neq(strcmp(ka->key_id, kb->key_id), 0);
	cr_assert_eq(kb->ops->unwrap(kb, ka->key_id, ATR_WRAP_RSA_OAEP_256, w,
	    wl, out, &ol), ATR_ERR_AUTH);
	cr_assert_eq(ol, 0);
	ol = sizeof(out);
	/* the right key, but the stanza claims OAEP with SHA-1 */
	cr_assert_eq(ka->ops->unwrap(ka, ka->key_id, ATR_WRAP_RSA_OAEP_SHA1, w,
	    wl, out, &ol), ATR_ERR_AUTH);
	ol = sizeof(out);
	cr_assert_eq(ka->ops->unwrap(ka, ka->key_id, ATR_WRAP_AES_KWP, w, wl,
	    out, &ol), ATR_ERR_AUTH);
	ol = sizeof(out);
	w[wl / 2] ^= 1;
	cr_assert_eq(ka->ops->unwrap(ka, ka->key_id, ATR_WRAP_RSA_OAEP_256, w,
	    wl, out, &ol), ATR_ERR_AUTH);
	atr_key_free(ka);
	atr_key_free(kb);
	free(a);
	free(b);
}

/* ---- AES ------------------------------------------------------------ */

Test(keys, aes_raw_and_hex_open_alike)
{
	uint8_t key[32];
	char want[80], hex[80], *h;
	char *raw = path_in("raw.key"), *hx = path_in("hex.key");
	char *up = path_in("upper.key"), *crlf = path_in("crlf.key");
	char *bare = path_in("bare.key");
	struct atr_key *a, *b, *c, *d, *e;
	size_t i;

	et_fill(key, 32, 2024);
	/* a raw key whose bytes include newlines and NULs still is raw */
	key[31] = '\n';
	key[5] = 0;
	expected_aes_id(key, want);
	write_mode(raw, key, 32, 0600);
	h = tu_hex(key, 32);
	snprintf(hex, sizeof(hex), "%s\n", h);
	write_mode(hx, hex, 65, 0600);
	write_mode(bare, h, 64, 0600);
	snprintf(hex, sizeof(hex), "%s\r\n", h);
	write_mode(crlf, hex, 66, 0600);
	for (i = 0; i < 64; i++)
		if (h[i] >= 'a' && h[i] <= 'f')
			h[i] = (char)(h[i] - 'a' + 'A');
	write_mode(up, h, 64, 0600);
	free(h);
	a = open_ok(raw);
	b = open_ok(hx);
	c = open_ok(up);
	d = open_ok(crlf);
	e = open_ok(bare);
	cr_assert_eq(a->provider, ATR_PROV_FILE_AES);
	cr_assert_eq(a->alg, ATR_WRAP_AES_KWP);
	cr_assert_eq(a->bits, 256);
	cr_assert_eq(a->customer_managed, 0);
	cr_assert(a->can_wrap && a->can_unwrap);
	cr_assert_str_eq(a->key_id, want);
	cr_assert_str_eq(b->key_id, want);
	cr_assert_str_eq(c->key_id, want);
	cr_assert_str_eq(d->key_id, want);
	cr_assert_str_eq(e->key_id, want);
	/* the id does not contain the key */
	h = tu_hex(key, 32);
	cr_assert_null(strstr(a->key_id, h));
	free(h);
	wrap_roundtrip(a, b);
	wrap_roundtrip(c, a);
	atr_key_free(a);
	atr_key_free(b);
	atr_key_free(c);
	atr_key_free(d);
	atr_key_free(e);
	free(raw);
	free(hx);
	free(up);
	free(crlf);
	free(bare);
}

Test(keys, aes_bad_lengths_and_digits_refused)
{
	static const size_t raw_lens[] = {0, 1, 16, 31, 33, 48};
	uint8_t buf[80];
	char *p = path_in("bad.key");
	size_t i;

	et_fill(buf, sizeof(buf), 1);
	for (i = 0; i < sizeof(raw_lens) / sizeof(raw_lens[0]); i++) {
		write_mode(p, buf, raw_lens[i], 0600);
		open_fails(p, ATR_ERR_KEY, "32-byte AES-256 key");
	}
	memset(buf, 'a', sizeof(buf));
	write_mode(p, buf, 63, 0600);
	open_fails(p, ATR_ERR_KEY, NULL);
	write_mode(p, buf, 65, 0600);
	open_fails(p, ATR_ERR_KEY, NULL);
	buf[64] = '\n';
	write_mode(p, buf, 66, 0600); /* 65 digits + newline */
	open_fails(p, ATR_ERR_KEY, NULL);
	buf[10] = 'g';
	buf[64] = '\n';
	write_mode(p, buf, 65, 0600);
	open_fails(p, ATR_ERR_KEY, NULL);
	buf[10] = ' ';
	write_mode(p, buf, 65, 0600);
	open_fails(p, ATR_ERR_KEY, NULL);
	free(p);
}

Test(keys, aes_key_readable_by_others_refused)
{
	uint8_t key[32];
	char *p = path_in("shared.key"), *q = path_in("shared.hex");
	char hex[66], *h;
	struct atr_key *k;

	et_fill(key, 32, 3);
	write_mode(p, key, 32, 0644);
	open_fails(p, ATR_ERR_KEY, "chmod 600");
	h = tu_hex(key, 32);
	snprintf(hex, sizeof(hex), "%s\n", h);
	free(h);
	write_mode(q, hex, 65, 0640);
	open_fails(q, ATR_ERR_KEY, "chmod 600");
	cr_assert_eq(chmod(q, 0600), 0);
	k = open_ok(q);
	atr_key_free(k);
	free(p);
	free(q);
}

Test(keys, aes_wrong_key_is_auth)
{
	uint8_t k1[32], k2[32], in[64], w[80], out[80];
	char *p1 = path_in("k1"), *p2 = path_in("k2");
	struct atr_key *a, *b;
	size_t wl = sizeof(w), ol = sizeof(out);

	et_fill(k1, 32, 1);
	et_fill(k2, 32, 2);
	write_mode(p1, k1, 32, 0600);
	write_mode(p2, k2, 32, 0600);
	a = open_ok(p1);
	b = open_ok(p2);
	cr_assert_neq(strcmp(a->key_id, b->key_id), 0);
	et_fill(in, 64, 9);
	cr_assert_eq(a->ops->wrap(a, in, 64, w, &wl), ATR_OK);
	cr_assert_eq(wl, 72);
	cr_assert_eq(b->ops->unwrap(b, a->key_id, ATR_WRAP_AES_KWP, w, wl, out,
	    &ol), ATR_ERR_AUTH);
	cr_assert_eq(ol, 0);
	ol = sizeof(out);
	cr_assert_eq(a->ops->unwrap(a, a->key_id, ATR_WRAP_AES_KW, w, wl, out,
	    &ol), ATR_ERR_AUTH, "KWP output is not a KW stanza");
	atr_key_free(a);
	atr_key_free(b);
	free(p1);
	free(p2);
}

/* ---- URIs ----------------------------------------------------------- */

Test(keys, uri_schemes_and_paths)
{
	static const char *const bad[] = {"", "foo:bar", "http://h/keys/k",
	    "FILE:/x", "/etc/passwd", "file", "file:"};
	char *p = path_in("k.hex"), *u, longuri[ATR_URI_MAX + 8];
	uint8_t key[32];
	struct atr_key *k = NULL;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		k = (struct atr_key *)&k;
		cr_assert_eq(atr_key_open(bad[i], NULL, &k), ATR_ERR_CONFIG,
		    "uri \"%s\"", bad[i]);
		cr_assert_null(k);
	}
	cr_assert_eq(atr_key_open(NULL, NULL, &k), ATR_ERR_CONFIG);
	cr_assert_eq(atr_key_open("foo:bar", NULL, &k), ATR_ERR_CONFIG);
	cr_assert_not_null(strstr(atr_detail(), "scheme"), "%s", atr_detail());
	memset(longuri, 'a', sizeof(longuri));
	memcpy(longuri, "file:/tmp/", 10);
	longuri[ATR_URI_MAX] = '\0';
	cr_assert_eq(atr_key_open(longuri, NULL, &k), ATR_ERR_CONFIG);
	/* a missing file is a configuration error (exit 2), not I/O */
	u = uri_of("/nonexistent/atrest-test.key");
	cr_assert_eq(atr_key_open(u, NULL, &k), ATR_ERR_CONFIG);
	cr_assert_not_null(strstr(atr_detail(), "No such file"), "%s",
	    atr_detail());
	free(u);
	/* a directory is not a key file */
	u = uri_of(dir);
	cr_assert_eq(atr_key_open(u, NULL, &k), ATR_ERR_IO);
	cr_assert_null(k);
	free(u);
	/* file:///abs (RFC 8089) is the same as file:/abs */
	et_fill(key, 32, 8);
	write_mode(p, key, 32, 0600);
	{
		size_t n = strlen(p) + 8;
		struct atr_key *a, *b;

		u = malloc(n);
		snprintf(u, n, "file://%s", p);
		cr_assert_eq(atr_key_open(u, NULL, &a), ATR_OK, "%s: %s", u,
		    atr_detail());
		b = open_ok(p);
		cr_assert_str_eq(a->key_id, b->key_id);
		atr_key_free(a);
		atr_key_free(b);
		free(u);
	}
	/* too large for a key file */
	{
		size_t n = 70000;
		uint8_t *big = calloc(1, n);

		write_mode(p, big, n, 0600);
		open_fails(p, ATR_ERR_KEY, "too large");
		free(big);
	}
	atr_key_free(NULL);
	free(p);
}

/* core/keyuri.h: what an error message may show of a key URI. */
#define TO "pkcs11:token=t;object=o"
Test(key_uri, redacted_for_messages)
{
	static const struct {
		const char *in, *out;
	} v[] = {
		{"file:/etc/k.pem", "file:/etc/k.pem"},
		{"pkcs11:token=t;object=o?pin-value=1234", TO},
		{"pkcs11:token=t;object=o?PIN-VALUE=1234", TO},
		{"pkcs11:token=t;object=o?pin_value=1234", TO},
		{"pkcs11:token=t;object=o?pin%2Dvalue=1234", TO},
		{"pkcs11:token=t;PIN-VALUE=1234;object=o;id=%01", TO},
		{"pkcs11:pin-value=1234", "pkcs11:"},
		{"pkcs11:object=o;token=My%20Token?module-path=/m.so",
		    "pkcs11:object=o;token=My%20Token"},
		{"pkcs11:tokenX=1234;token=t", "pkcs11:token=t"},
		{"https://user:1234@v.example/keys/k?sig=1234#f",
		    "https://v.example/keys/k"},
		{"HTTPS://v.example:8443/keys/k/1",
		    "HTTPS://v.example:8443/keys/k/1"},
		{"https://a@b@v.example/keys/k", "https://v.example/keys/k"},
		{"vault+https://u:1234@v/k?x=1", "vault+https://v/k"},
		{"nope:thing", "nope:thing"},
		{"nope:thing?pin=1234", "nope:thing..."},
		{"nope:user@1234", "nope:user..."},
		{"nope:a=1234", "nope:a..."},
		{"/etc/passwd", "(not a key URI)"},
		{"1234", "(not a key URI)"},
		{"", "(no key URI)"},
		{"file:/a\nb", "file:/a?b"},
	};
	char out[ATR_URI_SHOWN_MAX], small[16], big[3000];
	size_t i;

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		atr_key_uri_redact(v[i].in, out, sizeof(out));
		cr_assert_str_eq(out, v[i].out, "for %s", v[i].in);
	}
	atr_key_uri_redact(NULL, out, sizeof(out));
	cr_assert_str_eq(out, "(no key URI)");
	/* Cut, marked, and always terminated. */
	atr_key_uri_redact("file:/a/very/long/path/to/a/key", small,
	    sizeof(small));
	cr_assert_str_eq(small, "file:/a/very...");
	memset(big, 'a', sizeof(big));
	memcpy(big, "file:/", 6);
	big[sizeof(big) - 1] = '\0';
	atr_key_uri_redact(big, out, sizeof(out));
	cr_assert_eq(strlen(out), sizeof(out) - 1);
}

Test(keys, provider_and_alg_names)
{
	cr_assert_str_eq(atr_provider_name(ATR_PROV_FILE_RSA), "file-rsa");
	cr_assert_str_eq(atr_provider_name(ATR_PROV_FILE_AES), "file-aes");
	cr_assert_str_eq(atr_provider_name(ATR_PROV_PKCS11), "pkcs11");
	cr_assert_str_eq(atr_provider_name(ATR_PROV_AZURE_KV), "azure-kv");
	cr_assert_str_eq(atr_provider_name((enum atr_provider_type)99),
	    "unknown");
	cr_assert_str_eq(atr_wrap_alg_name(ATR_WRAP_RSA_OAEP_256),
	    "RSA-OAEP-256");
	cr_assert_str_eq(atr_wrap_alg_name(ATR_WRAP_AES_KWP), "AES-KWP");
	cr_assert_str_eq(atr_wrap_alg_name((enum atr_wrap_alg)0), "unknown");
}

/* ---- keygen --------------------------------------------------------- */

Test(keys, keygen_modes_and_content)
{
	char *rsa = path_in("new-rsa"), *pub = path_in("new-rsa.pub");
	char *aes = path_in("new-aes"), *aes2 = path_in("new-aes2");
	size_t n = 0, n2 = 0;
	uint8_t *t, *t2;
	struct atr_key *a, *b;
	mode_t old = umask(0);

	/* Modes are set explicitly, whatever the umask. */
	cr_assert_eq(atr_keygen("rsa-2048", rsa), ATR_OK, "%s", atr_detail());
	umask(077);
	cr_assert_eq(atr_keygen("aes-256", aes), ATR_OK, "%s", atr_detail());
	cr_assert_eq(atr_keygen("aes-256", aes2), ATR_OK, "%s", atr_detail());
	umask(old);
	cr_assert_eq(et_file_mode(rsa), 0600);
	cr_assert_eq(et_file_mode(pub), 0644);
	cr_assert_eq(et_file_mode(aes), 0600);
	cr_assert(tu_file_contains(rsa, "-----BEGIN PRIVATE KEY-----"));
	cr_assert(tu_file_contains(pub, "-----BEGIN PUBLIC KEY-----"));
	cr_assert(!tu_file_contains(pub, "PRIVATE"));
	t = tu_read_file(aes, &n);
	t2 = tu_read_file(aes2, &n2);
	cr_assert_eq(n, 65);
	cr_assert_eq(t[64], '\n');
	cr_assert(memcmp(t, t2, 64) != 0, "two keygens, one key");
	free(t);
	free(t2);
	a = open_ok(rsa);
	b = open_ok(pub);
	cr_assert_eq(a->bits, 2048);
	cr_assert_str_eq(a->key_id, b->key_id);
	atr_key_free(a);
	atr_key_free(b);
	cr_assert(!et_tree_has_tmp(dir), "temporary file left");
	free(rsa);
	free(pub);
	free(aes);
	free(aes2);
}

Test(keys, keygen_never_overwrites)
{
	char *p = path_in("exists"), *rp = path_in("r"), *rpub = path_in("r.pub");
	char *q = path_in("q"), *qpub = path_in("q.pub");
	uint8_t *t;

	cr_assert_eq(tu_write_file(p, "keep", 4), 0);
	cr_assert_eq(atr_keygen("aes-256", p), ATR_ERR_EXISTS);
	cr_assert_eq(atr_keygen("rsa-2048", p), ATR_ERR_EXISTS);
	t = tu_read_file(p, NULL);
	cr_assert_str_eq((char *)t, "keep", "original content changed");
	free(t);
	/* an existing .pub blocks an RSA keygen before anything is made */
	cr_assert_eq(tu_write_file(rpub, "pub", 3), 0);
	cr_assert_eq(atr_keygen("rsa-2048", rp), ATR_ERR_EXISTS);
	cr_assert_eq(access(rp, F_OK), -1, "private key written anyway");
	t = tu_read_file(rpub, NULL);
	cr_assert_str_eq((char *)t, "pub");
	free(t);
	/* and a second keygen over a complete pair */
	cr_assert_eq(atr_keygen("rsa-2048", q), ATR_OK);
	t = tu_read_file(q, NULL);
	cr_assert_eq(atr_keygen("rsa-2048", q), ATR_ERR_EXISTS);
	{
		uint8_t *t2 = tu_read_file(q, NULL);

		cr_assert_str_eq((char *)t2, (char *)t, "key replaced");
		free(t2);
	}
	free(t);
	cr_assert(!et_tree_has_tmp(dir));
	free(p);
	free(rp);
	free(rpub);
	free(q);
	free(qpub);
}

Test(keys, keygen_unknown_type_or_bad_dir)
{
	static const char *const bad[] = {"rsa-1024", "rsa-8192", "aes-128",
	    "RSA-2048", "", "ec-p256"};
	char *p = path_in("none");
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(atr_keygen(bad[i], p), ATR_ERR_USAGE, "type '%s'",
		    bad[i]);
		cr_assert_eq(access(p, F_OK), -1);
	}
	cr_assert_not_null(strstr(atr_detail(), "unknown key type"));
	cr_assert_eq(et_tree_count(dir), 0);
	cr_assert_eq(atr_keygen("aes-256", "/nonexistent-dir/k"), ATR_ERR_IO);
	free(p);
}

/* A wrapper key (bench's counting and failing keys) presents exactly the
 * identity of the key it wraps, and freeing it leaves that key alone. */
static int wrapper_freed;

static void
wrapper_free(struct atr_key *k)
{
	wrapper_freed++;
	free(k->impl);
	k->impl = NULL;
}

static const struct atr_key_ops wrapper_ops = {
	NULL, NULL, NULL, wrapper_free,
};

Test(keys, alloc_as_copies_the_identity)
{
	uint8_t key[32];
	char *raw = path_in("inner.key");
	struct atr_key *inner, *w;
	void *impl = malloc(8);

	cr_assert_not_null(impl);
	et_fill(key, 32, 7);
	write_mode(raw, key, 32, 0600);
	inner = open_ok(raw);
	w = atr_key_alloc_as(&wrapper_ops, inner, impl);
	cr_assert_not_null(w);
	cr_assert_eq(w->ops, &wrapper_ops);
	cr_assert_eq(w->impl, impl);
	cr_assert_eq(w->provider, inner->provider);
	cr_assert_eq(w->alg, inner->alg);
	cr_assert_str_eq(w->uri, inner->uri);
	cr_assert_str_eq(w->key_id, inner->key_id);
	cr_assert_str_eq(w->desc, inner->desc);
	cr_assert_eq(w->customer_managed, inner->customer_managed);
	cr_assert_eq(w->can_wrap, inner->can_wrap);
	cr_assert_eq(w->can_unwrap, inner->can_unwrap);
	cr_assert_eq(w->bits, inner->bits);
	atr_key_free(w);
	cr_assert_eq(wrapper_freed, 1);
	cr_assert_str_neq(inner->key_id, "", "the inner key is intact");
	atr_key_free(inner);
	free(raw);
}
