/*
 * leaky_key.h - TEST ONLY: a broken key provider.
 *
 * A key whose "wrap" is the identity and whose key id is chosen by the
 * caller: a broken provider that writes the DEK and whatever the key id
 * says into the header in the clear (plants plaintext.dek and
 * plaintext.canary defects).  The key is the caller's, freed with
 * atr_key_free; key_id is copied (cut at ATR_KEYID_MAX).  NULL when out
 * of memory.  Usable from several threads, like any key.
 *
 * It must never reach the atrest binary: the symbol test
 * (scripts/check-symbols.sh) fails if any tl_ symbol is in it.
 */
#ifndef TL_LEAKY_KEY_H
#define TL_LEAKY_KEY_H

#include "key.h"

struct atr_key *tl_leaky_key(const char *key_id);

#endif
