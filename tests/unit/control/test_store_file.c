/*
 * Unit tests for control/store_file.c: an empty store, save and load
 * (a restart), history and marks surviving, epochs never going back, the
 * file being replaced atomically (no temporary left), and corrupt or
 * inconsistent files refused with a reason.
 */
#include <errno.h>
#include <fcntl.h>
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

#include "control/store_file.h"
#include "replication/map.h"

static const char map_text[] =
	"epoch 1\nslots 16\ncraq off\n"
	"node 1 10.99.0.1 02:ca:7e:00:00:01\n"
	"node 2 10.99.0.2 02:ca:7e:00:00:02\n"
	"chain 1 1 2\nassign 0-15 1\n";

struct fixture {
	char dir[128];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	snprintf(f->dir, sizeof(f->dir), "/tmp/test_store_file.XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char p[256];

	snprintf(p, sizeof(p), "%s/map.json", f->dir);
	unlink(p);
	snprintf(p, sizeof(p), "%s/map.json.tmp", f->dir);
	unlink(p);
	snprintf(p, sizeof(p), "%s/map.lock", f->dir);
	unlink(p);
	snprintf(p, sizeof(p), "%s/sub/deeper/map.json", f->dir);
	unlink(p);
	snprintf(p, sizeof(p), "%s/sub/deeper/map.lock", f->dir);
	unlink(p);
	snprintf(p, sizeof(p), "%s/sub/deeper", f->dir);
	rmdir(p);
	snprintf(p, sizeof(p), "%s/sub", f->dir);
	rmdir(p);
	rmdir(f->dir);
	free(f);
	return 0;
}

static struct cat_map *parse_ok(const char *text)
{
	struct cat_map *m = NULL;
	char err[256] = "";

	if (cat_map_parse(text, strlen(text), &m, err, sizeof(err)) != 0)
		fail_msg("parse: %s", err);
	return m;
}

static void write_file(const char *dir, const char *content)
{
	char p[256];
	FILE *fp;

	snprintf(p, sizeof(p), "%s/map.json", dir);
	fp = fopen(p, "w");
	assert_non_null(fp);
	fputs(content, fp);
	fclose(fp);
}

static void test_empty_then_restart(void **state)
{
	struct fixture *f = *state;
	struct cat_ctl_store s, s2;
	struct cat_map *m = parse_ok(map_text), *got = NULL, *m2;
	char err[256], a[1024], b[1024], tmp[256];
	struct stat st;

	assert_int_equal(cat_ctl_store_init(&s, f->dir, err, sizeof(err)), 0);
	assert_int_equal(cat_ctl_store_load(&s, &got, err, sizeof(err)), -ENOENT);
	assert_null(got);
	assert_int_equal(cat_ctl_store_save(&s, m, "initial map", 1000, err,
					    sizeof(err)), 0);
	snprintf(tmp, sizeof(tmp), "%s/map.json.tmp", f->dir);
	assert_int_equal(stat(tmp, &st), -1); /* renamed away */

	/* A new epoch, with a mark. */
	m2 = cat_map_dup(m);
	m2->epoch = 2;
	m2->chains[0].len = 1;
	m2->chains[0].nodes[0] = 2;
	assert_int_equal(cat_ctl_store_set_mark(&s, 1, CAT_CTL_MARK_FAILED), 0);
	assert_int_equal(cat_ctl_store_save(&s, m2, "node 1 failed", 2000, err,
					    sizeof(err)), 0);
	assert_int_equal(s.n_hist, 2);
	cat_ctl_store_fini(&s);

	/* "Restart": a fresh store object reads it all back. */
	assert_int_equal(cat_ctl_store_init(&s2, f->dir, err, sizeof(err)), 0);
	assert_int_equal(cat_ctl_store_load(&s2, &got, err, sizeof(err)), 0);
	assert_int_equal(got->epoch, 2);
	assert_int_equal(cat_map_format(got, a, sizeof(a)) > 0, 1);
	assert_int_equal(cat_map_format(m2, b, sizeof(b)) > 0, 1);
	assert_string_equal(a, b);
	assert_int_equal(s2.epoch, 2);
	assert_int_equal(s2.n_hist, 2);
	assert_int_equal(s2.hist[0].epoch, 1);
	assert_int_equal(s2.hist[0].time, 1000);
	assert_string_equal(s2.hist[0].reason, "initial map");
	assert_int_equal(s2.hist[1].epoch, 2);
	assert_string_equal(s2.hist[1].reason, "node 1 failed");
	assert_int_equal(cat_ctl_store_mark(&s2, 1), CAT_CTL_MARK_FAILED);
	assert_int_equal(cat_ctl_store_mark(&s2, 2), CAT_CTL_MARK_NONE);

	/* Saving the same epoch rewrites marks only; no history entry. */
	assert_int_equal(cat_ctl_store_set_mark(&s2, 1, CAT_CTL_MARK_NONE), 0);
	assert_int_equal(cat_ctl_store_save(&s2, got, "ignored", 3000, err,
					    sizeof(err)), 0);
	assert_int_equal(s2.n_hist, 2);
	/* Going back in epochs is refused and changes nothing. */
	assert_int_equal(cat_ctl_store_save(&s2, m, "old", 4000, err, sizeof(err)),
			 -ESTALE);
	assert_int_equal(s2.n_hist, 2);
	cat_ctl_store_fini(&s2);
	cat_map_free(got);

	assert_int_equal(cat_ctl_store_init(&s2, f->dir, err, sizeof(err)), 0);
	assert_int_equal(cat_ctl_store_load(&s2, &got, err, sizeof(err)), 0);
	assert_int_equal(got->epoch, 2);
	assert_int_equal(cat_ctl_store_mark(&s2, 1), CAT_CTL_MARK_NONE);
	cat_ctl_store_fini(&s2);
	cat_map_free(got);
	cat_map_free(m2);
	cat_map_free(m);
}

static void test_marks_of_forgotten_nodes_dropped(void **state)
{
	struct fixture *f = *state;
	struct cat_ctl_store s;
	struct cat_map *m = parse_ok(map_text), *got;
	char err[256];

	assert_int_equal(cat_ctl_store_init(&s, f->dir, err, sizeof(err)), 0);
	assert_int_equal(cat_ctl_store_set_mark(&s, 9, CAT_CTL_MARK_DRAINED), 0);
	assert_int_equal(cat_ctl_store_set_mark(&s, 2, CAT_CTL_MARK_DRAINED), 0);
	assert_int_equal(cat_ctl_store_save(&s, m, "x", 1, err, sizeof(err)), 0);
	assert_int_equal(cat_ctl_store_mark(&s, 9), CAT_CTL_MARK_NONE);
	cat_ctl_store_fini(&s);
	assert_int_equal(cat_ctl_store_init(&s, f->dir, err, sizeof(err)), 0);
	assert_int_equal(cat_ctl_store_load(&s, &got, err, sizeof(err)), 0);
	assert_int_equal(cat_ctl_store_mark(&s, 2), CAT_CTL_MARK_DRAINED);
	cat_ctl_store_fini(&s);
	cat_map_free(got);
	cat_map_free(m);
}

/* Boot ids survive a restart of catena-control, change in place, and are
 * forgotten with their node; an older document without them loads. */
static void test_boot_ids_survive_and_follow_the_map(void **state)
{
	struct fixture *f = *state;
	struct cat_ctl_store s;
	struct cat_map *m = parse_ok(map_text), *got;
	char err[256];

	assert_int_equal(cat_ctl_store_init(&s, f->dir, err, sizeof(err)), 0);
	assert_int_equal(cat_ctl_store_set_boot(&s, 1, 1111), 1);
	assert_int_equal(cat_ctl_store_set_boot(&s, 1, 1111), 0); /* unchanged */
	assert_int_equal(cat_ctl_store_set_boot(&s, 2, 2222), 1);
	assert_int_equal(cat_ctl_store_set_boot(&s, 9, 9999), 1); /* not in map */
	assert_int_equal(cat_ctl_store_save(&s, m, "x", 1, err, sizeof(err)), 0);
	assert_int_equal(cat_ctl_store_boot(&s, 9), 0);           /* dropped */
	cat_ctl_store_fini(&s);

	assert_int_equal(cat_ctl_store_init(&s, f->dir, err, sizeof(err)), 0);
	assert_int_equal(cat_ctl_store_load(&s, &got, err, sizeof(err)), 0);
	assert_true(cat_ctl_store_boot(&s, 1) == 1111);
	assert_true(cat_ctl_store_boot(&s, 2) == 2222);
	assert_int_equal(cat_ctl_store_set_boot(&s, 2, 3333), 1);
	assert_int_equal(cat_ctl_store_save(&s, got, NULL, 2, err, sizeof(err)), 0);
	cat_ctl_store_fini(&s);
	cat_map_free(got);

	assert_int_equal(cat_ctl_store_init(&s, f->dir, err, sizeof(err)), 0);
	assert_int_equal(cat_ctl_store_load(&s, &got, err, sizeof(err)), 0);
	assert_true(cat_ctl_store_boot(&s, 2) == 3333);
	assert_int_equal(cat_ctl_store_set_boot(&s, 1, 0), 1);    /* forget */
	assert_int_equal(cat_ctl_store_boot(&s, 1), 0);
	cat_ctl_store_fini(&s);
	cat_map_free(got);
	cat_map_free(m);
}

/* The operator's resharding settings survive a restart; without any,
 * the document has no "reshard" member and loads as "none set". */
static void test_reshard_settings_survive(void **state)
{
	struct fixture *f = *state;
	struct cat_ctl_store s;
	struct cat_map *m = parse_ok(map_text), *got;
	char err[256];

	assert_int_equal(cat_ctl_store_init(&s, f->dir, err, sizeof(err)), 0);
	s.reshard.paused = 1;
	s.reshard.rebalance = 1;
	s.reshard.rate_set = 1;
	s.reshard.rate = 3000;
	assert_int_equal(cat_ctl_store_save(&s, m, "x", 1, err, sizeof(err)), 0);
	cat_ctl_store_fini(&s);
	assert_int_equal(cat_ctl_store_init(&s, f->dir, err, sizeof(err)), 0);
	assert_int_equal(cat_ctl_store_load(&s, &got, err, sizeof(err)), 0);
	assert_int_equal(s.reshard.paused, 1);
	assert_int_equal(s.reshard.rebalance, 1);
	assert_int_equal(s.reshard.rate_set, 1);
	assert_true(s.reshard.rate == 3000);
	memset(&s.reshard, 0, sizeof(s.reshard));
	assert_int_equal(cat_ctl_store_save(&s, got, NULL, 2, err, sizeof(err)), 0);
	cat_ctl_store_fini(&s);
	cat_map_free(got);
	assert_int_equal(cat_ctl_store_init(&s, f->dir, err, sizeof(err)), 0);
	assert_int_equal(cat_ctl_store_load(&s, &got, err, sizeof(err)), 0);
	assert_int_equal(s.reshard.paused + s.reshard.rebalance + s.reshard.rate_set, 0);
	cat_ctl_store_fini(&s);
	cat_map_free(got);
	cat_map_free(m);
}

static void test_creates_dir(void **state)
{
	struct fixture *f = *state;
	struct cat_ctl_store s;
	struct cat_map *m = parse_ok(map_text);
	char dir[256], err[256];

	snprintf(dir, sizeof(dir), "%s/sub/deeper", f->dir);
	assert_int_equal(cat_ctl_store_init(&s, dir, err, sizeof(err)), 0);
	assert_int_equal(cat_ctl_store_save(&s, m, "x", 1, err, sizeof(err)), 0);
	cat_ctl_store_fini(&s);
	cat_map_free(m);
}

static void test_corrupt_files(void **state)
{
	static const char *const bad[] = {
		"",
		"not json",
		"[1,2]",
		"{\"epoch\":1}",
		"{\"epoch\":0,\"text\":\"epoch 1\\nslots 1\\nnode 1 10.0.0.1\\nchain 1 1\\nassign 0 1\\n\"}",
		"{\"epoch\":2,\"text\":\"epoch 1\\nslots 1\\nnode 1 10.0.0.1\\nchain 1 1\\nassign 0 1\\n\"}",
		"{\"epoch\":1,\"text\":\"epoch 1\\nslots 1\\n\"}",
		"{\"epoch\":1,\"text\":\"epoch 1\\nslots 1\\nnode 1 10.0.0.1\\nchain 1 1\\nassign 0 1\\n\",\"history\":{}}",
		"{\"epoch\":1,\"text\":\"epoch 1\\nslots 1\\nnode 1 10.0.0.1\\nchain 1 1\\nassign 0 1\\n\",\"history\":[{\"epoch\":1}]}",
		"{\"epoch\":1,\"text\":\"epoch 1\\nslots 1\\nnode 1 10.0.0.1\\nchain 1 1\\nassign 0 1\\n\",\"nodes\":{\"7\":\"failed\"}}",
		"{\"epoch\":1,\"text\":\"epoch 1\\nslots 1\\nnode 1 10.0.0.1\\nchain 1 1\\nassign 0 1\\n\",\"nodes\":{\"1\":\"sleepy\"}}",
		"{\"epoch\":1,\"text\":\"epoch 1\\nslots 1\\nnode 1 10.0.0.1\\nchain 1 1\\nassign 0 1\\n\",\"boots\":[]}",
		"{\"epoch\":1,\"text\":\"epoch 1\\nslots 1\\nnode 1 10.0.0.1\\nchain 1 1\\nassign 0 1\\n\",\"boots\":{\"7\":5}}",
		"{\"epoch\":1,\"text\":\"epoch 1\\nslots 1\\nnode 1 10.0.0.1\\nchain 1 1\\nassign 0 1\\n\",\"boots\":{\"1\":\"5\"}}",
		"{\"epoch\":1,\"text\":\"epoch 1\\nslots 1\\nnode 1 10.0.0.1\\nchain 1 1\\nassign 0 1\\n\",\"boots\":{\"1\":0}}",
		"{\"epoch\":1,\"text\":\"epoch 1\\nslots 1\\nnode 1 10.0.0.1\\nchain 1 1\\nassign 0 1\\n\",\"reshard\":{\"paused\":1,\"rebalance\":false}}",
		"{\"epoch\":1,\"text\":\"epoch 1\\nslots 1\\nnode 1 10.0.0.1\\nchain 1 1\\nassign 0 1\\n\",\"reshard\":{\"paused\":true,\"rebalance\":false,\"rate\":-1}}",
		"{\"epoch\":1,\"text\":\"epoch 1\\nslots 1\\nnode 1 10.0.0.1\\nchain 1 1\\nassign 0 1\\n\",\"history\":[{\"epoch\":1,\"time\":5,\"reason\":\"r\"}],\"nodes\":{\"1\":\"failed\"},\"reshard\":{\"paused\":true,\"rebalance\":false,\"rate\":\"x\"}}",
		"{\"epoch\":1,\"epoch\":1,\"text\":\"epoch 1\\nslots 1\\nnode 1 10.0.0.1\\nchain 1 1\\nassign 0 1\\n\"}",
	};
	struct fixture *f = *state;
	struct cat_ctl_store s;
	struct cat_map *got;
	char err[256];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		write_file(f->dir, bad[i]);
		assert_int_equal(cat_ctl_store_init(&s, f->dir, err, sizeof(err)), 0);
		err[0] = '\0';
		assert_int_equal(cat_ctl_store_load(&s, &got, err, sizeof(err)), -EINVAL);
		assert_null(got);
		assert_non_null(strstr(err, "map.json"));
		/* Nothing of a refused document is kept. */
		assert_int_equal(s.n_hist + s.n_marks + s.n_boots, 0);
		assert_int_equal(s.reshard.paused + s.reshard.rate_set, 0);
		cat_ctl_store_fini(&s);
	}
	/* And the minimal good one loads. */
	write_file(f->dir, "{\"epoch\":1,\"text\":\"epoch 1\\nslots 1\\nnode 1 10.0.0.1\\nchain 1 1\\nassign 0 1\\n\"}");
	assert_int_equal(cat_ctl_store_init(&s, f->dir, err, sizeof(err)), 0);
	assert_int_equal(cat_ctl_store_load(&s, &got, err, sizeof(err)), 0);
	assert_int_equal(got->epoch, 1);
	assert_int_equal(s.n_hist, 0);
	cat_ctl_store_fini(&s);
	cat_map_free(got);
}

static void test_write_failure_keeps_old(void **state)
{
	struct fixture *f = *state;
	struct cat_ctl_store s;
	struct cat_map *m = parse_ok(map_text), *m2 = cat_map_dup(m), *got;
	char err[256], tmp[256];

	/* Root ignores permissions, so the temporary file's name is blocked
	 * with a directory instead. */
	assert_int_equal(cat_ctl_store_init(&s, f->dir, err, sizeof(err)), 0);
	assert_int_equal(cat_ctl_store_save(&s, m, "one", 1, err, sizeof(err)), 0);
	snprintf(tmp, sizeof(tmp), "%s/map.json.tmp", f->dir);
	assert_int_equal(mkdir(tmp, 0700), 0);
	m2->epoch = 2;
	err[0] = '\0';
	assert_true(cat_ctl_store_save(&s, m2, "two", 2, err, sizeof(err)) < 0);
	assert_true(err[0] != '\0');
	assert_int_equal(s.n_hist, 1);
	assert_int_equal(s.epoch, 1);
	assert_int_equal(rmdir(tmp), 0);
	cat_ctl_store_fini(&s);
	assert_int_equal(cat_ctl_store_init(&s, f->dir, err, sizeof(err)), 0);
	assert_int_equal(cat_ctl_store_load(&s, &got, err, sizeof(err)), 0);
	assert_int_equal(got->epoch, 1);
	cat_ctl_store_fini(&s);
	cat_map_free(got);
	cat_map_free(m2);
	cat_map_free(m);
}

static void test_one_writer(void **state)
{
	struct fixture *f = *state;
	struct cat_ctl_store a, b;
	char err[256];

	assert_int_equal(cat_ctl_store_init(&a, f->dir, err, sizeof(err)), 0);
	assert_int_equal(cat_ctl_store_init(&b, f->dir, err, sizeof(err)), -EBUSY);
	assert_non_null(strstr(err, "in use"));
	cat_ctl_store_fini(&b);
	cat_ctl_store_fini(&a);
	assert_int_equal(cat_ctl_store_init(&b, f->dir, err, sizeof(err)), 0);
	cat_ctl_store_fini(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_empty_then_restart, setup, teardown),
		cmocka_unit_test_setup_teardown(test_marks_of_forgotten_nodes_dropped,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_boot_ids_survive_and_follow_the_map,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_reshard_settings_survive, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_creates_dir, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_files, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_failure_keeps_old, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_one_writer, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
