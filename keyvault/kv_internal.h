/*
 * kv_internal.h - what kv_client.c (transport, operations) and kv_auth.c
 * (challenges, tokens) share.  Not for use outside the Key Vault client.
 */
#ifndef ATR_KV_INTERNAL_H
#define ATR_KV_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "kv_client.h"

#define KV_BODY_MAX (1024U * 1024U)   /* largest reply accepted */

struct atr_kv_client {
	struct atr_kv_kid vault;   /* origin, host, port; no name */
	char *ca_file;             /* NULL: the system store */
	long connect_timeout_ms;
	long timeout_ms;
	long backoff_ms;
	long max_backoff_ms;
	long max_wait_ms;          /* all back-off of one call */
	int max_retries;
	char api_version[32];
};

/* A growable buffer that is wiped whenever its memory is released:
 * replies carry unwrapped keys and tokens. */
struct kv_buf {
	char *p;
	size_t len, cap;
};

struct kv_resp {
	long status;
	struct kv_buf body;
	char www_auth[2048];       /* WWW-Authenticate, challenges joined */
	long retry_after_ms;       /* -1: none */
	long refused_wait_ms;      /* -1; else a delay beyond the budget */
	int too_large;
};

struct kv_req {
	const char *method;        /* GET POST PATCH DELETE */
	const char *url;
	const char *body;          /* NULL: no body */
	size_t body_len;
	const char *content_type;  /* with a body */
	const char *auth;          /* "Authorization: Bearer ..." or NULL */
	const char *hdr1, *hdr2;   /* extra headers or NULL */
	const char *target;        /* "vault HOST" for messages */
	const char *hostport;      /* for the TLS message */
	int allow_http;            /* IMDS is plain http on a link-local IP */
	int imds;                  /* also retry 404 and 410 (IMDS doc) */
	int no_connect_retry;      /* the default IMDS: absent means absent */
	long connect_timeout_ms;   /* 0: the client's */
};

void kv_resp_init(struct kv_resp *rs);
void kv_resp_reset(struct kv_resp *rs);
void kv_resp_free(struct kv_resp *rs);

/*
 * One HTTP exchange with retries.  ATR_OK means an HTTP answer arrived
 * (any status; after exhausted retries the last 429/5xx is returned for
 * the caller to map); otherwise a transport failure with the detail set.
 */
enum atr_err kv_http(const struct atr_kv_client *c, const struct kv_req *rq,
    struct kv_resp *rs, struct atr_kv_call *call);
/* After an error answer was mapped: says in the detail when retrying
 * stopped because the server asked for a delay beyond the budget. */
enum atr_err kv_note_refused_wait(const struct atr_kv_client *c,
    const struct kv_resp *rs, enum atr_err err);

/* Counts one token request in the global statistics. */
void kv_stats_token_fetch(void);

/* Challenge cache, per vault host:port. */
int kv_challenge_get(const char *hostport, struct atr_kv_challenge *out);
void kv_challenge_put(const char *hostport, const struct atr_kv_challenge *ch);

/*
 * A bearer token for the challenge's scope, as a malloc'd header line
 * "Authorization: Bearer TOKEN" (free with kv_auth_free).  *is_static is
 * set when it came from ATREST_AZURE_TOKEN (nothing to refresh).
 */
struct kv_token_ref {
	char key[1400];  /* cache key; "" when not cached */
	int is_static;
};
enum atr_err kv_auth_header(const struct atr_kv_client *c,
    const struct atr_kv_challenge *ch, char **hdr, struct kv_token_ref *ref,
    struct atr_kv_call *call);
/* Drops the cached token if it is still the one in hdr (a 401). */
void kv_auth_invalidate(const struct kv_token_ref *ref, const char *hdr);
void kv_auth_free(char *hdr);
void kv_auth_cache_clear(void);

/* Percent-encodes (RFC 3986 unreserved kept) into out; -1 if too long. */
int kv_urlencode(const char *in, char *out, size_t cap);

/* Monotonic nanoseconds. */

#endif
