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
#include <strings.h>

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

static const struct {
	const char *name;
	unsigned bit;
} block_names[] = {
	{"encrypt", ATR_JWK_ENCRYPT},
	{"decrypt", ATR_JWK_DECRYPT},
	{"wrapKey", ATR_JWK_WRAP},
	{"unwrapKey", ATR_JWK_UNWRAP},
};

static cJSON *
config_json(struct atr_kv_server *s)
{
	cJSON *j = cJSON_CreateObject(), *a;
	struct kvs_config c;
	size_t i;

	if (j == NULL)
		return NULL;
	kvs_config_get(s, &c);
	a = cJSON_AddArrayToObject(j, "disabled_blocks");
	for (i = 0; i < sizeof(block_names) / sizeof(block_names[0]); i++)
		if (c.disabled_blocks & block_names[i].bit)
			cJSON_AddItemToArray(a,
			    cJSON_CreateString(block_names[i].name));
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

static int
config_apply(struct kvs_http *h, const cJSON *j)
{
	struct kvs_config c;
	const cJSON *it = NULL;

	if (!cJSON_IsObject(j))
		goto bad;
	kvs_config_get(h->s, &c);
	cJSON_ArrayForEach(it, j) {
		const char *k = it->string;

		if (strcmp(k, "disabled_blocks") == 0) {
			const cJSON *e;

			if (!cJSON_IsArray(it))
				goto bad;
			c.disabled_blocks = 0;
			cJSON_ArrayForEach(e, it) {
				size_t i;
				int found = 0;

				for (i = 0; cJSON_IsString(e) &&
				    i < sizeof(block_names) / sizeof(block_names[0]);
				    i++)
					if (strcasecmp(e->valuestring,
					    block_names[i].name) == 0) {
						c.disabled_blocks |= block_names[i].bit;
						found = 1;
					}
				if (!found)
					goto bad;
			}
		} else if (strcmp(k, "disabled_get_forbidden") == 0 &&
		    cJSON_IsBool(it)) {
			c.disabled_get_forbidden = cJSON_IsTrue(it);
		} else if (strcmp(k, "api_versions") == 0 && cJSON_IsString(it) &&
		    (strcmp(it->valuestring, "strict") == 0 ||
		    strcmp(it->valuestring, "any") == 0)) {
			c.api_version_strict = strcmp(it->valuestring,
			    "strict") == 0;
		} else if (strcmp(k, "limits") == 0 && cJSON_IsBool(it)) {
			c.limits = cJSON_IsTrue(it);
		} else if (strcmp(k, "limit_scale") == 0 && cJSON_IsNumber(it) &&
		    it->valuedouble > 0 && it->valuedouble <= 1000) {
			c.limit_scale = it->valuedouble;
		} else if (strcmp(k, "throttle_retry_after") == 0 &&
		    cJSON_IsBool(it)) {
			c.throttle_retry_after = cJSON_IsTrue(it);
		} else if (strcmp(k, "token_mode") == 0 && cJSON_IsString(it) &&
		    ((strcmp(it->valuestring, "any") == 0 &&
		    !h->s->allow_remote) ||
		    strcmp(it->valuestring, "validate") == 0)) {
			/* Other hosts may reach a server started with
			 * allow_remote: tokens stay checked. */
			c.token_mode = strcmp(it->valuestring, "any") == 0 ?
			    ATR_KV_TOKEN_ANY : ATR_KV_TOKEN_VALIDATE;
		} else if (strcmp(k, "clock_offset") == 0 && cJSON_IsNumber(it) &&
		    fabs(it->valuedouble) < 1e10) {
			c.clock_offset = (int64_t)it->valuedouble;
		} else {
			goto bad;
		}
	}
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

void
kvs_admin(struct kvs_http *h)
{
	struct atr_kv_server *s = h->s;
	const char *p = h->path + strlen("/admin");
	int get = strcmp(h->method, "GET") == 0;
	int post = strcmp(h->method, "POST") == 0;
	cJSON *j = NULL;

	h->note = "admin";
	if (strcmp(p, "/stats") == 0 && get) {
		kvs_reply(h, 200, stats_json(s));
	} else if (strcmp(p, "/stats/reset") == 0 && post) {
		pthread_mutex_lock(&s->mu);
		memset(&s->stats, 0, sizeof(s->stats));
		pthread_mutex_unlock(&s->mu);
		kvs_reply(h, 200, stats_json(s));
	} else if (strcmp(p, "/faults") == 0 && (get || post)) {
		if (post) {
			struct kvs_faults f;
			enum atr_err err;

			j = cJSON_ParseWithLength(h->body, h->body_len);
			if (j == NULL && h->body_len == 0)
				j = cJSON_CreateObject();
			err = kvs_faults_from_json(j, &f);
			if (err != ATR_OK) {
				kvs_reply_error(h, 400, "BadParameter", NULL,
				    "%s", atr_detail());
				goto out;
			}
			kvs_faults_install(s, &f);
			cJSON_Delete(j);
		}
		pthread_mutex_lock(&s->mu);
		j = kvs_faults_json(&s->faults);
		pthread_mutex_unlock(&s->mu);
		kvs_reply(h, 200, j);
		j = NULL;
	} else if (strcmp(p, "/config") == 0 && (get || post)) {
		if (post) {
			j = cJSON_ParseWithLength(h->body, h->body_len);
			if (config_apply(h, j) != 0)
				goto out;
		}
		kvs_reply(h, 200, config_json(s));
	} else if (strcmp(p, "/info") == 0 && get) {
		j = cJSON_CreateObject();
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
		j = NULL;
	} else {
		kvs_reply_error(h, 404, "NotFound", NULL, "Unknown admin "
		    "endpoint (GET /admin/stats|faults|config|info, POST "
		    "/admin/faults|config|stats/reset).");
	}
out:
	cJSON_Delete(j);
}
