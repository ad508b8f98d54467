/*
 * catena-node agent (main lcore): builds, validates and publishes the
 * cluster map the workers run on (from [cluster] map, on SIGHUP again, from
 * the control plane (dataplane/nodechan.h), or a synthesized single-node
 * map), retires old maps once no worker can see them, and turns the
 * engines' suspect successors into one log line each.
 * Main thread only; never touches packets, never blocks a worker.
 */
#ifndef CAT_AGENT_H
#define CAT_AGENT_H

#include <stddef.h>
#include <stdint.h>

#include "dataplane/config.h"
#include "dataplane/worker.h"
#include "replication/map.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CAT_AGENT_RETIRED_MAX 64u

/**
 * Check that map m fits this node: c->node_id is one of its nodes, with
 * c->ip and c->udp_port, and (when c->slots is set) the same slot count.
 * Returns 0, or -EINVAL with one line in err. Any thread.
 */
int cat_agent_map_check(const struct cat_map *m, const struct cat_config *c,
			char *err, size_t errlen);

/**
 * Check the map's "workers" line for this node, if any, against the node:
 * it must announce exactly n_workers (clients spread slots over that many
 * ports; a port past the node's workers would never be answered).
 * Returns 0, or -EINVAL with one line in err. Any thread.
 */
int cat_agent_map_check_workers(const struct cat_map *m, uint16_t node_id,
				uint16_t n_workers, char *err, size_t errlen);

/**
 * The map of a node that has no [cluster] map: epoch 1, this node (with
 * mac), one chain of one holding every slot. Returns 0 and *out, or a
 * negative errno with a message.
 */
int cat_agent_map_single(const struct cat_config *c, const uint8_t mac[6],
			 struct cat_map **out, char *err, size_t errlen);

/**
 * Wrap a checked map for publication (formats its text, finds this node).
 * Takes ownership of m on success. Returns NULL with errno on failure.
 */
struct cat_dp_map *cat_agent_map_wrap(struct cat_map *m, uint16_t node_id);

/** Free a wrapped map and the map in it. */
void cat_agent_map_free(struct cat_dp_map *dm);

struct cat_agent {
	struct cat_dp *dp;
	struct cat_worker *const *workers;
	const struct cat_config *cfg;
	struct cat_dp_map *retired[CAT_AGENT_RETIRED_MAX];
	uint32_t n_retired;
	uint16_t suspect[CAT_WORKER_MAX]; /* last suspect seen per worker */
	/* Link keys for the map cat_agent_apply is given (the node channel
	 * sets it around the call): copied into the published map. */
	const struct cat_linkauth_keyset *keys;
};

/**
 * Publish dm as the current map (rcu_assign_pointer); the previous one is
 * retired. Main thread. Returns -EBUSY (nothing published) while
 * CAT_AGENT_RETIRED_MAX maps still wait for their grace period.
 */
int cat_agent_publish(struct cat_agent *a, struct cat_dp_map *dm);

/** Epoch of the map in force, 0 while there is none. Main thread. */
uint32_t cat_agent_epoch(const struct cat_agent *a);

/**
 * The one way a new map is installed (SIGHUP and the control channel):
 * check m (cat_agent_map_check against this node, the node's slot count)
 * and publish it if its epoch is above the current one. Takes ownership of
 * m whatever happens. origin prefixes msg ("cluster map FILE", "control
 * plane"). An epoch equal to the current one is refused, unless same_ok
 * and m is the very map in force (same canonical text): then nothing
 * changes and 1 is returned. Returns 0 ("...: epoch N published (...)" in
 * msg), 1, or a negative errno (-EINVAL: not for this node, -ESTALE: epoch
 * not above, -EBUSY: too many maps awaiting retirement) with the reason
 * and "keeping epoch N" in msg; the current map then stays. Main thread.
 */
int cat_agent_apply(struct cat_agent *a, struct cat_map *m, const char *origin,
		    int same_ok, char *msg, size_t msglen);

/**
 * SIGHUP: load [cluster] map again and cat_agent_apply it (an epoch above
 * the current one is required). On any error the current map stays.
 * Returns 0 with "map epoch N published" in msg, or a negative errno with
 * the reason in msg. Main thread.
 */
int cat_agent_reload(struct cat_agent *a, char *msg, size_t msglen);

/**
 * Free the retired maps no worker uses any more: waits one RCU grace
 * period (synchronize_rcu; the caller is a registered QSBR thread, offline
 * or online), then frees those that no worker has as its current map.
 * Returns how many were freed. Main thread.
 */
unsigned int cat_agent_retire(struct cat_agent *a);

/**
 * Check the engines for a successor newly suspect (cat_chain_suspect_peer)
 * on any worker. Returns 1 and one line in msg for a peer not already
 * reported, 0 otherwise; call until it returns 0. Counts each report in
 * dp->peer_suspect_reports. Main thread.
 */
int cat_agent_suspects(struct cat_agent *a, char *msg, size_t msglen);

/** Free every map (workers stopped). Main thread, at teardown. */
void cat_agent_fini(struct cat_agent *a);

#ifdef __cplusplus
}
#endif

#endif /* CAT_AGENT_H */
