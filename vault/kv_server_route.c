/*
 * kv_server_route.c - which operation a vault API request names: the
 * Key Vault keys paths and methods (Key Vault REST API reference,
 * https://learn.microsoft.com/en-us/rest/api/keyvault/keys/), what it
 * costs against the per-vault service limits, and the hand-off to its
 * handler.
 */
#include "kv_server_int.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "json.h"

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
	if (strlen(s) > ATR_KV_NAME_MAX)
		r->name_too_long = 1;
	snprintf(r->name, sizeof(r->name), "%.*s", (int)ATR_KV_NAME_MAX, s);
}

static void
set_version(struct kvs_route *r, const char *s)
{
	if (strlen(s) >= sizeof(r->version))
		r->bad_version = 1;
	snprintf(r->version, sizeof(r->version), "%s", s);
}

/*
 * The routes are a decision tree, not a table: a wrong method (405)
 * leaves r->op as the tree has set it so far (the op of "create",
 * "rotate", "versions", "recover" and the crypto operations; "other"
 * elsewhere), and fault filters (ops=) match on that op.
 */

static int
is(const char *method, const char *m)
{
	return strcmp(method, m) == 0;
}

/* r->op = op, and 405 unless the method fits. */
static void
route_to(struct kvs_route *r, enum kvs_op op, int method_fits)
{
	r->op = op;
	r->status = method_fits ? 0 : 405;
}

/*
 * Splits path, less its leading '/', into buf and up to max segments;
 * a trailing slash names the latest version ("GET /keys/n/" is what the
 * SDKs send for a versionless get) and adds no segment.  Returns the
 * count, or 0 for a path no route can match.
 */
static size_t
split_path(const char *path, char *buf, size_t cap, char **seg, size_t max)
{
	size_t n = 0;
	char *p;

	if (*path != '/' || strlen(path) >= cap)
		return 0;
	snprintf(buf, cap, "%s", path + 1);
	for (p = buf; n < max;) {
		char *slash = strchr(p, '/');

		seg[n++] = p;
		if (slash == NULL)
			break;
		*slash = '\0';
		p = slash + 1;
	}
	if (strchr(p, '/') != NULL)
		return 0;
	if (n > 1 && *seg[n - 1] == '\0')
		n--;
	return n;
}

/* /keys/{name}: get, update, delete, import. */
static void
route_key(const char *method, struct kvs_route *r)
{
	if (is(method, "GET"))
		r->op = KVS_OP_GET;
	else if (is(method, "PATCH"))
		r->op = KVS_OP_UPDATE;
	else if (is(method, "DELETE"))
		r->op = KVS_OP_DELETE;
	else if (is(method, "PUT"))
		r->op = KVS_OP_IMPORT;
	else
		r->status = 405;
}

/* /keys/{name}/{child}: an operation on the key, or a version. */
static void
route_key_child(const char *method, const char *child, struct kvs_route *r)
{
	enum kvs_op op;

	if (strcasecmp(child, "create") == 0) {
		route_to(r, KVS_OP_CREATE, is(method, "POST"));
	} else if (strcasecmp(child, "rotate") == 0) {
		route_to(r, KVS_OP_ROTATE, is(method, "POST"));
	} else if (strcasecmp(child, "versions") == 0) {
		route_to(r, KVS_OP_VERSIONS, is(method, "GET"));
	} else if (strcasecmp(child, "rotationpolicy") == 0) {
		if (is(method, "GET"))
			r->op = KVS_OP_GET_POLICY;
		else if (is(method, "PUT"))
			r->op = KVS_OP_SET_POLICY;
		else
			r->status = 405;
	} else if (crypto_op(child, &op)) {
		/* Versionless crypto: the latest version. */
		route_to(r, op, is(method, "POST"));
	} else if (other_op(child)) {
		r->status = 501;
	} else {
		set_version(r, child);
		if (is(method, "GET"))
			r->op = KVS_OP_GET;
		else if (is(method, "PATCH"))
			r->op = KVS_OP_UPDATE;
		else
			r->status = 405;
	}
}

/* /keys/{name}/{version}/{op}; the version may be empty
 * ("/keys/n//wrapkey"). */
static void
route_version_child(const char *method, const char *version,
    const char *child, struct kvs_route *r)
{
	enum kvs_op op;

	set_version(r, version);
	if (crypto_op(child, &op))
		route_to(r, op, is(method, "POST"));
	else
		r->status = other_op(child) ? 501 : 404;
}

static void
route_keys(const char *method, char **seg, size_t n, struct kvs_route *r)
{
	if (n == 1) {
		if (is(method, "GET"))
			r->op = KVS_OP_LIST;
		else
			r->status = 405;
		return;
	}
	set_name(r, seg[1]);
	if (n == 2)
		route_key(method, r);
	else if (n == 3)
		route_key_child(method, seg[2], r);
	else if (n == 4)
		route_version_child(method, seg[2], seg[3], r);
	else
		r->status = 404;
}

static void
route_deleted(const char *method, char **seg, size_t n, struct kvs_route *r)
{
	if (n == 1) {
		if (is(method, "GET"))
			r->op = KVS_OP_LIST_DELETED;
		else
			r->status = 405;
		return;
	}
	set_name(r, seg[1]);
	if (n == 2) {
		if (is(method, "GET"))
			r->op = KVS_OP_GET_DELETED;
		else if (is(method, "DELETE"))
			r->op = KVS_OP_PURGE;
		else
			r->status = 405;
	} else if (n == 3 && strcasecmp(seg[2], "recover") == 0) {
		route_to(r, KVS_OP_RECOVER, is(method, "POST"));
	} else {
		r->status = 404;
	}
}

void
kvs_route_parse(const char *method, const char *path, struct kvs_route *r)
{
	char buf[1024], *seg[8];
	size_t n;

	memset(r, 0, sizeof(*r));
	r->status = 404;
	n = split_path(path, buf, sizeof(buf), seg,
	    sizeof(seg) / sizeof(seg[0]));
	if (n == 0)
		return;
	r->status = 0;
	if (strcasecmp(seg[0], "keys") == 0)
		route_keys(method, seg, n, r);
	else if (strcasecmp(seg[0], "deletedkeys") == 0)
		route_deleted(method, seg, n, r);
	else
		r->status = 404;
}

/* ------------------------------------------------------------------ */
/* Service limits: weights from the per-10-s table of "Azure Key Vault
 * service limits",
 * https://learn.microsoft.com/en-us/azure/key-vault/general/service-limits */

static unsigned
other_cost(enum kvs_kty kty, unsigned bits)
{
	/* "All other transactions" per 10 s: software RSA 2048/3072/4096 =
	 * 4000/1000/500, HSM = 2000/500/250; thresholds are weighted and
	 * enforced on their sum (the page above), so each op costs
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
	v = kvs_store_find_version(&h->s->store, r->name, r->version, &k);
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
		atr_json_free_wiped(j);
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
/* Name and version */

int
kvs_route_check(struct kvs_http *h, const struct kvs_route *r)
{
	/* Every route that names a key, "" included: an empty name
	 * ("/keys//create") would be stored under a name the loader skips,
	 * and lost at the next start. */
	if (r->has_name && (r->name_too_long || !atr_kv_name_valid(r->name))) {
		kvs_reply_error(h, 400, "BadParameter", NULL, "The request URI "
		    "contains an invalid name: %.127s", r->name);
		return 0;
	}
	if (r->bad_version) {
		kvs_reply_error(h, 404, "KeyNotFound", NULL, "A key with "
		    "(name/id) %s/%.40s was not found in this key vault.",
		    r->name, r->version);
		return 0;
	}
	return 1;
}

/* ------------------------------------------------------------------ */
/* Dispatch */

void
kvs_route_dispatch(struct kvs_http *h, const struct kvs_route *r)
{
	switch (r->op) {
	case KVS_OP_CREATE:
		kvs_handle_create(h, r);
		break;
	case KVS_OP_IMPORT:
		kvs_handle_import(h, r);
		break;
	case KVS_OP_GET:
		kvs_handle_get(h, r);
		break;
	case KVS_OP_UPDATE:
		kvs_handle_update(h, r);
		break;
	case KVS_OP_ROTATE:
		kvs_handle_rotate(h, r);
		break;
	case KVS_OP_VERSIONS:
		kvs_handle_versions(h, r);
		break;
	case KVS_OP_LIST:
		kvs_handle_list(h, 0);
		break;
	case KVS_OP_LIST_DELETED:
		kvs_handle_list(h, 1);
		break;
	case KVS_OP_DELETE:
		kvs_handle_delete(h, r);
		break;
	case KVS_OP_GET_DELETED:
		kvs_handle_get_deleted(h, r);
		break;
	case KVS_OP_RECOVER:
		kvs_handle_recover(h, r);
		break;
	case KVS_OP_PURGE:
		kvs_handle_purge(h, r);
		break;
	case KVS_OP_GET_POLICY:
		kvs_handle_policy(h, r, 0);
		break;
	case KVS_OP_SET_POLICY:
		kvs_handle_policy(h, r, 1);
		break;
	case KVS_OP_WRAP:
	case KVS_OP_UNWRAP:
	case KVS_OP_ENCRYPT:
	case KVS_OP_DECRYPT:
		kvs_handle_crypt(h, r);
		break;
	default:
		kvs_reply_error(h, 404, "NotFound", NULL,
		    "The requested resource was not found.");
		break;
	}
}
