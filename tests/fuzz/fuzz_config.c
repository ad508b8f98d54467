/*
 * Fuzz target for the two INI config loaders: catena-node's
 * (dataplane/config.c, cat_config_load and cat_config_from_args, on DPDK's
 * rte_cfgfile; no EAL needed, only the parsing functions run) and
 * catena-control's (control/ctl_config.c, cat_ctl_config_load). The input
 * is written to a memfd and both loaders read it by path; the input's
 * first line is also passed as `--set` to cat_config_from_args. Checked:
 * 0 or a negative errno; an error has a one-line, NUL-terminated message;
 * a loaded config has every value inside its documented range (a loader
 * that accepts out-of-range values would let the node run with them).
 * Built by tests/fuzz/run_fuzz.sh config (libFuzzer) and by meson
 * (fuzz-replay-config). Aborts on any broken invariant.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "control/ctl_config.h"
#include "dataplane/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what, const char *detail)
{
	fprintf(stderr, "fuzz_config: %s%s%s\n", what, detail ? ": " : "",
		detail ? detail : "");
	abort();
}

static void check_err(int rc, const char *err, size_t cap)
{
	if (rc > 0)
		fail("positive return", err);
	if (rc == 0)
		return;
	if (memchr(err, '\0', cap) == NULL)
		fail("error message not NUL-terminated", NULL);
	if (err[0] == '\0')
		fail("error without a message", NULL);
	if (strchr(err, '\n') != NULL)
		fail("multi-line error message", err);
}

static int pow2(uint64_t v)
{
	return v != 0 && (v & (v - 1)) == 0;
}

static int terminated(const char *s, size_t cap)
{
	return memchr(s, '\0', cap) != NULL;
}

/* The ranges of config/node.conf and dataplane/config.h. */
static void check_node(const struct cat_config *c)
{
	if (c->node_id < 1 || c->node_id > 65535 || c->udp_port == 0 ||
	    c->port_id > 1023 || c->mtu < 576 || c->mtu > 9000 ||
	    (c->idle != CAT_IDLE_BUSY && c->idle != CAT_IDLE_BACKOFF))
		fail("[node] value out of range", NULL);
	if ((c->slots != 0 && (!pow2(c->slots) || c->slots > 65536)) ||
	    c->mem_limit_mb < 1 || c->mem_limit_mb > 1048576)
		fail("[store] value out of range", NULL);
	if (c->burst < 1 || c->burst > 512 || c->rx_desc < 64 ||
	    c->rx_desc > 16384 || c->tx_desc < 64 || c->tx_desc > 16384 ||
	    c->mbufs < 1023 || c->mbufs > 4194303 ||
	    !pow2(c->handover_ring) || c->handover_ring < 64 ||
	    c->handover_ring > 65536)
		fail("[dataplane] value out of range", NULL);
	if (c->heartbeat_ms < 10 || c->heartbeat_ms > 60000)
		fail("[control] value out of range", NULL);
	if (c->repl_inflight < 16 || c->repl_inflight > 1048576 ||
	    c->repl_dedup < 16 || c->repl_dedup > 16777216 ||
	    c->repl_rto_us < 100 || c->repl_rto_us > 10000000 ||
	    c->repl_suspect_after < 1 || c->repl_suspect_after > 100000 ||
	    c->repl_xfer_rate > 100000000000ull || c->repl_xfer_slots < 1 ||
	    c->repl_xfer_slots > 8)
		fail("[replication] value out of range", NULL);
	if (c->faults.delay_us > 1000000 || c->faults.jitter_us > 1000000 ||
	    c->faults.reorder_pct > 100 || c->faults.drop_pct > 100 ||
	    c->faults.client_replies > 1)
		fail("[faults] value out of range", NULL);
	if (!terminated(c->map_path, sizeof(c->map_path)) ||
	    !terminated(c->control_connect, sizeof(c->control_connect)) ||
	    !terminated(c->path, sizeof(c->path)))
		fail("string not NUL-terminated", NULL);
	if (c->ip != 0 && (c->ip >= 0xE0000000u || (c->ip >> 24) == 127))
		fail("[node] ip is not a unicast host address", NULL);
}

/* The ranges of docs/CONTROL.md and control/ctl_config.h. */
static void check_ctl(const struct cat_ctl_config *c)
{
	if (strcmp(c->store, "file") != 0 && strcmp(c->store, "etcd") != 0)
		fail("store is neither file nor etcd", c->store);
	if (c->heartbeat_timeout_ms < 10 || c->heartbeat_timeout_ms > 600000 ||
	    c->lease_ms < 500 || c->lease_ms > 60000 ||
	    c->replication_factor > 8 ||
	    (c->restore_replicas != 0 && c->restore_replicas != 1))
		fail("[control] value out of range", NULL);
	if (!terminated(c->state_dir, sizeof(c->state_dir)) ||
	    !terminated(c->node_path, sizeof(c->node_path)) ||
	    !terminated(c->node_listen, sizeof(c->node_listen)) ||
	    !terminated(c->mgmt_socket, sizeof(c->mgmt_socket)) ||
	    !terminated(c->initial_map, sizeof(c->initial_map)) ||
	    !terminated(c->etcd_endpoints, sizeof(c->etcd_endpoints)) ||
	    !terminated(c->etcd_prefix, sizeof(c->etcd_prefix)) ||
	    !terminated(c->instance, sizeof(c->instance)))
		fail("string not NUL-terminated", NULL);
	if (c->node_kind == CAT_CTL_LISTEN_TCP && c->node_port == 0)
		fail("tcp listener on port 0", NULL);
	if (c->node_kind == CAT_CTL_LISTEN_UNIX && c->node_path[0] == '\0')
		fail("unix listener without a path", NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd = -1;
	static char path[64];
	struct cat_config nc;
	struct cat_ctl_config cc;
	char err[512], set[256];
	const uint8_t *nl;
	size_t first;
	int rc;

	if (fd < 0) {
		/* A file that lives in memory: no disk, no clean-up. */
		fd = memfd_create("catena-fuzz-config", 0);
		if (fd < 0)
			fail("memfd_create", NULL);
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	}
	if (ftruncate(fd, 0) != 0 ||
	    (size > 0 && pwrite(fd, data, size, 0) != (ssize_t)size))
		fail("cannot write the input file", NULL);

	memset(err, 0x55, sizeof(err));
	cat_config_defaults(&nc);
	rc = cat_config_load(&nc, path, err, sizeof(err));
	check_err(rc, err, sizeof(err));
	if (rc == 0)
		check_node(&nc);

	/* The command line, with the first input line as an override. */
	nl = memchr(data, '\n', size);
	first = nl != NULL ? (size_t)(nl - data) : size;
	if (first < sizeof(set) && memchr(data, '\0', first) == NULL) {
		char *argv[] = { "catena-node", "--config", path, "--set", set,
				 "--ip", "10.0.0.1", NULL };

		memcpy(set, data, first);
		set[first] = '\0';
		memset(err, 0x55, sizeof(err));
		rc = cat_config_from_args(&nc, 7, argv, err, sizeof(err));
		if (rc == 1)
			fail("--help where none was given", err);
		check_err(rc, err, sizeof(err));
		if (rc == 0) {
			check_node(&nc);
			if (nc.ip == 0)
				fail("from_args accepted a config without an ip", NULL);
		}
	}

	memset(err, 0x55, sizeof(err));
	rc = cat_ctl_config_load(path, &cc, err, sizeof(err));
	check_err(rc, err, sizeof(err));
	if (rc == 0)
		check_ctl(&cc);
	return 0;
}
