/*
 * A catena-control state for the control-plane fuzz targets (fuzz_mgmt.c,
 * fuzz_nodechan.c), built without any socket: a five-node map with three
 * chains and a joiner, nodes up, failed, returned and new, and a store
 * whose durable write is an in-memory callback that fails on request (so
 * the store-failure paths are fuzzed too).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/fuzz/ctl_fixture.h"

const char fx_map_text[] =
	"epoch 5\nslots 16\ncraq off\n"
	"node 1 10.9.0.1 02:00:00:00:00:01\n"
	"node 2 10.9.0.2 02:00:00:00:00:02\n"
	"node 3 10.9.0.3 02:00:00:00:00:03\n"
	"node 4 10.9.0.4:7471\n"
	"node 5 10.9.0.5 02:00:00:00:00:05\n"
	"chain 1 1 2 3\nchain 2 2 3 1\nchain 3 3 1\njoin 3 2\n"
	"assign all roundrobin\n";

int fx_store_fails; /* the next store write fails */

void fx_fail(const char *what, const char *detail)
{
	fprintf(stderr, "fuzz: %s%s%s\n", what, detail ? ": " : "",
		detail ? detail : "");
	abort();
}

/* The store's document, kept nowhere: a save succeeds unless told not to. */
static int store_get(void *arg, char **data, size_t *len, char *err,
		     size_t errlen)
{
	(void)arg;
	(void)data;
	(void)len;
	snprintf(err, errlen, "nothing stored");
	return -ENOENT;
}

static int store_put(void *arg, const char *data, size_t len, char *err,
		     size_t errlen)
{
	(void)arg;
	(void)data;
	(void)len;
	if (fx_store_fails) {
		snprintf(err, errlen, "fuzz: store write refused");
		return -EIO;
	}
	return 0;
}

struct cat_map *fx_parse(const char *text, size_t len)
{
	struct cat_map *m = NULL;
	char err[256];

	if (cat_map_parse(text, len, &m, err, sizeof(err)) != 0)
		fx_fail("map does not parse", err);
	return m;
}

void fx_setup(struct cat_ctl *c)
{
	struct cat_ctl_node *n;
	char err[256];

	memset(c, 0, sizeof(*c));
	cat_ctl_config_defaults(&c->cfg);
	snprintf(c->cfg.mgmt_socket, sizeof(c->cfg.mgmt_socket),
		 "/nonexistent/catena-fuzz.sock");
	c->quiet = 1;
	c->rf = 3;
	c->start_ms = cat_ctl_now_ms();
	cat_ctl_store_init_io(&c->store, "fuzz-store", store_get, store_put, NULL);
	c->map = fx_parse(fx_map_text, sizeof(fx_map_text) - 1);
	/* One history entry, as after a first save. */
	if (cat_ctl_store_save(&c->store, c->map, "initial", 1, err,
			       sizeof(err)) != 0)
		fx_fail("initial save", err);
	cat_ctl_sync_nodes(c);
	/* Nodes in every state the management commands look at; no
	 * connections, so verify answers at once. */
	/* Node 1 is chain 3's tail: its transfer report feeds `chains`. */
	n = cat_ctl_node(c, 1);
	n->state = CAT_CTL_NODE_UP;
	n->last_hb_ms = c->start_ms;
	n->stats = json_pack("{s:i,s:i,s:s}", "requests", 10, "replies", 9,
			     "note", "x");
	n->xfer = calloc(1, sizeof(*n->xfer));
	if (n->xfer == NULL)
		fx_fail("xfer", "out of memory");
	*n->xfer = (struct cat_ctl_xfer){ .chain = 3, .joiner = 2, .epoch = 5,
		.chain_slots = 5, .snapshotting = 1, .caught_up = 2, .keys = 7 };
	n->n_xfer = 1;
	n = cat_ctl_node(c, 3);
	n->state = CAT_CTL_NODE_UP;
	n->n_suspect = 1;
	n->suspect[0] = 1;
	cat_ctl_node(c, 2)->state = CAT_CTL_NODE_RETURNED;
	cat_ctl_node(c, 5)->state = CAT_CTL_NODE_FAILED;
	cat_ctl_store_set_mark(&c->store, 5, CAT_CTL_MARK_FAILED);
}

void fx_teardown(struct cat_ctl *c)
{
	for (uint16_t i = 0; i < c->n_nodes; i++)
		cat_ctl_node_release(&c->nodes[i]);
	cat_ctl_verify_fini(c);
	cat_ctl_store_fini(&c->store);
	cat_map_free(c->map);
}

char *fx_format(const struct cat_map *m)
{
	char *t = malloc(CAT_MAP_TEXT_MAX + 1);

	if (t == NULL || cat_map_format(m, t, CAT_MAP_TEXT_MAX + 1) < 0)
		fx_fail("cannot format the map", NULL);
	return t;
}

void fx_check_changed_map(const struct cat_ctl *c, uint32_t epoch,
			  const char *after)
{
	struct cat_map *back;
	char *again;

	if (c->map->epoch <= epoch)
		fx_fail("the map changed without a new epoch", after);
	back = fx_parse(after, strlen(after));
	again = fx_format(back);
	if (strcmp(after, again) != 0)
		fx_fail("the new map does not format back to itself", after);
	free(again);
	cat_map_free(back);
}
