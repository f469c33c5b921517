/*
 * dlib.h - a shared library opened on first use.
 *
 * libcurl and libmicrohttpd are not linked into atrest: mapping and
 * relocating them (and the 30 libraries they pull in: Kerberos, LDAP,
 * GnuTLS, ...) cost every command about 14 ms before main(), though only
 * the Key Vault client and `atrest vault serve` use them.  Each of those
 * layers opens its library with this helper and calls it through a table
 * of correctly typed function pointers (keyvault/curl_dl.h,
 * vault/mhd_dl.h), so nothing in atrest defines a libcurl or
 * libmicrohttpd symbol and the test programs reach the libraries exactly
 * as the binary does.
 */
#ifndef ATR_DLIB_H
#define ATR_DLIB_H

#include <stddef.h>

/*
 * Opens soname (or the file the environment variable env names, if set:
 * another build of the library, or a test's missing one) and resolves
 * names[0..n-1] into slots[0..n-1], all or nothing.  Returns the handle,
 * or NULL with dlerror's reason in why[cap] (the caller's buffer).
 * names, env and soname are borrowed for the call; slots is the caller's
 * table.  On success the handle is never closed (the functions stay in
 * use until the process exits).  On failure the library is closed again
 * and slots[0..n-1] may hold pointers into it: never call them.
 *
 * Thread-safety: it reads the environment (getenv(3)), so it must not
 * run while another thread changes it; a layer calls it once, inside
 * pthread_once, and publishes the table from there (keyvault/curl_dl.c,
 * vault/mhd_dl.c).
 */
void *atr_dlib_open(const char *env, const char *soname,
    const char *const *names, void **slots, size_t n, char *why,
    size_t cap);

/*
 * A data pointer from dlsym(3) becomes a function pointer through memcpy:
 * POSIX guarantees that the representations agree, ISO C has no cast
 * between the two.
 */
#define ATR_DLIB_FN(fnptr, slot) \
	memcpy(&(fnptr), &(slot), sizeof(fnptr))

#endif
