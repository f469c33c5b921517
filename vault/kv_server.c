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

/* ------------------------------------------------------------------ */
/* Start and stop */

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
	struct kvs_faults faults;
	const char *res;
	enum atr_err err;
	size_t i, nkeys;
	int mu_ok = 0;

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
	err = kvs_faults_parse(o->faults, &faults);
	if (err != ATR_OK)
		goto fail;
	kvs_faults_install(s, &faults);
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
	err = kvs_state_load(s);
	if (err == ATR_OK && s->admin)
		err = kvs_admin_token_new(s);
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
		err = kvs_client_add(s, buf, colon + 1);
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

	err = kvs_http_start(s, o, &ss);
	if (err != ATR_OK)
		goto fail;
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
