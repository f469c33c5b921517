/*
 * kv_cred.c - where the Key Vault client's tokens come from: the
 * credentials, and the chain that picks one, in the order of Azure
 * Identity's DefaultAzureCredential and with its variable names:
 *
 *   1. ClientSecretCredential       AZURE_CLIENT_SECRET (+ AZURE_CLIENT_ID,
 *                                   AZURE_TENANT_ID)
 *   2. ClientCertificateCredential  AZURE_CLIENT_CERTIFICATE_PATH (PEM or
 *                                   PKCS#12), AZURE_CLIENT_CERTIFICATE_PASSWORD,
 *                                   AZURE_CLIENT_SEND_CERTIFICATE_CHAIN
 *   3. WorkloadIdentityCredential   AZURE_FEDERATED_TOKEN_FILE, re-read for
 *                                   every token request (the platform
 *                                   rotates it)
 *   4. ManagedIdentityCredential    ATREST_IMDS_ENDPOINT, IDENTITY_ENDPOINT
 *                                   + IDENTITY_HEADER, else the VM's IMDS
 *   5. AzureCliCredential           az account get-access-token
 *                                   (kv_cred_cli.c)
 *   6. StaticTokenCredential        ATREST_AZURE_TOKEN, used as is
 *
 * 1 to 3 POST the client-credentials grant (RFC 6749 4.4) to
 * AZURE_AUTHORITY_HOST/{tenant}/oauth2/v2.0/token with the challenge's
 * scope: with client_secret, or with a JWT client_assertion of type
 * urn:ietf:params:oauth:client-assertion-type:jwt-bearer (RFC 7523 2.2):
 * signed by the certificate (kv_assert.c), or the federated token file.
 *   https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-client-creds-grant-flow
 *   https://learn.microsoft.com/en-us/entra/workload-id/workload-identity-federation
 *   https://learn.microsoft.com/en-us/azure/developer/intro/azure-developer-authentication-overview
 * Managed identity: the IMDS and App Service pages,
 *   https://learn.microsoft.com/en-us/entra/identity/managed-identities-azure-resources/how-to-use-vm-token
 *   https://learn.microsoft.com/en-us/azure/app-service/overview-managed-identity
 *
 * A credential that is not configured is "unavailable" and the chain
 * moves on; one that is configured and fails ends the chain, as the
 * SDKs do.  The credential that gave a token is kept for the rest of the
 * process; ATREST_AZURE_CREDENTIAL pins one.  Once a credential that had
 * given a token fails to get the next one, that failure is latched:
 * every later call fails at once with the same detail, so a long run
 * stops cleanly and says why once.  docs/KEYVAULT.md "Credentials".
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
#include "json.h"
#include "kv_cred_cli.h"
#include "kv_internal.h"
#include "quote.h"

#define AUTHORITY_DEFAULT "https://login.microsoftonline.com"
#define IMDS_DEFAULT "http://169.254.169.254/metadata/identity/oauth2/token"
#define IMDS_CONNECT_MS 1000L
#define FED_TOKEN_MAX (64U * 1024U)
#define ASSERTION_TYPE \
	"urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer"
#define DETAIL_CAP 2048

enum cred {
	CR_SECRET, CR_CERT, CR_WORKLOAD, CR_MANAGED, CR_CLI, CR_TOKEN, CR__N
};

static const struct {
	const char *pin;   /* ATREST_AZURE_CREDENTIAL value */
	const char *name;  /* as Azure Identity names it */
} creds[CR__N] = {
	[CR_SECRET] = {"secret", "ClientSecretCredential"},
	[CR_CERT] = {"certificate", "ClientCertificateCredential"},
	[CR_WORKLOAD] = {"workload", "WorkloadIdentityCredential"},
	[CR_MANAGED] = {"managed", "ManagedIdentityCredential"},
	[CR_CLI] = {"cli", "AzureCliCredential"},
	[CR_TOKEN] = {"token", "StaticTokenCredential"},
};

/* The chain's state, process-wide like the token cache. */
static pthread_mutex_t st_mu = PTHREAD_MUTEX_INITIALIZER;
static int chosen = -1;             /* the credential that gave a token */
static int imds_absent;             /* the default IMDS did not answer */
static enum atr_err latch_err;      /* ATR_OK: not latched */
static char latch_detail[DETAIL_CAP];

/* What one credential is asked: the request's context and outputs. */
struct cctx {
	const struct atr_kv_client *c;
	const struct atr_kv_challenge *ch;
	char **hdr;
	struct kv_token_ref *ref;
	struct atr_kv_call *call;
	int unavailable;  /* set: not configured; the detail says why */
};

/* atr_kv_cache_clear (kv_client.h): tokens, challenges and the chain. */
void
atr_kv_cache_clear(void)
{
	kv_auth_caches_clear();
	pthread_mutex_lock(&st_mu);
	chosen = -1;
	imds_absent = 0;
	latch_err = ATR_OK;
	atr_memzero(latch_detail, sizeof(latch_detail));
	pthread_mutex_unlock(&st_mu);
}

static const char *
env(const char *name)
{
	const char *v = getenv(name);

	return v != NULL && *v != '\0' ? v : NULL;
}

static enum atr_err
unavailable(struct cctx *x, const char *why)
{
	x->unavailable = 1;
	return atr_fail(ATR_ERR_UNAUTHORIZED, "%s", why);
}

/* ---- the client-credentials grant (secret, certificate, federated) ---- */

struct app {
	const char *tag;          /* cache key prefix */
	const char *cid;
	const char *secret;       /* client_secret, or NULL */
	const char *cert_path;    /* certificate assertion, or NULL */
	const char *token_file;   /* federated assertion, or NULL */
};

/* authority/{tenant}/oauth2/v2.0/token into url[cap]. */
static enum atr_err
token_url(const struct atr_kv_challenge *ch, char *url, size_t cap,
    char *authority, size_t acap)
{
	const char *tenant = env("AZURE_TENANT_ID");
	const char *auth = env("AZURE_AUTHORITY_HOST");
	size_t an;

	if (tenant == NULL)
		tenant = ch->tenant;
	if (!kv_tenant_ok(tenant))
		return atr_fail(ATR_ERR_CONFIG, "%s", *tenant == '\0' ?
		    "AZURE_TENANT_ID is not set and the vault's challenge "
		    "names no tenant" : "AZURE_TENANT_ID is not a tenant id");
	if (auth == NULL)
		auth = AUTHORITY_DEFAULT;
	an = strlen(auth);
	while (an > 0 && auth[an - 1] == '/')
		an--;
	if (an >= acap - 1 || strncasecmp(auth, "https://", 8) != 0)
		return atr_fail(ATR_ERR_CONFIG,
		    "AZURE_AUTHORITY_HOST must be an https:// URL (the "
		    "client's credential is sent there)");
	snprintf(authority, acap, "%.*s", (int)an, auth);
	snprintf(url, cap, "%s/%s/oauth2/v2.0/token", authority, tenant);
	return ATR_OK;
}

/* The federated token file's JWT, trimmed, malloc'd into *out. */
static enum atr_err
read_fed_token(const char *path, char **out, size_t *out_len)
{
	unsigned char *buf = NULL;
	size_t len = 0, s = 0;
	enum atr_err err;

	*out = NULL;
	err = atr_read_small_file(path, FED_TOKEN_MAX, 0, &buf, &len);
	if (err != ATR_OK)
		return atr_fail(ATR_ERR_CONFIG, "AZURE_FEDERATED_TOKEN_FILE: %s",
		    atr_detail());
	while (s < len && isspace(buf[s]))
		s++;
	while (len > s && isspace(buf[len - 1]))
		buf[--len] = '\0';
	if (len == s || strspn((char *)buf + s, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") != len - s) {
		atr_secure_free(buf, len);
		return atr_fail(ATR_ERR_CONFIG, "AZURE_FEDERATED_TOKEN_FILE: "
		    "%s", len == s ? "the file is empty" :
		    "the file does not hold a JWT");
	}
	memmove(buf, buf + s, len - s + 1);
	*out = (char *)buf;
	*out_len = len - s;
	return ATR_OK;
}

/* The credential part of the form: client_secret=... or the assertion,
 * form-encoded into a malloc'd *part. */
static enum atr_err
cred_part(const struct app *a, const char *url, char **part, size_t *plen)
{
	const char *alg = env("ATREST_AZURE_ASSERTION_ALG");
	const char *chain = env("AZURE_CLIENT_SEND_CERTIFICATE_CHAIN");
	struct kv_cert *cert = NULL;
	char *raw = NULL, *enc = NULL;
	size_t rl = 0, cap = 0;
	enum atr_err err = ATR_OK;
	int pss = 1;

	*part = NULL;
	if (a->secret != NULL) {
		rl = strlen(a->secret);
	} else if (a->token_file != NULL) {
		err = read_fed_token(a->token_file, &raw, &rl);
	} else {
		if (alg != NULL && strcmp(alg, "RS256") != 0 &&
		    strcmp(alg, "PS256") != 0)
			return atr_fail(ATR_ERR_CONFIG, "ATREST_AZURE_ASSERTION_ALG "
			    "must be PS256 or RS256");
		pss = alg == NULL || strcmp(alg, "PS256") == 0;
		err = kv_cert_load(a->cert_path,
		    getenv("AZURE_CLIENT_CERTIFICATE_PASSWORD"), &cert);
		if (err == ATR_OK)
			err = kv_assertion_build(cert, a->cid, url, pss,
			    chain != NULL && (strcmp(chain, "1") == 0 ||
			    strcasecmp(chain, "true") == 0), time(NULL), &raw);
		if (err == ATR_OK)
			rl = strlen(raw);
	}
	if (err != ATR_OK)
		goto out;
	cap = rl * 3 + sizeof(ASSERTION_TYPE) + 64;
	enc = malloc(cap);
	if (enc == NULL) {
		err = atr_fail(ATR_ERR_NOMEM, "out of memory");
		goto out;
	}
	if (a->secret != NULL) {
		memcpy(enc, "client_secret=", 14);
		err = kv_form_encode(a->secret, enc + 14, cap - 14) == 0 ?
		    ATR_OK : atr_fail(ATR_ERR_CONFIG, "secret too long");
	} else {
		int n = snprintf(enc, cap, "%s", "client_assertion_type="
		    ASSERTION_TYPE "&client_assertion=");

		err = kv_form_encode(raw, enc + n, cap - (size_t)n) == 0 ?
		    ATR_OK : atr_fail(ATR_ERR_CONFIG, "assertion too long");
	}
	if (err == ATR_OK) {
		*part = enc;
		*plen = cap;
		enc = NULL;
	}
out:
	atr_secure_free(enc, enc != NULL ? cap : 0);
	if (raw != NULL)
		atr_secure_free(raw, rl);
	kv_cert_free(cert);
	return err;
}

static enum atr_err
app_token(struct cctx *x, const struct app *a)
{
	char authority[512], url[1024], what[1100], hp[300];
	char ecid[512], escope[800];
	char *body = NULL, *part = NULL;
	size_t blen = 0, plen = 0;
	struct kv_req rq;
	time_t refresh_at = 0;
	enum atr_err err;

	err = token_url(x->ch, url, sizeof(url), authority, sizeof(authority));
	if (err != ATR_OK)
		return err;
	(void)snprintf(x->ref->key, sizeof(x->ref->key),
	    "%s|%.700s|%.200s|%.200s|%.250s", a->tag, url, a->cid,
	    x->ch->scope, a->cert_path != NULL ? a->cert_path :
	    a->token_file != NULL ? a->token_file : "");
	if ((*x->hdr = kv_tok_lookup(x->ref->key)) != NULL)
		return ATR_OK;
	kv_fetch_lock();
	if ((*x->hdr = kv_tok_lookup(x->ref->key)) != NULL)
		goto out;
	if (kv_form_encode(a->cid, ecid, sizeof(ecid)) != 0 ||
	    kv_form_encode(x->ch->scope, escope, sizeof(escope)) != 0) {
		err = atr_fail(ATR_ERR_CONFIG,
		    "AZURE_CLIENT_ID or the challenge scope is too long");
		goto out;
	}
	/* Made for every request: the file is re-read, the assertion's
	 * jti and times are fresh. */
	err = cred_part(a, url, &part, &plen);
	if (err != ATR_OK)
		goto out;
	blen = strlen(part) + strlen(ecid) + strlen(escope) + 96;
	body = malloc(blen);
	if (body == NULL) {
		err = atr_fail(ATR_ERR_NOMEM, "out of memory");
		goto out;
	}
	snprintf(body, blen, "grant_type=client_credentials&client_id=%s"
	    "&scope=%s&%s", ecid, escope, part);
	kv_url_hostport(url, hp, sizeof(hp));
	snprintf(what, sizeof(what), "token endpoint %s", url);
	memset(&rq, 0, sizeof(rq));
	rq.method = "POST";
	rq.url = url;
	rq.body = body;
	rq.body_len = strlen(body);
	rq.content_type = "application/x-www-form-urlencoded";
	rq.target = what;
	rq.hostport = hp;
	err = kv_token_request(x->c, &rq, what, x->hdr, &refresh_at, x->call);
	if (err == ATR_OK)
		kv_tok_store(x->ref->key, *x->hdr, refresh_at);
out:
	kv_fetch_unlock();
	atr_secure_free(part, plen);
	atr_secure_free(body, blen);
	return err;
}

static enum atr_err
cr_secret(struct cctx *x)
{
	struct app a = {.tag = "cs"};

	a.secret = env("AZURE_CLIENT_SECRET");
	a.cid = env("AZURE_CLIENT_ID");
	if (a.secret == NULL)
		return unavailable(x, "AZURE_CLIENT_SECRET is not set");
	if (a.cid == NULL)
		return unavailable(x, "AZURE_CLIENT_SECRET is set but "
		    "AZURE_CLIENT_ID is not");
	return app_token(x, &a);
}

static enum atr_err
cr_cert(struct cctx *x)
{
	struct app a = {.tag = "cc"};

	a.cert_path = env("AZURE_CLIENT_CERTIFICATE_PATH");
	a.cid = env("AZURE_CLIENT_ID");
	if (a.cert_path == NULL)
		return unavailable(x,
		    "AZURE_CLIENT_CERTIFICATE_PATH is not set");
	if (a.cid == NULL)
		return unavailable(x, "AZURE_CLIENT_CERTIFICATE_PATH is set "
		    "but AZURE_CLIENT_ID is not");
	return app_token(x, &a);
}

static enum atr_err
cr_workload(struct cctx *x)
{
	struct app a = {.tag = "wi"};

	a.token_file = env("AZURE_FEDERATED_TOKEN_FILE");
	a.cid = env("AZURE_CLIENT_ID");
	if (a.token_file == NULL)
		return unavailable(x, "AZURE_FEDERATED_TOKEN_FILE is not set");
	if (a.cid == NULL)
		return unavailable(x, "AZURE_FEDERATED_TOKEN_FILE is set but "
		    "AZURE_CLIENT_ID is not");
	return app_token(x, &a);
}

/* ---- managed identity ---- */

/* The endpoint: ATREST_IMDS_ENDPOINT, App Service's, else the VM's
 * IMDS (*dflt set), and its api-version and identity header. */
static const char *
mi_endpoint(const char **apiv, const char **idh, int *dflt)
{
	const char *ep = env("ATREST_IMDS_ENDPOINT");

	*apiv = "2018-02-01";
	*idh = NULL;
	*dflt = 0;
	if (ep == NULL && (ep = env("IDENTITY_ENDPOINT")) != NULL &&
	    (*idh = env("IDENTITY_HEADER")) != NULL)
		*apiv = "2019-08-01";
	if (ep == NULL) {
		ep = IMDS_DEFAULT;
		*dflt = 1;
	}
	return ep;
}

static enum atr_err
mi_fetch(struct cctx *x, struct kv_req *rq, const char *ep, const char *idh,
    int dflt)
{
	char what[1200], hp[300], idhdr[600];
	time_t refresh_at = 0;
	enum atr_err err;

	kv_url_hostport(ep, hp, sizeof(hp));
	snprintf(what, sizeof(what), "managed identity endpoint %.1100s", ep);
	rq->hdr1 = "Metadata: true";
	if (idh != NULL) {
		if (strpbrk(idh, "\r\n") != NULL ||
		    strlen(idh) >= sizeof(idhdr) - 24)
			return atr_fail(ATR_ERR_CONFIG, "bad IDENTITY_HEADER");
		snprintf(idhdr, sizeof(idhdr), "X-IDENTITY-HEADER: %s", idh);
		rq->hdr2 = idhdr;
	}
	rq->target = what;
	rq->hostport = hp;
	rq->allow_http = 1;
	rq->imds = 1;
	if (dflt) {
		rq->no_connect_retry = 1;
		rq->connect_timeout_ms = IMDS_CONNECT_MS;
	}
	err = kv_token_request(x->c, rq, what, x->hdr, &refresh_at, x->call);
	if (err == ATR_OK) {
		kv_tok_store(x->ref->key, *x->hdr, refresh_at);
	} else if (dflt) {
		/* Not on Azure, or a VM without an identity: the SDKs call
		 * the IMDS credential unavailable then, and so does this. */
		char why[300];

		snprintf(why, sizeof(why), "%s", atr_detail());
		pthread_mutex_lock(&st_mu);
		imds_absent = 1;
		pthread_mutex_unlock(&st_mu);
		x->unavailable = 1;
		err = atr_fail(ATR_ERR_UNAUTHORIZED, "no managed identity "
		    "endpoint answered (%s: %s)", hp, why);
	}
	atr_memzero(idhdr, sizeof(idhdr));
	/* rq is the caller's: leave it no pointer into this frame. */
	rq->hdr2 = NULL;
	rq->target = NULL;
	rq->hostport = NULL;
	return err;
}

static enum atr_err
cr_managed(struct cctx *x)
{
	const char *cid = env("AZURE_CLIENT_ID"), *apiv, *idh, *ep;
	char resource[300], eres[900], ecid[512], url[2048];
	size_t rl;
	struct kv_req rq;
	enum atr_err err = ATR_OK;
	int dflt, absent;

	ep = mi_endpoint(&apiv, &idh, &dflt);
	if (strlen(ep) > 1024 || (strncasecmp(ep, "https://", 8) != 0 &&
	    strncasecmp(ep, "http://", 7) != 0) || strpbrk(ep, "?# \r\n"))
		return atr_fail(ATR_ERR_CONFIG,
		    "the managed identity endpoint must be an http(s) URL "
		    "without a query");
	/* IMDS takes a resource, not a scope: drop "/.default". */
	rl = strlen(x->ch->scope);
	if (rl >= 9 && strcmp(x->ch->scope + rl - 9, "/.default") == 0)
		rl -= 9;
	if (rl == 0 || rl >= sizeof(resource))
		return atr_fail(ATR_ERR_CONFIG, "bad challenge scope");
	snprintf(resource, sizeof(resource), "%.*s", (int)rl, x->ch->scope);
	if (kv_form_encode(resource, eres, sizeof(eres)) != 0 ||
	    (cid != NULL && kv_form_encode(cid, ecid, sizeof(ecid)) != 0))
		return atr_fail(ATR_ERR_CONFIG, "AZURE_CLIENT_ID is too long");
	snprintf(url, sizeof(url), "%s?api-version=%s&resource=%s%s%s", ep,
	    apiv, eres, cid != NULL ? "&client_id=" : "",
	    cid != NULL ? ecid : "");
	snprintf(x->ref->key, sizeof(x->ref->key), "mi|%.300s|%.100s|%.300s",
	    ep, cid != NULL ? cid : "", resource);
	if ((*x->hdr = kv_tok_lookup(x->ref->key)) != NULL)
		return ATR_OK;
	pthread_mutex_lock(&st_mu);
	absent = dflt && imds_absent;
	pthread_mutex_unlock(&st_mu);
	/* Probed once per process: a chain that moves on to the CLI or a
	 * static token does not wait for IMDS at every call. */
	if (absent)
		return unavailable(x, "no managed identity endpoint answered "
		    "(169.254.169.254, probed earlier)");
	kv_fetch_lock();
	if ((*x->hdr = kv_tok_lookup(x->ref->key)) == NULL) {
		memset(&rq, 0, sizeof(rq));
		rq.method = "GET";
		rq.url = url;
		err = mi_fetch(x, &rq, ep, idh, dflt);
	}
	kv_fetch_unlock();
	return err;
}

/* ---- Azure CLI ---- */

static enum atr_err
cr_cli(struct cctx *x)
{
	const char *tenant = env("AZURE_TENANT_ID");
	struct kv_cli_token t = {NULL, 0};
	time_t now;
	enum atr_err err;

	if (tenant == NULL && x->ch->tenant[0] != '\0')
		tenant = x->ch->tenant;
	snprintf(x->ref->key, sizeof(x->ref->key), "cli|%.200s|%.300s",
	    tenant != NULL ? tenant : "", x->ch->scope);
	if ((*x->hdr = kv_tok_lookup(x->ref->key)) != NULL)
		return ATR_OK;
	kv_fetch_lock();
	if ((*x->hdr = kv_tok_lookup(x->ref->key)) != NULL) {
		err = ATR_OK;
		goto out;
	}
	err = kv_cli_get_token(x->ch->scope, tenant, &t);
	if (err != ATR_ERR_NOT_FOUND) {
		x->call->token_fetches++;
		kv_stats_token_fetch();
	}
	/* Its detail is named already; the chain names it once. */
	if (err != ATR_OK && strncmp(atr_detail(), "AzureCliCredential: ",
	    20) == 0)
		atr_detail_set("%s", atr_detail() + 20);
	if (err == ATR_ERR_NOT_FOUND) {
		x->unavailable = 1;
		err = ATR_ERR_UNAUTHORIZED;
		goto out;
	}
	if (err != ATR_OK)
		goto out;
	if (t.token == NULL || !kv_token_ok(t.token, strlen(t.token))) {
		err = atr_fail(ATR_ERR_BAD_RESPONSE,
		    "az gave no usable access token");
		goto out;
	}
	now = time(NULL);
	/* Unknown expiry: kept 5 minutes at most. */
	*x->hdr = kv_make_header(t.token, strlen(t.token));
	if (*x->hdr == NULL)
		err = atr_fail(ATR_ERR_NOMEM, "out of memory");
	else
		kv_tok_store(x->ref->key, *x->hdr, kv_refresh_time(now,
		    t.expires_on > now ? t.expires_on - now : 300));
out:
	kv_fetch_unlock();
	kv_cli_token_free(&t);
	return err;
}

/* ---- the static token ---- */

/* The exp claim of a JWT (RFC 7519 4.1.4), 0 when tok is not a JWT or
 * has none: an opaque token is used as it is. */
static int64_t
jwt_exp(const char *tok)
{
	const char *p1 = strchr(tok, '.'), *p2;
	uint8_t *buf;
	size_t n = 0, cap;
	cJSON *doc;
	int64_t exp = 0;

	if (p1 == NULL || (p2 = strchr(p1 + 1, '.')) == NULL ||
	    strchr(p2 + 1, '.') != NULL)
		return 0;
	cap = (size_t)(p2 - p1);
	buf = malloc(cap + 1);
	if (buf == NULL)
		return 0;
	if (atr_b64url_decode(p1 + 1, (size_t)(p2 - p1 - 1), 0, buf, cap,
	    &n) == 0) {
		doc = cJSON_ParseWithLength((const char *)buf, n);
		if (doc == NULL || atr_kv_json_int(doc, "exp", 0,
		    ATR_DATE_MAX, &exp) != 1)
			exp = 0;
		atr_json_free_wiped(doc);
	}
	atr_secure_free(buf, cap + 1);
	return exp;
}

/* jwt_exp of the last token seen, by its SHA-256: decoded once, not at
 * every call. */
static pthread_mutex_t exp_mu = PTHREAD_MUTEX_INITIALIZER;
static uint8_t exp_of[32];
static int64_t exp_val = -1;

static int64_t
static_exp(const char *tok)
{
	uint8_t h[32];
	int64_t e;

	if (atr_sha256((const uint8_t *)tok, strlen(tok), h) != ATR_OK)
		return jwt_exp(tok);
	pthread_mutex_lock(&exp_mu);
	if (exp_val < 0 || memcmp(h, exp_of, sizeof(h)) != 0) {
		exp_val = jwt_exp(tok);
		memcpy(exp_of, h, sizeof(h));
	}
	e = exp_val;
	pthread_mutex_unlock(&exp_mu);
	return e;
}

static enum atr_err
cr_token(struct cctx *x)
{
	const char *tok = env("ATREST_AZURE_TOKEN");
	int64_t exp;

	if (tok == NULL)
		return unavailable(x, "ATREST_AZURE_TOKEN is not set");
	x->ref->is_static = 1;
	if (!kv_token_ok(tok, strlen(tok)))
		return atr_fail(ATR_ERR_CONFIG,
		    "ATREST_AZURE_TOKEN is not a bearer token "
		    "(RFC 6750 b64token characters only)");
	exp = static_exp(tok);
	if (exp > 0 && exp <= (int64_t)time(NULL)) {
		time_t t = (time_t)exp;
		struct tm tm;
		char when[32] = "?";

		if (gmtime_r(&t, &tm) != NULL)
			strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
		return atr_fail(ATR_ERR_UNAUTHORIZED, "ATREST_AZURE_TOKEN "
		    "expired at %s and cannot be refreshed: get a new one, or "
		    "use a credential that refreshes (docs/KEYVAULT.md)", when);
	}
	*x->hdr = kv_make_header(tok, strlen(tok));
	return *x->hdr != NULL ? ATR_OK :
	    atr_fail(ATR_ERR_NOMEM, "out of memory");
}

enum atr_err
kv_static_refused(enum atr_err err)
{
	if (err != ATR_ERR_UNAUTHORIZED)
		return err;
	return atr_fail(err, "%s: the vault refused ATREST_AZURE_TOKEN "
	    "(expired, revoked or for another resource: get a new one): %s",
	    creds[CR_TOKEN].name, atr_detail());
}

/* ---- the chain ---- */

static enum atr_err
run(enum cred id, struct cctx *x)
{
	enum atr_err err;

	x->unavailable = 0;
	memset(x->ref, 0, sizeof(*x->ref));
	switch (id) {
	case CR_SECRET: err = cr_secret(x); break;
	case CR_CERT: err = cr_cert(x); break;
	case CR_WORKLOAD: err = cr_workload(x); break;
	case CR_MANAGED: err = cr_managed(x); break;
	case CR_CLI: err = cr_cli(x); break;
	default: err = cr_token(x); break;
	}
	if (err != ATR_OK) {
		kv_auth_free(*x->hdr);
		*x->hdr = NULL;
	}
	return err;
}

/* ATREST_AZURE_CREDENTIAL: *pin is -1 when unset. */
static enum atr_err
read_pin(int *pin)
{
	const char *v = env("ATREST_AZURE_CREDENTIAL");
	int i;

	*pin = -1;
	if (v == NULL)
		return ATR_OK;
	for (i = 0; i < CR__N; i++)
		if (strcmp(v, creds[i].pin) == 0) {
			*pin = i;
			return ATR_OK;
		}
	return atr_fail(ATR_ERR_CONFIG, "ATREST_AZURE_CREDENTIAL must be one "
	    "of secret, certificate, workload, managed, cli, token");
}

/* Every credential in order until one gives a token or one that is
 * configured fails; the detail lists what was tried. */
static enum atr_err
run_chain(struct cctx *x)
{
	char msg[DETAIL_CAP], line[400];
	size_t len = 0;
	enum atr_err err = ATR_ERR_UNAUTHORIZED;
	int i;

	msg[0] = '\0';
	for (i = 0; i < CR__N; i++) {
		err = run((enum cred)i, x);
		if (err == ATR_OK) {
			pthread_mutex_lock(&st_mu);
			chosen = i;
			pthread_mutex_unlock(&st_mu);
			return ATR_OK;
		}
		if (!x->unavailable)
			return atr_fail(err, "%s: %s (configured, so the "
			    "credential chain stops here; ATREST_AZURE_"
			    "CREDENTIAL picks another)", creds[i].name,
			    atr_detail());
		atr_escape(atr_detail(), line, sizeof(line));
		len += (size_t)snprintf(msg + len, sizeof(msg) - len,
		    "\n  %s: unavailable: %s", creds[i].name, line);
		if (len >= sizeof(msg))
			len = sizeof(msg) - 1;
	}
	return atr_fail(ATR_ERR_UNAUTHORIZED, "no Azure credential gave a "
	    "token; tried in order (docs/KEYVAULT.md \"Credentials\"):%s",
	    msg);
}

static enum atr_err
latch(enum atr_err err)
{
	pthread_mutex_lock(&st_mu);
	if (latch_err == ATR_OK) {
		latch_err = err;
		snprintf(latch_detail, sizeof(latch_detail), "%s",
		    atr_detail());
	}
	pthread_mutex_unlock(&st_mu);
	return err;
}

enum atr_err
kv_auth_header(const struct atr_kv_client *c,
    const struct atr_kv_challenge *ch, char **hdr, struct kv_token_ref *ref,
    struct atr_kv_call *call)
{
	struct cctx x = {c, ch, hdr, ref, call, 0};
	enum atr_err err;
	int pin, target, had;

	*hdr = NULL;
	memset(ref, 0, sizeof(*ref));
	pthread_mutex_lock(&st_mu);
	err = latch_err;
	if (err != ATR_OK)
		atr_detail_set("%s", latch_detail);
	had = chosen;
	pthread_mutex_unlock(&st_mu);
	if (err != ATR_OK)
		return err;
	err = read_pin(&pin);
	if (err != ATR_OK)
		return err;
	target = pin >= 0 ? pin : had;
	if (target < 0)
		return run_chain(&x);
	err = run((enum cred)target, &x);
	if (err == ATR_OK) {
		pthread_mutex_lock(&st_mu);
		chosen = target;
		pthread_mutex_unlock(&st_mu);
		return ATR_OK;
	}
	err = atr_fail(err, "%s: %s%s%s", creds[target].name,
	    x.unavailable ? "unavailable: " : "", atr_detail(),
	    pin >= 0 ? " (ATREST_AZURE_CREDENTIAL pins it)" : "");
	/* It gave a token before: the run cannot go on with it. */
	return target == had ? latch(err) : err;
}
