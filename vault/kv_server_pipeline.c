/*
 * kv_server_pipeline.c - the order in which the loopback Key Vault
 * judges a vault API request once its body is in: authentication was
 * done from the headers (kv_server_http.c), then injected faults, the
 * route, api-version, the key name and version, the service limits,
 * and last the handler (kv_server_route.c dispatches).  Also the
 * per-vault limit windows and the statistics the public API reads.
 */
#include "kv_server_int.h"

#include <errno.h>
#include <math.h>
#include <string.h>
#include <time.h>

#include "crypto.h"

#define LATEST_API_VERSION "2025-07-01"

/* ------------------------------------------------------------------ */
/* Limits and statistics */

/* Budgets per 10 s ("Azure Key Vault service limits",
 * https://learn.microsoft.com/en-us/azure/key-vault/general/service-limits):
 * vault transactions 4000; key "all other" 4000 units weighted by type
 * (kvs_route_classify); CREATE 20 units. */
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

void
atr_kv_server_get_stats(struct atr_kv_server *s, struct atr_kv_server_stats *st)
{
	pthread_mutex_lock(&s->mu);
	*st = s->stats.pub;
	pthread_mutex_unlock(&s->mu);
}

/* ------------------------------------------------------------------ */
/* The steps: each answers and returns 1, or returns 0 to go on */

static void
reply_throttled(struct kvs_http *h)
{
	kvs_reply_error(h, 429, "Throttled", NULL, "Request was not "
	    "processed because too many requests were received. Reason: "
	    "VaultRequestTypeLimitReached");
}

/* Injected faults: a delay, then a drop (-1: the caller closes the
 * connection without an answer) or a status (1), or nothing (0). */
static int
inject_fault(struct kvs_http *h, enum kvs_op op)
{
	struct kvs_fault_pick fp;

	kvs_fault_decide(h->s, op, &fp);
	if (fp.delay_ms > 0)
		kvs_fault_sleep(h->s, fp.delay_ms);
	if (fp.drop) {
		h->note = "fault=drop";
		return -1;
	}
	if (fp.status == 0)
		return 0;
	h->retry_after = fp.retry_after;
	h->note = "fault";
	if (fp.status == 429)
		reply_throttled(h);
	else if (fp.status == 503)
		kvs_reply_unavailable(h);
	else
		kvs_reply_error(h, fp.status, "InternalServerError", NULL,
		    "An internal server error occurred.");
	return 1;
}

/* A path or method kvs_route_parse did not match. */
static int
route_refused(struct kvs_http *h, const struct kvs_route *r)
{
	if (r->status == 405)
		kvs_reply_error(h, 405, "MethodNotAllowed", NULL, "The "
		    "requested resource does not support http method '%s'.",
		    h->method);
	else if (r->status == 501)
		kvs_reply_error(h, 501, "NotImplemented", NULL, "This "
		    "operation is not implemented by the loopback server.");
	else if (r->status != 0)
		kvs_reply_error(h, 404, "NotFound", NULL,
		    "The requested resource was not found.");
	return r->status != 0;
}

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

/* api-version: mandatory, no default; sets h->api_version. */
static int
api_version_refused(struct kvs_http *h, const struct kvs_config *c)
{
	h->api_version = kvs_query(h, "api-version");
	if (h->api_version == NULL || *h->api_version == '\0') {
		kvs_reply_error(h, 400, "BadParameter", NULL, "The "
		    "api-version query parameter (?api-version=) is required "
		    "for all requests.");
		return 1;
	}
	if (c->api_version_strict && !api_version_known(h->api_version)) {
		/* The service's text (azure-sdk-for-python #28595). */
		kvs_reply_error(h, 400, "BadParameter", NULL, "The specified "
		    "version (%.40s) is not recognized. Consider using the "
		    "latest supported version (%s).", h->api_version,
		    LATEST_API_VERSION);
		return 1;
	}
	return 0;
}

/* The per-vault service limits, when on. */
static int
throttled(struct kvs_http *h, const struct kvs_route *r,
    const struct kvs_config *c)
{
	enum kvs_lim_bucket b;
	unsigned cost;
	int retry = -1;

	if (!c->limits)
		return 0;
	kvs_route_classify(h, r, &b, &cost);
	if (limit_take(h->s, b, cost, c->limit_scale, &retry))
		return 0;
	/* "Azure Key Vault throttling guidance" asks clients to back off
	 * exponentially and names no Retry-After header
	 * (https://learn.microsoft.com/en-us/azure/key-vault/general/overview-throttling):
	 * sending one is a switch. */
	h->retry_after = c->throttle_retry_after ? retry : -1;
	h->note = "throttled";
	reply_throttled(h);
	return 1;
}

int
kvs_vault_request(struct kvs_http *h)
{
	struct atr_kv_server *s = h->s;
	struct kvs_route r;
	struct kvs_config c;
	int fault;

	kvs_route_parse(h->method, h->path, &r);
	fault = inject_fault(h, r.op);
	if (fault != 0)
		return fault > 0;
	if (route_refused(h, &r))
		return 1;
	kvs_config_get(s, &c);
	if (api_version_refused(h, &c) || !kvs_route_check(h, &r) ||
	    throttled(h, &r, &c))
		return 1;
	pthread_mutex_lock(&s->mu);
	s->stats.ops[r.op]++;
	pthread_mutex_unlock(&s->mu);
	kvs_route_dispatch(h, &r);
	return 1;
}
