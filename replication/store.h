/*
 * catena store: the replicated key-value state of one node, as one
 * cache-conscious RCU slot table per slot (replication/store.c) over
 * per-thread item slabs (replication/store_mem.c).
 *
 * A table per slot, rather than one table keyed by (slot, key), because
 * every slot-level operation the cluster needs -- iterate one slot for a
 * snapshot, move it, drop it, count it, digest it -- then touches only that
 * slot's memory and never walks or locks the rest of the node.
 *
 * A slot table is an array of 64-byte buckets of seven tagged item
 * pointers (16 bits of the key's hash and the pointer in one word, so one
 * store publishes both); a hit costs the bucket's cache line and the
 * item's, whose small header is followed by the key. Values are immutable
 * items: a write builds a new item and publishes it with a single store in
 * the key's entry; the old item is retired and freed after a grace period
 * (batched: one call_rcu per write call, or per burst between
 * cat_store_burst_begin and _end, on a real-time call_rcu thread that
 * polls, so a writer never makes a syscall to wake it).
 *
 * Concurrency contract (the dataplane's single-writer rule):
 *   - Every thread that calls into the store is a registered QSBR thread
 *     (rcu_register_thread) and online while it does.
 *   - Each slot has exactly one writer thread at a time (its owner worker).
 *     Mutating calls on a slot from two threads at once are a bug. Because of
 *     this, CAS and INCR are atomic per slot by construction.
 *   - Readers may run on any thread, concurrently with the writer. A
 *     returned item stays valid until the reader's next quiescent state
 *     (rcu_quiescent_state or rcu_thread_offline).
 *   - A thread's first write to a store gives it the store's real-time
 *     call_rcu thread for its call_rcu calls (set_thread_call_rcu_data),
 *     unless it already had one of its own.
 * Items come from slabs private to the writing thread (2 MiB regions,
 * transparent huge pages where the kernel allows), carved into 8-byte
 * size classes up to 256 bytes; bigger items are malloc'd. A slab region
 * is allocated once per 2 MiB of items, not per write: that, a table of
 * twice the size when a slot grows, and the rare large item are the
 * store's documented allocations, bounded by the memory limit.
 *
 * Tables grow (and shrink) by themselves, on the owner's writes: the owner
 * builds a table of the new size and publishes it with one pointer store
 * (rcu_assign_pointer); readers use either table, each complete, and the
 * old one is freed after a grace period. The owner never waits for a
 * grace period; a growth costs it one pass over the slot's items
 * (amortised: each doubles the table).
 */
#ifndef CAT_STORE_H
#define CAT_STORE_H

#include <stddef.h>
#include <stdint.h>

#include <urcu-qsbr.h>

#ifdef __cplusplus
extern "C" {
#endif

struct cat_store;

/** Item flags (read them with cat_item_flags: commit clears DIRTY). */
#define CAT_ITEM_DIRTY     0x1u /* written at this replica, not yet committed
				 * by the chain tail (chain replication) */
#define CAT_ITEM_TOMBSTONE 0x2u /* a delete not yet committed */
#define CAT_ITEM_PUBLIC_FLAGS (CAT_ITEM_DIRTY | CAT_ITEM_TOMBSTONE)

/**
 * One versioned key-value pair. Key, value and version never change once
 * published. Two fields do, both by the slot's owner only: flags (commit
 * clears DIRTY) and prev, the older versions a dirty item keeps so CRAQ
 * reads can still answer the committed one. The header is 24 bytes and
 * the key follows it, so the lookup's key compare reads the line the
 * header is on; a 16-byte key and 32-byte value make a 72-byte item.
 */
struct cat_item {
	uint16_t key_len;
	uint16_t flags;            /* CAT_ITEM_*, plus store-internal bits */
	uint32_t value_len;
	uint64_t version;          /* slot write sequence at which it was set */
	struct cat_item *prev;     /* next older version, or NULL */
	uint8_t data[];            /* key bytes, then value bytes */
};

static inline unsigned int cat_item_flags(const struct cat_item *it)
{
	return __atomic_load_n(&it->flags, __ATOMIC_ACQUIRE) &
	       CAT_ITEM_PUBLIC_FLAGS;
}

static inline const uint8_t *cat_item_key(const struct cat_item *it)
{
	return it->data;
}

static inline const uint8_t *cat_item_value(const struct cat_item *it)
{
	return it->data + it->key_len;
}

/** A key with its hashes, computed once per request (cat_store_key). */
struct cat_key {
	const void *ptr;
	uint16_t len;
	uint32_t slot;
	uint32_t crc;   /* CRC-32C of the key: the wire-level slot hash */
	uint64_t hash;  /* in-table hash */
};

struct cat_store_params {
	uint32_t slot_count;  /* power of two, 1..65536 */
	uint64_t mem_limit;   /* bytes of items the store may hold; 0 = none */
};

/**
 * Create a store with params->slot_count empty slot tables.
 * Any thread. Returns NULL with errno set (EINVAL for a bad slot count,
 * ENOMEM).
 */
struct cat_store *cat_store_create(const struct cat_store_params *params);

/**
 * Destroy the store and every item in it. Call only when no other thread
 * uses the store any more, from a thread that is not an online QSBR reader
 * (unregistered, or rcu_thread_offline): it waits for pending call_rcu
 * frees with rcu_barrier(), which would otherwise wait on the caller.
 */
void cat_store_destroy(struct cat_store *s);

uint32_t cat_store_slot_count(const struct cat_store *s);

/** Fill *k for key[0..len) (len must be <= 65535). Any thread. */
void cat_store_key(const struct cat_store *s, struct cat_key *k,
		   const void *key, uint16_t len);

/**
 * cat_store_key for a burst: k[i] for key[i][0..len[i]), i < n. One call
 * with the CRC inlined, so the hashes of a burst overlap in the pipeline
 * instead of queueing behind n calls, and each key's home bucket is
 * prefetched as soon as it is hashed: the first stage of the
 * cat_store_get_bulk pipeline, overlapped with the key loads. Any thread.
 */
void cat_store_key_bulk(const struct cat_store *s, struct cat_key k[],
			const void *const key[], const uint16_t len[],
			unsigned int n);

/**
 * Look up k. Reader context (any registered, online thread).
 * Returns 0 and *out on success, -ENOENT if absent (or deleted by a
 * tombstone). *out is the newest version, which may be dirty on a chain
 * replica (check cat_item_flags); it is valid until the caller's next
 * quiescent state.
 */
int cat_store_get(const struct cat_store *s, const struct cat_key *k,
		  const struct cat_item **out);

/**
 * The newest version of k whatever it is (a tombstone too), for a CRAQ
 * replica deciding whether it may answer. Reader context. 0 or -ENOENT.
 */
int cat_store_get_newest(const struct cat_store *s, const struct cat_key *k,
			 const struct cat_item **out);

/**
 * The newest version of k no newer than version: the committed one for a
 * CRAQ read once the tail told which version is committed. Reader context.
 * Returns 0 and *out, or -ENOENT (absent, tombstone, or nothing that old
 * is kept).
 */
int cat_store_get_at(const struct cat_store *s, const struct cat_key *k,
		     uint64_t version, const struct cat_item **out);

/** Most keys one cat_store_get_bulk call takes. */
#define CAT_STORE_BULK_MAX 64u

/**
 * cat_store_get for n keys at once (n <= CAT_STORE_BULK_MAX; more is
 * -EINVAL): out[i] is the newest live version of *keys[i] or NULL. The
 * lookups run as a pipeline over the burst, like rte_hash_lookup_bulk:
 * every key's bucket is prefetched, then every candidate item, then keys
 * are compared, so the burst's cache misses overlap instead of queueing.
 * Reader context (any registered, online thread); the items are valid
 * until the caller's next quiescent state. Returns the number of hits.
 */
int cat_store_get_bulk(const struct cat_store *s,
		       const struct cat_key *const keys[], unsigned int n,
		       const struct cat_item *out[]);

/**
 * Bracket a burst of writes by the calling thread: items its writes
 * retire between the two are handed to call_rcu in batches (one per
 * burst or per 27 items), not one batch per write call. Writer context;
 * not nested. Outside a burst every write call hands its retired items on
 * before it returns, so rcu_barrier() then frees them.
 */
void cat_store_burst_begin(struct cat_store *s);
void cat_store_burst_end(struct cat_store *s);

/*
 * Chain replication support. A slot in dirty mode (this node replicates it
 * on a chain and is not its tail) keeps every write as a dirty version on
 * top of the older ones, and a delete as a tombstone, until
 * cat_store_commit says the tail has it. In clean mode (the default; a chain
 * of one, or the tail) writes replace and free the old version at once.
 * All of these are writer context (the slot's owner).
 */

/** Switch a slot's mode. Commit everything first when leaving dirty mode. */
void cat_store_slot_set_dirty_mode(struct cat_store *s, uint32_t slot, int on);

/**
 * Apply a write ordered by the chain head: set k to value at exactly
 * version, which must be above the slot's version (which becomes version).
 * Returns 0, -EINVAL (version not above the slot's), -ENOSPC, -ENOMEM.
 */
int cat_store_apply_put(struct cat_store *s, const struct cat_key *k,
			uint64_t version, const void *value, uint32_t vlen);

/** Apply an ordered delete at version (absent keys just take the version). */
int cat_store_apply_del(struct cat_store *s, const struct cat_key *k,
			uint64_t version);

/**
 * Take the slot's next version for a write that changes nothing (a failed
 * CAS still occupies a place in the chain's order) and return it.
 */
uint64_t cat_store_slot_bump(struct cat_store *s, uint32_t slot);

/** Apply such a no-op at a replica: the slot's version becomes version. */
int cat_store_apply_noop(struct cat_store *s, uint32_t slot, uint64_t version);

/**
 * Versions of k up to version are committed: the newest of them turns
 * clean, older ones are freed after a grace period, a committed tombstone
 * leaves the table. Newer (dirty) versions stay.
 */
void cat_store_commit(struct cat_store *s, const struct cat_key *k,
		      uint64_t version);

/**
 * Order-independent digest of a slot's live contents (key, value, version
 * of the newest version of every key): equal on replicas that hold the same
 * data. Reader context.
 */
uint64_t cat_store_slot_digest(const struct cat_store *s, uint32_t slot);

/**
 * Set k to value[0..vlen). Writer context (owner of k->slot).
 * Returns 0 with *version set to the new version, -ENOSPC when the memory
 * limit would be exceeded, -ENOMEM when allocation fails.
 */
int cat_store_put(struct cat_store *s, const struct cat_key *k,
		  const void *value, uint32_t vlen, uint64_t *version);

/**
 * Delete k. Writer context. Returns 0 (and the deleted item's version in
 * *version if non-NULL) or -ENOENT.
 */
int cat_store_del(struct cat_store *s, const struct cat_key *k,
		  uint64_t *version);

/**
 * Compare-and-set by version: set k to value only if its current version is
 * expect (expect == 0: only if k is absent). Writer context.
 * Returns 0 with the new version in *version; -ECANCELED on mismatch with
 * the current version in *version (0 if absent); -ENOSPC, -ENOMEM.
 */
int cat_store_cas(struct cat_store *s, const struct cat_key *k,
		  uint64_t expect, const void *value, uint32_t vlen,
		  uint64_t *version);

/**
 * Compare-and-set by value: set k to value only if its current value equals
 * expect[0..elen). Writer context. Returns 0 with the new version;
 * -ENOENT if k is absent; -ECANCELED on mismatch (current version in
 * *version); -ENOSPC, -ENOMEM.
 */
int cat_store_cas_value(struct cat_store *s, const struct cat_key *k,
			const void *expect, uint32_t elen,
			const void *value, uint32_t vlen, uint64_t *version);

/**
 * Add delta to the decimal int64 stored at k (absent counts as 0) and store
 * the result as decimal text. Writer context. Returns 0 with *result and
 * *version; -EDOM if the value is not a decimal int64; -ERANGE on overflow;
 * -ENOSPC, -ENOMEM.
 */
int cat_store_incr(struct cat_store *s, const struct cat_key *k,
		   int64_t delta, int64_t *result, uint64_t *version);

/**
 * Call fn for the newest version of every key of a slot (tombstones
 * skipped), in table order, until fn returns non-zero (which is then
 * returned). Reader context; sees a consistent item for every key present
 * throughout, may or may not see concurrent changes.
 */
int cat_store_slot_foreach(const struct cat_store *s, uint32_t slot,
			   int (*fn)(const struct cat_item *it, void *arg),
			   void *arg);

/** Remove every item of a slot. Writer context (owner of slot). */
void cat_store_slot_clear(struct cat_store *s, uint32_t slot);

/*
 * Slot snapshots for state transfer: a cursor over one slot's table that
 * survives the owner's quiescent states and its own writes, so a snapshot
 * is sent a few items per poll iteration while the slot keeps serving (no
 * pause, no copy of the slot). The cursor names the next item to send;
 * the store moves it when the owner replaces that item (to the new
 * version, at the same place in the table) or removes it (to the next
 * item), so it never points at freed memory. Items added behind the cursor
 * are not visited: the caller replays every write after the snapshot's
 * start, which covers them. One snapshot per slot at a time. All three are
 * writer context (the slot's owner).
 */

/** Put the slot's cursor on its first item. */
void cat_store_snap_begin(struct cat_store *s, uint32_t slot);

/**
 * The item under the cursor (tombstones skipped), then advance past it.
 * Returns 0 and *out (valid until the caller's next quiescent state), or
 * -ENOENT when the walk is done (or no snapshot is running).
 */
int cat_store_snap_next(struct cat_store *s, uint32_t slot,
			const struct cat_item **out);

/** Stop the slot's snapshot (done or abandoned). */
void cat_store_snap_end(struct cat_store *s, uint32_t slot);

/**
 * Install a snapshot item at a joining replica: k set to value at
 * version, whatever the slot's version (the snapshot is fuzzy; the writes
 * replayed after it restore the order). Writer context. 0, -ENOSPC,
 * -ENOMEM.
 */
int cat_store_apply_snap(struct cat_store *s, const struct cat_key *k,
			 uint64_t version, const void *value, uint32_t vlen);

/** Set a slot's version (a replica whose snapshot ends at version). */
void cat_store_slot_set_version(struct cat_store *s, uint32_t slot,
				uint64_t version);

/*
 * Hold: a slot whose replica must not answer reads yet, for either of two
 * reasons kept apart: a new tail still catching up to what its predecessor
 * committed (hold), or a new tail waiting out the read leases of a member
 * that left (fence, replication/lease.h). Set and cleared by the slot's
 * owner; read by every worker on the read path (relaxed: the flags only
 * gate answers, they guard no memory). Held while either is on.
 */
void cat_store_slot_set_hold(struct cat_store *s, uint32_t slot, int on);
void cat_store_slot_set_fence(struct cat_store *s, uint32_t slot, int on);
int cat_store_slot_held(const struct cat_store *s, uint32_t slot);

/**
 * Kept for callers of the cds_lfht store, which resized tables only here:
 * slot tables now resize themselves on their owner's writes (see the head
 * of this file), so there is nothing left for a control thread to do.
 * Any thread. Returns 0 (tables resized by this call).
 */
unsigned int cat_store_maintain(struct cat_store *s, unsigned int max_resizes);

/** Buckets (of 7 entries) of a slot's current table; 0 while the slot has
 * never held an item or was cleared. Any thread (relaxed). */
uint64_t cat_store_slot_buckets(const struct cat_store *s, uint32_t slot);

/** Keys in a slot (relaxed read of the owner's counter). Any thread. */
uint64_t cat_store_slot_keys(const struct cat_store *s, uint32_t slot);

/** Last version assigned in a slot. Any thread (relaxed). */
uint64_t cat_store_slot_version(const struct cat_store *s, uint32_t slot);

/**
 * Bytes of items the store holds (cat_store_item_size of each): those in
 * the tables and those unlinked but still awaiting their grace period. An
 * item leaves the count only when call_rcu frees it, so the memory limit
 * bounds real memory even while a slow reader holds a grace period back.
 * Writers account per thread and reserve budget from the limit in chunks
 * (at most 1/64 of the limit, at most 256 KiB), so with several writer
 * threads a write may be refused while up to a chunk per thread is still
 * unused. Any thread; sums the writer threads' counters.
 */
uint64_t cat_store_mem_used(const struct cat_store *s);

/** Size in bytes that an item of this key and value occupies (its slab
 * size class: the 24-byte header, key and value, rounded up to 8). */
size_t cat_store_item_size(uint32_t klen, uint32_t vlen);

#ifdef __cplusplus
}
#endif

#endif /* CAT_STORE_H */
