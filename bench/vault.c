/*
 * vault.c - the loopback Key Vault (vault/kv_server.h) as a bench fixture:
 * started and stopped by the run, with faults (added latency,
 * throttling) set per cell.  kv_server.h and kv_client.h cannot share a
 * translation unit (their ATR_KV_OP_* names clash), so the client side
 * lives in vault_key.c.
 */
#include "bench_int.h"

#include <stdlib.h>

#include "kv_server.h"

struct atb_vault {
	struct atr_kv_server *s;
};

enum atr_err
atb_vault_start(const char *state_dir, int limits, double limit_scale,
    struct atb_vault **out)
{
	struct atr_kv_server_opts o;
	struct atb_vault *v;
	enum atr_err err;

	*out = NULL;
	v = calloc(1, sizeof(*v));
	if (v == NULL)
		return ATR_ERR_NOMEM;
	atr_kv_server_opts_init(&o);
	o.listen = "127.0.0.1:0";
	o.state_dir = state_dir;
	/* Any non-empty bearer: the bench measures key operations, not
	 * the token endpoint (docs/VAULT.md, token modes). */
	o.token_mode = ATR_KV_TOKEN_ANY;
	o.limits = limits;
	o.limit_scale = limit_scale > 0 ? limit_scale : 1.0;
	o.throttle_retry_after = 1;
	err = atr_kv_server_start(&o, &v->s);
	if (err != ATR_OK) {
		free(v);
		return err;
	}
	*out = v;
	return ATR_OK;
}

const char *
atb_vault_url(const struct atb_vault *v)
{
	return atr_kv_server_url(v->s);
}

const char *
atb_vault_ca(const struct atb_vault *v)
{
	return atr_kv_server_ca_path(v->s);
}

enum atr_err
atb_vault_set_faults(struct atb_vault *v, const char *spec)
{
	return atr_kv_server_set_faults(v->s, spec);
}

void
atb_vault_stats(struct atb_vault *v, uint64_t *requests, uint64_t *throttled)
{
	struct atr_kv_server_stats st;

	atr_kv_server_get_stats(v->s, &st);
	*requests = st.requests;
	*throttled = st.throttled;
}

void
atb_vault_stop(struct atb_vault *v)
{
	if (v == NULL)
		return;
	atr_kv_server_stop(v->s);
	free(v);
}
