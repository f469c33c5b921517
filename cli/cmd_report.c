/*
 * atrest report [-o FILE] [--title T] FILE.json...  - one self-contained
 * HTML page from verify reports and bench results (docs/REPORT.md).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "common.h"
#include "fsutil.h"
#include "quote.h"
#include "report.h"

/* A verify report of 100,000 objects with capped findings is a few MiB;
 * bench results well under one.  Anything larger is refused, not read. */
#define REPORT_INPUT_MAX (256U * 1024U * 1024U)

/* Every failure of this command is exit status 2 (unreadable or unknown
 * input, or the page not written), whatever atr_exit_code() would say of
 * the error (ATR_ERR_FORMAT is 1 there: an envelope that is not one). */
static int
fail(const char *path, enum atr_err err)
{
	char q[ATR_QUOTE_BUF], d[2048];

	if (err == ATR_ERR_FORMAT) {
		/* The detail names the file and the member; a file name is
		 * escaped (core/quote.h), never printed raw. */
		fprintf(stderr, "atrest: report: %s\n",
		    atr_escape(atr_detail(), d, sizeof(d)));
		return 2;
	}
	if (path != NULL)
		(void)cli_error(atr_quote(path, q, sizeof(q)), err);
	else
		(void)cli_error("report", err);
	return 2;
}

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: atrest report [-o FILE] [--title TITLE] FILE.json...\n\n"
	    "Writes one self-contained HTML page (no network access, no external\n"
	    "scripts, fonts or images) from any mix of verify reports (--json of\n"
	    "atrest verify, merged shard reports included) and bench results\n"
	    "(--json of atrest bench; several runs are compared with the first).\n"
	    "docs/REPORT.md describes the page.\n\n"
	    "  -o, --output FILE   the page (default report.html; '-' = stdout)\n"
	    "  -t, --title TITLE   the page's title\n"
	    "  -h, --help\n\n"
	    "exit status: 0 written; 2 usage, an unreadable, malformed or unknown\n"
	    "input (the message names the file and the member), or the page\n"
	    "not written (nothing is left half-written)\n");
}

int
cmd_report(int argc, char **argv)
{
	static const struct option lo[] = {
		{"output", required_argument, NULL, 'o'},
		{"title", required_argument, NULL, 't'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *out = "report.html", *title = NULL;
	struct rpt_doc *docs = NULL;
	unsigned char **texts = NULL;
	struct rpt_opts o;
	char when[32], *html = NULL;
	size_t i, n, len = 0;
	time_t now = time(NULL);
	struct tm tm;
	enum atr_err err;
	int c, rc = 2;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "+o:t:h", lo, NULL)) != -1) {
		switch (c) {
		case 'o':
			out = optarg;
			break;
		case 't':
			title = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			return cli_bad_option("report", argv);
		}
	}
	n = (size_t)(argc - optind);
	if (n == 0)
		return cli_usage_error("report", "no input files (FILE.json...)");
	docs = calloc(n, sizeof(*docs));
	texts = calloc(n, sizeof(*texts));
	if (docs == NULL || texts == NULL) {
		rc = cli_error("report", ATR_ERR_NOMEM);
		goto out;
	}
	for (i = 0; i < n; i++) {
		const char *path = argv[optind + (int)i];
		size_t tl = 0;
		cJSON *j;

		err = atr_read_small_file(path, REPORT_INPUT_MAX, 0, &texts[i],
		    &tl);
		if (err != ATR_OK) {
			rc = fail(path, err);
			goto out;
		}
		j = cJSON_ParseWithLength((const char *)texts[i], tl);
		if (j == NULL) {
			rc = fail(path, atr_fail(ATR_ERR_FORMAT, "%s: not valid "
			    "JSON", path));
			goto out;
		}
		docs[i].path = path;
		docs[i].text = (const char *)texts[i];
		docs[i].json = j;
		err = rpt_classify(j, &docs[i].kind);
		if (err == ATR_ERR_FORMAT) {
			char why[512];

			snprintf(why, sizeof(why), "%s", atr_detail());
			rc = fail(path, atr_fail(err, "%s: %s", path, why));
			goto out;
		}
		if (err != ATR_OK) {
			rc = fail(path, err);
			goto out;
		}
	}
	if (gmtime_r(&now, &tm) == NULL ||
	    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(when, sizeof(when), "unknown");
	o.title = title;
	o.generated = when;
	o.version = ATR_VERSION_STRING;
	err = rpt_render(docs, n, &o, &html, &len);
	if (err != ATR_OK) {
		rc = fail(NULL, err);
		goto out;
	}
	/* "-" is stdout (atr_write_file). */
	err = atr_write_file(out, 0644, html, len);
	if (err != ATR_OK) {
		rc = fail(strcmp(out, "-") == 0 ? NULL : out, err);
		goto out;
	}
	rc = 0;
out:
	for (i = 0; docs != NULL && texts != NULL && i < n; i++) {
		cJSON_Delete((cJSON *)(docs[i].json));
		free(texts[i]);
	}
	free(docs);
	free(texts);
	free(html);
	return rc;
}
