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

void cat_chain_read(const struct cat_map *map, uint16_t self,
		    struct cat_store *store, const struct cat_chain_io *io,
		    const struct cat_addr *from, uint16_t from_node,
		    const struct cat_msg *m, struct cat_chain_stats *stats,
		    const struct cat_lease *lease, uint64_t now)
{
	const struct cat_map_chain *c;
	const struct cat_item *it = NULL;
	struct cat_key k;
	int pos, rc;

	if (map == NULL || m->slot >= map->slot_count)
		return;
	c = cat_map_slot_chain(map, m->slot);
	pos = cat_map_chain_pos(c, self);
	cat_store_key(store, &k, m->key, m->key_len);

	if (m->op == CAT_OP_GET) {
		if (m->epoch > map->epoch) {
			COUNT(stats, retry_epoch_ahead);
			reply(io, map, from, m->op, m->client_id, m->seq, m->slot,
			      m->key, m->key_len, CAT_ST_RETRY, 0, NULL, 0);
			return;
		}
		if (pos < 0 || (pos != c->len - 1 && !map->craq)) {
			COUNT(stats, moved);
			reply(io, map, from, m->op, m->client_id, m->seq, m->slot,
			      m->key, m->key_len, CAT_ST_MOVED,
			      cat_map_chain_tail(c), NULL, 0);
			return;
		}
		if (cat_store_slot_held(store, m->slot)) {
			/* A new tail still short of what its predecessor
			 * committed, or waiting out a leaver's lease: its
			 * answer could be stale. */
			COUNT(stats, read_held);
			reply(io, map, from, m->op, m->client_id, m->seq, m->slot,
			      m->key, m->key_len, CAT_ST_RETRY, 0, NULL, 0);
			return;
		}
		if (lease != NULL && !cat_lease_valid(lease, map, c, self, now)) {
			/* Not heard from the chain at our epoch lately: it
			 * may have gone on without us. */
			COUNT(stats, read_no_lease);
			reply(io, map, from, m->op, m->client_id, m->seq, m->slot,
			      m->key, m->key_len, CAT_ST_RETRY, 0, NULL, 0);
			return;
		}
		if (pos == c->len - 1) {
			rc = cat_store_get(store, &k, &it);
			read_reply_item(map, io, from, m, rc, it);
			return;
		}
		/* CRAQ at a replica: a clean newest version (or no version
		 * at all) is the committed state; a dirty one, tombstones
		 * included, means asking the tail which version counts. */
		rc = cat_store_get_newest(store, &k, &it);
		if (rc != 0 || !(cat_item_flags(it) & CAT_ITEM_DIRTY)) {
			if (rc == 0 && (cat_item_flags(it) & CAT_ITEM_TOMBSTONE))
				rc = -ENOENT;
			COUNT(stats, craq_clean_reads);
			read_reply_item(map, io, from, m, rc, it);
			return;
		}
		{
			struct ext e = { .kind = KIND_NONE, .client_op = CAT_OP_GET,
					 .client = *from };
			uint8_t buf[EXT_LEN];
			struct cat_msg q = {
				.op = CAT_OP_R_VQUERY, .slot = m->slot,
				.epoch = map->epoch, .client_id = m->client_id,
				.seq = m->seq, .key = m->key,
				.key_len = m->key_len, .value = buf,
				.value_len = EXT_LEN,
			};

			ext_write(buf, &e);
			COUNT(stats, craq_version_queries);
			io->to_node(io->arg, cat_map_chain_tail(c), &q);
		}
		return;
	}

	/* VQUERY / VRESP between replicas of this epoch. */
	if (m->epoch != map->epoch) {
		COUNT(stats, drop_epoch);
		return;
	}
	if (pos < 0 || from_node == 0 ||
	    cat_map_chain_pos(c, from_node) < 0 || m->key_len == 0 ||
	    m->value_len < EXT_LEN) {
		COUNT(stats, drop_not_member);
		return;
	}
	if (m->op == CAT_OP_R_VQUERY) {
		struct cat_msg r = *m;

		if (pos != c->len - 1) {
			COUNT(stats, drop_not_member);
			return;
		}
		if (cat_store_slot_held(store, m->slot)) {
			COUNT(stats, read_held); /* the replica asks again */
			return;
		}
		rc = cat_store_get(store, &k, &it);
		r.op = CAT_OP_R_VRESP;
		r.arg = rc == 0 ? it->version : 0;
		io->to_node(io->arg, from_node, &r);
	} else if (m->op == CAT_OP_R_VRESP) {
		struct ext e;

		if (from_node != cat_map_chain_tail(c)) {
			/* Only the tail answers VQUERY: a version named by
			 * another member is not known to be committed. */
			COUNT(stats, drop_not_member);
			return;
		}
		if (ext_read(m, &e) != 0) {
			COUNT(stats, drop_bad_peer_msg);
			return;
		}
		rc = m->arg == 0 ? -ENOENT :
		     cat_store_get_at(store, &k, m->arg, &it);
		if (rc == -ENOENT && m->arg != 0 &&
		    cat_store_get_newest(store, &k, &it) == 0 &&
		    it->version > m->arg) {
			/* An ACK overtook the VRESP: a newer version was
			 * committed since the tail answered, and the one it
			 * named is already trimmed. The committed version now
			 * is as good an answer: it was committed after this
			 * read began (found by the simulator, seed 1614). */
			while (it != NULL && (cat_item_flags(it) & CAT_ITEM_DIRTY))
				it = __atomic_load_n(&it->prev, __ATOMIC_ACQUIRE);
			rc = it != NULL &&
			     !(cat_item_flags(it) & CAT_ITEM_TOMBSTONE) ? 0 : -ENOENT;
		}
		read_reply_item(map, io, &e.client, m, rc, it);
	} else {
		COUNT(stats, drop_bad_peer_msg);
	}
}
