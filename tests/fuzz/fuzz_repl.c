/*
 * Fuzz target for the chain replication engine (replication/chain.c): a
 * three-node cluster in memory (three stores, one engine per node and
 * worker, as tests/unit/test_chain.c builds it) driven by the input, which
 * is a setup byte and then records, each a control byte and its operands:
 *
 *   kind 0  inject: the bytes after the control byte are decoded as one
 *           message (cat_wire_decode) and fed to node `to` from node `from`
 *           as the dataplane would (replication ops to cat_chain_on_peer or
 *           cat_chain_read, client writes to cat_chain_on_write, GETs to
 *           cat_chain_read); a message that does not decode ends the input
 *   kind 1  deliver (or duplicate) one message the engines sent each other
 *   kind 2  drop one of them, or publish a new map to some of the nodes
 *   kind 3  timers and flushes on every engine, optionally run the network
 *
 * so that fuzzed messages meet engines in every state the real protocol
 * reaches (joining, snapshotting, held, reconfigured). Checked after every
 * record: in-flight entries within the pool, store memory within its cap,
 * nothing committed beyond what is applied, every message the engines emit
 * fits a frame and decodes, every client answer is a reply with a known
 * status. Leaks and sanitizer reports are the fuzzer's to find.
 * Built by tests/fuzz/run_fuzz.sh repl (libFuzzer) and by meson
 * (fuzz-replay-repl). Aborts on any broken invariant.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "replication/chain.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NODES 3
#define WORKERS_MAX 2
#define SLOTS 8
#define QMAX 48
#define MAPS_MAX 12
#define MTU 1500u
#define PAYLOAD (MTU - 28u)   /* UDP payload of one frame: msg_max */
#define RTO 2000000ull        /* 2 ms */
#define RUN_MAX 64            /* deliveries per "run the network" */

struct qmsg {
	uint16_t from, to;
	uint32_t len;
	uint8_t bytes[PAYLOAD];
};

static struct {
	struct cat_store *store[NODES + 1];
	struct cat_chain *eng[NODES + 1][WORKERS_MAX];
	const struct cat_map *nmap[NODES + 1]; /* map each node runs */
	struct cat_map *maps[MAPS_MAX];        /* every map published */
	unsigned int n_maps;
	uint32_t n_workers, inflight_max;
	int capped;                            /* stores with a memory limit */
	uint64_t mem_limit;
	uint64_t now;
	uint16_t sending;                      /* node whose engine runs */
	struct qmsg q[QMAX];
	unsigned int qn;
} F;

/* Stores outlive inputs (see teardown): with and without a memory cap. */
static struct cat_store *stores[2][NODES + 1];

static const struct cat_addr client = {
	.ip = 0x0a000164, .port = 5555, .mac = { 2, 0, 0, 0, 0, 0x64 },
};

static void fail(const char *what)
{
	fprintf(stderr, "fuzz_repl: %s (node %u, t=%llu)\n", what, F.sending,
		(unsigned long long)F.now);
	abort();
}

/* ---- the network: what the engines send ------------------------------- */

static void io_to_node(void *arg, uint16_t node, const struct cat_msg *m)
{
	struct cat_msg back;
	size_t used, len = cat_wire_msg_len(m);
	uint8_t tmp[PAYLOAD];
	struct qmsg *e;

	(void)arg;
	if (node == 0 || node > NODES)
		fail("message to a node that is not in any map");
	if (!cat_op_is_replication(m->op) || (m->flags & CAT_F_REPLY))
		fail("node-to-node message that is not a replication message");
	/* The dataplane sends each message in one frame: anything longer
	 * would be dropped there, and the protocol would stall on it. */
	if (len > PAYLOAD)
		fail("replication message larger than a frame");
	if (cat_wire_encode(tmp, sizeof(tmp), m) != (int)len ||
	    cat_wire_decode(tmp, len, &back, &used) != CAT_WIRE_OK ||
	    used != len)
		fail("replication message does not round-trip the wire format");
	if (F.qn == QMAX)
		return; /* the network lost it */
	e = &F.q[F.qn++];
	e->from = F.sending;
	e->to = node;
	e->len = (uint32_t)len;
	memcpy(e->bytes, tmp, len);
}

static void io_to_client(void *arg, const struct cat_addr *a,
			 const struct cat_msg *m)
{
	(void)arg;
	if (a->ip == 0)
		fail("reply to a client without an address");
	if (!(m->flags & CAT_F_REPLY) || m->status >= CAT_ST__COUNT ||
	    cat_op_is_replication(m->op))
		fail("client answer that is not a proper reply");
	if (cat_wire_msg_len(m) > 65535u)
		fail("client reply longer than any datagram");
}

static const struct cat_chain_io io = { io_to_node, io_to_client, NULL };

/* ---- maps ---------------------------------------------------------------- */

/* Chain layouts; %u is the epoch. Slots 0-3 on chain 1, 4-7 on chain 2
 * where there is one. */
static const char *const layouts[8] = {
	"chain 1 1 2 3\nassign 0-7 1\n",
	"chain 1 1 2\njoin 1 3\nassign 0-7 1\n",
	"chain 1 1 3\nassign 0-7 1\n",
	"chain 1 2 3\nassign 0-7 1\n",
	"chain 1 1 2\nassign 0-7 1\n",
	"chain 1 1 2 3\nchain 2 3 1\njoin 2 2\nassign 0-3 1\nassign 4-7 2\n",
	"chain 1 1 3\njoin 1 2\nassign 0-7 1\n",
	"chain 1 3\njoin 1 1\nchain 2 2 1\nassign 0-3 1\nassign 4-7 2\n",
};

static struct cat_map *make_map(unsigned int layout, uint32_t epoch, int craq)
{
	char text[512], err[128];
	struct cat_map *m = NULL;
	int n;

	n = snprintf(text, sizeof(text),
		     "epoch %u\nslots %u\ncraq %s\n"
		     "node 1 10.0.0.1 02:00:00:00:00:01\n"
		     "node 2 10.0.0.2 02:00:00:00:00:02\n"
		     "node 3 10.0.0.3 02:00:00:00:00:03\n%s",
		     epoch, SLOTS, craq ? "on" : "off", layouts[layout & 7]);
	if (cat_map_parse(text, (size_t)n, &m, err, sizeof(err)) != 0) {
		fprintf(stderr, "fuzz_repl: map: %s\n", err);
		fail("a built-in map does not parse");
	}
	return m;
}

static void install(uint16_t node, const struct cat_map *m)
{
	F.sending = node;
	F.nmap[node] = m;
	for (uint32_t w = 0; w < F.n_workers; w++) {
		cat_chain_set_map(F.eng[node][w], m, F.now);
		cat_chain_flush(F.eng[node][w], F.now);
	}
}

/* A new epoch, as catena-control would publish it, reaching the nodes in
 * mask (others lag behind until a later map reaches them). */
static void publish(uint8_t arg)
{
	struct cat_map *m;
	unsigned int mask = (arg >> 3) & 7u;

	if (F.n_maps == MAPS_MAX)
		return;
	m = make_map(arg & 7u, (uint32_t)F.n_maps + 1, arg >> 6 & 1);
	F.maps[F.n_maps++] = m;
	if (mask == 0)
		mask = 7;
	for (uint16_t n = 1; n <= NODES; n++)
		if (mask & (1u << (n - 1)))
			install(n, m);
}

/* ---- feeding messages, as dataplane/worker.c does ------------------------ */

static struct cat_chain *owner(uint16_t node, uint16_t slot)
{
	return F.eng[node][slot % F.n_workers];
}

static void flush_node(uint16_t node)
{
	F.sending = node;
	for (uint32_t w = 0; w < F.n_workers; w++)
		cat_chain_flush(F.eng[node][w], F.now);
}

static void dispatch(uint16_t to, uint16_t from, const struct cat_msg *m)
{
	const struct cat_map *map = F.nmap[to];
	struct cat_key k;

	F.sending = to;
	/* What the dataplane filters before the engine ever sees it. */
	if ((m->flags & CAT_F_REPLY) || cat_wire_msg_len(m) > PAYLOAD)
		return;
	if (cat_op_is_replication(m->op)) {
		if (m->slot >= SLOTS)
			return;
		if (cat_chain_op_is_owned(m->op))
			cat_chain_on_peer(owner(to, m->slot), F.now, from, m);
		else if (m->op == CAT_OP_R_VQUERY || m->op == CAT_OP_R_VRESP)
			cat_chain_read(map, to, F.store[to], &io, &client,
				       from, m, NULL, NULL, 0);
		flush_node(to);
		return;
	}
	if (cat_wire_check_request(m, cat_wire_value_max(MTU, m->key_len)) !=
	    CAT_ST_OK || m->op == CAT_OP_PING || m->op == CAT_OP_MAP_GET)
		return;
	cat_store_key(F.store[to], &k, m->key, m->key_len);
	if (m->slot != k.slot)
		return;
	if (m->op == CAT_OP_GET)
		cat_chain_read(map, to, F.store[to], &io, &client, 0, m, NULL, NULL, 0);
	else
		cat_chain_on_write(owner(to, m->slot), F.now, &client, m, NULL);
	flush_node(to);
}

static void drop(unsigned int i)
{
	memmove(&F.q[i], &F.q[i + 1], sizeof(F.q[0]) * (F.qn - i - 1));
	F.qn--;
}

/* Deliver queued message i (copy kept in the queue if dup). */
static void deliver(unsigned int i, int dup)
{
	struct qmsg e = F.q[i];
	struct cat_msg m;
	size_t used;

	if (!dup)
		drop(i);
	if (cat_wire_decode(e.bytes, e.len, &m, &used) != CAT_WIRE_OK)
		fail("queued message no longer decodes");
	dispatch(e.to, e.from, &m);
}

static void tick_all(void)
{
	for (uint16_t n = 1; n <= NODES; n++) {
		F.sending = n;
		for (uint32_t w = 0; w < F.n_workers; w++) {
			cat_chain_on_timer(F.eng[n][w], F.now);
			cat_chain_flush(F.eng[n][w], F.now);
		}
	}
}

/* ---- invariants ------------------------------------------------------------ */

static void check(void)
{
	for (uint16_t n = 1; n <= NODES; n++) {
		F.sending = n;
		if (F.mem_limit != 0 && cat_store_mem_used(F.store[n]) > F.mem_limit)
			fail("store holds more than its memory limit");
		for (uint32_t w = 0; w < F.n_workers; w++) {
			const struct cat_chain *ch = F.eng[n][w];

			if (cat_chain_inflight(ch) > F.inflight_max)
				fail("more in-flight entries than the pool has");
			for (uint32_t s = w; s < SLOTS; s += F.n_workers)
				if (cat_chain_slot_committed(ch, s) >
				    cat_chain_slot_applied(ch, s))
					fail("committed beyond what is applied");
		}
	}
	/* Items freed by call_rcu need this thread's quiescent state, as a
	 * worker announces once per poll iteration. */
	rcu_quiescent_state();
}

/* ---- the input --------------------------------------------------------------- */

static void setup(uint8_t b)
{
	static const uint32_t pools[4] = { 2, 8, 32, 256 };
	struct cat_store_params sp = { .slot_count = SLOTS };

	memset(&F, 0, sizeof(F));
	F.inflight_max = pools[(b >> 2) & 3];
	F.n_workers = (b & 0x10) ? 2 : 1;
	/* A small cap so that NO_SPACE and refused applies are reached. */
	F.capped = (b & 0x20) != 0;
	F.mem_limit = F.capped ? 4096 : 0;
	sp.mem_limit = F.mem_limit;
	for (uint16_t n = 1; n <= NODES; n++) {
		struct cat_store **sp_n = &stores[F.capped][n];

		if (*sp_n == NULL)
			*sp_n = cat_store_create(&sp);
		if (*sp_n == NULL)
			fail("cat_store_create");
		F.store[n] = *sp_n;
		for (uint32_t w = 0; w < F.n_workers; w++) {
			struct cat_chain_params p = {
				.node_id = n, .worker = w, .n_workers = F.n_workers,
				.store = F.store[n], .io = io,
				.inflight_max = F.inflight_max, .msg_max = PAYLOAD,
				.dedup_max = (b & 0x40) ? 4 : 64, .rto_ns = RTO,
				.suspect_after = 3,
				.xfer_rate = (b & 0x80) ? 20000 : 0,
				.xfer_window = 4, .xfer_slots = 2,
			};

			F.eng[n][w] = cat_chain_create(&p);
			if (F.eng[n][w] == NULL)
				fail("cat_chain_create");
		}
	}
	/* The first map: chain 1-2-3, chain 1-2 with 3 joining, two chains
	 * one of them with a joiner, or chain 1-2-3 with CRAQ reads. */
	{
		static const uint8_t first[4] = { 0, 1, 5, 0x40 };

		publish(first[b & 3]);
	}
}

/* FUZZ_REPL_STATS=1: the engines' non-zero counters at the end of each
 * input, to see which paths a seed reaches. */
static void print_stats(void)
{
	for (uint16_t n = 1; n <= NODES; n++)
		for (uint32_t w = 0; w < F.n_workers; w++) {
			const struct cat_chain_stats *st = cat_chain_stats(F.eng[n][w]);

			fprintf(stderr, "node %u worker %u:", n, w);
#define PRINT_NONZERO(f) if (st->f) fprintf(stderr, " " #f "=%llu", \
					    (unsigned long long)st->f);
			CAT_CHAIN_COUNTERS(PRINT_NONZERO)
#undef PRINT_NONZERO
			fprintf(stderr, "\n");
		}
}

static void teardown(void)
{
	if (getenv("FUZZ_REPL_STATS") != NULL)
		print_stats();
	for (uint16_t n = 1; n <= NODES; n++)
		for (uint32_t w = 0; w < F.n_workers; w++)
			cat_chain_destroy(F.eng[n][w]);
	/* Empty the stores for the next input. They live as long as the
	 * process: destroying one costs an rcu_barrier, which waits out
	 * liburcu's call_rcu thread (10 ms a round) and would cut the
	 * fuzzer to ~30 inputs a second. */
	for (uint16_t n = 1; n <= NODES; n++)
		for (uint32_t s = 0; s < SLOTS; s++) {
			cat_store_slot_clear(F.store[n], s);
			cat_store_slot_set_version(F.store[n], s, 0);
			cat_store_slot_set_hold(F.store[n], s, 0);
			cat_store_slot_set_dirty_mode(F.store[n], s, 0);
		}
	if (F.capped) {
		/* The cap counts items still waiting for their grace period:
		 * wait for them, so the next capped input starts from zero
		 * (reproducible), and check that every byte came back. */
		rcu_thread_offline();
		rcu_barrier();
		rcu_thread_online();
		for (uint16_t n = 1; n <= NODES; n++)
			if (cat_store_mem_used(F.store[n]) != 0)
				fail("an emptied store still counts memory");
	}
	for (unsigned int i = 0; i < F.n_maps; i++)
		cat_map_free(F.maps[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int registered;
	size_t off = 1;

	if (size < 1)
		return 0;
	if (!registered) {
		rcu_register_thread();
		registered = 1;
	}
	setup(data[0]);
	check();
	while (off < size) {
		uint8_t c = data[off++];
		unsigned int kind = c & 3u;
		uint16_t to = (uint16_t)(1 + ((c >> 2) & 3u) % NODES);
		uint16_t from = (uint16_t)((c >> 4) & 3u);
		int norm = (c & 0x40) != 0;
		uint8_t arg = off < size ? data[off] : 0;

		if (c & 0x80)
			F.now += RTO / 2;
		if (kind == 0) {
			struct cat_msg m;
			size_t used;

			if (cat_wire_decode(data + off, size - off, &m, &used) !=
			    CAT_WIRE_OK)
				break;
			off += used;
			if (norm && F.nmap[to] != NULL) {
				/* Help the fuzzer past the two checks every
				 * message meets first: epoch and slot. */
				struct cat_key k;

				m.epoch = F.nmap[to]->epoch;
				if (m.key_len > 0) {
					cat_store_key(F.store[to], &k, m.key,
						      m.key_len);
					m.slot = (uint16_t)k.slot;
				}
			}
			dispatch(to, from, &m);
		} else if (kind == 1) {
			off++;
			if (F.qn > 0)
				deliver(arg % F.qn, norm);
		} else if (kind == 2) {
			off++;
			if (norm)
				publish(arg);
			else if (F.qn > 0)
				drop(arg % F.qn);
		} else {
			tick_all();
			if (norm)
				for (int r = 0; r < RUN_MAX && F.qn > 0; r++)
					deliver(0, 0);
		}
		check();
	}
	teardown();
	return 0;
}
