/*
 * catena-control's backup and restore (control/backup.h, docs/BACKUP.md).
 *
 * Backup: a few dumps asked of each tail node at a time (it queues them
 * and walks one slot at a time), every tail at once, each given an equal
 * share of the rate. A tail's stream for a slot is
 * the keys its walk met and the new state of every key written while it
 * walked, in the order the tail made them; the last record of each key
 * is its state at the cut, so the slot is resolved here (sorted by key,
 * the last record of each kept, deletes dropped) and written as one
 * section. A dump that aborts or goes silent is asked again, of whoever
 * is the slot's tail by then.
 *
 * catena-control writes FILE itself, not catenactl: the management
 * socket is one bounded JSON line per request and answer, and the data
 * comes to catena-control anyway. FILE.partial is renamed to FILE only
 * once the trailer is written and fsync'd, so FILE is always a whole
 * backup or absent.
 *
 * Restore: FILE is checked whole first (nothing is sent from a damaged
 * file); then slots are read one section at a time and sent to every
 * member of their chain, up to LOAD_SLOTS slots in flight, each node's
 * messages paced by its acknowledgements (load_ack: handed to the worker;
 * load_done: the slot is in).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include <sodium.h>

#include "control/backup.h"
#include "control/backup_file.h"
#include "control/ctl.h"
#include "control/mgmt.h"

#define ACTIVE_MAX 256u         /* dumps asked and not ended */
#define PER_TAIL 4u             /* of them at one tail node (it queues them) */
#define LOAD_WINDOW 6u          /* restore messages unacknowledged per node */
#define LOAD_SLOTS 64u          /* slots being restored at once */
#define LOAD_CHUNK_RECS 200u
#define LOAD_CHUNK_BYTES (32u * 1024u)
#define TICK_MS 50u

enum job_kind { JOB_NONE, JOB_BACKUP, JOB_RESTORE };
enum job_state { JS_RUNNING, JS_DONE, JS_FAILED, JS_CANCELLED };
enum slot_state { SL_PENDING, SL_ACTIVE, SL_DONE };

/* One record of a dump stream as it came. */
struct rec {
	uint8_t *key, *val;
	uint16_t klen;
	uint32_t vlen;
	uint64_t version, seq;
	int put;
};

struct dump {
	uint16_t node;         /* 0: free */
	uint32_t req, slot;
	uint64_t last_ms;
	struct rec *recs;
	size_t n, cap;
};

/* A slot being restored: the members that still owe its load_done. */
struct lslot {
	uint32_t slot;         /* UINT32_MAX: free */
	uint16_t waiting[CAT_MAP_CHAIN_LEN_MAX];
	unsigned int n_waiting;
	uint64_t keys;
};

struct job {
	enum job_kind kind;
	enum job_state state;
	char file[PATH_MAX], partial[PATH_MAX + 16];
	char error[512];
	char last_retry[300];  /* why the last slot was asked again */
	uint32_t slot_count, epoch, req_base;
	uint64_t rate, rate_each;
	uint64_t started_ms, ended_ms, last_progress_ms;
	uint32_t slots_done, slots_total;
	uint64_t keys, bytes, bytes_total, retries;
	uint64_t walked, replayed;    /* backup: records the tails sent, by kind */
	/* backup */
	FILE *f;
	struct cat_bk_writer w;
	uint8_t *sl;           /* enum slot_state per slot */
	uint8_t *attempts;
	uint64_t *retry_at;    /* per slot: not asked again before (ms) */
	struct dump active[ACTIVE_MAX];
	uint32_t next_req;
	/* restore */
	FILE *in;
	struct cat_bk_reader rd;
	int force, eof;
	json_t *outq[CAT_MAP_NODES_MAX]; /* by node index in map: messages to send */
	unsigned int unacked[CAT_MAP_NODES_MAX];
	struct lslot ls[LOAD_SLOTS];
	uint32_t req;
};

static struct job g_job;

static int node_index(const struct cat_ctl *c, uint16_t id)
{
	for (uint16_t i = 0; i < c->map->n_nodes; i++)
		if (c->map->nodes[i].id == id)
			return i;
	return -1;
}

static int node_ready(struct cat_ctl *c, uint16_t id)
{
	const struct cat_ctl_node *n = cat_ctl_node(c, id);

	return n != NULL && n->state == CAT_CTL_NODE_UP && n->conn != NULL &&
	       !n->conn->closing && !n->conn->dead;
}

static void dump_free(struct dump *d)
{
	for (size_t i = 0; i < d->n; i++) {
		free(d->recs[i].key);
		free(d->recs[i].val);
	}
	free(d->recs);
	memset(d, 0, sizeof(*d));
}

static void job_close(struct job *j)
{
	for (unsigned int i = 0; i < ACTIVE_MAX; i++)
		dump_free(&j->active[i]);
	if (j->f != NULL) {
		fclose(j->f);
		j->f = NULL;
		if (j->state != JS_DONE)
			unlink(j->partial);
	}
	cat_bk_writer_free(&j->w);
	if (j->in != NULL) {
		fclose(j->in);
		j->in = NULL;
	}
	cat_bk_reader_free(&j->rd);
	for (unsigned int i = 0; i < CAT_MAP_NODES_MAX; i++) {
		json_decref(j->outq[i]);
		j->outq[i] = NULL;
	}
	free(j->sl);
	free(j->attempts);
	free(j->retry_at);
	j->sl = j->attempts = NULL;
	j->retry_at = NULL;
}

static void job_end(struct cat_ctl *c, enum job_state st, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void job_end(struct cat_ctl *c, enum job_state st, const char *fmt, ...)
{
	struct job *j = &g_job;
	const char *what = j->kind == JOB_BACKUP ? "backup" : "restore";
	va_list ap;

	if (fmt != NULL) {
		va_start(ap, fmt);
		vsnprintf(j->error, sizeof(j->error), fmt, ap);
		va_end(ap);
	}
	j->state = st;
	j->ended_ms = cat_ctl_now_ms();
	if (j->kind == JOB_BACKUP) {
		/* Tails still walking stop; what they send is dropped. */
		json_t *m = json_pack("{s:s,s:I}", "type", "dump_cancel", "req", (json_int_t)0);

		for (unsigned int i = 0; i < ACTIVE_MAX; i++) {
			const struct cat_ctl_node *n;

			if (j->active[i].node == 0)
				continue;
			n = cat_ctl_node(c, j->active[i].node);
			json_object_set_new(m, "req", json_integer(j->active[i].req));
			if (n != NULL && n->conn != NULL)
				cat_ctl_send(n->conn, m);
		}
		json_decref(m);
	}
	job_close(j);
	if (st == JS_DONE) {
		char again[420] = "";

		if (j->retries)
			snprintf(again, sizeof(again), "; %" PRIu64 " slot dumps asked again, "
				 "the last: %.300s", j->retries, j->last_retry);
		cat_ctl_event(c, "%s %s: %u slots, %" PRIu64 " keys, %" PRIu64 " bytes in %.1f s%s",
			      what, j->file, j->slots_done, j->keys, j->bytes,
			      (double)(j->ended_ms - j->started_ms) / 1000.0, again);
	}
	else
		cat_ctl_event(c, "%s %s %s: %s", what, j->file,
			      st == JS_CANCELLED ? "cancelled" : "failed", j->error);
}

/* ---- backup ------------------------------------------------------------ */

static int cmp_rec(const void *a, const void *b)
{
	const struct rec *x = a, *y = b;
	size_t n = x->klen < y->klen ? x->klen : y->klen;
	int d = memcmp(x->key, y->key, n);

	if (d != 0)
		return d;
	if (x->klen != y->klen)
		return x->klen < y->klen ? -1 : 1;
	return (x->seq > y->seq) - (x->seq < y->seq);
}

/* The slot's stream resolved and written as one section. 0 or -errno. */
static int write_slot(struct job *j, struct dump *d, uint64_t cut)
{
	uint64_t keys = 0, bytes = 0;
	int rc;

	if (cut == 0 && d->n == 0)
		return 0; /* never written: the file leaves it out */
	qsort(d->recs, d->n, sizeof(d->recs[0]), cmp_rec);
	rc = cat_bk_writer_slot_begin(&j->w, d->slot, cut);
	for (size_t i = 0; rc == 0 && i < d->n; i++) {
		const struct rec *r = &d->recs[i];

		if (i + 1 < d->n && r->klen == d->recs[i + 1].klen &&
		    memcmp(r->key, d->recs[i + 1].key, r->klen) == 0)
			continue; /* a later record of the same key wins */
		if (!r->put)
			continue;
		rc = cat_bk_writer_add(&j->w, &(struct cat_bk_rec){
			.key = r->key, .key_len = r->klen, .value = r->val,
			.value_len = r->vlen, .version = r->version });
		keys++;
		bytes += r->klen + (uint64_t)r->vlen;
	}
	if (rc == 0)
		rc = cat_bk_writer_slot_end(&j->w);
	j->keys += keys;
	j->bytes += bytes;
	return rc;
}

static struct dump *dump_of(struct job *j, uint16_t node, uint32_t req)
{
	for (unsigned int i = 0; i < ACTIVE_MAX; i++)
		if (j->active[i].node == node && j->active[i].req == req)
			return &j->active[i];
	return NULL;
}

static void retry_slot(struct cat_ctl *c, struct dump *d, const char *why)
{
	struct job *j = &g_job;
	uint32_t s = d->slot;
	const struct cat_ctl_node *n = cat_ctl_node(c, d->node);

	/* The tail may still walk it: let go of it before asking again. */
	if (n != NULL && n->conn != NULL) {
		json_t *m = json_pack("{s:s,s:I}", "type", "dump_cancel",
				      "req", (json_int_t)d->req);

		cat_ctl_send(n->conn, m);
		json_decref(m);
	}
	j->sl[s] = SL_PENDING;
	j->retries++;
	dump_free(d);
	/* What stops a dump (a failover, a new tail catching up, a join)
	 * takes a moment to pass: wait longer after each attempt. */
	j->retry_at[s] = cat_ctl_now_ms() + CAT_CTL_BACKUP_RETRY_MS * (j->attempts[s] + 1u);
	if (++j->attempts[s] >= CAT_CTL_BACKUP_ATTEMPTS)
		job_end(c, JS_FAILED, "slot %u: no dump after %u attempts (last: %s)",
			s, CAT_CTL_BACKUP_ATTEMPTS, why);
}

static int b64_dec(const char *s, uint8_t **out, size_t *len)
{
	size_t n = s != NULL ? strlen(s) : 0, got = 0;
	uint8_t *p;

	if (s == NULL)
		return -EINVAL;
	p = malloc(n / 4 * 3 + 3);
	if (p == NULL)
		return -ENOMEM;
	if (sodium_base642bin(p, n / 4 * 3 + 3, s, n, NULL, &got, NULL,
			      sodium_base64_VARIANT_ORIGINAL) != 0) {
		free(p);
		return -EINVAL;
	}
	*out = p;
	*len = got;
	return 0;
}

static int dump_data(struct dump *d, json_t *recs, char *why, size_t whylen)
{
	size_t i;
	json_t *r;

	if (!json_is_array(recs)) {
		snprintf(why, whylen, "dump_data: \"recs\" must be an array");
		return -EINVAL;
	}
	json_array_foreach(recs, i, r) {
		struct rec x = { 0 };
		size_t kl = 0, vl = 0;
		json_t *jv = json_array_get(r, 3);

		if (d->n == d->cap) {
			size_t cap = d->cap ? 2 * d->cap : 256;
			struct rec *p = realloc(d->recs, cap * sizeof(*p));

			if (p == NULL) {
				snprintf(why, whylen, "dump_data: control plane out of memory");
				return -ENOMEM;
			}
			d->recs = p;
			d->cap = cap;
		}
		if (!json_is_array(r) || json_array_size(r) != 4 ||
		    !json_is_integer(json_array_get(r, 0)) || !json_is_integer(jv) ||
		    json_integer_value(jv) < 0 ||
		    b64_dec(json_string_value(json_array_get(r, 1)), &x.key, &kl) < 0 ||
		    b64_dec(json_string_value(json_array_get(r, 2)), &x.val, &vl) < 0 ||
		    kl == 0 || kl > UINT16_MAX || vl > UINT32_MAX) {
			free(x.key);
			free(x.val);
			snprintf(why, whylen, "dump_data: a record is not [put, \"key\", "
				 "\"value\" (base64), version]");
			return -EINVAL;
		}
		x.klen = (uint16_t)kl;
		x.vlen = (uint32_t)vl;
		x.put = json_integer_value(json_array_get(r, 0)) != 0;
		x.version = (uint64_t)json_integer_value(jv);
		x.seq = d->n;
		d->recs[d->n++] = x;
	}
	return 0;
}

static int backup_msg(struct cat_ctl *c, uint16_t node, const char *type,
		      json_t *msg, char *why, size_t whylen)
{
	struct job *j = &g_job;
	json_t *jreq = json_object_get(msg, "req"), *jv = json_object_get(msg, "version");
	struct dump *d;
	int rc;

	if (!json_is_integer(jreq)) {
		snprintf(why, whylen, "%s: \"req\" must be a number", type);
		return -EINVAL;
	}
	d = j->kind == JOB_BACKUP && j->state == JS_RUNNING ?
	    dump_of(j, node, (uint32_t)json_integer_value(jreq)) : NULL;
	if (d == NULL)
		return 1; /* cancelled, retried or finished: late */
	/* The tail works through what it was asked in order: news of one
	 * is news of those queued behind it. */
	for (unsigned int i = 0; i < ACTIVE_MAX; i++)
		if (j->active[i].node == node)
			j->active[i].last_ms = cat_ctl_now_ms();
	if (strcmp(type, "dump_data") == 0)
		return dump_data(d, json_object_get(msg, "recs"), why, whylen) < 0 ? -EINVAL : 1;
	if (strcmp(type, "dump_abort") == 0) {
		const char *w = json_string_value(json_object_get(msg, "why"));

		snprintf(j->last_retry, sizeof(j->last_retry), "slot %u at node %u: %s",
			 d->slot, node, w ? w : "no reason given");
		retry_slot(c, d, w ? w : "no reason given");
		return 1;
	}
	if (strcmp(type, "dump_end") != 0) {
		snprintf(why, whylen, "unknown type '%.40s'", type);
		return -EINVAL;
	}
	if (!json_is_integer(jv) || json_integer_value(jv) < 0) {
		snprintf(why, whylen, "dump_end: \"version\" must be a number >= 0");
		return -EINVAL;
	}
	j->walked += (uint64_t)json_integer_value(json_object_get(msg, "walked"));
	j->replayed += (uint64_t)json_integer_value(json_object_get(msg, "replayed"));
	rc = write_slot(j, d, (uint64_t)json_integer_value(jv));
	j->sl[d->slot] = SL_DONE;
	j->slots_done++;
	j->last_progress_ms = d->last_ms;
	dump_free(d);
	if (rc < 0)
		job_end(c, JS_FAILED, "writing %s: %s", j->partial, strerror(-rc));
	return 1;
}

/* The tails of the slots still to dump, each asked for its lowest. */
static void backup_ask(struct cat_ctl *c, uint64_t now)
{
	struct job *j = &g_job;
	uint8_t busy[CAT_MAP_NODES_MAX] = { 0 }; /* dumps asked of each node */
	unsigned int free_i = 0;

	for (unsigned int i = 0; i < ACTIVE_MAX; i++) {
		struct dump *d = &j->active[i];
		int k;

		if (d->node == 0)
			continue;
		if (now - d->last_ms > CAT_CTL_BACKUP_SLOT_MS || !node_ready(c, d->node)) {
			snprintf(j->last_retry, sizeof(j->last_retry),
				 "slot %u at node %u: it went silent or down", d->slot, d->node);
			retry_slot(c, d, "its tail went silent or down");
			if (j->state != JS_RUNNING)
				return;
			continue;
		}
		if ((k = node_index(c, d->node)) >= 0)
			busy[k]++;
	}
	for (uint32_t s = 0; s < j->slot_count; s++) {
		const struct cat_map_chain *ch;
		uint16_t tail;
		json_t *m;
		int k;

		if (j->sl[s] != SL_PENDING || j->retry_at[s] > now)
			continue;
		ch = cat_map_slot_chain(c->map, s);
		/* A state transfer wants the slot's one snapshot cursor: later
		 * (the backup fails if nothing moves for a minute). */
		if (ch->joining != 0 || ch->move_to != 0)
			continue;
		tail = cat_map_chain_tail(ch);
		k = node_index(c, tail);
		if (k < 0 || busy[k] >= PER_TAIL || !node_ready(c, tail))
			continue;
		while (free_i < ACTIVE_MAX && j->active[free_i].node != 0)
			free_i++;
		if (free_i == ACTIVE_MAX)
			return;
		busy[k]++;
		j->sl[s] = SL_ACTIVE;
		j->active[free_i] = (struct dump){ .node = tail, .req = ++j->next_req,
						   .slot = s, .last_ms = now };
		m = json_pack("{s:s,s:I,s:I,s:I}", "type", "dump_request",
			      "req", (json_int_t)j->next_req, "slot", (json_int_t)s,
			      "rate", (json_int_t)j->rate_each);
		cat_ctl_send(cat_ctl_node(c, tail)->conn, m);
		json_decref(m);
	}
}

static void backup_tick(struct cat_ctl *c, uint64_t now)
{
	struct job *j = &g_job;
	int rc;

	backup_ask(c, now);
	if (j->state != JS_RUNNING)
		return;
	if (j->slots_done < j->slot_count) {
		if (now - j->last_progress_ms > 6 * CAT_CTL_BACKUP_SLOT_MS)
			job_end(c, JS_FAILED, "no slot dumped for %u s: are the tails up?",
				6 * CAT_CTL_BACKUP_SLOT_MS / 1000);
		return;
	}
	rc = cat_bk_writer_finish(&j->w);
	if (rc == 0 && fsync(fileno(j->f)) != 0)
		rc = -errno;
	if (rc == 0 && rename(j->partial, j->file) != 0)
		rc = -errno;
	if (rc == 0) {
		char dir[sizeof(j->file)];
		int fd;

		memcpy(dir, j->file, sizeof(dir));
		fd = open(dirname(dir), O_RDONLY | O_DIRECTORY);
		if (fd >= 0) {
			(void)fsync(fd);
			close(fd);
		}
		j->state = JS_DONE; /* the partial name is gone: nothing to unlink */
		job_end(c, JS_DONE, NULL);
	} else {
		job_end(c, JS_FAILED, "finishing %s: %s", j->partial, strerror(-rc));
	}
}

static void backup_start(struct cat_ctl *c, struct cat_ctl_conn *conn,
			 const char *file, json_t *jrate)
{
	struct job *j = &g_job;
	uint8_t tails[CAT_MAP_NODES_MAX] = { 0 };
	unsigned int n_tails = 0;
	struct cat_bk_header h = { 0 };
	int fd;

	if (jrate != NULL && (!json_is_integer(jrate) || json_integer_value(jrate) < 0)) {
		cat_ctl_mgmt_reply_err(conn, "backup: \"rate\" must be bytes/s >= 0 (0: no limit)");
		return;
	}
	memset(j, 0, sizeof(*j));
	j->kind = JOB_BACKUP;
	j->slot_count = c->map->slot_count;
	j->epoch = c->map->epoch;
	j->rate = jrate != NULL ? (uint64_t)json_integer_value(jrate) :
		  CAT_CTL_BACKUP_RATE_DEFAULT;
	for (uint32_t s = 0; s < j->slot_count; s++) {
		uint16_t tail = cat_map_chain_tail(cat_map_slot_chain(c->map, s));
		int k = node_index(c, tail);

		if (!node_ready(c, tail)) {
			cat_ctl_mgmt_reply_err(conn, "backup: node %u, the tail of slot %u, "
					       "is not up: nothing written", tail, s);
			job_close(j);
			j->kind = JOB_NONE;
			return;
		}
		if (k >= 0 && !tails[k]++)
			n_tails++;
	}
	j->rate_each = n_tails && j->rate ? (j->rate + n_tails - 1) / n_tails : 0;
	snprintf(j->file, sizeof(j->file), "%s", file);
	snprintf(j->partial, sizeof(j->partial), "%s.partial", file);
	j->sl = calloc(j->slot_count, 1);
	j->attempts = calloc(j->slot_count, 1);
	j->retry_at = calloc(j->slot_count, sizeof(j->retry_at[0]));
	fd = open(j->partial, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (j->sl == NULL || j->attempts == NULL || j->retry_at == NULL || fd < 0 ||
	    (j->f = fdopen(fd, "w")) == NULL) {
		int e = errno;

		if (fd >= 0 && j->f == NULL)
			close(fd);
		cat_ctl_mgmt_reply_err(conn, "backup: cannot create %s: %s%s", j->partial,
				       strerror(e), e == EEXIST ?
				       " (another backup's leftover? remove it)" : "");
		job_close(j);
		j->kind = JOB_NONE;
		return;
	}
	h.format = CAT_BK_FORMAT;
	h.slot_count = j->slot_count;
	h.epoch = j->epoch;
	h.created = cat_ctl_now_unix();
	cat_bk_writer_begin(&j->w, j->f, &h);
	j->state = JS_RUNNING;
	j->slots_total = j->slot_count;
	j->started_ms = j->last_progress_ms = cat_ctl_now_ms();
	cat_ctl_event(c, "backup %s started: %u slots from %u tails, %" PRIu64 " bytes/s",
		      file, j->slot_count, n_tails, j->rate);
	cat_ctl_mgmt_reply_ok(conn, json_pack("{s:s,s:I,s:I,s:I,s:I}", "file", file,
		"epoch", (json_int_t)j->epoch, "slots", (json_int_t)j->slot_count,
		"tails", (json_int_t)n_tails, "rate", (json_int_t)j->rate));
	backup_ask(c, j->started_ms);
}

/* ---- restore ----------------------------------------------------------- */

static int slot_of_lslot(const struct job *j, uint32_t slot)
{
	for (unsigned int i = 0; i < LOAD_SLOTS; i++)
		if (j->ls[i].slot == slot)
			return (int)i;
	return -1;
}

static void queue_to(struct job *j, int k, json_t *m)
{
	if (j->outq[k] == NULL)
		j->outq[k] = json_array();
	json_array_append_new(j->outq[k], m);
}

/* The next section of the file into the queues of its chain's members.
 * 1 if one was queued, 0 at the end, -errno with why. */
static int restore_read_slot(struct cat_ctl *c, struct job *j, int li,
			     char *why, size_t whylen)
{
	struct cat_bk_block b;
	const struct cat_map_chain *ch = NULL;
	json_t *recs = NULL;
	size_t chunk_bytes = 0;
	uint32_t slot = UINT32_MAX, seq = 0;
	int rc;

	for (;;) {
		rc = cat_bk_reader_next(&j->rd, &b, why, whylen);
		if (rc <= 0)
			return rc;
		if (b.type == CAT_BK_TRAILER)
			return 0;
		if (b.type == CAT_BK_SLOT_BEGIN) {
			slot = cat_bk_get32(b.payload);
			ch = cat_map_slot_chain(c->map, slot);
			j->ls[li].slot = slot;
			j->ls[li].n_waiting = 0;
			j->ls[li].keys = 0;
			for (uint8_t m = 0; m < ch->len; m++) {
				j->ls[li].waiting[j->ls[li].n_waiting++] = ch->nodes[m];
				queue_to(j, node_index(c, ch->nodes[m]),
					 json_pack("{s:s,s:I,s:I}", "type", "load_begin",
						   "req", (json_int_t)j->req, "slot", (json_int_t)slot));
			}
			recs = json_array();
			continue;
		}
		if (b.type == CAT_BK_RECORDS) {
			struct cat_bk_rec r;
			size_t pos = 0;

			while (cat_bk_records_next(&b, &pos, &r) == 1) {
				char *k64 = malloc(sodium_base64_ENCODED_LEN(r.key_len,
						   sodium_base64_VARIANT_ORIGINAL));
				char *v64 = malloc(sodium_base64_ENCODED_LEN(r.value_len,
						   sodium_base64_VARIANT_ORIGINAL));

				if (k64 == NULL || v64 == NULL) {
					free(k64);
					free(v64);
					json_decref(recs);
					snprintf(why, whylen, "out of memory");
					return -ENOMEM;
				}
				sodium_bin2base64(k64, sodium_base64_ENCODED_LEN(r.key_len,
						  sodium_base64_VARIANT_ORIGINAL), r.key, r.key_len,
						  sodium_base64_VARIANT_ORIGINAL);
				sodium_bin2base64(v64, sodium_base64_ENCODED_LEN(r.value_len,
						  sodium_base64_VARIANT_ORIGINAL), r.value,
						  r.value_len, sodium_base64_VARIANT_ORIGINAL);
				json_array_append_new(recs, json_pack("[s,s,I]", k64, v64,
						      (json_int_t)r.version));
				free(k64);
				free(v64);
				chunk_bytes += r.key_len + (size_t)r.value_len;
				j->ls[li].keys++;
				j->bytes += r.key_len + (uint64_t)r.value_len;
				if (json_array_size(recs) >= LOAD_CHUNK_RECS ||
				    chunk_bytes >= LOAD_CHUNK_BYTES) {
					for (uint8_t m = 0; m < ch->len; m++)
						queue_to(j, node_index(c, ch->nodes[m]),
							 json_pack("{s:s,s:I,s:I,s:I,s:O}", "type", "load_data",
								   "req", (json_int_t)j->req, "slot",
								   (json_int_t)slot, "seq", (json_int_t)seq,
								   "recs", recs));
					seq++;
					json_decref(recs);
					recs = json_array();
					chunk_bytes = 0;
				}
			}
			continue;
		}
		/* CAT_BK_SLOT_END: the file was checked, so it closes slot. */
		for (uint8_t m = 0; m < ch->len; m++) {
			int k = node_index(c, ch->nodes[m]);

			if (json_array_size(recs) > 0)
				queue_to(j, k, json_pack("{s:s,s:I,s:I,s:I,s:O}", "type", "load_data",
					 "req", (json_int_t)j->req, "slot", (json_int_t)slot,
					 "seq", (json_int_t)seq, "recs", recs));
			queue_to(j, k, json_pack("{s:s,s:I,s:I,s:I}", "type", "load_end",
				 "req", (json_int_t)j->req, "slot", (json_int_t)slot,
				 "version", (json_int_t)cat_bk_get64(b.payload + 4)));
		}
		json_decref(recs);
		return 1;
	}
}

static void restore_tick(struct cat_ctl *c, uint64_t now)
{
	struct job *j = &g_job;
	char why[400];
	int busy = 0;

	for (unsigned int i = 0; i < LOAD_SLOTS && !j->eof; i++) {
		int rc;

		if (j->ls[i].slot != UINT32_MAX)
			continue;
		rc = restore_read_slot(c, j, (int)i, why, sizeof(why));
		if (rc < 0) {
			job_end(c, JS_FAILED, "reading %s again: %s", j->file, why);
			return;
		}
		if (rc == 0) {
			j->ls[i].slot = UINT32_MAX;
			j->eof = 1;
		}
	}
	for (uint16_t k = 0; k < c->map->n_nodes; k++) {
		uint16_t id = c->map->nodes[k].id;

		while (json_array_size(j->outq[k]) > 0 && j->unacked[k] < LOAD_WINDOW) {
			if (!node_ready(c, id)) {
				job_end(c, JS_FAILED, "node %u went away during the restore: "
					"the cluster is partly restored; restore again with --force",
					id);
				return;
			}
			cat_ctl_send(cat_ctl_node(c, id)->conn, json_array_get(j->outq[k], 0));
			json_array_remove(j->outq[k], 0);
			j->unacked[k]++;
		}
	}
	for (unsigned int i = 0; i < LOAD_SLOTS; i++)
		busy |= j->ls[i].slot != UINT32_MAX;
	if (!busy && j->eof) {
		j->state = JS_DONE;
		job_end(c, JS_DONE, NULL);
	} else if (now - j->last_progress_ms > 6 * CAT_CTL_BACKUP_SLOT_MS) {
		job_end(c, JS_FAILED, "no slot restored for %u s",
			6 * CAT_CTL_BACKUP_SLOT_MS / 1000);
	}
}

static int restore_msg(struct cat_ctl *c, uint16_t node, const char *type,
		       json_t *msg, char *why, size_t whylen)
{
	struct job *j = &g_job;
	json_t *jreq = json_object_get(msg, "req"), *js = json_object_get(msg, "slot");
	int k = node_index(c, node), li;

	if (!json_is_integer(jreq) || !json_is_integer(js)) {
		snprintf(why, whylen, "%s: \"req\" and \"slot\" must be numbers", type);
		return -EINVAL;
	}
	if (j->kind != JOB_RESTORE || j->state != JS_RUNNING ||
	    json_integer_value(jreq) != (json_int_t)j->req || k < 0)
		return 1;
	if (strcmp(type, "load_ack") == 0) {
		if (j->unacked[k] > 0)
			j->unacked[k]--;
		return 1;
	}
	li = slot_of_lslot(j, (uint32_t)json_integer_value(js));
	if (li < 0)
		return 1;
	if (strcmp(type, "load_failed") == 0) {
		const char *w = json_string_value(json_object_get(msg, "why"));

		job_end(c, JS_FAILED, "node %u could not load slot %u: %s", node,
			j->ls[li].slot, w ? w : "no reason given");
		return 1;
	}
	for (unsigned int i = 0; i < j->ls[li].n_waiting; i++)
		if (j->ls[li].waiting[i] == node) {
			j->ls[li].waiting[i] = j->ls[li].waiting[--j->ls[li].n_waiting];
			break;
		}
	if (j->ls[li].n_waiting == 0) {
		j->slots_done++;
		j->keys += j->ls[li].keys;
		j->ls[li].slot = UINT32_MAX;
		j->last_progress_ms = cat_ctl_now_ms();
	}
	return 1;
}

static void restore_start(struct cat_ctl *c, struct cat_ctl_conn *conn,
			  const char *file, int force)
{
	struct job *j = &g_job;
	struct cat_bk_summary s;
	struct stat sb;
	char why[600];
	FILE *f = NULL;
	int rc, fd;
	json_int_t held = 0;
	char who[200] = "";
	size_t wl = 0;

	/* Non-blocking, and a regular file only: a FIFO or a device would
	 * hold the control loop. */
	fd = open(file, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) ||
	    (f = fdopen(fd, "r")) == NULL) {
		int e = fd < 0 ? errno : EINVAL;

		if (fd >= 0)
			close(fd);
		cat_ctl_mgmt_reply_err(conn, "restore: cannot open %s: %s", file,
				       e == EINVAL ? "not a regular file" : strerror(e));
		return;
	}
	rc = cat_bk_check(f, NULL, &s, why, sizeof(why));
	if (rc < 0) {
		fclose(f);
		cat_ctl_mgmt_reply_err(conn, "restore: %s is not a good backup: %s; nothing restored",
				       file, why);
		return;
	}
	if (s.h.slot_count != c->map->slot_count) {
		fclose(f);
		cat_ctl_mgmt_reply_err(conn, "restore: %s has %u slots, the cluster %u: a backup "
				       "loads only into a cluster of its slot count", file,
				       s.h.slot_count, c->map->slot_count);
		return;
	}
	for (uint16_t i = 0; i < c->map->n_chains; i++)
		for (uint8_t m = 0; m < c->map->chains[i].len; m++)
			if (!node_ready(c, c->map->chains[i].nodes[m])) {
				fclose(f);
				cat_ctl_mgmt_reply_err(conn, "restore: node %u of chain %u is not up: "
						       "every member must be, to get its copy",
						       c->map->chains[i].nodes[m], c->map->chains[i].id);
				return;
			}
	for (uint16_t i = 0; i < c->n_nodes; i++) {
		json_t *jk = json_object_get(c->nodes[i].stats, "store_keys");

		if (json_is_integer(jk) && json_integer_value(jk) > 0) {
			held += json_integer_value(jk);
			if (wl < sizeof(who))
				wl += (size_t)snprintf(who + wl, sizeof(who) - wl, "%snode %u: %lld",
						       wl ? ", " : "", c->nodes[i].id,
						       (long long)json_integer_value(jk));
		}
	}
	if (held > 0 && !force) {
		fclose(f);
		cat_ctl_mgmt_reply_err(conn, "restore: the cluster is not empty (%s keys): restore "
				       "loads into an empty cluster; --force replaces the slots the "
				       "backup holds", who);
		return;
	}
	memset(j, 0, sizeof(*j));
	j->kind = JOB_RESTORE;
	j->force = force;
	snprintf(j->file, sizeof(j->file), "%s", file);
	j->slot_count = s.h.slot_count;
	j->epoch = s.h.epoch;
	j->slots_total = s.slots;
	j->bytes_total = s.bytes;
	j->in = f;
	rewind(f);
	if (cat_bk_reader_open(&j->rd, f, why, sizeof(why)) < 0) {
		cat_ctl_mgmt_reply_err(conn, "restore: %s: %s", file, why);
		job_close(j);
		j->kind = JOB_NONE;
		return;
	}
	for (unsigned int i = 0; i < LOAD_SLOTS; i++)
		j->ls[i].slot = UINT32_MAX;
	if (++c->next_req == 0)
		c->next_req = 1;
	j->req = c->next_req;
	j->state = JS_RUNNING;
	j->started_ms = j->last_progress_ms = cat_ctl_now_ms();
	cat_ctl_event(c, "restore %s started: %u slots, %" PRIu64 " keys, backup of epoch %u%s",
		      file, s.slots, s.keys, s.h.epoch, held > 0 ? " (--force: over existing keys)" : "");
	cat_ctl_mgmt_reply_ok(conn, json_pack("{s:s,s:I,s:I,s:I,s:I}", "file", file,
		"slots", (json_int_t)s.slots, "keys", (json_int_t)s.keys,
		"bytes", (json_int_t)s.bytes, "backup_epoch", (json_int_t)s.h.epoch));
	restore_tick(c, j->started_ms);
}

/* ---- the management commands ------------------------------------------- */

static json_t *job_status(void)
{
	const struct job *j = &g_job;
	uint64_t now = cat_ctl_now_ms(), end = j->state == JS_RUNNING ? now : j->ended_ms;
	double el = (double)(end - j->started_ms) / 1000.0;
	static const char *const st[] = { "running", "done", "failed", "cancelled" };
	json_t *r;

	if (j->kind == JOB_NONE)
		return json_pack("{s:s,s:s}", "job", "none", "state", "idle");
	r = json_pack("{s:s,s:s,s:s,s:I,s:I,s:I,s:I,s:I,s:f}",
		"job", j->kind == JOB_BACKUP ? "backup" : "restore",
		"state", st[j->state], "file", j->file,
		"slots_done", (json_int_t)j->slots_done,
		"slots_total", (json_int_t)j->slots_total,
		"keys", (json_int_t)j->keys, "bytes", (json_int_t)j->bytes,
		"retries", (json_int_t)j->retries, "elapsed_s", el);
	if (j->state == JS_RUNNING && j->slots_done > 0 && el > 0)
		json_object_set_new(r, "eta_s", json_real(el * (double)(j->slots_total -
			j->slots_done) / (double)j->slots_done));
	else
		json_object_set_new(r, "eta_s", j->state == JS_RUNNING ? json_null() : json_real(0));
	json_object_set_new(r, "error", json_string(j->error));
	if (j->kind == JOB_BACKUP) {
		json_object_set_new(r, "last_retry", json_string(j->last_retry));
		json_object_set_new(r, "rate", json_integer((json_int_t)j->rate));
		json_object_set_new(r, "walked", json_integer((json_int_t)j->walked));
		json_object_set_new(r, "replayed", json_integer((json_int_t)j->replayed));
	}
	else
		json_object_set_new(r, "bytes_total", json_integer((json_int_t)j->bytes_total));
	return r;
}

void cat_ctl_backup_request(struct cat_ctl *c, struct cat_ctl_conn *conn,
			    json_t *req)
{
	const char *cmd = json_string_value(json_object_get(req, "cmd"));
	const char *file = json_string_value(json_object_get(req, "file"));
	json_t *jforce = json_object_get(req, "force");
	struct job *j = &g_job;

	if (strcmp(cmd, "backup_status") == 0 || strcmp(cmd, "restore_status") == 0) {
		cat_ctl_mgmt_reply_ok(conn, job_status());
		return;
	}
	if (strcmp(cmd, "backup_cancel") == 0 || strcmp(cmd, "restore_cancel") == 0) {
		if (j->kind == JOB_NONE || j->state != JS_RUNNING ||
		    (j->kind == JOB_BACKUP) != (strcmp(cmd, "backup_cancel") == 0)) {
			cat_ctl_mgmt_reply_err(conn, "%s: no %s is running", cmd,
					       strcmp(cmd, "backup_cancel") == 0 ? "backup" : "restore");
			return;
		}
		job_end(c, JS_CANCELLED, "cancelled by the operator%s",
			j->kind == JOB_RESTORE ? ": the cluster is partly restored" : "");
		cat_ctl_mgmt_reply_ok(conn, job_status());
		return;
	}
	if (j->kind != JOB_NONE && j->state == JS_RUNNING) {
		cat_ctl_mgmt_reply_err(conn, "%s: a %s of %s is running (backup status; "
				       "%s cancel)", cmd, j->kind == JOB_BACKUP ? "backup" : "restore",
				       j->file, j->kind == JOB_BACKUP ? "backup" : "restore");
		return;
	}
	if (file == NULL || file[0] != '/' || strlen(file) >= PATH_MAX - 16) {
		cat_ctl_mgmt_reply_err(conn, "%s: \"file\" must be an absolute path "
				       "(catena-control opens it; catenactl makes it so)", cmd);
		return;
	}
	if (jforce != NULL && !json_is_boolean(jforce)) {
		cat_ctl_mgmt_reply_err(conn, "%s: \"force\" must be true or false", cmd);
		return;
	}
	if (strcmp(cmd, "backup") == 0)
		backup_start(c, conn, file, json_object_get(req, "rate"));
	else
		restore_start(c, conn, file, json_is_true(jforce));
}

int cat_ctl_backup_node_msg(struct cat_ctl *c, struct cat_ctl_conn *conn,
			    const char *type, json_t *msg, char *why,
			    size_t whylen)
{
	json_t *jn = json_object_get(msg, "node");

	if (strncmp(type, "dump_", 5) != 0 && strncmp(type, "load_", 5) != 0)
		return 0;
	if (!json_is_integer(jn) || json_integer_value(jn) != conn->node) {
		snprintf(why, whylen, "%s: \"node\" missing or not this connection's node %u",
			 type, conn->node);
		return -EINVAL;
	}
	if (strncmp(type, "dump_", 5) == 0)
		return backup_msg(c, conn->node, type, msg, why, whylen);
	return restore_msg(c, conn->node, type, msg, why, whylen);
}

void cat_ctl_backup_tick(struct cat_ctl *c, uint64_t now_ms)
{
	struct job *j = &g_job;

	if (j->kind == JOB_NONE || j->state != JS_RUNNING || c->map == NULL)
		return;
	if (j->kind == JOB_BACKUP)
		backup_tick(c, now_ms);
	else
		restore_tick(c, now_ms);
}

uint64_t cat_ctl_backup_deadline(const struct cat_ctl *c)
{
	(void)c;
	return g_job.kind != JOB_NONE && g_job.state == JS_RUNNING ?
	       cat_ctl_now_ms() + TICK_MS : UINT64_MAX;
}

void cat_ctl_backup_fini(struct cat_ctl *c)
{
	(void)c;
	job_close(&g_job);
	memset(&g_job, 0, sizeof(g_job));
}
