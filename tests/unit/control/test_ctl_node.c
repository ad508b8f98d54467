/*
 * Unit tests for cat_ctl_node_release (control/ctl.c): a node entry owns one
 * reference to each of its last heartbeat's port and stats and owns its
 * parsed xfer entries; releasing the entry drops all three (catena-control once dropped port and stats but
 * not xfer at exit and when an etcd leader stepped down: LeakSanitizer found
 * it in the integration tests under ASan) and leaves the entry safe to
 * release again.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "control/ctl.h"
#include "control/rebuild.h"

static void release_drops_every_heartbeat_reference(void **state)
{
	struct cat_ctl_node n;
	json_t *port = json_pack("{s:s,s:i}", "link", "up", "mtu", 1500);
	json_t *stats = json_pack("{s:i}", "repl_in_flight", 0);
	struct cat_ctl_xfer *xfer = calloc(1, sizeof(*xfer));

	(void)state;
	memset(&n, 0, sizeof(n));
	/* The entry's references, as nodechan.c takes them; the test keeps
	 * its own to watch the counts. */
	n.port = json_incref(port);
	n.stats = json_incref(stats);
	assert_non_null(xfer);
	n.xfer = xfer; /* owned by the entry: freed by the release */
	n.n_xfer = 1;
	n.dstat = json_pack("{s:s}", "fsync", "always");
	n.dver = calloc(4, sizeof(n.dver[0]));
	n.dver_n = 4;
	assert_int_equal(port->refcount, 2);

	cat_ctl_node_release(&n);
	assert_null(n.port);
	assert_null(n.stats);
	assert_null(n.xfer);
	assert_null(n.dstat);
	assert_null(n.dver);
	assert_int_equal(n.dver_n, 0);
	assert_int_equal(port->refcount, 1);
	assert_int_equal(stats->refcount, 1);
	assert_int_equal(n.n_xfer, 0);

	cat_ctl_node_release(&n); /* nothing left to drop */
	assert_int_equal(n.n_xfer, 0);
	json_decref(port);
	json_decref(stats);
}

static void release_of_an_entry_never_heard_from(void **state)
{
	struct cat_ctl_node n;

	(void)state;
	memset(&n, 0, sizeof(n));
	cat_ctl_node_release(&n);
	assert_null(n.xfer);
}

/* The "durable" lines after a hello (control/rebuild.c): in slot order,
 * the last with end, and nothing else taken. */
static void durable_report_in_order_only(void **state)
{
	static const char text[] = "epoch 3\nslots 8\ncraq off\n"
		"node 1 10.99.0.1 02:ca:7e:00:00:01\nchain 1 1\nassign all roundrobin\n";
	struct cat_ctl *c = calloc(1, sizeof(*c));
	struct cat_ctl_node n;
	uint64_t v[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	char why[200], err[200];

	(void)state;
	assert_non_null(c);
	c->quiet = 1;
	assert_int_equal(cat_map_parse(text, strlen(text), &c->map, err, sizeof(err)), 0);
	memset(&n, 0, sizeof(n));
	n.id = 1;
	/* Not after a hello that said "durable". */
	assert_int_equal(cat_ctl_rebuild_report(c, &n, 0, v, 4, 0, why, sizeof(why)), -EINVAL);
	n.durable = CAT_CTL_DURABLE_REPORTING;
	/* Out of order, past the map's slots, an end short of them. */
	assert_int_equal(cat_ctl_rebuild_report(c, &n, 4, v, 4, 1, why, sizeof(why)), -EINVAL);
	assert_int_equal(cat_ctl_rebuild_report(c, &n, 0, v, 9, 1, why, sizeof(why)), -EINVAL);
	assert_int_equal(cat_ctl_rebuild_report(c, &n, 0, v, 4, 1, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "from 0 on, 8 slots"));
	assert_int_equal(n.durable, CAT_CTL_DURABLE_REPORTING);
	/* In two lines: done, every version kept. */
	assert_int_equal(cat_ctl_rebuild_report(c, &n, 0, v, 4, 0, why, sizeof(why)), 0);
	assert_int_equal(cat_ctl_rebuild_report(c, &n, 4, v + 4, 4, 1, why, sizeof(why)), 0);
	assert_int_equal(n.durable, CAT_CTL_DURABLE_DONE);
	assert_int_equal(n.dver_n, 8);
	assert_memory_equal(n.dver, v, sizeof(v));
	/* Done: a further line is refused. */
	assert_int_equal(cat_ctl_rebuild_report(c, &n, 8, v, 0, 1, why, sizeof(why)), -EINVAL);
	cat_ctl_node_release(&n);
	cat_map_free(c->map);
	free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(release_drops_every_heartbeat_reference),
		cmocka_unit_test(release_of_an_entry_never_heard_from),
		cmocka_unit_test(durable_report_in_order_only),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
