/*
 * kv_server_keys.c - the loopback Key Vault's key management: create,
 * get, update, list, versions, delete, get deleted, recover and purge,
 * with the shapes their answers share (KeyBundle, KeyItem, the service's
 * error texts) and the request-body parsing that create, import and
 * update share.  Import is in kv_server_import.c, rotation in
 * kv_server_rotate.c, the cryptographic operations in
 * kv_server_crypto.c.  Request and response models: Key Vault REST API
 * reference, https://learn.microsoft.com/en-us/rest/api/keyvault/keys/
 * (the keys.json swagger of github.com/Azure/azure-rest-api-specs and
 * its examples).
 */
#include "kv_server_int.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "jwk.h"
#include "util.h"

#define PAGE_MAX 25

/* ------------------------------------------------------------------ */
/* Shapes */

static const char *
recovery_level(struct atr_kv_server *s)
{
	/* DeletionRecoveryLevel: "Customized" when recoverableDays < 90;
	 * no "+Purgeable" with purge protection. */
	if (s->purge_protection && s->protected_subscription)
		return s->recoverable_days >= 90 ?
		    "Recoverable+ProtectedSubscription" :
		    "CustomizedRecoverable+ProtectedSubscription";
	if (s->recoverable_days >= 90)
		return s->purge_protection ? "Recoverable" :
		    "Recoverable+Purgeable";
	return s->purge_protection ? "CustomizedRecoverable" :
	    "CustomizedRecoverable+Purgeable";
}

static cJSON *
attrs_json(struct kvs_http *h, const struct kvs_version *v)
{
	cJSON *a = cJSON_CreateObject();

	if (a == NULL)
		return NULL;
	cJSON_AddBoolToObject(a, "enabled", v->enabled);
	if (v->has_nbf)
		cJSON_AddNumberToObject(a, "nbf", (double)v->nbf);
	if (v->has_exp)
		cJSON_AddNumberToObject(a, "exp", (double)v->exp);
	cJSON_AddNumberToObject(a, "created", (double)v->created);
	cJSON_AddNumberToObject(a, "updated", (double)v->updated);
	cJSON_AddStringToObject(a, "recoveryLevel", recovery_level(h->s));
	cJSON_AddNumberToObject(a, "recoverableDays", h->s->recoverable_days);
	cJSON_AddBoolToObject(a, "exportable", v->exportable);
	return a;
}

void
kvs_kid_of(struct kvs_http *h, const struct kvs_key *k,
    const struct kvs_version *v, char *out, size_t cap)
{
	if (v != NULL)
		snprintf(out, cap, "%s/keys/%s/%s", h->base, k->name, v->id);
	else
		snprintf(out, cap, "%s/keys/%s", h->base, k->name);
}

static void
add_deleted_fields(struct kvs_http *h, cJSON *j, const struct kvs_key *k)
{
	char buf[KVS_BASE_MAX + 160];

	snprintf(buf, sizeof(buf), "%s/deletedkeys/%s", h->base, k->name);
	cJSON_AddStringToObject(j, "recoveryId", buf);
	cJSON_AddNumberToObject(j, "deletedDate", (double)k->deleted_date);
	cJSON_AddNumberToObject(j, "scheduledPurgeDate", (double)k->purge_date);
}

/* KeyBundle, or DeletedKeyBundle with deleted. */
static cJSON *
bundle_json(struct kvs_http *h, const struct kvs_key *k,
    const struct kvs_version *v, int deleted)
{
	cJSON *j = cJSON_CreateObject(), *key;
	char kid[KVS_BASE_MAX + 200];

	if (j == NULL)
		return NULL;
	if (deleted)
		add_deleted_fields(h, j, k);
	key = cJSON_AddObjectToObject(j, "key");
	if (key == NULL) {
		cJSON_Delete(j);
		return NULL;
	}
	kvs_kid_of(h, k, v, kid, sizeof(kid));
	cJSON_AddStringToObject(key, "kid", kid);
	cJSON_AddStringToObject(key, "kty", kvs_kty_name(v->kty));
	cJSON_AddItemToObject(key, "key_ops", kvs_kop_json(v->key_ops));
	if (v->n_b64 != NULL) {
		cJSON_AddStringToObject(key, "n", v->n_b64);
		cJSON_AddStringToObject(key, "e", v->e_b64);
	}
	/* Symmetric keys return no material (Get Key, REST API
	 * reference). */
	cJSON_AddItemToObject(j, "attributes", attrs_json(h, v));
	if (v->tags != NULL)
		cJSON_AddItemToObject(j, "tags", cJSON_Duplicate(v->tags, 1));
	return j;
}

/* KeyItem / DeletedKeyItem for lists. */
static cJSON *
item_json(struct kvs_http *h, const struct kvs_key *k,
    const struct kvs_version *v, int versioned, int deleted)
{
	cJSON *j = cJSON_CreateObject();
	char kid[KVS_BASE_MAX + 200];

	if (j == NULL)
		return NULL;
	kvs_kid_of(h, k, versioned ? v : NULL, kid, sizeof(kid));
	cJSON_AddStringToObject(j, "kid", kid);
	cJSON_AddItemToObject(j, "attributes", attrs_json(h, v));
	if (v->tags != NULL)
		cJSON_AddItemToObject(j, "tags", cJSON_Duplicate(v->tags, 1));
	if (deleted)
		add_deleted_fields(h, j, k);
	return j;
}

void
kvs_not_found(struct kvs_http *h, const char *name, const char *ver)
{
	kvs_reply_error(h, 404, "KeyNotFound", NULL, "A key with (name/id) "
	    "%s%s%s was not found in this key vault. If you recently deleted "
	    "this key you may be able to recover it using the correct recovery "
	    "command. For help resolving this issue, please see "
	    "https://go.microsoft.com/fwlink/?linkid=2125182", name,
	    ver != NULL && *ver ? "/" : "", ver != NULL ? ver : "");
}

static void
deleted_not_found(struct kvs_http *h, const char *name)
{
	kvs_reply_error(h, 404, "KeyNotFound", NULL,
	    "Deleted Key not found: %s", name);
}

static void
reply_locked_bundle(struct kvs_http *h, const struct kvs_key *k,
    const struct kvs_version *v, int deleted)
{
	cJSON *b = bundle_json(h, k, v, deleted);

	if (b == NULL)
		kvs_reply_oom(h);
	else
		kvs_reply(h, 200, b);
}

/* ------------------------------------------------------------------ */
/* Request bodies */

cJSON *
kvs_parse_body(struct kvs_http *h, int required)
{
	cJSON *j;

	if (h->body_len == 0 && !required)
		return cJSON_CreateObject();
	j = cJSON_ParseWithLength(h->body, h->body_len);
	if (!cJSON_IsObject(j)) {
		cJSON_Delete(j);
		kvs_reply_error(h, 400, "BadParameter", NULL,
		    "The request body is not a valid JSON object.");
		return NULL;
	}
	return j;
}

static int
json_intdate(const cJSON *it, int64_t *out)
{
	if (!cJSON_IsNumber(it) || !isfinite(it->valuedouble) ||
	    it->valuedouble < 0 || it->valuedouble > (double)ATR_DATE_MAX)
		return -1;
	*out = (int64_t)it->valuedouble;
	return 0;
}

/* key_ops, attributes, tags: shared by create, import and update. */
int
kvs_parse_common(struct kvs_http *h, const cJSON *j, struct kvs_attr_update *u)
{
	const cJSON *a = cJSON_GetObjectItemCaseSensitive(j, "attributes");
	const cJSON *it;

	memset(u, 0, sizeof(*u));
	it = cJSON_GetObjectItemCaseSensitive(j, "key_ops");
	if (it != NULL && !cJSON_IsNull(it)) {
		const cJSON *op;

		if (!cJSON_IsArray(it))
			goto bad_ops;
		u->has_ops = 1;
		cJSON_ArrayForEach(op, it) {
			unsigned bit = cJSON_IsString(op) ?
			    atr_jwk_op_parse(op->valuestring) : 0;

			if (bit == 0) {
				kvs_reply_error(h, 400, "BadParameter", NULL,
				    "Unsupported key operation(s): %.60s",
				    cJSON_IsString(op) ? op->valuestring : "?");
				return -1;
			}
			u->ops |= bit;
		}
	}
	if (a != NULL && !cJSON_IsNull(a)) {
		if (!cJSON_IsObject(a)) {
			kvs_reply_error(h, 400, "BadParameter", NULL,
			    "Property attributes has invalid value\r\n");
			return -1;
		}
		it = cJSON_GetObjectItemCaseSensitive(a, "enabled");
		if (it != NULL && !cJSON_IsNull(it)) {
			if (!cJSON_IsBool(it))
				goto bad_attr;
			u->has_enabled = 1;
			u->enabled = cJSON_IsTrue(it);
		}
		it = cJSON_GetObjectItemCaseSensitive(a, "nbf");
		if (it != NULL) {
			u->set_nbf = 1;
			u->has_nbf = !cJSON_IsNull(it);
			if (u->has_nbf && json_intdate(it, &u->nbf) != 0)
				goto bad_attr;
		}
		it = cJSON_GetObjectItemCaseSensitive(a, "exp");
		if (it != NULL) {
			u->set_exp = 1;
			u->has_exp = !cJSON_IsNull(it);
			if (u->has_exp && json_intdate(it, &u->exp) != 0)
				goto bad_attr;
		}
		it = cJSON_GetObjectItemCaseSensitive(a, "exportable");
		if (it != NULL && !cJSON_IsNull(it)) {
			if (!cJSON_IsBool(it))
				goto bad_attr;
			u->has_exportable = 1;
			u->exportable = cJSON_IsTrue(it);
		}
	}
	if (u->has_exportable && u->exportable &&
	    cJSON_GetObjectItemCaseSensitive(j, "release_policy") == NULL) {
		kvs_reply_error(h, 400, "BadParameter", NULL,
		    "Exportable keys must have a release policy.");
		return -1;
	}
	it = cJSON_GetObjectItemCaseSensitive(j, "tags");
	if (it != NULL && !cJSON_IsNull(it)) {
		const cJSON *t;
		unsigned n = 0;

		if (!cJSON_IsObject(it))
			goto bad_tags;
		/* The Azure tag limits, in characters; and text only: a
		 * control character would be written back as six bytes. */
		cJSON_ArrayForEach(t, it) {
			if (!cJSON_IsString(t) || ++n > KVS_TAGS_MAX ||
			    t->string == NULL || t->string[0] == '\0' ||
			    !kvs_text_valid(t->string, KVS_TAG_NAME_MAX) ||
			    !kvs_text_valid(t->valuestring, KVS_TAG_VALUE_MAX))
				goto bad_tags;
		}
		u->tags = cJSON_Duplicate(it, 1);
		if (u->tags == NULL) {
			kvs_reply_oom(h);
			return -1;
		}
	}
	return 0;
bad_ops:
	kvs_reply_error(h, 400, "BadParameter", NULL,
	    "Property key_ops has invalid value\r\n");
	return -1;
bad_attr:
	kvs_reply_error(h, 400, "BadParameter", NULL,
	    "Property attributes has invalid value\r\n");
	return -1;
bad_tags:
	kvs_reply_error(h, 400, "BadParameter", NULL, "Tags must be an "
	    "object of at most %u string values, names of 1 to %u and values "
	    "of at most %u characters, without control characters.",
	    KVS_TAGS_MAX, KVS_TAG_NAME_MAX, KVS_TAG_VALUE_MAX);
	return -1;
}

unsigned
kvs_default_ops(enum kvs_kty kty)
{
	/* What the service answers when key_ops is left out (CreateKey
	 * example); empty key_ops broke SDKs in other emulators. */
	if (kty == KVS_KTY_OCT_HSM)
		return ATR_JWK_ENCRYPT | ATR_JWK_DECRYPT | ATR_JWK_WRAP |
		    ATR_JWK_UNWRAP;
	return ATR_JWK_ENCRYPT | ATR_JWK_DECRYPT | ATR_JWK_SIGN |
	    ATR_JWK_VERIFY | ATR_JWK_WRAP | ATR_JWK_UNWRAP;
}

void
kvs_apply_update(struct kvs_version *v, struct kvs_attr_update *u, int64_t now)
{
	if (u->has_enabled)
		v->enabled = u->enabled;
	if (u->set_nbf) {
		v->has_nbf = u->has_nbf;
		v->nbf = u->nbf;
	}
	if (u->set_exp) {
		v->has_exp = u->has_exp;
		v->exp = u->exp;
	}
	if (u->has_exportable)
		v->exportable = u->exportable;
	if (u->has_ops)
		v->key_ops = u->ops != 0 ? u->ops : kvs_default_ops(v->kty);
	if (u->tags != NULL) {
		cJSON_Delete(v->tags);
		v->tags = u->tags;
		u->tags = NULL;
	}
	v->updated = now;
}

int
kvs_kty_allowed(struct kvs_http *h, const char *kty, enum kvs_kty *t)
{
	/* A Managed HSM holds HSM-protected keys only ("About keys",
	 * https://learn.microsoft.com/en-us/azure/key-vault/keys/about-keys ). */
	if (kvs_kty_parse(kty, t) != 0 ||
	    (*t == KVS_KTY_OCT_HSM && !h->s->allow_oct) ||
	    (*t == KVS_KTY_RSA && h->s->managed_hsm)) {
		/* The service's answer for a kty the vault does not take. */
		kvs_reply_error(h, 400, "BadParameter", "KeyTypeNotSupported",
		    "Invalid kty value: %.40s", kty);
		return 0;
	}
	return 1;
}

int
kvs_size_allowed(struct kvs_http *h, enum kvs_kty t, unsigned bits)
{
	if (t == KVS_KTY_OCT_HSM ? (bits == 128 || bits == 192 ||
	    bits == 256) : (bits == 2048 || bits == 3072 || bits == 4096))
		return 1;
	kvs_reply_error(h, 400, "BadParameter", NULL,
	    "Invalid key size %u for key type %s.", bits, kvs_kty_name(t));
	return 0;
}

/* Soft-deleted names cannot be reused (409, ObjectIsDeletedButRecoverable). */
static void
conflict_deleted(struct kvs_http *h, const char *name)
{
	kvs_reply_error(h, 409, "Conflict", "ObjectIsDeletedButRecoverable",
	    "Key %s is currently in a deleted but recoverable state, and its "
	    "name cannot be reused; in this state, the key can only be "
	    "recovered or purged.", name);
}

/*
 * The store refused a write.  One that would make the key's file too
 * large to load is the request's doing (400, nothing changed); any
 * other failure is the server's.
 */
void
kvs_persist_failed(struct kvs_http *h, const char *name, enum atr_err err)
{
	if (err == ATR_ERR_LIMIT) {
		kvs_reply_error(h, 400, "BadParameter", NULL, "The key %s "
		    "cannot hold this change: %s.", name, atr_detail());
		return;
	}
	kvs_logf(h->s, "cannot save key %s: %s", name, atr_detail());
	kvs_reply_error(h, 500, "InternalServerError", NULL,
	    "The key could not be stored.");
}

/*
 * Adds v (already filled) as the newest version of name, creating the
 * key when needed, persists and answers with the bundle.
 */
void
kvs_add_version(struct kvs_http *h, const char *name, struct kvs_version *v,
    int must_exist)
{
	struct kvs_store *st = &h->s->store;
	struct kvs_key *k;
	enum atr_err err;
	int fresh = 0;

	pthread_rwlock_wrlock(&st->lock);
	k = kvs_store_find(st, name);
	if (k != NULL && k->deleted) {
		conflict_deleted(h, k->name);
		goto fail;
	}
	if (k != NULL && k->nv >= KVS_VERSIONS_MAX) {
		/* Ours (Key Vault publishes no such limit): it bounds the
		 * key's file, which holds every version. */
		kvs_reply_error(h, 400, "BadParameter", NULL, "The key %s has "
		    "%u versions, the most this server keeps for one key.",
		    k->name, KVS_VERSIONS_MAX);
		goto fail;
	}
	if (k == NULL) {
		if (must_exist) {
			kvs_not_found(h, name, NULL);
			goto fail;
		}
		/* A file the loader could not read: kept for repair, so
		 * no new key may replace it. */
		if (kvs_store_file_exists(st, name)) {
			kvs_logf(h->s, "key %s: refused, its file exists but "
			    "was not loaded at start", name);
			kvs_reply_error(h, 409, "Conflict", NULL, "The key %s "
			    "has a stored state this server could not load; "
			    "its name cannot be used until the file is "
			    "repaired or removed.", name);
			goto fail;
		}
		k = kvs_key_new(name);
		if (k == NULL || kvs_store_add(st, k) != ATR_OK) {
			kvs_key_free(k);
			kvs_reply_oom(h);
			goto fail;
		}
		fresh = 1;
	}
	if (kvs_key_append(k, v) != ATR_OK) {
		if (fresh)
			kvs_store_purge(st, k);
		kvs_reply_oom(h);
		goto fail;
	}
	err = kvs_store_persist(st, k);
	if (err != ATR_OK) {
		kvs_persist_failed(h, name, err);
		k->nv--;
		if (fresh)
			kvs_store_purge(st, k);
		goto fail;
	}
	reply_locked_bundle(h, k, v, 0);
	pthread_rwlock_unlock(&st->lock);
	return;
fail:
	pthread_rwlock_unlock(&st->lock);
	kvs_version_free(v);
}

void
kvs_generate_failed(struct kvs_http *h, enum atr_err err)
{
	if (err == ATR_ERR_TIMEOUT)
		/* Stopped by atr_kv_server_stop: the connection closes. */
		kvs_reply_unavailable(h);
	else
		kvs_reply_error(h, 500, "InternalServerError", NULL,
		    "Key generation failed.");
}

/* ------------------------------------------------------------------ */
/* Create, get, update */

void
kvs_handle_create(struct kvs_http *h, const struct kvs_route *r)
{
	cJSON *j = kvs_parse_body(h, 1);
	const cJSON *it;
	struct kvs_attr_update u;
	struct kvs_version *v = NULL;
	enum kvs_kty t;
	unsigned bits;
	struct kvs_key *k;
	int deleted;
	enum atr_err err;

	memset(&u, 0, sizeof(u));
	if (j == NULL)
		return;
	it = cJSON_GetObjectItemCaseSensitive(j, "kty");
	if (!cJSON_IsString(it)) {
		kvs_reply_error(h, 400, "BadParameter", NULL,
		    "Property kty has invalid value\r\n");
		goto out;
	}
	if (!kvs_kty_allowed(h, it->valuestring, &t))
		goto out;
	bits = t == KVS_KTY_OCT_HSM ? 256 : 2048;
	it = cJSON_GetObjectItemCaseSensitive(j, "key_size");
	if (it != NULL && !cJSON_IsNull(it)) {
		if (!cJSON_IsNumber(it) || it->valuedouble < 0 ||
		    it->valuedouble > 16384) {
			kvs_reply_error(h, 400, "BadParameter", NULL,
			    "Property key_size has invalid value\r\n");
			goto out;
		}
		bits = (unsigned)it->valuedouble;
	}
	if (!kvs_size_allowed(h, t, bits))
		goto out;
	it = cJSON_GetObjectItemCaseSensitive(j, "public_exponent");
	if (it != NULL && !cJSON_IsNull(it) && (!cJSON_IsNumber(it) ||
	    it->valuedouble != 65537.0)) {
		kvs_reply_error(h, 400, "BadParameter", NULL,
		    "Only the public exponent 65537 is supported.");
		goto out;
	}
	if (kvs_parse_common(h, j, &u) != 0)
		goto out;
	/* Cheap check first: no key generation for a name that is taken
	 * by a deleted key (checked again under the write lock). */
	pthread_rwlock_rdlock(&h->s->store.lock);
	k = kvs_store_find(&h->s->store, r->name);
	deleted = k != NULL && k->deleted;
	pthread_rwlock_unlock(&h->s->store.lock);
	if (deleted) {
		conflict_deleted(h, r->name);
		goto out;
	}
	err = kvs_version_generate(t, bits, &h->s->stopping, &v);
	if (err != ATR_OK) {
		kvs_generate_failed(h, err);
		goto out;
	}
	v->key_ops = kvs_default_ops(t);
	v->created = kvs_now(h->s);
	kvs_apply_update(v, &u, v->created);
	kvs_add_version(h, r->name, v, 0);
out:
	cJSON_Delete(u.tags);
	cJSON_Delete(j);
}

void
kvs_handle_get(struct kvs_http *h, const struct kvs_route *r)
{
	struct kvs_store *st = &h->s->store;
	struct kvs_config c;
	struct kvs_key *k;
	struct kvs_version *v;

	kvs_config_get(h->s, &c);
	pthread_rwlock_rdlock(&st->lock);
	v = kvs_store_find_version(st, r->name, r->version, &k);
	if (v == NULL)
		kvs_not_found(h, r->name, r->version);
	else if (!v->enabled && c.disabled_get_forbidden)
		/* The public docs do not say that keys do this (a disabled
		 * secret's GET is refused): a switch. */
		kvs_reply_error(h, 403, "Forbidden", "KeyDisabled",
		    "Operation get is not allowed on a disabled key.");
	else
		reply_locked_bundle(h, k, v, 0);
	pthread_rwlock_unlock(&st->lock);
}

void
kvs_handle_update(struct kvs_http *h, const struct kvs_route *r)
{
	struct kvs_store *st = &h->s->store;
	cJSON *j = kvs_parse_body(h, 1);
	struct kvs_attr_update u;
	struct kvs_key *k;
	struct kvs_version *v, saved;
	cJSON *old_tags;
	enum atr_err err;

	memset(&u, 0, sizeof(u));
	if (j == NULL)
		return;
	if (kvs_parse_common(h, j, &u) != 0)
		goto out;
	pthread_rwlock_wrlock(&st->lock);
	v = kvs_store_find_version(st, r->name, r->version, &k);
	if (v == NULL) {
		kvs_not_found(h, r->name, r->version);
		pthread_rwlock_unlock(&st->lock);
		goto out;
	}
	saved = *v;
	old_tags = v->tags;
	if (u.tags != NULL)
		v->tags = NULL; /* apply_update would free the old tags */
	kvs_apply_update(v, &u, kvs_now(h->s));
	err = kvs_store_persist(st, k);
	if (err != ATR_OK) {
		cJSON *new_tags = v->tags;

		kvs_persist_failed(h, k->name, err);
		/* Undo: the file and memory must agree. */
		*v = saved;
		v->tags = old_tags;
		if (new_tags != old_tags)
			cJSON_Delete(new_tags);
	} else {
		if (v->tags != old_tags)
			cJSON_Delete(old_tags);
		reply_locked_bundle(h, k, v, 0);
	}
	pthread_rwlock_unlock(&st->lock);
out:
	cJSON_Delete(u.tags);
	cJSON_Delete(j);
}

/* ------------------------------------------------------------------ */
/* Lists */

static int
page_params(struct kvs_http *h, size_t *skip, int *max)
{
	const char *m = kvs_query(h, "maxresults");
	const char *t = kvs_query(h, "$skiptoken");

	*skip = 0;
	*max = PAGE_MAX;
	if (m != NULL) {
		char *end;
		long n;

		errno = 0;
		n = strtol(m, &end, 10);
		if (end == m || *end != '\0' || errno != 0 || n < 1 ||
		    n > PAGE_MAX) {
			kvs_reply_error(h, 400, "BadParameter", NULL,
			    "The value of maxresults must be between 1 and %d.",
			    PAGE_MAX);
			return -1;
		}
		*max = (int)n;
	}
	if (t != NULL) {
		uint8_t *b = NULL;
		size_t n = 0;
		char buf[32], *end;
		unsigned long long off;

		/* Opaque to clients: base64url("o:OFFSET"). */
		if (kvs_unb64url(t, &b, &n) != 0 || n < 3 || n >= sizeof(buf) ||
		    memcmp(b, "o:", 2) != 0) {
			free(b);
			goto bad;
		}
		memcpy(buf, b + 2, n - 2);
		buf[n - 2] = '\0';
		free(b);
		errno = 0;
		off = strtoull(buf, &end, 10);
		if (end == buf || *end != '\0' || errno != 0 || off > 1000000)
			goto bad;
		*skip = (size_t)off;
	}
	return 0;
bad:
	kvs_reply_error(h, 400, "BadParameter", NULL, "Invalid $skiptoken.");
	return -1;
}

static void
finish_page(struct kvs_http *h, cJSON *j, const char *path, size_t next,
    int more, int max)
{
	char link[KVS_BASE_MAX + 400], tokraw[32], *tok;

	if (!more) {
		/* nextLink is null at the end of the list. */
		cJSON_AddNullToObject(j, "nextLink");
		return;
	}
	snprintf(tokraw, sizeof(tokraw), "o:%zu", next);
	tok = kvs_b64url((const uint8_t *)tokraw, strlen(tokraw));
	if (tok == NULL) {
		cJSON_AddNullToObject(j, "nextLink");
		return;
	}
	snprintf(link, sizeof(link), "%s%s?api-version=%s&$skiptoken=%s"
	    "&maxresults=%d", h->base, path, h->api_version, tok, max);
	free(tok);
	cJSON_AddStringToObject(j, "nextLink", link);
}

void
kvs_handle_versions(struct kvs_http *h, const struct kvs_route *r)
{
	struct kvs_store *st = &h->s->store;
	struct kvs_key *k;
	cJSON *j, *arr;
	size_t skip, i;
	int max, n = 0;
	char path[200];

	if (page_params(h, &skip, &max) != 0)
		return;
	j = cJSON_CreateObject();
	arr = j != NULL ? cJSON_AddArrayToObject(j, "value") : NULL;
	if (arr == NULL) {
		cJSON_Delete(j);
		kvs_reply_oom(h);
		return;
	}
	pthread_rwlock_rdlock(&st->lock);
	k = kvs_store_find(st, r->name);
	if (k == NULL || k->deleted) {
		pthread_rwlock_unlock(&st->lock);
		cJSON_Delete(j);
		kvs_not_found(h, r->name, NULL);
		return;
	}
	for (i = skip; i < k->nv && n < max; i++, n++)
		cJSON_AddItemToArray(arr, item_json(h, k, k->v[i], 1, 0));
	snprintf(path, sizeof(path), "/keys/%s/versions", k->name);
	finish_page(h, j, path, i, i < k->nv, max);
	pthread_rwlock_unlock(&st->lock);
	kvs_reply(h, 200, j);
}

static int
cmp_keys(const void *a, const void *b)
{
	return strcasecmp((*(struct kvs_key *const *)a)->name,
	    (*(struct kvs_key *const *)b)->name);
}

void
kvs_handle_list(struct kvs_http *h, int deleted)
{
	struct kvs_store *st = &h->s->store;
	struct kvs_key **sel = NULL;
	cJSON *j, *arr;
	size_t skip, i, m = 0;
	int max, n = 0;

	if (page_params(h, &skip, &max) != 0)
		return;
	j = cJSON_CreateObject();
	arr = j != NULL ? cJSON_AddArrayToObject(j, "value") : NULL;
	if (arr == NULL)
		goto oom;
	pthread_rwlock_rdlock(&st->lock);
	sel = calloc(st->n + 1, sizeof(struct kvs_key *));
	if (sel == NULL) {
		pthread_rwlock_unlock(&st->lock);
		goto oom;
	}
	for (i = 0; i < st->n; i++)
		if (st->keys[i]->deleted == deleted && st->keys[i]->nv > 0)
			sel[m++] = st->keys[i];
	/* Stable order by name, so that skip tokens page predictably. */
	qsort(sel, m, sizeof(struct kvs_key *), cmp_keys);
	for (i = skip; i < m && n < max; i++, n++)
		cJSON_AddItemToArray(arr, item_json(h, sel[i],
		    kvs_key_latest(sel[i]), 0, deleted));
	finish_page(h, j, deleted ? "/deletedkeys" : "/keys", i, i < m, max);
	pthread_rwlock_unlock(&st->lock);
	free(sel);
	kvs_reply(h, 200, j);
	return;
oom:
	cJSON_Delete(j);
	kvs_reply_oom(h);
}

/* ------------------------------------------------------------------ */
/* Soft delete */

void
kvs_handle_delete(struct kvs_http *h, const struct kvs_route *r)
{
	struct kvs_store *st = &h->s->store;
	struct kvs_key *k;
	enum atr_err err;

	pthread_rwlock_wrlock(&st->lock);
	k = kvs_store_find(st, r->name);
	if (k == NULL || k->deleted || k->nv == 0) {
		kvs_not_found(h, r->name, NULL);
	} else {
		k->deleted = 1;
		k->deleted_date = kvs_now(h->s);
		k->purge_date = k->deleted_date +
		    (int64_t)h->s->recoverable_days * 86400;
		err = kvs_store_persist(st, k);
		if (err != ATR_OK) {
			kvs_persist_failed(h, k->name, err);
			k->deleted = 0;
		} else {
			reply_locked_bundle(h, k, kvs_key_latest(k), 1);
		}
	}
	pthread_rwlock_unlock(&st->lock);
}

void
kvs_handle_get_deleted(struct kvs_http *h, const struct kvs_route *r)
{
	struct kvs_store *st = &h->s->store;
	struct kvs_key *k;

	pthread_rwlock_rdlock(&st->lock);
	k = kvs_store_find(st, r->name);
	if (k == NULL || !k->deleted)
		deleted_not_found(h, r->name);
	else
		reply_locked_bundle(h, k, kvs_key_latest(k), 1);
	pthread_rwlock_unlock(&st->lock);
}

void
kvs_handle_recover(struct kvs_http *h, const struct kvs_route *r)
{
	struct kvs_store *st = &h->s->store;
	struct kvs_key *k;
	enum atr_err err;

	pthread_rwlock_wrlock(&st->lock);
	k = kvs_store_find(st, r->name);
	if (k == NULL || !k->deleted) {
		deleted_not_found(h, r->name);
	} else {
		k->deleted = 0;
		err = kvs_store_persist(st, k);
		if (err != ATR_OK) {
			kvs_persist_failed(h, k->name, err);
			k->deleted = 1;
		} else {
			reply_locked_bundle(h, k, kvs_key_latest(k), 0);
		}
	}
	pthread_rwlock_unlock(&st->lock);
}

void
kvs_handle_purge(struct kvs_http *h, const struct kvs_route *r)
{
	struct kvs_store *st = &h->s->store;
	struct kvs_key *k;

	pthread_rwlock_wrlock(&st->lock);
	k = kvs_store_find(st, r->name);
	if (k == NULL || !k->deleted) {
		deleted_not_found(h, r->name);
	} else if (h->s->purge_protection) {
		kvs_reply_error(h, 403, "Forbidden", NULL, "Operation "
		    "\"purge\" is not allowed because purge protection is "
		    "enabled for this vault. Key Vault service will "
		    "automatically purge it after the retention period has "
		    "passed.");
	} else if (kvs_store_purge(st, k) != ATR_OK) {
		kvs_reply_error(h, 500, "InternalServerError", NULL,
		    "The key could not be removed.");
	} else {
		h->status = 204; /* no body */
	}
	pthread_rwlock_unlock(&st->lock);
}
