/*
 * catena-cli: one catena request from the command line, through libcatena
 * (which routes it by the cluster map), or the cluster map itself. Output
 * is for people (default) or scripts (--json); the exit status says how
 * the request ended (see usage_text). Must never leave a value unescaped
 * in JSON: keys and values are bytes, not text.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "client/catena.h"
#include "replication/map.h"
#include "replication/version.h"

/* Exit statuses (the agreed interface; 5 covers local failures it does
 * not name, 64 is sysexits' EX_USAGE). */
enum {
	EXIT_ST_OK = 0,
	EXIT_ST_NOT_FOUND = 1,
	EXIT_ST_CAS_FAILED = 2,
	EXIT_ST_OTHER_STATUS = 3,
	EXIT_ST_TIMEOUT = 4,
	EXIT_ST_LOCAL = 5,
	EXIT_ST_USAGE = 64,
};

/* Large enough for any value a UDP datagram can carry, so GET never needs
 * a second round trip whatever the node's MTU. */
#define VALUE_CAP 65536u

static const char usage_line[] =
	"usage: catena-cli [-H HOST[,HOST...]] [-p PORT] [-t TIMEOUT_MS] [-r RETRIES]\n"
	"                  [-d DEADLINE_MS] [--json] COMMAND ARGS\n";

static const char usage_text[] =
	"\n"
	"Send one request to a catena cluster over UDP and print the answer.\n"
	"The request goes where the cluster map says (writes to the head of the\n"
	"key's chain, reads to its tail); the map is fetched from the given nodes.\n"
	"\n"
	"Options:\n"
	"  -H, --host HOSTS       node address(es): HOST or HOST:PORT (IPv4 or name),\n"
	"                         comma-separated; any node of the cluster will do;\n"
	"                         default: $CATENA_HOST\n"
	"  -p, --port PORT        UDP port of HOSTS without :PORT (default 7470)\n"
	"  -t, --timeout MS       wait of the first try in ms (default 200); later\n"
	"                         tries wait twice as long each, up to 500 ms (or MS\n"
	"                         if larger), unless -r is given\n"
	"  -r, --retries N        re-sends after the first try, each waiting MS of -t\n"
	"                         (default: as many as the deadline allows)\n"
	"  -d, --deadline MS      give up MS after the start (default 5000 without -r,\n"
	"                         none with -r unless given): long enough to outlast\n"
	"                         a node failure and the new cluster map\n"
	"      --mtu N            path MTU, sets the local value limit (default 1500)\n"
	"      --json             print one JSON object on stdout\n"
	"  -h, --help             this text\n"
	"\n"
	"Commands:\n"
	"  get KEY                          print the value (raw) and a newline\n"
	"  put KEY VALUE                    print OK version=N\n"
	"  del KEY                          print OK version=N (the deleted version)\n"
	"  cas KEY EXPECTED_VERSION VALUE   set if the version matches (0 = only if absent)\n"
	"  cas --value KEY EXPECTED NEWVALUE  set if the current value is EXPECTED\n"
	"  incr KEY [DELTA]                 add DELTA (default 1, may be negative);\n"
	"                                   print the new number\n"
	"  ping                             print OK slots=N epoch=E (first node)\n"
	"  map                              print the cluster map text; with --json:\n"
	"                                   epoch, slots, craq, nodes, chains and\n"
	"                                   the slot -> chain assignment\n"
	"A VALUE (or EXPECTED) of - is read from stdin, binary safe.\n"
	"\n"
	"Exit status:\n"
	"  0 OK, 1 NOT_FOUND, 2 CAS_FAILED, 3 any other status from the node\n"
	"  (its name is printed on stderr), 4 no reply within the budget,\n"
	"  5 local failure (host not found, socket error, malformed reply),\n"
	"  (map: 3 UNKNOWN_OP if the node serves no cluster map)\n"
	"  64 usage error.\n";

static int json;

static void __attribute__((noreturn, format(printf, 1, 2)))
usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("catena-cli: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fputs(usage_line, stderr);
	fputs("Try 'catena-cli --help' for more information.\n", stderr);
	exit(EXIT_ST_USAGE);
}

/* ---- argument parsing: strict, a typo is a usage error, never a 0 ---- */

static int all_digits(const char *s)
{
	if (*s == '\0')
		return 0;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return 0;
	return 1;
}

static uint64_t parse_u64(const char *s, const char *what)
{
	unsigned long long v;

	errno = 0;
	if (!all_digits(s))
		usage_error("%s: not a non-negative integer: \"%s\"", what, s);
	v = strtoull(s, NULL, 10);
	if (errno == ERANGE)
		usage_error("%s: out of range: \"%s\"", what, s);
	return v;
}

static int64_t parse_i64(const char *s, const char *what)
{
	long long v;

	if (!all_digits(s + (*s == '-' || *s == '+')))
		usage_error("%s: not an integer: \"%s\"", what, s);
	errno = 0;
	v = strtoll(s, NULL, 10);
	if (errno == ERANGE)
		usage_error("%s: out of 64-bit range: \"%s\"", what, s);
	return v;
}

static long parse_range(const char *s, const char *what, long lo, long hi)
{
	uint64_t v = parse_u64(s, what);

	if (v < (uint64_t)lo || v > (uint64_t)hi)
		usage_error("%s: must be in %ld..%ld: \"%s\"", what, lo, hi, s);
	return (long)v;
}

/* ---- values: from argv, or "-" = all of stdin ---- */

struct bytes {
	const uint8_t *p;
	size_t len;
	uint8_t *owned;
};

static int stdin_used;

static void get_value(const char *arg, struct bytes *b)
{
	size_t cap = 4096, len = 0;
	uint8_t *buf, *nb;
	ssize_t n;

	b->owned = NULL;
	if (strcmp(arg, "-") != 0) {
		b->p = (const uint8_t *)arg;
		b->len = strlen(arg);
		return;
	}
	if (stdin_used)
		usage_error("only one VALUE can be read from stdin (-)");
	stdin_used = 1;
	buf = malloc(cap);
	if (buf == NULL) {
		fprintf(stderr, "catena-cli: out of memory\n");
		exit(EXIT_ST_LOCAL);
	}
	/* Read with read(2), not stdio, so no byte is translated or lost;
	 * stop one past the largest UDP payload: anything that long is
	 * over the limit already, and the library will say so. */
	for (;;) {
		if (len == cap) {
			if (cap > 65536) {
				break;
			}
			cap *= 2;
			nb = realloc(buf, cap);
			if (nb == NULL) {
				free(buf);
				fprintf(stderr, "catena-cli: out of memory\n");
				exit(EXIT_ST_LOCAL);
			}
			buf = nb;
		}
		n = read(STDIN_FILENO, buf + len, cap - len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "catena-cli: reading stdin: %s\n",
				strerror(errno));
			exit(EXIT_ST_LOCAL);
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	b->p = buf;
	b->len = len;
	b->owned = buf;
}

/* ---- JSON output (jansson) ---- */

static void __attribute__((noreturn)) out_of_memory(void)
{
	fprintf(stderr, "catena-cli: out of memory\n");
	exit(EXIT_ST_LOCAL);
}

/* Length of the valid UTF-8 sequence at p (1..4), or 0 if the byte at p
 * does not start one (overlongs, surrogates and > U+10FFFF are invalid). */
static size_t utf8_len(const uint8_t *p, size_t n)
{
	uint8_t c = p[0], lo = 0x80, hi = 0xBF;
	size_t len, i;

	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF)
		len = 2;
	else if (c >= 0xE0 && c <= 0xEF)
		len = 3;
	else if (c >= 0xF0 && c <= 0xF4)
		len = 4;
	else
		return 0;
	if (n < len)
		return 0;
	if (c == 0xE0)
		lo = 0xA0;
	else if (c == 0xED)
		hi = 0x9F;
	else if (c == 0xF0)
		lo = 0x90;
	else if (c == 0xF4)
		hi = 0x8F;
	if (p[1] < lo || p[1] > hi)
		return 0;
	for (i = 2; i < len; i++)
		if (p[i] < 0x80 || p[i] > 0xBF)
			return 0;
	return len;
}

/* Set o[k] = v (the reference is taken); a NULL v is jansson out of memory. */
static void jset(json_t *o, const char *k, json_t *v)
{
	if (v == NULL || json_object_set_new(o, k, v) < 0)
		out_of_memory();
}

/* A version, count or id. Those the wire can carry past 2^63 (versions
 * are uint64) would turn negative in jansson's signed integer, so such a
 * number is written as its decimal string instead: never seen from a
 * sane node, but never a wrong number either. */
static json_t *ju64(uint64_t v)
{
	char s[24];

	if (v <= (uint64_t)INT64_MAX)
		return json_integer((json_int_t)v);
	snprintf(s, sizeof(s), "%" PRIu64, v);
	return json_string(s);
}

/*
 * o[name] = the bytes as a JSON string. Valid UTF-8 passes through (NUL
 * and control characters come out as jansson's escapes); every byte that
 * is not part of valid UTF-8 becomes the code point U+00XX, the rule
 * catena-cli has always had (latin-1 for stray bytes: never dropped, never
 * broken text). That rule cannot tell byte 0xE9 from a real "é", so when
 * it was needed the exact bytes are also given, as lowercase hex, in
 * o[name_hex]: present only for keys and values that are not UTF-8.
 */
static void jbytes(json_t *o, const char *name, const uint8_t *p, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	char *s = malloc(2 * n + 1), hname[32];
	size_t i = 0, len = 0, l;
	int lossy = 0;

	if (s == NULL)
		out_of_memory();
	s[0] = '\0'; /* an empty value is a valid string too */
	while (i < n) {
		l = utf8_len(p + i, n - i);
		if (l == 0) {
			s[len++] = (char)(0xC0 | (p[i] >> 6));
			s[len++] = (char)(0x80 | (p[i] & 0x3F));
			lossy = 1;
			i++;
			continue;
		}
		memcpy(s + len, p + i, l);
		len += l;
		i += l;
	}
	jset(o, name, json_stringn(s, len));
	if (lossy) {
		/* s has room for 2 n bytes, as the hex needs. */
		for (i = 0; i < n; i++) {
			s[2 * i] = hex[p[i] >> 4];
			s[2 * i + 1] = hex[p[i] & 0xF];
		}
		snprintf(hname, sizeof(hname), "%s_hex", name);
		jset(o, hname, json_stringn(s, 2 * n));
	}
	free(s);
}

static json_t *json_begin(const char *op, const char *status)
{
	json_t *o = json_pack("{s:s,s:s}", "op", op, "status", status);

	if (o == NULL)
		out_of_memory();
	return o;
}

static void json_key(json_t *o, const char *key)
{
	jbytes(o, "key", (const uint8_t *)key, strlen(key));
}

/* Print o as one compact line and free it; a write error is caught by
 * main's check of stdout. */
static void json_end(json_t *o)
{
	if (json_dumpf(o, stdout, JSON_COMPACT) == 0)
		fputc('\n', stdout);
	json_decref(o);
}

/* ---- outcome reporting ---- */

struct outcome {
	const char *op;
	const char *key;      /* NULL for ping */
	int rc;
	uint64_t version;     /* OK and CAS_FAILED */
	int tries;            /* for the timeout message; 0 = no count */
	int timeout_ms;
	int deadline_ms;      /* 0 = none */
	uint32_t epoch;       /* MOVED: the node's current epoch */
};

static int exit_for(int rc)
{
	if (rc == 0)
		return EXIT_ST_OK;
	if (rc == CAT_ST_NOT_FOUND)
		return EXIT_ST_NOT_FOUND;
	if (rc == CAT_ST_CAS_FAILED)
		return EXIT_ST_CAS_FAILED;
	if (rc > 0 || rc == -EMSGSIZE)
		return EXIT_ST_OTHER_STATUS;
	if (rc == -ETIMEDOUT || rc == -ECONNREFUSED)
		return EXIT_ST_TIMEOUT;
	if (rc == -EINVAL)
		return EXIT_ST_USAGE;
	return EXIT_ST_LOCAL;
}

/*
 * Report a non-OK outcome: the status name (or error) on stderr always,
 * and a JSON object on stdout with --json. Returns the exit status.
 */
static int report_failure(const struct outcome *o)
{
	const char *status;
	char detail[160];

	detail[0] = '\0';
	if (o->rc > 0) {
		status = cat_client_strerror(o->rc);
		if (o->rc == CAT_ST_CAS_FAILED)
			snprintf(detail, sizeof(detail), "version=%" PRIu64,
				 o->version);
		else if (o->rc == CAT_ST_MOVED)
			snprintf(detail, sizeof(detail), "epoch=%" PRIu32,
				 o->epoch);
		else if (o->rc == CAT_ST_UNKNOWN_OP &&
			 strcmp(o->op, "MAP") == 0)
			snprintf(detail, sizeof(detail),
				 "the node serves no cluster map (it predates "
				 "MAP_GET)");
	} else if (o->rc == -EMSGSIZE) {
		/* The node would answer TOO_LARGE; checking first saves a
		 * round trip and gives scripts the same status either way. */
		status = "TOO_LARGE";
		snprintf(detail, sizeof(detail),
			 "key or value over the protocol limit (checked locally)");
	} else if (o->rc == -ETIMEDOUT || o->rc == -ECONNREFUSED) {
		const char *why = o->rc == -ECONNREFUSED
			? " (connection refused: nothing listens there)" : "";

		status = "TIMEOUT";
		if (o->tries == 0)
			snprintf(detail, sizeof(detail),
				 "no reply within %d ms%s", o->deadline_ms, why);
		else if (o->deadline_ms == 0)
			snprintf(detail, sizeof(detail),
				 "no reply after %d %s of %d ms%s", o->tries,
				 o->tries == 1 ? "try" : "tries", o->timeout_ms,
				 why);
		else
			snprintf(detail, sizeof(detail),
				 "no reply after %d %s of %d ms or within %d "
				 "ms%s", o->tries, o->tries == 1 ? "try" : "tries",
				 o->timeout_ms, o->deadline_ms, why);
	} else {
		status = "ERROR";
		snprintf(detail, sizeof(detail), "%s",
			 cat_client_strerror(o->rc));
	}

	if (detail[0])
		fprintf(stderr, "catena-cli: %s: %s\n", status, detail);
	else
		fprintf(stderr, "catena-cli: %s\n", status);

	if (json) {
		json_t *j = json_begin(o->op, status);

		if (o->key)
			json_key(j, o->key);
		if (o->rc == CAT_ST_CAS_FAILED)
			jset(j, "version", ju64(o->version));
		if (o->rc == CAT_ST_MOVED)
			jset(j, "epoch", json_integer(o->epoch));
		if (o->rc < 0)
			jbytes(j, "error", (const uint8_t *)detail, strlen(detail));
		json_end(j);
	}
	return exit_for(o->rc);
}

static void report_version_ok(const struct outcome *o)
{
	if (json) {
		json_t *j = json_begin(o->op, "OK");

		json_key(j, o->key);
		jset(j, "version", ju64(o->version));
		json_end(j);
	} else {
		printf("OK version=%" PRIu64 "\n", o->version);
	}
}

/* ---- the cluster map (catena-cli map) ---- */

static void json_ip(json_t *o, uint32_t ip, uint16_t port)
{
	char a[16];

	snprintf(a, sizeof(a), "%u.%u.%u.%u", ip >> 24, (ip >> 16) & 0xFF,
		 (ip >> 8) & 0xFF, ip & 0xFF);
	jset(o, "ip", json_string(a));
	jset(o, "port", json_integer(port));
}

static void jappend(json_t *a, json_t *v)
{
	if (v == NULL || json_array_append_new(a, v) < 0)
		out_of_memory();
}

/*
 * The slot -> chain assignment, compactly: "roundrobin" when slot s is on
 * the (s mod n)-th chain for every s (one word instead of thousands of
 * runs), otherwise runs of consecutive slots as [first, last, chain_id].
 */
static json_t *json_assignment(const struct cat_map *m)
{
	uint32_t s, lo;
	int rr = m->n_chains > 0;
	json_t *runs;

	for (s = 0; s < m->slot_count && rr; s++)
		if (m->slot_chain[s] != s % m->n_chains)
			rr = 0;
	if (rr && m->n_chains > 1)
		return json_string("roundrobin");
	runs = json_array();
	if (runs == NULL)
		out_of_memory();
	for (lo = 0; lo < m->slot_count; lo = s) {
		for (s = lo + 1; s < m->slot_count &&
				 m->slot_chain[s] == m->slot_chain[lo]; s++)
			;
		jappend(runs, json_pack("[I,I,i]", (json_int_t)lo,
					(json_int_t)(s - 1),
					(int)m->chains[m->slot_chain[lo]].id));
	}
	return runs;
}

static void print_map_json(const struct cat_map *m)
{
	uint32_t per_chain[CAT_MAP_CHAINS_MAX] = { 0 };
	json_t *j = json_begin("MAP", "OK"), *nodes, *chains;

	for (uint32_t s = 0; s < m->slot_count; s++)
		per_chain[m->slot_chain[s]]++;
	jset(j, "epoch", json_integer(m->epoch));
	jset(j, "slots", json_integer(m->slot_count));
	jset(j, "craq", json_boolean(m->craq));
	nodes = json_array();
	jset(j, "nodes", nodes);
	for (uint16_t i = 0; i < m->n_nodes; i++) {
		const struct cat_map_node *nd = &m->nodes[i];
		static const uint8_t zero[6];
		json_t *n = json_object();
		char mac[18];

		jappend(nodes, n);
		jset(n, "id", json_integer(nd->id));
		json_ip(n, nd->ip, nd->udp_port);
		if (memcmp(nd->mac, zero, sizeof(zero)) != 0) {
			snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x",
				 nd->mac[0], nd->mac[1], nd->mac[2], nd->mac[3],
				 nd->mac[4], nd->mac[5]);
			jset(n, "mac", json_string(mac));
		}
	}
	chains = json_array();
	jset(j, "chains", chains);
	for (uint16_t i = 0; i < m->n_chains; i++) {
		const struct cat_map_chain *ch = &m->chains[i];
		json_t *c = json_object(), *members = json_array();

		jappend(chains, c);
		jset(c, "id", json_integer(ch->id));
		jset(c, "nodes", members);
		for (uint8_t k = 0; k < ch->len; k++)
			jappend(members, json_integer(ch->nodes[k]));
		jset(c, "head", json_integer(cat_map_chain_head(ch)));
		jset(c, "tail", json_integer(cat_map_chain_tail(ch)));
		jset(c, "slot_count", json_integer(per_chain[i]));
	}
	jset(j, "assign", json_assignment(m));
	json_end(j);
}

/* catena-cli map: returns the rc for report_failure (0 = printed). */
static int cmd_map(struct cat_client *c)
{
	const struct cat_map *m;
	const char *text;
	size_t len = 0;
	int rc;

	rc = cat_client_refresh_map(c);
	if (rc == -EOPNOTSUPP)
		return CAT_ST_UNKNOWN_OP; /* what the node answered */
	if (rc != 0)
		return rc;
	m = cat_client_map(c);
	text = cat_client_map_text(c, &len);
	if (m == NULL || text == NULL)
		return -EPROTO;
	if (json) {
		print_map_json(m);
	} else {
		fwrite(text, 1, len, stdout);
		if (len == 0 || text[len - 1] != '\n')
			fputc('\n', stdout);
	}
	return 0;
}

static const char *check_key(const char *key)
{
	if (key[0] == '\0')
		usage_error("KEY must not be empty");
	return key;
}

static void need_args(int argc, int lo, int hi, const char *form)
{
	if (argc < lo || argc > hi)
		usage_error("wrong number of arguments: %s", form);
}

/*
 * The global options, up to the command. Returns 1 for --help (printed),
 * else 0; a usage error exits. retries stays -1 without -r.
 */
static int parse_options(int argc, char **argv, struct cat_client_opts *opts,
			 const char **host, int *retries)
{
	static const struct option longopts[] = {
		{ "host", required_argument, NULL, 'H' },
		{ "port", required_argument, NULL, 'p' },
		{ "timeout", required_argument, NULL, 't' },
		{ "retries", required_argument, NULL, 'r' },
		{ "deadline", required_argument, NULL, 'd' },
		{ "mtu", required_argument, NULL, 'm' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;

	opterr = 0;
	/* "+": stop at the command, so its own arguments (a negative DELTA,
	 * cas --value) are never taken for global options. */
	while ((opt = getopt_long(argc, argv, "+:H:p:t:r:d:h", longopts,
				  NULL)) != -1) {
		switch (opt) {
		case 'H':
			*host = optarg;
			break;
		case 'p':
			opts->port = (uint16_t)parse_range(optarg, "PORT", 1,
							   65535);
			break;
		case 't':
			opts->timeout_ms = (int)parse_range(optarg, "TIMEOUT_MS",
							    1, 3600000);
			break;
		case 'r':
			*retries = (int)parse_range(optarg, "RETRIES", 0, 1000);
			break;
		case 'd':
			opts->deadline_ms = (int)parse_range(
				optarg, "DEADLINE_MS", 1, CAT_CLIENT_DEADLINE_MAX_MS);
			break;
		case 'm':
			opts->mtu = (uint32_t)parse_range(optarg, "MTU", 576,
							  65535);
			break;
		case 'j':
			json = 1;
			break;
		case 'h':
			fputs(usage_line, stdout);
			fputs(usage_text, stdout);
			return 1;
		case ':':
			usage_error("option %s needs an argument",
				    argv[optind - 1]);
		default:
			if (optopt)
				usage_error("unknown option -%c", optopt);
			usage_error("unknown option %s", argv[optind - 1]);
		}
	}
	return 0;
}

/* The command and its argument count; a usage error exits. Checked
 * before touching the network: a usage error must not send anything. */
static void check_command(const char *cmd, int argc, char **argv)
{
	if (strcmp(cmd, "get") == 0) {
		need_args(argc, 1, 1, "get KEY");
	} else if (strcmp(cmd, "put") == 0) {
		need_args(argc, 2, 2, "put KEY VALUE");
	} else if (strcmp(cmd, "del") == 0) {
		need_args(argc, 1, 1, "del KEY");
	} else if (strcmp(cmd, "cas") == 0) {
		if (argc >= 1 && strcmp(argv[0], "--value") == 0)
			need_args(argc, 4, 4, "cas --value KEY EXPECTED NEWVALUE");
		else
			need_args(argc, 3, 3, "cas KEY EXPECTED_VERSION VALUE");
	} else if (strcmp(cmd, "incr") == 0) {
		need_args(argc, 1, 2, "incr KEY [DELTA]");
	} else if (strcmp(cmd, "ping") == 0) {
		need_args(argc, 0, 0, "ping");
	} else if (strcmp(cmd, "map") == 0) {
		need_args(argc, 0, 0, "map");
	} else {
		usage_error("unknown command \"%s\"", cmd);
	}
}

/* A command's arguments once parsed (the key is in struct outcome). */
struct request {
	const char *cmd;
	struct bytes val, expect;
	uint64_t expect_version;
	int64_t delta;
	int cas_value;           /* cas --value: compare expect, not a version */
};

/* Parse every argument before opening: a bad number is a usage error
 * whatever the host is. */
static void parse_request(int argc, char **argv, struct request *r,
			  struct outcome *o)
{
	const char *cmd = r->cmd;

	r->delta = 1;
	if (strcmp(cmd, "cas") == 0) {
		if (strcmp(argv[0], "--value") == 0) {
			r->cas_value = 1;
			argv++;
			argc--;
			o->key = check_key(argv[0]);
			get_value(argv[1], &r->expect);
		} else {
			o->key = check_key(argv[0]);
			r->expect_version = parse_u64(argv[1], "EXPECTED_VERSION");
		}
		get_value(argv[2], &r->val);
	} else if (strcmp(cmd, "ping") != 0 && strcmp(cmd, "map") != 0) {
		o->key = check_key(argv[0]);
		if (strcmp(cmd, "put") == 0)
			get_value(argv[1], &r->val);
		if (strcmp(cmd, "incr") == 0 && argc == 2)
			r->delta = parse_i64(argv[1], "DELTA");
	}
}

/* cat_client_open failed: say why (and in JSON with --json); returns
 * the exit status. */
static int report_open_failure(const char *op, const char *host, int err)
{
	if (err == -EHOSTUNREACH || err == -EAGAIN)
		fprintf(stderr, "catena-cli: host \"%s\": not found\n",
			host);
	else if (err == -EINVAL)
		fprintf(stderr, "catena-cli: bad host list \"%s\": want "
			"HOST[:PORT][,HOST[:PORT]...] (at most %d)\n",
			host, CAT_CLIENT_BOOTSTRAP_MAX);
	else
		fprintf(stderr, "catena-cli: %s\n",
			cat_client_strerror(err));
	if (json) {
		json_t *j = json_begin(op, "ERROR");
		const char *m = cat_client_strerror(err);

		jbytes(j, "error", (const uint8_t *)m, strlen(m));
		json_end(j);
	}
	return err == -EINVAL ? EXIT_ST_USAGE : EXIT_ST_LOCAL;
}

static void run_get(struct cat_client *c, struct outcome *o)
{
	static uint8_t buf[VALUE_CAP];
	const char *key = o->key;
	size_t vlen = 0;

	o->rc = cat_client_get(c, key, strlen(key), buf, sizeof(buf), &vlen,
			       &o->version);
	if (o->rc != 0)
		return;
	if (json) {
		json_t *j = json_begin(o->op, "OK");

		json_key(j, key);
		jbytes(j, "value", buf, vlen);
		jset(j, "version", ju64(o->version));
		json_end(j);
	} else {
		fwrite(buf, 1, vlen, stdout);
		fputc('\n', stdout);
	}
}

static void run_incr(struct cat_client *c, const struct request *r,
		     struct outcome *o)
{
	const char *key = o->key;
	int64_t result = 0;

	o->rc = cat_client_incr(c, key, strlen(key), r->delta, &result,
				&o->version);
	if (o->rc != 0)
		return;
	if (json) {
		json_t *j = json_begin(o->op, "OK");

		json_key(j, key);
		jset(j, "value", json_integer(result));
		jset(j, "version", ju64(o->version));
		json_end(j);
	} else {
		printf("%" PRId64 "\n", result);
	}
}

static void run_ping(struct cat_client *c, struct outcome *o)
{
	uint32_t slots = 0, epoch = 0;

	o->rc = cat_client_ping(c, &slots, &epoch);
	if (o->rc != 0)
		return;
	if (json) {
		json_t *j = json_begin(o->op, "OK");

		jset(j, "slots", json_integer(slots));
		jset(j, "epoch", json_integer(epoch));
		json_end(j);
	} else {
		printf("OK slots=%" PRIu32 " epoch=%" PRIu32 "\n",
		       slots, epoch);
	}
}

/* Send the request and print an OK answer; o->rc says how it ended. */
static void run_request(struct cat_client *c, const struct request *r,
			struct outcome *o)
{
	const char *cmd = r->cmd, *key = o->key;
	size_t klen = key ? strlen(key) : 0;

	if (strcmp(cmd, "get") == 0) {
		run_get(c, o);
	} else if (strcmp(cmd, "put") == 0) {
		o->rc = cat_client_put(c, key, klen, r->val.p, r->val.len,
				       &o->version);
		if (o->rc == 0)
			report_version_ok(o);
	} else if (strcmp(cmd, "del") == 0) {
		o->rc = cat_client_del(c, key, klen, &o->version);
		if (o->rc == 0)
			report_version_ok(o);
	} else if (strcmp(cmd, "cas") == 0) {
		if (r->cas_value)
			o->rc = cat_client_cas_value(c, key, klen, r->expect.p,
						     r->expect.len, r->val.p,
						     r->val.len, &o->version);
		else
			o->rc = cat_client_cas(c, key, klen, r->expect_version,
					       r->val.p, r->val.len, &o->version);
		if (o->rc == 0)
			report_version_ok(o);
	} else if (strcmp(cmd, "incr") == 0) {
		run_incr(c, r, o);
	} else if (strcmp(cmd, "map") == 0) {
		o->rc = cmd_map(c);
	} else {
		run_ping(c, o);
	}
}

int main(int argc, char **argv)
{
	struct cat_client_opts opts;
	struct cat_client *c;
	struct outcome o;
	struct request req;
	const char *host = getenv("CATENA_HOST");
	int err, retries = -1, status; /* -1: no -r, the default budget */

	if (cat_version_arg(argc, argv, "catena-cli"))
		return 0;
	cat_client_opts_init(&opts, NULL);
	opts.timeout_ms = CAT_CLIENT_DEFAULT_TIMEOUT_MS;
	if (parse_options(argc, argv, &opts, &host, &retries))
		return EXIT_ST_OK;
	argc -= optind;
	argv += optind;
	if (argc < 1)
		usage_error("no COMMAND given");
	memset(&req, 0, sizeof(req));
	req.cmd = argv[0];
	argc--;
	argv++;
	check_command(req.cmd, argc, argv);

	if (host == NULL || host[0] == '\0')
		usage_error("no host: give -H HOST[,HOST...] or set CATENA_HOST");
	opts.host = host;
	if (retries >= 0)
		opts.retries = retries == 0 ? CAT_CLIENT_NO_RETRIES : retries;

	memset(&o, 0, sizeof(o));
	o.op = req.cmd[0] == 'g' ? "GET" : req.cmd[0] == 'p' && req.cmd[1] == 'u' ? "PUT"
	     : req.cmd[0] == 'd' ? "DEL" : req.cmd[0] == 'c' ? "CAS"
	     : req.cmd[0] == 'i' ? "INCR" : req.cmd[0] == 'm' ? "MAP" : "PING";
	o.tries = retries >= 0 ? 1 + retries : 0;
	o.timeout_ms = opts.timeout_ms;
	o.deadline_ms = opts.deadline_ms ? opts.deadline_ms
		      : retries >= 0 ? 0 : CAT_CLIENT_DEFAULT_DEADLINE_MS;
	parse_request(argc, argv, &req, &o);

	c = cat_client_open(&opts, &err);
	if (c == NULL)
		return report_open_failure(o.op, host, err);
	run_request(c, &req, &o);

	o.epoch = cat_client_epoch(c);
	status = o.rc == 0 ? EXIT_ST_OK : report_failure(&o);
	cat_client_close(c);
	free(req.val.owned);
	free(req.expect.owned);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "catena-cli: writing stdout: %s\n",
			strerror(errno));
		if (status == EXIT_ST_OK)
			status = EXIT_ST_LOCAL;
	}
	return status;
}
