/*
 * p11_token.c - the token behind a key: finding its slot, logging in,
 * finding the key object, reading attributes, and the pool of sessions
 * the key operations run in.
 *
 * A PKCS#11 session holds one active operation at a time
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
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "p11_int.h"

#define FIND_MAX 16U

/* Copies s for a one-line message: non-printable bytes become '?'. */
void
p11_printable(const char *s, size_t n, char *out, size_t cap)
{
	size_t i;

	if (cap == 0)
		return;
	for (i = 0; i < n && i + 1 < cap; i++) {
		unsigned char c = (unsigned char)s[i];

		out[i] = (char)((c >= 0x20 && c < 0x7f) ? c : '?');
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

/* Errors that say the session (or the token behind it) is gone: the
 * session is closed instead of going back to the pool.  BUFFER_TOO_SMALL
 * and OPERATION_ACTIVE leave an operation pending that v2.40 can only
 * cancel by closing the session. */
int
p11_session_dead(CK_RV rv)
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
/* ---- attributes ---- */

CK_RV
p11_get_ulong(struct p11_impl *p, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
    CK_ATTRIBUTE_TYPE t, CK_ULONG *v)
{
	CK_ATTRIBUTE a = {t, v, sizeof(*v)};

	return p->f->C_GetAttributeValue(s, o, &a, 1);
}

CK_RV
p11_get_bool(struct p11_impl *p, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
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
CK_RV
p11_get_bytes(struct p11_impl *p, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
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

enum atr_err
p11_sess_find_obj(struct p11_impl *p, struct p11_sess *s)
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
		    p->token_disp, p11_ckr_name(rv));
	rv = p->f->C_FindObjects(s->h, &h, 1, &got);
	p->f->C_FindObjectsFinal(s->h);
	if (rv != CKR_OK)
		return atr_fail(ATR_ERR_CRYPTO, "token '%s': C_FindObjects: %s",
		    p->token_disp, p11_ckr_name(rv));
	if (got == 0)
		return atr_fail(ATR_ERR_NOT_FOUND,
		    "token '%s': the key object is no longer there",
		    p->token_disp);
	s->obj = h;
	s->have_obj = 1;
	return ATR_OK;
}

/* Takes a session from the pool, or opens one. */
enum atr_err
p11_sess_get(struct p11_impl *p, struct p11_sess *s)
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
		    p->token_disp, p11_ckr_name(rv));
	return ATR_OK;
}

/* Returns a session to the pool; closes it when rv says it is dead. */
void
p11_sess_put(struct p11_impl *p, struct p11_sess *s, CK_RV rv)
{
	if (p11_session_dead(rv))
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
enum atr_err
p11_find_slot(struct p11_impl *p, const struct atr_p11_uri *u,
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
		    "C_GetSlotList: %s", module, p11_ckr_name(rv));
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

enum atr_err
p11_login(struct p11_impl *p, struct p11_sess *s, struct atr_p11_uri *u)
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
		    p->token_disp, p11_ckr_name(rv));
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
		p11_printable(u->object, strlen(u->object), lab, sizeof(lab));
	for (i = 0; u->has_id && i < u->id_len && o + 4 < sizeof(id); i++)
		o += (size_t)snprintf(id + o, sizeof(id) - o, "%%%02X",
		    u->id[i]);
	if (u->has_id && i < u->id_len)
		snprintf(id + o, sizeof(id) - o, "...");
	snprintf(out, cap, "%s%s%s%s%s", u->has_object ? "object '" : "",
	    lab, u->has_object ? "'" : "", u->has_id ? (u->has_object ?
	    " id " : "id ") : "", id);
}

enum atr_err
p11_find_key(struct p11_impl *p, struct p11_sess *s,
    const struct atr_p11_uri *u)
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
		    p->token_disp, p11_ckr_name(rv));
	/* Only keys atrest can use; a certificate or the public half of a
	 * key pair with the same label is not a second match. */
	for (i = 0; i < got; i++) {
		if (p11_get_ulong(p, s->h, h[i], CKA_CLASS, &cls) != CKR_OK)
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
	rv = p11_get_ulong(p, s->h, pick, CKA_KEY_TYPE, &p->ktype);
	if (rv != CKR_OK)
		return atr_fail(ATR_ERR_KEY, "token '%s': cannot read the key "
		    "type: %s", p->token_disp, p11_ckr_name(rv));
	if ((p->cls == CKO_PRIVATE_KEY && p->ktype != CKK_RSA) ||
	    (p->cls == CKO_SECRET_KEY && p->ktype != CKK_AES))
		return atr_fail(ATR_ERR_UNSUPPORTED,
		    "token '%s': %s is neither an RSA private key nor an AES "
		    "secret key", p->token_disp, what);
	/* The label and id as the token has them, for the canonical key id
	 * and to find the object again in other sessions. */
	rv = p11_get_bytes(p, s->h, pick, CKA_LABEL, p->label, sizeof(p->label),
	    &p->label_len);
	if (rv == CKR_ATTRIBUTE_TYPE_INVALID)
		rv = CKR_OK;
	if (rv == CKR_OK)
		rv = p11_get_bytes(p, s->h, pick, CKA_ID, p->id, sizeof(p->id),
		    &p->id_len);
	if (rv == CKR_ATTRIBUTE_TYPE_INVALID)
		rv = CKR_OK;
	if (rv != CKR_OK)
		return atr_fail(ATR_ERR_KEY, "token '%s': cannot read the label "
		    "and id of %s: %s", p->token_disp, what, p11_ckr_name(rv));
	if (memchr(p->label, '\0', p->label_len) != NULL)
		return atr_fail(ATR_ERR_KEY, "token '%s': the label of %s "
		    "contains a NUL byte", p->token_disp, what);
	if (p->label_len == 0 && p->id_len == 0)
		return atr_fail(ATR_ERR_KEY, "token '%s': %s has neither a "
		    "label nor an id to name it by", p->token_disp, what);
	return ATR_OK;
}
