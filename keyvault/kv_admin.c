/*
 * kv_admin.c - key administration: get, create, update, rotate, list
 * versions, delete, get deleted, recover and purge, each the Key Vault
 * REST call of the same name (Keys in the Azure Key Vault REST API
 * reference, https://learn.microsoft.com/en-us/rest/api/keyvault/keys/).
 * Every reply that names a key is checked to name the key asked for on
 * this vault before anyone records it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "kv_internal.h"

#define LIST_PAGES_MAX 1000U

/*
 * Parses a KeyBundle answering for key name (and version, when not
 * NULL or ""): whatever a kid names is what callers record and where
 * they think the key lives, so another vault's or key's is refused.
 */
static enum atr_err
key_reply(const struct atr_kv_client *c, struct kv_resp *rs,
    const char *what, const char *name, const char *version,
    struct atr_kv_key *out)
{
	if (atr_kv_key_from_json(rs->body.p, rs->body.len, out) != ATR_OK)
		return atr_fail(ATR_ERR_BAD_RESPONSE, "%s: unusable reply: %s",
		    what, atr_detail());
	if (!atr_kv_kid_matches(&c->vault, out->kid, name, version, NULL))
		return kv_wrong_kid(c, what, out->kid, out);
	return ATR_OK;
}

enum atr_err
atr_kv_get_key(struct atr_kv_client *c, const char *name, const char *version,
    struct atr_kv_key *out)
{
	struct kv_resp rs;
	char url[KV_URL_MAX], what[512];
	enum atr_err err;

	memset(out, 0, sizeof(*out));
	if ((err = kv_check_name(name, version)) != ATR_OK)
		return err;
	if (version == NULL)
		version = "";
	kv_key_what(c, "get", name, version, what, sizeof(what));
	snprintf(url, sizeof(url), "%s/keys/%s%s%s?api-version=%s",
	    c->vault.origin, name, *version ? "/" : "", version,
	    c->api_version);
	kv_resp_init(&rs);
	err = kv_vault_call(c, ATR_KV_CALL_GET, "GET", url, NULL, 0, what, &rs);
	if (err == ATR_OK)
		err = key_reply(c, &rs, what, name, version, out);
	kv_resp_free(&rs);
	return err;
}

/* Sends a JSON document built by the caller and parses a KeyBundle. */
static enum atr_err
json_call(struct atr_kv_client *c, const char *method, const char *url,
    cJSON *doc, const char *what, const char *name, const char *version,
    struct atr_kv_key *out)
{
	struct kv_resp rs;
	enum atr_err err;
	char *body = NULL;

	if (doc != NULL) {
		body = cJSON_PrintUnformatted(doc);
		if (body == NULL)
			return atr_fail(ATR_ERR_NOMEM, "out of memory");
	}
	kv_resp_init(&rs);
	err = kv_vault_call(c, ATR_KV_CALL_MANAGE, method, url, body,
	    body != NULL ? strlen(body) : 0, what, &rs);
	if (err == ATR_OK && out != NULL)
		err = key_reply(c, &rs, what, name, version, out);
	kv_resp_free(&rs);
	free(body);
	return err;
}

static enum atr_err
add_attributes(cJSON *doc, int set_enabled, int enabled, int set_nbf,
    int64_t nbf, int set_exp, int64_t exp)
{
	cJSON *attr = cJSON_AddObjectToObject(doc, "attributes");

	if (attr == NULL)
		return ATR_ERR_NOMEM;
	if (set_enabled && cJSON_AddBoolToObject(attr, "enabled", enabled) ==
	    NULL)
		return ATR_ERR_NOMEM;
	if (set_nbf && cJSON_AddNumberToObject(attr, "nbf", (double)nbf) ==
	    NULL)
		return ATR_ERR_NOMEM;
	if (set_exp && cJSON_AddNumberToObject(attr, "exp", (double)exp) ==
	    NULL)
		return ATR_ERR_NOMEM;
	return ATR_OK;
}

enum atr_err
atr_kv_create_key(struct atr_kv_client *c, const char *name,
    const struct atr_kv_create *p, struct atr_kv_key *out)
{
	static const struct atr_kv_create none;
	char url[KV_URL_MAX], what[512];
	cJSON *doc = NULL, *ops;
	const char *kty;
	enum atr_err err;

	memset(out, 0, sizeof(*out));
	if ((err = kv_check_name(name, NULL)) != ATR_OK)
		return err;
	if (p == NULL)
		p = &none;
	kty = p->kty;
	kv_key_what(c, "create", name, NULL, what, sizeof(what));
	snprintf(url, sizeof(url), "%s/keys/%s/create?api-version=%s",
	    c->vault.origin, name, c->api_version);
	/* A Managed HSM holds HSM-protected keys only ("About keys",
	 * https://learn.microsoft.com/en-us/azure/key-vault/keys/about-keys ). */
	if (kty == NULL)
		kty = atr_kv_host_is_mhsm(c->vault.host) ? "RSA-HSM" : "RSA";
	doc = cJSON_CreateObject();
	if (doc == NULL ||
	    cJSON_AddStringToObject(doc, "kty", kty) == NULL ||
	    (p->size > 0 && cJSON_AddNumberToObject(doc, "key_size",
	    p->size) == NULL))
		goto nomem;
	if (p->key_ops != 0) {
		ops = atr_kv_ops_json(p->key_ops);
		if (ops == NULL)
			goto nomem;
		cJSON_AddItemToObject(doc, "key_ops", ops);
	}
	/* The attributes object is sent even empty: Key Vault's key
	 * attributes documentation asks for it in create and import. */
	if (add_attributes(doc, p->disabled, 0, p->nbf != 0, p->nbf,
	    p->exp != 0, p->exp) != ATR_OK)
		goto nomem;
	err = json_call(c, "POST", url, doc, what, name, NULL, out);
	cJSON_Delete(doc);
	return err;
nomem:
	cJSON_Delete(doc);
	return atr_fail(ATR_ERR_NOMEM, "out of memory");
}

enum atr_err
atr_kv_update_key(struct atr_kv_client *c, const char *name,
    const char *version, const struct atr_kv_update *u,
    struct atr_kv_key *out)
{
	char url[KV_URL_MAX], what[512];
	cJSON *doc, *ops;
	enum atr_err err;

	memset(out, 0, sizeof(*out));
	if ((err = kv_check_name(name, version)) != ATR_OK)
		return err;
	if (version == NULL)
		version = "";
	kv_key_what(c, "update", name, version, what, sizeof(what));
	/* PATCH /keys/{name}/{version}; an empty version means the latest
	 * (the SDKs then send a trailing slash: "/keys/{name}/"). */
	snprintf(url, sizeof(url), "%s/keys/%s/%s?api-version=%s",
	    c->vault.origin, name, version, c->api_version);
	doc = cJSON_CreateObject();
	if (doc == NULL)
		goto nomem;
	if (u->set_key_ops) {
		ops = atr_kv_ops_json(u->key_ops);
		if (ops == NULL)
			goto nomem;
		cJSON_AddItemToObject(doc, "key_ops", ops);
	}
	if ((u->set_enabled || u->set_nbf || u->set_exp) &&
	    add_attributes(doc, u->set_enabled, u->enabled, u->set_nbf, u->nbf,
	    u->set_exp, u->exp) != ATR_OK)
		goto nomem;
	err = json_call(c, "PATCH", url, doc, what, name, version,
	    out);
	cJSON_Delete(doc);
	return err;
nomem:
	cJSON_Delete(doc);
	return atr_fail(ATR_ERR_NOMEM, "out of memory");
}

enum atr_err
atr_kv_rotate_key(struct atr_kv_client *c, const char *name,
    struct atr_kv_key *out)
{
	char url[KV_URL_MAX], what[512];
	enum atr_err err;

	memset(out, 0, sizeof(*out));
	if ((err = kv_check_name(name, NULL)) != ATR_OK)
		return err;
	kv_key_what(c, "rotate", name, NULL, what, sizeof(what));
	snprintf(url, sizeof(url), "%s/keys/%s/rotate?api-version=%s",
	    c->vault.origin, name, c->api_version);
	/* No body, as the SDKs send it (Rotate Key takes no parameters). */
	return json_call(c, "POST", url, NULL, what, name, NULL, out);
}

enum atr_err
atr_kv_delete_key(struct atr_kv_client *c, const char *name,
    struct atr_kv_key *out)
{
	char url[KV_URL_MAX], what[512];
	enum atr_err err;

	memset(out, 0, sizeof(*out));
	if ((err = kv_check_name(name, NULL)) != ATR_OK)
		return err;
	kv_key_what(c, "delete", name, NULL, what, sizeof(what));
	snprintf(url, sizeof(url), "%s/keys/%s?api-version=%s",
	    c->vault.origin, name, c->api_version);
	return json_call(c, "DELETE", url, NULL, what, name, NULL, out);
}

enum atr_err
atr_kv_get_deleted_key(struct atr_kv_client *c, const char *name,
    struct atr_kv_key *out)
{
	char url[KV_URL_MAX], what[512];
	enum atr_err err;

	memset(out, 0, sizeof(*out));
	if ((err = kv_check_name(name, NULL)) != ATR_OK)
		return err;
	snprintf(what, sizeof(what), "get deleted %s/deletedkeys/%s",
	    c->vault.origin, name);
	snprintf(url, sizeof(url), "%s/deletedkeys/%s?api-version=%s",
	    c->vault.origin, name, c->api_version);
	return json_call(c, "GET", url, NULL, what, name, NULL, out);
}

enum atr_err
atr_kv_recover_key(struct atr_kv_client *c, const char *name,
    struct atr_kv_key *out)
{
	char url[KV_URL_MAX], what[512];
	enum atr_err err;

	memset(out, 0, sizeof(*out));
	if ((err = kv_check_name(name, NULL)) != ATR_OK)
		return err;
	snprintf(what, sizeof(what), "recover %s/deletedkeys/%s",
	    c->vault.origin, name);
	snprintf(url, sizeof(url), "%s/deletedkeys/%s/recover?api-version=%s",
	    c->vault.origin, name, c->api_version);
	return json_call(c, "POST", url, NULL, what, name, NULL, out);
}

enum atr_err
atr_kv_purge_key(struct atr_kv_client *c, const char *name)
{
	char url[KV_URL_MAX], what[512];
	enum atr_err err;

	if ((err = kv_check_name(name, NULL)) != ATR_OK)
		return err;
	snprintf(what, sizeof(what), "purge %s/deletedkeys/%s",
	    c->vault.origin, name);
	snprintf(url, sizeof(url), "%s/deletedkeys/%s?api-version=%s",
	    c->vault.origin, name, c->api_version);
	return json_call(c, "DELETE", url, NULL, what, name, NULL,
	    NULL);
}

/* nextLink must stay on this vault: the token goes wherever it points. */
static enum atr_err
check_next_link(const struct atr_kv_client *c, const char *link,
    const char *what)
{
	struct atr_kv_kid id;
	const char *path;
	char origin[ATR_KV_ORIGIN_MAX + 2];
	size_t n;

	if (strncasecmp(link, "https://", 8) != 0)
		goto bad;
	path = strchr(link + 8, '/');
	n = path != NULL ? (size_t)(path - link) : strlen(link);
	if (n >= sizeof(origin) || strlen(link) >= KV_URL_MAX)
		goto bad;
	memcpy(origin, link, n);
	origin[n] = '\0';
	if (atr_kv_parse_vault_url(origin, &id) != ATR_OK ||
	    !atr_kv_same_vault(&id, &c->vault) ||
	    strpbrk(link, " \r\n\t") != NULL)
		goto bad;
	return ATR_OK;
bad:
	atr_detail_clear();
	return atr_fail(ATR_ERR_BAD_RESPONSE,
	    "%s: nextLink does not point into vault %s", what,
	    c->vault.hostport);
}

/* The versions listed so far (malloc'd; the caller's once complete). */
struct key_list {
	struct atr_kv_key *arr;
	size_t n, cap;
};

/* Appends one KeyItem of a page to l, refused unless its kid is a
 * version of key name on this vault. */
static enum atr_err
list_item(const struct atr_kv_client *c, const char *name, const char *what,
    const cJSON *it, struct key_list *l)
{
	struct atr_kv_key *na;
	enum atr_err err;
	char *one;

	if (l->n == l->cap) {
		l->cap = l->cap == 0 ? 8 : l->cap * 2;
		na = realloc(l->arr, l->cap * sizeof(*l->arr));
		if (na == NULL)
			return atr_fail(ATR_ERR_NOMEM, "out of memory");
		l->arr = na;
	}
	one = cJSON_PrintUnformatted(it);
	if (one == NULL)
		return atr_fail(ATR_ERR_NOMEM, "out of memory");
	err = atr_kv_key_from_json(one, strlen(one), &l->arr[l->n]);
	free(one);
	if (err != ATR_OK)
		return atr_fail(ATR_ERR_BAD_RESPONSE, "%s: bad item: %s", what,
		    atr_detail());
	if (!atr_kv_kid_matches(&c->vault, l->arr[l->n].kid, name, NULL,
	    NULL))
		return kv_wrong_kid(c, what, l->arr[l->n].kid, NULL);
	l->n++;
	return ATR_OK;
}

enum atr_err
atr_kv_list_versions(struct atr_kv_client *c, const char *name,
    struct atr_kv_key **items, size_t *count)
{
	struct key_list l = {NULL, 0, 0};
	struct kv_resp rs;
	char url[KV_URL_MAX], what[512];
	cJSON *doc = NULL;
	const cJSON *val, *it, *next;
	unsigned pages;
	enum atr_err err;

	*items = NULL;
	*count = 0;
	if ((err = kv_check_name(name, NULL)) != ATR_OK)
		return err;
	kv_key_what(c, "list versions of", name, NULL, what, sizeof(what));
	snprintf(url, sizeof(url),
	    "%s/keys/%s/versions?api-version=%s&maxresults=25",
	    c->vault.origin, name, c->api_version);
	kv_resp_init(&rs);
	for (pages = 0; pages < LIST_PAGES_MAX; pages++) {
		err = kv_vault_call(c, ATR_KV_CALL_MANAGE, "GET", url, NULL, 0,
		    what, &rs);
		if (err != ATR_OK)
			goto out;
		doc = cJSON_ParseWithLength(rs.body.p, rs.body.len);
		val = doc != NULL ? cJSON_GetObjectItemCaseSensitive(doc,
		    "value") : NULL;
		if (!cJSON_IsArray(val)) {
			err = atr_fail(ATR_ERR_BAD_RESPONSE,
			    "%s: the reply has no \"value\" list", what);
			goto out;
		}
		cJSON_ArrayForEach(it, val) {
			if ((err = list_item(c, name, what, it, &l)) != ATR_OK)
				goto out;
		}
		next = cJSON_GetObjectItemCaseSensitive(doc, "nextLink");
		if (!cJSON_IsString(next) || next->valuestring[0] == '\0')
			break;
		err = check_next_link(c, next->valuestring, what);
		if (err != ATR_OK)
			goto out;
		snprintf(url, sizeof(url), "%s", next->valuestring);
		cJSON_Delete(doc);
		doc = NULL;
	}
	*items = l.arr;
	*count = l.n;
	l.arr = NULL;
	err = ATR_OK;
out:
	cJSON_Delete(doc);
	free(l.arr);
	kv_resp_free(&rs);
	return err;
}
