/*
 * Node-to-node datagram authentication (docs/PROTOCOL.md, "Link
 * authentication"): the 32-byte trailer every node-to-node UDP datagram
 * carries, its tag, the receiver's replay window, and the per-epoch,
 * per-directed-link keys catena-control derives from a seed of its own and
 * hands each node, encrypted, for the links it is an end of.
 *
 * The tag is keyed SipHash-2-4 with a 128-bit output (libsodium's
 * crypto_shorthash_siphashx24): a PRF built for short inputs, a few cycles
 * per byte and no set-up cost per message, where HMAC-SHA256 pays two
 * compression calls of padding before the first byte and keyed BLAKE2b a
 * 128-byte block per call; on 64 to 1400-byte datagrams SipHash is several
 * times cheaper (perf/bench_auth.cc). 128 bits of tag under a key that
 * lives one epoch leave a forger nothing to gain from the shorter state.
 *
 * DPDK-free and sans-I/O, like the rest of replication/: the worker calls
 * the tag and window functions on its hot path (they never allocate, never
 * block, never make a syscall); the key functions run on the control path
 * of catena-control and of the node agent. Own library (catena_linkauth),
 * since only those two link libsodium.
 */
#ifndef CAT_LINKAUTH_H
#define CAT_LINKAUTH_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Trailer, at the very end of the UDP payload, little-endian:
 *   0  2  magic 'L' 'A'
 *   2  1  version (1)
 *   3  1  sender worker (lcore index of the sending node's worker)
 *   4  4  key epoch (the map epoch whose link key made the tag)
 *   8  8  counter (per sender worker, strictly increasing)
 *  16 16  tag
 */
#define CAT_LINKAUTH_TRAILER_LEN 32u
#define CAT_LINKAUTH_TAG_LEN 16u
#define CAT_LINKAUTH_KEY_LEN 16u
#define CAT_LINKAUTH_VERSION 1u
#define CAT_LINKAUTH_MAGIC0 'L'
#define CAT_LINKAUTH_MAGIC1 'A'
/* The tag covers this many bytes in front of the UDP payload: IPv4
 * source and destination, UDP source and destination port, UDP length
 * and two zero bytes where the UDP checksum goes (network order, as in
 * the frame: with a 20-byte IPv4 header they are the frame's own bytes
 * 26..41 with the checksum field zeroed). */
#define CAT_LINKAUTH_PSEUDO_LEN 16u
#define CAT_LINKAUTH_WINDOW 64u   /* counters behind the newest still taken */
#define CAT_LINKAUTH_SEED_LEN 32u
/* How long a receiver still takes tags of the previous epoch's keys after
 * it switched to a new map: datagrams its peers sent before they
 * switched. */
#define CAT_LINKAUTH_PREV_NS 2000000000ull

/** A parsed trailer. */
struct cat_linkauth_trailer {
	uint8_t worker;
	uint32_t epoch;
	uint64_t counter;
	const uint8_t *tag;  /* into the datagram */
};

/**
 * Parse the trailer at the end of a UDP payload of len bytes. 0 and *t
 * filled; -ENOENT if the payload is too short or does not end in a
 * trailer (no magic); -EPROTO for a trailer of another version.
 * Never reads outside payload[0..len).
 */
int cat_linkauth_parse(const uint8_t *payload, size_t len,
		       struct cat_linkauth_trailer *t);

/**
 * Write the 16 bytes the tag covers in front of the payload (addresses
 * and ports in network order, as they are in the frame; ulen is the UDP
 * length, 8 + payload bytes). For callers whose frame does not already
 * hold them contiguously (tests, a copy).
 */
void cat_linkauth_pseudo(uint8_t out[CAT_LINKAUTH_PSEUDO_LEN],
			 uint32_t src_ip_be, uint32_t dst_ip_be,
			 uint16_t src_port_be, uint16_t dst_port_be,
			 uint16_t ulen);

/**
 * Seal a datagram in place. buf holds the 16 pseudo-header bytes, then
 * the payload of plen bytes whose last CAT_LINKAUTH_TRAILER_LEN bytes are
 * room for the trailer (plen >= CAT_LINKAUTH_TRAILER_LEN). Writes the
 * trailer's fields and its tag. Worker hot path: no allocation.
 */
void cat_linkauth_seal(const uint8_t key[CAT_LINKAUTH_KEY_LEN], uint8_t *buf,
		       size_t plen, uint8_t worker, uint32_t epoch,
		       uint64_t counter);

/**
 * Check the tag of a sealed datagram (buf as for seal: pseudo header,
 * then plen payload bytes ending in the trailer). 0 if it verifies,
 * -EBADMSG if not. Constant time in the tag compare.
 */
int cat_linkauth_verify(const uint8_t key[CAT_LINKAUTH_KEY_LEN],
			const uint8_t *buf, size_t plen);

/**
 * Replay window of one (peer node, sender worker) pair, IPsec style
 * (RFC 4303 3.4.3): the newest counter taken and a bitmap of the 64
 * before it. Zeroed = nothing taken yet. Owned by one receiving worker.
 */
struct cat_linkauth_window {
	uint64_t top;        /* newest counter taken (valid when bits != 0) */
	uint64_t bits;       /* bit i: counter top - i was taken */
};

/** 0 if counter may be taken, -EALREADY if it was taken or is older
 * than the window. Does not change the window: check, verify the tag,
 * then take (a forged datagram must not move it). */
int cat_linkauth_window_check(const struct cat_linkauth_window *w,
			      uint64_t counter);

/** Note counter as taken (after it passed check and its tag verified). */
void cat_linkauth_window_take(struct cat_linkauth_window *w, uint64_t counter);

/* ---- keys (control path) ------------------------------------------------ */

/** libsodium set-up; call once before the functions below. 0 or -EIO. */
int cat_linkauth_init(void);

/** A new random seed (catena-control, first start). */
void cat_linkauth_seed_new(uint8_t seed[CAT_LINKAUTH_SEED_LEN]);

/**
 * The key of the directed link from node `from` to node `to` in map epoch
 * `epoch`: crypto_kdf_derive_from_key(16, id, "catlink1", seed) with id =
 * epoch << 32 | from << 16 | to. 0 or -EIO.
 */
int cat_linkauth_link_key(const uint8_t seed[CAT_LINKAUTH_SEED_LEN],
			  uint32_t epoch, uint16_t from, uint16_t to,
			  uint8_t key[CAT_LINKAUTH_KEY_LEN]);

/** One node's keys towards one peer in one epoch. */
struct cat_linkauth_link {
	uint16_t peer;       /* node id; 0: no keys for this entry */
	uint8_t tx[CAT_LINKAUTH_KEY_LEN];  /* this node -> peer */
	uint8_t rx[CAT_LINKAUTH_KEY_LEN];  /* peer -> this node */
};

#define CAT_LINKAUTH_PEERS_MAX 64u  /* = CAT_MAP_NODES_MAX */

/**
 * A node's link keys as a worker reads them, published with the map
 * (struct cat_dp_map): link[i] is for the map's node i (peer 0 for this
 * node itself), and the previous epoch's receive keys by peer id, which
 * a worker takes for CAT_LINKAUTH_PREV_NS after it switched maps.
 */
struct cat_linkauth_keyset {
	uint32_t epoch;      /* 0: no keys (unauthenticated, or none given) */
	struct cat_linkauth_link link[CAT_LINKAUTH_PEERS_MAX];
	uint32_t prev_epoch; /* 0: none */
	uint16_t n_prev;
	struct {
		uint16_t peer;
		uint8_t rx[CAT_LINKAUTH_KEY_LEN];
	} prev[CAT_LINKAUTH_PEERS_MAX];
};

/* Delivery blob (bytes before hex): 24-byte XChaCha20 nonce, then the
 * AEAD ciphertext of: epoch u32, node u16, count u16, then count entries
 * of peer u16, tx key 16, rx key 16 (all little-endian), then the
 * 16-byte Poly1305 tag. */
#define CAT_LINKAUTH_BLOB_MAX (24u + 8u + CAT_LINKAUTH_PEERS_MAX * 34u + 16u)

/**
 * catena-control: the keys of node `node` for map epoch `epoch`, towards
 * each of the n peers ids[] (the map's other nodes), encrypted for that
 * node with a key derived from the cluster secret and its id. Writes at
 * most CAT_LINKAUTH_BLOB_MAX bytes into out and returns how many, or
 * -EINVAL / -EIO.
 */
int cat_linkauth_keys_seal(const uint8_t seed[CAT_LINKAUTH_SEED_LEN],
			   const uint8_t *secret, size_t secret_len,
			   uint32_t epoch, uint16_t node,
			   const uint16_t *ids, unsigned int n,
			   uint8_t *out, size_t cap);

/**
 * catena-node: decrypt and check a delivery blob for (epoch, node) with
 * the cluster secret; the entries go to links[] (room for
 * CAT_LINKAUTH_PEERS_MAX), their count to *n. 0, or -EBADMSG (not for
 * this node and epoch, altered, or another secret) / -EINVAL (malformed).
 */
int cat_linkauth_keys_open(const uint8_t *secret, size_t secret_len,
			   uint32_t epoch, uint16_t node,
			   const uint8_t *blob, size_t len,
			   struct cat_linkauth_link *links, unsigned int *n);

#ifdef __cplusplus
}
#endif

#endif /* CAT_LINKAUTH_H */
