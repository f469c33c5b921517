/*
 * json.h - cJSON documents that held secrets.
 *
 * cJSON_Delete frees without wiping: a parsed token response, a JWK with
 * private parts or an unwrapped value would stay in freed memory.
 */
#ifndef ATR_JSON_H
#define ATR_JSON_H

#include <cjson/cJSON.h>

/*
 * Wipes every string (values and member names) of j, its following
 * siblings and all their children, in place; j stays valid (to be
 * deleted next) and is not freed.  Numbers are not wiped.  Member names
 * added with cJSON_AddItemToObjectCS are literals and left alone; an
 * item made by reference (cJSON_Create*Reference) would have the memory
 * it refers to wiped, so such documents must not be passed (atrest makes
 * none).  NULL-safe.  The caller must hold the only reference to the
 * document while it is wiped.
 */
void atr_json_wipe(cJSON *j);

/* atr_json_wipe, then cJSON_Delete: takes j (the root of a document)
 * and frees it.  NULL-safe. */
void atr_json_free_wiped(cJSON *j);

#endif
