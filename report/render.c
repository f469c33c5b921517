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
	else if (strcmp(s->valuestring, "atrest-bench/1") == 0)
		*kind = RPT_BENCH;
	else
		return atr_fail(ATR_ERR_FORMAT, "unknown schema (neither "
		    "atrest-verify/1 nor atrest-bench/1)");
	return ATR_OK;
}

const char *
rpt_css_page(void)
{
	/* Filled in by the page's owner: light default, dark by
	 * prefers-color-scheme, an A4 print stylesheet. */
	return "";
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
	runs = calloc(n, sizeof(*runs));
	if (runs == NULL)
		return ATR_ERR_NOMEM;
	rb_init(&b);
	rb_raw(&b, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n"
	    "<meta charset=\"utf-8\">\n"
	    "<meta name=\"viewport\" content=\"width=device-width, "
	    "initial-scale=1\">\n"
	    /* Nothing may load: not a script, a style, a font, an image. */
	    "<meta http-equiv=\"Content-Security-Policy\" content=\""
	    "default-src 'none'; style-src 'unsafe-inline'; img-src data:\">\n"
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
	for (i = 0; err == ATR_OK && i < n; i++) {
		if (docs[i].kind == RPT_BENCH) {
			runs[nruns++] = &docs[i];
			continue;
		}
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
