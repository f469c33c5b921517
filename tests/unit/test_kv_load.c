/*
 * test_kv_load.c - the Key Vault client under load and injected faults.
 *
 * Two threads make 10,000 wrap/unwrap calls through the azure-kv
 * provider against the loopback vault, which adds latency and jitter,
 * answers 429 (with and without Retry-After), 500 and 503 and drops
 * connections at random.  Every call must either succeed (after
 * retries), with an unwrap that gives back exactly what was wrapped, or
 * fail with a reported remote error and a one-line reason: none fails
 * silently and none succeeds with wrong bytes.  The client's counters
 * must account for every fault the server injected.  Leaks are left to
 * LeakSanitizer (the suite runs again under ASan in make test).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "crypto.h"
#include "key.h"
#include "keys.h"
#include "kv_client.h"
#include "kv_server.h"
#include "testutil.h"

#define CALLS 10000
#define THREADS 2

static struct atr_kv_server *srv;
static char *dir;

struct worker {
	struct atr_key *key;
	unsigned ok, failed, silent, corrupt, unexpected;
	char first_error[256];
};

static void *
work(void *arg)
{
	struct worker *w = arg;
	uint8_t in[64], wrapped[ATR_WRAPPED_MAX], back[ATR_WRAPPED_MAX];
	int i;

	/* Each iteration is two calls: a wrap, then the unwrap of it. */
	for (i = 0; i < CALLS / THREADS / 2; i++) {
		size_t wl = sizeof(wrapped), bl = sizeof(back);
		enum atr_err e;

		atr_random(in, sizeof(in));
		atr_detail_clear();
		e = w->key->ops->wrap(w->key, in, sizeof(in), wrapped, &wl);
		if (e != ATR_OK) {
			w->failed += 2;
			if (*atr_detail() == '\0')
				w->silent++;
			if (e != ATR_ERR_THROTTLED && e != ATR_ERR_NETWORK &&
			    e != ATR_ERR_TIMEOUT)
				w->unexpected++;
			if (w->first_error[0] == '\0')
				snprintf(w->first_error, sizeof(w->first_error),
				    "%s: %s", atr_errname(e), atr_detail());
			continue;
		}
		w->ok++;
		atr_detail_clear();
		e = w->key->ops->unwrap(w->key, w->key->key_id, w->key->alg,
		    wrapped, wl, back, &bl);
		if (e != ATR_OK) {
			w->failed++;
			if (*atr_detail() == '\0')
				w->silent++;
			if (e != ATR_ERR_THROTTLED && e != ATR_ERR_NETWORK &&
			    e != ATR_ERR_TIMEOUT)
				w->unexpected++;
			if (w->first_error[0] == '\0')
				snprintf(w->first_error, sizeof(w->first_error),
				    "%s: %s", atr_errname(e), atr_detail());
			continue;
		}
		if (bl != sizeof(in) || memcmp(back, in, sizeof(in)) != 0)
			w->corrupt++;
		w->ok++;
	}
	atr_kv_thread_cleanup();
	return NULL;
}

Test(kv_load, ten_thousand_calls_under_faults, .timeout = 600)
{
	struct atr_kv_server_opts o;
	struct atr_kv_server_stats ss;
	struct atr_kv_stats cs;
	struct atr_kv_client *c = NULL;
	struct atr_kv_create cr = {0};
	struct atr_kv_key kb;
	struct atr_key *key = NULL;
	struct worker w[THREADS];
	pthread_t th[THREADS];
	char uri[512];
	unsigned ok = 0, failed = 0, i;
	uint64_t faults, resent;

	dir = tu_tmpdir("kvload");
	cr_assert_not_null(dir);
	atr_kv_server_opts_init(&o);
	o.listen = "127.0.0.1:0";
	o.state_dir = dir;
	o.token_mode = ATR_KV_TOKEN_ANY;
	cr_assert_eq(atr_kv_server_start(&o, &srv), ATR_OK, "%s", atr_detail());
	setenv("ATREST_CA_FILE", atr_kv_server_ca_path(srv), 1);
	setenv("ATREST_AZURE_TOKEN", "load-test-token", 1);
	setenv("ATREST_AZURE_CREDENTIAL", "token", 1);
	setenv("ATREST_KV_BACKOFF_MS", "1", 1);
	setenv("ATREST_KV_MAX_BACKOFF_MS", "10", 1);
	unsetenv("ATREST_KV_MAX_RETRIES");
	atr_kv_cache_clear();

	cr_assert_eq(atr_kv_client_new(atr_kv_server_url(srv), NULL, &c), ATR_OK,
	    "%s", atr_detail());
	cr.kty = "RSA";
	cr.size = 2048;
	cr_assert_eq(atr_kv_create_key(c, "load", &cr, &kb), ATR_OK, "%s",
	    atr_detail());
	atr_kv_client_free(c);
	snprintf(uri, sizeof(uri), "%s/keys/load", atr_kv_server_url(srv));
	cr_assert_eq(atr_key_open(uri, NULL, &key), ATR_OK, "%s", atr_detail());

	/* Faults only from here on: the set-up above is not under test. */
	cr_assert_eq(atr_kv_server_set_faults(srv,
	    "latency=300us,jitter=300us,429=0.04,retry-after=0,500=0.02,"
	    "503=0.02,drop=0.02,seed=7"), ATR_OK, "%s", atr_detail());
	atr_kv_stats_reset();
	memset(w, 0, sizeof(w));
	for (i = 0; i < THREADS; i++) {
		w[i].key = key;
		cr_assert_eq(pthread_create(&th[i], NULL, work, &w[i]), 0);
	}
	for (i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	atr_kv_stats_get(&cs);
	atr_kv_server_get_stats(srv, &ss);
	for (i = 0; i < THREADS; i++) {
		ok += w[i].ok;
		failed += w[i].failed;
		cr_expect_eq(w[i].silent, 0, "thread %u: %u silent failures", i,
		    w[i].silent);
		cr_expect_eq(w[i].corrupt, 0, "thread %u: %u wrong unwraps", i,
		    w[i].corrupt);
		cr_expect_eq(w[i].unexpected, 0, "thread %u: %u unexpected "
		    "errors, first: %s", i, w[i].unexpected, w[i].first_error);
	}
	faults = ss.fault_status + ss.fault_drop;
	/* libcurl itself re-sends a request once when a reused keep-alive
	 * connection turns out dead, which is what a dropped connection can
	 * look like; the server sees those requests, the client's counters
	 * do not. */
	resent = ss.requests > cs.attempts ? ss.requests - cs.attempts : 0;
	fprintf(stderr, "kv_load: %u calls: %u ok, %u failed with a reported "
	    "error; server injected %llu status faults, %llu drops, delayed "
	    "%llu of %llu requests; client made %llu attempts, %llu retries "
	    "(%llu more re-sent by libcurl), %llu throttled answers\n",
	    ok + failed, ok, failed,
	    (unsigned long long)ss.fault_status,
	    (unsigned long long)ss.fault_drop,
	    (unsigned long long)ss.fault_latency,
	    (unsigned long long)ss.requests,
	    (unsigned long long)cs.attempts, (unsigned long long)cs.retries,
	    (unsigned long long)resent, (unsigned long long)cs.throttled);
	cr_assert_eq(ok + failed, CALLS);
	cr_assert_gt(faults, 100, "the faults were not injected");
	/* Every injected fault is either retried or reported. */
	cr_assert_geq(cs.retries + resent + failed, faults,
	    "%llu faults but only %llu retries, %llu re-sends and %u failures",
	    (unsigned long long)faults, (unsigned long long)cs.retries,
	    (unsigned long long)resent, failed);
	cr_assert_geq(cs.throttled, 1, "no 429 reached the client");
	cr_assert_geq(ok, CALLS * 99 / 100, "too many failures: %u", failed);

	atr_key_free(key);
	atr_kv_thread_cleanup();
	atr_kv_cache_clear();
	atr_kv_server_stop(srv);
	tu_rmtree(dir);
	free(dir);
}
