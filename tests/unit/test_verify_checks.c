/*
 * test_verify_checks.c - every check of `atrest verify` (verify/engine.c)
 * against a store that plants its defect, and against the clean store.
 *
 * Each test builds its stores in a private temporary directory: a
 * synthetic dataset from the fixture generator (patients, journeys,
 * blobs, frame edges, a hidden file; 256-byte frames so that objects
 * have several), encrypted with test-only keys generated once per run.
 * A planted defect must fail its check with its code; the clean store
 * must pass every check.  The JSON report is parsed back and checked
 * field by field, the JUnit report is checked for well-formedness
 * (xmllint when installed, and a structural parser here), and shard
 * reports merged must equal a single run.
 */
#include <errno.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/hooks.h>
#include <cjson/cJSON.h>

#include "envtest.h"
#include "fsutil.h"
#include "leaky_key.h"
#include "testutil.h"
#include "vfy_int.h"

#define FS 256U

static const char *const key_types[] = {
	"cmk=rsa-3072", "old=rsa-2048", "ctl=rsa-3072", "smk=aes-256",
	"other=aes-256", NULL,
};

ReportHook(PRE_ALL)(struct criterion_test_set *set)
{
	(void)set;
	if (et_keydir_create("verify", key_types) != ATR_OK)
		fprintf(stderr, "test_verify_checks: key generation failed: %s\n",
		    atr_detail());
}

ReportHook(POST_ALL)(struct criterion_global_stats *stats)
{
	(void)stats;
	et_keydir_remove();
}

/* ---- fixture ----------------------------------------------------------- */

struct fx {
	char *dir, *plain, *store, *manifest;
	struct vfy_manifest *m;
	struct atr_key *cmk, *old, *ctl, *smk, *other;
	struct vfy_policy pol;
	const struct vfy_decryptor *dec;
	unsigned jobs;
	unsigned shard_k, shard_n;
	const uint8_t *fpk;
	int drill;
};

static struct atr_key *
key(const char *name)
{
	struct atr_key *k = NULL;

	cr_assert_eq(et_key_open(name, &k), ATR_OK, "key %s: %s", name,
	    atr_detail());
	return k;
}

static char *
join(const char *a, const char *b)
{
	char *p = tu_path(a, b);

	cr_assert_not_null(p);
	return p;
}

/* The clean store: the dataset encrypted with the CMK (kind 0, 1 or 2). */
static void
fx_init(struct fx *f, int kind)
{
	struct vfy_fixture_opts o;
	struct atr_key *ks[1];

	memset(f, 0, sizeof(*f));
	cr_assert_not_null(et_keydir(), "no test keys");
	f->dir = tu_tmpdir("verify");
	cr_assert_not_null(f->dir);
	f->plain = join(f->dir, "plain");
	f->store = join(f->dir, "store");
	f->manifest = join(f->dir, "manifest.json");
	f->cmk = key("cmk");
	f->old = key("old");
	f->ctl = key("ctl");
	f->smk = key("smk");
	f->other = key("other");
	vfy_fixture_defaults(&o);
	o.patients = 2;
	o.journeys = 2;
	o.blobs = 2;
	o.rows = 12;
	o.frame_size = FS;
	cr_assert_eq(vfy_fixture_dataset(f->plain, f->manifest, &o, NULL),
	    ATR_OK, "%s", atr_detail());
	ks[0] = f->cmk;
	cr_assert_eq(vfy_fixture_encrypt_tree(f->plain, f->store, ks, 1, kind,
	    FS), ATR_OK, "%s", atr_detail());
	cr_assert_eq(vfy_manifest_load(f->manifest, &f->m), ATR_OK, "%s",
	    atr_detail());
	vfy_policy_default(&f->pol);
	/* Small stores: sample every object for the costly checks. */
	f->pol.tamper_header_sample = 1;
	f->pol.negative_sample = 1;
	f->jobs = 2;
}

static void
fx_free(struct fx *f)
{
	vfy_manifest_free(f->m);
	atr_key_free(f->cmk);
	atr_key_free(f->old);
	atr_key_free(f->ctl);
	atr_key_free(f->smk);
	atr_key_free(f->other);
	tu_rmtree(f->dir);
	free(f->dir);
	free(f->plain);
	free(f->store);
	free(f->manifest);
}

static struct vfy_report *
fx_run_keys(struct fx *f, struct atr_key **keys, size_t nkeys,
    struct atr_key *control)
{
	struct vfy_config c;
	struct vfy_report *r = NULL;
	const char *stores[1];
	enum atr_err e;

	memset(&c, 0, sizeof(c));
	stores[0] = f->store;
	c.stores = stores;
	c.nstores = 1;
	c.keys = keys;
	c.nkeys = nkeys;
	c.control = control;
	c.control_uri = control ? control->uri : NULL;
	c.policy = &f->pol;
	c.manifest = f->m;
	c.manifest_path = f->manifest;
	c.jobs = f->jobs;
	c.dec = f->dec;
	c.shard_k = f->shard_k;
	c.shard_n = f->shard_n;
	c.fp_key = f->fpk;
	c.fp_key_len = f->fpk ? 32 : 0;
	c.revocation_drill = f->drill;
	c.started = 1700000000;
	e = vfy_run(&c, &r);
	cr_assert_eq(e, ATR_OK, "vfy_run: %s: %s", atr_strerror(e),
	    atr_detail());
	cr_assert_not_null(r);
	return r;
}

static struct vfy_report *
fx_run(struct fx *f)
{
	struct atr_key *ks[1] = {f->cmk};

	return fx_run_keys(f, ks, 1, f->ctl);
}

static void
dump(const struct vfy_report *r)
{
	struct vfy_text_opts o = {0, 20, 1};

	vfy_write_text(r, stderr, &o);
}

static void
expect_code(const struct vfy_report *r, const char *code)
{
	if (!vfy_report_has(r, code))
		dump(r);
	cr_assert(vfy_report_has(r, code), "no %s finding", code);
}

static void
expect_status(const struct vfy_report *r, int check, int status)
{
	if (vfy_report_status(r, check) != status)
		dump(r);
	cr_assert_eq(vfy_report_status(r, check), status, "%s is %s, not %s",
	    vfy_check_name(check), vfy_status_name(vfy_report_status(r, check)),
	    vfy_status_name(status));
}

static void
expect_all_pass_but(const struct vfy_report *r, int except)
{
	int c;

	for (c = 0; c < VFY_NCHECKS; c++)
		if (c != except)
			expect_status(r, c, VFY_PASS);
}

/* file helpers */
static void
put(const char *dir, const char *rel, const void *p, size_t n)
{
	char *path = join(dir, rel), *slash = strrchr(path, '/');

	*slash = '\0';
	cr_assert_eq(atr_mkdirs(path), ATR_OK);
	*slash = '/';
	cr_assert_eq(tu_write_file(path, p, n), 0, "%s", path);
	free(path);
}

static void
copy(const char *from, const char *to)
{
	size_t n;
	uint8_t *b = tu_read_file(from, &n);

	cr_assert_not_null(b, "%s", from);
	cr_assert_eq(tu_write_file(to, b, n), 0, "%s", to);
	free(b);
}

static void
flip(const char *path, long off)
{
	size_t n;
	uint8_t *b = tu_read_file(path, &n);

	cr_assert_not_null(b);
	if (off < 0)
		off += (long)n;
	cr_assert((size_t)off < n);
	b[off] ^= 0x10;
	cr_assert_eq(tu_write_file(path, b, n), 0);
	free(b);
}

static void
encrypt_one(struct fx *f, const char *plain_rel, const char *store_rel,
    struct atr_key **keys, size_t n)
{
	char *in = join(f->plain, plain_rel), *out = join(f->store, store_rel);
	char *slash = strrchr(out, '/');

	*slash = '\0';
	cr_assert_eq(atr_mkdirs(out), ATR_OK);
	*slash = '/';
	cr_assert_eq(vfy_fixture_encrypt_file(in, out, keys, n, NULL, FS),
	    ATR_OK, "%s", atr_detail());
	free(in);
	free(out);
}

/* ---- the clean store --------------------------------------------------- */

Test(clean, every_check_passes)
{
	struct fx f;
	struct vfy_report *r;

	fx_init(&f, ATR_KIND_DIRECT);
	r = fx_run(&f);
	expect_all_pass_but(r, -1);
	cr_assert_eq(vfy_report_exit(r), 0);
	/* The checks did work, not nothing. */
	cr_assert_gt(vfy_report_stat(r, "envelope.files"), 15);
	cr_assert_eq(vfy_report_stat(r, "decrypt.opened"),
	    vfy_report_stat(r, "envelope.files"));
	cr_assert_eq(vfy_report_stat(r, "decrypt.manifest_verified"),
	    (int64_t)vfy_manifest_count(f.m));
	cr_assert_gt(vfy_report_stat(r, "decrypt.frames"),
	    vfy_report_stat(r, "decrypt.opened"), "multi-frame objects");
	cr_assert_eq(vfy_report_stat(r, "negative.impostor_attempts"),
	    vfy_report_stat(r, "decrypt.opened"));
	cr_assert_eq(vfy_report_stat(r, "negative.control_attempts"),
	    vfy_report_stat(r, "decrypt.opened"));
	cr_assert_gt(vfy_report_stat(r, "tamper.mutations"), 100);
	cr_assert_eq(vfy_report_stat(r, "tamper.rejected"),
	    vfy_report_stat(r, "tamper.mutations"));
	cr_assert_eq(vfy_report_stat(r, "tamper.header_objects"),
	    vfy_report_stat(r, "decrypt.opened"));
	cr_assert_gt(vfy_report_stat(r, "plaintext.shingles_sampled"), 10);
	cr_assert_eq(vfy_report_stat(r, "plaintext.keys_tracked"),
	    vfy_report_stat(r, "decrypt.opened"));
	cr_assert_gt(vfy_report_stat(r, "plaintext.canaries"), 5);
	cr_assert_gt(vfy_report_stat(r, "plaintext.bytes_rescanned"), 0);
	cr_assert_eq(vfy_report_stat(r, "uniqueness.objects"),
	    vfy_report_stat(r, "decrypt.opened"));
	cr_assert_eq(vfy_report_stat(r, "rotation.objects_on_current_key"),
	    vfy_report_stat(r, "decrypt.opened"));
	vfy_report_free(r);
	fx_free(&f);
}

Test(clean, cached_and_intermediate_hierarchies_pass)
{
	int kind;

	for (kind = ATR_KIND_SHARED; kind <= ATR_KIND_INTERMEDIATE; kind++) {
		struct fx f;
		struct vfy_report *r;

		fx_init(&f, kind);
		r = fx_run(&f);
		expect_all_pass_but(r, -1);
		if (kind == ATR_KIND_SHARED) {
			/* by design: reported distinctly, as info */
			expect_code(r, "uniqueness.shared-dek");
			cr_assert_eq(vfy_report_stat(r, "uniqueness.cached_deks"), 1);
			cr_assert_eq(vfy_report_stat(r,
			    "uniqueness.cached_dek_objects"),
			    vfy_report_stat(r, "decrypt.opened"));
			cr_assert_eq(vfy_report_stat(r,
			    "uniqueness.max_wraps_per_kek"), 1, "one wrap per share");
		} else {
			cr_assert_not(vfy_report_has(r, "uniqueness.shared-dek"));
			cr_assert_eq(vfy_report_stat(r,
			    "plaintext.keys_tracked"),
			    2 * vfy_report_stat(r, "decrypt.opened"),
			    "DEK and intermediate key per object");
		}
		vfy_report_free(r);
		fx_free(&f);
	}
}

/* ---- one defect per check ---------------------------------------------- */

Test(envelope, unencrypted_and_malformed_files_fail)
{
	struct fx f;
	struct vfy_report *r;
	uint8_t junk[3000];
	char *victim, *bad;

	fx_init(&f, ATR_KIND_DIRECT);
	cr_assert_eq(atr_random(junk, sizeof(junk)), ATR_OK);
	put(f.store, "blobs/export.bin", junk, sizeof(junk));
	/* an envelope cut inside its header */
	victim = join(f.store, "blobs/blob-000.bin");
	bad = join(f.store, "blobs/cut.bin");
	{
		size_t n;
		uint8_t *b = tu_read_file(victim, &n);

		cr_assert_not_null(b);
		cr_assert_eq(tu_write_file(bad, b, 100), 0);
		free(b);
	}
	put(f.store, "empty.dat", "", 0);
	{
		char *l = join(f.store, "link");

		cr_assert_eq(symlink("/etc/hostname", l), 0);
		free(l);
	}
	r = fx_run(&f);
	expect_status(r, VFY_ENVELOPE, VFY_FAILED);
	expect_code(r, "envelope.not-envelope");
	expect_code(r, "envelope.malformed");
	expect_code(r, "envelope.empty-file");
	expect_code(r, "envelope.symlink");
	cr_assert_eq(vfy_report_stat(r, "envelope.not_envelope"), 1);
	cr_assert_eq(vfy_report_stat(r, "envelope.symlinks"), 1);
	cr_assert_eq(vfy_report_exit(r), 1);
	vfy_report_free(r);
	free(victim);
	free(bad);
	fx_free(&f);
}

Test(recipients, foreign_and_smk_only_objects_fail)
{
	struct fx f;
	struct vfy_report *r;
	struct atr_key *both[2], *smk[1], *allowed[2];

	fx_init(&f, ATR_KIND_DIRECT);
	both[0] = f.cmk;
	both[1] = f.other;
	encrypt_one(&f, "patients/patient-0000.csv", "patients/patient-0000.csv",
	    both, 2);
	smk[0] = f.smk;
	encrypt_one(&f, "journeys/journey-0000.csv", "journeys/journey-0000.csv",
	    smk, 1);
	allowed[0] = f.cmk;
	allowed[1] = f.smk;
	r = fx_run_keys(&f, allowed, 2, f.ctl);
	expect_status(r, VFY_RECIPIENTS, VFY_FAILED);
	expect_code(r, "recipients.foreign");
	expect_code(r, "recipients.smk-only");
	cr_assert_eq(vfy_report_stat(r, "recipients.foreign_stanzas"), 1);
	cr_assert_eq(vfy_report_stat(r, "recipients.smk_only_objects"), 1);
	/* SMK in the allowed set is itself flagged */
	expect_code(r, "policy.key-smk");
	vfy_report_free(r);
	/* with the CMK alone, the SMK object has no configured recipient */
	r = fx_run(&f);
	expect_code(r, "recipients.not-configured");
	expect_code(r, "decrypt.no-key");
	vfy_report_free(r);
	fx_free(&f);
}

Test(recipients, require_all_keys)
{
	struct fx f;
	struct vfy_report *r;
	struct atr_key *both[2];

	fx_init(&f, ATR_KIND_DIRECT);
	both[0] = f.cmk;
	both[1] = f.old;
	f.pol.require_keys = VFY_REQ_ALL;
	r = fx_run_keys(&f, both, 2, f.ctl);
	expect_status(r, VFY_RECIPIENTS, VFY_FAILED);
	expect_code(r, "recipients.missing-key");
	vfy_report_free(r);
	fx_free(&f);
}

Test(decrypt, tampered_lost_and_changed_objects_fail)
{
	struct fx f;
	struct vfy_report *r;
	char *p, *pl;
	struct atr_key *ks[1];

	fx_init(&f, ATR_KIND_DIRECT);
	p = join(f.store, "journeys/journey-0001.json");
	flip(p, -40);       /* a ciphertext byte of the last frame */
	free(p);
	p = join(f.store, "patients/patient-0001.json");
	cr_assert_eq(unlink(p), 0);
	free(p);
	/* a plaintext that is not the one the manifest lists */
	pl = join(f.plain, "patients/patient-0000.json");
	flip(pl, 5);
	ks[0] = f.cmk;
	encrypt_one(&f, "patients/patient-0000.json",
	    "patients/patient-0000.json", ks, 1);
	free(pl);
	r = fx_run(&f);
	expect_status(r, VFY_DECRYPT, VFY_FAILED);
	expect_code(r, "decrypt.auth-failed");
	expect_code(r, "decrypt.missing");
	expect_code(r, "decrypt.digest-mismatch");
	cr_assert_eq(vfy_report_stat(r, "decrypt.manifest_missing"), 1);
	cr_assert_eq(vfy_report_stat(r, "decrypt.manifest_mismatch"), 1);
	cr_assert_eq(vfy_report_stat(r, "decrypt.auth_failed"), 1);
	/* The tampered object's header opened, its frame did not: it is
	 * opened but not proven (the summary's proven_by_decryption). */
	cr_assert_eq(vfy_report_stat(r, "decrypt.proven"),
	    vfy_report_stat(r, "decrypt.opened") - 1);
	cr_assert_gt(vfy_report_stat(r, "decrypt.proven"), 0);
	cr_assert_eq(vfy_report_exit(r), 1);
	vfy_report_free(r);
	fx_free(&f);
}

Test(decrypt, unlisted_objects_warn)
{
	struct fx f;
	struct vfy_report *r;
	struct atr_key *ks[1];

	fx_init(&f, ATR_KIND_DIRECT);
	ks[0] = f.cmk;
	encrypt_one(&f, "edge/frame.dat", "extra/new.dat", ks, 1);
	r = fx_run(&f);
	expect_status(r, VFY_DECRYPT, VFY_WARNED);
	expect_code(r, "decrypt.unlisted");
	cr_assert_eq(vfy_report_exit(r), 0, "warnings do not fail");
	vfy_report_free(r);
	fx_free(&f);
}

Test(negative, a_control_key_that_opens_an_object_fails)
{
	struct fx f;
	struct vfy_report *r;
	struct atr_key *both[2];

	fx_init(&f, ATR_KIND_DIRECT);
	both[0] = f.cmk;
	both[1] = f.ctl;
	encrypt_one(&f, "blobs/blob-001.bin", "blobs/blob-001.bin", both, 2);
	r = fx_run(&f);
	expect_status(r, VFY_NEGATIVE, VFY_FAILED);
	expect_code(r, "negative.opened");
	cr_assert_eq(vfy_report_stat(r, "negative.control_opened"), 1);
	/* the impostor unwraps with the given control key too */
	expect_code(r, "negative.impostor-opened");
	vfy_report_free(r);
	fx_free(&f);
}

Test(negative, generated_controls_open_nothing)
{
	struct fx f;
	struct vfy_report *r;
	struct atr_key *ks[2];

	fx_init(&f, ATR_KIND_DIRECT);
	ks[0] = f.cmk;
	ks[1] = f.smk;
	encrypt_one(&f, "edge/size-1.dat", "edge/size-1.dat", ks + 1, 1);
	f.pol.require_cmk = 0;
	/* no given control: RSA-3072 and AES controls are generated */
	r = fx_run_keys(&f, ks, 2, NULL);
	expect_status(r, VFY_NEGATIVE, VFY_PASS);
	cr_assert_eq(vfy_report_stat(r, "negative.impostor_attempts"),
	    vfy_report_stat(r, "decrypt.opened"));
	cr_assert_eq(vfy_report_stat(r, "negative.impostor_opened"), 0);
	vfy_report_free(r);
	fx_free(&f);
}

Test(negative, drill_without_a_vault_key_says_so)
{
	struct fx f;
	struct vfy_report *r;

	fx_init(&f, ATR_KIND_DIRECT);
	f.drill = 1;
	r = fx_run(&f);
	expect_code(r, "negative.revocation-unavailable");
	expect_status(r, VFY_NEGATIVE, VFY_WARNED);
	vfy_report_free(r);
	fx_free(&f);
}

Test(plaintext, copies_canaries_and_leaked_keys_fail)
{
	struct fx f;
	struct vfy_report *r;
	struct atr_key *ks[2];
	char *from, *to, kid[128];
	const struct vfy_mentry *e;

	fx_init(&f, ATR_KIND_DIRECT);
	/* a plaintext copy left behind by a job */
	from = join(f.plain, "patients/patient-0001.csv");
	to = join(f.store, "patients/.patient-0001.csv.swp");
	copy(from, to);
	free(from);
	free(to);
	/* a broken provider: its "wrap" is the identity and its key id
	 * carries a canary */
	e = vfy_manifest_entry(f.m, 0);
	cr_assert(e->ncanaries > 0);
	snprintf(kid, sizeof(kid), "pkcs11:object=%s", e->canaries[0]);
	ks[0] = f.cmk;
	ks[1] = tl_leaky_key(kid);
	cr_assert_not_null(ks[1]);
	encrypt_one(&f, "edge/two-frames.dat", "edge/two-frames.dat", ks, 2);
	atr_key_free(ks[1]);
	r = fx_run(&f);
	expect_status(r, VFY_PLAINTEXT, VFY_FAILED);
	expect_code(r, "plaintext.canary");
	expect_code(r, "plaintext.shingle");
	expect_code(r, "plaintext.dek");
	expect_code(r, "plaintext.not-random");
	cr_assert_eq(vfy_report_stat(r, "plaintext.key_hits"), 1);
	vfy_report_free(r);
	fx_free(&f);
}

Test(plaintext, findings_give_offsets_not_content)
{
	struct fx f;
	struct vfy_report *r;
	const struct vfy_mentry *e;
	char buf[400];
	size_t i;
	int c;

	fx_init(&f, ATR_KIND_DIRECT);
	for (i = 0; (e = vfy_manifest_entry(f.m, i)) != NULL; i++)
		if (e->ncanaries > 0 && strncmp(e->path, "journeys/", 9) == 0)
			break;
	cr_assert_not_null(e);
	memset(buf, '#', sizeof(buf));
	memcpy(buf + 123, e->canaries[0], strlen(e->canaries[0]));
	put(f.store, "logs/debug.log", buf, sizeof(buf));
	r = fx_run(&f);
	expect_code(r, "plaintext.canary");
	for (c = 0; c < VFY_NCHECKS; c++)
		for (i = 0; i < r->checks[c].f.n; i++) {
			const struct vfy_finding *x = &r->checks[c].f.v[i];

			cr_assert_null(strstr(x->message, e->canaries[0]),
			    "%s reveals the canary", x->code);
			if (strcmp(x->code, "plaintext.canary") == 0)
				cr_assert_eq(x->offset, 123);
		}
	vfy_report_free(r);
	fx_free(&f);
}

static enum atr_err
lenient_frame(struct atr_dec *d, uint64_t index, int final, const uint8_t *in,
    size_t in_len, uint8_t *out)
{
	enum atr_err e = atr_dec_frame(d, index, final, in, in_len, out);

	/* The planted defect: a decryptor that ignores a failed tag. */
	return e == ATR_ERR_AUTH || e == ATR_ERR_FORMAT ? ATR_OK : e;
}

Test(tamper, a_decryptor_that_ignores_tags_fails)
{
	static const struct vfy_decryptor broken = {
		atr_dec_new, lenient_frame, atr_dec_free,
	};
	struct fx f;
	struct vfy_report *r;

	fx_init(&f, ATR_KIND_DIRECT);
	f.dec = &broken;
	r = fx_run(&f);
	expect_status(r, VFY_TAMPER, VFY_FAILED);
	expect_code(r, "tamper.accepted");
	cr_assert_gt(vfy_report_stat(r, "tamper.accepted"), 0);
	/* the genuine data still decrypts: only tamper fails */
	expect_status(r, VFY_DECRYPT, VFY_PASS);
	vfy_report_free(r);
	fx_free(&f);
}

/* ---- a credential refused mid-run (issue 12) ---- */

static atomic_int refuse_after;

/* The key service stops accepting the credential after refuse_after
 * unwraps, as when a token can no longer be renewed. */
static enum atr_err
refusing_new(const struct atr_header *h, struct atr_key *const *keys,
    size_t nkeys, const struct atr_dec_opts *aad, struct atr_dec **d,
    size_t *used, size_t *stanza)
{
	if (atomic_fetch_sub(&refuse_after, 1) <= 0)
		return atr_fail(ATR_ERR_UNAUTHORIZED, "ClientSecretCredential: "
		    "test refusal");
	return atr_dec_new(h, keys, nkeys, aad, d, used, stanza);
}

Test(halt, a_refused_credential_stops_the_run_once)
{
	static const struct vfy_decryptor refusing = {
		refusing_new, atr_dec_frame, atr_dec_free,
	};
	struct fx f;
	struct vfy_report *r;

	fx_init(&f, ATR_KIND_DIRECT);
	f.pol.tamper_header_sample = 0;
	atomic_store(&refuse_after, 3);
	f.dec = &refusing;
	r = fx_run(&f);
	cr_assert_eq(vfy_report_exit(r), 2);
	cr_assert_not_null(vfy_report_halted(r));
	cr_assert_str_eq(vfy_report_halted(r),
	    "ClientSecretCredential: test refusal");
	cr_assert(!vfy_report_has(r, "decrypt.key-service"),
	    "a finding per object");
	cr_assert(!vfy_report_has(r, "decrypt.missing"),
	    "objects not reached reported missing");
	/* Stopped at the refusal: not every object was opened. */
	cr_assert_leq(vfy_report_stat(r, "decrypt.opened"), 3);
	vfy_report_free(r);
	fx_free(&f);
}

/* Refuses the credential exactly when an unwrap would fail: the tamper
 * check's flipped header bits. */
static enum atr_err
refusing_on_auth(const struct atr_header *h, struct atr_key *const *keys,
    size_t nkeys, const struct atr_dec_opts *aad, struct atr_dec **d,
    size_t *used, size_t *stanza)
{
	enum atr_err e = atr_dec_new(h, keys, nkeys, aad, d, used, stanza);

	return e == ATR_ERR_AUTH ? atr_fail(ATR_ERR_UNAUTHORIZED,
	    "ClientSecretCredential: test refusal") : e;
}

Test(halt, a_refusal_is_no_tamper_rejection)
{
	static const struct vfy_decryptor refusing = {
		refusing_on_auth, atr_dec_frame, atr_dec_free,
	};
	struct fx f;
	struct vfy_report *r;

	fx_init(&f, ATR_KIND_DIRECT);
	f.dec = &refusing;
	r = fx_run(&f);
	/* Counted as a rejected tamper, it would be a PASS without
	 * evidence: the run stops instead. */
	cr_assert_not_null(vfy_report_halted(r));
	cr_assert_eq(vfy_report_stat(r, "tamper.accepted"), 0);
	cr_assert_eq(vfy_report_exit(r), 2);
	vfy_report_free(r);
	fx_free(&f);
}

Test(uniqueness, a_copied_object_reuses_id_nonce_and_dek)
{
	struct fx f;
	struct vfy_report *r;
	char *a, *b;

	fx_init(&f, ATR_KIND_DIRECT);
	a = join(f.store, "blobs/blob-000.bin");
	b = join(f.store, "blobs/blob-000.bin.bak");
	copy(a, b);
	r = fx_run(&f);
	expect_status(r, VFY_UNIQUENESS, VFY_FAILED);
	expect_code(r, "uniqueness.object-id");
	expect_code(r, "uniqueness.nonce-reuse");
	expect_code(r, "uniqueness.dek-reuse");
	cr_assert_eq(vfy_report_stat(r, "uniqueness.duplicate_object_ids"), 1);
	vfy_report_free(r);
	free(a);
	free(b);
	fx_free(&f);
}

Test(uniqueness, shared_dek_and_wrap_limits_follow_the_policy)
{
	struct fx f;
	struct vfy_report *r;

	fx_init(&f, ATR_KIND_SHARED);
	f.pol.max_objects_per_shared_dek = 2;
	r = fx_run(&f);
	expect_status(r, VFY_UNIQUENESS, VFY_FAILED);
	expect_code(r, "uniqueness.shared-dek");
	vfy_report_free(r);
	fx_free(&f);

	fx_init(&f, ATR_KIND_DIRECT);
	f.pol.kek_max_wraps = 3;
	r = fx_run(&f);
	expect_status(r, VFY_UNIQUENESS, VFY_FAILED);
	expect_code(r, "uniqueness.kek-wraps");
	vfy_report_free(r);
	fx_free(&f);
}

Test(policy, rsa_2048_warns_by_default_and_fails_when_required)
{
	struct fx f;
	struct vfy_report *r;
	struct atr_key *ks[1];

	fx_init(&f, ATR_KIND_DIRECT);
	tu_rmtree(f.store);
	ks[0] = f.old;
	cr_assert_eq(vfy_fixture_encrypt_tree(f.plain, f.store, ks, 1, 0, FS),
	    ATR_OK);
	r = fx_run_keys(&f, ks, 1, f.ctl);
	expect_status(r, VFY_POLICY, VFY_WARNED);
	expect_code(r, "policy.rsa-size");
	expect_code(r, "policy.key-rsa-size");
	cr_assert_eq(vfy_report_exit(r), 0);
	vfy_report_free(r);
	f.pol.rsa_error_below = 3072;
	r = fx_run_keys(&f, ks, 1, f.ctl);
	expect_status(r, VFY_POLICY, VFY_FAILED);
	cr_assert_eq(vfy_report_exit(r), 1);
	vfy_report_free(r);
	fx_free(&f);
}

Test(rotation, stale_versions_fail_only_when_required)
{
	struct fx f;
	struct vfy_report *r;
	struct atr_key *ks[2];

	fx_init(&f, ATR_KIND_DIRECT);
	ks[0] = f.old;
	encrypt_one(&f, "journeys/journey-0000.json",
	    "journeys/journey-0000.json", ks, 1);
	encrypt_one(&f, "journeys/journey-0001.json",
	    "journeys/journey-0001.json", ks, 1);
	ks[0] = f.cmk;
	ks[1] = f.old;
	r = fx_run_keys(&f, ks, 2, f.ctl);
	expect_status(r, VFY_ROTATION, VFY_PASS);
	expect_code(r, "rotation.old-version");
	vfy_report_free(r);
	f.pol.current_only = 1;
	r = fx_run_keys(&f, ks, 2, f.ctl);
	expect_status(r, VFY_ROTATION, VFY_FAILED);
	expect_code(r, "rotation.stale");
	cr_assert_eq(vfy_report_stat(r, "rotation.stale_objects"), 2);
	cr_assert_eq(vfy_report_count_code(r, "rotation.stale"), 2);
	vfy_report_free(r);
	fx_free(&f);
}

Test(rotation, min_version_needs_a_vault_key)
{
	struct fx f;
	struct vfy_config c;
	struct vfy_report *r = NULL;
	struct atr_key *ks[1];
	const char *stores[1];

	fx_init(&f, ATR_KIND_DIRECT);
	snprintf(f.pol.min_version, sizeof(f.pol.min_version), "v2");
	memset(&c, 0, sizeof(c));
	ks[0] = f.cmk;
	stores[0] = f.store;
	c.stores = stores;
	c.nstores = 1;
	c.keys = ks;
	c.nkeys = 1;
	c.policy = &f.pol;
	cr_assert_eq(vfy_run(&c, &r), ATR_ERR_CONFIG);
	cr_assert_null(r);
	cr_assert(strstr(atr_detail(), "Key Vault") != NULL, "%s",
	    atr_detail());
	fx_free(&f);
}

/* ---- report caps, order and workers ------------------------------------ */

Test(report, caps_keep_the_first_findings_and_count_all)
{
	struct fx f;
	struct vfy_report *r;
	uint8_t junk[64];
	char rel[64];
	int i;

	fx_init(&f, ATR_KIND_DIRECT);
	memset(junk, 0xab, sizeof(junk));
	for (i = 0; i < 7; i++) {
		snprintf(rel, sizeof(rel), "junk/j%d.bin", 6 - i);
		put(f.store, rel, junk, sizeof(junk));
	}
	f.pol.max_findings = 2;
	r = fx_run(&f);
	cr_assert_eq(vfy_report_count(r, VFY_ENVELOPE, VFY_ERROR), 7);
	cr_assert_eq(r->checks[VFY_ENVELOPE].f.n, 2);
	cr_assert_str_eq(r->checks[VFY_ENVELOPE].f.v[0].subject, "junk/j0.bin");
	cr_assert_str_eq(r->checks[VFY_ENVELOPE].f.v[1].subject, "junk/j1.bin");
	vfy_report_free(r);
	fx_free(&f);
}

/* The JSON of a report without its "run" object (timing, workers). */
static cJSON *
json_of(const struct vfy_report *r, const char *path)
{
	uint8_t *buf;
	cJSON *j;

	cr_assert_eq(vfy_write_json(r, path), ATR_OK, "%s", atr_detail());
	buf = tu_read_file(path, NULL);
	cr_assert_not_null(buf);
	j = cJSON_Parse((char *)buf);
	cr_assert_not_null(j, "invalid JSON in %s", path);
	free(buf);
	cJSON_DeleteItemFromObjectCaseSensitive(j, "run");
	return j;
}

static unsigned
shard_of(const char *rel)
{
	unsigned k;

	for (k = 1; k <= 3; k++)
		if (vfy_in_shard(rel, k, 3))
			return k;
	return 0;
}

static void
plant_mixed_defects(struct fx *f)
{
	uint8_t junk[2000];
	char *a, *b, name[64];
	int i;
	struct atr_key *smk[1] = {f->smk};

	cr_assert_eq(atr_random(junk, sizeof(junk)), ATR_OK);
	put(f->store, "blobs/raw.bin", junk, sizeof(junk));
	encrypt_one(f, "edge/frame.dat", "edge/frame.dat", smk, 1);
	a = join(f->store, "patients/patient-0000.csv");
	/* a copy that lands in another shard of three than its original */
	for (i = 0; i < 100; i++) {
		snprintf(name, sizeof(name), "copies/c%d.csv", i);
		if (shard_of(name) != shard_of("patients/patient-0000.csv"))
			break;
	}
	cr_assert_lt(i, 100);
	b = join(f->store, name);
	put(f->store, name, "", 0);
	copy(a, b);
	free(a);
	free(b);
	a = join(f->store, "journeys/journey-0000.json");
	cr_assert_eq(unlink(a), 0);
	free(a);
}

Test(report, same_report_with_one_or_two_workers)
{
	struct fx f;
	struct vfy_report *r1, *r2;
	cJSON *a, *b;
	char *p1, *p2;

	fx_init(&f, ATR_KIND_DIRECT);
	plant_mixed_defects(&f);
	p1 = join(f.dir, "r1.json");
	p2 = join(f.dir, "r2.json");
	f.jobs = 1;
	r1 = fx_run(&f);
	f.jobs = 2;
	r2 = fx_run(&f);
	a = json_of(r1, p1);
	b = json_of(r2, p2);
	cr_assert(cJSON_Compare(a, b, 1), "reports differ with 1 and 2 workers");
	cJSON_Delete(a);
	cJSON_Delete(b);
	vfy_report_free(r1);
	vfy_report_free(r2);
	free(p1);
	free(p2);
	fx_free(&f);
}

Test(report, json_has_the_documented_fields)
{
	struct fx f;
	struct vfy_report *r;
	cJSON *j, *checks, *c, *fi, *sum;
	char *p;
	int n = 0, total_err = 0;

	fx_init(&f, ATR_KIND_DIRECT);
	plant_mixed_defects(&f);
	r = fx_run(&f);
	p = join(f.dir, "r.json");
	j = json_of(r, p);
	cr_assert_str_eq(cJSON_GetObjectItem(j, "schema")->valuestring,
	    "atrest-verify/1");
	cr_assert(cJSON_IsObject(cJSON_GetObjectItem(j, "config")));
	cr_assert(cJSON_IsObject(cJSON_GetObjectItem(cJSON_GetObjectItem(j,
	    "config"), "policy")));
	sum = cJSON_GetObjectItem(j, "summary");
	cr_assert_str_eq(cJSON_GetObjectItem(sum, "status")->valuestring, "fail");
	cr_assert_eq(cJSON_GetObjectItem(sum, "exit_code")->valueint, 1);
	checks = cJSON_GetObjectItem(j, "checks");
	cr_assert(cJSON_IsArray(checks));
	cJSON_ArrayForEach(c, checks) {
		const char *id = cJSON_GetObjectItem(c, "id")->valuestring;
		const char *st = cJSON_GetObjectItem(c, "status")->valuestring;
		int errs = cJSON_GetObjectItem(c, "errors")->valueint, k = 0;

		cr_assert_str_eq(id, vfy_check_name(n), "checks in order");
		cr_assert(strcmp(st, "pass") == 0 || strcmp(st, "fail") == 0 ||
		    strcmp(st, "warn") == 0 || strcmp(st, "skip") == 0);
		cr_assert_eq(strcmp(st, "fail") == 0, errs > 0);
		cr_assert(cJSON_IsObject(cJSON_GetObjectItem(c, "stats")));
		cJSON_ArrayForEach(fi, cJSON_GetObjectItem(c, "findings")) {
			const char *code = cJSON_GetObjectItem(fi, "code")->valuestring;
			const char *sev = cJSON_GetObjectItem(fi,
			    "severity")->valuestring;

			cr_assert_eq(vfy_code_check(code), n, "%s under %s", code, id);
			cr_assert(strcmp(sev, "error") == 0 ||
			    strcmp(sev, "warning") == 0 || strcmp(sev, "info") == 0);
			cr_assert(cJSON_IsString(cJSON_GetObjectItem(fi,
			    "message")));
			if (cJSON_GetObjectItem(fi, "store")->valueint >= 0)
				cr_assert(strncmp(cJSON_GetObjectItem(fi,
				    "path")->valuestring, f.store,
				    strlen(f.store)) == 0);
			if (strcmp(sev, "error") == 0)
				k++;
		}
		cr_assert_eq(k, errs, "%s: kept errors = counted errors", id);
		total_err += errs;
		n++;
	}
	cr_assert_eq(n, VFY_NCHECKS);
	cr_assert_eq(cJSON_GetObjectItem(sum, "errors")->valueint, total_err);
	cr_assert(cJSON_IsArray(cJSON_GetObjectItem(j, "coverage")));
	cr_assert_null(cJSON_GetObjectItem(j, "shard_data"));
	cJSON_Delete(j);
	vfy_report_free(r);
	free(p);
	fx_free(&f);
}

/* A small XML well-formedness check: tags nest and match, attributes
 * are quoted, text has no raw '<' and only the five entities. */
static int
xml_well_formed(const char *s, int *ntestcase, int *nfailure)
{
	char stack[32][64];
	int depth = 0;

	*ntestcase = *nfailure = 0;
	if (strncmp(s, "<?xml ", 6) != 0)
		return 0;
	s = strstr(s, "?>");
	if (s == NULL)
		return 0;
	s += 2;
	while (*s) {
		if (*s == '&') {
			if (strncmp(s, "&amp;", 5) && strncmp(s, "&lt;", 4) &&
			    strncmp(s, "&gt;", 4) && strncmp(s, "&quot;", 6) &&
			    strncmp(s, "&apos;", 6))
				return 0;
			s++;
		} else if (*s == '>') {
			return 0;
		} else if (*s == '<') {
			const char *e = s + 1;
			char name[64];
			size_t n;
			int closing = *e == '/';

			if (closing)
				e++;
			n = strspn(e, "abcdefghijklmnopqrstuvwxyz-_:");
			if (n == 0 || n >= sizeof(name))
				return 0;
			memcpy(name, e, n);
			name[n] = '\0';
			e += n;
			while (*e && *e != '>' && *e != '/') {
				if (*e == '"') {
					e = strchr(e + 1, '"');
					if (e == NULL)
						return 0;
				} else if (*e == '<' || *e == '\'') {
					return 0;
				}
				e++;
			}
			if (closing) {
				if (*e != '>' || depth == 0 ||
				    strcmp(stack[depth - 1], name) != 0)
					return 0;
				depth--;
			} else if (*e == '/') {
				if (e[1] != '>')
					return 0;
				e++;
			} else if (*e == '>') {
				if (depth == 32)
					return 0;
				snprintf(stack[depth++], sizeof(stack[0]), "%s", name);
			} else {
				return 0;
			}
			if (!closing && strcmp(name, "testcase") == 0)
				(*ntestcase)++;
			if (!closing && strcmp(name, "failure") == 0)
				(*nfailure)++;
			s = e + 1;
		} else {
			s++;
		}
	}
	return depth == 0;
}

Test(report, junit_is_well_formed_xml)
{
	struct fx f;
	struct vfy_report *r;
	char *p, *err;
	uint8_t *x;
	int tc, fl, c, failed = 0;

	fx_init(&f, ATR_KIND_DIRECT);
	plant_mixed_defects(&f);
	put(f.store, "odd/<&>\"'.txt", "x & y < z", 9);
	r = fx_run(&f);
	p = join(f.dir, "r.xml");
	cr_assert_eq(vfy_write_junit(r, p), ATR_OK);
	x = tu_read_file(p, NULL);
	cr_assert_not_null(x);
	cr_assert(xml_well_formed((char *)x, &tc, &fl), "not well-formed:\n%s",
	    (char *)x);
	for (c = 0; c < VFY_NCHECKS; c++)
		failed += vfy_report_status(r, c) == VFY_FAILED;
	cr_assert_eq(tc, VFY_NCHECKS, "one testcase per check");
	cr_assert_eq(fl, failed);
	cr_assert(strstr((char *)x, "envelope.not-envelope") != NULL,
	    "failures carry the findings");
	if (access("/usr/bin/xmllint", X_OK) == 0) {
		const char *argv[] = {"/usr/bin/xmllint", "--noout", p, NULL};
		struct tu_run_opts o = {0};

		err = join(f.dir, "xmllint.err");
		o.stderr_path = err;
		cr_assert_eq(tu_run(argv, &o), 0, "xmllint rejects the report");
		free(err);
	}
	free(x);
	free(p);
	vfy_report_free(r);
	fx_free(&f);
}

Test(shard, merged_shards_equal_one_run)
{
	struct fx f;
	struct vfy_report *full, *sh[3], *loaded[3], *m = NULL;
	uint8_t fk[32];
	char *pf, *pm, *ps[3], name[32];
	cJSON *a, *b;
	unsigned k;
	int64_t files = 0;

	fx_init(&f, ATR_KIND_DIRECT);
	plant_mixed_defects(&f);
	cr_assert_eq(atr_random(fk, sizeof(fk)), ATR_OK);
	f.fpk = fk;
	full = fx_run(&f);
	expect_code(full, "uniqueness.object-id");
	for (k = 1; k <= 3; k++) {
		f.shard_k = k;
		f.shard_n = 3;
		sh[k - 1] = fx_run(&f);
		files += vfy_report_stat(sh[k - 1], "envelope.files");
		snprintf(name, sizeof(name), "shard-%u.json", k);
		ps[k - 1] = join(f.dir, name);
		cr_assert_eq(vfy_write_json(sh[k - 1], ps[k - 1]), ATR_OK);
		/* through the JSON, as `verify merge` reads them */
		cr_assert_eq(vfy_report_load(ps[k - 1], &loaded[k - 1]), ATR_OK,
		    "%s", atr_detail());
	}
	cr_assert_eq(files, vfy_report_stat(full, "envelope.files"),
	    "the shards partition the store");
	/* the duplicate spans two shards: no single shard sees it */
	for (k = 0; k < 3; k++)
		cr_assert_not(vfy_report_has(sh[k], "uniqueness.object-id"));
	cr_assert_eq(vfy_merge(loaded, 3, &m), ATR_OK, "%s", atr_detail());
	expect_code(m, "uniqueness.object-id");
	pf = join(f.dir, "full.json");
	pm = join(f.dir, "merged.json");
	a = json_of(full, pf);
	b = json_of(m, pm);
	if (!cJSON_Compare(a, b, 1)) {
		char *x = cJSON_Print(a), *y = cJSON_Print(b);

		fprintf(stderr, "FULL:\n%s\nMERGED:\n%s\n", x, y);
		free(x);
		free(y);
	}
	cr_assert(cJSON_Compare(a, b, 1), "merged report differs from one run");
	cr_assert_eq(vfy_report_exit(m), vfy_report_exit(full));
	/* a missing or repeated shard is refused */
	vfy_report_free(m);
	m = NULL;
	cr_assert_eq(vfy_merge(loaded, 2, &m), ATR_ERR_USAGE);
	cr_assert(strstr(atr_detail(), "missing") != NULL, "%s", atr_detail());
	{
		struct vfy_report *twice[3] = {loaded[0], loaded[0], loaded[1]};

		cr_assert_eq(vfy_merge(twice, 3, &m), ATR_ERR_USAGE);
	}
	cr_assert_eq(vfy_merge(&full, 1, &m), ATR_ERR_USAGE,
	    "a full report is not a shard");
	cJSON_Delete(a);
	cJSON_Delete(b);
	for (k = 0; k < 3; k++) {
		vfy_report_free(sh[k]);
		vfy_report_free(loaded[k]);
		free(ps[k]);
	}
	vfy_report_free(full);
	free(pf);
	free(pm);
	fx_free(&f);
}

Test(shard, merge_without_a_shared_fingerprint_key_warns)
{
	struct fx f;
	struct vfy_report *sh[2], *m = NULL;
	unsigned k;

	fx_init(&f, ATR_KIND_DIRECT);
	for (k = 1; k <= 2; k++) {
		f.shard_k = k;
		f.shard_n = 2;
		sh[k - 1] = fx_run(&f);
	}
	cr_assert_eq(vfy_merge(sh, 2, &m), ATR_OK, "%s", atr_detail());
	expect_code(m, "uniqueness.dek-unchecked");
	vfy_report_free(m);
	for (k = 0; k < 2; k++)
		vfy_report_free(sh[k]);
	fx_free(&f);
}

/* ---- Key Vault: attributes and the revocation drill -------------------- */

#include "kv_client.h"
#include "kv_server.h"
#include "keys.h"
#include "jwk.h"

struct vx {
	struct atr_kv_server *srv;
	char *dir;
	char url[128];
};

static void
vx_start(struct vx *v, int purge_protection)
{
	struct atr_kv_server_opts o;

	memset(v, 0, sizeof(*v));
	v->dir = tu_tmpdir("verify-kv");
	cr_assert_not_null(v->dir);
	atr_kv_server_opts_init(&o);
	o.listen = "127.0.0.1:0";
	o.state_dir = v->dir;
	o.token_mode = ATR_KV_TOKEN_ANY;
	o.purge_protection = purge_protection;
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

/* Creates NAME in the vault and opens it as a key (versionless URI). */
static struct atr_key *
vx_key(struct vx *v, const char *name, unsigned ops, int64_t exp)
{
	struct atr_kv_client *c = NULL;
	struct atr_kv_create p;
	struct atr_kv_key *info = calloc(1, sizeof(*info));
	struct atr_key *k = NULL;
	char uri[256];

	cr_assert_not_null(info);
	memset(&p, 0, sizeof(p));
	p.kty = "RSA";
	p.size = 3072;
	p.key_ops = ops;
	p.exp = exp;
	cr_assert_eq(atr_kv_client_new(v->url, NULL, &c), ATR_OK, "%s",
	    atr_detail());
	cr_assert_eq(atr_kv_create_key(c, name, &p, info), ATR_OK, "%s",
	    atr_detail());
	atr_kv_client_free(c);
	free(info);
	snprintf(uri, sizeof(uri), "%s/keys/%s", v->url, name);
	cr_assert_eq(atr_key_open(uri, NULL, &k), ATR_OK, "%s", atr_detail());
	return k;
}

static int
vx_enabled(struct atr_key *k)
{
	struct vfy_vault_attrs a;

	cr_assert_eq(vfy_vault_attrs(k, 1, &a), ATR_OK, "%s", atr_detail());
	return a.enabled;
}

static void
fx_vault_store(struct fx *f, struct atr_key *k)
{
	struct atr_key *ks[1] = {k};

	tu_rmtree(f->store);
	cr_assert_eq(vfy_fixture_encrypt_tree(f->plain, f->store, ks, 1, 0, FS),
	    ATR_OK, "%s", atr_detail());
}

Test(vault, a_well_kept_vault_key_passes_and_the_drill_reenables_it,
    .timeout = 180)
{
	struct vx v;
	struct fx f;
	struct vfy_report *r;
	struct atr_key *k, *ks[1];

	vx_start(&v, 1);
	fx_init(&f, ATR_KIND_DIRECT);
	k = vx_key(&v, "cmk", ATR_JWK_WRAP | ATR_JWK_UNWRAP, 0);
	fx_vault_store(&f, k);
	ks[0] = k;
	f.pol.tamper_header_sample = 4;
	r = fx_run_keys(&f, ks, 1, f.ctl);
	expect_all_pass_but(r, -1);
	cr_assert_eq(vfy_report_stat(r, "policy.vault_keys"), 1);
	vfy_report_free(r);
	/* the drill: disabled, nothing opens, enabled again */
	f.drill = 1;
	f.pol.drill_objects = 5;
	r = fx_run_keys(&f, ks, 1, f.ctl);
	expect_status(r, VFY_NEGATIVE, VFY_PASS);
	cr_assert_eq(vfy_report_stat(r, "negative.revocation_attempts"), 5);
	cr_assert_eq(vfy_report_stat(r, "negative.revocation_opened"), 0);
	cr_assert(vx_enabled(k), "the drill left the key disabled");
	vfy_report_free(r);
	atr_key_free(k);
	fx_free(&f);
	vx_stop(&v);
}

Test(vault, a_key_the_caller_disabled_opens_nothing, .timeout = 180)
{
	struct vx v;
	struct fx f;
	struct vfy_report *r;
	struct atr_key *k, *ks[1];

	vx_start(&v, 1);
	fx_init(&f, ATR_KIND_DIRECT);
	k = vx_key(&v, "cmk", ATR_JWK_WRAP | ATR_JWK_UNWRAP, 0);
	fx_vault_store(&f, k);
	cr_assert_eq(vfy_vault_set_enabled(k, 0), ATR_OK, "%s", atr_detail());
	ks[0] = k;
	f.drill = 1;
	r = fx_run_keys(&f, ks, 1, f.ctl);
	expect_status(r, VFY_NEGATIVE, VFY_PASS);
	expect_status(r, VFY_DECRYPT, VFY_SKIPPED);
	cr_assert_eq(vfy_report_stat(r, "negative.revocation_attempts"),
	    vfy_report_stat(r, "envelope.envelopes"));
	cr_assert_eq(vfy_report_stat(r, "negative.revocation_opened"), 0);
	cr_assert_not(vfy_report_has(r, "policy.vault-disabled"));
	cr_assert_not(vx_enabled(k), "the caller's disabled key is left alone");
	vfy_report_free(r);
	atr_key_free(k);
	fx_free(&f);
	vx_stop(&v);
}

Test(vault, loose_key_attributes_fail_the_policy, .timeout = 180)
{
	struct vx v;
	struct fx f;
	struct vfy_report *r;
	struct atr_key *k, *ks[1];

	vx_start(&v, 0);   /* soft delete without purge protection */
	fx_init(&f, ATR_KIND_DIRECT);
	k = vx_key(&v, "loose", ATR_JWK_WRAP | ATR_JWK_UNWRAP |
	    ATR_JWK_ENCRYPT | ATR_JWK_DECRYPT,
	    (int64_t)time(NULL) + 5 * 86400);
	fx_vault_store(&f, k);
	ks[0] = k;
	r = fx_run_keys(&f, ks, 1, f.ctl);
	expect_status(r, VFY_POLICY, VFY_FAILED);
	expect_code(r, "policy.vault-key-ops");
	expect_code(r, "policy.vault-recovery");
	expect_code(r, "policy.vault-expiring");
	/* the data itself is fine */
	expect_status(r, VFY_DECRYPT, VFY_PASS);
	vfy_report_free(r);
	atr_key_free(k);
	fx_free(&f);
	vx_stop(&v);
}

/* ---- STORE arguments --------------------------------------------------- */

Test(stores, a_store_given_through_a_link_is_walked_and_an_empty_one_warns)
{
	struct fx f;
	struct vfy_report *r;
	char *link, *empty, *saved;

	fx_init(&f, ATR_KIND_DIRECT);
	link = join(f.dir, "store-link");
	cr_assert_eq(symlink(f.store, link), 0);
	saved = f.store;
	f.store = link;
	r = fx_run(&f);
	expect_all_pass_but(r, -1);
	cr_assert_gt(vfy_report_stat(r, "decrypt.opened"), 15);
	cr_assert_eq(vfy_report_stat(r, "envelope.symlinks"), 0);
	vfy_report_free(r);
	empty = join(f.dir, "empty");
	cr_assert_eq(mkdir(empty, 0700), 0);
	f.store = empty;
	r = fx_run(&f);
	expect_code(r, "envelope.empty-store");
	expect_status(r, VFY_ENVELOPE, VFY_WARNED);
	/* with a manifest, an empty store is data loss */
	expect_code(r, "decrypt.missing");
	expect_status(r, VFY_RECIPIENTS, VFY_SKIPPED);
	vfy_report_free(r);
	f.store = saved;
	free(link);
	free(empty);
	fx_free(&f);
}

Test(vault, rotation_by_version, .timeout = 180)
{
	struct vx v;
	struct fx f;
	struct vfy_report *r;
	struct atr_key *v1, *all, *v2only, *ks[1];
	struct atr_kv_client *c = NULL;
	struct atr_kv_key *info = calloc(1, sizeof(*info));
	char uri[512], o[300], n[160], ver1[128], ver2[128];

	cr_assert_not_null(info);
	vx_start(&v, 1);
	fx_init(&f, ATR_KIND_DIRECT);
	v1 = vx_key(&v, "cmk", ATR_JWK_WRAP | ATR_JWK_UNWRAP, 0);
	cr_assert_eq(vfy_kid_split(v1->key_id, o, sizeof(o), n, sizeof(n),
	    ver1, sizeof(ver1)), 0);
	/* versions are ordered by their creation time (1 s resolution) */
	sleep(2);
	cr_assert_eq(atr_kv_client_new(v.url, NULL, &c), ATR_OK);
	cr_assert_eq(atr_kv_rotate_key(c, "cmk", info), ATR_OK, "%s",
	    atr_detail());
	atr_kv_client_free(c);
	free(info);
	snprintf(uri, sizeof(uri), "%s/keys/cmk", v.url);
	cr_assert_eq(atr_key_open(uri, NULL, &all), ATR_OK, "%s", atr_detail());
	cr_assert_eq(vfy_kid_split(all->key_id, o, sizeof(o), n, sizeof(n),
	    ver2, sizeof(ver2)), 0);
	cr_assert_str_neq(ver1, ver2);
	fx_vault_store(&f, all);
	ks[0] = v1;
	encrypt_one(&f, "patients/patient-0000.csv", "patients/patient-0000.csv",
	    ks, 1);
	encrypt_one(&f, "journeys/journey-0001.json",
	    "journeys/journey-0001.json", ks, 1);
	/* versionless key: both versions allowed; coverage reports v1,
	 * whose objects would stay readable with only v2 disabled */
	ks[0] = all;
	r = fx_run_keys(&f, ks, 1, f.ctl);
	expect_status(r, VFY_RECIPIENTS, VFY_PASS);
	expect_status(r, VFY_ROTATION, VFY_WARNED);
	expect_code(r, "rotation.old-version");
	expect_code(r, "rotation.readable-after-revoke");
	vfy_report_free(r);
	snprintf(f.pol.min_version, sizeof(f.pol.min_version), "%s", ver2);
	r = fx_run_keys(&f, ks, 1, f.ctl);
	expect_status(r, VFY_ROTATION, VFY_FAILED);
	cr_assert_eq(vfy_report_count_code(r, "rotation.below-min-version"), 2);
	vfy_report_free(r);
	f.pol.min_version[0] = '\0';
	f.pol.current_only = 1;
	r = fx_run_keys(&f, ks, 1, f.ctl);
	cr_assert_eq(vfy_report_count_code(r, "rotation.stale"), 2);
	vfy_report_free(r);
	f.pol.current_only = 0;
	/* a versioned key: the other version is outside the allowed set */
	snprintf(uri, sizeof(uri), "%s/keys/cmk/%s", v.url, ver2);
	cr_assert_eq(atr_key_open(uri, NULL, &v2only), ATR_OK, "%s",
	    atr_detail());
	ks[0] = v2only;
	r = fx_run_keys(&f, ks, 1, f.ctl);
	expect_status(r, VFY_RECIPIENTS, VFY_FAILED);
	cr_assert_eq(vfy_report_count_code(r, "recipients.other-version"), 2);
	vfy_report_free(r);
	atr_key_free(v1);
	atr_key_free(all);
	atr_key_free(v2only);
	fx_free(&f);
	vx_stop(&v);
}

/* ---- several STOREs ---------------------------------------------------- */

Test(stores, two_stores_are_one_namespace_for_uniqueness)
{
	struct fx f;
	struct vfy_config c;
	struct vfy_report *r = NULL;
	struct atr_key *ks[1];
	const char *stores[2];
	char *second = NULL;
	size_t i;
	int found = 0;

	fx_init(&f, ATR_KIND_DIRECT);
	second = join(f.dir, "second");
	{
		const char *argv[] = {"cp", "-a", f.store, second, NULL};

		cr_assert_eq(tu_run(argv, NULL), 0);
	}
	memset(&c, 0, sizeof(c));
	ks[0] = f.cmk;
	stores[0] = f.store;
	stores[1] = second;
	c.stores = stores;
	c.nstores = 2;
	c.keys = ks;
	c.nkeys = 1;
	c.control = f.ctl;
	c.policy = &f.pol;
	c.jobs = 2;
	cr_assert_eq(vfy_run(&c, &r), ATR_OK, "%s", atr_detail());
	expect_code(r, "uniqueness.object-id");
	/* the copy in the second store is the one reported, by its path */
	for (i = 0; i < r->checks[VFY_UNIQUENESS].f.n; i++) {
		const struct vfy_finding *x = &r->checks[VFY_UNIQUENESS].f.v[i];
		char p[4096];

		if (strcmp(x->code, "uniqueness.object-id") != 0)
			continue;
		cr_assert_eq(x->store, 1);
		vfy_display_path(r, x->store, x->subject, p, sizeof(p));
		cr_assert(strncmp(p, second, strlen(second)) == 0, "%s", p);
		cr_assert(strstr(x->message, f.store) != NULL, "%s", x->message);
		found++;
	}
	cr_assert_eq(found, vfy_report_stat(r, "envelope.files") / 2);
	vfy_report_free(r);
	free(second);
	fx_free(&f);
}
