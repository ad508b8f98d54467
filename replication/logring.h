/*
 * replication/logring.h: the single-producer single-consumer byte ring
 * between a worker and its node's log writer (durability = log). The
 * worker appends encoded log records (replication/dlog.h) and never
 * waits: it checks for room before it takes a burst from the port; the
 * writer takes whatever is there, writes it to disk and, once it is
 * synced, publishes how far the ring is durable, which the worker compares
 * with how far it has appended before it answers a client. Positions are
 * byte counts since the start (never wrap); the ring index is pos & mask.
 * Records are opaque here: the writer copies bytes, it does not parse.
 */
#ifndef CAT_LOGRING_H
#define CAT_LOGRING_H

#include <stddef.h>
#include <stdint.h>

struct cat_logring {
	/* Producer's line. */
	uint64_t head __attribute__((aligned(64))); /* appended up to here */
	/* Consumer's line. */
	uint64_t tail __attribute__((aligned(64))); /* written out up to here */
	uint64_t durable;                           /* synced up to here */
	/* Read-only after init. */
	uint64_t mask __attribute__((aligned(64)));
	uint8_t *buf;
};

/** A ring of 2^order bytes (order 12..30). 0, -EINVAL, -ENOMEM. */
int cat_logring_init(struct cat_logring *r, unsigned order);
void cat_logring_fini(struct cat_logring *r);

/** Producer: free bytes (a lower bound: the writer only frees more). */
static inline uint64_t cat_logring_room(const struct cat_logring *r)
{
	return r->mask + 1 - (r->head - __atomic_load_n(&r->tail, __ATOMIC_ACQUIRE));
}

/**
 * Producer: append len bytes. 0, or -ENOSPC (nothing appended) when there
 * is not room for all of them.
 */
int cat_logring_put(struct cat_logring *r, const void *p, size_t len);

/** How far the producer has appended (the producer's durable check;
 * telemetry's lag). */
static inline uint64_t cat_logring_head(const struct cat_logring *r)
{
	return __atomic_load_n(&r->head, __ATOMIC_RELAXED);
}

/** Anyone: how far the writer has synced. */
static inline uint64_t cat_logring_durable(const struct cat_logring *r)
{
	return __atomic_load_n(&r->durable, __ATOMIC_ACQUIRE);
}

/**
 * Consumer: the bytes waiting, as up to two pieces (the second when they
 * wrap). Returns the position they end at (pass it to cat_logring_taken).
 */
uint64_t cat_logring_peek(const struct cat_logring *r, const uint8_t **p1,
			  size_t *n1, const uint8_t **p2, size_t *n2);

/** Consumer: the bytes up to pos are written out; their room is free. */
void cat_logring_taken(struct cat_logring *r, uint64_t pos);

/** Consumer: the bytes up to pos are on disk. */
void cat_logring_synced(struct cat_logring *r, uint64_t pos);

#endif /* CAT_LOGRING_H */
