/*
 * Fuzz target for the wire format (replication/wire.c), the replication
 * message codecs (replication/wire_repl.c) and the slot hash
 * (replication/hash.c): any byte string is decoded as a run of batched
 * messages, every decoded message must re-encode to exactly the bytes it
 * came from, every message is also read as each replication message (and
 * what a codec accepts must re-encode to the same bytes), and the CRC must
 * match a plain table-driven CRC-32C.
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
#include "replication/wire_repl.h"

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

/* A replication decoder's answer: 0 or one of the two errors it names. */
static void check_rc(int rc, const char *what, size_t off)
{
	if (rc != 0 && rc != -EINVAL && rc != -EMSGSIZE)
		fail(what, off);
}

/* The extension and SNAP_DEDUP's record, read from any bytes: what
 * decodes must encode back to the same bytes, into exactly as many. */
static void check_repl_bodies(const uint8_t *p, size_t len, size_t off)
{
	struct cat_wire_repl_ext e;
	struct cat_wire_repl_dedup d;
	uint8_t *out;
	int rc;

	rc = cat_wire_repl_ext_decode(p, len, &e);
	check_rc(rc, "ext_decode returned an unknown error", off);
	if (rc == 0) {
		out = malloc(CAT_WIRE_REPL_EXT_LEN);
		if (out == NULL)
			fail("out of memory", off);
		cat_wire_repl_ext_encode(out, &e);
		if (memcmp(out, p, CAT_WIRE_REPL_EXT_LEN) != 0)
			fail("extension does not re-encode to its bytes", off);
		free(out);
	}
	rc = cat_wire_repl_dedup_decode(p, len, &d);
	check_rc(rc, "dedup_decode returned an unknown error", off);
	if (rc == 0) {
		if (d.value_len > CAT_WIRE_REPL_DEDUP_VALUE_MAX ||
		    len != CAT_WIRE_REPL_DEDUP_FIXED + (size_t)d.value_len ||
		    d.value != p + CAT_WIRE_REPL_DEDUP_FIXED)
			fail("dedup_decode accepted a bad length", off);
		out = malloc(len);
		if (out == NULL)
			fail("out of memory", off);
		if (cat_wire_repl_dedup_encode(&d, out, len) != (int)len ||
		    memcmp(out, p, len) != 0)
			fail("dedup record does not re-encode to its bytes", off);
		if (cat_wire_repl_dedup_encode(&d, out, len - 1) != -EMSGSIZE)
			fail("dedup encode into one byte short did not fail", off);
		free(out);
	}
}

/* Header and key/value of the re-encoded message equal the input's. */
static void check_same_msg(const struct cat_msg *a, const struct cat_msg *b,
			   const char *what, size_t off)
{
	if (a->op != b->op || a->flags != b->flags || a->status != b->status ||
	    a->slot != b->slot || a->epoch != b->epoch ||
	    a->client_id != b->client_id || a->seq != b->seq ||
	    a->arg != b->arg || a->key_len != b->key_len ||
	    a->value_len != b->value_len ||
	    (a->key_len && memcmp(a->key, b->key, a->key_len) != 0) ||
	    (a->value_len && memcmp(a->value, b->value, a->value_len) != 0))
		fail(what, off);
}

/* m read as each replication message, whatever its op: an accepted one,
 * encoded again as that message, must be m itself when m has that op and
 * nothing the layout leaves at zero. */
static void check_repl_message(const struct cat_msg *m, size_t off)
{
	struct cat_wire_repl_fwd f;
	struct cat_wire_repl_vquery q;
	struct cat_wire_repl_snap sn;
	struct cat_msg back;
	uint8_t *buf;
	int rc;

	check_repl_bodies(m->value, m->value_len, off);

	rc = cat_wire_repl_fwd_decode(m, &f);
	check_rc(rc, "fwd_decode returned an unknown error", off);
	if (rc == 0) {
		if (f.key_len == 0 || f.key_len > CAT_WIRE_KEY_MAX ||
		    f.payload_len + CAT_WIRE_REPL_EXT_LEN != m->value_len ||
		    f.ext.kind < CAT_WIRE_REPL_KIND_PUT ||
		    f.ext.kind > CAT_WIRE_REPL_KIND_NOOP)
			fail("fwd_decode accepted what its layout forbids", off);
		buf = malloc(m->value_len);
		if (buf == NULL)
			fail("out of memory", off);
		if (cat_wire_repl_fwd_encode(&f, buf, m->value_len - 1,
					     &back) != -EMSGSIZE)
			fail("fwd encode into one byte short did not fail", off);
		if (cat_wire_repl_fwd_encode(&f, buf, m->value_len, &back) != 0)
			fail("fwd encode failed", off);
		if (m->op == CAT_OP_R_FWD && m->flags == 0)
			check_same_msg(m, &back, "FWD does not round-trip", off);
		free(buf);
	}

	rc = cat_wire_repl_vquery_decode(m, &q);
	check_rc(rc, "vquery_decode returned an unknown error", off);
	if (rc == 0) {
		buf = malloc(CAT_WIRE_REPL_EXT_LEN);
		if (buf == NULL)
			fail("out of memory", off);
		cat_wire_repl_vquery_encode(&q, buf, &back);
		if (m->op == CAT_OP_R_VQUERY && m->flags == 0 &&
		    m->status == 0 && m->arg == 0 &&
		    m->value_len == CAT_WIRE_REPL_EXT_LEN)
			check_same_msg(m, &back, "VQUERY does not round-trip",
				       off);
		if (m->op == CAT_OP_R_VRESP) {
			struct cat_msg r = cat_wire_repl_vresp(m, q.version);

			check_same_msg(m, &r, "VRESP does not round-trip", off);
		}
		free(buf);
	}

	rc = cat_wire_repl_snap_decode(m, &sn);
	check_rc(rc, "snap_decode returned an unknown error", off);
	if (rc == 0) {
		if (sn.version == 0 || sn.key_len == 0 ||
		    sn.key_len > CAT_WIRE_KEY_MAX)
			fail("snap_decode accepted what its layout forbids", off);
		cat_wire_repl_snap_encode(&sn, &back);
		if (m->op == CAT_OP_R_SNAP && m->flags == 0 && m->status == 0)
			check_same_msg(m, &back, "SNAP does not round-trip", off);
	}
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
		check_repl_message(&m, off);
		off += used;
	}

	/* The raw input as a replication body too: reaches the extension
	 * and SNAP_DEDUP decoders without a header in front. */
	check_repl_bodies(data, size, 0);

	/* Same bytes as a key, at the start and unaligned, against the
	 * reference: covers every tail length of the 8/4/1-byte loops. */
	if (cat_hash_crc32c(data, size) != ref_crc32c(data, size))
		fail("cat_hash_crc32c differs from the reference", 0);
	if (size > 1 &&
	    cat_hash_crc32c(data + 1, size - 1) != ref_crc32c(data + 1, size - 1))
		fail("cat_hash_crc32c differs from the reference (unaligned)", 1);
	return 0;
}
