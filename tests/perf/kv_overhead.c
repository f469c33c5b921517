/*
 * kv_overhead - what the Key Vault provider adds to a call (a benchmark,
 * not a test: `make perf-kv`).
 *
 * Against the loopback vault started in-process, the same wrapkey and
 * unwrapkey requests are made two ways, interleaved in rounds: as bare
 * keep-alive HTTPS POSTs with a prepared body through one libcurl handle
 * (the floor: TLS, HTTP, the server's RSA work), and through the
 * azure-kv provider's wrap/unwrap (adds JSON, base64url, auth header,
 * retries bookkeeping, statistics).  The difference of the medians is
 * the provider's cost per call.  Then calls per second through the
 * provider from 1 and 2 threads.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "crypto.h"
#include "key.h"
#include "keys.h"
#include "kv_client.h"
#include "kv_server.h"
#include "codec.h"

#define ROUNDS 10
#define PER_ROUND 200

static double
now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static size_t
sink(char *p, size_t s, size_t n, void *u)
{
	(void)p;
	(void)u;
	return s * n;
}

static int
cmpd(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double
median(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmpd);
	return v[n / 2];
}

struct thr {
	struct atr_key *k;
	double seconds;
	unsigned calls;
};

static void *
worker(void *arg)
{
	struct thr *t = arg;
	uint8_t in[64], w[1024], b[1024];
	double t0 = now();

	atr_random(in, sizeof(in));
	while (now() - t0 < t->seconds) {
		size_t wl = sizeof(w), bl = sizeof(b);

		if (t->k->ops->wrap(t->k, in, 64, w, &wl) != ATR_OK ||
		    t->k->ops->unwrap(t->k, t->k->key_id, t->k->alg, w, wl, b,
		    &bl) != ATR_OK)
			break;
		t->calls += 2;
	}
	atr_kv_thread_cleanup();
	return NULL;
}

static double
rate(struct atr_key *k, int nthreads, double seconds)
{
	pthread_t th[2];
	struct thr t[2];
	unsigned total = 0;
	double t0 = now();
	int i;

	for (i = 0; i < nthreads; i++) {
		t[i].k = k;
		t[i].seconds = seconds;
		t[i].calls = 0;
		pthread_create(&th[i], NULL, worker, &t[i]);
	}
	for (i = 0; i < nthreads; i++) {
		pthread_join(th[i], NULL);
		total += t[i].calls;
	}
	return total / (now() - t0);
}

int
main(void)
{
	static double bw[ROUNDS * PER_ROUND], pw[ROUNDS * PER_ROUND];
	static double bu[ROUNDS * PER_ROUND], pu[ROUNDS * PER_ROUND];
	char dir[] = "/tmp/atrest-kvperf-XXXXXX", url[512], body_w[1100];
	char body_u[2048], wurl[1100], uurl[1100], b64[1024];
	struct atr_kv_server_opts o;
	struct atr_kv_server *srv = NULL;
	struct atr_kv_client *c = NULL;
	struct atr_kv_create cr = {0};
	struct atr_kv_key kb;
	struct atr_key *k = NULL;
	struct curl_slist *hdr = NULL;
	uint8_t in[64], w[1024], back[1024];
	size_t wl = sizeof(w), bl, i, n = 0;
	CURL *h;
	int r;

	if (mkdtemp(dir) == NULL)
		return 2;
	atr_kv_server_opts_init(&o);
	o.listen = "127.0.0.1:0";
	o.state_dir = dir;
	if (atr_kv_server_start(&o, &srv) != ATR_OK) {
		fprintf(stderr, "server: %s\n", atr_detail());
		return 2;
	}
	setenv("ATREST_CA_FILE", atr_kv_server_ca_path(srv), 1);
	setenv("ATREST_AZURE_TOKEN", "perf-token", 1);
	setenv("ATREST_AZURE_CREDENTIAL", "token", 1);
	atr_kv_client_new(atr_kv_server_url(srv), NULL, &c);
	cr.kty = "RSA";
	cr.size = 2048;
	if (atr_kv_create_key(c, "perf", &cr, &kb) != ATR_OK) {
		fprintf(stderr, "create: %s\n", atr_detail());
		return 2;
	}
	atr_kv_client_free(c);
	snprintf(url, sizeof(url), "%s/keys/perf", atr_kv_server_url(srv));
	if (atr_key_open(url, NULL, &k) != ATR_OK) {
		fprintf(stderr, "open: %s\n", atr_detail());
		return 2;
	}
	atr_random(in, sizeof(in));
	if (k->ops->wrap(k, in, 64, w, &wl) != ATR_OK)
		return 2;
	/* The bare requests: the bodies the provider sends, prepared once. */
	atr_b64url_encode(in, 64, b64, sizeof(b64));
	snprintf(body_w, sizeof(body_w), "{\"alg\":\"RSA-OAEP-256\",\"value\":\"%s\"}", b64);
	atr_b64url_encode(w, wl, b64, sizeof(b64));
	snprintf(body_u, sizeof(body_u), "{\"alg\":\"RSA-OAEP-256\",\"value\":\"%s\"}", b64);
	snprintf(wurl, sizeof(wurl), "%s/wrapkey?api-version=7.4", k->key_id);
	snprintf(uurl, sizeof(uurl), "%s/unwrapkey?api-version=7.4", k->key_id);
	h = curl_easy_init();
	hdr = curl_slist_append(hdr, "Authorization: Bearer perf-token");
	hdr = curl_slist_append(hdr, "Content-Type: application/json");
	curl_easy_setopt(h, CURLOPT_CAINFO, atr_kv_server_ca_path(srv));
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink);
	curl_easy_setopt(h, CURLOPT_POST, 1L);

	for (r = 0; r < ROUNDS; r++) {
		for (i = 0; i < PER_ROUND; i++, n++) {
			double t0;
			long code = 0;

			curl_easy_setopt(h, CURLOPT_URL, wurl);
			curl_easy_setopt(h, CURLOPT_POSTFIELDS, body_w);
			t0 = now();
			curl_easy_perform(h);
			bw[n] = now() - t0;
			curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
			if (code != 200)
				return fprintf(stderr, "bare wrap: HTTP %ld\n", code), 2;
			wl = sizeof(w);
			t0 = now();
			k->ops->wrap(k, in, 64, w, &wl);
			pw[n] = now() - t0;
			curl_easy_setopt(h, CURLOPT_URL, uurl);
			curl_easy_setopt(h, CURLOPT_POSTFIELDS, body_u);
			t0 = now();
			curl_easy_perform(h);
			bu[n] = now() - t0;
			bl = sizeof(back);
			t0 = now();
			if (k->ops->unwrap(k, k->key_id, k->alg, w, wl, back,
			    &bl) != ATR_OK)
				return fprintf(stderr, "unwrap: %s\n", atr_detail()), 2;
			pu[n] = now() - t0;
		}
	}
	{
		double mbw = median(bw, n), mpw = median(pw, n);
		double mbu = median(bu, n), mpu = median(pu, n);

		printf("kv_overhead: %zu calls of each kind, interleaved, RSA-2048, "
		    "loopback vault, keep-alive TLS\n", n);
		printf("  wrapkey    bare HTTPS p50 %8.1f us   provider p50 %8.1f us"
		    "   added %+7.1f us\n", mbw * 1e6, mpw * 1e6, (mpw - mbw) * 1e6);
		printf("  unwrapkey  bare HTTPS p50 %8.1f us   provider p50 %8.1f us"
		    "   added %+7.1f us\n", mbu * 1e6, mpu * 1e6, (mpu - mbu) * 1e6);
	}
	printf("  provider calls/s (wrap+unwrap pairs, 3 s each): 1 thread %.0f, "
	    "2 threads %.0f\n", rate(k, 1, 3.0), rate(k, 2, 3.0));
	curl_slist_free_all(hdr);
	curl_easy_cleanup(h);
	atr_key_free(k);
	atr_kv_thread_cleanup();
	atr_kv_cache_clear();
	atr_kv_server_stop(srv);
	{
		char cmd[600];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			return 1;
	}
	return 0;
}
