/*
 * replication/dsnap_walk.c: a slot of the store as snapshot records (see
 * dsnap_walk.h). The snapshot thread's step; never on a worker.
 */
#include <errno.h>
#include <stdlib.h>

#include "replication/dlog.h"
#include "replication/dsnap_walk.h"

static int add(struct cat_dsnap_buf *b, const struct cat_dlog_rec *r)
{
	size_t need = cat_dlog_rec_size(r->klen, r->vlen);

	if (b->cap - b->len < need) {
		size_t cap = b->cap ? b->cap : 1u << 16;
		uint8_t *p;

		while (cap - b->len < need)
			cap *= 2;
		p = realloc(b->p, cap);
		if (p == NULL)
			return -ENOMEM;
		b->p = p;
		b->cap = cap;
	}
	b->len += (size_t)cat_dlog_encode(b->p + b->len, b->cap - b->len, r);
	b->records++;
	return 0;
}

struct walk {
	struct cat_dsnap_buf *b;
	uint32_t slot;
};

static int item(const struct cat_item *it, void *arg)
{
	struct walk *w = arg;
	struct cat_dlog_rec r = { .type = CAT_DLOG_PUT, .slot = (uint16_t)w->slot,
				  .version = it->version, .key = cat_item_key(it),
				  .klen = it->key_len, .value = cat_item_value(it),
				  .vlen = it->value_len };
	int rc = add(w->b, &r);

	if (rc == 0)
		w->b->keys++;
	return rc;
}

int cat_dsnap_walk_slot(const struct cat_store *s, uint32_t slot,
			struct cat_dsnap_buf *b)
{
	struct cat_dlog_rec r = { .type = CAT_DLOG_NOOP, .slot = (uint16_t)slot,
				  .version = cat_store_slot_version(s, slot) };
	struct walk w = { b, slot };
	int rc = 0;

	/* The version first: replay raises it to each key's anyway, and a
	 * snapshot must never bring back less than the slot had. */
	if (r.version)
		rc = add(b, &r);
	if (rc == 0)
		rc = cat_store_slot_foreach(s, slot, item, &w);
	return rc;
}

void cat_dsnap_buf_free(struct cat_dsnap_buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}
