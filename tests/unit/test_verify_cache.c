/*
 * test_verify_cache.c - the lifetime of verify's per-worker unwrap
 * cache (verify/keys.c, vfy_wkey): an entry is served before its TTL
 * and never after, as core's atr_kcache (issue 11, item 7), so a
 * long verify stops opening data within the TTL of a revocation.
 *
 * The inner key is a stub that counts its unwraps and answers a fixed
 * 64-byte output: the wrapper's cache is all that is under test.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <criterion/criterion.h>

#include "envelope.h"
#include "key.h"
#include "vfy_int.h"

static unsigned unwraps;

static enum atr_err
stub_wrap(struct atr_key *k, const uint8_t *in, size_t in_len, uint8_t *out,
    size_t *out_len)
{
	(void)k;
	(void)in;
	(void)in_len;
	(void)out;
	*out_len = 0;
	return ATR_ERR_UNSUPPORTED;
}

static enum atr_err
stub_unwrap(struct atr_key *k, const char *kid, enum atr_wrap_alg alg,
    const uint8_t *in, size_t in_len, uint8_t *out, size_t *out_len)
{
	(void)k;
	(void)kid;
	(void)alg;
	(void)in;
	(void)in_len;
	unwraps++;
	memset(out, 0x42, ATR_WRAP_INPUT_BYTES);
	*out_len = ATR_WRAP_INPUT_BYTES;
	return ATR_OK;
}

static int
stub_matches(const struct atr_key *k, enum atr_provider_type p,
    const char *kid)
{
	(void)k;
	(void)p;
	(void)kid;
	return 1;
}

static void
stub_free(struct atr_key *k)
{
	(void)k;
}

static const struct atr_key_ops stub_ops = {
	stub_wrap, stub_unwrap, stub_matches, stub_free,
};

static void
unwrap_once(struct atr_key *k)
{
	static const uint8_t wrapped[48] = {1, 2, 3};
	uint8_t out[ATR_WRAPPED_MAX];
	size_t ol = sizeof(out);

	cr_assert_eq(k->ops->unwrap(k, "kid-1", ATR_WRAP_AES_KWP, wrapped,
	    sizeof(wrapped), out, &ol), ATR_OK);
	cr_assert_eq(ol, ATR_WRAP_INPUT_BYTES);
	cr_assert_eq(out[0], 0x42);
}

Test(verify_cache, entry_not_served_after_ttl)
{
	struct atr_key *inner = atr_key_alloc(&stub_ops), *k;
	struct vfy_wkey *w = NULL;
	struct timespec nap = {0, 450000000L};

	cr_assert_not_null(inner);
	k = vfy_wkey_new(inner, &w);
	cr_assert_not_null(k);
	vfy_wkey_set_cacheable(w, 1);
	vfy_wkey_set_ttl(w, 0);              /* ignored */
	vfy_wkey_set_ttl(w, 300000000ULL);   /* 300 ms */
	unwraps = 0;
	unwrap_once(k);
	unwrap_once(k);
	cr_assert_eq(unwraps, 1, "the second unwrap is served from the cache");
	nanosleep(&nap, NULL);
	unwrap_once(k);
	cr_assert_eq(unwraps, 2, "an entry older than the TTL was served");
	unwrap_once(k);
	cr_assert_eq(unwraps, 2, "the fresh entry is served");
	atr_key_free(k);
	atr_key_free(inner);
}

Test(verify_cache, default_ttl_keeps_entries)
{
	struct atr_key *inner = atr_key_alloc(&stub_ops), *k;
	struct vfy_wkey *w = NULL;
	int i;

	cr_assert_not_null(inner);
	k = vfy_wkey_new(inner, &w);
	cr_assert_not_null(k);
	vfy_wkey_set_cacheable(w, 1);
	unwraps = 0;
	for (i = 0; i < 5; i++)
		unwrap_once(k);
	cr_assert_eq(unwraps, 1);
	atr_key_free(k);
	atr_key_free(inner);
}
