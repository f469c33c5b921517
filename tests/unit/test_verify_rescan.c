/*
 * test_verify_rescan.c - the end phase of `atrest verify` searches each
 * object's own bytes: a proven object's header, read back from the
 * worker's spill file, is not searched in the bytes of a file the same
 * worker rescanned just before (verify/rescan.c).
 *
 * The store, in walk order: a/x.bin (an envelope: its header is
 * spilled), b.txt (a plaintext copy of c/y.csv: rescanned whole), c/y.csv
 * (an envelope).  One worker takes them in that order, so the header of
 * c/y.csv comes after b.txt in the rescan list.  Only b.txt holds
 * plaintext; a shingle finding for c/y.csv would be a false one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <criterion/criterion.h>
#include <criterion/hooks.h>

#include "envtest.h"
#include "testutil.h"
#include "vfy_int.h"

static const char *const key_types[] = {"cmk=rsa-3072", NULL};

ReportHook(PRE_ALL)(struct criterion_test_set *set)
{
	(void)set;
	if (et_keydir_create("verify-rescan", key_types) != ATR_OK)
		fprintf(stderr, "test_verify_rescan: key generation failed: "
		    "%s\n", atr_detail());
}

ReportHook(POST_ALL)(struct criterion_global_stats *stats)
{
	(void)stats;
	et_keydir_remove();
}

static char *
join(const char *a, const char *b)
{
	char *p = tu_path(a, b);

	cr_assert_not_null(p);
	return p;
}

/* Text of n bytes that varies enough to be sampled for shingles. */
static void
text(char *p, size_t n)
{
	size_t i = 0;
	unsigned row = 0;

	while (i < n) {
		int k = snprintf(p + i, n - i, "%u,patient-%05u,ward %c,"
		    "admitted 2024-%02u-%02u\n", row, row * 7919U % 100000U,
		    'A' + (int)(row % 7), row % 12 + 1, row % 28 + 1);

		if (k < 0 || (size_t)k >= n - i)
			break;
		i += (size_t)k;
		row++;
	}
	memset(p + i, '.', n - i);
}

Test(rescan, header_not_searched_in_another_file)
{
	char *dir = tu_tmpdir("verify-rescan"), *plain, *store, *p, *q;
	static char csv[3000], bin[2000];
	struct atr_key *cmk = NULL;
	struct vfy_report *r = NULL;
	struct vfy_config c;
	struct vfy_policy pol;
	const char *stores[1];

	cr_assert_not_null(dir);
	cr_assert_not_null(et_keydir(), "no test keys");
	cr_assert_eq(et_key_open("cmk", &cmk), ATR_OK, "%s", atr_detail());
	plain = join(dir, "plain");
	store = join(dir, "store");
	text(csv, sizeof(csv));
	et_fill((uint8_t *)bin, sizeof(bin), 7);
	cr_assert_eq(mkdir(plain, 0700), 0);
	p = join(plain, "a");
	cr_assert_eq(mkdir(p, 0700), 0);
	free(p);
	p = join(plain, "c");
	cr_assert_eq(mkdir(p, 0700), 0);
	free(p);
	p = join(plain, "a/x.bin");
	cr_assert_eq(tu_write_file(p, bin, sizeof(bin)), 0);
	free(p);
	p = join(plain, "c/y.csv");
	cr_assert_eq(tu_write_file(p, csv, sizeof(csv)), 0);
	free(p);
	cr_assert_eq(vfy_fixture_encrypt_tree(plain, store, &cmk, 1, 0, 1024),
	    ATR_OK, "%s", atr_detail());
	q = join(store, "b.txt");
	cr_assert_eq(tu_write_file(q, csv, sizeof(csv)), 0);
	free(q);

	vfy_policy_default(&pol);
	memset(&c, 0, sizeof(c));
	stores[0] = store;
	c.stores = stores;
	c.nstores = 1;
	c.keys = &cmk;
	c.nkeys = 1;
	c.policy = &pol;
	c.jobs = 1;
	cr_assert_eq(vfy_run(&c, &r), ATR_OK, "%s", atr_detail());
	/* b.txt is plaintext; the envelopes opened and hold none. */
	cr_expect_eq(vfy_report_stat(r, "decrypt.opened"), 2);
	cr_expect(vfy_report_has(r, "plaintext.shingle"));
	cr_expect_eq(vfy_report_count_code(r, "plaintext.shingle"), 1,
	    "a shingle finding for an encrypted object");
	vfy_report_free(r);
	atr_key_free(cmk);
	tu_rmtree(dir);
	free(dir);
	free(plain);
	free(store);
}
