/*
 * An in-memory network of chain engines for the unit tests: N nodes, each
 * with one store and W engines (slot s on worker s % W, as in the
 * dataplane), wired through one message queue that the test delivers,
 * drops, duplicates or edits by hand, and one client whose replies are
 * counted by status and, if asked, queued. Test code: it asserts (cmocka)
 * instead of returning errors, and it is single-threaded (the caller is a
 * registered QSBR thread, online).
 */
#ifndef CAT_TEST_CHAIN_NET_H
#define CAT_TEST_CHAIN_NET_H

#include <stddef.h>
#include <stdint.h>

#include "replication/chain.h"

#define CAT_NET_NODES_MAX   8   /* node ids 1..nodes */
#define CAT_NET_WORKERS_MAX 4
#define CAT_NET_QUEUE_MAX   256
#define CAT_NET_FRAME_MAX   2048

/* A message in flight: who sent it to whom, its encoded bytes and the
 * decoded copy (whose key and value point into bytes). A test may edit
 * from, to or the bytes; delivery decodes the bytes again. */
struct cat_net_msg {
	int to_client;         /* 1: for the client; 0: for node `to` */
	uint16_t from, to;
	struct cat_msg m;
	uint8_t bytes[CAT_NET_FRAME_MAX];
};

struct cat_net_params {
	const char *map_text;     /* the first map (its slot count = stores') */
	uint16_t nodes;           /* nodes 1..nodes, <= CAT_NET_NODES_MAX */
	uint32_t workers;         /* engines per node; 0: 1 */
	/* Every engine's parameters (replication/chain.h). */
	uint32_t inflight_max, msg_max, dedup_max, suspect_after;
	uint64_t rto_ns, fence_ns;
	const uint64_t *mem_limit; /* [nodes + 1]: node n's store cap; NULL: none */
	struct cat_addr client;   /* the one client: every reply must go there */
	int queue_replies;        /* 1: client replies are queued, as messages */
	uint32_t queue_max;       /* messages held; 0: CAT_NET_QUEUE_MAX */
	int drop_when_full;       /* 1: a send to a full queue is lost (counted);
				   * 0: it fails the test */
	size_t frame_max;         /* encode/decode buffer; 0: CAT_NET_FRAME_MAX */
	int storm_max;            /* deliveries cat_net_run allows; 0: 1000 */
	/* Every engine's io.applied (durability = log); the node whose
	 * engine runs is net->sending. NULL: none. */
	void (*applied)(void *net, const struct cat_dlog_rec *r);
};

struct cat_net {
	struct cat_net_params p;
	struct cat_map *map;      /* the map reads use; the test may swap it */
	uint32_t slots;
	struct cat_store *store[CAT_NET_NODES_MAX + 1];
	struct cat_chain *eng[CAT_NET_NODES_MAX + 1][CAT_NET_WORKERS_MAX];
	struct cat_chain_io io;   /* arg: this network */
	struct cat_net_msg q[CAT_NET_QUEUE_MAX];
	int qn;
	uint16_t sending;         /* the node whose engine runs (`from`) */
	uint64_t replies[CAT_ST__COUNT]; /* client replies by status */
	uint64_t lost_full;       /* sends lost to a full queue */
};

/** Parse the map, create every store and engine, install the map on every
 * node at time 0 and empty the queue. net must stay where it is until
 * cat_net_fini (the engines hold &net as their io argument). */
void cat_net_init(struct cat_net *net, const struct cat_net_params *p);

/** Destroy engines and stores (offline around each store's rcu_barrier),
 * then free net->map. Maps the test installed itself are the test's. */
void cat_net_fini(struct cat_net *net);

/** The engine of node that owns slot. */
struct cat_chain *cat_net_owner(const struct cat_net *net, uint16_t node,
				uint32_t slot);

/** Put a message for node `to` on the queue as if `from` sent it. */
void cat_net_send(struct cat_net *net, uint16_t from, uint16_t to,
		  const struct cat_msg *m);

/** Deliver message i (removed from the queue) to its node: replication ops
 * to the slot owner's engine, VQUERY/VRESP to the read path; then the
 * owner's flush. Message i must be for a node. */
void cat_net_deliver(struct cat_net *net, int i, uint64_t now);

/** Deliver node-bound messages, first queued first, until only client
 * replies remain; more than storm_max deliveries fail the test. */
void cat_net_run(struct cat_net *net, uint64_t now);

/** Timers and flushes on every node, then cat_net_run. */
void cat_net_tick(struct cat_net *net, uint64_t now);

/** Remove message i (lost); duplicate message i at the queue's end. */
void cat_net_drop(struct cat_net *net, int i);
void cat_net_duplicate(struct cat_net *net, int i);
/** Put a copy of e (one the test held back) at the queue's end; returns
 * the copy, for the test to edit. */
struct cat_net_msg *cat_net_requeue(struct cat_net *net,
				    const struct cat_net_msg *e);
/** Lose every queued message; lose only the client replies. */
void cat_net_drop_all(struct cat_net *net);
void cat_net_drop_client_replies(struct cat_net *net);

/** Index of the first queued message for the client (to_client 1) or for
 * a node (0) with op, or -1. */
int cat_net_find(const struct cat_net *net, int to_client, uint8_t op);

/** Take the one queued client reply (exactly one must be queued); its
 * value is copied to valbuf if valbuf is not NULL. */
struct cat_msg cat_net_take_reply(struct cat_net *net, uint8_t *valbuf);

/** A client write-class request at node (m->slot is set from the key),
 * then the owner's flush. */
void cat_net_client_write(struct cat_net *net, uint16_t node,
			  struct cat_msg *m, uint64_t now);
/** A client GET at node (m->slot is set from the key); no flush. */
void cat_net_client_get(struct cat_net *net, uint16_t node, struct cat_msg *m);
/** A peer message handed straight to the owner engine of node `to` as if
 * from `from` (never queued, so never encoded), then its flush. */
void cat_net_on_peer(struct cat_net *net, uint16_t to, uint16_t from,
		     const struct cat_msg *m, uint64_t now);

/** Per node, on every worker's engine: install map (no flush), flush,
 * run timers (no flush). */
void cat_net_set_map(struct cat_net *net, uint16_t node,
		     const struct cat_map *map, uint64_t now);
void cat_net_flush(struct cat_net *net, uint16_t node, uint64_t now);
void cat_net_timer(struct cat_net *net, uint16_t node, uint64_t now);

/** Parse text and install it on every node (set_map, flush), as the new
 * net->map; the old one is freed. */
void cat_net_install(struct cat_net *net, const char *text, uint64_t now);

/** A node's counters, in-flight entries and state transfer of chain index
 * ci, summed over its engines. */
struct cat_chain_stats cat_net_stats(const struct cat_net *net, uint16_t node);
uint32_t cat_net_inflight(const struct cat_net *net, uint16_t node);
struct cat_chain_xfer_progress cat_net_progress(const struct cat_net *net,
						uint16_t node, uint32_t ci);

/** Parse a map that must be valid (free with cat_map_free). */
struct cat_map *cat_net_parse(const char *text);

/** Node's store holds key with val (NULL: has no key), dirty or clean. */
void cat_net_expect_stored(const struct cat_net *net, uint16_t node,
			   const char *key, const char *val, int dirty);
/** Nodes a and b hold the same keys and digests in every slot. */
void cat_net_expect_same_slots(const struct cat_net *net, uint16_t a,
			       uint16_t b);

#endif /* CAT_TEST_CHAIN_NET_H */
