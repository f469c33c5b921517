/*
 * report.c - results as a readable table, JSON (docs/BENCH.md), CSV and
 * gnuplot charts.  Files go through core/fsutil.h: a temporary file,
 * renamed into place only when complete.
 */
#include "bench.h"
#include "bench_int.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cJSON.h>

#include "fsutil.h"
#include "util.h"

/* ---- formatting helpers ------------------------------------------------- */

static void
fmt_num(double v, char *out, size_t cap)
{
	if (isnan(v))
		snprintf(out, cap, "-");
	else if (v >= 1e6)
		snprintf(out, cap, "%.2fM", v / 1e6);
	else if (v >= 1e4)
		snprintf(out, cap, "%.1fk", v / 1e3);
	else if (v >= 100)
		snprintf(out, cap, "%.0f", v);
	else if (v >= 10)
		snprintf(out, cap, "%.1f", v);
	else
		snprintf(out, cap, "%.2f", v);
}

static void
fmt_us(double v, char *out, size_t cap)
{
	if (isnan(v))
		snprintf(out, cap, "-");
	else if (v >= 10000)
		snprintf(out, cap, "%.1fms", v / 1e3);
	else if (v >= 100)
		snprintf(out, cap, "%.0f", v);
	else if (v >= 10)
		snprintf(out, cap, "%.1f", v);
	else
		snprintf(out, cap, "%.2f", v);
}

static void
fmt_ratio(const struct atb_stat *s, char *out, size_t cap)
{
	if (s->n == 0 || isnan(s->med))
		snprintf(out, cap, "-");
	else
		snprintf(out, cap, "%.2f", s->med);
}

/* A key setup's name in 22 columns: "p11:OBJECT" for a PKCS#11 URI,
 * "kv:NAME" for a Key Vault key, else the name or its tail. */
static void
short_key(const char *k, char *out, size_t cap)
{
	size_t l = strlen(k);
	const char *p;

	if (l <= 22 && l < cap) {
		snprintf(out, cap, "%s", k);
		return;
	}
	if (strncmp(k, "pkcs11:", 7) == 0 &&
	    (p = strstr(k, "object=")) != NULL) {
		snprintf(out, cap, "p11:%.18s", p + 7);
		out[strcspn(out, ";?")] = '\0';
		return;
	}
	if (strncmp(k, "https://", 8) == 0 && (p = strstr(k, "/keys/")) != NULL) {
		snprintf(out, cap, "kv:%.19s", p + 6);
		return;
	}
	snprintf(out, cap, "...%s", k + l - 19);
}

/* ---- text ---------------------------------------------------------------- */

void
atb_print_env(FILE *f, const struct atb_results *r)
{
	const struct atb_env *e = &r->env;

	fprintf(f, "machine: %s, %u cores, %lu MiB; flags: %s; load %.2f\n",
	    e->cpu_model, e->cores, e->mem_total_mb,
	    e->cpu_flags[0] ? e->cpu_flags : "-", e->load_start);
	fprintf(f, "software: %s; %s; kernel %s\n", e->openssl_version,
	    e->compiler, e->kernel);
	if (e->io_dir[0] != '\0')
		fprintf(f, "storage: --io %s, filesystem %s (statfs f_type "
		    "0x%lx); page cache warm for reads\n", e->io_dir, e->io_fs,
		    e->io_magic);
	else
		fprintf(f, "storage: none, cells run in memory (--io DIR "
		    "adds the file write and read)\n");
}

void
atb_print_limits(FILE *f, const struct atb_results *r)
{
	size_t i;

	fprintf(f, "\nmachine limits (one thread, reused contexts; median "
	    "[min-max] of %u measurements):\n",
	    r->nlimits ? r->limits[0].ns_per_op.n : 0);
	for (i = 0; i < r->nlimits; i++) {
		const struct atb_limit *L = &r->limits[i];
		char a[32], b[32], c[64];

		fmt_num(L->ops_per_s, a, sizeof(a));
		fmt_us(L->ns_per_op.med / 1e3, b, sizeof(b));
		/* Wall clock, then CPU time (what `openssl speed` divides
		 * by unless -elapsed). */
		if (!isnan(L->mb_per_s))
			snprintf(c, sizeof(c), "%7.0f MB/s cpu %7.0f MB/s",
			    L->mb_per_s, L->cpu_ns_per_op > 0 ? (double)L->size *
			    1e3 / L->cpu_ns_per_op : NAN);
		else
			snprintf(c, sizeof(c), "cpu %.3g us/op",
			    L->cpu_ns_per_op / 1e3);
		fprintf(f, "  %-28s %9s/s %9s us/op [%.3g-%.3g] %s\n", L->name,
		    a, b, L->ns_per_op.min / 1e3, L->ns_per_op.max / 1e3, c);
	}
	if (r->empty_op_ns > 0)
		fprintf(f, "  harness: %.1f ns per measured op (empty op), %.1f "
		    "ns per clock read; a cell op adds 3 clock reads, a KEK "
		    "call 2\n", r->empty_op_ns, r->clock_ns);
}

/*
 * After the cells, with --until-quiet: what the extra rounds did, and
 * one line per cell that stayed noisy (not quiet) with its repetitions
 * and spreads.
 */
static void
print_quiet(FILE *f, const struct atb_results *r)
{
	size_t i, left = 0;

	if (!(r->cfg.until_quiet > 0))
		return;
	for (i = 0; i < r->ncells; i++)
		left += !r->cells[i].skipped && !r->cells[i].quiet;
	fprintf(f, "\nuntil quiet (--until-quiet %g s; quiet = at least %u "
	    "repetitions for p < %g and a spread of ops/s, vs_limit and "
	    "vs_limit_cpu within %.0f%%): %.1f s spent, %zu cells re-run, %zu "
	    "repetitions added; %zu cells stayed noisy%s\n", r->cfg.until_quiet,
	    atb_utest_min_reps(r->cfg.alpha), r->cfg.alpha, r->cfg.noise_pct,
	    r->quiet_s, r->quiet_cells, r->quiet_reps, left, left ? ":" : "");
	for (i = 0; i < r->ncells; i++) {
		const struct atb_cell *c = &r->cells[i];
		char sz[32], k[32];
		double wl[ATB_REPS_MAX], cpu[ATB_REPS_MAX];
		unsigned j, nw = 0, nc = 0;

		if (c->skipped || c->quiet)
			continue;
		atr_size_label(c->size, sz, sizeof(sz));
		short_key(c->key, k, sizeof(k));
		for (j = 0; j < c->nrep_v; j++) {
			if (c->rep_vs_limit[j] > 0)
				wl[nw++] = c->rep_vs_limit[j];
			if (c->rep_vs_limit_cpu[j] > 0)
				cpu[nc++] = c->rep_vs_limit_cpu[j];
		}
		fprintf(f, "  still noisy: %-12s %5s %-7s %3u %-22s %3u reps "
		    "(+%u), spread: ops/s %.0f%%, vs_limit %.0f%%, vs_limit_cpu "
		    "%.0f%%\n", atb_hier_name(c->hier), sz, atb_op_name(c->op),
		    c->threads, k, c->reps, c->extra_reps, c->spread * 100,
		    atb_rep_spread(wl, nw) * 100, atb_rep_spread(cpu, nc) * 100);
	}
}

void
atb_print_table(FILE *f, const struct atb_results *r)
{
	size_t i;
	int any_phase = 0;

	fprintf(f, "\n%-12s %5s %-7s %3s %-22s %9s %8s %8s %8s %8s %7s %5s "
	    "%7s %8s %6s\n", "hierarchy", "size", "op", "thr", "key", "ops/s",
	    "MB/s", "p50us", "p99us", "p99.9us", "kms/op", "hit%", "CMK/SMK",
	    "vs-limit", "spread");
	for (i = 0; i < r->ncells; i++) {
		const struct atb_cell *c = &r->cells[i];
		char sz[32], k[32], ops[16], mb[16], p50[16], p99[16], p999[16];
		char kms[16], hit[16], cs[16], vl[16];

		atr_size_label(c->size, sz, sizeof(sz));
		short_key(c->key, k, sizeof(k));
		if (c->skipped) {
			fprintf(f, "%-12s %5s %-7s %3u %-22s %s\n",
			    atb_hier_name(c->hier), sz, atb_op_name(c->op),
			    c->threads, k, c->note);
			continue;
		}
		any_phase = 1;
		fmt_num(c->ops_per_s.med, ops, sizeof(ops));
		fmt_num(c->mb_per_s.med, mb, sizeof(mb));
		fmt_us(c->p50_us, p50, sizeof(p50));
		fmt_us(c->p99_us, p99, sizeof(p99));
		fmt_us(c->p999_us, p999, sizeof(p999));
		if (c->kms_calls_per_op >= 0.01 || c->kms_calls_per_op == 0)
			snprintf(kms, sizeof(kms), "%.2f", c->kms_calls_per_op);
		else
			snprintf(kms, sizeof(kms), "%.0e", c->kms_calls_per_op);
		if (c->cache_hit_rate >= 0)
			snprintf(hit, sizeof(hit), "%.1f", c->cache_hit_rate * 100);
		else
			snprintf(hit, sizeof(hit), "-");
		fmt_ratio(&c->cmk_vs_smk, cs, sizeof(cs));
		fmt_ratio(&c->vs_limit, vl, sizeof(vl));
		fprintf(f, "%-12s %5s %-7s %3u %-22s %9s %8s %8s %8s %8s %7s %5s "
		    "%7s %8s %5.0f%%%s\n", atb_hier_name(c->hier), sz,
		    atb_op_name(c->op), c->threads, k, ops, mb, p50, p99, p999,
		    kms, hit, cs, vl, c->spread * 100, c->noisy ? "!" : "");
	}
	print_quiet(f, r);
	if (!any_phase)
		return;
	fprintf(f, "\ntime per op by phase (us; dek = DEK/ids/HKDF/MAC/GCM "
	    "set-up or header parse/HKDF/MAC; io = %s):\n",
	    r->env.io_dir[0] != '\0' ? "temp file, write, fsync, rename, "
	    "directory fsync, or open, read, close" : "0, in memory");
	fprintf(f, "%-12s %5s %-7s %3s %-22s %8s %8s %8s %8s %6s %8s %8s "
	    "%6s %9s %9s %9s %7s\n", "hierarchy", "size", "op", "thr", "key",
	    "dek", "wrap", "unwrap", "aead", "io", "other", "cpu/op", "util",
	    "kms-p50", "kms-p99", "ops/cpu-s", "cpu-lim");
	for (i = 0; i < r->ncells; i++) {
		const struct atb_cell *c = &r->cells[i];
		char sz[32], k[32], v[8][16];
		int p;

		if (c->skipped)
			continue;
		atr_size_label(c->size, sz, sizeof(sz));
		short_key(c->key, k, sizeof(k));
		for (p = 0; p < ATB_PH__COUNT; p++)
			fmt_us(c->phase_us[p], v[p], sizeof(v[p]));
		fmt_us(c->cpu_us_per_op, v[6], sizeof(v[6]));
		fprintf(f, "%-12s %5s %-7s %3u %-22s %8s %8s %8s %8s %6s %8s %8s "
		    "%5.0f%% ", atb_hier_name(c->hier), sz, atb_op_name(c->op),
		    c->threads, k, v[0], v[1], v[2], v[3], v[4], v[5], v[6],
		    c->cpu_util * 100);
		fmt_us(c->kms_p50_us, v[0], sizeof(v[0]));
		fmt_us(c->kms_p99_us, v[1], sizeof(v[1]));
		fmt_num(c->ops_per_cpu_s, v[2], sizeof(v[2]));
		fmt_ratio(&c->vs_limit_cpu, v[3], sizeof(v[3]));
		fprintf(f, "%9s %9s %9s %7s\n", v[0], v[1], v[2], v[3]);
	}
	for (i = 0; i < r->ncells; i++)
		if (!r->cells[i].skipped && r->cells[i].vault_latency_ms >= 0)
			break;
	if (i == r->ncells)
		return;
	fprintf(f, "\nKey Vault cells (loopback vault; calls = wrapkey/unwrapkey "
	    "per second of wall time, as the service's limits count them).\n"
	    "Azure's per-vault limits for software RSA keys: 2048-bit 400/s, "
	    "3072-bit 100/s, 4096-bit 50/s (docs/VAULT.md); enforced here: "
	    "%s\n", r->cfg.vault_limits ? "yes" : "no (--vault-limits)");
	fprintf(f, "%-12s %5s %-7s %3s %-22s %7s %9s %9s %9s %8s %8s %7s "
	    "%8s\n", "hierarchy", "size", "op", "thr", "key", "add-ms", "ops/s",
	    "calls/s", "call-p50", "retries", "429s", "failed", "CMK/SMK");
	for (i = 0; i < r->ncells; i++) {
		const struct atb_cell *c = &r->cells[i];
		char sz[32], k[32], a[16], b[16], d[16], e[16];

		if (c->skipped || c->vault_latency_ms < 0)
			continue;
		atr_size_label(c->size, sz, sizeof(sz));
		short_key(c->key, k, sizeof(k));
		fmt_num(c->ops_per_s.med, a, sizeof(a));
		fmt_num(c->kms_per_s, b, sizeof(b));
		fmt_us(c->kms_p50_us, d, sizeof(d));
		fmt_ratio(&c->cmk_vs_smk, e, sizeof(e));
		fprintf(f, "%-12s %5s %-7s %3u %-22s %7g %9s %9s %9s %8llu %8llu "
		    "%7llu %8s\n", atb_hier_name(c->hier), sz, atb_op_name(c->op),
		    c->threads, k, c->vault_latency_ms, a, b, d,
		    (unsigned long long)c->kms_retries,
		    (unsigned long long)c->kms_throttled,
		    (unsigned long long)c->op_errors, e);
	}
}

void
atb_print_targets(FILE *f, const struct atb_results *r)
{
	struct atb_target t[ATB_NTARGETS];
	size_t i;

	atb_targets(r, t);
	fprintf(f, "\ntargets (measured, side by side in this run; wall clock, "
	    "then on CPU time):\n");
	if (r->env.io_dir[0] != '\0')
		fprintf(f, "  (--io: the targets are set for cells in memory; "
		    "here every cell also pays for storage)\n");
	for (i = 0; i < ATB_NTARGETS; i++) {
		char v[32], w[32];

		if (isnan(t[i].value))
			snprintf(v, sizeof(v), "n/a");
		else if (t[i].goal > 100)
			snprintf(v, sizeof(v), "%.0f", t[i].value);
		else
			snprintf(v, sizeof(v), "%.2f", t[i].value);
		if (isnan(t[i].value_cpu))
			snprintf(w, sizeof(w), "n/a");
		else if (t[i].goal > 100)
			snprintf(w, sizeof(w), "%.0f", t[i].value_cpu);
		else
			snprintf(w, sizeof(w), "%.2f", t[i].value_cpu);
		fprintf(f, "  %-40s %-9s %8s %-4s cpu %8s %-4s %s\n", t[i].name,
		    t[i].want, v, t[i].met < 0 ? "-" : t[i].met ? "met" : "MISS",
		    w, t[i].met_cpu < 0 ? "-" : t[i].met_cpu ? "met" : "MISS",
		    t[i].met < 0 ? "(cells not in this run)" : t[i].detail);
	}
}

void
atb_print_warnings(FILE *f, const struct atb_results *r)
{
	size_t i;

	for (i = 0; i < r->nnotes; i++)
		fprintf(f, "note: %s\n", r->notes[i]);
	for (i = 0; i < r->nwarnings; i++)
		fprintf(f, "warning: %s\n", r->warnings[i]);
}

/* ---- JSON ---------------------------------------------------------------- */

void
atb_json_num(cJSON *o, const char *name, double v)
{
	if (isnan(v) || isinf(v))
		cJSON_AddNullToObject(o, name);
	else
		cJSON_AddNumberToObject(o, name, v);
}

static void
jstat(cJSON *o, const char *name, const struct atb_stat *s)
{
	char n[64];

	atb_json_num(o, name, s->n ? s->med : NAN);
	snprintf(n, sizeof(n), "%s_min", name);
	atb_json_num(o, n, s->n ? s->min : NAN);
	snprintf(n, sizeof(n), "%s_max", name);
	atb_json_num(o, n, s->n ? s->max : NAN);
}

/* Every repetition's value, in the order they ran (null for none). */
static void
jreps(cJSON *o, const char *name, const double *v, unsigned n)
{
	cJSON *a = cJSON_AddArrayToObject(o, name);
	unsigned i;

	for (i = 0; a != NULL && i < n; i++)
		cJSON_AddItemToArray(a, isnan(v[i]) || isinf(v[i]) ?
		    cJSON_CreateNull() : cJSON_CreateNumber(v[i]));
}

static cJSON *
json_env(const struct atb_env *e)
{
	cJSON *o = cJSON_CreateObject(), *fl;

	if (o == NULL)
		return NULL;
	cJSON_AddStringToObject(o, "cpu_model", e->cpu_model);
	fl = cJSON_AddObjectToObject(o, "cpu_flags");
	if (fl != NULL) {
		cJSON_AddBoolToObject(fl, "aes", e->aes);
		cJSON_AddBoolToObject(fl, "pclmulqdq", e->pclmulqdq);
		cJSON_AddBoolToObject(fl, "vaes", e->vaes);
		cJSON_AddBoolToObject(fl, "vpclmulqdq", e->vpclmulqdq);
		cJSON_AddBoolToObject(fl, "avx2", e->avx2);
		cJSON_AddBoolToObject(fl, "avx512f", e->avx512f);
		cJSON_AddBoolToObject(fl, "avx512ifma", e->avx512ifma);
		cJSON_AddBoolToObject(fl, "sha_ni", e->sha_ni);
	}
	cJSON_AddNumberToObject(o, "cores", e->cores);
	cJSON_AddNumberToObject(o, "mem_total_mb", (double)e->mem_total_mb);
	cJSON_AddStringToObject(o, "openssl_version", e->openssl_version);
	cJSON_AddStringToObject(o, "openssl_headers", e->openssl_header);
	cJSON_AddStringToObject(o, "openssl_build", e->openssl_build);
	cJSON_AddStringToObject(o, "openssl_cpuinfo", e->openssl_cpuinfo);
	cJSON_AddStringToObject(o, "compiler", e->compiler);
	cJSON_AddStringToObject(o, "kernel", e->kernel);
	cJSON_AddStringToObject(o, "transparent_hugepages", e->thp);
	if (e->io_dir[0] != '\0') {
		char magic[24];

		snprintf(magic, sizeof(magic), "0x%lx", e->io_magic);
		cJSON_AddStringToObject(o, "io_dir", e->io_dir);
		cJSON_AddStringToObject(o, "io_fs", e->io_fs);
		cJSON_AddStringToObject(o, "io_fs_magic", magic);
	} else {
		cJSON_AddNullToObject(o, "io_dir");
		cJSON_AddNullToObject(o, "io_fs");
		cJSON_AddNullToObject(o, "io_fs_magic");
	}
	atb_json_num(o, "load_start", e->load_start);
	atb_json_num(o, "load_end", e->load_end);
	return o;
}

static cJSON *
json_config(const struct atb_results *r)
{
	const struct atb_config *c = &r->cfg;
	cJSON *o = cJSON_CreateObject(), *a;
	size_t i;

	if (o == NULL)
		return NULL;
	a = cJSON_AddArrayToObject(o, "keys");
	for (i = 0; a != NULL && i < c->nkeys; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(c->keys[i]));
	a = cJSON_AddArrayToObject(o, "hierarchies");
	for (i = 0; a != NULL && i < ATB_HIER__COUNT; i++)
		if (c->hier[i])
			cJSON_AddItemToArray(a, cJSON_CreateString(
			    atb_hier_name((enum atb_hier)i)));
	a = cJSON_AddArrayToObject(o, "ops");
	for (i = 0; a != NULL && i < ATB_OP__COUNT; i++)
		if (c->ops[i])
			cJSON_AddItemToArray(a, cJSON_CreateString(
			    atb_op_name((enum atb_op)i)));
	a = cJSON_AddArrayToObject(o, "sizes");
	for (i = 0; a != NULL && i < c->nsizes; i++)
		cJSON_AddItemToArray(a, cJSON_CreateNumber((double)c->sizes[i]));
	a = cJSON_AddArrayToObject(o, "threads");
	for (i = 0; a != NULL && i < c->nthreads; i++)
		cJSON_AddItemToArray(a, cJSON_CreateNumber(c->threads[i]));
	cJSON_AddNumberToObject(o, "seconds", c->seconds);
	cJSON_AddNumberToObject(o, "warmup_seconds", c->warmup);
	cJSON_AddNumberToObject(o, "reps", c->reps);
	cJSON_AddNumberToObject(o, "frame_size",
	    c->frame_size ? c->frame_size : 65536);
	cJSON_AddBoolToObject(o, "quick", c->quick);
	cJSON_AddBoolToObject(o, "io", c->io_dir != NULL);
	cJSON_AddNumberToObject(o, "intermediate_every", (double)c->ik_every);
	cJSON_AddNumberToObject(o, "intermediate_seconds", c->ik_seconds);
	cJSON_AddNumberToObject(o, "cache_max_age", c->cache_max_age);
	cJSON_AddNumberToObject(o, "cache_ttl", c->cache_ttl[0]);
	cJSON_AddNumberToObject(o, "cache_max_uses", (double)c->cache_max_uses);
	cJSON_AddNumberToObject(o, "cache_max_bytes", (double)c->cache_max_bytes);
	cJSON_AddNumberToObject(o, "noise_pct", c->noise_pct);
	cJSON_AddNumberToObject(o, "until_quiet_s", c->until_quiet);
	cJSON_AddNumberToObject(o, "alpha", c->alpha);
	a = cJSON_AddArrayToObject(o, "vault_latency_ms");
	for (i = 0; a != NULL && i < c->nvault_latency; i++)
		cJSON_AddItemToArray(a, cJSON_CreateNumber(c->vault_latency_ms[i]));
	if (c->vault_faults != NULL)
		cJSON_AddStringToObject(o, "vault_faults", c->vault_faults);
	else
		cJSON_AddNullToObject(o, "vault_faults");
	cJSON_AddBoolToObject(o, "vault_limits", c->vault_limits);
	cJSON_AddNumberToObject(o, "vault_limit_scale", c->vault_limit_scale);
	return o;
}

static cJSON *
json_cell(const struct atb_cell *c, const struct atb_env *e)
{
	cJSON *o = cJSON_CreateObject(), *ph, *cdf;
	unsigned i;

	if (o == NULL)
		return NULL;
	cJSON_AddStringToObject(o, "key", c->key);
	cJSON_AddStringToObject(o, "key_desc", c->key_desc);
	cJSON_AddBoolToObject(o, "cmk", c->cmk);
	cJSON_AddStringToObject(o, "hierarchy", atb_hier_name(c->hier));
	cJSON_AddNumberToObject(o, "size", (double)c->size);
	cJSON_AddStringToObject(o, "op", atb_op_name(c->op));
	cJSON_AddNumberToObject(o, "threads", c->threads);
	cJSON_AddBoolToObject(o, "io", c->io);
	if (c->io)
		cJSON_AddStringToObject(o, "io_fs", e->io_fs);
	else
		cJSON_AddNullToObject(o, "io_fs");
	cJSON_AddBoolToObject(o, "skipped", c->skipped);
	cJSON_AddStringToObject(o, "note", c->note);
	cJSON_AddNumberToObject(o, "reps", c->reps);
	cJSON_AddNumberToObject(o, "ops", (double)c->ops);
	cJSON_AddNumberToObject(o, "op_errors", (double)c->op_errors);
	jstat(o, "ops_per_s", &c->ops_per_s);
	jstat(o, "mb_per_s", &c->mb_per_s);
	atb_json_num(o, "p50_us", c->p50_us);
	atb_json_num(o, "p90_us", c->p90_us);
	atb_json_num(o, "p99_us", c->p99_us);
	atb_json_num(o, "p999_us", c->p999_us);
	atb_json_num(o, "max_us", c->max_us);
	atb_json_num(o, "min_us", c->min_us);
	atb_json_num(o, "mean_us", c->mean_us);
	cJSON_AddNumberToObject(o, "kms_calls", (double)c->kms_calls);
	atb_json_num(o, "kms_calls_per_op", c->kms_calls_per_op);
	cJSON_AddNumberToObject(o, "kms_errors", (double)c->kms_errors);
	atb_json_num(o, "kms_p50_us", c->kms_p50_us);
	atb_json_num(o, "kms_p99_us", c->kms_p99_us);
	atb_json_num(o, "kms_max_us", c->kms_max_us);
	atb_json_num(o, "kms_per_s", c->kms_per_s);
	cJSON_AddNumberToObject(o, "kms_attempts", (double)c->kms_attempts);
	cJSON_AddNumberToObject(o, "kms_retries", (double)c->kms_retries);
	cJSON_AddNumberToObject(o, "kms_throttled", (double)c->kms_throttled);
	cJSON_AddNumberToObject(o, "vault_requests", (double)c->vault_requests);
	cJSON_AddNumberToObject(o, "vault_throttled",
	    (double)c->vault_throttled);
	atb_json_num(o, "vault_latency_ms", c->vault_latency_ms >= 0 ?
	    c->vault_latency_ms : NAN);
	atb_json_num(o, "cache_hit_rate", c->cache_hit_rate >= 0 ? c->cache_hit_rate :
	    NAN);
	atb_json_num(o, "cpu_us_per_op", c->cpu_us_per_op);
	atb_json_num(o, "cpu_util", c->cpu_util);
	ph = cJSON_AddObjectToObject(o, "phase_us");
	for (i = 0; ph != NULL && i < ATB_PH__COUNT; i++)
		atb_json_num(ph, atb_phase_name((enum atb_phase)i),
		    c->skipped ? NAN : c->phase_us[i]);
	atb_json_num(o, "limit_ops_per_s", c->limit_ops_per_s);
	atb_json_num(o, "limit_aead_us", c->limit_aead_us);
	atb_json_num(o, "limit_kek_us", c->limit_kek_us);
	atb_json_num(o, "limit_io_us", c->limit_io_us);
	jstat(o, "vs_limit", &c->vs_limit);
	jstat(o, "vs_limit_cpu", &c->vs_limit_cpu);
	jreps(o, "ops_per_s_reps", c->rep_ops_per_s, c->nrep_v);
	jreps(o, "vs_limit_reps", c->rep_vs_limit, c->nrep_v);
	jreps(o, "vs_limit_cpu_reps", c->rep_vs_limit_cpu, c->nrep_v);
	atb_json_num(o, "vs_limit_best", c->vs_limit_best);
	atb_json_num(o, "vs_limit_cpu_best", c->vs_limit_cpu_best);
	atb_json_num(o, "ops_per_cpu_s", c->ops_per_cpu_s);
	jstat(o, "vs_aead", &c->vs_aead);
	jstat(o, "cmk_vs_smk", &c->cmk_vs_smk);
	jstat(o, "vs_1thread", &c->vs_1thread);
	atb_json_num(o, "spread", c->skipped ? NAN : c->spread);
	cJSON_AddBoolToObject(o, "noisy", c->noisy);
	cJSON_AddBoolToObject(o, "quiet", !c->skipped && c->quiet);
	cJSON_AddNumberToObject(o, "extra_reps", c->extra_reps);
	cdf = cJSON_AddArrayToObject(o, "cdf_us");
	for (i = 0; cdf != NULL && !c->skipped && i < ATB_CDF_POINTS; i++) {
		cJSON *pt = cJSON_CreateArray();

		if (pt == NULL)
			break;
		cJSON_AddItemToArray(pt, cJSON_CreateNumber(atb_cdf_q[i]));
		/* Three decimals: the histogram resolves 0.8 %, the float
		 * storage would otherwise print as 4.828999996185303. */
		cJSON_AddItemToArray(pt, cJSON_CreateNumber(
		    round((double)c->cdf_us[i] * 1000.0) / 1000.0));
		cJSON_AddItemToArray(cdf, pt);
	}
	return o;
}

char *
atb_json_string(const struct atb_results *r)
{
	struct atb_target t[ATB_NTARGETS];
	cJSON *root = cJSON_CreateObject(), *a, *o;
	char *s;
	size_t i;

	if (root == NULL)
		return NULL;
	cJSON_AddStringToObject(root, "schema", ATB_SCHEMA);
	cJSON_AddStringToObject(root, "generator", "atrest bench");
	cJSON_AddStringToObject(root, "started", r->env.started);
	cJSON_AddItemToObject(root, "environment", json_env(&r->env));
	cJSON_AddItemToObject(root, "config", json_config(r));
	o = cJSON_AddObjectToObject(root, "harness");
	if (o != NULL) {
		atb_json_num(o, "clock_ns", r->clock_ns);
		atb_json_num(o, "empty_op_ns", r->empty_op_ns);
		cJSON_AddNumberToObject(o, "clock_reads_per_op", 3);
		cJSON_AddNumberToObject(o, "clock_reads_per_kms_call", 2);
	}
	a = cJSON_AddArrayToObject(root, "limits");
	for (i = 0; a != NULL && i < r->nlimits; i++) {
		const struct atb_limit *L = &r->limits[i];
		cJSON *l = cJSON_CreateObject();

		if (l == NULL)
			break;
		cJSON_AddStringToObject(l, "name", L->name);
		cJSON_AddStringToObject(l, "kind", atb_limit_kind_name(L->kind));
		cJSON_AddNumberToObject(l, "size", (double)L->size);
		cJSON_AddNumberToObject(l, "bits", L->bits);
		jstat(l, "ns_per_op", &L->ns_per_op);
		atb_json_num(l, "cpu_ns_per_op", L->cpu_ns_per_op);
		atb_json_num(l, "ops_per_s", L->ops_per_s);
		atb_json_num(l, "mb_per_s", L->mb_per_s);
		cJSON_AddItemToArray(a, l);
	}
	a = cJSON_AddArrayToObject(root, "cells");
	for (i = 0; a != NULL && i < r->ncells; i++)
		cJSON_AddItemToArray(a, json_cell(&r->cells[i], &r->env));
	atb_targets(r, t);
	a = cJSON_AddArrayToObject(root, "targets");
	for (i = 0; a != NULL && i < ATB_NTARGETS; i++) {
		cJSON *x = cJSON_CreateObject();

		if (x == NULL)
			break;
		cJSON_AddStringToObject(x, "name", t[i].name);
		cJSON_AddStringToObject(x, "want", t[i].want);
		atb_json_num(x, "value", t[i].value);
		atb_json_num(x, "value_cpu", t[i].value_cpu);
		if (t[i].met < 0)
			cJSON_AddNullToObject(x, "met");
		else
			cJSON_AddBoolToObject(x, "met", t[i].met);
		if (t[i].met_cpu < 0)
			cJSON_AddNullToObject(x, "met_cpu");
		else
			cJSON_AddBoolToObject(x, "met_cpu", t[i].met_cpu);
		cJSON_AddStringToObject(x, "detail", t[i].detail);
		cJSON_AddItemToArray(a, x);
	}
	a = cJSON_AddArrayToObject(root, "warnings");
	for (i = 0; a != NULL && i < r->nwarnings; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(r->warnings[i]));
	a = cJSON_AddArrayToObject(root, "notes");
	for (i = 0; a != NULL && i < r->nnotes; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(r->notes[i]));
	o = cJSON_AddObjectToObject(root, "run");
	if (o != NULL) {
		atb_json_num(o, "wall_s", r->wall_s);
		atb_json_num(o, "cpu_s", r->cpu_s);
		atb_json_num(o, "until_quiet_s", r->quiet_s);
		cJSON_AddNumberToObject(o, "until_quiet_cells",
		    (double)r->quiet_cells);
		cJSON_AddNumberToObject(o, "until_quiet_reps",
		    (double)r->quiet_reps);
	}
	s = cJSON_Print(root);
	cJSON_Delete(root);
	return s;
}

static enum atr_err
write_text(const char *path, const char *text)
{
	return atr_write_file(path, 0644, text, strlen(text));
}

enum atr_err
atb_write_json(const struct atb_results *r, const char *path)
{
	char *s = atb_json_string(r), *t;
	enum atr_err err;

	if (s == NULL)
		return ATR_ERR_NOMEM;
	t = malloc(strlen(s) + 2);
	if (t == NULL) {
		free(s);
		return ATR_ERR_NOMEM;
	}
	memcpy(t, s, strlen(s));
	t[strlen(s)] = '\n';
	t[strlen(s) + 1] = '\0';
	err = write_text(path, t);
	free(t);
	free(s);
	return err;
}

/* ---- CSV ----------------------------------------------------------------- */

struct sbuf {
	char *p;
	size_t len, cap;
	int oom;
};

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static void
sb_printf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->oom)
		return;
	for (;;) {
		size_t room = b->cap - b->len;

		va_start(ap, fmt);
		n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? room : 0, fmt,
		    ap);
		va_end(ap);
		if (n < 0) {
			b->oom = 1;
			return;
		}
		if (b->p != NULL && (size_t)n < room) {
			b->len += (size_t)n;
			return;
		}
		{
			size_t nc = b->cap ? b->cap * 2 : 4096;
			char *np;

			while (nc - b->len <= (size_t)n)
				nc *= 2;
			np = realloc(b->p, nc);
			if (np == NULL) {
				b->oom = 1;
				return;
			}
			b->p = np;
			b->cap = nc;
		}
	}
}

static void
sb_num(struct sbuf *b, double v)
{
	if (isnan(v) || isinf(v))
		sb_printf(b, ",");
	else
		sb_printf(b, ",%.6g", v);
}

/* RFC 4180: quote a field holding a comma, a quote or a line break. */
static void
sb_field(struct sbuf *b, const char *s, int first)
{
	const char *p;

	if (!first)
		sb_printf(b, ",");
	if (strpbrk(s, ",\"\r\n") == NULL) {
		sb_printf(b, "%s", s);
		return;
	}
	sb_printf(b, "\"");
	for (p = s; *p; p++)
		sb_printf(b, *p == '"' ? "\"\"" : "%c", *p);
	sb_printf(b, "\"");
}

enum atr_err
atb_write_csv(const struct atb_results *r, const char *path)
{
	struct sbuf b = {NULL, 0, 0, 0};
	enum atr_err err;
	size_t i;
	unsigned p;

	sb_printf(&b, "key,cmk,hierarchy,size,op,threads,skipped,reps,ops,"
	    "op_errors,"
	    "ops_per_s,ops_per_s_min,ops_per_s_max,ops_per_cpu_s,mb_per_s,"
	    "p50_us,p90_us,"
	    "p99_us,p999_us,max_us,kms_calls,kms_calls_per_op,kms_p50_us,"
	    "kms_p99_us,kms_per_s,kms_retries,kms_throttled,vault_latency_ms,"
	    "cache_hit_rate,cpu_us_per_op,cpu_util");
	for (p = 0; p < ATB_PH__COUNT; p++)
		sb_printf(&b, ",phase_%s_us", atb_phase_name((enum atb_phase)p));
	sb_printf(&b, ",limit_ops_per_s,vs_limit,vs_limit_min,vs_limit_max,"
	    "vs_limit_cpu,vs_aead,cmk_vs_smk,vs_1thread,spread,noisy,io,"
	    "limit_io_us,note\r\n");
	for (i = 0; i < r->ncells; i++) {
		const struct atb_cell *c = &r->cells[i];

		sb_field(&b, c->key, 1);
		sb_printf(&b, ",%d,%s,%llu,%s,%u,%d,%u,%llu,%llu", c->cmk,
		    atb_hier_name(c->hier), (unsigned long long)c->size,
		    atb_op_name(c->op), c->threads, c->skipped, c->reps,
		    (unsigned long long)c->ops,
		    (unsigned long long)c->op_errors);
		sb_num(&b, c->ops_per_s.med);
		sb_num(&b, c->ops_per_s.min);
		sb_num(&b, c->ops_per_s.max);
		sb_num(&b, c->ops_per_cpu_s);
		sb_num(&b, c->mb_per_s.med);
		sb_num(&b, c->p50_us);
		sb_num(&b, c->p90_us);
		sb_num(&b, c->p99_us);
		sb_num(&b, c->p999_us);
		sb_num(&b, c->max_us);
		sb_printf(&b, ",%llu", (unsigned long long)c->kms_calls);
		sb_num(&b, c->kms_calls_per_op);
		sb_num(&b, c->kms_p50_us);
		sb_num(&b, c->kms_p99_us);
		sb_num(&b, c->kms_per_s);
		sb_printf(&b, ",%llu,%llu", (unsigned long long)c->kms_retries,
		    (unsigned long long)c->kms_throttled);
		sb_num(&b, c->vault_latency_ms >= 0 ? c->vault_latency_ms : NAN);
		sb_num(&b, c->cache_hit_rate >= 0 ? c->cache_hit_rate : NAN);
		sb_num(&b, c->cpu_us_per_op);
		sb_num(&b, c->cpu_util);
		for (p = 0; p < ATB_PH__COUNT; p++)
			sb_num(&b, c->skipped ? NAN : c->phase_us[p]);
		sb_num(&b, c->limit_ops_per_s);
		sb_num(&b, c->vs_limit.n ? c->vs_limit.med : NAN);
		sb_num(&b, c->vs_limit.n ? c->vs_limit.min : NAN);
		sb_num(&b, c->vs_limit.n ? c->vs_limit.max : NAN);
		sb_num(&b, c->vs_limit_cpu.n ? c->vs_limit_cpu.med : NAN);
		sb_num(&b, c->vs_aead.n ? c->vs_aead.med : NAN);
		sb_num(&b, c->cmk_vs_smk.n ? c->cmk_vs_smk.med : NAN);
		sb_num(&b, c->vs_1thread.n ? c->vs_1thread.med : NAN);
		sb_num(&b, c->skipped ? NAN : c->spread);
		sb_printf(&b, ",%d,%d", c->noisy, c->io);
		sb_num(&b, c->limit_io_us);
		sb_field(&b, c->note, 0);
		sb_printf(&b, "\r\n");
	}
	if (b.oom) {
		free(b.p);
		return ATR_ERR_NOMEM;
	}
	err = write_text(path, b.p);
	free(b.p);
	return err;
}

/* ---- charts -------------------------------------------------------------- */

static void
gp_header(struct sbuf *b, const char *png, const char *title,
    const char *xl, const char *yl)
{
	sb_printf(b, "# generated by atrest bench (docs/BENCH.md)\n"
	    "if (strstrt(GPVAL_TERMINALS, \"pngcairo\") > 0) {\n"
	    "  set terminal pngcairo size 1100,650 noenhanced font \",10\"\n"
	    "} else {\n"
	    "  set terminal png size 1100,650 noenhanced\n"
	    "}\n"
	    "set output \"%s\"\n"
	    "set title \"%s\"\n"
	    "set xlabel \"%s\"\nset ylabel \"%s\"\n"
	    "set grid\nset key outside right top\n", png, title, xl, yl);
}

static int
series_has(const struct atb_results *r, const char *key, enum atb_hier h,
    enum atb_op op, unsigned thr)
{
	size_t i;

	for (i = 0; i < r->ncells; i++)
		if (!r->cells[i].skipped && strcmp(r->cells[i].key, key) == 0 &&
		    r->cells[i].hier == h && r->cells[i].op == op &&
		    r->cells[i].threads == thr)
			return 1;
	return 0;
}

/* Throughput against object size, one line per key setup x hierarchy. */
static void
chart_throughput(struct sbuf *b, const struct atb_results *r, enum atb_op op,
    unsigned thr, const char *png)
{
	char title[200];
	size_t k, i, n = 0;
	unsigned h;

	snprintf(title, sizeof(title), "atrest bench: %s throughput vs object "
	    "size, %u thread(s) (%s)", atb_op_name(op), thr, r->env.cpu_model);
	gp_header(b, png, title, "object size (bytes)", "MB/s (10^6 B/s)");
	sb_printf(b, "set logscale xy\nset format x \"%%.0s%%cB\"\n");
	for (k = 0; k < r->cfg.nkeys; k++)
		for (h = 0; h < ATB_HIER__COUNT; h++) {
			if (!series_has(r, r->cfg.keys[k], (enum atb_hier)h, op,
			    thr))
				continue;
			sb_printf(b, "$d%zu << EOD\n", n);
			for (i = 0; i < r->ncells; i++) {
				const struct atb_cell *c = &r->cells[i];

				if (c->skipped ||
				    strcmp(c->key, r->cfg.keys[k]) != 0 ||
				    c->hier != (enum atb_hier)h || c->op != op ||
				    c->threads != thr)
					continue;
				sb_printf(b, "%llu %.6g\n",
				    (unsigned long long)c->size, c->mb_per_s.med);
			}
			sb_printf(b, "EOD\n");
			n++;
		}
	/* The raw AES-256-GCM limit at each size, for comparison. */
	sb_printf(b, "$lim << EOD\n");
	for (i = 0; i < r->nlimits; i++) {
		const struct atb_limit *L = &r->limits[i];

		if (L->kind == (op == ATB_ENCRYPT ? ATB_L_GCM_SEAL :
		    ATB_L_GCM_OPEN))
			sb_printf(b, "%llu %.6g\n", (unsigned long long)L->size,
			    L->mb_per_s * (thr < r->env.cores ? thr :
			    r->env.cores));
	}
	sb_printf(b, "EOD\nplot ");
	n = 0;
	for (k = 0; k < r->cfg.nkeys; k++)
		for (h = 0; h < ATB_HIER__COUNT; h++) {
			if (!series_has(r, r->cfg.keys[k], (enum atb_hier)h, op,
			    thr))
				continue;
			sb_printf(b, "$d%zu with linespoints lw 2 title \"%s %s\", ",
			    n++, r->cfg.keys[k], atb_hier_name((enum atb_hier)h));
		}
	sb_printf(b, "$lim with lines dt 2 lw 2 lc rgb \"black\" title "
	    "\"raw AES-256-GCM limit\"\n");
}

/* Latency CDF of the smallest size's cells, one line per setup. */
static void
chart_cdf(struct sbuf *b, const struct atb_results *r, enum atb_op op,
    unsigned thr, uint64_t size, const char *png)
{
	char title[200];
	size_t i, n = 0;

	snprintf(title, sizeof(title), "atrest bench: %s latency CDF, %llu-byte "
	    "objects, %u thread(s)", atb_op_name(op), (unsigned long long)size,
	    thr);
	gp_header(b, png, title, "latency (us)", "fraction of operations");
	sb_printf(b, "set logscale x\nset yrange [0:1]\n");
	for (i = 0; i < r->ncells; i++) {
		const struct atb_cell *c = &r->cells[i];
		unsigned q;

		if (c->skipped || c->op != op || c->threads != thr ||
		    c->size != size)
			continue;
		sb_printf(b, "$c%zu << EOD\n", i);
		for (q = 0; q < ATB_CDF_POINTS; q++)
			sb_printf(b, "%.6g %.6g\n", c->cdf_us[q] > 0 ?
			    c->cdf_us[q] : 1e-3, atb_cdf_q[q]);
		sb_printf(b, "EOD\n");
		n++;
	}
	if (n == 0) {
		sb_printf(b, "set label \"no cells\" at graph 0.5,0.5\n"
		    "plot 2 notitle\n");
		return;
	}
	sb_printf(b, "plot ");
	for (i = 0; i < r->ncells; i++) {
		const struct atb_cell *c = &r->cells[i];

		if (c->skipped || c->op != op || c->threads != thr ||
		    c->size != size)
			continue;
		sb_printf(b, "$c%zu with steps lw 2 title \"%s %s\", ", i, c->key,
		    atb_hier_name(c->hier));
	}
	sb_printf(b, "1/0 notitle\n");
}

static int
run_gnuplot(const char *dir, const char *script)
{
	pid_t pid;
	int st;

	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int fd = open("/dev/null", O_WRONLY);

		if (fd >= 0) {
			dup2(fd, STDOUT_FILENO);
			close(fd);
		}
		if (chdir(dir) != 0)
			_exit(126);
		execlp("gnuplot", "gnuplot", script, (char *)NULL);
		_exit(127);
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

enum atr_err
atb_write_charts(const struct atb_results *r, const char *dir, int *drawn,
    char *note, size_t note_cap)
{
	static const char *const names[] = {
		"throughput-encrypt", "throughput-decrypt", "latency-cdf-encrypt",
		"latency-cdf-decrypt",
	};
	enum atr_err err;
	uint64_t small = UINT64_MAX;
	unsigned thr = r->cfg.nthreads ? r->cfg.threads[0] : 1;
	size_t i, written = 0, failed = 0;

	*drawn = 0;
	note[0] = '\0';
	err = atr_mkdirs(dir);
	if (err != ATR_OK)
		return err;
	for (i = 0; i < r->cfg.nsizes; i++)
		if (r->cfg.sizes[i] < small)
			small = r->cfg.sizes[i];
	for (i = 0; i < 4; i++) {
		struct sbuf b = {NULL, 0, 0, 0};
		char path[4096], png[128], gp[128];
		enum atb_op op = i % 2 ? ATB_DECRYPT : ATB_ENCRYPT;
		int rc;

		if (!r->cfg.ops[op])
			continue;
		snprintf(png, sizeof(png), "%s.png", names[i]);
		snprintf(gp, sizeof(gp), "%s.gp", names[i]);
		if (i < 2)
			chart_throughput(&b, r, op, thr, png);
		else
			chart_cdf(&b, r, op, thr, small, png);
		if (b.oom) {
			free(b.p);
			return ATR_ERR_NOMEM;
		}
		snprintf(path, sizeof(path), "%s/%s", dir, gp);
		err = write_text(path, b.p);
		free(b.p);
		if (err != ATR_OK)
			return err;
		written++;
		rc = run_gnuplot(dir, gp);
		if (rc == 127) {
			snprintf(note, note_cap, "gnuplot is not installed: wrote "
			    "the gnuplot scripts (*.gp) to %s, no PNG", dir);
			return ATR_OK;
		}
		if (rc != 0)
			failed++;
	}
	if (failed > 0)
		snprintf(note, note_cap, "gnuplot failed on %zu of %zu charts in %s",
		    failed, written, dir);
	else
		snprintf(note, note_cap, "%zu charts (PNG and .gp) in %s", written,
		    dir);
	*drawn = failed == 0 && written > 0;
	return ATR_OK;
}
