/*
 * perf/bench_hist.c: the seeded generators (uniform, exponential, Zipf) of
 * the load tools (the histogram is replication/hist.c).
 * Pure C, no DPDK, no I/O: unit-tested in tests/unit/perf/test_bench_hist.c.
 */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "perf/bench_hist.h"

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9E3779B97F4A7C15ull);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

void cat_rng_seed(struct cat_rng *r, uint64_t seed)
{
	for (int i = 0; i < 4; i++)
		r->s[i] = splitmix64(&seed);
}

double cat_rng_exp(struct cat_rng *r, double mean)
{
	/* 1 - U lies in (0, 1]: the log is finite. */
	return -log(1.0 - cat_rng_double(r)) * mean;
}

/* log1p(x)/x and expm1(x)/x, continuous at 0 (the Zipf helpers). */
static double helper1(double x)
{
	return fabs(x) > 1e-8 ? log1p(x) / x : 1.0 - x * (0.5 - x / 3.0);
}

static double helper2(double x)
{
	return fabs(x) > 1e-8 ? expm1(x) / x : 1.0 + x * 0.5 * (1.0 + x / 3.0);
}

/* H(x) = integral of x^-s, shifted so it is smooth through s = 1. */
static double zipf_h_integral(double x, double s)
{
	double lx = log(x);

	return helper2((1.0 - s) * lx) * lx;
}

static double zipf_h(double x, double s)
{
	return exp(-s * log(x));
}

static double zipf_h_integral_inv(double x, double s)
{
	double t = x * (1.0 - s);

	if (t < -1.0)
		t = -1.0;	/* rounding guard, as in the paper */
	return exp(helper1(t) * x);
}

int cat_zipf_init(struct cat_zipf *z, uint64_t n, double s)
{
	if (n == 0 || !(s > 0.0) || !isfinite(s))
		return -EINVAL;
	z->n = n;
	z->s = s;
	z->h_x1 = zipf_h_integral(1.5, s) - 1.0;
	z->h_n = zipf_h_integral((double)n + 0.5, s);
	z->shift = 2.0 - zipf_h_integral_inv(zipf_h_integral(2.5, s) - zipf_h(2.0, s), s);
	return 0;
}

uint64_t cat_zipf_next(const struct cat_zipf *z, struct cat_rng *r)
{
	for (;;) {
		double u = z->h_n + cat_rng_double(r) * (z->h_x1 - z->h_n);
		double x = zipf_h_integral_inv(u, z->s);
		double kd = floor(x + 0.5);
		uint64_t k;

		if (kd < 1.0)
			kd = 1.0;
		else if (kd > (double)z->n)
			kd = (double)z->n;
		k = (uint64_t)kd;
		if (kd - x <= z->shift ||
		    u >= zipf_h_integral(kd + 0.5, z->s) - zipf_h(kd, z->s))
			return k;
	}
}
