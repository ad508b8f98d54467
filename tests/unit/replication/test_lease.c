/*
 * Unit tests for read leases (replication/lease.c): a replica may answer
 * reads only while it has heard every other member of the chain at its own
 * epoch within CAT_LEASE_NS.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "replication/lease.h"

#define MS 1000000ull

static struct cat_map *parse(const char *text)
{
	struct cat_map *m = NULL;
	char err[128];

	assert_int_equal(cat_map_parse(text, strlen(text), &m, err, sizeof(err)), 0);
	return m;
}

static const char *map_e2 =
	"epoch 2\nslots 4\ncraq off\n"
	"node 1 10.0.0.1 02:00:00:00:00:01\n"
	"node 2 10.0.0.2 02:00:00:00:00:02\n"
	"node 3 10.0.0.3 02:00:00:00:00:03\n"
	"chain 1 1 2 3\nchain 2 3\nassign 0-1 1\nassign 2-3 2\n";

static void test_every_other_member_must_be_heard_at_our_epoch(void **state)
{
	struct cat_lease l;
	struct cat_map *m = parse(map_e2);
	const struct cat_map_chain *c = &m->chains[0];
	uint64_t t0 = 5000 * MS;

	(void)state;
	cat_lease_init(&l);
	assert_false(cat_lease_valid(&l, m, c, 3, t0));   /* nobody heard */
	cat_lease_heard(&l, m, 1, 2, t0);                     /* node 1 */
	assert_false(cat_lease_valid(&l, m, c, 3, t0));   /* node 2 not yet */
	cat_lease_heard(&l, m, 2, 1, t0);                     /* node 2, epoch 1 */
	assert_false(cat_lease_valid(&l, m, c, 3, t0));
	cat_lease_heard(&l, m, 2, 2, t0 + 50 * MS);           /* node 2, epoch 2 */
	assert_true(cat_lease_valid(&l, m, c, 3, t0 + 60 * MS));
	/* The oldest word decides: node 1 was heard at t0. */
	assert_true(cat_lease_valid(&l, m, c, 3, t0 + CAT_LEASE_NS - 5 * MS));
	assert_false(cat_lease_valid(&l, m, c, 3, t0 + CAT_LEASE_NS + 5 * MS));
	/* A PING at a newer epoch renews nothing of ours. */
	cat_lease_heard(&l, m, 1, 3, t0 + CAT_LEASE_NS);
	assert_false(cat_lease_valid(&l, m, c, 3, t0 + CAT_LEASE_NS + 10 * MS));
	cat_map_free(m);
}

static void test_a_chain_of_one_needs_nobody(void **state)
{
	struct cat_lease l;
	struct cat_map *m = parse(map_e2);

	(void)state;
	cat_lease_init(&l);
	assert_true(cat_lease_valid(&l, m, &m->chains[1], 3, 1 * MS));
	cat_map_free(m);
}

static void test_a_word_stamped_a_little_ahead_still_counts(void **state)
{
	struct cat_lease l;
	struct cat_map *m = parse(map_e2);
	const struct cat_map_chain *c = &m->chains[0];
	uint64_t t0 = 7000 * MS;

	(void)state;
	/* Another worker's clock read a few ms later than ours. */
	cat_lease_init(&l);
	cat_lease_heard(&l, m, 1, 2, t0 + 3 * MS);
	cat_lease_heard(&l, m, 2, 2, t0 + 3 * MS);
	assert_true(cat_lease_valid(&l, m, c, 3, t0));
	cat_map_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_other_member_must_be_heard_at_our_epoch),
		cmocka_unit_test(test_a_chain_of_one_needs_nobody),
		cmocka_unit_test(test_a_word_stamped_a_little_ahead_still_counts),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
