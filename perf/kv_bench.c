/*
 * catena-kv-bench: the peer systems' client for perf/compare.sh. Drives
 * Redis (RESP; optionally "WAIT N 0" after every SET, for synchronous
 * replication) or memcached (text protocol) over TCP, closed loop with one
 * request outstanding per connection, and measures each request exactly as
 * catena-bench does: monotonic clock from send to complete reply, into the
 * same log-linear histogram (perf/bench_hist.h), same keys ("k" plus the
 * zero-padded key number), same JSON shape. A SET+WAIT counts as one PUT
 * whose latency ends with the WAIT reply.
 *
 *   catena-kv-bench --proto redis|memcache --port N [options]
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>

#include "perf/bench_json.h"
#include "perf/bench_hist.h"
#include "replication/version.h"

#define CONN_MAX 256
#define BUF_LEN  65536

enum { P_REDIS, P_MEMCACHE };
enum { OPX_GET, OPX_PUT, OPX_N };
static const char *const opx_name[OPX_N] = { "GET", "PUT" };

struct conn {
	int fd;
	int busy;
	int opx;
	int replies_left;       /* SET+WAIT: two replies */
	uint64_t t_sent;
	size_t have;
	char buf[BUF_LEN];
};

static struct {
	int proto;
	const char *host;
	unsigned port, conns, get_pct, key_size, value_size, wait_n;
	uint64_t keys;
	double warmup, duration;
	int preload;
	const char *json_path, *label;
	uint64_t seed;
} o = { .host = "127.0.0.1", .conns = 8, .get_pct = 90, .key_size = 16,
	.value_size = 32, .keys = 100000, .warmup = 1, .duration = 5, .preload = 1,
	.label = NULL, .seed = 1 };

static struct conn conns[CONN_MAX];
static struct cat_hist h_all, h_op[OPX_N];
static uint64_t n_done, n_err, n_miss, n_wait_short;
static int recording;
static struct cat_rng rng;
static char value[65536];

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void usage(FILE *f)
{
	fprintf(f,
"usage: catena-kv-bench --proto redis|memcache --port N [--host A.B.C.D]\n"
"        [--conns N] [--get PCT] [--keys N] [--key-size B] [--value-size B]\n"
"        [--wait N] [--warmup S] [--duration S] [--no-preload] [--json FILE]\n"
"        [--label TEXT] [--seed N]\n"
"  Closed loop, one request outstanding per connection (default 8), PCT %% GET\n"
"  (default 90), the rest SET; --wait N sends \"WAIT N 0\" after each Redis SET.\n");
}

static int num(const char *s, double lo, double hi, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !isfinite(v) || v < lo || v > hi)
		return -EINVAL;
	*out = v;
	return 0;
}

static int parse_opts(int argc, char **argv)
{
	static const struct option lo[] = {
		{"proto", 1, NULL, 'P'}, {"host", 1, NULL, 'H'}, {"port", 1, NULL, 'p'},
		{"conns", 1, NULL, 'c'}, {"get", 1, NULL, 'g'}, {"keys", 1, NULL, 'k'},
		{"key-size", 1, NULL, 'K'}, {"value-size", 1, NULL, 'V'},
		{"wait", 1, NULL, 'W'}, {"warmup", 1, NULL, 'w'},
		{"duration", 1, NULL, 'd'}, {"no-preload", 0, NULL, 'N'},
		{"json", 1, NULL, 'j'}, {"label", 1, NULL, 'l'}, {"seed", 1, NULL, 's'},
		{"help", 0, NULL, 'h'}, {NULL, 0, NULL, 0},
	};
	int c, have_proto = 0;
	double v;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		const char *what = NULL;

		switch (c) {
		case 'P':
			if (strcmp(optarg, "redis") == 0)
				o.proto = P_REDIS;
			else if (strcmp(optarg, "memcache") == 0)
				o.proto = P_MEMCACHE;
			else
				what = "--proto: redis or memcache";
			have_proto = 1;
			break;
		case 'H': o.host = optarg; break;
		case 'p': if (num(optarg, 1, 65535, &v)) what = "--port: 1..65535"; o.port = (unsigned)v; break;
		case 'c': if (num(optarg, 1, CONN_MAX, &v)) what = "--conns: 1..256"; o.conns = (unsigned)v; break;
		case 'g': if (num(optarg, 0, 100, &v)) what = "--get: 0..100"; o.get_pct = (unsigned)v; break;
		case 'k': if (num(optarg, 1, 4e9, &v)) what = "--keys: 1..4e9"; o.keys = (uint64_t)v; break;
		case 'K': if (num(optarg, 2, 250, &v)) what = "--key-size: 2..250"; o.key_size = (unsigned)v; break;
		case 'V': if (num(optarg, 1, 60000, &v)) what = "--value-size: 1..60000"; o.value_size = (unsigned)v; break;
		case 'W': if (num(optarg, 0, 64, &v)) what = "--wait: 0..64"; o.wait_n = (unsigned)v; break;
		case 'w': if (num(optarg, 0, 3600, &v)) what = "--warmup: 0..3600 s"; o.warmup = v; break;
		case 'd': if (num(optarg, 0.01, 86400, &v)) what = "--duration: 0.01..86400 s"; o.duration = v; break;
		case 'N': o.preload = 0; break;
		case 'j': o.json_path = optarg; break;
		case 'l': o.label = optarg; break;
		case 's': if (num(optarg, 0, 1e18, &v)) what = "--seed"; o.seed = (uint64_t)v; break;
		case 'h': usage(stdout); exit(0);
		default:
			fprintf(stderr, "catena-kv-bench: unknown option or missing argument: %s\n",
				argv[optind - 1]);
			return -EINVAL;
		}
		if (what) {
			fprintf(stderr, "catena-kv-bench: bad value \"%s\" for %s\n", optarg, what);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "catena-kv-bench: unexpected argument: %s\n", argv[optind]);
		return -EINVAL;
	}
	if (!have_proto || o.port == 0) {
		fprintf(stderr, "catena-kv-bench: --proto and --port are required\n");
		return -EINVAL;
	}
	if (o.wait_n && o.proto != P_REDIS) {
		fprintf(stderr, "catena-kv-bench: --wait is a Redis command\n");
		return -EINVAL;
	}
	if (o.label == NULL)
		o.label = o.proto == P_REDIS ? "redis" : "memcached";
	return 0;
}

static void key_text(char *p, uint64_t n)
{
	p[0] = 'k';
	for (unsigned i = o.key_size - 1; i >= 1; i--) {
		p[i] = (char)('0' + n % 10);
		n /= 10;
	}
	p[o.key_size] = '\0';
}

static int connect_one(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)o.port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	if (fd < 0 || inet_pton(AF_INET, o.host, &sa.sin_addr) != 1)
		return -EINVAL;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;

		close(fd);
		return -e;
	}
	/* Requests are small and one at a time: never wait for Nagle. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

static int send_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static char req[70000];

static int send_req(struct conn *c, int opx, uint64_t keyno)
{
	char key[256];
	int n;

	key_text(key, keyno);
	if (o.proto == P_REDIS) {
		if (opx == OPX_GET) {
			n = snprintf(req, sizeof(req), "*2\r\n$3\r\nGET\r\n$%u\r\n%s\r\n",
				     o.key_size, key);
		} else {
			n = snprintf(req, sizeof(req), "*3\r\n$3\r\nSET\r\n$%u\r\n%s\r\n$%u\r\n",
				     o.key_size, key, o.value_size);
			memcpy(req + n, value, o.value_size);
			n += (int)o.value_size;
			n += snprintf(req + n, sizeof(req) - (size_t)n, "\r\n");
			if (o.wait_n)
				n += snprintf(req + n, sizeof(req) - (size_t)n,
					      "*3\r\n$4\r\nWAIT\r\n$%u\r\n%u\r\n$1\r\n0\r\n",
					      o.wait_n >= 10 ? 2 : 1, o.wait_n);
		}
	} else {
		if (opx == OPX_GET) {
			n = snprintf(req, sizeof(req), "get %s\r\n", key);
		} else {
			n = snprintf(req, sizeof(req), "set %s 0 0 %u\r\n", key, o.value_size);
			memcpy(req + n, value, o.value_size);
			n += (int)o.value_size;
			n += snprintf(req + n, sizeof(req) - (size_t)n, "\r\n");
		}
	}
	c->opx = opx;
	c->replies_left = (o.proto == P_REDIS && opx == OPX_PUT && o.wait_n) ? 2 : 1;
	c->t_sent = now_ns();
	c->busy = 1;
	return send_all(c->fd, req, (size_t)n);
}

static const char *find_crlf(const char *p, const char *end)
{
	for (; p + 1 < end; p++)
		if (p[0] == '\r' && p[1] == '\n')
			return p;
	return NULL;
}

/*
 * Parse one reply at b[0..n). Returns bytes consumed (0: incomplete) and
 * sets *kind: 0 ok, 1 miss, 2 error reply, 3 WAIT answered short.
 */
static size_t parse_reply(const struct conn *c, const char *b, size_t n, int *kind)
{
	const char *end = b + n, *e = find_crlf(b, end);

	*kind = 0;
	if (e == NULL)
		return 0;
	if (o.proto == P_REDIS) {
		switch (b[0]) {
		case '+': return (size_t)(e + 2 - b);
		case '-': *kind = 2; return (size_t)(e + 2 - b);
		case ':':
			if (c->replies_left == 1 && c->opx == OPX_PUT &&
			    strtol(b + 1, NULL, 10) < (long)o.wait_n)
				*kind = 3;
			return (size_t)(e + 2 - b);
		case '$': {
			long len = strtol(b + 1, NULL, 10);

			if (len < 0) {
				*kind = 1;
				return (size_t)(e + 2 - b);
			}
			if ((size_t)(e + 2 - b) + (size_t)len + 2 > n)
				return 0;
			return (size_t)(e + 2 - b) + (size_t)len + 2;
		}
		default: *kind = 2; return n;
		}
	}
	if (strncmp(b, "STORED", 6) == 0)
		return (size_t)(e + 2 - b);
	if (strncmp(b, "END", 3) == 0) {
		*kind = 1;
		return (size_t)(e + 2 - b);
	}
	if (strncmp(b, "VALUE ", 6) == 0) {
		/* VALUE <key> <flags> <bytes>\r\n<data>\r\nEND\r\n */
		const char *sp = e;
		size_t len, hdr = (size_t)(e + 2 - b);

		while (sp > b && sp[-1] != ' ')
			sp--;
		len = (size_t)strtoul(sp, NULL, 10);
		if (hdr + len + 2 + 5 > n)
			return 0;
		return hdr + len + 2 + 5;
	}
	*kind = 2;
	return (size_t)(e + 2 - b);
}

static void complete(struct conn *c, int kind)
{
	uint64_t lat = now_ns() - c->t_sent;

	c->busy = 0;
	if (!recording)
		return;
	if (kind == 2 || kind == 3) {
		n_err++;
		n_wait_short += kind == 3;
		return;
	}
	n_miss += kind == 1;
	n_done++;
	cat_hist_record(&h_all, lat);
	cat_hist_record(&h_op[c->opx], lat);
}

/* Closed loop over every connection until `until` (ns) or, when preload,
 * until every key was SET once. */
static int loop(uint64_t until, int preload)
{
	struct pollfd pfd[CONN_MAX];
	uint64_t next_key = 0;

	for (;;) {
		int stop = preload ? next_key >= o.keys : now_ns() >= until, busy = 0;

		for (unsigned i = 0; i < o.conns; i++) {
			struct conn *c = &conns[i];

			if (!c->busy && !stop) {
				int opx = preload ? OPX_PUT :
					(cat_rng_below(&rng, 100) < o.get_pct ? OPX_GET : OPX_PUT);
				uint64_t k = preload ? next_key++ : cat_rng_below(&rng, o.keys);

				if (send_req(c, opx, k) < 0) {
					fprintf(stderr, "catena-kv-bench: send: %s\n", strerror(errno));
					return -EIO;
				}
				stop = preload ? next_key >= o.keys : 0;
			}
			busy += c->busy;
			pfd[i].fd = c->fd;
			pfd[i].events = POLLIN;
		}
		if (busy == 0 && stop)
			return 0;
		if (poll(pfd, o.conns, 1000) < 0 && errno != EINTR)
			return -errno;
		for (unsigned i = 0; i < o.conns; i++) {
			struct conn *c = &conns[i];
			size_t off = 0, used;
			ssize_t r;
			int kind;

			if (!(pfd[i].revents & (POLLIN | POLLERR | POLLHUP)))
				continue;
			r = recv(c->fd, c->buf + c->have, BUF_LEN - c->have, MSG_DONTWAIT);
			if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
				fprintf(stderr, "catena-kv-bench: connection %u closed by the server\n", i);
				return -EPIPE;
			}
			if (r < 0)
				continue;
			c->have += (size_t)r;
			while (c->busy && (used = parse_reply(c, c->buf + off, c->have - off, &kind)) > 0) {
				off += used;
				if (kind >= 2 || --c->replies_left == 0)
					complete(c, kind);
			}
			memmove(c->buf, c->buf + off, c->have - off);
			c->have -= off;
		}
	}
}

/* --json FILE: the run in catena-bench's shape (perf/compare.sh reads
 * both alike), through jansson. 0, or -1 after saying why. */
static int write_json(double secs)
{
	json_t *r = json_object(), *run = json_object(), *ops = json_object();
	FILE *f;
	int rc;

	if (r == NULL || run == NULL || ops == NULL) {
		fprintf(stderr, "catena-kv-bench: --json %s: out of memory\n", o.json_path);
		return -1;
	}
	cat_bench_json_set(r, "tool", json_string("catena-kv-bench"));
	cat_bench_json_set(r, "label", cat_bench_json_str(o.label));
	cat_bench_json_set(r, "transport", json_string("tcp"));
	cat_bench_json_set(r, "proto", json_string(o.proto == P_REDIS ? "redis" : "memcache"));
	cat_bench_json_set(r, "mode", json_string("closed"));
	cat_bench_json_set(r, "window", json_integer(o.conns));
	cat_bench_json_set(r, "mix", json_pack("{s:i,s:i}", "get", (int)o.get_pct,
					      "put", (int)(100 - o.get_pct)));
	cat_bench_json_set(r, "keys", json_integer((json_int_t)o.keys));
	cat_bench_json_set(r, "key_size", json_integer(o.key_size));
	cat_bench_json_set(r, "value_size", json_integer(o.value_size));
	cat_bench_json_set(r, "wait", json_integer(o.wait_n));
	cat_bench_json_set(r, "duration_s", cat_bench_json_num(o.duration));
	cat_bench_json_set(run, "offered_ops", json_integer(0));
	cat_bench_json_set(run, "achieved_ops", cat_bench_json_num(n_done / secs));
	cat_bench_json_set(run, "seconds", cat_bench_json_num(secs));
	cat_bench_json_set(run, "completed", json_integer((json_int_t)n_done));
	cat_bench_json_set(run, "timeouts", json_integer(0));
	cat_bench_json_set(run, "errors", json_pack("{s:I,s:I}",
		"error replies", (json_int_t)n_err, "wait short", (json_int_t)n_wait_short));
	cat_bench_json_set(run, "not_found", json_integer((json_int_t)n_miss));
	cat_bench_json_set(run, "lat_us", cat_bench_json_hist(&h_all, 1, 0, 1, 1));
	for (int i = 0; i < OPX_N; i++)
		cat_bench_json_set(ops, opx_name[i], cat_bench_json_hist(&h_op[i], 1, 0, 1, 0));
	cat_bench_json_set(run, "ops", ops);
	cat_bench_json_set(r, "runs", json_pack("[o]", run));
	f = fopen(o.json_path, "w");
	if (f == NULL) {
		fprintf(stderr, "catena-kv-bench: --json %s: %s\n", o.json_path,
			strerror(errno));
		json_decref(r);
		return -1;
	}
	rc = cat_bench_json_dump(r, f);
	if (fclose(f) != 0 || rc < 0) {
		fprintf(stderr, "catena-kv-bench: --json %s: write failed\n", o.json_path);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	double secs;
	uint64_t t0, t1;
	int rc;

	if (cat_version_arg(argc, argv, "catena-kv-bench"))
		return 0;
	if (parse_opts(argc, argv) < 0) {
		usage(stderr);
		return 64;
	}
	memset(value, 'v', sizeof(value));
	cat_rng_seed(&rng, o.seed);
	for (unsigned i = 0; i < o.conns; i++) {
		conns[i].fd = connect_one();
		if (conns[i].fd < 0) {
			fprintf(stderr, "catena-kv-bench: connect %s:%u: %s\n", o.host, o.port,
				strerror(-conns[i].fd));
			return 2;
		}
	}
	cat_hist_reset(&h_all);
	for (int i = 0; i < OPX_N; i++)
		cat_hist_reset(&h_op[i]);
	if (o.preload && (rc = loop(0, 1)) < 0)
		return 1;
	if (o.warmup > 0 && (rc = loop(now_ns() + (uint64_t)(o.warmup * 1e9), 0)) < 0)
		return 1;
	recording = 1;
	t0 = now_ns();
	if ((rc = loop(t0 + (uint64_t)(o.duration * 1e9), 0)) < 0)
		return 1;
	t1 = now_ns();
	secs = (double)(t1 - t0) / 1e9;

	printf("catena-kv-bench %s: %s, closed loop, %u connections, %u%% GET, %" PRIu64
	       " keys, key %u B, value %u B%s\n", o.label,
	       o.proto == P_REDIS ? "redis" : "memcache", o.conns, o.get_pct, o.keys,
	       o.key_size, o.value_size, o.wait_n ? ", WAIT after each SET" : "");
	printf("%-5s %10s %8s %8s %8s %8s %9s %9s %7s\n", "op", "ops/s", "p50 us",
	       "p90 us", "p99 us", "p99.9", "p99.99", "max us", "errors");
	for (int i = -1; i < OPX_N; i++) {
		const struct cat_hist *h = i < 0 ? &h_all : &h_op[i];

		if (h->count == 0 && i >= 0)
			continue;
		printf("%-5s %10.0f %8.1f %8.1f %8.1f %8.1f %9.1f %9.1f %7" PRIu64 "\n",
		       i < 0 ? "all" : opx_name[i], h->count / secs,
		       cat_hist_percentile(h, 50) / 1e3, cat_hist_percentile(h, 90) / 1e3,
		       cat_hist_percentile(h, 99) / 1e3, cat_hist_percentile(h, 99.9) / 1e3,
		       cat_hist_percentile(h, 99.99) / 1e3, cat_hist_percentile(h, 100) / 1e3,
		       i < 0 ? n_err : 0);
	}
	if (o.json_path && write_json(secs) < 0)
		return 1;
	for (unsigned i = 0; i < o.conns; i++)
		close(conns[i].fd);
	return n_err ? 3 : 0;
}
