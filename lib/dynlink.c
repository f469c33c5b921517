/*
 * dynlink.c - libcurl and libmicrohttpd, loaded when first used.
 *
 * Linking them into the binary cost every command about 14 ms before
 * main() on the 2-vCPU VM (36 shared libraries mapped and relocated:
 * libcurl alone brings Kerberos, LDAP, SSH, RTMP, brotli and more, and
 * libmicrohttpd brings GnuTLS), against 3 ms for OpenSSL and cJSON alone.
 * Only the Key Vault client and `atrest vault serve` need them, so this
 * file defines the few functions atrest calls and forwards each to the
 * library, opened with dlopen on the first call (pthread_once).  The
 * rest of lib/ calls the ordinary API, unchanged.
 *
 * atr_dynlink_curl() and atr_dynlink_mhd() load a library and say why it
 * cannot be loaded; the Key Vault client and the server call them before
 * anything else.  A forwarding function called without a loaded library
 * fails the way the library reports failure (NULL, CURLE_FAILED_INIT,
 * MHD_NO).  A binary that links libcurl or libmicrohttpd itself
 * (the test programs do) still works: these definitions win at link
 * time, and dlsym on the library's own handle returns its functions.
 */
/* Our definitions of curl_easy_setopt/getinfo must not meet curl.h's
 * type-checking macros of the same names. */
#define CURL_DISABLE_TYPECHECK 1
#include <curl/curl.h>
#include <dlfcn.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dynlink.h"
#include "err.h"

/* dlerror() names the file or the symbol itself. */
static void
note_error(char *buf, size_t cap, const char *what)
{
	const char *e = dlerror();

	snprintf(buf, cap, "%s", e != NULL ? e : what);
}

/* Resolves every name in `names` into `slots`; all or nothing; why not
 * goes to why[].  The environment variable `env` may name another file
 * or soname to load (a libcurl built with other protocols, or a test's
 * missing library). */
static void *
load(const char *env, const char *soname, const char *const *names,
    void **slots, size_t n, char *why, size_t why_cap)
{
	const char *alt = getenv(env);
	void *h;
	size_t i;

	if (alt != NULL && *alt != '\0')
		soname = alt;
	h = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
	if (h == NULL) {
		note_error(why, why_cap, soname);
		return NULL;
	}
	for (i = 0; i < n; i++) {
		slots[i] = dlsym(h, names[i]);
		if (slots[i] == NULL) {
			note_error(why, why_cap, names[i]);
			dlclose(h);
			return NULL;
		}
	}
	return h;
}

/* ---- libcurl ------------------------------------------------------- */

enum {
	C_GLOBAL_INIT, C_EASY_INIT, C_EASY_SETOPT, C_EASY_PERFORM,
	C_EASY_GETINFO, C_EASY_CLEANUP, C_EASY_RESET, C_EASY_STRERROR,
	C_GETDATE, C__COUNT
};
static const char *const curl_names[C__COUNT] = {
	"curl_global_init", "curl_easy_init", "curl_easy_setopt",
	"curl_easy_perform", "curl_easy_getinfo", "curl_easy_cleanup",
	"curl_easy_reset", "curl_easy_strerror", "curl_getdate",
};
static void *curl_fn[C__COUNT];
static void *curl_lib;
static char curl_why[256];
static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void
curl_load(void)
{
	curl_lib = load("ATREST_LIBCURL", "libcurl.so.4", curl_names, curl_fn,
	    C__COUNT, curl_why, sizeof(curl_why));
}

static int
curl_ok(void)
{
	pthread_once(&curl_once, curl_load);
	return curl_lib != NULL;
}

enum atr_err
atr_dynlink_curl(void)
{
	return curl_ok() ? ATR_OK :
	    atr_fail(ATR_ERR_CONFIG, "cannot load libcurl: %s", curl_why);
}

/* A data pointer from dlsym is converted to a function pointer through
 * memcpy: POSIX guarantees the representation, ISO C has no cast. */
#define FN(out, slot) memcpy(&(out), &(slot), sizeof(out))

CURLcode
curl_global_init(long flags)
{
	CURLcode (*f)(long);

	if (!curl_ok())
		return CURLE_FAILED_INIT;
	FN(f, curl_fn[C_GLOBAL_INIT]);
	return f(flags);
}

CURL *
curl_easy_init(void)
{
	CURL *(*f)(void);

	if (!curl_ok())
		return NULL;
	FN(f, curl_fn[C_EASY_INIT]);
	return f();
}

/*
 * The option number says the type of the one argument that follows
 * (curl.h: CURLOPTTYPE_*), so it is read as that type and passed on.
 */
CURLcode
curl_easy_setopt(CURL *h, CURLoption opt, ...)
{
	CURLcode (*fl)(CURL *, CURLoption, long);
	CURLcode (*fp)(CURL *, CURLoption, void *);
	CURLcode (*ff)(CURL *, CURLoption, void (*)(void));
	CURLcode (*fo)(CURL *, CURLoption, curl_off_t);
	CURLcode rc;
	va_list ap;

	if (!curl_ok())
		return CURLE_FAILED_INIT;
	FN(fl, curl_fn[C_EASY_SETOPT]);
	FN(fp, curl_fn[C_EASY_SETOPT]);
	FN(ff, curl_fn[C_EASY_SETOPT]);
	FN(fo, curl_fn[C_EASY_SETOPT]);
	va_start(ap, opt);
	if (opt < CURLOPTTYPE_OBJECTPOINT)
		rc = fl(h, opt, va_arg(ap, long));
	else if (opt < CURLOPTTYPE_FUNCTIONPOINT)
		rc = fp(h, opt, va_arg(ap, void *));
	else if (opt < CURLOPTTYPE_OFF_T)
		rc = ff(h, opt, va_arg(ap, void (*)(void)));
	else if (opt < CURLOPTTYPE_BLOB)
		rc = fo(h, opt, va_arg(ap, curl_off_t));
	else
		rc = fp(h, opt, va_arg(ap, void *));
	va_end(ap);
	return rc;
}

CURLcode
curl_easy_perform(CURL *h)
{
	CURLcode (*f)(CURL *);

	if (!curl_ok())
		return CURLE_FAILED_INIT;
	FN(f, curl_fn[C_EASY_PERFORM]);
	return f(h);
}

/* Every CURLINFO atrest reads takes one pointer. */
CURLcode
curl_easy_getinfo(CURL *h, CURLINFO info, ...)
{
	CURLcode (*f)(CURL *, CURLINFO, void *);
	void *p;
	va_list ap;

	if (!curl_ok())
		return CURLE_FAILED_INIT;
	FN(f, curl_fn[C_EASY_GETINFO]);
	va_start(ap, info);
	p = va_arg(ap, void *);
	va_end(ap);
	return f(h, info, p);
}

void
curl_easy_cleanup(CURL *h)
{
	void (*f)(CURL *);

	if (h == NULL || !curl_ok())
		return;
	FN(f, curl_fn[C_EASY_CLEANUP]);
	f(h);
}

void
curl_easy_reset(CURL *h)
{
	void (*f)(CURL *);

	if (!curl_ok())
		return;
	FN(f, curl_fn[C_EASY_RESET]);
	f(h);
}

const char *
curl_easy_strerror(CURLcode cc)
{
	const char *(*f)(CURLcode);

	if (!curl_ok())
		return "libcurl cannot be loaded";
	FN(f, curl_fn[C_EASY_STRERROR]);
	return f(cc);
}

time_t
curl_getdate(const char *s, const time_t *unused)
{
	time_t (*f)(const char *, const time_t *);

	if (!curl_ok())
		return -1;
	FN(f, curl_fn[C_GETDATE]);
	return f(s, unused);
}

/* ---- libmicrohttpd ------------------------------------------------- */

enum {
	M_START_VA, M_STOP, M_LOOKUP, M_QUEUE, M_FROM_BUFFER,
	M_FROM_BUFFER_CB, M_DESTROY, M_ADD_HEADER, M_DAEMON_INFO,
	M_CONN_INFO, M_FEATURE, M_CONN_OPTION, M__COUNT
};
static const char *const mhd_names[M__COUNT] = {
	"MHD_start_daemon_va", "MHD_stop_daemon",
	"MHD_lookup_connection_value", "MHD_queue_response",
	"MHD_create_response_from_buffer",
	"MHD_create_response_from_buffer_with_free_callback_cls",
	"MHD_destroy_response", "MHD_add_response_header",
	"MHD_get_daemon_info", "MHD_get_connection_info",
	"MHD_is_feature_supported", "MHD_set_connection_option",
};
static void *mhd_fn[M__COUNT];
static void *mhd_lib;
static char mhd_why[256];
static pthread_once_t mhd_once = PTHREAD_ONCE_INIT;

static void
mhd_load(void)
{
	mhd_lib = load("ATREST_LIBMICROHTTPD", "libmicrohttpd.so.12",
	    mhd_names, mhd_fn, M__COUNT, mhd_why, sizeof(mhd_why));
}

static int
mhd_ok(void)
{
	pthread_once(&mhd_once, mhd_load);
	return mhd_lib != NULL;
}

enum atr_err
atr_dynlink_mhd(void)
{
	return mhd_ok() ? ATR_OK : atr_fail(ATR_ERR_CONFIG,
	    "cannot load libmicrohttpd: %s", mhd_why);
}

/* The option list goes on as a va_list: MHD_start_daemon_va is the
 * library's own form of this call. */
struct MHD_Daemon *
MHD_start_daemon(unsigned int flags, uint16_t port,
    MHD_AcceptPolicyCallback apc, void *apc_cls, MHD_AccessHandlerCallback dh,
    void *dh_cls, ...)
{
	struct MHD_Daemon *(*f)(unsigned int, uint16_t,
	    MHD_AcceptPolicyCallback, void *, MHD_AccessHandlerCallback,
	    void *, va_list);
	struct MHD_Daemon *d;
	va_list ap;

	if (!mhd_ok())
		return NULL;
	FN(f, mhd_fn[M_START_VA]);
	va_start(ap, dh_cls);
	d = f(flags, port, apc, apc_cls, dh, dh_cls, ap);
	va_end(ap);
	return d;
}

void
MHD_stop_daemon(struct MHD_Daemon *d)
{
	void (*f)(struct MHD_Daemon *);

	if (!mhd_ok())
		return;
	FN(f, mhd_fn[M_STOP]);
	f(d);
}

const char *
MHD_lookup_connection_value(struct MHD_Connection *c, enum MHD_ValueKind k,
    const char *key)
{
	const char *(*f)(struct MHD_Connection *, enum MHD_ValueKind,
	    const char *);

	if (!mhd_ok())
		return NULL;
	FN(f, mhd_fn[M_LOOKUP]);
	return f(c, k, key);
}

enum MHD_Result
MHD_queue_response(struct MHD_Connection *c, unsigned int status,
    struct MHD_Response *r)
{
	enum MHD_Result (*f)(struct MHD_Connection *, unsigned int,
	    struct MHD_Response *);

	if (!mhd_ok())
		return MHD_NO;
	FN(f, mhd_fn[M_QUEUE]);
	return f(c, status, r);
}

struct MHD_Response *
MHD_create_response_from_buffer(size_t size, void *buf,
    enum MHD_ResponseMemoryMode mode)
{
	struct MHD_Response *(*f)(size_t, void *, enum MHD_ResponseMemoryMode);

	if (!mhd_ok())
		return NULL;
	FN(f, mhd_fn[M_FROM_BUFFER]);
	return f(size, buf, mode);
}

struct MHD_Response *
MHD_create_response_from_buffer_with_free_callback_cls(size_t size,
    void *buf, MHD_ContentReaderFreeCallback crfc, void *crfc_cls)
{
	struct MHD_Response *(*f)(size_t, void *,
	    MHD_ContentReaderFreeCallback, void *);

	if (!mhd_ok())
		return NULL;
	FN(f, mhd_fn[M_FROM_BUFFER_CB]);
	return f(size, buf, crfc, crfc_cls);
}

void
MHD_destroy_response(struct MHD_Response *r)
{
	void (*f)(struct MHD_Response *);

	if (!mhd_ok())
		return;
	FN(f, mhd_fn[M_DESTROY]);
	f(r);
}

enum MHD_Result
MHD_add_response_header(struct MHD_Response *r, const char *name,
    const char *value)
{
	enum MHD_Result (*f)(struct MHD_Response *, const char *,
	    const char *);

	if (!mhd_ok())
		return MHD_NO;
	FN(f, mhd_fn[M_ADD_HEADER]);
	return f(r, name, value);
}

/* The info types atrest asks for take no further argument. */
const union MHD_DaemonInfo *
MHD_get_daemon_info(struct MHD_Daemon *d, enum MHD_DaemonInfoType t, ...)
{
	const union MHD_DaemonInfo *(*f)(struct MHD_Daemon *,
	    enum MHD_DaemonInfoType, ...);

	if (!mhd_ok())
		return NULL;
	FN(f, mhd_fn[M_DAEMON_INFO]);
	return f(d, t);
}

const union MHD_ConnectionInfo *
MHD_get_connection_info(struct MHD_Connection *c,
    enum MHD_ConnectionInfoType t, ...)
{
	const union MHD_ConnectionInfo *(*f)(struct MHD_Connection *,
	    enum MHD_ConnectionInfoType, ...);

	if (!mhd_ok())
		return NULL;
	FN(f, mhd_fn[M_CONN_INFO]);
	return f(c, t);
}

enum MHD_Result
MHD_is_feature_supported(enum MHD_FEATURE feature)
{
	enum MHD_Result (*f)(enum MHD_FEATURE);

	if (!mhd_ok())
		return MHD_NO;
	FN(f, mhd_fn[M_FEATURE]);
	return f(feature);
}

/* The one option atrest sets, MHD_CONNECTION_OPTION_TIMEOUT, takes an
 * unsigned int. */
enum MHD_Result
MHD_set_connection_option(struct MHD_Connection *c,
    enum MHD_CONNECTION_OPTION option, ...)
{
	enum MHD_Result (*f)(struct MHD_Connection *,
	    enum MHD_CONNECTION_OPTION, ...);
	unsigned int v;
	va_list ap;

	if (!mhd_ok())
		return MHD_NO;
	FN(f, mhd_fn[M_CONN_OPTION]);
	va_start(ap, option);
	v = va_arg(ap, unsigned int);
	va_end(ap);
	return f(c, option, v);
}
