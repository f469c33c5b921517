/*
 * kv_server_admin.c - the loopback Key Vault's admin API, served only
 * with opts->admin and only to holders of STATE/admin-token
 * (kv_server_http.c checks the header): GET /admin/stats, /faults,
 * /config, /info; POST /admin/faults, /config, /stats/reset.
 */
#include "kv_server_int.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "jwk.h"

static cJSON *
stats_json(struct atr_kv_server *s)
{
	cJSON *j = cJSON_CreateObject(), *f, *st, *ops;
	struct kvs_stats c;
	size_t i;

	if (j == NULL)
		return NULL;
	pthread_mutex_lock(&s->mu);
	c = s->stats;
	pthread_mutex_unlock(&s->mu);
	cJSON_AddNumberToObject(j, "requests", (double)c.pub.requests);
	cJSON_AddNumberToObject(j, "unauthorized", (double)c.pub.unauthorized);
	cJSON_AddNumberToObject(j, "throttled", (double)c.pub.throttled);
	cJSON_AddNumberToObject(j, "tokens_issued", (double)c.pub.tokens_issued);
	f = cJSON_AddObjectToObject(j, "faults");
	cJSON_AddNumberToObject(f, "latency", (double)c.pub.fault_latency);
	cJSON_AddNumberToObject(f, "drop", (double)c.pub.fault_drop);
	for (i = 0; i < KVS_FAULT_NSTATUS; i++) {
		char code[8];

		snprintf(code, sizeof(code), "%d", kvs_fault_status[i]);
		cJSON_AddNumberToObject(f, code, (double)c.fault_by_status[i]);
	}
	st = cJSON_AddObjectToObject(j, "status");
	for (i = 100; i < 600; i++)
		if (c.status[i] != 0) {
			char code[8];

			snprintf(code, sizeof(code), "%zu", i);
			cJSON_AddNumberToObject(st, code, (double)c.status[i]);
		}
	ops = cJSON_AddObjectToObject(j, "ops");
	for (i = 1; i < KVS_OP__COUNT; i++)
		if (c.ops[i] != 0)
			cJSON_AddNumberToObject(ops, kvs_op_name((enum kvs_op)i),
			    (double)c.ops[i]);
	return j;
}

/* The crypto operations a disabled key refuses, by their Key Vault
 * names (core/jwk.h). */
static cJSON *
blocks_json(unsigned blocks)
{
	cJSON *a = cJSON_CreateArray();
	unsigned i, bit;

	for (i = 0; a != NULL && i < ATR_JWK_COUNT; i++) {
		bit = atr_jwk_op_at(i);
		if (bit & blocks & ATR_JWK_CRYPTO_ALL)
			cJSON_AddItemToArray(a,
			    cJSON_CreateString(atr_jwk_op_name(bit)));
	}
	return a;
}

static int
blocks_from_json(const cJSON *a, unsigned *out)
{
	const cJSON *e;
	unsigned bits = 0, bit;

	if (!cJSON_IsArray(a))
		return -1;
	cJSON_ArrayForEach(e, a) {
		bit = cJSON_IsString(e) ? atr_jwk_op_parse(e->valuestring) &
		    ATR_JWK_CRYPTO_ALL : 0;
		if (bit == 0)
			return -1;
		bits |= bit;
	}
	*out = bits;
	return 0;
}

static cJSON *
config_json(struct atr_kv_server *s)
{
	cJSON *j = cJSON_CreateObject();
	struct kvs_config c;

	if (j == NULL)
		return NULL;
	kvs_config_get(s, &c);
	cJSON_AddItemToObject(j, "disabled_blocks",
	    blocks_json(c.disabled_blocks));
	cJSON_AddBoolToObject(j, "disabled_get_forbidden",
	    c.disabled_get_forbidden);
	cJSON_AddStringToObject(j, "api_versions",
	    c.api_version_strict ? "strict" : "any");
	cJSON_AddBoolToObject(j, "limits", c.limits);
	cJSON_AddNumberToObject(j, "limit_scale", c.limit_scale);
	cJSON_AddBoolToObject(j, "throttle_retry_after", c.throttle_retry_after);
	cJSON_AddStringToObject(j, "token_mode",
	    c.token_mode == ATR_KV_TOKEN_VALIDATE ? "validate" : "any");
	cJSON_AddNumberToObject(j, "clock_offset", (double)c.clock_offset);
	return j;
}

/* One setting of POST /admin/config into c.  -1 when the name is
 * unknown or the value bad. */
static int
config_set(struct kvs_config *c, const cJSON *it, int allow_remote)
{
	const char *k = it->string;
	const char *v = cJSON_IsString(it) ? it->valuestring : NULL;

	if (strcmp(k, "disabled_blocks") == 0)
		return blocks_from_json(it, &c->disabled_blocks);
	if (strcmp(k, "disabled_get_forbidden") == 0 && cJSON_IsBool(it)) {
		c->disabled_get_forbidden = cJSON_IsTrue(it);
	} else if (strcmp(k, "api_versions") == 0 && v != NULL &&
	    (strcmp(v, "strict") == 0 || strcmp(v, "any") == 0)) {
		c->api_version_strict = strcmp(v, "strict") == 0;
	} else if (strcmp(k, "limits") == 0 && cJSON_IsBool(it)) {
		c->limits = cJSON_IsTrue(it);
	} else if (strcmp(k, "limit_scale") == 0 && cJSON_IsNumber(it) &&
	    it->valuedouble > 0 && it->valuedouble <= 1000) {
		c->limit_scale = it->valuedouble;
	} else if (strcmp(k, "throttle_retry_after") == 0 &&
	    cJSON_IsBool(it)) {
		c->throttle_retry_after = cJSON_IsTrue(it);
	} else if (strcmp(k, "token_mode") == 0 && v != NULL &&
	    ((strcmp(v, "any") == 0 && !allow_remote) ||
	    strcmp(v, "validate") == 0)) {
		/* Other hosts may reach a server started with allow_remote:
		 * tokens stay checked. */
		c->token_mode = strcmp(v, "any") == 0 ? ATR_KV_TOKEN_ANY :
		    ATR_KV_TOKEN_VALIDATE;
	} else if (strcmp(k, "clock_offset") == 0 && cJSON_IsNumber(it) &&
	    fabs(it->valuedouble) < 1e10) {
		c->clock_offset = (int64_t)it->valuedouble;
	} else {
		return -1;
	}
	return 0;
}

/* Every setting of j or none.  -1 after replying 400. */
static int
config_apply(struct kvs_http *h, const cJSON *j)
{
	struct kvs_config c;
	const cJSON *it = NULL;

	if (!cJSON_IsObject(j))
		goto bad;
	kvs_config_get(h->s, &c);
	cJSON_ArrayForEach(it, j)
		if (config_set(&c, it, h->s->allow_remote) != 0)
			goto bad;
	pthread_mutex_lock(&h->s->mu);
	h->s->cfg = c;
	pthread_mutex_unlock(&h->s->mu);
	return 0;
bad:
	kvs_reply_error(h, 400, "BadParameter", NULL, "config: unknown "
	    "setting or bad value%s%s", it != NULL && it->string ? ": " : "",
	    it != NULL && it->string ? it->string : "");
	return -1;
}

/* GET/POST /admin/config. */
static void
admin_config(struct kvs_http *h, int post)
{
	if (post) {
		cJSON *j = cJSON_ParseWithLength(h->body, h->body_len);
		int rc = config_apply(h, j);

		cJSON_Delete(j);
		if (rc != 0)
			return;
	}
	kvs_reply(h, 200, config_json(h->s));
}

/* GET/POST /admin/faults: POST replaces them (a "spec" string or the
 * settings one by one); both answer with those in force. */
static void
admin_faults(struct kvs_http *h, int post)
{
	struct atr_kv_server *s = h->s;
	struct kvs_faults f;
	cJSON *j;

	if (post) {
		j = cJSON_ParseWithLength(h->body, h->body_len);
		if (j == NULL && h->body_len == 0)
			j = cJSON_CreateObject();
		if (kvs_faults_from_json(j, &f) != ATR_OK) {
			kvs_reply_error(h, 400, "BadParameter", NULL, "%s",
			    atr_detail());
			cJSON_Delete(j);
			return;
		}
		cJSON_Delete(j);
		kvs_faults_install(s, &f);
	}
	pthread_mutex_lock(&s->mu);
	j = kvs_faults_json(&s->faults);
	pthread_mutex_unlock(&s->mu);
	kvs_reply(h, 200, j);
}

/* GET /admin/info: what `vault serve` prints at start, secrets aside. */
static void
admin_info(struct kvs_http *h)
{
	struct atr_kv_server *s = h->s;
	cJSON *j = cJSON_CreateObject();

	if (j != NULL) {
		cJSON_AddStringToObject(j, "url", s->url);
		cJSON_AddNumberToObject(j, "port", s->port);
		cJSON_AddStringToObject(j, "ca", s->ca_path);
		cJSON_AddStringToObject(j, "tenant", s->tenant);
		cJSON_AddStringToObject(j, "client_id", s->client_id);
		if (s->mi_enabled)
			cJSON_AddStringToObject(j, "mi_client_id",
			    s->mi_client_id);
		else
			cJSON_AddNullToObject(j, "mi_client_id");
		cJSON_AddStringToObject(j, "challenge", s->challenge);
	}
	kvs_reply(h, 200, j);
}

void
kvs_admin(struct kvs_http *h)
{
	struct atr_kv_server *s = h->s;
	const char *p = h->path + strlen("/admin");
	int get = strcmp(h->method, "GET") == 0;
	int post = strcmp(h->method, "POST") == 0;

	h->note = "admin";
	if (strcmp(p, "/stats") == 0 && get) {
		kvs_reply(h, 200, stats_json(s));
	} else if (strcmp(p, "/stats/reset") == 0 && post) {
		pthread_mutex_lock(&s->mu);
		memset(&s->stats, 0, sizeof(s->stats));
		pthread_mutex_unlock(&s->mu);
		kvs_reply(h, 200, stats_json(s));
	} else if (strcmp(p, "/faults") == 0 && (get || post)) {
		admin_faults(h, post);
	} else if (strcmp(p, "/config") == 0 && (get || post)) {
		admin_config(h, post);
	} else if (strcmp(p, "/info") == 0 && get) {
		admin_info(h);
	} else {
		kvs_reply_error(h, 404, "NotFound", NULL, "Unknown admin "
		    "endpoint (GET /admin/stats|faults|config|info, POST "
		    "/admin/faults|config|stats/reset).");
	}
}
