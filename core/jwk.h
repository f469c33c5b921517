/*
 * jwk.h - JSON Web Key operations (RFC 7517 section 4.3, "key_ops") as
 * one bit mask, with Key Vault's spellings (JsonWebKeyOperation in the
 * Key Vault REST API: encrypt, decrypt, sign, verify, wrapKey,
 * unwrapKey, import, export).  The Key Vault client, the loopback vault
 * and verify's policy all use this one definition.  Constant tables
 * only: safe from any thread.
 */
#ifndef ATR_JWK_H
#define ATR_JWK_H

#define ATR_JWK_ENCRYPT 0x01U
#define ATR_JWK_DECRYPT 0x02U
#define ATR_JWK_WRAP 0x04U
#define ATR_JWK_UNWRAP 0x08U
#define ATR_JWK_SIGN 0x10U
#define ATR_JWK_VERIFY 0x20U
#define ATR_JWK_IMPORT 0x40U
#define ATR_JWK_EXPORT 0x80U
/* The four operations that use the key to protect data. */
#define ATR_JWK_CRYPTO_ALL \
	(ATR_JWK_ENCRYPT | ATR_JWK_DECRYPT | ATR_JWK_WRAP | ATR_JWK_UNWRAP)
#define ATR_JWK_ALL 0xffU

/* "wrapKey" -> ATR_JWK_WRAP, case-insensitive; 0 when unknown.  name
 * must not be NULL. */
unsigned atr_jwk_op_parse(const char *name);

/* The Key Vault spelling of one bit ("wrapKey"), or "unknown" (for 0 or
 * several bits too); a static string. */
const char *atr_jwk_op_name(unsigned op);

/* The i-th operation in Key Vault's order (i < 8), for walking a mask:
 * for (i = 0; i < ATR_JWK_COUNT; i++) if (ops & atr_jwk_op_at(i)) ... */
#define ATR_JWK_COUNT 8U
unsigned atr_jwk_op_at(unsigned i);

/*
 * Key Vault object names ("About keys, secrets and certificates",
 * learn.microsoft.com/azure/key-vault/general/about-keys-secrets-certificates):
 * 1 to 127 ASCII letters, digits and '-', whatever the locale (isalnum
 * would take bytes above 0x7f in a Latin-1 locale).
 */
#define ATR_KV_NAME_MAX 127U
int atr_kv_name_char(int c);
/* 1 when the whole C string is a valid name. */
int atr_kv_name_valid(const char *name);

#endif
