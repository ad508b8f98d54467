/*
 * perf/bench_tel.c: a minimal client of DPDK's telemetry socket (v2:
 * SOCK_SEQPACKET, one JSON info message on connect, then one JSON reply
 * per command) for catena-node's /catena/lcores. See bench_tel.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <jansson.h>

#include "perf/bench_tel.h"

/* /catena/lcores of a node with many workers fits easily; DPDK's own
 * telemetry output buffer is 16 KiB. */
#define TEL_BUF 65536

int cat_btel_socket_path(const char *where, char *path, size_t len)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	int n;

	if (where[0] == '/')
		n = snprintf(path, len, "%s", where);
	else if (getuid() != 0 && xdg != NULL)
		n = snprintf(path, len, "%s/dpdk/%s/dpdk_telemetry.v2", xdg, where);
	else
		n = snprintf(path, len, "/var/run/dpdk/%s/dpdk_telemetry.v2", where);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static int get_u64(json_t *o, const char *k, uint64_t *v)
{
	json_t *x = json_object_get(o, k);

	if (!json_is_integer(x) || json_integer_value(x) < 0)
		return -1;
	*v = (uint64_t)json_integer_value(x);
	return 0;
}

static int parse(const char *buf, size_t len, struct cat_btel_lcores *out,
		 char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *root = json_loadb(buf, len, 0, &jerr), *lc, *w;
	const char *name;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	if (root == NULL) {
		snprintf(err, errlen, "reply is not JSON (%s)", jerr.text);
		return -EPROTO;
	}
	lc = json_object_get(root, "/catena/lcores");
	if (!json_is_object(lc)) {
		snprintf(err, errlen, "no /catena/lcores in the reply: not a catena-node?");
		json_decref(root);
		return -EPROTO;
	}
	json_object_foreach(lc, name, w) {
		uint64_t busy, idle, req, hz;

		if (strncmp(name, "worker", 6) != 0 || !json_is_object(w))
			continue;
		if (get_u64(w, "busy_tsc", &busy) < 0 || get_u64(w, "idle_tsc", &idle) < 0 ||
		    get_u64(w, "requests", &req) < 0 || get_u64(w, "tsc_hz", &hz) < 0) {
			snprintf(err, errlen, "%s has no busy_tsc/idle_tsc/tsc_hz: a "
				 "catena-node older than this catena-bench", name);
			rc = -EPROTO;
			break;
		}
		out->busy_tsc += busy;
		out->idle_tsc += idle;
		out->requests += req;
		out->tsc_hz = hz;
		out->workers++;
	}
	if (rc == 0 && out->workers == 0) {
		snprintf(err, errlen, "/catena/lcores lists no worker");
		rc = -EPROTO;
	}
	json_decref(root);
	return rc;
}

int cat_btel_read_lcores(const char *path, struct cat_btel_lcores *out,
			 char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = 2 };
	char *buf;
	ssize_t n;
	int fd, rc;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "%s: path too long", path);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, path);
	buf = malloc(TEL_BUF);
	if (buf == NULL) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s (is the node running, with this "
			 "--file-prefix, and telemetry on?)", path, strerror(errno));
		goto out;
	}
	/* The greeting (version, pid, max_output_len), then our command. */
	errno = 0;
	if (recv(fd, buf, TEL_BUF, 0) <= 0 ||
	    send(fd, "/catena/lcores", 14, 0) != 14 ||
	    (n = recv(fd, buf, TEL_BUF, 0)) <= 0) {
		rc = errno ? -errno : -EPROTO;
		snprintf(err, errlen, "%s: no reply to /catena/lcores (%s)", path,
			 errno ? strerror(errno) : "closed");
		goto out;
	}
	rc = parse(buf, (size_t)n, out, err, errlen);
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	return rc;
}
