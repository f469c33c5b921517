/*
 * kv_rotation.c - a key's rotation policy: Get Key Rotation Policy and
 * Update Key Rotation Policy (GET and PUT /keys/{name}/rotationpolicy,
 * Keys in the Azure Key Vault REST API reference,
 * https://learn.microsoft.com/en-us/rest/api/keyvault/keys/), parsed
 * into struct atr_kv_rotation_policy.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "kv_internal.h"

/* One lifetime action: {"trigger": {"timeAfterCreate" | "timeBeforeExpiry":
 * DURATION}, "action": {"type": "Rotate" | "Notify"}}. */
static enum atr_err
parse_action(const cJSON *a, struct atr_kv_rotation_action *out)
{
	const cJSON *tr = cJSON_GetObjectItemCaseSensitive(a, "trigger");
	const cJSON *after = cJSON_GetObjectItemCaseSensitive(tr,
	    "timeAfterCreate");
	const cJSON *before = cJSON_GetObjectItemCaseSensitive(tr,
	    "timeBeforeExpiry");
	const cJSON *ty = cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(a, "action"), "type");
	const cJSON *when;

	/* A null member is how some replies say "not set". */
	if (cJSON_IsNull(after))
		after = NULL;
	if (cJSON_IsNull(before))
		before = NULL;
	when = after != NULL ? after : before;
	if ((after == NULL) == (before == NULL) || !cJSON_IsString(when) ||
	    strlen(when->valuestring) >= sizeof(out->duration) ||
	    atr_iso8601_duration(when->valuestring, &out->seconds) != 0)
		return atr_fail(ATR_ERR_BAD_RESPONSE, "rotation policy: a "
		    "lifetime action without one ISO 8601 trigger");
	if (!cJSON_IsString(ty))
		return atr_fail(ATR_ERR_BAD_RESPONSE, "rotation policy: a "
		    "lifetime action without a type");
	/* The service answers "Rotate" or "rotate" (Managed HSM). */
	if (strcasecmp(ty->valuestring, "Rotate") == 0)
		out->rotate = 1;
	else if (strcasecmp(ty->valuestring, "Notify") != 0)
		return atr_fail(ATR_ERR_BAD_RESPONSE, "rotation policy: "
		    "unknown action type");
	out->before_expiry = before != NULL;
	snprintf(out->duration, sizeof(out->duration), "%s",
	    when->valuestring);
	return ATR_OK;
}

enum atr_err
atr_kv_rotation_policy_from_json(const char *json, size_t len,
    struct atr_kv_rotation_policy *out)
{
	cJSON *doc = cJSON_ParseWithLength(json, len);
	const cJSON *acts, *a, *attrs, *exp;
	enum atr_err err = ATR_OK;

	memset(out, 0, sizeof(*out));
	if (!cJSON_IsObject(doc)) {
		err = atr_fail(ATR_ERR_BAD_RESPONSE, "rotation policy: not a "
		    "JSON object");
		goto out;
	}
	acts = cJSON_GetObjectItemCaseSensitive(doc, "lifetimeActions");
	if (acts != NULL && !cJSON_IsNull(acts) && !cJSON_IsArray(acts)) {
		err = atr_fail(ATR_ERR_BAD_RESPONSE, "rotation policy: "
		    "lifetimeActions is not a list");
		goto out;
	}
	if (!cJSON_IsArray(acts))
		acts = NULL;
	cJSON_ArrayForEach(a, acts) {
		if (out->nactions == ATR_KV_ROTATION_ACTIONS_MAX) {
			err = atr_fail(ATR_ERR_BAD_RESPONSE, "rotation policy: "
			    "more than %u lifetime actions",
			    ATR_KV_ROTATION_ACTIONS_MAX);
			goto out;
		}
		err = parse_action(a, &out->actions[out->nactions]);
		if (err != ATR_OK)
			goto out;
		out->nactions++;
	}
	attrs = cJSON_GetObjectItemCaseSensitive(doc, "attributes");
	exp = cJSON_GetObjectItemCaseSensitive(attrs, "expiryTime");
	if (exp != NULL && !cJSON_IsNull(exp)) {
		if (!cJSON_IsString(exp) || strlen(exp->valuestring) >=
		    sizeof(out->expiry) || atr_iso8601_duration(
		    exp->valuestring, &out->expiry_seconds) != 0) {
			err = atr_fail(ATR_ERR_BAD_RESPONSE, "rotation policy: "
			    "expiryTime is not an ISO 8601 duration");
			goto out;
		}
		snprintf(out->expiry, sizeof(out->expiry), "%s",
		    exp->valuestring);
	}
	if (atr_kv_json_int(attrs, "created", 0, ATR_DATE_MAX,
	    &out->created) < 0 || atr_kv_json_int(attrs, "updated", 0,
	    ATR_DATE_MAX, &out->updated) < 0)
		err = atr_fail(ATR_ERR_BAD_RESPONSE, "rotation policy: bad "
		    "created or updated date");
out:
	cJSON_Delete(doc);
	if (err != ATR_OK)
		memset(out, 0, sizeof(*out));
	return err;
}

int64_t
atr_kv_rotation_period(const struct atr_kv_rotation_policy *p)
{
	int64_t best = 0, t;
	size_t i;

	for (i = 0; i < p->nactions; i++) {
		const struct atr_kv_rotation_action *a = &p->actions[i];

		if (!a->rotate)
			continue;
		if (!a->before_expiry)
			t = a->seconds;
		else if (p->expiry_seconds > a->seconds)
			t = p->expiry_seconds - a->seconds;
		else
			continue;   /* before an expiry that never comes */
		if (best == 0 || t < best)
			best = t;
	}
	return best;
}

cJSON *
atr_kv_rotation_policy_json(const struct atr_kv_rotation_policy *p)
{
	cJSON *doc = cJSON_CreateObject(), *acts, *a, *tr, *ac, *attrs;
	size_t i;

	acts = cJSON_AddArrayToObject(doc, "lifetimeActions");
	attrs = cJSON_AddObjectToObject(doc, "attributes");
	if (acts == NULL || attrs == NULL)
		goto nomem;
	for (i = 0; i < p->nactions && i < ATR_KV_ROTATION_ACTIONS_MAX; i++) {
		a = cJSON_CreateObject();
		if (a == NULL)
			goto nomem;
		cJSON_AddItemToArray(acts, a);
		tr = cJSON_AddObjectToObject(a, "trigger");
		ac = cJSON_AddObjectToObject(a, "action");
		if (tr == NULL || ac == NULL ||
		    cJSON_AddStringToObject(tr, p->actions[i].before_expiry ?
		    "timeBeforeExpiry" : "timeAfterCreate",
		    p->actions[i].duration) == NULL ||
		    cJSON_AddStringToObject(ac, "type", p->actions[i].rotate ?
		    "Rotate" : "Notify") == NULL)
			goto nomem;
	}
	if (p->expiry[0] != '\0' && cJSON_AddStringToObject(attrs,
	    "expiryTime", p->expiry) == NULL)
		goto nomem;
	if ((p->created != 0 && cJSON_AddNumberToObject(attrs, "created",
	    (double)p->created) == NULL) || (p->updated != 0 &&
	    cJSON_AddNumberToObject(attrs, "updated", (double)p->updated) ==
	    NULL))
		goto nomem;
	return doc;
nomem:
	cJSON_Delete(doc);
	return NULL;
}

/*
 * The reply's id, when it sends one, must be this key's policy on this
 * vault ("https://VAULT/keys/NAME/rotationpolicy", host and name in any
 * case): a policy of another key would be reported as this one's.
 */
static enum atr_err
check_id(const struct atr_kv_client *c, const char *name, const char *what,
    const struct kv_resp *rs)
{
	cJSON *doc = cJSON_ParseWithLength(rs->body.p, rs->body.len);
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(doc, "id");
	char want[KV_URL_MAX];
	int ok;

	snprintf(want, sizeof(want), "%s/keys/%s/rotationpolicy",
	    c->vault.origin, name);
	ok = id == NULL || cJSON_IsNull(id) || (cJSON_IsString(id) &&
	    strcasecmp(id->valuestring, want) == 0);
	cJSON_Delete(doc);
	if (!ok)
		return atr_fail(ATR_ERR_BAD_RESPONSE, "%s: the reply's id is "
		    "not this key's rotation policy on vault %s", what,
		    c->vault.hostport);
	return ATR_OK;
}

static enum atr_err
policy_call(struct atr_kv_client *c, const char *name,
    const struct atr_kv_rotation_policy *p,
    struct atr_kv_rotation_policy *out)
{
	struct kv_resp rs;
	char url[KV_URL_MAX], what[512];
	char *body = NULL;
	cJSON *doc;
	enum atr_err err;

	memset(out, 0, sizeof(*out));
	if ((err = kv_check_name(name, NULL)) != ATR_OK)
		return err;
	kv_key_what(c, p != NULL ? "set rotation policy of" :
	    "get rotation policy of", name, NULL, what, sizeof(what));
	snprintf(url, sizeof(url), "%s/keys/%s/rotationpolicy?api-version=%s",
	    c->vault.origin, name, c->api_version);
	if (p != NULL) {
		struct atr_kv_rotation_policy send = *p;

		/* created and updated are the service's to set. */
		send.created = send.updated = 0;
		doc = atr_kv_rotation_policy_json(&send);
		body = doc != NULL ? cJSON_PrintUnformatted(doc) : NULL;
		cJSON_Delete(doc);
		if (body == NULL)
			return atr_fail(ATR_ERR_NOMEM, "out of memory");
	}
	kv_resp_init(&rs);
	err = kv_vault_call(c, p != NULL ? ATR_KV_CALL_MANAGE : ATR_KV_CALL_GET,
	    p != NULL ? "PUT" : "GET", url, body,
	    body != NULL ? strlen(body) : 0, what, &rs);
	if (err == ATR_OK && atr_kv_rotation_policy_from_json(rs.body.p,
	    rs.body.len, out) != ATR_OK)
		err = atr_fail(ATR_ERR_BAD_RESPONSE, "%s: unusable reply: %s",
		    what, atr_detail());
	if (err == ATR_OK && (err = check_id(c, name, what, &rs)) != ATR_OK)
		memset(out, 0, sizeof(*out));
	kv_resp_free(&rs);
	free(body);
	return err;
}

enum atr_err
atr_kv_get_rotation_policy(struct atr_kv_client *c, const char *name,
    struct atr_kv_rotation_policy *out)
{
	return policy_call(c, name, NULL, out);
}

enum atr_err
atr_kv_set_rotation_policy(struct atr_kv_client *c, const char *name,
    const struct atr_kv_rotation_policy *p,
    struct atr_kv_rotation_policy *out)
{
	if (p == NULL || p->nactions > ATR_KV_ROTATION_ACTIONS_MAX)
		return atr_fail(ATR_ERR_USAGE, "rotation policy: at most %u "
		    "lifetime actions", ATR_KV_ROTATION_ACTIONS_MAX);
	return policy_call(c, name, p, out);
}
