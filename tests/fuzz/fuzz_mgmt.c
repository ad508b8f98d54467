/*
 * Fuzz target for the management socket's request handler
 * (control/mgmt.c, cat_ctl_mgmt_line): the input, up to its first LF, is
 * one request line, handed to a catena-control state built without any
 * socket: a five-node map with three chains and a joiner, nodes up,
 * failed, returned and new, and a store whose durable write is an
 * in-memory callback (it fails when the line starts with a space, so the
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char map_text[] =
	"epoch 5\nslots 16\ncraq off\n"
	"node 1 10.9.0.1 02:00:00:00:00:01\n"
	"node 2 10.9.0.2 02:00:00:00:00:02\n"
	"node 3 10.9.0.3 02:00:00:00:00:03\n"
	"node 4 10.9.0.4:7471\n"
	"node 5 10.9.0.5 02:00:00:00:00:05\n"
	"chain 1 1 2 3\nchain 2 2 3 1\nchain 3 3 1\njoin 3 2\n"
	"assign all roundrobin\n";

static int store_fails; /* this request's store write fails */

static void fail(const char *what, const char *detail)
{
	fprintf(stderr, "fuzz_mgmt: %s%s%s\n", what, detail ? ": " : "",
		detail ? detail : "");
	abort();
}

/* The store's document, kept nowhere: a save succeeds unless told not to. */
static int store_get(void *arg, char **data, size_t *len, char *err,
		     size_t errlen)
{
	(void)arg;
	(void)data;
	(void)len;
	snprintf(err, errlen, "nothing stored");
	return -ENOENT;
}

static int store_put(void *arg, const char *data, size_t len, char *err,
		     size_t errlen)
{
	(void)arg;
	(void)data;
	(void)len;
	if (store_fails) {
		snprintf(err, errlen, "fuzz: store write refused");
		return -EIO;
	}
	return 0;
}

static struct cat_map *parse(const char *text, size_t len)
{
	struct cat_map *m = NULL;
	char err[256];

	if (cat_map_parse(text, len, &m, err, sizeof(err)) != 0)
		fail("map does not parse", err);
	return m;
}

static void setup(struct cat_ctl *c)
{
	struct cat_ctl_node *n;
	char err[256];

	memset(c, 0, sizeof(*c));
	cat_ctl_config_defaults(&c->cfg);
	snprintf(c->cfg.mgmt_socket, sizeof(c->cfg.mgmt_socket),
		 "/nonexistent/catena-fuzz.sock");
	c->quiet = 1;
	c->rf = 3;
	c->start_ms = cat_ctl_now_ms();
	cat_ctl_store_init_io(&c->store, "fuzz-store", store_get, store_put, NULL);
	c->map = parse(map_text, sizeof(map_text) - 1);
	/* One history entry, as after a first save. */
	if (cat_ctl_store_save(&c->store, c->map, "initial", 1, err,
			       sizeof(err)) != 0)
		fail("initial save", err);
	cat_ctl_sync_nodes(c);
	/* Nodes in every state the management commands look at; no
	 * connections, so verify answers at once. */
	/* Node 1 is chain 3's tail: its transfer report feeds `chains`. */
	n = cat_ctl_node(c, 1);
	n->state = CAT_CTL_NODE_UP;
	n->last_hb_ms = c->start_ms;
	n->stats = json_pack("{s:i,s:i,s:s}", "requests", 10, "replies", 9,
			     "note", "x");
	n->xfer = json_pack("[{s:i,s:i,s:i,s:i,s:i,s:i,s:i}]", "chain", 3,
			    "joiner", 2, "epoch", 5, "chain_slots", 5,
			    "snapshotting", 1, "caught_up", 2, "keys", 7);
	n = cat_ctl_node(c, 3);
	n->state = CAT_CTL_NODE_UP;
	n->n_suspect = 1;
	n->suspect[0] = 1;
	cat_ctl_node(c, 2)->state = CAT_CTL_NODE_RETURNED;
	cat_ctl_node(c, 5)->state = CAT_CTL_NODE_FAILED;
	cat_ctl_store_set_mark(&c->store, 5, CAT_CTL_MARK_FAILED);
}

static void teardown(struct cat_ctl *c)
{
	for (uint16_t i = 0; i < c->n_nodes; i++) {
		json_decref(c->nodes[i].stats);
		json_decref(c->nodes[i].xfer);
	}
	cat_ctl_mgmt_fini(c);
	cat_ctl_store_fini(&c->store);
	cat_map_free(c->map);
}

static char *format(const struct cat_map *m)
{
	char *t = malloc(CAT_MAP_TEXT_MAX + 1);

	if (t == NULL || cat_map_format(m, t, CAT_MAP_TEXT_MAX + 1) < 0)
		fail("cannot format the map", NULL);
	return t;
}

/* The answer: one LF-terminated line holding one JSON object. Returns
 * 1 for ok:true, 0 for ok:false. */
static int check_answer(const struct cat_ctl_conn *conn)
{
	json_error_t jerr;
	json_t *a, *ok;
	const char *nl;
	int res;

	if (conn->dead)
		fail("the connection was dropped", NULL);
	if (conn->out_len == 0)
		fail("no answer", NULL);
	nl = memchr(conn->out, '\n', conn->out_len);
	if (nl == NULL || (size_t)(nl - conn->out) != conn->out_len - 1)
		fail("not exactly one answer line", NULL);
	if (conn->out_len - 1 > CAT_CTL_LINE_MAX)
		fail("answer over the line limit", NULL);
	a = json_loadb(conn->out, conn->out_len - 1, JSON_REJECT_DUPLICATES, &jerr);
	if (!json_is_object(a))
		fail("answer is not a JSON object", jerr.text);
	ok = json_object_get(a, "ok");
	if (!json_is_boolean(ok))
		fail("answer without a boolean \"ok\"", NULL);
	res = json_is_true(ok);
	if (res && json_object_get(a, "result") == NULL)
		fail("ok answer without a result", NULL);
	if (!res && !json_is_string(json_object_get(a, "error")))
		fail("error answer without an error text", NULL);
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
	store_fails = 0;
	setup(&c);
	memset(&conn, 0, sizeof(conn));
	conn.fd = -1;
	conn.kind = CAT_CTL_CONN_MGMT;
	conn.serial = 1;
	store_fails = len > 0 && data[0] == ' ';
	epoch = c.map->epoch;
	before = format(c.map);
	for (uint16_t id = 1; id <= 5; id++)
		marks_before[id] = (uint8_t)cat_ctl_store_mark(&c.store, id);

	cat_ctl_mgmt_line(&c, &conn, (const char *)data, len);

	ok = check_answer(&conn);
	if (getenv("FUZZ_MGMT_PRINT") != NULL) /* to see what a seed reaches */
		fprintf(stderr, "%.*s", (int)conn.out_len, conn.out);
	after = format(c.map);
	if (!ok) {
		if (c.map->epoch != epoch || strcmp(before, after) != 0)
			fail("a refused request changed the map", after);
		for (uint16_t id = 1; id <= 5; id++)
			if ((uint8_t)cat_ctl_store_mark(&c.store, id) != marks_before[id])
				fail("a refused request changed a node mark", NULL);
	} else if (strcmp(before, after) != 0) {
		struct cat_map *back;
		char *again;

		if (c.map->epoch <= epoch)
			fail("the map changed without a new epoch", after);
		if (store_fails)
			fail("the map changed although the store refused it", after);
		back = parse(after, strlen(after));
		again = format(back);
		if (strcmp(after, again) != 0)
			fail("the new map does not format back to itself", after);
		free(again);
		cat_map_free(back);
	}
	free(before);
	free(after);
	free(conn.out);
	teardown(&c);
	return 0;
}
