/*
 * Unit tests for the chain replication engine (replication/chain.c): three
 * engines on three stores, wired through the in-memory network of
 * chain_net.h, which the test delivers, drops or duplicates by hand, so
 * every step of the protocol is visible. The deterministic simulator
 * (tests/sim) covers the random schedules; these pin down the individual
 * rules.
 */
#include <errno.h>
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

static const char *map3 =
	"epoch 1\nslots 4\ncraq off\n"
	"node 1 10.0.0.1 02:00:00:00:00:01\n"
	"node 2 10.0.0.2 02:00:00:00:00:02\n"
	"node 3 10.0.0.3 02:00:00:00:00:03\n"
	"chain 1 1 2 3\nassign 0-3 1\n";

static uint64_t fence_ns; /* the engines' read-lease fence; 0: none */

/* Every message and every client reply is queued: the test looks at each
 * one. A full queue fails the test. */
static void setup_cluster(const char *map_text, uint32_t inflight)
{
	const struct cat_net_params p = {
		.map_text = map_text, .nodes = NODES, .workers = 1,
		.inflight_max = inflight, .msg_max = 1500, .dedup_max = 64,
		.rto_ns = 2 * MS, .suspect_after = 3, .fence_ns = fence_ns,
		.client = { .ip = 0x0a000164, .port = 5555,
			    .mac = { 2, 0, 0, 0, 0, 0x64 } },
		.queue_replies = 1,
	};

	cat_net_init(&net, &p);
}

static uint64_t seqno = 100;

static void client_write(uint16_t node, uint8_t op, const char *key,
			 const char *value, uint64_t arg, uint64_t seq,
			 uint64_t now)
{
	struct cat_msg m = {
		.op = op, .client_id = 42, .seq = seq, .arg = arg,
		.key = (const uint8_t *)key, .key_len = (uint16_t)strlen(key),
		.value = (const uint8_t *)value,
		.value_len = value ? (uint32_t)strlen(value) : 0,
	};

	cat_net_client_write(&net, node, &m, now);
}

static void client_get(uint16_t node, const char *key, uint64_t seq)
{
	struct cat_msg m = {
		.op = CAT_OP_GET, .client_id = 42, .seq = seq,
		.key = (const uint8_t *)key, .key_len = (uint16_t)strlen(key),
	};

	cat_net_client_get(&net, node, &m);
}

/* ---- tests -------------------------------------------------------------- */

static void test_put_travels_the_chain_and_the_tail_answers(void **state)
{
	(void)state;
	setup_cluster(map3, 16);
	client_write(1, CAT_OP_PUT, "k", "v1", 0, ++seqno, 0);
	assert_int_equal(net.qn, 1);               /* one FWD, no reply */
	assert_int_equal(net.q[0].m.op, CAT_OP_R_FWD);
	assert_int_equal(net.q[0].to, 2);
	cat_net_expect_stored(&net, 1, "k", "v1", 1); /* dirty at the head */
	cat_net_deliver(&net, 0, 0);               /* 1 -> 2 */
	cat_net_expect_stored(&net, 2, "k", "v1", 1);
	assert_int_equal(net.q[0].to, 3);
	cat_net_deliver(&net, 0, 0);               /* 2 -> 3: tail */
	cat_net_expect_stored(&net, 3, "k", "v1", 0);
	/* The tail answered the client and acked upstream. */
	assert_true(cat_net_find(&net, 1, CAT_OP_PUT) >= 0);
	assert_true(cat_net_find(&net, 0, CAT_OP_R_ACK) >= 0);
	cat_net_run(&net, 0);
	struct cat_msg r = cat_net_take_reply(&net, NULL);
	assert_int_equal(r.status, CAT_ST_OK);
	assert_true(r.arg == 1);                   /* the version */
	assert_int_equal(r.client_id, 42);
	assert_true(r.seq == seqno);
	/* The acks turned every copy clean and emptied the pipelines. */
	cat_net_expect_stored(&net, 1, "k", "v1", 0);
	cat_net_expect_stored(&net, 2, "k", "v1", 0);
	for (int n = 1; n <= NODES; n++)
		assert_int_equal(cat_net_inflight(&net, n), 0);
	cat_net_fini(&net);
}

static void test_requests_at_the_wrong_node_are_moved(void **state)
{
	(void)state;
	setup_cluster(map3, 16);
	client_write(2, CAT_OP_PUT, "k", "v", 0, ++seqno, 0);
	struct cat_msg r = cat_net_take_reply(&net, NULL);
	assert_int_equal(r.status, CAT_ST_MOVED);
	assert_true(r.arg == 1);        /* hint: the head */
	assert_true(r.epoch == 1);
	client_get(1, "k", ++seqno);    /* reads go to the tail */
	r = cat_net_take_reply(&net, NULL);
	assert_int_equal(r.status, CAT_ST_MOVED);
	assert_true(r.arg == 3);
	client_get(3, "k", ++seqno);
	r = cat_net_take_reply(&net, NULL);
	assert_int_equal(r.status, CAT_ST_NOT_FOUND);
	cat_net_fini(&net);
}

static void test_lost_forward_is_retransmitted_and_applied_once(void **state)
{
	(void)state;
	setup_cluster(map3, 16);
	client_write(1, CAT_OP_INCR, "n", NULL, 5, ++seqno, 0);
	cat_net_drop_all(&net);                      /* the FWD is lost */
	cat_net_timer(&net, 1, 1 * MS);              /* before the rto */
	assert_int_equal(net.qn, 0);
	cat_net_timer(&net, 1, 3 * MS);
	assert_int_equal(net.qn, 1);
	assert_int_equal(net.q[0].m.op, CAT_OP_R_FWD);
	/* Duplicate it in the network: applied once, re-acked. */
	cat_net_duplicate(&net, 0);
	cat_net_run(&net, 3 * MS);
	uint8_t val[32] = { 0 };
	struct cat_msg r = cat_net_take_reply(&net, val);
	assert_int_equal(r.status, CAT_ST_OK);
	assert_memory_equal(val, "5", 1);
	assert_true(cat_net_stats(&net, 2).fwd_duplicate >= 1);
	cat_net_expect_stored(&net, 3, "n", "5", 0);
	assert_int_equal(cat_net_stats(&net, 1).fwd_retransmitted, 1);
	cat_net_fini(&net);
}

static void test_gap_is_dropped_until_the_predecessor_resends(void **state)
{
	(void)state;
	setup_cluster(map3, 16);
	client_write(1, CAT_OP_PUT, "a", "1", 0, ++seqno, 0);
	client_write(1, CAT_OP_PUT, "a", "2", 0, ++seqno, 0);
	assert_int_equal(net.qn, 2);
	cat_net_deliver(&net, 1, 0); /* seq 2 first: a gap at node 2 */
	assert_int_equal(cat_net_stats(&net, 2).fwd_gap, 1);
	cat_net_expect_stored(&net, 2, "a", NULL, 0);
	cat_net_run(&net, 0);        /* seq 1 arrives, goes through */
	(void)cat_net_take_reply(&net, NULL);
	cat_net_timer(&net, 1, 5 * MS);       /* seq 2 again */
	cat_net_run(&net, 5 * MS);
	struct cat_msg r = cat_net_take_reply(&net, NULL);
	assert_true(r.arg == 2);
	cat_net_expect_stored(&net, 3, "a", "2", 0);
	cat_net_expect_stored(&net, 1, "a", "2", 0);
	cat_net_fini(&net);
}

static void test_retried_incr_takes_effect_once(void **state)
{
	(void)state;
	setup_cluster(map3, 16);
	uint64_t s = ++seqno;
	uint8_t val[32] = { 0 };

	client_write(1, CAT_OP_INCR, "n", NULL, 1, s, 0);
	client_write(1, CAT_OP_INCR, "n", NULL, 1, s, 0);  /* still in flight */
	assert_int_equal(cat_net_stats(&net, 1).dup_in_flight, 1);
	cat_net_run(&net, 0);
	struct cat_msg r = cat_net_take_reply(&net, val);
	assert_memory_equal(val, "1", 1);
	client_write(1, CAT_OP_INCR, "n", NULL, 1, s, 0);  /* committed */
	r = cat_net_take_reply(&net, val);
	assert_int_equal(r.status, CAT_ST_OK);
	assert_int_equal(r.value_len, 1);
	assert_memory_equal(val, "1", 1);
	assert_int_equal(cat_net_stats(&net, 1).dup_committed, 1);
	cat_net_expect_stored(&net, 3, "n", "1", 0);
	/* A new request id increments again. */
	client_write(1, CAT_OP_INCR, "n", NULL, 1, ++seqno, 0);
	cat_net_run(&net, 0);
	r = cat_net_take_reply(&net, val);
	assert_memory_equal(val, "2", 1);
	cat_net_fini(&net);
}

static void test_failed_cas_is_ordered_and_answered_by_the_tail(void **state)
{
	(void)state;
	setup_cluster(map3, 16);
	client_write(1, CAT_OP_PUT, "c", "x", 0, ++seqno, 0);
	cat_net_run(&net, 0);
	(void)cat_net_take_reply(&net, NULL);
	client_write(1, CAT_OP_CAS, "c", "y", 77, ++seqno, 0); /* wrong version */
	assert_int_equal(net.qn, 1);    /* a NOOP forward, no direct reply */
	cat_net_run(&net, 0);
	struct cat_msg r = cat_net_take_reply(&net, NULL);
	assert_int_equal(r.status, CAT_ST_CAS_FAILED);
	assert_true(r.arg == 1);        /* the current version */
	/* Every replica consumed the same sequence number. */
	struct cat_key k;
	cat_store_key(net.store[1], &k, "c", 1);
	for (int n = 2; n <= NODES; n++)
		assert_true(cat_store_slot_version(net.store[n], k.slot) ==
			    cat_store_slot_version(net.store[1], k.slot));
	cat_net_expect_stored(&net, 3, "c", "x", 0);
	cat_net_fini(&net);
}

static void test_peer_messages_of_another_epoch_are_dropped(void **state)
{
	(void)state;
	setup_cluster(map3, 16);
	client_write(1, CAT_OP_PUT, "k", "v", 0, ++seqno, 0);
	/* Rewrite the FWD's epoch as if from an old configuration. */
	net.q[0].bytes[8] = 0;
	cat_net_deliver(&net, 0, 0);
	assert_int_equal(cat_net_stats(&net, 2).drop_epoch, 1);
	cat_net_expect_stored(&net, 2, "k", NULL, 0);
	/* A forward from a node that is not the predecessor is refused. */
	client_write(1, CAT_OP_PUT, "k2", "v", 0, ++seqno, 0);
	net.q[0].to = 3;             /* node 1 is not node 3's predecessor */
	cat_net_deliver(&net, 0, 0);
	assert_int_equal(cat_net_stats(&net, 3).fwd_not_from_pred, 1);
	cat_net_fini(&net);
}

static void test_full_pipeline_answers_retry(void **state)
{
	(void)state;
	setup_cluster(map3, 2);
	client_write(1, CAT_OP_PUT, "a", "1", 0, ++seqno, 0);
	client_write(1, CAT_OP_PUT, "b", "1", 0, ++seqno, 0);
	client_write(1, CAT_OP_PUT, "c", "1", 0, ++seqno, 0);
	struct cat_msg r = cat_net_take_reply(&net, NULL);
	assert_int_equal(r.status, CAT_ST_RETRY);
	assert_int_equal(cat_net_stats(&net, 1).retry_inflight_full, 1);
	cat_net_expect_stored(&net, 1, "c", NULL, 0); /* nothing executed */
	cat_net_fini(&net);
}

static const char *map3_craq =
	"epoch 1\nslots 4\ncraq on\n"
	"node 1 10.0.0.1 02:00:00:00:00:01\n"
	"node 2 10.0.0.2 02:00:00:00:00:02\n"
	"node 3 10.0.0.3 02:00:00:00:00:03\n"
	"chain 1 1 2 3\nassign 0-3 1\n";

static void test_craq_dirty_read_asks_the_tail(void **state)
{
	(void)state;
	uint8_t val[32] = { 0 };

	setup_cluster(map3_craq, 16);
	client_write(1, CAT_OP_PUT, "k", "old", 0, ++seqno, 0);
	cat_net_run(&net, 0);
	(void)cat_net_take_reply(&net, NULL);
	client_get(2, "k", ++seqno);       /* clean at the middle */
	struct cat_msg r = cat_net_take_reply(&net, val);
	assert_int_equal(r.status, CAT_ST_OK);
	assert_memory_equal(val, "old", 3);

	client_write(1, CAT_OP_PUT, "k", "new", 0, ++seqno, 0);
	cat_net_deliver(&net, 0, 0);       /* dirty at 1 and 2, not at 3 */
	int fwd = cat_net_find(&net, 0, CAT_OP_R_FWD);
	struct cat_net_msg held = net.q[fwd]; /* hold the FWD to the tail */
	cat_net_drop_all(&net);
	client_get(2, "k", ++seqno);       /* dirty: asks the tail */
	assert_int_equal(net.qn, 1);
	assert_int_equal(net.q[0].m.op, CAT_OP_R_VQUERY);
	assert_int_equal(net.q[0].to, 3);
	cat_net_run(&net, 0);              /* VQUERY -> VRESP -> reply */
	r = cat_net_take_reply(&net, val);
	assert_int_equal(r.status, CAT_ST_OK);
	assert_memory_equal(val, "old", 3); /* the committed value */
	cat_net_requeue(&net, &held);      /* now let the write commit */
	cat_net_run(&net, 0);
	(void)cat_net_take_reply(&net, NULL);
	client_get(2, "k", ++seqno);
	r = cat_net_take_reply(&net, val);
	assert_memory_equal(val, "new", 3);
	cat_net_fini(&net);
}

static const char *map_without_2 =
	"epoch 2\nslots 4\ncraq off\n"
	"node 1 10.0.0.1 02:00:00:00:00:01\n"
	"node 2 10.0.0.2 02:00:00:00:00:02\n"
	"node 3 10.0.0.3 02:00:00:00:00:03\n"
	"chain 1 1 3\nassign 0-3 1\n";

static const char *map_without_3 =
	"epoch 2\nslots 4\ncraq off\n"
	"node 1 10.0.0.1 02:00:00:00:00:01\n"
	"node 2 10.0.0.2 02:00:00:00:00:02\n"
	"node 3 10.0.0.3 02:00:00:00:00:03\n"
	"chain 1 1 2\nassign 0-3 1\n";

/* Middle failure: the head resends what the new successor lacks. */
static void test_middle_failure_head_resends_to_new_successor(void **state)
{
	(void)state;
	setup_cluster(map3, 16);
	client_write(1, CAT_OP_PUT, "k", "v", 0, ++seqno, 0);
	cat_net_drop_all(&net);         /* node 2 died with it */
	struct cat_map *m2 = cat_net_parse(map_without_2);
	cat_net_set_map(&net, 1, m2, 1 * MS);
	cat_net_set_map(&net, 3, m2, 1 * MS);
	struct cat_map *old = net.map;
	net.map = m2;
	assert_int_equal(net.qn, 1);
	assert_int_equal(net.q[0].to, 3);
	cat_net_run(&net, 1 * MS);
	struct cat_msg r = cat_net_take_reply(&net, NULL);
	assert_int_equal(r.status, CAT_ST_OK);
	assert_true(r.epoch == 2);
	cat_net_expect_stored(&net, 3, "k", "v", 0);
	cat_net_expect_stored(&net, 1, "k", "v", 0);
	cat_map_free(old);
	cat_net_fini(&net);
}

/* Tail failure: the predecessor becomes tail and commits what it holds. */
static void test_tail_failure_predecessor_commits(void **state)
{
	(void)state;
	setup_cluster(map3, 16);
	client_write(1, CAT_OP_PUT, "k", "v", 0, ++seqno, 0);
	cat_net_deliver(&net, 0, 0);    /* at nodes 1 and 2 */
	cat_net_drop_all(&net);         /* node 3 died */
	struct cat_map *m2 = cat_net_parse(map_without_3);
	cat_net_set_map(&net, 2, m2, 1 * MS);
	cat_net_flush(&net, 2, 1 * MS);
	cat_net_set_map(&net, 1, m2, 1 * MS);
	struct cat_map *old = net.map;
	net.map = m2;
	/* Node 2 answered the client as the new tail and acked node 1. */
	assert_true(cat_net_find(&net, 1, CAT_OP_PUT) >= 0);
	cat_net_run(&net, 1 * MS);
	struct cat_msg r = cat_net_take_reply(&net, NULL);
	assert_int_equal(r.status, CAT_ST_OK);
	cat_net_expect_stored(&net, 2, "k", "v", 0);
	cat_net_expect_stored(&net, 1, "k", "v", 0);
	assert_int_equal(cat_net_inflight(&net, 1), 0);
	cat_map_free(old);
	cat_net_fini(&net);
}

/*
 * Tail failure under read leases: node 3 may be cut off, not dead, and go
 * on answering reads at epoch 1 until its lease runs out. Node 2, the new
 * tail, commits nothing until then: the write it holds, and one that comes
 * during the fence, are answered when the fence ends, and reads wait too.
 */
static void test_new_tail_is_fenced_until_the_old_tails_lease_is_over(void **state)
{
	(void)state;
	fence_ns = 400 * MS;
	setup_cluster(map3, 16);
	client_write(1, CAT_OP_PUT, "k", "v1", 0, ++seqno, 0);
	cat_net_deliver(&net, 0, 0);    /* at nodes 1 and 2 */
	cat_net_drop_all(&net);         /* node 3 is gone */
	struct cat_map *m2 = cat_net_parse(map_without_3);
	cat_net_set_map(&net, 2, m2, 1 * MS);
	cat_net_flush(&net, 2, 1 * MS);
	cat_net_set_map(&net, 1, m2, 1 * MS);
	struct cat_map *old = net.map;
	net.map = m2;
	assert_int_equal(cat_net_stats(&net, 2).fences, 4);   /* all 4 slots */
	/* not answered yet */
	assert_true(cat_net_find(&net, 1, CAT_OP_PUT) < 0);
	client_get(2, "k", ++seqno);
	struct cat_msg r = cat_net_take_reply(&net, NULL);
	assert_int_equal(r.status, CAT_ST_RETRY);
	/* A write during the fence is applied at node 2, kept, not answered. */
	client_write(1, CAT_OP_PUT, "k", "v2", 0, ++seqno, 2 * MS);
	cat_net_run(&net, 2 * MS);
	assert_true(cat_net_find(&net, 1, CAT_OP_PUT) < 0);
	cat_net_expect_stored(&net, 2, "k", "v2", 0);
	cat_net_timer(&net, 2, 400 * MS);         /* 1 ms short of the end */
	assert_true(cat_net_find(&net, 1, CAT_OP_PUT) < 0);
	cat_net_timer(&net, 2, 401 * MS);
	cat_net_flush(&net, 2, 401 * MS);
	cat_net_run(&net, 401 * MS);
	/* Both answered now, v1 then v2, in their order. */
	int got = 0;
	for (int i = 0; i < net.qn; i++)
		if (net.q[i].to_client) {
			assert_int_equal(net.q[i].m.status, CAT_ST_OK);
			assert_true(net.q[i].m.arg == (uint64_t)++got);
		}
	assert_int_equal(got, 2);
	for (int i = net.qn - 1; i >= 0; i--)
		if (net.q[i].to_client)
			net.q[i] = net.q[--net.qn];
	uint8_t val[8] = { 0 };
	client_get(2, "k", ++seqno);
	r = cat_net_take_reply(&net, val);
	assert_int_equal(r.status, CAT_ST_OK);
	assert_memory_equal(val, "v2", 2);
	/* The acks reached the head: nothing left in flight. */
	assert_int_equal(cat_net_inflight(&net, 1), 0);
	assert_int_equal(cat_net_inflight(&net, 2), 0);
	cat_map_free(old);
	cat_net_fini(&net);
	fence_ns = 0;
}

/* Without CRAQ only the tail answers reads: a middle that leaves fences
 * nobody; the tail commits the head's resend at once. */
static void test_middle_leaving_fences_nobody_without_craq(void **state)
{
	(void)state;
	fence_ns = 400 * MS;
	setup_cluster(map3, 16);
	client_write(1, CAT_OP_PUT, "k", "v", 0, ++seqno, 0);
	cat_net_drop_all(&net);
	struct cat_map *m2 = cat_net_parse(map_without_2);
	cat_net_set_map(&net, 1, m2, 1 * MS);
	cat_net_set_map(&net, 3, m2, 1 * MS);
	struct cat_map *old = net.map;
	net.map = m2;
	cat_net_run(&net, 1 * MS);
	struct cat_msg r = cat_net_take_reply(&net, NULL);
	assert_int_equal(r.status, CAT_ST_OK);
	assert_int_equal(cat_net_stats(&net, 3).fences, 0);
	cat_map_free(old);
	cat_net_fini(&net);
	fence_ns = 0;
}

/* A chain of one after the others left: its head is its tail, and during
 * the fence it answers new writes RETRY rather than commit them. */
static void test_fenced_head_and_tail_answers_writes_retry(void **state)
{
	(void)state;
	fence_ns = 400 * MS;
	setup_cluster(map3, 16);
	struct cat_map *m2 = cat_net_parse("epoch 2\nslots 4\ncraq off\n"
		"node 1 10.0.0.1 02:00:00:00:00:01\n"
		"node 2 10.0.0.2 02:00:00:00:00:02\n"
		"node 3 10.0.0.3 02:00:00:00:00:03\n"
		"chain 1 1\nassign 0-3 1\n");
	cat_net_set_map(&net, 1, m2, 1 * MS);
	struct cat_map *old = net.map;
	net.map = m2;
	client_write(1, CAT_OP_PUT, "k", "v", 0, ++seqno, 2 * MS);
	struct cat_msg r = cat_net_take_reply(&net, NULL);
	assert_int_equal(r.status, CAT_ST_RETRY);
	assert_int_equal(cat_net_stats(&net, 1).retry_fenced, 1);
	cat_net_expect_stored(&net, 1, "k", NULL, 0);
	cat_net_timer(&net, 1, 401 * MS);
	client_write(1, CAT_OP_PUT, "k", "v", 0, seqno, 402 * MS);
	r = cat_net_take_reply(&net, NULL);
	assert_int_equal(r.status, CAT_ST_OK);
	cat_map_free(old);
	cat_net_fini(&net);
	fence_ns = 0;
}

/* ---- state transfer: a node joins a chain --------------------------- */

static const char *map12 =
	"epoch 1\nslots 4\ncraq off\n"
	"node 1 10.0.0.1 02:00:00:00:00:01\n"
	"node 2 10.0.0.2 02:00:00:00:00:02\n"
	"node 3 10.0.0.3 02:00:00:00:00:03\n"
	"chain 1 1 2\nassign 0-3 1\n";
static const char *map12_join3 =
	"epoch 2\nslots 4\ncraq off\n"
	"node 1 10.0.0.1 02:00:00:00:00:01\n"
	"node 2 10.0.0.2 02:00:00:00:00:02\n"
	"node 3 10.0.0.3 02:00:00:00:00:03\n"
	"chain 1 1 2\njoin 1 3\nassign 0-3 1\n";
static const char *map123_e3 =
	"epoch 3\nslots 4\ncraq off\n"
	"node 1 10.0.0.1 02:00:00:00:00:01\n"
	"node 2 10.0.0.2 02:00:00:00:00:02\n"
	"node 3 10.0.0.3 02:00:00:00:00:03\n"
	"chain 1 1 2 3\nassign 0-3 1\n";

/* State transfer of chain index 0 at node n. */
static struct cat_chain_xfer_progress progress(uint16_t n)
{
	return cat_net_progress(&net, n, 0);
}

static void put_keys(const char *prefix, int from, int to, const char *val,
		     uint64_t now)
{
	char key[32];

	for (int i = from; i < to; i++) {
		snprintf(key, sizeof(key), "%s%d", prefix, i);
		client_write(1, CAT_OP_PUT, key, val, 0, ++seqno, now);
		cat_net_run(&net, now);
	}
	cat_net_drop_client_replies(&net);
}

/* The tail streams a snapshot to the joiner while writes go on; once it
 * has caught up, the joiner becomes tail, holds reads until its
 * predecessor's floor arrives, then serves the newest values. */
static void test_join_snapshot_then_writes_then_handover(void **state)
{
	uint64_t now = 0;

	(void)state;
	setup_cluster(map12, 256);
	put_keys("k", 0, 40, "old", now);
	client_write(1, CAT_OP_DEL, "k7", NULL, 0, ++seqno, now);
	cat_net_run(&net, now);
	cat_net_drop_client_replies(&net);

	cat_net_install(&net, map12_join3, now);
	assert_int_equal(progress(2).slots, 4);
	assert_int_equal(progress(3).joining, 4);
	/* Writes before, during and after the snapshots, in small steps
	 * so that they interleave with the stream. */
	for (int round = 0; round < 50; round++) {
		char key[32];

		now += 100000;
		snprintf(key, sizeof(key), "k%d", round % 45);
		client_write(1, round % 7 == 3 ? CAT_OP_DEL : CAT_OP_PUT, key,
			     "new", 0, ++seqno, now);
		cat_net_tick(&net, now);
		cat_net_drop_client_replies(&net);
	}
	for (int i = 0; i < 100 && progress(2).caught_up < 4; i++) {
		now += 1 * MS;
		cat_net_tick(&net, now);
	}
	struct cat_chain_xfer_progress p = progress(2);
	assert_int_equal(p.caught_up, 4);
	assert_int_equal(p.snapshotting, 0);
	assert_true(p.keys > 0 && p.bytes > 0);
	assert_int_equal(progress(3).joined, 4);
	cat_net_expect_same_slots(&net, 2, 3);
	/* A joiner is no replica: reads and writes there are MOVED. */
	client_get(3, "k1", ++seqno);
	assert_int_equal(cat_net_take_reply(&net, NULL).status, CAT_ST_MOVED);

	/* A write the old tail committed but the joiner has not seen yet
	 * when the hand-over map arrives. */
	client_write(1, CAT_OP_PUT, "k1", "last", 0, ++seqno, now);
	cat_net_deliver(&net, 0, now);   /* 1 -> 2: node 2 answers */
	assert_true(cat_net_find(&net, 1, CAT_OP_PUT) >= 0);
	cat_net_drop_all(&net);          /* its FWD to node 3 is lost */
	cat_net_install(&net, map123_e3, now);
	/* Node 3 is tail now but holds reads: asked node 2 for its floor. */
	client_get(3, "k1", ++seqno);
	assert_int_equal(cat_net_take_reply(&net, NULL).status, CAT_ST_RETRY);
	assert_true(cat_net_find(&net, 0, CAT_OP_R_SYNC_REQ) >= 0);
	for (int i = 0; i < 10; i++) {
		now += 1 * MS;
		cat_net_tick(&net, now);
	}
	/* node 3 re-answers the resent write */
	cat_net_drop_client_replies(&net);
	uint8_t v[16] = { 0 };
	client_get(3, "k1", ++seqno);
	struct cat_msg r = cat_net_take_reply(&net, v);
	assert_int_equal(r.status, CAT_ST_OK);
	assert_memory_equal(v, "last", 4);
	cat_net_expect_same_slots(&net, 2, 3);
	assert_true(cat_net_stats(&net, 3).hold_released == 4);
	/* Writes go down the three-node chain and the new tail answers. */
	client_write(1, CAT_OP_PUT, "k2", "after", 0, ++seqno, now);
	cat_net_run(&net, now);
	assert_int_equal(cat_net_take_reply(&net, NULL).status, CAT_ST_OK);
	cat_net_expect_stored(&net, 3, "k2", "after", 0);
	for (int i = 0; i < 5; i++) {
		now += 1 * MS;
		cat_net_tick(&net, now);
	}
	for (int n = 1; n <= NODES; n++)
		assert_int_equal(cat_net_inflight(&net, n), 0);
	cat_net_expect_same_slots(&net, 1, 3);
	cat_net_fini(&net);
}

/* Lost and duplicated snapshot messages: go-back-N fills the gaps, and a
 * returning node's stale keys do not survive its new snapshot. */
static void test_join_survives_loss_and_clears_stale_data(void **state)
{
	uint64_t now = 0;
	struct cat_key k;

	(void)state;
	setup_cluster(map12, 256);
	put_keys("k", 0, 30, "v", now);
	/* Node 3 has data from an earlier life. */
	cat_store_key(net.store[3], &k, "ghost", 5);
	assert_int_equal(cat_store_put(net.store[3], &k, "boo", 3, NULL), 0);

	cat_net_install(&net, map12_join3, now);
	for (int round = 0; round < 400 && progress(2).caught_up < 4; round++) {
		now += 300000;
		for (uint16_t n = 1; n <= NODES; n++) {
			cat_net_timer(&net, n, now);
			cat_net_flush(&net, n, now);
		}
		/* Lose every third message to node 3, duplicate every fifth. */
		for (int i = 0, c = 0; i < net.qn; i++) {
			if (net.q[i].to_client || net.q[i].to != 3)
				continue;
			if (++c % 3 == 0) {
				cat_net_drop(&net, i);
				i--;
			} else if (c % 5 == 0 &&
				   net.qn < CAT_NET_QUEUE_MAX - 1) {
				cat_net_duplicate(&net, i);
			}
		}
		cat_net_run(&net, now);
	}
	assert_int_equal(progress(2).caught_up, 4);
	assert_true(cat_net_stats(&net, 2).xfer_snap_retransmitted > 0);
	assert_true(cat_net_stats(&net, 3).xfer_snap_duplicate > 0);
	cat_net_expect_same_slots(&net, 2, 3);
	cat_net_expect_stored(&net, 3, "ghost", NULL, 0);
	cat_net_fini(&net);
}

/* More writes during a snapshot than there are in-flight entries to keep
 * them: the tail gives that snapshot up and starts it again, clients keep
 * being answered, and the join completes once the writes stop. */
static void test_join_restarts_when_writes_outrun_the_pool(void **state)
{
	uint64_t now = 0;

	(void)state;
	setup_cluster(map12, 16);
	put_keys("k", 0, 40, "v", now);
	cat_net_install(&net, map12_join3, now);
	for (int round = 0; round < 60; round++) {
		char key[32];

		snprintf(key, sizeof(key), "k%d", round % 40);
		client_write(1, CAT_OP_PUT, key, "w", 0, ++seqno, now);
		cat_net_run(&net, now);
		assert_int_equal(cat_net_take_reply(&net, NULL).status,
				 CAT_ST_OK);
		if (round % 10 == 0) {  /* the stream crawls along */
			now += 1000;
			cat_net_tick(&net, now);
		}
	}
	for (int i = 0; i < 200 && progress(2).caught_up < 4; i++) {
		now += 1 * MS;
		cat_net_tick(&net, now);
	}
	assert_true(cat_net_stats(&net, 2).xfer_restarts > 0);
	assert_int_equal(progress(2).caught_up, 4);
	cat_net_expect_same_slots(&net, 2, 3);
	cat_net_fini(&net);
}

/* A replication message for node `to`, as if sent by `from` (0: an
 * address that is no map node), delivered at once. */
static void inject(uint16_t from, uint16_t to, const struct cat_msg *m)
{
	cat_net_send(&net, from, to, m);
	cat_net_deliver(&net, net.qn - 1, 0);
}

static struct cat_msg peer_msg(uint8_t op, uint16_t slot, uint32_t epoch)
{
	struct cat_msg m = {
		.op = op, .slot = slot, .epoch = epoch, .client_id = 7,
		.seq = 1, .arg = 99, .key = (const uint8_t *)"k", .key_len = 1,
		.value = (const uint8_t *)"evil", .value_len = 4,
	};
	return m;
}

#define STAT(n, f) (cat_net_stats(&net, n).f)

/*
 * Who may talk: a node acts on a replication message only from its
 * current neighbour for that message in the current epoch: FWD and SYNC
 * from the predecessor, ACK and SYNC_REQ from the successor, snapshot
 * messages only at a joiner from its tail, SNAP_ACK only from the joiner
 * being streamed to, VRESP only from the tail. Anything else changes
 * nothing, sends nothing, and is counted.
 */
static void test_peer_messages_only_from_current_neighbours(void **state)
{
	static const uint8_t owned_ops[] = {
		CAT_OP_R_FWD, CAT_OP_R_ACK, CAT_OP_R_SNAP, CAT_OP_R_SNAP_END,
		CAT_OP_R_SNAP_DEDUP, CAT_OP_R_SNAP_ACK, CAT_OP_R_SYNC,
		CAT_OP_R_SYNC_REQ,
	};
	struct cat_chain_stats rs = { 0 };
	struct cat_net_msg fwd, ack, vresp;
	struct cat_key k;
	struct cat_msg m;
	uint8_t val[32];
	int i;

	(void)state;
	setup_cluster(map3_craq, 16);
	cat_store_key(net.store[1], &k, "k", 1);

	/* FWD 1 -> 2, delivered as if from node 3 and from a stranger. */
	client_write(1, CAT_OP_PUT, "k", "v", 0, ++seqno, 0);
	assert_int_equal(net.qn, 1);
	fwd = net.q[0];
	cat_net_drop_all(&net);
	cat_net_requeue(&net, &fwd)->from = 3; cat_net_deliver(&net, 0, 0);
	cat_net_requeue(&net, &fwd)->from = 0; cat_net_deliver(&net, 0, 0);
	assert_int_equal(STAT(2, fwd_not_from_pred), 2);
	cat_net_expect_stored(&net, 2, "k", NULL, 0);
	assert_int_equal(net.qn, 0);
	cat_net_requeue(&net, &fwd);             /* the real one */
	cat_net_deliver(&net, 0, 0);
	cat_net_expect_stored(&net, 2, "k", "v", 1);
	cat_net_deliver(&net, 0, 0);             /* 2 -> 3: committed */

	/* ACK 3 -> 2, delivered as if from node 1 (not 2's successor). */
	i = cat_net_find(&net, 0, CAT_OP_R_ACK);
	assert_true(i >= 0);
	ack = net.q[i];
	cat_net_drop(&net, i);
	cat_net_drop_client_replies(&net);
	cat_net_requeue(&net, &ack)->from = 1; cat_net_deliver(&net, 0, 0);
	assert_int_equal(STAT(2, ack_not_from_succ), 1);
	cat_net_expect_stored(&net, 2, "k", "v", 1); /* still not committed */
	assert_int_equal(net.qn, 0);
	cat_net_requeue(&net, &ack);
	cat_net_run(&net, 0);
	cat_net_expect_stored(&net, 2, "k", "v", 0);
	cat_net_expect_stored(&net, 1, "k", "v", 0);

	/* Snapshot messages where no transfer runs, SYNC from a non-
	 * predecessor, SYNC_REQ from a non-successor: all refused. */
	m = peer_msg(CAT_OP_R_SNAP, (uint16_t)k.slot, 1);
	inject(1, 2, &m);
	m.op = CAT_OP_R_SNAP_END;
	inject(2, 3, &m);
	m.op = CAT_OP_R_SNAP_DEDUP;
	inject(2, 3, &m);
	assert_int_equal(STAT(2, drop_not_member), 1);
	assert_int_equal(STAT(3, drop_not_member), 2);
	m.op = CAT_OP_R_SNAP_ACK;
	inject(2, 3, &m);
	assert_int_equal(STAT(3, ack_not_from_succ), 1);
	m.op = CAT_OP_R_SYNC;
	inject(1, 3, &m);
	assert_int_equal(STAT(3, fwd_not_from_pred), 1);
	m.op = CAT_OP_R_SYNC_REQ;
	inject(1, 2, &m);
	assert_int_equal(STAT(2, ack_not_from_succ), 2);
	assert_int_equal(net.qn, 0);             /* nobody was answered */
	for (uint16_t n = 1; n <= NODES; n++)
		cat_net_expect_stored(&net, n, "k", "v", 0);

	/* Every op from the right neighbour, but of another epoch. */
	for (size_t o = 0; o < sizeof(owned_ops); o++) {
		uint64_t before = STAT(2, drop_epoch);

		m = peer_msg(owned_ops[o], (uint16_t)k.slot, o % 2 ? 0 : 2);
		inject(o % 2 ? 3 : 1, 2, &m);
		assert_int_equal(STAT(2, drop_epoch), before + 1);
	}
	assert_int_equal(net.qn, 0);
	cat_net_expect_stored(&net, 2, "k", "v", 0);

	/* CRAQ: a dirty read asks the tail; a VRESP from the middle is not
	 * an answer (it cannot know what is committed). */
	client_write(1, CAT_OP_PUT, "k", "new", 0, ++seqno, 0);
	cat_net_deliver(&net, 0, 0);             /* dirty at 1 and 2 */
	i = cat_net_find(&net, 0, CAT_OP_R_FWD);
	fwd = net.q[i];                          /* held: 3 keeps "v" */
	cat_net_drop_all(&net);
	client_get(1, "k", ++seqno);
	assert_int_equal(net.qn, 1);
	assert_int_equal(net.q[0].m.op, CAT_OP_R_VQUERY);
	net.q[0].from = 2;                       /* only the tail is asked; */
	net.q[0].to = 2;                         /* the middle refuses it */
	cat_net_deliver(&net, 0, 0);
	assert_int_equal(net.qn, 0);
	client_get(1, "k", ++seqno);
	cat_net_deliver(&net, 0, 0);             /* VQUERY at the tail */
	assert_int_equal(net.qn, 1);
	assert_int_equal(net.q[0].m.op, CAT_OP_R_VRESP);
	vresp = net.q[0];
	cat_net_drop_all(&net);
	{
		size_t used;

		assert_int_equal(cat_wire_decode(vresp.bytes, sizeof(vresp.bytes),
						 &vresp.m, &used), CAT_WIRE_OK);
	}
	net.sending = 1;
	cat_chain_read(net.map, 1, net.store[1], &net.io, &net.p.client, 2,
		       &vresp.m, &rs, NULL, 0);
	cat_chain_read(net.map, 1, net.store[1], &net.io, &net.p.client, 0,
		       &vresp.m, &rs, NULL, 0);
	assert_int_equal(rs.drop_not_member, 2);
	assert_int_equal(net.qn, 0);             /* no reply from a non-tail */
	cat_chain_read(net.map, 1, net.store[1], &net.io, &net.p.client, 3,
		       &vresp.m, &rs, NULL, 0);
	struct cat_msg r = cat_net_take_reply(&net, val);
	assert_int_equal(r.status, CAT_ST_OK);
	assert_memory_equal(val, "v", 1);        /* the committed value */
	cat_net_requeue(&net, &fwd);
	cat_net_run(&net, 0);
	cat_net_fini(&net);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_put_travels_the_chain_and_the_tail_answers),
		cmocka_unit_test(test_requests_at_the_wrong_node_are_moved),
		cmocka_unit_test(test_lost_forward_is_retransmitted_and_applied_once),
		cmocka_unit_test(test_gap_is_dropped_until_the_predecessor_resends),
		cmocka_unit_test(test_retried_incr_takes_effect_once),
		cmocka_unit_test(test_failed_cas_is_ordered_and_answered_by_the_tail),
		cmocka_unit_test(test_peer_messages_of_another_epoch_are_dropped),
		cmocka_unit_test(test_full_pipeline_answers_retry),
		cmocka_unit_test(test_craq_dirty_read_asks_the_tail),
		cmocka_unit_test(test_middle_failure_head_resends_to_new_successor),
		cmocka_unit_test(test_tail_failure_predecessor_commits),
		cmocka_unit_test(test_new_tail_is_fenced_until_the_old_tails_lease_is_over),
		cmocka_unit_test(test_middle_leaving_fences_nobody_without_craq),
		cmocka_unit_test(test_fenced_head_and_tail_answers_writes_retry),
		cmocka_unit_test(test_join_snapshot_then_writes_then_handover),
		cmocka_unit_test(test_join_survives_loss_and_clears_stale_data),
		cmocka_unit_test(test_join_restarts_when_writes_outrun_the_pool),
		cmocka_unit_test(test_peer_messages_only_from_current_neighbours),
	};
	int rc;

	rcu_register_thread();
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	rcu_unregister_thread();
	return rc;
}
