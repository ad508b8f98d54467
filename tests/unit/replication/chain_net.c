/*
 * The unit tests' in-memory chain network (chain_net.h). Every message
 * really is encoded and decoded, because the wire format is part of the
 * path between engines; nothing is delivered unless the test says so, so
 * every step of the protocol stays visible and every schedule is the
 * test's own. The deterministic simulator (tests/sim) has its own network
 * for random schedules.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "chain_net.h"

static void enqueue(struct cat_net *net, int to_client, uint16_t to,
		    const struct cat_msg *m)
{
	struct cat_net_msg *e;
	size_t used;

	if (net->p.drop_when_full && net->qn == (int)net->p.queue_max) {
		net->lost_full++;
		return;
	}
	assert_true(net->qn < (int)net->p.queue_max);
	e = &net->q[net->qn++];
	e->to_client = to_client;
	e->from = net->sending;
	e->to = to;
	assert_true(cat_wire_encode(e->bytes, net->p.frame_max, m) > 0);
	assert_int_equal(cat_wire_decode(e->bytes, net->p.frame_max, &e->m,
					 &used), CAT_WIRE_OK);
}

static void io_to_node(void *arg, uint16_t node, const struct cat_msg *m)
{
	enqueue(arg, 0, node, m);
}

static void io_to_client(void *arg, const struct cat_addr *a,
			 const struct cat_msg *m)
{
	struct cat_net *net = arg;

	assert_true(a->ip == net->p.client.ip && a->port == net->p.client.port);
	assert_true(m->status < CAT_ST__COUNT);
	net->replies[m->status]++;
	if (net->p.queue_replies)
		enqueue(net, 1, 0, m);
}

struct cat_map *cat_net_parse(const char *text)
{
	struct cat_map *m = NULL;
	char err[128];

	assert_int_equal(cat_map_parse(text, strlen(text), &m, err, sizeof(err)), 0);
	return m;
}

void cat_net_init(struct cat_net *net, const struct cat_net_params *p)
{
	memset(net, 0, sizeof(*net));
	net->p = *p;
	if (net->p.workers == 0)
		net->p.workers = 1;
	if (net->p.queue_max == 0)
		net->p.queue_max = CAT_NET_QUEUE_MAX;
	if (net->p.frame_max == 0)
		net->p.frame_max = CAT_NET_FRAME_MAX;
	if (net->p.storm_max == 0)
		net->p.storm_max = 1000;
	assert_true(net->p.nodes >= 1 && net->p.nodes <= CAT_NET_NODES_MAX);
	assert_true(net->p.workers <= CAT_NET_WORKERS_MAX);
	assert_true(net->p.queue_max <= CAT_NET_QUEUE_MAX);
	assert_true(net->p.frame_max <= CAT_NET_FRAME_MAX);
	net->io = (struct cat_chain_io){ io_to_node, io_to_client, net, p->applied };
	net->map = cat_net_parse(p->map_text);
	net->slots = net->map->slot_count;
	for (uint16_t n = 1; n <= net->p.nodes; n++) {
		struct cat_store_params sp = {
			.slot_count = net->slots,
			.mem_limit = p->mem_limit ? p->mem_limit[n] : 0,
		};

		net->store[n] = cat_store_create(&sp);
		assert_non_null(net->store[n]);
		for (uint32_t w = 0; w < net->p.workers; w++) {
			struct cat_chain_params cp = {
				.node_id = n, .worker = w,
				.n_workers = net->p.workers,
				.store = net->store[n], .io = net->io,
				.inflight_max = p->inflight_max,
				.msg_max = p->msg_max, .dedup_max = p->dedup_max,
				.rto_ns = p->rto_ns,
				.suspect_after = p->suspect_after,
				.fence_ns = p->fence_ns,
			};

			net->eng[n][w] = cat_chain_create(&cp);
			assert_non_null(net->eng[n][w]);
		}
		cat_net_set_map(net, n, net->map, 0);
		cat_net_flush(net, n, 0);
	}
	net->qn = 0; /* the initial (empty) acks */
}

void cat_net_fini(struct cat_net *net)
{
	for (uint16_t n = 1; n <= net->p.nodes; n++) {
		for (uint32_t w = 0; w < net->p.workers; w++) {
			cat_chain_destroy(net->eng[n][w]);
			net->eng[n][w] = NULL;
		}
		rcu_thread_offline();
		cat_store_destroy(net->store[n]);
		rcu_thread_online();
		net->store[n] = NULL;
	}
	cat_map_free(net->map);
	net->map = NULL;
}

struct cat_chain *cat_net_owner(const struct cat_net *net, uint16_t node,
				uint32_t slot)
{
	assert_true(node >= 1 && node <= net->p.nodes);
	return net->eng[node][slot % net->p.workers];
}

void cat_net_send(struct cat_net *net, uint16_t from, uint16_t to,
		  const struct cat_msg *m)
{
	net->sending = from;
	enqueue(net, 0, to, m);
}

void cat_net_drop(struct cat_net *net, int i)
{
	assert_true(i >= 0 && i < net->qn);
	memmove(&net->q[i], &net->q[i + 1],
		sizeof(net->q[0]) * (size_t)(net->qn - i - 1));
	net->qn--;
}

void cat_net_duplicate(struct cat_net *net, int i)
{
	assert_true(i >= 0 && i < net->qn);
	assert_true(net->qn < (int)net->p.queue_max);
	net->q[net->qn++] = net->q[i];
}

struct cat_net_msg *cat_net_requeue(struct cat_net *net,
				    const struct cat_net_msg *e)
{
	assert_true(net->qn < (int)net->p.queue_max);
	net->q[net->qn] = *e;
	return &net->q[net->qn++];
}

void cat_net_drop_all(struct cat_net *net)
{
	net->qn = 0;
}

void cat_net_drop_client_replies(struct cat_net *net)
{
	int j = 0;

	for (int i = 0; i < net->qn; i++)
		if (!net->q[i].to_client)
			net->q[j++] = net->q[i];
	net->qn = j;
}

void cat_net_deliver(struct cat_net *net, int i, uint64_t now)
{
	struct cat_net_msg e;
	struct cat_chain *owner;
	size_t used;

	assert_true(i >= 0 && i < net->qn);
	e = net->q[i];
	cat_net_drop(net, i);
	/* Decode again: the key and value must point into our copy (and the
	 * test may have edited the bytes). */
	assert_int_equal(cat_wire_decode(e.bytes, net->p.frame_max, &e.m, &used),
			 CAT_WIRE_OK);
	assert_false(e.to_client);
	net->sending = e.to;
	owner = cat_net_owner(net, e.to, e.m.slot);
	if (cat_chain_op_is_owned(e.m.op))
		cat_chain_on_peer(owner, now, e.from, &e.m);
	else
		cat_chain_read(net->map, e.to, net->store[e.to], &net->io,
			       &net->p.client, e.from, &e.m, NULL, NULL, 0);
	cat_chain_flush(owner, now);
}

void cat_net_run(struct cat_net *net, uint64_t now)
{
	for (int delivered = 0;; delivered++) {
		int i;

		for (i = 0; i < net->qn && net->q[i].to_client; i++)
			;
		if (i == net->qn)
			return;
		if (delivered == net->p.storm_max)
			fail_msg("message storm");
		cat_net_deliver(net, i, now);
	}
}

void cat_net_tick(struct cat_net *net, uint64_t now)
{
	for (uint16_t n = 1; n <= net->p.nodes; n++) {
		cat_net_timer(net, n, now);
		cat_net_flush(net, n, now);
	}
	cat_net_run(net, now);
}

int cat_net_find(const struct cat_net *net, int to_client, uint8_t op)
{
	for (int i = 0; i < net->qn; i++)
		if (net->q[i].to_client == to_client && net->q[i].m.op == op)
			return i;
	return -1;
}

struct cat_msg cat_net_take_reply(struct cat_net *net, uint8_t *valbuf)
{
	int n = 0, at = -1;
	struct cat_msg r;
	size_t used;

	for (int i = 0; i < net->qn; i++)
		if (net->q[i].to_client) {
			n++;
			at = i;
		}
	assert_int_equal(n, 1);
	/* Decoded from its own bytes: a message moved up the queue still
	 * points into the slot it was decoded in. */
	assert_int_equal(cat_wire_decode(net->q[at].bytes, net->p.frame_max, &r,
					 &used), CAT_WIRE_OK);
	if (valbuf && r.value_len)
		memcpy(valbuf, r.value, r.value_len);
	cat_net_drop(net, at);
	assert_true(r.flags & CAT_F_REPLY);
	return r;
}

void cat_net_client_write(struct cat_net *net, uint16_t node,
			  struct cat_msg *m, uint64_t now)
{
	struct cat_chain *owner;
	struct cat_key k;

	assert_true(node >= 1 && node <= net->p.nodes);
	cat_store_key(net->store[node], &k, m->key, m->key_len);
	m->slot = (uint16_t)k.slot;
	owner = cat_net_owner(net, node, m->slot);
	net->sending = node;
	cat_chain_on_write(owner, now, &net->p.client, m, NULL);
	cat_chain_flush(owner, now);
}

void cat_net_client_get(struct cat_net *net, uint16_t node, struct cat_msg *m)
{
	struct cat_key k;

	assert_true(node >= 1 && node <= net->p.nodes);
	cat_store_key(net->store[node], &k, m->key, m->key_len);
	m->slot = (uint16_t)k.slot;
	net->sending = node;
	cat_chain_read(net->map, node, net->store[node], &net->io,
		       &net->p.client, 0, m, NULL, NULL, 0);
}

void cat_net_on_peer(struct cat_net *net, uint16_t to, uint16_t from,
		     const struct cat_msg *m, uint64_t now)
{
	struct cat_chain *owner = cat_net_owner(net, to, m->slot);

	net->sending = to;
	cat_chain_on_peer(owner, now, from, m);
	cat_chain_flush(owner, now);
}

void cat_net_set_map(struct cat_net *net, uint16_t node,
		     const struct cat_map *map, uint64_t now)
{
	assert_true(node >= 1 && node <= net->p.nodes);
	net->sending = node;
	for (uint32_t w = 0; w < net->p.workers; w++)
		cat_chain_set_map(net->eng[node][w], map, now);
}

void cat_net_flush(struct cat_net *net, uint16_t node, uint64_t now)
{
	assert_true(node >= 1 && node <= net->p.nodes);
	net->sending = node;
	for (uint32_t w = 0; w < net->p.workers; w++)
		cat_chain_flush(net->eng[node][w], now);
}

void cat_net_timer(struct cat_net *net, uint16_t node, uint64_t now)
{
	assert_true(node >= 1 && node <= net->p.nodes);
	net->sending = node;
	for (uint32_t w = 0; w < net->p.workers; w++)
		cat_chain_on_timer(net->eng[node][w], now);
}

void cat_net_install(struct cat_net *net, const char *text, uint64_t now)
{
	struct cat_map *m = cat_net_parse(text), *old = net->map;

	for (uint16_t n = 1; n <= net->p.nodes; n++) {
		cat_net_set_map(net, n, m, now);
		cat_net_flush(net, n, now);
	}
	net->map = m;
	cat_map_free(old); /* the engines hold the new one; tests are serial */
}

struct cat_chain_stats cat_net_stats(const struct cat_net *net, uint16_t node)
{
	struct cat_chain_stats s = { 0 };

	assert_true(node >= 1 && node <= net->p.nodes);
	for (uint32_t w = 0; w < net->p.workers; w++) {
		const struct cat_chain_stats *e = cat_chain_stats(net->eng[node][w]);

#define CAT_NET_ADD(f) s.f += e->f;
		CAT_CHAIN_COUNTERS(CAT_NET_ADD)
#undef CAT_NET_ADD
	}
	return s;
}

uint32_t cat_net_inflight(const struct cat_net *net, uint16_t node)
{
	uint32_t n = 0;

	assert_true(node >= 1 && node <= net->p.nodes);
	for (uint32_t w = 0; w < net->p.workers; w++)
		n += cat_chain_inflight(net->eng[node][w]);
	return n;
}

struct cat_chain_xfer_progress cat_net_progress(const struct cat_net *net,
						uint16_t node, uint32_t ci)
{
	struct cat_chain_xfer_progress p = { 0 };

	assert_true(node >= 1 && node <= net->p.nodes);
	for (uint32_t w = 0; w < net->p.workers; w++)
		cat_chain_xfer_progress(net->eng[node][w], ci, &p);
	return p;
}

void cat_net_expect_stored(const struct cat_net *net, uint16_t node,
			   const char *key, const char *val, int dirty)
{
	struct cat_key k;
	const struct cat_item *it;

	cat_store_key(net->store[node], &k, key, (uint16_t)strlen(key));
	if (val == NULL) {
		assert_int_equal(cat_store_get(net->store[node], &k, &it), -ENOENT);
		return;
	}
	assert_int_equal(cat_store_get(net->store[node], &k, &it), 0);
	assert_int_equal(it->value_len, strlen(val));
	assert_memory_equal(cat_item_value(it), val, strlen(val));
	assert_int_equal(!!(cat_item_flags(it) & CAT_ITEM_DIRTY), dirty);
}

void cat_net_expect_same_slots(const struct cat_net *net, uint16_t a,
			       uint16_t b)
{
	for (uint32_t s = 0; s < net->slots; s++) {
		assert_true(cat_store_slot_digest(net->store[a], s) ==
			    cat_store_slot_digest(net->store[b], s));
		assert_true(cat_store_slot_keys(net->store[a], s) ==
			    cat_store_slot_keys(net->store[b], s));
	}
}
