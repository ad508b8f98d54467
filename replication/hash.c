/*
 * catena slot hashing, the out-of-line half: the portable table CRC-32C
 * and a dispatcher that picks the SSE4.2 crc32 instruction when the CPU has
 * it (chosen once, at load time). Builds for SSE4.2 inline the instruction
 * from hash.h instead and call nothing here on the hot path; every path
 * gives the standard CRC-32C that docs/PROTOCOL.md specifies.
 */
#include <string.h>

#include "replication/hash.h"

static uint32_t crc_table[256];

static uint32_t crc32c_sw(uint32_t crc, const uint8_t *p, size_t len)
{
	while (len--)
		crc = crc_table[(crc ^ *p++) & 0xffu] ^ (crc >> 8);
	return crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2")))
static uint32_t crc32c_hw(uint32_t crc, const uint8_t *p, size_t len)
{
	return cat_hash_crc32c_sse42(crc, p, len);
}
#endif

static uint32_t (*crc32c_impl)(uint32_t, const uint8_t *, size_t) = crc32c_sw;

__attribute__((constructor))
static void crc32c_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = (c & 1u) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
		crc_table[i] = c;
	}
#if defined(__x86_64__)
	__builtin_cpu_init();
	if (__builtin_cpu_supports("sse4.2"))
		crc32c_impl = crc32c_hw;
#endif
}

uint32_t cat_hash_crc32c_dispatch(const void *buf, size_t len)
{
	return ~crc32c_impl(0xFFFFFFFFu, buf, len);
}

uint32_t cat_hash_crc32c_update(uint32_t crc, const void *buf, size_t len)
{
	return ~crc32c_impl(~crc, buf, len);
}

uint32_t cat_hash_crc32c_portable(const void *buf, size_t len)
{
	return ~crc32c_sw(0xFFFFFFFFu, buf, len);
}
