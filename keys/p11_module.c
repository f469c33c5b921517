/*
 * p11_module.c - PKCS#11 modules: loading, initialising and releasing a
 * module (PKCS#11 v2.40 5.4), and what its return values mean.
 *
 * One dlopen'ed, C_Initialize'd instance per module path, process-wide
 * and reference-counted, with CKF_OS_LOCKING_OK so the module may be
 * called from several threads; it is C_Finalize'd when the last key
 * using it is freed, unless someone else in the process initialised it
 * first (CKR_CRYPTOKI_ALREADY_INITIALIZED), in which case finalising is
 * theirs to do.
 */
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "p11_int.h"

static pthread_mutex_t modules_lock = PTHREAD_MUTEX_INITIALIZER;
static struct p11_module *modules;

const char *
p11_ckr_name(CK_RV rv)
{
	static _Thread_local char buf[32];

	switch (rv) {
#define N(x) case x: return #x;
	N(CKR_OK) N(CKR_CANCEL) N(CKR_HOST_MEMORY) N(CKR_SLOT_ID_INVALID)
	N(CKR_GENERAL_ERROR) N(CKR_FUNCTION_FAILED) N(CKR_ARGUMENTS_BAD)
	N(CKR_NO_EVENT) N(CKR_NEED_TO_CREATE_THREADS) N(CKR_CANT_LOCK)
	N(CKR_ATTRIBUTE_READ_ONLY) N(CKR_ATTRIBUTE_SENSITIVE)
	N(CKR_ATTRIBUTE_TYPE_INVALID) N(CKR_ATTRIBUTE_VALUE_INVALID)
	N(CKR_ACTION_PROHIBITED) N(CKR_DATA_INVALID) N(CKR_DATA_LEN_RANGE)
	N(CKR_DEVICE_ERROR) N(CKR_DEVICE_MEMORY) N(CKR_DEVICE_REMOVED)
	N(CKR_ENCRYPTED_DATA_INVALID) N(CKR_ENCRYPTED_DATA_LEN_RANGE)
	N(CKR_FUNCTION_CANCELED) N(CKR_FUNCTION_NOT_PARALLEL)
	N(CKR_FUNCTION_NOT_SUPPORTED) N(CKR_KEY_HANDLE_INVALID)
	N(CKR_KEY_SIZE_RANGE) N(CKR_KEY_TYPE_INCONSISTENT)
	N(CKR_KEY_NOT_NEEDED) N(CKR_KEY_CHANGED) N(CKR_KEY_NEEDED)
	N(CKR_KEY_INDIGESTIBLE) N(CKR_KEY_FUNCTION_NOT_PERMITTED)
	N(CKR_KEY_NOT_WRAPPABLE) N(CKR_KEY_UNEXTRACTABLE)
	N(CKR_MECHANISM_INVALID) N(CKR_MECHANISM_PARAM_INVALID)
	N(CKR_OBJECT_HANDLE_INVALID) N(CKR_OPERATION_ACTIVE)
	N(CKR_OPERATION_NOT_INITIALIZED) N(CKR_PIN_INCORRECT)
	N(CKR_PIN_INVALID) N(CKR_PIN_LEN_RANGE) N(CKR_PIN_EXPIRED)
	N(CKR_PIN_LOCKED) N(CKR_SESSION_CLOSED) N(CKR_SESSION_COUNT)
	N(CKR_SESSION_HANDLE_INVALID) N(CKR_SESSION_PARALLEL_NOT_SUPPORTED)
	N(CKR_SESSION_READ_ONLY) N(CKR_SESSION_EXISTS)
	N(CKR_SESSION_READ_ONLY_EXISTS) N(CKR_SESSION_READ_WRITE_SO_EXISTS)
	N(CKR_SIGNATURE_INVALID) N(CKR_SIGNATURE_LEN_RANGE)
	N(CKR_TEMPLATE_INCOMPLETE) N(CKR_TEMPLATE_INCONSISTENT)
	N(CKR_TOKEN_NOT_PRESENT) N(CKR_TOKEN_NOT_RECOGNIZED)
	N(CKR_TOKEN_WRITE_PROTECTED) N(CKR_UNWRAPPING_KEY_HANDLE_INVALID)
	N(CKR_UNWRAPPING_KEY_SIZE_RANGE)
	N(CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT) N(CKR_USER_ALREADY_LOGGED_IN)
	N(CKR_USER_NOT_LOGGED_IN) N(CKR_USER_PIN_NOT_INITIALIZED)
	N(CKR_USER_TYPE_INVALID) N(CKR_USER_ANOTHER_ALREADY_LOGGED_IN)
	N(CKR_USER_TOO_MANY_TYPES) N(CKR_WRAPPED_KEY_INVALID)
	N(CKR_WRAPPED_KEY_LEN_RANGE) N(CKR_WRAPPING_KEY_HANDLE_INVALID)
	N(CKR_WRAPPING_KEY_SIZE_RANGE) N(CKR_WRAPPING_KEY_TYPE_INCONSISTENT)
	N(CKR_RANDOM_SEED_NOT_SUPPORTED) N(CKR_RANDOM_NO_RNG)
	N(CKR_DOMAIN_PARAMS_INVALID) N(CKR_BUFFER_TOO_SMALL)
	N(CKR_SAVED_STATE_INVALID) N(CKR_INFORMATION_SENSITIVE)
	N(CKR_STATE_UNSAVEABLE) N(CKR_CRYPTOKI_NOT_INITIALIZED)
	N(CKR_CRYPTOKI_ALREADY_INITIALIZED) N(CKR_MUTEX_BAD)
	N(CKR_MUTEX_NOT_LOCKED) N(CKR_FUNCTION_REJECTED)
#undef N
	}
	snprintf(buf, sizeof(buf), "CKR_0x%08lX", (unsigned long)rv);
	return buf;
}

/*
 * Failures of C_Decrypt / C_UnwrapKey that do not depend on the bytes
 * being unwrapped.  Everything else from those calls is ATR_ERR_AUTH with
 * one message whatever the CKR: tokens report a bad OAEP encoding or a
 * failed KWP integrity check variously as ENCRYPTED_DATA_INVALID,
 * WRAPPED_KEY_INVALID, GENERAL_ERROR, FUNCTION_FAILED or DEVICE_ERROR,
 * and telling those apart is a padding oracle (Manger, RFC 8017 7.1.2
 * note).
 */
int
p11_data_independent(CK_RV rv)
{
	switch (rv) {
	case CKR_HOST_MEMORY:
	case CKR_DEVICE_MEMORY:
	case CKR_SESSION_CLOSED:
	case CKR_SESSION_HANDLE_INVALID:
	case CKR_SESSION_READ_ONLY:
	case CKR_DEVICE_REMOVED:
	case CKR_TOKEN_NOT_PRESENT:
	case CKR_CRYPTOKI_NOT_INITIALIZED:
	case CKR_USER_NOT_LOGGED_IN:
	case CKR_OPERATION_ACTIVE:
	case CKR_OPERATION_NOT_INITIALIZED:
	case CKR_FUNCTION_NOT_SUPPORTED:
	case CKR_FUNCTION_CANCELED:
	case CKR_ARGUMENTS_BAD:
	case CKR_MECHANISM_INVALID:
	case CKR_MECHANISM_PARAM_INVALID:
	case CKR_KEY_HANDLE_INVALID:
	case CKR_KEY_FUNCTION_NOT_PERMITTED:
	case CKR_UNWRAPPING_KEY_HANDLE_INVALID:
	case CKR_UNWRAPPING_KEY_SIZE_RANGE:
	case CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT:
	case CKR_ATTRIBUTE_READ_ONLY:
	case CKR_ATTRIBUTE_TYPE_INVALID:
	case CKR_ATTRIBUTE_VALUE_INVALID:
	case CKR_TEMPLATE_INCOMPLETE:
	case CKR_TEMPLATE_INCONSISTENT:
	case CKR_TOKEN_WRITE_PROTECTED:
		return 1;
	default:
		return 0;
	}
}

enum atr_err
p11_module_get(const char *path, struct p11_module **out)
{
	CK_C_INITIALIZE_ARGS args;
	CK_C_GetFunctionList getfl;
	struct p11_module *m = NULL;
	char real[PATH_MAX];
	enum atr_err err;
	void *sym;
	CK_RV rv;

	*out = NULL;
	if (realpath(path, real) == NULL)
		return atr_fail(ATR_ERR_CONFIG,
		    "cannot load PKCS#11 module %s: %s", path, strerror(errno));
	pthread_mutex_lock(&modules_lock);
	for (m = modules; m != NULL; m = m->next) {
		if (strcmp(m->path, real) == 0) {
			m->refs++;
			*out = m;
			pthread_mutex_unlock(&modules_lock);
			return ATR_OK;
		}
	}
	m = calloc(1, sizeof(*m));
	if (m == NULL) {
		err = ATR_ERR_NOMEM;
		goto out;
	}
	snprintf(m->path, sizeof(m->path), "%s", real);
	m->dl = dlopen(real, RTLD_NOW | RTLD_LOCAL);
	if (m->dl == NULL) {
		const char *e = dlerror();

		err = atr_fail(ATR_ERR_CONFIG, "cannot load PKCS#11 module %s: %s",
		    path, e != NULL ? e : "dlopen failed");
		goto out;
	}
	sym = dlsym(m->dl, "C_GetFunctionList");
	if (sym == NULL) {
		err = atr_fail(ATR_ERR_CONFIG,
		    "%s is not a PKCS#11 module (no C_GetFunctionList)", path);
		goto out;
	}
	/* POSIX dlsym: a data pointer that holds a function address. */
	memcpy(&getfl, &sym, sizeof(getfl));
	rv = getfl(&m->f);
	if (rv != CKR_OK || m->f == NULL) {
		err = atr_fail(ATR_ERR_CONFIG,
		    "PKCS#11 module %s: C_GetFunctionList failed: %s", path,
		    p11_ckr_name(rv));
		goto out;
	}
	if (m->f->version.major != 2) {
		err = atr_fail(ATR_ERR_CONFIG,
		    "PKCS#11 module %s implements version %u.%u; 2.x is needed",
		    path, m->f->version.major, m->f->version.minor);
		goto out;
	}
	/* v2.40 5.4: no mutex callbacks and CKF_OS_LOCKING_OK = the module
	 * uses the OS primitives and may be called from several threads. */
	memset(&args, 0, sizeof(args));
	args.flags = CKF_OS_LOCKING_OK;
	rv = m->f->C_Initialize(&args);
	if (rv == CKR_OK)
		m->initialized_here = 1;
	else if (rv != CKR_CRYPTOKI_ALREADY_INITIALIZED) {
		err = atr_fail(rv == CKR_CANT_LOCK ? ATR_ERR_UNSUPPORTED :
		    ATR_ERR_CRYPTO, "PKCS#11 module %s: C_Initialize failed: %s",
		    path, p11_ckr_name(rv));
		goto out;
	}
	m->refs = 1;
	m->next = modules;
	modules = m;
	*out = m;
	m = NULL;
	err = ATR_OK;
out:
	if (m != NULL) {
		if (m->dl != NULL)
			dlclose(m->dl);
		free(m);
	}
	pthread_mutex_unlock(&modules_lock);
	return err;
}

void
p11_module_put(struct p11_module *m)
{
	struct p11_module **pp;

	if (m == NULL)
		return;
	pthread_mutex_lock(&modules_lock);
	if (--m->refs > 0) {
		pthread_mutex_unlock(&modules_lock);
		return;
	}
	for (pp = &modules; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == m) {
			*pp = m->next;
			break;
		}
	}
	if (m->initialized_here)
		m->f->C_Finalize(NULL);
	dlclose(m->dl);
	free(m);
	pthread_mutex_unlock(&modules_lock);
}
