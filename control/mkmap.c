/*
 * The first cluster map from a node list. Every field is checked by the
 * planner's node parser, which is the map parser itself, so a node list
 * obeys exactly the rules of a map file; what a single node line cannot see
 * (ids or addresses given twice, a replication factor the list cannot fill)
 * is checked here, with messages that name the entries.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/err.h"
#include "control/mkmap.h"
#include "control/planner.h"

#define SEPS " \t\r,"

/* A map-rule number (digits, no leading zero) in 1..max, or -1. */
static long parse_num(const char *s, long max)
{
	long v = 0;

	if (s[0] == '\0' || (s[0] == '0' && s[1] != '\0'))
		return -1;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		v = v * 10 + (*p - '0');
		if (v > max)
			return -1;
	}
	return v;
}

int cat_mkmap_parse_node(const char *spec, struct cat_map_node *nd,
			 char *err, size_t errlen)
{
	char buf[256], why[200], *save = NULL, *tok[4], *colon;
	long id, port = 0;
	int nt = 0, rc;

	if (spec == NULL || strlen(spec) >= sizeof(buf)) {
		cat_ctl_errf(err, errlen, "node entry too long");
		return -EINVAL;
	}
	strcpy(buf, spec);
	for (char *t = strtok_r(buf, SEPS, &save); t != NULL;
	     t = strtok_r(NULL, SEPS, &save)) {
		if (nt == 3) {
			cat_ctl_errf(err, errlen, "'%s': expected 'ID IP[:PORT] [MAC]'",
				     spec);
			return -EINVAL;
		}
		tok[nt++] = t;
	}
	if (nt < 2) {
		cat_ctl_errf(err, errlen, "'%s': expected 'ID IP[:PORT] [MAC]'", spec);
		return -EINVAL;
	}
	id = parse_num(tok[0], 65535);
	if (id < 1) {
		cat_ctl_errf(err, errlen, "'%s': bad node id '%s' (must be 1..65535)",
			     spec, tok[0]);
		return -EINVAL;
	}
	colon = strchr(tok[1], ':');
	if (colon != NULL) {
		*colon = '\0';
		port = parse_num(colon + 1, 65535);
		if (port < 1) {
			cat_ctl_errf(err, errlen, "node %ld: bad port '%s' (must be 1..65535)",
				     id, colon + 1);
			return -EINVAL;
		}
	}
	rc = cat_ctl_plan_node((uint16_t)id, tok[1], (uint32_t)port,
			       nt == 3 ? tok[2] : NULL, nd, why, sizeof(why));
	if (rc == -EINVAL) {
		/* The parser's reasons name the node; the planner's own checks
		 * ("bad MAC address") do not. */
		if (strncmp(why, "node ", 5) == 0)
			cat_ctl_errf(err, errlen, "%s", why);
		else
			cat_ctl_errf(err, errlen, "node %ld: %s '%s'", id, why,
				     nt == 3 && strstr(why, "MAC") ? tok[2] : tok[1]);
	}
	return rc;
}

int cat_mkmap_parse_list(const char *text, struct cat_map_node *nodes,
			 unsigned int *n, unsigned int cap, char *err,
			 size_t errlen)
{
	char line[256], why[200];
	unsigned int lineno = 0;
	const char *p = text;

	while (*p != '\0') {
		const char *eol = strchr(p, '\n');
		size_t len = eol != NULL ? (size_t)(eol - p) : strlen(p);
		char *hash;

		lineno++;
		if (len >= sizeof(line)) {
			cat_ctl_errf(err, errlen, "line %u: too long", lineno);
			return -EINVAL;
		}
		memcpy(line, p, len);
		line[len] = '\0';
		p += len + (eol != NULL);
		hash = strchr(line, '#');
		if (hash != NULL)
			*hash = '\0';
		if (line[strspn(line, SEPS)] == '\0')
			continue;
		if (*n >= cap) {
			cat_ctl_errf(err, errlen, "line %u: more than %u nodes",
				     lineno, cap);
			return -ENOSPC;
		}
		if (cat_mkmap_parse_node(line, &nodes[*n], why, sizeof(why)) < 0) {
			cat_ctl_errf(err, errlen, "line %u: %s", lineno, why);
			return -EINVAL;
		}
		(*n)++;
	}
	return 0;
}

static void fmt_addr(const struct cat_map_node *nd, char *buf, size_t cap)
{
	snprintf(buf, cap, "%u.%u.%u.%u:%u", nd->ip >> 24, (nd->ip >> 16) & 0xffu,
		 (nd->ip >> 8) & 0xffu, nd->ip & 0xffu, nd->udp_port);
}

static int check_nodes(const struct cat_map_node *nodes, unsigned int n,
		       const struct cat_mkmap_opts *o, char *err, size_t errlen)
{
	char addr[32];

	if (n == 0) {
		cat_ctl_errf(err, errlen, "no nodes");
		return -EINVAL;
	}
	if (n > CAT_MAP_NODES_MAX) {
		cat_ctl_errf(err, errlen, "%u nodes: a map holds at most %u",
			     n, CAT_MAP_NODES_MAX);
		return -EINVAL;
	}
	for (unsigned int i = 0; i < n; i++)
		for (unsigned int j = 0; j < i; j++) {
			if (nodes[i].id == nodes[j].id) {
				cat_ctl_errf(err, errlen,
					"node %u given twice (entries %u and %u)",
					nodes[i].id, j + 1, i + 1);
				return -EINVAL;
			}
			if (nodes[i].ip == nodes[j].ip &&
			    nodes[i].udp_port == nodes[j].udp_port) {
				fmt_addr(&nodes[i], addr, sizeof(addr));
				cat_ctl_errf(err, errlen,
					"nodes %u and %u have the same address %s",
					nodes[j].id, nodes[i].id, addr);
				return -EINVAL;
			}
		}
	if (o->rf < 1 || o->rf > CAT_MAP_CHAIN_LEN_MAX) {
		cat_ctl_errf(err, errlen,
			"replication factor %u: must be 1..%u", o->rf,
			CAT_MAP_CHAIN_LEN_MAX);
		return -EINVAL;
	}
	if (o->rf > n) {
		cat_ctl_errf(err, errlen,
			"replication factor %u is larger than the %u node%s given",
			o->rf, n, n == 1 ? "" : "s");
		return -EINVAL;
	}
	if (o->epoch < 1) {
		cat_ctl_errf(err, errlen, "epoch 0: must be 1..4294967295");
		return -EINVAL;
	}
	if (o->slots < 1 || o->slots > 65536 || (o->slots & (o->slots - 1)) != 0) {
		cat_ctl_errf(err, errlen,
			"slots %u: not a power of two in 1..65536", o->slots);
		return -EINVAL;
	}
	return 0;
}

int cat_mkmap_build(const struct cat_map_node *nodes, unsigned int n,
		    const struct cat_mkmap_opts *o, struct cat_map **out,
		    char *err, size_t errlen)
{
	struct cat_map *m;
	char *text;
	int rc, len;

	*out = NULL;
	rc = check_nodes(nodes, n, o, err, errlen);
	if (rc < 0)
		return rc;
	m = calloc(1, sizeof(*m));
	if (m == NULL)
		return -ENOMEM;
	m->slot_chain = malloc(o->slots * sizeof(*m->slot_chain));
	text = malloc(CAT_MAP_TEXT_MAX + 1);
	rc = -ENOMEM;
	if (m->slot_chain == NULL || text == NULL)
		goto out;
	m->epoch = o->epoch;
	m->slot_count = o->slots;
	m->craq = o->craq;
	m->n_nodes = (uint16_t)n;
	memcpy(m->nodes, nodes, n * sizeof(nodes[0]));
	/* Chain i starts at the i-th node, so each node heads one chain, and
	 * with rf = n is at every position of some chain exactly once: writes
	 * (heads) and tail reads spread evenly, as in cluster-3chains.map. */
	m->n_chains = (uint16_t)n;
	for (unsigned int i = 0; i < n; i++) {
		struct cat_map_chain *c = &m->chains[i];

		c->id = (uint16_t)(i + 1);
		c->len = (uint8_t)o->rf;
		for (unsigned int k = 0; k < o->rf; k++)
			c->nodes[k] = nodes[(i + k) % n].id;
	}
	for (uint32_t s = 0; s < o->slots; s++)
		m->slot_chain[s] = (uint16_t)(s % n);
	rc = cat_ctl_plan_validate(NULL, m, err, errlen);
	if (rc < 0)
		goto out;
	len = cat_map_format(m, text, CAT_MAP_TEXT_MAX + 1);
	if (len < 0) {
		cat_ctl_errf(err, errlen, "map text does not fit in %u bytes",
			     CAT_MAP_TEXT_MAX);
		rc = -EINVAL;
		goto out;
	}
	rc = cat_map_parse(text, (size_t)len, out, err, errlen);
out:
	free(text);
	cat_map_free(m);
	return rc;
}

static int parse_mac(const char *s, uint8_t mac[6])
{
	unsigned int b[6];
	char tail;

	if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3],
		   &b[4], &b[5], &tail) != 6)
		return -1;
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)b[i];
	return 0;
}

int cat_mkmap_arp_lookup(const char *text, uint32_t ip, uint8_t mac[6])
{
	const char *p = strchr(text, '\n');	/* past the header line */
	int found = 0;

	while (p != NULL && *p != '\0') {
		char a[64], hw[64], fl[64], addr[64];
		unsigned int q[4];
		unsigned long flags;
		uint8_t m[6];

		p++;
		if (sscanf(p, "%63s %63s %63s %63s", a, hw, fl, addr) == 4 &&
		    sscanf(a, "%u.%u.%u.%u", &q[0], &q[1], &q[2], &q[3]) == 4 &&
		    ((q[0] << 24) | (q[1] << 16) | (q[2] << 8) | q[3]) == ip) {
			flags = strtoul(fl, NULL, 0);
			if ((flags & 0x2) && parse_mac(addr, m) == 0 &&
			    (m[0] | m[1] | m[2] | m[3] | m[4] | m[5]) != 0) {
				if (found && memcmp(m, mac, 6) != 0)
					return -EEXIST;
				memcpy(mac, m, 6);
				found = 1;
			}
		}
		p = strchr(p, '\n');
	}
	return found ? 0 : -ENOENT;
}
