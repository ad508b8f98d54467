/*
 * The chain engine's log records (durability = log): every node of a
 * chain records each change it makes to its store, and replaying a node's
 * records into an empty store (replication/dlog_apply.c) gives back that
 * node's store, slot by slot, whatever mix of puts, deletes, failed CAS
 * and increments ran, and replaying twice changes nothing.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include <urcu-qsbr.h>

#include "replication/dlog.h"
#include "replication/dlog_apply.h"
#include "replication/hash.h"
#include "replication/store.h"
#include "chain_net.h"

#define NODES 3
#define LOG_MAX (256 * 1024)

static struct cat_net net;
static uint8_t logbuf[NODES + 1][LOG_MAX];
static size_t loglen[NODES + 1];
static unsigned logged[NODES + 1][5];   /* records by type */

static const char *map3 =
	"epoch 1\nslots 4\ncraq off\n"
	"node 1 10.0.0.1 02:00:00:00:00:01\n"
	"node 2 10.0.0.2 02:00:00:00:00:02\n"
	"node 3 10.0.0.3 02:00:00:00:00:03\n"
	"chain 1 1 2 3\nassign 0-3 1\n";

static void applied(void *arg, const struct cat_dlog_rec *r)
{
	struct cat_net *n = arg;
	uint16_t node = n->sending;
	ssize_t len;

	assert_true(node >= 1 && node <= NODES);
	len = cat_dlog_encode(logbuf[node] + loglen[node], LOG_MAX - loglen[node], r);
	assert_true(len > 0);
	loglen[node] += (size_t)len;
	logged[node][r->type]++;
}

static void write_req(uint8_t op, const char *key, const char *value,
		      uint64_t arg, uint64_t seq)
{
	struct cat_msg m = {
		.op = op, .client_id = 42, .seq = seq, .arg = arg,
		.key = (const uint8_t *)key, .key_len = (uint16_t)strlen(key),
		.value = (const uint8_t *)value,
		.value_len = value ? (uint32_t)strlen(value) : 0,
	};

	cat_net_client_write(&net, 1, &m, 0);
	cat_net_run(&net, 0);
}

static int apply_cb(struct cat_store *s, const uint8_t *p, size_t len)
{
	size_t off = 0;
	int n = 0;

	while (off < len) {
		struct cat_dlog_rec r;
		size_t used;

		assert_int_equal(cat_dlog_decode(p + off, len - off, &r, &used), 0);
		assert_int_equal(cat_dlog_apply(s, &r), 0);
		off += used;
		n++;
	}
	return n;
}

static void test_replaying_a_nodes_records_rebuilds_its_store(void **state)
{
	const struct cat_net_params p = {
		.map_text = map3, .nodes = NODES, .workers = 1,
		.inflight_max = 64, .msg_max = 1500, .dedup_max = 64,
		.rto_ns = 2000000, .suspect_after = 3,
		.client = { .ip = 0x0a000164, .port = 5555,
			    .mac = { 2, 0, 0, 0, 0, 0x64 } },
		.applied = applied,
	};
	const struct cat_store_params sp = { .slot_count = 4 };
	char key[16], val[16];
	uint64_t seq = 1;

	(void)state;
	memset(loglen, 0, sizeof(loglen));
	memset(logged, 0, sizeof(logged));
	cat_net_init(&net, &p);
	for (int i = 0; i < 40; i++) {
		snprintf(key, sizeof(key), "k%d", i % 13);
		snprintf(val, sizeof(val), "v%d", i);
		write_req(CAT_OP_PUT, key, val, 0, seq++);
		if (i % 5 == 0)
			write_req(CAT_OP_DEL, key, NULL, 0, seq++);
		if (i % 7 == 0)
			write_req(CAT_OP_CAS, key, "never", 999999, seq++); /* fails */
		if (i % 9 == 0)
			write_req(CAT_OP_INCR, "counter", NULL, 3, seq++);
	}
	for (uint16_t n = 1; n <= NODES; n++) {
		struct cat_store *s = cat_store_create(&sp);
		int records;

		assert_non_null(s);
		assert_true(logged[n][CAT_DLOG_PUT] > 0);
		assert_true(logged[n][CAT_DLOG_DEL] > 0);
		assert_true(logged[n][CAT_DLOG_NOOP] > 0);   /* the failed CAS */
		records = apply_cb(s, logbuf[n], loglen[n]);
		assert_true(records > 40);
		for (uint32_t slot = 0; slot < 4; slot++) {
			assert_true(cat_store_slot_digest(s, slot) ==
				    cat_store_slot_digest(net.store[n], slot));
			assert_true(cat_store_slot_version(s, slot) ==
				    cat_store_slot_version(net.store[n], slot));
			assert_true(cat_store_slot_keys(s, slot) ==
				    cat_store_slot_keys(net.store[n], slot));
		}
		/* Every record again, as after a crash between a snapshot
		 * and its log: nothing changes. */
		apply_cb(s, logbuf[n], loglen[n]);
		for (uint32_t slot = 0; slot < 4; slot++)
			assert_true(cat_store_slot_digest(s, slot) ==
				    cat_store_slot_digest(net.store[n], slot));
		rcu_thread_offline();
		cat_store_destroy(s);
		rcu_thread_online();
	}
	/* All three hold the same records: the chain's order. */
	assert_int_equal(loglen[1], loglen[2]);
	assert_int_equal(loglen[2], loglen[3]);
	assert_memory_equal(logbuf[1], logbuf[3], loglen[1]);
	cat_net_fini(&net);
}

static void test_a_record_of_another_cluster_is_refused(void **state)
{
	const struct cat_store_params sp = { .slot_count = 4 };
	struct cat_store *s = cat_store_create(&sp);
	struct cat_dlog_rec r = { .type = CAT_DLOG_PUT, .slot = 9, .version = 1,
				  .key = (const uint8_t *)"k", .klen = 1,
				  .value = (const uint8_t *)"v", .vlen = 1 };

	(void)state;
	assert_int_equal(cat_dlog_apply(s, &r), -ERANGE);
	r.slot = 0;
	if (cat_hash_slot(cat_hash_crc32c("k", 1), 4) == 0)
		r.slot = 1;
	assert_int_equal(cat_dlog_apply(s, &r), -EINVAL);   /* wrong slot */
	rcu_thread_offline();
	cat_store_destroy(s);
	rcu_thread_online();
}

static int setup(void **state)
{
	(void)state;
	rcu_register_thread();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	rcu_unregister_thread();
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_replaying_a_nodes_records_rebuilds_its_store),
		cmocka_unit_test(test_a_record_of_another_cluster_is_refused),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
