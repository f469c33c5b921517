/*
 * test_core_util.c - the one-definition helpers of core/: base64url
 * (codec.h), JWK key operations (jwk.h), CPU count and clock (util.h),
 * wiping cJSON documents (json.h).
 */
#include <string.h>

#include <criterion/criterion.h>

#include "codec.h"
#include "json.h"
#include "jwk.h"
#include "util.h"

/* RFC 4648 section 10, without the padding (section 5 alphabet). */
static const struct {
	const char *in, *out;
} rfc4648[] = {
	{"", ""}, {"f", "Zg"}, {"fo", "Zm8"}, {"foo", "Zm9v"},
	{"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"}, {"foobar", "Zm9vYmFy"},
};

Test(codec, rfc4648_vectors_both_ways)
{
	char enc[32];
	uint8_t dec[32];
	size_t i, n;

	for (i = 0; i < sizeof(rfc4648) / sizeof(rfc4648[0]); i++) {
		size_t len = strlen(rfc4648[i].in);

		cr_assert_eq(atr_b64url_len(len), strlen(rfc4648[i].out));
		cr_assert_eq(atr_b64url_encode((const uint8_t *)rfc4648[i].in,
		    len, enc, sizeof(enc)), (long)strlen(rfc4648[i].out));
		cr_assert_str_eq(enc, rfc4648[i].out);
		cr_assert_eq(atr_b64url_decode(rfc4648[i].out,
		    strlen(rfc4648[i].out), 0, dec, sizeof(dec), &n), 0);
		cr_assert_eq(n, len);
		cr_assert_arr_eq(dec, rfc4648[i].in, len);
	}
}

Test(codec, alphabets_padding_and_canonical_form)
{
	uint8_t dec[8];
	size_t n;

	/* 0xfb 0xff: "-_8" in the URL alphabet, "+/8" in the standard. */
	cr_assert_eq(atr_b64url_decode("-_8", 3, 0, dec, sizeof(dec), &n), 0);
	cr_assert_eq(n, 2);
	cr_assert(dec[0] == 0xfb && dec[1] == 0xff);
	cr_assert_eq(atr_b64url_decode("+/8", 3, 0, dec, sizeof(dec), &n), -1,
	    "the standard alphabet only when asked");
	cr_assert_eq(atr_b64url_decode("+/8", 3, ATR_B64_STD_ALPHABET, dec,
	    sizeof(dec), &n), 0);
	cr_assert_eq(atr_b64url_decode("Zm8=", 4, 0, dec, sizeof(dec), &n), 0);
	cr_assert_eq(n, 2);
	cr_assert_eq(atr_b64url_decode("Zm8==", 5, 0, dec, sizeof(dec), &n),
	    -1, "too much padding");
	cr_assert_eq(atr_b64url_decode("Zm9", 3, 0, dec, sizeof(dec), &n), -1,
	    "unused bits set: not canonical");
	cr_assert_eq(atr_b64url_decode("Z", 1, 0, dec, sizeof(dec), &n), -1);
	cr_assert_eq(atr_b64url_decode("Zm9vYmFy", 8, 0, dec, 5, &n), -1,
	    "buffer too small");
	cr_assert_eq(atr_b64url_encode((const uint8_t *)"foo", 3,
	    (char *)dec, 4), -1, "no room for the NUL");
}

Test(jwk, names_and_bits)
{
	unsigned i, all = 0;

	cr_assert_eq(atr_jwk_op_parse("wrapKey"), ATR_JWK_WRAP);
	cr_assert_eq(atr_jwk_op_parse("UNWRAPKEY"), ATR_JWK_UNWRAP);
	cr_assert_eq(atr_jwk_op_parse("wrap"), 0);
	cr_assert_str_eq(atr_jwk_op_name(ATR_JWK_UNWRAP), "unwrapKey");
	cr_assert_str_eq(atr_jwk_op_name(ATR_JWK_WRAP | ATR_JWK_UNWRAP),
	    "unknown");
	for (i = 0; i < ATR_JWK_COUNT; i++) {
		unsigned b = atr_jwk_op_at(i);

		cr_assert_eq(b & all, 0, "one bit per operation");
		all |= b;
		cr_assert_eq(atr_jwk_op_parse(atr_jwk_op_name(b)), b);
	}
	cr_assert_eq(all, ATR_JWK_ALL);
	cr_assert_eq(atr_jwk_op_at(ATR_JWK_COUNT), 0);
	/* The REST API's order. */
	cr_assert_str_eq(atr_jwk_op_name(atr_jwk_op_at(4)), "wrapKey");
}

Test(util, cpus_and_clock)
{
	uint64_t a, b;

	cr_assert_geq(atr_cpu_count(), 1);
	a = atr_now_ns();
	b = atr_now_ns();
	cr_assert_geq(b, a, "monotonic");
}

Test(json, wipe_clears_values_and_names)
{
	cJSON *j = cJSON_Parse("{\"token\":\"secret-value\","
	    "\"inner\":{\"k\":\"key-bytes\"},\"arr\":[\"a1\"]}");
	cJSON *t, *k;
	size_t tl, kl;

	cr_assert_not_null(j);
	t = cJSON_GetObjectItem(j, "token");
	k = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "inner"), "k");
	tl = strlen(t->valuestring);
	kl = strlen(k->valuestring);
	atr_json_wipe(j);
	cr_assert_eq(t->valuestring[0], '\0');
	cr_assert(memcmp(t->valuestring, "\0\0\0\0\0\0\0\0\0\0\0\0", tl) == 0);
	cr_assert(memcmp(k->valuestring, "\0\0\0\0\0\0\0\0\0", kl) == 0);
	cr_assert_eq(t->string[0], '\0', "member names too");
	cJSON_Delete(j);
	atr_json_free_wiped(NULL);
}

Test(codec, percent_encoding)
{
	char out[32];
	const uint8_t in[] = {'a', 'Z', '9', '-', '.', '_', '~', ' ', '/',
	    '%', 0x00, 0xff};

	cr_assert_eq(atr_pct_encode(in, sizeof(in), 0, out, sizeof(out)), 22);
	cr_assert_str_eq(out, "aZ9-._~%20%2F%25%00%FF");
	cr_assert_eq(atr_pct_encode(in, 3, ATR_PCT_ALL, out, sizeof(out)), 9);
	cr_assert_str_eq(out, "%61%5A%39");
	cr_assert_eq(atr_pct_encode(in, sizeof(in), 0, out, 10), -1);
	cr_assert_str_eq(out, "", "a cut encoding is wiped");
	cr_assert(atr_uri_unreserved('~') && !atr_uri_unreserved(0xe9));
}

Test(jwk, key_vault_names)
{
	char longest[ATR_KV_NAME_MAX + 2];

	cr_assert(atr_kv_name_valid("cmk-2024-Q1"));
	cr_assert(!atr_kv_name_valid(""));
	cr_assert(!atr_kv_name_valid("a_b"));
	cr_assert(!atr_kv_name_valid("caf\xc3\xa9"), "ASCII only");
	memset(longest, 'k', ATR_KV_NAME_MAX);
	longest[ATR_KV_NAME_MAX] = '\0';
	cr_assert(atr_kv_name_valid(longest));
	longest[ATR_KV_NAME_MAX] = 'k';
	longest[ATR_KV_NAME_MAX + 1] = '\0';
	cr_assert(!atr_kv_name_valid(longest));
}

/* One spelling of sizes for every command: the verify summary, its
 * progress line and the bench's cell names. */
Test(util, size_spellings)
{
	char b[32];

	cr_assert_str_eq(atr_fmt_bytes(0, b, sizeof(b)), "0 B");
	cr_assert_str_eq(atr_fmt_bytes(1023, b, sizeof(b)), "1023 B");
	cr_assert_str_eq(atr_fmt_bytes(1024, b, sizeof(b)), "1.0 KiB");
	cr_assert_str_eq(atr_fmt_bytes(1536, b, sizeof(b)), "1.5 KiB");
	cr_assert_str_eq(atr_fmt_bytes(3ULL << 30, b, sizeof(b)), "3.0 GiB");
	cr_assert_str_eq(atr_fmt_bytes(5ULL << 50, b, sizeof(b)),
	    "5120.0 TiB");
	cr_assert_str_eq(atr_size_label(1000, b, sizeof(b)), "1000");
	cr_assert_str_eq(atr_size_label(1024, b, sizeof(b)), "1K");
	cr_assert_str_eq(atr_size_label(65536 + 1024, b, sizeof(b)), "65K");
	cr_assert_str_eq(atr_size_label(65536 + 1, b, sizeof(b)), "65537");
	cr_assert_str_eq(atr_size_label(1ULL << 20, b, sizeof(b)), "1M");
	cr_assert_str_eq(atr_size_label(3ULL << 30, b, sizeof(b)), "3072M");
	cr_assert_str_eq(atr_size_label(1024, b, 2), "1");   /* truncated */
}
