/*
 * test_verify_split.c - the frames of one large object checked by
 * several workers (verify/split.c) give the report of one worker.
 *
 * The store: big.bin (3 MiB and 1000 bytes of text in 256-byte frames:
 * 12,292 frames, 13 batches of core/stream.h), mid.bin (700,000 bytes,
 * 3 batches), a small file, and leak.csv, a megabyte of big.bin's
 * plaintext in the clear (found through the shingles sampled from
 * big.bin's frames).  With --jobs 1 nothing is split; with 2
 * and 4 the two large objects are (run.split_objects), and idle workers
 * take batches of them (run.helped_batches).  The JSON reports, less the
 * run object, must be equal.  A damaged big.bin - a flipped bit in a
 * middle frame, near the end, in the final tag, frames swapped inside a
 * batch and across two, a truncation at a frame boundary and inside the
 * final frame, two damaged frames - must give the same finding (code,
 * frame, offset) at every jobs count, and the same report.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/hooks.h>
#include <cjson/cJSON.h>

#include "envtest.h"
#include "stream.h"
#include "testutil.h"
#include "vfy_int.h"

#define FS 256U
#define REC (FS + ATR_GCM_TAGBYTES)
#define BIG ((3U << 20) + 1000U)
#define MID 700000U

static const char *const key_types[] = {"kek=aes-256", NULL};

ReportHook(PRE_ALL)(struct criterion_test_set *set)
{
	(void)set;
	if (et_keydir_create("verify-split", key_types) != ATR_OK)
		fprintf(stderr, "test_verify_split: key generation failed: "
		    "%s\n", atr_detail());
}

ReportHook(POST_ALL)(struct criterion_global_stats *stats)
{
	(void)stats;
	et_keydir_remove();
}

struct sx {
	char *dir, *store, *big;
	struct atr_key *kek;
	struct vfy_policy pol;
	uint8_t *orig;         /* big.bin as encrypted */
	size_t olen;
	size_t hl;             /* its header length */
	uint64_t nframes;
};

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

static void
put(const char *dir, const char *name, const void *b, size_t n)
{
	char *p = join(dir, name);

	cr_assert_eq(tu_write_file(p, b, n), 0, "write %s", p);
	free(p);
}

static void
sx_init(struct sx *f)
{
	struct atr_header h;
	char *plain, *buf;

	memset(f, 0, sizeof(*f));
	cr_assert_not_null(et_keydir(), "no test keys");
	cr_assert_eq(et_key_open("kek", &f->kek), ATR_OK, "%s", atr_detail());
	f->dir = tu_tmpdir("verify-split");
	cr_assert_not_null(f->dir);
	plain = join(f->dir, "plain");
	f->store = join(f->dir, "store");
	f->big = join(f->store, "big.bin");
	cr_assert_eq(mkdir(plain, 0700), 0);
	buf = malloc(BIG);
	cr_assert_not_null(buf);
	text(buf, BIG);
	put(plain, "big.bin", buf, BIG);
	et_fill((uint8_t *)buf, MID, 11);
	put(plain, "mid.bin", buf, MID);
	text(buf, 2000);
	put(plain, "small.csv", buf, 2000);
	free(buf);
	cr_assert_eq(vfy_fixture_encrypt_tree(plain, f->store, &f->kek, 1, 0,
	    FS), ATR_OK, "%s", atr_detail());
	tu_rmtree(plain);
	free(plain);
	/* A megabyte of big.bin's plaintext left in the clear: found by
	 * the shingles its workers sampled. */
	buf = malloc(BIG);
	cr_assert_not_null(buf);
	text(buf, BIG);
	put(f->store, "leak.csv", buf + (1U << 20), 1U << 20);
	free(buf);
	f->orig = tu_read_file(f->big, &f->olen);
	cr_assert_not_null(f->orig);
	cr_assert_eq(atr_header_parse(f->orig, f->olen < ATR_HEADER_MAX ?
	    f->olen : ATR_HEADER_MAX, &h), ATR_OK, "%s", atr_detail());
	f->hl = h.len;
	f->nframes = (f->olen - f->hl + REC - 1) / REC;
	cr_assert_eq(f->nframes, (BIG + FS - 1) / FS);
	vfy_policy_default(&f->pol);
	f->pol.require_cmk = 0;          /* an AES KEK */
	f->pol.tamper_header_sample = 1;
	f->pol.negative_sample = 1;
	/* Every frame's shingles are worth a part; the byte statistics
	 * sample 1 frame in 4 of big.bin. */
	f->pol.shingles_per_object = 64;
	f->pol.stat_max_bytes = 1U << 20;
}

static void
sx_free(struct sx *f)
{
	atr_key_free(f->kek);
	tu_rmtree(f->dir);
	free(f->dir);
	free(f->store);
	free(f->big);
	free(f->orig);
}

static struct vfy_report *
run(struct sx *f, unsigned jobs)
{
	struct vfy_config c;
	struct vfy_report *r = NULL;
	const char *stores[1];

	memset(&c, 0, sizeof(c));
	stores[0] = f->store;
	c.stores = stores;
	c.nstores = 1;
	c.keys = &f->kek;
	c.nkeys = 1;
	c.policy = &f->pol;
	c.jobs = jobs;
	c.started = 1700000000;
	cr_assert_eq(vfy_run(&c, &r), ATR_OK, "%s", atr_detail());
	cr_assert_not_null(r);
	return r;
}

/* The JSON report without its run object. */
static cJSON *
json_of(struct sx *f, const struct vfy_report *r)
{
	char *p = join(f->dir, "r.json");
	uint8_t *buf;
	cJSON *j;

	cr_assert_eq(vfy_write_json(r, p), ATR_OK, "%s", atr_detail());
	buf = tu_read_file(p, NULL);
	cr_assert_not_null(buf);
	j = cJSON_Parse((char *)buf);
	cr_assert_not_null(j);
	free(buf);
	free(p);
	cJSON_DeleteItemFromObjectCaseSensitive(j, "run");
	return j;
}

static void
dump_diff(const cJSON *a, const cJSON *b)
{
	char *sa = cJSON_Print(a), *sb = cJSON_Print(b);

	fprintf(stderr, "--- one worker:\n%s\n--- several:\n%s\n", sa, sb);
	free(sa);
	free(sb);
}

/* The offset and message of the one decrypt.auth-failed finding for
 * big.bin; -1 when there is none. */
static int64_t
auth_failed(const cJSON *j, char *msg, size_t cap)
{
	const cJSON *c, *fi;
	int64_t off = -1;
	int n = 0;

	cJSON_ArrayForEach(c, cJSON_GetObjectItem(j, "checks"))
		cJSON_ArrayForEach(fi, cJSON_GetObjectItem(c, "findings")) {
			const char *code =
			    cJSON_GetObjectItem(fi, "code")->valuestring;
			const char *sub =
			    cJSON_GetObjectItem(fi, "subject")->valuestring;

			if (strcmp(code, "decrypt.auth-failed") != 0 ||
			    strcmp(sub, "big.bin") != 0)
				continue;
			n++;
			off = (int64_t)cJSON_GetObjectItem(fi,
			    "offset")->valuedouble;
			snprintf(msg, cap, "%s",
			    cJSON_GetObjectItem(fi, "message")->valuestring);
		}
	cr_assert_leq(n, 1, "%d auth-failed findings for big.bin", n);
	return off;
}

/* Runs with 1 worker, then with 2 and 4: equal reports; returns the
 * one-worker report's JSON (the caller's). */
static cJSON *
same_with_any_jobs(struct sx *f, int damaged)
{
	static const unsigned jobs[] = {2, 4};
	struct vfy_report *r1, *rn;
	cJSON *a, *b;
	size_t i;

	r1 = run(f, 1);
	cr_assert_eq(r1->split_objects, 0, "one worker split an object");
	a = json_of(f, r1);
	for (i = 0; i < sizeof(jobs) / sizeof(jobs[0]); i++) {
		rn = run(f, jobs[i]);
		/* big.bin and mid.bin: more than one batch each. */
		cr_assert_eq(rn->split_objects, 2, "jobs %u: %llu split",
		    jobs[i], (unsigned long long)rn->split_objects);
		cr_assert_eq(rn->split_rechecked, damaged ? 1 : 0,
		    "jobs %u: %llu checked again", jobs[i],
		    (unsigned long long)rn->split_rechecked);
		b = json_of(f, rn);
		if (!cJSON_Compare(a, b, 1))
			dump_diff(a, b);
		cr_assert(cJSON_Compare(a, b, 1),
		    "the report with %u workers differs from one worker's",
		    jobs[i]);
		cJSON_Delete(b);
		vfy_report_free(rn);
	}
	vfy_report_free(r1);
	return a;
}

Test(split, intact_objects_same_report_with_any_jobs)
{
	struct sx f;
	struct vfy_report *r;
	cJSON *a;
	int k, helped = 0;

	sx_init(&f);
	a = same_with_any_jobs(&f, 0);
	cr_assert_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(a, "summary"),
	    "proven_by_decryption")->valueint, 3);
	cJSON_Delete(a);
	r = run(&f, 1);
	cr_assert_eq(vfy_report_count_code(r, "plaintext.shingle"), 1);
	cr_assert_eq(vfy_report_count_code(r, "decrypt.auth-failed"), 0);
	cr_assert_eq(vfy_report_count_code(r, "tamper.accepted"), 0);
	/* Every frame counted once; shingles taken in every part. */
	cr_assert_eq(vfy_report_stat(r, "decrypt.frames"),
	    (int64_t)f.nframes + (MID + FS - 1) / FS + (2000 + FS - 1) / FS);
	cr_assert_gt(vfy_report_stat(r, "plaintext.shingles_sampled"), 64);
	vfy_report_free(r);
	/* Idle workers do take batches (timing: a few tries). */
	for (k = 0; k < 10 && !helped; k++) {
		r = run(&f, 4);
		helped = r->helped_batches > 0;
		vfy_report_free(r);
	}
	cr_expect(helped, "no idle worker helped in 10 runs");
	sx_free(&f);
}

/* big.bin replaced by its damaged copy (n bytes of buf); the finding
 * must name frame `frame` of `of`, at its offset, with any jobs. */
static void
expect_damage(struct sx *f, const uint8_t *buf, size_t n, uint64_t frame,
    uint64_t of)
{
	char msg[256], want[128];
	cJSON *a;
	int64_t off;

	cr_assert_eq(tu_write_file(f->big, buf, n), 0);
	a = same_with_any_jobs(f, 1);
	off = auth_failed(a, msg, sizeof(msg));
	cr_assert_eq(off, (int64_t)(f->hl + frame * REC),
	    "offset %lld, expected frame %llu at %llu (%s)", (long long)off,
	    (unsigned long long)frame,
	    (unsigned long long)(f->hl + frame * REC), msg);
	snprintf(want, sizeof(want), "frame %llu of %llu failed",
	    (unsigned long long)frame, (unsigned long long)of);
	cr_assert(strstr(msg, want) != NULL, "'%s' lacks '%s'", msg, want);
	cJSON_Delete(a);
	cr_assert_eq(tu_write_file(f->big, f->orig, f->olen), 0);
}

static uint8_t *
copy_of(const struct sx *f)
{
	uint8_t *b = malloc(f->olen);

	cr_assert_not_null(b);
	memcpy(b, f->orig, f->olen);
	return b;
}

static void
flip(struct sx *f, uint8_t *b, uint64_t frame, size_t at)
{
	b[f->hl + frame * REC + at] ^= 0x04;
}

static void
swap_frames(struct sx *f, uint8_t *b, uint64_t a)
{
	uint8_t t[REC];
	uint8_t *p = b + f->hl + a * REC;

	memcpy(t, p, REC);
	memcpy(p, p + REC, REC);
	memcpy(p + REC, t, REC);
}

Test(split, flipped_bit_middle_frame)
{
	struct sx f;
	uint8_t *b;

	sx_init(&f);
	b = copy_of(&f);
	flip(&f, b, f.nframes / 2, 100);
	expect_damage(&f, b, f.olen, f.nframes / 2, f.nframes);
	free(b);
	sx_free(&f);
}

Test(split, flipped_bit_near_the_end)
{
	struct sx f;
	uint8_t *b;

	sx_init(&f);
	b = copy_of(&f);
	flip(&f, b, f.nframes - 3, 7);
	expect_damage(&f, b, f.olen, f.nframes - 3, f.nframes);
	free(b);
	sx_free(&f);
}

Test(split, flipped_bit_in_the_final_tag)
{
	struct sx f;
	uint8_t *b;

	sx_init(&f);
	b = copy_of(&f);
	b[f.olen - 1] ^= 0x80;
	expect_damage(&f, b, f.olen, f.nframes - 1, f.nframes);
	free(b);
	sx_free(&f);
}

Test(split, two_damaged_frames_first_is_reported)
{
	struct sx f;
	uint8_t *b;

	sx_init(&f);
	b = copy_of(&f);
	/* The later one in an earlier-taken batch cannot win either. */
	flip(&f, b, 9000, 0);
	flip(&f, b, 2000, 0);
	expect_damage(&f, b, f.olen, 2000, f.nframes);
	free(b);
	sx_free(&f);
}

Test(split, swapped_frames_inside_a_batch)
{
	struct sx f;
	uint8_t *b;

	sx_init(&f);
	b = copy_of(&f);
	swap_frames(&f, b, 5000);
	expect_damage(&f, b, f.olen, 5000, f.nframes);
	free(b);
	sx_free(&f);
}

Test(split, swapped_frames_across_batches)
{
	struct sx f;
	uint8_t *b;
	uint64_t last = atr_batch_frames(FS) - 1;   /* of batch 0 */

	sx_init(&f);
	b = copy_of(&f);
	swap_frames(&f, b, last);
	expect_damage(&f, b, f.olen, last, f.nframes);
	free(b);
	sx_free(&f);
}

Test(split, truncated_at_a_frame_boundary)
{
	struct sx f;

	sx_init(&f);
	/* The last frame gone: the one before it, sealed as a middle frame,
	 * is now read as the final one. */
	expect_damage(&f, f.orig, f.hl + (f.nframes - 1) * REC, f.nframes - 2,
	    f.nframes - 1);
	sx_free(&f);
}

Test(split, truncated_inside_the_final_frame)
{
	struct sx f;

	sx_init(&f);
	/* The final frame holds 1000 % 256 = 232 bytes and its tag. */
	expect_damage(&f, f.orig, f.olen - 100, f.nframes - 1, f.nframes);
	sx_free(&f);
}
