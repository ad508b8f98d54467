/*
 * catena-node telemetry commands. Setup registers them; the callbacks run
 * on DPDK's telemetry threads. Counters are plain per-worker uint64 written
 * by their worker: they are read here with relaxed atomic loads, so a
 * snapshot is per counter, not across counters.
 *
 * RCU: the map and the store are RCU-protected, and a telemetry thread is
 * not a QSBR thread by default. A callback that reads either registers its
 * thread for the duration (rcu_register_thread leaves it online) and
 * unregisters before returning: DPDK runs each connection's callbacks on a
 * thread that ends with the connection, and a registered thread must never
 * exit. While registered it holds grace periods back, so such callbacks
 * stay short (paged output). /catena/faults is the one writer: it publishes
 * a new settings struct and frees the old after synchronize_rcu.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_pause.h>
#include <rte_telemetry.h>

#include <urcu-qsbr.h>

#include "dataplane/counters.h"
#include "dataplane/nodechan.h"
#include "dataplane/port.h"
#include "dataplane/durable.h"
#include "dataplane/telemetry.h"
#include "replication/chain.h"
#include "replication/hist.h"
#include "replication/store.h"

/* Entries per call: keeps each answer well inside the telemetry output
 * buffer (16 KiB). Ask again from "next" for more. */
#define SLOTS_PER_PAGE  100u
#define CHAINS_PER_PAGE 50u
#define DIGESTS_PER_PAGE 128u

static struct cat_dp *g_dp;
static struct cat_worker *const *g_workers;
static const struct cat_config *g_cfg;
static uint32_t g_node_id;
static const struct cat_nodechan *g_control;
static const struct cat_port *g_port;
static int g_enabled;
static int g_active;
static pthread_mutex_t g_faults_mu = PTHREAD_MUTEX_INITIALIZER;

static uint64_t rd(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

/* Callbacks hold this across their reads; teardown waits for it. */
static int enter(void)
{
	__atomic_add_fetch(&g_active, 1, __ATOMIC_SEQ_CST);
	if (!__atomic_load_n(&g_enabled, __ATOMIC_SEQ_CST)) {
		__atomic_sub_fetch(&g_active, 1, __ATOMIC_SEQ_CST);
		return -1;
	}
	return 0;
}

static void leave(void)
{
	__atomic_sub_fetch(&g_active, 1, __ATOMIC_SEQ_CST);
}

/* Reader section for the map and the store (see the file comment). */
static void rcu_enter(void)
{
	rcu_register_thread();
}

static void rcu_leave(void)
{
	rcu_unregister_thread();
}

static const char *role_of(const struct cat_map_chain *c, uint16_t self)
{
	int pos = cat_map_chain_pos(c, self);

	if (pos < 0)
		return c->joining == self ? "joining" : "none";
	if (c->len == 1)
		return "head+tail";
	if (pos == 0)
		return "head";
	if (pos == c->len - 1)
		return "tail";
	return "middle";
}

/* Optional first parameter: a non-negative decimal index. */
static int param_first(const char *params, uint32_t *first)
{
	char *end;
	unsigned long v;

	*first = 0;
	if (params == NULL || *params == '\0')
		return 0;
	v = strtoul(params, &end, 10);
	if (*end != '\0' || !isdigit((unsigned char)*params))
		return -EINVAL;
	*first = v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
	return 0;
}

/* DPDK 22.11 writes strings into JSON unescaped: keep them plain. */
static void add_plain_str(struct rte_tel_data *d, const char *name, const char *s)
{
	char buf[RTE_TEL_MAX_STRING_LEN];
	size_t i;

	for (i = 0; s[i] != '\0' && i + 1 < sizeof(buf); i++)
		buf[i] = (s[i] == '"' || s[i] == '\\' || (unsigned char)s[i] < 0x20) ?
			 '\'' : s[i];
	buf[i] = '\0';
	rte_tel_data_add_dict_string(d, name, buf);
}

void cat_telemetry_set_control(const struct cat_nodechan *cc)
{
	__atomic_store_n(&g_control, cc, __ATOMIC_RELEASE);
}

static int cmd_stats(const char *cmd __rte_unused, const char *params __rte_unused,
		     struct rte_tel_data *d)
{
	const struct cat_dp_map *dm;
	const char *name;
	size_t i;

	if (enter() < 0)
		return -ENODEV;
	rte_tel_data_start_dict(d);
	rte_tel_data_add_dict_u64(d, "node_id", g_node_id);
	rcu_enter();
	dm = rcu_dereference(g_dp->map);
	rte_tel_data_add_dict_u64(d, "epoch", dm != NULL ? dm->map->epoch : 0);
	rcu_leave();
	rte_tel_data_add_dict_u64(d, "workers", g_dp->n_workers);
	rte_tel_data_add_dict_u64(d, "slot_count", g_dp->slot_count);
	rte_tel_data_add_dict_u64(d, "store_keys", cat_counters_store_keys(g_dp));
	rte_tel_data_add_dict_u64(d, "store_mem_used", cat_store_mem_used(g_dp->store));
	rte_tel_data_add_dict_u64(d, "mempool_mbufs_free",
				  rte_mempool_avail_count(g_dp->pool));
	for (i = 0; (name = cat_counters_worker_name(i)) != NULL; i++)
		rte_tel_data_add_dict_u64(d, name, cat_counters_total(g_dp, g_workers, name));
	rte_tel_data_add_dict_u64(d, "drops_total", cat_counters_drops_total(g_dp, g_workers));
	for (i = 0; i < CAT_ST__COUNT; i++) {
		char lower[64];
		const char *st = cat_wire_status_name((unsigned int)i);
		size_t j, n;

		n = (size_t)snprintf(lower, sizeof(lower), "replies_%s", st);
		for (j = 8; j < n && j < sizeof(lower); j++)
			lower[j] = (char)tolower((unsigned char)lower[j]);
		rte_tel_data_add_dict_u64(d, lower,
			cat_counters_replies(g_dp, g_workers, (unsigned int)i));
	}
	for (i = 0; (name = cat_counters_repl_name(i)) != NULL; i++)
		rte_tel_data_add_dict_u64(d, name, cat_counters_repl_total(g_dp, g_workers, name));
	{
		uint64_t inflight = 0;
		unsigned int k;

		for (k = 0; k < g_dp->n_workers; k++)
			inflight += cat_chain_inflight(g_workers[k]->chain);
		rte_tel_data_add_dict_u64(d, "repl_in_flight", inflight);
	}
	rte_tel_data_add_dict_u64(d, "peer_suspect_reports",
				  rd(&g_dp->peer_suspect_reports));
	leave();
	return 0;
}

static int cmd_lcores(const char *cmd __rte_unused, const char *params __rte_unused,
		      struct rte_tel_data *d)
{
	unsigned int i;

	if (enter() < 0)
		return -ENODEV;
	rte_tel_data_start_dict(d);
	for (i = 0; i < g_dp->n_workers; i++) {
		const struct cat_worker *w = g_workers[i];
		struct rte_tel_data *c = rte_tel_data_alloc();
		char name[32];

		if (c == NULL)
			break;
		rte_tel_data_start_dict(c);
		rte_tel_data_add_dict_u64(c, "worker", w->idx);
		rte_tel_data_add_dict_u64(c, "lcore", w->lcore);
		rte_tel_data_add_dict_u64(c, "queue", w->idx);
		rte_tel_data_add_dict_u64(c, "slots_owned",
			cat_worker_slots_owned(g_dp->slot_count, g_dp->n_workers, w->idx));
		rte_tel_data_add_dict_u64(c, "rx_packets", rd(&w->st.rx_packets));
		rte_tel_data_add_dict_u64(c, "tx_packets", rd(&w->st.tx_packets));
		rte_tel_data_add_dict_u64(c, "requests", rd(&w->st.requests));
		rte_tel_data_add_dict_u64(c, "replies", rd(&w->st.replies));
		rte_tel_data_add_dict_u64(c, "handover_sent", rd(&w->st.handover_sent));
		rte_tel_data_add_dict_u64(c, "handover_received",
					  rd(&w->st.handover_received));
		rte_tel_data_add_dict_u64(c, "idle_sleeps", rd(&w->st.idle_sleeps));
		rte_tel_data_add_dict_u64(c, "timer_slack_ns", rd(&w->timer_slack_ns));
		rte_tel_data_add_dict_string(c, "idle",
			rd(&w->idle_mode) == CAT_IDLE_INTERRUPT ? "interrupt" :
			rd(&w->idle_mode) == CAT_IDLE_BACKOFF ? "backoff" : "busy");
		if (w->idle_note[0] != '\0')
			rte_tel_data_add_dict_string(c, "idle_note", w->idle_note);
		rte_tel_data_add_dict_u64(c, "idle_waits", rd(&w->st.idle_waits));
		rte_tel_data_add_dict_u64(c, "idle_wakeups_rx", rd(&w->st.idle_wakeups_rx));
		rte_tel_data_add_dict_u64(c, "idle_arm_failed", rd(&w->st.idle_arm_failed));
		rte_tel_data_add_dict_u64(c, "idle_late_rx", rd(&w->st.idle_late_rx));
		/* Capacity: requests per busy second is requests / (busy_tsc
		 * / tsc_hz); catena-bench prints it (--node-telemetry). */
		rte_tel_data_add_dict_u64(c, "busy_tsc", rd(&w->busy_tsc));
		rte_tel_data_add_dict_u64(c, "idle_tsc", rd(&w->idle_tsc));
		rte_tel_data_add_dict_u64(c, "tsc_hz", rte_get_tsc_hz());
		snprintf(name, sizeof(name), "worker%u", i);
		if (rte_tel_data_add_dict_container(d, name, c, 0) != 0)
			rte_tel_data_free(c);
	}
	leave();
	return 0;
}

/* One merged histogram as a dict: count and percentiles in ns. */
static void add_hist(struct rte_tel_data *d, const char *name,
		     const struct cat_hist *h)
{
	static const struct { const char *k; double p; } q[] = {
		{ "p50_ns", 50 }, { "p90_ns", 90 }, { "p99_ns", 99 },
		{ "p999_ns", 99.9 },
	};
	struct rte_tel_data *c = rte_tel_data_alloc();

	if (c == NULL)
		return;
	rte_tel_data_start_dict(c);
	rte_tel_data_add_dict_u64(c, "count", h->count);
	for (size_t i = 0; i < sizeof(q) / sizeof(q[0]); i++)
		rte_tel_data_add_dict_u64(c, q[i].k, cat_hist_percentile(h, q[i].p));
	rte_tel_data_add_dict_u64(c, "max_ns", h->count ? h->max : 0);
	rte_tel_data_add_dict_u64(c, "mean_ns", (uint64_t)cat_hist_mean(h));
	if (rte_tel_data_add_dict_container(d, name, c, 0) != 0)
		rte_tel_data_free(c);
}

/*
 * /catena/hops: the protocol's own time per hop, summed over workers:
 * from the start of the poll iteration that received a write to the
 * hand-off to the port of its FWD (fwd: head and middles) or its answer
 * (reply: the tail). Wake-ups, the tx kick and the network are outside
 * it. The
 * workers write while this reads: a count can be a value or two behind.
 */
static int cmd_hops(const char *cmd __rte_unused, const char *params __rte_unused,
		    struct rte_tel_data *d)
{
	struct cat_hist *f = malloc(sizeof(*f)), *r = malloc(sizeof(*r));

	if (f == NULL || r == NULL || enter() < 0) {
		free(f);
		free(r);
		return f == NULL || r == NULL ? -ENOMEM : -ENODEV;
	}
	cat_hist_reset(f);
	cat_hist_reset(r);
	for (unsigned int i = 0; i < g_dp->n_workers; i++) {
		cat_hist_merge(f, g_workers[i]->hop_fwd);
		cat_hist_merge(r, g_workers[i]->hop_reply);
	}
	rte_tel_data_start_dict(d);
	add_hist(d, "fwd", f);
	add_hist(d, "reply", r);
	leave();
	free(f);
	free(r);
	return 0;
}

/*
 * /catena/durable: durability = log: the log's place and policy, bytes on
 * disk, the lag (appended by workers, not yet synced), fsync latency, and
 * what start-up replayed. The writer updates while this reads.
 */
static int cmd_durable(const char *cmd __rte_unused, const char *params __rte_unused,
		       struct rte_tel_data *d)
{
	const struct cat_durable *du;

	if (enter() < 0)
		return -ENODEV;
	du = g_dp->durable;
	rte_tel_data_start_dict(d);
	add_plain_str(d, "durability", du != NULL ? "log" : "none");
	if (du != NULL) {
		const struct cat_dlog_replay *r = &du->replay;

		add_plain_str(d, "log_dir", du->dir);
		add_plain_str(d, "fsync", du->fsync_ms ? "every_ms" : "always");
		rte_tel_data_add_dict_u64(d, "fsync_every_ms", du->fsync_ms);
		rte_tel_data_add_dict_u64(d, "bytes_on_disk", cat_durable_bytes(du));
		rte_tel_data_add_dict_u64(d, "lag_bytes", cat_durable_lag(du));
		rte_tel_data_add_dict_u64(d, "bytes_written", rd(&du->bytes_written));
		rte_tel_data_add_dict_u64(d, "groups", rd(&du->groups));
		rte_tel_data_add_dict_u64(d, "syncs", rd(&du->syncs));
		if (du->sync_ns != NULL)
			add_hist(d, "fsync_latency", du->sync_ns);
		rte_tel_data_add_dict_u64(d, "write_errors", rd(&du->write_errors));
		if (__atomic_load_n(&du->failed, __ATOMIC_ACQUIRE))
			add_plain_str(d, "error", du->err);
		rte_tel_data_add_dict_u64(d, "replayed_records", r->records);
		rte_tel_data_add_dict_u64(d, "replayed_bytes", r->bytes);
		rte_tel_data_add_dict_u64(d, "replay_ms", du->replay_ns / 1000000u);
		rte_tel_data_add_dict_u64(d, "replay_errors", du->replay_errors);
		rte_tel_data_add_dict_u64(d, "replay_snapshot_records",
					  du->recovery.snap_records);
		rte_tel_data_add_dict_u64(d, "replay_snapshot_bytes",
					  du->recovery.snap_bytes);
		rte_tel_data_add_dict_u64(d, "replay_snapshot_ms",
					  du->recovery.snap_ns / 1000000u);
		rte_tel_data_add_dict_u64(d, "replay_log_ms", du->recovery.log_ns / 1000000u);
		rte_tel_data_add_dict_u64(d, "snapshots_damaged", du->recovery.damaged);
		rte_tel_data_add_dict_u64(d, "snapshot_every_bytes", du->snap_every);
		rte_tel_data_add_dict_u64(d, "snapshots", rd(&du->snapshots));
		rte_tel_data_add_dict_u64(d, "snapshot_errors", rd(&du->snap_errors));
		rte_tel_data_add_dict_u64(d, "last_snapshot_segment", rd(&du->snap_last_seq));
		rte_tel_data_add_dict_u64(d, "last_snapshot_bytes", rd(&du->snap_last_bytes));
		rte_tel_data_add_dict_u64(d, "last_snapshot_keys", rd(&du->snap_last_keys));
		rte_tel_data_add_dict_u64(d, "last_snapshot_ms",
					  rd(&du->snap_last_ns) / 1000000u);
		rte_tel_data_add_dict_u64(d, "segments_deleted", rd(&du->segments_deleted));
		rte_tel_data_add_dict_u64(d, "snapshots_deleted", rd(&du->snapshots_deleted));
		rte_tel_data_add_dict_u64(d, "replay_lost_bytes", r->lost_bytes);
		if (r->torn || r->corrupt)
			add_plain_str(d, "replay_note", r->note);
	}
	leave();
	return 0;
}

/* /catena/slots[,FIRST]: slots that hold keys, from FIRST on, one page. */
static int cmd_slots(const char *cmd __rte_unused, const char *params,
		     struct rte_tel_data *d)
{
	uint32_t first = 0, s, listed = 0, with_keys = 0;
	int64_t next = -1;

	if (param_first(params, &first) < 0)
		return -EINVAL;
	if (enter() < 0)
		return -ENODEV;
	rte_tel_data_start_dict(d);
	rte_tel_data_add_dict_u64(d, "slot_count", g_dp->slot_count);
	for (s = 0; s < g_dp->slot_count; s++)
		if (cat_store_slot_keys(g_dp->store, s) > 0)
			with_keys++;
	rte_tel_data_add_dict_u64(d, "slots_with_keys", with_keys);
	rte_tel_data_add_dict_u64(d, "first", first);
	for (s = first; s < g_dp->slot_count; s++) {
		uint64_t keys = cat_store_slot_keys(g_dp->store, s);
		struct rte_tel_data *c;
		char name[16];

		if (keys == 0)
			continue;
		if (listed == SLOTS_PER_PAGE) {
			next = s;
			break;
		}
		c = rte_tel_data_alloc();
		if (c == NULL)
			break;
		rte_tel_data_start_dict(c);
		rte_tel_data_add_dict_u64(c, "owner",
			cat_worker_slot_owner(s, g_dp->n_workers));
		rte_tel_data_add_dict_u64(c, "keys", keys);
		rte_tel_data_add_dict_u64(c, "version",
					  cat_store_slot_version(g_dp->store, s));
		snprintf(name, sizeof(name), "%u", s);
		if (rte_tel_data_add_dict_container(d, name, c, 0) != 0) {
			rte_tel_data_free(c);
			break;
		}
		listed++;
	}
	/* -1: nothing more; else call again with this as FIRST. */
	rte_tel_data_add_dict_int(d, "next", (int)next);
	leave();
	return 0;
}

/* The current map, or an empty one (no chains, no slots) before the first
 * map arrives, so a command answers with empty lists instead of failing.
 * Caller is an RCU reader (rcu_enter). */
static const struct cat_map *map_or_none(const struct cat_dp_map *dm)
{
	static const struct cat_map none;

	return dm != NULL ? dm->map : &none;
}

/*
 * /catena/chains[,FIRST]: every chain of the current map from index FIRST
 * on: id, nodes, this node's role and the link counters summed over the
 * workers (each engine counts by chain index of its own current map, so
 * right after a map change a sum may mix the two maps' indices).
 */
static int cmd_chains(const char *cmd __rte_unused, const char *params,
		      struct rte_tel_data *d)
{
	const struct cat_dp_map *dm;
	const struct cat_map *m;
	uint32_t first, ci, listed = 0;
	int next = -1;

	if (param_first(params, &first) < 0)
		return -EINVAL;
	if (enter() < 0)
		return -ENODEV;
	rcu_enter();
	dm = rcu_dereference(g_dp->map);
	m = map_or_none(dm);
	rte_tel_data_start_dict(d);
	rte_tel_data_add_dict_u64(d, "epoch", m->epoch);
	rte_tel_data_add_dict_u64(d, "n_chains", m->n_chains);
	rte_tel_data_add_dict_string(d, "craq", m->craq ? "on" : "off");
	for (ci = first; ci < m->n_chains; ci++) {
		const struct cat_map_chain *c = &m->chains[ci];
		struct cat_chain_link_stats sum = { 0 }, one;
		uint64_t in_flight = 0;
		struct rte_tel_data *e;
		char name[16], nodes[64];
		size_t used = 0;
		unsigned int k;

		if (listed == CHAINS_PER_PAGE) {
			next = (int)ci;
			break;
		}
		for (k = 0; k < g_dp->n_workers; k++) {
			uint32_t inf = 0;

			cat_chain_link_stats(g_workers[k]->chain, ci, &one, &inf);
			sum.forwarded += one.forwarded;
			sum.acked += one.acked;
			sum.retransmitted += one.retransmitted;
			sum.dropped_epoch += one.dropped_epoch;
			in_flight += inf;
		}
		nodes[0] = '\0';
		for (k = 0; k < c->len && used < sizeof(nodes); k++)
			used += (size_t)snprintf(nodes + used, sizeof(nodes) - used,
						 "%s%u", k ? "," : "", c->nodes[k]);
		e = rte_tel_data_alloc();
		if (e == NULL)
			break;
		rte_tel_data_start_dict(e);
		rte_tel_data_add_dict_u64(e, "id", c->id);
		rte_tel_data_add_dict_string(e, "nodes", nodes);
		rte_tel_data_add_dict_string(e, "role", role_of(c, (uint16_t)g_node_id));
		rte_tel_data_add_dict_u64(e, "forwarded", sum.forwarded);
		rte_tel_data_add_dict_u64(e, "acked", sum.acked);
		rte_tel_data_add_dict_u64(e, "in_flight", in_flight);
		rte_tel_data_add_dict_u64(e, "retransmitted", sum.retransmitted);
		rte_tel_data_add_dict_u64(e, "dropped_epoch", sum.dropped_epoch);
		{
			struct cat_chain_xfer_progress xs = { 0 };

			for (k = 0; k < g_dp->n_workers; k++)
				cat_chain_xfer_progress(g_workers[k]->chain, ci, &xs);
			/* State transfer: to the joiner (as its tail) or from
			 * the tail (as the joiner); held: a new tail's slots
			 * still short of its predecessor's floor. */
			rte_tel_data_add_dict_u64(e, "joining", c->joining);
			rte_tel_data_add_dict_u64(e, "xfer_slots", xs.slots);
			rte_tel_data_add_dict_u64(e, "xfer_caught_up", xs.caught_up);
			rte_tel_data_add_dict_u64(e, "xfer_snapshotting", xs.snapshotting);
			rte_tel_data_add_dict_u64(e, "xfer_keys", xs.keys);
			rte_tel_data_add_dict_u64(e, "xfer_bytes", xs.bytes);
			rte_tel_data_add_dict_u64(e, "join_slots", xs.joining);
			rte_tel_data_add_dict_u64(e, "join_slots_done", xs.joined);
			rte_tel_data_add_dict_u64(e, "held_slots", xs.held);
		}
		snprintf(name, sizeof(name), "%u", c->id);
		if (rte_tel_data_add_dict_container(d, name, e, 0) != 0) {
			rte_tel_data_free(e);
			break;
		}
		listed++;
	}
	rte_tel_data_add_dict_int(d, "next", next);
	rcu_leave();
	leave();
	return 0;
}

/* /catena/map: the current map's canonical text, one line per entry. */
static int cmd_map(const char *cmd __rte_unused, const char *params __rte_unused,
		   struct rte_tel_data *d)
{
	const struct cat_dp_map *dm;
	struct rte_tel_data *lines;
	const char *p, *end;

	if (enter() < 0)
		return -ENODEV;
	lines = rte_tel_data_alloc();
	if (lines == NULL) {
		leave();
		return -ENOMEM;
	}
	rte_tel_data_start_array(lines, RTE_TEL_STRING_VAL);
	rcu_enter();
	dm = rcu_dereference(g_dp->map);
	rte_tel_data_start_dict(d);
	rte_tel_data_add_dict_u64(d, "epoch", dm != NULL ? dm->map->epoch : 0);
	rte_tel_data_add_dict_u64(d, "length", dm != NULL ? dm->text_len : 0);
	p = end = NULL;
	if (dm != NULL) {
		p = dm->text;
		end = dm->text + dm->text_len;
	}
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
		char line[RTE_TEL_MAX_STRING_LEN];

		/* Canonical lines are short; a longer one is cut, not lost. */
		if (len >= sizeof(line))
			len = sizeof(line) - 1;
		memcpy(line, p, len);
		line[len] = '\0';
		if (rte_tel_data_add_array_string(lines, line) != 0)
			break;
		p = nl ? nl + 1 : end;
	}
	rcu_leave();
	if (rte_tel_data_add_dict_container(d, "lines", lines, 0) != 0)
		rte_tel_data_free(lines);
	leave();
	return 0;
}

static uint64_t mix(uint64_t h, uint64_t v)
{
	h ^= v + 0x9E3779B97F4A7C15ULL + (h << 6) + (h >> 2);
	return h * 0xff51afd7ed558ccdULL;
}

/*
 * /catena/digest[,FIRST]: for every slot this node replicates (its chain
 * in the current map has this node) that has seen a write: version and
 * cat_store_slot_digest, from slot FIRST on, one page; "combined" hashes
 * (slot, version, digest) of all of them, so two replicas of the same
 * chains compare with one number. "digest" and "combined" are 64-bit
 * hashes, written as decimal strings (exact in every JSON reader). Digests walk the slot tables as an RCU
 * reader on this thread (see the file comment).
 */
static int cmd_digest(const char *cmd __rte_unused, const char *params,
		      struct rte_tel_data *d)
{
	const struct cat_dp_map *dm;
	const struct cat_map *m;
	uint32_t first, s, listed = 0, replicated = 0;
	uint64_t combined = 0;
	int next = -1;

	if (param_first(params, &first) < 0)
		return -EINVAL;
	if (enter() < 0)
		return -ENODEV;
	rcu_enter();
	dm = rcu_dereference(g_dp->map);
	m = map_or_none(dm);
	rte_tel_data_start_dict(d);
	rte_tel_data_add_dict_u64(d, "epoch", m->epoch);
	rte_tel_data_add_dict_u64(d, "first", first);
	for (s = 0; s < g_dp->slot_count && s < m->slot_count; s++) {
		uint64_t version, digest;

		if (cat_map_chain_pos(cat_map_slot_chain(m, s),
				      (uint16_t)g_node_id) < 0)
			continue;
		version = cat_store_slot_version(g_dp->store, s);
		if (version == 0)
			continue;
		replicated++;
		digest = cat_store_slot_digest(g_dp->store, s);
		combined = mix(mix(mix(combined, s), version), digest);
		if (s < first)
			continue;
		if (listed == DIGESTS_PER_PAGE) {
			if (next < 0)
				next = (int)s;
			continue;
		}
		{
			struct rte_tel_data *e = rte_tel_data_alloc();
			char name[16], dec[24];

			if (e == NULL)
				continue;
			rte_tel_data_start_dict(e);
			rte_tel_data_add_dict_u64(e, "version", version);
			/* Digests go past 2^53, where JSON readers that
			 * keep numbers as doubles (JavaScript, jq) round
			 * them: a decimal string is exact everywhere. */
			snprintf(dec, sizeof(dec), "%" PRIu64, digest);
			rte_tel_data_add_dict_string(e, "digest", dec);
			snprintf(name, sizeof(name), "%u", s);
			if (rte_tel_data_add_dict_container(d, name, e, 0) != 0)
				rte_tel_data_free(e);
			else
				listed++;
		}
	}
	rcu_leave();
	rte_tel_data_add_dict_u64(d, "slots_written", replicated);
	{
		char dec[24];

		snprintf(dec, sizeof(dec), "%" PRIu64, combined);
		rte_tel_data_add_dict_string(d, "combined", dec);
	}
	rte_tel_data_add_dict_int(d, "next", next);
	leave();
	return 0;
}

static void faults_dict(struct rte_tel_data *d, const struct cat_faults_cfg *f)
{
	rte_tel_data_add_dict_u64(d, "seed", f->seed);
	rte_tel_data_add_dict_u64(d, "delay_us", f->delay_us);
	rte_tel_data_add_dict_u64(d, "jitter_us", f->jitter_us);
	rte_tel_data_add_dict_u64(d, "reorder_pct", f->reorder_pct);
	rte_tel_data_add_dict_u64(d, "drop_pct", f->drop_pct);
	rte_tel_data_add_dict_u64(d, "client_replies", f->client_replies);
	rte_tel_data_add_dict_u64(d, "corrupt_fwd_to", f->corrupt_fwd_to);
	rte_tel_data_add_dict_u64(d, "log_writer_pause", f->log_writer_pause);
}

/*
 * /catena/faults[,KEY=VALUE,...]: show the fault injector's settings, or
 * change some of them (keys and ranges as in [faults]). All pairs are
 * checked before anything changes; the new struct is published with one
 * pointer store and the old one freed after a grace period (this thread is
 * not a registered reader here, so synchronize_rcu just waits for the
 * workers). Writers are serialised by a mutex no worker ever takes.
 */
static int cmd_faults(const char *cmd __rte_unused, const char *params,
		      struct rte_tel_data *d)
{
	struct cat_faults_cfg *cur, *nf;
	struct cat_config tmp;
	char err[256], buf[512];
	char *save = NULL, *tok;
	int rc = 0;

	if (enter() < 0)
		return -ENODEV;
	pthread_mutex_lock(&g_faults_mu);
	cur = g_dp->faults;
	rte_tel_data_start_dict(d);
	if (params == NULL || *params == '\0') {
		faults_dict(d, cur);
		goto out;
	}
	tmp = *g_cfg;
	tmp.faults = *cur;
	snprintf(buf, sizeof(buf), "%s", params);
	for (tok = strtok_r(buf, ",", &save); tok != NULL && rc == 0;
	     tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');

		if (eq == NULL) {
			snprintf(err, sizeof(err), "/catena/faults: '%s': expected KEY=VALUE", tok);
			rc = -EINVAL;
			break;
		}
		*eq = '\0';
		rc = cat_config_set(&tmp, "/catena/faults", "faults", tok, eq + 1,
				    err, sizeof(err));
	}
	if (rc < 0) {
		add_plain_str(d, "error", err);
		faults_dict(d, cur);
		goto out;
	}
	nf = malloc(sizeof(*nf));
	if (nf == NULL) {
		add_plain_str(d, "error", "out of memory");
		faults_dict(d, cur);
		goto out;
	}
	*nf = tmp.faults;
	if (g_dp->durable != NULL)
		__atomic_store_n(&g_dp->durable->paused, (int)nf->log_writer_pause,
				 __ATOMIC_RELEASE);
	rcu_assign_pointer(g_dp->faults, nf);
	synchronize_rcu();
	free(cur);
	faults_dict(d, nf);
out:
	pthread_mutex_unlock(&g_faults_mu);
	leave();
	return 0;
}

static const char *state_name(uint64_t st)
{
	switch (st) {
	case CAT_NODECHAN_WAITING:    return "waiting";
	case CAT_NODECHAN_CONNECTING: return "connecting";
	case CAT_NODECHAN_UP:         return "connected";
	case CAT_NODECHAN_AUTHENTICATING: return "authenticating";
	default:                     return "off";
	}
}

/*
 * /catena/control: the control channel as the main lcore last left it
 * (each counter read on its own; the endpoint never changes).
 */
static int cmd_control(const char *cmd __rte_unused, const char *params __rte_unused,
		       struct rte_tel_data *d)
{
	const struct cat_nodechan *cc;
	const struct cat_nodechan_status *st;
	uint64_t state;

	if (enter() < 0)
		return -ENODEV;
	cc = __atomic_load_n(&g_control, __ATOMIC_ACQUIRE);
	rte_tel_data_start_dict(d);
	state = cc != NULL ? rd(&cc->st.state) : CAT_NODECHAN_OFF;
	rte_tel_data_add_dict_string(d, "state", state_name(state));
	rte_tel_data_add_dict_u64(d, "connected", state == CAT_NODECHAN_UP);
	if (cc == NULL || state == CAT_NODECHAN_OFF) {
		leave();
		return 0;
	}
	st = &cc->st;
	add_plain_str(d, "endpoint", cc->endpoint);
	rte_tel_data_add_dict_u64(d, "heartbeat_ms", cc->heartbeat_ms);
#define CTL_U64(f) rte_tel_data_add_dict_u64(d, #f, rd(&st->f))
	CTL_U64(last_map_epoch);
	CTL_U64(maps_received);
	CTL_U64(maps_published);
	CTL_U64(maps_current);
	CTL_U64(maps_rejected);
	CTL_U64(link_keys_epoch);
	CTL_U64(heartbeats_sent);
	CTL_U64(digest_requests);
	CTL_U64(last_digest_us);
	CTL_U64(connects);
	CTL_U64(reconnects);
	CTL_U64(connect_failures);
	CTL_U64(disconnects);
	CTL_U64(msgs_received);
	CTL_U64(msgs_bad);
	CTL_U64(errors_received);
	CTL_U64(rx_bytes);
	CTL_U64(tx_bytes);
	CTL_U64(auth);
	CTL_U64(auth_failures);
#undef CTL_U64
	leave();
	return 0;
}

void cat_telemetry_set_port(const struct cat_port *p)
{
	__atomic_store_n(&g_port, p, __ATOMIC_RELEASE);
}

/*
 * /catena/port: what the port is and how the node uses it. The static
 * facts were settled before the workers started; the link fields are
 * written by the main lcore and read here one at a time.
 */
static int cmd_port(const char *cmd __rte_unused, const char *params __rte_unused,
		    struct rte_tel_data *d)
{
	const struct cat_port *p;
	const struct cat_port_link *l;

	if (enter() < 0)
		return -ENODEV;
	p = __atomic_load_n(&g_port, __ATOMIC_ACQUIRE);
	rte_tel_data_start_dict(d);
	if (p == NULL) {
		leave();
		return 0;
	}
	l = &p->link;
	rte_tel_data_add_dict_u64(d, "port_id", p->port_id);
	add_plain_str(d, "driver", p->driver);
	add_plain_str(d, "ifname", p->ifname);
	rte_tel_data_add_dict_int(d, "socket", p->socket);
	rte_tel_data_add_dict_u64(d, "queues", p->n_queues);
	rte_tel_data_add_dict_u64(d, "mtu", p->mtu);
	rte_tel_data_add_dict_u64(d, "max_mtu", p->max_mtu);
	add_plain_str(d, "tx_checksums", p->tx_cksum_offload ? "device" : "software");
	/* The largest value for a zero-length key; subtract the key's length. */
	rte_tel_data_add_dict_u64(d, "value_max",
				  cat_wire_value_max(p->mtu - (g_dp->link_auth ?
					CAT_LINKAUTH_TRAILER_LEN : 0u), 0));
	add_plain_str(d, "steering", cat_steer_mode_name(p->steer));
	add_plain_str(d, "steering_reason", p->steer_why);
	add_plain_str(d, "steering_asked", cat_steer_want_name(g_cfg->steering));
	rte_tel_data_add_dict_u64(d, "flow_rules", p->n_flows);
	/* Worker w also takes udp_port + 1 + w (with several workers). */
	rte_tel_data_add_dict_u64(d, "worker_udp_port_first",
				  p->n_queues > 1 ? g_cfg->udp_port + 1u : 0);
	/* Said plainly: without a cluster secret nothing on the data
	 * network is authenticated. */
	add_plain_str(d, "data_auth", cat_dp_data_auth(g_dp));
	add_plain_str(d, "link", rd(&l->up) ? "up" : "down");
	rte_tel_data_add_dict_u64(d, "link_speed_mbps", rd(&l->speed_mbps));
	rte_tel_data_add_dict_u64(d, "link_down_events", rd(&l->down_events));
	rte_tel_data_add_dict_u64(d, "link_up_events", rd(&l->up_events));
	rte_tel_data_add_dict_u64(d, "link_down_ms_total", rd(&l->down_ms_total));
	leave();
	return 0;
}

/* Help texts must stay under RTE_TEL_MAX_STRING_LEN (128). */
static const struct {
	const char *name;
	telemetry_cb fn;
	const char *help;
} commands[] = {
	{ "/catena/stats", cmd_stats,
	  "Node totals: traffic, requests, replies by status, every drop counter. "
	  "No parameters" },
	{ "/catena/lcores", cmd_lcores,
	  "Per worker: lcore, queue, slots owned, packets, requests, handovers, "
	  "idle sleeps" },
	{ "/catena/hops", cmd_hops,
	  "Per hop, receive to send in ns: fwd (head, middles) and reply "
	  "(tail): count, p50, p90, p99, p99.9, max, mean" },
	{ "/catena/durable", cmd_durable,
	  "durability = log: log dir, fsync policy, bytes on disk, lag, fsync "
	  "latency, snapshots, what start-up replayed" },
	{ "/catena/slots", cmd_slots,
	  "Slots with keys: owner, keys, version. Param: first slot; "
	  "\"next\" continues, -1 = end" },
	{ "/catena/chains", cmd_chains,
	  "Chains of the current map: nodes, our role, forwarded, acked, "
	  "in flight, retransmitted. Param: first index" },
	{ "/catena/map", cmd_map,
	  "The current cluster map: epoch, canonical text as lines. "
	  "No parameters" },
	{ "/catena/digest", cmd_digest,
	  "Per written slot we replicate: version, digest; combined. "
	  "Param: first slot; \"next\" continues" },
	{ "/catena/faults", cmd_faults,
	  "Fault injector settings; KEY=VALUE,... changes them (the "
	  "[faults] keys of docs/OPERATIONS.md)" },
	{ "/catena/port", cmd_port,
	  "The port: driver, socket, mtu, value_max, steering and why, link "
	  "state and transitions. No parameters" },
	{ "/catena/control", cmd_control,
	  "Control channel: state, endpoint, last map epoch, heartbeats, "
	  "reconnects. No parameters" },
};

int cat_telemetry_register(struct cat_dp *dp, struct cat_worker *const *workers,
			   const struct cat_config *cfg)
{
	int rc = 0;

	g_dp = dp;
	g_workers = workers;
	g_cfg = cfg;
	g_node_id = cfg->node_id;
	__atomic_store_n(&g_enabled, 1, __ATOMIC_SEQ_CST);

	for (size_t i = 0; rc == 0 && i < RTE_DIM(commands); i++)
		rc = rte_telemetry_register_cmd(commands[i].name, commands[i].fn,
						commands[i].help);
	return rc;
}

void cat_telemetry_disable(void)
{
	__atomic_store_n(&g_enabled, 0, __ATOMIC_SEQ_CST);
	while (__atomic_load_n(&g_active, __ATOMIC_SEQ_CST) != 0)
		rte_pause();
}
