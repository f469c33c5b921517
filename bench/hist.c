/*
 * hist.c - the latency histogram and small statistics (bench.h), and the
 * CPU-time clocks (bench_int.h; wall time is core/util.h's atr_now_ns).
 */
#include "bench_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint64_t
clock_ns(clockid_t id)
{
	struct timespec ts;

	if (clock_gettime(id, &ts) != 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

uint64_t
atb_thread_cpu_ns(void)
{
	return clock_ns(CLOCK_THREAD_CPUTIME_ID);
}

uint64_t
bn_process_cpu_ns(void)
{
	return clock_ns(CLOCK_PROCESS_CPUTIME_ID);
}

static unsigned
msb64(uint64_t v)
{
	return 63U - (unsigned)__builtin_clzll(v);
}

size_t
atb_hist_index(uint64_t v)
{
	unsigned e;

	if (v < ATB_HIST_SUB)
		return (size_t)v;
	/* e >= SUB_BITS: keep the SUB_BITS bits below the leading one. */
	e = msb64(v);
	return (size_t)(e - ATB_HIST_SUB_BITS + 1U) * ATB_HIST_SUB +
	    (size_t)((v >> (e - ATB_HIST_SUB_BITS)) - ATB_HIST_SUB);
}

uint64_t
atb_hist_lower(size_t idx)
{
	size_t b = idx / ATB_HIST_SUB;
	uint64_t m = ATB_HIST_SUB + idx % ATB_HIST_SUB;

	if (idx < 2U * ATB_HIST_SUB)
		return (uint64_t)idx;
	return m << (b - 1U);
}

uint64_t
atb_hist_upper(size_t idx)
{
	size_t b = idx / ATB_HIST_SUB;

	if (idx < 2U * ATB_HIST_SUB)
		return (uint64_t)idx;
	/* The last bucket ends at UINT64_MAX without overflowing. */
	return atb_hist_lower(idx) + ((1ULL << (b - 1U)) - 1U);
}

void
atb_hist_reset(struct atb_hist *h)
{
	memset(h, 0, sizeof(*h));
	h->min = UINT64_MAX;
}

void
atb_hist_add_n(struct atb_hist *h, uint64_t v, uint64_t n)
{
	if (n == 0)
		return;
	h->c[atb_hist_index(v)] += n;
	h->count += n;
	h->sum += (double)v * (double)n;
	if (v < h->min)
		h->min = v;
	if (v > h->max)
		h->max = v;
}

void
atb_hist_add(struct atb_hist *h, uint64_t v)
{
	atb_hist_add_n(h, v, 1);
}

void
atb_hist_merge(struct atb_hist *dst, const struct atb_hist *src)
{
	size_t i;

	if (src->count == 0)
		return;
	for (i = 0; i < ATB_HIST_BUCKETS; i++)
		dst->c[i] += src->c[i];
	dst->count += src->count;
	dst->sum += src->sum;
	if (src->min < dst->min)
		dst->min = src->min;
	if (src->max > dst->max)
		dst->max = src->max;
}

uint64_t
atb_hist_quantile(const struct atb_hist *h, double q)
{
	uint64_t rank, seen = 0, lo, hi, mid;
	size_t i;

	if (h->count == 0)
		return 0;
	if (!(q > 0.0))
		return h->min;
	if (q >= 1.0)
		return h->max;
	/* The ceil(q * n)-th smallest sample (nearest rank). */
	rank = (uint64_t)ceil(q * (double)h->count);
	if (rank < 1)
		rank = 1;
	for (i = 0; i < ATB_HIST_BUCKETS; i++) {
		seen += h->c[i];
		if (seen >= rank)
			break;
	}
	if (i == ATB_HIST_BUCKETS)
		return h->max;
	lo = atb_hist_lower(i);
	hi = atb_hist_upper(i);
	mid = lo + (hi - lo) / 2U;
	if (mid < h->min)
		mid = h->min;
	if (mid > h->max)
		mid = h->max;
	return mid;
}

double
atb_hist_mean(const struct atb_hist *h)
{
	return h->count ? h->sum / (double)h->count : 0.0;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

void
atb_stat_of(double *v, unsigned n, struct atb_stat *out)
{
	out->n = n;
	if (n == 0) {
		out->med = out->min = out->max = NAN;
		return;
	}
	qsort(v, n, sizeof(*v), cmp_double);
	out->min = v[0];
	out->max = v[n - 1];
	out->med = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2.0;
}

double
atb_stat_spread(const struct atb_stat *s)
{
	if (s->n == 0 || !(s->med > 0.0))
		return 0.0;
	return (s->max - s->min) / s->med;
}

/*
 * The order statistics x(k) and x(n+1-k) bound a confidence interval of
 * the median with coverage 1 - 2 P(Bin(n, 1/2) <= k - 1), whatever the
 * distribution (Hollander, Wolfe and Chicken, "Nonparametric Statistical
 * Methods", 3rd ed., 3.6; Conover, "Practical Nonparametric
 * Statistics", 3.2).  The largest k with coverage >= 95 %.
 */
unsigned
atb_rep_spread_k(unsigned n)
{
	double pk = 0, tail = 0;
	unsigned k = 0;

	if (n == 0)
		return 1;
	/* P(Bin(n, 1/2) = 0) = 2^-n, then P(= j + 1) = P(= j) (n - j) /
	 * (j + 1); tail is P(<= k - 1) for the k being tried. */
	pk = ldexp(1.0, -(int)(n < 1000 ? n : 1000));
	while (k < n / 2) {
		tail += pk;
		if (2.0 * tail > 0.05)
			break;
		pk = pk * (double)(n - k) / (double)(k + 1);
		k++;
	}
	return k > 0 ? k : 1;
}

double
atb_rep_spread(const double *v, unsigned n)
{
	double *s, med, w;
	unsigned k;

	if (n == 0)
		return 0;
	s = malloc(n * sizeof(*s));
	if (s == NULL)
		return INFINITY;
	memcpy(s, v, n * sizeof(*s));
	qsort(s, n, sizeof(*s), cmp_double);
	med = n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2.0;
	k = atb_rep_spread_k(n);
	w = s[n - k] - s[k - 1];
	free(s);
	return med > 0 ? w / med : 0;
}
