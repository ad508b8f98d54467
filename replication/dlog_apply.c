/*
 * replication/dlog_apply.c: one log record into the store, newest wins
 * (see dlog_apply.h). Uses only the store's public API: a delete older
 * than the slot's version is applied by lowering the version around it.
 */
#include <errno.h>

#include "replication/dlog_apply.h"

static void version_at_least(struct cat_store *s, uint32_t slot, uint64_t v)
{
	if (cat_store_slot_version(s, slot) < v)
		cat_store_slot_set_version(s, slot, v);
}

int cat_dlog_apply(struct cat_store *s, const struct cat_dlog_rec *r)
{
	const struct cat_item *it;
	struct cat_key k;
	uint64_t keep;
	int rc;

	if (r->slot >= cat_store_slot_count(s))
		return -ERANGE;
	if (r->type == CAT_DLOG_NOOP) {
		version_at_least(s, r->slot, r->version);
		return 0;
	}
	if (r->type == CAT_DLOG_CLEAR) {
		cat_store_slot_clear(s, r->slot);
		cat_store_slot_set_version(s, r->slot, 0);
		return 0;
	}
	cat_store_key(s, &k, r->key, r->klen);
	if (k.slot != r->slot || r->version == 0)
		return -EINVAL;
	rcu_read_lock();
	rc = cat_store_get_newest(s, &k, &it);
	if (rc == 0 && it->version >= r->version) {
		rcu_read_unlock();
		return 0;	/* the store has this or newer */
	}
	rcu_read_unlock();
	keep = cat_store_slot_version(s, r->slot);
	if (r->type == CAT_DLOG_PUT) {
		rc = cat_store_apply_snap(s, &k, r->version, r->value, r->vlen);
		if (rc == 0)
			cat_store_commit(s, &k, r->version);
	} else if (rc == 0) {
		/* Present and older: delete it at the record's version. */
		cat_store_slot_set_version(s, r->slot, r->version - 1);
		rc = cat_store_apply_del(s, &k, r->version);
		if (rc == 0)
			cat_store_commit(s, &k, r->version);
	} else {
		rc = 0;		/* absent already */
	}
	cat_store_slot_set_version(s, r->slot, keep);
	if (rc == 0)
		version_at_least(s, r->slot, r->version);
	return rc;
}
