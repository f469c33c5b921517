/*
 * verify_html.c - one verify report (docs/VERIFY.md, "JSON report
 * (atrest-verify/1)") as a section of the page: the verdict first, then
 * what was proven (counts, stores, keys, coverage, key versions, the
 * revocation drill, the policy in force), then one section per check
 * with its findings and the fix for each (verify_fixes.c).
 *
 * The document is hostile until shown otherwise: every string goes
 * through rb_text, every number must be a finite JSON number, a member
 * that is missing or of the wrong type is shown as "not in report", and
 * only what the page cannot be built without (summary.status, the
 * checks with their id and status) refuses the document, naming the
 * file and the member (ATR_ERR_FORMAT).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "report_int.h"

#define NA "<span class=\"na\">not in report</span>"

/* The verdicts and the exit status each stands for (docs/VERIFY.md,
 * "Exit status"); the report's own exit_code is shown when it has one. */
static const struct {
	const char *status, *verdict, *meaning;
	int exit_code;
} verdicts[] = {
	{"pass", "PASS", "every check passed", 0},
	{"warn", "WARN", "every check passed; warnings to read", 0},
	{"fail", "FAIL", "at least one error-severity finding", 1},
	{"incomplete", "INCOMPLETE", "the run did not finish: the "
	    "verdict covers only what was examined", 2},
	{"nothing-verified", "NOTHING-VERIFIED", "no object was proven by "
	    "decryption: no verdict without evidence", 2},
};

static const char *const check_statuses[] = {"pass", "warn", "fail",
    "skip"};

static const cJSON *
mem(const cJSON *j, const char *name)
{
	return cJSON_IsObject(j) ? cJSON_GetObjectItemCaseSensitive(j, name) :
	    NULL;
}

/* A finite JSON number; 0 otherwise. */
static int
num_of(const cJSON *j, double *v)
{
	if (j == NULL || !cJSON_IsNumber(j) || !isfinite(j->valuedouble))
		return 0;
	*v = j->valuedouble;
	return 1;
}

static void
put_int(struct rpt_buf *b, const cJSON *j)
{
	double v;

	if (num_of(j, &v))
		rb_num(b, v, fabs(v - floor(v)) > 0 ? 3 : 0);
	else if (cJSON_IsNull(j))
		rb_raw(b, "&#8212;");
	else
		rb_raw(b, NA);
}

/* "1 error", "3 errors": a count and its noun, singular for 1. */
static void
put_count(struct rpt_buf *b, const cJSON *j, const char *one,
    const char *many)
{
	double v;

	put_int(b, j);
	rb_raw(b, " ");
	rb_raw(b, num_of(j, &v) && v == 1 ? one : many);
}

static void
put_str(struct rpt_buf *b, const cJSON *j)
{
	if (cJSON_IsString(j))
		rb_text(b, j->valuestring);
	else if (cJSON_IsNull(j))
		rb_raw(b, "&#8212;");
	else
		rb_raw(b, NA);
}

static void
put_bool(struct rpt_buf *b, const cJSON *j)
{
	if (cJSON_IsBool(j))
		rb_raw(b, cJSON_IsTrue(j) ? "yes" : "no");
	else
		rb_raw(b, NA);
}

/* Strings of an array joined by ", " (at most 64 shown). */
static void
put_strs(struct rpt_buf *b, const cJSON *a)
{
	const cJSON *e;
	int n = 0;

	if (cJSON_IsNull(a)) {
		rb_raw(b, "&#8212;");
		return;
	}
	if (!cJSON_IsArray(a)) {
		rb_raw(b, NA);
		return;
	}
	cJSON_ArrayForEach(e, a) {
		if (n == 64) {
			rb_raw(b, ", &#8230;");
			break;
		}
		if (n++ > 0)
			rb_raw(b, ", ");
		if (cJSON_IsString(e))
			rb_text(b, e->valuestring);
		else if (cJSON_IsNumber(e))
			put_int(b, e);
		else
			rb_raw(b, "?");
	}
}

/* Any scalar (policy values): string, number, bool, null, or a list. */
static void
put_scalar(struct rpt_buf *b, const cJSON *j)
{
	if (cJSON_IsBool(j))
		put_bool(b, j);
	else if (cJSON_IsNumber(j) || cJSON_IsNull(j))
		put_int(b, j);
	else if (cJSON_IsArray(j))
		put_strs(b, j);
	else
		put_str(b, j);
}

/* Seconds since 1970 as a UTC date, for the versions' nbf and exp. */
static void
put_time(struct rpt_buf *b, const cJSON *j)
{
	char s[32];
	struct tm tm;
	time_t t;
	double v;

	if (!num_of(j, &v) || v < 0 || v > 253402300799.0) {
		put_int(b, j);
		return;
	}
	t = (time_t)v;
	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(s, sizeof(s), "%Y-%m-%d %H:%M:%SZ", &tm) == 0) {
		put_int(b, j);
		return;
	}
	rb_raw(b, s);
}

/* Bytes with a binary unit beside the exact count. */
static void
put_bytes(struct rpt_buf *b, const cJSON *j)
{
	static const char *const unit[] = {"KiB", "MiB", "GiB", "TiB"};
	double v, u;
	int i = 0;

	put_int(b, j);
	if (!num_of(j, &v) || v < 1024)
		return;
	for (u = v / 1024; u >= 1024 && i < 3; i++)
		u /= 1024;
	rb_rawf(b, " (%.1f %s)", u, unit[i]);
}

/* A row "<tr><th>label</th><td>...": the caller writes the cell. */
static void
row(struct rpt_buf *b, const char *label)
{
	rb_rawf(b, "<tr><th scope=\"row\">%s</th><td>", label);
}

/* The anchor of a check: its id when it is a plain name, else its
 * index (the id attribute must stay a token). */
void
rpt_check_anchor(char *out, size_t n, const char *id, const cJSON *ck,
    size_t idx)
{
	const cJSON *c = mem(ck, "id");
	const char *s = cJSON_IsString(c) ? c->valuestring : "";
	size_t i, l = strlen(s);
	int ok = l > 0 && l <= 32;

	for (i = 0; ok && i < l; i++)
		ok = (s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '_';
	if (ok)
		snprintf(out, n, "%s-check-%s", id, s);
	else
		snprintf(out, n, "%s-check-%zu", id, idx + 1);
}

int
rpt_verdict_of(const cJSON *json, const char **verdict, int *exit_code)
{
	const cJSON *st = mem(mem(json, "summary"), "status");
	const cJSON *ec = mem(mem(json, "summary"), "exit_code");
	double v;
	size_t i;

	if (st == NULL || !cJSON_IsString(st))
		return 0;
	for (i = 0; i < sizeof(verdicts) / sizeof(verdicts[0]); i++)
		if (strcmp(st->valuestring, verdicts[i].status) == 0) {
			*verdict = verdicts[i].verdict;
			*exit_code = verdicts[i].exit_code;
			if (num_of(ec, &v) && v >= 0 && v <= 255 &&
			    v == floor(v))
				*exit_code = (int)v;
			return 1;
		}
	return 0;
}

/* Validates what the section cannot be built without. */
static enum atr_err
check_required(const struct rpt_doc *d)
{
	const cJSON *sum = mem(d->json, "summary");
	const cJSON *checks = mem(d->json, "checks"), *ck, *m;
	const char *v;
	size_t i = 0, k;
	int ec, ok;

	if (!cJSON_IsObject(sum))
		return atr_fail(ATR_ERR_FORMAT, "%s: \"summary\" is missing or "
		    "not an object", d->path);
	if (!rpt_verdict_of(d->json, &v, &ec))
		return atr_fail(ATR_ERR_FORMAT, "%s: \"summary.status\" is "
		    "missing or not one of pass, warn, fail, incomplete, "
		    "nothing-verified", d->path);
	if (!cJSON_IsArray(checks))
		return atr_fail(ATR_ERR_FORMAT, "%s: \"checks\" is missing or "
		    "not an array", d->path);
	cJSON_ArrayForEach(ck, checks) {
		if (!cJSON_IsString(mem(ck, "id")))
			return atr_fail(ATR_ERR_FORMAT, "%s: \"checks[%zu].id\" "
			    "is missing or not a string", d->path, i);
		m = mem(ck, "status");
		ok = 0;
		for (k = 0; cJSON_IsString(m) && k < 4; k++)
			ok |= strcmp(m->valuestring, check_statuses[k]) == 0;
		if (!ok)
			return atr_fail(ATR_ERR_FORMAT, "%s: \"checks[%zu]."
			    "status\" is missing or not one of pass, warn, fail, "
			    "skip", d->path, i);
		m = mem(ck, "findings");
		if (m != NULL && !cJSON_IsArray(m))
			return atr_fail(ATR_ERR_FORMAT, "%s: \"checks[%zu]."
			    "findings\" is not an array", d->path, i);
		i++;
	}
	return ATR_OK;
}

static void
verdict_line(struct rpt_buf *b, const struct rpt_doc *d)
{
	const cJSON *sum = mem(d->json, "summary"), *m;
	const char *v = "?";
	size_t i;
	int ec = 2;

	(void)rpt_verdict_of(d->json, &v, &ec);
	rb_rawf(b, "<p class=\"verdict\" data-verdict=\"%s\"><strong>%s"
	    "</strong> &#8212; ", v, v);
	for (i = 0; i < sizeof(verdicts) / sizeof(verdicts[0]); i++)
		if (strcmp(v, verdicts[i].verdict) == 0)
			rb_raw(b, verdicts[i].meaning);
	rb_raw(b, "; ");
	put_count(b, mem(sum, "errors"), "error", "errors");
	rb_raw(b, ", ");
	put_count(b, mem(sum, "warnings"), "warning", "warnings");
	rb_raw(b, ", ");
	put_count(b, mem(sum, "infos"), "info", "infos");
	rb_rawf(b, ". <span class=\"exit\">exit status %d</span>", ec);
	m = mem(sum, "incomplete_reason");
	if (cJSON_IsString(m) && m->valuestring[0] != '\0') {
		rb_raw(b, "<br>Incomplete: ");
		rb_text(b, m->valuestring);
	}
	m = mem(sum, "nothing_verified_reason");
	if (cJSON_IsString(m) && m->valuestring[0] != '\0') {
		rb_raw(b, "<br>Nothing verified: ");
		rb_text(b, m->valuestring);
	}
	rb_raw(b, "</p>\n");
}

static const cJSON *
check_by_id(const cJSON *json, const char *id)
{
	const cJSON *ck, *m;

	cJSON_ArrayForEach(ck, mem(json, "checks")) {
		m = mem(ck, "id");
		if (cJSON_IsString(m) && strcmp(m->valuestring, id) == 0)
			return ck;
	}
	return NULL;
}

static void
proven_counts(struct rpt_buf *b, const cJSON *json)
{
	const cJSON *sum = mem(json, "summary"), *run = mem(json, "run");
	const cJSON *m;
	double v;

	rb_raw(b, "<table class=\"summary\">\n<caption>Counts</caption>\n");
	row(b, "files");
	put_int(b, mem(sum, "files"));
	rb_raw(b, "</td></tr>\n");
	row(b, "envelopes");
	put_int(b, mem(sum, "envelopes"));
	rb_raw(b, "</td></tr>\n");
	row(b, "opened (stanza unwrapped)");
	put_int(b, mem(sum, "opened"));
	rb_raw(b, "</td></tr>\n");
	row(b, "proven by decryption (every frame authenticated)");
	put_int(b, mem(sum, "proven_by_decryption"));
	rb_raw(b, "</td></tr>\n");
	row(b, "bytes");
	put_bytes(b, mem(sum, "bytes"));
	rb_raw(b, "</td></tr>\n");
	row(b, "run started");
	put_str(b, mem(run, "started"));
	rb_raw(b, "</td></tr>\n");
	row(b, "elapsed (ms)");
	put_int(b, mem(run, "elapsed_ms"));
	rb_raw(b, "</td></tr>\n");
	row(b, "worker threads");
	put_int(b, mem(run, "jobs"));
	rb_raw(b, "</td></tr>\n");
	m = mem(run, "merged_from");
	if (num_of(m, &v) && v > 1) {
		row(b, "merged from");
		put_int(b, m);
		rb_raw(b, " shard reports (atrest verify merge)</td></tr>\n");
	}
	m = mem(mem(json, "config"), "shard");
	if (cJSON_IsObject(m)) {
		row(b, "shard");
		put_int(b, mem(m, "k"));
		rb_raw(b, " of ");
		put_int(b, mem(m, "n"));
		rb_raw(b, "</td></tr>\n");
	}
	row(b, "atrest version");
	put_str(b, mem(mem(json, "tool"), "version"));
	rb_raw(b, "</td></tr>\n</table>\n");
}

static void
proven_config(struct rpt_buf *b, const cJSON *cfg)
{
	const cJSON *e, *m;

	rb_raw(b, "<table class=\"stores\">\n<caption>Stores</caption>\n"
	    "<thead><tr><th scope=\"col\">#</th><th scope=\"col\">path</th>"
	    "<th scope=\"col\">type</th></tr></thead>\n<tbody>\n");
	{
		int i = 0;

		cJSON_ArrayForEach(e, mem(cfg, "stores")) {
			if (i == 256)
				break;
			rb_rawf(b, "<tr><td>%d</td><td class=\"path\">", i++);
			put_str(b, mem(e, "path"));
			rb_raw(b, "</td><td>");
			put_str(b, mem(e, "type"));
			rb_raw(b, "</td></tr>\n");
		}
	}
	rb_raw(b, "</tbody>\n</table>\n");
	rb_raw(b, "<table class=\"keys\">\n<caption>Configured keys (the "
	    "first is the primary)</caption>\n<thead><tr>"
	    "<th scope=\"col\">URI</th><th scope=\"col\">key id</th>"
	    "<th scope=\"col\">provider</th><th scope=\"col\">description</th>"
	    "<th scope=\"col\">bits</th><th scope=\"col\">customer-managed</th>"
	    "<th scope=\"col\">primary</th></tr></thead>\n<tbody>\n");
	{
		int i = 0;

		cJSON_ArrayForEach(e, mem(cfg, "keys")) {
			if (i++ == 256)
				break;
			rb_raw(b, "<tr><td class=\"id\">");
			put_str(b, mem(e, "uri"));
			rb_raw(b, "</td><td class=\"id\">");
			put_str(b, mem(e, "key_id"));
			rb_raw(b, "</td><td>");
			put_str(b, mem(e, "provider"));
			rb_raw(b, "</td><td>");
			put_str(b, mem(e, "description"));
			rb_raw(b, "</td><td>");
			put_int(b, mem(e, "bits"));
			rb_raw(b, "</td><td>");
			put_bool(b, mem(e, "customer_managed"));
			rb_raw(b, "</td><td>");
			put_bool(b, mem(e, "primary"));
			rb_raw(b, "</td></tr>\n");
		}
	}
	rb_raw(b, "</tbody>\n</table>\n<table class=\"config\">\n"
	    "<caption>Run configuration</caption>\n");
	row(b, "current key id");
	put_str(b, mem(cfg, "current_key_id"));
	rb_raw(b, "</td></tr>\n");
	row(b, "control key");
	put_str(b, mem(cfg, "control_key"));
	rb_raw(b, "</td></tr>\n");
	row(b, "manifest");
	m = mem(cfg, "manifest");
	if (cJSON_IsObject(m)) {
		put_str(b, mem(m, "path"));
		rb_raw(b, " (SHA-256 <span class=\"id\">");
		put_str(b, mem(m, "sha256"));
		rb_raw(b, "</span>)");
	} else
		put_str(b, m);
	rb_raw(b, "</td></tr>\n");
	row(b, "fingerprint key");
	put_str(b, mem(cfg, "fingerprint_key"));
	rb_raw(b, "</td></tr>\n");
	row(b, "empty store allowed");
	put_bool(b, mem(cfg, "allow_empty"));
	rb_raw(b, "</td></tr>\n</table>\n");
}

static void
proven_coverage(struct rpt_buf *b, const cJSON *json)
{
	const cJSON *e, *m;
	int i = 0;

	rb_raw(b, "<table class=\"coverage\">\n<caption>Keys the objects are "
	    "wrapped under (coverage)</caption>\n<thead><tr>"
	    "<th scope=\"col\">key id</th><th scope=\"col\">version</th>"
	    "<th scope=\"col\">provider, algorithms, hierarchies</th>"
	    "<th scope=\"col\">RSA bits</th>"
	    "<th scope=\"col\">objects</th><th scope=\"col\">opened</th>"
	    "<th scope=\"col\">wraps</th>"
	    "<th scope=\"col\">configured, primary, current</th>"
	    "</tr></thead>\n<tbody>\n");
	cJSON_ArrayForEach(e, mem(json, "coverage")) {
		if (i++ == 1000) {
			rb_raw(b, "<tr><td colspan=\"8\">(the first 1000 "
			    "shown)</td></tr>\n");
			break;
		}
		rb_raw(b, "<tr><td class=\"id\">");
		put_str(b, mem(e, "key_id"));
		rb_raw(b, "</td><td>");
		put_str(b, mem(e, "version"));
		rb_raw(b, "</td><td>");
		put_str(b, mem(e, "provider"));
		rb_raw(b, "; ");
		put_strs(b, mem(e, "algorithms"));
		rb_raw(b, "; ");
		put_strs(b, mem(e, "kinds"));
		rb_raw(b, "</td><td>");
		m = mem(e, "rsa_bits");
		if (cJSON_IsArray(m) && cJSON_GetArraySize(m) == 2) {
			put_int(b, cJSON_GetArrayItem(m, 0));
			rb_raw(b, "&#8211;");
			put_int(b, cJSON_GetArrayItem(m, 1));
		} else
			put_strs(b, m);
		rb_raw(b, "</td><td>");
		put_int(b, mem(e, "objects"));
		rb_raw(b, "</td><td>");
		put_int(b, mem(e, "opened"));
		rb_raw(b, "</td><td>");
		put_int(b, mem(e, "wraps"));
		rb_raw(b, "</td><td>");
		put_bool(b, mem(e, "configured"));
		rb_raw(b, ", ");
		put_bool(b, mem(e, "primary"));
		rb_raw(b, ", ");
		put_bool(b, mem(e, "current"));
		rb_raw(b, "</td></tr>\n");
	}
	if (i == 0)
		rb_raw(b, "<tr><td colspan=\"8\">none in the report</td></tr>\n");
	rb_raw(b, "</tbody>\n</table>\n");

	m = mem(json, "versions");
	if (!cJSON_IsArray(m) || cJSON_GetArraySize(m) == 0)
		return;
	i = 0;
	rb_raw(b, "<table class=\"versions\">\n<caption>Key Vault key "
	    "versions in use, with their attributes</caption>\n<thead><tr>"
	    "<th scope=\"col\">versioned key id</th>"
	    "<th scope=\"col\">resolved (current)</th>"
	    "<th scope=\"col\">objects</th><th scope=\"col\">available</th>"
	    "<th scope=\"col\">enabled</th><th scope=\"col\">kty</th>"
	    "<th scope=\"col\">bits</th><th scope=\"col\">not before</th>"
	    "<th scope=\"col\">expires</th><th scope=\"col\">key_ops</th>"
	    "</tr></thead>\n<tbody>\n");
	cJSON_ArrayForEach(e, m) {
		if (i++ == 1000)
			break;
		rb_raw(b, "<tr><td class=\"id\">");
		put_str(b, mem(e, "kid"));
		rb_raw(b, "</td><td>");
		put_bool(b, mem(e, "resolved"));
		rb_raw(b, "</td><td>");
		put_int(b, mem(e, "objects"));
		rb_raw(b, "</td><td>");
		put_bool(b, mem(e, "available"));
		rb_raw(b, "</td><td>");
		put_bool(b, mem(e, "enabled"));
		rb_raw(b, "</td><td>");
		put_str(b, mem(e, "kty"));
		rb_raw(b, "</td><td>");
		put_int(b, mem(e, "bits"));
		rb_raw(b, "</td><td>");
		put_time(b, mem(e, "nbf"));
		rb_raw(b, "</td><td>");
		put_time(b, mem(e, "exp"));
		rb_raw(b, "</td><td>");
		put_strs(b, mem(e, "key_ops"));
		rb_raw(b, "</td></tr>\n");
	}
	rb_raw(b, "</tbody>\n</table>\n");
}

/* The drill (docs/VERIFY.md, "The revocation drill"): its numbers are
 * the negative check's stats, its failures the negative.revocation-*
 * findings. */
static void
proven_drill(struct rpt_buf *b, const cJSON *json)
{
	const cJSON *neg = check_by_id(json, "negative");
	const cJSON *st = mem(neg, "stats"), *f, *c;
	const cJSON *on = mem(mem(json, "config"), "revocation_drill");
	double att = 0, op = 0;
	int bad = 0, have;

	rb_raw(b, "<table class=\"drill\">\n<caption>Revocation drill"
	    "</caption>\n");
	row(b, "outcome");
	if (!cJSON_IsBool(on))
		rb_raw(b, NA);
	else if (!cJSON_IsTrue(on))
		rb_raw(b, "not run (verify without --revocation-drill)");
	else {
		cJSON_ArrayForEach(f, mem(neg, "findings")) {
			c = mem(f, "code");
			if (cJSON_IsString(c) && strncmp(c->valuestring,
			    "negative.revocation-", 20) == 0)
				bad++;
			if (cJSON_IsString(c) && strcmp(c->valuestring,
			    "negative.drill-interrupted") == 0)
				bad++;
		}
		have = num_of(mem(st, "revocation_attempts"), &att) &&
		    num_of(mem(st, "revocation_opened"), &op);
		if (!have)
			rb_raw(b, NA);
		else if (op > 0)
			rb_raw(b, "<strong>FAILED</strong>: objects opened "
			    "while every key version in use was disabled");
		else if (bad > 0)
			rb_raw(b, "<strong>NOT PROVEN</strong>: see the "
			    "negative check's findings");
		else if (att > 0)
			rb_raw(b, "<strong>PROVEN</strong>: with every key "
			    "version in use disabled, every attempt was "
			    "refused");
		else
			rb_raw(b, "<strong>NOT PROVEN</strong>: no object "
			    "was tried");
	}
	rb_raw(b, "</td></tr>\n");
	row(b, "key versions disabled");
	put_int(b, mem(st, "revocation_versions"));
	rb_raw(b, "</td></tr>\n");
	row(b, "objects tried");
	put_int(b, mem(st, "revocation_attempts"));
	rb_raw(b, "</td></tr>\n");
	row(b, "objects that still opened");
	put_int(b, mem(st, "revocation_opened"));
	rb_raw(b, "</td></tr>\n");
	row(b, "revocation latency (ms)");
	put_int(b, mem(st, "revocation_latency_ms"));
	rb_raw(b, "</td></tr>\n");
	row(b, "drill duration (ms)");
	put_int(b, mem(st, "drill_ms"));
	rb_raw(b, "</td></tr>\n</table>\n");
}

/* The policy in force (config.policy): its profile, then each setting. */
static void
proven_policy(struct rpt_buf *b, const cJSON *json)
{
	const cJSON *pol = mem(mem(json, "config"), "policy"), *sec, *e;
	int n = 0;

	rb_raw(b, "<p class=\"profile\">Policy profile in force: <strong>");
	put_str(b, mem(pol, "profile"));
	rb_raw(b, "</strong></p>\n");
	if (!cJSON_IsObject(pol))
		return;
	rb_raw(b, "<table class=\"policy\">\n<caption>Policy settings "
	    "(config.policy)</caption>\n<thead><tr><th scope=\"col\">"
	    "setting</th><th scope=\"col\">value</th></tr></thead>\n"
	    "<tbody>\n");
	cJSON_ArrayForEach(sec, pol) {
		if (!cJSON_IsObject(sec))
			continue;
		cJSON_ArrayForEach(e, sec) {
			if (n++ == 500)
				break;
			rb_raw(b, "<tr><th scope=\"row\">");
			rb_text(b, sec->string);
			rb_raw(b, ".");
			rb_text(b, e->string);
			rb_raw(b, "</th><td>");
			put_scalar(b, e);
			rb_raw(b, "</td></tr>\n");
		}
	}
	rb_raw(b, "</tbody>\n</table>\n");
}

static int
severity_ok(const cJSON *s)
{
	return cJSON_IsString(s) && (strcmp(s->valuestring, "error") == 0 ||
	    strcmp(s->valuestring, "warning") == 0 ||
	    strcmp(s->valuestring, "info") == 0);
}

static void
finding_row(struct rpt_buf *b, const cJSON *f)
{
	const cJSON *code = mem(f, "code"), *sev = mem(f, "severity");
	const cJSON *path = mem(f, "path");
	const char *fix = cJSON_IsString(code) ?
	    rpt_verify_fix(code->valuestring) : NULL;

	rb_raw(b, "<tr class=\"finding\" data-code=\"");
	if (cJSON_IsString(code))
		rb_attr(b, code->valuestring);
	/* The severity is one of three words or the row says it is not
	 * known: it lands in an attribute scripts select on. */
	rb_rawf(b, "\" data-severity=\"%s\"><td class=\"code\">",
	    severity_ok(sev) ? sev->valuestring : "unknown");
	put_str(b, code);
	rb_rawf(b, "</td><td class=\"sev sev-%s\">",
	    severity_ok(sev) ? sev->valuestring : "unknown");
	put_str(b, sev);
	rb_raw(b, "</td><td class=\"path\">");
	if (cJSON_IsString(path))
		rb_text(b, path->valuestring);
	else
		put_str(b, mem(f, "subject"));
	rb_raw(b, "</td><td class=\"num\">");
	put_int(b, mem(f, "offset"));
	rb_raw(b, "</td><td>");
	put_str(b, mem(f, "message"));
	rb_raw(b, "</td><td class=\"fix\">");
	if (fix != NULL)
		rb_text(b, fix);
	else
		rb_raw(b, "no fix known for this code (docs/VERIFY.md)");
	rb_raw(b, "</td></tr>\n");
}

static void
check_section(struct rpt_buf *b, const cJSON *ck, const char *id, size_t idx)
{
	const cJSON *st = mem(ck, "status"), *m, *f, *e;
	char anchor[96];
	double total = 0, v, kept = -1;
	size_t shown = 0, n;
	int have_total = 1;

	rpt_check_anchor(anchor, sizeof(anchor), id, ck, idx);
	rb_rawf(b, "<section class=\"check\" id=\"%s\" data-check=\"", anchor);
	rb_attr(b, mem(ck, "id")->valuestring);
	rb_rawf(b, "\" data-status=\"%s\">\n<h3>", st->valuestring);
	rb_text(b, mem(ck, "id")->valuestring);
	rb_raw(b, ": ");
	put_str(b, mem(ck, "title"));
	rb_rawf(b, " - <span class=\"status st-%s\">%s</span></h3>\n",
	    st->valuestring, strcmp(st->valuestring, "pass") == 0 ? "PASS" :
	    strcmp(st->valuestring, "warn") == 0 ? "WARN" :
	    strcmp(st->valuestring, "fail") == 0 ? "FAIL" : "SKIP");
	m = mem(ck, "reason");
	if (cJSON_IsString(m) && m->valuestring[0] != '\0') {
		rb_raw(b, "<p class=\"reason\">Reason: ");
		rb_text(b, m->valuestring);
		rb_raw(b, "</p>\n");
	}
	rb_raw(b, "<p class=\"counts\">");
	put_count(b, mem(ck, "errors"), "error", "errors");
	rb_raw(b, ", ");
	put_count(b, mem(ck, "warnings"), "warning", "warnings");
	rb_raw(b, ", ");
	put_count(b, mem(ck, "infos"), "info", "infos");
	m = mem(ck, "derived");
	if (cJSON_IsObject(m)) {
		rb_raw(b, " (store-wide: ");
		put_count(b, mem(m, "errors"), "error", "errors");
		rb_raw(b, ", ");
		put_count(b, mem(m, "warnings"), "warning", "warnings");
		rb_raw(b, ", ");
		put_count(b, mem(m, "infos"), "info", "infos");
		rb_raw(b, ")");
	}
	rb_raw(b, "</p>\n");

	m = mem(ck, "stats");
	if (cJSON_IsObject(m) && cJSON_GetArraySize(m) > 0) {
		n = 0;
		rb_raw(b, "<table class=\"stats\">\n<caption>Counters"
		    "</caption>\n<tbody>\n");
		cJSON_ArrayForEach(e, m) {
			if (n++ == 100)
				break;
			rb_raw(b, "<tr><th scope=\"row\">");
			rb_text(b, e->string);
			rb_raw(b, "</th><td class=\"num\">");
			put_int(b, e);
			rb_raw(b, "</td></tr>\n");
		}
		rb_raw(b, "</tbody>\n</table>\n");
	}

	/* Every finding is counted (errors + warnings + infos); the report
	 * keeps the first findings_kept; the page shows at most
	 * RPT_FINDINGS_MAX of those. */
	if (num_of(mem(ck, "errors"), &v))
		total += v;
	else
		have_total = 0;
	if (num_of(mem(ck, "warnings"), &v))
		total += v;
	else
		have_total = 0;
	if (num_of(mem(ck, "infos"), &v))
		total += v;
	else
		have_total = 0;
	(void)num_of(mem(ck, "findings_kept"), &kept);
	m = mem(ck, "findings");
	n = cJSON_IsArray(m) ? (size_t)cJSON_GetArraySize(m) : 0;
	if (n > 0) {
		rb_raw(b, "<table class=\"findings\">\n<caption>Findings"
		    "</caption>\n<thead><tr><th scope=\"col\">code</th>"
		    "<th scope=\"col\">severity</th>"
		    "<th scope=\"col\">path or subject</th>"
		    "<th scope=\"col\">offset</th><th scope=\"col\">message</th>"
		    "<th scope=\"col\">fix</th></tr></thead>\n<tbody>\n");
		cJSON_ArrayForEach(f, m) {
			if (shown == RPT_FINDINGS_MAX)
				break;
			finding_row(b, f);
			shown++;
		}
		rb_raw(b, "</tbody>\n</table>\n");
	}
	if (n > shown || (have_total && total > (double)shown)) {
		rb_rawf(b, "<p class=\"capped\">showing %zu of ", shown);
		if (have_total && total >= (double)n)
			rb_num(b, total, 0);
		else
			rb_rawf(b, "%zu", n);
		rb_raw(b, " findings");
		if (have_total && total > (double)n)
			rb_rawf(b, " (the report keeps the first %zu: "
			    "report.max_findings_per_check)", n);
		if (n > shown)
			rb_rawf(b, " (this page shows at most %u per check)",
			    RPT_FINDINGS_MAX);
		rb_raw(b, "</p>\n");
	} else if (n == 0)
		rb_raw(b, "<p class=\"none\">No findings.</p>\n");
	rb_raw(b, "</section>\n");
}

enum atr_err
rpt_verify_section(struct rpt_buf *b, const struct rpt_doc *d, const char *id)
{
	const cJSON *ck, *m;
	const char *verdict = "?";
	enum atr_err err;
	size_t i = 0;
	double v;
	int ec;

	err = check_required(d);
	if (err != ATR_OK)
		return err;
	(void)rpt_verdict_of(d->json, &verdict, &ec);
	rb_rawf(b, "<section class=\"verify\" id=\"%s\" data-verdict=\"%s\">\n"
	    "<h2>Verify: <span class=\"path\">", id, verdict);
	rb_text(b, d->path);
	rb_raw(b, "</span>");
	m = mem(mem(d->json, "run"), "merged_from");
	if (num_of(m, &v) && v > 1) {
		rb_raw(b, " (merged from ");
		rb_num(b, v, 0);
		rb_raw(b, " shard reports)");
	}
	rb_raw(b, "</h2>\n");
	verdict_line(b, d);

	rb_rawf(b, "<section class=\"proven\" id=\"%s-proven\">\n"
	    "<h3>What was proven</h3>\n", id);
	proven_counts(b, d->json);
	proven_config(b, mem(d->json, "config"));
	proven_coverage(b, d->json);
	proven_drill(b, d->json);
	proven_policy(b, d->json);
	rb_raw(b, "</section>\n");

	rb_rawf(b, "<h3 class=\"checks-head\" id=\"%s-checks\">Checks</h3>\n",
	    id);
	cJSON_ArrayForEach(ck, mem(d->json, "checks")) {
		if (i == RPT_CHECKS_MAX) {
			rb_rawf(b, "<p class=\"capped\">showing the first %u "
			    "checks</p>\n", RPT_CHECKS_MAX);
			break;
		}
		check_section(b, ck, id, i);
		i++;
	}
	if (i != 9)
		rb_rawf(b, "<p class=\"note\">This report has %zu checks; "
		    "atrest verify writes nine.</p>\n", i);
	rb_raw(b, "</section>\n");
	return ATR_OK;
}
