/*
 * perf/mem_per_key.c: bytes per key of the catena store (or, with --ref,
 * of the cds_lfht store it replaced) for N keys of 16 bytes with 32-byte
 * values, the keys perf/bench_store.cc uses. Prints one JSON line: what
 * the store accounts (cat_store_mem_used: items only) and what the
 * process really grew by (resident set: items, tables, slab slack).
 * Driven by perf/mem_per_key.sh next to Redis and memcached.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "perf/store_lfht_ref.h"
#include "replication/store.h"

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static long rss_bytes(void)
{
	long pages = 0, resident = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	if (f == NULL)
		return -1;
	if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
		resident = -1;
	fclose(f);
	return resident < 0 ? -1 : resident * sysconf(_SC_PAGESIZE);
}

int main(int argc, char **argv)
{
	unsigned long n;
	int ref = argc > 2 && strcmp(argv[2], "--ref") == 0;
	char key[32];
	uint8_t val[32];
	uint64_t ver, acct, t0, dt, max_put = 0, slow = 0;
	long rss0, rss1;
	struct cat_store *s = NULL;
	struct cat_lfref *r = NULL;

	if (argc < 2 || (n = strtoul(argv[1], NULL, 10)) == 0 ||
	    n > 100000000ul) {
		fprintf(stderr, "usage: %s KEYS [--ref]\n", argv[0]);
		return 64;
	}
	memset(val, 'v', sizeof(val));
	rcu_register_thread();
	rss0 = rss_bytes();
	if (ref) {
		struct cat_lfref_params p = { .slot_count = 1024 };

		r = cat_lfref_create(&p);
	} else {
		struct cat_store_params p = { .slot_count = 1024 };

		s = cat_store_create(&p);
	}
	if (s == NULL && r == NULL) {
		perror("store create");
		return 1;
	}
	for (unsigned long i = 0; i < n; i++) {
		int rc;

		snprintf(key, sizeof(key), "key:%012lu", i);
		t0 = now_ns();
		if (ref) {
			struct cat_lfref_key k;

			cat_lfref_mkkey(r, &k, key, 16);
			rc = cat_lfref_put(r, &k, val, sizeof(val), &ver);
			/* What the node agent did for the old store. */
			if (i >= 4096 && (i & (i - 1)) == 0)
				cat_lfref_maintain(r, 0);
		} else {
			struct cat_key k;

			cat_store_key(s, &k, key, 16);
			rc = cat_store_put(s, &k, val, sizeof(val), &ver);
		}
		/* The slowest put: one that rebuilt its slot's table (the
		 * old store's resizes ran in maintain, not in a put). */
		dt = now_ns() - t0;
		if (dt > max_put)
			max_put = dt;
		slow += dt > 50000;
		if (rc != 0) {
			fprintf(stderr, "put: %s\n", strerror(-rc));
			return 1;
		}
		if ((i & 1023) == 0)
			rcu_quiescent_state();
	}
	if (ref)
		cat_lfref_maintain(r, 0);
	rcu_thread_offline();
	rcu_barrier();
	rcu_thread_online();
	rss1 = rss_bytes();
	acct = ref ? cat_lfref_mem_used(r) : cat_store_mem_used(s);
	printf("{\"store\":\"%s\",\"keys\":%lu,\"key_len\":16,\"value_len\":32,"
	       "\"accounted_bytes\":%llu,\"rss_bytes\":%ld,"
	       "\"accounted_per_key\":%.1f,\"rss_per_key\":%.1f,"
	       "\"max_put_ns\":%llu,\"puts_over_50us\":%llu}\n",
	       ref ? "catena_lfht_ref" : "catena", n,
	       (unsigned long long)acct, rss1 - rss0, (double)acct / (double)n,
	       (double)(rss1 - rss0) / (double)n, (unsigned long long)max_put,
	       (unsigned long long)slow);
	rcu_thread_offline();
	if (ref)
		cat_lfref_destroy(r);
	else
		cat_store_destroy(s);
	rcu_unregister_thread();
	return 0;
}
