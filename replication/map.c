/*
 * catena cluster map: the parser, validator and canonical writer of the text
 * format in docs/CLUSTER_MAP.md, and the small lookups readers need.
 * Setup and control-path code only (parse allocates); never prints, never
 * depends on the locale (no ctype, no strto*), never reads past len.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "replication/hash.h"
#include "replication/map.h"
#include "replication/wire.h"

#define LINE_MAX_BYTES 1024u
/* directive + chain id + CAT_MAP_CHAIN_LEN_MAX node ids, plus one so that a
 * chain one node too long is told apart from a line of garbage. */
#define TOK_MAX (2u + CAT_MAP_CHAIN_LEN_MAX + 1u)
/* Longest token quoted back in an error message. */
#define QUOTE_MAX 24u

struct tok {
	const char *p;
	size_t len;
};

/* An assign line, kept until the whole text is read: the slot count and
 * the chains it names may be declared after it. */
struct assign {
	uint32_t line;
	uint32_t lo, hi;   /* inclusive; unchecked against slot_count yet */
	uint16_t chain_id; /* 0 with rr set */
	uint8_t rr;
};

/* A move line, resolved once every chain is known. */
struct move {
	uint32_t line;
	uint16_t chain_id, to, from;
};

/* A join line, resolved once every chain and node is known. */
struct join {
	uint32_t line;
	uint16_t chain_id, node_id;
};

struct parser {
	struct cat_map *m;
	char *err;
	size_t errlen;
	uint32_t line;
	uint32_t epoch_line, slots_line, craq_line;
	uint32_t node_line[CAT_MAP_NODES_MAX];   /* by declaration index */
	uint32_t chain_line[CAT_MAP_CHAINS_MAX]; /* by declaration index */
	struct assign *as;
	size_t n_as, cap_as;
	struct join joins[CAT_MAP_CHAINS_MAX];
	size_t n_joins;
	struct move moves[CAT_MAP_CHAINS_MAX];
	size_t n_moves;
};

/* Formats "line N: ..." into err; always returns -EINVAL so callers can
 * `return fail(...)`. */
__attribute__((format(printf, 3, 4)))
static int fail_at(struct parser *ps, uint32_t line, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (ps->err == NULL || ps->errlen == 0)
		return -EINVAL;
	n = snprintf(ps->err, ps->errlen, "line %u: ", line);
	if (n >= 0 && (size_t)n < ps->errlen) {
		va_start(ap, fmt);
		vsnprintf(ps->err + n, ps->errlen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

#define fail(ps, ...) fail_at((ps), (ps)->line, __VA_ARGS__)

static void set_err(char *err, size_t errlen, const char *msg)
{
	if (err != NULL && errlen > 0)
		snprintf(err, errlen, "%s", msg);
}

/* A token made safe to print: only printable ASCII survives, other bytes
 * become '?', and long tokens are cut, so an error message stays one short
 * line whatever the input was. */
static const char *quote(const struct tok *t, char out[QUOTE_MAX + 4])
{
	size_t n = t->len < QUOTE_MAX ? t->len : QUOTE_MAX;
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)t->p[i];

		out[i] = (c > 0x20 && c < 0x7f) ? (char)c : '?';
	}
	if (t->len > QUOTE_MAX) {
		memcpy(out + i, "...", 3);
		i += 3;
	}
	out[i] = '\0';
	return out;
}

static int tok_is(const struct tok *t, const char *s)
{
	size_t n = strlen(s);

	return t->len == n && memcmp(t->p, s, n) == 0;
}

/* Plain decimal, no sign, no leading zero (so every number has exactly one
 * spelling), at most UINT32_MAX. */
static int parse_u32(const char *p, size_t len, uint32_t *out)
{
	uint64_t v = 0;

	if (len == 0 || len > 10 || (len > 1 && p[0] == '0'))
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		v = v * 10 + (uint64_t)(p[i] - '0');
	}
	if (v > UINT32_MAX)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

/* An id (node or chain): 1..65535. */
static int parse_id(const struct tok *t, uint16_t *out)
{
	uint32_t v;

	if (parse_u32(t->p, t->len, &v) != 0 || v == 0 || v > 65535)
		return -1;
	*out = (uint16_t)v;
	return 0;
}

/* Dotted quad, four decimal octets without leading zeros (a leading zero
 * means octal to inet_aton, so refusing it removes the ambiguity). */
static int parse_ipv4(const char *p, size_t len, uint32_t *out)
{
	uint32_t ip = 0;
	size_t i = 0;

	for (int k = 0; k < 4; k++) {
		size_t start = i;
		uint32_t oct;

		while (i < len && p[i] != '.')
			i++;
		if (parse_u32(p + start, i - start, &oct) != 0 || oct > 255)
			return -1;
		ip = (ip << 8) | oct;
		if (k < 3) {
			if (i >= len)
				return -1;
			i++; /* the dot */
		}
	}
	if (i != len)
		return -1;
	*out = ip;
	return 0;
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

/* xx:xx:xx:xx:xx:xx, exactly two hex digits per byte. */
static int parse_mac(const struct tok *t, uint8_t mac[6])
{
	if (t->len != 17)
		return -1;
	for (int k = 0; k < 6; k++) {
		int hi = hexval(t->p[3 * k]), lo = hexval(t->p[3 * k + 1]);

		if (hi < 0 || lo < 0 || (k < 5 && t->p[3 * k + 2] != ':'))
			return -1;
		mac[k] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

static int mac_is_zero(const uint8_t mac[6])
{
	return (mac[0] | mac[1] | mac[2] | mac[3] | mac[4] | mac[5]) == 0;
}

static int directive_once(struct parser *ps, uint32_t *seen, const char *name)
{
	if (*seen != 0)
		return fail(ps, "%s given twice (first on line %u)", name, *seen);
	*seen = ps->line;
	return 0;
}

static int do_epoch(struct parser *ps, const struct tok *t, size_t n)
{
	char q[QUOTE_MAX + 4];
	uint32_t v;
	int rc;

	if ((rc = directive_once(ps, &ps->epoch_line, "epoch")) != 0)
		return rc;
	if (n != 2)
		return fail(ps, "epoch: expected one number");
	if (parse_u32(t[1].p, t[1].len, &v) != 0)
		return fail(ps, "epoch: bad number '%s'", quote(&t[1], q));
	if (v == 0)
		return fail(ps, "epoch 0: must be 1..4294967295");
	ps->m->epoch = v;
	return 0;
}

static int do_slots(struct parser *ps, const struct tok *t, size_t n)
{
	char q[QUOTE_MAX + 4];
	uint32_t v;
	int rc;

	if ((rc = directive_once(ps, &ps->slots_line, "slots")) != 0)
		return rc;
	if (n != 2)
		return fail(ps, "slots: expected one number");
	if (parse_u32(t[1].p, t[1].len, &v) != 0 ||
	    !cat_hash_slot_count_valid(v))
		return fail(ps, "slots: '%s' is not a power of two in 1..65536",
			    quote(&t[1], q));
	ps->m->slot_count = v;
	return 0;
}

static int do_craq(struct parser *ps, const struct tok *t, size_t n)
{
	int rc;

	if ((rc = directive_once(ps, &ps->craq_line, "craq")) != 0)
		return rc;
	if (n != 2 || !(tok_is(&t[1], "on") || tok_is(&t[1], "off")))
		return fail(ps, "craq: expected 'on' or 'off'");
	ps->m->craq = (uint8_t)tok_is(&t[1], "on");
	return 0;
}

/* IPv4 addresses that can never be a node's: 0.0.0.0/8 (this network),
 * 224.0.0.0/4 (multicast) and 240.0.0.0/4 (reserved, with broadcast). */
static const char *ip_unusable(uint32_t ip)
{
	if ((ip >> 24) == 0)
		return "in 0.0.0.0/8";
	if ((ip >> 28) == 0xE)
		return "multicast";
	if ((ip >> 28) == 0xF)
		return "reserved or broadcast";
	return NULL;
}

static int do_node(struct parser *ps, const struct tok *t, size_t n)
{
	struct cat_map *m = ps->m;
	struct cat_map_node nd;
	char q[QUOTE_MAX + 4];
	const char *colon, *why;
	size_t iplen;

	if (n < 3 || n > 4)
		return fail(ps, "node: expected 'node ID IP[:PORT] [MAC]'");
	memset(&nd, 0, sizeof(nd));
	if (parse_id(&t[1], &nd.id) != 0)
		return fail(ps, "node: bad id '%s' (1..65535)", quote(&t[1], q));
	for (uint16_t i = 0; i < m->n_nodes; i++)
		if (m->nodes[i].id == nd.id)
			return fail(ps, "node %u already defined on line %u",
				    nd.id, ps->node_line[i]);
	if (m->n_nodes >= CAT_MAP_NODES_MAX)
		return fail(ps, "too many nodes (at most %u)",
			    CAT_MAP_NODES_MAX);

	colon = memchr(t[2].p, ':', t[2].len);
	iplen = colon ? (size_t)(colon - t[2].p) : t[2].len;
	if (parse_ipv4(t[2].p, iplen, &nd.ip) != 0)
		return fail(ps, "node %u: bad IP address '%s'", nd.id,
			    quote(&t[2], q));
	if ((why = ip_unusable(nd.ip)) != NULL)
		return fail(ps, "node %u: bad IP address '%s' (%s)", nd.id,
			    quote(&t[2], q), why);
	nd.udp_port = CAT_WIRE_DEFAULT_PORT;
	if (colon != NULL) {
		uint32_t port;

		if (parse_u32(colon + 1, t[2].len - iplen - 1, &port) != 0 ||
		    port > 65535)
			return fail(ps, "node %u: bad port in '%s'", nd.id,
				    quote(&t[2], q));
		if (port == 0)
			return fail(ps, "node %u: port 0 (must be 1..65535)",
				    nd.id);
		nd.udp_port = (uint16_t)port;
	}
	if (n == 4) {
		if (parse_mac(&t[3], nd.mac) != 0)
			return fail(ps, "node %u: bad MAC address '%s'", nd.id,
				    quote(&t[3], q));
		/* A data port is unicast; a group bit means a typo. */
		if (nd.mac[0] & 1u)
			return fail(ps, "node %u: bad MAC address '%s' "
				    "(multicast)", nd.id, quote(&t[3], q));
	}
	/* Two nodes on one address would receive each other's traffic. */
	for (uint16_t i = 0; i < m->n_nodes; i++)
		if (m->nodes[i].ip == nd.ip &&
		    m->nodes[i].udp_port == nd.udp_port)
			return fail(ps, "node %u: address %u.%u.%u.%u:%u "
				    "already used by node %u", nd.id,
				    nd.ip >> 24, (nd.ip >> 16) & 0xffu,
				    (nd.ip >> 8) & 0xffu, nd.ip & 0xffu,
				    nd.udp_port, m->nodes[i].id);
	ps->node_line[m->n_nodes] = ps->line;
	m->nodes[m->n_nodes++] = nd;
	return 0;
}

static int do_chain(struct parser *ps, const struct tok *t, size_t n)
{
	struct cat_map *m = ps->m;
	struct cat_map_chain c;
	char q[QUOTE_MAX + 4];

	if (n < 2)
		return fail(ps, "chain: expected 'chain ID NODE...'");
	memset(&c, 0, sizeof(c));
	if (parse_id(&t[1], &c.id) != 0)
		return fail(ps, "chain: bad id '%s' (1..65535)",
			    quote(&t[1], q));
	for (uint16_t i = 0; i < m->n_chains; i++)
		if (m->chains[i].id == c.id)
			return fail(ps, "chain %u already defined on line %u",
				    c.id, ps->chain_line[i]);
	if (n == 2)
		return fail(ps, "chain %u: no nodes", c.id);
	if (n - 2 > CAT_MAP_CHAIN_LEN_MAX)
		return fail(ps, "chain %u: longer than %u nodes", c.id,
			    CAT_MAP_CHAIN_LEN_MAX);
	if (m->n_chains >= CAT_MAP_CHAINS_MAX)
		return fail(ps, "too many chains (at most %u)",
			    CAT_MAP_CHAINS_MAX);
	for (size_t k = 2; k < n; k++) {
		uint16_t id;

		if (parse_id(&t[k], &id) != 0)
			return fail(ps, "chain %u: bad node id '%s'", c.id,
				    quote(&t[k], q));
		for (uint8_t j = 0; j < c.len; j++)
			if (c.nodes[j] == id)
				return fail(ps, "chain %u: node %u appears "
					    "twice", c.id, id);
		c.nodes[c.len++] = id;
	}
	/* Whether the nodes exist is checked once every node line is read. */
	ps->chain_line[m->n_chains] = ps->line;
	m->chains[m->n_chains++] = c;
	return 0;
}

static int do_assign(struct parser *ps, const struct tok *t, size_t n)
{
	struct assign a;
	char q[QUOTE_MAX + 4];

	if (n != 3)
		return fail(ps, "assign: expected 'assign SLOT[-SLOT] CHAIN' "
			    "or 'assign all roundrobin'");
	memset(&a, 0, sizeof(a));
	a.line = ps->line;
	if (tok_is(&t[1], "all")) {
		if (!tok_is(&t[2], "roundrobin"))
			return fail(ps, "assign all: only 'roundrobin' may "
				    "follow 'all'");
		a.rr = 1;
	} else {
		const char *dash = memchr(t[1].p, '-', t[1].len);
		size_t l1 = dash ? (size_t)(dash - t[1].p) : t[1].len;

		if (parse_u32(t[1].p, l1, &a.lo) != 0 ||
		    (dash && parse_u32(dash + 1, t[1].len - l1 - 1, &a.hi) != 0))
			return fail(ps, "assign: bad slot or range '%s'",
				    quote(&t[1], q));
		if (!dash)
			a.hi = a.lo;
		if (a.hi < a.lo)
			return fail(ps, "assign: range %u-%u is backwards",
				    a.lo, a.hi);
		if (tok_is(&t[2], "roundrobin"))
			return fail(ps, "assign: 'roundrobin' only with "
				    "'all'");
		if (parse_id(&t[2], &a.chain_id) != 0)
			return fail(ps, "assign: bad chain id '%s'",
				    quote(&t[2], q));
	}
	if (ps->n_as == ps->cap_as) {
		size_t cap = ps->cap_as ? ps->cap_as * 2 : 64;
		struct assign *as = realloc(ps->as, cap * sizeof(*as));

		if (as == NULL)
			return -ENOMEM;
		ps->as = as;
		ps->cap_as = cap;
	}
	ps->as[ps->n_as++] = a;
	return 0;
}

static int do_join(struct parser *ps, const struct tok *t, size_t n)
{
	struct join j = { .line = ps->line };
	char q[QUOTE_MAX + 4];

	if (n != 3)
		return fail(ps, "join: expected 'join CHAIN NODE'");
	if (parse_id(&t[1], &j.chain_id) != 0)
		return fail(ps, "join: bad chain id '%s' (1..65535)",
			    quote(&t[1], q));
	if (parse_id(&t[2], &j.node_id) != 0)
		return fail(ps, "join: bad node id '%s' (1..65535)",
			    quote(&t[2], q));
	for (size_t i = 0; i < ps->n_joins; i++)
		if (ps->joins[i].chain_id == j.chain_id)
			return fail(ps, "join: chain %u already has a joining "
				    "node (line %u)", j.chain_id,
				    ps->joins[i].line);
	if (ps->n_joins >= CAT_MAP_CHAINS_MAX)
		return fail(ps, "too many join lines (at most %u)",
			    CAT_MAP_CHAINS_MAX);
	ps->joins[ps->n_joins++] = j;
	return 0;
}

static int do_move(struct parser *ps, const struct tok *t, size_t n)
{
	struct move mv = { .line = ps->line };
	char q[QUOTE_MAX + 4];

	if (n != 4)
		return fail(ps, "move: expected 'move CHAIN TO FROM'");
	for (size_t k = 1; k <= 3; k++) {
		uint16_t *dst = k == 1 ? &mv.chain_id : k == 2 ? &mv.to : &mv.from;

		if (parse_id(&t[k], dst) != 0)
			return fail(ps, "move: bad chain id '%s' (1..65535)",
				    quote(&t[k], q));
	}
	if (mv.chain_id == mv.to || mv.chain_id == mv.from || mv.to == mv.from)
		return fail(ps, "move: chains %u, %u and %u must differ",
			    mv.chain_id, mv.to, mv.from);
	for (size_t i = 0; i < ps->n_moves; i++)
		if (ps->moves[i].chain_id == mv.chain_id)
			return fail(ps, "move: chain %u already moves (line %u)",
				    mv.chain_id, ps->moves[i].line);
	if (ps->n_moves >= CAT_MAP_CHAINS_MAX)
		return fail(ps, "too many move lines (at most %u)",
			    CAT_MAP_CHAINS_MAX);
	ps->moves[ps->n_moves++] = mv;
	return 0;
}

static int is_blank(char c)
{
	/* CR counts as blank so that files with CRLF line ends parse. */
	return c == ' ' || c == '\t' || c == '\r';
}

/*
 * "workers ID N": node ID (declared above) runs N workers and takes the
 * requests of slot s on udp_port + 1 + s % N too, where its NIC steers
 * each to the owner's queue (docs/DEPLOY.md, "Steering"). The ports must
 * not reach 65535 nor another node's ports on the same address (nodes
 * declared above; the canonical text lists workers lines after every node).
 */
static int do_workers(struct parser *ps, const struct tok *t, size_t n)
{
	struct cat_map *m = ps->m;
	struct cat_map_node *nd = NULL;
	char q[QUOTE_MAX + 4];
	uint32_t w, lo, hi;
	uint16_t id;

	if (n != 3)
		return fail(ps, "workers: expected 'workers NODE-ID COUNT'");
	if (parse_id(&t[1], &id) != 0)
		return fail(ps, "workers: bad node id '%s' (1..65535)", quote(&t[1], q));
	for (uint16_t i = 0; i < m->n_nodes; i++)
		if (m->nodes[i].id == id)
			nd = &m->nodes[i];
	if (nd == NULL)
		return fail(ps, "workers: node %u is not declared above", id);
	if (nd->workers != 0)
		return fail(ps, "workers: node %u given twice", id);
	if (parse_u32(t[2].p, t[2].len, &w) != 0 || w < 2 || w > CAT_MAP_WORKERS_MAX)
		return fail(ps, "workers %u: bad count '%s' (2..%u; one worker "
			    "needs no line)", id, quote(&t[2], q), CAT_MAP_WORKERS_MAX);
	lo = nd->udp_port;
	hi = lo + w;
	if (hi > 65535u)
		return fail(ps, "workers %u %u: ports %u..%u pass 65535", id, w,
			    lo + 1, hi);
	for (uint16_t i = 0; i < m->n_nodes; i++) {
		const struct cat_map_node *o = &m->nodes[i];
		uint32_t olo = o->udp_port, ohi = olo + o->workers;

		if (o == nd || o->ip != nd->ip)
			continue;
		if (olo <= hi && lo <= ohi)
			return fail(ps, "workers %u %u: ports %u..%u overlap node "
				    "%u's %u..%u on the same address", id, w, lo, hi,
				    o->id, olo, ohi);
	}
	nd->workers = (uint16_t)w;
	return 0;
}

/* One line, comment and line end already cut off. */
static int parse_line(struct parser *ps, const char *p, size_t len)
{
	struct tok t[TOK_MAX];
	char q[QUOTE_MAX + 4];
	size_t n = 0, i = 0;

	while (i < len) {
		size_t start;

		while (i < len && is_blank(p[i]))
			i++;
		if (i == len)
			break;
		start = i;
		while (i < len && !is_blank(p[i]))
			i++;
		/* Words past TOK_MAX are counted, not kept: every directive
		 * checks n before it looks at a word. */
		if (n < TOK_MAX) {
			t[n].p = p + start;
			t[n].len = i - start;
		}
		n++;
	}
	if (n == 0)
		return 0;
	if (tok_is(&t[0], "workers"))
		return do_workers(ps, t, n);
	if (tok_is(&t[0], "epoch"))
		return do_epoch(ps, t, n);
	if (tok_is(&t[0], "slots"))
		return do_slots(ps, t, n);
	if (tok_is(&t[0], "craq"))
		return do_craq(ps, t, n);
	if (tok_is(&t[0], "node"))
		return do_node(ps, t, n);
	if (tok_is(&t[0], "chain"))
		return do_chain(ps, t, n);
	if (tok_is(&t[0], "assign"))
		return do_assign(ps, t, n);
	if (tok_is(&t[0], "join"))
		return do_join(ps, t, n);
	if (tok_is(&t[0], "move"))
		return do_move(ps, t, n);
	return fail(ps, "unknown directive '%s'", quote(&t[0], q));
}

static int node_index(const struct cat_map *m, uint16_t id)
{
	for (uint16_t i = 0; i < m->n_nodes; i++)
		if (m->nodes[i].id == id)
			return i;
	return -1;
}

static int chain_index(const struct cat_map *m, uint16_t id)
{
	for (uint16_t i = 0; i < m->n_chains; i++)
		if (m->chains[i].id == id)
			return i;
	return -1;
}

static int cmp_node(const void *a, const void *b)
{
	const struct cat_map_node *x = a, *y = b;

	return (int)x->id - (int)y->id;
}

/* Every chain member is a declared node. */
static int check_chain_members(struct parser *ps)
{
	const struct cat_map *m = ps->m;

	for (uint16_t i = 0; i < m->n_chains; i++)
		for (uint8_t k = 0; k < m->chains[i].len; k++)
			if (node_index(m, m->chains[i].nodes[k]) < 0)
				return fail_at(ps, ps->chain_line[i],
					       "chain %u: unknown node %u",
					       m->chains[i].id,
					       m->chains[i].nodes[k]);
	return 0;
}

/* join lines: a known node, not yet a member, into a chain with room. */
static int resolve_joins(struct parser *ps)
{
	struct cat_map *m = ps->m;

	for (size_t i = 0; i < ps->n_joins; i++) {
		const struct join *j = &ps->joins[i];
		int ci = chain_index(m, j->chain_id);
		struct cat_map_chain *c;

		if (ci < 0)
			return fail_at(ps, j->line, "join: unknown chain %u",
				       j->chain_id);
		c = &m->chains[ci];
		if (node_index(m, j->node_id) < 0)
			return fail_at(ps, j->line, "join: chain %u: unknown "
				       "node %u", c->id, j->node_id);
		if (cat_map_chain_pos(c, j->node_id) >= 0)
			return fail_at(ps, j->line, "join: node %u is already "
				       "a member of chain %u", j->node_id, c->id);
		if (c->len >= CAT_MAP_CHAIN_LEN_MAX)
			return fail_at(ps, j->line, "join: chain %u is full "
				       "(%u nodes)", c->id, CAT_MAP_CHAIN_LEN_MAX);
		c->joining = j->node_id;
	}
	return 0;
}

/* move lines: all three chains they name exist. */
static int resolve_moves(struct parser *ps)
{
	struct cat_map *m = ps->m;

	for (size_t i = 0; i < ps->n_moves; i++) {
		const struct move *mv = &ps->moves[i];
		int ci = chain_index(m, mv->chain_id);

		if (ci < 0 || chain_index(m, mv->to) < 0 ||
		    chain_index(m, mv->from) < 0)
			return fail_at(ps, mv->line, "move: unknown chain %u",
				       ci < 0 ? mv->chain_id :
				       chain_index(m, mv->to) < 0 ? mv->to :
				       mv->from);
		m->chains[ci].move_to = mv->to;
		m->chains[ci].move_from = mv->from;
	}
	return 0;
}

/* One assign line into the slot table; owner_line[s] remembers which line
 * took slot s, so that a second claim names the first. */
static int apply_assign(struct parser *ps, const struct assign *a,
			uint32_t *owner_line)
{
	struct cat_map *m = ps->m;
	uint32_t lo = a->lo, hi = a->hi;
	int ci = 0;

	if (a->rr) {
		if (m->n_chains == 0)
			return fail_at(ps, a->line, "assign all roundrobin: "
				       "no chains defined");
		lo = 0;
		hi = m->slot_count - 1;
	} else {
		if (hi >= m->slot_count)
			return fail_at(ps, a->line, "slot %u out of range "
				       "(slots %u: 0-%u)",
				       lo >= m->slot_count ? lo : hi,
				       m->slot_count, m->slot_count - 1);
		ci = chain_index(m, a->chain_id);
		if (ci < 0)
			return fail_at(ps, a->line, "assign: unknown chain %u",
				       a->chain_id);
	}
	for (uint32_t s = lo; s <= hi; s++) {
		if (owner_line[s] != 0)
			return fail_at(ps, a->line, "slot %u assigned twice "
				       "(first on line %u)", s, owner_line[s]);
		owner_line[s] = a->line;
		m->slot_chain[s] = (uint16_t)(a->rr ? s % m->n_chains :
					      (uint32_t)ci);
	}
	return 0;
}

/* The first run of slots no assign line took, if any, as the error. */
static int check_unassigned(struct parser *ps, const uint32_t *owner_line)
{
	uint32_t slot_count = ps->m->slot_count, gap_lo = 0;
	int have_gap = 0;

	for (uint32_t s = 0; s <= slot_count; s++) {
		int unset = s < slot_count && owner_line[s] == 0;

		if (unset && !have_gap) {
			gap_lo = s;
			have_gap = 1;
		} else if (!unset && have_gap) {
			if (s - 1 == gap_lo)
				return fail_at(ps, 0, "slot %u unassigned",
					       gap_lo);
			return fail_at(ps, 0, "slots %u-%u unassigned",
				       gap_lo, s - 1);
		}
	}
	return 0;
}

/* Everything that needs the whole text: epoch and slots present, chain
 * members exist, the slot table is filled exactly once. The order of the
 * checks (and so which error is reported first) is the one in
 * docs/CLUSTER_MAP.md, "Errors". */
static int resolve(struct parser *ps)
{
	struct cat_map *m = ps->m;
	uint32_t *owner_line = NULL;
	int rc;

	if (ps->epoch_line == 0)
		return fail_at(ps, 0, "missing 'epoch' line");
	if (ps->slots_line == 0)
		return fail_at(ps, 0, "missing 'slots' line");
	if ((rc = check_chain_members(ps)) != 0 ||
	    (rc = resolve_joins(ps)) != 0 || (rc = resolve_moves(ps)) != 0)
		return rc;

	m->slot_chain = calloc(m->slot_count, sizeof(*m->slot_chain));
	owner_line = calloc(m->slot_count, sizeof(*owner_line));
	if (m->slot_chain == NULL || owner_line == NULL) {
		free(owner_line);
		return -ENOMEM;
	}
	for (size_t k = 0; k < ps->n_as && rc == 0; k++)
		rc = apply_assign(ps, &ps->as[k], owner_line);
	if (rc == 0)
		rc = check_unassigned(ps, owner_line);
	/* Sorted nodes make the stored map independent of declaration order,
	 * which parse(format(m)) == m needs. */
	if (rc == 0)
		qsort(m->nodes, m->n_nodes, sizeof(m->nodes[0]), cmp_node);
	free(owner_line);
	return rc;
}

int cat_map_parse(const char *text, size_t len, struct cat_map **out,
		  char *err, size_t errlen)
{
	struct parser ps;
	size_t off = 0;
	int rc = 0;

	*out = NULL;
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (len > CAT_MAP_TEXT_MAX) {
		if (err != NULL && errlen > 0)
			snprintf(err, errlen, "map text is %zu bytes, over "
				 "the limit of %u", len, CAT_MAP_TEXT_MAX);
		return -E2BIG;
	}
	memset(&ps, 0, sizeof(ps));
	ps.err = err;
	ps.errlen = errlen;
	ps.m = calloc(1, sizeof(*ps.m));
	if (ps.m == NULL) {
		set_err(err, errlen, "out of memory");
		return -ENOMEM;
	}

	while (off < len && rc == 0) {
		const char *p = text + off;
		const char *nl = memchr(p, '\n', len - off);
		size_t ll = nl ? (size_t)(nl - p) : len - off;
		const char *hash;

		ps.line++;
		off += ll + (nl ? 1 : 0);
		if (ll > LINE_MAX_BYTES) {
			rc = fail(&ps, "longer than %u bytes", LINE_MAX_BYTES);
			break;
		}
		if (memchr(p, '\0', ll) != NULL) {
			rc = fail(&ps, "NUL byte");
			break;
		}
		hash = memchr(p, '#', ll);
		rc = parse_line(&ps, p, hash ? (size_t)(hash - p) : ll);
	}
	if (rc == 0)
		rc = resolve(&ps);
	free(ps.as);
	if (rc != 0) {
		if (rc == -ENOMEM)
			set_err(err, errlen, "out of memory");
		cat_map_free(ps.m);
		return rc;
	}
	*out = ps.m;
	return 0;
}

int cat_map_load(const char *path, struct cat_map **out, char *err,
		 size_t errlen)
{
	char *buf;
	size_t len = 0;
	int fd, rc;

	*out = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		if (err != NULL && errlen > 0)
			snprintf(err, errlen, "%s: %s", path, strerror(-rc));
		return rc;
	}
	/* One byte over the limit is enough to tell "too big" apart. */
	buf = malloc(CAT_MAP_TEXT_MAX + 1);
	if (buf == NULL) {
		close(fd);
		set_err(err, errlen, "out of memory");
		return -ENOMEM;
	}
	while (len < CAT_MAP_TEXT_MAX + 1) {
		ssize_t n = read(fd, buf + len, CAT_MAP_TEXT_MAX + 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			if (err != NULL && errlen > 0)
				snprintf(err, errlen, "%s: %s", path,
					 strerror(-rc));
			close(fd);
			free(buf);
			return rc;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	rc = cat_map_parse(buf, len, out, err, errlen);
	free(buf);
	return rc;
}

/* Appends to a bounded buffer, counting what would have been written so
 * that the caller learns the full length even when it does not fit. */
struct out {
	char *buf;
	size_t cap, len;
};

__attribute__((format(printf, 2, 3)))
static void put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(o->len < o->cap ? o->buf + o->len : NULL,
		      o->len < o->cap ? o->cap - o->len : 0, fmt, ap);
	va_end(ap);
	if (n > 0)
		o->len += (size_t)n;
}

/* The cheap structural checks that keep format inside its arrays for a
 * map built in code rather than parsed. */
static int map_shape_ok(const struct cat_map *m)
{
	if (m->n_nodes > CAT_MAP_NODES_MAX || m->n_chains > CAT_MAP_CHAINS_MAX ||
	    m->n_chains == 0 || !cat_hash_slot_count_valid(m->slot_count) ||
	    m->slot_chain == NULL)
		return 0;
	for (uint16_t i = 0; i < m->n_chains; i++)
		if (m->chains[i].len == 0 ||
		    m->chains[i].len > CAT_MAP_CHAIN_LEN_MAX)
			return 0;
	for (uint32_t s = 0; s < m->slot_count; s++)
		if (m->slot_chain[s] >= m->n_chains)
			return 0;
	return 1;
}

/* The workers lines, last, in node id order: every node is declared by
 * then, so a parser checks them against all of them. */
static void put_workers(struct out *o, const struct cat_map_node *sorted,
			uint16_t n)
{
	for (uint16_t i = 0; i < n; i++)
		if (sorted[i].workers != 0)
			put(o, "workers %u %u\n", sorted[i].id, sorted[i].workers);
}

int cat_map_format(const struct cat_map *m, char *buf, size_t cap)
{
	struct out o = { .buf = buf, .cap = cap, .len = 0 };
	struct cat_map_node sorted[CAT_MAP_NODES_MAX];
	int rr;

	if (!map_shape_ok(m))
		return -EINVAL;
	put(&o, "epoch %u\nslots %u\ncraq %s\n", m->epoch, m->slot_count,
	    m->craq ? "on" : "off");

	memcpy(sorted, m->nodes, m->n_nodes * sizeof(sorted[0]));
	qsort(sorted, m->n_nodes, sizeof(sorted[0]), cmp_node);
	for (uint16_t i = 0; i < m->n_nodes; i++) {
		const struct cat_map_node *nd = &sorted[i];

		put(&o, "node %u %u.%u.%u.%u", nd->id, nd->ip >> 24,
		    (nd->ip >> 16) & 0xffu, (nd->ip >> 8) & 0xffu,
		    nd->ip & 0xffu);
		if (nd->udp_port != CAT_WIRE_DEFAULT_PORT)
			put(&o, ":%u", nd->udp_port);
		if (!mac_is_zero(nd->mac))
			put(&o, " %02x:%02x:%02x:%02x:%02x:%02x", nd->mac[0],
			    nd->mac[1], nd->mac[2], nd->mac[3], nd->mac[4],
			    nd->mac[5]);
		put(&o, "\n");
	}
	for (uint16_t i = 0; i < m->n_chains; i++) {
		put(&o, "chain %u", m->chains[i].id);
		for (uint8_t k = 0; k < m->chains[i].len; k++)
			put(&o, " %u", m->chains[i].nodes[k]);
		put(&o, "\n");
	}
	for (uint16_t i = 0; i < m->n_chains; i++)
		if (m->chains[i].joining != 0)
			put(&o, "join %u %u\n", m->chains[i].id,
			    m->chains[i].joining);
	for (uint16_t i = 0; i < m->n_chains; i++)
		if (m->chains[i].move_to != 0)
			put(&o, "move %u %u %u\n", m->chains[i].id,
			    m->chains[i].move_to, m->chains[i].move_from);

	/* Round robin over several chains would be one line per slot as
	 * ranges (65536 lines at most, far over the text limit), so it keeps
	 * its own one-line form. */
	rr = m->n_chains > 1;
	for (uint32_t s = 0; s < m->slot_count && rr; s++)
		rr = m->slot_chain[s] == s % m->n_chains;
	if (rr) {
		put(&o, "assign all roundrobin\n");
	} else {
		uint32_t lo = 0;

		for (uint32_t s = 1; s <= m->slot_count; s++) {
			if (s < m->slot_count &&
			    m->slot_chain[s] == m->slot_chain[lo])
				continue;
			if (s - 1 == lo)
				put(&o, "assign %u %u\n", lo,
				    m->chains[m->slot_chain[lo]].id);
			else
				put(&o, "assign %u-%u %u\n", lo, s - 1,
				    m->chains[m->slot_chain[lo]].id);
			lo = s;
		}
	}
	put_workers(&o, sorted, m->n_nodes);
	if (o.len >= cap || o.len > INT32_MAX) {
		if (cap > 0)
			buf[0] = '\0';
		return -ENOSPC;
	}
	return (int)o.len;
}

void cat_map_free(struct cat_map *m)
{
	if (m == NULL)
		return;
	free(m->slot_chain);
	free(m);
}

struct cat_map *cat_map_dup(const struct cat_map *m)
{
	struct cat_map *d = malloc(sizeof(*d));

	if (d == NULL)
		return NULL;
	memcpy(d, m, sizeof(*d));
	d->slot_chain = NULL;
	if (m->slot_chain != NULL) {
		d->slot_chain = malloc(m->slot_count * sizeof(*d->slot_chain));
		if (d->slot_chain == NULL) {
			free(d);
			return NULL;
		}
		memcpy(d->slot_chain, m->slot_chain,
		       m->slot_count * sizeof(*d->slot_chain));
	}
	return d;
}

const struct cat_map_node *cat_map_node_by_id(const struct cat_map *m,
					      uint16_t id)
{
	/* A linear scan: at most 64 nodes, and it does not rely on the nodes
	 * being sorted, which a map built in code may not be. */
	int i = node_index(m, id);

	return i < 0 ? NULL : &m->nodes[i];
}

int cat_map_can_join(const struct cat_map *m, const struct cat_map_chain *c,
		     uint16_t node_id)
{
	if (node_index(m, node_id) < 0 || cat_map_chain_pos(c, node_id) >= 0 ||
	    c->joining != 0 || c->len >= CAT_MAP_CHAIN_LEN_MAX)
		return -EINVAL;
	return 0;
}

int cat_map_chain_pos(const struct cat_map_chain *c, uint16_t node_id)
{
	for (uint8_t k = 0; k < c->len && k < CAT_MAP_CHAIN_LEN_MAX; k++)
		if (c->nodes[k] == node_id)
			return k;
	return -1;
}
