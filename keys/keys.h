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
 *
 * Ownership: a key is allocated by its provider's open and belongs to the
 * caller, who releases it with atr_key_free(); it keeps no pointer to
 * the URI or the options it was opened with (a Key Vault key copies the
 * CA file name into its client, a PKCS#11 key wipes the PIN once logged
 * in).  The provider table and its strings are static.
 */
#ifndef ATR_KEYS_H
#define ATR_KEYS_H

#include "err.h"
#include "key.h"

/* Options a provider may need; each ignores what is not its own.  The
 * strings are borrowed for the open only. */
struct atr_key_opts {
	const char *ca_file;      /* Key Vault: private CA bundle */
	long connect_timeout_ms;  /* Key Vault: 0 = default */
	long timeout_ms;          /* Key Vault: whole request, 0 = default */
	int max_retries;          /* Key Vault: -1 = default */
	const char *wrap_alg;     /* override, e.g. "RSA-OAEP"; NULL = default */
};

struct atr_provider {
	const char *name;    /* "file", "pkcs11", "azure-kv" */
	const char *prefix;  /* URI prefix it claims: "file:", "pkcs11:",
	                      * "https://" */
	/* As atr_key_open, with opts never NULL. */
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

/* The provider table, NULL-terminated; static. */
extern const struct atr_provider *const atr_providers[];

/* Generates a key file (mode 0600, never overwrites).  type is
 * "rsa-2048", "rsa-3072", "rsa-4096" or "aes-256"; type and path are
 * borrowed for the call.  An RSA key also writes its public half to
 * PATH.pub; path "-" writes an AES key to standard output.  The key is
 * wiped from memory before returning. */
enum atr_err atr_keygen(const char *type, const char *path);

#endif
