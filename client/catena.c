/*
 * libcatena: kernel UDP client of a catena node (contract in catena.h).
 * One connected UDP socket per client; each request is one message in one
 * datagram, re-sent unchanged (same client id + seq) until a matching reply
 * arrives or the retry budget is spent. Never prints, never depends on DPDK.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "client/catena.h"
#include "replication/hash.h"

/* The largest datagram the kernel can hand us: reading into a buffer this
 * big means an oversized (bogus) datagram is seen whole and discarded by
 * decode, never silently truncated into something that looks valid. */
#define RX_CAP 65536u

/* RETRY backoff: short, doubling, capped at the per-try timeout. */
#define RETRY_BACKOFF_FIRST_MS 5

struct cat_client {
	int fd;
	uint32_t client_id;
	uint32_t slot_count;   /* 0 = not learnt yet */
	uint32_t epoch;        /* of the last reply */
	uint64_t seq;          /* last seq used */
	int timeout_ms;
	int tries;             /* first try + retries */
	uint32_t mtu;
	size_t tx_cap;         /* one UDP payload at this MTU */
	uint8_t *tx;
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

struct cat_client *cat_client_open(const struct cat_client_opts *o, int *err)
{
	struct cat_client *c = NULL;
	struct sockaddr_in sa;
	struct timespec ts;
	int rc;

	if (o == NULL || o->host == NULL || o->host[0] == '\0' ||
	    o->timeout_ms < 0 || o->retries > CAT_CLIENT_RETRIES_MAX) {
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
	if (o->retries < 0)
		c->tries = 1;
	else
		c->tries = 1 + (o->retries ? o->retries
					   : CAT_CLIENT_DEFAULT_RETRIES);
	c->client_id = o->client_id ? o->client_id : random_client_id();
	/* Start seq at the wall clock: a process that restarts with the same
	 * explicit client id still issues seqs above its earlier ones, so a
	 * node's duplicate table cannot mistake a new request for an old one. */
	clock_gettime(CLOCK_REALTIME, &ts);
	c->seq = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;

	rc = resolve(o->host, o->port ? o->port : CAT_WIRE_DEFAULT_PORT, &sa);
	if (rc < 0)
		goto fail;
	c->fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		rc = -errno;
		goto fail;
	}
	/* A connected socket: the kernel drops datagrams from any other
	 * source, and ICMP port unreachable surfaces as ECONNREFUSED. */
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
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

void cat_client_close(struct cat_client *c)
{
	if (c == NULL)
		return;
	if (c->fd >= 0)
		close(c->fd);
	free(c->tx);
	free(c);
}

uint32_t cat_client_id(const struct cat_client *c)
{
	return c ? c->client_id : 0;
}

uint32_t cat_client_slot_count(const struct cat_client *c)
{
	return c ? c->slot_count : 0;
}

uint32_t cat_client_epoch(const struct cat_client *c)
{
	return c ? c->epoch : 0;
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
 * Wait up to ms for the reply to req. Returns 1 (found, *rep filled),
 * 0 (timed out), or a negative errno for a socket error. *refused is set
 * when the kernel reported an ICMP port unreachable meanwhile.
 */
static int wait_reply(struct cat_client *c, const struct cat_msg *req,
		      struct cat_msg *rep, int ms, int *refused)
{
	int64_t deadline = now_ms() + ms;
	struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
	ssize_t n;
	int left, prc;

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
		n = recv(c->fd, c->rx, sizeof(c->rx), MSG_DONTWAIT);
		if (n < 0) {
			if (errno == ECONNREFUSED)
				*refused = 1;
			else if (errno != EINTR && errno != EAGAIN &&
				 errno != EWOULDBLOCK)
				return -errno;
			continue;
		}
		if (find_reply(c->rx, (size_t)n, req, rep))
			return 1;
	}
}

/*
 * Send req and wait for its reply, re-sending the identical datagram (same
 * client id and seq) after each per-try timeout. Returns 0 with *rep set
 * (rep->status may be any status but RETRY, unless RETRY was the answer
 * to the last try), or a negative errno.
 */
static int exchange(struct cat_client *c, const struct cat_msg *req,
		    struct cat_msg *rep)
{
	int n, t, rc, refused = 0, got_retry = 0, heard_retry = 0;
	int backoff = RETRY_BACKOFF_FIRST_MS;

	n = cat_wire_encode(c->tx, c->tx_cap, req);
	if (n < 0)
		return -EMSGSIZE;

	for (t = 0; t < c->tries; t++) {
		if (got_retry) {
			/* RETRY means the slot is reconfiguring or the
			 * worker is busy: give it a moment, but the backoff
			 * still spends a try of the budget. */
			sleep_ms(backoff);
			backoff = backoff * 2 > c->timeout_ms ? c->timeout_ms
							      : backoff * 2;
			got_retry = 0;
		}
		if (send(c->fd, c->tx, (size_t)n, 0) < 0) {
			/* A pending ICMP error from an earlier try is
			 * reported here instead of the send: note it and
			 * send again once. */
			if (errno == ECONNREFUSED) {
				refused = 1;
				if (send(c->fd, c->tx, (size_t)n, 0) < 0 &&
				    errno != ECONNREFUSED)
					return -errno;
			} else if (errno != EINTR && errno != ENOBUFS &&
				   errno != EAGAIN) {
				return -errno;
			}
		}
		rc = wait_reply(c, req, rep, c->timeout_ms, &refused);
		if (rc < 0)
			return rc;
		if (rc == 0)
			continue;
		c->epoch = rep->epoch;
		if (rep->status == CAT_ST_RETRY && t + 1 < c->tries) {
			got_retry = heard_retry = 1;
			continue;
		}
		return 0;
	}
	/* The node is alive but kept asking to retry: say so rather than
	 * claim it never answered. Only rep->status is meaningful then. */
	if (heard_retry) {
		rep->status = CAT_ST_RETRY;
		return 0;
	}
	return refused ? -ECONNREFUSED : -ETIMEDOUT;
}

static uint64_t next_seq(struct cat_client *c)
{
	return ++c->seq;
}

static int learn_slot_count(struct cat_client *c, uint64_t arg)
{
	if (arg > UINT32_MAX || !cat_hash_slot_count_valid((uint32_t)arg))
		return -EPROTO;
	c->slot_count = (uint32_t)arg;
	return 0;
}

int cat_client_ping(struct cat_client *c, uint32_t *slot_count,
		    uint32_t *epoch)
{
	struct cat_msg req, rep;
	int rc;

	if (c == NULL)
		return -EINVAL;
	memset(&req, 0, sizeof(req));
	req.op = CAT_OP_PING;
	req.client_id = c->client_id;
	req.seq = next_seq(c);
	rc = exchange(c, &req, &rep);
	if (rc < 0)
		return rc;
	if (rep.status != CAT_ST_OK)
		return rep.status;
	rc = learn_slot_count(c, rep.arg);
	if (rc < 0)
		return rc;
	if (slot_count)
		*slot_count = c->slot_count;
	if (epoch)
		*epoch = rep.epoch;
	return 0;
}

/*
 * Run one keyed request: learn the slot count first if needed, route by
 * slot, and follow one WRONG_SLOT correction. Returns 0 with *rep holding
 * an OK reply, a positive status, or a negative errno.
 */
static int keyed_request(struct cat_client *c, struct cat_msg *req,
			 struct cat_msg *rep)
{
	uint32_t crc = cat_hash_crc32c(req->key, req->key_len);
	int rc, attempt;

	if (c->slot_count == 0) {
		rc = cat_client_ping(c, NULL, NULL);
		if (rc != 0)
			return rc;
	}
	req->client_id = c->client_id;
	for (attempt = 0; attempt < 2; attempt++) {
		req->slot = (uint16_t)cat_hash_slot(crc, c->slot_count);
		/* A WRONG_SLOT answer means the request was not applied, so
		 * the corrected request is a new request with a fresh seq
		 * rather than a retry of the refused one. */
		req->seq = next_seq(c);
		rc = exchange(c, req, rep);
		if (rc < 0)
			return rc;
		if (rep->status != CAT_ST_WRONG_SLOT || attempt == 1)
			break;
		if (learn_slot_count(c, rep->arg) < 0)
			return -EPROTO;
	}
	/*
	 * MOVED: the slot lives on another node. Following it needs the
	 * cluster map, which arrives with chain replication; until then the
	 * caller sees CAT_ST_MOVED (the reply's epoch is kept, see
	 * cat_client_epoch) and decides. RETRY was already retried with
	 * backoff in exchange() within the retry budget.
	 */
	return rep->status;
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
	case ETIMEDOUT: return "no reply after all retries";
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
