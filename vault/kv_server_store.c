/*
 * The loopback Key Vault's key store: versions and their material in
 * memory, one JSON file per key name under STATE/keys (mode 0600 in a
 * 0700 directory: it holds private keys), rewritten atomically on every
 * change.
 */
#include "kv_server_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "crypto.h"
#include "fsutil.h"
#include "jwk.h"
#include "json.h"

/*
 * The largest key file the write-time limits allow must fit the
 * loader's KVS_FILE_MAX.  A version is at most 8 KiB without its tags
 * (an RSA-4096 PKCS#8 PEM is about 3.3 KB, escaped newlines included),
 * and a tag character at most 4 bytes: UTF-8 needs up to 4 (RFC 3629),
 * cJSON writes it as is and escapes only '"' and '\\' (2 bytes) and the
 * controls, which are refused.  32 bytes per tag cover quotes and the
 * indentation of cJSON_Print.  A rotation policy printed with
 * indentation grows at most sixfold: each value of its compact form
 * (2 bytes or more with its separator) gains a newline and at most
 * KVS_POLICY_DEPTH + 3 tabs.
 */
#define KVS_TAG_FILE_MAX ((KVS_TAG_NAME_MAX + KVS_TAG_VALUE_MAX) * 4U + 32U)
#define KVS_VERSION_FILE_MAX (8192U + KVS_TAGS_MAX * KVS_TAG_FILE_MAX)
_Static_assert((unsigned long long)KVS_VERSIONS_MAX * KVS_VERSION_FILE_MAX +
    6ULL * KVS_POLICY_MAX + 4096U <= KVS_FILE_MAX,
    "the largest key file must stay loadable");

cJSON *
kvs_kop_json(unsigned ops)
{
	cJSON *a = cJSON_CreateArray();
	size_t i;

	if (a == NULL)
		return NULL;
	for (i = 0; i < ATR_JWK_COUNT; i++)
		if (ops & atr_jwk_op_at(i))
			cJSON_AddItemToArray(a, cJSON_CreateString(
			    atr_jwk_op_name(atr_jwk_op_at(i))));
	return a;
}

unsigned
kvs_kop_parse(const cJSON *a)
{
	const cJSON *op;
	unsigned ops = 0;

	if (!cJSON_IsArray(a))
		return 0;
	cJSON_ArrayForEach(op, a)
		if (cJSON_IsString(op))
			ops |= atr_jwk_op_parse(op->valuestring);
	return ops;
}

const char *
kvs_kty_name(enum kvs_kty kty)
{
	switch (kty) {
	case KVS_KTY_RSA:
		return "RSA";
	case KVS_KTY_RSA_HSM:
		return "RSA-HSM";
	case KVS_KTY_OCT_HSM:
		return "oct-HSM";
	}
	return "?";
}

int
kvs_kty_parse(const char *s, enum kvs_kty *out)
{
	/* JsonWebKeyType values are case-sensitive in the spec. */
	if (strcmp(s, "RSA") == 0)
		*out = KVS_KTY_RSA;
	else if (strcmp(s, "RSA-HSM") == 0)
		*out = KVS_KTY_RSA_HSM;
	else if (strcmp(s, "oct-HSM") == 0)
		*out = KVS_KTY_OCT_HSM;
	else
		return -1;
	return 0;
}

/* ------------------------------------------------------------------ */

void
kvs_version_free(struct kvs_version *v)
{
	if (v == NULL)
		return;
	EVP_PKEY_free(v->pkey);
	cJSON_Delete(v->tags);
	free(v->n_b64);
	free(v->e_b64);
	atr_memzero(v, sizeof(*v));
	free(v);
}

struct kvs_key *
kvs_key_new(const char *name)
{
	struct kvs_key *k = calloc(1, sizeof(*k));

	if (k != NULL)
		snprintf(k->name, sizeof(k->name), "%s", name);
	return k;
}

void
kvs_key_free(struct kvs_key *k)
{
	size_t i;

	if (k == NULL)
		return;
	for (i = 0; i < k->nv; i++)
		kvs_version_free(k->v[i]);
	free(k->v);
	cJSON_Delete(k->rotation_policy);
	free(k);
}

enum atr_err
kvs_key_append(struct kvs_key *k, struct kvs_version *v)
{
	if (k->nv == k->capv) {
		size_t cap = k->capv ? k->capv * 2 : 4;
		struct kvs_version **p = realloc(k->v,
		    cap * sizeof(struct kvs_version *));

		if (p == NULL)
			return ATR_ERR_NOMEM;
		k->v = p;
		k->capv = cap;
	}
	k->v[k->nv++] = v;
	return ATR_OK;
}

struct kvs_version *
kvs_key_latest(struct kvs_key *k)
{
	return k->nv > 0 ? k->v[k->nv - 1] : NULL;
}

struct kvs_version *
kvs_key_version(struct kvs_key *k, const char *ver)
{
	size_t i;

	if (ver == NULL || *ver == '\0')
		return kvs_key_latest(k);
	/* Identifiers compare case-insensitively ("Object identifiers",
	 * https://learn.microsoft.com/en-us/azure/key-vault/general/about-keys-secrets-certificates). */
	for (i = 0; i < k->nv; i++)
		if (strcasecmp(k->v[i]->id, ver) == 0)
			return k->v[i];
	return NULL;
}

struct kvs_key *
kvs_store_find(struct kvs_store *st, const char *name)
{
	size_t i;

	for (i = 0; i < st->n; i++)
		if (strcasecmp(st->keys[i]->name, name) == 0)
			return st->keys[i];
	return NULL;
}

struct kvs_version *
kvs_store_find_version(struct kvs_store *st, const char *name,
    const char *ver, struct kvs_key **key)
{
	struct kvs_key *k = kvs_store_find(st, name);

	*key = k;
	return k != NULL && !k->deleted ? kvs_key_version(k, ver) : NULL;
}

enum atr_err
kvs_store_add(struct kvs_store *st, struct kvs_key *k)
{
	if (st->n == st->cap) {
		size_t cap = st->cap ? st->cap * 2 : 16;
		struct kvs_key **p = realloc(st->keys,
		    cap * sizeof(struct kvs_key *));

		if (p == NULL)
			return ATR_ERR_NOMEM;
		st->keys = p;
		st->cap = cap;
	}
	st->keys[st->n++] = k;
	return ATR_OK;
}

static void
key_path(const struct kvs_store *st, const char *name, char *out, size_t cap)
{
	char lower[ATR_KV_NAME_MAX + 1];
	size_t i;

	/* Names are [0-9a-zA-Z-] and unique case-insensitively: the
	 * lower-cased name is a safe, unique file name. */
	for (i = 0; name[i] != '\0' && i < ATR_KV_NAME_MAX; i++)
		lower[i] = (char)((name[i] >= 'A' && name[i] <= 'Z') ?
		    name[i] - 'A' + 'a' : name[i]);
	lower[i] = '\0';
	snprintf(out, cap, "%s/%s.json", st->dir, lower);
}

enum atr_err
kvs_store_purge(struct kvs_store *st, struct kvs_key *k)
{
	char path[PATH_MAX];
	size_t i;

	key_path(st, k->name, path, sizeof(path));
	if (unlink(path) != 0 && errno != ENOENT)
		return atr_fail(ATR_ERR_IO, "%s: %s", path, strerror(errno));
	for (i = 0; i < st->n; i++)
		if (st->keys[i] == k) {
			memmove(st->keys + i, st->keys + i + 1,
			    (st->n - i - 1) * sizeof(struct kvs_key *));
			st->n--;
			break;
		}
	kvs_key_free(k);
	return ATR_OK;
}

/* ------------------------------------------------------------------ */
/* Material */

static enum atr_err
bn_param_b64(EVP_PKEY *pkey, const char *param, char **out)
{
	BIGNUM *bn = NULL;
	uint8_t buf[1024];
	int n;

	if (!ATR_OSSL(EVP_PKEY_get_bn_param(pkey, param, &bn)))
		return atr_fail(ATR_ERR_CRYPTO, "cannot read RSA parameter");
	/* RFC 7518 6.3.1.1: unsigned big-endian, minimal octets. */
	n = BN_num_bytes(bn);
	if (n <= 0 || (size_t)n > sizeof(buf)) {
		BN_free(bn);
		return atr_fail(ATR_ERR_CRYPTO, "RSA parameter size");
	}
	BN_bn2bin(bn, buf);
	BN_free(bn);
	*out = kvs_b64url(buf, (size_t)n);
	return *out == NULL ? ATR_ERR_NOMEM : ATR_OK;
}

enum atr_err
kvs_version_rsa_public(struct kvs_version *v)
{
	enum atr_err err;

	err = bn_param_b64(v->pkey, OSSL_PKEY_PARAM_RSA_N, &v->n_b64);
	if (err == ATR_OK)
		err = bn_param_b64(v->pkey, OSSL_PKEY_PARAM_RSA_E, &v->e_b64);
	if (err == ATR_OK)
		v->bits = (unsigned)EVP_PKEY_get_bits(v->pkey);
	return err;
}

int
kvs_version_set_oct(struct kvs_version *v, const char *b64)
{
	uint8_t *k = NULL;
	size_t n = 0;

	if (kvs_unb64url(b64, &k, &n) != 0)
		return -1;
	if (n != 16 && n != 24 && n != 32) {
		atr_secure_free(k, n);
		return -1;
	}
	memcpy(v->oct, k, n);
	v->oct_len = n;
	v->bits = (unsigned)n * 8;
	atr_secure_free(k, n);
	return 0;
}

/* BN_GENCB semantics (BN_generate_prime_ex2): 0 stops the search. */
static int
gen_cb(EVP_PKEY_CTX *ctx)
{
	const _Atomic int *cancel = EVP_PKEY_CTX_get_app_data(ctx);

	return cancel == NULL ||
	    atomic_load_explicit(cancel, memory_order_acquire) == 0;
}

/*
 * RSA with e = 65537 (F4).  Finding the primes is a random search: an
 * RSA-4096 key takes about a second, sometimes several, and has no
 * fixed upper bound, so the search checks *cancel between candidates.
 */
static enum atr_err
rsa_generate(unsigned bits, const _Atomic int *cancel, EVP_PKEY **out)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	enum atr_err err = ATR_OK;

	*out = NULL;
	if (ctx == NULL || !ATR_OSSL(EVP_PKEY_keygen_init(ctx)) ||
	    EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, (int)bits) <= 0) {
		err = atr_fail(ATR_ERR_CRYPTO, "RSA key generation failed");
		goto out;
	}
	EVP_PKEY_CTX_set_app_data(ctx, (void *)cancel);
	EVP_PKEY_CTX_set_cb(ctx, gen_cb);
	if (EVP_PKEY_generate(ctx, out) <= 0) {
		EVP_PKEY_free(*out);
		*out = NULL;
		if (cancel != NULL && atomic_load_explicit(cancel,
		    memory_order_acquire) != 0)
			err = atr_fail(ATR_ERR_TIMEOUT, "key generation "
			    "stopped: the server is stopping");
		else
			err = atr_fail(ATR_ERR_CRYPTO,
			    "RSA key generation failed");
	}
out:
	ERR_clear_error();
	EVP_PKEY_CTX_free(ctx);
	return err;
}

enum atr_err
kvs_version_generate(enum kvs_kty kty, unsigned bits,
    const _Atomic int *cancel, struct kvs_version **out)
{
	struct kvs_version *v = calloc(1, sizeof(*v));
	enum atr_err err = ATR_OK;

	*out = NULL;
	if (v == NULL)
		return ATR_ERR_NOMEM;
	kvs_hex_id(v->id);
	v->kty = kty;
	v->bits = bits;
	v->enabled = 1;
	if (kty == KVS_KTY_OCT_HSM) {
		if (bits != 128 && bits != 192 && bits != 256) {
			err = atr_fail(ATR_ERR_USAGE, "bad AES key size");
			goto out;
		}
		v->oct_len = bits / 8;
		err = atr_random(v->oct, v->oct_len);
		goto out;
	}
	err = rsa_generate(bits, cancel, &v->pkey);
	if (err == ATR_OK)
		err = kvs_version_rsa_public(v);
out:
	if (err != ATR_OK) {
		kvs_version_free(v);
		return err;
	}
	*out = v;
	return ATR_OK;
}

/* ------------------------------------------------------------------ */
/* Persistence */

static enum atr_err
pem_of(EVP_PKEY *pkey, char **out)
{
	BIO *b = BIO_new(BIO_s_secmem());
	BUF_MEM *mem = NULL;
	enum atr_err err = ATR_OK;

	*out = NULL;
	if (b == NULL)
		return ATR_ERR_NOMEM;
	if (!ATR_OSSL(PEM_write_bio_PrivateKey(b, pkey, NULL, NULL, 0, NULL,
	    NULL)) || BIO_get_mem_ptr(b, &mem) <= 0 || mem == NULL) {
		err = atr_fail(ATR_ERR_CRYPTO, "cannot encode private key");
		goto out;
	}
	*out = malloc(mem->length + 1);
	if (*out == NULL) {
		err = ATR_ERR_NOMEM;
		goto out;
	}
	memcpy(*out, mem->data, mem->length);
	(*out)[mem->length] = '\0';
out:
	BIO_free(b); /* secure memory BIO: cleansed on free */
	return err;
}

static cJSON *
version_to_file_json(const struct kvs_version *v)
{
	cJSON *j = cJSON_CreateObject();
	char *secret = NULL;

	if (j == NULL)
		return NULL;
	cJSON_AddStringToObject(j, "version", v->id);
	cJSON_AddStringToObject(j, "kty", kvs_kty_name(v->kty));
	cJSON_AddNumberToObject(j, "key_size", v->bits);
	cJSON_AddItemToObject(j, "key_ops", kvs_kop_json(v->key_ops));
	cJSON_AddBoolToObject(j, "enabled", v->enabled);
	if (v->has_nbf)
		cJSON_AddNumberToObject(j, "nbf", (double)v->nbf);
	if (v->has_exp)
		cJSON_AddNumberToObject(j, "exp", (double)v->exp);
	cJSON_AddNumberToObject(j, "created", (double)v->created);
	cJSON_AddNumberToObject(j, "updated", (double)v->updated);
	cJSON_AddBoolToObject(j, "exportable", v->exportable);
	if (v->tags != NULL)
		cJSON_AddItemToObject(j, "tags", cJSON_Duplicate(v->tags, 1));
	if (v->pkey != NULL) {
		if (pem_of(v->pkey, &secret) != ATR_OK) {
			cJSON_Delete(j);
			return NULL;
		}
		cJSON_AddStringToObject(j, "private_pem", secret);
		atr_secure_free(secret, strlen(secret));
	} else {
		secret = kvs_b64url(v->oct, v->oct_len);
		if (secret == NULL) {
			cJSON_Delete(j);
			return NULL;
		}
		cJSON_AddStringToObject(j, "k", secret);
		atr_secure_free(secret, strlen(secret));
	}
	return j;
}

enum atr_err
kvs_store_persist(struct kvs_store *st, struct kvs_key *k)
{
	char path[PATH_MAX];
	cJSON *j = cJSON_CreateObject(), *vs;
	char *text = NULL;
	enum atr_err err = ATR_ERR_NOMEM;
	size_t i;

	if (j == NULL)
		return ATR_ERR_NOMEM;
	/* The loader skips a file whose name is not a key name: writing
	 * one would acknowledge a key that is gone after a restart. */
	if (!atr_kv_name_valid(k->name)) {
		cJSON_Delete(j);
		return atr_fail(ATR_ERR_USAGE, "invalid key name");
	}
	cJSON_AddStringToObject(j, "name", k->name);
	cJSON_AddBoolToObject(j, "deleted", k->deleted);
	if (k->deleted) {
		cJSON_AddNumberToObject(j, "deletedDate", (double)k->deleted_date);
		cJSON_AddNumberToObject(j, "scheduledPurgeDate",
		    (double)k->purge_date);
	}
	if (k->rotation_policy != NULL)
		cJSON_AddItemToObject(j, "rotationPolicy",
		    cJSON_Duplicate(k->rotation_policy, 1));
	vs = cJSON_AddArrayToObject(j, "versions");
	if (vs == NULL)
		goto out;
	for (i = 0; i < k->nv; i++) {
		cJSON *v = version_to_file_json(k->v[i]);

		if (v == NULL)
			goto out;
		cJSON_AddItemToArray(vs, v);
	}
	text = cJSON_Print(j);
	if (text == NULL)
		goto out;
	/* The write-time limits keep files far below this (see
	 * KVS_VERSION_FILE_MAX); checked anyway, since a file the loader
	 * refuses would lose every version of the key. */
	if (strlen(text) > KVS_FILE_MAX) {
		err = atr_fail(ATR_ERR_LIMIT, "the key file would have %zu "
		    "bytes, more than the %u the loader reads", strlen(text),
		    KVS_FILE_MAX);
		goto out;
	}
	key_path(st, k->name, path, sizeof(path));
	/* Private key material: 0600 from the first byte (mkstemp), then
	 * fsync + rename (fsutil.h). */
	err = atr_write_file(path, 0600, text, strlen(text));
out:
	if (text != NULL)
		atr_secure_free(text, strlen(text));
	atr_json_free_wiped(j);
	return err;
}

static int
json_int64(const cJSON *o, const char *name, int64_t *out)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, name);

	if (!cJSON_IsNumber(it))
		return 0;
	*out = (int64_t)it->valuedouble;
	return 1;
}

static enum atr_err
version_from_file_json(const cJSON *j, struct kvs_version **out)
{
	struct kvs_version *v = calloc(1, sizeof(*v));
	const cJSON *it;
	enum atr_err err = ATR_ERR_CONFIG;

	*out = NULL;
	if (v == NULL)
		return ATR_ERR_NOMEM;
	it = cJSON_GetObjectItemCaseSensitive(j, "version");
	if (!cJSON_IsString(it) || strlen(it->valuestring) != KVS_VERSION_LEN)
		goto bad;
	snprintf(v->id, sizeof(v->id), "%s", it->valuestring);
	it = cJSON_GetObjectItemCaseSensitive(j, "kty");
	if (!cJSON_IsString(it) || kvs_kty_parse(it->valuestring, &v->kty))
		goto bad;
	v->key_ops = kvs_kop_parse(cJSON_GetObjectItemCaseSensitive(j,
	    "key_ops"));
	v->enabled = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j,
	    "enabled"));
	v->exportable = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j,
	    "exportable"));
	v->has_nbf = json_int64(j, "nbf", &v->nbf);
	v->has_exp = json_int64(j, "exp", &v->exp);
	json_int64(j, "created", &v->created);
	json_int64(j, "updated", &v->updated);
	it = cJSON_GetObjectItemCaseSensitive(j, "tags");
	if (cJSON_IsObject(it))
		v->tags = cJSON_Duplicate(it, 1);
	if (v->kty == KVS_KTY_OCT_HSM) {
		it = cJSON_GetObjectItemCaseSensitive(j, "k");
		if (!cJSON_IsString(it) ||
		    kvs_version_set_oct(v, it->valuestring) != 0)
			goto bad;
	} else {
		BIO *b;

		it = cJSON_GetObjectItemCaseSensitive(j, "private_pem");
		if (!cJSON_IsString(it))
			goto bad;
		b = BIO_new_mem_buf(it->valuestring, -1);
		if (b == NULL) {
			err = ATR_ERR_NOMEM;
			goto out;
		}
		v->pkey = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
		BIO_free(b);
		if (v->pkey == NULL || !EVP_PKEY_is_a(v->pkey, "RSA")) {
			ERR_clear_error();
			goto bad;
		}
		err = kvs_version_rsa_public(v);
		if (err != ATR_OK)
			goto out;
	}
	*out = v;
	return ATR_OK;
bad:
	err = atr_fail(ATR_ERR_CONFIG, "malformed key version");
out:
	kvs_version_free(v);
	return err;
}

int
kvs_store_file_exists(struct kvs_store *st, const char *name)
{
	char path[PATH_MAX];
	struct stat sb;

	key_path(st, name, path, sizeof(path));
	return lstat(path, &sb) == 0 || errno != ENOENT;
}

/*
 * One key file.  *fatal says whether an error must stop the start (no
 * memory; a key file others can read, which ssh and gpg refuse too);
 * any other error is the file's alone, and the caller skips it.
 */
static enum atr_err
load_file(struct kvs_store *st, const char *path, int *fatal)
{
	unsigned char *buf = NULL;
	size_t len = 0, i;
	cJSON *j = NULL;
	const cJSON *it, *vs;
	struct kvs_key *k = NULL;
	struct stat sb;
	char want[PATH_MAX];
	enum atr_err err;

	*fatal = 0;
	if (lstat(path, &sb) != 0)
		return atr_fail(ATR_ERR_IO, "%s", strerror(errno));
	if (!S_ISREG(sb.st_mode))
		return atr_fail(ATR_ERR_CONFIG, "not a regular file");
	if ((sb.st_mode & 077) != 0) {
		*fatal = 1;
		return atr_fail(ATR_ERR_KEY, "%s: private key file is "
		    "accessible by group or others (mode %03o); run chmod 600 "
		    "on it", path, (unsigned)(sb.st_mode & 0777));
	}
	if ((unsigned long long)sb.st_size > KVS_FILE_MAX)
		return atr_fail(ATR_ERR_LIMIT, "%llu bytes, more than the %u "
		    "a key file may have", (unsigned long long)sb.st_size,
		    KVS_FILE_MAX);
	err = atr_read_small_file(path, KVS_FILE_MAX, 1, &buf, &len);
	if (err != ATR_OK) {
		*fatal = err == ATR_ERR_NOMEM;
		return err;
	}
	j = cJSON_ParseWithLength((const char *)buf, len);
	atr_secure_free(buf, len);
	if (j == NULL) {
		err = atr_fail(ATR_ERR_CONFIG, "not JSON");
		goto out;
	}
	it = cJSON_GetObjectItemCaseSensitive(j, "name");
	if (!cJSON_IsString(it) || !atr_kv_name_valid(it->valuestring)) {
		err = atr_fail(ATR_ERR_CONFIG, "no valid key name");
		goto out;
	}
	/* Each key is written to key_path(name): a file elsewhere is not
	 * one this server wrote, and a second file for a name would have
	 * two owners. */
	key_path(st, it->valuestring, want, sizeof(want));
	if (strcmp(want, path) != 0 || kvs_store_find(st,
	    it->valuestring) != NULL) {
		err = atr_fail(ATR_ERR_CONFIG, "it holds key '%s', which "
		    "belongs in another file", it->valuestring);
		goto out;
	}
	k = kvs_key_new(it->valuestring);
	if (k == NULL) {
		err = ATR_ERR_NOMEM;
		goto out;
	}
	k->deleted = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j,
	    "deleted"));
	json_int64(j, "deletedDate", &k->deleted_date);
	json_int64(j, "scheduledPurgeDate", &k->purge_date);
	it = cJSON_GetObjectItemCaseSensitive(j, "rotationPolicy");
	if (cJSON_IsObject(it))
		k->rotation_policy = cJSON_Duplicate(it, 1);
	vs = cJSON_GetObjectItemCaseSensitive(j, "versions");
	if (!cJSON_IsArray(vs) || cJSON_GetArraySize(vs) == 0) {
		err = atr_fail(ATR_ERR_CONFIG, "no versions");
		goto out;
	}
	for (i = 0; i < (size_t)cJSON_GetArraySize(vs); i++) {
		struct kvs_version *v;

		err = version_from_file_json(cJSON_GetArrayItem(vs, (int)i), &v);
		if (err != ATR_OK)
			goto out;
		err = kvs_key_append(k, v);
		if (err != ATR_OK) {
			kvs_version_free(v);
			goto out;
		}
	}
	err = kvs_store_add(st, k);
	if (err == ATR_OK)
		k = NULL;
out:
	if (err == ATR_ERR_NOMEM)
		*fatal = 1;
	kvs_key_free(k);
	atr_json_free_wiped(j);
	return err;
}

/*
 * A write killed between mkstemp and rename (core/fsutil.c) leaves a
 * temporary file that may hold private keys.  The caller holds the
 * state directory's lock, so no other server is writing there: every
 * regular file with atr_out_begin's name pattern is a leftover.
 */
static enum atr_err
remove_tmp_files(const char *dir, struct atr_kv_server *s)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	if (d == NULL)
		return atr_fail(ATR_ERR_IO, "%s: %s", dir, strerror(errno));
	while ((e = readdir(d)) != NULL) {
		struct stat sb;

		if (!atr_out_tmp_name(e->d_name) || fstatat(dirfd(d), e->d_name,
		    &sb, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(sb.st_mode))
			continue;
		if (unlinkat(dirfd(d), e->d_name, 0) != 0)
			kvs_logf(s, "%s/%s: cannot remove this leftover "
			    "temporary file: %s", dir, e->d_name,
			    strerror(errno));
		else
			kvs_logf(s, "%s/%s: removed a temporary file left by "
			    "an interrupted write", dir, e->d_name);
	}
	closedir(d);
	return ATR_OK;
}

enum atr_err
kvs_state_dir_prepare(const char *dir)
{
	char parent[PATH_MAX];
	struct stat sb;
	size_t n = strlen(dir);
	char *slash;
	enum atr_err err;

	if (n == 0 || n >= sizeof(parent))
		return atr_fail(ATR_ERR_USAGE, "bad directory path");
	snprintf(parent, sizeof(parent), "%s", dir);
	while (n > 1 && parent[n - 1] == '/')
		parent[--n] = '\0';
	/* The parents as mkdir -p makes them, the directory itself 0700:
	 * it holds private keys and the token key. */
	slash = strrchr(parent, '/');
	if (slash != NULL && slash != parent) {
		*slash = '\0';
		err = atr_mkdirs(parent);
		if (err != ATR_OK)
			return err;
	}
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return atr_fail(ATR_ERR_IO, "mkdir %s: %s", dir,
		    strerror(errno));
	if (stat(dir, &sb) != 0)
		return atr_fail(ATR_ERR_IO, "%s: %s", dir, strerror(errno));
	if (!S_ISDIR(sb.st_mode))
		return atr_fail(ATR_ERR_CONFIG, "%s is not a directory", dir);
	/* Whoever can write here can plant a key, a token key or a CA:
	 * refused as ssh refuses such a ~/.ssh.  Fixing the mode would not
	 * remove what may already have been planted. */
	if ((sb.st_mode & 022) != 0)
		return atr_fail(ATR_ERR_CONFIG, "%s is writable by group or "
		    "others (mode %03o); it holds private keys: check its "
		    "content, then run chmod 700 on it", dir,
		    (unsigned)(sb.st_mode & 0777));
	return ATR_OK;
}

enum atr_err
kvs_store_open(struct kvs_store *st, const char *dir,
    struct atr_kv_server *s)
{
	DIR *d;
	struct dirent *e;
	enum atr_err err = ATR_OK;

	memset(st, 0, sizeof(*st));
	if (strlen(dir) >= sizeof(st->dir))
		return atr_fail(ATR_ERR_USAGE, "state path too long");
	snprintf(st->dir, sizeof(st->dir), "%s", dir);
	if (pthread_rwlock_init(&st->lock, NULL) != 0)
		return atr_fail(ATR_ERR_NOMEM, "cannot create a lock");
	err = kvs_state_dir_prepare(dir);
	if (err != ATR_OK)
		goto fail;
	/* STATE/keys is the server's alone: one made 0755 by an older
	 * version is narrowed. */
	if (chmod(dir, 0700) != 0) {
		err = atr_fail(ATR_ERR_IO, "chmod %s: %s", dir,
		    strerror(errno));
		goto fail;
	}
	err = remove_tmp_files(s->state_dir, s);
	if (err == ATR_OK)
		err = remove_tmp_files(dir, s);
	if (err != ATR_OK)
		goto fail;
	d = opendir(dir);
	if (d == NULL) {
		err = atr_fail(ATR_ERR_IO, "%s: %s", dir, strerror(errno));
		goto fail;
	}
	while ((e = readdir(d)) != NULL) {
		char path[PATH_MAX];
		size_t n = strlen(e->d_name);
		int fatal;

		if (e->d_name[0] == '.' || n < 6 ||
		    strcmp(e->d_name + n - 5, ".json") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		atr_detail_clear();
		err = load_file(st, path, &fatal);
		if (err == ATR_OK)
			continue;
		if (fatal)
			break;
		/* One bad file costs its own key, not every key: it is
		 * reported, kept for repair, and its name stays reserved
		 * (kvs_store_file_exists) so that no write replaces it. */
		st->skipped++;
		kvs_logf(s, "%s: key file not loaded (%s); its key is not "
		    "served and its name cannot be reused until the file is "
		    "repaired or removed", path, *atr_detail() ? atr_detail() :
		    atr_strerror(err));
		err = ATR_OK;
	}
	closedir(d);
	if (err == ATR_OK)
		return ATR_OK;
fail:
	kvs_store_close(st);
	return err;
}

void
kvs_store_close(struct kvs_store *st)
{
	size_t i;

	if (st->dir[0] == '\0')
		return;
	for (i = 0; i < st->n; i++)
		kvs_key_free(st->keys[i]);
	free(st->keys);
	st->keys = NULL;
	st->n = st->cap = 0;
	pthread_rwlock_destroy(&st->lock);
	st->dir[0] = '\0'; /* closed: a second close is a no-op */
}
