/*
 * catena-control planner: the map changes the control plane makes (remove a
 * node from its chains, forget it, add a spare), each a pure function from
 * one struct cat_map to the next epoch's, plus validation and a one-line
 * description of what changed. No I/O, no clock, no printing, no globals.
 */
#ifndef CAT_CTL_PLANNER_H
#define CAT_CTL_PLANNER_H

#include <stddef.h>
#include <stdint.h>

#include "replication/map.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Longest canonical map text the control plane publishes: a "map" line of
 * the node channel ({"type":"map","epoch":E,"text":"..."} with every LF
 * escaped as two bytes) must stay within the channel's 65536-byte line.
 */
#define CAT_CTL_MAP_TEXT_MAX 60000u

/** Slots assigned to the chain at index ci of m->chains. */
uint32_t cat_ctl_plan_slots_on(const struct cat_map *m, int ci);

/** Index in m->chains of the chain with this id, or -1. */
int cat_ctl_plan_chain_index(const struct cat_map *m, uint16_t chain);

/** What cat_ctl_plan_remove did, for the event log (chain ids). */
struct cat_ctl_removal {
	uint16_t n_left;                       /* chains the node left */
	uint16_t left[CAT_MAP_CHAINS_MAX];
	uint16_t n_kept;                       /* chains it is the last member of */
	uint16_t kept[CAT_MAP_CHAINS_MAX];
};

/**
 * Remove node from every chain of m, keeping the order of the others (a
 * head's successor becomes head, a tail's predecessor tail, a middle
 * node's neighbours are joined). A chain whose only member is the node
 * keeps it (never emptied) and is listed in r->kept. On a change returns 0
 * and *out (epoch m->epoch + 1, canonical: it went through format and
 * parse; free with cat_map_free). If the node left no chain (it was in
 * none, or only in chains it alone forms) returns 0 with *out NULL.
 * -ENOENT: no such node; -EOVERFLOW: epoch at its maximum; -ENOMEM;
 * -EINVAL with err if the result does not validate.
 */
int cat_ctl_plan_remove(const struct cat_map *m, uint16_t node,
			struct cat_map **out, struct cat_ctl_removal *r,
			char *err, size_t errlen);

/**
 * Make node the joining node of chain (docs/CLUSTER_MAP.md, "join"): the
 * chain's tail streams its slots to it. Returns 0 and *out at epoch + 1;
 * -ENOENT (no such chain or node), -EEXIST (already a member), -EBUSY
 * (the chain has a joiner already, or is full), -EOVERFLOW, -ENOMEM,
 * -EINVAL; err says which.
 */
int cat_ctl_plan_join(const struct cat_map *m, uint16_t chain, uint16_t node,
		      struct cat_map **out, char *err, size_t errlen);

/**
 * The joiner of chain becomes its tail (its state transfer is complete:
 * the caller checked the old tail's report). 0 and *out, -ENOENT (no
 * joiner), -EOVERFLOW, -ENOMEM, -EINVAL.
 */
int cat_ctl_plan_handover(const struct cat_map *m, uint16_t chain,
			  struct cat_map **out, char *err, size_t errlen);

/**
 * Drop node from m's node list (the node must be in no chain: -EBUSY).
 * Returns 0 and *out at epoch + 1; -ENOENT, -EOVERFLOW, -ENOMEM, -EINVAL
 * as cat_ctl_plan_remove.
 */
int cat_ctl_plan_forget(const struct cat_map *m, uint16_t node,
			struct cat_map **out, char *err, size_t errlen);

/**
 * Add nd as a spare (in no chain). -EEXIST if its id is taken, -ENOSPC at
 * CAT_MAP_NODES_MAX nodes, -EINVAL with err when the parser refuses the
 * result (e.g. an address another node has), -EOVERFLOW, -ENOMEM.
 */
int cat_ctl_plan_add(const struct cat_map *m, const struct cat_map_node *nd,
		     struct cat_map **out, char *err, size_t errlen);

/**
 * Parse one node from operator input: id, dotted-quad ip, port (0 means
 * the default 7470) and mac (NULL or "" for unknown), checked by the map
 * parser's own rules (docs/CLUSTER_MAP.md). Returns 0 and *nd, or -EINVAL
 * with a one-line reason in err.
 */
int cat_ctl_plan_node(uint16_t id, const char *ip, uint32_t port,
		      const char *mac, struct cat_map_node *nd, char *err,
		      size_t errlen);

/**
 * Check that next may follow cur (cur NULL: next is the first map): its
 * epoch is cur's + 1, it survives format then parse unchanged, and its
 * canonical text is at most CAT_CTL_MAP_TEXT_MAX bytes. Returns 0, or
 * -EINVAL with a one-line reason in err.
 */
int cat_ctl_plan_validate(const struct cat_map *cur,
			  const struct cat_map *next, char *err,
			  size_t errlen);

/**
 * Describe what changed from a to b in one line ("chain 1: 1 2 3 -> 2 3;
 * node 4 added"; "no change"). Writes at most cap bytes including the
 * NUL (truncating); returns the length it wanted, like snprintf.
 */
int cat_ctl_plan_describe(const struct cat_map *a, const struct cat_map *b,
			  char *buf, size_t cap);

/*
 * Slot moves (live resharding, docs/CONTROL.md "Moving slots"). A move
 * puts its slots on a transitional chain that starts as a copy of the
 * source chain (a "move VIA TO FROM" line) and is reshaped one epoch at a
 * time into a copy of the target: nodes the target has join at the tail
 * by state transfer, nodes it has not leave. When the two are equal, the
 * slots are assigned to the target and the transitional chain goes. At
 * every epoch each moving slot has exactly one chain.
 */

/** Add chain with nodes[0..n) (head first) and no slots. -EEXIST, -EINVAL,
 * -ENOENT (unknown node), -ENOSPC, -EOVERFLOW, -ENOMEM. */
int cat_ctl_plan_chain_add(const struct cat_map *m, uint16_t chain,
			   const uint16_t *nodes, unsigned int n,
			   struct cat_map **out, char *err, size_t errlen);

/**
 * Start moving the slots s with slots[s] != 0 (all on one ordinary chain)
 * to chain `to`, through a new transitional chain with id `via`.
 * -ENOENT, -EEXIST (via taken), -EBUSY (already moving), -EINVAL, -ENOSPC.
 */
int cat_ctl_plan_move_start(const struct cat_map *m, const uint8_t *slots,
			    uint16_t to, uint16_t via, struct cat_map **out,
			    char *err, size_t errlen);

enum cat_ctl_move_step {
	CAT_CTL_MOVE_NONE,   /* via is no move in progress */
	CAT_CTL_MOVE_WAIT,   /* a join runs: wait for its hand-over */
	CAT_CTL_MOVE_JOIN,   /* *node joins via (cat_ctl_plan_join) */
	CAT_CTL_MOVE_REMOVE, /* *node leaves via (cat_ctl_plan_chain_drop_node) */
	CAT_CTL_MOVE_FINISH, /* via equals the target: cat_ctl_plan_move_finish */
};

/** The next step of the move through chain via. Pure. */
enum cat_ctl_move_step cat_ctl_plan_move_next(const struct cat_map *m,
					      uint16_t via, uint16_t *node);

/**
 * Make node the one member of chain, in place of the member it has (a
 * chain that lost every replica, rebuilt from node's log: rebuild.h).
 * Its joiner, if any, is dropped (it had no tail to stream from). -EBUSY
 * if the chain has more than one member, -ENOENT for an unknown chain or
 * node.
 */
int cat_ctl_plan_chain_rebuild(const struct cat_map *m, uint16_t chain,
			       uint16_t node, struct cat_map **out, char *err,
			       size_t errlen);

/** Take node out of one chain only (never its last member: -EBUSY). */
int cat_ctl_plan_chain_drop_node(const struct cat_map *m, uint16_t chain,
				 uint16_t node, struct cat_map **out, char *err,
				 size_t errlen);

/** The move through via is done: its slots go to the target chain and the
 * transitional chain is dropped. */
int cat_ctl_plan_move_finish(const struct cat_map *m, uint16_t via,
			     struct cat_map **out, char *err, size_t errlen);

/** Cancel: the move through via heads back to its source chain (a join in
 * progress is dropped). Steps then run as for any move. */
int cat_ctl_plan_move_reverse(const struct cat_map *m, uint16_t via,
			      struct cat_map **out, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif

#endif /* CAT_CTL_PLANNER_H */
