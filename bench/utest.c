/*
 * utest.c - the two-sided Mann-Whitney U test (the "U test" of Google
 * Benchmark's tools/compare.py, which calls scipy.stats.mannwhitneyu)
 * and the interquartile range, for `bench compare`.
 *
 * Mann and Whitney, "On a test of whether one of two random variables
 * is stochastically larger than the other", Ann. Math. Statist. 18
 * (1947).  Without ties and for small samples the p-value is exact:
 * the number of orderings of n1 + n2 values giving U = u is the
 * coefficient of q^u in the Gaussian binomial [n1 + n2, n1]_q.  With
 * ties or larger samples it is the normal approximation with the tie
 * correction of the variance and a continuity correction of 0.5, as
 * scipy does.
 */
#include "bench.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Exact only while every count fits: C(50, 25) * 2 < 2^63. */
#define EXACT_MAX_N 50U

static int
cmp_dbl(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/*
 * The counts of U = 0..n1*n2 over all C(n1 + n2, n1) orderings into
 * f[] (n1 * n2 + 1 entries, the caller's): the product over
 * i = 1..n1 of (1 - q^(n2 + i)) / (1 - q^i), each factor applied in
 * place.  Every intermediate is a polynomial with integer
 * coefficients no larger than twice the final ones.
 */
static void
u_counts(unsigned n1, unsigned n2, int64_t *f)
{
	size_t deg = (size_t)n1 * n2, k, i, a;

	memset(f, 0, (deg + 1) * sizeof(*f));
	f[0] = 1;
	for (i = 1; i <= n1; i++) {
		a = n2 + i;
		for (k = deg; k >= a; k--)        /* times (1 - q^a) */
			f[k] -= f[k - a];
		for (k = i; k <= deg; k++)        /* over (1 - q^i) */
			f[k] += f[k - i];
	}
}

static double
exact_p(unsigned n1, unsigned n2, double u)
{
	size_t deg = (size_t)n1 * n2, k, lo;
	int64_t *f = malloc((deg + 1) * sizeof(*f));
	double tail = 0, total = 0, p;

	if (f == NULL)
		return NAN;
	u_counts(n1, n2, f);
	/* The distribution is symmetric: the smaller tail, doubled. */
	lo = (size_t)(u < (double)deg - u ? u : (double)deg - u);
	for (k = 0; k <= deg; k++) {
		total += (double)f[k];
		if (k <= lo)
			tail += (double)f[k];
	}
	free(f);
	p = 2.0 * tail / total;
	return p < 1.0 ? p : 1.0;
}

double
atb_utest_min_p(unsigned n1, unsigned n2)
{
	double c = 1;
	unsigned i;

	if (n1 == 0 || n2 == 0)
		return 1.0;
	/* The most extreme ordering, on either side: 2 / C(n1 + n2, n1). */
	for (i = 1; i <= n1; i++)
		c = c * (double)(n2 + i) / (double)i;
	return 2.0 / c < 1.0 ? 2.0 / c : 1.0;
}

unsigned
atb_utest_min_reps(double alpha)
{
	unsigned n;

	for (n = 1; n <= ATB_REPS_MAX; n++)
		if (atb_utest_min_p(n, n) < alpha)
			return n;
	return ATB_REPS_MAX + 1;
}

/* Ranks (ties get their mean rank) of x then y, pooled; the sum of
 * x's ranks into *r1 and sum(t^3 - t) over tied groups into *ties. */
static int
rank_sum(const double *x, unsigned n1, const double *y, unsigned n2,
    double *r1, double *ties)
{
	size_t n = (size_t)n1 + n2, i, j, k;
	double *v = malloc(n * sizeof(*v));

	if (v == NULL)
		return -1;
	memcpy(v, x, n1 * sizeof(*v));
	memcpy(v + n1, y, n2 * sizeof(*v));
	qsort(v, n, sizeof(*v), cmp_dbl);
	*r1 = 0;
	*ties = 0;
	for (i = 0; i < n; i = j) {
		double t, rank;

		for (j = i + 1; j < n && v[j] == v[i]; j++)
			;
		t = (double)(j - i);
		rank = ((double)i + 1.0 + (double)j) / 2.0;
		*ties += t * t * t - t;
		for (k = 0; k < n1; k++)
			if (x[k] == v[i])
				*r1 += rank;
	}
	free(v);
	return 0;
}

int
atb_utest(const double *x, unsigned n1, const double *y, unsigned n2,
    double *u1, double *p, int *exact)
{
	double r1, ties, mu, var, z, n = (double)n1 + (double)n2;

	*u1 = NAN;
	*p = NAN;
	*exact = 0;
	if (n1 == 0 || n2 == 0)
		return -1;
	if (rank_sum(x, n1, y, n2, &r1, &ties) != 0)
		return -1;
	*u1 = r1 - (double)n1 * ((double)n1 + 1.0) / 2.0;
	if (ties == 0 && n1 + n2 <= EXACT_MAX_N) {
		*exact = 1;
		*p = exact_p(n1, n2, *u1);
		return isnan(*p) ? -1 : 0;
	}
	mu = (double)n1 * (double)n2 / 2.0;
	var = (double)n1 * (double)n2 / 12.0 *
	    ((n + 1.0) - ties / (n * (n - 1.0)));
	if (!(var > 0)) {
		*p = 1.0;       /* every value equal: no evidence either way */
		return 0;
	}
	z = (fabs(*u1 - mu) - 0.5) / sqrt(var);
	if (z < 0)
		z = 0;
	*p = erfc(z / sqrt(2.0));
	if (*p > 1.0)
		*p = 1.0;
	return 0;
}

/* The q-quantile of sorted s[0..n) by linear interpolation (R's type
 * 7, numpy's default). */
static double
quantile(const double *s, unsigned n, double q)
{
	double h = (double)(n - 1) * q, f = floor(h);
	unsigned i = (unsigned)f;

	if (i + 1 >= n)
		return s[n - 1];
	return s[i] + (h - f) * (s[i + 1] - s[i]);
}

int
atb_quartiles(const double *v, unsigned n, double *q1, double *med,
    double *q3)
{
	double *s;

	*q1 = *med = *q3 = NAN;
	if (n == 0)
		return -1;
	s = malloc(n * sizeof(*s));
	if (s == NULL)
		return -1;
	memcpy(s, v, n * sizeof(*s));
	qsort(s, n, sizeof(*s), cmp_dbl);
	*q1 = quantile(s, n, 0.25);
	*med = quantile(s, n, 0.5);
	*q3 = quantile(s, n, 0.75);
	free(s);
	return 0;
}
