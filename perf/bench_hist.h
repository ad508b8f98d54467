/*
 * perf/bench_hist.h: the latency histogram of catena's load generators
 * (catena-bench, catena-kv-bench): HdrHistogram's log-linear layout, fixed
 * size, so recording is one index computation and one increment, with no
 * allocation, branch-light and safe in a per-packet loop. Values are
 * unsigned 64-bit integers (the tools record nanoseconds). A histogram is
 * owned by one thread; merge copies after the run.
 */
#ifndef CAT_BENCH_HIST_H
#define CAT_BENCH_HIST_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * 2^CAT_HIST_SUB_BITS linear sub-buckets per power of two (the upper half
 * of them in use above the first range): a recorded value v > 2^8 lands in
 * a bucket of width at most v/128, so any reported value is within 0.8%
 * of the true one ("~1% precision"); values below 256 are exact.
 */
#define CAT_HIST_SUB_BITS  8u
#define CAT_HIST_SUB_COUNT (1u << CAT_HIST_SUB_BITS)
#define CAT_HIST_SUB_HALF  (CAT_HIST_SUB_COUNT / 2u)
#define CAT_HIST_LEN       ((64u - CAT_HIST_SUB_BITS + 1u) * CAT_HIST_SUB_HALF + CAT_HIST_SUB_HALF)

struct cat_hist {
	uint64_t count;
	uint64_t min, max;
	uint64_t sum;        /* for the mean; wraps only past 584 years of ns */
	uint64_t b[CAT_HIST_LEN];
};

/** Empty the histogram. */
void cat_hist_reset(struct cat_hist *h);

/** Bucket index of value v (< CAT_HIST_LEN). */
static inline unsigned cat_hist_index(uint64_t v)
{
	unsigned msb, shift;

	if (v < CAT_HIST_SUB_COUNT)
		return (unsigned)v;
	msb = 63u - (unsigned)__builtin_clzll(v);
	shift = msb - CAT_HIST_SUB_BITS + 1u;
	/* v >> shift lies in [SUB_HALF, SUB_COUNT): its top bit is set. */
	return shift * CAT_HIST_SUB_HALF + (unsigned)(v >> shift);
}

/** Lowest and highest value that fall into bucket idx. */
uint64_t cat_hist_bucket_lo(unsigned idx);
uint64_t cat_hist_bucket_hi(unsigned idx);

/** Record one value. Never fails, never allocates. */
static inline void cat_hist_record(struct cat_hist *h, uint64_t v)
{
	h->b[cat_hist_index(v)]++;
	h->count++;
	h->sum += v;
	if (v < h->min)
		h->min = v;
	if (v > h->max)
		h->max = v;
}

/** Add every value of src to dst. */
void cat_hist_merge(struct cat_hist *dst, const struct cat_hist *src);

/**
 * Value at percentile p (0 < p <= 100): the smallest recorded value v such
 * that at least p% of the values are <= v, reported as the upper edge of
 * its bucket (never flatter than the truth) but not above the true max.
 * 0 for an empty histogram; p = 100 gives the exact max.
 */
uint64_t cat_hist_percentile(const struct cat_hist *h, double p);

/** Mean of the recorded values (0 when empty). */
double cat_hist_mean(const struct cat_hist *h);

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
