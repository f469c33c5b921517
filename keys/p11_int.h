/*
 * p11_int.h - what the files of the PKCS#11 key provider share.  Not for
 * use outside keys/.  The files, lowest first; each calls only those
 * above it (and pkcs11_uri.c):
 *
 *   p11_module.c       loading and releasing a module; CKR names
 *   p11_token.c        slot, login, key object, attributes, sessions
 *   p11_rsa.c          RSA private keys: setup, wrap, unwrap
 *   p11_aes.c          AES keys: setup, wrap, unwrap
 *   provider_pkcs11.c  opening a key by URI, its id, matching, freeing
 *
 * Ownership: a struct p11_impl is the key's impl (core/key.h), allocated
 * by p11_open and freed by the key's free_impl; it holds one reference
 * to its module, the public key and the idle sessions, all released
 * there.  Every struct p11_impl and struct atr_p11_uri pointer passed to
 * a function below is borrowed for the call.
 */
#ifndef ATR_P11_INT_H
#define ATR_P11_INT_H

#include <limits.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include <p11-kit/pkcs11.h>

#include "err.h"
#include "key.h"
#include "keys.h"
#include "pkcs11_uri.h"

/* A loaded module, shared by every key that uses the same file. */
struct p11_module {
	struct p11_module *next;
	char path[PATH_MAX];
	void *dl;
	CK_FUNCTION_LIST_PTR f;
	int initialized_here;
	unsigned refs;             /* under the registry's lock */
};

/* A session taken from a key's pool, and the key object's handle in it. */
struct p11_sess {
	CK_SESSION_HANDLE h;
	CK_OBJECT_HANDLE obj;
	int have_obj;
};

struct p11_impl {
	struct p11_module *mod;    /* one reference, owned */
	CK_FUNCTION_LIST_PTR f;    /* mod->f */
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
	EVP_PKEY *pub;            /* RSA public part, for local wrap; owned */
	pthread_mutex_t lock;     /* guards the pool */
	int lock_init;
	struct p11_sess *idle;    /* the pool (malloc'd), n_idle in use */
	size_t n_idle, cap_idle;
};

/* ---- p11_module.c ---- */

/* "CKR_PIN_INCORRECT", or "CKR_0x..." in a per-thread buffer that the
 * next call in the thread overwrites. */
const char *p11_ckr_name(CK_RV rv);
/* 1 for a failure of C_Decrypt / C_UnwrapKey that does not depend on the
 * bytes being unwrapped (the rest must all read alike: no oracle). */
int p11_data_independent(CK_RV rv);
/* A reference to the module at path (loaded and initialised on first
 * use); release it with p11_module_put. */
enum atr_err p11_module_get(const char *path, struct p11_module **out);
/* Drops a reference; the last one finalises and unloads.  NULL-safe. */
void p11_module_put(struct p11_module *m);

/* ---- p11_token.c ---- */

/* s[n] into out[cap] for a one-line message, '?' for non-printables. */
void p11_printable(const char *s, size_t n, char *out, size_t cap);
/* 1 when rv says the session (or its token) is gone: close, not pool. */
int p11_session_dead(CK_RV rv);
CK_RV p11_get_ulong(struct p11_impl *p, CK_SESSION_HANDLE s,
    CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE t, CK_ULONG *v);
CK_RV p11_get_bool(struct p11_impl *p, CK_SESSION_HANDLE s,
    CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE t, int *v);
/* A byte-string attribute into buf[cap]; CKR_ATTRIBUTE_VALUE_INVALID when
 * it does not fit, CKR_ATTRIBUTE_TYPE_INVALID when unavailable. */
CK_RV p11_get_bytes(struct p11_impl *p, CK_SESSION_HANDLE s,
    CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE t, uint8_t *buf, size_t cap,
    size_t *len);
/* Takes a session from p's pool (or opens one) into *s, the caller's
 * until p11_sess_put; s->obj is found by p11_sess_find_obj. */
enum atr_err p11_sess_get(struct p11_impl *p, struct p11_sess *s);
enum atr_err p11_sess_find_obj(struct p11_impl *p, struct p11_sess *s);
/* Returns s to the pool, or closes it when rv says it is dead. */
void p11_sess_put(struct p11_impl *p, struct p11_sess *s, CK_RV rv);
/* The one slot whose token matches u (module names it in messages). */
enum atr_err p11_find_slot(struct p11_impl *p, const struct atr_p11_uri *u,
    const char *module);
/* Logs in with u's PIN, if any, and wipes it from u. */
enum atr_err p11_login(struct p11_impl *p, struct p11_sess *s,
    struct atr_p11_uri *u);
/* The one RSA private or AES secret key matching u, into s->obj and p's
 * class, type, label and id. */
enum atr_err p11_find_key(struct p11_impl *p, struct p11_sess *s,
    const struct atr_p11_uri *u);

/* ---- p11_rsa.c and p11_aes.c: the key's setup and ops ---- */

/* Checks the key found in s, picks the algorithm (opts->wrap_alg, may be
 * NULL) and fills k's alg, bits, can_wrap, can_unwrap and desc. */
enum atr_err p11_setup_rsa(struct atr_key *k, struct p11_impl *p,
    struct p11_sess *s, const struct atr_key_opts *opts);
enum atr_err p11_setup_aes(struct atr_key *k, struct p11_impl *p,
    struct p11_sess *s, const struct atr_key_opts *opts);
/* struct atr_key_ops wrap and unwrap (core/key.h). */
enum atr_err p11_rsa_wrap(struct atr_key *k, const uint8_t *in,
    size_t in_len, uint8_t *out, size_t *out_len);
enum atr_err p11_rsa_unwrap(struct atr_key *k, const char *kid,
    enum atr_wrap_alg alg, const uint8_t *in, size_t in_len, uint8_t *out,
    size_t *out_len);
enum atr_err p11_aes_wrap(struct atr_key *k, const uint8_t *in,
    size_t in_len, uint8_t *out, size_t *out_len);
enum atr_err p11_aes_unwrap(struct atr_key *k, const char *kid,
    enum atr_wrap_alg alg, const uint8_t *in, size_t in_len, uint8_t *out,
    size_t *out_len);

#endif
