/*
 * catena-node hot path: one poll loop per worker lcore.
 * rx burst -> Ethernet -> ARP | IPv4 -> ICMP echo | UDP -> catena messages
 * -> store (reads here, writes on the slot's owner) -> replies -> tx burst.
 * Never blocks, never allocates except mempool mbufs, never makes a syscall
 * outside the idle backoff sleep, never logs. Every discarded packet or
 * message increments exactly one named counter.
 */
#include <errno.h>
#include <string.h>

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

#include "dataplane/worker.h"
#include "replication/hash.h"

/* Idle backoff: after this many empty loop iterations, sleep, doubling the
 * sleep from MIN to MAX while the queue stays empty. 1 ms caps the extra
 * latency a request meeting a sleeping worker can see. */
#define IDLE_EMPTY_POLLS   64u
#define IDLE_SLEEP_MIN_US  10u
#define IDLE_SLEEP_MAX_US  1000u

#define L2L3L4_LEN (RTE_ETHER_HDR_LEN + sizeof(struct rte_ipv4_hdr) + \
		    sizeof(struct rte_udp_hdr))
#define IPV4_UDP_LEN (sizeof(struct rte_ipv4_hdr) + sizeof(struct rte_udp_hdr))

static int stop_flag;

void cat_worker_request_stop(void)
{
	__atomic_store_n(&stop_flag, 1, __ATOMIC_RELEASE);
}

/* Where the replies to one request go, already swapped: src is us. */
struct reply_addr {
	struct rte_ether_addr eth_src, eth_dst;
	uint32_t ip_src, ip_dst;     /* network order */
	uint16_t port_src, port_dst; /* network order */
};

/* The reply packet being filled for one request packet (or one handover). */
struct reply {
	const struct reply_addr *a;
	struct rte_mbuf *m;
	uint8_t *pay;
	uint32_t len;
};

/*
 * A write received by a worker that does not own its slot, copied into an
 * mbuf of the pool and passed to the owner over the SPSC ring. It carries
 * the decoded header (key/value pointers rebased onto data[] on arrival),
 * the key's hashes (computed once, by the receiver) and the reply address.
 */
struct handover {
	struct reply_addr a;
	struct cat_msg msg;
	uint32_t slot;
	uint32_t crc;
	uint64_t hash;
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

/* Replies are sent once per loop iteration; a burst that produces more than
 * the buffer holds sends early rather than dropping. */
static inline void tx_enqueue(struct cat_worker *w, struct rte_mbuf *m)
{
	if (unlikely(w->tx_n == CAT_WORKER_TX_BUF))
		tx_flush(w);
	w->tx_buf[w->tx_n++] = m;
}

/* ---- catena replies ---------------------------------------------------- */

static void reply_finish(struct cat_worker *w, struct reply *r)
{
	struct rte_mbuf *m = r->m;
	struct rte_ether_hdr *eth;
	struct rte_ipv4_hdr *ip;
	struct rte_udp_hdr *udp;

	if (m == NULL)
		return;
	eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	ip = (struct rte_ipv4_hdr *)(eth + 1);
	udp = (struct rte_udp_hdr *)(ip + 1);

	rte_ether_addr_copy(&r->a->eth_dst, &eth->dst_addr);
	rte_ether_addr_copy(&r->a->eth_src, &eth->src_addr);
	eth->ether_type = RTE_BE16(RTE_ETHER_TYPE_IPV4);

	ip->version_ihl = RTE_IPV4_VHL_DEF;
	ip->type_of_service = 0;
	ip->total_length = rte_cpu_to_be_16((uint16_t)(IPV4_UDP_LEN + r->len));
	ip->packet_id = 0;
	ip->fragment_offset = RTE_BE16(RTE_IPV4_HDR_DF_FLAG);
	ip->time_to_live = 64;
	ip->next_proto_id = IPPROTO_UDP;
	ip->src_addr = r->a->ip_src;
	ip->dst_addr = r->a->ip_dst;
	ip->hdr_checksum = 0;
	ip->hdr_checksum = rte_ipv4_cksum(ip);

	udp->src_port = r->a->port_src;
	udp->dst_port = r->a->port_dst;
	udp->dgram_len = rte_cpu_to_be_16((uint16_t)(sizeof(*udp) + r->len));
	udp->dgram_cksum = 0;
	/* Virtual devices offload nothing: the UDP checksum is computed here. */
	udp->dgram_cksum = rte_ipv4_udptcp_cksum(ip, udp);

	m->data_len = (uint16_t)(L2L3L4_LEN + r->len);
	m->pkt_len = m->data_len;
	tx_enqueue(w, m);
	w->st.reply_packets++;
	r->m = NULL;
}

/*
 * Append one reply message. The request's key is echoed when it is
 * well-formed (decoded and at most CAT_WIRE_KEY_MAX), which keeps a GET
 * reply the same size as the largest PUT, so a reply always fits the MTU.
 */
static void reply_add(struct cat_worker *w, struct reply *r,
		      const struct cat_msg *req, uint8_t flags,
		      enum cat_status status, uint64_t arg, int echo_key,
		      const void *value, uint32_t vlen)
{
	const struct cat_dp *dp = w->dp;
	uint32_t cap = dp->mtu - (uint32_t)IPV4_UDP_LEN;
	struct cat_msg out;
	uint32_t need;
	uint8_t *p;

	memset(&out, 0, sizeof(out));
	out.version = CAT_WIRE_VERSION;
	out.op = req->op;
	out.flags = flags | CAT_F_REPLY;
	out.status = (uint8_t)status;
	out.slot = req->slot;
	out.epoch = dp->epoch;
	out.client_id = req->client_id;
	out.seq = req->seq;
	out.arg = arg;
	out.key_len = (echo_key && req->key_len <= CAT_WIRE_KEY_MAX) ? req->key_len : 0;
	out.value_len = vlen;

	need = CAT_WIRE_HDR_LEN + out.key_len + vlen;
	if (unlikely(need > cap)) {
		w->st.drop_reply_too_large++;
		return;
	}
	if (r->m != NULL && r->len + need > cap)
		reply_finish(w, r);
	if (r->m == NULL) {
		r->m = rte_pktmbuf_alloc(dp->pool);
		if (unlikely(r->m == NULL)) {
			w->st.drop_reply_no_mbuf++;
			return;
		}
		r->pay = rte_pktmbuf_mtod_offset(r->m, uint8_t *, L2L3L4_LEN);
		r->len = 0;
	}
	p = r->pay + r->len;
	cat_wire_encode_hdr(p, &out);
	p += CAT_WIRE_HDR_LEN;
	if (out.key_len) {
		memcpy(p, req->key, out.key_len);
		p += out.key_len;
	}
	if (vlen)
		memcpy(p, value, vlen);
	r->len += need;
	w->st.replies++;
	w->st.replies_by_status[status]++;
}

/* A reply with no value, to a request that passed decoding. */
static inline void reply_status(struct cat_worker *w, struct reply *r,
				const struct cat_msg *req, enum cat_status st,
				uint64_t arg)
{
	reply_add(w, r, req, req->flags & CAT_F_KNOWN, st, arg, 1, NULL, 0);
}

/* ---- request execution ------------------------------------------------- */

static enum cat_status status_of(struct cat_worker *w, int rc)
{
	switch (rc) {
	case 0:
		return CAT_ST_OK;
	case -ENOENT:
		return CAT_ST_NOT_FOUND;
	case -ECANCELED:
		return CAT_ST_CAS_FAILED;
	case -EDOM:
		return CAT_ST_NOT_A_NUMBER;
	case -ERANGE:
		return CAT_ST_OVERFLOW;
	case -ENOSPC:
	case -ENOMEM:
		return CAT_ST_NO_SPACE;
	default:
		w->st.store_errors++;
		return CAT_ST_BAD_REQUEST;
	}
}

/* Decimal text of v into buf (>= 21 bytes); returns its length. */
static uint32_t fmt_i64(char *buf, int64_t v)
{
	char tmp[24];
	uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
	uint32_t n = 0, len = 0;

	do {
		tmp[n++] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		buf[len++] = '-';
	while (n)
		buf[len++] = tmp[--n];
	return len;
}

/* Run a write on the slot's owner (the calling worker) and answer it. */
static void execute_write(struct cat_worker *w, struct reply *r,
			  const struct cat_msg *msg, const struct cat_key *k)
{
	struct cat_store *s = w->dp->store;
	uint64_t version = 0;
	char num[24];
	uint32_t vlen = 0;
	int64_t result;
	int rc;

	switch (msg->op) {
	case CAT_OP_PUT:
		rc = cat_store_put(s, k, msg->value, msg->value_len, &version);
		break;
	case CAT_OP_DEL:
		rc = cat_store_del(s, k, &version);
		break;
	case CAT_OP_CAS:
		if (msg->flags & CAT_F_CAS_VALUE) {
			uint64_t e = msg->arg;

			if (unlikely(e > msg->value_len)) {
				reply_status(w, r, msg, CAT_ST_BAD_REQUEST, 0);
				return;
			}
			rc = cat_store_cas_value(s, k, msg->value, (uint32_t)e,
						 msg->value + e,
						 msg->value_len - (uint32_t)e, &version);
		} else {
			rc = cat_store_cas(s, k, msg->arg, msg->value,
					   msg->value_len, &version);
		}
		break;
	case CAT_OP_INCR:
		rc = cat_store_incr(s, k, (int64_t)msg->arg, &result, &version);
		if (rc == 0) {
			vlen = fmt_i64(num, result);
			reply_add(w, r, msg, msg->flags & CAT_F_KNOWN, CAT_ST_OK,
				  version, 1, num, vlen);
			return;
		}
		break;
	default:
		reply_status(w, r, msg, CAT_ST_UNKNOWN_OP, 0);
		return;
	}
	/* NOT_FOUND carries 0; CAS_FAILED the current version. */
	reply_status(w, r, msg, status_of(w, rc), rc == -ENOENT ? 0 : version);
}

/* Pass a write to the worker owning its slot. On any failure the client
 * gets RETRY: the write did not happen and may be sent again. */
static void handover_send(struct cat_worker *w, struct reply *r,
			  const struct cat_msg *msg, const struct cat_key *k,
			  uint32_t owner)
{
	const struct cat_dp *dp = w->dp;
	uint32_t need = (uint32_t)sizeof(struct handover) + msg->key_len +
			msg->value_len;
	struct handover *h;
	struct rte_mbuf *m;

	m = rte_pktmbuf_alloc(dp->pool);
	if (unlikely(m == NULL)) {
		w->st.handover_no_mbuf++;
		reply_status(w, r, msg, CAT_ST_RETRY, 0);
		return;
	}
	if (unlikely(need > rte_pktmbuf_tailroom(m))) {
		rte_pktmbuf_free(m);
		w->st.drop_handover_too_large++;
		reply_status(w, r, msg, CAT_ST_TOO_LARGE, 0);
		return;
	}
	h = rte_pktmbuf_mtod(m, struct handover *);
	h->a = *r->a;
	h->msg = *msg;
	h->slot = k->slot;
	h->crc = k->crc;
	h->hash = k->hash;
	memcpy(h->data, msg->key, msg->key_len);
	if (msg->value_len)
		memcpy(h->data + msg->key_len, msg->value, msg->value_len);

	if (unlikely(rte_ring_sp_enqueue(dp->ring[w->idx][owner], m) != 0)) {
		rte_pktmbuf_free(m);
		w->st.handover_ring_full++;
		reply_status(w, r, msg, CAT_ST_RETRY, 0);
		return;
	}
	w->st.handover_sent++;
}

/* Run the writes other workers received for our slots. Returns how many. */
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
			struct reply r = { .a = &h->a };
			struct cat_key k;

			h->msg.key = h->data;
			h->msg.value = h->data + h->msg.key_len;
			k.ptr = h->data;
			k.len = h->msg.key_len;
			k.slot = h->slot;
			k.crc = h->crc;
			k.hash = h->hash;
			execute_write(w, &r, &h->msg, &k);
			/* The reply address lives in m: send before freeing it. */
			reply_finish(w, &r);
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
	case CAT_OP_GET:  st->requests_get++;  break;
	case CAT_OP_PUT:  st->requests_put++;  break;
	case CAT_OP_DEL:  st->requests_del++;  break;
	case CAT_OP_CAS:  st->requests_cas++;  break;
	case CAT_OP_INCR: st->requests_incr++; break;
	case CAT_OP_PING: st->requests_ping++; break;
	default:          st->requests_other++; break;
	}
}

/* One decoded request message. */
static void handle_msg(struct cat_worker *w, struct reply *r,
		       const struct cat_msg *msg)
{
	const struct cat_dp *dp = w->dp;
	const struct cat_item *it;
	enum cat_status st;
	struct cat_key k;
	uint32_t owner;

	w->st.requests++;
	count_op(&w->st, msg->op);

	st = cat_wire_check_request(msg, cat_wire_value_max(dp->mtu, msg->key_len));
	if (st != CAT_ST_OK) {
		reply_status(w, r, msg, st, 0);
		return;
	}
	if (msg->op == CAT_OP_PING) {
		reply_status(w, r, msg, CAT_ST_OK, dp->slot_count);
		return;
	}

	cat_store_key(dp->store, &k, msg->key, msg->key_len);
	if (msg->slot != k.slot) {
		reply_status(w, r, msg, CAT_ST_WRONG_SLOT, dp->slot_count);
		return;
	}

	switch (msg->op) {
	case CAT_OP_GET:
		/* Reads run here whatever the owner: the item stays valid until
		 * this worker's next quiescent state, after the copy below. */
		if (cat_store_get(dp->store, &k, &it) == 0)
			reply_add(w, r, msg, msg->flags & CAT_F_KNOWN, CAT_ST_OK,
				  it->version, 1, cat_item_value(it), it->value_len);
		else
			reply_status(w, r, msg, CAT_ST_NOT_FOUND, 0);
		return;
	case CAT_OP_PUT:
	case CAT_OP_DEL:
	case CAT_OP_CAS:
	case CAT_OP_INCR:
		owner = cat_worker_slot_owner(k.slot, dp->n_workers);
		if (owner == w->idx)
			execute_write(w, r, msg, &k);
		else
			handover_send(w, r, msg, &k, owner);
		return;
	default:
		reply_status(w, r, msg, CAT_ST_UNKNOWN_OP, 0);
		return;
	}
}

/* The UDP payload of a packet to our catena port: messages back to back. */
static void handle_catena(struct cat_worker *w, const struct rte_ether_hdr *eth,
			  const struct rte_ipv4_hdr *ip,
			  const struct rte_udp_hdr *udp,
			  const uint8_t *p, size_t plen)
{
	struct reply_addr a;
	struct reply r = { .a = &a };
	size_t off = 0;

	rte_ether_addr_copy(&w->dp->mac, &a.eth_src);
	rte_ether_addr_copy(&eth->src_addr, &a.eth_dst);
	a.ip_src = ip->dst_addr;
	a.ip_dst = ip->src_addr;
	a.port_src = udp->dst_port;
	a.port_dst = udp->src_port;

	if (plen == 0)
		w->st.drop_short++;
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
				if (e == CAT_WIRE_ERR_VERSION)
					w->st.msg_bad_version++;
				else if (e == CAT_WIRE_ERR_TRUNCATED)
					w->st.msg_truncated++;
				else
					w->st.msg_reserved++;
				reply_add(w, &r, &msg, 0,
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
		handle_msg(w, &r, &msg);
	}
	reply_finish(w, &r);
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

static int handle_ipv4(struct cat_worker *w, struct rte_mbuf *m,
		       struct rte_ether_hdr *eth, uint32_t len)
{
	struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(eth + 1);
	const struct rte_udp_hdr *udp;
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

	udp = (const struct rte_udp_hdr *)((uint8_t *)ip + ihl);
	if (unlikely(l4len < sizeof(*udp))) {
		w->st.drop_udp_bad_length++;
		return 0;
	}
	ulen = rte_be_to_cpu_16(udp->dgram_len);
	if (unlikely(ulen < sizeof(*udp) || ulen > l4len)) {
		w->st.drop_udp_bad_length++;
		return 0;
	}
	if (udp->dst_port != w->dp->udp_port_be) {
		w->st.drop_udp_port++;
		return 0;
	}
	if (unlikely(udp->src_port == 0)) {
		w->st.drop_udp_src_port_zero++;
		return 0;
	}
	/* af_packet reports UNKNOWN: the kernel may not have filled in the
	 * checksum of a packet that never left the host (veth), so only a
	 * device verdict of BAD drops. */
	if (unlikely((m->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK) ==
		     RTE_MBUF_F_RX_L4_CKSUM_BAD)) {
		w->st.drop_l4_cksum_bad++;
		return 0;
	}
	handle_catena(w, eth, ip, udp, (const uint8_t *)(udp + 1),
		      ulen - sizeof(*udp));
	return 0;
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
	if (!rte_is_same_ether_addr(&eth->dst_addr, &w->dp->mac) &&
	    !rte_is_broadcast_ether_addr(&eth->dst_addr)) {
		w->st.drop_not_our_mac++;
		return 0;
	}
	if (likely(eth->ether_type == RTE_BE16(RTE_ETHER_TYPE_IPV4)))
		return handle_ipv4(w, m, eth, len);
	if (eth->ether_type == RTE_BE16(RTE_ETHER_TYPE_ARP))
		return handle_arp(w, m, eth, len);
	w->st.drop_not_ipv4++;
	return 0;
}

static void handle_burst(struct cat_worker *w, struct rte_mbuf **pkts,
			 uint16_t n)
{
	struct rte_mbuf *done[CAT_WORKER_BURST_MAX];
	uint16_t i, n_done = 0;

	for (i = 0; i < n; i++) {
		if (i + 1 < n)
			rte_prefetch0(rte_pktmbuf_mtod(pkts[i + 1], void *));
		if (!handle_pkt(w, pkts[i]))
			done[n_done++] = pkts[i];
	}
	/* Replies were copied out (or the mbuf reused for ARP/ICMP): the
	 * rest go back to the pool in one call. */
	rte_pktmbuf_free_bulk(done, n_done);
}

/* ---- loop -------------------------------------------------------------- */

int cat_worker_main(void *arg)
{
	struct cat_worker *w = arg;
	const struct cat_dp *dp = w->dp;
	struct rte_mbuf *pkts[CAT_WORKER_BURST_MAX];
	unsigned int empty = 0, sleep_us = IDLE_SLEEP_MIN_US;

	rcu_register_thread();
	while (!__atomic_load_n(&stop_flag, __ATOMIC_RELAXED)) {
		uint16_t n = rte_eth_rx_burst(dp->port_id, w->idx, pkts, dp->burst);
		unsigned int work = n;

		if (n)
			handle_burst(w, pkts, n);
		if (dp->n_workers > 1)
			work += handover_drain(w);
		tx_flush(w);
		/* Store items read in this iteration are no longer used. */
		rcu_quiescent_state();

		if (work) {
			empty = 0;
			sleep_us = IDLE_SLEEP_MIN_US;
			continue;
		}
		if (!dp->idle_backoff || ++empty < IDLE_EMPTY_POLLS)
			continue;
		/* Offline while asleep, so grace periods (frees, table
		 * resizes) do not wait for us. */
		rcu_thread_offline();
		rte_delay_us_sleep(sleep_us);
		rcu_thread_online();
		w->st.idle_sleeps++;
		sleep_us = RTE_MIN(sleep_us * 2, IDLE_SLEEP_MAX_US);
	}
	tx_flush(w);
	rcu_unregister_thread();
	return 0;
}
