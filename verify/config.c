/*
 * config.c - the run's configuration as the report records it (stores,
 * keys, control key, manifest, shard), and the policy findings about the
 * configured keys themselves: their size and, for a Key Vault key, the
 * attributes the vault reports (enabled, dates, key_ops, recoveryLevel,
 * kty; docs/VERIFY.md, the `policy` check).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "jwk.h"
#include "vfy_engine.h"

void
eng_fill_config(struct engine *E)
{
	const struct vfy_config *c = E->c;
	struct vfy_report *r = E->r;
	size_t i;

	r->stores = calloc(c->nstores, sizeof(*r->stores));
	r->keys = calloc(c->nkeys, sizeof(*r->keys));
	if (r->stores != NULL) {
		r->nstores = c->nstores;
		for (i = 0; i < c->nstores; i++) {
			struct stat st;

			r->stores[i].arg = strdup(c->stores[i]);
			r->stores[i].is_file = stat(c->stores[i], &st) == 0 &&
			    !S_ISDIR(st.st_mode);
		}
	}
	if (r->keys != NULL) {
		r->nkeys = c->nkeys;
		for (i = 0; i < c->nkeys; i++) {
			struct atr_key *k = c->keys[i];

			r->keys[i].uri = strdup(k->uri);
			r->keys[i].key_id = strdup(k->key_id);
			r->keys[i].desc = strdup(k->desc);
			r->keys[i].provider = strdup(
			    atr_provider_name(k->provider));
			r->keys[i].bits = k->bits;
			r->keys[i].customer_managed = k->customer_managed;
			r->keys[i].primary = i == 0;
		}
	}
	r->control = strdup(c->control_uri ? c->control_uri : "generated");
	if (c->manifest != NULL) {
		r->manifest = strdup(c->manifest_path ? c->manifest_path :
		    "(given)");
		snprintf(r->manifest_sha, sizeof(r->manifest_sha), "%s",
		    vfy_manifest_sha(c->manifest));
	}
	r->shard_k = c->shard_n > 1 ? c->shard_k : 0;
	r->shard_n = c->shard_n > 1 ? c->shard_n : 0;
	r->keep_shard_data = c->shard_n > 1;
	r->revocation_drill = c->revocation_drill;
	r->allow_empty = c->allow_empty;
	snprintf(r->current_key_id, sizeof(r->current_key_id), "%s",
	    E->current);
}

/* Size and ownership of a configured key (not its vault attributes). */
static void
key_findings(struct vfy_report *r, const struct vfy_policy *p,
    const struct atr_key *key)
{
	if (key->alg == ATR_WRAP_RSA_OAEP_256 ||
	    key->alg == ATR_WRAP_RSA_OAEP_SHA1) {
		if (key->bits != 0 && key->bits < p->rsa_error_below)
			vfy_report_add(r, VFY_ERROR, -1, key->uri, -1,
			    "policy.key-rsa-size",
			    "configured RSA-%u key (below %u bits is not "
			    "allowed)", key->bits, p->rsa_error_below);
		else if (key->bits != 0 && key->bits < p->rsa_min_bits)
			vfy_report_add(r, VFY_WARN, -1, key->uri, -1,
			    "policy.key-rsa-size",
			    "configured RSA-%u key (%u bits or more are "
			    "required for data kept past 2030, SP 800-57)",
			    key->bits, p->rsa_min_bits);
	}
	if (!key->customer_managed && p->require_cmk)
		vfy_report_add(r, VFY_WARN, -1, key->uri, -1, "policy.key-smk",
		    "the configured key is service-managed: objects wrapped "
		    "only by it are findings (recipients.smk-only)");
}

/* exp and nbf against now. */
static void
vault_dates(struct vfy_report *r, const struct vfy_policy *p,
    const struct atr_key *key, const struct vfy_vault_attrs *va, int64_t now)
{
	if (va->has_exp && va->exp <= now)
		vfy_report_add(r, VFY_ERROR, -1, key->uri, -1,
		    "policy.vault-expired", "the key expired");
	else if (va->has_exp && va->exp - now <
	    (int64_t)p->vault_expiry_warn_days * 86400)
		vfy_report_add(r, VFY_WARN, -1, key->uri, -1,
		    "policy.vault-expiring", "the key expires within %u days",
		    p->vault_expiry_warn_days);
	else if (!va->has_exp && p->vault_require_expiry)
		vfy_report_add(r, VFY_ERROR, -1, key->uri, -1,
		    "policy.vault-no-expiry",
		    "the key has no expiry date (policy requires one)");
	if (va->has_nbf && va->nbf > now)
		vfy_report_add(r, VFY_ERROR, -1, key->uri, -1,
		    "policy.vault-not-yet-valid",
		    "the key's not-before date is in the future");
}

/* key_ops beyond the policy's, listed by name. */
static void
vault_key_ops(struct vfy_report *r, const struct vfy_policy *p,
    const struct atr_key *key, const struct vfy_vault_attrs *va)
{
	char list[160] = "";
	unsigned k, bit;

	if (!va->key_ops_present) {
		vfy_report_add(r, VFY_WARN, -1, key->uri, -1,
		    "policy.vault-key-ops",
		    "the key lists no key_ops (every operation allowed)");
		return;
	}
	if ((va->key_ops & ~p->vault_allowed_ops) == 0)
		return;
	for (k = 0; k < ATR_JWK_COUNT; k++) {
		bit = atr_jwk_op_at(k);
		if (va->key_ops & ~p->vault_allowed_ops & bit)
			snprintf(list + strlen(list),
			    sizeof(list) - strlen(list),
			    "%s%s", list[0] ? ", " : "", atr_jwk_op_name(bit));
	}
	vfy_report_add(r, VFY_ERROR, -1, key->uri, -1, "policy.vault-key-ops",
	    "key_ops allow more than the policy: %s", list);
}

/* What the vault says of a configured Key Vault key. */
static void
vault_findings(struct engine *E, const struct atr_key *key,
    const struct vfy_vault_attrs *va, int64_t now)
{
	const struct vfy_policy *p = E->p;
	struct vfy_report *r = E->r;

	if (!va->enabled && p->vault_require_enabled && !E->drill_only)
		vfy_report_add(r, VFY_ERROR, -1, key->uri, -1,
		    "policy.vault-disabled", "the key is disabled");
	vault_dates(r, p, key, va, now);
	vault_key_ops(r, p, key, va);
	if (!vfy_policy_recovery_ok(p, va->recovery_level))
		vfy_report_add(r, VFY_ERROR, -1, key->uri, -1,
		    "policy.vault-recovery",
		    "recoveryLevel \"%s\" lacks soft delete with purge "
		    "protection", va->recovery_level[0] ?
		    va->recovery_level : "(none)");
	if (!vfy_policy_kty_ok(p, va->kty))
		vfy_report_add(r, VFY_ERROR, -1, key->uri, -1,
		    "policy.vault-kty", "key type %s is not one the policy "
		    "allows to wrap data keys", va->kty);
	if (strncmp(va->kty, "RSA", 3) == 0 && va->bits != 0 &&
	    va->bits < p->rsa_error_below)
		vfy_report_add(r, VFY_ERROR, -1, key->uri, -1,
		    "policy.key-rsa-size", "vault RSA-%u key", va->bits);
}

void
eng_config_findings(struct engine *E)
{
	const struct vfy_config *c = E->c;
	struct vfy_report *r = E->r;
	struct vfy_vault_attrs va;
	int64_t now = (int64_t)time(NULL);
	enum atr_err e;
	size_t i;

	r->stats[VS_PO_KEYS] = (int64_t)c->nkeys;
	for (i = 0; i < c->nkeys; i++) {
		struct atr_key *key = c->keys[i];

		key_findings(r, E->p, key);
		if (!vfy_vault_is_vault_key(key))
			continue;
		r->stats[VS_PO_VAULT_KEYS]++;
		e = vfy_vault_attrs(key, 1, &va);
		if (e != ATR_OK) {
			vfy_report_add(r, VFY_WARN, -1, key->uri, -1,
			    "policy.vault-unavailable",
			    "the vault key's attributes could not be read: "
			    "%s%s%s", atr_strerror(e),
			    *atr_detail() ? ": " : "", atr_detail());
			atr_detail_clear();
			continue;
		}
		vault_findings(E, key, &va, now);
		eng_vault_policy_findings(E, key, &va);
	}
}

/* The configured vault key kid is a version of, or -1. */
static int
vault_key_of(const struct vfy_config *c, const struct vfy_cov *cv)
{
	size_t i;

	if (cv->provider != ATR_PROV_AZURE_KV)
		return -1;
	for (i = 0; i < c->nkeys; i++)
		if (vfy_vault_is_vault_key(c->keys[i]) &&
		    c->keys[i]->ops->matches(c->keys[i], ATR_PROV_AZURE_KV,
		    cv->key_id))
			return (int)i;
	return -1;
}

void
eng_versions(struct engine *E)
{
	const struct vfy_config *c = E->c;
	struct vfy_report *r = E->r;
	struct vfy_vault_attrs va;
	size_t i;

	/* Every version objects are wrapped under is checked, not only
	 * the one the URI resolves to: old versions stay enabled for old
	 * data (docs/VERIFY.md "Verifying a rotated estate"). */
	for (i = 0; i < r->cov.n; i++) {
		const struct vfy_cov *cv = &r->cov.v[i];
		int k = vault_key_of(c, cv);
		struct vfy_version *v;

		if (k < 0)
			continue;
		v = vfy_version_get(r, cv->key_id);
		if (v == NULL) {
			r->incomplete = 1;
			snprintf(r->incomplete_why, sizeof(r->incomplete_why),
			    "out of memory listing key versions");
			return;
		}
		v->key = k;
		v->resolved = strcmp(cv->key_id, c->keys[k]->key_id) == 0;
		if (vfy_vault_kid_attrs(c->keys[k], cv->key_id, &va) !=
		    ATR_OK) {
			atr_detail_clear();
			continue;
		}
		v->available = 1;
		v->enabled = va.enabled;
		v->has_nbf = va.has_nbf;
		v->has_exp = va.has_exp;
		v->nbf = va.nbf;
		v->exp = va.exp;
		v->key_ops = va.key_ops;
		v->key_ops_present = va.key_ops_present;
		v->bits = va.bits;
		snprintf(v->kty, sizeof(v->kty), "%s", va.kty);
		/* strict: no version older than the rotation period in use
		 * (the resolved one is judged as the current version by
		 * eng_rotation_findings). */
		if (!v->resolved)
			eng_version_age_finding(E, cv->key_id, va.created,
			    cv->objects > 0 ? cv->objects : 1);
	}
}
