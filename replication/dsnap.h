/*
 * replication/dsnap.h: snapshots of a node's store beside its log
 * (replication/dlog.h), so a restart replays a snapshot and the log after
 * it instead of every write since the node first started, and the
 * segments a snapshot holds can go. Pure C, no DPDK: the files, their
 * checks and the choice of what to replay at start; the walk of the store
 * that feeds a snapshot runs in dataplane/durable.c.
 *
 * A snapshot is taken right after the log writer starts a new segment S:
 * it is a fuzzy walk of the store (each key at the version the walk saw),
 * so snapshot + segments >= S replay to the node's state by newest-wins,
 * as state transfer does. On disk (little-endian, docs/DURABILITY.md):
 * snap-NNNNNNNNNNNNNNNN.csnap (NNN = S, hex), written as NAME.partial,
 * synced, renamed, the directory synced:
 *
 *   header  32 bytes: magic "CATSNP1\0", u32 format version, u32 node id,
 *           u64 S, u32 slot count, u32 CRC-32C of the 28 bytes before it
 *   records log records (dlog.h): a PUT per live key at its version and a
 *           NOOP per slot whose version is above 0
 *   trailer 32 bytes: magic "CATSEND\0", u64 records, u64 bytes of
 *           records, u32 CRC-32C of those bytes, u32 CRC-32C of the
 *           28 bytes before it
 *
 * A snapshot without its whole trailer, or any CRC wrong, is damaged:
 * nothing of it is applied.
 */
#ifndef CAT_DSNAP_H
#define CAT_DSNAP_H

#include <stddef.h>
#include <stdint.h>

#include "replication/dlog.h"

#define CAT_DSNAP_MAGIC     "CATSNP1"   /* 8 bytes with its NUL */
#define CAT_DSNAP_END_MAGIC "CATSEND"
#define CAT_DSNAP_VERSION   1u
#define CAT_DSNAP_HDR       32u
#define CAT_DSNAP_TRAILER   32u

struct cat_dsnap_writer;

/*
 * Threads: a writer is used by one thread (the snapshot thread); list,
 * load and drop touch only files and may run on any thread, beside the
 * log writer (they never open the segment it appends to). recover runs
 * once at start, before the log is opened for appending.
 */

/**
 * Start snapshot S in dir (as its .partial file). 0 or -errno with err.
 */
int cat_dsnap_begin(struct cat_dsnap_writer **out, const char *dir,
		    uint32_t node_id, uint64_t seq, uint32_t slot_count,
		    char *err, size_t errlen);

/** Append len bytes holding nrec encoded records. 0 or -errno. */
int cat_dsnap_write(struct cat_dsnap_writer *w, const void *recs, size_t len,
		    uint64_t nrec);

/**
 * The trailer, fsync, rename to its final name, fsync of the directory:
 * only after this returns 0 is the snapshot there to replay. Frees w
 * (on failure the .partial is removed). 0 or -errno with err.
 */
int cat_dsnap_commit(struct cat_dsnap_writer *w, char *err, size_t errlen);

/** Give up: the .partial is removed, w freed. */
void cat_dsnap_abort(struct cat_dsnap_writer *w);

/** Bytes written to w so far (header and records). */
uint64_t cat_dsnap_bytes(const struct cat_dsnap_writer *w);

/** The complete snapshots of dir, by S ascending (*seqs malloc'd, NULL
 * when none). 0 or -errno with err. */
int cat_dsnap_list(const char *dir, uint64_t **seqs, size_t *n, char *err,
		   size_t errlen);

/** dir/snap-S.csnap. */
void cat_dsnap_path(char *p, size_t len, const char *dir, uint64_t seq);

/**
 * Check the whole of snapshot file path (header, every record, trailer),
 * then call fn for each record in order (fn's negative errno stops it and
 * is returned). Nothing reaches fn from a damaged file: -EBADMSG (a CRC,
 * a record or the trailer wrong, or the file cut short); -EINVAL for a
 * snapshot of another node or a newer format; -errno of the file. err
 * says why; *records and *bytes what was applied.
 */
int cat_dsnap_load(const char *path, uint32_t node_id,
		   int (*fn)(const struct cat_dlog_rec *r, void *arg), void *arg,
		   uint64_t *records, uint64_t *bytes, char *err, size_t errlen);

/** cat_dsnap_load of a snapshot already in memory, p[0..len) (path only
 * names it in err); the fuzz target's way in. */
int cat_dsnap_parse(const char *path, const uint8_t *p, size_t len,
		    uint32_t node_id,
		    int (*fn)(const struct cat_dlog_rec *r, void *arg), void *arg,
		    uint64_t *records, uint64_t *bytes, char *err, size_t errlen);

/** Delete dir's snapshots before seq; *deleted counts them. 0 or -errno. */
int cat_dsnap_drop_before(const char *dir, uint64_t seq, uint64_t *deleted);

/* ---- start-up ---------------------------------------------------------- */

struct cat_dsnap_recovery {
	uint64_t snap_seq;       /* the snapshot replayed; 0: none */
	uint64_t snap_records;
	uint64_t snap_bytes;
	uint64_t snap_ns;
	uint64_t damaged;        /* snapshots found damaged (set aside) */
	uint64_t log_ns;
	struct cat_dlog_replay log;  /* the segments after it */
	char note[1024];         /* what was damaged, when any was */
};

/**
 * Replay dir at start: the newest snapshot that checks out and every
 * segment from its S on, or, with no snapshot, every segment. A damaged
 * snapshot is renamed NAME.damaged (never deleted) and an older one tried;
 * that needs every segment from its S on, and the whole log needs segment
 * 1 on: when what is left cannot rebuild what the disk held, -EBADMSG and
 * err says why (the node must not start). Leftover .partial snapshots (a
 * crash while writing one) are removed. Else as cat_dlog_replay.
 */
int cat_dsnap_recover(const char *dir, uint32_t node_id,
		      int (*fn)(const struct cat_dlog_rec *r, void *arg),
		      void *arg, struct cat_dsnap_recovery *rec, char *err,
		      size_t errlen);

#endif /* CAT_DSNAP_H */
