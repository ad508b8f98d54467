/*
 * Unit tests for the durable log's snapshots (replication/dsnap.c,
 * dsnap_walk.c): a snapshot taken while writes go on, plus the segments
 * from its S on, replays to the same store (digest and slot version of
 * every slot) as the whole log; so does every state a crash can leave the
 * files in (the .partial, the snapshot renamed, some or all older
 * segments deleted); a damaged snapshot is set aside and an older one (or
 * the whole log) used when its segments are still there, else recovery
 * refuses with a reason; a snapshot of another node is refused; the log
 * after a snapshot keeps its torn-tail handling.
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
#include "replication/dlog_apply.h"
#include "replication/dsnap.h"
#include "replication/dsnap_walk.h"
#include "replication/store.h"

#define SLOTS 8u
#define NODE  5u

/* The node under test: its store and its log, written the way the chain
 * engine and the log writer do (apply, then log the record). */
struct node {
	struct cat_store *s;
	struct cat_dlog *log;
	char dir[64];
	uint64_t rng;
	int fuzz;	/* writes between two slots of a snapshot's walk */
};

static uint32_t rnd(struct node *n)
{
	n->rng = n->rng * 6364136223846793005ull + 1442695040888963407ull;
	return (uint32_t)(n->rng >> 33);
}

static void logrec(struct node *n, const struct cat_dlog_rec *r)
{
	uint8_t buf[512];
	ssize_t len = cat_dlog_encode(buf, sizeof(buf), r);

	assert_true(len > 0);
	assert_int_equal(cat_dlog_append(n->log, buf, (size_t)len), 0);
}

/* One write as a replica applies it: put, delete, no-op, now and then a
 * slot emptied (it left the node and came back). */
static void one_write(struct node *n)
{
	char key[16], val[32];
	struct cat_key k;
	struct cat_dlog_rec r = { 0 };
	uint32_t op = rnd(n) % 100;
	uint64_t v;

	snprintf(key, sizeof(key), "k%u", rnd(n) % 200);
	cat_store_key(n->s, &k, key, (uint16_t)strlen(key));
	r.slot = (uint16_t)k.slot;
	if (op < 2) {
		cat_store_slot_clear(n->s, k.slot);
		cat_store_slot_set_version(n->s, k.slot, 0);
		r.type = CAT_DLOG_CLEAR;
		logrec(n, &r);
		return;
	}
	v = cat_store_slot_version(n->s, k.slot) + 1;
	r.version = v;
	if (op < 70) {
		snprintf(val, sizeof(val), "v%u-%llu", rnd(n), (unsigned long long)v);
		assert_int_equal(cat_store_apply_put(n->s, &k, v, val, (uint32_t)strlen(val)), 0);
		cat_store_commit(n->s, &k, v);
		r.type = CAT_DLOG_PUT;
		r.key = (const uint8_t *)key;
		r.klen = k.len;
		r.value = (const uint8_t *)val;
		r.vlen = (uint32_t)strlen(val);
	} else if (op < 90) {
		assert_int_equal(cat_store_apply_del(n->s, &k, v), 0);
		cat_store_commit(n->s, &k, v);
		r.type = CAT_DLOG_DEL;
		r.key = (const uint8_t *)key;
		r.klen = k.len;
	} else {
		assert_int_equal(cat_store_apply_noop(n->s, k.slot, v), 0);
		r.type = CAT_DLOG_NOOP;
	}
	logrec(n, &r);
}

static void node_init(struct node *n, uint64_t seed)
{
	const struct cat_store_params sp = { .slot_count = SLOTS };
	char err[256];

	memset(n, 0, sizeof(*n));
	n->rng = seed;
	n->fuzz = 40;
	snprintf(n->dir, sizeof(n->dir), "/tmp/catena-dsnap-XXXXXX");
	assert_non_null(mkdtemp(n->dir));
	n->s = cat_store_create(&sp);
	assert_non_null(n->s);
	assert_int_equal(cat_dlog_open(&n->log, n->dir, NODE, err, sizeof(err)), 0);
}

static void node_fini(struct node *n)
{
	char cmd[128];

	cat_dlog_close(n->log);
	rcu_thread_offline();
	cat_store_destroy(n->s);
	rcu_thread_online();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", n->dir);
	assert_int_equal(system(cmd), 0);
}

/* Kill points of a snapshot, in the order the snapshot thread passes them. */
enum kill { K_NONE, K_PARTIAL, K_RENAMED, K_SOME_DELETED };

/*
 * A snapshot as durable.c takes it: rotate to S, walk the slots with
 * writes going on between them (logged to S on), commit, then (unless
 * killed before) delete the segments before drop_before. Returns S.
 */
static uint64_t snapshot(struct node *n, enum kill kill, uint64_t drop_before)
{
	struct cat_dsnap_writer *w;
	struct cat_dsnap_buf b = { 0 };
	uint64_t seq, segs, bytes;
	char err[768];

	assert_int_equal(cat_dlog_rotate(n->log, &seq), 0);
	assert_int_equal(cat_dsnap_begin(&w, n->dir, NODE, seq, SLOTS, err, sizeof(err)), 0);
	for (uint32_t slot = 0; slot < SLOTS; slot++) {
		b.len = 0;
		b.records = 0;
		assert_int_equal(cat_dsnap_walk_slot(n->s, slot, &b), 0);
		rcu_quiescent_state();
		assert_int_equal(cat_dsnap_write(w, b.p, b.len, b.records), 0);
		/* The fuzzy part: the store moves on while the walk goes
		 * (not after the last slot: a slot whose version only the
		 * snapshot has must come back too). */
		for (int i = 0; slot + 1 < SLOTS && i < n->fuzz; i++)
			one_write(n);
	}
	cat_dsnap_buf_free(&b);
	if (kill == K_PARTIAL) {
		/* A crash now leaves NAME.partial as it is, without its
		 * trailer: keep a link to it across abort's unlink. */
		char part[128], keep[140];

		snprintf(part, sizeof(part), "%s/snap-%016llx.csnap.partial", n->dir,
			 (unsigned long long)seq);
		snprintf(keep, sizeof(keep), "%s.keep", part);
		assert_int_equal(link(part, keep), 0);
		cat_dsnap_abort(w);
		assert_int_equal(rename(keep, part), 0);
		return seq;
	}
	assert_int_equal(cat_dsnap_commit(w, err, sizeof(err)), 0);
	if (kill == K_RENAMED)
		return seq;
	if (drop_before) {
		if (kill == K_SOME_DELETED) {
			uint64_t *all;
			size_t cnt;
			char path[128];

			/* Only the oldest went before the crash. */
			assert_int_equal(cat_dlog_list(n->dir, &all, &cnt, err, sizeof(err)), 0);
			assert_true(cnt > 2 && all[1] < drop_before);
			snprintf(path, sizeof(path), "%s/seg-%016llx.clog", n->dir,
				 (unsigned long long)all[0]);
			free(all);
			assert_int_equal(unlink(path), 0);
			return seq;
		}
		assert_int_equal(cat_dsnap_drop_before(n->dir, drop_before, &segs), 0);
		assert_int_equal(cat_dlog_drop_before(n->dir, drop_before, &segs, &bytes), 0);
		assert_true(segs > 0);
		cat_dlog_forget(n->log, bytes);
	}
	return seq;
}

static int apply_into(const struct cat_dlog_rec *r, void *arg)
{
	assert_int_equal(cat_dlog_apply(arg, r), 0);
	return 0;
}

/* The store recovery builds from n's directory (after the log is synced
 * as the writer would have). rc is recover's result. */
static struct cat_store *recovered(struct node *n, int want_rc,
				   struct cat_dsnap_recovery *rec, char *err,
				   size_t errlen)
{
	const struct cat_store_params sp = { .slot_count = SLOTS };
	struct cat_store *s = cat_store_create(&sp);

	assert_int_equal(cat_dlog_sync(n->log), 0);
	int rc = cat_dsnap_recover(n->dir, NODE, apply_into, s, rec, err, errlen);

	if (rc != want_rc)
		print_message("recover: %d: %s (%s)\n", rc, err, rec->note);
	assert_int_equal(rc, want_rc);
	return s;
}

static void assert_same(struct cat_store *a, struct cat_store *b)
{
	for (uint32_t slot = 0; slot < SLOTS; slot++) {
		assert_true(cat_store_slot_digest(a, slot) == cat_store_slot_digest(b, slot));
		assert_int_equal(cat_store_slot_version(a, slot),
				 cat_store_slot_version(b, slot));
		assert_int_equal(cat_store_slot_keys(a, slot), cat_store_slot_keys(b, slot));
	}
}

static void drop_store(struct cat_store *s)
{
	rcu_thread_offline();
	cat_store_destroy(s);
	rcu_thread_online();
}

static int exists(const char *dir, const char *fmt, uint64_t seq)
{
	char name[64], path[160];
	struct stat st;

	snprintf(name, sizeof(name), fmt, (unsigned long long)seq);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return stat(path, &st) == 0;
}

/* count writes, with a segment cut halfway (as one reaching 64 MiB). */
static void writes(struct node *n, int count)
{
	uint64_t seq;

	for (int i = 0; i < count; i++) {
		if (i == count / 2)
			assert_int_equal(cat_dlog_rotate(n->log, &seq), 0);
		one_write(n);
	}
}

/* Snapshot + the log after it = the whole log = the node's store, for
 * many seeds; and the segments it replaced are gone. */
static void test_snapshot_replays_to_the_same_store(void **state)
{
	(void)state;
	for (uint64_t seed = 1; seed <= 20; seed++) {
		struct cat_dsnap_recovery rec;
		struct cat_store *r;
		struct node n;
		char err[1024];
		uint64_t s1, s2;

		node_init(&n, seed);
		/* Every third seed: nothing written after the second snapshot
		 * starts, so the slots' versions come from it alone. */
		n.fuzz = seed % 3 ? 40 : 0;
		writes(&n, 300);
		s1 = snapshot(&n, K_NONE, 0);
		writes(&n, 300);
		s2 = snapshot(&n, K_NONE, s1);
		writes(&n, seed % 3 ? 200 : 0);
		assert_false(exists(n.dir, "seg-%016llx.clog", 1));
		assert_true(exists(n.dir, "seg-%016llx.clog", s1));
		r = recovered(&n, 0, &rec, err, sizeof(err));
		assert_int_equal(rec.snap_seq, s2);
		assert_true(rec.snap_records > 0);
		assert_int_equal(rec.damaged, 0);
		assert_same(n.s, r);
		drop_store(r);
		node_fini(&n);
	}
}

/* Every state a crash during the second snapshot leaves: the same store. */
static void test_every_kill_point_replays_to_the_same_store(void **state)
{
	const enum kill kills[] = { K_PARTIAL, K_RENAMED, K_SOME_DELETED };

	(void)state;
	for (size_t i = 0; i < sizeof(kills) / sizeof(kills[0]); i++) {
		struct cat_dsnap_recovery rec;
		struct cat_store *r;
		struct node n;
		char err[1024];
		uint64_t s0, s1, s2;

		node_init(&n, 100 + i);
		writes(&n, 200);
		s0 = snapshot(&n, K_NONE, 0);
		writes(&n, 200);
		s1 = snapshot(&n, K_NONE, s0);
		writes(&n, 200);
		s2 = snapshot(&n, kills[i], s1);
		/* The crash: writes after the walk reached the log's disk
		 * only as far as the writer synced, which the test does. */
		r = recovered(&n, 0, &rec, err, sizeof(err));
		assert_int_equal(rec.snap_seq, kills[i] == K_PARTIAL ? s1 : s2);
		assert_false(exists(n.dir, "snap-%016llx.csnap.partial", s2));
		assert_same(n.s, r);
		drop_store(r);
		node_fini(&n);
	}
}

static void damage(const char *dir, uint64_t seq, long off, int cut)
{
	char path[160];
	FILE *f;
	int c;

	snprintf(path, sizeof(path), "%s/snap-%016llx.csnap", dir, (unsigned long long)seq);
	if (cut) {
		struct stat st;

		assert_int_equal(stat(path, &st), 0);
		assert_int_equal(truncate(path, st.st_size - cut), 0);
		return;
	}
	f = fopen(path, "r+b");
	assert_non_null(f);
	assert_int_equal(fseek(f, off, SEEK_SET), 0);
	c = fgetc(f);
	assert_int_equal(fseek(f, off, SEEK_SET), 0);
	fputc(c ^ 0x40, f);
	fclose(f);
}

/* A damaged newest snapshot: set aside, the older one and its segments
 * replayed instead, to the same store; the first snapshot damaged (the
 * log before it is all there), the whole log. Nothing of the damaged one is
 * applied: a flipped byte in a value would otherwise show in a digest. */
static void test_damaged_snapshot_falls_back_to_an_older_one(void **state)
{
	const long offs[] = { 3, 40, -1 };	/* header, a record, the trailer cut */

	(void)state;
	for (size_t i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
		struct cat_dsnap_recovery rec;
		struct cat_store *r;
		struct node n;
		char err[1024];
		uint64_t s1, s2;

		node_init(&n, 200 + i);
		writes(&n, 300);
		s1 = snapshot(&n, K_NONE, 0);
		writes(&n, 300);
		s2 = snapshot(&n, K_NONE, s1);
		writes(&n, 100);
		damage(n.dir, s2, offs[i] < 0 ? 0 : offs[i], offs[i] < 0 ? 5 : 0);
		r = recovered(&n, 0, &rec, err, sizeof(err));
		assert_int_equal(rec.snap_seq, s1);
		assert_int_equal(rec.damaged, 1);
		assert_non_null(strstr(rec.note, "damaged"));
		assert_true(exists(n.dir, "snap-%016llx.csnap.damaged", s2));
		assert_same(n.s, r);
		drop_store(r);

		node_fini(&n);

		/* The first snapshot damaged: nothing was deleted before it,
		 * so the whole log. */
		node_init(&n, 250 + i);
		writes(&n, 300);
		s1 = snapshot(&n, K_NONE, 0);
		writes(&n, 100);
		damage(n.dir, s1, offs[i] < 0 ? 0 : offs[i], offs[i] < 0 ? 5 : 0);
		r = recovered(&n, 0, &rec, err, sizeof(err));
		assert_int_equal(rec.snap_seq, 0);
		assert_int_equal(rec.damaged, 1);
		assert_same(n.s, r);
		drop_store(r);
		node_fini(&n);
	}
}

/* When what a damaged snapshot replaced is gone, recovery refuses and
 * says why: never a node that starts with less than its disk held. */
static void test_damage_without_a_fallback_is_refused(void **state)
{
	struct cat_dsnap_recovery rec;
	struct cat_store *r;
	struct node n;
	char err[1024] = "";
	uint64_t s1, s2, s3;

	(void)state;
	node_init(&n, 300);
	writes(&n, 300);
	s1 = snapshot(&n, K_NONE, 0);
	writes(&n, 300);
	s2 = snapshot(&n, K_NONE, s1);
	writes(&n, 300);
	s3 = snapshot(&n, K_NONE, s2);
	assert_false(exists(n.dir, "snap-%016llx.csnap", s1));
	damage(n.dir, s3, 60, 0);
	damage(n.dir, s2, 60, 0);
	r = recovered(&n, -EBADMSG, &rec, err, sizeof(err));
	assert_non_null(strstr(err, "refusing to start"));
	assert_non_null(strstr(err, "damaged"));
	drop_store(r);
	node_fini(&n);
}

/* A snapshot of another node is an error, not damage to step over. */
static void test_snapshot_of_another_node_is_refused(void **state)
{
	struct cat_dsnap_recovery rec;
	struct node n;
	char err[1024] = "";
	const struct cat_store_params sp = { .slot_count = SLOTS };
	struct cat_store *s = cat_store_create(&sp);

	(void)state;
	node_init(&n, 400);
	writes(&n, 50);
	(void)snapshot(&n, K_NONE, 0);
	assert_int_equal(cat_dsnap_recover(n.dir, NODE + 1, apply_into, s, &rec, err,
					   sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "not of node"));
	drop_store(s);
	node_fini(&n);
}

/* The segments after a snapshot keep their torn-tail handling: a record
 * cut short at the end is dropped, everything before it replayed. */
static void test_torn_tail_after_a_snapshot_is_dropped(void **state)
{
	struct cat_dsnap_recovery rec;
	struct cat_store *r;
	struct node n;
	char err[1024];
	uint8_t junk[20] = { 200, 0, 0, 0 };

	(void)state;
	node_init(&n, 500);
	writes(&n, 300);
	(void)snapshot(&n, K_NONE, 0);
	writes(&n, 100);
	assert_int_equal(cat_dlog_append(n.log, junk, sizeof(junk)), 0);
	r = recovered(&n, 0, &rec, err, sizeof(err));
	assert_true(rec.snap_seq > 0);
	assert_int_equal(rec.log.torn, 1);
	assert_int_equal(rec.log.lost_bytes, sizeof(junk));
	assert_same(n.s, r);
	drop_store(r);
	node_fini(&n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_snapshot_replays_to_the_same_store),
		cmocka_unit_test(test_every_kill_point_replays_to_the_same_store),
		cmocka_unit_test(test_damaged_snapshot_falls_back_to_an_older_one),
		cmocka_unit_test(test_damage_without_a_fallback_is_refused),
		cmocka_unit_test(test_snapshot_of_another_node_is_refused),
		cmocka_unit_test(test_torn_tail_after_a_snapshot_is_dropped),
	};
	int rc;

	rcu_register_thread();
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	rcu_unregister_thread();
	return rc;
}
