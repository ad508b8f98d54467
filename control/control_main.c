/*
 * catena-control: owns the cluster map. One thread runs a poll() loop over
 * the node-channel listener and its connections, the management socket and
 * its connections, and the heartbeat and verify deadlines. Sockets are
 * non-blocking and every input line is bounded; the only blocking call is
 * the store's fsync, which must finish before a new map is sent anyway.
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
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include "control/ctl.h"
#include "control/planner.h"

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
		"  Config keys and protocols: docs/CONTROL.md.\n");
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
 * accepting) is replaced; a live one, or any other file, is an error. */
static int listen_unix(const char *path, char *err, size_t errlen)
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
		probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
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

	if (k->kind == CAT_CTL_CONN_NODE)
		cat_ctl_node_closed(c, k);
	close(k->fd);
	free(k->in);
	free(k->out);
	free(k);
	c->conns[i] = c->conns[--c->n_conns];
}

static void accept_all(struct cat_ctl *c, int lfd, enum cat_ctl_conn_kind kind)
{
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct cat_ctl_conn *k;

		if (fd < 0)
			return;
		if (c->n_conns >= CAT_CTL_CONNS_MAX) {
			static const char full[] =
				"{\"type\":\"error\",\"error\":\"too many connections\"}\n";

			(void)!send(fd, full, sizeof(full) - 1, MSG_NOSIGNAL);
			close(fd);
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
		c->conns[c->n_conns++] = k;
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

/* Hand every complete line to its protocol; stop while a verify holds a
 * management connection, so its answers keep the order of its requests. */
static void process_lines(struct cat_ctl *c, struct cat_ctl_conn *k)
{
	int eof = k->eof;
	size_t off = 0;

	while (!k->closing && !k->dead && !k->busy && off < k->in_len) {
		char *lf = memchr(k->in + off, '\n', k->in_len - off);
		size_t n;

		if (lf == NULL && !eof)
			break;
		n = lf != NULL ? (size_t)(lf - (k->in + off)) : k->in_len - off;
		if (k->kind == CAT_CTL_CONN_NODE)
			cat_ctl_node_line(c, k, k->in + off, n);
		else
			cat_ctl_mgmt_line(c, k, k->in + off, n);
		off += n + (lf != NULL);
	}
	if (off > 0) {
		memmove(k->in, k->in + off, k->in_len - off);
		k->in_len -= off;
	}
	if (!k->busy && k->in_len > CAT_CTL_LINE_MAX && !k->closing)
		too_long(k);
	if (eof && !k->busy)
		k->closing = 1;
}

static void conn_read(struct cat_ctl *c, struct cat_ctl_conn *k)
{
	for (;;) {
		ssize_t n;

		if (k->in_len > CAT_CTL_LINE_MAX)
			return; /* held (busy) with a full buffer: read later */
		n = recv(k->fd, k->in + k->in_len, CAT_CTL_LINE_MAX + 1 - k->in_len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n == 0) {
			/* A last line without LF still counts: `printf '{..}' |
			 * socat` is a fair way to ask. */
			k->eof = 1;
			process_lines(c, k);
			return;
		}
		if (n < 0) {
			k->dead = 1;
			return;
		}
		k->in_len += (size_t)n;
		process_lines(c, k);
		if (k->closing || k->dead)
			return;
	}
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
	memmove(k->out, k->out + off, k->out_len - off);
	k->out_len -= off;
}

static int start_store(struct cat_ctl *c)
{
	char err[512];
	struct cat_map *m = NULL;
	int rc;

	rc = cat_ctl_store_init(&c->store, c->cfg.state_dir, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "catena-control: store: %s\n", err);
		return 1;
	}
	rc = cat_ctl_store_load(&c->store, &m, err, sizeof(err));
	if (rc == 0) {
		c->map = m;
		cat_ctl_event(c, "loaded epoch %u from %s (%zu history entries)",
			      m->epoch, c->store.path, c->store.n_hist);
		return 0;
	}
	if (rc != -ENOENT) {
		fprintf(stderr, "catena-control: store: %s\n", err);
		return 1;
	}
	if (c->cfg.initial_map[0] == '\0') {
		fprintf(stderr,
			"catena-control: store %s is empty and no initial_map is configured\n",
			c->store.path);
		return 2;
	}
	rc = cat_map_load(c->cfg.initial_map, &m, err, sizeof(err));
	if (rc == 0)
		rc = cat_ctl_plan_validate(NULL, m, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "catena-control: initial_map %s: %s\n",
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
			fprintf(stderr, "catena-control: store: %s\n", err);
			cat_map_free(m);
			return 1;
		}
		c->map = m;
		cat_ctl_event(c, "%s stored in %s", reason, c->store.path);
	}
	return 0;
}

static void loop(struct cat_ctl *c, int node_fd, int mgmt_fd)
{
	struct pollfd pf[2 + CAT_CTL_CONNS_MAX];
	sigset_t during;

	sigemptyset(&during);
	while (!stop_signal) {
		uint64_t now = cat_ctl_now_ms(), dl;
		struct timespec ts;
		uint16_t n = c->n_conns;
		int64_t wait;

		pf[0] = (struct pollfd){ .fd = node_fd, .events = POLLIN };
		pf[1] = (struct pollfd){ .fd = mgmt_fd, .events = POLLIN };
		for (uint16_t i = 0; i < n; i++) {
			struct cat_ctl_conn *k = c->conns[i];

			pf[2 + i] = (struct pollfd){ .fd = k->fd };
			if (!k->closing && !k->eof &&
			    !(k->busy && k->in_len > CAT_CTL_LINE_MAX))
				pf[2 + i].events |= POLLIN;
			if (k->out_len > 0)
				pf[2 + i].events |= POLLOUT;
		}
		dl = cat_ctl_node_deadline(c);
		if (cat_ctl_mgmt_deadline(c) < dl)
			dl = cat_ctl_mgmt_deadline(c);
		/* At most a second: the loop also notices a stop signal that
		 * way, whatever the deadlines. */
		wait = dl <= now ? 0 : dl - now > 1000 ? 1000 : (int64_t)(dl - now);
		ts.tv_sec = wait / 1000;
		ts.tv_nsec = (long)(wait % 1000) * 1000000L;
		/* SIGINT/SIGTERM are blocked except inside ppoll, so a signal
		 * is never lost between the check and the wait. */
		if (ppoll(pf, 2u + n, &ts, &during) < 0 && errno != EINTR)
			break;
		if (stop_signal)
			break;
		/* Read everything first, then look at deadlines: a heartbeat
		 * that waited in a socket buffer still counts. */
		for (uint16_t i = 0; i < n; i++)
			if (pf[2 + i].revents & (POLLIN | POLLHUP | POLLERR))
				conn_read(c, c->conns[i]);
		if (pf[0].revents & POLLIN)
			accept_all(c, node_fd, CAT_CTL_CONN_NODE);
		if (pf[1].revents & POLLIN)
			accept_all(c, mgmt_fd, CAT_CTL_CONN_MGMT);
		now = cat_ctl_now_ms();
		cat_ctl_node_tick(c, now);
		cat_ctl_mgmt_tick(c, now);
		for (uint16_t i = 0; i < c->n_conns; i++)
			process_lines(c, c->conns[i]); /* held lines after a verify */
		for (uint16_t i = 0; i < c->n_conns; i++)
			if (c->conns[i]->out_len > 0)
				conn_flush(c->conns[i]);
		for (uint16_t i = c->n_conns; i-- > 0;) {
			struct cat_ctl_conn *k = c->conns[i];

			if (k->dead || (k->closing && k->out_len == 0 && !k->busy))
				conn_free(c, i);
		}
	}
}

static int run(struct cat_ctl *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *cfg_path = NULL;
	char err[512];
	int opt, rc, node_fd, mgmt_fd;
	struct sigaction sa = { .sa_handler = on_signal };
	sigset_t block;

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
		fprintf(stderr, "catena-control: config %s: %s\n", cfg_path, err);
		return 2;
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

	rc = start_store(c);
	if (rc != 0)
		return rc;
	cat_ctl_sync_nodes(c);
	if (c->cfg.node_kind == CAT_CTL_LISTEN_UNIX)
		node_fd = listen_unix(c->cfg.node_path, err, sizeof(err));
	else
		node_fd = listen_tcp(c->cfg.node_ip, c->cfg.node_port, err,
				     sizeof(err));
	if (node_fd < 0) {
		fprintf(stderr, "catena-control: node_listen %s\n", err);
		return 1;
	}
	mgmt_fd = listen_unix(c->cfg.mgmt_socket, err, sizeof(err));
	if (mgmt_fd < 0) {
		fprintf(stderr, "catena-control: mgmt_socket %s\n", err);
		if (c->cfg.node_kind == CAT_CTL_LISTEN_UNIX)
			unlink(c->cfg.node_path);
		return 1;
	}
	printf("catena-control: ready epoch=%u nodes=%u chains=%u node_listen=%s mgmt_socket=%s\n",
	       c->map->epoch, c->map->n_nodes, c->map->n_chains,
	       c->cfg.node_listen, c->cfg.mgmt_socket);
	fflush(stdout);

	loop(c, node_fd, mgmt_fd);
	rc = stop_signal != 0 ? 0 : 1;

	cat_ctl_event(c, "stopping (%s)", stop_signal == SIGINT ? "SIGINT" :
		      stop_signal == SIGTERM ? "SIGTERM" : "poll error");
	while (c->n_conns > 0)
		conn_free(c, (uint16_t)(c->n_conns - 1));
	close(node_fd);
	close(mgmt_fd);
	if (c->cfg.node_kind == CAT_CTL_LISTEN_UNIX)
		unlink(c->cfg.node_path);
	unlink(c->cfg.mgmt_socket);
	return rc;
}

int main(int argc, char **argv)
{
	struct cat_ctl *c = calloc(1, sizeof(*c));
	int rc;

	if (c == NULL)
		return 1;
	c->store.lock_fd = -1;
	rc = run(c, argc, argv);
	cat_ctl_mgmt_fini(c);
	for (uint16_t i = 0; i < c->n_nodes; i++)
		json_decref(c->nodes[i].stats);
	cat_map_free(c->map);
	cat_ctl_store_fini(&c->store);
	free(c);
	return rc;
}
