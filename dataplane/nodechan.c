/*
 * catena-node's end of the node channel (docs/CONTROL.md, "Node channel"), run by the
 * main lcore between its other chores. Everything is non-blocking: the
 * socket, the connect, every send (output is queued and flushed as the
 * socket takes it). A lost control plane only means reconnect attempts with
 * backoff; the node keeps serving on the map it has. Maps are installed
 * only through cat_agent_apply, the path SIGHUP uses, so the workers see
 * them the one way they see any map: an RCU-published pointer.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/un.h>

#include <jansson.h>
#include <rte_log.h>
#include <sodium.h>
#include <urcu-qsbr.h>

#include "dataplane/counters.h"
#include "dataplane/dump.h"
#include "dataplane/durable.h"
#include "dataplane/nodechan.h"
#include "dataplane/port.h"
#include "replication/chain.h"
#include "replication/linkauth.h"
#include "replication/store.h"
#include "replication/version.h"

/* A connection that lived this long was a real one: the next attempt
 * after losing it starts again from the shortest backoff. */
#define STABLE_MS 2000u
/* A TCP connect still in progress after this long counts as failed. */
#define CONNECT_TIMEOUT_MS 1000u
/* Reading stops after this much per poll, so a flood cannot hold the
 * main lcore; the rest waits for the next loop iteration. */
#define RX_PER_POLL (1024u * 1024u)

static uint64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void wr(uint64_t *p, uint64_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELAXED);
}

static void inc(uint64_t *p)
{
	__atomic_store_n(p, *p + 1, __ATOMIC_RELAXED);
}

/*
 * The heartbeat's "port" (beside "stats"): the MTU and the value limit
 * that follows from it (so catenactl status can state the cluster's), the
 * link and its transitions, and the steering mode. null without a port.
 */
static json_t *port_json(const struct cat_port *p, uint32_t mtu,
			 uint32_t value_mtu)
{
	if (p == NULL)
		return json_null();
	return json_pack("{s:I, s:I, s:s, s:I, s:I, s:I, s:s}",
		"mtu", (json_int_t)mtu,
		"value_max", (json_int_t)cat_wire_value_max(value_mtu, 0),
		"link", __atomic_load_n(&p->link.up, __ATOMIC_RELAXED) ? "up" : "down",
		"link_down_events", (json_int_t)__atomic_load_n(&p->link.down_events,
								 __ATOMIC_RELAXED),
		"link_up_events", (json_int_t)__atomic_load_n(&p->link.up_events,
							       __ATOMIC_RELAXED),
		"link_speed_mbps", (json_int_t)__atomic_load_n(&p->link.speed_mbps,
								__ATOMIC_RELAXED),
		"steering", cat_steer_mode_name(p->steer));
}

static void say(struct cat_nodechan *cc, unsigned int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void say(struct cat_nodechan *cc, unsigned int level, const char *fmt, ...)
{
	char msg[768];
	va_list ap;
	int n;

	if (cc->log == NULL)
		return;
	n = snprintf(msg, sizeof(msg), "control plane %s: ", cc->endpoint);
	va_start(ap, fmt);
	vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
	va_end(ap);
	cc->log(level, msg);
}

int cat_nodechan_init(struct cat_nodechan *cc, const struct cat_config *cfg,
		       struct cat_agent *agent, cat_nodechan_log_fn log,
		       char *err, size_t errlen)
{
	int rc;

	memset(cc, 0, sizeof(*cc));
	cc->fd = -1;
	cc->agent = agent;
	cc->log = log;
	cc->heartbeat_ms = cfg->heartbeat_ms;
	{
		/* A new process starts with an empty store: catena-control
		 * tells a restart from a reconnect by this id (wall clock in
		 * ns and the pid: unique per start on one host). */
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		cc->boot = ((uint64_t)ts.tv_sec * 1000000000ull +
			    (uint64_t)ts.tv_nsec) ^ ((uint64_t)getpid() << 40);
		cc->boot &= INT64_MAX;
		if (cc->boot == 0)
			cc->boot = 1;
	}
	if (cfg->control_connect[0] == '\0') {
		cc->st.state = CAT_NODECHAN_OFF;
		if (cfg->control_secret_file[0] != '\0') {
			snprintf(err, errlen, "[control] secret_file is set but "
				 "[control] connect is not: no channel to authenticate");
			return -EINVAL;
		}
		return 0;
	}
	if (cfg->control_secret_file[0] != '\0') {
		cc->secret = malloc(sizeof(*cc->secret));
		if (cc->secret == NULL) {
			snprintf(err, errlen, "control channel: out of memory");
			return -ENOMEM;
		}
		rc = cat_auth_secret_load(cfg->control_secret_file, cc->secret, err,
					  errlen);
		if (rc < 0) {
			free(cc->secret);
			cc->secret = NULL;
			return rc;
		}
		cc->st.auth = 1;
		/* The same secret opens the link keys each map brings. */
		if (cat_linkauth_init() < 0) {
			snprintf(err, errlen, "control channel: libsodium failed to start");
			return -EIO;
		}
	}
	snprintf(cc->endpoint, sizeof(cc->endpoint), "%s", cfg->control_connect);
	rc = cat_endpoint_parse(cc->endpoint, &cc->ep, err, errlen);
	if (rc < 0)
		return rc;
	cc->rx = malloc(CAT_NODECHAN_RX_LINE_MAX + 1);
	if (cc->rx == NULL) {
		snprintf(err, errlen, "control channel: out of memory");
		return -ENOMEM;
	}
	cc->backoff_ms = CAT_NODECHAN_BACKOFF_MIN_MS;
	cc->next_attempt_ms = 0; /* the first poll connects */
	wr(&cc->st.state, CAT_NODECHAN_WAITING);
	return 0;
}

int cat_nodechan_preflight(const struct cat_config *cfg, char *err,
			    size_t errlen)
{
	struct cat_auth_secret s;
	int rc;

	if (cfg->control_secret_file[0] == '\0')
		return 0;
	if (cfg->control_connect[0] == '\0') {
		snprintf(err, errlen, "[control] secret_file is set but "
			 "[control] connect is not: no channel to authenticate");
		return -EINVAL;
	}
	rc = cat_auth_secret_load(cfg->control_secret_file, &s, err, errlen);
	cat_auth_secret_clear(&s);
	return rc;
}

int cat_nodechan_pollfd(const struct cat_nodechan *cc, short *events)
{
	if (cc->fd < 0)
		return -1;
	if (cc->st.state == CAT_NODECHAN_CONNECTING)
		*events = POLLOUT;
	else
		*events = (short)(POLLIN | (cc->tx_len > cc->tx_off ||
					    cat_dump_agent_busy() ? POLLOUT : 0));
	return cc->fd;
}

/* ---- connection life cycle --------------------------------------------- */

static void close_fd(struct cat_nodechan *cc)
{
	if (cc->fd >= 0)
		close(cc->fd);
	cc->fd = -1;
	cc->rx_len = 0;
	cc->rx_discard = 0;
	cc->tx_len = cc->tx_off = 0;
	cc->auth_state = CAT_NODECHAN_AUTH_OFF;
	cat_auth_session_clear(&cc->auth);
}

static void schedule_retry(struct cat_nodechan *cc, uint64_t now)
{
	cc->next_attempt_ms = now + cc->backoff_ms;
	cc->backoff_ms = cc->backoff_ms * 2 > CAT_NODECHAN_BACKOFF_MAX_MS ?
			 CAT_NODECHAN_BACKOFF_MAX_MS : cc->backoff_ms * 2;
	wr(&cc->st.state, CAT_NODECHAN_WAITING);
}

static void connect_failed(struct cat_nodechan *cc, uint64_t now, int err)
{
	close_fd(cc);
	inc(&cc->st.connect_failures);
	if (!cc->down_logged) {
		say(cc, RTE_LOG_WARNING, "cannot connect: %s; serving on epoch %u, "
		      "retrying (backoff %u ms doubling to %u ms)", strerror(err),
		      cat_agent_epoch(cc->agent), CAT_NODECHAN_BACKOFF_MIN_MS,
		      CAT_NODECHAN_BACKOFF_MAX_MS);
		cc->down_logged = 1;
	}
	schedule_retry(cc, now);
}

static void disconnect(struct cat_nodechan *cc, uint64_t now, const char *why)
{
	close_fd(cc);
	inc(&cc->st.disconnects);
	say(cc, RTE_LOG_WARNING, "disconnected (%s); serving on epoch %u, "
	      "reconnecting", why, cat_agent_epoch(cc->agent));
	cc->down_logged = 1;
	if (now - cc->up_since_ms >= STABLE_MS)
		cc->backoff_ms = CAT_NODECHAN_BACKOFF_MIN_MS;
	schedule_retry(cc, now);
}

/*
 * Queue one line (a newline is added), behind its tag once the channel is
 * authenticated. 0, or -ENOBUFS: disconnected.
 */
static int queue_line(struct cat_nodechan *cc, uint64_t now, const char *s,
		      size_t len)
{
	size_t pre = cc->auth_state == CAT_NODECHAN_AUTH_ON ? CAT_AUTH_LINE_OVERHEAD : 0;
	size_t need = cc->tx_len - cc->tx_off + pre + len + 1;
	char tag[CAT_AUTH_TAG_HEX + 1];

	if (cc->fd < 0)
		return -ENOTCONN;
	if (cc->tx_off > 0) {
		memmove(cc->tx, cc->tx + cc->tx_off, cc->tx_len - cc->tx_off);
		cc->tx_len -= cc->tx_off;
		cc->tx_off = 0;
	}
	if (need > CAT_NODECHAN_TX_MAX) {
		disconnect(cc, now, "it does not read what the node sends");
		return -ENOBUFS;
	}
	if (need > cc->tx_cap) {
		size_t cap = cc->tx_cap ? cc->tx_cap : 4096;
		char *p;

		while (cap < need)
			cap *= 2;
		p = realloc(cc->tx, cap);
		if (p == NULL) {
			disconnect(cc, now, "out of memory for output");
			return -ENOBUFS;
		}
		cc->tx = p;
		cc->tx_cap = cap;
	}
	if (pre > 0) {
		if (cat_auth_tag(&cc->auth, s, len, tag) < 0) {
			disconnect(cc, now, "libcrypto failed to tag a line");
			return -EIO;
		}
		memcpy(cc->tx + cc->tx_len, tag, CAT_AUTH_TAG_HEX);
		cc->tx[cc->tx_len + CAT_AUTH_TAG_HEX] = ' ';
		cc->tx_len += pre;
	}
	memcpy(cc->tx + cc->tx_len, s, len);
	cc->tx[cc->tx_len + len] = '\n';
	cc->tx_len += len + 1;
	return 0;
}

/* Serialise and queue a JSON object (the reference is taken). */
static int queue_json(struct cat_nodechan *cc, uint64_t now, json_t *o)
{
	char *s;
	int rc;

	if (o == NULL)
		return -ENOMEM;
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (s == NULL)
		return -ENOMEM;
	rc = queue_line(cc, now, s, strlen(s));
	free(s);
	return rc;
}

int cat_nodechan_send(struct cat_nodechan *cc, uint64_t now, json_t *o)
{
	return queue_json(cc, now, o);
}

size_t cat_nodechan_backlog(const struct cat_nodechan *cc)
{
	return cc->tx_len - cc->tx_off;
}

/* Send what the socket takes now. 0, or -1 if the connection was lost. */
static int flush(struct cat_nodechan *cc, uint64_t now)
{
	while (cc->fd >= 0 && cc->tx_off < cc->tx_len) {
		ssize_t n = send(cc->fd, cc->tx + cc->tx_off, cc->tx_len - cc->tx_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			if (errno == EINTR)
				continue;
			disconnect(cc, now, strerror(errno));
			return -1;
		}
		cc->tx_off += (size_t)n;
		__atomic_store_n(&cc->st.tx_bytes, cc->st.tx_bytes + (uint64_t)n,
				 __ATOMIC_RELAXED);
	}
	if (cc->tx_off == cc->tx_len)
		cc->tx_off = cc->tx_len = 0;
	return cc->fd >= 0 ? 0 : -1;
}

/* Slots a "durable" line carries: a line of versions stays far below
 * catena-control's line limit (64 KiB) even at 20 digits each. */
#define DURABLE_LINE_SLOTS 1024u

/*
 * After the hello of a node with `durability = log`: what it holds, so
 * that catena-control can rebuild a chain that lost every replica from
 * the node whose log goes furthest (docs/CONTROL.md "Durable versions").
 * {"type":"durable","from":S,"versions":[v_S, v_S+1, ...],"end":bool}:
 * the version of every slot in its store, in slot order, in lines of
 * DURABLE_LINE_SLOTS; the last says "end". At the first hello after a
 * start the store holds exactly what the log replayed (no map yet, so no
 * writes); later hellos (a reconnect) say what it holds then.
 */
static void send_durable(struct cat_nodechan *cc, uint64_t now)
{
	const struct cat_dp *dp = cc->agent->dp;

	for (uint32_t from = 0; from < dp->slot_count; from += DURABLE_LINE_SLOTS) {
		uint32_t to = from + DURABLE_LINE_SLOTS < dp->slot_count ?
			      from + DURABLE_LINE_SLOTS : dp->slot_count;
		json_t *v = json_array();

		for (uint32_t s = from; v != NULL && s < to; s++)
			json_array_append_new(v, json_integer(
				(json_int_t)cat_store_slot_version(dp->store, s)));
		if (queue_json(cc, now, json_pack("{s:s, s:I, s:o, s:b}",
				"type", "durable", "from", (json_int_t)from,
				"versions", v, "end", to == dp->slot_count)) < 0)
			return; /* the connection went: the next hello says it all */
	}
}

static void send_hello(struct cat_nodechan *cc, uint64_t now)
{
	const struct cat_dp *dp = cc->agent->dp;
	uint32_t epoch = cat_agent_epoch(cc->agent);
	int logged = dp->durable != NULL && dp->durable->on;
	json_t *h;

	say(cc, RTE_LOG_NOTICE, "connected%s; hello node %u epoch %u",
	    cc->auth_state == CAT_NODECHAN_AUTH_ON ? " and authenticated" : "",
	    dp->node_id, epoch);
	cc->next_heartbeat_ms = now + cc->heartbeat_ms;
	/* "version": what `catena-node --version` says, so an operator sees
	 * a half-done upgrade in catenactl nodes. */
	h = json_pack("{s:s, s:i, s:I, s:I, s:s}", "type", "hello",
		      "node", (int)dp->node_id, "epoch", (json_int_t)epoch,
		      "boot", (json_int_t)cc->boot, "version", CAT_VERSION);
	/* "durable": its versions follow (send_durable); a node without a
	 * log says nothing, and catena-control treats it as before. */
	if (h != NULL && logged)
		json_object_set_new(h, "durable", json_string("log"));
	queue_json(cc, now, h);
	if (logged)
		send_durable(cc, now);
	flush(cc, now);
}

static void on_connected(struct cat_nodechan *cc, uint64_t now)
{
	wr(&cc->st.state, cc->secret != NULL ? CAT_NODECHAN_AUTHENTICATING :
					       CAT_NODECHAN_UP);
	inc(&cc->st.connects);
	if (cc->st.connects > 1)
		inc(&cc->st.reconnects);
	cc->up_since_ms = now;
	cc->down_logged = 0;
	if (cc->secret != NULL) {
		/* Nothing is said before catena-control proves it has the
		 * secret too: its challenge comes first. */
		cc->auth_state = CAT_NODECHAN_AUTH_WAIT;
		return;
	}
	send_hello(cc, now);
}

/* Log an authentication failure once per distinct reason, then drop the
 * connection: reconnecting follows the usual backoff. */
static void auth_failed(struct cat_nodechan *cc, uint64_t now, const char *why)
{
	inc(&cc->st.auth_failures);
	if (strcmp(why, cc->last_error) != 0) {
		snprintf(cc->last_error, sizeof(cc->last_error), "%s", why);
		say(cc, RTE_LOG_ERR, "authentication: %s", why);
	}
	disconnect(cc, now, "authentication failed");
}

/*
 * What catena-control says first when it has a cluster secret:
 * {"type":"auth","alg":"hmac-sha256","nonce":HEX}. The node answers with
 * its own nonce (the last plain line), then says hello, tagged.
 */
static void on_challenge(struct cat_nodechan *cc, uint64_t now, json_t *o)
{
	const char *alg = json_string_value(json_object_get(o, "alg"));
	json_t *jn = json_object_get(o, "nonce");
	uint8_t nonce_c[CAT_AUTH_NONCE_LEN], nonce_n[CAT_AUTH_NONCE_LEN];
	char hex[2 * CAT_AUTH_NONCE_LEN + 1];

	if (cc->secret == NULL) {
		auth_failed(cc, now, "catena-control requires the cluster secret; "
			    "set [control] secret_file in this node's config");
		return;
	}
	if (cc->auth_state != CAT_NODECHAN_AUTH_WAIT) {
		auth_failed(cc, now, "a second challenge on one connection");
		return;
	}
	if (alg == NULL || strcmp(alg, CAT_AUTH_ALG) != 0 || !json_is_string(jn) ||
	    cat_auth_nonce_parse(json_string_value(jn), json_string_length(jn),
				 nonce_c) < 0) {
		auth_failed(cc, now, "a challenge without alg \"" CAT_AUTH_ALG
			    "\" and a 32-hex-digit nonce");
		return;
	}
	if (cat_auth_nonce(nonce_n) < 0 ||
	    cat_auth_session_init(&cc->auth, cc->secret, nonce_c, nonce_n,
				  CAT_AUTH_NODE) < 0) {
		auth_failed(cc, now, "no random nonce or session key (getrandom or "
			    "libcrypto failed)");
		return;
	}
	cat_auth_nonce_hex(nonce_n, hex);
	queue_json(cc, now, json_pack("{s:s,s:s}", "type", "auth", "nonce", hex));
	cc->auth_state = CAT_NODECHAN_AUTH_ON;
	wr(&cc->st.state, CAT_NODECHAN_UP);
	send_hello(cc, now);
}

static void try_connect(struct cat_nodechan *cc, uint64_t now)
{
	int fd, one = 1;

	fd = socket(cc->ep.sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		connect_failed(cc, now, errno);
		return;
	}
	cc->fd = fd;
	if (cc->ep.sa.ss_family == AF_INET)
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (const struct sockaddr *)&cc->ep.sa, cc->ep.sa_len) == 0) {
		on_connected(cc, now);
		return;
	}
	if (errno == EINPROGRESS) {
		cc->up_since_ms = now; /* connect started */
		wr(&cc->st.state, CAT_NODECHAN_CONNECTING);
		return;
	}
	/* A Unix socket with a full backlog says EAGAIN: try again later. */
	connect_failed(cc, now, errno);
}

static void check_connecting(struct cat_nodechan *cc, uint64_t now)
{
	struct pollfd p = { .fd = cc->fd, .events = POLLOUT };
	socklen_t len = sizeof(int);
	int soerr = 0;

	if (poll(&p, 1, 0) <= 0) {
		if (now - cc->up_since_ms >= CONNECT_TIMEOUT_MS)
			connect_failed(cc, now, ETIMEDOUT);
		return;
	}
	if (getsockopt(cc->fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
		soerr = errno;
	if (soerr != 0) {
		connect_failed(cc, now, soerr);
		return;
	}
	on_connected(cc, now);
}

/* ---- messages from the control plane ----------------------------------- */

/*
 * The link keys that came with map m ("linkkeys": hex of the sealed
 * delivery, replication/linkauth.h), as the workers will read them: by
 * map node index, plus the previous epoch's receive keys from the map in
 * force. NULL with err when they are missing or do not open (another
 * secret, not for this node or epoch): a node with a secret never uses a
 * map it cannot tag its traffic in.
 */
static struct cat_linkauth_keyset *link_keys(struct cat_nodechan *cc, json_t *o,
					     const struct cat_map *m,
					     char *err, size_t errlen)
{
	json_t *jk = json_object_get(o, "linkkeys");
	const struct cat_dp_map *cur = cc->agent->dp->map;
	uint16_t self = cc->agent->dp->node_id;
	struct cat_linkauth_link links[CAT_LINKAUTH_PEERS_MAX];
	uint8_t blob[CAT_LINKAUTH_BLOB_MAX];
	struct cat_linkauth_keyset *ks;
	size_t blen = 0;
	unsigned int n = 0;
	int rc;

	if (!json_is_string(jk)) {
		snprintf(err, errlen, "no link keys with it (this node has a cluster "
			 "secret: is catena-control older than the node? upgrade it first)");
		return NULL;
	}
	if (json_string_length(jk) > 2 * sizeof(blob) ||
	    sodium_hex2bin(blob, sizeof(blob), json_string_value(jk),
			   json_string_length(jk), NULL, &blen, NULL) != 0) {
		snprintf(err, errlen, "link keys are not hex of at most %zu bytes",
			 sizeof(blob));
		return NULL;
	}
	rc = cat_linkauth_keys_open(cc->secret->key, cc->secret->len, m->epoch, self,
				    blob, blen, links, &n);
	sodium_memzero(blob, sizeof(blob));
	if (rc < 0) {
		snprintf(err, errlen, "link keys do not open for node %u epoch %u (%s)",
			 self, m->epoch, rc == -EBADMSG ? "another cluster secret, "
			 "or altered" : "malformed");
		return NULL;
	}
	ks = calloc(1, sizeof(*ks));
	if (ks == NULL) {
		snprintf(err, errlen, "out of memory");
		sodium_memzero(links, sizeof(links));
		return NULL;
	}
	ks->epoch = m->epoch;
	for (uint16_t i = 0; i < m->n_nodes; i++)
		for (unsigned int k = 0; k < n; k++)
			if (links[k].peer == m->nodes[i].id && links[k].peer != self)
				ks->link[i] = links[k];
	if (cur != NULL && cur->keys.epoch != 0 && cur->keys.epoch < m->epoch) {
		ks->prev_epoch = cur->keys.epoch;
		for (uint16_t i = 0; i < CAT_LINKAUTH_PEERS_MAX; i++)
			if (cur->keys.link[i].peer != 0) {
				ks->prev[ks->n_prev].peer = cur->keys.link[i].peer;
				memcpy(ks->prev[ks->n_prev].rx, cur->keys.link[i].rx,
				       CAT_LINKAUTH_KEY_LEN);
				ks->n_prev++;
			}
	}
	sodium_memzero(links, sizeof(links));
	return ks;
}

static void send_map_applied(struct cat_nodechan *cc, uint64_t now, uint32_t epoch)
{
	queue_json(cc, now, json_pack("{s:s, s:i, s:I}", "type", "map_applied",
				      "node", (int)cc->agent->dp->node_id,
				      "epoch", (json_int_t)epoch));
}

static void on_map(struct cat_nodechan *cc, uint64_t now, json_t *o)
{
	json_t *je = json_object_get(o, "epoch"), *jt = json_object_get(o, "text");
	struct cat_map *m = NULL;
	struct cat_linkauth_keyset *ks = NULL;
	char err[256], origin[300], msg[768];
	json_int_t epoch;
	int rc;

	inc(&cc->st.maps_received);
	if (!json_is_integer(je) || !json_is_string(jt)) {
		inc(&cc->st.maps_rejected);
		say(cc, RTE_LOG_ERR, "map message without an integer epoch and a "
		      "text: ignored; keeping epoch %u", cat_agent_epoch(cc->agent));
		return;
	}
	epoch = json_integer_value(je);
	wr(&cc->st.last_map_epoch, (uint64_t)epoch);
	rc = cat_map_parse(json_string_value(jt), json_string_length(jt), &m,
			   err, sizeof(err));
	if (rc < 0) {
		inc(&cc->st.maps_rejected);
		say(cc, RTE_LOG_ERR, "map epoch %" JSON_INTEGER_FORMAT ": %s; "
		      "keeping epoch %u", epoch, err, cat_agent_epoch(cc->agent));
		return;
	}
	if ((json_int_t)m->epoch != epoch) {
		inc(&cc->st.maps_rejected);
		say(cc, RTE_LOG_ERR, "map message epoch %" JSON_INTEGER_FORMAT
		      " but its text says epoch %u: ignored; keeping epoch %u",
		      epoch, m->epoch, cat_agent_epoch(cc->agent));
		cat_map_free(m);
		return;
	}
	snprintf(origin, sizeof(origin), "control plane %s: map", cc->endpoint);
	if (cc->secret != NULL) {
		ks = link_keys(cc, o, m, err, sizeof(err));
		if (ks == NULL) {
			inc(&cc->st.maps_rejected);
			say(cc, RTE_LOG_ERR, "map epoch %u: %s; keeping epoch %u",
			    m->epoch, err, cat_agent_epoch(cc->agent));
			cat_map_free(m);
			return;
		}
	}
	cc->agent->keys = ks;
	rc = cat_agent_apply(cc->agent, m, origin, 1, msg, sizeof(msg));
	cc->agent->keys = NULL;
	if (ks != NULL) {
		if (rc == 0)
			wr(&cc->st.link_keys_epoch, ks->epoch);
		sodium_memzero(ks, sizeof(*ks));
		free(ks);
	}
	if (rc < 0) {
		inc(&cc->st.maps_rejected);
		if (cc->log != NULL)
			cc->log(RTE_LOG_ERR, msg);
		return;
	}
	if (rc == 0) {
		inc(&cc->st.maps_published);
		if (cc->log != NULL)
			cc->log(RTE_LOG_NOTICE, msg);
	} else {
		inc(&cc->st.maps_current);
	}
	send_map_applied(cc, now, (uint32_t)epoch);
}

/* One slot's [version, "digest"] in a digests message. */
struct digest_entry {
	uint32_t slot;
	uint64_t version, digest;
};

/* A slot version is a JSON integer as long as jansson's signed integer
 * holds it (always, for a write sequence); past 2^63 it would turn
 * negative, so it goes as its decimal string, which verify also reads. */
static json_t *version_json(uint64_t v)
{
	char s[24];

	if (v <= (uint64_t)INT64_MAX)
		return json_integer((json_int_t)v);
	snprintf(s, sizeof(s), "%" PRIu64, v);
	return json_string(s);
}

/* Bytes e takes in the compact "slots" object, as jansson writes it:
 * "slot":[version,"digest"]. What the line cutting counts. */
static size_t digest_entry_len(const struct digest_entry *e)
{
	int n = snprintf(NULL, 0, "\"%u\":[%" PRIu64 ",\"%" PRIu64 "\"]", e->slot,
			 e->version, e->digest);

	return (size_t)n + (e->version > (uint64_t)INT64_MAX ? 2 : 0);
}

/* Queue one digests line, {"type","node","req"[,"more":true],"slots"}
 * in that order; slots' reference is taken. 0 or negative errno. */
static int queue_digests(struct cat_nodechan *cc, uint64_t now, json_t *jreq,
			 int more, json_t *slots)
{
	json_t *o = json_pack("{s:s,s:i,s:O}", "type", "digests", "node",
			      (int)cc->agent->dp->node_id, "req", jreq);

	if (o == NULL) {
		json_decref(slots);
		return -ENOMEM;
	}
	if ((more && json_object_set_new(o, "more", json_true()) < 0) ||
	    json_object_set_new(o, "slots", slots) < 0) {
		json_decref(o);
		return -ENOMEM;
	}
	return queue_json(cc, now, o);
}

/*
 * digest_request: [version, "digest"] of every slot this node replicates
 * in its current map and that has seen a write (digests as decimal
 * strings: they pass 2^53, where a double-based reader would round). The
 * walk runs online as an RCU reader (cat_store_slot_digest's contract) and
 * offline again before anything is sent. The answer is cut into lines of
 * at most CAT_NODECHAN_LINE_MAX bytes, every one a complete digests message
 * with the same req; all but the last say "more":true.
 */
static void on_digest_request(struct cat_nodechan *cc, uint64_t now, json_t *o)
{
	const struct cat_dp *dp = cc->agent->dp;
	json_t *jreq = json_object_get(o, "req"), *head, *slots = NULL;
	struct digest_entry *ents;
	const struct cat_dp_map *dm;
	uint64_t t0 = mono_us();
	size_t hlen, room, used = 0;
	uint32_t n = 0;
	char *req;
	int rc = 0;

	inc(&cc->st.digest_requests);
	if (jreq == NULL) {
		inc(&cc->st.msgs_bad);
		say(cc, RTE_LOG_WARNING, "digest_request without req: ignored");
		return;
	}
	req = json_dumps(jreq, JSON_ENCODE_ANY | JSON_COMPACT);
	if (req == NULL || strlen(req) > 64) {
		free(req);
		inc(&cc->st.msgs_bad);
		say(cc, RTE_LOG_WARNING, "digest_request with a bad req: ignored");
		return;
	}
	free(req);
	/* The header's own length, to know how much of a line the slots may
	 * take: room for it, "more":true, "slots":{} and the tag. */
	head = json_pack("{s:s,s:i,s:O}", "type", "digests", "node",
			 (int)dp->node_id, "req", jreq);
	req = head != NULL ? json_dumps(head, JSON_COMPACT) : NULL;
	json_decref(head);
	ents = calloc(dp->slot_count ? dp->slot_count : 1, sizeof(*ents));
	if (req == NULL || ents == NULL) {
		free(req);
		free(ents);
		say(cc, RTE_LOG_ERR, "digests: out of memory");
		return;
	}
	hlen = strlen(req);
	free(req);
	room = CAT_NODECHAN_LINE_MAX - CAT_AUTH_LINE_OVERHEAD - hlen - 32;

	rcu_thread_online();
	dm = rcu_dereference(dp->map);
	if (dm != NULL) {
		const struct cat_map *m = dm->map;

		for (uint32_t s = 0; s < dp->slot_count && s < m->slot_count; s++) {
			uint64_t v;

			if (cat_map_chain_pos(cat_map_slot_chain(m, s), dp->node_id) < 0)
				continue;
			v = cat_store_slot_version(dp->store, s);
			if (v == 0)
				continue;
			ents[n++] = (struct digest_entry){
				.slot = s, .version = v,
				.digest = cat_store_slot_digest(dp->store, s),
			};
		}
	}
	rcu_thread_offline();

	/* Fill a line's slots until the next entry (and its comma) would not
	 * fit, send it with "more", go on; the last line goes without. An
	 * entry is under 100 bytes, so every line holds at least one. */
	for (uint32_t i = 0; rc == 0; i++) {
		char key[12], dg[24];
		size_t len;

		if (slots != NULL && i < n &&
		    used + 1 + digest_entry_len(&ents[i]) > room) {
			rc = queue_digests(cc, now, jreq, 1, slots);
			slots = NULL;
			if (rc < 0)
				break;
		}
		if (slots == NULL) {
			slots = json_object();
			used = 0;
			if (slots == NULL) {
				rc = -ENOMEM;
				break;
			}
		}
		if (i == n) {
			rc = queue_digests(cc, now, jreq, 0, slots);
			slots = NULL;
			break;
		}
		len = digest_entry_len(&ents[i]);
		used += used ? len + 1 : len;
		snprintf(key, sizeof(key), "%u", ents[i].slot);
		snprintf(dg, sizeof(dg), "%" PRIu64, ents[i].digest);
		if (json_object_set_new(slots, key,
					json_pack("[o,s]", version_json(ents[i].version),
						  dg)) < 0)
			rc = -ENOMEM;
	}
	json_decref(slots);
	if (rc == -ENOMEM)
		say(cc, RTE_LOG_ERR, "digests: out of memory");
	free(ents);
	wr(&cc->st.last_digest_us, mono_us() - t0);
}

/* {"type":"xfer_rate","bytes_per_s":N}: the operator's state transfer
 * rate (catenactl reshard rate), for every worker's engine from now on. */
static void on_xfer_rate(struct cat_nodechan *cc, json_t *o)
{
	json_t *r = json_object_get(o, "bytes_per_s");
	const struct cat_agent *a = cc->agent;

	if (!json_is_integer(r) || json_integer_value(r) < 0) {
		inc(&cc->st.msgs_bad);
		say(cc, RTE_LOG_WARNING, "xfer_rate without a bytes_per_s >= 0: ignored");
		return;
	}
	for (uint32_t w = 0; w < a->dp->n_workers; w++)
		cat_chain_set_xfer_rate(a->workers[w]->chain,
					(uint64_t)json_integer_value(r));
	say(cc, RTE_LOG_NOTICE, "state transfer rate: %lld bytes/s per worker%s",
	    (long long)json_integer_value(r),
	    json_integer_value(r) == 0 ? " (no limit)" : "");
}

static void on_error(struct cat_nodechan *cc, json_t *o)
{
	const char *e = json_string_value(json_object_get(o, "error"));

	inc(&cc->st.errors_received);
	if (e == NULL)
		e = "(no text)";
	/* It closes the connection next; the same complaint at every
	 * reconnect is said once. */
	if (strcmp(e, cc->last_error) == 0)
		return;
	snprintf(cc->last_error, sizeof(cc->last_error), "%s", e);
	say(cc, RTE_LOG_ERR, "error: %s", e);
}

static void on_line(struct cat_nodechan *cc, uint64_t now, const char *s, size_t len)
{
	json_error_t jerr;
	const char *type;
	json_t *o;

	inc(&cc->st.msgs_received);
	if (len > 0 && s[len - 1] == '\r')
		len--;
	if (len == 0)
		return;
	if (cc->auth_state == CAT_NODECHAN_AUTH_ON) {
		if (cat_auth_check(&cc->auth, s, len) < 0) {
			auth_failed(cc, now, "a line from catena-control failed "
				    "authentication: is this node's secret_file the "
				    "cluster's? (or the line was altered or replayed)");
			return;
		}
		s += CAT_AUTH_LINE_OVERHEAD;
		len -= CAT_AUTH_LINE_OVERHEAD;
	}
	o = json_loadb(s, len, 0, &jerr);
	type = json_string_value(json_object_get(o, "type"));
	if (cc->auth_state == CAT_NODECHAN_AUTH_WAIT &&
	    (type == NULL || (strcmp(type, "auth") != 0 && strcmp(type, "error") != 0))) {
		/* A catena-control without a secret sends nothing first; a
		 * line here is from something else. */
		auth_failed(cc, now, "expected catena-control's authentication "
			    "challenge first");
	} else if (!json_is_object(o) || type == NULL) {
		inc(&cc->st.msgs_bad);
		say(cc, RTE_LOG_WARNING, "ignored a line that is not a JSON object "
		      "with a type (%s)", o == NULL ? jerr.text : "no type");
	} else if (strcmp(type, "auth") == 0) {
		on_challenge(cc, now, o);
	} else if (strcmp(type, "map") == 0) {
		on_map(cc, now, o);
	} else if (strcmp(type, "digest_request") == 0) {
		on_digest_request(cc, now, o);
	} else if (strcmp(type, "error") == 0) {
		on_error(cc, o);
	} else if (strcmp(type, "xfer_rate") == 0) {
		on_xfer_rate(cc, o);
	} else if (cat_dump_on_msg(cc, now, type, o)) {
		/* backup and restore: dataplane/dump.c */
	} else {
		inc(&cc->st.msgs_bad);
		say(cc, RTE_LOG_WARNING, "ignored a message of unknown type \"%.40s\"",
		      type);
	}
	json_decref(o);
}

/* Read what is there and act on every complete line. */
static void read_lines(struct cat_nodechan *cc, uint64_t now)
{
	size_t got = 0;

	while (cc->fd >= 0 && got < RX_PER_POLL) {
		size_t scan = cc->rx_len, pos = 0;
		ssize_t n;

		n = recv(cc->fd, cc->rx + cc->rx_len, CAT_NODECHAN_RX_LINE_MAX - cc->rx_len,
			 MSG_DONTWAIT);
		if (n == 0) {
			disconnect(cc, now, "closed by the control plane");
			return;
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				disconnect(cc, now, strerror(errno));
			return;
		}
		got += (size_t)n;
		__atomic_store_n(&cc->st.rx_bytes, cc->st.rx_bytes + (uint64_t)n,
				 __ATOMIC_RELAXED);
		cc->rx_len += (size_t)n;
		for (size_t i = scan; i < cc->rx_len && cc->fd >= 0; i++) {
			if (cc->rx[i] != '\n')
				continue;
			if (cc->rx_discard)
				cc->rx_discard = 0; /* end of the overlong line */
			else
				on_line(cc, now, cc->rx + pos, i - pos);
			pos = i + 1;
		}
		if (cc->fd < 0)
			return; /* a message made us disconnect */
		memmove(cc->rx, cc->rx + pos, cc->rx_len - pos);
		cc->rx_len -= pos;
		if (cc->rx_len == CAT_NODECHAN_RX_LINE_MAX) {
			if (!cc->rx_discard) {
				inc(&cc->st.msgs_bad);
				say(cc, RTE_LOG_WARNING, "ignored a line longer than %u bytes",
				      CAT_NODECHAN_RX_LINE_MAX);
			}
			cc->rx_discard = 1;
			cc->rx_len = 0;
		}
	}
}

/* ---- heartbeat --------------------------------------------------------- */

/*
 * The nodes this one heard on the data network (any replication message,
 * pings included) in the last three heartbeat periods: catena-control
 * removes a node that no other node hears while they hear each other (a
 * node cut off from the data network only; docs/CONTROL.md).
 */
static json_t *heard_report(const struct cat_agent *a, uint32_t heartbeat_ms)
{
	uint64_t now = cat_worker_clock_ns(a->dp);
	uint64_t window = 3ull * heartbeat_ms * 1000000ull;
	uint16_t ids[CAT_MAP_NODES_MAX];
	unsigned int n = 0;
	json_t *arr = json_array();

	if (window < 2 * CAT_WORKER_PING_NS)
		window = 2 * CAT_WORKER_PING_NS;
	for (uint32_t w = 0; w < a->dp->n_workers; w++)
		for (uint32_t i = 0; i < CAT_MAP_NODES_MAX; i++) {
			uint64_t t = __atomic_load_n(&a->workers[w]->heard_ns[i],
						     __ATOMIC_RELAXED);
			uint16_t id = a->workers[w]->heard_id[i];
			unsigned int k;

			if (t == 0 || id == 0 || (now > t && now - t > window))
				continue;
			for (k = 0; k < n && ids[k] != id; k++)
				;
			if (k == n && n < CAT_MAP_NODES_MAX) {
				ids[n++] = id;
				json_array_append_new(arr, json_integer(id));
			}
		}
	return arr;
}

/*
 * State transfer progress, one entry per chain this node streams to a
 * joiner (as its tail) or joins (docs/CONTROL.md, "Joining a chain"): the
 * control plane hands the chain over when the tail reports every slot of
 * it caught up. Main lcore: the map in force cannot be freed under it.
 */
static json_t *xfer_report(const struct cat_agent *a)
{
	const struct cat_dp_map *dm = a->dp->map;
	json_t *arr = json_array();

	for (uint32_t ci = 0; dm != NULL && ci < dm->map->n_chains; ci++) {
		const struct cat_map_chain *c = &dm->map->chains[ci];
		struct cat_chain_xfer_progress s = { 0 };
		uint32_t want = 0;

		for (uint32_t w = 0; w < a->dp->n_workers; w++)
			cat_chain_xfer_progress(a->workers[w]->chain, ci, &s);
		/* Chains with a join, and chains whose new tail still holds
		 * reads (a planned change waits for those: control/reshard.c). */
		if (s.slots == 0 && s.joining == 0 && s.held == 0)
			continue;
		for (uint32_t slot = 0; slot < dm->map->slot_count; slot++)
			want += dm->map->slot_chain[slot] == ci;
		json_array_append_new(arr, json_pack(
			"{s:i, s:i, s:i, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
			"chain", (int)c->id, "joiner", (int)c->joining,
			"epoch", (int)dm->map->epoch,
			"chain_slots", (json_int_t)want,
			"slots", (json_int_t)s.slots,
			"caught_up", (json_int_t)s.caught_up,
			"snapshotting", (json_int_t)s.snapshotting,
			"keys", (json_int_t)s.keys, "bytes", (json_int_t)s.bytes,
			"joined", (json_int_t)s.joined));
		json_object_set_new(json_array_get(arr, json_array_size(arr) - 1),
				    "held", json_integer((json_int_t)s.held));
		json_object_set_new(json_array_get(arr, json_array_size(arr) - 1),
				    "lag", json_integer((json_int_t)s.lag));
	}
	return arr;
}

/* The heartbeat's "durable" (durability = log): what `catenactl status`
 * and the metrics show of the log: the policy, the lag, bytes on disk,
 * fsync latency, and a failed writer's error. The writer updates the
 * counters while this reads them (relaxed: figures, not decisions). */
static json_t *durable_json(const struct cat_durable *du)
{
	json_t *o = json_pack("{s:s, s:I, s:I, s:I, s:I, s:I}",
			      "fsync", du->fsync_ms ? "every_ms" : "always",
			      "fsync_every_ms", (json_int_t)du->fsync_ms,
			      "bytes_on_disk", (json_int_t)cat_durable_bytes(du),
			      "lag_bytes", (json_int_t)cat_durable_lag(du),
			      "syncs", (json_int_t)__atomic_load_n(&du->syncs, __ATOMIC_RELAXED),
			      "write_errors", (json_int_t)__atomic_load_n(&du->write_errors,
									 __ATOMIC_RELAXED));

	if (o == NULL)
		return json_null();
	if (du->sync_ns != NULL && du->sync_ns->count > 0) {
		json_object_set_new(o, "fsync_p50_ns", json_integer(
			(json_int_t)cat_hist_percentile(du->sync_ns, 50)));
		json_object_set_new(o, "fsync_p99_ns", json_integer(
			(json_int_t)cat_hist_percentile(du->sync_ns, 99)));
	}
	if (__atomic_load_n(&du->failed, __ATOMIC_ACQUIRE))
		json_object_set_new(o, "error", json_string(du->err));
	return o;
}

/*
 * {"type":"heartbeat","node":N,"epoch":E,"suspect":[...],"in_flight":F,
 *  "stats":{...}}: suspects are every engine's suspect successor, without
 * duplicates (a hint: docs/CONTROL.md); stats are the /catena/stats
 * counters listed in docs/OPERATIONS.md.
 */
static void heartbeat(struct cat_nodechan *cc, uint64_t now)
{
	const struct cat_agent *a = cc->agent;
	const struct cat_dp *dp = a->dp;
	json_t *suspect = json_array(), *stats, *xfer, *heard;
	uint16_t seen[CAT_WORKER_MAX];
	uint32_t n_seen = 0;
	uint64_t in_flight = 0;
	json_t *hb;
	static const char *const worker_counters[] = {
		"rx_packets", "tx_packets", "requests", "replies", "retry_no_map",
		"map_switches",
	};
	static const char *const repl_counters[] = {
		"repl_writes_sequenced", "repl_fwd_sent", "repl_fwd_retransmitted",
		"repl_fwd_applied", "repl_acks_received", "repl_commits",
		"repl_client_replies", "repl_moved", "repl_drop_epoch",
		"repl_peer_suspect",
	};

	for (uint32_t w = 0; w < dp->n_workers; w++) {
		uint16_t p = cat_chain_suspect_peer(a->workers[w]->chain);
		uint32_t i;

		in_flight += cat_chain_inflight(a->workers[w]->chain);
		if (p == 0)
			continue;
		for (i = 0; i < n_seen && seen[i] != p; i++)
			;
		if (i < n_seen)
			continue;
		seen[n_seen++] = p;
		json_array_append_new(suspect, json_integer(p));
	}
	stats = json_object();
	for (size_t i = 0; i < sizeof(worker_counters) / sizeof(worker_counters[0]); i++)
		json_object_set_new(stats, worker_counters[i],
			json_integer((json_int_t)cat_counters_total(dp, a->workers,
								   worker_counters[i])));
	json_object_set_new(stats, "replies_retry", json_integer(
		(json_int_t)cat_counters_replies(dp, a->workers, CAT_ST_RETRY)));
	json_object_set_new(stats, "replies_moved", json_integer(
		(json_int_t)cat_counters_replies(dp, a->workers, CAT_ST_MOVED)));
	for (size_t i = 0; i < sizeof(repl_counters) / sizeof(repl_counters[0]); i++)
		json_object_set_new(stats, repl_counters[i],
			json_integer((json_int_t)cat_counters_repl_total(dp, a->workers,
									 repl_counters[i])));
	json_object_set_new(stats, "repl_in_flight", json_integer((json_int_t)in_flight));
	json_object_set_new(stats, "store_keys",
			    json_integer((json_int_t)cat_counters_store_keys(dp)));
	json_object_set_new(stats, "store_mem_used",
			    json_integer((json_int_t)cat_store_mem_used(dp->store)));
	json_object_set_new(stats, "drops_total",
			    json_integer((json_int_t)cat_counters_drops_total(dp, a->workers)));
	json_object_set_new(stats, "peer_suspect_reports",
			    json_integer((json_int_t)dp->peer_suspect_reports));
	xfer = xfer_report(a);
	heard = heard_report(a, cc->heartbeat_ms);

	hb = json_pack("{s:s, s:i, s:I, s:o, s:I, s:o, s:o, s:o}",
		       "type", "heartbeat", "node", (int)dp->node_id,
		       "epoch", (json_int_t)cat_agent_epoch(a),
		       "suspect", suspect,
		       "in_flight", (json_int_t)in_flight,
		       "stats", stats, "xfer", xfer, "heard", heard);
	/* The data port rides beside the counters (port_json). */
	if (hb != NULL)
		json_object_set_new(hb, "port", port_json(cc->port, dp->mtu,
							  cat_dp_value_mtu(dp)));
	if (hb != NULL && dp->durable != NULL && dp->durable->on)
		json_object_set_new(hb, "durable", durable_json(dp->durable));
	if (queue_json(cc, now, hb) == 0)
		inc(&cc->st.heartbeats_sent);
}

void cat_nodechan_poll(struct cat_nodechan *cc, uint64_t now)
{
	switch (cc->st.state) {
	case CAT_NODECHAN_OFF:
		return;
	case CAT_NODECHAN_WAITING:
		if (now < cc->next_attempt_ms)
			return;
		try_connect(cc, now);
		return;
	case CAT_NODECHAN_CONNECTING:
		check_connecting(cc, now);
		return;
	default:
		break;
	}
	read_lines(cc, now);
	if (cc->fd < 0)
		return;
	if (cc->auth_state == CAT_NODECHAN_AUTH_WAIT) {
		if (now - cc->up_since_ms >= CAT_NODECHAN_AUTH_WAIT_MS)
			auth_failed(cc, now, "no authentication challenge from "
				    "catena-control: it has no cluster secret "
				    "(secret_file), but this node has one");
		return;
	}
	if (now >= cc->next_heartbeat_ms) {
		heartbeat(cc, now);
		/* A loop that fell behind sends one heartbeat, not a burst. */
		cc->next_heartbeat_ms += cc->heartbeat_ms;
		if (cc->next_heartbeat_ms <= now)
			cc->next_heartbeat_ms = now + cc->heartbeat_ms;
	}
	cat_dump_agent_poll(cc, now);
	flush(cc, now);
}

void cat_nodechan_fini(struct cat_nodechan *cc)
{
	close_fd(cc);
	if (cc->secret != NULL)
		cat_auth_secret_clear(cc->secret);
	free(cc->secret);
	cc->secret = NULL;
	free(cc->rx);
	free(cc->tx);
	cc->rx = NULL;
	cc->tx = NULL;
	cc->tx_cap = 0;
	if (cc->st.state != CAT_NODECHAN_OFF)
		wr(&cc->st.state, CAT_NODECHAN_WAITING);
}
