/*
 * perf/bench_hist.h: the load generators' inputs (seeded uniform,
 * exponential and Zipf generators) and, through replication/hist.h, the
 * latency histogram they record into (catena-bench, catena-kv-bench,
 * catena-udp-bench).
 */
#ifndef CAT_BENCH_HIST_H
#define CAT_BENCH_HIST_H

#include <stddef.h>
#include <stdint.h>

#include "replication/hist.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- generators: inputs of the load, seeded and reproducible ---------- */

/** xoshiro256** state: fast, statistically strong, 2^256 period. */
struct cat_rng {
	uint64_t s[4];
};

/** Seed from one 64-bit value (splitmix64 expands it). */
void cat_rng_seed(struct cat_rng *r, uint64_t seed);

static inline uint64_t cat_rng_next(struct cat_rng *r)
{
	uint64_t *s = r->s;
	uint64_t x = s[1] * 5u, res = ((x << 7) | (x >> 57)) * 9u, t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = (s[3] << 45) | (s[3] >> 19);
	return res;
}

/** Uniform double in [0, 1). */
static inline double cat_rng_double(struct cat_rng *r)
{
	return (double)(cat_rng_next(r) >> 11) * 0x1.0p-53;
}

/** Uniform integer in [0, n), n >= 1 (Lemire's multiply; bias < n/2^64). */
static inline uint64_t cat_rng_below(struct cat_rng *r, uint64_t n)
{
	return (uint64_t)(((unsigned __int128)cat_rng_next(r) * n) >> 64);
}

/**
 * Exponentially distributed gap with the given mean: the inter-arrival
 * time of a Poisson process of rate 1/mean (open-loop arrivals).
 */
double cat_rng_exp(struct cat_rng *r, double mean);

/**
 * Zipf sampler over ranks 1..n with exponent s (P(k) ~ 1/k^s, s > 0), by
 * rejection-inversion (Hoermann and Derflinger 1996): O(1) per sample and
 * no table, exact for any n, which matters at 10 M keys.
 */
struct cat_zipf {
	uint64_t n;
	double s;
	double h_x1, h_n, shift;
};

/** 0, or -EINVAL for n == 0 or s <= 0 or s not finite. */
int cat_zipf_init(struct cat_zipf *z, uint64_t n, double s);

/** A rank in [1, n]; rank 1 is the most frequent. */
uint64_t cat_zipf_next(const struct cat_zipf *z, struct cat_rng *r);

#ifdef __cplusplus
}
#endif

#endif /* CAT_BENCH_HIST_H */
