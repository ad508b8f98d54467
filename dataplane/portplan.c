/*
 * catena-node port plan: steering and NUMA decisions from port facts.
 * Pure and deterministic, so tests/unit/test_portplan.c covers every
 * fallback without a NIC; the reasons are written for the operator who
 * reads the start-up log and /catena/port.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "dataplane/portplan.h"

static const char *const mode_names[] = {
	[CAT_STEER_SINGLE] = "single",
	[CAT_STEER_FLOW] = "flow",
	[CAT_STEER_RSS] = "rss",
	[CAT_STEER_SOFTWARE] = "software",
};

static const char *const want_names[] = {
	[CAT_STEER_WANT_AUTO] = "auto",
	[CAT_STEER_WANT_FLOW] = "flow",
	[CAT_STEER_WANT_RSS] = "rss",
	[CAT_STEER_WANT_SOFTWARE] = "software",
};

const char *cat_steer_mode_name(enum cat_steer_mode m)
{
	return (unsigned int)m < sizeof(mode_names) / sizeof(mode_names[0]) ?
	       mode_names[m] : "?";
}

const char *cat_steer_want_name(enum cat_steer_want w)
{
	return (unsigned int)w < sizeof(want_names) / sizeof(want_names[0]) ?
	       want_names[w] : "?";
}

int cat_steer_want_parse(const char *s, enum cat_steer_want *out)
{
	for (unsigned int i = 0; i < sizeof(want_names) / sizeof(want_names[0]); i++) {
		if (strcmp(s, want_names[i]) == 0) {
			*out = (enum cat_steer_want)i;
			return 0;
		}
	}
	return -EINVAL;
}

/* Why flow rules cannot be had, as a clause: "" when they can. The PMD's
 * message is left out when it only repeats the errno's text. */
static void flow_refusal(const struct cat_steer_caps *c, char *buf, size_t len)
{
	const char *e = c->flow_probe < 0 ? strerror(-c->flow_probe) : "";
	const char *m = c->flow_why != NULL && c->flow_why[0] &&
			strcmp(c->flow_why, e) != 0 ? c->flow_why : NULL;

	buf[0] = '\0';
	if ((uint32_t)c->udp_port + c->n_workers > 65535u)
		snprintf(buf, len, "worker ports %u..%u would pass 65535",
			 c->udp_port + 1u, (uint32_t)c->udp_port + c->n_workers);
	else if (c->flow_probe == 1)
		snprintf(buf, len, "flow rules not probed");
	else if (c->flow_probe < 0)
		snprintf(buf, len, "flow rules refused (%s%s%s)", e, m ? ": " : "",
			 m ? m : "");
}

/*
 * The sentences are short enough for one telemetry string (128 bytes) in
 * the usual cases; the driver is not repeated (it is its own field and in
 * the log line's prefix).
 */
int cat_steer_decide(const struct cat_steer_caps *c, enum cat_steer_want want,
		     enum cat_steer_mode *mode, char *why, size_t whylen)
{
	char noflow[200];

	if (c->n_workers <= 1) {
		/* Any mode is trivially honoured with one queue. */
		*mode = CAT_STEER_SINGLE;
		snprintf(why, whylen, "one worker, one queue: nothing to steer");
		return 0;
	}
	flow_refusal(c, noflow, sizeof(noflow));

	switch (want) {
	case CAT_STEER_WANT_FLOW:
		if (noflow[0] != '\0') {
			snprintf(why, whylen, "[node] steering = flow but %s", noflow);
			return -ENOTSUP;
		}
		break;
	case CAT_STEER_WANT_RSS:
		if (c->rss_hf == 0) {
			snprintf(why, whylen, "[node] steering = rss but the device "
				 "has no IPv4/UDP RSS hash");
			return -ENOTSUP;
		}
		*mode = CAT_STEER_RSS;
		snprintf(why, whylen, "RSS as configured over %u queues; writes "
			 "reach their owner over the hand-over rings", c->n_workers);
		return 0;
	case CAT_STEER_WANT_SOFTWARE:
		*mode = CAT_STEER_SOFTWARE;
		snprintf(why, whylen, "software hand-over as configured ([node] "
			 "steering = software)");
		return 0;
	default:
		break;
	}

	if (noflow[0] == '\0') {
		*mode = CAT_STEER_FLOW;
		snprintf(why, whylen, "a flow rule per worker validated: UDP ports "
			 "%u..%u to queues 0..%u", c->udp_port + 1u,
			 (uint32_t)c->udp_port + c->n_workers, c->n_workers - 1u);
		return 0;
	}
	if (c->rss_hf != 0) {
		*mode = CAT_STEER_RSS;
		snprintf(why, whylen, "%s; RSS over %u queues, writes reach their "
			 "owner over the hand-over rings", noflow, c->n_workers);
		return 0;
	}
	*mode = CAT_STEER_SOFTWARE;
	snprintf(why, whylen, "%s and no IPv4/UDP RSS hash: writes reach their "
		 "owner over the hand-over rings", noflow);
	return 0;
}

unsigned int cat_numa_check(int port_socket, int main_socket,
			    const int *worker_socket, unsigned int n_workers,
			    char *why, size_t whylen)
{
	unsigned int crossing = 0, i;
	size_t used;
	int n;

	if (whylen > 0)
		why[0] = '\0';
	if (port_socket == CAT_NUMA_ANY)
		return 0;
	n = snprintf(why, whylen, "port on socket %d, but", port_socket);
	used = n > 0 ? (size_t)n : 0;
	if (main_socket != CAT_NUMA_ANY && main_socket != port_socket) {
		crossing++;
		n = snprintf(why + used, used < whylen ? whylen - used : 0,
			     " the main lcore (store and slot tables) on socket %d",
			     main_socket);
		used += n > 0 ? (size_t)n : 0;
	}
	for (i = 0; i < n_workers; i++) {
		if (worker_socket[i] == CAT_NUMA_ANY || worker_socket[i] == port_socket)
			continue;
		n = snprintf(why + used, used < whylen ? whylen - used : 0,
			     "%s worker %u on socket %d", crossing ? "," : "", i,
			     worker_socket[i]);
		used += n > 0 ? (size_t)n : 0;
		crossing++;
	}
	if (crossing == 0 && whylen > 0)
		why[0] = '\0';
	else if (used < whylen)
		snprintf(why + used, whylen - used, ": every packet they touch "
			 "crosses the socket interconnect (pick lcores on socket %d)",
			 port_socket);
	return crossing;
}

int cat_numa_mem_socket(int port_socket, int main_socket)
{
	return port_socket != CAT_NUMA_ANY ? port_socket : main_socket;
}
