/*
 * p11_rsa.c - an RSA private key in a token (CKO_PRIVATE_KEY, CKK_RSA):
 * wrap locally with the public part (RSA-OAEP, RFC 8017 7.1), unwrap
 * with C_Decrypt and CKM_RSA_PKCS_OAEP inside the token, SHA-256 where
 * the token can, else SHA-1.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include "crypto.h"
#include "p11_int.h"

#define RSA_MIN_BITS 2048U
#define RSA_MAX_BITS 8192U

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

/* The wrap_alg option: *force 0 (none), 256 (RSA-OAEP-256) or 1
 * (RSA-OAEP, SHA-1). */
static enum atr_err
rsa_forced_alg(const struct atr_key_opts *opts, int *force)
{
	*force = 0;
	if (opts == NULL || opts->wrap_alg == NULL || *opts->wrap_alg == '\0')
		return ATR_OK;
	if (strcmp(opts->wrap_alg, "RSA-OAEP-256") == 0)
		*force = 256;
	else if (strcmp(opts->wrap_alg, "RSA-OAEP") == 0)
		*force = 1;
	else
		return atr_fail(ATR_ERR_UNSUPPORTED,
		    "wrap algorithm %s is not available for a PKCS#11 "
		    "RSA key (RSA-OAEP-256, RSA-OAEP)", opts->wrap_alg);
	return ATR_OK;
}

/* CKA_MODULUS and CKA_PUBLIC_EXPONENT of object o into n and e. */
static CK_RV
rsa_read_n_e(struct p11_impl *p, struct p11_sess *s, CK_OBJECT_HANDLE o,
    uint8_t *n, size_t n_cap, size_t *n_len, uint8_t *e, size_t e_cap,
    size_t *e_len)
{
	CK_RV rv = p11_get_bytes(p, s->h, o, CKA_MODULUS, n, n_cap, n_len);

	if (rv == CKR_OK)
		rv = p11_get_bytes(p, s->h, o, CKA_PUBLIC_EXPONENT, e, e_cap,
		    e_len);
	return rv;
}

/*
 * The public part into p->pub: CKA_MODULUS/CKA_PUBLIC_EXPONENT of the
 * private key (v2.40 2.1.3; most tokens keep both), else those of the
 * CKO_PUBLIC_KEY object with the same id and label.
 */
static enum atr_err
rsa_load_public(struct p11_impl *p, struct p11_sess *s)
{
	uint8_t n[RSA_MAX_BITS / 8 + 1], e[16];
	size_t n_len = 0, e_len = 0;
	CK_OBJECT_HANDLE src = s->obj;
	CK_RV rv;

	rv = rsa_read_n_e(p, s, src, n, sizeof(n), &n_len, e, sizeof(e),
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
		rv = rsa_read_n_e(p, s, src, n, sizeof(n), &n_len, e,
		    sizeof(e), &e_len);
		if (rv != CKR_OK || n_len == 0 || e_len == 0)
			return atr_fail(ATR_ERR_KEY,
			    "token '%s': cannot read the RSA public key: %s",
			    p->token_disp, p11_ckr_name(rv));
	}
	return rsa_pub_from_n_e(n, n_len, e, e_len, &p->pub);
}

/* The key must permit decryption and the token offer RSA-OAEP. */
static enum atr_err
rsa_check_decrypt(struct p11_impl *p, struct p11_sess *s)
{
	CK_MECHANISM_INFO mi;
	int can_decrypt = 0;
	CK_RV rv;

	rv = p11_get_bool(p, s->h, s->obj, CKA_DECRYPT, &can_decrypt);
	if (rv != CKR_OK || !can_decrypt)
		return atr_fail(ATR_ERR_KEY,
		    "token '%s': the RSA private key does not permit decryption "
		    "(CKA_DECRYPT is false)", p->token_disp);
	rv = p->f->C_GetMechanismInfo(p->slot, CKM_RSA_PKCS_OAEP, &mi);
	if (rv != CKR_OK || (mi.flags & CKF_DECRYPT) == 0)
		return atr_fail(ATR_ERR_UNSUPPORTED,
		    "token '%s' does not offer CKM_RSA_PKCS_OAEP decryption",
		    p->token_disp);
	return ATR_OK;
}

/*
 * Sets p->oaep256: SHA-256 where the token supports it.  SoftHSM2
 * <= 2.6.1 accepts OAEP only with SHA-1/MGF1-SHA-1 and refuses anything
 * else in C_DecryptInit (CKR_ARGUMENTS_BAD; softhsm#474), and other
 * tokens say CKR_MECHANISM_PARAM_INVALID, or fail only in C_Decrypt.
 * The mechanism info cannot tell, so ask the token: any failure of the
 * SHA-256 round trip other than a lost session falls back to SHA-1,
 * which must then work (and is tried too when force asks for it).
 */
static enum atr_err
rsa_choose_oaep(struct p11_impl *p, struct p11_sess *s, int force)
{
	int ok = 0;
	CK_RV rv;

	rv = oaep_selftest(p, s, 1, &ok);
	if (rv == CKR_OK && !ok)
		return atr_fail(ATR_ERR_KEY,
		    "token '%s': the RSA private key does not match its public "
		    "key (RSA-OAEP self-test)", p->token_disp);
	if (p11_session_dead(rv))
		return atr_fail(ATR_ERR_CRYPTO, "token '%s': C_Decrypt: %s",
		    p->token_disp, p11_ckr_name(rv));
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
			    p->token_disp, p11_ckr_name(rv));
	}
	if (force == 256 && !p->oaep256)
		return atr_fail(ATR_ERR_UNSUPPORTED,
		    "token '%s' cannot decrypt RSA-OAEP-256 (it supports OAEP "
		    "with SHA-1 only)", p->token_disp);
	return ATR_OK;
}

enum atr_err
p11_setup_rsa(struct atr_key *k, struct p11_impl *p, struct p11_sess *s,
    const struct atr_key_opts *opts)
{
	enum atr_err err;
	int force, bits;

	if ((err = rsa_forced_alg(opts, &force)) != ATR_OK)
		return err;
	if ((err = rsa_load_public(p, s)) != ATR_OK)
		return err;
	bits = EVP_PKEY_get_bits(p->pub);
	if (bits < (int)RSA_MIN_BITS || bits > (int)RSA_MAX_BITS)
		return atr_fail(ATR_ERR_KEY,
		    "RSA key has %d bits; %u to %u are supported", bits,
		    RSA_MIN_BITS, RSA_MAX_BITS);
	k->bits = (unsigned)bits;
	if ((err = rsa_check_decrypt(p, s)) != ATR_OK)
		return err;
	if ((err = rsa_choose_oaep(p, s, force)) != ATR_OK)
		return err;
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

enum atr_err
p11_rsa_wrap(struct atr_key *k, const uint8_t *in, size_t in_len, uint8_t *out,
    size_t *out_len)
{
	struct p11_impl *p = k->impl;

	/* The public operation needs no token round trip. */
	return atr_rsa_oaep_encrypt(p->pub, k->alg == ATR_WRAP_RSA_OAEP_256 ?
	    EVP_sha256() : EVP_sha1(), NULL, 0, in, in_len, out, out_len);
}

enum atr_err
p11_rsa_unwrap(struct atr_key *k, const char *kid, enum atr_wrap_alg alg,
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
	err = p11_sess_get(p, &s);
	if (err != ATR_OK) {
		*out_len = 0;
		return err;
	}
	err = p11_sess_find_obj(p, &s);
	if (err != ATR_OK) {
		p11_sess_put(p, &s, CKR_OK);
		*out_len = 0;
		return err;
	}
	rv = token_oaep_decrypt(p, &s, alg == ATR_WRAP_RSA_OAEP_256, in, in_len,
	    buf, &blen, &at_init);
	p11_sess_put(p, &s, rv);
	if (rv == CKR_OK && blen <= *out_len) {
		memcpy(out, buf, blen);
		*out_len = blen;
		err = ATR_OK;
	} else if (rv != CKR_OK && (at_init || p11_data_independent(rv))) {
		err = atr_fail(rv == CKR_USER_NOT_LOGGED_IN ?
		    ATR_ERR_UNAUTHORIZED : ATR_ERR_CRYPTO,
		    "token '%s': %s: %s", p->token_disp,
		    at_init ? "C_DecryptInit" : "C_Decrypt", p11_ckr_name(rv));
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
