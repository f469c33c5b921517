/*
 * kv_server_http.c - the loopback Key Vault's HTTP front end over
 * libmicrohttpd (one thread per connection, limited in number and
 * time): admission from the headers alone (admin credential, bearer,
 * body size), body buffering, the answer with the service's headers,
 * the access line, and the hand-off of each complete request to the
 * admin API, the identity endpoints or the vault pipeline
 * (kv_server_pipeline.c).
 */
#include "kv_server_int.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include <microhttpd.h>

#include "crypto.h"
#include "fsutil.h"
#include "json.h"
#include "mhd_dl.h"
#include "util.h"

/* Bodies of requests that are not vault API calls: token forms and
 * admin JSON are a few hundred bytes. */
#define IDENTITY_BODY_MAX (16U << 10)
#define ADMIN_BODY_MAX (64U << 10)

enum req_kind {
	REQ_VAULT = 0,
	REQ_IDENTITY,
	REQ_ADMIN,
};

/* One request's state between the calls MHD makes for it. */
struct conn_req {
	char *body;
	size_t len, cap;
	size_t max;                 /* body limit for this kind */
	enum req_kind kind;
	int too_big;
	int answered;               /* refused from its headers (admit) */
};

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

/* ------------------------------------------------------------------ */
/* Answers */

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
	atr_json_free_wiped(body);
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
	/* KeyVaultError (REST API reference): code, message, optional
	 * recursive innererror. */
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

void
kvs_reply_unavailable(struct kvs_http *h)
{
	kvs_reply_error(h, 503, "ServiceUnavailable", NULL, "The service is "
	    "temporarily unavailable. Please retry later.");
}

static void
reply_too_large(struct kvs_http *h)
{
	kvs_reply_error(h, 413, "BadParameter", NULL,
	    "The request body is too large.");
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

static void
stat_status(struct atr_kv_server *s, int status)
{
	pthread_mutex_lock(&s->mu);
	if (status >= 100 && status < 600)
		s->stats.status[status]++;
	pthread_mutex_unlock(&s->mu);
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

static void
access_line(struct kvs_http *h, uint64_t t0, const char *status)
{
	if (h->s->log == NULL || !h->s->log_access)
		return;
	/* Method, path (no query), status, time: never headers or bodies,
	 * which carry tokens, secrets and keys. */
	kvs_logf(h->s, "%s %.300s %s %.1fms%s%s", h->method, h->path, status,
	    (double)(atr_now_ns() - t0) / 1e6, h->note != NULL ? " " : "",
	    h->note != NULL ? h->note : "");
}

static enum MHD_Result
finish(struct kvs_http *h, uint64_t t0)
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
	/* Verb tunnelling ("Authentication, requests and responses",
	 * https://learn.microsoft.com/en-us/azure/key-vault/general/authentication-requests-and-responses). */
	tunnel = kvs_header(h, "X-HTTP-METHOD");
	if (strcmp(method, "POST") == 0 && tunnel != NULL &&
	    (strcasecmp(tunnel, "PATCH") == 0 ||
	    strcasecmp(tunnel, "DELETE") == 0 ||
	    strcasecmp(tunnel, "PUT") == 0))
		h->method = strcasecmp(tunnel, "PATCH") == 0 ? "PATCH" :
		    strcasecmp(tunnel, "PUT") == 0 ? "PUT" : "DELETE";
	set_base(h);
}

/* ------------------------------------------------------------------ */
/* Admission and hand-off */

/* The x-atrest-admin header against STATE/admin-token's value. */
static int
admin_ok(struct kvs_http *h)
{
	const char *t = kvs_header(h, "x-atrest-admin");

	return t != NULL && kvs_secret_equal(h->s->admin_token,
	    strlen(h->s->admin_token), t, strlen(t));
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
	uint64_t t0 = atr_now_ns();
	const char *cl;
	int authed = 0;

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
		reply_too_large(&h);
		goto answer;
	}
	if (authed && s->idle_timeout > 0)
		atr_mhd()->set_connection_option(conn, MHD_CONNECTION_OPTION_TIMEOUT,
		    s->idle_timeout);
	return MHD_YES;
answer:
	req->answered = 1;
	return finish(&h, t0);
}

/* The complete request, body included: to the admin API, an identity
 * endpoint or the vault pipeline, which may drop the connection. */
static enum MHD_Result
process(struct atr_kv_server *s, struct MHD_Connection *conn,
    const char *url, const char *method, struct conn_req *req)
{
	struct kvs_http h;
	uint64_t t0 = atr_now_ns();

	http_init(&h, s, conn, url, method, req);
	if (req->kind == REQ_ADMIN)
		h.note = "admin";
	if (req->too_big)
		reply_too_large(&h);
	else if (req->kind == REQ_ADMIN)
		kvs_admin(&h);
	else if (!(req->kind == REQ_IDENTITY && kvs_identity_dispatch(&h)) &&
	    !kvs_vault_request(&h)) {
		/* MHD_NO closes the connection without any response. */
		access_line(&h, t0, "drop");
		return MHD_NO;
	}
	return finish(&h, t0);
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

enum atr_err
kvs_http_start(struct atr_kv_server *s, const struct atr_kv_server_opts *o,
    struct sockaddr_storage *ss)
{
	const union MHD_DaemonInfo *di;
	unsigned flags;

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
	    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)ss,
	    MHD_OPTION_HTTPS_MEM_KEY, s->tls_key,
	    MHD_OPTION_HTTPS_MEM_CERT, s->tls_cert,
	    MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
	    MHD_OPTION_CONNECTION_LIMIT, o->max_connections > 0 ?
	    o->max_connections : 512U,
	    MHD_OPTION_PER_IP_CONNECTION_LIMIT, o->max_per_ip,
	    MHD_OPTION_CONNECTION_TIMEOUT, o->handshake_timeout,
	    MHD_OPTION_END);
	if (s->daemon == NULL)
		return atr_fail(ATR_ERR_IO, "cannot listen on %s (in use, or "
		    "TLS setup failed)", o->listen != NULL ? o->listen :
		    "127.0.0.1:0");
	di = atr_mhd()->get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
	if (di == NULL || di->port == 0)
		return atr_fail(ATR_ERR_IO, "cannot read the bound port");
	s->port = di->port;
	return ATR_OK;
}
