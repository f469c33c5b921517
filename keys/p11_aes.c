/*
 * p11_aes.c - an AES-256 key in a token (CKO_SECRET_KEY, CKK_AES): wrap
 * and unwrap inside the token with CKM_AES_KEY_WRAP_PAD (RFC 5649 KWP).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "p11_int.h"

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

enum atr_err
p11_aes_wrap(struct atr_key *k, const uint8_t *in, size_t in_len, uint8_t *out,
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
	err = p11_sess_get(p, &s);
	if (err != ATR_OK)
		return err;
	err = p11_sess_find_obj(p, &s);
	if (err != ATR_OK) {
		p11_sess_put(p, &s, CKR_OK);
		return err;
	}
	TMP_TEMPLATE(t, tn, in, in_len);
	rv = p->f->C_CreateObject(s.h, t, tn, &tmp);
	if (rv != CKR_OK) {
		err = atr_fail(ATR_ERR_CRYPTO, "token '%s': C_CreateObject: %s",
		    p->token_disp, p11_ckr_name(rv));
		goto out;
	}
	len = (CK_ULONG)*out_len;
	rv = p->f->C_WrapKey(s.h, &m, s.obj, tmp, out, &len);
	if (rv != CKR_OK) {
		err = atr_fail(rv == CKR_KEY_FUNCTION_NOT_PERMITTED ?
		    ATR_ERR_KEY : ATR_ERR_CRYPTO,
		    "token '%s': C_WrapKey (CKM_AES_KEY_WRAP_PAD): %s",
		    p->token_disp, p11_ckr_name(rv));
		goto out;
	}
	*out_len = len;
	err = ATR_OK;
out:
	if (tmp != CK_INVALID_HANDLE)
		p->f->C_DestroyObject(s.h, tmp);
	p11_sess_put(p, &s, rv);
	return err;
}

enum atr_err
p11_aes_unwrap(struct atr_key *k, const char *kid, enum atr_wrap_alg alg,
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
	err = p11_sess_get(p, &s);
	if (err != ATR_OK) {
		*out_len = 0;
		return err;
	}
	err = p11_sess_find_obj(p, &s);
	if (err != ATR_OK)
		goto out;
	TMP_TEMPLATE(t, tn, (const uint8_t *)NULL, 0);
	rv = p->f->C_UnwrapKey(s.h, &m, s.obj, (CK_BYTE_PTR)in,
	    (CK_ULONG)in_len, t, tn, &tmp);
	if (rv != CKR_OK) {
		if (p11_data_independent(rv))
			err = atr_fail(rv == CKR_USER_NOT_LOGGED_IN ?
			    ATR_ERR_UNAUTHORIZED : ATR_ERR_CRYPTO,
			    "token '%s': C_UnwrapKey: %s", p->token_disp,
			    p11_ckr_name(rv));
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
		    p->token_disp, p11_ckr_name(rv));
		goto out;
	}
	*out_len = v.ulValueLen;
	err = ATR_OK;
out:
	if (tmp != CK_INVALID_HANDLE)
		p->f->C_DestroyObject(s.h, tmp);
	p11_sess_put(p, &s, rv);
	if (err != ATR_OK) {
		atr_memzero(out, *out_len);
		*out_len = 0;
	}
	return err;
}

enum atr_err
p11_setup_aes(struct atr_key *k, struct p11_impl *p, struct p11_sess *s,
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
	rv = p11_get_ulong(p, s->h, s->obj, CKA_VALUE_LEN, &vlen);
	if (rv != CKR_OK)
		return atr_fail(ATR_ERR_KEY, "token '%s': cannot read the AES "
		    "key length: %s", p->token_disp, p11_ckr_name(rv));
	if (vlen != 32)
		return atr_fail(ATR_ERR_KEY,
		    "token '%s': the AES key has %lu bits; AES-256 is required",
		    p->token_disp, (unsigned long)vlen * 8);
	p11_get_bool(p, s->h, s->obj, CKA_WRAP, &w);
	p11_get_bool(p, s->h, s->obj, CKA_UNWRAP, &uw);
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
