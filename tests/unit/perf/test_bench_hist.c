/*
 * Unit tests for perf/bench_hist.c: the latency histogram's buckets and
 * percentiles, and the load generators (uniform, exponential gaps of a
 * Poisson process, Zipf) checked statistically with fixed seeds, so a
 * failure is reproducible and a pass is not luck of the day.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "perf/bench_hist.h"

static struct cat_hist h, h2;

static void test_bucket_edges_bound_every_value(void **state)
{
	(void)state;
	/* Every value lies inside its bucket, and a bucket is never wider
	 * than 1/128 of its lower edge: the stated ~1% precision. */
	for (uint64_t v = 0; v < (1u << 20); v += 1 + v / 1000) {
		unsigned i = cat_hist_index(v);

		assert_true(i < CAT_HIST_LEN);
		assert_true(cat_hist_bucket_lo(i) <= v && v <= cat_hist_bucket_hi(i));
		if (v >= CAT_HIST_SUB_COUNT)
			assert_true((double)(cat_hist_bucket_hi(i) - cat_hist_bucket_lo(i)) /
				    (double)cat_hist_bucket_lo(i) <= 1.0 / 128);
	}
	for (unsigned s = 0; s < 64; s++) {
		uint64_t v = (1ull << s) | ((1ull << s) - 1);

		assert_true(cat_hist_index(v) < CAT_HIST_LEN);
		assert_true(cat_hist_bucket_lo(cat_hist_index(v)) <= v);
		assert_true(v <= cat_hist_bucket_hi(cat_hist_index(v)));
	}
	assert_int_equal(cat_hist_index(UINT64_MAX), CAT_HIST_LEN - 1);
	/* Consecutive buckets tile the line without gaps. */
	for (unsigned i = 1; i < CAT_HIST_LEN; i++)
		assert_true(cat_hist_bucket_lo(i) == cat_hist_bucket_hi(i - 1) + 1);
}

static void test_percentiles_of_uniform_ramp(void **state)
{
	(void)state;
	cat_hist_reset(&h);
	assert_int_equal(cat_hist_percentile(&h, 50), 0);
	for (uint64_t v = 1; v <= 100000; v++)
		cat_hist_record(&h, v);
	assert_int_equal(h.count, 100000);
	assert_int_equal(h.min, 1);
	assert_int_equal(h.max, 100000);
	assert_true(fabs(cat_hist_mean(&h) - 50000.5) < 1e-6);
	const double ps[] = { 50, 90, 99, 99.9, 99.99 };
	for (size_t i = 0; i < sizeof(ps) / sizeof(ps[0]); i++) {
		double want = ps[i] * 1000;
		double got = (double)cat_hist_percentile(&h, ps[i]);

		/* Upper bucket edge: never below the truth, at most 0.8% above. */
		assert_true(got >= want);
		assert_true(got <= want * (1 + 1.0 / 128) + 1);
	}
	assert_int_equal(cat_hist_percentile(&h, 100), 100000);
}

static void test_small_values_are_exact_and_tail_is_seen(void **state)
{
	(void)state;
	cat_hist_reset(&h);
	/* 9999 fast requests and one slow one: p99.99 must show the slow one,
	 * p99.9 must not. */
	for (int i = 0; i < 9999; i++)
		cat_hist_record(&h, 200);
	cat_hist_record(&h, 5000000);
	assert_int_equal(cat_hist_percentile(&h, 50), 200);
	assert_int_equal(cat_hist_percentile(&h, 99.9), 200);
	assert_int_equal(cat_hist_percentile(&h, 99.99), 200);
	assert_int_equal(cat_hist_percentile(&h, 99.995), 5000000);
	assert_int_equal(cat_hist_percentile(&h, 100), 5000000);
}

static void test_record_n_is_n_records(void **state)
{
	(void)state;
	cat_hist_reset(&h);
	cat_hist_reset(&h2);
	cat_hist_record_n(&h, 1234567, 7);
	cat_hist_record_n(&h, 99, 0);        /* nothing */
	for (int i = 0; i < 7; i++)
		cat_hist_record(&h2, 1234567);
	assert_int_equal(h.count, 7);
	assert_int_equal(h.sum, h2.sum);
	assert_int_equal(h.min, h2.min);
	assert_int_equal(h.max, h2.max);
	assert_memory_equal(h.b, h2.b, sizeof(h.b));
}

static void test_merge_adds_counts(void **state)
{
	(void)state;
	cat_hist_reset(&h);
	cat_hist_reset(&h2);
	for (uint64_t v = 1; v <= 1000; v++)
		cat_hist_record(v <= 500 ? &h : &h2, v * 1000);
	cat_hist_merge(&h, &h2);
	assert_int_equal(h.count, 1000);
	assert_int_equal(h.min, 1000);
	assert_int_equal(h.max, 1000000);
	assert_true(cat_hist_percentile(&h, 50) >= 500000);
	assert_true(cat_hist_percentile(&h, 50) <= 500000 * (1 + 1.0 / 128));
}

static void test_rng_uniform_is_flat(void **state)
{
	struct cat_rng r;
	unsigned bins[16] = {0};
	const unsigned n = 1600000;
	double chi2 = 0, e = n / 16.0;

	(void)state;
	cat_rng_seed(&r, 7470);
	for (unsigned i = 0; i < n; i++)
		bins[cat_rng_below(&r, 16)]++;
	for (int i = 0; i < 16; i++)
		chi2 += (bins[i] - e) * (bins[i] - e) / e;
	/* 15 degrees of freedom: P(chi2 > 37.7) = 0.001. */
	assert_true(chi2 < 37.7);
	for (unsigned i = 0; i < 1000; i++) {
		double d = cat_rng_double(&r);

		assert_true(d >= 0.0 && d < 1.0);
	}
}

static void test_poisson_gaps_are_exponential(void **state)
{
	struct cat_rng r;
	const unsigned n = 1000000;
	const double mean = 1000.0;	/* e.g. ns between arrivals at 1 Mops/s */
	double sum = 0, sq = 0;
	unsigned above = 0;

	(void)state;
	cat_rng_seed(&r, 42);
	for (unsigned i = 0; i < n; i++) {
		double g = cat_rng_exp(&r, mean);

		assert_true(g >= 0 && isfinite(g));
		sum += g;
		sq += g * g;
		above += g > mean;
	}
	double m = sum / n, var = sq / n - m * m;

	/* Standard error of the mean is mean/sqrt(n) = 0.1%: 1% is 10 sigma. */
	assert_true(fabs(m / mean - 1) < 0.01);
	/* Exponential: variance = mean^2 (coefficient of variation 1). */
	assert_true(fabs(var / (mean * mean) - 1) < 0.02);
	/* Memorylessness: P(gap > mean) = 1/e. */
	assert_true(fabs((double)above / n - exp(-1.0)) < 0.003);

	/* Arrivals counted in windows of 10 mean gaps: Poisson(10), whose
	 * variance equals its mean (a paced, non-Poisson schedule would have
	 * almost none). */
	double t = 0, next = 10 * mean, c = 0, csum = 0, csq = 0;
	unsigned windows = 0;

	cat_rng_seed(&r, 43);
	while (windows < 50000) {
		t += cat_rng_exp(&r, mean);
		while (t >= next) {
			csum += c;
			csq += c * c;
			windows++;
			c = 0;
			next += 10 * mean;
		}
		c++;
	}
	double cm = csum / windows, cv = csq / windows - cm * cm;

	assert_true(fabs(cm - 10) < 0.15);
	assert_true(fabs(cv / cm - 1) < 0.05);
}

static double harmonic(uint64_t n, double s)
{
	double hsum = 0;

	for (uint64_t k = n; k >= 1; k--)
		hsum += pow((double)k, -s);
	return hsum;
}

static void check_zipf(uint64_t n, double s, uint64_t seed)
{
	struct cat_zipf z;
	struct cat_rng r;
	const unsigned draws = 1000000;
	static unsigned cnt[11];
	double hn = harmonic(n, s), chi2 = 0, rest_e = draws, rest = draws;

	memset(cnt, 0, sizeof(cnt));
	assert_int_equal(cat_zipf_init(&z, n, s), 0);
	cat_rng_seed(&r, seed);
	for (unsigned i = 0; i < draws; i++) {
		uint64_t k = cat_zipf_next(&z, &r);

		assert_true(k >= 1 && k <= n);
		if (k <= 10)
			cnt[k]++;
	}
	/* Chi-square over ranks 1..10 and "the rest": 10 degrees of freedom,
	 * P(chi2 > 29.6) = 0.001. */
	for (uint64_t k = 1; k <= 10; k++) {
		double e = draws * pow((double)k, -s) / hn;

		chi2 += (cnt[k] - e) * (cnt[k] - e) / e;
		rest_e -= e;
		rest -= cnt[k];
	}
	chi2 += (rest - rest_e) * (rest - rest_e) / rest_e;
	assert_true(chi2 < 29.6);
}

static void test_zipf_matches_its_law(void **state)
{
	(void)state;
	check_zipf(1000, 0.99, 1);      /* YCSB's skew */
	check_zipf(1000, 1.0, 2);       /* the s = 1 special case */
	check_zipf(100000, 1.2, 3);
	check_zipf(50, 0.5, 4);
}

static void test_zipf_edge_cases(void **state)
{
	struct cat_zipf z;
	struct cat_rng r;

	(void)state;
	cat_rng_seed(&r, 5);
	assert_int_equal(cat_zipf_init(&z, 0, 1.0), -EINVAL);
	assert_int_equal(cat_zipf_init(&z, 10, 0.0), -EINVAL);
	assert_int_equal(cat_zipf_init(&z, 10, NAN), -EINVAL);
	assert_int_equal(cat_zipf_init(&z, 1, 0.99), 0);
	for (int i = 0; i < 1000; i++)
		assert_int_equal(cat_zipf_next(&z, &r), 1);
	/* 10 M keys: the sampler needs no table. */
	assert_int_equal(cat_zipf_init(&z, 10000000, 0.99), 0);
	for (int i = 0; i < 100000; i++) {
		uint64_t k = cat_zipf_next(&z, &r);

		assert_true(k >= 1 && k <= 10000000);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bucket_edges_bound_every_value),
		cmocka_unit_test(test_percentiles_of_uniform_ramp),
		cmocka_unit_test(test_small_values_are_exact_and_tail_is_seen),
		cmocka_unit_test(test_record_n_is_n_records),
		cmocka_unit_test(test_merge_adds_counts),
		cmocka_unit_test(test_rng_uniform_is_flat),
		cmocka_unit_test(test_poisson_gaps_are_exponential),
		cmocka_unit_test(test_zipf_matches_its_law),
		cmocka_unit_test(test_zipf_edge_cases),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
