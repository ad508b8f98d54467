/*
 * Fuzz target for the management socket's request handler
 * (control/mgmt.c, cat_ctl_mgmt_line): the input, up to its first LF, is
 * one request line, handed to the catena-control state of ctl_fixture.c
 * (its store write fails when the line starts with a space, so the
 * store-failure paths are fuzzed too). Checked for every line: exactly one
 * answer, one JSON object on one LF-terminated line, {"ok":true,"result":…}
 * or {"ok":false,"error":"…"}; an error leaves the map (epoch and text)
 * and the node marks exactly as they were; a success that changed the map
 * moved it to a higher epoch and to a map that parses back to itself.
 * Built by tests/fuzz/run_fuzz.sh mgmt (libFuzzer) and by meson
 * (fuzz-replay-mgmt). Aborts on any broken invariant.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/ctl.h"
#include "control/mgmt.h"
#include "tests/fuzz/ctl_fixture.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The answer: one LF-terminated line holding one JSON object. Returns
 * 1 for ok:true, 0 for ok:false. */
static int check_answer(const struct cat_ctl_conn *conn)
{
	json_error_t jerr;
	json_t *a, *ok;
	const char *nl;
	int res;

	if (conn->dead)
		fx_fail("the connection was dropped", NULL);
	if (conn->out_len == 0)
		fx_fail("no answer", NULL);
	nl = memchr(conn->out, '\n', conn->out_len);
	if (nl == NULL || (size_t)(nl - conn->out) != conn->out_len - 1)
		fx_fail("not exactly one answer line", NULL);
	if (conn->out_len - 1 > CAT_CTL_LINE_MAX)
		fx_fail("answer over the line limit", NULL);
	a = json_loadb(conn->out, conn->out_len - 1, JSON_REJECT_DUPLICATES, &jerr);
	if (!json_is_object(a))
		fx_fail("answer is not a JSON object", jerr.text);
	ok = json_object_get(a, "ok");
	if (!json_is_boolean(ok))
		fx_fail("answer without a boolean \"ok\"", NULL);
	res = json_is_true(ok);
	if (res && json_object_get(a, "result") == NULL)
		fx_fail("ok answer without a result", NULL);
	if (!res && !json_is_string(json_object_get(a, "error")))
		fx_fail("error answer without an error text", NULL);
	json_decref(a);
	return res;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct cat_ctl c;
	struct cat_ctl_conn conn;
	uint8_t marks_before[CAT_MAP_NODES_MAX];
	const uint8_t *nl = memchr(data, '\n', size);
	size_t len = nl != NULL ? (size_t)(nl - data) : size;
	uint32_t epoch;
	char *before, *after;
	int ok;

	/* catena-control cuts lines at LF and refuses longer ones before
	 * the handler sees them. */
	if (len > CAT_CTL_LINE_MAX)
		return 0;
	fx_store_fails = 0;
	fx_setup(&c);
	memset(&conn, 0, sizeof(conn));
	conn.fd = -1;
	conn.kind = CAT_CTL_CONN_MGMT;
	conn.serial = 1;
	fx_store_fails = len > 0 && data[0] == ' ';
	epoch = c.map->epoch;
	before = fx_format(c.map);
	for (uint16_t id = 1; id <= 5; id++)
		marks_before[id] = (uint8_t)cat_ctl_store_mark(&c.store, id);

	cat_ctl_mgmt_line(&c, &conn, (const char *)data, len);

	ok = check_answer(&conn);
	if (getenv("FUZZ_MGMT_PRINT") != NULL) /* to see what a seed reaches */
		fprintf(stderr, "%.*s", (int)conn.out_len, conn.out);
	after = fx_format(c.map);
	if (!ok) {
		if (c.map->epoch != epoch || strcmp(before, after) != 0)
			fx_fail("a refused request changed the map", after);
		for (uint16_t id = 1; id <= 5; id++)
			if ((uint8_t)cat_ctl_store_mark(&c.store, id) != marks_before[id])
				fx_fail("a refused request changed a node mark", NULL);
	} else if (strcmp(before, after) != 0) {
		if (fx_store_fails)
			fx_fail("the map changed although the store refused it", after);
		fx_check_changed_map(&c, epoch, after);
	}
	free(before);
	free(after);
	free(conn.out);
	fx_teardown(&c);
	return 0;
}
