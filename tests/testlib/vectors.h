/*
 * vectors.h - loaders for external test vectors, read from $VECTOR_DIR:
 * Project Wycheproof JSON files (github.com/C2SP/wycheproof,
 * testvectors_v1 envelope) and NIST CAVP .rsp response files (the GCM
 * test vectors of the Cryptographic Algorithm Validation Program).
 *
 * Both loaders only parse: deciding what a vector means is the test's
 * job.  They are strict about structure (a malformed file is an error
 * with a line or tcId, never silently fewer vectors) so that a test can
 * assert exact counts.  Error messages go to the caller's err[errlen]
 * (err may be NULL; written only on failure).  Not thread-safe beyond
 * libc and cJSON.
 */
#ifndef ATR_VECTORS_H
#define ATR_VECTORS_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

/* ---- Project Wycheproof ------------------------------------------- */

enum wp_result {
	WP_VALID,
	WP_INVALID,
	WP_ACCEPTABLE /* weak or legacy: an implementation may go either way */
};

/* The caller's struct.  root is owned (wp_free releases it); path is the
 * caller's string, kept: it must outlive the struct; algorithm points
 * into root. */
struct wp_file {
	cJSON *root;
	const char *path;
	const char *algorithm;  /* "AES-GCM", "AES-WRAP", ... */
	long number_of_tests;   /* as the file declares it */
};

/* One test as handed to the wp_foreach() callback; group, test and
 * comment point into the file's document (valid until wp_free), the
 * struct itself only during the callback. */
struct wp_test {
	const cJSON *group;     /* the element of "testGroups" */
	const cJSON *test;      /* the element of its "tests" */
	long tc_id;
	enum wp_result result;
	const char *comment;    /* "" when absent */
	char flags[256];        /* "Flag1,Flag2" ("" when none; cut if longer) */
};

/*
 * Loads and parses a Wycheproof file; checks the envelope (algorithm,
 * numberOfTests, testGroups).  0, or -1 with a message in err.
 */
int wp_load(const char *path, struct wp_file *f, char *err, size_t errlen);
/* Deletes the document; safe after a failed wp_load and twice. */
void wp_free(struct wp_file *f);

/* Return nonzero from the callback to stop the iteration. */
typedef int (*wp_test_fn)(const struct wp_test *t, void *arg);

/*
 * Calls fn for every test of every group, in file order.  Returns the
 * number of tests visited, or -1 with a message in err when a group or
 * test is malformed (no "tests" array, no integer tcId, a result other
 * than valid/invalid/acceptable) or fn asked to stop.
 */
long wp_foreach(const struct wp_file *f, wp_test_fn fn, void *arg, char *err,
    size_t errlen);

/* The string member name of obj, NULL when absent or not a string; it
 * points into obj's document. */
const char *wp_str(const cJSON *obj, const char *name);
/* The integer member name of obj into *out; 0, or -1 when absent. */
int wp_int(const cJSON *obj, const char *name, long *out);
/* The hex string member name decoded into a malloc'd buffer (free();
 * non-NULL even when empty); NULL when absent, not a string or not
 * hex. */
uint8_t *wp_hex(const cJSON *obj, const char *name, size_t *len);
/* 1 when t carries the flag. */
int wp_has_flag(const struct wp_test *t, const char *flag);
const char *wp_result_name(enum wp_result r);

/* ---- NIST CAVP .rsp ------------------------------------------------ */

#define RSP_MAX_ATTRS 16

struct rsp_attr {
	const char *name;
	const char *value;  /* "" for "[ENCRYPT]" or "PT = " */
};

/*
 * One "Count = N" block.  The strings point into the loader's copy of
 * the file and are valid only during the callback.
 */
struct rsp_case {
	const char *path;
	unsigned line;                       /* line of "Count =" */
	long count;
	/* The "[Name = value]" lines of the current section, plus any
	 * "Name = value" lines between the section header and its first
	 * Count. */
	struct rsp_attr sect[RSP_MAX_ATTRS];
	size_t nsect;
	/* The "Name = value" lines of this case, in file order. */
	struct rsp_attr field[RSP_MAX_ATTRS];
	size_t nfield;
	int fail;                            /* a "FAIL" line was present */
};

const char *rsp_field(const struct rsp_case *c, const char *name);
const char *rsp_sect(const struct rsp_case *c, const char *name);
/* A decimal section value ("[Keylen = 256]") into *out; 0 or -1. */
int rsp_sect_long(const struct rsp_case *c, const char *name, long *out);

typedef int (*rsp_case_fn)(const struct rsp_case *c, void *arg);

/*
 * Parses a CAVP response file: "#" comments, "[...]" section headers
 * (a new run of them starts a new section), "Count = N" blocks of
 * "Name = value" lines ended by a blank line, and "FAIL" markers.  CR
 * before LF is ignored (the NIST files use CRLF).  Calls fn for every
 * block and returns the number of blocks, or -1 with a message naming
 * the line in err for anything else (an unknown line, a duplicate
 * field or FAIL, a field outside a block, a bad Count, too many
 * attributes, an unreadable file) or when fn asked to stop.
 */
long rsp_foreach(const char *path, rsp_case_fn fn, void *arg, char *err,
    size_t errlen);

#endif
