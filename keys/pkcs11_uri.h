/*
 * pkcs11_uri.h - PKCS#11 URIs (RFC 7512), the subset atrest uses.
 *
 *   pkcs11:token=LABEL;object=LABEL[;id=%01%02][;type=private|secret-key]
 *       [;serial=..][;manufacturer=..][;model=..][;slot-id=N]
 *       [?module-path=/path/lib.so][&pin-source=file:/path | &pin-value=PIN]
 *
 * Values are percent-decoded (RFC 3986 2.1).  Any attribute atrest does
 * not implement is refused rather than ignored: ignoring a narrowing
 * attribute (slot-description, x-vendor) would silently widen the match
 * to another token or key.  The PIN is held in the parsed struct only
 * until the provider has logged in; atr_p11_uri_clear() wipes it.
 *
 * Ownership: struct atr_p11_uri is a plain value with fixed-size fields
 * and no pointers; whoever holds one (usually on the stack) wipes it with
 * atr_p11_uri_clear() when done, since it may hold the PIN.  Strings
 * passed in are borrowed for the call; output buffers are the caller's.
 */
#ifndef ATR_PKCS11_URI_H
#define ATR_PKCS11_URI_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* CK_TOKEN_INFO field sizes (PKCS#11 v2.40 3.2): values longer than the
 * blank-padded field can never match, so they are refused. */
#define ATR_P11_TOKEN_MAX 32U
#define ATR_P11_MANUF_MAX 32U
#define ATR_P11_MODEL_MAX 16U
#define ATR_P11_SERIAL_MAX 16U
#define ATR_P11_OBJECT_MAX 255U /* CKA_LABEL: atrest's own bound */
#define ATR_P11_ID_MAX 128U     /* CKA_ID: atrest's own bound */
#define ATR_P11_PIN_MAX 256U
#define ATR_P11_PATH_MAX 1024U

enum atr_p11_type {
	ATR_P11_TYPE_ANY = 0,
	ATR_P11_TYPE_PRIVATE, /* "private" */
	ATR_P11_TYPE_SECRET,  /* "secret-key" (RFC 7512); "secret" accepted */
	ATR_P11_TYPE_PUBLIC,  /* "public" */
	ATR_P11_TYPE_CERT,    /* "cert" */
	ATR_P11_TYPE_DATA,    /* "data" */
};

struct atr_p11_uri {
	/* Path attributes.  Text values are NUL-terminated; a decoded %00
	 * is refused in them. */
	int has_token, has_manufacturer, has_model, has_serial;
	int has_object, has_id, has_slot_id;
	char token[ATR_P11_TOKEN_MAX + 1];
	char manufacturer[ATR_P11_MANUF_MAX + 1];
	char model[ATR_P11_MODEL_MAX + 1];
	char serial[ATR_P11_SERIAL_MAX + 1];
	char object[ATR_P11_OBJECT_MAX + 1];
	uint8_t id[ATR_P11_ID_MAX];
	size_t id_len;
	enum atr_p11_type type;
	unsigned long slot_id;
	/* Query attributes. */
	int has_module_path, has_pin_source, has_pin;
	char module_path[ATR_P11_PATH_MAX + 1];
	char pin_source[ATR_P11_PATH_MAX + 1];
	/* Secret: from pin-value, or filled by atr_p11_uri_load_pin(). */
	char pin[ATR_P11_PIN_MAX + 1];
	size_t pin_len;
};

/*
 * Parses uri into *u (zeroed first).  On failure the detail names the
 * attribute and the reason, never a value of pin-value; *u is wiped.
 * A URI without token= is refused (ATR_ERR_CONFIG): atrest names keys
 * by token label, and matching "any token" could pick the wrong HSM.
 */
enum atr_err atr_p11_uri_parse(const char *uri, struct atr_p11_uri *u);

/*
 * Reads the PIN named by pin-source into u->pin (file:/path, file:///path
 * or a plain path; trailing CR/LF removed).  The file must not be
 * readable by group or others.  A no-op without pin-source.
 */
enum atr_err atr_p11_uri_load_pin(struct atr_p11_uri *u);

/* Wipes the PIN (and the rest of the struct). */
void atr_p11_uri_clear(struct atr_p11_uri *u);

/*
 * Writes the canonical path-only form: the attributes present, in the
 * order token, manufacturer, model, serial, object, id, type, every byte
 * outside RFC 3986 "unreserved" percent-encoded with upper-case hex, id
 * always fully encoded, no query (so no module path and no PIN).
 * slot-id is left out: slot numbers are not stable across restarts.
 */
enum atr_err atr_p11_uri_format(const struct atr_p11_uri *u, char *out,
    size_t cap);

/*
 * Copies uri with every pin-value attribute removed (and a query left
 * empty dropped), for struct atr_key.uri and messages.
 */
enum atr_err atr_p11_uri_redact(const char *uri, char *out, size_t cap);

/* "private", "secret-key", ... or "" for ATR_P11_TYPE_ANY (static). */
const char *atr_p11_type_name(enum atr_p11_type t);

#endif
