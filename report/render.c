/* see report.h */
#include "report_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum atr_err
rpt_classify(const cJSON *json, enum rpt_kind *kind)
{
	const cJSON *s = cJSON_GetObjectItemCaseSensitive(json, "schema");

	if (!cJSON_IsObject(json))
		return atr_fail(ATR_ERR_FORMAT, "not a JSON object");
	if (!cJSON_IsString(s))
		return atr_fail(ATR_ERR_FORMAT,
		    "no \"schema\" (neither a verify report nor bench results)");
	if (strcmp(s->valuestring, "atrest-verify/1") == 0)
		*kind = RPT_VERIFY;
	else if (strcmp(s->valuestring, "atrest-bench/1") == 0 ||
	    strcmp(s->valuestring, "atrest-bench-revocation/1") == 0)
		*kind = RPT_BENCH;  /* bench_html.c tells the two apart */
	else
		return atr_fail(ATR_ERR_FORMAT, "unknown schema (not "
		    "atrest-verify/1, atrest-bench/1 nor "
		    "atrest-bench-revocation/1)");
	return ATR_OK;
}

const char *
rpt_css_page(void)
{
	/* Light by default, dark by prefers-color-scheme (Media Queries
	 * Level 5); status words carry the meaning, colour only adds to it
	 * (WCAG 2.1, 1.4.1).  Print: A4, black on white, tables allowed to
	 * break between rows but not inside one, headers repeated. */
	return
":root{--fg:#1b1b1b;--bg:#fff;--mut:#5a5a5a;--line:#ccc;--head:#f2f2f2;"
"--pass:#1a7f37;--warn:#9a6700;--fail:#cf222e;--skip:#57606a;"
"color-scheme:light dark}\n"
"@media (prefers-color-scheme:dark){:root{--fg:#e6e6e6;--bg:#161a1d;"
"--mut:#a0a0a0;--line:#3a4045;--head:#22282d;--pass:#4ac26b;"
"--warn:#d4a72c;--fail:#ff7b72;--skip:#9da7b1}}\n"
"body{font:15px/1.45 system-ui,sans-serif;color:var(--fg);"
"background:var(--bg);margin:0}\n"
"main{max-width:80rem;margin:0 auto;padding:1rem 1.5rem}\n"
"h1{font-size:1.6rem;margin:.5rem 0}h2{font-size:1.3rem;"
"border-bottom:2px solid var(--line);margin-top:2rem}"
"h3{font-size:1.05rem;margin:1.2rem 0 .4rem}\n"
"header.run,.na,.note,.capped,caption{color:var(--mut)}\n"
"caption{text-align:left;font-weight:600;padding:.2rem 0}\n"
"table{border-collapse:collapse;margin:.4rem 0 1rem;font-size:.9rem}\n"
"th,td{border:1px solid var(--line);padding:.2rem .4rem;hyphens:auto;"
"text-align:left;vertical-align:top}\n"
"thead th{background:var(--head)}td.num{text-align:right}\n"
".path,.id,.code{font-family:ui-monospace,monospace;"
"overflow-wrap:anywhere}\n"
"table.findings{width:100%}td.fix{min-width:14rem}td.id{min-width:9rem}"
"td.code{min-width:11rem}\n"
".verdict{font-size:1.1rem;padding:.5rem .8rem;border-left:.4rem solid;"
"background:var(--head)}\n"
".verdict[data-verdict=PASS]{border-color:var(--pass)}"
".verdict[data-verdict=FAIL]{border-color:var(--fail)}"
".verdict[data-verdict=WARN],.verdict[data-verdict=INCOMPLETE],"
".verdict[data-verdict=NOTHING-VERIFIED]{border-color:var(--warn)}\n"
".st-pass,td.v-PASS{color:var(--pass)}.st-warn,.sev-warning,td.v-WARN"
"{color:var(--warn)}.st-fail,.sev-error,td.v-FAIL{color:var(--fail)}"
".st-skip{color:var(--skip)}.status,td[class^=v-]{font-weight:700}\n"
/* A check off screen is not laid out until scrolled to (CSS
	 * Containment 2, content-visibility): a page of 1000 findings opens
	 * in a tenth of the time; print shows every one. */
"section.check{content-visibility:auto;contain-intrinsic-size:auto 30rem;"
"border-left:.25rem solid var(--line);padding-left:.8rem}"
"section.check[data-status=fail]{border-color:var(--fail)}"
"section.check[data-status=warn]{border-color:var(--warn)}"
"section.check[data-status=pass]{border-color:var(--pass)}\n"
"nav.toc ul{margin:.2rem 0;padding-left:1.2rem}"
"nav.toc li{margin:.1rem 0}\n"
"a{color:inherit}\n"
"@page{size:A4;margin:15mm 12mm}\n"
"@media print{:root{--fg:#000;--bg:#fff;--mut:#333;--line:#999;"
"--head:#eee;--pass:#1a7f37;--warn:#7a5200;--fail:#b00020}"
"body{font-size:9.5pt}main{max-width:none;padding:0}"
"nav.toc{display:none}section.check{content-visibility:visible}"
"table{page-break-inside:auto;width:100%;font-size:8pt}"
	/* A4 holds about 700 CSS px: no column may insist on its screen
	 * width, any cell may break a long word, the 12-column comparison
	 * gets the smallest type. */
"th,td{padding:.1rem .2rem;overflow-wrap:anywhere}"
"td.fix,td.id,td.code{min-width:0}table.compare{font-size:7pt}"
"tr,figure{break-inside:avoid}thead{display:table-header-group}"
"h2,h3{break-after:avoid}section.verify~section.verify,section.bench"
"{break-before:page}"
"a{text-decoration:none}"
	/* Closed <details> (the charts' data tables) print open: the
	 * ::details-content pseudo-element (HTML, CSS Pseudo-Elements 4),
	 * Chromium 131 and later; older browsers print them closed. */
"details::details-content{content-visibility:visible;display:block;"
"height:auto}}\n";
}

/* <header class="run">: when, by which atrest, from which files. */
static void
page_header(struct rpt_buf *b, const struct rpt_doc *docs, size_t n,
    const struct rpt_opts *o)
{
	size_t i;

	rb_raw(b, "<header class=\"run\">\n<p>Generated ");
	rb_text(b, o != NULL && o->generated != NULL ? o->generated :
	    "(time unknown)");
	rb_raw(b, " by atrest ");
	rb_text(b, o != NULL && o->version != NULL ? o->version : "?");
	rb_raw(b, ". Self-contained: nothing on this page loads from the "
	    "network.</p>\n<p>Inputs:</p>\n<ol class=\"inputs\">\n");
	for (i = 0; i < n; i++) {
		rb_rawf(b, "<li data-kind=\"%s\"><span class=\"path\">",
		    docs[i].kind == RPT_VERIFY ? "verify" : "bench");
		rb_text(b, docs[i].path);
		rb_rawf(b, "</span> (%s)</li>\n", docs[i].kind == RPT_VERIFY ?
		    "verify report" : "bench results");
	}
	rb_raw(b, "</ol>\n</header>\n");
}

/* <nav class="toc">: each verify report with its checks, then the
 * bench part. */
static void
page_toc(struct rpt_buf *b, const struct rpt_doc *docs, size_t n,
    size_t nruns)
{
	const cJSON *ck, *m;
	const char *v;
	char id[32], anchor[96];
	size_t i, k, nv = 0;
	int ec;

	rb_raw(b, "<nav class=\"toc\" aria-label=\"contents\">\n"
	    "<h2>Contents</h2>\n<ul>\n");
	for (i = 0; i < n; i++) {
		if (docs[i].kind != RPT_VERIFY)
			continue;
		snprintf(id, sizeof(id), "v%zu", ++nv);
		rb_rawf(b, "<li><a href=\"#%s\">Verify: ", id);
		rb_text(b, docs[i].path);
		if (rpt_verdict_of(docs[i].json, &v, &ec))
			rb_rawf(b, " &#8212; %s", v);
		rb_rawf(b, "</a>\n<ul>\n<li><a href=\"#%s-proven\">What was "
		    "proven</a></li>\n", id);
		k = 0;
		cJSON_ArrayForEach(ck, cJSON_GetObjectItemCaseSensitive(
		    docs[i].json, "checks")) {
			if (k == RPT_CHECKS_MAX)
				break;
			rpt_check_anchor(anchor, sizeof(anchor), id, ck, k++);
			m = cJSON_GetObjectItemCaseSensitive(ck, "id");
			rb_rawf(b, "<li><a href=\"#%s\">", anchor);
			rb_text(b, cJSON_IsString(m) ? m->valuestring : "?");
			m = cJSON_GetObjectItemCaseSensitive(ck, "status");
			if (cJSON_IsString(m)) {
				rb_raw(b, " &#8212; ");
				rb_text(b, m->valuestring);
			}
			rb_raw(b, "</a></li>\n");
		}
		rb_raw(b, "</ul></li>\n");
	}
	if (nruns > 0)
		rb_rawf(b, "<li><a href=\"#b\">Bench%s</a></li>\n",
		    nruns > 1 ? " (comparison)" : "");
	rb_raw(b, "</ul>\n</nav>\n");
}

/* With verify reports: their verdicts first, in one table. */
static void
page_verdicts(struct rpt_buf *b, const struct rpt_doc *docs, size_t n)
{
	const char *v;
	size_t i, nv = 0;
	int ec;

	for (i = 0; i < n; i++)
		nv += docs[i].kind == RPT_VERIFY;
	if (nv == 0)
		return;
	rb_raw(b, "<section class=\"verdicts\" id=\"verdicts\">\n"
	    "<h2>Verdicts</h2>\n<table class=\"verdicts\">\n<thead><tr>"
	    "<th scope=\"col\">verify report</th>"
	    "<th scope=\"col\">verdict</th>"
	    "<th scope=\"col\">exit status</th></tr></thead>\n<tbody>\n");
	nv = 0;
	for (i = 0; i < n; i++) {
		if (docs[i].kind != RPT_VERIFY)
			continue;
		rb_rawf(b, "<tr><td><a class=\"path\" href=\"#v%zu\">", ++nv);
		rb_text(b, docs[i].path);
		rb_raw(b, "</a></td>");
		if (rpt_verdict_of(docs[i].json, &v, &ec))
			rb_rawf(b, "<td class=\"v-%s\" data-verdict=\"%s\">%s"
			    "</td><td>%d</td></tr>\n", v, v, v, ec);
		else
			rb_raw(b, "<td>not in report</td><td></td></tr>\n");
	}
	rb_raw(b, "</tbody>\n</table>\n</section>\n");
}

enum atr_err
rpt_render(const struct rpt_doc *docs, size_t n, const struct rpt_opts *o,
    char **html, size_t *len)
{
	const struct rpt_doc **runs = NULL;
	struct rpt_buf b;
	enum atr_err err = ATR_OK;
	size_t i, nruns = 0, nv = 0;
	char id[32];

	*html = NULL;
	*len = 0;
	if (n == 0)
		return atr_fail(ATR_ERR_USAGE, "no input documents");
	runs = calloc(n, sizeof(const struct rpt_doc *));
	if (runs == NULL)
		return ATR_ERR_NOMEM;
	for (i = 0; i < n; i++)
		if (docs[i].kind == RPT_BENCH)
			runs[nruns++] = &docs[i];
	rb_init(&b);
	rb_raw(&b, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n"
	    "<meta charset=\"utf-8\">\n"
	    "<meta name=\"viewport\" content=\"width=device-width, "
	    "initial-scale=1\">\n"
	    /* Nothing may load: not a script, a style, a font, an image. */
	    "<meta http-equiv=\"Content-Security-Policy\" content=\""
	    "default-src 'none'; style-src 'unsafe-inline'; img-src data:\">\n"
	    "<meta name=\"generator\" content=\"atrest report\">\n"
	    "<title>");
	rb_text(&b, o != NULL && o->title != NULL ? o->title :
	    "atrest evidence report");
	rb_raw(&b, "</title>\n<style>\n");
	rb_raw(&b, rpt_css_page());
	rb_raw(&b, rpt_css_charts());
	rb_raw(&b, "</style>\n</head>\n<body>\n<main>\n<h1>");
	rb_text(&b, o != NULL && o->title != NULL ? o->title :
	    "atrest evidence report");
	rb_raw(&b, "</h1>\n");
	page_header(&b, docs, n, o);
	page_verdicts(&b, docs, n);
	page_toc(&b, docs, n, nruns);
	for (i = 0; err == ATR_OK && i < n; i++) {
		if (docs[i].kind != RPT_VERIFY)
			continue;
		snprintf(id, sizeof(id), "v%zu", ++nv);
		err = rpt_verify_section(&b, &docs[i], id);
	}
	if (err == ATR_OK && nruns > 0)
		err = rpt_bench_section(&b, runs, nruns, "b");
	rb_raw(&b, "</main>\n</body>\n</html>\n");
	free(runs);
	if (err != ATR_OK) {
		rb_free(&b);
		return err;
	}
	return rb_take(&b, html, len);
}
