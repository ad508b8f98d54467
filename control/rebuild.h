/*
 * Rebuilding a chain that lost every replica (control/rebuild.c), for
 * nodes with `durability = log`: when the member catena-control kept in
 * such a chain comes back, it gets no map yet; catena-control waits until
 * every node has said what its log holds (the "durable" lines after its
 * hello) or [control] rebuild_wait_ms passed, then lets the chain go on
 * from the node whose log goes furthest (control/policy.h) and the others
 * rejoin it by state transfer, which drops what they hold beyond it.
 */
#ifndef CAT_CTL_REBUILD_H
#define CAT_CTL_REBUILD_H

#include <stdint.h>

#include "control/ctl.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * Node n (with a log) came back while it is the one member left of some
 * chains: they wait to be rebuilt, and n gets no map until they are.
 * Returns how many chains now wait on it.
 */
unsigned int cat_ctl_rebuild_hold(struct cat_ctl *c, struct cat_ctl_node *n,
				  uint64_t now_ms);

/** Whether node id is held: the one member of a chain waiting to be rebuilt. */
int cat_ctl_rebuild_held(const struct cat_ctl *c, uint16_t id);

/** By chain index of c->map: 1 where the chain waits to be rebuilt. */
void cat_ctl_rebuild_flags(const struct cat_ctl *c, uint8_t *by_index);

/**
 * Decide the chains whose wait is over (every node reported, or
 * rebuild_wait_ms passed): keep the chain on its member, or commit one
 * epoch that rebuilds it from a node whose log goes further. Called every
 * loop round; 1 if it changed the map.
 */
int cat_ctl_rebuild_tick(struct cat_ctl *c, uint64_t now_ms);

/**
 * One "durable" line of node n: versions of slots from..from+len-1, the
 * last one with end. 0, or -EINVAL with why (a line out of order, or
 * versions for slots the map does not have).
 */
int cat_ctl_rebuild_report(struct cat_ctl *c, struct cat_ctl_node *n,
			   uint32_t from, const uint64_t *ver, uint32_t len,
			   int end, char *why, size_t whylen);

#ifdef __cplusplus
}
#endif

#endif /* CAT_CTL_REBUILD_H */
