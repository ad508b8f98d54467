/*
 * catena chain replication engine: sequencing at the head, in-order apply
 * and forwarding along the chain, commit at the tail, cumulative acks back,
 * go-back-N retransmission, per-client dedup, CRAQ reads. Runs on the slot
 * owner's worker for writes and peer messages, on any worker for reads.
 * Sans-I/O: never blocks, never allocates after create, never reads a clock.
 * This file is the core; state transfer to a joining node is chain_xfer.c,
 * the read path chain_read.c, their shared state chain_int.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "replication/chain.h"
#include "replication/chain_int.h"

/* ---- small helpers ---------------------------------------------------- */

static void reply_req(struct cat_chain *ch, const struct cat_addr *to,
		      const struct cat_msg *req, uint8_t status, uint64_t arg,
		      const uint8_t *value, uint32_t value_len)
{
	reply(&ch->p.io, ch->map, to, req->op, req->client_id, req->seq,
	      req->slot, req->key, req->key_len, status, arg, value, value_len);
	ch->st.client_replies++;
}

/* ---- dedup table -------------------------------------------------------- */

/* Top bit set: a cell holding it is never 0 (empty). */
static uint32_t mix32(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return (uint32_t)h | 0x80000000u;
}

static uint32_t dedup_hash(uint32_t cid, uint64_t seq)
{
	return mix32(((uint64_t)cid << 32) ^ seq ^ (seq >> 32) * 0x9e3779b9u);
}

#define FI_SWEEP 8u /* cells cleaned per insert: one cache line */

/* 0, or -ENOMEM. *records gets the record array size (a power of two). */
static int fi_init(struct fifo_index *fi, uint32_t cap, uint32_t *records)
{
	uint64_t n = 1;

	while (n < cap)
		n <<= 1;
	fi->cap = cap;
	fi->rmask = (uint32_t)(n - 1);
	/* At least 16 cells: a tiny FIFO's one stale cell per insert would
	 * otherwise leave no empty cell to end a probe. */
	fi->cmask = (uint32_t)((n < 8 ? 16 : 2 * n) - 1);
	fi->cell = calloc((size_t)fi->cmask + 1, sizeof(*fi->cell));
	*records = (uint32_t)n;
	return fi->cell ? 0 : -ENOMEM;
}

static inline int fi_live(const struct fifo_index *fi, uint64_t c)
{
	return (uint32_t)((uint32_t)fi->tail - 1u - (uint32_t)c) <
	       (uint32_t)(fi->tail - fi->head);
}

/* The next live record whose key hashes to h, probing from *i (start at
 * h & cmask); NIL at the end of the probe run. The caller compares keys. */
static inline uint32_t fi_next(const struct fifo_index *fi, uint32_t h,
			       uint32_t *i)
{
	for (uint64_t c; (c = fi->cell[*i]) != 0; *i = (*i + 1) & fi->cmask)
		if ((uint32_t)(c >> 32) == h && fi_live(fi, c)) {
			*i = (*i + 1) & fi->cmask;
			return (uint32_t)c & fi->rmask;
		}
	return NIL;
}

/* Empty cell i, moving back the later cells of its probe run that may
 * live there (their home is not cyclically in (i, j]). */
static void fi_del_at(struct fifo_index *fi, uint32_t i)
{
	fi->cell[i] = 0; /* the scan below ends here at the latest */
	for (uint32_t j = i;;) {
		uint32_t home;

		j = (j + 1) & fi->cmask;
		if (fi->cell[j] == 0)
			break;
		home = (uint32_t)(fi->cell[j] >> 32) & fi->cmask;
		if (((j - home) & fi->cmask) >= ((j - i) & fi->cmask)) {
			fi->cell[i] = fi->cell[j];
			fi->cell[j] = 0;
			i = j;
		}
	}
}

/* The record the oldest insertion holds, dropped from the FIFO. */
static inline uint32_t fi_pop(struct fifo_index *fi)
{
	return (uint32_t)fi->head++ & fi->rmask;
}

/* Room for a record under hash h (the caller made sure the key is absent
 * and, if full, popped): its array position. */
static uint32_t fi_push(struct fifo_index *fi, uint32_t h)
{
	uint32_t i = h & fi->cmask, pos = (uint32_t)fi->tail & fi->rmask;

	while (fi->cell[i] != 0 && fi_live(fi, fi->cell[i]))
		i = (i + 1) & fi->cmask;
	fi->cell[i] = (uint64_t)h << 32 | (uint32_t)fi->tail;
	fi->tail++;
	for (uint32_t k = 0; k < FI_SWEEP; k++) {
		uint64_t c = fi->cell[fi->sweep];

		if (c != 0 && !fi_live(fi, c))
			fi_del_at(fi, fi->sweep); /* look again: a cell moved in */
		else
			fi->sweep = (fi->sweep + 1) & fi->cmask;
	}
	return pos;
}

static inline int fi_full(const struct fifo_index *fi)
{
	return fi->tail - fi->head == fi->cap;
}

/* An entry still about this node's copy of its slot. */
int cat_chain_dedup_live(struct cat_chain *ch, const struct dedup_entry *d)
{
	return d->rseq != 0 && d->dgen == sstate(ch, d->slot)->dedup.gen;
}

static struct dedup_entry *dedup_lookup(struct cat_chain *ch, uint32_t cid,
					uint64_t seq)
{
	uint32_t h = dedup_hash(cid, seq), i = h & ch->dedup_fi.cmask, pos;

	while ((pos = fi_next(&ch->dedup_fi, h, &i)) != NIL) {
		struct dedup_entry *e = &ch->dedup[pos];

		if (e->client_id == cid && e->seq == seq)
			return e;
	}
	return NULL;
}

static struct dedup_floor *floor_lookup(struct cat_chain *ch, uint32_t cid)
{
	uint32_t h = mix32(cid), i = h & ch->floor_fi.cmask, pos;

	while ((pos = fi_next(&ch->floor_fi, h, &i)) != NIL)
		if (ch->floor[pos].client_id == cid)
			return &ch->floor[pos];
	return NULL;
}

/* The client's writes up to seq may have been forgotten. Floors go oldest
 * first when as many clients have one as the table has entries (counted):
 * a retry of such a client finds no floor and runs again. */
static void floor_raise(struct cat_chain *ch, uint32_t cid, uint64_t seq)
{
	struct dedup_floor *f = floor_lookup(ch, cid);

	if (f == NULL) {
		if (fi_full(&ch->floor_fi)) {
			fi_pop(&ch->floor_fi);
			ch->st.dedup_floor_drops++;
		}
		f = &ch->floor[fi_push(&ch->floor_fi, mix32(cid))];
		f->client_id = cid;
		f->seq = seq;
	} else if (seq > f->seq) {
		f->seq = seq;
	}
}

/* A write the table does not know, from a client some of whose writes at
 * or above seq it forgot: it may be a retry of one of those. Clients number
 * their requests upwards (docs/PROTOCOL.md), so a first try is never below
 * the floor. */
static int dedup_forgotten(struct cat_chain *ch, uint32_t cid, uint64_t seq)
{
	const struct dedup_floor *f;

	if (ch->floor_fi.tail == ch->floor_fi.head || (cid == 0 && seq == 0))
		return 0;
	f = floor_lookup(ch, cid);
	return f != NULL && seq <= f->seq;
}

/* Remember (cid, seq) in e, the entry dedup_lookup found for it, or in a
 * new one if it found none. */
static void dedup_put(struct cat_chain *ch, struct dedup_entry *e,
		      uint32_t cid, uint64_t seq, uint32_t slot, uint64_t rseq,
		      uint8_t op, uint8_t status, uint64_t arg,
		      const uint8_t *value, uint32_t value_len)
{
	if (cid == 0 && seq == 0)
		return;
	if (e == NULL) {
		if (fi_full(&ch->dedup_fi)) {
			e = &ch->dedup[fi_pop(&ch->dedup_fi)];
			/* An entry of a slot this node dropped speaks of
			 * nothing it could be asked about. */
			if (cat_chain_dedup_live(ch, e)) {
				ch->st.dedup_evictions++;
				floor_raise(ch, e->client_id, e->seq);
			}
		}
		e = &ch->dedup[fi_push(&ch->dedup_fi, dedup_hash(cid, seq))];
	}
	e->client_id = cid;
	e->seq = seq;
	e->slot = slot;
	e->rseq = rseq;
	e->op = op;
	e->status = status;
	e->arg = arg;
	e->dgen = sstate(ch, slot)->dedup.gen;
	e->value_len = value_len <= NUM_MAX ? (uint8_t)value_len : 0;
	if (e->value_len)
		memcpy(e->value, value, e->value_len);
}

void cat_chain_dedup_insert(struct cat_chain *ch, uint32_t cid, uint64_t seq,
			    uint32_t slot, uint64_t rseq, uint8_t op,
			    uint8_t status, uint64_t arg, const uint8_t *value,
			    uint32_t value_len)
{
	dedup_put(ch, dedup_lookup(ch, cid, seq), cid, seq, slot, rseq, op,
		  status, arg, value, value_len);
}

const struct dedup_entry *cat_chain_dedup_next(struct cat_chain *ch,
					       uint32_t slot, uint64_t *pos)
{
	const struct fifo_index *fi = &ch->dedup_fi;

	if (*pos < fi->head)
		*pos = fi->head;
	for (; *pos < fi->tail; (*pos)++) {
		const struct dedup_entry *d = &ch->dedup[*pos & fi->rmask];

		if (d->slot == slot && cat_chain_dedup_live(ch, d)) {
			(*pos)++;
			return d;
		}
	}
	return NULL;
}

/* ---- in-flight entries ------------------------------------------------ */

/*
 * An in-flight entry for a write kept at chain position cls (0: the head
 * ordering a client write; p: a member at position p keeping a FWD for
 * its successor, or a tail keeping one for its joiner).
 *
 * The pool is shared by every slot of the worker, and an entry at
 * position p is freed only once the successor, at position p + 1, took the
 * write, which may need an entry there. With one pool for all positions
 * nodes could wait on each other in a cycle (rotated chains make every
 * node a middle of several). So every position past the head that this
 * node holds and that uses nothing yet keeps one entry for itself: waits
 * then only go from a position to a higher one, and the last position
 * (a tail, or a joiner) never waits, so every write can move on. The
 * reservation needs a pool larger than the positions a node holds
 * (chains are at most 8 long; the smallest configurable pool is 16).
 */
uint32_t cat_chain_inflight_alloc(struct cat_chain *ch, unsigned int cls)
{
	uint32_t i = ch->free_head, reserved = 0;

	if (i == NIL)
		return NIL;
	for (unsigned int q = 1; q < CAT_MAP_CHAIN_LEN_MAX; q++)
		reserved += q != cls && ch->cls_present[q] && ch->cls_used[q] == 0;
	if (reserved >= ch->p.inflight_max)
		reserved = ch->p.inflight_max - 1; /* a pool too small to keep them */
	if (ch->p.inflight_max - ch->n_inflight <= reserved) {
		ch->st.inflight_reserved++;
		return NIL;
	}
	ch->free_head = ch->inflight[i].next;
	ch->inflight[i].next = NIL;
	ch->inflight[i].cls = (uint8_t)cls;
	ch->cls_used[cls]++;
	ch->n_inflight++;
	return i;
}

void cat_chain_inflight_free(struct cat_chain *ch, uint32_t i)
{
	ch->cls_used[ch->inflight[i].cls]--;
	ch->inflight[i].next = ch->free_head;
	ch->free_head = i;
	ch->n_inflight--;
}

/* A slot's writes in flight, oldest first. */
static void fifo_push(struct cat_chain *ch, struct slot_state *ss, uint32_t i)
{
	cat_chain_list_push(ch, &ss->writes.fifo_head, &ss->writes.fifo_tail,
			    &ss->writes.n_inflight, i);
}

static uint32_t fifo_pop(struct cat_chain *ch, struct slot_state *ss)
{
	return cat_chain_list_pop(ch, &ss->writes.fifo_head, &ss->writes.fifo_tail,
				  &ss->writes.n_inflight);
}

/* Copy a FWD message into an in-flight entry (its own key/value bytes). */
int cat_chain_inflight_fill(struct cat_chain *ch, uint32_t i,
			    const struct cat_msg *m)
{
	struct inflight *e = &ch->inflight[i];

	if ((size_t)m->key_len + m->value_len > ch->p.msg_max)
		return -EMSGSIZE;
	e->m = *m;
	if (m->key_len)
		memcpy(e->buf, m->key, m->key_len);
	if (m->value_len)
		memcpy(e->buf + m->key_len, m->value, m->value_len);
	e->m.key = e->buf;
	e->m.value = e->buf + m->key_len;
	e->seq = m->arg;
	e->retries = 0;
	e->last_sent = 0;
	return 0;
}

static struct cat_chain_link_stats *link_of(struct cat_chain *ch,
					     uint32_t slot)
{
	return &ch->links[ch->map->slot_chain[slot]];
}

void cat_chain_send_fwd(struct cat_chain *ch, struct slot_state *ss,
			struct inflight *e, uint64_t now)
{
	if (e->retries == 0 && e->last_sent == 0)
		link_of(ch, e->m.slot)->forwarded++;
	else
		link_of(ch, e->m.slot)->retransmitted++;
	e->m.epoch = ch->map->epoch;
	e->last_sent = now;
	ch->p.io.to_node(ch->p.io.arg, ss->role.succ, &e->m);
}

/* Owe the predecessor an ACK (and what else bits say) at the next flush. */
void cat_chain_pend(struct cat_chain *ch, struct slot_state *ss,
		    unsigned int bits)
{
	if (ss->role.pred == 0)
		return;
	ss->writes.ack_pending |= (uint8_t)bits;
	if (!(ss->writes.ack_pending & PEND_LISTED)) {
		ss->writes.ack_pending |= PEND_LISTED;
		ch->pending_ack[ch->n_pending_ack++] = (uint32_t)(ss - ch->slots);
	}
}

static void pending_ack(struct cat_chain *ch, struct slot_state *ss)
{
	cat_chain_pend(ch, ss, PEND_ACK);
}

/* Reply to the client of a committed FWD (tail, or a node turning tail). */
static void reply_committed(struct cat_chain *ch, const struct cat_msg *fwd)
{
	struct cat_wire_repl_fwd f;
	uint32_t plen;

	if (cat_wire_repl_fwd_decode(fwd, &f) != 0 || f.ext.client.ip == 0)
		return;
	/* Only INCR's reply carries a value: the new number. */
	plen = f.ext.client_op == CAT_OP_INCR && f.status == CAT_ST_OK ?
	       f.payload_len : 0;
	reply(&ch->p.io, ch->map, &f.ext.client, f.ext.client_op, f.client_id,
	      f.client_seq, f.slot, f.key, f.key_len, f.status,
	      f.ext.reply_arg, f.payload, plen);
	ch->st.client_replies++;
	ch->st.tail_replies++;
}

/* Commit an in-flight entry's write in the store (it left the chain). */
static void commit_entry(struct cat_chain *ch, struct inflight *e)
{
	struct cat_key k;

	if (e->m.key_len == 0)
		return;
	key_of(ch->store, &k, &e->m);
	cat_store_commit(ch->store, &k, e->seq);
	ch->st.commits++;
}

/* ---- lifecycle -------------------------------------------------------- */

struct cat_chain *cat_chain_create(const struct cat_chain_params *p)
{
	struct cat_chain *ch;
	uint32_t n;

	if (p == NULL || p->store == NULL || p->n_workers == 0 ||
	    p->worker >= p->n_workers || p->inflight_max == 0 ||
	    p->msg_max < CAT_WIRE_KEY_MAX + CAT_WIRE_REPL_EXT_LEN ||
	    p->msg_max > sizeof(((struct cat_chain *)0)->scratch) ||
	    p->io.to_node == NULL || p->io.to_client == NULL) {
		errno = EINVAL;
		return NULL;
	}
	ch = calloc(1, sizeof(*ch));
	if (ch == NULL)
		return NULL;
	ch->p = *p;
	ch->store = p->store;
	ch->slot_count = cat_store_slot_count(p->store);
	ch->n_owned = (ch->slot_count + p->n_workers - 1) / p->n_workers;
	ch->slots = calloc(ch->n_owned, sizeof(*ch->slots));
	ch->pending_ack = calloc(ch->n_owned, sizeof(*ch->pending_ack));
	ch->inflight = calloc(p->inflight_max, sizeof(*ch->inflight));
	ch->bufs = malloc((size_t)p->inflight_max * p->msg_max);
	if (fi_init(&ch->dedup_fi, p->dedup_max ? p->dedup_max : 1, &n) == 0)
		ch->dedup = calloc(n, sizeof(*ch->dedup));
	if (fi_init(&ch->floor_fi, p->dedup_max ? p->dedup_max : 1, &n) == 0)
		ch->floor = calloc(n, sizeof(*ch->floor));
	if (!ch->slots || !ch->pending_ack || !ch->inflight || !ch->bufs ||
	    !ch->dedup || !ch->floor) {
		cat_chain_destroy(ch);
		errno = ENOMEM;
		return NULL;
	}
	if (ch->p.xfer_slots == 0)
		ch->p.xfer_slots = 2;
	if (ch->p.xfer_slots > XFER_SLOTS_MAX)
		ch->p.xfer_slots = XFER_SLOTS_MAX;
	for (uint32_t i = 0; i < ch->n_owned; i++) {
		ch->slots[i].writes.fifo_head = ch->slots[i].writes.fifo_tail = NIL;
		ch->slots[i].xout.fifo_head = ch->slots[i].xout.fifo_tail = NIL;
		ch->slots[i].role.pos = -1;
	}
	for (uint32_t i = 0; i < p->inflight_max; i++) {
		ch->inflight[i].buf = ch->bufs + (size_t)i * p->msg_max;
		ch->inflight[i].next = i + 1 < p->inflight_max ? i + 1 : NIL;
	}
	ch->free_head = 0;
	return ch;
}

void cat_chain_destroy(struct cat_chain *ch)
{
	if (ch == NULL)
		return;
	free(ch->slots);
	free(ch->pending_ack);
	free(ch->inflight);
	free(ch->bufs);
	free(ch->dedup);
	free(ch->dedup_fi.cell);
	free(ch->floor);
	free(ch->floor_fi.cell);
	free(ch);
}

const struct cat_map *cat_chain_map(const struct cat_chain *ch)
{
	return ch->map;
}

const struct cat_chain_stats *cat_chain_stats(const struct cat_chain *ch)
{
	return &ch->st;
}

uint32_t cat_chain_inflight(const struct cat_chain *ch)
{
	return ch->n_inflight;
}

uint64_t cat_chain_slot_applied(const struct cat_chain *ch, uint32_t slot)
{
	return cat_store_slot_version(ch->store, slot);
}

uint64_t cat_chain_slot_committed(const struct cat_chain *ch, uint32_t slot)
{
	if (!owned(ch, slot))
		return 0;
	return ch->slots[slot / ch->p.n_workers].writes.committed;
}

void cat_chain_link_stats(const struct cat_chain *ch, uint32_t ci,
			  struct cat_chain_link_stats *out, uint32_t *in_flight)
{
	uint32_t n = 0;

	memset(out, 0, sizeof(*out));
	if (ci >= CAT_MAP_CHAINS_MAX)
		return;
	out->forwarded = __atomic_load_n(&ch->links[ci].forwarded, __ATOMIC_RELAXED);
	out->retransmitted = __atomic_load_n(&ch->links[ci].retransmitted, __ATOMIC_RELAXED);
	out->acked = __atomic_load_n(&ch->links[ci].acked, __ATOMIC_RELAXED);
	out->dropped_epoch = __atomic_load_n(&ch->links[ci].dropped_epoch, __ATOMIC_RELAXED);
	if (in_flight != NULL) {
		const struct cat_map *map = __atomic_load_n(&ch->map, __ATOMIC_ACQUIRE);

		for (uint32_t li = 0; map != NULL && li < ch->n_owned; li++) {
			uint32_t slot = li * ch->p.n_workers + ch->p.worker;

			if (slot < map->slot_count && map->slot_chain[slot] == ci)
				n += __atomic_load_n(&ch->slots[li].writes.n_inflight,
						     __ATOMIC_RELAXED);
		}
		*in_flight = n;
	}
}

void cat_chain_xfer_progress(const struct cat_chain *ch, uint32_t ci,
			     struct cat_chain_xfer_progress *out)
{
	const struct cat_map *map = __atomic_load_n(&ch->map, __ATOMIC_ACQUIRE);

	for (uint32_t li = 0; map != NULL && li < ch->n_owned; li++) {
		uint32_t slot = li * ch->p.n_workers + ch->p.worker;
		const struct slot_state *ss = &ch->slots[li];
		uint8_t ph = __atomic_load_n(&ss->xout.phase, __ATOMIC_RELAXED);

		if (slot >= map->slot_count || map->slot_chain[slot] != ci)
			continue;
		if (__atomic_load_n(&ss->xout.to, __ATOMIC_RELAXED) != 0) {
			out->slots++;
			out->snapshotting += ph == X_SNAP;
			out->caught_up += ph == X_LIVE &&
				__atomic_load_n(&ss->xout.joiner_acked, __ATOMIC_RELAXED) >=
				__atomic_load_n(&ss->xout.live_floor, __ATOMIC_RELAXED);
			out->keys += __atomic_load_n(&ss->xout.keys, __ATOMIC_RELAXED);
			if (ph == X_LIVE) {
				uint64_t a = cat_store_slot_version(ch->store, slot);
				uint64_t j = __atomic_load_n(&ss->xout.joiner_acked, __ATOMIC_RELAXED);

				out->lag += a > j ? a - j : 0;
			}
			out->bytes += __atomic_load_n(&ss->xout.bytes, __ATOMIC_RELAXED);
		}
		if (__atomic_load_n(&ss->role.pos, __ATOMIC_RELAXED) == POS_JOINER) {
			out->joining++;
			out->joined += __atomic_load_n(&ss->xin.live, __ATOMIC_RELAXED);
		}
		out->held += __atomic_load_n(&ss->hold.held, __ATOMIC_RELAXED);
	}
}

void cat_chain_set_xfer_rate(struct cat_chain *ch, uint64_t bytes_per_s)
{
	__atomic_store_n(&ch->p.xfer_rate, bytes_per_s, __ATOMIC_RELAXED);
}

uint16_t cat_chain_suspect_peer(const struct cat_chain *ch)
{
	return __atomic_load_n(&ch->suspect, __ATOMIC_RELAXED); /* the agent reads it */
}

/* Drop a slot's in-flight entries, committing them first when this node
 * is now the end of the chain (it holds the newest state there is). */
void cat_chain_drain_fifo(struct cat_chain *ch, struct slot_state *ss,
			  int commit_and_reply)
{
	while (ss->writes.fifo_head != NIL) {
		uint32_t i = fifo_pop(ch, ss);
		struct inflight *e = &ch->inflight[i];

		commit_entry(ch, e);
		if (commit_and_reply) {
			reply_committed(ch, &e->m);
			if (e->seq > ss->writes.committed)
				ss->writes.committed = e->seq;
		}
		cat_chain_inflight_free(ch, i);
	}
}

/*
 * A member of slot's chain at the old map that answered reads there (its
 * tail; with CRAQ, any member) is not in the slot's chain at the new map:
 * cut off, it may still answer reads at the old epoch until its read lease
 * runs out (replication/lease.h).
 */
static int reader_left(const struct cat_map *old, const struct cat_map *map,
		       uint32_t slot, uint16_t self)
{
	const struct cat_map_chain *oc = cat_map_slot_chain(old, slot);
	const struct cat_map_chain *nc = cat_map_slot_chain(map, slot);

	for (uint8_t i = 0; i < oc->len; i++) {
		uint16_t id = oc->nodes[i];

		if (id == self || (!old->craq && i != oc->len - 1))
			continue;
		if (cat_map_chain_pos(nc, id) < 0)
			return 1;
	}
	return 0;
}

static void fence_start(struct cat_chain *ch, struct slot_state *ss,
			uint64_t now)
{
	ss->hold.fenced = 1;
	ss->hold.fence_until = now + ch->p.fence_ns;
	ch->n_fenced++;
	ch->st.fences++;
	cat_store_slot_set_fence(ch->store, slot_of(ch, ss), 1);
}

/*
 * The end of the chain now: everything held is committed, by the rule that
 * the tail's state is the committed one. During a snapshot the fifo holds
 * the writes kept for the joiner, committed and answered already.
 */
static void commit_as_tail(struct cat_chain *ch, struct slot_state *ss)
{
	uint32_t slot = slot_of(ch, ss);

	if (ss->xout.phase != X_SNAP)
		cat_chain_drain_fifo(ch, ss, 1);
	ss->writes.committed = cat_store_slot_version(ch->store, slot);
	cat_store_slot_set_dirty_mode(ch->store, slot, 0);
	pending_ack(ch, ss);
}

/* The fence is over (as_tail: the tail commits what it kept, as on
 * becoming tail), or the slot is no longer the chain's end. */
static void fence_end(struct cat_chain *ch, struct slot_state *ss,
		      int as_tail)
{
	ss->hold.fenced = 0;
	ch->n_fenced--;
	cat_store_slot_set_fence(ch->store, slot_of(ch, ss), 0);
	if (as_tail)
		commit_as_tail(ch, ss);
}

/* What a map makes this node in one slot's chain. */
struct new_role {
	int pos;              /* -1: not a member */
	int joiner;           /* not a member: the chain's joiner */
	int is_tail;
	uint16_t pred, succ;  /* from the map (a live joiner comes later) */
	uint16_t jto;         /* the tail's joiner to stream to, 0 = none */
};

static void role_in_map(const struct cat_chain *ch, const struct cat_map *map,
			uint32_t slot, struct new_role *r)
{
	const struct cat_map_chain *c = cat_map_slot_chain(map, slot);

	r->pos = cat_map_chain_pos(c, ch->p.node_id);
	r->joiner = r->pos < 0 && c->joining == ch->p.node_id;
	r->is_tail = r->pos >= 0 && r->pos == c->len - 1;
	r->pred = 0;
	r->succ = 0;
	r->jto = r->is_tail ? c->joining : 0;
	if (r->pos >= 0) {
		r->pred = r->pos > 0 ? c->nodes[r->pos - 1] : 0;
		r->succ = r->pos + 1 < c->len ? c->nodes[r->pos + 1] : 0;
	} else if (r->joiner) {
		r->pred = cat_map_chain_tail(c);
	}
}

/* Outbound stream: it goes on while we stay the tail and the joiner
 * stays; it is handed over when the joiner became our successor after its
 * snapshot; otherwise it stops. Returns the successor FWDs go to: succ, or
 * the joiner once it is live. */
static uint16_t xout_follow_map(struct cat_chain *ch, struct slot_state *ss,
				uint16_t jto, uint16_t succ)
{
	if (ss->xout.to != 0 && ss->xout.to != jto) {
		int handover = succ == ss->xout.to && ss->xout.phase == X_LIVE;

		cat_chain_xfer_clear(ch, ss);
		if (!handover)
			/* committed here already */
			cat_chain_drain_fifo(ch, ss, 0);
		ss->xout.to = 0;
	}
	if (jto != 0 && ss->xout.to == 0) {
		ss->xout.to = jto;
		ss->xout.phase = X_WAIT;
		ch->n_xwait++;
	}
	if (ss->xout.to != 0 && ss->xout.phase == X_LIVE)
		return ss->xout.to;
	return succ;
}

/* Left the chain (nothing here is ours to answer), or joining it (nothing
 * in flight until the snapshot). */
static void leave_chain(struct cat_chain *ch, struct slot_state *ss,
			uint32_t slot, int joiner, int was_in, uint64_t now)
{
	cat_chain_hold_set(ch, ss, 0, now);
	cat_chain_drain_fifo(ch, ss, 0);
	cat_store_slot_set_dirty_mode(ch->store, slot, 0);
	if (!joiner && was_in) {
		/* The chain has the slot without us: our copy would only go
		 * stale (a slot that moved away, a node taken out).
		 * Rejoining starts from a snapshot anyway. */
		cat_store_slot_clear(ch->store, slot);
		cat_store_slot_set_version(ch->store, slot, 0);
		cat_chain_log_slot(ch, CAT_DLOG_CLEAR, (uint16_t)slot, 0);
		ss->writes.committed = 0;
		ss->dedup.gen++;
		ch->st.slots_dropped++;
	}
}

/* A joiner that became tail may lack the last writes its old tail
 * committed: no reads until it has caught up with the floor its
 * predecessor sends (SYNC). */
static void hold_follow_map(struct cat_chain *ch, struct slot_state *ss,
			    int was_joiner, int new_pred, uint64_t now)
{
	if (was_joiner)
		cat_chain_hold_set(ch, ss, 1, now);
	if (ss->hold.held && (was_joiner || new_pred)) {
		ss->hold.have_floor = 0; /* a new predecessor: ask it */
		cat_chain_send_sync_req(ch, ss, now);
	}
	cat_chain_hold_check(ch, ss, now);
}

/* The end of the chain under the new map: commit what it holds, unless a
 * node that answered reads left the chain and may not know yet; then
 * commit nothing until its lease is over (cat_chain_on_timer). */
static void end_chain(struct cat_chain *ch, struct slot_state *ss,
		      const struct cat_map *old, const struct cat_map *map,
		      uint32_t slot, uint64_t now)
{
	if (!ss->hold.fenced && ch->p.fence_ns != 0 && old != NULL &&
	    reader_left(old, map, slot, ch->p.node_id))
		fence_start(ch, ss, now);
	if (ss->hold.fenced) {
		cat_store_slot_set_dirty_mode(ch->store, slot, 0);
		return;
	}
	commit_as_tail(ch, ss);
}

/* A member with a successor: keeps versions dirty unless it is a tail
 * streaming to a live joiner (it still answers reads and clients). A new
 * successor may lack anything not committed: resend all of it; it drops
 * what it has. */
static void forward_after_map(struct cat_chain *ch, struct slot_state *ss,
			      uint32_t slot, int new_succ, uint64_t now)
{
	cat_store_slot_set_dirty_mode(ch->store, slot, !ss->role.is_tail);
	if (new_succ || ss->writes.fifo_head != NIL) {
		for (uint32_t i = ss->writes.fifo_head; i != NIL;
		     i = ch->inflight[i].next) {
			cat_chain_send_fwd(ch, ss, &ch->inflight[i], now);
			ch->st.fwd_retransmitted++;
		}
	}
	if (ss->role.pred != 0)
		pending_ack(ch, ss);
}

/* One owned slot under the new map. */
static void slot_set_map(struct cat_chain *ch, const struct cat_map *old,
			 const struct cat_map *map, uint32_t slot, uint64_t now)
{
	struct slot_state *ss = sstate(ch, slot);
	int was_joiner = ss->role.pos == POS_JOINER;
	int was_member = ss->role.pos >= 0;
	uint16_t old_succ = ss->role.succ, old_pred = ss->role.pred;
	struct new_role r;

	role_in_map(ch, map, slot, &r);
	if (r.pos >= 0 && (r.succ != 0 || r.jto != 0))
		ch->cls_present[r.pos] = 1; /* keeps entries here */
	r.succ = xout_follow_map(ch, ss, r.jto, r.succ);
	/* Inbound stream: from another tail, it starts over. */
	if (!r.joiner || r.pred != old_pred) {
		ss->xin.gen = 0;
		ss->xin.next_seq = 0;
		ss->xin.live = 0;
	}

	ss->role.pos = (int8_t)(r.joiner ? POS_JOINER : r.pos);
	ss->role.pred = r.pred;
	ss->role.succ = r.succ;
	ss->role.is_tail = (uint8_t)r.is_tail;
	if (ss->hold.fenced && (r.pos < 0 || r.succ != 0))
		/* Not the end of the chain any more: what the fifo keeps
		 * goes to the successor, or is dropped below. */
		fence_end(ch, ss, 0);
	if (r.pos < 0) {
		leave_chain(ch, ss, slot, r.joiner, was_member || was_joiner,
			    now);
		return;
	}
	hold_follow_map(ch, ss, was_joiner, r.pred != old_pred, now);
	if (r.succ == 0)
		end_chain(ch, ss, old, map, slot, now);
	else
		forward_after_map(ch, ss, slot, r.succ != old_succ, now);
}

void cat_chain_set_map(struct cat_chain *ch, const struct cat_map *map,
		       uint64_t now)
{
	/* The slot count is fixed at cluster creation; the agent refuses
	 * such a map before it gets here, and so does the engine. */
	const struct cat_map *old = ch->map;

	if (map->slot_count != ch->slot_count)
		return;
	__atomic_store_n(&ch->map, map, __ATOMIC_RELEASE); /* telemetry reads it */
	__atomic_store_n(&ch->suspect, 0, __ATOMIC_RELAXED);
	if (ch->xgen_next == 0)
		ch->xgen_next = (uint32_t)(now >> 10) | 1u; /* differs per run */
	memset(ch->cls_present, 0, sizeof(ch->cls_present));
	for (uint32_t slot = ch->p.worker; slot < ch->slot_count;
	     slot += ch->p.n_workers)
		slot_set_map(ch, old, map, slot, now);
}

/* ---- the head: ordering client writes ----------------------------------- */

/* A write this node does not order (answered RETRY or MOVED): no map yet
 * or not our slot, a client ahead of our epoch, or not the head. */
static int not_ours_to_order(struct cat_chain *ch, const struct cat_addr *from,
			     const struct cat_msg *req)
{
	const struct cat_map *map = ch->map;

	if (map == NULL || !owned(ch, req->slot)) {
		reply_req(ch, from, req, CAT_ST_RETRY, 0, NULL, 0);
		return 1;
	}
	if (req->epoch > map->epoch) {
		ch->st.retry_epoch_ahead++;
		reply_req(ch, from, req, CAT_ST_RETRY, 0, NULL, 0);
		return 1;
	}
	if (sstate(ch, req->slot)->role.pos != 0) {
		ch->st.moved++;
		reply_req(ch, from, req, CAT_ST_MOVED,
			  cat_map_chain_head(cat_map_slot_chain(map, req->slot)),
			  NULL, 0);
		return 1;
	}
	return 0;
}

/* A retry of a write the dedup table knows (answered with the original
 * outcome once committed, dropped while in flight), or of one it forgot
 * (OUTCOME_UNKNOWN): never run twice. known: dedup_lookup's find. */
static int answered_as_retry(struct cat_chain *ch, struct slot_state *ss,
			     const struct cat_addr *from,
			     const struct cat_msg *req,
			     const struct dedup_entry *known)
{
	const struct dedup_entry *d =
		known != NULL && cat_chain_dedup_live(ch, known) ? known : NULL;

	if (d != NULL && d->slot == req->slot && d->op == req->op) {
		if (d->rseq <= ss->writes.committed) {
			ch->st.dup_committed++;
			reply_req(ch, from, req, d->status, d->arg, d->value,
				  d->value_len);
		} else {
			/* The tail answers when it commits. */
			ch->st.dup_in_flight++;
		}
		return 1;
	}
	if (dedup_forgotten(ch, req->client_id, req->seq)) {
		ch->st.outcome_unknown++;
		reply_req(ch, from, req, CAT_ST_OUTCOME_UNKNOWN, 0, NULL, 0);
		return 1;
	}
	return 0;
}

/* An in-flight entry to keep the write for the successor, or for a
 * joiner whose snapshot runs (*idx stays NIL when nobody downstream needs
 * it). 0, or -EBUSY with the client answered RETRY: the pool is full. */
static int take_entry_for_write(struct cat_chain *ch, struct slot_state *ss,
				const struct cat_addr *from,
				const struct cat_msg *req, uint32_t *idx)
{
	if (ss->role.succ == 0 && ss->xout.phase != X_SNAP)
		return 0;
	*idx = cat_chain_inflight_alloc(ch, (unsigned int)ss->role.pos);
	if (*idx != NIL)
		return 0;
	if (ss->role.succ == 0) {
		/* The snapshot's kept writes fill the pool: start it over
		 * rather than refuse the write. */
		cat_chain_xfer_restart(ch, ss);
		return 0;
	}
	ch->st.retry_inflight_full++;
	reply_req(ch, from, req, CAT_ST_RETRY, 0, NULL, 0);
	return -EBUSY;
}

/* Run req against the newest state: the store's result (0 or negative
 * errno), f's reply arg and what the FWD carries after the extension. */
static int execute(struct cat_chain *ch, const struct cat_msg *req,
		   const struct cat_key *kin, struct cat_wire_repl_fwd *f,
		   uint8_t num[NUM_MAX])
{
	uint64_t *ver = &f->ext.reply_arg;
	struct cat_key k;
	int64_t result;
	int rc;

	if (kin != NULL)
		k = *kin;
	else
		key_of(ch->store, &k, req);
	switch (req->op) {
	case CAT_OP_PUT:
		f->payload = req->value;
		f->payload_len = req->value_len;
		return cat_store_put(ch->store, &k, req->value, req->value_len,
				     ver);
	case CAT_OP_DEL:
		return cat_store_del(ch->store, &k, ver);
	case CAT_OP_CAS:
		if (req->flags & CAT_F_CAS_VALUE) {
			uint32_t elen = (uint32_t)req->arg;

			f->payload = req->value + elen;
			f->payload_len = req->value_len - elen;
			return cat_store_cas_value(ch->store, &k, req->value,
						   elen, f->payload,
						   f->payload_len, ver);
		}
		f->payload = req->value;
		f->payload_len = req->value_len;
		return cat_store_cas(ch->store, &k, req->arg, f->payload,
				     f->payload_len, ver);
	case CAT_OP_INCR:
		rc = cat_store_incr(ch->store, &k, (int64_t)req->arg, &result,
				    ver);
		if (rc == 0) {
			f->payload_len = cat_wire_i64_format(result, num);
			f->payload = num;
		}
		return rc;
	default:
		return -EINVAL;
	}
}

/* What the chain orders for the store's result rc: a put or a delete, or
 * a no-op carrying the failed outcome's status (it still takes its place
 * in the order, so the tail answers it only after everything before it).
 * Returns 0, or rc when nothing changed and nothing is to be ordered. */
static int outcome_of(int rc, uint8_t op, struct cat_wire_repl_fwd *f)
{
	switch (rc) {
	case 0:
		f->ext.kind = op == CAT_OP_DEL ? CAT_WIRE_REPL_KIND_DEL :
			      CAT_WIRE_REPL_KIND_PUT;
		if (f->ext.kind == CAT_WIRE_REPL_KIND_DEL)
			f->payload_len = 0;
		return 0;
	case -ENOENT:
		f->status = CAT_ST_NOT_FOUND;
		f->ext.reply_arg = 0;
		break;
	case -ECANCELED:
		f->status = CAT_ST_CAS_FAILED; /* reply_arg: current version */
		break;
	case -EDOM:
		f->status = CAT_ST_NOT_A_NUMBER;
		break;
	case -ERANGE:
		f->status = CAT_ST_OVERFLOW;
		break;
	default:
		return rc;
	}
	f->ext.kind = CAT_WIRE_REPL_KIND_NOOP;
	f->payload_len = 0;
	return 0;
}

/* Keep in-flight entry idx (filled) for the successor, and send it. */
static void keep_and_forward(struct cat_chain *ch, struct slot_state *ss,
			     uint32_t idx, uint64_t now)
{
	fifo_push(ch, ss, idx);
	if (ss->role.succ != 0) {
		cat_chain_send_fwd(ch, ss, &ch->inflight[idx], now);
		ch->st.fwd_sent++;
	}
}

/* Head and tail at once (a chain of one): the write is committed as it
 * is ordered. A joiner gets it too (kept during its snapshot, sent
 * after), and once it is live its ACK is what counts as committed. */
static void commit_at_head(struct cat_chain *ch, struct slot_state *ss,
			   const struct cat_addr *from,
			   const struct cat_msg *req,
			   const struct cat_wire_repl_fwd *f)
{
	/* Only INCR's reply carries a value: the new number. */
	int incr_ok = req->op == CAT_OP_INCR && f->status == CAT_ST_OK;

	if (ss->role.succ == 0)
		ss->writes.committed = f->n;
	ch->st.commits++;
	ch->st.tail_replies++;
	reply_req(ch, from, req, f->status, f->ext.reply_arg,
		  incr_ok ? f->payload : NULL, incr_ok ? f->payload_len : 0);
}

/* The ordered write as FWD f in in-flight entry idx (encoded in the
 * scratch buffer, copied into the entry), kept and sent on. */
static void forward_write(struct cat_chain *ch, struct slot_state *ss,
			  uint32_t idx, struct cat_wire_repl_fwd *f,
			  uint64_t now)
{
	struct cat_msg m;

	f->epoch = ch->map->epoch;
	if (cat_wire_repl_fwd_encode(f, ch->scratch, sizeof(ch->scratch),
				     &m) != 0 ||
	    cat_chain_inflight_fill(ch, idx, &m) != 0) {
		/* Cannot happen: check_request bounds the request and
		 * msg_max covers it. Never leave a hole. */
		cat_chain_inflight_free(ch, idx);
		ch->st.store_errors++;
		return;
	}
	keep_and_forward(ch, ss, idx, now);
}

void cat_chain_on_write(struct cat_chain *ch, uint64_t now,
			const struct cat_addr *from, const struct cat_msg *req,
			const struct cat_key *k)
{
	/* The outcome, built as the FWD that carries it down the chain. */
	struct cat_wire_repl_fwd f = {
		.slot = req->slot, .client_id = req->client_id,
		.client_seq = req->seq, .status = CAT_ST_OK, .key = req->key,
		.key_len = req->key_len,
		.ext = { .client_op = req->op, .client = *from },
	};
	uint8_t num[NUM_MAX];
	struct slot_state *ss;
	struct dedup_entry *known;
	uint32_t idx = NIL;
	int rc;

	if (not_ours_to_order(ch, from, req))
		return;
	ss = sstate(ch, req->slot);
	/* Looked up once: the insert below reuses what was found. */
	known = dedup_lookup(ch, req->client_id, req->seq);
	if (answered_as_retry(ch, ss, from, req, known))
		return;
	if (ss->hold.fenced) {
		/* Head and tail at once, waiting out a leaver's lease: a
		 * write answered now could be missing from its reads. */
		ch->st.retry_fenced++;
		reply_req(ch, from, req, CAT_ST_RETRY, 0, NULL, 0);
		return;
	}
	if (take_entry_for_write(ch, ss, from, req, &idx) != 0)
		return;

	rc = outcome_of(execute(ch, req, k, &f, num), req->op, &f);
	if (rc != 0) {
		/* Out of memory: nothing changed, nothing to order. */
		if (idx != NIL)
			cat_chain_inflight_free(ch, idx);
		ch->st.store_errors++;
		reply_req(ch, from, req, rc == -EINVAL ? CAT_ST_BAD_REQUEST :
			  CAT_ST_NO_SPACE, 0, NULL, 0);
		return;
	}
	/* A no-op takes the next number; a write took it in the store. */
	f.n = f.status != CAT_ST_OK ? cat_store_slot_bump(ch->store, req->slot) :
	      cat_store_slot_version(ch->store, req->slot);
	cat_chain_log_fwd(ch, &f);
	ch->st.writes_sequenced++;
	dedup_put(ch, known, req->client_id, req->seq, req->slot, f.n,
		  req->op, f.status, f.ext.reply_arg,
		  req->op == CAT_OP_INCR ? f.payload : NULL,
		  req->op == CAT_OP_INCR ? f.payload_len : 0);

	if (ss->role.is_tail) {
		commit_at_head(ch, ss, from, req, &f);
		if (idx == NIL)
			return;
	}
	forward_write(ch, ss, idx, &f, now);
}

/* ---- replicas: applying forwards, passing acks back --------------------- */

/* FWD m is the next write for this replica (decoded into *f): from our
 * predecessor, once a joiner's snapshot has ended, well-formed, and
 * neither a duplicate (re-acknowledged) nor past a gap. Counts why not. */
static int fwd_is_next(struct cat_chain *ch, struct slot_state *ss,
		       uint16_t from_node, const struct cat_msg *m,
		       struct cat_wire_repl_fwd *f)
{
	uint64_t applied = cat_store_slot_version(ch->store, m->slot);

	if (from_node == 0 || from_node != ss->role.pred) {
		ch->st.fwd_not_from_pred++;
		return 0;
	}
	if (ss->role.pos == POS_JOINER && !ss->xin.live) {
		ch->st.xfer_fwd_early++;
		return 0;
	}
	if (cat_wire_repl_fwd_decode(m, f) != 0) {
		ch->st.drop_bad_peer_msg++;
		return 0;
	}
	if (f->n <= applied) {
		/* Our ack was lost or is late: say again where we are. */
		ch->st.fwd_duplicate++;
		pending_ack(ch, ss);
		return 0;
	}
	if (f->n != applied + 1) {
		ch->st.fwd_gap++;
		return 0;
	}
	return 1;
}

/* An in-flight entry to keep FWD m for the successor, a joiner's
 * snapshot, or the end of a fence (*idx stays NIL when nothing needs
 * it). 0, or -EBUSY (dropped and counted: the predecessor resends). */
static int take_entry_for_fwd(struct cat_chain *ch, struct slot_state *ss,
			      const struct cat_msg *m, uint32_t *idx)
{
	if (ss->role.succ != 0 || ss->xout.phase == X_SNAP || ss->hold.fenced) {
		*idx = cat_chain_inflight_alloc(ch, (unsigned int)ss->role.pos);
		if (*idx == NIL && ss->role.succ == 0 && !ss->hold.fenced) {
			cat_chain_xfer_restart(ch, ss);
		} else if (*idx == NIL) {
			ch->st.fwd_no_inflight++;
			return -EBUSY;
		}
	}
	if (*idx != NIL && (size_t)m->key_len + m->value_len > ch->p.msg_max) {
		/* Too large to keep for the successor, so it could never be
		 * resent: refuse it before applying (only a node with a larger
		 * MTU than ours could send it). Counted; it stalls visibly. */
		cat_chain_inflight_free(ch, *idx);
		ch->st.drop_bad_peer_msg++;
		return -EBUSY;
	}
	return 0;
}

/* Apply FWD f to the store: 0, or -EINVAL (key of another slot) or the
 * store's error (memory: the predecessor resends it), counted. */
static int fwd_apply(struct cat_chain *ch, const struct cat_wire_repl_fwd *f)
{
	struct cat_key k;
	int rc;

	cat_store_key(ch->store, &k, f->key, f->key_len);
	if (k.slot != f->slot) {
		ch->st.drop_bad_peer_msg++;
		return -EINVAL;
	}
	switch (f->ext.kind) {
	case CAT_WIRE_REPL_KIND_PUT:
		rc = cat_store_apply_put(ch->store, &k, f->n, f->payload,
					 f->payload_len);
		break;
	case CAT_WIRE_REPL_KIND_DEL:
		rc = cat_store_apply_del(ch->store, &k, f->n);
		break;
	default:
		rc = cat_store_apply_noop(ch->store, f->slot, f->n);
		break;
	}
	if (rc != 0)
		ch->st.store_errors++;
	else
		cat_chain_log_fwd(ch, f);
	return rc;
}

static void on_fwd(struct cat_chain *ch, uint64_t now, struct slot_state *ss,
		   uint16_t from_node, const struct cat_msg *m)
{
	struct cat_wire_repl_fwd f;
	uint32_t idx = NIL;

	if (!fwd_is_next(ch, ss, from_node, m, &f) ||
	    take_entry_for_fwd(ch, ss, m, &idx) != 0)
		return;
	if (fwd_apply(ch, &f) != 0) {
		if (idx != NIL)
			cat_chain_inflight_free(ch, idx);
		return;
	}
	ch->st.fwd_applied++;
	cat_chain_dedup_insert(ch, f.client_id, f.client_seq, f.slot, f.n,
			       f.ext.client_op, f.status, f.ext.reply_arg,
			       f.payload, f.ext.client_op == CAT_OP_INCR ?
			       f.payload_len : 0);

	cat_chain_hold_check(ch, ss, now);
	if (ss->hold.fenced) {
		/* Kept in the fifo, committed and answered when the fence
		 * ends (cat_chain_on_timer). */
	} else if (ss->role.succ == 0) {
		/* Tail (or joiner): nobody further down to wait for. */
		ss->writes.committed = f.n;
		pending_ack(ch, ss);
	}
	if (ss->role.is_tail && !ss->hold.fenced) {
		ch->st.commits++;
		reply_committed(ch, m);
	}
	if (idx == NIL)
		return;
	/* fits: checked before the apply */
	cat_chain_inflight_fill(ch, idx, m);
	keep_and_forward(ch, ss, idx, now);
}

static void on_ack(struct cat_chain *ch, struct slot_state *ss,
		   uint16_t from_node, const struct cat_msg *m)
{
	if (from_node == 0 || from_node != ss->role.succ) {
		ch->st.ack_not_from_succ++;
		return;
	}
	if (m->arg > cat_store_slot_version(ch->store, m->slot)) {
		/* Acking what we never sent: a confused peer. */
		ch->st.drop_bad_peer_msg++;
		return;
	}
	/* Even an ACK at or below our commit point frees what it covers: a
	 * tail with a live joiner committed its writes before the joiner
	 * acknowledged them. */
	while (ss->writes.fifo_head != NIL &&
	       ch->inflight[ss->writes.fifo_head].seq <= m->arg) {
		uint32_t i = fifo_pop(ch, ss);

		commit_entry(ch, &ch->inflight[i]);
		cat_chain_inflight_free(ch, i);
	}
	if (ss->xout.phase == X_LIVE && m->arg > ss->xout.joiner_acked) {
		if (ss->xout.joiner_acked < ss->xout.live_floor &&
		    m->arg >= ss->xout.live_floor)
			ch->st.xfer_caught_up++;
		ss->xout.joiner_acked = m->arg;
	}
	if (m->arg <= ss->writes.committed) {
		ch->st.acks_stale++;
		return;
	}
	ch->st.acks_received++;
	link_of(ch, m->slot)->acked++;
	ss->writes.committed = m->arg;
	if (ch->suspect == ss->role.succ)
		__atomic_store_n(&ch->suspect, 0, __ATOMIC_RELAXED);
	pending_ack(ch, ss);
}

void cat_chain_on_peer(struct cat_chain *ch, uint64_t now, uint16_t from_node,
		       const struct cat_msg *m)
{
	struct slot_state *ss;

	if (ch->map == NULL || !owned(ch, m->slot)) {
		ch->st.drop_not_member++;
		return;
	}
	if (m->epoch != ch->map->epoch) {
		ch->st.drop_epoch++;
		if (m->slot < ch->map->slot_count)
			link_of(ch, m->slot)->dropped_epoch++;
		return;
	}
	ss = sstate(ch, m->slot);
	if (ss->role.pos == -1) {
		ch->st.drop_not_member++;
		return;
	}
	switch (m->op) {
	case CAT_OP_R_FWD:
		on_fwd(ch, now, ss, from_node, m);
		break;
	case CAT_OP_R_ACK:
		on_ack(ch, ss, from_node, m);
		break;
	case CAT_OP_R_SNAP:
	case CAT_OP_R_SNAP_END:
	case CAT_OP_R_SNAP_DEDUP:
		cat_chain_on_snap(ch, ss, from_node, m);
		break;
	case CAT_OP_R_SNAP_ACK:
		cat_chain_on_snap_ack(ch, now, ss, from_node, m);
		break;
	case CAT_OP_R_SYNC:
		cat_chain_on_sync(ch, now, ss, from_node, m);
		break;
	case CAT_OP_R_SYNC_REQ:
		cat_chain_on_sync_req(ch, ss, from_node, m);
		break;
	default:
		ch->st.drop_bad_peer_msg++;
		break;
	}
}

void cat_chain_on_timer(struct cat_chain *ch, uint64_t now)
{
	/* Scanning every owned slot is cheap but not free: do it a few times
	 * per timeout, not every poll iteration. */
	if (ch->map == NULL)
		return;
	if (ch->n_xwait != 0 || ch->n_xactive != 0)
		cat_chain_xfer_pump(ch, now);
	if (ch->n_fenced != 0)
		for (uint32_t li = 0; li < ch->n_owned; li++)
			if (ch->slots[li].hold.fenced && now >= ch->slots[li].hold.fence_until)
				fence_end(ch, &ch->slots[li], 1);
	if ((ch->n_inflight == 0 && ch->n_held == 0) ||
	    now < ch->next_timer_scan)
		return;
	ch->next_timer_scan = now + ch->p.rto_ns / 4;
	for (uint32_t li = 0; li < ch->n_owned; li++) {
		struct slot_state *ss = &ch->slots[li];
		struct inflight *first;

		if (ss->hold.held && !ss->hold.have_floor &&
		    now - ss->hold.asked_at >= ch->p.rto_ns)
			cat_chain_send_sync_req(ch, ss, now);
		if (ss->writes.fifo_head == NIL || ss->role.succ == 0)
			continue;
		first = &ch->inflight[ss->writes.fifo_head];
		if (now - first->last_sent < ch->p.rto_ns)
			continue;
		/* Go-back-N: the successor drops anything after a gap, so
		 * everything from the oldest unacked entry goes again. */
		first->retries++;
		if (first->retries == ch->p.suspect_after) {
			ch->st.peer_suspect++;
			__atomic_store_n(&ch->suspect, ss->role.succ, __ATOMIC_RELAXED);
		}
		for (uint32_t i = ss->writes.fifo_head; i != NIL;
		     i = ch->inflight[i].next) {
			cat_chain_send_fwd(ch, ss, &ch->inflight[i], now);
			ch->st.fwd_retransmitted++;
		}
	}
}

void cat_chain_flush(struct cat_chain *ch, uint64_t now)
{
	(void)now;
	for (uint32_t n = 0; n < ch->n_pending_ack; n++) {
		struct slot_state *ss = &ch->slots[ch->pending_ack[n]];
		uint32_t slot = ch->pending_ack[n] * ch->p.n_workers + ch->p.worker;
		unsigned int bits = ss->writes.ack_pending;

		ss->writes.ack_pending = 0;
		if (ss->role.pred == 0)
			continue;
		if ((bits & PEND_ACK) && ss->writes.committed != 0) {
			struct cat_msg a = cat_wire_repl_ack((uint16_t)slot,
							     ch->map->epoch,
							     ss->writes.committed);

			ch->p.io.to_node(ch->p.io.arg, ss->role.pred, &a);
			ch->st.acks_sent++;
		}
		if ((bits & PEND_SNAP) && ss->xin.gen != 0) {
			struct cat_msg a = cat_wire_repl_snap_ack((uint16_t)slot,
								  ch->map->epoch,
								  ss->xin.gen,
								  ss->xin.next_seq - 1);

			ch->p.io.to_node(ch->p.io.arg, ss->role.pred, &a);
		}
	}
	ch->n_pending_ack = 0;
}
