/*
 * Unit tests for the backup file (control/backup_file.c): what the writer
 * writes the checker reads back, key for key; a file cut at any length
 * or with any one byte changed is refused with the block named and what
 * before it is good; a foreign or newer file is told apart.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "control/backup_file.h"
#include "replication/hash.h"

#define SLOTS 8u
#define PER_SLOT 300u  /* enough for several records blocks a slot */

/* A key of slot s: "k<s>-<i>-<n>" with n counted up until it hashes there. */
static int key_of(uint32_t s, unsigned int i, char *buf, size_t cap)
{
	for (unsigned int n = 0;; n++) {
		int len = snprintf(buf, cap, "k%u-%u-%u", s, i, n);

		if ((cat_hash_crc32c(buf, (size_t)len) & (SLOTS - 1)) == s)
			return len;
	}
}

/* A good file in memory: slots 0..SLOTS-1 except 3 (an empty slot is
 * left out, as a backup leaves slots that never saw a write). */
static char *make_file(size_t *len, uint64_t *keys)
{
	struct cat_bk_header h = { .format = CAT_BK_FORMAT, .slot_count = SLOTS,
				   .epoch = 7, .created = 1700000000 };
	struct cat_bk_writer w;
	char *buf = NULL, key[64], val[600];
	FILE *f = open_memstream(&buf, len);

	assert_non_null(f);
	*keys = 0;
	assert_int_equal(cat_bk_writer_begin(&w, f, &h), 0);
	assert_int_equal(cat_bk_writer_add(&w, &(struct cat_bk_rec){
		.key = (const uint8_t *)"x", .key_len = 1, .version = 1 }), -EINVAL);
	for (uint32_t s = 0; s < SLOTS; s++) {
		if (s == 3)
			continue;
		assert_int_equal(cat_bk_writer_slot_begin(&w, s, 1000 + s), 0);
		for (unsigned int i = 0; i < PER_SLOT; i++) {
			struct cat_bk_rec r;

			r.key_len = (uint16_t)key_of(s, i, key, sizeof(key));
			memset(val, 'a' + (int)(i % 26), sizeof(val));
			r.key = (const uint8_t *)key;
			r.value = (const uint8_t *)val;
			r.value_len = i % 600;
			r.version = 1 + i;
			assert_int_equal(cat_bk_writer_add(&w, &r), 0);
			(*keys)++;
		}
		assert_int_equal(cat_bk_writer_slot_end(&w), 0);
	}
	assert_int_equal(cat_bk_writer_finish(&w), 0);
	cat_bk_writer_free(&w);
	fclose(f);
	return buf;
}

struct seen {
	uint64_t keys, sum_versions;
	uint32_t slots_begun, slots_ended;
};

static int on_begin(void *arg, uint32_t slot, uint64_t cut)
{
	struct seen *s = arg;

	assert_int_equal(cut, 1000 + slot);
	s->slots_begun++;
	return 0;
}

static int on_rec(void *arg, uint32_t slot, const struct cat_bk_rec *r)
{
	struct seen *s = arg;
	char key[64];
	int len = key_of(slot, (unsigned int)(r->version - 1), key, sizeof(key));

	assert_int_equal(r->key_len, len);
	assert_memory_equal(r->key, key, (size_t)len);
	assert_int_equal(r->value_len, (r->version - 1) % 600);
	s->keys++;
	s->sum_versions += r->version;
	return 0;
}

static int on_end(void *arg, uint32_t slot, uint64_t cut, uint64_t keys)
{
	struct seen *s = arg;

	(void)slot;
	(void)cut;
	assert_int_equal(keys, PER_SLOT);
	s->slots_ended++;
	return 0;
}

static int check_buf(const char *buf, size_t len, const struct cat_bk_visit *v,
		     struct cat_bk_summary *s, char *why, size_t whylen)
{
	FILE *f = fmemopen((void *)buf, len, "r");
	int rc;

	if (len == 0) /* fmemopen wants a size: an empty file is read as such */
		f = fopen("/dev/null", "r");
	assert_non_null(f);
	rc = cat_bk_check(f, v, s, why, whylen);
	fclose(f);
	return rc;
}

static void test_what_is_written_reads_back(void **state)
{
	size_t len;
	uint64_t keys;
	char *buf = make_file(&len, &keys), why[512];
	struct seen seen = { 0 };
	struct cat_bk_visit v = { on_begin, on_rec, on_end, &seen };
	struct cat_bk_summary s;

	(void)state;
	assert_int_equal(check_buf(buf, len, &v, &s, why, sizeof(why)), 0);
	assert_true(s.complete);
	assert_int_equal(s.h.slot_count, SLOTS);
	assert_int_equal(s.h.epoch, 7);
	assert_int_equal(s.h.created, 1700000000);
	assert_int_equal(s.slots, SLOTS - 1);
	assert_int_equal(s.keys, keys);
	assert_int_equal(seen.keys, keys);
	assert_int_equal(seen.slots_begun, SLOTS - 1);
	assert_int_equal(seen.slots_ended, SLOTS - 1);
	assert_int_equal(seen.sum_versions,
			 (uint64_t)(SLOTS - 1) * PER_SLOT * (PER_SLOT + 1) / 2);
	assert_int_equal(s.good_offset, len);
	/* Several records blocks per slot: 300 values of up to 600 bytes. */
	assert_true(s.blocks > 3 * (SLOTS - 1));
	free(buf);
}

static void test_every_truncation_is_refused_and_says_what_is_good(void **state)
{
	size_t len;
	uint64_t keys;
	char *buf = make_file(&len, &keys), why[512];
	struct cat_bk_summary s, prev = { 0 };

	(void)state;
	/* Every cut: a few hundred lengths spread over the file, and every
	 * length in its first and last blocks. */
	for (size_t cut = 0; cut < len; cut += (cut < 200 || cut > len - 200) ? 1 : 97) {
		int rc = check_buf(buf, cut, NULL, &s, why, sizeof(why));

		assert_true(rc < 0);
		assert_false(s.complete);
		assert_true(s.good_offset <= cut);
		assert_true(s.slots <= SLOTS - 1);
		/* A longer prefix never holds less that is good. */
		assert_true(s.slots >= prev.slots);
		prev = s;
		if (cut >= CAT_BK_HEADER_LEN)
			assert_non_null(strstr(why, "block "));
		if (cut > 1000 && cut < len - 100)
			assert_non_null(strstr(why, "truncated"));
	}
	free(buf);
}

static void test_one_damaged_byte_names_its_block(void **state)
{
	size_t len;
	uint64_t keys;
	char *buf = make_file(&len, &keys), why[512];
	struct cat_bk_summary s, good;
	/* The middle of the file: inside some slot's records. */
	size_t at = len / 2;

	(void)state;
	assert_int_equal(check_buf(buf, len, NULL, &good, why, sizeof(why)), 0);
	buf[at] ^= 0x40;
	assert_true(check_buf(buf, len, NULL, &s, why, sizeof(why)) < 0);
	assert_non_null(strstr(why, "CRC-32C mismatch"));
	assert_non_null(strstr(why, "block "));
	assert_non_null(strstr(why, "slots complete"));
	assert_true(s.slots > 0 && s.slots < good.slots);
	assert_true(s.good_offset <= at);
	buf[at] ^= 0x40;

	/* Bytes all over the file, one at a time: never accepted, never a
	 * crash (the fuzz target tries the rest). */
	for (size_t i = 0; i < len; i += len / 400 + 1) {
		buf[i] ^= 0x01;
		assert_true(check_buf(buf, len, NULL, &s, why, sizeof(why)) < 0);
		assert_false(s.complete);
		buf[i] ^= 0x01;
	}
	free(buf);
}

static void test_foreign_and_newer_files_are_told_apart(void **state)
{
	size_t len;
	uint64_t keys;
	char *buf = make_file(&len, &keys), why[512];
	struct cat_bk_summary s;

	(void)state;
	assert_int_equal(check_buf("hello world, not a backup at all, no no no no no no",
				   50, NULL, &s, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "not a catena backup"));
	buf[8] = 2; /* format 2 */
	assert_int_equal(check_buf(buf, len, NULL, &s, why, sizeof(why)),
			 -EPROTONOSUPPORT);
	assert_non_null(strstr(why, "format 2"));
	buf[8] = 1;
	/* Bytes after the trailer. */
	buf = realloc(buf, len + 1);
	buf[len] = 0;
	assert_int_equal(check_buf(buf, len + 1, NULL, &s, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "after the trailer"));
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_what_is_written_reads_back),
		cmocka_unit_test(test_every_truncation_is_refused_and_says_what_is_good),
		cmocka_unit_test(test_one_damaged_byte_names_its_block),
		cmocka_unit_test(test_foreign_and_newer_files_are_told_apart),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
