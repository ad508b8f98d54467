/*
 * Live resharding (control/reshard.c): the steps of slot moves (the
 * policy's, control/policy.h), a rebalance's queue, and the operator's
 * reshard_* and chain_add requests.
 */
#ifndef CAT_CTL_RESHARD_H
#define CAT_CTL_RESHARD_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "control/ctl.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * One step of the slot moves in progress, or the start of the next
 * queued one. Returns 1 if the map changed. Call when cat_ctl_rejoin_tick
 * changed nothing.
 */
int cat_ctl_reshard_tick(struct cat_ctl *c, uint64_t now_ms);

/*
 * After the store was loaded: the operator's resharding settings are the
 * store's (c->store.reshard: paused, the transfer rate); a rebalance's
 * queue is dropped and planned again from the map by the next tick.
 */
void cat_ctl_reshard_restore(struct cat_ctl *c);

/**
 * A reshard_* or chain_add request of the management socket: its result
 * object, or NULL with err set (nothing changed).
 */
json_t *cat_ctl_reshard_request(struct cat_ctl *c, const char *cmd,
				json_t *req, char *err, size_t errlen);

/** A join into the transitional chain via was handed over after copying
 * keys and bytes: count them for the move's totals. */
void cat_ctl_reshard_joined(struct cat_ctl *c, uint16_t via, uint64_t keys,
			    uint64_t bytes);

#ifdef __cplusplus
}
#endif

#endif /* CAT_CTL_RESHARD_H */
