/*
 * kv_internal.h - what the files of the Key Vault client share.  Not for
 * use outside keyvault/.
 *
 * The files, lowest first; each calls only the ones above it in this
 * list, never one below:
 *
 *   curl_dl.c    libcurl, opened on first use
 *   kv_parse.c   pure parsing: identifiers, challenges, Retry-After,
 *                error bodies, KeyBundles (no I/O)
 *   kv_http.c    the transport: one exchange with retries and the
 *                Retry-After budget; statistics
 *   kv_auth.c    challenge and token caches; one token request, sent
 *                through kv_http()
 *   kv_assert.c  a certificate credential's file and its signed JWT
 *                client assertion (no I/O beyond reading the file)
 *   kv_cred_cli.c  the Azure CLI credential (runs az)
 *   kv_cred.c    the credentials and the chain that picks one;
 *                kv_auth_header, refresh and its failure latch
 *   kv_client.c  the client object and its settings
 *   kv_call.c    one authenticated vault request: the challenge and the
 *                token from kv_auth.c, sent through kv_http()
 *   kv_admin.c   get, create, update, rotate, list, delete, recover,
 *                purge
 *   kv_crypto.c  wrapkey, unwrapkey
 *
 * The transport takes a token only as a finished header line
 * (kv_req.auth), borrowed for the exchange: it never asks for one, so
 * kv_http.c does not depend on kv_auth.c, and kv_auth.c can send its
 * token requests through the same retries and budget as everything
 * else.  Joining the two is kv_call.c's job.
 */
#ifndef ATR_KV_INTERNAL_H
#define ATR_KV_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "kv_client.h"

#define KV_BODY_MAX (1024U * 1024U)   /* largest reply accepted */
#define KV_URL_MAX 4096U               /* longest URL sent */
#define KV_CONNECT_TO_MAX 4U           /* ATREST_KV_CONNECT_TO entries */
#define KV_CONNECT_TO_LEN 300U         /* bytes of one, NUL included */

struct atr_kv_client {
	struct atr_kv_kid vault;   /* origin, host, port; no name */
	char *ca_file;             /* owned (malloc'd); NULL: system store */
	long connect_timeout_ms;
	long timeout_ms;
	long backoff_ms;
	long max_backoff_ms;
	long max_wait_ms;          /* all back-off of one call */
	int max_retries;
	char api_version[32];
	/* ATREST_KV_CONNECT_TO entries, "HOST:PORT:CHOST:CPORT" each, given
	 * to curl as CURLOPT_CONNECT_TO (kv_client.c checks them). */
	char connect_to[KV_CONNECT_TO_MAX][KV_CONNECT_TO_LEN];
	size_t nconnect_to;
};

/* ---- kv_http.c: the transport ---- */

/* A growable buffer that is wiped whenever its memory is released:
 * replies carry unwrapped keys and tokens.  p is owned by the buffer. */
struct kv_buf {
	char *p;
	size_t len, cap;
};

/*
 * An answer.  The caller owns the struct; body.p is allocated by
 * kv_http() and released (wiped) by kv_resp_reset/kv_resp_free.
 */
struct kv_resp {
	long status;
	struct kv_buf body;
	char www_auth[2048];       /* WWW-Authenticate, challenges joined */
	long retry_after_ms;       /* -1: none */
	long refused_wait_ms;      /* -1; else a delay beyond the budget */
	int too_large;
};

/*
 * A request.  Every pointer is borrowed for the kv_http() call only;
 * none is kept or freed.  auth is the whole header line, which curl is
 * given on the stack and never copies (so it is not left unwiped in
 * curl's memory).
 */
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

/* 1 once libcurl's global state and the per-thread handle key are set
 * up (done on the first call), 0 when they cannot be. */
int kv_http_ready(void);

/*
 * One HTTP exchange with retries.  ATR_OK means an HTTP answer arrived
 * (any status; after exhausted retries the last 429/5xx is returned for
 * the caller to map); otherwise a transport failure with the detail set.
 * c, rq are borrowed for the call; rs and call are the caller's, filled
 * in (call's counters are added to, not reset).
 */
enum atr_err kv_http(const struct atr_kv_client *c, const struct kv_req *rq,
    struct kv_resp *rs, struct atr_kv_call *call);
/* After an error answer was mapped: says in the detail when retrying
 * stopped because the server asked for a delay beyond the budget. */
enum atr_err kv_note_refused_wait(const struct atr_kv_client *c,
    const struct kv_resp *rs, enum atr_err err);

/* Global statistics: one token request, one challenge taken, one call
 * of class cls finished (also kept as this thread's last call). */
void kv_stats_token_fetch(void);
void kv_stats_challenge(void);
void kv_stats_record(enum atr_kv_opclass cls, const struct atr_kv_call *call);

/* ---- kv_auth.c: challenges and tokens ---- */

/* Challenge cache, per vault host:port; entries are copied in and out. */
int kv_challenge_get(const char *hostport, struct atr_kv_challenge *out);
void kv_challenge_put(const char *hostport, const struct atr_kv_challenge *ch);

/* Drops every cached token and challenge (atr_kv_cache_clear). */
void kv_auth_caches_clear(void);
/* Serialises token requests: taken around a lookup-fetch-store. */
void kv_fetch_lock(void);
void kv_fetch_unlock(void);
/* A copy of the cached header for key when still fresh (the caller's,
 * kv_auth_free), else NULL.  Stores a copy of hdr until refresh_at. */
char *kv_tok_lookup(const char *key);
void kv_tok_store(const char *key, const char *hdr, time_t refresh_at);
/* When to refresh a token that lives life seconds from now: 5 minutes
 * early, or half-way for one of less than 10 minutes. */
time_t kv_refresh_time(time_t now, int64_t life);

#define KV_TOKEN_MAX 16384U
/* RFC 6750 2.1 b64token of 1 to KV_TOKEN_MAX characters: also keeps
 * CR/LF out of the header. */
int kv_token_ok(const char *t, size_t n);
/* "Authorization: Bearer TOK", malloc'd (kv_auth_free), or NULL. */
char *kv_make_header(const char *tok, size_t n);
/* RFC 3986 percent-encoding of a form value into out[cap]; -1 when it
 * does not fit (out wiped). */
int kv_form_encode(const char *in, char *out, size_t cap);
/* "host[:port]" of an URL, for messages. */
void kv_url_hostport(const char *url, char *out, size_t cap);
/* 1 when t can be a tenant id in a URL path. */
int kv_tenant_ok(const char *t);
/*
 * Sends a token request rq (borrowed) and turns a JSON reply with
 * access_token and expires_in / expires_on into a header in *hdr
 * (kv_auth_free) and its refresh time.  what names the endpoint.  A 4xx
 * refusal is ATR_ERR_UNAUTHORIZED with the endpoint's error in the
 * detail.  Counts one token fetch in call and the statistics.
 */
enum atr_err kv_token_request(const struct atr_kv_client *c,
    const struct kv_req *rq, const char *what, char **hdr,
    time_t *refresh_at, struct atr_kv_call *call);

/* ---- kv_assert.c: certificate client assertions ---- */

struct kv_cert;
/* Loads a PEM (certificates and an RSA key, any order; an encrypted key
 * opened with password) or PKCS#12 file (password may be NULL): the
 * leaf is the certificate of the key.  ATR_ERR_CONFIG naming
 * AZURE_CLIENT_CERTIFICATE_PATH when unusable. */
enum atr_err kv_cert_load(const char *path, const char *password,
    struct kv_cert **out);
void kv_cert_free(struct kv_cert *c);
/* A signed JWT client assertion (PS256, or RS256 when pss is 0) for
 * client cid and token endpoint aud, valid from now for 10 minutes,
 * with x5c when send_chain; malloc'd into *jwt, the caller's to wipe
 * and free (atr_secure_free). */
enum atr_err kv_assertion_build(const struct kv_cert *c, const char *cid,
    const char *aud, int pss, int send_chain, time_t now, char **jwt);

/* ---- kv_cred.c: credentials ---- */

/*
 * A bearer token for the challenge's scope, as a malloc'd header line
 * "Authorization: Bearer TOKEN" in *hdr, the caller's to release with
 * kv_auth_free (which wipes it).  *is_static is set when it came from
 * ATREST_AZURE_TOKEN (nothing to refresh).  c and ch are borrowed for
 * the call.  A credential's failure is ATR_ERR_UNAUTHORIZED (or a
 * configuration error) with a detail that starts with its name; once a
 * credential that had given a token fails to refresh it, every later
 * call fails at once with that same detail (docs/KEYVAULT.md).
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
/* Wipes and frees a header from kv_auth_header; NULL-safe. */
void kv_auth_free(char *hdr);
/* After the vault refused a static token (401): the error for it. */
enum atr_err kv_static_refused(enum atr_err err);

/* ---- kv_call.c: authenticated requests, shared checks ---- */

/*
 * One authenticated call of class cls (counted in the statistics).  url,
 * body and what are borrowed for the call; rs is the caller's.  On
 * ATR_OK rs holds a 2xx answer; otherwise the error is mapped and the
 * detail set.
 */
enum atr_err kv_vault_call(struct atr_kv_client *c, enum atr_kv_opclass cls,
    const char *method, const char *url, const char *body, size_t body_len,
    const char *what, struct kv_resp *rs);

/* ATR_ERR_USAGE unless name is a key name and version (NULL: not
 * checked) a version, so neither can change the path they go into. */
enum atr_err kv_check_name(const char *name, const char *version);
/* "OP https://vault/keys/NAME[/VERSION]" into what[cap], for messages. */
void kv_key_what(const struct atr_kv_client *c, const char *op,
    const char *name, const char *version, char *what, size_t cap);
/* ATR_ERR_BAD_RESPONSE for a reply whose kid is not the key asked for;
 * out (may be NULL) is zeroed. */
enum atr_err kv_wrong_kid(const struct atr_kv_client *c, const char *what,
    const char *kid, struct atr_kv_key *out);

#endif
