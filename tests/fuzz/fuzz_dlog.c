/*
 * Fuzz target for the on-disk log's record decoder (replication/dlog.c):
 * any byte string is read as records back to back, the way replay reads a
 * segment; every decoded record must re-encode to exactly the bytes it
 * came from, and a decode never reads outside the input. Built by
 * tests/fuzz/run_fuzz.sh (libFuzzer) and by meson (fuzz-replay-dlog).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "replication/dlog.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t out[CAT_DLOG_REC_HDR + CAT_DLOG_KEY_MAX + CAT_DLOG_VALUE_MAX];
	size_t off = 0;

	while (off < size) {
		struct cat_dlog_rec r;
		size_t used = 0;
		int rc = cat_dlog_decode(data + off, size - off, &r, &used);
		ssize_t n;

		if (rc == -EAGAIN || rc == -EBADMSG)
			break;
		if (rc != 0 || used == 0 || used > size - off)
			abort();
		n = cat_dlog_encode(out, sizeof(out), &r);
		if (n != (ssize_t)used || memcmp(out, data + off, used) != 0)
			abort();
		off += used;
	}
	return 0;
}
