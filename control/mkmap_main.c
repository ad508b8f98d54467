/*
 * catena-mkmap: writes a cluster's first map (docs/DEPLOY.md, step 1) from a
 * node list and a replication factor, for catena-control's initial_map. It
 * needs no daemon and writes nothing but the map: a separate binary, not a
 * catenactl command, because every catenactl command is a request to a
 * running catena-control (control/mgmt_cmds.def) and this one runs before
 * there is one. With --learn it asks the network for the MACs not given (an
 * ICMP echo to each such node, then the kernel's neighbour table).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/ip_icmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "control/mkmap.h"

#define EX_USAGE_ 64
#define EX_DATAERR_ 65
#define EX_UNAVAILABLE_ 69
#define EX_IOERR_ 74

static void usage(FILE *f)
{
	fprintf(f,
"usage: catena-mkmap --rf N [options] NODE...\n"
"       catena-mkmap --rf N [options] --nodes FILE\n"
"Writes the first cluster map (docs/CLUSTER_MAP.md) for catena-control's\n"
"initial_map: one chain per node, chain i starting at the i-th node and\n"
"taking the next N-1 round the list, every slot assigned round robin.\n"
"  NODE             ID,IP[:PORT][,MAC]  e.g. 1,10.99.0.1  2,10.99.0.2:7471,02:ca:7e:00:00:02\n"
"  -n, --nodes FILE one node a line, 'ID IP[:PORT] [MAC]' ('-' = stdin; # comments)\n"
"  -r, --rf N       replication factor: nodes per chain, 1..8, at most the nodes given\n"
"  -s, --slots N    slot count, a power of two (default 1024)\n"
"  -e, --epoch N    the map's epoch (default 1)\n"
"      --craq       any replica answers reads (craq on)\n"
"  -l, --learn      learn each MAC not given: ping the node, read the kernel's\n"
"                   neighbour table; fails naming every node it could not learn\n"
"      --learn-timeout MS   how long to wait for the answers (default 2000)\n"
"  -o, --output FILE write the map there instead of standard output\n"
"  -h, --help\n"
"Every node needs a MAC, given or learned: a node sends replication to the MAC\n"
"the map gives for its peer and has no ARP of its own for peers (drop_peer_no_mac).\n"
"Exit: 0 written, 64 usage, 65 bad node list, 69 a MAC could not be learned, 74 I/O.\n");
}

static long num_arg(const char *name, const char *s, long lo, long hi)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi) {
		fprintf(stderr, "catena-mkmap: %s '%s': expected a number in %ld..%ld\n",
			name, s, lo, hi);
		exit(EX_USAGE_);
	}
	return v;
}

static char *read_all(const char *path)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
	size_t cap = 4096, len = 0, r;
	char *buf;

	if (f == NULL)
		return NULL;
	buf = malloc(cap);
	while (buf != NULL && (r = fread(buf + len, 1, cap - len - 1, f)) > 0) {
		len += r;
		if (len + 1 == cap) {
			char *nb = cap < (1u << 20) ? realloc(buf, cap * 2) : NULL;

			if (nb == NULL) {
				free(buf);
				buf = NULL;
				errno = EFBIG;
				break;
			}
			buf = nb;
			cap *= 2;
		}
	}
	if (buf != NULL)
		buf[len] = '\0';
	if (f != stdin)
		fclose(f);
	return buf;
}

/* An ICMP echo is what makes the kernel resolve the address (ARP); the
 * answer itself does not matter. A catena node answers ARP and echo itself.
 * The unprivileged ICMP socket first, a raw one (root) if that is refused,
 * else a UDP datagram to the discard port, which resolves the address too. */
static void probe(uint32_t ip)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	struct icmphdr h = { .type = ICMP_ECHO };
	int fd;

	sa.sin_addr.s_addr = htonl(ip);
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, IPPROTO_ICMP);
	if (fd < 0) {
		fd = socket(AF_INET, SOCK_RAW | SOCK_NONBLOCK, IPPROTO_ICMP);
		if (fd >= 0) {
			/* A raw socket sends the checksum we give it. */
			uint32_t sum = (ICMP_ECHO << 8);

			h.un.echo.id = htons((uint16_t)getpid());
			sum += ntohs(h.un.echo.id);
			sum = (sum >> 16) + (sum & 0xffff);
			h.checksum = htons((uint16_t)~sum);
		}
	}
	if (fd >= 0) {
		if (sendto(fd, &h, sizeof(h), 0, (struct sockaddr *)&sa, sizeof(sa)) >= 0) {
			close(fd);
			return;
		}
		close(fd);
	}
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return;
	sa.sin_port = htons(9);
	(void)sendto(fd, "", 0, 0, (struct sockaddr *)&sa, sizeof(sa));
	close(fd);
}

static int mac_zero(const uint8_t *m)
{
	return (m[0] | m[1] | m[2] | m[3] | m[4] | m[5]) == 0;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Fill in every unknown MAC; report each one that stays unknown. Returns
 * the number not learned. */
static unsigned int learn(struct cat_map_node *nodes, unsigned int n,
			  long timeout_ms)
{
	uint64_t start = now_ms(), last_probe = 0;
	unsigned int missing;
	int ambiguous[CAT_MAP_NODES_MAX] = {0};

	for (;;) {
		char *arp = read_all("/proc/net/arp");
		uint64_t t = now_ms();

		missing = 0;
		for (unsigned int i = 0; i < n; i++) {
			if (!mac_zero(nodes[i].mac))
				continue;
			if (arp != NULL &&
			    cat_mkmap_arp_lookup(arp, nodes[i].ip, nodes[i].mac) == -EEXIST)
				ambiguous[i] = 1;
			if (mac_zero(nodes[i].mac))
				missing++;
		}
		free(arp);
		if (missing == 0 || t - start >= (uint64_t)timeout_ms)
			break;
		/* Again every 500 ms: the first echo may go before the link is up. */
		if (last_probe == 0 || t - last_probe >= 500) {
			for (unsigned int i = 0; i < n; i++)
				if (mac_zero(nodes[i].mac))
					probe(nodes[i].ip);
			last_probe = t;
		}
		nanosleep(&(struct timespec){ .tv_nsec = 20 * 1000000 }, NULL);
	}
	for (unsigned int i = 0; i < n; i++) {
		const uint32_t ip = nodes[i].ip;

		if (!mac_zero(nodes[i].mac))
			continue;
		fprintf(stderr, "catena-mkmap: node %u (%u.%u.%u.%u): MAC not learned: %s\n",
			nodes[i].id, ip >> 24, (ip >> 16) & 0xffu, (ip >> 8) & 0xffu,
			ip & 0xffu, ambiguous[i]
			? "two interfaces know the address with different MACs; give it as ID,IP,MAC"
			: "no ARP answer (is the node up and on a directly connected network?); give it as ID,IP,MAC");
	}
	return missing;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{"nodes", required_argument, NULL, 'n'},
		{"rf", required_argument, NULL, 'r'},
		{"slots", required_argument, NULL, 's'},
		{"epoch", required_argument, NULL, 'e'},
		{"craq", no_argument, NULL, 'C'},
		{"learn", no_argument, NULL, 'l'},
		{"learn-timeout", required_argument, NULL, 'T'},
		{"output", required_argument, NULL, 'o'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct cat_mkmap_opts o = { .epoch = 1, .slots = 1024 };
	static struct cat_map_node nodes[CAT_MAP_NODES_MAX];
	const char *list = NULL, *output = NULL;
	long timeout_ms = 2000;
	int do_learn = 0, c, rc, len;
	unsigned int n = 0, unknown = 0;
	struct cat_map *m;
	char err[256], *text;

	while ((c = getopt_long(argc, argv, "n:r:s:e:lo:h", lo, NULL)) != -1) {
		switch (c) {
		case 'n': list = optarg; break;
		case 'r': o.rf = (unsigned int)num_arg("--rf", optarg, 1, CAT_MAP_CHAIN_LEN_MAX); break;
		case 's': o.slots = (uint32_t)num_arg("--slots", optarg, 1, 65536); break;
		case 'e': o.epoch = (uint32_t)num_arg("--epoch", optarg, 1, 4294967295L); break;
		case 'C': o.craq = 1; break;
		case 'l': do_learn = 1; break;
		case 'T': timeout_ms = num_arg("--learn-timeout", optarg, 0, 600000); break;
		case 'o': output = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return EX_USAGE_;
		}
	}
	if (o.rf == 0) {
		fprintf(stderr, "catena-mkmap: --rf N is required (nodes per chain)\n");
		usage(stderr);
		return EX_USAGE_;
	}
	if ((list == NULL) == (optind == argc)) {
		fprintf(stderr, "catena-mkmap: give the nodes either as arguments or with --nodes FILE\n");
		usage(stderr);
		return EX_USAGE_;
	}
	if (list != NULL) {
		char *t = read_all(list);

		if (t == NULL) {
			fprintf(stderr, "catena-mkmap: %s: %s\n", list, strerror(errno));
			return EX_IOERR_;
		}
		rc = cat_mkmap_parse_list(t, nodes, &n, CAT_MAP_NODES_MAX, err, sizeof(err));
		free(t);
		if (rc < 0) {
			fprintf(stderr, "catena-mkmap: %s: %s\n", list, err);
			return EX_DATAERR_;
		}
	}
	for (int i = optind; i < argc; i++) {
		if (n == CAT_MAP_NODES_MAX) {
			fprintf(stderr, "catena-mkmap: more than %u nodes\n", CAT_MAP_NODES_MAX);
			return EX_DATAERR_;
		}
		if (cat_mkmap_parse_node(argv[i], &nodes[n], err, sizeof(err)) < 0) {
			fprintf(stderr, "catena-mkmap: %s\n", err);
			return EX_DATAERR_;
		}
		n++;
	}
	/* Check the list as a whole before asking the network anything. */
	rc = cat_mkmap_build(nodes, n, &o, &m, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "catena-mkmap: %s\n", rc == -ENOMEM ? strerror(ENOMEM) : err);
		return EX_DATAERR_;
	}
	cat_map_free(m);
	if (do_learn && learn(nodes, n, timeout_ms) > 0)
		return EX_UNAVAILABLE_;
	for (unsigned int i = 0; i < n; i++) {
		if (!mac_zero(nodes[i].mac))
			continue;
		fprintf(stderr, "catena-mkmap: node %u: no MAC: give it as ID,IP[:PORT],MAC or use --learn\n",
			nodes[i].id);
		unknown++;
	}
	if (unknown > 0)
		return EX_DATAERR_;
	rc = cat_mkmap_build(nodes, n, &o, &m, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "catena-mkmap: %s\n", err);
		return EX_DATAERR_;
	}
	text = malloc(CAT_MAP_TEXT_MAX + 1);
	len = text != NULL ? cat_map_format(m, text, CAT_MAP_TEXT_MAX + 1) : -ENOMEM;
	if (len < 0) {
		fprintf(stderr, "catena-mkmap: %s\n", strerror(-len));
		return EX_DATAERR_;
	}
	FILE *f = output != NULL ? fopen(output, "w") : stdout;

	if (f == NULL) {
		fprintf(stderr, "catena-mkmap: %s: %s\n", output, strerror(errno));
		return EX_IOERR_;
	}
	fprintf(f, "# catena cluster map written by catena-mkmap: %u node%s, %u chain%s of %u\n"
		   "# (chain i starts at the i-th node given), slots round robin.\n",
		n, n == 1 ? "" : "s", m->n_chains, m->n_chains == 1 ? "" : "s", o.rf);
	fwrite(text, 1, (size_t)len, f);
	if (ferror(f) || (f != stdout && fclose(f) != 0) || (f == stdout && fflush(f) != 0)) {
		fprintf(stderr, "catena-mkmap: %s: %s\n", output ? output : "stdout",
			strerror(errno));
		return EX_IOERR_;
	}
	free(text);
	cat_map_free(m);
	return 0;
}
