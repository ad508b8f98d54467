/*
 * catena-control's repair (docs/CONTROL.md, "Repair"): which replicas
 * hold a slot differently from their chain, found by verify's digests,
 * and their repair by the state transfer that already restores replicas:
 * the replica leaves the chain (its copy is dropped), then joins it again
 * and gets every slot of the chain from the tail, while the chain serves.
 * Also the background verify that looks for such replicas at an interval
 * and raises an alarm (event, status, metrics) when it finds one.
 */
#ifndef CAT_CTL_REPAIR_H
#define CAT_CTL_REPAIR_H

#include <stddef.h>
#include <stdint.h>

#include "replication/map.h"

#ifdef __cplusplus
extern "C" {
#endif

struct cat_ctl;
struct cat_ctl_conn;
struct cat_ctl_verify;

#define CAT_CTL_REPAIR_MAX 64u  /* replicas queued for repair */

/* A replica to repair: node, in chain, holds slots differing slots. */
struct cat_ctl_fix {
	uint16_t chain, node;
	uint32_t slots;
};

enum cat_ctl_repair_stage {
	CAT_CTL_REPAIR_IDLE,
	CAT_CTL_REPAIR_LEFT,     /* the replica left the chain: it joins next */
	CAT_CTL_REPAIR_JOINING,  /* it copies the chain from the tail */
};

struct cat_ctl_repair {
	/* The repair running, and those queued behind it. */
	enum cat_ctl_repair_stage stage;
	struct cat_ctl_fix cur;
	uint64_t cur_started_ms;
	unsigned int n_queued;
	struct cat_ctl_fix queued[CAT_CTL_REPAIR_MAX];
	uint64_t repaired;         /* replicas repaired since start */
	/* The background verify. */
	uint64_t next_bg_ms;       /* when the next one starts (0: not yet planned) */
	uint64_t bg_runs;          /* finished since start */
	uint64_t bg_last_ms;       /* the last one's end, 0 none */
	uint32_t bg_differ;        /* slots the last one found differing */
	uint32_t bg_slots_checked;
	uint64_t bg_found;         /* runs that found a difference */
	char bg_text[240];         /* what the last one found, for status */
};

/**
 * Which replicas of one complete verify differ, for slots in [first,
 * last]. For each slot, the members that were asked are compared at the
 * version the chain agrees on: the tail's, unless a strict majority of
 * the members holds another digest at the tail's version (then the tail
 * is the odd one). A member at that version with another digest differs;
 * members at other versions are writes in flight and are not judged.
 * Fills out[0..cap) with one entry per (chain, node), returns how many;
 * *n_slots gets the slots with a difference. Pure.
 */
unsigned int cat_ctl_repair_plan(const struct cat_map *m,
				 const struct cat_ctl_verify *v, uint32_t first,
				 uint32_t last, struct cat_ctl_fix *out,
				 unsigned int cap, uint32_t *n_slots,
				 uint32_t *n_checked);

/** A `repair` request: verify slots [first, last], then repair what differs. */
void cat_ctl_repair_start(struct cat_ctl *c, struct cat_ctl_conn *conn,
			  uint32_t first, uint32_t last);
/** A verify for repair or the background finished (conn: who asked, or NULL). */
void cat_ctl_repair_verified(struct cat_ctl *c, const struct cat_ctl_verify *v,
			     struct cat_ctl_conn *conn);
/** One step of the repair running, and the background verify's timer.
 * 1 if the map changed. Call when the policy's ticks changed nothing. */
int cat_ctl_repair_tick(struct cat_ctl *c, uint64_t now_ms);

#ifdef __cplusplus
}
#endif

#endif /* CAT_CTL_REPAIR_H */
