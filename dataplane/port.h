/*
 * catena-node port setup and watch: configure one DPDK ethdev with one rx
 * and one tx queue per worker, its MTU and its steering (rte_flow rules per
 * worker, RSS, or software hand-over: dataplane/portplan.h decides), start
 * it, and follow its link state from the main lcore.
 * Setup, teardown and the link poll only, on the main thread; never touches
 * packets and never prints (errors and events go back as negative errno or
 * a return value plus a message).
 */
#ifndef CAT_PORT_H
#define CAT_PORT_H

#include <stddef.h>
#include <stdint.h>

#include <net/if.h>

#include <rte_ether.h>
#include <rte_mempool.h>

#include "dataplane/portplan.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Flow rules the port may hold: one per worker. */
#define CAT_PORT_FLOWS_MAX 64u
/* How often the main lcore reads the link state. */
#define CAT_PORT_LINK_POLL_MS 100u

struct cat_port_params {
	uint16_t port_id;
	uint16_t n_queues;     /* = number of workers; queue i belongs to worker i */
	uint16_t rx_desc;
	uint16_t tx_desc;
	uint32_t mtu;
	uint32_t ip;           /* our IPv4 address, host order (flow rules) */
	uint16_t udp_port;     /* [node] udp_port; worker w's is udp_port + 1 + w */
	enum cat_steer_want steering;
	int socket;            /* NUMA socket for the queues' memory */
	struct rte_mempool *pool; /* rx buffers */
	unsigned int link_wait_ms; /* give up waiting for link after this */
	int rx_intr;           /* 1: ask for rx queue interrupts (idle = interrupt) */
};

/*
 * The link as the main lcore last saw it. Written by the main lcore only
 * (cat_port_link_poll), read relaxed by telemetry, one field at a time.
 */
struct cat_port_link {
	uint64_t up;              /* 1 up, 0 down */
	uint64_t speed_mbps;      /* 0 when down or unknown */
	uint64_t down_events;     /* transitions up -> down since start */
	uint64_t up_events;       /* transitions down -> up since start */
	uint64_t down_ms_total;   /* time spent down, over finished outages */
	uint64_t last_change_ms;  /* monotonic ms of the last transition, 0 none */
};

/** A started port: what it is, how it steers, and its link. */
struct cat_port {
	uint16_t port_id;
	char driver[32];
	char ifname[IF_NAMESIZE]; /* kernel netdev behind it (af_packet, tap), or "" */
	int socket;               /* rte_eth_dev_socket_id, -1 unknown */
	uint32_t mtu;
	uint32_t max_mtu;         /* largest MTU the device takes */
	uint16_t n_queues;
	struct rte_ether_addr mac;
	enum cat_steer_mode steer;
	char steer_why[320];      /* the decision's sentence */
	uint16_t n_flows;         /* rules installed (flow mode: = n_queues) */
	struct rte_flow *flows[CAT_PORT_FLOWS_MAX];
	int ifr_fd;               /* socket for SIOCGIFFLAGS on ifname, or -1 */
	int tx_cksum_offload;     /* the device fills IPv4 and UDP checksums */
	uint64_t next_poll_ms;
	struct cat_port_link link;
};

/**
 * Configure and start the port into *port. On success returns 0, with the
 * MAC, the steering decision (port->steer, ->steer_why) and whether the link
 * came up within the wait (port->link.up; a down link is not an error:
 * virtual devices report it late). Flow rules are validated with
 * rte_flow_validate and created only where every worker's rule validates;
 * a creation that fails after that removes the ones made and falls back.
 * Returns -ENODEV (no such port), -ENOTSUP (fewer queues than workers, or a
 * forced steering mode the port cannot give), -EINVAL (MTU outside the
 * device's range), or the ethdev's negative errno, with one line in err.
 * On error the port is left closed if it had been configured.
 */
int cat_port_init(struct cat_port *port, const struct cat_port_params *p,
		  char *err, size_t errlen);

/**
 * Read the link (at most every CAT_PORT_LINK_POLL_MS; now_ms monotonic):
 * the ethdev's link status and, for a port backed by a kernel netdev
 * (af_packet, tap), also that netdev's IFF_UP and IFF_RUNNING (carrier),
 * since af_packet in DPDK 22.11 reports its link up for as long as it is
 * started. Returns 1 on a transition, with one line for the log in msg,
 * else 0. Main thread; never blocks.
 */
int cat_port_link_poll(struct cat_port *port, uint64_t now_ms,
		       char *msg, size_t msglen);

/** Remove the flow rules, stop and close the port. Workers must no longer
 * poll it. */
void cat_port_fini(struct cat_port *port);

#ifdef __cplusplus
}
#endif

#endif /* CAT_PORT_H */
