/*
 * catena replication wire format: the node-to-node opcodes (0x40..0x7f) and
 * the layout of every replication message, on top of the 40-byte header of
 * replication/wire.h. docs/PROTOCOL.md ("Replication", "State transfer") is
 * the normative description; this header must agree with it byte for byte.
 * Pure C, no DPDK, never allocates; every decode checks lengths first and
 * never reads past them. The chain engine encodes and decodes only here.
 */
#ifndef CAT_WIRE_REPL_H
#define CAT_WIRE_REPL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "replication/wire.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Replication opcodes (0x40..0x7f: never valid from a client). */
#define CAT_OP_R_FWD    0x41u /* predecessor -> successor: one sequenced write */
#define CAT_OP_R_ACK    0x42u /* successor -> predecessor: arg = committed seq */
#define CAT_OP_R_VQUERY 0x43u /* CRAQ replica -> tail: committed version of key? */
#define CAT_OP_R_VRESP  0x44u /* tail -> replica: arg = committed version */
/* State transfer to a joining node (docs/PROTOCOL.md, "State transfer"). */
#define CAT_OP_R_SNAP     0x45u /* tail -> joiner: one item; client_id = stream
				 * generation, seq = stream seq, arg = version */
#define CAT_OP_R_SNAP_END 0x46u /* tail -> joiner: snapshot done, arg = cut */
#define CAT_OP_R_SNAP_ACK 0x47u /* joiner -> tail: seq = stream seq received */
#define CAT_OP_R_SYNC_REQ 0x48u /* held replica -> pred: your applied version? */
#define CAT_OP_R_SYNC     0x49u /* pred -> held replica: arg = applied version,
				 * what it must reach before it answers reads */
#define CAT_OP_R_SNAP_DEDUP 0x4au /* tail -> joiner: a remembered client
				   * request of the slot (in the stream) */
#define CAT_OP_R_PING     0x4bu /* node -> every other node of the map, every
				 * CAT_LEASE_PING_NS (50 ms): "I hear the
				 * data network". Never answered; at the
				 * receiver's epoch it renews the read lease
				 * (lease.h), and catena-control learns who
				 * hears whom from heartbeats */

static inline int cat_op_is_replication(unsigned int op)
{
	return op >= 0x40u && op <= 0x7fu;
}

/** Where a client is, so that whichever node commits can answer it. */
struct cat_addr {
	uint32_t ip;      /* host byte order; 0 = no client (no reply) */
	uint16_t port;
	uint8_t mac[6];
};

/*
 * The replication extension: CAT_WIRE_REPL_EXT_LEN (24) bytes at the start
 * of the value area of FWD, VQUERY and VRESP, with what the node that
 * commits needs to answer the client itself:
 *   0 kind, 1 the client's op, 2-3 client UDP port, 4-7 client IPv4,
 *   8-13 client MAC, 14-15 zero, 16-23 the reply's arg.
 */
enum cat_wire_repl_kind {
	CAT_WIRE_REPL_KIND_NONE = 0, /* VQUERY/VRESP: no write */
	CAT_WIRE_REPL_KIND_PUT  = 1, /* the new value follows the extension */
	CAT_WIRE_REPL_KIND_DEL  = 2,
	CAT_WIRE_REPL_KIND_NOOP = 3, /* a failed outcome, ordered all the same */
};

struct cat_wire_repl_ext {
	uint8_t kind;          /* enum cat_wire_repl_kind */
	uint8_t client_op;
	struct cat_addr client;
	uint64_t reply_arg;
};

/** Write e as the 24 extension bytes at out. */
void cat_wire_repl_ext_encode(uint8_t *out, const struct cat_wire_repl_ext *e);

/**
 * Read the extension at p[0..len). Returns 0, -EMSGSIZE if len is shorter
 * than the extension, -EINVAL if its reserved bytes are not zero. The kind
 * is not checked: what is valid depends on the message.
 */
int cat_wire_repl_ext_decode(const uint8_t *p, size_t len,
			     struct cat_wire_repl_ext *e);

/*
 * FWD: one sequenced write, predecessor -> successor. Header: slot, epoch,
 * arg = the write's sequence number (the key's new version), client_id and
 * seq = the client's request id, status = the outcome the client gets; the
 * key; value = extension + payload (a put's new value; for INCR the decimal
 * result, which is also the reply's value).
 */
struct cat_wire_repl_fwd {
	uint16_t slot;
	uint32_t epoch;
	uint64_t n;            /* sequence number: header arg */
	uint32_t client_id;
	uint64_t client_seq;
	uint8_t status;
	const uint8_t *key;
	uint16_t key_len;
	struct cat_wire_repl_ext ext;
	const uint8_t *payload;
	uint32_t payload_len;
};

/**
 * Fill *m as the FWD f, its value area (extension and payload) written to
 * buf[0..cap); m->key points at f->key, m->value at buf. Returns 0, or
 * -EMSGSIZE if the value area does not fit cap (nothing written).
 */
int cat_wire_repl_fwd_encode(const struct cat_wire_repl_fwd *f, uint8_t *buf,
			     size_t cap, struct cat_msg *m);

/**
 * Read the FWD *m (decoded by cat_wire_decode; op not checked) into *f,
 * whose key and payload point into m's buffer. Returns 0, -EMSGSIZE if the
 * value area is shorter than the extension, -EINVAL for non-zero reserved
 * bytes, a kind other than put, delete or no-op, or a key that is empty or
 * longer than CAT_WIRE_KEY_MAX.
 */
int cat_wire_repl_fwd_decode(const struct cat_msg *m,
			     struct cat_wire_repl_fwd *f);

/*
 * VQUERY: a CRAQ replica asks the tail which version of a dirty key is
 * committed. Header: slot, epoch, client_id and seq = the client's request
 * id; the key; value = extension (kind NONE, client op GET, the client's
 * address). VRESP is the query sent back with its op changed and arg = the
 * committed version (0: absent), value area untouched; the replica that
 * asked answers the client from it.
 */
struct cat_wire_repl_vquery {
	uint16_t slot;
	uint32_t epoch;
	uint32_t client_id;
	uint64_t client_seq;
	uint64_t version;      /* VRESP: header arg; 0 in a VQUERY */
	const uint8_t *key;
	uint16_t key_len;
	struct cat_wire_repl_ext ext;
};

/** Fill *m as VQUERY q (q->version ignored), its extension written to
 * buf (CAT_WIRE_REPL_EXT_LEN bytes); m->key points at q->key. */
void cat_wire_repl_vquery_encode(const struct cat_wire_repl_vquery *q,
				 uint8_t *buf, struct cat_msg *m);

/** The VRESP answering VQUERY *query: the query with op VRESP and arg =
 * version; key and value still point into the query's buffer. */
static inline struct cat_msg cat_wire_repl_vresp(const struct cat_msg *query,
						 uint64_t version)
{
	struct cat_msg r = *query;

	r.op = CAT_OP_R_VRESP;
	r.arg = version;
	return r;
}

/**
 * Read a VQUERY or VRESP *m into *q (key points into m's buffer). Returns
 * 0, -EMSGSIZE if m has no key or a value area shorter than the extension
 * (not the message's layout at all), -EINVAL if the extension's reserved
 * bytes are not zero.
 */
int cat_wire_repl_vquery_decode(const struct cat_msg *m,
				struct cat_wire_repl_vquery *q);

/*
 * The snapshot stream, tail -> joiner (SNAP, SNAP_DEDUP, SNAP_END):
 * client_id = the stream's generation (non-zero), seq = the message's
 * stream sequence number (1, 2, ...).
 *
 * SNAP: arg = the item's version (non-zero); the key; value = the item's
 * value, raw.
 */
struct cat_wire_repl_snap {
	uint16_t slot;
	uint32_t epoch;
	uint32_t gen;
	uint64_t stream_seq;
	uint64_t version;
	const uint8_t *key;
	uint16_t key_len;
	const uint8_t *value;
	uint32_t value_len;
};

/** Fill *m as SNAP s (key and value point where s's do). */
void cat_wire_repl_snap_encode(const struct cat_wire_repl_snap *s,
			       struct cat_msg *m);

/**
 * Read SNAP *m into *s (pointers into m's buffer). Returns 0, or -EINVAL
 * for an empty key, a key longer than CAT_WIRE_KEY_MAX or version 0.
 * The generation is not checked: the joiner matches it to its stream.
 */
int cat_wire_repl_snap_decode(const struct cat_msg *m,
			      struct cat_wire_repl_snap *s);

/*
 * SNAP_DEDUP: no key; value = one client request the tail's dedup table
 * remembers for the slot, CAT_WIRE_REPL_DEDUP_FIXED + value_len bytes:
 *   0-3 client id, 4-11 request seq, 12-19 its place in the slot's order,
 *   20-27 reply arg, 28 op, 29 status, 30 value length (at most
 *   CAT_WIRE_REPL_DEDUP_VALUE_MAX), 31- value (INCR's result).
 */
#define CAT_WIRE_REPL_DEDUP_FIXED     31u
#define CAT_WIRE_REPL_DEDUP_VALUE_MAX CAT_WIRE_I64_TEXT_MAX
#define CAT_WIRE_REPL_DEDUP_MAX \
	(CAT_WIRE_REPL_DEDUP_FIXED + CAT_WIRE_REPL_DEDUP_VALUE_MAX)

struct cat_wire_repl_dedup {
	uint32_t client_id;
	uint64_t seq;
	uint64_t rseq;         /* place in the slot's order */
	uint64_t arg;          /* the reply's arg */
	uint8_t op;
	uint8_t status;
	uint8_t value_len;
	const uint8_t *value;
};

/**
 * Write d as a SNAP_DEDUP value into buf[0..cap). Returns the bytes
 * written, -EINVAL if d->value_len is over CAT_WIRE_REPL_DEDUP_VALUE_MAX,
 * or -EMSGSIZE if cap is too small (nothing written either way).
 */
int cat_wire_repl_dedup_encode(const struct cat_wire_repl_dedup *d,
			       uint8_t *buf, size_t cap);

/**
 * Read a SNAP_DEDUP value p[0..len) into *d (value points into p).
 * Returns 0, -EMSGSIZE if len is not exactly the fixed part plus the value
 * length it states, -EINVAL if that length is over
 * CAT_WIRE_REPL_DEDUP_VALUE_MAX.
 */
int cat_wire_repl_dedup_decode(const uint8_t *p, size_t len,
			       struct cat_wire_repl_dedup *d);

/* The messages with nothing past the header, built here so that which
 * field carries what is written down once. Readers take the fields named
 * in each comment. (Assignments, not designated initializers: the C++
 * benchmarks include this header too.) */

/** A replication message of op with only slot and epoch set. */
static inline struct cat_msg cat_wire_repl_hdr(uint8_t op, uint16_t slot,
					       uint32_t epoch)
{
	struct cat_msg m;

	memset(&m, 0, sizeof(m));
	m.op = op;
	m.slot = slot;
	m.epoch = epoch;
	return m;
}

/** ACK: arg = the highest sequence committed at the tail (cumulative). */
static inline struct cat_msg cat_wire_repl_ack(uint16_t slot, uint32_t epoch,
					       uint64_t committed)
{
	struct cat_msg m = cat_wire_repl_hdr(CAT_OP_R_ACK, slot, epoch);

	m.arg = committed;
	return m;
}

/** SNAP_ACK: client_id = generation, seq = highest stream sequence
 * received in order (cumulative). */
static inline struct cat_msg cat_wire_repl_snap_ack(uint16_t slot,
						    uint32_t epoch,
						    uint32_t gen,
						    uint64_t stream_seq)
{
	struct cat_msg m = cat_wire_repl_hdr(CAT_OP_R_SNAP_ACK, slot, epoch);

	m.client_id = gen;
	m.seq = stream_seq;
	return m;
}

/** SNAP_DEDUP: client_id, seq as SNAP; value = the encoded request. */
static inline struct cat_msg cat_wire_repl_snap_dedup(uint16_t slot,
						      uint32_t epoch,
						      uint32_t gen,
						      uint64_t stream_seq,
						      const uint8_t *value,
						      uint32_t value_len)
{
	struct cat_msg m = cat_wire_repl_hdr(CAT_OP_R_SNAP_DEDUP, slot, epoch);

	m.client_id = gen;
	m.seq = stream_seq;
	m.value = value;
	m.value_len = value_len;
	return m;
}

/** SNAP_END: client_id, seq as SNAP (the stream's last number); arg = the
 * cut, the slot's version when the snapshot began. */
static inline struct cat_msg cat_wire_repl_snap_end(uint16_t slot,
						    uint32_t epoch,
						    uint32_t gen,
						    uint64_t stream_seq,
						    uint64_t cut)
{
	struct cat_msg m = cat_wire_repl_hdr(CAT_OP_R_SNAP_END, slot, epoch);

	m.client_id = gen;
	m.seq = stream_seq;
	m.arg = cut;
	return m;
}

/** SYNC_REQ: "what is your applied version?" Nothing but the slot. */
static inline struct cat_msg cat_wire_repl_sync_req(uint16_t slot,
						    uint32_t epoch)
{
	return cat_wire_repl_hdr(CAT_OP_R_SYNC_REQ, slot, epoch);
}

/** SYNC: arg = the predecessor's applied version (the held node's floor). */
static inline struct cat_msg cat_wire_repl_sync(uint16_t slot, uint32_t epoch,
						uint64_t applied)
{
	struct cat_msg m = cat_wire_repl_hdr(CAT_OP_R_SYNC, slot, epoch);

	m.arg = applied;
	return m;
}

/** PING: the epoch, nothing else (slot 0). */
static inline struct cat_msg cat_wire_repl_ping(uint32_t epoch)
{
	return cat_wire_repl_hdr(CAT_OP_R_PING, 0, epoch);
}

#ifdef __cplusplus
}
#endif

#endif /* CAT_WIRE_REPL_H */
