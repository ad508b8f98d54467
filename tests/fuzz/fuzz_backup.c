/*
 * Fuzz target for the backup file reader (control/backup_file.c): any
 * byte string is checked as a backup. The checker must never read past
 * the input, must accept only a complete file whose sections add up, and
 * what it calls good must be the file's own prefix: every record it hands
 * out lies in its section's slot at or below the section's cut. Built by
 * tests/fuzz/run_fuzz.sh backup (libFuzzer) and by meson
 * (fuzz-replay-backup). Aborts on any broken invariant.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/backup_file.h"
#include "replication/hash.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct seen {
	uint32_t slot_count, slot;
	uint64_t cut, keys, slots;
};

static void fail(const char *what)
{
	fprintf(stderr, "fuzz_backup: %s\n", what);
	abort();
}

static int on_begin(void *arg, uint32_t slot, uint64_t cut)
{
	struct seen *s = arg;

	if (slot >= s->slot_count)
		fail("a section past the slot count");
	s->slot = slot;
	s->cut = cut;
	return 0;
}

static int on_rec(void *arg, uint32_t slot, const struct cat_bk_rec *r)
{
	struct seen *s = arg;

	if (slot != s->slot || r->key_len == 0 || r->version > s->cut ||
	    (cat_hash_crc32c(r->key, r->key_len) & (s->slot_count - 1)) != slot)
		fail("a record outside its section's slot or cut");
	s->keys++;
	return 0;
}

static int on_end(void *arg, uint32_t slot, uint64_t cut, uint64_t keys)
{
	struct seen *s = arg;

	(void)keys;
	if (slot != s->slot || cut != s->cut)
		fail("a section ends as another");
	s->slots++;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct seen s = { 0 };
	struct cat_bk_visit v = { on_begin, on_rec, on_end, &s };
	struct cat_bk_summary sum;
	char why[1024];
	FILE *f;
	int rc;

	if (size >= 20)
		memcpy(&s.slot_count, data + 16, 4); /* what the header says */
	f = size > 0 ? fmemopen((void *)data, size, "r") : fopen("/dev/null", "r");
	if (f == NULL)
		return 0;
	rc = cat_bk_check(f, &v, &sum, why, sizeof(why));
	fclose(f);
	if (rc == 0 && (!sum.complete || sum.good_offset != size ||
			sum.slots != s.slots))
		fail("a good file that is not whole");
	if (rc < 0 && (sum.complete || why[0] == '\0'))
		fail("a refusal without a reason, or of a complete file");
	if (sum.good_offset > size || sum.slots > s.slots)
		fail("more called good than the input holds");
	return 0;
}
