/*
 * catena-node worker lcores: the per-packet hot path. Each worker polls its
 * own rx queue, answers ARP, ICMP echo and catena requests, runs reads for
 * any slot and writes only for the slots it owns (others are handed to the
 * owner over an SPSC ring), runs the chain replication engine of its slots
 * (replication messages to the owner as well), and transmits on its own tx
 * queue, through the fault injector for peer traffic.
 * Runs on worker lcores: never blocks, never allocates except mempool mbufs,
 * never makes a syscall except the idle backoff sleep.
 */
#ifndef CAT_WORKER_H
#define CAT_WORKER_H

#include <stdint.h>

#include <rte_common.h>
#include <rte_cycles.h>
#include <rte_ether.h>
#include <rte_mempool.h>
#include <rte_ring.h>

#include "dataplane/faults.h"
#include "replication/chain.h"
#include "replication/dlog.h"
#include "replication/hist.h"
#include "replication/linkauth.h"
#include "replication/logring.h"
#include "replication/map.h"
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
	X(requests_map_get)                                                 \
	X(requests_other)      /* opcode this node does not know */         \
	X(retry_no_map)        /* requests answered RETRY: no map yet */     \
	X(replies)             /* catena reply messages written */          \
	X(reply_packets)       /* UDP packets carrying them */              \
	X(replies_in_place)    /* of which built in the request's mbuf */   \
	X(handover_sent)       /* writes passed to their slot's owner */    \
	X(handover_received)   /* writes run here for another worker */    \
	X(handover_ring_full)  /* ring to the owner full: answered RETRY */ \
	X(handover_peer_ring_full) /* same for a FWD/ACK: dropped, resent */ \
	X(handover_no_mbuf)    /* no mbuf for the record: answered RETRY */ \
	X(idle_sleeps)         /* backoff sleeps (RCU-offline) */           \
	X(idle_waits)          /* idle = interrupt: blocked on rx (RCU-offline) */ \
	X(idle_wakeups_rx)     /* ... and woken by a packet, not the timeout */ \
	X(idle_arm_failed)     /* ... rx interrupt not armed: backed off */ \
	X(idle_late_rx)        /* ... timed out with a packet already there */ \
	X(log_backpressure)    /* durability = log: polls that left rx alone \
				* (log ring or parked replies nearly full) */ \
	X(log_records_lost)    /* ... a record that did not fit: this worker \
				* acknowledges nothing more */              \
	X(log_replies_parked)  /* ... reply packets held until the log synced */ \
	X(msg_bad_version)     /* answered BAD_VERSION */                   \
	X(msg_truncated)       /* lengths past the packet: BAD_REQUEST */   \
	X(msg_reserved)        /* reserved bits or unknown flags set */     \
	X(drop_multiseg)       /* chained mbuf: never produced at our MTU */ \
	X(drop_eth_short)      /* frame shorter than an Ethernet header */  \
	X(drop_not_our_mac)    /* unicast for another host, or multicast */ \
	X(drop_l2_broadcast)   /* broadcast frame other than ARP */          \
	X(drop_not_ipv4)       /* ethertype neither IPv4 nor ARP */         \
	X(drop_arp_bad)        /* not Ethernet/IPv4 ARP, or short */        \
	X(drop_arp_not_request)                                             \
	X(drop_arp_not_for_us) /* asks for another address */               \
	X(drop_ip_short)                                                    \
	X(drop_ip_bad_header)  /* version != 4 or bad IHL */                \
	X(drop_ip_bad_length)  /* total length vs frame */                  \
	X(drop_ip_cksum_bad)                                                \
	X(drop_ip_fragment)    /* catena never relies on fragments */       \
	X(drop_ip_over_mtu)    /* IP packet longer than our MTU: reassembled */ \
	X(drop_ip_not_for_us)  /* destination is not our address */         \
	X(drop_ip_proto)       /* neither ICMP nor UDP */                   \
	X(drop_icmp_short)                                                  \
	X(drop_icmp_not_echo)                                               \
	X(drop_udp_bad_length)                                              \
	X(drop_udp_port)       /* not our catena port */                    \
	X(rx_worker_port_datagrams) /* UDP to a per-worker port (udp_port+1+w) */ \
	X(drop_udp_src_port_zero) /* nowhere to reply to */                 \
	X(drop_l4_cksum_bad)   /* UDP checksum wrong (device or software) */ \
	X(drop_l4_cksum_zero)  /* no UDP checksum, udp_checksum_zero = drop */ \
	X(rx_l4_cksum_sw)      /* UDP checksums verified in software */      \
	X(rx_l4_cksum_zero)    /* datagrams without a UDP checksum, taken */  \
	X(drop_short)          /* catena bytes shorter than a header */     \
	X(drop_bad_magic)      /* not a catena message: never answered */   \
	X(drop_reply_msg)      /* a reply sent to us: never answered */     \
	X(drop_reply_no_mbuf)  /* pool empty: a reply was lost */           \
	X(drop_reply_too_large) /* reply would not fit the MTU */           \
	X(drop_handover_too_large) /* record would not fit an mbuf */       \
	X(map_switches)        /* new cluster maps installed in the engine */ \
	X(repl_rx_msgs)        /* replication messages from known peers */ \
	X(peer_msgs)           /* replication messages written to peers */ \
	X(peer_packets)        /* UDP packets carrying them */              \
	X(drop_repl_unknown_peer) /* replication op from an IP not in the map */ \
	X(drop_repl_wrong_mac) /* from a map node's IP, not the map's MAC */ \
	/* With a cluster secret, per replication datagram (not message): */ \
	X(repl_auth_ok)        /* ... its link tag verified: taken */       \
	X(repl_auth_missing)   /* ... no trailer, or not the first message */ \
	X(repl_auth_unknown_epoch) /* ... no key of its epoch for that peer */ \
	X(repl_auth_bad_tag)   /* ... tag wrong (forged, altered, other key) */ \
	X(repl_auth_replay)    /* ... counter seen, or older than the window */ \
	X(repl_pings_sent)     /* data-network pings to the other map nodes */ \
	X(repl_pings_received) /* ... from them */                            \
	X(drop_repl_malformed) /* replication message that did not decode */ \
	X(drop_repl_bad_op)    /* op in 0x40..0x7f the engine does not know */ \
	X(drop_repl_bad_slot)  /* slot >= slot count */                     \
	X(drop_repl_no_map)    /* replication message before the first map */ \
	X(drop_peer_unknown)   /* engine sent to a node not in the map */   \
	X(drop_peer_no_mac)    /* peer's MAC unknown (map has none) */      \
	X(drop_peer_no_key)    /* secret but no link key for that peer yet */ \
	X(drop_peer_no_mbuf)   /* pool empty: a peer message was lost */    \
	X(drop_peer_too_large) /* peer message over the MTU */              \
	X(fault_dropped)       /* fault injector: dropped on purpose */     \
	X(fault_delayed)       /* fault injector: held in the delay queue */ \
	X(fault_reordered)     /* ... of which given the reordering delay */ \
	X(fault_queue_full)    /* delay queue full: sent without delay */   \
	X(fault_corrupted)     /* test hook: a FWD's value altered on purpose */ \
	X(store_errors)        /* unexpected store errno: BAD_REQUEST */

/** Counters of one worker. Written only by that worker; read relaxed. */
struct cat_worker_stats {
#define CAT_X_FIELD(name) uint64_t name;
	CAT_WORKER_COUNTERS(CAT_X_FIELD)
#undef CAT_X_FIELD
	uint64_t replies_by_status[CAT_ST__COUNT]; /* indexed by enum cat_status */
} __rte_cache_aligned;

/*
 * A cluster map as the dataplane publishes it: the parsed map, its
 * canonical text (MAP_GET, /catena/map) and where this node is in it.
 * Immutable once published; main frees it only after every worker has
 * switched to a newer one and an RCU grace period has passed.
 */
struct cat_dp_map {
	struct cat_map *map;
	char *text;            /* cat_map_format output, NUL-terminated */
	uint32_t text_len;
	uint16_t self_idx;     /* index of this node in map->nodes */
	/* Link keys of this epoch, link[i] for map->nodes[i] (keys.epoch 0:
	 * none), and the previous epoch's receive keys: filled by the node
	 * agent from catena-control's delivery before it publishes. */
	struct cat_linkauth_keyset keys;
};

/** Node-wide dataplane context. Filled by main before launch; read-only
 * after, except the RCU-published pointers (map, faults) and the agent's
 * counter, which only main (or the telemetry command) writes. */
struct cat_durable;

struct cat_dp {
	struct cat_store *store;
	struct rte_mempool *pool;
	uint16_t port_id;
	uint16_t n_workers;
	uint16_t burst;
	uint16_t idle_backoff;       /* 1 = sleep after empty polls */
	uint16_t idle_interrupt;     /* 1 = block on rx interrupts instead, if armable */
	uint16_t udp_zero_drop;      /* 1 = drop datagrams without a checksum */
	uint16_t tx_cksum_offload;   /* 1 = the port fills IPv4/UDP checksums */
	uint16_t link_auth;          /* 1 = a cluster secret: node-to-node
				      * datagrams carry link tags, and
				      * replication is taken only with one */
	uint64_t link_ctr0;          /* first trailer counter: CLOCK_REALTIME
				      * ns at start, so a restart never
				      * reuses one */
	struct rte_ether_addr mac;
	uint32_t ip_be;              /* our IPv4 address, network order */
	uint16_t udp_port_be;        /* network order */
	uint16_t udp_port;           /* the same, host order */
	uint16_t worker_ports;       /* flow steering: UDP ports udp_port+1 ..
				      * udp_port+worker_ports are ours too
				      * (one per worker); else 0 */
	uint32_t mtu;
	uint32_t slot_count;
	uint16_t node_id;
	/* RCU-published (rcu_assign_pointer by main; workers rcu_dereference
	 * once per loop iteration). map is NULL only on a node with [control]
	 * and no [cluster] map until the control plane sends the first map
	 * (then never NULL again); faults is never NULL after launch. */
	struct cat_dp_map *map;
	struct cat_faults_cfg *faults;
	/* Chain engine parameters (per worker). */
	uint32_t repl_inflight;
	uint32_t repl_dedup;
	uint32_t repl_suspect_after;
	uint64_t repl_rto_ns;
	uint64_t repl_xfer_rate;
	uint32_t repl_xfer_slots;
	uint64_t tsc_hz;
	uint64_t peer_suspect_reports; /* main only: suspects it logged */
	/* Read leases (replication/lease.h), shared by the workers: written
	 * on each PING at our epoch, read by GETs. NULL on a node without
	 * [control] (its map changes only when its operator says). */
	struct cat_lease *lease;
	/* ring[from][to]: writes for `to`'s slots received by `from`. SPSC:
	 * only `from` enqueues, only `to` dequeues. NULL on the diagonal. */
	struct rte_ring *ring[CAT_WORKER_MAX][CAT_WORKER_MAX];
	/* durability = log (dataplane/durable.h); NULL: none. */
	struct cat_durable *durable;
};

/* fsync = always: reply packets waiting for the log to sync. */
#define CAT_WORKER_PARK_MAX 1024u

/* The packet being filled for one destination during a burst. */
struct cat_worker_pkt {
	struct rte_mbuf *m;
	uint32_t len;                /* UDP payload bytes so far */
};

/** One worker. Allocated cache aligned by main; touched by its lcore only
 * (stats, chain and dmap_seen also read by main and telemetry, relaxed). */
struct cat_worker {
	const struct cat_dp *dp;
	uint16_t idx;                /* 0..n_workers-1: also its rx/tx queue */
	unsigned int lcore;
	uint64_t timer_slack_ns;     /* its thread's, as the kernel reports it */
	/* How it idles (/catena/lcores): CAT_IDLE_*, and for interrupt
	 * mode why it backs off instead (the port gave no rx interrupt). */
	uint64_t idle_mode;
	char idle_note[96];
	int idle_known;              /* idle_mode and idle_note are set */
	int idle_timed_out;          /* the last interrupt wait ran out */
	/* durability = log: this worker's ring to the log writer, and with
	 * fsync = always the reply packets held until what was logged
	 * before them is on disk (park_at: the ring position they wait
	 * for). log_broken: a record was lost, nothing is released. */
	/* The burst's GETs, hashed and looked up together before the burst
	 * is handled (cat_store_get_bulk): by the key's address in its
	 * packet, taken in order by handle_msg. */
	unsigned int gets_n, gets_next;
	int gets_stale;              /* a write ran since: look up again */
	const uint8_t *gets_keyp[CAT_STORE_BULK_MAX];
	struct cat_key gets_k[CAT_STORE_BULK_MAX];
	const struct cat_key *gets_kp[CAT_STORE_BULK_MAX];
	const struct cat_item *gets_it[CAT_STORE_BULK_MAX];
	struct cat_logring *logring;
	int log_always;
	int log_broken;
	uint32_t park_head, park_n;
	struct rte_mbuf *park_m[CAT_WORKER_PARK_MAX];
	uint64_t park_at[CAT_WORKER_PARK_MAX];
	uint8_t park_faultable[CAT_WORKER_PARK_MAX];
	uint8_t log_scratch[CAT_DLOG_REC_HDR + CAT_WIRE_KEY_MAX + 9216];
	int intr_lt_epfd;            /* net_tap: own level-triggered epoll, or -1 */
	/* Capacity (/catena/lcores): TSC spent in loop iterations that did
	 * some work, and in those that found none (sleeps and waits
	 * included). Worker-written, relaxed. */
	uint64_t busy_tsc;
	uint64_t idle_tsc;
	int intr_armed;              /* the queue's rx interrupt is armed */
	/* Per-hop timing (/catena/hops), from the start of the poll
	 * iteration that received a write to the hand-off of what it sent
	 * to the port: FWDs sent first (head, middles), and committed
	 * writes answered (tail). Worker-written; telemetry merges copies. */
	struct cat_hist *hop_fwd, *hop_reply;
	struct cat_chain *chain;     /* engine of this worker's slots */
	struct cat_chain_io io;
	const struct cat_dp_map *dmap; /* map in force for this worker; NULL
					* until the node has its first map */
	const struct cat_dp_map *dmap_seen; /* = dmap, atomic: for main */
	uint64_t now;                /* ns, this loop iteration */
	/* Client replies: one open packet, to one address at a time. */
	struct cat_addr crep_to;
	struct cat_worker_pkt crep;
	/* The mbuf of the datagram being handled while it holds one GET
	 * and nothing else: its reply may be built in it (in_place_open). */
	struct rte_mbuf *rx_reuse;
	/* Peer messages: one open packet per map node (index in map->nodes). */
	struct cat_worker_pkt peer[CAT_MAP_NODES_MAX];
	uint16_t peer_open[CAT_MAP_NODES_MAX];
	uint16_t n_peer_open;
	uint16_t tx_n;
	struct rte_mbuf *tx_buf[CAT_WORKER_TX_BUF];
	struct cat_faults faults;
	const struct cat_faults_cfg *faults_seen;
	struct cat_worker_stats st;
	struct cat_chain_stats rst;  /* read-path engine counters (cat_chain_read) */
	/* Who we heard on the data network (any replication message), by map
	 * node index: the node id and when (w->now). Written here, read
	 * relaxed by the agent for its heartbeat. */
	uint16_t heard_id[CAT_MAP_NODES_MAX];
	uint64_t heard_ns[CAT_MAP_NODES_MAX];
	uint64_t next_ping;          /* worker 0: when to ping the others */
	/* Link authentication (dp->link_auth): the next trailer counter,
	 * until when the previous epoch's keys are taken, and the replay
	 * windows by [map node index][sender worker], win_id[i] the node id
	 * of row i (rows follow the map: remapped on a switch, spare being
	 * the other buffer). */
	uint64_t auth_ctr;
	uint64_t prev_keys_until;
	struct cat_linkauth_window (*win)[CAT_WORKER_MAX];
	struct cat_linkauth_window (*win_spare)[CAT_WORKER_MAX];
	uint16_t win_id[CAT_MAP_NODES_MAX];
} __rte_cache_aligned;

/*
 * How a node knows a replication message comes from the peer it names
 * (docs/HARDENING.md): without a cluster secret, the map's IP address and
 * MAC of that peer only (a host that spoofs both is believed); with one,
 * a link tag under a key only the two ends of that link hold this epoch.
 * Logged at start, in /catena/port and in catena-control's status.
 */
#define CAT_DATA_AUTH "none: map IP and MAC only (unauthenticated data network)"
#define CAT_DATA_AUTH_KEYED "siphash-2-4-128 link tags, per-epoch link keys " \
	"from catena-control (and the map's IP and MAC)"

/** What dp checks of its peers: CAT_DATA_AUTH or CAT_DATA_AUTH_KEYED. */
static inline const char *cat_dp_data_auth(const struct cat_dp *dp)
{
	return dp->link_auth ? CAT_DATA_AUTH_KEYED : CAT_DATA_AUTH;
}

/** The MTU a client request must fit: with link tags, a FWD carrying it
 * needs the trailer's bytes too (docs/PROTOCOL.md). */
static inline uint32_t cat_dp_value_mtu(const struct cat_dp *dp)
{
	return dp->mtu - (dp->link_auth ? CAT_LINKAUTH_TRAILER_LEN : 0u);
}

/* Worker 0 pings every other node of the map this often. */

#define CAT_WORKER_PING_NS CAT_LEASE_PING_NS /* leases count on it */

/** The workers' clock (w->now), for another thread: ns from the TSC. */
static inline uint64_t cat_worker_clock_ns(const struct cat_dp *dp)
{
	uint64_t mult = (uint64_t)(((unsigned __int128)1000000000u << 32) /
				   dp->tsc_hz);

	return (uint64_t)(((unsigned __int128)rte_rdtsc() * mult) >> 32);
}

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
 * Create the worker's chain engine (w->dp, w->idx set; dp's repl_* and
 * store filled). Main thread, before launch. Returns 0 or -errno.
 */
int cat_worker_init(struct cat_worker *w);

/** Free what cat_worker_init made (the worker has stopped). */
void cat_worker_fini(struct cat_worker *w);

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
