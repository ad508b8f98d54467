/*
 * Unit tests for replication/hash.c: CRC-32C against published vectors and
 * against a bitwise reference written here (so the SSE4.2 and the table
 * paths are both held to the standard, at every length and alignment), and
 * the slot mapping that clients in other languages must reproduce.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "replication/hash.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* The definition, one bit at a time: reflected Castagnoli polynomial
 * 0x82F63B78 (= 0x1EDC6F41 bit-reversed), init and final xor ~0. */
static uint32_t crc32c_ref(const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint32_t crc = 0xFFFFFFFFu;

	while (len--) {
		crc ^= *p++;
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1u)));
	}
	return crc ^ 0xFFFFFFFFu;
}

static uint64_t rng = 0x9E3779B97F4A7C15ull;

static uint8_t rnd8(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint8_t)(rng >> 24);
}

static void test_reference_is_crc32c(void **state)
{
	(void)state;
	/* Guard the guard: the reference must itself be standard CRC-32C. */
	assert_int_equal(crc32c_ref("123456789", 9), 0xE3069283u);
	assert_int_equal(crc32c_ref("", 0), 0);
}

typedef uint32_t (*crc_fn)(const void *, size_t);

/* The inline path hash.h gives callers, as a function to pass around. */
static uint32_t crc_inline(const void *buf, size_t len)
{
	return cat_hash_crc32c(buf, len);
}

/* Each CRC test runs on every path: the one callers get (inlined SSE4.2
 * in a build for it), the run-time dispatcher and the portable table,
 * which a build for SSE4.2 never calls but must still be right. */
static crc_fn impl(void **state)
{
	return (crc_fn)(uintptr_t)*state;
}

/* On x86-64 the default build (crc32c=auto) inlines the instruction. */
static void test_crc32c_inline_in_default_build(void **state)
{
	(void)state;
#if defined(__x86_64__) && !defined(CAT_BUILD_CRC32C_PORTABLE)
	assert_int_equal(CAT_HASH_CRC32C_INLINE, 1);
#endif
}

static void test_crc32c_known_vectors(void **state)
{
	crc_fn crc = impl(state);
	uint8_t b[32];

	assert_int_equal(crc("123456789", 9), 0xE3069283u);
	assert_int_equal(crc("", 0), 0);

	/* RFC 3720 appendix B.4. */
	memset(b, 0, sizeof(b));
	assert_int_equal(crc(b, 32), 0x8A9136AAu);
	memset(b, 0xFF, sizeof(b));
	assert_int_equal(crc(b, 32), 0x62A8AB43u);
	for (int i = 0; i < 32; i++)
		b[i] = (uint8_t)i;
	assert_int_equal(crc(b, 32), 0x46DD794Eu);
	for (int i = 0; i < 32; i++)
		b[i] = (uint8_t)(31 - i);
	assert_int_equal(crc(b, 32), 0x113FDB5Cu);

	assert_int_equal(crc("a", 1), 0xC1D04330u);
}

/* Every length 0..64 at every start offset 0..15: the 8-byte SSE4.2 loop,
 * its head and its tail all meet the bitwise definition. */
static void test_crc32c_lengths_and_alignment(void **state)
{
	crc_fn crc = impl(state);
	uint8_t *buf = malloc(64 + 16);
	assert_non_null(buf);
	for (size_t i = 0; i < 64 + 16; i++)
		buf[i] = rnd8();

	for (size_t off = 0; off < 16; off++) {
		for (size_t len = 0; len <= 64; len++) {
			uint32_t want = crc32c_ref(buf + off, len);
			uint32_t got = crc(buf + off, len);
			if (got != want)
				fail_msg("crc32c off=%zu len=%zu: got %08x "
					 "want %08x", off, len, got, want);
		}
	}
	/* Same lengths over all-zero and all-0xFF data. */
	memset(buf, 0, 80);
	for (size_t len = 1; len <= 64; len++)
		assert_int_equal(crc(buf + 3, len),
				 crc32c_ref(buf + 3, len));
	memset(buf, 0xFF, 80);
	for (size_t len = 1; len <= 64; len++)
		assert_int_equal(crc(buf + 5, len),
				 crc32c_ref(buf + 5, len));
	free(buf);
}

static void test_crc32c_long_buffers(void **state)
{
	crc_fn crc = impl(state);
	size_t n = 9000 + 16;
	uint8_t *buf = malloc(n);
	assert_non_null(buf);
	for (size_t i = 0; i < n; i++)
		buf[i] = rnd8();

	size_t lens[] = { 65, 127, 128, 250, 255, 256, 1000, 1472, 4095,
			  4096, 4097, 9000 };
	for (size_t i = 0; i < ARRAY_LEN(lens); i++)
		for (size_t off = 0; off < 16; off += 3)
			assert_int_equal(crc(buf + off, lens[i]),
					 crc32c_ref(buf + off, lens[i]));
	free(buf);
}

/* The hash depends only on the bytes, not on what surrounds them. */
static void test_crc32c_reads_only_its_bytes(void **state)
{
	crc_fn crc = impl(state);
	uint8_t a[64], b[64];
	for (size_t i = 0; i < sizeof(a); i++) {
		a[i] = rnd8();
		b[i] = (uint8_t)~a[i];
	}
	memcpy(b + 8, a + 8, 21);
	assert_int_equal(crc(a + 8, 21), crc(b + 8, 21));
	/* Exactly-sized heap buffers: ASan catches any over-read. */
	for (size_t len = 1; len <= 24; len++) {
		uint8_t *p = malloc(len);
		assert_non_null(p);
		memcpy(p, a, len);
		assert_int_equal(crc(p, len), crc32c_ref(a, len));
		free(p);
	}
}

static void test_slot(void **state)
{
	(void)state;
	uint32_t crc = cat_hash_crc32c("123456789", 9); /* 0xE3069283 */

	/* Documented example a client author can check against. */
	assert_int_equal(cat_hash_slot(crc, 1), 0);
	assert_int_equal(cat_hash_slot(crc, 2), 1);
	assert_int_equal(cat_hash_slot(crc, 1024), 0x283);
	assert_int_equal(cat_hash_slot(crc, 65536), 0x9283);

	/* slot = crc mod slot_count for every valid slot count. */
	for (int i = 0; i < 1000; i++) {
		uint32_t c = (uint32_t)rnd8() << 24 | (uint32_t)rnd8() << 16 |
			     (uint32_t)rnd8() << 8 | rnd8();
		for (uint32_t n = 1; n <= 65536; n <<= 1) {
			uint32_t s = cat_hash_slot(c, n);
			assert_int_equal(s, c % n);
			assert_true(s < n);
		}
	}
}

static void test_slot_count_valid(void **state)
{
	(void)state;
	for (uint32_t n = 1; n <= 65536; n <<= 1)
		assert_int_equal(cat_hash_slot_count_valid(n), 1);
	uint32_t bad[] = { 0, 3, 5, 6, 7, 12, 1000, 1023, 1025, 65535, 65537,
			   131072, 1u << 31, 0xFFFFFFFFu };
	for (size_t i = 0; i < ARRAY_LEN(bad); i++)
		assert_int_equal(cat_hash_slot_count_valid(bad[i]), 0);
}

/* The in-table hash must spread keys that share a slot (same CRC low bits)
 * over its own low bits, which is the reason it exists. */
static void test_table_hash_spreads_one_slot(void **state)
{
	(void)state;
	uint8_t seen[256];
	unsigned distinct = 0;

	memset(seen, 0, sizeof(seen));
	for (uint32_t i = 0; i < 4096; i++) {
		uint32_t crc = (i << 10) | 0x283; /* all in slot 0x283 of 1024 */
		uint64_t h = cat_hash_table(crc, 8);
		if (!seen[h & 0xFF]++)
			distinct++;
	}
	assert_true(distinct > 240);
	/* Deterministic, and the key length takes part. */
	assert_true(cat_hash_table(0x1234, 3) == cat_hash_table(0x1234, 3));
	assert_true(cat_hash_table(0x1234, 3) != cat_hash_table(0x1234, 4));
}

/* A file's checksum computed as it is written (dsnap, the backup file):
 * any split of the bytes gives the CRC-32C of the whole, from crc = 0. */
static void test_crc32c_update_in_pieces(void **state)
{
	uint8_t b[300];

	(void)state;
	for (unsigned int i = 0; i < sizeof(b); i++)
		b[i] = (uint8_t)(i * 131u + 7u);
	assert_int_equal(cat_hash_crc32c_update(0, "123456789", 9), 0xE3069283u);
	assert_int_equal(cat_hash_crc32c_update(0, b, 0), 0);
	for (unsigned int cut = 0; cut <= sizeof(b); cut += 7) {
		uint32_t c = cat_hash_crc32c_update(0, b, cut);

		c = cat_hash_crc32c_update(c, b + cut, sizeof(b) - cut);
		assert_int_equal(c, cat_hash_crc32c_portable(b, sizeof(b)));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reference_is_crc32c),
		cmocka_unit_test_prestate(test_crc32c_known_vectors, (void *)(uintptr_t)crc_inline),
		cmocka_unit_test_prestate(test_crc32c_lengths_and_alignment, (void *)(uintptr_t)crc_inline),
		cmocka_unit_test_prestate(test_crc32c_long_buffers, (void *)(uintptr_t)crc_inline),
		cmocka_unit_test_prestate(test_crc32c_reads_only_its_bytes, (void *)(uintptr_t)crc_inline),
		cmocka_unit_test_prestate(test_crc32c_known_vectors, (void *)(uintptr_t)cat_hash_crc32c_dispatch),
		cmocka_unit_test_prestate(test_crc32c_lengths_and_alignment, (void *)(uintptr_t)cat_hash_crc32c_dispatch),
		cmocka_unit_test_prestate(test_crc32c_long_buffers, (void *)(uintptr_t)cat_hash_crc32c_dispatch),
		cmocka_unit_test_prestate(test_crc32c_reads_only_its_bytes, (void *)(uintptr_t)cat_hash_crc32c_dispatch),
		cmocka_unit_test_prestate(test_crc32c_known_vectors, (void *)(uintptr_t)cat_hash_crc32c_portable),
		cmocka_unit_test_prestate(test_crc32c_lengths_and_alignment, (void *)(uintptr_t)cat_hash_crc32c_portable),
		cmocka_unit_test_prestate(test_crc32c_long_buffers, (void *)(uintptr_t)cat_hash_crc32c_portable),
		cmocka_unit_test_prestate(test_crc32c_reads_only_its_bytes, (void *)(uintptr_t)cat_hash_crc32c_portable),
		cmocka_unit_test(test_crc32c_inline_in_default_build),
		cmocka_unit_test(test_crc32c_update_in_pieces),
		cmocka_unit_test(test_slot),
		cmocka_unit_test(test_slot_count_valid),
		cmocka_unit_test(test_table_hash_spreads_one_slot),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
