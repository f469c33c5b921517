/*
 * provider_file.c - keys in local files.
 *
 *   PEM RSA public key (SPKI, or PKCS#1)   customer-managed, wrap only
 *   PEM RSA private key (PKCS#8/PKCS#1)    customer-managed, wrap+unwrap
 *   32-byte AES-256 key, raw or 64 hex     service-managed, AES-KWP
 *
 * RSA keys wrap with RSA-OAEP-256 (RFC 8017 7.1, SHA-256, MGF1-SHA-256,
 * empty label: the context is bound inside the wrapped plaintext, which
 * lets a key that moves into an HSM or a vault, where labels are not
 * always available, keep opening old objects).  AES keys wrap with
 * RFC 5649 KWP.  The parsed EVP_PKEY is kept for the key's lifetime:
 * with OpenSSL 3 a PEM public key takes ~300 us to parse (the
 * OSSL_DECODER framework), ~8x the ~40 us of the RSA-OAEP encryption
 * itself, so re-parsing per wrap would dominate the cost of small
 * objects.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/decoder.h>
#include <openssl/encoder.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "crypto.h"
#include "fsutil.h"
#include "key.h"
#include "keys.h"

#define KEYFILE_MAX (64U * 1024U)
#define RSA_MIN_BITS 2048U
#define RSA_MAX_BITS 8192U

struct file_impl {
	EVP_PKEY *pkey;      /* RSA */
	uint8_t aes[32];     /* AES-256 KEK */
};

static enum atr_err
rsa_wrap(struct atr_key *k, const uint8_t *in, size_t in_len, uint8_t *out,
    size_t *out_len)
{
	struct file_impl *f = k->impl;

	return atr_rsa_oaep_encrypt(f->pkey, EVP_sha256(), NULL, 0, in, in_len,
	    out, out_len);
}

static enum atr_err
rsa_unwrap(struct atr_key *k, const char *kid, enum atr_wrap_alg alg,
    const uint8_t *in, size_t in_len, uint8_t *out, size_t *out_len)
{
	struct file_impl *f = k->impl;
	const EVP_MD *md;

	(void)kid;
	if (!k->can_unwrap) {
		*out_len = 0;
		return atr_fail(ATR_ERR_KEY,
		    "%s is a public key; decryption needs the private key",
		    k->uri);
	}
	if (alg == ATR_WRAP_RSA_OAEP_256)
		md = EVP_sha256();
	else if (alg == ATR_WRAP_RSA_OAEP_SHA1)
		md = EVP_sha1();
	else {
		*out_len = 0;
		return ATR_ERR_AUTH;
	}
	return atr_rsa_oaep_decrypt(f->pkey, md, NULL, 0, in, in_len, out,
	    out_len);
}

static enum atr_err
aes_wrap(struct atr_key *k, const uint8_t *in, size_t in_len, uint8_t *out,
    size_t *out_len)
{
	struct file_impl *f = k->impl;

	if (*out_len < ((in_len + 7) & ~(size_t)7) + 8)
		return atr_fail(ATR_ERR_USAGE, "wrap buffer too small");
	return atr_aes_kw_wrap(1, f->aes, sizeof(f->aes), in, in_len, out,
	    out_len);
}

static enum atr_err
aes_unwrap(struct atr_key *k, const char *kid, enum atr_wrap_alg alg,
    const uint8_t *in, size_t in_len, uint8_t *out, size_t *out_len)
{
	struct file_impl *f = k->impl;

	(void)kid;
	if (alg != ATR_WRAP_AES_KWP || *out_len < in_len) {
		*out_len = 0;
		return ATR_ERR_AUTH;
	}
	return atr_aes_kw_unwrap(1, f->aes, sizeof(f->aes), in, in_len, out,
	    out_len);
}

static int
file_matches(const struct atr_key *k, enum atr_provider_type prov,
    const char *kid)
{
	return prov == k->provider && strcmp(kid, k->key_id) == 0;
}

static void
file_free(struct atr_key *k)
{
	struct file_impl *f = k->impl;

	if (f == NULL)
		return;
	EVP_PKEY_free(f->pkey);
	atr_memzero(f, sizeof(*f));
	free(f);
	k->impl = NULL;
}

static const struct atr_key_ops rsa_ops = {
	rsa_wrap, rsa_unwrap, file_matches, file_free,
};
static const struct atr_key_ops aes_ops = {
	aes_wrap, aes_unwrap, file_matches, file_free,
};

/* "spki-sha256:" + SHA-256 of the DER SubjectPublicKeyInfo. */
static enum atr_err
rsa_key_id(EVP_PKEY *pkey, char *out, size_t cap)
{
	unsigned char *der = NULL;
	uint8_t md[32];
	char hex[65];
	int n;

	n = i2d_PUBKEY(pkey, &der);
	if (n <= 0)
		return atr_fail(ATR_ERR_CRYPTO, "cannot encode the public key");
	if (atr_sha256(der, (size_t)n, md) != ATR_OK) {
		OPENSSL_free(der);
		return ATR_ERR_CRYPTO;
	}
	OPENSSL_free(der);
	atr_hex(md, sizeof(md), hex);
	snprintf(out, cap, "spki-sha256:%s", hex);
	return ATR_OK;
}

static enum atr_err
decode_pem(const unsigned char *buf, size_t len, int selection,
    EVP_PKEY **out)
{
	OSSL_DECODER_CTX *dctx;
	const unsigned char *p = buf;
	size_t left = len;
	EVP_PKEY *pkey = NULL;
	int ok;

	dctx = OSSL_DECODER_CTX_new_for_pkey(&pkey, "PEM", NULL, NULL,
	    selection, NULL, NULL);
	if (dctx == NULL)
		return ATR_ERR_CRYPTO;
	ok = OSSL_DECODER_from_data(dctx, &p, &left);
	OSSL_DECODER_CTX_free(dctx);
	ERR_clear_error();
	if (!ok || pkey == NULL) {
		EVP_PKEY_free(pkey);
		return ATR_ERR_KEY;
	}
	*out = pkey;
	return ATR_OK;
}

static enum atr_err
open_rsa(struct atr_key *k, struct file_impl *f, const unsigned char *buf,
    size_t len, int private)
{
	enum atr_err err;
	int bits;

	err = decode_pem(buf, len,
	    private ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY, &f->pkey);
	if (err != ATR_OK)
		return atr_fail(ATR_ERR_KEY, "cannot parse the PEM key%s",
		    private ? " (an encrypted private key is not supported)" : "");
	if (!EVP_PKEY_is_a(f->pkey, "RSA"))
		return atr_fail(ATR_ERR_KEY, "not an RSA key");
	bits = EVP_PKEY_get_bits(f->pkey);
	if (bits < (int)RSA_MIN_BITS || bits > (int)RSA_MAX_BITS)
		return atr_fail(ATR_ERR_KEY,
		    "RSA key has %d bits; %u to %u are supported", bits,
		    RSA_MIN_BITS, RSA_MAX_BITS);
	k->ops = &rsa_ops;
	k->provider = ATR_PROV_FILE_RSA;
	k->alg = ATR_WRAP_RSA_OAEP_256;
	k->customer_managed = 1;
	k->can_wrap = 1;
	k->can_unwrap = private;
	k->bits = (unsigned)bits;
	snprintf(k->desc, sizeof(k->desc), "RSA-%d %s key (file)", bits,
	    private ? "private" : "public");
	return rsa_key_id(f->pkey, k->key_id, sizeof(k->key_id));
}

static enum atr_err
open_aes(struct atr_key *k, struct file_impl *f, const unsigned char *buf,
    size_t len)
{
	static const char label[] = "atrest/v1 aes-kek-id";
	uint8_t idin[sizeof(label) - 1 + 32], md[32];
	char hex[65];
	size_t n = len, got = 0;

	if (len == 32) {
		memcpy(f->aes, buf, 32);
	} else {
		while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
			n--;
		if (n != 64 || atr_unhex((const char *)buf, n, f->aes,
		    sizeof(f->aes), &got) != 0 || got != 32)
			return atr_fail(ATR_ERR_KEY,
			    "not a PEM RSA key nor a 32-byte AES-256 key "
			    "(raw, or 64 hex digits)");
	}
	/* The key id is a hash of the key under a fixed label: it names the
	 * key without being usable to test guesses of other keys' bytes. */
	memcpy(idin, label, sizeof(label) - 1);
	memcpy(idin + sizeof(label) - 1, f->aes, 32);
	if (atr_sha256(idin, sizeof(idin), md) != ATR_OK) {
		atr_memzero(idin, sizeof(idin));
		return ATR_ERR_CRYPTO;
	}
	atr_memzero(idin, sizeof(idin));
	atr_hex(md, sizeof(md), hex);
	snprintf(k->key_id, sizeof(k->key_id), "kek-sha256:%s", hex);
	k->ops = &aes_ops;
	k->provider = ATR_PROV_FILE_AES;
	k->alg = ATR_WRAP_AES_KWP;
	k->customer_managed = 0;
	k->can_wrap = 1;
	k->can_unwrap = 1;
	k->bits = 256;
	snprintf(k->desc, sizeof(k->desc), "AES-256 key (file)");
	return ATR_OK;
}

static enum atr_err
file_open(const char *uri, const struct atr_key_opts *opts,
    struct atr_key **out)
{
	const char *path = uri + strlen("file:");
	unsigned char *buf = NULL;
	struct atr_key *k = NULL;
	struct file_impl *f = NULL;
	enum atr_err err;
	size_t len = 0;
	const char *pem;

	(void)opts;
	*out = NULL;
	/* Accept file:///abs/path too (RFC 8089). */
	if (strncmp(path, "//", 2) == 0)
		path += 2;
	if (*path == '\0')
		return atr_fail(ATR_ERR_CONFIG, "file: URI without a path");
	err = atr_read_small_file(path, KEYFILE_MAX, 0, &buf, &len);
	if (err != ATR_OK)
		return err;
	k = atr_key_alloc(&rsa_ops);
	f = calloc(1, sizeof(*f));
	if (k == NULL || f == NULL) {
		err = ATR_ERR_NOMEM;
		goto out;
	}
	k->impl = f;
	f = NULL;
	snprintf(k->uri, sizeof(k->uri), "%s", uri);
	pem = strstr((const char *)buf, "-----BEGIN ");
	if (pem != NULL && len != 32) {
		int private = strstr(pem, "PRIVATE KEY-----") != NULL;

		if (private) {
			/* Re-read with the permission check: a private key
			 * anyone can read is no longer private. */
			unsigned char *b2 = NULL;
			size_t l2 = 0;

			err = atr_read_small_file(path, KEYFILE_MAX, 1, &b2,
			    &l2);
			atr_secure_free(b2, l2);
			if (err != ATR_OK)
				goto out;
		}
		err = open_rsa(k, k->impl, buf, len, private);
	} else {
		unsigned char *b2 = NULL;
		size_t l2 = 0;

		err = atr_read_small_file(path, KEYFILE_MAX, 1, &b2, &l2);
		atr_secure_free(b2, l2);
		if (err == ATR_OK)
			err = open_aes(k, k->impl, buf, len);
	}
	if (err != ATR_OK)
		goto out;
	*out = k;
	k = NULL;
out:
	atr_secure_free(buf, len);
	free(f);
	atr_key_free(k);
	return err;
}

const struct atr_provider atr_provider_file = {
	"file", "file:", file_open,
};

/* see keys.h */
enum atr_err
atr_keygen(const char *type, const char *path)
{
	struct atr_outfile o, op;
	EVP_PKEY *pkey = NULL;
	BIO *bio = NULL, *pbio = NULL;
	enum atr_err err = ATR_ERR_CRYPTO;
	char pubpath[PATH_MAX];
	uint8_t key[32];
	char hex[65];
	unsigned bits = 0;
	BUF_MEM *mem;

	memset(&o, 0, sizeof(o));
	memset(&op, 0, sizeof(op));
	o.fd = op.fd = -1;
	if (strcmp(type, "rsa-2048") == 0)
		bits = 2048;
	else if (strcmp(type, "rsa-3072") == 0)
		bits = 3072;
	else if (strcmp(type, "rsa-4096") == 0)
		bits = 4096;
	else if (strcmp(type, "aes-256") != 0)
		return atr_fail(ATR_ERR_USAGE,
		    "unknown key type '%s' (rsa-2048, rsa-3072, rsa-4096, aes-256)",
		    type);
	if (access(path, F_OK) == 0)
		return atr_fail(ATR_ERR_EXISTS, "%s already exists", path);
	if (bits != 0) {
		int n = snprintf(pubpath, sizeof(pubpath), "%s.pub", path);

		if (n < 0 || (size_t)n >= sizeof(pubpath))
			return atr_fail(ATR_ERR_USAGE, "path too long");
		if (access(pubpath, F_OK) == 0)
			return atr_fail(ATR_ERR_EXISTS, "%s already exists",
			    pubpath);
	}
	err = atr_out_begin(&o, path, 0600);
	if (err != ATR_OK)
		return err;
	if (bits == 0) {
		err = atr_random(key, sizeof(key));
		if (err != ATR_OK)
			goto out;
		atr_hex(key, sizeof(key), hex);
		hex[64] = '\n';
		err = atr_write_all(o.fd, hex, 65);
		if (err != ATR_OK)
			goto out;
		err = atr_out_commit(&o, 1);
		goto out;
	}
	err = ATR_ERR_CRYPTO;
	pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)bits);
	if (pkey == NULL)
		goto out;
	bio = BIO_new(BIO_s_secmem());
	pbio = BIO_new(BIO_s_mem());
	if (bio == NULL || pbio == NULL)
		goto out;
	if (!ATR_OSSL(PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL,
	    NULL)) || !ATR_OSSL(PEM_write_bio_PUBKEY(pbio, pkey)))
		goto out;
	BIO_get_mem_ptr(bio, &mem);
	err = atr_write_all(o.fd, mem->data, mem->length);
	if (err != ATR_OK)
		goto out;
	err = atr_out_begin(&op, pubpath, 0644);
	if (err != ATR_OK)
		goto out;
	BIO_get_mem_ptr(pbio, &mem);
	err = atr_write_all(op.fd, mem->data, mem->length);
	if (err != ATR_OK)
		goto out;
	err = atr_out_commit(&o, 1);
	if (err != ATR_OK)
		goto out;
	err = atr_out_commit(&op, 1);
	if (err != ATR_OK)
		unlink(path);
out:
	atr_out_abort(&o);
	atr_out_abort(&op);
	atr_memzero(key, sizeof(key));
	atr_memzero(hex, sizeof(hex));
	BIO_free(bio); /* secmem BIO wipes on free */
	BIO_free(pbio);
	EVP_PKEY_free(pkey);
	return err;
}
