/*
 * Fuzz target for the wire format (replication/wire.c) and the slot hash
 * (replication/hash.c): any byte string is decoded as a run of batched
 * messages, every decoded message must re-encode to exactly the bytes it
 * came from, and the CRC must match a plain table-driven CRC-32C.
 * Built by tests/fuzz/run_fuzz.sh (libFuzzer) and by meson (fuzz-replay).
 * Aborts on any broken invariant; never reads outside the input.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "replication/hash.h"
#include "replication/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Kept apart from hash.c's own table on purpose: the fuzzer compares the
 * SSE4.2 path (what the node runs) against an independent reference. */
static uint32_t ref_table[256];

static void ref_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = (c & 1u) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
		ref_table[i] = c;
	}
}

static uint32_t ref_crc32c(const uint8_t *p, size_t len)
{
	uint32_t crc = 0xFFFFFFFFu;

	while (len--)
		crc = ref_table[(crc ^ *p++) & 0xffu] ^ (crc >> 8);
	return ~crc;
}

static void fail(const char *what, size_t off)
{
	fprintf(stderr, "fuzz_wire: %s (message at offset %zu)\n", what, off);
	abort();
}

static void check_names(const struct cat_msg *m, enum cat_wire_err e)
{
	/* Names feed counters and logs: any byte value must give a string. */
	if (cat_wire_status_name(m->status) == NULL ||
	    cat_wire_op_name(m->op) == NULL || cat_wire_err_name(e) == NULL)
		fail("name lookup returned NULL", 0);
}

/* Checks one successfully decoded message found at buf[0..avail). */
static void check_message(const uint8_t *buf, size_t avail,
			  const struct cat_msg *m, size_t used, size_t off)
{
	enum cat_status st;
	uint8_t *out;
	int n;

	if (used < CAT_WIRE_HDR_LEN || used > avail)
		fail("consumed outside the buffer", off);
	if (used != cat_wire_msg_len(m))
		fail("consumed != cat_wire_msg_len", off);
	if (m->version != CAT_WIRE_VERSION)
		fail("decoded a version it does not speak", off);
	if (m->key != buf + CAT_WIRE_HDR_LEN ||
	    m->value != m->key + m->key_len)
		fail("key/value pointers not where the layout puts them", off);

	/* The status must be a real one, whatever limit the node runs with. */
	st = cat_wire_check_request(m, cat_wire_value_max(1500, m->key_len));
	if ((unsigned int)st >= CAT_ST__COUNT)
		fail("check_request returned an unknown status", off);
	st = cat_wire_check_request(m, UINT32_MAX);
	if ((unsigned int)st >= CAT_ST__COUNT)
		fail("check_request returned an unknown status", off);
	st = cat_wire_check_request(m, 0);
	if ((unsigned int)st >= CAT_ST__COUNT)
		fail("check_request returned an unknown status", off);
	if (st == CAT_ST_OK && m->value_len != 0)
		fail("check_request accepted a value over value_max=0", off);

	/* Round trip: decode then encode must give back the same bytes,
	 * since every field is carried and reserved bits were rejected. */
	/* Exactly used bytes, so ASan flags any write past the message. */
	out = malloc(used);
	if (out == NULL)
		fail("out of memory", off);
	n = cat_wire_encode(out, used, m);
	if (n < 0 || (size_t)n != used)
		fail("encode length differs from decode length", off);
	if (memcmp(out, buf, used) != 0)
		fail("re-encoded bytes differ from the input", off);
	if (cat_wire_encode(out, used - 1, m) != -ENOSPC)
		fail("encode into a buffer one byte short did not fail", off);

	memset(out, 0xA5, CAT_WIRE_HDR_LEN);
	cat_wire_encode_hdr(out, m);
	if (memcmp(out, buf, CAT_WIRE_HDR_LEN) != 0)
		fail("encode_hdr differs from the input header", off);
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	size_t off = 0;

	if (!ready) {
		ref_init();
		ready = 1;
	}

	while (off < size) {
		struct cat_msg m;
		size_t used = 12345;
		enum cat_wire_err e;

		memset(&m, 0, sizeof(m));
		e = cat_wire_decode(data + off, size - off, &m, &used);
		check_names(&m, e);
		if (e != CAT_WIRE_OK) {
			if ((unsigned int)e >= CAT_WIRE_ERR__COUNT)
				fail("decode returned an unknown error", off);
			if (used != 0)
				fail("decode failed but consumed != 0", off);
			break;
		}
		check_message(data + off, size - off, &m, used, off);
		off += used;
	}

	/* Same bytes as a key, at the start and unaligned, against the
	 * reference: covers every tail length of the 8/4/1-byte loops. */
	if (cat_hash_crc32c(data, size) != ref_crc32c(data, size))
		fail("cat_hash_crc32c differs from the reference", 0);
	if (size > 1 &&
	    cat_hash_crc32c(data + 1, size - 1) != ref_crc32c(data + 1, size - 1))
		fail("cat_hash_crc32c differs from the reference (unaligned)", 1);
	return 0;
}
