/*
 * catena-control's end of the node channel (control/nodechan.c): the
 * lines nodes send (hello, heartbeat, map_applied, digests), the messages
 * catena-control sends them besides maps, and the failure detector that
 * runs on their heartbeats.
 */
#ifndef CAT_CTL_NODECHAN_H
#define CAT_CTL_NODECHAN_H

#include <stddef.h>
#include <stdint.h>

#include "control/ctl.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Handle one line from a node connection (len bytes, no LF). */
void cat_ctl_node_line(struct cat_ctl *c, struct cat_ctl_conn *conn,
		       const char *line, size_t len);
/** A node connection is going away. */
void cat_ctl_node_closed(struct cat_ctl *c, struct cat_ctl_conn *conn);

/*
 * A node connection was accepted from peer (text for events): with a
 * cluster secret, send the challenge that starts authentication. 0, or
 * -errno when the connection must be closed at once.
 */
int cat_ctl_node_accepted(struct cat_ctl *c, struct cat_ctl_conn *conn,
			  const char *peer);
/** Fail the nodes whose heartbeats stopped, or that nobody hears. */
void cat_ctl_node_tick(struct cat_ctl *c, uint64_t now_ms);
/** Earliest heartbeat deadline (UINT64_MAX if none). */
uint64_t cat_ctl_node_deadline(struct cat_ctl *c);

/** Tell the operator's state transfer rate (if set) to one node
 * connection, or (conn NULL) to every connected node. */
void cat_ctl_node_send_rate(struct cat_ctl *c, struct cat_ctl_conn *conn);

#ifdef __cplusplus
}
#endif

#endif /* CAT_CTL_NODECHAN_H */
