/*
 * dataplane/durable.c: the log writer thread and start-up replay of
 * `[node] durability = log` (see durable.h). Control path: the writer is
 * a thread of its own (an EAL control thread, off the worker lcores); the
 * workers' side is the ring append in worker.c.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>

#include <rte_lcore.h>
#include <rte_log.h>
#include <rte_thread.h>

#include <urcu-qsbr.h>

#include "dataplane/durable.h"
#include "replication/dlog_apply.h"
#include "replication/dsnap_walk.h"

/* An idle writer looks at the rings this often: the floor under a PUT's
 * latency with fsync = always, beside the sync itself. */
#define WRITER_NAP_NS 20000
/* The snapshot thread looks at how much log was written this often. */
#define SNAP_POLL_NS 10000000

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

struct replay_ctx {
	struct cat_durable *d;
	struct cat_store *s;
};

static int replay_one(const struct cat_dlog_rec *r, void *arg)
{
	struct replay_ctx *x = arg;
	int rc = cat_dlog_apply(x->s, r);

	/* A record the store cannot take (a slot count that changed, memory)
	 * is counted and said; replay goes on with the rest. */
	if (rc < 0 && x->d->replay_errors++ == 0)
		RTE_LOG(ERR, USER1, "catena-node: log replay: a record of slot %u "
			"version %" PRIu64 " not applied: %s (more are counted in "
			"/catena/durable replay_errors)\n", r->slot, r->version,
			strerror(-rc));
	return 0;
}

static int sync_all(struct cat_durable *d, const uint64_t *pos)
{
	uint64_t t0 = now_ns(), ns;
	int rc = cat_dlog_sync(d->log);

	if (rc < 0)
		return rc;
	ns = now_ns() - t0;
	cat_hist_record(d->sync_ns, ns);
	if (ns > d->sync_ns_max)
		__atomic_store_n(&d->sync_ns_max, ns, __ATOMIC_RELAXED);
	__atomic_store_n(&d->syncs, d->syncs + 1, __ATOMIC_RELAXED);
	for (unsigned i = 0; i < d->n_rings; i++)
		cat_logring_synced(&d->ring[i], pos[i]);
	return 0;
}

static void fail(struct cat_durable *d, const char *what, int rc)
{
	if (d->failed)
		return;
	snprintf(d->err, sizeof(d->err), "%s: %s", what, strerror(-rc));
	__atomic_store_n(&d->write_errors, d->write_errors + 1, __ATOMIC_RELAXED);
	__atomic_store_n(&d->failed, 1, __ATOMIC_RELEASE);
	RTE_LOG(ERR, USER1, "catena-node: durability: %s: nothing more is "
		"acknowledged by this node's workers until it restarts\n", d->err);
}

/*
 * Each round: write out what every ring holds (one group, in ring order:
 * records of different workers are of different slots, so their order
 * between rings does not matter), then sync as the policy says.
 */
static void *writer_main(void *arg)
{
	struct cat_durable *d = arg;
	uint64_t pos[64] = { 0 }, last_sync = now_ns(), unsynced = 0;
	const struct timespec nap = { 0, WRITER_NAP_NS };

	(void)prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
	for (;;) {
		int stopping = __atomic_load_n(&d->stop, __ATOMIC_ACQUIRE);
		uint64_t wrote = 0;

		/* Test-only: a disk that does not answer. */
		if (!stopping && __atomic_load_n(&d->paused, __ATOMIC_ACQUIRE)) {
			nanosleep(&nap, NULL);
			continue;
		}
		/* A snapshot starts: every record taken from here on goes to
		 * the new segment, every one before is in the store it walks
		 * (a worker logs a write after it applied it). */
		if (__atomic_load_n(&d->snap_req, __ATOMIC_ACQUIRE) && !d->failed) {
			uint64_t seq = 0;
			int rc = cat_dlog_rotate(d->log, &seq);

			if (rc < 0)
				fail(d, "starting a log segment", rc);
			__atomic_store_n(&d->snap_seq, rc < 0 ? 0 : seq, __ATOMIC_RELAXED);
			__atomic_store_n(&d->snap_req, 0, __ATOMIC_RELEASE);
		}

		for (unsigned i = 0; i < d->n_rings && !d->failed; i++) {
			const uint8_t *p1, *p2;
			size_t n1, n2;
			uint64_t end = cat_logring_peek(&d->ring[i], &p1, &n1, &p2, &n2);
			int rc = 0;

			if (n1 + n2 == 0)
				continue;
			if (n1)
				rc = cat_dlog_append(d->log, p1, n1);
			if (rc == 0 && n2)
				rc = cat_dlog_append(d->log, p2, n2);
			if (rc < 0) {
				fail(d, "writing the log", rc);
				break;
			}
			cat_logring_taken(&d->ring[i], end);
			pos[i] = end;
			wrote += n1 + n2;
		}
		if (wrote) {
			__atomic_store_n(&d->bytes_written, d->bytes_written + wrote,
					 __ATOMIC_RELAXED);
			__atomic_store_n(&d->groups, d->groups + 1, __ATOMIC_RELAXED);
			unsynced += wrote;
		}
		if (unsynced && !d->failed &&
		    (d->fsync_ms == 0 || stopping ||
		     now_ns() - last_sync >= (uint64_t)d->fsync_ms * 1000000u)) {
			int rc = sync_all(d, pos);

			if (rc < 0)
				fail(d, "syncing the log", rc);
			last_sync = now_ns();
			unsynced = 0;
		}
		if (stopping && (wrote == 0 || d->failed))
			break;
		if (!wrote)
			nanosleep(&nap, NULL);
	}
	return NULL;
}

static void sleep_offline(uint64_t ns)
{
	struct timespec ts = { (time_t)(ns / 1000000000u), (long)(ns % 1000000000u) };

	nanosleep(&ts, NULL);
}

static int stopping(const struct cat_durable *d)
{
	return __atomic_load_n(&d->stop, __ATOMIC_ACQUIRE);
}

/* Ask the writer for a new segment; its number, or 0 (stopping, failed). */
static uint64_t rotate(struct cat_durable *d)
{
	__atomic_store_n(&d->snap_req, 1, __ATOMIC_RELEASE);
	while (__atomic_load_n(&d->snap_req, __ATOMIC_ACQUIRE)) {
		if (stopping(d) || __atomic_load_n(&d->failed, __ATOMIC_ACQUIRE))
			return 0;
		sleep_offline(WRITER_NAP_NS);
	}
	return __atomic_load_n(&d->snap_seq, __ATOMIC_RELAXED);
}

static void snap_fail(struct cat_durable *d, const char *what)
{
	__atomic_store_n(&d->snap_errors, d->snap_errors + 1, __ATOMIC_RELAXED);
	RTE_LOG(ERR, USER1, "catena-node: durability: snapshot: %s (the log keeps "
		"every write; the next snapshot is tried after as much log again)\n",
		what);
}

/*
 * One snapshot: a new segment S, a walk of every slot into snap-S, then
 * the files the previous snapshot replaces go. Online only while a slot
 * is copied; the file writes and the rate limit's naps are offline.
 * Returns 0, or -ECANCELED when the node stops (the .partial is removed).
 */
static int take_snapshot(struct cat_durable *d)
{
	struct cat_dsnap_writer *w = NULL;
	struct cat_dsnap_buf b = { 0 };
	uint64_t seq, t0 = now_ns(), keys = 0, bytes, gone = 0, gone_b = 0, snaps = 0;
	char err[768];
	int rc = 0;

	seq = rotate(d);
	if (seq == 0)
		return stopping(d) ? -ECANCELED : -EIO;
	rc = cat_dsnap_begin(&w, d->dir, d->node_id, seq, d->slots, err, sizeof(err));
	if (rc < 0) {
		snap_fail(d, err);
		return rc;
	}
	for (uint32_t slot = 0; slot < d->slots && rc == 0; slot++) {
		if (stopping(d)) {
			rc = -ECANCELED;
			break;
		}
		b.len = 0;
		b.records = b.keys = 0;
		rcu_thread_online();
		rc = cat_dsnap_walk_slot(d->store, slot, &b);
		rcu_thread_offline();
		if (rc == 0 && b.len)
			rc = cat_dsnap_write(w, b.p, b.len, b.records);
		keys += b.keys;
		if (rc < 0) {
			snprintf(err, sizeof(err), "writing snapshot %016" PRIx64 ": %s",
				 seq, strerror(-rc));
			break;
		}
		if (d->snap_rate) {
			uint64_t due = (uint64_t)((double)cat_dsnap_bytes(w) * 1e9 /
						  (double)d->snap_rate);
			uint64_t el = now_ns() - t0;

			if (due > el)
				sleep_offline(due - el);
		}
	}
	cat_dsnap_buf_free(&b);
	if (rc < 0) {
		cat_dsnap_abort(w);
		if (rc != -ECANCELED)
			snap_fail(d, err);
		return rc;
	}
	bytes = cat_dsnap_bytes(w) + CAT_DSNAP_TRAILER;
	rc = cat_dsnap_commit(w, err, sizeof(err));
	if (rc < 0) {
		snap_fail(d, err);
		return rc;
	}
	/* snap-S is on disk: the one before it stays (a fallback, if S is
	 * ever found damaged), and so do its segments; older ones go. */
	if (d->snap_prev) {
		rc = cat_dsnap_drop_before(d->dir, d->snap_prev, &snaps);
		if (rc == 0)
			rc = cat_dlog_drop_before(d->dir, d->snap_prev, &gone, &gone_b);
		cat_dlog_forget(d->log, gone_b);
		if (rc < 0) {
			snprintf(err, sizeof(err), "deleting what snapshot %016" PRIx64
				 " replaced: %s", d->snap_prev, strerror(-rc));
			snap_fail(d, err);
		}
	}
	d->snap_prev = seq;
	__atomic_store_n(&d->segments_deleted, d->segments_deleted + gone, __ATOMIC_RELAXED);
	__atomic_store_n(&d->snapshots_deleted, d->snapshots_deleted + snaps,
			 __ATOMIC_RELAXED);
	__atomic_store_n(&d->snap_last_seq, seq, __ATOMIC_RELAXED);
	__atomic_store_n(&d->snap_last_bytes, bytes, __ATOMIC_RELAXED);
	__atomic_store_n(&d->snap_last_keys, keys, __ATOMIC_RELAXED);
	__atomic_store_n(&d->snap_last_ns, now_ns() - t0, __ATOMIC_RELAXED);
	__atomic_store_n(&d->snapshots, d->snapshots + 1, __ATOMIC_RELAXED);
	return 0;
}

/* The snapshot thread: a snapshot each time snap_every bytes of log were
 * written since the last one started (the log start-up replayed counts:
 * a node restarted often still gets its log bounded). */
static void *snap_main(void *arg)
{
	struct cat_durable *d = arg;
	uint64_t base = 0, pending = d->replay.bytes;

	rcu_register_thread();
	rcu_thread_offline();
	while (!stopping(d)) {
		uint64_t written = __atomic_load_n(&d->bytes_written, __ATOMIC_RELAXED);

		if (written - base + pending < d->snap_every ||
		    __atomic_load_n(&d->failed, __ATOMIC_ACQUIRE)) {
			sleep_offline(SNAP_POLL_NS);
			continue;
		}
		base = written;
		pending = 0;
		if (take_snapshot(d) == -ECANCELED)
			break;
	}
	rcu_unregister_thread();
	return NULL;
}

int cat_durable_start(struct cat_durable *d, const struct cat_config *c,
		      struct cat_store *s, unsigned n_workers, char *err,
		      size_t errlen)
{
	struct replay_ctx x = { d, s };
	uint64_t t0;
	int rc;

	memset(d, 0, sizeof(*d));
	if (c->durability == 0)
		return 0;
	if (n_workers > 64) {
		snprintf(err, errlen, "durability = log: at most 64 workers");
		return -EINVAL;
	}
	d->on = 1;
	d->fsync_ms = c->fsync_ms;
	d->paused = (int)c->faults.log_writer_pause;
	d->node_id = (uint16_t)c->node_id;
	snprintf(d->dir, sizeof(d->dir), "%s", c->log_dir);
	d->sync_ns = calloc(1, sizeof(*d->sync_ns));
	if (d->sync_ns == NULL) {
		snprintf(err, errlen, "durability = log: out of memory");
		return -ENOMEM;
	}
	cat_hist_reset(d->sync_ns);
	d->snap_every = c->log_snapshot_mb << 20;
	d->snap_rate = c->log_snapshot_rate;
	d->store = s;
	d->slots = cat_store_slot_count(s);
	t0 = now_ns();
	rc = cat_dsnap_recover(d->dir, c->node_id, replay_one, &x, &d->recovery,
			       err, errlen);
	if (rc < 0)
		return rc;
	d->replay = d->recovery.log;
	d->replay_ns = now_ns() - t0;
	d->snap_prev = d->recovery.snap_seq;
	rc = cat_dlog_open(&d->log, d->dir, c->node_id, err, errlen);
	if (rc < 0)
		return rc;
	for (unsigned i = 0; i < n_workers; i++) {
		rc = cat_logring_init(&d->ring[i], CAT_DURABLE_RING_ORDER);
		if (rc < 0) {
			snprintf(err, errlen, "durability = log: ring of worker %u: %s", i,
				 strerror(-rc));
			return rc;
		}
		d->n_rings++;
	}
	rc = rte_ctrl_thread_create(&d->thread, "catena-log", NULL, writer_main, d);
	if (rc != 0) {
		snprintf(err, errlen, "durability = log: cannot start the log writer: %s",
			 strerror(rc));
		return -rc;
	}
	d->running = 1;
	if (d->snap_every) {
		rc = rte_ctrl_thread_create(&d->snap_thread, "catena-snap", NULL,
					    snap_main, d);
		if (rc != 0) {
			snprintf(err, errlen, "durability = log: cannot start the snapshot "
				 "thread: %s", strerror(rc));
			return -rc;
		}
		d->snap_running = 1;
	}
	return 0;
}

void cat_durable_stop(struct cat_durable *d)
{
	if (!d->on)
		return;
	/* The snapshot thread first: it may be waiting for the writer. */
	__atomic_store_n(&d->stop, 1, __ATOMIC_RELEASE);
	if (d->snap_running) {
		pthread_join(d->snap_thread, NULL);
		d->snap_running = 0;
	}
	if (d->running) {
		__atomic_store_n(&d->stop, 1, __ATOMIC_RELEASE);
		pthread_join(d->thread, NULL);
		d->running = 0;
	}
	cat_dlog_close(d->log);
	d->log = NULL;
	for (unsigned i = 0; i < d->n_rings; i++)
		cat_logring_fini(&d->ring[i]);
	d->n_rings = 0;
	free(d->sync_ns);
	d->sync_ns = NULL;
}

uint64_t cat_durable_lag(const struct cat_durable *d)
{
	uint64_t lag = 0;

	for (unsigned i = 0; i < d->n_rings; i++)
		lag += cat_logring_head(&d->ring[i]) - cat_logring_durable(&d->ring[i]);
	return lag;
}

uint64_t cat_durable_bytes(const struct cat_durable *d)
{
	return d->log != NULL ? cat_dlog_bytes(d->log) : 0;
}
