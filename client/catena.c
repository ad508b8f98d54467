/*
 * libcatena: kernel UDP client of a catena cluster (contract in catena.h).
 * One unconnected UDP socket per client: a write goes to its chain's head
 * but is answered by the tail, so replies are matched by request id from
 * any address. Each request is one message in one datagram, re-sent with
 * the same client id + seq until a matching reply arrives or the retry
 * budget is spent. Never prints, never depends on DPDK.
 */
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
/* After <time.h>: it uses struct timespec without including it. */
#include <linux/errqueue.h>

#include "client/catena.h"
#include "replication/hash.h"

/* The largest datagram the kernel can hand us: reading into a buffer this
 * big means an oversized (bogus) datagram is seen whole and discarded by
 * decode, never silently truncated into something that looks valid. */
#define RX_CAP 65536u

/* RETRY backoff: short, doubling, capped at the per-try timeout. */
#define RETRY_BACKOFF_FIRST_MS 5

/* A map fetch restarts from offset 0 when the text changes under it (a new
 * epoch between two chunks); past this many restarts the cluster is
 * changing faster than we can read it and the fetch fails. */
#define MAP_FETCH_RESTARTS_MAX 8

/* Nodes a map fetch may ask: the one that said MOVED, the bootstrap list,
 * the nodes of the cached map. */
#define CAND_MAX (1 + CAT_CLIENT_BOOTSTRAP_MAX + (int)CAT_MAP_NODES_MAX)

struct cat_client {
	int fd;
	uint32_t client_id;
	uint32_t slot_count;   /* without a map: learnt; 0 = not yet */
	uint32_t epoch;        /* of the last reply */
	uint64_t seq;          /* last seq used */
	uint64_t rng;          /* xorshift state: CRAQ replica choice */
	int timeout_ms;        /* wait of the first try */
	int tries;             /* first try + retries; INT_MAX = until deadline */
	int deadline_ms;       /* per request; 0 = none (the count bounds it) */
	int backoff;           /* waits double up to the cap (default budget) */
	int probe_next;        /* rotation over the nodes asked for the epoch */
	uint32_t mtu;
	size_t tx_cap;         /* one UDP payload at this MTU */
	uint8_t *tx;
	int n_boot;
	struct sockaddr_in boot[CAT_CLIENT_BOOTSTRAP_MAX];
	struct cat_map *map;   /* NULL = none cached */
	char *map_text;        /* as served, NUL-terminated; with map */
	size_t map_text_len;
	/* Set when a node answered MAP_GET with UNKNOWN_OP: it predates the
	 * map, so it is the whole cluster and every request goes to it. */
	int single;
	struct sockaddr_in single_addr;
	uint8_t rx[RX_CAP];
};

void cat_client_opts_init(struct cat_client_opts *o, const char *host)
{
	memset(o, 0, sizeof(*o));
	o->host = host;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000,
			       .tv_nsec = (long)(ms % 1000) * 1000000L };

	while (clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, &ts) == EINTR)
		;
}

static uint32_t random_client_id(void)
{
	uint32_t id = 0;
	struct timespec ts;

	/* 0 is avoided so that "no client id" can never appear on the wire. */
	while (id == 0) {
		if (getrandom(&id, sizeof(id), 0) != (ssize_t)sizeof(id)) {
			/* getrandom only fails on very old kernels; a
			 * clock/pid mix still makes collisions unlikely. */
			clock_gettime(CLOCK_REALTIME, &ts);
			id = (uint32_t)ts.tv_nsec ^ ((uint32_t)ts.tv_sec << 12) ^
			     ((uint32_t)getpid() << 20);
		}
	}
	return id;
}

static uint64_t next_random(struct cat_client *c)
{
	/* xorshift64: only spreads CRAQ reads over replicas, so statistical
	 * quality beyond "not always the same node" does not matter. */
	c->rng ^= c->rng << 13;
	c->rng ^= c->rng >> 7;
	c->rng ^= c->rng << 17;
	return c->rng;
}

static int resolve(const char *host, uint16_t port, struct sockaddr_in *sa)
{
	struct addrinfo hints, *res = NULL;
	int rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_INET;
	hints.ai_socktype = SOCK_DGRAM;
	rc = getaddrinfo(host, NULL, &hints, &res);
	if (rc != 0) {
		switch (rc) {
		case EAI_MEMORY: return -ENOMEM;
		case EAI_AGAIN: return -EAGAIN;
		case EAI_SYSTEM: return errno ? -errno : -EHOSTUNREACH;
		default: return -EHOSTUNREACH;
		}
	}
	memcpy(sa, res->ai_addr, sizeof(*sa));
	sa->sin_port = htons(port);
	freeaddrinfo(res);
	return 0;
}

/*
 * Parse "HOST[:PORT][,HOST[:PORT]]..." into c->boot. Strict: an empty
 * entry, a bad port or too many entries is -EINVAL (a typo in a host list
 * must not silently shrink it); a name that does not resolve fails too.
 */
static int parse_hosts(struct cat_client *c, const char *list,
		       uint16_t def_port)
{
	const char *p = list, *end, *colon;
	char name[256];
	size_t len;
	int rc;

	for (;;) {
		unsigned long port = def_port;

		while (*p == ' ' || *p == '\t')
			p++;
		end = strchr(p, ',');
		if (end == NULL)
			end = p + strlen(p);
		len = (size_t)(end - p);
		while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
			len--;
		if (len == 0 || len >= sizeof(name) ||
		    c->n_boot >= CAT_CLIENT_BOOTSTRAP_MAX)
			return -EINVAL;
		memcpy(name, p, len);
		name[len] = '\0';
		colon = strchr(name, ':');
		if (colon != NULL) {
			const char *d = colon + 1;

			port = 0;
			if (*d == '\0' || strlen(d) > 5)
				return -EINVAL;
			for (; *d; d++) {
				if (*d < '0' || *d > '9')
					return -EINVAL;
				port = port * 10 + (unsigned long)(*d - '0');
			}
			if (port < 1 || port > 65535 || colon == name)
				return -EINVAL;
			name[colon - name] = '\0';
		}
		rc = resolve(name, (uint16_t)port, &c->boot[c->n_boot]);
		if (rc < 0)
			return rc;
		c->n_boot++;
		if (*end == '\0')
			return 0;
		p = end + 1;
	}
}

struct cat_client *cat_client_open(const struct cat_client_opts *o, int *err)
{
	struct cat_client *c = NULL;
	struct timespec ts;
	int rc, one = 1;

	if (o == NULL || o->host == NULL || o->host[0] == '\0' ||
	    o->timeout_ms < 0 || o->retries > CAT_CLIENT_RETRIES_MAX ||
	    o->deadline_ms < 0 || o->deadline_ms > CAT_CLIENT_DEADLINE_MAX_MS) {
		rc = -EINVAL;
		goto fail;
	}
	/* The MTU must leave room for IP+UDP, a header and a 1-byte key,
	 * and a payload a UDP datagram can carry. */
	if (o->mtu != 0 && (o->mtu < 28u + CAT_WIRE_HDR_LEN + 1u ||
			    o->mtu > 65535u)) {
		rc = -EINVAL;
		goto fail;
	}

	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		rc = -ENOMEM;
		goto fail;
	}
	c->fd = -1;
	c->mtu = o->mtu ? o->mtu : CAT_CLIENT_DEFAULT_MTU;
	c->tx_cap = c->mtu - 28u;
	c->tx = malloc(c->tx_cap);
	if (c->tx == NULL) {
		rc = -ENOMEM;
		goto fail;
	}
	c->timeout_ms = o->timeout_ms ? o->timeout_ms
				      : CAT_CLIENT_DEFAULT_TIMEOUT_MS;
	/* A count given means the caller's own budget: that many tries of
	 * timeout_ms each, and a deadline only if one is given too. The
	 * default is a deadline that outlasts a failover (catena.h). */
	if (o->retries != 0) {
		c->tries = o->retries < 0 ? 1 : 1 + o->retries;
		c->deadline_ms = o->deadline_ms;
	} else {
		c->tries = INT_MAX;
		c->deadline_ms = o->deadline_ms ? o->deadline_ms
						: CAT_CLIENT_DEFAULT_DEADLINE_MS;
		c->backoff = 1;
	}
	c->client_id = o->client_id ? o->client_id : random_client_id();
	/* Start seq at the wall clock: a process that restarts with the same
	 * explicit client id still issues seqs above its earlier ones, so a
	 * node's duplicate table cannot mistake a new request for an old one. */
	clock_gettime(CLOCK_REALTIME, &ts);
	c->seq = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	c->rng = c->seq ^ ((uint64_t)c->client_id << 32) ^ 0x9E3779B97F4A7C15ull;
	if (c->rng == 0)
		c->rng = 1;

	rc = parse_hosts(c, o->host,
			 o->port ? o->port : CAT_WIRE_DEFAULT_PORT);
	if (rc < 0)
		goto fail;
	c->fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		rc = -errno;
		goto fail;
	}
	/* Unconnected, because a write's reply comes from the chain's tail,
	 * not from the head we sent it to. IP_RECVERR keeps what a connected
	 * socket gave for free: an ICMP port unreachable is queued with the
	 * address it is about, so "nothing listens there" is still told
	 * apart from "no answer". */
	if (setsockopt(c->fd, IPPROTO_IP, IP_RECVERR, &one, sizeof(one)) < 0) {
		rc = -errno;
		goto fail;
	}
	if (err)
		*err = 0;
	return c;

fail:
	cat_client_close(c);
	if (err)
		*err = rc;
	return NULL;
}

static void drop_map(struct cat_client *c)
{
	cat_map_free(c->map);
	free(c->map_text);
	c->map = NULL;
	c->map_text = NULL;
	c->map_text_len = 0;
}

void cat_client_close(struct cat_client *c)
{
	if (c == NULL)
		return;
	if (c->fd >= 0)
		close(c->fd);
	drop_map(c);
	free(c->tx);
	free(c);
}

uint32_t cat_client_id(const struct cat_client *c)
{
	return c ? c->client_id : 0;
}

uint32_t cat_client_slot_count(const struct cat_client *c)
{
	if (c == NULL)
		return 0;
	return c->map ? c->map->slot_count : c->slot_count;
}

uint32_t cat_client_epoch(const struct cat_client *c)
{
	return c ? c->epoch : 0;
}

uint32_t cat_client_map_epoch(const struct cat_client *c)
{
	return c && c->map ? c->map->epoch : 0;
}

const struct cat_map *cat_client_map(const struct cat_client *c)
{
	return c ? c->map : NULL;
}

const char *cat_client_map_text(const struct cat_client *c, size_t *len)
{
	if (c == NULL || c->map == NULL)
		return NULL;
	if (len)
		*len = c->map_text_len;
	return c->map_text;
}

static int same_addr(const struct sockaddr_in *a, const struct sockaddr_in *b)
{
	return a->sin_addr.s_addr == b->sin_addr.s_addr &&
	       a->sin_port == b->sin_port;
}

/*
 * Look for the reply to req in one datagram (which may hold several
 * messages back to back). Returns 1 and fills *rep if found. Anything that
 * does not decode or does not match is skipped: it is a late reply to an
 * earlier request, a duplicate, or noise.
 */
static int find_reply(const uint8_t *buf, size_t len,
		      const struct cat_msg *req, struct cat_msg *rep)
{
	size_t off = 0, used;
	struct cat_msg m;

	while (off < len) {
		if (cat_wire_decode(buf + off, len - off, &m, &used) !=
		    CAT_WIRE_OK)
			return 0; /* cannot find the next message boundary */
		off += used;
		if (!(m.flags & CAT_F_REPLY) || m.client_id != req->client_id ||
		    m.seq != req->seq || m.op != req->op)
			continue;
		/* Replies repeat the request's key (docs/PROTOCOL.md); one
		 * that names another key is not ours whatever its id says.
		 * A reply without a key (the node could not parse that far)
		 * is still accepted. */
		if (m.key_len != 0 &&
		    (m.key_len != req->key_len ||
		     memcmp(m.key, req->key, m.key_len) != 0))
			continue;
		*rep = m;
		return 1;
	}
	return 0;
}

/*
 * Read the socket's error queue (IP_RECVERR) and note an ICMP port
 * unreachable about dst. Errors about other nodes (an earlier request's
 * node) are dropped: they say nothing about this try.
 */
static void drain_errors(struct cat_client *c, const struct sockaddr_in *dst,
			 int *refused)
{
	union {
		char buf[CMSG_SPACE(sizeof(struct sock_extended_err) +
				    sizeof(struct sockaddr_in))];
		struct cmsghdr align;
	} ctl;
	struct sockaddr_in orig;
	uint8_t dummy[64];
	struct iovec iov = { .iov_base = dummy, .iov_len = sizeof(dummy) };
	struct msghdr mh;
	struct cmsghdr *cm;
	int soerr;
	socklen_t sl = sizeof(soerr);

	for (;;) {
		memset(&mh, 0, sizeof(mh));
		mh.msg_name = &orig;
		mh.msg_namelen = sizeof(orig);
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		mh.msg_control = ctl.buf;
		mh.msg_controllen = sizeof(ctl.buf);
		if (recvmsg(c->fd, &mh, MSG_ERRQUEUE | MSG_DONTWAIT) < 0)
			break;
		for (cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
			const struct sock_extended_err *ee;

			if (cm->cmsg_level != IPPROTO_IP ||
			    cm->cmsg_type != IP_RECVERR)
				continue;
			ee = (const struct sock_extended_err *)CMSG_DATA(cm);
			if (ee->ee_origin == SO_EE_ORIGIN_ICMP &&
			    ee->ee_errno == ECONNREFUSED &&
			    mh.msg_namelen >= sizeof(orig) &&
			    same_addr(&orig, dst))
				*refused = 1;
		}
	}
	/* The pending socket error mirrors the queue; clear it so that
	 * poll stops reporting POLLERR for an error already handled. */
	(void)getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
}

/*
 * Wait up to ms for the reply to req, from any address (a write is
 * answered by its chain's tail), or to probe (if not NULL: a MAP_GET sent
 * meanwhile to learn whether the map changed). Returns 1 (req's reply) or
 * 2 (probe's): *rep is filled, pointing into c->rx, and *from = the
 * replier; 0 (timed out), or a negative errno for a socket error.
 * *refused is set when an ICMP port unreachable about dst arrived
 * meanwhile.
 */
static int wait_reply(struct cat_client *c, const struct cat_msg *req,
		      const struct cat_msg *probe,
		      const struct sockaddr_in *dst, struct cat_msg *rep,
		      struct sockaddr_in *from, int ms, int *refused)
{
	int64_t deadline = now_ms() + ms;
	struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
	struct sockaddr_in src;
	socklen_t sl;
	ssize_t n;
	int left, prc, which;

	for (;;) {
		left = (int)(deadline - now_ms());
		if (left < 0)
			left = 0;
		prc = poll(&pfd, 1, left);
		if (prc < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (prc == 0)
			return 0;
		if (pfd.revents & POLLERR)
			drain_errors(c, dst, refused);
		if (!(pfd.revents & POLLIN)) {
			if (left == 0)
				return 0;
			continue;
		}
		sl = sizeof(src);
		n = recvfrom(c->fd, c->rx, sizeof(c->rx), MSG_DONTWAIT,
			     (struct sockaddr *)&src, &sl);
		if (n < 0) {
			if (errno == ECONNREFUSED || errno == EHOSTUNREACH ||
			    errno == ENETUNREACH)
				drain_errors(c, dst, refused);
			else if (errno != EINTR && errno != EAGAIN &&
				 errno != EWOULDBLOCK)
				return -errno;
			continue;
		}
		which = find_reply(c->rx, (size_t)n, req, rep) ? 1
			: probe && find_reply(c->rx, (size_t)n, probe, rep) ? 2
			: 0;
		if (which) {
			if (from)
				*from = src;
			return which;
		}
	}
}

/* Send one datagram; transient errors count as a lost try. */
static int send_to(struct cat_client *c, const void *buf, size_t n,
		   const struct sockaddr_in *dst, int *refused)
{
	if (sendto(c->fd, buf, n, 0, (const struct sockaddr *)dst,
		   sizeof(*dst)) >= 0)
		return 0;
	if (errno == ECONNREFUSED) {
		/* An earlier ICMP error surfaced on this send; the queued
		 * error tells whom it is about. Send once more. */
		drain_errors(c, dst, refused);
		if (sendto(c->fd, buf, n, 0, (const struct sockaddr *)dst,
			   sizeof(*dst)) >= 0 || errno == ECONNREFUSED)
			return 0;
	}
	if (errno == EINTR || errno == ENOBUFS || errno == EAGAIN ||
	    errno == EHOSTUNREACH || errno == ENETUNREACH)
		return 0;
	return -errno;
}

static uint64_t next_seq(struct cat_client *c)
{
	return ++c->seq;
}

/* ---- the budget of one request ---- */

/*
 * What one call may still spend: tries (the count, INT_MAX by default) and
 * time (an absolute deadline; 0 = none, the count alone bounds it), and
 * the wait of the next try, which doubles after each silent one up to
 * CAT_CLIENT_TIMEOUT_CAP_MS with the default budget, and stays timeout_ms
 * with an explicit count.
 */
struct budget {
	int64_t deadline;
	int tries;
	int wait;
};

static void budget_start(const struct cat_client *c, struct budget *b)
{
	b->deadline = c->deadline_ms ? now_ms() + c->deadline_ms : 0;
	b->tries = c->tries;
	b->wait = c->timeout_ms;
}

/* ms before the deadline (INT_MAX without one); 0 once it has passed. */
static int budget_left(const struct budget *b)
{
	int64_t left;

	if (b->deadline == 0)
		return INT_MAX;
	left = b->deadline - now_ms();
	return left <= 0 ? 0 : left > INT_MAX ? INT_MAX : (int)left;
}

/* Take one try: returns how long it may wait (> 0), or 0 if the budget is
 * spent (no try left, or the deadline has passed). */
static int budget_take(struct budget *b)
{
	int left = budget_left(b);

	if (b->tries <= 0 || left == 0)
		return 0;
	b->tries--;
	return b->wait < left ? b->wait : left;
}

/* A try went unanswered: the next one waits longer (default budget). */
static void budget_silent(const struct cat_client *c, struct budget *b)
{
	int cap = c->timeout_ms > CAT_CLIENT_TIMEOUT_CAP_MS
			  ? c->timeout_ms : CAT_CLIENT_TIMEOUT_CAP_MS;

	if (c->backoff)
		b->wait = b->wait > cap / 2 ? cap : b->wait * 2;
}

/* The RETRY pause: *backoff ms (cut at the deadline), then doubled up to
 * the per-try timeout. */
static void budget_pause(const struct cat_client *c, const struct budget *b,
			 int *backoff)
{
	int left = budget_left(b);

	sleep_ms(*backoff < left ? *backoff : left);
	*backoff = *backoff * 2 > c->timeout_ms ? c->timeout_ms : *backoff * 2;
}

static int learn_slot_count(struct cat_client *c, uint64_t arg)
{
	if (arg > UINT32_MAX || !cat_hash_slot_count_valid((uint32_t)arg))
		return -EPROTO;
	c->slot_count = (uint32_t)arg;
	return 0;
}

/* ---- the cluster map ---- */

static void add_cand(struct sockaddr_in *cand, int *n,
		     const struct sockaddr_in *a)
{
	for (int i = 0; i < *n; i++)
		if (same_addr(&cand[i], a))
			return;
	if (*n < CAND_MAX)
		cand[(*n)++] = *a;
}

static void node_addr(const struct cat_map_node *nd, struct sockaddr_in *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_addr.s_addr = htonl(nd->ip);
	sa->sin_port = htons(nd->udp_port);
}

/* A map fetch under way: whom to ask, and the text read so far. */
struct map_fetch {
	struct sockaddr_in cand[CAND_MAX];
	int n, ci;                 /* candidates; the one asked now */
	struct cat_msg req;        /* MAP_GET; arg = offset of the chunk */
	char *text;                /* CAT_MAP_TEXT_MAX + 1 */
	uint32_t total, epoch, have; /* of the text being read */
	int lost, restarts;
	int bad;                   /* a node answered something unusable */
};

/* Whom a fetch asks, in order: first (if not NULL), the bootstrap list,
 * the cached map's nodes, and avoid (if not NULL) last. */
static void fetch_cands(const struct cat_client *c, struct map_fetch *f,
			const struct sockaddr_in *first,
			const struct sockaddr_in *avoid)
{
	if (first)
		add_cand(f->cand, &f->n, first);
	for (int i = 0; i < c->n_boot; i++)
		if (!avoid || !same_addr(&c->boot[i], avoid))
			add_cand(f->cand, &f->n, &c->boot[i]);
	if (c->map) {
		for (uint16_t i = 0; i < c->map->n_nodes; i++) {
			struct sockaddr_in sa;

			node_addr(&c->map->nodes[i], &sa);
			if (!avoid || !same_addr(&sa, avoid))
				add_cand(f->cand, &f->n, &sa);
		}
	}
	if (avoid)
		add_cand(f->cand, &f->n, avoid);
}

/* The node asked got nothing useful from this try: ask the next. */
static void fetch_next_node(struct map_fetch *f)
{
	f->lost++;
	f->ci = (f->ci + 1) % f->n;
}

/* ... because what it answered was unusable. */
static void fetch_skip_node(struct map_fetch *f)
{
	f->bad = 1;
	fetch_next_node(f);
}

enum { CHUNK_MORE = 1, CHUNK_CURRENT, CHUNK_COMPLETE };

/*
 * One answer to the fetch's MAP_GET (from: who sent it). CHUNK_MORE: ask
 * again (the same node, or the next one); CHUNK_CURRENT: the cached map is
 * current; CHUNK_COMPLETE: f->text holds the whole text; or a negative
 * errno (-EOPNOTSUPP: a node from before the map, now c->single).
 */
static int fetch_take_chunk(struct cat_client *c, struct map_fetch *f,
			    const struct cat_msg *rep,
			    const struct sockaddr_in *from,
			    const struct budget *b, int *backoff)
{
	if (rep->status == CAT_ST_UNKNOWN_OP) {
		/* A node from before the map: if nothing better is
		 * known, it is a single-node cluster. */
		if (c->map == NULL) {
			c->single = 1;
			c->single_addr = *from;
			return -EOPNOTSUPP;
		}
		fetch_skip_node(f);
		return CHUNK_MORE;
	}
	if (rep->status == CAT_ST_RETRY) {
		budget_pause(c, b, backoff);
		f->lost++;
		return CHUNK_MORE;
	}
	if (rep->status != CAT_ST_OK || rep->arg == 0 ||
	    rep->arg > CAT_MAP_TEXT_MAX) {
		fetch_skip_node(f);
		return CHUNK_MORE;
	}
	if (f->have == 0 && c->map && rep->epoch <= c->map->epoch) {
		if (rep->epoch == c->map->epoch)
			return CHUNK_CURRENT;
		/* A node still at an older epoch: ask the next. */
		fetch_skip_node(f);
		return CHUNK_MORE;
	}
	if (f->have != 0 && (rep->epoch != f->epoch || rep->arg != f->total)) {
		/* The text changed under us (or this node is at
		 * another epoch): this chunk belongs to another
		 * text, so start over from offset 0. */
		if (++f->restarts > MAP_FETCH_RESTARTS_MAX)
			return -EPROTO;
		f->have = 0;
		f->req.seq = next_seq(c);
		return CHUNK_MORE;
	}
	if (f->have == 0) {
		f->epoch = rep->epoch;
		f->total = (uint32_t)rep->arg;
	}
	if (rep->value_len == 0 || rep->value_len > f->total - f->have) {
		fetch_skip_node(f);
		f->have = 0;
		f->req.seq = next_seq(c);
		return CHUNK_MORE;
	}
	memcpy(f->text + f->have, rep->value, rep->value_len);
	f->have += rep->value_len;
	f->req.seq = next_seq(c);
	return f->have < f->total ? CHUNK_MORE : CHUNK_COMPLETE;
}

/* Parse the whole text and make it the client's map (which then owns
 * f->text): 1, or 0 when it is no use (ask the next node), or -ENOMEM. */
static int fetch_install(struct cat_client *c, struct map_fetch *f)
{
	struct cat_map *m = NULL;
	char errbuf[160];
	int rc;

	f->text[f->total] = '\0';
	f->have = 0;
	rc = cat_map_parse(f->text, f->total, &m, errbuf, sizeof(errbuf));
	if (rc == -ENOMEM)
		return rc;
	if (rc < 0 || (c->map && m->epoch < c->map->epoch)) {
		/* Garbage, or a node still at an older epoch than
		 * the map we hold: ask the next one. */
		cat_map_free(m);
		fetch_skip_node(f);
		return 0;
	}
	drop_map(c);
	c->map = m;
	c->map_text = f->text;
	c->map_text_len = f->total;
	c->single = 0;
	f->text = NULL;
	return 1;
}

/*
 * Fetch the map text with MAP_GET, chunk by chunk, and install it.
 *
 * Nodes are asked in order: first (if not NULL: the node that said MOVED),
 * the bootstrap list, the cached map's nodes, and avoid (a node that just
 * went silent) last. A node that does not answer one chunk costs one
 * timeout and the next node is asked for the same chunk: every node of one
 * epoch serves the same canonical text, so progress is kept as long as the
 * epoch and length stay the same, and the fetch restarts at offset 0 when
 * they change. A node at the cached map's epoch ends the fetch after its
 * first chunk: the text of one epoch is the same everywhere, so the cached
 * map is current as far as that node knows.
 *
 * Lost tries (and RETRY answers) are bounded by the client's count, at
 * least one per candidate, and by deadline (absolute ms, 0 = none): the
 * calling request's, so a fetch never outlives it.
 *
 * Returns 0 (installed, or the cached map is current), -EOPNOTSUPP (a node
 * answered UNKNOWN_OP and no map is cached: c->single is set to it), or a
 * negative errno.
 */
static int fetch_map(struct cat_client *c, const struct sockaddr_in *first,
		     const struct sockaddr_in *avoid, int64_t deadline)
{
	struct map_fetch f;
	struct sockaddr_in from;
	struct cat_msg rep;
	uint8_t hdr[CAT_WIRE_HDR_LEN];
	int refused = 0, all_refused = 1, sent = 0;
	int rc, wait, budget = c->tries;
	int backoff = RETRY_BACKOFF_FIRST_MS;
	struct budget b = { .deadline = deadline, .tries = INT_MAX,
			    .wait = c->timeout_ms };

	memset(&f, 0, sizeof(f));
	fetch_cands(c, &f, first, avoid);
	/* Every candidate gets at least one chance. */
	if (budget < f.n)
		budget = f.n;

	f.text = malloc(CAT_MAP_TEXT_MAX + 1);
	if (f.text == NULL)
		return -ENOMEM;
	f.req.op = CAT_OP_MAP_GET;
	f.req.client_id = c->client_id;
	f.req.seq = next_seq(c);

	while (f.lost < budget && (wait = budget_take(&b)) > 0) {
		f.req.arg = f.have;
		cat_wire_encode_hdr(hdr, &f.req);
		refused = 0;
		rc = send_to(c, hdr, sizeof(hdr), &f.cand[f.ci], &refused);
		if (rc < 0)
			goto out;
		sent++;
		rc = wait_reply(c, &f.req, NULL, &f.cand[f.ci], &rep, &from, wait,
				&refused);
		if (rc < 0)
			goto out;
		if (rc == 0) {
			all_refused &= refused;
			fetch_next_node(&f);
			continue;
		}
		all_refused = 0;
		c->epoch = rep.epoch;
		rc = fetch_take_chunk(c, &f, &rep, &from, &b, &backoff);
		if (rc < 0)
			goto out;
		if (rc == CHUNK_CURRENT) {
			rc = 0;
			goto out;
		}
		if (rc == CHUNK_MORE)
			continue;
		rc = fetch_install(c, &f);
		if (rc < 0)
			goto out;
		if (rc == 1)
			return 0;
	}
	rc = f.bad ? -EPROTO : all_refused && sent ? -ECONNREFUSED : -ETIMEDOUT;
out:
	free(f.text);
	return rc;
}

int cat_client_refresh_map(struct cat_client *c)
{
	return cat_client_refresh_map_from(c, NULL, NULL);
}

int cat_client_refresh_map_from(struct cat_client *c,
				const struct sockaddr_in *first,
				const struct sockaddr_in *avoid)
{
	struct budget b;

	if (c == NULL)
		return -EINVAL;
	budget_start(c, &b);
	return fetch_map(c, first, avoid, b.deadline);
}

int cat_client_single_node(const struct cat_client *c, struct sockaddr_in *sa)
{
	if (c == NULL || !c->single || c->map != NULL)
		return -ENOENT;
	*sa = c->single_addr;
	return 0;
}

static int ping(struct cat_client *c, int64_t deadline, uint32_t *slot_count,
		uint32_t *epoch);

/*
 * Make sure keyed requests can be routed: a cached map, or (single-node
 * fallback) a slot count. Fetches lazily, within the request's budget.
 */
static int ensure_route(struct cat_client *c, struct budget *b)
{
	int rc;

	if (c->map)
		return 0;
	if (!c->single) {
		rc = fetch_map(c, NULL, NULL, b->deadline);
		if (rc == 0)
			return 0;
		if (rc != -EOPNOTSUPP)
			return rc;
	}
	if (c->slot_count == 0) {
		rc = ping(c, b->deadline, NULL, NULL);
		if (rc != 0)
			return rc;
	}
	return 0;
}

/*
 * Pick the node for req: the head of the key's chain for writes, the
 * tail for reads (any replica with CRAQ). Fills req->slot and req->epoch
 * (the map's: a node behind it answers RETRY instead of acting on an older
 * map), *dst (where to send) and *node (that node's own address, which a
 * worker port in *dst may differ from).
 */
static void route(struct cat_client *c, struct cat_msg *req, uint32_t crc,
		  struct sockaddr_in *dst, struct sockaddr_in *node)
{
	const struct cat_map_chain *ch;
	const struct cat_map_node *nd;
	uint16_t id;

	if (c->map == NULL) {
		req->slot = (uint16_t)cat_hash_slot(crc, c->slot_count);
		req->epoch = 0;
		*dst = c->single ? c->single_addr : c->boot[0];
		*node = *dst;
		return;
	}
	req->slot = (uint16_t)cat_hash_slot(crc, c->map->slot_count);
	req->epoch = c->map->epoch;
	ch = cat_map_slot_chain(c->map, req->slot);
	if (req->op != CAT_OP_GET)
		id = cat_map_chain_head(ch);
	else if (c->map->craq)
		id = ch->nodes[next_random(c) % ch->len];
	else
		id = cat_map_chain_tail(ch);
	nd = cat_map_node_by_id(c->map, id);
	/* cat_map_parse guarantees every chain member exists. */
	node_addr(nd, dst);
	*node = *dst;
	/* A node that announces its workers takes the slot on the port its
	 * NIC steers to the slot's owner (the reply still comes from its
	 * udp_port: replies are accepted from any address). */
	dst->sin_port = htons(cat_map_node_port(nd, req->slot));
}

/* PING within deadline (absolute ms, 0 = none) and the client's count. */
static int ping(struct cat_client *c, int64_t deadline, uint32_t *slot_count,
		uint32_t *epoch)
{
	struct cat_msg req, rep;
	uint8_t hdr[CAT_WIRE_HDR_LEN];
	const struct sockaddr_in *dst;
	struct budget b;
	int t, rc, wait, refused = 0, any_refused = 0, all_refused = 1;
	int heard_retry = 0, backoff = RETRY_BACKOFF_FIRST_MS;

	budget_start(c, &b);
	b.deadline = deadline;
	memset(&req, 0, sizeof(req));
	req.op = CAT_OP_PING;
	req.client_id = c->client_id;
	req.seq = next_seq(c);
	cat_wire_encode_hdr(hdr, &req);
	for (t = 0; (wait = budget_take(&b)) > 0; t++) {
		/* A lost try moves on to the next bootstrap node: PING is
		 * about "the cluster", and any of them answers for it. */
		dst = c->single ? &c->single_addr : &c->boot[t % c->n_boot];
		refused = 0;
		rc = send_to(c, hdr, sizeof(hdr), dst, &refused);
		if (rc < 0)
			return rc;
		rc = wait_reply(c, &req, NULL, dst, &rep, NULL, wait,
				&refused);
		if (rc < 0)
			return rc;
		any_refused |= refused;
		if (rc == 0) {
			all_refused &= refused;
			budget_silent(c, &b);
			continue;
		}
		c->epoch = rep.epoch;
		if (rep.status == CAT_ST_RETRY && b.tries > 0 &&
		    budget_left(&b) > 0) {
			heard_retry = 1;
			budget_pause(c, &b, &backoff);
			continue;
		}
		if (rep.status != CAT_ST_OK)
			return rep.status;
		if (rep.arg > UINT32_MAX ||
		    !cat_hash_slot_count_valid((uint32_t)rep.arg))
			return -EPROTO;
		if (c->map == NULL)
			c->slot_count = (uint32_t)rep.arg;
		if (slot_count)
			*slot_count = (uint32_t)rep.arg;
		if (epoch)
			*epoch = rep.epoch;
		return 0;
	}
	if (heard_retry)
		return CAT_ST_RETRY;
	return any_refused && all_refused ? -ECONNREFUSED : -ETIMEDOUT;
}

int cat_client_ping(struct cat_client *c, uint32_t *slot_count,
		    uint32_t *epoch)
{
	struct budget b;

	if (c == NULL)
		return -EINVAL;
	budget_start(c, &b);
	return ping(c, b.deadline, slot_count, epoch);
}

/*
 * The nodes a request asks whether the map changed while its own node is
 * silent: the bootstrap list and the cached map's nodes, but not the
 * silent one. Returns how many are in cand.
 */
static int probe_cands(const struct cat_client *c,
		       const struct sockaddr_in *silent,
		       struct sockaddr_in *cand)
{
	struct sockaddr_in sa;
	int n = 0;

	for (int i = 0; i < c->n_boot; i++)
		if (!same_addr(&c->boot[i], silent))
			add_cand(cand, &n, &c->boot[i]);
	for (uint16_t i = 0; c->map && i < c->map->n_nodes; i++) {
		node_addr(&c->map->nodes[i], &sa);
		if (!same_addr(&sa, silent))
			add_cand(cand, &n, &sa);
	}
	return n;
}

/*
 * A request's question "has the map changed?", asked while its own node is
 * silent: a one-chunk MAP_GET to another node. One probe id per request: a
 * late answer to an earlier probe, from whichever node, says as much as a
 * fresh one.
 */
struct probe {
	struct cat_msg msg;
	uint8_t hdr[CAT_WIRE_HDR_LEN];
	int sent;              /* asked at least once */
	int heard;             /* the last one asked answered */
	int refused;
};

static void probe_init(struct cat_client *c, struct probe *pr)
{
	memset(pr, 0, sizeof(*pr));
	pr->msg.op = CAT_OP_MAP_GET;
	pr->msg.client_id = c->client_id;
	pr->msg.seq = next_seq(c);
	cat_wire_encode_hdr(pr->hdr, &pr->msg);
}

/* Ask one node other than node (the silent one): the one that answered the
 * last probe again, else the next. 0 or a negative errno. */
static int probe_send(struct cat_client *c, struct probe *pr,
		      const struct sockaddr_in *node)
{
	struct sockaddr_in cand[CAND_MAX];
	int nc, rc;

	if (c->map == NULL || (nc = probe_cands(c, node, cand)) == 0)
		return 0;
	if (pr->sent && !pr->heard)
		c->probe_next++;
	c->probe_next %= nc;
	rc = send_to(c, pr->hdr, sizeof(pr->hdr), &cand[c->probe_next],
		     &pr->refused);
	if (rc < 0)
		return rc;
	pr->sent = 1;
	pr->heard = 0;
	return 0;
}

#define TRY_REROUTED 3

/*
 * One try's wait, ms long, for req's reply from dst, taking the probe's
 * answers meanwhile: one from a newer epoch fetches that map (within the
 * request's deadline). Returns 1 (req's reply in *rep, *from), 0 (silent),
 * TRY_REROUTED (the map changed: route again), or a negative errno.
 */
static int wait_try(struct cat_client *c, const struct cat_msg *req,
		    struct probe *pr, const struct sockaddr_in *dst,
		    const struct sockaddr_in *node, struct cat_msg *rep,
		    struct sockaddr_in *from, int ms, int64_t deadline,
		    int *refused)
{
	int64_t end = now_ms() + ms;
	uint32_t epoch;
	int rc, left;

	for (;;) {
		left = (int)(end - now_ms());
		rc = wait_reply(c, req, pr->sent ? &pr->msg : NULL, dst, rep,
				from, left > 0 ? left : 0, refused);
		if (rc != 2)
			return rc;
		pr->heard = 1;
		c->epoch = rep->epoch;
		if (rep->status != CAT_ST_OK || c->map == NULL ||
		    rep->epoch <= c->map->epoch)
			continue;
		epoch = c->map->epoch;
		rc = fetch_map(c, from, node, deadline);
		if (rc == -ENOMEM)
			return rc;
		if (c->map->epoch != epoch)
			return TRY_REROUTED;
	}
}

/* Where one keyed request stands while it is re-sent and re-routed. */
struct keyed {
	struct cat_msg *req;
	struct sockaddr_in dst;    /* where the next try goes */
	struct sockaddr_in node;   /* the node that should serve it (probes skip it) */
	struct sockaddr_in from;   /* who sent the last reply */
	struct budget b;
	int moved, wrong_slot;     /* answers of each kind so far */
	int retarget;              /* route (and encode) again before the next try */
};

/*
 * MOVED: not executed, the map is stale. A redirect is an answer, not a
 * lost try, so it does not spend the budget; CAT_CLIENT_MOVED_MAX bounds
 * it. Returns 0 to try again (re-routed by a newer map, or sent where the
 * hint says), else the request's answer.
 */
static int keyed_on_moved(struct cat_client *c, struct keyed *k,
			  const struct cat_msg *rep)
{
	const struct cat_map_node *hint = NULL;
	uint32_t epoch;
	int rc;

	if (c->map == NULL || k->moved >= CAT_CLIENT_MOVED_MAX)
		return CAT_ST_MOVED;
	k->moved++;
	k->b.tries++;
	/* Only a node at a newer epoch has a newer map to give; from one at
	 * ours, the hint (arg = the node that should serve it) is all there
	 * is to learn. */
	if (rep->epoch > c->map->epoch) {
		epoch = c->map->epoch;
		rc = fetch_map(c, &k->from, NULL, k->b.deadline);
		if (rc == -ENOMEM)
			return rc;
		if (rc == 0 && c->map->epoch != epoch) {
			k->retarget = 1;
			return 0;
		}
	}
	if (rep->arg <= UINT16_MAX)
		hint = cat_map_node_by_id(c->map, (uint16_t)rep->arg);
	if (hint == NULL)
		return CAT_ST_MOVED;
	node_addr(hint, &k->dst);
	k->node = k->dst;
	return 0;
}

/*
 * WRONG_SLOT: not executed either, but the slot field was wrong: the
 * corrected request is a new request (fresh seq) with a fresh budget, as
 * it always was. Returns 0 to send it, else the request's answer.
 */
static int keyed_on_wrong_slot(struct cat_client *c, struct keyed *k,
			       const struct cat_msg *rep)
{
	int rc;

	if (k->wrong_slot++)
		return CAT_ST_WRONG_SLOT;
	budget_start(c, &k->b);
	if (c->map) {
		rc = fetch_map(c, &k->from, NULL, k->b.deadline);
		if (rc < 0 && rc != -ENOMEM)
			return CAT_ST_WRONG_SLOT;
		if (rc < 0)
			return rc;
	} else if (learn_slot_count(c, rep->arg) < 0) {
		return -EPROTO;
	}
	k->req->seq = next_seq(c);
	k->retarget = 1;
	return 0;
}

/*
 * One try: send the encoded request (c->tx, len bytes) to k->dst, and
 * after a silent try also the probe to another node, then wait up to ms.
 * Returns as wait_try does; *refused says whether an ICMP refusal came.
 */
static int keyed_try(struct cat_client *c, struct keyed *k, struct probe *pr,
		     size_t len, int ms, int silent, struct cat_msg *rep,
		     int *refused)
{
	int rc;

	*refused = 0;
	rc = send_to(c, c->tx, len, &k->dst, refused);
	if (rc < 0)
		return rc;
	if (silent && (rc = probe_send(c, pr, &k->node)) < 0)
		return rc;
	return wait_try(c, k->req, pr, &k->dst, &k->node, rep, &k->from, ms,
			k->b.deadline, refused);
}

/*
 * Run one keyed request: make sure it can be routed, send it to its
 * chain's head (writes) or tail/replica (reads), and wait for the reply
 * from wherever it comes, within the budget (struct budget). A silent try
 * re-sends the same bytes to the same node, and from then on every re-send
 * also asks another node for the map's epoch (a one-chunk MAP_GET, the
 * probe): the node may have failed, and the control plane then publishes
 * a map without it. A probe answer from a newer epoch fetches that map and
 * re-routes at once, the interrupted try given back. MOVED refetches the
 * map, first from the node that said it. Every re-send and re-route keeps
 * the request id. Returns 0 with *rep holding an OK reply, a positive
 * status, or a negative errno.
 */
static int keyed_request(struct cat_client *c, struct cat_msg *req,
			 struct cat_msg *rep)
{
	uint32_t crc = cat_hash_crc32c(req->key, req->key_len);
	struct keyed k = { .req = req, .retarget = 1 };
	struct probe pr;
	int rc, n = 0, wait, refused = 0, any_refused = 0;
	int all_refused = 1, heard_retry = 0, got_retry = 0, silent = 0;
	int backoff = RETRY_BACKOFF_FIRST_MS;

	budget_start(c, &k.b);
	rc = ensure_route(c, &k.b);
	if (rc != 0)
		return rc;
	req->client_id = c->client_id;
	req->seq = next_seq(c);
	probe_init(c, &pr);

	for (;;) {
		if (k.retarget) {
			route(c, req, crc, &k.dst, &k.node);
			n = cat_wire_encode(c->tx, c->tx_cap, req);
			if (n < 0)
				return -EMSGSIZE;
			k.retarget = 0;
		}
		if (got_retry) {
			/* RETRY means the slot is reconfiguring or the
			 * worker is busy: give it a moment, but the backoff
			 * still spends a try of the budget. */
			budget_pause(c, &k.b, &backoff);
			got_retry = 0;
		}
		wait = budget_take(&k.b);
		if (wait == 0)
			break;
		rc = keyed_try(c, &k, &pr, (size_t)n, wait, silent, rep, &refused);
		if (rc < 0)
			return rc;
		any_refused |= refused;
		if (rc == TRY_REROUTED) {
			/* Re-routed by the new map: the interrupted try is
			 * given back, and the new node starts afresh. */
			k.b.tries++;
			k.b.wait = c->timeout_ms;
			silent = 0;
			k.retarget = 1;
			continue;
		}
		if (rc == 0) {
			all_refused &= refused;
			silent = 1;
			budget_silent(c, &k.b);
			continue;
		}
		all_refused = 0;
		silent = 0;
		c->epoch = rep->epoch;
		switch (rep->status) {
		case CAT_ST_RETRY:
			if (k.b.tries > 0 && budget_left(&k.b) > 0) {
				got_retry = heard_retry = 1;
				continue;
			}
			return CAT_ST_RETRY;
		case CAT_ST_MOVED:
			rc = keyed_on_moved(c, &k, rep);
			if (rc != 0)
				return rc;
			continue;
		case CAT_ST_WRONG_SLOT:
			rc = keyed_on_wrong_slot(c, &k, rep);
			if (rc != 0)
				return rc;
			continue;
		default:
			return rep->status;
		}
	}
	/* The node is alive but kept asking to retry: say so rather than
	 * claim it never answered. */
	if (heard_retry)
		return CAT_ST_RETRY;
	return any_refused && all_refused ? -ECONNREFUSED : -ETIMEDOUT;
}

/* Local check of key and value against the protocol limits. */
static int check_kv(const struct cat_client *c, const void *key, size_t klen,
		    size_t vlen)
{
	if (c == NULL || key == NULL || klen == 0)
		return -EINVAL;
	if (klen > CAT_WIRE_KEY_MAX)
		return -EMSGSIZE;
	if (vlen > cat_wire_value_max(c->mtu, (uint32_t)klen))
		return -EMSGSIZE;
	return 0;
}

static void init_req(struct cat_msg *req, uint8_t op, const void *key,
		     size_t klen, const void *val, size_t vlen)
{
	memset(req, 0, sizeof(*req));
	req->op = op;
	req->key = key;
	req->key_len = (uint16_t)klen;
	req->value = val;
	req->value_len = (uint32_t)vlen;
}

int cat_client_get(struct cat_client *c, const void *key, size_t klen,
		   void *buf, size_t cap, size_t *vlen, uint64_t *version)
{
	struct cat_msg req, rep;
	int rc;

	if (vlen == NULL || (buf == NULL && cap != 0))
		return -EINVAL;
	rc = check_kv(c, key, klen, 0);
	if (rc < 0)
		return rc;
	init_req(&req, CAT_OP_GET, key, klen, NULL, 0);
	rc = keyed_request(c, &req, &rep);
	if (rc != 0)
		return rc;
	*vlen = rep.value_len;
	if (rep.value_len > cap)
		return -ENOBUFS;
	if (rep.value_len)
		memcpy(buf, rep.value, rep.value_len);
	if (version)
		*version = rep.arg;
	return 0;
}

int cat_client_put(struct cat_client *c, const void *key, size_t klen,
		   const void *val, size_t vlen, uint64_t *version)
{
	struct cat_msg req, rep;
	int rc;

	if (val == NULL && vlen != 0)
		return -EINVAL;
	rc = check_kv(c, key, klen, vlen);
	if (rc < 0)
		return rc;
	init_req(&req, CAT_OP_PUT, key, klen, val, vlen);
	rc = keyed_request(c, &req, &rep);
	if (rc == 0 && version)
		*version = rep.arg;
	return rc;
}

int cat_client_del(struct cat_client *c, const void *key, size_t klen,
		   uint64_t *version)
{
	struct cat_msg req, rep;
	int rc;

	rc = check_kv(c, key, klen, 0);
	if (rc < 0)
		return rc;
	init_req(&req, CAT_OP_DEL, key, klen, NULL, 0);
	rc = keyed_request(c, &req, &rep);
	if (rc == 0 && version)
		*version = rep.arg;
	return rc;
}

int cat_client_cas(struct cat_client *c, const void *key, size_t klen,
		   uint64_t expect_version, const void *val, size_t vlen,
		   uint64_t *version)
{
	struct cat_msg req, rep;
	int rc;

	if (val == NULL && vlen != 0)
		return -EINVAL;
	rc = check_kv(c, key, klen, vlen);
	if (rc < 0)
		return rc;
	init_req(&req, CAT_OP_CAS, key, klen, val, vlen);
	req.arg = expect_version;
	rc = keyed_request(c, &req, &rep);
	/* CAS_FAILED carries the current version too: callers retry with it. */
	if ((rc == 0 || rc == CAT_ST_CAS_FAILED) && version)
		*version = rep.arg;
	return rc;
}

int cat_client_cas_value(struct cat_client *c, const void *key, size_t klen,
			 const void *expect, size_t elen,
			 const void *val, size_t vlen, uint64_t *version)
{
	struct cat_msg req, rep;
	uint8_t *area;
	int rc;

	if ((val == NULL && vlen != 0) || (expect == NULL && elen != 0))
		return -EINVAL;
	/* Each value must be storable, and both travel in one packet. */
	rc = check_kv(c, key, klen, elen);
	if (rc == 0)
		rc = check_kv(c, key, klen, vlen);
	if (rc == 0)
		rc = check_kv(c, key, klen, elen + vlen);
	if (rc < 0)
		return rc;
	/* The wire wants expected ++ new as one value area; building it in
	 * a temporary lets the generic path encode and retry it unchanged. */
	area = malloc(elen + vlen ? elen + vlen : 1);
	if (area == NULL)
		return -ENOMEM;
	if (elen)
		memcpy(area, expect, elen);
	if (vlen)
		memcpy(area + elen, val, vlen);
	init_req(&req, CAT_OP_CAS, key, klen, area, elen + vlen);
	req.flags = CAT_F_CAS_VALUE;
	req.arg = elen;
	rc = keyed_request(c, &req, &rep);
	free(area);
	if ((rc == 0 || rc == CAT_ST_CAS_FAILED) && version)
		*version = rep.arg;
	return rc;
}

/* Strict decimal int64: optional '-', 1..19 digits, nothing else. */
static int parse_i64(const uint8_t *p, size_t len, int64_t *out)
{
	char tmp[24];
	char *end;
	long long v;
	size_t i = 0;

	if (len == 0 || len >= sizeof(tmp))
		return -EPROTO;
	if (p[0] == '-')
		i = 1;
	if (i == len)
		return -EPROTO;
	for (; i < len; i++)
		if (p[i] < '0' || p[i] > '9')
			return -EPROTO;
	memcpy(tmp, p, len);
	tmp[len] = '\0';
	errno = 0;
	v = strtoll(tmp, &end, 10);
	if (errno != 0 || *end != '\0')
		return -EPROTO;
	*out = v;
	return 0;
}

int cat_client_incr(struct cat_client *c, const void *key, size_t klen,
		    int64_t delta, int64_t *result, uint64_t *version)
{
	struct cat_msg req, rep;
	int64_t v;
	int rc;

	if (result == NULL)
		return -EINVAL;
	rc = check_kv(c, key, klen, 0);
	if (rc < 0)
		return rc;
	init_req(&req, CAT_OP_INCR, key, klen, NULL, 0);
	req.arg = (uint64_t)delta;
	rc = keyed_request(c, &req, &rep);
	if (rc != 0)
		return rc;
	rc = parse_i64(rep.value, rep.value_len, &v);
	if (rc < 0)
		return rc;
	*result = v;
	if (version)
		*version = rep.arg;
	return 0;
}

const char *cat_client_strerror(int rc)
{
	const char *s;

	if (rc == 0)
		return "OK";
	if (rc > 0) {
		s = cat_wire_status_name((unsigned int)rc);
		return s[0] == '?' ? "unknown status" : s;
	}
	switch (-rc) {
	case ETIMEDOUT: return "no reply within the retry budget";
	case ECONNREFUSED: return "connection refused (nothing listens there)";
	case EMSGSIZE: return "key or value over the protocol limit";
	case ENOBUFS: return "value larger than the buffer";
	case EPROTO: return "malformed reply from the node";
	case EHOSTUNREACH: return "host not found or not reachable";
	default:
		s = strerrordesc_np(-rc);
		return s ? s : "unknown error";
	}
}
