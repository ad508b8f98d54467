/*
 * perf/bench_net.c: catena-bench's ports, ARP and its small learning
 * switch (see bench_net.h). The poll path runs on the bench's lcore for
 * every burst: no allocation except mbufs, no syscalls, no printing.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <rte_arp.h>
#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_ip.h>
#include <rte_udp.h>

#include "perf/bench_net.h"

int cat_bnet_init(struct cat_bnet *n, struct rte_mempool *pool, uint32_t ip_be,
		  uint16_t udp_port, uint16_t burst, unsigned link_wait_ms,
		  char *err, size_t errlen)
{
	uint16_t pid;
	unsigned waited;
	int rc;

	memset(n, 0, sizeof(*n));
	n->pool = pool;
	n->ip_be = ip_be;
	n->udp_port_be = rte_cpu_to_be_16(udp_port);
	n->burst = burst;
	RTE_ETH_FOREACH_DEV(pid) {
		struct rte_eth_conf conf;
		uint16_t rxd = 1024, txd = 1024;

		if (n->n_ports == CAT_BNET_PORTS_MAX) {
			snprintf(err, errlen, "more than %u ports", CAT_BNET_PORTS_MAX);
			return -E2BIG;
		}
		memset(&conf, 0, sizeof(conf));
		rc = rte_eth_dev_configure(pid, 1, 1, &conf);
		if (rc == 0)
			rc = rte_eth_dev_adjust_nb_rx_tx_desc(pid, &rxd, &txd);
		if (rc == 0)
			rc = rte_eth_rx_queue_setup(pid, 0, rxd,
				(unsigned)rte_eth_dev_socket_id(pid), NULL, pool);
		if (rc == 0)
			rc = rte_eth_tx_queue_setup(pid, 0, txd,
				(unsigned)rte_eth_dev_socket_id(pid), NULL);
		if (rc == 0)
			rc = rte_eth_dev_start(pid);
		if (rc < 0) {
			snprintf(err, errlen, "port %u: setup: %s", pid, strerror(-rc));
			return rc;
		}
		/* A switch port must see frames for other MACs; memif is point
		 * to point and sees everything anyway, so a refusal is fine. */
		(void)rte_eth_promiscuous_enable(pid);
		if (n->n_ports == 0) {
			rc = rte_eth_macaddr_get(pid, &n->mac);
			if (rc != 0) {
				snprintf(err, errlen, "port %u: MAC: %s", pid, strerror(-rc));
				return rc;
			}
		}
		n->port_ids[n->n_ports++] = pid;
	}
	if (n->n_ports == 0) {
		snprintf(err, errlen, "no ethdev port: give EAL a device, e.g. "
			 "--vdev net_memif0,role=client,socket=/run/catena-n1.sock,"
			 "socket-abstract=no");
		return -ENODEV;
	}
	for (waited = 0;; waited += 10) {
		uint16_t up = 0;

		for (uint16_t i = 0; i < n->n_ports; i++) {
			struct rte_eth_link l;

			memset(&l, 0, sizeof(l));
			if (rte_eth_link_get_nowait(n->port_ids[i], &l) == 0 &&
			    l.link_status == RTE_ETH_LINK_UP)
				up++;
		}
		if (up == n->n_ports)
			return 0;
		if (waited >= link_wait_ms) {
			snprintf(err, errlen, "%u of %u ports have no link after %u ms "
				 "(memif: is the node running, with role=server on the "
				 "same socket, in the same network namespace?)",
				 n->n_ports - up, n->n_ports, link_wait_ms);
			return -ENOLINK;
		}
		rte_delay_us_sleep(10 * 1000);
	}
}

void cat_bnet_fini(struct cat_bnet *n)
{
	for (uint16_t i = 0; i < n->n_ports; i++) {
		rte_pktmbuf_free_bulk(n->txq[i].m, n->txq[i].n);
		n->txq[i].n = 0;
		(void)rte_eth_dev_stop(n->port_ids[i]);
		(void)rte_eth_dev_close(n->port_ids[i]);
	}
	n->n_ports = 0;
}

int cat_bnet_port_of(const struct cat_bnet *n, const struct rte_ether_addr *mac)
{
	for (uint16_t i = 0; i < n->n_learned; i++)
		if (rte_is_same_ether_addr(&n->learned_mac[i], mac))
			return n->learned_port[i];
	return -1;
}

static void learn(struct cat_bnet *n, const struct rte_ether_addr *mac, uint16_t pi)
{
	uint16_t i;

	if (rte_is_multicast_ether_addr(mac) || rte_is_zero_ether_addr(mac))
		return;
	for (i = 0; i < n->n_learned; i++) {
		if (rte_is_same_ether_addr(&n->learned_mac[i], mac)) {
			n->learned_port[i] = pi;	/* a station moved */
			return;
		}
	}
	if (n->n_learned < CAT_BNET_LEARN_MAX) {
		n->learned_mac[n->n_learned] = *mac;
		n->learned_port[n->n_learned++] = pi;
	}
}

static void enqueue(struct cat_bnet *n, uint16_t pi, struct rte_mbuf *m)
{
	struct cat_bnet_txq *q = &n->txq[pi];

	if (q->n == CAT_BNET_TXQ) {
		rte_pktmbuf_free(m);
		n->st.drop_tx_full++;
		return;
	}
	q->m[q->n++] = m;
}

void cat_bnet_send(struct cat_bnet *n, int pi, struct rte_mbuf *m)
{
	if (pi >= 0) {
		enqueue(n, (uint16_t)pi, m);
		return;
	}
	for (uint16_t i = 1; i < n->n_ports; i++) {
		struct rte_mbuf *c = rte_pktmbuf_copy(m, n->pool, 0, UINT32_MAX);

		if (c != NULL)
			enqueue(n, i, c);
		else
			n->st.drop_tx_full++;
	}
	enqueue(n, 0, m);
}

void cat_bnet_flush(struct cat_bnet *n)
{
	for (uint16_t i = 0; i < n->n_ports; i++) {
		struct cat_bnet_txq *q = &n->txq[i];
		uint16_t sent;

		if (q->n == 0)
			continue;
		sent = rte_eth_tx_burst(n->port_ids[i], 0, q->m, q->n);
		n->st.tx_frames += sent;
		if (sent < q->n)
			memmove(q->m, q->m + sent, sizeof(q->m[0]) * (q->n - sent));
		q->n -= sent;
	}
}

void cat_bnet_close_udp(const struct cat_bnet *n, struct rte_mbuf *m,
			const struct rte_ether_addr *dst_mac, uint32_t dst_ip_be,
			uint16_t dst_port_be, uint32_t plen)
{
	struct rte_ether_hdr *eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(eth + 1);
	struct rte_udp_hdr *udp = (struct rte_udp_hdr *)(ip + 1);

	eth->dst_addr = *dst_mac;
	eth->src_addr = n->mac;
	eth->ether_type = RTE_BE16(RTE_ETHER_TYPE_IPV4);
	ip->version_ihl = RTE_IPV4_VHL_DEF;
	ip->type_of_service = 0;
	ip->total_length = rte_cpu_to_be_16((uint16_t)(28 + plen));
	ip->packet_id = 0;
	ip->fragment_offset = RTE_BE16(RTE_IPV4_HDR_DF_FLAG);
	ip->time_to_live = 64;
	ip->next_proto_id = IPPROTO_UDP;
	ip->src_addr = n->ip_be;
	ip->dst_addr = dst_ip_be;
	ip->hdr_checksum = 0;
	ip->hdr_checksum = rte_ipv4_cksum(ip);
	udp->src_port = n->udp_port_be;
	udp->dst_port = dst_port_be;
	udp->dgram_len = rte_cpu_to_be_16((uint16_t)(8 + plen));
	udp->dgram_cksum = 0;
	m->data_len = (uint16_t)(CAT_BNET_HDRS + plen);
	m->pkt_len = m->data_len;
}

int cat_bnet_arp_request(struct cat_bnet *n, uint32_t tip_be)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(n->pool);
	struct rte_ether_hdr *eth;
	struct rte_arp_hdr *arp;

	if (m == NULL)
		return -ENOMEM;
	eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	arp = (struct rte_arp_hdr *)(eth + 1);
	memset(&eth->dst_addr, 0xff, sizeof(eth->dst_addr));
	eth->src_addr = n->mac;
	eth->ether_type = RTE_BE16(RTE_ETHER_TYPE_ARP);
	arp->arp_hardware = RTE_BE16(RTE_ARP_HRD_ETHER);
	arp->arp_protocol = RTE_BE16(RTE_ETHER_TYPE_IPV4);
	arp->arp_hlen = RTE_ETHER_ADDR_LEN;
	arp->arp_plen = 4;
	arp->arp_opcode = RTE_BE16(RTE_ARP_OP_REQUEST);
	arp->arp_data.arp_sha = n->mac;
	arp->arp_data.arp_sip = n->ip_be;
	memset(&arp->arp_data.arp_tha, 0, sizeof(arp->arp_data.arp_tha));
	arp->arp_data.arp_tip = tip_be;
	m->data_len = m->pkt_len = RTE_ETHER_HDR_LEN + sizeof(*arp);
	cat_bnet_send(n, -1, m);
	cat_bnet_flush(n);
	return 0;
}

/* Returns 1 if the mbuf was reused (queued for tx), 0 if the caller frees. */
static int handle_arp(struct cat_bnet *n, uint16_t pi, struct rte_mbuf *m,
		      struct rte_ether_hdr *eth, cat_bnet_arp_fn on_arp, void *arg)
{
	struct rte_arp_hdr *arp = (struct rte_arp_hdr *)(eth + 1);

	if (rte_pktmbuf_data_len(m) < RTE_ETHER_HDR_LEN + sizeof(*arp) ||
	    arp->arp_hardware != RTE_BE16(RTE_ARP_HRD_ETHER) ||
	    arp->arp_protocol != RTE_BE16(RTE_ETHER_TYPE_IPV4)) {
		n->st.drop_bad_frame++;
		return 0;
	}
	if (arp->arp_opcode == RTE_BE16(RTE_ARP_OP_REPLY)) {
		if (on_arp)
			on_arp(arg, arp->arp_data.arp_sip, &arp->arp_data.arp_sha);
		return 0;
	}
	if (arp->arp_opcode != RTE_BE16(RTE_ARP_OP_REQUEST) ||
	    arp->arp_data.arp_tip != n->ip_be) {
		n->st.drop_other++;
		return 0;
	}
	/* The node is a real L3 endpoint: it may ask who we are. */
	arp->arp_opcode = RTE_BE16(RTE_ARP_OP_REPLY);
	arp->arp_data.arp_tha = arp->arp_data.arp_sha;
	arp->arp_data.arp_tip = arp->arp_data.arp_sip;
	arp->arp_data.arp_sha = n->mac;
	arp->arp_data.arp_sip = n->ip_be;
	eth->dst_addr = eth->src_addr;
	eth->src_addr = n->mac;
	n->st.arp_replies++;
	enqueue(n, pi, m);
	return 1;
}

static void handle_ipv4(struct cat_bnet *n, struct rte_mbuf *m,
			struct rte_ether_hdr *eth, cat_bnet_udp_fn on_udp,
			void *arg, uint64_t tsc)
{
	struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(eth + 1);
	uint32_t len = rte_pktmbuf_data_len(m), ihl, tot, ulen;
	struct rte_udp_hdr *udp;

	if (len < RTE_ETHER_HDR_LEN + sizeof(*ip)) {
		n->st.drop_bad_frame++;
		return;
	}
	ihl = (uint32_t)(ip->version_ihl & RTE_IPV4_HDR_IHL_MASK) * 4u;
	tot = rte_be_to_cpu_16(ip->total_length);
	if ((ip->version_ihl >> 4) != 4 || ihl < sizeof(*ip) || tot < ihl + 8 ||
	    RTE_ETHER_HDR_LEN + tot > len) {
		n->st.drop_bad_frame++;
		return;
	}
	if (ip->dst_addr != n->ip_be || ip->next_proto_id != IPPROTO_UDP) {
		n->st.drop_other++;
		return;
	}
	udp = (struct rte_udp_hdr *)((uint8_t *)ip + ihl);
	ulen = rte_be_to_cpu_16(udp->dgram_len);
	if (ulen < 8 || ulen > tot - ihl) {
		n->st.drop_bad_frame++;
		return;
	}
	if (udp->dst_port != n->udp_port_be) {
		n->st.drop_other++;
		return;
	}
	on_udp(arg, (const uint8_t *)(udp + 1), ulen - 8, ip->src_addr, tsc);
}

unsigned cat_bnet_poll(struct cat_bnet *n, cat_bnet_udp_fn on_udp,
		       cat_bnet_arp_fn on_arp, void *arg)
{
	struct rte_mbuf *pkts[256], *done[256];
	unsigned total = 0;

	for (uint16_t pi = 0; pi < n->n_ports; pi++) {
		uint16_t nb = rte_eth_rx_burst(n->port_ids[pi], 0, pkts, n->burst);
		uint16_t nd = 0;
		uint64_t tsc;

		if (nb == 0)
			continue;
		/* One timestamp per burst: every reply in it arrived by now. */
		tsc = rte_rdtsc();
		total += nb;
		n->st.rx_frames += nb;
		for (uint16_t i = 0; i < nb; i++) {
			struct rte_mbuf *m = pkts[i];
			struct rte_ether_hdr *eth;

			if (rte_pktmbuf_data_len(m) < RTE_ETHER_HDR_LEN || m->nb_segs != 1) {
				n->st.drop_bad_frame++;
				done[nd++] = m;
				continue;
			}
			eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
			if (n->n_ports > 1)
				learn(n, &eth->src_addr, pi);
			if (!rte_is_same_ether_addr(&eth->dst_addr, &n->mac) &&
			    !rte_is_broadcast_ether_addr(&eth->dst_addr)) {
				/* Another station's frame: switch it. */
				int to = cat_bnet_port_of(n, &eth->dst_addr);

				if (n->n_ports > 1 && to != (int)pi) {
					n->st.switched++;
					if (to >= 0)
						enqueue(n, (uint16_t)to, m);
					else
						cat_bnet_send(n, -1, m);
				} else {
					n->st.drop_not_ours++;
					done[nd++] = m;
				}
				continue;
			}
			if (rte_is_broadcast_ether_addr(&eth->dst_addr) && n->n_ports > 1) {
				/* Flood to the other ports too (ARP between nodes). */
				for (uint16_t o = 0; o < n->n_ports; o++) {
					struct rte_mbuf *c;

					if (o == pi)
						continue;
					c = rte_pktmbuf_copy(m, n->pool, 0, UINT32_MAX);
					if (c != NULL)
						enqueue(n, o, c);
				}
			}
			if (eth->ether_type == RTE_BE16(RTE_ETHER_TYPE_IPV4)) {
				handle_ipv4(n, m, eth, on_udp, arg, tsc);
			} else if (eth->ether_type == RTE_BE16(RTE_ETHER_TYPE_ARP)) {
				if (handle_arp(n, pi, m, eth, on_arp, arg))
					continue;
			} else {
				n->st.drop_other++;
			}
			done[nd++] = m;
		}
		rte_pktmbuf_free_bulk(done, nd);
	}
	return total;
}
