/*
 * catena chain replication engine (van Renesse & Schneider, OSDI 2004; CRAQ
 * reads, Terrace & Freedman, ATC 2009), sans-I/O: events in (a client write,
 * a peer message, a timer tick, a new map), messages out through callbacks,
 * state changes in the store. No DPDK, no clock, no randomness of its own:
 * time comes in as an argument, so the deterministic simulator drives the
 * very code the dataplane runs.
 *
 * One engine per worker: it owns the slots with slot % n_workers == worker
 * and is the only writer of their store tables and replication state. Never
 * blocks, never allocates after cat_chain_create (in-flight entries and the
 * dedup table are preallocated and bounded; running out answers RETRY or
 * drops a forward for the predecessor to resend, and is counted).
 *
 * Protocol summary (docs/PROTOCOL.md, "Replication", is normative):
 *  - The head of a slot's chain orders every write-class request (PUT, DEL,
 *    CAS, INCR) with the slot's next sequence number (= the item version),
 *    executes it against its newest state, and forwards the outcome (the new
 *    value, a delete, or a no-op carrying a failed outcome) as FWD.
 *  - Each node applies FWD n only when it has applied n-1 (a gap is dropped;
 *    the predecessor's go-back-N retransmission fills it), keeps it in flight
 *    and forwards it; the tail commits, replies to the client and sends a
 *    cumulative ACK upstream. ACK n commits every version <= n on the way
 *    back (dirty versions turn clean, in-flight entries are freed).
 *  - Every message carries the epoch; a message of another epoch is dropped.
 *  - A retried client write (same client_id + seq) takes effect once: the
 *    dedup table, filled on every replica from FWD, answers committed
 *    retries with the original outcome and drops retries still in flight.
 */
#ifndef CAT_CHAIN_H
#define CAT_CHAIN_H

#include <stddef.h>
#include <stdint.h>

#include "replication/lease.h"
#include "replication/map.h"
#include "replication/store.h"
#include "replication/wire.h"
#include "replication/wire_repl.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Replication ops run by the slot owner's engine (cat_chain_on_peer);
 * the others (VQUERY, VRESP) by cat_chain_read on any worker. */
static inline int cat_chain_op_is_owned(unsigned int op)
{
	return op == CAT_OP_R_FWD || op == CAT_OP_R_ACK ||
	       (op >= CAT_OP_R_SNAP && op <= CAT_OP_R_SNAP_DEDUP);
}

/*
 * Output callbacks. Called synchronously from engine functions; m (and its
 * key/value) is valid only during the call: the callee encodes or copies it
 * (e.g. appends it to the per-destination tx batch of this poll burst).
 */
struct cat_dlog_rec;

struct cat_chain_io {
	void (*to_node)(void *arg, uint16_t node_id, const struct cat_msg *m);
	void (*to_client)(void *arg, const struct cat_addr *a,
			  const struct cat_msg *m);
	void *arg;
	/* durability = log: every change the engine makes to the store, as
	 * a record for the node's log (replication/dlog.h: a write applied
	 * as head, middle or tail, a snapshot item installed, a slot's
	 * version moved or the slot emptied). NULL: nothing is logged. */
	void (*applied)(void *arg, const struct cat_dlog_rec *r);
};

struct cat_chain_params {
	uint16_t node_id;         /* this node, as in the map */
	uint32_t worker;          /* this engine's index */
	uint32_t n_workers;       /* slot s belongs to worker s % n_workers */
	struct cat_store *store;  /* shared by all engines of the node */
	struct cat_chain_io io;
	uint32_t inflight_max;    /* in-flight entries (all owned slots) */
	uint32_t msg_max;         /* largest replication message, bytes */
	uint32_t dedup_max;       /* remembered client requests */
	uint64_t rto_ns;          /* retransmission timeout */
	uint32_t suspect_after;   /* retransmissions before a peer is suspect */
	/* State transfer (this node the tail, a node joining the chain). */
	uint64_t xfer_rate;       /* snapshot bytes per second; 0 = no limit */
	uint32_t xfer_window;     /* unacknowledged snapshot messages per slot
				   * (0: 32); capped to a quarter of the
				   * in-flight entries over xfer_slots */
	uint32_t xfer_slots;      /* slots snapshotted at once (0: 2, max 8) */
	/* Read-lease fence (replication/lease.h): a node that becomes a
	 * slot's tail because a member that answered reads left commits
	 * and answers nothing for this long. 0: no fence (nodes without
	 * read leases, the simulator). */
	uint64_t fence_ns;
};

/*
 * Counters, each for exactly one event. Written by the engine's worker only;
 * read relaxed by telemetry.
 */
#define CAT_CHAIN_COUNTERS(X)                                               \
	X(writes_sequenced)     /* client writes ordered at this head */       \
	X(fwd_sent)             /* FWD messages sent (first transmission) */   \
	X(fwd_retransmitted)    /* FWD messages sent again after a timeout */  \
	X(fwd_applied)          /* FWD applied in order at this replica */     \
	X(fwd_duplicate)        /* FWD already applied: re-acked */            \
	X(fwd_gap)              /* FWD ahead of the next expected: dropped */  \
	X(fwd_not_from_pred)    /* FWD from a node that is not our predecessor */ \
	X(fwd_no_inflight)      /* no in-flight entry free: FWD dropped */     \
	X(inflight_reserved)    /* entry refused: the last free ones are kept  \
				 * for other chain positions (inflight_alloc) */\
	X(acks_sent)                                                            \
	X(acks_received)        /* ACKs that advanced the commit point */      \
	X(acks_stale)           /* ACKs at or below the commit point */        \
	X(ack_not_from_succ)    /* ACK from a node that is not our successor */\
	X(commits)              /* versions committed (tail: applied) */       \
	X(client_replies)       /* replies sent to clients */                  \
	X(tail_replies)         /* committed writes answered here, the tail */ \
	X(moved)                /* requests answered MOVED */                  \
	X(retry_inflight_full)  /* writes answered RETRY: in-flight pool full */\
	X(retry_epoch_ahead)    /* client claims a newer epoch: RETRY */       \
	X(dup_committed)        /* retried write answered from the dedup table */\
	X(dup_in_flight)        /* retried write still in flight: dropped */   \
	X(dedup_evictions)      /* dedup entries evicted to make room */       \
	X(dedup_floor_drops)    /* eviction floors dropped: more clients with  \
				 * evictions than the table has entries */    \
	X(outcome_unknown)      /* retried write whose entry was evicted:      \
				 * answered OUTCOME_UNKNOWN, not run again */  \
	X(drop_epoch)           /* peer message of another epoch */            \
	X(drop_not_member)      /* peer message for a slot we do not replicate */\
	X(drop_bad_peer_msg)    /* malformed replication message */            \
	X(craq_clean_reads)     /* CRAQ reads answered locally, clean */       \
	X(craq_version_queries) /* CRAQ reads that asked the tail */           \
	X(peer_suspect)         /* times a successor passed suspect_after */   \
	X(store_errors)         /* store refused an apply (memory): see log */ \
	X(xfer_started)         /* slot snapshots begun towards a joiner */    \
	X(xfer_restarts)        /* snapshots abandoned to start again: no      \
				 * in-flight entry left to keep a write */     \
	X(xfer_too_large)       /* item larger than a message: stream stuck */ \
	X(xfer_snap_sent)       /* snapshot items sent (first transmission) */ \
	X(xfer_snap_retransmitted) /* snapshot messages sent again */          \
	X(xfer_caught_up)       /* slots whose joiner reached our commits */   \
	X(xfer_snap_applied)    /* joiner: snapshot items installed */         \
	X(xfer_snap_duplicate)  /* joiner: snapshot message already had */     \
	X(xfer_snap_gap)        /* joiner: snapshot message out of order */    \
	X(xfer_slot_resets)     /* joiner: slot cleared for a new snapshot */  \
	X(xfer_fwd_early)       /* joiner: FWD before its snapshot ended */    \
	X(sync_requests)        /* held: SYNC_REQ sent to the predecessor */      \
	X(hold_released)        /* slots a new tail began to answer reads on */\
	X(read_held)            /* reads answered RETRY: tail catching up */  \
	X(hold_ns_total)        /* time slots spent held, summed (ns) */       \
	X(hold_ns_max)          /* longest hold of one slot (ns) */            \
	X(read_no_lease)        /* reads answered RETRY: a chain member not    \
				 * heard at our epoch lately (lease.h) */      \
	X(fences)               /* slots fenced: new tail after a reader left */\
	X(retry_fenced)         /* writes answered RETRY at a fenced head */   \
	X(slots_dropped)        /* slots cleared: this node left their chain */

struct cat_chain_stats {
#define CAT_CHAIN_X_FIELD(n) uint64_t n;
	CAT_CHAIN_COUNTERS(CAT_CHAIN_X_FIELD)
#undef CAT_CHAIN_X_FIELD
};

struct cat_chain;

/**
 * Create an engine. Control path: allocates every buffer it will ever use.
 * The store must have the map's slot count. Returns NULL with errno set.
 */
struct cat_chain *cat_chain_create(const struct cat_chain_params *p);

/** Free an engine (its worker has stopped). Does not touch the store. */
void cat_chain_destroy(struct cat_chain *ch);

/**
 * Install a new map (first call: the initial one). Owner worker only. The
 * caller keeps *map alive until it installs another and a grace period has
 * passed. For every owned slot whose role changed: a node that became tail
 * commits everything it holds (and answers those clients); a node with a new
 * successor resends its in-flight entries there; in-flight entries and
 * pending state of slots this node left are dropped. Messages of the old
 * epoch are dropped from now on. A map with another slot count than the
 * store's is ignored (the slot count is fixed at cluster creation).
 */
void cat_chain_set_map(struct cat_chain *ch, const struct cat_map *map,
		       uint64_t now);

/** The map in force for this engine (NULL before the first set_map). */
const struct cat_map *cat_chain_map(const struct cat_chain *ch);

/**
 * A client write-class request (PUT, DEL, CAS, INCR) that passed
 * cat_wire_check_request, for an owned slot. Owner worker only. Replies
 * (now or, for a sequenced write, later from the tail) go through io.
 * k: req's key as the caller hashed it (cat_store_key, to check the slot),
 * so the key is hashed once per request; NULL: the engine hashes it.
 */
void cat_chain_on_write(struct cat_chain *ch, uint64_t now,
			const struct cat_addr *from, const struct cat_msg *req,
			const struct cat_key *k);

/**
 * A replication message FWD or ACK for an owned slot, from node from_node
 * (the dataplane derives it from the source address via the map; 0 if
 * unknown, which is dropped). Owner worker only.
 */
void cat_chain_on_peer(struct cat_chain *ch, uint64_t now, uint16_t from_node,
		       const struct cat_msg *m);

/** Retransmit what timed out. Owner worker; call every poll iteration or so. */
void cat_chain_on_timer(struct cat_chain *ch, uint64_t now);

/** End of a poll burst: send the coalesced ACKs. Owner worker. */
void cat_chain_flush(struct cat_chain *ch, uint64_t now);

/**
 * Read path, any worker (RCU reader), no engine state: a client GET, or a
 * VQUERY/VRESP peer message. Uses map (the caller's RCU-protected current
 * map), store and io. Non-CRAQ: the tail answers, others answer MOVED.
 * CRAQ: any replica answers a clean key; for a dirty key it sends VQUERY to
 * the tail, and answers the client when the VRESP comes back (stateless:
 * the client's address travels in the messages). stats may be NULL. With
 * a lease table (a node under catena-control), a GET is answered only
 * while this node holds the read lease for the slot's chain at now
 * (replication/lease.h), else RETRY; NULL: no leases.
 */
void cat_chain_read(const struct cat_map *map, uint16_t self,
		    struct cat_store *store, const struct cat_chain_io *io,
		    const struct cat_addr *from, uint16_t from_node,
		    const struct cat_msg *m, struct cat_chain_stats *stats,
		    const struct cat_lease *lease, uint64_t now);

/*
 * A client GET (m->op CAT_OP_GET) as cat_chain_read answers it, with its
 * key already hashed (k, cat_store_key) and, with have_it, its newest live
 * version already looked up (it, NULL: none) by a burst's bulk lookup
 * (cat_store_get_bulk), which the tail then answers with. Same checks,
 * same replies; the worker hashes and looks up each key once.
 */
void cat_chain_read_get(const struct cat_map *map, uint16_t self,
			struct cat_store *store, const struct cat_chain_io *io,
			const struct cat_addr *from, const struct cat_msg *m,
			const struct cat_key *k, int have_it,
			const struct cat_item *it, struct cat_chain_stats *stats,
			const struct cat_lease *lease, uint64_t now);

const struct cat_chain_stats *cat_chain_stats(const struct cat_chain *ch);

/** Per-chain counters, indexed like map->chains[] (the current map). */
struct cat_chain_link_stats {
	uint64_t forwarded;      /* FWD sent to the successor, first time */
	uint64_t retransmitted;  /* FWD sent again */
	uint64_t acked;          /* ACKs that advanced the commit point */
	uint64_t dropped_epoch;  /* peer messages of another epoch */
};

/**
 * Counters of chain index ci (< CAT_MAP_CHAINS_MAX) as seen by this engine;
 * *in_flight gets the entries this engine holds for that chain's slots.
 * Any thread (relaxed reads; in_flight walks the owned slots).
 */
void cat_chain_link_stats(const struct cat_chain *ch, uint32_t ci,
			  struct cat_chain_link_stats *out, uint32_t *in_flight);

/** State transfer of one chain as seen by this engine, added to *out (zero
 * it first; one call per worker's engine sums a node). Any thread, relaxed
 * reads; walks the owned slots. */
struct cat_chain_xfer_progress {
	uint32_t slots;        /* owned slots this node streams to a joiner */
	uint32_t caught_up;    /* of those, whose joiner has all we committed */
	uint32_t snapshotting; /* of those, with a snapshot running */
	uint64_t keys, bytes;  /* snapshot items and bytes sent */
	uint32_t joining;      /* owned slots this node is joining */
	uint32_t joined;       /* of those, whose snapshot has ended here */
	uint32_t held;         /* owned slots held: a new tail catching up */
	uint64_t lag;          /* writes the joiner has yet to acknowledge */
};

void cat_chain_xfer_progress(const struct cat_chain *ch, uint32_t ci,
			     struct cat_chain_xfer_progress *out);

/** Change the snapshot rate limit (bytes/s, 0 = none). Any thread: the
 * engine reads it at its next timer call. */
void cat_chain_set_xfer_rate(struct cat_chain *ch, uint64_t bytes_per_s);

/** In-flight entries currently held (all owned slots). */
uint32_t cat_chain_inflight(const struct cat_chain *ch);

/** Highest sequence applied / committed at this node for an owned slot. */
uint64_t cat_chain_slot_applied(const struct cat_chain *ch, uint32_t slot);
uint64_t cat_chain_slot_committed(const struct cat_chain *ch, uint32_t slot);

/**
 * Successor currently suspect (retransmitted suspect_after times without an
 * ACK) for any owned slot: its node id, or 0. For the node agent to report.
 */
uint16_t cat_chain_suspect_peer(const struct cat_chain *ch);

#ifdef __cplusplus
}
#endif

#endif /* CAT_CHAIN_H */
