/*
 * Unit tests for control/mkmap.c (catena-mkmap's pure part): node entries
 * and lists, the rotated chains and round-robin slots of the first map (the
 * shipped config/cluster-3chains.map from its three nodes), every refusal
 * with its message, and the neighbour-table lookup --learn relies on.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "control/mkmap.h"
#include "replication/map.h"

static const struct cat_mkmap_opts rf3 = { .epoch = 1, .slots = 1024, .rf = 3 };

static unsigned int nodes_of(const char *list, struct cat_map_node *nodes)
{
	unsigned int n = 0;
	char err[256] = "";

	if (cat_mkmap_parse_list(list, nodes, &n, CAT_MAP_NODES_MAX, err,
				 sizeof(err)) != 0)
		fail_msg("list: %s", err);
	return n;
}

static void expect_build_error(const char *list, const struct cat_mkmap_opts *o,
			       const char *want)
{
	struct cat_map_node nodes[CAT_MAP_NODES_MAX];
	unsigned int n = nodes_of(list, nodes);
	struct cat_map *m = (struct cat_map *)1;
	char err[256] = "";

	if (cat_mkmap_build(nodes, n, o, &m, err, sizeof(err)) != -EINVAL)
		fail_msg("built a map (wanted: %s)", want);
	assert_null(m);
	if (strstr(err, want) == NULL)
		fail_msg("error '%s' does not say '%s'", err, want);
}

static void format(const struct cat_map *m, char *buf, size_t cap)
{
	assert_true(cat_map_format(m, buf, cap) > 0);
}

/* The three nodes of the shipped map, rf 3: exactly cluster-3chains.map. */
static void test_three_nodes_make_the_shipped_map(void **state)
{
	static char a[CAT_MAP_TEXT_MAX + 1], b[CAT_MAP_TEXT_MAX + 1];
	struct cat_map_node nodes[CAT_MAP_NODES_MAX];
	struct cat_map *m, *shipped;
	char err[256] = "";
	unsigned int n;

	(void)state;
	n = nodes_of("1 10.99.0.1 02:ca:7e:00:00:01\n"
		     "2 10.99.0.2 02:ca:7e:00:00:02\n"
		     "3 10.99.0.3 02:ca:7e:00:00:03\n", nodes);
	assert_int_equal(n, 3);
	assert_int_equal(cat_mkmap_build(nodes, n, &rf3, &m, err, sizeof(err)), 0);
	if (cat_map_load(CATENA_SRC "/config/cluster-3chains.map", &shipped, err,
			 sizeof(err)) != 0)
		fail_msg("shipped map: %s", err);
	format(m, a, sizeof(a));
	format(shipped, b, sizeof(b));
	assert_string_equal(a, b);
	assert_non_null(strstr(a, "assign all roundrobin"));
	cat_map_free(m);
	cat_map_free(shipped);
}

/* Five nodes, rf 2: chain i starts at the i-th node given (list order, not
 * id order) and takes the next one round the list; slot s on chain s mod 5. */
static void test_chains_rotate_in_list_order(void **state)
{
	const struct cat_mkmap_opts o = { .epoch = 4, .slots = 64, .rf = 2, .craq = 1 };
	struct cat_map_node nodes[CAT_MAP_NODES_MAX];
	const uint16_t order[5] = { 5, 1, 4, 2, 3 };
	struct cat_map *m;
	char err[256] = "";
	unsigned int n;

	(void)state;
	n = nodes_of("# a comment line\n"
		     "5 10.0.0.5 02:00:00:00:00:05\n"
		     "1,10.0.0.1:7471,02:00:00:00:00:01   # commas work too\n"
		     "\n"
		     "4 10.0.0.4 02:00:00:00:00:04\n"
		     "2 10.0.0.2 02:00:00:00:00:02\n"
		     "3 10.0.0.1 02:00:00:00:00:03\n", nodes);
	assert_int_equal(n, 5);
	assert_int_equal(cat_mkmap_build(nodes, n, &o, &m, err, sizeof(err)), 0);
	assert_int_equal(m->epoch, 4);
	assert_int_equal(m->slot_count, 64);
	assert_int_equal(m->craq, 1);
	assert_int_equal(m->n_chains, 5);
	for (unsigned int i = 0; i < 5; i++) {
		const struct cat_map_chain *c = &m->chains[i];

		assert_int_equal(c->id, i + 1);
		assert_int_equal(c->len, 2);
		assert_int_equal(c->nodes[0], order[i]);
		assert_int_equal(c->nodes[1], order[(i + 1) % 5]);
	}
	for (uint32_t s = 0; s < 64; s++)
		assert_int_equal(cat_map_slot_chain(m, s)->id, s % 5 + 1);
	assert_int_equal(cat_map_node_by_id(m, 1)->udp_port, 7471);
	assert_int_equal(cat_map_node_by_id(m, 2)->udp_port, 7470);
	cat_map_free(m);
}

static void test_rf_one_and_one_node(void **state)
{
	const struct cat_mkmap_opts o = { .epoch = 1, .slots = 1, .rf = 1 };
	struct cat_map_node nodes[CAT_MAP_NODES_MAX];
	struct cat_map *m;
	char err[256] = "";

	(void)state;
	assert_int_equal(nodes_of("9 192.168.1.9 02:00:00:00:00:09\n", nodes), 1);
	assert_int_equal(cat_mkmap_build(nodes, 1, &o, &m, err, sizeof(err)), 0);
	assert_int_equal(m->n_chains, 1);
	assert_int_equal(m->chains[0].nodes[0], 9);
	cat_map_free(m);
}

static void test_refusals_name_what_is_wrong(void **state)
{
	const struct cat_mkmap_opts rf0 = { .epoch = 1, .slots = 1024, .rf = 0 };
	const struct cat_mkmap_opts rf9 = { .epoch = 1, .slots = 1024, .rf = 9 };
	const struct cat_mkmap_opts slots = { .epoch = 1, .slots = 1000, .rf = 1 };
	const struct cat_mkmap_opts ep0 = { .epoch = 0, .slots = 1024, .rf = 1 };

	(void)state;
	expect_build_error("1 10.0.0.1\n2 10.0.0.2\n", &rf3,
			   "replication factor 3 is larger than the 2 nodes given");
	expect_build_error("1 10.0.0.1\n2 10.0.0.2\n1 10.0.0.3\n", &rf3,
			   "node 1 given twice (entries 1 and 3)");
	expect_build_error("1 10.0.0.1\n2 10.0.0.1:7470\n3 10.0.0.3\n", &rf3,
			   "nodes 1 and 2 have the same address 10.0.0.1:7470");
	expect_build_error("1 10.0.0.1\n", &rf0, "replication factor 0: must be 1..8");
	expect_build_error("1 10.0.0.1\n", &rf9, "replication factor 9: must be 1..8");
	expect_build_error("1 10.0.0.1\n", &slots, "slots 1000: not a power of two");
	expect_build_error("1 10.0.0.1\n", &ep0, "epoch 0");
	expect_build_error("", &rf3, "no nodes");
}

static void expect_node_error(const char *spec, const char *want)
{
	struct cat_map_node nd;
	char err[256] = "";

	assert_int_equal(cat_mkmap_parse_node(spec, &nd, err, sizeof(err)), -EINVAL);
	if (strstr(err, want) == NULL)
		fail_msg("'%s': error '%s' does not say '%s'", spec, err, want);
}

static void test_bad_entries(void **state)
{
	struct cat_map_node nodes[4];
	unsigned int n = 0;
	char err[256] = "";

	(void)state;
	expect_node_error("1 10.0.0.1 02:ca:7e:00:00", "MAC");
	expect_node_error("1 10.0.0.1 01:00:5e:00:00:01", "MAC");
	expect_node_error("1 10.0.0.1 zz:ca:7e:00:00:01", "bad MAC");
	expect_node_error("1 10.0.0.01", "10.0.0.01");
	expect_node_error("1 224.0.0.1", "multicast");
	expect_node_error("0 10.0.0.1", "bad node id '0'");
	expect_node_error("01 10.0.0.1", "bad node id '01'");
	expect_node_error("65536 10.0.0.1", "bad node id");
	expect_node_error("1 10.0.0.1:0", "bad port '0'");
	expect_node_error("1 10.0.0.1:x", "bad port 'x'");
	expect_node_error("1", "expected 'ID IP[:PORT] [MAC]'");
	expect_node_error("1 10.0.0.1 02:00:00:00:00:01 extra", "expected");
	assert_int_equal(cat_mkmap_parse_list("1 10.0.0.1\n\n2 nonsense\n", nodes, &n,
					      4, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "line 3: "));
	n = 0;
	assert_int_equal(cat_mkmap_parse_list("1 10.0.0.1\n2 10.0.0.2\n3 10.0.0.3\n",
					      nodes, &n, 2, err, sizeof(err)), -ENOSPC);
}

static void test_mac_given_or_unknown(void **state)
{
	struct cat_map_node nd;
	char err[256] = "";
	const uint8_t want[6] = { 0x02, 0xca, 0x7e, 0, 0, 0x01 };
	const uint8_t zero[6] = { 0 };

	(void)state;
	assert_int_equal(cat_mkmap_parse_node("1,10.0.0.1,02:CA:7e:00:00:01", &nd,
					      err, sizeof(err)), 0);
	assert_memory_equal(nd.mac, want, 6);
	assert_int_equal(cat_mkmap_parse_node("2 10.0.0.2", &nd, err, sizeof(err)), 0);
	assert_memory_equal(nd.mac, zero, 6);
}

static const char arp[] =
	"IP address       HW type     Flags       HW address            Mask     Device\n"
	"10.99.0.2        0x1         0x2         02:ca:7e:00:00:02     *        vc1\n"
	"10.99.0.3        0x1         0x0         00:00:00:00:00:00     *        vc1\n"
	"10.99.0.4        0x1         0x2         02:00:00:00:00:04     *        eth0\n"
	"10.99.0.4        0x1         0x2         02:00:00:00:00:44     *        eth1\n"
	"10.99.0.5        0x1         0x6         02:00:00:00:00:05     *        eth0\n"
	"10.99.0.5        0x1         0x2         02:00:00:00:00:05     *        eth1\n";

static void test_neighbour_table(void **state)
{
	const uint8_t two[6] = { 0x02, 0xca, 0x7e, 0, 0, 0x02 };
	const uint8_t five[6] = { 0x02, 0, 0, 0, 0, 0x05 };
	uint8_t mac[6] = { 0 };

	(void)state;
	assert_int_equal(cat_mkmap_arp_lookup(arp, 0x0a630002u, mac), 0);
	assert_memory_equal(mac, two, 6);
	/* An incomplete entry (an unanswered ARP request) is no answer. */
	assert_int_equal(cat_mkmap_arp_lookup(arp, 0x0a630003u, mac), -ENOENT);
	assert_int_equal(cat_mkmap_arp_lookup(arp, 0x0a630009u, mac), -ENOENT);
	assert_int_equal(cat_mkmap_arp_lookup(arp, 0x0a630004u, mac), -EEXIST);
	assert_int_equal(cat_mkmap_arp_lookup(arp, 0x0a630005u, mac), 0);
	assert_memory_equal(mac, five, 6);
	/* 10.99.0.2 must not match 10.99.0.20 or 110.99.0.2. */
	assert_int_equal(cat_mkmap_arp_lookup(
		"h\n10.99.0.20 0x1 0x2 02:00:00:00:00:20 * x\n"
		"110.99.0.2 0x1 0x2 02:00:00:00:00:21 * x\n", 0x0a630002u, mac), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_three_nodes_make_the_shipped_map),
		cmocka_unit_test(test_chains_rotate_in_list_order),
		cmocka_unit_test(test_rf_one_and_one_node),
		cmocka_unit_test(test_refusals_name_what_is_wrong),
		cmocka_unit_test(test_bad_entries),
		cmocka_unit_test(test_mac_given_or_unknown),
		cmocka_unit_test(test_neighbour_table),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
