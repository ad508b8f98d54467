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
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
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

#include "control/backup_file.h"
#include "control/catenactl_show.h"
#include "control/mgmt_cmds.h"
#include "replication/version.h"

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

static const char cat_adm_usage_line[] =
	"usage: catenactl [-s SOCKET] [--json] [--timeout MS] COMMAND [ARGS]\n";

static const char cat_adm_usage_options[] =
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
	"Commands:\n";

static const char cat_adm_usage_exit[] =
	"\n"
	"Exit status:\n"
	"  0 OK; 1 the answer says something is wrong (verify found replicas that\n"
	"  differ, or catena-control refused the request: its error is printed);\n"
	"  2 no usable answer (cannot connect, timeout, an answer that is not JSON\n"
	"  or is over 16 MiB); 64 usage error.\n"
	"With --json a failure prints {\"ok\":false,\"error\":\"...\"} on stdout.\n";

static int cat_adm_json_out;

/* The commands' part of the usage comes from the table
 * (control/mgmt_cmds.def), so it lists exactly what build_request takes. */
static void print_usage(FILE *f)
{
	fputs(cat_adm_usage_line, f);
	fputs(cat_adm_usage_options, f);
	for (unsigned int i = 0; i < CAT_MGMT_N_CMDS; i++) {
		const struct cat_mgmt_cmd *c = &cat_mgmt_cmds[i];

		if (strlen(c->syntax) < 28)
			fprintf(f, "  %-28s%s\n", c->syntax, c->help);
		else
			fprintf(f, "  %s\n%30s%s\n", c->syntax, "", c->help);
	}
	fprintf(f, "  %-28s%s\n", "help", "this text");
	fputs(cat_adm_usage_exit, f);
}

static void __attribute__((noreturn, format(printf, 1, 2)))
usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("catenactl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fputs(cat_adm_usage_line, stderr);
	fputs("Try 'catenactl --help' for more information.\n", stderr);
	exit(CAT_ADM_EXIT_USAGE);
}

static void __attribute__((noreturn)) out_of_memory(void)
{
	fputs("catenactl: out of memory\n", stderr);
	exit(CAT_ADM_EXIT_NO_ANSWER);
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

/* A connected socket, or -1 with a message naming the socket in err. */
static int connect_socket(const struct target *t, char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *path = t->path;
	int fd, e;

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
	set_sndtimeo(fd, t->deadline - now_ms());
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		e = errno;
		if (e == EAGAIN || e == EINPROGRESS || e == ETIMEDOUT)
			snprintf(err, errlen, "cannot connect to %s: not accepted "
				 "within %d ms (catena-control is stuck or "
				 "overloaded)", path, t->timeout_ms);
		else
			snprintf(err, errlen, "cannot connect to %s: %s%s", path,
				 strerror(e), connect_hint(path, e));
		close(fd);
		return -1;
	}
	return fd;
}

/* All of req before the deadline: 0, or -1 with a message in err. */
static int send_request(int fd, const struct target *t, const char *req,
			char *err, size_t errlen)
{
	size_t off = 0, reqlen = strlen(req);

	while (off < reqlen) {
		ssize_t n;
		int e;

		set_sndtimeo(fd, t->deadline - now_ms());
		n = send(fd, req + off, reqlen - off, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			e = errno;
			if (e == EAGAIN || e == EWOULDBLOCK)
				snprintf(err, errlen, "%s: could not send the "
					 "request within %d ms", t->path, t->timeout_ms);
			else
				snprintf(err, errlen, "%s: sending the request: %s",
					 t->path, strerror(e));
			return -1;
		}
		off += (size_t)n;
	}
	return 0;
}

/*
 * Read until the first '\n' (or EOF after some bytes) before the
 * deadline, into *buf (malloc'ed). Returns the line's length
 * without the '\n', or -1 with a message in err (*buf freed).
 */
static long long read_answer(int fd, const struct target *t, char **buf,
			     char *err, size_t errlen)
{
	size_t have = 0, cap = 0;
	char *nl = NULL;

	*buf = NULL;
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		long long left = t->deadline - now_ms();
		ssize_t n;
		int r;

		if (left <= 0) {
			snprintf(err, errlen, "no answer from %s within %d ms%s",
				 t->path, t->timeout_ms,
				 have ? " (an incomplete line)" : "");
			goto fail;
		}
		r = poll(&pfd, 1, left > INT_MAX ? INT_MAX : (int)left);
		if (r < 0 && errno != EINTR) {
			snprintf(err, errlen, "%s: poll: %s", t->path, strerror(errno));
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
					 "than %u MiB; not read", t->path, ANSWER_MAX >> 20);
				goto fail;
			}
			cap = cap ? cap * 2 : 65536;
			if (cap > ANSWER_MAX + 1)
				cap = ANSWER_MAX + 1;
			nb = realloc(*buf, cap);
			if (nb == NULL)
				out_of_memory();
			*buf = nb;
		}
		n = read(fd, *buf + have, cap - have);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			snprintf(err, errlen, "%s: reading the answer: %s", t->path,
				 strerror(errno));
			goto fail;
		}
		if (n == 0) {
			if (have == 0) {
				snprintf(err, errlen, "%s: catena-control closed "
					 "the connection without answering", t->path);
				goto fail;
			}
			/* An unterminated last line: let the parser judge it. */
			break;
		}
		nl = memchr(*buf + have, '\n', (size_t)n);
		have += (size_t)n;
		if (nl)
			break;
	}
	return nl ? (long long)(nl - *buf) : (long long)have;
fail:
	free(*buf);
	*buf = NULL;
	return -1;
}

/*
 * Send req (a full line) to the socket and read one answer line before
 * the deadline. Returns 0 with the line in *line (malloc'ed, '\n'
 * stripped, length *len), or -1 with a message naming the socket in err.
 */
static int exchange(const struct target *t, const char *req, char **line,
		    size_t *len, char *err, size_t errlen)
{
	int fd = connect_socket(t, err, errlen);
	long long n;

	*line = NULL;
	if (fd < 0)
		return -1;
	if (send_request(fd, t, req, err, errlen) < 0) {
		close(fd);
		return -1;
	}
	n = read_answer(fd, t, line, err, errlen);
	close(fd);
	if (n < 0)
		return -1;
	*len = (size_t)n;
	return 0;
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

static long long parse_range(const char *s, const char *what, long long lo,
			     long long hi)
{
	unsigned long long v;

	errno = 0;
	if (!all_digits(s))
		usage_error("%s: not a non-negative integer: \"%s\"", what, s);
	v = strtoull(s, NULL, 10);
	if (errno == ERANGE || v < (unsigned long long)lo ||
	    v > (unsigned long long)hi)
		usage_error("%s: must be in %lld..%lld: \"%s\"", what, lo, hi, s);
	return (long long)v;
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

static void parse_ipv4(const char *s, const char *what)
{
	struct in_addr a;

	if (inet_pton(AF_INET, s, &a) != 1)
		usage_error("%s: not an IPv4 address: \"%s\"", what, s);
}

static void set_new(json_t *obj, const char *key, json_t *v)
{
	if (v == NULL || json_object_set_new(obj, key, v) != 0)
		out_of_memory();
}

/*
 * A command's syntax (control/mgmt_cmds.def) cut into words: the literal
 * words that name it ("node", "drain") come first, the operands after.
 */
#define WORDS_MAX 8
struct syntax {
	char buf[64];
	const char *w[WORDS_MAX];
	int n, n_lit;
};

static void split_syntax(const char *syntax, struct syntax *s)
{
	char *save = NULL, *w;

	snprintf(s->buf, sizeof(s->buf), "%s", syntax);
	s->n = s->n_lit = 0;
	for (w = strtok_r(s->buf, " ", &save); w != NULL && s->n < WORDS_MAX;
	     w = strtok_r(NULL, " ", &save)) {
		if (s->n == s->n_lit && w[0] >= 'a' && w[0] <= 'z')
			s->n_lit++;
		s->w[s->n++] = w;
	}
}

/*
 * One operand word taken apart: "[FIRST" is FIRST, optional; "NODE..."
 * is NODE, repeated; "IP[:PORT]" is IP, then PORT after a ':' in the same
 * command-line word (and "A[-B]" A, then B after a '-').
 */
struct operand {
	char name[16], sub[16];
	char sep;              /* between name and sub; 0: no sub */
	int optional, repeated;
};

static size_t name_len(const char *p)
{
	size_t n = 0;

	while ((p[n] >= 'A' && p[n] <= 'Z') || (p[n] >= '0' && p[n] <= '9') ||
	       p[n] == '_')
		n++;
	return n;
}

static void take_apart(const char *w, struct operand *o)
{
	size_t n;

	memset(o, 0, sizeof(*o));
	o->optional = w[0] == '[';
	w += o->optional;
	n = name_len(w);
	snprintf(o->name, sizeof(o->name), "%.*s", (int)n, w);
	w += n;
	o->repeated = strncmp(w, "...", 3) == 0;
	if (w[0] == '[' && w[1] != '\0') {
		o->sep = w[1];
		n = name_len(w + 2);
		snprintf(o->sub, sizeof(o->sub), "%.*s", (int)n, w + 2);
	}
}

/* The argument that operand feeds; a table without one is a bug of
 * control/mgmt_cmds.def, which tests/integration/test_control_mgmt_table.py
 * would have caught. */
static const struct cat_mgmt_arg *arg_of(const struct cat_mgmt_cmd *cmd,
					 const char *operand)
{
	for (unsigned int k = 0; k < CAT_MGMT_ARGS_MAX && cmd->args[k].name; k++)
		if (cmd->args[k].operand != NULL &&
		    strcmp(cmd->args[k].operand, operand) == 0)
			return &cmd->args[k];
	fprintf(stderr, "catenactl: %s: operand %s feeds no argument\n",
		cmd->syntax, operand);
	abort();
}

/* One operand's value, checked by its argument's type, into req. */
static void put(json_t *req, const struct cat_mgmt_cmd *cmd,
		const char *operand, const char *text)
{
	const struct cat_mgmt_arg *a = arg_of(cmd, operand);
	json_t *list;
	char mac[18];

	switch (a->type) {
	case CAT_MGMT_INT:
		set_new(req, a->name, json_integer(
			parse_range(text, operand, a->lo, a->hi)));
		break;
	case CAT_MGMT_INTS:
		list = json_object_get(req, a->name);
		if (list == NULL) {
			list = json_array();
			set_new(req, a->name, list);
		}
		if (json_array_append_new(list, json_integer(
			parse_range(text, operand, a->lo, a->hi))) != 0)
			out_of_memory();
		break;
	case CAT_MGMT_IPV4:
		parse_ipv4(text, operand);
		set_new(req, a->name, json_string(text));
		break;
	case CAT_MGMT_MAC:
		parse_mac(text, mac);
		set_new(req, a->name, json_string(mac));
		break;
	case CAT_MGMT_BOOL:
		set_new(req, a->name, json_true());
		break;
	case CAT_MGMT_STR:
		set_new(req, a->name, json_string(text));
		break;
	}
}

/* A word that looks like an option ("--jsn", "-x"); "-5" is a bad
 * number, said as such by the operand's own check. */
static int option_like(const char *w)
{
	return w[0] == '-' && (w[1] == '-' || (w[1] >= 'a' && w[1] <= 'z') ||
			       (w[1] >= 'A' && w[1] <= 'Z'));
}

/* The length of the command's words ("node join") in its syntax. */
static int lit_len(const struct syntax *s)
{
	const char *last = s->w[s->n_lit - 1];

	return (int)(last - s->buf) + (int)strlen(last);
}

static void __attribute__((noreturn))
unknown_option(const struct syntax *s, const char *syntax, const char *word)
{
	usage_error("%.*s: unknown option \"%s\" (want: %s; catenactl's own "
		    "options: --json, -s SOCKET, --timeout MS)", lit_len(s), syntax,
		    word, syntax);
}

/* A command-line word for operand o: one value, or two around o->sep. */
static void put_word(json_t *req, const struct cat_mgmt_cmd *cmd,
		     const struct operand *o, const char *word)
{
	const char *sep = o->sep ? strchr(word, o->sep) : NULL;
	char main_part[64];

	if (sep == NULL) {
		put(req, cmd, o->name, word);
		return;
	}
	snprintf(main_part, sizeof(main_part), "%.*s", (int)(sep - word), word);
	put(req, cmd, o->name, main_part);
	put(req, cmd, o->sub, sep + 1);
}

/* Operands by position: "slots [FIRST [COUNT]]", "chain add ID NODE...". */
static void put_positional(json_t *req, const struct cat_mgmt_cmd *cmd,
			   const struct syntax *s, int argc, char **argv)
{
	struct operand o[WORDS_MAX];
	int min = 0, max = 0, repeated = 0;

	for (int k = s->n_lit; k < s->n; k++) {
		take_apart(s->w[k], &o[max]);
		min += !o[max].optional;
		repeated |= o[max].repeated;
		max++;
	}
	for (int i = 0; i < argc; i++)
		if (option_like(argv[i]))
			unknown_option(s, cmd->syntax, argv[i]);
	if (argc < min || (!repeated && argc > max))
		usage_error("wrong number of arguments: %s", cmd->syntax);
	for (int i = 0, k = 0; i < argc; i++) {
		put_word(req, cmd, &o[k], argv[i]);
		if (!o[k].repeated)
			k++;
	}
}

/*
 * The "[--flag]" words of the syntax: taken out of s, and out of argv
 * wherever they are after the command's words. A flag that feeds a BOOL
 * argument sets it in req; the others are catenactl's own, told by bit k
 * of the return value (k: the flag's place among the syntax's flags).
 */
static unsigned int take_flags(json_t *req, const struct cat_mgmt_cmd *cmd,
			       struct syntax *s, int *argc, char **argv)
{
	unsigned int given = 0, nflag = 0;

	for (int k = s->n_lit; k < s->n;) {
		const char *w = s->w[k];
		size_t len = strlen(w);
		char flag[32];
		int seen = 0;

		if (strncmp(w, "[--", 3) != 0 || w[len - 1] != ']' || len >= sizeof(flag)) {
			k++;
			continue;
		}
		snprintf(flag, sizeof(flag), "%.*s", (int)(len - 2), w + 1);
		for (int i = 0; i < *argc;) {
			if (strcmp(argv[i], flag) != 0) {
				i++;
				continue;
			}
			if (seen++)
				usage_error("%s given twice", flag);
			memmove(&argv[i], &argv[i + 1], (size_t)(*argc - i - 1) * sizeof(*argv));
			(*argc)--;
		}
		if (seen) {
			given |= 1u << nflag;
			for (unsigned int a = 0; a < CAT_MGMT_ARGS_MAX && cmd->args[a].name; a++)
				if (cmd->args[a].type == CAT_MGMT_BOOL &&
				    cmd->args[a].operand != NULL &&
				    strcmp(cmd->args[a].operand, flag) == 0)
					set_new(req, cmd->args[a].name, json_true());
		}
		nflag++;
		memmove(&s->w[k], &s->w[k + 1], (size_t)(s->n - k - 1) * sizeof(s->w[0]));
		s->n--;
	}
	return given;
}

/* Operands as "--option VALUE" pairs in any order, every one needed:
 * "reshard move --slots A[-B] --to CHAIN". */
static void put_options(json_t *req, const struct cat_mgmt_cmd *cmd,
			const struct syntax *s, int argc, char **argv)
{
	int n_opt = (s->n - s->n_lit) / 2;
	unsigned int seen = 0;

	for (int i = 0; i + 1 < argc; i += 2) {
		int k = 0;

		while (k < n_opt && strcmp(s->w[s->n_lit + 2 * k], argv[i]) != 0)
			k++;
		if (k == n_opt)
			unknown_option(s, cmd->syntax, argv[i]);
		seen |= 1u << k;
	}
	if (seen != (1u << n_opt) - 1 || argc != 2 * n_opt)
		usage_error("want: %s", cmd->syntax);
	for (int i = 0; i < argc; i += 2) {
		struct operand o;
		int k = 0;

		while (strcmp(s->w[s->n_lit + 2 * k], argv[i]) != 0)
			k++;
		take_apart(s->w[s->n_lit + 2 * k + 1], &o);
		put_word(req, cmd, &o, argv[i + 1]);
	}
}

/* No row's literal words match: say what the first word may go on with. */
static void __attribute__((noreturn)) unknown_command(int argc, char **argv)
{
	char alts[160] = "", list[160] = "";
	const char *only = NULL;
	size_t la = 0, ll = 0;
	int more = 0, n = 0;

	for (unsigned int i = 0; i < CAT_MGMT_N_CMDS; i++) {
		struct syntax s;

		split_syntax(cat_mgmt_cmds[i].syntax, &s);
		if (s.n_lit < 2 || strcmp(s.w[0], argv[0]) != 0 ||
		    la >= sizeof(alts) || ll >= sizeof(list))
			continue;
		la += (size_t)snprintf(alts + la, sizeof(alts) - la, "%s%s",
				       la ? "|" : "", s.w[1]);
		ll += (size_t)snprintf(list + ll, sizeof(list) - ll, "%s%s",
				       ll ? ", " : "", s.w[1]);
		more |= s.n > s.n_lit;
		only = cat_mgmt_cmds[i].syntax;
		n++;
	}
	if (la == 0)
		usage_error("unknown command \"%s\"", argv[0]);
	if (n == 1)
		usage_error("want: %s", only);
	if (argc == 1)
		usage_error("want: %s %s%s", argv[0], alts, more ? " ..." : "");
	usage_error("unknown %s command \"%s\" (%s)", argv[0], argv[1], list);
}

/* The command line's command: its row of control/mgmt_cmds.def, and the
 * request it makes. */
struct command {
	enum cat_mgmt_id id;
	json_t *req;
	const char *first_operand;  /* as given: node ...'s ID, for the output */
	unsigned int flags;         /* catenactl's own [--flag]s given (take_flags) */
};

/* Check COMMAND and its arguments and build the request ("cmd" first, so
 * the line reads as in docs/CONTROL.md): a usage error never reaches the
 * socket. */
static void build_request(int argc, char **argv, struct command *cmdl)
{
	struct syntax s;
	unsigned int i;

	for (i = 0; i < CAT_MGMT_N_CMDS; i++) {
		int k;

		split_syntax(cat_mgmt_cmds[i].syntax, &s);
		for (k = 0; k < s.n_lit && k < argc; k++)
			if (strcmp(s.w[k], argv[k]) != 0)
				break;
		if (k == s.n_lit)
			break;
	}
	if (i == CAT_MGMT_N_CMDS)
		unknown_command(argc, argv);
	cmdl->id = (enum cat_mgmt_id)i;
	cmdl->req = json_pack("{s:s}", "cmd", cat_mgmt_cmds[i].wire);
	if (cmdl->req == NULL)
		out_of_memory();
	argc -= s.n_lit;
	argv += s.n_lit;
	cmdl->flags = take_flags(cmdl->req, &cat_mgmt_cmds[i], &s, &argc, argv);
	cmdl->first_operand = argc > 0 ? argv[0] : NULL;
	if (s.n > s.n_lit && strncmp(s.w[s.n_lit], "--", 2) == 0)
		put_options(cmdl->req, &cat_mgmt_cmds[i], &s, argc, argv);
	else
		put_positional(cmdl->req, &cat_mgmt_cmds[i], &s, argc, argv);
}

/* ---- asking ---- */

/*
 * One request, one answer. Returns CAT_ADM_EXIT_OK with *result (a new
 * reference; null when the answer carries none), CAT_ADM_EXIT_WRONG with
 * catena-control's error in err, or CAT_ADM_EXIT_NO_ANSWER with what went
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
		return CAT_ADM_EXIT_NO_ANSWER;

	ans = json_loadb(answer, len, 0, &jerr);
	free(answer);
	if (ans == NULL) {
		snprintf(err, errlen, "%s: the answer is not JSON: %s (at byte %d)",
			 t->path, jerr.text, jerr.position);
		return CAT_ADM_EXIT_NO_ANSWER;
	}
	ok = json_object_get(ans, "ok");
	if (!json_is_object(ans) || !json_is_boolean(ok)) {
		json_decref(ans);
		snprintf(err, errlen, "%s: the answer is JSON but not "
			 "{\"ok\":true|false,...}", t->path);
		return CAT_ADM_EXIT_NO_ANSWER;
	}
	if (json_is_false(ok)) {
		e = json_object_get(ans, "error");
		snprintf(err, errlen, "%s", json_is_string(e) ? json_string_value(e)
			 : "catena-control refused the request (no reason given)");
		json_decref(ans);
		return CAT_ADM_EXIT_WRONG;
	}
	*result = json_object_get(ans, "result");
	*result = json_incref(*result ? *result : json_null());
	json_decref(ans);
	return CAT_ADM_EXIT_OK;
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
		if (rc != CAT_ADM_EXIT_OK) {
			json_decref(all);
			return rc;
		}
		slots = json_object_get(page, "slots");
		if (!json_is_array(slots)) {
			if (all == NULL) {
				*result = page;  /* an unknown shape: shown as is */
				return CAT_ADM_EXIT_OK;
			}
			json_decref(page);
			json_decref(all);
			snprintf(err, errlen, "%s: a later page of slots has no "
				 "\"slots\" list", t->path);
			return CAT_ADM_EXIT_NO_ANSWER;
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
	return CAT_ADM_EXIT_OK;
}

/* ---- main ---- */

/* A failure with no usable answer (2) or a refusal (1): the message on
 * stderr, and with --json also as {"ok":false,"error":...} on stdout. */
static int fail(int status, const char *msg)
{
	char *m = strdup(msg);

	if (m == NULL)
		out_of_memory();
	fprintf(stderr, "catenactl: %s\n", cat_adm_clean(m));
	free(m);
	if (cat_adm_json_out) {
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

/* The options before COMMAND into t; returns where COMMAND is. */
static int parse_options(int argc, char **argv, struct target *t)
{
	static const struct option longopts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "timeout", required_argument, NULL, 't' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;

	opterr = 0;
	/* '+': the options end at COMMAND, whose own arguments may start
	 * with '-' (reshard move --slots). */
	while ((opt = getopt_long(argc, argv, "+:s:t:jh", longopts, NULL)) != -1) {
		switch (opt) {
		case 's':
			if (optarg[0] == '\0')
				usage_error("SOCKET must not be empty");
			t->path = optarg;
			break;
		case 't':
			t->timeout_ms = (int)parse_range(optarg, "TIMEOUT_MS", 1,
							 3600000);
			break;
		case 'j':
			cat_adm_json_out = 1;
			break;
		case 'h':
			print_usage(stdout);
			exit(CAT_ADM_EXIT_OK);
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
	if (strcmp(argv[optind], "help") == 0) {
		if (optind + 1 < argc)
			usage_error("wrong number of arguments: help");
		print_usage(stdout);
		exit(CAT_ADM_EXIT_OK);
	}
	return optind;
}

/* --json: the result as one line, and the one warning that matters. */
static void print_json(const struct target *t, const struct command *cmdl,
		       json_t *result)
{
	char *s = json_dumps(result, JSON_COMPACT | JSON_ENCODE_ANY);
	int from_server, mode;

	if (s == NULL)
		out_of_memory();
	puts(s);
	free(s);
	if (cmdl->id == CAT_MGMT_STATUS) {
		mode = cat_adm_socket_mode(t->path, result, &from_server);
		if (mode >= 0 && (mode & 002))
			fprintf(stderr, "catenactl: WARNING: the management "
				"socket is world writable (mode %04o)\n", mode);
	}
}

/* "--json" after COMMAND, where people also put it (catenactl status
 * --json): taken as the option before it is. Returns the new argc. */
static int json_after_command(int argc, char **argv, int first)
{
	int w = first;

	for (int r = first; r < argc; r++) {
		if (r > first && strcmp(argv[r], "--json") == 0) {
			cat_adm_json_out = 1;
			continue;
		}
		argv[w++] = argv[r];
	}
	argv[w] = NULL;
	return w;
}

/*
 * catena-control names the request it refuses by its wire name
 * ("node_add: no node 9 in the map"); the operator typed other words
 * (node join 9 1). Say theirs.
 */
static void in_cli_terms(enum cat_mgmt_id id, char *err, size_t cap)
{
	const char *wire = cat_mgmt_cmds[id].wire;
	size_t wl = strlen(wire);
	struct syntax s;
	char *out;

	if (strncmp(err, wire, wl) != 0 || strncmp(err + wl, ": ", 2) != 0)
		return;
	split_syntax(cat_mgmt_cmds[id].syntax, &s);
	if (asprintf(&out, "%.*s%s", lit_len(&s), cat_mgmt_cmds[id].syntax, err + wl) < 0)
		out_of_memory();
	snprintf(err, cap, "%s", out);
	free(out);
}

#define FOLLOW_POLL_MS 500

/*
 * events --follow: the log so far, then every FOLLOW_POLL_MS what came
 * after the newest seq seen, until interrupted. Polling keeps
 * catena-control's loop as it is (one bounded answer a request, nothing
 * held open: docs/CONTROL.md, "Connections and limits"); a repeated event
 * comes again with its new count. With --json one event a line.
 */
static int __attribute__((noreturn)) follow_events(struct target *t)
{
	json_int_t seq = 0;
	char err[512];

	for (int round = 0;; round++) {
		json_t *req = json_pack("{s:s}", "cmd", "events"), *r, *evs, *ev;
		int status;
		size_t i;

		if (req == NULL)
			out_of_memory();
		if (round > 0)
			set_new(req, "since", json_integer(seq));
		t->deadline = now_ms() + t->timeout_ms;
		status = ask(t, req, &r, err, sizeof(err));
		json_decref(req);
		if (status != CAT_ADM_EXIT_OK) {
			in_cli_terms(CAT_MGMT_EVENTS, err, sizeof(err));
			exit(fail(status, err));
		}
		evs = json_object_get(r, "events");
		if (!json_is_array(evs) || !json_is_integer(json_object_get(r, "seq"))) {
			snprintf(err, sizeof(err), "%s: the answer to events has no "
				 "\"events\" list or \"seq\"", t->path);
			exit(fail(CAT_ADM_EXIT_NO_ANSWER, err));
		}
		if (json_is_true(json_object_get(r, "truncated")))
			fprintf(stderr, "catenactl: events were pushed out of catena-control's "
				"log (it keeps %d) before they could be shown\n", 100);
		if (cat_adm_json_out) {
			json_array_foreach(evs, i, ev) {
				char *line = json_dumps(ev, JSON_COMPACT);

				if (line == NULL)
					out_of_memory();
				puts(line);
				free(line);
			}
		} else {
			cat_adm_print_events(evs);
		}
		seq = json_integer_value(json_object_get(r, "seq"));
		json_decref(r);
		if (fflush(stdout) != 0)
			exit(CAT_ADM_EXIT_NO_ANSWER);
		poll(NULL, 0, FOLLOW_POLL_MS);
	}
}

/* ---- backup and restore (docs/BACKUP.md) ---- */

#define BACKUP_POLL_MS 300

static volatile sig_atomic_t cat_adm_interrupted;

static void on_sigint(int sig)
{
	(void)sig;
	cat_adm_interrupted = 1;
}

/* backup --verify FILE: every block checked here, no catena-control. */
static int backup_verify_file(const char *path)
{
	struct cat_bk_summary s;
	char why[1024], msg[1200];
	FILE *f = fopen(path, "re");
	int rc;

	if (f == NULL) {
		snprintf(msg, sizeof(msg), "backup --verify: cannot open %s: %s", path,
			 strerror(errno));
		return fail(CAT_ADM_EXIT_NO_ANSWER, msg);
	}
	rc = cat_bk_check(f, NULL, &s, why, sizeof(why));
	fclose(f);
	if (rc < 0) {
		snprintf(msg, sizeof(msg), "backup --verify: %s: %s", path, why);
		return fail(CAT_ADM_EXIT_WRONG, msg);
	}
	if (cat_adm_json_out) {
		json_t *o = json_pack("{s:s,s:b,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}",
			"file", path, "ok", 1, "format", (json_int_t)s.h.format,
			"slot_count", (json_int_t)s.h.slot_count,
			"epoch", (json_int_t)s.h.epoch, "created", (json_int_t)s.h.created,
			"slots", (json_int_t)s.slots, "keys", (json_int_t)s.keys,
			"bytes", (json_int_t)s.bytes, "blocks", (json_int_t)s.blocks);
		char *line = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;

		if (line == NULL)
			out_of_memory();
		puts(line);
		free(line);
		json_decref(o);
	} else
		printf("%s: good: format %u, %u slots (of %u), %llu keys, %llu bytes, "
		       "%llu blocks, epoch %u, taken at %lld (Unix s)\n", path,
		       s.h.format, s.slots, s.h.slot_count, (unsigned long long)s.keys,
		       (unsigned long long)s.bytes, (unsigned long long)s.blocks,
		       s.h.epoch, (long long)s.h.created);
	return CAT_ADM_EXIT_OK;
}

/* FILE as catena-control must open it: absolute, its directory resolved. */
static char *absolute(const char *file)
{
	char *d = strdup(file), *b = strdup(file), *dir, *out;
	char real[PATH_MAX];

	if (d == NULL || b == NULL)
		out_of_memory();
	dir = dirname(d);
	if (realpath(dir, real) == NULL)
		usage_error("%s: no such directory (%s)", dir, strerror(errno));
	if (asprintf(&out, "%s/%s", strcmp(real, "/") == 0 ? "" : real, basename(b)) < 0)
		out_of_memory();
	free(d);
	free(b);
	return out;
}

static void progress(const char *what, json_t *st, int final)
{
	double el = json_number_value(json_object_get(st, "elapsed_s"));
	json_t *eta = json_object_get(st, "eta_s");
	double mb = (double)json_integer_value(json_object_get(st, "bytes")) / 1e6;
	char etas[32] = "?";

	if (json_is_number(eta))
		snprintf(etas, sizeof(etas), "%.0f s", json_number_value(eta));
	fprintf(stderr, "%s%s: %lld/%lld slots, %lld keys, %.1f MB, %.1f MB/s, ETA %s%s",
		isatty(2) ? "\r" : "", what,
		(long long)json_integer_value(json_object_get(st, "slots_done")),
		(long long)json_integer_value(json_object_get(st, "slots_total")),
		(long long)json_integer_value(json_object_get(st, "keys")), mb,
		el > 0 ? mb / el : 0.0, etas, final || !isatty(2) ? "\n" : "");
}

/* Follow the job until it ends; Ctrl-C cancels it. The last status in *out. */
static int follow_job(struct target *t, const char *what, json_t **out)
{
	char err[512], wire[32];
	long long last_print = 0;
	struct sigaction sa = { .sa_handler = on_sigint };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	for (;;) {
		json_t *req, *st;
		const char *state;
		int rc;

		snprintf(wire, sizeof(wire), "%s_%s", what,
			 cat_adm_interrupted ? "cancel" : "status");
		req = json_pack("{s:s}", "cmd", wire);
		t->deadline = now_ms() + t->timeout_ms;
		rc = ask(t, req, &st, err, sizeof(err));
		json_decref(req);
		if (rc != CAT_ADM_EXIT_OK && cat_adm_interrupted) {
			/* It ended meanwhile: ask how. */
			cat_adm_interrupted = 0;
			continue;
		}
		if (rc != CAT_ADM_EXIT_OK)
			return fail(rc, err);
		state = json_string_value(json_object_get(st, "state"));
		if (state == NULL) {
			json_decref(st);
			snprintf(err, sizeof(err), "%s: the answer to %s has no \"state\"",
				 t->path, wire);
			return fail(CAT_ADM_EXIT_NO_ANSWER, err);
		}
		if (strcmp(state, "running") != 0) {
			if (!cat_adm_json_out)
				progress(what, st, 1);
			*out = st;
			return strcmp(state, "done") == 0 ? CAT_ADM_EXIT_OK : CAT_ADM_EXIT_WRONG;
		}
		if (!cat_adm_json_out && (isatty(2) || now_ms() - last_print >= 1000)) {
			progress(what, st, 0);
			last_print = now_ms();
		}
		json_decref(st);
		if (!cat_adm_interrupted)
			poll(NULL, 0, BACKUP_POLL_MS);
	}
}

/*
 * backup FILE [--rate BYTES] | backup --verify FILE | restore FILE
 * [--force]: start the job, follow it with a progress line on stderr,
 * cancel it on Ctrl-C; restore ends with verify. -1: not one of these
 * (backup status, backup cancel, ...: the table's own rows).
 */
static int backup_cli(struct target *t, int argc, char **argv)
{
	int is_backup = strcmp(argv[0], "backup") == 0;
	long long rate = -1;
	struct command cmdl;
	json_t *result, *st = NULL, *file;
	char err[512], *abs;
	int status, n = 0;
	char *rest[8];

	if (argc >= 2 && (strcmp(argv[1], "status") == 0 || strcmp(argv[1], "cancel") == 0))
		return -1;
	for (int i = 0; i < argc; i++) {
		if (is_backup && strcmp(argv[i], "--verify") == 0) {
			if (argc != 3 || i != 1)
				usage_error("want: backup --verify FILE");
			return backup_verify_file(argv[2]);
		}
		if (is_backup && strcmp(argv[i], "--rate") == 0) {
			if (i + 1 == argc || rate >= 0)
				usage_error("want: backup FILE [--rate BYTES]");
			rate = parse_range(argv[++i], "BYTES", 0, INT64_MAX);
			continue;
		}
		if (n == (int)(sizeof(rest) / sizeof(rest[0])) - 1)
			usage_error("wrong number of arguments: %s FILE", argv[0]);
		rest[n++] = argv[i];
	}
	rest[n] = NULL;
	build_request(n, rest, &cmdl);
	file = json_object_get(cmdl.req, "file");
	abs = absolute(json_string_value(file));
	json_object_set_new(cmdl.req, "file", json_string(abs));
	free(abs);
	if (rate >= 0)
		json_object_set_new(cmdl.req, "rate", json_integer(rate));
	status = ask(t, cmdl.req, &result, err, sizeof(err));
	json_decref(cmdl.req);
	if (status != CAT_ADM_EXIT_OK)
		return fail(status, err);
	json_decref(result);
	status = follow_job(t, argv[0], &st);
	if (st == NULL)
		return status;
	if (status != CAT_ADM_EXIT_OK) {
		snprintf(err, sizeof(err), "%s %s: %s", argv[0],
			 json_string_value(json_object_get(st, "state")),
			 json_string_value(json_object_get(st, "error")));
		json_decref(st);
		return fail(status, err);
	}
	if (is_backup) {
		if (cat_adm_json_out)
			print_json(t, &cmdl, st);
		else
			printf("backup %s: %lld slots, %lld keys, %lld bytes\n",
			       json_string_value(json_object_get(st, "file")),
			       (long long)json_integer_value(json_object_get(st, "slots_done")),
			       (long long)json_integer_value(json_object_get(st, "keys")),
			       (long long)json_integer_value(json_object_get(st, "bytes")));
		json_decref(st);
		return CAT_ADM_EXIT_OK;
	}
	/* Restored: the replicas must now agree. */
	{
		json_t *vreq = json_pack("{s:s}", "cmd", "verify");
		const char *why = NULL;

		t->deadline = now_ms() + VERIFY_TIMEOUT_MS;
		status = ask(t, vreq, &result, err, sizeof(err));
		json_decref(vreq);
		if (status != CAT_ADM_EXIT_OK) {
			json_decref(st);
			return fail(status, err);
		}
		if (cat_adm_verify_outcome(result, &why) == CAT_ADM_EXIT_NO_ANSWER) {
			snprintf(err, sizeof(err), "%s: %s", t->path, why);
			json_decref(result);
			json_decref(st);
			return fail(CAT_ADM_EXIT_NO_ANSWER, err);
		}
		if (cat_adm_json_out) {
			json_t *both = json_pack("{s:O,s:O}", "restore", st, "verify", result);
			char *line = json_dumps(both, JSON_COMPACT);

			puts(line);
			free(line);
			json_decref(both);
			status = cat_adm_verify_outcome(result, &why);
		} else {
			printf("restore %s: %lld slots, %lld keys, %lld bytes; verify:\n",
			       json_string_value(json_object_get(st, "file")),
			       (long long)json_integer_value(json_object_get(st, "slots_done")),
			       (long long)json_integer_value(json_object_get(st, "keys")),
			       (long long)json_integer_value(json_object_get(st, "bytes")));
			status = cat_adm_show(CAT_MGMT_VERIFY, result, &(struct cat_adm_show_ctx){
				.socket_path = t->path });
		}
		json_decref(result);
		json_decref(st);
		return status;
	}
}

int main(int argc, char **argv)
{
	struct target t = { .path = getenv("CATENA_CONTROL"), .timeout_ms = -1 };
	struct command cmdl;
	json_t *result;
	char err[512];
	int first, status;

	if (cat_version_arg(argc, argv, "catenactl"))
		return 0;
	if (t.path == NULL || t.path[0] == '\0')
		t.path = DEFAULT_SOCKET;
	first = parse_options(argc, argv, &t);
	argc = json_after_command(argc, argv, first);
	if (strcmp(argv[first], "backup") == 0 || strcmp(argv[first], "restore") == 0) {
		if (t.timeout_ms < 0)
			t.timeout_ms = DEFAULT_TIMEOUT_MS;
		t.deadline = now_ms() + t.timeout_ms;
		status = backup_cli(&t, argc - first, argv + first);
		if (status >= 0) {
			fflush(stdout);
			return status;
		}
	}
	build_request(argc - first, argv + first, &cmdl);
	if (t.timeout_ms < 0)
		t.timeout_ms = cmdl.id == CAT_MGMT_VERIFY ? VERIFY_TIMEOUT_MS
							 : DEFAULT_TIMEOUT_MS;
	t.deadline = now_ms() + t.timeout_ms;

	if (cmdl.id == CAT_MGMT_EVENTS && (cmdl.flags & 1u)) {
		json_decref(cmdl.req);
		return follow_events(&t);
	}
	if (cmdl.id == CAT_MGMT_SLOTS) {
		/* Asked page by page (ask_slots), from these. */
		json_t *f = json_object_get(cmdl.req, "first");
		json_t *n = json_object_get(cmdl.req, "count");

		status = ask_slots(&t, f != NULL ? json_integer_value(f) : 0,
				   n != NULL ? json_integer_value(n) : -1,
				   &result, err, sizeof(err));
	} else {
		status = ask(&t, cmdl.req, &result, err, sizeof(err));
	}
	json_decref(cmdl.req);
	if (status == CAT_ADM_EXIT_WRONG)
		in_cli_terms(cmdl.id, err, sizeof(err));
	if (status != CAT_ADM_EXIT_OK)
		return fail(status, err);

	if (cmdl.id == CAT_MGMT_VERIFY) {
		const char *why = NULL;

		status = cat_adm_verify_outcome(result, &why);
		if (status == CAT_ADM_EXIT_NO_ANSWER) {
			snprintf(err, sizeof(err), "%s: %s", t.path, why);
			json_decref(result);
			return fail(status, err);
		}
	}
	if (cat_adm_json_out) {
		print_json(&t, &cmdl, result);  /* verify's status stands */
	} else {
		struct cat_adm_show_ctx ctx = {
			.socket_path = t.path,
			.node_id = cmdl.first_operand,
		};

		status = cat_adm_show(cmdl.id, result, &ctx);
	}
	json_decref(result);
	if (fflush(stdout) != 0) {
		fprintf(stderr, "catenactl: writing the output: %s\n",
			strerror(errno));
		return CAT_ADM_EXIT_NO_ANSWER;
	}
	return status;
}
