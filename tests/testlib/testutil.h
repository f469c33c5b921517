/*
 * testutil.h - small helpers shared by the Criterion suites (unit and
 * e2e).  Linked into test binaries only, never into the tool.
 *
 * Conventions: every function that allocates returns memory the caller
 * frees with free(); failures return NULL or -1 and never print or
 * exit, so the calling test decides how to report them (cr_assert with
 * the path in the message).  Every pointer argument is borrowed for the
 * call and must not be NULL unless said; nothing keeps one.  Nothing
 * here is thread-safe beyond what libc gives; Criterion runs each test
 * in its own process anyway.
 *
 * The hex codec here is deliberately not core's (crypto.h atr_unhex):
 * test vectors are not decoded by the code under test.
 */
#ifndef ATR_TESTUTIL_H
#define ATR_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

/* ---- hex ---------------------------------------------------------- */

/*
 * Decodes the first hex_len characters of hex (upper or lower case, no
 * separators) into a malloc'd buffer and stores its length in *len.
 * The buffer is never NULL on success, even for "" (a 1-byte
 * allocation), so a zero-length vector can still be passed where a
 * pointer is required.  NULL on a NULL hex, an odd length, a bad digit
 * or no memory (*len then untouched).
 */
uint8_t *tu_unhex_n(const char *hex, size_t hex_len, size_t *len);
/* Same for a NUL-terminated string (NULL-safe: NULL). */
uint8_t *tu_unhex(const char *hex, size_t *len);

/* Lower-case hex of n bytes, malloc'd and NUL-terminated (NULL: no memory). */
char *tu_hex(const uint8_t *buf, size_t n);

/* 1 when all n bytes are zero (n == 0 counts as zero). */
int tu_all_zero(const void *buf, size_t n);

/* ---- files -------------------------------------------------------- */

/*
 * Reads a whole file into a malloc'd buffer with one extra NUL byte
 * after the data (so text can be used as a C string); *len (may be
 * NULL) receives the size without the NUL.  NULL on any error (errno set).
 */
uint8_t *tu_read_file(const char *path, size_t *len);

/* Creates or truncates path (mode 0600) and writes len bytes; 0 or -1. */
int tu_write_file(const char *path, const void *data, size_t len);

/* 1 when the file can be read and contains needle as a byte substring
 * (an empty needle: whenever it can be read). */
int tu_file_contains(const char *path, const char *needle);

/* "dir/name", malloc'd (NULL: no memory). */
char *tu_path(const char *dir, const char *name);

/* ---- test vectors ------------------------------------------------- */

/*
 * The test-vector directory: $VECTOR_DIR when set and non-empty, else
 * "../shared/vectors" (relative to the repository root, where the
 * suites are run from).  Never NULL; not to be freed: the environment's
 * string (valid until $VECTOR_DIR changes) or a literal.
 */
const char *vector_dir(void);

/* vector_dir() + "/" + rel (e.g. "wycheproof/aes_gcm_test.json"), malloc'd. */
char *tu_vector_path(const char *rel);

/* ---- temporary directories ---------------------------------------- */

/*
 * Creates a fresh private directory "/tmp/atrest-<tag>-XXXXXX" (mode
 * 0700, mkdtemp) and returns its malloc'd path, NULL on failure.  tag
 * may be NULL; it is cut to 32 characters and '/' becomes '_'.
 */
char *tu_tmpdir(const char *tag);

/*
 * Removes path and everything below it without following symbolic
 * links (directories on the way are made 0700 first, so that a test's
 * read-only directory goes too).  As a guard against a bad argument
 * wiping something else, it
 * refuses (returns -1, errno EINVAL) any path that is not strictly
 * below "/tmp/" or contains a "/../" component.  0 on success (also
 * when path does not exist), -1 on the first error.
 */
int tu_rmtree(const char *path);

/* ---- running commands --------------------------------------------- */

/* Options for tu_run(); a NULL pointer means all defaults. */
struct tu_run_opts {
	/* File to use as standard input; NULL reads /dev/null. */
	const char *stdin_path;
	/* Files created/truncated (0600) for standard output and standard
	 * error; NULL discards to /dev/null.  They may be the same path,
	 * in which case both streams go to one file in order. */
	const char *stdout_path;
	const char *stderr_path;
	/* Working directory of the child; NULL keeps the current one. */
	const char *cwd;
	/* NULL-terminated "NAME=value" entries added to the inherited
	 * environment (replacing a variable of the same name), or "NAME"
	 * alone to remove NAME from it.  NULL: inherit unchanged. */
	const char *const *env;
	/* Kill the child (SIGKILL) after this many milliseconds; 0: wait
	 * for ever (Criterion's --timeout still applies). */
	unsigned timeout_ms;
};

/* Extra return values of tu_run() besides an exit status 0..255. */
#define TU_RUN_ERROR (-1)   /* could not start: fork, a file, no memory */
#define TU_RUN_TIMEOUT (-2) /* killed after opts->timeout_ms */

/*
 * Runs argv[0] with arguments argv (NULL-terminated) directly, without a
 * shell, and waits for it.  argv, opts and every string in them are
 * borrowed for the call (the child gets copies through execve).  argv[0]
 * without a '/' is looked up in $PATH.  Returns the exit status
 * (0..255), 128 + N when the child was
 * killed by signal N (as a shell reports it), 127 when the program
 * could not be executed (not found, not executable, or opts->cwd
 * could not be entered), TU_RUN_TIMEOUT or TU_RUN_ERROR.  The child
 * inherits only descriptors 0, 1 and 2 from the test (all above 2 are
 * closed), so a server it leaves running holds no runner pipe.
 *
 * Example, an e2e test of the CLI:
 *
 *	char *dir = tu_tmpdir("e2e"), *err = tu_path(dir, "stderr");
 *	const char *argv[] = { bin, "encrypt", "-k", uri, in, out, NULL };
 *	struct tu_run_opts o = { .stderr_path = err };
 *	int rc = tu_run(argv, &o);
 *	uint8_t *msg = tu_read_file(err, NULL);
 *
 *	cr_assert_eq(rc, 0, "exit %d: %s", rc, msg ? (char *)msg : "");
 *	free(msg);
 *	tu_rmtree(dir);
 */
int tu_run(const char *const argv[], const struct tu_run_opts *opts);

#endif
