/*
 * jwt_mint.c - TEST ONLY: see jwt_mint.h.
 */
#include "jwt_mint.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

EVP_PKEY *
tl_rsa_key(unsigned bits)
{
	return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)bits);
}

static FILE *
open_private(const char *path, const char *mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | (mode[0] == 'a' ? O_APPEND :
	    O_TRUNC), 0600);

	return fd < 0 ? NULL : fdopen(fd, mode[0] == 'a' ? "a" : "w");
}

static X509 *
self_signed(EVP_PKEY *k, const char *cn)
{
	X509 *x = X509_new();
	X509_NAME *n;

	if (x == NULL)
		return NULL;
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), (long)getpid() ^ rand());
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 365L * 86400);
	X509_set_pubkey(x, k);
	n = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
	    (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, n);
	if (X509_sign(x, k, EVP_sha256()) <= 0) {
		X509_free(x);
		return NULL;
	}
	return x;
}

int
tl_cert_write(EVP_PKEY *k, const char *cn, const char *cert_path,
    const char *key_path)
{
	X509 *x = self_signed(k, cn);
	FILE *f;
	int ok;

	if (x == NULL || (f = open_private(cert_path, "w")) == NULL) {
		X509_free(x);
		return -1;
	}
	ok = PEM_write_X509(f, x) == 1;
	ok = fclose(f) == 0 && ok;
	X509_free(x);
	if (!ok)
		return -1;
	if (key_path == NULL)
		return 0;
	f = open_private(key_path, strcmp(key_path, cert_path) == 0 ? "a" :
	    "w");
	if (f == NULL)
		return -1;
	ok = PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL) == 1;
	ok = fclose(f) == 0 && ok;
	return ok ? 0 : -1;
}

static X509 *
cert_read(const char *path)
{
	FILE *f = fopen(path, "r");
	X509 *x;

	if (f == NULL)
		return NULL;
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	return x;
}

int
tl_p12_write(EVP_PKEY *k, const char *cert_path, const char *password,
    const char *path)
{
	X509 *x = cert_read(cert_path);
	PKCS12 *p = x != NULL ? PKCS12_create(password, "atrest-test", k, x,
	    NULL, 0, 0, 0, 0, 0) : NULL;
	FILE *f = p != NULL ? open_private(path, "w") : NULL;
	int ok = f != NULL && i2d_PKCS12_fp(f, p) == 1;

	if (f != NULL && fclose(f) != 0)
		ok = 0;
	PKCS12_free(p);
	X509_free(x);
	return ok ? 0 : -1;
}

static char *
b64url(const unsigned char *in, size_t len)
{
	char *out = malloc(len / 3 * 4 + 8);
	int n;
	char *p;

	if (out == NULL)
		return NULL;
	n = EVP_EncodeBlock((unsigned char *)out, in, (int)len);
	for (p = out; p < out + n; p++)
		*p = *p == '+' ? '-' : *p == '/' ? '_' : *p;
	while (n > 0 && out[n - 1] == '=')
		n--;
	out[n] = '\0';
	return out;
}

char *
tl_cert_thumb(const char *cert_path, int sha256)
{
	X509 *x = cert_read(cert_path);
	unsigned char *der = NULL, md[32];
	unsigned mdlen = 0;
	int n = x != NULL ? i2d_X509(x, &der) : -1;
	char *r = NULL;

	if (n > 0 && EVP_Digest(der, (size_t)n, md, &mdlen, sha256 ?
	    EVP_sha256() : EVP_sha1(), NULL) == 1)
		r = b64url(md, mdlen);
	OPENSSL_free(der);
	X509_free(x);
	return r;
}

static unsigned char *
rsa_sign(EVP_PKEY *k, int pss, const char *msg, size_t *slen)
{
	EVP_MD_CTX *m = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pc = NULL;
	unsigned char *sig = malloc(1024);

	*slen = 1024;
	if (m == NULL || sig == NULL ||
	    EVP_DigestSignInit(m, &pc, EVP_sha256(), NULL, k) != 1 ||
	    (pss && (EVP_PKEY_CTX_set_rsa_padding(pc,
	    RSA_PKCS1_PSS_PADDING) != 1 ||
	    EVP_PKEY_CTX_set_rsa_pss_saltlen(pc, RSA_PSS_SALTLEN_DIGEST) != 1)) ||
	    EVP_DigestSign(m, sig, slen, (const unsigned char *)msg,
	    strlen(msg)) != 1) {
		free(sig);
		sig = NULL;
	}
	EVP_MD_CTX_free(m);
	return sig;
}

char *
tl_jwt_sign(EVP_PKEY *k, const char *sig, const char *header_json,
    const char *claims_json)
{
	char *h = b64url((const unsigned char *)header_json,
	    strlen(header_json));
	char *c = b64url((const unsigned char *)claims_json,
	    strlen(claims_json));
	char *msg = NULL, *s64 = NULL, *out = NULL;
	unsigned char *raw = NULL, mac[32];
	unsigned maclen = 0;
	size_t n = 0;

	if (h == NULL || c == NULL ||
	    (msg = malloc(strlen(h) + strlen(c) + 2)) == NULL)
		goto out;
	snprintf(msg, strlen(h) + strlen(c) + 2, "%s.%s", h, c);
	if (strcmp(sig, "none") == 0) {
		s64 = strdup("");
	} else if (strcmp(sig, "HS256") == 0) {
		if (HMAC(EVP_sha256(), "secret", 6, (const unsigned char *)msg,
		    strlen(msg), mac, &maclen) != NULL)
			s64 = b64url(mac, maclen);
	} else {
		raw = rsa_sign(k, strcmp(sig, "PS256") == 0, msg, &n);
		if (raw != NULL)
			s64 = b64url(raw, n);
	}
	if (s64 == NULL || (out = malloc(strlen(msg) + strlen(s64) + 2)) ==
	    NULL)
		goto out;
	snprintf(out, strlen(msg) + strlen(s64) + 2, "%s.%s", msg, s64);
out:
	free(h);
	free(c);
	free(msg);
	free(s64);
	free(raw);
	return out;
}

static char *
bn_b64url(EVP_PKEY *k, const char *name)
{
	BIGNUM *bn = NULL;
	unsigned char buf[1024];
	int n;
	char *r = NULL;

	if (EVP_PKEY_get_bn_param(k, name, &bn) == 1 &&
	    (n = BN_bn2bin(bn, buf)) > 0)
		r = b64url(buf, (size_t)n);
	BN_free(bn);
	return r;
}

int
tl_jwks_write(EVP_PKEY *k, const char *kid, const char *path)
{
	char *n = bn_b64url(k, OSSL_PKEY_PARAM_RSA_N);
	char *e = bn_b64url(k, OSSL_PKEY_PARAM_RSA_E);
	FILE *f = n != NULL && e != NULL ? open_private(path, "w") : NULL;
	int ok = 0;

	if (f != NULL) {
		ok = fprintf(f, "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"%s\","
		    "\"use\":\"sig\",\"alg\":\"RS256\",\"n\":\"%s\",\"e\":"
		    "\"%s\"}]}\n", kid, n, e) > 0;
		ok = fclose(f) == 0 && ok;
	}
	free(n);
	free(e);
	return ok ? 0 : -1;
}
