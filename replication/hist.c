/*
 * replication/hist.c: percentiles, merges and bucket edges of the
 * log-linear latency histogram (replication/hist.h). Pure C, no I/O:
 * unit-tested in tests/unit/test_bench_hist.c.
 */
#include <string.h>

#include "replication/hist.h"

void cat_hist_reset(struct cat_hist *h)
{
	memset(h, 0, sizeof(*h));
	h->min = UINT64_MAX;
}

uint64_t cat_hist_bucket_lo(unsigned idx)
{
	unsigned shift;

	if (idx < CAT_HIST_SUB_COUNT)
		return idx;
	shift = idx / CAT_HIST_SUB_HALF - 1u;
	return (uint64_t)(idx - shift * CAT_HIST_SUB_HALF) << shift;
}

uint64_t cat_hist_bucket_hi(unsigned idx)
{
	unsigned shift;

	if (idx < CAT_HIST_SUB_COUNT)
		return idx;
	shift = idx / CAT_HIST_SUB_HALF - 1u;
	return cat_hist_bucket_lo(idx) + ((1ull << shift) - 1u);
}

void cat_hist_merge(struct cat_hist *dst, const struct cat_hist *src)
{
	if (src->count == 0)
		return;
	for (unsigned i = 0; i < CAT_HIST_LEN; i++)
		dst->b[i] += src->b[i];
	dst->count += src->count;
	dst->sum += src->sum;
	if (src->min < dst->min)
		dst->min = src->min;
	if (src->max > dst->max)
		dst->max = src->max;
}

uint64_t cat_hist_percentile(const struct cat_hist *h, double p)
{
	uint64_t want, acc = 0;

	if (h->count == 0)
		return 0;
	if (p >= 100.0)
		return h->max;
	{
		/* ceil() without libm: the nodes link no math library. */
		double x = (double)h->count * p / 100.0;

		want = (uint64_t)x;
		if ((double)want < x)
			want++;
	}
	if (want == 0)
		want = 1;
	for (unsigned i = 0; i < CAT_HIST_LEN; i++) {
		acc += h->b[i];
		if (acc >= want) {
			uint64_t v = cat_hist_bucket_hi(i);

			return v < h->max ? v : h->max;
		}
	}
	return h->max;
}

double cat_hist_mean(const struct cat_hist *h)
{
	return h->count ? (double)h->sum / (double)h->count : 0.0;
}
