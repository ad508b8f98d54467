/*
 * Unit tests for replication/linkauth.c: the node-to-node trailer and tag
 * (every covered byte matters, the tag itself too), the replay window at
 * its edges, and the link keys: derivation per epoch and direction, and
 * their sealed delivery to one node only.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "replication/linkauth.h"

#define PLEN 100u   /* payload bytes, trailer included */

static const uint8_t key[CAT_LINKAUTH_KEY_LEN] = {
	0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15 };

/* A sealed datagram: 16 pseudo-header bytes, then PLEN payload bytes. */
static void sealed(uint8_t buf[CAT_LINKAUTH_PSEUDO_LEN + PLEN])
{
	cat_linkauth_pseudo(buf, 0x0100000a, 0x0200000a, 0x2e1d, 0x2e1d,
			    (uint16_t)(8 + PLEN));
	for (unsigned int i = 0; i < PLEN; i++)
		buf[CAT_LINKAUTH_PSEUDO_LEN + i] = (uint8_t)(i * 7);
	cat_linkauth_seal(key, buf, PLEN, 3, 42, 0x1122334455667788ull);
}

static void test_seal_verifies_and_parses(void **state)
{
	uint8_t buf[CAT_LINKAUTH_PSEUDO_LEN + PLEN];
	struct cat_linkauth_trailer t;

	(void)state;
	sealed(buf);
	assert_int_equal(cat_linkauth_verify(key, buf, PLEN), 0);
	assert_int_equal(cat_linkauth_parse(buf + CAT_LINKAUTH_PSEUDO_LEN, PLEN, &t), 0);
	assert_int_equal(t.worker, 3);
	assert_int_equal(t.epoch, 42);
	assert_true(t.counter == 0x1122334455667788ull);
	assert_ptr_equal(t.tag, buf + CAT_LINKAUTH_PSEUDO_LEN + PLEN - 16);
	/* The layout PROTOCOL.md gives, byte by byte. */
	{
		const uint8_t *p = buf + CAT_LINKAUTH_PSEUDO_LEN + PLEN - 32;
		static const uint8_t head[16] = { 'L', 'A', 1, 3, 42, 0, 0, 0,
			0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11 };

		assert_memory_equal(p, head, sizeof(head));
	}
}

/* A fixed vector, computed with an independent SipHash-2-4-128 (a Python
 * transcription of the reference, which gives the reference's
 * a3817f04ba25a8e66df67214c7550293 for the empty input under key 00..0f)
 * over the bytes docs/PROTOCOL.md describes: 10.0.0.1:7470 ->
 * 10.0.0.2:7470, UDP length 108, the payload bytes i * 7, the trailer
 * head of worker 3, epoch 42, counter 0x1122334455667788. */
static void test_fixed_vector(void **state)
{
	static const uint8_t pseudo[16] = { 0x0a, 0, 0, 1, 0x0a, 0, 0, 2,
		0x1d, 0x2e, 0x1d, 0x2e, 0x00, 0x6c, 0, 0 };
	static const uint8_t tag[16] = { 0xc5, 0x4d, 0xc0, 0xf1, 0x1e, 0x1d,
		0x1c, 0x13, 0x7d, 0x0a, 0x3d, 0x9c, 0x9d, 0x2f, 0x98, 0x1e };
	uint8_t buf[CAT_LINKAUTH_PSEUDO_LEN + PLEN];

	(void)state;
	sealed(buf);
	assert_memory_equal(buf, pseudo, sizeof(pseudo));
	assert_memory_equal(buf + sizeof(buf) - 16, tag, sizeof(tag));
}

/* Each byte the tag covers, flipped one at a time: the pseudo header
 * (addresses, ports, length, the zero checksum field), every payload
 * byte, the trailer's fields and the tag itself. */
static void test_every_covered_byte_is_covered(void **state)
{
	uint8_t buf[CAT_LINKAUTH_PSEUDO_LEN + PLEN];

	(void)state;
	for (unsigned int i = 0; i < sizeof(buf); i++) {
		sealed(buf);
		buf[i] ^= 0x01;
		assert_int_equal(cat_linkauth_verify(key, buf, PLEN), -EBADMSG);
	}
}

static void test_readdressed_frame_fails(void **state)
{
	uint8_t buf[CAT_LINKAUTH_PSEUDO_LEN + PLEN];

	(void)state;
	/* The same payload under another source address, another port
	 * (a per-worker one), another length. */
	sealed(buf);
	cat_linkauth_pseudo(buf, 0x0300000a, 0x0200000a, 0x2e1d, 0x2e1d, 8 + PLEN);
	assert_int_equal(cat_linkauth_verify(key, buf, PLEN), -EBADMSG);
	sealed(buf);
	cat_linkauth_pseudo(buf, 0x0100000a, 0x0200000a, 0x2e1d, 0x2f1d, 8 + PLEN);
	assert_int_equal(cat_linkauth_verify(key, buf, PLEN), -EBADMSG);
	sealed(buf);
	cat_linkauth_pseudo(buf, 0x0100000a, 0x0200000a, 0x2e1d, 0x2e1d, 9 + PLEN);
	assert_int_equal(cat_linkauth_verify(key, buf, PLEN), -EBADMSG);
}

static void test_other_key_fails(void **state)
{
	uint8_t buf[CAT_LINKAUTH_PSEUDO_LEN + PLEN];
	uint8_t other[CAT_LINKAUTH_KEY_LEN];

	(void)state;
	sealed(buf);
	memcpy(other, key, sizeof(other));
	other[15] ^= 0x80;
	assert_int_equal(cat_linkauth_verify(other, buf, PLEN), -EBADMSG);
}

/* A datagram cut short ends in bytes of its payload, not a trailer. */
static void test_parse_refuses_what_is_not_a_trailer(void **state)
{
	uint8_t buf[CAT_LINKAUTH_PSEUDO_LEN + PLEN];
	const uint8_t *pl = buf + CAT_LINKAUTH_PSEUDO_LEN;
	struct cat_linkauth_trailer t;

	(void)state;
	sealed(buf);
	assert_int_equal(cat_linkauth_parse(pl, 31, &t), -ENOENT);
	assert_int_equal(cat_linkauth_parse(pl, 0, &t), -ENOENT);
	assert_int_equal(cat_linkauth_parse(pl, PLEN - 1, &t), -ENOENT);
	buf[CAT_LINKAUTH_PSEUDO_LEN + PLEN - 30] = 2; /* version */
	assert_int_equal(cat_linkauth_parse(pl, PLEN, &t), -EPROTO);
	buf[CAT_LINKAUTH_PSEUDO_LEN + PLEN - 32] = 'X';
	assert_int_equal(cat_linkauth_parse(pl, PLEN, &t), -ENOENT);
	/* Exactly a trailer, no message: parses (the worker then finds no
	 * message in it). */
	sealed(buf);
	assert_int_equal(cat_linkauth_parse(pl + PLEN - 32, 32, &t), 0);
}

static void test_window_edges(void **state)
{
	struct cat_linkauth_window w = { 0, 0 };

	(void)state;
	/* Empty: anything, including 0. */
	assert_int_equal(cat_linkauth_window_check(&w, 0), 0);
	assert_int_equal(cat_linkauth_window_check(&w, UINT64_MAX), 0);
	cat_linkauth_window_take(&w, 1000);
	/* The same again, once. */
	assert_int_equal(cat_linkauth_window_check(&w, 1000), -EALREADY);
	/* Older, within the window and not seen: taken once. */
	assert_int_equal(cat_linkauth_window_check(&w, 999), 0);
	cat_linkauth_window_take(&w, 999);
	assert_int_equal(cat_linkauth_window_check(&w, 999), -EALREADY);
	/* The oldest the window holds (top - 63) and one past it. */
	assert_int_equal(cat_linkauth_window_check(&w, 1000 - 63), 0);
	assert_int_equal(cat_linkauth_window_check(&w, 1000 - 64), -EALREADY);
	cat_linkauth_window_take(&w, 1000 - 63);
	assert_int_equal(cat_linkauth_window_check(&w, 1000 - 63), -EALREADY);
	/* A step forward by 1 keeps what was seen, 63 back. */
	cat_linkauth_window_take(&w, 1001);
	assert_int_equal(cat_linkauth_window_check(&w, 1000), -EALREADY);
	assert_int_equal(cat_linkauth_window_check(&w, 999), -EALREADY);
	assert_int_equal(cat_linkauth_window_check(&w, 998), 0);
	/* 1000 - 63 is now 64 behind: too old, whatever it was. */
	assert_int_equal(cat_linkauth_window_check(&w, 1000 - 63), -EALREADY);
	/* A jump by exactly the window size forgets everything but the top. */
	cat_linkauth_window_take(&w, 1001 + 64);
	assert_int_equal(cat_linkauth_window_check(&w, 1001 + 64), -EALREADY);
	assert_int_equal(cat_linkauth_window_check(&w, 1001 + 1), 0);
	assert_int_equal(cat_linkauth_window_check(&w, 1001), -EALREADY);
	/* A jump by 63 keeps the old top as the oldest bit. */
	cat_linkauth_window_take(&w, 1001 + 64 + 63);
	assert_int_equal(cat_linkauth_window_check(&w, 1001 + 64), -EALREADY);
	assert_int_equal(cat_linkauth_window_check(&w, 1001 + 65), 0);
	/* Counter 0 after the window moved: too old. */
	assert_int_equal(cat_linkauth_window_check(&w, 0), -EALREADY);
	/* The largest counter. */
	cat_linkauth_window_take(&w, UINT64_MAX);
	assert_int_equal(cat_linkauth_window_check(&w, UINT64_MAX), -EALREADY);
	assert_int_equal(cat_linkauth_window_check(&w, UINT64_MAX - 1), 0);
}

static const uint8_t seed[CAT_LINKAUTH_SEED_LEN] = { 7, 7, 7 };
static const uint8_t secret[] = "a cluster secret of some length";

static void test_link_keys_differ_by_epoch_and_direction(void **state)
{
	uint8_t a[16], b[16], c[16], d[16], e[16];
	uint8_t other_seed[CAT_LINKAUTH_SEED_LEN] = { 7, 7, 8 };

	(void)state;
	assert_int_equal(cat_linkauth_link_key(seed, 5, 1, 2, a), 0);
	assert_int_equal(cat_linkauth_link_key(seed, 5, 2, 1, b), 0);
	assert_int_equal(cat_linkauth_link_key(seed, 6, 1, 2, c), 0);
	assert_int_equal(cat_linkauth_link_key(other_seed, 5, 1, 2, d), 0);
	assert_int_equal(cat_linkauth_link_key(seed, 5, 1, 2, e), 0);
	assert_memory_not_equal(a, b, 16);
	assert_memory_not_equal(a, c, 16);
	assert_memory_not_equal(a, d, 16);
	assert_memory_equal(a, e, 16);
}

static void test_keys_reach_their_node_only(void **state)
{
	uint8_t blob[CAT_LINKAUTH_BLOB_MAX];
	struct cat_linkauth_link links[CAT_LINKAUTH_PEERS_MAX];
	const uint16_t peers[] = { 1, 3 };
	uint8_t want[16];
	unsigned int n = 0;
	int len;

	(void)state;
	len = cat_linkauth_keys_seal(seed, secret, sizeof(secret) - 1, 9, 2,
				     peers, 2, blob, sizeof(blob));
	assert_int_equal(len, 24 + 8 + 2 * 34 + 16);
	assert_int_equal(cat_linkauth_keys_open(secret, sizeof(secret) - 1, 9, 2,
						blob, (size_t)len, links, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(links[0].peer, 1);
	assert_int_equal(links[1].peer, 3);
	/* tx: node 2 -> peer, rx: peer -> node 2, this epoch. */
	cat_linkauth_link_key(seed, 9, 2, 3, want);
	assert_memory_equal(links[1].tx, want, 16);
	cat_linkauth_link_key(seed, 9, 3, 2, want);
	assert_memory_equal(links[1].rx, want, 16);

	/* Another node, another epoch, another secret, an altered byte, a
	 * short blob: refused. */
	assert_int_equal(cat_linkauth_keys_open(secret, sizeof(secret) - 1, 9, 3,
						blob, (size_t)len, links, &n), -EBADMSG);
	assert_int_equal(cat_linkauth_keys_open(secret, sizeof(secret) - 1, 10, 2,
						blob, (size_t)len, links, &n), -EBADMSG);
	assert_int_equal(cat_linkauth_keys_open((const uint8_t *)"another secret!!", 16,
						9, 2, blob, (size_t)len, links, &n),
			 -EBADMSG);
	for (int i = 0; i < len; i++) {
		blob[i] ^= 0x10;
		assert_int_equal(cat_linkauth_keys_open(secret, sizeof(secret) - 1, 9,
							2, blob, (size_t)len, links,
							&n), -EBADMSG);
		blob[i] ^= 0x10;
	}
	assert_int_equal(cat_linkauth_keys_open(secret, sizeof(secret) - 1, 9, 2,
						blob, 24 + 16 + 7, links, &n), -EINVAL);
	assert_int_equal(cat_linkauth_keys_open(secret, sizeof(secret) - 1, 9, 2,
						blob, (size_t)len - 1, links, &n), -EBADMSG);
	/* Too many peers to seal, too small a buffer. */
	assert_int_equal(cat_linkauth_keys_seal(seed, secret, sizeof(secret) - 1, 9,
						2, peers, CAT_LINKAUTH_PEERS_MAX + 1,
						blob, sizeof(blob)), -EINVAL);
	assert_int_equal(cat_linkauth_keys_seal(seed, secret, sizeof(secret) - 1, 9,
						2, peers, 2, blob, 50), -EINVAL);
}

/* A full map's delivery fits the blob bound. */
static void test_full_map_fits(void **state)
{
	uint8_t blob[CAT_LINKAUTH_BLOB_MAX];
	struct cat_linkauth_link links[CAT_LINKAUTH_PEERS_MAX];
	uint16_t peers[CAT_LINKAUTH_PEERS_MAX];
	unsigned int n = 0;
	int len;

	(void)state;
	for (unsigned int i = 0; i < CAT_LINKAUTH_PEERS_MAX; i++)
		peers[i] = (uint16_t)(100 + i);
	len = cat_linkauth_keys_seal(seed, secret, sizeof(secret) - 1, 1, 1, peers,
				     CAT_LINKAUTH_PEERS_MAX, blob, sizeof(blob));
	assert_int_equal(len, (int)CAT_LINKAUTH_BLOB_MAX);
	assert_int_equal(cat_linkauth_keys_open(secret, sizeof(secret) - 1, 1, 1,
						blob, (size_t)len, links, &n), 0);
	assert_int_equal(n, CAT_LINKAUTH_PEERS_MAX);
	assert_int_equal(links[63].peer, 163);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_seal_verifies_and_parses),
		cmocka_unit_test(test_fixed_vector),
		cmocka_unit_test(test_every_covered_byte_is_covered),
		cmocka_unit_test(test_readdressed_frame_fails),
		cmocka_unit_test(test_other_key_fails),
		cmocka_unit_test(test_parse_refuses_what_is_not_a_trailer),
		cmocka_unit_test(test_window_edges),
		cmocka_unit_test(test_link_keys_differ_by_epoch_and_direction),
		cmocka_unit_test(test_keys_reach_their_node_only),
		cmocka_unit_test(test_full_map_fits),
	};

	if (cat_linkauth_init() != 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
