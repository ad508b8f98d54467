/*
 * catena-bench: a DPDK load generator for latency benchmarking. It speaks
 * catena's wire protocol (docs/PROTOCOL.md) from its own IPv4 address over
 * whatever ports EAL gives it (net_memif to nodes on this machine, a NIC on
 * hardware), routes each key to its slot's head (writes) or tail (reads)
 * with a cluster map, and measures every request with the TSC.
 *
 * Open loop: Poisson arrivals at a given rate; a request's latency runs
 * from its *scheduled* send time, so a stalled server or a slow generator
 * shows as latency instead of quietly lowering the load (no coordinated
 * omission). Closed loop: N requests outstanding. One lcore; the load loop
 * never allocates (beyond mbufs), never makes a syscall and never prints,
 * except the once-a-second progress line.
 *
 *   catena-bench [EAL args] -- --ip A.B.C.D (--node A.B.C.D | --map FILE) [...]
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>

#include "dataplane/eal_dir.h"
#include "perf/bench_hist.h"
#include "perf/bench_net.h"
#include "perf/bench_report.h"
#include "perf/bench_tel.h"
#include "replication/hash.h"
#include "replication/map.h"
#include "replication/wire.h"
#include "replication/version.h"

#define EXIT_USAGE 64
#define SWEEP_MAX  32
#define RING_BITS  20            /* outstanding-request ring: 1 Mi entries */
#define RING_SIZE  (1u << RING_BITS)
#define DEST_MAX   CAT_MAP_NODES_MAX
#define PROGRESS_NS 1000000000ull
/* Requests sent more than this after their scheduled time are counted:
 * they say the generator, not the node, fell behind. */
#define LATE_NS    10000ull

static const uint8_t opx_code[CAT_BENCH_OPS] = { CAT_OP_GET, CAT_OP_PUT, CAT_OP_CAS };

struct opts {
	uint32_t ip_be;
	uint32_t node_ip_be;
	uint16_t node_port;
	int node_mac_set;
	struct rte_ether_addr node_mac;
	const char *map_path;
	uint16_t udp_port;
	int open_loop;
	double rates[SWEEP_MAX];
	unsigned n_rates;
	unsigned window;            /* closed: outstanding; open: cap */
	unsigned pct[CAT_BENCH_OPS];
	uint64_t keys;
	unsigned key_size, value_size;
	int zipf;
	double zipf_s;
	double warmup, duration;
	uint64_t timeout_ms;
	unsigned batch;
	unsigned burst;
	int preload;
	uint64_t seed;
	const char *json_path;
	const char *label;
	int quiet;
	const char *node_tel[CAT_BENCH_TEL_MAX]; /* --node-telemetry */
	unsigned n_node_tel;
};

struct dest {
	uint16_t node_id;           /* 0 in --node mode */
	uint32_t ip_be;
	uint16_t port_be;
	int mac_known;
	struct rte_ether_addr mac;
	/* The datagram being filled for this destination in this burst. */
	struct rte_mbuf *m;
	uint32_t plen;
	unsigned nmsg;
};

struct req {
	uint64_t seq;
	uint64_t t_sched;           /* TSC: scheduled (open) or sent (closed) */
	uint32_t key;
	uint8_t opx;
	uint8_t busy;
	uint8_t record;
};

static struct opts o;
static struct cat_bnet net;
static struct cat_map *map;
static struct dest dests[DEST_MAX];
static unsigned n_dests;
static uint32_t slot_count;
static uint32_t map_epoch;
static uint32_t client_id;
static uint64_t next_seq = 1, tail_seq = 1;
static struct req *ring;
static uint64_t *versions;          /* per key, for CAS; NULL without CAS */
static uint64_t outstanding;
static struct cat_rng rng;
static struct cat_zipf zipf;
static uint64_t tsc_hz;
static uint64_t ns_mult;            /* ns = tsc * ns_mult >> 32 */
static uint64_t timeout_tsc;
/* Every key's bytes and slot, made once: the load loop neither formats
 * nor hashes a key. */
static uint8_t *keytab;
static uint32_t *keyslot;
static struct cat_bench_phase *cur;
static struct cat_hist interval;    /* last second, for the progress line */
static uint64_t interval_done;
static uint8_t value_buf[CAT_WIRE_PAYLOAD_MAX_1500];
static volatile sig_atomic_t stop;
/* Control-path replies (PING) seen by the poll callback. */
static uint64_t ping_seq;
static int ping_ok;
static uint32_t ping_slots;

static void on_signal(int s)
{
	(void)s;
	stop = 1;
}

static double tsc_to_ns(uint64_t t)
{
	return (double)t * 1e9 / (double)tsc_hz;
}

/* The latency of every reply: integer, no division. */
static inline uint64_t tsc_ns(uint64_t t)
{
	return (uint64_t)(((unsigned __int128)t * ns_mult) >> 32);
}

/* ---- options ---------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
"usage: catena-bench [EAL args] -- --ip A.B.C.D (--node A.B.C.D[:PORT] | --map FILE)\n"
"                    [options]\n"
"  --ip A.B.C.D         the bench's own IPv4 address (it answers ARP for it)\n"
"  --node A.B.C.D[:P]   one node (any single-node cluster); its MAC by ARP\n"
"  --node-mac MAC       the node's MAC: skip ARP\n"
"  --map FILE           cluster map (docs/CLUSTER_MAP.md): writes to each slot's\n"
"                       head, reads to its tail (any replica with craq on)\n"
"  --udp-port N         the bench's UDP source port (default 7471)\n"
"  --rate R             open loop, Poisson arrivals at R ops/s\n"
"  --sweep R1,R2,...    open loop at each rate in turn (a throughput-latency curve)\n"
"  --window N           closed loop with N outstanding (default 8); with\n"
"                       --rate, the cap on outstanding requests (default 65536)\n"
"  --get P --put P --cas P   operation mix in percent (default 90/10/0; sum 100)\n"
"  --keys N             key count (default 100000)\n"
"  --key-size B         key bytes (default 16) --value-size B (default 32)\n"
"  --zipf S             Zipf-distributed keys with exponent S (default: uniform)\n"
"  --warmup S           seconds before measuring, per rate (default 1)\n"
"  --duration S         measured seconds per rate (default 5)\n"
"  --timeout MS         a request unanswered this long is a timeout (default 200)\n"
"  --batch K            up to K requests per datagram to one node (default 1)\n"
"  --burst N            rx burst (default 32)\n"
"  --no-preload         do not PUT every key once before measuring\n"
"  --seed N             generator seed (default 1)\n"
"  --json FILE          write the results (and histograms) as JSON\n"
"  --label TEXT         name of this run in the JSON and the table\n"
"  --quiet              no progress line\n"
"  --node-telemetry P   a node's EAL --file-prefix (or telemetry socket path),\n"
"                       repeatable: the summary then says how busy its worker\n"
"                       cores were, its requests per busy second, and which\n"
"                       side (node or bench) saturated\n"
"Example (a node on a memif in the same network namespace):\n"
"  catena-bench --no-pci --file-prefix bench --huge-unlink -l 1 \\\n"
"    --vdev net_memif0,role=client,socket=/run/n1.sock,socket-abstract=no -- \\\n"
"    --ip 10.99.0.100 --node 10.99.0.1 --rate 200000 --duration 5\n");
}

static int bad(const char *fmt, const char *arg)
{
	fprintf(stderr, "catena-bench: ");
	fprintf(stderr, fmt, arg);
	fputc('\n', stderr);
	return -EINVAL;
}

static int num_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (s == NULL || *s == '\0' || *s == '-')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v < lo || v > hi)
		return -EINVAL;
	*out = v;
	return 0;
}

static int num_double(const char *s, double lo, double hi, double *out)
{
	char *end;
	double v;

	if (s == NULL || *s == '\0')
		return -EINVAL;
	errno = 0;
	v = strtod(s, &end);
	if (errno || *end || !isfinite(v) || v < lo || v > hi)
		return -EINVAL;
	*out = v;
	return 0;
}

static int parse_ip(const char *s, uint32_t *ip_be, uint16_t *port)
{
	char buf[64], *colon;
	struct in_addr a;
	uint64_t p;

	snprintf(buf, sizeof(buf), "%s", s);
	colon = strchr(buf, ':');
	if (colon) {
		if (port == NULL || num_u64(colon + 1, 1, 65535, &p) < 0)
			return -EINVAL;
		*port = (uint16_t)p;
		*colon = '\0';
	}
	if (inet_pton(AF_INET, buf, &a) != 1 || a.s_addr == 0)
		return -EINVAL;
	*ip_be = a.s_addr;
	return 0;
}

static int parse_opts(int argc, char **argv)
{
	enum { O_IP = 256, O_NODE, O_NODE_MAC, O_MAP, O_UDP_PORT, O_RATE, O_SWEEP,
	       O_WINDOW, O_GET, O_PUT, O_CAS, O_KEYS, O_KEY_SIZE, O_VALUE_SIZE,
	       O_ZIPF, O_WARMUP, O_DURATION, O_TIMEOUT, O_BATCH, O_BURST,
	       O_NO_PRELOAD, O_SEED, O_JSON, O_LABEL, O_QUIET, O_NODE_TEL, O_HELP };
	static const struct option lo[] = {
		{"ip", required_argument, NULL, O_IP},
		{"node", required_argument, NULL, O_NODE},
		{"node-mac", required_argument, NULL, O_NODE_MAC},
		{"map", required_argument, NULL, O_MAP},
		{"udp-port", required_argument, NULL, O_UDP_PORT},
		{"rate", required_argument, NULL, O_RATE},
		{"sweep", required_argument, NULL, O_SWEEP},
		{"window", required_argument, NULL, O_WINDOW},
		{"get", required_argument, NULL, O_GET},
		{"put", required_argument, NULL, O_PUT},
		{"cas", required_argument, NULL, O_CAS},
		{"keys", required_argument, NULL, O_KEYS},
		{"key-size", required_argument, NULL, O_KEY_SIZE},
		{"value-size", required_argument, NULL, O_VALUE_SIZE},
		{"zipf", required_argument, NULL, O_ZIPF},
		{"warmup", required_argument, NULL, O_WARMUP},
		{"duration", required_argument, NULL, O_DURATION},
		{"timeout", required_argument, NULL, O_TIMEOUT},
		{"batch", required_argument, NULL, O_BATCH},
		{"burst", required_argument, NULL, O_BURST},
		{"no-preload", no_argument, NULL, O_NO_PRELOAD},
		{"seed", required_argument, NULL, O_SEED},
		{"json", required_argument, NULL, O_JSON},
		{"label", required_argument, NULL, O_LABEL},
		{"quiet", no_argument, NULL, O_QUIET},
		{"node-telemetry", required_argument, NULL, O_NODE_TEL},
		{"help", no_argument, NULL, O_HELP},
		{NULL, 0, NULL, 0},
	};
	int c, window_set = 0, mix_set = 0, have_ip = 0, have_node = 0;
	uint64_t v;

	o = (struct opts){ .udp_port = 7471, .node_port = CAT_WIRE_DEFAULT_PORT,
			   .window = 8, .pct = { 90, 10, 0 }, .keys = 100000,
			   .key_size = 16, .value_size = 32, .zipf_s = 0.99,
			   .warmup = 1, .duration = 5, .timeout_ms = 200,
			   .batch = 1, .burst = 32, .preload = 1, .seed = 1,
			   .label = "catena" };
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case O_IP:
			if (parse_ip(optarg, &o.ip_be, NULL) < 0)
				return bad("--ip: not an IPv4 address: %s", optarg);
			have_ip = 1;
			break;
		case O_NODE:
			if (parse_ip(optarg, &o.node_ip_be, &o.node_port) < 0)
				return bad("--node: not A.B.C.D[:PORT]: %s", optarg);
			have_node = 1;
			break;
		case O_NODE_TEL:
			if (o.n_node_tel == CAT_BENCH_TEL_MAX)
				return bad("--node-telemetry: at most 8 nodes (%s)", optarg);
			if (optarg[0] == '\0')
				return bad("--node-telemetry: empty file prefix%s", "");
			o.node_tel[o.n_node_tel++] = optarg;
			break;
		case O_NODE_MAC:
			if (rte_ether_unformat_addr(optarg, &o.node_mac) < 0)
				return bad("--node-mac: not a MAC address: %s", optarg);
			o.node_mac_set = 1;
			break;
		case O_MAP: o.map_path = optarg; break;
		case O_UDP_PORT:
			if (num_u64(optarg, 1, 65535, &v) < 0)
				return bad("--udp-port: not a port 1..65535: %s", optarg);
			o.udp_port = (uint16_t)v;
			break;
		case O_RATE:
			o.open_loop = 1;
			o.n_rates = 1;
			if (num_double(optarg, 1, 1e9, &o.rates[0]) < 0)
				return bad("--rate: not a rate in ops/s (1..1e9): %s", optarg);
			break;
		case O_SWEEP: {
			char buf[512], *save = NULL, *tok;

			snprintf(buf, sizeof(buf), "%s", optarg);
			o.open_loop = 1;
			o.n_rates = 0;
			for (tok = strtok_r(buf, ",", &save); tok;
			     tok = strtok_r(NULL, ",", &save)) {
				if (o.n_rates == SWEEP_MAX)
					return bad("--sweep: more than 32 rates: %s", optarg);
				if (num_double(tok, 1, 1e9, &o.rates[o.n_rates++]) < 0)
					return bad("--sweep: not a rate in ops/s: %s", tok);
			}
			if (o.n_rates == 0)
				return bad("--sweep: no rate: %s", optarg);
			break;
		}
		case O_WINDOW:
			if (num_u64(optarg, 1, RING_SIZE / 2, &v) < 0)
				return bad("--window: not 1..524288: %s", optarg);
			o.window = (unsigned)v;
			window_set = 1;
			break;
		case O_GET: case O_PUT: case O_CAS:
			if (num_u64(optarg, 0, 100, &v) < 0)
				return bad("--get/--put/--cas: not a percentage: %s", optarg);
			if (!mix_set)
				memset(o.pct, 0, sizeof(o.pct));
			mix_set = 1;
			o.pct[c - O_GET] = (unsigned)v;
			break;
		case O_KEYS:
			if (num_u64(optarg, 1, UINT32_MAX, &v) < 0)
				return bad("--keys: not 1..4294967295: %s", optarg);
			o.keys = v;
			break;
		case O_KEY_SIZE:
			if (num_u64(optarg, 1, CAT_WIRE_KEY_MAX, &v) < 0)
				return bad("--key-size: not 1..250: %s", optarg);
			o.key_size = (unsigned)v;
			break;
		case O_VALUE_SIZE:
			if (num_u64(optarg, 0, 65535, &v) < 0)
				return bad("--value-size: not a byte count: %s", optarg);
			o.value_size = (unsigned)v;
			break;
		case O_ZIPF:
			o.zipf = 1;
			if (num_double(optarg, 1e-6, 100, &o.zipf_s) < 0)
				return bad("--zipf: not an exponent > 0: %s", optarg);
			break;
		case O_WARMUP:
			if (num_double(optarg, 0, 3600, &o.warmup) < 0)
				return bad("--warmup: not 0..3600 seconds: %s", optarg);
			break;
		case O_DURATION:
			if (num_double(optarg, 0.01, 86400, &o.duration) < 0)
				return bad("--duration: not 0.01..86400 seconds: %s", optarg);
			break;
		case O_TIMEOUT:
			if (num_u64(optarg, 1, 60000, &v) < 0)
				return bad("--timeout: not 1..60000 ms: %s", optarg);
			o.timeout_ms = v;
			break;
		case O_BATCH:
			if (num_u64(optarg, 1, 64, &v) < 0)
				return bad("--batch: not 1..64: %s", optarg);
			o.batch = (unsigned)v;
			break;
		case O_BURST:
			if (num_u64(optarg, 1, 256, &v) < 0)
				return bad("--burst: not 1..256: %s", optarg);
			o.burst = (unsigned)v;
			break;
		case O_NO_PRELOAD: o.preload = 0; break;
		case O_SEED:
			if (num_u64(optarg, 0, UINT64_MAX, &v) < 0)
				return bad("--seed: not a number: %s", optarg);
			o.seed = v;
			break;
		case O_JSON: o.json_path = optarg; break;
		case O_LABEL: o.label = optarg; break;
		case O_QUIET: o.quiet = 1; break;
		case O_HELP: case 'h': usage(stdout); exit(0);
		case '?':
		default:
			if (optopt && optopt < 256)
				fprintf(stderr, "catena-bench: unknown option -%c\n", optopt);
			else
				fprintf(stderr, "catena-bench: unknown option or missing "
					"argument: %s\n", argv[optind - 1]);
			return -EINVAL;
		}
	}
	if (optind < argc)
		return bad("unexpected argument: %s (options come after EAL's --)",
			   argv[optind]);
	if (!have_ip)
		return bad("%s", "--ip is required: the bench's own IPv4 address");
	if (have_node == (o.map_path != NULL))
		return bad("%s", "give exactly one of --node A.B.C.D and --map FILE");
	if (o.pct[CAT_BENCH_GET] + o.pct[CAT_BENCH_PUT] + o.pct[CAT_BENCH_CAS] != 100)
		return bad("%s", "--get + --put + --cas must be 100");
	if (o.open_loop && !window_set)
		o.window = 65536;
	/* Keys are "k" plus the key number, zero-padded to key_size bytes. */
	{
		unsigned digits = 1;

		for (uint64_t k = o.keys - 1; k >= 10; k /= 10)
			digits++;
		if (o.key_size < digits + 1) {
			char msg[96];

			snprintf(msg, sizeof(msg), "%u bytes (%" PRIu64 " keys need "
				 "%u)", o.key_size, o.keys, digits + 1);
			return bad("--key-size too small: %s", msg);
		}
	}
	if (o.value_size > cat_wire_value_max(1500, o.key_size)) {
		char msg[64];

		snprintf(msg, sizeof(msg), "%u bytes, at most %u with %u-byte keys",
			 o.value_size, cat_wire_value_max(1500, o.key_size), o.key_size);
		return bad("--value-size too large: %s", msg);
	}
	if (o.zipf && cat_zipf_init(&zipf, o.keys, o.zipf_s) < 0)
		return bad("%s", "--zipf: bad exponent");
	return 0;
}

/* ---- destinations ----------------------------------------------------- */

static int dest_of_node(uint16_t id)
{
	for (unsigned i = 0; i < n_dests; i++)
		if (dests[i].node_id == id)
			return (int)i;
	return -1;
}

static void on_arp(void *arg, uint32_t sip_be, const struct rte_ether_addr *sha)
{
	(void)arg;
	for (unsigned i = 0; i < n_dests; i++) {
		if (dests[i].ip_be == sip_be && !dests[i].mac_known) {
			dests[i].mac = *sha;
			dests[i].mac_known = 1;
		}
	}
}

static int setup_dests(void)
{
	char err[256];

	if (o.map_path) {
		int rc = cat_map_load(o.map_path, &map, err, sizeof(err));

		if (rc < 0) {
			fprintf(stderr, "catena-bench: --map %s: %s\n", o.map_path,
				rc == -EINVAL ? err : strerror(-rc));
			return rc;
		}
		for (uint16_t i = 0; i < map->n_nodes; i++) {
			const struct cat_map_node *nd = &map->nodes[i];
			struct dest *d = &dests[n_dests++];

			d->node_id = nd->id;
			d->ip_be = htonl(nd->ip);
			d->port_be = rte_cpu_to_be_16(nd->udp_port);
			memcpy(&d->mac, nd->mac, 6);
			d->mac_known = !rte_is_zero_ether_addr(&d->mac);
		}
		slot_count = map->slot_count;
		map_epoch = map->epoch;
	} else {
		struct dest *d = &dests[n_dests++];

		d->ip_be = o.node_ip_be;
		d->port_be = rte_cpu_to_be_16(o.node_port);
		d->mac = o.node_mac;
		d->mac_known = o.node_mac_set;
	}
	return 0;
}

/* ---- requests --------------------------------------------------------- */

static uint64_t now_tsc(void)
{
	return rte_rdtsc();
}

/* "k000...0042": key number n, zero-padded to key_size bytes; no printf
 * in the load loop. */
static void write_key(uint8_t *p, uint64_t n)
{
	p[0] = 'k';
	for (unsigned i = o.key_size - 1; i >= 1; i--) {
		p[i] = (uint8_t)('0' + n % 10);
		n /= 10;
	}
}

/* Close dest d's open datagram and queue it. */
static void dest_close(struct dest *d)
{
	int pi;

	if (d->m == NULL)
		return;
	cat_bnet_close_udp(&net, d->m, &d->mac, d->ip_be, d->port_be, d->plen);
	pi = net.n_ports > 1 ? cat_bnet_port_of(&net, &d->mac) : 0;
	cat_bnet_send(&net, pi < 0 ? 0 : pi, d->m);
	d->m = NULL;
	d->plen = 0;
	d->nmsg = 0;
}

static void close_all(void)
{
	for (unsigned i = 0; i < n_dests; i++)
		dest_close(&dests[i]);
}

/*
 * Append one request message to its node's datagram. Returns 0, or -ENOBUFS
 * when the pool is empty (the request is then not sent and stays to do).
 */
static int emit(struct req *r, uint64_t seq)
{
	uint8_t *p;
	uint32_t slot, mlen;
	struct cat_msg m = {0};
	struct dest *d;
	int di = 0;

	mlen = CAT_WIRE_HDR_LEN + o.key_size +
	       (r->opx == CAT_BENCH_GET ? 0 : o.value_size);
	{
		const uint8_t *key = keytab + (size_t)r->key * o.key_size;

		slot = keyslot[r->key];
		if (map) {
			const struct cat_map_chain *ch = cat_map_slot_chain(map, slot);
			uint16_t id;

			if (r->opx != CAT_BENCH_GET)
				id = cat_map_chain_head(ch);
			else if (map->craq)
				id = ch->nodes[cat_rng_below(&rng, ch->len)];
			else
				id = cat_map_chain_tail(ch);
			di = dest_of_node(id);
		}
		d = &dests[di];
		if (d->m != NULL && (d->nmsg == o.batch ||
				     CAT_BNET_HDRS + d->plen + mlen > 1514))
			dest_close(d);
		if (d->m == NULL) {
			d->m = rte_pktmbuf_alloc(net.pool);
			if (d->m == NULL)
				return -ENOBUFS;
		}
		p = rte_pktmbuf_mtod_offset(d->m, uint8_t *, CAT_BNET_HDRS + d->plen);
		m.op = opx_code[r->opx];
		m.slot = (uint16_t)slot;
		m.epoch = map_epoch;
		m.client_id = client_id;
		m.seq = seq;
		m.key_len = (uint16_t)o.key_size;
		if (r->opx != CAT_BENCH_GET) {
			m.value_len = o.value_size;
			if (r->opx == CAT_BENCH_CAS)
				m.arg = versions[r->key];
		}
		cat_wire_encode_hdr(p, &m);
		memcpy(p + CAT_WIRE_HDR_LEN, key, o.key_size);
	}
	if (r->opx != CAT_BENCH_GET)
		memcpy(p + CAT_WIRE_HDR_LEN + o.key_size, value_buf, o.value_size);
	d->plen += mlen;
	d->nmsg++;
	return 0;
}

static unsigned pick_op(void)
{
	unsigned x = (unsigned)cat_rng_below(&rng, 100);

	if (x < o.pct[CAT_BENCH_GET])
		return CAT_BENCH_GET;
	return x < o.pct[CAT_BENCH_GET] + o.pct[CAT_BENCH_PUT] ? CAT_BENCH_PUT : CAT_BENCH_CAS;
}

static uint32_t pick_key(void)
{
	if (o.zipf)
		return (uint32_t)(cat_zipf_next(&zipf, &rng) - 1);
	return (uint32_t)cat_rng_below(&rng, o.keys);
}

/*
 * Issue one request scheduled at t_sched. Returns 0, or -ENOBUFS if out of
 * mbufs (nothing issued). A ring slot still held by a request 1 Mi
 * sequence numbers old is taken over, and that request counts as a timeout.
 */
static int issue(unsigned opx, uint32_t key, uint64_t t_sched, int record)
{
	struct req *r = &ring[next_seq & (RING_SIZE - 1)];

	if (r->busy) {
		if (r->record && cur)
			cur->timeouts++;
		r->busy = 0;
		outstanding--;
	}
	r->opx = (uint8_t)opx;
	r->key = key;
	if (emit(r, next_seq) < 0)
		return -ENOBUFS;
	r->seq = next_seq++;
	r->t_sched = t_sched;
	r->busy = 1;
	r->record = (uint8_t)record;
	outstanding++;
	if (record && cur)
		cur->sent++;
	return 0;
}

/* Retire timed-out requests from the oldest end of the ring. */
static void expire(uint64_t now)
{
	while (tail_seq < next_seq) {
		struct req *r = &ring[tail_seq & (RING_SIZE - 1)];

		if (r->busy && r->seq == tail_seq) {
			if (now - r->t_sched < timeout_tsc)
				return;
			r->busy = 0;
			outstanding--;
			if (r->record && cur)
				cur->timeouts++;
		}
		tail_seq++;
	}
}

static void on_reply(const struct cat_msg *rep, uint64_t tsc)
{
	struct req *r;
	unsigned ok;

	if (rep->op == CAT_OP_PING) {
		if (rep->seq == ping_seq && rep->status == CAT_ST_OK) {
			ping_ok = 1;
			ping_slots = (uint32_t)rep->arg;
		}
		return;
	}
	r = &ring[rep->seq & (RING_SIZE - 1)];
	if (!r->busy || r->seq != rep->seq || opx_code[r->opx] != rep->op)
		return;	/* late (timed out) or a duplicate */
	r->busy = 0;
	outstanding--;
	ok = rep->status == CAT_ST_OK || rep->status == CAT_ST_NOT_FOUND ||
	     rep->status == CAT_ST_CAS_FAILED;
	if (versions && (rep->status == CAT_ST_OK || rep->status == CAT_ST_CAS_FAILED))
		versions[r->key] = rep->arg;
	if (!r->record || cur == NULL)
		return;
	cur->status[r->opx][rep->status < CAT_ST__COUNT ? rep->status : CAT_ST_BAD_REQUEST]++;
	if (ok) {
		uint64_t ns = tsc_ns(tsc - r->t_sched);

		cur->completed++;
		cat_hist_record(&cur->all, ns);
		cat_hist_record(&cur->op[r->opx], ns);
		if (!o.quiet)	/* only the progress line reads it */
			cat_hist_record(&interval, ns);
		interval_done++;
	}
}

static void on_udp(void *arg, const uint8_t *p, uint32_t len, uint32_t src_ip_be,
		   uint64_t tsc)
{
	size_t off = 0, used;
	struct cat_msg rep;

	(void)arg;
	(void)src_ip_be;	/* a write's reply comes from the tail */
	while (off < len && cat_wire_decode(p + off, len - off, &rep, &used) == CAT_WIRE_OK) {
		off += used;
		if ((rep.flags & CAT_F_REPLY) && rep.client_id == client_id)
			on_reply(&rep, tsc);
	}
}

static unsigned poll_once(void)
{
	return cat_bnet_poll(&net, on_udp, on_arp, NULL);
}

/* ---- set-up exchanges ------------------------------------------------- */

static int resolve_and_ping(void)
{
	uint64_t hz = tsc_hz;

	for (unsigned i = 0; i < n_dests; i++) {
		struct dest *d = &dests[i];
		char ip[INET_ADDRSTRLEN];
		uint64_t t0 = now_tsc(), last = 0;

		inet_ntop(AF_INET, &d->ip_be, ip, sizeof(ip));
		while (!d->mac_known) {
			if (now_tsc() - last > hz / 10) {
				cat_bnet_arp_request(&net, d->ip_be);
				last = now_tsc();
			}
			poll_once();
			cat_bnet_flush(&net);
			if (now_tsc() - t0 > 3 * hz || stop) {
				fprintf(stderr, "catena-bench: no ARP reply from %s in 3 s "
					"(wrong --node, or the node is not on this port?)\n", ip);
				return -EHOSTUNREACH;
			}
		}
		/* A PING proves the path both ways (and teaches the switch
		 * which port the node is on). */
		ping_ok = 0;
		last = 0;
		t0 = now_tsc();
		while (!ping_ok) {
			if (now_tsc() - last > hz / 5) {
				struct cat_msg m = { .op = CAT_OP_PING, .client_id = client_id };
				struct rte_mbuf *mb = rte_pktmbuf_alloc(net.pool);
				int pi;

				if (mb == NULL)
					return -ENOMEM;
				m.seq = ping_seq = next_seq++;
				tail_seq = next_seq;
				cat_wire_encode_hdr(rte_pktmbuf_mtod_offset(mb, uint8_t *,
					CAT_BNET_HDRS), &m);
				cat_bnet_close_udp(&net, mb, &d->mac, d->ip_be, d->port_be,
						   CAT_WIRE_HDR_LEN);
				pi = net.n_ports > 1 ? cat_bnet_port_of(&net, &d->mac) : 0;
				cat_bnet_send(&net, pi, mb);
				last = now_tsc();
			}
			cat_bnet_flush(&net);
			poll_once();
			if (now_tsc() - t0 > 3 * hz || stop) {
				fprintf(stderr, "catena-bench: no PING reply from node %s "
					"in 3 s\n", ip);
				return -ETIMEDOUT;
			}
		}
		if (map == NULL) {
			if (!cat_hash_slot_count_valid(ping_slots)) {
				fprintf(stderr, "catena-bench: node %s reports %u slots\n",
					ip, ping_slots);
				return -EPROTO;
			}
			slot_count = ping_slots;
		} else if (ping_slots != map->slot_count) {
			fprintf(stderr, "catena-bench: node %s has %u slots, the map %u\n",
				ip, ping_slots, map->slot_count);
			return -EPROTO;
		}
	}
	return 0;
}

/* ---- load loops ------------------------------------------------------- */

static void progress(const char *what, uint64_t now, uint64_t t0, double offered)
{
	double secs = tsc_to_ns(now - t0) / 1e9;

	if (o.quiet)
		return;
	fprintf(stderr, "%s %5.1fs  offered %9.0f/s  done %9" PRIu64 "/s  p50 %7.1f  "
		"p99 %7.1f  p99.9 %7.1f us  outstanding %" PRIu64 "  timeouts %" PRIu64 "\n",
		what, secs, offered, interval_done,
		cat_hist_percentile(&interval, 50) / 1e3,
		cat_hist_percentile(&interval, 99) / 1e3,
		cat_hist_percentile(&interval, 99.9) / 1e3, outstanding,
		cur ? cur->timeouts : 0);
	cat_hist_reset(&interval);
	interval_done = 0;
}

/* Wait until nothing is outstanding (or it all timed out). */
static void drain(void)
{
	while (outstanding > 0 && !stop) {
		cat_bnet_flush(&net);
		poll_once();
		expire(now_tsc());
	}
}

/*
 * Run the load for `secs` seconds: open loop at `rate` ops/s (rate > 0),
 * or closed loop with o.window outstanding. record: count into ph.
 */
static void run(double rate, double secs, struct cat_bench_phase *ph, const char *what)
{
	uint64_t t0 = now_tsc(), end = t0 + (uint64_t)(secs * (double)tsc_hz);
	uint64_t next_progress = t0 + tsc_hz, late_tsc = tsc_hz * LATE_NS / 1000000000ull;
	double gap = rate > 0 ? (double)tsc_hz / rate : 0, due = (double)t0;
	uint64_t last;
	int was_busy = 0;

	cur = ph;
	cat_hist_reset(&interval);
	interval_done = 0;
	if (ph) {
		/* node_tel() read the nodes' start just before. */
		struct cat_bench_node_cap keep[CAT_BENCH_TEL_MAX];
		unsigned kept = ph->n_nodes;

		memcpy(keep, ph->node, sizeof(keep));
		memset(ph, 0, sizeof(*ph));
		memcpy(ph->node, keep, sizeof(keep));
		ph->n_nodes = kept;
		cat_hist_reset(&ph->all);
		for (int i = 0; i < CAT_BENCH_OPS; i++)
			cat_hist_reset(&ph->op[i]);
		ph->offered = rate;
		ph->t0 = t0;
	}
	last = t0;
	for (;;) {
		uint64_t now = now_tsc();
		unsigned n = 0;

		/* The previous iteration, by whether it sent or received. */
		if (ph) {
			if (was_busy)
				ph->bench_busy_tsc += now - last;
			else
				ph->bench_idle_tsc += now - last;
		}
		last = now;
		if (now >= end || stop)
			break;
		if (rate > 0) {
			/* Everything whose time has come, stamped with its
			 * scheduled time however late it leaves. */
			while ((double)now >= due && n < o.burst) {
				if (outstanding >= o.window) {
					if (ph)
						ph->stall_full++;
					break;
				}
				if (issue(pick_op(), pick_key(), (uint64_t)due, ph != NULL) < 0)
					break;
				if (ph && now - (uint64_t)due > late_tsc)
					ph->late_sends++;
				due += cat_rng_exp(&rng, gap);
				n++;
			}
		} else {
			while (outstanding < o.window && n < o.burst) {
				if (issue(pick_op(), pick_key(), now, ph != NULL) < 0)
					break;
				n++;
			}
		}
		close_all();
		cat_bnet_flush(&net);
		was_busy = (poll_once() + n) != 0;
		expire(now);
		if (now >= next_progress) {
			progress(what, now, t0, rate);
			next_progress += tsc_hz;
		}
	}
	if (ph) {
		ph->t1 = now_tsc();
		ph->completed_by_t1 = ph->completed;
	}
	/* Requests still out belong to this phase: wait for them (or their
	 * timeout) so the slowest are not left out of the tail. */
	drain();
	cur = NULL;
}

/* A node's /catena/lcores, at the start (sign -1) or end (+1) of ph. */
static void node_tel(struct cat_bench_phase *ph, int end)
{
	for (unsigned i = 0; i < o.n_node_tel; i++) {
		struct cat_bench_node_cap *c = &ph->node[i];
		struct cat_btel_lcores l;
		char path[512];
		int rc;

		if (end && !c->ok)
			continue; /* its start is missing already */
		rc = cat_btel_socket_path(o.node_tel[i], path, sizeof(path));
		if (rc == 0)
			rc = cat_btel_read_lcores(path, &l, c->err, sizeof(c->err));
		else
			snprintf(c->err, sizeof(c->err), "path too long");
		c->name = o.node_tel[i];
		if (rc < 0) {
			c->ok = 0;
			continue;
		}
		if (!end) {
			c->ok = 1;
			c->busy_tsc = l.busy_tsc;
			c->idle_tsc = l.idle_tsc;
			c->requests = l.requests;
		} else {
			c->busy_tsc = l.busy_tsc - c->busy_tsc;
			c->idle_tsc = l.idle_tsc - c->idle_tsc;
			c->requests = l.requests - c->requests;
		}
		c->tsc_hz = l.tsc_hz;
		c->workers = l.workers;
	}
	ph->n_nodes = o.n_node_tel;
}

/*
 * Every key's bytes ("k000...0042": key number n, zero-padded to key_size)
 * and slot, once, so the load loop neither formats nor hashes. 0 or
 * -ENOMEM.
 */
static int make_keys(void)
{
	keytab = malloc((size_t)o.keys * o.key_size);
	keyslot = malloc((size_t)o.keys * sizeof(*keyslot));
	if (keytab == NULL || keyslot == NULL)
		return -ENOMEM;
	for (uint64_t k = 0; k < o.keys; k++) {
		uint8_t *p = keytab + (size_t)k * o.key_size;

		write_key(p, k);
		keyslot[k] = cat_hash_slot(cat_hash_crc32c(p, o.key_size), slot_count);
	}
	return 0;
}

/* PUT every key once, closed loop, not measured. */
static int preload(void)
{
	uint64_t k = 0, t0 = now_tsc(), next_progress = t0 + tsc_hz;
	unsigned window = o.window < 64 ? 64 : (o.window > 512 ? 512 : o.window);

	cur = NULL;
	while (k < o.keys && !stop) {
		unsigned n = 0;

		while (outstanding < window && k < o.keys && n < o.burst) {
			if (issue(CAT_BENCH_PUT, (uint32_t)k, now_tsc(), 0) < 0)
				break;
			k++;
			n++;
		}
		close_all();
		cat_bnet_flush(&net);
		poll_once();
		expire(now_tsc());
		if (!o.quiet && now_tsc() >= next_progress) {
			fprintf(stderr, "preload: %" PRIu64 " of %" PRIu64 " keys\n", k, o.keys);
			next_progress += tsc_hz;
		}
	}
	drain();
	return stop ? -EINTR : 0;
}

/* ---- main ------------------------------------------------------------- */

int main(int argc, char **argv)
{
	static struct cat_bench_phase phases[SWEEP_MAX];
	static char runtime_dir[512];
	struct rte_mempool *pool;
	char err[256];
	unsigned n_phases = 0;
	int rc, consumed;

	if (cat_version_arg(argc, argv, "catena-bench"))
		return 0;
	/* Options and the map first: a typo must not cost an EAL start (nor
	 * leave hugepage files behind). EAL gets argv[0..dd), we the rest. */
	int dd = argc;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0) {
			dd = i;
			break;
		}
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			return 0;
		}
	}
	{
		char *app[argc + 1];
		int n_app = 0;

		app[n_app++] = argv[0];
		for (int i = dd + 1; i < argc; i++)
			app[n_app++] = argv[i];
		app[n_app] = NULL;
		if (parse_opts(n_app, app) < 0) {
			fprintf(stderr, "catena-bench: see catena-bench --help\n");
			return EXIT_USAGE;
		}
	}
	if (setup_dests() < 0)
		return EXIT_USAGE;
	consumed = rte_eal_init(dd, argv);
	if (consumed < 0) {
		fprintf(stderr, "catena-bench: EAL init failed: %s\n", rte_strerror(rte_errno));
		cat_map_free(map);
		return 1;
	}
	(void)consumed;
	snprintf(runtime_dir, sizeof(runtime_dir), "%s", rte_eal_get_runtime_dir());
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	tsc_hz = rte_get_tsc_hz();
	ns_mult = (uint64_t)(((unsigned __int128)1000000000u << 32) / tsc_hz);
	timeout_tsc = o.timeout_ms * tsc_hz / 1000;
	cat_rng_seed(&rng, o.seed);
	client_id = (uint32_t)(cat_rng_next(&rng) >> 32) ^ (uint32_t)rte_rdtsc();
	memset(value_buf, 'v', sizeof(value_buf));
	rc = 1;
	ring = calloc(RING_SIZE, sizeof(*ring));
	if (ring == NULL || (o.pct[CAT_BENCH_CAS] && (versions = calloc(o.keys, 8)) == NULL)) {
		fprintf(stderr, "catena-bench: out of memory\n");
		goto out;
	}
	pool = rte_pktmbuf_pool_create("bench_mbufs", 32767, 256, 0,
				       RTE_MBUF_DEFAULT_BUF_SIZE, (int)rte_socket_id());
	if (pool == NULL) {
		fprintf(stderr, "catena-bench: mbuf pool: %s\n", rte_strerror(rte_errno));
		goto out;
	}
	if (cat_bnet_init(&net, pool, o.ip_be, o.udp_port, (uint16_t)o.burst, 10000,
			  err, sizeof(err)) < 0) {
		fprintf(stderr, "catena-bench: %s\n", err);
		goto out;
	}
	if (resolve_and_ping() < 0)
		goto out_net;
	if (!o.quiet)
		fprintf(stderr, "catena-bench: %u node%s reachable over %u port%s, %u slots\n",
			n_dests, n_dests == 1 ? "" : "s", net.n_ports,
			net.n_ports == 1 ? "" : "s", slot_count);
	if (make_keys() < 0) {
		fprintf(stderr, "catena-bench: out of memory for %" PRIu64 " keys of %u bytes\n",
			o.keys, o.key_size);
		goto out_net;
	}
	if (o.preload && preload() < 0)
		goto out_net;
	for (unsigned i = 0; i < (o.open_loop ? o.n_rates : 1) && !stop; i++) {
		double rate = o.open_loop ? o.rates[i] : 0;

		if (o.warmup > 0)
			run(rate, o.warmup, NULL, "warmup");
		if (stop)
			break;
		phases[n_phases].n_nodes = 0;
		node_tel(&phases[n_phases], 0);
		run(rate, o.duration, &phases[n_phases], "run   ");
		node_tel(&phases[n_phases], 1);
		n_phases++;
	}
	if (n_phases == 0) {
		fprintf(stderr, "catena-bench: interrupted before a measured run\n");
		goto out_net;
	}
	{
		const struct cat_bench_desc d = {
			.label = o.label, .open_loop = o.open_loop, .window = o.window,
			.pct = { o.pct[0], o.pct[1], o.pct[2] }, .keys = o.keys,
			.zipf = o.zipf, .zipf_s = o.zipf_s, .key_size = o.key_size,
			.value_size = o.value_size, .batch = o.batch, .warmup = o.warmup,
			.duration = o.duration, .timeout_ms = o.timeout_ms,
			.map_path = o.map_path, .slots = slot_count, .n_ports = net.n_ports,
			.tsc_hz = tsc_hz,
		};

		cat_bench_print(&d, phases, n_phases, &net.st);
		rc = 0;
		if (o.json_path && cat_bench_write_json(o.json_path, &d, phases, n_phases,
							&net.st) < 0)
			rc = 1;
	}
out_net:
	cat_bnet_fini(&net);
out:
	cat_map_free(map);
	free(ring);
	free(versions);
	free(keytab);
	free(keyslot);
	rte_eal_cleanup();
	cat_eal_remove_runtime_dir(runtime_dir);
	return rc;
}
