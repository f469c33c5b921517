/*
 * key.h - the key interface the envelope format calls.
 *
 * A key-encryption key is a struct atr_key: its ops wrap and unwrap a
 * DEK.  The envelope code (core/) only ever calls these ops; it never
 * knows where a key lives.  The providers that implement them (a file,
 * a PKCS#11 token, Azure Key Vault) and the URI table that opens them
 * are the layer above, keys/ (keys.h).  One struct atr_key may be used
 * from several threads at once: a provider keeps any per-thread state
 * (an HTTP handle, a PKCS#11 session) itself.
 *
 * Ownership: a struct atr_key is owned by whoever opened it (keys.h:
 * atr_key_open) and freed with atr_key_free(), which calls the
 * provider's free_impl and then wipes the struct.  impl is the
 * provider's, released by free_impl.  Everything in core/ that takes a
 * key (the envelope, the stream, rewrap) borrows it for the call only
 * and keeps no pointer to it: a key must outlive those calls, no more.
 * The strings in the struct are arrays inside it: valid as long as the
 * key.  Thread-safety: the ops may run on one key from several threads
 * at once; atr_key_free must not run while any op does.
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

struct atr_key;

/*
 * A provider's operations.  Every pointer argument is borrowed for the
 * call; an op keeps none of them.
 */
struct atr_key_ops {
	/*
	 * Wraps in[in_len] (the DEK and its context digest,
	 * docs/FORMAT.md) with the key's algorithm.  *out_len: in capacity,
	 * out bytes written.  in is secret: a provider that copies it wipes
	 * the copy.
	 */
	enum atr_err (*wrap)(struct atr_key *k, const uint8_t *in,
	    size_t in_len, uint8_t *out, size_t *out_len);
	/*
	 * Unwraps a stanza's wrapped bytes.  stanza_key_id is the key id the
	 * stanza records (a Key Vault provider unwraps with exactly that
	 * version).  A wrong key or a corrupt input is ATR_ERR_AUTH.
	 * *out_len: in capacity, out bytes written.  On failure out is
	 * wiped and *out_len is 0 (what every provider must do: the
	 * envelope relies on it).
	 */
	enum atr_err (*unwrap)(struct atr_key *k, const char *stanza_key_id,
	    enum atr_wrap_alg alg, const uint8_t *in, size_t in_len,
	    uint8_t *out, size_t *out_len);
	/* 1 when this key may open a stanza with this provider and key id. */
	int (*matches)(const struct atr_key *k, enum atr_provider_type prov,
	    const char *stanza_key_id);
	/* Releases impl, wiping any secret it holds; called once, by
	 * atr_key_free, which then wipes and frees k itself. */
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

/* Calls ops->free_impl (when there is one), wipes the whole struct and
 * frees it.  NULL-safe. */
void atr_key_free(struct atr_key *k);

/*
 * For providers: a zeroed key (calloc) with ops set; the provider fills
 * in the rest.  ops is kept, not copied: it must outlive the key (a
 * static table).  NULL when out of memory.  Release with atr_key_free.
 */
struct atr_key *atr_key_alloc(const struct atr_key_ops *ops);

/*
 * For wrappers (a key that counts, times or fails the calls of another):
 * a key with ops whose identity is inner's (provider, alg, uri, key_id,
 * desc, capabilities, bits), with impl set as given.  inner is borrowed:
 * it must outlive the result, whose free_impl owns impl.  NULL when out
 * of memory (impl untouched).
 */
struct atr_key *atr_key_alloc_as(const struct atr_key_ops *ops,
    const struct atr_key *inner, void *impl);

/* "file-rsa", "RSA-OAEP-256", ...: static strings, "unknown" for a value
 * outside the enum (a stanza may carry any byte). */
const char *atr_provider_name(enum atr_provider_type p);
const char *atr_wrap_alg_name(enum atr_wrap_alg a);

#endif
