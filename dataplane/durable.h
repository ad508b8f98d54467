/*
 * dataplane/durable.h: a node's optional persistence (`[node] durability
 * = log`). At start the node replays its log (replication/dlog.h) into
 * its store; then a log writer thread of its own, never a worker, takes
 * the records every worker appends to its byte ring (replication/
 * logring.h), writes them in groups and syncs them: after every group
 * with `fsync = always` (and a worker then answers a client only once
 * what it logged before is on disk), or every N ms with `fsync = every_ms
 * N` (a power cut may lose up to N ms of acknowledged writes). Workers
 * never block on disk: a worker whose ring is nearly full leaves packets
 * in the port's queue until the writer catches up.
 *
 * Snapshots (replication/dsnap.h) bound the replay: once log_snapshot_mb
 * of log has been written since the last one, a snapshot thread of its
 * own asks the writer for a new segment S, walks the store a slot at a
 * time (an RCU reader, offline between slots and rate-limited, so neither
 * group commit nor a worker waits for it), writes snap-S, and then deletes
 * what the snapshot before it no longer needs: the snapshots and segments
 * before that one. So the newest snapshot always has an older one, with
 * its segments, to fall back on.
 */
#ifndef CAT_DURABLE_H
#define CAT_DURABLE_H

#include <pthread.h>
#include <stdint.h>

#include "dataplane/config.h"
#include "replication/dlog.h"
#include "replication/dsnap.h"
#include "replication/hist.h"
#include "replication/logring.h"
#include "replication/store.h"

#define CAT_DURABLE_RING_ORDER 24u          /* 16 MiB per worker */
/* Room a worker wants in its ring before it takes a burst: a burst of
 * full datagrams of small writes, and the hand-over ring's share. */
#define CAT_DURABLE_ROOM_MIN   (1u << 20)

struct cat_durable {
	int on;                      /* durability = log */
	uint32_t fsync_ms;           /* 0: fsync = always */
	char dir[256];
	uint16_t node_id;
	struct cat_dlog *log;
	unsigned n_rings;
	struct cat_logring ring[64];
	pthread_t thread;
	int running;
	int stop;                    /* set by main, read by the writer */
	int paused;                  /* test-only ([faults] log_writer_pause) */
	/* The writer's counters, read relaxed by telemetry. */
	uint64_t bytes_written;
	uint64_t groups;             /* write() rounds that had records */
	uint64_t syncs;
	uint64_t sync_ns_max;
	uint64_t write_errors;       /* then failed is set: see err */
	int failed;
	char err[256];
	struct cat_hist *sync_ns;    /* fdatasync latency */
	/* Snapshots: the snapshot thread's; counters read relaxed. */
	uint64_t snap_every;         /* bytes of log between them; 0 = never */
	uint64_t snap_rate;          /* bytes/s the walk writes; 0 = no limit */
	struct cat_store *store;
	uint32_t slots;
	pthread_t snap_thread;
	int snap_running;
	int snap_req;                /* the snapshot thread wants a new segment */
	uint64_t snap_seq;           /* the writer's answer: its number */
	uint64_t snap_prev;          /* newest complete snapshot; 0: none */
	uint64_t snapshots;          /* taken */
	uint64_t snap_errors;        /* failed (the log keeps everything) */
	uint64_t snap_last_seq;
	uint64_t snap_last_bytes;
	uint64_t snap_last_keys;
	uint64_t snap_last_ns;
	uint64_t segments_deleted;
	uint64_t snapshots_deleted;
	/* What start-up found: a snapshot (recovery.snap_*) and the log after
	 * it (replay, the segments' part). */
	struct cat_dsnap_recovery recovery;
	struct cat_dlog_replay replay;
	uint64_t replay_ns;
	uint64_t replay_errors;      /* records the store refused */
};

/**
 * durability = log: replay the log of c->log_dir into s (on this thread,
 * which must be a registered RCU reader: the workers are not running
 * yet), open it for appending and start the writer thread with one ring
 * per worker. durability = none: d->on = 0 and nothing else. 0, or a
 * negative errno with a message in err (the node must not start: a log
 * it cannot read or write would lose what it promises to keep).
 */
int cat_durable_start(struct cat_durable *d, const struct cat_config *c,
		      struct cat_store *s, unsigned n_workers, char *err,
		      size_t errlen);

/** Stop the writer after it has written and synced every ring (call
 * after the workers stopped), close the log, free the rings. */
void cat_durable_stop(struct cat_durable *d);

/** Bytes appended by the workers and not yet on disk, over all rings. */
uint64_t cat_durable_lag(const struct cat_durable *d);

/** Bytes of log on disk (every segment). */
uint64_t cat_durable_bytes(const struct cat_durable *d);

#endif /* CAT_DURABLE_H */
