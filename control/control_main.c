/*
 * catena-control: owns the cluster map. One thread runs a poll() loop over
 * the node-channel listener and its connections, the management socket and
 * its connections, and the heartbeat and verify deadlines. Sockets are
 * non-blocking and every input line is bounded; the only blocking calls are
 * the store's fsync (or, with etcd, its HTTP requests, each bounded by
 * CAT_CTL_ETCD_HTTP_MS), which must finish before a new map is sent anyway.
 * With store = etcd an instance acts only while it holds the leader lease:
 * it binds its sockets when it wins and closes them the moment it cannot
 * show the lease still holds.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <syslog.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include "control/backup.h"
#include "control/ctl.h"
#include "control/mgmt.h"
#include "control/planner.h"
#include "control/metrics.h"
#include "control/nodechan.h"
#include "control/rebuild.h"
#include "control/rejoin.h"
#include "control/repair.h"
#include "control/reshard.h"
#include "replication/service.h"
#include "replication/version.h"

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
	stop_signal = sig;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: catena-control --config FILE\n"
		"  Owns the catena cluster map: stores it (state_dir/map.json),\n"
		"  pushes it to nodes over the node channel, fails nodes whose\n"
		"  heartbeats stop, and serves the management socket (catenactl).\n"
		"  Config keys and protocols: docs/CONTROL.md.\n"
		"  --version prints the version. Exit status: 0 stopped by\n"
		"  SIGINT/SIGTERM, 1 runtime failure, 2 bad configuration.\n");
}

static void mkdir_parent(const char *path)
{
	char dir[256];
	char *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash == NULL || slash == dir)
		return;
	*slash = '\0';
	for (char *p = dir + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		mkdir(dir, 0755);
		*p = '/';
	}
	mkdir(dir, 0755);
}

/* A Unix listener at path, mode 0660. A stale socket file (nobody
 * accepting) is replaced; a live one, or any other file, is an error --
 * unless force: an etcd leader holding the lease replaces even a live
 * socket, whose owner cannot be a leader any more (it stops acting the
 * moment its lease is in doubt; a frozen one finds out when it wakes). */
static int listen_unix(const char *path, int force, char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int fd, rc;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "%s: path too long", path);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, path);
	mkdir_parent(path);
	if (lstat(path, &st) == 0) {
		int probe;

		if (!S_ISSOCK(st.st_mode)) {
			snprintf(err, errlen, "%s: exists and is not a socket", path);
			return -EEXIST;
		}
		probe = force ? -1 : socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			close(probe);
			snprintf(err, errlen, "%s: in use by another process", path);
			return -EADDRINUSE;
		}
		if (probe >= 0)
			close(probe);
		unlink(path);
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		goto fail;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		goto fail;
	/* After bind: the socket file exists only now. Group access lets an
	 * operator group use catenactl without root. */
	if (chmod(path, 0660) < 0 || listen(fd, 64) < 0)
		goto fail;
	return fd;
fail:
	rc = -errno;
	snprintf(err, errlen, "%s: %s", path, strerror(errno));
	if (fd >= 0)
		close(fd);
	return rc;
}

static int listen_tcp(uint32_t ip, uint16_t port, char *err, size_t errlen)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons(port),
				  .sin_addr.s_addr = htonl(ip) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	int one = 1, rc;

	if (fd < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(fd, 64) < 0) {
		rc = -errno;
		snprintf(err, errlen, "tcp port %u: %s", port, strerror(errno));
		if (fd >= 0)
			close(fd);
		return rc;
	}
	return fd;
}

static void conn_free(struct cat_ctl *c, uint16_t i)
{
	struct cat_ctl_conn *k = c->conns[i];

	if (k->kind == CAT_CTL_CONN_NODE) {
		cat_ctl_node_closed(c, k);
		c->n_node_conns--;
	} else {
		c->n_mgmt_conns--;
	}
	close(k->fd);
	free(k->in);
	free(k->out);
	free(k);
	c->conns[i] = c->conns[--c->n_conns];
}

/* Who is at the other end, for events: A.B.C.D:PORT, or a local pid. */
static void peer_name(int fd, char *buf, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	struct ucred cr;
	socklen_t cl = sizeof(cr);

	snprintf(buf, len, "?");
	if (getpeername(fd, (struct sockaddr *)&ss, &sl) < 0)
		return;
	if (ss.ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)&ss;
		char ip[INET_ADDRSTRLEN];

		inet_ntop(AF_INET, &sin->sin_addr, ip, sizeof(ip));
		snprintf(buf, len, "%s:%u", ip, ntohs(sin->sin_port));
	} else if (ss.ss_family == AF_UNIX &&
		   getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &cl) == 0) {
		snprintf(buf, len, "local pid %d uid %u", (int)cr.pid,
			 (unsigned int)cr.uid);
	}
}

static uint16_t conn_index(const struct cat_ctl *c, const struct cat_ctl_conn *k)
{
	uint16_t i = 0;

	while (i < c->n_conns && c->conns[i] != k)
		i++;
	return i;
}

/* The node connection that has gone longest without a hello, or NULL:
 * what makes room when the node budget is full. A live node's connection
 * is never taken; a flood of silent ones cannot keep a node out. */
static struct cat_ctl_conn *oldest_unnamed(struct cat_ctl *c)
{
	struct cat_ctl_conn *best = NULL;

	for (uint16_t i = 0; i < c->n_conns; i++) {
		struct cat_ctl_conn *k = c->conns[i];

		if (k->kind == CAT_CTL_CONN_NODE && k->node == 0 &&
		    (best == NULL || k->opened_ms < best->opened_ms))
			best = k;
	}
	return best;
}

/* The management connection idle longest, if for CAT_CTL_MGMT_EVICT_MS at
 * least, with nothing half-asked or unread: closing it loses nobody an
 * answer, so idle connections never keep an operator out. */
static struct cat_ctl_conn *longest_idle(struct cat_ctl *c, uint64_t now)
{
	struct cat_ctl_conn *best = NULL;

	for (uint16_t i = 0; i < c->n_conns; i++) {
		struct cat_ctl_conn *k = c->conns[i];

		if (k->kind == CAT_CTL_CONN_MGMT && !k->busy && !k->dead &&
		    k->in_len == 0 && k->out_len == 0 &&
		    now >= k->active_ms + CAT_CTL_MGMT_EVICT_MS &&
		    (best == NULL || k->active_ms < best->active_ms))
			best = k;
	}
	return best;
}

/* Close k at once with a last line sent if the socket takes it: a peer
 * that does not read cannot hold its seat by leaving the line unsent. */
static void conn_cut(struct cat_ctl *c, struct cat_ctl_conn *k, const char *why)
{
	char line[256];
	int n = snprintf(line, sizeof(line),
			 "{\"type\":\"error\",\"ok\":false,\"error\":\"%s\"}\n", why);

	if (k->out_len == 0 && k->auth_state != CAT_CTL_AUTH_ON && n > 0 &&
	    (size_t)n < sizeof(line))
		(void)!send(k->fd, line, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
	/* Not an authentication failure: counted as what it is. */
	if (k->auth_state == CAT_CTL_AUTH_CHALLENGED)
		k->auth_state = CAT_CTL_AUTH_OFF;
	conn_free(c, conn_index(c, k));
}

static void refuse(int fd, const char *why)
{
	char line[256];
	int n = snprintf(line, sizeof(line),
			 "{\"type\":\"error\",\"ok\":false,\"error\":\"%s\"}\n", why);

	if (n > 0 && (size_t)n < sizeof(line))
		(void)!send(fd, line, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
	close(fd);
}

static void accept_all(struct cat_ctl *c, int lfd, enum cat_ctl_conn_kind kind)
{
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		uint64_t now = cat_ctl_now_ms();
		struct cat_ctl_conn *k;
		char peer[64];

		if (fd < 0)
			return;
		peer_name(fd, peer, sizeof(peer));
		if (kind == CAT_CTL_CONN_NODE &&
		    c->n_node_conns >= CAT_CTL_NODE_CONNS_MAX) {
			k = oldest_unnamed(c);
			if (k == NULL) {
				cat_ctl_burst_note(c, CAT_CTL_BURST_NODE_REFUSED, now, 0,
					"node channel: refused a connection from %s: all %u "
					"connections of its budget are nodes that said hello",
					peer, CAT_CTL_NODE_CONNS_MAX);
				refuse(fd, "too many node connections");
				continue;
			}
			cat_ctl_burst_note(c, CAT_CTL_BURST_NODE_EVICTED, now, 0,
				"node channel: budget of %u connections full: closed "
				"the one from %s, silent for %llu ms, to make room for %s",
				CAT_CTL_NODE_CONNS_MAX, k->peer,
				(unsigned long long)(now - k->opened_ms), peer);
			conn_cut(c, k, "closed to make room: no hello yet");
		}
		if (kind == CAT_CTL_CONN_MGMT &&
		    c->n_mgmt_conns >= CAT_CTL_MGMT_CONNS_MAX &&
		    (k = longest_idle(c, now)) != NULL) {
			cat_ctl_burst_note(c, CAT_CTL_BURST_MGMT_IDLE, now, 0,
				"management socket: budget of %u connections full: "
				"closed %s, idle for %llu ms, to make room for %s",
				CAT_CTL_MGMT_CONNS_MAX, k->peer,
				(unsigned long long)(now - k->active_ms), peer);
			conn_cut(c, k, "idle: closed to make room");
		}
		if (kind == CAT_CTL_CONN_MGMT &&
		    c->n_mgmt_conns >= CAT_CTL_MGMT_CONNS_MAX) {
			cat_ctl_burst_note(c, CAT_CTL_BURST_MGMT_REFUSED, now, 0,
				"management socket: refused a connection from %s: "
				"%u connections open, the budget",
				peer, CAT_CTL_MGMT_CONNS_MAX);
			refuse(fd, "too many management connections");
			continue;
		}
		k = calloc(1, sizeof(*k));
		if (k != NULL)
			k->in = malloc(CAT_CTL_LINE_MAX + 1);
		if (k == NULL || k->in == NULL) {
			free(k);
			close(fd);
			continue;
		}
		k->fd = fd;
		k->kind = kind;
		k->serial = ++c->next_serial;
		k->opened_ms = k->active_ms = now;
		snprintf(k->peer, sizeof(k->peer), "%s", peer);
		c->conns[c->n_conns++] = k;
		if (kind == CAT_CTL_CONN_NODE) {
			c->n_node_conns++;
			if (cat_ctl_node_accepted(c, k, peer) < 0)
				k->dead = 1;
		} else {
			c->n_mgmt_conns++;
		}
	}
}

static void too_long(struct cat_ctl_conn *k)
{
	static const char why[] = "line over 65536 bytes";

	k->in_overflow = 1;
	k->in_len = 0;
	if (k->kind == CAT_CTL_CONN_NODE) {
		cat_ctl_node_error(k, why);
	} else {
		json_t *m = json_pack("{s:b,s:s}", "ok", 0, "error", why);

		if (m != NULL)
			cat_ctl_send(k, m);
		json_decref(m);
		k->closing = 1;
	}
}

/* Whether a management connection may be given another request now:
 * not while its answers pile up unread (it is served as fast as it
 * reads, and costs nothing while it does not). */
static int mgmt_may_serve(const struct cat_ctl_conn *k)
{
	return k->out_len < CAT_CTL_MGMT_OUT_SOFT;
}

/* Hand every complete line to its protocol; stop while a verify holds a
 * management connection, so its answers keep the order of its requests.
 * A management connection gets at most CAT_CTL_MGMT_LINES_ROUND requests
 * a call and none after round_end_ms: the rest wait in its buffer for the
 * next loop round, so node traffic never queues behind an operator's
 * script. Returns 1 if complete lines were left for later. */
static int process_lines(struct cat_ctl *c, struct cat_ctl_conn *k,
			 uint64_t round_end_ms)
{
	int eof = k->eof, held = 0;
	unsigned int done = 0;
	size_t off = 0;

	while (!k->closing && !k->dead && !k->busy && off < k->in_len) {
		char *lf = memchr(k->in + off, '\n', k->in_len - off);
		size_t n;

		if (lf == NULL && !eof)
			break;
		if (k->kind == CAT_CTL_CONN_MGMT &&
		    (!mgmt_may_serve(k) || done >= CAT_CTL_MGMT_LINES_ROUND ||
		     (done > 0 && cat_ctl_now_ms() >= round_end_ms))) {
			held = 1;
			break;
		}
		n = lf != NULL ? (size_t)(lf - (k->in + off)) : k->in_len - off;
		if (k->kind == CAT_CTL_CONN_NODE) {
			cat_ctl_node_line(c, k, k->in + off, n);
		} else {
			k->active_ms = cat_ctl_now_ms();
			cat_ctl_mgmt_line(c, k, k->in + off, n);
		}
		done++;
		off += n + (lf != NULL);
	}
	if (off > 0) {
		memmove(k->in, k->in + off, k->in_len - off);
		k->in_len -= off;
	}
	held |= k->busy;
	if (!held && k->in_len > CAT_CTL_LINE_MAX && !k->closing)
		too_long(k);
	if (eof && !held)
		k->closing = 1;
	return held && !k->busy && mgmt_may_serve(k);
}

/* Node connection: read and handle everything there is. */
static void node_read(struct cat_ctl *c, struct cat_ctl_conn *k)
{
	for (;;) {
		ssize_t n;

		if (k->in_len > CAT_CTL_LINE_MAX)
			return;
		n = recv(k->fd, k->in + k->in_len, CAT_CTL_LINE_MAX + 1 - k->in_len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n == 0) {
			k->eof = 1;
			process_lines(c, k, 0);
			return;
		}
		if (n < 0) {
			k->dead = 1;
			return;
		}
		k->in_len += (size_t)n;
		process_lines(c, k, 0);
		if (k->closing || k->dead)
			return;
	}
}

/* Management connection: one read a round, at most a round's requests
 * handled; what it sent beyond waits in the kernel (its writes block,
 * which is the back-pressure a pipelining client should feel). */
static int mgmt_read(struct cat_ctl *c, struct cat_ctl_conn *k,
		     uint64_t round_end_ms)
{
	ssize_t n;

	if (k->in_len > CAT_CTL_LINE_MAX)
		return process_lines(c, k, round_end_ms);
	do
		n = recv(k->fd, k->in + k->in_len,
			 CAT_CTL_LINE_MAX + 1 - k->in_len, 0);
	while (n < 0 && errno == EINTR);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return process_lines(c, k, round_end_ms);
	if (n < 0) {
		k->dead = 1;
		return 0;
	}
	if (n == 0)
		/* A last line without LF still counts: `printf '{..}' |
		 * socat` is a fair way to ask. */
		k->eof = 1;
	else
		k->in_len += (size_t)n;
	return process_lines(c, k, round_end_ms);
}

/* A management connection with a complete request waiting that it may be
 * given now: the next poll must not sleep. */
static int mgmt_has_work(const struct cat_ctl_conn *k)
{
	return k->kind == CAT_CTL_CONN_MGMT && !k->closing && !k->dead &&
	       !k->busy && mgmt_may_serve(k) && k->in_len > 0 &&
	       (k->eof || memchr(k->in, '\n', k->in_len) != NULL);
}

/* Connection deadlines: a node connection must say hello (and, with a
 * secret, authenticate) within auth_timeout_ms; a management client that
 * leaves its answers unread for mgmt_send_timeout_ms is dropped (Redis's
 * output buffer limit, by time: its buffer is already bounded), one that
 * asks nothing for mgmt_idle_timeout_ms is closed. */
static void conn_deadlines(struct cat_ctl *c, uint64_t now)
{
	const struct cat_ctl_config *cf = &c->cfg;

	for (uint16_t i = c->n_conns; i-- > 0;) {
		struct cat_ctl_conn *k = c->conns[i];

		if (k->dead)
			continue;
		if (k->kind == CAT_CTL_CONN_NODE && k->node == 0 &&
		    now >= k->opened_ms + cf->auth_timeout_ms) {
			cat_ctl_burst_note(c, CAT_CTL_BURST_NODE_TIMEOUT, now, 0,
				"node channel: connection from %s timed out: no %s "
				"within auth_timeout_ms = %u", k->peer,
				c->secret != NULL ? "authenticated hello" : "hello",
				cf->auth_timeout_ms);
			conn_cut(c, k, "timed out waiting for hello");
		} else if (k->out_len > 0 &&
			   (k->kind == CAT_CTL_CONN_MGMT || k->closing) &&
			   now >= k->out_since_ms + cf->mgmt_send_timeout_ms) {
			if (k->kind == CAT_CTL_CONN_MGMT)
				cat_ctl_burst_note(c, CAT_CTL_BURST_MGMT_SLOW, now, 0,
					"management socket: dropped %s: %zu bytes of "
					"answers unread for mgmt_send_timeout_ms = %u",
					k->peer, k->out_len, cf->mgmt_send_timeout_ms);
			conn_cut(c, k, "answers not read");
		} else if (k->kind == CAT_CTL_CONN_MGMT &&
			   cf->mgmt_idle_timeout_ms != 0 && k->out_len == 0 &&
			   !k->busy && now >= k->active_ms + cf->mgmt_idle_timeout_ms) {
			cat_ctl_burst_note(c, CAT_CTL_BURST_MGMT_IDLE, now, 0,
				"management socket: closed %s: no request for "
				"mgmt_idle_timeout_ms = %u", k->peer,
				cf->mgmt_idle_timeout_ms);
			conn_cut(c, k, "idle");
		}
	}
}

/* The earliest connection deadline (UINT64_MAX if none). */
static uint64_t conn_deadline(const struct cat_ctl *c)
{
	const struct cat_ctl_config *cf = &c->cfg;
	uint64_t d = UINT64_MAX;

	for (uint16_t i = 0; i < c->n_conns; i++) {
		const struct cat_ctl_conn *k = c->conns[i];
		uint64_t t = UINT64_MAX;

		if (k->kind == CAT_CTL_CONN_NODE && k->node == 0)
			t = k->opened_ms + cf->auth_timeout_ms;
		else if (k->out_len > 0 && (k->kind == CAT_CTL_CONN_MGMT || k->closing))
			t = k->out_since_ms + cf->mgmt_send_timeout_ms;
		else if (k->kind == CAT_CTL_CONN_MGMT && cf->mgmt_idle_timeout_ms != 0)
			t = k->active_ms + cf->mgmt_idle_timeout_ms;
		if (t < d)
			d = t;
	}
	return d;
}

static void conn_flush(struct cat_ctl_conn *k)
{
	size_t off = 0;

	while (off < k->out_len && !k->dead) {
		ssize_t n = send(k->fd, k->out + off, k->out_len - off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n < 0) {
			k->dead = 1;
			break;
		}
		off += (size_t)n;
	}
	if (off > 0)
		k->out_since_ms = cat_ctl_now_ms();
	memmove(k->out, k->out + off, k->out_len - off);
	k->out_len -= off;
}

/* Open the store: the file backend takes its lock; the etcd backend only
 * prepares its client (nothing is read before this instance leads).
 * Returns 0 or an exit status. */
static int open_store(struct cat_ctl *c, struct cat_ctl_etcd *etcd)
{
	char err[512], name[CAT_CTL_STORE_PATH_MAX];
	int rc;

	if (strcmp(c->cfg.store, "etcd") != 0) {
		rc = cat_ctl_store_init(&c->store, c->cfg.state_dir, err, sizeof(err));
		if (rc < 0) {
			fprintf(stderr, "%scatena-control: store: %s\n",
				cat_service_err(), err);
			return 1;
		}
		return 0;
	}
	if (c->cfg.instance[0] == '\0') {
		char host[40] = "";

		gethostname(host, sizeof(host) - 1);
		snprintf(c->cfg.instance, sizeof(c->cfg.instance), "%s:%ld", host,
			 (long)getpid());
	}
	rc = cat_ctl_etcd_init(etcd, c->cfg.etcd_endpoints, c->cfg.etcd_prefix,
			       c->cfg.instance, c->cfg.lease_ms, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "%scatena-control: store: %s\n",
			cat_service_err(), err);
		return rc == -EINVAL ? 2 : 1;
	}
	c->etcd = etcd;
	snprintf(name, sizeof(name), "etcd:%s", etcd->map_key);
	cat_ctl_store_init_io(&c->store, name, cat_ctl_etcd_get_map,
			      cat_ctl_etcd_put_map, etcd);
	return 0;
}

/* With a cluster secret, the link seed is in the store before any map
 * goes out (cat_ctl_link_seed_ensure). 0 or an exit status. */
static int ensure_seed(struct cat_ctl *c)
{
	char err[512];

	if (cat_ctl_link_seed_ensure(c, err, sizeof(err)) == 0)
		return 0;
	fprintf(stderr, "%scatena-control: store: link seed: %s\n",
		cat_service_err(), err);
	return 1;
}

/* Load the stored map, or store initial_map in an empty store. Returns 0
 * or an exit status. */
static int load_store(struct cat_ctl *c)
{
	char err[512];
	struct cat_map *m = NULL;
	int rc;

	rc = cat_ctl_store_load(&c->store, &m, err, sizeof(err));
	if (rc == 0) {
		c->map = m;
		cat_ctl_event(c, "loaded epoch %u from %s (%zu history entries)",
			      m->epoch, c->store.path, c->store.n_hist);
		cat_ctl_rejoin_init(c);
		return ensure_seed(c);
	}
	if (rc != -ENOENT) {
		fprintf(stderr, "%scatena-control: store: %s\n",
			cat_service_err(), err);
		return 1;
	}
	if (c->cfg.initial_map[0] == '\0') {
		fprintf(stderr,
			"%scatena-control: store %s is empty and no initial_map is configured\n",
			cat_service_err(), c->store.path);
		return 2;
	}
	rc = cat_map_load(c->cfg.initial_map, &m, err, sizeof(err));
	if (rc == 0)
		rc = cat_ctl_plan_validate(NULL, m, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "%scatena-control: initial_map %s: %s\n",
			cat_service_err(),
			c->cfg.initial_map, rc == -EINVAL || rc == -E2BIG ? err :
			strerror(-rc));
		cat_map_free(m);
		return 2;
	}
	{
		char reason[CAT_CTL_PATH_MAX + 32];

		snprintf(reason, sizeof(reason), "initial map from %s",
			 c->cfg.initial_map);
		rc = cat_ctl_store_save(&c->store, m, reason, cat_ctl_now_unix(),
					err, sizeof(err));
		if (rc < 0) {
			fprintf(stderr, "%scatena-control: store: %s\n",
				cat_service_err(), err);
			cat_map_free(m);
			return 1;
		}
		c->map = m;
		cat_ctl_event(c, "%s stored in %s", reason, c->store.path);
	}
	cat_ctl_rejoin_init(c);
	return ensure_seed(c);
}

/* etcd: keep the lease. 0 while it surely holds, -1 when this instance
 * must stop acting now (the lease may be gone or about to go). */
static int keep_lease(struct cat_ctl *c, uint64_t *next_ka)
{
	struct cat_ctl_etcd *e = c->etcd;
	uint64_t now = cat_ctl_now_ms();
	char err[512];
	int rc;

	if (now >= e->lease_until_ms) {
		cat_ctl_event(c, "leader lease not renewed in time (%u ms)",
			      c->cfg.lease_ms);
		return -1;
	}
	if (now < *next_ka)
		return 0;
	rc = cat_ctl_etcd_keepalive(e, now, err, sizeof(err));
	if (rc == -ENOENT) {
		cat_ctl_event(c, "leader lease lost: %s", err);
		return -1;
	}
	if (rc < 0) {
		/* Try again soon; lease_until_ms decides when to give up. */
		cat_ctl_event(c, "leader lease keepalive failed: %s", err);
		*next_ka = cat_ctl_now_ms() + 100;
	} else {
		*next_ka = now + c->cfg.lease_ms / 3;
	}
	if (cat_ctl_now_ms() >= e->lease_until_ms) {
		cat_ctl_event(c, "leader lease not renewed in time (%u ms)",
			      c->cfg.lease_ms);
		return -1;
	}
	return 0;
}

/* etcd: a map compare-and-swap was lost. Still the leader: take the
 * stored map (someone wrote it with our key? then it is ours to serve)
 * and go on; otherwise -1: stop acting. */
static int after_lost_cas(struct cat_ctl *c)
{
	struct cat_map *m = NULL;
	char err[512];
	int rc = cat_ctl_etcd_check_leader(c->etcd, err, sizeof(err));

	c->etcd->lost = 0;
	if (rc <= 0) {
		cat_ctl_event(c, "map compare-and-swap lost and %s: stepping down",
			      rc == 0 ? "no longer the leader" : err);
		return -1;
	}
	rc = cat_ctl_store_load(&c->store, &m, err, sizeof(err));
	if (rc < 0) {
		cat_ctl_event(c, "map compare-and-swap lost, reload failed (%s): stepping down",
			      rc == -ENOENT ? "no map stored" : err);
		return -1;
	}
	cat_map_free(c->map);
	c->map = m;
	cat_ctl_sync_nodes(c);
	cat_ctl_reshard_restore(c);
	for (uint16_t i = 0; i < c->n_conns; i++) {
		struct cat_ctl_conn *k = c->conns[i];

		if (k->kind == CAT_CTL_CONN_NODE && k->node != 0 && !k->closing)
			cat_ctl_push_map(c, k);
	}
	cat_ctl_event(c, "map compare-and-swap lost: reloaded epoch %u from %s",
		      m->epoch, c->store.path);
	return 0;
}

/* Work (or descheduling) between two looks at the node channel longer
 * than this is a stall of the loop, not of any node. */
static uint64_t stall_threshold_ms(const struct cat_ctl *c)
{
	uint64_t t = c->cfg.heartbeat_timeout_ms / 4u;

	return t < 50u ? 50u : t;
}

/* Returns 0 on a stop signal or poll error, 1 when leadership was lost. */
/* What one round of the loop polls: the two listeners, every connection
 * (a management client only when it may be served), the metrics server. */
struct round {
	struct pollfd pf[3 + CAT_CTL_CONNS_MAX];
	uint16_t n;            /* connections polled (pf[2..2+n)) */
	int work;              /* a management request is waiting: no sleep */
	int64_t wait;          /* ms the poll may sleep */
	uint64_t t_poll, t_woke;
};

static void poll_set(struct cat_ctl *c, struct round *r, int node_fd,
		     int mgmt_fd)
{
	r->n = c->n_conns;
	r->work = 0;
	r->pf[0] = (struct pollfd){ .fd = node_fd, .events = POLLIN };
	r->pf[1] = (struct pollfd){ .fd = mgmt_fd, .events = POLLIN };
	for (uint16_t i = 0; i < r->n; i++) {
		struct cat_ctl_conn *k = c->conns[i];
		int want_in = !k->closing && !k->eof &&
			      !(k->busy && k->in_len > CAT_CTL_LINE_MAX);

		/* A management client is read only when it may be answered
		 * and has no complete request waiting. */
		if (k->kind == CAT_CTL_CONN_MGMT && want_in) {
			want_in = mgmt_may_serve(k) && !mgmt_has_work(k);
			r->work |= mgmt_has_work(k);
		}
		r->pf[2 + i] = (struct pollfd){ .fd = k->fd };
		if (want_in)
			r->pf[2 + i].events |= POLLIN;
		if (k->out_len > 0)
			r->pf[2 + i].events |= POLLOUT;
	}
	if (c->metrics != NULL)
		r->pf[2 + r->n] = (struct pollfd){
			.fd = cat_ctl_metrics_fd(c->metrics), .events = POLLIN,
		};
}

/* The earliest thing due: a heartbeat, a verify, a connection's
 * deadline, the etcd keepalive or lease, the metrics server's timer. */
static uint64_t next_deadline(struct cat_ctl *c, uint64_t now, uint64_t next_ka)
{
	uint64_t dl = cat_ctl_node_deadline(c), t;

	if (cat_ctl_verify_deadline(c) < dl)
		dl = cat_ctl_verify_deadline(c);
	if (cat_ctl_backup_deadline(c) < dl)
		dl = cat_ctl_backup_deadline(c);
	if (conn_deadline(c) < dl)
		dl = conn_deadline(c);
	if (c->etcd != NULL && next_ka < dl)
		dl = next_ka;
	if (c->etcd != NULL && c->etcd->lease_until_ms < dl)
		dl = c->etcd->lease_until_ms;
	if (c->metrics != NULL &&
	    (t = cat_ctl_metrics_timeout_ms(c->metrics)) != UINT64_MAX &&
	    now + t < dl)
		dl = now + t;
	return dl;
}

/*
 * The node channel, all of it: heartbeats already in socket buffers, and
 * nodes that reconnected while we were not looking (their hello waits).
 */
static void serve_nodes(struct cat_ctl *c, const struct round *r, int node_fd)
{
	for (uint16_t i = 0; i < c->n_conns; i++) {
		struct cat_ctl_conn *k = c->conns[i];

		if (k->kind == CAT_CTL_CONN_NODE &&
		    (k->revents & (POLLIN | POLLHUP | POLLERR)))
			node_read(c, k);
	}
	if (r->pf[0].revents & POLLIN) {
		uint16_t old_n = c->n_conns;

		accept_all(c, node_fd, CAT_CTL_CONN_NODE);
		for (uint16_t i = old_n; i < c->n_conns; i++)
			if (c->conns[i]->kind == CAT_CTL_CONN_NODE)
				node_read(c, c->conns[i]);
	}
}

/*
 * Time the loop spent not waiting since it last looked at the node
 * channel, plus any oversleep, is a stall of ours: no node's deadline
 * pays for it (a node may have reconnected meanwhile, or its heartbeat
 * may be on its way).
 */
static void check_stall(struct cat_ctl *c, const struct round *r,
			uint64_t last_look, uint64_t now)
{
	uint64_t busy = (r->t_poll - last_look) + (now - r->t_woke);
	uint64_t slept = r->t_woke - r->t_poll;
	uint64_t over = slept > (uint64_t)r->wait ? slept - (uint64_t)r->wait : 0;

	if (last_look != 0 && busy + over >= stall_threshold_ms(c))
		cat_ctl_loop_stalled(c, now, busy + over, now - last_look);
}

/* Operators and scrapers within the round's budget, then the policy's
 * ticks and verify, then requests held behind a verify. */
static void serve_operators(struct cat_ctl *c, const struct round *r,
			    int mgmt_fd, uint64_t round_end)
{
	uint64_t now;

	for (uint16_t i = 0; i < c->n_conns; i++) {
		struct cat_ctl_conn *k = c->conns[i];

		if (k->kind != CAT_CTL_CONN_MGMT)
			continue;
		if (k->revents & (POLLIN | POLLHUP | POLLERR))
			mgmt_read(c, k, round_end);
		else
			process_lines(c, k, round_end);
	}
	if (r->pf[1].revents & POLLIN)
		accept_all(c, mgmt_fd, CAT_CTL_CONN_MGMT);
	/* MHD_run also expires its idle connections. */
	if (c->metrics != NULL)
		cat_ctl_metrics_run(c->metrics);
	now = cat_ctl_now_ms();
	if (!cat_ctl_rebuild_tick(c, now) && !cat_ctl_rejoin_tick(c, now) &&
	    !cat_ctl_reshard_tick(c, now))
		cat_ctl_repair_tick(c, now);
	cat_ctl_verify_tick(c, now);
	cat_ctl_backup_tick(c, now);
	for (uint16_t i = 0; i < c->n_conns; i++)
		process_lines(c, c->conns[i], round_end);
}

/* Send what is queued; close what is done or dead. */
static void flush_and_close(struct cat_ctl *c)
{
	for (uint16_t i = 0; i < c->n_conns; i++)
		if (c->conns[i]->out_len > 0)
			conn_flush(c->conns[i]);
	for (uint16_t i = c->n_conns; i-- > 0;) {
		struct cat_ctl_conn *k = c->conns[i];

		if (k->dead || (k->closing && k->out_len == 0 && !k->busy))
			conn_free(c, i);
	}
}

static int loop(struct cat_ctl *c, int node_fd, int mgmt_fd)
{
	struct round r;
	uint64_t next_ka = 0, last_look = 0;
	sigset_t during;

	sigemptyset(&during);
	if (c->etcd != NULL)
		next_ka = cat_ctl_now_ms() + c->cfg.lease_ms / 3;
	while (!stop_signal) {
		uint64_t now = cat_ctl_now_ms(), dl;
		struct timespec ts;

		poll_set(c, &r, node_fd, mgmt_fd);
		dl = next_deadline(c, now, next_ka);
		/* At most a second: the loop also notices a stop signal that
		 * way, whatever the deadlines. */
		r.wait = r.work || dl <= now ? 0 : dl - now > 1000 ? 1000 :
			 (int64_t)(dl - now);
		ts.tv_sec = r.wait / 1000;
		ts.tv_nsec = (long)(r.wait % 1000) * 1000000L;
		/* SIGINT/SIGTERM are blocked except inside ppoll, so a signal
		 * is never lost between the check and the wait. */
		r.t_poll = cat_ctl_now_ms();
		if (ppoll(r.pf, 2u + r.n + (c->metrics != NULL), &ts, &during) < 0 &&
		    errno != EINTR)
			break;
		r.t_woke = cat_ctl_now_ms();
		if (stop_signal)
			break;
		for (uint16_t i = 0; i < r.n; i++)
			c->conns[i]->revents = r.pf[2 + i].revents;
		for (uint16_t i = r.n; i < c->n_conns; i++)
			c->conns[i]->revents = 0;
		/* Before anything is read: an instance that may have lost its
		 * lease (a long stall, etcd gone) acts on nothing more. */
		if (c->etcd != NULL && keep_lease(c, &next_ka) < 0)
			return 1;
		/* The node channel first and the failure detector right
		 * after: nothing an operator asks runs between the read and
		 * the deadline check. */
		serve_nodes(c, &r, node_fd);
		now = cat_ctl_now_ms();
		check_stall(c, &r, last_look, now);
		cat_ctl_node_tick(c, now);
		last_look = cat_ctl_now_ms();
		serve_operators(c, &r, mgmt_fd, last_look + CAT_CTL_MGMT_ROUND_MS);
		if (c->etcd != NULL && c->etcd->lost && after_lost_cas(c) < 0)
			return 1;
		now = cat_ctl_now_ms();
		conn_deadlines(c, now);
		cat_ctl_burst_tick(c, now);
		flush_and_close(c);
	}
	return 0;
}

struct listeners {
	int node_fd, mgmt_fd;
	ino_t node_ino, mgmt_ino;   /* the socket files this process made */
};

static ino_t inode_of(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0 ? st.st_ino : 0;
}

static int open_listeners(struct cat_ctl *c, struct listeners *l, int force)
{
	char err[512];

	l->node_ino = l->mgmt_ino = 0;
	if (c->cfg.node_kind == CAT_CTL_LISTEN_UNIX)
		l->node_fd = listen_unix(c->cfg.node_path, force, err, sizeof(err));
	else
		l->node_fd = listen_tcp(c->cfg.node_ip, c->cfg.node_port, err,
					sizeof(err));
	if (l->node_fd < 0) {
		fprintf(stderr, "%scatena-control: node_listen %s\n",
			cat_service_err(), err);
		return -1;
	}
	if (c->cfg.node_kind == CAT_CTL_LISTEN_UNIX)
		l->node_ino = inode_of(c->cfg.node_path);
	l->mgmt_fd = listen_unix(c->cfg.mgmt_socket, force, err, sizeof(err));
	if (l->mgmt_fd < 0) {
		fprintf(stderr, "%scatena-control: mgmt_socket %s\n",
			cat_service_err(), err);
		close(l->node_fd);
		if (c->cfg.node_kind == CAT_CTL_LISTEN_UNIX)
			unlink(c->cfg.node_path);
		return -1;
	}
	l->mgmt_ino = inode_of(c->cfg.mgmt_socket);
	if (c->cfg.metrics_on) {
		c->metrics = cat_ctl_metrics_open(c, c->cfg.metrics_ip,
						  c->cfg.metrics_port, err,
						  sizeof(err));
		if (c->metrics == NULL) {
			fprintf(stderr, "%scatena-control: %s\n",
				cat_service_err(), err);
			close(l->node_fd);
			close(l->mgmt_fd);
			if (c->cfg.node_kind == CAT_CTL_LISTEN_UNIX)
				unlink(c->cfg.node_path);
			unlink(c->cfg.mgmt_socket);
			return -1;
		}
	}
	return 0;
}

/* Close every connection and both listeners. unlink: remove the socket
 * files too, but only if they are still the ones this process bound (an
 * etcd leader that took over may have replaced them). */
static void close_all(struct cat_ctl *c, struct listeners *l, int unlink_files)
{
	while (c->n_conns > 0)
		conn_free(c, (uint16_t)(c->n_conns - 1));
	cat_ctl_metrics_close(c->metrics);
	c->metrics = NULL;
	close(l->node_fd);
	close(l->mgmt_fd);
	if (!unlink_files)
		return;
	if (c->cfg.node_kind == CAT_CTL_LISTEN_UNIX &&
	    inode_of(c->cfg.node_path) == l->node_ino)
		unlink(c->cfg.node_path);
	if (inode_of(c->cfg.mgmt_socket) == l->mgmt_ino)
		unlink(c->cfg.mgmt_socket);
}

/* "A.B.C.D:PORT/metrics", or "off". */
static const char *metrics_text(const struct cat_ctl *c)
{
	static char buf[64];
	struct in_addr ia = { .s_addr = htonl(c->cfg.metrics_ip) };
	char a[INET_ADDRSTRLEN];

	if (!c->cfg.metrics_on)
		return "off";
	inet_ntop(AF_INET, &ia, a, sizeof(a));
	snprintf(buf, sizeof(buf), "http://%s:%u/metrics", a, c->cfg.metrics_port);
	return buf;
}

static void print_ready(struct cat_ctl *c)
{
	char status[160];

	if (c->etcd != NULL)
		printf("catena-control: ready epoch=%u nodes=%u chains=%u node_listen=%s mgmt_socket=%s node_auth=%s metrics=%s instance=%s\n",
		       c->map->epoch, c->map->n_nodes, c->map->n_chains,
		       c->cfg.node_listen, c->cfg.mgmt_socket,
		       c->secret != NULL ? CAT_AUTH_ALG : "none",
		       metrics_text(c), c->cfg.instance);
	else
		printf("catena-control: ready epoch=%u nodes=%u chains=%u node_listen=%s mgmt_socket=%s node_auth=%s metrics=%s\n",
		       c->map->epoch, c->map->n_nodes, c->map->n_chains,
		       c->cfg.node_listen, c->cfg.mgmt_socket,
		       c->secret != NULL ? CAT_AUTH_ALG : "none",
		       metrics_text(c));
	fflush(stdout);
	/* Type=notify: both sockets listen and the map is stored, so nodes
	 * (ordered After= this unit) connect to a control plane that answers. */
	snprintf(status, sizeof(status), "READY=1\nSTATUS=%s epoch %u, %u nodes, "
		 "%u chains", c->etcd != NULL ? "leader at" : "serving",
		 c->map->epoch, c->map->n_nodes, c->map->n_chains);
	cat_service_notify(status);
}

static const char *stop_name(void)
{
	return stop_signal == SIGINT ? "SIGINT" :
	       stop_signal == SIGTERM ? "SIGTERM" : "poll error";
}

/* Forget everything a leader knew: a later term starts from the store. */
static void drop_state(struct cat_ctl *c)
{
	cat_ctl_verify_fini(c);
	cat_ctl_backup_fini(c);
	for (uint16_t i = 0; i < c->n_nodes; i++)
		cat_ctl_node_release(&c->nodes[i]);
	c->n_nodes = 0;
	cat_map_free(c->map);
	c->map = NULL;
}

/* etcd: one term as leader. Returns -1 to go back to following, or an
 * exit status. */
static int lead(struct cat_ctl *c)
{
	struct listeners l;
	int rc;

	cat_ctl_event(c, "instance %s is the leader (lease %u ms)",
		      c->cfg.instance, c->cfg.lease_ms);
	rc = load_store(c);
	if (rc == 2) {
		cat_ctl_etcd_resign(c->etcd);
		return 2;
	}
	if (rc != 0 || cat_ctl_now_ms() >= c->etcd->lease_until_ms) {
		cat_ctl_event(c, "could not take over (%s): resigning",
			      rc != 0 ? "store unreadable" : "lease ran out");
		cat_ctl_etcd_resign(c->etcd);
		drop_state(c);
		return -1;
	}
	cat_ctl_sync_nodes(c);
	cat_ctl_reshard_restore(c);
	if (open_listeners(c, &l, 1) < 0) {
		cat_ctl_event(c, "cannot bind the sockets: resigning");
		cat_ctl_etcd_resign(c->etcd);
		drop_state(c);
		return -1;
	}
	print_ready(c);
	rc = loop(c, l.node_fd, l.mgmt_fd);
	if (rc == 1) {
		/* Leave the socket files: a new leader replaces them, and one
		 * may already have. */
		close_all(c, &l, 0);
		cat_ctl_etcd_forget(c->etcd);
		cat_ctl_event(c, "stopped acting: now a follower");
		drop_state(c);
		return -1;
	}
	cat_ctl_event(c, "stopping (%s)", stop_name());
	close_all(c, &l, 1);
	cat_ctl_etcd_resign(c->etcd);
	return stop_signal != 0 ? 0 : 1;
}

/* etcd: follow until elected, lead, follow again when the lease is lost. */
static int run_etcd(struct cat_ctl *c)
{
	char who[64], last_who[64] = "", err[512], last_err[512] = "";
	sigset_t during;
	uint64_t next_try = 0;

	sigemptyset(&during);
	printf("catena-control: standby instance=%s etcd=%s prefix=%s\n",
	       c->cfg.instance, c->cfg.etcd_endpoints, c->cfg.etcd_prefix);
	fflush(stdout);
	/* A follower is doing its job: started, as far as systemd is
	 * concerned (else Type=notify would time a standby's start out). */
	cat_service_notify("READY=1\nSTATUS=standby: following the etcd leader");
	while (!stop_signal) {
		uint64_t now = cat_ctl_now_ms();
		struct timespec ts;
		int rc;

		if (now >= next_try) {
			next_try = now + c->cfg.lease_ms / 2;
			rc = cat_ctl_etcd_campaign(c->etcd, now, who, sizeof(who),
						   err, sizeof(err));
			if (rc < 0 && strcmp(err, last_err) != 0) {
				cat_ctl_event(c, "etcd: %s", err);
				snprintf(last_err, sizeof(last_err), "%s", err);
			}
			if (rc >= 0)
				last_err[0] = '\0';
			if (rc == 0 && strcmp(who, last_who) != 0) {
				cat_ctl_event(c, "follower: the leader is %s", who);
				snprintf(last_who, sizeof(last_who), "%s", who);
			}
			if (rc == 1) {
				last_who[0] = '\0';
				rc = lead(c);
				if (rc >= 0)
					return rc;
				/* Lost: wait a retry period, so that another
				 * instance gets its chance first. */
				next_try = cat_ctl_now_ms() + c->cfg.lease_ms / 2;
			}
			continue;
		}
		ts.tv_sec = (time_t)((next_try - now) / 1000);
		ts.tv_nsec = (long)((next_try - now) % 1000) * 1000000L;
		ppoll(NULL, 0, &ts, &during);
	}
	cat_ctl_event(c, "stopping (%s)", stop_name());
	return 0;
}

static int run(struct cat_ctl *c, struct cat_ctl_etcd *etcd, int argc,
	       char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *cfg_path = NULL;
	char err[512];
	int opt, rc;
	struct sigaction sa = { .sa_handler = on_signal };
	sigset_t block;
	struct listeners l;

	while ((opt = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			cfg_path = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (cfg_path == NULL || optind != argc) {
		usage(stderr);
		return 2;
	}
	rc = cat_ctl_config_load(cfg_path, &c->cfg, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "%scatena-control: config %s: %s\n",
			cat_service_err(), cfg_path, err);
		return 2;
	}
	if (c->cfg.secret_file[0] != '\0') {
		c->secret = calloc(1, sizeof(*c->secret));
		if (c->secret == NULL)
			return 1;
		rc = cat_auth_secret_load(c->cfg.secret_file, c->secret, err,
					  sizeof(err));
		if (rc < 0) {
			fprintf(stderr, "%scatena-control: config %s: %s\n",
				cat_service_err(), cfg_path,
				err);
			return 2;
		}
	}
	c->start_ms = cat_ctl_now_ms();
	c->start_unix = cat_ctl_now_unix();
	signal(SIGPIPE, SIG_IGN);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigprocmask(SIG_BLOCK, &block, NULL);

	rc = open_store(c, etcd);
	if (rc != 0)
		return rc;
	if (c->etcd != NULL)
		return run_etcd(c);
	rc = load_store(c);
	if (rc != 0)
		return rc;
	cat_ctl_sync_nodes(c);
	cat_ctl_reshard_restore(c);
	if (open_listeners(c, &l, 0) < 0)
		return 1;
	print_ready(c);

	loop(c, l.node_fd, l.mgmt_fd);
	rc = stop_signal != 0 ? 0 : 1;

	cat_ctl_event(c, "stopping (%s)", stop_name());
	close_all(c, &l, 1);
	return rc;
}

int main(int argc, char **argv)
{
	struct cat_ctl *c = calloc(1, sizeof(*c));
	struct cat_ctl_etcd *etcd = calloc(1, sizeof(*etcd));
	int rc;

	if (cat_version_arg(argc, argv, "catena-control")) {
		free(c);
		free(etcd);
		return 0;
	}
	if (c == NULL || etcd == NULL) {
		free(c);
		free(etcd);
		return 1;
	}
	/* Under systemd with stderr on the journal: events at NOTICE, the
	 * lines that end the process (cat_service_err) at ERR. */
	(void)cat_service_journal_stderr(LOG_NOTICE);
	c->store.lock_fd = -1;
	rc = run(c, etcd, argc, argv);
	if (rc == 0)
		cat_service_notify("STOPPING=1");
	cat_ctl_verify_fini(c);
	cat_ctl_backup_fini(c);
	for (uint16_t i = 0; i < c->n_nodes; i++)
		cat_ctl_node_release(&c->nodes[i]);
	cat_map_free(c->map);
	cat_ctl_store_fini(&c->store);
	cat_ctl_etcd_fini(etcd);
	free(etcd);
	if (c->secret != NULL)
		cat_auth_secret_clear(c->secret);
	free(c->secret);
	free(c);
	return rc;
}
