/*
 * Node channel authentication (docs/CONTROL.md, "Cluster secret"): both
 * ends of the catena-node <-> catena-control channel prove they hold the
 * same cluster secret, and every line after the handshake carries an
 * HMAC-SHA256 tag over its direction, its sequence number and its bytes,
 * so a line cannot be forged, altered, replayed, reordered or reflected.
 * Both ends add a fresh nonce to the session key, so nothing recorded
 * from one connection is accepted on another.
 *
 * Code both ends of the channel use, catena-node (dataplane/nodechan.c)
 * and catena-control (control/nodechan.c), so it lives in neither's
 * folder: replication/ holds what the processes share. Like the rest of
 * replication/ it has no DPDK and no sockets; its only I/O is reading the
 * secret file and getrandom(2) for nonces. OpenSSL's libcrypto computes the
 * MACs, which is why it is a library of its own (catena_chanauth) and not
 * part of catena_repl.
 */
#ifndef CAT_CHANAUTH_H
#define CAT_CHANAUTH_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CAT_AUTH_SECRET_MIN 16u   /* bytes: shorter secrets are refused */
#define CAT_AUTH_SECRET_MAX 1024u
#define CAT_AUTH_NONCE_LEN 16u
#define CAT_AUTH_TAG_HEX 64u      /* a tag: 32 bytes of HMAC-SHA256, hex */
/* An authenticated line is "<tag> <json>": this many bytes precede the JSON. */
#define CAT_AUTH_LINE_OVERHEAD (CAT_AUTH_TAG_HEX + 1u)
#define CAT_AUTH_ALG "hmac-sha256"

struct cat_auth_secret {
	size_t len;
	uint8_t key[CAT_AUTH_SECRET_MAX];
};

/** Which end of the channel a session is: it fixes the tag's direction. */
enum cat_auth_side {
	CAT_AUTH_CONTROL, /* catena-control: sends 'C' lines, checks 'N' */
	CAT_AUTH_NODE,    /* catena-node: sends 'N' lines, checks 'C' */
};

struct cat_auth_session {
	uint8_t key[32];  /* HMAC-SHA256(secret, label || nonce_c || nonce_n) */
	uint64_t seq_tx;  /* next line sent */
	uint64_t seq_rx;  /* next line expected */
	uint8_t dir_tx, dir_rx;
};

/**
 * Read the cluster secret from path: the file's bytes, trailing
 * whitespace removed, CAT_AUTH_SECRET_MIN..MAX bytes. The file must be a
 * regular file that neither its group nor others can read or write (like
 * an ssh key): a readable secret is no secret. Returns 0, or -errno with
 * one line in err naming the file and what to do.
 */
int cat_auth_secret_load(const char *path, struct cat_auth_secret *s,
			 char *err, size_t errlen);

/** Wipe a secret or a session from memory. */
void cat_auth_secret_clear(struct cat_auth_secret *s);
void cat_auth_session_clear(struct cat_auth_session *a);

/** A fresh random nonce (getrandom). 0 or -errno. */
int cat_auth_nonce(uint8_t nonce[CAT_AUTH_NONCE_LEN]);

/** Nonce to 32 lowercase hex digits plus NUL. */
void cat_auth_nonce_hex(const uint8_t nonce[CAT_AUTH_NONCE_LEN],
			char out[2 * CAT_AUTH_NONCE_LEN + 1]);

/** 32 hex digits to a nonce: 0, or -EINVAL (wrong length, not hex). */
int cat_auth_nonce_parse(const char *hex, size_t len,
			 uint8_t nonce[CAT_AUTH_NONCE_LEN]);

/**
 * Start a session from the secret and both nonces (nonce_c from
 * catena-control's challenge, nonce_n from the node's answer). Sequence
 * numbers start at 0 in both directions. 0 or -EIO (libcrypto failed).
 */
int cat_auth_session_init(struct cat_auth_session *a,
			  const struct cat_auth_secret *s,
			  const uint8_t nonce_c[CAT_AUTH_NONCE_LEN],
			  const uint8_t nonce_n[CAT_AUTH_NONCE_LEN],
			  enum cat_auth_side side);

/**
 * The tag of the next line this end sends (the bytes of its JSON, len
 * long, no newline): CAT_AUTH_TAG_HEX hex digits plus NUL into tag.
 * Consumes a sequence number: call once per line, in sending order.
 * 0 or -EIO.
 */
int cat_auth_tag(struct cat_auth_session *a, const char *json, size_t len,
		 char tag[CAT_AUTH_TAG_HEX + 1]);

/**
 * Check a received line "<tag> <json>" (no newline). On success the next
 * sequence number is expected and the JSON starts at line +
 * CAT_AUTH_LINE_OVERHEAD. -EBADMSG if the line is not of that form or its
 * tag is not the one this session expects next (wrong secret, altered,
 * replayed, reordered or reflected); the session is then unusable and the
 * caller closes the connection. -EIO if libcrypto failed.
 */
int cat_auth_check(struct cat_auth_session *a, const char *line, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* CAT_CHANAUTH_H */
