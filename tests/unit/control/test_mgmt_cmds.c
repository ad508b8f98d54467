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

/* The answer to req on a fresh state: a new reference to the answer. */
static json_t *ask(json_t *req)
{
	struct cat_ctl c;
	struct cat_ctl_conn conn;
	char *line = json_dumps(req, JSON_COMPACT);
	json_error_t jerr;
	json_t *a;

	assert_non_null(line);
	fx_setup(&c);
	memset(&conn, 0, sizeof(conn));
	conn.fd = -1;
	conn.kind = CAT_CTL_CONN_MGMT;
	conn.serial = 1;
	cat_ctl_mgmt_line(&c, &conn, line, strlen(line));
	assert_true(conn.out_len > 0);
	a = json_loadb(conn.out, conn.out_len, 0, &jerr);
	assert_non_null(a);
	free(conn.out);
	free(line);
	fx_teardown(&c);
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
	char want[600] = "unknown cmd 'frobnicate' (";
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(every_command_and_argument_is_known_to_the_daemon),
		cmocka_unit_test(every_required_argument_is_required_by_the_daemon),
		cmocka_unit_test(unknown_command_error_lists_the_table),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
