/*
 * catena-control's Prometheus endpoint (docs/OPERATIONS.md, "Metrics"):
 * GET /metrics in the text exposition format, with every node's counters
 * as its last heartbeat gave them and the cluster's gauges (nodes by
 * state, chains short of the replication factor, joins, moves, the
 * epoch, the loop's own stalls). The HTTP side is libmicrohttpd in
 * external polling mode: the control loop polls its one file descriptor
 * and runs it, so a scrape reads the tables on the loop's own thread and
 * never locks anything; a slow scraper costs buffered memory, bounded by
 * the connection limit, not loop time.
 */
#ifndef CAT_CTL_METRICS_H
#define CAT_CTL_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "control/ctl.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CAT_CTL_METRICS_CONNS_MAX 16u    /* scrapers at once */
#define CAT_CTL_METRICS_TIMEOUT_S 10u    /* an idle scrape connection */

struct cat_ctl_metrics;

/**
 * The exposition text of c now, NUL-terminated, in *out (free it);
 * *len without the NUL. 0 or -ENOMEM.
 */
int cat_ctl_metrics_render(struct cat_ctl *c, uint64_t now_ms, char **out,
			   size_t *len);

/**
 * Listen on ip:port (host byte order) for scrapes of c. NULL with err on
 * failure (the address in use, ...).
 */
struct cat_ctl_metrics *cat_ctl_metrics_open(struct cat_ctl *c, uint32_t ip,
					     uint16_t port, char *err,
					     size_t errlen);
/** The descriptor to poll for input (an epoll set). */
int cat_ctl_metrics_fd(const struct cat_ctl_metrics *m);
/** Milliseconds until the server wants to run without input (UINT64_MAX: never). */
uint64_t cat_ctl_metrics_timeout_ms(const struct cat_ctl_metrics *m);
/** Serve what is ready; never blocks. */
void cat_ctl_metrics_run(struct cat_ctl_metrics *m);
/** Scrapes answered since start. */
uint64_t cat_ctl_metrics_scrapes(const struct cat_ctl_metrics *m);
void cat_ctl_metrics_close(struct cat_ctl_metrics *m);

#ifdef __cplusplus
}
#endif

#endif /* CAT_CTL_METRICS_H */
