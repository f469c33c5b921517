/*
 * test_verify.c - the verifier's building blocks (verify/): the pattern
 * scan, byte statistics, policy, manifest, finding order and caps, the
 * shard partition and the JSON/XML string writers.  The checks
 * themselves, against stores with planted defects, are in
 * test_verify_checks.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <cjson/cJSON.h>

#include "crypto.h"
#include "testutil.h"
#include "vfy_int.h"
#include "jwk.h"

/* ---- pattern scan ------------------------------------------------------ */

struct hits {
	int n[4];
	uint64_t off[4][16];
	uint32_t id[4][16];
};

static void
hit(void *arg, int type, uint32_t id, uint64_t off)
{
	struct hits *h = arg;

	if (h->n[type] < 16) {
		h->off[type][h->n[type]] = off;
		h->id[type][h->n[type]] = id;
	}
	h->n[type]++;
}

static void
fill(uint8_t *p, size_t n, uint64_t seed)
{
	size_t i;

	for (i = 0; i < n; i++) {
		seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
		p[i] = (uint8_t)(seed >> 56);
	}
}

/* Feeds data in pieces of `step` bytes (1 = byte by byte). */
static void
scan_in_steps(const struct vfy_pset *ps, const uint8_t *d, size_t n,
    size_t step, struct hits *h)
{
	struct vfy_scanner sc;
	size_t i;

	memset(h, 0, sizeof(*h));
	vfy_scan_begin(&sc, ps, 0, hit, h);
	for (i = 0; i < n; i += step)
		vfy_scan_feed(&sc, d + i, n - i < step ? n - i : step);
	vfy_scan_end(&sc);
	cr_assert_eq(sc.scanned, n);
}

Test(scan, canary_found_at_its_offset_whatever_the_pieces)
{
	static const char can[] = "CANARY-PAT-0123456789abcdef";
	static const size_t steps[] = {1, 3, 7, 31, 32, 33, 100, 4096, 1 << 20};
	struct vfy_pset *ps = vfy_pset_new();
	size_t n = 10000, i;
	uint8_t *d = malloc(n);
	struct hits h;

	cr_assert_not_null(ps);
	cr_assert_not_null(d);
	fill(d, n, 1);
	memcpy(d + 4321, can, sizeof(can) - 1);
	memcpy(d + n - (sizeof(can) - 1), can, sizeof(can) - 1);  /* at the end */
	cr_assert_eq(vfy_pset_add_exact(ps, (const uint8_t *)can,
	    sizeof(can) - 1, 7), 0);
	cr_assert_eq(vfy_pset_build(ps), 0);
	for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		scan_in_steps(ps, d, n, steps[i], &h);
		cr_assert_eq(h.n[VFY_PAT_CANARY], 2, "step %zu: %d hits", steps[i],
		    h.n[VFY_PAT_CANARY]);
		cr_assert_eq(h.off[VFY_PAT_CANARY][0], 4321);
		cr_assert_eq(h.off[VFY_PAT_CANARY][1], n - (sizeof(can) - 1));
		cr_assert_eq(h.id[VFY_PAT_CANARY][0], 7);
	}
	/* one byte changed: no hit */
	d[4321 + 10] ^= 1;
	d[n - 1] ^= 1;
	scan_in_steps(ps, d, n, 5, &h);
	cr_assert_eq(h.n[VFY_PAT_CANARY], 0);
	free(d);
	vfy_pset_free(ps);
}

struct allhits {
	size_t n;
	uint64_t off[512];
	uint32_t id[512];
};

static void
hit_all(void *arg, int type, uint32_t id, uint64_t off)
{
	struct allhits *h = arg;

	cr_assert_eq(type, VFY_PAT_CANARY);
	cr_assert_lt(h->n, 512);
	h->off[h->n] = off;
	h->id[h->n] = id;
	h->n++;
}

static int
cmp_hit(const void *a, const void *b)
{
	const uint64_t *x = a, *y = b;

	return *x < *y ? -1 : *x > *y;
}

/* The lattice scan against a brute-force search: canaries of random
 * lengths (so strides 1 to 8) planted at random offsets, overlapping and
 * at the edges, found exactly, whatever the piece sizes and the stream's
 * first offset. */
Test(scan, lattice_scan_equals_brute_force)
{
	static const size_t minlens[] = {8, 10, 15, 27, 40};
	size_t trial;
	uint64_t rng = 42;

	for (trial = 0; trial < 60; trial++) {
		struct vfy_pset *ps = vfy_pset_new();
		size_t n = 3000 + trial * 37, ncan = 1 + trial % 7, i, k, pos;
		uint8_t *d = malloc(n), can[8][96];
		size_t clen[8];
		uint64_t want[512], base = trial % 3 == 0 ? 0 : 1000 + trial;
		size_t nwant = 0, step;
		struct allhits h;
		struct vfy_scanner sc;

		cr_assert_not_null(d);
		fill(d, n, trial + 1);
		for (k = 0; k < ncan; k++) {
			rng = rng * 6364136223846793005ULL + 1;
			clen[k] = minlens[trial % 5] + (k ? (rng >> 40) % 30 : 0);
			fill(can[k], clen[k], 1000 + trial * 10 + k);
			cr_assert_eq(vfy_pset_add_exact(ps, can[k], clen[k],
			    (uint32_t)k), 0);
		}
		/* plant: at 0, at the end, overlapping, random */
		for (i = 0; i < 12; i++) {
			k = i % ncan;
			rng = rng * 6364136223846793005ULL + 1;
			pos = i == 0 ? 0 : i == 1 ? n - clen[k] :
			    (rng >> 33) % (n - clen[k]);
			memcpy(d + pos, can[k], clen[k]);
		}
		/* brute force over the final bytes */
		for (pos = 0; pos < n; pos++)
			for (k = 0; k < ncan; k++)
				if (pos + clen[k] <= n &&
				    memcmp(d + pos, can[k], clen[k]) == 0)
					want[nwant++] = base + pos;
		qsort(want, nwant, sizeof(want[0]), cmp_hit);
		cr_assert_eq(vfy_pset_build(ps), 0);
		for (step = 1; step < 5000; step = step * 3 + 1) {
			memset(&h, 0, sizeof(h));
			vfy_scan_begin(&sc, ps, base, hit_all, &h);
			for (i = 0; i < n; i += step)
				vfy_scan_feed(&sc, d + i, n - i < step ? n - i : step);
			vfy_scan_end(&sc);
			qsort(h.off, h.n, sizeof(h.off[0]), cmp_hit);
			cr_assert_eq(h.n, nwant, "trial %zu step %zu: %zu hits, want "
			    "%zu", trial, step, h.n, nwant);
			for (i = 0; i < nwant; i++)
				cr_assert_eq(h.off[i], want[i], "trial %zu step %zu",
				    trial, step);
		}
		free(d);
		vfy_pset_free(ps);
	}
}

Test(scan, key_window_found_by_hash_only)
{
	struct vfy_pset *ps = vfy_pset_new();
	uint8_t key[32], d[5000];
	struct hits h;

	fill(key, sizeof(key), 99);
	fill(d, sizeof(d), 5);
	cr_assert_eq(vfy_pset_add_window(ps, VFY_PAT_DEK, key), 0);
	cr_assert_eq(vfy_pset_build(ps), 0);
	scan_in_steps(ps, d, sizeof(d), 64, &h);
	cr_assert_eq(h.n[VFY_PAT_DEK], 0, "random data holds no key");
	memcpy(d + 2999, key, 32);
	scan_in_steps(ps, d, sizeof(d), 17, &h);
	cr_assert_eq(h.n[VFY_PAT_DEK], 1);
	cr_assert_eq(h.off[VFY_PAT_DEK][0], 2999);
	/* 31 of the 32 bytes is not the key */
	memcpy(d + 2999, key, 31);
	d[2999 + 31] = (uint8_t)(key[31] ^ 0xff);
	scan_in_steps(ps, d, sizeof(d), 17, &h);
	cr_assert_eq(h.n[VFY_PAT_DEK], 0);
	vfy_pset_free(ps);
}

Test(scan, hashes_collected_apart_match_the_set)
{
	struct vfy_pset *ps = vfy_pset_new();
	struct vfy_winhash wh[2];
	uint8_t a[32], b[32], d[200];
	struct hits h;

	fill(a, 32, 1);
	fill(b, 32, 2);
	vfy_pset_hash_window(ps, VFY_PAT_SHINGLE, a, &wh[0]);
	vfy_pset_hash_window(ps, VFY_PAT_IK, b, &wh[1]);
	cr_assert_eq(vfy_pset_add_hashes(ps, wh, 2), 0);
	cr_assert_eq(vfy_pset_add_hashes(ps, wh, 2), 0);  /* duplicates */
	cr_assert_eq(vfy_pset_build(ps), 0);
	cr_assert_eq(vfy_pset_size(ps), 2, "duplicates are dropped");
	fill(d, sizeof(d), 3);
	memcpy(d + 10, a, 32);
	memcpy(d + 150, b, 32);
	scan_in_steps(ps, d, sizeof(d), 200, &h);
	cr_assert_eq(h.n[VFY_PAT_SHINGLE], 1);
	cr_assert_eq(h.off[VFY_PAT_SHINGLE][0], 10);
	cr_assert_eq(h.n[VFY_PAT_IK], 1);
	cr_assert_eq(h.off[VFY_PAT_IK][0], 150);
	cr_assert_eq(vfy_pset_add_hashes(ps, wh, 1), -1, "built sets are frozen");
	vfy_pset_free(ps);
}

Test(scan, canary_length_limits)
{
	struct vfy_pset *ps = vfy_pset_new();
	uint8_t big[VFY_PAT_MAX + 1];

	memset(big, 'x', sizeof(big));
	cr_assert_eq(vfy_pset_add_exact(ps, big, VFY_PAT_MIN - 1, 0), -1);
	cr_assert_eq(vfy_pset_add_exact(ps, big, VFY_PAT_MAX + 1, 0), -1);
	cr_assert_eq(vfy_pset_add_exact(ps, big, VFY_PAT_MAX, 0), 0);
	vfy_pset_free(ps);
}

Test(scan, long_canary_across_pieces)
{
	struct vfy_pset *ps = vfy_pset_new();
	uint8_t can[VFY_PAT_MAX], d[3000];
	struct hits h;

	fill(can, sizeof(can), 11);
	fill(d, sizeof(d), 12);
	memcpy(d + 1000, can, sizeof(can));
	cr_assert_eq(vfy_pset_add_exact(ps, can, sizeof(can), 1), 0);
	cr_assert_eq(vfy_pset_build(ps), 0);
	scan_in_steps(ps, d, sizeof(d), 3, &h);
	cr_assert_eq(h.n[VFY_PAT_CANARY], 1);
	cr_assert_eq(h.off[VFY_PAT_CANARY][0], 1000);
	vfy_pset_free(ps);
}

Test(scan, diverse_windows)
{
	uint8_t w[32];

	memset(w, 0, sizeof(w));
	cr_assert_not(vfy_window_diverse(w), "zeros are not sampled");
	memcpy(w, "abababababababababababababababab", 32);
	cr_assert_not(vfy_window_diverse(w));
	memcpy(w, "P0012345,Amelia Okafor,1961-04-0", 32);
	cr_assert(vfy_window_diverse(w));
}

/* ---- statistics -------------------------------------------------------- */

Test(stats, chi_square_separates_ciphertext_from_text)
{
	static const char text[] = "patient_id,name,date_of_birth,postcode\n"
	    "P0000001,Amelia Okafor,1961-04-02,AB1 2CD\n";
	struct vfy_hist h;
	uint8_t r[65536];
	double bound = vfy_chi2_bound(6.0);
	size_t i;

	/* Wilson-Hilferty for 255 dof: mean 255, z = 6 is about 415. */
	cr_assert(bound > 400.0 && bound < 430.0, "bound %f", bound);
	cr_assert(vfy_chi2_bound(0.0) > 250.0 && vfy_chi2_bound(0.0) < 256.0);
	cr_assert_eq(atr_random(r, sizeof(r)), ATR_OK);
	vfy_hist_reset(&h);
	vfy_hist_add(&h, r, sizeof(r));
	cr_assert_eq(h.n, sizeof(r));
	cr_assert(vfy_hist_chi2(&h) < bound, "random: %f", vfy_hist_chi2(&h));
	cr_assert(vfy_hist_entropy(&h) > 7.99);
	vfy_hist_reset(&h);
	for (i = 0; i < 200; i++)
		vfy_hist_add(&h, (const uint8_t *)text, sizeof(text) - 1);
	cr_assert(vfy_hist_chi2(&h) > 10 * bound);
	cr_assert(vfy_hist_entropy(&h) < 6.0);
	vfy_hist_reset(&h);
	cr_assert_eq(vfy_hist_chi2(&h), 0.0);
}

/* ---- policy ------------------------------------------------------------ */

Test(policy, defaults_are_the_documented_ones)
{
	struct vfy_policy p;

	vfy_policy_default(&p);
	cr_assert_eq(p.rsa_min_bits, 3072);
	cr_assert_eq(p.rsa_error_below, 2048);
	cr_assert_eq(p.oaep_sha1, VFY_WARN);
	cr_assert_eq(p.tag_bits, 128);
	cr_assert(p.require_commitment);
	cr_assert(p.require_cmk);
	cr_assert_not(p.allow_foreign);
	cr_assert_eq(p.kek_max_wraps, 1ULL << 32);
	cr_assert_eq(p.vault_allowed_ops, ATR_JWK_WRAP | ATR_JWK_UNWRAP);
	cr_assert_eq(p.vault_nrecovery, 4);
	cr_assert_str_eq(p.vault_recovery[0], "Recoverable");
	cr_assert_str_eq(p.vault_recovery[1],
	    "Recoverable+ProtectedSubscription");
	cr_assert_str_eq(p.profile, "default");
	cr_assert_eq(p.vault_required_ops, 0);
	cr_assert_not(p.rotation_require_policy);
	cr_assert_eq(p.shared_dek, VFY_INFO);
}

Test(policy, overrides_apply_and_the_rest_stays)
{
	static const char j[] = "{\"algorithms\": {\"rsa_min_bits\": 4096, "
	    "\"oaep_sha1\": \"error\"}, \"recipients\": {\"require_keys\": "
	    "\"all\"}, \"vault\": {\"allowed_key_ops\": [\"unwrapKey\"], "
	    "\"recovery_levels\": [\"Recoverable\"]}, \"sampling\": "
	    "{\"tamper_header\": 1}, \"rotation\": {\"min_version\": \"abc\"}}";
	struct vfy_policy p;

	vfy_policy_default(&p);
	cr_assert_eq(vfy_policy_parse(j, sizeof(j) - 1, &p), ATR_OK, "%s",
	    atr_detail());
	cr_assert_eq(p.rsa_min_bits, 4096);
	cr_assert_eq(p.rsa_error_below, 2048);
	cr_assert_eq(p.oaep_sha1, VFY_ERROR);
	cr_assert_eq(p.require_keys, VFY_REQ_ALL);
	cr_assert_eq(p.vault_allowed_ops, ATR_JWK_UNWRAP);
	cr_assert_eq(p.vault_nrecovery, 1);
	cr_assert_eq(p.tamper_header_sample, 1);
	cr_assert_str_eq(p.min_version, "abc");
	cr_assert(p.require_cmk, "untouched settings keep their default");
}

Test(policy, bad_documents_name_the_setting)
{
	static const char *const bad[] = {
		"[]",
		"{\"algoritms\": {}}",
		"{\"algorithms\": {\"rsa_min_bitz\": 1}}",
		"{\"algorithms\": {\"rsa_min_bits\": -1}}",
		"{\"algorithms\": {\"rsa_min_bits\": 3072.5}}",
		"{\"algorithms\": {\"oaep_sha1\": \"sometimes\"}}",
		"{\"algorithms\": {\"tag_bits\": 64}}",
		"{\"vault\": {\"allowed_key_ops\": [\"fly\"]}}",
		"{\"recipients\": {\"require_cmk\": 1}}",
		"{\"algorithms\": {\"rsa_error_below_bits\": 4096}}",
		"{\"plaintext\": {\"scan\": \"some\"}}",
		"not json",
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct vfy_policy p;

		vfy_policy_default(&p);
		atr_detail_clear();
		cr_assert_eq(vfy_policy_parse(bad[i], strlen(bad[i]), &p),
		    ATR_ERR_CONFIG, "accepted: %s", bad[i]);
		cr_assert(strstr(atr_detail(), "policy") != NULL, "%s",
		    atr_detail());
	}
	{
		struct vfy_policy p;

		vfy_policy_default(&p);
		vfy_policy_parse(bad[2], strlen(bad[2]), &p);
		cr_assert(strstr(atr_detail(), "rsa_min_bitz") != NULL);
	}
}

Test(policy, written_policy_reads_back_the_same)
{
	static const char j[] = "{\"algorithms\": {\"aes_kw\": \"warning\"}, "
	    "\"uniqueness\": {\"kek_max_wraps\": 77, \"kek_warn_fraction\": 0.25},"
	    " \"plaintext\": {\"scan\": \"unproven\", \"chi2_z\": 7.5}}";
	struct vfy_policy a, b;
	char path[] = "/tmp/atrest-verify-pol-XXXXXX";
	uint8_t *buf;
	size_t len;
	int fd = mkstemp(path);
	struct vfy_out o;

	cr_assert(fd >= 0);
	vfy_policy_default(&a);
	cr_assert_eq(vfy_policy_parse(j, sizeof(j) - 1, &a), ATR_OK);
	vfy_out_init(&o, fd);
	vfy_policy_write(&o, &a, "");
	cr_assert_eq(vfy_out_flush(&o), ATR_OK);
	close(fd);
	buf = tu_read_file(path, &len);
	unlink(path);
	cr_assert_not_null(buf);
	vfy_policy_default(&b);
	cr_assert_eq(vfy_policy_parse((char *)buf, len, &b), ATR_OK, "%s: %s",
	    atr_detail(), buf);
	cr_assert_eq(memcmp(&a, &b, sizeof(a)), 0);
	cr_assert_eq(b.kek_max_wraps, 77);
	cr_assert_not(b.scan_all);
	free(buf);
}

/* ---- manifest ---------------------------------------------------------- */

Test(manifest, parse_and_find)
{
	static const char j[] = "{\"format\": \"atrest-manifest/1\", \"files\": ["
	    "{\"path\": \"a/b.csv\", \"size\": 10, \"sha256\": "
	    "\"0000000000000000000000000000000000000000000000000000000000000001\","
	    " \"canaries\": [\"CANARY-ONE-1234\"]},"
	    "{\"path\": \"c.json\"}], \"canaries\": [\"GLOBAL-CANARY\"]}";
	struct vfy_manifest *m = NULL;
	const struct vfy_mentry *e;
	char **g;

	cr_assert_eq(vfy_manifest_parse(j, sizeof(j) - 1, &m), ATR_OK, "%s",
	    atr_detail());
	cr_assert_eq(vfy_manifest_count(m), 2);
	cr_assert_eq(vfy_manifest_canaries(m), 2);
	cr_assert_eq(vfy_manifest_find(m, "a/b.csv"), 0);
	cr_assert_eq(vfy_manifest_find(m, "c.json"), 1);
	cr_assert_eq(vfy_manifest_find(m, "a/b.cs"), -1);
	e = vfy_manifest_entry(m, 0);
	cr_assert(e->has_sha && e->has_size);
	cr_assert_eq(e->size, 10);
	cr_assert_eq(e->sha256[31], 1);
	cr_assert_not(vfy_manifest_entry(m, 1)->has_sha);
	cr_assert_eq(vfy_manifest_global_canaries(m, &g), 1);
	cr_assert_str_eq(g[0], "GLOBAL-CANARY");
	cr_assert_eq(strlen(vfy_manifest_sha(m)), 64);
	vfy_manifest_free(m);
}

Test(manifest, bad_manifests_are_refused)
{
	static const char *const bad[] = {
		"{}",
		"{\"format\": \"other/1\", \"files\": []}",
		"{\"files\": [{\"size\": 1}]}",
		"{\"files\": [{\"path\": \"/abs\"}]}",
		"{\"files\": [{\"path\": \"a\", \"sha256\": \"00\"}]}",
		"{\"files\": [{\"path\": \"a\"}, {\"path\": \"a\"}]}",
		"{\"files\": [{\"path\": \"a\", \"canaries\": [\"short\"]}]}",
		"{\"files\": [{\"path\": \"a\", \"canaries\": \"CANARY-xxxxx\"}]}",
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct vfy_manifest *m = NULL;

		cr_assert_eq(vfy_manifest_parse(bad[i], strlen(bad[i]), &m),
		    ATR_ERR_CONFIG, "accepted: %s", bad[i]);
		cr_assert_null(m);
	}
}

/* ---- order, caps, shards ----------------------------------------------- */

Test(order, path_order_is_the_walk_order)
{
	cr_assert_lt(vfy_path_cmp("a/b", "a.c"), 0);
	cr_assert_lt(vfy_path_cmp("a", "a/b"), 0);
	cr_assert_lt(vfy_path_cmp("a/z", "ab"), 0);
	cr_assert_gt(vfy_path_cmp("b", "a/z"), 0);
	cr_assert_eq(vfy_path_cmp("x/y", "x/y"), 0);
}

static void
add(struct vfy_flist *l, int sev, const char *path)
{
	struct vfy_finding f;

	vfy_finding_set(&f, sev, 0, path, -1, "envelope.not-envelope", "m");
	vfy_flist_add(l, &f);
}

Test(order, a_full_list_keeps_the_first_in_report_order)
{
	static const char *const p[] = {"k", "c", "x", "a", "m", "b", "z", "d"};
	struct vfy_flist a, b;
	size_t i;

	/* The same findings in two different orders keep the same set. */
	vfy_flist_init(&a, 3);
	vfy_flist_init(&b, 3);
	for (i = 0; i < 8; i++) {
		add(&a, VFY_ERROR, p[i]);
		add(&b, VFY_ERROR, p[7 - i]);
	}
	add(&a, VFY_WARN, "0");
	vfy_flist_sort(&a);
	vfy_flist_sort(&b);
	cr_assert_eq(a.count[VFY_ERROR], 8);
	cr_assert_eq(a.count[VFY_WARN], 1);
	cr_assert_eq(a.n, 3);
	for (i = 0; i < 3; i++)
		cr_assert_str_eq(a.v[i].subject, b.v[i].subject);
	cr_assert_str_eq(a.v[0].subject, "a");
	cr_assert_str_eq(a.v[1].subject, "b");
	cr_assert_str_eq(a.v[2].subject, "c");
	vfy_flist_free(&a);
	vfy_flist_free(&b);
}

Test(order, absorb_counts_everything)
{
	struct vfy_flist a, b;

	vfy_flist_init(&a, 2);
	vfy_flist_init(&b, 2);
	add(&a, VFY_ERROR, "x");
	add(&b, VFY_ERROR, "a");
	add(&b, VFY_ERROR, "b");
	add(&b, VFY_ERROR, "c");
	vfy_flist_absorb(&a, &b);
	vfy_flist_sort(&a);
	cr_assert_eq(a.count[VFY_ERROR], 4);
	cr_assert_eq(a.n, 2);
	cr_assert_str_eq(a.v[0].subject, "a");
	cr_assert_str_eq(a.v[1].subject, "b");
	cr_assert_eq(b.n, 0);
	vfy_flist_free(&a);
}

Test(shard, every_path_in_exactly_one_shard)
{
	char rel[64];
	unsigned n, k, i, hits, per[7] = {0};

	for (n = 1; n <= 7; n++)
		for (i = 0; i < 500; i++) {
			snprintf(rel, sizeof(rel), "dir%u/file-%04u.csv", i % 9, i);
			hits = 0;
			for (k = 1; k <= n; k++)
				if (vfy_in_shard(rel, k, n)) {
					hits++;
					if (n == 7)
						per[k - 1]++;
				}
			cr_assert_eq(hits, 1, "%s in %u of %u shards", rel, hits, n);
		}
	for (k = 0; k < 7; k++)
		cr_assert(per[k] > 30, "shard %u got %u of 500", k + 1, per[k]);
	cr_assert_eq(vfy_path_hash("a", "b"), vfy_path_hash("a", "b"));
	cr_assert_neq(vfy_path_hash("a", "b"), vfy_path_hash("b", "b"));
}

Test(codes, every_code_names_its_check)
{
	size_t i;

	for (i = 0; vfy_code_defs[i].code != NULL; i++)
		cr_assert_geq(vfy_code_check(vfy_code_defs[i].code), 0, "%s",
		    vfy_code_defs[i].code);
	cr_assert_eq(vfy_code_check("nonsense"), -1);
	cr_assert(vfy_code_derived("uniqueness.object-id"));
	cr_assert_not(vfy_code_derived("envelope.not-envelope"));
}

/* Every check and finding code has a section or entry in docs/VERIFY.md. */
Test(codes, every_code_is_documented)
{
	const char *root = getenv("ATREST_ROOT");
	char *path = tu_path(root ? root : ".", "docs/VERIFY.md");
	uint8_t *doc = tu_read_file(path, NULL);
	size_t i;
	int c;

	cr_assert_not_null(doc, "cannot read %s", path);
	for (i = 0; vfy_code_defs[i].code != NULL; i++)
		cr_assert(strstr((char *)doc, vfy_code_defs[i].code) != NULL,
		    "%s is not in docs/VERIFY.md", vfy_code_defs[i].code);
	for (c = 0; c < VFY_NCHECKS; c++) {
		char head[64];

		snprintf(head, sizeof(head), "### `%s`", vfy_check_name(c));
		cr_assert(strstr((char *)doc, head) != NULL, "no section %s", head);
	}
	free(doc);
	free(path);
}

/* ---- string writers ---------------------------------------------------- */

static char *
written(void (*fn)(struct vfy_out *, const char *), const char *s)
{
	char path[] = "/tmp/atrest-verify-out-XXXXXX";
	int fd = mkstemp(path);
	struct vfy_out *o = malloc(sizeof(*o));
	uint8_t *buf;

	cr_assert(fd >= 0 && o != NULL);
	vfy_out_init(o, fd);
	fn(o, s);
	cr_assert_eq(vfy_out_flush(o), ATR_OK);
	close(fd);
	free(o);
	buf = tu_read_file(path, NULL);
	unlink(path);
	return (char *)buf;
}

Test(writers, json_strings_stay_valid)
{
	static const char nasty[] = "a\"b\\c\n\x01 \xff\xfe caf\xc3\xa9 \xed\xa0\x80";
	char *j = written(vfy_out_json_str, nasty);
	cJSON *v;

	cr_assert_not_null(j);
	v = cJSON_Parse(j);
	cr_assert_not_null(v, "invalid JSON: %s", j);
	cr_assert(cJSON_IsString(v));
	cr_assert(strstr(v->valuestring, "caf\xc3\xa9") != NULL,
	    "valid UTF-8 passes through");
	cr_assert(strstr(j, "\\u00ff") != NULL, "%s", j);
	cJSON_Delete(v);
	free(j);
}

Test(writers, xml_text_is_escaped)
{
	char *x = written(vfy_out_xml_str, "<a href=\"x\">&'\x01\xff</a>");

	cr_assert_not_null(x);
	cr_assert_str_eq(x, "&lt;a href=&quot;x&quot;&gt;&amp;&apos;??&lt;/a&gt;");
	free(x);
}
