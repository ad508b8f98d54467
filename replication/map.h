/*
 * catena cluster map: which nodes exist, which chains they form, which
 * chain replicates each slot, at which epoch. Parsed from the text format in
 * docs/CLUSTER_MAP.md (the same text a node serves to clients with MAP_GET),
 * validated, and queried by the chain protocol, the dataplane, the
 * simulator and libcatena. Pure C, no DPDK. A map is immutable once built:
 * publishing a new one is a pointer swap, so readers never lock.
 */
#ifndef CAT_MAP_H
#define CAT_MAP_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CAT_MAP_NODES_MAX  64u
#define CAT_MAP_CHAINS_MAX 256u
#define CAT_MAP_CHAIN_LEN_MAX 8u
#define CAT_MAP_TEXT_MAX   65536u

struct cat_map_node {
	uint16_t id;          /* 1..65535, unique */
	uint32_t ip;          /* IPv4, host byte order */
	uint16_t udp_port;    /* default 7470 */
	uint8_t mac[6];       /* data-port MAC; all zero = unknown */
	uint16_t workers;     /* "workers ID N": the node takes slot s's
			       * requests on udp_port + 1 + s % N as well
			       * (its NIC queues each on the owner); 0 = not
			       * announced, use udp_port */
};

/* Workers a node may announce with "workers ID N". */
#define CAT_MAP_WORKERS_MAX 64u

/**
 * The UDP port to send a request for slot to on node nd: its worker port
 * for the slot (the port the node's NIC steers to the slot's owner) when
 * the map announces its workers, else its udp_port. Any thread.
 */
static inline uint16_t cat_map_node_port(const struct cat_map_node *nd,
					 uint32_t slot)
{
	if (nd->workers == 0)
		return nd->udp_port;
	return (uint16_t)(nd->udp_port + 1u + slot % nd->workers);
}

struct cat_map_chain {
	uint16_t id;                          /* 1..65535, unique */
	uint8_t len;                          /* 1..CAT_MAP_CHAIN_LEN_MAX */
	uint16_t nodes[CAT_MAP_CHAIN_LEN_MAX]; /* node ids, head first */
	/* A node being brought into the chain by state transfer from its
	 * tail ("join" line), or 0. It is not a replica yet: routing, reads
	 * and cat_map_chain_pos ignore it; only the tail streams to it. */
	uint16_t joining;
	/* A transitional chain of a slot move ("move" line): its slots are
	 * on their way from chain move_from to chain move_to (chain ids;
	 * both 0 for an ordinary chain). Routing treats it as any chain. */
	uint16_t move_to, move_from;
};

struct cat_map {
	uint32_t epoch;       /* >= 1 */
	uint32_t slot_count;  /* power of two, 1..65536 */
	uint8_t craq;         /* 1: any replica may answer reads */
	uint16_t n_nodes;
	uint16_t n_chains;
	struct cat_map_node nodes[CAT_MAP_NODES_MAX];
	struct cat_map_chain chains[CAT_MAP_CHAINS_MAX];
	uint16_t *slot_chain; /* slot_count entries: index into chains[] */
};

/**
 * Parse map text (docs/CLUSTER_MAP.md) into a new map. Returns 0 and *out
 * (free with cat_map_free), or -EINVAL with a one-line reason naming the
 * line number in err (e.g. "line 7: chain 2: unknown node 9"), -ENOMEM,
 * -E2BIG (text over CAT_MAP_TEXT_MAX). Every slot must be assigned; every
 * chain node must exist; a node may appear at most once in a chain; ids are
 * unique. Any thread.
 */
int cat_map_parse(const char *text, size_t len, struct cat_map **out,
		  char *err, size_t errlen);

/** Read and parse a file; errors as cat_map_parse, plus -errno of open/read. */
int cat_map_load(const char *path, struct cat_map **out, char *err,
		 size_t errlen);

/**
 * Write the map as canonical text (parseable by cat_map_parse, slot
 * assignments compressed into ranges, or "assign all roundrobin" when they
 * follow it). Returns the length written (without the terminating NUL),
 * -ENOSPC if cap is too small, -EINVAL for a structurally broken map.
 * Parsed and duplicated maps keep nodes sorted by id.
 */
int cat_map_format(const struct cat_map *m, char *buf, size_t cap);

void cat_map_free(struct cat_map *m);

/** Deep copy, or NULL (ENOMEM). */
struct cat_map *cat_map_dup(const struct cat_map *m);

/** Node entry by id, or NULL. */
const struct cat_map_node *cat_map_node_by_id(const struct cat_map *m,
					      uint16_t id);

/** Chain of a slot (slot < slot_count). */
static inline const struct cat_map_chain *
cat_map_slot_chain(const struct cat_map *m, uint32_t slot)
{
	return &m->chains[m->slot_chain[slot]];
}

/** Position of node id in chain c (0 = head), or -1 if not a member. */
int cat_map_chain_pos(const struct cat_map_chain *c, uint16_t node_id);

/**
 * Whether a chain can take node id as its joining node: it exists in m, is
 * no member of c, c has no joining node yet and is not full. 0 or -EINVAL.
 */
int cat_map_can_join(const struct cat_map *m, const struct cat_map_chain *c,
		     uint16_t node_id);

/** Head and tail node ids of a chain. */
static inline uint16_t cat_map_chain_head(const struct cat_map_chain *c)
{
	return c->nodes[0];
}

static inline uint16_t cat_map_chain_tail(const struct cat_map_chain *c)
{
	return c->nodes[c->len - 1];
}

#ifdef __cplusplus
}
#endif

#endif /* CAT_MAP_H */
