/*
 * kv_auth.c - challenges and bearer tokens for the Key Vault client: the
 * caches and the token request itself.  The credentials that make the
 * requests, and the chain that picks one, are in kv_cred.c.
 *
 * Fetched tokens are cached process-wide per (credential, authority,
 * tenant, client, scope) and refreshed 5 minutes before they expire
 * (half the lifetime for short-lived ones: a 1-hour token at 55
 * minutes, a 10-minute one at 5).  Every copy is wiped when released.
 * Token requests are serialised (kv_fetch_lock) so that many threads
 * starting together fetch one token, not one each.
 */
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "codec.h"
#include "crypto.h"
#include "fsutil.h"
#include "kv_internal.h"
#include "json.h"

#define AUTH_PREFIX "Authorization: Bearer "
/* A token lifetime beyond a year is no real token's (Entra ID issues
 * 1 to 24 hours); dates stop at ATR_DATE_MAX. */
#define LIFETIME_MAX 31536000LL

/* ---- challenges ---- */

struct chal_ent {
	struct chal_ent *next;
	char hostport[ATR_KV_HOST_MAX + 8];
	struct atr_kv_challenge ch;
};

static pthread_mutex_t chal_mu = PTHREAD_MUTEX_INITIALIZER;
static struct chal_ent *chal_head;

int
kv_challenge_get(const char *hostport, struct atr_kv_challenge *out)
{
	struct chal_ent *e;
	int found = 0;

	pthread_mutex_lock(&chal_mu);
	for (e = chal_head; e != NULL; e = e->next)
		if (strcasecmp(e->hostport, hostport) == 0) {
			*out = e->ch;
			found = 1;
			break;
		}
	pthread_mutex_unlock(&chal_mu);
	return found;
}

void
kv_challenge_put(const char *hostport, const struct atr_kv_challenge *ch)
{
	struct chal_ent *e;

	pthread_mutex_lock(&chal_mu);
	for (e = chal_head; e != NULL; e = e->next)
		if (strcasecmp(e->hostport, hostport) == 0)
			break;
	if (e == NULL) {
		e = calloc(1, sizeof(*e));
		if (e != NULL) {
			snprintf(e->hostport, sizeof(e->hostport), "%s",
			    hostport);
			e->next = chal_head;
			chal_head = e;
		}
	}
	if (e != NULL)
		e->ch = *ch;
	pthread_mutex_unlock(&chal_mu);
}

/* ---- token cache ---- */

struct tok_ent {
	struct tok_ent *next;
	char key[1400];
	char *hdr;          /* "Authorization: Bearer TOKEN" */
	size_t hdr_len;
	time_t refresh_at;
};

static pthread_mutex_t tok_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t fetch_mu = PTHREAD_MUTEX_INITIALIZER;
static struct tok_ent *tok_head;

void
kv_fetch_lock(void)
{
	pthread_mutex_lock(&fetch_mu);
}

void
kv_fetch_unlock(void)
{
	pthread_mutex_unlock(&fetch_mu);
}

void
kv_auth_free(char *hdr)
{
	if (hdr != NULL)
		atr_secure_free(hdr, strlen(hdr));
}

static void
tok_free(struct tok_ent *e)
{
	atr_secure_free(e->hdr, e->hdr_len);
	atr_memzero(e, sizeof(*e));
	free(e);
}

/* Drops every token and challenge (atr_kv_cache_clear). */
void
kv_auth_caches_clear(void)
{
	struct tok_ent *t, *tn;
	struct chal_ent *c, *cn;

	pthread_mutex_lock(&tok_mu);
	for (t = tok_head; t != NULL; t = tn) {
		tn = t->next;
		tok_free(t);
	}
	tok_head = NULL;
	pthread_mutex_unlock(&tok_mu);
	pthread_mutex_lock(&chal_mu);
	for (c = chal_head; c != NULL; c = cn) {
		cn = c->next;
		free(c);
	}
	chal_head = NULL;
	pthread_mutex_unlock(&chal_mu);
}

static char *
dup_secret(const char *s, size_t n)
{
	char *d = malloc(n + 1);

	if (d != NULL) {
		memcpy(d, s, n);
		d[n] = '\0';
	}
	return d;
}

/* A copy of the cached header when it is still fresh, else NULL. */
char *
kv_tok_lookup(const char *key)
{
	struct tok_ent *e;
	char *hdr = NULL;
	time_t now = time(NULL);

	pthread_mutex_lock(&tok_mu);
	for (e = tok_head; e != NULL; e = e->next)
		if (strcmp(e->key, key) == 0) {
			if (now < e->refresh_at)
				hdr = dup_secret(e->hdr, e->hdr_len);
			break;
		}
	pthread_mutex_unlock(&tok_mu);
	return hdr;
}

void
kv_tok_store(const char *key, const char *hdr, time_t refresh_at)
{
	struct tok_ent *e, **pp;

	pthread_mutex_lock(&tok_mu);
	for (pp = &tok_head; *pp != NULL; pp = &(*pp)->next)
		if (strcmp((*pp)->key, key) == 0) {
			e = *pp;
			*pp = e->next;
			tok_free(e);
			break;
		}
	e = calloc(1, sizeof(*e));
	if (e != NULL) {
		snprintf(e->key, sizeof(e->key), "%s", key);
		/* hdr: what token_request returned with ATR_OK, never NULL */
		/* NOLINTNEXTLINE(clang-analyzer-core.NonNullParamChecker) */
		e->hdr_len = strlen(hdr);
		e->hdr = dup_secret(hdr, e->hdr_len);
		e->refresh_at = refresh_at;
		if (e->hdr == NULL) {
			free(e);
		} else {
			e->next = tok_head;
			tok_head = e;
		}
	}
	pthread_mutex_unlock(&tok_mu);
}

void
kv_auth_invalidate(const struct kv_token_ref *ref, const char *hdr)
{
	struct tok_ent *e, **pp;

	if (ref->key[0] == '\0' || hdr == NULL)
		return;
	pthread_mutex_lock(&tok_mu);
	for (pp = &tok_head; *pp != NULL; pp = &(*pp)->next)
		if (strcmp((*pp)->key, ref->key) == 0) {
			e = *pp;
			/* Another thread may have refreshed it already. */
			if (strcmp(e->hdr, hdr) == 0) {
				*pp = e->next;
				tok_free(e);
			}
			break;
		}
	pthread_mutex_unlock(&tok_mu);
}

/* ---- helpers ---- */

/* A form value (application/x-www-form-urlencoded, as the token
 * endpoints take it): RFC 3986 percent-encoding of a C string. */
int
kv_form_encode(const char *in, char *out, size_t cap)
{
	return atr_pct_encode((const uint8_t *)in, strlen(in), 0, out, cap) <
	    0 ? -1 : 0;
}

/* RFC 6750 2.1 b64token: also keeps CR/LF out of the header. */
int
kv_token_ok(const char *t, size_t n)
{
	size_t i;

	if (n == 0 || n > KV_TOKEN_MAX)
		return 0;
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)t[i];

		if (!isalnum(ch) && strchr("-._~+/=", ch) == NULL)
			return 0;
	}
	return 1;
}

char *
kv_make_header(const char *tok, size_t n)
{
	size_t pl = sizeof(AUTH_PREFIX) - 1;
	char *h = malloc(pl + n + 1);

	if (h == NULL)
		return NULL;
	memcpy(h, AUTH_PREFIX, pl);
	memcpy(h + pl, tok, n);
	h[pl + n] = '\0';
	return h;
}

/* "host[:port]" of an URL, for messages. */
void
kv_url_hostport(const char *url, char *out, size_t cap)
{
	const char *h = strstr(url, "://");
	size_t n;

	h = h != NULL ? h + 3 : url;
	n = strcspn(h, "/?#");
	snprintf(out, cap, "%.*s", (int)n, h);
}

time_t
kv_refresh_time(time_t now, int64_t life)
{
	if (life < 0)
		life = 0;
	if (life > LIFETIME_MAX)
		life = LIFETIME_MAX;
	/* Refresh 5 minutes early, or half-way for short-lived tokens. */
	return now + (time_t)(life - (life / 2 < 300 ? life / 2 : 300));
}

/* Older App Service identity endpoints (api-version 2017-09-01) send
 * expires_on as a date ("11/18/2020 12:00:00 AM +00:00"), not a number:
 * left unused rather than read as "11". */
static int
date_string(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	return cJSON_IsString(v) && strchr(v->valuestring, '/') != NULL;
}

/*
 * Runs a token request and turns the reply into a header.  what names
 * the endpoint in messages.
 */
enum atr_err
kv_token_request(const struct atr_kv_client *c, const struct kv_req *rq,
    const char *what, char **hdr, time_t *refresh_at,
    struct atr_kv_call *call)
{
	struct atr_kv_call tc;
	struct kv_resp rs;
	cJSON *doc = NULL;
	const char *tok;
	enum atr_err err;
	int64_t exp_in, exp_on, life;
	int have_in, have_on;
	time_t now;

	*hdr = NULL;
	memset(&tc, 0, sizeof(tc));
	kv_resp_init(&rs);
	call->token_fetches++;
	kv_stats_token_fetch();
	err = kv_http(c, rq, &rs, &tc);
	call->slept_ms += tc.slept_ms;
	if (err != ATR_OK)
		goto out;
	if (rs.status < 200 || rs.status > 299) {
		err = kv_note_refused_wait(c, &rs,
		    atr_kv_error_from_response(rs.status, rs.body.p,
		    rs.body.len, ATR_KV_CALL_MANAGE, what, tc.retries + 1));
		/* A refused credential is an authorization failure however
		 * the endpoint words it. */
		if (rs.status >= 400 && rs.status < 500 && rs.status != 429 &&
		    rs.status != 408)
			err = ATR_ERR_UNAUTHORIZED;
		goto out;
	}
	doc = cJSON_ParseWithLength(rs.body.p, rs.body.len);
	tok = doc != NULL ? cJSON_GetStringValue(
	    cJSON_GetObjectItemCaseSensitive(doc, "access_token")) : NULL;
	if (tok == NULL || !kv_token_ok(tok, strlen(tok))) {
		err = atr_fail(ATR_ERR_BAD_RESPONSE,
		    "%s: the reply has no usable access_token", what);
		goto out;
	}
	/* Range-checked before any conversion or sum: a hostile
	 * "expires_in": 1e300 must not reach C's undefined conversions
	 * (C11 6.3.1.4) or overflow now + life. */
	have_in = atr_kv_json_int(doc, "expires_in", 0, LIFETIME_MAX,
	    &exp_in);
	have_on = atr_kv_json_int(doc, "expires_on", 0, ATR_DATE_MAX,
	    &exp_on);
	if (have_on < 0 && date_string(doc, "expires_on"))
		have_on = 0;
	if (have_in < 0 || have_on < 0) {
		err = atr_fail(ATR_ERR_BAD_RESPONSE,
		    "%s: the reply's %s is not a number of seconds from 0 to "
		    "%lld", what, have_in < 0 ? "expires_in" : "expires_on",
		    have_in < 0 ? LIFETIME_MAX : ATR_DATE_MAX);
		goto out;
	}
	now = time(NULL);
	if (have_on > 0 && exp_on > now)
		life = exp_on - now;
	else if (have_in > 0)
		life = exp_in;
	else
		life = 300;
	*refresh_at = kv_refresh_time(now, life);
	*hdr = kv_make_header(tok, strlen(tok));
	if (*hdr == NULL)
		err = atr_fail(ATR_ERR_NOMEM, "out of memory");
out:
	if (doc != NULL) {
		atr_json_wipe(doc);
		cJSON_Delete(doc);
	}
	kv_resp_free(&rs);
	return err;
}

int
kv_tenant_ok(const char *t)
{
	size_t n = strlen(t);

	return n > 0 && n < 128 &&
	    strspn(t, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789-._") == n;
}
