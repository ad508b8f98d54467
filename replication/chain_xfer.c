/*
 * State transfer of a slot to a node joining its chain, part of the chain
 * engine (chain.c): the tail's outbound stream (snapshot, dedup entries,
 * end; window, rate limit, retransmission), the joiner's inbound side, and
 * the read hold of a joiner turned tail until SYNC brings its floor. Runs
 * on the slot owner's worker; never blocks, never allocates.
 */
#include <stdint.h>
#include <string.h>

#include "replication/chain_int.h"

/* ---- state transfer: the tail streams a slot to a joining node -------- */

/* A slot's snapshot messages not yet acknowledged, oldest first. */
static void xfifo_push(struct cat_chain *ch, struct slot_state *ss, uint32_t i)
{
	cat_chain_list_push(ch, &ss->xout.fifo_head, &ss->xout.fifo_tail,
			    &ss->xout.n_unacked, i);
}

static uint32_t xfifo_pop(struct cat_chain *ch, struct slot_state *ss)
{
	return cat_chain_list_pop(ch, &ss->xout.fifo_head, &ss->xout.fifo_tail,
				  &ss->xout.n_unacked);
}

static void xactive_remove(struct cat_chain *ch, uint32_t li)
{
	for (uint32_t k = 0; k < ch->n_xactive; k++)
		if (ch->xactive[k] == li) {
			ch->xactive[k] = ch->xactive[--ch->n_xactive];
			return;
		}
}

/* Ask the predecessor for its floor (a held slot, until it answers). */
void cat_chain_send_sync_req(struct cat_chain *ch, struct slot_state *ss,
			     uint64_t now)
{
	struct cat_msg m = cat_wire_repl_sync_req((uint16_t)slot_of(ch, ss),
						  ch->map->epoch);

	ss->hold.asked_at = now;
	if (ss->role.pred == 0)
		return;
	ch->p.io.to_node(ch->p.io.arg, ss->role.pred, &m);
	ch->st.sync_requests++;
}

void cat_chain_hold_set(struct cat_chain *ch, struct slot_state *ss, int on,
			uint64_t now)
{
	if (ss->hold.held == !!on)
		return;
	ss->hold.held = (uint8_t)!!on;
	ss->hold.have_floor = 0;
	ss->hold.floor = 0;
	cat_store_slot_set_hold(ch->store, slot_of(ch, ss), on);
	if (on) {
		ch->n_held++;
		ss->hold.since = now;
	} else {
		uint64_t d = now > ss->hold.since ? now - ss->hold.since : 0;

		ch->n_held--;
		ch->st.hold_released++;
		ch->st.hold_ns_total += d;
		if (d > ch->st.hold_ns_max)
			ch->st.hold_ns_max = d;
	}
}

/* A held slot answers reads again once it has what its predecessor had
 * when it took us as successor (nothing upstream: it has all there is). */
void cat_chain_hold_check(struct cat_chain *ch, struct slot_state *ss,
			  uint64_t now)
{
	if (ss->hold.held && (ss->role.pred == 0 || (ss->hold.have_floor &&
	    cat_store_slot_version(ch->store, slot_of(ch, ss)) >= ss->hold.floor)))
		cat_chain_hold_set(ch, ss, 0, now);
}

/* Drop the outbound stream's own state: its unacknowledged snapshot
 * messages, its store cursor, its place among the active or waiting
 * slots. The writes kept in the fifo are the caller's business. */
void cat_chain_xfer_clear(struct cat_chain *ch, struct slot_state *ss)
{
	while (ss->xout.fifo_head != NIL)
		cat_chain_inflight_free(ch, xfifo_pop(ch, ss));
	if (ss->xout.phase == X_SNAP) {
		cat_store_snap_end(ch->store, slot_of(ch, ss));
		xactive_remove(ch, local_of(ch, ss));
	}
	if (ss->xout.phase == X_WAIT)
		ch->n_xwait--;
	ss->xout.phase = X_NONE;
	ss->xout.stage = 0;
}

/* Out of in-flight entries while a snapshot runs: give the writes kept
 * for the joiner up (they are committed here) and start the slot again
 * later with a new cut, rather than stall the chain's writes. */
void cat_chain_xfer_restart(struct cat_chain *ch, struct slot_state *ss)
{
	cat_chain_xfer_clear(ch, ss);
	cat_chain_drain_fifo(ch, ss, 0);
	ss->xout.phase = X_WAIT;
	ch->n_xwait++;
	ch->st.xfer_restarts++;
}

static void xfer_start(struct cat_chain *ch, struct slot_state *ss)
{
	uint32_t slot = slot_of(ch, ss);

	ch->n_xwait--;
	ch->xactive[ch->n_xactive++] = local_of(ch, ss);
	ss->xout.phase = X_SNAP;
	ss->xout.stage = 0;
	if (++ch->xgen_next == 0)
		ch->xgen_next = 1;
	ss->xout.gen = ch->xgen_next;
	ss->xout.cut = cat_store_slot_version(ch->store, slot);
	ss->xout.next_seq = 1;
	ss->xout.keys = 0;
	ss->xout.bytes = 0;
	cat_store_snap_begin(ch->store, slot);
	ch->st.xfer_started++;
}

static void xsend(struct cat_chain *ch, struct slot_state *ss,
		  struct inflight *e, uint64_t now)
{
	e->m.epoch = ch->map->epoch;
	e->last_sent = now;
	ch->p.io.to_node(ch->p.io.arg, ss->xout.to, &e->m);
}

static uint32_t xfer_window(const struct cat_chain *ch)
{
	uint32_t w = ch->p.xfer_window ? ch->p.xfer_window : 32u;
	uint32_t cap = ch->p.inflight_max / 4u / ch->p.xfer_slots;

	return w < cap ? w : (cap ? cap : 1u);
}

/* xout.stage: where a slot's snapshot is. */
enum { XS_ITEMS = 0, XS_END_QUEUED = 1, XS_STUCK = 2, XS_DEDUP = 3 };

/* A dedup entry as a SNAP_DEDUP value: what lets the joiner answer a
 * retried write the way the chain first did, should it become head. */
static uint32_t dedup_encode(const struct dedup_entry *d, uint8_t *buf)
{
	const struct cat_wire_repl_dedup w = {
		.client_id = d->client_id, .seq = d->seq, .rseq = d->rseq,
		.arg = d->arg, .op = d->op, .status = d->status,
		.value_len = d->value_len, .value = d->value,
	};

	/* Cannot fail: an entry keeps at most NUM_MAX value bytes. */
	return (uint32_t)cat_wire_repl_dedup_encode(&w, buf,
						    CAT_WIRE_REPL_DEDUP_MAX);
}

/* Send what the window and the rate allow of one slot's snapshot: its
 * items, then the requests the dedup table remembers for it, then the
 * end (with the cut). */
static void xfer_send(struct cat_chain *ch, struct slot_state *ss, uint64_t now)
{
	uint32_t slot = slot_of(ch, ss), win = xfer_window(ch), idx;
	uint64_t rate = __atomic_load_n(&ch->p.xfer_rate, __ATOMIC_RELAXED);
	uint8_t dbuf[CAT_WIRE_REPL_DEDUP_MAX];

	while ((ss->xout.stage == XS_ITEMS || ss->xout.stage == XS_DEDUP) &&
	       ss->xout.n_unacked < win && (rate == 0 || ch->xtokens > 0)) {
		const struct cat_item *it;
		const struct dedup_entry *d;
		struct cat_msg m;

		idx = cat_chain_inflight_alloc(ch, (unsigned int)ss->role.pos);
		if (idx == NIL) {
			/* With none of its stream in flight, no SNAP_ACK will
			 * free an entry for it; if the writes it keeps hold
			 * the pool, start it over so that they go. */
			if (ss->xout.n_unacked == 0 && ss->writes.n_inflight > 0)
				cat_chain_xfer_restart(ch, ss);
			return;
		}
		if (ss->xout.stage == XS_ITEMS) {
			if (cat_store_snap_next(ch->store, slot, &it) != 0) {
				cat_store_snap_end(ch->store, slot);
				ss->xout.stage = XS_DEDUP;
				ss->xout.dedup_pos = 0;
				cat_chain_inflight_free(ch, idx);
				continue;
			}
			struct cat_wire_repl_snap sn = {
				.slot = (uint16_t)slot, .epoch = ch->map->epoch,
				.gen = ss->xout.gen, .stream_seq = ss->xout.next_seq,
				.version = it->version, .key = cat_item_key(it),
				.key_len = it->key_len,
				.value = cat_item_value(it),
				.value_len = it->value_len,
			};

			cat_wire_repl_snap_encode(&sn, &m);
		} else if ((d = cat_chain_dedup_next(ch, slot,
						     &ss->xout.dedup_pos))) {
			m = cat_wire_repl_snap_dedup((uint16_t)slot,
						     ch->map->epoch, ss->xout.gen,
						     ss->xout.next_seq, dbuf,
						     dedup_encode(d, dbuf));
		} else {
			m = cat_wire_repl_snap_end((uint16_t)slot, ch->map->epoch,
						   ss->xout.gen, ss->xout.next_seq, ss->xout.cut);
			ss->xout.stage = XS_END_QUEUED;
		}
		if (cat_chain_inflight_fill(ch, idx, &m) != 0) {
			/* Cannot be sent, and skipping it would lose it at
			 * the joiner: the slot stays unfinished, counted. */
			cat_chain_inflight_free(ch, idx);
			ch->st.xfer_too_large++;
			ss->xout.stage = XS_STUCK;
			cat_store_snap_end(ch->store, slot);
			return;
		}
		ss->xout.next_seq++;
		xfifo_push(ch, ss, idx);
		xsend(ch, ss, &ch->inflight[idx], now);
		if (m.op == CAT_OP_R_SNAP) {
			ss->xout.keys++;
			ss->xout.bytes += (uint64_t)m.key_len + m.value_len;
			ch->st.xfer_snap_sent++;
		}
		ch->xtokens -= (int64_t)(CAT_WIRE_HDR_LEN + m.key_len + m.value_len);
	}
}

void cat_chain_xfer_pump(struct cat_chain *ch, uint64_t now)
{
	uint64_t rate = __atomic_load_n(&ch->p.xfer_rate, __ATOMIC_RELAXED);

	if (rate != 0) {
		uint64_t dt = now - ch->xtokens_at;
		int64_t burst = 65536 + 4 * (int64_t)ch->p.msg_max;

		uint64_t earned;

		if (dt > 1000000000ull)
			dt = 1000000000ull;
		earned = (uint64_t)((unsigned __int128)dt * rate / 1000000000u);
		/* A poll iteration at a low rate earns less than a byte:
		 * keep its time for the next, or the transfer never moves. */
		if (earned != 0 || dt == 1000000000ull) {
			ch->xtokens += (int64_t)earned;
			if (ch->xtokens > burst)
				ch->xtokens = burst;
			ch->xtokens_at = now;
		}
	}
	for (uint32_t n = 0; ch->n_xwait > 0 && ch->n_xactive < ch->p.xfer_slots &&
	     n < ch->n_owned; n++) {
		struct slot_state *ss = &ch->slots[ch->xscan];

		ch->xscan = ch->xscan + 1 < ch->n_owned ? ch->xscan + 1 : 0;
		if (ss->xout.phase == X_WAIT)
			xfer_start(ch, ss);
	}
	for (uint32_t k = 0; k < ch->n_xactive; k++) {
		struct slot_state *ss = &ch->slots[ch->xactive[k]];

		if (ss->xout.fifo_head != NIL &&
		    now - ch->inflight[ss->xout.fifo_head].last_sent >= ch->p.rto_ns) {
			/* Go-back-N, as for FWD: the joiner drops gaps. */
			for (uint32_t i = ss->xout.fifo_head; i != NIL;
			     i = ch->inflight[i].next) {
				xsend(ch, ss, &ch->inflight[i], now);
				ch->st.xfer_snap_retransmitted++;
			}
		}
		xfer_send(ch, ss, now);
	}
}

/* The joiner acknowledged snapshot messages up to m->seq. */
void cat_chain_on_snap_ack(struct cat_chain *ch, uint64_t now,
			   struct slot_state *ss, uint16_t from_node,
			   const struct cat_msg *m)
{
	if (from_node == 0 || from_node != ss->xout.to) {
		/* Only the joiner we stream to acknowledges the stream. */
		ch->st.ack_not_from_succ++;
		return;
	}
	if (ss->xout.phase != X_SNAP || m->client_id != ss->xout.gen) {
		ch->st.acks_stale++;
		return;
	}
	while (ss->xout.fifo_head != NIL &&
	       ch->inflight[ss->xout.fifo_head].m.seq <= m->seq)
		cat_chain_inflight_free(ch, xfifo_pop(ch, ss));
	if (ss->xout.stage != XS_END_QUEUED || ss->xout.fifo_head != NIL)
		return;
	/* The joiner has the snapshot: from now on it is our successor for
	 * FWD, starting with the writes kept since the cut, and what we ACK
	 * upstream waits for its ACKs. live_floor is what we have ACKed
	 * upstream already: once the joiner has that, it holds every write
	 * the chain's head may have let go of. */
	xactive_remove(ch, local_of(ch, ss));
	ss->xout.phase = X_LIVE;
	ss->role.succ = ss->xout.to;
	ss->xout.live_floor = ss->writes.committed;
	ss->xout.joiner_acked = ss->xout.cut;
	if (ss->xout.joiner_acked >= ss->xout.live_floor)
		ch->st.xfer_caught_up++;
	for (uint32_t i = ss->writes.fifo_head; i != NIL; i = ch->inflight[i].next) {
		cat_chain_send_fwd(ch, ss, &ch->inflight[i], now);
		ch->st.fwd_sent++;
	}
}

/* Joiner side: one snapshot message of the stream from our tail. */
void cat_chain_on_snap(struct cat_chain *ch, struct slot_state *ss,
		       uint16_t from_node, const struct cat_msg *m)
{
	uint32_t slot = slot_of(ch, ss);
	struct cat_key k;

	if (ss->role.pos != POS_JOINER || from_node == 0 ||
	    from_node != ss->role.pred || m->client_id == 0) {
		ch->st.drop_not_member++;
		return;
	}
	if (m->client_id != ss->xin.gen) {
		if (m->seq != 1) {
			ch->st.xfer_snap_gap++;
			return;
		}
		/* A new stream: whatever the slot held here is stale. */
		cat_store_slot_clear(ch->store, slot);
		cat_store_slot_set_version(ch->store, slot, 0);
		cat_chain_log_slot(ch, CAT_DLOG_CLEAR, (uint16_t)slot, 0);
		ss->dedup.gen++;
		ss->xin.gen = m->client_id;
		ss->xin.next_seq = 1;
		ss->xin.live = 0;
		ss->writes.committed = 0;
		ch->st.xfer_slot_resets++;
	}
	if (m->seq < ss->xin.next_seq) {
		ch->st.xfer_snap_duplicate++;
		cat_chain_pend(ch, ss, PEND_SNAP);
		return;
	}
	if (m->seq > ss->xin.next_seq) {
		ch->st.xfer_snap_gap++;
		return;
	}
	if (m->op == CAT_OP_R_SNAP) {
		struct cat_wire_repl_snap sn;

		if (cat_wire_repl_snap_decode(m, &sn) != 0) {
			ch->st.drop_bad_peer_msg++;
			return;
		}
		cat_store_key(ch->store, &k, sn.key, sn.key_len);
		if (k.slot != slot) {
			ch->st.drop_bad_peer_msg++;
			return;
		}
		if (cat_store_apply_snap(ch->store, &k, sn.version, sn.value,
					 sn.value_len) != 0) {
			ch->st.store_errors++; /* the tail sends it again */
			return;
		}
		cat_chain_log_snap(ch, (uint16_t)slot, sn.key, sn.key_len, sn.version,
				   sn.value, sn.value_len);
		ch->st.xfer_snap_applied++;
	} else if (m->op == CAT_OP_R_SNAP_DEDUP) {
		struct cat_wire_repl_dedup d;

		if (cat_wire_repl_dedup_decode(m->value, m->value_len, &d) != 0) {
			ch->st.drop_bad_peer_msg++;
			return;
		}
		cat_chain_dedup_insert(ch, d.client_id, d.seq, slot, d.rseq,
				       d.op, d.status, d.arg, d.value,
				       d.value_len);
	} else {
		/* The cut: the writes after it come as FWD, in order. */
		cat_store_slot_set_version(ch->store, slot, m->arg);
		ss->writes.committed = m->arg;
		ss->xin.live = 1;
		cat_chain_log_slot(ch, CAT_DLOG_NOOP, (uint16_t)slot, m->arg);
	}
	ss->xin.next_seq++;
	cat_chain_pend(ch, ss, PEND_SNAP);
}

/* Predecessor's floor: what a held slot must reach before it reads. Any
 * version a client was told is committed (by the old tail, before it
 * took the new map) is at or below the predecessor's applied version. */
void cat_chain_on_sync(struct cat_chain *ch, uint64_t now,
		       struct slot_state *ss, uint16_t from_node,
		       const struct cat_msg *m)
{
	if (from_node == 0 || from_node != ss->role.pred) {
		ch->st.fwd_not_from_pred++;
		return;
	}
	if (ss->hold.held && !ss->hold.have_floor) {
		ss->hold.floor = m->arg;
		ss->hold.have_floor = 1;
		cat_chain_hold_check(ch, ss, now);
	}
}

void cat_chain_on_sync_req(struct cat_chain *ch, struct slot_state *ss,
			   uint16_t from_node, const struct cat_msg *m)
{
	struct cat_msg r = cat_wire_repl_sync(m->slot, ch->map->epoch,
					      cat_store_slot_version(ch->store,
								     m->slot));

	if (from_node == 0 || from_node != ss->role.succ) {
		ch->st.ack_not_from_succ++;
		return;
	}
	ch->p.io.to_node(ch->p.io.arg, from_node, &r);
}
