/*
 * catena store memory: per-writer-thread slabs, chunked budget
 * reservation and batched retirement (see store_mem.h). The writer's path
 * touches only its own record: a free-list pop, a subtraction from its
 * reserved budget, an append to its retire batch. Shared words are touched
 * once per reservation chunk (the budget), once per batch (call_rcu's
 * queue, the freed counter) and once per 2 MiB region (mmap).
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "replication/store_mem.h"

#define REGION_SIZE (2u << 20)   /* a transparent huge page */
#define SLAB_SIZE   (64u << 10)  /* one size class's carving unit */
#define RESERVE_MAX (256u << 10)

/* The first cache line of every slab: who owns its chunks. */
struct slab_hdr {
	struct cat_smem_rec *rec;
	void *older_region;        /* in a region's first slab only */
	uint32_t cls;
} __attribute__((aligned(CAT_SMEM_LINE)));

_Static_assert(sizeof(struct cat_smem_batch) <= CAT_SMEM_SMALL_MAX,
	       "a retire batch is a small slab chunk");
_Static_assert(sizeof(struct slab_hdr) + sizeof(struct cat_smem_rec) <=
	       SLAB_SIZE, "a record fits its region's first slab");

static __thread struct {
	const struct cat_smem *m;
	uint64_t gen;
	struct cat_smem_rec *r;
} tls;

static uint64_t gen_next;
static pthread_once_t rt_once = PTHREAD_ONCE_INIT;
static struct call_rcu_data *rt_crd;

/* One real-time call_rcu thread for every store in the process: it polls
 * its queue (every 10 ms when idle) instead of being woken through a
 * futex, so call_rcu on a worker never makes a syscall. */
static void rt_crd_create(void)
{
	rt_crd = create_call_rcu_data(URCU_CALL_RCU_RT, -1);
}

size_t cat_smem_item_size(uint32_t klen, uint32_t vlen)
{
	return (sizeof(struct cat_item) + (size_t)klen + vlen + 7u) & ~(size_t)7u;
}

void cat_smem_init(struct cat_smem *m, uint64_t limit)
{
	memset(m, 0, sizeof(*m));
	m->limit = limit;
	m->chunk = RESERVE_MAX;
	if (limit != 0 && limit / 64 < m->chunk)
		m->chunk = limit / 64 > 8 ? limit / 64 : 8;
	m->gen = __atomic_add_fetch(&gen_next, 1, __ATOMIC_RELAXED);
}

static int is_slab_item(size_t sz)
{
	return CAT_SMEM_SLABS && sz <= CAT_SMEM_SMALL_MAX;
}

static void *region_map(void)
{
	size_t len = 2u * REGION_SIZE;
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uintptr_t a;

	if (p == MAP_FAILED)
		return NULL;
	/* Aligned to its size, so a chunk finds its slab by masking and the
	 * kernel can back the region with one huge page. */
	a = ((uintptr_t)p + REGION_SIZE - 1) & ~(uintptr_t)(REGION_SIZE - 1);
	if (a > (uintptr_t)p)
		munmap(p, a - (uintptr_t)p);
	if (a + REGION_SIZE < (uintptr_t)p + len)
		munmap((void *)(a + REGION_SIZE),
		       (uintptr_t)p + len - (a + REGION_SIZE));
	(void)madvise((void *)a, REGION_SIZE, MADV_HUGEPAGE);
	return (void *)a;
}

static struct cat_smem_rec *rec_new(struct cat_smem *m)
{
	struct cat_smem_rec *r;

	if (CAT_SMEM_SLABS) {
		char *region = region_map();
		struct slab_hdr *h = (struct slab_hdr *)region;

		if (region == NULL)
			return NULL;
		/* mmap'd memory is zero: only the non-zero fields are set. */
		r = (struct cat_smem_rec *)(region + sizeof(*h));
		h->rec = r;
		h->older_region = NULL;
		r->region = region;
		r->carve = region + SLAB_SIZE;
		r->carve_end = region + REGION_SIZE;
	} else {
		r = aligned_alloc(CAT_SMEM_LINE, sizeof(*r));
		if (r == NULL)
			return NULL;
		memset(r, 0, sizeof(*r));
	}
	r->m = m;
	r->thread = (uint64_t)pthread_self();
	return r;
}

struct cat_smem_rec *cat_smem_rec(struct cat_smem *m)
{
	struct cat_smem_rec *r;
	uint64_t self = (uint64_t)pthread_self();

	if (__builtin_expect(tls.m == m && tls.gen == m->gen, 1))
		return tls.r;
	for (r = __atomic_load_n(&m->recs, __ATOMIC_ACQUIRE); r; r = r->next)
		if (r->thread == self)
			break;
	if (r == NULL) {
		r = rec_new(m);
		if (r == NULL)
			return NULL;
		r->next = __atomic_load_n(&m->recs, __ATOMIC_RELAXED);
		while (!__atomic_compare_exchange_n(&m->recs, &r->next, r, 1,
						    __ATOMIC_RELEASE,
						    __ATOMIC_RELAXED))
			;
		pthread_once(&rt_once, rt_crd_create);
		if (rt_crd != NULL && get_thread_call_rcu_data() == NULL)
			set_thread_call_rcu_data(rt_crd);
	}
	tls.m = m;
	tls.gen = m->gen;
	tls.r = r;
	return r;
}

/* Take n bytes of the limit for r; 0 or -ENOSPC. */
static int reserve(struct cat_smem *m, uint64_t n)
{
	uint64_t total = __atomic_add_fetch(&m->reserved, n, __ATOMIC_RELAXED);

	if (m->limit != 0 &&
	    total - __atomic_load_n(&m->freed, __ATOMIC_RELAXED) > m->limit) {
		__atomic_sub_fetch(&m->reserved, n, __ATOMIC_RELAXED);
		return -ENOSPC;
	}
	return 0;
}

static int charge(struct cat_smem_rec *r, uint64_t sz)
{
	uint64_t avail = r->avail, need, want;

	if (avail < sz) {
		need = sz - avail;
		want = need > r->m->chunk ? need : r->m->chunk;
		if (reserve(r->m, want) == 0)
			avail += want;
		else if (want > need && reserve(r->m, need) == 0)
			avail += need;
		else
			return -ENOSPC;
	}
	__atomic_store_n(&r->avail, avail - sz, __ATOMIC_RELAXED);
	return 0;
}

/* A new slab for class c, from the newest region or a new one. */
static int slab_new(struct cat_smem_rec *r, uint32_t c)
{
	struct slab_hdr *h;

	if (r->carve == r->carve_end) {
		char *region = region_map();

		if (region == NULL)
			return -ENOMEM;
		((struct slab_hdr *)region)->older_region = r->region;
		r->region = region;
		r->carve = region;
		r->carve_end = region + REGION_SIZE;
	}
	h = (struct slab_hdr *)r->carve;
	h->rec = r;
	h->cls = c;
	r->cls[c].bump = r->carve + sizeof(*h);
	r->cls[c].end = r->carve + SLAB_SIZE;
	r->carve += SLAB_SIZE;
	return 0;
}

/* Owner: a chunk back on its class's free list. */
static void chunk_free_local(struct cat_smem_rec *r, void *p)
{
	const struct slab_hdr *h =
		(const struct slab_hdr *)((uintptr_t)p & ~(uintptr_t)(SLAB_SIZE - 1));

	*(void **)p = r->cls[h->cls].free;
	r->cls[h->cls].free = p;
}

/*
 * Owner: take back every batch whose grace period is over. The call_rcu
 * thread hands a batch back whole, without touching its items, so an
 * item's line moves between cores only when its writer reuses it (the
 * owner, whose cache had it last), not once more for the free.
 * Returns whether anything came back.
 */
static int drain_returned(struct cat_smem_rec *r)
{
	struct cat_smem_batch *b = __atomic_exchange_n(&r->returned, NULL,
						       __ATOMIC_ACQUIRE);
	int any = b != NULL;

	while (b != NULL) {
		struct cat_smem_batch *next = b->next;

		for (uint32_t i = 0; i < b->n; i++)
			if (!((uintptr_t)b->items[i] & 1u))
				chunk_free_local(r, b->items[i]);
		chunk_free_local(r, b);
		b = next;
	}
	return any;
}

static void *chunk_alloc(struct cat_smem_rec *r, size_t sz)
{
	uint32_t c = (uint32_t)(sz / 8u);
	void *p = r->cls[c].free;

	if (!CAT_SMEM_SLABS)
		return malloc(sz);
	if (p != NULL) {
		r->cls[c].free = *(void **)p;
		/* The next pop reads that chunk's link, a miss that would
		 * stall the write, and then writes the whole chunk: fetch
		 * both its lines now, for writing, while this write goes on. */
		__builtin_prefetch(r->cls[c].free, 1);
		__builtin_prefetch((char *)r->cls[c].free + sz - 1, 1);
		return p;
	}
	/* Batches the call_rcu thread handed back, all at once. */
	if (drain_returned(r) && (p = r->cls[c].free) != NULL) {
		r->cls[c].free = *(void **)p;
		__builtin_prefetch(r->cls[c].free, 1);
		return p;
	}
	if (r->cls[c].bump == NULL ||
	    (size_t)(r->cls[c].end - r->cls[c].bump) < sz) {
		if (slab_new(r, c) != 0)
			return NULL;
	}
	p = r->cls[c].bump;
	r->cls[c].bump += sz;
	return p;
}

static size_t size_of(const struct cat_item *it)
{
	return cat_smem_item_size(it->key_len, it->value_len);
}

struct cat_item *cat_smem_alloc(struct cat_smem_rec *r, size_t sz, int *err)
{
	void *p;

	if (charge(r, sz) != 0) {
		*err = -ENOSPC;
		return NULL;
	}
	p = is_slab_item(sz) ? chunk_alloc(r, sz) : malloc(sz);
	/* Entries keep a tag in the pointer's top 16 bits. */
	if (p != NULL && ((uintptr_t)p >> 48) != 0) {
		free(p);
		p = NULL;
	}
	if (p == NULL) {
		__atomic_store_n(&r->avail, r->avail + sz, __ATOMIC_RELAXED);
		*err = -ENOMEM;
	}
	return p;
}

/* Owner, after a grace period it waited for itself. */
static void item_free(struct cat_smem_rec *r, struct cat_item *it, size_t sz)
{
	if (is_slab_item(sz))
		chunk_free_local(r, it);
	else
		free(it);
}

void cat_smem_unalloc(struct cat_smem_rec *r, struct cat_item *it)
{
	size_t sz = size_of(it);

	if (is_slab_item(sz)) {
		uint32_t c = (uint32_t)(sz / 8u);

		*(void **)it = r->cls[c].free;
		r->cls[c].free = it;
	} else {
		free(it);
	}
	__atomic_store_n(&r->avail, r->avail + sz, __ATOMIC_RELAXED);
}

void cat_smem_free_unlinked(struct cat_smem *m, struct cat_item *it)
{
	size_t sz = size_of(it);

	/* The caller is a writer without a record: the chunk stays with its
	 * slab until the store goes (out of memory only). */
	if (!is_slab_item(sz))
		free(it);
	__atomic_add_fetch(&m->freed, sz, __ATOMIC_RELEASE);
}

void cat_smem_free_now(struct cat_item *it)
{
	size_t sz = size_of(it);

	/* Slab chunks go with their regions in cat_smem_fini. */
	if (!is_slab_item(sz))
		free(it);
}

/* On the call_rcu thread, after a grace period: nothing can read them.
 * Large items (tagged 1 in the batch) are freed here; slab items and the
 * batch itself go back to the writer that owns them, untouched. */
static void batch_free_rcu(struct rcu_head *head)
{
	struct cat_smem_batch *b = caa_container_of(head, struct cat_smem_batch,
						    rcu);
	struct cat_smem_rec *r = b->rec;
	uint64_t bytes = b->bytes;

	for (uint32_t i = 0; i < b->n; i++) {
		uintptr_t p = (uintptr_t)b->items[i];

		if (!CAT_SMEM_SLABS || (p & 1u))
			free((void *)(p & ~(uintptr_t)1u));
	}
	if (CAT_SMEM_SLABS) {
		b->next = __atomic_load_n(&r->returned, __ATOMIC_RELAXED);
		while (!__atomic_compare_exchange_n(&r->returned, &b->next, b,
						    1, __ATOMIC_RELEASE,
						    __ATOMIC_RELAXED))
			;
	} else {
		free(b);
	}
	__atomic_add_fetch(&r->m->freed, bytes, __ATOMIC_RELEASE);
}

static void flush(struct cat_smem_rec *r)
{
	struct cat_smem_batch *b = r->batch;

	if (b == NULL)
		return;
	r->batch = NULL;
	call_rcu(&b->rcu, batch_free_rcu);
}

void cat_smem_retire(struct cat_smem_rec *r, struct cat_item *it)
{
	struct cat_smem_batch *b = r->batch;
	size_t sz = size_of(it);

	if (b == NULL) {
		b = chunk_alloc(r, CAT_SMEM_SMALL_MAX);
		if (b == NULL) {
			/* Out of memory even for a batch: wait the grace
			 * period here (liburcu takes this thread offline while
			 * it waits) rather than leak or free too early. */
			synchronize_rcu();
			item_free(r, it, sz);
			__atomic_add_fetch(&r->m->freed, sz, __ATOMIC_RELEASE);
			return;
		}
		b->rec = r;
		b->n = 0;
		b->bytes = 0;
		r->batch = b;
	}
	b->items[b->n++] = is_slab_item(sz) ? it :
		(struct cat_item *)((uintptr_t)it | 1u);
	b->bytes += (uint32_t)sz;
	if (b->n == CAT_SMEM_BATCH)
		flush(r);
}

void cat_smem_done(struct cat_smem_rec *r)
{
	if (!r->burst)
		flush(r);
}

void cat_smem_burst(struct cat_smem_rec *r, int on)
{
	r->burst = on;
	if (!on)
		flush(r);
}

uint64_t cat_smem_used(const struct cat_smem *m)
{
	uint64_t freed = __atomic_load_n(&m->freed, __ATOMIC_ACQUIRE);
	uint64_t res = __atomic_load_n(&m->reserved, __ATOMIC_RELAXED);

	for (const struct cat_smem_rec *r = __atomic_load_n(&m->recs,
			__ATOMIC_ACQUIRE); r; r = r->next)
		res -= __atomic_load_n(&r->avail, __ATOMIC_RELAXED);
	return res - freed;
}

void cat_smem_fini(struct cat_smem *m)
{
	struct cat_smem_rec *r = m->recs, *next;

	for (; r != NULL; r = next) {
		struct cat_smem_batch *b = r->batch;
		void *region = r->region;

		next = r->next;
		/* An open batch (a burst never ended): nobody reads now. */
		if (b != NULL) {
			for (uint32_t i = 0; i < b->n; i++)
				cat_smem_free_now((struct cat_item *)
					((uintptr_t)b->items[i] & ~(uintptr_t)1u));
			if (!CAT_SMEM_SLABS)
				free(b);
		}
		if (!CAT_SMEM_SLABS) {
			free(r);
			continue;
		}
		/* The record lives in its oldest region: unmapped last. */
		while (region != NULL) {
			void *older = ((struct slab_hdr *)region)->older_region;

			munmap(region, REGION_SIZE);
			region = older;
		}
	}
	m->recs = NULL;
}
