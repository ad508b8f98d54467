/*
 * catena-control state: event log, node table, line output and the one
 * path by which a map changes (cat_ctl_commit: validate, store with fsync,
 * then push). A map is never sent to a node before it is stored, so a
 * restarted control plane never goes back to an epoch a node has seen.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "control/ctl.h"
#include "control/planner.h"
#include "control/rebuild.h"
#include "replication/linkauth.h"

uint64_t cat_ctl_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int64_t cat_ctl_now_unix(void)
{
	return (int64_t)time(NULL);
}

void cat_ctl_event(struct cat_ctl *c, const char *fmt, ...)
{
	struct cat_ctl_event *e, *last = c->n_events > 0 ?
		&c->events[(c->next_event + CAT_CTL_EVENTS_MAX - 1) % CAT_CTL_EVENTS_MAX] : NULL;
	char text[CAT_CTL_EVENT_TEXT];
	va_list ap;
	size_t len;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	len = strlen(text);
	/* A text that repeats (a node flapping, a client retrying a refused
	 * command) would push every other event out of the ring: counted on
	 * the entry it repeats instead. The "(xN)" suffix keeps room for
	 * itself, cutting the text if it must, and len remembers the text
	 * as it came for the next comparison. */
	if (last != NULL && last->len == len && last->count < UINT32_MAX &&
	    strncmp(last->text, text, len < sizeof(text) - 16 ? len : sizeof(text) - 16) == 0) {
		last->count++;
		snprintf(last->text + (len < sizeof(text) - 16 ? len : sizeof(text) - 16),
			 16, " (x%u)", last->count);
		e = last;
	} else {
		e = &c->events[c->next_event];
		memcpy(e->text, text, len + 1);
		e->len = (uint16_t)len;
		e->count = 1;
		c->next_event = (c->next_event + 1) % CAT_CTL_EVENTS_MAX;
		if (c->n_events < CAT_CTL_EVENTS_MAX)
			c->n_events++;
	}
	e->time = cat_ctl_now_unix();
	e->epoch = c->map != NULL ? c->map->epoch : 0;
	e->seq = ++c->event_seq;
	if (!c->quiet)
		fprintf(stderr, "catena-control: epoch %u: %s\n", e->epoch, text);
}

/* What a summary calls the members of a burst. */
static const char *const burst_what[CAT_CTL_BURST_KINDS] = {
	[CAT_CTL_BURST_NODE_REFUSED] = "node channel: connections refused (budget full)",
	[CAT_CTL_BURST_NODE_EVICTED] = "node channel: connections closed before hello to make room",
	[CAT_CTL_BURST_NODE_TIMEOUT] = "node channel: connections timed out before hello",
	[CAT_CTL_BURST_NODE_AUTH] = "node channel: connections refused authentication",
	[CAT_CTL_BURST_MGMT_REFUSED] = "management socket: connections refused (budget full)",
	[CAT_CTL_BURST_MGMT_SLOW] = "management socket: clients dropped for not reading",
	[CAT_CTL_BURST_MGMT_IDLE] = "management socket: idle connections timed out",
	[CAT_CTL_BURST_STALL] = "control loop stalls",
};

#define BURST_QUIET_MS 2000u     /* a burst ends after this without one */
#define BURST_REPEAT_MS 60000u   /* summary at least this often while it lasts */

static void burst_summary(struct cat_ctl *c, unsigned int k, uint64_t now_ms)
{
	struct cat_ctl_burst *b = &c->burst[k];

	cat_ctl_event(c, "%s: %llu more in %.1f s (%llu since start); the last: %s",
		      burst_what[k], (unsigned long long)b->pending,
		      (double)(now_ms - b->told_ms) / 1000.0,
		      (unsigned long long)b->total, b->last);
	b->pending = 0;
	b->told_ms = now_ms;
}

static void burst_note(struct cat_ctl *c, enum cat_ctl_burst_kind k,
		       const char *why, uint64_t now_ms, uint64_t ms,
		       const char *fmt, va_list ap)
{
	struct cat_ctl_burst *b = &c->burst[k];

	if (b->first_ms != 0 && b->why != why) {
		/* Another cause: what the old one collected first, then the
		 * new one in full. */
		if (b->pending > 0)
			burst_summary(c, k, now_ms);
		b->first_ms = 0;
	}
	vsnprintf(b->last, sizeof(b->last), fmt, ap);
	b->why = why;
	b->total++;
	if (ms > b->max)
		b->max = ms;
	if (b->first_ms == 0) {
		/* The first of a burst is told at once, in full. */
		b->first_ms = b->told_ms = now_ms ? now_ms : 1;
		b->last_ms = b->first_ms;
		b->pending = 0;
		cat_ctl_event(c, "%s", b->last);
		return;
	}
	b->pending++;
	b->last_ms = now_ms;
}

void cat_ctl_burst_note(struct cat_ctl *c, enum cat_ctl_burst_kind k,
			uint64_t now_ms, uint64_t ms, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	burst_note(c, k, NULL, now_ms, ms, fmt, ap);
	va_end(ap);
}

void cat_ctl_burst_note_why(struct cat_ctl *c, enum cat_ctl_burst_kind k,
			    const char *why, uint64_t now_ms, uint64_t ms,
			    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	burst_note(c, k, why, now_ms, ms, fmt, ap);
	va_end(ap);
}

void cat_ctl_burst_tick(struct cat_ctl *c, uint64_t now_ms)
{
	for (unsigned int k = 0; k < CAT_CTL_BURST_KINDS; k++) {
		struct cat_ctl_burst *b = &c->burst[k];
		int ended;

		if (b->first_ms == 0)
			continue;
		ended = now_ms >= b->last_ms + BURST_QUIET_MS;
		if (b->pending > 0 && (ended || now_ms >= b->told_ms + BURST_REPEAT_MS))
			burst_summary(c, k, now_ms);
		if (ended)
			b->first_ms = 0;
	}
}

static void stall_shift(uint64_t *t, uint64_t by, uint64_t now_ms)
{
	if (*t != 0)
		*t = *t + by > now_ms ? now_ms : *t + by;
}

void cat_ctl_loop_stalled(struct cat_ctl *c, uint64_t now_ms, uint64_t stall_ms,
			  uint64_t gap_ms)
{
	cat_ctl_burst_note(c, CAT_CTL_BURST_STALL, now_ms, stall_ms,
			   "control loop stalled for %llu ms (%llu ms since it last "
			   "looked at the node channel): heartbeat deadlines moved "
			   "on by as much (stalls are counted in status)",
			   (unsigned long long)stall_ms, (unsigned long long)gap_ms);
	c->stall_last_ms = now_ms;
	/* Nobody read the node channel meanwhile: the stall is not a node's
	 * silence. Deadlines move on by the time since the last look, never
	 * past now. */
	for (uint16_t i = 0; i < c->n_nodes; i++) {
		struct cat_ctl_node *n = &c->nodes[i];

		stall_shift(&n->last_hb_ms, gap_ms, now_ms);
		stall_shift(&n->heard_by_ms, gap_ms, now_ms);
		stall_shift(&n->hello_ms, gap_ms, now_ms);
	}
	stall_shift(&c->heard_since_ms, gap_ms, now_ms);
}

const char *cat_ctl_state_name(enum cat_ctl_node_state st)
{
	switch (st) {
	case CAT_CTL_NODE_NEW:
		return "new";
	case CAT_CTL_NODE_UP:
		return "up";
	case CAT_CTL_NODE_FAILED:
		return "failed";
	case CAT_CTL_NODE_DRAINED:
		return "drained";
	case CAT_CTL_NODE_RETURNED:
		return "returned";
	}
	return "?";
}

struct cat_ctl_node *cat_ctl_node(struct cat_ctl *c, uint16_t id)
{
	for (uint16_t i = 0; i < c->n_nodes; i++)
		if (c->nodes[i].id == id)
			return &c->nodes[i];
	return NULL;
}

unsigned int cat_ctl_chains_of(const struct cat_map *m, uint16_t id,
			       char *buf, size_t cap)
{
	unsigned int n = 0;
	size_t len = 0;

	if (cap > 0)
		buf[0] = '\0';
	for (uint16_t i = 0; i < m->n_chains; i++) {
		if (cat_map_chain_pos(&m->chains[i], id) < 0)
			continue;
		if (len < cap) {
			int w = snprintf(buf + len, cap - len, n ? " %u" : "%u",
					 m->chains[i].id);
			if (w > 0)
				len += (size_t)w;
		}
		n++;
	}
	return n;
}

void cat_ctl_list_ids(char *buf, size_t cap, const uint16_t *ids,
		      unsigned int n)
{
	size_t len = 0;

	buf[0] = '\0';
	for (unsigned int i = 0; i < n && len < cap; i++) {
		int w = snprintf(buf + len, cap - len, i ? " %u" : "%u", ids[i]);

		if (w > 0)
			len += (size_t)w;
	}
}

int cat_ctl_commit_or_say(struct cat_ctl *c, struct cat_map *next,
			  const char *why)
{
	char err[256];

	if (cat_ctl_commit(c, next, why, err, sizeof(err)) < 0) {
		cat_ctl_event(c, "%s, but the change failed: %s", why, err);
		return -EIO;
	}
	return 0;
}

void cat_ctl_node_release(struct cat_ctl_node *n)
{
	json_decref(n->port);
	json_decref(n->stats);
	json_decref(n->dstat);
	free(n->xfer);
	free(n->dver);
	n->port = n->stats = n->dstat = NULL;
	n->xfer = NULL;
	n->n_xfer = 0;
	n->dver = NULL;
	n->dver_n = 0;
}

int cat_ctl_node_heard(const struct cat_ctl *c, const struct cat_ctl_node *n,
		       uint64_t now_ms)
{
	return !c->heard_reports ||
	       now_ms < n->heard_by_ms + c->cfg.heartbeat_timeout_ms;
}

static void note_event(void *arg, const char *text)
{
	cat_ctl_event(arg, "%s", text);
}

void cat_ctl_view(struct cat_ctl *c, uint64_t now_ms, struct cat_ctl_view *v,
		  struct cat_ctl_pnode *nodes)
{
	for (uint16_t i = 0; i < c->n_nodes; i++) {
		const struct cat_ctl_node *n = &c->nodes[i];

		nodes[i] = (struct cat_ctl_pnode){
			.id = n->id, .state = n->state,
			.connected = n->conn != NULL,
			.heard = (uint8_t)cat_ctl_node_heard(c, n, now_ms),
			.epoch = n->epoch, .xfer_epoch = n->xfer_epoch,
			.n_xfer = n->n_xfer, .xfer = n->xfer,
			.last_hb_ms = n->last_hb_ms, .hello_ms = n->hello_ms,
			.heard_by_ms = n->heard_by_ms,
			.held = (uint8_t)cat_ctl_rebuild_held(c, n->id),
			.durable = n->dfresh ? n->durable : CAT_CTL_DURABLE_NONE,
			.dver = n->dfresh && n->durable == CAT_CTL_DURABLE_DONE ?
				n->dver : NULL,
		};
	}
	cat_ctl_rebuild_flags(c, c->rebuild_flags);
	*v = (struct cat_ctl_view){
		.map = c->map, .n_nodes = c->n_nodes, .nodes = nodes,
		.rf = c->rf, .restore = (uint8_t)c->cfg.restore_replicas,
		.paused = c->store.reshard.paused,
		.rebuilding = c->rebuild_flags,
		.note = note_event, .note_arg = c,
	};
}

void cat_ctl_sync_nodes(struct cat_ctl *c)
{
	struct cat_ctl_node next[CAT_MAP_NODES_MAX];
	uint16_t n = 0;

	memset(next, 0, sizeof(next));
	for (uint16_t i = 0; i < c->map->n_nodes; i++) {
		uint16_t id = c->map->nodes[i].id;
		struct cat_ctl_node *old = cat_ctl_node(c, id);

		if (old != NULL) {
			next[n] = *old;
			old->id = 0; /* taken over */
		} else {
			next[n].id = id;
			next[n].boot = cat_ctl_store_boot(&c->store, id);
			switch (cat_ctl_store_mark(&c->store, id)) {
			case CAT_CTL_MARK_FAILED:
				next[n].state = CAT_CTL_NODE_FAILED;
				break;
			case CAT_CTL_MARK_DRAINED:
				next[n].state = CAT_CTL_NODE_DRAINED;
				break;
			default:
				next[n].state = CAT_CTL_NODE_NEW;
			}
		}
		n++;
	}
	/* What is left in the old table is no longer in the map. */
	for (uint16_t i = 0; i < c->n_nodes; i++) {
		struct cat_ctl_node *o = &c->nodes[i];

		if (o->id == 0)
			continue;
		cat_ctl_node_release(o);
		if (o->conn != NULL) {
			cat_ctl_node_error(o->conn,
					   "this node was removed from the cluster map");
			o->conn->node = 0;
		}
		cat_ctl_store_set_mark(&c->store, o->id, CAT_CTL_MARK_NONE);
	}
	memcpy(c->nodes, next, sizeof(next));
	c->n_nodes = n;
}

static int out_append(struct cat_ctl_conn *conn, const char *data, size_t len)
{
	if (conn->dead)
		return -EPIPE;
	if (conn->out_len + len > CAT_CTL_OUT_MAX) {
		/* A peer that does not read is dropped rather than buffered
		 * without bound. */
		conn->dead = 1;
		return -ENOBUFS;
	}
	if (conn->out_len == 0)
		conn->out_since_ms = cat_ctl_now_ms();
	if (conn->out_len + len > conn->out_cap) {
		size_t cap = conn->out_cap ? conn->out_cap : 4096;
		char *p;

		while (cap < conn->out_len + len)
			cap *= 2;
		p = realloc(conn->out, cap);
		if (p == NULL) {
			conn->dead = 1;
			return -ENOMEM;
		}
		conn->out = p;
		conn->out_cap = cap;
	}
	memcpy(conn->out + conn->out_len, data, len);
	conn->out_len += len;
	return 0;
}

int cat_ctl_send(struct cat_ctl_conn *conn, json_t *msg)
{
	char *s = json_dumps(msg, JSON_COMPACT | JSON_PRESERVE_ORDER);
	int rc = 0;

	if (s == NULL) {
		conn->dead = 1;
		return -ENOMEM;
	}
	if (conn->auth_state == CAT_CTL_AUTH_ON) {
		char tag[CAT_AUTH_TAG_HEX + 1];

		rc = cat_auth_tag(conn->auth, s, strlen(s), tag);
		if (rc < 0) {
			conn->dead = 1; /* libcrypto failed: nothing safe to send */
			free(s);
			return rc;
		}
		tag[CAT_AUTH_TAG_HEX] = ' ';
		rc = out_append(conn, tag, CAT_AUTH_LINE_OVERHEAD);
	}
	if (rc == 0)
		rc = out_append(conn, s, strlen(s));
	if (rc == 0)
		rc = out_append(conn, "\n", 1);
	free(s);
	return rc;
}

void cat_ctl_node_error(struct cat_ctl_conn *conn, const char *why)
{
	json_t *m = json_pack("{s:s,s:s}", "type", "error", "error", why);

	if (m != NULL)
		cat_ctl_send(conn, m);
	json_decref(m);
	conn->closing = 1;
}

int cat_ctl_link_seed_ensure(struct cat_ctl *c, char *err, size_t errlen)
{
	int rc;

	if (c->secret == NULL || c->store.link_seed_set)
		return 0;
	if (cat_linkauth_init() < 0) {
		snprintf(err, errlen, "libsodium failed to start");
		return -EIO;
	}
	cat_linkauth_seed_new(c->store.link_seed);
	c->store.link_seed_set = 1;
	/* Durable before any key made from it leaves: a restart that made
	 * another seed would hand out other keys for the same epoch. */
	rc = cat_ctl_store_save(&c->store, c->map, NULL, cat_ctl_now_unix(),
				err, errlen);
	if (rc < 0) {
		sodium_memzero(c->store.link_seed, sizeof(c->store.link_seed));
		c->store.link_seed_set = 0;
		return rc;
	}
	cat_ctl_event(c, "data network link keys: new seed stored in %s",
		      c->store.path);
	return 0;
}

/*
 * "linkkeys" of a map line to node id: its keys towards every other node
 * of the map this epoch, sealed for it alone (replication/linkauth.h), as
 * hex. NULL without a secret or seed (then the map goes without).
 */
static json_t *link_keys_for(const struct cat_ctl *c, uint16_t id)
{
	uint8_t blob[CAT_LINKAUTH_BLOB_MAX];
	char hex[2 * CAT_LINKAUTH_BLOB_MAX + 1];
	uint16_t peers[CAT_MAP_NODES_MAX];
	unsigned int n = 0;
	json_t *j = NULL;
	int len;

	if (c->secret == NULL || !c->store.link_seed_set)
		return NULL;
	for (uint16_t i = 0; i < c->map->n_nodes; i++)
		if (c->map->nodes[i].id != id)
			peers[n++] = c->map->nodes[i].id;
	len = cat_linkauth_keys_seal(c->store.link_seed, c->secret->key,
				     c->secret->len, c->map->epoch, id, peers, n,
				     blob, sizeof(blob));
	if (len > 0) {
		sodium_bin2hex(hex, sizeof(hex), blob, (size_t)len);
		j = json_string(hex);
	}
	sodium_memzero(blob, sizeof(blob));
	return j;
}

int cat_ctl_push_map(struct cat_ctl *c, struct cat_ctl_conn *conn)
{
	char *text;
	json_t *m = NULL;
	int n, rc = -ENOMEM;

	/* A node kept in a chain that waits to be rebuilt gets no map: with
	 * one it would serve what its log kept, which another node's log may
	 * go beyond (control/rebuild.h). */
	if (conn->node != 0 && cat_ctl_rebuild_held(c, conn->node))
		return 0;
	text = malloc(CAT_MAP_TEXT_MAX + 1);
	if (text == NULL)
		return rc;
	n = cat_map_format(c->map, text, CAT_MAP_TEXT_MAX + 1);
	if (n >= 0)
		m = json_pack("{s:s,s:I,s:s}", "type", "map", "epoch",
			      (json_int_t)c->map->epoch, "text", text);
	/* Keys go only to a node that proved it holds the secret, and only
	 * for a node of this map (a removed node gets none). */
	if (m != NULL && conn->auth_state == CAT_CTL_AUTH_ON && conn->node != 0 &&
	    cat_map_node_by_id(c->map, conn->node) != NULL) {
		json_t *k = link_keys_for(c, conn->node);

		if (k == NULL && c->store.link_seed_set) {
			json_decref(m);
			m = NULL; /* sealing failed: no map beats one without keys */
		} else if (k != NULL) {
			json_object_set_new(m, "linkkeys", k);
		}
	}
	if (m != NULL)
		rc = cat_ctl_send(conn, m);
	json_decref(m);
	free(text);
	return rc;
}

int cat_ctl_commit(struct cat_ctl *c, struct cat_map *next,
		   const char *reason, char *err, size_t errlen)
{
	int rc = cat_ctl_plan_validate(c->map, next, err, errlen);

	if (rc < 0) {
		cat_map_free(next);
		return rc;
	}
	rc = cat_ctl_store_save(&c->store, next, reason, cat_ctl_now_unix(),
				err, errlen);
	if (rc < 0) {
		cat_ctl_event(c, "store write failed, epoch %u not published: %s",
			      next->epoch, err);
		cat_map_free(next);
		return rc;
	}
	cat_map_free(c->map);
	c->map = next;
	cat_ctl_sync_nodes(c);
	/* Every node that said hello gets it, failed and drained ones too, so
	 * a node out of the chains answers MOVED instead of stale data. */
	for (uint16_t i = 0; i < c->n_conns; i++) {
		struct cat_ctl_conn *k = c->conns[i];

		if (k->kind == CAT_CTL_CONN_NODE && k->node != 0 && !k->closing)
			cat_ctl_push_map(c, k);
	}
	return 0;
}
