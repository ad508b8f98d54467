/*
 * catenactl: the operator CLI of catena-control. Sends one request over the
 * management socket (one JSON line each way, docs/CONTROL.md), prints the
 * answer as tables for people or as JSON for scripts, and says by its exit
 * status how it went (the tables are catenactl_show.c). It must never trust
 * the answer: a line of any size or content is survived, and a usage error
 * never reaches the socket.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "catenactl_show.h"

#define DEFAULT_SOCKET "/run/catena/control.sock"
#define DEFAULT_TIMEOUT_MS 5000
/* verify waits for every node's digests, so it gets longer by default. */
#define VERIFY_TIMEOUT_MS 60000
/* The protocol caps lines at 64 KiB, but a slots or stats answer of a big
 * cluster may outgrow that; 16 MiB bounds the memory a broken or hostile
 * server can make us take. */
#define ANSWER_MAX (16u << 20)
/* No catena map has more slots: a bound on what paging may collect. */
#define SLOTS_MAX 65536

static const char usage_line[] =
	"usage: catenactl [-s SOCKET] [--json] [--timeout MS] COMMAND [ARGS]\n";

static const char usage_text[] =
	"\n"
	"Ask catena-control about the cluster, or tell it to change it, over its\n"
	"management socket, and print the answer.\n"
	"\n"
	"Options:\n"
	"  -s, --socket PATH    the management socket (default: $CATENA_CONTROL,\n"
	"                       else " DEFAULT_SOCKET ")\n"
	"      --json           print the answer's result as one line of JSON\n"
	"  -t, --timeout MS     give up when the command has no complete answer\n"
	"                       after MS ms (default 5000; verify: 60000)\n"
	"  -h, --help           this text\n"
	"\n"
	"Commands:\n"
	"  status                      epoch, nodes up/total, chains, slots, store,\n"
	"                              uptime, socket permissions, recent events\n"
	"  nodes                       every node: address, MAC, state, epoch\n"
	"                              applied, last heartbeat\n"
	"  chains                      every chain: members (head first), slots\n"
	"  slots [FIRST [COUNT]]       slot -> chain and its members: every slot,\n"
	"                              or from FIRST on (COUNT of them)\n"
	"  stats                       heartbeat counters per node, and their sums\n"
	"  epoch history               every epoch: number, time, reason\n"
	"  verify                      compare every slot's digest across the live\n"
	"                              replicas of its chain\n"
	"  node add ID IP[:PORT] MAC   add a node as a spare, in no chain\n"
	"                              (PORT default 7470)\n"
	"  node join ID CHAIN          a node in the map joins CHAIN: state transfer\n"
	"                              from the chain's tail, then it becomes tail\n"
	"  chain add ID NODE...        a new chain (head first), no slots yet\n"
	"  reshard move --slots A[-B] --to CHAIN\n"
	"                              move slots A..B to CHAIN while they serve\n"
	"  reshard rebalance           spread slots evenly over the chains\n"
	"  reshard status              moves in progress: step, copied, lag, ETA\n"
	"  reshard pause|resume        hold / continue every move at its next step\n"
	"  reshard cancel              every move heads back to its source chain\n"
	"  reshard rate BYTES          snapshot rate per node worker (0: no limit)\n"
	"  node drain ID               take a node out of every chain (new epoch)\n"
	"  node undrain ID             let a drained node hold chains again\n"
	"  node remove ID              drain a node, then forget it\n"
	"\n"
	"Exit status:\n"
	"  0 OK; 1 the answer says something is wrong (verify found replicas that\n"
	"  differ, or catena-control refused the request: its error is printed);\n"
	"  2 no usable answer (cannot connect, timeout, an answer that is not JSON\n"
	"  or is over 16 MiB); 64 usage error.\n"
	"With --json a failure prints {\"ok\":false,\"error\":\"...\"} on stdout.\n";

static int json_out;

static void __attribute__((noreturn, format(printf, 1, 2)))
usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("catenactl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fputs(usage_line, stderr);
	fputs("Try 'catenactl --help' for more information.\n", stderr);
	exit(CAT_CTL_EXIT_USAGE);
}

static void __attribute__((noreturn)) out_of_memory(void)
{
	fputs("catenactl: out of memory\n", stderr);
	exit(CAT_CTL_EXIT_NO_ANSWER);
}

/* ---- the management socket ---- */

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* SO_SNDTIMEO bounds a Unix-socket connect() as well as send(). */
static void set_sndtimeo(int fd, long long ms)
{
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = ms % 1000 * 1000 };

	if (ms <= 0)
		tv.tv_usec = 1000;
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

static const char *connect_hint(const char *path, int e)
{
	struct stat st;

	switch (e) {
	case ENOENT:
		return " (is catena-control running? -s or $CATENA_CONTROL "
		       "name another socket)";
	case ECONNREFUSED:
		if (stat(path, &st) == 0 && !S_ISSOCK(st.st_mode))
			return " (not a socket)";
		return " (nothing listens there: catena-control is not running)";
	case EACCES:
	case EPERM:
		return " (run as root or as a member of the socket's group)";
	case ENOTSOCK:
		return " (not a socket)";
	default:
		return "";
	}
}

/* Where to ask, and until when: --timeout bounds the whole command, so a
 * paged answer shares one deadline. */
struct target {
	const char *path;
	int timeout_ms;
	long long deadline;   /* now_ms() + timeout_ms at the start */
};

/*
 * Send req (a full line) to the socket and read one answer line before
 * the deadline. Returns 0 with the line in *line (malloc'ed, '\n'
 * stripped, length *len), or -1 with a message naming the socket in err.
 */
static int exchange(const struct target *t, const char *req, char **line,
		    size_t *len, char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *path = t->path;
	long long deadline = t->deadline;
	int timeout_ms = t->timeout_ms;
	size_t off = 0, reqlen = strlen(req), have = 0, cap = 0;
	char *buf = NULL, *nl = NULL;
	int fd, e;

	*line = NULL;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "cannot connect to %s: path longer than "
			 "%zu bytes", path, sizeof(sa.sun_path) - 1);
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "cannot connect to %s: socket: %s", path,
			 strerror(errno));
		return -1;
	}
	set_sndtimeo(fd, deadline - now_ms());
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		e = errno;
		if (e == EAGAIN || e == EINPROGRESS || e == ETIMEDOUT)
			snprintf(err, errlen, "cannot connect to %s: not accepted "
				 "within %d ms (catena-control is stuck or "
				 "overloaded)", path, timeout_ms);
		else
			snprintf(err, errlen, "cannot connect to %s: %s%s", path,
				 strerror(e), connect_hint(path, e));
		goto fail;
	}
	while (off < reqlen) {
		ssize_t n;

		set_sndtimeo(fd, deadline - now_ms());
		n = send(fd, req + off, reqlen - off, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			e = errno;
			if (e == EAGAIN || e == EWOULDBLOCK)
				snprintf(err, errlen, "%s: could not send the "
					 "request within %d ms", path, timeout_ms);
			else
				snprintf(err, errlen, "%s: sending the request: %s",
					 path, strerror(e));
			goto fail;
		}
		off += (size_t)n;
	}
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		long long left = deadline - now_ms();
		ssize_t n;
		int r;

		if (left <= 0) {
			snprintf(err, errlen, "no answer from %s within %d ms%s",
				 path, timeout_ms, have ? " (an incomplete line)" : "");
			goto fail;
		}
		r = poll(&pfd, 1, left > INT_MAX ? INT_MAX : (int)left);
		if (r < 0 && errno != EINTR) {
			snprintf(err, errlen, "%s: poll: %s", path, strerror(errno));
			goto fail;
		}
		if (r <= 0)
			continue;
		if (have == cap) {
			char *nb;

			/* One byte past the limit tells a line at the limit
			 * from one over it. */
			if (cap >= ANSWER_MAX + 1) {
				snprintf(err, errlen, "%s: the answer is longer "
					 "than %u MiB; not read", path, ANSWER_MAX >> 20);
				goto fail;
			}
			cap = cap ? cap * 2 : 65536;
			if (cap > ANSWER_MAX + 1)
				cap = ANSWER_MAX + 1;
			nb = realloc(buf, cap);
			if (nb == NULL)
				out_of_memory();
			buf = nb;
		}
		n = read(fd, buf + have, cap - have);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			snprintf(err, errlen, "%s: reading the answer: %s", path,
				 strerror(errno));
			goto fail;
		}
		if (n == 0) {
			if (have == 0) {
				snprintf(err, errlen, "%s: catena-control closed "
					 "the connection without answering", path);
				goto fail;
			}
			/* An unterminated last line: let the parser judge it. */
			break;
		}
		nl = memchr(buf + have, '\n', (size_t)n);
		have += (size_t)n;
		if (nl)
			break;
	}
	close(fd);
	*len = nl ? (size_t)(nl - buf) : have;
	*line = buf;
	return 0;
fail:
	close(fd);
	free(buf);
	return -1;
}

/* ---- arguments ---- */

static int all_digits(const char *s)
{
	if (*s == '\0')
		return 0;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return 0;
	return 1;
}

static long parse_range(const char *s, const char *what, long lo, long hi)
{
	unsigned long long v;

	errno = 0;
	if (!all_digits(s))
		usage_error("%s: not a non-negative integer: \"%s\"", what, s);
	v = strtoull(s, NULL, 10);
	if (errno == ERANGE || v < (unsigned long long)lo ||
	    v > (unsigned long long)hi)
		usage_error("%s: must be in %ld..%ld: \"%s\"", what, lo, hi, s);
	return (long)v;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Six pairs of hex digits separated by colons (the cluster map's rule),
 * written back lower case into out[18]. */
static void parse_mac(const char *s, char out[18])
{
	unsigned char b[6];

	for (int i = 0; i < 6; i++) {
		const char *p = s + 3 * i;
		int hi = hexval(p[0]), lo = hi < 0 ? -1 : hexval(p[1]);

		if (hi < 0 || lo < 0 || p[2] != (i < 5 ? ':' : '\0'))
			usage_error("MAC: want six pairs of hex digits separated "
				    "by colons, like 02:ca:7e:00:00:04: \"%s\"", s);
		b[i] = (unsigned char)(hi << 4 | lo);
	}
	if (b[0] & 1)
		usage_error("MAC: a multicast address cannot be a node's: \"%s\"", s);
	snprintf(out, 18, "%02x:%02x:%02x:%02x:%02x:%02x",
		 b[0], b[1], b[2], b[3], b[4], b[5]);
}

/* IP[:PORT]; the port defaults to catena's 7470 as in the cluster map. */
static void parse_addr(const char *s, char ip[16], long *port)
{
	const char *colon = strchr(s, ':');
	size_t n = colon ? (size_t)(colon - s) : strlen(s);
	struct in_addr a;
	char buf[16];

	*port = 7470;
	if (n == 0 || n >= sizeof(buf))
		usage_error("IP: not an IPv4 address: \"%s\"", s);
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (inet_pton(AF_INET, buf, &a) != 1)
		usage_error("IP: not an IPv4 address: \"%s\"", buf);
	if (colon)
		*port = parse_range(colon + 1, "PORT", 1, 65535);
	memcpy(ip, buf, n + 1);
}

static void need_args(int argc, int lo, int hi, const char *form)
{
	if (argc < lo || argc > hi)
		usage_error("wrong number of arguments: %s", form);
}

static void set_new(json_t *obj, const char *key, json_t *v)
{
	if (v == NULL || json_object_set_new(obj, key, v) != 0)
		out_of_memory();
}

/* Check COMMAND and its arguments and build the request; a usage error
 * never reaches the socket. */
/* The command line's command, checked. */
struct command {
	enum cat_ctl_verb verb;
	long long first, count;   /* slots: count -1 = to the last slot */
	const char *node_id;      /* node ...: as given, for the output */
};

static json_t *build_request(int argc, char **argv, struct command *cmdl)
{
	json_t *req = json_object(), *args;
	const char *c = argv[0], *cmd;

	if (req == NULL)
		out_of_memory();
	argc--;
	argv++;
	cmdl->first = 0;
	cmdl->count = -1;
	if (strcmp(c, "status") == 0) {
		need_args(argc, 0, 0, "status");
		cmdl->verb = CAT_CTL_STATUS;
		cmd = "status";
	} else if (strcmp(c, "nodes") == 0) {
		need_args(argc, 0, 0, "nodes");
		cmdl->verb = CAT_CTL_NODES;
		cmd = "nodes";
	} else if (strcmp(c, "chains") == 0) {
		need_args(argc, 0, 0, "chains");
		cmdl->verb = CAT_CTL_CHAINS;
		cmd = "chains";
	} else if (strcmp(c, "slots") == 0) {
		need_args(argc, 0, 2, "slots [FIRST [COUNT]]");
		cmdl->verb = CAT_CTL_SLOTS;
		cmd = "slots";
		/* Sent page by page by ask_slots: see there. */
		if (argc >= 1)
			cmdl->first = parse_range(argv[0], "FIRST", 0, SLOTS_MAX - 1);
		if (argc == 2)
			cmdl->count = parse_range(argv[1], "COUNT", 1, SLOTS_MAX);
	} else if (strcmp(c, "stats") == 0) {
		need_args(argc, 0, 0, "stats");
		cmdl->verb = CAT_CTL_STATS;
		cmd = "stats";
	} else if (strcmp(c, "epoch") == 0) {
		if (argc != 1 || strcmp(argv[0], "history") != 0)
			usage_error("want: epoch history");
		cmdl->verb = CAT_CTL_EPOCH_HISTORY;
		cmd = "epoch_history";
	} else if (strcmp(c, "verify") == 0) {
		need_args(argc, 0, 0, "verify");
		cmdl->verb = CAT_CTL_VERIFY;
		cmd = "verify";
	} else if (strcmp(c, "chain") == 0) {
		json_t *nodes = json_array();

		if (argc < 3 || strcmp(argv[0], "add") != 0)
			usage_error("want: chain add ID NODE...");
		cmdl->verb = CAT_CTL_CHAIN_ADD;
		cmd = "chain_add";
		set_new(req, "chain", json_integer(parse_range(argv[1], "ID", 1, 59999)));
		for (int i = 2; i < argc; i++)
			json_array_append_new(nodes, json_integer(
				parse_range(argv[i], "NODE", 1, 65535)));
		set_new(req, "nodes", nodes);
	} else if (strcmp(c, "reshard") == 0) {
		if (argc < 1)
			usage_error("want: reshard move|rebalance|status|pause|resume|cancel|rate");
		cmdl->verb = CAT_CTL_RESHARD;
		if (strcmp(argv[0], "move") == 0) {
			const char *sl = NULL, *to = NULL;
			char *dash;

			for (int i = 1; i + 1 < argc; i += 2) {
				if (strcmp(argv[i], "--slots") == 0)
					sl = argv[i + 1];
				else if (strcmp(argv[i], "--to") == 0)
					to = argv[i + 1];
				else
					usage_error("reshard move: unknown option \"%s\"", argv[i]);
			}
			if (sl == NULL || to == NULL || argc != 5)
				usage_error("want: reshard move --slots A[-B] --to CHAIN");
			cmd = "reshard_move";
			dash = strchr(sl, '-');
			if (dash != NULL) {
				*dash = '\0';
				set_new(req, "last", json_integer(parse_range(dash + 1, "slot", 0, 65535)));
			}
			set_new(req, "first", json_integer(parse_range(sl, "slot", 0, 65535)));
			set_new(req, "to", json_integer(parse_range(to, "CHAIN", 1, 65535)));
		} else if (strcmp(argv[0], "rate") == 0) {
			need_args(argc - 1, 1, 1, "reshard rate BYTES_PER_SECOND");
			cmd = "reshard_rate";
			set_new(req, "bytes_per_s", json_integer(
				parse_range(argv[1], "BYTES_PER_SECOND", 0, LONG_MAX)));
		} else if (strcmp(argv[0], "status") == 0 || strcmp(argv[0], "rebalance") == 0 ||
			   strcmp(argv[0], "pause") == 0 || strcmp(argv[0], "resume") == 0 ||
			   strcmp(argv[0], "cancel") == 0) {
			static char name[32];

			need_args(argc - 1, 0, 0, "reshard status|rebalance|pause|resume|cancel");
			snprintf(name, sizeof(name), "reshard_%s", argv[0]);
			cmd = name;
			if (strcmp(argv[0], "status") == 0)
				cmdl->verb = CAT_CTL_RESHARD_STATUS;
		} else {
			usage_error("unknown reshard command \"%s\" (move, rebalance, status, pause, resume, cancel, rate)",
				    argv[0]);
		}
	} else if (strcmp(c, "node") == 0) {
		if (argc < 1)
			usage_error("want: node add|join|drain|undrain|remove ...");
		if (strcmp(argv[0], "add") == 0) {
			char ip[16], mac[18];
			long port;

			need_args(argc - 1, 3, 3, "node add ID IP[:PORT] MAC");
			cmdl->verb = CAT_CTL_NODE_ADD;
		cmd = "node_add";
			set_new(req, "node", json_integer(
				parse_range(argv[1], "ID", 1, 65535)));
			parse_addr(argv[2], ip, &port);
			parse_mac(argv[3], mac);
			set_new(req, "ip", json_string(ip));
			set_new(req, "port", json_integer(port));
			set_new(req, "mac", json_string(mac));
		} else if (strcmp(argv[0], "join") == 0) {
			need_args(argc - 1, 2, 2, "node join ID CHAIN");
			cmdl->verb = CAT_CTL_NODE_JOIN;
			cmd = "node_add";
			set_new(req, "node", json_integer(
				parse_range(argv[1], "ID", 1, 65535)));
			set_new(req, "chain", json_integer(
				parse_range(argv[2], "CHAIN", 1, 65535)));
		} else if (strcmp(argv[0], "undrain") == 0) {
			need_args(argc - 1, 1, 1, "node undrain ID");
			cmdl->verb = CAT_CTL_NODE_UNDRAIN;
			cmd = "node_undrain";
			set_new(req, "node", json_integer(
				parse_range(argv[1], "ID", 1, 65535)));
		} else if (strcmp(argv[0], "drain") == 0 ||
			   strcmp(argv[0], "remove") == 0) {
			int drain = argv[0][0] == 'd';

			need_args(argc - 1, 1, 1, drain ? "node drain ID"
							 : "node remove ID");
			cmdl->verb = drain ? CAT_CTL_NODE_DRAIN : CAT_CTL_NODE_REMOVE;
			cmd = drain ? "node_drain" : "node_remove";
			set_new(req, "node", json_integer(
				parse_range(argv[1], "ID", 1, 65535)));
		} else {
			usage_error("unknown node command \"%s\" (add, join, "
				    "drain, undrain, remove)", argv[0]);
		}
		cmdl->node_id = argv[1];
	} else {
		usage_error("unknown command \"%s\"", c);
	}
	/* "cmd" first: the line reads as it does in docs/CONTROL.md. */
	args = req;
	req = json_object();
	if (req == NULL)
		out_of_memory();
	set_new(req, "cmd", json_string(cmd));
	if (json_object_update(req, args) != 0)
		out_of_memory();
	json_decref(args);
	return req;
}

/* ---- asking ---- */

/*
 * One request, one answer. Returns CAT_CTL_EXIT_OK with *result (a new
 * reference; null when the answer carries none), CAT_CTL_EXIT_WRONG with
 * catena-control's error in err, or CAT_CTL_EXIT_NO_ANSWER with what went
 * wrong in err.
 */
static int ask(const struct target *t, json_t *req, json_t **result,
	       char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *ans, *ok, *e;
	char *text, *request, *answer;
	size_t len;
	int rc;

	*result = NULL;
	/* The request is a few dozen bytes: one line, '\n'-terminated. */
	text = json_dumps(req, JSON_COMPACT);
	if (text == NULL)
		out_of_memory();
	len = strlen(text);
	request = malloc(len + 2);
	if (request == NULL)
		out_of_memory();
	memcpy(request, text, len);
	memcpy(request + len, "\n", 2);
	free(text);
	rc = exchange(t, request, &answer, &len, err, errlen);
	free(request);
	if (rc != 0)
		return CAT_CTL_EXIT_NO_ANSWER;

	ans = json_loadb(answer, len, 0, &jerr);
	free(answer);
	if (ans == NULL) {
		snprintf(err, errlen, "%s: the answer is not JSON: %s (at byte %d)",
			 t->path, jerr.text, jerr.position);
		return CAT_CTL_EXIT_NO_ANSWER;
	}
	ok = json_object_get(ans, "ok");
	if (!json_is_object(ans) || !json_is_boolean(ok)) {
		json_decref(ans);
		snprintf(err, errlen, "%s: the answer is JSON but not "
			 "{\"ok\":true|false,...}", t->path);
		return CAT_CTL_EXIT_NO_ANSWER;
	}
	if (json_is_false(ok)) {
		e = json_object_get(ans, "error");
		snprintf(err, errlen, "%s", json_is_string(e) ? json_string_value(e)
			 : "catena-control refused the request (no reason given)");
		json_decref(ans);
		return CAT_CTL_EXIT_WRONG;
	}
	*result = json_object_get(ans, "result");
	*result = json_incref(*result ? *result : json_null());
	json_decref(ans);
	return CAT_CTL_EXIT_OK;
}

/*
 * catena-control answers `slots` a page at a time (it says slot_count and
 * where the page starts) so that every answer fits its line limit. Ask
 * page after page from first until count slots (-1: all the rest) are in,
 * and return one result shaped like a page: {"slot_count","first",
 * "count","slots":[...]}. An answer without paging information is taken
 * as complete.
 */
static int ask_slots(const struct target *t, long long first, long long count,
		     json_t **result, char *err, size_t errlen)
{
	json_t *all = NULL, *page, *req, *slots, *list;
	long long next = first, total;
	size_t n;
	int rc;

	for (;;) {
		req = json_pack("{s:s}", "cmd", "slots");
		if (req == NULL)
			out_of_memory();
		if (next != 0)
			json_object_set_new(req, "first", json_integer(next));
		rc = ask(t, req, &page, err, errlen);
		json_decref(req);
		if (rc != CAT_CTL_EXIT_OK) {
			json_decref(all);
			return rc;
		}
		slots = json_object_get(page, "slots");
		if (!json_is_array(slots)) {
			if (all == NULL) {
				*result = page;  /* an unknown shape: shown as is */
				return CAT_CTL_EXIT_OK;
			}
			json_decref(page);
			json_decref(all);
			snprintf(err, errlen, "%s: a later page of slots has no "
				 "\"slots\" list", t->path);
			return CAT_CTL_EXIT_NO_ANSWER;
		}
		n = json_array_size(slots);
		total = json_is_integer(json_object_get(page, "slot_count"))
			? json_integer_value(json_object_get(page, "slot_count")) : -1;
		if (all == NULL) {
			all = page;
		} else {
			json_array_extend(json_object_get(all, "slots"), slots);
			json_decref(page);
		}
		next += (long long)n;
		list = json_object_get(all, "slots");
		if (n == 0 || total < 0 || next >= total ||
		    json_array_size(list) >= SLOTS_MAX ||
		    (count >= 0 && (long long)json_array_size(list) >= count))
			break;
	}
	while (count >= 0 && (long long)json_array_size(list) > count)
		json_array_remove(list, json_array_size(list) - 1);
	json_object_set_new(all, "count", json_integer((json_int_t)json_array_size(list)));
	*result = all;
	return CAT_CTL_EXIT_OK;
}

/* ---- main ---- */

/* A failure with no usable answer (2) or a refusal (1): the message on
 * stderr, and with --json also as {"ok":false,"error":...} on stdout. */
static int fail(int status, const char *msg)
{
	char *m = strdup(msg);

	if (m == NULL)
		out_of_memory();
	fprintf(stderr, "catenactl: %s\n", cat_ctl_clean(m));
	free(m);
	if (json_out) {
		json_t *o = json_pack("{s:b,s:s}", "ok", 0, "error", msg);
		char *s;

		/* A socket path need not be UTF-8; JSON strings must be. */
		if (o == NULL)
			o = json_pack("{s:b,s:s}", "ok", 0, "error",
				      "(error message not UTF-8: see stderr)");
		s = o ? json_dumps(o, JSON_COMPACT) : NULL;

		if (s)
			puts(s);
		free(s);
		json_decref(o);
	}
	return status;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "timeout", required_argument, NULL, 't' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct target t = { .path = getenv("CATENA_CONTROL"), .timeout_ms = -1 };
	struct command cmdl = { .node_id = NULL };
	json_t *req, *result;
	char err[512];
	int opt, status;

	if (t.path == NULL || t.path[0] == '\0')
		t.path = DEFAULT_SOCKET;
	opterr = 0;
	/* Options may follow the command too (catenactl nodes --json): no
	 * argument of any command starts with '-'. */
	while ((opt = getopt_long(argc, argv, "+:s:t:jh", longopts, NULL)) != -1) {
		switch (opt) {
		case 's':
			if (optarg[0] == '\0')
				usage_error("SOCKET must not be empty");
			t.path = optarg;
			break;
		case 't':
			t.timeout_ms = (int)parse_range(optarg, "TIMEOUT_MS", 1,
							3600000);
			break;
		case 'j':
			json_out = 1;
			break;
		case 'h':
			fputs(usage_line, stdout);
			fputs(usage_text, stdout);
			return CAT_CTL_EXIT_OK;
		case ':':
			usage_error("option %s needs an argument", argv[optind - 1]);
		default:
			if (optopt)
				usage_error("unknown option -%c", optopt);
			usage_error("unknown option %s", argv[optind - 1]);
		}
	}
	if (optind >= argc)
		usage_error("no COMMAND given");
	req = build_request(argc - optind, argv + optind, &cmdl);
	if (t.timeout_ms < 0)
		t.timeout_ms = cmdl.verb == CAT_CTL_VERIFY ? VERIFY_TIMEOUT_MS
							  : DEFAULT_TIMEOUT_MS;
	t.deadline = now_ms() + t.timeout_ms;

	if (cmdl.verb == CAT_CTL_SLOTS)
		status = ask_slots(&t, cmdl.first, cmdl.count, &result, err,
				   sizeof(err));
	else
		status = ask(&t, req, &result, err, sizeof(err));
	json_decref(req);
	if (status != CAT_CTL_EXIT_OK)
		return fail(status, err);

	if (cmdl.verb == CAT_CTL_VERIFY) {
		const char *why = NULL;

		status = cat_ctl_verify_outcome(result, &why);
		if (status == CAT_CTL_EXIT_NO_ANSWER) {
			snprintf(err, sizeof(err), "%s: %s", t.path, why);
			json_decref(result);
			return fail(status, err);
		}
	}
	if (json_out) {
		char *s = json_dumps(result, JSON_COMPACT | JSON_ENCODE_ANY);

		if (s == NULL)
			out_of_memory();
		puts(s);
		free(s);
		if (cmdl.verb == CAT_CTL_STATUS) {
			int from_server, mode = cat_ctl_socket_mode(t.path, result,
							   &from_server);

			if (mode >= 0 && (mode & 002))
				fprintf(stderr, "catenactl: WARNING: the management "
					"socket is world writable (mode %04o)\n", mode);
		}
	} else {
		struct cat_ctl_show_ctx ctx = {
			.socket_path = t.path,
			.first_slot = cmdl.first,
			.node_id = cmdl.node_id,
		};

		status = cat_ctl_show(cmdl.verb, result, &ctx);
	}
	json_decref(result);
	if (fflush(stdout) != 0) {
		fprintf(stderr, "catenactl: writing the output: %s\n",
			strerror(errno));
		return CAT_CTL_EXIT_NO_ANSWER;
	}
	return status;
}
