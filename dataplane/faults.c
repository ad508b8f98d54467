/*
 * catena-node fault injector. A binary min-heap keyed on (due time,
 * insertion order) holds delayed mbufs; the worker releases what is due
 * once per loop iteration. Reordering is extra delay for a share of the
 * packets, large enough to land behind the packets sent after them.
 * Runs on worker lcores only: no locks, no allocation, no syscalls.
 */
#include "dataplane/faults.h"

/* splitmix64: turns any seed (0 included) into a good xorshift state. */
static uint64_t splitmix(uint64_t x)
{
	x += 0x9E3779B97F4A7C15ULL;
	x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
	x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
	return x ^ (x >> 31);
}

/* xorshift64*: fast, and plenty for deciding packet fates. */
static uint64_t next_rand(struct cat_faults *f)
{
	uint64_t x = f->rng;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	f->rng = x;
	return x * 0x2545F4914F6CDD1DULL;
}

void cat_faults_configure(struct cat_faults *f, const struct cat_faults_cfg *cfg,
			  uint32_t worker)
{
	if (!f->seeded || f->cfg.seed != cfg->seed) {
		f->rng = splitmix(cfg->seed + worker);
		if (f->rng == 0)
			f->rng = 1;
		f->seeded = 1;
	}
	f->cfg = *cfg;
	f->active = cfg->delay_us || cfg->jitter_us || cfg->reorder_pct ||
		    cfg->drop_pct;
}

static int before(const struct cat_faults_ent *a, const struct cat_faults_ent *b)
{
	return a->due < b->due || (a->due == b->due && a->order < b->order);
}

static void heap_push(struct cat_faults *f, const struct cat_faults_ent *e)
{
	uint32_t i = f->n++;

	while (i > 0) {
		uint32_t parent = (i - 1) / 2;

		if (!before(e, &f->heap[parent]))
			break;
		f->heap[i] = f->heap[parent];
		i = parent;
	}
	f->heap[i] = *e;
}

static struct rte_mbuf *heap_pop(struct cat_faults *f)
{
	struct rte_mbuf *top = f->heap[0].m;
	struct cat_faults_ent last = f->heap[--f->n];
	uint32_t i = 0;

	for (;;) {
		uint32_t c = 2 * i + 1;

		if (c >= f->n)
			break;
		if (c + 1 < f->n && before(&f->heap[c + 1], &f->heap[c]))
			c++;
		if (!before(&f->heap[c], &last))
			break;
		f->heap[i] = f->heap[c];
		i = c;
	}
	if (f->n)
		f->heap[i] = last;
	return top;
}

enum cat_faults_verdict cat_faults_apply(struct cat_faults *f, uint64_t now,
					 struct rte_mbuf *m, int *reordered)
{
	const struct cat_faults_cfg *c = &f->cfg;
	struct cat_faults_ent e;
	uint64_t delay_us;

	*reordered = 0;
	if (!f->active)
		return CAT_FAULTS_SEND;
	if (c->drop_pct && next_rand(f) % 100 < c->drop_pct) {
		rte_pktmbuf_free(m);
		return CAT_FAULTS_DROPPED;
	}
	delay_us = c->delay_us;
	if (c->jitter_us)
		delay_us += next_rand(f) % ((uint64_t)c->jitter_us + 1);
	if (c->reorder_pct && next_rand(f) % 100 < c->reorder_pct) {
		/* Behind everything sent in the next window, whatever its
		 * jitter: twice the largest normal delay, at least 100 us. */
		delay_us += 2 * ((uint64_t)c->delay_us + c->jitter_us) + 100;
		*reordered = 1;
	}
	if (delay_us == 0)
		return CAT_FAULTS_SEND;
	if (f->n == CAT_FAULTS_QUEUE)
		return CAT_FAULTS_QUEUE_FULL;
	e.due = now + delay_us * 1000;
	e.order = f->order++;
	e.m = m;
	heap_push(f, &e);
	return CAT_FAULTS_QUEUED;
}

unsigned int cat_faults_due(struct cat_faults *f, uint64_t now,
			    struct rte_mbuf **out, unsigned int max)
{
	unsigned int n = 0;

	while (n < max && f->n && f->heap[0].due <= now)
		out[n++] = heap_pop(f);
	return n;
}
