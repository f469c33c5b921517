/*
 * The loopback Key Vault's keys API: routes and handlers shaped like
 * the service's (keys.json 7.4/7.5 swagger and its examples; error texts
 * captured from the live service, reference azure-keyvault.md).
 */
#include "kv_server_int.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/param_build.h>

#include "crypto.h"
#include "fsutil.h"
#include "jwk.h"
#include "json.h"

#define PAGE_MAX 25

/* ------------------------------------------------------------------ */
/* Routes */

static int
crypto_op(const char *s, enum kvs_op *op)
{
	if (strcasecmp(s, "wrapkey") == 0)
		*op = KVS_OP_WRAP;
	else if (strcasecmp(s, "unwrapkey") == 0)
		*op = KVS_OP_UNWRAP;
	else if (strcasecmp(s, "encrypt") == 0)
		*op = KVS_OP_ENCRYPT;
	else if (strcasecmp(s, "decrypt") == 0)
		*op = KVS_OP_DECRYPT;
	else
		return 0;
	return 1;
}

/* Real operations this server does not implement: 501, not 404. */
static int
other_op(const char *s)
{
	static const char *const t[] = {"sign", "verify", "backup", "release",
	    "export", "attestation", "restore"};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (strcasecmp(s, t[i]) == 0)
			return 1;
	return 0;
}

static void
set_name(struct kvs_route *r, const char *s)
{
	/* Even "" ("/keys//create"): kvs_keys_dispatch checks every name
	 * it is given. */
	r->has_name = 1;
	if (strlen(s) > KVS_NAME_MAX)
		r->name_too_long = 1;
	snprintf(r->name, sizeof(r->name), "%.*s", (int)KVS_NAME_MAX, s);
}

static void
set_version(struct kvs_route *r, const char *s)
{
	if (strlen(s) >= sizeof(r->version))
		r->bad_version = 1;
	snprintf(r->version, sizeof(r->version), "%s", s);
}

void
kvs_route_parse(const char *method, const char *path, struct kvs_route *r)
{
	char buf[1024], *seg[8], *p;
	size_t n = 0;
	int get = strcmp(method, "GET") == 0, post = strcmp(method, "POST") == 0;
	int patch = strcmp(method, "PATCH") == 0;

	memset(r, 0, sizeof(*r));
	r->status = 404;
	if (*path != '/' || strlen(path) >= sizeof(buf))
		return;
	snprintf(buf, sizeof(buf), "%s", path + 1);
	for (p = buf; n < sizeof(seg) / sizeof(seg[0]);) {
		char *slash = strchr(p, '/');

		seg[n++] = p;
		if (slash == NULL)
			break;
		*slash = '\0';
		p = slash + 1;
	}
	if (p != NULL && strchr(p, '/') != NULL)
		return;
	/* A trailing slash names the latest version: "GET /keys/n/" is
	 * what the SDKs send for a versionless get. */
	if (n > 1 && *seg[n - 1] == '\0')
		n--;
	r->status = 0;
	if (strcasecmp(seg[0], "keys") == 0) {
		if (n == 1) {
			if (get)
				r->op = KVS_OP_LIST;
			else
				r->status = 405;
			return;
		}
		set_name(r, seg[1]);
		if (n == 2) {
			if (get)
				r->op = KVS_OP_GET;
			else if (patch)
				r->op = KVS_OP_UPDATE;
			else if (strcmp(method, "DELETE") == 0)
				r->op = KVS_OP_DELETE;
			else if (strcmp(method, "PUT") == 0)
				r->op = KVS_OP_IMPORT;
			else
				r->status = 405;
			return;
		}
		if (n == 3) {
			enum kvs_op op;

			if (strcasecmp(seg[2], "create") == 0)
				r->op = KVS_OP_CREATE, r->status = post ? 0 : 405;
			else if (strcasecmp(seg[2], "rotate") == 0)
				r->op = KVS_OP_ROTATE, r->status = post ? 0 : 405;
			else if (strcasecmp(seg[2], "versions") == 0)
				r->op = KVS_OP_VERSIONS, r->status = get ? 0 : 405;
			else if (strcasecmp(seg[2], "rotationpolicy") == 0) {
				if (get)
					r->op = KVS_OP_GET_POLICY;
				else if (strcmp(method, "PUT") == 0)
					r->op = KVS_OP_SET_POLICY;
				else
					r->status = 405;
			} else if (crypto_op(seg[2], &op)) {
				/* Versionless crypto: the latest version. */
				r->op = op;
				r->status = post ? 0 : 405;
			} else if (other_op(seg[2])) {
				r->status = 501;
			} else {
				set_version(r, seg[2]);
				if (get)
					r->op = KVS_OP_GET;
				else if (patch)
					r->op = KVS_OP_UPDATE;
				else
					r->status = 405;
			}
			return;
		}
		if (n == 4) {
			enum kvs_op op;

			/* seg[2] may be empty: "/keys/n//wrapkey". */
			set_version(r, seg[2]);
			if (crypto_op(seg[3], &op)) {
				r->op = op;
				r->status = post ? 0 : 405;
			} else if (other_op(seg[3])) {
				r->status = 501;
			} else {
				r->status = 404;
			}
			return;
		}
		r->status = 404;
		return;
	}
	if (strcasecmp(seg[0], "deletedkeys") == 0) {
		if (n == 1) {
			if (get)
				r->op = KVS_OP_LIST_DELETED;
			else
				r->status = 405;
			return;
		}
		set_name(r, seg[1]);
		if (n == 2) {
			if (get)
				r->op = KVS_OP_GET_DELETED;
			else if (strcmp(method, "DELETE") == 0)
				r->op = KVS_OP_PURGE;
			else
				r->status = 405;
			return;
		}
		if (n == 3 && strcasecmp(seg[2], "recover") == 0) {
			r->op = KVS_OP_RECOVER;
			r->status = post ? 0 : 405;
			return;
		}
	}
	r->status = 404;
}

/* ------------------------------------------------------------------ */
/* Service limits: weights from the published per-10-s table */

static unsigned
other_cost(enum kvs_kty kty, unsigned bits)
{
	/* "All other transactions" per 10 s: software RSA 2048/3072/4096 =
	 * 4000/1000/500, HSM = 2000/500/250; thresholds are weighted and
	 * enforced on their sum (service-limits), so each op costs
	 * 4000/limit units of a 4000-unit budget.  oct-HSM (Managed HSM)
	 * is not in the vault table: counted as HSM RSA-2048. */
	unsigned soft = bits >= 4096 ? 8 : bits >= 3072 ? 4 : 1;

	if (kty == KVS_KTY_OCT_HSM)
		return 2;
	return kty == KVS_KTY_RSA_HSM ? soft * 2 : soft;
}

static void
classify_key(struct kvs_http *h, const struct kvs_route *r, int create,
    enum kvs_lim_bucket *bucket, unsigned *cost)
{
	struct kvs_key *k;
	struct kvs_version *v;

	pthread_rwlock_rdlock(&h->s->store.lock);
	k = kvs_store_find(&h->s->store, r->name);
	v = k != NULL && !k->deleted ? kvs_key_version(k, r->version) : NULL;
	if (v != NULL) {
		if (create) {
			*bucket = KVS_LIM_KEY_CREATE;
			*cost = v->kty == KVS_KTY_RSA ? 1 : 2;
		} else {
			*bucket = KVS_LIM_KEY_OTHER;
			*cost = other_cost(v->kty, v->bits);
		}
	}
	pthread_rwlock_unlock(&h->s->store.lock);
}

void
kvs_route_classify(struct kvs_http *h, const struct kvs_route *r,
    enum kvs_lim_bucket *bucket, unsigned *cost)
{
	*bucket = KVS_LIM_VAULT;
	*cost = 1;
	switch (r->op) {
	case KVS_OP_CREATE:
	case KVS_OP_IMPORT: {
		cJSON *j = cJSON_ParseWithLength(h->body, h->body_len);
		const cJSON *kty = cJSON_GetObjectItemCaseSensitive(j, "kty");
		enum kvs_kty t;

		if (r->op == KVS_OP_IMPORT)
			kty = cJSON_GetObjectItemCaseSensitive(
			    cJSON_GetObjectItemCaseSensitive(j, "key"), "kty");
		if (cJSON_IsString(kty) && kvs_kty_parse(kty->valuestring,
		    &t) == 0) {
			/* CREATE: software 20, HSM 10 per 10 s. */
			*bucket = KVS_LIM_KEY_CREATE;
			*cost = t == KVS_KTY_RSA ? 1 : 2;
		}
		if (j != NULL)
			atr_json_wipe(j);
		cJSON_Delete(j);
		break;
	}
	case KVS_OP_ROTATE:
		classify_key(h, r, 1, bucket, cost);
		break;
	case KVS_OP_GET:
	case KVS_OP_UPDATE:
	case KVS_OP_VERSIONS:
	case KVS_OP_WRAP:
	case KVS_OP_UNWRAP:
	case KVS_OP_ENCRYPT:
	case KVS_OP_DECRYPT:
	case KVS_OP_GET_POLICY:
	case KVS_OP_SET_POLICY:
		classify_key(h, r, 0, bucket, cost);
		break;
	default:
		break;
	}
}

/* ------------------------------------------------------------------ */
/* Shapes */

static const char *
recovery_level(struct atr_kv_server *s)
{
	/* DeletionRecoveryLevel: "Customized" when recoverableDays < 90;
	 * no "+Purgeable" with purge protection. */
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

static void
kid_of(struct kvs_http *h, const struct kvs_key *k,
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
	kid_of(h, k, v, kid, sizeof(kid));
	cJSON_AddStringToObject(key, "kid", kid);
	cJSON_AddStringToObject(key, "kty", kvs_kty_name(v->kty));
	cJSON_AddItemToObject(key, "key_ops", kvs_kop_json(v->key_ops));
	if (v->n_b64 != NULL) {
		cJSON_AddStringToObject(key, "n", v->n_b64);
		cJSON_AddStringToObject(key, "e", v->e_b64);
	}
	/* Symmetric keys return no material (keys.json GetKey). */
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
	kid_of(h, k, versioned ? v : NULL, kid, sizeof(kid));
	cJSON_AddStringToObject(j, "kid", kid);
	cJSON_AddItemToObject(j, "attributes", attrs_json(h, v));
	if (v->tags != NULL)
		cJSON_AddItemToObject(j, "tags", cJSON_Duplicate(v->tags, 1));
	if (deleted)
		add_deleted_fields(h, j, k);
	return j;
}

static void
not_found(struct kvs_http *h, const char *name, const char *ver)
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

static cJSON *
parse_body(struct kvs_http *h, int required)
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
	    it->valuedouble < 0 || it->valuedouble > 253402300799.0)
		return -1;
	*out = (int64_t)it->valuedouble;
	return 0;
}

struct attr_update {
	int has_enabled, enabled;
	int set_nbf, has_nbf;       /* set_*: present; has_*: non-null */
	int64_t nbf;
	int set_exp, has_exp;
	int64_t exp;
	int has_exportable, exportable;
	int has_ops;
	unsigned ops;
	cJSON *tags;                /* owned; NULL = not given */
};

/* key_ops, attributes, tags: shared by create, import and update. */
static int
parse_common(struct kvs_http *h, const cJSON *j, struct attr_update *u)
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

static unsigned
default_ops(enum kvs_kty kty)
{
	/* What the service answers when key_ops is left out (CreateKey
	 * example); empty key_ops broke SDKs in other emulators. */
	if (kty == KVS_KTY_OCT_HSM)
		return ATR_JWK_ENCRYPT | ATR_JWK_DECRYPT | ATR_JWK_WRAP |
		    ATR_JWK_UNWRAP;
	return ATR_JWK_ENCRYPT | ATR_JWK_DECRYPT | ATR_JWK_SIGN |
	    ATR_JWK_VERIFY | ATR_JWK_WRAP | ATR_JWK_UNWRAP;
}

static void
apply_update(struct kvs_version *v, struct attr_update *u, int64_t now)
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
		v->key_ops = u->ops != 0 ? u->ops : default_ops(v->kty);
	if (u->tags != NULL) {
		cJSON_Delete(v->tags);
		v->tags = u->tags;
		u->tags = NULL;
	}
	v->updated = now;
}

static int
kty_allowed(struct kvs_http *h, const char *kty, enum kvs_kty *t)
{
	if (kvs_kty_parse(kty, t) != 0 ||
	    (*t == KVS_KTY_OCT_HSM && !h->s->allow_oct)) {
		/* The service's answer for a kty the vault does not take. */
		kvs_reply_error(h, 400, "BadParameter", "KeyTypeNotSupported",
		    "Invalid kty value: %.40s", kty);
		return 0;
	}
	return 1;
}

static int
size_allowed(struct kvs_http *h, enum kvs_kty t, unsigned bits)
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
static void
persist_failed(struct kvs_http *h, const char *name, enum atr_err err)
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
static void
add_version(struct kvs_http *h, const char *name, struct kvs_version *v,
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
			not_found(h, name, NULL);
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
		persist_failed(h, name, err);
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

static void
generate_failed(struct kvs_http *h, enum atr_err err)
{
	if (err == ATR_ERR_TIMEOUT)
		/* Stopped by atr_kv_server_stop: the connection closes. */
		kvs_reply_error(h, 503, "ServiceUnavailable", NULL, "The "
		    "service is temporarily unavailable. Please retry later.");
	else
		kvs_reply_error(h, 500, "InternalServerError", NULL,
		    "Key generation failed.");
}

static void
h_create(struct kvs_http *h, const struct kvs_route *r)
{
	cJSON *j = parse_body(h, 1);
	const cJSON *it;
	struct attr_update u;
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
	if (!kty_allowed(h, it->valuestring, &t))
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
	if (!size_allowed(h, t, bits))
		goto out;
	it = cJSON_GetObjectItemCaseSensitive(j, "public_exponent");
	if (it != NULL && !cJSON_IsNull(it) && (!cJSON_IsNumber(it) ||
	    it->valuedouble != 65537.0)) {
		kvs_reply_error(h, 400, "BadParameter", NULL,
		    "Only the public exponent 65537 is supported.");
		goto out;
	}
	if (parse_common(h, j, &u) != 0)
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
		generate_failed(h, err);
		goto out;
	}
	v->key_ops = default_ops(t);
	v->created = kvs_now(h->s);
	apply_update(v, &u, v->created);
	add_version(h, r->name, v, 0);
out:
	cJSON_Delete(u.tags);
	cJSON_Delete(j);
}

/* ------------------------------------------------------------------ */
/* Import (PUT /keys/{name}): RSA from n,e,d,p,q,dp,dq,qi or oct k */

/* The RSA JWK parts (RFC 7518 section 6.3), in this order. */
#define JWK_N 0
#define JWK_E 1
#define JWK_D 2
#define JWK_NPARTS 8
static const char *const jwk_names[JWK_NPARTS] = {
	"n", "e", "d", "p", "q", "dp", "dq", "qi",
};

struct rsa_jwk {
	uint8_t *raw[JWK_NPARTS];       /* as decoded; wiped and freed */
	size_t raw_len[JWK_NPARTS];
	const uint8_t *v[JWK_NPARTS];   /* without leading zero octets */
	size_t len[JWK_NPARTS];
};

static void
rsa_jwk_free(struct rsa_jwk *k)
{
	size_t i;

	for (i = 0; i < JWK_NPARTS; i++)
		if (k->raw[i] != NULL)
			atr_secure_free(k->raw[i], k->raw_len[i]);
	memset(k, 0, sizeof(*k));
}

/*
 * Decodes the parts and checks every length against the modulus before
 * any arithmetic: OpenSSL's key check tests p and q for primality, and
 * for a 32k-bit p that alone takes seconds of CPU (minutes for larger
 * ones) in a thread that outlives the client.  The modulus decides the
 * size (2048, 3072 or 4096 bits, as the service); e is at most 32 bits,
 * d at most as long as n, and p, q, dp, dq, qi at most half as long
 * (FIPS 186-5 Appendix A.1 makes p and q nlen/2 bits each).  Leading zero
 * octets are tolerated (RFC 7518 6.3.1.1 notes that some libraries add
 * one).  Returns -1 after replying 400.
 */
static int
rsa_jwk_parse(struct kvs_http *h, enum kvs_kty t, const cJSON *key,
    struct rsa_jwk *k, unsigned *bits)
{
	size_t i, half, bad = JWK_E;
	uint32_t e = 0;
	uint8_t top;

	memset(k, 0, sizeof(*k));
	for (i = 0; i < JWK_NPARTS; i++) {
		const cJSON *it = cJSON_GetObjectItemCaseSensitive(key,
		    jwk_names[i]);

		if (!cJSON_IsString(it) || kvs_unb64url(it->valuestring,
		    &k->raw[i], &k->raw_len[i]) != 0)
			goto invalid;
		k->v[i] = k->raw[i];
		k->len[i] = k->raw_len[i];
		while (k->len[i] > 0 && k->v[i][0] == 0) {
			k->v[i]++;
			k->len[i]--;
		}
		if (k->len[i] == 0)
			goto invalid;
	}
	top = k->v[JWK_N][0];
	*bits = 0;
	while (top != 0) {
		(*bits)++;
		top >>= 1;
	}
	/* At most KVS_BODY_MAX octets: no overflow. */
	*bits += (unsigned)(k->len[JWK_N] - 1) * 8;
	if (!size_allowed(h, t, *bits))
		return -1;
	if (k->len[JWK_E] > 4)
		goto too_long;
	for (i = 0; i < k->len[JWK_E]; i++)
		e = e << 8 | k->v[JWK_E][i];
	/* RFC 8017 3.1: 3 <= e < n, and odd since it is coprime to
	 * (p-1)(q-1). */
	if (e < 3 || (e & 1) == 0)
		goto invalid;
	half = (k->len[JWK_N] + 1) / 2;
	for (i = JWK_D; i < JWK_NPARTS; i++)
		if (k->len[i] > (i == JWK_D ? k->len[JWK_N] : half)) {
			bad = i;
			goto too_long;
		}
	return 0;
too_long:
	kvs_reply_error(h, 400, "BadParameter", NULL, "Property '%s' of the "
	    "key has invalid value: too long for a %u-bit modulus.",
	    jwk_names[bad], *bits);
	return -1;
invalid:
	kvs_reply_error(h, 400, "BadParameter", NULL,
	    "The RSA key (n, e, d, p, q, dp, dq, qi) is not valid.");
	return -1;
}

/*
 * The parts must form one key (RFC 8017 3.2).  n = p q is checked
 * first, a multiplication, so that only a factorisation of an allowed
 * modulus reaches OpenSSL's primality tests (about 0.25 s of CPU for
 * RSA-4096).
 */
static EVP_PKEY *
rsa_from_jwk(const struct rsa_jwk *k)
{
	static const char *const pn[JWK_NPARTS] = {
		OSSL_PKEY_PARAM_RSA_N, OSSL_PKEY_PARAM_RSA_E,
		OSSL_PKEY_PARAM_RSA_D, OSSL_PKEY_PARAM_RSA_FACTOR1,
		OSSL_PKEY_PARAM_RSA_FACTOR2, OSSL_PKEY_PARAM_RSA_EXPONENT1,
		OSSL_PKEY_PARAM_RSA_EXPONENT2, OSSL_PKEY_PARAM_RSA_COEFFICIENT1,
	};
	BIGNUM *bn[JWK_NPARTS] = {0}, *pq = BN_new();
	BN_CTX *bctx = BN_CTX_new();
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *pkey = NULL, *check = NULL;
	size_t i;

	if (bld == NULL || pq == NULL || bctx == NULL)
		goto out;
	for (i = 0; i < JWK_NPARTS; i++) {
		bn[i] = BN_bin2bn(k->v[i], (int)k->len[i], NULL);
		if (bn[i] == NULL || !OSSL_PARAM_BLD_push_BN(bld, pn[i], bn[i]))
			goto out;
	}
	if (!BN_mul(pq, bn[3], bn[4], bctx) || BN_cmp(pq, bn[JWK_N]) != 0)
		goto out;
	params = OSSL_PARAM_BLD_to_param(bld);
	ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	if (params == NULL || ctx == NULL ||
	    EVP_PKEY_fromdata_init(ctx) <= 0 ||
	    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_KEYPAIR, params) <= 0)
		goto out;
	EVP_PKEY_CTX_free(ctx);
	ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
	if (ctx == NULL || EVP_PKEY_pairwise_check(ctx) != 1) {
		check = pkey;
		pkey = NULL;
	}
out:
	ERR_clear_error();
	EVP_PKEY_free(check);
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_CTX_free(bctx);
	BN_free(pq);
	for (i = 0; i < JWK_NPARTS; i++)
		BN_clear_free(bn[i]);
	return pkey;
}

static void
h_import(struct kvs_http *h, const struct kvs_route *r)
{
	cJSON *j = parse_body(h, 1);
	const cJSON *key, *it;
	struct attr_update u;
	struct kvs_version *v = NULL;
	enum kvs_kty t;
	const char *kty;
	int hsm;

	memset(&u, 0, sizeof(u));
	if (j == NULL)
		return;
	key = cJSON_GetObjectItemCaseSensitive(j, "key");
	it = cJSON_GetObjectItemCaseSensitive(key, "kty");
	if (!cJSON_IsObject(key) || !cJSON_IsString(it)) {
		kvs_reply_error(h, 400, "BadParameter", NULL,
		    "Property key has invalid value\r\n");
		goto out;
	}
	kty = it->valuestring;
	hsm = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "Hsm"));
	/* Import names the family ("RSA", "oct"); "Hsm" picks -HSM. */
	if (strcmp(kty, "RSA") == 0 && hsm)
		kty = "RSA-HSM";
	else if (strcmp(kty, "oct") == 0)
		kty = "oct-HSM";
	if (!kty_allowed(h, kty, &t))
		goto out;
	if (parse_common(h, j, &u) != 0)
		goto out;
	v = calloc(1, sizeof(*v));
	if (v == NULL) {
		kvs_reply_oom(h);
		goto out;
	}
	kvs_hex_id(v->id);
	v->kty = t;
	v->enabled = 1;
	if (t == KVS_KTY_OCT_HSM) {
		uint8_t *k = NULL;
		size_t n = 0;

		it = cJSON_GetObjectItemCaseSensitive(key, "k");
		if (!cJSON_IsString(it) || kvs_unb64url(it->valuestring, &k,
		    &n) != 0 || (n != 16 && n != 24 && n != 32)) {
			if (k != NULL)
				atr_secure_free(k, n);
			kvs_reply_error(h, 400, "BadParameter", NULL,
			    "Content of 'k' is not a 128, 192 or 256-bit "
			    "base64url AES key.");
			goto out;
		}
		memcpy(v->oct, k, n);
		v->oct_len = n;
		v->bits = (unsigned)n * 8;
		atr_secure_free(k, n);
	} else {
		BIGNUM *bn = NULL;
		uint8_t buf[1024];
		struct rsa_jwk parts;
		int len;

		if (rsa_jwk_parse(h, t, key, &parts, &v->bits) != 0) {
			rsa_jwk_free(&parts);
			goto out;
		}
		v->pkey = rsa_from_jwk(&parts);
		rsa_jwk_free(&parts);
		if (v->pkey == NULL) {
			kvs_reply_error(h, 400, "BadParameter", NULL,
			    "The RSA key (n, e, d, p, q, dp, dq, qi) is not "
			    "valid.");
			goto out;
		}
		v->bits = (unsigned)EVP_PKEY_get_bits(v->pkey);
		if (!size_allowed(h, t, v->bits))
			goto out;
		if (!ATR_OSSL(EVP_PKEY_get_bn_param(v->pkey,
		    OSSL_PKEY_PARAM_RSA_N, &bn)))
			goto oom;
		len = BN_bn2bin(bn, buf);
		BN_free(bn);
		v->n_b64 = kvs_b64url(buf, (size_t)len);
		bn = NULL;
		if (!ATR_OSSL(EVP_PKEY_get_bn_param(v->pkey,
		    OSSL_PKEY_PARAM_RSA_E, &bn)))
			goto oom;
		len = BN_bn2bin(bn, buf);
		BN_free(bn);
		v->e_b64 = kvs_b64url(buf, (size_t)len);
		if (v->n_b64 == NULL || v->e_b64 == NULL)
			goto oom;
	}
	v->key_ops = default_ops(t);
	it = cJSON_GetObjectItemCaseSensitive(key, "key_ops");
	if (cJSON_IsArray(it) && !u.has_ops) {
		const cJSON *op;
		unsigned ops = 0;

		cJSON_ArrayForEach(op, it)
			if (cJSON_IsString(op))
				ops |= atr_jwk_op_parse(op->valuestring);
		if (ops != 0)
			v->key_ops = ops;
	}
	v->created = kvs_now(h->s);
	apply_update(v, &u, v->created);
	add_version(h, r->name, v, 0);
	v = NULL;
	goto out;
oom:
	kvs_reply_oom(h);
out:
	kvs_version_free(v);
	cJSON_Delete(u.tags);
	if (j != NULL)
		atr_json_wipe(j);
	cJSON_Delete(j);
}

/* ------------------------------------------------------------------ */

static void
h_get(struct kvs_http *h, const struct kvs_route *r)
{
	struct kvs_store *st = &h->s->store;
	struct kvs_config c;
	struct kvs_key *k;
	struct kvs_version *v;

	kvs_config_get(h->s, &c);
	pthread_rwlock_rdlock(&st->lock);
	k = kvs_store_find(st, r->name);
	v = k != NULL && !k->deleted ? kvs_key_version(k, r->version) : NULL;
	if (v == NULL)
		not_found(h, r->name, r->version);
	else if (!v->enabled && c.disabled_get_forbidden)
		/* UNCONFIRMED for keys (secrets do this): a switch. */
		kvs_reply_error(h, 403, "Forbidden", "KeyDisabled",
		    "Operation get is not allowed on a disabled key.");
	else
		reply_locked_bundle(h, k, v, 0);
	pthread_rwlock_unlock(&st->lock);
}

static void
h_update(struct kvs_http *h, const struct kvs_route *r)
{
	struct kvs_store *st = &h->s->store;
	cJSON *j = parse_body(h, 1);
	struct attr_update u;
	struct kvs_key *k;
	struct kvs_version *v, saved;
	cJSON *old_tags;
	enum atr_err err;

	memset(&u, 0, sizeof(u));
	if (j == NULL)
		return;
	if (parse_common(h, j, &u) != 0)
		goto out;
	pthread_rwlock_wrlock(&st->lock);
	k = kvs_store_find(st, r->name);
	v = k != NULL && !k->deleted ? kvs_key_version(k, r->version) : NULL;
	if (v == NULL) {
		not_found(h, r->name, r->version);
		pthread_rwlock_unlock(&st->lock);
		goto out;
	}
	saved = *v;
	old_tags = v->tags;
	if (u.tags != NULL)
		v->tags = NULL; /* apply_update would free the old tags */
	apply_update(v, &u, kvs_now(h->s));
	err = kvs_store_persist(st, k);
	if (err != ATR_OK) {
		cJSON *new_tags = v->tags;

		persist_failed(h, k->name, err);
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

static void
h_rotate(struct kvs_http *h, const struct kvs_route *r)
{
	struct kvs_store *st = &h->s->store;
	struct kvs_key *k;
	struct kvs_version *latest, *v = NULL;
	enum kvs_kty kty = KVS_KTY_RSA;
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
		not_found(h, r->name, NULL);
		return;
	}
	err = kvs_version_generate(kty, bits, &h->s->stopping, &v);
	if (err != ATR_OK) {
		cJSON_Delete(tags);
		generate_failed(h, err);
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
	add_version(h, r->name, v, 1);
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

static void
h_versions(struct kvs_http *h, const struct kvs_route *r)
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
		not_found(h, r->name, NULL);
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

static void
h_list(struct kvs_http *h, int deleted)
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
	sel = calloc(st->n + 1, sizeof(*sel));
	if (sel == NULL) {
		pthread_rwlock_unlock(&st->lock);
		goto oom;
	}
	for (i = 0; i < st->n; i++)
		if (st->keys[i]->deleted == deleted && st->keys[i]->nv > 0)
			sel[m++] = st->keys[i];
	/* Stable order by name, so that skip tokens page predictably. */
	qsort(sel, m, sizeof(*sel), cmp_keys);
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

static void
h_delete(struct kvs_http *h, const struct kvs_route *r)
{
	struct kvs_store *st = &h->s->store;
	struct kvs_key *k;
	enum atr_err err;

	pthread_rwlock_wrlock(&st->lock);
	k = kvs_store_find(st, r->name);
	if (k == NULL || k->deleted || k->nv == 0) {
		not_found(h, r->name, NULL);
	} else {
		k->deleted = 1;
		k->deleted_date = kvs_now(h->s);
		k->purge_date = k->deleted_date +
		    (int64_t)h->s->recoverable_days * 86400;
		err = kvs_store_persist(st, k);
		if (err != ATR_OK) {
			persist_failed(h, k->name, err);
			k->deleted = 0;
		} else {
			reply_locked_bundle(h, k, kvs_key_latest(k), 1);
		}
	}
	pthread_rwlock_unlock(&st->lock);
}

static void
h_get_deleted(struct kvs_http *h, const struct kvs_route *r)
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

static void
h_recover(struct kvs_http *h, const struct kvs_route *r)
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
			persist_failed(h, k->name, err);
			k->deleted = 1;
		} else {
			reply_locked_bundle(h, k, kvs_key_latest(k), 0);
		}
	}
	pthread_rwlock_unlock(&st->lock);
}

static void
h_purge(struct kvs_http *h, const struct kvs_route *r)
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

static void
h_policy(struct kvs_http *h, const struct kvs_route *r, int set)
{
	struct kvs_store *st = &h->s->store;
	cJSON *j = NULL, *attrs;
	struct kvs_key *k;
	const cJSON *old;
	enum atr_err err;

	if (set) {
		j = parse_body(h, 1);
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
		not_found(h, r->name, NULL);
	} else if (!set) {
		policy_reply(h, k);
	} else {
		cJSON *prev = k->rotation_policy;
		double created = (double)kvs_now(h->s);

		old = prev != NULL ? cJSON_GetObjectItemCaseSensitive(
		    cJSON_GetObjectItemCaseSensitive(prev, "attributes"),
		    "created") : NULL;
		if (cJSON_IsNumber(old))
			created = old->valuedouble;
		attrs = cJSON_GetObjectItemCaseSensitive(j, "attributes");
		cJSON_DeleteItemFromObjectCaseSensitive(attrs, "created");
		cJSON_DeleteItemFromObjectCaseSensitive(attrs, "updated");
		cJSON_AddNumberToObject(attrs, "created", created);
		cJSON_AddNumberToObject(attrs, "updated", (double)kvs_now(h->s));
		k->rotation_policy = j;
		err = kvs_store_persist(st, k);
		if (err != ATR_OK) {
			persist_failed(h, k->name, err);
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

/* ------------------------------------------------------------------ */
/* wrapkey / unwrapkey / encrypt / decrypt */

/* base64url field; 0 absent, 1 present, -1 replied 400. */
static int
b64_field(struct kvs_http *h, const cJSON *j, const char *name, uint8_t **out,
    size_t *len)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(j, name);

	*out = NULL;
	*len = 0;
	if (it == NULL || cJSON_IsNull(it))
		return 0;
	if (!cJSON_IsString(it) || kvs_unb64url(it->valuestring, out,
	    len) != 0) {
		/* The live service's text (bad base64url in 'value'). */
		kvs_reply_error(h, 400, "BadParameter", NULL, "Content of '%s' "
		    "is not base64url.\r\nProperty '%s' is required.\r\n",
		    name, name);
		return -1;
	}
	return 1;
}

static void
h_crypt(struct kvs_http *h, const struct kvs_route *r)
{
	struct kvs_store *st = &h->s->store;
	cJSON *j = parse_body(h, 1), *res = NULL;
	const cJSON *it;
	struct kvs_crypt_io io;
	struct kvs_config c;
	struct kvs_key *k;
	struct kvs_version *v;
	uint8_t *val = NULL, *iv = NULL, *aad = NULL, *tag = NULL, *out = NULL;
	size_t val_len = 0, iv_len = 0, aad_len = 0, tag_len = 0, out_cap = 0;
	enum kvs_alg alg;
	enum atr_err err;
	unsigned need, block;
	const char *opname;
	int fwd, locked = 0;
	int64_t now;
	char kid[KVS_BASE_MAX + 200];

	memset(&io, 0, sizeof(io));
	switch (r->op) {
	case KVS_OP_WRAP:
		need = ATR_JWK_WRAP, block = ATR_JWK_WRAP, fwd = 1;
		break;
	case KVS_OP_UNWRAP:
		need = ATR_JWK_UNWRAP, block = ATR_JWK_UNWRAP, fwd = 0;
		break;
	case KVS_OP_ENCRYPT:
		need = ATR_JWK_ENCRYPT, block = ATR_JWK_ENCRYPT, fwd = 1;
		break;
	default:
		need = ATR_JWK_DECRYPT, block = ATR_JWK_DECRYPT, fwd = 0;
		break;
	}
	opname = atr_jwk_op_name(need);
	if (j == NULL)
		return;
	/* Request model first (KeyOperationsParameters), as the service
	 * binds the body before it looks at the key. */
	it = cJSON_GetObjectItemCaseSensitive(j, "alg");
	if (!cJSON_IsString(it) || it->valuestring[0] == '\0') {
		/* Verbatim from the service, double space included. */
		kvs_reply_error(h, 400, "BadParameter", NULL,
		    "Property  has invalid value\r\n");
		goto out;
	}
	alg = kvs_alg_parse(it->valuestring);
	if (alg == KVS_ALG_NONE) {
		kvs_reply_error(h, 400, "BadParameter", NULL,
		    "Property alg has invalid value\r\n");
		goto out;
	}
	if (alg == KVS_ALG_UNSUPPORTED) {
		kvs_reply_error(h, 400, "BadParameter", NULL, "Algorithm %s is "
		    "not supported by this server.", it->valuestring);
		goto out;
	}
	switch (b64_field(h, j, "value", &val, &val_len)) {
	case -1:
		goto out;
	case 0:
		kvs_reply_error(h, 400, "BadParameter", NULL,
		    "Property 'value' is required.\r\n");
		goto out;
	}
	if (b64_field(h, j, "iv", &iv, &iv_len) < 0 ||
	    b64_field(h, j, "aad", &aad, &aad_len) < 0 ||
	    b64_field(h, j, "tag", &tag, &tag_len) < 0)
		goto out;
	if (val_len > 65536) {
		kvs_reply_error(h, 400, "BadParameter", NULL,
		    "Property 'value' is too long.");
		goto out;
	}
	out_cap = val_len + 512;
	out = malloc(out_cap);
	if (out == NULL) {
		kvs_reply_oom(h);
		goto out;
	}
	kvs_config_get(h->s, &c);
	pthread_rwlock_rdlock(&st->lock);
	locked = 1;
	k = kvs_store_find(st, r->name);
	v = k != NULL && !k->deleted ? kvs_key_version(k, r->version) : NULL;
	if (v == NULL) {
		not_found(h, r->name, r->version);
		goto out;
	}
	if (!v->enabled && (c.disabled_blocks & block)) {
		kvs_reply_error(h, 403, "Forbidden", "KeyDisabled",
		    "Operation %s is not allowed on a disabled key.", opname);
		goto out;
	}
	if (!(v->key_ops & need)) {
		kvs_reply_error(h, 403, "Forbidden", "KeyOperationForbidden",
		    "Operation %s is not permitted on this key.", opname);
		goto out;
	}
	/* key-attributes: outside nbf/exp only decrypt, unwrap, verify
	 * and release work. */
	now = kvs_now(h->s);
	if (fwd && v->has_nbf && now < v->nbf) {
		kvs_reply_error(h, 403, "Forbidden", "KeyNotYetValid",
		    "Operation %s is not allowed on a key that is not yet "
		    "valid.", opname);
		goto out;
	}
	if (fwd && v->has_exp && now > v->exp) {
		kvs_reply_error(h, 403, "Forbidden", "KeyExpired",
		    "Operation %s is not allowed on an expired key.", opname);
		goto out;
	}
	io.in = val;
	io.in_len = val_len;
	io.iv = iv;
	io.iv_len = iv_len;
	io.aad = aad;
	io.aad_len = aad_len;
	io.tag = tag;
	io.tag_len = tag_len;
	io.out = out;
	atr_detail_clear();
	err = kvs_crypt(v, alg, fwd, &io);
	if (err == ATR_ERR_AUTH) {
		const char *why = alg == KVS_ALG_RSA_OAEP ||
		    alg == KVS_ALG_RSA_OAEP_256 ?
		    "Error occurred while decoding OAEP padding." :
		    alg == KVS_ALG_RSA1_5 ?
		    "Error occurred while decoding PKCS1 padding." :
		    "The ciphertext failed the integrity check.";

		kvs_reply_error(h, 400, "BadParameter", NULL, "%s", why);
		goto out;
	}
	if (err != ATR_OK) {
		if (err == ATR_ERR_USAGE)
			kvs_reply_error(h, 400, "BadParameter", NULL, "%s",
			    atr_detail());
		else
			kvs_reply_error(h, 500, "InternalServerError", NULL,
			    "The operation failed.");
		goto out;
	}
	kid_of(h, k, v, kid, sizeof(kid));
	res = cJSON_CreateObject();
	if (res == NULL) {
		kvs_reply_oom(h);
		goto out;
	}
	/* KeyOperationResult: the versioned kid, always. */
	cJSON_AddStringToObject(res, "kid", kid);
	{
		char *b = kvs_b64url(io.out, io.out_len);

		if (b == NULL) {
			kvs_reply_oom(h);
			goto out;
		}
		cJSON_AddStringToObject(res, "value", b);
		atr_secure_free(b, strlen(b));
	}
	if (io.has_iv_out) {
		char *b = kvs_b64url(io.iv_out, sizeof(io.iv_out));
		char *t = kvs_b64url(io.tag_out, sizeof(io.tag_out));

		if (b != NULL)
			cJSON_AddStringToObject(res, "iv", b);
		if (t != NULL)
			cJSON_AddStringToObject(res, "tag", t);
		free(b);
		free(t);
		if (aad != NULL)
			cJSON_AddItemToObject(res, "aad", cJSON_Duplicate(
			    cJSON_GetObjectItemCaseSensitive(j, "aad"), 1));
	}
	pthread_rwlock_unlock(&st->lock);
	locked = 0;
	kvs_reply(h, 200, res);
	res = NULL;
out:
	if (locked)
		pthread_rwlock_unlock(&st->lock);
	if (res != NULL) {
		atr_json_wipe(res);
		cJSON_Delete(res);
	}
	if (out != NULL)
		atr_secure_free(out, out_cap);
	atr_secure_free(val, val_len);
	atr_secure_free(iv, iv_len);
	atr_secure_free(aad, aad_len);
	atr_secure_free(tag, tag_len);
	if (j != NULL)
		atr_json_wipe(j);
	cJSON_Delete(j);
}

void
kvs_keys_dispatch(struct kvs_http *h, const struct kvs_route *r)
{
	/* Every route that names a key, checked here once for all: an
	 * empty name ("/keys//create") would be stored under a name the
	 * loader skips, and lost at the next start. */
	if (r->has_name && (r->name_too_long || !kvs_name_valid(r->name))) {
		kvs_reply_error(h, 400, "BadParameter", NULL, "The request URI "
		    "contains an invalid name: %.127s", r->name);
		return;
	}
	switch (r->op) {
	case KVS_OP_CREATE:
		h_create(h, r);
		break;
	case KVS_OP_IMPORT:
		h_import(h, r);
		break;
	case KVS_OP_GET:
		h_get(h, r);
		break;
	case KVS_OP_UPDATE:
		h_update(h, r);
		break;
	case KVS_OP_ROTATE:
		h_rotate(h, r);
		break;
	case KVS_OP_VERSIONS:
		h_versions(h, r);
		break;
	case KVS_OP_LIST:
		h_list(h, 0);
		break;
	case KVS_OP_LIST_DELETED:
		h_list(h, 1);
		break;
	case KVS_OP_DELETE:
		h_delete(h, r);
		break;
	case KVS_OP_GET_DELETED:
		h_get_deleted(h, r);
		break;
	case KVS_OP_RECOVER:
		h_recover(h, r);
		break;
	case KVS_OP_PURGE:
		h_purge(h, r);
		break;
	case KVS_OP_GET_POLICY:
		h_policy(h, r, 0);
		break;
	case KVS_OP_SET_POLICY:
		h_policy(h, r, 1);
		break;
	case KVS_OP_WRAP:
	case KVS_OP_UNWRAP:
	case KVS_OP_ENCRYPT:
	case KVS_OP_DECRYPT:
		h_crypt(h, r);
		break;
	default:
		kvs_reply_error(h, 404, "NotFound", NULL,
		    "The requested resource was not found.");
		break;
	}
}
