/*
 * common.h - option and file plumbing shared by the commands.
 *
 * Everything here prints its own messages (one line each, on stderr)
 * and returns a process exit code (cli.h), except cli_parse_size.
 * Strings passed in are borrowed for the call, except the key URIs that
 * cli_keys_add records (see there).
 */
#ifndef ATR_CLI_COMMON_H
#define ATR_CLI_COMMON_H

#include <signal.h>
#include <stdint.h>
#include <sys/types.h>

#include "envelope.h"
#include "key.h"

/*
 * The --key options of a command and the keys they open.  The caller's
 * struct, zeroed before use ({0}).  uri[] points at the strings given to
 * cli_keys_add (argv's), which must outlive the struct; k[] are owned by
 * it once cli_keys_open filled them, and released by cli_keys_free.
 */
struct cli_keys {
	const char *uri[ATR_MAX_STANZAS];
	struct atr_key *k[ATR_MAX_STANZAS];
	size_t n;
};

/*
 * cli_error() for a file: "atrest: NAME: reason" with the name quoted and
 * escaped as ls --quoting-style=shell-escape does (core/quote.h), so a
 * name holding a newline or an escape sequence cannot forge or erase a
 * line.  Every line of text that shows a file name goes through
 * atr_quote(); cli_error, cli_warn and cli_usage_error also escape the
 * control characters of whatever else they print.  Clears the detail.
 */
int cli_error_file(const char *path, enum atr_err err);

/* Records a --key value (the pointer, not a copy); returns 0, or 2 after
 * printing when there are too many. */
int cli_keys_add(const char *cmd, struct cli_keys *ks, const char *uri);
/* Opens every recorded URI; prints "atrest: URI: reason" and returns the
 * exit code on the first failure, 0 when all are open.  Either way the
 * keys opened so far are in ks->k and cli_keys_free releases them. */
int cli_keys_open(struct cli_keys *ks);
/* Frees (and wipes) every key opened and sets its slot to NULL; safe on
 * a struct whose keys were never opened, and twice. */
void cli_keys_free(struct cli_keys *ks);
/* "atrest: URI: reason" for a key that did not open, with the URI in
 * its redacted form (core/keyuri.h); returns the exit code. */
int cli_key_error(const char *uri, enum atr_err err);

/*
 * After getopt_long returned '?' with opterr = 0 (getopt's own message
 * off): one usage line naming the bad option.  Returns 2.
 */
int cli_bad_option(const char *cmd, char **argv);
#if defined(ATR_LINT)	/* the result, for make lint (cli.h) */
#define cli_bad_option(cmd, argv) ((void)cli_bad_option(cmd, argv), 2)
#endif

/* Parses "65536", "64K", "1M" (binary units; "KiB", "B" suffixes too).
 * Returns 0, or -1 when bad (nothing printed, *out untouched). */
int cli_parse_size(const char *s, uint64_t *out);

/* A decimal integer in [min, max] (no sign for min >= 0, no suffix), or
 * a number of seconds (strtod) in [lo, hi], never NaN: 0, or -1 when bad
 * or empty (nothing printed, *out untouched).  One rule for every
 * command's numeric options. */
int cli_parse_long(const char *s, long min, long max, long *out);
int cli_parse_double(const char *s, double lo, double hi, double *out);

/* Parses --jobs N (0..64; 0 = one per online CPU).  Returns 0, or 2
 * after a usage line. */
int cli_parse_jobs(const char *cmd, const char *s, unsigned *out);

/*
 * Applies fn to IN, writing OUT, for a file ("-" = stdin/stdout) or a
 * directory tree (mirrored under OUT).  Every output goes through a
 * temporary file and is renamed only on success.  Errors are printed one
 * line per file; processing goes on with the next file.  Returns the
 * exit code (the worst seen).  *nok and *nfail count files.
 *
 * jobs (0 = one per online CPU): a single file gets fn(..., jobs, arg),
 * i.e. all of them on its frames; a tree is processed by `jobs` threads,
 * one file each at a time, with fn(..., 1, arg): fn and arg must then be
 * safe to call from several threads at once.
 *
 * fn gets descriptors it borrows (it must not close them) and returns
 * ATR_OK to commit the output; anything else discards it.  cmd, in, out
 * and arg are borrowed for the call; nok and nfail may be NULL.  Every
 * thread and descriptor is released before it returns.
 */
/*
 * The stop signals: SIGINT, SIGTERM and SIGHUP.  A long run that must
 * end through its own clean-up (tree transforms, rewrap, bench --io, the
 * verify revocation drill) blocks them, asks cli_stop_pending() between
 * units of work, and at the end consumes the one that came with
 * cli_stop_take(), exiting 128 + its number, as a shell reports.
 */
void cli_stop_sigset(sigset_t *s);
/* 1 when one of them is pending (blocked and not yet taken). */
int cli_stop_pending(void);
/* Consumes every pending stop signal; returns the first one's number,
 * 0 when none was pending. */
int cli_stop_take(void);

typedef enum atr_err (*cli_file_fn)(int in_fd, int out_fd, unsigned threads,
    void *arg);
int cli_transform(const char *cmd, const char *in, const char *out,
    mode_t mode, cli_file_fn fn, void *arg, unsigned jobs, unsigned *nok,
    unsigned *nfail);

#endif
