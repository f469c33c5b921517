/* see err.h */
#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* 2048: the credential chain's failure lists one line per credential
 * (keyvault/kv_cred.c). */
static _Thread_local char detail[2048];

static const struct {
	const char *name;
	const char *text;
} table[ATR_ERR__COUNT] = {
	[ATR_OK] = {"ok", "success"},
	[ATR_ERR_AUTH] = {"auth", "authentication failed"},
	[ATR_ERR_NOKEY] = {"no-key", "no given key opens this object"},
	[ATR_ERR_FORMAT] = {"format", "not a well-formed atrest envelope"},
	[ATR_ERR_CRYPTO] = {"crypto", "cryptographic library failure"},
	[ATR_ERR_IO] = {"io", "I/O error"},
	[ATR_ERR_NOMEM] = {"nomem", "out of memory"},
	[ATR_ERR_USAGE] = {"usage", "invalid usage"},
	[ATR_ERR_CONFIG] = {"config", "invalid configuration"},
	[ATR_ERR_KEY] = {"key", "unusable key"},
	[ATR_ERR_UNSUPPORTED] = {"unsupported", "not supported"},
	[ATR_ERR_EXISTS] = {"exists", "refusing to overwrite an existing file"},
	[ATR_ERR_LIMIT] = {"limit", "a limit of the format was exceeded"},
	[ATR_ERR_NOT_FOUND] = {"not-found", "key not found"},
	[ATR_ERR_FORBIDDEN] = {"forbidden", "operation forbidden"},
	[ATR_ERR_DISABLED] = {"disabled", "key is disabled"},
	[ATR_ERR_UNAUTHORIZED] = {"unauthorized", "not authorized"},
	[ATR_ERR_THROTTLED] = {"throttled", "throttled by the key service"},
	[ATR_ERR_TLS] = {"tls", "TLS error"},
	[ATR_ERR_TIMEOUT] = {"timeout", "timed out"},
	[ATR_ERR_NETWORK] = {"network", "network error"},
	[ATR_ERR_BAD_RESPONSE] = {"bad-response", "bad response from the key service"},
	[ATR_ERR_CONFLICT] = {"conflict", "conflict"},
};

const char *
atr_strerror(enum atr_err err)
{
	if ((unsigned)err >= ATR_ERR__COUNT)
		return "unknown error";
	return table[err].text;
}

const char *
atr_errname(enum atr_err err)
{
	if ((unsigned)err >= ATR_ERR__COUNT)
		return "unknown";
	return table[err].name;
}

const char *
atr_detail(void)
{
	return detail;
}

void
atr_detail_clear(void)
{
	detail[0] = '\0';
}

/*
 * Formats into a local buffer, then copies: an argument may be the
 * detail itself ("%s: %s", path, atr_detail()), and C11 7.21.6.12
 * leaves vsnprintf undefined when its output overlaps an input.
 */
#if defined(__GNUC__)
__attribute__((format(printf, 1, 0)))
#endif
static void
detail_vset(const char *fmt, va_list ap)
{
	char tmp[sizeof(detail)];
	int n;

	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	if (n < 0)
		tmp[0] = '\0';
	memcpy(detail, tmp, sizeof(detail));
}

void
atr_detail_set(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	detail_vset(fmt, ap);
	va_end(ap);
}

#undef atr_fail /* the function itself (err.h, make lint) */
enum atr_err
atr_fail(enum atr_err err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	detail_vset(fmt, ap);
	va_end(ap);
	return err;
}

int
atr_exit_code(enum atr_err err)
{
	switch (err) {
	case ATR_OK:
		return 0;
	case ATR_ERR_AUTH:
	case ATR_ERR_NOKEY:
	case ATR_ERR_FORMAT:
		return 1;
	default:
		return 2;
	}
}
