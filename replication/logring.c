/*
 * replication/logring.c: the worker-to-log-writer byte ring (see
 * logring.h). The producer's head and the consumer's tail each have a
 * cache line; acquire/release on them orders the bytes in between.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "replication/logring.h"

int cat_logring_init(struct cat_logring *r, unsigned order)
{
	memset(r, 0, sizeof(*r));
	if (order < 12 || order > 30)
		return -EINVAL;
	r->buf = aligned_alloc(4096, (size_t)1 << order);
	if (r->buf == NULL)
		return -ENOMEM;
	r->mask = ((uint64_t)1 << order) - 1;
	return 0;
}

void cat_logring_fini(struct cat_logring *r)
{
	free(r->buf);
	r->buf = NULL;
}

int cat_logring_put(struct cat_logring *r, const void *p, size_t len)
{
	uint64_t at = r->head & r->mask, first;

	if (len > cat_logring_room(r))
		return -ENOSPC;
	first = r->mask + 1 - at;
	if (first >= len) {
		memcpy(r->buf + at, p, len);
	} else {
		memcpy(r->buf + at, p, first);
		memcpy(r->buf, (const uint8_t *)p + first, len - first);
	}
	__atomic_store_n(&r->head, r->head + len, __ATOMIC_RELEASE);
	return 0;
}

uint64_t cat_logring_peek(const struct cat_logring *r, const uint8_t **p1,
			  size_t *n1, const uint8_t **p2, size_t *n2)
{
	uint64_t head = __atomic_load_n(&r->head, __ATOMIC_ACQUIRE);
	uint64_t tail = r->tail, n = head - tail, at = tail & r->mask;
	uint64_t first = r->mask + 1 - at;

	*p1 = r->buf + at;
	*p2 = r->buf;
	if (n <= first) {
		*n1 = (size_t)n;
		*n2 = 0;
	} else {
		*n1 = (size_t)first;
		*n2 = (size_t)(n - first);
	}
	return head;
}

void cat_logring_taken(struct cat_logring *r, uint64_t pos)
{
	__atomic_store_n(&r->tail, pos, __ATOMIC_RELEASE);
}

void cat_logring_synced(struct cat_logring *r, uint64_t pos)
{
	__atomic_store_n(&r->durable, pos, __ATOMIC_RELEASE);
}
