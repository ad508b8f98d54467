/*
 * Unit tests for replication/map.c: every directive, every parse error and
 * its message, the lookups, and the round trip parse(format(m)) == m for the
 * maps shipped in config/ and for a few hundred seeded random maps, also
 * written in a deliberately untidy (but valid) spelling.
 */
#include <errno.h>
#include <locale.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "replication/map.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define FMT_CAP (CAT_MAP_TEXT_MAX * 2u)

static uint64_t rng = 0x2545F4914F6CDD1Dull;

static uint32_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng >> 16);
}

static uint32_t rnd_below(uint32_t n)
{
	return rnd() % n;
}

static struct cat_map *parse_ok(const char *text)
{
	struct cat_map *m = NULL;
	char err[256] = "unset";
	int rc = cat_map_parse(text, strlen(text), &m, err, sizeof(err));

	if (rc != 0)
		fail_msg("parse failed (%d): %s\n--- text ---\n%s", rc, err,
			 text);
	assert_non_null(m);
	assert_string_equal(err, "");
	return m;
}

/* Parse must fail with -EINVAL, no map, and a message containing want. */
static void parse_bad(const char *text, const char *want)
{
	struct cat_map *m = (struct cat_map *)(uintptr_t)1;
	char err[256] = "";
	int rc = cat_map_parse(text, strlen(text), &m, err, sizeof(err));

	if (rc != -EINVAL || strstr(err, want) == NULL)
		fail_msg("want -EINVAL '%s', got %d '%s'\n--- text ---\n%s",
			 want, rc, err, text);
	assert_null(m);
	assert_null(strchr(err, '\n'));
}

static void assert_map_equal(const struct cat_map *a, const struct cat_map *b)
{
	assert_int_equal(a->epoch, b->epoch);
	assert_int_equal(a->slot_count, b->slot_count);
	assert_int_equal(a->craq, b->craq);
	assert_int_equal(a->n_nodes, b->n_nodes);
	assert_int_equal(a->n_chains, b->n_chains);
	for (unsigned i = 0; i < a->n_nodes; i++) {
		assert_int_equal(a->nodes[i].id, b->nodes[i].id);
		assert_int_equal(a->nodes[i].ip, b->nodes[i].ip);
		assert_int_equal(a->nodes[i].udp_port, b->nodes[i].udp_port);
		assert_memory_equal(a->nodes[i].mac, b->nodes[i].mac, 6);
	}
	for (unsigned i = 0; i < a->n_chains; i++) {
		assert_int_equal(a->chains[i].id, b->chains[i].id);
		assert_int_equal(a->chains[i].len, b->chains[i].len);
		assert_memory_equal(a->chains[i].nodes, b->chains[i].nodes,
				    a->chains[i].len * sizeof(uint16_t));
	}
	assert_memory_equal(a->slot_chain, b->slot_chain,
			    a->slot_count * sizeof(uint16_t));
}

/* format, parse, compare; format again and compare the text too. */
static void assert_roundtrip(const struct cat_map *m)
{
	char *t1 = malloc(FMT_CAP), *t2 = malloc(FMT_CAP);
	struct cat_map *back = NULL;
	char err[256];
	int n1, n2, rc;

	assert_non_null(t1);
	assert_non_null(t2);
	n1 = cat_map_format(m, t1, FMT_CAP);
	assert_true(n1 > 0);
	assert_int_equal(strlen(t1), (size_t)n1);
	rc = cat_map_parse(t1, (size_t)n1, &back, err, sizeof(err));
	if (rc != 0)
		fail_msg("re-parse failed (%d): %s\n%s", rc, err, t1);
	assert_map_equal(m, back);
	n2 = cat_map_format(back, t2, FMT_CAP);
	assert_int_equal(n1, n2);
	assert_string_equal(t1, t2);
	cat_map_free(back);
	free(t1);
	free(t2);
}

/* ---- directives ---- */

static void test_every_directive(void **state)
{
	(void)state;
	struct cat_map *m = parse_ok(
		"epoch 42\n"
		"slots 16\n"
		"craq on\n"
		"node 7 192.168.1.20:9000 02:AB:cd:00:00:ff\n"
		"node 3 10.0.0.3\n"
		"node 5 10.0.0.5 00:00:00:00:00:00\n"
		"chain 9 7 3 5\n"
		"chain 4 5\n"
		"assign 0-7 9\n"
		"assign 8 4\n"
		"assign 9-15 9\n");

	assert_int_equal(m->epoch, 42);
	assert_int_equal(m->slot_count, 16);
	assert_int_equal(m->craq, 1);
	assert_int_equal(m->n_nodes, 3);
	/* Nodes are stored sorted by id, whatever the text order. */
	assert_int_equal(m->nodes[0].id, 3);
	assert_int_equal(m->nodes[0].ip, 0x0A000003u);
	assert_int_equal(m->nodes[0].udp_port, 7470);
	assert_int_equal(m->nodes[1].id, 5);
	assert_int_equal(m->nodes[2].id, 7);
	assert_int_equal(m->nodes[2].ip, 0xC0A80114u);
	assert_int_equal(m->nodes[2].udp_port, 9000);
	assert_memory_equal(m->nodes[2].mac,
			    ((uint8_t[]){ 0x02, 0xab, 0xcd, 0, 0, 0xff }), 6);
	assert_memory_equal(m->nodes[1].mac, ((uint8_t[6]){ 0 }), 6);
	/* Chains keep declaration order. */
	assert_int_equal(m->n_chains, 2);
	assert_int_equal(m->chains[0].id, 9);
	assert_int_equal(m->chains[0].len, 3);
	assert_int_equal(m->chains[0].nodes[0], 7);
	assert_int_equal(m->chains[0].nodes[1], 3);
	assert_int_equal(m->chains[0].nodes[2], 5);
	assert_int_equal(m->chains[1].id, 4);
	assert_int_equal(m->chains[1].len, 1);
	for (uint32_t s = 0; s < 16; s++)
		assert_int_equal(cat_map_slot_chain(m, s)->id, s == 8 ? 4 : 9);
	assert_roundtrip(m);
	cat_map_free(m);
}

static void test_craq_default_off_and_explicit(void **state)
{
	(void)state;
	const char *base = "epoch 1\nslots 1\nnode 1 10.0.0.1\nchain 1 1\n"
			   "assign 0 1\n";
	char buf[256];
	struct cat_map *m = parse_ok(base);

	assert_int_equal(m->craq, 0);
	cat_map_free(m);
	snprintf(buf, sizeof(buf), "%scraq off\n", base);
	m = parse_ok(buf);
	assert_int_equal(m->craq, 0);
	cat_map_free(m);
	snprintf(buf, sizeof(buf), "craq on\n%s", base);
	m = parse_ok(buf);
	assert_int_equal(m->craq, 1);
	cat_map_free(m);
}

static void test_limits_of_numbers(void **state)
{
	(void)state;
	struct cat_map *m = parse_ok(
		"epoch 4294967295\nslots 65536\n"
		"node 65535 223.255.255.254:65535 fe:ff:ff:ff:ff:ff\n"
		"node 1 1.0.0.0:1\n"
		"chain 65535 65535 1\nassign 0-65535 65535\n");

	assert_int_equal(m->epoch, 4294967295u);
	assert_int_equal(m->slot_count, 65536);
	assert_int_equal(m->nodes[1].id, 65535);
	assert_int_equal(m->nodes[1].udp_port, 65535);
	assert_int_equal(m->nodes[0].udp_port, 1);
	assert_int_equal(cat_map_slot_chain(m, 65535)->id, 65535);
	assert_roundtrip(m);
	cat_map_free(m);
}

static void test_comments_blanks_tabs_crlf(void **state)
{
	(void)state;
	struct cat_map *m = parse_ok(
		"# a map\r\n"
		"\r\n"
		"   \t  \n"
		"\tepoch\t3   # trailing comment\r\n"
		"slots 2#no space before the comment\n"
		"#craq on\n"
		"node 1   10.0.0.1\t\t02:00:00:00:00:01 \r\n"
		"chain 1 1\n"
		"assign 0-1 1"); /* no final newline */

	assert_int_equal(m->epoch, 3);
	assert_int_equal(m->slot_count, 2);
	assert_int_equal(m->craq, 0);
	assert_int_equal(m->nodes[0].mac[5], 1);
	cat_map_free(m);
}

/* Directives may come in any order: references are resolved at the end. */
static void test_order_independent(void **state)
{
	(void)state;
	struct cat_map *m = parse_ok(
		"assign 0-3 2\n"
		"chain 2 3 1\n"
		"assign 4-7 1\n"
		"node 3 10.0.0.3\n"
		"slots 8\n"
		"chain 1 1\n"
		"node 1 10.0.0.1\n"
		"epoch 9\n");

	assert_int_equal(m->chains[0].id, 2);
	assert_int_equal(m->chains[1].id, 1);
	assert_int_equal(cat_map_slot_chain(m, 0)->id, 2);
	assert_int_equal(cat_map_slot_chain(m, 7)->id, 1);
	assert_roundtrip(m);
	cat_map_free(m);
}

static void test_roundrobin(void **state)
{
	(void)state;
	struct cat_map *m = parse_ok(
		"epoch 1\nslots 64\n"
		"node 1 10.0.0.1\nnode 2 10.0.0.2\n"
		"chain 30 1 2\nchain 10 2 1\nchain 20 1\n"
		"assign all roundrobin\n");
	char buf[1024];

	/* Declaration order, not id order: 30, 10, 20, 30, ... */
	static const uint16_t order[3] = { 30, 10, 20 };

	for (uint32_t s = 0; s < 64; s++)
		assert_int_equal(cat_map_slot_chain(m, s)->id, order[s % 3]);
	/* Canonical text keeps the one-line form. */
	assert_true(cat_map_format(m, buf, sizeof(buf)) > 0);
	assert_non_null(strstr(buf, "\nassign all roundrobin\n"));
	assert_null(strstr(buf, "assign 0"));
	assert_roundtrip(m);
	cat_map_free(m);

	/* More chains than slots: the extra chains hold nothing. */
	m = parse_ok("epoch 1\nslots 2\nnode 1 10.0.0.1\n"
		     "chain 1 1\nchain 2 1\nchain 3 1\nassign all roundrobin\n");
	assert_int_equal(cat_map_slot_chain(m, 0)->id, 1);
	assert_int_equal(cat_map_slot_chain(m, 1)->id, 2);
	assert_roundtrip(m);
	cat_map_free(m);

	/* One chain: canonical text is the plain range. */
	m = parse_ok("epoch 1\nslots 8\nnode 1 10.0.0.1\nchain 5 1\n"
		     "assign all roundrobin\n");
	assert_true(cat_map_format(m, buf, sizeof(buf)) > 0);
	assert_non_null(strstr(buf, "\nassign 0-7 5\n"));
	assert_roundtrip(m);
	cat_map_free(m);
}

static void test_format_canonical_text(void **state)
{
	(void)state;
	struct cat_map *m = parse_ok(
		"slots 8 # untidy\n"
		"epoch 2\n"
		"node 2 10.0.0.2:7470 02:AA:BB:CC:DD:EE\n"
		"node 1 10.0.0.1:7000\n"
		"node 3 10.0.0.1:7001\n" /* same IP, other port: fine */
		"chain 7 2 1\nchain 3 1\n"
		"assign 7 3\nassign 0-1 7\nassign 2-2 7\nassign 3-5 3\n"
		"assign 6-6 7\n");
	char buf[1024];
	const char *want =
		"epoch 2\n"
		"slots 8\n"
		"craq off\n"
		"node 1 10.0.0.1:7000\n"
		"node 2 10.0.0.2 02:aa:bb:cc:dd:ee\n"
		"node 3 10.0.0.1:7001\n"
		"chain 7 2 1\n"
		"chain 3 1\n"
		"assign 0-2 7\n"
		"assign 3-5 3\n"
		"assign 6 7\n"
		"assign 7 3\n";

	assert_int_equal(cat_map_format(m, buf, sizeof(buf)), strlen(want));
	assert_string_equal(buf, want);
	cat_map_free(m);
}

/* ---- errors ---- */

#define HDR "epoch 1\nslots 8\n"
#define N12 "node 1 10.0.0.1\nnode 2 10.0.0.2\n"
#define OK_TAIL "chain 1 1 2\nassign 0-7 1\n"

static const struct {
	const char *text;
	const char *want;
} bad_cases[] = {
	/* unknown directive */
	{ HDR N12 OK_TAIL "replicas 3\n", "line 7: unknown directive 'replicas'" },
	{ "Epoch 1\n", "line 1: unknown directive 'Epoch'" },
	/* move */
	{ HDR N12 OK_TAIL "move 1 2\n", "line 7: move: expected 'move CHAIN TO FROM'" },
	{ HDR N12 OK_TAIL "move 1 x 3\n", "line 7: move: bad chain id 'x'" },
	{ HDR N12 OK_TAIL "move 1 1 2\n", "line 7: move: chains 1, 1 and 2 must differ" },
	{ HDR N12 OK_TAIL "chain 2 2\nchain 3 1\nmove 3 2 1\nmove 3 1 2\n", "line 10: move: chain 3 already moves (line 9)" },
	{ HDR N12 OK_TAIL "chain 2 2\nmove 2 1 5\n", "line 8: move: unknown chain 5" },
	/* join */
	{ HDR N12 OK_TAIL "join 1\n", "line 7: join: expected 'join CHAIN NODE'" },
	{ HDR N12 OK_TAIL "join 0 2\n", "line 7: join: bad chain id '0'" },
	{ HDR N12 OK_TAIL "join 1 x\n", "line 7: join: bad node id 'x'" },
	{ HDR N12 OK_TAIL "join 9 2\n", "line 7: join: unknown chain 9" },
	{ HDR N12 OK_TAIL "join 1 7\n", "line 7: join: chain 1: unknown node 7" },
	{ HDR N12 OK_TAIL "join 1 1\n", "line 7: join: node 1 is already a member of chain 1" },
	{ HDR N12 OK_TAIL "join 1 2\njoin 1 2\n", "line 8: join: chain 1 already has a joining node (line 7)" },
	/* epoch */
	{ "epoch 0\nslots 8\n" N12 OK_TAIL, "line 1: epoch 0" },
	{ "epoch 4294967296\n", "line 1: epoch: bad number '4294967296'" },
	{ "epoch -1\n", "line 1: epoch: bad number" },
	{ "epoch +1\n", "line 1: epoch: bad number" },
	{ "epoch 01\n", "line 1: epoch: bad number '01'" },
	{ "epoch 1x\n", "line 1: epoch: bad number" },
	{ "epoch\n", "line 1: epoch: expected one number" },
	{ "epoch 1 2\n", "line 1: epoch: expected one number" },
	{ "epoch 1\nepoch 2\n", "line 2: epoch given twice (first on line 1)" },
	{ "slots 8\n" N12 OK_TAIL, "line 0: missing 'epoch' line" },
	/* slots */
	{ "epoch 1\nslots 1000\n", "line 2: slots: '1000' is not a power of two" },
	{ "epoch 1\nslots 0\n", "line 2: slots: '0' is not a power of two" },
	{ "epoch 1\nslots 131072\n", "line 2: slots: '131072' is not a power" },
	{ "epoch 1\nslots 8\nslots 8\n", "line 3: slots given twice (first on line 2)" },
	{ "epoch 1\n" N12 OK_TAIL, "line 0: missing 'slots' line" },
	/* craq */
	{ HDR "craq yes\n", "line 3: craq: expected 'on' or 'off'" },
	{ HDR "craq\n", "line 3: craq: expected 'on' or 'off'" },
	{ HDR "craq ON\n", "line 3: craq: expected 'on' or 'off'" },
	{ HDR "craq on\ncraq off\n", "line 4: craq given twice (first on line 3)" },
	/* node */
	{ HDR "node 1\n", "line 3: node: expected 'node ID IP[:PORT] [MAC]'" },
	{ HDR "node 1 10.0.0.1 02:00:00:00:00:01 x\n", "line 3: node: expected" },
	{ HDR "node 0 10.0.0.1\n", "line 3: node: bad id '0'" },
	{ HDR "node 65536 10.0.0.1\n", "line 3: node: bad id '65536'" },
	{ HDR "node 1 10.0.0.1\nnode 1 10.0.0.2\n",
	  "line 4: node 1 already defined on line 3" },
	{ HDR "node 1 10.0.0\n", "line 3: node 1: bad IP address '10.0.0'" },
	{ HDR "node 1 10.0.0.256\n", "line 3: node 1: bad IP address" },
	{ HDR "node 1 10.0.0.1.2\n", "line 3: node 1: bad IP address" },
	{ HDR "node 1 10.0.0.01\n", "line 3: node 1: bad IP address" },
	{ HDR "node 1 10..0.1\n", "line 3: node 1: bad IP address" },
	{ HDR "node 1 10.0.0.1.\n", "line 3: node 1: bad IP address" },
	{ HDR "node 1 host.example\n", "line 3: node 1: bad IP address" },
	{ HDR "node 1 0.0.0.0\n", "line 3: node 1: bad IP address '0.0.0.0' (in 0.0.0.0/8)" },
	{ HDR "node 1 224.0.0.1\n", "(multicast)" },
	{ HDR "node 1 255.255.255.255\n", "(reserved or broadcast)" },
	{ HDR "node 1 10.0.0.1:0\n", "line 3: node 1: port 0" },
	{ HDR "node 1 10.0.0.1:65536\n", "line 3: node 1: bad port in '10.0.0.1:65536'" },
	{ HDR "node 1 10.0.0.1:\n", "line 3: node 1: bad port" },
	{ HDR "node 1 10.0.0.1:x\n", "line 3: node 1: bad port" },
	{ HDR "node 1 10.0.0.1:1:2\n", "line 3: node 1: bad port" },
	{ HDR "node 1 10.0.0.1 02:00:00:00:00\n", "line 3: node 1: bad MAC address '02:00:00:00:00'" },
	{ HDR "node 1 10.0.0.1 02:00:00:00:00:0g\n", "line 3: node 1: bad MAC address" },
	{ HDR "node 1 10.0.0.1 02-00-00-00-00-01\n", "line 3: node 1: bad MAC address" },
	{ HDR "node 1 10.0.0.1 2:0:0:0:0:1\n", "line 3: node 1: bad MAC address" },
	{ HDR "node 1 10.0.0.1 01:00:5e:00:00:01\n", "line 3: node 1: bad MAC address '01:00:5e:00:00:01' (multicast)" },
	{ HDR "node 1 10.0.0.1\nnode 2 10.0.0.1:7470\n",
	  "line 4: node 2: address 10.0.0.1:7470 already used by node 1" },
	/* chain */
	{ HDR N12 "chain 1\n", "line 5: chain 1: no nodes" },
	{ HDR N12 "chain\n", "line 5: chain: expected" },
	{ HDR N12 "chain 0 1\n", "line 5: chain: bad id '0'" },
	{ HDR N12 "chain 1 1 x\n", "line 5: chain 1: bad node id 'x'" },
	{ HDR N12 "chain 1 1 0\n", "line 5: chain 1: bad node id '0'" },
	{ HDR N12 "chain 1 1 2\nchain 1 2\n", "line 6: chain 1 already defined on line 5" },
	{ HDR N12 "chain 1 1 2 1\n", "line 5: chain 1: node 1 appears twice" },
	{ HDR N12 "chain 1 1 2 3 4 5 6 7 8 9\n", "line 5: chain 1: longer than 8 nodes" },
	{ HDR N12 "chain 1 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n",
	  "line 5: chain 1: longer than 8 nodes" },
	{ HDR N12 "chain 1 1 9\nassign 0-7 1\n", "line 5: chain 1: unknown node 9" },
	/* assign */
	{ HDR N12 "chain 1 1\nassign 0-8 1\n", "line 6: slot 8 out of range (slots 8: 0-7)" },
	{ HDR N12 "chain 1 1\nassign 0-7 1\nassign 9 1\n", "line 7: slot 9 out of range" },
	{ HDR N12 "chain 1 1\nassign 0-7 1\nassign 4294967295 1\n", "slot 4294967295 out of range" },
	{ HDR N12 "chain 1 1\nassign 0-4294967296 1\n", "line 6: assign: bad slot or range '0-4294967296'" },
	{ HDR N12 "chain 1 1\nassign 7-0 1\n", "line 6: assign: range 7-0 is backwards" },
	{ HDR N12 "chain 1 1\nassign 0-3-7 1\n", "line 6: assign: bad slot or range" },
	{ HDR N12 "chain 1 1\nassign -7 1\n", "line 6: assign: bad slot or range" },
	{ HDR N12 "chain 1 1\nassign 0- 1\n", "line 6: assign: bad slot or range" },
	{ HDR N12 "chain 1 1\nassign 0-7\n", "line 6: assign: expected" },
	{ HDR N12 "chain 1 1\nassign 0-7 x\n", "line 6: assign: bad chain id 'x'" },
	{ HDR N12 "chain 1 1\nassign 0-7 2\n", "line 6: assign: unknown chain 2" },
	{ HDR N12 "chain 1 1\nassign 0-7 roundrobin\n", "line 6: assign: 'roundrobin' only with 'all'" },
	{ HDR N12 "chain 1 1\nassign all 1\n", "line 6: assign all: only 'roundrobin'" },
	{ HDR N12 "chain 1 1\nassign 0-4 1\nassign 4-7 1\n",
	  "line 7: slot 4 assigned twice (first on line 6)" },
	{ HDR N12 "chain 1 1\nassign all roundrobin\nassign 3 1\n",
	  "line 7: slot 3 assigned twice (first on line 6)" },
	{ HDR N12 "chain 1 1\nassign all roundrobin\nassign all roundrobin\n",
	  "line 7: slot 0 assigned twice (first on line 6)" },
	{ HDR N12 "assign all roundrobin\n", "line 5: assign all roundrobin: no chains defined" },
	{ HDR N12 "chain 1 1\nassign 0-3 1\nassign 5 1\n", "line 0: slot 4 unassigned" },
	{ HDR N12 "chain 1 1\nassign 0-1 1\n", "line 0: slots 2-7 unassigned" },
	{ HDR N12 "chain 1 1\n", "line 0: slots 0-7 unassigned" },
	{ HDR, "line 0: slots 0-7 unassigned" },
	{ "", "line 0: missing 'epoch' line" },
	{ "# nothing\n\n", "line 0: missing 'epoch' line" },
	/* unprintable bytes are not echoed */
	{ "ep\x01och 1\n", "line 1: unknown directive 'ep?och'" },
	{ "\xef\xbb\xbf" "epoch 1\n", "line 1: unknown directive '???epoch'" },
	{ "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa 1\n",
	  "unknown directive 'aaaaaaaaaaaaaaaaaaaaaaaa...'" },
};

/* A joining node: parsed, kept out of the chain's members, written back
 * in canonical form, refused where it cannot join. */
static void test_join(void **state)
{
	(void)state;
	struct cat_map *m = parse_ok(
		"join 1 3 # node 3 joins\nepoch 4\nslots 8\n"
		"node 1 10.0.0.1\nnode 2 10.0.0.2\nnode 3 10.0.0.3\n"
		"chain 1 1 2\nchain 2 2\nassign all roundrobin\n");
	char buf[1024];

	assert_int_equal(m->chains[0].joining, 3);
	assert_int_equal(m->chains[1].joining, 0);
	assert_int_equal(m->chains[0].len, 2);
	assert_int_equal(cat_map_chain_pos(&m->chains[0], 3), -1);
	assert_int_equal(cat_map_chain_tail(&m->chains[0]), 2);
	assert_int_equal(cat_map_can_join(m, &m->chains[1], 3), 0);
	assert_int_equal(cat_map_can_join(m, &m->chains[1], 2), -EINVAL);
	assert_int_equal(cat_map_can_join(m, &m->chains[0], 1), -EINVAL);
	assert_int_equal(cat_map_can_join(m, &m->chains[1], 9), -EINVAL);
	assert_true(cat_map_format(m, buf, sizeof(buf)) > 0);
	assert_non_null(strstr(buf, "chain 2 2\njoin 1 3\nassign"));
	cat_map_free(m);
	m = parse_ok(buf);
	assert_int_equal(m->chains[0].joining, 3);
	cat_map_free(m);
}

/* A transitional chain of a slot move: parsed, formatted, round-tripped. */
static void test_move(void **state)
{
	(void)state;
	struct cat_map *m = parse_ok(
		"epoch 4\nslots 8\nnode 1 10.0.0.1\nnode 2 10.0.0.2\n"
		"chain 1 1\nchain 2 2\nchain 60001 1 2\nmove 60001 2 1\n"
		"assign 0-5 1\nassign 6-7 60001\n");
	char buf[1024];

	assert_int_equal(m->chains[2].move_to, 2);
	assert_int_equal(m->chains[2].move_from, 1);
	assert_int_equal(m->chains[0].move_to, 0);
	assert_true(cat_map_format(m, buf, sizeof(buf)) > 0);
	assert_non_null(strstr(buf, "chain 60001 1 2\nmove 60001 2 1\nassign"));
	cat_map_free(m);
	m = parse_ok(buf);
	assert_int_equal(m->chains[2].move_to, 2);
	assert_int_equal(m->chains[2].move_from, 1);
	cat_map_free(m);
}

static void test_errors(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(bad_cases); i++)
		parse_bad(bad_cases[i].text, bad_cases[i].want);
}

static void test_error_nul_byte(void **state)
{
	(void)state;
	static const char text[] = "epoch 1\nslots 8 # a\0b\n";
	struct cat_map *m = NULL;
	char err[128];

	assert_int_equal(cat_map_parse(text, sizeof(text) - 1, &m, err,
				       sizeof(err)), -EINVAL);
	assert_null(m);
	assert_non_null(strstr(err, "line 2: NUL byte"));
}

static void test_error_line_length(void **state)
{
	(void)state;
	char *text = malloc(4096);
	struct cat_map *m = NULL;
	char err[128];
	size_t n;

	/* Exactly 1024 bytes before the newline: accepted. */
	n = (size_t)sprintf(text, "epoch 1\nslots 1\nnode 1 10.0.0.1\n"
			    "chain 1 1\nassign 0 1 #");
	memset(text + n, 'x', 1024 - strlen("assign 0 1 #"));
	n += 1024 - strlen("assign 0 1 #");
	text[n++] = '\n';
	text[n] = '\0';
	assert_int_equal(cat_map_parse(text, n, &m, err, sizeof(err)), 0);
	cat_map_free(m);

	/* 1025: refused, even though it is all comment. */
	memmove(text + n, text + n - 1, 2);
	text[n - 1] = 'x';
	n++;
	assert_int_equal(cat_map_parse(text, n, &m, err, sizeof(err)),
			 -EINVAL);
	assert_null(m);
	assert_non_null(strstr(err, "line 5: longer than 1024 bytes"));
	free(text);
}

static void test_error_too_many(void **state)
{
	(void)state;
	char *text = malloc(CAT_MAP_TEXT_MAX);
	size_t n;

	/* 64 nodes and 256 chains are fine. */
	n = (size_t)sprintf(text, "epoch 1\nslots 256\n");
	for (unsigned i = 1; i <= CAT_MAP_NODES_MAX; i++)
		n += (size_t)sprintf(text + n, "node %u 10.0.%u.%u\n", i,
				     i / 256, i % 256);
	for (unsigned i = 1; i <= CAT_MAP_CHAINS_MAX; i++)
		n += (size_t)sprintf(text + n, "chain %u %u %u\n", i,
				     1 + i % 64, 1 + (i + 1) % 64);
	sprintf(text + n, "assign all roundrobin\n");
	struct cat_map *m = parse_ok(text);

	assert_int_equal(m->n_nodes, 64);
	assert_int_equal(m->n_chains, 256);
	for (uint32_t s = 0; s < 256; s++)
		assert_int_equal(m->slot_chain[s], s);
	assert_roundtrip(m);
	cat_map_free(m);

	sprintf(text + n, "chain 257 1\nassign all roundrobin\n");
	parse_bad(text, "line 323: too many chains (at most 256)");
	n = (size_t)sprintf(text, "epoch 1\nslots 256\n");
	for (unsigned i = 1; i <= CAT_MAP_NODES_MAX + 1; i++)
		n += (size_t)sprintf(text + n, "node %u 10.0.%u.%u\n", i,
				     i / 256, i % 256);
	parse_bad(text, "line 67: too many nodes (at most 64)");
	free(text);
}

static void test_err_buffer_handling(void **state)
{
	(void)state;
	const char *bad = "epoch 0\n";
	struct cat_map *m = NULL;
	char err[8];

	/* NULL or zero-length err is allowed. */
	assert_int_equal(cat_map_parse(bad, strlen(bad), &m, NULL, 0), -EINVAL);
	assert_int_equal(cat_map_parse(bad, strlen(bad), &m, err, 0), -EINVAL);
	/* A short err is truncated, still NUL-terminated. */
	memset(err, 'z', sizeof(err));
	assert_int_equal(cat_map_parse(bad, strlen(bad), &m, err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "line 1:");
	assert_null(m);
}

static void test_e2big(void **state)
{
	(void)state;
	char *text = malloc(CAT_MAP_TEXT_MAX + 1);
	const char *map = "epoch 1\nslots 1\nnode 1 10.0.0.1\nchain 1 1\n"
			  "assign 0 1\n";
	struct cat_map *m = NULL;
	char err[128];
	size_t n = strlen(map);

	/* Pad with comment lines to exactly the limit: accepted. */
	memcpy(text, map, n);
	while (n < CAT_MAP_TEXT_MAX) {
		size_t k = CAT_MAP_TEXT_MAX - n < 100 ? CAT_MAP_TEXT_MAX - n : 100;

		memset(text + n, '#', k);
		text[n + k - 1] = '\n';
		n += k;
	}
	assert_int_equal(cat_map_parse(text, n, &m, err, sizeof(err)), 0);
	cat_map_free(m);
	text[n++] = '\n';
	assert_int_equal(cat_map_parse(text, n, &m, err, sizeof(err)), -E2BIG);
	assert_null(m);
	assert_non_null(strstr(err, "65537 bytes"));
	free(text);
}

/* ---- lookups, dup, format, load ---- */

static const char *map_3chains =
	"epoch 5\nslots 16\n"
	"node 1 10.99.0.1\nnode 2 10.99.0.2\nnode 3 10.99.0.3\n"
	"node 4 10.99.0.4\n"
	"chain 1 1 2 3\nchain 2 2 3 1\nchain 3 3 1 2\n"
	"assign all roundrobin\n";

static void test_lookups(void **state)
{
	(void)state;
	struct cat_map *m = parse_ok(map_3chains);
	const struct cat_map_chain *c = cat_map_slot_chain(m, 4); /* 4%3=1 */

	assert_int_equal(c->id, 2);
	assert_int_equal(cat_map_chain_head(c), 2);
	assert_int_equal(cat_map_chain_tail(c), 1);
	assert_int_equal(cat_map_chain_pos(c, 2), 0);
	assert_int_equal(cat_map_chain_pos(c, 3), 1);
	assert_int_equal(cat_map_chain_pos(c, 1), 2);
	assert_int_equal(cat_map_chain_pos(c, 4), -1);  /* a spare */
	assert_int_equal(cat_map_chain_pos(c, 0), -1);
	assert_int_equal(cat_map_chain_pos(c, 65535), -1);

	assert_non_null(cat_map_node_by_id(m, 4));
	assert_int_equal(cat_map_node_by_id(m, 4)->ip, 0x0A630004u);
	assert_int_equal(cat_map_node_by_id(m, 2)->udp_port, 7470);
	assert_null(cat_map_node_by_id(m, 5));
	assert_null(cat_map_node_by_id(m, 0));

	/* A chain of one is head and tail. */
	cat_map_free(m);
	m = parse_ok("epoch 1\nslots 1\nnode 9 10.0.0.9\nchain 1 9\n"
		     "assign 0 1\n");
	c = cat_map_slot_chain(m, 0);
	assert_int_equal(cat_map_chain_head(c), 9);
	assert_int_equal(cat_map_chain_tail(c), 9);
	assert_int_equal(cat_map_chain_pos(c, 9), 0);
	cat_map_free(m);
}

static void test_dup(void **state)
{
	(void)state;
	struct cat_map *m = parse_ok(map_3chains);
	struct cat_map *d = cat_map_dup(m);

	assert_non_null(d);
	assert_ptr_not_equal(d->slot_chain, m->slot_chain);
	assert_map_equal(m, d);
	/* Independent: changing the copy leaves the original alone. */
	d->slot_chain[0] = 2;
	d->epoch = 6;
	assert_int_equal(m->slot_chain[0], 0);
	assert_int_equal(m->epoch, 5);
	assert_roundtrip(d);
	cat_map_free(d);
	cat_map_free(m);
	cat_map_free(NULL);
}

static void test_format_enospc(void **state)
{
	(void)state;
	struct cat_map *m = parse_ok(map_3chains);
	char full[1024], buf[1024];
	int n = cat_map_format(m, full, sizeof(full));

	assert_true(n > 0);
	/* Room for the text but not the NUL: -ENOSPC. */
	for (int cap = 0; cap <= n; cap++) {
		memset(buf, 'q', sizeof(buf));
		assert_int_equal(cat_map_format(m, buf, (size_t)cap), -ENOSPC);
		if (cap > 0)
			assert_int_equal(buf[0], '\0');
		assert_int_equal(buf[cap], 'q'); /* nothing written past cap */
	}
	assert_int_equal(cat_map_format(m, NULL, 0), -ENOSPC);
	assert_int_equal(cat_map_format(m, buf, (size_t)n + 1), n);
	assert_string_equal(buf, full);
	cat_map_free(m);
}

static char src_root[4200];

/* The shipped maps live in the source tree. meson compiles this file by a
 * path relative to the build root (tests/unit/replication/ below the
 * executable), so __FILE__ leads back to the sources from any working
 * directory; CATENA_SRC_ROOT overrides it. */
static const char *source_root(void)
{
	const char *env = getenv("CATENA_SRC_ROOT");
	const char *suffix = "tests/unit/replication/test_map.c";
	size_t n = strlen(__FILE__), sl = strlen(suffix);
	char exe[4096];
	ssize_t k;

	if (env != NULL && env[0] != '\0')
		return env;
	if (n < sl || strcmp(__FILE__ + n - sl, suffix) != 0)
		return ".";
	n -= sl;
	if (__FILE__[0] == '/') {
		snprintf(src_root, sizeof(src_root), "%.*s", (int)n, __FILE__);
		return src_root;
	}
	k = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (k <= 0)
		return ".";
	exe[k] = '\0';
	/* <build>/tests/unit/replication/test_map -> <build> */
	for (int up = 0; up < 4; up++) {
		char *slash = strrchr(exe, '/');

		if (slash == NULL)
			return ".";
		*slash = '\0';
	}
	snprintf(src_root, sizeof(src_root), "%s/%.*s", exe, (int)n, __FILE__);
	return src_root;
}

static struct cat_map *load_shipped(const char *name)
{
	char path[4300], err[256];
	struct cat_map *m = NULL;
	int rc;

	snprintf(path, sizeof(path), "%s/config/%s", source_root(), name);
	rc = cat_map_load(path, &m, err, sizeof(err));
	if (rc != 0)
		fail_msg("%s: %d %s (set CATENA_SRC_ROOT to the source tree)",
			 path, rc, err);
	return m;
}

static void check_cluster_nodes(const struct cat_map *m, unsigned n)
{
	assert_int_equal(m->epoch, 1);
	assert_int_equal(m->slot_count, 1024);
	assert_int_equal(m->craq, 0);
	assert_int_equal(m->n_nodes, n);
	for (unsigned i = 0; i < n; i++) {
		const struct cat_map_node *nd = cat_map_node_by_id(m, i + 1);

		assert_non_null(nd);
		assert_int_equal(nd->ip, 0x0A630000u + i + 1);
		assert_int_equal(nd->udp_port, 7470);
		assert_memory_equal(nd->mac, ((uint8_t[]){ 0x02, 0xca, 0x7e,
				    0, 0, (uint8_t)(i + 1) }), 6);
	}
}

static void test_shipped_maps(void **state)
{
	(void)state;
	struct cat_map *m;
	int role[4][3] = { { 0 } }; /* node -> count of head/middle/tail */

	m = load_shipped("cluster-single.map");
	check_cluster_nodes(m, 1);
	assert_int_equal(m->n_chains, 1);
	for (uint32_t s = 0; s < 1024; s++)
		assert_int_equal(cat_map_chain_tail(cat_map_slot_chain(m, s)), 1);
	assert_roundtrip(m);
	cat_map_free(m);

	m = load_shipped("cluster-1chain.map");
	check_cluster_nodes(m, 3);
	assert_int_equal(m->n_chains, 1);
	assert_int_equal(m->chains[0].len, 3);
	for (uint32_t s = 0; s < 1024; s++) {
		const struct cat_map_chain *c = cat_map_slot_chain(m, s);

		assert_int_equal(cat_map_chain_head(c), 1);
		assert_int_equal(cat_map_chain_pos(c, 2), 1);
		assert_int_equal(cat_map_chain_tail(c), 3);
	}
	assert_roundtrip(m);
	cat_map_free(m);

	m = load_shipped("cluster-3chains.map");
	check_cluster_nodes(m, 3);
	assert_int_equal(m->n_chains, 3);
	for (unsigned i = 0; i < 3; i++) {
		assert_int_equal(m->chains[i].len, 3);
		for (unsigned k = 0; k < 3; k++)
			role[m->chains[i].nodes[k]][k]++;
	}
	for (unsigned id = 1; id <= 3; id++)
		for (unsigned k = 0; k < 3; k++)
			assert_int_equal(role[id][k], 1);
	for (uint32_t s = 0; s < 1024; s++)
		assert_int_equal(cat_map_slot_chain(m, s)->id, s % 3 + 1);
	assert_roundtrip(m);
	cat_map_free(m);
}

static void test_load(void **state)
{
	(void)state;
	char path[] = "/tmp/catena-test-map.XXXXXX";
	struct cat_map *m = NULL;
	char err[256];
	int fd = mkstemp(path);
	char *big;

	assert_true(fd >= 0);
	assert_int_equal(write(fd, map_3chains, strlen(map_3chains)),
			 (ssize_t)strlen(map_3chains));
	assert_int_equal(cat_map_load(path, &m, err, sizeof(err)), 0);
	assert_int_equal(m->epoch, 5);
	assert_int_equal(m->n_nodes, 4);
	cat_map_free(m);

	/* Parse errors come through with their line. */
	assert_int_equal(ftruncate(fd, 0), 0);
	assert_int_equal(pwrite(fd, "epoch 1\nbogus\n", 14, 0), 14);
	assert_int_equal(cat_map_load(path, &m, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "line 2: unknown directive 'bogus'"));

	/* Over the limit: -E2BIG, without reading it all. */
	big = malloc(CAT_MAP_TEXT_MAX + 100);
	memset(big, '#', CAT_MAP_TEXT_MAX + 100);
	assert_int_equal(pwrite(fd, big, CAT_MAP_TEXT_MAX + 100, 0),
			 CAT_MAP_TEXT_MAX + 100);
	assert_int_equal(cat_map_load(path, &m, err, sizeof(err)), -E2BIG);
	assert_null(m);
	free(big);
	close(fd);
	unlink(path);

	/* open errors are -errno with the path in err. */
	assert_int_equal(cat_map_load(path, &m, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, path));
	assert_null(m);
	assert_int_equal(cat_map_load("/", &m, err, sizeof(err)), -EISDIR);
}

/* ---- random maps ---- */

/* A valid random map built in code. runs bounds how fragmented the slot
 * table is, so that the canonical text stays under CAT_MAP_TEXT_MAX. */
static struct cat_map *random_map(void)
{
	struct cat_map *m = calloc(1, sizeof(*m));
	uint32_t n_runs;

	assert_non_null(m);
	m->epoch = 1 + rnd_below(UINT32_MAX);
	m->slot_count = 1u << rnd_below(17);
	m->craq = rnd() & 1;
	m->n_nodes = (uint16_t)(1 + rnd_below(CAT_MAP_NODES_MAX));
	for (unsigned i = 0; i < m->n_nodes; i++) {
		struct cat_map_node *nd = &m->nodes[i];
		int dup;

		do {
			nd->id = (uint16_t)(1 + rnd_below(65535));
			/* Unique address: node index in the low byte. */
			nd->ip = ((1 + rnd_below(223)) << 24) |
				 (rnd() & 0xffff00u) | i;
			dup = 0;
			for (unsigned j = 0; j < i; j++)
				dup |= m->nodes[j].id == nd->id;
		} while (dup);
		nd->udp_port = rnd() & 1 ? 7470 : (uint16_t)(1 + rnd_below(65535));
		if (rnd() & 1) {
			for (int k = 0; k < 6; k++)
				nd->mac[k] = (uint8_t)rnd();
			nd->mac[0] &= 0xfe;
			nd->mac[5] |= 1; /* never all zero */
		}
	}
	m->n_chains = (uint16_t)(1 + rnd_below(rnd() & 1 ? 8 : CAT_MAP_CHAINS_MAX));
	for (unsigned i = 0; i < m->n_chains; i++) {
		struct cat_map_chain *c = &m->chains[i];
		unsigned maxlen = m->n_nodes < CAT_MAP_CHAIN_LEN_MAX ?
				  m->n_nodes : CAT_MAP_CHAIN_LEN_MAX;
		int dup;

		do {
			c->id = (uint16_t)(1 + rnd_below(65535));
			dup = 0;
			for (unsigned j = 0; j < i; j++)
				dup |= m->chains[j].id == c->id;
		} while (dup);
		c->len = (uint8_t)(1 + rnd_below(maxlen));
		for (unsigned k = 0; k < c->len; k++) {
			uint16_t id;

			do {
				id = m->nodes[rnd_below(m->n_nodes)].id;
				dup = 0;
				for (unsigned j = 0; j < k; j++)
					dup |= c->nodes[j] == id;
			} while (dup);
			c->nodes[k] = id;
		}
	}
	/* Nodes as parse stores them: sorted by id. */
	for (unsigned i = 1; i < m->n_nodes; i++)
		for (unsigned j = i; j > 0 && m->nodes[j - 1].id > m->nodes[j].id; j--) {
			struct cat_map_node t = m->nodes[j];

			m->nodes[j] = m->nodes[j - 1];
			m->nodes[j - 1] = t;
		}
	m->slot_chain = malloc(m->slot_count * sizeof(uint16_t));
	assert_non_null(m->slot_chain);
	if (rnd_below(4) == 0) {
		for (uint32_t s = 0; s < m->slot_count; s++)
			m->slot_chain[s] = (uint16_t)(s % m->n_chains);
	} else {
		uint16_t cur = (uint16_t)rnd_below(m->n_chains);

		n_runs = 1 + rnd_below(300);
		for (uint32_t s = 0; s < m->slot_count; s++) {
			if (rnd_below(m->slot_count) < n_runs)
				cur = (uint16_t)rnd_below(m->n_chains);
			m->slot_chain[s] = cur;
		}
	}
	return m;
}

static size_t apnd(char *buf, size_t n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static size_t apnd(char *buf, size_t n, const char *fmt, ...)
{
	va_list ap;
	int k;

	va_start(ap, fmt);
	k = vsnprintf(buf + n, FMT_CAP - n, fmt, ap);
	va_end(ap);
	assert_true(k >= 0 && n + (size_t)k < FMT_CAP);
	return n + (size_t)k;
}

static const char *sp(void)
{
	static const char *const s[] = { " ", "  ", "\t", " \t " };

	return s[rnd_below(4)];
}

/* The same map written untidily: lines shuffled (chains keep their
 * relative order, which round robin depends on), random blanks, comments,
 * CRLF, explicit default port, upper-case MACs, explicit zero MAC, ranges
 * split into pieces and single slots written as "s-s". */
static size_t untidy_text(const struct cat_map *m, char *buf)
{
	enum { L_EPOCH, L_SLOTS, L_CRAQ, L_NODE, L_CHAIN, L_ASSIGN };
	struct line { int kind; uint32_t a, b; uint16_t c; } *lines;
	size_t nl = 0, n = 0, next_chain = 0;
	int rr = m->n_chains > 1;

	lines = malloc((m->slot_count + 400) * sizeof(*lines));
	assert_non_null(lines);
	lines[nl++] = (struct line){ L_EPOCH, 0, 0, 0 };
	lines[nl++] = (struct line){ L_SLOTS, 0, 0, 0 };
	if (m->craq || rnd() & 1)
		lines[nl++] = (struct line){ L_CRAQ, 0, 0, 0 };
	for (unsigned i = 0; i < m->n_nodes; i++)
		lines[nl++] = (struct line){ L_NODE, i, 0, 0 };
	for (unsigned i = 0; i < m->n_chains; i++)
		lines[nl++] = (struct line){ L_CHAIN, i, 0, 0 };
	for (uint32_t s = 0; s < m->slot_count && rr; s++)
		rr = m->slot_chain[s] == s % m->n_chains;
	/* As ranges, round robin is a line per slot: only for small maps. */
	if (rr && ((rnd() & 1) || m->slot_count > 1024)) {
		lines[nl++] = (struct line){ L_ASSIGN, 1, 0, 0xffff };
	} else {
		uint32_t lo = 0;

		for (uint32_t s = 1; s <= m->slot_count; s++) {
			/* Split runs at random (rarely, to bound the size). */
			if (s < m->slot_count &&
			    m->slot_chain[s] == m->slot_chain[lo] &&
			    rnd_below(m->slot_count) > 40)
				continue;
			lines[nl++] = (struct line){ L_ASSIGN, lo, s - 1,
						     m->slot_chain[lo] };
			lo = s;
		}
	}
	/* Fisher-Yates, then put the chains back in declaration order. */
	for (size_t i = nl - 1; i > 0; i--) {
		size_t j = rnd_below((uint32_t)i + 1);
		struct line t = lines[i];

		lines[i] = lines[j];
		lines[j] = t;
	}
	for (size_t i = 0; i < nl; i++)
		if (lines[i].kind == L_CHAIN)
			lines[i].a = (uint32_t)next_chain++;

	for (size_t i = 0; i < nl; i++) {
		const struct line *l = &lines[i];

		if (rnd_below(8) == 0)
			n = apnd(buf, n, "# comment %u\n", rnd());
		if (rnd_below(8) == 0)
			n = apnd(buf, n, "%s\n", sp());
		n = apnd(buf, n, "%s", rnd_below(4) == 0 ? sp() : "");
		switch (l->kind) {
		case L_EPOCH:
			n = apnd(buf, n, "epoch%s%u", sp(), m->epoch);
			break;
		case L_SLOTS:
			n = apnd(buf, n, "slots%s%u", sp(), m->slot_count);
			break;
		case L_CRAQ:
			n = apnd(buf, n, "craq%s%s", sp(), m->craq ? "on" : "off");
			break;
		case L_NODE: {
			const struct cat_map_node *nd = &m->nodes[l->a];
			int zero = 1;

			for (int k = 0; k < 6; k++)
				zero &= nd->mac[k] == 0;
			n = apnd(buf, n, "node%s%u%s%u.%u.%u.%u", sp(), nd->id,
				 sp(), nd->ip >> 24, (nd->ip >> 16) & 255,
				 (nd->ip >> 8) & 255, nd->ip & 255);
			if (nd->udp_port != 7470 || rnd() & 1)
				n = apnd(buf, n, ":%u", nd->udp_port);
			if (!zero || rnd() & 1)
				n = apnd(buf, n, rnd() & 1 ?
					 "%s%02X:%02X:%02X:%02X:%02X:%02X" :
					 "%s%02x:%02x:%02x:%02x:%02x:%02x",
					 sp(), nd->mac[0], nd->mac[1],
					 nd->mac[2], nd->mac[3], nd->mac[4],
					 nd->mac[5]);
			break;
		}
		case L_CHAIN: {
			const struct cat_map_chain *c = &m->chains[l->a];

			n = apnd(buf, n, "chain%s%u", sp(), c->id);
			for (unsigned k = 0; k < c->len; k++)
				n = apnd(buf, n, "%s%u", sp(), c->nodes[k]);
			break;
		}
		case L_ASSIGN:
			if (l->c == 0xffff)
				n = apnd(buf, n, "assign%sall%sroundrobin",
					 sp(), sp());
			else if (l->a == l->b && rnd() & 1)
				n = apnd(buf, n, "assign%s%u%s%u", sp(), l->a,
					 sp(), m->chains[l->c].id);
			else
				n = apnd(buf, n, "assign%s%u-%u%s%u", sp(),
					 l->a, l->b, sp(), m->chains[l->c].id);
			break;
		}
		if (rnd_below(4) == 0)
			n = apnd(buf, n, "%s# why%s", sp(), sp());
		n = apnd(buf, n, rnd_below(8) == 0 ? "\r\n" : "\n");
	}
	free(lines);
	return n;
}

static void test_random_maps_roundtrip(void **state)
{
	(void)state;
	char *text = malloc(FMT_CAP);
	int untidy_parsed = 0;

	rng = 0x5EEDC0FFEEull;
	for (int i = 0; i < 400; i++) {
		struct cat_map *m = random_map(), *back = NULL;
		char err[256];
		size_t n;
		int rc;

		assert_roundtrip(m);
		n = untidy_text(m, text);
		if (n <= CAT_MAP_TEXT_MAX) {
			rc = cat_map_parse(text, n, &back, err, sizeof(err));
			if (rc != 0)
				fail_msg("map %d: %s\n%s", i, err, text);
			assert_map_equal(m, back);
			/* The bound docs/CLUSTER_MAP.md promises. */
			assert_true((size_t)cat_map_format(back, text, FMT_CAP)
				    <= n + 10);
			cat_map_free(back);
			untidy_parsed++;
		}
		cat_map_free(m);
	}
	/* Only the odd huge map may go over the text limit. */
	assert_true(untidy_parsed >= 350);
	free(text);
}

/* Nothing in the parser may follow the locale (no ctype, no strtoul). */
static void test_locale_independent(void **state)
{
	(void)state;
	struct cat_map *m;

	if (setlocale(LC_ALL, "C.UTF-8") == NULL &&
	    setlocale(LC_ALL, "") == NULL)
		skip();
	m = parse_ok(map_3chains);
	assert_int_equal(m->epoch, 5);
	assert_roundtrip(m);
	cat_map_free(m);
	parse_bad("epoch \xd9\xa1\n", "bad number"); /* Arabic-Indic one */
	parse_bad("epoch\xc2\xa0" "1\n", "unknown directive"); /* NBSP */
	setlocale(LC_ALL, "C");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_directive),
		cmocka_unit_test(test_craq_default_off_and_explicit),
		cmocka_unit_test(test_limits_of_numbers),
		cmocka_unit_test(test_comments_blanks_tabs_crlf),
		cmocka_unit_test(test_order_independent),
		cmocka_unit_test(test_roundrobin),
		cmocka_unit_test(test_format_canonical_text),
		cmocka_unit_test(test_join),
		cmocka_unit_test(test_move),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_error_nul_byte),
		cmocka_unit_test(test_error_line_length),
		cmocka_unit_test(test_error_too_many),
		cmocka_unit_test(test_err_buffer_handling),
		cmocka_unit_test(test_e2big),
		cmocka_unit_test(test_lookups),
		cmocka_unit_test(test_dup),
		cmocka_unit_test(test_format_enospc),
		cmocka_unit_test(test_shipped_maps),
		cmocka_unit_test(test_load),
		cmocka_unit_test(test_random_maps_roundtrip),
		cmocka_unit_test(test_locale_independent),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
