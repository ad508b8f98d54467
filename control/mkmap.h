/*
 * The first cluster map from a node list (catena-mkmap): parse node entries,
 * check them as a whole (ids, addresses, replication factor), rotate the
 * chains as the shipped maps are and assign every slot round robin. Pure:
 * no I/O, no clock; catena-mkmap (control/mkmap_main.c) does the learning of
 * MACs and the printing.
 */
#ifndef CAT_MKMAP_H
#define CAT_MKMAP_H

#include <stddef.h>
#include <stdint.h>

#include "replication/map.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The shape of the map cat_mkmap_build makes. */
struct cat_mkmap_opts {
	uint32_t epoch;   /* >= 1 */
	uint32_t slots;   /* power of two, 1..65536 */
	uint8_t craq;     /* 0 or 1 */
	unsigned int rf;  /* replication factor: nodes per chain, 1..8 */
};

/**
 * Parse one node entry, "ID IP[:PORT] [MAC]", its fields separated by
 * blanks or commas ("1,10.0.0.1:7471,02:ca:7e:00:00:01"). A missing MAC
 * (or 00:00:00:00:00:00) is unknown. Fields obey the map file's rules
 * (docs/CLUSTER_MAP.md). Returns 0 and *nd, or -EINVAL with a one-line
 * reason in err. Any thread.
 */
int cat_mkmap_parse_node(const char *spec, struct cat_map_node *nd,
			 char *err, size_t errlen);

/**
 * Parse a node list: one entry per line as cat_mkmap_parse_node, blank
 * lines and '#' comments ignored. Appends to nodes[*n..cap). Returns 0, or
 * -EINVAL ("line 3: ..."), -ENOSPC (more than cap entries) with err.
 */
int cat_mkmap_parse_list(const char *text, struct cat_map_node *nodes,
			 unsigned int *n, unsigned int cap, char *err,
			 size_t errlen);

/**
 * Build the first map from nodes[0..n), in the given order: n chains with
 * ids 1..n, chain i+1 made of the rf nodes starting at nodes[i] and going
 * round the list (with nodes 1, 2, 3 and rf 3 that is
 * config/cluster-3chains.map), every slot round robin over the chains.
 * Returns 0 and *out (canonical: it went through cat_map_format and
 * cat_map_parse; free with cat_map_free), or -EINVAL with err for a
 * duplicate id or IP:PORT, rf 0 or above n or CAT_MAP_CHAIN_LEN_MAX, no
 * nodes or more than CAT_MAP_NODES_MAX, a bad epoch or slot count; -ENOMEM.
 */
int cat_mkmap_build(const struct cat_map_node *nodes, unsigned int n,
		    const struct cat_mkmap_opts *o, struct cat_map **out,
		    char *err, size_t errlen);

/**
 * Look ip (host byte order) up in the text of the kernel's IPv4 neighbour
 * table (/proc/net/arp). Only complete entries count (flag ATF_COM); an
 * incomplete one is an ARP request nobody answered. Returns 0 and mac,
 * -ENOENT if there is no complete entry, -EEXIST if two interfaces know
 * the address with different MACs (ambiguous: give the MAC instead).
 */
int cat_mkmap_arp_lookup(const char *text, uint32_t ip, uint8_t mac[6]);

#ifdef __cplusplus
}
#endif

#endif /* CAT_MKMAP_H */
