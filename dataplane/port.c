/*
 * catena-node port setup. One queue pair per worker so that workers never
 * share a queue (ethdev queues are not thread safe). Main thread only; may
 * sleep while waiting for link, never prints.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_ethdev.h>

#include "dataplane/port.h"

int cat_port_init(const struct cat_port_params *p, struct rte_ether_addr *mac,
		  int *link_up, char *err, size_t errlen)
{
	struct rte_eth_conf conf;
	struct rte_eth_dev_info info;
	struct rte_eth_link link;
	uint16_t nb_rxd = p->rx_desc, nb_txd = p->tx_desc, q;
	unsigned int waited;
	int rc, socket;

	if (!rte_eth_dev_is_valid_port(p->port_id)) {
		snprintf(err, errlen, "no ethdev port %u (%u ports found; pass --vdev "
			 "or a device to EAL)", p->port_id, rte_eth_dev_count_avail());
		return -ENODEV;
	}
	rc = rte_eth_dev_info_get(p->port_id, &info);
	if (rc != 0) {
		snprintf(err, errlen, "port %u: cannot get device info: %s",
			 p->port_id, strerror(-rc));
		return rc;
	}
	if (info.max_rx_queues < p->n_queues || info.max_tx_queues < p->n_queues) {
		snprintf(err, errlen, "port %u (%s) has %u rx / %u tx queues but %u workers "
			 "need one each (af_packet: qpairs=%u)", p->port_id, info.driver_name,
			 info.max_rx_queues, info.max_tx_queues, p->n_queues, p->n_queues);
		return -ENOTSUP;
	}

	memset(&conf, 0, sizeof(conf));
	/* Several rx queues: let the device spread flows if it can. af_packet
	 * spreads by its own socket fanout and has no RSS to configure. */
	if (p->n_queues > 1 && info.flow_type_rss_offloads != 0) {
		conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
		conf.rx_adv_conf.rss_conf.rss_hf =
			(RTE_ETH_RSS_IP | RTE_ETH_RSS_UDP) & info.flow_type_rss_offloads;
	}
	/* Checksums are computed in software (virtual devices have no tx
	 * offload); rx checksum flags are used when the device sets them. */
	rc = rte_eth_dev_configure(p->port_id, p->n_queues, p->n_queues, &conf);
	if (rc != 0) {
		snprintf(err, errlen, "port %u: configure with %u queues: %s",
			 p->port_id, p->n_queues, strerror(-rc));
		return rc;
	}
	rc = rte_eth_dev_adjust_nb_rx_tx_desc(p->port_id, &nb_rxd, &nb_txd);
	if (rc != 0) {
		snprintf(err, errlen, "port %u: descriptor counts: %s", p->port_id,
			 strerror(-rc));
		goto fail;
	}
	rc = rte_eth_dev_set_mtu(p->port_id, (uint16_t)p->mtu);
	if (rc != 0 && rc != -ENOTSUP) {
		snprintf(err, errlen, "port %u: set mtu %u: %s", p->port_id, p->mtu,
			 strerror(-rc));
		goto fail;
	}

	socket = rte_eth_dev_socket_id(p->port_id);
	if (socket < 0)
		socket = (int)rte_socket_id();
	for (q = 0; q < p->n_queues; q++) {
		rc = rte_eth_rx_queue_setup(p->port_id, q, nb_rxd, (unsigned int)socket,
					    NULL, p->pool);
		if (rc < 0) {
			snprintf(err, errlen, "port %u: rx queue %u setup: %s", p->port_id,
				 q, strerror(-rc));
			goto fail;
		}
		rc = rte_eth_tx_queue_setup(p->port_id, q, nb_txd, (unsigned int)socket,
					    NULL);
		if (rc < 0) {
			snprintf(err, errlen, "port %u: tx queue %u setup: %s", p->port_id,
				 q, strerror(-rc));
			goto fail;
		}
	}
	rc = rte_eth_macaddr_get(p->port_id, mac);
	if (rc != 0) {
		snprintf(err, errlen, "port %u: cannot read MAC: %s", p->port_id,
			 strerror(-rc));
		goto fail;
	}
	/* The node answers only for its own MAC and broadcast; it never needs
	 * to see other hosts' unicast frames. Not all devices can toggle it. */
	(void)rte_eth_promiscuous_disable(p->port_id);

	rc = rte_eth_dev_start(p->port_id);
	if (rc < 0) {
		snprintf(err, errlen, "port %u: start: %s", p->port_id, strerror(-rc));
		goto fail;
	}

	*link_up = 0;
	for (waited = 0;; waited += 10) {
		memset(&link, 0, sizeof(link));
		if (rte_eth_link_get_nowait(p->port_id, &link) == 0 &&
		    link.link_status == RTE_ETH_LINK_UP) {
			*link_up = 1;
			break;
		}
		if (waited >= p->link_wait_ms)
			break;
		rte_delay_us_sleep(10 * 1000);
	}
	return 0;

fail:
	(void)rte_eth_dev_close(p->port_id);
	return rc;
}

void cat_port_fini(uint16_t port_id)
{
	(void)rte_eth_dev_stop(port_id);
	(void)rte_eth_dev_close(port_id);
}
