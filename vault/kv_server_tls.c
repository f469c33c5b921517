/*
 * The loopback Key Vault's test PKI: a CA and a server certificate for
 * 127.0.0.1, ::1 and localhost (plus any extra names), generated into
 * the state directory on first start and reused while still valid.
 * Clients trust STATE/ca.pem (curl CURLOPT_CAINFO, NODE_EXTRA_CA_CERTS,
 * REQUESTS_CA_BUNDLE, ...), never "verification off".
 */
#include "kv_server_int.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "crypto.h"
#include "fsutil.h"

#define CA_DAYS 3650L
/* Some TLS clients cap leaf lifetimes at 398 days (CA/B Forum BR
 * 6.3.2); the certificate is renewed when it nears expiry. */
#define LEAF_DAYS 397L
#define RENEW_MARGIN (30L * 86400L)

static enum atr_err
write_pem(const char *path, mode_t mode, EVP_PKEY *key, X509 *cert)
{
	BIO *b = BIO_new(BIO_s_secmem());
	BUF_MEM *mem = NULL;
	enum atr_err err;
	int ok;

	if (b == NULL)
		return ATR_ERR_NOMEM;
	ok = key != NULL ? PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0,
	    NULL, NULL) : PEM_write_bio_X509(b, cert);
	if (ok != 1 || BIO_get_mem_ptr(b, &mem) <= 0 || mem == NULL) {
		ERR_clear_error();
		BIO_free(b);
		return atr_fail(ATR_ERR_CRYPTO, "cannot encode %s", path);
	}
	err = atr_write_file(path, mode, mem->data, mem->length);
	BIO_free(b);
	return err;
}

/*
 * *out NULL when the file is absent or not a key (a new one is made);
 * an error when it is there but unusable as it stands - readable by
 * group or others, not a regular file, unreadable: replacing it would
 * hide that, and a CA key others could read may already be someone
 * else's (docs/VAULT.md, State directory).
 */
static enum atr_err
read_key(const char *path, EVP_PKEY **out)
{
	unsigned char *buf = NULL;
	size_t len = 0;
	EVP_PKEY *k = NULL;
	enum atr_err err;
	BIO *b;

	*out = NULL;
	err = atr_read_small_file(path, 1U << 16, 1, &buf, &len);
	if (err == ATR_ERR_CONFIG)
		return ATR_OK;          /* absent */
	if (err != ATR_OK)
		return atr_fail(err, "%s: %s", path, atr_detail());
	b = BIO_new_mem_buf(buf, (int)len);
	if (b != NULL)
		k = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
	BIO_free(b);
	atr_secure_free(buf, len);
	ERR_clear_error();
	*out = k;
	return ATR_OK;
}

static X509 *
read_cert(const char *path)
{
	unsigned char *buf = NULL;
	size_t len = 0;
	X509 *c = NULL;
	BIO *b;

	if (atr_read_small_file(path, 1U << 16, 0, &buf, &len) != ATR_OK)
		return NULL;
	b = BIO_new_mem_buf(buf, (int)len);
	if (b != NULL)
		c = PEM_read_bio_X509(b, NULL, NULL, NULL);
	BIO_free(b);
	free(buf);
	ERR_clear_error();
	return c;
}

static int
add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ex;
	int ok;

	X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
	ex = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (ex == NULL)
		return 0;
	ok = X509_add_ext(cert, ex, -1);
	X509_EXTENSION_free(ex);
	return ok == 1;
}

static X509 *
make_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *ikey,
    long days, const char *san)
{
	X509 *c = X509_new();
	X509_NAME *name;
	ASN1_INTEGER *serial = NULL;
	BIGNUM *bn = NULL;
	uint8_t rnd[16];
	int ca = issuer == NULL;

	if (c == NULL)
		return NULL;
	/* RFC 5280 4.1.2.2: positive serial, at most 20 octets, unique. */
	if (atr_random(rnd, sizeof(rnd)) != ATR_OK)
		goto fail;
	rnd[0] &= 0x7f;
	bn = BN_bin2bn(rnd, sizeof(rnd), NULL);
	serial = bn != NULL ? BN_to_ASN1_INTEGER(bn, NULL) : NULL;
	if (serial == NULL || !X509_set_version(c, 2) ||
	    !X509_set_serialNumber(c, serial))
		goto fail;
	/* Back-dated an hour: clocks of test clients may lag. */
	if (X509_gmtime_adj(X509_getm_notBefore(c), -3600) == NULL ||
	    X509_gmtime_adj(X509_getm_notAfter(c), days * 86400L) == NULL ||
	    !X509_set_pubkey(c, key))
		goto fail;
	name = X509_get_subject_name(c);
	if (!X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
	    (const unsigned char *)"atrest test", -1, -1, 0) ||
	    !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
	    (const unsigned char *)cn, -1, -1, 0))
		goto fail;
	if (!X509_set_issuer_name(c, ca ? name : X509_get_subject_name(issuer)))
		goto fail;
	if (ca) {
		if (!add_ext(c, c, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") ||
		    !add_ext(c, c, NID_key_usage, "critical,keyCertSign,cRLSign") ||
		    !add_ext(c, c, NID_subject_key_identifier, "hash") ||
		    !add_ext(c, c, NID_authority_key_identifier, "keyid:always"))
			goto fail;
	} else {
		if (!add_ext(c, issuer, NID_basic_constraints, "critical,CA:FALSE") ||
		    !add_ext(c, issuer, NID_key_usage, "critical,digitalSignature") ||
		    !add_ext(c, issuer, NID_ext_key_usage, "serverAuth") ||
		    !add_ext(c, issuer, NID_subject_key_identifier, "hash") ||
		    !add_ext(c, issuer, NID_authority_key_identifier, "keyid:always") ||
		    !add_ext(c, issuer, NID_subject_alt_name, san))
			goto fail;
	}
	if (X509_sign(c, ca ? key : ikey, EVP_sha256()) <= 0)
		goto fail;
	ASN1_INTEGER_free(serial);
	BN_free(bn);
	return c;
fail:
	ERR_clear_error();
	ASN1_INTEGER_free(serial);
	BN_free(bn);
	X509_free(c);
	return NULL;
}

static int
is_ip(const char *s)
{
	unsigned char buf[16];

	return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

static int
cert_covers(X509 *c, const char *name)
{
	if (is_ip(name))
		return X509_check_ip_asc(c, name, 0) == 1;
	return X509_check_host(c, name, 0, 0, NULL) == 1;
}

static int
cert_fresh(X509 *c)
{
	time_t t = time(NULL) + RENEW_MARGIN;

	return X509_cmp_time(X509_get0_notAfter(c), &t) > 0 &&
	    X509_cmp_current_time(X509_get0_notBefore(c)) < 0;
}

static enum atr_err
load_file_text(const char *path, int private_only, char **out, size_t *len)
{
	unsigned char *buf = NULL;
	enum atr_err err;

	err = atr_read_small_file(path, 1U << 16, private_only, &buf, len);
	if (err != ATR_OK)
		return atr_fail(err, "%s: %s", path, atr_detail());
	*out = (char *)buf;
	return ATR_OK;
}

/*
 * The names the server certificate must cover: loopback, the host as
 * given and the address bound, which the URL names (0.0.0.0 included:
 * a client on this host may use it), then the extra names.  A zone
 * ("fe80::1%eth0") cannot be in a certificate.  Returns the count.
 */
static size_t
cert_names(const struct atr_kv_server *s, const char *const *sans,
    size_t nsans, const char **names, size_t cap)
{
	size_t nn = 0, i;

	names[nn++] = "127.0.0.1";
	names[nn++] = "::1";
	names[nn++] = "localhost";
	if (s->listen_host[0] != '\0' && strchr(s->listen_host, '%') == NULL)
		names[nn++] = s->listen_host;
	if (s->bound_host[0] != '\0' && strchr(s->bound_host, '%') == NULL &&
	    strcmp(s->bound_host, s->listen_host) != 0)
		names[nn++] = s->bound_host;
	for (i = 0; i < nsans && nn < cap; i++)
		names[nn++] = sans[i];
	return nn;
}

/*
 * STATE/ca.pem and ca-key.pem, made anew unless they match and are
 * fresh; *fresh says whether they were.  On ATR_OK *ca and *ca_key are
 * the caller's to free.
 */
static enum atr_err
ca_ensure(const struct atr_kv_server *s, const char *ca_key_path, X509 **ca,
    EVP_PKEY **ca_key, int *fresh)
{
	enum atr_err err;

	*fresh = 0;
	*ca = read_cert(s->ca_path);
	err = read_key(ca_key_path, ca_key);
	if (err != ATR_OK)
		return err;
	if (*ca != NULL && *ca_key != NULL &&
	    X509_check_private_key(*ca, *ca_key) == 1 && cert_fresh(*ca))
		return ATR_OK;
	ERR_clear_error();
	X509_free(*ca);
	EVP_PKEY_free(*ca_key);
	*ca = NULL;
	/* ECDSA P-256 (FIPS 186-4): fast to make, every TLS stack the SDKs
	 * use accepts it. */
	*ca_key = EVP_EC_gen("P-256");
	if (*ca_key == NULL || (*ca = make_cert(*ca_key,
	    "atrest loopback Key Vault test CA", NULL, NULL, CA_DAYS,
	    NULL)) == NULL)
		return atr_fail(ATR_ERR_CRYPTO, "cannot generate the test CA");
	err = write_pem(ca_key_path, 0600, *ca_key, NULL);
	if (err == ATR_OK)
		err = write_pem(s->ca_path, 0644, NULL, *ca);
	if (err == ATR_OK)
		*fresh = 1;
	return err;
}

/* 1 when the server certificate crt (key its key) must be made anew:
 * missing, not issued by ca, near expiry, or not covering every name. */
static int
leaf_needed(X509 *crt, EVP_PKEY *key, X509 *ca, const char *const *names,
    size_t nn)
{
	EVP_PKEY *capub;
	size_t i;
	int need;

	need = crt == NULL || key == NULL ||
	    X509_check_private_key(crt, key) != 1 ||
	    X509_check_issued(ca, crt) != X509_V_OK || !cert_fresh(crt);
	if (!need) {
		capub = X509_get0_pubkey(ca);
		need = capub == NULL || X509_verify(crt, capub) != 1;
	}
	for (i = 0; !need && i < nn; i++)
		need = !cert_covers(crt, names[i]);
	ERR_clear_error();
	return need;
}

/* A new server key and certificate for names, signed by ca, written to
 * key_path (0600) and crt_path. */
static enum atr_err
leaf_make(const char *const *names, size_t nn, X509 *ca, EVP_PKEY *ca_key,
    const char *key_path, const char *crt_path)
{
	char san[2048];
	EVP_PKEY *key = NULL;
	X509 *crt = NULL;
	size_t i, o = 0;
	enum atr_err err;

	san[0] = '\0';
	for (i = 0; i < nn; i++) {
		int n = snprintf(san + o, sizeof(san) - o, "%s%s:%s",
		    o ? "," : "", is_ip(names[i]) ? "IP" : "DNS", names[i]);

		if (n < 0 || (size_t)n >= sizeof(san) - o)
			return atr_fail(ATR_ERR_USAGE, "too many names");
		o += (size_t)n;
	}
	key = EVP_EC_gen("P-256");
	if (key == NULL || (crt = make_cert(key, names[0], ca, ca_key,
	    LEAF_DAYS, san)) == NULL) {
		err = atr_fail(ATR_ERR_CRYPTO,
		    "cannot generate the server certificate");
		goto out;
	}
	err = write_pem(key_path, 0600, key, NULL);
	if (err == ATR_OK)
		err = write_pem(crt_path, 0644, NULL, crt);
out:
	ERR_clear_error();
	X509_free(crt);
	EVP_PKEY_free(key);
	return err;
}

enum atr_err
kvs_tls_setup(struct atr_kv_server *s, const char *const *sans, size_t nsans)
{
	char ca_key_path[PATH_MAX], crt_path[PATH_MAX], key_path[PATH_MAX];
	const char *names[64];
	size_t nn, len;
	EVP_PKEY *ca_key = NULL, *key = NULL;
	X509 *ca = NULL, *crt = NULL;
	enum atr_err err;
	int fresh_ca;

	snprintf(ca_key_path, sizeof(ca_key_path), "%s/ca-key.pem", s->state_dir);
	snprintf(crt_path, sizeof(crt_path), "%s/server.pem", s->state_dir);
	snprintf(key_path, sizeof(key_path), "%s/server-key.pem", s->state_dir);
	nn = cert_names(s, sans, nsans, names,
	    sizeof(names) / sizeof(names[0]));
	err = ca_ensure(s, ca_key_path, &ca, &ca_key, &fresh_ca);
	if (err != ATR_OK)
		goto out;
	crt = read_cert(crt_path);
	err = read_key(key_path, &key);
	if (err != ATR_OK)
		goto out;
	if (fresh_ca || leaf_needed(crt, key, ca, names, nn)) {
		err = leaf_make(names, nn, ca, ca_key, key_path, crt_path);
		if (err != ATR_OK)
			goto out;
	}
	err = load_file_text(crt_path, 0, &s->tls_cert, &len);
	if (err == ATR_OK)
		err = load_file_text(key_path, 1, &s->tls_key, &s->tls_key_len);
out:
	ERR_clear_error();
	X509_free(ca);
	X509_free(crt);
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(key);
	return err;
}
