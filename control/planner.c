/*
 * catena-control planner: map changes as pure functions. Every result goes
 * through cat_map_format and cat_map_parse before it is returned, so the
 * control plane only ever publishes a map the reference parser accepts, in
 * canonical form. Never does I/O, never reads the clock, never prints.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/err.h"
#include "control/planner.h"

/* Format then parse: the edited map becomes a parsed (canonical) one, or
 * the parser's complaint explains why the edit is not a valid map. */
static int reparse(const struct cat_map *m, struct cat_map **out, char *err,
		   size_t errlen)
{
	char *buf = malloc(CAT_MAP_TEXT_MAX + 1);
	char perr[256];
	int n, rc;

	*out = NULL;
	if (buf == NULL)
		return -ENOMEM;
	n = cat_map_format(m, buf, CAT_MAP_TEXT_MAX + 1);
	if (n < 0) {
		cat_ctl_errf(err, errlen, "map cannot be formatted (%s)",
			n == -ENOSPC ? "text too long" : "broken map");
		free(buf);
		return -EINVAL;
	}
	if ((unsigned int)n > CAT_CTL_MAP_TEXT_MAX) {
		cat_ctl_errf(err, errlen, "map text is %d bytes, over %u", n,
			CAT_CTL_MAP_TEXT_MAX);
		free(buf);
		return -EINVAL;
	}
	rc = cat_map_parse(buf, (size_t)n, out, perr, sizeof(perr));
	free(buf);
	if (rc == -ENOMEM)
		return rc;
	if (rc < 0) {
		cat_ctl_errf(err, errlen, "map does not parse: %s", perr);
		return -EINVAL;
	}
	return 0;
}

static int node_index(const struct cat_map *m, uint16_t id)
{
	const struct cat_map_node *n = cat_map_node_by_id(m, id);

	return n != NULL ? (int)(n - m->nodes) : -1;
}

static int next_epoch(const struct cat_map *m, struct cat_map **dup)
{
	if (m->epoch == UINT32_MAX)
		return -EOVERFLOW;
	*dup = cat_map_dup(m);
	if (*dup == NULL)
		return -ENOMEM;
	(*dup)->epoch = m->epoch + 1;
	return 0;
}

static int finish(struct cat_map *edit, struct cat_map **out, char *err,
		  size_t errlen)
{
	int rc = reparse(edit, out, err, errlen);

	cat_map_free(edit);
	return rc;
}

int cat_ctl_plan_remove(const struct cat_map *m, uint16_t node,
			struct cat_map **out, struct cat_ctl_removal *r,
			char *err, size_t errlen)
{
	struct cat_map *d;
	int rc;

	*out = NULL;
	memset(r, 0, sizeof(*r));
	if (node_index(m, node) < 0)
		return -ENOENT;
	for (uint16_t i = 0; i < m->n_chains; i++) {
		const struct cat_map_chain *c = &m->chains[i];

		if (c->joining == node) {
			r->left[r->n_left++] = c->id; /* its join is off */
			continue;
		}
		if (cat_map_chain_pos(c, node) < 0)
			continue;
		if (c->len == 1)
			r->kept[r->n_kept++] = c->id;
		else
			r->left[r->n_left++] = c->id;
	}
	if (r->n_left == 0)
		return 0;
	rc = next_epoch(m, &d);
	if (rc < 0)
		return rc;
	for (uint16_t i = 0; i < d->n_chains; i++) {
		struct cat_map_chain *c = &d->chains[i];
		uint8_t k = 0;

		if (c->joining == node)
			c->joining = 0;
		if (c->len == 1)
			continue;
		for (uint8_t j = 0; j < c->len; j++)
			if (c->nodes[j] != node)
				c->nodes[k++] = c->nodes[j];
		for (uint8_t j = k; j < c->len; j++)
			c->nodes[j] = 0;
		c->len = k;
	}
	return finish(d, out, err, errlen);
}

uint32_t cat_ctl_plan_slots_on(const struct cat_map *m, int ci)
{
	uint32_t n = 0;

	for (uint32_t s = 0; s < m->slot_count; s++)
		n += m->slot_chain[s] == ci;
	return n;
}

int cat_ctl_plan_chain_index(const struct cat_map *m, uint16_t chain)
{
	for (uint16_t i = 0; i < m->n_chains; i++)
		if (m->chains[i].id == chain)
			return i;
	return -1;
}

int cat_ctl_plan_join(const struct cat_map *m, uint16_t chain, uint16_t node,
		      struct cat_map **out, char *err, size_t errlen)
{
	int ci = cat_ctl_plan_chain_index(m, chain), rc;
	const struct cat_map_chain *c;
	struct cat_map *d;

	*out = NULL;
	if (ci < 0) {
		cat_ctl_errf(err, errlen, "no chain %u", chain);
		return -ENOENT;
	}
	c = &m->chains[ci];
	if (node_index(m, node) < 0) {
		cat_ctl_errf(err, errlen, "no node %u", node);
		return -ENOENT;
	}
	if (cat_map_chain_pos(c, node) >= 0) {
		cat_ctl_errf(err, errlen, "node %u is already in chain %u", node, chain);
		return -EEXIST;
	}
	if (cat_map_can_join(m, c, node) < 0) {
		cat_ctl_errf(err, errlen, c->joining != 0 ?
			"chain %u already has a joining node (%u)" :
			"chain %u is full", chain, c->joining);
		return -EBUSY;
	}
	rc = next_epoch(m, &d);
	if (rc < 0)
		return rc;
	d->chains[ci].joining = node;
	return finish(d, out, err, errlen);
}

int cat_ctl_plan_handover(const struct cat_map *m, uint16_t chain,
			  struct cat_map **out, char *err, size_t errlen)
{
	int ci = cat_ctl_plan_chain_index(m, chain), rc;
	struct cat_map_chain *c;
	struct cat_map *d;

	*out = NULL;
	if (ci < 0 || m->chains[ci].joining == 0) {
		cat_ctl_errf(err, errlen, "chain %u has no joining node", chain);
		return -ENOENT;
	}
	rc = next_epoch(m, &d);
	if (rc < 0)
		return rc;
	c = &d->chains[ci];
	c->nodes[c->len++] = c->joining;
	c->joining = 0;
	return finish(d, out, err, errlen);
}

int cat_ctl_plan_forget(const struct cat_map *m, uint16_t node,
			struct cat_map **out, char *err, size_t errlen)
{
	struct cat_map *d;
	int i = node_index(m, node), rc;

	*out = NULL;
	if (i < 0)
		return -ENOENT;
	for (uint16_t c = 0; c < m->n_chains; c++)
		if (cat_map_chain_pos(&m->chains[c], node) >= 0 ||
		    m->chains[c].joining == node) {
			cat_ctl_errf(err, errlen, "node %u is in chain %u", node,
				m->chains[c].id);
			return -EBUSY;
		}
	rc = next_epoch(m, &d);
	if (rc < 0)
		return rc;
	memmove(&d->nodes[i], &d->nodes[i + 1],
		(size_t)(d->n_nodes - i - 1) * sizeof(d->nodes[0]));
	d->n_nodes--;
	memset(&d->nodes[d->n_nodes], 0, sizeof(d->nodes[0]));
	return finish(d, out, err, errlen);
}

int cat_ctl_plan_add(const struct cat_map *m, const struct cat_map_node *nd,
		     struct cat_map **out, char *err, size_t errlen)
{
	struct cat_map *d;
	uint16_t at = 0;
	int rc;

	*out = NULL;
	if (node_index(m, nd->id) >= 0) {
		cat_ctl_errf(err, errlen, "node %u already exists", nd->id);
		return -EEXIST;
	}
	if (m->n_nodes >= CAT_MAP_NODES_MAX) {
		cat_ctl_errf(err, errlen, "map has %u nodes, the most it can hold",
			CAT_MAP_NODES_MAX);
		return -ENOSPC;
	}
	rc = next_epoch(m, &d);
	if (rc < 0)
		return rc;
	/* Keep the node list sorted by id, as the parser stores it. */
	while (at < d->n_nodes && d->nodes[at].id < nd->id)
		at++;
	memmove(&d->nodes[at + 1], &d->nodes[at],
		(size_t)(d->n_nodes - at) * sizeof(d->nodes[0]));
	d->nodes[at] = *nd;
	d->n_nodes++;
	return finish(d, out, err, errlen);
}

static int only_chars(const char *s, const char *set, size_t max)
{
	size_t n = strlen(s);

	return n > 0 && n <= max && strspn(s, set) == n;
}

int cat_ctl_plan_node(uint16_t id, const char *ip, uint32_t port,
		      const char *mac, struct cat_map_node *nd, char *err,
		      size_t errlen)
{
	char text[160], perr[256];
	struct cat_map *m;
	const char *why;
	int rc;

	/* The node is checked by the map parser itself (a one-node map), so
	 * operator input obeys exactly the rules of a map file. The character
	 * sets keep the strings from smuggling in another token or line. */
	if (id == 0) {
		cat_ctl_errf(err, errlen, "node id 0: must be 1..65535");
		return -EINVAL;
	}
	if (ip == NULL || !only_chars(ip, "0123456789.", 15)) {
		cat_ctl_errf(err, errlen, "bad IP address");
		return -EINVAL;
	}
	if (port > 65535) {
		cat_ctl_errf(err, errlen, "bad port %u (must be 1..65535)", port);
		return -EINVAL;
	}
	if (mac != NULL && mac[0] != '\0' &&
	    !only_chars(mac, "0123456789abcdefABCDEF:", 17)) {
		cat_ctl_errf(err, errlen, "bad MAC address");
		return -EINVAL;
	}
	snprintf(text, sizeof(text),
		 "epoch 1\nslots 1\nnode %u %s:%u %s\nchain 1 %u\nassign 0 1\n",
		 id, ip, port == 0 ? 7470u : port, mac != NULL ? mac : "", id);
	rc = cat_map_parse(text, strlen(text), &m, perr, sizeof(perr));
	if (rc == -ENOMEM)
		return rc;
	if (rc < 0) {
		/* "line 3: node 4: bad IP ..." -> "node 4: bad IP ..." */
		why = strstr(perr, ": ");
		cat_ctl_errf(err, errlen, "%s", why != NULL ? why + 2 : perr);
		return -EINVAL;
	}
	*nd = m->nodes[0];
	cat_map_free(m);
	return 0;
}

int cat_ctl_plan_validate(const struct cat_map *cur,
			  const struct cat_map *next, char *err,
			  size_t errlen)
{
	char *a, *b;
	struct cat_map *p;
	int na, nb, rc;

	if (cur != NULL && (cur->epoch == UINT32_MAX ||
			    next->epoch != cur->epoch + 1)) {
		cat_ctl_errf(err, errlen, "epoch %u does not follow epoch %u",
			next->epoch, cur->epoch);
		return -EINVAL;
	}
	rc = reparse(next, &p, err, errlen);
	if (rc < 0)
		return rc;
	a = malloc(CAT_MAP_TEXT_MAX + 1);
	b = malloc(CAT_MAP_TEXT_MAX + 1);
	rc = -ENOMEM;
	if (a != NULL && b != NULL) {
		na = cat_map_format(next, a, CAT_MAP_TEXT_MAX + 1);
		nb = cat_map_format(p, b, CAT_MAP_TEXT_MAX + 1);
		rc = 0;
		if (na != nb || na < 0 || memcmp(a, b, (size_t)na) != 0) {
			cat_ctl_errf(err, errlen,
				"map changes when parsed back from its text");
			rc = -EINVAL;
		}
	}
	free(a);
	free(b);
	cat_map_free(p);
	return rc;
}

struct sbuf {
	char *buf;
	size_t cap, len;
	int items;
};

static void sb_put(struct sbuf *s, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(s->len < s->cap ? s->buf + s->len : NULL,
		      s->len < s->cap ? s->cap - s->len : 0, fmt, ap);
	va_end(ap);
	if (n > 0)
		s->len += (size_t)n;
}

static void sb_item(struct sbuf *s)
{
	if (s->items++ > 0)
		sb_put(s, "; ");
}

static const struct cat_map_chain *chain_by_id(const struct cat_map *m,
					       uint16_t id)
{
	for (uint16_t i = 0; i < m->n_chains; i++)
		if (m->chains[i].id == id)
			return &m->chains[i];
	return NULL;
}

static void sb_members(struct sbuf *s, const struct cat_map_chain *c)
{
	for (uint8_t k = 0; k < c->len; k++)
		sb_put(s, k ? " %u" : "%u", c->nodes[k]);
}

int cat_ctl_plan_describe(const struct cat_map *a, const struct cat_map *b,
			  char *buf, size_t cap)
{
	struct sbuf s = { .buf = buf, .cap = cap };
	uint32_t moved = 0;

	if (cap > 0)
		buf[0] = '\0';
	for (uint16_t i = 0; i < a->n_nodes; i++)
		if (cat_map_node_by_id(b, a->nodes[i].id) == NULL) {
			sb_item(&s);
			sb_put(&s, "node %u removed", a->nodes[i].id);
		}
	for (uint16_t i = 0; i < b->n_nodes; i++) {
		const struct cat_map_node *n = &b->nodes[i];
		const struct cat_map_node *o = cat_map_node_by_id(a, n->id);

		if (o == NULL) {
			sb_item(&s);
			sb_put(&s, "node %u added (%u.%u.%u.%u:%u)", n->id,
			       n->ip >> 24, (n->ip >> 16) & 0xffu,
			       (n->ip >> 8) & 0xffu, n->ip & 0xffu,
			       n->udp_port);
		} else if (o->ip != n->ip || o->udp_port != n->udp_port ||
			   memcmp(o->mac, n->mac, 6) != 0) {
			sb_item(&s);
			sb_put(&s, "node %u address changed", n->id);
		}
	}
	for (uint16_t i = 0; i < a->n_chains; i++) {
		const struct cat_map_chain *o = &a->chains[i];
		const struct cat_map_chain *n = chain_by_id(b, o->id);

		if (n != NULL && n->joining != o->joining && n->joining != 0) {
			sb_item(&s);
			sb_put(&s, "chain %u: node %u joining", o->id, n->joining);
		} else if (n != NULL && n->joining != o->joining &&
			   cat_map_chain_pos(n, o->joining) < 0) {
			sb_item(&s);
			sb_put(&s, "chain %u: node %u no longer joining", o->id,
			       o->joining);
		}
		if (n != NULL && n->len == o->len &&
		    memcmp(n->nodes, o->nodes, o->len * sizeof(o->nodes[0])) == 0)
			continue;
		sb_item(&s);
		sb_put(&s, "chain %u: ", o->id);
		sb_members(&s, o);
		sb_put(&s, " -> ");
		if (n != NULL)
			sb_members(&s, n);
		else
			sb_put(&s, "(removed)");
	}
	for (uint16_t i = 0; i < b->n_chains; i++)
		if (chain_by_id(a, b->chains[i].id) == NULL) {
			sb_item(&s);
			sb_put(&s, "chain %u added: ", b->chains[i].id);
			sb_members(&s, &b->chains[i]);
		}
	if (a->slot_count != b->slot_count) {
		sb_item(&s);
		sb_put(&s, "slots %u -> %u", a->slot_count, b->slot_count);
	} else {
		for (uint32_t sl = 0; sl < a->slot_count; sl++)
			if (cat_map_slot_chain(a, sl)->id !=
			    cat_map_slot_chain(b, sl)->id)
				moved++;
		if (moved > 0) {
			sb_item(&s);
			sb_put(&s, "%u slots moved", moved);
		}
	}
	if (a->craq != b->craq) {
		sb_item(&s);
		sb_put(&s, "craq %s", b->craq ? "on" : "off");
	}
	if (s.items == 0)
		sb_put(&s, "no change");
	return (int)s.len;
}

/* ---- slot moves (live resharding) -------------------------------------- */

int cat_ctl_plan_chain_add(const struct cat_map *m, uint16_t chain,
			   const uint16_t *nodes, unsigned int n,
			   struct cat_map **out, char *err, size_t errlen)
{
	struct cat_map *d;
	struct cat_map_chain *c;
	int rc;

	*out = NULL;
	if (chain == 0 || cat_ctl_plan_chain_index(m, chain) >= 0) {
		cat_ctl_errf(err, errlen, "chain %u already exists", chain);
		return -EEXIST;
	}
	if (n == 0 || n > CAT_MAP_CHAIN_LEN_MAX) {
		cat_ctl_errf(err, errlen, "a chain has 1..%u nodes", CAT_MAP_CHAIN_LEN_MAX);
		return -EINVAL;
	}
	if (m->n_chains >= CAT_MAP_CHAINS_MAX) {
		cat_ctl_errf(err, errlen, "too many chains (at most %u)", CAT_MAP_CHAINS_MAX);
		return -ENOSPC;
	}
	for (unsigned int i = 0; i < n; i++) {
		if (node_index(m, nodes[i]) < 0) {
			cat_ctl_errf(err, errlen, "no node %u", nodes[i]);
			return -ENOENT;
		}
		for (unsigned int j = 0; j < i; j++)
			if (nodes[j] == nodes[i]) {
				cat_ctl_errf(err, errlen, "node %u twice", nodes[i]);
				return -EINVAL;
			}
	}
	rc = next_epoch(m, &d);
	if (rc < 0)
		return rc;
	c = &d->chains[d->n_chains++];
	memset(c, 0, sizeof(*c));
	c->id = chain;
	c->len = (uint8_t)n;
	memcpy(c->nodes, nodes, n * sizeof(nodes[0]));
	return finish(d, out, err, errlen);
}

int cat_ctl_plan_move_start(const struct cat_map *m, const uint8_t *slots,
			    uint16_t to, uint16_t via, struct cat_map **out,
			    char *err, size_t errlen)
{
	int ti = cat_ctl_plan_chain_index(m, to), from_ci = -1, rc;
	uint32_t count = 0;
	struct cat_map *d;
	struct cat_map_chain *c;

	*out = NULL;
	if (ti < 0) {
		cat_ctl_errf(err, errlen, "no chain %u", to);
		return -ENOENT;
	}
	if (m->chains[ti].move_to != 0) {
		cat_ctl_errf(err, errlen, "chain %u is a move's transitional chain", to);
		return -EINVAL;
	}
	if (cat_ctl_plan_chain_index(m, via) >= 0) {
		cat_ctl_errf(err, errlen, "chain id %u is taken", via);
		return -EEXIST;
	}
	for (uint32_t s = 0; s < m->slot_count; s++) {
		if (!slots[s])
			continue;
		count++;
		if (from_ci < 0)
			from_ci = m->slot_chain[s];
		if (m->slot_chain[s] != from_ci) {
			cat_ctl_errf(err, errlen, "slots of one move must share a chain: slot %u is on chain %u, not %u",
				s, m->chains[m->slot_chain[s]].id,
				m->chains[from_ci].id);
			return -EINVAL;
		}
	}
	if (count == 0) {
		cat_ctl_errf(err, errlen, "no slots");
		return -EINVAL;
	}
	if (m->chains[from_ci].move_to != 0) {
		cat_ctl_errf(err, errlen, "slots on chain %u are already moving",
			m->chains[from_ci].id);
		return -EBUSY;
	}
	if (from_ci == ti) {
		cat_ctl_errf(err, errlen, "the slots are on chain %u already", to);
		return -EINVAL;
	}
	if (m->n_chains >= CAT_MAP_CHAINS_MAX) {
		cat_ctl_errf(err, errlen, "too many chains for a transitional one");
		return -ENOSPC;
	}
	rc = next_epoch(m, &d);
	if (rc < 0)
		return rc;
	/* The transitional chain starts as the source chain: for every
	 * node the moving slots keep their roles, so this epoch changes
	 * nothing on the data path. */
	c = &d->chains[d->n_chains];
	*c = m->chains[from_ci];
	c->id = via;
	c->joining = 0;
	c->move_to = to;
	c->move_from = m->chains[from_ci].id;
	for (uint32_t s = 0; s < d->slot_count; s++)
		if (slots[s])
			d->slot_chain[s] = d->n_chains;
	d->n_chains++;
	return finish(d, out, err, errlen);
}

/* Is b[0..k) a subsequence of t (same relative order)? */
static int subseq(const uint16_t *b, unsigned int k, const struct cat_map_chain *t)
{
	unsigned int j = 0;

	for (uint8_t i = 0; i < t->len && j < k; i++)
		if (t->nodes[i] == b[j])
			j++;
	return j == k;
}

enum cat_ctl_move_step cat_ctl_plan_move_next(const struct cat_map *m,
					      uint16_t via, uint16_t *node)
{
	int vi = cat_ctl_plan_chain_index(m, via), ti;
	const struct cat_map_chain *t, *b;
	unsigned int k = 0;

	*node = 0;
	if (vi < 0 || m->chains[vi].move_to == 0)
		return CAT_CTL_MOVE_NONE;
	t = &m->chains[vi];
	ti = cat_ctl_plan_chain_index(m, t->move_to);
	if (ti < 0)
		return CAT_CTL_MOVE_NONE;
	b = &m->chains[ti];
	if (t->joining != 0)
		return CAT_CTL_MOVE_WAIT;
	if (t->len == b->len &&
	    memcmp(t->nodes, b->nodes, t->len * sizeof(t->nodes[0])) == 0)
		return CAT_CTL_MOVE_FINISH;
	/* The transitional chain can only grow at its tail (a join) and
	 * lose nodes anywhere. Keep the longest prefix of the target that it
	 * already holds in order; append the rest one join at a time. */
	while (k < b->len && subseq(b->nodes, k + 1, t))
		k++;
	if (k < b->len) {
		*node = b->nodes[k];
		if (cat_map_chain_pos(t, *node) >= 0)
			return CAT_CTL_MOVE_REMOVE; /* out of place: out, then back */
		if (t->len < CAT_MAP_CHAIN_LEN_MAX)
			return CAT_CTL_MOVE_JOIN;
	}
	/* Everything of the target is in place (or the chain is full): the
	 * first node that is not part of the kept prefix goes. */
	for (uint8_t i = 0; i < t->len; i++) {
		unsigned int j;

		for (j = 0; j < k && b->nodes[j] != t->nodes[i]; j++)
			;
		if (j == k) {
			*node = t->nodes[i];
			return CAT_CTL_MOVE_REMOVE;
		}
	}
	return CAT_CTL_MOVE_NONE; /* cannot happen: t == b was caught above */
}

int cat_ctl_plan_chain_rebuild(const struct cat_map *m, uint16_t chain,
			       uint16_t node, struct cat_map **out, char *err,
			       size_t errlen)
{
	int ci = cat_ctl_plan_chain_index(m, chain), rc;
	struct cat_map *d;

	*out = NULL;
	if (ci < 0 || cat_map_node_by_id(m, node) == NULL) {
		cat_ctl_errf(err, errlen, "no chain %u or no node %u", chain, node);
		return -ENOENT;
	}
	if (m->chains[ci].len != 1) {
		cat_ctl_errf(err, errlen, "chain %u has %u members: it did not lose them all",
			     chain, m->chains[ci].len);
		return -EBUSY;
	}
	rc = next_epoch(m, &d);
	if (rc < 0)
		return rc;
	/* A join into it had no tail to stream from: it starts over. */
	d->chains[ci].nodes[0] = node;
	d->chains[ci].joining = 0;
	return finish(d, out, err, errlen);
}

int cat_ctl_plan_chain_drop_node(const struct cat_map *m, uint16_t chain,
				 uint16_t node, struct cat_map **out, char *err,
				 size_t errlen)
{
	int ci = cat_ctl_plan_chain_index(m, chain), pos, rc;
	struct cat_map_chain *c;
	struct cat_map *d;

	*out = NULL;
	if (ci < 0 || (pos = cat_map_chain_pos(&m->chains[ci], node)) < 0) {
		cat_ctl_errf(err, errlen, "node %u is not in chain %u", node, chain);
		return -ENOENT;
	}
	if (m->chains[ci].len == 1) {
		cat_ctl_errf(err, errlen, "node %u is chain %u's last member", node, chain);
		return -EBUSY;
	}
	rc = next_epoch(m, &d);
	if (rc < 0)
		return rc;
	c = &d->chains[ci];
	memmove(&c->nodes[pos], &c->nodes[pos + 1],
		(size_t)(c->len - pos - 1) * sizeof(c->nodes[0]));
	c->nodes[--c->len] = 0;
	return finish(d, out, err, errlen);
}

int cat_ctl_plan_move_finish(const struct cat_map *m, uint16_t via,
			     struct cat_map **out, char *err, size_t errlen)
{
	int vi = cat_ctl_plan_chain_index(m, via), ti, rc;
	struct cat_map *d;

	*out = NULL;
	if (vi < 0 || m->chains[vi].move_to == 0 ||
	    (ti = cat_ctl_plan_chain_index(m, m->chains[vi].move_to)) < 0) {
		cat_ctl_errf(err, errlen, "chain %u is no move in progress", via);
		return -ENOENT;
	}
	rc = next_epoch(m, &d);
	if (rc < 0)
		return rc;
	/* Its slots go to the target; the chains after it shift down. */
	for (uint32_t s = 0; s < d->slot_count; s++) {
		if (d->slot_chain[s] == vi)
			d->slot_chain[s] = (uint16_t)ti;
		if (d->slot_chain[s] > vi)
			d->slot_chain[s]--;
	}
	memmove(&d->chains[vi], &d->chains[vi + 1],
		(size_t)(d->n_chains - vi - 1) * sizeof(d->chains[0]));
	d->n_chains--;
	memset(&d->chains[d->n_chains], 0, sizeof(d->chains[0]));
	return finish(d, out, err, errlen);
}

int cat_ctl_plan_move_reverse(const struct cat_map *m, uint16_t via,
			      struct cat_map **out, char *err, size_t errlen)
{
	int vi = cat_ctl_plan_chain_index(m, via), rc;
	struct cat_map_chain *c;
	struct cat_map *d;
	uint16_t t;

	*out = NULL;
	if (vi < 0 || m->chains[vi].move_to == 0) {
		cat_ctl_errf(err, errlen, "chain %u is no move in progress", via);
		return -ENOENT;
	}
	rc = next_epoch(m, &d);
	if (rc < 0)
		return rc;
	c = &d->chains[vi];
	t = c->move_to;
	c->move_to = c->move_from;
	c->move_from = t;
	c->joining = 0; /* a join towards the old target is moot */
	return finish(d, out, err, errlen);
}
