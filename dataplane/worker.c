/*
 * catena-node hot path: one poll loop per worker lcore.
 * rx burst -> Ethernet -> ARP | IPv4 -> ICMP echo | UDP -> catena messages
 * -> client ops (reads here, writes on the slot's owner) and replication
 * messages (FWD/ACK on the owner, VQUERY/VRESP here) -> the chain engine
 * -> replies to clients and messages to peers, batched per destination for
 * the burst -> fault injector (peer traffic) -> tx burst. With a cluster
 * secret, every datagram to a peer is sealed with a link tag and every
 * replication datagram is taken only with a valid one (link_check).
 * Never blocks, never allocates except mempool mbufs, never makes a syscall
 * outside the idle backoff sleep, never logs. Every discarded packet or
 * message increments exactly one named counter.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <rte_arp.h>
#include <rte_branch_prediction.h>
#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_icmp.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_prefetch.h>
#include <rte_udp.h>

#include <urcu-qsbr.h>

#include "dataplane/cksum.h"
#include "dataplane/durable.h"
#include "dataplane/dump.h"
#include "dataplane/worker.h"
#include "replication/hash.h"

/* Idle backoff: after this many empty loop iterations, sleep, doubling the
 * sleep from MIN to MAX while the queue stays empty. 1 ms caps the extra
 * latency a request meeting a sleeping worker can see. */
#define IDLE_EMPTY_POLLS   64u
#define IDLE_SLEEP_MIN_US  10u
#define IDLE_SLEEP_MAX_US  1000u
/* idle = interrupt: the longest block on rx, so timers (retransmission,
 * lease PINGs, the fault queue) and hand-over rings still run. */
#define IDLE_WAIT_MAX_MS   1

#define L2L3L4_LEN (RTE_ETHER_HDR_LEN + sizeof(struct rte_ipv4_hdr) + \
		    sizeof(struct rte_udp_hdr))
#define IPV4_UDP_LEN (sizeof(struct rte_ipv4_hdr) + sizeof(struct rte_udp_hdr))

static int stop_flag;

void cat_worker_request_stop(void)
{
	__atomic_store_n(&stop_flag, 1, __ATOMIC_RELEASE);
}

/*
 * A message received by a worker that does not own its slot, copied into
 * an mbuf of the pool and passed to the owner over the SPSC ring: a client
 * write (from_node 0; the client's address rides along so the engine can
 * answer it) or a FWD/ACK from peer from_node. key/value pointers are
 * rebased onto data[] on arrival.
 */
struct handover {
	struct cat_addr from;
	uint16_t from_node;
	uint16_t hashed;    /* k holds the key's hashes (a client write) */
	struct cat_key k;   /* ptr rebased onto data[] like msg's */
	struct cat_msg msg;
	uint8_t data[]; /* key, then value */
};

uint16_t cat_worker_mbuf_data_room(uint32_t mtu)
{
	uint32_t frame = RTE_ETHER_HDR_LEN + RTE_VLAN_HLEN + mtu;
	uint32_t record = (uint32_t)sizeof(struct handover) + mtu;
	uint32_t room = RTE_MAX(frame, record);

	room = RTE_MAX(room, (uint32_t)RTE_MBUF_DEFAULT_DATAROOM);
	return (uint16_t)(RTE_PKTMBUF_HEADROOM + room);
}

static inline uint32_t payload_cap(const struct cat_dp *dp)
{
	return dp->mtu - (uint32_t)IPV4_UDP_LEN;
}

/* Messages to a peer leave room for the link trailer. */
static inline uint32_t peer_cap(const struct cat_dp *dp)
{
	return payload_cap(dp) - (dp->link_auth ? CAT_LINKAUTH_TRAILER_LEN : 0u);
}

/* With flow steering the NIC queues UDP port udp_port + 1 + w on worker
 * w: those ports are the node's too. One subtraction and compare. */
static inline int worker_port(const struct cat_dp *dp, uint16_t port_be)
{
	uint32_t d = (uint32_t)rte_be_to_cpu_16(port_be) - dp->udp_port - 1u;

	return d < dp->worker_ports;
}

/* One's-complement sum of the UDP pseudo-header and the datagram's ulen
 * bytes (RFC 768), folded, not complemented: all ones over a datagram
 * whose checksum field is right. */
static inline uint32_t udp_sum(const struct rte_ipv4_hdr *ip,
			       const struct rte_udp_hdr *udp, uint32_t ulen)
{
	uint32_t s = (uint32_t)cat_cksum_raw(&ip->src_addr, 8) +
		     rte_cpu_to_be_16(IPPROTO_UDP) +
		     rte_cpu_to_be_16((uint16_t)ulen) +
		     cat_cksum_raw(udp, ulen);

	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return s;
}

/* ---- tx ---------------------------------------------------------------- */

static void tx_flush(struct cat_worker *w)
{
	uint16_t sent, i;

	if (w->tx_n == 0)
		return;
	sent = rte_eth_tx_burst(w->dp->port_id, w->idx, w->tx_buf, w->tx_n);
	w->st.tx_packets += sent;
	for (i = 0; i < sent; i++)
		w->st.tx_bytes += rte_pktmbuf_pkt_len(w->tx_buf[i]);
	if (unlikely(sent < w->tx_n)) {
		w->st.tx_dropped_full += (uint64_t)(w->tx_n - sent);
		rte_pktmbuf_free_bulk(&w->tx_buf[sent], w->tx_n - sent);
	}
	w->tx_n = 0;
}

/* Packets are sent once per loop iteration; a burst that produces more than
 * the buffer holds sends early rather than dropping. */
static inline void tx_enqueue(struct cat_worker *w, struct rte_mbuf *m)
{
	if (unlikely(w->tx_n == CAT_WORKER_TX_BUF))
		tx_flush(w);
	w->tx_buf[w->tx_n++] = m;
}

/* A finished packet: to the tx buffer, or through the fault injector. */
static void tx_out(struct cat_worker *w, struct rte_mbuf *m, int faultable)
{
	int reordered;

	if (!faultable || !cat_faults_active(&w->faults)) {
		tx_enqueue(w, m);
		return;
	}
	switch (cat_faults_apply(&w->faults, w->now, m, &reordered)) {
	case CAT_FAULTS_QUEUED:
		w->st.fault_delayed++;
		w->st.fault_reordered += (uint64_t)reordered;
		return;
	case CAT_FAULTS_DROPPED:
		w->st.fault_dropped++;
		return;
	case CAT_FAULTS_QUEUE_FULL:
		w->st.fault_queue_full++;
		/* fall through */
	default:
		tx_enqueue(w, m);
		return;
	}
}

/* Release the delayed packets that are due. */
static unsigned int faults_release(struct cat_worker *w, uint64_t now)
{
	struct rte_mbuf *due[64];
	unsigned int n, i, total = 0;

	do {
		n = cat_faults_due(&w->faults, now, due, RTE_DIM(due));
		for (i = 0; i < n; i++)
			tx_enqueue(w, due[i]);
		total += n;
	} while (n == RTE_DIM(due));
	return total;
}

/* ---- UDP packets we originate ------------------------------------------ */

static int pkt_open(struct cat_worker *w, struct cat_worker_pkt *p)
{
	p->m = rte_pktmbuf_alloc(w->dp->pool);
	p->len = 0;
	return p->m != NULL ? 0 : -ENOBUFS;
}

static inline uint8_t *pkt_tail(struct cat_worker_pkt *p)
{
	return rte_pktmbuf_mtod_offset(p->m, uint8_t *, L2L3L4_LEN + p->len);
}

/* Write Ethernet, IPv4 and UDP headers in front of the payload: the
 * packet, ready to send. With a link key, the payload's last
 * CAT_LINKAUTH_TRAILER_LEN bytes are the trailer's room, sealed once the
 * addresses it covers are written. */
static struct rte_mbuf *pkt_finish(struct cat_worker *w, struct cat_worker_pkt *p,
				   const uint8_t dst_mac[6], uint32_t dst_ip_be,
				   uint16_t dst_port_be, const uint8_t *link_key)
{
	struct rte_mbuf *m = p->m;
	struct rte_ether_hdr *eth;
	struct rte_ipv4_hdr *ip;
	struct rte_udp_hdr *udp;

	eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	ip = (struct rte_ipv4_hdr *)(eth + 1);
	udp = (struct rte_udp_hdr *)(ip + 1);

	memcpy(&eth->dst_addr, dst_mac, RTE_ETHER_ADDR_LEN);
	rte_ether_addr_copy(&w->dp->mac, &eth->src_addr);
	eth->ether_type = RTE_BE16(RTE_ETHER_TYPE_IPV4);

	ip->version_ihl = RTE_IPV4_VHL_DEF;
	ip->type_of_service = 0;
	ip->total_length = rte_cpu_to_be_16((uint16_t)(IPV4_UDP_LEN + p->len));
	ip->packet_id = 0;
	ip->fragment_offset = RTE_BE16(RTE_IPV4_HDR_DF_FLAG);
	ip->time_to_live = 64;
	ip->next_proto_id = IPPROTO_UDP;
	ip->src_addr = w->dp->ip_be;
	ip->dst_addr = dst_ip_be;
	ip->hdr_checksum = 0;
	if (!w->dp->tx_cksum_offload)
		ip->hdr_checksum = rte_ipv4_cksum(ip);

	udp->src_port = w->dp->udp_port_be;
	udp->dst_port = dst_port_be;
	udp->dgram_len = rte_cpu_to_be_16((uint16_t)(sizeof(*udp) + p->len));
	udp->dgram_cksum = 0;
	/* The tag covers source to UDP length with the checksum as zero:
	 * in a 20-byte IPv4 header those are contiguous, right before the
	 * payload. */
	if (link_key != NULL)
		cat_linkauth_seal(link_key, (uint8_t *)&ip->src_addr, p->len,
				  (uint8_t)w->idx, w->dmap->keys.epoch,
				  w->auth_ctr++);
	if (w->dp->tx_cksum_offload) {
		/* The device sums the payload; it wants the pseudo-header's
		 * sum in the field and the header lengths in the mbuf. */
		m->l2_len = RTE_ETHER_HDR_LEN;
		m->l3_len = sizeof(*ip);
		m->ol_flags |= RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IP_CKSUM |
			       RTE_MBUF_F_TX_UDP_CKSUM;
		udp->dgram_cksum = rte_ipv4_phdr_cksum(ip, m->ol_flags);
	} else {
		/* As rte_ipv4_udptcp_cksum, 8 bytes a step; a sum of zero
		 * goes out as all ones (RFC 768: zero means none). */
		uint16_t ck = (uint16_t)~udp_sum(ip, udp,
						 (uint32_t)sizeof(*udp) + p->len);

		udp->dgram_cksum = ck != 0 ? ck : 0xffff;
	}

	m->data_len = (uint16_t)(L2L3L4_LEN + p->len);
	m->pkt_len = m->data_len;
	p->m = NULL;
	return m;
}

/* Finish the packet and send it. */
static void pkt_close(struct cat_worker *w, struct cat_worker_pkt *p,
		      const uint8_t dst_mac[6], uint32_t dst_ip_be,
		      uint16_t dst_port_be, int faultable,
		      const uint8_t *link_key)
{
	if (p->m != NULL)
		tx_out(w, pkt_finish(w, p, dst_mac, dst_ip_be, dst_port_be, link_key),
		       faultable);
}

/* ---- durability = log ---------------------------------------------------- */

/* io->applied: the engine changed the store; the record goes to the log
 * writer. The worker checked for room before it took the burst, so a
 * record that does not fit is a bug or a disk that stopped: then this
 * worker acknowledges nothing more (parked replies stay parked). */
static void io_applied(void *arg, const struct cat_dlog_rec *r)
{
	struct cat_worker *w = arg;
	ssize_t n = cat_dlog_encode(w->log_scratch, sizeof(w->log_scratch), r);

	if (unlikely(n < 0 || cat_logring_put(w->logring, w->log_scratch,
					      (size_t)n) != 0)) {
		w->st.log_records_lost++;
		w->log_broken = 1;
	}
}

/* fsync = always: a reply packet leaves only once every record this
 * worker logged before it is on disk. */
static void park(struct cat_worker *w, struct rte_mbuf *m, int faultable)
{
	uint32_t i = (w->park_head + w->park_n) % CAT_WORKER_PARK_MAX;

	if (unlikely(w->park_n == CAT_WORKER_PARK_MAX)) {
		/* Rx stops well before this (log_room); never reached. */
		rte_pktmbuf_free(m);
		w->st.drop_reply_no_mbuf++;
		return;
	}
	w->park_m[i] = m;
	w->park_at[i] = cat_logring_head(w->logring);
	w->park_faultable[i] = (uint8_t)faultable;
	w->park_n++;
	w->st.log_replies_parked++;
}

static void unpark(struct cat_worker *w)
{
	uint64_t durable;

	if (w->park_n == 0 || w->log_broken)
		return;
	durable = cat_logring_durable(w->logring);
	while (w->park_n && w->park_at[w->park_head] <= durable) {
		uint32_t i = w->park_head;

		tx_out(w, w->park_m[i], w->park_faultable[i]);
		w->park_head = (i + 1) % CAT_WORKER_PARK_MAX;
		w->park_n--;
	}
}

/* Room for what one more burst may log and park. */
static inline int log_room(const struct cat_worker *w)
{
	return cat_logring_room(w->logring) >= CAT_DURABLE_ROOM_MIN &&
	       w->park_n + 2u * w->dp->burst < CAT_WORKER_PARK_MAX &&
	       !__atomic_load_n(&w->dp->durable->failed, __ATOMIC_ACQUIRE) &&
	       !w->log_broken;
}

/* ---- client replies ------------------------------------------------------ */

static inline int same_addr(const struct cat_addr *a, const struct cat_addr *b)
{
	return a->ip == b->ip && a->port == b->port &&
	       memcmp(a->mac, b->mac, sizeof(a->mac)) == 0;
}

static void crep_close(struct cat_worker *w)
{
	struct rte_mbuf *m;

	if (w->crep.m == NULL)
		return;
	m = pkt_finish(w, &w->crep, w->crep_to.mac, rte_cpu_to_be_32(w->crep_to.ip),
		       rte_cpu_to_be_16(w->crep_to.port), NULL);
	if (unlikely(w->log_always) &&
	    (cat_logring_durable(w->logring) < cat_logring_head(w->logring) ||
	     w->park_n || w->log_broken))
		park(w, m, w->faults.cfg.client_replies);
	else
		tx_out(w, m, w->faults.cfg.client_replies);
	w->st.reply_packets++;
}

/*
 * Open the reply packet in the request's own mbuf (w->rx_reuse): a
 * datagram that carried one GET and nothing else is answered by
 * rewriting it, with no mbuf allocated, none freed and no fresh buffer
 * lines touched. The reply's header goes over the request's, its key is
 * already where the request had it (same header size), the value follows,
 * and pkt_finish rewrites Ethernet, IPv4 and UDP (addresses swapped, the
 * checksum summed in software only where the port cannot). Only for a
 * 20-byte IPv4 header (pkt_finish writes that layout) and an mbuf with
 * room for a full reply packet. Returns 0 if opened.
 */
static int in_place_open(struct cat_worker *w, struct cat_worker_pkt *p)
{
	struct rte_mbuf *m = w->rx_reuse;
	uint16_t off;

	if (m == NULL)
		return -ENOENT;
	w->rx_reuse = NULL;
	if ((uint32_t)(m->buf_len - m->data_off) <
	    L2L3L4_LEN + payload_cap(w->dp))
		return -ENOSPC;
	off = m->data_off;
	rte_pktmbuf_reset(m);   /* rx flags, lengths, offload fields */
	m->data_off = off;
	p->m = m;
	p->len = 0;
	w->st.replies_in_place++;
	return 0;
}

/*
 * Append one reply message for client `to`. Replies to the same client
 * share a packet until it is full, another client is answered, or the
 * burst ends; every reply of a burst leaves in that burst.
 */
static void client_msg(struct cat_worker *w, const struct cat_addr *to,
		       const struct cat_msg *out)
{
	uint32_t cap = payload_cap(w->dp);
	uint32_t need = (uint32_t)cat_wire_msg_len(out);
	int n;

	if (unlikely(need > cap)) {
		w->st.drop_reply_too_large++;
		return;
	}
	if (w->crep.m != NULL &&
	    (!same_addr(&w->crep_to, to) || w->crep.len + need > cap))
		crep_close(w);
	if (w->crep.m == NULL) {
		if (in_place_open(w, &w->crep) != 0 &&
		    unlikely(pkt_open(w, &w->crep) != 0)) {
			w->st.drop_reply_no_mbuf++;
			return;
		}
		w->crep_to = *to;
	}
	n = cat_wire_encode(pkt_tail(&w->crep), cap - w->crep.len, out);
	if (unlikely(n < 0)) {
		w->st.drop_reply_too_large++;
		return;
	}
	w->crep.len += (uint32_t)n;
	w->st.replies++;
	if (out->status < CAT_ST__COUNT)
		w->st.replies_by_status[out->status]++;
}

/* io->to_client: the engine answers a client (now, or as the tail). */
static void io_to_client(void *arg, const struct cat_addr *a,
			 const struct cat_msg *m)
{
	client_msg(arg, a, m);
}

static inline uint32_t cur_epoch(const struct cat_worker *w)
{
	return likely(w->dmap != NULL) ? w->dmap->map->epoch : 0;
}

/*
 * A reply the dataplane makes itself (errors, PING, MAP_GET). The
 * request's key is echoed when it is well-formed (decoded and at most
 * CAT_WIRE_KEY_MAX), which keeps a reply no larger than its request.
 */
static void reply_local(struct cat_worker *w, const struct cat_addr *to,
			const struct cat_msg *req, uint8_t flags,
			enum cat_status status, uint64_t arg, int echo_key,
			const void *value, uint32_t vlen)
{
	struct cat_msg out;

	memset(&out, 0, sizeof(out));
	out.op = req->op;
	out.flags = flags | CAT_F_REPLY;
	out.status = (uint8_t)status;
	out.slot = req->slot;
	out.epoch = cur_epoch(w);
	out.client_id = req->client_id;
	out.seq = req->seq;
	out.arg = arg;
	if (echo_key && req->key_len <= CAT_WIRE_KEY_MAX) {
		out.key_len = req->key_len;
		out.key = req->key;
	}
	out.value_len = vlen;
	out.value = value;
	client_msg(w, to, &out);
}

static inline void reply_status(struct cat_worker *w, const struct cat_addr *to,
				const struct cat_msg *req, enum cat_status st,
				uint64_t arg)
{
	reply_local(w, to, req, req->flags & CAT_F_KNOWN, st, arg, 1, NULL, 0);
}

/* ---- peer messages ------------------------------------------------------- */

static void peer_close(struct cat_worker *w, uint32_t i)
{
	const struct cat_map_node *nd = &w->dmap->map->nodes[i];
	const uint8_t *key = NULL;

	if (w->peer[i].m == NULL)
		return;
	if (w->dp->link_auth) {
		const struct cat_linkauth_keyset *ks = &w->dmap->keys;

		/* No key for this link (catena-control sent none yet): a
		 * datagram without a tag would only be refused there. */
		if (unlikely(ks->epoch == 0 || ks->link[i].peer != nd->id)) {
			rte_pktmbuf_free(w->peer[i].m);
			w->peer[i].m = NULL;
			w->st.drop_peer_no_key++;
			return;
		}
		key = ks->link[i].tx;
		w->peer[i].len += CAT_LINKAUTH_TRAILER_LEN; /* room kept by peer_cap */
	}
	pkt_close(w, &w->peer[i], nd->mac, rte_cpu_to_be_32(nd->ip),
		  rte_cpu_to_be_16(nd->udp_port), 1, key);
	w->st.peer_packets++;
}

/*
 * io->to_node: append to this burst's packet for that node; a full packet
 * is sent and another started. Everything goes out at the end of the burst
 * (flush_out), so batching never holds a message back.
 */
static void io_to_node(void *arg, uint16_t node_id, const struct cat_msg *m)
{
	struct cat_worker *w = arg;
	const struct cat_dp_map *dm = w->dmap;
	const struct cat_map *map = dm->map;
	const struct cat_map_node *nd = cat_map_node_by_id(map, node_id);
	uint32_t cap = peer_cap(w->dp);
	uint32_t need = (uint32_t)cat_wire_msg_len(m);
	struct cat_worker_pkt *p;
	const uint8_t *mac;
	uint32_t i;
	int n;

	i = nd != NULL ? (uint32_t)(nd - map->nodes) : UINT32_MAX;
	if (unlikely(nd == NULL || i == dm->self_idx)) {
		w->st.drop_peer_unknown++;
		return;
	}
	mac = nd->mac;
	if (unlikely((mac[0] | mac[1] | mac[2] | mac[3] | mac[4] | mac[5]) == 0)) {
		w->st.drop_peer_no_mac++;
		return;
	}
	if (unlikely(need > cap)) {
		w->st.drop_peer_too_large++;
		return;
	}
	p = &w->peer[i];
	if (p->m != NULL && p->len + need > cap)
		peer_close(w, i);
	if (p->m == NULL && unlikely(pkt_open(w, p) != 0)) {
		w->st.drop_peer_no_mbuf++;
		return;
	}
	n = cat_wire_encode(pkt_tail(p), cap - p->len, m);
	if (unlikely(n < 0)) {
		w->st.drop_peer_too_large++;
		return;
	}
	/* Test-only ([faults] corrupt_fwd_to): the successor applies a
	 * value its predecessor does not hold, at the same version: the
	 * divergence verify and repair exist for. The last byte of a put's
	 * FWD is a payload byte. */
	if (unlikely(w->faults.cfg.corrupt_fwd_to == node_id) &&
	    m->op == CAT_OP_R_FWD && m->value_len > CAT_WIRE_REPL_EXT_LEN) {
		pkt_tail(p)[n - 1] ^= 0x20;
		w->st.fault_corrupted++;
	}
	p->len += (uint32_t)n;
	w->st.peer_msgs++;
}

/* End of a burst: every open packet goes to tx (or the fault injector). */
static void flush_out(struct cat_worker *w)
{
	uint32_t i, n;

	crep_close(w);
	if (unlikely(w->dmap == NULL))
		return; /* no map, no peers */
	n = w->dmap->map->n_nodes;
	for (i = 0; i < n; i++)
		peer_close(w, i);
}

/* ---- request execution ------------------------------------------------- */

/*
 * Pass a client write (from_node 0) or a FWD/ACK (from peer from_node) to
 * the worker owning its slot. A client write that cannot be passed is
 * answered RETRY (it did not happen); a peer message is dropped, and its
 * sender's retransmission brings it again.
 */
static void handover_send(struct cat_worker *w, const struct cat_addr *from,
			  uint16_t from_node, const struct cat_msg *msg,
			  const struct cat_key *k, uint32_t owner)
{
	const struct cat_dp *dp = w->dp;
	uint32_t need = (uint32_t)sizeof(struct handover) + msg->key_len +
			msg->value_len;
	struct handover *h;
	struct rte_mbuf *m;

	m = rte_pktmbuf_alloc(dp->pool);
	if (unlikely(m == NULL)) {
		w->st.handover_no_mbuf++;
		if (from_node == 0)
			reply_status(w, from, msg, CAT_ST_RETRY, 0);
		return;
	}
	if (unlikely(need > rte_pktmbuf_tailroom(m))) {
		rte_pktmbuf_free(m);
		w->st.drop_handover_too_large++;
		if (from_node == 0)
			reply_status(w, from, msg, CAT_ST_TOO_LARGE, 0);
		return;
	}
	h = rte_pktmbuf_mtod(m, struct handover *);
	h->from = *from;
	h->from_node = from_node;
	h->hashed = k != NULL;
	if (k != NULL)
		h->k = *k;
	h->msg = *msg;
	memcpy(h->data, msg->key, msg->key_len);
	if (msg->value_len)
		memcpy(h->data + msg->key_len, msg->value, msg->value_len);

	if (unlikely(rte_ring_sp_enqueue(dp->ring[w->idx][owner], m) != 0)) {
		rte_pktmbuf_free(m);
		if (from_node == 0) {
			w->st.handover_ring_full++;
			reply_status(w, from, msg, CAT_ST_RETRY, 0);
		} else {
			w->st.handover_peer_ring_full++;
		}
		return;
	}
	w->st.handover_sent++;
}

/* A request that needs a map, on a node that has none yet. */
static void no_map(struct cat_worker *w, const struct cat_addr *from,
		   const struct cat_msg *msg)
{
	w->st.retry_no_map++;
	reply_status(w, from, msg, CAT_ST_RETRY, 0);
}

/* Run what other workers received for our slots. Returns how many. */
static unsigned int handover_drain(struct cat_worker *w)
{
	const struct cat_dp *dp = w->dp;
	void *objs[CAT_WORKER_BURST_MAX];
	unsigned int from, n, i, total = 0;

	for (from = 0; from < dp->n_workers; from++) {
		if (from == w->idx)
			continue;
		n = rte_ring_sc_dequeue_burst(dp->ring[from][w->idx], objs,
					      dp->burst, NULL);
		for (i = 0; i < n; i++) {
			struct rte_mbuf *m = objs[i];
			struct handover *h = rte_pktmbuf_mtod(m, struct handover *);

			h->msg.key = h->data;
			h->msg.value = h->data + h->msg.key_len;
			h->k.ptr = h->data;
			/* The very first map: the sender took it a moment
			 * before we did (we will at our next iteration). */
			if (unlikely(w->dmap == NULL)) {
				if (h->from_node != 0)
					w->st.drop_repl_no_map++;
				else
					no_map(w, &h->from, &h->msg);
				rte_pktmbuf_free(m);
				continue;
			}
			/* The engine copies what it keeps; m may go after. */
			if (h->from_node != 0)
				cat_chain_on_peer(w->chain, w->now, h->from_node,
						  &h->msg);
			else
				cat_chain_on_write(w->chain, w->now, &h->from,
						   &h->msg,
						   h->hashed ? &h->k : NULL);
			cat_dump_wrote(w, h->msg.slot, h->msg.key, h->msg.key_len);
			rte_pktmbuf_free(m);
		}
		w->st.handover_received += n;
		total += n;
	}
	return total;
}

static void count_op(struct cat_worker_stats *st, uint8_t op)
{
	switch (op) {
	case CAT_OP_GET:     st->requests_get++;     break;
	case CAT_OP_PUT:     st->requests_put++;     break;
	case CAT_OP_DEL:     st->requests_del++;     break;
	case CAT_OP_CAS:     st->requests_cas++;     break;
	case CAT_OP_INCR:    st->requests_incr++;    break;
	case CAT_OP_PING:    st->requests_ping++;    break;
	case CAT_OP_MAP_GET: st->requests_map_get++; break;
	default:             st->requests_other++;   break;
	}
}

/* MAP_GET: the map text from byte arg on, as much as fits one reply. */
static void map_get(struct cat_worker *w, const struct cat_addr *from,
		    const struct cat_msg *msg)
{
	const struct cat_dp_map *dm = w->dmap;
	uint32_t room = payload_cap(w->dp) - CAT_WIRE_HDR_LEN;
	uint32_t n;

	if (msg->arg > dm->text_len) {
		reply_status(w, from, msg, CAT_ST_BAD_REQUEST, dm->text_len);
		return;
	}
	n = RTE_MIN(room, dm->text_len - (uint32_t)msg->arg);
	reply_local(w, from, msg, 0, CAT_ST_OK, dm->text_len, 0,
		    dm->text + msg->arg, n);
}

/* The bulk lookup's result for the GET whose key is at key (handle_msg
 * meets the GETs in the order bulk_gets found them), or 0. */
static inline int bulk_take(struct cat_worker *w, const uint8_t *key,
			    struct cat_key *k, const struct cat_item **it)
{
	/* A write earlier in this burst (a client's PUT before its GET in
	 * one datagram, a FWD) may have changed what the GET must see. */
	if (w->gets_stale)
		return 0;
	for (unsigned int i = w->gets_next; i < w->gets_n; i++)
		if (w->gets_keyp[i] == key) {
			*k = w->gets_k[i];
			*it = w->gets_it[i];
			w->gets_next = i + 1;
			return 1;
		}
	return 0;
}

/* One decoded client request. */
static void handle_msg(struct cat_worker *w, const struct cat_addr *from,
		       const struct cat_msg *msg)
{
	const struct cat_dp *dp = w->dp;
	enum cat_status st;
	struct cat_key k;
	const struct cat_item *it = NULL;
	int have_it = 0;
	uint32_t owner;

	w->st.requests++;
	count_op(&w->st, msg->op);

	st = cat_wire_check_request(msg, cat_wire_value_max(cat_dp_value_mtu(dp),
							    msg->key_len));
	if (st != CAT_ST_OK) {
		reply_status(w, from, msg, st, 0);
		return;
	}
	if (msg->op == CAT_OP_PING) {
		reply_status(w, from, msg, CAT_ST_OK, dp->slot_count);
		return;
	}
	if (unlikely(w->dmap == NULL)) {
		if (msg->op == CAT_OP_MAP_GET || msg->op == CAT_OP_GET ||
		    msg->op == CAT_OP_PUT || msg->op == CAT_OP_DEL ||
		    msg->op == CAT_OP_CAS || msg->op == CAT_OP_INCR)
			no_map(w, from, msg);
		else
			reply_status(w, from, msg, CAT_ST_UNKNOWN_OP, 0);
		return;
	}
	if (msg->op == CAT_OP_MAP_GET) {
		map_get(w, from, msg);
		return;
	}

	if (msg->op == CAT_OP_GET && bulk_take(w, msg->key, &k, &it))
		have_it = 1;
	else
		cat_store_key(dp->store, &k, msg->key, msg->key_len);
	if (msg->slot != k.slot) {
		reply_status(w, from, msg, CAT_ST_WRONG_SLOT, dp->slot_count);
		return;
	}

	switch (msg->op) {
	case CAT_OP_GET:
		/* Reads run here whatever the owner: items stay valid until
		 * this worker's next quiescent state, after the reply copy. */
		cat_chain_read_get(w->dmap->map, dp->node_id, dp->store, &w->io,
				   from, msg, &k, have_it, it, &w->rst, dp->lease,
				   w->now);
		return;
	case CAT_OP_PUT:
	case CAT_OP_DEL:
	case CAT_OP_CAS:
	case CAT_OP_INCR:
		owner = cat_worker_slot_owner(k.slot, dp->n_workers);
		w->gets_stale = 1;
		if (owner == w->idx) {
			cat_chain_on_write(w->chain, w->now, from, msg, &k);
			cat_dump_wrote(w, msg->slot, msg->key, msg->key_len);
		} else
			handover_send(w, from, 0, msg, &k, owner);
		return;
	default:
		reply_status(w, from, msg, CAT_ST_UNKNOWN_OP, 0);
		return;
	}
}

/* One replication message from peer from_node. Never answered with an
 * error: a peer that sends nonsense is counted, not talked to. */
static void handle_repl(struct cat_worker *w, const struct cat_addr *from,
			uint16_t from_node, const struct cat_msg *msg)
{
	const struct cat_dp *dp = w->dp;
	uint32_t owner;

	w->st.repl_rx_msgs++;
	w->gets_stale = 1;
	if (unlikely(msg->slot >= dp->slot_count)) {
		w->st.drop_repl_bad_slot++;
		return;
	}
	if (cat_chain_op_is_owned(msg->op)) {
		owner = cat_worker_slot_owner(msg->slot, dp->n_workers);
		if (owner == w->idx) {
			cat_chain_on_peer(w->chain, w->now, from_node, msg);
			cat_dump_wrote(w, msg->slot, msg->key, msg->key_len);
		} else
			handover_send(w, from, from_node, msg, NULL, owner);
		return;
	}
	switch (msg->op) {
	case CAT_OP_R_PING:
		w->st.repl_pings_received++; /* peer_of noted it heard */
		if (dp->lease != NULL)
			cat_lease_heard(dp->lease, w->dmap->map, from_node,
					msg->epoch, w->now);
		return;
	case CAT_OP_R_VQUERY:
	case CAT_OP_R_VRESP:
		cat_chain_read(w->dmap->map, dp->node_id, dp->store, &w->io,
			       from, from_node, msg, &w->rst, dp->lease, w->now);
		return;
	default:
		w->st.drop_repl_bad_op++;
		return;
	}
}

/*
 * Index in the map of the node at this source address (host order),
 * -ENOENT if none, -EPERM if the frame's source MAC is not the one the map
 * gives that node (a host on the segment using a member's address; without
 * a cluster secret the map's MAC is the one check a node can make,
 * docs/HARDENING.md).
 */
static int peer_index(const struct cat_worker *w, uint32_t ip, const uint8_t *mac)
{
	const struct cat_map *map = w->dmap->map;
	static const uint8_t zero[6];
	uint32_t i;

	for (i = 0; i < map->n_nodes; i++)
		if (map->nodes[i].ip == ip && i != w->dmap->self_idx) {
			if (memcmp(map->nodes[i].mac, zero, 6) != 0 &&
			    memcmp(map->nodes[i].mac, mac, 6) != 0)
				return -EPERM;
			return (int)i;
		}
	return -ENOENT;
}

/* Hearing from map node i is noted for the agent's heartbeat. */
static inline uint16_t note_heard(struct cat_worker *w, uint32_t i)
{
	uint16_t id = w->dmap->map->nodes[i].id;

	w->heard_id[i] = id;
	__atomic_store_n(&w->heard_ns[i], w->now, __ATOMIC_RELAXED);
	return id;
}

/* Node id of the map node at this address (heard), 0 if none, -EPERM
 * for the wrong MAC: the check without a cluster secret. */
static int peer_of(struct cat_worker *w, uint32_t ip, const uint8_t *mac)
{
	int i = peer_index(w, ip, mac);

	if (i == -EPERM)
		return i;
	return i < 0 ? 0 : note_heard(w, (uint32_t)i);
}

/* The receive key for a trailer of epoch `epoch` from map node i: this
 * epoch's, or for a short while after a switch the previous epoch's
 * (what the peer sent before it switched too). NULL if none. */
static const uint8_t *rx_key(const struct cat_worker *w, uint32_t i,
			     uint32_t epoch)
{
	const struct cat_linkauth_keyset *ks = &w->dmap->keys;
	uint16_t id = w->dmap->map->nodes[i].id;

	if (likely(epoch == ks->epoch && epoch != 0))
		return ks->link[i].peer == id ? ks->link[i].rx : NULL;
	if (epoch == 0 || epoch != ks->prev_epoch || w->now >= w->prev_keys_until)
		return NULL;
	for (uint16_t k = 0; k < ks->n_prev; k++)
		if (ks->prev[k].peer == id)
			return ks->prev[k].rx;
	return NULL;
}

/*
 * A datagram that opens with a replication message, with a cluster
 * secret: the node id of the peer whose link tag it carries, or 0 (the
 * datagram is refused as a whole and counted once, by cause). Order: who
 * the map says sent it, the trailer, the key of its epoch, the replay
 * window (cheap, before the MAC), the tag, and only then the window moves
 * and the peer counts as heard: a forgery changes nothing.
 */
static int link_check(struct cat_worker *w, struct rte_ipv4_hdr *ip,
		      struct rte_udp_hdr *udp, const struct cat_addr *from,
		      const uint8_t *p, size_t plen)
{
	struct cat_linkauth_trailer t;
	struct cat_linkauth_window *win;
	const uint8_t *key;
	uint16_t ck;
	int i, rc;

	i = peer_index(w, from->ip, from->mac);
	if (unlikely(i < 0)) {
		if (i == -EPERM)
			w->st.drop_repl_wrong_mac++;
		else
			w->st.drop_repl_unknown_peer++;
		return 0;
	}
	if (unlikely(plen < CAT_WIRE_HDR_LEN + CAT_LINKAUTH_TRAILER_LEN ||
		     cat_linkauth_parse(p, plen, &t) != 0)) {
		w->st.repl_auth_missing++;
		return 0;
	}
	key = rx_key(w, (uint32_t)i, t.epoch);
	if (unlikely(key == NULL)) {
		w->st.repl_auth_unknown_epoch++;
		return 0;
	}
	/* Our peers send no IP options; without them the covered bytes are
	 * not contiguous, and such a datagram is no peer's. */
	if (unlikely(t.worker >= CAT_WORKER_MAX ||
		     (ip->version_ihl & RTE_IPV4_HDR_IHL_MASK) != 5)) {
		w->st.repl_auth_bad_tag++;
		return 0;
	}
	win = &w->win[i][t.worker];
	if (unlikely(cat_linkauth_window_check(win, t.counter) != 0)) {
		w->st.repl_auth_replay++;
		return 0;
	}
	/* The tag was made with the checksum field zero: so it is, for the
	 * verify (the checksum was checked already). */
	ck = udp->dgram_cksum;
	udp->dgram_cksum = 0;
	rc = cat_linkauth_verify(key, (const uint8_t *)&ip->src_addr, plen);
	udp->dgram_cksum = ck;
	if (unlikely(rc != 0)) {
		w->st.repl_auth_bad_tag++;
		return 0;
	}
	cat_linkauth_window_take(win, t.counter);
	w->st.repl_auth_ok++;
	return note_heard(w, (uint32_t)i);
}

/* 1 if the payload opens with a replication message (not a reply). */
static inline int opens_with_repl(const uint8_t *p, size_t plen)
{
	struct cat_msg msg;
	size_t used = 0;

	return cat_wire_decode(p, plen, &msg, &used) == CAT_WIRE_OK &&
	       cat_op_is_replication(msg.op) && !(msg.flags & CAT_F_REPLY);
}

/* Worker 0, every CAT_WORKER_PING_NS: one PING to every other map node,
 * so each node hears every other while the data network works, writes or
 * not (catena-control tells a node cut off from it by this). */
static void ping_peers(struct cat_worker *w)
{
	const struct cat_map *map = w->dmap->map;
	struct cat_msg m = { .op = CAT_OP_R_PING, .epoch = map->epoch };

	w->next_ping = w->now + CAT_WORKER_PING_NS;
	for (uint32_t i = 0; i < map->n_nodes; i++)
		if (i != w->dmap->self_idx) {
			io_to_node(w, map->nodes[i].id, &m);
			w->st.repl_pings_sent++;
		}
}

/* The UDP payload of a packet to our catena port: messages back to back,
 * then (a peer's, with a cluster secret) the link trailer. */
/* Returns 1 if m became a reply (in place, now owned by tx), else 0. */
static int handle_catena(struct cat_worker *w, struct rte_mbuf *m,
			 const struct rte_ether_hdr *eth,
			 struct rte_ipv4_hdr *ip, struct rte_udp_hdr *udp,
			 const uint8_t *p, size_t plen)
{
	struct cat_addr from;
	int from_node = 0, looked_up = 0; /* on the first replication message */
	int sealed = 0;                   /* link tag verified */
	size_t off = 0;

	from.ip = rte_be_to_cpu_32(ip->src_addr);
	from.port = rte_be_to_cpu_16(udp->src_port);
	memcpy(from.mac, &eth->src_addr, sizeof(from.mac));

	if (plen == 0)
		w->st.drop_short++;
	/* A peer's datagram opens with a replication message; with a secret
	 * it is taken only whole and sealed. Client requests stay plain. */
	if (w->dp->link_auth && w->dmap != NULL && opens_with_repl(p, plen)) {
		from_node = link_check(w, ip, udp, &from, p, plen);
		if (from_node == 0)
			return 0;
		looked_up = sealed = 1;
		plen -= CAT_LINKAUTH_TRAILER_LEN;
	}
	while (off < plen) {
		struct cat_msg msg;
		size_t used = 0;
		enum cat_wire_err e;

		e = cat_wire_decode(p + off, plen - off, &msg, &used);
		if (unlikely(e != CAT_WIRE_OK)) {
			/* Whatever follows a bad message cannot be framed:
			 * stop here, answer it if it was ours to answer. */
			switch (e) {
			case CAT_WIRE_ERR_SHORT:
				w->st.drop_short++;
				break;
			case CAT_WIRE_ERR_MAGIC:
				w->st.drop_bad_magic++;
				break;
			default:
				if (msg.flags & CAT_F_REPLY) {
					w->st.drop_reply_msg++;
					break;
				}
				if (cat_op_is_replication(msg.op)) {
					w->st.drop_repl_malformed++;
					break;
				}
				if (e == CAT_WIRE_ERR_VERSION)
					w->st.msg_bad_version++;
				else if (e == CAT_WIRE_ERR_TRUNCATED)
					w->st.msg_truncated++;
				else
					w->st.msg_reserved++;
				reply_local(w, &from, &msg, 0,
					    e == CAT_WIRE_ERR_VERSION ?
					    CAT_ST_BAD_VERSION : CAT_ST_BAD_REQUEST,
					    0, 0, NULL, 0);
				break;
			}
			break;
		}
		off += used;
		/* Never answer a reply: two nodes would echo forever. */
		if (msg.flags & CAT_F_REPLY) {
			w->st.drop_reply_msg++;
			continue;
		}
		if (cat_op_is_replication(msg.op)) {
			if (unlikely(w->dmap == NULL)) {
				w->st.drop_repl_no_map++;
				continue;
			}
			/* After a client request in the same datagram: not
			 * sealed, whatever it ends in. */
			if (unlikely(w->dp->link_auth && !sealed)) {
				w->st.repl_auth_missing++;
				continue;
			}
			if (!looked_up) {
				from_node = peer_of(w, from.ip, from.mac);
				looked_up = 1;
			}
			if (unlikely(from_node == -EPERM)) {
				w->st.drop_repl_wrong_mac++;
				continue;
			}
			if (from_node == 0) {
				w->st.drop_repl_unknown_peer++;
				continue;
			}
			handle_repl(w, &from, (uint16_t)from_node, &msg);
			continue;
		}
		if (off == plen && used == plen && msg.op == CAT_OP_GET &&
		    ip->version_ihl == RTE_IPV4_VHL_DEF) {
			/* One GET is the whole datagram: answer in it. Its
			 * reply is the first message of the reply packet, or
			 * joins an earlier one to the same client (then m is
			 * freed as usual). */
			w->rx_reuse = m;
			handle_msg(w, &from, &msg);
			w->rx_reuse = NULL;
			return w->crep.m == m;
		}
		handle_msg(w, &from, &msg);
	}
	return 0;
}

/* ---- L2/L3 ------------------------------------------------------------- */

/* Returns 1 if m was turned into a reply (now owned by tx), else 0. */
static int handle_arp(struct cat_worker *w, struct rte_mbuf *m,
		      struct rte_ether_hdr *eth, uint32_t len)
{
	struct rte_arp_hdr *arp = (struct rte_arp_hdr *)(eth + 1);
	struct rte_ether_addr sha;
	uint32_t sip;

	if (len < RTE_ETHER_HDR_LEN + sizeof(*arp) ||
	    arp->arp_hardware != RTE_BE16(RTE_ARP_HRD_ETHER) ||
	    arp->arp_protocol != RTE_BE16(RTE_ETHER_TYPE_IPV4) ||
	    arp->arp_hlen != RTE_ETHER_ADDR_LEN || arp->arp_plen != 4) {
		w->st.drop_arp_bad++;
		return 0;
	}
	if (arp->arp_opcode != RTE_BE16(RTE_ARP_OP_REQUEST)) {
		w->st.drop_arp_not_request++;
		return 0;
	}
	if (arp->arp_data.arp_tip != w->dp->ip_be) {
		w->st.drop_arp_not_for_us++;
		return 0;
	}
	sha = arp->arp_data.arp_sha;
	sip = arp->arp_data.arp_sip;
	arp->arp_opcode = RTE_BE16(RTE_ARP_OP_REPLY);
	arp->arp_data.arp_tha = sha;
	arp->arp_data.arp_tip = sip;
	arp->arp_data.arp_sha = w->dp->mac;
	arp->arp_data.arp_sip = w->dp->ip_be;
	eth->dst_addr = sha;
	eth->src_addr = w->dp->mac;

	m->data_len = (uint16_t)(RTE_ETHER_HDR_LEN + sizeof(*arp));
	m->pkt_len = m->data_len;
	m->ol_flags = 0;
	tx_enqueue(w, m);
	w->st.arp_replies++;
	return 1;
}

static int handle_icmp(struct cat_worker *w, struct rte_mbuf *m,
		       struct rte_ether_hdr *eth, struct rte_ipv4_hdr *ip,
		       uint32_t l4len)
{
	struct rte_icmp_hdr *icmp = (struct rte_icmp_hdr *)
		((uint8_t *)ip + rte_ipv4_hdr_len(ip));
	uint16_t ck;
	uint32_t tmp;

	if (l4len < sizeof(*icmp)) {
		w->st.drop_icmp_short++;
		return 0;
	}
	if (icmp->icmp_type != RTE_IP_ICMP_ECHO_REQUEST || icmp->icmp_code != 0) {
		w->st.drop_icmp_not_echo++;
		return 0;
	}
	/* Reply in place: the echo data goes back unchanged. */
	icmp->icmp_type = RTE_IP_ICMP_ECHO_REPLY;
	icmp->icmp_cksum = 0;
	ck = rte_raw_cksum(icmp, l4len);
	icmp->icmp_cksum = (uint16_t)~ck;

	tmp = ip->src_addr;
	ip->src_addr = w->dp->ip_be;
	ip->dst_addr = tmp;
	ip->time_to_live = 64;
	ip->hdr_checksum = 0;
	ip->hdr_checksum = rte_ipv4_cksum(ip);

	eth->dst_addr = eth->src_addr;
	eth->src_addr = w->dp->mac;

	m->data_len = (uint16_t)(RTE_ETHER_HDR_LEN + rte_be_to_cpu_16(ip->total_length));
	m->pkt_len = m->data_len;
	m->ol_flags = 0;
	tx_enqueue(w, m);
	w->st.icmp_echo_replies++;
	return 1;
}

/* The checksum field is right when the sum over everything is all ones. */
static int udp_sum_ok(const struct rte_ipv4_hdr *ip,
		      const struct rte_udp_hdr *udp, uint32_t ulen)
{
	return udp_sum(ip, udp, ulen) == 0xffff;
}

/*
 * The UDP checksum, whoever vouches for it: the device when it checked
 * (GOOD, or NONE: data verified, field not), else this worker in software,
 * so a payload corrupted on a port that checks nothing (af_packet, memif,
 * most virtual devices) is never stored. A zero checksum means the sender
 * computed none (legal on IPv4): taken and counted, or dropped with
 * [node] udp_checksum_zero = drop.
 */
static int udp_cksum_ok(struct cat_worker *w, const struct rte_mbuf *m,
			const struct rte_ipv4_hdr *ip,
			const struct rte_udp_hdr *udp, uint32_t ulen)
{
	uint64_t f = m->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK;

	if (likely(f == RTE_MBUF_F_RX_L4_CKSUM_GOOD ||
		   f == RTE_MBUF_F_RX_L4_CKSUM_NONE))
		return 1;
	if (f == RTE_MBUF_F_RX_L4_CKSUM_UNKNOWN) {
		if (udp->dgram_cksum == 0) {
			if (w->dp->udp_zero_drop) {
				w->st.drop_l4_cksum_zero++;
				return 0;
			}
			w->st.rx_l4_cksum_zero++;
			return 1;
		}
		w->st.rx_l4_cksum_sw++;
		/* Over the datagram's own length: padding after it is no
		 * part of the sum. */
		if (likely(udp_sum_ok(ip, udp, ulen)))
			return 1;
	}
	w->st.drop_l4_cksum_bad++;
	return 0;
}

static int handle_ipv4(struct cat_worker *w, struct rte_mbuf *m,
		       struct rte_ether_hdr *eth, uint32_t len)
{
	struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(eth + 1);
	struct rte_udp_hdr *udp;
	uint32_t ihl, tot, l4len, ulen;
	uint64_t ck;

	if (unlikely(len < RTE_ETHER_HDR_LEN + sizeof(*ip))) {
		w->st.drop_ip_short++;
		return 0;
	}
	ihl = (uint32_t)(ip->version_ihl & RTE_IPV4_HDR_IHL_MASK) * RTE_IPV4_IHL_MULTIPLIER;
	if (unlikely((ip->version_ihl >> 4) != 4 || ihl < sizeof(*ip) ||
		     RTE_ETHER_HDR_LEN + ihl > len)) {
		w->st.drop_ip_bad_header++;
		return 0;
	}
	tot = rte_be_to_cpu_16(ip->total_length);
	/* Frames may carry padding after the IP packet, never less than it. */
	if (unlikely(tot < ihl || RTE_ETHER_HDR_LEN + tot > len)) {
		w->st.drop_ip_bad_length++;
		return 0;
	}
	if (unlikely(ip->fragment_offset &
		     RTE_BE16(RTE_IPV4_HDR_MF_FLAG | RTE_IPV4_HDR_OFFSET_MASK))) {
		w->st.drop_ip_fragment++;
		return 0;
	}
	if (unlikely(tot > w->dp->mtu)) {
		/* No frame of ours carries this: the kernel under net_af_packet
		 * reassembled it from fragments (docs/PROTOCOL.md). */
		w->st.drop_ip_over_mtu++;
		return 0;
	}
	if (ip->dst_addr != w->dp->ip_be) {
		w->st.drop_ip_not_for_us++;
		return 0;
	}
	ck = m->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK;
	if (unlikely(ck == RTE_MBUF_F_RX_IP_CKSUM_BAD ||
		     (ck == RTE_MBUF_F_RX_IP_CKSUM_UNKNOWN &&
		      rte_raw_cksum(ip, ihl) != 0xffff))) {
		w->st.drop_ip_cksum_bad++;
		return 0;
	}
	l4len = tot - ihl;

	if (ip->next_proto_id == IPPROTO_ICMP)
		return handle_icmp(w, m, eth, ip, l4len);
	if (unlikely(ip->next_proto_id != IPPROTO_UDP)) {
		w->st.drop_ip_proto++;
		return 0;
	}

	udp = (struct rte_udp_hdr *)((uint8_t *)ip + ihl);
	if (unlikely(l4len < sizeof(*udp))) {
		w->st.drop_udp_bad_length++;
		return 0;
	}
	ulen = rte_be_to_cpu_16(udp->dgram_len);
	if (unlikely(ulen < sizeof(*udp) || ulen > l4len)) {
		w->st.drop_udp_bad_length++;
		return 0;
	}
	if (udp->dst_port != w->dp->udp_port_be && !worker_port(w->dp, udp->dst_port)) {
		w->st.drop_udp_port++;
		return 0;
	}
	if (udp->dst_port != w->dp->udp_port_be)
		w->st.rx_worker_port_datagrams++;
	if (unlikely(udp->src_port == 0)) {
		w->st.drop_udp_src_port_zero++;
		return 0;
	}
	if (unlikely(!udp_cksum_ok(w, m, ip, udp, ulen)))
		return 0;
	return handle_catena(w, m, eth, ip, udp, (const uint8_t *)(udp + 1),
			     ulen - sizeof(*udp));
}

static int handle_pkt(struct cat_worker *w, struct rte_mbuf *m)
{
	struct rte_ether_hdr *eth;
	uint32_t len = rte_pktmbuf_data_len(m);

	w->st.rx_packets++;
	w->st.rx_bytes += rte_pktmbuf_pkt_len(m);
	if (unlikely(m->nb_segs != 1)) {
		w->st.drop_multiseg++;
		return 0;
	}
	if (unlikely(len < RTE_ETHER_HDR_LEN)) {
		w->st.drop_eth_short++;
		return 0;
	}
	eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	if (likely(rte_is_same_ether_addr(&eth->dst_addr, &w->dp->mac))) {
		if (likely(eth->ether_type == RTE_BE16(RTE_ETHER_TYPE_IPV4)))
			return handle_ipv4(w, m, eth, len);
	} else if (!rte_is_broadcast_ether_addr(&eth->dst_addr)) {
		w->st.drop_not_our_mac++;
		return 0;
	} else if (eth->ether_type != RTE_BE16(RTE_ETHER_TYPE_ARP)) {
		/* Only ARP is asked of everyone; a request to everyone
		 * would be answered by every node of the segment. */
		w->st.drop_l2_broadcast++;
		return 0;
	}
	if (eth->ether_type == RTE_BE16(RTE_ETHER_TYPE_ARP))
		return handle_arp(w, m, eth, len);
	w->st.drop_not_ipv4++;
	return 0;
}

/*
 * Before a burst is handled: find its client GETs (a light parse; what it
 * takes for a GET that handle_pkt then drops is simply not used), hash
 * each key once and look them all up in one pipelined call, so the
 * burst's cache misses overlap instead of queueing one key at a time.
 * The items stay valid until this iteration's quiescent state. Messages
 * are still handled in order: once a write ran in this burst (a client's
 * PUT before its GET in one datagram, a FWD), the rest of its GETs look up
 * again (gets_stale), so a GET always sees what came before it.
 */
static void bulk_gets(struct cat_worker *w, struct rte_mbuf **pkts, uint16_t n)
{
	const struct cat_dp *dp = w->dp;
	uint16_t klen[CAT_STORE_BULK_MAX];
	unsigned int g = 0;

	w->gets_n = w->gets_next = 0;
	w->gets_stale = 0;
	if (unlikely(w->dmap == NULL))
		return;
	for (uint16_t i = 0; i < n && g < CAT_STORE_BULK_MAX; i++) {
		const struct rte_ether_hdr *eth =
			rte_pktmbuf_mtod(pkts[i], const struct rte_ether_hdr *);
		const struct rte_ipv4_hdr *ip = (const struct rte_ipv4_hdr *)(eth + 1);
		const struct rte_udp_hdr *udp = (const struct rte_udp_hdr *)(ip + 1);
		uint32_t len = rte_pktmbuf_data_len(pkts[i]);
		const uint8_t *p = (const uint8_t *)(udp + 1);
		size_t off = 0, plen;

		if (len < L2L3L4_LEN || eth->ether_type != RTE_BE16(RTE_ETHER_TYPE_IPV4) ||
		    ip->version_ihl != RTE_IPV4_VHL_DEF || ip->next_proto_id != IPPROTO_UDP ||
		    (udp->dst_port != dp->udp_port_be && !worker_port(dp, udp->dst_port)))
			continue;
		plen = RTE_MIN((size_t)rte_be_to_cpu_16(udp->dgram_len),
			       (size_t)(len - RTE_ETHER_HDR_LEN - sizeof(*ip))) ;
		plen = plen > sizeof(*udp) ? plen - sizeof(*udp) : 0;
		while (off < plen && g < CAT_STORE_BULK_MAX) {
			struct cat_msg msg;
			size_t used;

			if (cat_wire_decode(p + off, plen - off, &msg, &used) != CAT_WIRE_OK)
				break;
			/* A peer's datagram holds replication messages only:
			 * no GET in it, and no reason to decode it twice. */
			if (off == 0 && cat_op_is_replication(msg.op))
				break;
			off += used;
			if (msg.op != CAT_OP_GET || (msg.flags & CAT_F_REPLY) ||
			    msg.key_len == 0 || msg.key_len > CAT_WIRE_KEY_MAX)
				continue;
			w->gets_keyp[g] = msg.key;
			klen[g] = msg.key_len;
			w->gets_kp[g] = &w->gets_k[g];
			g++;
		}
	}
	if (g == 0)
		return;
	/* One call hashes them all and prefetches their buckets. */
	cat_store_key_bulk(dp->store, w->gets_k,
			   (const void *const *)w->gets_keyp, klen, g);
	(void)cat_store_get_bulk(dp->store, w->gets_kp, g, w->gets_it);
	w->gets_n = g;
}

static void handle_burst(struct cat_worker *w, struct rte_mbuf **pkts,
			 uint16_t n)
{
	struct rte_mbuf *done[CAT_WORKER_BURST_MAX];
	uint16_t i, n_done = 0;

	bulk_gets(w, pkts, n);

	for (i = 0; i < n; i++) {
		if (i + 1 < n)
			rte_prefetch0(rte_pktmbuf_mtod(pkts[i + 1], void *));
		if (!handle_pkt(w, pkts[i]))
			done[n_done++] = pkts[i];
	}
	/* Replies were copied out (or the mbuf reused: ARP, ICMP, a lone
	 * GET answered in place): the rest go back to the pool in one call. */
	rte_pktmbuf_free_bulk(done, n_done);
}

/* ---- loop -------------------------------------------------------------- */

int cat_worker_init(struct cat_worker *w)
{
	const struct cat_dp *dp = w->dp;
	struct cat_chain_params p;

	w->io.to_node = io_to_node;
	w->io.to_client = io_to_client;
	w->io.arg = w;
	if (dp->durable != NULL) {
		w->logring = &dp->durable->ring[w->idx];
		w->log_always = dp->durable->fsync_ms == 0;
		w->io.applied = io_applied;
	}
	memset(&p, 0, sizeof(p));
	p.node_id = dp->node_id;
	p.worker = w->idx;
	p.n_workers = dp->n_workers;
	p.store = dp->store;
	p.io = w->io;
	p.inflight_max = dp->repl_inflight;
	p.msg_max = peer_cap(dp);
	p.dedup_max = dp->repl_dedup;
	p.rto_ns = dp->repl_rto_ns;
	p.suspect_after = dp->repl_suspect_after;
	p.xfer_rate = dp->repl_xfer_rate;
	p.xfer_slots = dp->repl_xfer_slots;
	p.fence_ns = dp->lease != NULL ? CAT_LEASE_FENCE_NS : 0;
	w->hop_fwd = malloc(sizeof(*w->hop_fwd));
	w->hop_reply = malloc(sizeof(*w->hop_reply));
	w->auth_ctr = dp->link_ctr0;
	if (dp->link_auth) {
		w->win = calloc(CAT_MAP_NODES_MAX, sizeof(*w->win));
		w->win_spare = calloc(CAT_MAP_NODES_MAX, sizeof(*w->win_spare));
	}
	if (w->hop_fwd == NULL || w->hop_reply == NULL ||
	    (dp->link_auth && (w->win == NULL || w->win_spare == NULL))) {
		cat_worker_fini(w);
		return -ENOMEM;
	}
	cat_hist_reset(w->hop_fwd);
	cat_hist_reset(w->hop_reply);
	w->chain = cat_chain_create(&p);
	if (w->chain == NULL) {
		int rc = -errno;

		cat_worker_fini(w);
		return rc;
	}
	return 0;
}

void cat_worker_fini(struct cat_worker *w)
{
	cat_chain_destroy(w->chain);
	w->chain = NULL;
	free(w->hop_fwd);
	free(w->hop_reply);
	w->hop_fwd = w->hop_reply = NULL;
	free(w->win);
	free(w->win_spare);
	w->win = w->win_spare = NULL;
}

/* TSC to ns with one multiply: mult = 2^32 * 1e9 / hz. */
static inline uint64_t tsc_ns(uint64_t mult)
{
	return (uint64_t)(((unsigned __int128)rte_rdtsc() * mult) >> 32);
}

/*
 * A new map may order its nodes differently: each peer's replay windows
 * follow it to its new row (by node id), so a switch never forgets what
 * was taken (a forgotten window would take a replay). A node new to the
 * map starts empty. At most 64 x 64 compares, once per map.
 */
static void win_remap(struct cat_worker *w, const struct cat_map *m)
{
	struct cat_linkauth_window (*next)[CAT_WORKER_MAX] = w->win_spare;
	uint16_t ids[CAT_MAP_NODES_MAX];

	for (uint32_t i = 0; i < m->n_nodes; i++) {
		uint16_t id = m->nodes[i].id;
		uint32_t j;

		for (j = 0; j < CAT_MAP_NODES_MAX && w->win_id[j] != id; j++)
			;
		if (j < CAT_MAP_NODES_MAX)
			memcpy(next[i], w->win[j], sizeof(next[i]));
		else
			memset(next[i], 0, sizeof(next[i]));
		ids[i] = id;
	}
	memset(w->win_id, 0, sizeof(w->win_id));
	memcpy(w->win_id, ids, m->n_nodes * sizeof(ids[0]));
	w->win_spare = w->win;
	w->win = next;
}

/*
 * Pick up what main published: a new map goes into the engine (which may
 * resend or commit and answer right away, so w->dmap is switched first),
 * new fault settings into the injector. Compared by content, not pointer,
 * so a freed and reused settings address cannot hide a change.
 */
static void take_published(struct cat_worker *w)
{
	const struct cat_dp *dp = w->dp;
	struct cat_dp_map *dm = rcu_dereference(dp->map);
	struct cat_faults_cfg *fc = rcu_dereference(dp->faults);

	if (unlikely(dm != w->dmap && dm != NULL)) {
		if (dp->link_auth) {
			win_remap(w, dm->map);
			w->prev_keys_until = w->now + CAT_LINKAUTH_PREV_NS;
		}
		w->dmap = dm;
		cat_chain_set_map(w->chain, dm->map, w->now);
		/* Peers renew our read leases only with PINGs at the new
		 * epoch, and we theirs: tell them now, not a PING period
		 * from now. */
		w->next_ping = w->now;
		__atomic_store_n(&w->dmap_seen, dm, __ATOMIC_RELEASE);
		w->st.map_switches++;
	}
	if (unlikely(!w->faults.seeded ||
		     memcmp(fc, &w->faults.cfg, sizeof(*fc)) != 0))
		cat_faults_configure(&w->faults, fc, w->idx);
}

/*
 * idle = interrupt: arm this queue's rx interrupt in the thread's epoll
 * set (rte_eth_dev_rx_intr_ctl_q must run on the thread that waits).
 * 1 if armed; 0 with w->idle_note saying why not (the worker then backs
 * off, as idle = backoff).
 *
 * net_tap is waited on differently. Its interrupt descriptor is the
 * queue's own tap fd, and DPDK registers it edge-triggered; but net_tap's
 * rx reads the fd only once its SIGIO handler (run on whichever thread the
 * kernel picks) has counted a signal. A worker the edge woke can poll
 * before that, find nothing, block again, and the packet then waits for
 * the next one or the timeout (the idle_late_rx counter: 9% of waits on
 * a chain of three here). Level-triggered on the same fd, epoll returns
 * while the packet is still queued, so the worker polls until net_tap
 * hands it over, and blocks only on an empty queue. (For an eventfd, as
 * NIC PMDs use, level-triggered would never block: DPDK's edge-triggered
 * set reads the counter, so it stays the way for them.)
 */
static int intr_setup(struct cat_worker *w)
{
	struct rte_eth_dev_info info;
	int rc;

	w->intr_lt_epfd = -1;
	if (rte_eth_dev_info_get(w->dp->port_id, &info) == 0 &&
	    info.driver_name != NULL && strcmp(info.driver_name, "net_tap") == 0) {
		struct epoll_event ev = { .events = EPOLLIN };
		int fd = rte_eth_dev_rx_intr_ctl_q_get_fd(w->dp->port_id, w->idx);
		int ep = fd >= 0 ? epoll_create1(EPOLL_CLOEXEC) : -1;

		if (ep >= 0 && epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == 0) {
			w->intr_lt_epfd = ep;
			return 1;
		}
		rc = fd < 0 ? fd : -errno;
		if (ep >= 0)
			close(ep);
	} else {
		rc = rte_eth_dev_rx_intr_ctl_q(w->dp->port_id, w->idx,
					       RTE_EPOLL_PER_THREAD,
					       RTE_INTR_EVENT_ADD, NULL);
		if (rc == 0)
			return 1;
	}
	snprintf(w->idle_note, sizeof(w->idle_note),
		 "no rx interrupt on this port (%s): backoff instead", strerror(-rc));
	return 0;
}

/*
 * Arm the queue's rx interrupt. The caller then polls once more before it
 * blocks (the l3fwd-power pattern, race closed: a packet that came in
 * while arming is seen by that poll). 0, or -1 if it cannot be armed (the
 * caller backs off this time).
 */
static int intr_arm(struct cat_worker *w)
{
	/* Some PMDs (net_tap) wait on a level-triggered queue descriptor
	 * and have no enable/disable: -ENOTSUP there means nothing to arm. */
	int rc = rte_eth_dev_rx_intr_enable(w->dp->port_id, w->idx);

	if (rc != 0 && rc != -ENOTSUP) {
		if (w->st.idle_arm_failed++ == 0)
			snprintf(w->idle_note, sizeof(w->idle_note),
				 "rx interrupt could not be armed (%s): backoff instead",
				 strerror(-rc));
		return -1;
	}
	w->intr_armed = 1;
	return 0;
}

static void intr_disarm(struct cat_worker *w)
{
	rte_eth_dev_rx_intr_disable(w->dp->port_id, w->idx);
	w->intr_armed = 0;
}

/* Armed and the last poll found nothing: block RCU-offline until a packet
 * arrives or max_ms pass, then disarm. */
static void intr_block(struct cat_worker *w, uint64_t max_ms)
{
	struct rte_epoll_event ev;
	int rc;

	rcu_thread_offline();
	if (w->intr_lt_epfd >= 0) {
		struct epoll_event lev;

		rc = epoll_wait(w->intr_lt_epfd, &lev, 1, (int)max_ms);
		rc = rc < 0 ? 0 : rc; /* EINTR (net_tap's own SIGIO): poll */
	} else {
		rc = rte_epoll_wait(RTE_EPOLL_PER_THREAD, &ev, 1, (int)max_ms);
	}
	rcu_thread_online();
	w->st.idle_waits++;
	w->st.idle_wakeups_rx += rc > 0;
	w->idle_timed_out = rc == 0;
	intr_disarm(w);
}

int cat_worker_main(void *arg)
{
	struct cat_worker *w = arg;
	const struct cat_dp *dp = w->dp;
	struct rte_mbuf *pkts[CAT_WORKER_BURST_MAX];
	const struct cat_chain_stats *cs = cat_chain_stats(w->chain);
	unsigned int empty = 0, sleep_us = IDLE_SLEEP_MIN_US;
	uint64_t tsc_last;
	int was_busy = 0;
	uint64_t mult = (uint64_t)(((unsigned __int128)1000000000u << 32) /
				   dp->tsc_hz);

	rcu_register_thread();
	/* A backoff sleep asks for 10 us; Linux's default timer slack of
	 * 50 us would stretch it to about 60, once per hop of a chain. 1 ns
	 * is the least the kernel takes (0 means "the default"). */
	(void)prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
	__atomic_store_n(&w->timer_slack_ns,
			 (uint64_t)prctl(PR_GET_TIMERSLACK, 0UL, 0UL, 0UL, 0UL),
			 __ATOMIC_RELAXED);
	w->intr_lt_epfd = -1;
	w->idle_mode = dp->idle_interrupt ? CAT_IDLE_INTERRUPT :
		       dp->idle_backoff ? CAT_IDLE_BACKOFF : CAT_IDLE_BUSY;
	if (dp->idle_interrupt && !intr_setup(w))
		w->idle_mode = CAT_IDLE_BACKOFF;
	__atomic_store_n(&w->idle_known, 1, __ATOMIC_RELEASE);
	w->now = tsc_ns(mult);
	take_published(w);
	tsc_last = rte_rdtsc();
	while (!__atomic_load_n(&stop_flag, __ATOMIC_RELAXED)) {
		uint64_t fwd0 = cs->fwd_sent, tail0 = cs->tail_replies;
		uint64_t tsc = rte_rdtsc();
		uint16_t n;
		unsigned int work;
		uint64_t next_due, us;

		/* The last iteration, sleep or wait included, by its result. */
		if (was_busy)
			__atomic_store_n(&w->busy_tsc, w->busy_tsc + (tsc - tsc_last),
					 __ATOMIC_RELAXED);
		else
			__atomic_store_n(&w->idle_tsc, w->idle_tsc + (tsc - tsc_last),
					 __ATOMIC_RELAXED);
		tsc_last = tsc;
		w->now = (uint64_t)(((unsigned __int128)tsc * mult) >> 32);
		take_published(w);
		if (unlikely(w->logring != NULL) && !log_room(w)) {
			n = 0;	/* the writer catches up; packets wait */
			w->st.log_backpressure++;
		} else {
			n = rte_eth_rx_burst(dp->port_id, w->idx, pkts, dp->burst);
		}
		if (unlikely(w->idle_timed_out)) {
			/* A wait that ran out with a packet already queued
			 * is an interrupt that never came. */
			w->st.idle_late_rx += n > 0;
			w->idle_timed_out = 0;
		}
		work = n;
		/* The iteration's writes hand what they retire to call_rcu
		 * in batches, not one call per write. */
		cat_store_burst_begin(dp->store);
		if (n)
			handle_burst(w, pkts, n);
		if (dp->n_workers > 1)
			work += handover_drain(w);
		if (w->idx == 0 && w->dmap != NULL && w->now >= w->next_ping)
			ping_peers(w);
		/* Before the engine's timers: a dump that must stop lets go of
		 * the slot's snapshot cursor before a state transfer takes it. */
		cat_dump_worker_poll(w);
		cat_chain_on_timer(w->chain, w->now);
		cat_chain_flush(w->chain, w->now);
		flush_out(w);
		work += faults_release(w, w->now);
		/* Timed up to the hand-off to the port, not past it: a tx
		 * burst may kick the peer (memif's eventfd, af_packet's
		 * sendto), and the wake-up it causes can preempt us on a
		 * shared core; that is a wake-up cost, not the protocol's.
		 * Per FWD sent first (not retransmitted) and per committed
		 * write answered: the protocol's own cost per hop. */
		if (cs->fwd_sent != fwd0 || cs->tail_replies != tail0) {
			uint64_t ns = tsc_ns(mult) - w->now;

			cat_hist_record_n(w->hop_fwd, ns, cs->fwd_sent - fwd0);
			cat_hist_record_n(w->hop_reply, ns,
					  cs->tail_replies - tail0);
		}
		if (unlikely(w->park_n))
			unpark(w);
		tx_flush(w);
		cat_store_burst_end(dp->store);
		/* Store items and map read in this iteration are no longer used,
		 * and no rx/tx burst is in progress: a memif region the PMD
		 * unmaps waits for this (munmap in dataplane/port.c). */
		rcu_quiescent_state();

		was_busy = work != 0;
		if (work) {
			if (unlikely(w->intr_armed))
				intr_disarm(w);
			empty = 0;
			sleep_us = IDLE_SLEEP_MIN_US;
			continue;
		}
		if (!dp->idle_backoff || ++empty < IDLE_EMPTY_POLLS)
			continue;
		/* A delayed packet must not wait for our sleep. */
		us = w->idle_mode == CAT_IDLE_INTERRUPT ? IDLE_WAIT_MAX_MS * 1000 :
		     sleep_us;
		next_due = cat_faults_next_due(&w->faults);
		if (next_due != UINT64_MAX) {
			uint64_t left = next_due > w->now ? next_due - w->now : 0;

			us = RTE_MIN(us, left / 1000);
			if (us == 0)
				continue;
		}
		if (unlikely(w->park_n || (w->logring != NULL && !log_room(w)))) {
			/* The log writer has no interrupt either: replies
			 * wait for its sync, rx for its room. Nap. */
			us = IDLE_SLEEP_MIN_US;
		} else if (w->idle_mode == CAT_IDLE_INTERRUPT) {
			/* A hand-over ring has no interrupt: with other
			 * workers, wake at least every millisecond. */
			if (us < 1000)
				continue; /* a delayed packet is due first */
			if (w->intr_armed) {
				intr_block(w, us / 1000);
				empty = 0;
				continue;
			}
			if (intr_arm(w) == 0)
				continue; /* poll once more, then block */
			us = sleep_us;
		}
		/* Offline while asleep, so grace periods (frees, table
		 * resizes, map retirement) do not wait for us. */
		rcu_thread_offline();
		rte_delay_us_sleep((unsigned int)us);
		rcu_thread_online();
		w->st.idle_sleeps++;
		sleep_us = RTE_MIN(sleep_us * 2, IDLE_SLEEP_MAX_US);
	}
	/* Whatever the injector still holds leaves now; replies still
	 * parked wait for a sync that may not come (the writer stops after
	 * the workers): they are dropped, never sent unsynced. */
	w->now = UINT64_MAX;
	faults_release(w, UINT64_MAX);
	tx_flush(w);
	while (w->park_n) {
		rte_pktmbuf_free(w->park_m[w->park_head]);
		w->park_head = (w->park_head + 1) % CAT_WORKER_PARK_MAX;
		w->park_n--;
	}
	if (w->intr_lt_epfd >= 0)
		close(w->intr_lt_epfd);
	rcu_unregister_thread();
	return 0;
}
