/*
 * Unit tests for dataplane/cksum.h: cat_cksum_raw gives what DPDK's
 * rte_raw_cksum gives for every length 0..1600 at every start offset 0..7
 * over random, all-zero and all-0xFF bytes (sums that carry most), and
 * RFC 1071's worked example.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <rte_ip.h>

#include "dataplane/cksum.h"

static uint64_t rng = 0x2545F4914F6CDD1Dull;

static uint8_t rnd8(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint8_t)(rng >> 24);
}

static void check_all(const uint8_t *buf)
{
	for (size_t off = 0; off < 8; off++)
		for (size_t len = 0; len <= 1600; len++) {
			uint16_t want = rte_raw_cksum(buf + off, len);
			uint16_t got = cat_cksum_raw(buf + off, len);

			if (got != want)
				fail_msg("off %zu len %zu: got %04x want %04x",
					 off, len, got, want);
		}
}

static void test_matches_rte_raw_cksum(void **state)
{
	uint8_t *buf = malloc(1600 + 8);

	(void)state;
	assert_non_null(buf);
	for (size_t i = 0; i < 1608; i++)
		buf[i] = rnd8();
	check_all(buf);
	memset(buf, 0, 1608);
	check_all(buf);
	memset(buf, 0xFF, 1608);
	check_all(buf);
	free(buf);
}

/* RFC 1071 section 3: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2 (big-endian
 * words; in native little-endian words the bytes of the sum swap). */
static void test_rfc1071_example(void **state)
{
	static const uint8_t b[8] = { 0x00, 0x01, 0xf2, 0x03,
				      0xf4, 0xf5, 0xf6, 0xf7 };
	uint16_t s = cat_cksum_raw(b, sizeof(b));
	uint8_t out[2];

	(void)state;
	memcpy(out, &s, 2);
	assert_int_equal(out[0], 0xdd);
	assert_int_equal(out[1], 0xf2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_matches_rte_raw_cksum),
		cmocka_unit_test(test_rfc1071_example),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
