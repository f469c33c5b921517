/*
 * keys.h - keys named by URI, behind one provider table.
 *
 *   file:PATH                      PEM RSA key (customer-managed, RSA-OAEP-256)
 *                                  or 32-byte AES-256 key, raw or hex
 *                                  (service-managed, AES-KWP, RFC 5649)
 *   pkcs11:token=..;object=..      PKCS#11 token key (RFC 7512)
 *   https://HOST[:PORT]/keys/NAME[/VERSION]   Azure Key Vault key
 *
 * A provider turns a URI into a struct atr_key (core/key.h), the only
 * thing the envelope format sees.  docs/KEYS.md describes the URIs.
 */
#ifndef ATR_KEYS_H
#define ATR_KEYS_H

#include "err.h"
#include "key.h"

/* Options a provider may need; each ignores what is not its own. */
struct atr_key_opts {
	const char *ca_file;      /* Key Vault: private CA bundle */
	long connect_timeout_ms;  /* Key Vault: 0 = default */
	long timeout_ms;          /* Key Vault: whole request, 0 = default */
	int max_retries;          /* Key Vault: -1 = default */
	const char *wrap_alg;     /* override, e.g. "RSA-OAEP"; NULL = default */
};

struct atr_provider {
	const char *name;    /* "file", "pkcs11", "azure-kv" */
	const char *prefix;  /* URI prefix it claims: "file:", "pkcs11:", "https://" */
	enum atr_err (*open)(const char *uri, const struct atr_key_opts *opts,
	    struct atr_key **out);
};

/*
 * Opens a key by URI through the provider table.  uri and opts are
 * borrowed (read during the call only); opts may be NULL.  *out is the
 * caller's, freed with atr_key_free().
 */
enum atr_err atr_key_open(const char *uri, const struct atr_key_opts *opts,
    struct atr_key **out);

/* The provider table, NULL-terminated. */
extern const struct atr_provider *const atr_providers[];

/* Generates a key file (mode 0600, never overwrites).  type is
 * "rsa-2048", "rsa-3072", "rsa-4096" or "aes-256". */
enum atr_err atr_keygen(const char *type, const char *path);

#endif
