/*
 * catena store memory (store-internal, used by replication/store.c only):
 * per-writer-thread item slabs, memory accounting against the store's
 * limit without a shared atomic per write, and retirement of unlinked
 * items in batches through a real-time call_rcu thread. Runs on worker
 * lcores: no syscall per write (a slab region is mapped once per 2 MiB of
 * items), no lock, nothing a reader touches.
 */
#ifndef CAT_STORE_MEM_H
#define CAT_STORE_MEM_H

#include <stddef.h>
#include <stdint.h>

#include <urcu-qsbr.h>

#include "replication/store.h"

#define CAT_SMEM_LINE 64

/*
 * Sanitizers cannot see a grace period (liburcu is not instrumented), and
 * a slab that hands a freed item's memory straight back to its writer
 * would hide from ASan the use after free it exists to catch, and show
 * TSan a race where there is a grace period: in sanitizer builds every
 * item is malloc'd and freed, as the cds_lfht store did.
 */
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define CAT_SMEM_SLABS 0
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer)
#define CAT_SMEM_SLABS 0
#endif
#endif
#ifndef CAT_SMEM_SLABS
#define CAT_SMEM_SLABS 1
#endif

/* Items up to this size come from slabs, in 8-byte classes. */
#define CAT_SMEM_SMALL_MAX 256u
#define CAT_SMEM_CLASSES (CAT_SMEM_SMALL_MAX / 8u + 1u)
/* Items one retire batch carries (the batch itself is 256 bytes). */
#define CAT_SMEM_BATCH 27u

struct cat_smem;
struct cat_smem_rec;

/* A group of retired items freed together after one grace period. */
struct cat_smem_batch {
	struct rcu_head rcu;
	struct cat_smem_rec *rec;
	struct cat_smem_batch *next;   /* on the owner's returned list */
	uint32_t n;
	uint32_t bytes;        /* accounted size of the items */
	/* Slab items as they are, large (malloc'd) ones with bit 0 set. */
	struct cat_item *items[CAT_SMEM_BATCH];
};

/*
 * One writer thread's state in one store: slab free lists, its share of
 * the memory budget and its open retire batch. Written by that thread
 * only, except returned (pushed by the call_rcu thread) and avail (read
 * by cat_store_mem_used). Lives in the first slab of its first region.
 */
struct cat_smem_rec {
	struct cat_smem *m;
	struct cat_smem_rec *next;     /* the store's list of writers */
	uint64_t thread;               /* pthread_self() of its writer */
	uint64_t avail;                /* reserved from the limit, unused */
	int burst;                     /* inside cat_store_burst_begin */
	struct cat_smem_batch *batch;  /* open retire batch, or NULL */
	void *region;                  /* newest region (list via slab hdr) */
	char *carve, *carve_end;       /* unused slabs of the newest region */
	struct {
		void *free;            /* chunks freed back to this thread */
		char *bump, *end;      /* carve point of the class's slab */
	} cls[CAT_SMEM_CLASSES];
	/* Batches past their grace period, for the owner to take back. */
	struct cat_smem_batch *returned __attribute__((aligned(CAT_SMEM_LINE)));
} __attribute__((aligned(CAT_SMEM_LINE)));

/* Embedded in struct cat_store. */
struct cat_smem {
	uint64_t limit;                 /* 0: none */
	uint64_t chunk;                 /* reservation granularity */
	uint64_t gen;                   /* tells stores at one address apart */
	struct cat_smem_rec *recs;      /* pushed with CAS, freed at fini */
	/* Bytes handed to writers' avail (their charge plus their unused
	 * reservation); touched once per chunk, not per write. */
	uint64_t reserved __attribute__((aligned(CAT_SMEM_LINE)));
	/* Bytes freed after grace periods: the call_rcu thread's counter. */
	uint64_t freed __attribute__((aligned(CAT_SMEM_LINE)));
};

/** Size class of an item (bytes actually taken). */
size_t cat_smem_item_size(uint32_t klen, uint32_t vlen);

void cat_smem_init(struct cat_smem *m, uint64_t limit);

/** Free every region, record and large item left (the store is dead and
 * rcu_barrier has run). Items still in tables are freed by the caller
 * with cat_smem_free_now first. */
void cat_smem_fini(struct cat_smem *m);

/** The calling thread's record, made on its first write (NULL: ENOMEM). */
struct cat_smem_rec *cat_smem_rec(struct cat_smem *m);

/**
 * Charge and allocate an item of sz bytes (cat_smem_item_size).
 * NULL with *err = -ENOSPC (over the limit) or -ENOMEM.
 */
struct cat_item *cat_smem_alloc(struct cat_smem_rec *r, size_t sz, int *err);

/** Give back an item that was never published (no grace period). */
void cat_smem_unalloc(struct cat_smem_rec *r, struct cat_item *it);

/** Retire an unlinked item: freed after a grace period. Never fails (on
 * out of memory for a batch it waits for one grace period itself). */
void cat_smem_retire(struct cat_smem_rec *r, struct cat_item *it);

/** End of a write call: hand the open batch to call_rcu unless in a burst. */
void cat_smem_done(struct cat_smem_rec *r);

void cat_smem_burst(struct cat_smem_rec *r, int on);

/** Free an unlinked item after a grace period the caller waited for. */
void cat_smem_free_unlinked(struct cat_smem *m, struct cat_item *it);

/** Free an item at once (store teardown only). */
void cat_smem_free_now(struct cat_item *it);

/** Bytes charged and not yet freed. */
uint64_t cat_smem_used(const struct cat_smem *m);

#endif /* CAT_STORE_MEM_H */
