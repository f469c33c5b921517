/*
 * provider_azure.h - what the Azure Key Vault key provider adds to the
 * key interface: the vault's view of a key opened from an https:// URI
 * (keys.h), for verify's policy checks and the vault subcommands.
 */
#ifndef ATR_PROVIDER_AZURE_H
#define ATR_PROVIDER_AZURE_H

#include "key.h"
#include "kv_client.h"

/*
 * The attributes of a key opened through the azure provider (verify
 * policy: enabled, nbf/exp, key_ops, recoveryLevel, kty, size).  With
 * refresh the vault is asked again (a GET of the key's version);
 * otherwise the values seen when the key was opened are returned.
 * ATR_ERR_USAGE when k is not a Key Vault key.  k is borrowed for the
 * call (other threads may use it meanwhile); *out is the caller's, a
 * copy taken under the key's lock.
 */
enum atr_err atr_kv_key_info(struct atr_key *k, int refresh,
    struct atr_kv_key *out);
/* The client behind a Key Vault key, or NULL when k is not one.
 * Borrowed: it belongs to k and is freed by atr_key_free(k), so it must
 * not be freed or used after that. */
struct atr_kv_client *atr_kv_key_client(struct atr_key *k);

#endif
