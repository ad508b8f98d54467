/*
 * Unit tests for control/ctl_config.c, catena-control's config reader:
 * every kind of line it refuses names the line and the cause, comments
 * and blanks are skipped, a '#' inside a path is kept, and the values
 * that parse land in the config over the defaults.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "control/ctl_config.h"

static char path[64];

static int load_text(const char *text, struct cat_ctl_config *c, char *err,
		     size_t errlen)
{
	FILE *f;
	int fd;

	snprintf(path, sizeof(path), "/tmp/test_ctl_config.XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	err[0] = '\0';
	fd = cat_ctl_config_load(path, c, err, errlen);
	unlink(path);
	return fd;
}

static void refused_lines_say_where_and_why(void **state)
{
	static const struct { const char *text, *want; } bad[] = {
		{ "[control]\nstore\n", "line 2: expected 'key = value'" },
		{ "store = file\n", "line 1: store: key outside [control]" },
		{ "[node]\n", "line 1: [node]: unknown section (only [control])" },
		{ "[control\n", "line 1: bad section line" },
		{ "[control] x\n", "line 1: bad section line" },
		{ "[control]\nfoo = 1\n", "line 2: [control] foo: unknown key" },
		{ "[control]\nstore = file\n\nstore = etcd\n",
		  "line 4: [control] store: given twice (first on line 2)" },
		{ "[control]\nstate_dir =   # nothing\n",
		  "line 2: [control] state_dir: empty value" },
		{ "[control]\nheartbeat_timeout_ms = 5\n",
		  "line 2: [control] heartbeat_timeout_ms: " },
		{ "[control]\nmetrics_listen = localhost:9470\n",
		  "line 2: [control] metrics_listen: expected IPV4:PORT or off" },
		{ "[control]\nmetrics_listen = 127.0.0.1:0\n",
		  "line 2: [control] metrics_listen: expected IPV4:PORT or off" },
		{ "[control]\nmetrics_listen = 127.0.0.1\n",
		  "line 2: [control] metrics_listen: expected IPV4:PORT or off" },
		{ "[control]\nnode_listen = tcp:1.2.3.4:x\n",
		  "line 2: [control] node_listen: expected unix:PATH or tcp:IPV4:PORT" },
	};
	struct cat_ctl_config c;
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(load_text(bad[i].text, &c, err, sizeof(err)), -EINVAL);
		if (strncmp(err, bad[i].want, strlen(bad[i].want)) != 0)
			fail_msg("case %zu: got \"%s\", want \"%s...\"", i, err,
				 bad[i].want);
	}
}

static void a_long_line_is_refused(void **state)
{
	struct cat_ctl_config c;
	char err[256], *text = malloc(9000);

	(void)state;
	assert_non_null(text);
	strcpy(text, "[control]\nstate_dir = /");
	memset(text + strlen(text), 'a', 8000);
	strcpy(text + 23 + 8000, "\n");
	assert_int_equal(load_text(text, &c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "line 2: longer than"));
	free(text);
}

static void values_over_defaults(void **state)
{
	struct cat_ctl_config c, d;
	char err[256];

	(void)state;
	cat_ctl_config_defaults(&d);
	assert_int_equal(load_text(
		"; a comment\n# another\n\n  [ control ]  ; trailing\n"
		"state_dir = /var/lib/ca#tena  # the '#' before is kept\n"
		"heartbeat_timeout_ms = 750\n"
		"restore_replicas = off\n", &c, err, sizeof(err)), 0);
	assert_string_equal(c.state_dir, "/var/lib/ca#tena");
	assert_int_equal(c.heartbeat_timeout_ms, 750);
	assert_int_equal(c.restore_replicas, 0);
	assert_string_equal(c.store, d.store);
	assert_int_equal(c.metrics_on, 0); /* off unless set */
	assert_string_equal(c.mgmt_socket, d.mgmt_socket);
	assert_int_equal(load_text("[control]\nmetrics_listen = 10.1.2.3:9470\n"
				   "node_listen = tcp:10.0.0.9:7000\n", &c, err,
				   sizeof(err)), 0);
	assert_int_equal(c.metrics_on, 1);
	assert_int_equal(c.metrics_ip, 0x0a010203);
	assert_int_equal(c.metrics_port, 9470);
	assert_int_equal(c.node_kind, CAT_CTL_LISTEN_TCP);
	assert_int_equal(c.node_ip, 0x0a000009);
	assert_int_equal(c.node_port, 7000);
	assert_int_equal(load_text("[control]\nmetrics_listen = off\n", &c, err,
				   sizeof(err)), 0);
	assert_int_equal(c.metrics_on, 0);
	/* An empty file is the defaults. */
	assert_int_equal(load_text("", &c, err, sizeof(err)), 0);
	assert_int_equal(c.heartbeat_timeout_ms, d.heartbeat_timeout_ms);
}

static void a_missing_file_is_its_errno(void **state)
{
	struct cat_ctl_config c;
	char err[256];

	(void)state;
	assert_int_equal(cat_ctl_config_load("/nonexistent/catena.conf", &c, err,
					     sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "No such file"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(refused_lines_say_where_and_why),
		cmocka_unit_test(a_long_line_is_refused),
		cmocka_unit_test(values_over_defaults),
		cmocka_unit_test(a_missing_file_is_its_errno),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
