/*
 * Replication restore (control/rejoin.c): commits the policy's hand-overs
 * and restores (control/policy.h) and keeps their clocks.
 */
#ifndef CAT_CTL_REJOIN_H
#define CAT_CTL_REJOIN_H

#include <stdint.h>

#include "control/ctl.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Hand a chain over to its joiner once its tail reports every slot caught
 * up, and, with restore_replicas, give each chain shorter than the
 * replication factor a joiner from the live nodes outside it. Called
 * every loop iteration; at most one map change per call (1 if one).
 */
int cat_ctl_rejoin_tick(struct cat_ctl *c, uint64_t now_ms);

/*
 * The replication factor to restore: [control] replication_factor, or
 * (0) the longest chain of the map catena-control starts with. Call once
 * the map is loaded and before any node is heard: a node found restarted
 * shortens its chains, and a factor taken after that would leave them
 * short for good.
 */
void cat_ctl_rejoin_init(struct cat_ctl *c);

#ifdef __cplusplus
}
#endif

#endif /* CAT_CTL_REJOIN_H */
