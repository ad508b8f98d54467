/*
 * perf/bench_chain.cc: the replication state machine's CPU cost per client
 * write (replication/chain.h), with no network: engines on their own stores
 * in this one thread, wired by in-memory callbacks that really encode and
 * decode every message (as the dataplane does into and out of mbufs), the
 * way tests/unit/replication/test_chain.c drives them. Only the public API
 * is used (create, set_map, on_write, on_peer, flush). What it measures is
 * the sum of every node's work for one write (head: sequence and apply;
 * middle and tail: apply, commit, reply; ACKs back up), i.e. the CPU a
 * write costs the whole chain, not its latency. Results are reported,
 * never asserted.
 *
 * chain/put_tagged is the same with link authentication
 * (replication/linkauth.h) on every message: the sender seals it with its
 * link key (pseudo header, trailer, SipHash tag), the receiver checks the
 * trailer, its replay window and the tag before it decodes, as
 * dataplane/worker.c does per datagram. Messages an engine sends one peer
 * back to back share a datagram (sealed once, up to 1472 bytes), as the
 * node's batching per peer per burst does; the untagged run delivers the
 * same messages one by one, as before.
 */
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "replication/chain.h"
#include "replication/hash.h"
#include "replication/linkauth.h"

namespace {

constexpr uint32_t kSlots = 1024;
constexpr uint32_t kKeys = 1u << 16;   /* replaced over and over: a warm table */
constexpr uint32_t kKeyLen = 16;
constexpr uint32_t kValLen = 32;
constexpr int kMaxNodes = 3;
constexpr int kQueue = 4096;

/* A message in flight between two engines: encoded bytes, like a frame. */
struct Msg {
	uint16_t from, to;
	uint16_t len;              /* payload bytes (messages, then trailer) */
	uint8_t sealed;
	uint8_t bytes[CAT_LINKAUTH_PSEUDO_LEN + 1472];
};

constexpr uint32_t kPayloadMax = 1472;

struct Cluster {
	int n = 0;
	struct cat_map *map = nullptr;
	struct cat_store *store[kMaxNodes + 1] = {};
	struct cat_chain *eng[kMaxNodes + 1] = {};
	std::vector<Msg> q;
	size_t head = 0;           /* q is consumed from head: a FIFO */
	uint16_t running = 0;      /* engine whose callback is firing */
	uint64_t replies = 0, bad = 0;
	int tagged = 0;            /* link tags on every message */
	uint8_t key[kMaxNodes + 1][kMaxNodes + 1][CAT_LINKAUTH_KEY_LEN];
	struct cat_linkauth_window win[kMaxNodes + 1][kMaxNodes + 1] = {};
	uint64_t ctr[kMaxNodes + 1] = {};
};

void to_node(void *arg, uint16_t node, const struct cat_msg *m)
{
	Cluster *c = static_cast<Cluster *>(arg);

	if (c->tagged && c->q.size() > c->head) {
		Msg &last = c->q.back();
		size_t need = cat_wire_msg_len(m);

		/* The open datagram to that peer: append. */
		if (!last.sealed && last.from == c->running && last.to == node &&
		    last.len + need + CAT_LINKAUTH_TRAILER_LEN <= kPayloadMax) {
			int n = cat_wire_encode(last.bytes + CAT_LINKAUTH_PSEUDO_LEN +
						last.len, kPayloadMax - last.len, m);

			if (n < 0)
				c->bad++;
			else
				last.len = (uint16_t)(last.len + n);
			return;
		}
	}
	c->q.emplace_back();
	Msg &e = c->q.back();

	e.from = c->running;
	e.to = node;
	e.sealed = 0;
	int n = cat_wire_encode(e.bytes + CAT_LINKAUTH_PSEUDO_LEN, kPayloadMax, m);
	if (n < 0) {
		c->bad++;
		c->q.pop_back();
		return;
	}
	e.len = (uint16_t)n;
}

void to_client(void *arg, const struct cat_addr *a, const struct cat_msg *m)
{
	Cluster *c = static_cast<Cluster *>(arg);
	uint8_t buf[256];

	(void)a;
	/* A reply is encoded into its frame too, then dropped. */
	c->bad += cat_wire_encode(buf, sizeof(buf), m) < 0;
	benchmark::DoNotOptimize(buf);
	c->replies++;
}

Cluster *make_cluster(int n, int tagged = 0)
{
	Cluster *c = new Cluster;
	static const uint8_t seed[CAT_LINKAUTH_SEED_LEN] = { 1 };

	c->tagged = tagged;
	if (tagged && cat_linkauth_init() != 0)
		abort();
	for (int f = 1; f <= kMaxNodes; f++)
		for (int t = 1; t <= kMaxNodes; t++)
			cat_linkauth_link_key(seed, 1, (uint16_t)f, (uint16_t)t,
					      c->key[f][t]);
	char text[512];
	int off;
	struct cat_store_params sp;
	char err[128];

	c->n = n;
	c->q.reserve(kQueue);
	off = snprintf(text, sizeof(text), "epoch 1\nslots %u\ncraq off\n", kSlots);
	for (int i = 1; i <= n; i++)
		off += snprintf(text + off, sizeof(text) - (size_t)off,
				"node %d 10.0.0.%d 02:00:00:00:00:0%d\n", i, i, i);
	off += snprintf(text + off, sizeof(text) - (size_t)off, "chain 1");
	for (int i = 1; i <= n; i++)
		off += snprintf(text + off, sizeof(text) - (size_t)off, " %d", i);
	snprintf(text + off, sizeof(text) - (size_t)off, "\nassign 0-%u 1\n", kSlots - 1);
	if (cat_map_parse(text, strlen(text), &c->map, err, sizeof(err)) != 0) {
		fprintf(stderr, "bench_chain: map: %s\n", err);
		abort();
	}
	memset(&sp, 0, sizeof(sp));
	sp.slot_count = kSlots;
	for (int i = 1; i <= n; i++) {
		struct cat_chain_params p;

		memset(&p, 0, sizeof(p));
		c->store[i] = cat_store_create(&sp);
		p.node_id = (uint16_t)i;
		p.worker = 0;
		p.n_workers = 1;
		p.store = c->store[i];
		p.io.to_node = to_node;
		p.io.to_client = to_client;
		p.io.arg = c;
		p.inflight_max = 8192;
		p.msg_max = 1472;
		p.dedup_max = 65536;
		p.rto_ns = 1000000000ull;   /* never fires: nothing is lost here */
		p.suspect_after = 1000;
		c->eng[i] = cat_chain_create(&p);
		if (c->store[i] == nullptr || c->eng[i] == nullptr) {
			fprintf(stderr, "bench_chain: cannot create node %d\n", i);
			abort();
		}
		c->running = (uint16_t)i;
		cat_chain_set_map(c->eng[i], c->map, 0);
		cat_chain_flush(c->eng[i], 0);
	}
	c->q.clear();
	c->head = 0;
	return c;
}

void free_cluster(Cluster *c)
{
	for (int i = 1; i <= c->n; i++)
		cat_chain_destroy(c->eng[i]);
	/* Store teardown waits for call_rcu frees: never while online. */
	rcu_thread_offline();
	for (int i = 1; i <= c->n; i++)
		cat_store_destroy(c->store[i]);
	rcu_thread_online();
	cat_map_free(c->map);
	delete c;
}

/* Deliver every queued message (and what it causes) in FIFO order,
 * flushing the receiving engine after each, as a poll burst would. */
void run_queue(Cluster *c, uint64_t now)
{
	while (c->head < c->q.size()) {
		/* Copied out: the engine's sends below grow q. Only the bytes
		 * in use, so the copy costs what the datagram is long. */
		Msg &q = c->q[c->head++];
		uint16_t from = q.from, to = q.to;
		size_t len = q.len;
		uint8_t buf[sizeof(q.bytes)];
		struct cat_msg m;
		size_t used, off = 0;

		if (c->tagged) {
			struct cat_linkauth_trailer t;
			struct cat_linkauth_window *w = &c->win[to][from];

			/* The sender's close of the datagram, then the
			 * receiver's check, as in dataplane/worker.c. */
			len += CAT_LINKAUTH_TRAILER_LEN;
			cat_linkauth_pseudo(q.bytes, 0x0a000000u + from, 0x0a000000u + to,
					    7470, 7470, (uint16_t)(8 + len));
			cat_linkauth_seal(c->key[from][to], q.bytes, len, 0, 1,
					  ++c->ctr[from]);
			q.sealed = 1;
			memcpy(buf, q.bytes, CAT_LINKAUTH_PSEUDO_LEN + len);
			if (cat_linkauth_parse(buf + CAT_LINKAUTH_PSEUDO_LEN, len, &t) != 0 ||
			    cat_linkauth_window_check(w, t.counter) != 0 ||
			    cat_linkauth_verify(c->key[from][to], buf, len) != 0) {
				c->bad++;
				continue;
			}
			cat_linkauth_window_take(w, t.counter);
			len -= CAT_LINKAUTH_TRAILER_LEN;
		} else {
			memcpy(buf + CAT_LINKAUTH_PSEUDO_LEN,
			       q.bytes + CAT_LINKAUTH_PSEUDO_LEN, len);
		}
		c->running = to;
		while (off < len) {
			if (cat_wire_decode(buf + CAT_LINKAUTH_PSEUDO_LEN + off,
					    len - off, &m, &used) != CAT_WIRE_OK) {
				c->bad++;
				break;
			}
			off += used;
			cat_chain_on_peer(c->eng[to], now, from, &m);
		}
		cat_chain_flush(c->eng[to], now);
	}
	c->q.clear();
	c->head = 0;
}

/* A client PUT of key k arriving at the head (node 1). */
void put(Cluster *c, const char *k, const uint8_t *val, uint64_t seq, uint64_t now)
{
	static const struct cat_addr client = { 0x0a000064, 5555, { 2, 0, 0, 0, 0, 0x64 } };
	struct cat_msg m;

	memset(&m, 0, sizeof(m));
	m.op = CAT_OP_PUT;
	m.client_id = 42;
	m.seq = seq;
	m.key = reinterpret_cast<const uint8_t *>(k);
	m.key_len = kKeyLen;
	m.value = val;
	m.value_len = kValLen;
	/* Hashed once, for the slot and the engine, as the worker does. */
	struct cat_key ck;

	cat_store_key(c->store[1], &ck, k, kKeyLen);
	m.slot = (uint16_t)ck.slot;
	m.epoch = 1;
	c->running = 1;
	cat_chain_on_write(c->eng[1], now, &client, &m, &ck);
}

/*
 * One client PUT per item through a chain of range(0) nodes; range(1)
 * writes arrive per poll burst before the head flushes (the dataplane's
 * batching of forwards and coalescing of ACKs).
 */
void chain_put(benchmark::State &st, int tagged)
{
	int n = (int)st.range(0), burst = (int)st.range(1);
	Cluster *c = make_cluster(n, tagged);
	uint8_t val[kValLen];
	static char keys[kKeys][kKeyLen + 1];
	uint64_t seq = 1, now = 1000, writes = 0;
	uint32_t ki = 0;

	memset(val, 'v', sizeof(val));
	for (uint32_t i = 0; i < kKeys; i++)
		snprintf(keys[i], sizeof(keys[i]), "key:%012u", i);
	/* Untimed: every key written once, then the tables sized the way
	 * catena-node's agent does every 10 ms, so the timed writes are
	 * replaces in a table of about one bucket per key. */
	for (uint32_t i = 0; i < kKeys; i++) {
		put(c, keys[i], val, seq++, now);
		if ((i & 15) == 15) {
			cat_chain_flush(c->eng[1], now);
			run_queue(c, now);
			rcu_quiescent_state();
		}
	}
	cat_chain_flush(c->eng[1], now);
	run_queue(c, now);
	for (int i = 1; i <= n; i++)
		cat_store_maintain(c->store[i], 0);
	c->replies = 0;
	for (auto _ : st) {
		for (int b = 0; b < burst; b++) {
			put(c, keys[ki++ & (kKeys - 1)], val, seq++, now);
		}
		cat_chain_flush(c->eng[1], now);
		run_queue(c, now);
		now += 1000;
		writes += (uint64_t)burst;
		/* The dataplane's once-per-burst quiescent state: replaced
		 * items get freed as the run goes. */
		rcu_quiescent_state();
	}
	if (c->replies != writes || c->bad)
		st.SkipWithError("not every write was answered once");
	st.SetItemsProcessed((int64_t)writes);
	st.counters["nodes"] = n;
	free_cluster(c);
}

void BM_chain_put(benchmark::State &st)
{
	chain_put(st, 0);
}

void BM_chain_put_tagged(benchmark::State &st)
{
	chain_put(st, 1);
}

/*
 * CATENA_BENCH_ITERATIONS=N runs every chain benchmark exactly N
 * iterations, once: under valgrind --tool=callgrind, two runs with
 * different N give instructions per write without the set-up (the
 * difference over the difference of writes), where wall time on a shared
 * machine is too noisy to compare put with put_tagged.
 */
void register_chain_benchmarks()
{
	const char *it = getenv("CATENA_BENCH_ITERATIONS");
	long n = it != nullptr ? atol(it) : 0;
	auto *a = benchmark::RegisterBenchmark("chain/put", BM_chain_put)
		->ArgNames({"nodes", "burst"})
		->Args({1, 1})->Args({2, 1})->Args({3, 1})->Args({3, 16});
	auto *b = benchmark::RegisterBenchmark("chain/put_tagged", BM_chain_put_tagged)
		->ArgNames({"nodes", "burst"})
		->Args({3, 1})->Args({3, 16});

	if (n > 0) {
		a->Iterations(n);
		b->Iterations(n);
	}
}

struct Registrar {
	Registrar() { register_chain_benchmarks(); }
} g_registrar;

} /* namespace */
