/*
 * catena-node telemetry commands. Setup registers them; the callbacks run
 * on DPDK's telemetry thread. Counters are plain per-worker uint64 written
 * by their worker: they are read here with relaxed atomic loads, so a
 * snapshot is per counter, not across counters. Never calls cat_store_get
 * (that needs an online RCU reader); never writes shared state.
 */
#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_pause.h>
#include <rte_telemetry.h>

#include "dataplane/telemetry.h"
#include "replication/store.h"

/* Slots listed per /catena/slots call: keeps the answer well inside the
 * telemetry output buffer (16 KiB). Ask again from "next" for more. */
#define SLOTS_PER_PAGE 100u

static const struct {
	const char *name;
	size_t off;
} counters[] = {
#define CAT_X_ENTRY(n) { #n, offsetof(struct cat_worker_stats, n) },
	CAT_WORKER_COUNTERS(CAT_X_ENTRY)
#undef CAT_X_ENTRY
};
#define N_COUNTERS (sizeof(counters) / sizeof(counters[0]))

static const struct cat_dp *g_dp;
static struct cat_worker *const *g_workers;
static uint32_t g_node_id;
static int g_enabled;
static int g_active;

static uint64_t rd(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static uint64_t counter_of(const struct cat_worker *w, size_t off)
{
	return rd((const uint64_t *)((const char *)&w->st + off));
}

static uint64_t sum_off(size_t off)
{
	uint64_t s = 0;
	unsigned int i;

	for (i = 0; i < g_dp->n_workers; i++)
		s += counter_of(g_workers[i], off);
	return s;
}

static int is_drop(const char *name)
{
	return strncmp(name, "drop_", 5) == 0 || strcmp(name, "tx_dropped_full") == 0;
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

uint64_t cat_telemetry_total(const char *counter)
{
	size_t i;

	if (g_dp == NULL)
		return 0;
	for (i = 0; i < N_COUNTERS; i++)
		if (strcmp(counters[i].name, counter) == 0)
			return sum_off(counters[i].off);
	return 0;
}

uint64_t cat_telemetry_drops_total(void)
{
	uint64_t s = 0;
	size_t i;

	if (g_dp == NULL)
		return 0;
	for (i = 0; i < N_COUNTERS; i++)
		if (is_drop(counters[i].name))
			s += sum_off(counters[i].off);
	return s;
}

static int cmd_stats(const char *cmd __rte_unused, const char *params __rte_unused,
		     struct rte_tel_data *d)
{
	uint64_t keys = 0;
	uint32_t s;
	size_t i;

	if (enter() < 0)
		return -ENODEV;
	rte_tel_data_start_dict(d);
	rte_tel_data_add_dict_u64(d, "node_id", g_node_id);
	rte_tel_data_add_dict_u64(d, "epoch", g_dp->epoch);
	rte_tel_data_add_dict_u64(d, "workers", g_dp->n_workers);
	rte_tel_data_add_dict_u64(d, "slot_count", g_dp->slot_count);
	for (s = 0; s < g_dp->slot_count; s++)
		keys += cat_store_slot_keys(g_dp->store, s);
	rte_tel_data_add_dict_u64(d, "store_keys", keys);
	rte_tel_data_add_dict_u64(d, "store_mem_used", cat_store_mem_used(g_dp->store));
	rte_tel_data_add_dict_u64(d, "mempool_mbufs_free",
				  rte_mempool_avail_count(g_dp->pool));
	for (i = 0; i < N_COUNTERS; i++)
		rte_tel_data_add_dict_u64(d, counters[i].name, sum_off(counters[i].off));
	rte_tel_data_add_dict_u64(d, "drops_total", cat_telemetry_drops_total());
	for (i = 0; i < CAT_ST__COUNT; i++) {
		char name[64];
		const char *st = cat_wire_status_name((unsigned int)i);
		size_t j, n;
		uint64_t v = 0;
		unsigned int k;

		n = (size_t)snprintf(name, sizeof(name), "replies_%s", st);
		for (j = 8; j < n && j < sizeof(name); j++)
			name[j] = (char)tolower((unsigned char)name[j]);
		for (k = 0; k < g_dp->n_workers; k++)
			v += rd(&g_workers[k]->st.replies_by_status[i]);
		rte_tel_data_add_dict_u64(d, name, v);
	}
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
		snprintf(name, sizeof(name), "worker%u", i);
		if (rte_tel_data_add_dict_container(d, name, c, 0) != 0)
			rte_tel_data_free(c);
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

	if (params != NULL && *params != '\0') {
		char *end;
		unsigned long v = strtoul(params, &end, 10);

		if (*end != '\0' || !isdigit((unsigned char)*params))
			return -EINVAL;
		first = v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
	}
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

int cat_telemetry_register(const struct cat_dp *dp,
			   struct cat_worker *const *workers, uint32_t node_id)
{
	int rc;

	g_dp = dp;
	g_workers = workers;
	g_node_id = node_id;
	__atomic_store_n(&g_enabled, 1, __ATOMIC_SEQ_CST);

	/* Help texts must stay under RTE_TEL_MAX_STRING_LEN (128). */
	rc = rte_telemetry_register_cmd("/catena/stats", cmd_stats,
		"Node totals: traffic, requests, replies by status, every drop counter. "
		"No parameters");
	if (rc == 0)
		rc = rte_telemetry_register_cmd("/catena/lcores", cmd_lcores,
			"Per worker: lcore, queue, slots owned, packets, requests, handovers, "
			"idle sleeps");
	if (rc == 0)
		rc = rte_telemetry_register_cmd("/catena/slots", cmd_slots,
			"Slots with keys: owner, keys, version. Param: first slot; "
			"\"next\" continues, -1 = end");
	return rc;
}

void cat_telemetry_disable(void)
{
	__atomic_store_n(&g_enabled, 0, __ATOMIC_SEQ_CST);
	while (__atomic_load_n(&g_active, __ATOMIC_SEQ_CST) != 0)
		rte_pause();
}
