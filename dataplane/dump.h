/*
 * catena-node's side of backup and restore (docs/BACKUP.md): the worker
 * that owns a slot dumps it (the state-transfer snapshot cursor, a bounded
 * number of items per poll iteration, plus every write it applies to the
 * slot after the walk began) or loads it (cat_store_apply_snap, then the
 * slot's version); the agent moves records between the workers and the
 * node channel. Worker and agent talk only through SPSC rte_rings of
 * preallocated buffers: the worker never allocates, never makes a
 * syscall, never waits for the agent (a full ring pauses the walk).
 */
#ifndef CAT_DUMP_H
#define CAT_DUMP_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <rte_branch_prediction.h>

#include "dataplane/worker.h"

#ifdef __cplusplus
extern "C" {
#endif

struct cat_nodechan;

/* Per worker: what its hot path looks at. watch is the slot being dumped
 * (UINT32_MAX: none), written and read by that worker only. */
struct cat_dump_watch {
	uint32_t watch;
} __rte_cache_aligned;

extern struct cat_dump_watch cat_dump_watch[CAT_WORKER_MAX];

/** Worker w's share of the poll loop (every iteration, before the chain
 * engine's timers): take commands, walk the slot being dumped, apply
 * records being loaded. Worker lcore; never blocks. */
void cat_dump_worker_poll(struct cat_worker *w);

/** Slow path of cat_dump_wrote. */
void cat_dump_replay(struct cat_worker *w, uint32_t slot, const void *key,
		     uint16_t key_len);

/**
 * The worker just handed msg (a client write, or a replication message)
 * for slot to its chain engine: if it is dumping that slot and the write
 * changed it, the key's new state goes to the dump. One compare when no
 * dump runs. Worker lcore.
 */
static inline void cat_dump_wrote(struct cat_worker *w, uint32_t slot,
				  const void *key, uint16_t key_len)
{
	if (unlikely(cat_dump_watch[w->idx].watch == slot))
		cat_dump_replay(w, slot, key, key_len);
}

/**
 * A node channel message of a dump_ or load_ type (docs/CONTROL.md):
 * 1 if it was one (handled, or refused with a counted warning), 0 if type
 * is not ours. Main lcore (the agent).
 */
int cat_dump_on_msg(struct cat_nodechan *cc, uint64_t now_ms, const char *type,
		    json_t *o);

/** Move what the workers produced to the node channel, and records being
 * loaded to the workers. Main lcore, from cat_nodechan_poll. */
void cat_dump_agent_poll(struct cat_nodechan *cc, uint64_t now_ms);

/** Whether cat_dump_agent_poll has work now (the agent should not sleep). */
int cat_dump_agent_busy(void);

#ifdef __cplusplus
}
#endif

#endif /* CAT_DUMP_H */
