/*
 * The benchmarks' JSON writer (bench_json.h): jansson, so keys are unique
 * and strings escaped by construction, where hand-written printf JSON had
 * already written "ops" twice. Runs after the measurement only.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "perf/bench_json.h"

json_t *cat_bench_json_num(double v)
{
	if (!isfinite(v))
		return json_null();
	return json_real(round(v * 1000.0) / 1000.0);
}

json_t *cat_bench_json_str(const char *s)
{
	json_t *v = s != NULL ? json_string(s) : NULL;

	return v != NULL ? v : json_null();
}

void cat_bench_json_set(json_t *obj, const char *key, json_t *v)
{
	if (v == NULL || json_object_set_new(obj, key, v) != 0) {
		fputs("benchmark: out of memory writing the JSON result\n", stderr);
		exit(1);
	}
}

json_t *cat_bench_json_hist(const struct cat_hist *h, int with_mean,
			    int with_min, int with_p9999, int buckets)
{
	json_t *o = json_object(), *b;

	if (o == NULL)
		return NULL;
	cat_bench_json_set(o, "count", json_integer((json_int_t)h->count));
	if (with_mean)
		cat_bench_json_set(o, "mean", cat_bench_json_num(cat_hist_mean(h) / 1e3));
	if (with_min)
		cat_bench_json_set(o, "min", cat_bench_json_num(h->count ? h->min / 1e3 : 0.0));
	cat_bench_json_set(o, "p50", cat_bench_json_num(cat_hist_percentile(h, 50) / 1e3));
	cat_bench_json_set(o, "p90", cat_bench_json_num(cat_hist_percentile(h, 90) / 1e3));
	cat_bench_json_set(o, "p99", cat_bench_json_num(cat_hist_percentile(h, 99) / 1e3));
	cat_bench_json_set(o, "p999", cat_bench_json_num(cat_hist_percentile(h, 99.9) / 1e3));
	if (with_p9999)
		cat_bench_json_set(o, "p9999",
				   cat_bench_json_num(cat_hist_percentile(h, 99.99) / 1e3));
	cat_bench_json_set(o, "max", cat_bench_json_num(cat_hist_percentile(h, 100) / 1e3));
	if (!buckets)
		return o;
	b = json_array();
	cat_bench_json_set(o, "buckets_us", b);
	for (unsigned i = 0; i < CAT_HIST_LEN; i++) {
		json_t *pair;

		if (h->b[i] == 0)
			continue;
		pair = json_pack("[oI]", cat_bench_json_num(cat_hist_bucket_hi(i) / 1e3),
				 (json_int_t)h->b[i]);
		if (pair == NULL || json_array_append_new(b, pair) != 0) {
			json_decref(o);
			return NULL;
		}
	}
	return o;
}

int cat_bench_json_dump(json_t *v, FILE *f)
{
	/* 15 significant digits print the rounded numbers as they are
	 * (12.345, not 12.345000000000001). */
	int rc = v == NULL ? -1 : json_dumpf(v, f, JSON_COMPACT | JSON_PRESERVE_ORDER |
					     JSON_REAL_PRECISION(15));

	json_decref(v);
	if (rc != 0 || fputc('\n', f) == EOF)
		return -EIO;
	return 0;
}
