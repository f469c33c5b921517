/*
 * vault.c - the little the verifier needs from the Key Vault client:
 * a key's attributes (enabled, nbf/exp, key_ops, recoveryLevel, kty,
 * size), enabling and disabling a version (the revocation drill) and the
 * creation time of versions (--min-version).
 *
 * The client is keyvault/ (kv_admin.c) and keys/provider_azure.c, layers
 * below verify/ that every program linking verify/ links too.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "kv_client.h"
#include "vfy_int.h"
#include "provider_azure.h"
#include "jwk.h"

int
vfy_vault_is_vault_key(const struct atr_key *k)
{
	return k != NULL && k->provider == ATR_PROV_AZURE_KV;
}

int
vfy_kid_split(const char *kid, char *origin, size_t ocap, char *name,
    size_t ncap, char *version, size_t vcap)
{
	const char *p, *keys, *n, *slash;
	size_t ol, nl;

	/* https://HOST[:PORT]/keys/NAME/VERSION (docs/FORMAT.md
	 * section 2) */
	if (strncasecmp(kid, "https://", 8) != 0)
		return -1;
	p = kid + 8;
	keys = strstr(p, "/keys/");
	if (keys == NULL)
		return -1;
	ol = (size_t)(keys - kid);
	n = keys + 6;
	slash = strchr(n, '/');
	nl = slash ? (size_t)(slash - n) : strlen(n);
	if (nl == 0 || ol >= ocap || nl >= ncap)
		return -1;
	memcpy(origin, kid, ol);
	origin[ol] = '\0';
	memcpy(name, n, nl);
	name[nl] = '\0';
	if (slash == NULL || slash[1] == '\0')
		version[0] = '\0';
	else
		snprintf(version, vcap, "%.*s", (int)strcspn(slash + 1, "/"),
		    slash + 1);
	return 0;
}

/* The vault's view of a key bundle into *out. */
static void
attrs_from(const struct atr_kv_key *kk, struct vfy_vault_attrs *out)
{
	snprintf(out->kid, sizeof(out->kid), "%s", kk->kid);
	snprintf(out->version, sizeof(out->version), "%s", kk->version);
	snprintf(out->kty, sizeof(out->kty), "%s", kk->kty);
	out->bits = kk->bits;
	out->key_ops = kk->key_ops;
	out->key_ops_present = kk->key_ops_present;
	out->enabled = kk->enabled;
	out->has_nbf = kk->has_nbf;
	out->has_exp = kk->has_exp;
	out->nbf = kk->nbf;
	out->exp = kk->exp;
	out->created = kk->created;
	snprintf(out->recovery_level, sizeof(out->recovery_level), "%s",
	    kk->recovery_level);
}

enum atr_err
vfy_vault_attrs(struct atr_key *k, int refresh, struct vfy_vault_attrs *out)
{
	struct atr_kv_key *kk;
	enum atr_err err;

	memset(out, 0, sizeof(*out));
	if (!vfy_vault_is_vault_key(k))
		return atr_fail(ATR_ERR_USAGE, "not a Key Vault key");
	kk = calloc(1, sizeof(*kk));
	if (kk == NULL)
		return ATR_ERR_NOMEM;
	err = atr_kv_key_info(k, refresh, kk);
	if (err == ATR_OK)
		attrs_from(kk, out);
	free(kk);
	return err;
}

/* k's client and the name and version of kid, a version of k's key
 * (the same vault and name: k->ops->matches says so). */
static enum atr_err
kid_target(struct atr_key *k, const char *kid, struct atr_kv_client **c,
    char *name, size_t ncap, char *version, size_t vcap)
{
	char origin[300];

	if (!vfy_vault_is_vault_key(k))
		return atr_fail(ATR_ERR_USAGE, "not a Key Vault key");
	*c = atr_kv_key_client(k);
	if (*c == NULL || !k->ops->matches(k, ATR_PROV_AZURE_KV, kid) ||
	    vfy_kid_split(kid, origin, sizeof(origin), name, ncap, version,
	    vcap) != 0 || version[0] == '\0')
		return atr_fail(ATR_ERR_CONFIG, "%s: not a version of %s", kid,
		    k->uri);
	return ATR_OK;
}

enum atr_err
vfy_vault_kid_attrs(struct atr_key *k, const char *kid,
    struct vfy_vault_attrs *out)
{
	struct atr_kv_client *c = NULL;
	struct atr_kv_key *kk;
	char name[ATR_KV_NAME_MAX + 1], version[128];
	enum atr_err err;

	memset(out, 0, sizeof(*out));
	err = kid_target(k, kid, &c, name, sizeof(name), version,
	    sizeof(version));
	if (err != ATR_OK)
		return err;
	kk = calloc(1, sizeof(*kk));
	if (kk == NULL)
		return ATR_ERR_NOMEM;
	/* GET /keys/{name}/{version}: the attributes are per version
	 * (https://learn.microsoft.com/en-us/rest/api/keyvault/keys/get-key) */
	err = atr_kv_get_key(c, name, version, kk);
	if (err == ATR_OK)
		attrs_from(kk, out);
	free(kk);
	return err;
}

enum atr_err
vfy_vault_kid_set_enabled(struct atr_key *k, const char *kid, int enabled)
{
	struct atr_kv_client *c = NULL;
	struct atr_kv_update u;
	struct atr_kv_key *kk;
	char name[ATR_KV_NAME_MAX + 1], version[128];
	enum atr_err err;

	err = kid_target(k, kid, &c, name, sizeof(name), version,
	    sizeof(version));
	if (err != ATR_OK)
		return err;
	memset(&u, 0, sizeof(u));
	u.set_enabled = 1;
	u.enabled = enabled;
	kk = calloc(1, sizeof(*kk));
	if (kk == NULL)
		return ATR_ERR_NOMEM;
	err = atr_kv_update_key(c, name, version, &u, kk);
	free(kk);
	return err;
}

enum atr_err
vfy_vault_set_enabled(struct atr_key *k, int enabled)
{
	if (!vfy_vault_is_vault_key(k))
		return atr_fail(ATR_ERR_USAGE, "not a Key Vault key");
	return vfy_vault_kid_set_enabled(k, k->key_id, enabled);
}

enum atr_err
vfy_vault_versions(struct atr_key *k, struct vfy_vver **out, size_t *nout)
{
	struct atr_kv_client *c;
	struct atr_kv_key *items = NULL;
	struct vfy_vver *v;
	char origin[300], name[ATR_KV_NAME_MAX + 1], ver[128];
	size_t n = 0, i;
	enum atr_err err;

	*out = NULL;
	*nout = 0;
	if (!vfy_vault_is_vault_key(k))
		return atr_fail(ATR_ERR_USAGE, "not a Key Vault key");
	c = atr_kv_key_client(k);
	if (c == NULL || vfy_kid_split(k->key_id, origin, sizeof(origin), name,
	    sizeof(name), ver, sizeof(ver)) != 0)
		return atr_fail(ATR_ERR_CONFIG, "%s: not a Key Vault key id",
		    k->key_id);
	err = atr_kv_list_versions(c, name, &items, &n);
	if (err != ATR_OK)
		return err;
	v = calloc(n ? n : 1, sizeof(*v));
	if (v == NULL) {
		free(items);
		return ATR_ERR_NOMEM;
	}
	for (i = 0; i < n; i++) {
		snprintf(v[i].version, sizeof(v[i].version), "%s",
		    items[i].version);
		v[i].created = items[i].created;
	}
	free(items);
	*out = v;
	*nout = n;
	return ATR_OK;
}
