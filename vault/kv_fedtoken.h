/*
 * kv_fedtoken.h - tokens of a stand-in OpenID Connect issuer, as a
 * Kubernetes cluster's service-account issuer makes them for workload
 * identity ("Workload identity federation",
 * https://learn.microsoft.com/en-us/entra/workload-id/workload-identity-federation):
 * an RS256 JWT (RFC 7519, RFC 7515) with iss, sub, aud, exp, iat, nbf
 * and jti, and the issuer's public JWKS (RFC 7517) that the loopback
 * vault's --federated reads.  For tests and demonstrations of
 * `atrest vault serve --federated`; `atrest vault federated-token` is
 * its command.  Never prints.
 */
#ifndef ATR_KV_FEDTOKEN_H
#define ATR_KV_FEDTOKEN_H

#include <stddef.h>

#include "err.h"

#define ATR_FED_AUDIENCE "api://AzureADTokenExchange"

struct atr_fedtoken_opts {
	/* The issuer's private key (PEM); created (RSA-2048, mode 0600)
	 * when the file does not exist. */
	const char *key_path;
	const char *issuer;         /* iss, a URL */
	const char *subject;        /* sub */
	const char *audience;       /* aud; NULL: ATR_FED_AUDIENCE */
	long lifetime;              /* seconds, 1..86400; 0: 3600 */
	/* NULL, or where the public JWKS (kid: the RFC 7638 thumbprint)
	 * is written (atomically, mode 0644). */
	const char *jwks_path;
};

/*
 * A signed token in *token (malloc'd, NUL-terminated, *len without the
 * NUL: the caller wipes and frees it, atr_secure_free).  The strings of
 * o are read during the call.  ATR_ERR_USAGE for a bad option,
 * ATR_ERR_KEY for a key file that is not a private RSA key of 2048 bits
 * or more (or one that others can read), ATR_ERR_IO for a file that
 * cannot be written; the detail names the file.
 */
enum atr_err atr_fedtoken_make(const struct atr_fedtoken_opts *o,
    char **token, size_t *len);

#endif
