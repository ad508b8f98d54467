/*
 * replication/dlog.c: the on-disk write-ahead log's format, segments and
 * replay (see dlog.h). Runs on the log writer thread and at start-up,
 * never on a worker.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "replication/dlog.h"
#include "replication/hash.h"
#include "replication/le.h"

static int type_ok(uint8_t t)
{
	return t >= CAT_DLOG_PUT && t <= CAT_DLOG_CLEAR;
}

ssize_t cat_dlog_encode(uint8_t *buf, size_t cap, const struct cat_dlog_rec *r)
{
	size_t n;

	if (!type_ok(r->type) || r->vlen > CAT_DLOG_VALUE_MAX ||
	    ((r->type == CAT_DLOG_NOOP || r->type == CAT_DLOG_CLEAR) &&
	     (r->klen || r->vlen)) || (r->type == CAT_DLOG_DEL && r->vlen))
		return -EINVAL;
	n = cat_dlog_rec_size(r->klen, r->vlen);
	if (n > cap)
		return -ENOSPC;
	cat_le_put32(buf, (uint32_t)n);
	buf[8] = r->type;
	buf[9] = 0;
	cat_le_put16(buf + 10, r->slot);
	cat_le_put16(buf + 12, r->klen);
	cat_le_put16(buf + 14, 0);
	cat_le_put32(buf + 16, r->vlen);
	cat_le_put64(buf + 20, r->version);
	if (r->klen)
		memcpy(buf + CAT_DLOG_REC_HDR, r->key, r->klen);
	if (r->vlen)
		memcpy(buf + CAT_DLOG_REC_HDR + r->klen, r->value, r->vlen);
	cat_le_put32(buf + 4, cat_hash_crc32c(buf + 8, n - 8));
	return (ssize_t)n;
}

int cat_dlog_decode(const uint8_t *p, size_t len, struct cat_dlog_rec *r,
		    size_t *used)
{
	uint32_t n;

	if (len < 4)
		return -EAGAIN;
	n = cat_le_get32(p);
	if (n < CAT_DLOG_REC_HDR ||
	    n > cat_dlog_rec_size(CAT_DLOG_KEY_MAX, CAT_DLOG_VALUE_MAX))
		return -EBADMSG;
	if (len < n)
		return -EAGAIN;
	if (cat_le_get32(p + 4) != cat_hash_crc32c(p + 8, n - 8))
		return -EBADMSG;
	r->type = p[8];
	r->slot = cat_le_get16(p + 10);
	r->klen = cat_le_get16(p + 12);
	r->vlen = cat_le_get32(p + 16);
	r->version = cat_le_get64(p + 20);
	if (!type_ok(r->type) || p[9] != 0 || cat_le_get16(p + 14) != 0 ||
	    cat_dlog_rec_size(r->klen, r->vlen) != n ||
	    ((r->type == CAT_DLOG_NOOP || r->type == CAT_DLOG_CLEAR) &&
	     (r->klen || r->vlen)) || (r->type == CAT_DLOG_DEL && r->vlen))
		return -EBADMSG;
	r->key = p + CAT_DLOG_REC_HDR;
	r->value = p + CAT_DLOG_REC_HDR + r->klen;
	*used = n;
	return 0;
}

/* ---- segments -------------------------------------------------------- */

struct cat_dlog {
	char dir[512];
	uint32_t node_id;
	uint64_t seq;           /* the current segment's */
	int fd;
	int dir_fd;
	int dir_dirty;          /* a segment was created since the last sync */
	uint64_t seg_bytes;     /* in the current segment */
	uint64_t old_bytes;     /* in the segments before it */
	uint64_t dropped;       /* of those, deleted after a snapshot (another
				 * thread adds: atomic) */
};

static void seg_header(uint8_t *h, uint32_t node_id, uint64_t seq)
{
	memset(h, 0, CAT_DLOG_SEG_HDR);
	memcpy(h, CAT_DLOG_MAGIC, 8);
	cat_le_put32(h + 8, CAT_DLOG_VERSION);
	cat_le_put32(h + 12, node_id);
	cat_le_put64(h + 16, seq);
	cat_le_put32(h + 28, cat_hash_crc32c(h, 28));
}

uint64_t cat_dlog_name_seq(const char *name, const char *prefix,
			   const char *suffix)
{
	uint64_t v = 0;
	size_t n = strlen(name), p = strlen(prefix);

	if (n != p + 16 + strlen(suffix) || strncmp(name, prefix, p) != 0 ||
	    strcmp(name + p + 16, suffix) != 0)
		return 0;
	for (size_t i = p; i < p + 16; i++) {
		char c = name[i];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (uint64_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (uint64_t)(c - 'a' + 10);
		else
			return 0;
	}
	return v;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

int cat_dlog_list_named(const char *dir, const char *prefix,
			const char *suffix, uint64_t **out, size_t *n,
			char *err, size_t errlen)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t cap = 0;

	*out = NULL;
	*n = 0;
	if (d == NULL) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, errlen, "log directory %s: %s", dir, strerror(errno));
		return -errno;
	}
	while ((e = readdir(d)) != NULL) {
		uint64_t s = cat_dlog_name_seq(e->d_name, prefix, suffix);

		if (s == 0)
			continue;
		if (*n == cap) {
			uint64_t *m = realloc(*out, (cap = cap ? cap * 2 : 16) * sizeof(*m));

			if (m == NULL) {
				closedir(d);
				free(*out);
				*out = NULL;
				snprintf(err, errlen, "out of memory listing %s", dir);
				return -ENOMEM;
			}
			*out = m;
		}
		(*out)[(*n)++] = s;
	}
	closedir(d);
	if (*n)
		qsort(*out, *n, sizeof(**out), cmp_u64);
	return 0;
}

static int list_segments(const char *dir, uint64_t **out, size_t *n,
			 char *err, size_t errlen)
{
	return cat_dlog_list_named(dir, "seg-", ".clog", out, n, err, errlen);
}

static void seg_path(char *p, size_t len, const char *dir, uint64_t seq)
{
	snprintf(p, len, "%s/seg-%016" PRIx64 ".clog", dir, seq);
}

static int new_segment(struct cat_dlog *l, char *err, size_t errlen)
{
	uint8_t h[CAT_DLOG_SEG_HDR];
	char path[600];

	if (l->fd >= 0) {
		int rc = fdatasync(l->fd) != 0 ? -errno : 0;

		/* Closed whatever happens: a stale number could be another
		 * file's by the time cat_dlog_close runs. */
		if (close(l->fd) != 0 && rc == 0)
			rc = -errno;
		l->fd = -1;
		if (rc < 0) {
			snprintf(err, errlen, "log segment %016" PRIx64 ": %s", l->seq,
				 strerror(-rc));
			return rc;
		}
		__atomic_store_n(&l->old_bytes, l->old_bytes + l->seg_bytes,
				 __ATOMIC_RELAXED);
	}
	l->seq++;
	seg_path(path, sizeof(path), l->dir, l->seq);
	l->fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0640);
	if (l->fd < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -errno;
	}
	seg_header(h, l->node_id, l->seq);
	if (write(l->fd, h, sizeof(h)) != (ssize_t)sizeof(h)) {
		snprintf(err, errlen, "%s: header: %s", path, strerror(errno ? errno : EIO));
		return errno ? -errno : -EIO;
	}
	__atomic_store_n(&l->seg_bytes, sizeof(h), __ATOMIC_RELAXED);
	l->dir_dirty = 1;
	return 0;
}

static uint64_t file_bytes(const char *dir, uint64_t seq)
{
	char path[600];
	struct stat st;

	seg_path(path, sizeof(path), dir, seq);
	return stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
}

int cat_dlog_open(struct cat_dlog **out, const char *dir, uint32_t node_id,
		  char *err, size_t errlen)
{
	struct cat_dlog *l = calloc(1, sizeof(*l));
	uint64_t *segs;
	size_t n;
	int rc;

	*out = NULL;
	if (l == NULL) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	l->fd = -1;
	l->dir_fd = -1;
	l->node_id = node_id;
	if (snprintf(l->dir, sizeof(l->dir), "%s", dir) >= (int)sizeof(l->dir)) {
		snprintf(err, errlen, "log directory name too long");
		free(l);
		return -ENAMETOOLONG;
	}
	if (mkdir(dir, 0750) != 0 && errno != EEXIST) {
		snprintf(err, errlen, "log directory %s: %s", dir, strerror(errno));
		free(l);
		return -errno;
	}
	rc = list_segments(dir, &segs, &n, err, errlen);
	if (rc < 0) {
		free(l);
		return rc;
	}
	for (size_t i = 0; i < n; i++)
		l->old_bytes += file_bytes(dir, segs[i]);
	l->seq = n ? segs[n - 1] : 0;
	free(segs);
	l->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (l->dir_fd < 0) {
		snprintf(err, errlen, "log directory %s: %s", dir, strerror(errno));
		free(l);
		return -errno;
	}
	rc = new_segment(l, err, errlen);
	if (rc == 0)
		rc = cat_dlog_sync(l);
	if (rc < 0) {
		if (err[0] == '\0')
			snprintf(err, errlen, "log directory %s: %s", dir, strerror(-rc));
		cat_dlog_close(l);
		return rc;
	}
	*out = l;
	return 0;
}

int cat_dlog_append(struct cat_dlog *l, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	char err[256];
	int rc;

	if (l->seg_bytes >= CAT_DLOG_SEG_BYTES) {
		rc = new_segment(l, err, sizeof(err));
		if (rc < 0)
			return rc;
	}
	rc = cat_dlog_write_all(l->fd, p, len);
	if (rc < 0)
		return rc;	/* the writer stops: the count no longer matters */
	__atomic_store_n(&l->seg_bytes, l->seg_bytes + len, __ATOMIC_RELAXED);
	return 0;
}

int cat_dlog_write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len > 0) {
		ssize_t w = write(fd, p, len);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

int cat_dlog_sync(struct cat_dlog *l)
{
	if (fdatasync(l->fd) != 0)
		return -errno;
	/* A new segment's name must be on disk too, or its records are. */
	if (l->dir_dirty) {
		if (fsync(l->dir_fd) != 0)
			return -errno;
		l->dir_dirty = 0;
	}
	return 0;
}

uint64_t cat_dlog_bytes(const struct cat_dlog *l)
{
	return __atomic_load_n(&l->old_bytes, __ATOMIC_RELAXED) +
	       __atomic_load_n(&l->seg_bytes, __ATOMIC_RELAXED) -
	       __atomic_load_n(&l->dropped, __ATOMIC_RELAXED);
}

int cat_dlog_rotate(struct cat_dlog *l, uint64_t *seq)
{
	char err[256];
	int rc = new_segment(l, err, sizeof(err));

	if (rc == 0)
		*seq = l->seq;
	return rc;
}

void cat_dlog_forget(struct cat_dlog *l, uint64_t bytes)
{
	__atomic_fetch_add(&l->dropped, bytes, __ATOMIC_RELAXED);
}

int cat_dlog_list(const char *dir, uint64_t **segs, size_t *n, char *err,
		  size_t errlen)
{
	return list_segments(dir, segs, n, err, errlen);
}

int cat_dlog_drop_named(const char *dir, const char *prefix,
			const char *suffix, uint64_t seq, uint64_t *files,
			uint64_t *bytes)
{
	uint64_t *seqs;
	size_t n;
	char err[256];
	int rc = cat_dlog_list_named(dir, prefix, suffix, &seqs, &n, err, sizeof(err));

	*files = 0;
	if (bytes != NULL)
		*bytes = 0;
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < n && seqs[i] < seq; i++) {
		char path[640];
		struct stat st;

		snprintf(path, sizeof(path), "%s/%s%016" PRIx64 "%s", dir, prefix,
			 seqs[i], suffix);
		if (bytes != NULL && stat(path, &st) == 0)
			*bytes += (uint64_t)st.st_size;
		if (unlink(path) != 0) {
			rc = -errno;
			break;
		}
		(*files)++;
	}
	free(seqs);
	/* The names gone for good (a crash before this sync leaves files a
	 * replay skips or deletes again). */
	if (rc == 0)
		rc = cat_dlog_sync_dir(dir);
	return rc;
}

int cat_dlog_sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd) != 0)
		rc = -errno;
	close(fd);
	return rc;
}

int cat_dlog_drop_before(const char *dir, uint64_t seq, uint64_t *segments,
			 uint64_t *bytes)
{
	return cat_dlog_drop_named(dir, "seg-", ".clog", seq, segments, bytes);
}

void cat_dlog_close(struct cat_dlog *l)
{
	if (l == NULL)
		return;
	if (l->fd >= 0) {
		(void)fdatasync(l->fd);
		close(l->fd);
	}
	if (l->dir_fd >= 0)
		close(l->dir_fd);
	free(l);
}

/* ---- replay ---------------------------------------------------------- */

/* Read a whole segment (segments are bounded: CAT_DLOG_SEG_BYTES plus one
 * group). */
static int read_file(const char *path, uint8_t **buf, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	size_t got = 0;

	*buf = NULL;
	if (fd < 0 || fstat(fd, &st) != 0) {
		int e = -errno;

		if (fd >= 0)
			close(fd);
		return e;
	}
	*len = (size_t)st.st_size;
	*buf = malloc(*len ? *len : 1);
	if (*buf == NULL) {
		close(fd);
		return -ENOMEM;
	}
	while (got < *len) {
		ssize_t r = read(fd, *buf + got, *len - got);

		if (r <= 0) {
			int e = r < 0 ? -errno : -EIO;

			if (r < 0 && errno == EINTR)
				continue;
			close(fd);
			free(*buf);
			*buf = NULL;
			return e;
		}
		got += (size_t)r;
	}
	close(fd);
	return 0;
}

/* Keep a damaged tail aside: the segment from off on goes to NAME.corrupt
 * and the segment is cut at off. Nothing is deleted. */
static int set_aside(const char *path, const uint8_t *buf, size_t len, size_t off)
{
	char aside[640];
	int fd;

	snprintf(aside, sizeof(aside), "%s.corrupt", path);
	fd = open(aside, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (fd < 0)
		return -errno;
	if (write(fd, buf + off, len - off) != (ssize_t)(len - off) || fsync(fd) != 0) {
		int e = errno ? -errno : -EIO;

		close(fd);
		return e;
	}
	close(fd);
	return truncate(path, (off_t)off) == 0 ? 0 : -errno;
}

int cat_dlog_replay(const char *dir, uint32_t node_id,
		    int (*fn)(const struct cat_dlog_rec *r, void *arg), void *arg,
		    struct cat_dlog_replay *st, char *err, size_t errlen)
{
	return cat_dlog_replay_from(dir, node_id, 0, fn, arg, st, err, errlen);
}

int cat_dlog_replay_from(const char *dir, uint32_t node_id, uint64_t from,
			 int (*fn)(const struct cat_dlog_rec *r, void *arg),
			 void *arg, struct cat_dlog_replay *st, char *err,
			 size_t errlen)
{
	uint64_t *segs;
	size_t n, skip = 0;
	int rc;

	memset(st, 0, sizeof(*st));
	rc = list_segments(dir, &segs, &n, err, errlen);
	if (rc < 0)
		return rc;
	/* Segments before a snapshot's are in it: left alone (kept only as
	 * the older snapshot's fallback). */
	while (skip < n && segs[skip] < from)
		skip++;
	if (skip) {
		memmove(segs, segs + skip, (n - skip) * sizeof(*segs));
		n -= skip;
	}
	for (size_t i = 0; i < n && rc == 0; i++) {
		char path[600];
		uint8_t *buf;
		size_t len = 0, off;

		seg_path(path, sizeof(path), dir, segs[i]);
		if (st->corrupt) {
			/* After a corrupt record nothing is applied: later
			 * writes may depend on the ones lost. Kept aside. */
			char aside[640];
			uint64_t b = file_bytes(dir, segs[i]);

			snprintf(aside, sizeof(aside), "%s.corrupt", path);
			if (rename(path, aside) != 0) {
				rc = -errno;
				snprintf(err, errlen, "%s: %s", path, strerror(errno));
			}
			st->lost_bytes += b;
			continue;
		}
		rc = read_file(path, &buf, &len);
		if (rc < 0) {
			snprintf(err, errlen, "%s: %s", path, strerror(-rc));
			break;
		}
		st->segments++;
		if (len < CAT_DLOG_SEG_HDR) {
			/* Created, header never completed: a crash right
			 * after open. Nothing in it. */
			free(buf);
			if (i + 1 == n && unlink(path) == 0)
				continue;
			st->torn = 1;
			snprintf(st->note, sizeof(st->note), "%s: %zu-byte segment without a "
				 "whole header, removed", path, len);
			continue;
		}
		if (memcmp(buf, CAT_DLOG_MAGIC, 8) != 0 ||
		    cat_le_get32(buf + 28) != cat_hash_crc32c(buf, 28)) {
			rc = -EBADMSG;
			snprintf(err, errlen, "%s: not a catena log segment (bad magic or "
				 "header checksum)", path);
		} else if (cat_le_get32(buf + 8) > CAT_DLOG_VERSION) {
			rc = -EINVAL;
			snprintf(err, errlen, "%s: log format %u is newer than this "
				 "catena-node's (%u)", path, cat_le_get32(buf + 8), CAT_DLOG_VERSION);
		} else if (cat_le_get32(buf + 12) != node_id) {
			rc = -EINVAL;
			snprintf(err, errlen, "%s: the log of node %u, not of node %u "
				 "(a wrong [node] log_dir?)", path, cat_le_get32(buf + 12), node_id);
		}
		off = CAT_DLOG_SEG_HDR;
		while (rc == 0 && off < len) {
			struct cat_dlog_rec r;
			size_t used;
			int d = cat_dlog_decode(buf + off, len - off, &r, &used);

			if (d == 0) {
				rc = fn(&r, arg);
				if (rc < 0)
					snprintf(err, errlen, "%s at offset %zu: applying a "
						 "record: %s", path, off, strerror(-rc));
				st->records++;
				st->bytes += used;
				off += used;
				continue;
			}
			if (d == -EAGAIN && i + 1 == n) {
				st->torn = 1;
				snprintf(st->note, sizeof(st->note), "%s: the last %zu bytes "
					 "are a record cut short (a crash while writing): "
					 "dropped, as never acknowledged", path, len - off);
			} else {
				st->corrupt = 1;
				snprintf(st->note, sizeof(st->note), "%s: corrupt record at "
					 "offset %zu: the %" PRIu64 " records before it are "
					 "replayed, the %zu bytes from it on are kept in "
					 "%s.corrupt and not applied", path, off, st->records,
					 len - off, path);
			}
			st->lost_bytes += len - off;
			rc = set_aside(path, buf, len, off);
			if (rc < 0)
				snprintf(err, errlen, "%s: cutting the log at offset %zu: %s",
					 path, off, strerror(-rc));
			break;
		}
		free(buf);
	}
	free(segs);
	return rc;
}
