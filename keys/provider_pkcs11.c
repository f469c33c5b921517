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
 * This file opens a key: it parses the URI (pkcs11_uri.c), takes a
 * reference to the module (p11_module.c), finds the token, logs in and
 * finds the key (p11_token.c), then sets the key up as RSA (p11_rsa.c)
 * or AES (p11_aes.c).  p11_int.h lists the files and what they share.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "p11_int.h"

#define MODULE_ENV "ATREST_PKCS11_MODULE"

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
	p11_module_put(p->mod);
	atr_memzero(p, sizeof(*p));
	free(p);
	k->impl = NULL;
}

static const struct atr_key_ops rsa_ops = {
	p11_rsa_wrap, p11_rsa_unwrap, p11_matches, p11_free,
};
static const struct atr_key_ops aes_ops = {
	p11_aes_wrap, p11_aes_unwrap, p11_matches, p11_free,
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
	p11_printable(u.token, strlen(u.token), p->token_disp,
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
	err = p11_module_get(module, &p->mod);
	if (err != ATR_OK)
		goto out;
	p->f = p->mod->f;
	err = p11_find_slot(p, &u, module);
	if (err != ATR_OK)
		goto out;
	err = p11_sess_get(p, &s);
	if (err != ATR_OK)
		goto out;
	have_sess = 1;
	err = p11_login(p, &s, &u);
	if (err != ATR_OK)
		goto out;
	err = p11_find_key(p, &s, &u);
	if (err != ATR_OK)
		goto out;
	if (p->cls == CKO_PRIVATE_KEY) {
		k->ops = &rsa_ops;
		err = p11_setup_rsa(k, p, &s, opts);
	} else {
		k->ops = &aes_ops;
		err = p11_setup_aes(k, p, &s, opts);
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
		p11_sess_put(p, &s, CKR_OK);
	atr_p11_uri_clear(&u);
	atr_key_free(k);
	return err;
}

const struct atr_provider atr_provider_pkcs11 = {
	"pkcs11", "pkcs11:", p11_open,
};
