/*
 * kv_client.c - Key Vault REST transport and key operations.
 *
 * Transport: one libcurl easy handle per thread, kept in a pthread key
 * and reset (not recreated) before each request, so its connection
 * cache gives keep-alive and TLS session reuse across calls.  HTTP/2 is
 * offered through ALPN (CURL_HTTP_VERSION_2TLS).  Peer and host
 * verification are always on; a private CA is added with CURLOPT_CAINFO,
 * never by turning verification off.
 *
 * Retries (reference azure-keyvault.md 2.1): 408, 429, 500, 502-504 and
 * other 5xx except 501 and 505, plus connection failures and timeouts,
 * up to max_retries times.  The delay is the server's Retry-After
 * (seconds or HTTP-date, RFC 9110 10.2.3), retry-after-ms or
 * x-ms-retry-after-ms when sent, else base * 2^n with +-20 % jitter,
 * both capped at max_backoff_ms, and all of a call's delays together at
 * max_wait_ms: a server asking for more than the budget has left (a
 * hostile or broken "Retry-After: 3600") gets its answer returned at
 * once, since retrying sooner than asked would only be refused again.
 * Unlike the JS and Python SDKs a 429
 * without Retry-After on a POST is retried too: wrapkey and unwrapkey
 * have no side effect to repeat.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "crypto.h"
#include "kv_internal.h"
#include "curl_dl.h"
#include "jwk.h"
#include "codec.h"
#include "json.h"
#include "util.h"

#define DEF_CONNECT_MS 5000L
#define DEF_TIMEOUT_MS 30000L
#define DEF_RETRIES 4
#define DEF_BACKOFF_MS 800L
#define DEF_MAX_BACKOFF_MS 60000L
#define DEF_MAX_WAIT_MS 60000L
#define URL_MAX 4096U
#define LIST_PAGES_MAX 1000U

/* ---- statistics ---- */

static _Atomic uint64_t st_http2;
static _Atomic uint64_t st_calls[ATR_KV_CALL__COUNT];
static _Atomic uint64_t st_fail[ATR_KV_CALL__COUNT];
static _Atomic uint64_t st_ns[ATR_KV_CALL__COUNT];
static _Atomic uint64_t st_max[ATR_KV_CALL__COUNT];
static _Atomic uint64_t st_attempts, st_retries, st_throttled, st_tokens,
    st_challenges;
static _Thread_local struct atr_kv_call last_call;

void
kv_stats_token_fetch(void)
{
	atomic_fetch_add(&st_tokens, 1);
}

void
atr_kv_last_call(struct atr_kv_call *out)
{
	*out = last_call;
}

void
atr_kv_stats_get(struct atr_kv_stats *out)
{
	int i;

	memset(out, 0, sizeof(*out));
	for (i = 0; i < ATR_KV_CALL__COUNT; i++) {
		out->calls[i] = atomic_load(&st_calls[i]);
		out->failures[i] = atomic_load(&st_fail[i]);
		out->elapsed_ns[i] = atomic_load(&st_ns[i]);
		out->max_ns[i] = atomic_load(&st_max[i]);
	}
	out->attempts = atomic_load(&st_attempts);
	out->retries = atomic_load(&st_retries);
	out->throttled = atomic_load(&st_throttled);
	out->token_fetches = atomic_load(&st_tokens);
	out->challenges = atomic_load(&st_challenges);
	out->http2 = atomic_load(&st_http2);
}

void
atr_kv_stats_reset(void)
{
	int i;

	for (i = 0; i < ATR_KV_CALL__COUNT; i++) {
		atomic_store(&st_calls[i], 0);
		atomic_store(&st_fail[i], 0);
		atomic_store(&st_ns[i], 0);
		atomic_store(&st_max[i], 0);
	}
	atomic_store(&st_attempts, 0);
	atomic_store(&st_retries, 0);
	atomic_store(&st_throttled, 0);
	atomic_store(&st_tokens, 0);
	atomic_store(&st_challenges, 0);
	atomic_store(&st_http2, 0);
}

static void
stats_record(enum atr_kv_opclass cls, const struct atr_kv_call *call)
{
	uint64_t m;

	atomic_fetch_add(&st_calls[cls], 1);
	if (call->err != ATR_OK)
		atomic_fetch_add(&st_fail[cls], 1);
	atomic_fetch_add(&st_ns[cls], call->elapsed_ns);
	m = atomic_load(&st_max[cls]);
	while (call->elapsed_ns > m &&
	    !atomic_compare_exchange_weak(&st_max[cls], &m, call->elapsed_ns))
		;
	atomic_fetch_add(&st_attempts, call->attempts);
	atomic_fetch_add(&st_retries, call->retries);
	atomic_fetch_add(&st_throttled, call->throttled);
	last_call = *call;
}

/* ---- buffers ---- */

static int
buf_append(struct kv_buf *b, const void *data, size_t n, size_t max)
{
	char *np;
	size_t ncap;

	if (n > max || b->len > max - n)
		return -1;
	if (b->len + n + 1 > b->cap) {
		ncap = b->cap == 0 ? 4096 : b->cap;
		while (ncap < b->len + n + 1)
			ncap *= 2;
		/* Not realloc: the old block may hold a key or a token and
		 * must be wiped before it goes back to the allocator. */
		np = malloc(ncap);
		if (np == NULL)
			return -1;
		if (b->p != NULL) {
			memcpy(np, b->p, b->len);
			atr_memzero(b->p, b->cap);
			free(b->p);
		}
		b->p = np;
		b->cap = ncap;
	}
	memcpy(b->p + b->len, data, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

void
kv_resp_init(struct kv_resp *rs)
{
	memset(rs, 0, sizeof(*rs));
	rs->retry_after_ms = -1;
	rs->refused_wait_ms = -1;
}

void
kv_resp_reset(struct kv_resp *rs)
{
	if (rs->body.p != NULL) {
		atr_memzero(rs->body.p, rs->body.cap);
		rs->body.p[0] = '\0';
	}
	rs->body.len = 0;
	rs->status = 0;
	rs->www_auth[0] = '\0';
	rs->retry_after_ms = -1;
	rs->refused_wait_ms = -1;
	rs->too_large = 0;
}

void
kv_resp_free(struct kv_resp *rs)
{
	if (rs->body.p != NULL) {
		atr_memzero(rs->body.p, rs->body.cap);
		free(rs->body.p);
	}
	kv_resp_init(rs);
}

/* ---- per-thread curl handle ---- */

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static pthread_key_t g_key;
static int g_init_ok;

static void
handle_dtor(void *h)
{
	atr_curl()->easy_cleanup(h);
}

static void
global_init(void)
{
	if (atr_curl()->global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return;
	if (pthread_key_create(&g_key, handle_dtor) != 0)
		return;
	g_init_ok = 1;
}

static CURL *
thread_handle(void)
{
	CURL *h;

	pthread_once(&g_once, global_init);
	if (!g_init_ok)
		return NULL;
	h = pthread_getspecific(g_key);
	if (h == NULL) {
		h = atr_curl()->easy_init();
		if (h != NULL && pthread_setspecific(g_key, h) != 0) {
			atr_curl()->easy_cleanup(h);
			h = NULL;
		}
	}
	return h;
}

void
atr_kv_thread_cleanup(void)
{
	CURL *h;

	pthread_once(&g_once, global_init);
	if (!g_init_ok)
		return;
	h = pthread_getspecific(g_key);
	if (h != NULL) {
		pthread_setspecific(g_key, NULL);
		atr_curl()->easy_cleanup(h);
	}
}

void
atr_kv_cache_clear(void)
{
	kv_auth_cache_clear();
}

/* ---- one exchange ---- */

struct xfer {
	struct kv_resp *rs;
	long ra_ms;     /* retry-after-ms / x-ms-retry-after-ms */
	long ra_s;      /* Retry-After, in ms */
};

static size_t
on_body(char *data, size_t size, size_t nmemb, void *ud)
{
	struct xfer *x = ud;
	size_t n = size * nmemb;

	if (buf_append(&x->rs->body, data, n, KV_BODY_MAX) != 0) {
		x->rs->too_large = 1;
		return 0;
	}
	return n;
}

static size_t
on_header(char *data, size_t size, size_t nmemb, void *ud)
{
	struct xfer *x = ud;
	size_t n = size * nmemb, nl, vl;
	const char *colon, *v;
	char name[32], val[256];

	if (n >= 5 && strncmp(data, "HTTP/", 5) == 0) {
		/* A new response (after a 1xx): forget the last headers. */
		x->rs->www_auth[0] = '\0';
		x->ra_ms = x->ra_s = -1;
		return n;
	}
	colon = memchr(data, ':', n);
	if (colon == NULL)
		return n;
	nl = (size_t)(colon - data);
	v = colon + 1;
	vl = n - nl - 1;
	while (vl > 0 && (*v == ' ' || *v == '\t')) {
		v++;
		vl--;
	}
	while (vl > 0 && (v[vl - 1] == '\r' || v[vl - 1] == '\n' ||
	    v[vl - 1] == ' '))
		vl--;
	if (nl >= sizeof(name))
		return n;
	memcpy(name, data, nl);
	name[nl] = '\0';
	if (strcasecmp(name, "www-authenticate") == 0) {
		size_t cur = strlen(x->rs->www_auth);
		size_t room = sizeof(x->rs->www_auth) - cur - 1;

		if (cur > 0 && room > 2) {
			memcpy(x->rs->www_auth + cur, ", ", 2);
			cur += 2;
			room -= 2;
		}
		if (vl > room)
			vl = room;
		memcpy(x->rs->www_auth + cur, v, vl);
		x->rs->www_auth[cur + vl] = '\0';
		return n;
	}
	if (vl >= sizeof(val))
		return n;
	memcpy(val, v, vl);
	val[vl] = '\0';
	if (strcasecmp(name, "retry-after") == 0)
		x->ra_s = atr_kv_parse_retry_after(name, val, time(NULL));
	else if (strcasecmp(name, "retry-after-ms") == 0 ||
	    strcasecmp(name, "x-ms-retry-after-ms") == 0)
		x->ra_ms = atr_kv_parse_retry_after(name, val, time(NULL));
	return n;
}

static int
retryable_status(long st, int imds)
{
	if (st == 408 || st == 429)
		return 1;
	if (imds && (st == 404 || st == 410))
		return 1;
	return st >= 500 && st <= 599 && st != 501 && st != 505;
}

static int
retryable_curl(CURLcode cc)
{
	switch (cc) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return 1;
	default:
		return 0;
	}
}

static uint64_t
jitter_rand(void)
{
	static _Thread_local uint64_t s;

	if (s == 0) {
		if (atr_random((uint8_t *)&s, sizeof(s)) != ATR_OK || s == 0)
			s = atr_now_ns() | 1;
	}
	/* xorshift64: jitter needs spread, not secrecy. */
	s ^= s << 13;
	s ^= s >> 7;
	s ^= s << 17;
	return s;
}

static long
backoff_ms(const struct atr_kv_client *c, unsigned retry)
{
	double d = (double)c->backoff_ms;
	unsigned i;

	for (i = 0; i < retry && d < (double)c->max_backoff_ms; i++)
		d *= 2;
	if (d > (double)c->max_backoff_ms)
		d = (double)c->max_backoff_ms;
	/* +-20 % so that clients throttled together do not retry together. */
	d *= 0.8 + 0.4 * (double)(jitter_rand() % 10001) / 10000.0;
	if (d > (double)c->max_backoff_ms)
		d = (double)c->max_backoff_ms;
	return (long)d;
}

static void
sleep_ms(long ms)
{
	struct timespec ts;

	if (ms <= 0)
		return;
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static enum atr_err
transport_failure(const struct atr_kv_client *c, const struct kv_req *rq,
    CURLcode cc, const char *ebuf, int too_large, unsigned attempts)
{
	const char *why = ebuf[0] != '\0' ? ebuf : atr_curl()->easy_strerror(cc);
	char tries[32] = "";

	if (attempts > 1)
		snprintf(tries, sizeof(tries), " (after %u attempts)",
		    attempts);
	switch (cc) {
	case CURLE_PEER_FAILED_VERIFICATION:
		return atr_fail(ATR_ERR_TLS,
		    "TLS certificate of %s not trusted (set ATREST_CA_FILE): %s",
		    rq->hostport, why);
	case CURLE_SSL_CACERT_BADFILE:
		return atr_fail(ATR_ERR_TLS,
		    "CA file %s holds no usable certificate: %s",
		    c->ca_file != NULL ? c->ca_file : "(system)", why);
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
	case CURLE_SSL_ENGINE_NOTFOUND:
	case CURLE_SSL_ENGINE_SETFAILED:
	case CURLE_SSL_ENGINE_INITFAILED:
	case CURLE_SSL_CRL_BADFILE:
	case CURLE_SSL_SHUTDOWN_FAILED:
	case CURLE_USE_SSL_FAILED:
		return atr_fail(ATR_ERR_TLS, "TLS with %s failed: %s",
		    rq->hostport, why);
	case CURLE_OPERATION_TIMEDOUT:
		return atr_fail(ATR_ERR_TIMEOUT,
		    "%s: %s did not answer in time: %s%s", rq->target,
		    rq->hostport, why, tries);
	case CURLE_UNSUPPORTED_PROTOCOL:
		return atr_fail(ATR_ERR_CONFIG,
		    "%s: only https:// is allowed here", rq->target);
	case CURLE_OUT_OF_MEMORY:
		return atr_fail(ATR_ERR_NOMEM, "out of memory talking to %s",
		    rq->target);
	case CURLE_WRITE_ERROR:
		if (too_large)
			return atr_fail(ATR_ERR_BAD_RESPONSE,
			    "%s sent a reply larger than %u bytes", rq->target,
			    KV_BODY_MAX);
		break;
	case CURLE_COULDNT_RESOLVE_HOST:
		return atr_fail(ATR_ERR_NETWORK, "%s: cannot resolve %s: %s",
		    rq->target, rq->hostport, why);
	case CURLE_COULDNT_CONNECT:
		return atr_fail(ATR_ERR_NETWORK,
		    "%s: cannot connect to %s: %s%s", rq->target, rq->hostport,
		    why, tries);
	default:
		break;
	}
	return atr_fail(ATR_ERR_NETWORK, "%s: %s%s", rq->target, why, tries);
}

static CURLcode
perform(CURL *h, const struct atr_kv_client *c, const struct kv_req *rq,
    struct xfer *x, char *ebuf)
{
	struct curl_slist hl[6];
	size_t nh = 0, i;
	char ctype[96];
	CURLcode cc = CURLE_OK;
	long connect_ms = rq->connect_timeout_ms > 0 ? rq->connect_timeout_ms :
	    c->connect_timeout_ms;

	/* Headers live on the stack: curl only reads the list, and the
	 * Authorization line must not be copied into curl-owned memory
	 * that is freed without being wiped. */
	hl[nh++].data = (char *)"Accept: application/json";
	/* No "Expect: 100-continue" round trip for small bodies. */
	hl[nh++].data = (char *)"Expect:";
	if (rq->body != NULL) {
		snprintf(ctype, sizeof(ctype), "Content-Type: %s",
		    rq->content_type != NULL ? rq->content_type :
		    "application/json");
		hl[nh++].data = ctype;
	}
	if (rq->auth != NULL)
		hl[nh++].data = (char *)rq->auth;
	if (rq->hdr1 != NULL)
		hl[nh++].data = (char *)rq->hdr1;
	if (rq->hdr2 != NULL)
		hl[nh++].data = (char *)rq->hdr2;
	for (i = 0; i < nh; i++)
		hl[i].next = i + 1 < nh ? &hl[i + 1] : NULL;

	atr_curl()->easy_reset(h);
	ebuf[0] = '\0';
#define SET(opt, val) do { if (cc == CURLE_OK) \
	cc = atr_curl()->easy_setopt(h, opt, val); } while (0)
	SET(CURLOPT_ERRORBUFFER, ebuf);
	SET(CURLOPT_URL, rq->url);
	SET(CURLOPT_PROTOCOLS_STR, rq->allow_http ? "http,https" : "https");
	/* IMDS is link-local: a proxy would only be a detour for a token. */
	if (rq->imds)
		SET(CURLOPT_NOPROXY, "*");
	SET(CURLOPT_FOLLOWLOCATION, 0L);
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
	SET(CURLOPT_SSL_VERIFYPEER, 1L);
	SET(CURLOPT_SSL_VERIFYHOST, 2L);
	if (c->ca_file != NULL)
		SET(CURLOPT_CAINFO, c->ca_file);
	SET(CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
	SET(CURLOPT_TIMEOUT_MS, c->timeout_ms);
	SET(CURLOPT_TCP_KEEPALIVE, 1L);
	SET(CURLOPT_USERAGENT, "atrest/0.1 (Key Vault client)");
	SET(CURLOPT_HTTPHEADER, hl);
	SET(CURLOPT_WRITEFUNCTION, on_body);
	SET(CURLOPT_WRITEDATA, x);
	SET(CURLOPT_HEADERFUNCTION, on_header);
	SET(CURLOPT_HEADERDATA, x);
	if (strcmp(rq->method, "GET") == 0) {
		SET(CURLOPT_HTTPGET, 1L);
	} else if (strcmp(rq->method, "DELETE") == 0) {
		SET(CURLOPT_CUSTOMREQUEST, "DELETE");
	} else {
		SET(CURLOPT_POST, 1L);
		SET(CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t)(rq->body != NULL ? rq->body_len : 0));
		SET(CURLOPT_POSTFIELDS, rq->body != NULL ? rq->body : "");
		if (strcmp(rq->method, "POST") != 0)
			SET(CURLOPT_CUSTOMREQUEST, rq->method);
	}
#undef SET
	if (cc != CURLE_OK)
		return cc;
	cc = atr_curl()->easy_perform(h);
	/* The Authorization line and the body must not stay referenced. */
	atr_curl()->easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
	atr_curl()->easy_setopt(h, CURLOPT_POSTFIELDS, NULL);
	if (cc == CURLE_OK) {
		long v = 0;

		atr_curl()->easy_getinfo(h, CURLINFO_RESPONSE_CODE, &x->rs->status);
		if (atr_curl()->easy_getinfo(h, CURLINFO_HTTP_VERSION, &v) ==
		    CURLE_OK && v == CURL_HTTP_VERSION_2_0)
			atomic_fetch_add(&st_http2, 1);
	}
	return cc;
}

enum atr_err
kv_http(const struct atr_kv_client *c, const struct kv_req *rq,
    struct kv_resp *rs, struct atr_kv_call *call)
{
	char ebuf[CURL_ERROR_SIZE];
	struct xfer x;
	CURLcode cc;
	CURL *h;
	unsigned retry;
	long delay;

	h = thread_handle();
	if (h == NULL)
		return atr_fail(ATR_ERR_NOMEM, "cannot set up libcurl");
	for (retry = 0;; retry++) {
		kv_resp_reset(rs);
		x.rs = rs;
		x.ra_ms = x.ra_s = -1;
		cc = perform(h, c, rq, &x, ebuf);
		call->attempts++;
		if (cc == CURLE_OK) {
			rs->retry_after_ms = x.ra_ms >= 0 ? x.ra_ms : x.ra_s;
			call->status = (int)rs->status;
			if (rs->status == 429)
				call->throttled++;
			if (!retryable_status(rs->status, rq->imds) ||
			    retry >= (unsigned)c->max_retries)
				return ATR_OK;
			if (rs->retry_after_ms >= 0) {
				call->retry_after_ms = rs->retry_after_ms;
				if (rs->retry_after_ms >
				    c->max_wait_ms - call->slept_ms) {
					rs->refused_wait_ms =
					    rs->retry_after_ms;
					return ATR_OK;
				}
				delay = rs->retry_after_ms;
				if (delay > c->max_backoff_ms)
					delay = c->max_backoff_ms;
			} else {
				delay = backoff_ms(c, retry);
			}
			if (delay > c->max_wait_ms - call->slept_ms)
				return ATR_OK;
		} else {
			if (!retryable_curl(cc) ||
			    retry >= (unsigned)c->max_retries ||
			    (rq->no_connect_retry &&
			    (cc == CURLE_COULDNT_CONNECT ||
			    cc == CURLE_OPERATION_TIMEDOUT))) {
				enum atr_err err = transport_failure(c, rq, cc, ebuf,
				    rs->too_large, retry + 1);

				kv_resp_reset(rs);
				return err;
			}
			delay = backoff_ms(c, retry);
			if (delay > c->max_wait_ms - call->slept_ms) {
				enum atr_err err = transport_failure(c, rq, cc, ebuf,
				    rs->too_large, retry + 1);

				kv_resp_reset(rs);
				return err;
			}
		}
		call->retries++;
		call->slept_ms += delay;
		sleep_ms(delay);
	}
}

enum atr_err
kv_note_refused_wait(const struct atr_kv_client *c, const struct kv_resp *rs,
    enum atr_err err)
{
	if (rs->refused_wait_ms < 0)
		return err;
	return atr_fail(err, "%s; it asked to retry after %ld s, more than "
	    "the %ld s a call waits (ATREST_KV_MAX_WAIT_MS)", atr_detail(),
	    (rs->refused_wait_ms + 999) / 1000, c->max_wait_ms / 1000);
}

/* ---- client ---- */

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

enum atr_err
atr_kv_client_new(const char *url, const struct atr_kv_opts *o,
    struct atr_kv_client **out)
{
	static const struct atr_kv_opts none = {.max_retries = -1};
	struct atr_kv_client *c;
	struct atr_kv_kid id;
	const char *ca, *av;
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
	ca = o->ca_file != NULL ? o->ca_file : getenv("ATREST_CA_FILE");
	if (ca != NULL && *ca != '\0') {
		if (access(ca, R_OK) != 0) {
			err = atr_fail(ATR_ERR_CONFIG,
			    "cannot read CA file %s: %s", ca, strerror(errno));
			goto fail;
		}
		c->ca_file = strdup(ca);
		if (c->ca_file == NULL) {
			err = atr_fail(ATR_ERR_NOMEM, "out of memory");
			goto fail;
		}
	}
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
	av = o->api_version != NULL ? o->api_version :
	    getenv("ATREST_KV_API_VERSION");
	if (av == NULL || *av == '\0')
		av = ATR_KV_API_VERSION_DEFAULT;
	if (strlen(av) >= sizeof(c->api_version) ||
	    strspn(av, "0123456789.-abcdefghijklmnopqrstuvwxyz") !=
	    strlen(av)) {
		err = atr_fail(ATR_ERR_CONFIG,
		    "bad Key Vault api-version '%.40s'", av);
		goto fail;
	}
	snprintf(c->api_version, sizeof(c->api_version), "%s", av);
	err = atr_curl_load();
	if (err != ATR_OK)
		goto fail;
	pthread_once(&g_once, global_init);
	if (!g_init_ok) {
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

/* ---- authenticated vault requests ---- */

/*
 * The SDKs' challenge resource verification (reference 3.1 step 6):
 * loopback emulators are exempt, as with the SDKs'
 * DisableChallengeResourceVerification, and so is any vault when
 * ATREST_KV_DISABLE_CHALLENGE_VERIFY=1.  Loopback means a literal
 * address or "localhost" (atr_kv_host_is_loopback), never a name that
 * only looks like one: "127.evil.test" resolves wherever its owner
 * wants.
 */
static enum atr_err
verify_challenge(const struct atr_kv_client *c,
    const struct atr_kv_challenge *ch)
{
	const char *v = getenv("ATREST_KV_DISABLE_CHALLENGE_VERIFY");

	if (atr_kv_host_is_loopback(c->vault.host) ||
	    (v != NULL && strcmp(v, "1") == 0) ||
	    atr_kv_challenge_fits(c->vault.host, ch))
		return ATR_OK;
	return atr_fail(ATR_ERR_UNAUTHORIZED,
	    "vault %s asked for a token for '%.100s', which is not its domain "
	    "(set ATREST_KV_DISABLE_CHALLENGE_VERIFY=1 only for an emulator)",
	    c->vault.hostport, ch->scope[0] != '\0' ? ch->scope : ch->resource);
}

static enum atr_err
take_challenge(const struct atr_kv_client *c, const struct kv_resp *rs,
    struct atr_kv_challenge *ch)
{
	enum atr_err err;

	if (atr_kv_parse_challenge(rs->www_auth, ch) != 0)
		return atr_fail(ATR_ERR_UNAUTHORIZED,
		    "vault %s answered 401 without a Bearer challenge",
		    c->vault.hostport);
	err = verify_challenge(c, ch);
	if (err != ATR_OK)
		return err;
	kv_challenge_put(c->vault.hostport, ch);
	atomic_fetch_add(&st_challenges, 1);
	return ATR_OK;
}

/*
 * One authenticated call: the challenge when this vault has none cached
 * (same method and URL, no body, no token: reference 3.1), then the
 * request with a bearer token, once more with a fresh token on a 401.
 * On return rs holds a 2xx answer, or the error is mapped and the
 * detail set.
 */
static enum atr_err
vault_call(struct atr_kv_client *c, enum atr_kv_opclass cls,
    const char *method, const char *url, const char *body, size_t body_len,
    const char *what, struct kv_resp *rs)
{
	struct atr_kv_call call;
	struct atr_kv_challenge ch;
	struct kv_token_ref ref;
	struct kv_req rq;
	char *auth = NULL;
	enum atr_err err;
	uint64_t t0 = atr_now_ns();
	int refreshed = 0;

	memset(&call, 0, sizeof(call));
	call.retry_after_ms = -1;
	memset(&rq, 0, sizeof(rq));
	rq.method = method;
	rq.url = url;
	rq.target = what;
	rq.hostport = c->vault.hostport;
	if (!kv_challenge_get(c->vault.hostport, &ch)) {
		/* POST/PATCH without a body: Content-Length 0. */
		err = kv_http(c, &rq, rs, &call);
		if (err != ATR_OK)
			goto out;
		if (rs->status != 401 && (body == NULL || rs->status < 400 ||
		    rs->status > 499 || rs->status == 408 ||
		    rs->status == 429))
			goto mapped;
		if (rs->status != 401) {
			/* A vault that asks for no token refused the empty
			 * body: send the request as it is, still without
			 * one. */
			rq.body = body;
			rq.body_len = body_len;
			rq.content_type = "application/json";
			err = kv_http(c, &rq, rs, &call);
			if (err != ATR_OK)
				goto out;
			goto mapped;
		}
		err = take_challenge(c, rs, &ch);
		if (err != ATR_OK)
			goto out;
	}
	rq.body = body;
	rq.body_len = body_len;
	rq.content_type = "application/json";
	for (;;) {
		err = kv_auth_header(c, &ch, &auth, &ref, &call);
		if (err != ATR_OK)
			goto out;
		rq.auth = auth;
		err = kv_http(c, &rq, rs, &call);
		rq.auth = NULL;
		if (err != ATR_OK)
			goto out;
		if (rs->status != 401 || refreshed || ref.is_static)
			break;
		/* Expired or revoked token, or a new challenge (CAE): one
		 * refresh, as the SDKs do. */
		refreshed = 1;
		if (rs->www_auth[0] != '\0') {
			struct atr_kv_challenge nch;

			if (atr_kv_parse_challenge(rs->www_auth, &nch) == 0 &&
			    verify_challenge(c, &nch) == ATR_OK) {
				kv_challenge_put(c->vault.hostport, &nch);
				ch = nch;
			}
		}
		kv_auth_invalidate(&ref, auth);
		kv_auth_free(auth);
		auth = NULL;
	}
mapped:
	if (rs->status >= 200 && rs->status <= 299)
		err = ATR_OK;
	else
		err = kv_note_refused_wait(c, rs,
		    atr_kv_error_from_response(rs->status, rs->body.p,
		    rs->body.len, cls, what, call.retries + 1));
out:
	kv_auth_free(auth);
	call.err = err;
	call.elapsed_ns = atr_now_ns() - t0;
	stats_record(cls, &call);
	return err;
}

/* ---- operations ---- */

static enum atr_err
check_name(const char *name, const char *version)
{
	size_t n;

	if (name == NULL)
		return atr_fail(ATR_ERR_USAGE, "missing key name");
	n = strlen(name);
	if (n == 0 || n > ATR_KV_NAME_MAX ||
	    strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789-") != n)
		return atr_fail(ATR_ERR_USAGE,
		    "bad key name '%.140s' (1 to %u letters, digits or '-')",
		    name, ATR_KV_NAME_MAX);
	if (version != NULL) {
		n = strlen(version);
		if (n > ATR_KV_VERSION_MAX ||
		    strspn(version, "abcdefghijklmnopqrstuvwxyz"
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") != n)
			return atr_fail(ATR_ERR_USAGE,
			    "bad key version '%.80s'", version);
	}
	return ATR_OK;
}

/* "https://vault/keys/NAME[/VERSION]" for messages. */
static void
key_what(const struct atr_kv_client *c, const char *op, const char *name,
    const char *version, char *what, size_t cap)
{
	snprintf(what, cap, "%s %s/keys/%s%s%s", op, c->vault.origin, name,
	    version != NULL && *version != '\0' ? "/" : "",
	    version != NULL ? version : "");
}

/* A reply's kid that is not the key asked for: wiped from out. */
static enum atr_err
wrong_kid(const struct atr_kv_client *c, const char *what, const char *kid,
    struct atr_kv_key *out)
{
	enum atr_err err = atr_fail(ATR_ERR_BAD_RESPONSE,
	    "%s: the reply's kid '%.200s' is not this key on vault %s", what,
	    kid != NULL ? kid : "(none)", c->vault.hostport);

	if (out != NULL)
		memset(out, 0, sizeof(*out));
	return err;
}

/*
 * Parses a KeyBundle answering for key name (and version, when not
 * NULL or ""): whatever a kid names is what callers record and where
 * they think the key lives, so another vault's or key's is refused.
 */
static enum atr_err
key_reply(const struct atr_kv_client *c, struct kv_resp *rs,
    const char *what, const char *name, const char *version,
    struct atr_kv_key *out)
{
	if (atr_kv_key_from_json(rs->body.p, rs->body.len, out) != ATR_OK)
		return atr_fail(ATR_ERR_BAD_RESPONSE, "%s: unusable reply: %s",
		    what, atr_detail());
	if (!atr_kv_kid_matches(&c->vault, out->kid, name, version, NULL))
		return wrong_kid(c, what, out->kid, out);
	return ATR_OK;
}

enum atr_err
atr_kv_get_key(struct atr_kv_client *c, const char *name, const char *version,
    struct atr_kv_key *out)
{
	struct kv_resp rs;
	char url[URL_MAX], what[512];
	enum atr_err err;

	memset(out, 0, sizeof(*out));
	if ((err = check_name(name, version)) != ATR_OK)
		return err;
	if (version == NULL)
		version = "";
	key_what(c, "get", name, version, what, sizeof(what));
	snprintf(url, sizeof(url), "%s/keys/%s%s%s?api-version=%s",
	    c->vault.origin, name, *version ? "/" : "", version,
	    c->api_version);
	kv_resp_init(&rs);
	err = vault_call(c, ATR_KV_CALL_GET, "GET", url, NULL, 0, what, &rs);
	if (err == ATR_OK)
		err = key_reply(c, &rs, what, name, version, out);
	kv_resp_free(&rs);
	return err;
}

static cJSON *
ops_array(unsigned mask)
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

/* Sends a JSON document built by the caller and parses a KeyBundle. */
static enum atr_err
json_call(struct atr_kv_client *c, const char *method, const char *url,
    cJSON *doc, const char *what, const char *name, const char *version,
    struct atr_kv_key *out)
{
	struct kv_resp rs;
	enum atr_err err;
	char *body = NULL;

	if (doc != NULL) {
		body = cJSON_PrintUnformatted(doc);
		if (body == NULL)
			return atr_fail(ATR_ERR_NOMEM, "out of memory");
	}
	kv_resp_init(&rs);
	err = vault_call(c, ATR_KV_CALL_MANAGE, method, url, body,
	    body != NULL ? strlen(body) : 0, what, &rs);
	if (err == ATR_OK && out != NULL)
		err = key_reply(c, &rs, what, name, version, out);
	kv_resp_free(&rs);
	free(body);
	return err;
}

static enum atr_err
add_attributes(cJSON *doc, int set_enabled, int enabled, int set_nbf,
    int64_t nbf, int set_exp, int64_t exp)
{
	cJSON *attr = cJSON_AddObjectToObject(doc, "attributes");

	if (attr == NULL)
		return ATR_ERR_NOMEM;
	if (set_enabled && cJSON_AddBoolToObject(attr, "enabled", enabled) ==
	    NULL)
		return ATR_ERR_NOMEM;
	if (set_nbf && cJSON_AddNumberToObject(attr, "nbf", (double)nbf) ==
	    NULL)
		return ATR_ERR_NOMEM;
	if (set_exp && cJSON_AddNumberToObject(attr, "exp", (double)exp) ==
	    NULL)
		return ATR_ERR_NOMEM;
	return ATR_OK;
}

enum atr_err
atr_kv_create_key(struct atr_kv_client *c, const char *name,
    const struct atr_kv_create *p, struct atr_kv_key *out)
{
	static const struct atr_kv_create none;
	char url[URL_MAX], what[512];
	cJSON *doc = NULL, *ops;
	enum atr_err err;

	memset(out, 0, sizeof(*out));
	if ((err = check_name(name, NULL)) != ATR_OK)
		return err;
	if (p == NULL)
		p = &none;
	key_what(c, "create", name, NULL, what, sizeof(what));
	snprintf(url, sizeof(url), "%s/keys/%s/create?api-version=%s",
	    c->vault.origin, name, c->api_version);
	doc = cJSON_CreateObject();
	if (doc == NULL ||
	    cJSON_AddStringToObject(doc, "kty", p->kty != NULL ? p->kty :
	    "RSA") == NULL ||
	    (p->size > 0 && cJSON_AddNumberToObject(doc, "key_size",
	    p->size) == NULL))
		goto nomem;
	if (p->key_ops != 0) {
		ops = ops_array(p->key_ops);
		if (ops == NULL)
			goto nomem;
		cJSON_AddItemToObject(doc, "key_ops", ops);
	}
	/* The attributes object must be present, even empty (ref. 1.1). */
	if (add_attributes(doc, p->disabled, 0, p->nbf != 0, p->nbf,
	    p->exp != 0, p->exp) != ATR_OK)
		goto nomem;
	err = json_call(c, "POST", url, doc, what, name, NULL, out);
	cJSON_Delete(doc);
	return err;
nomem:
	cJSON_Delete(doc);
	return atr_fail(ATR_ERR_NOMEM, "out of memory");
}

enum atr_err
atr_kv_update_key(struct atr_kv_client *c, const char *name,
    const char *version, const struct atr_kv_update *u,
    struct atr_kv_key *out)
{
	char url[URL_MAX], what[512];
	cJSON *doc, *ops;
	enum atr_err err;

	memset(out, 0, sizeof(*out));
	if ((err = check_name(name, version)) != ATR_OK)
		return err;
	if (version == NULL)
		version = "";
	key_what(c, "update", name, version, what, sizeof(what));
	/* PATCH /keys/{name}/{version}; an empty version means the latest
	 * (the SDKs then send a trailing slash, reference section 0). */
	snprintf(url, sizeof(url), "%s/keys/%s/%s?api-version=%s",
	    c->vault.origin, name, version, c->api_version);
	doc = cJSON_CreateObject();
	if (doc == NULL)
		goto nomem;
	if (u->set_key_ops) {
		ops = ops_array(u->key_ops);
		if (ops == NULL)
			goto nomem;
		cJSON_AddItemToObject(doc, "key_ops", ops);
	}
	if ((u->set_enabled || u->set_nbf || u->set_exp) &&
	    add_attributes(doc, u->set_enabled, u->enabled, u->set_nbf, u->nbf,
	    u->set_exp, u->exp) != ATR_OK)
		goto nomem;
	err = json_call(c, "PATCH", url, doc, what, name, version,
	    out);
	cJSON_Delete(doc);
	return err;
nomem:
	cJSON_Delete(doc);
	return atr_fail(ATR_ERR_NOMEM, "out of memory");
}

enum atr_err
atr_kv_rotate_key(struct atr_kv_client *c, const char *name,
    struct atr_kv_key *out)
{
	char url[URL_MAX], what[512];
	enum atr_err err;

	memset(out, 0, sizeof(*out));
	if ((err = check_name(name, NULL)) != ATR_OK)
		return err;
	key_what(c, "rotate", name, NULL, what, sizeof(what));
	snprintf(url, sizeof(url), "%s/keys/%s/rotate?api-version=%s",
	    c->vault.origin, name, c->api_version);
	/* No body, as the SDKs send it (reference 1.4). */
	return json_call(c, "POST", url, NULL, what, name, NULL, out);
}

enum atr_err
atr_kv_delete_key(struct atr_kv_client *c, const char *name,
    struct atr_kv_key *out)
{
	char url[URL_MAX], what[512];
	enum atr_err err;

	memset(out, 0, sizeof(*out));
	if ((err = check_name(name, NULL)) != ATR_OK)
		return err;
	key_what(c, "delete", name, NULL, what, sizeof(what));
	snprintf(url, sizeof(url), "%s/keys/%s?api-version=%s",
	    c->vault.origin, name, c->api_version);
	return json_call(c, "DELETE", url, NULL, what, name, NULL, out);
}

enum atr_err
atr_kv_get_deleted_key(struct atr_kv_client *c, const char *name,
    struct atr_kv_key *out)
{
	char url[URL_MAX], what[512];
	enum atr_err err;

	memset(out, 0, sizeof(*out));
	if ((err = check_name(name, NULL)) != ATR_OK)
		return err;
	snprintf(what, sizeof(what), "get deleted %s/deletedkeys/%s",
	    c->vault.origin, name);
	snprintf(url, sizeof(url), "%s/deletedkeys/%s?api-version=%s",
	    c->vault.origin, name, c->api_version);
	return json_call(c, "GET", url, NULL, what, name, NULL, out);
}

enum atr_err
atr_kv_recover_key(struct atr_kv_client *c, const char *name,
    struct atr_kv_key *out)
{
	char url[URL_MAX], what[512];
	enum atr_err err;

	memset(out, 0, sizeof(*out));
	if ((err = check_name(name, NULL)) != ATR_OK)
		return err;
	snprintf(what, sizeof(what), "recover %s/deletedkeys/%s",
	    c->vault.origin, name);
	snprintf(url, sizeof(url), "%s/deletedkeys/%s/recover?api-version=%s",
	    c->vault.origin, name, c->api_version);
	return json_call(c, "POST", url, NULL, what, name, NULL, out);
}

enum atr_err
atr_kv_purge_key(struct atr_kv_client *c, const char *name)
{
	char url[URL_MAX], what[512];
	enum atr_err err;

	if ((err = check_name(name, NULL)) != ATR_OK)
		return err;
	snprintf(what, sizeof(what), "purge %s/deletedkeys/%s",
	    c->vault.origin, name);
	snprintf(url, sizeof(url), "%s/deletedkeys/%s?api-version=%s",
	    c->vault.origin, name, c->api_version);
	return json_call(c, "DELETE", url, NULL, what, name, NULL,
	    NULL);
}

/* nextLink must stay on this vault: the token goes wherever it points. */
static enum atr_err
check_next_link(const struct atr_kv_client *c, const char *link,
    const char *what)
{
	struct atr_kv_kid id;
	const char *path;
	char origin[ATR_KV_ORIGIN_MAX + 2];
	size_t n;

	if (strncasecmp(link, "https://", 8) != 0)
		goto bad;
	path = strchr(link + 8, '/');
	n = path != NULL ? (size_t)(path - link) : strlen(link);
	if (n >= sizeof(origin) || strlen(link) >= URL_MAX)
		goto bad;
	memcpy(origin, link, n);
	origin[n] = '\0';
	if (atr_kv_parse_vault_url(origin, &id) != ATR_OK ||
	    !atr_kv_same_vault(&id, &c->vault) ||
	    strpbrk(link, " \r\n\t") != NULL)
		goto bad;
	return ATR_OK;
bad:
	atr_detail_clear();
	return atr_fail(ATR_ERR_BAD_RESPONSE,
	    "%s: nextLink does not point into vault %s", what,
	    c->vault.hostport);
}

enum atr_err
atr_kv_list_versions(struct atr_kv_client *c, const char *name,
    struct atr_kv_key **items, size_t *count)
{
	struct atr_kv_key *arr = NULL, *na;
	struct kv_resp rs;
	char url[URL_MAX], what[512];
	cJSON *doc = NULL;
	const cJSON *val, *it, *next;
	size_t n = 0, cap = 0;
	unsigned pages;
	enum atr_err err;

	*items = NULL;
	*count = 0;
	if ((err = check_name(name, NULL)) != ATR_OK)
		return err;
	key_what(c, "list versions of", name, NULL, what, sizeof(what));
	snprintf(url, sizeof(url),
	    "%s/keys/%s/versions?api-version=%s&maxresults=25",
	    c->vault.origin, name, c->api_version);
	kv_resp_init(&rs);
	for (pages = 0; pages < LIST_PAGES_MAX; pages++) {
		err = vault_call(c, ATR_KV_CALL_MANAGE, "GET", url, NULL, 0,
		    what, &rs);
		if (err != ATR_OK)
			goto out;
		doc = cJSON_ParseWithLength(rs.body.p, rs.body.len);
		val = doc != NULL ? cJSON_GetObjectItemCaseSensitive(doc,
		    "value") : NULL;
		if (!cJSON_IsArray(val)) {
			err = atr_fail(ATR_ERR_BAD_RESPONSE,
			    "%s: the reply has no \"value\" list", what);
			goto out;
		}
		cJSON_ArrayForEach(it, val) {
			char *one;

			if (n == cap) {
				cap = cap == 0 ? 8 : cap * 2;
				na = realloc(arr, cap * sizeof(*arr));
				if (na == NULL) {
					err = atr_fail(ATR_ERR_NOMEM,
					    "out of memory");
					goto out;
				}
				arr = na;
			}
			one = cJSON_PrintUnformatted(it);
			if (one == NULL) {
				err = atr_fail(ATR_ERR_NOMEM, "out of memory");
				goto out;
			}
			err = atr_kv_key_from_json(one, strlen(one), &arr[n]);
			free(one);
			if (err != ATR_OK) {
				err = atr_fail(ATR_ERR_BAD_RESPONSE,
				    "%s: bad item: %s", what, atr_detail());
				goto out;
			}
			if (!atr_kv_kid_matches(&c->vault, arr[n].kid, name,
			    NULL, NULL)) {
				err = wrong_kid(c, what, arr[n].kid, NULL);
				goto out;
			}
			n++;
		}
		next = cJSON_GetObjectItemCaseSensitive(doc, "nextLink");
		if (!cJSON_IsString(next) || next->valuestring[0] == '\0')
			break;
		err = check_next_link(c, next->valuestring, what);
		if (err != ATR_OK)
			goto out;
		snprintf(url, sizeof(url), "%s", next->valuestring);
		cJSON_Delete(doc);
		doc = NULL;
	}
	*items = arr;
	*count = n;
	arr = NULL;
	err = ATR_OK;
out:
	cJSON_Delete(doc);
	free(arr);
	kv_resp_free(&rs);
	return err;
}

/* SHA-256 and SHA-1 output bytes: the OAEP hash of each algorithm. */
static size_t
oaep_hlen(enum atr_wrap_alg alg)
{
	return alg == ATR_WRAP_RSA_OAEP_SHA1 ? 20 : 32;
}

/*
 * The lengths the algorithm allows: *wrapped is the one length of the
 * wrapped value, *plain_max the longest plain value (and *plain_min the
 * shortest).  RSA-OAEP (RFC 8017 7.1.1): the ciphertext is exactly k,
 * the modulus length, and the message at most k - 2 hLen - 2 bytes.
 * AES-KW (RFC 3394 2.2.1): at least two 64-bit blocks in, one more out.
 * -1 when the key size cannot give a length.
 */
static int
wrap_lengths(enum atr_wrap_alg alg, unsigned key_bits, size_t plain_len,
    int unwrap, size_t *wrapped, size_t *plain_min, size_t *plain_max)
{
	size_t k;

	if (alg == ATR_WRAP_AES_KW) {
		if (unwrap) {
			/* plain_len is the wrapped input here. */
			if (plain_len < 24 || plain_len % 8 != 0)
				return -1;
			*wrapped = plain_len;
			*plain_min = *plain_max = plain_len - 8;
			return 0;
		}
		if (plain_len < 16 || plain_len % 8 != 0)
			return -1;
		*wrapped = plain_len + 8;
		*plain_min = *plain_max = plain_len;
		return 0;
	}
	k = ((size_t)key_bits + 7) / 8;
	if (key_bits == 0 || k > ATR_WRAPPED_MAX ||
	    k < 2 * oaep_hlen(alg) + 3)
		return -1;
	*wrapped = k;
	*plain_min = 1;
	*plain_max = k - 2 * oaep_hlen(alg) - 2;
	return 0;
}

/*
 * POST .../{wrapkey|unwrapkey}: {"alg":...,"value":base64url} ->
 * {"kid":...,"value":...} (reference 1.7).  The request body and the
 * reply are wiped: they hold the DEK in one direction or the other.
 */
static enum atr_err
crypt_op(struct atr_kv_client *c, int unwrap, const char *name,
    const char *version, enum atr_wrap_alg alg, unsigned key_bits,
    const uint8_t *in, size_t in_len, uint8_t *out, size_t *out_len,
    char *kid, size_t kid_cap)
{
	struct kv_resp rs;
	char url[URL_MAX], what[512];
	char *body = NULL;
	const char *algname, *v, *rkid;
	size_t cap = *out_len, blen, b64cap, wlen, pmin, pmax;
	cJSON *doc = NULL;
	enum atr_err err;
	long w;

	*out_len = 0;
	kv_resp_init(&rs);
	if ((err = check_name(name, version)) != ATR_OK)
		goto out;
	if (version == NULL)
		version = "";
	algname = atr_kv_alg_for(alg);
	if (algname == NULL) {
		if (unwrap)
			atr_detail_clear();
		err = unwrap ? ATR_ERR_AUTH : atr_fail(ATR_ERR_UNSUPPORTED,
		    "%s is not a Key Vault wrap algorithm",
		    atr_wrap_alg_name(alg));
		goto out;
	}
	if (alg != ATR_WRAP_AES_KW && key_bits == 0) {
		err = atr_fail(ATR_ERR_USAGE, "the RSA key's size is unknown");
		goto out;
	}
	/* A wrapped input of the wrong length is no wrapped key of this
	 * one: refused as any other that does not open, without a call. */
	if (in_len == 0 || in_len > ATR_WRAPPED_MAX ||
	    wrap_lengths(alg, key_bits, in_len, unwrap, &wlen, &pmin,
	    &pmax) != 0 || (unwrap ? in_len != wlen : in_len > pmax)) {
		if (unwrap)
			atr_detail_clear();
		err = unwrap ? ATR_ERR_AUTH : atr_fail(ATR_ERR_USAGE,
		    "bad wrap input length %zu for %s with a %u-bit key",
		    in_len, algname, key_bits);
		goto out;
	}
	key_what(c, unwrap ? "unwrapkey with" : "wrapkey with", name, version,
	    what, sizeof(what));
	snprintf(url, sizeof(url), "%s/keys/%s%s%s/%s?api-version=%s",
	    c->vault.origin, name, *version ? "/" : "", version,
	    unwrap ? "unwrapkey" : "wrapkey", c->api_version);
	b64cap = in_len / 3 * 4 + 5;
	blen = b64cap + 64;
	body = malloc(blen);
	if (body == NULL) {
		err = atr_fail(ATR_ERR_NOMEM, "out of memory");
		goto out;
	}
	w = snprintf(body, blen, "{\"alg\":\"%s\",\"value\":\"", algname);
	if (w < 0 || (size_t)w >= blen) {
		err = atr_fail(ATR_ERR_NOMEM, "wrap body");
		goto out;
	}
	{
		long e = atr_b64url_encode(in, in_len, body + w,
		    blen - (size_t)w);

		if (e < 0 || (size_t)(w + e) + 3 > blen) {
			err = atr_fail(ATR_ERR_NOMEM, "wrap body");
			goto out;
		}
		w += e;
		memcpy(body + w, "\"}", 3);
		w += 2;
	}
	err = vault_call(c, unwrap ? ATR_KV_CALL_UNWRAP : ATR_KV_CALL_WRAP,
	    "POST", url, body, (size_t)w, what, &rs);
	if (err != ATR_OK)
		goto out;
	doc = cJSON_ParseWithLength(rs.body.p, rs.body.len);
	v = doc != NULL ? cJSON_GetStringValue(
	    cJSON_GetObjectItemCaseSensitive(doc, "value")) : NULL;
	rkid = doc != NULL ? cJSON_GetStringValue(
	    cJSON_GetObjectItemCaseSensitive(doc, "kid")) : NULL;
	if (v == NULL || atr_b64url_decode(v, strlen(v), ATR_B64_STD_ALPHABET, out, cap,
	    out_len) != 0 || *out_len == 0) {
		err = atr_fail(ATR_ERR_BAD_RESPONSE,
		    "%s: the reply's \"value\" is missing, not base64url or "
		    "larger than %zu bytes", what, cap);
		goto out;
	}
	/* A wrapped key of another length cannot be opened by anyone
	 * (and an unwrapped one of another length is not what was
	 * wrapped): recording it would lose the data for good. */
	if (unwrap ? (*out_len < pmin || *out_len > pmax) : *out_len != wlen) {
		err = atr_fail(ATR_ERR_BAD_RESPONSE,
		    "%s: the reply's value has %zu bytes; %s with a %u-bit "
		    "key gives %s %zu", what, *out_len, algname, key_bits,
		    unwrap && pmin != pmax ? "at most" : "exactly",
		    unwrap ? pmax : wlen);
		goto out;
	}
	/* The kid the vault used must be this key on this vault, and this
	 * version when one was asked for: it is what the stanza records. */
	if (!atr_kv_kid_matches(&c->vault, rkid, name, version, NULL)) {
		err = wrong_kid(c, what, rkid, NULL);
		goto out;
	}
	if (kid != NULL && kid_cap > 0)
		snprintf(kid, kid_cap, "%s", rkid);
	err = ATR_OK;
out:
	if (err != ATR_OK && out != NULL) {
		atr_memzero(out, cap);
		*out_len = 0;
	}
	if (doc != NULL) {
		atr_json_wipe(doc);
		cJSON_Delete(doc);
	}
	if (body != NULL) {
		atr_memzero(body, blen);
		free(body);
	}
	kv_resp_free(&rs);
	return err;
}

enum atr_err
atr_kv_wrap(struct atr_kv_client *c, const char *name, const char *version,
    enum atr_wrap_alg alg, unsigned key_bits, const uint8_t *in,
    size_t in_len, uint8_t *out, size_t *out_len, char *kid, size_t kid_cap)
{
	return crypt_op(c, 0, name, version, alg, key_bits, in, in_len, out,
	    out_len, kid, kid_cap);
}

enum atr_err
atr_kv_unwrap(struct atr_kv_client *c, const char *name, const char *version,
    enum atr_wrap_alg alg, unsigned key_bits, const uint8_t *in,
    size_t in_len, uint8_t *out, size_t *out_len)
{
	return crypt_op(c, 1, name, version, alg, key_bits, in, in_len, out,
	    out_len, NULL, 0);
}
