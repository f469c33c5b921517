/*
 * report.h - `atrest report`: one self-contained HTML page from verify
 * reports and bench results (docs/REPORT.md).
 *
 * The layer reads JSON documents the caller has already loaded and
 * returns the page as a string; it never prints and never touches the
 * file system (the command writes the page atomically).  Everything
 * taken from a document is treated as hostile: every string is escaped
 * for the context it lands in, lengths and counts are capped, and a
 * document that is not one of the two known schemas is refused.
 */
#ifndef ATR_REPORT_H
#define ATR_REPORT_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "err.h"

enum rpt_kind {
	RPT_VERIFY,  /* "schema": "atrest-verify/1" (also merged shards) */
	RPT_BENCH,   /* "schema": "atrest-bench/1" */
};

/* One input document; json and path are borrowed for the call. */
struct rpt_doc {
	const char *path;      /* as given on the command line (shown) */
	const char *text;      /* the file's text (bench compare needs it) */
	const cJSON *json;     /* parsed text */
	enum rpt_kind kind;
};

struct rpt_opts {
	const char *title;     /* NULL: a title made from the inputs */
	const char *generated; /* UTC time of generation, ISO 8601 */
	const char *version;   /* atrest's version string */
};

/*
 * The kind of a parsed document from its "schema" member: ATR_OK, or
 * ATR_ERR_FORMAT with a one-line reason (atr_detail) when it is neither
 * a verify report nor bench results.
 */
enum atr_err rpt_classify(const cJSON *json, enum rpt_kind *kind);

/*
 * Renders the page for docs[0..n) (any mix and order; verify reports
 * first on the page, then bench results, several bench runs compared
 * with the first as the base).  *html is malloc'd, NUL-terminated, the
 * caller's; *len its length.  ATR_ERR_FORMAT names the document and the
 * member that could not be used.
 */
enum atr_err rpt_render(const struct rpt_doc *docs, size_t n,
    const struct rpt_opts *o, char **html, size_t *len);

#endif
