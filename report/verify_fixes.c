/*
 * verify_fixes.c - the remedy for each finding code, as the report shows
 * it next to a finding.  Written from the "how to fix" column of the
 * code tables in docs/VERIFY.md ("as above" resolved, backticks dropped);
 * tests/unit/test_report.c checks that every code verify can emit
 * (verify/names.c vfy_code_defs) has an entry here, so a new code
 * without a fix fails the build's tests.
 */
#include <string.h>

#include "report_int.h"

static const struct {
	const char *code, *fix;
} fixes[] = {
	{"envelope.not-envelope",
	    "encrypt it (atrest encrypt), or remove it if it is a "
	    "leftover (temporary file, export, backup)"},
	{"envelope.malformed",
	    "restore the object from a good copy; find the writer that "
	    "produced it"},
	{"envelope.bad-body",
	    "restore from a good copy"},
	{"envelope.empty-file",
	    "remove it, or encrypt it (an empty object is still an "
	    "envelope)"},
	{"envelope.symlink",
	    "verify the target's store, or replace the link by the object"},
	{"envelope.special-file",
	    "remove it"},
	{"envelope.unreadable",
	    "fix permissions or storage, run again"},
	{"envelope.empty-store",
	    "check the path or the mount"},
	{"envelope.nothing-verified",
	    "check the path, the mount or the shard count; --allow-empty "
	    "where an empty store is expected"},
	{"recipients.not-configured",
	    "rewrap the object for the configured key (atrest rewrap), or"
	    " add the key to --key if it is legitimately allowed"},
	{"recipients.foreign",
	    "rewrap without that recipient"},
	{"recipients.other-version",
	    "rewrap to the configured version, or configure the key "
	    "versionless"},
	{"recipients.smk-only",
	    "rewrap for the CMK"},
	{"recipients.missing-key",
	    "rewrap to add the missing recipient"},
	{"decrypt.auth-failed",
	    "the object is corrupt or tampered with: restore it; "
	    "investigate the storage path"},
	{"decrypt.no-key",
	    "rewrap the object for the configured key (atrest rewrap), or"
	    " add the key to --key if it is legitimately allowed"},
	{"decrypt.key-service",
	    "fix access to the key service, run again"},
	{"decrypt.digest-mismatch",
	    "the stored data is not the data you think: restore it or "
	    "update the manifest from a trusted source"},
	{"decrypt.size-mismatch",
	    "the stored data is not the data you think: restore it or "
	    "update the manifest from a trusted source"},
	{"decrypt.missing",
	    "data loss: restore the object"},
	{"decrypt.unverified",
	    "fix the object (see the other findings on the same path)"},
	{"decrypt.unlisted",
	    "add it to the manifest, or find out why it is there"},
	{"negative.opened",
	    "rewrap without it; check why that key was added"},
	{"negative.impostor-opened",
	    "a broken decryptor or format: do not trust the store, report"
	    " it"},
	{"negative.inconclusive",
	    "run again when the service is healthy"},
	{"negative.control-unavailable",
	    "give --control-key"},
	{"negative.revocation-opened",
	    "find and remove the cache or the other key path"},
	{"negative.revocation-failed",
	    "check the identity's rights (keys/get, keys/update)"},
	{"negative.revocation-not-restored",
	    "run that command"},
	{"negative.revocation-unavailable",
	    "configure a Key Vault key"},
	{"negative.drill-interrupted",
	    "run the drill again"},
	{"plaintext.canary",
	    "the data was stored in the clear somewhere: find the writer;"
	    " delete and re-encrypt"},
	{"plaintext.shingle",
	    "a plaintext copy (temporary file, export, log) is in the "
	    "store: remove it"},
	{"plaintext.dek",
	    "a provider or writer stores keys in the clear: treat every "
	    "object under that key as exposed, re-encrypt with new DEKs"},
	{"plaintext.not-random",
	    "for a non-envelope, encrypt it; for an authenticated object "
	    "this is a statistical oddity - look at it"},
	{"tamper.accepted",
	    "the decryptor does not authenticate: do not use it; report "
	    "it"},
	{"uniqueness.object-id",
	    "remove the copy; if both are needed, re-encrypt one"},
	{"uniqueness.nonce-reuse",
	    "re-encrypt one of the objects with a fresh DEK"},
	{"uniqueness.nonce-collision",
	    "check the writer's random number generator"},
	{"uniqueness.dek-reuse",
	    "re-encrypt with fresh DEKs; check the writer's RNG and "
	    "caching"},
	{"uniqueness.shared-dek",
	    "lower the cache's object limit; re-encrypt"},
	{"uniqueness.kek-wraps",
	    "rotate the KEK and rewrap"},
	{"uniqueness.dek-unchecked",
	    "give every shard the same --fingerprint-key"},
	{"policy.key-rsa-size",
	    "rotate to RSA-3072 or larger and rewrap"},
	{"policy.rsa-size",
	    "rotate to RSA-3072 or larger and rewrap"},
	{"policy.key-smk",
	    "configure the CMK"},
	{"policy.oaep-sha1",
	    "rewrap with OAEP-SHA-256 when the token allows"},
	{"policy.aes-kw",
	    "rewrap with KWP if the policy asks"},
	{"policy.unknown-alg",
	    "find the writer"},
	{"policy.vault-disabled",
	    "enable it (or run the revocation drill on purpose)"},
	{"policy.vault-expired",
	    "rotate the key"},
	{"policy.vault-expiring",
	    "plan the rotation"},
	{"policy.vault-no-expiry",
	    "set exp"},
	{"policy.vault-not-yet-valid",
	    "fix nbf"},
	{"policy.vault-key-ops",
	    "restrict key_ops"},
	{"policy.vault-recovery",
	    "enable purge protection on the vault"},
	{"policy.vault-kty",
	    "use an RSA (or, by default, oct-HSM) key"},
	{"policy.vault-unavailable",
	    "grant keys/get; run again"},
	{"policy.version-disabled",
	    "enable it, or rewrap its objects (docs/VERIFY.md, "
	    "\"Verifying a rotated estate\")"},
	{"policy.version-expired",
	    "rewrap them to the current version"},
	{"policy.version-expiring",
	    "rewrap before it expires"},
	{"policy.version-not-yet-valid",
	    "fix nbf"},
	{"policy.version-key-ops",
	    "fix key_ops of that version"},
	{"policy.version-kty",
	    "rewrap to a suitable key"},
	{"policy.version-rsa-size",
	    "rotate and rewrap"},
	{"policy.version-unavailable",
	    "grant keys/get; run again"},
	{"policy.vault-key-ops-missing",
	    "allow wrapKey and unwrapKey"},
	{"policy.rotation-policy",
	    "nothing to fix: it records the rotation policy"},
	{"policy.rotation-unavailable",
	    "grant keys/getrotationpolicy"},
	{"policy.rotation-missing",
	    "atrest vault rotation-policy set KEY --rotate-after P90D "
	    "--expiry P1Y"},
	{"policy.rotation-too-long",
	    "shorten --rotate-after"},
	{"policy.rotation-no-expiry",
	    "set --expiry"},
	{"policy.rotation-version-age",
	    "rotate; rewrap the objects to the current version"},
	{"rotation.stale",
	    "atrest rewrap to the current key"},
	{"rotation.below-min-version",
	    "rewrap"},
	{"rotation.version-unknown",
	    "investigate: deleted version?"},
	{"rotation.old-version",
	    "rewrap when the policy asks"},
	{"rotation.readable-after-revoke",
	    "rewrap them to the current version (atrest rewrap), then "
	    "disable the old versions"},
};

const char *
rpt_verify_fix(const char *code)
{
	size_t i;

	if (code == NULL)
		return NULL;
	for (i = 0; i < sizeof(fixes) / sizeof(fixes[0]); i++)
		if (strcmp(fixes[i].code, code) == 0)
			return fixes[i].fix;
	return NULL;
}

size_t
rpt_verify_fix_count(void)
{
	return sizeof(fixes) / sizeof(fixes[0]);
}

const char *
rpt_verify_fix_code(size_t i)
{
	return i < sizeof(fixes) / sizeof(fixes[0]) ? fixes[i].code : NULL;
}
