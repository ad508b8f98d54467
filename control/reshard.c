/*
 * catena-control live resharding: slot moves between chains while both
 * keep serving (docs/CONTROL.md, "Moving slots"). A move runs through a
 * transitional chain (control/planner.h): each tick makes at most one
 * step (one epoch), and a join's snapshot goes at the rate the nodes are
 * told. Decisions only, on the control plane's one thread; the map in the
 * store is the truth, so a restarted catena-control resumes every move it
 * finds there (the queue of a rebalance not yet started is in memory).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/nodechan.h"
#include "control/policy.h"
#include "control/reshard.h"

#define VIA_FIRST 60000u  /* transitional chain ids: 60000.. */

static struct cat_ctl_move *move_of(struct cat_ctl *c, uint16_t via, int make)
{
	struct cat_ctl_move *free_one = NULL;

	for (unsigned int i = 0; i < CAT_CTL_MOVES_MAX; i++) {
		if (c->moves[i].via == via)
			return &c->moves[i];
		if (c->moves[i].via == 0 && free_one == NULL)
			free_one = &c->moves[i];
	}
	if (!make || free_one == NULL)
		return NULL;
	memset(free_one, 0, sizeof(*free_one));
	free_one->via = via;
	free_one->started_ms = cat_ctl_now_ms();
	return free_one;
}

/* The tail's report on the transitional chain's join, folded into the
 * move's running totals (a join's counters start at 0 on each). */
static void track_join(const struct cat_ctl_view *v, struct cat_ctl_move *mv,
		       const struct cat_map_chain *t)
{
	const struct cat_ctl_xfer *r = cat_ctl_policy_report(v,
		cat_map_chain_tail(t), t->id, t->joining, UINT32_MAX);

	if (r == NULL)
		return;
	mv->cur_keys = r->keys;
	mv->cur_bytes = r->bytes;
	mv->lag = r->lag;
}

/* What the event log says of a step the policy decided. */
static void step_reason(struct cat_ctl *c, const struct cat_ctl_step *st,
			const struct cat_map_chain *t,
			const struct cat_ctl_move *mv, uint64_t now,
			char *why, size_t cap)
{
	uint16_t via = t->id, to = t->move_to, from = t->move_from;

	if (st->kind == CAT_CTL_STEP_MOVE_FINISH) {
		snprintf(why, cap,
			 "reshard: %u slots %s chain %u (from chain %u) in %.1f s, %llu keys and %llu bytes copied%s",
			 cat_ctl_plan_slots_on(c->map, cat_ctl_plan_chain_index(c->map, via)),
			 mv->cancelled ? "back on" : "now on", to, from,
			 (double)(now - mv->started_ms) / 1000.0,
			 (unsigned long long)(mv->keys + mv->cur_keys),
			 (unsigned long long)(mv->bytes + mv->cur_bytes),
			 mv->cancelled ? " (cancelled)" : "");
		return;
	}
	snprintf(why, cap,
		 "reshard: slots moving from chain %u to chain %u (via chain %u): node %u %s",
		 from, to, via, st->node,
		 st->kind == CAT_CTL_STEP_MOVE_JOIN ? "joins" : "leaves them");
}

/* One step of one move (the policy's); 1 if the map changed. */
static int step(struct cat_ctl *c, const struct cat_ctl_view *v,
		const struct cat_map_chain *t, uint64_t now)
{
	struct cat_ctl_move *mv = move_of(c, t->id, 1);
	uint16_t via = t->id, node;
	struct cat_ctl_step st;
	char why[256];
	int vi;

	if (mv == NULL)
		return 0;
	if (cat_ctl_policy_move(v, via, &st) <= 0) {
		vi = cat_ctl_plan_chain_index(c->map, via);
		if (!cat_ctl_policy_settled(v, (uint16_t)vi) ||
		    cat_ctl_plan_move_next(c->map, via, &node) == CAT_CTL_MOVE_WAIT)
			track_join(v, mv, t);
		return 0;
	}
	step_reason(c, &st, t, mv, now, why, sizeof(why));
	if (cat_ctl_commit_or_say(c, st.next, why) < 0)
		return 1;
	if (cat_ctl_plan_move_next(c->map, via, &node) == CAT_CTL_MOVE_WAIT) {
		vi = cat_ctl_plan_chain_index(c->map, via);
		if (vi >= 0)  /* a join began: its clock for the hand-over line */
			c->join_started_ms[vi] = now;
	}
	mv = move_of(c, via, 0);
	if (mv != NULL) {
		mv->steps++;
		if (cat_ctl_plan_move_next(c->map, via, &node) == CAT_CTL_MOVE_NONE)
			mv->via = 0; /* finished */
	}
	return 1;
}

void cat_ctl_reshard_restore(struct cat_ctl *c)
{
	c->n_queued = 0;
}

/* Store the settings as they are now (with the current map). 0 or
 * -errno with the reason in err. */
static int save_settings(struct cat_ctl *c, char *err, size_t errlen)
{
	int rc = cat_ctl_store_save(&c->store, c->map, NULL, cat_ctl_now_unix(),
				    err, errlen);

	if (rc < 0)
		cat_ctl_event(c, "store write failed (resharding settings): %s", err);
	return rc;
}

/* Queue the moves that spread the slots evenly over the ordinary chains:
 * for each over-full chain, its excess goes to the under-full ones in
 * order, so every slot moved is one a balanced map needs moved and the
 * moves are as few as they can be. Listed in out if not NULL. Returns
 * how many were queued. */
static unsigned int plan_rebalance(struct cat_ctl *c, json_t *out)
{
	const struct cat_map *m = c->map;
	int32_t have[CAT_MAP_CHAINS_MAX], want[CAT_MAP_CHAINS_MAX];
	uint16_t ord[CAT_MAP_CHAINS_MAX];
	unsigned int n = 0, k = 0, queued = 0;

	for (uint16_t ci = 0; ci < m->n_chains; ci++) {
		if (m->chains[ci].move_to != 0)
			return 0; /* after the move in progress */
		ord[n] = ci;
		have[n] = (int32_t)cat_ctl_plan_slots_on(m, ci);
		n++;
	}
	for (unsigned int i = 0; i < n; i++)
		want[i] = (int32_t)(m->slot_count / n + (i < m->slot_count % n));
	for (unsigned int i = 0; i < n; i++) {
		while (have[i] > want[i]) {
			uint32_t cnt;

			while (k < n && have[k] >= want[k])
				k++;
			if (k == n || c->n_queued == CAT_CTL_QUEUED_MAX)
				break;
			cnt = (uint32_t)(have[i] - want[i] < want[k] - have[k] ?
					 have[i] - want[i] : want[k] - have[k]);
			c->queued[c->n_queued++] = (struct cat_ctl_queued){
				.from = m->chains[ord[i]].id,
				.to = m->chains[ord[k]].id, .count = cnt,
			};
			if (out != NULL)
				json_array_append_new(out, json_pack("{s:I,s:I,s:I}",
					"from", (json_int_t)m->chains[ord[i]].id,
					"to", (json_int_t)m->chains[ord[k]].id,
					"slots", (json_int_t)cnt));
			have[i] -= (int32_t)cnt;
			have[k] += (int32_t)cnt;
			queued++;
		}
	}
	return queued;
}

/* A rebalance goes on until the chains are even, across restarts of
 * catena-control: its queue is planned again from the map when empty. */
static void rebalance_continue(struct cat_ctl *c)
{
	char err[256];

	if (!c->store.reshard.rebalance || c->n_queued > 0)
		return;
	if (plan_rebalance(c, NULL) > 0)
		return;
	c->store.reshard.rebalance = 0;
	if (save_settings(c, err, sizeof(err)) == 0)
		cat_ctl_event(c, "reshard rebalance finished: the chains hold %u slots each, give or take one",
			      c->map->slot_count / (c->map->n_chains ? c->map->n_chains : 1));
	else
		c->store.reshard.rebalance = 1; /* said again next tick */
}

/* Start the next queued move of a rebalance. 1 if the map changed. */
static int start_queued(struct cat_ctl *c)
{
	struct cat_ctl_queued *q;
	struct cat_map *next = NULL;
	uint8_t *slots;
	char err[256], why[200];
	int fi, rc;
	uint32_t want;
	uint16_t via;

	if (c->n_queued == 0)
		return 0;
	q = &c->queued[0];
	fi = cat_ctl_plan_chain_index(c->map, q->from);
	slots = calloc(c->map->slot_count, 1);
	if (slots == NULL)
		return 0;
	/* The highest-numbered slots of the source: any would do; these keep
	 * the low ranges where they are, which reads well in `slots`. */
	want = q->count;
	for (uint32_t s = c->map->slot_count; fi >= 0 && want > 0 && s-- > 0;)
		if (c->map->slot_chain[s] == fi) {
			slots[s] = 1;
			want--;
		}
	for (via = VIA_FIRST; cat_ctl_plan_chain_index(c->map, via) >= 0; via++)
		;
	rc = fi < 0 || want == q->count ? -ENOENT :
	     cat_ctl_plan_move_start(c->map, slots, q->to, via, &next, err,
				     sizeof(err));
	snprintf(why, sizeof(why),
		 "reshard (rebalance): %u slots from chain %u to chain %u, via chain %u",
		 q->count - want, q->from, q->to, via);
	memmove(&c->queued[0], &c->queued[1],
		(c->n_queued - 1) * sizeof(c->queued[0]));
	c->n_queued--;
	free(slots);
	if (rc < 0) {
		cat_ctl_event(c, "reshard (rebalance): move from chain %u to %u not started: %s",
			      q->from, q->to, rc == -ENOENT ? "the chains changed" : err);
		return 0;
	}
	if (cat_ctl_commit_or_say(c, next, why) == 0)
		move_of(c, via, 1);
	return 1;
}

void cat_ctl_reshard_joined(struct cat_ctl *c, uint16_t via, uint64_t keys,
			    uint64_t bytes)
{
	struct cat_ctl_move *mv = move_of(c, via, 0);

	if (mv == NULL)
		return;
	mv->keys += keys;
	mv->bytes += bytes;
	mv->joins++;
	mv->cur_keys = mv->cur_bytes = mv->lag = 0;
}

int cat_ctl_reshard_tick(struct cat_ctl *c, uint64_t now_ms)
{
	struct cat_ctl_pnode nodes[CAT_MAP_NODES_MAX];
	struct cat_ctl_view v;
	int moving = 0;

	if (c->map == NULL)
		return 0;
	cat_ctl_view(c, now_ms, &v, nodes);
	for (uint16_t ci = 0; ci < c->map->n_chains; ci++) {
		const struct cat_map_chain *t = &c->map->chains[ci];

		if (t->move_to == 0)
			continue;
		moving = 1;
		if (c->store.reshard.paused)
			continue;
		if (step(c, &v, t, now_ms))
			return 1;
	}
	/* Forget moves whose chain is gone (finished, or lost to a restart). */
	for (unsigned int i = 0; i < CAT_CTL_MOVES_MAX; i++)
		if (c->moves[i].via != 0 && cat_ctl_plan_chain_index(c->map, c->moves[i].via) < 0)
			c->moves[i].via = 0;
	if (!moving && !c->store.reshard.paused) {
		rebalance_continue(c);
		return start_queued(c);
	}
	return 0;
}

/* ---- requests (the management socket) ------------------------------ */

static int get_u(json_t *req, const char *k, json_int_t min, json_int_t max,
		 json_int_t *v, char *err, size_t errlen)
{
	json_t *j = json_object_get(req, k);

	if (j == NULL)
		return 0;
	if (!json_is_integer(j) || json_integer_value(j) < min ||
	    json_integer_value(j) > max) {
		snprintf(err, errlen, "\"%s\" must be a number %lld..%lld", k,
			 (long long)min, (long long)max);
		return -1;
	}
	*v = json_integer_value(j);
	return 1;
}

/* A free transitional chain id in m, or 0 when 60000..65535 are taken. */
static uint16_t free_via(const struct cat_map *m)
{
	for (uint32_t via = VIA_FIRST; via <= UINT16_MAX; via++)
		if (cat_ctl_plan_chain_index(m, (uint16_t)via) < 0)
			return (uint16_t)via;
	return 0;
}

/*
 * `reshard move --slots A-B --to T`: slots A..B, wherever they are. A
 * move goes from one chain (its transitional chain starts as a copy of
 * the source), so a range over several chains becomes one move per
 * source chain, slots already on T left where they are. The daemon
 * splits it rather than catenactl: it alone knows the map of the moment
 * (catenactl would read `slots` and race a change), a script sending
 * the JSON request gets the same, and every move starts in one epoch or
 * none does: a range is refused whole if any part cannot move.
 */
static json_t *req_move(struct cat_ctl *c, json_t *req, char *err, size_t errlen)
{
	json_int_t first = -1, last = -1, to = 0;
	const struct cat_map *m = c->map;
	struct cat_map *cur = NULL, *next = NULL;
	uint16_t vias[CAT_CTL_MOVES_MAX], froms[CAT_CTL_MOVES_MAX];
	uint32_t counts[CAT_CTL_MOVES_MAX];
	unsigned int n = 0, free_moves = 0;
	uint64_t total = 0;
	uint8_t *slots;
	json_t *moves;
	char why[200], one[256];
	int ti, rc = 0;

	if (get_u(req, "first", 0, m->slot_count - 1, &first, err, errlen) <= 0 ||
	    get_u(req, "last", 0, m->slot_count - 1, &last, err, errlen) < 0 ||
	    get_u(req, "to", 1, 65535, &to, err, errlen) <= 0) {
		if (err[0] == '\0')
			snprintf(err, errlen, "\"first\" (a slot) and \"to\" (a chain id) are required");
		return NULL;
	}
	if (last < 0)
		last = first;
	if (last < first) {
		snprintf(err, errlen, "slots %lld-%lld: backwards", (long long)first,
			 (long long)last);
		return NULL;
	}
	ti = cat_ctl_plan_chain_index(m, (uint16_t)to);
	if (ti < 0) {
		snprintf(err, errlen, "no chain %lld", (long long)to);
		return NULL;
	}
	for (unsigned int i = 0; i < CAT_CTL_MOVES_MAX; i++)
		free_moves += c->moves[i].via == 0;
	slots = calloc(m->slot_count, 1);
	if (slots == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	/* Each source chain in turn, in the order its first slot comes,
	 * planned on the map the moves before it made. */
	for (json_int_t s0 = first; s0 <= last && rc == 0; s0++) {
		int from_ci = m->slot_chain[s0];
		uint16_t via;
		int dup = 0;

		if (from_ci == ti)
			continue;
		for (unsigned int k = 0; k < n; k++)
			dup |= froms[k] == m->chains[from_ci].id;
		if (dup)
			continue;
		if (n == CAT_CTL_MOVES_MAX || n == free_moves) {
			snprintf(err, errlen, "slots %lld-%lld span more chains than the %u moves that can run at once",
				 (long long)first, (long long)last, free_moves);
			rc = -ENOSPC;
			break;
		}
		memset(slots, 0, m->slot_count);
		counts[n] = 0;
		for (json_int_t s = s0; s <= last; s++)
			if (m->slot_chain[s] == from_ci) {
				slots[s] = 1;
				counts[n]++;
			}
		via = free_via(cur != NULL ? cur : m);
		if (via == 0) {
			snprintf(err, errlen, "no free transitional chain id");
			rc = -ENOSPC;
			break;
		}
		rc = cat_ctl_plan_move_start(cur != NULL ? cur : m, slots, (uint16_t)to,
					     via, &next, one, sizeof(one));
		if (rc < 0) {
			snprintf(err, errlen, "slots on chain %u: %s", m->chains[from_ci].id, one);
			break;
		}
		cat_map_free(cur);
		cur = next;
		next = NULL;
		vias[n] = via;
		froms[n] = m->chains[from_ci].id;
		n++;
	}
	free(slots);
	if (rc == 0 && n == 0) {
		snprintf(err, errlen, "slots %lld-%lld are on chain %lld already",
			 (long long)first, (long long)last, (long long)to);
		rc = -EINVAL;
	}
	if (rc < 0) {
		cat_map_free(cur);
		return NULL;
	}
	cur->epoch = m->epoch + 1;  /* all the moves in one epoch */
	if (n == 1)
		snprintf(why, sizeof(why),
			 "reshard: slots %lld-%lld moving from chain %u to chain %lld (operator), via chain %u",
			 (long long)first, (long long)last, froms[0], (long long)to, vias[0]);
	else
		snprintf(why, sizeof(why),
			 "reshard: slots %lld-%lld moving to chain %lld (operator) from %u chains, one move each (via chains %u..%u)",
			 (long long)first, (long long)last, (long long)to, n, vias[0],
			 vias[n - 1]);
	if (cat_ctl_commit(c, cur, why, err, errlen) < 0)
		return NULL;
	moves = json_array();
	for (unsigned int k = 0; k < n; k++) {
		total += counts[k];
		move_of(c, vias[k], 1);
		json_array_append_new(moves, json_pack("{s:I,s:I,s:I}", "via",
			(json_int_t)vias[k], "from", (json_int_t)froms[k],
			"slots", (json_int_t)counts[k]));
	}
	/* via and from of the first move stay at the top, as before the
	 * split, for the scripts that read them. */
	return json_pack("{s:I,s:I,s:I,s:I,s:I,s:o}", "epoch", (json_int_t)c->map->epoch,
			 "via", (json_int_t)vias[0], "from", (json_int_t)froms[0],
			 "to", to, "slots", (json_int_t)total, "moves", moves);
}

/* `reshard rebalance`: queue the fewest moves that even the chains out,
 * and remember (in the store) to finish it. */
static json_t *req_rebalance(struct cat_ctl *c, json_t *req, char *err,
			     size_t errlen)
{
	const struct cat_map *m = c->map;
	json_t *out, *dry = json_object_get(req, "dry_run");

	if (dry != NULL && !json_is_boolean(dry)) {
		snprintf(err, errlen, "\"dry_run\" must be true or false");
		return NULL;
	}

	for (uint16_t ci = 0; ci < m->n_chains; ci++)
		if (m->chains[ci].move_to != 0) {
			snprintf(err, errlen, "a move is in progress (reshard status): rebalance after it");
			return NULL;
		}
	if (c->n_queued > 0 || c->store.reshard.rebalance) {
		snprintf(err, errlen, "a rebalance is queued already (reshard status)");
		return NULL;
	}
	out = json_array();
	if (json_is_true(dry)) {
		/* The plan as a rebalance would start it, then forgotten:
		 * nothing queued, stored or told. */
		plan_rebalance(c, out);
		c->n_queued = 0;
		return json_pack("{s:I,s:b,s:o}", "epoch", (json_int_t)m->epoch,
				 "dry_run", 1, "moves", out);
	}
	if (plan_rebalance(c, out) > 0) {
		c->store.reshard.rebalance = 1;
		if (save_settings(c, err, errlen) < 0) {
			c->store.reshard.rebalance = 0;
			c->n_queued = 0;
			json_decref(out);
			return NULL;
		}
	}
	cat_ctl_event(c, "reshard rebalance (operator): %zu moves queued",
		      json_array_size(out));
	return json_pack("{s:I,s:b,s:o}", "epoch", (json_int_t)m->epoch,
			 "dry_run", 0, "moves", out);
}

double cat_ctl_reshard_eta(uint64_t copied, uint64_t to_copy, double elapsed_s)
{
	if (copied == 0 || to_copy == 0 || !(elapsed_s > 0))
		return -1;
	if (copied >= to_copy)
		return 0;
	return (double)(to_copy - copied) * elapsed_s / (double)copied;
}

uint64_t cat_ctl_reshard_to_copy(uint32_t joins_done, unsigned int joins_left,
				 uint64_t done_bytes, uint64_t cur_bytes,
				 uint32_t caught_up, uint32_t chain_slots)
{
	double one;

	if (joins_done > 0)
		one = (double)done_bytes / joins_done;
	else if (caught_up > 0 && chain_slots >= caught_up)
		one = (double)cur_bytes * chain_slots / caught_up;
	else
		return 0;
	return (uint64_t)(one * (joins_done + joins_left));
}

static json_t *req_status(struct cat_ctl *c)
{
	struct cat_ctl_pnode nodes[CAT_MAP_NODES_MAX];
	json_t *moves = json_array(), *queued = json_array();
	uint64_t now = cat_ctl_now_ms();
	struct cat_ctl_view v;

	cat_ctl_view(c, now, &v, nodes);

	for (uint16_t ci = 0; ci < c->map->n_chains; ci++) {
		const struct cat_map_chain *t = &c->map->chains[ci];
		int ti = cat_ctl_plan_chain_index(c->map, t->move_to);
		struct cat_ctl_move *mv = move_of(c, t->id, 1);
		json_t *o, *target, *members;
		uint16_t node = 0;
		enum cat_ctl_move_step st;
		unsigned int left = 0;
		double el;

		if (t->move_to == 0 || mv == NULL)
			continue;
		/* Only for a chain that is moving: json_pack's "o" takes them. */
		target = json_array();
		members = json_array();
		for (uint8_t k = 0; k < t->len; k++)
			json_array_append_new(members, json_integer(t->nodes[k]));
		for (uint8_t k = 0; ti >= 0 && k < c->map->chains[ti].len; k++) {
			uint16_t b = c->map->chains[ti].nodes[k];

			json_array_append_new(target, json_integer(b));
			left += cat_map_chain_pos(t, b) < 0 ||
				(t->joining == b);
		}
		st = cat_ctl_plan_move_next(c->map, t->id, &node);
		el = (double)(now - mv->started_ms) / 1000.0;
		o = json_pack("{s:I,s:I,s:I,s:I,s:o,s:o,s:s,s:I,s:I,s:I,s:I,s:I,s:f,s:b,s:b}",
			"via", (json_int_t)t->id, "from", (json_int_t)t->move_from,
			"to", (json_int_t)t->move_to,
			"slots", (json_int_t)cat_ctl_plan_slots_on(c->map, ci),
			"members", members, "target", target,
			"step", st == CAT_CTL_MOVE_WAIT ? "copying" :
				st == CAT_CTL_MOVE_JOIN ? "join next" :
				st == CAT_CTL_MOVE_REMOVE ? "remove next" :
				st == CAT_CTL_MOVE_FINISH ? "finishing" : "none",
			"joining", (json_int_t)t->joining,
			"replicas_to_copy", (json_int_t)left,
			"keys_copied", (json_int_t)(mv->keys + mv->cur_keys),
			"bytes_copied", (json_int_t)(mv->bytes + mv->cur_bytes),
			"lag", (json_int_t)mv->lag, "elapsed_s", el,
			"paused", c->store.reshard.paused, "cancelled", mv->cancelled);
		/* Time left: the bytes still to copy at the pace of the bytes
		 * copied (not of the steps made: a join's copy is most of a
		 * move's time, and its length goes with the data). */
		{
			const struct cat_ctl_xfer *x = t->joining == 0 ? NULL :
				cat_ctl_policy_report(&v, cat_map_chain_tail(t), t->id,
						      t->joining, UINT32_MAX);
			uint64_t to_copy = cat_ctl_reshard_to_copy(mv->joins, left,
				mv->bytes, mv->cur_bytes, x != NULL ? x->caught_up : 0,
				x != NULL ? x->chain_slots : 0);
			double eta = cat_ctl_reshard_eta(mv->bytes + mv->cur_bytes,
							 to_copy, el);

			json_object_set_new(o, "bytes_to_copy", to_copy > 0 ?
				json_integer((json_int_t)to_copy) : json_null());
			json_object_set_new(o, "eta_s", eta >= 0 ? json_real(eta) :
					    json_null());
		}
		json_array_append_new(moves, o);
	}
	for (unsigned int i = 0; i < c->n_queued; i++)
		json_array_append_new(queued, json_pack("{s:I,s:I,s:I}",
			"from", (json_int_t)c->queued[i].from,
			"to", (json_int_t)c->queued[i].to,
			"slots", (json_int_t)c->queued[i].count));
	return json_pack("{s:I,s:b,s:b,s:I,s:o,s:o}", "epoch", (json_int_t)c->map->epoch,
			 "paused", c->store.reshard.paused, "rebalance",
			 (int)c->store.reshard.rebalance,
			 "rate", (json_int_t)c->store.reshard.rate, "moves", moves,
			 "queued", queued);
}

static json_t *req_cancel(struct cat_ctl *c, char *err, size_t errlen)
{
	unsigned int n = 0, dropped = c->n_queued;

	if (c->store.reshard.rebalance) {
		c->store.reshard.rebalance = 0;
		if (save_settings(c, err, errlen) < 0) {
			c->store.reshard.rebalance = 1;
			return NULL;
		}
	}
	c->n_queued = 0;
	for (uint16_t ci = 0; ci < c->map->n_chains; ci++) {
		const struct cat_map_chain *t = &c->map->chains[ci];
		struct cat_map *next = NULL;
		struct cat_ctl_move *mv;
		char why[160];
		uint16_t via = t->id;

		if (t->move_to == 0)
			continue;
		mv = move_of(c, via, 1);
		if (mv != NULL && mv->cancelled)
			continue;
		if (cat_ctl_plan_move_reverse(c->map, via, &next, err, errlen) < 0)
			return NULL;
		snprintf(why, sizeof(why),
			 "reshard cancel (operator): slots via chain %u go back to chain %u",
			 via, t->move_from);
		if (cat_ctl_commit(c, next, why, err, errlen) < 0)
			return NULL;
		mv = move_of(c, via, 1);
		if (mv != NULL)
			mv->cancelled = 1;
		n++;
	}
	return json_pack("{s:I,s:I,s:I}", "epoch", (json_int_t)c->map->epoch,
			 "cancelled", (json_int_t)n, "dropped_queued",
			 (json_int_t)dropped);
}

static json_t *req_chain_add(struct cat_ctl *c, json_t *req, char *err,
			     size_t errlen)
{
	json_t *jn = json_object_get(req, "nodes"), *v;
	uint16_t nodes[CAT_MAP_CHAIN_LEN_MAX];
	struct cat_map *next = NULL;
	json_int_t id = 0;
	char why[128];
	size_t i;

	if (get_u(req, "chain", 1, VIA_FIRST - 1, &id, err, errlen) <= 0) {
		if (err[0] == '\0')
			snprintf(err, errlen, "\"chain\" (an id 1..%u) is required",
				 VIA_FIRST - 1);
		return NULL;
	}
	if (!json_is_array(jn) || json_array_size(jn) == 0 ||
	    json_array_size(jn) > CAT_MAP_CHAIN_LEN_MAX) {
		snprintf(err, errlen, "\"nodes\" must be an array of 1..%u node ids",
			 CAT_MAP_CHAIN_LEN_MAX);
		return NULL;
	}
	json_array_foreach(jn, i, v) {
		if (!json_is_integer(v) || json_integer_value(v) < 1 ||
		    json_integer_value(v) > 65535) {
			snprintf(err, errlen, "\"nodes\" holds a non node id");
			return NULL;
		}
		nodes[i] = (uint16_t)json_integer_value(v);
	}
	if (cat_ctl_plan_chain_add(c->map, (uint16_t)id, nodes,
				   (unsigned int)json_array_size(jn), &next, err,
				   errlen) < 0)
		return NULL;
	snprintf(why, sizeof(why), "chain %lld added (operator), no slots yet",
		 (long long)id);
	if (cat_ctl_commit(c, next, why, err, errlen) < 0)
		return NULL;
	return json_pack("{s:I,s:I,s:O}", "epoch", (json_int_t)c->map->epoch,
			 "chain", id, "nodes", jn);
}

json_t *cat_ctl_reshard_request(struct cat_ctl *c, const char *cmd,
				json_t *req, char *err, size_t errlen)
{
	json_int_t rate = 0;

	err[0] = '\0';
	if (strcmp(cmd, "reshard_move") == 0)
		return req_move(c, req, err, errlen);
	if (strcmp(cmd, "reshard_rebalance") == 0)
		return req_rebalance(c, req, err, errlen);
	if (strcmp(cmd, "reshard_status") == 0)
		return req_status(c);
	if (strcmp(cmd, "reshard_cancel") == 0)
		return req_cancel(c, err, errlen);
	if (strcmp(cmd, "chain_add") == 0)
		return req_chain_add(c, req, err, errlen);
	if (strcmp(cmd, "reshard_pause") == 0 || strcmp(cmd, "reshard_resume") == 0) {
		uint8_t pause = cmd[8] == 'p', was = c->store.reshard.paused;

		if (was != pause) {
			c->store.reshard.paused = pause;
			if (save_settings(c, err, errlen) < 0) {
				c->store.reshard.paused = was;
				return NULL;
			}
			cat_ctl_event(c, "reshard %s (operator)", pause ? "paused" : "resumed");
		}
		return json_pack("{s:b}", "paused", pause);
	}
	if (strcmp(cmd, "reshard_rate") == 0) {
		if (get_u(req, "bytes_per_s", 0, INT64_MAX, &rate, err, errlen) <= 0) {
			if (err[0] == '\0')
				snprintf(err, errlen, "\"bytes_per_s\" is required (0: no limit)");
			return NULL;
		}
		uint8_t was_set = c->store.reshard.rate_set;
		uint64_t was = c->store.reshard.rate;

		c->store.reshard.rate_set = 1;
		c->store.reshard.rate = (uint64_t)rate;
		if (save_settings(c, err, errlen) < 0) {
			c->store.reshard.rate_set = was_set;
			c->store.reshard.rate = was;
			return NULL;
		}
		cat_ctl_node_send_rate(c, NULL);
		cat_ctl_event(c, "state transfer rate set to %lld bytes/s per worker (operator)",
			      (long long)rate);
		return json_pack("{s:I}", "bytes_per_s", rate);
	}
	snprintf(err, errlen, "unknown reshard command");
	return NULL;
}
