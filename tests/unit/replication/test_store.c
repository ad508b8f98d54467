/*
 * Unit tests for replication/store.c, single-threaded: every operation's
 * contract from replication/store.h (versions, CAS, INCR, memory limit,
 * per-slot iteration and clearing). The concurrent reader/writer test lives
 * in test_store_stress.c so it can be run (and valgrinded) on its own.
 * RCU rule followed throughout: the main thread is a registered QSBR thread,
 * online while it calls the store, offline around rcu_barrier and destroy.
 */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "replication/hash.h"
#include "replication/store.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Each test gets a store in *state; teardown destroys it even when an
 * assertion failed half way, so ASan/valgrind runs stay leak-free. */
struct fixture {
	struct cat_store *s;
};

static struct cat_store *mk_store(uint32_t slots, uint64_t mem_limit)
{
	struct cat_store_params p = { .slot_count = slots,
				      .mem_limit = mem_limit };
	struct cat_store *s = cat_store_create(&p);

	assert_non_null(s);
	return s;
}

static int setup16(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	struct cat_store_params p = { .slot_count = 16, .mem_limit = 0 };
	f->s = cat_store_create(&p);
	if (!f->s) {
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int setup_empty(void **state)
{
	*state = calloc(1, sizeof(struct fixture));
	return *state ? 0 : -1;
}

/* The store may only be destroyed from an offline (or unregistered)
 * thread: destroy waits for call_rcu frees with rcu_barrier(). */
static void destroy_offline(struct cat_store *s)
{
	rcu_thread_offline();
	cat_store_destroy(s);
	rcu_thread_online();
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	if (f && f->s)
		destroy_offline(f->s);
	free(f);
	return 0;
}

/* Let a grace period pass and every pending call_rcu free run. */
static void grace_period(void)
{
	rcu_thread_offline();
	rcu_barrier();
	rcu_thread_online();
}

static struct cat_store *S(void **state)
{
	return ((struct fixture *)*state)->s;
}

static void key_of(const struct cat_store *s, struct cat_key *k,
		   const char *str)
{
	cat_store_key(s, k, str, (uint16_t)strlen(str));
}

/* Find n distinct keys "<prefix><i>" that hash to slot `slot`. */
static void keys_in_slot(const struct cat_store *s, uint32_t slot,
			 const char *prefix, char (*out)[32], int n)
{
	int found = 0;

	for (int i = 0; found < n; i++) {
		struct cat_key k;
		snprintf(out[found], 32, "%s%d", prefix, i);
		key_of(s, &k, out[found]);
		if (k.slot == slot)
			found++;
		assert_true(i < 10000000);
	}
}

static void assert_value(const struct cat_store *s, const char *key,
			 const void *val, uint32_t vlen, uint64_t version)
{
	struct cat_key k;
	const struct cat_item *it = NULL;

	key_of(s, &k, key);
	assert_int_equal(cat_store_get(s, &k, &it), 0);
	assert_non_null(it);
	assert_int_equal(it->key_len, strlen(key));
	assert_memory_equal(cat_item_key(it), key, strlen(key));
	assert_int_equal(it->value_len, vlen);
	if (vlen)
		assert_memory_equal(cat_item_value(it), val, vlen);
	if (version)
		assert_true(it->version == version);
}

static void assert_absent(const struct cat_store *s, const char *key)
{
	struct cat_key k;
	const struct cat_item *it = NULL;

	key_of(s, &k, key);
	assert_int_equal(cat_store_get(s, &k, &it), -ENOENT);
}

static uint64_t put_str(struct cat_store *s, const char *key, const char *val)
{
	struct cat_key k;
	uint64_t v = 0;

	key_of(s, &k, key);
	assert_int_equal(cat_store_put(s, &k, val, (uint32_t)strlen(val), &v),
			 0);
	assert_true(v > 0);
	return v;
}

/* ---- create ---- */

static void test_create_rejects_bad_slot_count(void **state)
{
	(void)state;
	uint32_t bad[] = { 0, 3, 6, 1000, 65535, 65537, 131072, 0xFFFFFFFFu };

	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		struct cat_store_params p = { .slot_count = bad[i] };
		errno = 0;
		assert_null(cat_store_create(&p));
		assert_int_equal(errno, EINVAL);
	}
}

static void test_create_valid_slot_counts(void **state)
{
	struct fixture *f = *state;
	uint32_t good[] = { 1, 2, 1024, 65536 };

	for (size_t i = 0; i < ARRAY_LEN(good); i++) {
		f->s = mk_store(good[i], 0);
		assert_int_equal(cat_store_slot_count(f->s), good[i]);
		/* The highest slot is usable. */
		struct cat_key k;
		char key[32];
		for (int j = 0;; j++) {
			snprintf(key, sizeof(key), "k%d", j);
			key_of(f->s, &k, key);
			if (k.slot == good[i] - 1 || j > 1000000)
				break;
		}
		assert_int_equal(k.slot, good[i] - 1);
		put_str(f->s, key, "v");
		assert_value(f->s, key, "v", 1, 0);
		assert_int_equal(cat_store_slot_keys(f->s, good[i] - 1), 1);
		destroy_offline(f->s);
		f->s = NULL;
	}
}

/* ---- keys ---- */

static void test_key_hashes(void **state)
{
	struct cat_store *s = S(state);
	struct cat_key k;
	const char *key = "user:1234";

	cat_store_key(s, &k, key, 9);
	assert_ptr_equal(k.ptr, key);
	assert_int_equal(k.len, 9);
	assert_int_equal(k.crc, cat_hash_crc32c(key, 9));
	assert_int_equal(k.slot, cat_hash_slot(k.crc, 16));
	assert_true(k.hash == cat_hash_table(k.crc, 9));

	/* The slot a client computes from the wire spec. */
	cat_store_key(s, &k, "123456789", 9);
	assert_int_equal(k.crc, 0xE3069283u);
	assert_int_equal(k.slot, 0x3);
}

/* A burst hashed in one call gives each key what cat_store_key gives it,
 * for every length up to and past the 16-byte fast compare. */
static void test_key_bulk_matches_key(void **state)
{
	struct cat_store *s = S(state);
	char buf[40][40];
	const void *kp[40];
	uint16_t kl[40];
	struct cat_key kb[40], k1;

	for (unsigned int i = 0; i < 40; i++) {
		for (unsigned int j = 0; j < 40; j++)
			buf[i][j] = (char)('a' + (i * 7 + j * 3) % 26);
		kp[i] = buf[i];
		kl[i] = (uint16_t)i;
	}
	cat_store_key_bulk(s, kb, kp, kl, 40);
	for (unsigned int i = 0; i < 40; i++) {
		cat_store_key(s, &k1, buf[i], (uint16_t)i);
		assert_ptr_equal(kb[i].ptr, buf[i]);
		assert_int_equal(kb[i].len, i);
		assert_int_equal(kb[i].crc, k1.crc);
		assert_int_equal(kb[i].slot, k1.slot);
		assert_true(kb[i].hash == k1.hash);
	}
}

/* ---- get / put / del ---- */

static void test_put_get_del(void **state)
{
	struct cat_store *s = S(state);
	struct cat_key k;
	uint64_t v1, v2, dv = 0;

	assert_absent(s, "alpha");
	key_of(s, &k, "alpha");
	assert_int_equal(cat_store_del(s, &k, &dv), -ENOENT);

	v1 = put_str(s, "alpha", "one");
	assert_value(s, "alpha", "one", 3, v1);
	assert_int_equal(cat_store_slot_keys(s, k.slot), 1);

	/* Replace: new value, new (higher) version, still one key. */
	v2 = put_str(s, "alpha", "a longer second value");
	assert_true(v2 > v1);
	assert_value(s, "alpha", "a longer second value", 21, v2);
	assert_int_equal(cat_store_slot_keys(s, k.slot), 1);

	assert_int_equal(cat_store_del(s, &k, &dv), 0);
	assert_true(dv == v2);
	assert_absent(s, "alpha");
	assert_int_equal(cat_store_slot_keys(s, k.slot), 0);
	assert_int_equal(cat_store_del(s, &k, &dv), -ENOENT);
	assert_int_equal(cat_store_del(s, &k, NULL), -ENOENT);

	/* Delete with no version wanted. */
	put_str(s, "alpha", "x");
	assert_int_equal(cat_store_del(s, &k, NULL), 0);
	assert_absent(s, "alpha");
}

static void test_empty_and_binary_values(void **state)
{
	struct cat_store *s = S(state);
	struct cat_key k;
	uint64_t v;
	uint8_t bin[300];

	key_of(s, &k, "empty");
	assert_int_equal(cat_store_put(s, &k, "", 0, &v), 0);
	assert_value(s, "empty", NULL, 0, v);

	for (size_t i = 0; i < sizeof(bin); i++)
		bin[i] = (uint8_t)(i * 13);
	bin[0] = 0;
	key_of(s, &k, "bin");
	assert_int_equal(cat_store_put(s, &k, bin, sizeof(bin), &v), 0);
	assert_value(s, "bin", bin, sizeof(bin), v);

	/* Keys are bytes: embedded NULs and prefixes are distinct keys. */
	struct cat_key a, b, c;
	const char kb[] = { 'k', 0, 'x' };
	cat_store_key(s, &a, "k", 1);
	cat_store_key(s, &b, kb, 3);
	cat_store_key(s, &c, "kk", 2);
	assert_int_equal(cat_store_put(s, &a, "A", 1, &v), 0);
	assert_int_equal(cat_store_put(s, &b, "B", 1, &v), 0);
	assert_int_equal(cat_store_put(s, &c, "C", 1, &v), 0);
	const struct cat_item *it;
	assert_int_equal(cat_store_get(s, &a, &it), 0);
	assert_memory_equal(cat_item_value(it), "A", 1);
	assert_int_equal(cat_store_get(s, &b, &it), 0);
	assert_int_equal(it->key_len, 3);
	assert_memory_equal(cat_item_key(it), kb, 3);
	assert_memory_equal(cat_item_value(it), "B", 1);
	assert_int_equal(cat_store_get(s, &c, &it), 0);
	assert_memory_equal(cat_item_value(it), "C", 1);

	/* The store copies: the caller's buffers can change afterwards. */
	char kbuf[8] = "mutable", vbuf[8] = "value01";
	cat_store_key(s, &k, kbuf, 7);
	assert_int_equal(cat_store_put(s, &k, vbuf, 7, &v), 0);
	memset(vbuf, 'X', sizeof(vbuf));
	memset(kbuf, 'Y', 7);
	assert_value(s, "mutable", "value01", 7, v);
}

/* An item a reader holds stays intact after it is replaced or deleted,
 * until the reader's next quiescent state. */
static void test_item_survives_replace_until_quiescent(void **state)
{
	struct cat_store *s = S(state);
	struct cat_key k;
	const struct cat_item *old;
	uint64_t v1 = put_str(s, "held", "original value");

	key_of(s, &k, "held");
	assert_int_equal(cat_store_get(s, &k, &old), 0);
	put_str(s, "held", "replacement");
	assert_true(old->version == v1);
	assert_int_equal(old->value_len, 14);
	assert_memory_equal(cat_item_value(old), "original value", 14);
	assert_int_equal(cat_store_del(s, &k, NULL), 0);
	assert_memory_equal(cat_item_key(old), "held", 4);
	assert_memory_equal(cat_item_value(old), "original value", 14);
	rcu_quiescent_state();
	assert_absent(s, "held");
}

/* ---- versions ---- */

static void test_versions_strictly_increase_per_slot(void **state)
{
	struct cat_store *s = S(state);
	char keys[6][32];
	uint64_t last = 0, v;
	struct cat_key k;

	keys_in_slot(s, 5, "ver", keys, 6);
	assert_true(cat_store_slot_version(s, 5) == 0);

	for (int round = 0; round < 5; round++) {
		for (int i = 0; i < 6; i++) {
			v = put_str(s, keys[i], "x");
			assert_true(v > last);
			last = v;
			assert_true(cat_store_slot_version(s, 5) == v);
		}
		key_of(s, &k, keys[round]);
		assert_int_equal(cat_store_del(s, &k, &v), 0);
		assert_true(v <= last);
		assert_true(cat_store_slot_version(s, 5) >= last);
		last = cat_store_slot_version(s, 5);
	}
	/* A key deleted and written again never reuses an old version. */
	key_of(s, &k, keys[0]);
	uint64_t dv;
	v = put_str(s, keys[0], "y");
	assert_int_equal(cat_store_del(s, &k, &dv), 0);
	assert_true(dv == v);
	uint64_t v2 = put_str(s, keys[0], "z");
	assert_true(v2 > v);

	/* Every mutating op takes a new version. */
	uint64_t vc, vi, vv;
	int64_t r;
	assert_int_equal(cat_store_cas(s, &k, v2, "c", 1, &vc), 0);
	assert_true(vc > v2);
	assert_int_equal(cat_store_cas_value(s, &k, "c", 1, "d", 1, &vv), 0);
	assert_true(vv > vc);
	key_of(s, &k, keys[1]);
	assert_int_equal(cat_store_incr(s, &k, 1, &r, &vi), -EDOM); /* "x" */
	key_of(s, &k, "counter-in-some-slot");
	assert_int_equal(cat_store_incr(s, &k, 1, &r, &vi), 0);
	assert_true(vi > 0);
	assert_true(cat_store_slot_version(s, k.slot) == vi);
}

/* ---- CAS by version ---- */

static void test_cas_version(void **state)
{
	struct cat_store *s = S(state);
	struct cat_key k;
	uint64_t v = 77, v1, v2;

	key_of(s, &k, "cas");
	/* Absent, expecting some version: mismatch, current version 0. */
	assert_int_equal(cat_store_cas(s, &k, 5, "no", 2, &v), -ECANCELED);
	assert_true(v == 0);
	assert_absent(s, "cas");

	/* expect 0 = only if absent. */
	assert_int_equal(cat_store_cas(s, &k, 0, "first", 5, &v1), 0);
	assert_true(v1 > 0);
	assert_value(s, "cas", "first", 5, v1);
	assert_int_equal(cat_store_slot_keys(s, k.slot), 1);

	assert_int_equal(cat_store_cas(s, &k, 0, "again", 5, &v), -ECANCELED);
	assert_true(v == v1);
	assert_value(s, "cas", "first", 5, v1);

	/* Wrong versions, above and below. */
	assert_int_equal(cat_store_cas(s, &k, v1 + 1, "bad", 3, &v), -ECANCELED);
	assert_true(v == v1);
	assert_int_equal(cat_store_cas(s, &k, v1 - 1 ? v1 - 1 : 999, "bad", 3,
				       &v), -ECANCELED);
	assert_true(v == v1);
	assert_value(s, "cas", "first", 5, v1);
	assert_true(cat_store_slot_version(s, k.slot) == v1); /* no write */

	assert_int_equal(cat_store_cas(s, &k, v1, "second", 6, &v2), 0);
	assert_true(v2 > v1);
	assert_value(s, "cas", "second", 6, v2);
	/* The old version no longer matches. */
	assert_int_equal(cat_store_cas(s, &k, v1, "third", 5, &v), -ECANCELED);
	assert_true(v == v2);
	assert_int_equal(cat_store_slot_keys(s, k.slot), 1);

	/* After a delete, 0 works again. */
	assert_int_equal(cat_store_del(s, &k, NULL), 0);
	assert_int_equal(cat_store_cas(s, &k, v2, "x", 1, &v), -ECANCELED);
	assert_true(v == 0);
	assert_int_equal(cat_store_cas(s, &k, 0, "reborn", 6, &v), 0);
	assert_true(v > v2);
	assert_value(s, "cas", "reborn", 6, v);
}

/* ---- CAS by value ---- */

static void test_cas_value(void **state)
{
	struct cat_store *s = S(state);
	struct cat_key k;
	uint64_t v = 0, v1, v2;

	key_of(s, &k, "casv");
	assert_int_equal(cat_store_cas_value(s, &k, "", 0, "x", 1, &v), -ENOENT);
	assert_int_equal(cat_store_cas_value(s, &k, "a", 1, "x", 1, &v),
			 -ENOENT);
	assert_absent(s, "casv");

	v1 = put_str(s, "casv", "apple");
	/* Mismatches: other bytes, a prefix, a longer value, empty. */
	const char *bad[] = { "apply", "appl", "apples", "", "APPLE" };
	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		v = 0;
		assert_int_equal(cat_store_cas_value(s, &k, bad[i],
						     (uint32_t)strlen(bad[i]),
						     "pear", 4, &v),
				 -ECANCELED);
		assert_true(v == v1);
	}
	assert_value(s, "casv", "apple", 5, v1);
	assert_true(cat_store_slot_version(s, k.slot) == v1);

	assert_int_equal(cat_store_cas_value(s, &k, "apple", 5, "pear", 4,
					     &v2), 0);
	assert_true(v2 > v1);
	assert_value(s, "casv", "pear", 4, v2);

	/* Empty expected matches an empty value; empty new value allowed. */
	assert_int_equal(cat_store_cas_value(s, &k, "pear", 4, "", 0, &v), 0);
	assert_value(s, "casv", NULL, 0, v);
	uint64_t v3 = v;
	assert_int_equal(cat_store_cas_value(s, &k, "", 0, "fig", 3, &v), 0);
	assert_true(v > v3);
	assert_value(s, "casv", "fig", 3, v);
	assert_int_equal(cat_store_slot_keys(s, k.slot), 1);
}

/* ---- INCR ---- */

static void assert_text(const struct cat_store *s, const char *key,
			const char *text)
{
	assert_value(s, key, text, (uint32_t)strlen(text), 0);
}

static void test_incr_basic(void **state)
{
	struct cat_store *s = S(state);
	struct cat_key k;
	int64_t r = 12345;
	uint64_t v1, v2, v3;

	key_of(s, &k, "ctr");
	/* Absent counts as 0. */
	assert_int_equal(cat_store_incr(s, &k, 5, &r, &v1), 0);
	assert_true(r == 5);
	assert_text(s, "ctr", "5");
	assert_int_equal(cat_store_slot_keys(s, k.slot), 1);

	assert_int_equal(cat_store_incr(s, &k, 37, &r, &v2), 0);
	assert_true(r == 42);
	assert_true(v2 > v1);
	assert_text(s, "ctr", "42");

	/* Negative deltas, crossing zero. */
	assert_int_equal(cat_store_incr(s, &k, -50, &r, &v3), 0);
	assert_true(r == -8);
	assert_true(v3 > v2);
	assert_text(s, "ctr", "-8");
	assert_int_equal(cat_store_incr(s, &k, 8, &r, &v3), 0);
	assert_true(r == 0);
	assert_text(s, "ctr", "0");
	assert_int_equal(cat_store_incr(s, &k, 0, &r, &v3), 0);
	assert_true(r == 0);
	assert_text(s, "ctr", "0");

	/* Counts from a PUT of decimal text. */
	put_str(s, "ctr", "1000");
	assert_int_equal(cat_store_incr(s, &k, 1, &r, &v3), 0);
	assert_true(r == 1001);
	assert_text(s, "ctr", "1001");
	put_str(s, "ctr", "-77");
	assert_int_equal(cat_store_incr(s, &k, -3, &r, &v3), 0);
	assert_true(r == -80);
	assert_text(s, "ctr", "-80");

	/* Zero delta on an absent key creates "0". */
	key_of(s, &k, "zero");
	assert_int_equal(cat_store_incr(s, &k, 0, &r, &v3), 0);
	assert_true(r == 0);
	assert_text(s, "zero", "0");
	key_of(s, &k, "neg");
	assert_int_equal(cat_store_incr(s, &k, -9, &r, &v3), 0);
	assert_true(r == -9);
	assert_text(s, "neg", "-9");
}

static void test_incr_not_a_number(void **state)
{
	struct cat_store *s = S(state);
	struct cat_key k;
	int64_t r;
	uint64_t v;
	struct { const char *p; uint32_t n; } bad[] = {
		{ "abc", 3 }, { "", 0 }, { "12a", 3 }, { "1.5", 3 },
		{ "-", 1 }, { "12\0", 3 }, { "0x10", 4 }, { "1 2", 3 },
		{ "--1", 3 },
	};

	key_of(s, &k, "nan");
	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		uint64_t pv;
		assert_int_equal(cat_store_put(s, &k, bad[i].p, bad[i].n, &pv),
				 0);
		int rc = cat_store_incr(s, &k, 1, &r, &v);
		if (rc != -EDOM)
			fail_msg("incr on \"%.*s\" (%u bytes): rc %d, want "
				 "-EDOM", (int)bad[i].n, bad[i].p, bad[i].n,
				 rc);
		/* Nothing changed. */
		assert_value(s, "nan", bad[i].p, bad[i].n, pv);
		assert_true(cat_store_slot_version(s, k.slot) == pv);
	}

	/* Text beyond int64 is not a decimal int64 either (EDOM or ERANGE
	 * are both fair); it must never be silently wrapped or clamped. */
	const char *huge[] = { "9223372036854775808", "-9223372036854775809",
			       "99999999999999999999999999999999" };
	for (size_t i = 0; i < ARRAY_LEN(huge); i++) {
		uint64_t pv = put_str(s, "nan", huge[i]);
		int rc = cat_store_incr(s, &k, 1, &r, &v);
		assert_true(rc == -EDOM || rc == -ERANGE);
		assert_value(s, "nan", huge[i], (uint32_t)strlen(huge[i]), pv);
	}
}

static void test_incr_overflow(void **state)
{
	struct cat_store *s = S(state);
	struct cat_key k;
	int64_t r;
	uint64_t v, pv;

	key_of(s, &k, "big");
	pv = put_str(s, "big", "9223372036854775807");
	assert_int_equal(cat_store_incr(s, &k, 1, &r, &v), -ERANGE);
	assert_int_equal(cat_store_incr(s, &k, INT64_MAX, &r, &v), -ERANGE);
	assert_text(s, "big", "9223372036854775807");
	assert_true(cat_store_slot_version(s, k.slot) == pv);
	assert_int_equal(cat_store_incr(s, &k, 0, &r, &v), 0);
	assert_true(r == INT64_MAX);
	assert_int_equal(cat_store_incr(s, &k, INT64_MIN, &r, &v), 0);
	assert_true(r == -1);
	assert_text(s, "big", "-1");

	/* Down to INT64_MIN exactly, printed correctly, then one past. */
	key_of(s, &k, "small");
	put_str(s, "small", "-9223372036854775807");
	assert_int_equal(cat_store_incr(s, &k, -1, &r, &v), 0);
	assert_true(r == INT64_MIN);
	assert_text(s, "small", "-9223372036854775808");
	pv = v;
	assert_int_equal(cat_store_incr(s, &k, -1, &r, &v), -ERANGE);
	assert_int_equal(cat_store_incr(s, &k, INT64_MIN, &r, &v), -ERANGE);
	assert_text(s, "small", "-9223372036854775808");
	assert_true(cat_store_slot_version(s, k.slot) == pv);
	/* INT64_MIN parses back as a number. */
	assert_int_equal(cat_store_incr(s, &k, INT64_MAX, &r, &v), 0);
	assert_true(r == -1);

	/* From absent: the delta itself is the result, at both extremes. */
	key_of(s, &k, "absent-max");
	assert_int_equal(cat_store_incr(s, &k, INT64_MAX, &r, &v), 0);
	assert_true(r == INT64_MAX);
	assert_text(s, "absent-max", "9223372036854775807");
	assert_int_equal(cat_store_incr(s, &k, 1, &r, &v), -ERANGE);
	key_of(s, &k, "absent-min");
	assert_int_equal(cat_store_incr(s, &k, INT64_MIN, &r, &v), 0);
	assert_true(r == INT64_MIN);
	assert_text(s, "absent-min", "-9223372036854775808");
}

/* ---- memory limit ---- */

static void test_item_size(void **state)
{
	(void)state;
	assert_true(cat_store_item_size(0, 0) >= sizeof(struct cat_item));
	assert_true(cat_store_item_size(10, 20) >=
		    sizeof(struct cat_item) + 30);
	assert_true(cat_store_item_size(250, 1182) >=
		    sizeof(struct cat_item) + 1432);
	assert_true(cat_store_item_size(10, 21) >= cat_store_item_size(10, 20));
}

static void test_mem_accounting(void **state)
{
	struct cat_store *s = S(state);
	struct cat_key k;
	uint64_t v;
	char val[100];

	memset(val, 'v', sizeof(val));
	assert_true(cat_store_mem_used(s) == 0);
	key_of(s, &k, "m1");
	assert_int_equal(cat_store_put(s, &k, val, 10, &v), 0);
	assert_true(cat_store_mem_used(s) == cat_store_item_size(2, 10));
	key_of(s, &k, "m22");
	assert_int_equal(cat_store_put(s, &k, val, 100, &v), 0);
	assert_true(cat_store_mem_used(s) ==
		    cat_store_item_size(2, 10) + cat_store_item_size(3, 100));

	/* A replace holds both items until the grace period. */
	assert_int_equal(cat_store_put(s, &k, val, 50, &v), 0);
	assert_true(cat_store_mem_used(s) >=
		    cat_store_item_size(2, 10) + cat_store_item_size(3, 50));
	grace_period();
	assert_true(cat_store_mem_used(s) ==
		    cat_store_item_size(2, 10) + cat_store_item_size(3, 50));

	assert_int_equal(cat_store_del(s, &k, NULL), 0);
	key_of(s, &k, "m1");
	assert_int_equal(cat_store_del(s, &k, NULL), 0);
	grace_period();
	assert_true(cat_store_mem_used(s) == 0);
}

static void test_mem_limit(void **state)
{
	struct fixture *f = *state;
	const int n = 20;
	const uint32_t vlen = 64;
	char keys[20][32], val[64];
	struct cat_key k;
	uint64_t v;
	int64_t r;

	/* Keys all of length 4 ("L000".."L019") so items are the same size. */
	for (int i = 0; i < n; i++)
		snprintf(keys[i], 32, "L%03d", i);
	size_t isz = cat_store_item_size(4, vlen);
	f->s = mk_store(4, (uint64_t)n * isz);
	struct cat_store *s = f->s;
	memset(val, 'm', sizeof(val));

	/* Exactly at the limit is allowed; one byte over is not. */
	for (int i = 0; i < n; i++) {
		key_of(s, &k, keys[i]);
		assert_int_equal(cat_store_put(s, &k, val, vlen, &v), 0);
	}
	assert_true(cat_store_mem_used(s) == (uint64_t)n * isz);

	uint64_t keys_before = 0, ver_before[4];
	for (uint32_t sl = 0; sl < 4; sl++) {
		keys_before += cat_store_slot_keys(s, sl);
		ver_before[sl] = cat_store_slot_version(s, sl);
	}
	assert_true(keys_before == (uint64_t)n);

	key_of(s, &k, "Lnew");
	assert_int_equal(cat_store_put(s, &k, "", 0, &v), -ENOSPC);
	assert_int_equal(cat_store_cas(s, &k, 0, "x", 1, &v), -ENOSPC);
	assert_int_equal(cat_store_incr(s, &k, 1, &r, &v), -ENOSPC);
	assert_absent(s, "Lnew");
	key_of(s, &k, keys[0]);
	/* Replacing also needs a new item while the old one is held. */
	assert_int_equal(cat_store_put(s, &k, val, vlen, &v), -ENOSPC);
	assert_int_equal(cat_store_cas_value(s, &k, val, vlen, val, vlen, &v),
			 -ENOSPC);
	assert_value(s, keys[0], val, vlen, 0);
	/* A refused write changes nothing. */
	for (uint32_t sl = 0; sl < 4; sl++)
		assert_true(cat_store_slot_version(s, sl) == ver_before[sl]);
	assert_true(cat_store_mem_used(s) == (uint64_t)n * isz);

	/* Delete half: the memory comes back once a grace period passes. */
	for (int i = 0; i < n / 2; i++) {
		key_of(s, &k, keys[i]);
		assert_int_equal(cat_store_del(s, &k, NULL), 0);
	}
	grace_period();
	assert_true(cat_store_mem_used(s) == (uint64_t)(n - n / 2) * isz);
	for (int i = 0; i < n / 2; i++) {
		key_of(s, &k, keys[i]);
		assert_int_equal(cat_store_put(s, &k, val, vlen, &v), 0);
	}
	key_of(s, &k, "Lnew");
	assert_int_equal(cat_store_put(s, &k, val, vlen, &v), -ENOSPC);

	/* Delete everything; then the whole limit is usable again. */
	for (int i = 0; i < n; i++) {
		key_of(s, &k, keys[i]);
		assert_int_equal(cat_store_del(s, &k, NULL), 0);
	}
	grace_period();
	assert_true(cat_store_mem_used(s) == 0);
	for (int i = 0; i < n; i++) {
		key_of(s, &k, keys[i]);
		assert_int_equal(cat_store_put(s, &k, val, vlen, &v), 0);
	}
	key_of(s, &k, "Lnew");
	assert_int_equal(cat_store_put(s, &k, val, vlen, &v), -ENOSPC);
}

/* Items that were deleted or replaced stay accounted until their grace
 * period has passed (store.h: mem_used includes "ones awaiting free"), so
 * the limit bounds real memory even while a reader holds a grace period
 * back. Here the main thread is online and never quiescent, so no grace
 * period can pass between the delete and the put. */
static void test_mem_counts_items_awaiting_free(void **state)
{
	struct fixture *f = *state;
	char keys[4][32] = { "A000", "A001", "A002", "A003" };
	size_t isz = cat_store_item_size(4, 10);
	struct cat_key k;
	uint64_t v;

	f->s = mk_store(4, 4 * isz);
	struct cat_store *s = f->s;
	for (int i = 0; i < 4; i++) {
		key_of(s, &k, keys[i]);
		assert_int_equal(cat_store_put(s, &k, "0123456789", 10, &v), 0);
	}
	key_of(s, &k, keys[0]);
	assert_int_equal(cat_store_del(s, &k, NULL), 0);
	assert_true(cat_store_mem_used(s) == 4 * isz);
	assert_int_equal(cat_store_put(s, &k, "0123456789", 10, &v), -ENOSPC);

	grace_period();
	assert_true(cat_store_mem_used(s) == 3 * isz);
	assert_int_equal(cat_store_put(s, &k, "0123456789", 10, &v), 0);
	assert_true(cat_store_mem_used(s) == 4 * isz);
}

static void test_mem_limit_zero_means_none(void **state)
{
	struct fixture *f = *state;
	struct cat_key k;
	uint64_t v;
	static char val[4096];

	f->s = mk_store(2, 0);
	for (int i = 0; i < 2000; i++) {
		char key[16];
		snprintf(key, sizeof(key), "z%d", i);
		key_of(f->s, &k, key);
		assert_int_equal(cat_store_put(f->s, &k, val, sizeof(val), &v),
				 0);
	}
}

/* ---- per-slot operations ---- */

#define NSLOT 16
#define PER_SLOT 40

struct visit {
	uint32_t slot;
	int count;
	int bad;
	int seen[PER_SLOT];
	char (*keys)[32];
	int stop_after;
};

static int visit_fn(const struct cat_item *it, void *arg)
{
	struct visit *vi = arg;

	vi->count++;
	/* Recompute the slot of what we are shown. */
	uint32_t crc = cat_hash_crc32c(cat_item_key(it), it->key_len);
	if (cat_hash_slot(crc, NSLOT) != vi->slot)
		vi->bad++;
	int found = 0;
	for (int i = 0; i < PER_SLOT; i++) {
		if (strlen(vi->keys[i]) == it->key_len &&
		    !memcmp(vi->keys[i], cat_item_key(it), it->key_len)) {
			vi->seen[i]++;
			found = 1;
			/* Value was written as the key itself. */
			if (it->value_len != it->key_len ||
			    memcmp(cat_item_value(it), cat_item_key(it),
				   it->key_len))
				vi->bad++;
		}
	}
	if (!found)
		vi->bad++;
	if (vi->stop_after && vi->count == vi->stop_after)
		return 7;
	return 0;
}

static char slot_keys_tab[NSLOT][PER_SLOT][32];

static void fill_slots(struct cat_store *s)
{
	for (uint32_t sl = 0; sl < NSLOT; sl++) {
		char prefix[16];
		snprintf(prefix, sizeof(prefix), "s%u-", sl);
		keys_in_slot(s, sl, prefix, slot_keys_tab[sl], PER_SLOT);
		for (int i = 0; i < PER_SLOT; i++)
			put_str(s, slot_keys_tab[sl][i], slot_keys_tab[sl][i]);
	}
}

static void test_slot_foreach(void **state)
{
	struct cat_store *s = S(state);

	fill_slots(s);
	for (uint32_t sl = 0; sl < NSLOT; sl++) {
		struct visit vi = { .slot = sl, .keys = slot_keys_tab[sl] };
		assert_int_equal(cat_store_slot_foreach(s, sl, visit_fn, &vi),
				 0);
		assert_int_equal(vi.bad, 0);
		assert_int_equal(vi.count, PER_SLOT);
		for (int i = 0; i < PER_SLOT; i++)
			assert_int_equal(vi.seen[i], 1);
		assert_int_equal(cat_store_slot_keys(s, sl), PER_SLOT);
	}

	/* A non-zero return stops the walk and is returned. */
	struct visit vi = { .slot = 3, .keys = slot_keys_tab[3],
			    .stop_after = 5 };
	assert_int_equal(cat_store_slot_foreach(s, 3, visit_fn, &vi), 7);
	assert_int_equal(vi.count, 5);

	/* Deleted keys are no longer visited; replaced ones once. */
	struct cat_key k;
	for (int i = 0; i < PER_SLOT; i += 2) {
		key_of(s, &k, slot_keys_tab[9][i]);
		assert_int_equal(cat_store_del(s, &k, NULL), 0);
	}
	for (int i = 1; i < PER_SLOT; i += 2)
		put_str(s, slot_keys_tab[9][i], slot_keys_tab[9][i]);
	struct visit v9 = { .slot = 9, .keys = slot_keys_tab[9] };
	assert_int_equal(cat_store_slot_foreach(s, 9, visit_fn, &v9), 0);
	assert_int_equal(v9.bad, 0);
	assert_int_equal(v9.count, PER_SLOT / 2);
	for (int i = 0; i < PER_SLOT; i++)
		assert_int_equal(v9.seen[i], i % 2);
	assert_int_equal(cat_store_slot_keys(s, 9), PER_SLOT / 2);
}

static int count_fn(const struct cat_item *it, void *arg)
{
	(void)it;
	(*(int *)arg)++;
	return 0;
}

static void test_slot_foreach_empty(void **state)
{
	struct cat_store *s = S(state);
	int n = 0;

	for (uint32_t sl = 0; sl < NSLOT; sl++)
		assert_int_equal(cat_store_slot_foreach(s, sl, count_fn, &n), 0);
	assert_int_equal(n, 0);
}

static void test_slot_clear(void **state)
{
	struct cat_store *s = S(state);
	struct cat_key k;

	fill_slots(s);
	uint64_t mem_before = cat_store_mem_used(s);
	uint64_t ver_before = cat_store_slot_version(s, 6);
	size_t slot_bytes = 0;
	for (int i = 0; i < PER_SLOT; i++) {
		size_t l = strlen(slot_keys_tab[6][i]);
		slot_bytes += cat_store_item_size((uint32_t)l, (uint32_t)l);
	}

	cat_store_slot_clear(s, 6);
	assert_int_equal(cat_store_slot_keys(s, 6), 0);
	int n = 0;
	assert_int_equal(cat_store_slot_foreach(s, 6, count_fn, &n), 0);
	assert_int_equal(n, 0);
	for (int i = 0; i < PER_SLOT; i++)
		assert_absent(s, slot_keys_tab[6][i]);

	/* Every other slot is untouched. */
	for (uint32_t sl = 0; sl < NSLOT; sl++) {
		if (sl == 6)
			continue;
		assert_int_equal(cat_store_slot_keys(s, sl), PER_SLOT);
		for (int i = 0; i < PER_SLOT; i++) {
			const char *key = slot_keys_tab[sl][i];
			assert_value(s, key, key, (uint32_t)strlen(key), 0);
		}
	}

	/* The cleared items' memory is returned after a grace period. */
	grace_period();
	assert_true(cat_store_mem_used(s) == mem_before - slot_bytes);

	/* The slot is usable again, and versions keep increasing. */
	uint64_t v = put_str(s, slot_keys_tab[6][0], "back");
	assert_true(v > ver_before);
	assert_int_equal(cat_store_slot_keys(s, 6), 1);

	/* Clearing an empty slot is harmless. */
	cat_store_slot_clear(s, 6);
	cat_store_slot_clear(s, 6);
	assert_int_equal(cat_store_slot_keys(s, 6), 0);
	key_of(s, &k, slot_keys_tab[6][0]);
	assert_int_equal(cat_store_get(s, &k, &(const struct cat_item *){0}),
			 -ENOENT);
}

static void test_slot_keys_counts(void **state)
{
	struct cat_store *s = S(state);
	char keys[10][32];
	struct cat_key k;
	uint64_t v;
	int64_t r;

	keys_in_slot(s, 2, "cnt", keys, 10);
	assert_int_equal(cat_store_slot_keys(s, 2), 0);
	for (int i = 0; i < 5; i++)
		put_str(s, keys[i], "a");
	assert_int_equal(cat_store_slot_keys(s, 2), 5);
	for (int i = 0; i < 5; i++)
		put_str(s, keys[i], "b"); /* replaces do not count */
	assert_int_equal(cat_store_slot_keys(s, 2), 5);
	key_of(s, &k, keys[5]);
	assert_int_equal(cat_store_cas(s, &k, 0, "c", 1, &v), 0);
	assert_int_equal(cat_store_slot_keys(s, 2), 6);
	assert_int_equal(cat_store_cas(s, &k, v, "d", 1, &v), 0);
	assert_int_equal(cat_store_slot_keys(s, 2), 6);
	key_of(s, &k, keys[6]);
	assert_int_equal(cat_store_incr(s, &k, 1, &r, &v), 0);
	assert_int_equal(cat_store_incr(s, &k, 1, &r, &v), 0);
	assert_int_equal(cat_store_slot_keys(s, 2), 7);
	/* Failed writes do not count. */
	key_of(s, &k, keys[7]);
	assert_int_equal(cat_store_cas(s, &k, 3, "x", 1, &v), -ECANCELED);
	assert_int_equal(cat_store_cas_value(s, &k, "a", 1, "x", 1, &v),
			 -ENOENT);
	assert_int_equal(cat_store_del(s, &k, NULL), -ENOENT);
	assert_int_equal(cat_store_slot_keys(s, 2), 7);
	for (int i = 0; i < 3; i++) {
		key_of(s, &k, keys[i]);
		assert_int_equal(cat_store_del(s, &k, NULL), 0);
	}
	assert_int_equal(cat_store_slot_keys(s, 2), 4);
	for (uint32_t sl = 0; sl < NSLOT; sl++)
		if (sl != 2)
			assert_int_equal(cat_store_slot_keys(s, sl), 0);
}

/* Enough keys to make the tables resize, in one slot and spread. */
static void test_many_keys(void **state)
{
	struct fixture *f = *state;
	const int n = 20000;
	struct cat_key k;
	uint64_t v;
	char key[32], val[32];

	for (int pass = 0; pass < 2; pass++) {
		uint32_t slots = pass ? 64 : 1;
		f->s = mk_store(slots, 0);
		for (int i = 0; i < n; i++) {
			int l = snprintf(key, sizeof(key), "key:%d", i);
			int vl = snprintf(val, sizeof(val), "val:%d", i * 3);
			cat_store_key(f->s, &k, key, (uint16_t)l);
			assert_int_equal(cat_store_put(f->s, &k, val,
						       (uint32_t)vl, &v), 0);
			if (i % 1024 == 0)
				rcu_quiescent_state();
		}
		uint64_t total = 0;
		int visited = 0;
		for (uint32_t sl = 0; sl < slots; sl++) {
			total += cat_store_slot_keys(f->s, sl);
			assert_int_equal(cat_store_slot_foreach(f->s, sl, count_fn,
								&visited), 0);
		}
		assert_true(total == (uint64_t)n);
		assert_int_equal(visited, n);
		/* The tables sized themselves on the writes: at most 3/4
		 * of a table's 7 entries per bucket are in use. */
		for (uint32_t sl = 0; sl < slots; sl++)
			assert_true(cat_store_slot_buckets(f->s, sl) * 7 * 3 >=
				    cat_store_slot_keys(f->s, sl) * 4);
		for (int i = 0; i < n; i += 2) {
			int l = snprintf(key, sizeof(key), "key:%d", i);
			cat_store_key(f->s, &k, key, (uint16_t)l);
			assert_int_equal(cat_store_del(f->s, &k, NULL), 0);
		}
		for (int i = 0; i < n; i++) {
			const struct cat_item *it;
			int l = snprintf(key, sizeof(key), "key:%d", i);
			int vl = snprintf(val, sizeof(val), "val:%d", i * 3);
			cat_store_key(f->s, &k, key, (uint16_t)l);
			int rc = cat_store_get(f->s, &k, &it);
			if (i % 2 == 0) {
				assert_int_equal(rc, -ENOENT);
			} else {
				assert_int_equal(rc, 0);
				assert_int_equal(it->value_len, vl);
				assert_memory_equal(cat_item_value(it), val, vl);
			}
		}
		destroy_offline(f->s);
		f->s = NULL;
	}
}

static int put_n(struct cat_store *s, uint32_t slot, int from, int to)
{
	char keys[1][32];
	struct cat_key k;
	uint64_t v;

	for (int i = from; i < to; i++) {
		char prefix[16];

		snprintf(prefix, sizeof(prefix), "m%d-", i);
		keys_in_slot(s, slot, prefix, keys, 1);
		key_of(s, &k, keys[0]);
		if (cat_store_put(s, &k, "v", 1, &v) != 0)
			return -1;
	}
	return 0;
}

static int del_n(struct cat_store *s, uint32_t slot, int from, int to)
{
	char keys[1][32];
	struct cat_key k;

	for (int i = from; i < to; i++) {
		char prefix[16];

		snprintf(prefix, sizeof(prefix), "m%d-", i);
		keys_in_slot(s, slot, prefix, keys, 1);
		key_of(s, &k, keys[0]);
		if (cat_store_del(s, &k, NULL) != 0)
			return -1;
	}
	return 0;
}

static int key_found(struct cat_store *s, uint32_t slot, int i)
{
	char keys[1][32], prefix[16];
	struct cat_key k;
	const struct cat_item *it;

	snprintf(prefix, sizeof(prefix), "m%d-", i);
	keys_in_slot(s, slot, prefix, keys, 1);
	key_of(s, &k, keys[0]);
	return cat_store_get(s, &k, &it) == 0;
}

/* A slot's table appears with its first key, grows on the owner's writes
 * so that it is never more than 3/4 full, shrinks when it falls below
 * 1/16, and goes when the slot is empty; every key survives each move. */
static void test_tables_grow_and_shrink_by_themselves(void **state)
{
	struct fixture *f = *state;
	uint64_t grown;

	f->s = mk_store(1, 0);
	assert_true(cat_store_slot_buckets(f->s, 0) == 0);
	assert_int_equal(put_n(f->s, 0, 0, 1), 0);
	assert_true(cat_store_slot_buckets(f->s, 0) == 2);
	for (int i = 1; i < 300; i++) {
		uint64_t b;

		assert_int_equal(put_n(f->s, 0, i, i + 1), 0);
		b = cat_store_slot_buckets(f->s, 0);
		assert_true((uint64_t)(i + 1) * 4 <= b * 7 * 3);
		assert_true((b & (b - 1)) == 0);
	}
	grown = cat_store_slot_buckets(f->s, 0);
	assert_true(grown >= 64);
	for (int i = 0; i < 300; i++)
		assert_true(key_found(f->s, 0, i));
	/* Nothing for a maintainer to do any more. */
	assert_int_equal(cat_store_maintain(f->s, 0), 0);
	assert_true(cat_store_slot_buckets(f->s, 0) == grown);
	assert_int_equal(del_n(f->s, 0, 1, 300), 0);          /* 1 key left */
	assert_true(cat_store_slot_buckets(f->s, 0) < grown);
	assert_true(key_found(f->s, 0, 0));
	for (int i = 1; i < 300; i++)
		assert_false(key_found(f->s, 0, i));
	assert_int_equal(del_n(f->s, 0, 0, 1), 0);
	assert_true(cat_store_slot_buckets(f->s, 0) == 0);
	assert_false(key_found(f->s, 0, 0));
	/* And it comes back for the next key. */
	assert_int_equal(put_n(f->s, 0, 7, 8), 0);
	assert_true(key_found(f->s, 0, 7));
	assert_true(cat_store_slot_buckets(f->s, 0) == 2);
}

/* Keys that collide on their home bucket spill into the next buckets and
 * stay findable while their neighbours come and go (the overflow counts
 * must not let a lookup stop short). */
static void test_overflowing_bucket_keeps_keys_findable(void **state)
{
	struct fixture *f = *state;
	enum { N = 10 };   /* > 7 entries: two buckets' worth at least */
	char keys[200][32];
	int n = 0, live[N];
	struct cat_key k;
	uint64_t v, home = 0;

	f->s = mk_store(1, 0);
	/* Ten keys sharing their low hash bits: one home bucket in the
	 * slot's 2-bucket table (10 keys fit it at 3/4), so three spill. */
	for (int i = 0; n < N && i < 100000; i++) {
		char key[32];

		snprintf(key, sizeof(key), "ov%d", i);
		key_of(f->s, &k, key);
		if (n == 0)
			home = k.hash & 7;
		if ((k.hash & 7) != home)
			continue;
		snprintf(keys[n++], sizeof(keys[0]), "%s", key);
	}
	assert_int_equal(n, N);
	for (int i = 0; i < N; i++) {
		key_of(f->s, &k, keys[i]);
		assert_int_equal(cat_store_put(f->s, &k, "x", 1, &v), 0);
		live[i] = 1;
	}
	assert_true(cat_store_slot_buckets(f->s, 0) == 2);
	/* Remove the ones in the home bucket: the spilled ones stay. */
	for (int i = 0; i < N; i += 2) {
		key_of(f->s, &k, keys[i]);
		assert_int_equal(cat_store_del(f->s, &k, NULL), 0);
		live[i] = 0;
		for (int j = 0; j < N; j++) {
			const struct cat_item *it;

			key_of(f->s, &k, keys[j]);
			assert_int_equal(cat_store_get(f->s, &k, &it) == 0,
					 live[j]);
		}
	}
	/* Reinsert: they take the freed room and nothing is duplicated. */
	for (int i = 0; i < N; i += 2) {
		key_of(f->s, &k, keys[i]);
		assert_int_equal(cat_store_put(f->s, &k, "y", 1, &v), 0);
	}
	assert_int_equal(cat_store_slot_keys(f->s, 0), N);
	{
		int visited = 0;

		assert_int_equal(cat_store_slot_foreach(f->s, 0, count_fn,
							&visited), 0);
		assert_int_equal(visited, N);
	}
}

/* cat_store_get_bulk answers what cat_store_get answers, key by key:
 * hits, misses, tombstones, spilled keys, keys of different slots. */
static void test_get_bulk_matches_get(void **state)
{
	struct fixture *f = *state;
	enum { N = 3000 };
	static char keys[N][24];
	struct cat_key k[CAT_STORE_BULK_MAX];
	const struct cat_key *kp[CAT_STORE_BULK_MAX];
	const struct cat_item *out[CAT_STORE_BULK_MAX];
	uint64_t v;

	f->s = mk_store(8, 0);
	/* Even keys are stored (every fourth then deleted), odd never. */
	for (int i = 0; i < N; i++) {
		snprintf(keys[i], sizeof(keys[i]), "bulk:%d", i);
		if (i % 2)
			continue;
		key_of(f->s, &k[0], keys[i]);
		assert_int_equal(cat_store_put(f->s, &k[0], keys[i],
					       (uint32_t)strlen(keys[i]), &v), 0);
	}
	cat_store_slot_set_dirty_mode(f->s, 3, 1);
	for (int i = 0; i < N; i += 4) {
		key_of(f->s, &k[0], keys[i]);
		assert_int_equal(cat_store_del(f->s, &k[0], NULL), 0);
	}
	for (unsigned int burst = 1; burst <= CAT_STORE_BULK_MAX; burst += 7) {
		for (int base = 0; base + (int)burst <= N; base += (int)burst) {
			int hits = 0, got;

			for (unsigned int i = 0; i < burst; i++) {
				key_of(f->s, &k[i], keys[base + (int)i]);
				kp[i] = &k[i];
			}
			got = cat_store_get_bulk(f->s, kp, burst, out);
			for (unsigned int i = 0; i < burst; i++) {
				const struct cat_item *one = NULL;
				int rc = cat_store_get(f->s, &k[i], &one);

				assert_true(out[i] == (rc == 0 ? one : NULL));
				hits += rc == 0;
				if (out[i] != NULL)
					assert_memory_equal(cat_item_key(out[i]),
						keys[base + (int)i], k[i].len);
			}
			assert_int_equal(got, hits);
		}
		rcu_quiescent_state();
	}
	assert_int_equal(cat_store_get_bulk(f->s, kp, 0, out), 0);
	assert_int_equal(cat_store_get_bulk(f->s, kp, CAT_STORE_BULK_MAX + 1,
					    out), -EINVAL);
}

/* In a burst the retired items wait for burst_end before call_rcu has
 * them; after it (or after an ordinary write call) rcu_barrier frees them. */
static void test_burst_defers_frees_to_its_end(void **state)
{
	struct fixture *f = *state;
	struct cat_key k;
	uint64_t v;
	size_t isz = cat_store_item_size(3, 1);

	f->s = mk_store(1, 0);
	key_of(f->s, &k, "bst");
	assert_int_equal(cat_store_put(f->s, &k, "a", 1, &v), 0);
	cat_store_burst_begin(f->s);
	for (int i = 0; i < 100; i++)     /* > one batch of retired items */
		assert_int_equal(cat_store_put(f->s, &k, "b", 1, &v), 0);
	grace_period();
	/* 100 retired: those in full batches are freed, the open one not. */
	assert_true(cat_store_mem_used(f->s) > isz);
	assert_true(cat_store_mem_used(f->s) < 101 * isz);
	cat_store_burst_end(f->s);
	grace_period();
	assert_true(cat_store_mem_used(f->s) == isz);
	assert_int_equal(cat_store_put(f->s, &k, "c", 1, &v), 0);
	grace_period();
	assert_true(cat_store_mem_used(f->s) == isz);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			test_tables_grow_and_shrink_by_themselves, setup_empty,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_overflowing_bucket_keeps_keys_findable, setup_empty,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_get_bulk_matches_get, setup_empty,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_burst_defers_frees_to_its_end, setup_empty,
			teardown),
		cmocka_unit_test(test_create_rejects_bad_slot_count),
		cmocka_unit_test_setup_teardown(test_create_valid_slot_counts,
						setup_empty, teardown),
		cmocka_unit_test_setup_teardown(test_key_hashes, setup16,
						teardown),
		cmocka_unit_test_setup_teardown(test_key_bulk_matches_key, setup16,
						teardown),
		cmocka_unit_test_setup_teardown(test_put_get_del, setup16,
						teardown),
		cmocka_unit_test_setup_teardown(test_empty_and_binary_values,
						setup16, teardown),
		cmocka_unit_test_setup_teardown(
			test_item_survives_replace_until_quiescent, setup16,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_versions_strictly_increase_per_slot, setup16,
			teardown),
		cmocka_unit_test_setup_teardown(test_cas_version, setup16,
						teardown),
		cmocka_unit_test_setup_teardown(test_cas_value, setup16,
						teardown),
		cmocka_unit_test_setup_teardown(test_incr_basic, setup16,
						teardown),
		cmocka_unit_test_setup_teardown(test_incr_not_a_number, setup16,
						teardown),
		cmocka_unit_test_setup_teardown(test_incr_overflow, setup16,
						teardown),
		cmocka_unit_test(test_item_size),
		cmocka_unit_test_setup_teardown(test_mem_accounting, setup16,
						teardown),
		cmocka_unit_test_setup_teardown(test_mem_limit, setup_empty,
						teardown),
		cmocka_unit_test_setup_teardown(
			test_mem_counts_items_awaiting_free, setup_empty,
			teardown),
		cmocka_unit_test_setup_teardown(test_mem_limit_zero_means_none,
						setup_empty, teardown),
		cmocka_unit_test_setup_teardown(test_slot_foreach, setup16,
						teardown),
		cmocka_unit_test_setup_teardown(test_slot_foreach_empty,
						setup16, teardown),
		cmocka_unit_test_setup_teardown(test_slot_clear, setup16,
						teardown),
		cmocka_unit_test_setup_teardown(test_slot_keys_counts, setup16,
						teardown),
		cmocka_unit_test_setup_teardown(test_many_keys, setup_empty,
						teardown),
	};
	int rc;

	rcu_register_thread();
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	rcu_unregister_thread();
	return rc;
}
