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

/** Standard CRC-32C of buf[0..len). Uses SSE4.2 when the CPU has it. */
uint32_t cat_hash_crc32c(const void *buf, size_t len);

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
