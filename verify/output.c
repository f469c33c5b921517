/*
 * output.c - the report as JSON (schema "atrest-verify/1", docs/VERIFY.md
 * "JSON report"), JUnit XML and text.  Outputs go through a temporary
 * file and a rename (core/fsutil.h); the order of everything is the
 * report order, so two runs over the same store give the same bytes
 * except for the "run" object.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto.h"
#include "fsutil.h"
#include "quote.h"
#include "util.h"
#include "version.h"
#include "jwk.h"
#include "vfy_int.h"

/* ---- shared ------------------------------------------------------------ */

static void
totals(const struct vfy_report *r, uint64_t t[3])
{
	int c;

	t[0] = t[1] = t[2] = 0;
	for (c = 0; c < VFY_NCHECKS; c++) {
		t[0] += r->checks[c].f.count[0];
		t[1] += r->checks[c].f.count[1];
		t[2] += r->checks[c].f.count[2];
	}
}

static const char *
overall(const struct vfy_report *r)
{
	int x = vfy_report_exit(r);
	int c;

	if (x == 2 && !r->incomplete)
		return "nothing-verified";
	if (x == 2)
		return "incomplete";
	if (x == 1)
		return "fail";
	for (c = 0; c < VFY_NCHECKS; c++)
		if (r->checks[c].f.count[VFY_WARN])
			return "warn";
	return "pass";
}

static void
iso_time(int64_t t, char *out, size_t cap)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL ||
	    strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, cap, "%lld", (long long)t);
}

static enum atr_err
begin(struct atr_outfile *of, const char *path, struct vfy_out *o)
{
	enum atr_err e = atr_out_begin(of, path, 0644);

	if (e != ATR_OK)
		return e;
	vfy_out_init(o, of->fd);
	return ATR_OK;
}

static enum atr_err
end(struct atr_outfile *of, struct vfy_out *o)
{
	enum atr_err e = vfy_out_flush(o);

	if (e != ATR_OK) {
		atr_out_abort(of);
		return e;
	}
	return atr_out_commit(of, 0);
}

/* ---- JSON -------------------------------------------------------------- */

static void
json_finding(struct vfy_out *o, const struct vfy_report *r,
    const struct vfy_finding *f)
{
	char path[4096];

	vfy_out_str(o, "        {\"code\": ");
	vfy_out_json_str(o, f->code);
	vfy_out_fmt(o, ", \"severity\": \"%s\", \"store\": %d, ",
	    vfy_sev_name(f->sev), f->store);
	if (f->store >= 0) {
		vfy_display_path(r, f->store, f->subject, path, sizeof(path));
		vfy_out_str(o, "\"path\": ");
		vfy_out_json_str(o, path);
		vfy_out_str(o, ", ");
	} else {
		vfy_out_str(o, "\"path\": null, ");
	}
	vfy_out_str(o, "\"subject\": ");
	vfy_out_json_str(o, f->subject ? f->subject : "");
	if (f->offset >= 0)
		vfy_out_fmt(o, ", \"offset\": %lld", (long long)f->offset);
	else
		vfy_out_str(o, ", \"offset\": null");
	vfy_out_str(o, ", \"message\": ");
	vfy_out_json_str(o, f->message ? f->message : "");
	vfy_out_str(o, "}");
}

static void
json_bits(struct vfy_out *o, unsigned mask, const char *(*name)(unsigned))
{
	unsigned b;
	int first = 1;

	vfy_out_str(o, "[");
	for (b = 0; b < 8; b++)
		if (mask & (1U << b)) {
			vfy_out_fmt(o, "%s\"%s\"", first ? "" : ", ", name(b));
			first = 0;
		}
	vfy_out_str(o, "]");
}

static void
json_shard_data(struct vfy_out *o, const struct vfy_report *r)
{
	char a[65], b[65], c[65], d[65];
	size_t i, k;

	vfy_out_str(o, ",\n  \"shard_data\": {\n    \"coverage\": [");
	for (i = 0; i < r->cov.n; i++) {
		const struct vfy_cov *cv = &r->cov.v[i];

		vfy_out_str(o, i ? ",\n      {\"key_id\": " : "\n      {\"key_id\": ");
		vfy_out_json_str(o, cv->key_id);
		vfy_out_fmt(o, ", \"direct\": %llu, \"shares\": [",
		    (unsigned long long)cv->direct);
		for (k = 0; k < cv->nshares; k++) {
			atr_hex(cv->shares + 16 * k, 16, a);
			vfy_out_fmt(o, "%s\"%s\"", k ? ", " : "", a);
		}
		vfy_out_str(o, "]}");
	}
	vfy_out_str(o, "],\n    \"objects\": [");
	for (i = 0; i < r->objs.n; i++) {
		const struct vfy_obj *ob = &r->objs.v[i];

		atr_hex(ob->oid, 16, a);
		atr_hex(ob->nonce, ATR_NONCE_PREFIX_BYTES, b);
		if (ob->has_fp)
			atr_hex(ob->fp, 16, c);
		else
			c[0] = '\0';
		if (ob->kind != ATR_KIND_DIRECT)
			atr_hex(ob->share, 16, d);
		else
			d[0] = '\0';
		vfy_out_fmt(o, "%s\n      [%d, ", i ? "," : "", ob->store);
		vfy_out_json_str(o, ob->rel);
		vfy_out_fmt(o, ", \"%s\", \"%s\", \"%s\", %u, \"%s\", %llu]", a, b,
		    c, ob->kind, d, (unsigned long long)ob->frames);
	}
	vfy_out_str(o, "]\n  }");
}

/* The "config" object: stores, keys, control key, manifest, shard,
 * fingerprint key and the policy (as --policy reads it). */
static void
json_config(struct vfy_out *o, const struct vfy_report *r)
{
	size_t i;

	vfy_out_str(o, "  \"config\": {\n    \"stores\": [");
	for (i = 0; i < r->nstores; i++) {
		vfy_out_str(o, i ? ", {\"path\": " : "{\"path\": ");
		vfy_out_json_str(o, r->stores[i].arg);
		vfy_out_fmt(o, ", \"type\": \"%s\"}", r->stores[i].is_file ?
		    "file" : "directory");
	}
	vfy_out_str(o, "],\n    \"keys\": [");
	for (i = 0; i < r->nkeys; i++) {
		const struct vfy_keyinfo *k2 = &r->keys[i];

		vfy_out_str(o, i ? ",\n      {\"uri\": " : "\n      {\"uri\": ");
		vfy_out_json_str(o, k2->uri);
		vfy_out_str(o, ", \"key_id\": ");
		vfy_out_json_str(o, k2->key_id);
		vfy_out_str(o, ", \"provider\": ");
		vfy_out_json_str(o, k2->provider);
		vfy_out_str(o, ", \"description\": ");
		vfy_out_json_str(o, k2->desc);
		vfy_out_fmt(o, ", \"bits\": %u, \"customer_managed\": %s, "
		    "\"primary\": %s}", k2->bits,
		    k2->customer_managed ? "true" : "false",
		    k2->primary ? "true" : "false");
	}
	vfy_out_str(o, "],\n    \"current_key_id\": ");
	vfy_out_json_str(o, r->current_key_id);
	vfy_out_str(o, ",\n    \"control_key\": ");
	vfy_out_json_str(o, r->control ? r->control : "generated");
	vfy_out_str(o, ",\n    \"manifest\": ");
	if (r->manifest != NULL) {
		vfy_out_str(o, "{\"path\": ");
		vfy_out_json_str(o, r->manifest);
		vfy_out_fmt(o, ", \"sha256\": \"%s\"}", r->manifest_sha);
	} else {
		vfy_out_str(o, "null");
	}
	if (r->shard_n > 1)
		vfy_out_fmt(o, ",\n    \"shard\": {\"k\": %u, \"n\": %u}",
		    r->shard_k, r->shard_n);
	else
		vfy_out_str(o, ",\n    \"shard\": null");
	vfy_out_fmt(o, ",\n    \"revocation_drill\": %s,\n    "
	    "\"allow_empty\": %s,\n    \"fingerprint_key\": ",
	    r->revocation_drill ? "true" : "false",
	    r->allow_empty ? "true" : "false");
	vfy_out_json_str(o, r->fp_key_id[0] ? r->fp_key_id : "ephemeral");
	vfy_out_str(o, ",\n    \"policy\": ");
	vfy_policy_write(o, &r->policy, "    ");
	vfy_out_str(o, "\n  },\n");
}

static void
json_summary(struct vfy_out *o, const struct vfy_report *r)
{
	uint64_t t[3];

	totals(r, t);
	vfy_out_fmt(o, "  \"summary\": {\"status\": \"%s\", "
	    "\"exit_code\": %d, \"incomplete\": %s, \"incomplete_reason\": ",
	    overall(r), vfy_report_exit(r), r->incomplete ? "true" : "false");
	vfy_out_json_str(o, r->incomplete_why);
	vfy_out_fmt(o, ", \"errors\": %llu, \"warnings\": %llu, \"infos\": %llu, "
	    "\"files\": %lld, \"envelopes\": %lld, \"opened\": %lld, "
	    "\"bytes\": %lld", (unsigned long long)t[2],
	    (unsigned long long)t[1], (unsigned long long)t[0],
	    (long long)r->stats[VS_FILES], (long long)r->stats[VS_ENVELOPES],
	    (long long)r->stats[VS_D_OPENED], (long long)r->stats[VS_BYTES]);
	/* "opened" counts objects whose header opened; "proven" those whose
	 * every frame also authenticated.  A run that proved none says why
	 * (docs/VERIFY.md "Exit status"). */
	vfy_out_fmt(o, ", \"proven_by_decryption\": %lld, "
	    "\"nothing_verified\": %s, \"nothing_verified_reason\": ",
	    (long long)r->stats[VS_D_PROVEN],
	    vfy_nothing_verified(r)[0] ? "true" : "false");
	vfy_out_json_str(o, vfy_nothing_verified(r));
	vfy_out_str(o, "},\n");
}

/* key_ops as a JSON array of names. */
static void
json_ops(struct vfy_out *o, unsigned ops)
{
	unsigned k, bit;
	int first = 1;

	vfy_out_str(o, "[");
	for (k = 0; k < ATR_JWK_COUNT; k++) {
		bit = atr_jwk_op_at(k);
		if (ops & bit) {
			vfy_out_fmt(o, "%s\"%s\"", first ? "" : ", ",
			    atr_jwk_op_name(bit));
			first = 0;
		}
	}
	vfy_out_str(o, "]");
}

/* "versions": every Key Vault key version objects are wrapped under. */
static void
json_versions(struct vfy_out *o, const struct vfy_report *r)
{
	size_t i;

	vfy_out_str(o, ",\n  \"versions\": [");
	for (i = 0; i < r->nversions; i++) {
		const struct vfy_version *v = &r->versions[i];

		vfy_out_str(o, i ? ",\n    {\"kid\": " : "\n    {\"kid\": ");
		vfy_out_json_str(o, v->kid);
		vfy_out_str(o, ", \"key\": ");
		vfy_out_json_str(o, (size_t)v->key < r->nkeys ?
		    r->keys[v->key].uri : "");
		vfy_out_fmt(o, ", \"key_index\": %d, \"resolved\": %s, "
		    "\"objects\": %llu, \"available\": %s", v->key,
		    v->resolved ? "true" : "false",
		    (unsigned long long)v->objects,
		    v->available ? "true" : "false");
		if (v->available) {
			vfy_out_fmt(o, ", \"enabled\": %s, \"kty\": ",
			    v->enabled ? "true" : "false");
			vfy_out_json_str(o, v->kty);
			vfy_out_fmt(o, ", \"bits\": %u", v->bits);
			if (v->has_nbf)
				vfy_out_fmt(o, ", \"nbf\": %lld",
				    (long long)v->nbf);
			else
				vfy_out_str(o, ", \"nbf\": null");
			if (v->has_exp)
				vfy_out_fmt(o, ", \"exp\": %lld",
				    (long long)v->exp);
			else
				vfy_out_str(o, ", \"exp\": null");
			vfy_out_str(o, ", \"key_ops\": ");
			if (v->key_ops_present)
				json_ops(o, v->key_ops);
			else
				vfy_out_str(o, "null");
		}
		vfy_out_fmt(o, ", \"findings\": %llu}",
		    (unsigned long long)v->findings);
	}
	vfy_out_str(o, r->nversions ? "\n  ]" : "]");
}

/* One element of "checks": status, counts, counters, kept findings. */
static void
json_check(struct vfy_out *o, const struct vfy_report *r, int c)
{
	const struct vfy_checkres *k2 = &r->checks[c];
	int first = 1, s;
	size_t k;

	vfy_out_fmt(o, "%s\n    {\"id\": \"%s\", \"title\": ",
	    c ? "," : "", vfy_check_name(c));
	vfy_out_json_str(o, vfy_check_title(c));
	vfy_out_fmt(o, ", \"status\": \"%s\", \"reason\": ",
	    vfy_status_name(k2->status));
	vfy_out_json_str(o, k2->reason);
	vfy_out_fmt(o, ",\n      \"errors\": %llu, \"warnings\": %llu, "
	    "\"infos\": %llu, \"findings_kept\": %zu,\n      "
	    "\"derived\": {\"errors\": %llu, \"warnings\": %llu, "
	    "\"infos\": %llu},\n      \"stats\": {",
	    (unsigned long long)k2->f.count[2],
	    (unsigned long long)k2->f.count[1],
	    (unsigned long long)k2->f.count[0], k2->f.n,
	    (unsigned long long)k2->dcount[2],
	    (unsigned long long)k2->dcount[1],
	    (unsigned long long)k2->dcount[0]);
	for (s = 0; s < VS__COUNT; s++) {
		if (vfy_stat_defs[s].check != c)
			continue;
		vfy_out_fmt(o, "%s\"%s\": %lld", first ? "" : ", ",
		    vfy_stat_defs[s].name, (long long)r->stats[s]);
		first = 0;
	}
	vfy_out_str(o, "},\n      \"findings\": [");
	for (k = 0; k < k2->f.n; k++) {
		vfy_out_str(o, k ? ",\n" : "\n");
		json_finding(o, r, &k2->f.v[k]);
	}
	vfy_out_str(o, k2->f.n ? "\n      ]}" : "]}");
}

/* One element of "coverage": a stanza key id and what it protects. */
static void
json_cov(struct vfy_out *o, const struct vfy_cov *cv, int first)
{
	char ver[160] = "", o1[300], n1[160];

	if (vfy_kid_split(cv->key_id, o1, sizeof(o1), n1, sizeof(n1), ver,
	    sizeof(ver)) != 0)
		ver[0] = '\0';
	vfy_out_str(o, first ? "\n    {\"key_id\": " : ",\n    {\"key_id\": ");
	vfy_out_json_str(o, cv->key_id);
	vfy_out_str(o, ", \"version\": ");
	if (ver[0])
		vfy_out_json_str(o, ver);
	else
		vfy_out_str(o, "null");
	vfy_out_fmt(o, ", \"provider\": \"%s\", \"algorithms\": ",
	    atr_provider_name((enum atr_provider_type)cv->provider));
	json_bits(o, cv->algs, vfy_alg_bit_name);
	vfy_out_str(o, ", \"kinds\": ");
	json_bits(o, cv->kinds, atr_stanza_kind_name);
	if (cv->rsa_max > 0)
		vfy_out_fmt(o, ", \"rsa_bits\": [%u, %u]", cv->rsa_min,
		    cv->rsa_max);
	else
		vfy_out_str(o, ", \"rsa_bits\": null");
	vfy_out_fmt(o, ", \"objects\": %llu, \"opened\": %llu, "
	    "\"wraps\": %llu, \"configured\": %s, \"primary\": %s, "
	    "\"current\": %s}", (unsigned long long)cv->objects,
	    (unsigned long long)cv->opened,
	    (unsigned long long)cv->direct + cv->nshares,
	    cv->configured ? "true" : "false",
	    cv->primary ? "true" : "false",
	    cv->current ? "true" : "false");
}

enum atr_err
vfy_write_json(const struct vfy_report *r, const char *path)
{
	struct atr_outfile of;
	struct vfy_out *o;
	enum atr_err e;
	char when[64];
	size_t i;
	int c;

	o = malloc(sizeof(*o));
	if (o == NULL)
		return ATR_ERR_NOMEM;
	e = begin(&of, path, o);
	if (e != ATR_OK) {
		free(o);
		return e;
	}
	iso_time(r->started, when, sizeof(when));
	vfy_out_fmt(o, "{\n  \"schema\": \"%s\",\n  \"tool\": {\"name\": "
	    "\"atrest\", \"version\": \"%s\"},\n", VFY_SCHEMA,
	    ATR_VERSION_STRING);
	vfy_out_fmt(o, "  \"run\": {\"started\": \"%s\", \"elapsed_ms\": %lld, "
	    "\"jobs\": %u, \"merged_from\": %u, \"split_objects\": %llu, "
	    "\"split_rechecked\": %llu, \"helped_batches\": %llu},\n",
	    when,
	    (long long)r->elapsed_ms, r->jobs, r->merged_from,
	    (unsigned long long)r->split_objects,
	    (unsigned long long)r->split_rechecked,
	    (unsigned long long)r->helped_batches);
	json_config(o, r);
	json_summary(o, r);
	vfy_out_str(o, "  \"checks\": [");
	for (c = 0; c < VFY_NCHECKS; c++)
		json_check(o, r, c);
	vfy_out_str(o, "\n  ],\n  \"coverage\": [");
	for (i = 0; i < r->cov.n; i++)
		json_cov(o, &r->cov.v[i], i == 0);
	vfy_out_str(o, r->cov.n ? "\n  ]" : "]");
	json_versions(o, r);
	if (r->keep_shard_data)
		json_shard_data(o, r);
	vfy_out_str(o, "\n}\n");
	e = end(&of, o);
	free(o);
	return e;
}

/* ---- JUnit ------------------------------------------------------------- */

/* The display path of a finding: under its STORE, or its subject. */
static void
finding_path(const struct vfy_report *r, const struct vfy_finding *f,
    char *p, size_t cap)
{
	if (f->store >= 0)
		vfy_display_path(r, f->store, f->subject, p, cap);
	else
		snprintf(p, cap, "%s", f->subject);
}

/* <testsuites>, <testsuite> and its <properties> (stores, keys). */
static void
junit_head(struct vfy_out *o, const struct vfy_report *r)
{
	int c, failures = 0, skipped = 0, errors = r->incomplete ? 1 : 0;
	int tests = VFY_NCHECKS + (r->incomplete ? 1 : 0);
	char when[64], secs[32];
	size_t i;

	for (c = 0; c < VFY_NCHECKS; c++) {
		if (r->checks[c].status == VFY_FAILED)
			failures++;
		else if (r->checks[c].status == VFY_SKIPPED)
			skipped++;
	}
	iso_time(r->started, when, sizeof(when));
	snprintf(secs, sizeof(secs), "%.3f", (double)r->elapsed_ms / 1000.0);
	vfy_out_str(o, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
	vfy_out_fmt(o, "<testsuites name=\"atrest verify\" tests=\"%d\" "
	    "failures=\"%d\" errors=\"%d\" skipped=\"%d\" time=\"%s\">\n",
	    tests, failures, errors, skipped, secs);
	vfy_out_fmt(o, "  <testsuite name=\"atrest.verify\" tests=\"%d\" "
	    "failures=\"%d\" errors=\"%d\" skipped=\"%d\" time=\"%s\" "
	    "timestamp=\"%.19s\">\n", tests, failures, errors, skipped, secs,
	    when);
	vfy_out_str(o, "    <properties>\n");
	for (i = 0; i < r->nstores; i++) {
		vfy_out_str(o, "      <property name=\"store\" value=\"");
		vfy_out_xml_str(o, r->stores[i].arg);
		vfy_out_str(o, "\"/>\n");
	}
	for (i = 0; i < r->nkeys; i++) {
		vfy_out_str(o, "      <property name=\"key\" value=\"");
		vfy_out_xml_str(o, r->keys[i].uri);
		vfy_out_str(o, "\"/>\n");
	}
	vfy_out_str(o, "    </properties>\n");
}

/* A failed check: its kept error findings, one a line. */
static void
junit_failure(struct vfy_out *o, const struct vfy_report *r,
    const struct vfy_checkres *k2)
{
	char p[4096];
	size_t k;

	vfy_out_fmt(o, "      <failure type=\"error\" message=\"%llu "
	    "error finding%s\">", (unsigned long long)k2->f.count[2],
	    k2->f.count[2] == 1 ? "" : "s");
	for (k = 0; k < k2->f.n; k++) {
		const struct vfy_finding *f = &k2->f.v[k];

		if (f->sev != VFY_ERROR)
			continue;
		finding_path(r, f, p, sizeof(p));
		vfy_out_fmt(o, "%s ", f->code);
		vfy_out_xml_str(o, p);
		if (f->offset >= 0)
			vfy_out_fmt(o, " @%lld", (long long)f->offset);
		vfy_out_str(o, ": ");
		vfy_out_xml_str(o, f->message);
		vfy_out_str(o, "\n");
	}
	if (k2->f.count[2] > k2->f.n)
		vfy_out_str(o, "(more in the JSON report)\n");
	vfy_out_str(o, "</failure>\n");
}

/* Warnings and infos of a check, as its <system-out>. */
static void
junit_out(struct vfy_out *o, const struct vfy_report *r,
    const struct vfy_checkres *k2)
{
	char p[4096];
	size_t k;

	vfy_out_str(o, "      <system-out>");
	for (k = 0; k < k2->f.n; k++) {
		const struct vfy_finding *f = &k2->f.v[k];

		if (f->sev == VFY_ERROR)
			continue;
		finding_path(r, f, p, sizeof(p));
		vfy_out_fmt(o, "%s %s ", vfy_sev_name(f->sev), f->code);
		vfy_out_xml_str(o, p);
		vfy_out_str(o, ": ");
		vfy_out_xml_str(o, f->message);
		vfy_out_str(o, "\n");
	}
	vfy_out_str(o, "</system-out>\n");
}

/* One <testcase> per check. */
static void
junit_case(struct vfy_out *o, const struct vfy_report *r, int c)
{
	const struct vfy_checkres *k2 = &r->checks[c];

	vfy_out_fmt(o, "    <testcase classname=\"atrest.verify\" "
	    "name=\"%s\" time=\"0\">\n", vfy_check_name(c));
	if (k2->status == VFY_FAILED) {
		junit_failure(o, r, k2);
	} else if (k2->status == VFY_SKIPPED) {
		vfy_out_str(o, "      <skipped message=\"");
		vfy_out_xml_str(o, k2->reason);
		vfy_out_str(o, "\"/>\n");
	}
	if (k2->f.count[1] + k2->f.count[0] > 0)
		junit_out(o, r, k2);
	vfy_out_str(o, "    </testcase>\n");
}

enum atr_err
vfy_write_junit(const struct vfy_report *r, const char *path)
{
	struct atr_outfile of;
	struct vfy_out *o;
	enum atr_err e;
	int c;

	o = malloc(sizeof(*o));
	if (o == NULL)
		return ATR_ERR_NOMEM;
	e = begin(&of, path, o);
	if (e != ATR_OK) {
		free(o);
		return e;
	}
	junit_head(o, r);
	for (c = 0; c < VFY_NCHECKS; c++)
		junit_case(o, r, c);
	if (r->incomplete) {
		vfy_out_str(o, "    <testcase classname=\"atrest.verify\" "
		    "name=\"run\" time=\"0\">\n      <error type=\"incomplete\" "
		    "message=\"");
		vfy_out_xml_str(o, r->incomplete_why[0] ? r->incomplete_why :
		    "the verification did not complete");
		vfy_out_str(o, "\"/>\n    </testcase>\n");
	}
	vfy_out_str(o, "  </testsuite>\n</testsuites>\n");
	e = end(&of, o);
	free(o);
	return e;
}

/* ---- text -------------------------------------------------------------- */

static const char *const text_tag[4] = {"PASS", "WARN", "FAIL", "SKIP"};
static const char *const text_col[4] = {"\033[32m", "\033[33m",
    "\033[31m", "\033[2m"};

/* One check's line and up to maxf of its findings (infos only when
 * verbose), then how many more there are. */
static void
text_check(const struct vfy_report *r, int c, FILE *f, int color,
    int verbose, unsigned maxf)
{
	const struct vfy_checkres *k = &r->checks[c];
	char p[4096], q[ATR_QUOTE_BUF], m[ATR_QUOTE_BUF];
	uint64_t listed;
	unsigned shown = 0;
	size_t i;

	if (color)
		fprintf(f, "  %s%s\033[0m  ", text_col[k->status],
		    text_tag[k->status]);
	else
		fprintf(f, "  %s  ", text_tag[k->status]);
	fprintf(f, "%-11s %s", vfy_check_name(c), vfy_check_title(c));
	if (k->f.count[2] || k->f.count[1])
		fprintf(f, " (%llu error%s, %llu warning%s)",
		    (unsigned long long)k->f.count[2],
		    k->f.count[2] == 1 ? "" : "s",
		    (unsigned long long)k->f.count[1],
		    k->f.count[1] == 1 ? "" : "s");
	if (k->status == VFY_SKIPPED)
		fprintf(f, ": %s", atr_escape(k->reason, m, sizeof(m)));
	fputc('\n', f);
	for (i = 0; i < k->f.n && shown < maxf; i++) {
		const struct vfy_finding *fd = &k->f.v[i];

		if (fd->sev == VFY_INFO && !verbose)
			continue;
		finding_path(r, fd, p, sizeof(p));
		/* File names are quoted, key URIs and messages escaped
		 * (core/quote.h): a file named "x\n  PASS  ..." cannot forge
		 * a line. */
		fprintf(f, "        %-7s %s %s", vfy_sev_name(fd->sev),
		    fd->code, fd->store >= 0 ? atr_quote(p, q, sizeof(q)) :
		    atr_escape(p, q, sizeof(q)));
		if (fd->offset >= 0)
			fprintf(f, " @%lld", (long long)fd->offset);
		fprintf(f, ": %s\n", atr_escape(fd->message, m, sizeof(m)));
		shown++;
	}
	listed = k->f.count[2] + k->f.count[1] + (verbose ? k->f.count[0] : 0);
	if (listed > shown)
		fprintf(f, "        ... %llu more (see --json)\n",
		    (unsigned long long)(listed - shown));
}

static const char *
text_result(const struct vfy_report *r, int x)
{
	if (x == 0)
		return "PASS";
	if (x == 1)
		return "FAIL";
	return r->incomplete ? "INCOMPLETE" : "NOTHING VERIFIED";
}

/* One line per key version in use: objects, state, findings. */
static void
text_versions(const struct vfy_report *r, FILE *f)
{
	char q[ATR_QUOTE_BUF], exp[32];
	size_t i;

	if (r->nversions > 0)
		fprintf(f, "  key versions in use:\n");
	for (i = 0; i < r->nversions; i++) {
		const struct vfy_version *v = &r->versions[i];

		if (v->has_exp)
			iso_time(v->exp, exp, sizeof(exp));
		fprintf(f, "    %s: %llu object%s, %s%s, %s-%u, exp %s, "
		    "%llu finding%s\n", atr_escape(v->kid, q, sizeof(q)),
		    (unsigned long long)v->objects, v->objects == 1 ? "" : "s",
		    !v->available ? "attributes unavailable" : v->enabled ?
		    "enabled" : "disabled", v->resolved ? ", current" : "",
		    v->kty[0] ? v->kty : "?", v->bits,
		    v->has_exp ? exp : "none", (unsigned long long)v->findings,
		    v->findings == 1 ? "" : "s");
	}
}

void
vfy_write_text(const struct vfy_report *r, FILE *f,
    const struct vfy_text_opts *opt)
{
	unsigned maxf = opt && opt->max_per_check ? opt->max_per_check : 5;
	int color = opt ? opt->color : 0, verbose = opt ? opt->verbose : 0;
	char hb[32], m[ATR_QUOTE_BUF];
	uint64_t t[3];
	int c, x;

	totals(r, t);
	fprintf(f, "atrest verify: %lld file%s, %lld envelope%s, %lld opened, "
	    "%s in %.1f s", (long long)r->stats[VS_FILES],
	    r->stats[VS_FILES] == 1 ? "" : "s",
	    (long long)r->stats[VS_ENVELOPES],
	    r->stats[VS_ENVELOPES] == 1 ? "" : "s",
	    (long long)r->stats[VS_D_OPENED],
	    atr_fmt_bytes((uint64_t)r->stats[VS_BYTES], hb, sizeof(hb)),
	    (double)r->elapsed_ms / 1000.0);
	if (r->shard_n > 1)
		fprintf(f, " (shard %u/%u)", r->shard_k, r->shard_n);
	if (r->is_merged)
		fprintf(f, " (merged from %u reports)", r->merged_from);
	fputc('\n', f);
	fprintf(f, "  %lld object%s proven by decryption\n",
	    (long long)r->stats[VS_D_PROVEN],
	    r->stats[VS_D_PROVEN] == 1 ? "" : "s");
	if (r->revocation_drill)
		fprintf(f, "  revocation drill: %lld key version%s disabled, "
		    "%lld objects tried, %lld opened, latency %lld ms, "
		    "%lld ms in all\n",
		    (long long)r->stats[VS_N_DRILL_VERSIONS],
		    r->stats[VS_N_DRILL_VERSIONS] == 1 ? "" : "s",
		    (long long)r->stats[VS_N_DRILL],
		    (long long)r->stats[VS_N_DRILL_OPENED],
		    (long long)r->stats[VS_N_DRILL_LATENCY_MS],
		    (long long)r->stats[VS_N_DRILL_MS]);
	for (c = 0; c < VFY_NCHECKS; c++)
		text_check(r, c, f, color, verbose, maxf);
	text_versions(r, f);
	x = vfy_report_exit(r);
	if (color)
		fprintf(f, "result: %s%s\033[0m", x == 0 ? text_col[0] :
		    text_col[2], text_result(r, x));
	else
		fprintf(f, "result: %s", text_result(r, x));
	fprintf(f, " - %llu error%s, %llu warning%s", (unsigned long long)t[2],
	    t[2] == 1 ? "" : "s", (unsigned long long)t[1],
	    t[1] == 1 ? "" : "s");
	if (r->incomplete)
		fprintf(f, "; incomplete: %s",
		    atr_escape(r->incomplete_why, m, sizeof(m)));
	else if (x == 2)
		fprintf(f, "; %s", vfy_nothing_verified(r));
	fprintf(f, " (exit %d)\n", x);
}
