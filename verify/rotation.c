/*
 * rotation.c - what a policy asks of a configured Key Vault key beyond
 * the attributes verify/config.c checks: the key_ops it must hold, and
 * its rotation policy (Get Key Rotation Policy, Key Vault REST API
 * reference, https://learn.microsoft.com/en-us/rest/api/keyvault/keys/
 * get-key-rotation-policy/get-key-rotation-policy): reported for every
 * vault key, checked under a profile that asks (docs/VERIFY.md
 * "Profiles"), with the age of the versions objects are wrapped under.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "kv_client.h"
#include "provider_azure.h"
#include "jwk.h"
#include "vfy_engine.h"

#define DAY 86400

/* The rotation policy of key (a Key Vault key) into *out. */
static enum atr_err
key_rotation_policy(struct atr_key *key, struct atr_kv_rotation_policy *out)
{
	char origin[300], name[ATR_KV_NAME_MAX + 1], version[128];
	struct atr_kv_client *c = atr_kv_key_client(key);

	memset(out, 0, sizeof(*out));
	if (c == NULL || vfy_kid_split(key->key_id, origin, sizeof(origin),
	    name, sizeof(name), version, sizeof(version)) != 0)
		return atr_fail(ATR_ERR_CONFIG, "not a Key Vault key id");
	return atr_kv_get_rotation_policy(c, name, out);
}

/* "Rotate P90D after creation, Notify P30D before expiry; expiryTime
 * P1Y" into buf. */
static void
describe(const struct atr_kv_rotation_policy *rp, char *buf, size_t cap)
{
	size_t i, n;

	snprintf(buf, cap, "%s", rp->nactions == 0 ? "no lifetime actions" :
	    "");
	for (i = 0; i < rp->nactions; i++) {
		n = strlen(buf);
		snprintf(buf + n, cap - n, "%s%s %s %s", i ? ", " : "",
		    rp->actions[i].rotate ? "Rotate" : "Notify",
		    rp->actions[i].duration, rp->actions[i].before_expiry ?
		    "before expiry" : "after creation");
	}
	n = strlen(buf);
	snprintf(buf + n, cap - n, "; expiryTime %s", rp->expiry[0] ?
	    rp->expiry : "none");
}

/* The checks of a policy that asks for rotation (strict). */
static void
rotation_checks(struct engine *E, const struct atr_key *key,
    const struct atr_kv_rotation_policy *rp)
{
	const struct vfy_policy *p = E->p;
	int64_t period = atr_kv_rotation_period(rp);

	if (p->rotation_require_policy && period == 0)
		vfy_report_add(E->r, VFY_ERROR, -1, key->uri, -1,
		    "policy.rotation-missing", "the key's rotation policy "
		    "rotates nothing automatically (no Rotate action, or one "
		    "before an expiry the policy does not set)");
	else if (p->rotation_max_days != 0 && period >
	    (int64_t)p->rotation_max_days * DAY)
		vfy_report_add(E->r, VFY_ERROR, -1, key->uri, -1,
		    "policy.rotation-too-long", "the key rotates every %"
		    PRId64 " days; the policy allows at most %u",
		    period / DAY, p->rotation_max_days);
	if (p->rotation_require_expiry && rp->expiry[0] == '\0')
		vfy_report_add(E->r, VFY_ERROR, -1, key->uri, -1,
		    "policy.rotation-no-expiry", "the key's rotation policy "
		    "sets no expiryTime: rotated versions never expire");
}

void
eng_vault_policy_findings(struct engine *E, struct atr_key *key,
    const struct vfy_vault_attrs *va)
{
	const struct vfy_policy *p = E->p;
	struct atr_kv_rotation_policy rp;
	unsigned missing = p->vault_required_ops & ~va->key_ops;
	char text[400];
	enum atr_err e;

	/* No key_ops at all allows everything (config.c warns of it). */
	if (va->key_ops_present && missing != 0)
		vfy_report_add(E->r, VFY_ERROR, -1, key->uri, -1,
		    "policy.vault-key-ops-missing", "key_ops lack %s%s%s "
		    "(the platform wraps and unwraps with the key)",
		    (missing & ATR_JWK_WRAP) ? "wrapKey" : "",
		    (missing & ATR_JWK_WRAP) && (missing & ATR_JWK_UNWRAP) ?
		    " and " : "", (missing & ATR_JWK_UNWRAP) ? "unwrapKey" :
		    (missing & ATR_JWK_WRAP) ? "" : "an operation");
	e = key_rotation_policy(key, &rp);
	if (e != ATR_OK) {
		/* Without the policy nothing about rotation is proven: an
		 * error when the policy asks for one. */
		vfy_report_add(E->r, p->rotation_require_policy ? VFY_ERROR :
		    VFY_INFO, -1, key->uri, -1, "policy.rotation-unavailable",
		    "the key's rotation policy could not be read: %s%s%s "
		    "(grant keys/getrotationpolicy)", atr_strerror(e),
		    *atr_detail() ? ": " : "", atr_detail());
		atr_detail_clear();
		return;
	}
	describe(&rp, text, sizeof(text));
	vfy_report_add(E->r, VFY_INFO, -1, key->uri, -1,
	    "policy.rotation-policy", "rotation policy: %s", text);
	rotation_checks(E, key, &rp);
	eng_version_age_finding(E, va->kid, va->created, 0);
}

/* The configured vault key kid is a version of (same vault and name,
 * any case, as Key Vault compares them); NULL when none. */
static struct atr_key *
configured_key_of(const struct engine *E, const char *kid)
{
	char o1[300], n1[ATR_KV_NAME_MAX + 1], v1[128];
	char o2[300], n2[ATR_KV_NAME_MAX + 1], v2[128];
	size_t i;

	if (vfy_kid_split(kid, o1, sizeof(o1), n1, sizeof(n1), v1,
	    sizeof(v1)) != 0)
		return NULL;
	for (i = 0; i < E->c->nkeys; i++) {
		struct atr_key *k = E->c->keys[i];

		if (vfy_vault_is_vault_key(k) && vfy_kid_split(k->key_id, o2,
		    sizeof(o2), n2, sizeof(n2), v2, sizeof(v2)) == 0 &&
		    strcasecmp(o1, o2) == 0 && strcasecmp(n1, n2) == 0)
			return k;
	}
	return NULL;
}

void
eng_version_age_finding(struct engine *E, const char *kid, int64_t created,
    uint64_t nobjects)
{
	const struct vfy_policy *p = E->p;
	struct atr_kv_rotation_policy rp;
	struct atr_key *key;
	int64_t period = 0, age;

	if (!p->rotation_version_age || created <= 0)
		return;
	key = configured_key_of(E, kid);
	if (key == NULL)
		return;
	/* The key's own period; without one (a finding of its own), the
	 * longest the policy allows. */
	if (key_rotation_policy(key, &rp) == ATR_OK)
		period = atr_kv_rotation_period(&rp);
	else
		atr_detail_clear();
	if (period == 0)
		period = (int64_t)p->rotation_max_days * DAY;
	age = (int64_t)time(NULL) - created;
	if (period == 0 || age <= period)
		return;
	if (nobjects == 0)
		vfy_report_add(E->r, VFY_ERROR, -1, kid, -1,
		    "policy.rotation-version-age", "the current version was "
		    "created %" PRId64 " days ago, longer than the rotation "
		    "period (%" PRId64 " days): the key is not being rotated",
		    age / DAY, period / DAY);
	else
		vfy_report_add(E->r, VFY_ERROR, -1, kid, -1,
		    "policy.rotation-version-age", "%" PRIu64 " objects are "
		    "wrapped under a version created %" PRId64 " days ago, "
		    "longer than the rotation period (%" PRId64 " days): "
		    "rewrap them to the current version", nobjects, age / DAY,
		    period / DAY);
}
