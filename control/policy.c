/*
 * catena-control's policy (control/policy.h): replication restore, the
 * steps of slot moves and the failure detector's rules, as pure functions
 * of the map and a typed view of the nodes. Shared by catena-control and
 * catena-sim.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "control/policy.h"

static void note(const struct cat_ctl_view *v, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void note(const struct cat_ctl_view *v, const char *fmt, ...)
{
	char text[400];
	va_list ap;

	if (v->note == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	v->note(v->note_arg, text);
}

const struct cat_ctl_pnode *cat_ctl_policy_node(const struct cat_ctl_view *v,
						uint16_t id)
{
	for (uint16_t i = 0; i < v->n_nodes; i++)
		if (v->nodes[i].id == id)
			return &v->nodes[i];
	return NULL;
}

const struct cat_ctl_xfer *cat_ctl_policy_report(const struct cat_ctl_view *v,
						 uint16_t id, uint16_t chain,
						 uint16_t joiner,
						 uint32_t epoch)
{
	const struct cat_ctl_pnode *p = cat_ctl_policy_node(v, id);

	for (uint16_t i = 0; p != NULL && i < p->n_xfer; i++) {
		const struct cat_ctl_xfer *x = &p->xfer[i];

		if (x->chain == chain &&
		    (joiner == UINT16_MAX || x->joiner == joiner) &&
		    (epoch == UINT32_MAX || x->epoch == epoch))
			return x;
	}
	return NULL;
}

static int member(const struct cat_map_chain *ch, uint16_t id)
{
	return cat_map_chain_pos(ch, id) >= 0 || ch->joining == id;
}

static unsigned int memberships(const struct cat_map *m, uint16_t id)
{
	unsigned int n = 0;

	for (uint16_t ci = 0; ci < m->n_chains; ci++)
		n += member(&m->chains[ci], id);
	return n;
}

/* Up or back after a failure, connected, on the current epoch: a node
 * that can take a state transfer stream now. */
static int can_stream(const struct cat_ctl_view *v, const struct cat_ctl_pnode *p)
{
	return p != NULL && p->connected && p->epoch == v->map->epoch &&
	       (p->state == CAT_CTL_NODE_UP || p->state == CAT_CTL_NODE_RETURNED);
}

/* The chain's joiner has everything: the tail (up) reports every slot of
 * the chain caught up at this epoch. A chain without slots has no state
 * to wait for (and its tail reports nothing on it). */
static int caught_up(const struct cat_ctl_view *v, uint16_t ci,
		     struct cat_ctl_step *st)
{
	const struct cat_map_chain *ch = &v->map->chains[ci];
	uint16_t tail = cat_map_chain_tail(ch);
	const struct cat_ctl_pnode *t = cat_ctl_policy_node(v, tail);
	const struct cat_ctl_xfer *r;

	st->keys = st->bytes = 0;
	if (cat_ctl_plan_slots_on(v->map, ci) == 0)
		return 1;
	if (t == NULL || t->state != CAT_CTL_NODE_UP)
		return 0;
	r = cat_ctl_policy_report(v, tail, ch->id, ch->joining, v->map->epoch);
	if (r == NULL || r->chain_slots == 0 || r->slots != r->chain_slots ||
	    r->caught_up != r->chain_slots)
		return 0;
	st->keys = r->keys;
	st->bytes = r->bytes;
	return 1;
}

static int try_handover(const struct cat_ctl_view *v, struct cat_ctl_step *st)
{
	for (uint16_t ci = 0; ci < v->map->n_chains; ci++) {
		const struct cat_map_chain *ch = &v->map->chains[ci];
		char err[256];
		int rc;

		if (ch->joining == 0 || (ch->move_to != 0 && v->paused) ||
		    !caught_up(v, ci, st))
			continue;
		rc = cat_ctl_plan_handover(v->map, ch->id, &st->next, err,
					   sizeof(err));
		if (rc == -ENOMEM)
			return rc;
		if (rc < 0) {
			note(v, "chain %u: hand-over to node %u refused: %s",
			     ch->id, ch->joining, err);
			continue;
		}
		st->kind = CAT_CTL_STEP_HANDOVER;
		st->chain = ch->id;
		st->node = ch->joining;
		st->tail = cat_map_chain_tail(ch);
		st->was_move = ch->move_to != 0;
		return 1;
	}
	return 0;
}

/* The node to join chain ch: can stream, heard on the data network,
 * allowed to join it, in the fewest chains (the first such by id order
 * of the view on a tie). */
static const struct cat_ctl_pnode *pick(const struct cat_ctl_view *v,
					const struct cat_map_chain *ch)
{
	const struct cat_ctl_pnode *best = NULL;
	unsigned int best_n = 0;

	for (uint16_t i = 0; i < v->n_nodes; i++) {
		const struct cat_ctl_pnode *p = &v->nodes[i];
		unsigned int k;

		if (!can_stream(v, p) || !p->heard ||
		    cat_map_can_join(v->map, ch, p->id) < 0)
			continue;
		k = memberships(v->map, p->id);
		if (best == NULL || k < best_n) {
			best = p;
			best_n = k;
		}
	}
	return best;
}

static int try_restore(const struct cat_ctl_view *v, struct cat_ctl_step *st)
{
	for (uint16_t ci = 0; ci < v->map->n_chains; ci++) {
		const struct cat_map_chain *ch = &v->map->chains[ci];
		const struct cat_ctl_pnode *p;
		char err[256];
		int rc;

		/* A move's transitional chain has its own plan; a chain that
		 * lost every replica first gets its source (rebuild.h). */
		if (ch->joining != 0 || ch->len >= v->rf || ch->move_to != 0 ||
		    (v->rebuilding != NULL && v->rebuilding[ci]))
			continue;
		/* A tail that is down has nothing to stream: a joiner would
		 * only wait, and hold the chain's place a rebuild needs. */
		if (!can_stream(v, cat_ctl_policy_node(v, cat_map_chain_tail(ch))))
			continue;
		p = pick(v, ch);
		if (p == NULL)
			continue;
		rc = cat_ctl_plan_join(v->map, ch->id, p->id, &st->next, err,
				       sizeof(err));
		if (rc == -ENOMEM)
			return rc;
		if (rc < 0) {
			note(v, "chain %u: node %u cannot join: %s", ch->id,
			     p->id, err);
			continue;
		}
		st->kind = CAT_CTL_STEP_RESTORE;
		st->chain = ch->id;
		st->node = p->id;
		st->tail = cat_map_chain_tail(ch);
		st->len = ch->len;
		return 1;
	}
	return 0;
}

int cat_ctl_policy_rejoin(const struct cat_ctl_view *v, struct cat_ctl_step *st)
{
	int rc;

	memset(st, 0, sizeof(*st));
	if (v->map == NULL)
		return 0;
	rc = try_handover(v, st);
	if (rc != 0)
		return rc;
	return v->restore ? try_restore(v, st) : 0;
}

int cat_ctl_policy_settled(const struct cat_ctl_view *v, uint16_t ci)
{
	const struct cat_map_chain *t = &v->map->chains[ci];

	for (uint8_t k = 0; k < t->len; k++) {
		const struct cat_ctl_pnode *p = cat_ctl_policy_node(v, t->nodes[k]);

		if (p == NULL || p->state != CAT_CTL_NODE_UP || !p->connected ||
		    p->xfer_epoch != v->map->epoch)
			return 0;
		for (uint16_t i = 0; i < p->n_xfer; i++)
			if (p->xfer[i].chain == t->id && p->xfer[i].held > 0)
				return 0;
	}
	return 1;
}

int cat_ctl_policy_move(const struct cat_ctl_view *v, uint16_t via,
			struct cat_ctl_step *st)
{
	int vi = cat_ctl_plan_chain_index(v->map, via);
	uint16_t node = 0;
	char err[256];
	int rc;

	memset(st, 0, sizeof(*st));
	if (vi < 0 || v->paused || !cat_ctl_policy_settled(v, (uint16_t)vi))
		return 0;
	st->chain = via;
	switch (cat_ctl_plan_move_next(v->map, via, &node)) {
	case CAT_CTL_MOVE_JOIN:
		/* A target member that is down waits (or is removed from the
		 * target by failure handling, which reshapes the move). */
		if (!can_stream(v, cat_ctl_policy_node(v, node)))
			return 0;
		st->kind = CAT_CTL_STEP_MOVE_JOIN;
		rc = cat_ctl_plan_join(v->map, via, node, &st->next, err,
				       sizeof(err));
		break;
	case CAT_CTL_MOVE_REMOVE:
		st->kind = CAT_CTL_STEP_MOVE_LEAVE;
		rc = cat_ctl_plan_chain_drop_node(v->map, via, node, &st->next,
						  err, sizeof(err));
		break;
	case CAT_CTL_MOVE_FINISH:
		st->kind = CAT_CTL_STEP_MOVE_FINISH;
		rc = cat_ctl_plan_move_finish(v->map, via, &st->next, err,
					      sizeof(err));
		break;
	default: /* WAIT: the hand-over is the rejoin policy's; NONE */
		return 0;
	}
	st->node = node;
	if (rc == -ENOMEM)
		return rc;
	if (rc < 0) {
		note(v, "reshard via chain %u: step refused: %s", via, err);
		st->kind = CAT_CTL_STEP_NONE;
		return 0;
	}
	return 1;
}

int cat_ctl_policy_timed(const struct cat_ctl_view *v,
			 const struct cat_ctl_pnode *p)
{
	if (p->state == CAT_CTL_NODE_UP || p->state == CAT_CTL_NODE_RETURNED)
		return 1;
	if (p->state != CAT_CTL_NODE_DRAINED || p->last_hb_ms == 0)
		return 0;
	return memberships(v->map, p->id) > 0;
}

uint16_t cat_ctl_policy_unheard(const struct cat_ctl_view *v, int reports,
				uint64_t now_ms, uint64_t since_ms,
				uint32_t timeout_ms)
{
	int others_heard = 0;

	if (!reports || now_ms < since_ms + timeout_ms)
		return 0;
	for (uint16_t i = 0; i < v->n_nodes && !others_heard; i++)
		others_heard = v->nodes[i].state == CAT_CTL_NODE_UP &&
			       now_ms < v->nodes[i].heard_by_ms + timeout_ms;
	if (!others_heard)
		return 0;
	for (uint16_t i = 0; i < v->n_nodes; i++) {
		const struct cat_ctl_pnode *p = &v->nodes[i];

		/* A held node has no map yet, so nobody can hear it. */
		if (p->state != CAT_CTL_NODE_UP || !p->connected || p->held ||
		    now_ms < p->heard_by_ms + timeout_ms ||
		    now_ms < p->hello_ms + timeout_ms)
			continue;
		if (memberships(v->map, p->id) > 0)
			return p->id;
	}
	return 0;
}

static int reported(const struct cat_ctl_pnode *p)
{
	return p->connected && p->durable == CAT_CTL_DURABLE_DONE &&
	       p->dver != NULL;
}

void cat_ctl_policy_rebuild_source(const struct cat_ctl_view *v, uint16_t ci,
				   uint16_t kept,
				   struct cat_ctl_rebuild_pick *r)
{
	const struct cat_map *m = v->map;
	uint32_t newest_n[CAT_MAP_NODES_MAX] = { 0 };
	uint64_t sum[CAT_MAP_NODES_MAX] = { 0 };
	int best = -1;

	memset(r, 0, sizeof(*r));
	for (uint16_t i = 0; i < v->n_nodes; i++)
		r->candidates += (uint16_t)reported(&v->nodes[i]);
	for (uint32_t s = 0; s < m->slot_count; s++) {
		uint64_t top = 0;

		if (m->slot_chain[s] != ci)
			continue;
		r->slots++;
		for (uint16_t i = 0; i < v->n_nodes; i++)
			if (reported(&v->nodes[i]) && v->nodes[i].dver[s] > top)
				top = v->nodes[i].dver[s];
		r->with_data += top > 0;
		for (uint16_t i = 0; i < v->n_nodes; i++) {
			if (!reported(&v->nodes[i]))
				continue;
			newest_n[i] += v->nodes[i].dver[s] == top;
			sum[i] += v->nodes[i].dver[s];
		}
	}
	for (uint16_t i = 0; i < v->n_nodes; i++) {
		const struct cat_ctl_pnode *p = &v->nodes[i];
		const struct cat_ctl_pnode *b = best >= 0 ? &v->nodes[best] : NULL;

		if (!reported(p))
			continue;
		if (p->id == kept) {
			r->kept_at_newest = newest_n[i];
			r->kept_sum = sum[i];
		}
		if (b == NULL || newest_n[i] > newest_n[best] ||
		    (newest_n[i] == newest_n[best] &&
		     (sum[i] > sum[best] ||
		      (sum[i] == sum[best] && b->id != kept &&
		       (p->id == kept || p->id < b->id)))))
			best = i;
	}
	if (best < 0)
		return;
	r->node = v->nodes[best].id;
	r->at_newest = newest_n[best];
	r->source_sum = sum[best];
}
