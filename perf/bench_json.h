/*
 * The benchmarks' JSON (catena-bench, catena-kv-bench, catena-udp-bench),
 * built with jansson so every file is one that parsers take: each key once,
 * strings escaped, no nan or inf. Setup and teardown code only: never in a
 * measured loop.
 */
#ifndef CAT_BENCH_JSON_H
#define CAT_BENCH_JSON_H

#include <stdio.h>

#include <jansson.h>

#include "replication/hist.h"

/** A number rounded to 3 decimals (microseconds to the ns), or null
 * when it is not finite: JSON has no nan. */
json_t *cat_bench_json_num(double v);

/** s as a JSON string; null when s is NULL or not UTF-8 (labels and
 * paths come from the command line, and JSON strings must be). */
json_t *cat_bench_json_str(const char *s);

/** Add a new value to obj under key; a NULL value (out of memory) is
 * reported and exits, as the benchmarks have no result to write then. */
void cat_bench_json_set(json_t *obj, const char *key, json_t *v);

/** A latency histogram in microseconds: count, mean (if with_mean), min
 * (if with_min), p50 p90 p99 p999, p9999 (if with_p9999), max, and with
 * buckets its non-empty buckets as [upper edge us, count]. */
json_t *cat_bench_json_hist(const struct cat_hist *h, int with_mean,
			    int with_min, int with_p9999, int buckets);

/** Write v as one line to f (compact, keys in insertion order) and drop
 * the reference. 0, or -EIO. */
int cat_bench_json_dump(json_t *v, FILE *f);

#endif /* CAT_BENCH_JSON_H */
