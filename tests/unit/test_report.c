/*
 * test_report.c - report/: the page builder's escaping (html.c), the fix
 * table (verify_fixes.c) against every code verify can emit, and the
 * verify part of the page (verify_html.c, render.c) for normal and
 * hostile verify reports: every string escaped, numbers validated,
 * findings capped, required members missing refused naming the file and
 * the member.  The real `atrest verify` reports are rendered by
 * tests/e2e/test_report_cli.c.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <cjson/cJSON.h>

#include "report_int.h"
#include "vfy_int.h"

static char *
esc(const char *s, size_t n)
{
	struct rpt_buf b;
	char *out;
	size_t len;

	rb_init(&b);
	rb_textn(&b, s, n);
	cr_assert_eq(rb_take(&b, &out, &len), ATR_OK);
	cr_assert_eq(strlen(out), len);
	return out;
}

static size_t
count(const char *hay, const char *needle)
{
	size_t n = 0, l = strlen(needle);

	while ((hay = strstr(hay, needle)) != NULL) {
		n++;
		hay += l;
	}
	return n;
}

Test(report_html, escapes_every_special_character)
{
	char *o = esc("a&b<c>d\"e'f", 11);

	cr_assert_str_eq(o, "a&amp;b&lt;c&gt;d&quot;e&#39;f");
	free(o);
	o = esc("<script>alert(1)</script>", 25);
	cr_assert_str_eq(o, "&lt;script&gt;alert(1)&lt;/script&gt;");
	free(o);
}

Test(report_html, control_characters_and_bad_utf8_become_replacements)
{
	/* NUL, ESC, DEL: replaced; tab and newline kept. */
	char *o = esc("a\0b\x1b" "c\x7f" "d\te\nf", 11);

	cr_assert_str_eq(o, "a\xef\xbf\xbd" "b\xef\xbf\xbd" "c\xef\xbf\xbd"
	    "d\te\nf");
	free(o);
	/* A lone continuation byte, an overlong '<' (C0 BC: would be '<'
	 * to a lax decoder), a surrogate, beyond U+10FFFF, a truncated
	 * sequence: each bad byte one U+FFFD, nothing decoded to '<'. */
	o = esc("\x80" "\xc0\xbc" "\xed\xa0\x80" "\xf4\x90\x80\x80" "\xe2\x82",
	    12);
	cr_assert_eq(strchr(o, '<'), NULL);
	cr_assert_eq(count(o, "\xef\xbf\xbd"), 12);
	cr_assert_eq(strlen(o), 12 * 3);
	free(o);
	/* Well-formed multibyte text passes as is. */
	o = esc("\xc3\xa9\xe2\x82\xac\xf0\x9f\x94\x91", 9);
	cr_assert_str_eq(o, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x94\x91");
	free(o);
}

Test(report_html, long_text_is_cut_with_an_ellipsis)
{
	size_t n = RB_TEXT_MAX * 4;
	char *s = malloc(n), *o;

	cr_assert_not_null(s);
	memset(s, 'x', n);
	o = esc(s, n);
	cr_assert_eq(strlen(o), RB_TEXT_MAX + 3);
	cr_assert_str_eq(o + RB_TEXT_MAX, "\xe2\x80\xa6");
	free(o);
	/* Exactly the limit: not cut. */
	o = esc(s, RB_TEXT_MAX);
	cr_assert_eq(strlen(o), RB_TEXT_MAX);
	free(o);
	/* A cut through a multibyte sequence leaves no half character. */
	memset(s, 'x', n);
	memcpy(s + RB_TEXT_MAX - 1, "\xe2\x82\xac", 3);
	o = esc(s, n);
	cr_assert_eq(count(o, "\xe2\x82\xac"), 0);
	cr_assert_eq(count(o, "\xef\xbf\xbd"), 1);
	free(o);
	free(s);
}

Test(report_html, numbers_that_are_not_finite_are_na)
{
	struct rpt_buf b;
	char *o;
	size_t len;

	rb_init(&b);
	rb_num(&b, NAN, 2);
	rb_raw(&b, "|");
	rb_num(&b, INFINITY, 0);
	rb_raw(&b, "|");
	rb_num(&b, 1.5, 1);
	cr_assert_eq(rb_take(&b, &o, &len), ATR_OK);
	cr_assert_str_eq(o, "n/a|n/a|1.5");
	free(o);
}

/* Every finding code verify can emit (verify/names.c, the table its
 * writers and reader go through) has a fix, and the fix table names no
 * code verify does not know: a new code without a remedy fails here. */
Test(report_fixes, every_finding_code_has_a_fix)
{
	size_t i, n = 0;

	for (i = 0; vfy_code_defs[i].code != NULL; i++) {
		const char *f = rpt_verify_fix(vfy_code_defs[i].code);

		cr_expect_not_null(f, "no fix for %s (report/verify_fixes.c)",
		    vfy_code_defs[i].code);
		if (f != NULL)
			cr_expect_gt(strlen(f), 3, "empty fix for %s",
			    vfy_code_defs[i].code);
		n++;
	}
	cr_assert_gt(n, 50);
	for (i = 0; i < rpt_verify_fix_count(); i++)
		cr_expect_geq(vfy_code_check(rpt_verify_fix_code(i)), 0,
		    "fix for %s, a code verify does not know",
		    rpt_verify_fix_code(i));
	cr_assert_null(rpt_verify_fix("no.such-code"));
	cr_assert_null(rpt_verify_fix(NULL));
}

/* A verify report with the nine checks, as verify writes one. */
static cJSON *
base_report(const char *status, int exit_code)
{
	static const char *const ids[] = {"envelope", "recipients", "decrypt",
	    "negative", "plaintext", "tamper", "uniqueness", "policy",
	    "rotation"};
	cJSON *j = cJSON_Parse("{\"schema\":\"atrest-verify/1\","
	    "\"tool\":{\"name\":\"atrest\",\"version\":\"0.1.0\"},"
	    "\"run\":{\"started\":\"2026-01-01T00:00:00Z\",\"elapsed_ms\":5,"
	    "\"jobs\":2,\"merged_from\":0},"
	    "\"config\":{\"stores\":[{\"path\":\"s\",\"type\":\"directory\"}],"
	    "\"keys\":[{\"uri\":\"file:k.pem\",\"key_id\":\"spki-sha256:ab\","
	    "\"provider\":\"file-rsa\",\"description\":\"d\",\"bits\":3072,"
	    "\"customer_managed\":true,\"primary\":true}],"
	    "\"current_key_id\":\"spki-sha256:ab\",\"control_key\":\"generated\","
	    "\"manifest\":null,\"shard\":null,\"revocation_drill\":false,"
	    "\"allow_empty\":false,\"fingerprint_key\":\"ephemeral\","
	    "\"policy\":{\"profile\":\"default\",\"algorithms\":"
	    "{\"rsa_min_bits\":3072}}},"
	    "\"summary\":{\"errors\":0,\"warnings\":0,\"infos\":0,\"files\":3,"
	    "\"envelopes\":3,\"opened\":3,\"bytes\":4096,"
	    "\"proven_by_decryption\":3},"
	    "\"checks\":[],\"coverage\":[],\"versions\":[]}");
	cJSON *checks, *c;
	size_t i;

	cr_assert_not_null(j);
	cJSON_AddStringToObject(cJSON_GetObjectItem(j, "summary"), "status",
	    status);
	cJSON_AddNumberToObject(cJSON_GetObjectItem(j, "summary"), "exit_code",
	    exit_code);
	checks = cJSON_GetObjectItem(j, "checks");
	for (i = 0; i < 9; i++) {
		c = cJSON_CreateObject();
		cJSON_AddStringToObject(c, "id", ids[i]);
		cJSON_AddStringToObject(c, "title", "a title");
		cJSON_AddStringToObject(c, "status", "pass");
		cJSON_AddStringToObject(c, "reason", "");
		cJSON_AddNumberToObject(c, "errors", 0);
		cJSON_AddNumberToObject(c, "warnings", 0);
		cJSON_AddNumberToObject(c, "infos", 0);
		cJSON_AddNumberToObject(c, "findings_kept", 0);
		cJSON_AddItemToObject(c, "stats", cJSON_CreateObject());
		cJSON_AddItemToObject(c, "findings", cJSON_CreateArray());
		cJSON_AddItemToArray(checks, c);
	}
	return j;
}

static cJSON *
check_of(cJSON *j, int i)
{
	return cJSON_GetArrayItem(cJSON_GetObjectItem(j, "checks"), i);
}

static cJSON *
add_finding(cJSON *ck, const char *code, const char *sev, const char *path,
    const char *msg)
{
	cJSON *f = cJSON_CreateObject();

	cJSON_AddStringToObject(f, "code", code);
	cJSON_AddStringToObject(f, "severity", sev);
	cJSON_AddNumberToObject(f, "store", 0);
	cJSON_AddStringToObject(f, "path", path);
	cJSON_AddStringToObject(f, "subject", path);
	cJSON_AddNullToObject(f, "offset");
	cJSON_AddStringToObject(f, "message", msg);
	cJSON_AddItemToArray(cJSON_GetObjectItem(ck, "findings"), f);
	return f;
}

static enum atr_err
render(const cJSON *j, const char *path, char **html)
{
	struct rpt_doc d;
	struct rpt_opts o;
	size_t len;
	enum atr_err e;

	memset(&d, 0, sizeof(d));
	memset(&o, 0, sizeof(o));
	d.path = path;
	d.json = j;
	d.kind = RPT_VERIFY;
	o.generated = "2026-01-01T00:00:00Z";
	o.version = "test";
	e = rpt_render(&d, 1, &o, html, &len);
	if (e == ATR_OK)
		cr_assert_eq(strlen(*html), len);
	return e;
}

Test(report_verify, a_pass_report_has_the_verdict_and_nine_checks)
{
	cJSON *j = base_report("pass", 0);
	char *h = NULL;

	cr_assert_eq(render(j, "r.json", &h), ATR_OK);
	cr_assert_not_null(strstr(h, "<section class=\"verify\" id=\"v1\" "
	    "data-verdict=\"PASS\">"));
	cr_assert_not_null(strstr(h, "<p class=\"verdict\" "
	    "data-verdict=\"PASS\"><strong>PASS</strong>"));
	cr_assert_not_null(strstr(h, "exit status 0"));
	cr_assert_eq(count(h, "<section class=\"check\""), 9);
	cr_assert_eq(count(h, "data-status=\"pass\""), 9);
	cr_assert_not_null(strstr(h, "id=\"v1-check-rotation\" "
	    "data-check=\"rotation\""));
	cr_assert_not_null(strstr(h, "<section class=\"proven\""));
	cr_assert_not_null(strstr(h, "Policy profile in force: "
	    "<strong>default</strong>"));
	cr_assert_not_null(strstr(h, "<header class=\"run\">"));
	cr_assert_not_null(strstr(h, "<nav class=\"toc\""));
	cr_assert_eq(count(h, "<h1>"), 1);
	cr_assert_null(strstr(h, "<script"));
	free(h);
	cJSON_Delete(j);
}

Test(report_verify, a_fail_report_shows_findings_with_their_fix)
{
	cJSON *j = base_report("fail", 1), *ck = check_of(j, 2);
	char *h = NULL;

	cJSON_ReplaceItemInObject(ck, "status", cJSON_CreateString("fail"));
	cJSON_ReplaceItemInObject(ck, "errors", cJSON_CreateNumber(1));
	add_finding(ck, "decrypt.auth-failed", "error", "/s/a.bin",
	    "the key unwrap failed");
	cr_assert_eq(render(j, "r.json", &h), ATR_OK);
	cr_assert_not_null(strstr(h, "data-verdict=\"FAIL\""));
	cr_assert_not_null(strstr(h, "exit status 1"));
	cr_assert_not_null(strstr(h, "data-check=\"decrypt\" "
	    "data-status=\"fail\""));
	cr_assert_not_null(strstr(h, "<tr class=\"finding\" "
	    "data-code=\"decrypt.auth-failed\" data-severity=\"error\">"));
	cr_assert_not_null(strstr(h, rpt_verify_fix("decrypt.auth-failed")));
	cr_assert_not_null(strstr(h, "st-fail\">FAIL</span></h3>"));
	free(h);
	cJSON_Delete(j);
}

Test(report_verify, merged_reports_say_so)
{
	cJSON *j = base_report("pass", 0);
	char *h = NULL;

	cJSON_ReplaceItemInObject(cJSON_GetObjectItem(j, "run"),
	    "merged_from", cJSON_CreateNumber(4));
	cr_assert_eq(render(j, "m.json", &h), ATR_OK);
	cr_assert_not_null(strstr(h, "(merged from 4 shard reports)"));
	free(h);
	cJSON_Delete(j);
}

/* Injection in every place a document's string lands: paths, messages,
 * codes, key ids, check ids and titles, policy names, the file name. */
Test(report_verify, hostile_strings_render_as_text)
{
	static const char *const evil = "<script>alert(\"x\")</script>"
	    "<img src=x onerror=alert(1)>'\"&";
	cJSON *j = base_report("fail", 1), *ck = check_of(j, 0), *k;
	char *h = NULL;

	cJSON_ReplaceItemInObject(ck, "status", cJSON_CreateString("fail"));
	add_finding(ck, evil, "error", evil, evil);
	cJSON_ReplaceItemInObject(ck, "title", cJSON_CreateString(evil));
	cJSON_ReplaceItemInObject(ck, "reason", cJSON_CreateString(evil));
	cJSON_ReplaceItemInObject(check_of(j, 1), "id",
	    cJSON_CreateString(evil));
	k = cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(j,
	    "config"), "keys"), 0);
	cJSON_ReplaceItemInObject(k, "key_id", cJSON_CreateString(evil));
	cJSON_ReplaceItemInObject(k, "uri", cJSON_CreateString(evil));
	cJSON_AddStringToObject(cJSON_GetObjectItem(cJSON_GetObjectItem(
	    cJSON_GetObjectItem(j, "config"), "policy"), "algorithms"),
	    evil, evil);
	cJSON_AddStringToObject(cJSON_GetObjectItem(check_of(j, 3), "stats"),
	    evil, "x");
	cr_assert_eq(render(j, evil, &h), ATR_OK);
	cr_assert_null(strstr(h, "<script"), "unescaped <script");
	cr_assert_null(strstr(h, "<img"), "unescaped <img");
	cr_assert_gt(count(h, "&lt;script&gt;alert(&quot;x&quot;)"
	    "&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;&#39;&quot;"
	    "&amp;"), 10);
	/* The hostile check id is not used as an anchor. */
	cr_assert_not_null(strstr(h, "id=\"v1-check-2\""));
	/* An unknown code: the fix says so. */
	cr_assert_not_null(strstr(h, "no fix known for this code"));
	free(h);
	cJSON_Delete(j);
}

/* A 10 MB string, a million findings, numbers that are not numbers. */
Test(report_verify, huge_and_malformed_values_are_capped, .timeout = 120)
{
	size_t big = 10U * 1024 * 1024, i;
	cJSON *j = base_report("fail", 1), *ck = check_of(j, 4), *fa, *f;
	char *s = malloc(big + 1), *h = NULL, *p;

	cr_assert_not_null(s);
	for (i = 0; i < big; i++)
		s[i] = "<script>"[i % 8];
	s[big] = '\0';
	cJSON_ReplaceItemInObject(ck, "status", cJSON_CreateString("fail"));
	add_finding(ck, "plaintext.canary", "error", s, s);
	free(s);
	fa = cJSON_GetObjectItem(ck, "findings");
	for (i = 0; i < 1000000; i++) {
		f = cJSON_CreateObject();
		cr_assert_not_null(f);
		cr_assert(cJSON_AddItemToArray(fa, f));
	}
	/* Strings, infinities and nonsense where numbers belong. */
	cJSON_ReplaceItemInObject(ck, "errors", cJSON_CreateString("NaN"));
	cJSON_ReplaceItemInObject(ck, "warnings", cJSON_CreateNumber(INFINITY));
	cJSON_ReplaceItemInObject(cJSON_GetObjectItem(j, "summary"), "files",
	    cJSON_CreateString("<b>many</b>"));
	cJSON_ReplaceItemInObject(cJSON_GetObjectItem(j, "summary"), "bytes",
	    cJSON_CreateNumber(NAN));
	cJSON_ReplaceItemInObject(cJSON_GetObjectItem(j, "summary"),
	    "exit_code", cJSON_CreateString("0"));
	cr_assert_eq(render(j, "big.json", &h), ATR_OK);
	cr_assert_null(strstr(h, "<script"));
	cr_assert_null(strstr(h, "<b>many"));
	/* The page does not grow with the input: 1000 rows of at most
	 * two capped strings each, and the rest. */
	cr_assert_lt(strlen(h), (size_t)(8 * 1024 * 1024), "%zu bytes",
	    strlen(h));
	cr_assert_eq(count(h, "<tr class=\"finding\""), RPT_FINDINGS_MAX);
	cr_assert_not_null(strstr(h, "showing 1000 of 1000001 findings"));
	cr_assert_not_null(strstr(h, "this page shows at most 1000 per "
	    "check"));
	/* The exit status comes from the status when exit_code is not a
	 * number. */
	cr_assert_not_null(strstr(h, "exit status 1"));
	p = strstr(h, "<th scope=\"row\">files</th><td>");
	cr_assert_not_null(p);
	cr_assert_not_null(strstr(p, "not in report"));
	free(h);
	cJSON_Delete(j);
}

static void
expect_refused(cJSON *j, const char *member)
{
	char *h = (char *)1;

	cr_assert_eq(render(j, "bad.json", &h), ATR_ERR_FORMAT, "%s", member);
	cr_assert_null(h);
	cr_assert_not_null(strstr(atr_detail(), "bad.json"), "%s",
	    atr_detail());
	cr_assert_not_null(strstr(atr_detail(), member), "%s: %s", member,
	    atr_detail());
	cJSON_Delete(j);
}

Test(report_verify, required_members_missing_refuse_the_document)
{
	cJSON *j;

	j = base_report("pass", 0);
	cJSON_DeleteItemFromObject(j, "summary");
	expect_refused(j, "\"summary\"");

	j = base_report("<script>", 0);
	expect_refused(j, "summary.status");

	j = base_report("pass", 0);
	cJSON_ReplaceItemInObject(j, "checks", cJSON_CreateString("x"));
	expect_refused(j, "\"checks\"");

	j = base_report("pass", 0);
	cJSON_ReplaceItemInObject(check_of(j, 3), "status",
	    cJSON_CreateString("fine"));
	expect_refused(j, "checks[3].status");

	j = base_report("pass", 0);
	cJSON_DeleteItemFromObject(check_of(j, 5), "id");
	expect_refused(j, "checks[5].id");

	j = base_report("pass", 0);
	cJSON_ReplaceItemInObject(check_of(j, 0), "findings",
	    cJSON_CreateNumber(3));
	expect_refused(j, "checks[0].findings");
}

/* Optional members missing, or of the wrong type, are "not in report",
 * never a crash. */
Test(report_verify, optional_members_missing_are_not_in_report)
{
	cJSON *j = base_report("incomplete", 2);
	char *h = NULL;

	cJSON_DeleteItemFromObject(j, "config");
	cJSON_DeleteItemFromObject(j, "run");
	cJSON_ReplaceItemInObject(j, "coverage", cJSON_CreateNumber(1));
	cJSON_DeleteItemFromObject(check_of(j, 0), "stats");
	cJSON_DeleteItemFromObject(check_of(j, 0), "title");
	cr_assert_eq(render(j, "partial.json", &h), ATR_OK);
	cr_assert_not_null(strstr(h, "data-verdict=\"INCOMPLETE\""));
	cr_assert_not_null(strstr(h, "exit status 2"));
	cr_assert_gt(count(h, "not in report"), 5);
	free(h);
	cJSON_Delete(j);
}

Test(report_verify, the_revocation_drill_outcome)
{
	cJSON *j = base_report("pass", 0), *st;
	char *h = NULL;

	cJSON_ReplaceItemInObject(cJSON_GetObjectItem(j, "config"),
	    "revocation_drill", cJSON_CreateTrue());
	st = cJSON_GetObjectItem(check_of(j, 3), "stats");
	cJSON_AddNumberToObject(st, "revocation_versions", 3);
	cJSON_AddNumberToObject(st, "revocation_attempts", 1000);
	cJSON_AddNumberToObject(st, "revocation_opened", 0);
	cJSON_AddNumberToObject(st, "revocation_latency_ms", 0);
	cJSON_AddNumberToObject(st, "drill_ms", 130);
	cr_assert_eq(render(j, "d.json", &h), ATR_OK);
	cr_assert_not_null(strstr(h, "<strong>PROVEN</strong>"));
	cr_assert_not_null(strstr(h, "drill duration (ms)</th><td>130"));
	free(h);
	cJSON_ReplaceItemInObject(st, "revocation_opened",
	    cJSON_CreateNumber(2));
	cr_assert_eq(render(j, "d.json", &h), ATR_OK);
	cr_assert_not_null(strstr(h, "<strong>FAILED</strong>"));
	free(h);
	cJSON_Delete(j);
}

/* The three schemas a page takes, and nothing else (a revocation run
 * is drawn by the bench part, which tells it from a results file). */
Test(report, classify_by_schema)
{
	static const struct {
		const char *json;
		int ok;
		enum rpt_kind kind;
	} t[] = {
		{"{\"schema\":\"atrest-verify/1\"}", 1, RPT_VERIFY},
		{"{\"schema\":\"atrest-bench/1\"}", 1, RPT_BENCH},
		{"{\"schema\":\"atrest-bench-revocation/1\"}", 1, RPT_BENCH},
		{"{\"schema\":\"atrest-verify/2\"}", 0, RPT_VERIFY},
		{"{\"schema\":7}", 0, RPT_VERIFY},
		{"{}", 0, RPT_VERIFY},
		{"[\"atrest-verify/1\"]", 0, RPT_VERIFY},
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		cJSON *j = cJSON_Parse(t[i].json);
		enum rpt_kind k = RPT_VERIFY;
		enum atr_err e;

		cr_assert_not_null(j);
		e = rpt_classify(j, &k);
		cr_expect_eq(e == ATR_OK, t[i].ok, "%s", t[i].json);
		if (t[i].ok)
			cr_expect_eq(k, t[i].kind, "%s", t[i].json);
		else
			cr_expect_eq(e, ATR_ERR_FORMAT, "%s", t[i].json);
		cJSON_Delete(j);
	}
}
