/*
 * catena-control management socket (docs/CONTROL.md): one JSON request a
 * line, one JSON answer a line. Every request is checked in full (command,
 * argument names and types) before anything changes, so a bad request
 * changes nothing. Map changes go through cat_ctl_commit like failures do.
 * The commands and the argument names each takes are control/mgmt_cmds.def's
 * (catenactl's too); verify's collection of digests is control/verify.c.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "control/backup.h"
#include "control/ctl.h"
#include "control/mgmt.h"
#include "control/mgmt_cmds.h"
#include "control/planner.h"
#include "control/repair.h"
#include "control/reshard.h"
#include "control/verify.h"
#include "replication/version.h"

#define SLOTS_PER_ANSWER 512u  /* keeps a `slots` answer within one line */
#define EVENTS_SHOWN 20u

void cat_ctl_mgmt_reply_err(struct cat_ctl_conn *conn, const char *fmt, ...)
{
	char why[1200];
	json_t *m;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	for (char *p = why; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
			*p = '?';
	m = json_pack("{s:b,s:s}", "ok", 0, "error", why);
	if (m != NULL)
		cat_ctl_send(conn, m);
	json_decref(m);
}

void cat_ctl_mgmt_reply_ok(struct cat_ctl_conn *conn, json_t *result)
{
	json_t *m;
	char *s;
	size_t n;

	if (result == NULL) {
		cat_ctl_mgmt_reply_err(conn, "out of memory");
		return;
	}
	m = json_pack("{s:b,s:o}", "ok", 1, "result", result);
	s = m != NULL ? json_dumps(m, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	n = s != NULL ? strlen(s) : 0;
	if (s == NULL)
		cat_ctl_mgmt_reply_err(conn, "out of memory");
	else if (n > CAT_CTL_LINE_MAX)
		cat_ctl_mgmt_reply_err(conn, "answer of %zu bytes is over the %u-byte line limit",
				       n, CAT_CTL_LINE_MAX);
	else
		cat_ctl_send(conn, m);
	free(s);
	json_decref(m);
}

static json_t *ip_port(const struct cat_map_node *nd)
{
	char b[32];

	snprintf(b, sizeof(b), "%u.%u.%u.%u:%u", nd->ip >> 24,
		 (nd->ip >> 16) & 0xffu, (nd->ip >> 8) & 0xffu, nd->ip & 0xffu,
		 nd->udp_port);
	return json_string(b);
}

static json_t *mac_json(const struct cat_map_node *nd)
{
	static const uint8_t zero[6];
	char b[24];

	if (memcmp(nd->mac, zero, 6) == 0)
		return json_null();
	snprintf(b, sizeof(b), "%02x:%02x:%02x:%02x:%02x:%02x", nd->mac[0],
		 nd->mac[1], nd->mac[2], nd->mac[3], nd->mac[4], nd->mac[5]);
	return json_string(b);
}

static json_t *members(const struct cat_map_chain *ch)
{
	json_t *a = json_array();

	for (uint8_t k = 0; k < ch->len; k++)
		json_array_append_new(a, json_integer(ch->nodes[k]));
	return a;
}

json_t *cat_ctl_mgmt_id_array(const uint16_t *ids, unsigned int n)
{
	json_t *a = json_array();

	for (unsigned int i = 0; i < n; i++)
		json_array_append_new(a, json_integer(ids[i]));
	return a;
}

static json_t *chains_of(const struct cat_map *m, uint16_t id)
{
	json_t *a = json_array();

	for (uint16_t i = 0; i < m->n_chains; i++)
		if (cat_map_chain_pos(&m->chains[i], id) >= 0)
			json_array_append_new(a, json_integer(m->chains[i].id));
	return a;
}

/* A field of a connected node's last heartbeat "port" object, or null
 * (a node that is not connected has no current link state to show). */
static json_t *port_field(const struct cat_ctl_node *n, const char *key)
{
	json_t *v = n != NULL && n->conn != NULL ?
		    json_object_get(n->port, key) : NULL;

	return v != NULL ? json_incref(v) : json_null();
}

/*
 * status: the MTU the nodes run with ("mtu", the smallest, a number) and
 * the value limit that follows (a
 * write must fit every node of its chain, so the smallest counts; the
 * nodes report theirs in their heartbeats).
 */
static void port_summary(struct cat_ctl *c, json_t *r)
{
	json_int_t mtu_lo = 0, mtu_hi = 0, vmax = 0;
	unsigned int reported = 0, down = 0;
	char buf[160];

	for (uint16_t i = 0; i < c->n_nodes; i++) {
		const struct cat_ctl_node *n = &c->nodes[i];
		json_t *m = json_object_get(n->port, "mtu");
		json_t *v = json_object_get(n->port, "value_max");
		const char *link = json_string_value(json_object_get(n->port, "link"));

		if (n->state != CAT_CTL_NODE_UP || !json_is_integer(m) ||
		    !json_is_integer(v))
			continue;
		if (reported == 0 || json_integer_value(m) < mtu_lo)
			mtu_lo = json_integer_value(m);
		if (reported == 0 || json_integer_value(m) > mtu_hi)
			mtu_hi = json_integer_value(m);
		if (reported == 0 || json_integer_value(v) < vmax)
			vmax = json_integer_value(v);
		reported++;
		down += link != NULL && strcmp(link, "down") == 0;
	}
	if (reported == 0) {
		json_object_set_new(r, "value_limit", json_string(
			"unknown: no node up has reported its mtu"));
		return;
	}
	/* Numbers stay numbers (scripts compare them): the smallest MTU, the
	 * one that sets the limit, and the largest only when they differ. */
	json_object_set_new(r, "mtu", json_integer(mtu_lo));
	if (mtu_lo != mtu_hi) {
		json_object_set_new(r, "mtu_max", json_integer(mtu_hi));
		json_object_set_new(r, "mtu_note", json_string(
			"the MTU differs across nodes: the smallest sets the limit"));
	}
	/* 92 bytes of headers, 124 with link tags (a cluster secret). */
	snprintf(buf, sizeof(buf), "%lld - key length bytes (mtu - %lld - key length)",
		 (long long)vmax, (long long)(mtu_lo - vmax));
	json_object_set_new(r, "value_limit", json_string(buf));
	json_object_set_new(r, "value_max", json_integer(vmax));
	json_object_set_new(r, "data_links_down", json_integer(down));
}

/* The connection budgets and what was refused or dropped (docs/CONTROL.md,
 * "Connections and limits"). */
static json_t *conn_summary(const struct cat_ctl *c)
{
	return json_pack("{s:{s:I,s:I,s:I,s:I,s:I,s:I},s:{s:I,s:I,s:I,s:I,s:I}}",
		"node",
		"open", (json_int_t)c->n_node_conns,
		"budget", (json_int_t)CAT_CTL_NODE_CONNS_MAX,
		"refused", (json_int_t)cat_ctl_burst_total(c, CAT_CTL_BURST_NODE_REFUSED),
		"evicted", (json_int_t)cat_ctl_burst_total(c, CAT_CTL_BURST_NODE_EVICTED),
		"timed_out", (json_int_t)cat_ctl_burst_total(c, CAT_CTL_BURST_NODE_TIMEOUT),
		"auth_refused", (json_int_t)c->auth_refused,
		"mgmt",
		"open", (json_int_t)c->n_mgmt_conns,
		"budget", (json_int_t)CAT_CTL_MGMT_CONNS_MAX,
		"refused", (json_int_t)cat_ctl_burst_total(c, CAT_CTL_BURST_MGMT_REFUSED),
		"dropped_not_reading", (json_int_t)cat_ctl_burst_total(c, CAT_CTL_BURST_MGMT_SLOW),
		"idle_closed", (json_int_t)cat_ctl_burst_total(c, CAT_CTL_BURST_MGMT_IDLE));
}

/*
 * The versions the nodes said in their hellos, each with its nodes in map
 * order: [{"version":"0.1.0+abc","nodes":[1,2]},{"version":null,
 * "nodes":[3]}] (null: never said hello, or a node older than the field).
 * More than one entry is an upgrade under way, or one left half done.
 */
static json_t *node_versions(struct cat_ctl *c)
{
	json_t *a = json_array();

	for (uint16_t i = 0; i < c->map->n_nodes; i++) {
		const struct cat_ctl_node *n = cat_ctl_node(c, c->map->nodes[i].id);
		const char *v = n != NULL && n->version[0] ? n->version : NULL;
		json_t *e = NULL, *x;
		size_t k;

		json_array_foreach(a, k, x) {
			const char *xv = json_string_value(json_object_get(x, "version"));

			if ((v == NULL && xv == NULL) ||
			    (v != NULL && xv != NULL && strcmp(v, xv) == 0)) {
				e = x;
				break;
			}
		}
		if (e == NULL) {
			e = json_pack("{s:o,s:[]}", "version",
				      v != NULL ? json_string(v) : json_null(), "nodes");
			json_array_append_new(a, e);
		}
		json_array_append_new(json_object_get(e, "nodes"),
				      json_integer(c->map->nodes[i].id));
	}
	return a;
}

/*
 * The nodes' logs (durability = log), from their heartbeats: how many
 * log, their fsync policies, the largest lag and fsync p99, bytes on disk
 * in all, writer errors, and chains waiting to be rebuilt from a log
 * (control/rebuild.h); "summary" is the line catenactl status shows.
 */
static json_t *durable_summary(const struct cat_ctl *c)
{
	json_t *errors = json_array(), *waiting = json_array(), *r;
	json_int_t lag = 0, disk = 0, p99 = 0, werr = 0, every = -1;
	unsigned int logging = 0, always = 0, timed = 0;
	char line[400], pol[96] = "";

	for (uint16_t i = 0; i < c->n_nodes; i++) {
		const json_t *d = c->nodes[i].dstat;
		const char *f = json_string_value(json_object_get(d, "fsync"));
		const char *err = json_string_value(json_object_get(d, "error"));

		if (c->nodes[i].conn == NULL || !json_is_object(d))
			continue;
		logging++;
		if (f != NULL && strcmp(f, "always") == 0) {
			always++;
		} else {
			json_int_t ms = json_integer_value(json_object_get(d, "fsync_every_ms"));

			timed++;
			if (ms > every)
				every = ms;
		}
#define MAXOF(var, key) do { \
		json_int_t x_ = json_integer_value(json_object_get(d, key)); \
		if (x_ > var) var = x_; } while (0)
		MAXOF(lag, "lag_bytes");
		MAXOF(p99, "fsync_p99_ns");
#undef MAXOF
		disk += json_integer_value(json_object_get(d, "bytes_on_disk"));
		werr += json_integer_value(json_object_get(d, "write_errors"));
		if (err != NULL) {
			char e[300];

			snprintf(e, sizeof(e), "node %u: %s", c->nodes[i].id, err);
			json_array_append_new(errors, json_string(e));
		}
	}
	for (uint16_t i = 0; i < c->n_rebuild; i++)
		json_array_append_new(waiting, json_integer(c->rebuild_chain[i]));
	if (logging == 0) {
		snprintf(line, sizeof(line), "none: no node up logs its writes (memory only)");
	} else {
		if (always && timed)
			snprintf(pol, sizeof(pol), "mixed: %u always, %u every_ms", always, timed);
		else if (always)
			snprintf(pol, sizeof(pol), "fsync always");
		else
			snprintf(pol, sizeof(pol), "fsync every_ms %lld: a power cut may lose that much",
				 (long long)every);
		snprintf(line, sizeof(line),
			 "%u of %u nodes log (%s); lag max %lld B, fsync p99 max %.2f ms, "
			 "%.1f MB on disk%s%s",
			 logging, c->n_nodes, pol, (long long)lag, (double)p99 / 1e6,
			 (double)disk / 1e6, json_array_size(errors) ? "; WRITER FAILED on a node" : "",
			 c->n_rebuild ? "; chains waiting for logs to be rebuilt" : "");
	}
	r = json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:o,s:o,s:I,s:s}",
		      "nodes_logging", (json_int_t)logging,
		      "fsync_always", (json_int_t)always,
		      "lag_bytes_max", lag, "fsync_p99_ns_max", p99,
		      "bytes_on_disk", disk, "write_errors", werr,
		      "errors", errors, "rebuilding_chains", waiting,
		      "rebuilds", (json_int_t)c->rebuilds, "summary", line);
	return r != NULL ? r : json_null();
}

static void cmd_status(struct cat_ctl *c, struct cat_ctl_conn *conn, json_t *req)
{
	uint64_t now = cat_ctl_now_ms();
	unsigned int up = 0, shown;
	json_t *ev = json_array(), *r;
	char mode[8] = "?";
	struct stat st;

	(void)req;
	for (uint16_t i = 0; i < c->n_nodes; i++)
		up += c->nodes[i].state == CAT_CTL_NODE_UP;
	if (stat(c->cfg.mgmt_socket, &st) == 0)
		snprintf(mode, sizeof(mode), "%04o", (unsigned int)(st.st_mode & 07777));
	shown = c->n_events < EVENTS_SHOWN ? c->n_events : EVENTS_SHOWN;
	for (unsigned int k = shown; k > 0; k--) {
		const struct cat_ctl_event *e = &c->events[
			(c->next_event + CAT_CTL_EVENTS_MAX - k) % CAT_CTL_EVENTS_MAX];

		json_array_append_new(ev, json_pack("{s:I,s:I,s:s}", "time",
			(json_int_t)e->time, "epoch", (json_int_t)e->epoch,
			"text", e->text));
	}
	r = json_pack("{s:I,s:I,s:I,s:I,s:I,s:b,s:s,s:s,s:s,s:s,s:s,s:I,s:I,s:o}",
		"epoch", (json_int_t)c->map->epoch,
		"nodes_up", (json_int_t)up,
		"nodes_total", (json_int_t)c->n_nodes,
		"chains", (json_int_t)c->map->n_chains,
		"slots", (json_int_t)c->map->slot_count,
		"craq", c->map->craq,
		"store", c->cfg.store,
		"state_dir", c->cfg.state_dir,
		"node_listen", c->cfg.node_listen,
		"mgmt_socket", c->cfg.mgmt_socket,
		"socket_mode", mode,
		"heartbeat_timeout_ms", (json_int_t)c->cfg.heartbeat_timeout_ms,
		"uptime_s", (json_int_t)((now - c->start_ms) / 1000u),
		"events", ev);
	if (r != NULL) {
		json_object_set_new(r, "node_auth", json_string(
			c->secret != NULL ? CAT_AUTH_ALG : "none"));
		json_object_set_new(r, "node_auth_refused",
				    json_integer((json_int_t)c->auth_refused));
		/* What the nodes check of each other's replication traffic
		 * (dataplane/worker.h, CAT_DATA_AUTH*): link tags under the
		 * keys this catena-control hands out, with a secret. */
		json_object_set_new(r, "data_auth", json_string(
			c->secret != NULL ? "siphash-2-4-128 link tags, per-epoch link keys" :
			"none: map IP and MAC only"));
		port_summary(c, r);
		json_object_set_new(r, "durable", durable_summary(c));
		json_object_set_new(r, "connections", conn_summary(c));
		json_object_set_new(r, "loop", json_pack("{s:I,s:I,s:o}",
			"stalls", (json_int_t)cat_ctl_burst_total(c, CAT_CTL_BURST_STALL),
			"longest_stall_ms", (json_int_t)c->burst[CAT_CTL_BURST_STALL].max,
			"last_stall_s_ago", c->stall_last_ms != 0 ?
				json_integer((json_int_t)((now - c->stall_last_ms) / 1000u)) :
				json_null()));
	}
	if (r != NULL) {
		json_object_set_new(r, "version", json_string(CAT_VERSION));
		json_object_set_new(r, "node_versions", node_versions(c));
	}
	/* With etcd only the leader answers: say which instance that is. */
	if (r != NULL && c->etcd != NULL)
		json_object_set_new(r, "instance", json_string(c->etcd->instance));
	cat_ctl_mgmt_reply_ok(conn, r);
}

static void cmd_nodes(struct cat_ctl *c, struct cat_ctl_conn *conn, json_t *req)
{
	uint64_t now = cat_ctl_now_ms();
	json_t *a = json_array();

	(void)req;
	for (uint16_t i = 0; i < c->map->n_nodes; i++) {
		const struct cat_map_node *nd = &c->map->nodes[i];
		const struct cat_ctl_node *n = cat_ctl_node(c, nd->id);
		int heard = n != NULL && n->last_hb_ms != 0;

		json_array_append_new(a, json_pack("{s:I,s:o,s:o,s:s,s:b,s:o,s:o,s:o,s:o,s:o,s:o,s:o}",
			"id", (json_int_t)nd->id,
			"address", ip_port(nd),
			"mac", mac_json(nd),
			"state", n != NULL ? cat_ctl_state_name(n->state) : "new",
			"connected", n != NULL && n->conn != NULL,
			"epoch", heard ? json_integer(n->epoch) : json_null(),
			"last_heartbeat_ms", heard ?
				json_integer((json_int_t)(now - n->last_hb_ms)) : json_null(),
			"chains", chains_of(c->map, nd->id),
			"suspect", n != NULL ? cat_ctl_mgmt_id_array(n->suspect, n->n_suspect)
					     : json_array(),
			"link", port_field(n, "link"),
			"mtu", port_field(n, "mtu"),
			"version", n != NULL && n->version[0] ?
				json_string(n->version) : json_null()));
	}
	cat_ctl_mgmt_reply_ok(conn, a);
}

/* A joining node and how far its state transfer is, from the tail's last
 * heartbeat (docs/CONTROL.md, "Joining a chain"). */
static json_t *join_progress(struct cat_ctl *c, const struct cat_map_chain *ch)
{
	struct cat_ctl_pnode nodes[CAT_MAP_NODES_MAX];
	const struct cat_ctl_xfer *x;
	struct cat_ctl_view v;
	json_t *o = json_pack("{s:I}", "node", (json_int_t)ch->joining);

	cat_ctl_view(c, cat_ctl_now_ms(), &v, nodes);
	x = cat_ctl_policy_report(&v, cat_map_chain_tail(ch), ch->id,
				  ch->joining, UINT32_MAX);
	if (x != NULL)
		json_object_update_new(o, json_pack("{s:I,s:I,s:I,s:I,s:I,s:I}",
			"epoch", (json_int_t)x->epoch,
			"chain_slots", (json_int_t)x->chain_slots,
			"snapshotting", (json_int_t)x->snapshotting,
			"caught_up", (json_int_t)x->caught_up,
			"keys", (json_int_t)x->keys, "bytes", (json_int_t)x->bytes));
	return o;
}

static void cmd_chains(struct cat_ctl *c, struct cat_ctl_conn *conn, json_t *req)
{
	json_t *a = json_array();

	(void)req;
	for (uint16_t i = 0; i < c->map->n_chains; i++) {
		const struct cat_map_chain *ch = &c->map->chains[i];

		json_t *o = json_pack("{s:I,s:o,s:I,s:I,s:I}",
			"id", (json_int_t)ch->id, "members", members(ch),
			"head", (json_int_t)cat_map_chain_head(ch),
			"tail", (json_int_t)cat_map_chain_tail(ch),
			"slots", (json_int_t)cat_ctl_plan_slots_on(c->map, i));

		if (ch->joining != 0)
			json_object_set_new(o, "joining", join_progress(c, ch));
		json_array_append_new(a, o);
	}
	cat_ctl_mgmt_reply_ok(conn, a);
}

/* An optional integer argument in [min, max]: 1 if given, 0 if absent,
 * -1 after answering an error. */
static int arg_int(struct cat_ctl_conn *conn, json_t *req, const char *cmd,
		   const char *key, json_int_t min, json_int_t max, json_int_t *v)
{
	json_t *j = json_object_get(req, key);

	if (j == NULL)
		return 0;
	if (!json_is_integer(j) || json_integer_value(j) < min ||
	    json_integer_value(j) > max) {
		cat_ctl_mgmt_reply_err(conn, "%s: \"%s\" must be a number %lld..%lld", cmd, key,
				       (long long)min, (long long)max);
		return -1;
	}
	*v = json_integer_value(j);
	return 1;
}

static void cmd_slots(struct cat_ctl *c, struct cat_ctl_conn *conn, json_t *req)
{
	json_int_t first = 0, count, max = c->map->slot_count;
	json_t *a;
	int rc;

	if (arg_int(conn, req, "slots", "first", 0, max - 1, &first) < 0)
		return;
	count = max - first < SLOTS_PER_ANSWER ? max - first : SLOTS_PER_ANSWER;
	rc = arg_int(conn, req, "slots", "count", 1, SLOTS_PER_ANSWER, &count);
	if (rc < 0)
		return;
	if (first + count > max) {
		cat_ctl_mgmt_reply_err(conn, "slots: %lld..%lld is past the last slot %lld",
				       (long long)first, (long long)(first + count - 1),
				       (long long)(max - 1));
		return;
	}
	a = json_array();
	for (json_int_t s = first; s < first + count; s++) {
		const struct cat_map_chain *ch = cat_map_slot_chain(c->map, (uint32_t)s);

		json_array_append_new(a, json_pack("{s:I,s:I,s:o}", "slot", s,
			"chain", (json_int_t)ch->id, "members", members(ch)));
	}
	cat_ctl_mgmt_reply_ok(conn, json_pack("{s:I,s:I,s:I,s:o}", "slot_count", max,
					      "first", first, "count", count, "slots", a));
}

static void cmd_stats(struct cat_ctl *c, struct cat_ctl_conn *conn, json_t *req)
{
	json_t *a = json_array(), *sum = json_object();

	(void)req;
	for (uint16_t i = 0; i < c->n_nodes; i++) {
		const struct cat_ctl_node *n = &c->nodes[i];
		const char *k;
		json_t *v;

		json_array_append_new(a, json_pack("{s:I,s:s,s:I,s:O}",
			"id", (json_int_t)n->id, "state", cat_ctl_state_name(n->state),
			"in_flight", (json_int_t)n->in_flight,
			"stats", n->stats != NULL ? n->stats : json_null()));
		json_object_foreach(n->stats, k, v) {
			json_t *acc = json_object_get(sum, k);

			if (!json_is_integer(v))
				continue;
			if (acc == NULL)
				json_object_set_new(sum, k, json_integer(json_integer_value(v)));
			else
				json_integer_set(acc, json_integer_value(acc) +
						 json_integer_value(v));
		}
	}
	cat_ctl_mgmt_reply_ok(conn, json_pack("{s:o,s:o}", "nodes", a, "sum", sum));
}

static void cmd_history(struct cat_ctl *c, struct cat_ctl_conn *conn, json_t *req)
{
	json_int_t last = 100;
	size_t from;
	json_t *a;

	if (arg_int(conn, req, "epoch_history", "last", 1, 1000, &last) < 0)
		return;
	from = c->store.n_hist > (size_t)last ? c->store.n_hist - (size_t)last : 0;
	a = json_array();
	for (size_t i = from; i < c->store.n_hist; i++)
		json_array_append_new(a, json_pack("{s:I,s:I,s:s}",
			"epoch", (json_int_t)c->store.hist[i].epoch,
			"time", (json_int_t)c->store.hist[i].time,
			"reason", c->store.hist[i].reason));
	cat_ctl_mgmt_reply_ok(conn, json_pack("{s:I,s:o}", "total", (json_int_t)c->store.n_hist,
					      "history", a));
}

/* The node argument of node_drain/node_remove; NULL after answering. */
static struct cat_ctl_node *arg_node(struct cat_ctl *c, struct cat_ctl_conn *conn,
				     json_t *req, const char *cmd)
{
	json_int_t id;
	struct cat_ctl_node *n;

	if (arg_int(conn, req, cmd, "node", 1, 65535, &id) <= 0) {
		if (json_object_get(req, "node") == NULL)
			cat_ctl_mgmt_reply_err(conn, "%s: \"node\" (a node id) is required", cmd);
		return NULL;
	}
	n = cat_ctl_node(c, (uint16_t)id);
	if (n == NULL)
		cat_ctl_mgmt_reply_err(conn, "%s: no node %lld in the map", cmd, (long long)id);
	return n;
}

/* Plan taking node id out of every chain for an operator: refused (an
 * answered error, -1) when it would empty a chain. *next NULL: it is in no
 * chain. */
static int plan_out(struct cat_ctl *c, struct cat_ctl_conn *conn, const char *cmd,
		    uint16_t id, struct cat_map **next, struct cat_ctl_removal *r)
{
	char err[256], kept[1400];
	int rc = cat_ctl_plan_remove(c->map, id, next, r, err, sizeof(err));

	if (rc < 0) {
		cat_ctl_mgmt_reply_err(conn, "%s: %s", cmd, rc == -EINVAL ? err : strerror(-rc));
		return -1;
	}
	if (r->n_kept > 0) {
		cat_ctl_list_ids(kept, sizeof(kept), r->kept, r->n_kept);
		cat_ctl_mgmt_reply_err(conn, "%s: node %u is the last member of chains %s: taking it out would empty them",
				       cmd, id, kept);
		cat_map_free(*next);
		*next = NULL;
		return -1;
	}
	return 0;
}

static void cmd_drain(struct cat_ctl *c, struct cat_ctl_conn *conn, json_t *req)
{
	struct cat_ctl_node *n = arg_node(c, conn, req, "node_drain");
	struct cat_ctl_removal *r;
	struct cat_map *next = NULL;
	enum cat_ctl_mark prev;
	char err[256], reason[96], left[1400];
	uint16_t id;

	if (n == NULL)
		return;
	id = n->id;
	r = malloc(sizeof(*r));
	if (r == NULL) {
		cat_ctl_mgmt_reply_err(conn, "out of memory");
		return;
	}
	if (plan_out(c, conn, "node_drain", id, &next, r) < 0)
		goto out;
	if (next == NULL) {
		cat_ctl_mgmt_reply_err(conn, "node_drain: node %u is in no chain", id);
		goto out;
	}
	prev = cat_ctl_store_mark(&c->store, id);
	cat_ctl_store_set_mark(&c->store, id, CAT_CTL_MARK_DRAINED);
	snprintf(reason, sizeof(reason), "node %u drained (operator)", id);
	if (cat_ctl_commit(c, next, reason, err, sizeof(err)) < 0) {
		cat_ctl_store_set_mark(&c->store, id, prev);
		cat_ctl_mgmt_reply_err(conn, "node_drain: %s", err);
		goto out;
	}
	cat_ctl_node(c, id)->state = CAT_CTL_NODE_DRAINED;
	cat_ctl_list_ids(left, sizeof(left), r->left, r->n_left);
	cat_ctl_event(c, "%s: removed from chains %s", reason, left);
	cat_ctl_mgmt_reply_ok(conn, json_pack("{s:I,s:I,s:o}", "epoch", (json_int_t)c->map->epoch,
					      "node", (json_int_t)id, "left_chains",
					      cat_ctl_mgmt_id_array(r->left, r->n_left)));
out:
	free(r);
}

static void cmd_remove(struct cat_ctl *c, struct cat_ctl_conn *conn, json_t *req)
{
	struct cat_ctl_node *n = arg_node(c, conn, req, "node_remove");
	struct cat_ctl_removal *r;
	struct cat_map *out = NULL, *gone = NULL;
	enum cat_ctl_mark prev;
	char err[256], reason[96], left[1400];
	uint16_t id;
	int rc;

	if (n == NULL)
		return;
	id = n->id;
	r = malloc(sizeof(*r));
	if (r == NULL) {
		cat_ctl_mgmt_reply_err(conn, "out of memory");
		return;
	}
	if (plan_out(c, conn, "node_remove", id, &out, r) < 0)
		goto done;
	/* Leaving the chains and leaving the map are one epoch. */
	rc = cat_ctl_plan_forget(out != NULL ? out : c->map, id, &gone, err,
				 sizeof(err));
	cat_map_free(out);
	if (rc < 0) {
		cat_ctl_mgmt_reply_err(conn, "node_remove: %s", rc == -EINVAL || rc == -EBUSY ?
				       err : strerror(-rc));
		goto done;
	}
	gone->epoch = c->map->epoch + 1;
	prev = cat_ctl_store_mark(&c->store, id);
	cat_ctl_store_set_mark(&c->store, id, CAT_CTL_MARK_NONE);
	snprintf(reason, sizeof(reason), "node %u removed (operator)", id);
	if (cat_ctl_commit(c, gone, reason, err, sizeof(err)) < 0) {
		cat_ctl_store_set_mark(&c->store, id, prev);
		cat_ctl_mgmt_reply_err(conn, "node_remove: %s", err);
		goto done;
	}
	cat_ctl_list_ids(left, sizeof(left), r->left, r->n_left);
	if (r->n_left > 0)
		cat_ctl_event(c, "%s: removed from chains %s and from the map",
			      reason, left);
	else
		cat_ctl_event(c, "%s: removed from the map (it was in no chain)",
			      reason);
	cat_ctl_mgmt_reply_ok(conn, json_pack("{s:I,s:I,s:o}", "epoch", (json_int_t)c->map->epoch,
					      "node", (json_int_t)id, "left_chains",
					      cat_ctl_mgmt_id_array(r->left, r->n_left)));
done:
	free(r);
}

/* Forget n's drain and write the store: 0, or -EIO with err filled (the
 * mark stays cleared in memory, for the next write to keep). */
static int clear_drain_mark(struct cat_ctl *c, const struct cat_ctl_node *n,
			    char *err, size_t errlen)
{
	cat_ctl_store_set_mark(&c->store, n->id, CAT_CTL_MARK_NONE);
	return cat_ctl_store_save(&c->store, c->map, NULL, cat_ctl_now_unix(),
				  err, errlen) < 0 ? -EIO : 0;
}

/* node_add with "chain": the node (new or already in the map) joins that
 * chain; its tail streams it the chain's slots and catena-control makes it
 * the tail once it has caught up (control/rejoin.c). */
static int add_join(struct cat_ctl *c, struct cat_ctl_conn *conn,
		    json_int_t id, json_int_t chain)
{
	struct cat_map *next = NULL;
	struct cat_ctl_node *n;
	char err[256], reason[128];
	int rc;

	rc = cat_ctl_plan_join(c->map, (uint16_t)chain, (uint16_t)id, &next,
			       err, sizeof(err));
	if (rc < 0) {
		cat_ctl_mgmt_reply_err(conn, "node_add: %s", rc == -ENOMEM ? "out of memory" : err);
		return rc;
	}
	snprintf(reason, sizeof(reason),
		 "node %lld joins chain %lld (operator): state transfer from its tail",
		 (long long)id, (long long)chain);
	if (cat_ctl_commit(c, next, reason, err, sizeof(err)) < 0) {
		cat_ctl_mgmt_reply_err(conn, "node_add: %s", err);
		return -EIO;
	}
	for (uint16_t ci = 0; ci < c->map->n_chains; ci++)
		if (c->map->chains[ci].id == chain)
			c->join_started_ms[ci] = cat_ctl_now_ms();
	n = cat_ctl_node(c, (uint16_t)id);
	if (n != NULL && n->state == CAT_CTL_NODE_DRAINED) {
		/* Joining a chain ends the drain: a member is a member, timed
		 * out when silent like any other (DEPLOY.md's upgrade once
		 * left a drained tail nobody would ever fail). */
		if (clear_drain_mark(c, n, err, sizeof(err)) < 0)
			cat_ctl_event(c, "store write failed (node %u's mark): %s",
				      n->id, err);
		cat_ctl_event(c, "node %u is no longer drained: it joins chain %lld",
			      n->id, (long long)chain);
	}
	if (n != NULL && (n->state == CAT_CTL_NODE_RETURNED ||
			  n->state == CAT_CTL_NODE_DRAINED))
		n->state = CAT_CTL_NODE_UP;
	return 0;
}

/* node_undrain: a drained node may hold chains again. It joins none by
 * itself here; with restore_replicas a short chain takes it, or the
 * operator sends it into one with node_add. */
static void cmd_undrain(struct cat_ctl *c, struct cat_ctl_conn *conn, json_t *req)
{
	struct cat_ctl_node *n = arg_node(c, conn, req, "node_undrain");
	char err[256];

	if (n == NULL)
		return;
	if (n->state != CAT_CTL_NODE_DRAINED) {
		cat_ctl_mgmt_reply_err(conn, "node_undrain: node %u is not drained (it is %s)",
				       n->id, cat_ctl_state_name(n->state));
		return;
	}
	if (clear_drain_mark(c, n, err, sizeof(err)) < 0) {
		/* Nothing changed, as far as the operator is told. */
		cat_ctl_store_set_mark(&c->store, n->id, CAT_CTL_MARK_DRAINED);
		cat_ctl_mgmt_reply_err(conn, "node_undrain: %s", err);
		return;
	}
	/* Connected: a live spare from now on, timed like any node. Not
	 * connected: as if never heard, up at its next hello. */
	n->state = n->conn != NULL ? CAT_CTL_NODE_UP : CAT_CTL_NODE_NEW;
	cat_ctl_event(c, "node %u undrained (operator): %s", n->id,
		      n->conn != NULL ? "up, in no chain until one takes it" :
		      "not connected: up at its next hello");
	cat_ctl_mgmt_reply_ok(conn, json_pack("{s:I,s:I,s:s}", "epoch", (json_int_t)c->map->epoch,
					      "node", (json_int_t)n->id,
					      "state", cat_ctl_state_name(n->state)));
}

/* node_add of a node not in the map: a spare, in no chain, in one epoch
 * of its own (a join into chain, if asked, is checked first and made by
 * add_join next). 0, or -1 after answering the refusal. */
static int add_spare(struct cat_ctl *c, struct cat_ctl_conn *conn, json_t *req,
		     json_int_t id, json_int_t chain)
{
	json_t *jip = json_object_get(req, "ip"), *jmac = json_object_get(req, "mac");
	json_int_t port = 7470;
	struct cat_map_node nd;
	struct cat_map *next;
	char err[256], reason[96];
	int rc;

	if (!json_is_string(jip)) {
		cat_ctl_mgmt_reply_err(conn, "node_add: \"ip\" (a dotted-quad IPv4 address) is required");
		return -1;
	}
	if (arg_int(conn, req, "node_add", "port", 1, 65535, &port) < 0)
		return -1;
	if (jmac != NULL && !json_is_string(jmac)) {
		cat_ctl_mgmt_reply_err(conn, "node_add: \"mac\" must be a string (aa:bb:cc:dd:ee:ff)");
		return -1;
	}
	rc = cat_ctl_plan_node((uint16_t)id, json_string_value(jip),
			       (uint32_t)port, json_string_value(jmac),
			       &nd, err, sizeof(err));
	if (rc == 0)
		rc = cat_ctl_plan_add(c->map, &nd, &next, err, sizeof(err));
	if (rc == 0 && chain != 0) {
		/* Refuse a join that cannot happen before adding the
		 * node: a refused request changes nothing. */
		struct cat_map *j = NULL;

		rc = cat_ctl_plan_join(next, (uint16_t)chain, (uint16_t)id,
				       &j, err, sizeof(err));
		cat_map_free(j);
		if (rc < 0)
			cat_map_free(next);
	}
	if (rc < 0) {
		cat_ctl_mgmt_reply_err(conn, "node_add: %s", rc == -ENOMEM ? "out of memory" : err);
		return -1;
	}
	snprintf(reason, sizeof(reason), "node %lld added as a spare (operator)",
		 (long long)id);
	cat_ctl_store_set_mark(&c->store, (uint16_t)id, CAT_CTL_MARK_NONE);
	if (cat_ctl_commit(c, next, reason, err, sizeof(err)) < 0) {
		cat_ctl_mgmt_reply_err(conn, "node_add: %s", err);
		return -1;
	}
	cat_ctl_event(c, "%s: %s, in no chain", reason,
		      json_string_value(jip));
	return 0;
}

static void cmd_add(struct cat_ctl *c, struct cat_ctl_conn *conn, json_t *req)
{
	json_int_t id, chain = 0;
	const struct cat_ctl_node *old;

	if (arg_int(conn, req, "node_add", "node", 1, 65535, &id) <= 0) {
		if (json_object_get(req, "node") == NULL)
			cat_ctl_mgmt_reply_err(conn, "node_add: \"node\" (a node id) is required");
		return;
	}
	if (arg_int(conn, req, "node_add", "chain", 1, 65535, &chain) < 0)
		return;
	old = cat_ctl_node(c, (uint16_t)id);
	if (old != NULL && chain == 0) {
		cat_ctl_mgmt_reply_err(conn, "node_add: node %lld already exists (give \"chain\" to make it join one)",
				       (long long)id);
		return;
	}
	if (old != NULL && old->state == CAT_CTL_NODE_DRAINED && old->conn == NULL) {
		cat_ctl_mgmt_reply_err(conn, "node_add: node %lld is drained and not connected: start it before it joins a chain",
				       (long long)id);
		return;
	}
	if (old != NULL && old->state == CAT_CTL_NODE_FAILED) {
		cat_ctl_mgmt_reply_err(conn, "node_add: node %lld is failed (not heartbeating): it cannot take a state transfer",
				       (long long)id);
		return;
	}
	if (old == NULL && chain != 0 && json_object_get(req, "ip") == NULL) {
		/* node join of a node the map lacks: say that, not what a
		 * node add would have needed. */
		cat_ctl_mgmt_reply_err(conn, "node_add: no node %lld in the map (add it first: node add %lld IP MAC)",
				       (long long)id, (long long)id);
		return;
	}
	if (old == NULL && add_spare(c, conn, req, id, chain) < 0)
		return;
	if (chain != 0 && add_join(c, conn, id, chain) < 0)
		return;
	cat_ctl_mgmt_reply_ok(conn, json_pack("{s:I,s:I,s:s,s:[],s:I}", "epoch",
					      (json_int_t)c->map->epoch, "node", id, "state",
					      old != NULL ? cat_ctl_state_name(old->state) : "new",
					      "chains", "joining", chain));
}

/*
 * events: the event ring, oldest first; with "since", only the events
 * whose seq is above it (a repeat takes a new seq, so a follower sees
 * its count go up). One answer per request, at most the ring's 100
 * entries of 400 bytes: bounded, and the loop never waits for a
 * follower (catenactl --follow asks again; docs/CONTROL.md). "truncated":
 * the ring was full and its oldest entry is newer than since + 1, so
 * events in between may have been pushed out.
 */
static void cmd_events(struct cat_ctl *c, struct cat_ctl_conn *conn, json_t *req)
{
	json_int_t since = 0, last = CAT_CTL_EVENTS_MAX;
	const struct cat_ctl_event *oldest;
	unsigned int from;
	json_t *a;

	if (arg_int(conn, req, "events", "since", 0, INT64_MAX, &since) < 0 ||
	    arg_int(conn, req, "events", "last", 1, CAT_CTL_EVENTS_MAX, &last) < 0)
		return;
	a = json_array();
	from = c->n_events > (unsigned int)last ? c->n_events - (unsigned int)last : 0;
	for (unsigned int k = from; k < c->n_events; k++) {
		const struct cat_ctl_event *e = &c->events[
			(c->next_event + CAT_CTL_EVENTS_MAX - c->n_events + k) % CAT_CTL_EVENTS_MAX];

		if (e->seq <= (uint64_t)since)
			continue;
		json_array_append_new(a, json_pack("{s:I,s:I,s:I,s:I,s:s}",
			"seq", (json_int_t)e->seq, "time", (json_int_t)e->time,
			"epoch", (json_int_t)e->epoch, "count", (json_int_t)e->count,
			"text", e->text));
	}
	oldest = c->n_events > 0 ? &c->events[
		(c->next_event + CAT_CTL_EVENTS_MAX - c->n_events) % CAT_CTL_EVENTS_MAX] : NULL;
	cat_ctl_mgmt_reply_ok(conn, json_pack("{s:I,s:b,s:o}",
		"seq", (json_int_t)c->event_seq,
		"truncated", since > 0 && c->n_events == CAT_CTL_EVENTS_MAX &&
			     oldest != NULL && oldest->seq > (uint64_t)since + 1,
		"events", a));
}

static void cmd_verify(struct cat_ctl *c, struct cat_ctl_conn *conn, json_t *req)
{
	(void)req;
	cat_ctl_verify_start(c, conn);
}

/* `repair [FIRST [LAST]]`: verify those slots, then queue a repair of
 * every replica that holds one of them differently (control/repair.c). */
static void cmd_repair(struct cat_ctl *c, struct cat_ctl_conn *conn, json_t *req)
{
	json_t *jf = json_object_get(req, "first"), *jl = json_object_get(req, "last");
	json_int_t first = 0, last = (json_int_t)c->map->slot_count - 1;

	if ((jf != NULL && !json_is_integer(jf)) || (jl != NULL && !json_is_integer(jl))) {
		cat_ctl_mgmt_reply_err(conn, "repair: \"first\" and \"last\" are slot numbers");
		return;
	}
	if (jf != NULL)
		first = last = json_integer_value(jf);
	if (jl != NULL)
		last = json_integer_value(jl);
	if (first < 0 || last < first || last >= (json_int_t)c->map->slot_count) {
		cat_ctl_mgmt_reply_err(conn, "repair: slots %lld-%lld: expected FIRST <= LAST < %u",
				       (long long)first, (long long)last, c->map->slot_count);
		return;
	}
	cat_ctl_repair_start(c, conn, (uint32_t)first, (uint32_t)last);
}

static void cmd_repair_status(struct cat_ctl *c, struct cat_ctl_conn *conn,
			      json_t *req)
{
	const struct cat_ctl_repair *r = &c->repair;
	uint64_t now = cat_ctl_now_ms();
	json_t *q = json_array(), *cur = json_null(), *bg;

	(void)req;
	for (unsigned int i = 0; i < r->n_queued; i++)
		json_array_append_new(q, json_pack("{s:I,s:I,s:I}",
			"chain", (json_int_t)r->queued[i].chain,
			"node", (json_int_t)r->queued[i].node,
			"slots", (json_int_t)r->queued[i].slots));
	if (r->stage != CAT_CTL_REPAIR_IDLE)
		cur = json_pack("{s:I,s:I,s:I,s:s,s:f}", "chain", (json_int_t)r->cur.chain,
			"node", (json_int_t)r->cur.node, "slots", (json_int_t)r->cur.slots,
			"step", r->stage == CAT_CTL_REPAIR_LEFT ? "left the chain" :
				"copying from the tail",
			"elapsed_s", (double)(now - r->cur_started_ms) / 1000.0);
	bg = json_pack("{s:I,s:I,s:I,s:I,s:s}",
		"interval_s", (json_int_t)c->cfg.verify_interval_s,
		"runs", (json_int_t)r->bg_runs, "found", (json_int_t)r->bg_found,
		"differ_count", (json_int_t)r->bg_differ,
		"last", r->bg_runs ? r->bg_text : "not run yet");
	json_object_set_new(bg, "last_s_ago", r->bg_last_ms ?
		json_real((double)(now - r->bg_last_ms) / 1000.0) : json_null());
	cat_ctl_mgmt_reply_ok(conn, json_pack("{s:I,s:o,s:o,s:I,s:o}",
		"epoch", (json_int_t)c->map->epoch, "running", cur, "queued", q,
		"repaired", (json_int_t)r->repaired, "background", bg));
}

/* ---- dispatch ---- */

static void cmd_reshard(struct cat_ctl *c, struct cat_ctl_conn *conn, json_t *req)
{
	char err[256];
	json_t *r = cat_ctl_reshard_request(c, json_string_value(json_object_get(req, "cmd")),
					    req, err, sizeof(err));

	if (r == NULL)
		cat_ctl_mgmt_reply_err(conn, "%s: %s", json_string_value(json_object_get(req, "cmd")),
				       err);
	else
		cat_ctl_mgmt_reply_ok(conn, r);
}

/* backup, restore and their status and cancel: control/backup.c. */
static void cmd_backup(struct cat_ctl *c, struct cat_ctl_conn *conn, json_t *req)
{
	cat_ctl_backup_request(c, conn, req);
}

typedef void cmd_fn(struct cat_ctl *c, struct cat_ctl_conn *conn, json_t *req);

/* The handlers, by the table's RUN column (control/mgmt_cmds.def). */
static cmd_fn *const run[CAT_MGMT_N_CMDS] = {
#define CAT_MGMT_CMD(id, wire, fn, ...) [CAT_MGMT_##id] = cmd_##fn,
#include "control/mgmt_cmds.def"
#undef CAT_MGMT_CMD
};

/* "status, nodes, ...": every wire command, for the unknown-command error. */
static void known_commands(char *buf, size_t cap)
{
	size_t len = 0;

	buf[0] = '\0';
	for (int i = 0; i < (int)CAT_MGMT_N_CMDS && len < cap; i++) {
		int w;

		if (!cat_mgmt_first_of_wire(i))
			continue;
		w = snprintf(buf + len, cap - len, "%s%s", len ? ", " : "",
			     cat_mgmt_cmds[i].wire);
		if (w > 0)
			len += (size_t)w;
	}
}

void cat_ctl_mgmt_line(struct cat_ctl *c, struct cat_ctl_conn *conn,
		       const char *line, size_t len)
{
	json_error_t jerr;
	json_t *req = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
	const char *name, *key;
	char known[1024];
	json_t *val;
	int cmd;

	if (req == NULL || !json_is_object(req)) {
		if (req == NULL)
			cat_ctl_mgmt_reply_err(conn, "not JSON: %s", jerr.text);
		else
			cat_ctl_mgmt_reply_err(conn, "the request must be a JSON object");
		json_decref(req);
		return;
	}
	name = json_string_value(json_object_get(req, "cmd"));
	cmd = name != NULL ? cat_mgmt_find(name) : -1;
	if (name == NULL) {
		cat_ctl_mgmt_reply_err(conn, "\"cmd\" missing or not a string");
	} else if (cmd < 0) {
		known_commands(known, sizeof(known));
		cat_ctl_mgmt_reply_err(conn, "unknown cmd '%.40s' (%s)", name, known);
	} else {
		json_object_foreach(req, key, val) {
			if (strcmp(key, "cmd") != 0 &&
			    cat_mgmt_wire_arg(name, key) == NULL) {
				cat_ctl_mgmt_reply_err(conn, "%s: unknown argument '%.40s'", name, key);
				json_decref(req);
				return;
			}
		}
		run[cmd](c, conn, req);
	}
	json_decref(req);
}
