/*
 * keys.c - keys the verifier puts in front of the configured ones.
 *
 * The capture wrapper forwards every operation of a configured key and
 * keeps the last unwrap output, so the plaintext check can search the
 * store for the DEK without core/ handing DEKs out; it also caches unwraps
 * of shared stanzas (kinds 1 and 2) per worker.
 *
 * The impostor claims every stanza (its matches() is always true) and
 * unwraps with a control key of the stanza's family: core/ then runs the
 * whole opening path (unwrap, context digest, commitment, header MAC)
 * with the wrong key, which must fail.  It passes the control key's own
 * key id, never the stanza's: a Key Vault key would otherwise unwrap with
 * the version the stanza names, i.e. with the configured key.
 */
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crypto.h"
#include "fsutil.h"
#include "envelope.h"
#include "util.h"
#include "vfy_int.h"
#include "keys.h"

#define WCACHE 32

struct wentry {
	uint8_t id[32];
	uint8_t out[ATR_WRAP_INPUT_BYTES];
	uint64_t born;      /* atr_now_ns() before the unwrap */
	int used;
};

struct vfy_wkey {
	struct atr_key *inner;
	int cacheable;
	uint8_t cap_id[32];
	uint8_t cap[ATR_WRAP_INPUT_BYTES];
	int have_cap;
	struct wentry cache[WCACHE];
	size_t next;
	uint64_t ttl_ns;    /* an entry's lifetime, as core's atr_kcache */
};

static enum atr_err
w_wrap(struct atr_key *k, const uint8_t *in, size_t in_len, uint8_t *out,
    size_t *out_len)
{
	struct vfy_wkey *w = k->impl;

	return w->inner->ops->wrap(w->inner, in, in_len, out, out_len);
}

static void
ids(const char *kid, enum atr_wrap_alg alg, const uint8_t *in, size_t in_len,
    uint8_t cache_id[32], uint8_t cap_id[32])
{
	uint8_t buf[ATR_KEYID_MAX + 2 + ATR_WRAPPED_MAX];
	size_t kl = strlen(kid), n = 0;

	if (kl > ATR_KEYID_MAX)
		kl = ATR_KEYID_MAX;
	if (in_len > ATR_WRAPPED_MAX)
		in_len = ATR_WRAPPED_MAX;
	memcpy(buf, kid, kl);
	n = kl;
	buf[n++] = 0;
	buf[n++] = (uint8_t)alg;
	memcpy(buf + n, in, in_len);
	n += in_len;
	if (atr_sha256(buf, n, cache_id) != ATR_OK)
		memset(cache_id, 0, 32);
	if (atr_sha256(in, in_len, cap_id) != ATR_OK)
		memset(cap_id, 0, 32);
}

static enum atr_err
w_unwrap(struct atr_key *k, const char *kid, enum atr_wrap_alg alg,
    const uint8_t *in, size_t in_len, uint8_t *out, size_t *out_len)
{
	struct vfy_wkey *w = k->impl;
	uint8_t cid[32], capid[32];
	uint64_t now = atr_now_ns();
	enum atr_err err;
	size_t i;

	ids(kid, alg, in, in_len, cid, capid);
	/* An entry older than the TTL is wiped, never served: a disabled
	 * key stops opening data within it (docs/BENCH.md). */
	for (i = 0; i < WCACHE; i++)
		if (w->cache[i].used && now - w->cache[i].born >= w->ttl_ns)
			atr_memzero(&w->cache[i], sizeof(w->cache[i]));
	if (w->cacheable && *out_len >= ATR_WRAP_INPUT_BYTES) {
		for (i = 0; i < WCACHE; i++)
			if (w->cache[i].used &&
			    memcmp(w->cache[i].id, cid, 32) == 0) {
				memcpy(out, w->cache[i].out, ATR_WRAP_INPUT_BYTES);
				*out_len = ATR_WRAP_INPUT_BYTES;
				memcpy(w->cap, out, ATR_WRAP_INPUT_BYTES);
				memcpy(w->cap_id, capid, 32);
				w->have_cap = 1;
				return ATR_OK;
			}
	}
	err = w->inner->ops->unwrap(w->inner, kid, alg, in, in_len, out,
	    out_len);
	if (err == ATR_OK && *out_len == ATR_WRAP_INPUT_BYTES) {
		memcpy(w->cap, out, ATR_WRAP_INPUT_BYTES);
		memcpy(w->cap_id, capid, 32);
		w->have_cap = 1;
		if (w->cacheable) {
			struct wentry *e = &w->cache[w->next];

			w->next = (w->next + 1) % WCACHE;
			memcpy(e->id, cid, 32);
			memcpy(e->out, out, ATR_WRAP_INPUT_BYTES);
			e->born = now;
			e->used = 1;
		}
	}
	return err;
}

static int
w_matches(const struct atr_key *k, enum atr_provider_type prov,
    const char *kid)
{
	const struct vfy_wkey *w = k->impl;

	return w->inner->ops->matches(w->inner, prov, kid);
}

static void
w_free(struct atr_key *k)
{
	struct vfy_wkey *w = k->impl;

	if (w == NULL)
		return;
	atr_memzero(w, sizeof(*w));
	free(w);
	k->impl = NULL;
}

static const struct atr_key_ops wrap_ops = {
	w_wrap, w_unwrap, w_matches, w_free,
};

static void
copy_identity(struct atr_key *dst, const struct atr_key *src)
{
	dst->provider = src->provider;
	dst->alg = src->alg;
	snprintf(dst->uri, sizeof(dst->uri), "%s", src->uri);
	snprintf(dst->key_id, sizeof(dst->key_id), "%s", src->key_id);
	snprintf(dst->desc, sizeof(dst->desc), "%s", src->desc);
	dst->customer_managed = src->customer_managed;
	dst->can_wrap = src->can_wrap;
	dst->can_unwrap = src->can_unwrap;
	dst->bits = src->bits;
}

struct atr_key *
vfy_wkey_new(struct atr_key *inner, struct vfy_wkey **wout)
{
	struct atr_key *k = atr_key_alloc(&wrap_ops);
	struct vfy_wkey *w = calloc(1, sizeof(*w));

	if (k == NULL || w == NULL) {
		free(k);
		free(w);
		return NULL;
	}
	w->inner = inner;
	w->ttl_ns = (uint64_t)ATR_KCACHE_TTL_DEFAULT_S * 1000000000ULL;
	k->impl = w;
	copy_identity(k, inner);
	*wout = w;
	return k;
}

void
vfy_wkey_set_cacheable(struct vfy_wkey *w, int on)
{
	w->cacheable = on;
}

void
vfy_wkey_set_ttl(struct vfy_wkey *w, uint64_t ttl_ns)
{
	if (ttl_ns > 0)
		w->ttl_ns = ttl_ns;
}

int
vfy_wkey_captured(struct vfy_wkey *w, const uint8_t *wrapped,
    size_t wrapped_len, uint8_t out[ATR_WRAP_INPUT_BYTES])
{
	uint8_t id[32];

	if (!w->have_cap)
		return 0;
	if (atr_sha256(wrapped, wrapped_len, id) != ATR_OK ||
	    memcmp(id, w->cap_id, 32) != 0)
		return 0;
	memcpy(out, w->cap, ATR_WRAP_INPUT_BYTES);
	return 1;
}

void
vfy_wkey_forget(struct vfy_wkey *w)
{
	atr_memzero(w->cap, sizeof(w->cap));
	w->have_cap = 0;
}

/* ---- controls ---------------------------------------------------------- */

struct vfy_controls {
	pthread_mutex_t mu;
	struct atr_key *given;
	struct atr_key *aes;
	struct atr_key *rsa[3];   /* 2048, 3072, 4096 */
	int failed;
	struct atr_key *impostor;
	char desc[512];
};

static enum atr_err
gen_key(const char *type, struct atr_key **out)
{
	char dir[PATH_MAX], path[PATH_MAX + 16], uri[PATH_MAX + 32];
	enum atr_err err;

	*out = NULL;
	err = atr_mkdtemp("atrest-verify-ctl", dir, sizeof(dir));
	if (err != ATR_OK)
		return err;
	snprintf(path, sizeof(path), "%s/control", dir);
	snprintf(uri, sizeof(uri), "file:%s", path);
	err = atr_keygen(type, path);
	if (err == ATR_OK)
		err = atr_key_open(uri, NULL, out);
	/* The control key lives only in memory: its files go at once. */
	unlink(path);
	snprintf(path, sizeof(path), "%s/control.pub", dir);
	unlink(path);
	rmdir(dir);
	return err;
}

static int
is_rsa_alg(unsigned alg)
{
	return alg == ATR_WRAP_RSA_OAEP_256 || alg == ATR_WRAP_RSA_OAEP_SHA1;
}

/* The control for a stanza of this algorithm and wrapped length. */
static struct atr_key *
pick(struct vfy_controls *c, enum atr_wrap_alg alg, size_t in_len)
{
	struct atr_key *k = NULL;
	static const char *const types[3] = {"rsa-2048", "rsa-3072", "rsa-4096"};
	int slot;

	if (c->given != NULL && is_rsa_alg(c->given->alg) == is_rsa_alg(alg))
		return c->given;
	pthread_mutex_lock(&c->mu);
	if (is_rsa_alg(alg)) {
		/* Same modulus size as the stanza, so the RSA operation
		 * really runs (and fails) rather than rejecting the length. */
		slot = in_len <= 256 ? 0 : in_len <= 384 ? 1 : 2;
		if (c->rsa[slot] == NULL && gen_key(types[slot], &c->rsa[slot]) !=
		    ATR_OK)
			c->failed = 1;
		k = c->rsa[slot];
	} else {
		if (c->aes == NULL && gen_key("aes-256", &c->aes) != ATR_OK)
			c->failed = 1;
		k = c->aes;
	}
	pthread_mutex_unlock(&c->mu);
	return k;
}

static enum atr_err
imp_wrap(struct atr_key *k, const uint8_t *in, size_t in_len, uint8_t *out,
    size_t *out_len)
{
	(void)k;
	(void)in;
	(void)in_len;
	(void)out;
	*out_len = 0;
	return atr_fail(ATR_ERR_USAGE, "the impostor key does not wrap");
}

static enum atr_err
imp_unwrap(struct atr_key *k, const char *kid, enum atr_wrap_alg alg,
    const uint8_t *in, size_t in_len, uint8_t *out, size_t *out_len)
{
	struct vfy_controls *c = k->impl;
	struct atr_key *ctl = pick(c, alg, in_len);

	(void)kid;
	if (ctl == NULL) {
		*out_len = 0;
		return atr_fail(ATR_ERR_KEY, "no control key for this algorithm");
	}
	return ctl->ops->unwrap(ctl, ctl->key_id, alg, in, in_len, out,
	    out_len);
}

static int
imp_matches(const struct atr_key *k, enum atr_provider_type prov,
    const char *kid)
{
	(void)k;
	(void)prov;
	(void)kid;
	return 1;
}

static void
imp_free(struct atr_key *k)
{
	k->impl = NULL;   /* owned by the controls */
}

static const struct atr_key_ops imp_ops = {
	imp_wrap, imp_unwrap, imp_matches, imp_free,
};

enum atr_err
vfy_controls_new(struct atr_key *given, struct vfy_controls **out)
{
	struct vfy_controls *c = calloc(1, sizeof(*c));

	*out = NULL;
	if (c == NULL)
		return ATR_ERR_NOMEM;
	if (pthread_mutex_init(&c->mu, NULL) != 0) {
		free(c);
		return ATR_ERR_NOMEM;
	}
	c->given = given;
	c->impostor = atr_key_alloc(&imp_ops);
	if (c->impostor == NULL) {
		vfy_controls_free(c);
		return ATR_ERR_NOMEM;
	}
	c->impostor->impl = c;
	c->impostor->provider = ATR_PROV_FILE_AES;
	c->impostor->alg = ATR_WRAP_AES_KWP;
	snprintf(c->impostor->uri, sizeof(c->impostor->uri), "control:impostor");
	snprintf(c->impostor->key_id, sizeof(c->impostor->key_id),
	    "control:impostor");
	c->impostor->can_unwrap = 1;
	if (given != NULL)
		snprintf(c->desc, sizeof(c->desc), "%.500s", given->uri);
	else
		snprintf(c->desc, sizeof(c->desc), "generated");
	*out = c;
	return ATR_OK;
}

void
vfy_controls_free(struct vfy_controls *c)
{
	int i;

	if (c == NULL)
		return;
	atr_key_free(c->impostor);
	atr_key_free(c->aes);
	for (i = 0; i < 3; i++)
		atr_key_free(c->rsa[i]);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

struct atr_key *
vfy_controls_impostor(struct vfy_controls *c)
{
	return c->impostor;
}

struct atr_key *
vfy_controls_plain(struct vfy_controls *c)
{
	if (c->given != NULL)
		return c->given;
	return pick(c, ATR_WRAP_AES_KWP, 72);
}

const char *
vfy_controls_desc(const struct vfy_controls *c)
{
	return c->desc;
}
