/*
 * keyuri.h - a key URI made fit for a message.
 *
 * A key URI may carry a secret in a place the parser never accepted (a
 * mistyped "PIN-VALUE=" attribute, user information or a query string
 * in an https:// URI), so anything that prints a URI it did not build
 * itself prints this form instead: never an attribute value other than
 * a PKCS#11 token or object name.
 */
#ifndef ATR_KEYURI_H
#define ATR_KEYURI_H

#include <stddef.h>

/* Room for any output of atr_key_uri_redact (longer forms are cut). */
#define ATR_URI_SHOWN_MAX 512U

/*
 * Writes into out[cap] (always NUL-terminated when cap > 0; just "" when
 * cap < 8; a longer form is cut and ends with "..."):
 *   file:PATH           as given (a path is not a secret)
 *   pkcs11:...          "pkcs11:token=T;object=O" with only those two
 *                       path attributes, as written; no query at all
 *   https://...         scheme, host, port and path; no user
 *                       information, query or fragment (so for any
 *                       SCHEME://...)
 *   SCHEME:...          up to the first of ";?#&=@" ("nope:thing")
 *   anything else       "(not a key URI)"
 * Control characters become '?', so the result fits on one line.
 * uri is read during the call only and may be NULL ("(no key URI)").
 * No state: safe from any thread.
 */
void atr_key_uri_redact(const char *uri, char *out, size_t cap);

#endif
