/*
 * catena-udp-bench: a closed-loop load generator over a plain kernel UDP
 * socket. Keeps a window of requests outstanding against a cluster, routed
 * by its cluster map (writes to the head of the key's chain, reads to the
 * tail or, with CRAQ, a random replica; replies come from the tail), records
 * every request's latency (first send to matching reply, retransmissions and
 * MOVED redirects included, so a lost packet or a reconfiguration shows as a
 * slow request rather than vanishing) and prints throughput and percentiles.
 * It measures what an ordinary UDP application sees; the DPDK load generator
 * (catena-bench) is separate.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "client/catena.h"
#include "perf/bench_hist.h"
#include "perf/bench_json.h"
#include "replication/hash.h"
#include "replication/map.h"
#include "replication/wire.h"
#include "replication/version.h"

#define MAX_WINDOW 256
#define RTO_NS     (200ull * 1000 * 1000)
/* A request silent this long refetches the map (its node may have left
 * the chain); one giving up takes 5 s. */
#define REMAP_NS   (1000ull * 1000 * 1000)
#define GIVE_UP_NS (5000ull * 1000 * 1000)
/* RETRY (slot reconfiguring): resend the same request id after this. */
#define RETRY_NS   (2ull * 1000 * 1000)
/* Redirects one request follows before its MOVED counts as an error. */
#define MOVED_MAX  4
struct slot_req {
	int busy;
	int moved;          /* redirects followed */
	int remapped;       /* refetched the map for this request's silence */
	uint64_t seq;
	uint64_t t_first, t_last;
	size_t len;
	uint8_t op;
	unsigned keyno;
	struct sockaddr_in dst;
	uint8_t buf[CAT_WIRE_PAYLOAD_MAX_1500];
};

struct opts {
	const char *host;
	unsigned port, seconds, window, keys, value_size, read_pct;
	int json, preload;
};

/* Where requests go: the cluster map, or (a node that predates MAP_GET)
 * the one bootstrap node that answered, with the slot count from PING.
 * libcatena fetches both, on its own socket (mapc), so replies to
 * benchmark requests are never eaten while the map is fetched; map is
 * its cached map, valid until the next fetch. */
static struct cat_client *mapc;
static const struct cat_map *map;
static struct sockaddr_in single_addr;
static uint64_t st_moved, st_map_fetches, st_retry_replies;

/* The same histogram as catena-bench's (values within 0.8%), overall and
 * per op, so compare.sh's rows are measured alike. */
static struct cat_hist h_all, h_get, h_put;
static uint64_t st_count[CAT_ST__COUNT];

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void usage(FILE *f)
{
	fprintf(f,
"usage: catena-udp-bench -H HOST[:PORT][,HOST[:PORT]...] [-p PORT] [-d SECONDS]\n"
"                        [-w WINDOW] [-k KEYS] [-v VALUE_BYTES] [-r READ_PCT]\n"
"                        [--no-preload] [--json]\n"
"  Closed loop: WINDOW requests outstanding (default 8) for SECONDS (default 5)\n"
"  over KEYS keys (default 10000, preloaded with PUTs first), READ_PCT %% GETs\n"
"  (default 90), the rest PUTs of VALUE_BYTES (default 32). Requests are\n"
"  routed by the cluster map, fetched from the -H node(s): PUTs to the head\n"
"  of the key's chain, GETs to its tail (any replica with craq on).\n");
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{"json", no_argument, NULL, 'J'},
		{"no-preload", no_argument, NULL, 'N'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;

	*o = (struct opts){ .host = getenv("CATENA_HOST"),
			    .port = CAT_WIRE_DEFAULT_PORT, .seconds = 5,
			    .window = 8, .keys = 10000, .value_size = 32,
			    .read_pct = 90, .preload = 1 };
	while ((c = getopt_long(argc, argv, "H:p:d:w:k:v:r:h", lo, NULL)) != -1) {
		char *end = NULL;
		unsigned long v = 0;

		if (c != 'H' && c != 'J' && c != 'N' && c != 'h') {
			errno = 0;
			v = strtoul(optarg, &end, 10);
			if (errno || *end || end == optarg) {
				fprintf(stderr, "catena-udp-bench: -%c: not a number: %s\n", c, optarg);
				return -EINVAL;
			}
		}
		switch (c) {
		case 'H': o->host = optarg; break;
		case 'p': o->port = (unsigned)v; break;
		case 'd': o->seconds = (unsigned)v; break;
		case 'w': o->window = (unsigned)v; break;
		case 'k': o->keys = (unsigned)v; break;
		case 'v': o->value_size = (unsigned)v; break;
		case 'r': o->read_pct = (unsigned)v; break;
		case 'J': o->json = 1; break;
		case 'N': o->preload = 0; break;
		case 'h': usage(stdout); exit(0);
		default: return -EINVAL;
		}
	}
	if (o->host == NULL) {
		fprintf(stderr, "catena-udp-bench: no host: give -H HOST or set CATENA_HOST\n");
		return -EINVAL;
	}
	if (o->window < 1 || o->window > MAX_WINDOW || o->keys < 1 ||
	    o->read_pct > 100 || o->port < 1 || o->port > 65535 ||
	    o->value_size > cat_wire_value_max(1500, 16)) {
		fprintf(stderr, "catena-udp-bench: out of range: window 1..%d, keys >= 1, "
			"read_pct 0..100, value <= %u bytes\n", MAX_WINDOW,
			cat_wire_value_max(1500, 16));
		return -EINVAL;
	}
	return 0;
}

/* Unconnected: a write's reply comes from the chain's tail, not from the
 * head it was sent to. */
static int open_socket(void)
{
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	if (fd < 0)
		fprintf(stderr, "catena-udp-bench: socket: %s\n", strerror(errno));
	return fd < 0 ? -errno : fd;
}

static uint32_t client_id;
static uint64_t next_seq = 1;
static uint32_t slot_count;
static uint64_t rng_state;

static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static int same_addr(const struct sockaddr_in *a, const struct sockaddr_in *b)
{
	return a->sin_addr.s_addr == b->sin_addr.s_addr && a->sin_port == b->sin_port;
}

static void node_addr(uint16_t id, struct sockaddr_in *sa)
{
	const struct cat_map_node *nd = cat_map_node_by_id(map, id);

	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_addr.s_addr = htonl(nd->ip);
	sa->sin_port = htons(nd->udp_port);
}

/*
 * libcatena's client for the map, on the -H node(s): a fixed wait of
 * RTO_NS per try and ten tries (each node asked at least once), as the
 * benchmark's requests wait. 0, or 64 (usage) / 1 after a message.
 */
static int open_map_client(const struct opts *o)
{
	struct cat_client_opts co;
	int err;

	cat_client_opts_init(&co, o->host);
	co.port = (uint16_t)o->port;
	co.timeout_ms = (int)(RTO_NS / 1000000);
	co.retries = 9;
	mapc = cat_client_open(&co, &err);
	if (mapc != NULL)
		return 0;
	if (err == -EINVAL) {
		fprintf(stderr, "catena-udp-bench: -H: bad host list \"%s\": want "
			"HOST[:PORT][,HOST[:PORT]...] (at most %d)\n", o->host,
			CAT_CLIENT_BOOTSTRAP_MAX);
		return 64;
	}
	if (err == -EHOSTUNREACH || err == -EAGAIN) {
		fprintf(stderr, "catena-udp-bench: -H %s: host not found\n", o->host);
		return 64;
	}
	fprintf(stderr, "catena-udp-bench: %s\n", cat_client_strerror(err));
	return 1;
}

/*
 * Fetch the cluster map (libcatena's MAP_GET, chunk by chunk): from first
 * (if given, the node that said MOVED), the bootstrap nodes, then the
 * nodes of the map held, and avoid (a node gone silent) last. Returns 0
 * (map current), -EOPNOTSUPP (the node answered UNKNOWN_OP: it predates
 * the map; single_addr = it), or -errno.
 */
static int fetch_map(const struct sockaddr_in *first, const struct sockaddr_in *avoid)
{
	int rc;

	st_map_fetches++;
	rc = cat_client_refresh_map_from(mapc, first, avoid);
	map = cat_client_map(mapc);
	if (rc == 0 && map != NULL)
		slot_count = map->slot_count;
	if (rc == -EOPNOTSUPP)
		(void)cat_client_single_node(mapc, &single_addr);
	return rc;
}

/* Learn the slot count from a node that predates the map (libcatena
 * PINGs the node it fell back to); a node that only ever answers with
 * another status is as good as silent. */
static int ping(void)
{
	int rc = cat_client_ping(mapc, &slot_count, NULL);

	return rc > 0 ? -ETIMEDOUT : rc;
}

/* Encode w's request for the current map and pick its node. The seq is
 * kept: a re-routed request is the same request. */
static void build(struct slot_req *w, unsigned vsize)
{
	char key[24];
	uint8_t val[CAT_WIRE_PAYLOAD_MAX_1500];
	struct cat_msg m = {0};
	int n = snprintf(key, sizeof(key), "key:%012u", w->keyno);

	memset(val, 'a' + (int)(w->seq % 26), vsize);
	m.op = w->op;
	m.client_id = client_id;
	m.seq = w->seq;
	m.key = (const uint8_t *)key;
	m.key_len = (uint16_t)n;
	m.slot = (uint16_t)cat_hash_slot(cat_hash_crc32c(key, (size_t)n), slot_count);
	if (w->op == CAT_OP_PUT) {
		m.value = val;
		m.value_len = vsize;
	}
	if (map) {
		const struct cat_map_chain *ch = cat_map_slot_chain(map, m.slot);
		uint16_t id;

		m.epoch = map->epoch;
		if (w->op != CAT_OP_GET)
			id = cat_map_chain_head(ch);
		else if (map->craq)
			id = ch->nodes[rng() % ch->len];
		else
			id = cat_map_chain_tail(ch);
		node_addr(id, &w->dst);
	} else {
		w->dst = single_addr;
	}
	w->len = (size_t)cat_wire_encode(w->buf, CAT_WIRE_PAYLOAD_MAX_1500, &m);
}

static void send_req(int fd, struct slot_req *w)
{
	(void)sendto(fd, w->buf, w->len, 0, (const struct sockaddr *)&w->dst,
		     sizeof(w->dst));
}

/* Refetch the map (first asking `first`) and re-route every outstanding
 * request whose node changed, keeping its request id. */
static void remap(int fd, struct slot_req *win, unsigned window,
		  const struct sockaddr_in *first, const struct sockaddr_in *avoid,
		  const struct opts *o)
{
	uint32_t old = map ? map->epoch : 0;
	uint64_t t;

	if (fetch_map(first, avoid) < 0 || map == NULL || map->epoch == old)
		return;
	t = now_ns();
	for (unsigned i = 0; i < window; i++) {
		struct sockaddr_in before = win[i].dst;

		if (!win[i].busy)
			continue;
		build(&win[i], o->value_size);
		if (!same_addr(&before, &win[i].dst)) {
			/* Sent afresh: its retransmission clock restarts. */
			send_req(fd, &win[i]);
			win[i].t_last = t;
			win[i].remapped = 1;
		}
	}
}

struct run_result {
	uint64_t ops, retrans, timeouts_gave_up;
	uint64_t t_ns;
};

/* Run a closed loop until `total` requests completed (if nonzero) or
 * `until` passes. */
static int run_loop(int fd, const struct opts *o, uint64_t total, uint64_t until,
		    int preload, int record, struct run_result *res)
{
	static struct slot_req win[MAX_WINDOW];
	uint64_t issued = 0, done = 0, t0 = now_ns();
	uint8_t rbuf[2048];
	unsigned seed_key = 0;

	memset(win, 0, sizeof(win));
	for (;;) {
		uint64_t t = now_ns();
		int stop = total ? issued >= total : t >= until;
		int outstanding = 0;

		for (unsigned i = 0; i < o->window; i++) {
			struct slot_req *w = &win[i];

			if (!w->busy && !stop) {
				if (preload) {
					w->keyno = seed_key++;
					w->op = CAT_OP_PUT;
				} else {
					w->keyno = (unsigned)(random() % o->keys);
					w->op = (unsigned)(random() % 100) < o->read_pct ?
						CAT_OP_GET : CAT_OP_PUT;
				}
				w->seq = next_seq++;
				w->moved = w->remapped = 0;
				build(w, o->value_size);
				w->t_first = w->t_last = t;
				w->busy = 1;
				issued++;
				if (sendto(fd, w->buf, w->len, 0, (const struct sockaddr *)&w->dst,
					   sizeof(w->dst)) < 0 && errno != EAGAIN &&
				    errno != ECONNREFUSED)
					return -errno;
				stop = total ? issued >= total : 0;
			} else if (w->busy && t - w->t_last > RTO_NS) {
				/* Same request id: a retry (same bytes unless
				 * the map changed meanwhile). */
				w->t_last = t;
				res->retrans++;
				if (t - w->t_first > GIVE_UP_NS) {
					res->timeouts_gave_up++;
					w->busy = 0;
					done++;
					continue;
				}
				if (map && !w->remapped && t - w->t_first > REMAP_NS) {
					/* Its node may have left the chain. */
					struct sockaddr_in silent = w->dst;

					w->remapped = 1;
					remap(fd, win, o->window, NULL, &silent, o);
					if (!same_addr(&silent, &w->dst))
						continue; /* re-routed and sent */
					t = now_ns();
				}
				send_req(fd, w);
			}
			outstanding += w->busy;
		}
		if (outstanding == 0 && (total ? issued >= total : now_ns() >= until))
			break;

		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, 10) <= 0)
			continue;
		for (;;) {
			struct sockaddr_in from;
			socklen_t sl = sizeof(from);
			ssize_t r = recvfrom(fd, rbuf, sizeof(rbuf), MSG_DONTWAIT,
					     (struct sockaddr *)&from, &sl);
			size_t off = 0, used;
			struct cat_msg rep;

			if (r <= 0)
				break;
			while (off < (size_t)r &&
			       cat_wire_decode(rbuf + off, (size_t)r - off, &rep, &used) == CAT_WIRE_OK) {
				off += used;
				if (!(rep.flags & CAT_F_REPLY) || rep.client_id != client_id)
					continue;
				for (unsigned i = 0; i < o->window; i++) {
					struct slot_req *w = &win[i];

					if (!w->busy || w->seq != rep.seq || w->op != rep.op)
						continue;
					if (rep.status == CAT_ST_MOVED && map &&
					    w->moved < MOVED_MAX) {
						/* Not executed: refetch the map
						 * if the node knows a newer one,
						 * resend the same request id. */
						w->moved++;
						st_moved++;
						if (rep.epoch > map->epoch)
							remap(fd, win, o->window, &from, NULL, o);
						build(w, o->value_size);
						/* From a node at our epoch: follow
						 * its hint (arg = the right node). */
						if (rep.epoch <= map->epoch && rep.arg <= UINT16_MAX &&
						    cat_map_node_by_id(map, (uint16_t)rep.arg))
							node_addr((uint16_t)rep.arg, &w->dst);
						w->t_last = now_ns();
						send_req(fd, w);
						break;
					}
					if (rep.status == CAT_ST_RETRY) {
						/* Reconfiguring: resend soon. */
						st_retry_replies++;
						w->t_last = now_ns() - RTO_NS + RETRY_NS;
						break;
					}
					if (record) {
						uint64_t lat = now_ns() - w->t_first;

						cat_hist_record(&h_all, lat);
						cat_hist_record(w->op == CAT_OP_GET ? &h_get : &h_put, lat);
						if (rep.status < CAT_ST__COUNT)
							st_count[rep.status]++;
					}
					w->busy = 0;
					done++;
					break;
				}
			}
		}
	}
	res->ops = done;
	res->t_ns = now_ns() - t0;
	return 0;
}

/* "3 chains of 3 nodes" / "2 chains of 2-3 nodes", for the report. */
static void chain_shape(char *buf, size_t cap, unsigned *lo_out, unsigned *hi_out)
{
	unsigned lo = CAT_MAP_CHAIN_LEN_MAX, hi = 0;

	for (uint16_t i = 0; i < map->n_chains; i++) {
		if (map->chains[i].len < lo)
			lo = map->chains[i].len;
		if (map->chains[i].len > hi)
			hi = map->chains[i].len;
	}
	if (lo == hi)
		snprintf(buf, cap, "%u chain%s of %u node%s", map->n_chains,
			 map->n_chains == 1 ? "" : "s", hi, hi == 1 ? "" : "s");
	else
		snprintf(buf, cap, "%u chains of %u-%u nodes", map->n_chains, lo, hi);
	*lo_out = lo;
	*hi_out = hi;
}

int main(int argc, char **argv)
{
	struct opts o;
	struct run_result pre = {0}, res = {0};
	int fd, rc;

	if (cat_version_arg(argc, argv, "catena-udp-bench"))
		return 0;
	cat_hist_reset(&h_all);
	cat_hist_reset(&h_get);
	cat_hist_reset(&h_put);
	if (parse_opts(argc, argv, &o) < 0) {
		usage(stderr);
		return 64;
	}
	if (getrandom(&client_id, sizeof(client_id), 0) != sizeof(client_id))
		client_id = (uint32_t)getpid();
	srandom(client_id);
	rng_state = ((uint64_t)client_id << 32) | 0x9E3779B9u;
	rc = open_map_client(&o);
	if (rc == 64)
		usage(stderr);
	if (rc != 0)
		return rc;
	fd = open_socket();
	if (fd < 0)
		return 1;
	rc = fetch_map(NULL, NULL);
	if (rc == -EOPNOTSUPP)
		rc = ping();	/* a node from before the map: it alone */
	if (rc < 0) {
		fprintf(stderr, "catena-udp-bench: no cluster map or PING answer from %s (%s)\n",
			o.host, strerror(-rc));
		return 4;
	}
	if (o.preload) {
		if (!o.json)
			fprintf(stderr, "preloading %u keys of %u bytes...\n", o.keys, o.value_size);
		rc = run_loop(fd, &o, o.keys, 0, 1, 0, &pre);
		if (rc < 0)
			goto err;
	}
	if (!o.json)
		fprintf(stderr, "running %u s, window %u, %u%% GET...\n", o.seconds,
			o.window, o.read_pct);
	rc = run_loop(fd, &o, 0, now_ns() + (uint64_t)o.seconds * 1000000000ull,
		      0, 1, &res);
	if (rc < 0)
		goto err;

	uint64_t total = h_all.count;
	double secs = (double)res.t_ns / 1e9;
	double tput = secs > 0 ? (double)total / secs : 0;
	uint64_t errors = total - st_count[CAT_ST_OK] - st_count[CAT_ST_NOT_FOUND];
	char shape[64] = "single node (no cluster map)";
	unsigned clo = 1, chi = 1;

	if (map)
		chain_shape(shape, sizeof(shape), &clo, &chi);

	if (o.json) {
		/* jansson: each key once. The request count is "requests";
		 * "ops" is the per-op latencies, as in catena-bench's JSON. */
		json_t *r = json_object(), *ops = json_object(), *all;

		if (r == NULL || ops == NULL)
			goto nomem;
		cat_bench_json_set(r, "host", json_string(o.host));
		cat_bench_json_set(r, "port", json_integer(o.port));
		cat_bench_json_set(r, "seconds", cat_bench_json_num(secs));
		cat_bench_json_set(r, "window", json_integer(o.window));
		cat_bench_json_set(r, "keys", json_integer(o.keys));
		cat_bench_json_set(r, "value_bytes", json_integer(o.value_size));
		cat_bench_json_set(r, "read_pct", json_integer(o.read_pct));
		cat_bench_json_set(r, "requests", json_integer((json_int_t)total));
		cat_bench_json_set(r, "ops_per_sec", cat_bench_json_num(tput));
		all = cat_bench_json_hist(&h_all, 0, 0, 0, 0);
		if (all == NULL)
			goto nomem;
		json_object_del(all, "count");
		cat_bench_json_set(r, "lat_us", all);
		cat_bench_json_set(r, "retransmits",
				   json_integer((json_int_t)(res.retrans + pre.retrans)));
		cat_bench_json_set(r, "gave_up", json_integer((json_int_t)res.timeouts_gave_up));
		cat_bench_json_set(r, "error_replies", json_integer((json_int_t)errors));
		cat_bench_json_set(r, "map_epoch", json_integer(map ? map->epoch : 0));
		cat_bench_json_set(r, "slots", json_integer(slot_count));
		cat_bench_json_set(r, "craq", json_boolean(map && map->craq));
		cat_bench_json_set(r, "nodes", json_integer(map ? map->n_nodes : 1));
		cat_bench_json_set(r, "chains", json_integer(map ? map->n_chains : 1));
		cat_bench_json_set(r, "chain_len_min", json_integer(clo));
		cat_bench_json_set(r, "chain_len_max", json_integer(chi));
		cat_bench_json_set(r, "moved", json_integer((json_int_t)st_moved));
		cat_bench_json_set(r, "retry_replies", json_integer((json_int_t)st_retry_replies));
		cat_bench_json_set(r, "map_fetches", json_integer((json_int_t)st_map_fetches));
		cat_bench_json_set(ops, "GET", cat_bench_json_hist(&h_get, 0, 0, 0, 0));
		cat_bench_json_set(ops, "PUT", cat_bench_json_hist(&h_put, 0, 0, 0, 0));
		cat_bench_json_set(r, "ops", ops);
		/* Non-empty buckets [upper edge us, count]: the distribution plot. */
		all = cat_bench_json_hist(&h_all, 0, 0, 0, 1);
		if (all == NULL)
			goto nomem;
		cat_bench_json_set(r, "buckets_us", json_incref(json_object_get(all, "buckets_us")));
		json_decref(all);
		if (cat_bench_json_dump(r, stdout) < 0 || fflush(stdout) != 0) {
			fprintf(stderr, "catena-udp-bench: writing the JSON result: %s\n",
				strerror(errno));
			rc = 1;
			goto out;
		}
	} else {
		/* A host list names its own ports. */
		if (strpbrk(o.host, ":,"))
			printf("catena-udp-bench: %s, %u keys, %u-byte values, %u%% GET, window %u\n",
			       o.host, o.keys, o.value_size, o.read_pct, o.window);
		else
			printf("catena-udp-bench: %s:%u, %u keys, %u-byte values, %u%% GET, window %u\n",
			       o.host, o.port, o.keys, o.value_size, o.read_pct, o.window);
		printf("  map          epoch %u, %s, craq %s, %u slots;"
		       " moved %llu, retry %llu, map fetches %llu\n",
		       map ? map->epoch : 0, shape, map && map->craq ? "on" : "off",
		       slot_count, (unsigned long long)st_moved,
		       (unsigned long long)st_retry_replies,
		       (unsigned long long)st_map_fetches);
		printf("  requests     %llu in %.2f s = %.0f ops/s\n",
		       (unsigned long long)total, secs, tput);
		printf("  latency us   p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  max %.1f\n",
		       cat_hist_percentile(&h_all, 50) / 1e3, cat_hist_percentile(&h_all, 90) / 1e3,
		       cat_hist_percentile(&h_all, 99) / 1e3, cat_hist_percentile(&h_all, 99.9) / 1e3,
		       cat_hist_percentile(&h_all, 100) / 1e3);
		printf("  retransmits  %llu   gave up %llu   error replies %llu\n",
		       (unsigned long long)(res.retrans + pre.retrans),
		       (unsigned long long)res.timeouts_gave_up,
		       (unsigned long long)errors);
	}
	close(fd);
	cat_client_close(mapc);
	return (errors || res.timeouts_gave_up) ? 3 : 0;
nomem:
	fprintf(stderr, "catena-udp-bench: out of memory writing the JSON result\n");
	rc = 1;
out:
	close(fd);
	cat_client_close(mapc);
	return rc;
err:
	fprintf(stderr, "catena-udp-bench: %s\n", strerror(-rc));
	close(fd);
	cat_client_close(mapc);
	return 1;
}
