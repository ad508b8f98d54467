/*
 * catena-node fault injector: per-worker, seeded, on the tx path. Drops a
 * share of outgoing packets, delays the rest by a fixed amount plus jitter,
 * and delays some further so they overtake each other (reordering), all
 * from a PRNG seeded with seed + worker index so a run can be repeated.
 * Hot path (worker lcores): never blocks, never allocates (the delay queue
 * is a fixed array inside struct cat_faults), never makes a syscall.
 */
#ifndef CAT_FAULTS_H
#define CAT_FAULTS_H

#include <stdint.h>

#include <rte_mbuf.h>

#include "dataplane/config.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Delayed packets a worker holds at most; a full queue sends at once. */
#define CAT_FAULTS_QUEUE 2048u

enum cat_faults_verdict {
	CAT_FAULTS_SEND = 0,   /* send now: the caller keeps the mbuf */
	CAT_FAULTS_QUEUED,     /* held in the delay queue (now owned by it) */
	CAT_FAULTS_DROPPED,    /* freed */
	CAT_FAULTS_QUEUE_FULL, /* should have waited; send now (caller keeps it) */
};

struct cat_faults_ent {
	uint64_t due;   /* ns */
	uint64_t order; /* insertion counter: equal due times leave FIFO */
	struct rte_mbuf *m;
};

/** One worker's injector. Touched by that worker only. */
struct cat_faults {
	struct cat_faults_cfg cfg;
	int active;       /* any knob non-zero */
	int seeded;
	uint64_t rng;
	uint64_t order;
	uint32_t n;       /* entries in heap */
	struct cat_faults_ent heap[CAT_FAULTS_QUEUE]; /* min-heap on (due, order) */
};

/**
 * Take new settings (first call: the initial ones). Reseeds with
 * cfg->seed + worker when the seed changed. Packets already delayed keep
 * their due time. Owning worker only.
 */
void cat_faults_configure(struct cat_faults *f, const struct cat_faults_cfg *cfg,
			  uint32_t worker);

/** 1 if the settings can change a packet's fate at all. */
static inline int cat_faults_active(const struct cat_faults *f)
{
	return f->active;
}

/**
 * Decide the fate of one outgoing packet at time now (ns). reordered is set
 * when the packet got the extra reordering delay. Owning worker only.
 */
enum cat_faults_verdict cat_faults_apply(struct cat_faults *f, uint64_t now,
					 struct rte_mbuf *m, int *reordered);

/**
 * Move the packets due at now (ns) into out[0..max), earliest first.
 * Returns how many. Owning worker only.
 */
unsigned int cat_faults_due(struct cat_faults *f, uint64_t now,
			    struct rte_mbuf **out, unsigned int max);

/** Due time (ns) of the earliest held packet, or UINT64_MAX if none. */
static inline uint64_t cat_faults_next_due(const struct cat_faults *f)
{
	return f->n ? f->heap[0].due : UINT64_MAX;
}

#ifdef __cplusplus
}
#endif

#endif /* CAT_FAULTS_H */
