/*
 * Slot dump and load for backup and restore (dataplane/dump.h).
 *
 * A dump is a consistent cut of one slot taken at its tail while it
 * serves. The owner worker walks the slot with the store's snapshot cursor
 * (the one state transfer uses) a few items per poll iteration and, until
 * the walk ends, sends the new state of every key a write changes (the
 * write's key looked up after the engine applied it: the worker is the
 * slot's only writer, so that is exactly the write's outcome). Every
 * record is the key's state at the moment it was sent, in the order the
 * worker made them, so "last record of each key wins" over the whole
 * stream is the slot at the version it had when the walk ended: that is
 * the cut. A write the worker cannot record (no free buffer) or a slot
 * that changes hands aborts the dump, and catena-control asks again.
 *
 * Two closed loops of preallocated buffers per worker, each a pair of SPSC
 * rings: worker -> agent records (free_w, from_w), agent -> worker commands
 * and records to load (free_a, to_w). Rings live in malloc'd memory
 * (rte_ring_init), not hugepages.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_log.h>
#include <rte_ring.h>
#include <sodium.h>

#include "dataplane/dump.h"
#include "dataplane/durable.h"
#include "dataplane/nodechan.h"
#include "replication/dlog.h"

#define BUFS_W 256u       /* worker -> agent buffers, per worker */
/* agent -> worker buffers, per worker: the agent refills them at most
 * every 10 ms while it waits for the worker (it sleeps in poll), so they
 * bound a restore's records a worker takes per 10 ms; 2 MiB of them. */
#define BUFS_A_BYTES (2u << 20)
#define BUFS_A_MIN 128u
#define BUFS_A_MAX 1024u
#define RING_SIZE 2048u   /* holds every buffer of either loop */
#define RESERVE 64u       /* buffers the walk leaves for replayed writes */
#define WALK_PER_POLL 32u /* items walked per poll iteration at most */
#define CMDS_PER_POLL 64u
#define LINE_RECS 256u    /* records per dump_data line */
/* A dump_data line stays under catena-control's 64 KiB line limit: its
 * records' base64 and JSON, counted before each is added. */
#define LINE_BYTES (56u * 1024u)
#define BACKLOG_MAX (1u << 20) /* node channel bytes queued: stop draining */
#define LOAD_FIFO 8u
#define QUEUED_MAX 8u     /* dump requests a worker holds behind its dump */

enum kind {
	K_DUMP_START = 1, K_DUMP_CANCEL, K_LOAD_BEGIN, K_LOAD_ITEM, K_LOAD_END,
	K_PUT, K_DEL, K_END, K_ABORT, K_LOADED, K_LOAD_FAILED,
};

struct dbuf {
	uint8_t kind;
	uint16_t key_len;
	uint32_t value_len;
	uint32_t slot, req;
	uint64_t version, a, b;
	uint8_t data[]; /* key, then value (K_ABORT, K_LOAD_FAILED: why) */
};

struct wk {
	struct rte_ring *to_w, *from_w, *free_w, *free_a;
	void *mem_w, *mem_a;
	/* Worker-only from here on. */
	uint32_t req;             /* the dump running (watch says its slot) */
	uint64_t last_ver, rate, walked, replayed;
	int64_t tokens;
	uint64_t tokens_at;
	int abort_pending;
	uint32_t abort_slot, abort_req;
	char abort_why[120];
	uint32_t load_slot, load_req;
	int load_failed;
	char load_why[120];
	/* dump requests behind the one running, oldest first: catena-control
	 * asks a tail for a few slots at once, so that one slot's end and
	 * the next slot's start never wait for a round trip. */
	struct dbuf *queued[QUEUED_MAX];
	unsigned int n_queued;
} __rte_cache_aligned;

struct cat_dump_watch cat_dump_watch[CAT_WORKER_MAX] = {
	[0 ... CAT_WORKER_MAX - 1] = { .watch = UINT32_MAX },
};

/* Published (release) once every ring of the worker exists. */
static struct wk *wks[CAT_WORKER_MAX];

/* The agent's side; main lcore only. */
static struct {
	int ready;
	uint16_t n_workers;
	uint32_t rec_max;             /* key + value bytes a buffer holds */
	size_t buf_size;
	unsigned int bufs_a;          /* agent -> worker buffers per worker */
	/* dump_data being gathered, per worker */
	json_t *batch[CAT_WORKER_MAX];
	size_t batch_bytes[CAT_WORKER_MAX];
	uint32_t batch_req[CAT_WORKER_MAX], batch_slot[CAT_WORKER_MAX];
	/* restore: messages waiting to reach the workers, oldest first */
	json_t *load[LOAD_FIFO];
	unsigned int load_head, load_n;
	size_t load_i;                /* load_data: next record to hand over */
	char *b64;                    /* base64 scratch */
	uint8_t *bin;                 /* decoded scratch */
	size_t b64_cap;
} ag;

/* ---- worker side ------------------------------------------------------- */

static struct dbuf *take_w(struct wk *k)
{
	void *p;

	return rte_ring_sc_dequeue(k->free_w, &p) == 0 ? p : NULL;
}

static void give_w(struct wk *k, struct dbuf *b)
{
	/* Never full: the ring holds every buffer of the loop. */
	(void)rte_ring_sp_enqueue(k->from_w, b);
}

static void emit_item(struct wk *k, struct dbuf *b, uint8_t kind,
		      uint32_t slot, const struct cat_item *it,
		      const void *key, uint16_t key_len, uint64_t version)
{
	b->kind = kind;
	b->slot = slot;
	b->req = k->req;
	if (it != NULL) {
		b->key_len = it->key_len;
		b->value_len = it->value_len;
		b->version = it->version;
		memcpy(b->data, cat_item_key(it), it->key_len + (size_t)it->value_len);
	} else {
		b->key_len = key_len;
		b->value_len = 0;
		b->version = version;
		memcpy(b->data, key, key_len);
	}
	give_w(k, b);
}

static void send_abort(struct wk *k)
{
	struct dbuf *b = take_w(k);
	size_t n = strlen(k->abort_why);

	if (b == NULL)
		return; /* next iteration */
	b->kind = K_ABORT;
	b->slot = k->abort_slot;
	b->req = k->abort_req;
	b->key_len = 0;
	b->value_len = (uint32_t)n;
	memcpy(b->data, k->abort_why, n);
	give_w(k, b);
	k->abort_pending = 0;
}

static void stop_dump(struct cat_worker *w, struct wk *k, const char *why)
{
	uint32_t slot = cat_dump_watch[w->idx].watch;

	cat_store_snap_end(w->dp->store, slot);
	cat_dump_watch[w->idx].watch = UINT32_MAX;
	if (why == NULL)
		return;
	k->abort_pending = 1;
	k->abort_slot = slot;
	k->abort_req = k->req;
	snprintf(k->abort_why, sizeof(k->abort_why), "%s", why);
	send_abort(k);
}

/* Whether this node may dump slot now: its tail in the map in force, no
 * state transfer or move that could want the slot's one snapshot cursor,
 * and not holding reads (a new tail that may lack committed writes). */
static const char *cannot_dump(const struct cat_worker *w, uint32_t slot)
{
	const struct cat_map_chain *ch;

	if (w->dmap == NULL || slot >= w->dmap->map->slot_count)
		return "no map here, or a slot past its slot count";
	ch = cat_map_slot_chain(w->dmap->map, slot);
	if (cat_map_chain_tail(ch) != w->dp->node_id)
		return "this node is not the slot's tail (any more)";
	if (ch->joining != 0 || ch->move_to != 0)
		return "the slot's chain is taking a joiner or moving slots";
	if (cat_store_slot_held(w->dp->store, slot))
		return "the slot holds reads (a new tail catching up)";
	return NULL;
}

static void dump_start(struct cat_worker *w, struct wk *k, const struct dbuf *c)
{
	const char *why;

	k->req = c->req;
	why = cat_worker_slot_owner(c->slot, w->dp->n_workers) != w->idx ?
	      "not this worker's slot" : cannot_dump(w, c->slot);
	if (why != NULL) {
		k->abort_pending = 1;
		k->abort_slot = c->slot;
		k->abort_req = c->req;
		snprintf(k->abort_why, sizeof(k->abort_why), "%s", why);
		send_abort(k);
		return;
	}
	cat_store_snap_begin(w->dp->store, c->slot);
	cat_dump_watch[w->idx].watch = c->slot;
	k->last_ver = cat_store_slot_version(w->dp->store, c->slot);
	k->rate = c->a;
	k->tokens = 0;
	k->tokens_at = w->now;
	k->walked = k->replayed = 0;
}

/* durability = log: what a load changes goes to the node's log as a state
 * transfer's does (the slot emptied, each key, the slot's version), so a
 * restored cluster that loses power comes back restored. */
static void log_load(struct cat_worker *w, uint8_t type, uint32_t slot,
		     const uint8_t *key, uint16_t klen, const uint8_t *value,
		     uint32_t vlen, uint64_t version)
{
	struct cat_dlog_rec r = { .type = type, .slot = (uint16_t)slot,
				  .version = version, .key = key, .klen = klen,
				  .value = value, .vlen = vlen };

	if (w->io.applied != NULL)
		w->io.applied(w->io.arg, &r);
}

/* Room in the log for one more loaded record and what a burst may log. */
static int load_log_room(const struct cat_worker *w)
{
	return w->logring == NULL ||
	       cat_logring_room(w->logring) >= CAT_DURABLE_ROOM_MIN +
	       CAT_DLOG_REC_HDR + ag.rec_max;
}

static void load_cmd(struct cat_worker *w, struct wk *k, const struct dbuf *c)
{
	struct cat_store *st = w->dp->store;
	struct cat_dump_watch *dw = &cat_dump_watch[w->idx];
	struct cat_key key;
	struct dbuf *r;

	switch (c->kind) {
	case K_LOAD_BEGIN:
		if (dw->watch == c->slot)
			stop_dump(w, k, "the slot is being restored");
		cat_store_slot_clear(st, c->slot);
		cat_store_slot_set_version(st, c->slot, 0);
		log_load(w, CAT_DLOG_CLEAR, c->slot, NULL, 0, NULL, 0, 0);
		k->load_slot = c->slot;
		k->load_req = c->req;
		k->load_failed = 0;
		return;
	case K_LOAD_ITEM:
		if (k->load_failed)
			return;
		if (c->key_len == 0 && c->value_len == UINT32_MAX) {
			k->load_failed = 1;
			snprintf(k->load_why, sizeof(k->load_why),
				 "a record that is not base64, or larger than this "
				 "node's MTU (%u) takes", ag.rec_max);
			return;
		}
		cat_store_key(st, &key, c->data, c->key_len);
		if (c->slot != k->load_slot || c->req != k->load_req ||
		    c->key_len == 0 || key.slot != c->slot) {
			k->load_failed = 1;
			snprintf(k->load_why, sizeof(k->load_why),
				 "a record outside slot %u's load", k->load_slot);
			return;
		}
		if (cat_store_apply_snap(st, &key, c->version, c->data + c->key_len,
					 c->value_len) != 0) {
			k->load_failed = 1;
			snprintf(k->load_why, sizeof(k->load_why),
				 "the store refused a key (memory limit?)");
			return;
		}
		/* Restored data is committed data: clean on every member. */
		cat_store_commit(st, &key, c->version);
		log_load(w, CAT_DLOG_PUT, c->slot, c->data, c->key_len,
			 c->data + c->key_len, c->value_len, c->version);
		return;
	case K_LOAD_END:
		r = take_w(k); /* the caller made sure there is one */
		if (r == NULL)
			return;
		if (!k->load_failed && (c->slot != k->load_slot || c->req != k->load_req)) {
			k->load_failed = 1;
			snprintf(k->load_why, sizeof(k->load_why), "an end without its begin");
		}
		if (!k->load_failed) {
			cat_store_slot_set_version(st, c->slot, c->version);
			log_load(w, CAT_DLOG_NOOP, c->slot, NULL, 0, NULL, 0, c->version);
		}
		r->kind = k->load_failed ? K_LOAD_FAILED : K_LOADED;
		r->slot = c->slot;
		r->req = c->req;
		r->key_len = 0;
		r->version = cat_store_slot_version(st, c->slot);
		r->a = cat_store_slot_keys(st, c->slot);
		r->value_len = k->load_failed ? (uint32_t)strlen(k->load_why) : 0;
		memcpy(r->data, k->load_why, r->value_len);
		give_w(k, r);
		return;
	}
}

static void take_commands(struct cat_worker *w, struct wk *k)
{
	for (unsigned int i = 0; i < CMDS_PER_POLL; i++) {
		void *p;
		struct dbuf *c;

		/* Room for the answer a command may need, and in the log for
		 * what a load writes (the log writer frees it: next time). */
		if (rte_ring_count(k->free_w) < 2 || !load_log_room(w) ||
		    rte_ring_sc_dequeue(k->to_w, &p) != 0)
			return;
		c = p;
		switch (c->kind) {
		case K_DUMP_START:
			if (cat_dump_watch[w->idx].watch != UINT32_MAX ||
			    k->abort_pending) {
				if (k->n_queued < QUEUED_MAX) {
					k->queued[k->n_queued++] = c;
					continue; /* its buffer comes back when it starts */
				}
				k->abort_pending = 1;
				k->abort_slot = c->slot;
				k->abort_req = c->req;
				snprintf(k->abort_why, sizeof(k->abort_why),
					 "busy: %u dump requests wait on this worker already",
					 QUEUED_MAX);
				send_abort(k);
				break;
			}
			dump_start(w, k, c);
			break;
		case K_DUMP_CANCEL:
			if (cat_dump_watch[w->idx].watch != UINT32_MAX && k->req == c->req)
				stop_dump(w, k, NULL);
			for (unsigned int q = 0; q < k->n_queued;) {
				if (k->queued[q]->req != c->req) {
					q++;
					continue;
				}
				(void)rte_ring_sp_enqueue(k->free_a, k->queued[q]);
				memmove(&k->queued[q], &k->queued[q + 1],
					(k->n_queued - q - 1) * sizeof(k->queued[0]));
				k->n_queued--;
			}
			break;
		default:
			load_cmd(w, k, c);
			break;
		}
		(void)rte_ring_sp_enqueue(k->free_a, c);
	}
}

static void walk(struct cat_worker *w, struct wk *k)
{
	uint32_t slot = cat_dump_watch[w->idx].watch;
	struct cat_store *st = w->dp->store;

	if (k->rate != 0) {
		uint64_t dt = w->now - k->tokens_at;
		int64_t burst = 65536 + 2 * (int64_t)ag.rec_max;
		int64_t add;

		if (dt > 1000000000ull)
			dt = 1000000000ull;
		/* Whole bytes only, and the clock moves on only by what they
		 * paid for: at a low rate one poll iteration earns less than
		 * a byte, which truncating every iteration would lose. */
		add = (int64_t)(dt * k->rate / 1000000000ull);
		if (add > 0) {
			k->tokens += add;
			k->tokens_at = dt == 1000000000ull ? w->now :
				       k->tokens_at + (uint64_t)add * 1000000000ull / k->rate;
		}
		if (k->tokens > burst)
			k->tokens = burst;
	}
	for (unsigned int i = 0; i < WALK_PER_POLL; i++) {
		const struct cat_item *it;
		struct dbuf *b;

		if ((k->rate != 0 && k->tokens <= 0) ||
		    rte_ring_count(k->free_w) <= RESERVE)
			return;
		b = take_w(k);
		if (cat_store_snap_next(st, slot, &it) != 0) {
			/* The cut: the slot's version now, with every write up
			 * to it already sent. */
			cat_store_snap_end(st, slot);
			cat_dump_watch[w->idx].watch = UINT32_MAX;
			b->kind = K_END;
			b->slot = slot;
			b->req = k->req;
			b->key_len = 0;
			b->value_len = 0;
			b->version = cat_store_slot_version(st, slot);
			b->a = k->walked;
			b->b = k->replayed;
			give_w(k, b);
			return;
		}
		emit_item(k, b, K_PUT, slot, it, NULL, 0, 0);
		k->walked++;
		k->tokens -= (int64_t)(it->key_len + it->value_len + 16);
	}
}

void cat_dump_worker_poll(struct cat_worker *w)
{
	struct wk *k = __atomic_load_n(&wks[w->idx], __ATOMIC_ACQUIRE);
	const char *why;

	if (likely(k == NULL))
		return;
	if (k->abort_pending)
		send_abort(k);
	if (cat_dump_watch[w->idx].watch != UINT32_MAX &&
	    (why = cannot_dump(w, cat_dump_watch[w->idx].watch)) != NULL)
		stop_dump(w, k, why);
	take_commands(w, k);
	/* The next request waiting, once the dump before it is over (and
	 * its abort, if any, is sent). */
	if (cat_dump_watch[w->idx].watch == UINT32_MAX && !k->abort_pending &&
	    k->n_queued > 0 && rte_ring_count(k->free_w) >= 2) {
		struct dbuf *c = k->queued[0];

		memmove(&k->queued[0], &k->queued[1],
			(k->n_queued - 1) * sizeof(k->queued[0]));
		k->n_queued--;
		dump_start(w, k, c);
		(void)rte_ring_sp_enqueue(k->free_a, c);
	}
	if (cat_dump_watch[w->idx].watch != UINT32_MAX && !k->abort_pending)
		walk(w, k);
}

void cat_dump_replay(struct cat_worker *w, uint32_t slot, const void *key,
		     uint16_t key_len)
{
	struct wk *k = wks[w->idx];
	struct cat_store *st = w->dp->store;
	uint64_t v = cat_store_slot_version(st, slot);
	const struct cat_item *it;
	struct cat_key ck;
	struct dbuf *b;

	if (v == k->last_ver)
		return; /* nothing applied (an ACK, a duplicate, a refusal) */
	if (v < k->last_ver) {
		stop_dump(w, k, "the slot was reset under the dump");
		return;
	}
	k->last_ver = v;
	cat_store_key(st, &ck, key, key_len);
	if (ck.slot != slot)
		return;
	b = take_w(k);
	if (b == NULL) {
		/* A write we cannot record would be missing from the cut. */
		stop_dump(w, k, "writes came faster than the node channel took the dump");
		return;
	}
	k->replayed++;
	if (cat_store_get(st, &ck, &it) == 0)
		emit_item(k, b, K_PUT, slot, it, NULL, 0, 0);
	else
		emit_item(k, b, K_DEL, slot, NULL, key, key_len, v);
}

/* ---- agent side -------------------------------------------------------- */

static void say(struct cat_nodechan *cc, unsigned int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void say(struct cat_nodechan *cc, unsigned int level, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (cc->log == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	cc->log(level, msg);
}

static struct rte_ring *ring_new(const char *what, uint16_t w)
{
	ssize_t sz = rte_ring_get_memsize(RING_SIZE);
	struct rte_ring *r;
	char name[RTE_RING_NAMESIZE];

	if (sz < 0)
		return NULL;
	r = aligned_alloc(RTE_CACHE_LINE_SIZE,
			  RTE_ALIGN_CEIL((size_t)sz, RTE_CACHE_LINE_SIZE));
	if (r == NULL)
		return NULL;
	snprintf(name, sizeof(name), "cat_dump_%s%u", what, w);
	if (rte_ring_init(r, name, RING_SIZE, RING_F_SP_ENQ | RING_F_SC_DEQ) != 0) {
		free(r);
		return NULL;
	}
	return r;
}

static void *bufs_new(struct rte_ring *free_ring, unsigned int n)
{
	uint8_t *mem = aligned_alloc(RTE_CACHE_LINE_SIZE, n * ag.buf_size);

	if (mem == NULL)
		return NULL;
	for (unsigned int i = 0; i < n; i++)
		(void)rte_ring_sp_enqueue(free_ring, mem + i * ag.buf_size);
	return mem;
}

/* Make the rings and buffers on first use; workers see each worker's
 * once it is complete. 0 or -ENOMEM. */
static int agent_setup(struct cat_nodechan *cc)
{
	const struct cat_dp *dp = cc->agent->dp;

	if (ag.ready)
		return 0;
	ag.n_workers = dp->n_workers;
	ag.rec_max = dp->mtu;
	ag.buf_size = RTE_ALIGN_CEIL(sizeof(struct dbuf) + ag.rec_max + 8,
				     RTE_CACHE_LINE_SIZE);
	ag.bufs_a = RTE_MIN(BUFS_A_MAX, RTE_MAX(BUFS_A_MIN,
				(unsigned int)(BUFS_A_BYTES / ag.buf_size)));
	ag.b64_cap = sodium_base64_ENCODED_LEN(ag.rec_max,
					       sodium_base64_VARIANT_ORIGINAL);
	ag.b64 = malloc(ag.b64_cap);
	ag.bin = malloc(ag.rec_max + 8);
	if (ag.b64 == NULL || ag.bin == NULL)
		return -ENOMEM;
	for (uint16_t w = 0; w < ag.n_workers; w++) {
		struct wk *k = aligned_alloc(RTE_CACHE_LINE_SIZE, sizeof(*k));

		if (k == NULL)
			return -ENOMEM;
		memset(k, 0, sizeof(*k));
		k->to_w = ring_new("to", w);
		k->from_w = ring_new("from", w);
		k->free_w = ring_new("fw", w);
		k->free_a = ring_new("fa", w);
		if (k->to_w == NULL || k->from_w == NULL || k->free_w == NULL ||
		    k->free_a == NULL)
			return -ENOMEM;
		k->mem_w = bufs_new(k->free_w, BUFS_W);
		k->mem_a = bufs_new(k->free_a, ag.bufs_a);
		if (k->mem_w == NULL || k->mem_a == NULL)
			return -ENOMEM;
		k->load_slot = UINT32_MAX;
		__atomic_store_n(&wks[w], k, __ATOMIC_RELEASE);
	}
	ag.ready = 1;
	return 0;
}

static int get_u32(json_t *o, const char *name, uint32_t *v)
{
	json_t *j = json_object_get(o, name);

	if (!json_is_integer(j) || json_integer_value(j) < 0 ||
	    json_integer_value(j) > UINT32_MAX)
		return -EINVAL;
	*v = (uint32_t)json_integer_value(j);
	return 0;
}

static int get_u64(json_t *o, const char *name, uint64_t *v)
{
	json_t *j = json_object_get(o, name);

	if (!json_is_integer(j) || json_integer_value(j) < 0)
		return -EINVAL;
	*v = (uint64_t)json_integer_value(j);
	return 0;
}

static void send_json(struct cat_nodechan *cc, uint64_t now, json_t *o)
{
	(void)cat_nodechan_send(cc, now, o);
}

/* A command buffer to worker w, or NULL (all in use: try again later). */
static struct dbuf *take_a(uint16_t w)
{
	void *p;

	return rte_ring_sc_dequeue(wks[w]->free_a, &p) == 0 ? p : NULL;
}

static void to_worker(uint16_t w, struct dbuf *b)
{
	(void)rte_ring_sp_enqueue(wks[w]->to_w, b);
}

static void dump_request(struct cat_nodechan *cc, uint64_t now, json_t *o)
{
	const struct cat_dp *dp = cc->agent->dp;
	uint32_t req, slot;
	uint64_t rate = 0;
	struct dbuf *b;
	uint16_t w;

	if (get_u32(o, "req", &req) < 0 || get_u32(o, "slot", &slot) < 0 ||
	    slot >= dp->slot_count ||
	    (json_object_get(o, "rate") != NULL && get_u64(o, "rate", &rate) < 0)) {
		say(cc, RTE_LOG_WARNING, "dump_request without a req, a slot below %u "
		    "and an optional rate >= 0: ignored", dp->slot_count);
		return;
	}
	w = (uint16_t)cat_worker_slot_owner(slot, dp->n_workers);
	b = take_a(w);
	if (b == NULL) {
		send_json(cc, now, json_pack("{s:s,s:i,s:I,s:I,s:s}", "type", "dump_abort",
			  "node", (int)dp->node_id, "req", (json_int_t)req,
			  "slot", (json_int_t)slot, "why", "the worker's command ring is full"));
		return;
	}
	b->kind = K_DUMP_START;
	b->slot = slot;
	b->req = req;
	/* The node's share, split over its workers: each may walk a slot of
	 * its own at once, and together they stay within it. */
	b->a = rate == 0 ? 0 : rate / dp->n_workers ? rate / dp->n_workers : 1;
	to_worker(w, b);
}

static void dump_cancel(struct cat_nodechan *cc, json_t *o)
{
	uint32_t req;

	if (get_u32(o, "req", &req) < 0) {
		say(cc, RTE_LOG_WARNING, "dump_cancel without a req: ignored");
		return;
	}
	for (uint16_t w = 0; w < ag.n_workers; w++) {
		struct dbuf *b = take_a(w);

		if (b == NULL)
			continue; /* its dump runs on; catena-control drops what comes */
		b->kind = K_DUMP_CANCEL;
		b->req = req;
		to_worker(w, b);
	}
}

int cat_dump_on_msg(struct cat_nodechan *cc, uint64_t now_ms, const char *type,
		    json_t *o)
{
	if (strncmp(type, "dump_", 5) != 0 && strncmp(type, "load_", 5) != 0)
		return 0;
	if (agent_setup(cc) < 0) {
		say(cc, RTE_LOG_ERR, "%s: out of memory for the dump rings: ignored", type);
		return 1;
	}
	if (strcmp(type, "dump_request") == 0) {
		dump_request(cc, now_ms, o);
	} else if (strcmp(type, "dump_cancel") == 0) {
		dump_cancel(cc, o);
	} else if (strcmp(type, "load_begin") == 0 || strcmp(type, "load_data") == 0 ||
		   strcmp(type, "load_end") == 0) {
		uint32_t req, slot;

		if (get_u32(o, "req", &req) < 0 || get_u32(o, "slot", &slot) < 0 ||
		    slot >= cc->agent->dp->slot_count) {
			say(cc, RTE_LOG_WARNING, "%s without a req and a slot below %u: ignored",
			    type, cc->agent->dp->slot_count);
			return 1;
		}
		if (ag.load_n == LOAD_FIFO) {
			say(cc, RTE_LOG_WARNING, "%s: %u restore messages wait already: ignored",
			    type, LOAD_FIFO);
			return 1;
		}
		ag.load[(ag.load_head + ag.load_n++) % LOAD_FIFO] = json_incref(o);
	} else {
		say(cc, RTE_LOG_WARNING, "ignored a message of unknown type \"%.40s\"", type);
	}
	return 1;
}

/* One record of a load_data line, ["key64","value64",version], into b. */
static int load_record(json_t *rec, struct dbuf *b)
{
	const char *k64 = json_string_value(json_array_get(rec, 0));
	const char *v64 = json_string_value(json_array_get(rec, 1));
	json_t *jv = json_array_get(rec, 2);
	size_t kl, vl;

	if (!json_is_array(rec) || k64 == NULL || v64 == NULL || !json_is_integer(jv) ||
	    json_integer_value(jv) <= 0)
		return -EINVAL;
	if (sodium_base642bin(b->data, ag.rec_max, k64, strlen(k64), NULL, &kl, NULL,
			      sodium_base64_VARIANT_ORIGINAL) != 0 || kl == 0 || kl > UINT16_MAX)
		return -EINVAL;
	if (sodium_base642bin(b->data + kl, ag.rec_max - kl, v64, strlen(v64), NULL, &vl,
			      NULL, sodium_base64_VARIANT_ORIGINAL) != 0)
		return -EINVAL;
	b->key_len = (uint16_t)kl;
	b->value_len = (uint32_t)vl;
	b->version = (uint64_t)json_integer_value(jv);
	return 0;
}

/* Hand the oldest restore message's part that fits to its worker. */
static void load_push(struct cat_nodechan *cc, uint64_t now)
{
	const struct cat_dp *dp = cc->agent->dp;

	while (ag.load_n > 0) {
		json_t *o = ag.load[ag.load_head];
		const char *type = json_string_value(json_object_get(o, "type"));
		uint32_t req = 0, slot = 0;
		uint16_t w;
		struct dbuf *b;

		(void)get_u32(o, "req", &req);
		(void)get_u32(o, "slot", &slot);
		w = (uint16_t)cat_worker_slot_owner(slot, dp->n_workers);
		if (strcmp(type, "load_data") == 0) {
			json_t *recs = json_object_get(o, "recs");
			size_t n = json_array_size(recs);

			for (; ag.load_i < n; ag.load_i++) {
				b = take_a(w);
				if (b == NULL)
					return;
				b->kind = K_LOAD_ITEM;
				b->slot = slot;
				b->req = req;
				if (load_record(json_array_get(recs, ag.load_i), b) < 0) {
					/* The worker fails the slot on it. */
					b->key_len = 0;
					b->value_len = UINT32_MAX;
					b->version = 1;
				}
				to_worker(w, b);
			}
			send_json(cc, now, json_pack("{s:s,s:i,s:I,s:I,s:O}", "type", "load_ack",
				  "node", (int)dp->node_id, "req", (json_int_t)req,
				  "slot", (json_int_t)slot, "seq",
				  json_object_get(o, "seq") ? json_object_get(o, "seq") : json_null()));
		} else {
			uint64_t v = 0;

			b = take_a(w);
			if (b == NULL)
				return;
			(void)get_u64(o, "version", &v);
			b->kind = strcmp(type, "load_begin") == 0 ? K_LOAD_BEGIN : K_LOAD_END;
			b->slot = slot;
			b->req = req;
			b->version = v;
			to_worker(w, b);
			/* Handed over: catena-control may send the next one (the
			 * worker's load_done says later how the slot went). */
			send_json(cc, now, json_pack("{s:s,s:i,s:I,s:I}", "type",
				  "load_ack", "node", (int)dp->node_id,
				  "req", (json_int_t)req, "slot", (json_int_t)slot));
		}
		json_decref(o);
		ag.load_i = 0;
		ag.load_head = (ag.load_head + 1) % LOAD_FIFO;
		ag.load_n--;
	}
}

static void batch_flush(struct cat_nodechan *cc, uint64_t now, uint16_t w)
{
	if (ag.batch[w] == NULL)
		return;
	send_json(cc, now, json_pack("{s:s,s:i,s:I,s:I,s:o}", "type", "dump_data",
		  "node", (int)cc->agent->dp->node_id,
		  "req", (json_int_t)ag.batch_req[w], "slot", (json_int_t)ag.batch_slot[w],
		  "recs", ag.batch[w]));
	ag.batch[w] = NULL;
	ag.batch_bytes[w] = 0;
}

static json_t *b64(const uint8_t *p, size_t n)
{
	sodium_bin2base64(ag.b64, ag.b64_cap, p, n, sodium_base64_VARIANT_ORIGINAL);
	return json_string(ag.b64);
}

static void from_worker(struct cat_nodechan *cc, uint64_t now, uint16_t w,
			struct dbuf *b)
{
	const struct cat_dp *dp = cc->agent->dp;

	switch (b->kind) {
	case K_PUT:
	case K_DEL: {
		size_t enc = 4 * ((b->key_len + 2u) / 3u) +
			     4 * ((b->value_len + 2u) / 3u) + 40u;

		if (ag.batch[w] != NULL &&
		    (ag.batch_req[w] != b->req || ag.batch_slot[w] != b->slot ||
		     ag.batch_bytes[w] + enc > LINE_BYTES))
			batch_flush(cc, now, w);
		if (ag.batch[w] == NULL) {
			ag.batch[w] = json_array();
			ag.batch_req[w] = b->req;
			ag.batch_slot[w] = b->slot;
		}
		json_array_append_new(ag.batch[w], json_pack("[i,o,o,I]",
			b->kind == K_PUT, b64(b->data, b->key_len),
			b64(b->data + b->key_len, b->value_len), (json_int_t)b->version));
		ag.batch_bytes[w] += enc;
		if (json_array_size(ag.batch[w]) >= LINE_RECS)
			batch_flush(cc, now, w);
		return;
	}
	case K_END:
		batch_flush(cc, now, w);
		send_json(cc, now, json_pack("{s:s,s:i,s:I,s:I,s:I,s:I,s:I}", "type", "dump_end",
			  "node", (int)dp->node_id, "req", (json_int_t)b->req,
			  "slot", (json_int_t)b->slot, "version", (json_int_t)b->version,
			  "walked", (json_int_t)b->a, "replayed", (json_int_t)b->b));
		return;
	case K_ABORT:
		batch_flush(cc, now, w);
		send_json(cc, now, json_pack("{s:s,s:i,s:I,s:I,s:s%}", "type", "dump_abort",
			  "node", (int)dp->node_id, "req", (json_int_t)b->req,
			  "slot", (json_int_t)b->slot, "why", (const char *)b->data,
			  (size_t)b->value_len));
		return;
	case K_LOADED:
	case K_LOAD_FAILED:
		send_json(cc, now, json_pack("{s:s,s:i,s:I,s:I,s:I,s:I,s:s%}", "type",
			  b->kind == K_LOADED ? "load_done" : "load_failed",
			  "node", (int)dp->node_id, "req", (json_int_t)b->req,
			  "slot", (json_int_t)b->slot, "version", (json_int_t)b->version,
			  "keys", (json_int_t)b->a, "why", (const char *)b->data,
			  (size_t)b->value_len));
		return;
	}
}

void cat_dump_agent_poll(struct cat_nodechan *cc, uint64_t now_ms)
{
	if (!ag.ready)
		return;
	load_push(cc, now_ms);
	for (uint16_t w = 0; w < ag.n_workers; w++) {
		struct wk *k = wks[w];
		void *objs[64];
		unsigned int n;

		while (cat_nodechan_backlog(cc) < BACKLOG_MAX &&
		       (n = rte_ring_sc_dequeue_burst(k->from_w, objs, 64, NULL)) > 0) {
			for (unsigned int i = 0; i < n; i++) {
				from_worker(cc, now_ms, w, objs[i]);
				(void)rte_ring_sp_enqueue(k->free_w, objs[i]);
			}
		}
		/* What came is sent now: a slow trickle never waits. */
		batch_flush(cc, now_ms, w);
	}
}

int cat_dump_agent_busy(void)
{
	if (!ag.ready)
		return 0;
	/* A restore message waits: worth not sleeping only if its worker has
	 * a buffer free (else the worker frees them at its own pace). */
	if (ag.load_n > 0) {
		uint32_t slot = 0;

		(void)get_u32(ag.load[ag.load_head], "slot", &slot);
		if (rte_ring_count(wks[cat_worker_slot_owner(slot, ag.n_workers)]->free_a) > 0)
			return 1;
	}
	for (uint16_t w = 0; w < ag.n_workers; w++)
		if (rte_ring_count(wks[w]->from_w) > 0)
			return 1;
	return 0;
}
