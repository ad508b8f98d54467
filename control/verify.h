/*
 * catena-control's `verify` (docs/CONTROL.md): ask every node that is up
 * for its per-slot digests, collect their answers from the node channel,
 * and answer the management connection waiting with the slots whose
 * replicas differ. Single-threaded, in the control loop; never blocks: a
 * verify is answered from cat_ctl_verify_tick once every node answered or
 * its time is up.
 */
#ifndef CAT_CTL_VERIFY_H
#define CAT_CTL_VERIFY_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "replication/map.h"

#ifdef __cplusplus
extern "C" {
#endif

struct cat_ctl;
struct cat_ctl_conn;

struct cat_ctl_digest {
	uint32_t slot;
	uint64_t version, digest;
};

/* Who a verify is for: its answer goes to the management connection that
 * asked (`verify`), or to control/repair.c (`repair`, and the background
 * verify, which has no connection). */
enum cat_ctl_verify_for {
	CAT_CTL_VERIFY_FOR_OPERATOR,
	CAT_CTL_VERIFY_FOR_REPAIR,
	CAT_CTL_VERIFY_FOR_BACKGROUND,
};

struct cat_ctl_verify {
	uint32_t req;               /* 0: this entry is free */
	enum cat_ctl_verify_for purpose;
	uint32_t first, last;       /* repair: the slots it may touch */
	uint64_t conn_serial;       /* the management connection waiting (0: none) */
	uint64_t deadline_ms;
	uint16_t n_asked;
	uint16_t asked[CAT_MAP_NODES_MAX];
	uint8_t answered[CAT_MAP_NODES_MAX];
	struct cat_ctl_digest *dg[CAT_MAP_NODES_MAX];
	uint32_t n_dg[CAT_MAP_NODES_MAX], cap_dg[CAT_MAP_NODES_MAX];
};

/**
 * A `verify` request on management connection conn: send digest_request
 * to every node up and connected, and hold conn's later requests (busy)
 * until cat_ctl_verify_tick answers. Refusals (CAT_CTL_VERIFY_MAX running
 * already, no node up) are answered at once.
 */
void cat_ctl_verify_start(struct cat_ctl *c, struct cat_ctl_conn *conn);
/**
 * The same for control/repair.c: purpose, the waiting connection (NULL:
 * none, as for the background verify) and the slots [first, last] it is
 * about. 0, -EBUSY (CAT_CTL_VERIFY_MAX running), -ENOENT (no node up).
 * The answer goes to cat_ctl_repair_verified.
 */
int cat_ctl_verify_begin(struct cat_ctl *c, enum cat_ctl_verify_for purpose,
			 struct cat_ctl_conn *conn, uint32_t first,
			 uint32_t last);
/**
 * What the asked members of chain ch hold of slot s, in chain order
 * (once v is complete: see cat_ctl_repair_verified): versions, digests
 * and node ids. Returns how many members were asked.
 */
unsigned int cat_ctl_verify_replicas(const struct cat_ctl_verify *v,
				     const struct cat_map_chain *ch, uint32_t s,
				     uint64_t *ver, uint64_t *dig, uint16_t *who);
/** True while a verify of this purpose runs. */
int cat_ctl_verify_running(const struct cat_ctl *c, enum cat_ctl_verify_for purpose);
/**
 * A node's "digests" message (already checked to come from node). Returns
 * 0 (an answer to no running verify is ignored), or -EINVAL with why for
 * a malformed one: the node channel then closes that connection.
 */
int cat_ctl_verify_digests(struct cat_ctl *c, uint16_t node, json_t *msg,
			   char *why, size_t whylen);
/** Answer the verify requests whose time is up or whose nodes all answered. */
void cat_ctl_verify_tick(struct cat_ctl *c, uint64_t now_ms);
/** Earliest verify deadline (UINT64_MAX if none). */
uint64_t cat_ctl_verify_deadline(const struct cat_ctl *c);
/** Free what verify requests hold. */
void cat_ctl_verify_fini(struct cat_ctl *c);

#ifdef __cplusplus
}
#endif

#endif /* CAT_CTL_VERIFY_H */
