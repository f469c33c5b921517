/*
 * provider_pkcs11.c - keys held in a PKCS#11 token, named by RFC 7512 URIs.
 *
 *   RSA private key (CKO_PRIVATE_KEY, CKK_RSA)   wrap: locally with the
 *       public part (RSA-OAEP, RFC 8017 7.1); unwrap: C_Decrypt with
 *       CKM_RSA_PKCS_OAEP inside the token.
 *   AES-256 key (CKO_SECRET_KEY, CKK_AES)        wrap and unwrap inside the
 *       token with CKM_AES_KEY_WRAP_PAD (RFC 5649 KWP).
 *
 * Both are customer-managed keys: the key never leaves the token.
 *
 * Module handling (PKCS#11 v2.40 5.4): one dlopen'ed, C_Initialize'd
 * instance per module path, process-wide and reference-counted, with
 * CKF_OS_LOCKING_OK so the module may be called from several threads; it
 * is C_Finalize'd when the last key using it is freed, unless someone
 * else in the process initialised it first (CKR_CRYPTOKI_ALREADY_
 * INITIALIZED), in which case finalising is theirs to do.
 *
 * Sessions: a PKCS#11 session holds one active operation at a time
 * (C_DecryptInit .. C_Decrypt), so two threads must never share one.
 * Each key keeps a pool of open sessions; a thread takes one for the
 * length of an operation and puts it back, so every thread that works
 * concurrently has its own session and the number of sessions is the
 * peak concurrency.  A pool is used rather than a table keyed by thread
 * id because worker threads come and go: a thread-keyed table either
 * leaks one session per dead thread or needs thread-exit destructors
 * racing atr_key_free().  Object handles are looked up per session.
 * The first session is the one the PIN logged in (CKU_USER); PKCS#11
 * login state is per application and slot and lasts while any session
 * on the slot is open, so sessions opened later need no PIN and the PIN
 * is wiped right after C_Login.
 */
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include <p11-kit/pkcs11.h>

#include "crypto.h"
#include "key.h"
#include "keys.h"
#include "pkcs11_uri.h"

#define RSA_MIN_BITS 2048U
#define RSA_MAX_BITS 8192U
#define FIND_MAX 16U
#define MODULE_ENV "ATREST_PKCS11_MODULE"

/* ---- module registry ---- */

struct p11_module {
	struct p11_module *next;
	char path[PATH_MAX];
	void *dl;
	CK_FUNCTION_LIST_PTR f;
	int initialized_here;
	unsigned refs;
};

static pthread_mutex_t modules_lock = PTHREAD_MUTEX_INITIALIZER;
static struct p11_module *modules;

/* ---- per key ---- */

struct p11_sess {
	CK_SESSION_HANDLE h;
	CK_OBJECT_HANDLE obj;
	int have_obj;
};

struct p11_impl {
	struct p11_module *mod;
	CK_FUNCTION_LIST_PTR f;
	CK_SLOT_ID slot;
	CK_FLAGS token_flags;
	char token_serial[ATR_P11_SERIAL_MAX + 1];
	char token_manuf[ATR_P11_MANUF_MAX + 1];
	char token_model[ATR_P11_MODEL_MAX + 1];
	char token_disp[ATR_P11_TOKEN_MAX + 1]; /* printable, for messages */
	/* The object as the token names it, to find it in each session. */
	CK_OBJECT_CLASS cls;
	CK_KEY_TYPE ktype;
	uint8_t label[ATR_P11_OBJECT_MAX];
	size_t label_len;
	uint8_t id[ATR_P11_ID_MAX];
	size_t id_len;
	struct atr_p11_uri canon; /* key_id, parsed; holds no PIN */
	int oaep256;              /* the token decrypts OAEP with SHA-256 */
	EVP_PKEY *pub;            /* RSA public part, for local wrap */
	pthread_mutex_t lock;
	int lock_init;
	struct p11_sess *idle;
	size_t n_idle, cap_idle;
};

static const char *
ckr_name(CK_RV rv)
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

/* Errors that say the session (or the token behind it) is gone: the
 * session is closed instead of going back to the pool.  BUFFER_TOO_SMALL
 * and OPERATION_ACTIVE leave an operation pending that v2.40 can only
 * cancel by closing the session. */
static int
session_dead(CK_RV rv)
{
	switch (rv) {
	case CKR_SESSION_CLOSED:
	case CKR_SESSION_HANDLE_INVALID:
	case CKR_DEVICE_REMOVED:
	case CKR_TOKEN_NOT_PRESENT:
	case CKR_DEVICE_ERROR:
	case CKR_CRYPTOKI_NOT_INITIALIZED:
	case CKR_BUFFER_TOO_SMALL:
	case CKR_OPERATION_ACTIVE:
		return 1;
	default:
		return 0;
	}
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
static int
data_independent(CK_RV rv)
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

/* Copies s for a one-line message: non-printable bytes become '?'. */
static void
printable(const char *s, size_t n, char *out, size_t cap)
{
	size_t i;

	if (cap == 0)
		return;
	for (i = 0; i < n && i + 1 < cap; i++) {
		unsigned char c = (unsigned char)s[i];

		out[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
	out[i] = '\0';
}

/* A blank-padded CK_TOKEN_INFO field (PKCS#11 v2.40 3.2) as a string;
 * some tokens pad with NULs instead of blanks. */
static void
unpad(const unsigned char *f, size_t n, char *out)
{
	while (n > 0 && (f[n - 1] == ' ' || f[n - 1] == '\0'))
		n--;
	memcpy(out, f, n);
	out[n] = '\0';
}

static enum atr_err
module_get(const char *path, struct p11_module **out)
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
		    ckr_name(rv));
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
		    path, ckr_name(rv));
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

static void
module_put(struct p11_module *m)
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

/* ---- attributes ---- */

static CK_RV
get_ulong(struct p11_impl *p, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
    CK_ATTRIBUTE_TYPE t, CK_ULONG *v)
{
	CK_ATTRIBUTE a = {t, v, sizeof(*v)};

	return p->f->C_GetAttributeValue(s, o, &a, 1);
}

static CK_RV
get_bool(struct p11_impl *p, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
    CK_ATTRIBUTE_TYPE t, int *v)
{
	CK_BBOOL b = CK_FALSE;
	CK_ATTRIBUTE a = {t, &b, sizeof(b)};
	CK_RV rv = p->f->C_GetAttributeValue(s, o, &a, 1);

	*v = rv == CKR_OK && b == CK_TRUE;
	return rv;
}

/* A byte-string attribute into buf[cap]; CKR_ATTRIBUTE_VALUE_INVALID when
 * it does not fit, CKR_ATTRIBUTE_TYPE_INVALID when unavailable. */
static CK_RV
get_bytes(struct p11_impl *p, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
    CK_ATTRIBUTE_TYPE t, uint8_t *buf, size_t cap, size_t *len)
{
	CK_ATTRIBUTE a = {t, NULL, 0};
	CK_RV rv;

	*len = 0;
	rv = p->f->C_GetAttributeValue(s, o, &a, 1);
	if (rv != CKR_OK)
		return rv;
	if (a.ulValueLen == CK_UNAVAILABLE_INFORMATION)
		return CKR_ATTRIBUTE_TYPE_INVALID;
	if (a.ulValueLen > cap)
		return CKR_ATTRIBUTE_VALUE_INVALID;
	a.pValue = buf;
	rv = p->f->C_GetAttributeValue(s, o, &a, 1);
	if (rv == CKR_OK)
		*len = a.ulValueLen;
	return rv;
}

/* ---- sessions ---- */

static enum atr_err
sess_find_obj(struct p11_impl *p, struct p11_sess *s)
{
	CK_ATTRIBUTE t[4];
	CK_ULONG n = 0, got = 0;
	CK_OBJECT_HANDLE h;
	CK_RV rv;

	if (s->have_obj)
		return ATR_OK;
	t[n++] = (CK_ATTRIBUTE){CKA_CLASS, &p->cls, sizeof(p->cls)};
	t[n++] = (CK_ATTRIBUTE){CKA_KEY_TYPE, &p->ktype, sizeof(p->ktype)};
	if (p->label_len > 0)
		t[n++] = (CK_ATTRIBUTE){CKA_LABEL, p->label, p->label_len};
	if (p->id_len > 0)
		t[n++] = (CK_ATTRIBUTE){CKA_ID, p->id, p->id_len};
	rv = p->f->C_FindObjectsInit(s->h, t, n);
	if (rv != CKR_OK)
		return atr_fail(ATR_ERR_CRYPTO, "token '%s': C_FindObjectsInit: %s",
		    p->token_disp, ckr_name(rv));
	rv = p->f->C_FindObjects(s->h, &h, 1, &got);
	p->f->C_FindObjectsFinal(s->h);
	if (rv != CKR_OK)
		return atr_fail(ATR_ERR_CRYPTO, "token '%s': C_FindObjects: %s",
		    p->token_disp, ckr_name(rv));
	if (got == 0)
		return atr_fail(ATR_ERR_NOT_FOUND,
		    "token '%s': the key object is no longer there",
		    p->token_disp);
	s->obj = h;
	s->have_obj = 1;
	return ATR_OK;
}

/* Takes a session from the pool, or opens one. */
static enum atr_err
sess_get(struct p11_impl *p, struct p11_sess *s)
{
	CK_RV rv;

	memset(s, 0, sizeof(*s));
	pthread_mutex_lock(&p->lock);
	if (p->n_idle > 0) {
		*s = p->idle[--p->n_idle];
		pthread_mutex_unlock(&p->lock);
		return ATR_OK;
	}
	pthread_mutex_unlock(&p->lock);
	/* Read-only is enough: C_UnwrapKey and C_CreateObject make session
	 * objects (CKA_TOKEN false), allowed in R/O sessions (v2.40 4.4). */
	rv = p->f->C_OpenSession(p->slot, CKF_SERIAL_SESSION, NULL, NULL,
	    &s->h);
	if (rv != CKR_OK)
		return atr_fail(ATR_ERR_CRYPTO, "token '%s': C_OpenSession: %s",
		    p->token_disp, ckr_name(rv));
	return ATR_OK;
}

/* Returns a session to the pool; closes it when rv says it is dead. */
static void
sess_put(struct p11_impl *p, struct p11_sess *s, CK_RV rv)
{
	if (session_dead(rv))
		goto close;
	pthread_mutex_lock(&p->lock);
	if (p->n_idle == p->cap_idle) {
		size_t cap = p->cap_idle ? p->cap_idle * 2 : 4;
		struct p11_sess *n = realloc(p->idle, cap * sizeof(*n));

		if (n == NULL) {
			pthread_mutex_unlock(&p->lock);
			goto close;
		}
		p->idle = n;
		p->cap_idle = cap;
	}
	p->idle[p->n_idle++] = *s;
	pthread_mutex_unlock(&p->lock);
	return;
close:
	p->f->C_CloseSession(s->h);
}

/* ---- RSA ---- */

static enum atr_err
rsa_pub_from_n_e(const uint8_t *n, size_t n_len, const uint8_t *e,
    size_t e_len, EVP_PKEY **out)
{
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	BIGNUM *bn = NULL, *be = NULL;
	enum atr_err err = ATR_ERR_CRYPTO;

	*out = NULL;
	bn = BN_bin2bn(n, (int)n_len, NULL);
	be = BN_bin2bn(e, (int)e_len, NULL);
	bld = OSSL_PARAM_BLD_new();
	if (bn == NULL || be == NULL || bld == NULL)
		goto out;
	if (!ATR_OSSL(OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn)) ||
	    !ATR_OSSL(OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be)))
		goto out;
	params = OSSL_PARAM_BLD_to_param(bld);
	ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	if (params == NULL || ctx == NULL)
		goto out;
	if (!ATR_OSSL(EVP_PKEY_fromdata_init(ctx)) ||
	    !ATR_OSSL(EVP_PKEY_fromdata(ctx, out, EVP_PKEY_PUBLIC_KEY, params)))
		goto out;
	err = ATR_OK;
out:
	if (err != ATR_OK) {
		ERR_clear_error();
		err = atr_fail(err, "cannot build the RSA public key from "
		    "CKA_MODULUS / CKA_PUBLIC_EXPONENT");
	}
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_free(bn);
	BN_free(be);
	return err;
}

/*
 * RSA-OAEP decryption inside the token.  C_Decrypt rather than
 * C_UnwrapKey: the 64 bytes are not a key the token should keep (the DEK
 * and the context digest, FORMAT.md), C_Decrypt hands them back in one
 * call with no object to create, read and destroy, and it needs only
 * CKA_DECRYPT, which imported and generated RSA keys carry (CKA_UNWRAP
 * plus an extractable, non-sensitive target template is refused by some
 * HSM policies).  *at_init says whether C_DecryptInit failed, i.e. the
 * failure does not depend on the ciphertext.
 */
static CK_RV
token_oaep_decrypt(struct p11_impl *p, struct p11_sess *s, int sha256,
    const uint8_t *in, size_t in_len, uint8_t *out, CK_ULONG *out_len,
    int *at_init)
{
	CK_RSA_PKCS_OAEP_PARAMS prm;
	CK_MECHANISM m;
	CK_RV rv;

	/* RFC 8017 7.1: MGF1 with the label hash; empty label. */
	memset(&prm, 0, sizeof(prm));
	prm.hashAlg = sha256 ? CKM_SHA256 : CKM_SHA_1;
	prm.mgf = sha256 ? CKG_MGF1_SHA256 : CKG_MGF1_SHA1;
	prm.source = CKZ_DATA_SPECIFIED;
	prm.pSourceData = NULL;
	prm.ulSourceDataLen = 0;
	m.mechanism = CKM_RSA_PKCS_OAEP;
	m.pParameter = &prm;
	m.ulParameterLen = sizeof(prm);
	*at_init = 1;
	rv = p->f->C_DecryptInit(s->h, &m, s->obj);
	if (rv != CKR_OK)
		return rv;
	*at_init = 0;
	return p->f->C_Decrypt(s->h, (CK_BYTE_PTR)in, (CK_ULONG)in_len, out,
	    out_len);
}

/*
 * One round trip: a random value encrypted here with the public part,
 * decrypted in the token.  *ok is 1 when it came back intact.  It checks
 * both that the token takes the OAEP parameters and that the private key
 * is the one the public part belongs to.
 */
static CK_RV
oaep_selftest(struct p11_impl *p, struct p11_sess *s, int sha256, int *ok)
{
	uint8_t pt[32], ct[ATR_WRAPPED_MAX], back[ATR_WRAPPED_MAX];
	size_t ct_len = sizeof(ct);
	CK_ULONG back_len = sizeof(back);
	int at_init;
	CK_RV rv = CKR_GENERAL_ERROR;

	*ok = 0;
	if (atr_random(pt, sizeof(pt)) != ATR_OK ||
	    atr_rsa_oaep_encrypt(p->pub, sha256 ? EVP_sha256() : EVP_sha1(),
	    NULL, 0, pt, sizeof(pt), ct, &ct_len) != ATR_OK)
		goto out;
	rv = token_oaep_decrypt(p, s, sha256, ct, ct_len, back, &back_len,
	    &at_init);
	if (rv == CKR_OK)
		*ok = back_len == sizeof(pt) &&
		    atr_ct_equal(back, pt, sizeof(pt));
out:
	atr_memzero(pt, sizeof(pt));
	atr_memzero(back, sizeof(back));
	return rv;
}

static enum atr_err
setup_rsa(struct atr_key *k, struct p11_impl *p, struct p11_sess *s,
    const struct atr_key_opts *opts)
{
	uint8_t n[RSA_MAX_BITS / 8 + 1], e[16];
	size_t n_len = 0, e_len = 0;
	CK_MECHANISM_INFO mi;
	CK_OBJECT_HANDLE src = s->obj;
	int force = 0, can_decrypt = 0, ok = 0, bits;
	enum atr_err err;
	CK_RV rv;

	if (opts != NULL && opts->wrap_alg != NULL && *opts->wrap_alg != '\0') {
		if (strcmp(opts->wrap_alg, "RSA-OAEP-256") == 0)
			force = 256;
		else if (strcmp(opts->wrap_alg, "RSA-OAEP") == 0)
			force = 1;
		else
			return atr_fail(ATR_ERR_UNSUPPORTED,
			    "wrap algorithm %s is not available for a PKCS#11 "
			    "RSA key (RSA-OAEP-256, RSA-OAEP)", opts->wrap_alg);
	}
	/* The public part: CKA_MODULUS/CKA_PUBLIC_EXPONENT of the private
	 * key (v2.40 2.1.3; most tokens keep both), else the matching
	 * CKO_PUBLIC_KEY object. */
	rv = get_bytes(p, s->h, src, CKA_MODULUS, n, sizeof(n), &n_len);
	if (rv == CKR_OK)
		rv = get_bytes(p, s->h, src, CKA_PUBLIC_EXPONENT, e, sizeof(e),
		    &e_len);
	if (rv != CKR_OK || n_len == 0 || e_len == 0) {
		CK_OBJECT_CLASS pc = CKO_PUBLIC_KEY;
		CK_ATTRIBUTE t[3];
		CK_ULONG tn = 0, got = 0;

		t[tn++] = (CK_ATTRIBUTE){CKA_CLASS, &pc, sizeof(pc)};
		if (p->id_len > 0)
			t[tn++] = (CK_ATTRIBUTE){CKA_ID, p->id, p->id_len};
		if (p->label_len > 0)
			t[tn++] = (CK_ATTRIBUTE){CKA_LABEL, p->label,
			    p->label_len};
		rv = p->f->C_FindObjectsInit(s->h, t, tn);
		if (rv == CKR_OK) {
			rv = p->f->C_FindObjects(s->h, &src, 1, &got);
			p->f->C_FindObjectsFinal(s->h);
		}
		if (rv != CKR_OK || got == 0)
			return atr_fail(ATR_ERR_KEY,
			    "token '%s': the RSA private key exposes no modulus "
			    "and no matching public key object was found",
			    p->token_disp);
		rv = get_bytes(p, s->h, src, CKA_MODULUS, n, sizeof(n), &n_len);
		if (rv == CKR_OK)
			rv = get_bytes(p, s->h, src, CKA_PUBLIC_EXPONENT, e,
			    sizeof(e), &e_len);
		if (rv != CKR_OK || n_len == 0 || e_len == 0)
			return atr_fail(ATR_ERR_KEY,
			    "token '%s': cannot read the RSA public key: %s",
			    p->token_disp, ckr_name(rv));
	}
	err = rsa_pub_from_n_e(n, n_len, e, e_len, &p->pub);
	if (err != ATR_OK)
		return err;
	bits = EVP_PKEY_get_bits(p->pub);
	if (bits < (int)RSA_MIN_BITS || bits > (int)RSA_MAX_BITS)
		return atr_fail(ATR_ERR_KEY,
		    "RSA key has %d bits; %u to %u are supported", bits,
		    RSA_MIN_BITS, RSA_MAX_BITS);
	k->bits = (unsigned)bits;

	rv = get_bool(p, s->h, s->obj, CKA_DECRYPT, &can_decrypt);
	if (rv != CKR_OK || !can_decrypt)
		return atr_fail(ATR_ERR_KEY,
		    "token '%s': the RSA private key does not permit decryption "
		    "(CKA_DECRYPT is false)", p->token_disp);
	rv = p->f->C_GetMechanismInfo(p->slot, CKM_RSA_PKCS_OAEP, &mi);
	if (rv != CKR_OK || (mi.flags & CKF_DECRYPT) == 0)
		return atr_fail(ATR_ERR_UNSUPPORTED,
		    "token '%s' does not offer CKM_RSA_PKCS_OAEP decryption",
		    p->token_disp);

	/*
	 * SHA-256 where the token supports it.  SoftHSM2 <= 2.6.1 accepts
	 * OAEP only with SHA-1/MGF1-SHA-1 and refuses anything else in
	 * C_DecryptInit (CKR_ARGUMENTS_BAD; softhsm#474), and other tokens
	 * say CKR_MECHANISM_PARAM_INVALID, or fail only in C_Decrypt.  The
	 * mechanism info cannot tell, so ask the token: any failure of the
	 * SHA-256 round trip other than a lost session falls back to SHA-1,
	 * which must then work.
	 */
	rv = oaep_selftest(p, s, 1, &ok);
	if (rv == CKR_OK && !ok)
		return atr_fail(ATR_ERR_KEY,
		    "token '%s': the RSA private key does not match its public "
		    "key (RSA-OAEP self-test)", p->token_disp);
	if (session_dead(rv))
		return atr_fail(ATR_ERR_CRYPTO, "token '%s': C_Decrypt: %s",
		    p->token_disp, ckr_name(rv));
	p->oaep256 = rv == CKR_OK;
	if (!p->oaep256 || force == 1) {
		rv = oaep_selftest(p, s, 0, &ok);
		if (rv == CKR_OK && !ok)
			return atr_fail(ATR_ERR_KEY,
			    "token '%s': the RSA private key does not match its "
			    "public key (RSA-OAEP self-test)", p->token_disp);
		if (rv != CKR_OK)
			return atr_fail(rv == CKR_KEY_FUNCTION_NOT_PERMITTED ?
			    ATR_ERR_KEY : ATR_ERR_CRYPTO,
			    "token '%s' cannot decrypt RSA-OAEP with this key: %s",
			    p->token_disp, ckr_name(rv));
	}
	if (force == 256 && !p->oaep256)
		return atr_fail(ATR_ERR_UNSUPPORTED,
		    "token '%s' cannot decrypt RSA-OAEP-256 (it supports OAEP "
		    "with SHA-1 only)", p->token_disp);
	k->alg = (force == 1 || !p->oaep256) ? ATR_WRAP_RSA_OAEP_SHA1 :
	    ATR_WRAP_RSA_OAEP_256;
	k->can_wrap = 1;
	k->can_unwrap = 1;
	if (p->oaep256)
		snprintf(k->desc, sizeof(k->desc), "RSA-%d PKCS#11 key (token %s)",
		    bits, p->token_disp);
	else
		snprintf(k->desc, sizeof(k->desc),
		    "RSA-%d PKCS#11 key (token %s: OAEP with SHA-1 only)", bits,
		    p->token_disp);
	return ATR_OK;
}

static enum atr_err
rsa_wrap(struct atr_key *k, const uint8_t *in, size_t in_len, uint8_t *out,
    size_t *out_len)
{
	struct p11_impl *p = k->impl;

	/* The public operation needs no token round trip. */
	return atr_rsa_oaep_encrypt(p->pub, k->alg == ATR_WRAP_RSA_OAEP_256 ?
	    EVP_sha256() : EVP_sha1(), NULL, 0, in, in_len, out, out_len);
}

static enum atr_err
rsa_unwrap(struct atr_key *k, const char *kid, enum atr_wrap_alg alg,
    const uint8_t *in, size_t in_len, uint8_t *out, size_t *out_len)
{
	struct p11_impl *p = k->impl;
	uint8_t buf[ATR_WRAPPED_MAX];
	CK_ULONG blen = sizeof(buf);
	struct p11_sess s;
	enum atr_err err;
	int at_init = 1;
	CK_RV rv;

	(void)kid;
	if (alg != ATR_WRAP_RSA_OAEP_256 && alg != ATR_WRAP_RSA_OAEP_SHA1) {
		atr_memzero(out, *out_len);
		*out_len = 0;
		return atr_fail(ATR_ERR_AUTH, "unwrap failed");
	}
	if (alg == ATR_WRAP_RSA_OAEP_256 && !p->oaep256) {
		*out_len = 0;
		return atr_fail(ATR_ERR_UNSUPPORTED,
		    "token '%s' cannot decrypt RSA-OAEP-256 (it supports OAEP "
		    "with SHA-1 only); open this object with the key file or "
		    "another token", p->token_disp);
	}
	err = sess_get(p, &s);
	if (err != ATR_OK) {
		*out_len = 0;
		return err;
	}
	err = sess_find_obj(p, &s);
	if (err != ATR_OK) {
		sess_put(p, &s, CKR_OK);
		*out_len = 0;
		return err;
	}
	rv = token_oaep_decrypt(p, &s, alg == ATR_WRAP_RSA_OAEP_256, in, in_len,
	    buf, &blen, &at_init);
	sess_put(p, &s, rv);
	if (rv == CKR_OK && blen <= *out_len) {
		memcpy(out, buf, blen);
		*out_len = blen;
		err = ATR_OK;
	} else if (rv != CKR_OK && (at_init || data_independent(rv))) {
		err = atr_fail(rv == CKR_USER_NOT_LOGGED_IN ?
		    ATR_ERR_UNAUTHORIZED : ATR_ERR_CRYPTO,
		    "token '%s': %s: %s", p->token_disp,
		    at_init ? "C_DecryptInit" : "C_Decrypt", ckr_name(rv));
	} else {
		err = atr_fail(ATR_ERR_AUTH, "token '%s': unwrap failed",
		    p->token_disp);
	}
	atr_memzero(buf, sizeof(buf));
	if (err != ATR_OK) {
		atr_memzero(out, *out_len);
		*out_len = 0;
	}
	return err;
}

/* ---- AES ---- */

static const CK_OBJECT_CLASS c_secret = CKO_SECRET_KEY;
static const CK_KEY_TYPE c_generic = CKK_GENERIC_SECRET;
static const CK_BBOOL c_true = CK_TRUE, c_false = CK_FALSE;

/*
 * The template of the transient object holding the 64 bytes: a session
 * object (never stored), extractable and not sensitive so C_WrapKey may
 * wrap it and its value can be read back after C_UnwrapKey, private so it
 * is only visible to the logged-in user.  C_WrapKey works on objects, so
 * the bytes pass through the token as such an object, destroyed at once.
 */
#define TMP_TEMPLATE(t, n, value, value_len)                                \
	do {                                                                \
		(n) = 0;                                                    \
		(t)[(n)++] = (CK_ATTRIBUTE){CKA_CLASS, (void *)&c_secret,   \
		    sizeof(c_secret)};                                      \
		(t)[(n)++] = (CK_ATTRIBUTE){CKA_KEY_TYPE, (void *)&c_generic, \
		    sizeof(c_generic)};                                     \
		(t)[(n)++] = (CK_ATTRIBUTE){CKA_TOKEN, (void *)&c_false,    \
		    sizeof(c_false)};                                       \
		(t)[(n)++] = (CK_ATTRIBUTE){CKA_PRIVATE, (void *)&c_true,   \
		    sizeof(c_true)};                                        \
		(t)[(n)++] = (CK_ATTRIBUTE){CKA_SENSITIVE, (void *)&c_false, \
		    sizeof(c_false)};                                       \
		(t)[(n)++] = (CK_ATTRIBUTE){CKA_EXTRACTABLE, (void *)&c_true, \
		    sizeof(c_true)};                                        \
		if ((value) != NULL)                                        \
			(t)[(n)++] = (CK_ATTRIBUTE){CKA_VALUE,              \
			    (void *)(value), (CK_ULONG)(value_len)};        \
	} while (0)

static enum atr_err
aes_wrap(struct atr_key *k, const uint8_t *in, size_t in_len, uint8_t *out,
    size_t *out_len)
{
	struct p11_impl *p = k->impl;
	CK_MECHANISM m = {CKM_AES_KEY_WRAP_PAD, NULL, 0};
	CK_OBJECT_HANDLE tmp = CK_INVALID_HANDLE;
	CK_ATTRIBUTE t[7];
	CK_ULONG tn, len;
	struct p11_sess s;
	enum atr_err err;
	CK_RV rv;

	/*
	 * Whole 64-bit blocks only.  SoftHSM2 2.6.1 zero-pads the object's
	 * value to a multiple of 8 bytes before CKM_AES_KEY_WRAP_PAD and
	 * records the padded length as the RFC 5649 MLI, so a 21-byte value
	 * would come back as 24 bytes and differ from a conforming KWP
	 * (tested).  atrest only ever wraps 64 bytes (FORMAT.md).
	 */
	if (in_len == 0 || in_len % 8 != 0)
		return atr_fail(ATR_ERR_USAGE,
		    "a PKCS#11 AES key wraps whole 8-byte blocks only");
	/* RFC 5649 3: the output is the input plus 8 bytes. */
	if (*out_len < in_len + 8)
		return atr_fail(ATR_ERR_USAGE, "wrap buffer too small");
	if (!k->can_wrap)
		return atr_fail(ATR_ERR_KEY,
		    "token '%s': the AES key does not permit wrapping "
		    "(CKA_WRAP is false)", p->token_disp);
	err = sess_get(p, &s);
	if (err != ATR_OK)
		return err;
	err = sess_find_obj(p, &s);
	if (err != ATR_OK) {
		sess_put(p, &s, CKR_OK);
		return err;
	}
	TMP_TEMPLATE(t, tn, in, in_len);
	rv = p->f->C_CreateObject(s.h, t, tn, &tmp);
	if (rv != CKR_OK) {
		err = atr_fail(ATR_ERR_CRYPTO, "token '%s': C_CreateObject: %s",
		    p->token_disp, ckr_name(rv));
		goto out;
	}
	len = (CK_ULONG)*out_len;
	rv = p->f->C_WrapKey(s.h, &m, s.obj, tmp, out, &len);
	if (rv != CKR_OK) {
		err = atr_fail(rv == CKR_KEY_FUNCTION_NOT_PERMITTED ?
		    ATR_ERR_KEY : ATR_ERR_CRYPTO,
		    "token '%s': C_WrapKey (CKM_AES_KEY_WRAP_PAD): %s",
		    p->token_disp, ckr_name(rv));
		goto out;
	}
	*out_len = len;
	err = ATR_OK;
out:
	if (tmp != CK_INVALID_HANDLE)
		p->f->C_DestroyObject(s.h, tmp);
	sess_put(p, &s, rv);
	return err;
}

static enum atr_err
aes_unwrap(struct atr_key *k, const char *kid, enum atr_wrap_alg alg,
    const uint8_t *in, size_t in_len, uint8_t *out, size_t *out_len)
{
	struct p11_impl *p = k->impl;
	CK_MECHANISM m = {CKM_AES_KEY_WRAP_PAD, NULL, 0};
	CK_OBJECT_HANDLE tmp = CK_INVALID_HANDLE;
	CK_ATTRIBUTE t[7], v;
	CK_ULONG tn;
	struct p11_sess s;
	enum atr_err err;
	CK_RV rv = CKR_OK;

	(void)kid;
	/* RFC 5649 3: at least two 64-bit blocks, whole blocks only. */
	if (alg != ATR_WRAP_AES_KWP || in_len < 16 || in_len % 8 != 0 ||
	    in_len > ATR_WRAPPED_MAX || *out_len < in_len - 8) {
		atr_memzero(out, *out_len);
		*out_len = 0;
		return atr_fail(ATR_ERR_AUTH, "token '%s': unwrap failed",
		    p->token_disp);
	}
	if (!k->can_unwrap) {
		*out_len = 0;
		return atr_fail(ATR_ERR_KEY,
		    "token '%s': the AES key does not permit unwrapping "
		    "(CKA_UNWRAP is false)", p->token_disp);
	}
	err = sess_get(p, &s);
	if (err != ATR_OK) {
		*out_len = 0;
		return err;
	}
	err = sess_find_obj(p, &s);
	if (err != ATR_OK)
		goto out;
	TMP_TEMPLATE(t, tn, (const uint8_t *)NULL, 0);
	rv = p->f->C_UnwrapKey(s.h, &m, s.obj, (CK_BYTE_PTR)in,
	    (CK_ULONG)in_len, t, tn, &tmp);
	if (rv != CKR_OK) {
		if (data_independent(rv))
			err = atr_fail(rv == CKR_USER_NOT_LOGGED_IN ?
			    ATR_ERR_UNAUTHORIZED : ATR_ERR_CRYPTO,
			    "token '%s': C_UnwrapKey: %s", p->token_disp,
			    ckr_name(rv));
		else
			err = atr_fail(ATR_ERR_AUTH, "token '%s': unwrap failed",
			    p->token_disp);
		goto out;
	}
	v = (CK_ATTRIBUTE){CKA_VALUE, NULL, 0};
	rv = p->f->C_GetAttributeValue(s.h, tmp, &v, 1);
	if (rv == CKR_OK && (v.ulValueLen == CK_UNAVAILABLE_INFORMATION ||
	    v.ulValueLen > *out_len))
		rv = CKR_ATTRIBUTE_VALUE_INVALID;
	if (rv == CKR_OK) {
		v.pValue = out;
		rv = p->f->C_GetAttributeValue(s.h, tmp, &v, 1);
	}
	if (rv != CKR_OK) {
		err = atr_fail(ATR_ERR_CRYPTO,
		    "token '%s': cannot read the unwrapped value: %s",
		    p->token_disp, ckr_name(rv));
		goto out;
	}
	*out_len = v.ulValueLen;
	err = ATR_OK;
out:
	if (tmp != CK_INVALID_HANDLE)
		p->f->C_DestroyObject(s.h, tmp);
	sess_put(p, &s, rv);
	if (err != ATR_OK) {
		atr_memzero(out, *out_len);
		*out_len = 0;
	}
	return err;
}

static enum atr_err
setup_aes(struct atr_key *k, struct p11_impl *p, struct p11_sess *s,
    const struct atr_key_opts *opts)
{
	CK_MECHANISM_INFO mi;
	CK_ULONG vlen = 0;
	int w = 0, uw = 0;
	CK_RV rv;

	if (opts != NULL && opts->wrap_alg != NULL && *opts->wrap_alg != '\0' &&
	    strcmp(opts->wrap_alg, "AES-KWP") != 0)
		return atr_fail(ATR_ERR_UNSUPPORTED,
		    "wrap algorithm %s is not available for a PKCS#11 AES key "
		    "(AES-KWP)", opts->wrap_alg);
	rv = get_ulong(p, s->h, s->obj, CKA_VALUE_LEN, &vlen);
	if (rv != CKR_OK)
		return atr_fail(ATR_ERR_KEY, "token '%s': cannot read the AES "
		    "key length: %s", p->token_disp, ckr_name(rv));
	if (vlen != 32)
		return atr_fail(ATR_ERR_KEY,
		    "token '%s': the AES key has %lu bits; AES-256 is required",
		    p->token_disp, (unsigned long)vlen * 8);
	get_bool(p, s->h, s->obj, CKA_WRAP, &w);
	get_bool(p, s->h, s->obj, CKA_UNWRAP, &uw);
	if (!w && !uw)
		return atr_fail(ATR_ERR_KEY,
		    "token '%s': the AES key permits neither wrap nor unwrap "
		    "(CKA_WRAP and CKA_UNWRAP are false)", p->token_disp);
	rv = p->f->C_GetMechanismInfo(p->slot, CKM_AES_KEY_WRAP_PAD, &mi);
	if (rv != CKR_OK || (mi.flags & (CKF_WRAP | CKF_UNWRAP)) == 0)
		return atr_fail(ATR_ERR_UNSUPPORTED,
		    "token '%s' does not offer CKM_AES_KEY_WRAP_PAD (RFC 5649)",
		    p->token_disp);
	k->can_wrap = w && (mi.flags & CKF_WRAP) != 0;
	k->can_unwrap = uw && (mi.flags & CKF_UNWRAP) != 0;
	k->bits = 256;
	k->alg = ATR_WRAP_AES_KWP;
	snprintf(k->desc, sizeof(k->desc), "AES-256 PKCS#11 key (token %s)",
	    p->token_disp);
	return ATR_OK;
}

/* ---- matching ---- */

static int
p11_matches(const struct atr_key *k, enum atr_provider_type prov,
    const char *kid)
{
	const struct p11_impl *p = k->impl;
	struct atr_p11_uri u;
	char saved[512];
	int m = 0;

	if (prov != ATR_PROV_PKCS11 || kid == NULL)
		return 0;
	if (strcmp(kid, k->key_id) == 0)
		return 1;
	/* Compare in canonical form: a key id written by another version
	 * (different attribute order or %-escape case) still names the same
	 * key.  Parsing must not clobber a failure detail the caller is
	 * about to print. */
	snprintf(saved, sizeof(saved), "%s", atr_detail());
	if (strchr(kid, '?') != NULL ||
	    atr_p11_uri_parse(kid, &u) != ATR_OK) {
		atr_detail_set("%s", saved);
		return 0;
	}
	atr_detail_set("%s", saved);
	/* The stanza's token attributes are checked against the token as
	 * it is, since the key's own URI may not have named them. */
	m = strcmp(u.token, p->canon.token) == 0 &&
	    u.has_object == p->canon.has_object &&
	    (!u.has_object || strcmp(u.object, p->canon.object) == 0) &&
	    u.has_id == p->canon.has_id &&
	    (!u.has_id || (u.id_len == p->canon.id_len &&
	    memcmp(u.id, p->canon.id, u.id_len) == 0)) &&
	    u.type == p->canon.type &&
	    (!u.has_serial || strcmp(u.serial, p->token_serial) == 0) &&
	    (!u.has_manufacturer ||
	    strcmp(u.manufacturer, p->token_manuf) == 0) &&
	    (!u.has_model || strcmp(u.model, p->token_model) == 0) &&
	    !u.has_slot_id;
	atr_p11_uri_clear(&u);
	return m;
}

/* ---- open ---- */

static enum atr_err
find_slot(struct p11_impl *p, const struct atr_p11_uri *u,
    const char *module)
{
	CK_SLOT_ID *slots = NULL;
	CK_ULONG n = 0, i, found = 0;
	CK_TOKEN_INFO ti;
	enum atr_err err;
	CK_RV rv;
	char f[ATR_P11_TOKEN_MAX + 1], manuf[ATR_P11_MANUF_MAX + 1];
	char model[ATR_P11_MODEL_MAX + 1], serial[ATR_P11_SERIAL_MAX + 1];

	rv = p->f->C_GetSlotList(CK_TRUE, NULL, &n);
	if (rv == CKR_OK && n > 0) {
		slots = calloc(n, sizeof(*slots));
		if (slots == NULL)
			return atr_fail(ATR_ERR_NOMEM, "out of memory");
		rv = p->f->C_GetSlotList(CK_TRUE, slots, &n);
	}
	if (rv != CKR_OK) {
		err = atr_fail(ATR_ERR_CRYPTO, "PKCS#11 module %s: "
		    "C_GetSlotList: %s", module, ckr_name(rv));
		goto out;
	}
	for (i = 0; i < n; i++) {
		if (u->has_slot_id && slots[i] != u->slot_id)
			continue;
		if (p->f->C_GetTokenInfo(slots[i], &ti) != CKR_OK)
			continue;
		unpad(ti.label, sizeof(ti.label), f);
		if (strcmp(f, u->token) != 0)
			continue;
		unpad(ti.manufacturerID, sizeof(ti.manufacturerID), manuf);
		if (u->has_manufacturer && strcmp(manuf, u->manufacturer) != 0)
			continue;
		unpad(ti.model, sizeof(ti.model), model);
		if (u->has_model && strcmp(model, u->model) != 0)
			continue;
		unpad(ti.serialNumber, sizeof(ti.serialNumber), serial);
		if (u->has_serial && strcmp(serial, u->serial) != 0)
			continue;
		memcpy(p->token_manuf, manuf, sizeof(p->token_manuf));
		memcpy(p->token_model, model, sizeof(p->token_model));
		memcpy(p->token_serial, serial, sizeof(p->token_serial));
		p->slot = slots[i];
		p->token_flags = ti.flags;
		found++;
	}
	if (found == 0)
		err = atr_fail(ATR_ERR_NOT_FOUND,
		    "PKCS#11 token '%s'%s%s not found in module %s",
		    p->token_disp, u->has_serial ? " with serial " : "",
		    u->has_serial ? u->serial : "", module);
	else if (found > 1)
		err = atr_fail(ATR_ERR_CONFIG,
		    "%lu PKCS#11 tokens match token '%s'; add serial= to the URI",
		    (unsigned long)found, p->token_disp);
	else
		err = ATR_OK;
out:
	free(slots);
	return err;
}

static enum atr_err
login(struct p11_impl *p, struct p11_sess *s, struct atr_p11_uri *u)
{
	enum atr_err err;
	CK_RV rv;

	err = atr_p11_uri_load_pin(u);
	if (err != ATR_OK)
		return err;
	if (!u->has_pin) {
		if (p->token_flags & CKF_LOGIN_REQUIRED)
			return atr_fail(ATR_ERR_UNAUTHORIZED,
			    "PKCS#11 token '%s' needs a PIN: add "
			    "pin-source=file:/path (or pin-value=) to the URI",
			    p->token_disp);
		return ATR_OK;
	}
	rv = p->f->C_Login(s->h, CKU_USER, (CK_UTF8CHAR_PTR)u->pin,
	    (CK_ULONG)u->pin_len);
	atr_memzero(u->pin, sizeof(u->pin));
	u->pin_len = 0;
	switch (rv) {
	case CKR_OK:
	/* Another key of this process logged in to the token already: the
	 * login state is shared by the application's sessions (v2.40 5.6). */
	case CKR_USER_ALREADY_LOGGED_IN:
		return ATR_OK;
	case CKR_PIN_INCORRECT:
	case CKR_PIN_INVALID:
	case CKR_PIN_LEN_RANGE:
		return atr_fail(ATR_ERR_UNAUTHORIZED,
		    "PKCS#11 token '%s': PIN incorrect", p->token_disp);
	case CKR_PIN_LOCKED:
		return atr_fail(ATR_ERR_UNAUTHORIZED,
		    "PKCS#11 token '%s': the user PIN is locked", p->token_disp);
	case CKR_PIN_EXPIRED:
		return atr_fail(ATR_ERR_UNAUTHORIZED,
		    "PKCS#11 token '%s': the user PIN has expired",
		    p->token_disp);
	case CKR_USER_PIN_NOT_INITIALIZED:
		return atr_fail(ATR_ERR_UNAUTHORIZED,
		    "PKCS#11 token '%s': the user PIN is not initialised",
		    p->token_disp);
	case CKR_USER_ANOTHER_ALREADY_LOGGED_IN:
		return atr_fail(ATR_ERR_UNAUTHORIZED,
		    "PKCS#11 token '%s': another user (SO) is logged in",
		    p->token_disp);
	default:
		return atr_fail(ATR_ERR_CRYPTO, "PKCS#11 token '%s': C_Login: %s",
		    p->token_disp, ckr_name(rv));
	}
}

/* "object 'x' id %01%02" for messages. */
static void
describe_object(const struct atr_p11_uri *u, char *out, size_t cap)
{
	char lab[64], id[3 * 16 + 4];
	size_t i, o = 0;

	lab[0] = id[0] = '\0';
	if (u->has_object)
		printable(u->object, strlen(u->object), lab, sizeof(lab));
	for (i = 0; u->has_id && i < u->id_len && o + 4 < sizeof(id); i++)
		o += (size_t)snprintf(id + o, sizeof(id) - o, "%%%02X",
		    u->id[i]);
	if (u->has_id && i < u->id_len)
		snprintf(id + o, sizeof(id) - o, "...");
	snprintf(out, cap, "%s%s%s%s%s", u->has_object ? "object '" : "",
	    lab, u->has_object ? "'" : "", u->has_id ? (u->has_object ?
	    " id " : "id ") : "", id);
}

static enum atr_err
find_key(struct p11_impl *p, struct p11_sess *s, const struct atr_p11_uri *u)
{
	CK_OBJECT_CLASS want = CKO_PRIVATE_KEY, cls;
	CK_OBJECT_HANDLE h[FIND_MAX], pick = CK_INVALID_HANDLE;
	CK_ATTRIBUTE t[3];
	CK_ULONG tn = 0, got = 0, i, nkeys = 0;
	char what[160];
	CK_RV rv;

	describe_object(u, what, sizeof(what));
	if (u->type == ATR_P11_TYPE_SECRET)
		want = CKO_SECRET_KEY;
	if (u->type != ATR_P11_TYPE_ANY)
		t[tn++] = (CK_ATTRIBUTE){CKA_CLASS, &want, sizeof(want)};
	if (u->has_object)
		t[tn++] = (CK_ATTRIBUTE){CKA_LABEL, (void *)u->object,
		    strlen(u->object)};
	if (u->has_id)
		t[tn++] = (CK_ATTRIBUTE){CKA_ID, (void *)u->id, u->id_len};
	rv = p->f->C_FindObjectsInit(s->h, t, tn);
	if (rv == CKR_OK) {
		rv = p->f->C_FindObjects(s->h, h, FIND_MAX, &got);
		p->f->C_FindObjectsFinal(s->h);
	}
	if (rv != CKR_OK)
		return atr_fail(ATR_ERR_CRYPTO, "token '%s': C_FindObjects: %s",
		    p->token_disp, ckr_name(rv));
	/* Only keys atrest can use; a certificate or the public half of a
	 * key pair with the same label is not a second match. */
	for (i = 0; i < got; i++) {
		if (get_ulong(p, s->h, h[i], CKA_CLASS, &cls) != CKR_OK)
			continue;
		if (cls != CKO_PRIVATE_KEY && cls != CKO_SECRET_KEY)
			continue;
		nkeys++;
		pick = h[i];
		p->cls = cls;
	}
	if (nkeys == 0)
		return atr_fail(ATR_ERR_NOT_FOUND,
		    "PKCS#11 token '%s' has no %s key with %s%s", p->token_disp,
		    u->type == ATR_P11_TYPE_SECRET ? "secret" :
		    u->type == ATR_P11_TYPE_PRIVATE ? "private" :
		    "private or secret", what, (p->token_flags &
		    CKF_LOGIN_REQUIRED) == 0 && !u->has_pin_source &&
		    !u->has_pin ? " (no PIN given: private objects are hidden "
		    "until login)" : "");
	if (nkeys > 1)
		return atr_fail(ATR_ERR_CONFIG,
		    "%s%lu keys in PKCS#11 token '%s' match %s; add id= or type= "
		    "to the URI", got == FIND_MAX ? "at least " : "",
		    (unsigned long)nkeys, p->token_disp, what);
	s->obj = pick;
	s->have_obj = 1;
	rv = get_ulong(p, s->h, pick, CKA_KEY_TYPE, &p->ktype);
	if (rv != CKR_OK)
		return atr_fail(ATR_ERR_KEY, "token '%s': cannot read the key "
		    "type: %s", p->token_disp, ckr_name(rv));
	if ((p->cls == CKO_PRIVATE_KEY && p->ktype != CKK_RSA) ||
	    (p->cls == CKO_SECRET_KEY && p->ktype != CKK_AES))
		return atr_fail(ATR_ERR_UNSUPPORTED,
		    "token '%s': %s is neither an RSA private key nor an AES "
		    "secret key", p->token_disp, what);
	/* The label and id as the token has them, for the canonical key id
	 * and to find the object again in other sessions. */
	rv = get_bytes(p, s->h, pick, CKA_LABEL, p->label, sizeof(p->label),
	    &p->label_len);
	if (rv == CKR_ATTRIBUTE_TYPE_INVALID)
		rv = CKR_OK;
	if (rv == CKR_OK)
		rv = get_bytes(p, s->h, pick, CKA_ID, p->id, sizeof(p->id),
		    &p->id_len);
	if (rv == CKR_ATTRIBUTE_TYPE_INVALID)
		rv = CKR_OK;
	if (rv != CKR_OK)
		return atr_fail(ATR_ERR_KEY, "token '%s': cannot read the label "
		    "and id of %s: %s", p->token_disp, what, ckr_name(rv));
	if (memchr(p->label, '\0', p->label_len) != NULL)
		return atr_fail(ATR_ERR_KEY, "token '%s': the label of %s "
		    "contains a NUL byte", p->token_disp, what);
	if (p->label_len == 0 && p->id_len == 0)
		return atr_fail(ATR_ERR_KEY, "token '%s': %s has neither a "
		    "label nor an id to name it by", p->token_disp, what);
	return ATR_OK;
}

/* k->key_id: token (and the manufacturer/model/serial the URI gave), the
 * object's own label and id, its type.  No module path, no PIN. */
static enum atr_err
make_key_id(struct atr_key *k, struct p11_impl *p, const struct atr_p11_uri *u)
{
	struct atr_p11_uri *c = &p->canon;

	memset(c, 0, sizeof(*c));
	c->has_token = 1;
	memcpy(c->token, u->token, sizeof(c->token));
	c->has_manufacturer = u->has_manufacturer;
	memcpy(c->manufacturer, u->manufacturer, sizeof(c->manufacturer));
	c->has_model = u->has_model;
	memcpy(c->model, u->model, sizeof(c->model));
	c->has_serial = u->has_serial;
	memcpy(c->serial, u->serial, sizeof(c->serial));
	c->has_object = p->label_len > 0;
	memcpy(c->object, p->label, p->label_len);
	c->object[p->label_len] = '\0';
	c->has_id = p->id_len > 0;
	memcpy(c->id, p->id, p->id_len);
	c->id_len = p->id_len;
	c->type = p->cls == CKO_PRIVATE_KEY ? ATR_P11_TYPE_PRIVATE :
	    ATR_P11_TYPE_SECRET;
	return atr_p11_uri_format(c, k->key_id, sizeof(k->key_id));
}

static void
p11_free(struct atr_key *k)
{
	struct p11_impl *p = k->impl;
	size_t i;

	if (p == NULL)
		return;
	/* Sessions first: C_Finalize would close them, but a module that
	 * someone else initialised stays up and must not keep ours. */
	for (i = 0; i < p->n_idle; i++)
		p->f->C_CloseSession(p->idle[i].h);
	free(p->idle);
	EVP_PKEY_free(p->pub);
	if (p->lock_init)
		pthread_mutex_destroy(&p->lock);
	module_put(p->mod);
	atr_memzero(p, sizeof(*p));
	free(p);
	k->impl = NULL;
}

static const struct atr_key_ops rsa_ops = {
	rsa_wrap, rsa_unwrap, p11_matches, p11_free,
};
static const struct atr_key_ops aes_ops = {
	aes_wrap, aes_unwrap, p11_matches, p11_free,
};

static enum atr_err
p11_open(const char *uri, const struct atr_key_opts *opts,
    struct atr_key **out)
{
	struct atr_p11_uri u;
	struct atr_key *k = NULL;
	struct p11_impl *p = NULL;
	struct p11_sess s;
	const char *module;
	enum atr_err err;
	int have_sess = 0;

	*out = NULL;
	err = atr_p11_uri_parse(uri, &u);
	if (err != ATR_OK)
		return err;
	k = atr_key_alloc(&rsa_ops);
	p = calloc(1, sizeof(*p));
	if (k == NULL || p == NULL) {
		free(p);
		err = atr_fail(ATR_ERR_NOMEM, "out of memory");
		goto out;
	}
	k->impl = p;
	if (pthread_mutex_init(&p->lock, NULL) != 0) {
		err = atr_fail(ATR_ERR_NOMEM, "cannot create a mutex");
		goto out;
	}
	p->lock_init = 1;
	k->provider = ATR_PROV_PKCS11;
	k->customer_managed = 1;
	err = atr_p11_uri_redact(uri, k->uri, sizeof(k->uri));
	if (err != ATR_OK)
		goto out;
	printable(u.token, strlen(u.token), p->token_disp,
	    sizeof(p->token_disp));
	if (u.type == ATR_P11_TYPE_PUBLIC || u.type == ATR_P11_TYPE_CERT ||
	    u.type == ATR_P11_TYPE_DATA) {
		err = atr_fail(ATR_ERR_UNSUPPORTED,
		    "pkcs11 URI: type=%s: atrest uses RSA private keys "
		    "(type=private; it wraps with their public part) and AES "
		    "keys (type=secret-key)", atr_p11_type_name(u.type));
		goto out;
	}
	if (!u.has_object && !u.has_id) {
		err = atr_fail(ATR_ERR_CONFIG, "pkcs11 URI names no key: add "
		    "object= (the key label) or id=");
		goto out;
	}
	module = u.has_module_path ? u.module_path : getenv(MODULE_ENV);
	if (module == NULL || *module == '\0') {
		err = atr_fail(ATR_ERR_CONFIG, "pkcs11 URI has no module-path "
		    "and " MODULE_ENV " is not set");
		goto out;
	}
	err = module_get(module, &p->mod);
	if (err != ATR_OK)
		goto out;
	p->f = p->mod->f;
	err = find_slot(p, &u, module);
	if (err != ATR_OK)
		goto out;
	err = sess_get(p, &s);
	if (err != ATR_OK)
		goto out;
	have_sess = 1;
	err = login(p, &s, &u);
	if (err != ATR_OK)
		goto out;
	err = find_key(p, &s, &u);
	if (err != ATR_OK)
		goto out;
	if (p->cls == CKO_PRIVATE_KEY) {
		k->ops = &rsa_ops;
		err = setup_rsa(k, p, &s, opts);
	} else {
		k->ops = &aes_ops;
		err = setup_aes(k, p, &s, opts);
	}
	if (err != ATR_OK)
		goto out;
	err = make_key_id(k, p, &u);
	if (err != ATR_OK)
		goto out;
	*out = k;
	k = NULL;
out:
	/* The login session goes into the pool: it keeps the token logged
	 * in for the key's lifetime (or is closed with the key on error). */
	if (have_sess)
		sess_put(p, &s, CKR_OK);
	atr_p11_uri_clear(&u);
	atr_key_free(k);
	return err;
}

const struct atr_provider atr_provider_pkcs11 = {
	"pkcs11", "pkcs11:", p11_open,
};
