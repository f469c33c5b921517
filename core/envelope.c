/* see envelope.h; the byte layout is specified in docs/FORMAT.md */
#include "envelope.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

struct share_stanza {
	uint8_t provider, alg;
	char key_id[ATR_KEYID_MAX + 1];
	uint16_t wrapped_len;
	uint8_t wrapped[ATR_WRAPPED_MAX];
};

struct atr_share {
	enum atr_stanza_kind kind;
	uint8_t share_id[ATR_SHARE_ID_BYTES];
	uint8_t key[ATR_DEK_BYTES];
	size_t nst;
	struct share_stanza st[ATR_MAX_STANZAS];
};

struct atr_enc {
	size_t header_len;
	uint8_t prefix[ATR_NONCE_PREFIX_BYTES];
	uint32_t frame_size;
	uint64_t next;
	int finished;
	struct atr_gcm gcm;
	/* Room for the core, this object's stanzas at their largest and
	 * the MAC: a few KiB instead of ATR_HEADER_MAX (~34 KiB). */
	size_t header_cap;
	uint8_t header[];
};

struct atr_dec {
	struct atr_gcm gcm;
	uint8_t prefix[ATR_NONCE_PREFIX_BYTES];
	uint32_t frame_size;
	uint8_t dek[ATR_DEK_BYTES];
};

#define KCACHE_ID_BYTES 32U
struct kc_entry {
	uint8_t id[KCACHE_ID_BYTES];
	uint8_t key[ATR_DEK_BYTES];
	uint64_t born;             /* atr_now_ns() before the unwrap */
	int used;
};

struct atr_kcache {
	pthread_mutex_t lock;
	size_t cap, next;
	uint64_t ttl_ns;
	uint64_t unwraps, hits;
	struct kc_entry *e;
};

static void
put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void
put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint16_t
get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t
get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

const char *
atr_stanza_kind_name(unsigned kind)
{
	switch (kind) {
	case ATR_KIND_DIRECT:
		return "per-object";
	case ATR_KIND_SHARED:
		return "cached";
	case ATR_KIND_INTERMEDIATE:
		return "intermediate";
	}
	return "unknown";
}

void
atr_frame_nonce(const uint8_t prefix[ATR_NONCE_PREFIX_BYTES], uint32_t index,
    int final, uint8_t nonce[12])
{
	/* SP 800-38D 8.2.1 deterministic construction: a fixed field (the
	 * per-object prefix) and an invocation field (index | final flag).
	 * The full 32-bit index is used, never a truncation of a wider
	 * counter; the final flag makes a truncated stream fail. */
	memcpy(nonce, prefix, ATR_NONCE_PREFIX_BYTES);
	put32(nonce + ATR_NONCE_PREFIX_BYTES, index);
	nonce[11] = final ? 1 : 0;
}

/*
 * SHA-256 of a wrap context: what a KEK-wrapped key is bound to.
 * binding is the object id (kind DIRECT) or the share id.
 */
static enum atr_err
wrap_digest(uint8_t kind, const uint8_t *binding, size_t binding_len,
    uint8_t provider, uint8_t alg, const char *key_id, uint8_t out[32])
{
	static const char label[] = "atrest/v1 wrap";
	uint8_t buf[sizeof(label) + 4 + ATR_OBJECT_ID_BYTES + 4 +
	    ATR_KEYID_MAX];
	size_t kl = strlen(key_id), n = 0;

	memcpy(buf, label, sizeof(label)); /* includes the NUL separator */
	n += sizeof(label);
	buf[n++] = ATR_FORMAT_VERSION;
	buf[n++] = kind;
	buf[n++] = (uint8_t)binding_len;
	memcpy(buf + n, binding, binding_len);
	n += binding_len;
	buf[n++] = provider;
	buf[n++] = alg;
	put16(buf + n, (uint16_t)kl);
	n += 2;
	/* NOLINTNEXTLINE(bugprone-not-null-terminated-result): length-prefixed */
	memcpy(buf + n, key_id, kl);
	n += kl;
	return atr_sha256(buf, n, out);
}

/* Context of an object's DEK wrapped under an intermediate key. */
static enum atr_err
ik_digest(const uint8_t *object_id, const uint8_t *share_id, uint8_t out[32])
{
	static const char label[] = "atrest/v1 ik-wrap";
	uint8_t buf[sizeof(label) + 1 + ATR_OBJECT_ID_BYTES +
	    ATR_SHARE_ID_BYTES];
	size_t n = 0;

	memcpy(buf, label, sizeof(label));
	n += sizeof(label);
	buf[n++] = ATR_FORMAT_VERSION;
	memcpy(buf + n, object_id, ATR_OBJECT_ID_BYTES);
	n += ATR_OBJECT_ID_BYTES;
	memcpy(buf + n, share_id, ATR_SHARE_ID_BYTES);
	n += ATR_SHARE_ID_BYTES;
	return atr_sha256(buf, n, out);
}

/*
 * RFC 5869 with salt = object id and info = label | core_pre: one
 * extract, 96 bytes out = commitment | payload key | header MAC key.
 * Binding core_pre (magic, version, suite, object id, frame size, nonce
 * prefix) into every derived key means a change to any of them breaks
 * the commitment, every frame and the MAC at once.
 */
static enum atr_err
derive(const uint8_t *dek, const uint8_t *core_pre, uint8_t commit[32],
    uint8_t pkey[32], uint8_t mkey[32])
{
	static const char label[] = "atrest/v1 keys";
	uint8_t info[sizeof(label) + ATR_CORE_PRE_BYTES], okm[96];
	enum atr_err err;

	memcpy(info, label, sizeof(label));
	memcpy(info + sizeof(label), core_pre, ATR_CORE_PRE_BYTES);
	err = atr_hkdf_sha256(dek, ATR_DEK_BYTES, core_pre + 10,
	    ATR_OBJECT_ID_BYTES, info, sizeof(info), okm, sizeof(okm));
	if (err == ATR_OK) {
		memcpy(commit, okm, 32);
		memcpy(pkey, okm + 32, 32);
		memcpy(mkey, okm + 64, 32);
	}
	atr_memzero(okm, sizeof(okm));
	return err;
}

static int
key_id_ok(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || n > ATR_KEYID_MAX)
		return 0;
	/* Printable ASCII without spaces: ids are URIs and fingerprints,
	 * and inspect prints them to terminals. */
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
			return 0;
	return 1;
}

enum atr_err
atr_header_parse(const uint8_t *buf, size_t len, struct atr_header *h)
{
	size_t off, i;

	h->len = 0;
	if (len < ATR_MAGIC_BYTES ||
	    memcmp(buf, ATR_MAGIC, ATR_MAGIC_BYTES) != 0)
		return atr_fail(ATR_ERR_FORMAT, "no atrest magic (not an envelope)");
	if (len < ATR_CORE_BYTES + 2)
		return atr_fail(ATR_ERR_FORMAT, "truncated header");
	h->version = buf[6];
	h->flags = buf[7];
	h->suite = get16(buf + 8);
	if (h->version != ATR_FORMAT_VERSION)
		return atr_fail(ATR_ERR_FORMAT, "unsupported format version %u",
		    h->version);
	if (h->flags != 0)
		return atr_fail(ATR_ERR_FORMAT, "reserved flags set (0x%02x)",
		    h->flags);
	if (h->suite != ATR_SUITE_V1)
		return atr_fail(ATR_ERR_FORMAT, "unknown algorithm suite 0x%04x",
		    h->suite);
	memcpy(h->object_id, buf + 10, ATR_OBJECT_ID_BYTES);
	h->frame_size = get32(buf + 42);
	if (h->frame_size < ATR_FRAME_MIN || h->frame_size > ATR_FRAME_MAX)
		return atr_fail(ATR_ERR_FORMAT,
		    "frame size %u outside %u..%u", h->frame_size,
		    ATR_FRAME_MIN, ATR_FRAME_MAX);
	memcpy(h->nonce_prefix, buf + 46, ATR_NONCE_PREFIX_BYTES);
	memcpy(h->commitment, buf + 53, ATR_COMMIT_BYTES);
	h->nstanzas = get16(buf + 85);
	if (h->nstanzas == 0 || h->nstanzas > ATR_MAX_STANZAS)
		return atr_fail(ATR_ERR_FORMAT,
		    "%u recipient stanzas (1..%u allowed)", h->nstanzas,
		    ATR_MAX_STANZAS);
	off = ATR_CORE_BYTES + 2;
	for (i = 0; i < h->nstanzas; i++) {
		struct atr_stanza *s = &h->st[i];
		size_t kl;

		/* The arrays are filled up to their lengths (key_id with its
		 * NUL) and read no further; zeroing all of them would cost
		 * ~2 KiB of stores per stanza of every object parsed. */
		s->wrapped_len = 0;
		s->key_id[0] = '\0';
		memset(s->share_id, 0, sizeof(s->share_id));
		s->ik_wrapped_len = 0;
		memset(s->ik_wrapped, 0, sizeof(s->ik_wrapped));
		if (len - off < 5)
			return atr_fail(ATR_ERR_FORMAT, "truncated stanza %zu", i);
		s->provider = buf[off];
		s->alg = buf[off + 1];
		s->kind = buf[off + 2];
		kl = get16(buf + off + 3);
		off += 5;
		if (s->kind > ATR_KIND_INTERMEDIATE)
			return atr_fail(ATR_ERR_FORMAT,
			    "stanza %zu: unknown kind %u", i, s->kind);
		if (kl == 0 || kl > ATR_KEYID_MAX || len - off < kl + 2)
			return atr_fail(ATR_ERR_FORMAT,
			    "stanza %zu: bad key id length", i);
		if (!key_id_ok((const char *)buf + off, kl))
			return atr_fail(ATR_ERR_FORMAT,
			    "stanza %zu: key id is not printable ASCII", i);
		memcpy(s->key_id, buf + off, kl);
		s->key_id[kl] = '\0';
		off += kl;
		s->wrapped_len = get16(buf + off);
		off += 2;
		if (s->wrapped_len == 0 || s->wrapped_len > ATR_WRAPPED_MAX ||
		    len - off < s->wrapped_len)
			return atr_fail(ATR_ERR_FORMAT,
			    "stanza %zu: bad wrapped key length", i);
		memcpy(s->wrapped, buf + off, s->wrapped_len);
		off += s->wrapped_len;
		if (s->kind == ATR_KIND_DIRECT)
			continue;
		if (len - off < ATR_SHARE_ID_BYTES)
			return atr_fail(ATR_ERR_FORMAT, "truncated stanza %zu", i);
		memcpy(s->share_id, buf + off, ATR_SHARE_ID_BYTES);
		off += ATR_SHARE_ID_BYTES;
		if (s->kind != ATR_KIND_INTERMEDIATE)
			continue;
		if (len - off < 2)
			return atr_fail(ATR_ERR_FORMAT, "truncated stanza %zu", i);
		s->ik_wrapped_len = get16(buf + off);
		off += 2;
		if (s->ik_wrapped_len != ATR_IK_WRAPPED_BYTES ||
		    len - off < s->ik_wrapped_len)
			return atr_fail(ATR_ERR_FORMAT,
			    "stanza %zu: bad intermediate wrap length", i);
		memcpy(s->ik_wrapped, buf + off, s->ik_wrapped_len);
		off += s->ik_wrapped_len;
	}
	if (len - off < ATR_MAC_BYTES)
		return atr_fail(ATR_ERR_FORMAT, "truncated header MAC");
	memcpy(h->mac, buf + off, ATR_MAC_BYTES);
	off += ATR_MAC_BYTES;
	memcpy(h->raw, buf, off);
	h->len = off;
	return ATR_OK;
}

enum atr_err
atr_body_frames(uint64_t body_len, uint32_t frame_size, uint64_t *nframes)
{
	uint64_t rec = (uint64_t)frame_size + ATR_GCM_TAGBYTES, n, last;

	*nframes = 0;
	if (body_len < ATR_GCM_TAGBYTES)
		return atr_fail(ATR_ERR_FORMAT, "missing final frame");
	/* Not (body_len + rec - 1) / rec: that wraps for lengths near
	 * 2^64 and yields 0 frames. */
	n = body_len / rec + (body_len % rec != 0);
	last = body_len - (n - 1) * rec;
	/* The last record must hold a tag and, unless it is the only
	 * frame (the empty object), at least one byte. */
	if (last < ATR_GCM_TAGBYTES || (n > 1 && last == ATR_GCM_TAGBYTES))
		return atr_fail(ATR_ERR_FORMAT, "body is not a whole number of frames");
	if (n > ATR_MAX_FRAMES)
		return atr_fail(ATR_ERR_FORMAT, "too many frames");
	*nframes = n;
	return ATR_OK;
}

enum atr_err
atr_share_new(enum atr_stanza_kind kind, struct atr_key *const *keys,
    size_t nkeys, struct atr_share **out)
{
	struct atr_share *s = NULL;
	uint8_t in[ATR_WRAP_INPUT_BYTES];
	enum atr_err err;
	size_t i;

	*out = NULL;
	if (kind != ATR_KIND_SHARED && kind != ATR_KIND_INTERMEDIATE)
		return atr_fail(ATR_ERR_USAGE, "a share is SHARED or INTERMEDIATE");
	if (nkeys == 0 || nkeys > ATR_MAX_STANZAS)
		return atr_fail(ATR_ERR_USAGE, "1..%u keys needed", ATR_MAX_STANZAS);
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return ATR_ERR_NOMEM;
	s->kind = kind;
	s->nst = nkeys;
	err = atr_random(s->share_id, sizeof(s->share_id));
	if (err == ATR_OK)
		err = atr_random(s->key, sizeof(s->key));
	for (i = 0; err == ATR_OK && i < nkeys; i++) {
		struct share_stanza *st = &s->st[i];
		size_t wl = ATR_WRAPPED_MAX;

		if (!keys[i]->can_wrap) {
			err = atr_fail(ATR_ERR_KEY, "%s cannot wrap", keys[i]->uri);
			break;
		}
		st->provider = (uint8_t)keys[i]->provider;
		st->alg = (uint8_t)keys[i]->alg;
		snprintf(st->key_id, sizeof(st->key_id), "%s", keys[i]->key_id);
		memcpy(in, s->key, ATR_DEK_BYTES);
		err = wrap_digest((uint8_t)kind, s->share_id, ATR_SHARE_ID_BYTES,
		    st->provider, st->alg, st->key_id, in + ATR_DEK_BYTES);
		if (err == ATR_OK)
			err = keys[i]->ops->wrap(keys[i], in, sizeof(in),
			    st->wrapped, &wl);
		if (err == ATR_OK && (wl == 0 || wl > ATR_WRAPPED_MAX))
			err = atr_fail(ATR_ERR_LIMIT, "wrapped key too large");
		st->wrapped_len = (uint16_t)wl;
	}
	atr_memzero(in, sizeof(in));
	if (err != ATR_OK) {
		atr_share_free(s);
		return err;
	}
	*out = s;
	return ATR_OK;
}

void
atr_share_free(struct atr_share *s)
{
	if (s == NULL)
		return;
	atr_memzero(s, sizeof(*s));
	free(s);
}

/* Appends one stanza to the header being built; checks every limit. */
static enum atr_err
put_stanza(uint8_t *hdr, size_t cap, size_t *off, uint8_t provider,
    uint8_t alg,
    uint8_t kind, const char *key_id, const uint8_t *wrapped, size_t wl,
    const uint8_t *share_id, const uint8_t *ikw)
{
	size_t kl = strlen(key_id), need;

	if (!key_id_ok(key_id, kl))
		return atr_fail(ATR_ERR_LIMIT, "key id empty, too long or not printable");
	if (wl == 0 || wl > ATR_WRAPPED_MAX)
		return atr_fail(ATR_ERR_LIMIT, "wrapped key too large");
	need = 5 + kl + 2 + wl + (kind != ATR_KIND_DIRECT ?
	    ATR_SHARE_ID_BYTES : 0) + (kind == ATR_KIND_INTERMEDIATE ?
	    2 + ATR_IK_WRAPPED_BYTES : 0);
	if (*off + need + ATR_MAC_BYTES > cap)
		return atr_fail(ATR_ERR_LIMIT, "header too large");
	hdr[*off] = provider;
	hdr[*off + 1] = alg;
	hdr[*off + 2] = kind;
	put16(hdr + *off + 3, (uint16_t)kl);
	*off += 5;
	/* NOLINTNEXTLINE(bugprone-not-null-terminated-result): length-prefixed */
	memcpy(hdr + *off, key_id, kl);
	*off += kl;
	put16(hdr + *off, (uint16_t)wl);
	*off += 2;
	memcpy(hdr + *off, wrapped, wl);
	*off += wl;
	if (kind == ATR_KIND_DIRECT)
		return ATR_OK;
	memcpy(hdr + *off, share_id, ATR_SHARE_ID_BYTES);
	*off += ATR_SHARE_ID_BYTES;
	if (kind == ATR_KIND_INTERMEDIATE) {
		put16(hdr + *off, ATR_IK_WRAPPED_BYTES);
		*off += 2;
		memcpy(hdr + *off, ikw, ATR_IK_WRAPPED_BYTES);
		*off += ATR_IK_WRAPPED_BYTES;
	}
	return ATR_OK;
}

enum atr_err
atr_enc_new(const struct atr_enc_params *p, struct atr_enc **out)
{
	struct atr_enc *e = NULL;
	uint8_t dek[ATR_DEK_BYTES], commit[32], pkey[32], mkey[32];
	uint8_t in[ATR_WRAP_INPUT_BYTES], wrapped[ATR_WRAPPED_MAX];
	uint8_t ikw[ATR_IK_WRAPPED_BYTES];
	uint8_t rnd[ATR_OBJECT_ID_BYTES + ATR_NONCE_PREFIX_BYTES + ATR_DEK_BYTES];
	uint32_t fs = p->frame_size ? p->frame_size : ATR_FRAME_DEFAULT;
	size_t i, off, cap, n = p->share ? p->share->nst : p->nkeys;
	enum atr_err err;

	*out = NULL;
	if (fs < ATR_FRAME_MIN || fs > ATR_FRAME_MAX)
		return atr_fail(ATR_ERR_USAGE, "frame size must be %u..%u",
		    ATR_FRAME_MIN, ATR_FRAME_MAX);
	if (n == 0 || n > ATR_MAX_STANZAS)
		return atr_fail(ATR_ERR_USAGE, "1..%u recipients needed",
		    ATR_MAX_STANZAS);
	/* Not calloc: the header is written front to back and only
	 * header[0..header_len) is read. */
	cap = ATR_CORE_BYTES + 2 + n * ATR_STANZA_MAX + ATR_MAC_BYTES;
	e = malloc(sizeof(*e) + cap);
	if (e == NULL)
		return ATR_ERR_NOMEM;
	e->header_cap = cap;
	e->header_len = 0;
	e->next = 0;
	e->finished = 0;
	memset(&e->gcm, 0, sizeof(e->gcm));
	e->frame_size = fs;

	/* Core: magic, version, flags, suite, object id, frame size,
	 * nonce prefix; the commitment follows once derived. */
	memcpy(e->header, ATR_MAGIC, ATR_MAGIC_BYTES);
	e->header[6] = ATR_FORMAT_VERSION;
	e->header[7] = 0;
	put16(e->header + 8, ATR_SUITE_V1);
	put32(e->header + 42, fs);
	/* Object id, nonce prefix and DEK in one draw. */
	err = atr_random(rnd, sizeof(rnd));
	if (err != ATR_OK)
		goto out;
	memcpy(e->header + 10, rnd, ATR_OBJECT_ID_BYTES);
	memcpy(e->prefix, rnd + ATR_OBJECT_ID_BYTES, sizeof(e->prefix));
	memcpy(e->header + 46, e->prefix, sizeof(e->prefix));
	if (p->share == NULL || p->share->kind == ATR_KIND_INTERMEDIATE)
		memcpy(dek, rnd + ATR_OBJECT_ID_BYTES + ATR_NONCE_PREFIX_BYTES,
		    sizeof(dek));
	else
		memcpy(dek, p->share->key, sizeof(dek));
	err = derive(dek, e->header, commit, pkey, mkey);
	if (err != ATR_OK)
		goto out;
	memcpy(e->header + 53, commit, sizeof(commit));
	put16(e->header + ATR_CORE_BYTES, (uint16_t)n);
	off = ATR_CORE_BYTES + 2;

	if (p->share != NULL && p->share->kind == ATR_KIND_INTERMEDIATE) {
		size_t il = sizeof(ikw);

		memcpy(in, dek, ATR_DEK_BYTES);
		err = ik_digest(e->header + 10, p->share->share_id,
		    in + ATR_DEK_BYTES);
		if (err == ATR_OK)
			err = atr_aes_kw_wrap(1, p->share->key, ATR_DEK_BYTES,
			    in, sizeof(in), ikw, &il);
		if (err == ATR_OK && il != ATR_IK_WRAPPED_BYTES)
			err = ATR_ERR_CRYPTO;
		if (err != ATR_OK)
			goto out;
	}
	for (i = 0; i < n; i++) {
		if (p->share != NULL) {
			const struct share_stanza *ss = &p->share->st[i];

			err = put_stanza(e->header, cap, &off, ss->provider,
			    ss->alg, (uint8_t)p->share->kind, ss->key_id,
			    ss->wrapped, ss->wrapped_len, p->share->share_id, ikw);
		} else {
			struct atr_key *k = p->keys[i];
			size_t wl = sizeof(wrapped);

			if (!k->can_wrap) {
				err = atr_fail(ATR_ERR_KEY, "%s cannot wrap", k->uri);
				goto out;
			}
			memcpy(in, dek, ATR_DEK_BYTES);
			err = wrap_digest(ATR_KIND_DIRECT, e->header + 10,
			    ATR_OBJECT_ID_BYTES, (uint8_t)k->provider,
			    (uint8_t)k->alg, k->key_id, in + ATR_DEK_BYTES);
			if (err == ATR_OK)
				err = k->ops->wrap(k, in, sizeof(in), wrapped, &wl);
			if (err == ATR_OK)
				err = put_stanza(e->header, cap, &off,
				    (uint8_t)k->provider, (uint8_t)k->alg,
				    ATR_KIND_DIRECT, k->key_id, wrapped, wl,
				    NULL, NULL);
		}
		if (err != ATR_OK)
			goto out;
	}
	err = atr_hmac_sha256(mkey, sizeof(mkey), e->header, off,
	    e->header + off);
	if (err != ATR_OK)
		goto out;
	e->header_len = off + ATR_MAC_BYTES;
	err = atr_gcm_init_for(&e->gcm, pkey, ATR_GCM_ENC);
out:
	atr_memzero(rnd, sizeof(rnd));
	atr_memzero(dek, sizeof(dek));
	atr_memzero(pkey, sizeof(pkey));
	atr_memzero(mkey, sizeof(mkey));
	atr_memzero(in, sizeof(in));
	atr_memzero(ikw, sizeof(ikw));
	if (err != ATR_OK) {
		atr_enc_free(e);
		return err;
	}
	*out = e;
	return ATR_OK;
}

const uint8_t *
atr_enc_header(const struct atr_enc *e, size_t *len)
{
	*len = e->header_len;
	return e->header;
}

/* The frame rules of docs/FORMAT.md, shared by atr_enc_frame and the
 * framers: a middle frame is exactly frame_size bytes, the final one
 * 1..frame_size (0 only for the empty object, whose only frame is 0). */
static enum atr_err
seal_at(struct atr_gcm *g, const uint8_t *prefix, uint32_t frame_size,
    uint64_t index, int final, const uint8_t *pt, size_t len, uint8_t *out)
{
	uint8_t nonce[12];

	if (index >= ATR_MAX_FRAMES)
		return atr_fail(ATR_ERR_LIMIT, "object exceeds %llu frames",
		    (unsigned long long)ATR_MAX_FRAMES);
	if (len > frame_size || (!final && len != frame_size) ||
	    (final && len == 0 && index != 0))
		return atr_fail(ATR_ERR_USAGE, "bad frame length %zu", len);
	atr_frame_nonce(prefix, (uint32_t)index, final, nonce);
	return atr_gcm_seal_frame(g, nonce, NULL, 0, pt, len, out);
}

static enum atr_err
open_at(struct atr_gcm *g, const uint8_t *prefix, uint32_t frame_size,
    uint64_t index, int final, const uint8_t *in, size_t in_len, uint8_t *out)
{
	uint8_t nonce[12];
	size_t ct_len;

	if (in_len < ATR_GCM_TAGBYTES || index >= ATR_MAX_FRAMES)
		return atr_fail(ATR_ERR_FORMAT, "truncated frame");
	ct_len = in_len - ATR_GCM_TAGBYTES;
	if (ct_len > frame_size || (!final && ct_len != frame_size) ||
	    (final && ct_len == 0 && index != 0))
		return atr_fail(ATR_ERR_FORMAT, "frame %llu has a bad length",
		    (unsigned long long)index);
	atr_frame_nonce(prefix, (uint32_t)index, final, nonce);
	return atr_gcm_open_frame(g, nonce, NULL, 0, in, ct_len, out);
}

uint32_t
atr_enc_frame_size(const struct atr_enc *e)
{
	return e->frame_size;
}

enum atr_err
atr_enc_frame(struct atr_enc *e, const uint8_t *pt, size_t len, int final,
    uint8_t *out)
{
	enum atr_err err;

	if (e->finished)
		return atr_fail(ATR_ERR_USAGE, "object already finished");
	err = seal_at(&e->gcm, e->prefix, e->frame_size, e->next, final, pt,
	    len, out);
	if (err != ATR_OK)
		return err;
	e->next++;
	if (final)
		e->finished = 1;
	return ATR_OK;
}

void
atr_enc_free(struct atr_enc *e)
{
	if (e == NULL)
		return;
	atr_gcm_clear(&e->gcm);
	atr_memzero(e->prefix, sizeof(e->prefix));
	free(e);
}

struct atr_kcache *
atr_kcache_new(size_t capacity)
{
	struct atr_kcache *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	if (capacity == 0)
		capacity = 64;
	c->e = calloc(capacity, sizeof(*c->e));
	if (c->e == NULL || pthread_mutex_init(&c->lock, NULL) != 0) {
		free(c->e);
		free(c);
		return NULL;
	}
	c->cap = capacity;
	c->ttl_ns = (uint64_t)ATR_KCACHE_TTL_DEFAULT_S * 1000000000ULL;
	return c;
}

void
atr_kcache_set_ttl(struct atr_kcache *c, uint64_t ttl_ns)
{
	if (ttl_ns == 0)
		return;
	pthread_mutex_lock(&c->lock);
	c->ttl_ns = ttl_ns;
	pthread_mutex_unlock(&c->lock);
}

uint64_t
atr_kcache_ttl(const struct atr_kcache *c)
{
	uint64_t t;

	pthread_mutex_lock((pthread_mutex_t *)&c->lock);
	t = c->ttl_ns;
	pthread_mutex_unlock((pthread_mutex_t *)&c->lock);
	return t;
}

void
atr_kcache_free(struct atr_kcache *c)
{
	if (c == NULL)
		return;
	atr_memzero(c->e, c->cap * sizeof(*c->e));
	free(c->e);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

void
atr_kcache_stats(const struct atr_kcache *c, uint64_t *unwraps,
    uint64_t *hits)
{
	pthread_mutex_lock((pthread_mutex_t *)&c->lock);
	*unwraps = c->unwraps;
	*hits = c->hits;
	pthread_mutex_unlock((pthread_mutex_t *)&c->lock);
}

/* The cache id names a wrapped share exactly: stanza provider, alg,
 * key id, share id and wrapped bytes. */
static enum atr_err
kc_id(const struct atr_stanza *s, uint8_t id[KCACHE_ID_BYTES])
{
	uint8_t buf[3 + ATR_KEYID_MAX + 1 + ATR_SHARE_ID_BYTES +
	    ATR_WRAPPED_MAX];
	size_t kl = strlen(s->key_id), n = 0;

	buf[n++] = s->provider;
	buf[n++] = s->alg;
	buf[n++] = s->kind;
	memcpy(buf + n, s->key_id, kl + 1);
	n += kl + 1;
	memcpy(buf + n, s->share_id, ATR_SHARE_ID_BYTES);
	n += ATR_SHARE_ID_BYTES;
	memcpy(buf + n, s->wrapped, s->wrapped_len);
	n += s->wrapped_len;
	return atr_sha256(buf, n, id);
}

static int
kc_get(struct atr_kcache *c, const uint8_t id[32], uint8_t key[32])
{
	uint64_t now = atr_now_ns();
	size_t i;
	int found = 0;

	pthread_mutex_lock(&c->lock);
	for (i = 0; i < c->cap; i++) {
		struct kc_entry *e = &c->e[i];

		if (!e->used)
			continue;
		/* Expired: dropped and wiped, never served, so a revoked
		 * key stops opening data within the TTL. */
		if (now - e->born >= c->ttl_ns) {
			atr_memzero(e, sizeof(*e));
			continue;
		}
		if (!found && atr_ct_equal(e->id, id, 32)) {
			memcpy(key, e->key, 32);
			c->hits++;
			found = 1;
		}
	}
	pthread_mutex_unlock(&c->lock);
	return found;
}

/* born: when the unwrap was asked for, so the lifetime also covers the
 * unwrap's own round trip. */
static void
kc_put(struct atr_kcache *c, const uint8_t id[32], const uint8_t key[32],
    uint64_t born)
{
	struct kc_entry *e;

	pthread_mutex_lock(&c->lock);
	e = &c->e[c->next];
	c->next = (c->next + 1) % c->cap;
	memcpy(e->id, id, 32);
	memcpy(e->key, key, 32);
	e->born = born;
	e->used = 1;
	pthread_mutex_unlock(&c->lock);
}

static void
kc_count_unwrap(struct atr_kcache *c)
{
	pthread_mutex_lock(&c->lock);
	c->unwraps++;
	pthread_mutex_unlock(&c->lock);
}

/*
 * Unwraps the KEK-wrapped key of stanza s and checks its context.  dek
 * gets the object's DEK; inner (may be NULL) the key the KEK wrapped,
 * which is the DEK itself except for kind INTERMEDIATE.
 */
static enum atr_err
open_stanza(const struct atr_header *h, const struct atr_stanza *s,
    struct atr_key *k, struct atr_kcache *cache, uint8_t dek[32],
    uint8_t *inner)
{
	uint8_t out[ATR_WRAPPED_MAX], digest[32], id[32], key[32];
	uint8_t in[ATR_WRAP_INPUT_BYTES];
	size_t ol = sizeof(out), il = sizeof(in);
	uint64_t born;
	int cached = 0;
	enum atr_err err;

	if (s->kind != ATR_KIND_DIRECT && cache != NULL) {
		err = kc_id(s, id);
		if (err != ATR_OK)
			return err;
		cached = kc_get(cache, id, key);
	}
	if (!cached) {
		born = atr_now_ns();
		err = k->ops->unwrap(k, s->key_id, (enum atr_wrap_alg)s->alg,
		    s->wrapped, s->wrapped_len, out, &ol);
		if (cache != NULL)
			kc_count_unwrap(cache);
		if (err != ATR_OK)
			goto out;
		err = ATR_ERR_AUTH;
		if (ol != ATR_WRAP_INPUT_BYTES)
			goto out;
		if (s->kind == ATR_KIND_DIRECT)
			err = wrap_digest(s->kind, h->object_id,
			    ATR_OBJECT_ID_BYTES, s->provider, s->alg,
			    s->key_id, digest);
		else
			err = wrap_digest(s->kind, s->share_id,
			    ATR_SHARE_ID_BYTES, s->provider, s->alg,
			    s->key_id, digest);
		if (err != ATR_OK)
			goto out;
		if (!atr_ct_equal(digest, out + ATR_DEK_BYTES, 32)) {
			err = ATR_ERR_AUTH;
			goto out;
		}
		memcpy(key, out, 32);
		if (s->kind != ATR_KIND_DIRECT && cache != NULL)
			kc_put(cache, id, key, born);
	}
	if (inner != NULL)
		memcpy(inner, key, 32);
	if (s->kind != ATR_KIND_INTERMEDIATE) {
		memcpy(dek, key, 32);
		err = ATR_OK;
		goto out;
	}
	err = atr_aes_kw_unwrap(1, key, sizeof(key), s->ik_wrapped,
	    s->ik_wrapped_len, in, &il);
	if (err != ATR_OK)
		goto out;
	err = ik_digest(h->object_id, s->share_id, digest);
	if (err != ATR_OK)
		goto out;
	if (il != ATR_WRAP_INPUT_BYTES ||
	    !atr_ct_equal(digest, in + ATR_DEK_BYTES, 32)) {
		err = ATR_ERR_AUTH;
		goto out;
	}
	memcpy(dek, in, 32);
out:
	/* A provider that failed may have written anywhere in out. */
	atr_memzero(out, err == ATR_OK ? ATR_WRAP_INPUT_BYTES : sizeof(out));
	atr_memzero(in, sizeof(in));
	atr_memzero(key, sizeof(key));
	return err;
}

/*
 * Finds the first (key, stanza) pair that opens, as documented for
 * atr_dec_new.  A key service that said no (disabled, down, forbidden)
 * is reported as such rather than as a failed authentication.
 */
static enum atr_err
find_open(const struct atr_header *h, struct atr_key *const *keys,
    size_t nkeys, struct atr_kcache *cache, uint8_t dek[32], uint8_t *inner,
    size_t *wk, size_t *ws)
{
	enum atr_err service_err = ATR_OK;
	char service_detail[512] = "";
	size_t i, j;
	int matched = 0;

	for (i = 0; i < nkeys; i++) {
		for (j = 0; j < h->nstanzas; j++) {
			const struct atr_stanza *s = &h->st[j];
			enum atr_err e;

			if (!keys[i]->ops->matches(keys[i],
			    (enum atr_provider_type)s->provider, s->key_id))
				continue;
			matched = 1;
			e = open_stanza(h, s, keys[i], cache, dek, inner);
			if (e == ATR_OK) {
				*wk = i;
				*ws = j;
				return ATR_OK;
			}
			if (e != ATR_ERR_AUTH && service_err == ATR_OK) {
				service_err = e;
				snprintf(service_detail, sizeof(service_detail),
				    "%s", atr_detail());
			}
		}
	}
	if (service_err != ATR_OK)
		return atr_fail(service_err, "%s", service_detail);
	if (matched)
		return atr_fail(ATR_ERR_AUTH,
		    "the recipient for the given key does not open");
	return atr_fail(ATR_ERR_NOKEY,
	    "none of the %zu given key(s) is a recipient", nkeys);
}

/*
 * Derives the object's keys from its DEK and checks the key commitment
 * and the header MAC; both are compared before either result is used,
 * and a failure does not say which.
 */
static enum atr_err
check_header(const struct atr_header *h, const uint8_t dek[32],
    uint8_t pkey[32], uint8_t mkey[32])
{
	uint8_t commit[32], mac[32];
	enum atr_err err;

	err = derive(dek, h->raw, commit, pkey, mkey);
	if (err != ATR_OK)
		return err;
	err = atr_hmac_sha256(mkey, 32, h->raw, h->len - ATR_MAC_BYTES, mac);
	if (err != ATR_OK)
		return err;
	if ((atr_ct_equal(commit, h->commitment, 32) &
	    atr_ct_equal(mac, h->mac, 32)) == 0)
		return atr_fail(ATR_ERR_AUTH, "header authentication failed");
	return ATR_OK;
}

enum atr_err
atr_dec_new(const struct atr_header *h, struct atr_key *const *keys,
    size_t nkeys, const struct atr_dec_opts *opts, struct atr_dec **out,
    size_t *which_key, size_t *which_stanza)
{
	struct atr_dec *d = NULL;
	uint8_t dek[32], pkey[32], mkey[32];
	size_t wk = 0, ws = 0;
	enum atr_err err;

	*out = NULL;
	err = find_open(h, keys, nkeys, opts ? opts->cache : NULL, dek, NULL,
	    &wk, &ws);
	if (err != ATR_OK)
		return err;
	err = check_header(h, dek, pkey, mkey);
	if (err != ATR_OK)
		goto out;
	if (which_key)
		*which_key = wk;
	if (which_stanza)
		*which_stanza = ws;
	d = calloc(1, sizeof(*d));
	if (d == NULL) {
		err = ATR_ERR_NOMEM;
		goto out;
	}
	memcpy(d->prefix, h->nonce_prefix, sizeof(d->prefix));
	d->frame_size = h->frame_size;
	memcpy(d->dek, dek, sizeof(dek));
	err = atr_gcm_init_for(&d->gcm, pkey, ATR_GCM_DEC);
	if (err != ATR_OK)
		goto out;
	*out = d;
	d = NULL;
out:
	atr_memzero(dek, sizeof(dek));
	atr_memzero(pkey, sizeof(pkey));
	atr_memzero(mkey, sizeof(mkey));
	atr_dec_free(d);
	return err;
}

static int
stanza_matches_any(const struct atr_stanza *s, struct atr_key *const *keys,
    size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (keys[i]->ops->matches(keys[i],
		    (enum atr_provider_type)s->provider, s->key_id))
			return 1;
	return 0;
}

/* 1 when k is already a recipient of h that the spec keeps: a stanza
 * with its provider and key id that no remove key matches. */
static int
kept_recipient(const struct atr_header *h, const struct atr_key *k,
    const struct atr_rewrap_spec *spec)
{
	size_t j;

	for (j = 0; j < h->nstanzas; j++)
		if (h->st[j].provider == (uint8_t)k->provider &&
		    strcmp(h->st[j].key_id, k->key_id) == 0 &&
		    !stanza_matches_any(&h->st[j], spec->remove,
		    spec->nremove))
			return 1;
	return 0;
}

int
atr_rewrap_needed(const struct atr_header *h,
    const struct atr_rewrap_spec *spec)
{
	size_t i;

	for (i = 0; i < h->nstanzas; i++)
		if (stanza_matches_any(&h->st[i], spec->remove, spec->nremove))
			return 1;
	for (i = 0; i < spec->nadd; i++)
		if (!kept_recipient(h, spec->add[i], spec))
			return 1;
	return 0;
}

enum atr_err
atr_rewrap_header(const struct atr_header *h,
    const struct atr_rewrap_spec *spec, uint8_t *out, size_t *out_len,
    int *changed)
{
	uint8_t dek[32], inner[32], pkey[32], mkey[32];
	uint8_t in[ATR_WRAP_INPUT_BYTES], wrapped[ATR_WRAPPED_MAX];
	const struct atr_stanza *used;
	size_t wk = 0, ws = 0, off, i, n = 0;
	enum atr_err err;
	int differs = 0;

	*out_len = 0;
	*changed = 0;
	err = find_open(h, spec->open, spec->nopen, NULL, dek, inner, &wk, &ws);
	if (err != ATR_OK)
		return err;
	err = check_header(h, dek, pkey, mkey);
	if (err != ATR_OK)
		goto out;
	used = &h->st[ws];
	/* The core (object id, frame size, nonce prefix, commitment) is
	 * kept byte for byte: the payload key, and so every frame, stay
	 * valid without being touched. */
	memcpy(out, h->raw, ATR_CORE_BYTES);
	off = ATR_CORE_BYTES + 2;
	for (i = 0; i < h->nstanzas; i++) {
		const struct atr_stanza *s = &h->st[i];

		if (stanza_matches_any(s, spec->remove, spec->nremove)) {
			differs = 1;
			continue;
		}
		err = put_stanza(out, ATR_HEADER_MAX, &off, s->provider,
		    s->alg, s->kind, s->key_id, s->wrapped, s->wrapped_len,
		    s->share_id, s->ik_wrapped);
		if (err != ATR_OK)
			goto out;
		n++;
	}
	for (i = 0; i < spec->nadd; i++) {
		struct atr_key *k = spec->add[i];
		size_t wl = sizeof(wrapped);

		/* Already a recipient (a resumed run): nothing to add. */
		if (kept_recipient(h, k, spec))
			continue;
		if (!k->can_wrap) {
			err = atr_fail(ATR_ERR_KEY, "%s cannot wrap", k->uri);
			goto out;
		}
		if (n >= ATR_MAX_STANZAS) {
			err = atr_fail(ATR_ERR_LIMIT, "more than %u recipients",
			    ATR_MAX_STANZAS);
			goto out;
		}
		/* The new stanza wraps what the opened one wrapped, under the
		 * same kind and binding, so hierarchies survive a rewrap. */
		memcpy(in, inner, 32);
		if (used->kind == ATR_KIND_DIRECT)
			err = wrap_digest(ATR_KIND_DIRECT, h->object_id,
			    ATR_OBJECT_ID_BYTES, (uint8_t)k->provider,
			    (uint8_t)k->alg, k->key_id, in + 32);
		else
			err = wrap_digest(used->kind, used->share_id,
			    ATR_SHARE_ID_BYTES, (uint8_t)k->provider,
			    (uint8_t)k->alg, k->key_id, in + 32);
		if (err == ATR_OK)
			err = k->ops->wrap(k, in, sizeof(in), wrapped, &wl);
		if (err == ATR_OK)
			err = put_stanza(out, ATR_HEADER_MAX, &off,
			    (uint8_t)k->provider, (uint8_t)k->alg, used->kind,
			    k->key_id, wrapped, wl, used->share_id,
			    used->ik_wrapped);
		if (err != ATR_OK)
			goto out;
		n++;
		differs = 1;
	}
	if (n == 0) {
		err = atr_fail(ATR_ERR_USAGE,
		    "the change would leave the object without a recipient");
		goto out;
	}
	put16(out + ATR_CORE_BYTES, (uint16_t)n);
	err = atr_hmac_sha256(mkey, sizeof(mkey), out, off, out + off);
	if (err != ATR_OK)
		goto out;
	*out_len = off + ATR_MAC_BYTES;
	*changed = differs;
out:
	atr_memzero(dek, sizeof(dek));
	atr_memzero(inner, sizeof(inner));
	atr_memzero(pkey, sizeof(pkey));
	atr_memzero(mkey, sizeof(mkey));
	atr_memzero(in, sizeof(in));
	return err;
}

enum atr_err
atr_dec_frame(struct atr_dec *d, uint64_t index, int final,
    const uint8_t *in, size_t in_len, uint8_t *out)
{
	return open_at(&d->gcm, d->prefix, d->frame_size, index, final, in,
	    in_len, out);
}

enum atr_err
atr_dec_dek_fingerprint(const struct atr_dec *d, const uint8_t *fkey,
    size_t fkey_len, uint8_t out[32])
{
	return atr_hmac_sha256(fkey, fkey_len, d->dek, sizeof(d->dek), out);
}

enum atr_err
atr_enc_framer(const struct atr_enc *e, struct atr_framer *f)
{
	memcpy(f->prefix, e->prefix, sizeof(f->prefix));
	f->frame_size = e->frame_size;
	return atr_gcm_copy(&f->gcm, &e->gcm);
}

enum atr_err
atr_dec_framer(const struct atr_dec *d, struct atr_framer *f)
{
	memcpy(f->prefix, d->prefix, sizeof(f->prefix));
	f->frame_size = d->frame_size;
	return atr_gcm_copy(&f->gcm, &d->gcm);
}

enum atr_err
atr_framer_seal(struct atr_framer *f, uint64_t index, int final,
    const uint8_t *pt, size_t len, uint8_t *out)
{
	return seal_at(&f->gcm, f->prefix, f->frame_size, index, final, pt,
	    len, out);
}

enum atr_err
atr_framer_open(struct atr_framer *f, uint64_t index, int final,
    const uint8_t *in, size_t in_len, uint8_t *out)
{
	return open_at(&f->gcm, f->prefix, f->frame_size, index, final, in,
	    in_len, out);
}

void
atr_framer_clear(struct atr_framer *f)
{
	atr_gcm_clear(&f->gcm);
	atr_memzero(f->prefix, sizeof(f->prefix));
}

void
atr_dec_free(struct atr_dec *d)
{
	if (d == NULL)
		return;
	atr_gcm_clear(&d->gcm);
	atr_memzero(d, sizeof(*d));
	free(d);
}
