/*
 * kv_http.c - the Key Vault client's transport: one HTTP exchange with
 * retries, the Retry-After budget, and the statistics of every call.
 *
 * It knows nothing of tokens: a request carries its Authorization line
 * ready-made (struct kv_req.auth, kv_internal.h), so this file sits below
 * kv_auth.c, which sends its token requests through it.
 *
 * One libcurl easy handle per thread, kept in a pthread key and reset
 * (not recreated) before each request, so its connection cache gives
 * keep-alive and TLS session reuse across calls.  HTTP/2 is offered
 * through ALPN (CURL_HTTP_VERSION_2TLS).  Peer and host verification are
 * always on; a private CA is added with CURLOPT_CAINFO, never by turning
 * verification off.
 *
 * Retries: 408, 429, 500, 502-504 and other 5xx except 501 and 505, plus
 * connection failures and timeouts, up to max_retries times: the set the
 * Azure SDKs retry (azure-core's RetryPolicy, core-rest-pipeline's
 * exponential and throttling strategies) and the exponential back-off
 * the Key Vault throttling guidance asks for:
 *   https://learn.microsoft.com/en-us/azure/key-vault/general/overview-throttling
 * The delay is the server's Retry-After (seconds or HTTP-date, RFC 9110
 * 10.2.3), retry-after-ms or x-ms-retry-after-ms when sent, else
 * base * 2^n with +-20 % jitter, both capped at max_backoff_ms, and all
 * of a call's delays together at max_wait_ms: a server asking for more
 * than the budget has left (a hostile or broken "Retry-After: 3600") gets
 * its answer returned at once, since retrying sooner than asked would
 * only be refused again.  Unlike the JS and Python SDKs a 429 without
 * Retry-After on a POST is retried too: wrapkey and unwrapkey have no
 * side effect to repeat.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#include "crypto.h"
#include "curl_dl.h"
#include "kv_internal.h"
#include "util.h"

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
kv_stats_challenge(void)
{
	atomic_fetch_add(&st_challenges, 1);
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

void
kv_stats_record(enum atr_kv_opclass cls, const struct atr_kv_call *call)
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

int
kv_http_ready(void)
{
	pthread_once(&g_once, global_init);
	return g_init_ok;
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
	const char *why = ebuf[0] != '\0' ? ebuf :
	    atr_curl()->easy_strerror(cc);
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
	struct curl_slist hl[6], ct[KV_CONNECT_TO_MAX];
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
	/* Like the headers, on the stack: curl reads the list during the
	 * transfer only (CURLOPT_CONNECT_TO). */
	for (i = 0; i < c->nconnect_to; i++) {
		ct[i].data = (char *)c->connect_to[i];
		ct[i].next = i + 1 < c->nconnect_to ? &ct[i + 1] : NULL;
	}

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
	if (c->nconnect_to > 0)
		SET(CURLOPT_CONNECT_TO, ct);
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
	atr_curl()->easy_setopt(h, CURLOPT_CONNECT_TO, NULL);
	atr_curl()->easy_setopt(h, CURLOPT_POSTFIELDS, NULL);
	if (cc == CURLE_OK) {
		long v = 0;

		atr_curl()->easy_getinfo(h, CURLINFO_RESPONSE_CODE,
		    &x->rs->status);
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
	long delay = 0;

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
			int give_up = !retryable_curl(cc) ||
			    retry >= (unsigned)c->max_retries ||
			    (rq->no_connect_retry &&
			    (cc == CURLE_COULDNT_CONNECT ||
			    cc == CURLE_OPERATION_TIMEDOUT));

			if (!give_up) {
				delay = backoff_ms(c, retry);
				give_up = delay > c->max_wait_ms -
				    call->slept_ms;
			}
			if (give_up) {
				enum atr_err err = transport_failure(c, rq, cc,
				    ebuf, rs->too_large, retry + 1);

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
