/*
 * catena-node port setup: configure one DPDK ethdev with one rx and one tx
 * queue per worker, set its MTU, start it and wait (bounded) for link.
 * Setup and teardown only, on the main thread; never touches packets and
 * never prints (errors go back as negative errno plus a message).
 */
#ifndef CAT_PORT_H
#define CAT_PORT_H

#include <stddef.h>
#include <stdint.h>

#include <rte_ether.h>
#include <rte_mempool.h>

#ifdef __cplusplus
extern "C" {
#endif

struct cat_port_params {
	uint16_t port_id;
	uint16_t n_queues;     /* = number of workers; queue i belongs to worker i */
	uint16_t rx_desc;
	uint16_t tx_desc;
	uint32_t mtu;
	struct rte_mempool *pool; /* rx buffers */
	unsigned int link_wait_ms; /* give up waiting for link after this */
};

/**
 * Configure and start the port. On success returns 0, fills *mac with the
 * port's MAC and *link_up with whether the link came up within the wait
 * (a down link is not an error: virtual devices report it late).
 * Returns -ENODEV (no such port), -ENOTSUP (fewer queues than workers),
 * or the ethdev's negative errno, with one line in err. On error the port is
 * left closed if it had been configured.
 */
int cat_port_init(const struct cat_port_params *p, struct rte_ether_addr *mac,
		  int *link_up, char *err, size_t errlen);

/** Stop and close the port. Workers must no longer poll it. */
void cat_port_fini(uint16_t port_id);

#ifdef __cplusplus
}
#endif

#endif /* CAT_PORT_H */
