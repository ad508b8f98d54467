/*
 * catena wire format: the fixed little-endian message header, opcodes,
 * statuses and limits, with encode/decode. docs/PROTOCOL.md is the normative
 * description; this header must agree with it byte for byte.
 * Pure C, no DPDK: used by the dataplane, the client library and the tests.
 * Never allocates; decode validates every length against the buffer.
 */
#ifndef CAT_WIRE_H
#define CAT_WIRE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CAT_WIRE_MAGIC   0xCA7Eu /* bytes 0x7E 0xCA on the wire */
#define CAT_WIRE_VERSION 1u
#define CAT_WIRE_HDR_LEN 40u

/* Default UDP port of a catena node. */
#define CAT_WIRE_DEFAULT_PORT 7470u

/* Keys are at most 250 bytes (as memcached): long enough for any sane key,
 * short enough that the key never dominates a 1500-byte frame. */
#define CAT_WIRE_KEY_MAX 250u

/* UDP payload available in one standard Ethernet frame without IP options:
 * 1500 (MTU) - 20 (IPv4) - 8 (UDP). catena never relies on IP fragments. */
#define CAT_WIRE_PAYLOAD_MAX_1500 1472u

/* Bytes a chain forward (FWD) adds in front of a replicated value: the
 * client's address and the reply's outcome travel with the write so that
 * the tail can answer the client (docs/PROTOCOL.md, "Replication"). */
#define CAT_WIRE_REPL_EXT_LEN 24u

/* Largest value a single request can carry at a given MTU: header, key and
 * value must fit one UDP payload, and so must the forward that replicates
 * it (24 bytes more). The limit is the same on every node, whatever the
 * chain length, so a client never needs to know the topology to obey it.
 * A GET reply (header + key + value) is then always smaller than a frame. */
static inline uint32_t cat_wire_value_max(uint32_t mtu, uint32_t key_len)
{
	uint32_t fixed = 28u + CAT_WIRE_HDR_LEN + CAT_WIRE_REPL_EXT_LEN;

	if (mtu < fixed + key_len)
		return 0;
	return mtu - fixed - key_len;
}

/* Little-endian field access, for the header here and for the payload
 * formats built on it (the replication messages, wire_repl.h). Explicit
 * byte loads and stores: correct on any host, any alignment. */
static inline uint16_t cat_wire_get_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

static inline uint32_t cat_wire_get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | ((uint32_t)p[1] << 8) |
	       ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static inline uint64_t cat_wire_get_le64(const uint8_t *p)
{
	return (uint64_t)cat_wire_get_le32(p) |
	       ((uint64_t)cat_wire_get_le32(p + 4) << 32);
}

static inline void cat_wire_put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static inline void cat_wire_put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static inline void cat_wire_put_le64(uint8_t *p, uint64_t v)
{
	cat_wire_put_le32(p, (uint32_t)v);
	cat_wire_put_le32(p + 4, (uint32_t)(v >> 32));
}

/* Opcodes. Client ops are below 0x40; replication ops (chain protocol,
 * later issues) live in 0x40..0x7f so a client can never be mistaken for a
 * peer by opcode alone. */
enum cat_op {
	CAT_OP_GET  = 0x01,
	CAT_OP_PUT  = 0x02,
	CAT_OP_DEL  = 0x03,
	CAT_OP_CAS  = 0x04,
	CAT_OP_INCR = 0x05,
	CAT_OP_PING = 0x06, /* liveness/no-op; reply carries the node's epoch */
	CAT_OP_MAP_GET = 0x07, /* arg = byte offset into the node's cluster map
				* text; reply: value = text from there (as much
				* as fits), arg = total length, epoch = map's */
};

/* Header flags. */
#define CAT_F_REPLY     0x01u /* set on every reply */
#define CAT_F_CAS_VALUE 0x02u /* CAS compares the value, not the version */
#define CAT_F_MORE      0x04u /* reserved for multi-packet messages; must be 0 */
#define CAT_F_KNOWN     (CAT_F_REPLY | CAT_F_CAS_VALUE)

enum cat_status {
	CAT_ST_OK           = 0,
	CAT_ST_NOT_FOUND    = 1,
	CAT_ST_CAS_FAILED   = 2,
	CAT_ST_MOVED        = 3,  /* slot lives elsewhere; epoch = current */
	CAT_ST_RETRY        = 4,  /* slot reconfiguring or worker busy; retry */
	CAT_ST_TOO_LARGE    = 5,  /* key or value over the stated limit */
	CAT_ST_BAD_REQUEST  = 6,  /* malformed header, lengths, flags */
	CAT_ST_UNKNOWN_OP   = 7,
	CAT_ST_BAD_VERSION  = 8,  /* protocol version not spoken */
	CAT_ST_NOT_A_NUMBER = 9,  /* INCR on a value that is not a decimal int64 */
	CAT_ST_OVERFLOW     = 10, /* INCR would overflow int64 */
	CAT_ST_NO_SPACE     = 11, /* node out of memory for values */
	CAT_ST_WRONG_SLOT   = 12, /* slot field does not match hash of the key */
	CAT_ST_OUTCOME_UNKNOWN = 13, /* a write the node no longer remembers
				      * and may have applied: not run again */
	CAT_ST__COUNT
};

/*
 * Decoded view of one message. key and value point into the packet buffer
 * they were decoded from (zero copy): valid as long as that buffer is.
 */
struct cat_msg {
	uint8_t  version;
	uint8_t  op;
	uint8_t  flags;
	uint8_t  status;
	uint16_t slot;
	uint32_t epoch;
	uint32_t client_id;
	uint64_t seq;
	uint64_t arg;      /* CAS: expected version or expected-value length;
			    * INCR: delta (int64 two's complement);
			    * replies: version of the value */
	uint16_t key_len;
	uint32_t value_len;
	const uint8_t *key;
	const uint8_t *value;
};

/* Why decode refused a message; the dataplane counts each separately. */
enum cat_wire_err {
	CAT_WIRE_OK = 0,
	CAT_WIRE_ERR_SHORT,      /* fewer bytes than a header */
	CAT_WIRE_ERR_MAGIC,      /* not a catena message: drop, never answer */
	CAT_WIRE_ERR_VERSION,    /* answerable with BAD_VERSION */
	CAT_WIRE_ERR_TRUNCATED,  /* key/value lengths run past the buffer */
	CAT_WIRE_ERR_RESERVED,   /* reserved field or unknown flag set */
	CAT_WIRE_ERR__COUNT
};

/**
 * Decode one message at buf[0..len).
 *
 * On success fills *m, stores the message's total length in *consumed and
 * returns CAT_WIRE_OK. On error returns the reason; *m then holds whatever
 * header fields could be read (enough to address a BAD_REQUEST/BAD_VERSION
 * reply when the error is not SHORT or MAGIC) and *consumed is 0.
 * Does not check op-specific semantics (see cat_wire_check_request).
 */
enum cat_wire_err cat_wire_decode(const void *buf, size_t len,
				  struct cat_msg *m, size_t *consumed);

/**
 * Check a decoded client request against the protocol rules (known op,
 * key present and within CAT_WIRE_KEY_MAX, value only where the op takes
 * one and within value_max, CAS_VALUE layout). Returns CAT_ST_OK or the
 * status to answer with.
 */
enum cat_status cat_wire_check_request(const struct cat_msg *m,
				       uint32_t value_max);

/** Bytes cat_wire_encode will write for this message. */
static inline size_t cat_wire_msg_len(const struct cat_msg *m)
{
	return CAT_WIRE_HDR_LEN + (size_t)m->key_len + (size_t)m->value_len;
}

/**
 * Encode *m (header, then m->key_len bytes of m->key, then m->value_len
 * bytes of m->value) into buf. Returns bytes written, or -ENOSPC if cap is
 * too small (nothing meaningful written). m->version is ignored: always
 * CAT_WIRE_VERSION.
 */
int cat_wire_encode(void *buf, size_t cap, const struct cat_msg *m);

/**
 * Encode only the 40-byte header of *m into buf (cap >= CAT_WIRE_HDR_LEN);
 * the caller copies key and value after it itself. Lets the dataplane write
 * a value straight from the store into a tx buffer with one copy.
 */
void cat_wire_encode_hdr(void *buf, const struct cat_msg *m);

/** Longest INCR value text: "-9223372036854775808". */
#define CAT_WIRE_I64_TEXT_MAX 20u

/**
 * Format x as INCR stores and returns it: decimal, '-' for negatives, no
 * padding, no NUL. buf holds CAT_WIRE_I64_TEXT_MAX bytes. Returns the length.
 */
static inline uint32_t cat_wire_i64_format(int64_t x, uint8_t *buf)
{
	uint8_t tmp[CAT_WIRE_I64_TEXT_MAX];
	uint64_t v = x < 0 ? 0 - (uint64_t)x : (uint64_t)x;
	uint32_t n = 0, len = 0;

	do {
		tmp[n++] = (uint8_t)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	if (x < 0)
		buf[len++] = '-';
	while (n > 0)
		buf[len++] = tmp[--n];
	return len;
}

/** Stable upper-case name of a status ("OK", "NOT_FOUND", ...), or "?" */
const char *cat_wire_status_name(unsigned int st);

/** Stable upper-case name of an op ("GET", ...), or "?" */
const char *cat_wire_op_name(unsigned int op);

/** Name of a decode error, for counters and logs. */
const char *cat_wire_err_name(enum cat_wire_err e);

#ifdef __cplusplus
}
#endif

#endif /* CAT_WIRE_H */
