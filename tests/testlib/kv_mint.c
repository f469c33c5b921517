/* see kv_mint.h */
#include "kv_mint.h"

#include "kv_server_int.h"

enum atr_err
tl_kv_mint_token(struct atr_kv_server *s, const char *client_id,
    const char *audience, long lifetime, char *out, size_t cap)
{
	return kvs_token_issue(s, client_id != NULL ? client_id : s->client_id,
	    audience != NULL ? audience : s->resource, lifetime, out, cap);
}
