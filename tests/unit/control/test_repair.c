/*
 * Unit tests for cat_ctl_repair_plan (control/repair.c): which replicas
 * a repair re-copies, from one verify's digests. A member at the chain's
 * version with another digest differs; the tail is the reference unless
 * a strict majority at its version says otherwise; members at other
 * versions are writes in flight and are left alone; only the slots asked
 * about are judged.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "control/repair.h"
#include "control/verify.h"
#include "replication/map.h"

/* Chain 1 = 1 2 3 holds slots 0 and 2, chain 2 = 2 3 slots 1 and 3. */
static const char text[] =
	"epoch 4\nslots 4\ncraq off\n"
	"node 1 10.99.0.1 02:ca:7e:00:00:01\n"
	"node 2 10.99.0.2 02:ca:7e:00:00:02\n"
	"node 3 10.99.0.3 02:ca:7e:00:00:03\n"
	"chain 1 1 2 3\nchain 2 2 3\n"
	"assign all roundrobin\n";

struct fx {
	struct cat_map *map;
	struct cat_ctl_verify v;
	struct cat_ctl_digest dg[3][4];
};

static struct fx *fx_new(void)
{
	struct fx *f = calloc(1, sizeof(*f));
	char err[256];

	assert_non_null(f);
	assert_int_equal(cat_map_parse(text, strlen(text), &f->map, err,
				       sizeof(err)), 0);
	for (int k = 0; k < 3; k++) {
		f->v.asked[k] = (uint16_t)(k + 1);
		f->v.answered[k] = 1;
		for (uint32_t s = 0; s < 4; s++)
			f->dg[k][s] = (struct cat_ctl_digest){ s, 10 + s, 1000 + s };
		f->v.dg[k] = f->dg[k];
		f->v.n_dg[k] = 4;
	}
	f->v.n_asked = 3;
	return f;
}

static void fx_free(struct fx *f)
{
	cat_map_free(f->map);
	free(f);
}

static unsigned int plan(struct fx *f, uint32_t first, uint32_t last,
			 struct cat_ctl_fix *fix, uint32_t *n_slots)
{
	uint32_t checked;

	return cat_ctl_repair_plan(f->map, &f->v, first, last, fix, 8, n_slots,
				   &checked);
}

static void agreeing_replicas_need_nothing(void **state)
{
	struct fx *f = fx_new();
	struct cat_ctl_fix fix[8];
	uint32_t n_slots, checked;

	(void)state;
	assert_int_equal(cat_ctl_repair_plan(f->map, &f->v, 0, UINT32_MAX, fix, 8,
					     &n_slots, &checked), 0);
	assert_int_equal(n_slots, 0);
	assert_int_equal(checked, 4);
	fx_free(f);
}

static void a_tail_outvoted_by_the_others_is_repaired(void **state)
{
	struct fx *f = fx_new();
	struct cat_ctl_fix fix[8];
	uint32_t n_slots;

	(void)state;
	f->dg[2][0].digest = 7;   /* node 3, chain 1's tail, slot 0 */
	f->dg[2][2].digest = 8;   /* and slot 2 */
	assert_int_equal(plan(f, 0, UINT32_MAX, fix, &n_slots), 1);
	assert_int_equal(n_slots, 2);
	assert_int_equal(fix[0].chain, 1);
	assert_int_equal(fix[0].node, 3);
	assert_int_equal(fix[0].slots, 2);
	fx_free(f);
}

static void a_middle_that_differs_from_head_and_tail_is_repaired(void **state)
{
	struct fx *f = fx_new();
	struct cat_ctl_fix fix[8];
	uint32_t n_slots;

	(void)state;
	f->dg[1][0].digest = 7;   /* node 2, chain 1's middle */
	assert_int_equal(plan(f, 0, UINT32_MAX, fix, &n_slots), 1);
	assert_int_equal(fix[0].node, 2);
	assert_int_equal(fix[0].chain, 1);
	fx_free(f);
}

static void on_a_tie_the_tail_wins(void **state)
{
	struct fx *f = fx_new();
	struct cat_ctl_fix fix[8];
	uint32_t n_slots;

	(void)state;
	f->dg[1][1].digest = 7;   /* chain 2 = 2 3: its head differs from its tail */
	assert_int_equal(plan(f, 0, UINT32_MAX, fix, &n_slots), 1);
	assert_int_equal(fix[0].chain, 2);
	assert_int_equal(fix[0].node, 2);
	fx_free(f);
}

static void writes_in_flight_are_not_judged(void **state)
{
	struct fx *f = fx_new();
	struct cat_ctl_fix fix[8];
	uint32_t n_slots;

	(void)state;
	/* The head and the middle are ahead of the tail: a write on its
	 * way down the chain, whatever their digests say. */
	f->dg[0][0] = (struct cat_ctl_digest){ 0, 12, 5 };
	f->dg[1][0] = (struct cat_ctl_digest){ 0, 11, 6 };
	assert_int_equal(plan(f, 0, UINT32_MAX, fix, &n_slots), 0);
	assert_int_equal(n_slots, 0);
	fx_free(f);
}

static void only_the_slots_asked_about(void **state)
{
	struct fx *f = fx_new();
	struct cat_ctl_fix fix[8];
	uint32_t n_slots;

	(void)state;
	f->dg[2][0].digest = 7;
	assert_int_equal(plan(f, 1, 3, fix, &n_slots), 0);
	assert_int_equal(plan(f, 0, 0, fix, &n_slots), 1);
	fx_free(f);
}

static void a_node_not_asked_is_left_out(void **state)
{
	struct fx *f = fx_new();
	struct cat_ctl_fix fix[8];
	uint32_t n_slots, checked;

	(void)state;
	/* Node 1 is down: chain 1 compares 2 and 3 only (a tie: the tail
	 * wins, so the middle is the one re-copied). */
	f->v.asked[0] = 9;
	f->dg[1][0].digest = 7;
	assert_int_equal(cat_ctl_repair_plan(f->map, &f->v, 0, UINT32_MAX, fix, 8,
					     &n_slots, &checked), 1);
	assert_int_equal(fix[0].node, 2);
	assert_int_equal(checked, 4);
	fx_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(agreeing_replicas_need_nothing),
		cmocka_unit_test(a_tail_outvoted_by_the_others_is_repaired),
		cmocka_unit_test(a_middle_that_differs_from_head_and_tail_is_repaired),
		cmocka_unit_test(on_a_tie_the_tail_wins),
		cmocka_unit_test(writes_in_flight_are_not_judged),
		cmocka_unit_test(only_the_slots_asked_about),
		cmocka_unit_test(a_node_not_asked_is_left_out),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
