/*
 * Node channel authentication: the cluster secret, session keys and line
 * tags of replication/chanauth.h. The construction (docs/CONTROL.md):
 *
 *   key = HMAC-SHA256(secret, "catena node channel v1" 0x00 nonce_c nonce_n)
 *   tag = HMAC-SHA256(key, dir seq_be64 json)     dir: 'N' node, 'C' control
 *
 * The direction byte stops a line being reflected back to its sender, the
 * sequence number stops replay and reordering within a connection, the
 * nonces (one from each end) stop replay across connections.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <sys/random.h>
#include <sys/stat.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "replication/chanauth.h"

static const char label[] = "catena node channel v1"; /* with its NUL */

struct part {
	const void *p;
	size_t n;
};

/* HMAC-SHA256 of the parts, concatenated, under key. 0 or -EIO. */
static int hmac(const uint8_t *key, size_t keylen, const struct part *parts,
		unsigned int nparts, uint8_t out[32])
{
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	EVP_MAC_CTX *ctx = mac != NULL ? EVP_MAC_CTX_new(mac) : NULL;
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
						 (char *)"SHA256", 0),
		OSSL_PARAM_construct_end(),
	};
	size_t outlen = 0;
	int ok = ctx != NULL && EVP_MAC_init(ctx, key, keylen, params) == 1;

	for (unsigned int i = 0; ok && i < nparts; i++)
		ok = EVP_MAC_update(ctx, parts[i].p, parts[i].n) == 1;
	ok = ok && EVP_MAC_final(ctx, out, &outlen, 32) == 1 && outlen == 32;
	EVP_MAC_CTX_free(ctx);
	EVP_MAC_free(mac);
	return ok ? 0 : -EIO;
}

static void to_hex(const uint8_t *b, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[b[i] >> 4];
		out[2 * i + 1] = digits[b[i] & 15];
	}
	out[2 * n] = '\0';
}

static int nibble(char c)
{
	return OPENSSL_hexchar2int((unsigned char)c);
}

int cat_auth_secret_load(const char *path, struct cat_auth_secret *s,
			 char *err, size_t errlen)
{
	uint8_t buf[CAT_AUTH_SECRET_MAX + 1];
	struct stat st;
	size_t len = 0;
	int fd, rc = 0;

	memset(s, 0, sizeof(*s));
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "secret_file %s: %s", path, strerror(errno));
		return rc;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "secret_file %s: not a regular file", path);
		close(fd);
		return -EINVAL;
	}
	if (st.st_mode & 077) {
		snprintf(err, errlen,
			 "secret_file %s: mode %04o lets its group or others at the "
			 "cluster secret; chmod 600 it", path,
			 (unsigned int)(st.st_mode & 07777));
		close(fd);
		return -EPERM;
	}
	while (len < sizeof(buf)) {
		ssize_t n = read(fd, buf + len, sizeof(buf) - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			snprintf(err, errlen, "secret_file %s: %s", path, strerror(errno));
			break;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	/* An editor's newline is not part of the secret. */
	while (rc == 0 && len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r' ||
				      buf[len - 1] == ' ' || buf[len - 1] == '\t'))
		len--;
	if (rc == 0 && len > CAT_AUTH_SECRET_MAX) {
		snprintf(err, errlen, "secret_file %s: longer than %u bytes", path,
			 CAT_AUTH_SECRET_MAX);
		rc = -EINVAL;
	} else if (rc == 0 && len < CAT_AUTH_SECRET_MIN) {
		snprintf(err, errlen,
			 "secret_file %s: %zu bytes; a cluster secret needs at least %u "
			 "(e.g. head -c 32 /dev/urandom | base64 > %s)", path, len,
			 CAT_AUTH_SECRET_MIN, path);
		rc = -EINVAL;
	}
	if (rc == 0) {
		memcpy(s->key, buf, len);
		s->len = len;
	}
	OPENSSL_cleanse(buf, sizeof(buf));
	return rc;
}

void cat_auth_secret_clear(struct cat_auth_secret *s)
{
	OPENSSL_cleanse(s, sizeof(*s));
}

void cat_auth_session_clear(struct cat_auth_session *a)
{
	OPENSSL_cleanse(a, sizeof(*a));
}

int cat_auth_nonce(uint8_t nonce[CAT_AUTH_NONCE_LEN])
{
	size_t got = 0;

	while (got < CAT_AUTH_NONCE_LEN) {
		ssize_t n = getrandom(nonce + got, CAT_AUTH_NONCE_LEN - got, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		got += (size_t)n;
	}
	return 0;
}

void cat_auth_nonce_hex(const uint8_t nonce[CAT_AUTH_NONCE_LEN],
			char out[2 * CAT_AUTH_NONCE_LEN + 1])
{
	to_hex(nonce, CAT_AUTH_NONCE_LEN, out);
}

int cat_auth_nonce_parse(const char *hex, size_t len,
			 uint8_t nonce[CAT_AUTH_NONCE_LEN])
{
	if (hex == NULL || len != 2 * CAT_AUTH_NONCE_LEN)
		return -EINVAL;
	for (size_t i = 0; i < CAT_AUTH_NONCE_LEN; i++) {
		int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -EINVAL;
		nonce[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

int cat_auth_session_init(struct cat_auth_session *a,
			  const struct cat_auth_secret *s,
			  const uint8_t nonce_c[CAT_AUTH_NONCE_LEN],
			  const uint8_t nonce_n[CAT_AUTH_NONCE_LEN],
			  enum cat_auth_side side)
{
	const struct part parts[] = {
		{ label, sizeof(label) },
		{ nonce_c, CAT_AUTH_NONCE_LEN },
		{ nonce_n, CAT_AUTH_NONCE_LEN },
	};

	memset(a, 0, sizeof(*a));
	a->dir_tx = side == CAT_AUTH_CONTROL ? 'C' : 'N';
	a->dir_rx = side == CAT_AUTH_CONTROL ? 'N' : 'C';
	return hmac(s->key, s->len, parts, 3, a->key);
}

static int line_mac(const struct cat_auth_session *a, uint8_t dir, uint64_t seq,
		    const char *json, size_t len, uint8_t out[32])
{
	uint8_t be[8];
	const struct part parts[] = {
		{ &dir, 1 },
		{ be, sizeof(be) },
		{ json, len },
	};

	for (int i = 0; i < 8; i++)
		be[i] = (uint8_t)(seq >> (56 - 8 * i));
	return hmac(a->key, sizeof(a->key), parts, 3, out);
}

int cat_auth_tag(struct cat_auth_session *a, const char *json, size_t len,
		 char tag[CAT_AUTH_TAG_HEX + 1])
{
	uint8_t mac[32];
	int rc = line_mac(a, a->dir_tx, a->seq_tx, json, len, mac);

	if (rc < 0)
		return rc;
	a->seq_tx++;
	to_hex(mac, sizeof(mac), tag);
	return 0;
}

int cat_auth_check(struct cat_auth_session *a, const char *line, size_t len)
{
	uint8_t want[32], got[32];
	int rc;

	if (len < CAT_AUTH_LINE_OVERHEAD || line[CAT_AUTH_TAG_HEX] != ' ')
		return -EBADMSG;
	for (size_t i = 0; i < sizeof(got); i++) {
		int hi = nibble(line[2 * i]), lo = nibble(line[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -EBADMSG;
		got[i] = (uint8_t)(hi << 4 | lo);
	}
	rc = line_mac(a, a->dir_rx, a->seq_rx, line + CAT_AUTH_LINE_OVERHEAD,
		      len - CAT_AUTH_LINE_OVERHEAD, want);
	if (rc < 0)
		return rc;
	if (CRYPTO_memcmp(want, got, sizeof(want)) != 0)
		return -EBADMSG;
	a->seq_rx++;
	return 0;
}
