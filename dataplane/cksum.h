/*
 * catena-node Internet checksum (RFC 1071) for the worker's UDP datagrams:
 * summed 8 bytes a step into a 64-bit accumulator. DPDK 22.11's
 * rte_raw_cksum adds 2 bytes a step, and on a port without checksum
 * offload (memif, af_packet) that loop was a fifth of a GET's instructions
 * at 16 replies a packet (callgrind: 3700 per reply packet). Same result as
 * rte_raw_cksum for any buffer and length (tests/unit/dataplane
 * test_cksum.c). Pure C, no DPDK header; inline, as it runs once or twice
 * per datagram.
 */
#ifndef CAT_CKSUM_H
#define CAT_CKSUM_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/** The one's-complement sum of buf[0..len) in native 16-bit words, folded
 * to 16 bits and not complemented: what rte_raw_cksum returns. */
static inline uint16_t cat_cksum_raw(const void *buf, size_t len)
{
	const uint8_t *p = (const uint8_t *)buf;
	uint64_t a = 0, b = 0;

	/* Two accumulators of 32-bit halves: no carry is lost (each grows
	 * by < 2^33 a step) and the two adds run side by side. */
	while (len >= 16) {
		uint64_t x, y;

		memcpy(&x, p, 8);
		memcpy(&y, p + 8, 8);
		a += (x & 0xffffffffu) + (x >> 32);
		b += (y & 0xffffffffu) + (y >> 32);
		p += 16;
		len -= 16;
	}
	a += b;
	if (len >= 8) {
		uint64_t x;

		memcpy(&x, p, 8);
		a += (x & 0xffffffffu) + (x >> 32);
		p += 8;
		len -= 8;
	}
	if (len >= 4) {
		uint32_t x;

		memcpy(&x, p, 4);
		a += x;
		p += 4;
		len -= 4;
	}
	if (len >= 2) {
		uint16_t x;

		memcpy(&x, p, 2);
		a += x;
		p += 2;
		len -= 2;
	}
	if (len) {
		uint16_t x = 0;   /* the odd byte first in its word, as rte's */

		memcpy(&x, p, 1);
		a += x;
	}
	a = (a & 0xffffffffu) + (a >> 32);
	a = (a & 0xffffffffu) + (a >> 32);
	a = (a & 0xffffu) + (a >> 16);
	a = (a & 0xffffu) + (a >> 16);
	a = (a & 0xffffu) + (a >> 16);
	return (uint16_t)a;
}

#endif /* CAT_CKSUM_H */
