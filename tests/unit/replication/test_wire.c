/*
 * Unit tests for replication/wire.c: the byte layout of the 40-byte header
 * (checked against bytes built by hand, not against the encoder), round trips
 * of every op, every decode error, batching, and cat_wire_check_request;
 * and replication/wire_repl.c: the replication opcodes, each message's
 * layout against bytes built from docs/PROTOCOL.md, round trips, and every
 * malformed length or field each decoder must refuse.
 * Expected values come from the contracts in replication/wire.h,
 * replication/wire_repl.h and docs/PROTOCOL.md, never from the
 * implementation.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "replication/wire.h"
#include "replication/wire_repl.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

static void le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* Header fields as a test wants to lay them out, including the ones the
 * encoder never lets you choose (magic, version, reserved). */
struct raw {
	uint16_t magic;
	uint8_t version, op, flags, status;
	uint16_t slot;
	uint32_t epoch, client_id;
	uint64_t seq, arg;
	uint16_t key_len, reserved;
	uint32_t value_len;
};

static struct raw raw_default(uint8_t op)
{
	struct raw r = {
		.magic = 0xCA7E, .version = 1, .op = op, .flags = 0,
		.status = 0, .slot = 0x1234, .epoch = 0x89ABCDEF,
		.client_id = 0x01020304, .seq = 0x1122334455667788ull,
		.arg = 0x99AABBCCDDEEFF00ull, .key_len = 0, .reserved = 0,
		.value_len = 0,
	};
	return r;
}

/* Lay a message out by hand exactly as the protocol specifies; key and value
 * are copied only if non-NULL (so lengths can lie). Returns bytes written. */
static size_t build_raw(uint8_t *b, const struct raw *r, const void *key,
			size_t kcopy, const void *val, size_t vcopy)
{
	le16(b + 0, r->magic);
	b[2] = r->version;
	b[3] = r->op;
	b[4] = r->flags;
	b[5] = r->status;
	le16(b + 6, r->slot);
	le32(b + 8, r->epoch);
	le32(b + 12, r->client_id);
	le64(b + 16, r->seq);
	le64(b + 24, r->arg);
	le16(b + 32, r->key_len);
	le16(b + 34, r->reserved);
	le32(b + 36, r->value_len);
	if (key)
		memcpy(b + 40, key, kcopy);
	if (val)
		memcpy(b + 40 + kcopy, val, vcopy);
	return 40 + kcopy + vcopy;
}

static void fill_pattern(uint8_t *p, size_t n, uint8_t seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(seed + i * 7u);
}

static void assert_msg_equal(const struct cat_msg *a, const struct cat_msg *b)
{
	assert_int_equal(a->op, b->op);
	assert_int_equal(a->flags, b->flags);
	assert_int_equal(a->status, b->status);
	assert_int_equal(a->slot, b->slot);
	assert_int_equal(a->epoch, b->epoch);
	assert_int_equal(a->client_id, b->client_id);
	assert_true(a->seq == b->seq);
	assert_true(a->arg == b->arg);
	assert_int_equal(a->key_len, b->key_len);
	assert_int_equal(a->value_len, b->value_len);
	if (a->key_len)
		assert_memory_equal(a->key, b->key, a->key_len);
	if (a->value_len)
		assert_memory_equal(a->value, b->value, a->value_len);
}

/* ---- constants and limits ---- */

static void test_constants(void **state)
{
	(void)state;
	assert_int_equal(CAT_WIRE_MAGIC, 0xCA7E);
	assert_int_equal(CAT_WIRE_VERSION, 1);
	assert_int_equal(CAT_WIRE_HDR_LEN, 40);
	assert_int_equal(CAT_WIRE_KEY_MAX, 250);
	assert_int_equal(CAT_WIRE_PAYLOAD_MAX_1500, 1472);
	assert_int_equal(CAT_WIRE_DEFAULT_PORT, 7470);
}

static void test_value_max(void **state)
{
	(void)state;
	/* 1500 - 20 (IPv4) - 8 (UDP) - 40 (header) - 24 (forward ext). */
	assert_int_equal(cat_wire_value_max(1500, 0), 1408);
	assert_int_equal(cat_wire_value_max(1500, 1), 1407);
	assert_int_equal(cat_wire_value_max(1500, 250), 1158);
	assert_int_equal(cat_wire_value_max(9000, 10), 9000 - 28 - 40 - 24 - 10);
	/* A header plus key that does not fit leaves no room, never wraps. */
	assert_int_equal(cat_wire_value_max(92, 0), 0);
	assert_int_equal(cat_wire_value_max(91, 0), 0);
	assert_int_equal(cat_wire_value_max(93, 0), 1);
	assert_int_equal(cat_wire_value_max(100, 250), 0);
	assert_int_equal(cat_wire_value_max(0, 0), 0);
	/* The forward of a full-size request is exactly one 1500-MTU UDP
	 * payload. */
	assert_int_equal(CAT_WIRE_HDR_LEN + 250 + CAT_WIRE_REPL_EXT_LEN +
			 cat_wire_value_max(1500, 250), CAT_WIRE_PAYLOAD_MAX_1500);
}

/* ---- byte-exact layout ---- */

static void test_encode_layout_byte_exact(void **state)
{
	(void)state;
	uint8_t key[5] = { 'k', 'e', 'y', 0x00, 0xFF };
	uint8_t val[7] = { 1, 2, 3, 4, 5, 6, 7 };
	uint8_t want[64], got[64];
	struct cat_msg m = {
		.version = 0x55, /* ignored: the encoder always writes 1 */
		.op = CAT_OP_CAS, .flags = CAT_F_CAS_VALUE, .status = 0x0B,
		.slot = 0xBEEF, .epoch = 0xDEADBEEF, .client_id = 0xA1B2C3D4,
		.seq = 0x0102030405060708ull, .arg = 0xF0E0D0C0B0A09080ull,
		.key_len = sizeof(key), .value_len = sizeof(val),
		.key = key, .value = val,
	};

	memset(want, 0, sizeof(want));
	memset(got, 0xAA, sizeof(got));
	struct raw r = {
		.magic = 0xCA7E, .version = 1, .op = CAT_OP_CAS,
		.flags = CAT_F_CAS_VALUE, .status = 0x0B, .slot = 0xBEEF,
		.epoch = 0xDEADBEEF, .client_id = 0xA1B2C3D4,
		.seq = 0x0102030405060708ull, .arg = 0xF0E0D0C0B0A09080ull,
		.key_len = 5, .reserved = 0, .value_len = 7,
	};
	size_t n = build_raw(want, &r, key, 5, val, 7);
	assert_int_equal(n, 52);
	assert_int_equal(cat_wire_msg_len(&m), 52);

	int rc = cat_wire_encode(got, sizeof(got), &m);
	assert_int_equal(rc, 52);
	assert_memory_equal(got, want, 52);

	/* Spot-check the spec's literal bytes too, independent of build_raw. */
	static const uint8_t hdr[40] = {
		0x7E, 0xCA, 0x01, 0x04, 0x02, 0x0B, 0xEF, 0xBE,
		0xEF, 0xBE, 0xAD, 0xDE, 0xD4, 0xC3, 0xB2, 0xA1,
		0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01,
		0x80, 0x90, 0xA0, 0xB0, 0xC0, 0xD0, 0xE0, 0xF0,
		0x05, 0x00, 0x00, 0x00, 0x07, 0x00, 0x00, 0x00,
	};
	assert_memory_equal(got, hdr, 40);
	assert_memory_equal(got + 40, key, 5);
	assert_memory_equal(got + 45, val, 7);
	/* Nothing written past the message. */
	for (size_t i = 52; i < sizeof(got); i++)
		assert_int_equal(got[i], 0xAA);
}

static void test_encode_hdr_matches_encode(void **state)
{
	(void)state;
	uint8_t key[3] = { 'a', 'b', 'c' }, val[2] = { 'x', 'y' };
	uint8_t full[64], hdr[CAT_WIRE_HDR_LEN + 8];
	struct cat_msg m = {
		.op = CAT_OP_GET, .flags = CAT_F_REPLY, .status = CAT_ST_OK,
		.slot = 7, .epoch = 3, .client_id = 99, .seq = 12345,
		.arg = 42, .key_len = 3, .value_len = 2, .key = key, .value = val,
	};

	memset(hdr, 0xAA, sizeof(hdr));
	assert_int_equal(cat_wire_encode(full, sizeof(full), &m), 45);
	cat_wire_encode_hdr(hdr, &m);
	assert_memory_equal(hdr, full, CAT_WIRE_HDR_LEN);
	for (size_t i = CAT_WIRE_HDR_LEN; i < sizeof(hdr); i++)
		assert_int_equal(hdr[i], 0xAA); /* header only, nothing after */
}

static void test_decode_layout_byte_exact(void **state)
{
	(void)state;
	uint8_t buf[128];
	uint8_t key[4] = { 'k', 0, 'y', 0xFE }, val[9] = "012345678";
	struct raw r = raw_default(CAT_OP_PUT);
	struct cat_msg m;
	size_t consumed = 12345;

	r.flags = CAT_F_REPLY;
	r.status = CAT_ST_WRONG_SLOT;
	r.key_len = 4;
	r.value_len = 9;
	size_t n = build_raw(buf, &r, key, 4, val, 9);

	assert_int_equal(cat_wire_decode(buf, n, &m, &consumed), CAT_WIRE_OK);
	assert_int_equal(consumed, n);
	assert_int_equal(m.version, 1);
	assert_int_equal(m.op, CAT_OP_PUT);
	assert_int_equal(m.flags, CAT_F_REPLY);
	assert_int_equal(m.status, CAT_ST_WRONG_SLOT);
	assert_int_equal(m.slot, 0x1234);
	assert_int_equal(m.epoch, 0x89ABCDEF);
	assert_int_equal(m.client_id, 0x01020304);
	assert_true(m.seq == 0x1122334455667788ull);
	assert_true(m.arg == 0x99AABBCCDDEEFF00ull);
	assert_int_equal(m.key_len, 4);
	assert_int_equal(m.value_len, 9);
	/* Zero copy: key and value point into the buffer. */
	assert_ptr_equal(m.key, buf + 40);
	assert_ptr_equal(m.value, buf + 44);
}

static void test_decode_unaligned_buffer(void **state)
{
	(void)state;
	uint8_t store[256];
	uint8_t key[3] = { 'a', 'b', 'c' };
	struct raw r = raw_default(CAT_OP_GET);

	r.key_len = 3;
	for (size_t off = 1; off < 8; off++) {
		uint8_t *b = store + off;
		struct cat_msg m;
		size_t consumed;
		size_t n = build_raw(b, &r, key, 3, NULL, 0);

		assert_int_equal(cat_wire_decode(b, n, &m, &consumed),
				 CAT_WIRE_OK);
		assert_int_equal(consumed, 43);
		assert_true(m.seq == r.seq);
		assert_true(m.arg == r.arg);
		assert_int_equal(m.epoch, r.epoch);
		assert_ptr_equal(m.key, b + 40);

		struct cat_msg e = m;
		assert_int_equal(cat_wire_encode(store + 128 + off, 64, &e), 43);
		assert_memory_equal(store + 128 + off, b, 43);
	}
}

/* ---- round trips ---- */

static void roundtrip(const struct cat_msg *m)
{
	size_t len = cat_wire_msg_len(m);
	uint8_t *buf = malloc(len + 16);
	struct cat_msg d;
	size_t consumed = 0;

	assert_non_null(buf);
	int rc = cat_wire_encode(buf, len, m); /* exact capacity suffices */
	assert_int_equal(rc, (int)len);
	assert_int_equal(cat_wire_decode(buf, len, &d, &consumed), CAT_WIRE_OK);
	assert_int_equal(consumed, len);
	assert_int_equal(d.version, CAT_WIRE_VERSION);
	assert_msg_equal(&d, m);
	free(buf);
}

static void test_roundtrip_every_op(void **state)
{
	(void)state;
	uint8_t key[16] = "some-key-bytes!";
	uint8_t val[64];
	fill_pattern(val, sizeof(val), 3);

	struct cat_msg base = {
		.slot = 513, .epoch = 77, .client_id = 0xFFFFFFFF,
		.seq = UINT64_MAX, .key = key, .key_len = 15, .value = val,
	};
	struct cat_msg m;

	m = base; m.op = CAT_OP_GET; roundtrip(&m);
	m = base; m.op = CAT_OP_DEL; roundtrip(&m);
	m = base; m.op = CAT_OP_PUT; m.value_len = 64; roundtrip(&m);
	m = base; m.op = CAT_OP_PUT; m.value_len = 0; roundtrip(&m);
	m = base; m.op = CAT_OP_CAS; m.arg = 12345; m.value_len = 10;
	roundtrip(&m);
	m = base; m.op = CAT_OP_CAS; m.flags = CAT_F_CAS_VALUE; m.arg = 6;
	m.value_len = 20; roundtrip(&m);
	m = base; m.op = CAT_OP_INCR; m.arg = (uint64_t)(int64_t)-17;
	roundtrip(&m);
	m = base; m.op = CAT_OP_PING; m.key_len = 0; roundtrip(&m);

	/* Replies of each op: REPLY flag, a status, arg = version. */
	static const uint8_t ops[] = { CAT_OP_GET, CAT_OP_PUT, CAT_OP_DEL,
				       CAT_OP_CAS, CAT_OP_INCR, CAT_OP_PING };
	for (size_t i = 0; i < ARRAY_LEN(ops); i++) {
		for (unsigned st = 0; st < CAT_ST__COUNT; st++) {
			m = base;
			m.op = ops[i];
			m.flags = CAT_F_REPLY;
			m.status = (uint8_t)st;
			m.arg = 1000 + st;
			m.value_len = st;
			roundtrip(&m);
		}
	}
}

static void test_roundtrip_max_key_and_value_mtu1500(void **state)
{
	(void)state;
	uint8_t key[250], val[1158];
	uint32_t vmax = cat_wire_value_max(1500, 250);

	assert_int_equal(vmax, sizeof(val));
	fill_pattern(key, sizeof(key), 1);
	fill_pattern(val, sizeof(val), 2);
	struct cat_msg m = {
		.op = CAT_OP_PUT, .slot = 65535, .epoch = UINT32_MAX,
		.client_id = 5, .seq = 6, .key = key, .key_len = 250,
		.value = val, .value_len = vmax,
	};
	assert_int_equal(cat_wire_msg_len(&m) + CAT_WIRE_REPL_EXT_LEN,
			 CAT_WIRE_PAYLOAD_MAX_1500);
	roundtrip(&m);
	assert_int_equal(cat_wire_check_request(&m, vmax), CAT_ST_OK);

	/* The GET reply carrying that value is the same size. */
	m.op = CAT_OP_GET;
	m.flags = CAT_F_REPLY;
	roundtrip(&m);

	/* Max value with a 1-byte key. */
	uint32_t vmax1 = cat_wire_value_max(1500, 1);
	uint8_t *big = malloc(vmax1);
	assert_non_null(big);
	fill_pattern(big, vmax1, 9);
	struct cat_msg m1 = { .op = CAT_OP_PUT, .key = key, .key_len = 1,
			      .value = big, .value_len = vmax1 };
	roundtrip(&m1);
	assert_int_equal(cat_wire_check_request(&m1, vmax1), CAT_ST_OK);
	free(big);
}

/* ---- encode capacity ---- */

static void test_encode_enospc(void **state)
{
	(void)state;
	uint8_t key[10] = "0123456789", val[20];
	uint8_t buf[128];
	fill_pattern(val, sizeof(val), 4);
	struct cat_msg m = { .op = CAT_OP_PUT, .key = key, .key_len = 10,
			     .value = val, .value_len = 20 };

	/* A too-small buffer: -ENOSPC, and nothing written past cap. */
	size_t caps[] = { 0, 1, 39, 40, 49, 50, 69 };
	for (size_t i = 0; i < ARRAY_LEN(caps); i++) {
		memset(buf, 0xAA, sizeof(buf));
		assert_int_equal(cat_wire_encode(buf, caps[i], &m), -ENOSPC);
		for (size_t j = caps[i]; j < sizeof(buf); j++)
			assert_int_equal(buf[j], 0xAA);
	}
	assert_int_equal(cat_wire_encode(buf, 70, &m), 70);
	assert_int_equal(cat_wire_encode(buf, sizeof(buf), &m), 70);

	struct cat_msg ping = { .op = CAT_OP_PING };
	assert_int_equal(cat_wire_encode(buf, 39, &ping), -ENOSPC);
	assert_int_equal(cat_wire_encode(buf, 40, &ping), 40);
}

/* ---- decode errors ---- */

static void assert_decode_err(const uint8_t *buf, size_t len,
			      enum cat_wire_err want, struct cat_msg *m)
{
	size_t consumed = 999;

	memset(m, 0, sizeof(*m));
	assert_int_equal(cat_wire_decode(buf, len, m, &consumed), want);
	assert_int_equal(consumed, 0);
}

/* After an error other than SHORT/MAGIC, enough of the header must be in *m
 * to address a reply. */
static void assert_addressable(const struct cat_msg *m, const struct raw *r)
{
	assert_int_equal(m->op, r->op);
	assert_int_equal(m->slot, r->slot);
	assert_int_equal(m->client_id, r->client_id);
	assert_true(m->seq == r->seq);
}

static void test_decode_err_short(void **state)
{
	(void)state;
	uint8_t buf[64];
	struct raw r = raw_default(CAT_OP_PING);
	struct cat_msg m;

	build_raw(buf, &r, NULL, 0, NULL, 0);
	assert_decode_err(buf, 0, CAT_WIRE_ERR_SHORT, &m);
	assert_decode_err(buf, 1, CAT_WIRE_ERR_SHORT, &m);
	assert_decode_err(buf, 39, CAT_WIRE_ERR_SHORT, &m);
	size_t consumed;
	assert_int_equal(cat_wire_decode(buf, 40, &m, &consumed), CAT_WIRE_OK);
	assert_int_equal(consumed, 40);
}

static void test_decode_err_magic(void **state)
{
	(void)state;
	uint8_t buf[64];
	struct raw r = raw_default(CAT_OP_GET);
	struct cat_msg m;
	uint16_t bad[] = { 0x7ECA /* big endian on the wire */, 0, 0xFFFF,
			   0xCA7F, 0xCB7E };

	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		r.magic = bad[i];
		size_t n = build_raw(buf, &r, NULL, 0, NULL, 0);
		assert_decode_err(buf, n, CAT_WIRE_ERR_MAGIC, &m);
	}
	/* Magic is checked before the version: garbage is never answered. */
	r.magic = 0x1234;
	r.version = 9;
	size_t n = build_raw(buf, &r, NULL, 0, NULL, 0);
	assert_decode_err(buf, n, CAT_WIRE_ERR_MAGIC, &m);
}

static void test_decode_err_version(void **state)
{
	(void)state;
	uint8_t buf[64];
	struct cat_msg m;
	uint8_t bad[] = { 0, 2, 0x80, 0xFF };

	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		struct raw r = raw_default(CAT_OP_GET);
		r.version = bad[i];
		r.key_len = 2;
		size_t n = build_raw(buf, &r, "ab", 2, NULL, 0);
		assert_decode_err(buf, n, CAT_WIRE_ERR_VERSION, &m);
		assert_addressable(&m, &r);
	}
}

static void test_decode_err_truncated(void **state)
{
	(void)state;
	uint8_t buf[256];
	uint8_t key[8] = "abcdefgh", val[16];
	struct cat_msg m;
	fill_pattern(val, sizeof(val), 5);

	struct raw r = raw_default(CAT_OP_PUT);
	r.key_len = 8;
	r.value_len = 16;
	size_t n = build_raw(buf, &r, key, 8, val, 16);
	assert_int_equal(n, 64);
	/* Every length short of the full message is truncated. */
	for (size_t len = 40; len < n; len++) {
		assert_decode_err(buf, len, CAT_WIRE_ERR_TRUNCATED, &m);
		assert_addressable(&m, &r);
	}

	/* Lengths that can never fit, including ones that would overflow a
	 * careless 32-bit sum. */
	struct { uint16_t k; uint32_t v; } lies[] = {
		{ 0xFFFF, 0 }, { 0, 0xFFFFFFFFu }, { 0xFFFF, 0xFFFFFFFFu },
		{ 9, 16 }, { 8, 17 }, { 0, 0xFFFFFFD8u }, { 1, 0xFFFFFFFFu },
	};
	for (size_t i = 0; i < ARRAY_LEN(lies); i++) {
		r.key_len = lies[i].k;
		r.value_len = lies[i].v;
		build_raw(buf, &r, key, 8, val, 16);
		assert_decode_err(buf, 64, CAT_WIRE_ERR_TRUNCATED, &m);
		assert_addressable(&m, &r);
	}
}

static void test_decode_err_reserved(void **state)
{
	(void)state;
	uint8_t buf[64];
	struct cat_msg m;
	struct raw r;
	size_t n;

	/* Non-zero reserved field @34. */
	uint16_t res[] = { 1, 0x0100, 0x8000, 0xFFFF };
	for (size_t i = 0; i < ARRAY_LEN(res); i++) {
		r = raw_default(CAT_OP_GET);
		r.key_len = 1;
		r.reserved = res[i];
		n = build_raw(buf, &r, "k", 1, NULL, 0);
		assert_decode_err(buf, n, CAT_WIRE_ERR_RESERVED, &m);
		assert_addressable(&m, &r);
	}

	/* Every flag bit outside CAT_F_KNOWN, MORE included. */
	for (unsigned bit = 0; bit < 8; bit++) {
		uint8_t f = (uint8_t)(1u << bit);
		r = raw_default(CAT_OP_GET);
		r.key_len = 1;
		r.flags = f;
		n = build_raw(buf, &r, "k", 1, NULL, 0);
		if (f & CAT_F_KNOWN) {
			size_t consumed;
			assert_int_equal(cat_wire_decode(buf, n, &m, &consumed),
					 CAT_WIRE_OK);
			assert_int_equal(m.flags, f);
		} else {
			assert_decode_err(buf, n, CAT_WIRE_ERR_RESERVED, &m);
			assert_addressable(&m, &r);
		}
	}
	r = raw_default(CAT_OP_CAS);
	r.flags = CAT_F_REPLY | CAT_F_CAS_VALUE | CAT_F_MORE;
	n = build_raw(buf, &r, NULL, 0, NULL, 0);
	assert_decode_err(buf, n, CAT_WIRE_ERR_RESERVED, &m);

	r.flags = CAT_F_REPLY | CAT_F_CAS_VALUE;
	n = build_raw(buf, &r, NULL, 0, NULL, 0);
	size_t consumed;
	assert_int_equal(cat_wire_decode(buf, n, &m, &consumed), CAT_WIRE_OK);
}

/* ---- batching ---- */

static void test_decode_back_to_back(void **state)
{
	(void)state;
	uint8_t buf[1472];
	uint8_t key[250], val[600];
	size_t off = 0;
	fill_pattern(key, sizeof(key), 11);
	fill_pattern(val, sizeof(val), 12);

	struct cat_msg msgs[] = {
		{ .op = CAT_OP_PING, .seq = 1 },
		{ .op = CAT_OP_GET, .seq = 2, .key = key, .key_len = 1 },
		{ .op = CAT_OP_PUT, .seq = 3, .key = key, .key_len = 250,
		  .value = val, .value_len = 600 },
		{ .op = CAT_OP_INCR, .seq = 4, .key = key + 3, .key_len = 17,
		  .arg = (uint64_t)-1 },
		{ .op = CAT_OP_CAS, .flags = CAT_F_CAS_VALUE, .seq = 5,
		  .key = key + 1, .key_len = 40, .value = val + 7,
		  .value_len = 90, .arg = 30 },
		{ .op = CAT_OP_DEL, .seq = 6, .key = key + 2, .key_len = 2 },
	};
	for (size_t i = 0; i < ARRAY_LEN(msgs); i++) {
		int rc = cat_wire_encode(buf + off, sizeof(buf) - off, &msgs[i]);
		assert_int_equal(rc, (int)cat_wire_msg_len(&msgs[i]));
		off += (size_t)rc;
	}

	size_t pos = 0, count = 0;
	while (pos < off) {
		struct cat_msg m;
		size_t consumed = 0;
		assert_int_equal(cat_wire_decode(buf + pos, off - pos, &m,
						 &consumed), CAT_WIRE_OK);
		assert_true(count < ARRAY_LEN(msgs));
		assert_int_equal(consumed, cat_wire_msg_len(&msgs[count]));
		assert_msg_equal(&m, &msgs[count]);
		/* Zero copy into the batch buffer. */
		if (m.key_len)
			assert_ptr_equal(m.key, buf + pos + 40);
		pos += consumed;
		count++;
	}
	assert_int_equal(pos, off);
	assert_int_equal(count, ARRAY_LEN(msgs));

	/* A batch whose last message is cut short: earlier ones decode, the
	 * last one is truncated (its header is complete). */
	size_t cut = off - 1;
	pos = 0;
	count = 0;
	for (;;) {
		struct cat_msg m;
		size_t consumed = 0;
		enum cat_wire_err e = cat_wire_decode(buf + pos, cut - pos, &m,
						      &consumed);
		if (e != CAT_WIRE_OK) {
			assert_int_equal(e, CAT_WIRE_ERR_TRUNCATED);
			assert_int_equal(consumed, 0);
			break;
		}
		pos += consumed;
		count++;
	}
	assert_int_equal(count, ARRAY_LEN(msgs) - 1);
}

/* ---- request checks ---- */

static uint8_t big_key[300];
static uint8_t big_val[2000];

static struct cat_msg req(uint8_t op, uint16_t klen, uint32_t vlen)
{
	struct cat_msg m = {
		.version = CAT_WIRE_VERSION, .op = op, .slot = 1,
		.client_id = 1, .seq = 1, .key = big_key, .key_len = klen,
		.value = big_val, .value_len = vlen,
	};
	return m;
}

#define VMAX 1158u

static void test_check_get_del(void **state)
{
	(void)state;
	static const uint8_t ops[] = { CAT_OP_GET, CAT_OP_DEL };
	for (size_t i = 0; i < ARRAY_LEN(ops); i++) {
		struct cat_msg m;
		m = req(ops[i], 1, 0);
		assert_int_equal(cat_wire_check_request(&m, VMAX), CAT_ST_OK);
		m = req(ops[i], 250, 0);
		assert_int_equal(cat_wire_check_request(&m, VMAX), CAT_ST_OK);
		/* They take no value. */
		m = req(ops[i], 5, 1);
		assert_int_equal(cat_wire_check_request(&m, VMAX),
				 CAT_ST_BAD_REQUEST);
		m = req(ops[i], 5, 100);
		assert_int_equal(cat_wire_check_request(&m, VMAX),
				 CAT_ST_BAD_REQUEST);
	}
}

static void test_check_put(void **state)
{
	(void)state;
	struct cat_msg m;
	m = req(CAT_OP_PUT, 3, 10);
	assert_int_equal(cat_wire_check_request(&m, VMAX), CAT_ST_OK);
	m = req(CAT_OP_PUT, 3, 0); /* an empty value is a value */
	assert_int_equal(cat_wire_check_request(&m, VMAX), CAT_ST_OK);
	m = req(CAT_OP_PUT, 250, VMAX);
	assert_int_equal(cat_wire_check_request(&m, VMAX), CAT_ST_OK);
	m = req(CAT_OP_PUT, 250, VMAX + 1);
	assert_int_equal(cat_wire_check_request(&m, VMAX), CAT_ST_TOO_LARGE);
	m = req(CAT_OP_PUT, 3, 101);
	assert_int_equal(cat_wire_check_request(&m, 100), CAT_ST_TOO_LARGE);
	m = req(CAT_OP_PUT, 3, 100);
	assert_int_equal(cat_wire_check_request(&m, 100), CAT_ST_OK);
	m = req(CAT_OP_PUT, 3, 1);
	assert_int_equal(cat_wire_check_request(&m, 0), CAT_ST_TOO_LARGE);
}

static void test_check_cas_version(void **state)
{
	(void)state;
	struct cat_msg m;
	m = req(CAT_OP_CAS, 3, 10);
	m.arg = 0; /* only if absent */
	assert_int_equal(cat_wire_check_request(&m, VMAX), CAT_ST_OK);
	m.arg = UINT64_MAX; /* any expected version is well formed */
	assert_int_equal(cat_wire_check_request(&m, VMAX), CAT_ST_OK);
	m = req(CAT_OP_CAS, 3, VMAX);
	m.arg = 5;
	assert_int_equal(cat_wire_check_request(&m, VMAX), CAT_ST_OK);
	m = req(CAT_OP_CAS, 3, VMAX + 1);
	m.arg = 5;
	assert_int_equal(cat_wire_check_request(&m, VMAX), CAT_ST_TOO_LARGE);
}

static void test_check_cas_value(void **state)
{
	(void)state;
	struct cat_msg m;
	m = req(CAT_OP_CAS, 3, 10);
	m.flags = CAT_F_CAS_VALUE;
	/* arg = E, the expected value's length, 0 <= E <= value_len. */
	m.arg = 0;
	assert_int_equal(cat_wire_check_request(&m, VMAX), CAT_ST_OK);
	m.arg = 4;
	assert_int_equal(cat_wire_check_request(&m, VMAX), CAT_ST_OK);
	m.arg = 10; /* new value empty */
	assert_int_equal(cat_wire_check_request(&m, VMAX), CAT_ST_OK);
	m.arg = 11;
	assert_int_equal(cat_wire_check_request(&m, VMAX), CAT_ST_BAD_REQUEST);
	m.arg = 1ull << 32; /* must not be truncated to 0 */
	assert_int_equal(cat_wire_check_request(&m, VMAX), CAT_ST_BAD_REQUEST);
	m.arg = UINT64_MAX;
	assert_int_equal(cat_wire_check_request(&m, VMAX), CAT_ST_BAD_REQUEST);
	m = req(CAT_OP_CAS, 3, 0);
	m.flags = CAT_F_CAS_VALUE;
	m.arg = 0;
	assert_int_equal(cat_wire_check_request(&m, VMAX), CAT_ST_OK);
	m.arg = 1;
	assert_int_equal(cat_wire_check_request(&m, VMAX), CAT_ST_BAD_REQUEST);
}

static void test_check_incr(void **state)
{
	(void)state;
	struct cat_msg m;
	int64_t deltas[] = { 1, -1, 0, INT64_MAX, INT64_MIN, 1000000 };
	for (size_t i = 0; i < ARRAY_LEN(deltas); i++) {
		m = req(CAT_OP_INCR, 5, 0);
		m.arg = (uint64_t)deltas[i];
		assert_int_equal(cat_wire_check_request(&m, VMAX), CAT_ST_OK);
	}
	/* The delta travels in arg; a value is malformed. */
	m = req(CAT_OP_INCR, 5, 1);
	m.arg = 1;
	assert_int_equal(cat_wire_check_request(&m, VMAX), CAT_ST_BAD_REQUEST);
	m = req(CAT_OP_INCR, 5, 8);
	assert_int_equal(cat_wire_check_request(&m, VMAX), CAT_ST_BAD_REQUEST);
}

static void test_check_ping(void **state)
{
	(void)state;
	struct cat_msg m = req(CAT_OP_PING, 0, 0);
	assert_int_equal(cat_wire_check_request(&m, VMAX), CAT_ST_OK);
}

static void test_check_key_len(void **state)
{
	(void)state;
	static const uint8_t ops[] = { CAT_OP_GET, CAT_OP_PUT, CAT_OP_DEL,
				       CAT_OP_CAS, CAT_OP_INCR };
	for (size_t i = 0; i < ARRAY_LEN(ops); i++) {
		struct cat_msg m;
		m = req(ops[i], 0, 0);
		assert_int_equal(cat_wire_check_request(&m, VMAX),
				 CAT_ST_BAD_REQUEST);
		m = req(ops[i], 250, 0);
		assert_int_equal(cat_wire_check_request(&m, VMAX), CAT_ST_OK);
		m = req(ops[i], 251, 0);
		assert_int_equal(cat_wire_check_request(&m, VMAX),
				 CAT_ST_TOO_LARGE);
		m = req(ops[i], 300, 0);
		assert_int_equal(cat_wire_check_request(&m, VMAX),
				 CAT_ST_TOO_LARGE);
	}
}

static void test_check_unknown_op(void **state)
{
	(void)state;
	uint8_t bad[] = { 0x00, 0x08, 0x3F, 0x40, 0x41, 0x7F, 0x80, 0xFF };
	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		struct cat_msg m = req(bad[i], 5, 0);
		assert_int_equal(cat_wire_check_request(&m, VMAX),
				 CAT_ST_UNKNOWN_OP);
	}
}

/* MAP_GET: no key, no value, no flags; arg is a 32-bit byte offset. */
static void test_check_map_get(void **state)
{
	(void)state;
	struct cat_msg m = { .op = CAT_OP_MAP_GET, .arg = 1400 };

	assert_int_equal(cat_wire_check_request(&m, VMAX), CAT_ST_OK);
	m.arg = (uint64_t)UINT32_MAX + 1;
	assert_int_equal(cat_wire_check_request(&m, VMAX), CAT_ST_BAD_REQUEST);
	m.arg = 0;
	m.key = (const uint8_t *)"k";
	m.key_len = 1;
	assert_int_equal(cat_wire_check_request(&m, VMAX), CAT_ST_BAD_REQUEST);
	m.key_len = 0;
	m.flags = CAT_F_CAS_VALUE;
	assert_int_equal(cat_wire_check_request(&m, VMAX), CAT_ST_BAD_REQUEST);
}

static void test_check_reply_flag_is_bad_request(void **state)
{
	(void)state;
	struct cat_msg m;
	m = req(CAT_OP_GET, 5, 0);
	m.flags = CAT_F_REPLY;
	assert_int_equal(cat_wire_check_request(&m, VMAX), CAT_ST_BAD_REQUEST);
	m = req(CAT_OP_PUT, 5, 5);
	m.flags = CAT_F_REPLY;
	assert_int_equal(cat_wire_check_request(&m, VMAX), CAT_ST_BAD_REQUEST);
	m = req(CAT_OP_DEL, 5, 0);
	m.flags = CAT_F_REPLY;
	assert_int_equal(cat_wire_check_request(&m, VMAX), CAT_ST_BAD_REQUEST);
	m = req(CAT_OP_CAS, 5, 5);
	m.flags = CAT_F_REPLY;
	assert_int_equal(cat_wire_check_request(&m, VMAX), CAT_ST_BAD_REQUEST);
	m = req(CAT_OP_CAS, 5, 5);
	m.flags = CAT_F_REPLY | CAT_F_CAS_VALUE;
	m.arg = 2;
	assert_int_equal(cat_wire_check_request(&m, VMAX), CAT_ST_BAD_REQUEST);
	m = req(CAT_OP_INCR, 5, 0);
	m.flags = CAT_F_REPLY;
	assert_int_equal(cat_wire_check_request(&m, VMAX), CAT_ST_BAD_REQUEST);
	m = req(CAT_OP_PING, 0, 0);
	m.flags = CAT_F_REPLY;
	assert_int_equal(cat_wire_check_request(&m, VMAX), CAT_ST_BAD_REQUEST);
}

/* A decoded request from the wire goes through the check unchanged. */
static void test_decode_then_check(void **state)
{
	(void)state;
	uint8_t buf[64];
	struct raw r = raw_default(CAT_OP_INCR);
	struct cat_msg m;
	size_t consumed;

	r.key_len = 3;
	r.arg = (uint64_t)(int64_t)-42;
	size_t n = build_raw(buf, &r, "ctr", 3, NULL, 0);
	assert_int_equal(cat_wire_decode(buf, n, &m, &consumed), CAT_WIRE_OK);
	assert_int_equal(cat_wire_check_request(&m, VMAX), CAT_ST_OK);
	assert_true((int64_t)m.arg == -42);
}

/* ---- names ---- */

static void test_status_names(void **state)
{
	(void)state;
	static const char *want[] = {
		"OK", "NOT_FOUND", "CAS_FAILED", "MOVED", "RETRY",
		"TOO_LARGE", "BAD_REQUEST", "UNKNOWN_OP", "BAD_VERSION",
		"NOT_A_NUMBER", "OVERFLOW", "NO_SPACE", "WRONG_SLOT",
		"OUTCOME_UNKNOWN",
	};
	assert_int_equal(ARRAY_LEN(want), CAT_ST__COUNT);
	for (unsigned i = 0; i < CAT_ST__COUNT; i++) {
		assert_non_null(cat_wire_status_name(i));
		assert_string_equal(cat_wire_status_name(i), want[i]);
	}
	assert_string_equal(cat_wire_status_name(CAT_ST__COUNT), "?");
	assert_string_equal(cat_wire_status_name(255), "?");
	assert_string_equal(cat_wire_status_name(256), "?");
	assert_string_equal(cat_wire_status_name(0xFFFFFFFFu), "?");
}

static void test_op_names(void **state)
{
	(void)state;
	assert_string_equal(cat_wire_op_name(CAT_OP_GET), "GET");
	assert_string_equal(cat_wire_op_name(CAT_OP_PUT), "PUT");
	assert_string_equal(cat_wire_op_name(CAT_OP_DEL), "DEL");
	assert_string_equal(cat_wire_op_name(CAT_OP_CAS), "CAS");
	assert_string_equal(cat_wire_op_name(CAT_OP_INCR), "INCR");
	assert_string_equal(cat_wire_op_name(CAT_OP_PING), "PING");
	assert_string_equal(cat_wire_op_name(CAT_OP_MAP_GET), "MAP_GET");
	unsigned bad[] = { 0, 8, 0x3F, 0x40, 0xFF, 0x100, 0xFFFFFFFFu };
	for (size_t i = 0; i < ARRAY_LEN(bad); i++)
		assert_string_equal(cat_wire_op_name(bad[i]), "?");
}

static void test_err_names(void **state)
{
	(void)state;
	/* Used as counter names: present, non-empty, pairwise distinct. */
	for (int i = 0; i < CAT_WIRE_ERR__COUNT; i++) {
		const char *a = cat_wire_err_name((enum cat_wire_err)i);
		assert_non_null(a);
		assert_true(a[0] != '\0');
		for (int j = 0; j < i; j++)
			assert_string_not_equal(
				a, cat_wire_err_name((enum cat_wire_err)j));
	}
}

/* ---- replication messages (replication/wire_repl.c) ---- */

/* The extension as docs/PROTOCOL.md lays it out, by hand. */
static void build_ext(uint8_t *p, uint8_t kind, uint8_t op, uint16_t port,
		      uint32_t ip, const uint8_t mac[6], uint64_t reply_arg)
{
	p[0] = kind;
	p[1] = op;
	le16(p + 2, port);
	le32(p + 4, ip);
	memcpy(p + 8, mac, 6);
	le16(p + 14, 0);
	le64(p + 16, reply_arg);
}

static const uint8_t test_mac[6] = { 0x02, 0x11, 0x22, 0x33, 0x44, 0x55 };

static void test_repl_opcodes(void **state)
{
	(void)state;
	/* docs/PROTOCOL.md, "Replication": the codes are the contract. */
	assert_int_equal(CAT_OP_R_FWD, 0x41);
	assert_int_equal(CAT_OP_R_ACK, 0x42);
	assert_int_equal(CAT_OP_R_VQUERY, 0x43);
	assert_int_equal(CAT_OP_R_VRESP, 0x44);
	assert_int_equal(CAT_OP_R_SNAP, 0x45);
	assert_int_equal(CAT_OP_R_SNAP_END, 0x46);
	assert_int_equal(CAT_OP_R_SNAP_ACK, 0x47);
	assert_int_equal(CAT_OP_R_SYNC_REQ, 0x48);
	assert_int_equal(CAT_OP_R_SYNC, 0x49);
	assert_int_equal(CAT_OP_R_SNAP_DEDUP, 0x4a);
	assert_int_equal(CAT_OP_R_PING, 0x4b);
	assert_int_equal(CAT_WIRE_REPL_EXT_LEN, 24);
	assert_int_equal(CAT_WIRE_REPL_DEDUP_FIXED, 31);
	assert_int_equal(CAT_WIRE_REPL_DEDUP_VALUE_MAX, 20);
	assert_false(cat_op_is_replication(0x3f));
	assert_true(cat_op_is_replication(0x40));
	assert_true(cat_op_is_replication(0x7f));
	assert_false(cat_op_is_replication(0x80));
	for (unsigned int op = CAT_OP_GET; op <= CAT_OP_MAP_GET; op++)
		assert_false(cat_op_is_replication(op));
}

static void test_repl_ext_layout_byte_exact(void **state)
{
	(void)state;
	struct cat_wire_repl_ext e = {
		.kind = CAT_WIRE_REPL_KIND_PUT, .client_op = CAT_OP_CAS,
		.client = { .ip = 0x0A000164, .port = 5555 },
		.reply_arg = 0x0102030405060708ull,
	}, d;
	uint8_t want[CAT_WIRE_REPL_EXT_LEN], got[CAT_WIRE_REPL_EXT_LEN + 1];

	memcpy(e.client.mac, test_mac, 6);
	build_ext(want, 1, CAT_OP_CAS, 5555, 0x0A000164, test_mac,
		  0x0102030405060708ull);
	memset(got, 0xA5, sizeof(got));
	cat_wire_repl_ext_encode(got, &e);
	assert_memory_equal(got, want, sizeof(want));
	assert_int_equal(got[CAT_WIRE_REPL_EXT_LEN], 0xA5); /* nothing past */

	memset(&d, 0, sizeof(d));
	assert_int_equal(cat_wire_repl_ext_decode(want, sizeof(want), &d), 0);
	assert_int_equal(d.kind, 1);
	assert_int_equal(d.client_op, CAT_OP_CAS);
	assert_int_equal(d.client.port, 5555);
	assert_int_equal(d.client.ip, 0x0A000164);
	assert_memory_equal(d.client.mac, test_mac, 6);
	assert_true(d.reply_arg == 0x0102030405060708ull);
}

static void test_repl_ext_rejects(void **state)
{
	(void)state;
	uint8_t p[CAT_WIRE_REPL_EXT_LEN];
	struct cat_wire_repl_ext e;

	build_ext(p, 1, CAT_OP_PUT, 1, 2, test_mac, 3);
	for (size_t len = 0; len < CAT_WIRE_REPL_EXT_LEN; len++)
		assert_int_equal(cat_wire_repl_ext_decode(p, len, &e), -EMSGSIZE);
	p[14] = 1;
	assert_int_equal(cat_wire_repl_ext_decode(p, sizeof(p), &e), -EINVAL);
	p[14] = 0;
	p[15] = 0x80;
	assert_int_equal(cat_wire_repl_ext_decode(p, sizeof(p), &e), -EINVAL);
	p[15] = 0;
	/* The kind is the message's to check, not the extension's. */
	p[0] = 0xff;
	assert_int_equal(cat_wire_repl_ext_decode(p, sizeof(p), &e), 0);
}

/* FWD encoded, sent through the wire codec, decoded: the bytes of its value
 * area are the extension then the payload, and every field comes back. */
static void test_repl_fwd_roundtrip(void **state)
{
	(void)state;
	static const uint8_t key[] = "fwd-key";
	static const uint8_t payload[] = "new value";
	struct cat_wire_repl_fwd f = {
		.slot = 0x0308, .epoch = 7, .n = 42, .client_id = 0x01020304,
		.client_seq = 0x1122334455667788ull, .status = CAT_ST_OK,
		.key = key, .key_len = sizeof(key) - 1,
		.ext = { .kind = CAT_WIRE_REPL_KIND_PUT, .client_op = CAT_OP_PUT,
			 .client = { .ip = 0x0A000164, .port = 5555 },
			 .reply_arg = 42 },
		.payload = payload, .payload_len = sizeof(payload) - 1,
	}, d;
	uint8_t body[CAT_WIRE_REPL_EXT_LEN + sizeof(payload)], want[64];
	uint8_t pkt[256];
	struct cat_msg m, back;
	size_t used;
	int n;

	memcpy(f.ext.client.mac, test_mac, 6);
	assert_int_equal(cat_wire_repl_fwd_encode(&f, body, sizeof(body), &m), 0);
	assert_int_equal(m.op, CAT_OP_R_FWD);
	assert_int_equal(m.flags, 0);
	assert_int_equal(m.status, CAT_ST_OK);
	assert_int_equal(m.slot, 0x0308);
	assert_int_equal(m.epoch, 7);
	assert_int_equal(m.client_id, 0x01020304);
	assert_true(m.seq == 0x1122334455667788ull);
	assert_true(m.arg == 42);
	assert_ptr_equal(m.key, key);
	assert_ptr_equal(m.value, body);
	assert_int_equal(m.value_len, CAT_WIRE_REPL_EXT_LEN + f.payload_len);
	build_ext(want, 1, CAT_OP_PUT, 5555, 0x0A000164, test_mac, 42);
	memcpy(want + CAT_WIRE_REPL_EXT_LEN, payload, f.payload_len);
	assert_memory_equal(body, want, m.value_len);

	n = cat_wire_encode(pkt, sizeof(pkt), &m);
	assert_true(n > 0);
	assert_int_equal(cat_wire_decode(pkt, (size_t)n, &back, &used),
			 CAT_WIRE_OK);
	memset(&d, 0, sizeof(d));
	assert_int_equal(cat_wire_repl_fwd_decode(&back, &d), 0);
	assert_int_equal(d.slot, f.slot);
	assert_int_equal(d.epoch, f.epoch);
	assert_true(d.n == f.n);
	assert_int_equal(d.client_id, f.client_id);
	assert_true(d.client_seq == f.client_seq);
	assert_int_equal(d.status, f.status);
	assert_int_equal(d.key_len, f.key_len);
	assert_memory_equal(d.key, key, f.key_len);
	assert_int_equal(d.ext.kind, f.ext.kind);
	assert_int_equal(d.ext.client_op, f.ext.client_op);
	assert_int_equal(d.ext.client.ip, f.ext.client.ip);
	assert_int_equal(d.ext.client.port, f.ext.client.port);
	assert_memory_equal(d.ext.client.mac, test_mac, 6);
	assert_true(d.ext.reply_arg == f.ext.reply_arg);
	assert_int_equal(d.payload_len, f.payload_len);
	assert_ptr_equal(d.payload, back.value + CAT_WIRE_REPL_EXT_LEN);
	assert_memory_equal(d.payload, payload, f.payload_len);

	/* A no-op: no payload, the failed status, the extension alone. */
	f.status = CAT_ST_CAS_FAILED;
	f.ext.kind = CAT_WIRE_REPL_KIND_NOOP;
	f.payload = NULL;
	f.payload_len = 0;
	assert_int_equal(cat_wire_repl_fwd_encode(&f, body,
						  CAT_WIRE_REPL_EXT_LEN, &m), 0);
	assert_int_equal(m.value_len, CAT_WIRE_REPL_EXT_LEN);
	assert_int_equal(cat_wire_repl_fwd_decode(&m, &d), 0);
	assert_int_equal(d.status, CAT_ST_CAS_FAILED);
	assert_int_equal(d.ext.kind, CAT_WIRE_REPL_KIND_NOOP);
	assert_int_equal(d.payload_len, 0);
}

static void test_repl_fwd_rejects(void **state)
{
	(void)state;
	static const uint8_t key[CAT_WIRE_KEY_MAX + 1] = "k";
	uint8_t body[CAT_WIRE_REPL_EXT_LEN + 4];
	struct cat_wire_repl_fwd f = {
		.key = key, .key_len = 1, .n = 1,
		.ext = { .kind = CAT_WIRE_REPL_KIND_PUT },
		.payload = (const uint8_t *)"abcd", .payload_len = 4,
	}, d;
	struct cat_msg m, bad;

	/* Encode: the value area must fit. */
	for (size_t cap = 0; cap < sizeof(body); cap++)
		assert_int_equal(cat_wire_repl_fwd_encode(&f, body, cap, &m),
				 -EMSGSIZE);
	assert_int_equal(cat_wire_repl_fwd_encode(&f, body, sizeof(body), &m), 0);
	assert_int_equal(cat_wire_repl_fwd_decode(&m, &d), 0);

	/* A value area shorter than the extension. */
	for (uint32_t len = 0; len < CAT_WIRE_REPL_EXT_LEN; len++) {
		bad = m;
		bad.value_len = len;
		assert_int_equal(cat_wire_repl_fwd_decode(&bad, &d), -EMSGSIZE);
	}
	/* Reserved bytes of the extension. */
	body[14] = 1;
	assert_int_equal(cat_wire_repl_fwd_decode(&m, &d), -EINVAL);
	body[14] = 0;
	/* Kinds other than put, delete, no-op. */
	body[0] = CAT_WIRE_REPL_KIND_NONE;
	assert_int_equal(cat_wire_repl_fwd_decode(&m, &d), -EINVAL);
	body[0] = 4;
	assert_int_equal(cat_wire_repl_fwd_decode(&m, &d), -EINVAL);
	body[0] = CAT_WIRE_REPL_KIND_DEL;
	assert_int_equal(cat_wire_repl_fwd_decode(&m, &d), 0);
	/* No key, or one over the limit. */
	bad = m;
	bad.key_len = 0;
	assert_int_equal(cat_wire_repl_fwd_decode(&bad, &d), -EINVAL);
	bad.key_len = CAT_WIRE_KEY_MAX + 1;
	assert_int_equal(cat_wire_repl_fwd_decode(&bad, &d), -EINVAL);
	bad.key_len = CAT_WIRE_KEY_MAX;
	assert_int_equal(cat_wire_repl_fwd_decode(&bad, &d), 0);
}

static void test_repl_vquery_vresp(void **state)
{
	(void)state;
	static const uint8_t key[] = "dirty";
	struct cat_wire_repl_vquery q = {
		.slot = 9, .epoch = 4, .client_id = 77, .client_seq = 1234,
		.version = 99, /* ignored by the VQUERY encoder */
		.key = key, .key_len = sizeof(key) - 1,
		.ext = { .kind = CAT_WIRE_REPL_KIND_NONE, .client_op = CAT_OP_GET,
			 .client = { .ip = 0xC0A80001, .port = 40000 } },
	}, d;
	uint8_t buf[CAT_WIRE_REPL_EXT_LEN], want[CAT_WIRE_REPL_EXT_LEN];
	struct cat_msg m, r, bad;

	memcpy(q.ext.client.mac, test_mac, 6);
	cat_wire_repl_vquery_encode(&q, buf, &m);
	assert_int_equal(m.op, CAT_OP_R_VQUERY);
	assert_int_equal(m.slot, 9);
	assert_int_equal(m.epoch, 4);
	assert_int_equal(m.client_id, 77);
	assert_true(m.seq == 1234);
	assert_true(m.arg == 0);
	assert_int_equal(m.value_len, CAT_WIRE_REPL_EXT_LEN);
	build_ext(want, 0, CAT_OP_GET, 40000, 0xC0A80001, test_mac, 0);
	assert_memory_equal(buf, want, sizeof(want));
	roundtrip(&m);

	/* VRESP: the query sent back, op and arg changed, nothing else. */
	r = cat_wire_repl_vresp(&m, 55);
	assert_int_equal(r.op, CAT_OP_R_VRESP);
	assert_true(r.arg == 55);
	assert_ptr_equal(r.value, m.value);
	assert_ptr_equal(r.key, m.key);
	r.op = m.op;
	r.arg = m.arg;
	assert_msg_equal(&r, &m);
	r = cat_wire_repl_vresp(&m, 55);
	memset(&d, 0, sizeof(d));
	assert_int_equal(cat_wire_repl_vquery_decode(&r, &d), 0);
	assert_true(d.version == 55);
	assert_int_equal(d.client_id, 77);
	assert_true(d.client_seq == 1234);
	assert_int_equal(d.ext.client.ip, 0xC0A80001);
	assert_int_equal(d.ext.client.port, 40000);
	assert_int_equal(d.key_len, q.key_len);

	/* No key, a short value area: not the layout (-EMSGSIZE). */
	bad = r;
	bad.key_len = 0;
	assert_int_equal(cat_wire_repl_vquery_decode(&bad, &d), -EMSGSIZE);
	for (uint32_t len = 0; len < CAT_WIRE_REPL_EXT_LEN; len++) {
		bad = r;
		bad.value_len = len;
		assert_int_equal(cat_wire_repl_vquery_decode(&bad, &d),
				 -EMSGSIZE);
	}
	/* The layout, with reserved bytes set: -EINVAL. */
	buf[15] = 2;
	assert_int_equal(cat_wire_repl_vquery_decode(&r, &d), -EINVAL);
}

static void test_repl_snap(void **state)
{
	(void)state;
	static const uint8_t key[] = "item";
	static const uint8_t val[] = "its value";
	struct cat_wire_repl_snap s = {
		.slot = 3, .epoch = 2, .gen = 0xABCD, .stream_seq = 5,
		.version = 17, .key = key, .key_len = sizeof(key) - 1,
		.value = val, .value_len = sizeof(val) - 1,
	}, d;
	struct cat_msg m, bad;

	cat_wire_repl_snap_encode(&s, &m);
	assert_int_equal(m.op, CAT_OP_R_SNAP);
	assert_int_equal(m.client_id, 0xABCD);
	assert_true(m.seq == 5);
	assert_true(m.arg == 17);
	assert_int_equal(m.flags, 0);
	assert_int_equal(m.status, 0);
	roundtrip(&m);
	memset(&d, 0, sizeof(d));
	assert_int_equal(cat_wire_repl_snap_decode(&m, &d), 0);
	assert_int_equal(d.slot, 3);
	assert_int_equal(d.epoch, 2);
	assert_int_equal(d.gen, 0xABCD);
	assert_true(d.stream_seq == 5);
	assert_true(d.version == 17);
	assert_int_equal(d.key_len, s.key_len);
	assert_int_equal(d.value_len, s.value_len);
	assert_memory_equal(d.value, val, s.value_len);

	bad = m;
	bad.key_len = 0;
	assert_int_equal(cat_wire_repl_snap_decode(&bad, &d), -EINVAL);
	bad.key_len = CAT_WIRE_KEY_MAX + 1;
	assert_int_equal(cat_wire_repl_snap_decode(&bad, &d), -EINVAL);
	bad = m;
	bad.arg = 0;
	assert_int_equal(cat_wire_repl_snap_decode(&bad, &d), -EINVAL);
	/* An empty value is an item like any other. */
	bad = m;
	bad.value_len = 0;
	assert_int_equal(cat_wire_repl_snap_decode(&bad, &d), 0);
}

static void test_repl_dedup_layout_byte_exact(void **state)
{
	(void)state;
	struct cat_wire_repl_dedup r = {
		.client_id = 0x01020304, .seq = 0x1112131415161718ull,
		.rseq = 0x2122232425262728ull, .arg = 0x3132333435363738ull,
		.op = CAT_OP_INCR, .status = CAT_ST_OK, .value_len = 3,
		.value = (const uint8_t *)"-42",
	}, d;
	uint8_t want[CAT_WIRE_REPL_DEDUP_MAX], got[CAT_WIRE_REPL_DEDUP_MAX];

	le32(want, 0x01020304);
	le64(want + 4, 0x1112131415161718ull);
	le64(want + 12, 0x2122232425262728ull);
	le64(want + 20, 0x3132333435363738ull);
	want[28] = CAT_OP_INCR;
	want[29] = CAT_ST_OK;
	want[30] = 3;
	memcpy(want + 31, "-42", 3);
	assert_int_equal(cat_wire_repl_dedup_encode(&r, got, sizeof(got)), 34);
	assert_memory_equal(got, want, 34);
	/* Exactly the bytes it needs suffice; one fewer does not. */
	assert_int_equal(cat_wire_repl_dedup_encode(&r, got, 34), 34);
	assert_int_equal(cat_wire_repl_dedup_encode(&r, got, 33), -EMSGSIZE);

	memset(&d, 0, sizeof(d));
	assert_int_equal(cat_wire_repl_dedup_decode(want, 34, &d), 0);
	assert_int_equal(d.client_id, r.client_id);
	assert_true(d.seq == r.seq);
	assert_true(d.rseq == r.rseq);
	assert_true(d.arg == r.arg);
	assert_int_equal(d.op, r.op);
	assert_int_equal(d.status, r.status);
	assert_int_equal(d.value_len, 3);
	assert_ptr_equal(d.value, want + 31);

	/* No value at all (a PUT's outcome). */
	r.value_len = 0;
	assert_int_equal(cat_wire_repl_dedup_encode(&r, got, 31), 31);
	assert_int_equal(cat_wire_repl_dedup_decode(got, 31, &d), 0);
	assert_int_equal(d.value_len, 0);
}

static void test_repl_dedup_rejects(void **state)
{
	(void)state;
	uint8_t p[64];
	struct cat_wire_repl_dedup d, big = { .value_len = 21 };

	memset(p, 0, sizeof(p));
	p[30] = 2;
	assert_int_equal(cat_wire_repl_dedup_decode(p, 33, &d), 0);
	/* Shorter than the fixed part. */
	for (size_t len = 0; len < CAT_WIRE_REPL_DEDUP_FIXED; len++)
		assert_int_equal(cat_wire_repl_dedup_decode(p, len, &d),
				 -EMSGSIZE);
	/* Not exactly the length its value length states. */
	assert_int_equal(cat_wire_repl_dedup_decode(p, 32, &d), -EMSGSIZE);
	assert_int_equal(cat_wire_repl_dedup_decode(p, 34, &d), -EMSGSIZE);
	/* A value longer than INCR's longest result, however consistent. */
	p[30] = 21;
	assert_int_equal(cat_wire_repl_dedup_decode(p, 52, &d), -EINVAL);
	p[30] = 20;
	assert_int_equal(cat_wire_repl_dedup_decode(p, 51, &d), 0);
	/* The encoder refuses what the decoder would. */
	assert_int_equal(cat_wire_repl_dedup_encode(&big, p, sizeof(p)),
			 -EINVAL);
}

/* The header-only messages: the fields PROTOCOL.md names, zero elsewhere,
 * checked on the encoded bytes. */
static void check_hdr_only(const struct cat_msg *m, uint8_t op, uint16_t slot,
			   uint32_t epoch, uint32_t cid, uint64_t seq,
			   uint64_t arg)
{
	uint8_t b[CAT_WIRE_HDR_LEN];
	uint8_t want[CAT_WIRE_HDR_LEN];
	struct raw r = {
		.magic = CAT_WIRE_MAGIC, .version = CAT_WIRE_VERSION, .op = op,
		.slot = slot, .epoch = epoch, .client_id = cid, .seq = seq,
		.arg = arg,
	};

	build_raw(want, &r, NULL, 0, NULL, 0);
	assert_int_equal(cat_wire_encode(b, sizeof(b), m), CAT_WIRE_HDR_LEN);
	assert_memory_equal(b, want, sizeof(b));
}

static void test_repl_header_only_messages(void **state)
{
	(void)state;
	struct cat_msg m;
	uint8_t v[CAT_WIRE_REPL_DEDUP_FIXED] = { 0 };

	m = cat_wire_repl_ack(12, 3, 400);
	check_hdr_only(&m, CAT_OP_R_ACK, 12, 3, 0, 0, 400);
	m = cat_wire_repl_snap_ack(12, 3, 0xBEEF, 9);
	check_hdr_only(&m, CAT_OP_R_SNAP_ACK, 12, 3, 0xBEEF, 9, 0);
	m = cat_wire_repl_snap_end(12, 3, 0xBEEF, 10, 77);
	check_hdr_only(&m, CAT_OP_R_SNAP_END, 12, 3, 0xBEEF, 10, 77);
	m = cat_wire_repl_sync_req(12, 3);
	check_hdr_only(&m, CAT_OP_R_SYNC_REQ, 12, 3, 0, 0, 0);
	m = cat_wire_repl_sync(12, 3, 88);
	check_hdr_only(&m, CAT_OP_R_SYNC, 12, 3, 0, 0, 88);
	m = cat_wire_repl_ping(3);
	check_hdr_only(&m, CAT_OP_R_PING, 0, 3, 0, 0, 0);

	/* SNAP_DEDUP: stream fields in the header, the record as value. */
	m = cat_wire_repl_snap_dedup(12, 3, 0xBEEF, 8, v, sizeof(v));
	assert_int_equal(m.op, CAT_OP_R_SNAP_DEDUP);
	assert_int_equal(m.client_id, 0xBEEF);
	assert_true(m.seq == 8);
	assert_true(m.arg == 0);
	assert_int_equal(m.key_len, 0);
	assert_ptr_equal(m.value, v);
	assert_int_equal(m.value_len, sizeof(v));
	roundtrip(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_constants),
		cmocka_unit_test(test_value_max),
		cmocka_unit_test(test_encode_layout_byte_exact),
		cmocka_unit_test(test_encode_hdr_matches_encode),
		cmocka_unit_test(test_decode_layout_byte_exact),
		cmocka_unit_test(test_decode_unaligned_buffer),
		cmocka_unit_test(test_roundtrip_every_op),
		cmocka_unit_test(test_roundtrip_max_key_and_value_mtu1500),
		cmocka_unit_test(test_encode_enospc),
		cmocka_unit_test(test_decode_err_short),
		cmocka_unit_test(test_decode_err_magic),
		cmocka_unit_test(test_decode_err_version),
		cmocka_unit_test(test_decode_err_truncated),
		cmocka_unit_test(test_decode_err_reserved),
		cmocka_unit_test(test_decode_back_to_back),
		cmocka_unit_test(test_check_get_del),
		cmocka_unit_test(test_check_put),
		cmocka_unit_test(test_check_cas_version),
		cmocka_unit_test(test_check_cas_value),
		cmocka_unit_test(test_check_incr),
		cmocka_unit_test(test_check_ping),
		cmocka_unit_test(test_check_key_len),
		cmocka_unit_test(test_check_unknown_op),
		cmocka_unit_test(test_check_map_get),
		cmocka_unit_test(test_check_reply_flag_is_bad_request),
		cmocka_unit_test(test_decode_then_check),
		cmocka_unit_test(test_status_names),
		cmocka_unit_test(test_op_names),
		cmocka_unit_test(test_err_names),
		cmocka_unit_test(test_repl_opcodes),
		cmocka_unit_test(test_repl_ext_layout_byte_exact),
		cmocka_unit_test(test_repl_ext_rejects),
		cmocka_unit_test(test_repl_fwd_roundtrip),
		cmocka_unit_test(test_repl_fwd_rejects),
		cmocka_unit_test(test_repl_vquery_vresp),
		cmocka_unit_test(test_repl_snap),
		cmocka_unit_test(test_repl_dedup_layout_byte_exact),
		cmocka_unit_test(test_repl_dedup_rejects),
		cmocka_unit_test(test_repl_header_only_messages),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
