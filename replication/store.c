/*
 * catena store: a slot table per slot -- 64-byte buckets of seven tagged
 * item pointers, linear probing between buckets -- over immutable,
 * versioned items. Writers are the slot's single owner thread, so
 * read-modify-write ops (CAS, INCR) need no lock: nobody else can write
 * the slot between the lookup and the replace. Readers never block and
 * never write shared memory. Called per request on worker lcores: no
 * syscall, no malloc per write (items come from the writer's slabs,
 * store_mem.c), frees deferred to a grace period in batches.
 *
 * Why this layout: the cds_lfht store cost a hit four dependent cache
 * misses (slot, bucket index, dummy node, item) and the key sat on the
 * item's second line; here a hit is the bucket's line (its tag match
 * rejects 65535 of 65536 wrong keys without touching them) and the item's.
 *
 * Probing: a key lives in its home bucket (hash & mask) or, when that is
 * full, in the next bucket with room. Each bucket counts the keys that
 * probed past it (ovf, as in Folly's F14); a lookup stops at the first
 * bucket whose count is zero. An insert raises the counts along its path
 * before it publishes the entry and a removal lowers them after it clears
 * the entry, so a reader never stops short of a key present throughout.
 * Entries are never moved while published: a replace overwrites the
 * pointer in place (one store: readers see the old item or the new), a
 * removal clears the word, and only a rebuild (growth) relocates, into a
 * new table published whole.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#if defined(__SSE4_1__)
#include <smmintrin.h>
#endif

#include "replication/hash.h"
#include "replication/store.h"
#include "replication/store_mem.h"
#include "replication/wire.h"

/*
 * ThreadSanitizer does not see inside liburcu: tables and entries are
 * published with release stores and read with acquire loads, which TSan
 * does see, but a grace period it does not (tests/unit/tsan.supp). The
 * one hook left says that cat_store_destroy's rcu_barrier ran every free.
 */
#if defined(__SANITIZE_THREAD__)
#define CAT_STORE_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define CAT_STORE_TSAN 1
#endif
#endif
#ifdef CAT_STORE_TSAN
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
#define tsan_release(p) __tsan_release((void *)(p))
#define tsan_acquire(p) __tsan_acquire((void *)(p))
#else
#define tsan_release(p) ((void)0)
#define tsan_acquire(p) ((void)0)
#endif

#define WAYS 7u
/* Buckets of a slot's first table; tables never shrink below it. */
#define MIN_BUCKETS 2u
#define PTR_MASK ((UINT64_C(1) << 48) - 1)
/* Store-internal item flag: a snapshot walk has sent this item. */
#define ITEM_SNAP_SENT 0x100u

struct bucket {
	uint64_t e[WAYS];  /* tag << 48 | item pointer; 0 = empty */
	uint32_t ovf;      /* keys stored past this bucket */
	uint32_t pad;
} __attribute__((aligned(CAT_SMEM_LINE)));

/* tag_ways reads a bucket as four aligned 16-byte pairs of words. */
_Static_assert(sizeof(struct bucket) == 64 && WAYS == 7,
	       "a bucket is one line: seven ways, then ovf");

/* The line in front of a table's bucket 0: only the writer and the free
 * touch it, so a lookup never pays for it. */
struct table_hdr {
	struct rcu_head rcu;
	uint64_t buckets;
} __attribute__((aligned(CAT_SMEM_LINE)));

/* Every slot's table before its first item: no entries, no overflow. */
static const struct bucket empty_table __attribute__((aligned(CAT_SMEM_LINE)));

/* Per-slot state. *tblw is the slot's table as one word (bucket array |
 * log2 of its bucket count), so a reader gets the array and its size
 * from one load; the words of all slots are one dense array (cat_store's
 * tbl, 8 bytes a slot), so that load stays in L1 where the slots' own
 * lines, 64 bytes each, would not. version and keys are written only by the owner and read
 * relaxed by telemetry; a slot per cache line keeps owners of
 * neighbouring slots from false sharing. */
struct cat_slot {
	uintptr_t *tblw;    /* &cat_store.tbl[this slot] */
	uint64_t version;
	uint64_t keys;      /* live keys */
	uint64_t entries;   /* owner only: items in the table, tombstones too */
	uint64_t snap_pos;  /* owner only: next entry of the snapshot walk */
	int dirty_mode;     /* owner only: keep dirty versions (chain replica) */
	int hold;           /* owner writes, readers read: answer no reads
			     * while non-zero (HOLD_SYNC | HOLD_FENCE) */
	int snap_active;    /* owner only: a snapshot walk is running */
} __attribute__((aligned(CAT_SMEM_LINE)));

struct cat_store {
	uint32_t slot_count;
	uintptr_t *tbl;     /* each slot's table word, read by every lookup */
	struct cat_slot *slots;
	struct cat_smem mem;
};

/* A table as readers see it. */
struct tview {
	const struct bucket *b;
	uint64_t mask;
};

static inline struct tview view_of(uintptr_t w)
{
	struct tview v = {
		.b = (const struct bucket *)(w & ~(uintptr_t)63),
		.mask = (UINT64_C(1) << (w & 63)) - 1,
	};
	return v;
}

static inline struct tview slot_view(const struct cat_store *s,
				    uint32_t slot)
{
	return view_of(__atomic_load_n(&s->tbl[slot], __ATOMIC_ACQUIRE));
}

static inline struct cat_item *entry_item(uint64_t e)
{
	return (struct cat_item *)(uintptr_t)(e & PTR_MASK);
}

static inline uint64_t entry_of(uint64_t hash, const struct cat_item *it)
{
	return (hash & ~PTR_MASK) | (uint64_t)(uintptr_t)it;
}

static inline uint64_t load_entry(const uint64_t *e)
{
	return __atomic_load_n(e, __ATOMIC_ACQUIRE);
}

size_t cat_store_item_size(uint32_t klen, uint32_t vlen)
{
	return cat_smem_item_size(klen, vlen);
}

/* Out of line, so the common compare below needs no registers saved
 * around a call. */
__attribute__((noinline, cold)) static int key_eq_other(const uint8_t *a,
							 const uint8_t *b,
							 uint16_t len)
{
	return memcmp(a, b, len) == 0;
}

/* The key compare of every lookup: 16-byte keys (the benchmark's, and
 * common) in two loads per side. */
static inline int key_eq(const struct cat_item *it, const struct cat_key *k)
{
	const uint8_t *a = it->data, *b = k->ptr;
	uint64_t x0, y0, x1, y1;

	if (it->key_len != k->len)
		return 0;
	if (__builtin_expect(k->len < 8 || k->len > 16, 0))
		return key_eq_other(a, b, k->len);
	/* 8..16 bytes: the first and the last 8, overlapping if short. */
	memcpy(&x0, a, 8);
	memcpy(&y0, b, 8);
	memcpy(&x1, a + k->len - 8, 8);
	memcpy(&y1, b + k->len - 8, 8);
	return ((x0 ^ y0) | (x1 ^ y1)) == 0;
}

/*
 * The ways of b whose tag is tag, one bit per way. Only a filter: the
 * caller loads each candidate again with load_entry before it trusts it
 * (an empty way matches a zero tag; a way being written may read either
 * word). A walk of seven compares with a data-dependent exit cost a hit
 * some 100 instructions and a mispredicted branch; four compares of two
 * ways each and no branch cost about 15. TSan does not see vector loads
 * as atomic, so its builds take the scalar walk.
 */
static inline unsigned int tag_ways(const struct bucket *b, uint64_t tag)
{
#if defined(__SSE4_1__) && !defined(CAT_STORE_TSAN)
	const __m128i *w = (const __m128i *)(const void *)b->e;
	__m128i m = _mm_set1_epi64x((long long)~PTR_MASK);
	__m128i t = _mm_set1_epi64x((long long)tag);
	/* The fourth pair is way 6 and the ovf word: bit 7 is dropped. */
	unsigned int r0 = (unsigned int)_mm_movemask_pd(_mm_castsi128_pd(
		_mm_cmpeq_epi64(_mm_and_si128(_mm_load_si128(w + 0), m), t)));
	unsigned int r1 = (unsigned int)_mm_movemask_pd(_mm_castsi128_pd(
		_mm_cmpeq_epi64(_mm_and_si128(_mm_load_si128(w + 1), m), t)));
	unsigned int r2 = (unsigned int)_mm_movemask_pd(_mm_castsi128_pd(
		_mm_cmpeq_epi64(_mm_and_si128(_mm_load_si128(w + 2), m), t)));
	unsigned int r3 = (unsigned int)_mm_movemask_pd(_mm_castsi128_pd(
		_mm_cmpeq_epi64(_mm_and_si128(_mm_load_si128(w + 3), m), t)));

	return (r0 | r1 << 2 | r2 << 4 | r3 << 6) & ((1u << WAYS) - 1);
#else
	unsigned int r = 0;

	for (unsigned int j = 0; j < WAYS; j++)
		r |= (unsigned int)((load_entry(&b->e[j]) & ~PTR_MASK) == tag)
		     << j;
	return r;
#endif
}

/* Where a key is: bucket index and way, or NULL. Reader or writer. */
static inline struct cat_item *find_in(struct tview t, const struct cat_key *k,
				       uint64_t *bi, unsigned int *way)
{
	uint64_t tag = k->hash & ~PTR_MASK;
	uint64_t i = k->hash & t.mask;

	for (uint64_t probe = 0; probe <= t.mask; probe++) {
		const struct bucket *b = &t.b[i];

		for (unsigned int m = tag_ways(b, tag); m != 0; m &= m - 1) {
			unsigned int j = (unsigned int)__builtin_ctz(m);
			uint64_t e = load_entry(&b->e[j]);

			if ((e & ~PTR_MASK) == tag && e != 0 &&
			    key_eq(entry_item(e), k)) {
				*bi = i;
				*way = j;
				return entry_item(e);
			}
		}
		if (__atomic_load_n(&b->ovf, __ATOMIC_ACQUIRE) == 0)
			break;
		i = (i + 1) & t.mask;
	}
	return NULL;
}

/* find_in for readers: no position to report, so a hit's path is the
 * bucket's four compares, one reload and the key's two. */
static inline struct cat_item *lookup(const struct cat_store *s,
				      const struct cat_key *k)
{
	struct tview t = slot_view(s, k->slot);
	uint64_t tag = k->hash & ~PTR_MASK;
	uint64_t i = k->hash & t.mask;

	for (uint64_t probe = 0; probe <= t.mask; probe++) {
		const struct bucket *b = &t.b[i];

		for (unsigned int m = tag_ways(b, tag); m != 0; m &= m - 1) {
			uint64_t e = load_entry(&b->e[__builtin_ctz(m)]);

			if ((e & ~PTR_MASK) == tag && e != 0 &&
			    key_eq(entry_item(e), k))
				return entry_item(e);
		}
		if (__atomic_load_n(&b->ovf, __ATOMIC_ACQUIRE) == 0)
			break;
		i = (i + 1) & t.mask;
	}
	return NULL;
}

static uint64_t item_hash(const struct cat_item *it)
{
	return cat_hash_table(cat_hash_crc32c(it->data, it->key_len),
			      it->key_len);
}

/* Writer: put an entry in the first bucket with room from hash's home,
 * raising the overflow counts it passes. The table has room. */
static void table_insert(struct bucket *b, uint64_t mask, uint64_t hash,
			 uint64_t entry)
{
	uint64_t i = hash & mask;

	for (;;) {
		for (unsigned int j = 0; j < WAYS; j++) {
			if (b[i].e[j] == 0) {
				__atomic_store_n(&b[i].e[j], entry,
						 __ATOMIC_RELEASE);
				return;
			}
		}
		__atomic_store_n(&b[i].ovf, b[i].ovf + 1, __ATOMIC_RELEASE);
		i = (i + 1) & mask;
	}
}

/* Writer: clear the entry at (bi, way) of the key with this hash, then
 * lower the counts on the path that led there. */
static void table_remove(struct bucket *b, uint64_t mask, uint64_t hash,
			 uint64_t bi, unsigned int way)
{
	__atomic_store_n(&b[bi].e[way], 0, __ATOMIC_RELEASE);
	for (uint64_t i = hash & mask; i != bi; i = (i + 1) & mask)
		__atomic_store_n(&b[i].ovf, b[i].ovf - 1, __ATOMIC_RELAXED);
}

static uint64_t buckets_of(uintptr_t w)
{
	const struct bucket *b = view_of(w).b;

	return b == &empty_table ? 0 : UINT64_C(1) << (w & 63);
}

static void table_free_rcu(struct rcu_head *head)
{
	free(caa_container_of(head, struct table_hdr, rcu));
}

/* Smallest table that holds n items at most 3/8 full, the load a growth
 * at 3/4 leaves behind when it doubles the table. */
static uint64_t target_buckets(uint64_t n)
{
	uint64_t nb = MIN_BUCKETS;

	while (n * 8 > nb * WAYS * 3)
		nb <<= 1;
	return nb;
}

/*
 * Owner: move the slot to a new table of nb buckets holding every item of
 * the current one, publish it with one store and free the old after a
 * grace period. Readers on the old table still see it whole. A snapshot
 * walk restarts from the new table's start, skipping items it sent.
 */
static int rebuild(struct cat_slot *sl, uint64_t nb)
{
	uintptr_t ow = *sl->tblw;
	struct tview old = view_of(ow);
	struct table_hdr *h;
	struct bucket *nbk;
	unsigned int lg = 0;

	while ((UINT64_C(1) << lg) < nb)
		lg++;
	h = aligned_alloc(CAT_SMEM_LINE, sizeof(*h) + nb * sizeof(struct bucket));
	if (h == NULL)
		return -ENOMEM;
	h->buckets = nb;
	nbk = (struct bucket *)(h + 1);
	memset(nbk, 0, nb * sizeof(struct bucket));
	if (old.b != &empty_table) {
		for (uint64_t i = 0; i <= old.mask; i++) {
			for (unsigned int j = 0; j < WAYS; j++) {
				uint64_t e = old.b[i].e[j];

				if (e != 0)
					table_insert(nbk, nb - 1,
						     item_hash(entry_item(e)), e);
			}
		}
	}
	__atomic_store_n(sl->tblw, (uintptr_t)nbk | lg, __ATOMIC_RELEASE);
	if (old.b != &empty_table)
		call_rcu(&((struct table_hdr *)old.b - 1)->rcu, table_free_rcu);
	sl->snap_pos = 0;
	return 0;
}

/* Owner, before adding an item: grow at 3/4 full. Fails only if the table
 * is full and no bigger one can be had. */
static int make_room(struct cat_slot *sl)
{
	uint64_t nb = buckets_of(*sl->tblw);

	if ((sl->entries + 1) * 4 <= nb * WAYS * 3)
		return 0;
	if (rebuild(sl, nb ? 2 * nb : MIN_BUCKETS) == 0)
		return 0;
	return sl->entries < nb * WAYS ? 0 : -ENOMEM;
}

/* Owner, after removing items: shrink below 1/16 full. An empty slot goes
 * back to the shared empty table. */
static void maybe_shrink(struct cat_slot *sl)
{
	uintptr_t w = *sl->tblw;
	uint64_t nb = buckets_of(w);

	if (nb == 0)
		return;
	if (sl->entries == 0) {
		__atomic_store_n(sl->tblw, (uintptr_t)&empty_table,
				 __ATOMIC_RELEASE);
		call_rcu(&((struct table_hdr *)view_of(w).b - 1)->rcu,
			 table_free_rcu);
		sl->snap_pos = 0;
		return;
	}
	if (nb > MIN_BUCKETS && sl->entries * 16 < nb * WAYS)
		(void)rebuild(sl, target_buckets(sl->entries));
}

struct cat_store *cat_store_create(const struct cat_store_params *params)
{
	struct cat_store *s;

	if (params == NULL || !cat_hash_slot_count_valid(params->slot_count)) {
		errno = EINVAL;
		return NULL;
	}
	s = aligned_alloc(CAT_SMEM_LINE, sizeof(*s));
	if (s == NULL)
		return NULL;
	memset(s, 0, sizeof(*s));
	s->slot_count = params->slot_count;
	cat_smem_init(&s->mem, params->mem_limit);
	s->slots = aligned_alloc(CAT_SMEM_LINE,
				 sizeof(struct cat_slot) * params->slot_count);
	s->tbl = aligned_alloc(CAT_SMEM_LINE,
			       (sizeof(uintptr_t) * params->slot_count + 63u) &
			       ~(size_t)63u);
	if (s->slots == NULL || s->tbl == NULL) {
		free(s->slots);
		free(s->tbl);
		free(s);
		errno = ENOMEM;
		return NULL;
	}
	memset(s->slots, 0, sizeof(struct cat_slot) * params->slot_count);
	for (uint32_t i = 0; i < s->slot_count; i++) {
		s->tbl[i] = (uintptr_t)&empty_table;
		s->slots[i].tblw = &s->tbl[i];
	}
	return s;
}

void cat_store_destroy(struct cat_store *s)
{
	if (s == NULL)
		return;
	/* Retired items and tables still queued on call_rcu free into this
	 * store's slabs: drain them before anything goes. */
	rcu_barrier();
	tsan_acquire(s);
	for (uint32_t i = 0; i < s->slot_count; i++) {
		struct cat_slot *sl = &s->slots[i];
		struct tview t = view_of(*sl->tblw);

		if (t.b == &empty_table)
			continue;
		for (uint64_t bi = 0; bi <= t.mask; bi++) {
			for (unsigned int j = 0; j < WAYS; j++) {
				struct cat_item *it = entry_item(t.b[bi].e[j]);

				while (it != NULL) {
					struct cat_item *older = it->prev;

					cat_smem_free_now(it);
					it = older;
				}
			}
		}
		free((struct table_hdr *)t.b - 1);
	}
	cat_smem_fini(&s->mem);
	free(s->slots);
	free(s->tbl);
	free(s);
}

uint32_t cat_store_slot_count(const struct cat_store *s)
{
	return s->slot_count;
}

static inline void key_fill(uint32_t slot_count, struct cat_key *k,
			    const void *key, uint16_t len)
{
	k->ptr = key;
	k->len = len;
	k->crc = cat_hash_crc32c(key, len);
	k->slot = cat_hash_slot(k->crc, slot_count);
	k->hash = cat_hash_table(k->crc, len);
}

void cat_store_key(const struct cat_store *s, struct cat_key *k,
		   const void *key, uint16_t len)
{
	key_fill(s->slot_count, k, key, len);
}

void cat_store_key_bulk(const struct cat_store *s, struct cat_key k[],
			const void *const key[], const uint16_t len[],
			unsigned int n)
{
	uint32_t sc = s->slot_count;

	/* Each bucket's miss starts as soon as its key is hashed, while the
	 * next keys' bytes are still arriving, as rte_hash_lookup_bulk does:
	 * hashing all first and prefetching after queues the two waits. */
	for (unsigned int i = 0; i < n; i++) {
		struct tview t;

		key_fill(sc, &k[i], key[i], len[i]);
		t = slot_view(s, k[i].slot);
		__builtin_prefetch(&t.b[k[i].hash & t.mask]);
	}
}

/* The newest version if it is a live value, NULL if absent or deleted. */
static struct cat_item *live(struct cat_item *it)
{
	if (it == NULL || (cat_item_flags(it) & CAT_ITEM_TOMBSTONE))
		return NULL;
	return it;
}

int cat_store_get(const struct cat_store *s, const struct cat_key *k,
		  const struct cat_item **out)
{
	const struct cat_item *it = live(lookup(s, k));

	if (it == NULL)
		return -ENOENT;
	*out = it;
	return 0;
}

int cat_store_get_bulk(const struct cat_store *s,
		       const struct cat_key *const keys[], unsigned int n,
		       const struct cat_item *out[])
{
	const struct bucket *bk[CAT_STORE_BULK_MAX];
	struct cat_item *cand[CAT_STORE_BULK_MAX];
	int hits = 0;

	if (n > CAT_STORE_BULK_MAX)
		return -EINVAL;
	/* 1: each key's home bucket, prefetched. */
	for (unsigned int i = 0; i < n; i++) {
		struct tview t = slot_view(s, keys[i]->slot);

		bk[i] = &t.b[keys[i]->hash & t.mask];
		__builtin_prefetch(bk[i]);
	}
	/* 2: the first tag match in it, prefetched (header and key); with
	 * none in a bucket that overflowed, the next bucket instead. */
	for (unsigned int i = 0; i < n; i++) {
		uint64_t tag = keys[i]->hash & ~PTR_MASK;

		cand[i] = NULL;
		for (unsigned int m = tag_ways(bk[i], tag); m != 0; m &= m - 1) {
			uint64_t e = load_entry(&bk[i]->e[__builtin_ctz(m)]);

			if ((e & ~PTR_MASK) == tag && e != 0) {
				cand[i] = entry_item(e);
				__builtin_prefetch(cand[i]);
				__builtin_prefetch((const char *)cand[i] + 63);
				break;
			}
		}
		if (cand[i] == NULL &&
		    __atomic_load_n(&bk[i]->ovf, __ATOMIC_RELAXED) != 0)
			__builtin_prefetch(bk[i] + 1);
	}
	/* 3: compare; a wrong candidate or a key that may have probed past
	 * its home bucket takes the ordinary lookup (rare below 3/4 load). */
	for (unsigned int i = 0; i < n; i++) {
		struct cat_item *it = cand[i];

		if (it == NULL || !key_eq(it, keys[i])) {
			it = NULL;
			if (cand[i] != NULL ||
			    __atomic_load_n(&bk[i]->ovf, __ATOMIC_ACQUIRE) != 0)
				it = lookup(s, keys[i]);
		}
		out[i] = live(it);
		hits += out[i] != NULL;
	}
	return hits;
}

int cat_store_get_newest(const struct cat_store *s, const struct cat_key *k,
			 const struct cat_item **out)
{
	const struct cat_item *it = lookup(s, k);

	if (it == NULL)
		return -ENOENT;
	*out = it;
	return 0;
}

int cat_store_get_at(const struct cat_store *s, const struct cat_key *k,
		     uint64_t version, const struct cat_item **out)
{
	const struct cat_item *it = lookup(s, k);

	while (it != NULL && it->version > version)
		it = __atomic_load_n(&it->prev, __ATOMIC_ACQUIRE);
	if (it == NULL || (cat_item_flags(it) & CAT_ITEM_TOMBSTONE))
		return -ENOENT;
	*out = it;
	return 0;
}

/* The writing thread's memory record, or NULL (ENOMEM). */
static struct cat_smem_rec *wrec(struct cat_store *s)
{
	return cat_smem_rec(&s->mem);
}

static struct cat_item *item_alloc(struct cat_smem_rec *r,
				   const struct cat_key *k, uint32_t vlen,
				   int *err)
{
	struct cat_item *it = cat_smem_alloc(r, cat_smem_item_size(k->len, vlen),
					     err);

	if (it == NULL)
		return NULL;
	it->prev = NULL;
	it->key_len = k->len;
	it->value_len = vlen;
	it->flags = 0;
	memcpy(it->data, k->ptr, k->len);
	return it;
}

static void keys_add(struct cat_slot *sl, int64_t d)
{
	if (d != 0)
		__atomic_store_n(&sl->keys, sl->keys + (uint64_t)d,
				 __ATOMIC_RELAXED);
}

/* Retire an unlinked item and all its older versions. */
static void retire_chain(struct cat_smem_rec *r, struct cat_item *it)
{
	while (it != NULL) {
		struct cat_item *older = it->prev;

		cat_smem_retire(r, it);
		it = older;
	}
}

/*
 * Publish a fully built item at version v, replacing the key's newest
 * version. In dirty mode the old versions stay reachable through prev
 * (set before publication, so a reader never sees a dirty item without its
 * history); in clean mode they are freed after a grace period. The table
 * has room (make_room ran).
 */
static void publish(struct cat_store *s, struct cat_smem_rec *r,
		    const struct cat_key *k, struct cat_item *it, uint64_t v,
		    uint64_t *version)
{
	struct cat_slot *sl = &s->slots[k->slot];
	struct tview t = view_of(*sl->tblw);
	struct bucket *b = (struct bucket *)t.b;
	struct cat_item *old;
	uint64_t bi;
	unsigned int way;
	int was_live, is_live = !(it->flags & CAT_ITEM_TOMBSTONE);

	it->version = v;
	old = find_in(t, k, &bi, &way);
	if (sl->dirty_mode) {
		it->flags |= CAT_ITEM_DIRTY;
		it->prev = old;
	}
	if (old != NULL) {
		/* In place: the walk's cursor, if here, now names the new
		 * version, as store.h promises. */
		__atomic_store_n(&b[bi].e[way], entry_of(k->hash, it),
				 __ATOMIC_RELEASE);
	} else {
		table_insert(b, t.mask, k->hash, entry_of(k->hash, it));
		sl->entries++;
	}
	was_live = old != NULL && !(old->flags & CAT_ITEM_TOMBSTONE);
	__atomic_store_n(&sl->version, v, __ATOMIC_RELAXED);
	keys_add(sl, is_live - was_live);
	if (old != NULL && !sl->dirty_mode)
		retire_chain(r, old);
	if (version != NULL)
		*version = v;
}

/* A new item for k at version v (0: the slot's next), published. */
static int write_item(struct cat_store *s, const struct cat_key *k,
		      const void *value, uint32_t vlen, uint64_t v,
		      uint16_t flags, uint64_t *version)
{
	struct cat_slot *sl = &s->slots[k->slot];
	struct cat_smem_rec *r = wrec(s);
	struct cat_item *it;
	int err;

	if (r == NULL)
		return -ENOMEM;
	if (make_room(sl) != 0)
		return -ENOMEM;
	it = item_alloc(r, k, vlen, &err);
	if (it == NULL)
		return err;
	if (vlen)
		memcpy(it->data + k->len, value, vlen);
	it->flags = flags;
	publish(s, r, k, it, v ? v : sl->version + 1, version);
	cat_smem_done(r);
	return 0;
}

static int put_new(struct cat_store *s, const struct cat_key *k,
		   const void *value, uint32_t vlen, uint64_t v,
		   uint64_t *version)
{
	return write_item(s, k, value, vlen, v, 0, version);
}

int cat_store_put(struct cat_store *s, const struct cat_key *k,
		  const void *value, uint32_t vlen, uint64_t *version)
{
	return put_new(s, k, value, vlen, 0, version);
}

/* Owner: take the key's newest version out of the table and retire it
 * with its history. */
static void unlink_key(struct cat_store *s, struct cat_smem_rec *r,
		       const struct cat_key *k)
{
	struct cat_slot *sl = &s->slots[k->slot];
	struct tview t = view_of(*sl->tblw);
	struct cat_item *cur;
	uint64_t bi;
	unsigned int way;

	cur = find_in(t, k, &bi, &way);
	if (cur == NULL)
		return;
	table_remove((struct bucket *)t.b, t.mask, k->hash, bi, way);
	sl->entries--;
	retire_chain(r, cur);
	maybe_shrink(sl);
}

/* Delete the live newest version of k at version v: unlink it in clean
 * mode, cover it with a tombstone in dirty mode. */
static int del_at(struct cat_store *s, const struct cat_key *k, uint64_t v)
{
	struct cat_slot *sl = &s->slots[k->slot];
	struct cat_smem_rec *r;

	if (sl->dirty_mode)
		return write_item(s, k, NULL, 0, v, CAT_ITEM_TOMBSTONE, NULL);
	r = wrec(s);
	if (r == NULL)
		return -ENOMEM;
	unlink_key(s, r, k);
	/* A delete is a write: it takes a slot version so that ordering by
	 * version stays total per slot (the chain protocol relies on it). */
	__atomic_store_n(&sl->version, v, __ATOMIC_RELAXED);
	keys_add(sl, -1);
	cat_smem_done(r);
	return 0;
}

int cat_store_del(struct cat_store *s, const struct cat_key *k,
		  uint64_t *version)
{
	struct cat_item *it = live(lookup(s, k));
	uint64_t old_version;
	int ret;

	if (it == NULL)
		return -ENOENT;
	old_version = it->version;
	ret = del_at(s, k, s->slots[k->slot].version + 1);
	if (ret == 0 && version != NULL)
		*version = old_version;
	return ret;
}

int cat_store_cas(struct cat_store *s, const struct cat_key *k,
		  uint64_t expect, const void *value, uint32_t vlen,
		  uint64_t *version)
{
	const struct cat_item *cur = live(lookup(s, k));
	uint64_t cur_ver = cur ? cur->version : 0;

	if (cur_ver != expect) {
		if (version != NULL)
			*version = cur_ver;
		return -ECANCELED;
	}
	return put_new(s, k, value, vlen, 0, version);
}

int cat_store_cas_value(struct cat_store *s, const struct cat_key *k,
			const void *expect, uint32_t elen,
			const void *value, uint32_t vlen, uint64_t *version)
{
	const struct cat_item *cur = live(lookup(s, k));
	int same;

	if (cur == NULL)
		return -ENOENT;
	same = cur->value_len == elen &&
	       memcmp(cat_item_value(cur), expect, elen) == 0;
	if (!same) {
		if (version != NULL)
			*version = cur->version;
		return -ECANCELED;
	}
	return put_new(s, k, value, vlen, 0, version);
}

/* Strict decimal int64: optional '-', 1..19 digits, nothing else. */
static int parse_i64(const uint8_t *p, uint32_t len, int64_t *out)
{
	int neg = 0;
	uint64_t v = 0, lim;

	if (len > 0 && p[0] == '-') {
		neg = 1;
		p++;
		len--;
	}
	if (len == 0 || len > 19)
		return -EDOM;
	lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	for (uint32_t i = 0; i < len; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -EDOM;
		v = v * 10 + (uint64_t)(p[i] - '0');
		if (v > lim)
			return -EDOM;
	}
	*out = neg ? (int64_t)(0 - v) : (int64_t)v;
	return 0;
}

int cat_store_incr(struct cat_store *s, const struct cat_key *k,
		   int64_t delta, int64_t *result, uint64_t *version)
{
	const struct cat_item *cur = live(lookup(s, k));
	int64_t v = 0, r;
	uint8_t buf[CAT_WIRE_I64_TEXT_MAX];
	uint32_t n;
	int ret = 0;

	if (cur != NULL)
		ret = parse_i64(cat_item_value(cur), cur->value_len, &v);
	if (ret != 0)
		return ret;
	if (__builtin_add_overflow(v, delta, &r))
		return -ERANGE;
	n = cat_wire_i64_format(r, buf);
	ret = put_new(s, k, buf, n, 0, version);
	if (ret == 0 && result != NULL)
		*result = r;
	return ret;
}

int cat_store_slot_foreach(const struct cat_store *s, uint32_t slot,
			   int (*fn)(const struct cat_item *it, void *arg),
			   void *arg)
{
	struct tview t;
	int ret = 0;

	if (slot >= s->slot_count)
		return -EINVAL;
	t = slot_view(s, slot);
	for (uint64_t i = 0; i <= t.mask; i++) {
		for (unsigned int j = 0; j < WAYS; j++) {
			uint64_t e = load_entry(&t.b[i].e[j]);
			const struct cat_item *it = entry_item(e);

			if (e == 0 || (cat_item_flags(it) & CAT_ITEM_TOMBSTONE))
				continue;
			ret = fn(it, arg);
			if (ret != 0)
				return ret;
		}
	}
	return ret;
}

void cat_store_slot_clear(struct cat_store *s, uint32_t slot)
{
	struct cat_slot *sl;
	struct cat_smem_rec *r;
	uintptr_t w;
	struct tview t;

	if (slot >= s->slot_count)
		return;
	sl = &s->slots[slot];
	sl->snap_active = 0;
	sl->snap_pos = 0;
	w = *sl->tblw;
	t = view_of(w);
	if (t.b == &empty_table)
		goto out;
	r = wrec(s);
	/* Unpublish the whole table first: readers then see either all of
	 * it or the empty table, and nothing in between. */
	__atomic_store_n(sl->tblw, (uintptr_t)&empty_table, __ATOMIC_RELEASE);
	if (r == NULL)
		synchronize_rcu();  /* out of memory: free after waiting */
	for (uint64_t i = 0; i <= t.mask; i++) {
		for (unsigned int j = 0; j < WAYS; j++) {
			struct cat_item *it = entry_item(t.b[i].e[j]);

			if (r != NULL) {
				retire_chain(r, it);
				continue;
			}
			for (struct cat_item *o; it != NULL; it = o) {
				o = it->prev;
				cat_smem_free_unlinked(&s->mem, it);
			}
		}
	}
	if (r != NULL) {
		call_rcu(&((struct table_hdr *)t.b - 1)->rcu, table_free_rcu);
		cat_smem_done(r);
	} else {
		free((struct table_hdr *)t.b - 1);
	}
out:
	sl->entries = 0;
	__atomic_store_n(&sl->keys, 0, __ATOMIC_RELAXED);
}

void cat_store_snap_begin(struct cat_store *s, uint32_t slot)
{
	struct cat_slot *sl = &s->slots[slot];
	struct tview t = view_of(*sl->tblw);

	/* Forget the last walk's marks: this one sends everything again. */
	for (uint64_t i = 0; i <= t.mask; i++) {
		for (unsigned int j = 0; j < WAYS; j++) {
			struct cat_item *it = entry_item(t.b[i].e[j]);

			if (it != NULL && (it->flags & ITEM_SNAP_SENT))
				__atomic_and_fetch(&it->flags,
						   (uint16_t)~ITEM_SNAP_SENT,
						   __ATOMIC_RELAXED);
		}
	}
	sl->snap_pos = 0;
	sl->snap_active = 1;
}

int cat_store_snap_next(struct cat_store *s, uint32_t slot,
			const struct cat_item **out)
{
	struct cat_slot *sl = &s->slots[slot];
	struct tview t = view_of(*sl->tblw);
	uint64_t end = (t.mask + 1) * WAYS;

	if (!sl->snap_active)
		return -ENOENT;
	/* The cursor is a position: a replace there leaves the new version
	 * under it, a removal leaves it on the next entry. After a rebuild
	 * it restarts, and the marks keep it from sending an item twice. */
	while (sl->snap_pos < end) {
		uint64_t p = sl->snap_pos++;
		struct cat_item *it = entry_item(t.b[p / WAYS].e[p % WAYS]);

		if (it == NULL ||
		    (it->flags & (CAT_ITEM_TOMBSTONE | ITEM_SNAP_SENT)))
			continue;
		__atomic_or_fetch(&it->flags, (uint16_t)ITEM_SNAP_SENT,
				  __ATOMIC_RELAXED);
		*out = it;
		return 0;
	}
	return -ENOENT;
}

void cat_store_snap_end(struct cat_store *s, uint32_t slot)
{
	s->slots[slot].snap_active = 0;
	s->slots[slot].snap_pos = 0;
}

int cat_store_apply_snap(struct cat_store *s, const struct cat_key *k,
			 uint64_t version, const void *value, uint32_t vlen)
{
	struct cat_slot *sl = &s->slots[k->slot];
	uint64_t keep = sl->version;
	int rc = put_new(s, k, value, vlen, version, NULL);

	/* publish set the slot version to the item's: put it back. */
	__atomic_store_n(&sl->version, keep, __ATOMIC_RELAXED);
	return rc;
}

void cat_store_slot_set_version(struct cat_store *s, uint32_t slot,
				uint64_t version)
{
	if (slot < s->slot_count)
		__atomic_store_n(&s->slots[slot].version, version,
				 __ATOMIC_RELAXED);
}

#define HOLD_SYNC  1
#define HOLD_FENCE 2

/* Owner only: nobody else writes the word, so load and store suffice. */
static void hold_bit(struct cat_store *s, uint32_t slot, int bit, int on)
{
	int h;

	if (slot >= s->slot_count)
		return;
	h = __atomic_load_n(&s->slots[slot].hold, __ATOMIC_RELAXED);
	h = on ? h | bit : h & ~bit;
	__atomic_store_n(&s->slots[slot].hold, h, __ATOMIC_RELAXED);
}

void cat_store_slot_set_hold(struct cat_store *s, uint32_t slot, int on)
{
	hold_bit(s, slot, HOLD_SYNC, on);
}

void cat_store_slot_set_fence(struct cat_store *s, uint32_t slot, int on)
{
	hold_bit(s, slot, HOLD_FENCE, on);
}

int cat_store_slot_held(const struct cat_store *s, uint32_t slot)
{
	return slot < s->slot_count &&
	       __atomic_load_n(&s->slots[slot].hold, __ATOMIC_RELAXED);
}

unsigned int cat_store_maintain(struct cat_store *s, unsigned int max_resizes)
{
	(void)s;
	(void)max_resizes;
	return 0;
}

uint64_t cat_store_slot_buckets(const struct cat_store *s, uint32_t slot)
{
	if (slot >= s->slot_count)
		return 0;
	return buckets_of(__atomic_load_n(&s->tbl[slot],
					  __ATOMIC_RELAXED));
}

uint64_t cat_store_slot_keys(const struct cat_store *s, uint32_t slot)
{
	if (slot >= s->slot_count)
		return 0;
	return __atomic_load_n(&s->slots[slot].keys, __ATOMIC_RELAXED);
}

uint64_t cat_store_slot_version(const struct cat_store *s, uint32_t slot)
{
	if (slot >= s->slot_count)
		return 0;
	return __atomic_load_n(&s->slots[slot].version, __ATOMIC_RELAXED);
}

uint64_t cat_store_mem_used(const struct cat_store *s)
{
	return cat_smem_used(&s->mem);
}

void cat_store_burst_begin(struct cat_store *s)
{
	struct cat_smem_rec *r = wrec(s);

	if (r != NULL)
		cat_smem_burst(r, 1);
}

void cat_store_burst_end(struct cat_store *s)
{
	struct cat_smem_rec *r = wrec(s);

	if (r != NULL)
		cat_smem_burst(r, 0);
}

void cat_store_slot_set_dirty_mode(struct cat_store *s, uint32_t slot, int on)
{
	if (slot < s->slot_count)
		s->slots[slot].dirty_mode = !!on;
}

int cat_store_apply_put(struct cat_store *s, const struct cat_key *k,
			uint64_t version, const void *value, uint32_t vlen)
{
	if (version <= s->slots[k->slot].version)
		return -EINVAL;
	return put_new(s, k, value, vlen, version, NULL);
}

int cat_store_apply_del(struct cat_store *s, const struct cat_key *k,
			uint64_t version)
{
	struct cat_slot *sl = &s->slots[k->slot];

	if (version <= sl->version)
		return -EINVAL;
	if (live(lookup(s, k)) == NULL) {
		__atomic_store_n(&sl->version, version, __ATOMIC_RELAXED);
		return 0;
	}
	return del_at(s, k, version);
}

uint64_t cat_store_slot_bump(struct cat_store *s, uint32_t slot)
{
	struct cat_slot *sl = &s->slots[slot];
	uint64_t v = sl->version + 1;

	__atomic_store_n(&sl->version, v, __ATOMIC_RELAXED);
	return v;
}

int cat_store_apply_noop(struct cat_store *s, uint32_t slot, uint64_t version)
{
	struct cat_slot *sl;

	if (slot >= s->slot_count)
		return -EINVAL;
	sl = &s->slots[slot];
	if (version <= sl->version)
		return -EINVAL;
	__atomic_store_n(&sl->version, version, __ATOMIC_RELAXED);
	return 0;
}

void cat_store_commit(struct cat_store *s, const struct cat_key *k,
		      uint64_t version)
{
	struct cat_item *it, *c, *older;
	struct cat_smem_rec *r;

	it = lookup(s, k);
	for (c = it; c != NULL && c->version > version; c = c->prev)
		;
	if (c == NULL)
		return;
	r = wrec(s);
	__atomic_and_fetch(&c->flags, (uint16_t)~CAT_ITEM_DIRTY,
			   __ATOMIC_RELEASE);
	if (r == NULL)
		return;   /* history kept: freed with the key later */
	older = c->prev;
	if (older != NULL) {
		/* Readers already walking past c still hold valid memory
		 * until their next quiescent state. */
		__atomic_store_n(&c->prev, NULL, __ATOMIC_RELEASE);
		retire_chain(r, older);
	}
	if (c == it && (c->flags & CAT_ITEM_TOMBSTONE))
		unlink_key(s, r, k);
	cat_smem_done(r);
}

static int digest_fn(const struct cat_item *it, void *arg)
{
	uint64_t *sum = arg;
	uint64_t kh = cat_hash_crc32c(cat_item_key(it), it->key_len);
	uint64_t vh = cat_hash_crc32c(cat_item_value(it), it->value_len);

	/* A sum of mixed per-item hashes: independent of table order. */
	*sum += cat_hash_mix64((kh << 32 | vh) ^ cat_hash_mix64(it->version ^
			((uint64_t)it->value_len << 48)));
	return 0;
}

uint64_t cat_store_slot_digest(const struct cat_store *s, uint32_t slot)
{
	uint64_t sum = 0;

	cat_store_slot_foreach(s, slot, digest_fn, &sum);
	return sum;
}
