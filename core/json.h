/*
 * json.h - cJSON documents that held secrets.
 *
 * cJSON_Delete frees without wiping: a parsed token response, a JWK with
 * private parts or an unwrapped value would stay in freed memory.
 */
#ifndef ATR_JSON_H
#define ATR_JSON_H

#include <cjson/cJSON.h>

/* Wipes every string (values and member names) of j and its siblings
 * and children; j stays valid (to be deleted next).  NULL-safe. */
void atr_json_wipe(cJSON *j);

/* atr_json_wipe, then cJSON_Delete.  NULL-safe. */
void atr_json_free_wiped(cJSON *j);

#endif
