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

/**
 * A move's time left in seconds: copied of to_copy bytes went in
 * elapsed_s seconds, the rest goes at that pace. 0 once nothing is left
 * to copy; negative when the pace is not known yet (nothing copied).
 * Pure: `reshard status` gives it as eta_s.
 */
double cat_ctl_reshard_eta(uint64_t copied, uint64_t to_copy, double elapsed_s);

/**
 * The bytes a move copies in all: one copy of its slots per node that
 * joins (joins_done done, joins_left still to come, the running one
 * among them). One copy's size is what the finished joins copied on
 * average (done_bytes over joins_done), else the running join's bytes
 * scaled up by its share of slots caught up (cur_bytes over caught_up of
 * chain_slots). 0: not known yet.
 */
uint64_t cat_ctl_reshard_to_copy(uint32_t joins_done, unsigned int joins_left,
				 uint64_t done_bytes, uint64_t cur_bytes,
				 uint32_t caught_up, uint32_t chain_slots);

#endif /* CAT_CTL_RESHARD_H */
