/*
 * test_verify_profile.c - verify's built-in profiles (default, azure-cmk,
 * strict), recovery levels, and rotation policies: the Key Vault client
 * reading and setting them against the loopback vault, and the strict
 * checks, each against a vault key that plants its defect.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "hostile.h"
#include "kv_client.h"
#include "kv_server.h"
#include "kv_server_int.h"
#include "keys.h"
#include "jwk.h"
#include "testutil.h"
#include "util.h"
#include "vfy_int.h"

#define FS 256U
#define DAY 86400

/* ---- profiles ---------------------------------------------------------- */

Test(profile, builtins_hold_the_documented_values)
{
	struct vfy_policy d, a, s;

	cr_assert_eq(vfy_policy_profile("default", &d), ATR_OK);
	cr_assert_eq(vfy_policy_profile("azure-cmk", &a), ATR_OK);
	cr_assert_eq(vfy_policy_profile("strict", &s), ATR_OK);
	cr_assert_str_eq(d.profile, "default");
	cr_assert_eq(d.rsa_error_below, 2048);
	cr_assert_eq(a.rsa_error_below, 3072);
	cr_assert_eq(a.vault_required_ops, ATR_JWK_WRAP | ATR_JWK_UNWRAP);
	cr_assert_eq(a.vault_allowed_ops, ATR_JWK_WRAP | ATR_JWK_UNWRAP);
	cr_assert(vfy_policy_kty_ok(&a, "RSA") && vfy_policy_kty_ok(&a,
	    "RSA-HSM"));
	cr_assert_not(vfy_policy_kty_ok(&a, "oct-HSM"));
	cr_assert(vfy_policy_kty_ok(&d, "oct-HSM"));
	cr_assert_not(vfy_policy_kty_ok(&d, "EC"));
	cr_assert(a.vault_require_enabled);
	cr_assert_not(a.rotation_require_policy);
	cr_assert_str_eq(s.profile, "strict");
	cr_assert_eq(s.rsa_error_below, 3072);
	cr_assert(s.rotation_require_policy && s.rotation_require_expiry &&
	    s.rotation_version_age);
	cr_assert_eq(s.rotation_max_days, 365);
	atr_detail_clear();
	cr_assert_eq(vfy_policy_profile("azure", &d), ATR_ERR_CONFIG);
	cr_assert(strstr(atr_detail(), "azure-cmk") != NULL, "%s",
	    atr_detail());
}

Test(profile, every_purge_protected_level_passes_every_purgeable_fails)
{
	static const char *const ok[] = {
		"Recoverable", "Recoverable+ProtectedSubscription",
		"CustomizedRecoverable",
		"CustomizedRecoverable+ProtectedSubscription",
	};
	static const char *const bad[] = {
		"Purgeable", "Recoverable+Purgeable",
		"CustomizedRecoverable+Purgeable", "", "Unknown",
	};
	static const char *const names[] = {"default", "azure-cmk", "strict"};
	static const char loose[] = "{\"vault\": {\"recovery_levels\": "
	    "[\"Recoverable\", \"Recoverable+Purgeable\"]}}";
	struct vfy_policy p;
	size_t i, j;

	for (j = 0; j < 3; j++) {
		cr_assert_eq(vfy_policy_profile(names[j], &p), ATR_OK);
		for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
			cr_assert(vfy_policy_recovery_ok(&p, ok[i]), "%s: %s",
			    names[j], ok[i]);
		for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
			cr_assert_not(vfy_policy_recovery_ok(&p, bad[i]),
			    "%s: %s", names[j], bad[i]);
	}
	/* Listing a Purgeable level does not make it purge-protected. */
	vfy_policy_default(&p);
	cr_assert_eq(vfy_policy_parse(loose, sizeof(loose) - 1, &p), ATR_OK);
	cr_assert_not(vfy_policy_recovery_ok(&p, "Recoverable+Purgeable"));
	cr_assert_not(vfy_policy_recovery_ok(&p, "CustomizedRecoverable"));
}

/* Writes p as the report does and reads it back onto a default policy. */
static void
round_trip(const struct vfy_policy *a, struct vfy_policy *b)
{
	char path[] = "/tmp/atrest-verify-prof-XXXXXX";
	int fd = mkstemp(path);
	struct vfy_out *o = malloc(sizeof(*o));
	uint8_t *buf;
	size_t len;

	cr_assert(fd >= 0 && o != NULL);
	vfy_out_init(o, fd);
	vfy_policy_write(o, a, "");
	cr_assert_eq(vfy_out_flush(o), ATR_OK);
	close(fd);
	free(o);
	buf = tu_read_file(path, &len);
	unlink(path);
	cr_assert_not_null(buf);
	vfy_policy_default(b);
	cr_assert_eq(vfy_policy_parse((char *)buf, len, b), ATR_OK, "%s: %s",
	    atr_detail(), buf);
	free(buf);
}

Test(profile, a_policy_file_builds_on_its_profile_and_reads_back)
{
	static const char j[] = "{\"rotation\": {\"max_rotate_days\": 90}, "
	    "\"profile\": \"strict\", \"vault\": {\"allowed_kty\": "
	    "[\"RSA-HSM\"], \"required_key_ops\": [\"unwrapKey\"]}}";
	static const char other[] = "{\"profile\": \"azure-cmk\"}";
	static const char unknown[] = "{\"profile\": \"lax\"}";
	struct vfy_policy a, b;
	const char *names[] = {"default", "azure-cmk", "strict"};
	size_t i;

	/* the profile applies first, wherever it is in the document */
	vfy_policy_default(&a);
	cr_assert_eq(vfy_policy_parse(j, sizeof(j) - 1, &a), ATR_OK, "%s",
	    atr_detail());
	cr_assert_str_eq(a.profile, "strict");
	cr_assert_eq(a.rotation_max_days, 90);
	cr_assert(a.rotation_require_expiry);
	cr_assert_eq(a.rsa_error_below, 3072);
	cr_assert_not(vfy_policy_kty_ok(&a, "RSA"));
	cr_assert_eq(a.vault_required_ops, ATR_JWK_UNWRAP);
	round_trip(&a, &b);
	cr_assert_eq(memcmp(&a, &b, sizeof(a)), 0);
	for (i = 0; i < 3; i++) {
		cr_assert_eq(vfy_policy_profile(names[i], &a), ATR_OK);
		round_trip(&a, &b);
		cr_assert_eq(memcmp(&a, &b, sizeof(a)), 0, "%s", names[i]);
	}
	/* another profile than the one chosen is an error, not a switch */
	cr_assert_eq(vfy_policy_profile("strict", &a), ATR_OK);
	cr_assert_eq(vfy_policy_parse(other, sizeof(other) - 1, &a),
	    ATR_ERR_CONFIG);
	vfy_policy_default(&a);
	cr_assert_eq(vfy_policy_parse(unknown, sizeof(unknown) - 1, &a),
	    ATR_ERR_CONFIG);
}

Test(profile, iso8601_durations_as_key_vault_counts_them)
{
	static const struct {
		const char *s;
		int64_t v;
	} good[] = {
		{"P90D", 90LL * DAY}, {"P1Y", 365LL * DAY}, {"P3M", 90LL * DAY},
		{"P2W", 14LL * DAY}, {"PT12H", 12LL * 3600}, {"PT30M", 1800},
		{"P1Y2M10DT2H30M", (365LL + 60 + 10) * DAY + 2 * 3600 + 1800},
	};
	static const char *const bad[] = {
		"", "P", "PT", "90D", "P90", "PD", "P1D1Y", "P1H", "P-1D",
		"P1DT", "P1.5D", "P99999999D", "p90d",
	};
	int64_t v;
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		cr_assert_eq(atr_iso8601_duration(good[i].s, &v), 0, "%s",
		    good[i].s);
		cr_assert_eq(v, good[i].v, "%s", good[i].s);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(atr_iso8601_duration(bad[i], &v), -1, "%s",
		    bad[i]);
}

/* ---- the loopback vault ------------------------------------------------ */

struct vx {
	struct atr_kv_server *srv;
	char *dir;
	char url[128];
};

static void
vx_start_opts(struct vx *v, int purge_protection, int days, int protsub)
{
	struct atr_kv_server_opts o;

	memset(v, 0, sizeof(*v));
	v->dir = tu_tmpdir("verify-prof");
	cr_assert_not_null(v->dir);
	atr_kv_server_opts_init(&o);
	o.listen = "127.0.0.1:0";
	o.state_dir = v->dir;
	o.token_mode = ATR_KV_TOKEN_ANY;
	o.purge_protection = purge_protection;
	o.recoverable_days = days;
	o.protected_subscription = protsub;
	cr_assert_eq(atr_kv_server_start(&o, &v->srv), ATR_OK, "server: %s",
	    atr_detail());
	snprintf(v->url, sizeof(v->url), "%s", atr_kv_server_url(v->srv));
	setenv("ATREST_CA_FILE", atr_kv_server_ca_path(v->srv), 1);
	setenv("ATREST_AZURE_TOKEN", "test-token-for-the-loopback-vault", 1);
	setenv("ATREST_AZURE_CREDENTIAL", "token", 1);
	setenv("ATREST_KV_MAX_RETRIES", "0", 1);
	setenv("ATREST_KV_BACKOFF_MS", "1", 1);
	atr_kv_cache_clear();
}

static void
vx_stop(struct vx *v)
{
	atr_kv_thread_cleanup();
	atr_kv_cache_clear();
	atr_kv_server_stop(v->srv);
	tu_rmtree(v->dir);
	free(v->dir);
}

static struct atr_kv_client *
vx_client(struct vx *v)
{
	struct atr_kv_client *c = NULL;

	cr_assert_eq(atr_kv_client_new(v->url, NULL, &c), ATR_OK, "%s",
	    atr_detail());
	return c;
}

/* The server's clock moved by off seconds (the admin clock_offset). */
static void
vx_clock(struct vx *v, int64_t off)
{
	pthread_mutex_lock(&v->srv->mu);
	v->srv->cfg.clock_offset = off;
	pthread_mutex_unlock(&v->srv->mu);
}

/* Creates NAME (RSA of bits, key_ops ops) and opens it (versionless). */
static struct atr_key *
vx_key(struct vx *v, const char *name, unsigned bits, unsigned ops)
{
	struct atr_kv_client *c = vx_client(v);
	struct atr_kv_create p;
	struct atr_kv_key *info = calloc(1, sizeof(*info));
	struct atr_key *k = NULL;
	char uri[256];

	cr_assert_not_null(info);
	memset(&p, 0, sizeof(p));
	p.kty = "RSA";
	p.size = bits;
	p.key_ops = ops;
	cr_assert_eq(atr_kv_create_key(c, name, &p, info), ATR_OK, "%s",
	    atr_detail());
	atr_kv_client_free(c);
	free(info);
	snprintf(uri, sizeof(uri), "%s/keys/%s", v->url, name);
	cr_assert_eq(atr_key_open(uri, NULL, &k), ATR_OK, "%s", atr_detail());
	return k;
}

/* A one-file store under the vault key k, in v->dir/store. */
static char *
vx_store(struct vx *v, struct atr_key *k)
{
	struct atr_key *ks[1] = {k};
	char *plain = tu_path(v->dir, "plain.bin");
	char *store = tu_path(v->dir, "store");
	char *obj;
	uint8_t data[1000];

	cr_assert(plain != NULL && store != NULL);
	memset(data, 0x5a, sizeof(data));
	cr_assert_eq(tu_write_file(plain, data, sizeof(data)), 0);
	tu_rmtree(store);
	cr_assert_eq(mkdir(store, 0700), 0);
	obj = tu_path(store, "obj.enc");
	cr_assert_eq(vfy_fixture_encrypt_file(plain, obj, ks, 1, NULL, FS),
	    ATR_OK, "%s", atr_detail());
	free(obj);
	free(plain);
	return store;
}

/* verify of store with k under profile (or *pol when not NULL). */
static struct vfy_report *
vx_verify(const char *store, struct atr_key *k, const char *profile,
    const struct vfy_policy *pol)
{
	struct vfy_policy p;
	struct vfy_config c;
	struct vfy_report *r = NULL;
	const char *stores[1] = {store};
	struct atr_key *ks[1] = {k};

	if (pol != NULL)
		p = *pol;
	else
		cr_assert_eq(vfy_policy_profile(profile, &p), ATR_OK);
	memset(&c, 0, sizeof(c));
	c.stores = stores;
	c.nstores = 1;
	c.keys = ks;
	c.nkeys = 1;
	c.policy = &p;
	c.jobs = 1;
	cr_assert_eq(vfy_run(&c, &r), ATR_OK, "%s", atr_detail());
	return r;
}

/* The severity of the first finding with code, -1 when none. */
static int
sev_of(const struct vfy_report *r, const char *code)
{
	size_t c, i;

	for (c = 0; c < VFY_NCHECKS; c++)
		for (i = 0; i < r->checks[c].f.n; i++)
			if (strcmp(r->checks[c].f.v[i].code, code) == 0)
				return r->checks[c].f.v[i].sev;
	return -1;
}

Test(vault, recovery_levels_through_the_vault)
{
	static const struct {
		int pp, days, ps;
		const char *level;
		int ok;
	} cases[] = {
		{1, 90, 0, "Recoverable", 1},
		{1, 30, 0, "CustomizedRecoverable", 1},
		{1, 90, 1, "Recoverable+ProtectedSubscription", 1},
		{1, 30, 1, "CustomizedRecoverable+ProtectedSubscription", 1},
		{0, 90, 0, "Recoverable+Purgeable", 0},
		{0, 30, 0, "CustomizedRecoverable+Purgeable", 0},
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct vfy_vault_attrs va;
		struct vfy_report *r;
		struct atr_key *k;
		struct vx v;
		char *store;

		vx_start_opts(&v, cases[i].pp, cases[i].days, cases[i].ps);
		k = vx_key(&v, "cmk", 3072, ATR_JWK_WRAP | ATR_JWK_UNWRAP);
		cr_assert_eq(vfy_vault_attrs(k, 1, &va), ATR_OK);
		cr_assert_str_eq(va.recovery_level, cases[i].level);
		store = vx_store(&v, k);
		r = vx_verify(store, k, "azure-cmk", NULL);
		cr_assert_eq(vfy_report_has(r, "policy.vault-recovery"),
		    !cases[i].ok, "%s", cases[i].level);
		if (cases[i].ok)
			cr_assert_eq(vfy_report_status(r, VFY_POLICY), VFY_PASS,
			    "%s", cases[i].level);
		vfy_report_free(r);
		free(store);
		atr_key_free(k);
		vx_stop(&v);
	}
}

Test(vault, rsa_2048_is_an_error_under_azure_cmk_a_warning_by_default)
{
	struct vfy_report *r;
	struct atr_key *k;
	struct vx v;
	char *store;

	vx_start_opts(&v, 1, 90, 0);
	k = vx_key(&v, "small", 2048, ATR_JWK_WRAP | ATR_JWK_UNWRAP);
	store = vx_store(&v, k);
	r = vx_verify(store, k, "default", NULL);
	cr_assert_eq(sev_of(r, "policy.key-rsa-size"), VFY_WARN);
	cr_assert_eq(vfy_report_exit(r), 0);
	vfy_report_free(r);
	r = vx_verify(store, k, "azure-cmk", NULL);
	cr_assert_eq(sev_of(r, "policy.key-rsa-size"), VFY_ERROR);
	cr_assert_eq(sev_of(r, "policy.rsa-size"), VFY_ERROR);
	cr_assert_eq(vfy_report_status(r, VFY_POLICY), VFY_FAILED);
	cr_assert_eq(vfy_report_exit(r), 1);
	vfy_report_free(r);
	free(store);
	atr_key_free(k);
	vx_stop(&v);
}

Test(vault, key_ops_without_unwrap_fail_azure_cmk)
{
	struct atr_kv_client *c;
	struct atr_kv_update u;
	struct atr_kv_key *kk = calloc(1, sizeof(*kk));
	struct vfy_report *r;
	struct atr_key *k;
	struct vx v;
	char *store;

	cr_assert_not_null(kk);
	vx_start_opts(&v, 1, 90, 0);
	k = vx_key(&v, "cmk", 3072, ATR_JWK_WRAP | ATR_JWK_UNWRAP);
	store = vx_store(&v, k);
	c = vx_client(&v);
	memset(&u, 0, sizeof(u));
	u.set_key_ops = 1;
	u.key_ops = ATR_JWK_WRAP;
	cr_assert_eq(atr_kv_update_key(c, "cmk", NULL, &u, kk), ATR_OK, "%s",
	    atr_detail());
	atr_kv_client_free(c);
	r = vx_verify(store, k, "default", NULL);
	cr_assert_not(vfy_report_has(r, "policy.vault-key-ops-missing"));
	vfy_report_free(r);
	r = vx_verify(store, k, "azure-cmk", NULL);
	cr_assert_eq(sev_of(r, "policy.vault-key-ops-missing"), VFY_ERROR);
	vfy_report_free(r);
	free(kk);
	free(store);
	atr_key_free(k);
	vx_stop(&v);
}

/* ---- rotation policies ------------------------------------------------- */

Test(rotation, client_gets_and_sets_the_policy)
{
	struct atr_kv_rotation_policy p, got;
	struct atr_kv_client *c;
	struct atr_key *k;
	struct vx v;

	vx_start_opts(&v, 1, 90, 0);
	k = vx_key(&v, "cmk", 2048, ATR_JWK_WRAP | ATR_JWK_UNWRAP);
	c = vx_client(&v);
	/* never set: the service's default, notify 30 days before expiry */
	cr_assert_eq(atr_kv_get_rotation_policy(c, "cmk", &got), ATR_OK, "%s",
	    atr_detail());
	cr_assert_eq(got.nactions, 1);
	cr_assert_not(got.actions[0].rotate);
	cr_assert(got.actions[0].before_expiry);
	cr_assert_str_eq(got.actions[0].duration, "P30D");
	cr_assert_str_eq(got.expiry, "");
	cr_assert_eq(atr_kv_rotation_period(&got), 0);
	memset(&p, 0, sizeof(p));
	p.nactions = 2;
	p.actions[0].rotate = 1;
	snprintf(p.actions[0].duration, sizeof(p.actions[0].duration), "P90D");
	p.actions[1].before_expiry = 1;
	snprintf(p.actions[1].duration, sizeof(p.actions[1].duration), "P30D");
	snprintf(p.expiry, sizeof(p.expiry), "P1Y");
	cr_assert_eq(atr_kv_set_rotation_policy(c, "cmk", &p, &got), ATR_OK,
	    "%s", atr_detail());
	cr_assert_eq(atr_kv_get_rotation_policy(c, "cmk", &got), ATR_OK);
	cr_assert_eq(got.nactions, 2);
	cr_assert(got.actions[0].rotate && !got.actions[0].before_expiry);
	cr_assert_str_eq(got.actions[0].duration, "P90D");
	cr_assert_eq(got.actions[0].seconds, 90LL * DAY);
	cr_assert_str_eq(got.expiry, "P1Y");
	cr_assert_gt(got.created, 0);
	cr_assert_eq(atr_kv_rotation_period(&got), 90LL * DAY);
	/* the vault refuses what Key Vault refuses: Notify after creation */
	p.actions[1].before_expiry = 0;
	cr_assert_eq(atr_kv_set_rotation_policy(c, "cmk", &p, &got),
	    ATR_ERR_CONFIG, "%s", atr_detail());
	/* a rotation applies expiryTime to the new version */
	{
		struct atr_kv_key *kk = calloc(1, sizeof(*kk));

		cr_assert_not_null(kk);
		cr_assert_eq(atr_kv_rotate_key(c, "cmk", kk), ATR_OK);
		cr_assert(kk->has_exp);
		cr_assert_geq(kk->exp - kk->created, 365LL * DAY);
		free(kk);
	}
	atr_kv_client_free(c);
	atr_key_free(k);
	vx_stop(&v);
}

Test(rotation, documents_the_client_cannot_read_are_refused)
{
	static const char *const bad[] = {
		"[]",
		"{\"lifetimeActions\": {}}",
		"{\"lifetimeActions\": [{\"trigger\": {}, \"action\": "
		    "{\"type\": \"Rotate\"}}]}",
		"{\"lifetimeActions\": [{\"trigger\": {\"timeAfterCreate\": "
		    "\"P1D\", \"timeBeforeExpiry\": \"P1D\"}, \"action\": "
		    "{\"type\": \"Rotate\"}}]}",
		"{\"lifetimeActions\": [{\"trigger\": {\"timeAfterCreate\": "
		    "\"90 days\"}, \"action\": {\"type\": \"Rotate\"}}]}",
		"{\"lifetimeActions\": [{\"trigger\": {\"timeAfterCreate\": "
		    "\"P90D\"}, \"action\": {\"type\": \"Delete\"}}]}",
		"{\"attributes\": {\"expiryTime\": 365}}",
	};
	static const char good[] = "{\"id\": \"x\", \"lifetimeActions\": "
	    "[{\"trigger\": {\"timeBeforeExpiry\": \"P30D\"}, \"action\": "
	    "{\"type\": \"rotate\"}}], \"attributes\": {\"expiryTime\": "
	    "\"P1Y\", \"created\": 1700000000}}";
	struct atr_kv_rotation_policy p;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(atr_kv_rotation_policy_from_json(bad[i],
		    strlen(bad[i]), &p), ATR_ERR_BAD_RESPONSE, "%s", bad[i]);
	cr_assert_eq(atr_kv_rotation_policy_from_json(good, sizeof(good) - 1,
	    &p), ATR_OK, "%s", atr_detail());
	cr_assert(p.actions[0].rotate && p.actions[0].before_expiry);
	cr_assert_eq(p.created, 1700000000);
	/* rotate 30 days before a one-year expiry: every 335 days */
	cr_assert_eq(atr_kv_rotation_period(&p), 335LL * DAY);
}

/* Sets the policy of key cmk: rotate after ra ("" none), expiry exp. */
static void
set_policy(struct vx *v, const char *ra, const char *exp)
{
	struct atr_kv_rotation_policy p, got;
	struct atr_kv_client *c = vx_client(v);

	memset(&p, 0, sizeof(p));
	if (*ra) {
		p.nactions = 1;
		p.actions[0].rotate = 1;
		snprintf(p.actions[0].duration, sizeof(p.actions[0].duration),
		    "%s", ra);
	}
	snprintf(p.expiry, sizeof(p.expiry), "%s", exp);
	cr_assert_eq(atr_kv_set_rotation_policy(c, "cmk", &p, &got), ATR_OK,
	    "%s", atr_detail());
	atr_kv_client_free(c);
}

static const char *const rot_codes[] = {
	"policy.rotation-missing", "policy.rotation-too-long",
	"policy.rotation-no-expiry", "policy.rotation-version-age",
	"policy.rotation-unavailable",
};

/* Exactly the rotation codes in want ("" for none) under strict. */
static void
expect_rotation(const char *store, struct atr_key *k, const char *want)
{
	struct vfy_report *r = vx_verify(store, k, "strict", NULL);
	size_t i;

	for (i = 0; i < sizeof(rot_codes) / sizeof(rot_codes[0]); i++) {
		int in = strstr(want, rot_codes[i]) != NULL;

		cr_assert_eq(vfy_report_has(r, rot_codes[i]), in, "%s: %s",
		    want, rot_codes[i]);
		if (in)
			cr_assert_eq(sev_of(r, rot_codes[i]), VFY_ERROR);
	}
	cr_assert(vfy_report_has(r, "policy.rotation-policy"));
	if (*want == '\0')
		cr_assert_eq(vfy_report_status(r, VFY_POLICY), VFY_PASS);
	vfy_report_free(r);
	/* the default profile reports the policy and checks nothing */
	r = vx_verify(store, k, "default", NULL);
	for (i = 0; i < sizeof(rot_codes) / sizeof(rot_codes[0]); i++)
		cr_assert_not(vfy_report_has(r, rot_codes[i]), "%s",
		    rot_codes[i]);
	cr_assert_eq(sev_of(r, "policy.rotation-policy"), VFY_INFO);
	vfy_report_free(r);
}

Test(rotation, strict_checks_the_rotation_policy)
{
	struct atr_key *k;
	struct vx v;
	char *store;

	vx_start_opts(&v, 1, 90, 0);
	k = vx_key(&v, "cmk", 3072, ATR_JWK_WRAP | ATR_JWK_UNWRAP);
	store = vx_store(&v, k);
	/* the default policy: notify only, no expiry */
	expect_rotation(store, k, "policy.rotation-missing "
	    "policy.rotation-no-expiry");
	set_policy(&v, "P400D", "P2Y");
	expect_rotation(store, k, "policy.rotation-too-long");
	set_policy(&v, "P90D", "");
	expect_rotation(store, k, "policy.rotation-no-expiry");
	set_policy(&v, "P90D", "P1Y");
	expect_rotation(store, k, "");
	free(store);
	atr_key_free(k);
	vx_stop(&v);
}

Test(rotation, strict_flags_a_version_older_than_the_period)
{
	struct atr_key *k;
	struct vx v;
	char *store;

	vx_start_opts(&v, 1, 90, 0);
	/* created 100 days ago by the vault's clock */
	vx_clock(&v, -100LL * DAY);
	k = vx_key(&v, "cmk", 3072, ATR_JWK_WRAP | ATR_JWK_UNWRAP);
	vx_clock(&v, 0);
	store = vx_store(&v, k);
	set_policy(&v, "P90D", "P1Y");
	expect_rotation(store, k, "policy.rotation-version-age");
	set_policy(&v, "P180D", "P1Y");
	expect_rotation(store, k, "");
	free(store);
	atr_key_free(k);
	vx_stop(&v);
}

/* A vault that answers with another key's policy, or another vault's. */
Test(rotation, a_policy_of_another_key_or_vault_is_refused)
{
	static const char *const names[] = {"vault.evil.test", NULL};
	/* after this vault's URL, or ("!") alone */
	static const char *const ids[] = {
		"/keys/other/rotationpolicy",
		"!https://vault.evil.test/keys/cmk/rotationpolicy",
		"/keys/cmk",
	};
	struct hs_server *hs = hs_start(names);
	struct atr_kv_rotation_policy p;
	struct atr_kv_client *c = NULL;
	char body[600], id[300];
	size_t i;

	cr_assert_not_null(hs);
	setenv("ATREST_CA_FILE", hs_ca(hs), 1);
	setenv("ATREST_AZURE_TOKEN", "hostile-test-token", 1);
	setenv("ATREST_AZURE_CREDENTIAL", "token", 1);
	setenv("ATREST_KV_MAX_RETRIES", "0", 1);
	atr_kv_cache_clear();
	cr_assert_eq(atr_kv_client_new(hs_url(hs), NULL, &c), ATR_OK, "%s",
	    atr_detail());
	for (i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		if (ids[i][0] == '!')
			snprintf(id, sizeof(id), "%s", ids[i] + 1);
		else
			snprintf(id, sizeof(id), "%s%s", hs_url(hs), ids[i]);
		snprintf(body, sizeof(body), "{\"id\": \"%s\", "
		    "\"lifetimeActions\": [{\"trigger\": {\"timeAfterCreate\":"
		    " \"P90D\"}, \"action\": {\"type\": \"Rotate\"}}], "
		    "\"attributes\": {\"expiryTime\": \"P1Y\"}}", id);
		hs_forget(hs);
		cr_assert_eq(hs_reply(hs, "rotationpolicy", 200, NULL, body, 0),
		    0);
		cr_assert_eq(atr_kv_get_rotation_policy(c, "cmk", &p),
		    ATR_ERR_BAD_RESPONSE, "accepted %s", id);
		cr_assert_eq(p.nactions, 0, "the lying policy is kept");
	}
	/* this key's, any case: taken */
	snprintf(id, sizeof(id), "%s/keys/CMK/rotationpolicy", hs_url(hs));
	snprintf(body, sizeof(body), "{\"id\": \"%s\", \"lifetimeActions\":"
	    " [], \"attributes\": {}}", id);
	hs_forget(hs);
	cr_assert_eq(hs_reply(hs, "rotationpolicy", 200, NULL, body, 0), 0);
	cr_assert_eq(atr_kv_get_rotation_policy(c, "cmk", &p), ATR_OK, "%s",
	    atr_detail());
	atr_kv_client_free(c);
	atr_kv_thread_cleanup();
	atr_kv_cache_clear();
	hs_stop(hs);
}

/* strict: an older version still in use by an object is judged too, not
 * only the current one: v1 made 100 days ago wraps the object, v2 (the
 * current version) is fresh. */
Test(rotation, strict_flags_an_old_version_in_use)
{
	struct atr_kv_client *c;
	struct atr_kv_key *info = calloc(1, sizeof(*info));
	struct atr_key *k1, *k2;
	struct vx v;
	char uri[256], *store;

	cr_assert_not_null(info);
	vx_start_opts(&v, 1, 90, 0);
	vx_clock(&v, -100LL * DAY);
	k1 = vx_key(&v, "cmk", 3072, ATR_JWK_WRAP | ATR_JWK_UNWRAP);
	store = vx_store(&v, k1);
	vx_clock(&v, 0);
	c = vx_client(&v);
	cr_assert_eq(atr_kv_rotate_key(c, "cmk", info), ATR_OK, "%s",
	    atr_detail());
	atr_kv_client_free(c);
	snprintf(uri, sizeof(uri), "%s/keys/cmk", v.url);
	atr_kv_cache_clear();
	cr_assert_eq(atr_key_open(uri, NULL, &k2), ATR_OK, "%s", atr_detail());
	cr_assert_str_eq(strrchr(k2->key_id, '/') + 1, info->version);
	set_policy(&v, "P90D", "P1Y");
	expect_rotation(store, k2, "policy.rotation-version-age");
	set_policy(&v, "P180D", "P1Y");
	expect_rotation(store, k2, "");
	free(store);
	free(info);
	atr_key_free(k1);
	atr_key_free(k2);
	vx_stop(&v);
}
