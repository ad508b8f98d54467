/*
 * replication/dsnap_walk.h: one step of a snapshot of the store (replication/
 * dsnap.h): a slot's live keys, each at its version, and the slot's version,
 * as log records in a buffer. A reader of the store, not its writer: the
 * snapshot thread calls it online and passes a quiescent state after each
 * slot, so it never holds up a worker or a grace period for longer than
 * one slot's copy. Pure C, no DPDK.
 */
#ifndef CAT_DSNAP_WALK_H
#define CAT_DSNAP_WALK_H

#include <stddef.h>
#include <stdint.h>

#include "replication/store.h"

/** Encoded records, grown as needed (the snapshot thread's own memory,
 * never a worker's). Zero it to start. */
struct cat_dsnap_buf {
	uint8_t *p;
	size_t len;
	size_t cap;
	uint64_t records;
	uint64_t keys;
};

/**
 * Append slot's records to b: a NOOP at the slot's version (when above 0),
 * then a PUT per live key (tombstones skipped) at the version the walk
 * sees. Reader context (a registered, online thread; items are copied, so
 * b stays good after the next quiescent state). 0 or -ENOMEM.
 */
int cat_dsnap_walk_slot(const struct cat_store *s, uint32_t slot,
			struct cat_dsnap_buf *b);

void cat_dsnap_buf_free(struct cat_dsnap_buf *b);

#endif /* CAT_DSNAP_WALK_H */
