/*
 * Fuzz target for the cluster map parser (replication/map.c): any byte
 * string is parsed; a map that parses must format to canonical text that
 * parses back to the very same map and formats to the very same text, and
 * every lookup on it must stay inside the map. Built by
 * tests/fuzz/run_fuzz.sh map (libFuzzer) and by meson (fuzz-replay-map).
 * Aborts on any broken invariant; never reads outside the input.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "replication/map.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Canonical text is at most 10 bytes longer than the text it was parsed
 * from (checked below), so twice the limit is room to spare. */
#define FMT_CAP (2u * CAT_MAP_TEXT_MAX)

static void fail(const char *what, const char *detail)
{
	fprintf(stderr, "fuzz_map: %s%s%s\n", what, detail ? ": " : "",
		detail ? detail : "");
	abort();
}

static int maps_equal(const struct cat_map *a, const struct cat_map *b)
{
	if (a->epoch != b->epoch || a->slot_count != b->slot_count ||
	    a->craq != b->craq || a->n_nodes != b->n_nodes ||
	    a->n_chains != b->n_chains)
		return 0;
	for (unsigned i = 0; i < a->n_nodes; i++)
		if (a->nodes[i].id != b->nodes[i].id ||
		    a->nodes[i].ip != b->nodes[i].ip ||
		    a->nodes[i].udp_port != b->nodes[i].udp_port ||
		    memcmp(a->nodes[i].mac, b->nodes[i].mac, 6) != 0)
			return 0;
	for (unsigned i = 0; i < a->n_chains; i++)
		if (a->chains[i].id != b->chains[i].id ||
		    a->chains[i].len != b->chains[i].len ||
		    memcmp(a->chains[i].nodes, b->chains[i].nodes,
			   a->chains[i].len * sizeof(uint16_t)) != 0)
			return 0;
	return memcmp(a->slot_chain, b->slot_chain,
		      a->slot_count * sizeof(uint16_t)) == 0;
}

/* The invariants the rest of catena relies on without checking. */
static void check_map(const struct cat_map *m)
{
	if (m->epoch == 0 || m->slot_count == 0 || m->slot_count > 65536 ||
	    (m->slot_count & (m->slot_count - 1)) != 0)
		fail("bad epoch or slot count", NULL);
	if (m->n_nodes == 0 || m->n_nodes > CAT_MAP_NODES_MAX ||
	    m->n_chains == 0 || m->n_chains > CAT_MAP_CHAINS_MAX)
		fail("bad node or chain count", NULL);
	for (unsigned i = 0; i < m->n_nodes; i++) {
		if (m->nodes[i].id == 0 || m->nodes[i].udp_port == 0)
			fail("node id or port 0", NULL);
		if (i > 0 && m->nodes[i - 1].id >= m->nodes[i].id)
			fail("nodes not sorted by id", NULL);
		if (cat_map_node_by_id(m, m->nodes[i].id) != &m->nodes[i])
			fail("node_by_id misses a node", NULL);
	}
	for (unsigned i = 0; i < m->n_chains; i++) {
		const struct cat_map_chain *c = &m->chains[i];

		if (c->id == 0 || c->len == 0 || c->len > CAT_MAP_CHAIN_LEN_MAX)
			fail("bad chain", NULL);
		for (unsigned j = 0; j < i; j++)
			if (m->chains[j].id == c->id)
				fail("duplicate chain id", NULL);
		for (unsigned k = 0; k < c->len; k++) {
			if (cat_map_node_by_id(m, c->nodes[k]) == NULL)
				fail("chain names a missing node", NULL);
			if (cat_map_chain_pos(c, c->nodes[k]) != (int)k)
				fail("node twice in a chain", NULL);
		}
	}
	for (uint32_t s = 0; s < m->slot_count; s++)
		if (m->slot_chain[s] >= m->n_chains)
			fail("slot points past the chains", NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cat_map *m = NULL, *back = NULL, *d;
	char err[256], err2[256];
	char *t1, *t2;
	int rc, n1, n2;

	memset(err, 0x55, sizeof(err));
	rc = cat_map_parse((const char *)data, size, &m, err, sizeof(err));
	if (memchr(err, '\0', sizeof(err)) == NULL)
		fail("err not NUL-terminated", NULL);
	if (rc != 0) {
		if (m != NULL)
			fail("failed parse left a map", NULL);
		if (rc != -EINVAL && rc != -E2BIG && rc != -ENOMEM)
			fail("unexpected error code", err);
		if (strncmp(err, "line ", 5) != 0 && rc == -EINVAL)
			fail("error without a line number", err);
		if (strchr(err, '\n') != NULL)
			fail("multi-line error", err);
		return 0;
	}
	if (m == NULL || err[0] != '\0')
		fail("success without a map or with an error", err);
	check_map(m);

	t1 = malloc(FMT_CAP);
	t2 = malloc(FMT_CAP);
	if (t1 == NULL || t2 == NULL)
		fail("out of memory", NULL);
	n1 = cat_map_format(m, t1, FMT_CAP);
	if (n1 <= 0 || (size_t)n1 != strlen(t1))
		fail("format failed", NULL);
	/* docs/CLUSTER_MAP.md promises canonical text is at most 10 bytes
	 * ("craq off" and a final newline) longer than any text of the map. */
	if ((size_t)n1 > size + 10)
		fail("canonical text longer than input + 10", t1);
	rc = cat_map_parse(t1, (size_t)n1, &back, err2, sizeof(err2));
	if (rc != 0)
		fail("canonical text does not parse", err2);
	if (!maps_equal(m, back))
		fail("parse(format(m)) != m", t1);
	n2 = cat_map_format(back, t2, FMT_CAP);
	if (n2 != n1 || memcmp(t1, t2, (size_t)n1 + 1) != 0)
		fail("format is not stable", t1);
	/* One byte short of room for the NUL must be refused. */
	if (cat_map_format(m, t2, (size_t)n1) != -ENOSPC)
		fail("format into a short buffer did not fail", NULL);

	d = cat_map_dup(m);
	if (d == NULL || !maps_equal(m, d))
		fail("dup differs", NULL);
	cat_map_free(d);
	cat_map_free(back);
	cat_map_free(m);
	free(t1);
	free(t2);
	return 0;
}
