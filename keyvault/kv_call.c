/*
 * kv_call.c - one authenticated request to the vault, and the checks
 * every key operation shares (names, messages, the kid of a reply).
 *
 * It joins the two files below it: kv_auth.c gives the challenge and the
 * bearer token, kv_http.c sends the request with that token.  The
 * handshake is the one the Azure SDKs use, described in "Authentication,
 * requests and responses":
 *   https://learn.microsoft.com/en-us/azure/key-vault/general/authentication-requests-and-responses
 * A first request without a token draws a 401 whose WWW-Authenticate
 * challenge names the authority and the resource; the request is then
 * sent again with a token for that resource.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv_internal.h"
#include "util.h"

/*
 * The SDKs' challenge resource verification: the challenge's resource
 * must be the vault's domain unless the client's
 * DisableChallengeResourceVerification option is set (KeyClientOptions
 * in .NET, keyClientOptions in JS, verify_challenge_resource in Python):
 *   https://learn.microsoft.com/en-us/dotnet/api/azure.security.keyvault.keys.keyclientoptions
 * Loopback emulators are exempt, as with that option set, and so is any
 * vault when
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
	kv_stats_challenge();
	return ATR_OK;
}

/*
 * One authenticated call: the challenge when this vault has none cached
 * (same method and URL, no body, no token, as the SDKs send it), then the
 * request with a bearer token, once more with a fresh token on a 401.
 * On return rs holds a 2xx answer, or the error is mapped and the
 * detail set.
 */
enum atr_err
kv_vault_call(struct atr_kv_client *c, enum atr_kv_opclass cls,
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
	/* A static token cannot be refreshed: say which one was refused. */
	if (auth != NULL && ref.is_static && rs->status == 401)
		err = kv_static_refused(err);
out:
	kv_auth_free(auth);
	call.err = err;
	call.elapsed_ns = atr_now_ns() - t0;
	kv_stats_record(cls, &call);
	return err;
}

/* ---- what every operation checks ---- */

enum atr_err
kv_check_name(const char *name, const char *version)
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
void
kv_key_what(const struct atr_kv_client *c, const char *op, const char *name,
    const char *version, char *what, size_t cap)
{
	snprintf(what, cap, "%s %s/keys/%s%s%s", op, c->vault.origin, name,
	    version != NULL && *version != '\0' ? "/" : "",
	    version != NULL ? version : "");
}

/* A reply's kid that is not the key asked for: wiped from out. */
enum atr_err
kv_wrong_kid(const struct atr_kv_client *c, const char *what, const char *kid,
    struct atr_kv_key *out)
{
	enum atr_err err = atr_fail(ATR_ERR_BAD_RESPONSE,
	    "%s: the reply's kid '%.200s' is not this key on vault %s", what,
	    kid != NULL ? kid : "(none)", c->vault.hostport);

	if (out != NULL)
		memset(out, 0, sizeof(*out));
	return err;
}
