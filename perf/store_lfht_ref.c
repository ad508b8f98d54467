/*
 * perf/store_lfht_ref.c: perf-only reference copy of the cds_lfht store
 * (see store_lfht_ref.h); benchmark rows only, never used by the node.
 *
 * catena store: one cds_lfht (QSBR) per slot, immutable versioned items.
 * Writers are the slot's single owner thread, so read-modify-write ops
 * (CAS, INCR) need no lock: nobody else can write the slot between the
 * lookup and the replace. Readers never block and never write shared
 * memory. Called per request on worker lcores: no syscalls, one malloc per
 * write (the item itself), frees deferred to call_rcu.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "replication/hash.h"
#include "perf/store_lfht_ref.h"
#include "replication/wire.h"

/*
 * ThreadSanitizer does not see inside liburcu (a library it did not
 * instrument): to it, a writer links an item into a table and a reader
 * later finds it there with no synchronisation between them, and every
 * field of the item looks raced. cds_lfht_add_replace does publish with a
 * release barrier and lookups read with rcu_dereference; these two hooks
 * say so, on the item's address, in TSan builds only; so do item_free and
 * cat_lfref_destroy for rcu_barrier (tests/unit/tsan.supp explains the
 * rest: grace periods).
 */
#if defined(__SANITIZE_THREAD__)
#define CAT_LFREF_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define CAT_LFREF_TSAN 1
#endif
#endif
#ifdef CAT_LFREF_TSAN
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
#define tsan_release(p) __tsan_release((void *)(p))
#define tsan_acquire(p) __tsan_acquire((void *)(p))
#else
#define tsan_release(p) ((void)0)
#define tsan_acquire(p) ((void)0)
#endif
/* A writer links an item; a reader finds it. */
#define tsan_published(it) tsan_release(it)
#define tsan_found(it) tsan_acquire(it)

#define CAT_CACHE_LINE 64
/* Buckets a slot table starts with and never shrinks below. */
#define CAT_SLOT_MIN_BUCKETS 8u

/* Per-slot state. version and keys are written only by the owner and read
 * relaxed by telemetry; a slot per cache line keeps owners of neighbouring
 * slots from false sharing. */
struct cat_lfref_slot {
	struct cds_lfht *ht;
	uint64_t version;
	uint64_t keys;
	uint64_t buckets;   /* written by the maintainer thread only */
	int dirty_mode;     /* owner only: keep dirty versions (chain replica) */
	int hold;           /* owner writes, readers read: answer no reads
			     * while non-zero (HOLD_SYNC | HOLD_FENCE) */
	int snap_active;    /* owner only: a snapshot walk is running */
	struct cat_lfref_item *snap_cur; /* owner only: next item of that walk */
} __attribute__((aligned(CAT_CACHE_LINE)));

struct cat_lfref {
	uint32_t slot_count;
	uint64_t mem_limit;
	struct cat_lfref_slot *slots;
	uint32_t maint_next;   /* maintainer's round-robin cursor */
	/* Shared by all writers: the only cross-worker write in the store. */
	uint64_t mem_used __attribute__((aligned(CAT_CACHE_LINE)));
};

/*
 * Walk a table by node, not with cds_lfht_for_each_entry: that macro forms
 * container_of(NULL) at the end of the walk, which UBSan rightly flags.
 */
#define slot_for_each_item(ht, iter, it)				\
	for (cds_lfht_first((ht), (iter));				\
	     cds_lfht_iter_get_node(iter) != NULL &&			\
	     ((it) = caa_container_of(cds_lfht_iter_get_node(iter),	\
				      struct cat_lfref_item, node),		\
	      tsan_found(it), 1);					\
	     cds_lfht_next((ht), (iter)))

size_t cat_lfref_item_size(uint32_t klen, uint32_t vlen)
{
	return sizeof(struct cat_lfref_item) + (size_t)klen + vlen;
}

struct cat_lfref *cat_lfref_create(const struct cat_lfref_params *params)
{
	struct cat_lfref *s;

	if (params == NULL || !cat_hash_slot_count_valid(params->slot_count)) {
		errno = EINVAL;
		return NULL;
	}
	s = aligned_alloc(CAT_CACHE_LINE, sizeof(*s));
	if (s == NULL)
		return NULL;
	memset(s, 0, sizeof(*s));
	s->slot_count = params->slot_count;
	s->mem_limit = params->mem_limit;
	s->slots = aligned_alloc(CAT_CACHE_LINE,
				 sizeof(struct cat_lfref_slot) * params->slot_count);
	if (s->slots == NULL) {
		free(s);
		errno = ENOMEM;
		return NULL;
	}
	memset(s->slots, 0, sizeof(struct cat_lfref_slot) * params->slot_count);
	for (uint32_t i = 0; i < s->slot_count; i++) {
		/* Small initial size: most slots of a large cluster hold few
		 * keys on any one node; cat_lfref_maintain grows busy ones.
		 * No CDS_LFHT_AUTO_RESIZE: see store.h. */
		s->slots[i].ht = cds_lfht_new(CAT_SLOT_MIN_BUCKETS,
			CAT_SLOT_MIN_BUCKETS, 0, 0, NULL);
		s->slots[i].buckets = CAT_SLOT_MIN_BUCKETS;
		if (s->slots[i].ht == NULL) {
			cat_lfref_destroy(s);
			errno = ENOMEM;
			return NULL;
		}
	}
	return s;
}

static void item_free(struct cat_lfref *s, struct cat_lfref_item *it)
{
	__atomic_sub_fetch(&s->mem_used,
			   cat_lfref_item_size(it->key_len, it->value_len),
			   __ATOMIC_RELAXED);
	free(it);
	tsan_release(s); /* cat_lfref_destroy's rcu_barrier waits for this */
}

/* Runs on liburcu's call_rcu thread once no reader can hold the item. */
static void item_free_rcu(struct rcu_head *head)
{
	struct cat_lfref_item *it = caa_container_of(head, struct cat_lfref_item, rcu);

	item_free(it->store, it);
}

/* Queue an unlinked item and all its older versions for freeing. Caller is
 * the owner, online: no grace period can end while it walks the chain. */
static void retire_chain(struct cat_lfref_item *it)
{
	while (it != NULL) {
		struct cat_lfref_item *older = it->prev;

		call_rcu(&it->rcu, item_free_rcu);
		it = older;
	}
}

void cat_lfref_destroy(struct cat_lfref *s)
{
	if (s == NULL)
		return;
	for (uint32_t i = 0; i < s->slot_count; i++) {
		struct cat_lfref_slot *sl = &s->slots[i];
		struct cds_lfht_iter iter;
		struct cat_lfref_item *it, *dead = NULL;

		if (sl->ht == NULL)
			continue;
		/* No other thread uses the store now, but the table's resize
		 * worker may still walk nodes after a delete: unlink all,
		 * destroy the table (which waits for that worker), and only
		 * then free the items. They are chained through their unused
		 * rcu_head, so tear-down needs no allocation that could fail. */
		slot_for_each_item(sl->ht, &iter, it) {
			cds_lfht_del(sl->ht, &it->node);
			for (struct cat_lfref_item *v = it, *older; v; v = older) {
				older = v->prev;
				v->rcu.next.next = (struct cds_wfcq_node *)dead;
				dead = v;
			}
		}
		cds_lfht_destroy(sl->ht, NULL);
		while (dead != NULL) {
			struct cat_lfref_item *next = (struct cat_lfref_item *)dead->rcu.next.next;

			free(dead);
			dead = next;
		}
	}
	/* Items replaced or deleted earlier are still queued on call_rcu, and
	 * their callbacks account against this store: drain them first. */
	rcu_barrier();
	tsan_acquire(s);
	free(s->slots);
	free(s);
}

uint32_t cat_lfref_slot_count(const struct cat_lfref *s)
{
	return s->slot_count;
}

void cat_lfref_mkkey(const struct cat_lfref *s, struct cat_lfref_key *k,
		   const void *key, uint16_t len)
{
	k->ptr = key;
	k->len = len;
	k->crc = cat_hash_crc32c(key, len);
	k->slot = cat_hash_slot(k->crc, s->slot_count);
	k->hash = cat_hash_table(k->crc, len);
}

static int item_match(struct cds_lfht_node *node, const void *arg)
{
	const struct cat_lfref_item *it = caa_container_of(node, struct cat_lfref_item, node);
	const struct cat_lfref_key *k = arg;

	tsan_found(it);
	return it->key_len == k->len && memcmp(it->data, k->ptr, k->len) == 0;
}

static struct cat_lfref_item *lookup(const struct cat_lfref *s,
			       const struct cat_lfref_key *k)
{
	struct cds_lfht_iter iter;
	struct cds_lfht_node *node;

	cds_lfht_lookup(s->slots[k->slot].ht, k->hash, item_match, k, &iter);
	node = cds_lfht_iter_get_node(&iter);
	if (node == NULL)
		return NULL;
	tsan_found(caa_container_of(node, struct cat_lfref_item, node));
	return caa_container_of(node, struct cat_lfref_item, node);
}

/* The newest version if it is a live value, NULL if absent or deleted. */
static struct cat_lfref_item *live(struct cat_lfref_item *it)
{
	if (it == NULL || (cat_lfref_item_flags(it) & CAT_LFREF_ITEM_TOMBSTONE))
		return NULL;
	return it;
}

int cat_lfref_get(const struct cat_lfref *s, const struct cat_lfref_key *k,
		  const struct cat_lfref_item **out)
{
	const struct cat_lfref_item *it;

	rcu_read_lock();
	it = live(lookup(s, k));
	rcu_read_unlock();
	if (it == NULL)
		return -ENOENT;
	*out = it;
	return 0;
}

int cat_lfref_get_newest(const struct cat_lfref *s, const struct cat_lfref_key *k,
			 const struct cat_lfref_item **out)
{
	const struct cat_lfref_item *it;

	rcu_read_lock();
	it = lookup(s, k);
	rcu_read_unlock();
	if (it == NULL)
		return -ENOENT;
	*out = it;
	return 0;
}

int cat_lfref_get_at(const struct cat_lfref *s, const struct cat_lfref_key *k,
		     uint64_t version, const struct cat_lfref_item **out)
{
	const struct cat_lfref_item *it;

	rcu_read_lock();
	it = lookup(s, k);
	while (it != NULL && it->version > version)
		it = __atomic_load_n(&it->prev, __ATOMIC_ACQUIRE);
	rcu_read_unlock();
	if (it == NULL || (cat_lfref_item_flags(it) & CAT_LFREF_ITEM_TOMBSTONE))
		return -ENOENT;
	*out = it;
	return 0;
}

static struct cat_lfref_item *item_alloc(struct cat_lfref *s, const struct cat_lfref_key *k,
				   uint32_t vlen)
{
	size_t sz = cat_lfref_item_size(k->len, vlen);
	uint64_t used;
	struct cat_lfref_item *it;

	used = __atomic_add_fetch(&s->mem_used, sz, __ATOMIC_RELAXED);
	if (s->mem_limit != 0 && used > s->mem_limit) {
		__atomic_sub_fetch(&s->mem_used, sz, __ATOMIC_RELAXED);
		errno = ENOSPC;
		return NULL;
	}
	it = malloc(sz);
	if (it == NULL) {
		__atomic_sub_fetch(&s->mem_used, sz, __ATOMIC_RELAXED);
		errno = ENOMEM;
		return NULL;
	}
	cds_lfht_node_init(&it->node);
	it->store = s;
	it->prev = NULL;
	it->key_len = k->len;
	it->value_len = vlen;
	it->flags = 0;
	memcpy(it->data, k->ptr, k->len);
	return it;
}

static void keys_add(struct cat_lfref_slot *sl, int64_t d)
{
	if (d != 0)
		__atomic_store_n(&sl->keys, sl->keys + (uint64_t)d,
				 __ATOMIC_RELAXED);
}

/* The snapshot cursor's item is about to leave the table: move the
 * cursor to the next item first (the owner is the only writer, so nothing
 * else moves between this and the removal). */
static void snap_skip(struct cat_lfref_slot *sl, struct cat_lfref_item *leaving)
{
	struct cds_lfht_iter iter;

	if (!sl->snap_active || sl->snap_cur != leaving)
		return;
	iter.node = &leaving->node;
	iter.next = rcu_dereference(leaving->node.next);
	cds_lfht_next(sl->ht, &iter);
	sl->snap_cur = cds_lfht_iter_get_node(&iter) == NULL ? NULL :
		caa_container_of(cds_lfht_iter_get_node(&iter),
				 struct cat_lfref_item, node);
}

/* Remove an item from its slot table; 0 if this call removed it. */
static int unlink_item(struct cat_lfref_slot *sl, struct cat_lfref_item *it)
{
	snap_skip(sl, it);
	return cds_lfht_del(sl->ht, &it->node);
}

/*
 * Publish a fully built item at version v, replacing the key's newest
 * version. In dirty mode the old versions stay reachable through prev
 * (set before publication, so a reader never sees a dirty item without its
 * history); in clean mode they are freed after a grace period.
 */
static void publish(struct cat_lfref *s, const struct cat_lfref_key *k,
		    struct cat_lfref_item *it, uint64_t v, uint64_t *version)
{
	struct cat_lfref_slot *sl = &s->slots[k->slot];
	struct cds_lfht_node *node;
	struct cat_lfref_item *old;
	int was_live, is_live = !(it->flags & CAT_LFREF_ITEM_TOMBSTONE);

	it->version = v;
	rcu_read_lock();
	if (sl->dirty_mode) {
		it->flags |= CAT_LFREF_ITEM_DIRTY;
		it->prev = lookup(s, k);
	}
	tsan_published(it);
	node = cds_lfht_add_replace(sl->ht, k->hash, item_match, k, &it->node);
	rcu_read_unlock();
	old = node ? caa_container_of(node, struct cat_lfref_item, node) : NULL;
	/* The new version took the old one's place in the table. */
	if (old != NULL && sl->snap_active && sl->snap_cur == old)
		sl->snap_cur = it;
	was_live = old != NULL && !(old->flags & CAT_LFREF_ITEM_TOMBSTONE);
	__atomic_store_n(&sl->version, v, __ATOMIC_RELAXED);
	keys_add(sl, is_live - was_live);
	if (old != NULL && !sl->dirty_mode)
		retire_chain(old);
	if (version != NULL)
		*version = v;
}

static int put_new(struct cat_lfref *s, const struct cat_lfref_key *k,
		   const void *value, uint32_t vlen, uint64_t v,
		   uint64_t *version)
{
	struct cat_lfref_item *it = item_alloc(s, k, vlen);

	if (it == NULL)
		return -errno;
	if (vlen)
		memcpy(it->data + k->len, value, vlen);
	publish(s, k, it, v ? v : s->slots[k->slot].version + 1, version);
	return 0;
}

int cat_lfref_put(struct cat_lfref *s, const struct cat_lfref_key *k,
		  const void *value, uint32_t vlen, uint64_t *version)
{
	return put_new(s, k, value, vlen, 0, version);
}

/* Delete the live newest version of k at version v: unlink it in clean
 * mode, cover it with a tombstone in dirty mode. */
static int del_at(struct cat_lfref *s, const struct cat_lfref_key *k,
		  struct cat_lfref_item *cur, uint64_t v)
{
	struct cat_lfref_slot *sl = &s->slots[k->slot];

	if (sl->dirty_mode) {
		struct cat_lfref_item *t = item_alloc(s, k, 0);

		if (t == NULL)
			return -errno;
		t->flags = CAT_LFREF_ITEM_TOMBSTONE;
		publish(s, k, t, v, NULL);
		return 0;
	}
	rcu_read_lock();
	if (unlink_item(sl, cur) == 0)
		retire_chain(cur);
	rcu_read_unlock();
	/* A delete is a write: it takes a slot version so that ordering by
	 * version stays total per slot (the chain protocol relies on it). */
	__atomic_store_n(&sl->version, v, __ATOMIC_RELAXED);
	keys_add(sl, -1);
	return 0;
}

int cat_lfref_del(struct cat_lfref *s, const struct cat_lfref_key *k,
		  uint64_t *version)
{
	struct cat_lfref_item *it;
	uint64_t old_version;
	int ret;

	rcu_read_lock();
	it = live(lookup(s, k));
	rcu_read_unlock();
	if (it == NULL)
		return -ENOENT;
	old_version = it->version;
	ret = del_at(s, k, it, s->slots[k->slot].version + 1);
	if (ret == 0 && version != NULL)
		*version = old_version;
	return ret;
}

int cat_lfref_cas(struct cat_lfref *s, const struct cat_lfref_key *k,
		  uint64_t expect, const void *value, uint32_t vlen,
		  uint64_t *version)
{
	const struct cat_lfref_item *cur;
	uint64_t cur_ver;

	rcu_read_lock();
	cur = live(lookup(s, k));
	cur_ver = cur ? cur->version : 0;
	rcu_read_unlock();
	if (cur_ver != expect) {
		if (version != NULL)
			*version = cur_ver;
		return -ECANCELED;
	}
	return put_new(s, k, value, vlen, 0, version);
}

int cat_lfref_cas_value(struct cat_lfref *s, const struct cat_lfref_key *k,
			const void *expect, uint32_t elen,
			const void *value, uint32_t vlen, uint64_t *version)
{
	const struct cat_lfref_item *cur;
	int same;

	rcu_read_lock();
	cur = live(lookup(s, k));
	if (cur == NULL) {
		rcu_read_unlock();
		return -ENOENT;
	}
	same = cur->value_len == elen &&
	       memcmp(cat_lfref_item_value(cur), expect, elen) == 0;
	if (!same && version != NULL)
		*version = cur->version;
	rcu_read_unlock();
	if (!same)
		return -ECANCELED;
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

int cat_lfref_incr(struct cat_lfref *s, const struct cat_lfref_key *k,
		   int64_t delta, int64_t *result, uint64_t *version)
{
	const struct cat_lfref_item *cur;
	int64_t v = 0, r;
	uint8_t buf[CAT_WIRE_I64_TEXT_MAX];
	uint32_t n;
	int ret = 0;

	rcu_read_lock();
	cur = live(lookup(s, k));
	if (cur != NULL)
		ret = parse_i64(cat_lfref_item_value(cur), cur->value_len, &v);
	rcu_read_unlock();
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

int cat_lfref_slot_foreach(const struct cat_lfref *s, uint32_t slot,
			   int (*fn)(const struct cat_lfref_item *it, void *arg),
			   void *arg)
{
	struct cds_lfht_iter iter;
	struct cat_lfref_item *it;
	int ret = 0;

	if (slot >= s->slot_count)
		return -EINVAL;
	rcu_read_lock();
	slot_for_each_item(s->slots[slot].ht, &iter, it) {
		if (cat_lfref_item_flags(it) & CAT_LFREF_ITEM_TOMBSTONE)
			continue;
		ret = fn(it, arg);
		if (ret != 0)
			break;
	}
	rcu_read_unlock();
	return ret;
}

void cat_lfref_slot_clear(struct cat_lfref *s, uint32_t slot)
{
	struct cat_lfref_slot *sl;
	struct cds_lfht_iter iter;
	struct cat_lfref_item *it;

	if (slot >= s->slot_count)
		return;
	sl = &s->slots[slot];
	rcu_read_lock();
	sl->snap_active = 0;
	sl->snap_cur = NULL;
	slot_for_each_item(sl->ht, &iter, it) {
		if (cds_lfht_del(sl->ht, &it->node) == 0)
			retire_chain(it);
	}
	rcu_read_unlock();
	__atomic_store_n(&sl->keys, 0, __ATOMIC_RELAXED);
}

void cat_lfref_snap_begin(struct cat_lfref *s, uint32_t slot)
{
	struct cat_lfref_slot *sl = &s->slots[slot];
	struct cds_lfht_iter iter;

	rcu_read_lock();
	cds_lfht_first(sl->ht, &iter);
	sl->snap_cur = cds_lfht_iter_get_node(&iter) == NULL ? NULL :
		caa_container_of(cds_lfht_iter_get_node(&iter),
				 struct cat_lfref_item, node);
	sl->snap_active = 1;
	rcu_read_unlock();
}

int cat_lfref_snap_next(struct cat_lfref *s, uint32_t slot,
			const struct cat_lfref_item **out)
{
	struct cat_lfref_slot *sl = &s->slots[slot];
	struct cat_lfref_item *it;

	if (!sl->snap_active)
		return -ENOENT;
	rcu_read_lock();
	do {
		it = sl->snap_cur;
		if (it == NULL)
			break;
		/* Advancing is what snap_skip does for a leaving item. */
		snap_skip(sl, it);
	} while (cat_lfref_item_flags(it) & CAT_LFREF_ITEM_TOMBSTONE);
	rcu_read_unlock();
	if (it == NULL)
		return -ENOENT;
	*out = it;
	return 0;
}

void cat_lfref_snap_end(struct cat_lfref *s, uint32_t slot)
{
	s->slots[slot].snap_active = 0;
	s->slots[slot].snap_cur = NULL;
}

int cat_lfref_apply_snap(struct cat_lfref *s, const struct cat_lfref_key *k,
			 uint64_t version, const void *value, uint32_t vlen)
{
	struct cat_lfref_slot *sl = &s->slots[k->slot];
	uint64_t keep = sl->version;
	int rc = put_new(s, k, value, vlen, version, NULL);

	/* publish set the slot version to the item's: put it back. */
	__atomic_store_n(&sl->version, keep, __ATOMIC_RELAXED);
	return rc;
}

void cat_lfref_slot_set_version(struct cat_lfref *s, uint32_t slot,
				uint64_t version)
{
	if (slot < s->slot_count)
		__atomic_store_n(&s->slots[slot].version, version,
				 __ATOMIC_RELAXED);
}

#define HOLD_SYNC  1
#define HOLD_FENCE 2

/* Owner only: nobody else writes the word, so load and store suffice. */
static void hold_bit(struct cat_lfref *s, uint32_t slot, int bit, int on)
{
	int h;

	if (slot >= s->slot_count)
		return;
	h = __atomic_load_n(&s->slots[slot].hold, __ATOMIC_RELAXED);
	h = on ? h | bit : h & ~bit;
	__atomic_store_n(&s->slots[slot].hold, h, __ATOMIC_RELAXED);
}

void cat_lfref_slot_set_hold(struct cat_lfref *s, uint32_t slot, int on)
{
	hold_bit(s, slot, HOLD_SYNC, on);
}

void cat_lfref_slot_set_fence(struct cat_lfref *s, uint32_t slot, int on)
{
	hold_bit(s, slot, HOLD_FENCE, on);
}

int cat_lfref_slot_held(const struct cat_lfref *s, uint32_t slot)
{
	return slot < s->slot_count &&
	       __atomic_load_n(&s->slots[slot].hold, __ATOMIC_RELAXED);
}

static uint64_t pow2_at_least(uint64_t n)
{
	uint64_t p = CAT_SLOT_MIN_BUCKETS;

	while (p < n)
		p <<= 1;
	return p;
}

unsigned int cat_lfref_maintain(struct cat_lfref *s, unsigned int max_resizes)
{
	unsigned int done = 0;

	/* Round robin from where the last bounded call stopped, so no slot
	 * waits behind a busier one forever. */
	for (uint32_t n = 0; n < s->slot_count; n++) {
		uint32_t i = (s->maint_next + n) & (s->slot_count - 1);
		struct cat_lfref_slot *sl = &s->slots[i];
		uint64_t keys = __atomic_load_n(&sl->keys, __ATOMIC_RELAXED);
		uint64_t b = sl->buckets, target;

		/* A band of 16x between grow and shrink: a slot hovering
		 * around a boundary is not resized back and forth. Two
		 * buckets per key after a resize keeps chains short. */
		if (keys > b)
			target = pow2_at_least(2 * keys);
		else if (b > CAT_SLOT_MIN_BUCKETS && keys < b / 16)
			target = pow2_at_least(2 * keys);
		else
			continue;
		if (target == b)
			continue;
		cds_lfht_resize(sl->ht, (unsigned long)target);
		__atomic_store_n(&sl->buckets, target, __ATOMIC_RELAXED);
		if (++done == max_resizes) {
			s->maint_next = i + 1;
			break;
		}
	}
	return done;
}

uint64_t cat_lfref_slot_buckets(const struct cat_lfref *s, uint32_t slot)
{
	if (slot >= s->slot_count)
		return 0;
	return __atomic_load_n(&s->slots[slot].buckets, __ATOMIC_RELAXED);
}

uint64_t cat_lfref_slot_keys(const struct cat_lfref *s, uint32_t slot)
{
	if (slot >= s->slot_count)
		return 0;
	return __atomic_load_n(&s->slots[slot].keys, __ATOMIC_RELAXED);
}

uint64_t cat_lfref_slot_version(const struct cat_lfref *s, uint32_t slot)
{
	if (slot >= s->slot_count)
		return 0;
	return __atomic_load_n(&s->slots[slot].version, __ATOMIC_RELAXED);
}

uint64_t cat_lfref_mem_used(const struct cat_lfref *s)
{
	return __atomic_load_n(&s->mem_used, __ATOMIC_RELAXED);
}

void cat_lfref_slot_set_dirty_mode(struct cat_lfref *s, uint32_t slot, int on)
{
	if (slot < s->slot_count)
		s->slots[slot].dirty_mode = !!on;
}

int cat_lfref_apply_put(struct cat_lfref *s, const struct cat_lfref_key *k,
			uint64_t version, const void *value, uint32_t vlen)
{
	if (version <= s->slots[k->slot].version)
		return -EINVAL;
	return put_new(s, k, value, vlen, version, NULL);
}

int cat_lfref_apply_del(struct cat_lfref *s, const struct cat_lfref_key *k,
			uint64_t version)
{
	struct cat_lfref_slot *sl = &s->slots[k->slot];
	struct cat_lfref_item *cur;

	if (version <= sl->version)
		return -EINVAL;
	rcu_read_lock();
	cur = live(lookup(s, k));
	rcu_read_unlock();
	if (cur == NULL) {
		__atomic_store_n(&sl->version, version, __ATOMIC_RELAXED);
		return 0;
	}
	return del_at(s, k, cur, version);
}

uint64_t cat_lfref_slot_bump(struct cat_lfref *s, uint32_t slot)
{
	struct cat_lfref_slot *sl = &s->slots[slot];
	uint64_t v = sl->version + 1;

	__atomic_store_n(&sl->version, v, __ATOMIC_RELAXED);
	return v;
}

int cat_lfref_apply_noop(struct cat_lfref *s, uint32_t slot, uint64_t version)
{
	struct cat_lfref_slot *sl;

	if (slot >= s->slot_count)
		return -EINVAL;
	sl = &s->slots[slot];
	if (version <= sl->version)
		return -EINVAL;
	__atomic_store_n(&sl->version, version, __ATOMIC_RELAXED);
	return 0;
}

void cat_lfref_commit(struct cat_lfref *s, const struct cat_lfref_key *k,
		      uint64_t version)
{
	struct cat_lfref_slot *sl = &s->slots[k->slot];
	struct cat_lfref_item *it, *c, *older;

	rcu_read_lock();
	it = lookup(s, k);
	for (c = it; c != NULL && c->version > version; c = c->prev)
		;
	if (c != NULL) {
		__atomic_and_fetch(&c->flags, (uint16_t)~CAT_LFREF_ITEM_DIRTY,
				   __ATOMIC_RELEASE);
		older = c->prev;
		if (older != NULL) {
			/* Readers already walking past c still hold valid
			 * memory until their next quiescent state. */
			__atomic_store_n(&c->prev, NULL, __ATOMIC_RELEASE);
			retire_chain(older);
		}
		if (c == it && (c->flags & CAT_LFREF_ITEM_TOMBSTONE) &&
		    unlink_item(sl, c) == 0)
			retire_chain(c);
	}
	rcu_read_unlock();
}

static int digest_fn(const struct cat_lfref_item *it, void *arg)
{
	uint64_t *sum = arg;
	uint64_t kh = cat_hash_crc32c(cat_lfref_item_key(it), it->key_len);
	uint64_t vh = cat_hash_crc32c(cat_lfref_item_value(it), it->value_len);

	/* A sum of mixed per-item hashes: independent of table order. */
	*sum += cat_hash_mix64((kh << 32 | vh) ^ cat_hash_mix64(it->version ^
			((uint64_t)it->value_len << 48)));
	return 0;
}

uint64_t cat_lfref_slot_digest(const struct cat_lfref *s, uint32_t slot)
{
	uint64_t sum = 0;

	cat_lfref_slot_foreach(s, slot, digest_fn, &sum);
	return sum;
}
