/*
 * kv_server.c - the loopback Key Vault server's lifetime: options,
 * start, stop and the accessors of kv_server.h; the listen address and
 * which peers are local; the clock and runtime switches that every
 * part reads, and the log.  kv_server_int.h lists the other files: the
 * HTTP front end, the request pipeline, routes and handlers, the key
 * store, tokens and identity endpoints, the test PKI, the admin API.
 * docs/VAULT.md's threat model says who may reach what.
 */
#include "kv_server_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "crypto.h"
#include "fsutil.h"
#include "jwk.h"
#include "mhd_dl.h"

#define DEFAULT_RESOURCE "https://vault.azure.net"
/* A Managed HSM's audience ("Access control for Managed HSM",
 * https://learn.microsoft.com/en-us/azure/key-vault/managed-hsm/access-control ). */
#define MHSM_RESOURCE "https://managedhsm.azure.net"

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

/* ------------------------------------------------------------------ */
/* Addresses */

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
    struct sockaddr_storage *ss)
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
	s->ipv6 = res->ai_family == AF_INET6;
	freeaddrinfo(res);
	snprintf(s->listen_host, sizeof(s->listen_host), "%s", host);
	return ATR_OK;
bad:
	return atr_fail(ATR_ERR_USAGE, "listen address '%s': expected "
	    "HOST:PORT or [V6ADDR]:PORT", l);
}

/* ------------------------------------------------------------------ */
/* Start and stop */

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

/* What no later step checks. */
static enum atr_err
opts_check(const struct atr_kv_server_opts *o)
{
	const struct atr_kv_server *s = NULL; /* for sizeof only */
	const char *mi;

	if (o == NULL || o->state_dir == NULL || *o->state_dir == '\0')
		return atr_fail(ATR_ERR_USAGE, "a state directory is required");
	if (o->recoverable_days < 7 || o->recoverable_days > 90)
		return atr_fail(ATR_ERR_USAGE, "recoverable days must be 7..90");
	if (o->token_lifetime <= 0 || o->token_lifetime > 86400 * 7)
		return atr_fail(ATR_ERR_USAGE, "token lifetime out of range");
	mi = o->managed_identity;
	if (mi != NULL && *mi != '\0' &&
	    (strlen(mi) >= sizeof(s->mi_client_id) ||
	    strspn(mi, "0123456789abcdefABCDEF-") != strlen(mi)))
		return atr_fail(ATR_ERR_USAGE, "managed identity: expected a "
		    "client id (GUID)");
	return ATR_OK;
}

/* A server with its lock and log; everything else zero.  Free it with
 * atr_kv_server_stop from here on. */
static enum atr_err
server_new(const struct atr_kv_server_opts *o, struct atr_kv_server **out)
{
	struct atr_kv_server *s = calloc(1, sizeof(*s));

	*out = NULL;
	if (s == NULL)
		return ATR_ERR_NOMEM;
	s->lock_fd = -1;
	s->log = o->log;
	s->log_arg = o->log_arg;
	s->log_access = o->log_access;
	if (pthread_mutex_init(&s->mu, NULL) != 0) {
		free(s);
		return ATR_ERR_NOMEM;
	}
	*out = s;
	return ATR_OK;
}

/* The switches and settings of o that need no checking. */
static void
config_from_opts(struct atr_kv_server *s, const struct atr_kv_server_opts *o)
{
	const char *res, *dflt;

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
	s->protected_subscription = o->protected_subscription;
	s->allow_oct = o->allow_oct;
	s->managed_hsm = o->managed_hsm;
	s->token_lifetime = o->token_lifetime;
	dflt = o->managed_hsm ? MHSM_RESOURCE : DEFAULT_RESOURCE;
	res = o->challenge_resource != NULL ? o->challenge_resource : dflt;
	snprintf(s->resource, sizeof(s->resource), "%s", *res ? res : dflt);
}

/* "https://ADDR:PORT": the address bound, as the certificate names it;
 * an IPv6 zone's '%' is "%25" in a URL (RFC 6874). */
static void
set_url(struct atr_kv_server *s)
{
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

/*
 * Key Vault's 401 challenge is
 *   Bearer authorization="https://login.windows.net/TENANT",
 *          resource="https://vault.azure.net"
 * ("Azure Key Vault REST API Error Codes", HTTP 401,
 * https://learn.microsoft.com/en-us/azure/key-vault/general/rest-error-codes).
 * Here the authority is this server (its token endpoint), unless
 * configured.
 */
static void
set_challenge(struct atr_kv_server *s, const struct atr_kv_server_opts *o)
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

/* State directory, test PKI, keys, then the daemon. */
static enum atr_err
open_and_listen(struct atr_kv_server *s, const struct atr_kv_server_opts *o)
{
	struct sockaddr_storage ss;
	char keys_dir[PATH_MAX + 8];
	enum atr_err err;

	err = parse_listen(s, o->listen != NULL ? o->listen : "127.0.0.1:0",
	    o->allow_remote, &ss);
	if (err == ATR_OK)
		err = kvs_state_open(s, o);
	if (err == ATR_OK)
		err = kvs_tls_setup(s, o->extra_sans, o->n_extra_sans);
	if (err != ATR_OK)
		return err;
	snprintf(keys_dir, sizeof(keys_dir), "%s/keys", s->state_dir);
	err = kvs_store_open(&s->store, keys_dir, s);
	if (err == ATR_OK)
		err = kvs_http_start(s, o, &ss);
	return err;
}

enum atr_err
atr_kv_server_start(const struct atr_kv_server_opts *o,
    struct atr_kv_server **out)
{
	struct atr_kv_server *s;
	struct kvs_faults faults;
	char detail[512];
	enum atr_err err;
	size_t nkeys;

	*out = NULL;
	err = opts_check(o);
	if (err == ATR_OK)
		err = atr_mhd_load();
	if (err != ATR_OK)
		return err;
	if (atr_mhd()->is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
		return atr_fail(ATR_ERR_UNSUPPORTED,
		    "libmicrohttpd was built without TLS");
	err = server_new(o, &s);
	if (err != ATR_OK)
		return err;
	err = kvs_faults_parse(o->faults, &faults);
	if (err != ATR_OK)
		goto fail;
	kvs_faults_install(s, &faults);
	config_from_opts(s, o);
	err = open_and_listen(s, o);
	if (err != ATR_OK)
		goto fail;
	set_url(s);
	set_challenge(s, o);
	/* The key count is read before requests may change it. */
	nkeys = s->store.n;
	atomic_store_explicit(&s->started, 1, memory_order_release);
	kvs_logf(s, "listening on %s (state %s, %zu keys)", s->url,
	    s->state_dir, nkeys);
	*out = s;
	return ATR_OK;
fail:
	atomic_store_explicit(&s->started, -1, memory_order_release);
	/* Tear down what was built; the detail stays. */
	snprintf(detail, sizeof(detail), "%s", atr_detail());
	atr_kv_server_stop(s);
	atr_detail_set("%s", detail);
	return err;
}

void
atr_kv_server_stop(struct atr_kv_server *s)
{
	if (s == NULL)
		return;
	atomic_store_explicit(&s->stopping, 1, memory_order_release);
	if (s->daemon != NULL)
		atr_mhd()->stop_daemon(s->daemon);
	if (s->store.dir[0] != '\0')
		kvs_store_close(&s->store);
	if (s->tls_key != NULL)
		atr_secure_free(s->tls_key, s->tls_key_len);
	free(s->tls_cert);
	kvs_state_close(s);
	pthread_mutex_destroy(&s->mu);
	atr_memzero(s, sizeof(*s));
	free(s);
}

/* ------------------------------------------------------------------ */
/* Accessors */

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
