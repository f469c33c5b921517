/*
 * jwt_mint.h - TEST ONLY: RSA keys, self-signed certificates and JWTs
 * (RFC 7519) made with OpenSSL directly, for tests of the loopback
 * vault's client assertions (vault/kv_server_assert.c) and of the
 * clients that send them.  Independent of the code under test: nothing
 * here calls atrest's own signing.  Not in the atrest binary
 * (scripts/check-symbols.sh fails on any tl_ symbol there).
 *
 * Every function returns NULL or -1 on failure and never prints; the
 * strings returned are malloc'd, the caller's to free.
 */
#ifndef TL_JWT_MINT_H
#define TL_JWT_MINT_H

#include <openssl/evp.h>

/* A new RSA key of bits bits (EVP_PKEY_free). */
EVP_PKEY *tl_rsa_key(unsigned bits);

/* Writes a self-signed certificate for k (CN cn, valid from an hour
 * ago for a year) to cert_path as PEM, and, when key_path is not NULL,
 * k's private key (PKCS#8 PEM, unencrypted, mode 0600) to key_path;
 * both may be the same path (certificate first, then key).  0 or -1. */
int tl_cert_write(EVP_PKEY *k, const char *cn, const char *cert_path,
    const char *key_path);

/* A PKCS#12 file (mode 0600) holding k and the certificate of
 * cert_path, protected by password (may be "" or NULL).  0 or -1. */
int tl_p12_write(EVP_PKEY *k, const char *cert_path, const char *password,
    const char *path);

/* base64url of the SHA-256 (sha256 != 0: "x5t#S256") or SHA-1 ("x5t")
 * of the DER of the first certificate in cert_path. */
char *tl_cert_thumb(const char *cert_path, int sha256);

/*
 * A compact JWS of the header and claims JSON texts (used as given,
 * so a test can plant any alg): sig "RS256" or "PS256" signs with k,
 * "HS256" with the HMAC key "secret", "none" leaves the signature
 * empty.
 */
char *tl_jwt_sign(EVP_PKEY *k, const char *sig, const char *header_json,
    const char *claims_json);

/* The JWKS {"keys":[{"kty":"RSA","kid":kid,"use":"sig","alg":"RS256",
 * "n":..,"e":..}]} of k's public key, written to path.  0 or -1. */
int tl_jwks_write(EVP_PKEY *k, const char *kid, const char *path);

#endif
