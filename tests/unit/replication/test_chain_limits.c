/*
 * Limits of the chain replication engine (replication/chain.c) and the
 * store under it: what a node does when a resource runs out or a peer
 * floods it. Each limit must end in a status or a drop and a counter,
 * never in a crash, an allocation or unbounded growth:
 *  - a write beyond the store's memory cap: NO_SPACE and store_errors,
 *    at the head and at a replica (which leaves it to the retransmission);
 *  - a flood of writes: RETRY and retry_inflight_full once the in-flight
 *    pool is full, no store memory and no heap used for them; the dedup
 *    table evicts (counted) instead of growing;
 *  - a SNAP flood from a node that is not the joiner's tail (or of another
 *    epoch): dropped, counted, nothing installed, nothing answered;
 *  - a head that fills the pool shared with its middle role: it keeps an
 *    entry for the middle, so the other chain's writes still pass.
 * Three nodes on the in-memory network of chain_net.h, as in test_chain.c,
 * but client replies are only counted (a flood of them needs no queue
 * room) and a message to a full queue is lost.
 */
#include <errno.h>
#include <malloc.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "replication/chain.h"
#include "chain_net.h"

#define NODES 3
#define MS 1000000ull

static struct cat_net net;

static const char *map123 =
	"epoch 1\nslots 4\ncraq off\n"
	"node 1 10.0.0.1\nnode 2 10.0.0.2\nnode 3 10.0.0.3\n"
	"chain 1 1 2 3\nassign 0-3 1\n";
static const char *map12_join3 =
	"epoch 1\nslots 4\ncraq off\n"
	"node 1 10.0.0.1\nnode 2 10.0.0.2\nnode 3 10.0.0.3\n"
	"chain 1 1 2\njoin 1 3\nassign 0-3 1\n";

/* mem_limit[n]: node n's store cap (0: none). */
static void setup(const char *text, uint32_t inflight, uint32_t dedup,
		  const uint64_t mem_limit[NODES + 1])
{
	const struct cat_net_params p = {
		.map_text = text, .nodes = NODES, .workers = 1,
		.inflight_max = inflight, .msg_max = 1472, .dedup_max = dedup,
		.rto_ns = 2 * MS, .suspect_after = 3, .mem_limit = mem_limit,
		.client = { .ip = 0x0a000164, .port = 5555 },
		.queue_replies = 0, .queue_max = 64, .drop_when_full = 1,
		.frame_max = 1600, .storm_max = 10000,
	};

	cat_net_init(&net, &p);
}

static void write_req(uint16_t node, uint8_t op, const char *key,
		      const uint8_t *value, uint32_t vlen, uint32_t cid,
		      uint64_t seq, uint64_t now)
{
	struct cat_msg m = {
		.op = op, .client_id = cid, .seq = seq,
		.key = (const uint8_t *)key, .key_len = (uint16_t)strlen(key),
		.value = value, .value_len = vlen,
	};

	assert_int_equal(cat_wire_check_request(&m, cat_wire_value_max(1500,
						m.key_len)), CAT_ST_OK);
	cat_net_client_write(&net, node, &m, now);
}

/* INCR key by 1 at node. */
static void incr_req(uint16_t node, const char *key, uint32_t cid,
		     uint64_t seq)
{
	struct cat_msg m = {
		.op = CAT_OP_INCR, .client_id = cid, .seq = seq, .arg = 1,
		.key = (const uint8_t *)key, .key_len = (uint16_t)strlen(key),
	};

	cat_net_client_write(&net, node, &m, 0);
}

static struct cat_chain_stats st(uint16_t n)
{
	return cat_net_stats(&net, n);
}

static uint64_t keys_of(uint16_t n)
{
	uint64_t k = 0;

	for (uint32_t s = 0; s < 4; s++)
		k += cat_store_slot_keys(net.store[n], s);
	return k;
}

/* (a) The head's store is full: the write is refused before it is
 * ordered (no sequence number, nothing forwarded), NO_SPACE, counted. */
static void test_write_beyond_the_memory_cap_answers_no_space(void **state)
{
	static const uint64_t cap[NODES + 1] = { 0, 3000, 0, 0 };
	static uint8_t big[1200];
	uint64_t used;

	(void)state;
	memset(big, 'x', sizeof(big));
	setup(map123, 16, 64, cap);
	write_req(1, CAT_OP_PUT, "a", big, sizeof(big), 1, 1, 0);
	write_req(1, CAT_OP_PUT, "b", big, sizeof(big), 1, 2, 0);
	cat_net_run(&net, 0);
	assert_int_equal(net.replies[CAT_ST_OK], 2);
	used = cat_store_mem_used(net.store[1]);
	assert_true(used <= cap[1]);

	write_req(1, CAT_OP_PUT, "c", big, sizeof(big), 1, 3, 0);
	assert_int_equal(net.replies[CAT_ST_NO_SPACE], 1);
	assert_int_equal(st(1).store_errors, 1);
	assert_int_equal(net.qn, 0);                /* nothing forwarded */
	assert_int_equal(st(1).writes_sequenced, 2);
	assert_int_equal(cat_net_inflight(&net, 1), 0);
	assert_true(cat_store_mem_used(net.store[1]) == used);
	/* INCR needs memory too; a small write may still fit. */
	write_req(1, CAT_OP_INCR, "n", NULL, 0, 1, 4, 0);
	assert_true(net.replies[CAT_ST_NO_SPACE] + net.replies[CAT_ST_OK] == 3);
	assert_true(cat_store_mem_used(net.store[1]) <= cap[1]);
	/* Freeing space (a delete, committed) lets writes in again. */
	cat_net_run(&net, 0);
	write_req(1, CAT_OP_DEL, "a", NULL, 0, 1, 5, 0);
	cat_net_run(&net, 0);
	rcu_thread_offline();
	rcu_barrier();               /* the deleted item is freed */
	rcu_thread_online();
	write_req(1, CAT_OP_PUT, "c", big, sizeof(big), 1, 6, 0);
	cat_net_run(&net, 0);
	assert_true(net.replies[CAT_ST_OK] >= 4);
	cat_net_fini(&net);
}

/* (a) A replica's store is full: it does not apply the FWD (counted),
 * does not ack, and the head keeps the write in flight to resend; the
 * client is not answered OK until the chain has it. */
static void test_replica_out_of_memory_refuses_the_forward(void **state)
{
	static const uint64_t cap[NODES + 1] = { 0, 0, 1500, 0 };
	static uint8_t big[1200];

	(void)state;
	memset(big, 'y', sizeof(big));
	setup(map123, 16, 64, cap);
	write_req(1, CAT_OP_PUT, "a", big, sizeof(big), 1, 1, 0);
	cat_net_run(&net, 0);
	assert_int_equal(net.replies[CAT_ST_OK], 1);
	write_req(1, CAT_OP_PUT, "b", big, sizeof(big), 1, 2, 0);
	cat_net_run(&net, 0);
	assert_int_equal(st(2).store_errors, 1);
	assert_int_equal(net.replies[CAT_ST_OK], 1);   /* b is not answered */
	assert_int_equal(cat_net_inflight(&net, 1), 1);
	assert_true(cat_store_mem_used(net.store[2]) <= cap[2]);
	/* The retransmission meets the same full store: refused again. */
	cat_net_timer(&net, 1, 5 * MS);
	cat_net_run(&net, 5 * MS);
	assert_int_equal(st(2).store_errors, 2);
	assert_true(st(1).fwd_retransmitted >= 1);
	cat_net_fini(&net);
}

/* (b) A write flood at the head with nothing acknowledged: the pool
 * bounds what is in flight, the rest is answered RETRY and counted, and
 * neither the store nor the heap grows for the refused writes. */
static void test_write_flood_answers_retry_and_stays_bounded(void **state)
{
	enum { POOL = 8, FLOOD = 2000 };
	uint64_t mem_store;
	size_t heap;
	char key[32];

	(void)state;
	setup(map123, POOL, 64, NULL);
	for (int i = 0; i < POOL; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		write_req(1, CAT_OP_PUT, key, (const uint8_t *)"v", 1, 7,
			  (uint64_t)i + 1, 0);
	}
	assert_int_equal(cat_net_inflight(&net, 1), POOL);
	cat_net_drop_all(&net);       /* the forwards are lost: nothing acks */
	mem_store = cat_store_mem_used(net.store[1]);
	heap = mallinfo2().uordblks;  /* 0 under ASan/valgrind: still true */
	for (int i = POOL; i < FLOOD; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		write_req(1, i % 3 ? CAT_OP_PUT : CAT_OP_INCR, key,
			  i % 3 ? (const uint8_t *)"v" : NULL, i % 3 ? 1 : 0,
			  7, (uint64_t)i + 1, 0);
	}
	assert_int_equal(net.replies[CAT_ST_RETRY], FLOOD - POOL);
	assert_int_equal(st(1).retry_inflight_full, FLOOD - POOL);
	assert_int_equal(cat_net_inflight(&net, 1), POOL);
	assert_int_equal(st(1).writes_sequenced, POOL);
	assert_true(cat_store_mem_used(net.store[1]) == mem_store);
	assert_true(mallinfo2().uordblks == heap);
	assert_int_equal(keys_of(1), POOL);
	/* The pool drains once the chain acks: writes go through again. */
	cat_net_timer(&net, 1, 5 * MS);
	cat_net_run(&net, 5 * MS);
	assert_int_equal(cat_net_inflight(&net, 1), 0);
	write_req(1, CAT_OP_PUT, "after", (const uint8_t *)"v", 1, 7, 99999, 5 * MS);
	cat_net_run(&net, 5 * MS);
	assert_int_equal(net.replies[CAT_ST_OK], POOL + 1);
	cat_net_fini(&net);
}

/* (b) Many clients: the dedup table keeps at most its size and evicts
 * the oldest (counted) instead of growing; a recent retry still gets the
 * original outcome and does not execute twice. */
static void test_dedup_table_evicts_instead_of_growing(void **state)
{
	enum { DEDUP = 16, CLIENTS = 500 };
	size_t heap;

	(void)state;
	setup(map123, 16, DEDUP, NULL);
	heap = mallinfo2().uordblks;
	for (uint32_t c = 1; c <= CLIENTS; c++) {
		write_req(1, CAT_OP_INCR, "n", NULL, 0, c, 1, 0);
		cat_net_run(&net, 0);
	}
	assert_int_equal(net.replies[CAT_ST_OK], CLIENTS);
	/* Every replica filled its table from the FWDs: each evicted
	 * exactly what did not fit. */
	for (uint16_t n = 1; n <= NODES; n++)
		assert_int_equal(st(n).dedup_evictions, CLIENTS - DEDUP);
	/* One item for "n" whatever the number of clients: no growth but
	 * the counter's (the tail's version is clean, older ones freed). */
	assert_int_equal(keys_of(1), 1);
	rcu_thread_offline();
	rcu_barrier();
	rcu_thread_online();
	assert_true(mallinfo2().uordblks <= heap + 4096);
	/* The last client's retry is answered from the table, not run. */
	write_req(1, CAT_OP_INCR, "n", NULL, 0, CLIENTS, 1, 0);
	assert_int_equal(st(1).dup_committed, 1);
	assert_int_equal(st(1).writes_sequenced, CLIENTS);
	cat_net_fini(&net);
}

static int64_t counter_at(uint16_t node, const char *key)
{
	const struct cat_item *it;
	struct cat_key k;
	char text[32];
	int64_t v = -1;

	cat_store_key(net.store[node], &k, key, (uint16_t)strlen(key));
	if (cat_store_get(net.store[node], &k, &it) == 0 &&
	    it->value_len < sizeof(text)) {
		memcpy(text, cat_item_value(it), it->value_len);
		text[it->value_len] = '\0';
		v = strtoll(text, NULL, 10);
	}
	return v;
}

/* The configured capacity is the real one: as many remembered writes as
 * [replication] dedup says, none evicted before that. A set-associative
 * table evicts long before it is full (the issue: 97 evictions per node
 * at a quarter of 65536). One write more evicts exactly the oldest. */
static void test_dedup_table_holds_exactly_its_capacity(void **state)
{
	enum { DEDUP = 1000, CLIENTS = 7 };
	uint64_t seq[CLIENTS] = { 0 };
	char key[16];

	(void)state;
	setup(map123, 64, DEDUP, NULL);
	for (uint32_t i = 0; i < DEDUP; i++) {
		uint32_t c = i % CLIENTS;

		snprintf(key, sizeof(key), "k%u", i % 5);
		write_req(1, CAT_OP_PUT, key, (const uint8_t *)"v", 1,
			  0x9e370000u + c * 7919u, ++seq[c], 0);
		cat_net_run(&net, 0);
	}
	assert_int_equal(net.replies[CAT_ST_OK], DEDUP);
	for (uint16_t n = 1; n <= NODES; n++)
		assert_int_equal(st(n).dedup_evictions, 0);
	/* Every one of them is still remembered: a retry is answered from
	 * the table and not sequenced again. */
	memset(seq, 0, sizeof(seq));
	for (uint32_t i = 0; i < DEDUP; i++) {
		uint32_t c = i % CLIENTS;

		snprintf(key, sizeof(key), "k%u", i % 5);
		write_req(1, CAT_OP_PUT, key, (const uint8_t *)"v", 1,
			  0x9e370000u + c * 7919u, ++seq[c], 0);
	}
	assert_int_equal(st(1).dup_committed, DEDUP);
	assert_int_equal(st(1).writes_sequenced, DEDUP);
	/* One more: the oldest (client 0, seq 1) goes, on every replica. */
	write_req(1, CAT_OP_INCR, "n", NULL, 0, 4242, 1, 0);
	cat_net_run(&net, 0);
	for (uint16_t n = 1; n <= NODES; n++)
		assert_int_equal(st(n).dedup_evictions, 1);
	write_req(1, CAT_OP_PUT, "k0", (const uint8_t *)"v", 1, 0x9e370000u, 1, 0);
	assert_int_equal(net.replies[CAT_ST_OUTCOME_UNKNOWN], 1);
	write_req(1, CAT_OP_PUT, "k1", (const uint8_t *)"v", 1,
		  0x9e370000u + 7919u, 1, 0);
	assert_int_equal(st(1).dup_committed, DEDUP + 1);
	assert_int_equal(st(1).writes_sequenced, DEDUP + 1);
	cat_net_fini(&net);
}

/* A retried INCR whose remembered outcome was evicted must not run a
 * second time: it is answered OUTCOME_UNKNOWN, on the head and on a
 * replica that becomes head (each learnt the same from the FWDs). The
 * client's next request, and a first try from a client that lost
 * nothing, run as usual. */
static void test_retried_incr_whose_outcome_was_evicted_is_not_run_again(void **state)
{
	enum { DEDUP = 16 };
	static const char *map23 =
		"epoch 2\nslots 4\ncraq off\n"
		"node 1 10.0.0.1\nnode 2 10.0.0.2\nnode 3 10.0.0.3\n"
		"chain 1 2 3\nassign 0-3 1\n";
	struct cat_map *m2;

	(void)state;
	setup(map123, 16, DEDUP, NULL);
	incr_req(1, "n", 100, 1);   /* client A */
	cat_net_run(&net, 0);
	assert_int_equal(counter_at(3, "n"), 1);
	for (uint64_t s = 1; s <= DEDUP; s++) {               /* client B */
		write_req(1, CAT_OP_PUT, "b", (const uint8_t *)"v", 1, 200, s, 0);
		cat_net_run(&net, 0);
	}
	for (uint16_t n = 1; n <= NODES; n++)
		assert_int_equal(st(n).dedup_evictions, 1);
	/* A's reply was lost; its retry comes after the entry went. */
	incr_req(1, "n", 100, 1);
	cat_net_run(&net, 0);
	assert_int_equal(net.replies[CAT_ST_OUTCOME_UNKNOWN], 1);
	assert_int_equal(st(1).outcome_unknown, 1);
	assert_int_equal(st(1).writes_sequenced, 1 + DEDUP);
	assert_int_equal(counter_at(3, "n"), 1);
	/* A's next request is new: it runs. */
	incr_req(1, "n", 100, 2);
	cat_net_run(&net, 0);
	assert_int_equal(counter_at(3, "n"), 2);
	/* A client nothing was evicted for: its first try runs. */
	incr_req(1, "n", 300, 7);
	cat_net_run(&net, 0);
	assert_int_equal(counter_at(3, "n"), 3);
	assert_int_equal(net.replies[CAT_ST_OUTCOME_UNKNOWN], 1);

	/* Node 1 fails; node 2 heads the chain and A retries seq 1 there. */
	m2 = cat_net_parse(map23);
	for (uint16_t n = 2; n <= NODES; n++) {
		cat_net_set_map(&net, n, m2, 0);
		cat_net_flush(&net, n, 0);
	}
	cat_net_run(&net, 0);
	incr_req(2, "n", 100, 1);
	cat_net_run(&net, 0);
	assert_int_equal(net.replies[CAT_ST_OUTCOME_UNKNOWN], 2);
	assert_int_equal(st(2).outcome_unknown, 1);
	assert_int_equal(counter_at(3, "n"), 3);
	/* ... and A's remembered seq 2 is answered from the table. */
	incr_req(2, "n", 100, 2);
	assert_int_equal(st(2).dup_committed, 1);
	assert_int_equal(counter_at(3, "n"), 3);
	cat_net_fini(&net);
	cat_map_free(m2);           /* the engines that held it are gone */
}

/* The index under churn: thousands of inserts into a small ring, each
 * evicting the oldest. At every check the last DEDUP writes are found
 * (retries answered from the table) and the one before is not. A broken
 * delete in the probing index loses or keeps the wrong entries. */
static void test_dedup_index_survives_churn(void **state)
{
	enum { DEDUP = 61, CLIENTS = 5, WRITES = 3000 };
	uint64_t dups = 0, unknown = 0;

	(void)state;
	setup(map123, 16, DEDUP, NULL);
	for (uint32_t i = 1; i <= WRITES; i++) {
		/* Client ids and seqs chosen to collide in the low bits. */
		write_req(1, CAT_OP_PUT, "c", (const uint8_t *)"v", 1,
			  (i % CLIENTS) << 16, i, 0);
		cat_net_run(&net, 0);
		if (i % 250 != 0)
			continue;
		for (uint32_t j = i - DEDUP + 1; j <= i; j++)
			write_req(1, CAT_OP_PUT, "c", (const uint8_t *)"v", 1,
				  (j % CLIENTS) << 16, j, 0);
		dups += DEDUP;
		assert_int_equal(st(1).dup_committed, dups);
		write_req(1, CAT_OP_PUT, "c", (const uint8_t *)"v", 1,
			  ((i - DEDUP) % CLIENTS) << 16, i - DEDUP, 0);
		unknown++;
		assert_int_equal(net.replies[CAT_ST_OUTCOME_UNKNOWN], unknown);
		assert_int_equal(st(1).writes_sequenced, i);
	}
	assert_int_equal(st(1).dedup_evictions, WRITES - DEDUP);
	cat_net_fini(&net);
}

/* The smallest tables (the config allows 16, the engine takes 1): the
 * index must keep an empty cell to end its probes. This hung the
 * simulator's seed 172 (dedup 1) before the index had 16 cells at least. */
static void test_dedup_tiny_tables_keep_working(void **state)
{
	(void)state;
	for (uint32_t cap = 1; cap <= 3; cap++) {
		setup(map123, 16, cap, NULL);
		for (uint64_t i = 1; i <= 200; i++) {
			write_req(1, CAT_OP_PUT, "t", (const uint8_t *)"v", 1,
				  (uint32_t)(i % 3) + 1, i, 0);
			cat_net_run(&net, 0);
			write_req(1, CAT_OP_PUT, "t", (const uint8_t *)"v", 1,
				  (uint32_t)(i % 3) + 1, i, 0);
		}
		assert_int_equal(st(1).dup_committed, 200);
		assert_int_equal(st(1).writes_sequenced, 200);
		assert_int_equal(st(1).dedup_evictions, 200 - cap);
		cat_net_fini(&net);
	}
}

static void snap(uint16_t to, uint16_t from, uint8_t op, uint32_t gen,
		 uint64_t seq, const char *key, uint32_t epoch)
{
	struct cat_msg m = {
		.op = op, .epoch = epoch, .client_id = gen, .seq = seq, .arg = 5,
		.key = (const uint8_t *)key, .key_len = (uint16_t)strlen(key),
		.value = (const uint8_t *)"stale", .value_len = 5,
	};
	struct cat_key k;

	cat_store_key(net.store[to], &k, key, m.key_len);
	m.slot = (uint16_t)k.slot;
	cat_net_on_peer(&net, to, from, &m, 0);
}

/* (c) Node 3 joins chain 1-2, whose tail (node 2) streams to it. SNAPs
 * from the head (node 1), from an unknown peer and of another epoch are
 * dropped and counted; none is installed or answered. A flood at a
 * member that is not joining is dropped the same way. */
static void test_snap_flood_from_a_non_tail_is_dropped_and_counted(void **state)
{
	enum { FLOOD = 1000 };
	char key[32];
	uint64_t before;

	(void)state;
	setup(map12_join3, 16, 64, NULL);
	before = cat_store_mem_used(net.store[3]);
	for (int i = 0; i < FLOOD; i++) {
		snprintf(key, sizeof(key), "s%d", i);
		snap(3, 1, i % 10 ? CAT_OP_R_SNAP : CAT_OP_R_SNAP_END,
		     (uint32_t)i + 1, 1 + (uint64_t)(i % 3), key, 1);
	}
	assert_int_equal(st(3).drop_not_member, FLOOD);
	snap(3, 0, CAT_OP_R_SNAP, 77, 1, "u", 1);     /* unknown peer */
	assert_int_equal(st(3).drop_not_member, FLOOD + 1);
	snap(3, 2, CAT_OP_R_SNAP, 78, 1, "e", 9);     /* the tail, wrong epoch */
	assert_int_equal(st(3).drop_epoch, 1);
	assert_int_equal(keys_of(3), 0);
	assert_true(cat_store_mem_used(net.store[3]) == before);
	assert_int_equal(st(3).xfer_slot_resets, 0);
	assert_int_equal(st(3).xfer_snap_applied, 0);
	assert_int_equal(net.qn, 0);              /* no SNAP_ACK to anyone */
	/* Node 1 is a member (the head), not joining: dropped too. */
	for (int i = 0; i < FLOOD; i++) {
		snprintf(key, sizeof(key), "m%d", i);
		snap(1, 2, CAT_OP_R_SNAP, 5, (uint64_t)i + 1, key, 1);
	}
	assert_int_equal(st(1).drop_not_member, FLOOD);
	assert_int_equal(keys_of(1), 0);
	assert_int_equal(net.qn, 0);
	/* The real tail's stream still works after the flood. */
	snap(3, 2, CAT_OP_R_SNAP, 42, 1, "real", 1);
	assert_int_equal(st(3).xfer_snap_applied, 1);
	assert_int_equal(keys_of(3), 1);
	cat_net_fini(&net);
}

/* Node 2 is the head of chain 2 and the middle of chain 1, and one pool
 * serves both. A flood of chain 2 writes that nobody acknowledges takes
 * every entry but one: that one is kept for its middle position, so a
 * chain 1 write still passes node 2 and commits. Without the reservation
 * node 2 would drop chain 1's FWD for want of an entry, and with rotated
 * chains the middles could wait on each other for ever. */
static void test_head_flood_leaves_an_entry_for_the_middle(void **state)
{
	static const char *map2 =
		"epoch 1\nslots 4\ncraq off\n"
		"node 1 10.0.0.1\nnode 2 10.0.0.2\nnode 3 10.0.0.3\n"
		"chain 1 1 2 3\nchain 2 2 3 1\nassign 0-1 1\nassign 2-3 2\n";
	enum { POOL = 4 };
	char key[32];
	int admitted = 0, n = 0;
	struct cat_key k;

	(void)state;
	setup(map2, POOL, 64, NULL);
	for (int i = 0; n < 3 * POOL; i++) {
		snprintf(key, sizeof(key), "h%d", i);
		cat_store_key(net.store[2], &k, key, (uint16_t)strlen(key));
		if (k.slot < 2)
			continue;        /* chain 2's slots only */
		write_req(2, CAT_OP_PUT, key, (const uint8_t *)"v", 1, 7,
			  (uint64_t)i + 1, 0);
		n++;
	}
	admitted = (int)st(2).writes_sequenced;
	assert_int_equal(admitted, POOL - 1);
	assert_int_equal(cat_net_inflight(&net, 2), POOL - 1);
	assert_int_equal(net.replies[CAT_ST_RETRY], 3 * POOL - admitted);
	assert_true(st(2).inflight_reserved > 0);
	cat_net_drop_all(&net);       /* chain 2's forwards are lost */

	for (int i = 0;; i++) {
		snprintf(key, sizeof(key), "m%d", i);
		cat_store_key(net.store[1], &k, key, (uint16_t)strlen(key));
		if (k.slot < 2)
			break;           /* a chain 1 key */
	}
	write_req(1, CAT_OP_PUT, key, (const uint8_t *)"through", 7, 8, 1, 0);
	cat_net_run(&net, 0);
	assert_int_equal(st(2).fwd_no_inflight, 0);
	assert_int_equal(st(2).fwd_applied, 1);
	assert_int_equal(net.replies[CAT_ST_OK], 1);
	assert_int_equal(cat_net_inflight(&net, 2), POOL - 1);
	cat_net_fini(&net);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_write_beyond_the_memory_cap_answers_no_space),
		cmocka_unit_test(test_replica_out_of_memory_refuses_the_forward),
		cmocka_unit_test(test_write_flood_answers_retry_and_stays_bounded),
		cmocka_unit_test(test_dedup_table_evicts_instead_of_growing),
		cmocka_unit_test(test_dedup_table_holds_exactly_its_capacity),
		cmocka_unit_test(test_retried_incr_whose_outcome_was_evicted_is_not_run_again),
		cmocka_unit_test(test_dedup_index_survives_churn),
		cmocka_unit_test(test_dedup_tiny_tables_keep_working),
		cmocka_unit_test(test_snap_flood_from_a_non_tail_is_dropped_and_counted),
		cmocka_unit_test(test_head_flood_leaves_an_entry_for_the_middle),
	};
	int rc;

	rcu_register_thread();
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	rcu_unregister_thread();
	return rc;
}
