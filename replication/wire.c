/*
 * catena wire format: encode and decode of the fixed 40-byte little-endian
 * header and its key/value payload. Runs per message on the hot path:
 * never allocates, never trusts a length it has not checked against the
 * buffer. Explicit little-endian loads (wire.h) keep it correct on any host.
 */
#include <errno.h>
#include <string.h>

#include "replication/wire.h"

enum cat_wire_err cat_wire_decode(const void *buf, size_t len,
				  struct cat_msg *m, size_t *consumed)
{
	const uint8_t *p = buf;
	uint16_t reserved;

	*consumed = 0;
	if (len < CAT_WIRE_HDR_LEN)
		return CAT_WIRE_ERR_SHORT;
	if (cat_wire_get_le16(p) != CAT_WIRE_MAGIC)
		return CAT_WIRE_ERR_MAGIC;

	m->version = p[2];
	m->op = p[3];
	m->flags = p[4];
	m->status = p[5];
	m->slot = cat_wire_get_le16(p + 6);
	m->epoch = cat_wire_get_le32(p + 8);
	m->client_id = cat_wire_get_le32(p + 12);
	m->seq = cat_wire_get_le64(p + 16);
	m->arg = cat_wire_get_le64(p + 24);
	m->key_len = cat_wire_get_le16(p + 32);
	reserved = cat_wire_get_le16(p + 34);
	m->value_len = cat_wire_get_le32(p + 36);
	m->key = NULL;
	m->value = NULL;

	if (m->version != CAT_WIRE_VERSION)
		return CAT_WIRE_ERR_VERSION;
	if (reserved != 0 || (m->flags & ~CAT_F_KNOWN) != 0)
		return CAT_WIRE_ERR_RESERVED;
	/* 64-bit sum: key_len + value_len cannot wrap. */
	if ((uint64_t)CAT_WIRE_HDR_LEN + m->key_len + m->value_len > len)
		return CAT_WIRE_ERR_TRUNCATED;

	m->key = p + CAT_WIRE_HDR_LEN;
	m->value = m->key + m->key_len;
	*consumed = CAT_WIRE_HDR_LEN + (size_t)m->key_len + m->value_len;
	return CAT_WIRE_OK;
}

enum cat_status cat_wire_check_request(const struct cat_msg *m,
				       uint32_t value_max)
{
	if (m->flags & CAT_F_REPLY)
		return CAT_ST_BAD_REQUEST;
	if (m->status != CAT_ST_OK)
		return CAT_ST_BAD_REQUEST;

	switch (m->op) {
	case CAT_OP_PING:
		if (m->key_len != 0 || m->value_len != 0 || m->flags != 0)
			return CAT_ST_BAD_REQUEST;
		return CAT_ST_OK;
	case CAT_OP_MAP_GET:
		if (m->key_len != 0 || m->value_len != 0 || m->flags != 0 ||
		    m->arg > UINT32_MAX)
			return CAT_ST_BAD_REQUEST;
		return CAT_ST_OK;
	case CAT_OP_GET:
	case CAT_OP_DEL:
	case CAT_OP_INCR:
		/* No value: INCR's delta travels in arg. */
		if (m->flags != 0 || m->value_len != 0)
			return CAT_ST_BAD_REQUEST;
		break;
	case CAT_OP_PUT:
		if (m->flags != 0)
			return CAT_ST_BAD_REQUEST;
		break;
	case CAT_OP_CAS:
		if ((m->flags & CAT_F_CAS_VALUE) && m->arg > m->value_len)
			return CAT_ST_BAD_REQUEST;
		break;
	default:
		return CAT_ST_UNKNOWN_OP;
	}

	if (m->key_len == 0)
		return CAT_ST_BAD_REQUEST;
	if (m->key_len > CAT_WIRE_KEY_MAX)
		return CAT_ST_TOO_LARGE;
	if (m->op == CAT_OP_CAS && (m->flags & CAT_F_CAS_VALUE)) {
		/* Expected and new value each must be storable. */
		if (m->arg > value_max || m->value_len - m->arg > value_max)
			return CAT_ST_TOO_LARGE;
	} else if (m->value_len > value_max) {
		return CAT_ST_TOO_LARGE;
	}
	return CAT_ST_OK;
}

void cat_wire_encode_hdr(void *buf, const struct cat_msg *m)
{
	uint8_t *p = buf;

	cat_wire_put_le16(p, CAT_WIRE_MAGIC);
	p[2] = CAT_WIRE_VERSION;
	p[3] = m->op;
	p[4] = m->flags;
	p[5] = m->status;
	cat_wire_put_le16(p + 6, m->slot);
	cat_wire_put_le32(p + 8, m->epoch);
	cat_wire_put_le32(p + 12, m->client_id);
	cat_wire_put_le64(p + 16, m->seq);
	cat_wire_put_le64(p + 24, m->arg);
	cat_wire_put_le16(p + 32, m->key_len);
	cat_wire_put_le16(p + 34, 0);
	cat_wire_put_le32(p + 36, m->value_len);
}

int cat_wire_encode(void *buf, size_t cap, const struct cat_msg *m)
{
	size_t n = cat_wire_msg_len(m);
	uint8_t *p = buf;

	if (n > cap || n > (size_t)INT32_MAX)
		return -ENOSPC;
	cat_wire_encode_hdr(p, m);
	/* A reply built in its request's buffer echoes the key where it
	 * already is (the dataplane's reply in place): nothing to copy. */
	if (m->key_len && p + CAT_WIRE_HDR_LEN != m->key)
		memcpy(p + CAT_WIRE_HDR_LEN, m->key, m->key_len);
	if (m->value_len)
		memcpy(p + CAT_WIRE_HDR_LEN + m->key_len, m->value, m->value_len);
	return (int)n;
}

static const char *const status_names[CAT_ST__COUNT] = {
	[CAT_ST_OK] = "OK",
	[CAT_ST_NOT_FOUND] = "NOT_FOUND",
	[CAT_ST_CAS_FAILED] = "CAS_FAILED",
	[CAT_ST_MOVED] = "MOVED",
	[CAT_ST_RETRY] = "RETRY",
	[CAT_ST_TOO_LARGE] = "TOO_LARGE",
	[CAT_ST_BAD_REQUEST] = "BAD_REQUEST",
	[CAT_ST_UNKNOWN_OP] = "UNKNOWN_OP",
	[CAT_ST_BAD_VERSION] = "BAD_VERSION",
	[CAT_ST_NOT_A_NUMBER] = "NOT_A_NUMBER",
	[CAT_ST_OVERFLOW] = "OVERFLOW",
	[CAT_ST_NO_SPACE] = "NO_SPACE",
	[CAT_ST_WRONG_SLOT] = "WRONG_SLOT",
	[CAT_ST_OUTCOME_UNKNOWN] = "OUTCOME_UNKNOWN",
};

const char *cat_wire_status_name(unsigned int st)
{
	if (st >= CAT_ST__COUNT || status_names[st] == NULL)
		return "?";
	return status_names[st];
}

const char *cat_wire_op_name(unsigned int op)
{
	switch (op) {
	case CAT_OP_GET: return "GET";
	case CAT_OP_PUT: return "PUT";
	case CAT_OP_DEL: return "DEL";
	case CAT_OP_CAS: return "CAS";
	case CAT_OP_INCR: return "INCR";
	case CAT_OP_PING: return "PING";
	case CAT_OP_MAP_GET: return "MAP_GET";
	default: return "?";
	}
}

const char *cat_wire_err_name(enum cat_wire_err e)
{
	switch (e) {
	case CAT_WIRE_OK: return "ok";
	case CAT_WIRE_ERR_SHORT: return "short";
	case CAT_WIRE_ERR_MAGIC: return "bad_magic";
	case CAT_WIRE_ERR_VERSION: return "bad_version";
	case CAT_WIRE_ERR_TRUNCATED: return "truncated";
	case CAT_WIRE_ERR_RESERVED: return "reserved_bits";
	default: return "?";
	}
}
