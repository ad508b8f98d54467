/*
 * Fuzz target for the link trailer (replication/linkauth.c): any byte
 * string is taken as a UDP payload whose trailer is parsed and, if it
 * parses, checked against a fixed key, as a worker does with a datagram
 * from the wire; the same bytes are offered as a link key delivery; and
 * its counters drive one replay window. A parsed trailer must lie inside
 * the input, a window must never take a counter twice, and nothing but a
 * datagram sealed with the key may verify. Built by tests/fuzz/run_fuzz.sh
 * linkauth (libFuzzer) and by meson (fuzz-replay-linkauth).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "replication/linkauth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what)
{
	fprintf(stderr, "fuzz_linkauth: %s\n", what);
	abort();
}

static const uint8_t key[CAT_LINKAUTH_KEY_LEN] = { 'f', 'u', 'z', 'z' };
static const uint8_t secret[] = "fuzzing secret, sixteen bytes at least";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	struct cat_linkauth_trailer t;
	struct cat_linkauth_window w = { 0, 0 };
	struct cat_linkauth_link links[CAT_LINKAUTH_PEERS_MAX];
	unsigned int n = 0;
	uint8_t *buf;
	int rc;

	if (!ready) {
		if (cat_linkauth_init() != 0)
			fail("libsodium init");
		ready = 1;
	}
	if (size > 65535)
		return 0;
	buf = malloc(CAT_LINKAUTH_PSEUDO_LEN + size + CAT_LINKAUTH_TRAILER_LEN);
	if (buf == NULL)
		return 0;
	cat_linkauth_pseudo(buf, 0x0100000a, 0x0200000a, 0x2e1d, 0x2e1d,
			    (uint16_t)(8 + size));
	memcpy(buf + CAT_LINKAUTH_PSEUDO_LEN, data, size);

	rc = cat_linkauth_parse(buf + CAT_LINKAUTH_PSEUDO_LEN, size, &t);
	if (rc != 0 && rc != -ENOENT && rc != -EPROTO)
		fail("parse: unexpected error");
	if (rc == 0) {
		if (size < CAT_LINKAUTH_TRAILER_LEN ||
		    t.tag != buf + CAT_LINKAUTH_PSEUDO_LEN + size - CAT_LINKAUTH_TAG_LEN)
			fail("parse: trailer outside the payload");
		/* A random tag verifies with odds of 2^-128: never, here. The
		 * same bytes sealed with the key always do. */
		if (cat_linkauth_verify(key, buf, size) == 0)
			fail("verify: an unsealed payload verified");
		cat_linkauth_seal(key, buf, size, t.worker, t.epoch, t.counter);
		if (cat_linkauth_verify(key, buf, size) != 0)
			fail("verify: a sealed payload failed");
	}

	/* The input's 8-byte groups as the counters of one sender. */
	for (size_t i = 0; i + 8 <= size && i < 8 * 256; i += 8) {
		uint64_t c;

		memcpy(&c, data + i, 8);
		if (cat_linkauth_window_check(&w, c) == 0) {
			cat_linkauth_window_take(&w, c);
			if (cat_linkauth_window_check(&w, c) == 0)
				fail("window: took a counter twice");
		}
	}

	/* As a delivery blob: never opens (no seal under this secret made
	 * it, bar a forged Poly1305 tag). */
	rc = cat_linkauth_keys_open(secret, sizeof(secret) - 1, 1, 1, data, size,
				    links, &n);
	if (rc == 0)
		fail("keys_open: opened bytes nobody sealed");
	if (rc != -EBADMSG && rc != -EINVAL && rc != -EIO)
		fail("keys_open: unexpected error");
	free(buf);
	return 0;
}
