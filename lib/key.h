/*
 * key.h - keys named by URI, behind one provider table.
 *
 *   file:PATH                      PEM RSA key (customer-managed, RSA-OAEP-256)
 *                                  or 32-byte AES-256 key, raw or hex
 *                                  (service-managed, AES-KWP, RFC 5649)
 *   pkcs11:token=..;object=..      PKCS#11 token key (RFC 7512)
 *   https://HOST[:PORT]/keys/NAME[/VERSION]   Azure Key Vault key
 *
 * A provider turns a URI into a struct atr_key.  The envelope code only
 * ever calls the ops below; it never knows where a key lives.  One
 * struct atr_key may be used from several threads at once: a provider
 * keeps any per-thread state (an HTTP handle, a PKCS#11 session) itself.
 */
#ifndef ATR_KEY_H
#define ATR_KEY_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* Recorded in each recipient stanza (docs/FORMAT.md). */
enum atr_provider_type {
	ATR_PROV_FILE_RSA = 1,
	ATR_PROV_FILE_AES = 2,
	ATR_PROV_PKCS11 = 3,
	ATR_PROV_AZURE_KV = 4,
};

/* Recorded in each recipient stanza (docs/FORMAT.md). */
enum atr_wrap_alg {
	ATR_WRAP_RSA_OAEP_256 = 1, /* RFC 8017, SHA-256 + MGF1-SHA-256 */
	ATR_WRAP_RSA_OAEP_SHA1 = 2, /* RFC 8017, SHA-1 + MGF1-SHA-1 */
	ATR_WRAP_AES_KWP = 3,       /* RFC 5649 / SP 800-38F KWP */
	ATR_WRAP_AES_KW = 4,        /* RFC 3394 / SP 800-38F KW (A256KW) */
};

#define ATR_KEYID_MAX 1024U   /* bytes of a stanza key id */
#define ATR_WRAPPED_MAX 1024U /* bytes of a wrapped DEK (RSA-8192) */
#define ATR_DESC_MAX 256U
#define ATR_URI_MAX 2048U

/* Options a provider may need; each ignores what is not its own. */
struct atr_key_opts {
	const char *ca_file;      /* Key Vault: private CA bundle */
	long connect_timeout_ms;  /* Key Vault: 0 = default */
	long timeout_ms;          /* Key Vault: whole request, 0 = default */
	int max_retries;          /* Key Vault: -1 = default */
	const char *wrap_alg;     /* override, e.g. "RSA-OAEP"; NULL = default */
};

struct atr_key;

struct atr_key_ops {
	/*
	 * Wraps in[in_len] (the DEK and its context digest, FORMAT.md) with
	 * the key's algorithm.  *out_len: in capacity, out bytes written.
	 */
	enum atr_err (*wrap)(struct atr_key *k, const uint8_t *in,
	    size_t in_len, uint8_t *out, size_t *out_len);
	/*
	 * Unwraps a stanza's wrapped bytes.  stanza_key_id is the key id the
	 * stanza records (a Key Vault provider unwraps with exactly that
	 * version).  A wrong key or a corrupt input is ATR_ERR_AUTH.
	 * On failure out is wiped and *out_len is 0.
	 */
	enum atr_err (*unwrap)(struct atr_key *k, const char *stanza_key_id,
	    enum atr_wrap_alg alg, const uint8_t *in, size_t in_len,
	    uint8_t *out, size_t *out_len);
	/* 1 when this key may open a stanza with this provider and key id. */
	int (*matches)(const struct atr_key *k, enum atr_provider_type prov,
	    const char *stanza_key_id);
	/* Releases impl, wiping any secret it holds. */
	void (*free_impl)(struct atr_key *k);
};

struct atr_key {
	const struct atr_key_ops *ops;
	enum atr_provider_type provider;
	enum atr_wrap_alg alg;       /* used by wrap */
	char uri[ATR_URI_MAX];       /* as given, minus any secret (PIN) */
	/* Id written into stanzas; includes the version where the provider
	 * has one (versioned Key Vault kid, SPKI fingerprint, PKCS#11 URI). */
	char key_id[ATR_KEYID_MAX + 1];
	char desc[ATR_DESC_MAX];     /* "RSA-3072 public key (file)" */
	int customer_managed;        /* 1 CMK, 0 SMK */
	int can_wrap;
	int can_unwrap;
	unsigned bits;               /* key size */
	void *impl;
};

struct atr_provider {
	const char *name;    /* "file", "pkcs11", "azure-kv" */
	const char *prefix;  /* URI prefix it claims: "file:", "pkcs11:", "https://" */
	enum atr_err (*open)(const char *uri, const struct atr_key_opts *opts,
	    struct atr_key **out);
};

/*
 * Opens a key by URI through the provider table.  The caller frees it
 * with atr_key_free().  opts may be NULL.
 */
enum atr_err atr_key_open(const char *uri, const struct atr_key_opts *opts,
    struct atr_key **out);

/* NULL-safe; wipes the key. */
void atr_key_free(struct atr_key *k);

/* Allocates a zeroed key with ops set; for providers. */
struct atr_key *atr_key_alloc(const struct atr_key_ops *ops);

/* The provider table, NULL-terminated. */
extern const struct atr_provider *const atr_providers[];

const char *atr_provider_name(enum atr_provider_type p);
const char *atr_wrap_alg_name(enum atr_wrap_alg a);

/* Generates a key file (mode 0600, never overwrites).  type is
 * "rsa-2048", "rsa-3072", "rsa-4096" or "aes-256". */
enum atr_err atr_keygen(const char *type, const char *path);

#endif
