/*
 * The chain engine's read path: GET at the tail or, with CRAQ, at any
 * member, which asks the tail (VQUERY/VRESP) which version counts when its
 * newest is dirty. Runs on any worker and takes no engine, only the map,
 * the store and the caller's counters; never blocks, never allocates.
 */
#include <errno.h>

#include "replication/chain_int.h"

/* ---- reads: any worker ------------------------------------------------- */

/* Read-path counters: the caller passes its own worker's stats. */
#define COUNT(st, f) do { if ((st) != NULL) (st)->f++; } while (0)

static void read_reply_item(const struct cat_map *map,
			    const struct cat_chain_io *io,
			    const struct cat_addr *to, const struct cat_msg *m,
			    int rc, const struct cat_item *it)
{
	if (rc == 0)
		reply(io, map, to, CAT_OP_GET, m->client_id, m->seq, m->slot,
		      m->key, m->key_len, CAT_ST_OK, it->version,
		      cat_item_value(it), it->value_len);
	else
		reply(io, map, to, CAT_OP_GET, m->client_id, m->seq, m->slot,
		      m->key, m->key_len, CAT_ST_NOT_FOUND, 0, NULL, 0);
}

/* What every step of one read needs: the request, where this node is in
 * the slot's chain, and where to answer and count. */
struct read_ctx {
	const struct cat_map *map;
	const struct cat_map_chain *c;
	int pos;                      /* this node's, -1: not a member */
	struct cat_store *store;
	const struct cat_chain_io *io;
	struct cat_chain_stats *stats;
	const struct cat_msg *m;
	struct cat_key k;
	/* A burst's bulk lookup already found the newest live version (or
	 * none): the tail answers with it (cat_chain_read_get). */
	int have_it;
	const struct cat_item *it;
};

static int is_tail(const struct read_ctx *r)
{
	return r->pos == r->c->len - 1;
}

static void reply_get(const struct read_ctx *r, const struct cat_addr *to,
		      uint8_t status, uint64_t arg)
{
	const struct cat_msg *m = r->m;

	reply(r->io, r->map, to, m->op, m->client_id, m->seq, m->slot, m->key,
	      m->key_len, status, arg, NULL, 0);
}

/* Why this node must not answer a GET now (a RETRY or MOVED reply sent,
 * counted), or 0 if it may. */
static int get_refused(const struct read_ctx *r, const struct cat_addr *from,
		       uint16_t self, const struct cat_lease *lease,
		       uint64_t now)
{
	if (r->m->epoch > r->map->epoch) {
		COUNT(r->stats, retry_epoch_ahead);
		reply_get(r, from, CAT_ST_RETRY, 0);
		return 1;
	}
	if (r->pos < 0 || (!is_tail(r) && !r->map->craq)) {
		COUNT(r->stats, moved);
		reply_get(r, from, CAT_ST_MOVED, cat_map_chain_tail(r->c));
		return 1;
	}
	if (cat_store_slot_held(r->store, r->m->slot)) {
		/* A new tail still short of what its predecessor committed,
		 * or waiting out a leaver's lease: its answer could be
		 * stale. */
		COUNT(r->stats, read_held);
		reply_get(r, from, CAT_ST_RETRY, 0);
		return 1;
	}
	if (lease != NULL && !cat_lease_valid(lease, r->map, r->c, self, now)) {
		/* Not heard from the chain at our epoch lately: it may have
		 * gone on without us. */
		COUNT(r->stats, read_no_lease);
		reply_get(r, from, CAT_ST_RETRY, 0);
		return 1;
	}
	return 0;
}

/* CRAQ at a replica whose newest version is dirty: ask the tail which
 * version counts; its VRESP brings the client's address back. */
static void ask_tail(const struct read_ctx *r, const struct cat_addr *from)
{
	const struct cat_msg *m = r->m;
	struct cat_wire_repl_vquery vq = {
		.slot = m->slot, .epoch = r->map->epoch,
		.client_id = m->client_id, .client_seq = m->seq,
		.key = m->key, .key_len = m->key_len,
		.ext = { .kind = CAT_WIRE_REPL_KIND_NONE,
			 .client_op = CAT_OP_GET, .client = *from },
	};
	uint8_t buf[CAT_WIRE_REPL_EXT_LEN];
	struct cat_msg q;

	cat_wire_repl_vquery_encode(&vq, buf, &q);
	COUNT(r->stats, craq_version_queries);
	r->io->to_node(r->io->arg, cat_map_chain_tail(r->c), &q);
}

static void read_get(const struct read_ctx *r, const struct cat_addr *from,
		     uint16_t self, const struct cat_lease *lease, uint64_t now)
{
	const struct cat_item *it = NULL;
	int rc;

	if (get_refused(r, from, self, lease, now))
		return;
	if (is_tail(r)) {
		if (r->have_it) {
			it = r->it;
			rc = it != NULL ? 0 : -ENOENT;
		} else {
			rc = cat_store_get(r->store, &r->k, &it);
		}
		read_reply_item(r->map, r->io, from, r->m, rc, it);
		return;
	}
	/* CRAQ at a replica: a clean newest version (or no version at all)
	 * is the committed state; a dirty one, tombstones included, means
	 * asking the tail which version counts. */
	rc = cat_store_get_newest(r->store, &r->k, &it);
	if (rc != 0 || !(cat_item_flags(it) & CAT_ITEM_DIRTY)) {
		if (rc == 0 && (cat_item_flags(it) & CAT_ITEM_TOMBSTONE))
			rc = -ENOENT;
		COUNT(r->stats, craq_clean_reads);
		read_reply_item(r->map, r->io, from, r->m, rc, it);
		return;
	}
	ask_tail(r, from);
}

/* The tail names the committed version of a key a replica found dirty. */
static void read_vquery(const struct read_ctx *r, uint16_t from_node)
{
	const struct cat_item *it = NULL;
	struct cat_msg resp;
	int rc;

	if (!is_tail(r)) {
		COUNT(r->stats, drop_not_member);
		return;
	}
	if (cat_store_slot_held(r->store, r->m->slot)) {
		COUNT(r->stats, read_held); /* the replica asks again */
		return;
	}
	rc = cat_store_get(r->store, &r->k, &it);
	resp = cat_wire_repl_vresp(r->m, rc == 0 ? it->version : 0);
	r->io->to_node(r->io->arg, from_node, &resp);
}

/* The version the tail named, as this replica holds it (rc 0, *it), or
 * -ENOENT. */
static int item_at(const struct read_ctx *r, uint64_t version,
		   const struct cat_item **it)
{
	int rc = version == 0 ? -ENOENT :
		 cat_store_get_at(r->store, &r->k, version, it);

	if (rc == -ENOENT && version != 0 &&
	    cat_store_get_newest(r->store, &r->k, it) == 0 &&
	    (*it)->version > version) {
		/* An ACK overtook the VRESP: a newer version was committed
		 * since the tail answered, and the one it named is already
		 * trimmed. The committed version now is as good an answer:
		 * it was committed after this read began (found by the
		 * simulator, seed 1614). */
		const struct cat_item *i = *it;

		while (i != NULL && (cat_item_flags(i) & CAT_ITEM_DIRTY))
			i = __atomic_load_n(&i->prev, __ATOMIC_ACQUIRE);
		*it = i;
		rc = i != NULL && !(cat_item_flags(i) & CAT_ITEM_TOMBSTONE) ?
		     0 : -ENOENT;
	}
	return rc;
}

/* The tail's answer to our VQUERY: now the client gets its reply. */
static void read_vresp(const struct read_ctx *r, uint16_t from_node,
		       int decoded, const struct cat_wire_repl_vquery *vq)
{
	const struct cat_item *it = NULL;
	int rc;

	if (from_node != cat_map_chain_tail(r->c)) {
		/* Only the tail answers VQUERY: a version named by another
		 * member is not known to be committed. */
		COUNT(r->stats, drop_not_member);
		return;
	}
	if (decoded != 0) {
		COUNT(r->stats, drop_bad_peer_msg);
		return;
	}
	rc = item_at(r, vq->version, &it);
	read_reply_item(r->map, r->io, &vq->ext.client, r->m, rc, it);
}

void cat_chain_read_get(const struct cat_map *map, uint16_t self,
			struct cat_store *store, const struct cat_chain_io *io,
			const struct cat_addr *from, const struct cat_msg *m,
			const struct cat_key *k, int have_it,
			const struct cat_item *it, struct cat_chain_stats *stats,
			const struct cat_lease *lease, uint64_t now)
{
	struct read_ctx r = {
		.map = map, .store = store, .io = io, .stats = stats, .m = m,
		.k = *k, .have_it = have_it, .it = it,
	};

	if (map == NULL || m->slot >= map->slot_count)
		return;
	r.c = cat_map_slot_chain(map, m->slot);
	r.pos = cat_map_chain_pos(r.c, self);
	read_get(&r, from, self, lease, now);
}

void cat_chain_read(const struct cat_map *map, uint16_t self,
		    struct cat_store *store, const struct cat_chain_io *io,
		    const struct cat_addr *from, uint16_t from_node,
		    const struct cat_msg *m, struct cat_chain_stats *stats,
		    const struct cat_lease *lease, uint64_t now)
{
	struct read_ctx r = {
		.map = map, .store = store, .io = io, .stats = stats, .m = m,
	};
	struct cat_wire_repl_vquery vq;
	int decoded;

	if (map == NULL || m->slot >= map->slot_count)
		return;
	r.c = cat_map_slot_chain(map, m->slot);
	r.pos = cat_map_chain_pos(r.c, self);
	cat_store_key(store, &r.k, m->key, m->key_len);

	if (m->op == CAT_OP_GET) {
		read_get(&r, from, self, lease, now);
		return;
	}
	/* VQUERY / VRESP between replicas of this epoch. */
	if (m->epoch != map->epoch) {
		COUNT(stats, drop_epoch);
		return;
	}
	decoded = cat_wire_repl_vquery_decode(m, &vq);
	if (r.pos < 0 || from_node == 0 ||
	    cat_map_chain_pos(r.c, from_node) < 0 || decoded == -EMSGSIZE) {
		COUNT(stats, drop_not_member);
		return;
	}
	if (m->op == CAT_OP_R_VQUERY)
		read_vquery(&r, from_node);
	else if (m->op == CAT_OP_R_VRESP)
		read_vresp(&r, from_node, decoded, &vq);
	else
		COUNT(stats, drop_bad_peer_msg);
}
