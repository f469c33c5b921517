/*
 * limits.c - the machine's own limits, measured with the same core/crypto.h
 * primitives the envelope uses, on reused contexts and pre-faulted
 * buffers: raw AES-256-GCM at each object size, RSA-OAEP-256 public and
 * private operations with a parsed key, AES-KWP (RFC 5649), and the
 * small primitives an envelope spends its fixed cost on.
 */
#include "bench_int.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <unistd.h>

#include "crypto.h"
#include "util.h"

#define REF_MAX_RSA 8U

struct rsa_ref {
	unsigned bits;
	EVP_PKEY *pkey;
	uint8_t ct[1024];     /* an OAEP ciphertext of the 64-byte input */
	size_t ct_len;
};

struct atb_refs {
	const uint8_t *in;
	uint8_t *out, *scratch;
	size_t cap;
	struct atr_gcm gcm;
	uint64_t nonce_ctr;
	EVP_CIPHER *gcm_cipher;
	EVP_CIPHER_CTX *stream;
	uint64_t opened_size;  /* size of the sealed object in scratch */
	uint8_t kek[32];
	uint8_t wrap_in[64];
	uint8_t kwp[72];
	uint8_t small[256];
	struct rsa_ref rsa[REF_MAX_RSA];
	size_t nrsa;
	/* --io: the directory (borrowed), the write ring's position and
	 * the size of the file the read reference reads (0: none yet). */
	int io_fd;
	uint64_t io_seq;
	uint64_t read_size;
	size_t read_n, read_next;  /* files "lr-K" of read_size bytes */
};

/* Keeps the empty op from being optimised away. */
static volatile unsigned sink;
static void
noop(void)
{
	sink++;
}
static void (*volatile noop_ptr)(void) = noop;

const char *
atb_limit_kind_name(enum atb_limit_kind k)
{
	switch (k) {
	case ATB_L_GCM_SEAL:
		return "aes-256-gcm-seal";
	case ATB_L_GCM_OPEN:
		return "aes-256-gcm-open";
	case ATB_L_GCM_STREAM:
		return "aes-256-gcm-stream";
	case ATB_L_RSA_PUB:
		return "rsa-oaep-public";
	case ATB_L_RSA_PRIV:
		return "rsa-oaep-private";
	case ATB_L_KWP_WRAP:
		return "aes-kwp-wrap";
	case ATB_L_KWP_UNWRAP:
		return "aes-kwp-unwrap";
	case ATB_L_HKDF:
		return "hkdf-sha256-96";
	case ATB_L_HMAC:
		return "hmac-sha256-200";
	case ATB_L_RAND:
		return "rand-bytes-32";
	case ATB_L_GCM_KEY:
		return "aes-256-gcm-setup";
	case ATB_L_EMPTY:
		return "harness-empty-op";
	case ATB_L_IO_WRITE:
		return "io-write";
	case ATB_L_IO_READ:
		return "io-read";
	case ATB_L__COUNT:
		break;
	}
	return "unknown";
}

void
atb_limit_name(enum atb_limit_kind k, uint64_t size, unsigned bits,
    char *out, size_t cap)
{
	switch (k) {
	case ATB_L_GCM_SEAL:
	case ATB_L_GCM_OPEN:
	case ATB_L_GCM_STREAM:
	case ATB_L_IO_WRITE:
	case ATB_L_IO_READ:
		snprintf(out, cap, "%s-%llu", atb_limit_kind_name(k),
		    (unsigned long long)size);
		break;
	case ATB_L_RSA_PUB:
		snprintf(out, cap, "rsa-%u-public", bits);
		break;
	case ATB_L_RSA_PRIV:
		snprintf(out, cap, "rsa-%u-private", bits);
		break;
	default:
		snprintf(out, cap, "%s", atb_limit_kind_name(k));
		break;
	}
}

double
atb_clock_cost_ns(void)
{
	const unsigned n = 200000;
	uint64_t t0, t1 = 0;
	unsigned i;

	t0 = atr_now_ns();
	for (i = 0; i < n; i++)
		t1 = atr_now_ns();
	return (double)(t1 - t0) / n;
}

enum atr_err
atb_refs_new(const uint8_t *in, uint8_t *out, uint8_t *scratch, size_t cap,
    struct atb_refs **out_refs)
{
	struct atb_refs *r;
	enum atr_err err;
	size_t i;

	*out_refs = NULL;
	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return ATR_ERR_NOMEM;
	r->io_fd = -1;
	r->in = in;
	r->out = out;
	r->scratch = scratch;
	r->cap = cap;
	for (i = 0; i < sizeof(r->wrap_in); i++)
		r->wrap_in[i] = (uint8_t)(i * 7 + 1);
	for (i = 0; i < sizeof(r->small); i++)
		r->small[i] = (uint8_t)(i * 13 + 5);
	err = atr_random(r->kek, sizeof(r->kek));
	if (err == ATR_OK)
		err = atr_gcm_init(&r->gcm, r->kek);
	if (err != ATR_OK) {
		atb_refs_free(r);
		return err;
	}
	r->gcm_cipher = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
	r->stream = EVP_CIPHER_CTX_new();
	if (r->gcm_cipher == NULL || r->stream == NULL) {
		atb_refs_free(r);
		return atr_fail(ATR_ERR_CRYPTO, "AES-256-GCM is not available");
	}
	*out_refs = r;
	return ATR_OK;
}

void
atb_refs_free(struct atb_refs *r)
{
	size_t i;

	if (r == NULL)
		return;
	atr_gcm_clear(&r->gcm);
	EVP_CIPHER_CTX_free(r->stream);
	EVP_CIPHER_free(r->gcm_cipher);
	for (i = 0; i < r->nrsa; i++)
		EVP_PKEY_free(r->rsa[i].pkey);
	atr_memzero(r, sizeof(*r));
	free(r);
}

void
atb_refs_set_io(struct atb_refs *r, int dirfd)
{
	r->io_fd = dirfd;
	r->read_size = 0;
}

double
atb_limit_ops_per_s(double aead_ns, double kek_ns, double io_ns, double eff)
{
	double ns = aead_ns + kek_ns + io_ns;

	/* NaN compares false: a missing part makes no limit, rather than
	 * a limit that silently leaves it out. */
	if (!(aead_ns >= 0 && kek_ns >= 0 && io_ns >= 0 && ns > 0 && eff > 0))
		return NAN;
	return eff * 1e9 / ns;
}

static enum atr_err
rsa_add(struct atb_refs *r, EVP_PKEY *pkey, struct rsa_ref **out)
{
	struct rsa_ref *k;
	enum atr_err err;

	if (r->nrsa == REF_MAX_RSA) {
		EVP_PKEY_free(pkey);
		return atr_fail(ATR_ERR_LIMIT, "too many RSA sizes");
	}
	k = &r->rsa[r->nrsa];
	k->pkey = pkey;
	k->bits = (unsigned)EVP_PKEY_get_bits(pkey);
	k->ct_len = sizeof(k->ct);
	err = atr_rsa_oaep_encrypt(pkey, EVP_sha256(), NULL, 0, r->wrap_in,
	    sizeof(r->wrap_in), k->ct, &k->ct_len);
	if (err != ATR_OK) {
		EVP_PKEY_free(pkey);
		k->pkey = NULL;
		return err;
	}
	r->nrsa++;
	if (out != NULL)
		*out = k;
	return ATR_OK;
}

enum atr_err
atb_refs_load_rsa(struct atb_refs *r, const char *pem_path)
{
	EVP_PKEY *pkey = NULL;
	BIO *bio;
	size_t i;

	bio = BIO_new_file(pem_path, "r");
	if (bio == NULL) {
		ERR_clear_error();
		return atr_fail(ATR_ERR_IO, "%s: cannot open", pem_path);
	}
	pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	BIO_free(bio);
	ERR_clear_error();
	if (pkey == NULL || !EVP_PKEY_is_a(pkey, "RSA")) {
		EVP_PKEY_free(pkey);
		return atr_fail(ATR_ERR_KEY, "%s: not an RSA private key",
		    pem_path);
	}
	for (i = 0; i < r->nrsa; i++)
		if (r->rsa[i].bits == (unsigned)EVP_PKEY_get_bits(pkey)) {
			EVP_PKEY_free(pkey);
			return ATR_OK;
		}
	return rsa_add(r, pkey, NULL);
}

static enum atr_err
rsa_get(struct atb_refs *r, unsigned bits, struct rsa_ref **out)
{
	EVP_PKEY *pkey;
	size_t i;

	for (i = 0; i < r->nrsa; i++)
		if (r->rsa[i].bits == bits) {
			*out = &r->rsa[i];
			return ATR_OK;
		}
	if (bits < 1024 || bits > 16384)
		return atr_fail(ATR_ERR_USAGE, "no RSA reference for %u bits",
		    bits);
	pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)bits);
	if (pkey == NULL) {
		ERR_clear_error();
		return atr_fail(ATR_ERR_CRYPTO, "RSA-%u key generation failed",
		    bits);
	}
	return rsa_add(r, pkey, out);
}

static void
next_nonce(struct atb_refs *r, uint8_t nonce[12])
{
	uint64_t c = ++r->nonce_ctr;
	int i;

	memset(nonce, 0, 12);
	for (i = 0; i < 8; i++)
		nonce[11 - i] = (uint8_t)(c >> (8 * i));
}

/* Seals size bytes once into scratch, so that GCM_OPEN has an object. */
static enum atr_err
prepare_open(struct atb_refs *r, uint64_t size)
{
	uint8_t nonce[12] = {0};
	enum atr_err err;

	if (r->opened_size == size)
		return ATR_OK;
	err = atr_gcm_seal_frame(&r->gcm, nonce, NULL, 0, r->in, (size_t)size,
	    r->scratch);
	if (err == ATR_OK)
		r->opened_size = size;
	return err;
}

static enum atr_err
stream_init(struct atb_refs *r)
{
	static const uint8_t iv[12] = {1};

	/* As `openssl speed -evp`: key and IV once, then only Update. */
	if (!ATR_OSSL(EVP_EncryptInit_ex2(r->stream, r->gcm_cipher, r->kek, iv,
	    NULL)))
		return atr_fail(ATR_ERR_CRYPTO, "cannot set up AES-256-GCM");
	return ATR_OK;
}

/*
 * Writes the files the read reference reads, once per size, durably:
 * as many as a decrypt cell's pool holds (group.c pools_build), so
 * that the reference cycles over as many files, inodes and cached
 * pages as the cells do, not over one hot file.
 */
static enum atr_err
prepare_read(struct atb_refs *r, uint64_t size)
{
	uint64_t n = POOL_PER_KEY_BYTES / (size ? size : 1);
	enum atr_err err = ATR_OK;
	char name[32];
	size_t i;

	if (r->read_size == size)
		return ATR_OK;
	for (i = 0; i < r->read_n; i++) {
		snprintf(name, sizeof(name), "lr-%zu", i);
		(void)unlinkat(r->io_fd, name, 0);
	}
	r->read_size = 0;
	r->read_n = 0;
	if (n < 1)
		n = 1;
	if (n > POOL_MAX_OBJECTS)
		n = POOL_MAX_OBJECTS;
	for (i = 0; i < n && err == ATR_OK; i++) {
		snprintf(name, sizeof(name), "lr-%zu", i);
		err = bn_io_plain_write(r->io_fd, name, name, r->in,
		    (size_t)size, 0);
		if (err == ATR_OK)
			r->read_n = i + 1;
	}
	if (err == ATR_OK && fsync(r->io_fd) != 0)
		err = atr_fail(ATR_ERR_IO, "directory fsync: %s",
		    strerror(errno));
	if (err == ATR_OK)
		err = bn_io_sync(r->io_fd);
	if (err == ATR_OK)
		r->read_size = size;
	return err;
}

/* The storage limit of one object: the atomic write's steps without
 * atrest (docs/BENCH.md, "Storage (--io)"), over the same ring of
 * names the cells use, or a plain read of a file of that size. */
static enum atr_err
one_io(struct atb_refs *r, enum atb_limit_kind k, uint64_t size)
{
	char name[32];

	if (k == ATB_L_IO_READ) {
		snprintf(name, sizeof(name), "lr-%zu", r->read_next++ %
		    r->read_n);
		return bn_io_plain_read(r->io_fd, name, r->out, (size_t)size);
	}
	snprintf(name, sizeof(name), "lw-%u",
	    (unsigned)(r->io_seq++ % bn_io_ring(size)));
	return bn_io_plain_write(r->io_fd, "lw-tmp", name, r->in,
	    (size_t)size, 1);
}

/* One operation of kind k; rk is the key of the RSA kinds. */
static enum atr_err
one(struct atb_refs *r, enum atb_limit_kind k, uint64_t size,
    struct rsa_ref *rk)
{
	uint8_t nonce[12], buf[1024];
	size_t n = sizeof(buf);
	struct atr_gcm g;
	enum atr_err err;
	int outl;

	switch (k) {
	case ATB_L_GCM_SEAL:
		next_nonce(r, nonce);
		return atr_gcm_seal_frame(&r->gcm, nonce, NULL, 0, r->in,
		    (size_t)size, r->out);
	case ATB_L_GCM_OPEN:
		memset(nonce, 0, sizeof(nonce));
		return atr_gcm_open_frame(&r->gcm, nonce, NULL, 0, r->scratch,
		    (size_t)size, r->out);
	case ATB_L_GCM_STREAM:
		/* In place, as openssl speed does; a fresh IV when the GCM
		 * counter would run out (SP 800-38D 5.2.1.1). */
		if (EVP_EncryptUpdate(r->stream, r->out, &outl, r->out,
		    (int)size) != 1) {
			ERR_clear_error();
			return stream_init(r);
		}
		return ATR_OK;
	case ATB_L_RSA_PUB:
		if (rk == NULL)
			break;
		return atr_rsa_oaep_encrypt(rk->pkey, EVP_sha256(), NULL, 0,
		    r->wrap_in, sizeof(r->wrap_in), buf, &n);
	case ATB_L_RSA_PRIV:
		if (rk == NULL)
			break;
		err = atr_rsa_oaep_decrypt(rk->pkey, EVP_sha256(), NULL, 0,
		    rk->ct, rk->ct_len, buf, &n);
		atr_memzero(buf, n);
		return err;
	case ATB_L_KWP_WRAP:
		return atr_aes_kw_wrap(1, r->kek, sizeof(r->kek), r->wrap_in,
		    sizeof(r->wrap_in), r->kwp, &n);
	case ATB_L_KWP_UNWRAP:
		return atr_aes_kw_unwrap(1, r->kek, sizeof(r->kek), r->kwp,
		    sizeof(r->kwp), buf, &n);
	case ATB_L_HKDF:
		return atr_hkdf_sha256(r->kek, 32, r->small, 32, r->small + 32,
		    68, buf, 96);
	case ATB_L_HMAC:
		return atr_hmac_sha256(r->kek, 32, r->small, 200, buf);
	case ATB_L_RAND:
		return atr_random(buf, 32);
	case ATB_L_GCM_KEY:
		err = atr_gcm_init(&g, r->kek);
		if (err == ATR_OK)
			atr_gcm_clear(&g);
		return err;
	case ATB_L_EMPTY:
		noop_ptr();
		return ATR_OK;
	case ATB_L_IO_WRITE:
	case ATB_L_IO_READ:
		return one_io(r, k, size);
	case ATB_L__COUNT:
		break;
	}
	return ATR_ERR_USAGE;
}

/*
 * The empty op runs in the loop the cells use: a clock read and a
 * histogram update around each op.  What it costs per op is the
 * harness's own overhead.
 */
static enum atr_err
measure_empty(double seconds, uint64_t min_ops, double *ns, double *cpu_ns)
{
	struct atb_hist *h = malloc(sizeof(*h));
	uint64_t t0, prev, now, deadline, n = 0, c0 = atb_thread_cpu_ns();

	if (h == NULL)
		return ATR_ERR_NOMEM;
	atb_hist_reset(h);
	t0 = prev = atr_now_ns();
	deadline = t0 + (uint64_t)(seconds * 1e9);
	do {
		noop_ptr();
		now = atr_now_ns();
		atb_hist_add(h, now - prev);
		prev = now;
		n++;
	} while (now < deadline || n < min_ops);
	*ns = (double)(now - t0) / (double)n;
	if (cpu_ns != NULL)
		*cpu_ns = (double)(atb_thread_cpu_ns() - c0) / (double)n;
	free(h);
	return ATR_OK;
}

enum atr_err
atb_ref_measure(struct atb_refs *r, enum atb_limit_kind kind, uint64_t size,
    unsigned bits, double seconds, uint64_t min_ops, double *ns,
    double *cpu_ns)
{
	struct rsa_ref *rk = NULL;
	uint64_t t0, t1, n = 0, batch = 1, goal, c0;
	enum atr_err err;

	*ns = NAN;
	if (cpu_ns != NULL)
		*cpu_ns = NAN;
	if (kind == ATB_L_EMPTY)
		return measure_empty(seconds, min_ops, ns, cpu_ns);
	if ((kind == ATB_L_GCM_SEAL || kind == ATB_L_GCM_OPEN ||
	    kind == ATB_L_GCM_STREAM || kind == ATB_L_IO_WRITE ||
	    kind == ATB_L_IO_READ) && (size > r->cap || size > INT32_MAX))
		return atr_fail(ATR_ERR_LIMIT, "reference size too large");
	if ((kind == ATB_L_IO_WRITE || kind == ATB_L_IO_READ) && r->io_fd < 0)
		return atr_fail(ATR_ERR_USAGE, "no --io directory");
	if (kind == ATB_L_IO_READ) {
		err = prepare_read(r, size);
		if (err != ATR_OK)
			return err;
	}
	if (kind == ATB_L_RSA_PUB || kind == ATB_L_RSA_PRIV) {
		err = rsa_get(r, bits, &rk);
		if (err != ATR_OK)
			return err;
	}
	if (kind == ATB_L_GCM_OPEN) {
		err = prepare_open(r, size);
		if (err != ATR_OK)
			return err;
	}
	if (kind == ATB_L_GCM_STREAM) {
		err = stream_init(r);
		if (err != ATR_OK)
			return err;
	}
	/* One untimed op: first use of a context, caches, branch history. */
	err = one(r, kind, size, rk);
	if (err != ATR_OK)
		return err;
	/* Clock reads in batches, so that a 100 ns primitive is not
	 * measured together with a 20 ns clock read per op. */
	goal = (uint64_t)(seconds * 1e9);
	c0 = atb_thread_cpu_ns();
	t0 = atr_now_ns();
	t1 = t0;
	while (t1 - t0 < goal || n < min_ops) {
		uint64_t i, b0 = t1;

		for (i = 0; i < batch; i++) {
			err = one(r, kind, size, rk);
			if (err != ATR_OK)
				return err;
		}
		n += batch;
		t1 = atr_now_ns();
		if (t1 - b0 < 50000 && batch < (1U << 20))
			batch *= 2;
	}
	*ns = (double)(t1 - t0) / (double)n;
	if (cpu_ns != NULL)
		*cpu_ns = (double)(atb_thread_cpu_ns() - c0) / (double)n;
	return ATR_OK;
}
