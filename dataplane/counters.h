/*
 * catena-node's counter sums: one worker or chain engine counter, by its
 * /catena/stats name, summed over every worker. Shared by the telemetry
 * commands, the node channel's heartbeat and main's exit summary, so none
 * of them has to reach into another for it. Reads only, relaxed, from any
 * thread: a sum is exact per counter, not a snapshot across counters.
 */
#ifndef CAT_COUNTERS_H
#define CAT_COUNTERS_H

#include <stddef.h>
#include <stdint.h>

#include "dataplane/worker.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * The i-th worker counter's name (struct cat_worker_stats order), or NULL
 * past the last.
 */
const char *cat_counters_worker_name(size_t i);

/** The i-th chain engine counter's name ("repl_..."), or NULL past the last. */
const char *cat_counters_repl_name(size_t i);

/**
 * Sum of one worker counter over workers[0..dp->n_workers) (0 for an
 * unknown name).
 */
uint64_t cat_counters_total(const struct cat_dp *dp,
			    struct cat_worker *const *workers, const char *counter);

/** Sum of every drop counter (drop_* and tx_dropped_full) over all workers. */
uint64_t cat_counters_drops_total(const struct cat_dp *dp,
				  struct cat_worker *const *workers);

/**
 * Sum of one chain engine counter by its /catena/stats name ("repl_..."),
 * engines and read paths of all workers (0 for an unknown name).
 */
uint64_t cat_counters_repl_total(const struct cat_dp *dp,
				 struct cat_worker *const *workers,
				 const char *counter);

/** Replies with this status (enum cat_status), all workers. */
uint64_t cat_counters_replies(const struct cat_dp *dp,
			      struct cat_worker *const *workers,
			      unsigned int status);

/** Keys in the store (sum over the slots, relaxed). */
uint64_t cat_counters_store_keys(const struct cat_dp *dp);

#ifdef __cplusplus
}
#endif

#endif /* CAT_COUNTERS_H */
