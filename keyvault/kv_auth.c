/*
 * kv_auth.c - challenges and bearer tokens for the Key Vault client.
 *
 * Token sources, first that applies, in the order of Azure Identity's
 * credential chain (DefaultAzureCredential: the environment's service
 * principal, then a managed identity):
 *   1. ATREST_AZURE_TOKEN             a token obtained elsewhere, as is
 *   2. client credentials             AZURE_CLIENT_SECRET + AZURE_CLIENT_ID
 *      + AZURE_TENANT_ID (else the challenge's tenant), POSTed to
 *      AZURE_AUTHORITY_HOST/{tenant}/oauth2/v2.0/token (Entra ID v2,
 *      RFC 6749 4.4) with the challenge's scope
 *   3. managed identity               GET ATREST_IMDS_ENDPOINT, else
 *      IDENTITY_ENDPOINT (App Service, with X-IDENTITY-HEADER), else the
 *      VM's IMDS http://169.254.169.254/metadata/identity/oauth2/token,
 *      with "Metadata: true" and the resource; AZURE_CLIENT_ID selects a
 *      user-assigned identity
 *
 * Sources:
 *   Azure Identity and DefaultAzureCredential
 *     https://learn.microsoft.com/en-us/azure/developer/intro/azure-developer-authentication-overview
 *   client credentials grant (Microsoft identity platform)
 *     https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-client-creds-grant-flow
 *   IMDS token request ("How to use managed identities for Azure
 *   resources on an Azure VM to acquire an access token")
 *     https://learn.microsoft.com/en-us/entra/identity/managed-identities-azure-resources/how-to-use-vm-token
 *   App Service / Functions identity endpoint (IDENTITY_ENDPOINT,
 *   X-IDENTITY-HEADER, api-version 2019-08-01)
 *     https://learn.microsoft.com/en-us/azure/app-service/overview-managed-identity
 *
 * Fetched tokens are cached process-wide per (source, authority, tenant,
 * client, scope) and refreshed 5 minutes before they expire (half the
 * lifetime for short-lived ones).  Every copy is wiped when released.
 * Token requests are serialised so that many threads starting together
 * fetch one token, not one each.
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

#define AUTHORITY_DEFAULT "https://login.microsoftonline.com"
#define IMDS_DEFAULT "http://169.254.169.254/metadata/identity/oauth2/token"
#define IMDS_CONNECT_MS 1000L
#define TOKEN_MAX 16384U
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

/* atr_kv_cache_clear (kv_client.h): tokens and challenges alike. */
void
atr_kv_cache_clear(void)
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
static char *
tok_lookup(const char *key)
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

static void
tok_store(const char *key, const char *hdr, time_t refresh_at)
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
static int
form_encode(const char *in, char *out, size_t cap)
{
	return atr_pct_encode((const uint8_t *)in, strlen(in), 0, out, cap) <
	    0 ? -1 : 0;
}

/* RFC 6750 2.1 b64token: also keeps CR/LF out of the header. */
static int
token_ok(const char *t, size_t n)
{
	size_t i;

	if (n == 0 || n > TOKEN_MAX)
		return 0;
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)t[i];

		if (!isalnum(ch) && strchr("-._~+/=", ch) == NULL)
			return 0;
	}
	return 1;
}

static char *
make_header(const char *tok, size_t n)
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
static void
url_hostport(const char *url, char *out, size_t cap)
{
	const char *h = strstr(url, "://");
	size_t n;

	h = h != NULL ? h + 3 : url;
	n = strcspn(h, "/?#");
	snprintf(out, cap, "%.*s", (int)n, h);
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
static enum atr_err
token_request(const struct atr_kv_client *c, const struct kv_req *rq,
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
	if (tok == NULL || !token_ok(tok, strlen(tok))) {
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
	/* Refresh 5 minutes early, or half-way for short-lived tokens. */
	*refresh_at = now + (time_t)(life - (life / 2 < 300 ? life / 2 : 300));
	*hdr = make_header(tok, strlen(tok));
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

static int
tenant_ok(const char *t)
{
	size_t n = strlen(t);

	return n > 0 && n < 128 &&
	    strspn(t, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789-._") == n;
}

static enum atr_err
client_credentials(const struct atr_kv_client *c,
    const struct atr_kv_challenge *ch, const char *cid, const char *secret,
    char **hdr, struct kv_token_ref *ref, struct atr_kv_call *call)
{
	const char *tenant = getenv("AZURE_TENANT_ID");
	const char *auth = getenv("AZURE_AUTHORITY_HOST");
	char authority[512], url[1024], what[1100], hp[300];
	char ecid[512], escope[800];
	char *body = NULL, *esecret = NULL;
	size_t blen = 0, an, sl;
	struct kv_req rq;
	time_t refresh_at = 0;
	enum atr_err err;

	if (tenant == NULL || *tenant == '\0')
		tenant = ch->tenant;
	if (!tenant_ok(tenant))
		return atr_fail(ATR_ERR_CONFIG, "%s",
		    *tenant == '\0' ?
		    "AZURE_TENANT_ID is not set and the vault's challenge "
		    "names no tenant" : "AZURE_TENANT_ID is not a tenant id");
	if (auth == NULL || *auth == '\0')
		auth = AUTHORITY_DEFAULT;
	an = strlen(auth);
	while (an > 0 && auth[an - 1] == '/')
		an--;
	if (an >= sizeof(authority) - 1 ||
	    strncasecmp(auth, "https://", 8) != 0)
		return atr_fail(ATR_ERR_CONFIG,
		    "AZURE_AUTHORITY_HOST must be an https:// URL (the client "
		    "secret is sent there)");
	snprintf(authority, sizeof(authority), "%.*s", (int)an, auth);
	snprintf(url, sizeof(url), "%s/%s/oauth2/v2.0/token", authority,
	    tenant);
	snprintf(ref->key, sizeof(ref->key), "cc|%s|%s|%.200s|%.300s",
	    authority, tenant, cid, ch->scope);
	if ((*hdr = tok_lookup(ref->key)) != NULL)
		return ATR_OK;
	pthread_mutex_lock(&fetch_mu);
	if ((*hdr = tok_lookup(ref->key)) != NULL) {
		err = ATR_OK;
		goto out;
	}
	sl = strlen(secret);
	esecret = malloc(sl * 3 + 1);
	if (esecret == NULL || form_encode(secret, esecret, sl * 3 + 1) != 0 ||
	    form_encode(cid, ecid, sizeof(ecid)) != 0 ||
	    form_encode(ch->scope, escope, sizeof(escope)) != 0) {
		err = atr_fail(ATR_ERR_CONFIG,
		    "AZURE_CLIENT_ID or the challenge scope is too long");
		goto out;
	}
	blen = strlen(esecret) + strlen(ecid) + strlen(escope) + 128;
	body = malloc(blen);
	if (body == NULL) {
		err = atr_fail(ATR_ERR_NOMEM, "out of memory");
		goto out;
	}
	snprintf(body, blen,
	    "grant_type=client_credentials&client_id=%s&client_secret=%s"
	    "&scope=%s", ecid, esecret, escope);
	url_hostport(url, hp, sizeof(hp));
	snprintf(what, sizeof(what), "token endpoint %s", url);
	memset(&rq, 0, sizeof(rq));
	rq.method = "POST";
	rq.url = url;
	rq.body = body;
	rq.body_len = strlen(body);
	rq.content_type = "application/x-www-form-urlencoded";
	rq.target = what;
	rq.hostport = hp;
	err = token_request(c, &rq, what, hdr, &refresh_at, call);
	if (err == ATR_OK)
		tok_store(ref->key, *hdr, refresh_at);
out:
	pthread_mutex_unlock(&fetch_mu);
	if (esecret != NULL)
		atr_secure_free(esecret, strlen(esecret));
	atr_secure_free(body, blen);
	return err;
}

static enum atr_err
managed_identity(const struct atr_kv_client *c,
    const struct atr_kv_challenge *ch, const char *cid, char **hdr,
    struct kv_token_ref *ref, struct atr_kv_call *call)
{
	const char *ep = getenv("ATREST_IMDS_ENDPOINT");
	const char *idh = NULL, *apiv = "2018-02-01";
	char resource[300], eres[900], ecid[512], url[2048], what[2200];
	char hp[300], idhdr[600];
	size_t rl;
	struct kv_req rq;
	time_t refresh_at = 0;
	enum atr_err err;
	int dflt = 0;

	if (ep == NULL || *ep == '\0') {
		ep = getenv("IDENTITY_ENDPOINT");
		if (ep != NULL && *ep != '\0') {
			/* App Service / Functions (see the top of the
			 * file). */
			idh = getenv("IDENTITY_HEADER");
			if (idh != NULL && *idh != '\0')
				apiv = "2019-08-01";
			else
				idh = NULL;
		}
	}
	if (ep == NULL || *ep == '\0') {
		ep = IMDS_DEFAULT;
		dflt = 1;
	}
	if (strlen(ep) > 1024 || (strncasecmp(ep, "https://", 8) != 0 &&
	    strncasecmp(ep, "http://", 7) != 0) || strpbrk(ep, "?# \r\n"))
		return atr_fail(ATR_ERR_CONFIG,
		    "the managed identity endpoint must be an http(s) URL "
		    "without a query");
	/* IMDS takes a resource, not a scope: drop "/.default". */
	rl = strlen(ch->scope);
	if (rl >= 9 && strcmp(ch->scope + rl - 9, "/.default") == 0)
		rl -= 9;
	if (rl == 0 || rl >= sizeof(resource))
		return atr_fail(ATR_ERR_CONFIG, "bad challenge scope");
	snprintf(resource, sizeof(resource), "%.*s", (int)rl, ch->scope);
	if (form_encode(resource, eres, sizeof(eres)) != 0 ||
	    (cid != NULL && form_encode(cid, ecid, sizeof(ecid)) != 0))
		return atr_fail(ATR_ERR_CONFIG, "AZURE_CLIENT_ID is too long");
	snprintf(url, sizeof(url), "%s?api-version=%s&resource=%s%s%s", ep,
	    apiv, eres, cid != NULL ? "&client_id=" : "",
	    cid != NULL ? ecid : "");
	snprintf(ref->key, sizeof(ref->key), "mi|%.300s|%.100s|%.300s", ep,
	    cid != NULL ? cid : "", resource);
	if ((*hdr = tok_lookup(ref->key)) != NULL)
		return ATR_OK;
	pthread_mutex_lock(&fetch_mu);
	if ((*hdr = tok_lookup(ref->key)) != NULL) {
		err = ATR_OK;
		goto out;
	}
	url_hostport(ep, hp, sizeof(hp));
	snprintf(what, sizeof(what), "managed identity endpoint %s", ep);
	memset(&rq, 0, sizeof(rq));
	rq.method = "GET";
	rq.url = url;
	rq.hdr1 = "Metadata: true";
	if (idh != NULL) {
		if (strpbrk(idh, "\r\n") != NULL ||
		    strlen(idh) >= sizeof(idhdr) - 24) {
			err = atr_fail(ATR_ERR_CONFIG, "bad IDENTITY_HEADER");
			goto out;
		}
		snprintf(idhdr, sizeof(idhdr), "X-IDENTITY-HEADER: %s", idh);
		rq.hdr2 = idhdr;
	}
	rq.target = what;
	rq.hostport = hp;
	rq.allow_http = 1;
	rq.imds = 1;
	if (dflt) {
		rq.no_connect_retry = 1;
		rq.connect_timeout_ms = IMDS_CONNECT_MS;
	}
	err = token_request(c, &rq, what, hdr, &refresh_at, call);
	if (err == ATR_OK) {
		tok_store(ref->key, *hdr, refresh_at);
	} else if (dflt) {
		/* Not on Azure, most likely: say what the choices are. */
		char why[200];

		snprintf(why, sizeof(why), "%s", atr_detail());
		err = atr_fail(ATR_ERR_UNAUTHORIZED,
		    "no Azure credentials: set ATREST_AZURE_TOKEN, or "
		    "AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET, "
		    "or run where a managed identity endpoint answers (%s: %s)",
		    hp, why);
	}
out:
	pthread_mutex_unlock(&fetch_mu);
	atr_memzero(idhdr, sizeof(idhdr));
	return err;
}

enum atr_err
kv_auth_header(const struct atr_kv_client *c,
    const struct atr_kv_challenge *ch, char **hdr, struct kv_token_ref *ref,
    struct atr_kv_call *call)
{
	const char *env = getenv("ATREST_AZURE_TOKEN");
	const char *cid = getenv("AZURE_CLIENT_ID");
	const char *secret = getenv("AZURE_CLIENT_SECRET");

	*hdr = NULL;
	memset(ref, 0, sizeof(*ref));
	if (cid != NULL && *cid == '\0')
		cid = NULL;
	if (env != NULL && *env != '\0') {
		ref->is_static = 1;
		if (!token_ok(env, strlen(env)))
			return atr_fail(ATR_ERR_CONFIG,
			    "ATREST_AZURE_TOKEN is not a bearer token "
			    "(RFC 6750 b64token characters only)");
		*hdr = make_header(env, strlen(env));
		return *hdr != NULL ? ATR_OK :
		    atr_fail(ATR_ERR_NOMEM, "out of memory");
	}
	if (secret != NULL && *secret != '\0') {
		if (cid == NULL)
			return atr_fail(ATR_ERR_CONFIG,
			    "AZURE_CLIENT_SECRET is set but AZURE_CLIENT_ID "
			    "is not");
		return client_credentials(c, ch, cid, secret, hdr, ref, call);
	}
	return managed_identity(c, ch, cid, hdr, ref, call);
}
