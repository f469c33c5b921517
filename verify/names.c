/*
 * names.c - the vocabulary of a report, in one place: check names and
 * titles, severities and statuses, the counters of each check
 * (vfy_stat_defs), every finding code (vfy_code_defs) and the names the
 * JSON report gives to stanza kinds, wrap algorithms and providers.  The
 * writers (output.c) and the reader (merge.c) both go through these
 * tables, so a report reads back as it was written.
 */
#include <stdio.h>
#include <string.h>

#include "key.h"
#include "vfy_int.h"
static const char *const check_names[VFY_NCHECKS] = {
	"envelope", "recipients", "decrypt", "negative", "plaintext",
	"tamper", "uniqueness", "policy", "rotation",
};

static const char *const check_titles[VFY_NCHECKS] = {
	"every file is a well-formed envelope",
	"the configured keys, and only they, are recipients",
	"the configured key opens every object; plaintext matches the manifest",
	"a control key, or the revoked key, opens nothing",
	"no plaintext, canary or unwrapped key is stored in the clear",
	"flipped bits, truncation and reordered frames are rejected",
	"object ids, nonce prefixes and DEKs are never reused; KEK wrap counts",
	"algorithms, key sizes and vault key attributes meet the policy",
	"objects per key version; stale versions when required",
};

const char *
vfy_check_name(int c)
{
	return c >= 0 && c < VFY_NCHECKS ? check_names[c] : "?";
}

const char *
vfy_check_title(int c)
{
	return c >= 0 && c < VFY_NCHECKS ? check_titles[c] : "?";
}

int
vfy_check_from_name(const char *name)
{
	int i;

	for (i = 0; i < VFY_NCHECKS; i++)
		if (strcmp(name, check_names[i]) == 0)
			return i;
	return -1;
}

const char *
vfy_sev_name(int s)
{
	switch (s) {
	case VFY_ERROR:
		return "error";
	case VFY_WARN:
		return "warning";
	case VFY_INFO:
		return "info";
	default:
		return "allow";
	}
}

int
vfy_sev_from_name(const char *n)
{
	if (strcmp(n, "error") == 0)
		return VFY_ERROR;
	if (strcmp(n, "warning") == 0 || strcmp(n, "warn") == 0)
		return VFY_WARN;
	if (strcmp(n, "info") == 0)
		return VFY_INFO;
	if (strcmp(n, "allow") == 0)
		return VFY_ALLOW;
	return -2;
}

const char *
vfy_level_name(int level)
{
	return vfy_sev_name(level);
}

const char *
vfy_status_name(int s)
{
	switch (s) {
	case VFY_PASS:
		return "pass";
	case VFY_WARNED:
		return "warn";
	case VFY_FAILED:
		return "fail";
	default:
		return "skip";
	}
}

#define SUM VFY_OP_SUM
#define MAX VFY_OP_MAX
#define SAME VFY_OP_SAME

const struct vfy_stat_def vfy_stat_defs[VS__COUNT] = {
	[VS_FILES] = {VFY_ENVELOPE, "files", SUM, 0},
	[VS_ENVELOPES] = {VFY_ENVELOPE, "envelopes", SUM, 0},
	[VS_NOT_ENVELOPE] = {VFY_ENVELOPE, "not_envelope", SUM, 0},
	[VS_MALFORMED] = {VFY_ENVELOPE, "malformed", SUM, 0},
	[VS_SYMLINKS] = {VFY_ENVELOPE, "symlinks", SUM, 0},
	[VS_SPECIAL] = {VFY_ENVELOPE, "special_files", SUM, 0},
	[VS_EMPTY] = {VFY_ENVELOPE, "empty_files", SUM, 0},
	[VS_BYTES] = {VFY_ENVELOPE, "bytes", SUM, 0},
	[VS_R_OBJECTS] = {VFY_RECIPIENTS, "objects", SUM, 0},
	[VS_R_STANZAS] = {VFY_RECIPIENTS, "stanzas", SUM, 0},
	[VS_R_FOREIGN] = {VFY_RECIPIENTS, "foreign_stanzas", SUM, 0},
	[VS_R_SMK_ONLY] = {VFY_RECIPIENTS, "smk_only_objects", SUM, 0},
	[VS_R_CONFIGURED] = {VFY_RECIPIENTS, "objects_with_configured_key", SUM, 0},
	[VS_D_ATTEMPTED] = {VFY_DECRYPT, "attempted", SUM, 0},
	[VS_D_OPENED] = {VFY_DECRYPT, "opened", SUM, 0},
	/* opened and every frame authenticated: "opened" alone proves
	 * only that the header's stanza unwrapped */
	[VS_D_PROVEN] = {VFY_DECRYPT, "proven", SUM, 0},
	[VS_D_FRAMES] = {VFY_DECRYPT, "frames", SUM, 0},
	[VS_D_PLAIN_BYTES] = {VFY_DECRYPT, "plaintext_bytes", SUM, 0},
	[VS_D_AUTH_FAILED] = {VFY_DECRYPT, "auth_failed", SUM, 0},
	[VS_D_NO_KEY] = {VFY_DECRYPT, "no_key", SUM, 0},
	[VS_D_SERVICE] = {VFY_DECRYPT, "key_service_errors", SUM, 0},
	[VS_D_MAN_ENTRIES] = {VFY_DECRYPT, "manifest_entries", SUM, 0},
	[VS_D_MAN_VERIFIED] = {VFY_DECRYPT, "manifest_verified", SUM, 0},
	[VS_D_MAN_MISSING] = {VFY_DECRYPT, "manifest_missing", SUM, 0},
	[VS_D_MAN_MISMATCH] = {VFY_DECRYPT, "manifest_mismatch", SUM, 0},
	[VS_D_UNLISTED] = {VFY_DECRYPT, "unlisted", SUM, 0},
	[VS_N_CONTROL] = {VFY_NEGATIVE, "control_attempts", SUM, 0},
	[VS_N_CONTROL_OPENED] = {VFY_NEGATIVE, "control_opened", SUM, 0},
	[VS_N_IMPOSTOR] = {VFY_NEGATIVE, "impostor_attempts", SUM, 0},
	[VS_N_IMPOSTOR_OPENED] = {VFY_NEGATIVE, "impostor_opened", SUM, 0},
	[VS_N_DRILL] = {VFY_NEGATIVE, "revocation_attempts", SUM, 0},
	[VS_N_DRILL_OPENED] = {VFY_NEGATIVE, "revocation_opened", SUM, 0},
	[VS_N_DRILL_VERSIONS] = {VFY_NEGATIVE, "revocation_versions", SUM, 0},
	[VS_N_DRILL_LATENCY_MS] = {VFY_NEGATIVE, "revocation_latency_ms", MAX,
	    0},
	[VS_N_DRILL_MS] = {VFY_NEGATIVE, "drill_ms", MAX, 0},
	[VS_P_SCANNED] = {VFY_PLAINTEXT, "bytes_scanned", SUM, 0},
	[VS_P_RESCANNED] = {VFY_PLAINTEXT, "bytes_rescanned", SUM, 0},
	[VS_P_CANARIES] = {VFY_PLAINTEXT, "canaries", SAME, 0},
	[VS_P_SHINGLES] = {VFY_PLAINTEXT, "shingles_sampled", SUM, 0},
	[VS_P_KEYS] = {VFY_PLAINTEXT, "keys_tracked", SUM, 0},
	[VS_P_CANARY_HITS] = {VFY_PLAINTEXT, "canary_hits", SUM, 0},
	[VS_P_SHINGLE_HITS] = {VFY_PLAINTEXT, "shingle_hits", SUM, 0},
	[VS_P_KEY_HITS] = {VFY_PLAINTEXT, "key_hits", SUM, 0},
	[VS_P_STAT_TESTED] = {VFY_PLAINTEXT, "objects_tested", SUM, 0},
	[VS_P_NOT_RANDOM] = {VFY_PLAINTEXT, "not_random", SUM, 0},
	[VS_T_OBJECTS] = {VFY_TAMPER, "objects", SUM, 0},
	[VS_T_HEADER_OBJECTS] = {VFY_TAMPER, "header_objects", SUM, 0},
	[VS_T_MUTATIONS] = {VFY_TAMPER, "mutations", SUM, 0},
	[VS_T_REJECTED] = {VFY_TAMPER, "rejected", SUM, 0},
	[VS_T_ACCEPTED] = {VFY_TAMPER, "accepted", SUM, 0},
	[VS_U_OBJECTS] = {VFY_UNIQUENESS, "objects", SUM, 1},
	[VS_U_DUP_IDS] = {VFY_UNIQUENESS, "duplicate_object_ids", SUM, 1},
	[VS_U_NONCE_REUSE] = {VFY_UNIQUENESS, "nonce_reuse", SUM, 1},
	[VS_U_NONCE_COLLISIONS] = {VFY_UNIQUENESS, "nonce_collisions", SUM, 1},
	[VS_U_DEK_REUSE] = {VFY_UNIQUENESS, "dek_reuse", SUM, 1},
	[VS_U_SHARES] = {VFY_UNIQUENESS, "cached_deks", SUM, 1},
	[VS_U_SHARED_OBJECTS] = {VFY_UNIQUENESS, "cached_dek_objects", SUM, 1},
	[VS_U_MAX_WRAPS] = {VFY_UNIQUENESS, "max_wraps_per_kek", MAX, 1},
	[VS_U_MAX_FRAMES] = {VFY_UNIQUENESS, "max_frames_per_key", MAX, 1},
	[VS_PO_KEYS] = {VFY_POLICY, "configured_keys", SAME, 0},
	[VS_PO_VAULT_KEYS] = {VFY_POLICY, "vault_keys", SAME, 0},
	[VS_PO_STANZA_KEYS] = {VFY_POLICY, "stanza_key_ids", SUM, 1},
	[VS_PO_SUITE_V1] = {VFY_POLICY, "aes256gcm_committed_objects", SUM, 0},
	[VS_RO_KEY_IDS] = {VFY_ROTATION, "key_ids", SUM, 1},
	[VS_RO_CURRENT] = {VFY_ROTATION, "objects_on_current_key", SUM, 0},
	[VS_RO_STALE] = {VFY_ROTATION, "stale_objects", SUM, 0},
};

#undef SUM
#undef MAX
#undef SAME

/* Every finding code; docs/VERIFY.md documents each (a test checks). */
const struct vfy_code_def vfy_code_defs[] = {
	{"envelope.not-envelope", 0},
	{"envelope.empty-file", 0},
	{"envelope.malformed", 0},
	{"envelope.bad-body", 0},
	{"envelope.symlink", 0},
	{"envelope.special-file", 0},
	{"envelope.unreadable", 0},
	{"envelope.empty-store", 0},
	{"envelope.nothing-verified", 1},
	{"recipients.not-configured", 0},
	{"recipients.foreign", 0},
	{"recipients.other-version", 0},
	{"recipients.smk-only", 0},
	{"recipients.missing-key", 0},
	{"decrypt.auth-failed", 0},
	{"decrypt.no-key", 0},
	{"decrypt.key-service", 0},
	{"decrypt.size-mismatch", 0},
	{"decrypt.digest-mismatch", 0},
	{"decrypt.missing", 0},
	{"decrypt.unlisted", 0},
	{"decrypt.unverified", 0},
	{"negative.opened", 0},
	{"negative.impostor-opened", 0},
	{"negative.inconclusive", 0},
	{"negative.control-unavailable", 0},
	{"negative.revocation-opened", 0},
	{"negative.revocation-failed", 0},
	{"negative.revocation-unavailable", 0},
	{"negative.revocation-not-restored", 0},
	{"negative.drill-interrupted", 0},
	{"plaintext.canary", 0},
	{"plaintext.shingle", 0},
	{"plaintext.dek", 0},
	{"plaintext.not-random", 0},
	{"tamper.accepted", 0},
	{"uniqueness.object-id", 1},
	{"uniqueness.nonce-reuse", 1},
	{"uniqueness.nonce-collision", 1},
	{"uniqueness.dek-reuse", 1},
	{"uniqueness.shared-dek", 1},
	{"uniqueness.kek-wraps", 1},
	{"uniqueness.dek-unchecked", 1},
	{"policy.key-rsa-size", 0},
	{"policy.key-smk", 0},
	{"policy.rsa-size", 1},
	{"policy.oaep-sha1", 1},
	{"policy.aes-kw", 1},
	{"policy.unknown-alg", 1},
	{"policy.vault-disabled", 0},
	{"policy.vault-expired", 0},
	{"policy.vault-not-yet-valid", 0},
	{"policy.vault-expiring", 0},
	{"policy.vault-no-expiry", 0},
	{"policy.vault-key-ops", 0},
	{"policy.vault-recovery", 0},
	{"policy.vault-kty", 0},
	{"policy.vault-unavailable", 0},
	{"policy.version-disabled", 1},
	{"policy.version-expired", 1},
	{"policy.version-expiring", 1},
	{"policy.version-not-yet-valid", 1},
	{"policy.version-key-ops", 1},
	{"policy.version-kty", 1},
	{"policy.version-rsa-size", 1},
	{"policy.version-unavailable", 1},
	{"policy.vault-key-ops-missing", 0},
	{"policy.rotation-policy", 0},
	{"policy.rotation-unavailable", 0},
	{"policy.rotation-missing", 0},
	{"policy.rotation-too-long", 0},
	{"policy.rotation-no-expiry", 0},
	{"policy.rotation-version-age", 0},
	{"rotation.stale", 0},
	{"rotation.below-min-version", 0},
	{"rotation.old-version", 1},
	{"rotation.readable-after-revoke", 1},
	{"rotation.version-unknown", 0},
	{NULL, 0},
};

int
vfy_code_check(const char *code)
{
	const char *dot = strchr(code, '.');
	char head[32];
	size_t n;

	if (dot == NULL || (n = (size_t)(dot - code)) >= sizeof(head))
		return -1;
	memcpy(head, code, n);
	head[n] = '\0';
	return vfy_check_from_name(head);
}

int
vfy_code_derived(const char *code)
{
	size_t i;

	for (i = 0; vfy_code_defs[i].code != NULL; i++)
		if (strcmp(vfy_code_defs[i].code, code) == 0)
			return vfy_code_defs[i].derived;
	return 0;
}

/* ---- stanza fields, as the JSON report names them ---------------------- */

const char *
vfy_alg_bit_name(unsigned bit)
{
	/* core/key.h's names; bits 0, 5, 6 and VFY_ALG_OTHER_BIT are
	 * "unknown" */
	return atr_wrap_alg_name((enum atr_wrap_alg)bit);
}

int
vfy_alg_bit_from_name(const char *name)
{
	unsigned a;

	for (a = ATR_WRAP_RSA_OAEP_256; a <= ATR_WRAP_AES_KW; a++)
		if (strcmp(name, atr_wrap_alg_name((enum atr_wrap_alg)a)) == 0)
			return (int)a;
	return strcmp(name, "unknown") == 0 ? VFY_ALG_OTHER_BIT : -1;
}

int
vfy_kind_from_name(const char *name)
{
	unsigned k;

	for (k = ATR_KIND_DIRECT; k <= ATR_KIND_INTERMEDIATE; k++)
		if (strcmp(name, atr_stanza_kind_name(k)) == 0)
			return (int)k;
	return -1;
}

int
vfy_provider_from_name(const char *name)
{
	unsigned p;

	if (name == NULL)
		return 0;
	for (p = ATR_PROV_FILE_RSA; p <= ATR_PROV_AZURE_KV; p++)
		if (strcmp(name, atr_provider_name((enum atr_provider_type)p)) ==
		    0)
			return (int)p;
	return 0;
}
