/*
 * catena-node worker lcores: the per-packet hot path. Each worker polls its
 * own rx queue, answers ARP, ICMP echo and catena requests, runs reads for
 * any slot and writes only for the slots it owns (others are handed to the
 * owner over an SPSC ring), and transmits on its own tx queue.
 * Runs on worker lcores: never blocks, never allocates except mempool mbufs,
 * never makes a syscall except the idle backoff sleep.
 */
#ifndef CAT_WORKER_H
#define CAT_WORKER_H

#include <stdint.h>

#include <rte_common.h>
#include <rte_ether.h>
#include <rte_mempool.h>
#include <rte_ring.h>

#include "replication/store.h"
#include "replication/wire.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CAT_WORKER_MAX    32   /* worker lcores per node */
#define CAT_WORKER_TX_BUF 512  /* replies buffered per loop iteration */
#define CAT_WORKER_BURST_MAX 512

/*
 * Every per-worker counter, in the order telemetry shows them. Each drop
 * reason has its own counter; all of them are named drop_* except
 * tx_dropped_full (the tx queue refused a reply) and the handover ones.
 */
#define CAT_WORKER_COUNTERS(X)                                              \
	X(rx_packets)          /* frames received on this worker's queue */ \
	X(rx_bytes)                                                         \
	X(tx_packets)          /* frames the device accepted */             \
	X(tx_bytes)                                                         \
	X(tx_dropped_full)     /* replies the tx queue refused: freed */    \
	X(arp_replies)                                                      \
	X(icmp_echo_replies)                                                \
	X(requests)            /* catena messages decoded as requests */   \
	X(requests_get)                                                     \
	X(requests_put)                                                     \
	X(requests_del)                                                     \
	X(requests_cas)                                                     \
	X(requests_incr)                                                    \
	X(requests_ping)                                                    \
	X(requests_other)      /* opcode this node does not know */         \
	X(replies)             /* catena reply messages written */          \
	X(reply_packets)       /* UDP packets carrying them */              \
	X(handover_sent)       /* writes passed to their slot's owner */    \
	X(handover_received)   /* writes run here for another worker */    \
	X(handover_ring_full)  /* ring to the owner full: answered RETRY */ \
	X(handover_no_mbuf)    /* no mbuf for the record: answered RETRY */ \
	X(idle_sleeps)         /* backoff sleeps (RCU-offline) */           \
	X(msg_bad_version)     /* answered BAD_VERSION */                   \
	X(msg_truncated)       /* lengths past the packet: BAD_REQUEST */   \
	X(msg_reserved)        /* reserved bits or unknown flags set */     \
	X(drop_multiseg)       /* chained mbuf: never produced at our MTU */ \
	X(drop_eth_short)      /* frame shorter than an Ethernet header */  \
	X(drop_not_our_mac)    /* unicast for another host, or multicast */ \
	X(drop_not_ipv4)       /* ethertype neither IPv4 nor ARP */         \
	X(drop_arp_bad)        /* not Ethernet/IPv4 ARP, or short */        \
	X(drop_arp_not_request)                                             \
	X(drop_arp_not_for_us) /* asks for another address */               \
	X(drop_ip_short)                                                    \
	X(drop_ip_bad_header)  /* version != 4 or bad IHL */                \
	X(drop_ip_bad_length)  /* total length vs frame */                  \
	X(drop_ip_cksum_bad)                                                \
	X(drop_ip_fragment)    /* catena never relies on fragments */       \
	X(drop_ip_not_for_us)  /* destination is not our address */         \
	X(drop_ip_proto)       /* neither ICMP nor UDP */                   \
	X(drop_icmp_short)                                                  \
	X(drop_icmp_not_echo)                                               \
	X(drop_udp_bad_length)                                              \
	X(drop_udp_port)       /* not our catena port */                    \
	X(drop_udp_src_port_zero) /* nowhere to reply to */                 \
	X(drop_l4_cksum_bad)   /* device says the UDP checksum is bad */    \
	X(drop_short)          /* catena bytes shorter than a header */     \
	X(drop_bad_magic)      /* not a catena message: never answered */   \
	X(drop_reply_msg)      /* a reply sent to us: never answered */     \
	X(drop_reply_no_mbuf)  /* pool empty: a reply was lost */           \
	X(drop_reply_too_large) /* reply would not fit the MTU */           \
	X(drop_handover_too_large) /* record would not fit an mbuf */       \
	X(store_errors)        /* unexpected store errno: BAD_REQUEST */

/** Counters of one worker. Written only by that worker; read relaxed. */
struct cat_worker_stats {
#define CAT_X_FIELD(name) uint64_t name;
	CAT_WORKER_COUNTERS(CAT_X_FIELD)
#undef CAT_X_FIELD
	uint64_t replies_by_status[CAT_ST__COUNT]; /* indexed by enum cat_status */
} __rte_cache_aligned;

/** Node-wide dataplane context. Filled by main before launch; read-only after. */
struct cat_dp {
	struct cat_store *store;
	struct rte_mempool *pool;
	uint16_t port_id;
	uint16_t n_workers;
	uint16_t burst;
	uint16_t idle_backoff;       /* 1 = sleep after empty polls */
	struct rte_ether_addr mac;
	uint32_t ip_be;              /* our IPv4 address, network order */
	uint16_t udp_port_be;        /* network order */
	uint32_t mtu;
	uint32_t slot_count;
	uint32_t epoch;              /* node epoch (0 until the control plane sets one) */
	/* ring[from][to]: writes for `to`'s slots received by `from`. SPSC:
	 * only `from` enqueues, only `to` dequeues. NULL on the diagonal. */
	struct rte_ring *ring[CAT_WORKER_MAX][CAT_WORKER_MAX];
};

/** One worker. Allocated cache aligned by main; touched by its lcore only
 * (stats also read by telemetry, relaxed). */
struct cat_worker {
	const struct cat_dp *dp;
	uint16_t idx;                /* 0..n_workers-1: also its rx/tx queue */
	unsigned int lcore;
	uint16_t tx_n;
	struct rte_mbuf *tx_buf[CAT_WORKER_TX_BUF];
	struct cat_worker_stats st;
} __rte_cache_aligned;

/** Worker that owns writes of a slot. */
static inline uint32_t cat_worker_slot_owner(uint32_t slot, uint32_t n_workers)
{
	return slot % n_workers;
}

/** Number of slots worker idx owns. */
static inline uint32_t cat_worker_slots_owned(uint32_t slot_count,
					      uint32_t n_workers, uint32_t idx)
{
	return idx < slot_count ? (slot_count - idx + n_workers - 1) / n_workers : 0;
}

/**
 * Data room an mbuf of the pool needs at this MTU: a full frame, and a
 * handover record carrying the largest message. Main sizes the pool with it.
 */
uint16_t cat_worker_mbuf_data_room(uint32_t mtu);

/**
 * lcore entry point (rte_eal_remote_launch); arg is a struct cat_worker *.
 * Registers the lcore as a QSBR RCU thread, polls until
 * cat_worker_request_stop(), flushes, unregisters. Returns 0.
 */
int cat_worker_main(void *arg);

/** Ask every worker to leave its loop (any thread; workers see it within
 * one loop iteration or one idle sleep). */
void cat_worker_request_stop(void);

#ifdef __cplusplus
}
#endif

#endif /* CAT_WORKER_H */
