/*
 * kv_mint.h - TEST ONLY: tokens of the loopback vault minted directly.
 *
 * For tests of the 401 paths (a wrong audience, an expired token), which
 * the token endpoint never issues.  Not in the atrest binary (the symbol
 * test, scripts/check-symbols.sh, fails on any tl_ symbol there).
 */
#ifndef TL_KV_MINT_H
#define TL_KV_MINT_H

#include <stddef.h>

#include "kv_server.h"

/*
 * Mints a token as the token endpoint would, with any audience and
 * lifetime (negative: already expired).  client_id and audience may be
 * NULL (the server's own client, its resource); both are read during
 * the call.  s is borrowed (a running server, vault/kv_server.h).  out
 * (the caller's, cap bytes) gets a NUL-terminated token, a bearer
 * secret: the caller wipes it.
 */
enum atr_err tl_kv_mint_token(struct atr_kv_server *s,
    const char *client_id, const char *audience, long lifetime,
    char *out, size_t cap);

#endif
