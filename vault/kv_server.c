/*
 * kv_server.c - the loopback Key Vault server: HTTPS front end
 * (libmicrohttpd, one thread per connection, limited in number and
 * time), the order in which a request is judged (auth from the headers
 * alone, then faults, api-version, limits, route), the admin endpoint
 * and the server's lifetime.  See kv_server.h and docs/VAULT.md (its
 * threat model says who may reach what).
 */
#include "kv_server_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "crypto.h"
#include "fsutil.h"
#include "mhd_dl.h"
#include "jwk.h"
#include "json.h"

#define DEFAULT_RESOURCE "https://vault.azure.net"
#define LATEST_API_VERSION "2025-07-01"
/* Bodies of requests that are not vault API calls: token forms and
 * admin JSON are a few hundred bytes. */
#define IDENTITY_BODY_MAX (16U << 10)
#define ADMIN_BODY_MAX (64U << 10)

/* ------------------------------------------------------------------ */
/* Small shared helpers */

int64_t
kvs_now(struct atr_kv_server *s)
{
	int64_t off;

	pthread_mutex_lock(&s->mu);
	off = s->cfg.clock_offset;
	pthread_mutex_unlock(&s->mu);
	return (int64_t)time(NULL) + off;
}

void
kvs_config_get(struct atr_kv_server *s, struct kvs_config *c)
{
	pthread_mutex_lock(&s->mu);
	*c = s->cfg;
	pthread_mutex_unlock(&s->mu);
}

enum atr_err
kvs_fail_path(enum atr_err err, const char *path)
{
	char why[512];

	/* A copy: the detail is the buffer atr_fail writes. */
	snprintf(why, sizeof(why), "%s", atr_detail());
	return atr_fail(err, "%s: %s", path, why);
}

void
kvs_logf(struct atr_kv_server *s, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	if (s->log == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	s->log(s->log_arg, line);
}

static void
mhd_logger(void *cls, const char *fmt, va_list ap)
{
	struct atr_kv_server *s = cls;
	char line[1024];
	size_t n;

	if (s->log == NULL)
		return;
	vsnprintf(line, sizeof(line), fmt, ap);
	n = strlen(line);
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	/* MHD's note for a handler that returned MHD_NO: that is how an
	 * injected "drop" closes the connection, already counted. */
	if (strstr(line, "Application reported internal error") != NULL)
		return;
	/* A flood of connections makes one line each ("Server reached
	 * per-IP limit ..."): one a second says enough. */
	if (strstr(line, "limit") != NULL) {
		int64_t now = (int64_t)time(NULL);
		int quiet;

		pthread_mutex_lock(&s->mu);
		quiet = s->last_limit_log == now;
		s->last_limit_log = now;
		pthread_mutex_unlock(&s->mu);
		if (quiet)
			return;
	}
	s->log(s->log_arg, line);
}

void
kvs_reply(struct kvs_http *h, int status, cJSON *body)
{
	if (h->resp != NULL)
		atr_secure_free(h->resp, h->resp_len);
	h->resp = NULL;
	h->resp_len = 0;
	h->status = status;
	if (body == NULL)
		return;
	h->resp = cJSON_PrintUnformatted(body);
	if (h->resp != NULL)
		h->resp_len = strlen(h->resp);
	else
		h->status = 500;
	/* Bodies may carry unwrapped keys or tokens. */
	atr_json_wipe(body);
	cJSON_Delete(body);
}

void
kvs_reply_error(struct kvs_http *h, int status, const char *code,
    const char *inner, const char *fmt, ...)
{
	cJSON *j = cJSON_CreateObject(), *e;
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	e = j != NULL ? cJSON_AddObjectToObject(j, "error") : NULL;
	if (e == NULL) {
		cJSON_Delete(j);
		kvs_reply(h, 500, NULL);
		return;
	}
	/* keys.json Error: code, message, optional recursive innererror. */
	cJSON_AddStringToObject(e, "code", code);
	cJSON_AddStringToObject(e, "message", msg);
	if (inner != NULL) {
		cJSON *in = cJSON_AddObjectToObject(e, "innererror");

		if (in != NULL)
			cJSON_AddStringToObject(in, "code", inner);
	}
	kvs_reply(h, status, j);
}

void
kvs_reply_oom(struct kvs_http *h)
{
	kvs_reply_error(h, 500, "InternalServerError", NULL, "Out of memory.");
}

const char *
kvs_header(struct kvs_http *h, const char *name)
{
	return atr_mhd()->lookup_connection_value(h->conn, MHD_HEADER_KIND, name);
}

const char *
kvs_query(struct kvs_http *h, const char *name)
{
	return atr_mhd()->lookup_connection_value(h->conn, MHD_GET_ARGUMENT_KIND,
	    name);
}

/* ------------------------------------------------------------------ */
/* Faults, limits, stats */

static uint64_t
rng_next(struct atr_kv_server *s)
{
	/* xorshift64* (Vigna 2016): reproducible with seed=, not crypto. */
	uint64_t x = s->rng;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	s->rng = x;
	return x * 0x2545F4914F6CDD1DULL;
}

static double
rng_unit(struct atr_kv_server *s)
{
	return (double)(rng_next(s) >> 11) * (1.0 / 9007199254740992.0);
}

static void
rng_seed(struct atr_kv_server *s, const struct kvs_faults *f)
{
	uint64_t seed = f->seed;

	if (!f->has_seed && atr_random((uint8_t *)&seed, sizeof(seed)) != ATR_OK)
		seed = (uint64_t)time(NULL);
	s->rng = seed != 0 ? seed : 0x9E3779B97F4A7C15ULL;
}

struct fault_pick {
	unsigned delay_ms;
	int status;                 /* 0 = none */
	int retry_after;
	int drop;
};

static void
fault_decide(struct atr_kv_server *s, enum kvs_op op, struct fault_pick *p)
{
	const struct kvs_faults *f = &s->faults;
	double r;
	size_t i;

	memset(p, 0, sizeof(*p));
	p->retry_after = -1;
	pthread_mutex_lock(&s->mu);
	if (f->ops != 0 && !(f->ops & (1U << op)))
		goto out;
	if (f->latency_ms > 0 || f->jitter_ms > 0) {
		/* latency +- jitter, uniform, never below zero. */
		double d = (double)f->latency_ms +
		    (double)f->jitter_ms * (2.0 * rng_unit(s) - 1.0);

		p->delay_ms = d > 0 ? (unsigned)lround(d) : 0;
		if (p->delay_ms > 0)
			s->stats.pub.fault_latency++;
	}
	r = rng_unit(s);
	if (r < f->p_drop) {
		p->drop = 1;
		s->stats.pub.fault_drop++;
		goto out;
	}
	r -= f->p_drop;
	for (i = 0; i < KVS_FAULT_NSTATUS; i++) {
		if (r < f->p_status[i]) {
			p->status = kvs_fault_status[i];
			if (p->status == 429 || p->status == 503)
				p->retry_after = f->retry_after;
			s->stats.pub.fault_status++;
			s->stats.fault_by_status[i]++;
			break;
		}
		r -= f->p_status[i];
	}
out:
	pthread_mutex_unlock(&s->mu);
}

/* In slices of at most 50 ms: a stopping server does not wait out an
 * injected delay of up to 600 s. */
static void
sleep_ms(struct atr_kv_server *s, unsigned ms)
{
	while (ms > 0 && !atomic_load_explicit(&s->stopping,
	    memory_order_acquire)) {
		unsigned step = ms < 50 ? ms : 50;
		struct timespec ts = {0, (long)step * 1000000L};

		while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
			;
		ms -= step;
	}
}

/* Budgets per 10 s (service-limits): vault transactions 4000; key
 * "all other" 4000 units weighted by type; CREATE 20 units. */
static const unsigned lim_base[KVS_LIM__N] = {4000, 4000, 20};

/* 1 when allowed; else *retry gets the seconds until it would be. */
static int
limit_take(struct atr_kv_server *s, enum kvs_lim_bucket b, unsigned cost,
    double scale, int *retry)
{
	struct kvs_limits *l = &s->limits;
	int64_t now = kvs_now(s);
	uint64_t used = 0, budget;
	size_t i, slot = (size_t)(now % 10);
	int ok;

	budget = (uint64_t)floor((double)lim_base[b] * scale);
	if (budget < 1)
		budget = 1;
	pthread_mutex_lock(&s->mu);
	/* A sliding 10-second window of one-second slots. */
	for (i = 0; i < 10; i++)
		if (l->slot_sec[b][i] > now - 10 && l->slot_sec[b][i] <= now)
			used += l->slot_units[b][i];
	/* The first request of an empty window always passes, whatever
	 * its weight. */
	ok = used == 0 || used + cost <= budget;
	if (ok) {
		if (l->slot_sec[b][slot] != now) {
			l->slot_sec[b][slot] = now;
			l->slot_units[b][slot] = 0;
		}
		l->slot_units[b][slot] += cost;
	} else {
		uint64_t need = used + cost - budget, freed = 0;
		int64_t t;

		s->stats.pub.throttled++;
		*retry = 10;
		/* Walk the window oldest first until enough has expired. */
		for (t = now - 9; t <= now; t++) {
			size_t k = (size_t)(t % 10);

			if (l->slot_sec[b][k] == t)
				freed += l->slot_units[b][k];
			if (freed >= need) {
				*retry = (int)(t + 10 - now);
				break;
			}
		}
	}
	pthread_mutex_unlock(&s->mu);
	return ok;
}

static void
stat_status(struct atr_kv_server *s, int status)
{
	pthread_mutex_lock(&s->mu);
	if (status >= 100 && status < 600)
		s->stats.status[status]++;
	pthread_mutex_unlock(&s->mu);
}

void
atr_kv_server_get_stats(struct atr_kv_server *s, struct atr_kv_server_stats *st)
{
	pthread_mutex_lock(&s->mu);
	*st = s->stats.pub;
	pthread_mutex_unlock(&s->mu);
}

enum atr_err
atr_kv_server_set_faults(struct atr_kv_server *s, const char *spec)
{
	struct kvs_faults f;
	enum atr_err err = kvs_faults_parse(spec, &f);

	if (err != ATR_OK)
		return err;
	pthread_mutex_lock(&s->mu);
	s->faults = f;
	rng_seed(s, &f);
	pthread_mutex_unlock(&s->mu);
	return ATR_OK;
}

/* ------------------------------------------------------------------ */
/* Admin endpoint: /admin/{stats,faults,config,info} */

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

static void
admin(struct kvs_http *h)
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
			pthread_mutex_lock(&s->mu);
			s->faults = f;
			rng_seed(s, &f);
			pthread_mutex_unlock(&s->mu);
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

/* ------------------------------------------------------------------ */
/* The request pipeline */

enum req_kind {
	REQ_VAULT = 0,
	REQ_IDENTITY,
	REQ_ADMIN,
};

struct conn_req {
	char *body;
	size_t len, cap;
	size_t max;                 /* body limit for this kind */
	enum req_kind kind;
	int too_big;
	int answered;               /* refused from its headers (admit) */
};

static int
api_version_known(const char *v)
{
	static const char *const known[] = {
		"7.0", "7.1", "7.2", "7.3", "7.4", "7.5", "7.6",
		"2025-07-01", "2016-10-01", "2015-06-01",
	};
	size_t i;

	for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (strcmp(v, known[i]) == 0)
			return 1;
	/* Previews of the 7.x line, "7.6-preview.2". */
	return strlen(v) >= 11 && v[0] == '7' && v[1] == '.' &&
	    v[2] >= '0' && v[2] <= '6' && strncmp(v + 3, "-preview", 8) == 0;
}

static void
set_base(struct kvs_http *h)
{
	const char *host = kvs_header(h, "Host");
	size_t i, n;

	/* kid and nextLink use the name the client called us by, as a
	 * vault's use its own DNS name. */
	if (host != NULL && (n = strlen(host)) > 0 && n < 200) {
		for (i = 0; i < n; i++)
			if (!(host[i] >= 'a' && host[i] <= 'z') &&
			    !(host[i] >= 'A' && host[i] <= 'Z') &&
			    !(host[i] >= '0' && host[i] <= '9') &&
			    strchr(".-:[]", host[i]) == NULL)
				break;
		if (i == n) {
			snprintf(h->base, sizeof(h->base), "https://%s", host);
			return;
		}
	}
	snprintf(h->base, sizeof(h->base), "%s", h->s->url);
}

static void
free_resp(void *cls)
{
	struct kvs_http *copy = cls;

	atr_secure_free(copy->resp, copy->resp_len);
	free(copy);
}

static enum MHD_Result
queue(struct kvs_http *h)
{
	struct atr_kv_server *s = h->s;
	struct MHD_Response *r;
	struct kvs_http *hold = NULL;
	char rid[37], buf[256];
	const char *crid;
	enum MHD_Result ret;
	const union MHD_ConnectionInfo *ci;

	if (h->status == 0) {
		h->status = 500;
	}
	if (h->status != 204 && h->resp == NULL)
		kvs_reply_error(h, h->status >= 400 ? h->status : 500,
		    "InternalServerError", NULL, "No response.");
	if (h->status == 204 || h->resp == NULL) {
		r = atr_mhd()->create_response_from_buffer(0, (void *)"",
		    MHD_RESPMEM_PERSISTENT);
	} else {
		/* MHD keeps the body until sent; it is wiped when freed. */
		hold = calloc(1, sizeof(*hold));
		if (hold == NULL)
			return MHD_NO;
		hold->resp = h->resp;
		hold->resp_len = h->resp_len;
		h->resp = NULL;
		r = atr_mhd()->create_response_from_buffer_with_free_callback_cls(
		    hold->resp_len, hold->resp, free_resp, hold);
	}
	if (r == NULL) {
		if (hold != NULL)
			free_resp(hold);
		return MHD_NO;
	}
	kvs_uuid(rid);
	if (h->token_headers) {
		atr_mhd()->add_response_header(r, "Cache-Control", "no-store, no-cache");
	} else {
		atr_mhd()->add_response_header(r, "Cache-Control", "no-cache");
		atr_mhd()->add_response_header(r, "x-ms-keyvault-region", "loopback");
		atr_mhd()->add_response_header(r, "x-ms-keyvault-service-version",
		    "1.9.0.0");
		ci = atr_mhd()->get_connection_info(h->conn,
		    MHD_CONNECTION_INFO_CLIENT_ADDRESS);
		if (ci != NULL && ci->client_addr != NULL) {
			char addr[INET6_ADDRSTRLEN] = "";
			int v6 = ci->client_addr->sa_family == AF_INET6;

			if (v6)
				inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)
				    (const void *)ci->client_addr)->sin6_addr,
				    addr, sizeof(addr));
			else
				inet_ntop(AF_INET, &((const struct sockaddr_in *)
				    (const void *)ci->client_addr)->sin_addr,
				    addr, sizeof(addr));
			snprintf(buf, sizeof(buf), "conn_type=%s;addr=%s;"
			    "act_addr_fam=%s;", v6 ? "Ipv6" : "Ipv4", addr,
			    v6 ? "InterNetworkV6" : "InterNetwork");
			atr_mhd()->add_response_header(r, "x-ms-keyvault-network-info",
			    buf);
		}
	}
	atr_mhd()->add_response_header(r, "Pragma", "no-cache");
	if (h->status != 204)
		atr_mhd()->add_response_header(r, "Content-Type",
		    "application/json; charset=utf-8");
	atr_mhd()->add_response_header(r, "Expires", "-1");
	atr_mhd()->add_response_header(r, "x-ms-request-id", rid);
	crid = kvs_header(h, "x-ms-client-request-id");
	if (crid != NULL && strlen(crid) < 128)
		atr_mhd()->add_response_header(r, "x-ms-client-request-id", crid);
	atr_mhd()->add_response_header(r, "Strict-Transport-Security",
	    "max-age=31536000;includeSubDomains");
	atr_mhd()->add_response_header(r, "X-Content-Type-Options", "nosniff");
	if (h->www_auth)
		atr_mhd()->add_response_header(r, "WWW-Authenticate", s->challenge);
	if (h->retry_after >= 0) {
		snprintf(buf, sizeof(buf), "%d", h->retry_after);
		atr_mhd()->add_response_header(r, "Retry-After", buf);
	}
	ret = atr_mhd()->queue_response(h->conn, (unsigned)h->status, r);
	atr_mhd()->destroy_response(r);
	return ret;
}

static double
ms_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) * 1e3 +
	    (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

static void
access_line(struct kvs_http *h, const struct timespec *t0, const char *status)
{
	if (h->s->log == NULL || !h->s->log_access)
		return;
	/* Method, path (no query), status, time: never headers or bodies,
	 * which carry tokens, secrets and keys. */
	kvs_logf(h->s, "%s %.300s %s %.1fms%s%s", h->method, h->path, status,
	    ms_since(t0), h->note != NULL ? " " : "",
	    h->note != NULL ? h->note : "");
}

static enum MHD_Result
finish(struct kvs_http *h, const struct timespec *t0)
{
	char st[8];
	enum MHD_Result ret;

	if (h->status == 0)
		h->status = 500;
	ret = queue(h);
	stat_status(h->s, h->status);
	snprintf(st, sizeof(st), "%d", h->status);
	access_line(h, t0, st);
	if (h->resp != NULL)
		atr_secure_free(h->resp, h->resp_len);
	h->resp = NULL;
	return ret;
}

static void
http_init(struct kvs_http *h, struct atr_kv_server *s,
    struct MHD_Connection *conn, const char *url, const char *method,
    const struct conn_req *req)
{
	const char *tunnel;

	memset(h, 0, sizeof(*h));
	h->s = s;
	h->conn = conn;
	h->method = method;
	h->path = url;
	h->body = req->body != NULL ? req->body : "";
	h->body_len = req->len;
	h->retry_after = -1;
	/* Verb tunnelling (authentication-requests-and-responses). */
	tunnel = kvs_header(h, "X-HTTP-METHOD");
	if (strcmp(method, "POST") == 0 && tunnel != NULL &&
	    (strcasecmp(tunnel, "PATCH") == 0 ||
	    strcasecmp(tunnel, "DELETE") == 0 ||
	    strcasecmp(tunnel, "PUT") == 0))
		h->method = strcasecmp(tunnel, "PATCH") == 0 ? "PATCH" :
		    strcasecmp(tunnel, "PUT") == 0 ? "PUT" : "DELETE";
	set_base(h);
}

/* The x-atrest-admin header against STATE/admin-token's value. */
static int
admin_ok(struct kvs_http *h)
{
	const char *t = kvs_header(h, "x-atrest-admin");
	uint8_t a[32], b[32];
	int ok = 0;

	/* Digests compared in constant time: neither the token's bytes nor
	 * its length show in the answer's timing. */
	if (t != NULL && atr_sha256((const uint8_t *)h->s->admin_token,
	    strlen(h->s->admin_token), a) == ATR_OK &&
	    atr_sha256((const uint8_t *)t, strlen(t), b) == ATR_OK)
		ok = atr_ct_equal(a, b, sizeof(a));
	atr_memzero(a, sizeof(a));
	atr_memzero(b, sizeof(b));
	return ok;
}

/* 1 when a Content-Length header is a number no larger than max
 * (RFC 9110 8.6: 1*DIGIT). */
static int
length_ok(const char *v, size_t max)
{
	size_t n = 0;

	if (*v == '\0')
		return 0;
	for (; *v != '\0'; v++) {
		if (*v < '0' || *v > '9')
			return 0;
		n = n * 10 + (size_t)(*v - '0');
		if (n > max)
			return 0;
	}
	return 1;
}

/*
 * The first call for a request: its headers are in, no byte of its body
 * has been accepted.  Whatever the headers alone decide is answered here
 * - the admin credential, the vault's bearer, a body too large - so that
 * nobody buffers a body before authenticating; MHD then discards the
 * body and closes the connection after the answer.  An authenticated
 * connection may stay idle longer than the short first timeout.
 */
static enum MHD_Result
admit(struct atr_kv_server *s, struct MHD_Connection *conn, const char *url,
    const char *method, struct conn_req *req)
{
	struct kvs_http h;
	struct timespec t0;
	const char *cl;
	int authed = 0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	http_init(&h, s, conn, url, method, req);
	if (strcmp(url, "/admin") == 0 || strncmp(url, "/admin/", 7) == 0) {
		req->kind = REQ_ADMIN;
		req->max = ADMIN_BODY_MAX;
		h.note = "admin";
		if (!s->admin) {
			kvs_reply_error(&h, 404, "NotFound", NULL, "The admin "
			    "API is off (start the server with --admin).");
			goto answer;
		}
		if (!admin_ok(&h)) {
			/* One answer for a missing and a wrong token. */
			kvs_reply_error(&h, 401, "Unauthorized", NULL,
			    "The admin API needs the header x-atrest-admin "
			    "with the token in STATE/admin-token.");
			goto answer;
		}
		authed = 1;
	} else {
		pthread_mutex_lock(&s->mu);
		s->stats.pub.requests++;
		pthread_mutex_unlock(&s->mu);
		if (kvs_identity_path(url)) {
			/* The token endpoint authenticates by its body. */
			req->kind = REQ_IDENTITY;
			req->max = IDENTITY_BODY_MAX;
		} else {
			req->kind = REQ_VAULT;
			req->max = KVS_BODY_MAX;
			/* Authentication before anything else: SDKs send the
			 * first request without a token and need the 401
			 * challenge, never a 400 about the body or api-version
			 * (lowkey-vault #1838). */
			if (!kvs_auth_check(&h)) {
				pthread_mutex_lock(&s->mu);
				s->stats.pub.unauthorized++;
				pthread_mutex_unlock(&s->mu);
				goto answer;
			}
			authed = 1;
		}
	}
	cl = kvs_header(&h, "Content-Length");
	if (cl != NULL && !length_ok(cl, req->max)) {
		kvs_reply_error(&h, 413, "BadParameter", NULL,
		    "The request body is too large.");
		goto answer;
	}
	if (authed && s->idle_timeout > 0)
		atr_mhd()->set_connection_option(conn, MHD_CONNECTION_OPTION_TIMEOUT,
		    s->idle_timeout);
	return MHD_YES;
answer:
	req->answered = 1;
	return finish(&h, &t0);
}

static enum MHD_Result
process(struct atr_kv_server *s, struct MHD_Connection *conn,
    const char *url, const char *method, struct conn_req *req)
{
	struct kvs_http h;
	struct kvs_route r;
	struct kvs_config c;
	struct fault_pick fp;
	struct timespec t0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	http_init(&h, s, conn, url, method, req);
	if (req->kind == REQ_ADMIN) {
		h.note = "admin";
		if (req->too_big)
			kvs_reply_error(&h, 413, "BadParameter", NULL,
			    "The request body is too large.");
		else
			admin(&h);
		return finish(&h, &t0);
	}
	if (req->too_big) {
		kvs_reply_error(&h, 413, "BadParameter", NULL,
		    "The request body is too large.");
		return finish(&h, &t0);
	}
	if (req->kind == REQ_IDENTITY && kvs_identity_dispatch(&h))
		return finish(&h, &t0);

	/* 1. Authentication: done from the headers (admit). */
	kvs_route_parse(h.method, url, &r);
	/* 2. Injected faults. */
	fault_decide(s, r.op, &fp);
	if (fp.delay_ms > 0)
		sleep_ms(s, fp.delay_ms);
	if (fp.drop) {
		/* MHD_NO closes the connection without any response. */
		h.note = "fault=drop";
		access_line(&h, &t0, "drop");
		return MHD_NO;
	}
	if (fp.status != 0) {
		h.retry_after = fp.retry_after;
		h.note = "fault";
		if (fp.status == 429)
			kvs_reply_error(&h, 429, "Throttled", NULL, "Request was "
			    "not processed because too many requests were "
			    "received. Reason: VaultRequestTypeLimitReached");
		else if (fp.status == 503)
			kvs_reply_error(&h, 503, "ServiceUnavailable", NULL,
			    "The service is temporarily unavailable. Please "
			    "retry later.");
		else
			kvs_reply_error(&h, fp.status, "InternalServerError",
			    NULL, "An internal server error occurred.");
		return finish(&h, &t0);
	}
	/* 3. The route itself. */
	if (r.status == 405) {
		kvs_reply_error(&h, 405, "MethodNotAllowed", NULL, "The "
		    "requested resource does not support http method '%s'.",
		    h.method);
		return finish(&h, &t0);
	}
	if (r.status == 501) {
		kvs_reply_error(&h, 501, "NotImplemented", NULL, "This "
		    "operation is not implemented by the loopback server.");
		return finish(&h, &t0);
	}
	if (r.status != 0) {
		kvs_reply_error(&h, 404, "NotFound", NULL,
		    "The requested resource was not found.");
		return finish(&h, &t0);
	}
	/* 4. api-version: mandatory, no default. */
	kvs_config_get(s, &c);
	h.api_version = kvs_query(&h, "api-version");
	if (h.api_version == NULL || *h.api_version == '\0') {
		kvs_reply_error(&h, 400, "BadParameter", NULL, "The "
		    "api-version query parameter (?api-version=) is required "
		    "for all requests.");
		return finish(&h, &t0);
	}
	if (c.api_version_strict && !api_version_known(h.api_version)) {
		/* The service's text (azure-sdk-for-python #28595). */
		kvs_reply_error(&h, 400, "BadParameter", NULL, "The specified "
		    "version (%.40s) is not recognized. Consider using the "
		    "latest supported version (%s).", h.api_version,
		    LATEST_API_VERSION);
		return finish(&h, &t0);
	}
	if (r.name[0] != '\0' && (r.name_too_long ||
	    !kvs_name_valid(r.name))) {
		kvs_reply_error(&h, 400, "BadParameter", NULL, "The request URI "
		    "contains an invalid name: %.127s", r.name);
		return finish(&h, &t0);
	}
	if (r.bad_version) {
		kvs_reply_error(&h, 404, "KeyNotFound", NULL, "A key with "
		    "(name/id) %s/%.40s was not found in this key vault.",
		    r.name, r.version);
		return finish(&h, &t0);
	}
	/* 5. Service limits. */
	if (c.limits) {
		enum kvs_lim_bucket b;
		unsigned cost;
		int retry = -1;

		kvs_route_classify(&h, &r, &b, &cost);
		if (!limit_take(s, b, cost, c.limit_scale, &retry)) {
			/* Captured 429s carry no Retry-After: optional. */
			h.retry_after = c.throttle_retry_after ? retry : -1;
			h.note = "throttled";
			kvs_reply_error(&h, 429, "Throttled", NULL, "Request was "
			    "not processed because too many requests were "
			    "received. Reason: VaultRequestTypeLimitReached");
			return finish(&h, &t0);
		}
	}
	pthread_mutex_lock(&s->mu);
	s->stats.ops[r.op]++;
	pthread_mutex_unlock(&s->mu);
	kvs_keys_dispatch(&h, &r);
	return finish(&h, &t0);
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *conn, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_data_size, void **con_cls)
{
	struct conn_req *req = *con_cls;
	struct atr_kv_server *srv = cls;
	struct timespec nap = {0, 1000 * 1000};
	int started;

	(void)version;
	/* A request that arrives while atr_kv_server_start is still writing
	 * the URL and the challenge waits for them (ThreadSanitizer found
	 * the race; a client that connected at once could have read a
	 * half-written challenge). */
	while ((started = atomic_load_explicit(&srv->started,
	    memory_order_acquire)) == 0)
		nanosleep(&nap, NULL);
	if (started < 0)
		return MHD_NO;
	if (req == NULL) {
		req = calloc(1, sizeof(*req));
		if (req == NULL)
			return MHD_NO;
		*con_cls = req;
		return admit(srv, conn, url, method, req);
	}
	if (req->answered) {
		/* Answered from the headers: nothing more is kept. */
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		size_t n = *upload_data_size;

		if (!req->too_big && req->len + n > req->max) {
			req->too_big = 1;
			/* A chunked body past an identity endpoint's limit:
			 * nobody authenticated, so the connection goes. */
			if (req->kind == REQ_IDENTITY)
				return MHD_NO;
		}
		if (!req->too_big) {
			if (req->len + n + 1 > req->cap) {
				size_t cap = (req->len + n + 1) * 2;
				char *b = malloc(cap);

				if (b == NULL)
					return MHD_NO;
				if (req->body != NULL) {
					memcpy(b, req->body, req->len);
					atr_secure_free(req->body, req->cap);
				}
				req->body = b;
				req->cap = cap;
			}
			memcpy(req->body + req->len, upload_data, n);
			req->len += n;
			req->body[req->len] = '\0';
		}
		*upload_data_size = 0;
		return MHD_YES;
	}
	return process(cls, conn, url, method, req);
}

static void
on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
	struct conn_req *req = *con_cls;

	(void)cls;
	(void)conn;
	(void)toe;
	if (req == NULL)
		return;
	/* Bodies hold client secrets and plaintext keys. */
	if (req->body != NULL)
		atr_secure_free(req->body, req->cap);
	free(req);
	*con_cls = NULL;
}

/* ------------------------------------------------------------------ */
/* State: server.json (tenant, token key, default clients) */

static enum atr_err
write_file(const char *path, mode_t mode, const char *text)
{
	struct atr_outfile o;
	enum atr_err err = atr_out_begin(&o, path, mode);

	if (err != ATR_OK)
		return err;
	err = atr_write_all(o.fd, text, strlen(text));
	if (err == ATR_OK)
		return atr_out_commit(&o, 0);
	atr_out_abort(&o);
	return err;
}

static enum atr_err
add_client(struct atr_kv_server *s, const char *id, const char *secret)
{
	struct kvs_client *c;

	if (*id == '\0' || strlen(id) >= sizeof(c->id) || *secret == '\0')
		return atr_fail(ATR_ERR_USAGE, "client: expected ID:SECRET");
	c = realloc(s->clients, (s->nclients + 1) * sizeof(*c));
	if (c == NULL)
		return ATR_ERR_NOMEM;
	s->clients = c;
	c = &s->clients[s->nclients];
	memset(c, 0, sizeof(*c));
	snprintf(c->id, sizeof(c->id), "%s", id);
	c->secret_len = strlen(secret);
	c->secret = malloc(c->secret_len + 1);
	if (c->secret == NULL)
		return ATR_ERR_NOMEM;
	memcpy(c->secret, secret, c->secret_len + 1);
	s->nclients++;
	return ATR_OK;
}

static enum atr_err
load_state(struct atr_kv_server *s)
{
	char path[PATH_MAX], secret[128] = "", hex[65];
	unsigned char *buf = NULL;
	size_t len = 0, klen = 0;
	cJSON *j = NULL;
	const cJSON *t, *k, *c, *cs;
	enum atr_err err;

	snprintf(path, sizeof(path), "%s/server.json", s->state_dir);
	err = atr_read_small_file(path, 65536, 1, &buf, &len);
	if (err == ATR_OK) {
		j = cJSON_ParseWithLength((const char *)buf, len);
		atr_secure_free(buf, len);
		t = cJSON_GetObjectItemCaseSensitive(j, "tenant");
		k = cJSON_GetObjectItemCaseSensitive(j, "token_key");
		c = cJSON_GetObjectItemCaseSensitive(j, "client_id");
		cs = cJSON_GetObjectItemCaseSensitive(j, "client_secret");
		/* An "mi_client_id" of earlier versions is ignored: the
		 * identity is named at start (managed_identity). */
		if (!cJSON_IsString(t) || !cJSON_IsString(k) ||
		    !cJSON_IsString(c) || !cJSON_IsString(cs) ||
		    strlen(t->valuestring) >= 64 ||
		    strlen(c->valuestring) >= 64 ||
		    strlen(cs->valuestring) >= sizeof(secret) ||
		    atr_unhex(k->valuestring, strlen(k->valuestring),
		    s->token_key, sizeof(s->token_key), &klen) != 0 ||
		    klen != sizeof(s->token_key)) {
			err = atr_fail(ATR_ERR_CONFIG, "%s: not a valid state "
			    "file", path);
			goto out;
		}
		snprintf(s->tenant, sizeof(s->tenant), "%s", t->valuestring);
		snprintf(s->client_id, sizeof(s->client_id), "%s", c->valuestring);
		snprintf(secret, sizeof(secret), "%s", cs->valuestring);
	} else if (err == ATR_ERR_CONFIG) {
		/* First start: new tenant, signing key and test client. */
		uint8_t raw[30];
		char *b;

		j = cJSON_CreateObject();
		if (j == NULL) {
			err = ATR_ERR_NOMEM;
			goto out;
		}
		kvs_uuid(s->tenant);
		kvs_uuid(s->client_id);
		err = atr_random(s->token_key, sizeof(s->token_key));
		if (err == ATR_OK)
			err = atr_random(raw, sizeof(raw));
		if (err != ATR_OK)
			goto out;
		b = kvs_b64url(raw, sizeof(raw));
		atr_memzero(raw, sizeof(raw));
		if (b == NULL) {
			err = ATR_ERR_NOMEM;
			goto out;
		}
		snprintf(secret, sizeof(secret), "%s", b);
		atr_secure_free(b, strlen(b));
		atr_hex(s->token_key, sizeof(s->token_key), hex);
		cJSON_AddStringToObject(j, "tenant", s->tenant);
		cJSON_AddStringToObject(j, "token_key", hex);
		cJSON_AddStringToObject(j, "client_id", s->client_id);
		cJSON_AddStringToObject(j, "client_secret", secret);
		atr_memzero(hex, sizeof(hex));
		{
			char *text = cJSON_Print(j);

			if (text == NULL) {
				err = ATR_ERR_NOMEM;
				goto out;
			}
			err = write_file(path, 0600, text);
			atr_secure_free(text, strlen(text));
			if (err != ATR_OK)
				goto out;
		}
	} else {
		err = kvs_fail_path(err, path);
		goto out;
	}
	/* The secret alone, for scripts: $(cat STATE/client-secret). */
	err = write_file(s->secret_path, 0600, secret);
	if (err == ATR_OK)
		err = add_client(s, s->client_id, secret);
out:
	atr_memzero(secret, sizeof(secret));
	if (j != NULL) {
		atr_json_wipe(j);
		cJSON_Delete(j);
	}
	return err;
}

/* RFC 1122 3.2.1.3: 127/8 is loopback; RFC 4291 2.5.3 ::1, and 2.5.5.2
 * an IPv4-mapped ::ffff:127.x.y.z.  The wildcard 0.0.0.0 or :: is not:
 * it is every interface. */
static int
addr_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)sa;

		return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)sa;

		if (IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr))
			return 1;
		return IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr) &&
		    in6->sin6_addr.s6_addr[12] == 127;
	}
	return 0;
}

int
kvs_peer_loopback(struct kvs_http *h)
{
	const union MHD_ConnectionInfo *ci;

	ci = atr_mhd()->get_connection_info(h->conn,
	    MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	return ci != NULL && ci->client_addr != NULL &&
	    addr_loopback(ci->client_addr);
}

/*
 * "HOST:PORT", "[V6]:PORT", ":PORT".  The host is resolved (a name, or
 * any numeric form getaddrinfo takes: "127.1", "0x7f000001") and what
 * is bound is the first address: that address, not the string, decides
 * whether other hosts could reach the server.
 */
static enum atr_err
parse_listen(struct atr_kv_server *s, const char *l, int allow_remote,
    struct sockaddr_storage *ss, socklen_t *sslen)
{
	char host[128], *end;
	const char *colon, *port;
	struct addrinfo hints, *res = NULL;
	long p;
	int rc;

	if (l[0] == '[') {
		const char *close = strchr(l, ']');

		if (close == NULL || close[1] != ':' ||
		    (size_t)(close - l - 1) >= sizeof(host))
			goto bad;
		snprintf(host, sizeof(host), "%.*s", (int)(close - l - 1), l + 1);
		port = close + 2;
	} else {
		colon = strrchr(l, ':');
		if (colon == NULL || (size_t)(colon - l) >= sizeof(host))
			goto bad;
		snprintf(host, sizeof(host), "%.*s", (int)(colon - l), l);
		port = colon + 1;
	}
	if (host[0] == '\0')
		snprintf(host, sizeof(host), "127.0.0.1");
	errno = 0;
	p = strtol(port, &end, 10);
	if (*port == '\0' || *end != '\0' || errno != 0 || p < 0 || p > 65535)
		goto bad;
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	rc = getaddrinfo(host, port, &hints, &res);
	if (rc != 0 || res == NULL || res->ai_addrlen > sizeof(*ss)) {
		if (res != NULL)
			freeaddrinfo(res);
		return atr_fail(ATR_ERR_CONFIG, "listen address %s: %s", l,
		    rc != 0 ? gai_strerror(rc) : "unusable");
	}
	rc = getnameinfo(res->ai_addr, res->ai_addrlen, s->bound_host,
	    sizeof(s->bound_host), NULL, 0, NI_NUMERICHOST);
	if (rc != 0) {
		freeaddrinfo(res);
		return atr_fail(ATR_ERR_CONFIG, "listen address %s: %s", l,
		    gai_strerror(rc));
	}
	if (!allow_remote && !addr_loopback(res->ai_addr)) {
		freeaddrinfo(res);
		return atr_fail(ATR_ERR_USAGE, "listen address %s (%s) is not "
		    "a loopback address: other hosts could reach the server; "
		    "pass --allow-remote to mean it (tokens are then "
		    "validated)", l, s->bound_host);
	}
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*sslen = res->ai_addrlen;
	s->ipv6 = res->ai_family == AF_INET6;
	freeaddrinfo(res);
	snprintf(s->listen_host, sizeof(s->listen_host), "%s", host);
	return ATR_OK;
bad:
	return atr_fail(ATR_ERR_USAGE, "listen address '%s': expected "
	    "HOST:PORT or [V6ADDR]:PORT", l);
}

/* STATE/admin-token: a new random token at every start, 0600. */
static enum atr_err
admin_token_new(struct atr_kv_server *s)
{
	uint8_t raw[32];
	char *b;
	enum atr_err err;

	err = atr_random(raw, sizeof(raw));
	b = err == ATR_OK ? kvs_b64url(raw, sizeof(raw)) : NULL;
	atr_memzero(raw, sizeof(raw));
	if (err != ATR_OK)
		return err;
	if (b == NULL)
		return ATR_ERR_NOMEM;
	snprintf(s->admin_token, sizeof(s->admin_token), "%s", b);
	atr_secure_free(b, strlen(b));
	snprintf(s->admin_path, sizeof(s->admin_path), "%s/admin-token",
	    s->state_dir);
	err = write_file(s->admin_path, 0600, s->admin_token);
	if (err != ATR_OK)
		return kvs_fail_path(err, s->admin_path);
	return ATR_OK;
}

static enum atr_err
abs_dir(const char *dir, char *out, size_t cap)
{
	char *r = realpath(dir, NULL);

	if (r == NULL)
		return atr_fail(ATR_ERR_IO, "%s: %s", dir, strerror(errno));
	if (strlen(r) >= cap) {
		free(r);
		return atr_fail(ATR_ERR_USAGE, "state path too long");
	}
	snprintf(out, cap, "%s", r);
	free(r);
	return ATR_OK;
}

void
atr_kv_server_opts_init(struct atr_kv_server_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->listen = "127.0.0.1:0";
	o->limit_scale = 1.0;
	o->token_mode = ATR_KV_TOKEN_ANY;
	o->disabled_blocks = ATR_JWK_CRYPTO_ALL;
	o->api_version_strict = 1;
	o->recoverable_days = 90;
	o->allow_oct = 1;
	o->token_lifetime = 3599;
	o->max_connections = 512;
	o->max_per_ip = 256;
	o->handshake_timeout = 10;
	o->idle_timeout = 60;
}

enum atr_err
atr_kv_server_start(const struct atr_kv_server_opts *o,
    struct atr_kv_server **out)
{
	struct atr_kv_server *s;
	struct sockaddr_storage ss;
	socklen_t sslen = 0;
	char keys_dir[PATH_MAX + 8], lock_path[PATH_MAX + 8];
	const union MHD_DaemonInfo *di;
	const char *res;
	enum atr_err err;
	size_t i, nkeys;
	int mu_ok = 0;
	unsigned flags;

	*out = NULL;
	if (o == NULL || o->state_dir == NULL || *o->state_dir == '\0')
		return atr_fail(ATR_ERR_USAGE, "a state directory is required");
	if (o->recoverable_days < 7 || o->recoverable_days > 90)
		return atr_fail(ATR_ERR_USAGE, "recoverable days must be 7..90");
	if (o->token_lifetime <= 0 || o->token_lifetime > 86400 * 7)
		return atr_fail(ATR_ERR_USAGE, "token lifetime out of range");
	if (o->managed_identity != NULL && *o->managed_identity != '\0' &&
	    (strlen(o->managed_identity) >= sizeof(s->mi_client_id) ||
	    strspn(o->managed_identity, "0123456789abcdefABCDEF-") !=
	    strlen(o->managed_identity)))
		return atr_fail(ATR_ERR_USAGE, "managed identity: expected a "
		    "client id (GUID)");
	err = atr_mhd_load();
	if (err != ATR_OK)
		return err;
	if (atr_mhd()->is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
		return atr_fail(ATR_ERR_UNSUPPORTED,
		    "libmicrohttpd was built without TLS");
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return ATR_ERR_NOMEM;
	s->lock_fd = -1;
	s->log = o->log;
	s->log_arg = o->log_arg;
	s->log_access = o->log_access;
	if (pthread_mutex_init(&s->mu, NULL) != 0) {
		err = ATR_ERR_NOMEM;
		goto fail;
	}
	mu_ok = 1;
	err = kvs_faults_parse(o->faults, &s->faults);
	if (err != ATR_OK)
		goto fail;
	rng_seed(s, &s->faults);
	s->cfg.disabled_blocks = o->disabled_blocks & ATR_JWK_CRYPTO_ALL;
	s->cfg.disabled_get_forbidden = o->disabled_get_forbidden;
	s->cfg.api_version_strict = o->api_version_strict;
	s->cfg.limits = o->limits;
	s->cfg.limit_scale = o->limit_scale > 0 ? o->limit_scale : 1.0;
	s->cfg.throttle_retry_after = o->throttle_retry_after;
	s->cfg.token_mode = o->token_mode;
	s->allow_remote = o->allow_remote;
	if (s->allow_remote)
		s->cfg.token_mode = ATR_KV_TOKEN_VALIDATE;
	s->admin = o->admin;
	s->idle_timeout = o->idle_timeout;
	if (o->managed_identity != NULL && *o->managed_identity != '\0') {
		s->mi_enabled = 1;
		snprintf(s->mi_client_id, sizeof(s->mi_client_id), "%s",
		    o->managed_identity);
	}
	s->purge_protection = o->purge_protection;
	s->recoverable_days = o->recoverable_days;
	s->allow_oct = o->allow_oct;
	s->token_lifetime = o->token_lifetime;
	res = o->challenge_resource != NULL ? o->challenge_resource :
	    DEFAULT_RESOURCE;
	snprintf(s->resource, sizeof(s->resource), "%s",
	    *res ? res : DEFAULT_RESOURCE);

	err = parse_listen(s, o->listen != NULL ? o->listen : "127.0.0.1:0",
	    o->allow_remote, &ss, &sslen);
	if (err != ATR_OK)
		goto fail;
	err = kvs_state_dir_prepare(o->state_dir);
	if (err == ATR_OK)
		err = abs_dir(o->state_dir, s->state_dir, sizeof(s->state_dir));
	if (err != ATR_OK)
		goto fail;
	/* One server per state directory: two would overwrite each
	 * other's key files. */
	snprintf(lock_path, sizeof(lock_path), "%s/.lock", s->state_dir);
	s->lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (s->lock_fd < 0 || flock(s->lock_fd, LOCK_EX | LOCK_NB) != 0) {
		err = atr_fail(ATR_ERR_CONFIG, "%s is in use by another server",
		    s->state_dir);
		goto fail;
	}
	snprintf(s->ca_path, sizeof(s->ca_path), "%s/ca.pem", s->state_dir);
	snprintf(s->secret_path, sizeof(s->secret_path), "%s/client-secret",
	    s->state_dir);
	err = load_state(s);
	if (err == ATR_OK && s->admin)
		err = admin_token_new(s);
	if (err != ATR_OK)
		goto fail;
	if (o->tenant != NULL && *o->tenant != '\0')
		snprintf(s->tenant, sizeof(s->tenant), "%s", o->tenant);
	for (i = 0; i < o->nclients; i++) {
		char buf[512];
		char *colon;

		if (strlen(o->clients[i]) >= sizeof(buf)) {
			err = atr_fail(ATR_ERR_USAGE, "client too long");
			goto fail;
		}
		snprintf(buf, sizeof(buf), "%s", o->clients[i]);
		colon = strchr(buf, ':');
		if (colon == NULL) {
			atr_memzero(buf, sizeof(buf));
			err = atr_fail(ATR_ERR_USAGE, "client: expected ID:SECRET");
			goto fail;
		}
		*colon = '\0';
		err = add_client(s, buf, colon + 1);
		atr_memzero(buf, sizeof(buf));
		if (err != ATR_OK)
			goto fail;
	}
	err = kvs_tls_setup(s, o->extra_sans, o->n_extra_sans);
	if (err != ATR_OK)
		goto fail;
	snprintf(keys_dir, sizeof(keys_dir), "%s/keys", s->state_dir);
	err = kvs_store_open(&s->store, keys_dir, s);
	if (err != ATR_OK)
		goto fail;

	flags = MHD_USE_TLS | MHD_USE_THREAD_PER_CONNECTION |
	    MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ERROR_LOG;
	if (s->ipv6)
		flags |= MHD_USE_IPv6;
	/*
	 * The logger first: MHD logs while it parses the later options.
	 * Each connection is a thread: their number is capped in total and
	 * per client address, so that one client's idle connections cannot
	 * take every slot, and a connection that has not authenticated a
	 * request closes after a short silence (admit lengthens it).
	 */
	s->daemon = atr_mhd()->start_daemon(flags, 0, NULL, NULL, on_request, s,
	    MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, s,
	    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
	    MHD_OPTION_HTTPS_MEM_KEY, s->tls_key,
	    MHD_OPTION_HTTPS_MEM_CERT, s->tls_cert,
	    MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
	    MHD_OPTION_CONNECTION_LIMIT, o->max_connections > 0 ?
	    o->max_connections : 512U,
	    MHD_OPTION_PER_IP_CONNECTION_LIMIT, o->max_per_ip,
	    MHD_OPTION_CONNECTION_TIMEOUT, o->handshake_timeout,
	    MHD_OPTION_END);
	if (s->daemon == NULL) {
		err = atr_fail(ATR_ERR_IO, "cannot listen on %s (in use, or "
		    "TLS setup failed)", o->listen != NULL ? o->listen :
		    "127.0.0.1:0");
		goto fail;
	}
	di = atr_mhd()->get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
	if (di == NULL || di->port == 0) {
		err = atr_fail(ATR_ERR_IO, "cannot read the bound port");
		goto fail;
	}
	s->port = di->port;
	{
		/* The address bound, as the certificate names it; an IPv6
		 * zone's '%' is "%25" in a URL (RFC 6874). */
		char h[sizeof(s->bound_host) * 3];
		const char *pct = strchr(s->bound_host, '%');

		if (pct != NULL)
			snprintf(h, sizeof(h), "%.*s%%25%s",
			    (int)(pct - s->bound_host), s->bound_host, pct + 1);
		else
			snprintf(h, sizeof(h), "%s", s->bound_host);
		snprintf(s->url, sizeof(s->url), s->ipv6 ? "https://[%s]:%u" :
		    "https://%s:%u", h, (unsigned)s->port);
	}
	/* The challenge the live service sends is
	 *   Bearer authorization="https://login.windows.net/TENANT",
	 *          resource="https://vault.azure.net"
	 * Here the authority is this server (its token endpoint), unless
	 * configured. */
	{
		char auth[512];
		size_t n;
		int w;

		if (o->challenge_authority != NULL && *o->challenge_authority)
			snprintf(auth, sizeof(auth), "%s", o->challenge_authority);
		else
			snprintf(auth, sizeof(auth), "%s/%s", s->url, s->tenant);
		w = snprintf(s->challenge, sizeof(s->challenge),
		    "Bearer authorization=\"%s\"", auth);
		n = w > 0 ? (size_t)w : 0;
		if (o->challenge_resource == NULL || *o->challenge_resource)
			snprintf(s->challenge + n, sizeof(s->challenge) - n,
			    ", resource=\"%s\"", s->resource);
		n = strlen(s->challenge);
		if (o->challenge_scope != NULL && *o->challenge_scope)
			snprintf(s->challenge + n, sizeof(s->challenge) - n,
			    ", scope=\"%s\"", o->challenge_scope);
	}
	/* The key count is read before requests may change it. */
	nkeys = s->store.n;
	atomic_store_explicit(&s->started, 1, memory_order_release);
	kvs_logf(s, "listening on %s (state %s, %zu keys)", s->url,
	    s->state_dir, nkeys);
	*out = s;
	return ATR_OK;
fail:
	atomic_store_explicit(&s->started, -1, memory_order_release);
	if (mu_ok) {
		/* Tear down what was built; the detail stays. */
		char detail[512];

		snprintf(detail, sizeof(detail), "%s", atr_detail());
		atr_kv_server_stop(s);
		atr_detail_set("%s", detail);
	} else {
		free(s);
	}
	return err;
}

void
atr_kv_server_stop(struct atr_kv_server *s)
{
	size_t i;

	if (s == NULL)
		return;
	atomic_store_explicit(&s->stopping, 1, memory_order_release);
	if (s->daemon != NULL)
		atr_mhd()->stop_daemon(s->daemon);
	/* The token dies with the server that honoured it. */
	if (s->admin_path[0] != '\0')
		unlink(s->admin_path);
	if (s->store.dir[0] != '\0')
		kvs_store_close(&s->store);
	for (i = 0; i < s->nclients; i++)
		atr_secure_free(s->clients[i].secret, s->clients[i].secret_len);
	free(s->clients);
	if (s->tls_key != NULL)
		atr_secure_free(s->tls_key, s->tls_key_len);
	free(s->tls_cert);
	if (s->lock_fd >= 0)
		close(s->lock_fd);
	pthread_mutex_destroy(&s->mu);
	atr_memzero(s, sizeof(*s));
	free(s);
}

unsigned short
atr_kv_server_port(const struct atr_kv_server *s)
{
	return s->port;
}

const char *
atr_kv_server_url(const struct atr_kv_server *s)
{
	return s->url;
}

const char *
atr_kv_server_ca_path(const struct atr_kv_server *s)
{
	return s->ca_path;
}

const char *
atr_kv_server_tenant(const struct atr_kv_server *s)
{
	return s->tenant;
}

const char *
atr_kv_server_client_id(const struct atr_kv_server *s)
{
	return s->client_id;
}

const char *
atr_kv_server_client_secret_path(const struct atr_kv_server *s)
{
	return s->secret_path;
}

const char *
atr_kv_server_challenge(const struct atr_kv_server *s)
{
	return s->challenge;
}

const char *
atr_kv_server_admin_token_path(const struct atr_kv_server *s)
{
	return s->admin ? s->admin_path : NULL;
}

const char *
atr_kv_server_mi_client_id(const struct atr_kv_server *s)
{
	return s->mi_enabled ? s->mi_client_id : NULL;
}

enum atr_kv_token_mode
atr_kv_server_token_mode(struct atr_kv_server *s)
{
	struct kvs_config c;

	kvs_config_get(s, &c);
	return c.token_mode;
}
