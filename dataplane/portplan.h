/*
 * catena-node port plan: the decisions made from what a port can do, as
 * pure functions so that they are unit tested without a NIC: how requests
 * reach the worker that owns their slot (steering), and whether the port,
 * its memory and the lcores that use it share a NUMA socket.
 * No DPDK header, no I/O, never prints: port.c and main.c gather the facts,
 * call these, and log what they return.
 */
#ifndef CAT_PORTPLAN_H
#define CAT_PORTPLAN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* How requests reach the worker that owns their slot, best first. */
enum cat_steer_mode {
	CAT_STEER_SINGLE = 0, /* one worker, one queue: nothing to steer */
	CAT_STEER_FLOW,       /* rte_flow rule per worker: UDP dst port
			       * udp_port + 1 + w goes to queue w */
	CAT_STEER_RSS,        /* the NIC hashes flows across the queues;
			       * writes reach their owner over the rings */
	CAT_STEER_SOFTWARE,   /* no NIC help: requests land where the device
			       * puts them, writes go over the rings */
};

/* [node] steering: what the operator asked for. */
enum cat_steer_want {
	CAT_STEER_WANT_AUTO = 0, /* the best the port offers */
	CAT_STEER_WANT_FLOW,     /* flow rules or refuse to start */
	CAT_STEER_WANT_RSS,      /* RSS (no flow rules) or refuse to start */
	CAT_STEER_WANT_SOFTWARE, /* neither flow rules nor RSS */
};

/* What port.c found out about the port. */
struct cat_steer_caps {
	const char *driver;     /* ethdev driver name, for the reason text */
	uint16_t n_workers;     /* = rx queues in use */
	uint16_t udp_port;      /* [node] udp_port: worker ports follow it */
	uint64_t rss_hf;        /* IPv4/UDP hash types the device can RSS on
				 * (flow_type_rss_offloads & (IP | UDP)); 0 none */
	int flow_probe;         /* 0: every per-worker rule validated
				 * (rte_flow_validate); < 0: the negative errno
				 * of the first refusal; 1: not probed */
	const char *flow_why;   /* the PMD's message for a refusal, or NULL */
};

/** "single", "flow", "rss", "software". */
const char *cat_steer_mode_name(enum cat_steer_mode m);

/** Parse "auto", "flow", "rss", "software". 0 or -EINVAL. */
int cat_steer_want_parse(const char *s, enum cat_steer_want *out);

/** "auto", "flow", "rss", "software". */
const char *cat_steer_want_name(enum cat_steer_want w);

/**
 * Choose the steering mode: flow rules where every per-worker rule
 * validated, RSS where the device hashes IPv4/UDP, software hand-over
 * otherwise; one worker needs none. A forced mode (want != AUTO) that the
 * port cannot give is refused. Writes one sentence saying what was chosen
 * and why (including what was refused) into why[0..whylen).
 * Returns 0 with *mode set, or -ENOTSUP (forced mode impossible; why says
 * what is missing). Pure: any thread.
 */
int cat_steer_decide(const struct cat_steer_caps *c, enum cat_steer_want want,
		     enum cat_steer_mode *mode, char *why, size_t whylen);

/** SOCKET_ID_ANY as DPDK spells it: the socket is unknown (virtual devices). */
#define CAT_NUMA_ANY (-1)

/**
 * Check the NUMA placement: the port on port_socket, the main lcore (which
 * creates and first touches the slot tables and the store) on main_socket,
 * and the workers on worker_socket[0..n_workers). Unknown sockets
 * (CAT_NUMA_ANY) never count as crossing. Returns how many of them sit on
 * another socket than the port (0: all local), with one sentence naming
 * them in why when > 0. Pure: any thread.
 */
unsigned int cat_numa_check(int port_socket, int main_socket,
			    const int *worker_socket, unsigned int n_workers,
			    char *why, size_t whylen);

/**
 * The socket to allocate memory that the port and the workers use on: the
 * port's when known, else the main lcore's. Pure.
 */
int cat_numa_mem_socket(int port_socket, int main_socket);

#ifdef __cplusplus
}
#endif

#endif /* CAT_PORTPLAN_H */
