/*
 * perf/bench_net.h: catena-bench's network side. Brings up every ethdev
 * port EAL was given (a net_memif to a node on this machine, a NIC on
 * hardware), answers ARP for the bench's own IP, resolves node MACs, and,
 * when there are several ports, switches frames between them by learned
 * source MAC, so one bench can be the L2 segment of a whole chain whose
 * nodes each have a single memif port (a star: node <-> bench <-> node).
 * Runs on the bench's one lcore; the per-burst functions never allocate
 * (beyond mbufs from the pool), never sleep and never print.
 */
#ifndef CAT_BENCH_NET_H
#define CAT_BENCH_NET_H

#include <stdint.h>

#include <rte_ether.h>
#include <rte_mbuf.h>

#define CAT_BNET_PORTS_MAX 8u
#define CAT_BNET_TXQ       2048u /* frames waiting per port for tx room */
#define CAT_BNET_LEARN_MAX 64u

/* Frames per port, counted for the summary; each drop has its reason. */
struct cat_bnet_stats {
	uint64_t rx_frames;
	uint64_t tx_frames;
	uint64_t switched;        /* frames forwarded between two ports */
	uint64_t arp_replies;     /* ARP requests for our IP answered */
	uint64_t drop_tx_full;    /* tx ring and our tx queue both full */
	uint64_t drop_not_ours;   /* unicast to another MAC, nowhere to switch */
	uint64_t drop_bad_frame;  /* short or malformed Ethernet/IP/UDP */
	uint64_t drop_other;      /* neither ARP nor UDP to our IP and port */
};

struct cat_bnet_txq {
	uint16_t n;
	struct rte_mbuf *m[CAT_BNET_TXQ];
};

struct cat_bnet {
	uint16_t n_ports;
	uint16_t port_ids[CAT_BNET_PORTS_MAX];
	struct rte_ether_addr mac;       /* ours: the first port's */
	uint32_t ip_be;
	uint16_t udp_port_be;
	uint16_t burst;
	struct rte_mempool *pool;
	struct cat_bnet_txq txq[CAT_BNET_PORTS_MAX];
	/* Learning switch: source MAC -> port index, linear (a handful). */
	uint16_t n_learned;
	struct rte_ether_addr learned_mac[CAT_BNET_LEARN_MAX];
	uint16_t learned_port[CAT_BNET_LEARN_MAX];
	struct cat_bnet_stats st;
};

/**
 * Configure and start every available ethdev port (one rx and one tx
 * queue each) and wait up to link_wait_ms for links to come up. Setup
 * only. Returns 0 or a negative errno with a message in err.
 */
int cat_bnet_init(struct cat_bnet *n, struct rte_mempool *pool, uint32_t ip_be,
		  uint16_t udp_port, uint16_t burst, unsigned link_wait_ms,
		  char *err, size_t errlen);

void cat_bnet_fini(struct cat_bnet *n);

/** Port index (into port_ids) where mac was last seen, or -1. */
int cat_bnet_port_of(const struct cat_bnet *n, const struct rte_ether_addr *mac);

/**
 * Queue a frame for tx on port index pi (-1: every port: a broadcast or a
 * destination not learned yet; the frame is copied for the extra ports).
 * Takes ownership of m.
 */
void cat_bnet_send(struct cat_bnet *n, int pi, struct rte_mbuf *m);

/** Hand queued frames to the ports; what does not fit waits. */
void cat_bnet_flush(struct cat_bnet *n);

/**
 * Callback for a UDP datagram to our IP and port: payload and length, the
 * rx timestamp (TSC, one per burst) and the source IP (network order).
 */
typedef void (*cat_bnet_udp_fn)(void *arg, const uint8_t *payload, uint32_t len,
				uint32_t src_ip_be, uint64_t tsc);

/**
 * Callback for an ARP reply (sender IP and MAC), to resolve node MACs.
 */
typedef void (*cat_bnet_arp_fn)(void *arg, uint32_t sip_be,
				const struct rte_ether_addr *sha);

/**
 * Poll every port once: learn, switch, answer ARP, hand catena datagrams
 * to on_udp. Returns frames received.
 */
unsigned cat_bnet_poll(struct cat_bnet *n, cat_bnet_udp_fn on_udp,
		       cat_bnet_arp_fn on_arp, void *arg);

/** Broadcast an ARP request for tip_be on every port. */
int cat_bnet_arp_request(struct cat_bnet *n, uint32_t tip_be);

/** Length of the Ethernet + IPv4 + UDP headers the bench writes. */
#define CAT_BNET_HDRS 42u

/**
 * Write Ethernet, IPv4 and UDP headers in front of a payload of plen bytes
 * already at offset CAT_BNET_HDRS of m, and set the mbuf lengths. UDP
 * checksum 0 (allowed in IPv4; the node checks only a device verdict).
 */
void cat_bnet_close_udp(const struct cat_bnet *n, struct rte_mbuf *m,
			const struct rte_ether_addr *dst_mac, uint32_t dst_ip_be,
			uint16_t dst_port_be, uint32_t plen);

#endif /* CAT_BENCH_NET_H */
