/*
 * catena-control replication restore: a chain short of replicas gets a
 * joining node (a live node outside it), the chain's tail streams it the
 * chain's slots (replication/chain_xfer.c), and once the tail reports every
 * slot caught up, one epoch makes the joiner the new tail. Decisions only:
 * the map changes go through cat_ctl_commit like every other. Runs on the
 * control plane's one thread; never blocks.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "control/ctl.h"
#include "control/planner.h"

/* The tail's report for chain ci of the map in force, or NULL. */
static json_t *tail_report(struct cat_ctl *c, const struct cat_map_chain *ch)
{
	const struct cat_ctl_node *t = cat_ctl_node(c, cat_map_chain_tail(ch));
	size_t i;
	json_t *e;

	if (t == NULL || t->xfer == NULL || t->state != CAT_CTL_NODE_UP)
		return NULL;
	json_array_foreach(t->xfer, i, e) {
		if (json_integer_value(json_object_get(e, "chain")) == ch->id &&
		    json_integer_value(json_object_get(e, "joiner")) == ch->joining &&
		    json_integer_value(json_object_get(e, "epoch")) ==
			(json_int_t)c->map->epoch)
			return e;
	}
	return NULL;
}

static json_int_t num(json_t *o, const char *k)
{
	return json_integer_value(json_object_get(o, k));
}

static int chain_has_slots(const struct cat_map *m, uint16_t ci)
{
	for (uint32_t s = 0; s < m->slot_count; s++)
		if (m->slot_chain[s] == ci)
			return 1;
	return 0;
}

/* A chain whose joiner has caught up: hand it over. 1 if a map was
 * committed (one change per call keeps each epoch one event). */
static int try_handover(struct cat_ctl *c, uint64_t now_ms)
{
	for (uint16_t ci = 0; ci < c->map->n_chains; ci++) {
		const struct cat_map_chain *ch = &c->map->chains[ci];
		struct cat_map *next = NULL;
		char err[256], reason[200];
		json_t *r;
		uint16_t chain_id = ch->id, joiner = ch->joining;
		int ch_was_move = ch->move_to != 0;
		json_int_t keys, bytes;
		double secs;

		if (ch->joining == 0 || (ch->move_to != 0 && c->store.reshard.paused))
			continue;
		if (chain_has_slots(c->map, ci)) {
			r = tail_report(c, ch);
			if (r == NULL || num(r, "chain_slots") <= 0 ||
			    num(r, "slots") != num(r, "chain_slots") ||
			    num(r, "caught_up") != num(r, "chain_slots"))
				continue;
			keys = num(r, "keys");
			bytes = num(r, "bytes");
		} else {
			/* No slot, no state: nothing to wait for (and no tail
			 * reports on a chain it streams nothing of). */
			keys = bytes = 0;
		}
		secs = c->join_started_ms[ci] ?
		       (double)(now_ms - c->join_started_ms[ci]) / 1000.0 : 0.0;
		if (cat_ctl_plan_handover(c->map, chain_id, &next, err,
					  sizeof(err)) < 0) {
			cat_ctl_event(c, "chain %u: hand-over to node %u refused: %s",
				      chain_id, joiner, err);
			continue;
		}
		snprintf(reason, sizeof(reason),
			 "chain %u: node %u caught up (%lld keys, %lld bytes in %.1f s), now its tail",
			 chain_id, joiner, (long long)keys, (long long)bytes, secs);
		if (cat_ctl_commit(c, next, reason, err, sizeof(err)) < 0) {
			cat_ctl_event(c, "%s, but the change failed: %s", reason, err);
			return 1;
		}
		c->join_started_ms[ci] = 0;
		if (ch_was_move)
			cat_ctl_reshard_joined(c, chain_id, (uint64_t)keys,
					       (uint64_t)bytes);
		return 1;
	}
	return 0;
}

static unsigned int memberships(const struct cat_map *m, uint16_t id)
{
	unsigned int n = 0;

	for (uint16_t ci = 0; ci < m->n_chains; ci++)
		n += cat_map_chain_pos(&m->chains[ci], id) >= 0 ||
		     m->chains[ci].joining == id;
	return n;
}

/* The live node to join chain ch: up (or back after a failure),
 * connected, on the current epoch, outside ch, in the fewest chains. */
static struct cat_ctl_node *pick(struct cat_ctl *c,
				 const struct cat_map_chain *ch)
{
	struct cat_ctl_node *best = NULL;
	unsigned int best_n = 0;

	for (uint16_t i = 0; i < c->n_nodes; i++) {
		struct cat_ctl_node *n = &c->nodes[i];
		unsigned int k;

		if ((n->state != CAT_CTL_NODE_UP &&
		     n->state != CAT_CTL_NODE_RETURNED) || n->conn == NULL ||
		    n->epoch != c->map->epoch ||
		    !cat_ctl_node_heard(c, n, cat_ctl_now_ms()) ||
		    cat_map_can_join(c->map, ch, n->id) < 0)
			continue;
		k = memberships(c->map, n->id);
		if (best == NULL || k < best_n) {
			best = n;
			best_n = k;
		}
	}
	return best;
}

static int try_restore(struct cat_ctl *c, uint64_t now_ms)
{
	for (uint16_t ci = 0; ci < c->map->n_chains; ci++) {
		const struct cat_map_chain *ch = &c->map->chains[ci];
		struct cat_map *next = NULL;
		struct cat_ctl_node *n;
		char err[256], reason[200];
		uint16_t chain_id = ch->id, id;

		/* A move's transitional chain has its own plan. */
		if (ch->joining != 0 || ch->len >= c->rf || ch->move_to != 0)
			continue;
		n = pick(c, ch);
		if (n == NULL)
			continue;
		id = n->id;
		if (cat_ctl_plan_join(c->map, chain_id, id, &next, err,
				      sizeof(err)) < 0) {
			cat_ctl_event(c, "chain %u: node %u cannot join: %s",
				      chain_id, id, err);
			continue;
		}
		snprintf(reason, sizeof(reason),
			 "chain %u has %u of %u replicas: node %u joins it (state transfer from its tail, node %u)",
			 chain_id, ch->len, c->rf, id, cat_map_chain_tail(ch));
		if (cat_ctl_commit(c, next, reason, err, sizeof(err)) < 0) {
			cat_ctl_event(c, "%s, but the change failed: %s", reason, err);
			return 1;
		}
		c->join_started_ms[ci] = now_ms;
		n = cat_ctl_node(c, id); /* the table was rebuilt */
		if (n != NULL && n->state == CAT_CTL_NODE_RETURNED)
			n->state = CAT_CTL_NODE_UP;
		return 1;
	}
	return 0;
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
	if (c->map == NULL)
		return 0;
	cat_ctl_rejoin_init(c);
	if (try_handover(c, now_ms))
		return 1;
	return c->cfg.restore_replicas ? try_restore(c, now_ms) : 0;
}

void cat_ctl_xfer_rate_push(struct cat_ctl *c)
{
	json_t *m;

	if (!c->store.reshard.rate_set)
		return;
	/* cat_ctl_send() only serialises: the message stays ours. */
	m = json_pack("{s:s,s:I}", "type", "xfer_rate",
		      "bytes_per_s", (json_int_t)c->store.reshard.rate);
	for (uint16_t i = 0; i < c->n_nodes; i++)
		if (c->nodes[i].conn != NULL)
			cat_ctl_send(c->nodes[i].conn, m);
	json_decref(m);
}
