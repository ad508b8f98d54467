/*
 * catena-control node channel (docs/CONTROL.md): hello, heartbeats,
 * map_applied and digests from nodes; failure detection by heartbeat
 * timeout. Any malformed line gets an error and the connection is closed
 * (the node reconnects with backoff), so a confused node never half-talks.
 * A suspicion reported by a node is logged, never acted on alone.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/backup.h"
#include "control/nodechan.h"
#include "control/rebuild.h"
#include "control/policy.h"

/* An integer member in [min, max]; 0, or -ENOENT if absent, -EINVAL if
 * present but not such an integer. */
static int get_int(json_t *o, const char *key, json_int_t min, json_int_t max,
		   json_int_t *v)
{
	json_t *j = json_object_get(o, key);

	if (j == NULL)
		return -ENOENT;
	if (!json_is_integer(j) || json_integer_value(j) < min ||
	    json_integer_value(j) > max)
		return -EINVAL;
	*v = json_integer_value(j);
	return 0;
}

/* A failed node is heard from again: by a new hello, or by heartbeats on
 * the connection it kept (a node that was frozen, not restarted). */
static void node_back(struct cat_ctl *c, struct cat_ctl_node *n)
{
	char chains[256], why[256];

	if (cat_ctl_chains_of(c->map, n->id, chains, sizeof(chains)) > 0) {
		/* It was kept as the last member of some chain: with it back,
		 * those slots are served again; with a log, once the other
		 * nodes' logs say none goes further (control/rebuild.h). */
		n->state = CAT_CTL_NODE_UP;
		cat_ctl_store_set_mark(&c->store, n->id, CAT_CTL_MARK_NONE);
		if (cat_ctl_store_save(&c->store, c->map, NULL, cat_ctl_now_unix(),
				       why, sizeof(why)) < 0)
			cat_ctl_event(c, "store write failed: %s", why);
		if (cat_ctl_rebuild_hold(c, n, cat_ctl_now_ms()) > 0)
			return;
		cat_ctl_event(c,
			"node %u returned: still the last member of chains %s, serving them again",
			n->id, chains);
	} else {
		n->state = CAT_CTL_NODE_RETURNED;
		cat_ctl_event(c, c->cfg.restore_replicas ?
			"node %u returned: in no chain, it rejoins by state transfer where a chain is short" :
			"node %u returned: in no chain (restore_replicas off: node_add with a chain rejoins it)",
			n->id);
	}
}

static void fail_node(struct cat_ctl *c, uint16_t id, uint64_t now,
		      const char *why);

/* A node's process, as its hello names it, is stored: a catena-control
 * that restarts still knows it, and still sees a node that restarted
 * while it was away. */
static void remember_boot(struct cat_ctl *c, struct cat_ctl_node *n,
			  uint64_t boot)
{
	char why[256];

	n->boot = boot;
	if (cat_ctl_store_set_boot(&c->store, n->id, boot) > 0 &&
	    cat_ctl_store_save(&c->store, c->map, NULL, cat_ctl_now_unix(), why,
			       sizeof(why)) < 0)
		cat_ctl_event(c, "store write failed (node %u's boot id): %s",
			      n->id, why);
}

/* A node that restarted lost its state: out of its chains at once. */
static void restarted(struct cat_ctl *c, struct cat_ctl_node *n)
{
	fail_node(c, n->id, cat_ctl_now_ms(), "restarted (a new process: its data is gone)");
}

static void on_hello(struct cat_ctl *c, struct cat_ctl_conn *conn, json_t *msg)
{
	struct cat_ctl_node *n;
	json_int_t id, epoch, boot = 0;
	json_t *ver = json_object_get(msg, "version");
	json_t *dur = json_object_get(msg, "durable");
	char why[160];

	if (conn->node != 0) {
		cat_ctl_node_error(conn, "hello: already said on this connection");
		return;
	}
	if (get_int(msg, "node", 1, 65535, &id) < 0 ||
	    get_int(msg, "epoch", 0, UINT32_MAX, &epoch) < 0) {
		cat_ctl_node_error(conn,
			"hello: expected {\"type\":\"hello\",\"node\":1..65535,\"epoch\":0..4294967295}");
		return;
	}
	if (get_int(msg, "boot", 1, INT64_MAX, &boot) == -EINVAL) {
		cat_ctl_node_error(conn, "hello: \"boot\" must be a positive number");
		return;
	}
	if (dur != NULL && (!json_is_string(dur) ||
			    strcmp(json_string_value(dur), "log") != 0)) {
		cat_ctl_node_error(conn, "hello: \"durable\" must be \"log\" (or absent)");
		return;
	}
	/* Optional (nodes built before it say none); shown to operators as
	 * it comes, so only short printable text is taken. */
	if (ver != NULL && (!json_is_string(ver) ||
			    json_string_length(ver) >= CAT_CTL_VERSION_MAX ||
			    strspn(json_string_value(ver),
				   "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
				   "0123456789.+-_~") != json_string_length(ver))) {
		snprintf(why, sizeof(why), "hello: \"version\" must be a string of "
			 "at most %d letters, digits and .+-_~", CAT_CTL_VERSION_MAX - 1);
		cat_ctl_node_error(conn, why);
		return;
	}
	n = cat_ctl_node(c, (uint16_t)id);
	if (n == NULL) {
		snprintf(why, sizeof(why),
			 "hello: unknown node %lld (not in the map at epoch %u)",
			 (long long)id, c->map->epoch);
		cat_ctl_node_error(conn, why);
		cat_ctl_event(c, "refused a hello from unknown node %lld", (long long)id);
		return;
	}
	if (n->conn != NULL && n->conn != conn) {
		/* A restarted node reconnects before its old connection is
		 * noticed dead: the newest one wins. */
		cat_ctl_node_error(n->conn, "replaced by a newer connection of this node");
		n->conn->node = 0;
	}
	n->conn = conn;
	conn->node = n->id;
	/* What its log holds comes next, in "durable" lines (rebuild.h). */
	free(n->dver);
	n->dver = NULL;
	n->dver_n = 0;
	n->durable = dur != NULL ? CAT_CTL_DURABLE_REPORTING : CAT_CTL_DURABLE_NONE;
	/* Only a node without a map has not changed its store since its
	 * replay: a reconnect's versions are no log's (rebuild.h). */
	n->dfresh = epoch == 0;
	snprintf(n->version, sizeof(n->version), "%s",
		 ver != NULL ? json_string_value(ver) : "");
	n->last_hb_ms = cat_ctl_now_ms();
	n->hello_ms = n->last_hb_ms; /* the data network gets its time too */
	n->epoch = (uint32_t)epoch;
	if (boot != 0 && n->boot != 0 && (uint64_t)boot != n->boot &&
	    (n->state == CAT_CTL_NODE_UP || n->state == CAT_CTL_NODE_NEW)) {
		/* A new process of a known node: it starts empty, so it can
		 * not stay in its chains; it leaves them now and rejoins them
		 * by state transfer. */
		remember_boot(c, n, (uint64_t)boot);
		restarted(c, n);
		n = cat_ctl_node(c, (uint16_t)id);
		if (n == NULL)
			return;
		node_back(c, n);
		if (n->epoch < c->map->epoch)
			cat_ctl_push_map(c, conn);
		return;
	}
	if (boot != 0 && (uint64_t)boot != n->boot)
		remember_boot(c, n, (uint64_t)boot);
	switch (n->state) {
	case CAT_CTL_NODE_NEW:
	case CAT_CTL_NODE_UP:
		cat_ctl_event(c, "node %u up (node at epoch %u)", n->id, n->epoch);
		n->state = CAT_CTL_NODE_UP;
		break;
	case CAT_CTL_NODE_FAILED:
		node_back(c, n);
		break;
	case CAT_CTL_NODE_RETURNED:
		cat_ctl_event(c, "node %u reconnected (returned: in no chain)", n->id);
		break;
	case CAT_CTL_NODE_DRAINED:
		cat_ctl_event(c, "node %u connected (drained: in no chain)", n->id);
		break;
	}
	cat_ctl_node_send_rate(c, conn);
	if (n->epoch < c->map->epoch)
		cat_ctl_push_map(c, conn);
	else if (n->epoch > c->map->epoch)
		cat_ctl_event(c,
			"node %u is at epoch %u, above the stored epoch %u: it keeps its map",
			n->id, n->epoch, c->map->epoch);
}

void cat_ctl_node_send_rate(struct cat_ctl *c, struct cat_ctl_conn *conn)
{
	json_t *m;

	if (!c->store.reshard.rate_set)
		return;
	m = json_pack("{s:s,s:I}", "type", "xfer_rate",
		      "bytes_per_s", (json_int_t)c->store.reshard.rate);
	/* cat_ctl_send() only serialises: the message stays ours. */
	for (uint16_t i = 0; i < c->n_nodes; i++)
		if (conn == NULL && c->nodes[i].conn != NULL)
			cat_ctl_send(c->nodes[i].conn, m);
	if (conn != NULL)
		cat_ctl_send(conn, m);
	json_decref(m);
}

static int check_node(struct cat_ctl_conn *conn, json_t *msg, const char *type)
{
	json_int_t id;
	char why[128];

	if (get_int(msg, "node", 1, 65535, &id) < 0 || id != conn->node) {
		snprintf(why, sizeof(why),
			 "%s: \"node\" missing or not this connection's node %u",
			 type, conn->node);
		cat_ctl_node_error(conn, why);
		return -EINVAL;
	}
	return 0;
}

/*
 * The heartbeat's "port" (optional; anything but an object is ignored):
 * kept for status and nodes, and a link that went down or came back since
 * the last heartbeat is an event for the operator. The link itself changes
 * no map: a node whose link stays down stops answering its peers, who
 * report it suspect.
 */
static void keep_port(struct cat_ctl *c, struct cat_ctl_node *n, json_t *port)
{
	json_int_t down, up, was_down, was_up;
	const char *link;

	if (!json_is_object(port))
		return;
	if (n->port != NULL) {
		down = json_integer_value(json_object_get(port, "link_down_events"));
		up = json_integer_value(json_object_get(port, "link_up_events"));
		was_down = json_integer_value(json_object_get(n->port, "link_down_events"));
		was_up = json_integer_value(json_object_get(n->port, "link_up_events"));
		link = json_string_value(json_object_get(port, "link"));
		if (down > was_down)
			cat_ctl_event(c, "node %u: data port link down "
				      "(link_down_events %lld)", n->id, (long long)down);
		if (up > was_up && link != NULL && strcmp(link, "up") == 0)
			cat_ctl_event(c, "node %u: data port link up again "
				      "(link_up_events %lld)", n->id, (long long)up);
	}
	json_decref(n->port);
	n->port = json_incref(port);
}

/* A member of a report entry: a count, 0 if absent or not one. */
static uint64_t count(json_t *o, const char *k)
{
	json_int_t v = json_integer_value(json_object_get(o, k));

	return v > 0 ? (uint64_t)v : 0;
}

/*
 * The heartbeat's state transfer report, parsed once into the node's
 * typed entries (control/policy.h): what is not an object is skipped, a
 * member that is absent or not a count reads 0. -ENOMEM keeps the old one.
 */
static int keep_xfer(struct cat_ctl_node *n, json_t *xfer, uint32_t epoch)
{
	size_t cnt = json_array_size(xfer), k = 0, i;
	struct cat_ctl_xfer *x = NULL;
	json_t *e;

	if (cnt > CAT_MAP_CHAINS_MAX)
		cnt = CAT_MAP_CHAINS_MAX; /* one a chain of the largest map */
	if (cnt > 0 && (x = calloc(cnt, sizeof(*x))) == NULL)
		return -ENOMEM;
	json_array_foreach(xfer, i, e) {
		if (k == cnt)
			break;
		if (!json_is_object(e))
			continue;
		x[k++] = (struct cat_ctl_xfer){
			.chain = (uint16_t)count(e, "chain"),
			.joiner = (uint16_t)count(e, "joiner"),
			.epoch = (uint32_t)count(e, "epoch"),
			.chain_slots = (uint32_t)count(e, "chain_slots"),
			.slots = (uint32_t)count(e, "slots"),
			.caught_up = (uint32_t)count(e, "caught_up"),
			.snapshotting = (uint32_t)count(e, "snapshotting"),
			.held = (uint32_t)count(e, "held"),
			.keys = count(e, "keys"), .bytes = count(e, "bytes"),
			.joined = count(e, "joined"), .lag = count(e, "lag"),
		};
	}
	free(n->xfer);
	n->xfer = x;
	n->n_xfer = (uint16_t)k;
	n->xfer_epoch = epoch;
	return 0;
}

/* {"type":"durable","from":S,"versions":[...],"end":bool} after a hello
 * that said "durable" (docs/CONTROL.md "Durable versions"). */
static void on_durable(struct cat_ctl *c, struct cat_ctl_conn *conn,
		       json_t *msg)
{
	struct cat_ctl_node *n = cat_ctl_node(c, conn->node);
	json_t *vs = json_object_get(msg, "versions");
	json_t *end = json_object_get(msg, "end");
	uint64_t ver[1024];
	json_int_t from;
	char why[200];
	size_t i;
	json_t *e;

	if (n == NULL)
		return;
	if (get_int(msg, "from", 0, 65535, &from) < 0 || !json_is_array(vs) ||
	    json_array_size(vs) > sizeof(ver) / sizeof(ver[0]) ||
	    (end != NULL && !json_is_boolean(end))) {
		cat_ctl_node_error(conn, "durable: expected {\"type\":\"durable\",\"from\":0..65535,"
				   "\"versions\":[at most 1024 numbers],\"end\":bool}");
		return;
	}
	json_array_foreach(vs, i, e) {
		if (!json_is_integer(e) || json_integer_value(e) < 0) {
			cat_ctl_node_error(conn, "durable: a version that is not a number >= 0");
			return;
		}
		ver[i] = (uint64_t)json_integer_value(e);
	}
	if (cat_ctl_rebuild_report(c, n, (uint32_t)from, ver,
				   (uint32_t)json_array_size(vs), json_is_true(end),
				   why, sizeof(why)) < 0)
		cat_ctl_node_error(conn, why);
}

static void on_heartbeat(struct cat_ctl *c, struct cat_ctl_conn *conn,
			 json_t *msg)
{
	struct cat_ctl_node *n = cat_ctl_node(c, conn->node);
	json_t *sus = json_object_get(msg, "suspect");
	json_t *stats = json_object_get(msg, "stats");
	json_t *xfer = json_object_get(msg, "xfer");
	json_t *heard = json_object_get(msg, "heard");
	uint16_t ids[CAT_CTL_SUSPECT_MAX];
	json_int_t epoch, infl = 0;
	unsigned int ns = 0;
	size_t i;
	json_t *v;
	int rc;

	if (check_node(conn, msg, "heartbeat") < 0)
		return;
	rc = get_int(msg, "in_flight", 0, INT64_MAX, &infl);
	if (get_int(msg, "epoch", 0, UINT32_MAX, &epoch) < 0 || rc == -EINVAL ||
	    (sus != NULL && !json_is_array(sus)) ||
	    (stats != NULL && !json_is_object(stats)) ||
	    (xfer != NULL && !json_is_array(xfer)) ||
	    (heard != NULL && !json_is_array(heard))) {
		cat_ctl_node_error(conn,
			"heartbeat: expected \"epoch\" (number), optional \"suspect\" (array of node ids), \"in_flight\" (number), \"stats\" (object), \"xfer\" (array), \"heard\" (array of node ids)");
		return;
	}
	json_array_foreach(sus, i, v) {
		if (!json_is_integer(v) || json_integer_value(v) < 1 ||
		    json_integer_value(v) > 65535) {
			cat_ctl_node_error(conn, "heartbeat: \"suspect\" holds a non node id");
			return;
		}
		if (ns < CAT_CTL_SUSPECT_MAX)
			ids[ns++] = (uint16_t)json_integer_value(v);
	}
	if (n == NULL)
		return;
	n->last_hb_ms = cat_ctl_now_ms();
	n->epoch = (uint32_t)epoch;
	n->in_flight = infl;
	keep_port(c, n, json_object_get(msg, "port"));
	json_decref(n->dstat);
	n->dstat = json_incref(json_object_get(msg, "durable"));
	if (n->state == CAT_CTL_NODE_FAILED) {
		node_back(c, n);
		/* The maps pushed while it was away wait in its socket; this
		 * one makes sure it ends on the current epoch. */
		if (n->epoch < c->map->epoch)
			cat_ctl_push_map(c, conn);
	}
	if (ns != n->n_suspect || memcmp(ids, n->suspect, ns * sizeof(ids[0]))) {
		char list[64];

		cat_ctl_list_ids(list, sizeof(list), ids, ns);
		if (ns > 0)
			cat_ctl_event(c, "node %u suspects %s (a hint: no action on it alone)",
				      n->id, list);
		else
			cat_ctl_event(c, "node %u suspects nobody now", n->id);
		memcpy(n->suspect, ids, ns * sizeof(ids[0]));
		n->n_suspect = (uint16_t)ns;
	}
	if (stats != NULL) {
		json_decref(n->stats);
		n->stats = json_incref(stats);
	}
	/* Absent: nothing to report. */
	if (keep_xfer(n, xfer, (uint32_t)epoch) < 0)
		cat_ctl_event(c, "node %u: out of memory for its transfer report", n->id);
	if (heard != NULL) {
		uint64_t now = cat_ctl_now_ms();

		c->heard_reports = 1;
		json_array_foreach(heard, i, v) {
			struct cat_ctl_node *h = json_is_integer(v) &&
				json_integer_value(v) >= 1 &&
				json_integer_value(v) <= 65535 ?
				cat_ctl_node(c, (uint16_t)json_integer_value(v)) : NULL;

			if (h != NULL && h != n) {
				h->heard_by_ms = now;
				n->heard_any_ms = now;
			}
		}
	}
}

static void on_map_applied(struct cat_ctl *c, struct cat_ctl_conn *conn,
			   json_t *msg)
{
	struct cat_ctl_node *n = cat_ctl_node(c, conn->node);
	json_int_t epoch;

	if (check_node(conn, msg, "map_applied") < 0)
		return;
	if (get_int(msg, "epoch", 1, UINT32_MAX, &epoch) < 0) {
		cat_ctl_node_error(conn, "map_applied: \"epoch\" missing or not 1..4294967295");
		return;
	}
	if (n != NULL)
		n->epoch = (uint32_t)epoch;
}

int cat_ctl_node_accepted(struct cat_ctl *c, struct cat_ctl_conn *conn,
			  const char *peer)
{
	char hex[2 * CAT_AUTH_NONCE_LEN + 1];
	json_t *m;
	int rc;

	snprintf(conn->peer, sizeof(conn->peer), "%s", peer);
	if (c->secret == NULL)
		return 0;
	conn->auth = calloc(1, sizeof(*conn->auth));
	if (conn->auth == NULL)
		return -ENOMEM;
	rc = cat_auth_nonce(conn->auth_nonce);
	if (rc < 0)
		return rc;
	cat_auth_nonce_hex(conn->auth_nonce, hex);
	m = json_pack("{s:s,s:s,s:s}", "type", "auth", "alg", CAT_AUTH_ALG,
		      "nonce", hex);
	if (m == NULL)
		return -ENOMEM;
	rc = cat_ctl_send(conn, m);
	json_decref(m);
	conn->auth_state = CAT_CTL_AUTH_CHALLENGED;
	return rc;
}

static void auth_refused(struct cat_ctl *c, struct cat_ctl_conn *conn,
			 const char *why)
{
	conn->auth_state = CAT_CTL_AUTH_REFUSED;
	c->auth_refused++;
	/* One event per burst: a peer retrying with a wrong secret must not
	 * push every other event out of `status`. */
	if (conn->node != 0)
		cat_ctl_burst_note_why(c, CAT_CTL_BURST_NODE_AUTH, why,
				   cat_ctl_now_ms(), 0, "node channel: closed node %u's connection from %s: %s",
				   conn->node, conn->peer, why);
	else
		cat_ctl_burst_note_why(c, CAT_CTL_BURST_NODE_AUTH, why,
				   cat_ctl_now_ms(), 0, "node channel: refused a connection from %s: %s",
				   conn->peer, why);
}

/*
 * The node's answer to the challenge: {"type":"auth","nonce":HEX}. Until
 * it comes nothing else is read, so an unauthenticated peer is answered
 * with what it lacks and closed.
 */
static void on_auth_answer(struct cat_ctl *c, struct cat_ctl_conn *conn,
			   const char *line, size_t len)
{
	json_t *msg = json_loadb(line, len, JSON_REJECT_DUPLICATES, NULL);
	json_t *jn = json_object_get(msg, "nonce");
	const char *type = json_string_value(json_object_get(msg, "type"));
	uint8_t nonce_n[CAT_AUTH_NONCE_LEN];

	if (type == NULL || strcmp(type, "auth") != 0 || !json_is_string(jn) ||
	    cat_auth_nonce_parse(json_string_value(jn), json_string_length(jn),
				 nonce_n) < 0) {
		auth_refused(c, conn, "it did not authenticate (this catena-control "
			     "has a cluster secret: the node needs the same "
			     "[control] secret_file)");
		cat_ctl_node_error(conn, "authentication required: this catena-control "
				   "has a cluster secret; set the same [control] "
				   "secret_file in the node's config");
	} else if (cat_auth_session_init(conn->auth, c->secret, conn->auth_nonce,
					 nonce_n, CAT_AUTH_CONTROL) < 0) {
		auth_refused(c, conn, "libcrypto failed to derive the session key");
		conn->dead = 1;
	} else {
		conn->auth_state = CAT_CTL_AUTH_ON;
	}
	json_decref(msg);
}

void cat_ctl_node_line(struct cat_ctl *c, struct cat_ctl_conn *conn,
		       const char *line, size_t len)
{
	json_error_t jerr;
	json_t *msg;
	const char *type;
	char why[256];
	int rc;

	if (conn->auth_state == CAT_CTL_AUTH_REFUSED)
		return;
	if (conn->auth_state == CAT_CTL_AUTH_CHALLENGED) {
		on_auth_answer(c, conn, line, len);
		return;
	}
	if (conn->auth_state == CAT_CTL_AUTH_ON) {
		if (cat_auth_check(conn->auth, line, len) < 0) {
			/* A wrong secret, or a line altered, replayed or
			 * injected on the way: nothing more from it is read. */
			cat_ctl_node_error(conn, "a line failed authentication: is "
					   "the node's secret_file the cluster's?");
			auth_refused(c, conn, "a line failed authentication (wrong "
				     "cluster secret, or altered or replayed)");
			return;
		}
		line += CAT_AUTH_LINE_OVERHEAD;
		len -= CAT_AUTH_LINE_OVERHEAD;
	}
	msg = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
	if (msg == NULL || !json_is_object(msg)) {
		snprintf(why, sizeof(why), "not a JSON object%s%s",
			 msg == NULL ? ": " : "", msg == NULL ? jerr.text : "");
		cat_ctl_node_error(conn, why);
		json_decref(msg);
		return;
	}
	type = json_string_value(json_object_get(msg, "type"));
	if (type == NULL) {
		cat_ctl_node_error(conn, "\"type\" missing or not a string");
	} else if (strcmp(type, "hello") == 0) {
		on_hello(c, conn, msg);
	} else if (conn->node == 0) {
		cat_ctl_node_error(conn, "the first line must be a hello");
	} else if (strcmp(type, "heartbeat") == 0) {
		on_heartbeat(c, conn, msg);
	} else if (strcmp(type, "map_applied") == 0) {
		on_map_applied(c, conn, msg);
	} else if (strcmp(type, "durable") == 0) {
		on_durable(c, conn, msg);
	} else if (strcmp(type, "digests") == 0) {
		if (check_node(conn, msg, "digests") == 0 &&
		    cat_ctl_verify_digests(c, conn->node, msg, why,
					   sizeof(why)) < 0)
			cat_ctl_node_error(conn, why);
	} else if ((rc = cat_ctl_backup_node_msg(c, conn, type, msg, why,
						sizeof(why))) != 0) {
		if (rc < 0) /* backup and restore: control/backup.c */
			cat_ctl_node_error(conn, why);
	} else {
		snprintf(why, sizeof(why), "unknown type '%.40s'", type);
		cat_ctl_node_error(conn, why);
	}
	json_decref(msg);
}

void cat_ctl_node_closed(struct cat_ctl *c, struct cat_ctl_conn *conn)
{
	struct cat_ctl_node *n;

	if (conn->auth_state == CAT_CTL_AUTH_CHALLENGED)
		auth_refused(c, conn, "it closed the connection before it "
			     "authenticated (does the node have the cluster's "
			     "secret_file?)");
	if (conn->auth != NULL) {
		cat_auth_session_clear(conn->auth);
		free(conn->auth);
		conn->auth = NULL;
	}
	if (conn->node == 0)
		return;
	n = cat_ctl_node(c, conn->node);
	if (n != NULL && n->conn == conn) {
		n->conn = NULL;
		cat_ctl_event(c, "node %u disconnected (%s)", n->id,
			      cat_ctl_state_name(n->state));
	}
	conn->node = 0;
}

static void fail_node(struct cat_ctl *c, uint16_t id, uint64_t now,
		      const char *why)
{
	struct cat_ctl_node *n = cat_ctl_node(c, id);
	uint32_t to = c->cfg.heartbeat_timeout_ms;
	struct cat_ctl_removal *r;
	struct cat_map *next = NULL;
	char err[256], reason[128], left[1400], kept[1400];
	int rc;

	if (n->state == CAT_CTL_NODE_RETURNED) {
		n->state = CAT_CTL_NODE_FAILED;
		cat_ctl_event(c,
			"node %u failed again (no heartbeat for %u ms): in no chain, map unchanged",
			id, to);
		return;
	}
	r = malloc(sizeof(*r));
	if (r == NULL)
		return;
	rc = cat_ctl_plan_remove(c->map, id, &next, r, err, sizeof(err));
	if (rc < 0) {
		cat_ctl_event(c, "node %u failed (no heartbeat for %u ms) but no new map: %s",
			      id, to, rc == -EINVAL ? err : strerror(-rc));
		n->last_hb_ms = now; /* try again after another timeout */
		free(r);
		return;
	}
	cat_ctl_list_ids(left, sizeof(left), r->left, r->n_left);
	cat_ctl_list_ids(kept, sizeof(kept), r->kept, r->n_kept);
	cat_ctl_store_set_mark(&c->store, id, CAT_CTL_MARK_FAILED);
	if (why != NULL)
		snprintf(reason, sizeof(reason), "node %u %s", id, why);
	else
		snprintf(reason, sizeof(reason),
			 "node %u failed (no heartbeat for %u ms)", id, to);
	if (next != NULL)
		rc = cat_ctl_commit(c, next, reason, err, sizeof(err));
	else
		rc = cat_ctl_store_save(&c->store, c->map, NULL,
					cat_ctl_now_unix(), err, sizeof(err));
	n = cat_ctl_node(c, id); /* the table was rebuilt */
	if (rc < 0) {
		cat_ctl_store_set_mark(&c->store, id, CAT_CTL_MARK_NONE);
		cat_ctl_event(c, "%s, but the change failed: %s", reason, err);
		n->last_hb_ms = now;
		free(r);
		return;
	}
	n->state = CAT_CTL_NODE_FAILED;
	if (r->n_left > 0 && r->n_kept > 0)
		cat_ctl_event(c,
			"%s: removed from chains %s; kept in chains %s as their last member (their slots are unavailable until it returns)",
			reason, left, kept);
	else if (r->n_left > 0)
		cat_ctl_event(c, "%s: removed from chains %s", reason, left);
	else if (r->n_kept > 0)
		cat_ctl_event(c,
			"%s: kept in chains %s as their last member (their slots are unavailable until it returns), map unchanged",
			reason, kept);
	else
		cat_ctl_event(c, "%s: in no chain, map unchanged", reason);
	free(r);
}

/*
 * A node can heartbeat on the node channel and still be cut off from the
 * data network (its own link or switch port down), where its chains stall.
 * The policy names such a node (cat_ctl_policy_unheard) once the map has
 * been in force for the heartbeat timeout. One per tick.
 */
static uint16_t unheard_member(struct cat_ctl *c, const struct cat_ctl_view *v,
			       uint64_t now_ms)
{
	if (!c->heard_reports)
		return 0;
	if (c->heard_epoch != c->map->epoch) {
		c->heard_epoch = c->map->epoch;
		c->heard_since_ms = now_ms;
	}
	return cat_ctl_policy_unheard(v, c->heard_reports, now_ms,
				      c->heard_since_ms,
				      c->cfg.heartbeat_timeout_ms);
}

void cat_ctl_node_tick(struct cat_ctl *c, uint64_t now_ms)
{
	struct cat_ctl_pnode nodes[CAT_MAP_NODES_MAX];
	uint16_t due[CAT_MAP_NODES_MAX];
	struct cat_ctl_view v;
	unsigned int n = 0;
	uint16_t cut;
	char why[96];

	cat_ctl_view(c, now_ms, &v, nodes);
	for (uint16_t i = 0; i < v.n_nodes; i++)
		if (cat_ctl_policy_timed(&v, &nodes[i]) &&
		    now_ms >= nodes[i].last_hb_ms + c->cfg.heartbeat_timeout_ms)
			due[n++] = nodes[i].id;
	/* One epoch per failed node: each map change is one event a
	 * reader of the history can follow. */
	for (unsigned int i = 0; i < n; i++)
		if (cat_ctl_node(c, due[i]) != NULL)
			fail_node(c, due[i], now_ms, NULL);
	if (n == 0 && (cut = unheard_member(c, &v, now_ms)) != 0) {
		snprintf(why, sizeof(why),
			 "cut off from the data network (no node heard it for %u ms)",
			 c->cfg.heartbeat_timeout_ms);
		fail_node(c, cut, now_ms, why);
	}
}

uint64_t cat_ctl_node_deadline(struct cat_ctl *c)
{
	struct cat_ctl_pnode nodes[CAT_MAP_NODES_MAX];
	struct cat_ctl_view v;
	uint64_t d = UINT64_MAX;

	cat_ctl_view(c, cat_ctl_now_ms(), &v, nodes);
	for (uint16_t i = 0; i < v.n_nodes; i++)
		if (cat_ctl_policy_timed(&v, &nodes[i]) &&
		    nodes[i].last_hb_ms + c->cfg.heartbeat_timeout_ms < d)
			d = nodes[i].last_hb_ms + c->cfg.heartbeat_timeout_ms;
	return d;
}
