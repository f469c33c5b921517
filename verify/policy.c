/*
 * policy.c - the verify policy: documented defaults (docs/VERIFY.md
 * "Policy"), overridden by a --policy JSON document with the same shape
 * as the "policy" object of a JSON report.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "fsutil.h"
#include "vfy_int.h"
#include "jwk.h"

/* Soft delete with purge protection: the DeletionRecoveryLevel values
 * without "Purgeable" (Key Vault REST API reference,
 * https://learn.microsoft.com/en-us/rest/api/keyvault/keys/get-key/get-key).
 * "+ProtectedSubscription" adds a subscription that cannot be cancelled:
 * still purge-protected. */
static void
set_recovery_levels(struct vfy_policy *p)
{
	static const char *const levels[] = {
		"Recoverable",
		"Recoverable+ProtectedSubscription",
		"CustomizedRecoverable",
		"CustomizedRecoverable+ProtectedSubscription",
	};
	size_t i;

	for (i = 0; i < sizeof(levels) / sizeof(levels[0]); i++)
		snprintf(p->vault_recovery[i], sizeof(p->vault_recovery[i]),
		    "%s", levels[i]);
	p->vault_nrecovery = i;
}

void
vfy_policy_default(struct vfy_policy *p)
{
	memset(p, 0, sizeof(*p));
	/* SP 800-57 Pt 1 Rev 5: RSA-2048 is 112-bit strength, acceptable
	 * through 2030; RSA-3072 (128-bit) is required after. */
	p->rsa_min_bits = 3072;
	p->rsa_error_below = 2048;
	p->oaep_sha1 = VFY_WARN;
	p->aes_kw = VFY_ALLOW;
	p->tag_bits = 128;            /* SP 800-38D 5.2.1.2 */
	p->require_commitment = 1;
	p->require_cmk = 1;
	p->allow_foreign = 0;
	p->require_keys = VFY_REQ_ANY;
	p->shared_dek = VFY_INFO;
	p->max_objects_per_shared_dek = 0;
	p->kek_max_wraps = 1ULL << 32; /* SP 800-38D 8.3 */
	p->kek_warn_fraction = 0.5;
	p->scan_all = 1;
	p->shingles_per_object = 4;
	p->chi2_z = 6.0;
	p->stat_min_bytes = 1024;
	p->stat_max_bytes = 4U << 20;
	p->dek_scan = 1;
	p->tamper_header_sample = 32;
	p->negative_sample = 32;
	p->drill_objects = 0;     /* every object */
	p->vault_require_enabled = 1;
	p->vault_require_expiry = 0;
	p->vault_expiry_warn_days = 30;
	p->vault_allowed_ops = ATR_JWK_WRAP | ATR_JWK_UNWRAP;
	set_recovery_levels(p);
	p->vault_required_ops = 0;
	p->vault_kty = VFY_KTY_RSA | VFY_KTY_RSA_HSM | VFY_KTY_OCT |
	    VFY_KTY_OCT_HSM;
	p->max_findings = 1000;
	snprintf(p->profile, sizeof(p->profile), "default");
}

/*
 * The platform's requirements for a customer-managed key in Azure Key
 * Vault or Managed HSM (docs/VERIFY.md "Profiles"): RSA or RSA-HSM of
 * at least 3072 bits, wrapKey and unwrapKey allowed and nothing else,
 * soft delete with purge protection, enabled and not expired.
 */
static void
profile_azure_cmk(struct vfy_policy *p)
{
	p->rsa_min_bits = 3072;
	p->rsa_error_below = 3072;
	p->require_cmk = 1;
	p->vault_require_enabled = 1;
	p->vault_allowed_ops = ATR_JWK_WRAP | ATR_JWK_UNWRAP;
	p->vault_required_ops = ATR_JWK_WRAP | ATR_JWK_UNWRAP;
	p->vault_kty = VFY_KTY_RSA | VFY_KTY_RSA_HSM;
	snprintf(p->profile, sizeof(p->profile), "azure-cmk");
}

/* azure-cmk, and a rotation policy that rotates at least yearly and
 * sets an expiry, with no version older than its period in use. */
static void
profile_strict(struct vfy_policy *p)
{
	profile_azure_cmk(p);
	p->rotation_require_policy = 1;
	p->rotation_max_days = 365;
	p->rotation_require_expiry = 1;
	p->rotation_version_age = 1;
	snprintf(p->profile, sizeof(p->profile), "strict");
}

enum atr_err
vfy_policy_profile(const char *name, struct vfy_policy *p)
{
	vfy_policy_default(p);
	if (strcmp(name, "default") == 0)
		return ATR_OK;
	if (strcmp(name, "azure-cmk") == 0)
		profile_azure_cmk(p);
	else if (strcmp(name, "strict") == 0)
		profile_strict(p);
	else
		return atr_fail(ATR_ERR_CONFIG, "unknown profile \"%.32s\" "
		    "(default, azure-cmk, strict)", name);
	return ATR_OK;
}

int
vfy_policy_recovery_ok(const struct vfy_policy *p, const char *level)
{
	size_t k;

	/* "Purgeable" alone or "+Purgeable": a privileged user can purge
	 * the key, and the data with it, at once. */
	if (strstr(level, "Purgeable") != NULL)
		return 0;
	for (k = 0; k < p->vault_nrecovery; k++)
		if (strcmp(level, p->vault_recovery[k]) == 0)
			return 1;
	return 0;
}

/* Key types by name, as Key Vault spells them (JsonWebKeyType). */
static const struct {
	const char *name;
	unsigned bit;
} kty_names[] = {
	{"RSA", VFY_KTY_RSA},
	{"RSA-HSM", VFY_KTY_RSA_HSM},
	{"oct", VFY_KTY_OCT},
	{"oct-HSM", VFY_KTY_OCT_HSM},
};

static unsigned
kty_bit(const char *kty)
{
	size_t i;

	for (i = 0; i < sizeof(kty_names) / sizeof(kty_names[0]); i++)
		if (strcmp(kty, kty_names[i].name) == 0)
			return kty_names[i].bit;
	return 0;
}

int
vfy_policy_kty_ok(const struct vfy_policy *p, const char *kty)
{
	return (kty_bit(kty) & p->vault_kty) != 0;
}

/* Key Vault's exact spelling: a policy is not a place for "WRAPKEY". */
static int
op_from_name(const char *s, unsigned *bit)
{
	*bit = atr_jwk_op_parse(s);
	return *bit != 0 && strcmp(s, atr_jwk_op_name(*bit)) == 0 ? 0 : -1;
}

/* ---- parsing ----------------------------------------------------------- */

struct pctx {
	const char *section;
};

static enum atr_err
bad(const struct pctx *c, const cJSON *it, const char *what)
{
	return atr_fail(ATR_ERR_CONFIG, "policy: %s.%s: %s", c->section,
	    it->string ? it->string : "?", what);
}

static enum atr_err
get_uint(const struct pctx *c, const cJSON *it, uint64_t max, uint64_t *out)
{
	double d;

	if (!cJSON_IsNumber(it))
		return bad(c, it, "expected a number");
	d = it->valuedouble;
	if (d < 0 || d != floor(d) || d > (double)max)
		return bad(c, it, "expected a whole number in range");
	*out = (uint64_t)d;
	return ATR_OK;
}

static enum atr_err
get_u32(const struct pctx *c, const cJSON *it, unsigned max, unsigned *out)
{
	uint64_t v = 0;
	enum atr_err e = get_uint(c, it, max, &v);

	if (e == ATR_OK)
		*out = (unsigned)v;
	return e;
}

static enum atr_err
get_bool(const struct pctx *c, const cJSON *it, int *out)
{
	if (!cJSON_IsBool(it))
		return bad(c, it, "expected true or false");
	*out = cJSON_IsTrue(it) ? 1 : 0;
	return ATR_OK;
}

static enum atr_err
get_level(const struct pctx *c, const cJSON *it, int *out)
{
	int l;

	if (!cJSON_IsString(it))
		return bad(c, it, "expected \"error\", \"warning\", \"info\" or \"allow\"");
	l = vfy_sev_from_name(it->valuestring);
	if (l == -2)
		return bad(c, it, "expected \"error\", \"warning\", \"info\" or \"allow\"");
	*out = l;
	return ATR_OK;
}

static enum atr_err
get_double(const struct pctx *c, const cJSON *it, double lo, double hi,
    double *out)
{
	if (!cJSON_IsNumber(it) || it->valuedouble < lo || it->valuedouble > hi)
		return bad(c, it, "number out of range");
	*out = it->valuedouble;
	return ATR_OK;
}

static enum atr_err
sec_algorithms(const struct pctx *c, const cJSON *s, struct vfy_policy *p)
{
	const cJSON *it;
	enum atr_err e = ATR_OK;

	cJSON_ArrayForEach(it, s) {
		const char *k = it->string;

		if (strcmp(k, "rsa_min_bits") == 0)
			e = get_u32(c, it, 16384, &p->rsa_min_bits);
		else if (strcmp(k, "rsa_error_below_bits") == 0)
			e = get_u32(c, it, 16384, &p->rsa_error_below);
		else if (strcmp(k, "oaep_sha1") == 0)
			e = get_level(c, it, &p->oaep_sha1);
		else if (strcmp(k, "aes_kw") == 0)
			e = get_level(c, it, &p->aes_kw);
		else if (strcmp(k, "tag_bits") == 0) {
			e = get_u32(c, it, 128, &p->tag_bits);
			if (e == ATR_OK && p->tag_bits != 128 &&
			    p->tag_bits != 120 && p->tag_bits != 112 &&
			    p->tag_bits != 104 && p->tag_bits != 96)
				e = bad(c, it, "SP 800-38D tags are 96..128 bits "
				    "in steps of 8");
		} else if (strcmp(k, "require_commitment") == 0)
			e = get_bool(c, it, &p->require_commitment);
		else
			e = bad(c, it, "unknown setting");
		if (e != ATR_OK)
			return e;
	}
	return ATR_OK;
}

static enum atr_err
sec_recipients(const struct pctx *c, const cJSON *s, struct vfy_policy *p)
{
	const cJSON *it;
	enum atr_err e = ATR_OK;

	cJSON_ArrayForEach(it, s) {
		const char *k = it->string;

		if (strcmp(k, "require_cmk") == 0)
			e = get_bool(c, it, &p->require_cmk);
		else if (strcmp(k, "allow_foreign") == 0)
			e = get_bool(c, it, &p->allow_foreign);
		else if (strcmp(k, "require_keys") == 0) {
			const char *v = cJSON_IsString(it) ? it->valuestring : "";

			if (strcmp(v, "any") == 0)
				p->require_keys = VFY_REQ_ANY;
			else if (strcmp(v, "all") == 0)
				p->require_keys = VFY_REQ_ALL;
			else if (strcmp(v, "primary") == 0)
				p->require_keys = VFY_REQ_PRIMARY;
			else
				e = bad(c, it, "expected \"any\", \"all\" or \"primary\"");
		} else
			e = bad(c, it, "unknown setting");
		if (e != ATR_OK)
			return e;
	}
	return ATR_OK;
}

static enum atr_err
sec_uniqueness(const struct pctx *c, const cJSON *s, struct vfy_policy *p)
{
	const cJSON *it;
	enum atr_err e = ATR_OK;

	cJSON_ArrayForEach(it, s) {
		const char *k = it->string;

		if (strcmp(k, "shared_dek") == 0)
			e = get_level(c, it, &p->shared_dek);
		else if (strcmp(k, "max_objects_per_shared_dek") == 0)
			e = get_uint(c, it, 1ULL << 53,
			    &p->max_objects_per_shared_dek);
		else if (strcmp(k, "kek_max_wraps") == 0)
			e = get_uint(c, it, 1ULL << 53, &p->kek_max_wraps);
		else if (strcmp(k, "kek_warn_fraction") == 0)
			e = get_double(c, it, 0.0, 1.0, &p->kek_warn_fraction);
		else
			e = bad(c, it, "unknown setting");
		if (e != ATR_OK)
			return e;
	}
	return ATR_OK;
}

static enum atr_err
sec_plaintext(const struct pctx *c, const cJSON *s, struct vfy_policy *p)
{
	const cJSON *it;
	enum atr_err e = ATR_OK;

	cJSON_ArrayForEach(it, s) {
		const char *k = it->string;

		if (strcmp(k, "scan") == 0) {
			const char *v = cJSON_IsString(it) ? it->valuestring : "";

			if (strcmp(v, "all") == 0)
				p->scan_all = 1;
			else if (strcmp(v, "unproven") == 0)
				p->scan_all = 0;
			else
				e = bad(c, it, "expected \"all\" or \"unproven\"");
		} else if (strcmp(k, "shingles_per_object") == 0)
			e = get_u32(c, it, 64, &p->shingles_per_object);
		else if (strcmp(k, "chi2_z") == 0)
			e = get_double(c, it, 1.0, 100.0, &p->chi2_z);
		else if (strcmp(k, "stat_min_bytes") == 0)
			e = get_uint(c, it, 1ULL << 40, &p->stat_min_bytes);
		else if (strcmp(k, "stat_max_bytes") == 0)
			e = get_uint(c, it, 1ULL << 40, &p->stat_max_bytes);
		else if (strcmp(k, "dek_scan") == 0)
			e = get_bool(c, it, &p->dek_scan);
		else
			e = bad(c, it, "unknown setting");
		if (e != ATR_OK)
			return e;
	}
	return ATR_OK;
}

static enum atr_err
sec_sampling(const struct pctx *c, const cJSON *s, struct vfy_policy *p)
{
	const cJSON *it;
	enum atr_err e = ATR_OK;

	cJSON_ArrayForEach(it, s) {
		const char *k = it->string;

		if (strcmp(k, "tamper_header") == 0)
			e = get_u32(c, it, 1U << 30, &p->tamper_header_sample);
		else if (strcmp(k, "negative") == 0)
			e = get_u32(c, it, 1U << 30, &p->negative_sample);
		else if (strcmp(k, "revocation_objects") == 0)
			e = get_u32(c, it, 1U << 20, &p->drill_objects);
		else
			e = bad(c, it, "unknown setting");
		if (e != ATR_OK)
			return e;
	}
	return ATR_OK;
}

static enum atr_err
get_ops(const struct pctx *c, const cJSON *it, unsigned *out)
{
	const cJSON *v;
	unsigned mask = 0, bit;

	if (!cJSON_IsArray(it))
		return bad(c, it, "expected an array of operations");
	cJSON_ArrayForEach(v, it) {
		if (!cJSON_IsString(v) ||
		    op_from_name(v->valuestring, &bit) != 0)
			return bad(c, it, "unknown key operation (encrypt, "
			    "decrypt, sign, verify, wrapKey, unwrapKey, "
			    "import, export)");
		mask |= bit;
	}
	*out = mask;
	return ATR_OK;
}

static enum atr_err
get_kty(const struct pctx *c, const cJSON *it, unsigned *out)
{
	const cJSON *v;
	unsigned mask = 0, bit;

	if (!cJSON_IsArray(it))
		return bad(c, it, "expected an array of key types");
	cJSON_ArrayForEach(v, it) {
		bit = cJSON_IsString(v) ? kty_bit(v->valuestring) : 0;
		if (bit == 0)
			return bad(c, it, "unknown key type (RSA, RSA-HSM, "
			    "oct, oct-HSM)");
		mask |= bit;
	}
	*out = mask;
	return ATR_OK;
}

static enum atr_err
sec_vault(const struct pctx *c, const cJSON *s, struct vfy_policy *p)
{
	const cJSON *it, *v;
	enum atr_err e = ATR_OK;

	cJSON_ArrayForEach(it, s) {
		const char *k = it->string;

		if (strcmp(k, "require_enabled") == 0)
			e = get_bool(c, it, &p->vault_require_enabled);
		else if (strcmp(k, "require_expiry") == 0)
			e = get_bool(c, it, &p->vault_require_expiry);
		else if (strcmp(k, "expiry_warn_days") == 0)
			e = get_u32(c, it, 36500, &p->vault_expiry_warn_days);
		else if (strcmp(k, "allowed_key_ops") == 0)
			e = get_ops(c, it, &p->vault_allowed_ops);
		else if (strcmp(k, "required_key_ops") == 0)
			e = get_ops(c, it, &p->vault_required_ops);
		else if (strcmp(k, "allowed_kty") == 0)
			e = get_kty(c, it, &p->vault_kty);
		else if (strcmp(k, "recovery_levels") == 0) {
			size_t n = 0;

			if (!cJSON_IsArray(it))
				return bad(c, it, "expected an array of strings");
			cJSON_ArrayForEach(v, it) {
				if (!cJSON_IsString(v) || n >= VFY_MAX_RECOVERY ||
				    strlen(v->valuestring) >=
				    sizeof(p->vault_recovery[0]))
					return bad(c, it, "bad recovery level list");
				snprintf(p->vault_recovery[n],
				    sizeof(p->vault_recovery[n]), "%s",
				    v->valuestring);
				n++;
			}
			p->vault_nrecovery = n;
		} else
			e = bad(c, it, "unknown setting");
		if (e != ATR_OK)
			return e;
	}
	return ATR_OK;
}

static enum atr_err
sec_rotation(const struct pctx *c, const cJSON *s, struct vfy_policy *p)
{
	const cJSON *it;
	enum atr_err e = ATR_OK;

	cJSON_ArrayForEach(it, s) {
		const char *k = it->string;

		if (strcmp(k, "current_only") == 0)
			e = get_bool(c, it, &p->current_only);
		else if (strcmp(k, "min_version") == 0) {
			if (cJSON_IsNull(it))
				p->min_version[0] = '\0';
			else if (!cJSON_IsString(it) || strlen(it->valuestring) >=
			    sizeof(p->min_version))
				e = bad(c, it, "expected a version string or null");
			else
				snprintf(p->min_version, sizeof(p->min_version),
				    "%s", it->valuestring);
		} else if (strcmp(k, "require_policy") == 0)
			e = get_bool(c, it, &p->rotation_require_policy);
		else if (strcmp(k, "max_rotate_days") == 0)
			e = get_u32(c, it, 36500, &p->rotation_max_days);
		else if (strcmp(k, "require_policy_expiry") == 0)
			e = get_bool(c, it, &p->rotation_require_expiry);
		else if (strcmp(k, "version_age") == 0)
			e = get_bool(c, it, &p->rotation_version_age);
		else
			e = bad(c, it, "unknown setting");
		if (e != ATR_OK)
			return e;
	}
	return ATR_OK;
}

static enum atr_err
sec_report(const struct pctx *c, const cJSON *s, struct vfy_policy *p)
{
	const cJSON *it;
	enum atr_err e = ATR_OK;

	cJSON_ArrayForEach(it, s) {
		if (strcmp(it->string, "max_findings_per_check") == 0)
			e = get_u32(c, it, 10000000, &p->max_findings);
		else
			e = bad(c, it, "unknown setting");
		if (e != ATR_OK)
			return e;
	}
	return ATR_OK;
}

/*
 * A document's "profile" is its base, applied before its sections
 * whatever their order.  On a policy still at "default" (no --profile)
 * it loads that profile; naming another profile than the one chosen is
 * an error rather than a silent switch.
 */
static enum atr_err
apply_profile(const cJSON *it, struct vfy_policy *p)
{
	if (it == NULL)
		return ATR_OK;
	if (!cJSON_IsString(it))
		return atr_fail(ATR_ERR_CONFIG, "policy: profile: expected a "
		    "profile name");
	if (strcmp(it->valuestring, p->profile) == 0)
		return ATR_OK;
	if (strcmp(p->profile, "default") != 0)
		return atr_fail(ATR_ERR_CONFIG, "policy: profile \"%.32s\" "
		    "differs from the profile chosen, \"%s\"",
		    it->valuestring, p->profile);
	return vfy_policy_profile(it->valuestring, p);
}

enum atr_err
vfy_policy_parse(const char *json, size_t len, struct vfy_policy *p)
{
	static const struct {
		const char *name;
		enum atr_err (*fn)(const struct pctx *, const cJSON *,
		    struct vfy_policy *);
	} secs[] = {
		{"algorithms", sec_algorithms},
		{"recipients", sec_recipients},
		{"uniqueness", sec_uniqueness},
		{"plaintext", sec_plaintext},
		{"sampling", sec_sampling},
		{"vault", sec_vault},
		{"rotation", sec_rotation},
		{"report", sec_report},
	};
	cJSON *root = cJSON_ParseWithLength(json, len);
	const cJSON *it, *secs_of;
	enum atr_err e = ATR_OK;
	size_t i;

	if (root == NULL || !cJSON_IsObject(root)) {
		cJSON_Delete(root);
		return atr_fail(ATR_ERR_CONFIG, "policy: not a JSON object");
	}
	e = apply_profile(cJSON_GetObjectItemCaseSensitive(root, "profile"), p);
	secs_of = e == ATR_OK ? root : NULL;
	cJSON_ArrayForEach(it, secs_of) {
		struct pctx c = {it->string};

		if (strcmp(it->string, "profile") == 0)
			continue;
		for (i = 0; i < sizeof(secs) / sizeof(secs[0]); i++)
			if (strcmp(it->string, secs[i].name) == 0)
				break;
		if (i == sizeof(secs) / sizeof(secs[0])) {
			e = atr_fail(ATR_ERR_CONFIG,
			    "policy: unknown section \"%s\"", it->string);
			break;
		}
		if (!cJSON_IsObject(it)) {
			e = atr_fail(ATR_ERR_CONFIG,
			    "policy: section \"%s\" is not an object", it->string);
			break;
		}
		e = secs[i].fn(&c, it, p);
		if (e != ATR_OK)
			break;
	}
	cJSON_Delete(root);
	if (e == ATR_OK && p->rsa_error_below > p->rsa_min_bits)
		e = atr_fail(ATR_ERR_CONFIG, "policy: algorithms."
		    "rsa_error_below_bits is above rsa_min_bits");
	return e;
}

enum atr_err
vfy_policy_load(const char *path, struct vfy_policy *p)
{
	unsigned char *buf = NULL;
	size_t len = 0;
	enum atr_err e;

	e = atr_read_small_file(path, 1U << 20, 0, &buf, &len);
	if (e != ATR_OK)
		return e;
	e = vfy_policy_parse((const char *)buf, len, p);
	free(buf);
	return e;
}

/* ---- writing ----------------------------------------------------------- */

/* Key operations of mask by name, in bit order, comma-separated. */
static void
write_ops(struct vfy_out *o, unsigned mask)
{
	unsigned i;
	int first = 1;

	for (i = 0; i < ATR_JWK_COUNT; i++)
		if (mask & atr_jwk_op_at(i)) {
			vfy_out_fmt(o, "%s\"%s\"", first ? "" : ", ",
			    atr_jwk_op_name(atr_jwk_op_at(i)));
			first = 0;
		}
}

void
vfy_policy_write(struct vfy_out *o, const struct vfy_policy *p,
    const char *in)
{
	size_t i;
	int first = 1;

	vfy_out_fmt(o, "{\n%s  \"profile\": \"%s\",\n", in, p->profile);
	vfy_out_fmt(o, "%s  \"algorithms\": {\"rsa_min_bits\": %u, "
	    "\"rsa_error_below_bits\": %u, \"oaep_sha1\": \"%s\", "
	    "\"aes_kw\": \"%s\", \"tag_bits\": %u, "
	    "\"require_commitment\": %s},\n", in, p->rsa_min_bits,
	    p->rsa_error_below, vfy_level_name(p->oaep_sha1),
	    vfy_level_name(p->aes_kw), p->tag_bits,
	    p->require_commitment ? "true" : "false");
	vfy_out_fmt(o, "%s  \"recipients\": {\"require_cmk\": %s, "
	    "\"allow_foreign\": %s, \"require_keys\": \"%s\"},\n", in,
	    p->require_cmk ? "true" : "false",
	    p->allow_foreign ? "true" : "false",
	    p->require_keys == VFY_REQ_ALL ? "all" :
	    p->require_keys == VFY_REQ_PRIMARY ? "primary" : "any");
	vfy_out_fmt(o, "%s  \"uniqueness\": {\"shared_dek\": \"%s\", "
	    "\"max_objects_per_shared_dek\": %llu, \"kek_max_wraps\": %llu, "
	    "\"kek_warn_fraction\": %.6g},\n", in,
	    vfy_level_name(p->shared_dek),
	    (unsigned long long)p->max_objects_per_shared_dek,
	    (unsigned long long)p->kek_max_wraps, p->kek_warn_fraction);
	vfy_out_fmt(o, "%s  \"plaintext\": {\"scan\": \"%s\", "
	    "\"shingles_per_object\": %u, \"chi2_z\": %.6g, "
	    "\"stat_min_bytes\": %llu, \"stat_max_bytes\": %llu, "
	    "\"dek_scan\": %s},\n", in, p->scan_all ? "all" : "unproven",
	    p->shingles_per_object, p->chi2_z,
	    (unsigned long long)p->stat_min_bytes,
	    (unsigned long long)p->stat_max_bytes,
	    p->dek_scan ? "true" : "false");
	vfy_out_fmt(o, "%s  \"sampling\": {\"tamper_header\": %u, "
	    "\"negative\": %u, \"revocation_objects\": %u},\n", in,
	    p->tamper_header_sample, p->negative_sample, p->drill_objects);
	vfy_out_fmt(o, "%s  \"vault\": {\"require_enabled\": %s, "
	    "\"require_expiry\": %s, \"expiry_warn_days\": %u, "
	    "\"allowed_key_ops\": [", in,
	    p->vault_require_enabled ? "true" : "false",
	    p->vault_require_expiry ? "true" : "false",
	    p->vault_expiry_warn_days);
	write_ops(o, p->vault_allowed_ops);
	vfy_out_str(o, "], \"required_key_ops\": [");
	write_ops(o, p->vault_required_ops);
	vfy_out_str(o, "], \"allowed_kty\": [");
	for (i = 0; i < sizeof(kty_names) / sizeof(kty_names[0]); i++)
		if (p->vault_kty & kty_names[i].bit) {
			vfy_out_fmt(o, "%s\"%s\"", first ? "" : ", ",
			    kty_names[i].name);
			first = 0;
		}
	vfy_out_str(o, "], \"recovery_levels\": [");
	for (i = 0; i < p->vault_nrecovery; i++) {
		if (i)
			vfy_out_str(o, ", ");
		vfy_out_json_str(o, p->vault_recovery[i]);
	}
	vfy_out_fmt(o, "]},\n%s  \"rotation\": {\"current_only\": %s, "
	    "\"min_version\": ", in, p->current_only ? "true" : "false");
	if (p->min_version[0])
		vfy_out_json_str(o, p->min_version);
	else
		vfy_out_str(o, "null");
	vfy_out_fmt(o, ", \"require_policy\": %s, \"max_rotate_days\": %u, "
	    "\"require_policy_expiry\": %s, \"version_age\": %s",
	    p->rotation_require_policy ? "true" : "false",
	    p->rotation_max_days,
	    p->rotation_require_expiry ? "true" : "false",
	    p->rotation_version_age ? "true" : "false");
	vfy_out_fmt(o, "},\n%s  \"report\": {\"max_findings_per_check\": %u}\n"
	    "%s}", in, p->max_findings, in);
}

int
vfy_policy_print(const struct vfy_policy *p, FILE *f)
{
	struct vfy_out *o = malloc(sizeof(*o));
	enum atr_err e;

	if (o == NULL || fflush(f) != 0) {
		free(o);
		return -1;
	}
	vfy_out_init(o, fileno(f));
	vfy_policy_write(o, p, "");
	vfy_out_str(o, "\n");
	e = vfy_out_flush(o);
	free(o);
	return e == ATR_OK ? 0 : -1;
}
