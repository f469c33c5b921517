// A verify report of a large store, made from a small real one (its
// recipients check failing): OBJECTS objects, every one a finding, the
// first FINDINGS kept, as verify does past max_findings_per_check
// (docs/VERIFY.md, "JSON report").  V is changed and returned.
export function capped(v, objects, kept) {
	const s = v.summary;
	s.files = s.envelopes = s.opened = s.proven_by_decryption = objects;
	s.bytes = objects * 65536;
	s.errors = objects;
	const c = v.checks.find((x) => x.id === 'recipients');
	c.errors = objects;
	c.findings_kept = kept;
	c.findings = [];
	for (let i = 0; i < kept; i++)
		c.findings.push({
			code: 'recipients.smk-only', severity: 'error', store: 0,
			path: `store/tenant-${i % 97}/2026/11/${String(i).padStart(6, '0')}-invoice-batch.parquet.atr`,
			subject: `tenant-${i % 97}/2026/11/${String(i).padStart(6, '0')}-invoice-batch.parquet.atr`,
			offset: i % 3 === 0 ? 4096 * i : null,
			message: 'every stanza is a service-managed (SMK) wrap: no customer-managed key protects this object',
		});
	c.stats.objects = c.stats.stanzas = c.stats.smk_only_objects = objects;
	v.coverage[0].objects = v.coverage[0].opened = v.coverage[0].wraps = objects;
	return v;
}
