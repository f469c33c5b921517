/*
 * kv_parse.c - the pure parts of the Key Vault client: key identifiers,
 * WWW-Authenticate challenges, Retry-After, error bodies and KeyBundle
 * documents (base64url is core/codec.h's).  No I/O here, so all of it
 * is unit-tested without a server.
 */
#include <arpa/inet.h>
#include <netinet/in.h>

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "crypto.h"
#include "keyuri.h"
#include "kv_client.h"
#include "curl_dl.h"
#include "jwk.h"
#include "codec.h"

#define MSG_MAX 240U   /* bytes of a service message kept in a detail */
/* Bounds of the integers a KeyBundle may carry.  Dates are IntDate
 * seconds (RFC 7519 NumericDate) up to ATR_DATE_MAX; Key Vault
 * keeps deleted keys for 7 to 90 days; RSA keys go to 4096 bits on the
 * service (8192 here), AES to 256. */
#define RECOVERABLE_DAYS_MAX 3650LL
#define KEY_SIZE_MAX 16384LL

static int
host_char(int ch)
{
	return isalnum((unsigned char)ch) || ch == '-' || ch == '.';
}

/* The URI as messages show it: never its user information or query,
 * which may carry a secret (core/keyuri.h). */
static const char *
shown(const char *uri, char *buf, size_t cap)
{
	atr_key_uri_redact(uri, buf, cap);
	return buf;
}
#define SHOWN_MAX 208U
#define SHOWN(u) shown((u), sb, sizeof(sb))

/* A character for a message: printable ASCII, else '?'. */
static int
showch(int c)
{
	return c > 0x20 && c < 0x7f ? c : '?';
}

/*
 * Parses "https://HOST[:PORT]" at the start of s and leaves *rest at the
 * path.  RFC 3986 3.2: no user info accepted (a token must not be sent
 * where a URI with credentials points), host a DNS name, IPv4 or a
 * bracketed IPv6 literal.
 */
static enum atr_err
parse_origin(const char *s, struct atr_kv_kid *out, const char **rest)
{
	const char *p, *h, *he;
	char sb[SHOWN_MAX];
	size_t hl, i;
	unsigned long port = 443;

	if (strncasecmp(s, "https://", 8) != 0)
		return atr_fail(ATR_ERR_CONFIG,
		    "%s: a Key Vault URI must start with https://", SHOWN(s));
	h = s + 8;
	if (*h == '[') {
		he = strchr(h, ']');
		if (he == NULL)
			return atr_fail(ATR_ERR_CONFIG,
			    "%s: unterminated IPv6 address", SHOWN(s));
		for (p = h + 1; p < he; p++)
			if (!isxdigit((unsigned char)*p) && *p != ':' &&
			    *p != '.')
				return atr_fail(ATR_ERR_CONFIG,
				    "%s: bad IPv6 address", SHOWN(s));
		he++;
	} else {
		for (he = h; host_char(*he); he++)
			;
	}
	hl = (size_t)(he - h);
	if (hl == 0 || hl > ATR_KV_HOST_MAX)
		return atr_fail(ATR_ERR_CONFIG, "%s: %s host name", SHOWN(s),
		    hl == 0 ? "missing" : "too long a");
	if (*he == '@' || memchr(h, '@', strcspn(h, "/")) != NULL)
		return atr_fail(ATR_ERR_CONFIG,
		    "%s: user information is not allowed in a vault URI",
		    SHOWN(s));
	p = he;
	if (*p == ':') {
		char *end;

		p++;
		if (!isdigit((unsigned char)*p))
			return atr_fail(ATR_ERR_CONFIG, "%s: bad port",
			    SHOWN(s));
		errno = 0;
		port = strtoul(p, &end, 10);
		if (errno != 0 || port == 0 || port > 65535 || end - p > 5)
			return atr_fail(ATR_ERR_CONFIG, "%s: bad port",
			    SHOWN(s));
		p = end;
	}
	if (*p != '\0' && *p != '/')
		return atr_fail(ATR_ERR_CONFIG,
		    "%s: unexpected character '%c' after the host", SHOWN(s),
		    showch(*p));
	for (i = 0; i < hl; i++)
		out->host[i] = (char)tolower((unsigned char)h[i]);
	out->host[hl] = '\0';
	out->port = (unsigned)port;
	if (port == 443) {
		snprintf(out->origin, sizeof(out->origin), "https://%s",
		    out->host);
		snprintf(out->hostport, sizeof(out->hostport), "%s",
		    out->host);
	} else {
		snprintf(out->origin, sizeof(out->origin), "https://%s:%u",
		    out->host, out->port);
		snprintf(out->hostport, sizeof(out->hostport), "%s:%u",
		    out->host, out->port);
	}
	*rest = p;
	return ATR_OK;
}

enum atr_err
atr_kv_parse_vault_url(const char *url, struct atr_kv_kid *out)
{
	const char *rest;
	char sb[SHOWN_MAX];
	enum atr_err err;

	memset(out, 0, sizeof(*out));
	if (url == NULL)
		return atr_fail(ATR_ERR_CONFIG, "missing vault URL");
	err = parse_origin(url, out, &rest);
	if (err != ATR_OK)
		return err;
	if (*rest == '/')
		rest++;
	if (*rest != '\0')
		return atr_fail(ATR_ERR_CONFIG, "%s: a vault URL has no path "
		    "(expected https://HOST[:PORT])", SHOWN(url));
	return ATR_OK;
}

enum atr_err
atr_kv_parse_kid(const char *uri, struct atr_kv_kid *out)
{
	const char *rest, *p;
	char sb[SHOWN_MAX];
	enum atr_err err;
	size_t n;

	memset(out, 0, sizeof(*out));
	if (uri == NULL)
		return atr_fail(ATR_ERR_CONFIG, "missing key URI");
	err = parse_origin(uri, out, &rest);
	if (err != ATR_OK)
		return err;
	if (strncasecmp(rest, "/keys/", 6) != 0)
		return atr_fail(ATR_ERR_CONFIG,
		    "%s: expected https://HOST[:PORT]/keys/NAME[/VERSION]",
		    SHOWN(uri));
	p = rest + 6;
	for (n = 0; atr_kv_name_char((unsigned char)p[n]); n++)
		;
	if (n == 0 || n > ATR_KV_NAME_MAX)
		return atr_fail(ATR_ERR_CONFIG, "%s: the key name must be 1 to "
		    "%u letters, digits or '-'", SHOWN(uri), ATR_KV_NAME_MAX);
	memcpy(out->name, p, n);
	out->name[n] = '\0';
	p += n;
	if (*p == '/') {
		p++;
		for (n = 0; isalnum((unsigned char)p[n]); n++)
			;
		if (n > ATR_KV_VERSION_MAX)
			return atr_fail(ATR_ERR_CONFIG, "%s: the key version "
			    "is longer than %u characters", SHOWN(uri),
			    ATR_KV_VERSION_MAX);
		memcpy(out->version, p, n);
		out->version[n] = '\0';
		p += n;
		if (n > 0 && *p == '/')
			p++;
	}
	if (*p != '\0')
		return atr_fail(ATR_ERR_CONFIG,
		    "%s: unexpected '%c' in the key path (expected "
		    "/keys/NAME[/VERSION], letters, digits and '-' only)",
		    SHOWN(uri), showch(*p));
	return ATR_OK;
}

int
atr_kv_same_vault(const struct atr_kv_kid *a, const struct atr_kv_kid *b)
{
	return a->port == b->port && strcasecmp(a->host, b->host) == 0;
}

int
atr_kv_kid_matches(const struct atr_kv_kid *vault, const char *kid,
    const char *name, const char *version, struct atr_kv_kid *out)
{
	struct atr_kv_kid tmp;

	if (out == NULL)
		out = &tmp;
	if (kid == NULL || strlen(kid) > ATR_KEYID_MAX ||
	    atr_kv_parse_kid(kid, out) != ATR_OK) {
		/* The caller says what was wrong, without this reason. */
		atr_detail_clear();
		return 0;
	}
	/* Same origin (the scheme is always https), the same key (Key
	 * Vault names are case-insensitive), a version always, and the
	 * asked-for one when there was one. */
	return out->version[0] != '\0' && atr_kv_same_vault(out, vault) &&
	    strcasecmp(out->name, name) == 0 &&
	    (version == NULL || *version == '\0' ||
	    strcasecmp(out->version, version) == 0);
}

int
atr_kv_host_is_loopback(const char *host)
{
	struct in_addr a4;
	struct in6_addr a6;
	char lit[INET6_ADDRSTRLEN + 1];
	size_t n = strlen(host);

	if (strcasecmp(host, "localhost") == 0)
		return 1;
	/* 127.0.0.0/8 (RFC 1122 3.2.1.3), as a literal only: a name that
	 * merely starts with "127." is resolved like any other. */
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (n < 3 || n - 2 >= sizeof(lit) || host[0] != '[' ||
	    host[n - 1] != ']')
		return 0;
	memcpy(lit, host + 1, n - 2);
	lit[n - 2] = '\0';
	if (inet_pton(AF_INET6, lit, &a6) != 1)
		return 0;
	/* ::1 (RFC 4291 2.5.3), or 127/8 mapped (::ffff:127.x.y.z). */
	return IN6_IS_ADDR_LOOPBACK(&a6) ||
	    (IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127);
}

int
atr_kv_ops_parse_list(const char *list, unsigned *mask)
{
	char one[32];
	const char *p = list;
	unsigned m = 0, bit;
	size_t n;

	while (*p != '\0') {
		n = strcspn(p, ", ");
		if (n == 0) {
			p++;
			continue;
		}
		if (n >= sizeof(one))
			return -1;
		memcpy(one, p, n);
		one[n] = '\0';
		bit = atr_jwk_op_parse(one);
		if (bit == 0)
			return -1;
		m |= bit;
		p += n;
	}
	*mask = m;
	return 0;
}

struct cJSON *
atr_kv_ops_json(unsigned mask)
{
	cJSON *a = cJSON_CreateArray();
	unsigned bit;

	if (a == NULL)
		return NULL;
	for (bit = 1; bit <= ATR_JWK_EXPORT; bit <<= 1)
		if ((mask & bit) != 0 &&
		    !cJSON_AddItemToArray(a,
		    cJSON_CreateString(atr_jwk_op_name(bit)))) {
			cJSON_Delete(a);
			return NULL;
		}
	return a;
}

const char *
atr_kv_alg_for(enum atr_wrap_alg a)
{
	switch (a) {
	case ATR_WRAP_RSA_OAEP_256:
		return "RSA-OAEP-256";
	case ATR_WRAP_RSA_OAEP_SHA1:
		return "RSA-OAEP";
	case ATR_WRAP_AES_KW:
		return "A256KW";
	case ATR_WRAP_AES_KWP:
		break;
	}
	return NULL;
}

int
atr_kv_alg_parse(const char *name, enum atr_wrap_alg *out)
{
	if (strcasecmp(name, "RSA-OAEP-256") == 0)
		*out = ATR_WRAP_RSA_OAEP_256;
	else if (strcasecmp(name, "RSA-OAEP") == 0)
		*out = ATR_WRAP_RSA_OAEP_SHA1;
	else if (strcasecmp(name, "A256KW") == 0)
		*out = ATR_WRAP_AES_KW;
	else
		return -1;
	return 0;
}

/* Copies a value into a fixed field; 0 ok, -1 when it does not fit. */
static int
setfield(char *dst, size_t cap, const char *v, size_t n)
{
	if (n >= cap)
		return -1;
	memcpy(dst, v, n);
	dst[n] = '\0';
	return 0;
}

/*
 * WWW-Authenticate (RFC 9110 11.6.1): one or more challenges, each a
 * scheme then comma-separated auth-params (token = token / quoted-
 * string).  A token not followed by '=' starts the next challenge.
 */
int
atr_kv_parse_challenge(const char *header, struct atr_kv_challenge *out)
{
	const char *p = header, *k, *v;
	size_t kl, vl;
	char val[512];
	int bearer = 0, seen = 0;

	memset(out, 0, sizeof(*out));
	if (header == NULL)
		return -1;
	for (;;) {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (*p == '\0')
			break;
		k = p;
		while (*p != '\0' && *p != '=' && *p != ' ' && *p != '\t' &&
		    *p != ',')
			p++;
		kl = (size_t)(p - k);
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p != '=') {
			/* A new scheme. */
			bearer = kl == 6 && strncasecmp(k, "Bearer", 6) == 0;
			if (bearer)
				seen = 1;
			continue;
		}
		p++;
		while (*p == ' ' || *p == '\t')
			p++;
		vl = 0;
		if (*p == '"') {
			p++;
			while (*p != '\0' && *p != '"') {
				if (*p == '\\' && p[1] != '\0')
					p++;
				if (vl + 1 < sizeof(val))
					val[vl++] = *p;
				p++;
			}
			if (*p == '"')
				p++;
		} else {
			v = p;
			while (*p != '\0' && *p != ',' && *p != ' ' &&
			    *p != '\t')
				p++;
			vl = (size_t)(p - v);
			if (vl >= sizeof(val))
				vl = sizeof(val) - 1;
			memcpy(val, v, vl);
		}
		val[vl] = '\0';
		if (!bearer)
			continue;
		if ((kl == 13 && strncasecmp(k, "authorization", 13) == 0) ||
		    (kl == 17 && strncasecmp(k, "authorization_uri", 17) == 0))
			(void)setfield(out->authorization,
			    sizeof(out->authorization), val, vl);
		else if (kl == 8 && strncasecmp(k, "resource", 8) == 0)
			(void)setfield(out->resource, sizeof(out->resource),
			    val, vl);
		else if (kl == 5 && strncasecmp(k, "scope", 5) == 0)
			(void)setfield(out->scope, sizeof(out->scope), val, vl);
		else if (kl == 5 && strncasecmp(k, "error", 5) == 0)
			(void)setfield(out->error, sizeof(out->error), val, vl);
	}
	if (!seen || (out->authorization[0] == '\0' &&
	    out->resource[0] == '\0' && out->scope[0] == '\0'))
		return -1;
	/* The tenant is the authority URL's first path segment. */
	if (out->authorization[0] != '\0') {
		const char *a = strstr(out->authorization, "://");
		const char *t;

		a = a != NULL ? a + 3 : out->authorization;
		t = strchr(a, '/');
		if (t != NULL) {
			t++;
			(void)setfield(out->tenant, sizeof(out->tenant), t,
			    strcspn(t, "/?#"));
		}
	}
	/* SDKs: scope = resource + "/.default" when only resource is given. */
	if (out->scope[0] == '\0' && out->resource[0] != '\0') {
		size_t rl = strlen(out->resource);

		while (rl > 0 && out->resource[rl - 1] == '/')
			rl--;
		if (rl + 10 >= sizeof(out->scope))
			return -1;
		snprintf(out->scope, sizeof(out->scope), "%.*s/.default",
		    (int)rl, out->resource);
	}
	return 0;
}

/*
 * The DNS zones of the two key services and the one token audience
 * each takes ("About keys", data-plane endpoint base URLs:
 * https://learn.microsoft.com/en-us/azure/key-vault/keys/about-keys ;
 * the Managed HSM audience: "Managed HSM access control",
 * https://learn.microsoft.com/en-us/azure/key-vault/managed-hsm/access-control ).
 */
static const char *const service_zones[] = {
	"vault.azure.net",
	ATR_KV_MHSM_ZONE,
};

/* 1 when host is a name below zone (at least one label before it). */
static int
below_zone(const char *host, const char *zone)
{
	size_t hl = strlen(host), zl = strlen(zone);

	return hl > zl + 1 && host[hl - zl - 1] == '.' &&
	    strcasecmp(host + hl - zl, zone) == 0;
}

int
atr_kv_host_is_mhsm(const char *host)
{
	return below_zone(host, ATR_KV_MHSM_ZONE);
}

/*
 * The resource (or scope) host must be the vault's domain:
 * myvault.vault.azure.net ends with .vault.azure.net.  Otherwise a vault
 * could have us fetch a token for another audience (management, graph)
 * and send it there.  A host in a known service zone takes exactly that
 * zone's audience: a Managed HSM's token is not a vault's (and not one
 * for a parent such as azure.net), nor the other way round.
 */
int
atr_kv_challenge_fits(const char *vault_host, const struct atr_kv_challenge *ch)
{
	const char *r = ch->scope[0] != '\0' ? ch->scope : ch->resource;
	const char *h;
	size_t n, hl, i;

	h = strstr(r, "://");
	if (h == NULL)
		return 0;
	h += 3;
	n = strcspn(h, "/:?#");
	hl = strlen(vault_host);
	if (n == 0 || n > hl)
		return 0;
	for (i = 0; i < sizeof(service_zones) / sizeof(service_zones[0]); i++)
		if (below_zone(vault_host, service_zones[i]))
			return strlen(service_zones[i]) == n &&
			    strncasecmp(h, service_zones[i], n) == 0;
	if (strncasecmp(vault_host + hl - n, h, n) != 0)
		return 0;
	return hl == n || vault_host[hl - n - 1] == '.';
}

int
atr_kv_dec_parse(const char *s, size_t n, int64_t max, int64_t *out)
{
	int64_t v = 0;
	size_t i;
	int big = 0;

	*out = 0;
	if (n == 0 || max < 0)
		return -1;
	for (i = 0; i < n; i++) {
		int d = s[i] - '0';

		if (d < 0 || d > 9)
			return -1;
		/* Checked before the step, so v never overflows (C11
		 * 6.5p5: signed overflow is undefined). */
		if (big || v > (max - d) / 10)
			big = 1;
		else
			v = v * 10 + d;
	}
	if (big)
		return 1;
	*out = v;
	return 0;
}

/* Skips trailing blanks and line ends; 1 when nothing else follows. */
static int
only_blanks(const char *p)
{
	while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
		p++;
	return *p == '\0';
}

long
atr_kv_parse_retry_after(const char *name, const char *value, time_t now)
{
	const char *p = value;
	int64_t v;
	size_t n;
	time_t t;
	int rc;

	if (name == NULL || value == NULL)
		return -1;
	while (*p == ' ' || *p == '\t')
		p++;
	n = strspn(p, "0123456789");
	if (strcasecmp(name, "retry-after-ms") == 0 ||
	    strcasecmp(name, "x-ms-retry-after-ms") == 0) {
		/* Milliseconds, a fraction allowed and dropped. */
		rc = atr_kv_dec_parse(p, n, ATR_KV_RETRY_AFTER_CAP_MS, &v);
		if (rc < 0)
			return -1;
		p += n;
		if (*p == '.')
			for (p++; isdigit((unsigned char)*p); p++)
				;
		if (!only_blanks(p))
			return -1;
		return rc > 0 ? ATR_KV_RETRY_AFTER_CAP_MS : (long)v;
	}
	if (strcasecmp(name, "retry-after") != 0)
		return -1;
	if (n > 0) {
		/* delay-seconds = 1*DIGIT (RFC 9110 10.2.3) */
		rc = atr_kv_dec_parse(p, n, ATR_KV_RETRY_AFTER_CAP_MS / 1000,
		    &v);
		if (rc < 0 || !only_blanks(p + n))
			return -1;
		return rc > 0 ? ATR_KV_RETRY_AFTER_CAP_MS : (long)(v * 1000);
	}
	/* HTTP-date (IMF-fixdate and the obsolete forms curl knows). */
	t = atr_curl()->getdate(p, NULL);
	if (t == (time_t)-1)
		return -1;
	if (t <= now)
		return 0;
	if (t - now > ATR_KV_RETRY_AFTER_CAP_MS / 1000)
		return ATR_KV_RETRY_AFTER_CAP_MS;
	return (long)(t - now) * 1000L;
}

/* A service message made fit for a one-line detail. */
static void
oneline(const char *in, char *out, size_t cap)
{
	size_t o = 0;
	int space = 0;

	/* Each step may write two bytes (a space and a character); the
	 * guard keeps room for them, "..." and the NUL. */
	for (; in != NULL && *in != '\0' && o + 6 <= cap; in++) {
		unsigned char ch = (unsigned char)*in;

		if (ch < 0x20 || ch == 0x7f) {
			space = o > 0;
			continue;
		}
		if (ch == ' ') {
			space = o > 0;
			continue;
		}
		if (space) {
			out[o++] = ' ';
			space = 0;
		}
		out[o++] = (char)ch;
	}
	if (in != NULL && *in != '\0') {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
}

static const char *
jstr(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* 1 when some (inner)error code in the chain equals code. */
static int
has_code(const cJSON *e, const char *code)
{
	int depth;

	for (depth = 0; e != NULL && depth < 8; depth++) {
		const char *c = jstr(e, "code");

		if (c != NULL && strcasecmp(c, code) == 0)
			return 1;
		e = cJSON_GetObjectItemCaseSensitive(e, "innererror");
		if (!cJSON_IsObject(e))
			break;
	}
	return 0;
}

enum atr_err
atr_kv_error_from_response(long status, const char *body, size_t body_len,
    enum atr_kv_opclass op, const char *what, unsigned attempts)
{
	cJSON *doc = NULL;
	const cJSON *e = NULL, *inner;
	const char *code = NULL, *icode = NULL, *msg = NULL;
	char cmsg[MSG_MAX], ccode[64], cicode[64], tries[32];
	enum atr_err err;

	if (body != NULL && body_len > 0)
		doc = cJSON_ParseWithLength(body, body_len);
	if (doc != NULL) {
		e = cJSON_GetObjectItemCaseSensitive(doc, "error");
		if (cJSON_IsObject(e)) {
			code = jstr(e, "code");
			msg = jstr(e, "message");
			inner = cJSON_GetObjectItemCaseSensitive(e,
			    "innererror");
			if (cJSON_IsObject(inner))
				icode = jstr(inner, "code");
		} else if (cJSON_IsString(e)) {
			/* OAuth 2.0 token endpoint (RFC 6749 5.2). */
			code = e->valuestring;
			msg = jstr(doc, "error_description");
			e = NULL;
		} else {
			e = NULL;
		}
	}
	oneline(code, ccode, sizeof(ccode));
	oneline(icode, cicode, sizeof(cicode));
	oneline(msg, cmsg, sizeof(cmsg));
	tries[0] = '\0';
	if (attempts > 1)
		snprintf(tries, sizeof(tries), " (after %u attempts)",
		    attempts);

	switch (status) {
	case 400:
		err = op == ATR_KV_CALL_UNWRAP ? ATR_ERR_AUTH : ATR_ERR_CONFIG;
		break;
	case 401:
		err = ATR_ERR_UNAUTHORIZED;
		break;
	case 403:
		err = (e != NULL && has_code(e, "KeyDisabled")) ?
		    ATR_ERR_DISABLED : ATR_ERR_FORBIDDEN;
		break;
	case 404:
	case 410:
		err = ATR_ERR_NOT_FOUND;
		break;
	case 405:
	case 501:
		err = ATR_ERR_UNSUPPORTED;
		break;
	case 408:
		err = ATR_ERR_TIMEOUT;
		break;
	case 409:
		err = ATR_ERR_CONFLICT;
		break;
	case 429:
		err = ATR_ERR_THROTTLED;
		break;
	default:
		err = status >= 500 && status <= 599 ? ATR_ERR_NETWORK :
		    ATR_ERR_BAD_RESPONSE;
		break;
	}
	if (err == ATR_ERR_AUTH) {
		/* Do not relay why the vault refused to unwrap: the caller
		 * reports one "authentication failed" for every cause. */
		atr_detail_set("%s: the vault could not unwrap this key", what);
	} else if (ccode[0] != '\0' || cmsg[0] != '\0') {
		atr_detail_set("%s: HTTP %ld %s%s%s%s%s%s", what, status,
		    ccode[0] != '\0' ? ccode : "error",
		    cicode[0] != '\0' ? "/" : "", cicode,
		    cmsg[0] != '\0' ? ": " : "", cmsg, tries);
	} else {
		atr_detail_set("%s: HTTP %ld with no error description%s",
		    what, status, tries);
	}
	if (doc != NULL)
		cJSON_Delete(doc);
	return err;
}

int
atr_kv_json_int(const struct cJSON *o, const char *name, int64_t min,
    int64_t max, int64_t *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
	double d;
	int64_t x;

	*out = 0;
	if (v == NULL || cJSON_IsNull(v))
		return 0;
	if (min < -ATR_KV_INT_EXACT || max > ATR_KV_INT_EXACT || min > max)
		return -1;
	if (cJSON_IsNumber(v)) {
		/* C11 6.3.1.4: converting a double whose integral part does
		 * not fit is undefined, so the range is checked first (NaN
		 * fails both comparisons); within +-2^53 the bounds and the
		 * round trip are exact. */
		d = v->valuedouble;
		if (!(d >= (double)min && d <= (double)max))
			return -1;
		x = (int64_t)d;
		if ((double)x != d)
			return -1;
		*out = x;
		return 1;
	}
	/* IMDS sends its numbers as strings of digits ("expires_in":
	 * "3599" in the IMDS token response, kv_auth.c). */
	if (cJSON_IsString(v) && v->valuestring != NULL && max >= 0 &&
	    atr_kv_dec_parse(v->valuestring, strlen(v->valuestring), max,
	    &x) == 0 && x >= min) {
		*out = x;
		return 1;
	}
	return -1;
}

/*
 * One integer field of a reply, or a detail naming it: a hostile value
 * (1e300, 4294969344 for key_size, "12abc") is refused, never
 * truncated into something plausible.
 */
static int
field_int(const cJSON *o, const char *where, const char *name, int64_t min,
    int64_t max, int64_t *out, int *present)
{
	int rc = atr_kv_json_int(o, name, min, max, out);

	if (present != NULL)
		*present = rc > 0;
	if (rc < 0) {
		atr_detail_set("the reply's %s%s is not an integer from %lld "
		    "to %lld", where, name, (long long)min, (long long)max);
		return -1;
	}
	return 0;
}

unsigned
atr_kv_bits_of(const uint8_t *n, size_t len)
{
	unsigned b;

	while (len > 0 && *n == 0) {
		n++;
		len--;
	}
	if (len == 0)
		return 0;
	for (b = 8; b > 0 && !(*n & (1U << (b - 1))); b--)
		;
	return (unsigned)((len - 1) * 8) + b;
}

enum atr_err
atr_kv_key_from_json(const char *json, size_t len, struct atr_kv_key *out)
{
	struct atr_kv_kid id;
	cJSON *doc;
	const cJSON *key, *attr, *ops, *it;
	const char *kid, *s;
	enum atr_err err = ATR_ERR_BAD_RESPONSE;
	int64_t v;

	memset(out, 0, sizeof(*out));
	doc = cJSON_ParseWithLength(json, len);
	if (doc == NULL || !cJSON_IsObject(doc)) {
		atr_detail_set("the reply is not a JSON object");
		goto out;
	}
	key = cJSON_GetObjectItemCaseSensitive(doc, "key");
	kid = cJSON_IsObject(key) ? jstr(key, "kid") : jstr(doc, "kid");
	if (kid == NULL) {
		atr_detail_set("the reply has no key id (kid)");
		goto out;
	}
	if (strlen(kid) > ATR_KEYID_MAX ||
	    atr_kv_parse_kid(kid, &id) != ATR_OK || id.version[0] == '\0') {
		atr_detail_set(
		    "the reply's kid is not a versioned key identifier");
		goto out;
	}
	snprintf(out->kid, sizeof(out->kid), "%s", kid);
	memcpy(out->name, id.name, sizeof(out->name));
	memcpy(out->version, id.version, sizeof(out->version));
	if (cJSON_IsObject(key)) {
		s = jstr(key, "kty");
		if (s != NULL)
			snprintf(out->kty, sizeof(out->kty), "%s", s);
		ops = cJSON_GetObjectItemCaseSensitive(key, "key_ops");
		if (cJSON_IsArray(ops)) {
			out->key_ops_present = 1;
			cJSON_ArrayForEach(it, ops) {
				if (cJSON_IsString(it))
					out->key_ops |= atr_jwk_op_parse(
					    it->valuestring);
			}
		}
		s = jstr(key, "n");
		if (s != NULL && atr_b64url_decode(s, strlen(s),
		    ATR_B64_STD_ALPHABET, out->n, sizeof(out->n),
		    &out->n_len) != 0) {
			atr_detail_set("the key's modulus n is not base64url "
			    "or longer than 8192 bits");
			goto out;
		}
		s = jstr(key, "e");
		if (s != NULL && atr_b64url_decode(s, strlen(s),
		    ATR_B64_STD_ALPHABET, out->e, sizeof(out->e),
		    &out->e_len) != 0) {
			atr_detail_set("the key's exponent e is not base64url");
			goto out;
		}
		if (field_int(key, "key.", "key_size", 0, KEY_SIZE_MAX, &v,
		    NULL) != 0)
			goto out;
		out->bits = out->n_len > 0 ?
		    atr_kv_bits_of(out->n, out->n_len) : (unsigned)v;
	}
	attr = cJSON_GetObjectItemCaseSensitive(doc, "attributes");
	if (cJSON_IsObject(attr)) {
		it = cJSON_GetObjectItemCaseSensitive(attr, "enabled");
		out->enabled = cJSON_IsBool(it) ? cJSON_IsTrue(it) : 1;
		if (field_int(attr, "attributes.", "nbf", 0, ATR_DATE_MAX,
		    &out->nbf, &out->has_nbf) != 0 ||
		    field_int(attr, "attributes.", "exp", 0, ATR_DATE_MAX,
		    &out->exp, &out->has_exp) != 0 ||
		    field_int(attr, "attributes.", "created", 0,
		    ATR_DATE_MAX, &out->created, NULL) != 0 ||
		    field_int(attr, "attributes.", "updated", 0,
		    ATR_DATE_MAX, &out->updated, NULL) != 0 ||
		    field_int(attr, "attributes.", "recoverableDays", 0,
		    RECOVERABLE_DAYS_MAX, &v, NULL) != 0)
			goto out;
		out->recoverable_days = (int)v;
		s = jstr(attr, "recoveryLevel");
		if (s != NULL)
			snprintf(out->recovery_level,
			    sizeof(out->recovery_level), "%s", s);
	} else {
		/* Attributes are optional in the schema; enabled defaults
		 * to true there. */
		out->enabled = 1;
	}
	it = cJSON_GetObjectItemCaseSensitive(doc, "managed");
	out->managed = cJSON_IsTrue(it);
	s = jstr(doc, "recoveryId");
	if (s != NULL)
		snprintf(out->recovery_id, sizeof(out->recovery_id), "%s", s);
	if (field_int(doc, "", "deletedDate", 0, ATR_DATE_MAX,
	    &out->deleted_date, NULL) != 0 ||
	    field_int(doc, "", "scheduledPurgeDate", 0, ATR_DATE_MAX,
	    &out->scheduled_purge_date, NULL) != 0)
		goto out;
	err = ATR_OK;
out:
	cJSON_Delete(doc);
	return err;
}
