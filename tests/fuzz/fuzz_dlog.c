/*
 * Fuzz target for the on-disk log's record decoder (replication/dlog.c)
 * and its snapshot files (replication/dsnap.c). Any byte string is read
 * as records back to back, the way replay reads a segment; every decoded
 * record must re-encode to exactly the bytes it came from, and a decode
 * never reads outside the input. The same bytes are then read as a
 * snapshot file: a damaged one must give nothing to apply, a good one only
 * records that re-encode to their bytes, laid end to end from the header
 * to the trailer. Built by tests/fuzz/run_fuzz.sh (libFuzzer) and by meson
 * (fuzz-replay-dlog).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "replication/dlog.h"
#include "replication/dsnap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t out[CAT_DLOG_REC_HDR + CAT_DLOG_KEY_MAX + CAT_DLOG_VALUE_MAX];

struct snap_seen {
	const uint8_t *data;
	size_t off;          /* where the next record must start */
};

static int snap_rec(const struct cat_dlog_rec *r, void *arg)
{
	struct snap_seen *s = arg;
	ssize_t n = cat_dlog_encode(out, sizeof(out), r);

	if (n <= 0 || r->key != s->data + s->off + CAT_DLOG_REC_HDR ||
	    memcmp(out, s->data + s->off, (size_t)n) != 0)
		abort();
	s->off += (size_t)n;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct snap_seen seen = { data, CAT_DSNAP_HDR };
	uint64_t records, bytes;
	char err[256];
	size_t off = 0;
	int rc;

	while (off < size) {
		struct cat_dlog_rec r;
		size_t used = 0;
		int d = cat_dlog_decode(data + off, size - off, &r, &used);
		ssize_t n;

		if (d == -EAGAIN || d == -EBADMSG)
			break;
		if (d != 0 || used == 0 || used > size - off)
			abort();
		n = cat_dlog_encode(out, sizeof(out), &r);
		if (n != (ssize_t)used || memcmp(out, data + off, used) != 0)
			abort();
		off += used;
	}
	/* As a snapshot of node 1 (the corpus's). */
	rc = cat_dsnap_parse("fuzz", data, size, 1, snap_rec, &seen, &records,
			     &bytes, err, sizeof(err));
	if (rc == 0 ? seen.off != size - CAT_DSNAP_TRAILER ||
		      bytes != seen.off - CAT_DSNAP_HDR
		    : (rc != -EBADMSG && rc != -EINVAL) || records != 0)
		abort();
	return 0;
}
