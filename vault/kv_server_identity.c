/*
 * kv_server_identity.c - stand-ins for the identity endpoints the SDKs
 * call before they reach a vault: the Microsoft identity platform's
 * client-credentials token endpoint (v2 and v1), its OpenID Connect
 * metadata and instance discovery, and the Azure Instance Metadata
 * Service's managed-identity token endpoint, which issues tokens only
 * for the identity named at start and only to callers on this host.
 * Tokens are made by kv_server_auth.c.
 */
#include "kv_server_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "crypto.h"

static void
aad_error(struct kvs_http *h, int status, const char *error, long code,
    const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 5, 6)))
#endif
    ;

static void
aad_error(struct kvs_http *h, int status, const char *error, long code,
    const char *fmt, ...)
{
	cJSON *j = cJSON_CreateObject(), *codes;
	char desc[768], full[1024], ts[40], trace[37], corr[37];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(desc, sizeof(desc), fmt, ap);
	va_end(ap);
	kvs_timestamp(kvs_now(h->s), ts, sizeof(ts));
	kvs_uuid(trace);
	kvs_uuid(corr);
	snprintf(full, sizeof(full), "AADSTS%ld: %s\r\nTrace ID: %s\r\n"
	    "Correlation ID: %s\r\nTimestamp: %s", code, desc, trace, corr, ts);
	if (j == NULL) {
		kvs_reply_oom(h);
		return;
	}
	/* The shape of the Microsoft identity platform's error responses
	 * (client credentials flow, "Error response",
	 * https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-client-creds-grant-flow);
	 * codes: https://learn.microsoft.com/en-us/entra/identity-platform/reference-error-codes */
	cJSON_AddStringToObject(j, "error", error);
	cJSON_AddStringToObject(j, "error_description", full);
	codes = cJSON_AddArrayToObject(j, "error_codes");
	cJSON_AddItemToArray(codes, cJSON_CreateNumber((double)code));
	cJSON_AddStringToObject(j, "timestamp", ts);
	cJSON_AddStringToObject(j, "trace_id", trace);
	cJSON_AddStringToObject(j, "correlation_id", corr);
	cJSON_AddStringToObject(j, "error_uri",
	    "https://login.microsoftonline.com/error");
	h->token_headers = 1;
	kvs_reply(h, status, j);
}

static const struct kvs_client *
client_find(struct atr_kv_server *s, const char *id)
{
	size_t i;

	for (i = 0; i < s->nclients; i++)
		if (strcmp(s->clients[i].id, id) == 0)
			return &s->clients[i];
	return NULL;
}

/* RFC 6749 2.3.1: HTTP Basic with form-urlencoded id and secret. */
static int
basic_auth(struct kvs_http *h, char *id, size_t idcap, char *secret,
    size_t seccap)
{
	const char *a = kvs_header(h, "Authorization");
	unsigned char dec[1024];
	char form[1200];
	size_t n;
	int len, rc = 0;
	char *colon;

	if (a == NULL || strncasecmp(a, "Basic ", 6) != 0)
		return 0;
	a += 6;
	n = strlen(a);
	if (n == 0 || n % 4 != 0 || n / 4 * 3 >= sizeof(dec))
		return -1;
	len = EVP_DecodeBlock(dec, (const unsigned char *)a, (int)n);
	if (len < 0)
		return -1;
	while (len > 0 && n > 0 && a[n - 1] == '=') {
		len--;
		n--;
	}
	dec[len] = '\0';
	colon = memchr(dec, ':', (size_t)len);
	if (colon == NULL) {
		rc = -1;
		goto out;
	}
	*colon = '\0';
	snprintf(form, sizeof(form), "i=%s&s=%s", (char *)dec, colon + 1);
	if (kvs_form_get(form, strlen(form), "i", id, idcap) == 1 &&
	    kvs_form_get(form, strlen(form), "s", secret, seccap) == 1)
		rc = 1;
	else
		rc = -1;
out:
	atr_memzero(dec, sizeof(dec));
	atr_memzero(form, sizeof(form));
	return rc;
}

/* The lifetime fields as the v1 endpoint and IMDS send them: every
 * number a string. */
static void
add_times_as_strings(cJSON *j, long lifetime, int64_t now)
{
	char num[32];

	snprintf(num, sizeof(num), "%ld", lifetime);
	cJSON_AddStringToObject(j, "expires_in", num);
	cJSON_AddStringToObject(j, "ext_expires_in", num);
	snprintf(num, sizeof(num), "%lld", (long long)now + lifetime);
	cJSON_AddStringToObject(j, "expires_on", num);
	snprintf(num, sizeof(num), "%lld", (long long)now);
	cJSON_AddStringToObject(j, "not_before", num);
}

/* A client-credentials token request (RFC 6749 section 4.4); the
 * caller wipes it. */
struct token_req {
	char id[256];
	char secret[512];           /* "" when none was sent */
	char aud[512];              /* v1: resource; v2: scope less /.default */
	char atype[128];            /* client_assertion_type, or "" */
	char assertion[16384];      /* client_assertion (RFC 7521 4.2), or "" */
};

/* Who asks: HTTP Basic (RFC 6749 2.3.1) or client_id and client_secret
 * in the form.  -1 after replying. */
static int
token_req_client(struct kvs_http *h, struct token_req *q)
{
	int basic = basic_auth(h, q->id, sizeof(q->id), q->secret,
	    sizeof(q->secret));

	if (basic < 0) {
		aad_error(h, 401, "invalid_client", 7000216, "The client "
		    "credentials in the Authorization header are malformed.");
		return -1;
	}
	if (kvs_form_get(h->body, h->body_len, "client_assertion",
	    q->assertion, sizeof(q->assertion)) != 1)
		q->assertion[0] = '\0';
	if (kvs_form_get(h->body, h->body_len, "client_assertion_type",
	    q->atype, sizeof(q->atype)) != 1)
		q->atype[0] = '\0';
	if (basic > 0)
		return 0;
	/* RFC 7521 4.2: with an assertion, client_id may be left out;
	 * the assertion's subject names the client. */
	if (kvs_form_get(h->body, h->body_len, "client_id", q->id,
	    sizeof(q->id)) != 1 && (q->assertion[0] == '\0' ||
	    kvs_assert_subject(q->assertion, q->id, sizeof(q->id)) != 0)) {
		aad_error(h, 400, "invalid_request", 900144, "The request "
		    "body must contain the following parameter: 'client_id'.");
		return -1;
	}
	if (kvs_form_get(h->body, h->body_len, "client_secret", q->secret,
	    sizeof(q->secret)) != 1)
		q->secret[0] = '\0';
	return 0;
}

/* For what: v1 names the resource, v2 a scope RESOURCE/.default (the
 * only form client credentials take).  -1 after replying. */
static int
token_req_audience(struct kvs_http *h, int v1, struct token_req *q)
{
	char scope[512];
	size_t n;

	if (v1) {
		if (kvs_form_get(h->body, h->body_len, "resource", q->aud,
		    sizeof(q->aud)) == 1)
			return 0;
		aad_error(h, 400, "invalid_request", 900144, "The request "
		    "body must contain the following parameter: 'resource'.");
		return -1;
	}
	if (kvs_form_get(h->body, h->body_len, "scope", scope,
	    sizeof(scope)) != 1) {
		aad_error(h, 400, "invalid_request", 900144, "The request "
		    "body must contain the following parameter: 'scope'.");
		return -1;
	}
	n = strlen(scope);
	if (n <= 9 || strcmp(scope + n - 9, "/.default") != 0 ||
	    strchr(scope, ' ') != NULL) {
		aad_error(h, 400, "invalid_scope", 1002012, "The provided "
		    "value for scope %.200s is not valid. Client credential "
		    "flows must have a scope value with /.default suffixed to "
		    "the resource identifier (application ID URI).", scope);
		return -1;
	}
	snprintf(q->aud, sizeof(q->aud), "%.*s", (int)(n - 9), scope);
	return 0;
}

/* A request that carries neither a secret nor an assertion; -1 after
 * replying. */
static int
no_credential(struct kvs_http *h)
{
	aad_error(h, 401, "invalid_client", 7000216,
	    "'client_assertion', 'client_secret' or 'request' is "
	    "required for the 'client_credentials' grant type.");
	return -1;
}

/* A secret client's secret; 0, or -1 after replying. */
static int
secret_check(struct kvs_http *h, const struct kvs_client *c,
    const struct token_req *q)
{
	if (q->assertion[0] != '\0') {
		aad_error(h, 401, "invalid_client", 700027, "Client assertion "
		    "contains an invalid signature. [Reason - The key was not "
		    "found., app '%s' has no certificate or federated "
		    "identity credential.]", c->id);
		return -1;
	}
	if (q->secret[0] == '\0') {
		return no_credential(h);
	}
	if (!kvs_secret_equal(c->secret, c->secret_len, q->secret,
	    strlen(q->secret))) {
		aad_error(h, 401, "invalid_client", 7000215, "Invalid client "
		    "secret provided. Ensure the secret being sent in the "
		    "request is the client secret value, not the client secret "
		    "ID, for a secret added to app '%s'.", c->id);
		return -1;
	}
	return 0;
}

/* A certificate or federated client's assertion; 0, or -1 after
 * replying. */
static int
assertion_check(struct kvs_http *h, const struct kvs_client *c,
    const struct token_req *q)
{
	struct kvs_assert_fail f;
	char endpoint[KVS_BASE_MAX + 256];

	if (q->secret[0] != '\0') {
		aad_error(h, 401, "invalid_client", 7000215, "Invalid client "
		    "secret provided: app '%s' has no client secret; it "
		    "authenticates with a %s.", c->id, c->kind ==
		    KVS_CLIENT_CERT ? "certificate (client assertion)" :
		    "federated identity credential (client assertion)");
		return -1;
	}
	if (q->assertion[0] == '\0') {
		return no_credential(h);
	}
	if (strcmp(q->atype, kvs_assert_type()) != 0) {
		aad_error(h, 400, "invalid_request", 7000216, "The "
		    "'client_assertion_type' must be '%s' with a "
		    "'client_assertion'.", kvs_assert_type());
		return -1;
	}
	/* RFC 7523 3, item 3: the audience is the token endpoint, as the
	 * client called it. */
	snprintf(endpoint, sizeof(endpoint), "%s%s", h->base, h->path);
	if (kvs_assert_verify(h->s, c, q->assertion, endpoint, &f) != 0) {
		aad_error(h, f.status, f.error, f.code, "%s", f.desc);
		return -1;
	}
	return 0;
}

/* The client named, authenticated; NULL after replying. */
static const struct kvs_client *
token_req_authenticate(struct kvs_http *h, const struct token_req *q)
{
	struct atr_kv_server *s = h->s;
	const struct kvs_client *c = client_find(s, q->id);

	if (c == NULL) {
		aad_error(h, 400, "unauthorized_client", 700016, "Application "
		    "with identifier '%.100s' was not found in the directory "
		    "'%s'. This can happen if the application has not been "
		    "installed by the administrator of the tenant or consented "
		    "to by any user in the tenant. You may have sent your "
		    "authentication request to the wrong tenant.", q->id,
		    s->tenant);
		return NULL;
	}
	if ((c->kind == KVS_CLIENT_SECRET ? secret_check(h, c, q) :
	    assertion_check(h, c, q)) != 0)
		return NULL;
	return c;
}

/* The token response: v2 numbers as numbers; v1 as strings, with the
 * resource. */
static void
token_reply(struct kvs_http *h, const struct kvs_client *c, const char *aud,
    int v1)
{
	struct atr_kv_server *s = h->s;
	char tok[2048];
	cJSON *j;

	if (kvs_token_issue(s, c->id, aud, s->token_lifetime, tok,
	    sizeof(tok)) != ATR_OK) {
		kvs_reply_error(h, 500, "InternalServerError", NULL,
		    "cannot issue a token");
		return;
	}
	j = cJSON_CreateObject();
	if (j == NULL) {
		atr_memzero(tok, sizeof(tok));
		kvs_reply_oom(h);
		return;
	}
	cJSON_AddStringToObject(j, "token_type", "Bearer");
	if (v1) {
		add_times_as_strings(j, s->token_lifetime, kvs_now(s));
		cJSON_AddStringToObject(j, "resource", aud);
	} else {
		cJSON_AddNumberToObject(j, "expires_in",
		    (double)s->token_lifetime);
		cJSON_AddNumberToObject(j, "ext_expires_in",
		    (double)s->token_lifetime);
	}
	cJSON_AddStringToObject(j, "access_token", tok);
	atr_memzero(tok, sizeof(tok));
	h->token_headers = 1;
	h->note = "token";
	kvs_reply(h, 200, j);
}

/* POST TENANT/oauth2/v2.0/token and TENANT/oauth2/token. */
static void
token_endpoint(struct kvs_http *h, const char *tenant, int v1)
{
	struct atr_kv_server *s = h->s;
	const struct kvs_client *c;
	struct token_req q;
	char grant[64];

	if (strcmp(h->method, "POST") != 0) {
		aad_error(h, 405, "invalid_request", 900561, "The endpoint only "
		    "accepts POST requests. Received a %s request.", h->method);
		return;
	}
	if (strcmp(tenant, s->tenant) != 0) {
		aad_error(h, 400, "invalid_request", 90002, "Tenant '%.80s' not "
		    "found. Check to make sure you have the correct tenant ID "
		    "and are signing into the correct cloud.", tenant);
		return;
	}
	if (kvs_form_get(h->body, h->body_len, "grant_type", grant,
	    sizeof(grant)) != 1) {
		aad_error(h, 400, "invalid_request", 900144, "The request body "
		    "must contain the following parameter: 'grant_type'.");
		return;
	}
	if (strcmp(grant, "client_credentials") != 0) {
		aad_error(h, 400, "unsupported_grant_type", 70003, "The app "
		    "requested an unsupported grant type '%.60s'.", grant);
		return;
	}
	memset(&q, 0, sizeof(q));
	if (token_req_client(h, &q) == 0 &&
	    token_req_audience(h, v1, &q) == 0 &&
	    (c = token_req_authenticate(h, &q)) != NULL)
		token_reply(h, c, q.aud, v1);
	atr_memzero(&q, sizeof(q));
}

static void
imds_error(struct kvs_http *h, int status, const char *desc)
{
	cJSON *j = cJSON_CreateObject();

	if (j == NULL) {
		kvs_reply_oom(h);
		return;
	}
	cJSON_AddStringToObject(j, "error", "invalid_request");
	cJSON_AddStringToObject(j, "error_description", desc);
	h->token_headers = 1;
	kvs_reply(h, status, j);
}

/* IMDS: GET /metadata/identity/oauth2/token ("How to use managed
 * identities for Azure resources on an Azure VM to acquire an access
 * token",
 * https://learn.microsoft.com/en-us/azure/active-directory/managed-identities-azure-resources/how-to-use-vm-token). */
static void
imds(struct kvs_http *h)
{
	struct atr_kv_server *s = h->s;
	const char *md = kvs_header(h, "Metadata");
	const char *res = kvs_query(h, "resource");
	const char *cid = kvs_query(h, "client_id");
	char tok[2048];
	int64_t now = kvs_now(s);
	cJSON *j;

	if (strcmp(h->method, "GET") != 0) {
		imds_error(h, 405, "Only GET is supported");
		return;
	}
	if (md == NULL || strcmp(md, "true") != 0) {
		imds_error(h, 400, "Required metadata header not specified");
		return;
	}
	/*
	 * A token for whoever asks is what IMDS gives every process on its
	 * VM, and only there: 169.254.169.254 is link-local (RFC 3927), not
	 * routed.  Here that needs an identity named at start, and a caller
	 * on this host.  Without one IMDS's own answer for a VM with no
	 * identity ("Identity not found", in the page above).
	 */
	if (!s->mi_enabled || !kvs_peer_loopback(h)) {
		imds_error(h, 400, "Identity not found");
		return;
	}
	if (kvs_query(h, "api-version") == NULL) {
		imds_error(h, 400, "Required query variable 'api-version' is "
		    "missing");
		return;
	}
	if (res == NULL || *res == '\0') {
		imds_error(h, 400, "Required audience parameter not specified");
		return;
	}
	if ((cid != NULL && strcasecmp(cid, s->mi_client_id) != 0) ||
	    kvs_query(h, "object_id") != NULL ||
	    kvs_query(h, "msi_res_id") != NULL) {
		imds_error(h, 400, "Identity not found");
		return;
	}
	if (kvs_token_issue(s, s->mi_client_id, res, s->token_lifetime, tok,
	    sizeof(tok)) != ATR_OK) {
		kvs_reply_error(h, 500, "InternalServerError", NULL,
		    "cannot issue a token");
		return;
	}
	j = cJSON_CreateObject();
	if (j == NULL) {
		atr_memzero(tok, sizeof(tok));
		kvs_reply_oom(h);
		return;
	}
	/* IMDS sends every number as a string. */
	cJSON_AddStringToObject(j, "access_token", tok);
	cJSON_AddStringToObject(j, "refresh_token", "");
	cJSON_AddStringToObject(j, "client_id", s->mi_client_id);
	add_times_as_strings(j, s->token_lifetime, now);
	cJSON_AddStringToObject(j, "resource", res);
	cJSON_AddStringToObject(j, "token_type", "Bearer");
	atr_memzero(tok, sizeof(tok));
	h->token_headers = 1;
	h->note = "token";
	kvs_reply(h, 200, j);
}

static void
oidc_config(struct kvs_http *h, const char *tenant, int v2)
{
	cJSON *j = cJSON_CreateObject(), *a;
	char buf[600];
	const char *ver = v2 ? "/v2.0" : "";

	if (j == NULL) {
		kvs_reply_oom(h);
		return;
	}
	snprintf(buf, sizeof(buf), "%s/%s/oauth2%s/token", h->base, tenant, ver);
	cJSON_AddStringToObject(j, "token_endpoint", buf);
	a = cJSON_AddArrayToObject(j, "token_endpoint_auth_methods_supported");
	cJSON_AddItemToArray(a, cJSON_CreateString("client_secret_post"));
	cJSON_AddItemToArray(a, cJSON_CreateString("client_secret_basic"));
	cJSON_AddItemToArray(a, cJSON_CreateString("private_key_jwt"));
	snprintf(buf, sizeof(buf), "%s/%s/discovery%s/keys", h->base, tenant, ver);
	cJSON_AddStringToObject(j, "jwks_uri", buf);
	snprintf(buf, sizeof(buf), "%s/%s/oauth2%s/authorize", h->base, tenant,
	    ver);
	cJSON_AddStringToObject(j, "authorization_endpoint", buf);
	if (v2)
		snprintf(buf, sizeof(buf), "%s/%s/v2.0", h->base, tenant);
	else
		kvs_token_issuer(tenant, buf, sizeof(buf));
	cJSON_AddStringToObject(j, "issuer", buf);
	a = cJSON_AddArrayToObject(j, "response_types_supported");
	cJSON_AddItemToArray(a, cJSON_CreateString("token"));
	a = cJSON_AddArrayToObject(j, "id_token_signing_alg_values_supported");
	cJSON_AddItemToArray(a, cJSON_CreateString("RS256"));
	cJSON_AddStringToObject(j, "tenant_region_scope", "WW");
	cJSON_AddStringToObject(j, "cloud_instance_name", "microsoftonline.com");
	h->token_headers = 1;
	kvs_reply(h, 200, j);
}

static void
instance_discovery(struct kvs_http *h)
{
	cJSON *j = cJSON_CreateObject(), *md, *m, *al;
	char buf[600];
	const char *host = h->base + strlen("https://");

	if (j == NULL) {
		kvs_reply_oom(h);
		return;
	}
	snprintf(buf, sizeof(buf), "%s/%s/v2.0/.well-known/openid-configuration",
	    h->base, h->s->tenant);
	cJSON_AddStringToObject(j, "tenant_discovery_endpoint", buf);
	cJSON_AddStringToObject(j, "api-version", "1.1");
	md = cJSON_AddArrayToObject(j, "metadata");
	m = cJSON_CreateObject();
	cJSON_AddItemToArray(md, m);
	cJSON_AddStringToObject(m, "preferred_network", host);
	cJSON_AddStringToObject(m, "preferred_cache", host);
	al = cJSON_AddArrayToObject(m, "aliases");
	cJSON_AddItemToArray(al, cJSON_CreateString(host));
	h->token_headers = 1;
	kvs_reply(h, 200, j);
}

enum id_route {
	ID_NONE = 0,
	ID_IMDS,
	ID_INSTANCE,
	ID_TOKEN_V2,
	ID_TOKEN_V1,
	ID_OIDC_V2,
	ID_OIDC_V1,
	ID_KEYS,
};

/* Which identity endpoint a path names; tenant gets its first segment. */
static enum id_route
id_route(const char *p, char *tenant, size_t cap)
{
	const char *slash;

	/* MSAL (msal-node Imds, UrlString.canonicalizeUri) appends a '/'
	 * to AZURE_POD_IDENTITY_AUTHORITY_HOST + this path, so the JS
	 * ManagedIdentityCredential asks for ".../token/?api-version=..". */
	if (strcasecmp(p, "/metadata/identity/oauth2/token") == 0 ||
	    strcasecmp(p, "/metadata/identity/oauth2/token/") == 0)
		return ID_IMDS;
	if (strcasecmp(p, "/common/discovery/instance") == 0)
		return ID_INSTANCE;
	if (*p != '/')
		return ID_NONE;
	slash = strchr(p + 1, '/');
	if (slash == NULL || (size_t)(slash - p - 1) >= cap || slash == p + 1)
		return ID_NONE;
	snprintf(tenant, cap, "%.*s", (int)(slash - p - 1), p + 1);
	if (strcasecmp(tenant, "keys") == 0 ||
	    strcasecmp(tenant, "deletedkeys") == 0)
		return ID_NONE;
	if (strcmp(slash, "/oauth2/v2.0/token") == 0)
		return ID_TOKEN_V2;
	if (strcmp(slash, "/oauth2/token") == 0)
		return ID_TOKEN_V1;
	if (strcmp(slash, "/v2.0/.well-known/openid-configuration") == 0)
		return ID_OIDC_V2;
	if (strcmp(slash, "/.well-known/openid-configuration") == 0)
		return ID_OIDC_V1;
	if (strcmp(slash, "/discovery/instance") == 0)
		return ID_INSTANCE;
	if (strcmp(slash, "/discovery/v2.0/keys") == 0 ||
	    strcmp(slash, "/discovery/keys") == 0)
		return ID_KEYS;
	return ID_NONE;
}

int
kvs_identity_path(const char *path)
{
	char tenant[128];

	return id_route(path, tenant, sizeof(tenant)) != ID_NONE;
}

int
kvs_identity_dispatch(struct kvs_http *h)
{
	char tenant[128];

	switch (id_route(h->path, tenant, sizeof(tenant))) {
	case ID_NONE:
		return 0;
	case ID_IMDS:
		imds(h);
		break;
	case ID_INSTANCE:
		instance_discovery(h);
		break;
	case ID_TOKEN_V2:
		token_endpoint(h, tenant, 0);
		break;
	case ID_TOKEN_V1:
		token_endpoint(h, tenant, 1);
		break;
	case ID_OIDC_V2:
		oidc_config(h, tenant, 1);
		break;
	case ID_OIDC_V1:
		oidc_config(h, tenant, 0);
		break;
	case ID_KEYS:
		/* HS256 keys are not published. */
		h->token_headers = 1;
		kvs_reply(h, 200, cJSON_Parse("{\"keys\":[]}"));
		break;
	}
	return 1;
}
