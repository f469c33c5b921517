/*
 * kv_client.c - the Key Vault client object: the vault it talks to and
 * its settings (timeouts, retries, back-off, api-version, CA file), each
 * from the caller's options, else the environment, else the default.
 * The requests themselves are kv_http.c's; the operations are
 * kv_admin.c's and kv_crypto.c's.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "curl_dl.h"
#include "kv_internal.h"

#define DEF_CONNECT_MS 5000L
#define DEF_TIMEOUT_MS 30000L
#define DEF_RETRIES 4
#define DEF_BACKOFF_MS 800L
#define DEF_MAX_BACKOFF_MS 60000L
#define DEF_MAX_WAIT_MS 60000L

static long
env_long(const char *name, long def, long min, long max)
{
	const char *v = getenv(name);
	char *end;
	long r;

	if (v == NULL || *v == '\0')
		return def;
	errno = 0;
	r = strtol(v, &end, 10);
	if (errno != 0 || *end != '\0' || r < min || r > max)
		return def;
	return r;
}

/* The private CA bundle (an option, else ATREST_CA_FILE), checked to be
 * readable now rather than failing inside the first TLS handshake. */
static enum atr_err
set_ca_file(struct atr_kv_client *c, const struct atr_kv_opts *o)
{
	const char *ca = o->ca_file != NULL ? o->ca_file :
	    getenv("ATREST_CA_FILE");

	if (ca == NULL || *ca == '\0')
		return ATR_OK;
	if (access(ca, R_OK) != 0)
		return atr_fail(ATR_ERR_CONFIG, "cannot read CA file %s: %s",
		    ca, strerror(errno));
	c->ca_file = strdup(ca);
	if (c->ca_file == NULL)
		return atr_fail(ATR_ERR_NOMEM, "out of memory");
	return ATR_OK;
}

/* Timeouts, retries and back-off: a positive option, else the
 * environment's value when it is in range, else the default. */
static void
set_limits(struct atr_kv_client *c, const struct atr_kv_opts *o)
{
	c->connect_timeout_ms = o->connect_timeout_ms > 0 ?
	    o->connect_timeout_ms :
	    env_long("ATREST_KV_CONNECT_TIMEOUT_MS", DEF_CONNECT_MS, 1, 600000);
	c->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms :
	    env_long("ATREST_KV_TIMEOUT_MS", DEF_TIMEOUT_MS, 1, 3600000);
	c->max_retries = o->max_retries >= 0 ? o->max_retries :
	    (int)env_long("ATREST_KV_MAX_RETRIES", DEF_RETRIES, 0, 20);
	if (c->max_retries > 20)
		c->max_retries = 20;
	c->backoff_ms = o->backoff_ms > 0 ? o->backoff_ms :
	    env_long("ATREST_KV_BACKOFF_MS", DEF_BACKOFF_MS, 0, 600000);
	c->max_backoff_ms = o->max_backoff_ms > 0 ? o->max_backoff_ms :
	    env_long("ATREST_KV_MAX_BACKOFF_MS", DEF_MAX_BACKOFF_MS, 0,
	    3600000);
	c->max_wait_ms = o->max_wait_ms > 0 ? o->max_wait_ms :
	    env_long("ATREST_KV_MAX_WAIT_MS", DEF_MAX_WAIT_MS, 0, 3600000);
	if (c->max_wait_ms > 3600000)
		c->max_wait_ms = 3600000;
}

/* The api-version goes into every URL: only the characters a version
 * ("7.4", "2025-07-01", "7.6-preview") is made of. */
static enum atr_err
set_api_version(struct atr_kv_client *c, const struct atr_kv_opts *o)
{
	const char *av = o->api_version != NULL ? o->api_version :
	    getenv("ATREST_KV_API_VERSION");

	if (av == NULL || *av == '\0')
		av = ATR_KV_API_VERSION_DEFAULT;
	if (strlen(av) >= sizeof(c->api_version) ||
	    strspn(av, "0123456789.-abcdefghijklmnopqrstuvwxyz") !=
	    strlen(av))
		return atr_fail(ATR_ERR_CONFIG,
		    "bad Key Vault api-version '%.40s'", av);
	snprintf(c->api_version, sizeof(c->api_version), "%s", av);
	return ATR_OK;
}

/* One "HOST:PORT:CONNECT-HOST:CONNECT-PORT" of n bytes at e: each host
 * a DNS name, an IPv4 address or a bracketed IPv6 literal, each port
 * 1 to 5 digits.  Stricter than curl, which also takes empty fields:
 * a mapping that names both ends is one a reader can check. */
static int
connect_to_ok(const char *e, size_t n)
{
	size_t i = 0, f, start;

	for (f = 0; f < 4; f++) {
		start = i;
		if (f % 2 == 0 && i < n && e[i] == '[') {
			for (i++; i < n && (isxdigit((unsigned char)e[i]) ||
			    e[i] == ':' || e[i] == '.'); i++)
				;
			if (i < n && e[i] != ']')
				return 0;
			if (i == n)
				return 0;
			i++;
		} else {
			while (i < n && e[i] != ':' && (f % 2 == 0 ?
			    isalnum((unsigned char)e[i]) || e[i] == '.' ||
			    e[i] == '-' : isdigit((unsigned char)e[i]) != 0))
				i++;
		}
		if (i == start || (f % 2 == 1 && i - start > 5))
			return 0;
		if (f < 3 && (i == n || e[i++] != ':'))
			return 0;
	}
	return i == n;
}

/* The --connect-to mappings (an option, else ATREST_KV_CONNECT_TO):
 * entries separated by ',', each checked. */
static enum atr_err
set_connect_to(struct atr_kv_client *c, const struct atr_kv_opts *o)
{
	const char *v = o->connect_to != NULL ? o->connect_to :
	    getenv("ATREST_KV_CONNECT_TO");
	const char *p;
	char shown[121];
	size_t n, i;

	if (v == NULL)
		return ATR_OK;
	for (p = v; *p != '\0'; p += n + (p[n] == ',')) {
		n = strcspn(p, ",");
		if (n == 0)
			continue;
		if (c->nconnect_to == KV_CONNECT_TO_MAX)
			return atr_fail(ATR_ERR_CONFIG, "ATREST_KV_CONNECT_TO: "
			    "more than %u mappings", KV_CONNECT_TO_MAX);
		if (n >= KV_CONNECT_TO_LEN || !connect_to_ok(p, n)) {
			/* Shown on one line: printable ASCII only. */
			for (i = 0; i < n && i + 1 < sizeof(shown); i++) {
				shown[i] = '?';
				if (p[i] > 0x20 && p[i] < 0x7f)
					shown[i] = p[i];
			}
			shown[i] = '\0';
			return atr_fail(ATR_ERR_CONFIG, "ATREST_KV_CONNECT_TO: "
			    "'%s' is not HOST:PORT:CONNECT-HOST:CONNECT-PORT",
			    shown);
		}
		memcpy(c->connect_to[c->nconnect_to], p, n);
		c->connect_to[c->nconnect_to++][n] = '\0';
	}
	return ATR_OK;
}

enum atr_err
atr_kv_client_new(const char *url, const struct atr_kv_opts *o,
    struct atr_kv_client **out)
{
	static const struct atr_kv_opts none = {.max_retries = -1};
	struct atr_kv_client *c;
	struct atr_kv_kid id;
	enum atr_err err;

	*out = NULL;
	if (o == NULL)
		o = &none;
	/* A key identifier or a bare vault URL. */
	if (url != NULL && strstr(url + (strlen(url) > 8 ? 8 : 0), "/keys/") !=
	    NULL)
		err = atr_kv_parse_kid(url, &id);
	else
		err = atr_kv_parse_vault_url(url, &id);
	if (err != ATR_OK)
		return err;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return atr_fail(ATR_ERR_NOMEM, "out of memory");
	c->vault = id;
	c->vault.name[0] = c->vault.version[0] = '\0';
	err = set_ca_file(c, o);
	if (err != ATR_OK)
		goto fail;
	set_limits(c, o);
	err = set_api_version(c, o);
	if (err == ATR_OK)
		err = set_connect_to(c, o);
	if (err != ATR_OK)
		goto fail;
	err = atr_curl_load();
	if (err != ATR_OK)
		goto fail;
	if (!kv_http_ready()) {
		err = atr_fail(ATR_ERR_NOMEM, "cannot initialise libcurl");
		goto fail;
	}
	*out = c;
	return ATR_OK;
fail:
	atr_kv_client_free(c);
	return err;
}

void
atr_kv_client_free(struct atr_kv_client *c)
{
	if (c == NULL)
		return;
	free(c->ca_file);
	free(c);
}

const char *
atr_kv_client_hostport(const struct atr_kv_client *c)
{
	return c->vault.hostport;
}

const char *
atr_kv_client_origin(const struct atr_kv_client *c)
{
	return c->vault.origin;
}
