/*
 * targets.c - the targets that close the report (docs/BENCH.md,
 * "Targets"), read from a run's cells: measured on wall clock and on CPU
 * time, never asserted.  Each is a ratio to something measured in the
 * same run (the cell's limit, raw AES-GCM, another cell), except the
 * SMK rate, kept from the first round as an absolute figure.
 */
#include "bench.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The first cell that ran at these coordinates: the one of key, or
 * (key NULL) the first CMK (cmk 1) or SMK (cmk 0) one. */
static const struct atb_cell *
find(const struct atb_results *r, int cmk, const char *key, enum atb_hier h,
    uint64_t size, enum atb_op op, unsigned threads)
{
	size_t i;

	for (i = 0; i < r->ncells; i++) {
		const struct atb_cell *c = &r->cells[i];

		if (c->skipped || c->hier != h || c->size != size ||
		    c->op != op || c->threads != threads)
			continue;
		if (key != NULL ? strcmp(c->key, key) == 0 : c->cmk == cmk)
			return c;
	}
	return NULL;
}

/*
 * 64 MiB vs raw AES-256-GCM: the median over every one-thread 64 MiB
 * cell of the op (all keys and hierarchies), since one cell's reference
 * can land in a slow phase of the host.  At 64 MiB the KEK call is
 * under 0.3 % of the limit, so the CPU-time ratio to the limit is the
 * ratio to raw GCM.
 */
static void
target_gcm(const struct atb_results *r, enum atb_op op, struct atb_target *t)
{
	const uint64_t big = 64ULL * 1024 * 1024;
	double w[ATB_MAX_KEYS * ATB_HIER__COUNT], u[ATB_MAX_KEYS *
	    ATB_HIER__COUNT];
	unsigned nw = 0, nu = 0;
	struct atb_stat sw, su;
	size_t i;

	t->name = op == ATB_ENCRYPT ? "64 MiB encrypt vs raw AES-256-GCM" :
	    "64 MiB decrypt vs raw AES-256-GCM";
	t->want = ">= 0.97";
	t->goal = 0.97;
	for (i = 0; i < r->ncells && nw < ATB_MAX_KEYS * ATB_HIER__COUNT;
	    i++) {
		const struct atb_cell *x = &r->cells[i];

		if (x->skipped || x->size != big || x->op != op ||
		    x->threads != 1 || x->vs_aead.n == 0)
			continue;
		w[nw++] = x->vs_aead.med;
		if (x->vs_limit_cpu.n > 0)
			u[nu++] = x->vs_limit_cpu.med;
	}
	atb_stat_of(w, nw, &sw);
	atb_stat_of(u, nu, &su);
	if (nw > 0) {
		t->value = sw.med;
		t->value_cpu = nu ? su.med : NAN;
		snprintf(t->detail, sizeof(t->detail),
		    "median of %u cells (64 MiB, 1 thread, every key and "
		    "hierarchy): wall %.2f-%.2f, CPU %.2f-%.2f", nw, sw.min,
		    sw.max, nu ? su.min : NAN, nu ? su.max : NAN);
	}
}

/*
 * A one-thread per-object 1 KiB cell against its own limit (raw GCM of
 * 1 KiB plus one KEK operation, docs/BENCH.md "Limits and ratios"):
 * what the format costs per object beyond the crypto it cannot avoid.
 * key NULL: the first SMK cell.
 */
static void
target_per_object(const struct atb_results *r, const char *key,
    enum atb_op op, const char *name, const char *want, double goal,
    struct atb_target *t)
{
	const struct atb_cell *a;

	t->name = name;
	t->want = want;
	t->goal = goal;
	a = find(r, 0, key, ATB_PER_OBJECT, 1024, op, 1);
	if (a == NULL || a->vs_limit.n == 0)
		return;
	t->value = a->vs_limit.med;
	t->value_cpu = a->vs_limit_cpu.n > 0 ? a->vs_limit_cpu.med : NAN;
	snprintf(t->detail, sizeof(t->detail),
	    "%.40s per-object 1K %s: %.2f us/op against a limit of %.2f us "
	    "(GCM %.2f + KEK %.2f); wall %.2f-%.2f", a->key,
	    atb_op_name(op), a->ops_per_s.med > 0 ? 1e6 / a->ops_per_s.med :
	    NAN, a->limit_ops_per_s > 0 ? 1e6 / a->limit_ops_per_s : NAN,
	    a->limit_aead_us, a->limit_kek_us, a->vs_limit.min,
	    a->vs_limit.max);
}

/* SMK 1 KiB encrypts per second on one core (per-object). */
static void
target_smk_rate(const struct atb_results *r, struct atb_target *t)
{
	const struct atb_cell *a;

	t->name = "SMK 1 KiB encrypts per second, one core";
	t->want = ">= 150000";
	t->goal = 150000;
	a = find(r, 0, NULL, ATB_PER_OBJECT, 1024, ATB_ENCRYPT, 1);
	if (a != NULL) {
		t->value = a->ops_per_s.med;
		t->value_cpu = a->ops_per_cpu_s;
		snprintf(t->detail, sizeof(t->detail),
		    "%.40s per-object: %.0f/s [%.0f-%.0f], p50 %.2f us", a->key,
		    a->ops_per_s.med, a->ops_per_s.min, a->ops_per_s.max,
		    a->p50_us);
	}
}

/* A CMK with an intermediate key against SMK per-object, 1 KiB. */
static void
target_cmk_vs_smk(const struct atb_results *r, struct atb_target *t)
{
	const struct atb_cell *a, *b;

	t->name = "CMK intermediate 1 KiB encrypt vs SMK";
	t->want = ">= 0.90";
	t->goal = 0.90;
	a = find(r, 1, NULL, ATB_INTERMEDIATE, 1024, ATB_ENCRYPT, 1);
	b = find(r, 0, NULL, ATB_PER_OBJECT, 1024, ATB_ENCRYPT, 1);
	if (a != NULL && b != NULL) {
		t->value = a->ops_per_s.med / b->ops_per_s.med;
		t->value_cpu = a->ops_per_cpu_s / b->ops_per_cpu_s;
		snprintf(t->detail, sizeof(t->detail),
		    "%.40s intermediate %.0f/s vs %.40s per-object %.0f/s "
		    "(vs %.40s intermediate, same reps: %.2f)", a->key,
		    a->ops_per_s.med, b->key, b->ops_per_s.med, b->key,
		    a->cmk_vs_smk.med);
	}
}

/*
 * Two threads against one: the median over every two-thread cell.  On
 * CPU time: with two cores to itself, a cell whose CPU time per op does
 * not grow with the second thread runs twice as fast.
 */
static void
target_threads(const struct atb_results *r, struct atb_target *t)
{
	double *w = calloc(r->ncells + 1, sizeof(double));
	double *u = calloc(r->ncells + 1, sizeof(double));
	const struct atb_cell *a, *c;
	unsigned nw = 0, nu = 0;
	struct atb_stat sw, su;
	size_t i;

	t->name = "two threads vs one thread";
	t->want = ">= 1.80";
	t->goal = 1.80;
	for (i = 0; w != NULL && u != NULL && i < r->ncells; i++) {
		const struct atb_cell *x = &r->cells[i];

		if (x->skipped || x->threads != 2 || x->vs_1thread.n == 0)
			continue;
		w[nw++] = x->vs_1thread.med;
		c = find(r, x->cmk, x->key, x->hier, x->size, x->op, 1);
		if (c != NULL && x->cpu_us_per_op > 0)
			u[nu++] = 2.0 * c->cpu_us_per_op / x->cpu_us_per_op;
	}
	a = find(r, 0, NULL, ATB_PER_OBJECT, 1024, ATB_ENCRYPT, 2);
	if (nw > 0) {
		atb_stat_of(w, nw, &sw);
		atb_stat_of(u, nu, &su);
		t->value = sw.med;
		t->value_cpu = nu ? su.med : NAN;
		snprintf(t->detail, sizeof(t->detail),
		    "median of %u two-thread cells: wall %.2f-%.2f, CPU "
		    "%.2f-%.2f; SMK per-object 1K encrypt %.2f", nw, sw.min,
		    sw.max, nu ? su.min : NAN, nu ? su.max : NAN,
		    a && a->vs_1thread.n ? a->vs_1thread.med : NAN);
	}
	free(w);
	free(u);
}

void
atb_targets(const struct atb_results *r, struct atb_target t[ATB_NTARGETS])
{
	size_t i;

	memset(t, 0, ATB_NTARGETS * sizeof(*t));
	for (i = 0; i < ATB_NTARGETS; i++) {
		t[i].value = t[i].value_cpu = NAN;
		t[i].met = t[i].met_cpu = -1;
	}
	target_gcm(r, ATB_ENCRYPT, &t[0]);
	target_gcm(r, ATB_DECRYPT, &t[1]);
	target_per_object(r, NULL, ATB_ENCRYPT,
	    "SMK per-object 1 KiB encrypt vs limit", ">= 0.60", 0.60, &t[2]);
	target_per_object(r, NULL, ATB_DECRYPT,
	    "SMK per-object 1 KiB decrypt vs limit", ">= 0.60", 0.60, &t[3]);
	target_per_object(r, "rsa-3072", ATB_ENCRYPT,
	    "CMK RSA-3072 1 KiB encrypt vs limit", ">= 0.95", 0.95,
	    &t[4]);
	target_per_object(r, "rsa-3072", ATB_DECRYPT,
	    "CMK RSA-3072 1 KiB decrypt vs limit", ">= 0.97", 0.97,
	    &t[5]);
	target_smk_rate(r, &t[6]);
	target_cmk_vs_smk(r, &t[7]);
	target_threads(r, &t[8]);
	for (i = 0; i < ATB_NTARGETS; i++) {
		if (!isnan(t[i].value))
			t[i].met = t[i].value >= t[i].goal;
		if (!isnan(t[i].value_cpu))
			t[i].met_cpu = t[i].value_cpu >= t[i].goal;
	}
}
