/*
 * catena-control's Prometheus endpoint (control/metrics.h): the text
 * exposition of the cluster as catena-control sees it, and the small HTTP
 * server (libmicrohttpd, polled by the control loop) that serves it.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <microhttpd.h>

#include "control/metrics.h"

struct cat_ctl_metrics {
	struct cat_ctl *c;
	struct MHD_Daemon *d;
	uint64_t scrapes;
};

/* Heartbeat stats that are levels, not counts since the node started. */
static const char *const gauges[] = {
	"repl_in_flight", "store_keys", "store_mem_used",
};

static int is_gauge(const char *name)
{
	for (size_t i = 0; i < sizeof(gauges) / sizeof(gauges[0]); i++)
		if (strcmp(gauges[i], name) == 0)
			return 1;
	return 0;
}

/* A stat name as a metric name: [a-z0-9_] only (a node names its own
 * counters, so nothing it sends can break the exposition). */
static void metric_name(char *out, size_t cap, const char *name)
{
	size_t k = 0;

	for (; *name != '\0' && k + 1 < cap; name++)
		out[k++] = (*name >= 'a' && *name <= 'z') ||
			   (*name >= '0' && *name <= '9') || *name == '_' ?
			   *name : (*name >= 'A' && *name <= 'Z') ?
			   (char)(*name - 'A' + 'a') : '_';
	out[k] = '\0';
}

static size_t ends_with(const char *s, const char *suffix)
{
	size_t ls = strlen(s), lx = strlen(suffix);

	return ls >= lx && strcmp(s + ls - lx, suffix) == 0;
}

static void family(FILE *f, const char *name, const char *type,
		   const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void gauge(FILE *f, const char *name, const char *help, double v)
{
	family(f, name, "gauge", help);
	fprintf(f, "%s %.17g\n", name, v);
}

static void counter(FILE *f, const char *name, const char *help, uint64_t v)
{
	family(f, name, "counter", help);
	fprintf(f, "%s %llu\n", name, (unsigned long long)v);
}

/* Every distinct stat name the nodes' last heartbeats carry, in the
 * order first seen. Returns how many (at most cap). */
static size_t stat_names(const struct cat_ctl *c, const char **names,
			 size_t cap)
{
	size_t n = 0;

	for (uint16_t i = 0; i < c->n_nodes; i++) {
		const char *key;
		json_t *v;

		json_object_foreach(c->nodes[i].stats, key, v) {
			size_t k;

			if (!json_is_integer(v))
				continue;
			for (k = 0; k < n && strcmp(names[k], key) != 0; k++)
				;
			if (k == n && n < cap)
				names[n++] = key;
		}
	}
	return n;
}

static void node_stats(FILE *f, const struct cat_ctl *c)
{
	const char *names[256];
	size_t n = stat_names(c, names, sizeof(names) / sizeof(names[0]));

	for (size_t k = 0; k < n; k++) {
		char base[128], full[160];
		int g = is_gauge(names[k]);

		metric_name(base, sizeof(base), names[k]);
		snprintf(full, sizeof(full), "catena_node_%s%s", base,
			 g || ends_with(base, "_total") ? "" : "_total");
		family(f, full, g ? "gauge" : "counter",
		       "A node's counter of that name (docs/OPERATIONS.md), from its last heartbeat.");
		for (uint16_t i = 0; i < c->n_nodes; i++) {
			json_t *v = json_object_get(c->nodes[i].stats, names[k]);

			if (json_is_integer(v))
				fprintf(f, "%s{node=\"%u\"} %lld\n", full,
					c->nodes[i].id, (long long)json_integer_value(v));
		}
	}
}

/* One gauge family over nodes: get(n) for each, or skip where it is NAN. */
static void per_node(FILE *f, const struct cat_ctl *c, const char *name,
		     const char *help, double (*get)(const struct cat_ctl_node *,
						     uint64_t), uint64_t now)
{
	family(f, name, "gauge", help);
	for (uint16_t i = 0; i < c->n_nodes; i++) {
		double v = get(&c->nodes[i], now);

		if (!isnan(v))
			fprintf(f, "%s{node=\"%u\"} %.17g\n", name, c->nodes[i].id, v);
	}
}

static double node_up(const struct cat_ctl_node *n, uint64_t now)
{
	(void)now;
	return n->state == CAT_CTL_NODE_UP && n->conn != NULL;
}

static double node_connected(const struct cat_ctl_node *n, uint64_t now)
{
	(void)now;
	return n->conn != NULL;
}

static double node_epoch(const struct cat_ctl_node *n, uint64_t now)
{
	(void)now;
	return n->last_hb_ms ? (double)n->epoch : NAN;
}

static double node_hb_age(const struct cat_ctl_node *n, uint64_t now)
{
	return n->last_hb_ms && now >= n->last_hb_ms ?
	       (double)(now - n->last_hb_ms) / 1000.0 : NAN;
}

static double node_suspects(const struct cat_ctl_node *n, uint64_t now)
{
	(void)now;
	return n->n_suspect;
}

static double port_num(const struct cat_ctl_node *n, const char *k)
{
	json_t *v = json_object_get(n->port, k);

	return json_is_integer(v) ? (double)json_integer_value(v) : NAN;
}

static double node_link_up(const struct cat_ctl_node *n, uint64_t now)
{
	const char *l = json_string_value(json_object_get(n->port, "link"));

	(void)now;
	return l == NULL ? NAN : strcmp(l, "up") == 0;
}

static double node_mtu(const struct cat_ctl_node *n, uint64_t now)
{
	(void)now;
	return port_num(n, "mtu");
}

static double node_link_down_events(const struct cat_ctl_node *n, uint64_t now)
{
	(void)now;
	return port_num(n, "link_down_events");
}

/* The heartbeat's "durable" (durability = log); NAN: no log. */
static double dur_num(const struct cat_ctl_node *n, const char *k)
{
	json_t *v = json_object_get(n->dstat, k);

	return json_is_integer(v) ? (double)json_integer_value(v) : NAN;
}

static double node_log_lag(const struct cat_ctl_node *n, uint64_t now)
{
	(void)now;
	return dur_num(n, "lag_bytes");
}

static double node_log_disk(const struct cat_ctl_node *n, uint64_t now)
{
	(void)now;
	return dur_num(n, "bytes_on_disk");
}

static double node_log_fsync_p99(const struct cat_ctl_node *n, uint64_t now)
{
	(void)now;
	return dur_num(n, "fsync_p99_ns") / 1e9;
}

static double node_log_failed(const struct cat_ctl_node *n, uint64_t now)
{
	(void)now;
	if (!json_is_object(n->dstat))
		return NAN;
	return json_object_get(n->dstat, "error") != NULL;
}

static void nodes(FILE *f, const struct cat_ctl *c, uint64_t now)
{
	static const enum cat_ctl_node_state states[] = {
		CAT_CTL_NODE_NEW, CAT_CTL_NODE_UP, CAT_CTL_NODE_FAILED,
		CAT_CTL_NODE_DRAINED, CAT_CTL_NODE_RETURNED,
	};

	family(f, "catena_nodes", "gauge", "Nodes of the map by state.");
	for (size_t s = 0; s < sizeof(states) / sizeof(states[0]); s++) {
		unsigned int n = 0;

		for (uint16_t i = 0; i < c->n_nodes; i++)
			n += c->nodes[i].state == states[s];
		fprintf(f, "catena_nodes{state=\"%s\"} %u\n",
			cat_ctl_state_name(states[s]), n);
	}
	per_node(f, c, "catena_node_up", "1 if the node is up and connected.",
		 node_up, now);
	per_node(f, c, "catena_node_connected", "1 if its node channel is open.",
		 node_connected, now);
	per_node(f, c, "catena_node_epoch", "The map epoch the node last reported.",
		 node_epoch, now);
	per_node(f, c, "catena_node_heartbeat_age_seconds",
		 "Seconds since the node's last heartbeat or hello.", node_hb_age, now);
	per_node(f, c, "catena_node_suspects",
		 "Peers the node reports suspect (a hint, never acted on alone).",
		 node_suspects, now);
	per_node(f, c, "catena_node_link_up", "1 if the node's data port link is up.",
		 node_link_up, now);
	per_node(f, c, "catena_node_mtu", "The node's data port MTU.", node_mtu, now);
	per_node(f, c, "catena_node_link_down_events",
		 "Times the node's data link went down since it started.",
		 node_link_down_events, now);
	per_node(f, c, "catena_node_log_lag_bytes",
		 "durability = log: bytes logged by workers and not yet synced.",
		 node_log_lag, now);
	per_node(f, c, "catena_node_log_disk_bytes",
		 "durability = log: bytes of log on the node's disk.", node_log_disk, now);
	per_node(f, c, "catena_node_log_fsync_p99_seconds",
		 "durability = log: fsync latency, 99th percentile since start.",
		 node_log_fsync_p99, now);
	per_node(f, c, "catena_node_log_failed",
		 "durability = log: 1 if the log writer failed: the node acknowledges nothing more.",
		 node_log_failed, now);
	node_stats(f, c);
}

/* A chain none of whose members is up: its slots answer nothing. */
static int unavailable(const struct cat_ctl *c, const struct cat_map_chain *ch)
{
	for (uint8_t k = 0; k < ch->len; k++) {
		const struct cat_ctl_node *n = cat_ctl_node((struct cat_ctl *)c,
							    ch->nodes[k]);

		if (n != NULL && n->state == CAT_CTL_NODE_UP && n->conn != NULL)
			return 0;
	}
	return 1;
}

static void chains(FILE *f, struct cat_ctl *c, uint64_t now)
{
	struct cat_ctl_pnode pn[CAT_MAP_NODES_MAX];
	const struct cat_map *m = c->map;
	unsigned int n = 0, shorter = 0, unav = 0, joins = 0;
	struct cat_ctl_view v;

	for (uint16_t ci = 0; ci < m->n_chains; ci++) {
		const struct cat_map_chain *ch = &m->chains[ci];

		if (ch->move_to != 0)
			continue; /* a move's transitional chain */
		n++;
		shorter += ch->len < c->rf;
		unav += unavailable(c, ch);
	}
	gauge(f, "catena_chains", "Chains of the map (without moves' transitional chains).", n);
	gauge(f, "catena_chains_short",
	      "Chains with fewer members than the replication factor.", shorter);
	gauge(f, "catena_chains_unavailable",
	      "Chains with no member up: their slots answer nothing.", unav);
	gauge(f, "catena_replication_factor",
	      "The replication factor catena-control restores.", c->rf);
	family(f, "catena_chain_members", "gauge", "Members of each chain.");
	for (uint16_t ci = 0; ci < m->n_chains; ci++)
		fprintf(f, "catena_chain_members{chain=\"%u\"} %u\n",
			m->chains[ci].id, m->chains[ci].len);

	cat_ctl_view(c, now, &v, pn);
	family(f, "catena_join_slots_caught_up", "gauge",
	       "A running join: slots whose joiner has caught up, by chain and joiner.");
	for (uint16_t ci = 0; ci < m->n_chains; ci++) {
		const struct cat_map_chain *ch = &m->chains[ci];
		const struct cat_ctl_xfer *x;

		if (ch->joining == 0)
			continue;
		joins++;
		x = cat_ctl_policy_report(&v, cat_map_chain_tail(ch), ch->id,
					  ch->joining, UINT32_MAX);
		fprintf(f, "catena_join_slots_caught_up{chain=\"%u\",node=\"%u\"} %u\n",
			ch->id, ch->joining, x != NULL ? x->caught_up : 0);
	}
	gauge(f, "catena_joins", "Chains with a node joining by state transfer.", joins);
}

static void reshard(FILE *f, const struct cat_ctl *c)
{
	uint64_t keys = 0, bytes = 0;
	unsigned int moves = 0;

	for (unsigned int i = 0; i < CAT_CTL_MOVES_MAX; i++) {
		const struct cat_ctl_move *mv = &c->moves[i];

		if (mv->via == 0)
			continue;
		moves++;
		keys += mv->keys + mv->cur_keys;
		bytes += mv->bytes + mv->cur_bytes;
	}
	gauge(f, "catena_reshard_moves", "Slot moves in progress.", moves);
	gauge(f, "catena_reshard_queued", "Moves a rebalance has queued.", c->n_queued);
	gauge(f, "catena_reshard_paused", "1 if resharding is paused.",
	      c->store.reshard.paused);
	gauge(f, "catena_reshard_keys_copied",
	      "Keys the moves in progress have copied so far.", (double)keys);
	gauge(f, "catena_reshard_bytes_copied",
	      "Bytes the moves in progress have copied so far.", (double)bytes);
}

static void control(FILE *f, const struct cat_ctl *c, uint64_t now)
{
	static const struct { enum cat_ctl_burst_kind k; const char *listener, *cause; } refusals[] = {
		{ CAT_CTL_BURST_NODE_REFUSED, "node", "budget_full" },
		{ CAT_CTL_BURST_NODE_EVICTED, "node", "evicted" },
		{ CAT_CTL_BURST_NODE_TIMEOUT, "node", "auth_timeout" },
		{ CAT_CTL_BURST_NODE_AUTH, "node", "auth_failed" },
		{ CAT_CTL_BURST_MGMT_REFUSED, "mgmt", "budget_full" },
		{ CAT_CTL_BURST_MGMT_SLOW, "mgmt", "not_reading" },
		{ CAT_CTL_BURST_MGMT_IDLE, "mgmt", "idle" },
	};

	gauge(f, "catena_epoch", "The epoch of the map in force.", c->map->epoch);
	gauge(f, "catena_control_uptime_seconds", "Seconds since catena-control started.",
	      (double)(now - c->start_ms) / 1000.0);
	counter(f, "catena_control_loop_stalls_total",
		"Times the control loop itself stalled (deadlines then restart).",
		cat_ctl_burst_total(c, CAT_CTL_BURST_STALL));
	gauge(f, "catena_control_longest_stall_seconds",
	      "The longest stall of the control loop.",
	      (double)c->burst[CAT_CTL_BURST_STALL].max / 1000.0);
	family(f, "catena_control_connections_closed_total", "counter",
	       "Connections refused or closed by catena-control, by listener and cause.");
	for (size_t i = 0; i < sizeof(refusals) / sizeof(refusals[0]); i++)
		fprintf(f, "catena_control_connections_closed_total{listener=\"%s\",cause=\"%s\"} %llu\n",
			refusals[i].listener, refusals[i].cause,
			(unsigned long long)cat_ctl_burst_total(c, refusals[i].k));
	family(f, "catena_control_connections", "gauge", "Open connections by listener.");
	fprintf(f, "catena_control_connections{listener=\"node\"} %u\n", c->n_node_conns);
	fprintf(f, "catena_control_connections{listener=\"mgmt\"} %u\n", c->n_mgmt_conns);
}

static void repair(FILE *f, const struct cat_ctl *c)
{
	const struct cat_ctl_repair *r = &c->repair;

	counter(f, "catena_verify_runs_total", "Background verifies finished.", r->bg_runs);
	counter(f, "catena_verify_found_total",
		"Background verifies that found replicas holding a slot differently.",
		r->bg_found);
	gauge(f, "catena_verify_differing_slots",
	      "Slots whose replicas differed at the last background verify.", r->bg_differ);
	gauge(f, "catena_verify_last_run_age_seconds",
	      "Seconds since the last background verify ended (-1: none yet).",
	      r->bg_last_ms ? (double)(cat_ctl_now_ms() - r->bg_last_ms) / 1000.0 : -1);
	counter(f, "catena_repairs_total", "Replicas repaired (re-copied from their chain).",
		r->repaired);
	gauge(f, "catena_repairs_pending", "Replicas being or waiting to be repaired.",
	      r->n_queued + (r->stage != CAT_CTL_REPAIR_IDLE));
	counter(f, "catena_rebuilds_total",
		"Chains that lost every replica, rebuilt from another node's log.", c->rebuilds);
	gauge(f, "catena_rebuild_waiting_chains",
	      "Chains that lost every replica, waiting for the nodes' logs.", c->n_rebuild);
}

int cat_ctl_metrics_render(struct cat_ctl *c, uint64_t now_ms, char **out,
			   size_t *len)
{
	FILE *f = open_memstream(out, len);

	if (f == NULL)
		return -ENOMEM;
	control(f, c, now_ms);
	nodes(f, c, now_ms);
	chains(f, c, now_ms);
	reshard(f, c);
	repair(f, c);
	fputs("# EOF\n", f);
	if (ferror(f)) {
		fclose(f);
		free(*out);
		*out = NULL;
		return -ENOMEM;
	}
	return fclose(f) == 0 ? 0 : -ENOMEM;
}

/* ---- HTTP ------------------------------------------------------------ */

static enum MHD_Result answer(void *arg, struct MHD_Connection *conn,
			      const char *url, const char *method,
			      const char *version, const char *upload,
			      size_t *upload_len, void **ctx)
{
	struct cat_ctl_metrics *m = arg;
	struct MHD_Response *r;
	static const char not_found[] = "only GET /metrics here\n";
	enum MHD_Result rc;
	char *text = NULL;
	size_t len = 0;
	unsigned int code = MHD_HTTP_OK;

	(void)version;
	(void)upload;
	(void)upload_len;
	(void)ctx;
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
		code = MHD_HTTP_METHOD_NOT_ALLOWED;
	} else if (strcmp(url, "/metrics") != 0) {
		code = MHD_HTTP_NOT_FOUND;
	} else if (cat_ctl_metrics_render(m->c, cat_ctl_now_ms(), &text, &len) < 0) {
		code = MHD_HTTP_INTERNAL_SERVER_ERROR;
	}
	if (code == MHD_HTTP_OK) {
		r = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
		if (r != NULL)
			MHD_add_response_header(r, "Content-Type",
				"text/plain; version=0.0.4; charset=utf-8");
		m->scrapes++;
	} else {
		r = MHD_create_response_from_buffer(sizeof(not_found) - 1,
			(void *)not_found, MHD_RESPMEM_PERSISTENT);
	}
	if (r == NULL) {
		free(text);
		return MHD_NO;
	}
	rc = MHD_queue_response(conn, code, r);
	MHD_destroy_response(r);
	return rc;
}

struct cat_ctl_metrics *cat_ctl_metrics_open(struct cat_ctl *c, uint32_t ip,
					     uint16_t port, char *err,
					     size_t errlen)
{
	struct sockaddr_in sa = {
		.sin_family = AF_INET, .sin_port = htons(port),
		.sin_addr.s_addr = htonl(ip),
	};
	struct cat_ctl_metrics *m = calloc(1, sizeof(*m));
	char a[INET_ADDRSTRLEN];

	if (m == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	m->c = c;
	/* External polling with epoll: the control loop polls one fd and
	 * runs the server, on its own thread; no thread of MHD's reads
	 * catena-control's tables. */
	m->d = MHD_start_daemon(MHD_USE_EPOLL | MHD_USE_ERROR_LOG, port, NULL,
				NULL, answer, m,
				MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
				MHD_OPTION_CONNECTION_LIMIT,
				(unsigned int)CAT_CTL_METRICS_CONNS_MAX,
				MHD_OPTION_CONNECTION_TIMEOUT,
				(unsigned int)CAT_CTL_METRICS_TIMEOUT_S,
				MHD_OPTION_END);
	if (m->d == NULL) {
		inet_ntop(AF_INET, &sa.sin_addr, a, sizeof(a));
		snprintf(err, errlen, "metrics_listen %s:%u: cannot listen (%s)",
			 a, port, errno ? strerror(errno) : "libmicrohttpd refused");
		free(m);
		return NULL;
	}
	return m;
}

int cat_ctl_metrics_fd(const struct cat_ctl_metrics *m)
{
	const union MHD_DaemonInfo *i =
		MHD_get_daemon_info(m->d, MHD_DAEMON_INFO_EPOLL_FD);

	return i != NULL ? i->epoll_fd : -1;
}

uint64_t cat_ctl_metrics_timeout_ms(const struct cat_ctl_metrics *m)
{
	MHD_UNSIGNED_LONG_LONG t;

	return MHD_get_timeout(m->d, &t) == MHD_YES ? (uint64_t)t : UINT64_MAX;
}

void cat_ctl_metrics_run(struct cat_ctl_metrics *m)
{
	MHD_run(m->d);
}

uint64_t cat_ctl_metrics_scrapes(const struct cat_ctl_metrics *m)
{
	return m->scrapes;
}

void cat_ctl_metrics_close(struct cat_ctl_metrics *m)
{
	if (m == NULL)
		return;
	MHD_stop_daemon(m->d);
	free(m);
}
