/*
 * catena slot hashing: the fixed, documented function that maps a key to a
 * slot, so that clients in any language route requests themselves.
 *   slot = CRC-32C(key) mod slot_count   (slot_count a power of two)
 * CRC-32C is the standard Castagnoli CRC (iSCSI, RFC 3720): reflected,
 * polynomial 0x1EDC6F41, initial value and final xor 0xFFFFFFFF;
 * CRC-32C("123456789") = 0xE3069283. Pure C, no DPDK (rte_hash_crc computes
 * the same CRC without the final xor; perf/ checks that they agree).
 */
#ifndef CAT_HASH_H
#define CAT_HASH_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Standard CRC-32C of buf[0..len) a table at a time: the portable path,
 * kept in every build (and unit-tested against the same vectors). */
uint32_t cat_hash_crc32c_portable(const void *buf, size_t len);

/** Standard CRC-32C, out of line: SSE4.2 when the CPU has it (checked once,
 * at load time), the portable table otherwise. */
uint32_t cat_hash_crc32c_dispatch(const void *buf, size_t len);

/*
 * The hot path hashes every key, a few ns that an indirect call through
 * the dispatcher doubled (16-byte keys: 2.8 ns against rte_hash_crc's 1.3).
 * A build for SSE4.2 (meson option crc32c=auto on x86-64 adds -msse4.2;
 * DPDK 22.11 requires the instruction anyway) inlines it; any other build
 * calls the dispatcher. Both give the same CRC (tests/unit test_hash.c).
 */
#if defined(__x86_64__)
#include <nmmintrin.h>
#include <string.h>
#if defined(__SSE4_2__)
#define CAT_HASH_SSE42_FN static inline
#else
#define CAT_HASH_SSE42_FN __attribute__((target("sse4.2"))) static inline
#endif

/** CRC-32C steps over buf[0..len) from crc (no final xor), with the SSE4.2
 * instruction: only for a CPU that has it. */
CAT_HASH_SSE42_FN uint32_t cat_hash_crc32c_sse42(uint32_t crc, const void *buf,
						 size_t len)
{
	const uint8_t *p = (const uint8_t *)buf;
	uint64_t c = crc;

	while (len >= 8) {
		uint64_t v;

		memcpy(&v, p, 8);
		c = _mm_crc32_u64(c, v);
		p += 8;
		len -= 8;
	}
	crc = (uint32_t)c;
	if (len >= 4) {
		uint32_t v;

		memcpy(&v, p, 4);
		crc = _mm_crc32_u32(crc, v);
		p += 4;
		len -= 4;
	}
	while (len--)
		crc = _mm_crc32_u8(crc, *p++);
	return crc;
}
#endif

#if defined(__x86_64__) && defined(__SSE4_2__)
#define CAT_HASH_CRC32C_INLINE 1

/** Standard CRC-32C of buf[0..len). */
static inline uint32_t cat_hash_crc32c(const void *buf, size_t len)
{
	return ~cat_hash_crc32c_sse42(0xFFFFFFFFu, buf, len);
}
#else
#define CAT_HASH_CRC32C_INLINE 0

/** Standard CRC-32C of buf[0..len). */
static inline uint32_t cat_hash_crc32c(const void *buf, size_t len)
{
	return cat_hash_crc32c_dispatch(buf, len);
}
#endif

/** CRC-32C of the bytes whose CRC-32C was crc followed by buf[0..len):
 * a file's checksum computed as it is written (start from crc = 0). */
uint32_t cat_hash_crc32c_update(uint32_t crc, const void *buf, size_t len);

/** Slot of a key whose CRC-32C is crc; slot_count must be a power of two. */
static inline uint32_t cat_hash_slot(uint32_t crc, uint32_t slot_count)
{
	return crc & (slot_count - 1u);
}

/** MurmurHash3's 64-bit finaliser: every input bit affects every output bit. */
static inline uint64_t cat_hash_mix64(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

/**
 * Hash used inside a slot's table, derived from the key's CRC-32C so a key
 * is hashed once. All keys of one slot share the CRC's low bits, which the
 * table's split-ordered buckets would index on, so the CRC is run through
 * cat_hash_mix64 first. Internal: not part of the wire protocol.
 */
static inline uint64_t cat_hash_table(uint32_t crc, uint32_t key_len)
{
	return cat_hash_mix64(((uint64_t)key_len << 32) | crc);
}

/** 1 if n is a power of two in [1, 65536] (the slot field is 16 bits). */
static inline int cat_hash_slot_count_valid(uint32_t n)
{
	return n >= 1u && n <= 65536u && (n & (n - 1u)) == 0;
}

#ifdef __cplusplus
}
#endif

#endif /* CAT_HASH_H */
