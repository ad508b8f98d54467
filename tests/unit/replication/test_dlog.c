/*
 * Unit tests for the on-disk log (replication/dlog.c): records round-trip
 * and refuse damage; a log replays in order; a record cut short by a
 * crash is dropped and the log goes on after it; a corrupt record stops
 * the replay there, keeps the rest aside and loses nothing before it; a
 * log of another node is refused.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "replication/dlog.h"

struct seen {
	int n;
	struct { uint8_t type; uint16_t slot; uint64_t version; char key[32]; char val[64]; } r[64];
};

static int collect(const struct cat_dlog_rec *r, void *arg)
{
	struct seen *s = arg;

	if (s->n == 64)
		return -E2BIG;
	s->r[s->n].type = r->type;
	s->r[s->n].slot = r->slot;
	s->r[s->n].version = r->version;
	snprintf(s->r[s->n].key, sizeof(s->r[0].key), "%.*s", r->klen, r->key);
	snprintf(s->r[s->n].val, sizeof(s->r[0].val), "%.*s", (int)r->vlen, r->value);
	s->n++;
	return 0;
}

static char *tmpdir(void)
{
	char *d = strdup("/tmp/catena-dlog-XXXXXX");

	assert_non_null(mkdtemp(d));
	return d;
}

static void rmdir_all(const char *d)
{
	char cmd[600];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d);
	assert_int_equal(system(cmd), 0);
}

static size_t enc_put(uint8_t *buf, size_t cap, uint16_t slot, uint64_t v,
		      const char *k, const char *val)
{
	struct cat_dlog_rec r = { .type = CAT_DLOG_PUT, .slot = slot, .version = v,
				  .key = (const uint8_t *)k, .klen = (uint16_t)strlen(k),
				  .value = (const uint8_t *)val, .vlen = (uint32_t)strlen(val) };
	ssize_t n = cat_dlog_encode(buf, cap, &r);

	assert_true(n > 0);
	return (size_t)n;
}

static void test_record_round_trip_and_damage(void **state)
{
	uint8_t buf[256];
	struct cat_dlog_rec r, d = { .type = CAT_DLOG_DEL, .slot = 7, .version = 9,
				     .key = (const uint8_t *)"gone", .klen = 4 };
	size_t n = enc_put(buf, sizeof(buf), 3, 42, "key", "value"), used;

	(void)state;
	assert_int_equal(n, cat_dlog_rec_size(3, 5));
	assert_int_equal(cat_dlog_decode(buf, n, &r, &used), 0);
	assert_int_equal(used, n);
	assert_int_equal(r.type, CAT_DLOG_PUT);
	assert_int_equal(r.slot, 3);
	assert_int_equal(r.version, 42);
	assert_memory_equal(r.key, "key", 3);
	assert_memory_equal(r.value, "value", 5);
	/* Cut short anywhere: "more bytes needed", never a record. */
	for (size_t cut = 0; cut < n; cut++)
		assert_int_equal(cat_dlog_decode(buf, cut, &r, &used), -EAGAIN);
	/* Any flipped byte is corruption. */
	for (size_t i = 0; i < n; i++) {
		buf[i] ^= 0x20;
		assert_int_not_equal(cat_dlog_decode(buf, n, &r, &used), 0);
		buf[i] ^= 0x20;
	}
	assert_int_equal(cat_dlog_decode(buf, n, &r, &used), 0);
	/* Bad records are refused on the way in. */
	assert_int_equal(cat_dlog_encode(buf, 10, &d), -ENOSPC);
	d.vlen = 1;
	d.value = (const uint8_t *)"x";
	assert_int_equal(cat_dlog_encode(buf, sizeof(buf), &d), -EINVAL);
	d.vlen = 0;
	d.type = 9;
	assert_int_equal(cat_dlog_encode(buf, sizeof(buf), &d), -EINVAL);
	d.type = CAT_DLOG_DEL;
	assert_true(cat_dlog_encode(buf, sizeof(buf), &d) > 0);
	assert_int_equal(cat_dlog_decode(buf, sizeof(buf), &r, &used), 0);
	assert_int_equal(r.type, CAT_DLOG_DEL);
	assert_int_equal(r.klen, 4);
	assert_int_equal(r.vlen, 0);
}

/* Write n records k0..k(n-1) in one group per record. */
static void write_log(const char *dir, uint32_t node, int from, int n)
{
	struct cat_dlog *l;
	char err[256] = "", k[16], v[16];
	uint8_t buf[128];

	assert_int_equal(cat_dlog_open(&l, dir, node, err, sizeof(err)), 0);
	for (int i = from; i < from + n; i++) {
		snprintf(k, sizeof(k), "k%d", i);
		snprintf(v, sizeof(v), "v%d", i);
		size_t len = enc_put(buf, sizeof(buf), (uint16_t)(i % 4), (uint64_t)i + 1, k, v);

		assert_int_equal(cat_dlog_append(l, buf, len), 0);
	}
	assert_int_equal(cat_dlog_sync(l), 0);
	assert_true(cat_dlog_bytes(l) > 0);
	cat_dlog_close(l);
}

static void test_replay_in_order_across_restarts(void **state)
{
	char *dir = tmpdir(), err[256] = "";
	struct cat_dlog_replay st;
	struct seen s = { 0 };

	(void)state;
	/* An empty (absent) log replays nothing. */
	assert_int_equal(cat_dlog_replay("/nonexistent/catena-log", 1, collect, &s, &st,
					 err, sizeof(err)), 0);
	assert_int_equal(st.records, 0);
	write_log(dir, 1, 0, 5);
	write_log(dir, 1, 5, 5);   /* a restart: a new segment */
	assert_int_equal(cat_dlog_replay(dir, 1, collect, &s, &st, err, sizeof(err)), 0);
	assert_int_equal(st.records, 10);
	assert_int_equal(st.segments, 2);
	assert_false(st.torn || st.corrupt);
	assert_int_equal(s.n, 10);
	for (int i = 0; i < 10; i++) {
		char k[16];

		snprintf(k, sizeof(k), "k%d", i);
		assert_string_equal(s.r[i].key, k);
		assert_int_equal(s.r[i].version, (uint64_t)i + 1);
		assert_int_equal(s.r[i].slot, i % 4);
	}
	rmdir_all(dir);
	free(dir);
}

/* The newest segment of dir. */
static void newest(const char *dir, char *path, size_t len)
{
	char cmd[700];
	FILE *p;

	snprintf(cmd, sizeof(cmd), "ls %s/seg-*.clog | tail -1", dir);
	p = popen(cmd, "r");
	assert_non_null(p);
	assert_non_null(fgets(path, (int)len, p));
	path[strcspn(path, "\n")] = '\0';
	pclose(p);
}

static void test_torn_tail_is_dropped_and_the_log_goes_on(void **state)
{
	char *dir = tmpdir(), err[256] = "", seg[600];
	struct cat_dlog_replay st;
	struct seen s = { 0 };
	uint8_t buf[128];
	size_t len = enc_put(buf, sizeof(buf), 1, 100, "torn", "half-written");
	struct stat sb;
	FILE *f;

	(void)state;
	write_log(dir, 2, 0, 3);
	newest(dir, seg, sizeof(seg));
	f = fopen(seg, "ab");
	assert_non_null(f);
	assert_int_equal(fwrite(buf, 1, len - 5, f), len - 5); /* the crash */
	fclose(f);
	assert_int_equal(cat_dlog_replay(dir, 2, collect, &s, &st, err, sizeof(err)), 0);
	assert_int_equal(st.records, 3);
	assert_true(st.torn);
	assert_false(st.corrupt);
	assert_int_equal(st.lost_bytes, len - 5);
	assert_non_null(strstr(st.note, "cut short"));
	assert_int_equal(stat(seg, &sb), 0);
	assert_int_equal(sb.st_size, 32 + 3 * cat_dlog_rec_size(2, 2));
	/* The node goes on writing; the next replay sees all of it. */
	write_log(dir, 2, 3, 2);
	s.n = 0;
	assert_int_equal(cat_dlog_replay(dir, 2, collect, &s, &st, err, sizeof(err)), 0);
	assert_int_equal(st.records, 5);
	assert_false(st.torn || st.corrupt);
	assert_string_equal(s.r[4].key, "k4");
	rmdir_all(dir);
	free(dir);
}

static void test_corrupt_record_stops_replay_and_keeps_the_rest(void **state)
{
	char *dir = tmpdir(), err[256] = "", seg[600], aside[640];
	struct cat_dlog_replay st;
	struct seen s = { 0 };
	struct stat sb;
	FILE *f;

	(void)state;
	write_log(dir, 3, 0, 4);
	write_log(dir, 3, 4, 2);     /* a later segment, also not applied */
	/* Flip a byte inside the second record of the first segment. */
	snprintf(seg, sizeof(seg), "%s/seg-0000000000000001.clog", dir);
	f = fopen(seg, "r+b");
	assert_non_null(f);
	assert_int_equal(fseek(f, 32 + (long)cat_dlog_rec_size(2, 2) + 30, SEEK_SET), 0);
	fputc('X', f);
	fclose(f);
	assert_int_equal(cat_dlog_replay(dir, 3, collect, &s, &st, err, sizeof(err)), 0);
	assert_true(st.corrupt);
	assert_int_equal(st.records, 1);     /* everything before it */
	assert_int_equal(s.n, 1);
	assert_string_equal(s.r[0].key, "k0");
	assert_non_null(strstr(st.note, "corrupt record at offset"));
	snprintf(aside, sizeof(aside), "%s.corrupt", seg);
	assert_int_equal(stat(aside, &sb), 0);
	assert_int_equal(sb.st_size, 3 * cat_dlog_rec_size(2, 2));
	snprintf(aside, sizeof(aside), "%s/seg-0000000000000002.clog.corrupt", dir);
	assert_int_equal(stat(aside, &sb), 0);   /* kept, not deleted */
	/* A second replay applies the same prefix and nothing else. */
	s.n = 0;
	assert_int_equal(cat_dlog_replay(dir, 3, collect, &s, &st, err, sizeof(err)), 0);
	assert_int_equal(st.records, 1);
	assert_false(st.corrupt);
	rmdir_all(dir);
	free(dir);
}

static void test_log_of_another_node_is_refused(void **state)
{
	char *dir = tmpdir(), err[256] = "";
	struct cat_dlog_replay st;
	struct seen s = { 0 };
	FILE *f;
	char seg[600];

	(void)state;
	write_log(dir, 4, 0, 1);
	assert_int_equal(cat_dlog_replay(dir, 5, collect, &s, &st, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "the log of node 4, not of node 5"));
	/* Not a log at all. */
	snprintf(seg, sizeof(seg), "%s/seg-0000000000000009.clog", dir);
	f = fopen(seg, "wb");
	assert_non_null(f);
	fputs("this is not a catena log segment, but long enough", f);
	fclose(f);
	err[0] = '\0';
	assert_int_equal(cat_dlog_replay(dir, 4, collect, &s, &st, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "not a catena log segment"));
	rmdir_all(dir);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_record_round_trip_and_damage),
		cmocka_unit_test(test_replay_in_order_across_restarts),
		cmocka_unit_test(test_torn_tail_is_dropped_and_the_log_goes_on),
		cmocka_unit_test(test_corrupt_record_stops_replay_and_keeps_the_rest),
		cmocka_unit_test(test_log_of_another_node_is_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
