/*
 * catena-control: rebuilding a chain that lost every replica from the
 * most advanced durable log (control/rebuild.h, docs/DURABILITY.md
 * "After a power cut"). Failure handling never empties a chain: it keeps
 * the last member it had. Without logs that member comes back empty and
 * the data is gone anyway; with logs it comes back with what its disk
 * kept, which may be less than another member's (a lost disk, a power cut
 * before its last sync). So the kept member gets no map until the other
 * nodes have said what they hold, and the chain goes on from the one that
 * holds the most. The choice is the policy's; this keeps the waits and
 * commits it. Runs on the control plane's one thread; never blocks.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/planner.h"
#include "control/policy.h"
#include "control/rebuild.h"

static int entry_of(const struct cat_ctl *c, uint16_t chain)
{
	for (uint16_t i = 0; i < c->n_rebuild; i++)
		if (c->rebuild_chain[i] == chain)
			return i;
	return -1;
}

static void drop_entry(struct cat_ctl *c, int i)
{
	c->n_rebuild--;
	c->rebuild_chain[i] = c->rebuild_chain[c->n_rebuild];
	c->rebuild_since_ms[i] = c->rebuild_since_ms[c->n_rebuild];
}

unsigned int cat_ctl_rebuild_hold(struct cat_ctl *c, struct cat_ctl_node *n,
				  uint64_t now_ms)
{
	unsigned int held = 0;

	/* A node back without a restart (frozen, cut off) lost nothing: it
	 * serves again as before. Only a fresh process's log is weighed. */
	if (n->durable == CAT_CTL_DURABLE_NONE || !n->dfresh)
		return 0;
	for (uint16_t ci = 0; ci < c->map->n_chains; ci++) {
		const struct cat_map_chain *ch = &c->map->chains[ci];

		if (ch->len != 1 || ch->nodes[0] != n->id || ch->move_to != 0 ||
		    cat_ctl_plan_slots_on(c->map, ci) == 0)
			continue;
		held++;
		if (entry_of(c, ch->id) >= 0 ||
		    c->n_rebuild >= CAT_MAP_CHAINS_MAX)
			continue;
		c->rebuild_chain[c->n_rebuild] = ch->id;
		c->rebuild_since_ms[c->n_rebuild++] = now_ms;
		cat_ctl_event(c,
			"chain %u lost every replica; node %u, kept in it, is back with a log: "
			"the chain waits (up to %u ms) for every node's log before it serves again",
			ch->id, n->id, c->cfg.rebuild_wait_ms);
	}
	return held;
}

int cat_ctl_rebuild_held(const struct cat_ctl *c, uint16_t id)
{
	for (uint16_t i = 0; i < c->n_rebuild; i++) {
		int ci = cat_ctl_plan_chain_index(c->map, c->rebuild_chain[i]);

		if (ci >= 0 && c->map->chains[ci].len == 1 &&
		    c->map->chains[ci].nodes[0] == id)
			return 1;
	}
	return 0;
}

void cat_ctl_rebuild_flags(const struct cat_ctl *c, uint8_t *by_index)
{
	memset(by_index, 0, c->map->n_chains);
	for (uint16_t i = 0; i < c->n_rebuild; i++) {
		int ci = cat_ctl_plan_chain_index(c->map, c->rebuild_chain[i]);

		if (ci >= 0)
			by_index[ci] = 1;
	}
}

int cat_ctl_rebuild_report(struct cat_ctl *c, struct cat_ctl_node *n,
			   uint32_t from, const uint64_t *ver, uint32_t len,
			   int end, char *why, size_t whylen)
{
	uint32_t slots = c->map->slot_count, with_data = 0;
	uint64_t top = 0;

	if (n->durable != CAT_CTL_DURABLE_REPORTING) {
		snprintf(why, whylen, "durable: not after a hello that said \"durable\"");
		return -EINVAL;
	}
	if (from != n->dver_n || (uint64_t)from + len > slots ||
	    (end && from + len != slots) || (!end && len == 0)) {
		snprintf(why, whylen,
			 "durable: expected the versions of slots from %u on, %u slots in all",
			 n->dver_n, slots);
		return -EINVAL;
	}
	if (n->dver == NULL) {
		n->dver = calloc(slots, sizeof(n->dver[0]));
		if (n->dver == NULL) {
			snprintf(why, whylen, "durable: out of memory");
			return -ENOMEM;
		}
	}
	memcpy(n->dver + from, ver, len * sizeof(ver[0]));
	n->dver_n = from + len;
	if (!end)
		return 0;
	n->durable = CAT_CTL_DURABLE_DONE;
	for (uint32_t s = 0; s < slots; s++) {
		with_data += n->dver[s] > 0;
		if (n->dver[s] > top)
			top = n->dver[s];
	}
	cat_ctl_event(c, "node %u's log: %u of %u slots hold writes (newest version %llu)",
		      n->id, with_data, slots, (unsigned long long)top);
	return 0;
}

/* Every node that may hold a log of the chain has said what it holds: a
 * node not connected may still come back with the most advanced log. A
 * drained node away is no member of anything and is not waited for. */
static int all_reported(const struct cat_ctl *c)
{
	for (uint16_t i = 0; i < c->n_nodes; i++) {
		const struct cat_ctl_node *n = &c->nodes[i];

		if (n->conn == NULL && n->state == CAT_CTL_NODE_DRAINED)
			continue;
		if (n->conn == NULL || n->durable == CAT_CTL_DURABLE_REPORTING)
			return 0;
	}
	return 1;
}

/* The kept node goes on serving the chain: it gets the map now (unless
 * another chain still holds it). */
static void release(struct cat_ctl *c, uint16_t id, uint64_t now_ms)
{
	struct cat_ctl_node *n = cat_ctl_node(c, id);

	if (n == NULL || cat_ctl_rebuild_held(c, id))
		return;
	n->hello_ms = now_ms; /* the data network gets its time from now */
	if (n->conn != NULL && n->epoch < c->map->epoch)
		cat_ctl_push_map(c, n->conn);
}

static int decide(struct cat_ctl *c, int e, uint64_t now_ms, int timed_out)
{
	struct cat_ctl_pnode nodes[CAT_MAP_NODES_MAX];
	struct cat_ctl_rebuild_pick r;
	struct cat_ctl_view v;
	struct cat_map *next;
	uint16_t chain = c->rebuild_chain[e], kept;
	int ci = cat_ctl_plan_chain_index(c->map, chain);
	char err[256], reason[400];
	struct cat_ctl_node *n;

	drop_entry(c, e);
	if (ci < 0 || c->map->chains[ci].len != 1)
		return 0;
	kept = c->map->chains[ci].nodes[0];
	cat_ctl_view(c, now_ms, &v, nodes);
	cat_ctl_policy_rebuild_source(&v, (uint16_t)ci, kept, &r);
	if (r.node == 0) {
		/* Nobody reported (the kept node went again): its next hello
		 * starts the wait over. */
		cat_ctl_event(c, "chain %u: no node reported a whole log; it waits for node %u",
			      chain, kept);
		return 0;
	}
	if (r.node == kept) {
		cat_ctl_event(c,
			"chain %u: node %u's log is the most advanced (newest version in %u of %u slots, "
			"%u candidates%s): it serves the chain again",
			chain, kept, r.at_newest, r.slots, r.candidates,
			timed_out ? "; rebuild_wait_ms passed before every node reported" : "");
		release(c, kept, now_ms);
		return 0;
	}
	if (cat_ctl_plan_chain_rebuild(c->map, chain, r.node, &next, err,
				       sizeof(err)) < 0) {
		cat_ctl_event(c, "chain %u: rebuild from node %u refused: %s", chain,
			      r.node, err);
		release(c, kept, now_ms);
		return 0;
	}
	snprintf(reason, sizeof(reason),
		 "chain %u rebuilt from node %u's log: the most advanced durable prefix "
		 "(newest version in %u of %u slots, node %u's in %u)%s; the others rejoin by "
		 "state transfer",
		 chain, r.node, r.at_newest, r.slots, kept, r.kept_at_newest,
		 timed_out ? "; rebuild_wait_ms passed before every node reported" : "");
	if (cat_ctl_commit_or_say(c, next, reason) < 0) {
		release(c, kept, now_ms);
		return 1;
	}
	c->rebuilds++;
	n = cat_ctl_node(c, r.node);
	if (n != NULL)
		n->state = CAT_CTL_NODE_UP;
	n = cat_ctl_node(c, kept);
	if (n != NULL && cat_ctl_chains_of(c->map, kept, err, sizeof(err)) == 0)
		n->state = CAT_CTL_NODE_RETURNED;
	release(c, kept, now_ms);
	return 1;
}

int cat_ctl_rebuild_tick(struct cat_ctl *c, uint64_t now_ms)
{
	int everyone;

	if (c->map == NULL || c->n_rebuild == 0)
		return 0;
	everyone = all_reported(c);
	for (int i = c->n_rebuild; i-- > 0;) {
		int timed_out = now_ms >= c->rebuild_since_ms[i] + c->cfg.rebuild_wait_ms;

		if (everyone || timed_out)
			return decide(c, i, now_ms, !everyone);
	}
	return 0;
}
