/*
 * catena-control's repair and background verify (control/repair.h). A
 * repair is made of map changes the chain engine already survives: the
 * replica leaves its chain (one epoch; it drops its copy of the chain's
 * slots), then joins it again (the next; the tail streams it every slot of
 * the chain, as for any joiner), and the policy hands it over once it
 * caught up. One replica at a time, so a chain loses at most one replica
 * to repair at once. Runs on the control loop; never blocks.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "control/ctl.h"
#include "control/mgmt.h"
#include "control/planner.h"
#include "control/policy.h"
#include "control/repair.h"
#include "control/verify.h"

/* The (version, digest) the chain agrees on for one slot, and the index
 * of each member that holds it differently at that version. */
static unsigned int odd_members(unsigned int live, const uint64_t *ver,
				const uint64_t *dig, unsigned int *odd)
{
	unsigned int t = live - 1, n_odd = 0, best = 0, best_n = 0;
	uint64_t ref = dig[t];

	/* A strict majority at the tail's version with another digest
	 * outvotes the tail (the tail is then the odd one). */
	for (unsigned int i = 0; i < live; i++) {
		unsigned int n = 0;

		if (ver[i] != ver[t] || dig[i] == dig[t])
			continue;
		for (unsigned int j = 0; j < live; j++)
			n += ver[j] == ver[t] && dig[j] == dig[i];
		if (n > best_n) {
			best = i;
			best_n = n;
		}
	}
	if (2 * best_n > live)
		ref = dig[best];
	for (unsigned int i = 0; i < live; i++)
		if (ver[i] == ver[t] && dig[i] != ref)
			odd[n_odd++] = i;
	return n_odd;
}

static void add_fix(struct cat_ctl_fix *out, unsigned int cap, unsigned int *n,
		    uint16_t chain, uint16_t node)
{
	for (unsigned int i = 0; i < *n; i++)
		if (out[i].chain == chain && out[i].node == node) {
			out[i].slots++;
			return;
		}
	if (*n < cap)
		out[(*n)++] = (struct cat_ctl_fix){ chain, node, 1 };
}

unsigned int cat_ctl_repair_plan(const struct cat_map *m,
				 const struct cat_ctl_verify *v, uint32_t first,
				 uint32_t last, struct cat_ctl_fix *out,
				 unsigned int cap, uint32_t *n_slots,
				 uint32_t *n_checked)
{
	unsigned int n = 0;

	*n_slots = *n_checked = 0;
	for (uint32_t s = first; s < m->slot_count && s <= last; s++) {
		const struct cat_map_chain *ch = cat_map_slot_chain(m, s);
		uint64_t ver[CAT_MAP_CHAIN_LEN_MAX], dig[CAT_MAP_CHAIN_LEN_MAX];
		uint16_t who[CAT_MAP_CHAIN_LEN_MAX];
		unsigned int odd[CAT_MAP_CHAIN_LEN_MAX], live, n_odd;

		live = cat_ctl_verify_replicas(v, ch, s, ver, dig, who);
		if (live == 0)
			continue;
		(*n_checked)++;
		n_odd = live > 1 ? odd_members(live, ver, dig, odd) : 0;
		if (n_odd == 0)
			continue;
		(*n_slots)++;
		for (unsigned int i = 0; i < n_odd; i++)
			add_fix(out, cap, &n, ch->id, who[odd[i]]);
	}
	return n;
}

static void fixes_text(char *buf, size_t cap, const struct cat_ctl_fix *f,
		       unsigned int n)
{
	size_t len = 0;

	buf[0] = '\0';
	for (unsigned int i = 0; i < n && len < cap; i++) {
		int w = snprintf(buf + len, cap - len, "%snode %u in chain %u (%u slots)",
				 i ? ", " : "", f[i].node, f[i].chain, f[i].slots);

		if (w > 0)
			len += (size_t)w;
	}
}

static json_t *fixes_json(const struct cat_ctl_fix *f, unsigned int n)
{
	json_t *a = json_array();

	for (unsigned int i = 0; i < n; i++)
		json_array_append_new(a, json_pack("{s:I,s:I,s:I}",
			"chain", (json_int_t)f[i].chain, "node", (json_int_t)f[i].node,
			"slots", (json_int_t)f[i].slots));
	return a;
}

static int queued_already(const struct cat_ctl_repair *r, const struct cat_ctl_fix *f)
{
	if (r->stage != CAT_CTL_REPAIR_IDLE && r->cur.chain == f->chain &&
	    r->cur.node == f->node)
		return 1;
	for (unsigned int i = 0; i < r->n_queued; i++)
		if (r->queued[i].chain == f->chain && r->queued[i].node == f->node)
			return 1;
	return 0;
}

void cat_ctl_repair_start(struct cat_ctl *c, struct cat_ctl_conn *conn,
			  uint32_t first, uint32_t last)
{
	int rc = cat_ctl_verify_begin(c, CAT_CTL_VERIFY_FOR_REPAIR, conn, first,
				      last);

	if (rc == -EBUSY)
		cat_ctl_mgmt_reply_err(conn, "repair: %u verify requests already running",
				       CAT_CTL_VERIFY_MAX);
	else if (rc < 0)
		cat_ctl_mgmt_reply_err(conn, "repair: no node is up");
}

/* The nodes asked that did not answer in time, as text ("" if none). */
static int missing_text(const struct cat_ctl_verify *v, char *buf, size_t cap)
{
	uint16_t missing[CAT_MAP_NODES_MAX] = { 0 };
	unsigned int n = 0;

	for (uint16_t i = 0; i < v->n_asked; i++)
		if (!v->answered[i])
			missing[n++] = v->asked[i];
	cat_ctl_list_ids(buf, cap, missing, n);
	return n > 0;
}

static void background_done(struct cat_ctl *c, const struct cat_ctl_verify *v,
			    uint64_t now)
{
	struct cat_ctl_repair *r = &c->repair;
	struct cat_ctl_fix fix[CAT_CTL_REPAIR_MAX];
	uint32_t n_slots, checked;
	unsigned int n;
	char list[200], text[200];

	r->bg_runs++;
	r->bg_last_ms = now;
	if (missing_text(v, list, sizeof(list))) {
		snprintf(r->bg_text, sizeof(r->bg_text),
			 "incomplete: no digests from nodes %s", list);
		return;
	}
	n = cat_ctl_repair_plan(c->map, v, 0, UINT32_MAX, fix, CAT_CTL_REPAIR_MAX,
				&n_slots, &checked);
	r->bg_differ = n_slots;
	r->bg_slots_checked = checked;
	if (n_slots == 0) {
		snprintf(r->bg_text, sizeof(r->bg_text),
			 "%u slots checked, replicas agree", checked);
		return;
	}
	r->bg_found++;
	fixes_text(text, sizeof(text), fix, n);
	snprintf(r->bg_text, sizeof(r->bg_text), "%u of %u slots differ: %s",
		 n_slots, checked, text);
	cat_ctl_event(c, "background verify: %u slots differ across replicas (%s): `catenactl repair` re-copies them from their chains",
		      n_slots, text);
}

void cat_ctl_repair_verified(struct cat_ctl *c, const struct cat_ctl_verify *v,
			     struct cat_ctl_conn *conn)
{
	struct cat_ctl_repair *r = &c->repair;
	struct cat_ctl_fix fix[CAT_CTL_REPAIR_MAX];
	uint32_t n_slots, checked;
	unsigned int n, added = 0;
	char list[200], text[400];

	if (v->purpose == CAT_CTL_VERIFY_FOR_BACKGROUND) {
		background_done(c, v, cat_ctl_now_ms());
		return;
	}
	if (missing_text(v, list, sizeof(list))) {
		if (conn != NULL)
			cat_ctl_mgmt_reply_err(conn, "repair: no digests within %u ms from nodes %s: nothing repaired",
					       CAT_CTL_VERIFY_MS, list);
		return;
	}
	n = cat_ctl_repair_plan(c->map, v, v->first, v->last, fix,
				CAT_CTL_REPAIR_MAX, &n_slots, &checked);
	for (unsigned int i = 0; i < n; i++) {
		if (queued_already(r, &fix[i]) || r->n_queued == CAT_CTL_REPAIR_MAX)
			continue;
		r->queued[r->n_queued++] = fix[i];
		added++;
	}
	if (n > 0) {
		fixes_text(text, sizeof(text), fix, n);
		cat_ctl_event(c, "repair (operator): %u slots differ; queued %s",
			      n_slots, text);
	}
	if (conn != NULL)
		cat_ctl_mgmt_reply_ok(conn, json_pack("{s:I,s:I,s:I,s:o,s:I}",
			"epoch", (json_int_t)c->map->epoch,
			"slots_checked", (json_int_t)checked,
			"differ_count", (json_int_t)n_slots,
			"repairs", fixes_json(fix, n),
			"queued", (json_int_t)(r->n_queued + (r->stage != CAT_CTL_REPAIR_IDLE))));
}

/* Start the next queued repair: the replica leaves its chain. A chain
 * that is joining, moving or down to its last member waits; a replica no
 * longer in the chain is dropped from the queue. 1 if the map changed. */
static int repair_begin(struct cat_ctl *c, uint64_t now)
{
	struct cat_ctl_repair *r = &c->repair;

	for (unsigned int i = 0; i < r->n_queued; i++) {
		struct cat_ctl_fix f = r->queued[i];
		int ci = cat_ctl_plan_chain_index(c->map, f.chain);
		const struct cat_map_chain *ch = ci >= 0 ? &c->map->chains[ci] : NULL;
		struct cat_map *next = NULL;
		char err[256], why[300];

		if (ch == NULL || cat_map_chain_pos(ch, f.node) < 0) {
			cat_ctl_event(c, "repair: node %u is no longer in chain %u: nothing to repair there",
				      f.node, f.chain);
		} else if (ch->joining != 0 || ch->move_to != 0 || ch->len < 2) {
			continue; /* later */
		} else if (cat_ctl_plan_chain_drop_node(c->map, f.chain, f.node, &next,
							err, sizeof(err)) < 0) {
			cat_ctl_event(c, "repair of node %u in chain %u refused: %s",
				      f.node, f.chain, err);
		} else {
			snprintf(why, sizeof(why),
				 "repair: node %u leaves chain %u (its copy of %u slots differs from the chain's); it rejoins by state transfer",
				 f.node, f.chain, f.slots);
			memmove(&r->queued[i], &r->queued[i + 1],
				(r->n_queued - i - 1) * sizeof(r->queued[0]));
			r->n_queued--;
			if (cat_ctl_commit_or_say(c, next, why) < 0)
				return 1;
			r->cur = f;
			r->cur_started_ms = now;
			r->stage = CAT_CTL_REPAIR_LEFT;
			return 1;
		}
		memmove(&r->queued[i], &r->queued[i + 1],
			(r->n_queued - i - 1) * sizeof(r->queued[0]));
		r->n_queued--;
		i--;
	}
	return 0;
}

/* The replica left: it joins again once it can take the stream (the
 * restore policy may have given the chain a joiner first: then that
 * join is the repair's). 1 if the map changed. */
static int repair_join(struct cat_ctl *c)
{
	struct cat_ctl_repair *r = &c->repair;
	int ci = cat_ctl_plan_chain_index(c->map, r->cur.chain);
	const struct cat_map_chain *ch = ci >= 0 ? &c->map->chains[ci] : NULL;
	const struct cat_ctl_node *n = cat_ctl_node(c, r->cur.node);
	struct cat_map *next = NULL;
	char err[256], why[200];

	if (ch == NULL) {
		r->stage = CAT_CTL_REPAIR_IDLE;
		return 0;
	}
	if (ch->joining != 0 || cat_map_chain_pos(ch, r->cur.node) >= 0) {
		r->stage = CAT_CTL_REPAIR_JOINING;
		return 0;
	}
	if (n == NULL || n->conn == NULL || n->epoch != c->map->epoch ||
	    (n->state != CAT_CTL_NODE_UP && n->state != CAT_CTL_NODE_RETURNED))
		return 0;
	if (cat_ctl_plan_join(c->map, r->cur.chain, r->cur.node, &next, err,
			      sizeof(err)) < 0) {
		cat_ctl_event(c, "repair: node %u cannot rejoin chain %u: %s",
			      r->cur.node, r->cur.chain, err);
		r->stage = CAT_CTL_REPAIR_IDLE;
		return 0;
	}
	snprintf(why, sizeof(why),
		 "repair: node %u rejoins chain %u (state transfer from its tail, node %u)",
		 r->cur.node, r->cur.chain, cat_map_chain_tail(ch));
	if (cat_ctl_commit_or_say(c, next, why) == 0)
		r->stage = CAT_CTL_REPAIR_JOINING;
	return 1;
}

static void repair_check_done(struct cat_ctl *c, uint64_t now)
{
	struct cat_ctl_repair *r = &c->repair;
	int ci = cat_ctl_plan_chain_index(c->map, r->cur.chain);
	const struct cat_map_chain *ch = ci >= 0 ? &c->map->chains[ci] : NULL;

	if (ch != NULL && ch->joining != 0)
		return;
	r->stage = CAT_CTL_REPAIR_IDLE;
	r->repaired++;
	cat_ctl_event(c, "repair: chain %u has a fresh copy on node %u (%.1f s)%s",
		      r->cur.chain, r->cur.node,
		      (double)(now - r->cur_started_ms) / 1000.0,
		      ch != NULL && cat_map_chain_pos(ch, r->cur.node) < 0 ?
		      "; the node itself is not back in it (it failed meanwhile?)" : "");
}

static void background_timer(struct cat_ctl *c, uint64_t now)
{
	struct cat_ctl_repair *r = &c->repair;
	uint32_t every = c->cfg.verify_interval_s;

	if (every == 0)
		return;
	if (r->next_bg_ms == 0)
		r->next_bg_ms = now + (uint64_t)every * 1000;
	/* Not while a repair runs: its replica is away on purpose. */
	if (now < r->next_bg_ms || r->stage != CAT_CTL_REPAIR_IDLE ||
	    cat_ctl_verify_running(c, CAT_CTL_VERIFY_FOR_BACKGROUND))
		return;
	r->next_bg_ms = now + (uint64_t)every * 1000;
	if (cat_ctl_verify_begin(c, CAT_CTL_VERIFY_FOR_BACKGROUND, NULL, 0,
				 UINT32_MAX) < 0)
		snprintf(r->bg_text, sizeof(r->bg_text),
			 "skipped at %llu s: no node up or verify slots busy",
			 (unsigned long long)((now - c->start_ms) / 1000));
}

int cat_ctl_repair_tick(struct cat_ctl *c, uint64_t now_ms)
{
	struct cat_ctl_repair *r = &c->repair;

	if (c->map == NULL)
		return 0;
	background_timer(c, now_ms);
	switch (r->stage) {
	case CAT_CTL_REPAIR_IDLE:
		return r->n_queued > 0 ? repair_begin(c, now_ms) : 0;
	case CAT_CTL_REPAIR_LEFT:
		return repair_join(c);
	case CAT_CTL_REPAIR_JOINING:
		repair_check_done(c, now_ms);
		return 0;
	}
	return 0;
}
