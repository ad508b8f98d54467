/*
 * catena-sim: deterministic simulation of chain replication. One thread,
 * virtual time, one seeded PRNG deciding everything (map shape, faults,
 * workloads, node failures); it drives the real replication/ code (wire,
 * store, map, chain) and checks replica convergence and per-key
 * linearizability. A seed alone replays a run. Test code: it never touches a
 * real network and reads the real clock only to report wall time.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <urcu-qsbr.h>

#include "replication/chain.h"
#include "replication/hash.h"
#include "replication/map.h"
#include "replication/store.h"
#include "replication/wire.h"
#include "control/policy.h"
#include "tests/sim/lincheck.h"
#include "replication/version.h"

/* Joins and moves need an in-flight pool with an entry per chain position
 * a node holds, plus one (replication/chain.c, cat_chain_inflight_alloc): with
 * rotated chains of three and a joiner that is 3. Below it a node cannot
 * keep an entry for each position, and nodes may wait on each other. */
#define SIM_POOL_MIN 3
#define MAX_NODES   4
#define MAX_WORKERS 2
#define MAX_CLIENTS 5
#define MAX_KEYS    6
#define N_EP        (MAX_NODES + MAX_CLIENTS)
#define MTU_PAYLOAD CAT_WIRE_PAYLOAD_MAX_1500
#define US          ((uint64_t)1000)
#define MS          ((uint64_t)1000000)

#define TICK_NS          (200 * US)   /* engine timer period */
#define RUN_LIMIT_NS     (20000 * MS) /* clients must be done by then */
#define QUIESCE_LIMIT_NS (2000 * MS)  /* after the clients, to drain */
#define MOVED_MAX        8            /* redirects per op before giving up */
#define RETRY_MAX        200          /* RETRY answers per op before giving up */
#define LIN_MAX_STATES   CAT_LIN_DEFAULT_MAX_STATES

/* ---- PRNG: xoshiro256**, seeded through splitmix64 --------------------- */

struct rng {
	uint64_t s[4];
};

static uint64_t splitmix(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void rng_seed(struct rng *r, uint64_t seed)
{
	for (int i = 0; i < 4; i++)
		r->s[i] = splitmix(&seed);
}

static inline uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(struct rng *r)
{
	uint64_t *s = r->s, res = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return res;
}

/* Uniform in [lo, hi]. */
static uint64_t rng_range(struct rng *r, uint64_t lo, uint64_t hi)
{
	return lo + rng_next(r) % (hi - lo + 1);
}

/* True with probability ppm / 1e6. */
static bool rng_ppm(struct rng *r, uint32_t ppm)
{
	return ppm != 0 && rng_next(r) % 1000000u < ppm;
}

/* ---- parameters, all derived from the seed ------------------------------ */

struct params {
	uint64_t seed;
	int n_nodes;             /* 3, or 4 with a spare in no chain */
	int rotated;             /* three chains "1 2 3", "2 3 1", "3 1 2" */
	int chain_len;           /* one chain: 1..3 */
	int craq;
	uint32_t workers;
	uint32_t slots;
	int clients, ops, keys;
	uint32_t loss_ppm, dup_ppm, misroute_ppm;
	uint64_t delay_base, delay_jitter;
	uint64_t rto;
	uint32_t inflight_max, dedup_max;
	int small_dedup;         /* client links reliable, no client resend */
	uint64_t client_timeout;
	int max_tries;
	int fail;                /* a node fails during the run */
	uint16_t fail_node;
	uint64_t fail_at, detect, skew_max;
	uint16_t fail2_node;     /* 0, or a second failure (chains of 3) */
	uint64_t fail2_at;
	int join;                /* the spare (node 4) joins: 1 one chain,
				  * 2 every chain */
	uint64_t join_at;
	uint64_t xfer_rate;      /* snapshot bytes/s, 0 = unlimited */
	int move;                /* half of chain 1's slots move to a new chain */
	uint64_t move_at;
	uint16_t move_target[3]; /* its nodes, head first */
};

/* --craq on|off: restrict the parameter space (part of the replay line). */
static int craq_override = -1;

static const char *replay_flags(void)
{
	return craq_override < 0 ? "" : craq_override ? " --craq on" : " --craq off";
}

static void derive_params(struct params *p, uint64_t seed)
{
	struct rng r;
	uint64_t x;

	memset(p, 0, sizeof(*p));
	rng_seed(&r, seed ^ 0x5eed5eed5eedULL);
	p->seed = seed;
	p->n_nodes = rng_ppm(&r, 250000) ? 4 : 3;
	p->rotated = rng_ppm(&r, 500000);
	x = rng_range(&r, 0, 99);
	p->chain_len = p->rotated ? 3 : x < 15 ? 1 : x < 50 ? 2 : 3;
	p->craq = rng_ppm(&r, 400000);
	if (craq_override >= 0)
		p->craq = craq_override;
	p->workers = (uint32_t)rng_range(&r, 1, 2);
	p->slots = rng_ppm(&r, 500000) ? 16 : 64;
	p->clients = (int)rng_range(&r, 2, MAX_CLIENTS);
	p->ops = (int)rng_range(&r, 15, 50);
	p->keys = (int)rng_range(&r, 2, MAX_KEYS);
	p->loss_ppm = rng_ppm(&r, 250000) ? 0 : (uint32_t)rng_range(&r, 1, 100000);
	p->dup_ppm = rng_ppm(&r, 300000) ? 0 : (uint32_t)rng_range(&r, 1, 50000);
	p->misroute_ppm = rng_ppm(&r, 300000) ? 30000 : 0;
	p->delay_base = rng_range(&r, 10, 100) * US;
	p->delay_jitter = rng_range(&r, 0, 200) * US;
	p->rto = rng_range(&r, 1000, 5000) * US;
	p->inflight_max = rng_ppm(&r, 200000) ? (uint32_t)rng_range(&r, 2, 8) : 256;
	p->small_dedup = rng_ppm(&r, 100000);
	p->dedup_max = p->small_dedup ? (uint32_t)rng_range(&r, 1, 16) : 4096;
	p->client_timeout = rng_range(&r, 3000, 15000) * US;
	p->max_tries = (int)rng_range(&r, 3, 6);
	if (p->small_dedup) {
		/* An evicted dedup entry lets a resent write apply twice,
		 * which the protocol does not promise to survive: clients
		 * here never resend after a timeout (RETRY and MOVED answers
		 * are safe, nothing was applied), and their links are
		 * reliable, because a duplicated datagram is a resend too. */
		p->client_timeout = 5000 * MS;
		p->max_tries = 1;
	}
	/* A failure needs a chain of two or more to survive it. */
	if (!p->small_dedup && p->chain_len >= 2 && rng_ppm(&r, 400000)) {
		p->fail = 1;
		/* Head, middle, tail or (one chain of two) non-member. */
		p->fail_node = (uint16_t)rng_range(&r, 1, 3);
		p->fail_at = rng_range(&r, 1000, 60000) * US;
		p->detect = rng_range(&r, 1000, 20000) * US;
		p->skew_max = rng_ppm(&r, 500000) ? rng_range(&r, 1, 3000) * US : 0;
		/* Chains of three survive two failures: the second comes
		 * once the first reconfiguration is installed everywhere. */
		if (p->chain_len == 3 && rng_ppm(&r, 300000)) {
			p->fail2_node = (uint16_t)(1 + (p->fail_node +
				rng_range(&r, 0, 1)) % 3);
			p->fail2_at = p->fail_at + p->detect + p->skew_max +
				      rng_range(&r, 1000, 30000) * US;
		}
	}
	/* Drawn last, so the draws above stay what they were per seed.
	 * Not with pools of 2 entries (SIM_POOL_MIN). */
	if (p->n_nodes == 4 && p->inflight_max >= SIM_POOL_MIN && rng_ppm(&r, 600000)) {
		p->join = rng_ppm(&r, 500000) ? 2 : 1;
		p->join_at = rng_range(&r, 0, 40000) * US;
		p->xfer_rate = rng_ppm(&r, 500000) ? 0 :
			       rng_range(&r, 20, 2000) * 1000;
	}
	/* A live move (control/planner.h) instead: to a chain of the spare
	 * and others, or to the same nodes in another order. */
	if (!p->join && p->inflight_max >= SIM_POOL_MIN && rng_ppm(&r, 500000)) {
		uint16_t pool[4] = { 1, 2, 3, 4 };
		int n = p->n_nodes;

		p->move = 1;
		p->move_at = rng_range(&r, 0, 40000) * US;
		for (int i = n - 1; i > 0; i--) {
			int j = (int)rng_range(&r, 0, (uint64_t)i);
			uint16_t t = pool[i];

			pool[i] = pool[j];
			pool[j] = t;
		}
		for (int i = 0; i < (p->rotated ? 3 : p->chain_len); i++)
			p->move_target[i] = pool[i];
		if (p->xfer_rate == 0)
			p->xfer_rate = rng_ppm(&r, 500000) ? 0 :
				       rng_range(&r, 20, 2000) * 1000;
		/* A move to the same nodes in another order takes a node out
		 * and copies it back: one replica fewer meanwhile. With two
		 * failures on chains of three that can be the last one, which
		 * no protocol survives; one failure is tested. */
		p->fail2_node = 0;
		/* On a chain of two, that one failure can be the last
		 * replica (seed 100093): catena-control would keep it as the
		 * chain's last member, its slots unavailable; nothing to
		 * check there, so no failure with such a move. */
		if (!p->rotated && p->chain_len == 2 && p->n_nodes >= 2 &&
		    p->move_target[0] <= 2 && p->move_target[1] <= 2)
			p->fail = 0;
	}
}

static void format_params(const struct params *p, char *buf, size_t len)
{
	int n;

	n = snprintf(buf, len,
		"nodes %d%s, %s, craq %s, workers %u, slots %u, clients %d x %d ops, "
		"keys %d, loss %.1f%%, dup %.1f%%, misroute %.1f%%, delay %" PRIu64
		"+%" PRIu64 "us, rto %" PRIu64 "us, inflight %u, dedup %u%s, "
		"client timeout %" PRIu64 "us x%d",
		p->n_nodes, p->n_nodes == 4 ? " (1 spare)" : "",
		p->rotated ? "3 chains rotated" :
		p->chain_len == 1 ? "1 chain of 1" :
		p->chain_len == 2 ? "1 chain of 2" : "1 chain of 3",
		p->craq ? "on" : "off", p->workers, p->slots, p->clients, p->ops,
		p->keys, p->loss_ppm / 1e4, p->dup_ppm / 1e4,
		p->misroute_ppm / 1e4, p->delay_base / US,
		p->delay_jitter / US, p->rto / US, p->inflight_max,
		p->dedup_max, p->small_dedup ? " (reliable client links)" : "",
		p->client_timeout / US, p->max_tries);
	if (p->fail && n > 0 && (size_t)n < len)
		snprintf(buf + n, len - (size_t)n,
			 ", node %u fails at %" PRIu64 "us, detected after %"
			 PRIu64 "us, install skew <= %" PRIu64 "us",
			 p->fail_node, p->fail_at / US, p->detect / US,
			 p->skew_max / US);
	if (p->fail2_node) {
		size_t l = strlen(buf);

		snprintf(buf + l, len - l, ", then node %u at %" PRIu64 "us",
			 p->fail2_node, p->fail2_at / US);
	}
	if (p->move) {
		size_t l = strlen(buf);

		snprintf(buf + l, len - l, ", half of chain 1's slots move at %"
			 PRIu64 "us to chain %u %u %u", p->move_at / US,
			 p->move_target[0], p->move_target[1], p->move_target[2]);
	}
	if (p->join) {
		size_t l = strlen(buf);

		if (p->xfer_rate)
			snprintf(buf + l, len - l, ", node 4 joins %s at %" PRIu64
				 "us (snapshot %" PRIu64 " bytes/s)",
				 p->join == 2 ? "every chain" : "chain 1",
				 p->join_at / US, p->xfer_rate);
		else
			snprintf(buf + l, len - l, ", node 4 joins %s at %" PRIu64
				 "us (snapshot rate unlimited)",
				 p->join == 2 ? "every chain" : "chain 1",
				 p->join_at / US);
	}
}

/* ---- simulation state -------------------------------------------------- */

enum ev_type { EV_DGRAM, EV_TICK, EV_CLIENT, EV_FAIL, EV_PUBLISH, EV_INSTALL,
	       EV_JOIN, EV_JOIN_CHECK, EV_MOVE, EV_MOVE_STEP };

struct event {
	uint64_t t, seq;
	int type;
	int a;            /* destination endpoint / node index / client */
	int src;          /* source endpoint of a datagram */
	uint64_t token;   /* client: which wake-up this is */
	uint32_t len;
	uint8_t data[];   /* datagram bytes */
};

struct sim;

struct node {
	struct sim *sim;
	int idx;
	uint16_t id;
	bool alive;
	struct cat_store *store;
	struct cat_chain *eng[MAX_WORKERS];
	const struct cat_map *map;    /* as installed on this node */
	struct cat_chain_io io;
	struct cat_chain_stats rstats; /* read path */
	uint32_t out_len[N_EP];
	uint8_t out[N_EP][MTU_PAYLOAD];
};

struct history {
	struct cat_lin_op *ops;
	size_t n, cap;
};

enum cop { C_GET, C_PUT, C_DEL, C_CAS, C_CAS_ABSENT, C_INCR };

struct client {
	int idx;
	uint32_t id;
	struct cat_addr addr;
	const struct cat_map *map;
	int ops_done;
	bool busy, done;
	bool backoff;       /* waiting after a RETRY answer */
	uint64_t seq;
	uint64_t token;
	/* the op in progress */
	enum cop kind;
	int key;
	int64_t a1, a2;
	size_t hidx;        /* its entry in the key's history */
	int tries, moved, retries;
	uint8_t val[64];
	uint32_t val_len;
	/* last value this client read per key (CAS expectations) */
	bool seen[MAX_KEYS];
	int64_t seen_val[MAX_KEYS];
};

struct totals {
	uint64_t seeds, passed, failed;
	uint64_t ops, unknown, messages, dgrams, drops, dups, dead_drops;
	uint64_t retrans, failures, retry_answers, moved, dedup_evict;
	uint64_t dup_committed, craq_queries;
	uint64_t retry_epoch, retry_full, fwd_no_inflight, drop_epoch;
	uint64_t dup_in_flight, suspected, fail_head, fail_middle, fail_tail;
	uint64_t fail_nonmember, suspected_upstream;
	uint64_t joins, snap_items, snap_retrans, xfer_restarts, held_reads;
	uint64_t moves, move_steps;
};

struct sim {
	struct params p;
	struct rng r;
	int verbose;
	uint64_t now, evseq;
	struct event **heap;
	size_t heap_n, heap_cap;
	struct node nodes[MAX_NODES];
	struct client clients[MAX_CLIENTS];
	struct cat_map *maps[40];
	int n_maps;
	const struct cat_map *cur_map;  /* the control plane's newest */
	int pending_control;            /* failures/installs still to come */
	char keys[MAX_KEYS][16];
	uint32_t key_slot[MAX_KEYS];
	struct history hist[MAX_KEYS];
	int64_t recent[MAX_KEYS][4];    /* recent values written per key */
	int n_recent[MAX_KEYS];
	int64_t next_value;
	uint32_t loss_ppm, dup_ppm;
	int clients_done;
	uint64_t trace_hash;
	/* results */
	bool failed;
	char why[4096];
	struct totals t;
};

static void fail(struct sim *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void fail(struct sim *s, const char *fmt, ...)
{
	va_list ap;
	size_t n;

	if (s->failed)
		return;
	s->failed = true;
	n = (size_t)snprintf(s->why, sizeof(s->why), "t=%.3fms: ",
			     s->now / 1e6);
	va_start(ap, fmt);
	vsnprintf(s->why + n, sizeof(s->why) - n, fmt, ap);
	va_end(ap);
}

static void trace(struct sim *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void trace(struct sim *s, const char *fmt, ...)
{
	va_list ap;

	if (!s->verbose)
		return;
	fprintf(stderr, "%10.3fms ", s->now / 1e6);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void hash_mix(struct sim *s, uint64_t v)
{
	s->trace_hash = (s->trace_hash ^ v) * 0x100000001b3ULL;
}

/* ---- event queue: a binary heap ordered by (time, insertion) ----------- */

static bool ev_before(const struct event *a, const struct event *b)
{
	return a->t < b->t || (a->t == b->t && a->seq < b->seq);
}

static struct event *ev_new(struct sim *s, uint64_t t, int type, int a,
			    uint32_t len)
{
	struct event *e = malloc(sizeof(*e) + len);

	if (e == NULL) {
		perror("malloc");
		exit(2);
	}
	e->t = t;
	e->seq = s->evseq++;
	e->type = type;
	e->a = a;
	e->src = -1;
	e->token = 0;
	e->len = len;
	return e;
}

static void ev_push(struct sim *s, struct event *e)
{
	size_t i;

	if (s->heap_n == s->heap_cap) {
		s->heap_cap = s->heap_cap ? s->heap_cap * 2 : 256;
		s->heap = realloc(s->heap, s->heap_cap * sizeof(*s->heap));
		if (s->heap == NULL) {
			perror("realloc");
			exit(2);
		}
	}
	i = s->heap_n++;
	while (i > 0 && ev_before(e, s->heap[(i - 1) / 2])) {
		s->heap[i] = s->heap[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	s->heap[i] = e;
}

static struct event *ev_pop(struct sim *s)
{
	struct event *top, *last;
	size_t i = 0;

	if (s->heap_n == 0)
		return NULL;
	top = s->heap[0];
	last = s->heap[--s->heap_n];
	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= s->heap_n)
			break;
		if (c + 1 < s->heap_n && ev_before(s->heap[c + 1], s->heap[c]))
			c++;
		if (!ev_before(s->heap[c], last))
			break;
		s->heap[i] = s->heap[c];
		i = c;
	}
	if (s->heap_n > 0)
		s->heap[i] = last;
	return top;
}

/* ---- network ------------------------------------------------------------ */

static bool ep_is_node(int ep)
{
	return ep < MAX_NODES;
}

static const char *ep_name(int ep, char *buf, size_t len)
{
	if (ep_is_node(ep))
		snprintf(buf, len, "n%d", ep + 1);
	else
		snprintf(buf, len, "c%d", ep - MAX_NODES);
	return buf;
}

/*
 * One datagram from src to dst: lost, duplicated or delayed by the seed's
 * fault mix. Clients are reached only over reliable links in small-dedup
 * seeds (see derive_params). A failed node neither sends nor receives.
 */
static void net_send(struct sim *s, int src, int dst, const uint8_t *buf,
		     uint32_t len)
{
	bool client_link = !ep_is_node(src) || !ep_is_node(dst);
	uint32_t loss = s->loss_ppm, dup = s->dup_ppm;
	int copies = 1;

	s->t.dgrams++;
	if ((ep_is_node(src) && !s->nodes[src].alive) ||
	    (ep_is_node(dst) && !s->nodes[dst].alive)) {
		s->t.dead_drops++;
		return;
	}
	if (client_link && s->p.small_dedup)
		loss = dup = 0;
	if (rng_ppm(&s->r, loss)) {
		s->t.drops++;
		if (s->verbose) {
			char a[16], b[16];

			trace(s, "net: drop %s->%s (%u bytes)",
			      ep_name(src, a, 16), ep_name(dst, b, 16), len);
		}
		return;
	}
	if (rng_ppm(&s->r, dup)) {
		s->t.dups++;
		copies = 2;
	}
	for (int i = 0; i < copies; i++) {
		uint64_t d = s->p.delay_base +
			(s->p.delay_jitter ? rng_range(&s->r, 0, s->p.delay_jitter) : 0);
		struct event *e = ev_new(s, s->now + d, EV_DGRAM, dst, len);

		e->src = src;
		memcpy(e->data, buf, len);
		ev_push(s, e);
	}
}

/* Append one message to a node's batch for dst (one datagram per poll
 * burst and destination, as the dataplane batches). */
static void node_out(struct node *n, int dst, const struct cat_msg *m)
{
	struct sim *s = n->sim;
	size_t len = cat_wire_msg_len(m);
	int rc;

	if (len > MTU_PAYLOAD) {
		fail(s, "n%u sends a %zu-byte message (op %#x): over the MTU",
		     n->id, len, m->op);
		return;
	}
	if (n->out_len[dst] + len > MTU_PAYLOAD) {
		net_send(s, n->idx, dst, n->out[dst], n->out_len[dst]);
		n->out_len[dst] = 0;
	}
	rc = cat_wire_encode(n->out[dst] + n->out_len[dst],
			     MTU_PAYLOAD - n->out_len[dst], m);
	if (rc < 0) {
		fail(s, "cat_wire_encode: %d", rc);
		return;
	}
	n->out_len[dst] += (uint32_t)rc;
	s->t.messages++;
	if (s->verbose) {
		char b[16];

		trace(s, "n%u -> %s: op %#x%s st %s slot %u ep %u cid %u seq %"
		      PRIu64 " arg %" PRIu64 " klen %u vlen %u", n->id,
		      ep_name(dst, b, 16), m->op,
		      (m->flags & CAT_F_REPLY) ? " reply" : "",
		      cat_wire_status_name(m->status), m->slot, m->epoch,
		      m->client_id, m->seq, m->arg, m->key_len, m->value_len);
	}
}

static void node_emit(struct node *n)
{
	for (int d = 0; d < N_EP; d++) {
		if (n->out_len[d] == 0)
			continue;
		net_send(n->sim, n->idx, d, n->out[d], n->out_len[d]);
		n->out_len[d] = 0;
	}
}

static void io_to_node(void *arg, uint16_t node_id, const struct cat_msg *m)
{
	struct node *n = arg;

	if (node_id == 0 || node_id > n->sim->p.n_nodes) {
		fail(n->sim, "n%u sends op %#x to unknown node %u", n->id,
		     m->op, node_id);
		return;
	}
	node_out(n, node_id - 1, m);
}

static void io_to_client(void *arg, const struct cat_addr *a,
			 const struct cat_msg *m)
{
	struct node *n = arg;
	uint32_t c = a->ip - ((10u << 24) | (0u << 16) | (1u << 8) | 1u);

	if (c >= (uint32_t)n->sim->p.clients ||
	    a->port != 40000 + c) {
		fail(n->sim, "n%u replies to unknown client %08x:%u", n->id,
		     a->ip, a->port);
		return;
	}
	node_out(n, MAX_NODES + (int)c, m);
}

/* ---- nodes -------------------------------------------------------------- */

static void node_install(struct sim *s, struct node *n,
			 const struct cat_map *map)
{
	trace(s, "n%u: install map epoch %u", n->id, map->epoch);
	n->map = map;
	for (uint32_t w = 0; w < s->p.workers; w++)
		cat_chain_set_map(n->eng[w], map, s->now);
	for (uint32_t w = 0; w < s->p.workers; w++)
		cat_chain_flush(n->eng[w], s->now);
}

/* A datagram arrived at a node: what the dataplane's rx path does. */
static void node_deliver(struct sim *s, struct node *n, int src,
			 const uint8_t *buf, uint32_t len)
{
	uint16_t from_node = ep_is_node(src) ? (uint16_t)(src + 1) : 0;
	struct cat_addr from = { 0 };
	size_t off = 0;

	if (!ep_is_node(src)) {
		const struct client *c = &s->clients[src - MAX_NODES];

		from = c->addr;
	}
	while (off < len && !s->failed) {
		struct cat_msg m;
		size_t used = 0;
		enum cat_wire_err we = cat_wire_decode(buf + off, len - off,
						       &m, &used);

		if (we != CAT_WIRE_OK) {
			fail(s, "n%u: cat_wire_decode: %s at offset %zu of %u",
			     n->id, cat_wire_err_name(we), off, len);
			return;
		}
		off += used;
		if (cat_op_is_replication(m.op)) {
			if (from_node == 0) {
				fail(s, "replication op from a client");
				return;
			}
			if (cat_chain_op_is_owned(m.op)) {
				/* The owner of a bogus slot would be any
				 * worker; slot % W keeps it defined. */
				cat_chain_on_peer(n->eng[m.slot % s->p.workers],
						  s->now, from_node, &m);
			} else {
				cat_chain_read(n->map, n->id, n->store, &n->io,
					       &from, from_node, &m, &n->rstats, NULL, 0);
			}
			continue;
		}
		if (from_node != 0) {
			fail(s, "n%u: client op %#x from node %u", n->id,
			     m.op, from_node);
			return;
		}
		/* Hashed once, as the worker does: the engine takes it. */
		struct cat_key k;

		{
			uint32_t vmax = cat_wire_value_max(1500, m.key_len);
			enum cat_status st = cat_wire_check_request(&m, vmax);

			if (st != CAT_ST_OK) {
				fail(s, "n%u: client request refused: %s",
				     n->id, cat_wire_status_name(st));
				return;
			}
			cat_store_key(n->store, &k, m.key, m.key_len);
			if (k.slot != m.slot) {
				fail(s, "client sent slot %u for a key of slot %u",
				     m.slot, k.slot);
				return;
			}
		}
		if (m.op == CAT_OP_GET)
			cat_chain_read(n->map, n->id, n->store, &n->io, &from,
				       0, &m, &n->rstats, NULL, 0);
		else
			cat_chain_on_write(n->eng[m.slot % s->p.workers],
					   s->now, &from, &m, &k);
	}
	/* End of the poll burst: coalesced acks go out. */
	for (uint32_t w = 0; w < s->p.workers; w++)
		cat_chain_flush(n->eng[w], s->now);
}

static void node_tick(struct sim *s, struct node *n)
{
	for (uint32_t w = 0; w < s->p.workers; w++) {
		cat_chain_on_timer(n->eng[w], s->now);
		cat_chain_flush(n->eng[w], s->now);
	}
}

/* ---- clients ------------------------------------------------------------ */

static struct cat_lin_op *hist_add(struct sim *s, int key)
{
	struct history *h = &s->hist[key];

	if (h->n == h->cap) {
		h->cap = h->cap ? h->cap * 2 : 64;
		h->ops = realloc(h->ops, h->cap * sizeof(*h->ops));
		if (h->ops == NULL) {
			perror("realloc");
			exit(2);
		}
	}
	memset(&h->ops[h->n], 0, sizeof(h->ops[0]));
	return &h->ops[h->n++];
}

static uint32_t fmt_int(int64_t v, uint8_t *buf)
{
	return (uint32_t)sprintf((char *)buf, "%" PRId64, v);
}

static bool parse_int(const uint8_t *p, uint32_t len, int64_t *out)
{
	char tmp[32];
	char *end;

	if (len == 0 || len >= sizeof(tmp))
		return false;
	memcpy(tmp, p, len);
	tmp[len] = 0;
	errno = 0;
	*out = strtoll(tmp, &end, 10);
	return errno == 0 && *end == 0;
}

static void client_arm(struct sim *s, struct client *c, uint64_t at)
{
	struct event *e = ev_new(s, at, EV_CLIENT, c->idx, 0);

	e->token = ++c->token;
	ev_push(s, e);
}

static const char *cop_name(enum cop k)
{
	static const char *const n[] = { "GET", "PUT", "DEL", "CAS",
					 "CAS_ABSENT", "INCR" };
	return n[k];
}

/* Send (or resend: same client_id, seq and bytes) the op in progress. */
static void client_send(struct sim *s, struct client *c)
{
	const struct cat_map *map = c->map;
	uint32_t slot = s->key_slot[c->key];
	const struct cat_map_chain *ch = cat_map_slot_chain(map, slot);
	uint8_t buf[MTU_PAYLOAD];
	uint16_t target;
	struct cat_msg m = {
		.slot = (uint16_t)slot, .epoch = map->epoch,
		.client_id = c->id, .seq = c->seq,
		.key = (const uint8_t *)s->keys[c->key],
		.key_len = (uint16_t)strlen(s->keys[c->key]),
		.value = c->val, .value_len = c->val_len,
	};
	int len;

	switch (c->kind) {
	case C_GET: m.op = CAT_OP_GET; break;
	case C_PUT: m.op = CAT_OP_PUT; break;
	case C_DEL: m.op = CAT_OP_DEL; break;
	case C_CAS:
		m.op = CAT_OP_CAS;
		m.flags = CAT_F_CAS_VALUE;
		m.arg = (uint64_t)fmt_int(c->a1, buf); /* expected's length */
		break;
	case C_CAS_ABSENT: m.op = CAT_OP_CAS; m.arg = 0; break;
	case C_INCR: m.op = CAT_OP_INCR; m.arg = (uint64_t)c->a1; break;
	}
	if (c->kind == C_GET)
		target = map->craq ? ch->nodes[rng_range(&s->r, 0, ch->len - 1)] :
			 cat_map_chain_tail(ch);
	else
		target = cat_map_chain_head(ch);
	if (rng_ppm(&s->r, s->p.misroute_ppm))
		target = (uint16_t)rng_range(&s->r, 1, (uint64_t)s->p.n_nodes);
	len = cat_wire_encode(buf, sizeof(buf), &m);
	if (len < 0) {
		fail(s, "client encode: %d", len);
		return;
	}
	s->t.messages++;
	trace(s, "c%d -> n%u: %s key %s seq %" PRIu64 " try %d epoch %u",
	      c->idx, target, cop_name(c->kind), s->keys[c->key], c->seq,
	      c->tries, map->epoch);
	net_send(s, MAX_NODES + c->idx, target - 1, buf, (uint32_t)len);
	client_arm(s, c, s->now + s->p.client_timeout);
}

static void client_refresh_map(struct sim *s, struct client *c)
{
	c->map = s->cur_map;
}

/* Pick and start the next op. */
static void client_start(struct sim *s, struct client *c)
{
	struct cat_lin_op *op;
	uint64_t x = rng_range(&s->r, 0, 99);
	int key = (int)rng_range(&s->r, 0, (uint64_t)s->p.keys - 1);

	if (c->ops_done == s->p.ops) {
		c->done = true;
		s->clients_done++;
		return;
	}
	c->busy = true;
	c->key = key;
	c->seq++;
	c->tries = 1;
	c->moved = c->retries = 0;
	c->backoff = false;
	c->val_len = 0;
	c->kind = x < 30 ? C_GET : x < 50 ? C_PUT : x < 58 ? C_DEL :
		  x < 75 ? C_CAS : x < 85 ? C_CAS_ABSENT : C_INCR;
	op = hist_add(s, key);
	c->hidx = s->hist[key].n - 1;
	op->client = (uint32_t)c->idx;
	op->call = s->now;
	op->ret = CAT_LIN_NO_RET;
	op->out = CAT_LIN_OUT_UNKNOWN;
	switch (c->kind) {
	case C_GET:
		op->kind = CAT_LIN_GET;
		break;
	case C_PUT:
		op->kind = CAT_LIN_PUT;
		c->a1 = s->next_value++;
		c->val_len = fmt_int(c->a1, c->val);
		op->arg = c->a1;
		break;
	case C_DEL:
		op->kind = CAT_LIN_DEL;
		break;
	case C_CAS: {
		uint32_t n;

		/* Expect what this client last read, or a recent write. */
		if (c->seen[key] && rng_ppm(&s->r, 600000))
			c->a1 = c->seen_val[key];
		else if (s->n_recent[key] > 0)
			c->a1 = s->recent[key][rng_range(&s->r, 0,
					(uint64_t)s->n_recent[key] - 1)];
		else
			c->a1 = (int64_t)rng_range(&s->r, 0, 5);
		c->a2 = s->next_value++;
		n = fmt_int(c->a1, c->val);
		c->val_len = n + fmt_int(c->a2, c->val + n);
		op->kind = CAT_LIN_CAS;
		op->arg = c->a1;
		op->arg2 = c->a2;
		break;
	}
	case C_CAS_ABSENT:
		op->kind = CAT_LIN_CAS_ABSENT;
		c->a1 = s->next_value++;
		c->val_len = fmt_int(c->a1, c->val);
		op->arg = c->a1;
		break;
	case C_INCR:
		op->kind = CAT_LIN_INCR;
		c->a1 = (int64_t)rng_range(&s->r, 1, 5);
		op->arg = c->a1;
		break;
	}
	if (c->kind == C_PUT || c->kind == C_CAS || c->kind == C_CAS_ABSENT) {
		int64_t v = c->kind == C_CAS ? c->a2 : c->a1;
		int i = s->n_recent[key] < 4 ? s->n_recent[key]++ :
			(int)rng_range(&s->r, 0, 3);

		s->recent[key][i] = v;
	}
	client_send(s, c);
}

static void client_finish(struct sim *s, struct client *c)
{
	c->busy = false;
	c->ops_done++;
	s->t.ops++;
	client_arm(s, c, s->now + rng_range(&s->r, 0, 500) * US);
}

/* The op's outcome is unknown: it may or may not have taken effect. */
static void client_give_up(struct sim *s, struct client *c, const char *why)
{
	struct history *h = &s->hist[c->key];

	trace(s, "c%d: give up seq %" PRIu64 " (%s)", c->idx, c->seq, why);
	s->t.unknown++;
	if (c->kind == C_GET) {
		/* An unanswered read constrains nothing: leave it out. */
		h->n--;
		memmove(&h->ops[c->hidx], &h->ops[c->hidx + 1],
			(h->n - c->hidx) * sizeof(h->ops[0]));
		for (int i = 0; i < s->p.clients; i++) {
			struct client *o = &s->clients[i];

			if (o->busy && o != c && o->key == c->key &&
			    o->hidx > c->hidx)
				o->hidx--;
		}
	}
	client_finish(s, c);
}

static void client_on_timeout(struct sim *s, struct client *c)
{
	if (c->tries >= s->p.max_tries) {
		client_give_up(s, c, "timeout");
		return;
	}
	c->tries++;
	client_refresh_map(s, c);
	client_send(s, c);
}

static void client_deliver(struct sim *s, struct client *c, int src,
			   const uint8_t *buf, uint32_t len)
{
	size_t off = 0;

	while (off < len && !s->failed) {
		struct cat_msg m;
		size_t used = 0;
		enum cat_wire_err we = cat_wire_decode(buf + off, len - off,
						       &m, &used);
		struct cat_lin_op *op;
		bool ok = true;

		if (we != CAT_WIRE_OK) {
			fail(s, "c%d: cat_wire_decode: %s", c->idx,
			     cat_wire_err_name(we));
			return;
		}
		off += used;
		if (!(m.flags & CAT_F_REPLY) || m.client_id != c->id) {
			fail(s, "c%d: got a non-reply or another client's "
			     "reply (op %#x cid %u) from n%d", c->idx, m.op,
			     m.client_id, src + 1);
			return;
		}
		trace(s, "c%d <- n%d: %s seq %" PRIu64 " st %s arg %" PRIu64
		      " vlen %u", c->idx, src + 1, cat_wire_op_name(m.op),
		      m.seq, cat_wire_status_name(m.status), m.arg,
		      m.value_len);
		if (!c->busy || m.seq != c->seq)
			continue; /* late reply to an earlier attempt */
		if (m.key_len != strlen(s->keys[c->key]) ||
		    memcmp(m.key, s->keys[c->key], m.key_len) != 0) {
			fail(s, "c%d: reply seq %" PRIu64 " for the wrong key",
			     c->idx, m.seq);
			return;
		}
		if (m.status == CAT_ST_MOVED) {
			s->t.moved++;
			if (++c->moved > MOVED_MAX) {
				client_give_up(s, c, "moved too often");
				continue;
			}
			client_refresh_map(s, c);
			client_send(s, c);
			continue;
		}
		if (m.status == CAT_ST_OUTCOME_UNKNOWN && c->kind != C_GET) {
			/* A retry whose first try's outcome the head forgot:
			 * it may have been applied, so it is indeterminate
			 * for the checker, like a write never answered. */
			client_give_up(s, c, "outcome forgotten");
			continue;
		}
		if (m.status == CAT_ST_RETRY) {
			s->t.retry_answers++;
			if (++c->retries > RETRY_MAX) {
				client_give_up(s, c, "RETRY too often");
				continue;
			}
			c->backoff = true;
			client_arm(s, c, s->now + rng_range(&s->r, 100, 1000) * US);
			continue;
		}
		op = &s->hist[c->key].ops[c->hidx];
		op->ret = s->now;
		switch (m.status) {
		case CAT_ST_OK:
			op->out = CAT_LIN_OUT_OK;
			if (c->kind == C_GET || c->kind == C_INCR) {
				if (!parse_int(m.value, m.value_len, &op->result)) {
					fail(s, "c%d: %s of %s returned a value that is "
					     "not a number (%u bytes)", c->idx,
					     cop_name(c->kind), s->keys[c->key],
					     m.value_len);
					return;
				}
			}
			if (c->kind == C_GET || c->kind == C_INCR) {
				c->seen[c->key] = true;
				c->seen_val[c->key] = op->result;
			}
			break;
		case CAT_ST_NOT_FOUND:
			op->out = CAT_LIN_OUT_ABSENT;
			ok = c->kind == C_GET || c->kind == C_DEL || c->kind == C_CAS;
			if (c->kind == C_GET)
				c->seen[c->key] = false;
			break;
		case CAT_ST_CAS_FAILED:
			op->out = CAT_LIN_OUT_CAS_FAILED;
			ok = c->kind == C_CAS || c->kind == C_CAS_ABSENT;
			break;
		default:
			ok = false;
			break;
		}
		if (!ok) {
			fail(s, "c%d: unexpected status %s for %s of %s (seq %"
			     PRIu64 ")", c->idx, cat_wire_status_name(m.status),
			     cop_name(c->kind), s->keys[c->key], c->seq);
			return;
		}
		if (m.op != (c->kind == C_GET ? CAT_OP_GET :
			     c->kind == C_PUT ? CAT_OP_PUT :
			     c->kind == C_DEL ? CAT_OP_DEL :
			     c->kind == C_INCR ? CAT_OP_INCR : CAT_OP_CAS)) {
			fail(s, "c%d: reply op %#x does not match the request",
			     c->idx, m.op);
			return;
		}
		client_finish(s, c);
	}
}

/* ---- control plane: failure and reconfiguration ------------------------- */

static void control_fail(struct sim *s, int idx)
{
	struct event *e;

	s->nodes[idx].alive = false;
	s->t.failures++;
	trace(s, "n%d FAILS", idx + 1);
	e = ev_new(s, s->now + s->p.detect, EV_PUBLISH, idx, 0);
	ev_push(s, e);
}

/* Is there a chain where succ follows pred and a failed node follows succ? */
static bool downstream_dead(struct sim *s, uint16_t pred, uint16_t succ)
{
	for (uint16_t ci = 0; ci < s->cur_map->n_chains; ci++) {
		const struct cat_map_chain *c = &s->cur_map->chains[ci];
		int pp = cat_map_chain_pos(c, pred), ps = cat_map_chain_pos(c, succ);

		if (pp < 0 || ps != pp + 1)
			continue;
		for (int j = ps + 1; j < c->len; j++)
			if (!s->nodes[c->nodes[j] - 1].alive)
				return true;
	}
	return false;
}

/* Nodes and clients get a map as text (MAP_GET, the node channel):
 * format the control plane's map and parse it back, as they would. */
static struct cat_map *map_through_text(struct sim *s, struct cat_map *m)
{
	static char text[CAT_MAP_TEXT_MAX];
	char err[256];
	struct cat_map *back = NULL;
	int len = cat_map_format(m, text, sizeof(text));

	if (len < 0) {
		fail(s, "cat_map_format: %d", len);
	} else if (cat_map_parse(text, (size_t)len, &back, err, sizeof(err)) != 0) {
		fail(s, "cat_map_parse of formatted epoch %u: %s", m->epoch, err);
		back = NULL;
	} else if (back->epoch != m->epoch || back->n_chains != m->n_chains ||
		   back->slot_count != m->slot_count || back->craq != m->craq ||
		   memcmp(back->slot_chain, m->slot_chain,
			  m->slot_count * sizeof(m->slot_chain[0])) != 0) {
		fail(s, "map of epoch %u changed through format and parse",
		     m->epoch);
	} else {
		for (uint16_t ci = 0; ci < m->n_chains; ci++)
			if (back->chains[ci].len != m->chains[ci].len ||
			    back->chains[ci].joining != m->chains[ci].joining ||
			    back->chains[ci].move_to != m->chains[ci].move_to ||
			    back->chains[ci].move_from != m->chains[ci].move_from ||
			    memcmp(back->chains[ci].nodes, m->chains[ci].nodes,
				   m->chains[ci].len * sizeof(uint16_t)) != 0)
				fail(s, "chain %u of epoch %u changed through "
				     "format and parse", ci, m->epoch);
	}
	cat_map_free(m);
	if (s->failed) {
		cat_map_free(back);
		return NULL;
	}
	return back;
}

/* Publish m (already through text) as the newest map, installed on every
 * live node after a random skew. */
static void control_push(struct sim *s, struct cat_map *m)
{
	if (s->n_maps == (int)(sizeof(s->maps) / sizeof(s->maps[0]))) {
		fail(s, "more maps than the sim keeps");
		cat_map_free(m);
		return;
	}
	s->maps[s->n_maps++] = m;
	s->cur_map = m;
	for (int i = 0; i < s->p.n_nodes; i++) {
		if (!s->nodes[i].alive)
			continue;
		ev_push(s, ev_new(s, s->now + (s->p.skew_max ?
			   rng_range(&s->r, 0, s->p.skew_max) : 0),
			   EV_INSTALL, i, 0));
		s->pending_control++;
	}
}

/* The failed node leaves its chains as catena-control's failure handling
 * takes it out (control/nodechan.c: cat_ctl_plan_remove): a chain it
 * alone forms keeps it. */
static void control_publish(struct sim *s, int idx)
{
	struct cat_ctl_removal *r = malloc(sizeof(*r));
	struct cat_map *m = NULL;
	bool member = false;
	char err[256];
	int rc;

	rc = r == NULL ? -ENOMEM :
	     cat_ctl_plan_remove(s->cur_map, (uint16_t)(idx + 1), &m, r, err,
				 sizeof(err));
	free(r);
	if (rc < 0) {
		fail(s, "cat_ctl_plan_remove: %s", rc == -EINVAL ? err : strerror(-rc));
		return;
	}

	/* What the failure was: its role in each chain of the old map. */
	for (uint16_t ci = 0; ci < s->cur_map->n_chains; ci++) {
		const struct cat_map_chain *c = &s->cur_map->chains[ci];
		int pos = cat_map_chain_pos(c, (uint16_t)(idx + 1));

		if (pos < 0)
			continue;
		member = true;
		if (pos == 0)
			s->t.fail_head++;
		else if (pos == c->len - 1)
			s->t.fail_tail++;
		else
			s->t.fail_middle++;
	}
	if (!member)
		s->t.fail_nonmember++;
	/* The engines' own failure detector: a predecessor with writes in
	 * flight to the failed node names it (nodes report this to the
	 * control plane). Never a live node when the network is clean. */
	for (int i = 0; i < s->p.n_nodes; i++)
		for (uint32_t w = 0; s->nodes[i].alive && w < s->p.workers; w++) {
			uint16_t sp = cat_chain_suspect_peer(s->nodes[i].eng[w]);

			if (sp == idx + 1)
				s->t.suspected++;
			else if (sp != 0 && downstream_dead(s, (uint16_t)(i + 1), sp))
				/* ACKs are end to end: a failure further
				 * down stalls every link above it. */
				s->t.suspected_upstream++;
			else if (sp != 0 && s->loss_ppm == 0 && s->dup_ppm == 0 &&
				 s->p.inflight_max > 8)
				fail(s, "n%d suspects live node n%u, and no node "
				     "after it has failed", i + 1, sp);
		}

	s->pending_control--;
	if (m == NULL) {
		trace(s, "control: n%d failed, map unchanged", idx + 1);
		return;
	}
	m = map_through_text(s, m);
	if (m == NULL)
		return;
	trace(s, "control: epoch %u without n%d", m->epoch, idx + 1);
	control_push(s, m);
}

/* ---- control plane: a spare joins by state transfer ----------------------- */

static void control_join(struct sim *s)
{
	struct cat_map *m = cat_map_dup(s->cur_map);

	if (m == NULL) {
		fail(s, "cat_map_dup: out of memory");
		return;
	}
	m->epoch++;
	for (uint16_t ci = 0; ci < m->n_chains; ci++)
		if ((s->p.join == 2 || ci == 0) &&
		    cat_map_can_join(m, &m->chains[ci], 4) == 0)
			m->chains[ci].joining = 4;
	m = map_through_text(s, m);
	if (m == NULL)
		return;
	trace(s, "control: epoch %u, node 4 joining", m->epoch);
	control_push(s, m);
	ev_push(s, ev_new(s, s->now + MS, EV_JOIN_CHECK, 0, 0));
}

/*
 * The control plane's view of the simulated nodes (control/policy.h), as
 * their heartbeats would tell it at this instant: a live node is up,
 * connected and heard, on the epoch it installed, with one transfer report
 * entry per chain it streams, joins or holds reads of, summed over its
 * workers as catena-node's agent sums them (dataplane/control.c).
 */
struct sim_view {
	struct cat_ctl_view v;
	struct cat_ctl_pnode nodes[MAX_NODES];
	struct cat_ctl_xfer xfer[MAX_NODES][CAT_MAP_CHAINS_MAX];
};

static void node_reports(struct sim *s, struct node *nd, struct cat_ctl_pnode *p,
			 struct cat_ctl_xfer *xfer)
{
	const struct cat_map *m = nd->map;

	for (uint16_t ci = 0; m != NULL && ci < m->n_chains; ci++) {
		struct cat_chain_xfer_progress pr = { 0 };
		uint32_t want = 0;

		for (uint32_t w = 0; w < s->p.workers; w++)
			cat_chain_xfer_progress(nd->eng[w], ci, &pr);
		if (pr.slots == 0 && pr.joining == 0 && pr.held == 0)
			continue;
		for (uint32_t slot = 0; slot < m->slot_count; slot++)
			want += m->slot_chain[slot] == ci;
		xfer[p->n_xfer++] = (struct cat_ctl_xfer){
			.chain = m->chains[ci].id, .joiner = m->chains[ci].joining,
			.epoch = m->epoch, .chain_slots = want,
			.slots = pr.slots, .caught_up = pr.caught_up,
			.snapshotting = pr.snapshotting, .held = pr.held,
			.keys = pr.keys, .bytes = pr.bytes, .joined = pr.joined,
			.lag = pr.lag,
		};
	}
}

static void note_refusal(void *arg, const char *text)
{
	fail(arg, "control policy: %s", text);
}

static const struct cat_ctl_view *sim_view(struct sim *s)
{
	static struct sim_view sv; /* one simulation per process at a time */

	memset(&sv.v, 0, sizeof(sv.v));
	for (int i = 0; i < s->p.n_nodes; i++) {
		struct node *nd = &s->nodes[i];
		struct cat_ctl_pnode *p = &sv.nodes[i];

		*p = (struct cat_ctl_pnode){
			.id = nd->id,
			.state = nd->alive ? CAT_CTL_NODE_UP : CAT_CTL_NODE_FAILED,
			.connected = nd->alive, .heard = nd->alive,
			.epoch = nd->map != NULL ? nd->map->epoch : 0,
			.xfer_epoch = nd->map != NULL ? nd->map->epoch : 0,
			.xfer = sv.xfer[i],
		};
		if (nd->alive)
			node_reports(s, nd, p, sv.xfer[i]);
	}
	sv.v = (struct cat_ctl_view){
		.map = s->cur_map, .n_nodes = (uint16_t)s->p.n_nodes,
		.nodes = sv.nodes, .note = note_refusal, .note_arg = s,
	};
	return &sv.v;
}

/* Hand over a chain whose tail reports all its slots caught up: the
 * policy's rejoin step (restore is off: the spare joins as an operator's
 * node_add with a chain would make it). */
static void control_join_check(struct sim *s)
{
	struct cat_ctl_step st;
	int waiting = 0, rc;

	rc = cat_ctl_policy_rejoin(sim_view(s), &st);
	if (rc < 0) {
		fail(s, "cat_ctl_policy_rejoin: %s", strerror(-rc));
		return;
	}
	if (rc > 0) {
		struct cat_map *m = map_through_text(s, st.next);

		if (m == NULL)
			return;
		s->t.joins++;
		trace(s, "control: epoch %u, node %u handed over chain %u",
		      m->epoch, st.node, st.chain);
		control_push(s, m);
	}
	for (uint16_t ci = 0; ci < s->cur_map->n_chains; ci++)
		waiting += s->cur_map->chains[ci].joining != 0;
	if (waiting || s->p.move)
		ev_push(s, ev_new(s, s->now + MS, EV_JOIN_CHECK, 0, 0));
	else
		s->pending_control--; /* the join itself */
}

/* ---- control plane: a live slot move (control/planner.h) ---------------- */

#define MOVE_VIA 60000u
#define MOVE_TO  9u

static int publish_plan(struct sim *s, struct cat_map *m, const char *what)
{
	m = map_through_text(s, m);
	if (m == NULL)
		return -1;
	trace(s, "control: epoch %u, %s", m->epoch, what);
	control_push(s, m);
	s->t.move_steps++;
	return 0;
}

static void control_move(struct sim *s)
{
	const struct cat_map *cur = s->cur_map;
	struct cat_map *m = NULL, *m2 = NULL;
	uint8_t *slots = calloc(cur->slot_count, 1);
	uint16_t nodes[3];
	unsigned int n = 0, k = 0;
	char err[256];

	for (int i = 0; i < 3 && s->p.move_target[i]; i++)
		if (s->nodes[s->p.move_target[i] - 1].alive)
			nodes[n++] = s->p.move_target[i];
	for (uint32_t sl = 0; slots != NULL && sl < cur->slot_count; sl++)
		if (cur->slot_chain[sl] == 0 && (k++ % 2) == 1)
			slots[sl] = 1;
	if (slots == NULL || n == 0 || k < 2 ||
	    cat_ctl_plan_chain_add(cur, MOVE_TO, nodes, n, &m, err, sizeof(err)) < 0 ||
	    cat_ctl_plan_move_start(m, slots, MOVE_TO, MOVE_VIA, &m2, err,
				    sizeof(err)) < 0) {
		/* Nothing to move (one slot on chain 1, or the target died). */
		trace(s, "control: no move (%s)", slots == NULL ? "memory" : err);
		cat_map_free(m);
		free(slots);
		s->pending_control--;
		return;
	}
	free(slots);
	cat_map_free(m);
	/* Chain add and move start in one published step: the epoch of the
	 * chain alone changes nothing for any node. */
	m2->epoch = cur->epoch + 1;
	if (publish_plan(s, m2, "slots moving to a new chain") == 0) {
		s->t.moves++;
		ev_push(s, ev_new(s, s->now + MS, EV_MOVE_STEP, 0, 0));
	}
}

/* One step of the move, the policy's (control/policy.h). */
static void control_move_step(struct sim *s)
{
	struct cat_ctl_step st;
	uint16_t node;
	int rc;

	if (cat_ctl_plan_move_next(s->cur_map, MOVE_VIA, &node) ==
	    CAT_CTL_MOVE_NONE) {
		s->pending_control--; /* done */
		return;
	}
	rc = cat_ctl_policy_move(sim_view(s), MOVE_VIA, &st);
	if (rc < 0) {
		fail(s, "cat_ctl_policy_move: %s", strerror(-rc));
		return;
	}
	if (rc > 0 && publish_plan(s, st.next, "a move step") < 0)
		return;
	ev_push(s, ev_new(s, s->now + MS, EV_MOVE_STEP, 0, 0));
}

/* ---- setup and teardown ------------------------------------------------- */

static int sim_setup(struct sim *s)
{
	char text[2048], err[256];
	struct cat_map *map;
	int n = 0;

	n += snprintf(text + n, sizeof(text) - (size_t)n,
		      "epoch 1\nslots %u\ncraq %s\n", s->p.slots,
		      s->p.craq ? "on" : "off");
	for (int i = 1; i <= s->p.n_nodes; i++)
		n += snprintf(text + n, sizeof(text) - (size_t)n,
			      "node %d 10.99.0.%d 02:ca:7e:00:00:%02x\n", i, i, i);
	if (s->p.rotated)
		n += snprintf(text + n, sizeof(text) - (size_t)n,
			      "chain 1 1 2 3\nchain 2 2 3 1\nchain 3 3 1 2\n");
	else
		n += snprintf(text + n, sizeof(text) - (size_t)n, "chain 1%s\n",
			      s->p.chain_len == 1 ? " 1" :
			      s->p.chain_len == 2 ? " 1 2" : " 1 2 3");
	snprintf(text + n, sizeof(text) - (size_t)n, "assign all roundrobin\n");
	if (cat_map_parse(text, strlen(text), &map, err, sizeof(err)) != 0) {
		fail(s, "cat_map_parse: %s", err);
		return -1;
	}
	s->maps[s->n_maps++] = map;
	s->cur_map = map;

	/* Keys: random names, so slots and chains differ across seeds. */
	for (int k = 0; k < s->p.keys; k++) {
		snprintf(s->keys[k], sizeof(s->keys[k]), "k%d-%04x", k % 10,
			 (unsigned int)rng_range(&s->r, 0, 0xffff));
		s->key_slot[k] = cat_hash_slot(cat_hash_crc32c(s->keys[k],
					strlen(s->keys[k])), s->p.slots);
	}
	s->next_value = 1000;

	for (int i = 0; i < s->p.n_nodes; i++) {
		struct node *nd = &s->nodes[i];
		struct cat_store_params sp = { .slot_count = s->p.slots };

		nd->sim = s;
		nd->idx = i;
		nd->id = (uint16_t)(i + 1);
		nd->alive = true;
		nd->io.to_node = io_to_node;
		nd->io.to_client = io_to_client;
		nd->io.arg = nd;
		nd->store = cat_store_create(&sp);
		if (nd->store == NULL) {
			fail(s, "cat_store_create: %s", strerror(errno));
			return -1;
		}
		for (uint32_t w = 0; w < s->p.workers; w++) {
			struct cat_chain_params cp = {
				.node_id = nd->id, .worker = w,
				.n_workers = s->p.workers, .store = nd->store,
				.io = nd->io, .inflight_max = s->p.inflight_max,
				.msg_max = MTU_PAYLOAD,
				.dedup_max = s->p.dedup_max, .rto_ns = s->p.rto,
				.suspect_after = 3, .xfer_rate = s->p.xfer_rate,
			};

			nd->eng[w] = cat_chain_create(&cp);
			if (nd->eng[w] == NULL) {
				fail(s, "cat_chain_create: %s", strerror(errno));
				return -1;
			}
		}
		node_install(s, nd, map);
		/* Timer ticks, phase-shifted per node. */
		ev_push(s, ev_new(s, rng_range(&s->r, 0, TICK_NS), EV_TICK, i, 0));
	}
	for (int i = 0; i < s->p.clients; i++) {
		struct client *c = &s->clients[i];

		c->idx = i;
		c->id = (uint32_t)rng_next(&s->r) | 1u;
		c->addr.ip = (10u << 24) | (0u << 16) | (1u << 8) | (uint32_t)(i + 1);
		c->addr.port = (uint16_t)(40000 + i);
		c->addr.mac[0] = 0x02;
		c->addr.mac[5] = (uint8_t)i;
		c->seq = rng_next(&s->r) >> 16;
		c->map = map;
		client_arm(s, c, rng_range(&s->r, 0, 200) * US);
	}
	if (s->p.fail) {
		ev_push(s, ev_new(s, s->p.fail_at, EV_FAIL, s->p.fail_node - 1, 0));
		s->pending_control++;
	}
	if (s->p.fail2_node) {
		ev_push(s, ev_new(s, s->p.fail2_at, EV_FAIL, s->p.fail2_node - 1, 0));
		s->pending_control++;
	}
	if (s->p.join) {
		ev_push(s, ev_new(s, s->p.join_at, EV_JOIN, 0, 0));
		s->pending_control++;
	}
	if (s->p.move) {
		ev_push(s, ev_new(s, s->p.move_at, EV_MOVE, 0, 0));
		ev_push(s, ev_new(s, s->p.move_at, EV_JOIN_CHECK, 0, 0));
		s->pending_control++;
	}
	return 0;
}

static void sim_teardown(struct sim *s)
{
	struct event *e;

	while ((e = ev_pop(s)) != NULL)
		free(e);
	free(s->heap);
	for (int i = 0; i < s->p.n_nodes; i++)
		for (uint32_t w = 0; w < s->p.workers; w++)
			cat_chain_destroy(s->nodes[i].eng[w]);
	/* cat_store_destroy waits for call_rcu: not as an online reader. */
	rcu_thread_offline();
	for (int i = 0; i < s->p.n_nodes; i++)
		cat_store_destroy(s->nodes[i].store);
	rcu_thread_online();
	for (int i = 0; i < s->n_maps; i++)
		cat_map_free(s->maps[i]);
	for (int k = 0; k < MAX_KEYS; k++)
		free(s->hist[k].ops);
}

/* ---- the run ------------------------------------------------------------ */

static bool quiet(struct sim *s)
{
	if (s->clients_done < s->p.clients || s->pending_control > 0)
		return false;
	for (int i = 0; i < s->p.n_nodes; i++) {
		if (!s->nodes[i].alive)
			continue;
		for (uint32_t w = 0; w < s->p.workers; w++)
			if (cat_chain_inflight(s->nodes[i].eng[w]) != 0)
				return false;
	}
	return true;
}

static void describe_inflight(struct sim *s, char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = 0;
	for (int i = 0; i < s->p.n_nodes && n < len; i++) {
		if (!s->nodes[i].alive)
			continue;
		for (uint32_t w = 0; w < s->p.workers && n < len; w++) {
			uint32_t f = cat_chain_inflight(s->nodes[i].eng[w]);

			if (f)
				n += (size_t)snprintf(buf + n, len - n,
					" n%d/w%u holds %u;", i + 1, w, f);
		}
	}
	for (uint32_t slot = 0; slot < s->p.slots && n < len; slot++) {
		const struct cat_map_chain *c = cat_map_slot_chain(s->cur_map, slot);

		for (int j = 0; j < c->len && n < len; j++) {
			struct node *nd = &s->nodes[c->nodes[j] - 1];
			struct cat_chain *e = nd->eng[slot % s->p.workers];

			if (cat_chain_slot_applied(e, slot) !=
			    cat_chain_slot_committed(e, slot))
				n += (size_t)snprintf(buf + n, len - n,
					" slot %u n%u applied %" PRIu64
					" committed %" PRIu64 ";", slot,
					nd->id, cat_chain_slot_applied(e, slot),
					cat_chain_slot_committed(e, slot));
		}
	}
}

static void run_events(struct sim *s)
{
	uint64_t quiesce_deadline = 0;
	struct event *e;

	while (!s->failed && (e = ev_pop(s)) != NULL) {
		s->now = e->t;
		hash_mix(s, e->t);
		hash_mix(s, (uint64_t)e->type << 32 | (uint32_t)e->a);
		switch (e->type) {
		case EV_DGRAM:
			if (ep_is_node(e->a)) {
				struct node *nd = &s->nodes[e->a];

				if (!nd->alive) {
					s->t.dead_drops++;
					break;
				}
				node_deliver(s, nd, e->src, e->data, e->len);
				node_emit(nd);
			} else {
				client_deliver(s, &s->clients[e->a - MAX_NODES],
					       e->src, e->data, e->len);
			}
			for (uint32_t i = 0; i < e->len; i++)
				hash_mix(s, e->data[i]);
			break;
		case EV_TICK: {
			struct node *nd = &s->nodes[e->a];

			if (!nd->alive)
				break;
			node_tick(s, nd);
			node_emit(nd);
			ev_push(s, ev_new(s, s->now + TICK_NS, EV_TICK, e->a, 0));
			break;
		}
		case EV_CLIENT: {
			struct client *c = &s->clients[e->a];

			if (e->token != c->token)
				break; /* superseded */
			if (!c->busy) {
				client_start(s, c);
			} else if (c->backoff) {
				/* RETRY back-off over: the same request again */
				c->backoff = false;
				client_refresh_map(s, c);
				client_send(s, c);
			} else {
				client_on_timeout(s, c);
			}
			break;
		}
		case EV_FAIL:
			control_fail(s, e->a);
			break;
		case EV_PUBLISH:
			control_publish(s, e->a);
			break;
		case EV_JOIN:
			control_join(s);
			break;
		case EV_JOIN_CHECK:
			/* With a move, the hand-over poll runs for the whole
			 * run; it is not a pending change of its own. */
			if (s->p.move && s->pending_control == 0 &&
			    s->clients_done == s->p.clients)
				break;
			control_join_check(s);
			break;
		case EV_MOVE:
			control_move(s);
			break;
		case EV_MOVE_STEP:
			control_move_step(s);
			break;
		case EV_INSTALL:
			s->pending_control--;
			if (s->nodes[e->a].alive) {
				node_install(s, &s->nodes[e->a], s->cur_map);
				node_emit(&s->nodes[e->a]);
			}
			break;
		}
		free(e);
		/* Between events is the sim's quiescent state: RCU frees
		 * queued by the store can proceed. */
		rcu_quiescent_state();

		if (quiesce_deadline == 0 &&
		    s->clients_done == s->p.clients && s->pending_control == 0) {
			/* Workload over: heal the network and drain. */
			s->loss_ppm = s->dup_ppm = 0;
			quiesce_deadline = s->now + QUIESCE_LIMIT_NS;
			trace(s, "clients done: faults off, draining");
		}
		if (quiesce_deadline != 0) {
			if (quiet(s))
				return;
			if (s->now > quiesce_deadline) {
				char buf[1024];

				describe_inflight(s, buf, sizeof(buf));
				fail(s, "did not quiesce within %" PRIu64
				     "ms after the workload:%s",
				     QUIESCE_LIMIT_NS / MS, buf);
				return;
			}
		} else if (s->now > RUN_LIMIT_NS) {
			fail(s, "workload did not finish within %" PRIu64 "ms",
			     RUN_LIMIT_NS / MS);
			return;
		}
	}
	if (!s->failed)
		fail(s, "event queue ran dry");
}

/* ---- end-of-run checks -------------------------------------------------- */

static bool node_in_chain(const struct cat_map_chain *c, uint16_t id)
{
	return cat_map_chain_pos(c, id) >= 0;
}

static void check_replicas(struct sim *s)
{
	const struct cat_map *map = s->cur_map;

	for (uint32_t slot = 0; slot < s->p.slots && !s->failed; slot++) {
		const struct cat_map_chain *c = cat_map_slot_chain(map, slot);
		struct node *tail = &s->nodes[cat_map_chain_tail(c) - 1];
		uint64_t d0 = cat_store_slot_digest(tail->store, slot);
		uint64_t v0 = cat_store_slot_version(tail->store, slot);

		for (int j = 0; j < c->len; j++) {
			struct node *nd = &s->nodes[c->nodes[j] - 1];
			uint64_t d = cat_store_slot_digest(nd->store, slot);
			uint64_t v = cat_store_slot_version(nd->store, slot);

			if (!nd->alive) {
				fail(s, "failed node n%u is still in chain of slot %u",
				     nd->id, slot);
				return;
			}
			if (d != d0 || v != v0) {
				fail(s, "slot %u: replicas differ: n%u digest %016"
				     PRIx64 " version %" PRIu64 ", tail n%u digest %016"
				     PRIx64 " version %" PRIu64, slot, nd->id, d, v,
				     tail->id, d0, v0);
				return;
			}
		}
	}
	/* After the drain every version is committed everywhere. */
	for (int k = 0; k < s->p.keys && !s->failed; k++) {
		const struct cat_map_chain *c = cat_map_slot_chain(map, s->key_slot[k]);
		struct cat_key key;

		for (int j = 0; j < c->len; j++) {
			struct node *nd = &s->nodes[c->nodes[j] - 1];
			const struct cat_item *it;

			cat_store_key(nd->store, &key, s->keys[k], (uint16_t)strlen(s->keys[k]));
			if (cat_store_get_newest(nd->store, &key, &it) == 0 &&
			    (cat_item_flags(it) & (CAT_ITEM_DIRTY | CAT_ITEM_TOMBSTONE)))
				fail(s, "key %s still %s at n%u after the drain "
				     "(version %" PRIu64 ")", s->keys[k],
				     (cat_item_flags(it) & CAT_ITEM_DIRTY) ?
				     "dirty" : "a tombstone", nd->id, it->version);
		}
	}
	/* Nodes outside a slot's chain hold nothing for it: spares, and
	 * nodes that left it (they drop their copy). */
	for (int i = 0; i < s->p.n_nodes && !s->failed; i++) {
		struct node *nd = &s->nodes[i];

		if (!nd->alive)
			continue;
		for (uint32_t slot = 0; slot < s->p.slots; slot++)
			if (!node_in_chain(cat_map_slot_chain(map, slot), nd->id) &&
			    cat_map_slot_chain(map, slot)->joining != nd->id &&
			    cat_store_slot_keys(nd->store, slot) != 0)
				fail(s, "n%u holds keys of slot %u, not its "
				     "replica", nd->id, slot);
	}
}

static void check_history(struct sim *s)
{
	const struct cat_map *map = s->cur_map;

	for (int k = 0; k < s->p.keys && !s->failed; k++) {
		const struct cat_map_chain *c = cat_map_slot_chain(map, s->key_slot[k]);
		struct node *tail = &s->nodes[cat_map_chain_tail(c) - 1];
		struct history *h = &s->hist[k];
		struct cat_lin_report rep;
		const struct cat_item *it;
		struct cat_lin_op *fin;
		struct cat_key key;
		bool written = false, has_incr = false, creatable = false,
		     deletable = false;
		int rc;

		/* (2) the final state, read at the tail after the drain */
		cat_store_key(tail->store, &key, s->keys[k], (uint16_t)strlen(s->keys[k]));
		fin = hist_add(s, k);
		fin->client = 999;
		fin->call = s->now + 1;
		fin->ret = s->now + 1;
		fin->kind = CAT_LIN_GET;
		if (cat_store_get(tail->store, &key, &it) == 0) {
			fin->out = CAT_LIN_OUT_OK;
			if (!parse_int(cat_item_value(it), it->value_len,
				       &fin->result)) {
				fail(s, "key %s: final value is not a number",
				     s->keys[k]);
				return;
			}
		} else {
			fin->out = CAT_LIN_OUT_ABSENT;
		}

		/* (4) directly: the final value was written by someone */
		for (size_t i = 0; i + 1 < h->n; i++) {
			const struct cat_lin_op *o = &h->ops[i];
			bool may = o->out == CAT_LIN_OUT_OK ||
				   o->out == CAT_LIN_OUT_UNKNOWN;

			if (!may)
				continue;
			switch (o->kind) {
			case CAT_LIN_PUT:
			case CAT_LIN_CAS_ABSENT:
				creatable = true;
				written |= fin->out == CAT_LIN_OUT_OK &&
					   o->arg == fin->result;
				break;
			case CAT_LIN_CAS:
				creatable = true;
				written |= fin->out == CAT_LIN_OUT_OK &&
					   o->arg2 == fin->result;
				break;
			case CAT_LIN_INCR:
				creatable = true;
				has_incr = true;
				written |= fin->out == CAT_LIN_OUT_OK &&
					   o->out == CAT_LIN_OUT_OK &&
					   o->result == fin->result;
				break;
			case CAT_LIN_DEL:
				deletable = true;
				break;
			default:
				break;
			}
		}
		if (fin->out == CAT_LIN_OUT_OK && !written && !has_incr) {
			fail(s, "key %s: final value %" PRId64 " was never written",
			     s->keys[k], fin->result);
			return;
		}
		if (fin->out == CAT_LIN_OUT_ABSENT && creatable && !deletable) {
			/* Absent is fine only if every create is unknown. */
			for (size_t i = 0; i + 1 < h->n; i++) {
				const struct cat_lin_op *o = &h->ops[i];

				if (o->out == CAT_LIN_OUT_OK && o->kind != CAT_LIN_GET) {
					fail(s, "key %s is absent at the end, but a "
					     "write to it was acknowledged and it "
					     "was never deleted", s->keys[k]);
					return;
				}
			}
		}

		/* (3) linearizability of the key's history */
		memset(&rep, 0, sizeof(rep));
		rc = cat_lin_check(h->ops, h->n, NULL, LIN_MAX_STATES, &rep);
		if (rc != 1) {
			static char expl[3000];

			cat_lin_explain(h->ops, h->n, &rep, expl, sizeof(expl));
			if (rc == 0)
				fail(s, "key %s (slot %u): history of %zu ops is NOT "
				     "linearizable: %s", s->keys[k], s->key_slot[k],
				     h->n, expl);
			else if (rc == -E2BIG)
				fail(s, "key %s: linearizability check gave up after "
				     "%zu states (%zu ops): raise LIN_MAX_STATES",
				     s->keys[k], rep.states, h->n);
			else
				fail(s, "key %s: lincheck error %d: %s", s->keys[k],
				     rc, expl);
			return;
		}
	}
}

static void add_engine_stats(struct sim *s)
{
	for (int i = 0; i < s->p.n_nodes; i++)
		for (uint32_t w = 0; w < s->p.workers; w++) {
			const struct cat_chain_stats *st =
				cat_chain_stats(s->nodes[i].eng[w]);

			s->t.retrans += st->fwd_retransmitted;
			s->t.dedup_evict += st->dedup_evictions;
			s->t.dup_committed += st->dup_committed;
			s->t.retry_epoch += st->retry_epoch_ahead;
			s->t.retry_full += st->retry_inflight_full;
			s->t.fwd_no_inflight += st->fwd_no_inflight;
			s->t.drop_epoch += st->drop_epoch;
			s->t.dup_in_flight += st->dup_in_flight;
			s->t.snap_items += st->xfer_snap_sent;
			s->t.snap_retrans += st->xfer_snap_retransmitted;
			s->t.xfer_restarts += st->xfer_restarts;
		}
	for (int i = 0; i < s->p.n_nodes; i++) {
		s->t.craq_queries += s->nodes[i].rstats.craq_version_queries;
		s->t.held_reads += s->nodes[i].rstats.read_held;
	}
}

/* Run one seed; fills *t and returns 0 (pass) or 1 (fail, why in buf). */
static int run_seed(uint64_t seed, int verbose, struct totals *t,
		    char *why, size_t why_len, uint64_t *trace_hash)
{
	struct sim *s = calloc(1, sizeof(*s));
	int rc;

	if (s == NULL) {
		perror("calloc");
		exit(2);
	}
	derive_params(&s->p, seed);
	rng_seed(&s->r, seed);
	s->verbose = verbose;
	s->loss_ppm = s->p.loss_ppm;
	s->dup_ppm = s->p.dup_ppm;
	s->trace_hash = 0xcbf29ce484222325ULL;
	if (sim_setup(s) == 0) {
		run_events(s);
		if (!s->failed)
			check_replicas(s);
		if (!s->failed)
			check_history(s);
	}
	add_engine_stats(s);
	rc = s->failed ? 1 : 0;
	if (rc)
		snprintf(why, why_len, "%s", s->why);
	*t = s->t;
	if (trace_hash)
		*trace_hash = s->trace_hash;
	sim_teardown(s);
	free(s);
	return rc;
}

/* ---- driver ------------------------------------------------------------- */

static void totals_add(struct totals *a, const struct totals *b)
{
	a->ops += b->ops;
	a->unknown += b->unknown;
	a->messages += b->messages;
	a->dgrams += b->dgrams;
	a->drops += b->drops;
	a->dups += b->dups;
	a->dead_drops += b->dead_drops;
	a->retrans += b->retrans;
	a->failures += b->failures;
	a->retry_answers += b->retry_answers;
	a->moved += b->moved;
	a->dedup_evict += b->dedup_evict;
	a->dup_committed += b->dup_committed;
	a->craq_queries += b->craq_queries;
	a->retry_epoch += b->retry_epoch;
	a->retry_full += b->retry_full;
	a->fwd_no_inflight += b->fwd_no_inflight;
	a->drop_epoch += b->drop_epoch;
	a->dup_in_flight += b->dup_in_flight;
	a->suspected += b->suspected;
	a->fail_head += b->fail_head;
	a->fail_middle += b->fail_middle;
	a->fail_tail += b->fail_tail;
	a->fail_nonmember += b->fail_nonmember;
	a->suspected_upstream += b->suspected_upstream;
	a->joins += b->joins;
	a->snap_items += b->snap_items;
	a->snap_retrans += b->snap_retrans;
	a->xfer_restarts += b->xfer_restarts;
	a->held_reads += b->held_reads;
	a->moves += b->moves;
	a->move_steps += b->move_steps;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: catena-sim --seeds N [--start S] [--jobs J] [--craq on|off]\n"
		"       catena-sim --seed S [-v] [--craq on|off]\n"
		"Every parameter derives from the seed; --craq forces CRAQ reads\n"
		"on or off for every seed (a restricted parameter space).\n");
	exit(2);
}

static double wall_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Result record a job process writes back to the driver, one per seed. */
struct seed_result {
	uint64_t seed;
	int failed;
	struct totals t;
	char why[4096];
};

static void print_failure(uint64_t seed, const char *why)
{
	struct params p;
	char pbuf[1024];

	derive_params(&p, seed);
	format_params(&p, pbuf, sizeof(pbuf));
	printf("FAIL seed %" PRIu64 ": %s\n  params: %s\n  replay: catena-sim --seed %"
	       PRIu64 "%s -v\n", seed, why, pbuf, seed, replay_flags());
}

static int write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int read_all(int fd, void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = read(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int run_many(uint64_t start, uint64_t count, int jobs)
{
	struct totals all = { 0 };
	double t0 = wall_now();
	int pipes[16][2];
	pid_t pids[16];
	uint64_t got = 0;

	if (jobs < 1)
		jobs = 1;
	if (jobs > 16)
		jobs = 16;
	/* Fork before any RCU use: each job registers its own thread. */
	for (int j = 0; j < jobs; j++) {
		if (pipe(pipes[j]) != 0) {
			perror("pipe");
			return 2;
		}
		pids[j] = fork();
		if (pids[j] < 0) {
			perror("fork");
			return 2;
		}
		if (pids[j] == 0) {
			close(pipes[j][0]);
			rcu_register_thread();
			for (uint64_t i = (uint64_t)j; i < count; i += (uint64_t)jobs) {
				struct seed_result r;

				memset(&r, 0, sizeof(r));
				r.seed = start + i;
				r.failed = run_seed(r.seed, 0, &r.t, r.why,
						    sizeof(r.why), NULL);
				if (write_all(pipes[j][1], &r, sizeof(r)) != 0)
					_exit(3);
			}
			rcu_unregister_thread();
			_exit(0);
		}
		close(pipes[j][1]);
	}
	/* Results come back in seed order: job i%jobs holds seed i. */
	for (uint64_t i = 0; i < count; i++) {
		struct seed_result r;
		int j = (int)(i % (uint64_t)jobs);

		if (read_all(pipes[j][0], &r, sizeof(r)) != 0) {
			fprintf(stderr, "catena-sim: job %d died (seed %" PRIu64
				" crashed the simulator? replay it alone)\n", j,
				start + i);
			break;
		}
		got++;
		all.seeds++;
		if (r.failed) {
			all.failed++;
			print_failure(r.seed, r.why);
			fflush(stdout);
		} else {
			all.passed++;
		}
		totals_add(&all, &r.t);
	}
	for (int j = 0; j < jobs; j++) {
		int st;

		close(pipes[j][0]);
		waitpid(pids[j], &st, 0);
	}
	printf("sim: %" PRIu64 " seeds, %" PRIu64 " passed, %" PRIu64
	       " failed (ops %" PRIu64 ", messages %" PRIu64 ", faults %" PRIu64
	       ")\n", all.seeds, all.passed, all.failed, all.ops,
	       all.messages, all.drops + all.dups + all.failures);
	printf("sim: seeds %" PRIu64 "..%" PRIu64 ", %.1f s wall, %d jobs; "
	       "unknown-outcome ops %" PRIu64 ", datagrams %" PRIu64
	       ", drops %" PRIu64 ", dups %" PRIu64 ", node failures %" PRIu64
	       ", to/from failed nodes %" PRIu64 ", FWD retransmissions %"
	       PRIu64 ", RETRY answers %" PRIu64 ", MOVED answers %" PRIu64
	       ", dedup evictions %" PRIu64 ", retries answered from dedup %"
	       PRIu64 ", CRAQ version queries %" PRIu64 "\n",
	       start, start + count - 1, wall_now() - t0, jobs, all.unknown,
	       all.dgrams, all.drops, all.dups, all.failures, all.dead_drops,
	       all.retrans, all.retry_answers, all.moved, all.dedup_evict,
	       all.dup_committed, all.craq_queries);
	printf("sim: engines: RETRY (in-flight full) %" PRIu64 ", RETRY (epoch "
	       "ahead) %" PRIu64 ", FWD dropped (in-flight full) %" PRIu64
	       ", dropped (other epoch) %" PRIu64 ", retries dropped (in flight) %"
	       PRIu64 "; failed node was head of %" PRIu64 ", middle of %" PRIu64
	       ", tail of %" PRIu64 " chains, in none %" PRIu64 " times; "
	       "suspected by its predecessor %" PRIu64 " times, live nodes "
	       "above it suspected %" PRIu64 " times\n",
	       all.retry_full, all.retry_epoch, all.fwd_no_inflight,
	       all.drop_epoch, all.dup_in_flight, all.fail_head,
	       all.fail_middle, all.fail_tail, all.fail_nonmember,
	       all.suspected, all.suspected_upstream);
	printf("sim: state transfer: %" PRIu64 " chains joined by the spare, %"
	       PRIu64 " snapshot items sent (%" PRIu64 " again), %" PRIu64
	       " snapshots restarted, %" PRIu64 " reads held at a new tail\n",
	       all.joins, all.snap_items, all.snap_retrans, all.xfer_restarts,
	       all.held_reads);
	printf("sim: live moves: %" PRIu64 " moves of half a chain's slots, %"
	       PRIu64 " epochs of theirs\n", all.moves, all.move_steps);
	return (all.failed || got != count) ? 1 : 0;
}

static int run_one(uint64_t seed, int verbose)
{
	struct params p;
	struct totals t;
	char pbuf[1024], why[4096];
	uint64_t th;
	double t0 = wall_now();
	int rc;

	derive_params(&p, seed);
	format_params(&p, pbuf, sizeof(pbuf));
	printf("seed %" PRIu64 ": %s\n", seed, pbuf);
	rcu_register_thread();
	rc = run_seed(seed, verbose, &t, why, sizeof(why), &th);
	rcu_unregister_thread();
	if (rc)
		print_failure(seed, why);
	printf("sim: 1 seeds, %d passed, %d failed (ops %" PRIu64 ", messages %"
	       PRIu64 ", faults %" PRIu64 ")\n", !rc, rc, t.ops, t.messages,
	       t.drops + t.dups + t.failures);
	printf("sim: %.3f s wall; unknown %" PRIu64 ", drops %" PRIu64 ", dups %"
	       PRIu64 ", FWD retransmissions %" PRIu64 ", RETRY %" PRIu64
	       ", MOVED %" PRIu64 ", dedup evictions %" PRIu64
	       "; trace hash %016" PRIx64 "\n", wall_now() - t0, t.unknown,
	       t.drops, t.dups, t.retrans, t.retry_answers, t.moved,
	       t.dedup_evict, th);
	return rc;
}

int main(int argc, char **argv)
{
	uint64_t seeds = 0, start = 1, seed = 0;
	int one = 0, verbose = 0, jobs = 0;

	if (cat_version_arg(argc, argv, "catena-sim"))
		return 0;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "--seeds") && i + 1 < argc)
			seeds = strtoull(argv[++i], NULL, 0);
		else if (!strcmp(a, "--start") && i + 1 < argc)
			start = strtoull(argv[++i], NULL, 0);
		else if (!strcmp(a, "--seed") && i + 1 < argc) {
			seed = strtoull(argv[++i], NULL, 0);
			one = 1;
		} else if (!strcmp(a, "--jobs") && i + 1 < argc)
			jobs = atoi(argv[++i]);
		else if (!strcmp(a, "-v"))
			verbose = 1;
		else if (!strcmp(a, "--craq") && i + 1 < argc) {
			const char *v = argv[++i];

			if (strcmp(v, "on") && strcmp(v, "off"))
				usage();
			craq_override = !strcmp(v, "on");
		}
		else
			usage();
	}
	if (one)
		return run_one(seed, verbose);
	if (seeds == 0)
		usage();
	if (jobs == 0) {
		/* A seed mostly waits: each cat_store_destroy ends in
		 * rcu_barrier, and liburcu's call_rcu thread batches with a
		 * 10 ms sleep. Several jobs per CPU hide that wait. */
		long n = sysconf(_SC_NPROCESSORS_ONLN);

		jobs = n > 0 ? (int)(8 * n) : 8;
		if (jobs > 16)
			jobs = 16;
	}
	return run_many(start, seeds, jobs);
}
