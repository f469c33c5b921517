/*
 * kv_server_rotate.c - key rotation: POST /keys/{name}/rotate (a new
 * version like the latest, its expiry from the policy) and the rotation
 * policy, GET and PUT /keys/{name}/rotationpolicy, stored as given
 * within bounds (Key Vault REST API reference, Rotate Key and Get/Update
 * Key Rotation Policy; "Configure cryptographic key auto-rotation",
 * https://learn.microsoft.com/en-us/azure/key-vault/keys/how-to-configure-key-rotation).
 */
#include "kv_server_int.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void
kvs_handle_rotate(struct kvs_http *h, const struct kvs_route *r)
{
	struct kvs_store *st = &h->s->store;
	struct kvs_key *k;
	struct kvs_version *latest, *v = NULL;
	enum kvs_kty kty = h->s->managed_hsm ? KVS_KTY_RSA_HSM : KVS_KTY_RSA;
	unsigned bits = 0, ops = 0;
	cJSON *tags = NULL;
	int64_t lifetime = -1;
	enum atr_err err;

	pthread_rwlock_rdlock(&st->lock);
	k = kvs_store_find(st, r->name);
	latest = k != NULL && !k->deleted ? kvs_key_latest(k) : NULL;
	if (latest != NULL) {
		const cJSON *exp;

		kty = latest->kty;
		bits = latest->bits;
		ops = latest->key_ops;
		tags = latest->tags != NULL ? cJSON_Duplicate(latest->tags, 1) :
		    NULL;
		exp = cJSON_GetObjectItemCaseSensitive(
		    cJSON_GetObjectItemCaseSensitive(k->rotation_policy,
		    "attributes"), "expiryTime");
		if (!cJSON_IsString(exp) ||
		    atr_iso8601_duration(exp->valuestring, &lifetime) != 0)
			lifetime = -1;
	}
	pthread_rwlock_unlock(&st->lock);
	if (latest == NULL) {
		kvs_not_found(h, r->name, NULL);
		return;
	}
	err = kvs_version_generate(kty, bits, &h->s->stopping, &v);
	if (err != ATR_OK) {
		cJSON_Delete(tags);
		kvs_generate_failed(h, err);
		return;
	}
	/* The new version keeps key_ops and tags; the policy's expiryTime
	 * sets exp (how-to-configure-key-rotation). */
	v->key_ops = ops;
	v->tags = tags;
	v->created = v->updated = kvs_now(h->s);
	if (lifetime > 0) {
		v->has_exp = 1;
		v->exp = v->created + lifetime;
	}
	kvs_add_version(h, r->name, v, 1);
}

/* ------------------------------------------------------------------ */
/* Rotation policy */

static void
policy_reply(struct kvs_http *h, const struct kvs_key *k)
{
	char id[KVS_BASE_MAX + 200];
	cJSON *j;

	if (k->rotation_policy != NULL) {
		j = cJSON_Duplicate(k->rotation_policy, 1);
	} else {
		/* A key that never had a policy: the default one, notify
		 * 30 days before expiry. */
		j = cJSON_Parse("{\"lifetimeActions\":[{\"trigger\":"
		    "{\"timeBeforeExpiry\":\"P30D\"},\"action\":{\"type\":"
		    "\"Notify\"}}],\"attributes\":{}}");
	}
	if (j == NULL) {
		kvs_reply_oom(h);
		return;
	}
	snprintf(id, sizeof(id), "%s/keys/%s/rotationpolicy", h->base, k->name);
	cJSON_DeleteItemFromObjectCaseSensitive(j, "id");
	cJSON_AddStringToObject(j, "id", id);
	kvs_reply(h, 200, j);
}

/*
 * A policy is stored as given, so it is bounded as given: text without
 * control characters, nested at most KVS_POLICY_DEPTH deep, at most
 * KVS_POLICY_MAX bytes of compact JSON with room for the created and
 * updated stamps added below.  Replies 400 and returns 0 otherwise.
 */
static int
policy_fits(struct kvs_http *h, const cJSON *j)
{
	char *text;
	size_t n;

	if (!kvs_json_text_valid(j, KVS_POLICY_DEPTH)) {
		kvs_reply_error(h, 400, "BadParameter", NULL, "The rotation "
		    "policy is not valid: control characters, invalid UTF-8 "
		    "or more than %u levels of nesting.", KVS_POLICY_DEPTH);
		return 0;
	}
	text = cJSON_PrintUnformatted(j);
	if (text == NULL) {
		kvs_reply_oom(h);
		return 0;
	}
	n = strlen(text);
	free(text);
	if (n > KVS_POLICY_MAX - 128) {
		kvs_reply_error(h, 400, "BadParameter", NULL, "The rotation "
		    "policy is not valid: more than %u bytes.",
		    KVS_POLICY_MAX - 128);
		return 0;
	}
	return 1;
}

/*
 * The shape Key Vault accepts (KeyRotationPolicy in the REST reference,
 * https://learn.microsoft.com/en-us/rest/api/keyvault/keys/update-key-rotation-policy/update-key-rotation-policy):
 * lifetimeActions a list of {trigger, action}, the trigger exactly one
 * of timeAfterCreate and timeBeforeExpiry (ISO 8601 durations), the
 * action's type Rotate or Notify (any case, as the service takes both),
 * Notify only before expiry; attributes.expiryTime a duration.  NULL
 * when j has it, else what is wrong.
 */
static const char *
policy_shape(const cJSON *j)
{
	const cJSON *acts = cJSON_GetObjectItemCaseSensitive(j,
	    "lifetimeActions"), *a, *exp;
	int64_t d;

	exp = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(
	    j, "attributes"), "expiryTime");
	if (exp != NULL && !cJSON_IsNull(exp) && (!cJSON_IsString(exp) ||
	    atr_iso8601_duration(exp->valuestring, &d) != 0))
		return "attributes.expiryTime is not an ISO 8601 duration";
	if (acts == NULL)
		return NULL;
	if (!cJSON_IsArray(acts))
		return "lifetimeActions is not a list";
	cJSON_ArrayForEach(a, acts) {
		const cJSON *tr = cJSON_GetObjectItemCaseSensitive(a,
		    "trigger");
		const cJSON *after = cJSON_GetObjectItemCaseSensitive(tr,
		    "timeAfterCreate");
		const cJSON *before = cJSON_GetObjectItemCaseSensitive(tr,
		    "timeBeforeExpiry");
		const cJSON *ty = cJSON_GetObjectItemCaseSensitive(
		    cJSON_GetObjectItemCaseSensitive(a, "action"), "type");
		const cJSON *when = after != NULL ? after : before;

		if (!cJSON_IsObject(tr) ||
		    (after == NULL) == (before == NULL) ||
		    !cJSON_IsString(when) ||
		    atr_iso8601_duration(when->valuestring, &d) != 0)
			return "a lifetime action's trigger needs exactly "
			    "one of timeAfterCreate and timeBeforeExpiry, an "
			    "ISO 8601 duration";
		if (!cJSON_IsString(ty) ||
		    (strcasecmp(ty->valuestring, "Rotate") != 0 &&
		    strcasecmp(ty->valuestring, "Notify") != 0))
			return "a lifetime action's type is Rotate or Notify";
		if (strcasecmp(ty->valuestring, "Notify") == 0 &&
		    before == NULL)
			return "Notify takes timeBeforeExpiry";
	}
	return NULL;
}

void
kvs_handle_policy(struct kvs_http *h, const struct kvs_route *r, int set)
{
	struct kvs_store *st = &h->s->store;
	cJSON *j = NULL, *attrs;
	struct kvs_key *k;
	const cJSON *old;
	enum atr_err err;

	if (set) {
		j = kvs_parse_body(h, 1);
		if (j == NULL)
			return;
		attrs = cJSON_GetObjectItemCaseSensitive(j, "attributes");
		if (attrs == NULL)
			attrs = cJSON_AddObjectToObject(j, "attributes");
		if (!cJSON_IsObject(attrs) || policy_shape(j) != NULL) {
			kvs_reply_error(h, 400, "BadParameter", NULL,
			    "The rotation policy is not valid: %s.",
			    cJSON_IsObject(attrs) ? policy_shape(j) :
			    "attributes is not an object");
			cJSON_Delete(j);
			return;
		}
		cJSON_DeleteItemFromObjectCaseSensitive(j, "id");
		if (!policy_fits(h, j)) {
			cJSON_Delete(j);
			return;
		}
	}
	pthread_rwlock_wrlock(&st->lock);
	k = kvs_store_find(st, r->name);
	if (k == NULL || k->deleted) {
		kvs_not_found(h, r->name, NULL);
	} else if (!set) {
		policy_reply(h, k);
	} else {
		cJSON *prev = k->rotation_policy;
		double created = (double)kvs_now(h->s);

		if (prev != NULL) {
			old = cJSON_GetObjectItemCaseSensitive(
			    cJSON_GetObjectItemCaseSensitive(prev, "attributes"),
			    "created");
			if (cJSON_IsNumber(old))
				created = old->valuedouble;
		}
		attrs = cJSON_GetObjectItemCaseSensitive(j, "attributes");
		cJSON_DeleteItemFromObjectCaseSensitive(attrs, "created");
		cJSON_DeleteItemFromObjectCaseSensitive(attrs, "updated");
		cJSON_AddNumberToObject(attrs, "created", created);
		cJSON_AddNumberToObject(attrs, "updated", (double)kvs_now(h->s));
		k->rotation_policy = j;
		err = kvs_store_persist(st, k);
		if (err != ATR_OK) {
			kvs_persist_failed(h, k->name, err);
			k->rotation_policy = prev;
		} else {
			j = NULL;
			cJSON_Delete(prev);
			policy_reply(h, k);
		}
	}
	pthread_rwlock_unlock(&st->lock);
	cJSON_Delete(j);
}
