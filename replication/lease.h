/*
 * Read leases: a replica under catena-control answers reads at epoch E only
 * while it has recently heard, at E, from every other member of the slot's
 * chain (their PINGs, every CAT_LEASE_PING_NS). A node cut off from the
 * others (a partition, a lost control channel) may have been taken out of
 * the chain at E+1 without knowing it; once its lease runs out it answers
 * RETRY instead of a value the new chain may already have overwritten. The
 * other half is the fence of the chain engine (replication/chain.c): a node
 * that becomes the tail because a member that answered reads left commits
 * nothing until every lease that member could still hold has expired.
 *
 * One table per node, shared by its workers: any worker that receives a
 * PING writes the sender's word (a relaxed 64-bit store), any worker that
 * serves a read loads the words of the chain's members. No locks, no
 * allocation after cat_lease_init. Sans-I/O: the caller passes the time.
 */
#ifndef CAT_LEASE_H
#define CAT_LEASE_H

#include <stdint.h>

#include "replication/map.h"

/* Peers PING each other this often (dataplane/worker.c). */
#define CAT_LEASE_PING_NS (50ull * 1000 * 1000)
/* A lease lasts three PING intervals from the last PING received: two
 * lost PINGs in a row do not stop reads. */
#define CAT_LEASE_NS (3 * CAT_LEASE_PING_NS)
/*
 * A new tail's fence: the lease, plus what a PING sent just before our
 * epoch change may still take to arrive (one-way delay, and another
 * worker of ours that installs the map a loop iteration later than this
 * one).
 */
#define CAT_LEASE_FENCE_NS (CAT_LEASE_NS + CAT_LEASE_PING_NS)

struct cat_lease {
	/* Per map node index: epoch << 32 | time of the last PING at that
	 * epoch, in units of 2^20 ns (about 1 ms; 32 bits wrap after about
	 * 52 days, which a difference below the lease survives). */
	uint64_t word[CAT_MAP_NODES_MAX];
};

void cat_lease_init(struct cat_lease *l);

/**
 * A PING at epoch from map node id arrived at now (ns). Only one at map's
 * own epoch renews anything: a sender ahead of us may have left us out of
 * its chains, one behind has not seen the map we read by.
 */
void cat_lease_heard(struct cat_lease *l, const struct cat_map *map,
		     uint16_t id, uint32_t epoch, uint64_t now);

/**
 * 1 if this node (self) may answer a read of a slot of chain c at map's
 * epoch: it heard every other member of c at that epoch within
 * CAT_LEASE_NS before now. A chain of one needs nobody.
 */
int cat_lease_valid(const struct cat_lease *l, const struct cat_map *map,
		    const struct cat_map_chain *c, uint16_t self, uint64_t now);

#endif
