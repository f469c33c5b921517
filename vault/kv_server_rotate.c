/*
 * kv_server_rotate.c - key rotation: POST /keys/{name}/rotate (a new
 * version like the latest, its expiry from the policy) and the rotation
 * policy, GET and PUT /keys/{name}/rotationpolicy, stored as given
 * within bounds (Key Vault REST API reference, Rotate Key and Get/Update
 * Key Rotation Policy; "Configure cryptographic key auto-rotation",
 * https://learn.microsoft.com/en-us/azure/key-vault/keys/how-to-configure-key-rotation).
 */
#include "kv_server_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ISO 8601 duration, the forms rotation policies use: PnY, PnM, PnD,
 * PTnH...; months count 30 days, years 365. */
static int64_t
iso_duration(const char *s)
{
	int64_t total = 0;
	int time_part = 0;

	if (*s++ != 'P')
		return -1;
	while (*s != '\0') {
		char *end;
		long long n;

		if (*s == 'T') {
			time_part = 1;
			s++;
			continue;
		}
		errno = 0;
		n = strtoll(s, &end, 10);
		if (end == s || errno != 0 || n < 0 || n > 100000)
			return -1;
		switch (*end) {
		case 'Y': total += n * 365 * 86400; break;
		case 'M': total += time_part ? n * 60 : n * 30 * 86400; break;
		case 'W': total += n * 7 * 86400; break;
		case 'D': total += n * 86400; break;
		case 'H': total += n * 3600; break;
		case 'S': total += n; break;
		default: return -1;
		}
		s = end + 1;
	}
	return total;
}

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
		if (cJSON_IsString(exp))
			lifetime = iso_duration(exp->valuestring);
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
		if (!cJSON_IsObject(attrs) || (cJSON_GetObjectItemCaseSensitive(
		    j, "lifetimeActions") != NULL && !cJSON_IsArray(
		    cJSON_GetObjectItemCaseSensitive(j, "lifetimeActions")))) {
			kvs_reply_error(h, 400, "BadParameter", NULL,
			    "The rotation policy is not valid.");
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
