/*
 * Unit tests for dataplane/portplan.c: the steering decision for every
 * kind of port (flow rules validated, refused, RSS or not, forced modes)
 * and the NUMA placement check. Pure functions: no EAL, no NIC.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "dataplane/portplan.h"

#define RSS_IP_UDP 0xa38c0ull /* any non-zero hash set */

static struct cat_steer_caps caps(uint16_t workers, uint64_t rss, int flow)
{
	struct cat_steer_caps c = {
		.driver = "net_test", .n_workers = workers, .udp_port = 7470,
		.rss_hf = rss, .flow_probe = flow, .flow_why = NULL,
	};
	return c;
}

static enum cat_steer_mode decide_ok(const struct cat_steer_caps *c,
				     enum cat_steer_want w, char *why, size_t len)
{
	enum cat_steer_mode m = (enum cat_steer_mode)-1;

	assert_int_equal(cat_steer_decide(c, w, &m, why, len), 0);
	assert_true(strlen(why) > 0);
	return m;
}

static void test_one_worker_needs_no_steering(void **state)
{
	struct cat_steer_caps c = caps(1, 0, -ENOSYS);
	char why[256];

	(void)state;
	assert_int_equal(decide_ok(&c, CAT_STEER_WANT_AUTO, why, sizeof(why)),
			 CAT_STEER_SINGLE);
	/* Even a forced mode: one queue honours all of them. */
	assert_int_equal(decide_ok(&c, CAT_STEER_WANT_FLOW, why, sizeof(why)),
			 CAT_STEER_SINGLE);
	assert_string_equal(cat_steer_mode_name(CAT_STEER_SINGLE), "single");
}

static void test_validated_flow_rules_win(void **state)
{
	struct cat_steer_caps c = caps(4, RSS_IP_UDP, 0);
	char why[256];

	(void)state;
	assert_int_equal(decide_ok(&c, CAT_STEER_WANT_AUTO, why, sizeof(why)),
			 CAT_STEER_FLOW);
	assert_non_null(strstr(why, "7471..7474"));
	assert_int_equal(decide_ok(&c, CAT_STEER_WANT_FLOW, why, sizeof(why)),
			 CAT_STEER_FLOW);
}

/* af_packet / net_null / net_ring in DPDK 22.11: no rte_flow, no RSS. */
static void test_refused_flow_without_rss_falls_back_to_software(void **state)
{
	struct cat_steer_caps c = caps(2, 0, -ENOSYS);
	char why[256];

	(void)state;
	c.flow_why = "Function not implemented";
	assert_int_equal(decide_ok(&c, CAT_STEER_WANT_AUTO, why, sizeof(why)),
			 CAT_STEER_SOFTWARE);
	assert_true(strlen(why) < 128); /* one telemetry string */
	assert_non_null(strstr(why, "flow rules refused"));
	assert_non_null(strstr(why, "no IPv4/UDP RSS"));
	/* The PMD's message is not repeated when it is the errno's text. */
	assert_null(strstr(why, "implemented: Function"));
}

static void test_refused_flow_with_rss_falls_back_to_rss(void **state)
{
	struct cat_steer_caps c = caps(2, RSS_IP_UDP, -ENOTSUP);
	char why[256];

	(void)state;
	c.flow_why = "pattern not supported";
	assert_int_equal(decide_ok(&c, CAT_STEER_WANT_AUTO, why, sizeof(why)),
			 CAT_STEER_RSS);
	assert_non_null(strstr(why, "pattern not supported"));
}

static void test_unprobed_flow_is_not_assumed(void **state)
{
	struct cat_steer_caps c = caps(2, 0, 1);
	char why[256];

	(void)state;
	assert_int_equal(decide_ok(&c, CAT_STEER_WANT_AUTO, why, sizeof(why)),
			 CAT_STEER_SOFTWARE);
}

static void test_worker_ports_past_65535_rule_out_flow(void **state)
{
	struct cat_steer_caps c = caps(4, RSS_IP_UDP, 0);
	enum cat_steer_mode m;
	char why[256];

	(void)state;
	c.udp_port = 65533;
	assert_int_equal(decide_ok(&c, CAT_STEER_WANT_AUTO, why, sizeof(why)),
			 CAT_STEER_RSS);
	assert_non_null(strstr(why, "65535"));
	assert_int_equal(cat_steer_decide(&c, CAT_STEER_WANT_FLOW, &m, why,
					  sizeof(why)), -ENOTSUP);
}

static void test_forced_modes_the_port_cannot_give_are_refused(void **state)
{
	struct cat_steer_caps c = caps(2, 0, -ENOSYS);
	enum cat_steer_mode m = CAT_STEER_SINGLE;
	char why[256];

	(void)state;
	assert_int_equal(cat_steer_decide(&c, CAT_STEER_WANT_FLOW, &m, why,
					  sizeof(why)), -ENOTSUP);
	assert_non_null(strstr(why, "steering = flow"));
	assert_int_equal(cat_steer_decide(&c, CAT_STEER_WANT_RSS, &m, why,
					  sizeof(why)), -ENOTSUP);
	assert_non_null(strstr(why, "steering = rss"));
	/* Software hand-over needs nothing from the port. */
	assert_int_equal(decide_ok(&c, CAT_STEER_WANT_SOFTWARE, why, sizeof(why)),
			 CAT_STEER_SOFTWARE);
}

static void test_forced_rss_skips_valid_flow_rules(void **state)
{
	struct cat_steer_caps c = caps(2, RSS_IP_UDP, 0);
	char why[256];

	(void)state;
	assert_int_equal(decide_ok(&c, CAT_STEER_WANT_RSS, why, sizeof(why)),
			 CAT_STEER_RSS);
	assert_int_equal(decide_ok(&c, CAT_STEER_WANT_SOFTWARE, why, sizeof(why)),
			 CAT_STEER_SOFTWARE);
}

static void test_want_names_round_trip(void **state)
{
	static const char *const names[] = { "auto", "flow", "rss", "software" };
	enum cat_steer_want w;

	(void)state;
	for (unsigned int i = 0; i < 4; i++) {
		assert_int_equal(cat_steer_want_parse(names[i], &w), 0);
		assert_string_equal(cat_steer_want_name(w), names[i]);
	}
	assert_int_equal(cat_steer_want_parse("RSS", &w), -EINVAL);
	assert_int_equal(cat_steer_want_parse("", &w), -EINVAL);
}

static void test_short_reason_buffer_is_cut_not_overrun(void **state)
{
	struct cat_steer_caps c = caps(2, 0, -ENOSYS);
	enum cat_steer_mode m;
	char why[16 + 1];

	(void)state;
	why[16] = 'X';
	assert_int_equal(cat_steer_decide(&c, CAT_STEER_WANT_AUTO, &m, why, 16), 0);
	assert_int_equal(why[16], 'X');
	assert_int_equal(strlen(why), 15);
}

static void test_numa_all_local_or_unknown(void **state)
{
	int w[3] = { 0, 0, 0 }, any[2] = { CAT_NUMA_ANY, CAT_NUMA_ANY };
	char why[256];

	(void)state;
	assert_int_equal(cat_numa_check(0, 0, w, 3, why, sizeof(why)), 0);
	assert_string_equal(why, "");
	/* A virtual device has no socket: nothing can cross it. */
	w[1] = 1;
	assert_int_equal(cat_numa_check(CAT_NUMA_ANY, 1, w, 3, why, sizeof(why)), 0);
	assert_int_equal(cat_numa_check(0, 0, any, 2, why, sizeof(why)), 0);
}

static void test_numa_crossing_lcores_are_named(void **state)
{
	int w[3] = { 1, 0, 1 };
	char why[256];

	(void)state;
	assert_int_equal(cat_numa_check(0, 1, w, 3, why, sizeof(why)), 3);
	assert_non_null(strstr(why, "port on socket 0"));
	assert_non_null(strstr(why, "main lcore"));
	assert_non_null(strstr(why, "worker 0 on socket 1"));
	assert_non_null(strstr(why, "worker 2 on socket 1"));
	assert_null(strstr(why, "worker 1 "));
	assert_int_equal(cat_numa_check(1, 1, w, 3, why, sizeof(why)), 1);
	assert_non_null(strstr(why, "worker 1 on socket 0"));
}

static void test_numa_memory_goes_with_the_port(void **state)
{
	(void)state;
	assert_int_equal(cat_numa_mem_socket(1, 0), 1);
	assert_int_equal(cat_numa_mem_socket(CAT_NUMA_ANY, 0), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_one_worker_needs_no_steering),
		cmocka_unit_test(test_validated_flow_rules_win),
		cmocka_unit_test(test_refused_flow_without_rss_falls_back_to_software),
		cmocka_unit_test(test_refused_flow_with_rss_falls_back_to_rss),
		cmocka_unit_test(test_unprobed_flow_is_not_assumed),
		cmocka_unit_test(test_worker_ports_past_65535_rule_out_flow),
		cmocka_unit_test(test_forced_modes_the_port_cannot_give_are_refused),
		cmocka_unit_test(test_forced_rss_skips_valid_flow_rules),
		cmocka_unit_test(test_want_names_round_trip),
		cmocka_unit_test(test_short_reason_buffer_is_cut_not_overrun),
		cmocka_unit_test(test_numa_all_local_or_unknown),
		cmocka_unit_test(test_numa_crossing_lcores_are_named),
		cmocka_unit_test(test_numa_memory_goes_with_the_port),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
