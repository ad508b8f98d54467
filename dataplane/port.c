/*
 * catena-node port setup. One queue pair per worker so that workers never
 * share a queue (ethdev queues are not thread safe). Steering is decided
 * by dataplane/portplan.c from what the port shows it can do: flow rules
 * are tried only through rte_flow_validate first, so a device without
 * rte_flow (af_packet, null, ring) costs nothing but a refusal. Main
 * thread only; may sleep while waiting for link, never prints. The one
 * exception is munmap() at the end, which catena-node defines for every
 * library in the process: see there why.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include <rte_byteorder.h>
#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_flow.h>
#include <rte_interrupts.h>

#include <urcu-qsbr.h>

#include "dataplane/port.h"

/* Worker w's flow rule: IPv4 to our address, UDP to udp_port + 1 + w,
 * into queue w. Validates only (out == NULL) or creates. */
static int flow_rule(uint16_t port_id, uint32_t ip, uint16_t dport,
		     uint16_t queue, struct rte_flow **out,
		     struct rte_flow_error *fe)
{
	struct rte_flow_attr attr = { .ingress = 1 };
	struct rte_flow_item_ipv4 ip_spec, ip_mask;
	struct rte_flow_item_udp udp_spec, udp_mask;
	struct rte_flow_action_queue q = { .index = queue };
	struct rte_flow_item pattern[4];
	struct rte_flow_action actions[2];

	memset(&ip_spec, 0, sizeof(ip_spec));
	memset(&ip_mask, 0, sizeof(ip_mask));
	memset(&udp_spec, 0, sizeof(udp_spec));
	memset(&udp_mask, 0, sizeof(udp_mask));
	memset(pattern, 0, sizeof(pattern));
	memset(actions, 0, sizeof(actions));
	ip_spec.hdr.dst_addr = rte_cpu_to_be_32(ip);
	ip_mask.hdr.dst_addr = RTE_BE32(0xffffffff);
	udp_spec.hdr.dst_port = rte_cpu_to_be_16(dport);
	udp_mask.hdr.dst_port = RTE_BE16(0xffff);
	pattern[0].type = RTE_FLOW_ITEM_TYPE_ETH;
	pattern[1].type = RTE_FLOW_ITEM_TYPE_IPV4;
	pattern[1].spec = &ip_spec;
	pattern[1].mask = &ip_mask;
	pattern[2].type = RTE_FLOW_ITEM_TYPE_UDP;
	pattern[2].spec = &udp_spec;
	pattern[2].mask = &udp_mask;
	pattern[3].type = RTE_FLOW_ITEM_TYPE_END;
	actions[0].type = RTE_FLOW_ACTION_TYPE_QUEUE;
	actions[0].conf = &q;
	actions[1].type = RTE_FLOW_ACTION_TYPE_END;

	memset(fe, 0, sizeof(*fe));
	if (out == NULL)
		return rte_flow_validate(port_id, &attr, pattern, actions, fe);
	*out = rte_flow_create(port_id, &attr, pattern, actions, fe);
	return *out != NULL ? 0 : -(rte_errno ? rte_errno : EINVAL);
}

static void flows_remove(struct cat_port *port)
{
	struct rte_flow_error fe;

	while (port->n_flows > 0)
		(void)rte_flow_destroy(port->port_id, port->flows[--port->n_flows], &fe);
}

/* Probe (validate) every worker's rule: 0, or the first refusal's errno
 * with the PMD's message in why. */
static int flow_probe(const struct cat_port *port, const struct cat_port_params *p,
		      char *why, size_t whylen)
{
	struct rte_flow_error fe;
	uint16_t q;
	int rc;

	why[0] = '\0';
	if ((uint32_t)p->udp_port + p->n_queues > 65535u || p->n_queues > CAT_PORT_FLOWS_MAX)
		return -ERANGE;
	for (q = 0; q < p->n_queues; q++) {
		rc = flow_rule(port->port_id, p->ip, (uint16_t)(p->udp_port + 1 + q),
			       q, NULL, &fe);
		if (rc != 0) {
			snprintf(why, whylen, "%s", fe.message != NULL ? fe.message : "");
			return rc < 0 ? rc : -EINVAL;
		}
	}
	return 0;
}

static int flows_create(struct cat_port *port, const struct cat_port_params *p,
			char *why, size_t whylen)
{
	struct rte_flow_error fe;
	uint16_t q;
	int rc;

	for (q = 0; q < p->n_queues; q++) {
		rc = flow_rule(port->port_id, p->ip, (uint16_t)(p->udp_port + 1 + q),
			       q, &port->flows[port->n_flows], &fe);
		if (rc < 0) {
			snprintf(why, whylen, "validated but not created for queue %u: %s",
				 q, fe.message != NULL ? fe.message : strerror(-rc));
			flows_remove(port);
			return rc;
		}
		port->n_flows++;
	}
	return 0;
}

/* The largest MTU the device takes: its max_mtu, bounded by its largest
 * frame (af_packet in DPDK 22.11 says max_mtu 65535 but frames of 1518). */
static uint32_t device_max_mtu(const struct rte_eth_dev_info *info)
{
	uint32_t overhead = RTE_ETHER_HDR_LEN + RTE_ETHER_CRC_LEN;
	uint32_t m = info->max_mtu;

	if (info->max_mtu != UINT16_MAX && info->max_rx_pktlen > info->max_mtu)
		overhead = info->max_rx_pktlen - info->max_mtu;
	if (info->max_rx_pktlen > overhead && info->max_rx_pktlen - overhead < m)
		m = info->max_rx_pktlen - overhead;
	return m;
}

/* Link up as the ethdev says and, for a netdev-backed port, as the kernel
 * says (IFF_UP and IFF_RUNNING: administratively up with carrier). */
static int link_read(struct cat_port *port, uint64_t *speed)
{
	struct rte_eth_link link;
	int up;

	memset(&link, 0, sizeof(link));
	up = rte_eth_link_get_nowait(port->port_id, &link) == 0 &&
	     link.link_status == RTE_ETH_LINK_UP;
	*speed = up && link.link_speed != RTE_ETH_SPEED_NUM_UNKNOWN ?
		 link.link_speed : 0;
	if (up && port->ifr_fd >= 0) {
		struct ifreq ifr;

		memset(&ifr, 0, sizeof(ifr));
		memcpy(ifr.ifr_name, port->ifname, sizeof(port->ifname));
		if (ioctl(port->ifr_fd, SIOCGIFFLAGS, &ifr) == 0)
			up = (ifr.ifr_flags & IFF_UP) && (ifr.ifr_flags & IFF_RUNNING);
	}
	return up;
}

/*
 * What the device is and whether it can be this node's port: enough
 * queues, the MTU within its range. Also finds the netdev behind it, whose
 * carrier is the link. Nothing to undo on failure.
 */
static int check_device(struct cat_port *port, const struct cat_port_params *p,
			struct rte_eth_dev_info *info, char *err, size_t errlen)
{
	int rc;

	if (!rte_eth_dev_is_valid_port(p->port_id)) {
		snprintf(err, errlen, "no ethdev port %u (%u ports found; pass --vdev "
			 "or a device to EAL)", p->port_id, rte_eth_dev_count_avail());
		return -ENODEV;
	}
	rc = rte_eth_dev_info_get(p->port_id, info);
	if (rc != 0) {
		snprintf(err, errlen, "port %u: cannot get device info: %s",
			 p->port_id, strerror(-rc));
		return rc;
	}
	snprintf(port->driver, sizeof(port->driver), "%s", info->driver_name);
	port->socket = rte_eth_dev_socket_id(p->port_id);
	port->max_mtu = device_max_mtu(info);
	if (info->max_rx_queues < p->n_queues || info->max_tx_queues < p->n_queues) {
		snprintf(err, errlen, "port %u (%s) has %u rx / %u tx queues but %u workers "
			 "need one each (af_packet: qpairs=%u)", p->port_id, info->driver_name,
			 info->max_rx_queues, info->max_tx_queues, p->n_queues, p->n_queues);
		return -ENOTSUP;
	}
	if (p->mtu > port->max_mtu || p->mtu < info->min_mtu) {
		snprintf(err, errlen, "port %u (%s): [node] mtu %u is outside what the "
			 "device takes (%u..%u, largest frame %u bytes); lower [node] mtu "
			 "or use a jumbo-capable port", p->port_id, info->driver_name,
			 p->mtu, info->min_mtu, port->max_mtu, info->max_rx_pktlen);
		return -EINVAL;
	}
	/* A netdev behind the port (af_packet, tap): its carrier is the link. */
	if (info->if_index != 0 && if_indextoname(info->if_index, port->ifname) != NULL)
		port->ifr_fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	return 0;
}

#define TX_CKSUM (RTE_ETH_TX_OFFLOAD_IPV4_CKSUM | RTE_ETH_TX_OFFLOAD_UDP_CKSUM)

/* rte_eth_dev_configure: queue pairs, MTU, RSS where the device has it
 * (caps->rss_hf says which hash types, for the steering decision). */
static int configure_device(const struct cat_port_params *p,
			    const struct rte_eth_dev_info *info,
			    struct cat_steer_caps *caps, char *err, size_t errlen)
{
	struct rte_eth_conf conf;
	int rc;

	memset(&conf, 0, sizeof(conf));
	/* Several rx queues: let the device spread flows if it can (it also
	 * spreads what no flow rule matches). af_packet spreads by its own
	 * socket fanout and has no RSS to configure. */
	caps->rss_hf = (RTE_ETH_RSS_IP | RTE_ETH_RSS_UDP) & info->flow_type_rss_offloads;
	if (p->n_queues > 1 && caps->rss_hf != 0 &&
	    p->steering != CAT_STEER_WANT_SOFTWARE) {
		conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
		conf.rx_adv_conf.rss_conf.rss_hf = caps->rss_hf;
	}
	conf.rxmode.mtu = p->mtu;
	/* Rx interrupts only where the device has an interrupt vector to
	 * give them (a PMD without one leaves it unset): the workers try to
	 * arm them and fall back to backoff if they cannot. */
	conf.intr_conf.rxq = p->rx_intr && info->max_rx_queues > 0 ? 1 : 0;
	/* A device that fills IPv4 and UDP checksums does (NICs, net_tap,
	 * virtio_user); elsewhere the worker computes them (memif,
	 * af_packet). Rx checksum flags are used when the device sets them. */
	if ((info->tx_offload_capa & TX_CKSUM) == TX_CKSUM)
		conf.txmode.offloads |= TX_CKSUM;
	rc = rte_eth_dev_configure(p->port_id, p->n_queues, p->n_queues, &conf);
	if (rc != 0)
		snprintf(err, errlen, "port %u (%s): configure with %u queues, mtu %u: %s",
			 p->port_id, info->driver_name, p->n_queues, p->mtu, strerror(-rc));
	return rc;
}

/* The configured device up to start: MTU, one rx/tx queue pair per
 * worker, our MAC, no promiscuous mode. */
static int setup_queues(struct cat_port *port, const struct cat_port_params *p,
			const struct rte_eth_dev_info *info, char *err, size_t errlen)
{
	uint16_t nb_rxd = p->rx_desc, nb_txd = p->tx_desc, q;
	int rc;

	rc = rte_eth_dev_adjust_nb_rx_tx_desc(p->port_id, &nb_rxd, &nb_txd);
	if (rc != 0) {
		snprintf(err, errlen, "port %u: descriptor counts: %s", p->port_id,
			 strerror(-rc));
		return rc;
	}
	/* configure took the MTU; af_packet applies it to its netdev only here. */
	rc = rte_eth_dev_set_mtu(p->port_id, (uint16_t)p->mtu);
	if (rc != 0 && rc != -ENOTSUP) {
		snprintf(err, errlen, "port %u (%s): set mtu %u: %s%s", p->port_id,
			 info->driver_name, p->mtu, strerror(-rc),
			 strcmp(info->driver_name, "net_af_packet") == 0 ?
			 " (af_packet: the vdev's framesz must hold the frame)" : "");
		return rc;
	}

	for (q = 0; q < p->n_queues; q++) {
		rc = rte_eth_rx_queue_setup(p->port_id, q, nb_rxd, (unsigned int)p->socket,
					    NULL, p->pool);
		if (rc < 0) {
			snprintf(err, errlen, "port %u: rx queue %u setup: %s", p->port_id,
				 q, strerror(-rc));
			return rc;
		}
		rc = rte_eth_tx_queue_setup(p->port_id, q, nb_txd, (unsigned int)p->socket,
					    NULL);
		if (rc < 0) {
			snprintf(err, errlen, "port %u: tx queue %u setup: %s", p->port_id,
				 q, strerror(-rc));
			return rc;
		}
	}
	rc = rte_eth_macaddr_get(p->port_id, &port->mac);
	if (rc != 0) {
		snprintf(err, errlen, "port %u: cannot read MAC: %s", p->port_id,
			 strerror(-rc));
		return rc;
	}
	/* The node answers only for its own MAC and broadcast; it never needs
	 * to see other hosts' unicast frames. Not all devices can toggle it. */
	(void)rte_eth_promiscuous_disable(p->port_id);
	return 0;
}

/* Steering on the started port: probe flow rules (validate only) where
 * they could be used, decide, and create them if flow steering won. */
static int setup_steering(struct cat_port *port, const struct cat_port_params *p,
			  struct cat_steer_caps *caps, char *err, size_t errlen)
{
	char flow_why[256];
	int rc;

	caps->driver = port->driver;
	caps->n_workers = p->n_queues;
	caps->udp_port = p->udp_port;
	caps->flow_probe = 1;
	caps->flow_why = flow_why;
	flow_why[0] = '\0';
	if (p->n_queues > 1 && (p->steering == CAT_STEER_WANT_AUTO ||
				p->steering == CAT_STEER_WANT_FLOW))
		caps->flow_probe = flow_probe(port, p, flow_why, sizeof(flow_why));
	if (p->steering == CAT_STEER_WANT_SOFTWARE)
		caps->rss_hf = 0; /* not configured: the operator wants none */
	rc = cat_steer_decide(caps, p->steering, &port->steer, port->steer_why,
			      sizeof(port->steer_why));
	if (rc == 0 && port->steer == CAT_STEER_FLOW) {
		rc = flows_create(port, p, flow_why, sizeof(flow_why));
		if (rc < 0) {
			caps->flow_probe = rc;
			rc = cat_steer_decide(caps, p->steering, &port->steer,
					      port->steer_why, sizeof(port->steer_why));
		}
	}
	if (rc < 0)
		snprintf(err, errlen, "port %u (%s): %s", p->port_id, port->driver,
			 port->steer_why);
	return rc;
}

/* Up to link_wait_ms for the link: a node serves without it, but says so. */
static void wait_link(struct cat_port *port, const struct cat_port_params *p)
{
	uint64_t speed;
	unsigned int waited;

	port->link.up = 0;
	for (waited = 0;; waited += 10) {
		if (link_read(port, &speed)) {
			port->link.up = 1;
			port->link.speed_mbps = speed;
			break;
		}
		if (waited >= p->link_wait_ms)
			break;
		rte_delay_us_sleep(10 * 1000);
	}
}

int cat_port_init(struct cat_port *port, const struct cat_port_params *p,
		  char *err, size_t errlen)
{
	struct rte_eth_dev_info info;
	struct cat_steer_caps caps;
	int rc;

	memset(port, 0, sizeof(*port));
	port->port_id = p->port_id;
	port->ifr_fd = -1;
	port->n_queues = p->n_queues;
	port->mtu = p->mtu;
	rc = check_device(port, p, &info, err, errlen);
	if (rc != 0)
		return rc;
	rc = configure_device(p, &info, &caps, err, errlen);
	if (rc != 0)
		return rc;
	port->tx_cksum_offload = (info.tx_offload_capa & TX_CKSUM) == TX_CKSUM;
	rc = setup_queues(port, p, &info, err, errlen);
	if (rc != 0)
		goto fail;
	rc = rte_eth_dev_start(p->port_id);
	if (rc < 0) {
		snprintf(err, errlen, "port %u: start: %s", p->port_id, strerror(-rc));
		goto fail;
	}
	rc = setup_steering(port, p, &caps, err, errlen);
	if (rc < 0)
		goto fail_started;
	wait_link(port, p);
	return 0;

fail_started:
	flows_remove(port);
	(void)rte_eth_dev_stop(p->port_id);
fail:
	(void)rte_eth_dev_close(p->port_id);
	if (port->ifr_fd >= 0)
		close(port->ifr_fd);
	port->ifr_fd = -1;
	return rc;
}

static void wr(uint64_t *p, uint64_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELAXED);
}

int cat_port_link_poll(struct cat_port *port, uint64_t now_ms, char *msg,
		       size_t msglen)
{
	struct cat_port_link *l = &port->link;
	uint64_t speed, since;
	int up;

	if (now_ms < port->next_poll_ms)
		return 0;
	port->next_poll_ms = now_ms + CAT_PORT_LINK_POLL_MS;
	up = link_read(port, &speed);
	if ((uint64_t)up == l->up) {
		if (up && speed != l->speed_mbps)
			wr(&l->speed_mbps, speed);
		return 0;
	}
	since = l->last_change_ms != 0 ? now_ms - l->last_change_ms : 0;
	wr(&l->last_change_ms, now_ms);
	wr(&l->speed_mbps, up ? speed : 0);
	wr(&l->up, (uint64_t)up);
	if (up) {
		wr(&l->up_events, l->up_events + 1);
		wr(&l->down_ms_total, l->down_ms_total + since);
		snprintf(msg, msglen, "port %u (%s%s%s): link up after %llu ms down "
			 "(link_up_events %llu, %llu Mbps): serving", port->port_id,
			 port->driver, port->ifname[0] ? " " : "", port->ifname,
			 (unsigned long long)since, (unsigned long long)l->up_events,
			 (unsigned long long)speed);
	} else {
		wr(&l->down_events, l->down_events + 1);
		snprintf(msg, msglen, "port %u (%s%s%s): link down (link_down_events "
			 "%llu): nothing is received or sent until it is back; the node "
			 "keeps its state and serves again when it is", port->port_id,
			 port->driver, port->ifname[0] ? " " : "", port->ifname,
			 (unsigned long long)l->down_events);
	}
	return 1;
}

void cat_port_fini(struct cat_port *port)
{
	flows_remove(port);
	(void)rte_eth_dev_stop(port->port_id);
	(void)rte_eth_dev_close(port->port_id);
	if (port->ifr_fd >= 0)
		close(port->ifr_fd);
	port->ifr_fd = -1;
}

/*
 * A memif peer that goes away must not take the node with it.
 *
 * DPDK's memif PMD (22.11, and upstream as of this writing) handles its
 * control channel on the EAL interrupt thread. When the peer disconnects
 * (a DISCONNECT message, or the socket closing because the peer exited
 * or was killed), memif_disconnect() clears the device's CONNECTED flag
 * and then unmaps the shared regions (rings and packet buffers) with
 * munmap(), without waiting for the lcores polling the queues. A worker
 * that was inside rte_eth_rx_burst() or rte_eth_tx_burst() at that moment,
 * past the PMD's CONNECTED check and copying a frame, touches unmapped
 * memory: SIGSEGV in librte_net_memif (issue 14; reproduced by
 * tests/integration/test_node_memif_stress.py within a few hundred
 * disconnects mid-traffic, with either idle policy).
 *
 * What is missing between "unpublish" (the flag) and "free" (the unmap)
 * is a grace period, and the workers already provide one: each is a QSBR
 * reader that passes a quiescent state once per loop iteration, outside
 * every burst, and is offline while it sleeps. So catena-node defines
 * munmap(): the PMD, loaded by EAL, binds its munmap calls to this one.
 * Called on the EAL interrupt thread, it first waits for a grace period
 * (synchronize_rcu): every burst that could have seen the device connected
 * has then returned, and every later one sees the flag clear (the grace
 * period orders the PMD's store before their loads) and returns without
 * touching the regions. Then it unmaps, through the next munmap in the
 * lookup order (libc's). Any other thread's munmap goes straight through:
 * workers never unmap, and the main lcore closes the port only after the
 * workers have stopped.
 *
 * Concurrency contract: the interrupt thread is not an RCU reader, holds
 * no lock the workers take, and no registered reader waits for it while
 * online, so the wait cannot deadlock; it lasts one worker loop iteration
 * (a sleeping worker is offline and not waited for). Async-signal-unsafe,
 * as the grace period is; nothing calls munmap from a signal handler.
 */
typedef int (*munmap_fn)(void *, size_t);

static munmap_fn next_munmap(void)
{
	static munmap_fn next;
	munmap_fn f = __atomic_load_n(&next, __ATOMIC_ACQUIRE);

	if (f == NULL) {
		f = (munmap_fn)dlsym(RTLD_NEXT, "munmap");
		if (f != NULL)
			__atomic_store_n(&next, f, __ATOMIC_RELEASE);
	}
	return f;
}

int munmap(void *addr, size_t len)
{
	munmap_fn f;

	if (rte_thread_is_intr())
		synchronize_rcu();
	f = next_munmap();
	if (f != NULL)
		return f(addr, len);
	return (int)syscall(SYS_munmap, addr, len);
}
