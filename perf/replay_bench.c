/*
 * perf/replay_bench.c: what a snapshot buys a restart (replication/
 * dsnap.h). Writes KEYS keys WRITES times over (a log of KEYS x WRITES
 * PUTs, as a node's log writer would), takes a snapshot the way the
 * snapshot thread does (rotate, walk slot by slot, commit; no rate limit),
 * then replays the directory twice into fresh stores: the whole log, and
 * the snapshot plus the log after it. Prints one JSON line: bytes of log
 * and snapshot, the walk's time and MB/s, and both replays' times. No
 * DPDK, one thread; the page cache is warm (the numbers are CPU, not disk).
 *
 *   catena-replay-bench [KEYS [WRITES [VALUE_BYTES [DIR]]]]
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "replication/dlog.h"
#include "replication/dlog_apply.h"
#include "replication/dsnap.h"
#include "replication/dsnap_walk.h"
#include "replication/store.h"

#define SLOTS 1024u

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int apply(const struct cat_dlog_rec *r, void *arg)
{
	return cat_dlog_apply(arg, r);
}

static struct cat_store *new_store(void)
{
	const struct cat_store_params sp = { .slot_count = SLOTS };
	struct cat_store *s = cat_store_create(&sp);

	if (s == NULL) {
		perror("cat_store_create");
		exit(1);
	}
	return s;
}

static void drop(struct cat_store *s)
{
	rcu_thread_offline();
	cat_store_destroy(s);
	rcu_thread_online();
}

static void die(const char *what, int rc, const char *err)
{
	fprintf(stderr, "replay_bench: %s: %s %s\n", what, strerror(-rc), err);
	exit(1);
}

int main(int argc, char **argv)
{
	uint64_t keys = argc > 1 ? strtoull(argv[1], NULL, 0) : 100000;
	uint64_t rounds = argc > 2 ? strtoull(argv[2], NULL, 0) : 20;
	uint32_t vlen = argc > 3 ? (uint32_t)strtoul(argv[3], NULL, 0) : 100;
	char dir[256], err[1024], *val = calloc(1, vlen + 1);
	uint8_t *buf = malloc(65536 + vlen);
	struct cat_store *s, *r;
	struct cat_dlog *log;
	struct cat_dsnap_writer *w;
	struct cat_dsnap_buf b = { 0 };
	struct cat_dsnap_recovery rec;
	struct cat_dlog_replay full;
	uint64_t seq, t0, walk_ns, full_ns, snap_bytes, log_bytes, step_max_ns = 0;
	int rc;

	if (argc > 4)
		snprintf(dir, sizeof(dir), "%s", argv[4]);
	else
		snprintf(dir, sizeof(dir), "/var/tmp/catena-replay-XXXXXX");
	if (argc <= 4 && mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	memset(val, 'v', vlen);
	rcu_register_thread();
	s = new_store();
	rc = cat_dlog_open(&log, dir, 1, err, sizeof(err));
	if (rc < 0)
		die("open", rc, err);
	for (uint64_t round = 0; round < rounds; round++)
		for (uint64_t i = 0; i < keys; i++) {
			char key[32];
			struct cat_key k;
			struct cat_dlog_rec d = { .type = CAT_DLOG_PUT };
			uint64_t v;
			ssize_t n;

			snprintf(key, sizeof(key), "key-%012" PRIu64, i);
			cat_store_key(s, &k, key, (uint16_t)strlen(key));
			v = cat_store_slot_version(s, k.slot) + 1;
			if (cat_store_apply_put(s, &k, v, val, vlen) != 0)
				die("put", -ENOMEM, "");
			cat_store_commit(s, &k, v);
			d.slot = (uint16_t)k.slot;
			d.version = v;
			d.key = (const uint8_t *)key;
			d.klen = k.len;
			d.value = (const uint8_t *)val;
			d.vlen = vlen;
			n = cat_dlog_encode(buf, 65536 + vlen, &d);
			rc = cat_dlog_append(log, buf, (size_t)n);
			if (rc < 0)
				die("append", rc, "");
			if ((i & 1023) == 0)
				rcu_quiescent_state();
		}
	log_bytes = cat_dlog_bytes(log);
	/* The snapshot, as durable.c's take_snapshot without the rate limit. */
	t0 = now_ns();
	rc = cat_dlog_rotate(log, &seq);
	if (rc == 0)
		rc = cat_dsnap_begin(&w, dir, 1, seq, SLOTS, err, sizeof(err));
	if (rc < 0)
		die("snapshot", rc, err);
	for (uint32_t slot = 0; slot < SLOTS; slot++) {
		uint64_t t1 = now_ns();

		b.len = 0;
		b.records = 0;
		if (cat_dsnap_walk_slot(s, slot, &b) != 0)
			die("walk", -ENOMEM, "");
		/* The time the snapshot thread is online (holds grace periods
		 * back) for one step. */
		t1 = now_ns() - t1;
		if (t1 > step_max_ns)
			step_max_ns = t1;
		rcu_quiescent_state();
		if (cat_dsnap_write(w, b.p, b.len, b.records) != 0)
			die("walk", -EIO, "");
	}
	snap_bytes = cat_dsnap_bytes(w) + CAT_DSNAP_TRAILER;
	rc = cat_dsnap_commit(w, err, sizeof(err));
	if (rc < 0)
		die("commit", rc, err);
	walk_ns = now_ns() - t0;
	cat_dlog_close(log);

	r = new_store();
	t0 = now_ns();
	rc = cat_dlog_replay(dir, 1, apply, r, &full, err, sizeof(err));
	full_ns = now_ns() - t0;
	if (rc < 0)
		die("full replay", rc, err);
	drop(r);
	r = new_store();
	rc = cat_dsnap_recover(dir, 1, apply, r, &rec, err, sizeof(err));
	if (rc < 0)
		die("recover", rc, err);
	for (uint32_t slot = 0; slot < SLOTS; slot++)
		if (cat_store_slot_digest(s, slot) != cat_store_slot_digest(r, slot)) {
			fprintf(stderr, "replay_bench: slot %u differs\n", slot);
			return 1;
		}
	printf("{\"keys\": %" PRIu64 ", \"writes_per_key\": %" PRIu64 ", \"value_bytes\": %u, "
	       "\"log_bytes\": %" PRIu64 ", \"snapshot_bytes\": %" PRIu64 ", "
	       "\"snapshot_ms\": %.1f, \"snapshot_mb_s\": %.0f, \"online_step_max_us\": %.0f, "
	       "\"replay_whole_log_ms\": %.1f, \"replay_snapshot_ms\": %.1f, "
	       "\"replay_log_after_ms\": %.1f}\n",
	       keys, rounds, vlen, log_bytes, snap_bytes, walk_ns / 1e6,
	       snap_bytes / (walk_ns / 1e9) / 1e6, step_max_ns / 1e3, full_ns / 1e6, rec.snap_ns / 1e6,
	       rec.log_ns / 1e6);
	drop(r);
	drop(s);
	rcu_unregister_thread();
	if (argc <= 4) {
		char cmd[300];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			return 1;
	}
	cat_dsnap_buf_free(&b);
	free(buf);
	free(val);
	return 0;
}
