/*
 * Fuzz target for catena-control's node channel (control/nodechan.c): the
 * lines of one node connection, as catena-control's loop hands them over,
 * into the state of ctl_fixture.c. The first input byte picks the
 * connection's kind:
 *   bit 0  catena-control has a cluster secret (the connection starts
 *          with the challenge, replication/chanauth.h);
 *   bit 1  with bit 0: the harness answers the challenge and tags every
 *          later line correctly, as a node holding the secret would, so
 *          the authenticated path is fuzzed as deeply as the plain one.
 * The rest is up to 64 LF-separated lines. Checked: everything
 * catena-control sent is one JSON object per line (tagged correctly once
 * authenticated); a peer without the secret changed nothing at all (map,
 * node states, connections); a changed map has a higher epoch and formats
 * back to itself; after the close no node still points at the
 * connection. Built by tests/fuzz/run_fuzz.sh nodechan (libFuzzer) and by
 * meson (fuzz-replay-nodechan). Aborts on any broken invariant.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/ctl.h"
#include "control/nodechan.h"
#include "control/rebuild.h"
#include "control/rejoin.h"
#include "tests/fuzz/ctl_fixture.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define LINES_MAX 64

static const char secret_text[] = "fuzz-cluster-secret-0123456789";
static const uint8_t nonce_c[CAT_AUTH_NONCE_LEN] = { 1, 2, 3, 4, 5, 6, 7, 8 };
static const uint8_t nonce_n[CAT_AUTH_NONCE_LEN] = { 9, 9, 9, 9, 9, 9, 9, 9 };

/* What catena-control sent: JSON objects, one a line, tagged under the
 * node's session once it is on. */
static void check_output(const struct cat_ctl_conn *conn,
			 struct cat_auth_session *node, int tagged_from)
{
	size_t off = 0;
	int line = 0;

	while (off < conn->out_len) {
		const char *p = conn->out + off;
		const char *nl = memchr(p, '\n', conn->out_len - off);
		size_t len;
		json_t *o;

		if (nl == NULL)
			fx_fail("output not ending in LF", NULL);
		len = (size_t)(nl - p);
		if (node != NULL && line >= tagged_from) {
			if (cat_auth_check(node, p, len) != 0)
				fx_fail("a line catena-control sent has a wrong tag", NULL);
			p += CAT_AUTH_LINE_OVERHEAD;
			len -= CAT_AUTH_LINE_OVERHEAD;
		}
		o = json_loadb(p, len, JSON_REJECT_DUPLICATES, NULL);
		if (o == NULL && node == NULL && len > CAT_AUTH_LINE_OVERHEAD &&
		    p[CAT_AUTH_TAG_HEX] == ' ') {
			/* Tagged under a session the harness does not hold (a
			 * peer that answered with a nonce of its own). */
			o = json_loadb(p + CAT_AUTH_LINE_OVERHEAD,
				       len - CAT_AUTH_LINE_OVERHEAD,
				       JSON_REJECT_DUPLICATES, NULL);
		}
		if (!json_is_object(o) ||
		    !json_is_string(json_object_get(o, "type")))
			fx_fail("catena-control sent a line that is not a typed "
				"JSON object", NULL);
		json_decref(o);
		off += (size_t)(nl - (conn->out + off)) + 1;
		line++;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct cat_ctl c;
	struct cat_auth_secret secret;
	struct cat_auth_session node;
	struct cat_ctl_conn conn;
	enum cat_ctl_node_state states[CAT_MAP_NODES_MAX];
	char *before, *after, *buf;
	int with_secret, honest, n_lines = 0;
	uint32_t epoch;
	size_t off = 1;

	if (size < 1)
		return 0;
	with_secret = data[0] & 1;
	honest = with_secret && (data[0] & 2);
	fx_store_fails = 0;
	fx_setup(&c);
	memset(&conn, 0, sizeof(conn));
	conn.fd = -1;
	conn.kind = CAT_CTL_CONN_NODE;
	conn.serial = 1;
	memset(&secret, 0, sizeof(secret));
	secret.len = sizeof(secret_text) - 1;
	memcpy(secret.key, secret_text, secret.len);
	if (with_secret)
		c.secret = &secret;
	if (cat_ctl_node_accepted(&c, &conn, "fuzz") != 0)
		fx_fail("accepting failed", NULL);
	if (with_secret) {
		/* The challenge's nonce, fixed so that inputs replay. */
		memcpy(conn.auth_nonce, nonce_c, sizeof(nonce_c));
		if (cat_auth_session_init(&node, &secret, nonce_c, nonce_n,
					  CAT_AUTH_NODE) != 0)
			fx_fail("session init", NULL);
	}
	before = fx_format(c.map);
	epoch = c.map->epoch;
	for (uint16_t i = 0; i < c.n_nodes; i++)
		states[i] = c.nodes[i].state;
	buf = malloc(CAT_CTL_LINE_MAX + CAT_AUTH_LINE_OVERHEAD + 1);
	if (buf == NULL)
		fx_fail("out of memory", NULL);

	if (honest) {
		static const char answer[] =
			"{\"type\":\"auth\",\"nonce\":\"09090909090909090000000000000000\"}";

		cat_ctl_node_line(&c, &conn, answer, sizeof(answer) - 1);
		if (conn.auth_state != CAT_CTL_AUTH_ON)
			fx_fail("a well-formed answer did not authenticate", NULL);
	}
	while (off < size && n_lines < LINES_MAX && !conn.closing && !conn.dead) {
		const uint8_t *nl = memchr(data + off, '\n', size - off);
		size_t len = nl != NULL ? (size_t)(nl - (data + off)) : size - off;
		const char *line = (const char *)data + off;

		off += len + 1;
		n_lines++;
		if (len > CAT_CTL_LINE_MAX - CAT_AUTH_LINE_OVERHEAD)
			break; /* refused as too long before the handler */
		if (honest) {
			char tag[CAT_AUTH_TAG_HEX + 1];

			if (cat_auth_tag(&node, line, len, tag) != 0)
				fx_fail("tagging failed", NULL);
			memcpy(buf, tag, CAT_AUTH_TAG_HEX);
			buf[CAT_AUTH_TAG_HEX] = ' ';
			memcpy(buf + CAT_AUTH_LINE_OVERHEAD, line, len);
			line = buf;
			len += CAT_AUTH_LINE_OVERHEAD;
		}
		cat_ctl_node_line(&c, &conn, line, len);
		/* What catena-control's loop does next: hand-overs and
		 * rejoins act on what the heartbeats reported, and rebuilds on
		 * what "durable" lines did. */
		if (!with_secret || honest) {
			cat_ctl_rebuild_tick(&c, cat_ctl_now_ms());
			cat_ctl_rejoin_tick(&c, cat_ctl_now_ms());
		}
		if (with_secret && !honest && conn.auth_state == CAT_CTL_AUTH_ON &&
		    conn.node != 0)
			fx_fail("a peer without the secret said hello", NULL);
	}
	/* The challenge is plain; with an honest node, everything after it
	 * is tagged. */
	check_output(&conn, honest ? &node : NULL, 1);

	after = fx_format(c.map);
	if (with_secret && !honest) {
		if (strcmp(before, after) != 0)
			fx_fail("a peer without the secret changed the map", after);
		for (uint16_t i = 0; i < c.n_nodes; i++)
			if (c.nodes[i].state != states[i] || c.nodes[i].conn != NULL)
				fx_fail("a peer without the secret changed a node", NULL);
	} else if (strcmp(before, after) != 0) {
		fx_check_changed_map(&c, epoch, after);
	}
	cat_ctl_node_closed(&c, &conn);
	for (uint16_t i = 0; i < c.n_nodes; i++)
		if (c.nodes[i].conn == &conn)
			fx_fail("a node still points at a closed connection", NULL);
	c.secret = NULL;
	free(buf);
	free(before);
	free(after);
	free(conn.out);
	fx_teardown(&c);
	return 0;
}
