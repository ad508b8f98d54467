/*
 * catena-node DPDK telemetry commands: /catena/stats, /catena/lcores,
 * /catena/slots, /catena/chains, /catena/map, /catena/digest,
 * /catena/faults, /catena/control and /catena/port, readable with the stock
 * dpdk-telemetry.py.
 * The callbacks run on DPDK's telemetry threads (one per connection): they
 * read counters relaxed, and register as QSBR readers for the duration of
 * a callback that reads the map or the store. The only thing they write
 * that a worker reads is the fault settings pointer (RCU-published).
 */
#ifndef CAT_TELEMETRY_H
#define CAT_TELEMETRY_H

#include <stdint.h>

#include "dataplane/config.h"
#include "dataplane/worker.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * Register the commands. dp, workers[0..dp->n_workers) and cfg must stay
 * valid until cat_telemetry_disable() has returned; dp->faults is replaced
 * by /catena/faults (the old settings freed after a grace period). Main
 * thread, once, after EAL init. Returns 0 or the negative errno of
 * rte_telemetry_register_cmd.
 */
int cat_telemetry_register(struct cat_dp *dp, struct cat_worker *const *workers,
			   const struct cat_config *cfg);

/**
 * Make the commands answer an error from now on and wait for a callback
 * that is running to finish, so the caller may free what they read.
 * (DPDK cannot unregister a command.) Main thread, at teardown.
 */
void cat_telemetry_disable(void);

struct cat_nodechan;

/**
 * Make /catena/control show cc (NULL: "off"). cc must stay valid until
 * cat_telemetry_disable() has returned. Main thread, before the channel
 * is used.
 */
void cat_telemetry_set_control(const struct cat_nodechan *cc);

struct cat_port;

/**
 * Make /catena/port show p: driver, NUMA socket, MTU and value limit,
 * steering mode and why, link state and its transitions. p must stay valid
 * until cat_telemetry_disable() has returned. Main thread, after the port
 * is up.
 */
void cat_telemetry_set_port(const struct cat_port *p);

#ifdef __cplusplus
}
#endif

#endif /* CAT_TELEMETRY_H */
