/*
 * Unit tests for control/policy.c, the decisions catena-control and
 * catena-sim share: a hand-over only when the tail reports every slot of
 * the chain caught up at this epoch, a restore with the node in the
 * fewest chains that can take the stream, a move's step only once its
 * chain is settled, and which nodes the failure detector times or finds
 * cut off from the data network.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "control/policy.h"
#include "replication/map.h"

/* Chain 1 (nodes 1 2, node 3 joining) holds the even slots, chain 2
 * (nodes 2 1) the odd ones; node 4 is a spare. */
static const char joining[] =
	"epoch 5\nslots 8\ncraq off\n"
	"node 1 10.99.0.1 02:ca:7e:00:00:01\n"
	"node 2 10.99.0.2 02:ca:7e:00:00:02\n"
	"node 3 10.99.0.3 02:ca:7e:00:00:03\n"
	"node 4 10.99.0.4 02:ca:7e:00:00:04\n"
	"chain 1 1 2\nchain 2 2 1\njoin 1 3\n"
	"assign all roundrobin\n";

struct fx {
	struct cat_map *map;
	struct cat_ctl_pnode nodes[4];
	struct cat_ctl_xfer xfer[4][4];
	struct cat_ctl_view v;
	char noted[400];
	int n_noted;
};

static struct cat_map *parse_ok(const char *text)
{
	struct cat_map *m = NULL;
	char err[256] = "";

	if (cat_map_parse(text, strlen(text), &m, err, sizeof(err)) != 0)
		fail_msg("parse: %s", err);
	return m;
}

static void noted(void *arg, const char *text)
{
	struct fx *f = arg;

	snprintf(f->noted, sizeof(f->noted), "%s", text);
	f->n_noted++;
}

/* Every node up, connected, heard, on the map's epoch, reporting nothing. */
static struct fx *fx_new(const char *text, uint32_t rf, int restore)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->map = parse_ok(text);
	for (uint16_t i = 0; i < f->map->n_nodes; i++)
		f->nodes[i] = (struct cat_ctl_pnode){
			.id = f->map->nodes[i].id, .state = CAT_CTL_NODE_UP,
			.connected = 1, .heard = 1, .epoch = f->map->epoch,
			.xfer_epoch = f->map->epoch, .xfer = f->xfer[i],
			.last_hb_ms = 1000, .hello_ms = 1, .heard_by_ms = 1000,
		};
	f->v = (struct cat_ctl_view){
		.map = f->map, .n_nodes = f->map->n_nodes, .nodes = f->nodes,
		.rf = rf, .restore = (uint8_t)restore, .note = noted,
		.note_arg = f,
	};
	return f;
}

static void fx_free(struct fx *f)
{
	cat_map_free(f->map);
	free(f);
}

/* Node id reports on chain for joiner: slots streamed, caught up. */
static struct cat_ctl_xfer *report(struct fx *f, uint16_t id, uint16_t chain,
				   uint16_t joiner, uint32_t slots,
				   uint32_t caught_up)
{
	struct cat_ctl_pnode *p = &f->nodes[id - 1];
	struct cat_ctl_xfer *x = &f->xfer[id - 1][p->n_xfer++];

	*x = (struct cat_ctl_xfer){
		.chain = chain, .joiner = joiner, .epoch = f->map->epoch,
		.chain_slots = 4, .slots = slots, .caught_up = caught_up,
		.keys = 11, .bytes = 222,
	};
	return x;
}

static const struct cat_map_chain *chain(const struct cat_map *m, uint16_t id)
{
	int ci = cat_ctl_plan_chain_index(m, id);

	assert_true(ci >= 0);
	return &m->chains[ci];
}

static void handover_waits_for_every_slot(void **state)
{
	struct fx *f = fx_new(joining, 2, 0);
	struct cat_ctl_step st;
	struct cat_ctl_xfer *x;

	(void)state;
	assert_int_equal(cat_ctl_policy_rejoin(&f->v, &st), 0);
	x = report(f, 2, 1, 3, 4, 3);  /* node 2 is chain 1's tail */
	assert_int_equal(cat_ctl_policy_rejoin(&f->v, &st), 0);
	x->caught_up = 4;
	x->slots = 3;                   /* one slot not streamed by it */
	assert_int_equal(cat_ctl_policy_rejoin(&f->v, &st), 0);
	x->slots = 4;
	x->epoch = 4;                   /* a report of the last map */
	assert_int_equal(cat_ctl_policy_rejoin(&f->v, &st), 0);
	x->epoch = 5;
	x->joiner = 4;                  /* about another join */
	assert_int_equal(cat_ctl_policy_rejoin(&f->v, &st), 0);
	x->joiner = 3;
	f->nodes[1].state = CAT_CTL_NODE_DRAINED; /* the tail is not up */
	assert_int_equal(cat_ctl_policy_rejoin(&f->v, &st), 0);
	f->nodes[1].state = CAT_CTL_NODE_UP;

	assert_int_equal(cat_ctl_policy_rejoin(&f->v, &st), 1);
	assert_int_equal(st.kind, CAT_CTL_STEP_HANDOVER);
	assert_int_equal(st.chain, 1);
	assert_int_equal(st.node, 3);
	assert_int_equal(st.tail, 2);
	assert_int_equal(st.keys, 11);
	assert_int_equal(st.bytes, 222);
	assert_int_equal(st.was_move, 0);
	assert_int_equal(st.next->epoch, 6);
	assert_int_equal(chain(st.next, 1)->len, 3);
	assert_int_equal(cat_map_chain_tail(chain(st.next, 1)), 3);
	assert_int_equal(chain(st.next, 1)->joining, 0);
	cat_map_free(st.next);
	fx_free(f);
}

static void handover_of_a_chain_without_slots_needs_no_report(void **state)
{
	static const char text[] =
		"epoch 5\nslots 4\ncraq off\n"
		"node 1 10.99.0.1 02:ca:7e:00:00:01\n"
		"node 2 10.99.0.2 02:ca:7e:00:00:02\n"
		"node 3 10.99.0.3 02:ca:7e:00:00:03\n"
		"chain 1 1 2\nchain 2 2 1\njoin 2 3\n"
		"assign 0-3 1\n";
	struct fx *f = fx_new(text, 2, 0);
	struct cat_ctl_step st;

	(void)state;
	assert_int_equal(cat_ctl_policy_rejoin(&f->v, &st), 1);
	assert_int_equal(st.kind, CAT_CTL_STEP_HANDOVER);
	assert_int_equal(st.chain, 2);
	assert_int_equal(st.keys, 0);
	cat_map_free(st.next);
	fx_free(f);
}

static void restore_picks_a_node_that_can_take_the_stream(void **state)
{
	static const char text[] =
		"epoch 5\nslots 8\ncraq off\n"
		"node 1 10.99.0.1 02:ca:7e:00:00:01\n"
		"node 2 10.99.0.2 02:ca:7e:00:00:02\n"
		"node 3 10.99.0.3 02:ca:7e:00:00:03\n"
		"node 4 10.99.0.4 02:ca:7e:00:00:04\n"
		"chain 1 1 2\nchain 2 2 3 4\n"
		"assign all roundrobin\n";
	struct fx *f = fx_new(text, 3, 1);
	struct cat_ctl_step st;

	(void)state;
	/* Nodes 3 and 4 are in one chain each: 3 comes first. Each way of
	 * not being able to take a stream rules it out in turn. */
	f->nodes[2].connected = 0;
	f->nodes[3].heard = 0;
	assert_int_equal(cat_ctl_policy_rejoin(&f->v, &st), 0);
	f->nodes[3].heard = 1;
	f->nodes[3].epoch = 4;
	assert_int_equal(cat_ctl_policy_rejoin(&f->v, &st), 0);
	f->nodes[3].epoch = 5;
	f->nodes[3].state = CAT_CTL_NODE_DRAINED;
	assert_int_equal(cat_ctl_policy_rejoin(&f->v, &st), 0);
	f->nodes[3].state = CAT_CTL_NODE_RETURNED; /* back: may join */
	assert_int_equal(cat_ctl_policy_rejoin(&f->v, &st), 1);
	assert_int_equal(st.kind, CAT_CTL_STEP_RESTORE);
	assert_int_equal(st.chain, 1);
	assert_int_equal(st.node, 4);
	assert_int_equal(st.len, 2);
	assert_int_equal(st.tail, 2);
	assert_int_equal(chain(st.next, 1)->joining, 4);
	cat_map_free(st.next);

	f->nodes[2].connected = 1;
	assert_int_equal(cat_ctl_policy_rejoin(&f->v, &st), 1);
	assert_int_equal(st.node, 3);
	cat_map_free(st.next);

	/* At the replication factor, or with restore off: nothing. */
	f->v.rf = 2;
	assert_int_equal(cat_ctl_policy_rejoin(&f->v, &st), 0);
	f->v.rf = 3;
	f->v.restore = 0;
	assert_int_equal(cat_ctl_policy_rejoin(&f->v, &st), 0);
	fx_free(f);
}

/* Chain 1 (1 2) moves its slots to chain 2 (3 4) through chain 60000. */
static struct fx *moving(void)
{
	static const char text[] =
		"epoch 5\nslots 8\ncraq off\n"
		"node 1 10.99.0.1 02:ca:7e:00:00:01\n"
		"node 2 10.99.0.2 02:ca:7e:00:00:02\n"
		"node 3 10.99.0.3 02:ca:7e:00:00:03\n"
		"node 4 10.99.0.4 02:ca:7e:00:00:04\n"
		"chain 1 1 2\nchain 2 3 4\nchain 60000 1 2\n"
		"move 60000 2 1\n"
		"assign 0-3 60000\nassign 4-7 2\n";

	return fx_new(text, 2, 0);
}

static void move_steps_only_when_settled(void **state)
{
	struct fx *f = moving();
	struct cat_ctl_step st;
	struct cat_ctl_xfer *x;

	(void)state;
	f->nodes[0].xfer_epoch = 4;      /* node 1 reported the last map */
	assert_int_equal(cat_ctl_policy_settled(&f->v, 2), 0);
	assert_int_equal(cat_ctl_policy_move(&f->v, 60000, &st), 0);
	f->nodes[0].xfer_epoch = 5;
	x = report(f, 2, 60000, 0, 0, 0);
	x->held = 1;                     /* a new tail still syncing */
	assert_int_equal(cat_ctl_policy_move(&f->v, 60000, &st), 0);
	x->held = 0;
	assert_int_equal(cat_ctl_policy_settled(&f->v, 2), 1);
	/* Node 3 joins first, only when it can take the stream. */
	f->nodes[2].connected = 0;
	assert_int_equal(cat_ctl_policy_move(&f->v, 60000, &st), 0);
	f->nodes[2].connected = 1;
	f->v.paused = 1;
	assert_int_equal(cat_ctl_policy_move(&f->v, 60000, &st), 0);
	f->v.paused = 0;
	assert_int_equal(cat_ctl_policy_move(&f->v, 60000, &st), 1);
	assert_int_equal(st.kind, CAT_CTL_STEP_MOVE_JOIN);
	assert_int_equal(st.chain, 60000);
	assert_int_equal(st.node, 3);
	assert_int_equal(chain(st.next, 60000)->joining, 3);
	cat_map_free(st.next);
	assert_int_equal(cat_ctl_policy_move(&f->v, 1, &st), 0); /* no move */
	assert_int_equal(f->n_noted, 0);
	fx_free(f);
}

/* The map a step made is in force, and every node runs it. */
static void adopt(struct fx *f, struct cat_map *m)
{
	cat_map_free(f->map);
	f->map = m;
	f->v.map = m;
	for (uint16_t i = 0; i < f->v.n_nodes; i++)
		f->nodes[i].epoch = f->nodes[i].xfer_epoch = m->epoch;
}

static void move_of_a_finished_chain_leaves_and_finishes(void **state)
{
	static const char text[] =
		"epoch 9\nslots 8\ncraq off\n"
		"node 1 10.99.0.1 02:ca:7e:00:00:01\n"
		"node 2 10.99.0.2 02:ca:7e:00:00:02\n"
		"node 3 10.99.0.3 02:ca:7e:00:00:03\n"
		"node 4 10.99.0.4 02:ca:7e:00:00:04\n"
		"chain 1 1 2\nchain 2 3 4\nchain 60000 1 2 3 4\n"
		"move 60000 2 1\n"
		"assign 0-3 60000\nassign 4-7 2\n";
	struct fx *f = fx_new(text, 2, 0);
	struct cat_ctl_step st;
	struct cat_map *m;

	(void)state;
	assert_int_equal(cat_ctl_policy_move(&f->v, 60000, &st), 1);
	assert_int_equal(st.kind, CAT_CTL_STEP_MOVE_LEAVE);
	assert_true(st.node == 1 || st.node == 2);
	m = st.next;
	assert_int_equal(cat_map_chain_pos(chain(m, 60000), st.node), -1);
	/* One more leave, then the slots go to chain 2. */
	adopt(f, m);
	assert_int_equal(cat_ctl_policy_move(&f->v, 60000, &st), 1);
	assert_int_equal(st.kind, CAT_CTL_STEP_MOVE_LEAVE);
	adopt(f, st.next);
	assert_int_equal(cat_ctl_policy_move(&f->v, 60000, &st), 1);
	assert_int_equal(st.kind, CAT_CTL_STEP_MOVE_FINISH);
	assert_int_equal(cat_ctl_plan_chain_index(st.next, 60000), -1);
	for (uint32_t s = 0; s < 8; s++)
		assert_int_equal(st.next->chains[st.next->slot_chain[s]].id, 2);
	cat_map_free(st.next);
	fx_free(f);
}

static void drained_members_are_timed(void **state)
{
	static const char text[] =
		"epoch 5\nslots 8\ncraq off\n"
		"node 1 10.99.0.1 02:ca:7e:00:00:01\n"
		"node 2 10.99.0.2 02:ca:7e:00:00:02\n"
		"node 3 10.99.0.3 02:ca:7e:00:00:03\n"
		"node 4 10.99.0.4 02:ca:7e:00:00:04\n"
		"chain 1 1 2 3\n"
		"assign all roundrobin\n";
	struct fx *f = fx_new(text, 3, 0);

	(void)state;
	assert_true(cat_ctl_policy_timed(&f->v, &f->nodes[0]));
	f->nodes[0].state = CAT_CTL_NODE_RETURNED;
	assert_true(cat_ctl_policy_timed(&f->v, &f->nodes[0]));
	/* A drained node a chain still holds (it joined again) is timed;
	 * a drained spare, a failed or a new node is not. */
	f->nodes[1].state = CAT_CTL_NODE_DRAINED;
	assert_true(cat_ctl_policy_timed(&f->v, &f->nodes[1]));
	f->nodes[1].last_hb_ms = 0;  /* never heard since start */
	assert_false(cat_ctl_policy_timed(&f->v, &f->nodes[1]));
	f->nodes[3].state = CAT_CTL_NODE_DRAINED;
	assert_false(cat_ctl_policy_timed(&f->v, &f->nodes[3]));
	f->nodes[2].state = CAT_CTL_NODE_FAILED;
	assert_false(cat_ctl_policy_timed(&f->v, &f->nodes[2]));
	f->nodes[2].state = CAT_CTL_NODE_NEW;
	assert_false(cat_ctl_policy_timed(&f->v, &f->nodes[2]));
	fx_free(f);
}

static void a_member_nobody_hears_is_cut_off(void **state)
{
	struct fx *f = fx_new(joining, 2, 0);
	const uint32_t to = 1000;

	(void)state;
	f->nodes[0].heard_by_ms = 500;   /* node 1: not heard since 500 */
	for (int i = 1; i < 4; i++)
		f->nodes[i].heard_by_ms = 2400;
	/* Nobody reports what it hears: nothing to go by. */
	assert_int_equal(cat_ctl_policy_unheard(&f->v, 0, 2500, 0, to), 0);
	/* The map has not been in force for the timeout yet. */
	assert_int_equal(cat_ctl_policy_unheard(&f->v, 1, 2500, 1600, to), 0);
	assert_int_equal(cat_ctl_policy_unheard(&f->v, 1, 2500, 0, to), 1);
	/* It said hello lately: its time starts there. */
	f->nodes[0].hello_ms = 2000;
	assert_int_equal(cat_ctl_policy_unheard(&f->v, 1, 2500, 0, to), 0);
	f->nodes[0].hello_ms = 1;
	/* No other node heard either: the data network itself is out. */
	for (int i = 1; i < 4; i++)
		f->nodes[i].heard_by_ms = 1000;
	assert_int_equal(cat_ctl_policy_unheard(&f->v, 1, 2500, 0, to), 0);
	/* A spare nobody hears is in no chain: not failed for it. */
	for (int i = 0; i < 3; i++)
		f->nodes[i].heard_by_ms = 2400;
	f->nodes[3].heard_by_ms = 0;
	assert_int_equal(cat_ctl_policy_unheard(&f->v, 1, 2500, 0, to), 0);
	/* The joiner of a chain is a member for this. */
	f->nodes[2].heard_by_ms = 0;
	assert_int_equal(cat_ctl_policy_unheard(&f->v, 1, 2500, 0, to), 3);
	fx_free(f);
}

static void report_lookup(void **state)
{
	struct fx *f = fx_new(joining, 2, 0);

	(void)state;
	report(f, 2, 1, 3, 4, 4);
	report(f, 2, 2, 0, 0, 0);
	assert_non_null(cat_ctl_policy_report(&f->v, 2, 1, 3, 5));
	assert_null(cat_ctl_policy_report(&f->v, 2, 1, 3, 6));
	assert_null(cat_ctl_policy_report(&f->v, 2, 1, 4, UINT32_MAX));
	assert_non_null(cat_ctl_policy_report(&f->v, 2, 2, UINT16_MAX, UINT32_MAX));
	assert_null(cat_ctl_policy_report(&f->v, 1, 1, UINT16_MAX, UINT32_MAX));
	assert_null(cat_ctl_policy_report(&f->v, 9, 1, UINT16_MAX, UINT32_MAX));
	assert_null(cat_ctl_policy_node(&f->v, 9));
	fx_free(f);
}

/* Chain 1 lost every replica but node 3 (kept); chain 2 (node 4) is
 * whole. Slots 0 2 4 6 are chain 1's. */
static const char lost[] =
	"epoch 9\nslots 8\ncraq off\n"
	"node 1 10.99.0.1 02:ca:7e:00:00:01\n"
	"node 2 10.99.0.2 02:ca:7e:00:00:02\n"
	"node 3 10.99.0.3 02:ca:7e:00:00:03\n"
	"node 4 10.99.0.4 02:ca:7e:00:00:04\n"
	"chain 1 3\nchain 2 4\n"
	"assign all roundrobin\n";

static void durable(struct fx *f, uint16_t id, const uint64_t *v)
{
	f->nodes[id - 1].durable = CAT_CTL_DURABLE_DONE;
	f->nodes[id - 1].dver = v;
}

static void rebuild_source_is_the_most_advanced_log(void **state)
{
	/* By slot 0..7: only the even ones are chain 1's. */
	static const uint64_t empty[8] = { 0 };
	static const uint64_t full[8] = { 9, 99, 7, 99, 5, 99, 3, 99 };
	static const uint64_t shorter[8] = { 9, 0, 6, 0, 5, 0, 1, 0 };
	static const uint64_t mixed[8] = { 10, 0, 1, 0, 1, 0, 1, 0 };
	struct fx *f = fx_new(lost, 3, 1);
	struct cat_ctl_rebuild_pick r;

	(void)state;
	/* Nobody reported: no source. */
	cat_ctl_policy_rebuild_source(&f->v, 0, 3, &r);
	assert_int_equal(r.node, 0);
	assert_int_equal(r.candidates, 0);
	assert_int_equal(r.slots, 4);

	/* The kept node lost its disk; node 1 has it all, node 2 less. The
	 * odd slots (chain 2's) do not count, however high. */
	durable(f, 3, empty);
	durable(f, 1, full);
	durable(f, 2, shorter);
	durable(f, 4, full);
	f->nodes[3].connected = 0;  /* node 4 is away: not a candidate */
	cat_ctl_policy_rebuild_source(&f->v, 0, 3, &r);
	assert_int_equal(r.node, 1);
	assert_int_equal(r.candidates, 3);
	assert_int_equal(r.at_newest, 4);
	assert_int_equal(r.with_data, 4);
	assert_int_equal(r.kept_at_newest, 0);
	assert_int_equal(r.source_sum, 24);

	/* A tie on every slot goes to the kept node, not the lower id. */
	durable(f, 3, full);
	cat_ctl_policy_rebuild_source(&f->v, 0, 3, &r);
	assert_int_equal(r.node, 3);
	assert_int_equal(r.kept_at_newest, 4);

	/* Newest in more slots beats a higher sum in fewer. */
	durable(f, 3, empty);
	durable(f, 1, mixed);   /* newest in slot 0 only, sum 13 */
	cat_ctl_policy_rebuild_source(&f->v, 0, 3, &r);
	assert_int_equal(r.node, 2); /* newest in slots 2 4 6; node 1 in 0 6 */
	assert_int_equal(r.at_newest, 3); /* slots 2, 4, 6 */

	/* A node still sending its versions, or not connected, is none. */
	f->nodes[1].durable = CAT_CTL_DURABLE_REPORTING;
	f->nodes[0].connected = 0;
	cat_ctl_policy_rebuild_source(&f->v, 0, 3, &r);
	assert_int_equal(r.node, 3);
	assert_int_equal(r.candidates, 1);
	assert_int_equal(r.with_data, 0);
	fx_free(f);
}

static void no_joiner_for_a_chain_whose_tail_is_down_or_rebuilding(void **state)
{
	struct fx *f = fx_new(lost, 2, 1);
	struct cat_ctl_step st;
	uint8_t rebuilding[2] = { 0, 0 };

	(void)state;
	f->nodes[0].state = CAT_CTL_NODE_RETURNED;
	/* Chain 1's only member is down: nobody can stream it anything. */
	f->nodes[2].state = CAT_CTL_NODE_FAILED;
	f->nodes[3].state = CAT_CTL_NODE_FAILED;
	assert_int_equal(cat_ctl_policy_rejoin(&f->v, &st), 0);
	/* Back, but held while the chain waits to be rebuilt. */
	f->nodes[2].state = CAT_CTL_NODE_UP;
	f->nodes[2].held = 1;
	rebuilding[0] = 1;
	f->v.rebuilding = rebuilding;
	assert_int_equal(cat_ctl_policy_rejoin(&f->v, &st), 0);
	/* Rebuilt: node 1 joins it. */
	rebuilding[0] = 0;
	f->nodes[2].held = 0;
	assert_int_equal(cat_ctl_policy_rejoin(&f->v, &st), 1);
	assert_int_equal(st.chain, 1);
	assert_int_equal(st.node, 1);
	cat_map_free(st.next);
	fx_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(handover_waits_for_every_slot),
		cmocka_unit_test(handover_of_a_chain_without_slots_needs_no_report),
		cmocka_unit_test(restore_picks_a_node_that_can_take_the_stream),
		cmocka_unit_test(move_steps_only_when_settled),
		cmocka_unit_test(move_of_a_finished_chain_leaves_and_finishes),
		cmocka_unit_test(drained_members_are_timed),
		cmocka_unit_test(a_member_nobody_hears_is_cut_off),
		cmocka_unit_test(report_lookup),
		cmocka_unit_test(rebuild_source_is_the_most_advanced_log),
		cmocka_unit_test(no_joiner_for_a_chain_whose_tail_is_down_or_rebuilding),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
