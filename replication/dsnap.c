/*
 * replication/dsnap.c: snapshot files of the durable log and the start-up
 * choice of snapshot + segments (see dsnap.h). Runs on the snapshot
 * thread and at start-up, never on a worker.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "replication/dsnap.h"
#include "replication/hash.h"
#include "replication/le.h"

struct cat_dsnap_writer {
	char path[600];          /* the final name; the file is path.partial */
	char dir[512];
	int fd;
	uint64_t records;
	uint64_t body;           /* bytes of records */
	uint32_t crc;            /* of the records so far */
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void cat_dsnap_path(char *p, size_t len, const char *dir, uint64_t seq)
{
	snprintf(p, len, "%s/snap-%016" PRIx64 ".csnap", dir, seq);
}

int cat_dsnap_begin(struct cat_dsnap_writer **out, const char *dir,
		    uint32_t node_id, uint64_t seq, uint32_t slot_count,
		    char *err, size_t errlen)
{
	struct cat_dsnap_writer *w = calloc(1, sizeof(*w));
	uint8_t h[CAT_DSNAP_HDR];
	char partial[640];
	int rc;

	*out = NULL;
	if (w == NULL) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	snprintf(w->dir, sizeof(w->dir), "%s", dir);
	cat_dsnap_path(w->path, sizeof(w->path), dir, seq);
	snprintf(partial, sizeof(partial), "%s.partial", w->path);
	/* O_TRUNC: a .partial left by a crash is only ever a leftover. */
	w->fd = open(partial, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (w->fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", partial, strerror(errno));
		free(w);
		return rc;
	}
	memset(h, 0, sizeof(h));
	memcpy(h, CAT_DSNAP_MAGIC, 8);
	cat_le_put32(h + 8, CAT_DSNAP_VERSION);
	cat_le_put32(h + 12, node_id);
	cat_le_put64(h + 16, seq);
	cat_le_put32(h + 24, slot_count);
	cat_le_put32(h + 28, cat_hash_crc32c(h, 28));
	rc = cat_dlog_write_all(w->fd, h, sizeof(h));
	if (rc < 0) {
		snprintf(err, errlen, "%s: %s", partial, strerror(-rc));
		cat_dsnap_abort(w);
		return rc;
	}
	*out = w;
	return 0;
}

int cat_dsnap_write(struct cat_dsnap_writer *w, const void *recs, size_t len,
		    uint64_t nrec)
{
	int rc = cat_dlog_write_all(w->fd, recs, len);

	if (rc < 0)
		return rc;
	w->crc = cat_hash_crc32c_update(w->crc, recs, len);
	w->body += len;
	w->records += nrec;
	return 0;
}

uint64_t cat_dsnap_bytes(const struct cat_dsnap_writer *w)
{
	return CAT_DSNAP_HDR + w->body;
}

void cat_dsnap_abort(struct cat_dsnap_writer *w)
{
	char partial[640];

	if (w == NULL)
		return;
	if (w->fd >= 0)
		close(w->fd);
	snprintf(partial, sizeof(partial), "%s.partial", w->path);
	(void)unlink(partial);
	free(w);
}

int cat_dsnap_commit(struct cat_dsnap_writer *w, char *err, size_t errlen)
{
	uint8_t t[CAT_DSNAP_TRAILER];
	char partial[640];
	int rc;

	memset(t, 0, sizeof(t));
	memcpy(t, CAT_DSNAP_END_MAGIC, 8);
	cat_le_put64(t + 8, w->records);
	cat_le_put64(t + 16, w->body);
	cat_le_put32(t + 24, w->crc);
	cat_le_put32(t + 28, cat_hash_crc32c(t, 28));
	snprintf(partial, sizeof(partial), "%s.partial", w->path);
	rc = cat_dlog_write_all(w->fd, t, sizeof(t));
	/* The data before the name: a renamed snapshot is a whole one. */
	if (rc == 0 && fsync(w->fd) != 0)
		rc = -errno;
	if (rc == 0 && close(w->fd) != 0)
		rc = -errno;
	w->fd = -1;
	if (rc == 0 && rename(partial, w->path) != 0)
		rc = -errno;
	/* The name before any segment it replaces is deleted. */
	if (rc == 0)
		rc = cat_dlog_sync_dir(w->dir);
	if (rc < 0) {
		snprintf(err, errlen, "%s: %s", partial, strerror(-rc));
		cat_dsnap_abort(w);
		return rc;
	}
	free(w);
	return 0;
}

int cat_dsnap_list(const char *dir, uint64_t **seqs, size_t *n, char *err,
		   size_t errlen)
{
	return cat_dlog_list_named(dir, "snap-", ".csnap", seqs, n, err, errlen);
}

/* ---- reading ------------------------------------------------------------ */

/* Check the file at p[0..len): 0 or -EBADMSG/-EINVAL with err. */
static int check(const char *path, const uint8_t *p, size_t len,
		 uint32_t node_id, char *err, size_t errlen)
{
	const uint8_t *t;
	uint64_t recs = 0;
	size_t off = CAT_DSNAP_HDR, end;

	if (len < CAT_DSNAP_HDR || memcmp(p, CAT_DSNAP_MAGIC, 8) != 0 ||
	    cat_le_get32(p + 28) != cat_hash_crc32c(p, 28)) {
		snprintf(err, errlen, "%s: damaged (bad magic or header checksum)", path);
		return -EBADMSG;
	}
	if (cat_le_get32(p + 8) > CAT_DSNAP_VERSION) {
		snprintf(err, errlen, "%s: snapshot format %u is newer than this "
			 "catena-node's (%u)", path, cat_le_get32(p + 8), CAT_DSNAP_VERSION);
		return -EINVAL;
	}
	if (cat_le_get32(p + 12) != node_id) {
		snprintf(err, errlen, "%s: the snapshot of node %u, not of node %u "
			 "(a wrong [node] log_dir?)", path, cat_le_get32(p + 12), node_id);
		return -EINVAL;
	}
	if (len < CAT_DSNAP_HDR + CAT_DSNAP_TRAILER) {
		snprintf(err, errlen, "%s: damaged (no whole trailer: cut short?)", path);
		return -EBADMSG;
	}
	t = p + len - CAT_DSNAP_TRAILER;
	if (memcmp(t, CAT_DSNAP_END_MAGIC, 8) != 0 ||
	    cat_le_get32(t + 28) != cat_hash_crc32c(t, 28)) {
		snprintf(err, errlen, "%s: damaged (no whole trailer: cut short?)", path);
		return -EBADMSG;
	}
	end = len - CAT_DSNAP_TRAILER;
	if (cat_le_get64(t + 16) != end - CAT_DSNAP_HDR ||
	    cat_le_get32(t + 24) != cat_hash_crc32c(p + off, end - off)) {
		snprintf(err, errlen, "%s: damaged (the records' checksum or length "
			 "is wrong)", path);
		return -EBADMSG;
	}
	while (off < end) {
		struct cat_dlog_rec r;
		size_t used;

		if (cat_dlog_decode(p + off, end - off, &r, &used) != 0) {
			snprintf(err, errlen, "%s: damaged (bad record at offset %zu)",
				 path, off);
			return -EBADMSG;
		}
		off += used;
		recs++;
	}
	if (recs != cat_le_get64(t + 8)) {
		snprintf(err, errlen, "%s: damaged (%" PRIu64 " records, the trailer "
			 "says %" PRIu64 ")", path, recs, cat_le_get64(t + 8));
		return -EBADMSG;
	}
	return 0;
}

int cat_dsnap_parse(const char *path, const uint8_t *p, size_t len,
		    uint32_t node_id,
		    int (*fn)(const struct cat_dlog_rec *r, void *arg), void *arg,
		    uint64_t *records, uint64_t *bytes, char *err, size_t errlen)
{
	size_t off = CAT_DSNAP_HDR;
	/* The whole file is checked before one record is applied: a damaged
	 * snapshot changes nothing, and an older one can be tried. */
	int rc = check(path, p, len, node_id, err, errlen);

	*records = *bytes = 0;
	while (rc == 0 && off < len - CAT_DSNAP_TRAILER) {
		struct cat_dlog_rec r;
		size_t used;

		(void)cat_dlog_decode(p + off, len - CAT_DSNAP_TRAILER - off, &r, &used);
		rc = fn(&r, arg);
		if (rc < 0)
			snprintf(err, errlen, "%s at offset %zu: applying a record: %s",
				 path, off, strerror(-rc));
		off += used;
		(*records)++;
		*bytes += used;
	}
	return rc;
}

int cat_dsnap_load(const char *path, uint32_t node_id,
		   int (*fn)(const struct cat_dlog_rec *r, void *arg), void *arg,
		   uint64_t *records, uint64_t *bytes, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc;
	struct stat st;
	uint8_t *p;
	size_t len;

	*records = *bytes = 0;
	if (fd < 0 || fstat(fd, &st) != 0) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return rc;
	}
	len = (size_t)st.st_size;
	if (len == 0) {
		close(fd);
		snprintf(err, errlen, "%s: damaged (empty)", path);
		return -EBADMSG;
	}
	p = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (p == MAP_FAILED) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return rc;
	}
	rc = cat_dsnap_parse(path, p, len, node_id, fn, arg, records, bytes, err,
			     errlen);
	munmap(p, len);
	return rc;
}

int cat_dsnap_drop_before(const char *dir, uint64_t seq, uint64_t *deleted)
{
	return cat_dlog_drop_named(dir, "snap-", ".csnap", seq, deleted, NULL);
}

/* Do segs[0..n) hold every segment from seq on (none missing between seq
 * and the newest)? */
static int covers(const uint64_t *segs, size_t n, uint64_t seq)
{
	size_t i = 0;

	while (i < n && segs[i] < seq)
		i++;
	if (i == n)
		return 1;	/* none after it yet */
	if (segs[i] != seq)
		return 0;
	for (; i + 1 < n; i++)
		if (segs[i + 1] != segs[i] + 1)
			return 0;
	return 1;
}

static void note_add(struct cat_dsnap_recovery *rec, const char *what)
{
	size_t used = strlen(rec->note);

	snprintf(rec->note + used, sizeof(rec->note) - used, "%s%s",
		 used ? "; " : "", what);
}

int cat_dsnap_recover(const char *dir, uint32_t node_id,
		      int (*fn)(const struct cat_dlog_rec *r, void *arg),
		      void *arg, struct cat_dsnap_recovery *rec, char *err,
		      size_t errlen)
{
	uint64_t *snaps = NULL, *segs = NULL, from = 0, t0, ns_gone;
	size_t ns = 0, ng = 0;
	int rc;

	memset(rec, 0, sizeof(*rec));
	rc = cat_dsnap_list(dir, &snaps, &ns, err, errlen);
	if (rc == 0)
		rc = cat_dlog_list(dir, &segs, &ng, err, errlen);
	if (rc < 0)
		goto out;
	/* A crash while one was written: only ever a leftover. */
	(void)cat_dlog_drop_named(dir, "snap-", ".csnap.partial", UINT64_MAX, &ns_gone,
				  NULL);
	for (size_t i = ns; i-- > 0;) {
		char path[640], why[768], aside[700];

		if (!covers(segs, ng, snaps[i])) {
			snprintf(why, sizeof(why), "snapshot %016" PRIx64 " not used: "
				 "a log segment after it is missing", snaps[i]);
			note_add(rec, why);
			continue;
		}
		cat_dsnap_path(path, sizeof(path), dir, snaps[i]);
		t0 = now_ns();
		rc = cat_dsnap_load(path, node_id, fn, arg, &rec->snap_records,
				    &rec->snap_bytes, why, sizeof(why));
		if (rc == 0) {
			rec->snap_ns = now_ns() - t0;
			rec->snap_seq = from = snaps[i];
			break;
		}
		if (rc != -EBADMSG) {
			snprintf(err, errlen, "%s", why);
			goto out;
		}
		/* Kept for the operator, out of the way of the next start. */
		rec->damaged++;
		snprintf(aside, sizeof(aside), "%s.damaged", path);
		(void)rename(path, aside);
		note_add(rec, why);
		rc = 0;
	}
	if (from == 0 && (ns > 0 || ng > 0) &&
	    !(ng > 0 && segs[0] == 1 && covers(segs, ng, 1))) {
		/* Segments were deleted after a snapshot that cannot be read
		 * now: what is left is less than the disk promised. */
		char gone[64];

		if (ng)
			snprintf(gone, sizeof(gone), "segments before %016" PRIx64, segs[0]);
		else
			snprintf(gone, sizeof(gone), "segments");
		snprintf(err, errlen, "%s%sno usable snapshot and the log's %s "
			 "were deleted: refusing to start with less than the log held "
			 "(restore the snapshot, or empty %s to start this node empty)",
			 rec->note, rec->note[0] ? "; " : "", gone, dir);
		rc = -EBADMSG;
		goto out;
	}
	t0 = now_ns();
	rc = cat_dlog_replay_from(dir, node_id, from, fn, arg, &rec->log, err, errlen);
	rec->log_ns = now_ns() - t0;
out:
	free(snaps);
	free(segs);
	return rc;
}
