/*
 * Read leases (replication/lease.h): the table of when each peer was last
 * heard at which epoch, and the check a read makes against it.
 */
#include <string.h>

#include "replication/lease.h"

#define UNIT_SHIFT 20

void cat_lease_init(struct cat_lease *l)
{
	memset(l, 0, sizeof(*l));
}

void cat_lease_heard(struct cat_lease *l, const struct cat_map *map,
		     uint16_t id, uint32_t epoch, uint64_t now)
{
	const struct cat_map_node *nd = cat_map_node_by_id(map, id);

	if (nd != NULL && epoch == map->epoch)
		__atomic_store_n(&l->word[nd - map->nodes], (uint64_t)epoch << 32 |
				 (uint32_t)(now >> UNIT_SHIFT), __ATOMIC_RELAXED);
}

static int heard_recently(const struct cat_lease *l, const struct cat_map *map,
			  uint16_t id, uint64_t now)
{
	const struct cat_map_node *nd = cat_map_node_by_id(map, id);
	uint64_t w;
	uint32_t age;

	if (nd == NULL)
		return 0; /* a member the map does not list: never heard */
	w = __atomic_load_n(&l->word[nd - map->nodes], __ATOMIC_RELAXED);
	if ((uint32_t)(w >> 32) != map->epoch || w == 0)
		return 0;
	/* Unsigned: a word stamped by a worker whose clock read a little
	 * later than ours is age 0, not a huge age. */
	age = (uint32_t)(now >> UNIT_SHIFT) - (uint32_t)w;
	if ((int32_t)age < 0)
		age = 0;
	return age < (uint32_t)(CAT_LEASE_NS >> UNIT_SHIFT);
}

int cat_lease_valid(const struct cat_lease *l, const struct cat_map *map,
		    const struct cat_map_chain *c, uint16_t self, uint64_t now)
{
	for (uint8_t i = 0; i < c->len; i++)
		if (c->nodes[i] != self && !heard_recently(l, map, c->nodes[i], now))
			return 0;
	return 1;
}
