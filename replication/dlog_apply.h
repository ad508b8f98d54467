/*
 * replication/dlog_apply.h: replaying a node's log (replication/dlog.h)
 * into its store at start-up. A record changes the store only if it is
 * newer than what the store holds for its key, so a fuzzy snapshot
 * followed by the writes after it, or a record seen twice, converge on
 * the state the node had. Writer context for every slot: run it before
 * the workers start, on a registered RCU thread.
 */
#ifndef CAT_DLOG_APPLY_H
#define CAT_DLOG_APPLY_H

#include <stdint.h>

#include "replication/dlog.h"
#include "replication/store.h"

/**
 * Apply one record. 0; -ERANGE for a slot outside the store (a log of a
 * map with more slots); -EINVAL for a key that does not hash to its slot
 * (the record is not this cluster's); the store's -ENOSPC or -ENOMEM.
 */
int cat_dlog_apply(struct cat_store *s, const struct cat_dlog_rec *r);

#endif /* CAT_DLOG_APPLY_H */
