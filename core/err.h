/*
 * err.h - the one error type every function below cli/ returns.
 *
 * The layers below cli/ never print and never exit: a failing function
 * returns an enum atr_err and may leave a one-line, secret-free detail
 * for the caller (atr_detail()).  The CLI turns both into
 * "atrest: FILE: reason".
 *
 * Ownership: every string returned here is owned by this module; none is
 * ever freed by the caller.  Thread-safety: the detail is per thread
 * (_Thread_local), so a failure on one thread never overwrites another's;
 * a detail set on a worker thread is not seen by the thread that joins it
 * unless copied over (core/stream.c does).  Everything else is constant.
 */
#ifndef ATR_ERR_H
#define ATR_ERR_H

#include <stddef.h>

enum atr_err {
	ATR_OK = 0,
	/* The data failed authentication: a tag, the header MAC, the key
	 * commitment or an unwrap check.  Deliberately one code, so that no
	 * caller can tell which check failed (Manger / padding oracles). */
	ATR_ERR_AUTH,
	/* None of the given keys has a recipient stanza in this object. */
	ATR_ERR_NOKEY,
	/* The bytes are not a well-formed envelope (bad magic, version,
	 * limits, lengths, trailing or missing bytes). */
	ATR_ERR_FORMAT,
	/* OpenSSL (or another library) failed for a reason that is not an
	 * authentication failure. */
	ATR_ERR_CRYPTO,
	ATR_ERR_IO,
	ATR_ERR_NOMEM,
	ATR_ERR_USAGE,     /* bad argument to a function or command */
	ATR_ERR_CONFIG,    /* bad configuration, key URI or policy */
	ATR_ERR_KEY,       /* a key file or key object is unusable */
	ATR_ERR_UNSUPPORTED,
	ATR_ERR_EXISTS,    /* refused to overwrite */
	ATR_ERR_LIMIT,     /* a hard limit of the format was exceeded */
	/* Remote key services (Key Vault, PKCS#11). */
	ATR_ERR_NOT_FOUND,
	ATR_ERR_FORBIDDEN,
	ATR_ERR_DISABLED,
	ATR_ERR_UNAUTHORIZED,
	ATR_ERR_THROTTLED,
	ATR_ERR_TLS,
	ATR_ERR_TIMEOUT,
	ATR_ERR_NETWORK,
	ATR_ERR_BAD_RESPONSE,
	ATR_ERR_CONFLICT,
	ATR_ERR__COUNT
};

/* A short, stable, lower-case description ("authentication failed");
 * a static string, never NULL ("unknown error" for a value out of
 * range). */
const char *atr_strerror(enum atr_err err);

/* A stable identifier for reports and JSON ("auth", "no-key", ...); a
 * static string, never NULL ("unknown" for a value out of range). */
const char *atr_errname(enum atr_err err);

/*
 * Per-thread detail of the last failure, e.g. "RSA key has 1024 bits;
 * 2048 or more are required".  Never holds key material, tokens, PINs
 * or plaintext.  Empty string when there is none; never NULL.  The
 * pointer is this thread's buffer: the text changes with the thread's
 * next atr_detail_set, atr_fail or atr_detail_clear (copy it to keep
 * it), and the buffer goes away when the thread exits.
 */
const char *atr_detail(void);
void atr_detail_clear(void);
#if defined(__GNUC__)
__attribute__((format(printf, 1, 2)))
#endif
void atr_detail_set(const char *fmt, ...);

/*
 * Sets the detail and returns err, for "return atr_fail(E, ...)".  Both
 * setters accept the current detail as an argument ("%s: %s", path,
 * atr_detail()): the message is formatted apart, then copied.  fmt and
 * its arguments are read during the call only; the text is cut at 511
 * bytes.
 */
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
enum atr_err atr_fail(enum atr_err err, const char *fmt, ...);
/*
 * Under make lint only (scripts/lint.sh defines ATR_LINT): a static
 * analyser reads one file at a time, cannot see that atr_fail returns
 * err, and so follows "return atr_fail(ATR_ERR_IO, ...)" as a success,
 * into outputs a failed call never wrote.  The macro states the result.
 */
#if defined(ATR_LINT)
#define atr_fail(err, ...) ((void)atr_fail((err), __VA_ARGS__), (err))
#endif

/*
 * Process exit code for an error, as documented for every command:
 * 0 success, 1 data failed authentication or no key opens it,
 * 2 usage, configuration or I/O error.
 */
int atr_exit_code(enum atr_err err);

/* OpenSSL returns 1 on success: convert at the call site. */
#define ATR_OSSL(call) ((call) == 1)

#endif
