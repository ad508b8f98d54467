/*
 * Unit tests for the cluster map's "workers ID N" directive
 * (replication/map.c): a node announcing per-worker UDP ports, the port a
 * client picks for a slot, the canonical text, and every refusal. Kept
 * apart from test_map.c so the directive's tests stay in one place.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "replication/map.h"

#define HEAD "epoch 3\nslots 16\nnode 1 10.0.0.1 02:00:00:00:00:01\n" \
	     "node 2 10.0.0.2:9000\nchain 1 1 2\nassign 0-15 1\n"

static struct cat_map *parse_ok(const char *text)
{
	struct cat_map *m = NULL;
	char err[256];
	int rc = cat_map_parse(text, strlen(text), &m, err, sizeof(err));

	if (rc != 0)
		fail_msg("parse failed: %s", err);
	return m;
}

static void parse_err(const char *text, const char *want)
{
	struct cat_map *m = NULL;
	char err[256];

	assert_int_equal(cat_map_parse(text, strlen(text), &m, err, sizeof(err)),
			 -EINVAL);
	assert_null(m);
	if (strstr(err, want) == NULL)
		fail_msg("error '%s' lacks '%s'", err, want);
}

static void test_workers_ports_per_slot(void **state)
{
	struct cat_map *m = parse_ok(HEAD "workers 1 4\n");
	const struct cat_map_node *n1 = cat_map_node_by_id(m, 1);
	const struct cat_map_node *n2 = cat_map_node_by_id(m, 2);

	(void)state;
	assert_int_equal(n1->workers, 4);
	assert_int_equal(n2->workers, 0);
	/* Slot s goes to udp_port + 1 + s % 4: worker s % 4's port. */
	assert_int_equal(cat_map_node_port(n1, 0), 7471);
	assert_int_equal(cat_map_node_port(n1, 3), 7474);
	assert_int_equal(cat_map_node_port(n1, 5), 7472);
	/* Without the line: the node's one port. */
	assert_int_equal(cat_map_node_port(n2, 5), 9000);
	cat_map_free(m);
}

static void test_workers_round_trip_through_canonical_text(void **state)
{
	struct cat_map *m, *m2;
	char buf[4096], buf2[4096];
	int len;

	(void)state;
	m = parse_ok(HEAD "workers 2 2\nworkers 1 3\n");
	len = cat_map_format(m, buf, sizeof(buf));
	assert_true(len > 0);
	/* Last, in node id order. */
	assert_non_null(strstr(buf, "assign 0-15 1\nworkers 1 3\nworkers 2 2\n"));
	m2 = parse_ok(buf);
	assert_int_equal(cat_map_format(m2, buf2, sizeof(buf2)), len);
	assert_string_equal(buf, buf2);
	assert_int_equal(cat_map_node_by_id(m2, 2)->workers, 2);
	cat_map_free(m);
	cat_map_free(m2);
}

static void test_map_without_workers_formats_as_before(void **state)
{
	struct cat_map *m = parse_ok(HEAD);
	char buf[4096];

	(void)state;
	assert_true(cat_map_format(m, buf, sizeof(buf)) > 0);
	assert_null(strstr(buf, "workers"));
	cat_map_free(m);
}

static void test_workers_refusals(void **state)
{
	(void)state;
	parse_err("workers 1 2\n" HEAD, "node 1 is not declared above");
	parse_err(HEAD "workers 3 2\n", "node 3 is not declared above");
	parse_err(HEAD "workers 1\n", "expected 'workers NODE-ID COUNT'");
	parse_err(HEAD "workers 1 2 3\n", "expected 'workers NODE-ID COUNT'");
	parse_err(HEAD "workers 1 1\n", "bad count '1'");
	parse_err(HEAD "workers 1 65\n", "bad count '65'");
	parse_err(HEAD "workers 1 x\n", "bad count 'x'");
	parse_err(HEAD "workers 0 2\n", "bad node id '0'");
	parse_err(HEAD "workers 1 2\nworkers 1 2\n", "node 1 given twice");
	parse_err("epoch 1\nslots 16\nnode 1 10.0.0.1:65530\nchain 1 1\n"
		  "assign 0-15 1\nworkers 1 8\n", "pass 65535");
	/* Two nodes on one host: worker ports must not reach the other's. */
	parse_err("epoch 1\nslots 16\nnode 1 10.0.0.1:7470\nnode 2 10.0.0.1:7472\n"
		  "chain 1 1 2\nassign 0-15 1\nworkers 1 2\n", "overlap node 2");
	parse_err("epoch 1\nslots 16\nnode 1 10.0.0.1:7470\nnode 2 10.0.0.1:7480\n"
		  "chain 1 1 2\nassign 0-15 1\nworkers 2 2\nworkers 1 10\n",
		  "overlap node 2");
}

static void test_workers_on_separate_hosts_may_share_ports(void **state)
{
	struct cat_map *m = parse_ok("epoch 1\nslots 16\nnode 1 10.0.0.1\n"
				     "node 2 10.0.0.2\nchain 1 1 2\nassign 0-15 1\n"
				     "workers 1 4\nworkers 2 4\n");

	(void)state;
	assert_int_equal(cat_map_node_port(cat_map_node_by_id(m, 2), 1), 7472);
	cat_map_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_workers_ports_per_slot),
		cmocka_unit_test(test_workers_round_trip_through_canonical_text),
		cmocka_unit_test(test_map_without_workers_formats_as_before),
		cmocka_unit_test(test_workers_refusals),
		cmocka_unit_test(test_workers_on_separate_hosts_may_share_ports),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
