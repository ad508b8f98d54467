/*
 * Link authentication: trailer, tag, replay window and link keys of
 * replication/linkauth.h. Tag and window are the workers' (hot path: no
 * allocation, no syscall); the key derivation and delivery are the control
 * path's. docs/PROTOCOL.md ("Link authentication") is the normative text.
 *
 * Keys: catena-control keeps a random 32-byte seed that no node ever sees,
 * and derives each directed link's key per epoch from it, so a node holds
 * only the keys of its own links and only for epochs it was given a map
 * of; a node removed from the map gets no key of the next epoch. The keys
 * reach a node over the node channel (authenticated, not encrypted),
 * sealed with XChaCha20-Poly1305 under a key derived from the cluster
 * secret and the node's id, so a reader of the channel learns nothing.
 * Every holder of the cluster secret can derive every node's delivery key:
 * the secret is the root of trust and rotating it is how a compromised
 * node is evicted for good (docs/HARDENING.md).
 */
#include <errno.h>
#include <string.h>

#include <sodium.h>

#include "replication/linkauth.h"
#include "replication/wire.h"

static const char kdf_link_ctx[crypto_kdf_CONTEXTBYTES] = {
	'c', 'a', 't', 'l', 'i', 'n', 'k', '1' };
static const char kdf_deliver_ctx[crypto_kdf_CONTEXTBYTES] = {
	'c', 'a', 't', 'd', 'l', 'v', 'r', '1' };
/* BLAKE2b key of the secret's hash: separates this use of the secret from
 * the node channel's HMAC. */
static const char deliver_label[] = "catena link key delivery v1";
static const char ad_label[] = "catena linkkeys v1";

#define NONCE_LEN crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define ENTRY_LEN (2u + 2u * CAT_LINKAUTH_KEY_LEN)
#define HEAD_LEN 8u

/* ---- trailer and tag ------------------------------------------------------ */

int cat_linkauth_parse(const uint8_t *payload, size_t len,
		       struct cat_linkauth_trailer *t)
{
	const uint8_t *p;

	if (len < CAT_LINKAUTH_TRAILER_LEN)
		return -ENOENT;
	p = payload + len - CAT_LINKAUTH_TRAILER_LEN;
	if (p[0] != CAT_LINKAUTH_MAGIC0 || p[1] != CAT_LINKAUTH_MAGIC1)
		return -ENOENT;
	if (p[2] != CAT_LINKAUTH_VERSION)
		return -EPROTO;
	t->worker = p[3];
	t->epoch = cat_wire_get_le32(p + 4);
	t->counter = cat_wire_get_le64(p + 8);
	t->tag = p + 16;
	return 0;
}

void cat_linkauth_pseudo(uint8_t out[CAT_LINKAUTH_PSEUDO_LEN],
			 uint32_t src_ip_be, uint32_t dst_ip_be,
			 uint16_t src_port_be, uint16_t dst_port_be,
			 uint16_t ulen)
{
	memcpy(out, &src_ip_be, 4);
	memcpy(out + 4, &dst_ip_be, 4);
	memcpy(out + 8, &src_port_be, 2);
	memcpy(out + 10, &dst_port_be, 2);
	out[12] = (uint8_t)(ulen >> 8);
	out[13] = (uint8_t)ulen;
	out[14] = 0;
	out[15] = 0;
}

/* The tag of buf: everything but the tag's own 16 bytes. */
static void tag_of(const uint8_t key[CAT_LINKAUTH_KEY_LEN], const uint8_t *buf,
		   size_t plen, uint8_t out[CAT_LINKAUTH_TAG_LEN])
{
	(void)crypto_shorthash_siphashx24(out, buf, CAT_LINKAUTH_PSEUDO_LEN +
					  plen - CAT_LINKAUTH_TAG_LEN, key);
}

void cat_linkauth_seal(const uint8_t key[CAT_LINKAUTH_KEY_LEN], uint8_t *buf,
		       size_t plen, uint8_t worker, uint32_t epoch,
		       uint64_t counter)
{
	uint8_t *t = buf + CAT_LINKAUTH_PSEUDO_LEN + plen - CAT_LINKAUTH_TRAILER_LEN;

	t[0] = CAT_LINKAUTH_MAGIC0;
	t[1] = CAT_LINKAUTH_MAGIC1;
	t[2] = CAT_LINKAUTH_VERSION;
	t[3] = worker;
	cat_wire_put_le32(t + 4, epoch);
	cat_wire_put_le64(t + 8, counter);
	tag_of(key, buf, plen, t + 16);
}

int cat_linkauth_verify(const uint8_t key[CAT_LINKAUTH_KEY_LEN],
			const uint8_t *buf, size_t plen)
{
	uint8_t want[CAT_LINKAUTH_TAG_LEN];
	const uint8_t *have = buf + CAT_LINKAUTH_PSEUDO_LEN + plen -
			      CAT_LINKAUTH_TAG_LEN;

	if (plen < CAT_LINKAUTH_TRAILER_LEN)
		return -EBADMSG;
	tag_of(key, buf, plen, want);
	return crypto_verify_16(want, have) == 0 ? 0 : -EBADMSG;
}

/* ---- replay window --------------------------------------------------------- */

int cat_linkauth_window_check(const struct cat_linkauth_window *w,
			      uint64_t counter)
{
	uint64_t back;

	if (w->bits == 0 || counter > w->top)
		return 0;
	back = w->top - counter;
	if (back >= CAT_LINKAUTH_WINDOW)
		return -EALREADY;
	return (w->bits >> back) & 1u ? -EALREADY : 0;
}

void cat_linkauth_window_take(struct cat_linkauth_window *w, uint64_t counter)
{
	uint64_t ahead;

	if (w->bits == 0) {
		w->top = counter;
		w->bits = 1;
		return;
	}
	if (counter > w->top) {
		ahead = counter - w->top;
		w->bits = ahead >= CAT_LINKAUTH_WINDOW ? 1u : (w->bits << ahead) | 1u;
		w->top = counter;
		return;
	}
	if (w->top - counter < CAT_LINKAUTH_WINDOW)
		w->bits |= (uint64_t)1 << (w->top - counter);
}

/* ---- keys ------------------------------------------------------------------ */

int cat_linkauth_init(void)
{
	return sodium_init() < 0 ? -EIO : 0;
}

void cat_linkauth_seed_new(uint8_t seed[CAT_LINKAUTH_SEED_LEN])
{
	randombytes_buf(seed, CAT_LINKAUTH_SEED_LEN);
}

int cat_linkauth_link_key(const uint8_t seed[CAT_LINKAUTH_SEED_LEN],
			  uint32_t epoch, uint16_t from, uint16_t to,
			  uint8_t key[CAT_LINKAUTH_KEY_LEN])
{
	uint64_t id = (uint64_t)epoch << 32 | (uint64_t)from << 16 | to;

	return crypto_kdf_derive_from_key(key, CAT_LINKAUTH_KEY_LEN, id,
					  kdf_link_ctx, seed) == 0 ? 0 : -EIO;
}

/* The key a node's deliveries are sealed with: BLAKE2b-256 of the secret
 * (keyed by the label), then the KDF with the node id. */
static int deliver_key(const uint8_t *secret, size_t secret_len, uint16_t node,
		       uint8_t key[crypto_aead_xchacha20poly1305_ietf_KEYBYTES])
{
	uint8_t root[crypto_kdf_KEYBYTES];
	int rc;

	if (crypto_generichash(root, sizeof(root), secret, secret_len,
			       (const uint8_t *)deliver_label,
			       sizeof(deliver_label) - 1) != 0)
		return -EIO;
	rc = crypto_kdf_derive_from_key(key, crypto_aead_xchacha20poly1305_ietf_KEYBYTES,
					node, kdf_deliver_ctx, root);
	sodium_memzero(root, sizeof(root));
	return rc == 0 ? 0 : -EIO;
}

static void ad_of(uint8_t ad[sizeof(ad_label) - 1 + 6], uint32_t epoch,
		  uint16_t node)
{
	memcpy(ad, ad_label, sizeof(ad_label) - 1);
	cat_wire_put_le32(ad + sizeof(ad_label) - 1, epoch);
	cat_wire_put_le16(ad + sizeof(ad_label) - 1 + 4, node);
}

int cat_linkauth_keys_seal(const uint8_t seed[CAT_LINKAUTH_SEED_LEN],
			   const uint8_t *secret, size_t secret_len,
			   uint32_t epoch, uint16_t node,
			   const uint16_t *ids, unsigned int n,
			   uint8_t *out, size_t cap)
{
	uint8_t plain[HEAD_LEN + CAT_LINKAUTH_PEERS_MAX * ENTRY_LEN];
	uint8_t key[crypto_aead_xchacha20poly1305_ietf_KEYBYTES];
	uint8_t ad[sizeof(ad_label) - 1 + 6];
	unsigned long long clen = 0;
	size_t plen = HEAD_LEN + (size_t)n * ENTRY_LEN;
	int rc = 0;

	if (n > CAT_LINKAUTH_PEERS_MAX ||
	    cap < NONCE_LEN + plen + crypto_aead_xchacha20poly1305_ietf_ABYTES)
		return -EINVAL;
	cat_wire_put_le32(plain, epoch);
	cat_wire_put_le16(plain + 4, node);
	cat_wire_put_le16(plain + 6, (uint16_t)n);
	for (unsigned int i = 0; i < n && rc == 0; i++) {
		uint8_t *e = plain + HEAD_LEN + i * ENTRY_LEN;

		cat_wire_put_le16(e, ids[i]);
		rc = cat_linkauth_link_key(seed, epoch, node, ids[i], e + 2);
		if (rc == 0)
			rc = cat_linkauth_link_key(seed, epoch, ids[i], node,
						   e + 2 + CAT_LINKAUTH_KEY_LEN);
	}
	if (rc == 0)
		rc = deliver_key(secret, secret_len, node, key);
	if (rc == 0) {
		randombytes_buf(out, NONCE_LEN);
		ad_of(ad, epoch, node);
		if (crypto_aead_xchacha20poly1305_ietf_encrypt(out + NONCE_LEN, &clen,
				plain, plen, ad, sizeof(ad), NULL, out, key) != 0)
			rc = -EIO;
	}
	sodium_memzero(plain, sizeof(plain));
	sodium_memzero(key, sizeof(key));
	return rc < 0 ? rc : (int)(NONCE_LEN + clen);
}

int cat_linkauth_keys_open(const uint8_t *secret, size_t secret_len,
			   uint32_t epoch, uint16_t node,
			   const uint8_t *blob, size_t len,
			   struct cat_linkauth_link *links, unsigned int *n)
{
	uint8_t plain[HEAD_LEN + CAT_LINKAUTH_PEERS_MAX * ENTRY_LEN];
	uint8_t key[crypto_aead_xchacha20poly1305_ietf_KEYBYTES];
	uint8_t ad[sizeof(ad_label) - 1 + 6];
	unsigned long long plen = 0;
	unsigned int cnt;
	int rc;

	if (len < NONCE_LEN + crypto_aead_xchacha20poly1305_ietf_ABYTES + HEAD_LEN ||
	    len > NONCE_LEN + sizeof(plain) + crypto_aead_xchacha20poly1305_ietf_ABYTES)
		return -EINVAL;
	rc = deliver_key(secret, secret_len, node, key);
	if (rc < 0)
		return rc;
	ad_of(ad, epoch, node);
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(plain, &plen, NULL,
			blob + NONCE_LEN, len - NONCE_LEN, ad, sizeof(ad),
			blob, key) != 0) {
		rc = -EBADMSG;
		goto out;
	}
	cnt = cat_wire_get_le16(plain + 6);
	/* The AD binds epoch and node already; the copies inside must agree,
	 * and the count must be exactly what was sealed. */
	if (plen < HEAD_LEN || cat_wire_get_le32(plain) != epoch ||
	    cat_wire_get_le16(plain + 4) != node || cnt > CAT_LINKAUTH_PEERS_MAX ||
	    plen != HEAD_LEN + (unsigned long long)cnt * ENTRY_LEN) {
		rc = -EINVAL;
		goto out;
	}
	for (unsigned int i = 0; i < cnt; i++) {
		const uint8_t *e = plain + HEAD_LEN + i * ENTRY_LEN;

		links[i].peer = cat_wire_get_le16(e);
		memcpy(links[i].tx, e + 2, CAT_LINKAUTH_KEY_LEN);
		memcpy(links[i].rx, e + 2 + CAT_LINKAUTH_KEY_LEN, CAT_LINKAUTH_KEY_LEN);
	}
	*n = cnt;
out:
	sodium_memzero(plain, sizeof(plain));
	sodium_memzero(key, sizeof(key));
	return rc;
}
