/*
 * kv_server_faults.c - the loopback Key Vault's fault injection: the
 * grammar (docs/VAULT.md, "Fault injection") as a spec string or as
 * the admin API's JSON, the operation names its ops= filter and the
 * statistics use, and the injector: latency with jitter, injected
 * statuses and dropped connections, drawn from a seedable generator.
 */
#include "kv_server_int.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "crypto.h"

/* ------------------------------------------------------------------ */
/* The grammar */

const int kvs_fault_status[KVS_FAULT_NSTATUS] = {429, 500, 502, 503, 504};

static const char *const op_names[KVS_OP__COUNT] = {
	[KVS_OP_OTHER] = "other",
	[KVS_OP_CREATE] = "create",
	[KVS_OP_IMPORT] = "import",
	[KVS_OP_GET] = "get",
	[KVS_OP_UPDATE] = "update",
	[KVS_OP_ROTATE] = "rotate",
	[KVS_OP_VERSIONS] = "versions",
	[KVS_OP_LIST] = "list",
	[KVS_OP_DELETE] = "delete",
	[KVS_OP_GET_DELETED] = "getdeleted",
	[KVS_OP_LIST_DELETED] = "listdeleted",
	[KVS_OP_RECOVER] = "recover",
	[KVS_OP_PURGE] = "purge",
	[KVS_OP_WRAP] = "wrapkey",
	[KVS_OP_UNWRAP] = "unwrapkey",
	[KVS_OP_ENCRYPT] = "encrypt",
	[KVS_OP_DECRYPT] = "decrypt",
	[KVS_OP_GET_POLICY] = "getrotationpolicy",
	[KVS_OP_SET_POLICY] = "setrotationpolicy",
};

const char *
kvs_op_name(enum kvs_op op)
{
	if ((unsigned)op >= KVS_OP__COUNT)
		return "other";
	return op_names[op];
}

int
kvs_op_parse(const char *s, uint32_t *mask)
{
	size_t i;

	if (strcasecmp(s, "all") == 0) {
		*mask |= (1U << KVS_OP__COUNT) - 1;
		return 0;
	}
	if (strcasecmp(s, "crypto") == 0) {
		*mask |= 1U << KVS_OP_WRAP | 1U << KVS_OP_UNWRAP |
		    1U << KVS_OP_ENCRYPT | 1U << KVS_OP_DECRYPT;
		return 0;
	}
	if (strcasecmp(s, "wrap") == 0)
		s = "wrapkey";
	else if (strcasecmp(s, "unwrap") == 0)
		s = "unwrapkey";
	for (i = 0; i < KVS_OP__COUNT; i++)
		if (strcasecmp(s, op_names[i]) == 0) {
			*mask |= 1U << i;
			return 0;
		}
	return -1;
}

/* "5ms", "2s", "300us" (rounded up to ms), bare numbers are ms. */
static int
parse_duration_ms(const char *v, unsigned *out)
{
	char *end;
	double d;

	errno = 0;
	d = strtod(v, &end);
	if (end == v || errno != 0 || d < 0 || !isfinite(d))
		return -1;
	if (*end == '\0' || strcmp(end, "ms") == 0)
		;
	else if (strcmp(end, "s") == 0)
		d *= 1000.0;
	else if (strcmp(end, "us") == 0)
		d = ceil(d / 1000.0);
	else
		return -1;
	if (d > 600000.0)
		return -1;
	*out = (unsigned)ceil(d);
	return 0;
}

/* "0.1" or "10%". */
static int
parse_prob(const char *v, double *out)
{
	char *end;
	double d;

	errno = 0;
	d = strtod(v, &end);
	if (end == v || errno != 0 || !isfinite(d))
		return -1;
	if (strcmp(end, "%") == 0)
		d /= 100.0;
	else if (*end != '\0')
		return -1;
	if (d < 0.0 || d > 1.0)
		return -1;
	*out = d;
	return 0;
}

static enum atr_err
fault_set(struct kvs_faults *f, const char *k, const char *v)
{
	size_t i;

	if (strcmp(k, "latency") == 0) {
		if (parse_duration_ms(v, &f->latency_ms) != 0)
			goto bad;
		return ATR_OK;
	}
	if (strcmp(k, "jitter") == 0) {
		if (parse_duration_ms(v, &f->jitter_ms) != 0)
			goto bad;
		return ATR_OK;
	}
	if (strcmp(k, "drop") == 0) {
		if (parse_prob(v, &f->p_drop) != 0)
			goto bad;
		return ATR_OK;
	}
	if (strcmp(k, "retry-after") == 0) {
		char *end;
		long n;

		if (strcmp(v, "none") == 0 || strcmp(v, "off") == 0) {
			f->retry_after = -1;
			return ATR_OK;
		}
		errno = 0;
		n = strtol(v, &end, 10);
		if (end == v || *end != '\0' || errno != 0 || n < 0 ||
		    n > 86400)
			goto bad;
		f->retry_after = (int)n;
		return ATR_OK;
	}
	if (strcmp(k, "seed") == 0) {
		char *end;
		unsigned long long n;

		errno = 0;
		n = strtoull(v, &end, 10);
		if (end == v || *end != '\0' || errno != 0)
			goto bad;
		f->seed = n;
		f->has_seed = 1;
		return ATR_OK;
	}
	if (strcmp(k, "ops") == 0) {
		char buf[256], *p, *q;

		if (strlen(v) >= sizeof(buf))
			goto bad;
		snprintf(buf, sizeof(buf), "%s", v);
		f->ops = 0;
		/* '+' or '|' separate ops: ',' already separates settings. */
		for (p = buf; p != NULL; p = q) {
			q = strpbrk(p, "+|");
			if (q != NULL)
				*q++ = '\0';
			if (kvs_op_parse(p, &f->ops) != 0)
				return atr_fail(ATR_ERR_USAGE,
				    "fault spec: unknown operation '%s'", p);
		}
		return ATR_OK;
	}
	for (i = 0; i < KVS_FAULT_NSTATUS; i++) {
		char code[8];

		snprintf(code, sizeof(code), "%d", kvs_fault_status[i]);
		if (strcmp(k, code) == 0) {
			if (parse_prob(v, &f->p_status[i]) != 0)
				goto bad;
			return ATR_OK;
		}
	}
	return atr_fail(ATR_ERR_USAGE, "fault spec: unknown setting '%s' "
	    "(latency jitter 429 500 502 503 504 drop retry-after ops seed)", k);
bad:
	return atr_fail(ATR_ERR_USAGE, "fault spec: bad value '%s' for %s",
	    v, k);
}

static enum atr_err
faults_check(const struct kvs_faults *f)
{
	double sum = f->p_drop;
	size_t i;

	for (i = 0; i < KVS_FAULT_NSTATUS; i++)
		sum += f->p_status[i];
	if (sum > 1.0 + 1e-9)
		return atr_fail(ATR_ERR_USAGE,
		    "fault spec: probabilities add up to more than 1");
	return ATR_OK;
}

static void
faults_clear(struct kvs_faults *f)
{
	memset(f, 0, sizeof(*f));
	f->retry_after = -1;
}

enum atr_err
kvs_faults_parse(const char *spec, struct kvs_faults *out)
{
	struct kvs_faults f;
	char buf[1024], *p, *q;
	enum atr_err err;

	faults_clear(&f);
	if (spec == NULL || *spec == '\0' || strcmp(spec, "none") == 0) {
		*out = f;
		return ATR_OK;
	}
	if (strlen(spec) >= sizeof(buf))
		return atr_fail(ATR_ERR_USAGE, "fault spec too long");
	snprintf(buf, sizeof(buf), "%s", spec);
	for (p = buf; p != NULL; p = q) {
		char *eq;

		q = strchr(p, ',');
		if (q != NULL)
			*q++ = '\0';
		while (*p == ' ')
			p++;
		if (*p == '\0')
			continue;
		eq = strchr(p, '=');
		if (eq == NULL)
			return atr_fail(ATR_ERR_USAGE,
			    "fault spec: '%s' is not KEY=VALUE", p);
		*eq = '\0';
		err = fault_set(&f, p, eq + 1);
		if (err != ATR_OK)
			return err;
	}
	err = faults_check(&f);
	if (err != ATR_OK)
		return err;
	*out = f;
	return ATR_OK;
}

enum atr_err
kvs_faults_from_json(const cJSON *j, struct kvs_faults *out)
{
	struct kvs_faults f;
	const cJSON *it;
	enum atr_err err;

	if (!cJSON_IsObject(j))
		return atr_fail(ATR_ERR_USAGE, "faults: expected a JSON object");
	it = cJSON_GetObjectItemCaseSensitive(j, "spec");
	if (cJSON_IsString(it))
		return kvs_faults_parse(it->valuestring, out);
	faults_clear(&f);
	cJSON_ArrayForEach(it, j) {
		char v[256];

		if (it->string == NULL)
			continue;
		if (cJSON_IsString(it))
			snprintf(v, sizeof(v), "%s", it->valuestring);
		else if (cJSON_IsNumber(it))
			snprintf(v, sizeof(v), "%.17g", it->valuedouble);
		else if (cJSON_IsNull(it) &&
		    strcmp(it->string, "retry-after") == 0)
			snprintf(v, sizeof(v), "none");
		else
			return atr_fail(ATR_ERR_USAGE,
			    "faults: bad value for %s", it->string);
		err = fault_set(&f, it->string, v);
		if (err != ATR_OK)
			return err;
	}
	err = faults_check(&f);
	if (err != ATR_OK)
		return err;
	*out = f;
	return ATR_OK;
}

cJSON *
kvs_faults_json(const struct kvs_faults *f)
{
	cJSON *j = cJSON_CreateObject();
	char spec[1024];
	size_t i, o = 0;
	int n;

#define SPEC_ADD(...) do { \
	n = snprintf(spec + o, sizeof(spec) - o, __VA_ARGS__); \
	if (n > 0 && (size_t)n < sizeof(spec) - o) \
		o += (size_t)n; \
} while (0)
	spec[0] = '\0';
	if (j == NULL)
		return NULL;
	cJSON_AddNumberToObject(j, "latency_ms", f->latency_ms);
	cJSON_AddNumberToObject(j, "jitter_ms", f->jitter_ms);
	if (f->latency_ms)
		SPEC_ADD("%slatency=%ums", o ? "," : "", f->latency_ms);
	if (f->jitter_ms)
		SPEC_ADD("%sjitter=%ums", o ? "," : "", f->jitter_ms);
	for (i = 0; i < KVS_FAULT_NSTATUS; i++) {
		char code[8];

		snprintf(code, sizeof(code), "%d", kvs_fault_status[i]);
		cJSON_AddNumberToObject(j, code, f->p_status[i]);
		if (f->p_status[i] > 0)
			SPEC_ADD("%s%s=%g", o ? "," : "", code, f->p_status[i]);
	}
	cJSON_AddNumberToObject(j, "drop", f->p_drop);
	if (f->p_drop > 0)
		SPEC_ADD("%sdrop=%g", o ? "," : "", f->p_drop);
	if (f->retry_after >= 0) {
		cJSON_AddNumberToObject(j, "retry-after", f->retry_after);
		SPEC_ADD("%sretry-after=%d", o ? "," : "", f->retry_after);
	} else {
		cJSON_AddNullToObject(j, "retry-after");
	}
	if (f->ops != 0) {
		cJSON *a = cJSON_AddArrayToObject(j, "ops");

		SPEC_ADD("%sops=", o ? "," : "");
		for (i = 0; i < KVS_OP__COUNT; i++)
			if (f->ops & (1U << i)) {
				cJSON_AddItemToArray(a,
				    cJSON_CreateString(op_names[i]));
				SPEC_ADD("%s%s", spec[o - 1] == '=' ? "" : "+",
				    op_names[i]);
			}
	}
	if (f->has_seed)
		SPEC_ADD("%sseed=%llu", o ? "," : "",
		    (unsigned long long)f->seed);
	cJSON_AddStringToObject(j, "spec", spec);
#undef SPEC_ADD
	return j;
}

/* ------------------------------------------------------------------ */
/* The injector */

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

void
kvs_faults_install(struct atr_kv_server *s, const struct kvs_faults *f)
{
	pthread_mutex_lock(&s->mu);
	s->faults = *f;
	rng_seed(s, f);
	pthread_mutex_unlock(&s->mu);
}

enum atr_err
atr_kv_server_set_faults(struct atr_kv_server *s, const char *spec)
{
	struct kvs_faults f;
	enum atr_err err = kvs_faults_parse(spec, &f);

	if (err != ATR_OK)
		return err;
	kvs_faults_install(s, &f);
	return ATR_OK;
}

void
kvs_fault_decide(struct atr_kv_server *s, enum kvs_op op,
    struct kvs_fault_pick *p)
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
void
kvs_fault_sleep(struct atr_kv_server *s, unsigned ms)
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
