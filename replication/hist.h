/*
 * replication/hist.h: catena's latency histogram, HdrHistogram's log-linear
 * layout, fixed size, so recording is one index computation and one
 * increment, with no allocation, branch-light and safe in a per-packet
 * loop. Values are unsigned 64-bit integers (nanoseconds everywhere it is
 * used: the load generators of perf/, the nodes' per-hop timing). A
 * histogram is written by one thread; readers merge copies.
 */
#ifndef CAT_HIST_H
#define CAT_HIST_H

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

/** Record value v n times (n values that took the same time). */
static inline void cat_hist_record_n(struct cat_hist *h, uint64_t v,
				     uint64_t n)
{
	if (n == 0)
		return;
	h->b[cat_hist_index(v)] += n;
	h->count += n;
	h->sum += v * n;
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

#ifdef __cplusplus
}
#endif

#endif
