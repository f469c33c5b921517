/*
 * test_verify_versions.c - `atrest verify` over a rotated Key Vault
 * estate on the loopback vault (docs/VERIFY.md "Verifying a rotated
 * estate"): every key version objects are wrapped under is checked, the
 * revocation drill disables every one of them (and only those), tries
 * every object and restores each version's exact prior state, and the
 * objects that would stay readable through older versions are reported.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <criterion/criterion.h>

#include "jwk.h"
#include "keys.h"
#include "kv_client.h"
#include "kv_server.h"
#include "testutil.h"
#include "vfy_int.h"

#define FS 256U
#define MAXV 8

/* A vault, a client, a plaintext and the store being built. */
struct est {
	struct atr_kv_server *srv;
	struct atr_kv_client *c;
	char *dir, *plain, *store;
	char url[128];
	int nobj;
};

static void
est_start(struct est *e)
{
	struct atr_kv_server_opts o;
	static const char text[] = "name,ssn\nAda Lovelace,078-05-1120\n"
	    "Alan Turing,219-09-9999\nGrace Hopper,457-55-5462\n";

	memset(e, 0, sizeof(*e));
	e->dir = tu_tmpdir("verify-versions");
	cr_assert_not_null(e->dir);
	e->plain = tu_path(e->dir, "plain.csv");
	e->store = tu_path(e->dir, "store");
	cr_assert_eq(tu_write_file(e->plain, text, sizeof(text) - 1), 0);
	atr_kv_server_opts_init(&o);
	o.listen = "127.0.0.1:0";
	o.state_dir = e->dir;
	o.token_mode = ATR_KV_TOKEN_ANY;
	o.purge_protection = 1;
	cr_assert_eq(atr_kv_server_start(&o, &e->srv), ATR_OK, "server: %s",
	    atr_detail());
	snprintf(e->url, sizeof(e->url), "%s", atr_kv_server_url(e->srv));
	setenv("ATREST_CA_FILE", atr_kv_server_ca_path(e->srv), 1);
	setenv("ATREST_AZURE_TOKEN", "test-token-for-the-loopback-vault", 1);
	setenv("ATREST_AZURE_CREDENTIAL", "token", 1);
	setenv("ATREST_KV_MAX_RETRIES", "0", 1);
	setenv("ATREST_KV_BACKOFF_MS", "1", 1);
	atr_kv_cache_clear();
	cr_assert_eq(atr_kv_client_new(e->url, NULL, &e->c), ATR_OK, "%s",
	    atr_detail());
}

static void
est_stop(struct est *e)
{
	atr_kv_client_free(e->c);
	atr_kv_thread_cleanup();
	atr_kv_cache_clear();
	atr_kv_server_stop(e->srv);
	tu_rmtree(e->dir);
	free(e->dir);
	free(e->plain);
	free(e->store);
}

/* Creates (first) or rotates NAME; the new version into ver. */
static void
est_version(struct est *e, const char *name, int create, char *ver)
{
	struct atr_kv_key *k = calloc(1, sizeof(*k));
	struct atr_kv_create p;

	cr_assert_not_null(k);
	memset(&p, 0, sizeof(p));
	p.kty = "RSA";
	p.size = 3072;
	p.key_ops = ATR_JWK_WRAP | ATR_JWK_UNWRAP;
	if (create)
		cr_assert_eq(atr_kv_create_key(e->c, name, &p, k), ATR_OK,
		    "%s", atr_detail());
	else
		cr_assert_eq(atr_kv_rotate_key(e->c, name, k), ATR_OK, "%s",
		    atr_detail());
	snprintf(ver, 128, "%s", k->version);
	free(k);
}

/* The key NAME opened from its versionless URI (the current version). */
static struct atr_key *
est_key(struct est *e, const char *name)
{
	struct atr_key *k = NULL;
	char uri[256];

	snprintf(uri, sizeof(uri), "%s/keys/%s", e->url, name);
	atr_kv_cache_clear();
	cr_assert_eq(atr_key_open(uri, NULL, &k), ATR_OK, "%s", atr_detail());
	return k;
}

/* n objects under the current version of NAME (plus, when extra is not
 * NULL, a stanza for that key too). */
static void
est_objects(struct est *e, const char *name, int n, struct atr_key *extra)
{
	struct atr_key *ks[2];
	char rel[64], *out;
	int i;

	(void)mkdir(e->store, 0700);
	ks[0] = est_key(e, name);
	ks[1] = extra;
	for (i = 0; i < n; i++) {
		snprintf(rel, sizeof(rel), "store/obj-%02d.csv.atr", e->nobj++);
		out = tu_path(e->dir, rel);
		cr_assert_eq(vfy_fixture_encrypt_file(e->plain, out, ks,
		    extra ? 2 : 1, NULL, FS), ATR_OK, "%s", atr_detail());
		free(out);
	}
	atr_key_free(ks[0]);
}

static void
est_update(struct est *e, const char *name, const char *ver,
    const struct atr_kv_update *u)
{
	struct atr_kv_key *k = calloc(1, sizeof(*k));

	cr_assert_not_null(k);
	cr_assert_eq(atr_kv_update_key(e->c, name, ver, u, k), ATR_OK, "%s",
	    atr_detail());
	free(k);
}

static void
est_set_enabled(struct est *e, const char *name, const char *ver, int on)
{
	struct atr_kv_update u;

	memset(&u, 0, sizeof(u));
	u.set_enabled = 1;
	u.enabled = on;
	est_update(e, name, ver, &u);
}

static int
est_enabled(struct est *e, const char *name, const char *ver)
{
	struct atr_kv_key *k = calloc(1, sizeof(*k));
	int on;

	cr_assert_not_null(k);
	cr_assert_eq(atr_kv_get_key(e->c, name, ver, k), ATR_OK, "%s",
	    atr_detail());
	on = k->enabled;
	free(k);
	return on;
}

static struct vfy_report *
est_run(struct est *e, struct atr_key **keys, size_t nkeys, int drill,
    unsigned sample)
{
	struct vfy_policy pol;
	struct vfy_config c;
	struct vfy_report *r = NULL;
	const char *stores[1];

	vfy_policy_default(&pol);
	pol.drill_objects = sample;
	memset(&c, 0, sizeof(c));
	stores[0] = e->store;
	c.stores = stores;
	c.nstores = 1;
	c.keys = keys;
	c.nkeys = nkeys;
	c.policy = &pol;
	c.jobs = 2;
	c.revocation_drill = drill;
	cr_assert_eq(vfy_run(&c, &r), ATR_OK, "%s", atr_detail());
	return r;
}

static void
dump(const struct vfy_report *r)
{
	struct vfy_text_opts o = {0, 20, 1};

	vfy_write_text(r, stderr, &o);
}

/* The kept finding with this code whose subject ends with tail. */
static int
has_on(const struct vfy_report *r, const char *code, const char *tail)
{
	size_t n, i, lt = strlen(tail);
	int c;

	for (c = 0; c < VFY_NCHECKS; c++)
		for (i = 0; i < r->checks[c].f.n; i++) {
			const struct vfy_finding *f = &r->checks[c].f.v[i];

			n = f->subject ? strlen(f->subject) : 0;
			if (strcmp(f->code, code) == 0 && n >= lt &&
			    strcmp(f->subject + n - lt, tail) == 0)
				return 1;
		}
	return 0;
}

/* 3 objects under v1, 2 under v2, 1 under v3 of "cmk" (v2 disabled
 * before the run), 1 under the only version of "k2". */
static void
rotated(struct est *e, char v[3][128], char *k2v)
{
	est_version(e, "cmk", 1, v[0]);
	est_objects(e, "cmk", 3, NULL);
	est_version(e, "cmk", 0, v[1]);
	est_objects(e, "cmk", 2, NULL);
	est_version(e, "cmk", 0, v[2]);
	est_objects(e, "cmk", 1, NULL);
	est_version(e, "k2", 1, k2v);
	est_objects(e, "k2", 1, NULL);
	est_set_enabled(e, "cmk", v[1], 0);
}

Test(versions, the_drill_disables_every_version_in_use_and_restores_it,
    .timeout = 240)
{
	struct est e;
	struct vfy_report *r;
	struct atr_key *ks[2];
	char v[3][128], k2v[128];
	int i;

	est_start(&e);
	rotated(&e, v, k2v);
	ks[0] = est_key(&e, "cmk");
	ks[1] = est_key(&e, "k2");
	r = est_run(&e, ks, 2, 1, 0);
	/* every version in use, listed with its objects */
	cr_assert_eq(r->nversions, 4);
	cr_assert_eq(vfy_report_stat(r, "negative.revocation_versions"), 4);
	/* every object that opened was tried (v2's two cannot open: it
	 * is disabled), and none opened */
	cr_assert_eq(vfy_report_stat(r, "decrypt.opened"), 5);
	if (vfy_report_stat(r, "negative.revocation_attempts") != 5)
		dump(r);
	cr_assert_eq(vfy_report_stat(r, "negative.revocation_attempts"), 5);
	cr_assert_eq(vfy_report_stat(r, "negative.revocation_opened"), 0);
	cr_assert_eq(vfy_report_stat(r, "negative.revocation_latency_ms"), 0);
	cr_assert_not(vfy_report_has(r, "negative.revocation-failed"));
	cr_assert_not(vfy_report_has(r, "negative.revocation-not-restored"));
	/* each version back in its exact prior state */
	cr_assert(est_enabled(&e, "cmk", v[0]), "v1 left disabled");
	cr_assert_not(est_enabled(&e, "cmk", v[1]), "v2 was disabled before");
	cr_assert(est_enabled(&e, "cmk", v[2]), "v3 left disabled");
	cr_assert(est_enabled(&e, "k2", k2v), "k2 left disabled");
	/* the disabled v2 is a finding naming it; its objects count */
	cr_assert(has_on(r, "policy.version-disabled", v[1]));
	for (i = 0; i < (int)r->nversions; i++)
		if (strstr(r->versions[i].kid, v[0]) != NULL)
			cr_assert_eq(r->versions[i].objects, 3);
	/* v2's objects: the vault refuses (a key service error), so the
	 * run is incomplete */
	cr_assert_eq(vfy_report_exit(r), 2);
	vfy_report_free(r);
	/* a sample of 1 still tries one object per version in use */
	r = est_run(&e, ks, 2, 1, 1);
	cr_assert_eq(vfy_report_stat(r, "negative.revocation_attempts"), 3);
	cr_assert(est_enabled(&e, "cmk", v[0]));
	cr_assert_not(est_enabled(&e, "cmk", v[1]));
	vfy_report_free(r);
	atr_key_free(ks[0]);
	atr_key_free(ks[1]);
	est_stop(&e);
}

/* Planted: a decryptor that keeps every opened object's unwrapped keys
 * (the atr_dec) alive and hands them out again when the key service
 * refuses, as a key cache without a lifetime would. */
#include <pthread.h>
#include "stream.h"

#define LEAK_MAX 64
static struct {
	pthread_mutex_t mu;
	uint8_t oid[LEAK_MAX][16];
	struct atr_dec *d[LEAK_MAX];
	size_t n;
} leak = {PTHREAD_MUTEX_INITIALIZER, {{0}}, {NULL}, 0};

static enum atr_err
leak_new(const struct atr_header *h, struct atr_key *const *keys,
    size_t nkeys, const struct atr_dec_opts *o, struct atr_dec **out,
    size_t *wk, size_t *ws)
{
	enum atr_err e = atr_dec_new(h, keys, nkeys, o, out, wk, ws);
	size_t i;

	pthread_mutex_lock(&leak.mu);
	for (i = 0; i < leak.n; i++)
		if (memcmp(leak.oid[i], h->object_id, 16) == 0)
			break;
	if (e == ATR_OK && i == leak.n && leak.n < LEAK_MAX) {
		memcpy(leak.oid[leak.n], h->object_id, 16);
		leak.d[leak.n++] = *out;
	} else if (e != ATR_OK && i < leak.n && nkeys > 0 &&
	    keys[0]->provider == ATR_PROV_AZURE_KV) {
		*out = leak.d[i];
		e = ATR_OK;
	}
	pthread_mutex_unlock(&leak.mu);
	return e;
}

static void
leak_free(struct atr_dec *d)
{
	size_t i;

	pthread_mutex_lock(&leak.mu);
	for (i = 0; i < leak.n && leak.d[i] != d; i++)
		;
	pthread_mutex_unlock(&leak.mu);
	if (i == leak.n)
		atr_dec_free(d);
}

static const struct vfy_decryptor leaky = {
	leak_new, atr_dec_frame, leak_free,
};

Test(versions, a_cached_key_fails_the_drill_on_every_version,
    .timeout = 240)
{
	struct est e;
	struct vfy_report *r;
	struct vfy_policy pol;
	struct vfy_config c;
	struct atr_key *ks[1];
	const char *stores[1];
	char v1[128], v2[128];
	size_t i;

	est_start(&e);
	est_version(&e, "cmk", 1, v1);
	est_objects(&e, "cmk", 2, NULL);
	est_version(&e, "cmk", 0, v2);
	est_objects(&e, "cmk", 1, NULL);
	ks[0] = est_key(&e, "cmk");
	vfy_policy_default(&pol);
	memset(&c, 0, sizeof(c));
	stores[0] = e.store;
	c.stores = stores;
	c.nstores = 1;
	c.keys = ks;
	c.nkeys = 1;
	c.policy = &pol;
	c.jobs = 1;
	c.dec = &leaky;
	c.revocation_drill = 1;
	cr_assert_eq(vfy_run(&c, &r), ATR_OK, "%s", atr_detail());
	/* every cached object is caught, not only the current version's */
	cr_assert_eq(vfy_report_stat(r, "negative.revocation_opened"), 3);
	cr_assert_eq(vfy_report_count_code(r, "negative.revocation-opened"),
	    3);
	cr_assert_geq(vfy_report_stat(r, "negative.revocation_latency_ms"), 0);
	cr_assert_eq(vfy_report_exit(r), 1);
	cr_assert(est_enabled(&e, "cmk", v1) && est_enabled(&e, "cmk", v2));
	vfy_report_free(r);
	for (i = 0; i < leak.n; i++)
		atr_dec_free(leak.d[i]);
	leak.n = 0;
	atr_key_free(ks[0]);
	est_stop(&e);
}

Test(versions, old_versions_are_checked_like_the_current_one,
    .timeout = 240)
{
	struct est e;
	struct vfy_report *r;
	struct atr_key *ks[1];
	struct atr_kv_update u;
	char v[4][128];
	int64_t now = (int64_t)time(NULL);
	int i;

	est_start(&e);
	for (i = 0; i < 4; i++) {
		est_version(&e, "cmk", i == 0, v[i]);
		est_objects(&e, "cmk", 1, NULL);
	}
	/* v1 expired, v2 expires in 5 days, v3 cannot unwrap */
	memset(&u, 0, sizeof(u));
	u.set_exp = 1;
	u.exp = now - 3600;
	est_update(&e, "cmk", v[0], &u);
	u.exp = now + 5 * 86400;
	est_update(&e, "cmk", v[1], &u);
	memset(&u, 0, sizeof(u));
	u.set_key_ops = 1;
	u.key_ops = ATR_JWK_WRAP | ATR_JWK_ENCRYPT;
	est_update(&e, "cmk", v[2], &u);
	ks[0] = est_key(&e, "cmk");
	r = est_run(&e, ks, 1, 0, 0);
	if (!has_on(r, "policy.version-expired", v[0]))
		dump(r);
	cr_assert(has_on(r, "policy.version-expired", v[0]));
	cr_assert(has_on(r, "policy.version-expiring", v[1]));
	cr_assert(has_on(r, "policy.version-key-ops", v[2]));
	cr_assert_not(has_on(r, "policy.version-expired", v[1]));
	cr_assert_not(has_on(r, "policy.version-key-ops", v[0]));
	/* the current version is the configured key's: no duplicate */
	cr_assert_not(has_on(r, "policy.version-expired", v[3]));
	cr_assert_not(has_on(r, "policy.version-key-ops", v[3]));
	cr_assert_eq(r->nversions, 4);
	vfy_report_free(r);
	atr_key_free(ks[0]);
	est_stop(&e);
}

Test(versions, objects_under_older_enabled_versions_are_reported,
    .timeout = 240)
{
	struct est e;
	struct vfy_report *r;
	struct atr_key *ks[1];
	char v1[128], v2[128];
	size_t i;

	est_start(&e);
	est_version(&e, "cmk", 1, v1);
	est_objects(&e, "cmk", 2, NULL);
	est_version(&e, "cmk", 0, v2);
	est_objects(&e, "cmk", 1, NULL);
	ks[0] = est_key(&e, "cmk");
	r = est_run(&e, ks, 1, 0, 0);
	cr_assert(vfy_report_has(r, "rotation.readable-after-revoke"));
	for (i = 0; i < VFY_NCHECKS; i++) {
		size_t n;

		for (n = 0; n < r->checks[i].f.n; n++)
			if (strcmp(r->checks[i].f.v[n].code,
			    "rotation.readable-after-revoke") == 0) {
				cr_assert_eq(r->checks[i].f.v[n].sev, VFY_WARN);
				cr_assert(strstr(r->checks[i].f.v[n].message,
				    "2 objects") != NULL);
				cr_assert(strstr(r->checks[i].f.v[n].message,
				    v1) != NULL);
			}
	}
	vfy_report_free(r);
	/* every object on the current version: nothing to report */
	tu_rmtree(e.store);
	e.nobj = 0;
	est_objects(&e, "cmk", 2, NULL);
	r = est_run(&e, ks, 1, 0, 0);
	cr_assert_not(vfy_report_has(r, "rotation.readable-after-revoke"));
	cr_assert_eq(r->nversions, 1);
	vfy_report_free(r);
	atr_key_free(ks[0]);
	est_stop(&e);
}

/* Creates a new version of NAME of the given size (Create Key on an
 * existing name adds a version, as Key Vault does). */
static void
est_version_bits(struct est *e, const char *name, unsigned bits, char *ver)
{
	struct atr_kv_key *k = calloc(1, sizeof(*k));
	struct atr_kv_create p;

	cr_assert_not_null(k);
	memset(&p, 0, sizeof(p));
	p.kty = "RSA";
	p.size = bits;
	p.key_ops = ATR_JWK_WRAP | ATR_JWK_UNWRAP;
	cr_assert_eq(atr_kv_create_key(e->c, name, &p, k), ATR_OK, "%s",
	    atr_detail());
	snprintf(ver, 128, "%s", k->version);
	free(k);
}

/* The severity of the kept finding with this code on the subject ending
 * with tail; -1 when there is none. */
static int
sev_on(const struct vfy_report *r, const char *code, const char *tail)
{
	size_t n, i, lt = strlen(tail);
	int c;

	for (c = 0; c < VFY_NCHECKS; c++)
		for (i = 0; i < r->checks[c].f.n; i++) {
			const struct vfy_finding *f = &r->checks[c].f.v[i];

			n = f->subject ? strlen(f->subject) : 0;
			if (strcmp(f->code, code) == 0 && n >= lt &&
			    strcmp(f->subject + n - lt, tail) == 0)
				return f->sev;
		}
	return -1;
}

static struct vfy_report *
est_run_profile(struct est *e, struct atr_key **keys, const char *profile)
{
	struct vfy_policy pol;
	struct vfy_config c;
	struct vfy_report *r = NULL;
	const char *stores[1];

	cr_assert_eq(vfy_policy_profile(profile, &pol), ATR_OK);
	memset(&c, 0, sizeof(c));
	stores[0] = e->store;
	c.stores = stores;
	c.nstores = 1;
	c.keys = keys;
	c.nkeys = 1;
	c.policy = &pol;
	c.jobs = 2;
	cr_assert_eq(vfy_run(&c, &r), ATR_OK, "%s", atr_detail());
	return r;
}

/* The platform's RSA >= 3072 (azure-cmk) holds for every version in use,
 * not only the current one: an RSA-2048 v1 under a 3072-bit v2. */
Test(versions, an_rsa_2048_version_fails_azure_cmk,
    .timeout = 240)
{
	struct est e;
	struct vfy_report *r;
	struct atr_key *ks[1];
	char v1[128], v2[128];

	est_start(&e);
	est_version_bits(&e, "cmk", 2048, v1);
	est_objects(&e, "cmk", 2, NULL);
	est_version_bits(&e, "cmk", 3072, v2);
	est_objects(&e, "cmk", 1, NULL);
	ks[0] = est_key(&e, "cmk");
	r = est_run_profile(&e, ks, "azure-cmk");
	if (!has_on(r, "policy.version-rsa-size", v1))
		dump(r);
	cr_assert_eq(sev_on(r, "policy.version-rsa-size", v1), VFY_ERROR,
	    "an error under azure-cmk");
	cr_assert_eq(sev_on(r, "policy.version-rsa-size", v2), -1);
	vfy_report_free(r);
	/* the default profile: a warning (below its 3072 advice) */
	r = est_run_profile(&e, ks, "default");
	cr_assert_eq(sev_on(r, "policy.version-rsa-size", v1), VFY_WARN);
	vfy_report_free(r);
	atr_key_free(ks[0]);
	est_stop(&e);
}
