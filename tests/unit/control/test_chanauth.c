/*
 * Unit tests for replication/chanauth.c: the node channel's cluster secret
 * and line tags. The fixed vectors were computed independently (Python's
 * hmac module) from the construction in docs/CONTROL.md, so the wire
 * format cannot drift from the documentation unnoticed.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/stat.h>

#include <cmocka.h>

#include "replication/chanauth.h"

static const char secret_text[] = "0123456789abcdef0123";

static void secret_of(struct cat_auth_secret *s, const char *text)
{
	memset(s, 0, sizeof(*s));
	s->len = strlen(text);
	memcpy(s->key, text, s->len);
}

static void nonces(uint8_t nc[CAT_AUTH_NONCE_LEN], uint8_t nn[CAT_AUTH_NONCE_LEN])
{
	for (unsigned int i = 0; i < CAT_AUTH_NONCE_LEN; i++) {
		nc[i] = (uint8_t)i;
		nn[i] = (uint8_t)(16 + i);
	}
}

/* Both ends of one connection. */
static void pair(struct cat_auth_session *ctl, struct cat_auth_session *node,
		 const char *ctl_secret, const char *node_secret)
{
	struct cat_auth_secret a, b;
	uint8_t nc[CAT_AUTH_NONCE_LEN], nn[CAT_AUTH_NONCE_LEN];

	nonces(nc, nn);
	secret_of(&a, ctl_secret);
	secret_of(&b, node_secret);
	assert_int_equal(cat_auth_session_init(ctl, &a, nc, nn, CAT_AUTH_CONTROL), 0);
	assert_int_equal(cat_auth_session_init(node, &b, nc, nn, CAT_AUTH_NODE), 0);
}

/* "<tag> <json>" as the sender puts it on the wire. */
static size_t seal(struct cat_auth_session *a, const char *json, char *line,
		   size_t cap)
{
	char tag[CAT_AUTH_TAG_HEX + 1];
	int n;

	assert_int_equal(cat_auth_tag(a, json, strlen(json), tag), 0);
	n = snprintf(line, cap, "%s %s", tag, json);
	assert_true(n > 0 && (size_t)n < cap);
	return (size_t)n;
}

static void test_fixed_vectors(void **state)
{
	struct cat_auth_session ctl, node;
	const char *hello = "{\"type\":\"hello\",\"node\":1,\"epoch\":0}";
	char tag[CAT_AUTH_TAG_HEX + 1];

	(void)state;
	pair(&ctl, &node, secret_text, secret_text);
	assert_int_equal(cat_auth_tag(&node, hello, strlen(hello), tag), 0);
	assert_string_equal(tag,
		"abcb9ba30c9ab4171c5cfddc058687615ade45d50ce9c3065a866c342548fc28");
	/* catena-control's second line: direction 'C', sequence 1. */
	assert_int_equal(cat_auth_tag(&ctl, "x", 1, tag), 0);
	assert_int_equal(cat_auth_tag(&ctl, "{\"type\":\"map\"}", 14, tag), 0);
	assert_string_equal(tag,
		"350bc25e5ac02bdeaeee0baa043552d8c4a6fecefbbce4a5ccdf22fd1a9bcbaa");
}

static void test_round_trip_both_ways(void **state)
{
	struct cat_auth_session ctl, node;
	char line[256];
	size_t n;

	(void)state;
	pair(&ctl, &node, secret_text, secret_text);
	for (int i = 0; i < 5; i++) {
		n = seal(&node, "{\"type\":\"heartbeat\"}", line, sizeof(line));
		assert_int_equal(cat_auth_check(&ctl, line, n), 0);
		n = seal(&ctl, "{\"type\":\"map\",\"epoch\":3}", line, sizeof(line));
		assert_int_equal(cat_auth_check(&node, line, n), 0);
	}
	assert_int_equal(ctl.seq_rx, 5);
	assert_int_equal(node.seq_rx, 5);
	/* An empty JSON part is still a line with a tag. */
	n = seal(&node, "", line, sizeof(line));
	assert_int_equal(n, CAT_AUTH_LINE_OVERHEAD);
	assert_int_equal(cat_auth_check(&ctl, line, n), 0);
}

static void test_every_altered_byte_is_refused(void **state)
{
	struct cat_auth_session ctl, node;
	char line[256];
	size_t n;

	(void)state;
	pair(&ctl, &node, secret_text, secret_text);
	n = seal(&node, "{\"type\":\"map_applied\",\"node\":2,\"epoch\":9}", line,
		 sizeof(line));
	for (size_t i = 0; i < n; i++) {
		struct cat_auth_session c = ctl;
		char bad[256];

		memcpy(bad, line, n);
		bad[i] ^= 0x01;
		assert_int_equal(cat_auth_check(&c, bad, n), -EBADMSG);
		assert_int_equal(c.seq_rx, 0);
	}
	/* Cut short, or with a byte more: refused too. */
	{
		struct cat_auth_session c = ctl;

		assert_int_equal(cat_auth_check(&c, line, n - 1), -EBADMSG);
		line[n] = ' ';
		assert_int_equal(cat_auth_check(&c, line, n + 1), -EBADMSG);
	}
	assert_int_equal(cat_auth_check(&ctl, line, n), 0);
}

static void test_replay_reorder_reflect_refused(void **state)
{
	struct cat_auth_session ctl, node;
	char l1[256], l2[256];
	size_t n1, n2;

	(void)state;
	pair(&ctl, &node, secret_text, secret_text);
	n1 = seal(&node, "{\"type\":\"heartbeat\",\"n\":1}", l1, sizeof(l1));
	n2 = seal(&node, "{\"type\":\"heartbeat\",\"n\":2}", l2, sizeof(l2));
	{
		struct cat_auth_session c = ctl;

		/* Reordered: the second line first. */
		assert_int_equal(cat_auth_check(&c, l2, n2), -EBADMSG);
	}
	assert_int_equal(cat_auth_check(&ctl, l1, n1), 0);
	/* Replayed. */
	assert_int_equal(cat_auth_check(&ctl, l1, n1), -EBADMSG);
	assert_int_equal(cat_auth_check(&ctl, l2, n2), 0);
	/* Reflected: a node line sent back to the node as if from control. */
	{
		struct cat_auth_session fresh_ctl, fresh_node;
		char l[256];
		size_t n;

		pair(&fresh_ctl, &fresh_node, secret_text, secret_text);
		n = seal(&fresh_node, "{\"type\":\"map\"}", l, sizeof(l));
		assert_int_equal(cat_auth_check(&fresh_node, l, n), -EBADMSG);
	}
}

static void test_wrong_secret_or_nonce_refused(void **state)
{
	struct cat_auth_session ctl, node;
	struct cat_auth_secret s;
	uint8_t nc[CAT_AUTH_NONCE_LEN], nn[CAT_AUTH_NONCE_LEN];
	char line[256];
	size_t n;

	(void)state;
	pair(&ctl, &node, secret_text, "0123456789abcdef0124");
	n = seal(&node, "{\"type\":\"hello\"}", line, sizeof(line));
	assert_int_equal(cat_auth_check(&ctl, line, n), -EBADMSG);

	/* Same secret, a line recorded on another connection (other nonce). */
	pair(&ctl, &node, secret_text, secret_text);
	nonces(nc, nn);
	nn[0] ^= 1;
	secret_of(&s, secret_text);
	assert_int_equal(cat_auth_session_init(&node, &s, nc, nn, CAT_AUTH_NODE), 0);
	n = seal(&node, "{\"type\":\"hello\"}", line, sizeof(line));
	assert_int_equal(cat_auth_check(&ctl, line, n), -EBADMSG);
}

static void test_malformed_lines_refused(void **state)
{
	struct cat_auth_session ctl, node;
	char line[256];

	(void)state;
	pair(&ctl, &node, secret_text, secret_text);
	assert_int_equal(cat_auth_check(&ctl, "", 0), -EBADMSG);
	assert_int_equal(cat_auth_check(&ctl, "{\"type\":\"hello\"}", 16), -EBADMSG);
	memset(line, 'g', CAT_AUTH_TAG_HEX); /* not hex */
	line[CAT_AUTH_TAG_HEX] = ' ';
	strcpy(line + CAT_AUTH_LINE_OVERHEAD, "{}");
	assert_int_equal(cat_auth_check(&ctl, line, strlen(line)), -EBADMSG);
	memset(line, 'a', CAT_AUTH_TAG_HEX);
	line[CAT_AUTH_TAG_HEX] = '{'; /* no separator */
	assert_int_equal(cat_auth_check(&ctl, line, strlen(line)), -EBADMSG);
	assert_int_equal(ctl.seq_rx, 0);
}

static void test_nonce_hex(void **state)
{
	uint8_t a[CAT_AUTH_NONCE_LEN], b[CAT_AUTH_NONCE_LEN];
	char hex[2 * CAT_AUTH_NONCE_LEN + 1];

	(void)state;
	assert_int_equal(cat_auth_nonce(a), 0);
	assert_int_equal(cat_auth_nonce(b), 0);
	assert_memory_not_equal(a, b, sizeof(a));
	cat_auth_nonce_hex(a, hex);
	assert_int_equal(strlen(hex), 32);
	memset(b, 0, sizeof(b));
	assert_int_equal(cat_auth_nonce_parse(hex, strlen(hex), b), 0);
	assert_memory_equal(a, b, sizeof(a));
	assert_int_equal(cat_auth_nonce_parse(hex, 31, b), -EINVAL);
	hex[5] = 'x';
	assert_int_equal(cat_auth_nonce_parse(hex, 32, b), -EINVAL);
	assert_int_equal(cat_auth_nonce_parse(NULL, 32, b), -EINVAL);
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	assert_int_equal(chmod(path, mode), 0);
}

static void test_secret_file(void **state)
{
	char dir[] = "/tmp/cat-auth-XXXXXX", path[64], err[256];
	struct cat_auth_secret s;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/secret", dir);

	write_file(path, "0123456789abcdef0123\n", 0600);
	assert_int_equal(cat_auth_secret_load(path, &s, err, sizeof(err)), 0);
	assert_int_equal(s.len, 20); /* the newline is not part of it */
	assert_memory_equal(s.key, "0123456789abcdef0123", 20);

	write_file(path, "0123456789abcdef0123\n", 0644);
	assert_int_equal(cat_auth_secret_load(path, &s, err, sizeof(err)), -EPERM);
	assert_non_null(strstr(err, "chmod 600"));
	assert_int_equal(s.len, 0);

	write_file(path, "0123456789abcdef0123\n", 0620);
	assert_int_equal(cat_auth_secret_load(path, &s, err, sizeof(err)), -EPERM);

	write_file(path, "short\n", 0600);
	assert_int_equal(cat_auth_secret_load(path, &s, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "at least 16"));

	{
		char big[CAT_AUTH_SECRET_MAX + 2];

		memset(big, 'k', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		write_file(path, big, 0600);
		assert_int_equal(cat_auth_secret_load(path, &s, err, sizeof(err)),
				 -EINVAL);
		assert_non_null(strstr(err, "longer than"));
	}
	unlink(path);
	assert_int_equal(cat_auth_secret_load(path, &s, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, path));
	assert_int_equal(cat_auth_secret_load(dir, &s, err, sizeof(err)), -EINVAL);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fixed_vectors),
		cmocka_unit_test(test_round_trip_both_ways),
		cmocka_unit_test(test_every_altered_byte_is_refused),
		cmocka_unit_test(test_replay_reorder_reflect_refused),
		cmocka_unit_test(test_wrong_secret_or_nonce_refused),
		cmocka_unit_test(test_malformed_lines_refused),
		cmocka_unit_test(test_nonce_hex),
		cmocka_unit_test(test_secret_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
