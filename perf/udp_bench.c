/*
 * catena-udp-bench: a closed-loop load generator over a plain kernel UDP
 * socket. Keeps a window of requests outstanding against one node, records
 * every request's latency (first send to matching reply, retransmissions
 * included, so a lost packet shows as a slow request rather than vanishing)
 * and prints throughput and percentiles. It measures what an ordinary UDP
 * application sees; the DPDK load generator (catena-bench) is separate.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "replication/hash.h"
#include "replication/wire.h"

#define MAX_WINDOW 256
#define RTO_NS     (200ull * 1000 * 1000)
/* Log-linear histogram (HdrHistogram's layout): 2^(SUB_BITS-1) buckets per
 * power of two, so a recorded latency is within ~3% of its bucket's value. */
#define SUB_BITS   6
#define SUB_COUNT  (1u << SUB_BITS)
#define HIST_LEN   (64 * SUB_COUNT)

struct slot_req {
	int busy;
	uint64_t seq;
	uint64_t t_first, t_last;
	size_t len;
	uint8_t op;
	uint8_t buf[CAT_WIRE_PAYLOAD_MAX_1500];
};

struct opts {
	const char *host;
	unsigned port, seconds, window, keys, value_size, read_pct;
	int json, preload;
};

static uint64_t hist[HIST_LEN];
static uint64_t st_count[CAT_ST__COUNT];

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static unsigned hist_index(uint64_t v)
{
	unsigned msb, shift;

	if (v < SUB_COUNT)
		return (unsigned)v;
	msb = 63u - (unsigned)__builtin_clzll(v);
	shift = msb - SUB_BITS + 1;
	/* v >> shift lies in [SUB_COUNT/2, SUB_COUNT): its top bit is set. */
	return (shift * SUB_COUNT) + (unsigned)(v >> shift);
}

static uint64_t hist_value(unsigned idx)
{
	unsigned shift = idx / SUB_COUNT, sub = idx % SUB_COUNT;

	if (shift == 0)
		return sub;
	/* Bucket upper edge: report conservatively (never flatter). */
	return ((uint64_t)sub << shift) + ((1ull << shift) - 1);
}

static uint64_t hist_pct(uint64_t total, double p)
{
	uint64_t want = (uint64_t)((double)total * p / 100.0 + 0.5), acc = 0;

	if (want == 0)
		want = 1;
	for (unsigned i = 0; i < HIST_LEN; i++) {
		acc += hist[i];
		if (acc >= want)
			return hist_value(i);
	}
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f,
"usage: catena-udp-bench -H HOST [-p PORT] [-d SECONDS] [-w WINDOW] [-k KEYS]\n"
"                        [-v VALUE_BYTES] [-r READ_PCT] [--no-preload] [--json]\n"
"  Closed loop: WINDOW requests outstanding (default 8) for SECONDS (default 5)\n"
"  over KEYS keys (default 10000, preloaded with PUTs first), READ_PCT %% GETs\n"
"  (default 90), the rest PUTs of VALUE_BYTES (default 32).\n");
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

static int open_socket(const struct opts *o)
{
	struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_DGRAM };
	struct addrinfo *ai;
	char port[8];
	int fd, rc;

	snprintf(port, sizeof(port), "%u", o->port);
	rc = getaddrinfo(o->host, port, &hints, &ai);
	if (rc != 0) {
		fprintf(stderr, "catena-udp-bench: %s: %s\n", o->host, gai_strerror(rc));
		return -EINVAL;
	}
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		fprintf(stderr, "catena-udp-bench: socket: %s\n", strerror(errno));
		freeaddrinfo(ai);
		return -errno;
	}
	freeaddrinfo(ai);
	return fd;
}

static uint32_t client_id;
static uint64_t next_seq = 1;
static uint32_t slot_count;

static size_t build(uint8_t *buf, uint8_t op, uint64_t seq, unsigned keyno,
		    unsigned vsize)
{
	char key[24];
	uint8_t val[CAT_WIRE_PAYLOAD_MAX_1500];
	struct cat_msg m = {0};
	int n = snprintf(key, sizeof(key), "key:%012u", keyno);

	memset(val, 'a' + (int)(seq % 26), vsize);
	m.op = op;
	m.client_id = client_id;
	m.seq = seq;
	m.key = (const uint8_t *)key;
	m.key_len = (uint16_t)n;
	m.slot = (uint16_t)cat_hash_slot(cat_hash_crc32c(key, (size_t)n), slot_count);
	if (op == CAT_OP_PUT) {
		m.value = val;
		m.value_len = vsize;
	}
	return (size_t)cat_wire_encode(buf, CAT_WIRE_PAYLOAD_MAX_1500, &m);
}

/* Learn the slot count; PING is retried a few times. */
static int ping(int fd)
{
	uint8_t buf[2048];
	struct cat_msg m = { .op = CAT_OP_PING, .client_id = client_id, .seq = next_seq++ };
	size_t consumed;

	for (int attempt = 0; attempt < 10; attempt++) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int n = cat_wire_encode(buf, sizeof(buf), &m);

		if (send(fd, buf, (size_t)n, 0) < 0)
			return -errno;
		while (poll(&p, 1, 300) > 0) {
			ssize_t r = recv(fd, buf, sizeof(buf), 0);
			struct cat_msg rep;

			if (r > 0 && cat_wire_decode(buf, (size_t)r, &rep, &consumed) == CAT_WIRE_OK &&
			    (rep.flags & CAT_F_REPLY) && rep.seq == m.seq &&
			    rep.client_id == client_id && rep.status == CAT_ST_OK) {
				slot_count = (uint32_t)rep.arg;
				return cat_hash_slot_count_valid(slot_count) ? 0 : -EPROTO;
			}
		}
	}
	return -ETIMEDOUT;
}

struct run_result {
	uint64_t ops, retrans, timeouts_gave_up;
	uint64_t t_ns;
};

/* Run a closed loop until `total` requests completed (if nonzero) or
 * `until` passes. Request kinds come from next_op(). */
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
				unsigned k;
				uint8_t op;

				if (preload) {
					k = seed_key++;
					op = CAT_OP_PUT;
				} else {
					k = (unsigned)(random() % o->keys);
					op = (unsigned)(random() % 100) < o->read_pct ?
						CAT_OP_GET : CAT_OP_PUT;
				}
				w->seq = next_seq++;
				w->op = op;
				w->len = build(w->buf, op, w->seq, k, o->value_size);
				w->t_first = w->t_last = t;
				w->busy = 1;
				issued++;
				if (send(fd, w->buf, w->len, 0) < 0 && errno != EAGAIN)
					return -errno;
				stop = total ? issued >= total : 0;
			} else if (w->busy && t - w->t_last > RTO_NS) {
				/* Same bytes, same request id: a retry. */
				w->t_last = t;
				res->retrans++;
				if (t - w->t_first > 5000000000ull) {
					res->timeouts_gave_up++;
					w->busy = 0;
					done++;
					continue;
				}
				(void)send(fd, w->buf, w->len, 0);
			}
			outstanding += w->busy;
		}
		if (outstanding == 0 && (total ? issued >= total : now_ns() >= until))
			break;

		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, 10) <= 0)
			continue;
		for (;;) {
			ssize_t r = recv(fd, rbuf, sizeof(rbuf), MSG_DONTWAIT);
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

					if (!w->busy || w->seq != rep.seq)
						continue;
					if (record) {
						uint64_t lat = now_ns() - w->t_first;

						hist[hist_index(lat)]++;
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

int main(int argc, char **argv)
{
	struct opts o;
	struct run_result pre = {0}, res = {0};
	int fd, rc;

	if (parse_opts(argc, argv, &o) < 0) {
		usage(stderr);
		return 64;
	}
	if (getrandom(&client_id, sizeof(client_id), 0) != sizeof(client_id))
		client_id = (uint32_t)getpid();
	srandom(client_id);
	fd = open_socket(&o);
	if (fd < 0)
		return 1;
	rc = ping(fd);
	if (rc < 0) {
		fprintf(stderr, "catena-udp-bench: no answer from %s:%u to PING (%s)\n",
			o.host, o.port, strerror(-rc));
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

	uint64_t total = 0;
	for (unsigned i = 0; i < HIST_LEN; i++)
		total += hist[i];
	double secs = (double)res.t_ns / 1e9;
	double tput = secs > 0 ? (double)total / secs : 0;
	uint64_t errors = total - st_count[CAT_ST_OK] - st_count[CAT_ST_NOT_FOUND];

	if (o.json) {
		printf("{\"host\":\"%s\",\"port\":%u,\"seconds\":%.3f,\"window\":%u,"
		       "\"keys\":%u,\"value_bytes\":%u,\"read_pct\":%u,\"ops\":%llu,"
		       "\"ops_per_sec\":%.1f,\"lat_us\":{\"p50\":%.1f,\"p90\":%.1f,"
		       "\"p99\":%.1f,\"p999\":%.1f,\"max\":%.1f},\"retransmits\":%llu,"
		       "\"gave_up\":%llu,\"error_replies\":%llu}\n",
		       o.host, o.port, secs, o.window, o.keys, o.value_size, o.read_pct,
		       (unsigned long long)total, tput,
		       hist_pct(total, 50) / 1e3, hist_pct(total, 90) / 1e3,
		       hist_pct(total, 99) / 1e3, hist_pct(total, 99.9) / 1e3,
		       hist_pct(total, 100) / 1e3,
		       (unsigned long long)(res.retrans + pre.retrans),
		       (unsigned long long)res.timeouts_gave_up,
		       (unsigned long long)errors);
	} else {
		printf("catena-udp-bench: %s:%u, %u keys, %u-byte values, %u%% GET, window %u\n",
		       o.host, o.port, o.keys, o.value_size, o.read_pct, o.window);
		printf("  requests     %llu in %.2f s = %.0f ops/s\n",
		       (unsigned long long)total, secs, tput);
		printf("  latency us   p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  max %.1f\n",
		       hist_pct(total, 50) / 1e3, hist_pct(total, 90) / 1e3,
		       hist_pct(total, 99) / 1e3, hist_pct(total, 99.9) / 1e3,
		       hist_pct(total, 100) / 1e3);
		printf("  retransmits  %llu   gave up %llu   error replies %llu\n",
		       (unsigned long long)(res.retrans + pre.retrans),
		       (unsigned long long)res.timeouts_gave_up,
		       (unsigned long long)errors);
	}
	close(fd);
	return (errors || res.timeouts_gave_up) ? 3 : 0;
err:
	fprintf(stderr, "catena-udp-bench: %s\n", strerror(-rc));
	close(fd);
	return 1;
}
