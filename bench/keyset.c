/*
 * keyset.c - the key setups a run measures: ephemeral keys generated
 * into the run's temporary directory ("smk", "rsa-N"), key URIs, and
 * keys in the loopback Key Vault ("vault", "vault:rsa-N"), which this
 * file starts, feeds faults and stops.  Every setup's key is wrapped in
 * a counting key that times each KEK call into the current worker.
 */
#include "bench_int.h"
#include "fsutil.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "keys.h"
#include "keyuri.h"
#include "util.h"

_Thread_local struct worker *bn_tls_worker;

/* ---- the counting wrapper ------------------------------------------- */

struct counted {
	struct atr_key *inner;     /* borrowed: the key setup's own key */
};

static void
kms_record(struct worker *w, enum atb_phase ph, uint64_t dt, enum atr_err err)
{
	if (w == NULL)
		return;
	w->kms_calls++;
	w->ns[ph] += dt;
	atb_hist_add(w->kms, dt);
	if (err != ATR_OK)
		w->kms_errors++;
}

static enum atr_err
cnt_wrap(struct atr_key *k, const uint8_t *in, size_t in_len, uint8_t *out,
    size_t *out_len)
{
	struct atr_key *inner = ((struct counted *)k->impl)->inner;
	uint64_t t0 = atr_now_ns();
	enum atr_err err = inner->ops->wrap(inner, in, in_len, out, out_len);

	kms_record(bn_tls_worker, ATB_PH_WRAP, atr_now_ns() - t0, err);
	return err;
}

static enum atr_err
cnt_unwrap(struct atr_key *k, const char *kid, enum atr_wrap_alg alg,
    const uint8_t *in, size_t in_len, uint8_t *out, size_t *out_len)
{
	struct atr_key *inner = ((struct counted *)k->impl)->inner;
	uint64_t t0 = atr_now_ns();
	enum atr_err err = inner->ops->unwrap(inner, kid, alg, in, in_len,
	    out, out_len);

	kms_record(bn_tls_worker, ATB_PH_UNWRAP, atr_now_ns() - t0,
	    err == ATR_ERR_AUTH ? ATR_OK : err);
	return err;
}

static int
cnt_matches(const struct atr_key *k, enum atr_provider_type prov,
    const char *kid)
{
	const struct atr_key *inner = ((const struct counted *)k->impl)->inner;

	return inner->ops->matches(inner, prov, kid);
}

static void
cnt_free(struct atr_key *k)
{
	/* The inner key belongs to the key setup, freed on its own. */
	free(k->impl);
	k->impl = NULL;
}

static const struct atr_key_ops counted_ops = {
	cnt_wrap, cnt_unwrap, cnt_matches, cnt_free,
};

/* A key that behaves as inner but counts and times every KEK call. */
static enum atr_err
counted_new(struct atr_key *inner, struct atr_key **out)
{
	struct counted *c = calloc(1, sizeof(*c));
	struct atr_key *k;

	if (c == NULL)
		return ATR_ERR_NOMEM;
	c->inner = inner;
	k = atr_key_alloc_as(&counted_ops, inner, c);
	if (k == NULL) {
		free(c);
		return ATR_ERR_NOMEM;
	}
	*out = k;
	return ATR_OK;
}

/* ---- the temporary directory and ephemeral keys ---------------------- */

static enum atr_err
tmpdir_make(struct run *R)
{
	if (R->tmpdir[0] != '\0')
		return ATR_OK;
	return atr_mkdtemp("atrest-bench", R->tmpdir, sizeof(R->tmpdir));
}

static enum atr_err
ephemeral(struct run *R, const char *type, const char *name, char *path,
    size_t cap)
{
	enum atr_err err = tmpdir_make(R);
	int n;

	if (err != ATR_OK)
		return err;
	n = snprintf(path, cap, "%s/%s.key", R->tmpdir, name);
	if (n < 0 || (size_t)n >= cap)
		return atr_fail(ATR_ERR_USAGE, "temporary path too long");
	return atr_keygen(type, path);
}

/* Removes path and what is below it, never following a symbolic link;
 * the recursion stops 8 levels down (the bench's own key directory). */
void /* NOLINTNEXTLINE(misc-no-recursion): depth <= 8 */
bn_rm_tree(const char *path, int depth)
{
	struct stat st;
	DIR *d;
	struct dirent *e;

	if (depth > 8 || lstat(path, &st) != 0)
		return;
	if (!S_ISDIR(st.st_mode)) {
		unlink(path);
		return;
	}
	d = opendir(path);
	if (d != NULL) {
		while ((e = readdir(d)) != NULL) {
			char sub[1024];
			int n;

			if (strcmp(e->d_name, ".") == 0 ||
			    strcmp(e->d_name, "..") == 0)
				continue;
			n = snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
			if (n > 0 && (size_t)n < sizeof(sub))
				bn_rm_tree(sub, depth + 1);
		}
		closedir(d);
	}
	rmdir(path);
}

static void
rm_tmpdir(struct run *R)
{
	/* Our own mkdtemp directory: ephemeral keys, the vault's state. */
	if (R->tmpdir[0] == '\0')
		return;
	bn_rm_tree(R->tmpdir, 0);
	R->tmpdir[0] = '\0';
}

/* ---- the loopback vault --------------------------------------------- */

#define VAULT_TOKEN_ENV "ATREST_AZURE_TOKEN"

static enum atr_err
vault_start(struct run *R)
{
	char dir[300];
	const char *tok;
	enum atr_err err;

	if (R->kv != NULL)
		return ATR_OK;
	err = tmpdir_make(R);
	if (err != ATR_OK)
		return err;
	snprintf(dir, sizeof(dir), "%s/vault", R->tmpdir);
	err = atb_vault_start(dir, R->cfg->vault_limits,
	    R->cfg->vault_limit_scale, &R->kv);
	if (err != ATR_OK)
		return err;
	/* The server takes any bearer (token mode "any"); the client's
	 * first choice is a static token from the environment
	 * (docs/KEYVAULT.md).  Set only when the user has none. */
	tok = getenv(VAULT_TOKEN_ENV);
	if (tok == NULL || *tok == '\0') {
		/* Pinned too: the static token is the chain's last credential
		 * (docs/KEYVAULT.md), and the user's own credentials must
		 * not be asked for a token for the loopback vault. */
		if (setenv(VAULT_TOKEN_ENV, "atrest-bench-loopback", 1) == 0 &&
		    setenv("ATREST_AZURE_CREDENTIAL", "token", 1) == 0)
			R->kv_token_set = 1;
	}
	R->kv_faults[0] = '\0';
	return ATR_OK;
}

static void
vault_stop(struct run *R)
{
	atb_vault_stop(R->kv);
	R->kv = NULL;
	if (R->kv_token_set) {
		unsetenv(VAULT_TOKEN_ENV);
		unsetenv("ATREST_AZURE_CREDENTIAL");
	}
	R->kv_token_set = 0;
}

/* The faults in force while a member runs (NULL: none, for set-up). */
void
bn_vault_faults_for(struct run *R, const struct kset *ks)
{
	char spec[512];
	const char *extra = R->cfg->vault_faults;

	if (R->kv == NULL)
		return;
	spec[0] = '\0';
	if (ks != NULL && ks->vault) {
		if (ks->vault_ms > 0)
			snprintf(spec, sizeof(spec), "latency=%gms%s%s",
			    ks->vault_ms, extra && *extra ? "," : "",
			    extra ? extra : "");
		else if (extra != NULL)
			snprintf(spec, sizeof(spec), "%s", extra);
	}
	if (strcmp(spec, R->kv_faults) == 0)
		return;
	if (atb_vault_set_faults(R->kv, spec) == ATR_OK)
		snprintf(R->kv_faults, sizeof(R->kv_faults), "%s", spec);
	atr_detail_clear();
}

void
bn_kv_snapshot(struct run *R, uint64_t kv[3], uint64_t sv[2])
{
	atb_kv_counters(&kv[0], &kv[1], &kv[2]);
	sv[0] = sv[1] = 0;
	if (R->kv != NULL)
		atb_vault_stats(R->kv, &sv[0], &sv[1]);
}

/* ---- key setups ------------------------------------------------------ */

/* Common to every key setup once its key is open. */
static enum atr_err
kset_finish(struct kset *ks)
{
	ks->cmk = ks->inner->customer_managed;
	ks->remote = ks->inner->provider != ATR_PROV_FILE_RSA &&
	    ks->inner->provider != ATR_PROV_FILE_AES;
	if (ks->inner->alg == ATR_WRAP_AES_KWP ||
	    ks->inner->alg == ATR_WRAP_AES_KW) {
		ks->wrap_ref = ATB_L_KWP_WRAP;
		ks->unwrap_ref = ATB_L_KWP_UNWRAP;
	} else {
		ks->wrap_ref = ATB_L_RSA_PUB;
		ks->unwrap_ref = ATB_L_RSA_PRIV;
		ks->bits = ks->inner->bits >= 2048 ? ks->inner->bits : 3072;
	}
	if (!ks->inner->can_wrap)
		return atr_fail(ATR_ERR_KEY, "%s cannot wrap", ks->name);
	return counted_new(ks->inner, &ks->counted);
}

/* "vault" (RSA-3072) or "vault:rsa-2048|3072|4096" with latency ms. */
static enum atr_err
kset_open_vault(struct run *R, const char *spec, double ms, struct kset *ks)
{
	struct atr_key_opts o = R->cfg->key_opts;
	unsigned bits = 3072, i;
	const char *uri = NULL;
	char name[64];
	enum atr_err err;

	memset(ks, 0, sizeof(*ks));
	if (strcmp(spec, "vault:rsa-2048") == 0)
		bits = 2048;
	else if (strcmp(spec, "vault:rsa-4096") == 0)
		bits = 4096;
	else if (strcmp(spec, "vault") != 0 &&
	    strcmp(spec, "vault:rsa-3072") != 0)
		return atr_fail(ATR_ERR_USAGE, "unknown vault key setup '%s' "
		    "(vault, vault:rsa-2048, vault:rsa-3072, vault:rsa-4096)",
		    spec);
	err = vault_start(R);
	if (err != ATR_OK)
		return err;
	for (i = 0; i < 4 && R->kv_bits[i] != 0; i++)
		if (R->kv_bits[i] == bits)
			uri = R->kv_keys[i];
	if (uri == NULL) {
		if (i == 4)
			return atr_fail(ATR_ERR_LIMIT, "too many vault keys");
		snprintf(name, sizeof(name), "bench-rsa-%u", bits);
		err = atb_vault_create_key(atb_vault_url(R->kv),
		    atb_vault_ca(R->kv), name, bits, R->kv_keys[i],
		    sizeof(R->kv_keys[i]));
		if (err != ATR_OK)
			return err;
		R->kv_bits[i] = bits;
		uri = R->kv_keys[i];
	}
	o.ca_file = atb_vault_ca(R->kv);
	err = atr_key_open(uri, &o, &ks->inner);
	if (err != ATR_OK)
		return err;
	snprintf(name, sizeof(name), bits == 3072 ? "vault" : "vault-rsa-%u",
	    bits);
	if (R->cfg->nvault_latency > 0)
		snprintf(ks->name, sizeof(ks->name), "%s+%gms", name, ms);
	else
		snprintf(ks->name, sizeof(ks->name), "%s", name);
	ks->vault = 1;
	ks->vault_ms = ms;
	return kset_finish(ks);
}

static enum atr_err
kset_open(struct run *R, const char *spec, struct kset *ks)
{
	char path[4096], uri[4200];
	enum atr_err err;

	memset(ks, 0, sizeof(*ks));
	if (strcmp(spec, "smk") == 0) {
		err = ephemeral(R, "aes-256", "smk", path, sizeof(path));
		if (err != ATR_OK)
			return err;
		snprintf(uri, sizeof(uri), "file:%s", path);
		snprintf(ks->name, sizeof(ks->name), "smk");
	} else if (strcmp(spec, "rsa-2048") == 0 ||
	    strcmp(spec, "rsa-3072") == 0 || strcmp(spec, "rsa-4096") == 0) {
		err = ephemeral(R, spec, spec, path, sizeof(path));
		if (err != ATR_OK)
			return err;
		snprintf(uri, sizeof(uri), "file:%s", path);
		snprintf(ks->pem, sizeof(ks->pem), "%s", path);
		snprintf(ks->name, sizeof(ks->name), "%s", spec);
	} else if (strchr(spec, ':') != NULL) {
		snprintf(uri, sizeof(uri), "%s", spec);
	} else {
		return atr_fail(ATR_ERR_USAGE,
		    "unknown key setup '%s' (smk, rsa-2048, rsa-3072, rsa-4096 "
		    "or a key URI)", spec);
	}
	err = atr_key_open(uri, &R->cfg->key_opts, &ks->inner);
	if (err != ATR_OK)
		return err;
	ks->vault_ms = -1;
	if (ks->name[0] == '\0') {
		/* key->uri is the URI without any secret (key.h); a PKCS#11
		 * URI is named by its path (token, object), not the module
		 * and PIN attributes of its query. */
		size_t l = strlen(ks->inner->uri);

		if (strncmp(ks->inner->uri, "pkcs11:", 7) == 0 &&
		    strchr(ks->inner->uri, '?') != NULL)
			l = (size_t)(strchr(ks->inner->uri, '?') - ks->inner->uri);

		if (l < sizeof(ks->name))
			snprintf(ks->name, sizeof(ks->name), "%.*s", (int)l,
			    ks->inner->uri);
		else
			snprintf(ks->name, sizeof(ks->name), "%.*s...",
			    (int)sizeof(ks->name) - 4, ks->inner->uri);
		if (ks->inner->provider == ATR_PROV_FILE_RSA &&
		    ks->inner->can_unwrap) {
			const char *p = uri + strlen("file:");

			if (strncmp(p, "//", 2) == 0)
				p += 2;
			snprintf(ks->pem, sizeof(ks->pem), "%.*s",
			    (int)sizeof(ks->pem) - 1, p);
		}
	}
	return kset_finish(ks);
}

static void
kset_close(struct kset *ks)
{
	atr_key_free(ks->counted);
	atr_key_free(ks->inner);
	ks->counted = ks->inner = NULL;
}

/* The loopback vault's static token would reach any other vault. */
static enum atr_err
check_vault_mix(const struct atb_config *c)
{
	int vault = 0, https = 0;
	size_t i;

	for (i = 0; i < c->nkeys; i++) {
		vault |= strncmp(c->keys[i], "vault", 5) == 0;
		https |= strncmp(c->keys[i], "https://", 8) == 0;
	}
	if (vault && https)
		return atr_fail(ATR_ERR_USAGE, "the loopback vault and an "
		    "https:// key in one run: the loopback vault's "
		    "static token would go to the other vault; run them "
		    "separately");
	return ATR_OK;
}

/*
 * Opens the setups of one spec (a vault spec: one per latency).  An
 * optional vault that does not start is a note, not an error.
 */
static enum atr_err
ksets_open_spec(struct run *R, const char *spec)
{
	const struct atb_config *c = R->cfg;
	size_t j, nl = c->nvault_latency ? c->nvault_latency : 1;
	int is_vault = strncmp(spec, "vault", 5) == 0 &&
	    (spec[5] == '\0' || spec[5] == ':');
	enum atr_err err;

	for (j = 0; j < (is_vault ? nl : 1); j++) {
		if (R->nks == ATB_MAX_KEYS)
			return atr_fail(ATR_ERR_USAGE, "more than %u key "
			    "setups (with the vault latencies)",
			    ATB_MAX_KEYS);
		if (is_vault)
			err = kset_open_vault(R, spec, c->nvault_latency ?
			    c->vault_latency_ms[j] : 0, &R->ks[R->nks]);
		else
			err = kset_open(R, spec, &R->ks[R->nks]);
		if (err != ATR_OK) {
			/* The caller prints the detail; name the setup. */
			char d[400], shown[ATR_URI_SHOWN_MAX];

			snprintf(d, sizeof(d), "%s", atr_detail());
			kset_close(&R->ks[R->nks]);
			if (is_vault && c->vault_optional) {
				NOTE(R, "vault cells skipped: the loopback "
				    "Key Vault did not start: %s: %s",
				    atr_strerror(err), d);
				atr_detail_clear();
				return ATR_OK;
			}
			/* A URI may carry a PIN where the parser
			 * never took it (core/keyuri.h). */
			atr_key_uri_redact(spec, shown, sizeof(shown));
			return atr_fail(err, "key setup '%s': %s", shown, d);
		}
		R->nks++;
	}
	return ATR_OK;
}

enum atr_err
bn_ksets_open(struct run *R)
{
	const struct atb_config *c = R->cfg;
	enum atr_err err;
	size_t i;

	err = check_vault_mix(c);
	for (i = 0; err == ATR_OK && i < c->nkeys; i++)
		err = ksets_open_spec(R, c->keys[i]);
	if (err != ATR_OK)
		return err;
	if (R->nks == 0)
		return atr_fail(ATR_ERR_USAGE, "no key setup to run");
	return ATR_OK;
}

void
bn_ksets_close(struct run *R)
{
	size_t i;

	for (i = 0; i < R->nks; i++)
		kset_close(&R->ks[i]);
	/* After the keys: their clients may still talk to it. */
	vault_stop(R);
	rm_tmpdir(R);
}
