/*
 * rev_report.c - the revocation table (text and JSON) of `atrest bench
 * --revocation`; docs/BENCH.md, "Revocation latency", says how to read
 * it.
 */
#include "bench.h"
#include "bench_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "fsutil.h"
#include "util.h"

/* "2 s", "-" (NaN) or "none" (infinite: no lifetime configured). */
static void
secs(char *out, size_t cap, double v)
{
	if (isnan(v))
		snprintf(out, cap, "-");
	else if (isinf(v))
		snprintf(out, cap, "none");
	else
		snprintf(out, cap, "%g s", v);
}

static void
latency_text(char *out, size_t cap, const struct atb_rev_row *w)
{
	if (w->censored)
		snprintf(out, cap, "> %.2f s (still %s when the window closed)",
		    w->window_s, w->op == ATB_DECRYPT ? "decrypting" :
		    "encrypting");
	else if (w->ops_failed == 0)
		snprintf(out, cap, "? (no failure in %.2f s)", w->window_s);
	else
		snprintf(out, cap, "%.3f s", w->latency_s);
}

void
atb_rev_print(FILE *f, const struct atb_rev_results *r)
{
	char ttl[32], life[32], lat[96], size[32];
	size_t i;

	fprintf(f, "revocation latency: %s\n"
	    "%s objects; the key is disabled %.2f s after the workloads "
	    "start (slowest\ndisable call %.1f ms); a workload stops after "
	    "failing for %.1f s\n", r->key_desc,
	    atr_size_label(r->size, size, sizeof(size)), r->before_s,
	    r->disable_ms_max, r->margin_s);
	fprintf(f, "%-13s %-8s %-9s %-12s %10s %8s  %s\n", "hierarchy", "op",
	    "cache-ttl", "key-lifetime", "ops/s", "KMS/op",
	    "last success after disable");
	for (i = 0; i < r->nrows; i++) {
		const struct atb_rev_row *w = &r->rows[i];

		secs(ttl, sizeof(ttl), w->ttl_s);
		secs(life, sizeof(life), w->lifetime_s);
		latency_text(lat, sizeof(lat), w);
		fprintf(f, "%-13s %-8s %-9s %-12s %10.0f %8.2g  %s\n",
		    atb_hier_name(w->hier), atb_op_name(w->op), ttl, life,
		    isnan(w->ops_per_s) ? 0.0 : w->ops_per_s,
		    isnan(w->kms_calls_per_op) ? 0.0 : w->kms_calls_per_op,
		    lat);
	}
	fprintf(f, "key lifetimes: intermediate key %g s "
	    "(--intermediate-seconds), cached DEK %g s (--cache-max-age); "
	    "run: %.1f s\n", r->ik_seconds, r->cache_max_age, r->wall_s);
}

static cJSON *
row_json(const struct atb_rev_row *w)
{
	cJSON *o = cJSON_CreateObject();

	if (o == NULL)
		return NULL;
	cJSON_AddStringToObject(o, "hierarchy", atb_hier_name(w->hier));
	cJSON_AddStringToObject(o, "op", atb_op_name(w->op));
	atb_json_num(o, "cache_ttl_s", w->ttl_s);
	atb_json_num(o, "key_lifetime_s", w->lifetime_s);
	atb_json_num(o, "ops_per_s", w->ops_per_s);
	atb_json_num(o, "kms_calls_per_op", w->kms_calls_per_op);
	cJSON_AddNumberToObject(o, "ops_ok", (double)w->ops_ok);
	cJSON_AddNumberToObject(o, "ops_failed", (double)w->ops_failed);
	cJSON_AddNumberToObject(o, "kms_calls", (double)w->kms_calls);
	/* null when not measured: still succeeding, or never failed. */
	atb_json_num(o, "revocation_latency_s", w->censored || w->ops_failed == 0 ?
	    NAN : w->latency_s);
	cJSON_AddBoolToObject(o, "censored", w->censored);
	atb_json_num(o, "window_s", w->window_s);
	cJSON_AddStringToObject(o, "last_error", w->last_error);
	return o;
}

enum atr_err
atb_rev_write_json(const struct atb_rev_results *r, const char *path)
{
	cJSON *root = cJSON_CreateObject(), *a;
	char *s = NULL;
	enum atr_err err = ATR_ERR_NOMEM;
	size_t i;

	if (root == NULL)
		return ATR_ERR_NOMEM;
	cJSON_AddStringToObject(root, "schema", "atrest-bench-revocation/1");
	cJSON_AddStringToObject(root, "key", r->key_desc);
	cJSON_AddNumberToObject(root, "size", (double)r->size);
	cJSON_AddNumberToObject(root, "frame_size", r->frame_size);
	atb_json_num(root, "before_s", r->before_s);
	atb_json_num(root, "margin_s", r->margin_s);
	atb_json_num(root, "disable_ms_max", r->disable_ms_max);
	atb_json_num(root, "intermediate_seconds", r->ik_seconds);
	atb_json_num(root, "cache_max_age", r->cache_max_age);
	atb_json_num(root, "wall_s", r->wall_s);
	a = cJSON_AddArrayToObject(root, "rows");
	for (i = 0; a != NULL && i < r->nrows; i++)
		cJSON_AddItemToArray(a, row_json(&r->rows[i]));
	if (a != NULL)
		s = cJSON_Print(root);
	cJSON_Delete(root);
	if (s != NULL) {
		size_t n = strlen(s);
		char *t = realloc(s, n + 2);

		if (t != NULL) {
			s = t;
			s[n] = '\n';
			s[n + 1] = '\0';
			err = atr_write_file(path, 0644, s, n + 1);
		}
	}
	free(s);
	return err;
}
