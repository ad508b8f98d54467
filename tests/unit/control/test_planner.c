/*
 * Unit tests for control/planner.c: removing a failed node from the head,
 * middle and tail of chains, from several chains at once, never emptying a
 * chain, epoch increments, forgetting and adding nodes, validation, and
 * that every result parses back to itself (format/parse round trip).
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

#include "control/planner.h"
#include "replication/map.h"

static const char three_chains[] =
	"epoch 7\nslots 64\ncraq off\n"
	"node 1 10.99.0.1 02:ca:7e:00:00:01\n"
	"node 2 10.99.0.2 02:ca:7e:00:00:02\n"
	"node 3 10.99.0.3 02:ca:7e:00:00:03\n"
	"chain 1 1 2 3\nchain 2 2 3 1\nchain 3 3 1 2\n"
	"assign all roundrobin\n";

static struct cat_map *parse_ok(const char *text)
{
	struct cat_map *m = NULL;
	char err[256] = "";
	int rc = cat_map_parse(text, strlen(text), &m, err, sizeof(err));

	if (rc != 0)
		fail_msg("parse: %s", err);
	return m;
}

static void assert_chain(const struct cat_map *m, uint16_t id, const uint16_t *want,
			 uint8_t len)
{
	for (uint16_t i = 0; i < m->n_chains; i++) {
		if (m->chains[i].id != id)
			continue;
		assert_int_equal(m->chains[i].len, len);
		for (uint8_t k = 0; k < len; k++)
			assert_int_equal(m->chains[i].nodes[k], want[k]);
		return;
	}
	fail_msg("chain %u missing", id);
}

/* parse(format(m)) gives the same text again. */
static void assert_round_trip(const struct cat_map *m)
{
	static char a[CAT_MAP_TEXT_MAX + 1], b[CAT_MAP_TEXT_MAX + 1];
	struct cat_map *p;
	int na = cat_map_format(m, a, sizeof(a)), nb;

	assert_true(na > 0);
	p = parse_ok(a);
	nb = cat_map_format(p, b, sizeof(b));
	assert_int_equal(na, nb);
	assert_memory_equal(a, b, (size_t)na);
	assert_int_equal(p->epoch, m->epoch);
	cat_map_free(p);
}

static void test_remove_head_middle_tail(void **state)
{
	static const uint16_t c1[] = { 2, 3 }, c2[] = { 2, 3 }, c3[] = { 3, 2 };
	struct cat_map *m = parse_ok(three_chains), *n = NULL;
	struct cat_ctl_removal r;
	char err[256];

	(void)state;
	/* Node 1 is head of chain 1, tail of chain 2, middle of chain 3. */
	assert_int_equal(cat_ctl_plan_remove(m, 1, &n, &r, err, sizeof(err)), 0);
	assert_non_null(n);
	assert_int_equal(n->epoch, 8);
	assert_chain(n, 1, c1, 2);
	assert_chain(n, 2, c2, 2);
	assert_chain(n, 3, c3, 2);
	assert_int_equal(r.n_left, 3);
	assert_int_equal(r.left[0], 1);
	assert_int_equal(r.left[1], 2);
	assert_int_equal(r.left[2], 3);
	assert_int_equal(r.n_kept, 0);
	/* The node stays in the node list (it still gets maps: MOVED). */
	assert_non_null(cat_map_node_by_id(n, 1));
	/* Slots keep their chains. */
	for (uint32_t s = 0; s < n->slot_count; s++)
		assert_int_equal(cat_map_slot_chain(n, s)->id,
				 cat_map_slot_chain(m, s)->id);
	assert_int_equal(cat_ctl_plan_validate(m, n, err, sizeof(err)), 0);
	assert_round_trip(n);
	cat_map_free(n);
	cat_map_free(m);
}

static void test_remove_each_position(void **state)
{
	static const char one[] =
		"epoch 1\nslots 8\nnode 1 10.0.0.1\nnode 2 10.0.0.2\n"
		"node 3 10.0.0.3\nnode 4 10.0.0.4\nchain 5 1 2 3 4\nassign 0-7 5\n";
	static const uint16_t no_head[] = { 2, 3, 4 }, no_mid[] = { 1, 3, 4 },
			      no_tail[] = { 1, 2, 3 };
	struct cat_map *m = parse_ok(one), *n;
	struct cat_ctl_removal r;
	char err[256];

	(void)state;
	assert_int_equal(cat_ctl_plan_remove(m, 1, &n, &r, err, sizeof(err)), 0);
	assert_chain(n, 5, no_head, 3);
	assert_int_equal(cat_map_chain_head(&n->chains[0]), 2);
	cat_map_free(n);
	assert_int_equal(cat_ctl_plan_remove(m, 2, &n, &r, err, sizeof(err)), 0);
	assert_chain(n, 5, no_mid, 3);
	cat_map_free(n);
	assert_int_equal(cat_ctl_plan_remove(m, 4, &n, &r, err, sizeof(err)), 0);
	assert_chain(n, 5, no_tail, 3);
	assert_int_equal(cat_map_chain_tail(&n->chains[0]), 3);
	assert_round_trip(n);
	cat_map_free(n);
	cat_map_free(m);
}

static void test_last_member_kept(void **state)
{
	static const char text[] =
		"epoch 3\nslots 4\nnode 1 10.0.0.1\nnode 2 10.0.0.2\n"
		"chain 1 1\nchain 2 1 2\nassign 0-1 1\nassign 2-3 2\n";
	static const uint16_t c1[] = { 1 }, c2[] = { 2 };
	struct cat_map *m = parse_ok(text), *n, *n2;
	struct cat_ctl_removal r;
	char err[256];

	(void)state;
	assert_int_equal(cat_ctl_plan_remove(m, 1, &n, &r, err, sizeof(err)), 0);
	assert_non_null(n);
	assert_chain(n, 1, c1, 1); /* never emptied */
	assert_chain(n, 2, c2, 1);
	assert_int_equal(r.n_left, 1);
	assert_int_equal(r.left[0], 2);
	assert_int_equal(r.n_kept, 1);
	assert_int_equal(r.kept[0], 1);
	/* Node 2 is now the last member of chain 2: nothing to change. */
	assert_int_equal(cat_ctl_plan_remove(n, 2, &n2, &r, err, sizeof(err)), 0);
	assert_null(n2);
	assert_int_equal(r.n_left, 0);
	assert_int_equal(r.n_kept, 1);
	assert_int_equal(r.kept[0], 2);
	cat_map_free(n);
	cat_map_free(m);
}

static void test_remove_twice_and_unknown(void **state)
{
	static const uint16_t c1[] = { 3 };
	struct cat_map *m = parse_ok(three_chains), *a, *b, *c;
	struct cat_ctl_removal r;
	char err[256];

	(void)state;
	assert_int_equal(cat_ctl_plan_remove(m, 9, &a, &r, err, sizeof(err)), -ENOENT);
	assert_null(a);
	assert_int_equal(cat_ctl_plan_remove(m, 1, &a, &r, err, sizeof(err)), 0);
	assert_int_equal(cat_ctl_plan_remove(a, 2, &b, &r, err, sizeof(err)), 0);
	assert_int_equal(b->epoch, 9);
	assert_chain(b, 1, c1, 1);
	assert_chain(b, 2, c1, 1);
	assert_chain(b, 3, c1, 1);
	assert_int_equal(cat_ctl_plan_validate(a, b, err, sizeof(err)), 0);
	/* Node 1 again: it is in no chain any more. */
	assert_int_equal(cat_ctl_plan_remove(b, 1, &c, &r, err, sizeof(err)), 0);
	assert_null(c);
	assert_int_equal(r.n_left + r.n_kept, 0);
	/* Node 3 alone in every chain: all kept, no new map. */
	assert_int_equal(cat_ctl_plan_remove(b, 3, &c, &r, err, sizeof(err)), 0);
	assert_null(c);
	assert_int_equal(r.n_kept, 3);
	cat_map_free(b);
	cat_map_free(a);
	cat_map_free(m);
}

static void test_epoch_overflow(void **state)
{
	static const char text[] =
		"epoch 4294967295\nslots 1\nnode 1 10.0.0.1\nnode 2 10.0.0.2\n"
		"chain 1 1 2\nassign 0 1\n";
	struct cat_map *m = parse_ok(text), *n;
	struct cat_ctl_removal r;
	char err[256];

	(void)state;
	assert_int_equal(cat_ctl_plan_remove(m, 1, &n, &r, err, sizeof(err)),
			 -EOVERFLOW);
	assert_null(n);
	cat_map_free(m);
}

static void test_forget_and_add(void **state)
{
	struct cat_map *m = parse_ok(three_chains), *a, *b, *c;
	struct cat_ctl_removal r;
	struct cat_map_node nd;
	char err[256];

	(void)state;
	assert_int_equal(cat_ctl_plan_forget(m, 2, &a, err, sizeof(err)), -EBUSY);
	assert_non_null(strstr(err, "chain"));
	assert_int_equal(cat_ctl_plan_remove(m, 2, &a, &r, err, sizeof(err)), 0);
	assert_int_equal(cat_ctl_plan_forget(a, 2, &b, err, sizeof(err)), 0);
	cat_map_free(a);
	assert_int_equal(b->epoch, 9);
	assert_int_equal(b->n_nodes, 2);
	assert_null(cat_map_node_by_id(b, 2));
	assert_round_trip(b);

	/* Add node 2 back as a spare, then a node 10 with a port, no MAC. */
	assert_int_equal(cat_ctl_plan_node(2, "10.99.0.2", 0, "02:CA:7E:00:00:02",
					   &nd, err, sizeof(err)), 0);
	assert_int_equal(nd.udp_port, 7470);
	assert_int_equal(nd.mac[5], 2);
	assert_int_equal(cat_ctl_plan_add(b, &nd, &c, err, sizeof(err)), 0);
	assert_int_equal(c->epoch, 10);
	assert_int_equal(c->n_nodes, 3);
	assert_int_equal(c->nodes[1].id, 2); /* sorted by id */
	for (uint16_t i = 0; i < c->n_chains; i++)
		assert_int_equal(cat_map_chain_pos(&c->chains[i], 2), -1);
	assert_int_equal(cat_ctl_plan_add(c, &nd, &a, err, sizeof(err)), -EEXIST);
	assert_null(a);
	assert_round_trip(c);
	cat_map_free(c);

	assert_int_equal(cat_ctl_plan_node(10, "10.99.0.10", 7471, NULL, &nd,
					   err, sizeof(err)), 0);
	assert_int_equal(cat_ctl_plan_add(b, &nd, &c, err, sizeof(err)), 0);
	assert_int_equal(c->nodes[c->n_nodes - 1].id, 10);
	assert_int_equal(c->nodes[c->n_nodes - 1].udp_port, 7471);
	cat_map_free(c);
	/* Same address as node 1: the parser refuses, with its reason. */
	assert_int_equal(cat_ctl_plan_node(11, "10.99.0.1", 7470, "", &nd, err,
					   sizeof(err)), 0);
	assert_int_equal(cat_ctl_plan_add(b, &nd, &c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "already used"));
	cat_map_free(b);
	cat_map_free(m);
}

static void test_plan_node_refuses(void **state)
{
	static const struct {
		uint16_t id;
		const char *ip;
		uint32_t port;
		const char *mac;
	} bad[] = {
		{ 0, "10.0.0.1", 0, NULL },
		{ 4, "10.0.0.01", 0, NULL },
		{ 4, "224.0.0.1", 0, NULL },
		{ 4, "10.0.0.1 #", 0, NULL },
		{ 4, "10.0.0.1\nchain 9 4", 0, NULL },
		{ 4, "", 0, NULL },
		{ 4, "10.0.0.1", 65536, NULL },
		{ 4, "10.0.0.1", 0, "01:00:5e:00:00:01" },
		{ 4, "10.0.0.1", 0, "02:00:00:00:00" },
		{ 4, "10.0.0.1", 0, "02:00:00:00:00:01 x" },
	};
	struct cat_map_node nd;
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(cat_ctl_plan_node(bad[i].id, bad[i].ip, bad[i].port,
						   bad[i].mac, &nd, err, sizeof(err)),
				 -EINVAL);
		assert_true(err[0] != '\0');
		assert_null(strchr(err, '\n'));
	}
}

static void test_validate(void **state)
{
	struct cat_map *m = parse_ok(three_chains), *n = cat_map_dup(m);
	char err[256];

	(void)state;
	assert_int_equal(cat_ctl_plan_validate(NULL, m, err, sizeof(err)), 0);
	assert_int_equal(cat_ctl_plan_validate(m, n, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "epoch"));
	n->epoch = m->epoch + 2;
	assert_int_equal(cat_ctl_plan_validate(m, n, err, sizeof(err)), -EINVAL);
	n->epoch = m->epoch + 1;
	assert_int_equal(cat_ctl_plan_validate(m, n, err, sizeof(err)), 0);
	/* A chain naming an unknown node does not parse. */
	n->chains[0].nodes[0] = 42;
	assert_int_equal(cat_ctl_plan_validate(m, n, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "unknown node"));
	/* A slot table that fragments past the text limit is refused. */
	n->chains[0].nodes[0] = 1;
	cat_map_free(n);
	cat_map_free(m);
}

static void test_too_long_for_a_line(void **state)
{
	struct cat_map *m = calloc(1, sizeof(*m));
	char err[256];

	(void)state;
	/* 65536 slots alternating over 3 chains but not round robin: one
	 * assign line per slot, far beyond what a map line may carry. */
	m->epoch = 1;
	m->slot_count = 65536;
	m->n_nodes = 1;
	m->nodes[0] = (struct cat_map_node){ .id = 1, .ip = 0x0a000001, .udp_port = 7470 };
	m->n_chains = 3;
	for (uint16_t i = 0; i < 3; i++)
		m->chains[i] = (struct cat_map_chain){ .id = (uint16_t)(i + 1),
						       .len = 1, .nodes = { 1 } };
	m->slot_chain = calloc(65536, sizeof(uint16_t));
	for (uint32_t s = 0; s < 65536; s++)
		m->slot_chain[s] = (uint16_t)((s / 2) % 3);
	assert_int_equal(cat_ctl_plan_validate(NULL, m, err, sizeof(err)), -EINVAL);
	cat_map_free(m);
}

static void test_describe(void **state)
{
	struct cat_map *m = parse_ok(three_chains), *a, *b;
	struct cat_ctl_removal r;
	struct cat_map_node nd;
	char buf[512], err[256];

	(void)state;
	assert_int_equal(cat_ctl_plan_remove(m, 2, &a, &r, err, sizeof(err)), 0);
	cat_ctl_plan_describe(m, a, buf, sizeof(buf));
	assert_string_equal(buf, "chain 1: 1 2 3 -> 1 3; chain 2: 2 3 1 -> 3 1; "
			    "chain 3: 3 1 2 -> 3 1");
	assert_int_equal(cat_ctl_plan_node(4, "10.99.0.4", 0, NULL, &nd, err,
					   sizeof(err)), 0);
	assert_int_equal(cat_ctl_plan_add(a, &nd, &b, err, sizeof(err)), 0);
	cat_ctl_plan_describe(a, b, buf, sizeof(buf));
	assert_string_equal(buf, "node 4 added (10.99.0.4:7470)");
	cat_ctl_plan_describe(b, b, buf, sizeof(buf));
	assert_string_equal(buf, "no change");
	/* Truncation never overruns. */
	assert_true(cat_ctl_plan_describe(m, a, buf, 8) > 8);
	assert_int_equal(strlen(buf), 7);
	cat_map_free(b);
	cat_map_free(a);
	cat_map_free(m);
}

/* ---- slot moves ---- */

/* Drive a move to its end the way catena-control does (a join is handed
 * over at once here); every intermediate map must validate, and the
 * moving slots must always have exactly one chain. */
static struct cat_map *run_move(struct cat_map *m, uint16_t via, int *steps)
{
	char err[256];

	for (*steps = 0; *steps < 40; (*steps)++) {
		struct cat_map *next = NULL;
		uint16_t node;
		int rc = 0;

		switch (cat_ctl_plan_move_next(m, via, &node)) {
		case CAT_CTL_MOVE_JOIN:
			rc = cat_ctl_plan_join(m, via, node, &next, err, sizeof(err));
			break;
		case CAT_CTL_MOVE_WAIT:
			rc = cat_ctl_plan_handover(m, via, &next, err, sizeof(err));
			break;
		case CAT_CTL_MOVE_REMOVE:
			rc = cat_ctl_plan_chain_drop_node(m, via, node, &next, err,
							  sizeof(err));
			break;
		case CAT_CTL_MOVE_FINISH:
			rc = cat_ctl_plan_move_finish(m, via, &next, err, sizeof(err));
			assert_int_equal(rc, 0);
			assert_int_equal(cat_ctl_plan_validate(m, next, err,
							       sizeof(err)), 0);
			cat_map_free(m);
			return next;
		case CAT_CTL_MOVE_NONE:
			fail_msg("move through %u vanished", via);
		}
		if (rc != 0)
			fail_msg("step %d: %s", *steps, err);
		assert_int_equal(cat_ctl_plan_validate(m, next, err, sizeof(err)), 0);
		assert_round_trip(next);
		cat_map_free(m);
		m = next;
	}
	fail_msg("move through %u did not finish in 40 steps", via);
	return NULL;
}

static void test_rebuild_makes_another_node_the_one_member(void **state)
{
	static const char text[] =
		"epoch 4\nslots 8\ncraq off\n"
		"node 1 10.99.0.1 02:ca:7e:00:00:01\n"
		"node 2 10.99.0.2 02:ca:7e:00:00:02\n"
		"node 3 10.99.0.3 02:ca:7e:00:00:03\n"
		"chain 1 3\nchain 2 1 2\njoin 1 2\n"
		"assign all roundrobin\n";
	static const uint16_t want[] = { 1 };
	struct cat_map *m = parse_ok(text), *next;
	char err[256];

	(void)state;
	/* Chain 1 has a joiner that had no tail to stream from: dropped. */
	assert_int_equal(cat_ctl_plan_chain_rebuild(m, 1, 1, &next, err, sizeof(err)), 0);
	assert_int_equal(next->epoch, 5);
	assert_chain(next, 1, want, 1);
	assert_int_equal(next->chains[0].joining, 0);
	assert_int_equal(cat_ctl_plan_validate(m, next, err, sizeof(err)), 0);
	assert_round_trip(next);
	cat_map_free(next);
	/* A chain with two members did not lose them all; unknown ids. */
	assert_int_equal(cat_ctl_plan_chain_rebuild(m, 2, 3, &next, err, sizeof(err)), -EBUSY);
	assert_null(next);
	assert_int_equal(cat_ctl_plan_chain_rebuild(m, 9, 1, &next, err, sizeof(err)), -ENOENT);
	assert_int_equal(cat_ctl_plan_chain_rebuild(m, 1, 9, &next, err, sizeof(err)), -ENOENT);
	cat_map_free(m);
}

static void test_move_reshapes_to_the_target(void **state)
{
	static const struct {
		const char *from, *to;
		int max_steps;
	} cases[] = {
		{ "1 2 3", "4 5 6", 8 },  /* disjoint: three joins, then removals */
		{ "1 2 3", "2 3 1", 3 },  /* rotated: one node out and back */
		{ "1 2 3", "3 1 2", 5 },
		{ "1 2 3", "3 2 1", 5 },
		{ "1 2", "2 5", 4 },
		{ "1", "6", 3 },
		{ "1 2 3 4 5 6", "6 5", 9 },
	};
	char text[1024];
	uint8_t slots[8] = { 0, 0, 1, 1, 1, 0, 0, 1 };

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct cat_map *m, *next = NULL;
		char err[256];
		int steps;

		snprintf(text, sizeof(text),
			 "epoch 1\nslots 8\nnode 1 10.0.0.1\nnode 2 10.0.0.2\n"
			 "node 3 10.0.0.3\nnode 4 10.0.0.4\nnode 5 10.0.0.5\n"
			 "node 6 10.0.0.6\nchain 1 %s\nchain 2 %s\n"
			 "assign 0-7 1\n", cases[i].from, cases[i].to);
		m = parse_ok(text);
		assert_int_equal(cat_ctl_plan_move_start(m, slots, 2, 60001, &next,
							 err, sizeof(err)), 0);
		/* The transitional chain starts as the source: no role moves. */
		assert_int_equal(next->chains[2].len, m->chains[0].len);
		assert_memory_equal(next->chains[2].nodes, m->chains[0].nodes,
				    m->chains[0].len * sizeof(uint16_t));
		assert_int_equal(cat_map_slot_chain(next, 2)->id, 60001);
		assert_int_equal(cat_map_slot_chain(next, 0)->id, 1);
		cat_map_free(m);
		m = run_move(next, 60001, &steps);
		assert_true(steps <= cases[i].max_steps * 2);
		assert_int_equal(m->n_chains, 2);
		for (uint32_t s = 0; s < 8; s++)
			assert_int_equal(cat_map_slot_chain(m, s)->id, slots[s] ? 2 : 1);
		cat_map_free(m);
	}
}

static void test_move_refusals_and_cancel(void **state)
{
	struct cat_map *m = parse_ok(
		"epoch 1\nslots 8\nnode 1 10.0.0.1\nnode 2 10.0.0.2\n"
		"node 3 10.0.0.3\nchain 1 1 2\nchain 2 3\n"
		"assign 0-3 1\nassign 4-7 2\n");
	uint8_t mixed[8] = { 0, 0, 0, 1, 1, 0, 0, 0 };
	uint8_t none[8] = { 0 };
	uint8_t two[8] = { 1, 1, 0, 0, 0, 0, 0, 0 };
	struct cat_map *next = NULL, *back = NULL;
	char err[256];
	int steps;

	(void)state;
	assert_int_equal(cat_ctl_plan_move_start(m, mixed, 2, 60001, &next, err,
						 sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "share a chain"));
	assert_int_equal(cat_ctl_plan_move_start(m, none, 2, 60001, &next, err,
						 sizeof(err)), -EINVAL);
	assert_int_equal(cat_ctl_plan_move_start(m, two, 1, 60001, &next, err,
						 sizeof(err)), -EINVAL);
	assert_int_equal(cat_ctl_plan_move_start(m, two, 9, 60001, &next, err,
						 sizeof(err)), -ENOENT);
	assert_int_equal(cat_ctl_plan_move_start(m, two, 2, 1, &next, err,
						 sizeof(err)), -EEXIST);
	assert_int_equal(cat_ctl_plan_move_start(m, two, 2, 60001, &next, err,
						 sizeof(err)), 0);
	/* The first step joins node 3; cancel drops that join and the move
	 * heads back to chain 1, which the transitional chain equals: done. */
	{
		uint16_t node;
		struct cat_map *j = NULL;

		assert_int_equal(cat_ctl_plan_move_next(next, 60001, &node),
				 CAT_CTL_MOVE_JOIN);
		assert_int_equal(node, 3);
		assert_int_equal(cat_ctl_plan_join(next, 60001, 3, &j, err,
						   sizeof(err)), 0);
		assert_int_equal(cat_ctl_plan_move_next(j, 60001, &node),
				 CAT_CTL_MOVE_WAIT);
		assert_int_equal(cat_ctl_plan_move_reverse(j, 60001, &back, err,
							   sizeof(err)), 0);
		cat_map_free(j);
	}
	back = run_move(back, 60001, &steps);
	assert_int_equal(steps, 0);
	for (uint32_t s = 0; s < 8; s++)
		assert_int_equal(cat_map_slot_chain(back, s)->id, s < 4 ? 1 : 2);
	cat_map_free(back);
	cat_map_free(next);
	cat_map_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_remove_head_middle_tail),
		cmocka_unit_test(test_remove_each_position),
		cmocka_unit_test(test_last_member_kept),
		cmocka_unit_test(test_remove_twice_and_unknown),
		cmocka_unit_test(test_epoch_overflow),
		cmocka_unit_test(test_forget_and_add),
		cmocka_unit_test(test_plan_node_refuses),
		cmocka_unit_test(test_validate),
		cmocka_unit_test(test_too_long_for_a_line),
		cmocka_unit_test(test_describe),
		cmocka_unit_test(test_rebuild_makes_another_node_the_one_member),
		cmocka_unit_test(test_move_reshapes_to_the_target),
		cmocka_unit_test(test_move_refusals_and_cancel),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
