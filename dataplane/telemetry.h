/*
 * catena-node DPDK telemetry commands: /catena/stats, /catena/lcores and
 * /catena/slots, readable with the stock dpdk-telemetry.py.
 * The callbacks run on DPDK's telemetry thread, which is not an RCU thread:
 * they read worker counters relaxed and use only the store calls that need
 * no RCU registration. Never writes anything a worker reads.
 */
#ifndef CAT_TELEMETRY_H
#define CAT_TELEMETRY_H

#include <stdint.h>

#include "dataplane/worker.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * Register the commands. dp and workers[0..dp->n_workers) must stay valid
 * until cat_telemetry_disable() has returned. Main thread, once, after EAL
 * init. Returns 0 or the negative errno of rte_telemetry_register_cmd.
 */
int cat_telemetry_register(const struct cat_dp *dp,
			   struct cat_worker *const *workers, uint32_t node_id);

/**
 * Make the commands answer an error from now on and wait for a callback
 * that is running to finish, so the caller may free what they read.
 * (DPDK cannot unregister a command.) Main thread, at teardown.
 */
void cat_telemetry_disable(void);

/** Sum of one named counter over all workers (0 for an unknown name). Any
 * thread; relaxed reads. Used for the exit summary as well. */
uint64_t cat_telemetry_total(const char *counter);

/** Sum of every drop counter (drop_* and tx_dropped_full) over all workers. */
uint64_t cat_telemetry_drops_total(void);

#ifdef __cplusplus
}
#endif

#endif /* CAT_TELEMETRY_H */
