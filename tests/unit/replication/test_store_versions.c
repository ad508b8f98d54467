/*
 * Unit tests for the store's chain-replication support (replication/
 * store.c): dirty mode, ordered apply, tombstones, commit, get_at, digests.
 * Single thread, registered with QSBR, online except around destroy.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "replication/store.h"

static struct cat_store *mk(uint32_t slots)
{
	struct cat_store_params p = { .slot_count = slots };
	struct cat_store *s = cat_store_create(&p);

	assert_non_null(s);
	return s;
}

static void destroy(struct cat_store *s)
{
	rcu_thread_offline();
	cat_store_destroy(s);
	rcu_thread_online();
}

static void grace(void)
{
	rcu_thread_offline();
	rcu_barrier();
	rcu_thread_online();
}

static void key(struct cat_store *s, struct cat_key *k, const char *str)
{
	cat_store_key(s, k, str, (uint16_t)strlen(str));
}

static void expect_item(struct cat_store *s, const char *kstr,
			 const char *val, uint64_t version)
{
	struct cat_key k;
	const struct cat_item *it;

	key(s, &k, kstr);
	assert_int_equal(cat_store_get(s, &k, &it), 0);
	assert_int_equal(it->value_len, strlen(val));
	assert_memory_equal(cat_item_value(it), val, strlen(val));
	assert_true(it->version == version);
}

/* A dirty write keeps the older version reachable until commit. */
static void test_dirty_write_keeps_history_until_commit(void **state)
{
	(void)state;
	struct cat_store *s = mk(1);
	struct cat_key k;
	const struct cat_item *it;
	uint64_t v1, v2, v3;

	key(s, &k, "a");
	assert_int_equal(cat_store_put(s, &k, "one", 3, &v1), 0);
	cat_store_slot_set_dirty_mode(s, 0, 1);
	assert_int_equal(cat_store_put(s, &k, "two", 3, &v2), 0);
	assert_int_equal(cat_store_put(s, &k, "three", 5, &v3), 0);
	assert_true(v1 < v2 && v2 < v3);

	assert_int_equal(cat_store_get(s, &k, &it), 0);
	assert_true(it->version == v3);
	assert_true(cat_item_flags(it) & CAT_ITEM_DIRTY);
	assert_int_equal(cat_store_get_at(s, &k, v1, &it), 0);
	assert_memory_equal(cat_item_value(it), "one", 3);
	assert_false(cat_item_flags(it) & CAT_ITEM_DIRTY);
	assert_int_equal(cat_store_get_at(s, &k, v2, &it), 0);
	assert_memory_equal(cat_item_value(it), "two", 3);
	assert_int_equal(cat_store_get_at(s, &k, v3 + 10, &it), 0);
	assert_true(it->version == v3);
	assert_int_equal(cat_store_get_at(s, &k, v1 - 1, &it), -ENOENT);

	/* Commit v2: it turns clean, v1 goes, v3 stays dirty on top. */
	cat_store_commit(s, &k, v2);
	assert_int_equal(cat_store_get_at(s, &k, v2, &it), 0);
	assert_false(cat_item_flags(it) & CAT_ITEM_DIRTY);
	assert_int_equal(cat_store_get_at(s, &k, v1, &it), -ENOENT);
	assert_int_equal(cat_store_get(s, &k, &it), 0);
	assert_true(cat_item_flags(it) & CAT_ITEM_DIRTY);

	cat_store_commit(s, &k, v3);
	assert_int_equal(cat_store_get(s, &k, &it), 0);
	assert_false(cat_item_flags(it) & CAT_ITEM_DIRTY);
	assert_int_equal(cat_store_get_at(s, &k, v2, &it), -ENOENT);
	grace();
	/* Only the newest version is still accounted. */
	assert_true(cat_store_mem_used(s) == cat_store_item_size(1, 5));
	destroy(s);
}

/* A dirty delete is a tombstone: absent to get, old value to get_at. */
static void test_dirty_delete_is_a_tombstone_until_commit(void **state)
{
	(void)state;
	struct cat_store *s = mk(1);
	struct cat_key k;
	const struct cat_item *it;
	uint64_t v1, vd;

	key(s, &k, "a");
	assert_int_equal(cat_store_put(s, &k, "one", 3, &v1), 0);
	assert_true(cat_store_slot_keys(s, 0) == 1);
	cat_store_slot_set_dirty_mode(s, 0, 1);
	assert_int_equal(cat_store_del(s, &k, &vd), 0);
	assert_true(vd == v1); /* del reports the deleted version */
	vd = cat_store_slot_version(s, 0);
	assert_true(vd == v1 + 1);
	assert_true(cat_store_slot_keys(s, 0) == 0);
	assert_int_equal(cat_store_get(s, &k, &it), -ENOENT);
	assert_int_equal(cat_store_get_newest(s, &k, &it), 0);
	assert_true(cat_item_flags(it) & CAT_ITEM_TOMBSTONE);
	assert_true(cat_item_flags(it) & CAT_ITEM_DIRTY);
	assert_int_equal(cat_store_get_at(s, &k, v1, &it), 0);
	assert_memory_equal(cat_item_value(it), "one", 3);
	/* A second delete of a tombstoned key finds nothing. */
	assert_int_equal(cat_store_del(s, &k, NULL), -ENOENT);

	cat_store_commit(s, &k, vd);
	assert_int_equal(cat_store_get_newest(s, &k, &it), -ENOENT);
	assert_int_equal(cat_store_get_at(s, &k, v1, &it), -ENOENT);
	grace();
	assert_true(cat_store_mem_used(s) == 0);
	destroy(s);
}

/* Replicas apply at the head's versions, strictly in order. */
static void test_apply_in_order_at_given_versions(void **state)
{
	(void)state;
	struct cat_store *s = mk(1);
	struct cat_key k;
	const struct cat_item *it;

	key(s, &k, "x");
	assert_int_equal(cat_store_apply_put(s, &k, 5, "v5", 2), 0);
	expect_item(s, "x", "v5", 5);
	assert_true(cat_store_slot_version(s, 0) == 5);
	assert_int_equal(cat_store_apply_put(s, &k, 5, "again", 5), -EINVAL);
	assert_int_equal(cat_store_apply_put(s, &k, 4, "old", 3), -EINVAL);
	assert_int_equal(cat_store_apply_noop(s, 0, 6), 0);
	assert_int_equal(cat_store_apply_noop(s, 0, 6), -EINVAL);
	assert_true(cat_store_slot_version(s, 0) == 6);
	assert_int_equal(cat_store_apply_del(s, &k, 7), 0);
	assert_int_equal(cat_store_get(s, &k, &it), -ENOENT);
	/* Deleting an absent key still takes the version. */
	assert_int_equal(cat_store_apply_del(s, &k, 8), 0);
	assert_true(cat_store_slot_version(s, 0) == 8);
	assert_true(cat_store_slot_bump(s, 0) == 9);
	assert_true(cat_store_slot_version(s, 0) == 9);
	destroy(s);
}

/* Head and replica that saw the same writes have equal digests; any
 * difference in key, value or version shows. */
static void test_digest_equal_iff_same_content(void **state)
{
	(void)state;
	struct cat_store *a = mk(4), *b = mk(4);
	struct cat_key ka, kb;
	char name[16];
	uint64_t v;

	for (int i = 0; i < 50; i++) {
		snprintf(name, sizeof(name), "k%d", i);
		key(a, &ka, name);
		assert_int_equal(cat_store_put(a, &ka, name, (uint32_t)strlen(name), &v), 0);
		key(b, &kb, name);
		assert_int_equal(cat_store_apply_put(b, &kb, v, name, (uint32_t)strlen(name)), 0);
	}
	for (uint32_t sl = 0; sl < 4; sl++)
		assert_true(cat_store_slot_digest(a, sl) == cat_store_slot_digest(b, sl));
	/* Same value, different version: differs. */
	key(a, &ka, "k7");
	assert_int_equal(cat_store_put(a, &ka, "k7", 2, &v), 0);
	assert_true(cat_store_slot_digest(a, ka.slot) != cat_store_slot_digest(b, ka.slot));
	key(b, &kb, "k7");
	assert_int_equal(cat_store_apply_put(b, &kb, v, "k7", 2), 0);
	assert_true(cat_store_slot_digest(a, ka.slot) == cat_store_slot_digest(b, ka.slot));
	destroy(a);
	destroy(b);
}

/* Dirty CAS and INCR see the newest (dirty) state: the head orders
 * writes on top of what it has not committed yet. */
static void test_dirty_cas_and_incr_see_newest(void **state)
{
	(void)state;
	struct cat_store *s = mk(1);
	struct cat_key k;
	uint64_t v1, v2;
	int64_t r;

	key(s, &k, "n");
	cat_store_slot_set_dirty_mode(s, 0, 1);
	assert_int_equal(cat_store_incr(s, &k, 5, &r, &v1), 0);
	assert_int_equal(cat_store_incr(s, &k, 5, &r, &v2), 0);
	assert_true(r == 10);
	assert_int_equal(cat_store_cas(s, &k, v1, "x", 1, NULL), -ECANCELED);
	assert_int_equal(cat_store_cas(s, &k, v2, "x", 1, NULL), 0);
	assert_int_equal(cat_store_del(s, &k, NULL), 0);
	assert_int_equal(cat_store_incr(s, &k, 1, &r, NULL), 0);
	assert_true(r == 1); /* the tombstone counts as absent */
	destroy(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dirty_write_keeps_history_until_commit),
		cmocka_unit_test(test_dirty_delete_is_a_tombstone_until_commit),
		cmocka_unit_test(test_apply_in_order_at_given_versions),
		cmocka_unit_test(test_digest_equal_iff_same_content),
		cmocka_unit_test(test_dirty_cas_and_incr_see_newest),
	};
	int rc;

	rcu_register_thread();
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	rcu_unregister_thread();
	return rc;
}
