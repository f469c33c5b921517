/*
 * kv_server_util.c - the loopback Key Vault's small helpers: atomic
 * file writes, constant-time secret comparison, base64url with Key
 * Vault's strict alphabet, identifiers, name and text checks, form
 * decoding, timestamps, and the fault-injection grammar (docs/VAULT.md,
 * "Fault injection") as a spec string or JSON.
 */
#include "kv_server_int.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "codec.h"
#include "crypto.h"
#include "fsutil.h"
#include "json.h"

/* RFC 4648 section 5 with the padding left off, as every Key Vault
 * example does (JWK, RFC 7515 section 2); core/codec.h encodes. */
char *
kvs_b64url(const uint8_t *in, size_t len)
{
	size_t cap = atr_b64url_len(len) + 1;
	char *out = malloc(cap);

	if (out != NULL && atr_b64url_encode(in, len, out, cap) < 0) {
		free(out);
		out = NULL;
	}
	return out;
}

int
kvs_unb64url(const char *in, uint8_t **out, size_t *len)
{
	size_t n = strlen(in), cap = n / 4 * 3 + 3;
	uint8_t *buf;

	*out = NULL;
	*len = 0;
	buf = malloc(cap);
	if (buf == NULL)
		return -1;
	/* The URL alphabet only: '+' and '/' are refused, as the service
	 * refuses them; trailing '=' is tolerated (some clients pad). */
	if (atr_b64url_decode(in, n, 0, buf, cap, len) != 0) {
		free(buf);
		return -1;
	}
	*out = buf;
	return 0;
}

enum atr_err
kvs_write_file(const char *path, mode_t mode, const void *buf, size_t len)
{
	struct atr_outfile o;
	enum atr_err err = atr_out_begin(&o, path, mode);

	if (err != ATR_OK)
		return err;
	err = atr_write_all(o.fd, buf, len);
	if (err == ATR_OK)
		return atr_out_commit(&o, 0);
	atr_out_abort(&o);
	return err;
}

int
kvs_secret_equal(const void *a, size_t alen, const void *b, size_t blen)
{
	uint8_t da[32], db[32];
	int ok = 0;

	/* Digests compared in constant time: neither the bytes nor the
	 * lengths show in the timing. */
	if (atr_sha256(a, alen, da) == ATR_OK &&
	    atr_sha256(b, blen, db) == ATR_OK)
		ok = atr_ct_equal(da, db, sizeof(da));
	atr_memzero(da, sizeof(da));
	atr_memzero(db, sizeof(db));
	return ok;
}

void
kvs_uuid(char out[37])
{
	uint8_t r[16];
	char hex[33];

	if (atr_random(r, sizeof(r)) != ATR_OK)
		memset(r, 0x5a, sizeof(r));
	/* RFC 4122 section 4.4: version 4, variant 10. */
	r[6] = (uint8_t)((r[6] & 0x0f) | 0x40);
	r[8] = (uint8_t)((r[8] & 0x3f) | 0x80);
	atr_hex(r, sizeof(r), hex);
	snprintf(out, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12,
	    hex + 16, hex + 20);
}

void
kvs_hex_id(char out[KVS_VERSION_LEN + 1])
{
	uint8_t r[KVS_VERSION_LEN / 2];

	if (atr_random(r, sizeof(r)) != ATR_OK)
		memset(r, 0xa5, sizeof(r));
	atr_hex(r, sizeof(r), out);
}

int
kvs_name_valid(const char *name)
{
	size_t i, n = strlen(name);

	if (n == 0 || n > KVS_NAME_MAX)
		return 0;
	/* Explicit ranges, not isalnum(): in a Latin-1 locale isalnum()
	 * takes bytes above 0x7f, which key_path() would not lower-case. */
	for (i = 0; i < n; i++) {
		char c = name[i];

		if (!(c >= '0' && c <= '9') && !(c >= 'a' && c <= 'z') &&
		    !(c >= 'A' && c <= 'Z') && c != '-')
			return 0;
	}
	return 1;
}

int
kvs_text_valid(const char *s, size_t max_chars)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = 0;

	while (*p != '\0') {
		uint32_t cp, min;
		unsigned need, i;

		if (*p < 0x80) {
			if (*p < 0x20 || *p == 0x7f)
				return 0;
			p++;
		} else {
			/* RFC 3629 section 4: lead bytes C2..F4. */
			if (*p >= 0xc2 && *p <= 0xdf)
				need = 1, cp = *p & 0x1fU, min = 0x80;
			else if (*p >= 0xe0 && *p <= 0xef)
				need = 2, cp = *p & 0x0fU, min = 0x800;
			else if (*p >= 0xf0 && *p <= 0xf4)
				need = 3, cp = *p & 0x07U, min = 0x10000;
			else
				return 0;
			p++;
			/* A NUL ends the loop here: 0 is no continuation. */
			for (i = 0; i < need; i++) {
				if ((p[i] & 0xc0) != 0x80)
					return 0;
				cp = cp << 6 | (p[i] & 0x3fU);
			}
			/* Overlong forms, surrogates, above U+10FFFF. */
			if (cp < min || cp > 0x10ffff ||
			    (cp >= 0xd800 && cp <= 0xdfff))
				return 0;
			p += need;
		}
		if (++n > max_chars)
			return 0;
	}
	return 1;
}

int
kvs_json_text_valid(const cJSON *j, unsigned depth)
{
	const cJSON *it;

	if (depth == 0)
		return 0;
	cJSON_ArrayForEach(it, j) {
		if (it->string != NULL && !kvs_text_valid(it->string,
		    KVS_BODY_MAX))
			return 0;
		if (cJSON_IsString(it) && !kvs_text_valid(it->valuestring,
		    KVS_BODY_MAX))
			return 0;
		if ((cJSON_IsObject(it) || cJSON_IsArray(it)) &&
		    !kvs_json_text_valid(it, depth - 1))
			return 0;
	}
	return 1;
}

int
kvs_form_get(const char *body, size_t len, const char *key, char *out,
    size_t cap)
{
	size_t klen = strlen(key), i = 0;

	while (i < len) {
		size_t start = i, end, o = 0;

		while (i < len && body[i] != '&')
			i++;
		end = i;
		i++;
		if (end - start <= klen || memcmp(body + start, key, klen) != 0 ||
		    body[start + klen] != '=')
			continue;
		/* application/x-www-form-urlencoded (HTML 4.01 17.13.4). */
		for (start += klen + 1; start < end; start++) {
			int c = (unsigned char)body[start];

			if (c == '+') {
				c = ' ';
			} else if (c == '%') {
				int hi, lo;

				if (end - start < 3)
					return -1;
				hi = atr_hexval((unsigned char)body[start + 1]);
				lo = atr_hexval((unsigned char)body[start + 2]);
				if (hi < 0 || lo < 0)
					return -1;
				c = hi << 4 | lo;
				start += 2;
			}
			if (o + 1 >= cap || c == 0) {
				atr_memzero(out, cap);
				return -1;
			}
			out[o++] = (char)c;
		}
		out[o] = '\0';
		return 1;
	}
	return 0;
}

void
kvs_timestamp(int64_t t, char *out, size_t cap)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL ||
	    strftime(out, cap, "%Y-%m-%d %H:%M:%SZ", &tm) == 0)
		snprintf(out, cap, "1970-01-01 00:00:00Z");
}

/* ------------------------------------------------------------------ */

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
