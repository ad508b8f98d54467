/*
 * replication/dlog.h: a node's write-ahead log on disk (`[node] durability
 * = log`): the record format, the segment files, and replay. Every write
 * a node applies (as head, middle or tail) becomes one record; a log
 * writer thread of the node's own appends them in groups and syncs them
 * (dataplane/durable.c), never a worker. After a restart the node replays
 * its log into its store and knows, per slot, the newest version it holds
 * on disk. Pure C, no DPDK: unit-tested and fuzzed like the wire format.
 *
 * On disk (little-endian, docs/DURABILITY.md): a directory of segments
 * named seg-NNNNNNNNNNNNNNNN.clog (NNN: the segment's sequence number, hex),
 * each a 32-byte header (magic "CATLOG1\0", format version, node id,
 * sequence, CRC-32C of the header) and then records back to back:
 *
 *   u32 len      the record's length, this field included
 *   u32 crc      CRC-32C of every byte after this field
 *   u8  type     CAT_DLOG_*
 *   u8  zero
 *   u16 slot
 *   u16 klen
 *   u16 zero
 *   u32 vlen
 *   u64 version  the slot's version this write produced
 *   key[klen] value[vlen]
 *
 * A record is applied on replay only if it is newer than what the store
 * holds for its key, so records may repeat and arrive in any order per key
 * (state transfer installs a fuzzy snapshot, then the writes after it).
 */
#ifndef CAT_DLOG_H
#define CAT_DLOG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define CAT_DLOG_MAGIC       "CATLOG1"  /* 8 bytes with its NUL */
#define CAT_DLOG_VERSION     1u
#define CAT_DLOG_SEG_HDR     32u
#define CAT_DLOG_REC_HDR     28u
#define CAT_DLOG_KEY_MAX     65535u
#define CAT_DLOG_VALUE_MAX   (1u << 20)  /* far above any datagram's */
#define CAT_DLOG_SEG_BYTES   (64u << 20) /* a new segment past this */

enum cat_dlog_type {
	CAT_DLOG_PUT  = 1,   /* key = value at version */
	CAT_DLOG_DEL  = 2,   /* key deleted at version */
	CAT_DLOG_NOOP = 3,   /* the slot's version moved (failed CAS, snapshot end) */
	CAT_DLOG_CLEAR = 4,  /* the slot was emptied here (it left this node) */
};

struct cat_dlog_rec {
	uint8_t type;
	uint16_t slot;
	uint16_t klen;
	uint32_t vlen;
	uint64_t version;
	const uint8_t *key;
	const uint8_t *value;
};

/** Bytes the record takes on disk. */
static inline size_t cat_dlog_rec_size(uint32_t klen, uint32_t vlen)
{
	return CAT_DLOG_REC_HDR + (size_t)klen + vlen;
}

/**
 * Encode r into buf[0..cap). Returns its size, -ENOSPC if it does not fit,
 * -EINVAL for a bad type or lengths over the limits.
 */
ssize_t cat_dlog_encode(uint8_t *buf, size_t cap, const struct cat_dlog_rec *r);

/**
 * Decode the record at p[0..len). 0 with *r (pointing into p) and *used;
 * -EAGAIN if p holds only part of a record (a write cut short: the end of
 * the log), -EBADMSG if the length is impossible or the CRC or a zero
 * field is wrong (corruption).
 */
int cat_dlog_decode(const uint8_t *p, size_t len, struct cat_dlog_rec *r,
		    size_t *used);

/* ---- segments -------------------------------------------------------- */

struct cat_dlog;

/**
 * Open the log in dir for appending (creating dir if needed) as node
 * node_id: a new segment after the newest one, so an append never follows
 * a torn record. 0 or a negative errno with a message in err.
 */
int cat_dlog_open(struct cat_dlog **out, const char *dir, uint32_t node_id,
		  char *err, size_t errlen);

/** Append len bytes of encoded records (one group). 0 or -errno. */
int cat_dlog_append(struct cat_dlog *l, const void *buf, size_t len);

/** fdatasync the current segment (and the directory once per new segment). */
int cat_dlog_sync(struct cat_dlog *l);

/** Bytes in every segment of the log, as written (not yet synced too).
 * Any thread (relaxed). */
uint64_t cat_dlog_bytes(const struct cat_dlog *l);

/**
 * Start a new segment now (the old one synced first) and say its sequence
 * in *seq: a snapshot taken after this holds every write of the segments
 * before it. The appending thread only. 0 or -errno.
 */
int cat_dlog_rotate(struct cat_dlog *l, uint64_t *seq);

/** bytes of segments were deleted (cat_dlog_drop_before): cat_dlog_bytes
 * no longer counts them. Any thread. */
void cat_dlog_forget(struct cat_dlog *l, uint64_t bytes);

/** The sequence numbers of dir's segments, sorted (*segs malloc'd, NULL
 * when there are none; a missing dir has none). 0 or -errno with err. */
int cat_dlog_list(const char *dir, uint64_t **segs, size_t *n, char *err,
		  size_t errlen);

/** The sequence number of a file name prefix + 16 hex digits + suffix,
 * or 0 if name is not one (snapshots are named like segments). */
uint64_t cat_dlog_name_seq(const char *name, const char *prefix,
			   const char *suffix);

/** cat_dlog_list for files named so (cat_dlog_name_seq). */
int cat_dlog_list_named(const char *dir, const char *prefix,
			const char *suffix, uint64_t **segs, size_t *n,
			char *err, size_t errlen);

/** Delete dir's files named so (cat_dlog_name_seq) numbered below seq,
 * then sync dir; *files counts them, *bytes (if not NULL) their size. */
int cat_dlog_drop_named(const char *dir, const char *prefix,
			const char *suffix, uint64_t seq, uint64_t *files,
			uint64_t *bytes);

/** fsync the directory dir (a name created, renamed or deleted in it is
 * on disk after this). 0 or -errno. */
int cat_dlog_sync_dir(const char *dir);

/** write() every byte of buf (again after EINTR). 0 or -errno. */
int cat_dlog_write_all(int fd, const void *buf, size_t len);

/**
 * Delete the segments of dir before seq (a snapshot at seq holds what they
 * did) and sync the directory; *segments and *bytes say what went. Never
 * the segment being appended to (seq is at most its number). 0 or -errno.
 */
int cat_dlog_drop_before(const char *dir, uint64_t seq, uint64_t *segments,
			 uint64_t *bytes);

void cat_dlog_close(struct cat_dlog *l);

/* ---- replay ---------------------------------------------------------- */

struct cat_dlog_replay {
	uint64_t segments;
	uint64_t records;
	uint64_t bytes;
	/* The end of the log: a record cut short by the crash (dropped, the
	 * segment truncated to the last whole record) or a corrupt one (the
	 * segment from there on is kept aside as NAME.corrupt, never applied,
	 * and so is every later segment). */
	int torn;
	int corrupt;
	uint64_t lost_bytes;
	char note[1536];
};

/**
 * Replay every segment of dir in order, calling fn for each record (fn
 * returns 0, or a negative errno to stop: replay then fails with it). A
 * missing or empty dir is an empty log. A segment of another node or a
 * newer format is refused (-EINVAL). Returns 0 with *st filled (a torn or
 * corrupt end is not an error: st says what was dropped), or -errno with
 * a message in err.
 */
int cat_dlog_replay(const char *dir, uint32_t node_id,
		    int (*fn)(const struct cat_dlog_rec *r, void *arg), void *arg,
		    struct cat_dlog_replay *st, char *err, size_t errlen);

/** cat_dlog_replay of the segments numbered from on only (the log after a
 * snapshot, replication/dsnap.h); the others are not read nor touched. */
int cat_dlog_replay_from(const char *dir, uint32_t node_id, uint64_t from,
			 int (*fn)(const struct cat_dlog_rec *r, void *arg),
			 void *arg, struct cat_dlog_replay *st, char *err,
			 size_t errlen);

#endif /* CAT_DLOG_H */
