/*
 * Unit tests for the management command table (control/mgmt_cmds.def)
 * against catena-control's request handler (control/mgmt.c), on the state
 * of tests/fuzz/ctl_fixture.c: every command of the table is one the
 * daemon knows, every argument the table lists is one it takes, a request
 * with the table's required arguments lacks none the handler needs, every
 * argument the table calls required is one it refuses a request without,
 * and an unknown command's error lists exactly the table's commands.
 * catenactl's side (the same table parsed from its command line) is
 * tests/integration/test_control_mgmt_table.py.
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
#include <jansson.h>

#include "control/ctl.h"
#include "control/mgmt.h"
#include "control/mgmt_cmds.h"
#include "control/reshard.h"
#include "control/verify.h"
#include "tests/fuzz/ctl_fixture.h"

/* A value catena-control takes for an argument of this type. */
static json_t *sample(const struct cat_mgmt_arg *a)
{
	switch (a->type) {
	case CAT_MGMT_INT:
		return json_integer(a->lo);
	case CAT_MGMT_INTS:
		return json_pack("[I]", (json_int_t)a->lo);
	case CAT_MGMT_IPV4:
		return json_string("10.9.0.9");
	case CAT_MGMT_MAC:
		return json_string("02:00:00:00:00:09");
	case CAT_MGMT_BOOL:
		return json_true();
	case CAT_MGMT_STR:
		/* A FILE nobody can create: the request is refused, not run. */
		return json_string("/nonexistent-catena-test/backup");
	}
	return json_null();
}

/* Row i's request with every required argument but skip (NULL: all) and,
 * if extra is set, that argument too. */
static json_t *request(unsigned int i, const char *skip,
		       const struct cat_mgmt_arg *extra)
{
	const struct cat_mgmt_cmd *cmd = &cat_mgmt_cmds[i];
	json_t *req = json_pack("{s:s}", "cmd", cmd->wire);

	for (unsigned int k = 0; k < CAT_MGMT_ARGS_MAX && cmd->args[k].name; k++) {
		const struct cat_mgmt_arg *a = &cmd->args[k];

		if (a->need == CAT_MGMT_REQ &&
		    (skip == NULL || strcmp(a->name, skip) != 0))
			json_object_set_new(req, a->name, sample(a));
	}
	if (extra != NULL)
		json_object_set_new(req, extra->name, sample(extra));
	return req;
}

/* The answer to req on state c: a new reference to the answer. */
static json_t *ask_on(struct cat_ctl *c, json_t *req)
{
	struct cat_ctl_conn conn;
	char *line = json_dumps(req, JSON_COMPACT);
	json_error_t jerr;
	json_t *a;

	assert_non_null(line);
	memset(&conn, 0, sizeof(conn));
	conn.fd = -1;
	conn.kind = CAT_CTL_CONN_MGMT;
	conn.serial = 1;
	cat_ctl_mgmt_line(c, &conn, line, strlen(line));
	assert_true(conn.out_len > 0);
	a = json_loadb(conn.out, conn.out_len, 0, &jerr);
	assert_non_null(a);
	free(conn.out);
	free(line);
	return a;
}

/* The answer to req on a fresh state: a new reference to the answer. */
static json_t *ask(json_t *req)
{
	struct cat_ctl c;
	json_t *a;

	fx_setup(&c);
	a = ask_on(&c, req);
	fx_teardown(&c);
	return a;
}

/* ask_on for a request written as JSON text; the request is dropped. */
static json_t *ask_text(struct cat_ctl *c, const char *text)
{
	json_error_t jerr;
	json_t *req = json_loads(text, 0, &jerr), *a;

	assert_non_null(req);
	a = ask_on(c, req);
	json_decref(req);
	return a;
}

static const char *error_of(const json_t *a)
{
	return json_is_true(json_object_get(a, "ok")) ? "" :
	       json_string_value(json_object_get(a, "error"));
}

static void every_command_and_argument_is_known_to_the_daemon(void **state)
{
	(void)state;
	for (unsigned int i = 0; i < CAT_MGMT_N_CMDS; i++) {
		const struct cat_mgmt_cmd *cmd = &cat_mgmt_cmds[i];

		for (unsigned int k = 0; k <= CAT_MGMT_ARGS_MAX; k++) {
			const struct cat_mgmt_arg *a =
				k < CAT_MGMT_ARGS_MAX && cmd->args[k].name ?
				&cmd->args[k] : NULL;
			json_t *req = request(i, NULL, a), *ans = ask(req);
			const char *e = error_of(ans);

			if (strstr(e, "unknown cmd") || strstr(e, "unknown argument"))
				fail_msg("%s with %s: %s", cmd->wire,
					 a ? a->name : "its required arguments", e);
			/* A name the table spells otherwise than the handler
			 * reads it shows here. */
			if (strstr(e, " required"))
				fail_msg("%s with every required argument: %s",
					 cmd->wire, e);
			json_decref(req);
			json_decref(ans);
			if (a == NULL)
				break;
		}
	}
}

static void every_required_argument_is_required_by_the_daemon(void **state)
{
	(void)state;
	for (unsigned int i = 0; i < CAT_MGMT_N_CMDS; i++) {
		const struct cat_mgmt_cmd *cmd = &cat_mgmt_cmds[i];

		for (unsigned int k = 0; k < CAT_MGMT_ARGS_MAX && cmd->args[k].name; k++) {
			json_t *req, *ans;

			if (cmd->args[k].need != CAT_MGMT_REQ)
				continue;
			req = request(i, cmd->args[k].name, NULL);
			ans = ask(req);
			if (json_is_true(json_object_get(ans, "ok")))
				fail_msg("%s without %s was answered ok", cmd->wire,
					 cmd->args[k].name);
			json_decref(req);
			json_decref(ans);
		}
	}
}

static void unknown_command_error_lists_the_table(void **state)
{
	json_t *req = json_pack("{s:s}", "cmd", "frobnicate"), *ans = ask(req);
	char want[1200] = "unknown cmd 'frobnicate' (";
	size_t len = strlen(want);

	(void)state;
	for (unsigned int i = 0; i < CAT_MGMT_N_CMDS; i++)
		if (cat_mgmt_first_of_wire((int)i))
			len += (size_t)snprintf(want + len, sizeof(want) - len, "%s%s",
				want[len - 1] == '(' ? "" : ", ",
				cat_mgmt_cmds[i].wire);
	snprintf(want + len, sizeof(want) - len, ")");
	assert_string_equal(error_of(ans), want);
	/* The operators' scripts rely on these names: a row may be added,
	 * none renamed. */
	assert_non_null(strstr(want, "(status, nodes, chains, slots, stats, "
		"epoch_history, verify, repair_status, repair, node_drain, node_undrain, node_remove, "
		"node_add, chain_add, reshard_move, reshard_rebalance, "
		"reshard_status, reshard_pause, reshard_resume, reshard_cancel, "
		"reshard_rate"));
	json_decref(req);
	json_decref(ans);
}

static void repeated_events_collapse_into_one_with_a_count(void **state)
{
	struct cat_ctl c;
	json_t *a, *ev;

	(void)state;
	fx_setup(&c);
	c.quiet = 1;
	cat_ctl_event(&c, "before");
	for (int i = 0; i < 5; i++)
		cat_ctl_event(&c, "node %d flaps", 7);
	cat_ctl_event(&c, "after");
	cat_ctl_event(&c, "after");
	a = ask_text(&c, "{\"cmd\":\"events\"}");
	ev = json_object_get(json_object_get(a, "result"), "events");
	assert_int_equal(json_array_size(ev), 3);
	assert_string_equal(json_string_value(json_object_get(json_array_get(ev, 0), "text")),
			    "before");
	assert_string_equal(json_string_value(json_object_get(json_array_get(ev, 1), "text")),
			    "node 7 flaps (x5)");
	assert_int_equal(json_integer_value(json_object_get(json_array_get(ev, 1), "count")), 5);
	assert_string_equal(json_string_value(json_object_get(json_array_get(ev, 2), "text")),
			    "after (x2)");
	/* "after" again is a repeat; "node 7 flaps" after it is not. */
	cat_ctl_event(&c, "node 7 flaps");
	json_decref(a);
	a = ask_text(&c, "{\"cmd\":\"events\"}");
	ev = json_object_get(json_object_get(a, "result"), "events");
	assert_int_equal(json_array_size(ev), 4);
	assert_string_equal(json_string_value(json_object_get(json_array_get(ev, 3), "text")),
			    "node 7 flaps");
	json_decref(a);
	fx_teardown(&c);
}

static void events_since_gives_what_came_after_and_repeats_again(void **state)
{
	struct cat_ctl c;
	json_int_t seq;
	json_t *a, *r, *ev;
	char req[80];

	(void)state;
	fx_setup(&c);
	c.quiet = 1;
	cat_ctl_event(&c, "one");
	a = ask_text(&c, "{\"cmd\":\"events\"}");
	seq = json_integer_value(json_object_get(json_object_get(a, "result"), "seq"));
	json_decref(a);
	cat_ctl_event(&c, "two");
	cat_ctl_event(&c, "two");
	snprintf(req, sizeof(req), "{\"cmd\":\"events\",\"since\":%lld}", (long long)seq);
	a = ask_text(&c, req);
	r = json_object_get(a, "result");
	ev = json_object_get(r, "events");
	assert_int_equal(json_array_size(ev), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(ev, 0), "text")),
			    "two (x2)");
	assert_false(json_is_true(json_object_get(r, "truncated")));
	seq = json_integer_value(json_object_get(r, "seq"));
	json_decref(a);
	snprintf(req, sizeof(req), "{\"cmd\":\"events\",\"since\":%lld}", (long long)seq);
	a = ask_text(&c, req);
	assert_int_equal(json_array_size(json_object_get(json_object_get(a, "result"),
							 "events")), 0);
	json_decref(a);
	/* More than the ring holds since then: said. */
	for (int i = 0; i < 150; i++)
		cat_ctl_event(&c, "burst %d", i);
	a = ask_text(&c, req);
	r = json_object_get(a, "result");
	assert_true(json_is_true(json_object_get(r, "truncated")));
	assert_int_equal(json_array_size(json_object_get(r, "events")), CAT_CTL_EVENTS_MAX);
	json_decref(a);
	fx_teardown(&c);
}

static void rebalance_dry_run_plans_and_changes_nothing(void **state)
{
	struct cat_ctl c;
	uint32_t epoch;
	json_t *a, *r;

	(void)state;
	fx_setup(&c);
	c.quiet = 1;
	/* Chain 3 takes every slot, so the plan has moves to show. */
	for (uint32_t s = 0; s < c.map->slot_count; s++)
		c.map->slot_chain[s] = 2;
	epoch = c.map->epoch;
	a = ask_text(&c, "{\"cmd\":\"reshard_rebalance\",\"dry_run\":true}");
	r = json_object_get(a, "result");
	assert_true(json_is_true(json_object_get(a, "ok")));
	assert_true(json_is_true(json_object_get(r, "dry_run")));
	assert_int_equal(json_array_size(json_object_get(r, "moves")), 2);
	assert_int_equal(c.n_queued, 0);
	assert_int_equal(c.store.reshard.rebalance, 0);
	assert_int_equal(c.map->epoch, epoch);
	json_decref(a);
	a = ask_text(&c, "{\"cmd\":\"reshard_rebalance\",\"dry_run\":1}");
	assert_false(json_is_true(json_object_get(a, "ok")));
	json_decref(a);
	/* Without it, the same plan is queued. */
	a = ask_text(&c, "{\"cmd\":\"reshard_rebalance\"}");
	assert_int_equal(json_array_size(json_object_get(json_object_get(a, "result"),
							 "moves")), 2);
	assert_int_equal(c.n_queued, 2);
	json_decref(a);
	fx_teardown(&c);
}

static void move_across_chains_is_one_move_per_source_in_one_epoch(void **state)
{
	struct cat_ctl c;
	uint32_t epoch;
	json_t *a, *r, *mv;

	(void)state;
	fx_setup(&c);
	c.quiet = 1;
	for (uint32_t s = 0; s < c.map->slot_count; s++)
		c.map->slot_chain[s] = s < 4 ? 0 : s < 8 ? 1 : 2;
	epoch = c.map->epoch;
	/* Slots 2..9: two on chain 1, four on chain 2, two on chain 3. */
	a = ask_text(&c, "{\"cmd\":\"reshard_move\",\"first\":2,\"last\":9,\"to\":2}");
	assert_true(json_is_true(json_object_get(a, "ok")));
	r = json_object_get(a, "result");
	mv = json_object_get(r, "moves");
	assert_int_equal(json_array_size(mv), 2);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(mv, 0), "from")), 1);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(mv, 0), "slots")), 2);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(mv, 1), "from")), 3);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(mv, 1), "slots")), 2);
	assert_int_equal(json_integer_value(json_object_get(r, "slots")), 4);
	assert_int_equal(c.map->epoch, epoch + 1);
	for (uint32_t s = 2; s <= 9; s++) {
		const struct cat_map_chain *ch = &c.map->chains[c.map->slot_chain[s]];

		if (s >= 4 && s < 8)
			assert_int_equal(ch->id, 2);
		else
			assert_int_equal(ch->move_to, 2);
	}
	json_decref(a);
	/* A range that is on the target already moves nothing. */
	a = ask_text(&c, "{\"cmd\":\"reshard_move\",\"first\":4,\"last\":7,\"to\":2}");
	assert_false(json_is_true(json_object_get(a, "ok")));
	assert_non_null(strstr(error_of(a), "on chain 2 already"));
	json_decref(a);
	fx_teardown(&c);
}

static void join_of_a_node_not_in_the_map_says_so(void **state)
{
	json_t *req = json_pack("{s:s,s:i,s:i}", "cmd", "node_add", "node", 9,
				"chain", 1), *ans = ask(req);

	(void)state;
	assert_string_equal(error_of(ans), "node_add: no node 9 in the map (add it first: node add 9 IP MAC)");
	json_decref(req);
	json_decref(ans);
}

static void eta_follows_the_bytes_copied(void **state)
{
	(void)state;
	/* Half of 1000 bytes in 10 s: 10 s to go, whatever the steps. */
	assert_true(cat_ctl_reshard_eta(500, 1000, 10.0) > 9.99 &&
		    cat_ctl_reshard_eta(500, 1000, 10.0) < 10.01);
	assert_true(cat_ctl_reshard_eta(0, 1000, 10.0) < 0);
	assert_true(cat_ctl_reshard_eta(1000, 1000, 3.0) == 0);
	/* First join, a quarter of 8 slots caught up with 200 bytes, two
	 * joins in all: ~1600 bytes. */
	assert_int_equal(cat_ctl_reshard_to_copy(0, 2, 0, 200, 2, 8), 1600);
	/* One join done with 900 bytes, two to come: 2700. */
	assert_int_equal(cat_ctl_reshard_to_copy(1, 2, 900, 100, 1, 8), 2700);
	assert_int_equal(cat_ctl_reshard_to_copy(0, 2, 0, 200, 0, 8), 0);
}

/* A node's digests message, as JSON text, into verify entry 0. */
static int digests(struct cat_ctl *c, const char *text)
{
	json_error_t jerr;
	json_t *msg = json_loads(text, 0, &jerr);
	char why[256];
	int rc;

	assert_non_null(msg);
	rc = cat_ctl_verify_digests(c, 1, msg, why, sizeof(why));
	json_decref(msg);
	return rc;
}

static void verify_takes_digests_as_strings_and_old_nodes_numbers(void **state)
{
	struct cat_ctl c;
	struct cat_ctl_verify *v;

	(void)state;
	fx_setup(&c);
	v = &c.verify[0];
	v->req = 7;
	v->n_asked = 1;
	v->asked[0] = 1;
	/* A digest past 2^53 as a string is kept exactly; an older node's
	 * number too (it stays below 2^63 in jansson's integers). */
	assert_int_equal(digests(&c, "{\"req\":7,\"more\":true,\"slots\":"
		"{\"0\":[3,\"18446744073709551615\"],\"1\":[2,9007199254740993]}}"), 0);
	assert_int_equal(v->n_dg[0], 2);
	assert_true(v->dg[0][0].digest == UINT64_MAX);
	assert_true(v->dg[0][1].digest == 9007199254740993ull);
	/* Past 64 bits, or negative: refused. */
	assert_int_equal(digests(&c, "{\"req\":7,\"slots\":{\"2\":[1,\"18446744073709551616\"]}}"),
			 -EINVAL);
	assert_int_equal(digests(&c, "{\"req\":7,\"slots\":{\"2\":[1,-5]}}"), -EINVAL);
	fx_teardown(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(repeated_events_collapse_into_one_with_a_count),
		cmocka_unit_test(events_since_gives_what_came_after_and_repeats_again),
		cmocka_unit_test(rebalance_dry_run_plans_and_changes_nothing),
		cmocka_unit_test(move_across_chains_is_one_move_per_source_in_one_epoch),
		cmocka_unit_test(join_of_a_node_not_in_the_map_says_so),
		cmocka_unit_test(eta_follows_the_bytes_copied),
		cmocka_unit_test(verify_takes_digests_as_strings_and_old_nodes_numbers),
		cmocka_unit_test(every_command_and_argument_is_known_to_the_daemon),
		cmocka_unit_test(every_required_argument_is_required_by_the_daemon),
		cmocka_unit_test(unknown_command_error_lists_the_table),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
