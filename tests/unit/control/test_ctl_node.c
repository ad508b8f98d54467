/*
 * Unit tests for cat_ctl_node_release (control/ctl.c): a node entry owns one
 * reference to each of its last heartbeat's port and stats and owns its
 * parsed xfer entries; releasing the entry drops all three (catena-control once dropped port and stats but
 * not xfer at exit and when an etcd leader stepped down: LeakSanitizer found
 * it in the integration tests under ASan) and leaves the entry safe to
 * release again.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "control/ctl.h"

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
	assert_int_equal(port->refcount, 2);

	cat_ctl_node_release(&n);
	assert_null(n.port);
	assert_null(n.stats);
	assert_null(n.xfer);
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(release_drops_every_heartbeat_reference),
		cmocka_unit_test(release_of_an_entry_never_heard_from),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
