/*
 * Private to the chain replication engine: its state, its constants, the
 * small helpers and the functions that chain.c, chain_xfer.c and
 * chain_read.c share. Nothing else includes it; the API is
 * replication/chain.h. Sans-I/O like the engine: no DPDK, no clock.
 */
#ifndef CAT_CHAIN_INT_H
#define CAT_CHAIN_INT_H

#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "replication/chain.h"
#include "replication/dlog.h"
#include "replication/wire_repl.h"

#define NIL UINT32_MAX

#define NUM_MAX CAT_WIRE_I64_TEXT_MAX

struct inflight {
	uint64_t seq;
	uint64_t last_sent;
	uint32_t retries;
	uint32_t next;        /* next entry of the same slot, or NIL */
	uint8_t cls;          /* chain position it was taken for (class) */
	struct cat_msg m;     /* key and value point into buf */
	uint8_t *buf;         /* msg_max bytes */
};

/* Position of a node that joins a slot's chain (no member yet). */
#define POS_JOINER (-2)

/* ack_pending bits: what cat_chain_flush owes the predecessor. */
#define PEND_LISTED 0x1u  /* in the pending-ack list */
#define PEND_ACK    0x2u  /* an ACK of committed */
#define PEND_SNAP   0x8u  /* a SNAP_ACK of the stream seq received */

/* Outbound state transfer phases (this node the tail, c->joining set). */
enum xphase {
	X_NONE = 0,
	X_WAIT,      /* not begun: keeps nothing for the joiner yet */
	X_SNAP,      /* snapshot running; writes since its cut kept in fifo */
	X_LIVE,      /* snapshot done: the joiner is our successor for FWD,
		      * our ACKs upstream wait for its ACKs */
};

/*
 * Replication state of one owned slot, by concern. Per slot and on the hot
 * path: the groups are ordered and their fields sized so that padding stays
 * small (176 bytes; the flat struct it replaced was 184). Written by the
 * owner worker only; telemetry reads a few fields relaxed.
 */

/* Where this node is in the slot's chain, from the map in force. */
struct slot_role {
	uint16_t pred, succ;  /* neighbours for FWD and ACK; 0 = none (a
			       * tail streaming to a live joiner: succ is
			       * the joiner) */
	int8_t pos;           /* position in the chain; -1 = not a member,
			       * POS_JOINER = joining it */
	uint8_t is_tail;      /* the chain's tail: commits, answers clients */
};

/* Sequencing: the writes kept for the successor until it acknowledges
 * them, the commit point, and what the next flush owes the predecessor. */
struct slot_writes {
	uint64_t committed;   /* highest seq known committed at the tail */
	uint32_t fifo_head;   /* in-flight entries, oldest first */
	uint32_t fifo_tail;
	uint32_t n_inflight;
	uint8_t ack_pending;  /* PEND_* bits */
};

/* Dedup: which of the table's entries still speak of this node's copy. */
struct slot_dedup {
	uint32_t gen;         /* bumped whenever this node drops the slot's
			       * data: entries of an older gen speak of
			       * writes that may never have committed */
};

/* A new tail that does not answer yet: reads held until it has applied
 * its predecessor's floor (SYNC_REQ, SYNC), and the fence that waits out
 * the read lease of a member that left. */
struct slot_hold {
	uint8_t held;         /* reads answered RETRY until the floor */
	uint8_t have_floor;   /* floor received from the predecessor */
	uint8_t fenced;       /* writes it applies stay in the fifo,
			       * uncommitted and unanswered, until
			       * fence_until */
	uint64_t since;       /* held since */
	uint64_t floor;       /* the predecessor's applied version */
	uint64_t asked_at;    /* SYNC_REQ last sent */
	uint64_t fence_until;
};

/* Inbound state transfer: this node joins the slot's chain. */
struct slot_xin {
	uint64_t next_seq;    /* next stream seq expected */
	uint32_t gen;         /* generation being received, 0 = none */
	uint8_t live;         /* snapshot ended here: FWDs are accepted */
};

/* Outbound state transfer: this node, the tail, streams the slot to the
 * chain's joiner. */
struct slot_xout {
	uint16_t to;          /* joiner this node streams to, 0 = none */
	uint8_t phase;        /* enum xphase */
	uint8_t stage;        /* where the snapshot is: XS_* */
	uint32_t gen;         /* stream generation */
	uint32_t fifo_head;   /* unacknowledged SNAP messages, oldest first */
	uint32_t fifo_tail;
	uint32_t n_unacked;
	uint64_t next_seq;    /* next stream seq */
	uint64_t cut;         /* slot version when the snapshot began */
	uint64_t dedup_pos;   /* dedup insertion counter reached (XS_DEDUP) */
	uint64_t live_floor;  /* what we had acked upstream at the switch to
			       * X_LIVE: the joiner is caught up past it */
	uint64_t joiner_acked; /* the joiner's highest ACK (X_LIVE) */
	uint64_t keys, bytes; /* snapshot items and bytes sent */
};

struct slot_state {
	struct slot_writes writes;
	struct slot_role role;
	struct slot_dedup dedup;
	struct slot_hold hold;
	struct slot_xin xin;
	struct slot_xout xout;
};

#define XFER_SLOTS_MAX 8u

/*
 * Dedup: the outcomes of recent client writes, kept in arrival order in a
 * ring of exactly [replication] dedup entries (the oldest goes when a new
 * one needs room: the configured capacity is the real one), found by
 * (client id, seq) through an open-addressing index. When an entry that is
 * still about this node's copy goes, the client's eviction floor rises to
 * its seq: a write from that client at or below the floor that the table
 * does not know may have been applied already (CAT_ST_OUTCOME_UNKNOWN).
 */
struct dedup_entry {
	uint32_t client_id;
	uint32_t slot;
	uint64_t seq;
	uint64_t rseq;        /* place in the slot's order */
	uint64_t arg;
	uint32_t dgen;        /* the slot's dedup.gen when inserted */
	uint8_t op;
	uint8_t status;
	uint8_t value_len;
	uint8_t value[NUM_MAX];
};

struct dedup_floor {
	uint32_t client_id;
	uint64_t seq;         /* highest seq of the client's evicted entries */
};

/*
 * A FIFO of at most cap records (in a power-of-two array) with a
 * linear-probing index. Each index cell is 0 (empty) or a 32-bit key hash
 * (top bit set, so never 0) << 32 | the record's insertion counter (low 32
 * bits). Dropping the oldest record touches no index cell: a cell whose
 * counter is no longer among the last count inserted is stale, skipped by
 * lookups, reused by inserts, and removed (backward shift) by a sweep that
 * cleans one cache line of cells per insert. With twice as many cells as
 * records (16 at least), stale cells never exceed about an eighth of them:
 * the index stays below 5/8 full, a probe always meets an empty cell, and
 * eviction costs no random memory access.
 */
struct fifo_index {
	uint64_t *cell;
	uint32_t cmask;       /* cells - 1 */
	uint32_t rmask;       /* record array size - 1 */
	uint32_t cap;         /* records kept at most */
	uint32_t sweep;       /* next cell the sweep looks at */
	uint64_t head, tail;  /* insertion counters: oldest, next */
};

struct cat_chain {
	struct cat_chain_params p;
	struct cat_store *store;
	const struct cat_map *map;
	uint32_t slot_count;
	uint32_t n_owned;
	struct slot_state *slots;     /* by local index slot / n_workers */
	struct inflight *inflight;
	uint8_t *bufs;
	uint32_t free_head;           /* free in-flight entries, linked by next */
	uint32_t n_inflight;
	/* Entries in use by the chain position they were taken at, and the
	 * positions past the head this node holds where it keeps entries
	 * (see cat_chain_inflight_alloc). */
	uint32_t cls_used[CAT_MAP_CHAIN_LEN_MAX];
	uint8_t cls_present[CAT_MAP_CHAIN_LEN_MAX];
	uint32_t *pending_ack;        /* local slot indices, n_owned max */
	uint32_t n_pending_ack;
	struct dedup_entry *dedup;    /* records of dedup_fi */
	struct fifo_index dedup_fi;
	struct dedup_floor *floor;    /* records of floor_fi */
	struct fifo_index floor_fi;
	uint64_t next_timer_scan;
	uint16_t suspect;
	/* State transfer: slots waiting to start, and those snapshotting. */
	uint32_t n_xwait;
	uint32_t xscan;                   /* where to look for a waiting slot */
	uint32_t n_xactive;
	uint32_t xactive[XFER_SLOTS_MAX]; /* local slot indices */
	uint32_t xgen_next;
	uint32_t n_held;                  /* slots held, waiting for a floor */
	uint32_t n_fenced;                /* slots fenced (slot_state.hold) */
	int64_t xtokens;                  /* rate limit: bytes we may send */
	uint64_t xtokens_at;
	struct cat_chain_link_stats links[CAT_MAP_CHAINS_MAX];
	uint8_t scratch[CAT_WIRE_PAYLOAD_MAX_1500 * 7]; /* 9000-byte MTU */
	struct cat_chain_stats st;
};

/* ---- small helpers ---------------------------------------------------- */

/* An owned slot's index among the engine's slots, and its slot number. */
static inline uint32_t local_of(const struct cat_chain *ch,
				const struct slot_state *ss)
{
	return (uint32_t)(ss - ch->slots);
}

static inline uint32_t slot_of(const struct cat_chain *ch,
			       const struct slot_state *ss)
{
	return local_of(ch, ss) * ch->p.n_workers + ch->p.worker;
}

static inline int owned(const struct cat_chain *ch, uint32_t slot)
{
	return slot < ch->slot_count && slot % ch->p.n_workers == ch->p.worker;
}

static inline struct slot_state *sstate(struct cat_chain *ch, uint32_t slot)
{
	return &ch->slots[slot / ch->p.n_workers];
}

static inline void key_of(const struct cat_store *s, struct cat_key *k,
			  const struct cat_msg *m)
{
	cat_store_key(s, k, m->key, m->key_len);
}

/* Answer a client: the reply repeats op, ids, slot and key. */
static inline void reply(const struct cat_chain_io *io,
			 const struct cat_map *map, const struct cat_addr *to,
			 uint8_t op, uint32_t client_id, uint64_t seq,
			 uint16_t slot, const uint8_t *key, uint16_t key_len,
			 uint8_t status, uint64_t arg, const uint8_t *value,
			 uint32_t value_len)
{
	struct cat_msg r = {
		.op = op, .flags = CAT_F_REPLY, .status = status, .slot = slot,
		.epoch = map ? map->epoch : 0, .client_id = client_id,
		.seq = seq, .arg = arg, .key = key, .key_len = key_len,
		.value = value, .value_len = value_len,
	};

	if (to->ip != 0)
		io->to_client(io->arg, to, &r);
}

/* chain.c: the dedup table, the in-flight pool, FWD and pending ACKs.
 * Worker-only, like every function below: the slot owner's engine. */
int cat_chain_dedup_live(struct cat_chain *ch, const struct dedup_entry *d);
/* The next live entry of slot inserted at counter *pos or later (a
 * counter already dropped resumes at the oldest entry), or NULL. */
const struct dedup_entry *cat_chain_dedup_next(struct cat_chain *ch,
					       uint32_t slot, uint64_t *pos);
void cat_chain_dedup_insert(struct cat_chain *ch, uint32_t cid, uint64_t seq,
			    uint32_t slot, uint64_t rseq, uint8_t op,
			    uint8_t status, uint64_t arg, const uint8_t *value,
			    uint32_t value_len);
uint32_t cat_chain_inflight_alloc(struct cat_chain *ch, unsigned int cls);
void cat_chain_inflight_free(struct cat_chain *ch, uint32_t i);
int cat_chain_inflight_fill(struct cat_chain *ch, uint32_t i,
			    const struct cat_msg *m);
void cat_chain_send_fwd(struct cat_chain *ch, struct slot_state *ss,
			struct inflight *e, uint64_t now);
void cat_chain_pend(struct cat_chain *ch, struct slot_state *ss,
		    unsigned int bits);
void cat_chain_drain_fifo(struct cat_chain *ch, struct slot_state *ss,
			  int commit_and_reply);

/* chain_xfer.c: state transfer to a joining node, and the new tail's hold. */
void cat_chain_send_sync_req(struct cat_chain *ch, struct slot_state *ss,
			     uint64_t now);
void cat_chain_hold_set(struct cat_chain *ch, struct slot_state *ss, int on,
			uint64_t now);
void cat_chain_hold_check(struct cat_chain *ch, struct slot_state *ss,
			  uint64_t now);
void cat_chain_xfer_clear(struct cat_chain *ch, struct slot_state *ss);
void cat_chain_xfer_restart(struct cat_chain *ch, struct slot_state *ss);
void cat_chain_xfer_pump(struct cat_chain *ch, uint64_t now);
void cat_chain_on_snap_ack(struct cat_chain *ch, uint64_t now,
			   struct slot_state *ss, uint16_t from_node,
			   const struct cat_msg *m);
void cat_chain_on_snap(struct cat_chain *ch, struct slot_state *ss,
		       uint16_t from_node, const struct cat_msg *m);
void cat_chain_on_sync(struct cat_chain *ch, uint64_t now,
		       struct slot_state *ss, uint16_t from_node,
		       const struct cat_msg *m);
void cat_chain_on_sync_req(struct cat_chain *ch, struct slot_state *ss,
			   uint16_t from_node, const struct cat_msg *m);

/* In-flight entries of one slot linked through `next`, oldest first: the
 * writes kept for the successor, and apart from them the snapshot
 * messages kept for a joiner. */
static inline void cat_chain_list_push(struct cat_chain *ch, uint32_t *head,
				       uint32_t *tail, uint32_t *n, uint32_t i)
{
	if (*tail == NIL)
		*head = i;
	else
		ch->inflight[*tail].next = i;
	*tail = i;
	(*n)++;
}

static inline uint32_t cat_chain_list_pop(struct cat_chain *ch, uint32_t *head,
					  uint32_t *tail, uint32_t *n)
{
	uint32_t i = *head;

	*head = ch->inflight[i].next;
	if (*head == NIL)
		*tail = NIL;
	(*n)--;
	return i;
}

/* ---- the node's log (durability = log) ------------------------------ */

/* A write as its FWD says, applied here (head: executed; replica: in
 * order): the record replay applies to reach the same store. */
static inline void cat_chain_log_fwd(const struct cat_chain *ch,
				     const struct cat_wire_repl_fwd *f)
{
	struct cat_dlog_rec r = { .type = CAT_DLOG_NOOP, .slot = f->slot,
				  .version = f->n };

	if (ch->p.io.applied == NULL)
		return;
	if (f->ext.kind == CAT_WIRE_REPL_KIND_PUT) {
		r.type = CAT_DLOG_PUT;
		r.key = f->key;
		r.klen = f->key_len;
		r.value = f->payload;
		r.vlen = f->payload_len;
	} else if (f->ext.kind == CAT_WIRE_REPL_KIND_DEL) {
		r.type = CAT_DLOG_DEL;
		r.key = f->key;
		r.klen = f->key_len;
	}
	ch->p.io.applied(ch->p.io.arg, &r);
}

/* A snapshot item installed (whatever the slot's version). */
static inline void cat_chain_log_snap(const struct cat_chain *ch, uint16_t slot,
				      const uint8_t *key, uint16_t klen,
				      uint64_t version, const uint8_t *value,
				      uint32_t vlen)
{
	struct cat_dlog_rec r = { .type = CAT_DLOG_PUT, .slot = slot,
				  .version = version, .key = key, .klen = klen,
				  .value = value, .vlen = vlen };

	if (ch->p.io.applied != NULL)
		ch->p.io.applied(ch->p.io.arg, &r);
}

/* The slot's version set (type NOOP) or the slot emptied (CLEAR). */
static inline void cat_chain_log_slot(const struct cat_chain *ch, uint8_t type,
				      uint16_t slot, uint64_t version)
{
	struct cat_dlog_rec r = { .type = type, .slot = slot, .version = version };

	if (ch->p.io.applied != NULL)
		ch->p.io.applied(ch->p.io.arg, &r);
}

#endif /* CAT_CHAIN_INT_H */
