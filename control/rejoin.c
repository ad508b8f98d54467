/*
 * catena-control replication restore: a chain short of replicas gets a
 * joining node (a live node outside it), the chain's tail streams it the
 * chain's slots (replication/chain_xfer.c), and once the tail reports every
 * slot caught up, one epoch makes the joiner the new tail. The decisions
 * are the policy's (control/policy.h); this commits them through
 * cat_ctl_commit like every other map change and keeps their clocks. Runs on the
 * control plane's one thread; never blocks.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "control/policy.h"
#include "control/rejoin.h"
#include "control/reshard.h"

/* Commit the policy's step: a hand-over ends a join, a restore starts
 * one (and its clock, for the hand-over's line). */
static int apply(struct cat_ctl *c, struct cat_ctl_step *st, uint64_t now_ms)
{
	int ci = cat_ctl_plan_chain_index(c->map, st->chain);
	char reason[200];
	struct cat_ctl_node *n;
	double secs;

	if (ci < 0) {
		cat_map_free(st->next);
		return 0;
	}
	if (st->kind == CAT_CTL_STEP_HANDOVER) {
		secs = c->join_started_ms[ci] ?
		       (double)(now_ms - c->join_started_ms[ci]) / 1000.0 : 0.0;
		snprintf(reason, sizeof(reason),
			 "chain %u: node %u caught up (%llu keys, %llu bytes in %.1f s), now its tail",
			 st->chain, st->node, (unsigned long long)st->keys,
			 (unsigned long long)st->bytes, secs);
	} else {
		snprintf(reason, sizeof(reason),
			 "chain %u has %u of %u replicas: node %u joins it (state transfer from its tail, node %u)",
			 st->chain, st->len, c->rf, st->node, st->tail);
	}
	if (cat_ctl_commit_or_say(c, st->next, reason) < 0)
		return 1;
	if (st->kind == CAT_CTL_STEP_HANDOVER) {
		c->join_started_ms[ci] = 0;
		if (st->was_move)
			cat_ctl_reshard_joined(c, st->chain, st->keys, st->bytes);
		return 1;
	}
	c->join_started_ms[ci] = now_ms;
	n = cat_ctl_node(c, st->node); /* the table was rebuilt */
	if (n != NULL && n->state == CAT_CTL_NODE_RETURNED)
		n->state = CAT_CTL_NODE_UP;
	return 1;
}

void cat_ctl_rejoin_init(struct cat_ctl *c)
{
	uint32_t longest = 0;

	if (c->map == NULL || c->rf != 0)
		return;
	for (uint16_t ci = 0; ci < c->map->n_chains; ci++)
		if (c->map->chains[ci].len > longest)
			longest = c->map->chains[ci].len;
	c->rf = c->cfg.replication_factor ? c->cfg.replication_factor :
		longest;
}

int cat_ctl_rejoin_tick(struct cat_ctl *c, uint64_t now_ms)
{
	struct cat_ctl_pnode nodes[CAT_MAP_NODES_MAX];
	struct cat_ctl_view v;
	struct cat_ctl_step st;

	if (c->map == NULL)
		return 0;
	cat_ctl_rejoin_init(c);
	cat_ctl_view(c, now_ms, &v, nodes);
	if (cat_ctl_policy_rejoin(&v, &st) <= 0)
		return 0;
	return apply(c, &st, now_ms);
}
