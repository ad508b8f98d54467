/*
 * Concurrency test for the worker hand-over path (dataplane/worker.c,
 * handover_send / handover_drain): one producer thread fills records the
 * way a worker fills a hand-over mbuf (client address, from_node, the
 * decoded message, key and value bytes), enqueues them on a
 * single-producer single-consumer rte_ring as dataplane/main.c creates
 * them, and one consumer thread dequeues in bursts, checks every byte and
 * gives the record back on a second SPSC ring (the mempool's part). It
 * checks FIFO order, that nothing is lost or duplicated, and, under
 * ThreadSanitizer, that the ring orders the record's contents.
 *
 * No EAL: the rings live in plain aligned memory (rte_ring_init), which is
 * all rte_ring needs; mbufs would need EAL's memory, so records are plain
 * structs of the same shape. The ring code is inline in DPDK's headers and
 * this file compiles it with RTE_USE_C11_MEM_MODEL: DPDK's own variant of
 * the same algorithm for weakly ordered CPUs, which states its ordering
 * with __atomic acquire/release (on x86 the same mov instructions) where
 * the default x86 variant uses plain stores and compiler barriers that
 * ThreadSanitizer cannot see.
 * CATENA_STRESS_OPS overrides the record count (default 1000000, ~0.2 s;
 * a tenth under valgrind).
 */
#define RTE_USE_C11_MEM_MODEL 1

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#endif
#ifndef RUNNING_ON_VALGRIND
#define RUNNING_ON_VALGRIND 0
#endif

#include <rte_ring.h>

#include "replication/chain.h"

#define RING_SIZE 1024u   /* [dataplane] handover_ring default */
#define POOL      1536u   /* records: more than the ring holds */
#define BURST     32u     /* [dataplane] burst default */
#define DATA_MAX  400u

/* The shape of dataplane/worker.c's struct handover, with its data. */
struct record {
	struct cat_addr from;
	uint16_t from_node;
	struct cat_msg msg;
	uint8_t data[DATA_MAX];
};

static struct rte_ring *handover, *give_back;
static struct record *pool;
static uint64_t n_ops = 1000000;
static atomic_int consumer_failures;
static uint64_t ring_full_waits;

static struct rte_ring *ring_new(const char *name, unsigned int count)
{
	ssize_t sz = rte_ring_get_memsize(count);
	struct rte_ring *r;

	assert_true(sz > 0);
	r = aligned_alloc(RTE_CACHE_LINE_SIZE,
			  ((size_t)sz + RTE_CACHE_LINE_SIZE - 1) &
			  ~(size_t)(RTE_CACHE_LINE_SIZE - 1));
	assert_non_null(r);
	/* As dataplane/main.c: single producer, single consumer. */
	assert_int_equal(rte_ring_init(r, name, count,
				       RING_F_SP_ENQ | RING_F_SC_DEQ), 0);
	return r;
}

/* Deterministic contents of record number i, so the consumer can check
 * every byte without being told. */
static uint32_t klen_of(uint64_t i) { return 1 + (uint32_t)(i % 250); }
static uint32_t vlen_of(uint64_t i) { return (uint32_t)((i * 7) % (DATA_MAX - 250)); }
static uint8_t byte_of(uint64_t i, uint32_t k) { return (uint8_t)(i * 31 + k * 7); }

static void fill(struct record *r, uint64_t i)
{
	uint32_t kl = klen_of(i), vl = vlen_of(i);

	r->from.ip = 0x0a000001u + (uint32_t)(i & 0xff);
	r->from.port = (uint16_t)i;
	memset(r->from.mac, (int)(i & 0xff), sizeof(r->from.mac));
	r->from_node = (uint16_t)(i % 3);
	memset(&r->msg, 0, sizeof(r->msg));
	r->msg.op = (i & 1) ? CAT_OP_R_FWD : CAT_OP_PUT;
	r->msg.seq = i;
	r->msg.arg = ~i;
	r->msg.key_len = (uint16_t)kl;
	r->msg.value_len = vl;
	for (uint32_t k = 0; k < kl + vl; k++)
		r->data[k] = byte_of(i, k);
	/* As the worker does: pointers into the record, fixed by the
	 * consumer (handover_drain sets key and value again). */
	r->msg.key = NULL;
	r->msg.value = NULL;
}

static int check(struct record *r, uint64_t want)
{
	uint32_t kl = klen_of(want), vl = vlen_of(want);

	r->msg.key = r->data;
	r->msg.value = r->data + r->msg.key_len;
	if (r->msg.seq != want || r->msg.arg != ~want ||
	    r->msg.key_len != kl || r->msg.value_len != vl ||
	    r->from.port != (uint16_t)want || r->from_node != want % 3 ||
	    r->from.mac[5] != (uint8_t)(want & 0xff))
		return -1;
	for (uint32_t k = 0; k < kl; k++)
		if (r->msg.key[k] != byte_of(want, k))
			return -1;
	for (uint32_t k = 0; k < vl; k++)
		if (r->msg.value[k] != byte_of(want, kl + k))
			return -1;
	return 0;
}

static void *producer(void *arg)
{
	(void)arg;
	for (uint64_t i = 0; i < n_ops;) {
		void *objs[BURST];
		unsigned int got, sent, want = (unsigned int)(1 + i % BURST);

		if (want > n_ops - i)
			want = (unsigned int)(n_ops - i);
		/* Take free records back, then hand a burst over. */
		got = rte_ring_sc_dequeue_burst(give_back, objs, want, NULL);
		if (got == 0) {
			sched_yield(); /* two shared cores: let the consumer run */
			continue;
		}
		for (unsigned int k = 0; k < got; k++)
			fill(objs[k], i + k);
		sent = 0;
		while (sent < got) {
			/* Single and burst enqueue, as both exist in the node. */
			if (got - sent == 1)
				sent += rte_ring_sp_enqueue(handover, objs[sent]) == 0;
			else
				sent += rte_ring_sp_enqueue_burst(handover, objs + sent,
								  got - sent, NULL);
			if (sent < got) {
				ring_full_waits++; /* the worker would answer RETRY */
				sched_yield();
			}
		}
		i += got;
	}
	return NULL;
}

static void *consumer(void *arg)
{
	uint64_t next = 0;

	(void)arg;
	while (next < n_ops) {
		void *objs[BURST];
		unsigned int n = rte_ring_sc_dequeue_burst(handover, objs, BURST,
							   NULL);

		if (n == 0) {
			sched_yield();
			continue;
		}
		for (unsigned int k = 0; k < n; k++) {
			if (check(objs[k], next) != 0 &&
			    atomic_fetch_add(&consumer_failures, 1) < 5)
				fprintf(stderr, "record %llu arrived wrong\n",
					(unsigned long long)next);
			next++;
		}
		/* give_back holds the whole pool: this never fails. */
		if (rte_ring_sp_enqueue_burst(give_back, objs, n, NULL) != n)
			atomic_fetch_add(&consumer_failures, 1);
	}
	return NULL;
}

static void test_spsc_handover_keeps_order_and_contents(void **state)
{
	pthread_t p, c;

	(void)state;
	handover = ring_new("cat_ho_0_1", RING_SIZE);
	give_back = ring_new("cat_pool", 2 * RING_SIZE); /* holds the pool */
	pool = calloc(POOL, sizeof(*pool));
	assert_non_null(pool);
	for (unsigned int i = 0; i < POOL; i++)
		assert_int_equal(rte_ring_sp_enqueue(give_back, &pool[i]), 0);

	assert_int_equal(pthread_create(&c, NULL, consumer, NULL), 0);
	assert_int_equal(pthread_create(&p, NULL, producer, NULL), 0);
	assert_int_equal(pthread_join(p, NULL), 0);
	assert_int_equal(pthread_join(c, NULL), 0);

	assert_int_equal(atomic_load(&consumer_failures), 0);
	/* Every record came back: none lost, none handed out twice. */
	assert_int_equal(rte_ring_count(handover), 0);
	assert_int_equal(rte_ring_count(give_back), POOL);
	printf("handover: %llu records, producer waited on a full ring %llu times\n",
	       (unsigned long long)n_ops, (unsigned long long)ring_full_waits);
	free(pool);
	free(handover);
	free(give_back);
}

/* An SPSC ring says full and empty exactly: the worker's RETRY on a full
 * hand-over ring depends on it. */
static void test_full_ring_refuses_and_empty_ring_gives_nothing(void **state)
{
	struct rte_ring *r = ring_new("cat_ho_full", 64);
	void *obj = &r, *out[4];
	unsigned int cap = rte_ring_get_capacity(r), n = 0;

	(void)state;
	while (rte_ring_sp_enqueue(r, obj) == 0)
		n++;
	assert_int_equal(n, cap);
	assert_int_equal(rte_ring_sp_enqueue(r, obj), -ENOBUFS);
	assert_int_equal(rte_ring_sp_enqueue_burst(r, out, 4, NULL), 0);
	for (unsigned int got; (got = rte_ring_sc_dequeue_burst(r, out, 4, NULL)) > 0;)
		n -= got;
	assert_int_equal(n, 0);
	assert_int_equal(rte_ring_sc_dequeue(r, out), -ENOENT);
	free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full_ring_refuses_and_empty_ring_gives_nothing),
		cmocka_unit_test(test_spsc_handover_keeps_order_and_contents),
	};
	const char *env = getenv("CATENA_STRESS_OPS");

	if (env != NULL)
		n_ops = strtoull(env, NULL, 10);
	else if (RUNNING_ON_VALGRIND)
		n_ops /= 10;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
