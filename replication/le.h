/*
 * replication/le.h: little-endian fields of the on-disk formats (the log,
 * replication/dlog.h, and its snapshots, replication/dsnap.h), byte by
 * byte so they read the same on any host and at any alignment.
 */
#ifndef CAT_LE_H
#define CAT_LE_H

#include <stdint.h>

static inline void cat_le_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static inline void cat_le_put32(uint8_t *p, uint32_t v)
{
	cat_le_put16(p, (uint16_t)v);
	cat_le_put16(p + 2, (uint16_t)(v >> 16));
}

static inline void cat_le_put64(uint8_t *p, uint64_t v)
{
	cat_le_put32(p, (uint32_t)v);
	cat_le_put32(p + 4, (uint32_t)(v >> 32));
}

static inline uint16_t cat_le_get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static inline uint32_t cat_le_get32(const uint8_t *p)
{
	return cat_le_get16(p) | (uint32_t)cat_le_get16(p + 2) << 16;
}

static inline uint64_t cat_le_get64(const uint8_t *p)
{
	return cat_le_get32(p) | (uint64_t)cat_le_get32(p + 4) << 32;
}

#endif /* CAT_LE_H */
