/*
 * perf/bench_store.cc: the catena store (replication/store.h) next to DPDK's
 * rte_hash (plain and lock-free) and to the cds_lfht store it replaced
 * (perf/store_lfht_ref.h, rows "lfht_ref") on the same keys (1 Mi by
 * default; --store_keys=N, e.g. 10000000, for a bigger table) with the same
 * hash function, single and bulk lookups, and the process entry point (EAL
 * init, CRC equivalence check, Google Benchmark).
 * Results are reported, never asserted: a slow run must not fail a build.
 * Owns the EAL for the whole binary; never touches a NIC (--no-pci).
 */
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <unistd.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_hash.h>
#include <rte_hash_crc.h>
#include <rte_lcore.h>

#include "perf/store_lfht_ref.h"
#include "replication/hash.h"
#include "replication/store.h"

namespace {

/* Keys in the tables: 1 Mi ("1 M keys") unless --store_keys says otherwise.
 * The random visiting order is a power-of-two array (kMask) so the timed
 * loops mask instead of taking a modulo; for a key count that is not a
 * power of two the order repeats a few keys. 10 M keys take about 4 GB
 * and a minute of set-up: not for CI. */
uint32_t kKeys = 1u << 20;
uint32_t kMask = (1u << 20) - 1;
constexpr uint32_t kKeyLen = 16;   /* "key:%012u" is exactly 16 bytes */
constexpr uint32_t kValLen = 32;
/* Inserts per insert run: the tables grow from kKeys to kKeys + 256 Ki,
 * below rte_hash's entries (the next power of two), where cuckoo insertion
 * would start failing from bucket pressure and measure the failure path. */
constexpr uint32_t kFresh = 1u << 18;
/* The dataplane passes a quiescent state once per burst; 64 ops is a
 * generous burst and lets call_rcu free replaced items as the bench runs. */
constexpr uint32_t kQsEvery = 64;
constexpr uint32_t kSlots = 1024;   /* the node's default [store] slots */
/* Keys per bulk lookup: a worker's rx burst. */
constexpr uint32_t kBurst = 32;

/* Fixed-width keys in one flat array, so key i is at bytes[i * 16]. */
struct KeySet {
	std::vector<char> bytes;

	void fill(uint32_t first, uint32_t n)
	{
		char tmp[32];

		bytes.resize((size_t)n * kKeyLen);
		for (uint32_t i = 0; i < n; i++) {
			snprintf(tmp, sizeof(tmp), "key:%012u", first + i);
			memcpy(&bytes[(size_t)i * kKeyLen], tmp, kKeyLen);
		}
	}
	const char *at(uint32_t i) const { return &bytes[(size_t)i * kKeyLen]; }
};

KeySet g_hit;     /* [0, kKeys): present in both tables */
KeySet g_miss;    /* [kKeys, 2 kKeys): never inserted */
KeySet g_fresh;   /* [2 kKeys, 2 kKeys + kFresh): inserted, then removed */
std::vector<uint32_t> g_order;  /* random permutation of [0, kKeys) */

struct rte_hash *g_rte;
/* The same keys in an rte_hash built for what the catena store offers:
 * lock-free readers concurrent with a writer (RW_CONCURRENCY_LF). */
struct rte_hash *g_rte_lf;
uint8_t *g_rte_vals;  /* kKeys + kFresh preallocated 32-byte values */
struct cat_store *g_cat;
struct cat_lfref *g_ref;   /* the cds_lfht store, as it was */

uint8_t g_val_a[kValLen];
uint8_t g_val_b[kValLen];

[[noreturn]] void die(const char *what)
{
	fprintf(stderr, "catena-bench-micro: %s\n", what);
	abort();
}

/*
 * The comparison is only fair if both tables hash with the same CRC, and
 * hash.h promises cat_hash_crc32c == ~rte_hash_crc(key, len, 0xFFFFFFFF).
 * Check it over every length a key can have and a few alignments.
 */
void check_crc_equivalence()
{
	static uint8_t buf[512];
	std::mt19937 rng(7470);

	for (auto &b : buf)
		b = (uint8_t)rng();
	if (cat_hash_crc32c("123456789", 9) != 0xE3069283u)
		die("cat_hash_crc32c(\"123456789\") != 0xE3069283");
	for (uint32_t off = 0; off < 8; off++) {
		for (uint32_t len = 0; len <= 300; len++) {
			uint32_t a = cat_hash_crc32c(buf + off, len);
			uint32_t b = ~rte_hash_crc(buf + off, len, 0xFFFFFFFFu);

			if (a != b) {
				fprintf(stderr, "catena-bench-micro: CRC mismatch "
					"off=%u len=%u cat=%08x rte=%08x\n",
					off, len, a, b);
				abort();
			}
		}
	}
}

void create_cat_store()
{
	struct cat_store_params sp;

	memset(&sp, 0, sizeof(sp));
	sp.slot_count = kSlots;
	sp.mem_limit = 0;
	g_cat = cat_store_create(&sp);
	if (g_cat == nullptr)
		die("cat_store_create failed");

	struct cat_lfref_params rp;

	memset(&rp, 0, sizeof(rp));
	rp.slot_count = kSlots;
	g_ref = cat_lfref_create(&rp);
	if (g_ref == nullptr)
		die("cat_lfref_create failed");
}

inline void cat_key_of(struct cat_key *k, const char *key)
{
	cat_store_key(g_cat, k, key, kKeyLen);
}

inline void ref_key_of(struct cat_lfref_key *k, const char *key)
{
	cat_lfref_mkkey(g_ref, k, key, kKeyLen);
}

void setup_tables()
{
	std::mt19937_64 rng(1);

	g_hit.fill(0, kKeys);
	g_miss.fill(kKeys, kKeys);
	g_fresh.fill(2 * kKeys, kFresh);
	g_order.resize((size_t)kMask + 1);
	for (uint32_t i = 0; i <= kMask; i++)
		g_order[i] = i % kKeys;
	std::shuffle(g_order.begin(), g_order.end(), rng);
	memset(g_val_a, 'a', kValLen);
	memset(g_val_b, 'b', kValLen);

	struct rte_hash_parameters p;

	memset(&p, 0, sizeof(p));
	p.name = "catbench";
	p.entries = 1u;
	while (p.entries < kKeys + kFresh)
		p.entries <<= 1;
	p.key_len = kKeyLen;
	p.hash_func = rte_hash_crc;
	p.hash_func_init_val = 0xFFFFFFFFu;
	p.socket_id = (int)rte_socket_id();
	p.extra_flag = 0;   /* single thread: no RW concurrency flags */
	g_rte = rte_hash_create(&p);
	if (g_rte == nullptr)
		die(rte_strerror(rte_errno));
	p.name = "catbench_lf";
	p.extra_flag = RTE_HASH_EXTRA_FLAGS_RW_CONCURRENCY_LF;
	g_rte_lf = rte_hash_create(&p);
	if (g_rte_lf == nullptr)
		die(rte_strerror(rte_errno));
	g_rte_vals = static_cast<uint8_t *>(
		aligned_alloc(64, (size_t)(kKeys + kFresh) * kValLen));
	if (g_rte_vals == nullptr)
		die("out of memory for rte_hash values");
	for (size_t i = 0; i < (size_t)(kKeys + kFresh); i++)
		memcpy(g_rte_vals + i * kValLen, g_val_a, kValLen);

	create_cat_store();
	for (uint32_t i = 0; i < kKeys; i++) {
		struct cat_key k;
		uint64_t ver;

		if (rte_hash_add_key_data(g_rte, g_hit.at(i),
					  g_rte_vals + (size_t)i * kValLen) < 0 ||
		    rte_hash_add_key_data(g_rte_lf, g_hit.at(i),
					  g_rte_vals + (size_t)i * kValLen) < 0)
			die("rte_hash_add_key_data failed during setup");
		cat_key_of(&k, g_hit.at(i));
		if (cat_store_put(g_cat, &k, g_val_a, kValLen, &ver) != 0)
			die("cat_store_put failed during setup");

		struct cat_lfref_key rk;

		ref_key_of(&rk, g_hit.at(i));
		if (cat_lfref_put(g_ref, &rk, g_val_a, kValLen, &ver) != 0)
			die("cat_lfref_put failed during setup");
		if ((i & (kQsEvery - 1)) == 0)
			rcu_quiescent_state();
		/* The old store never resized by itself: size its tables as
		 * they double, as the node agent did while a load arrived, or
		 * the fill is quadratic (10 M keys would take hours). The new
		 * one grows on its writes. */
		if (i >= 4096 && (i & (i - 1)) == 0)
			cat_lfref_maintain(g_ref, 0);
	}
	rcu_quiescent_state();
	cat_lfref_maintain(g_ref, 0);
}

void teardown_tables()
{
	/* cat_store_destroy waits for call_rcu frees: never while online. */
	rcu_thread_offline();
	cat_store_destroy(g_cat);
	cat_lfref_destroy(g_ref);
	rte_hash_free(g_rte);
	rte_hash_free(g_rte_lf);
	free(g_rte_vals);
}

/* ---- lookups ---------------------------------------------------------- */

void BM_lookup_catena(benchmark::State &st, const KeySet *keys, bool expect)
{
	uint32_t i = 0;
	uint64_t found = 0;

	for (auto _ : st) {
		struct cat_key k;
		const struct cat_item *it = nullptr;

		cat_key_of(&k, keys->at(g_order[i & kMask]));
		found += cat_store_get(g_cat, &k, &it) == 0;
		benchmark::DoNotOptimize(it);
		if ((++i & (kQsEvery - 1)) == 0)
			rcu_quiescent_state();
	}
	if (found != (expect ? (uint64_t)st.iterations() : 0))
		st.SkipWithError("lookup result differs from the key set");
	st.SetItemsProcessed(st.iterations());
}

void BM_lookup_rte(benchmark::State &st, const KeySet *keys, bool expect,
		   struct rte_hash **tbl)
{
	struct rte_hash *h = *tbl;

	uint32_t i = 0;
	uint64_t found = 0;

	for (auto _ : st) {
		void *data = nullptr;

		found += rte_hash_lookup_data(h, keys->at(g_order[i & kMask]),
					      &data) >= 0;
		benchmark::DoNotOptimize(data);
		i++;
	}
	if (found != (expect ? (uint64_t)st.iterations() : 0))
		st.SkipWithError("lookup result differs from the key set");
	st.SetItemsProcessed(st.iterations());
}

/* ---- insert of fresh keys (a fixed count per run, removed afterwards) -- */

void BM_insert_catena(benchmark::State &st)
{
	uint32_t i = 0;
	int bad = 0;

	for (auto _ : st) {
		struct cat_key k;
		uint64_t ver;

		cat_key_of(&k, g_fresh.at(i));
		bad |= cat_store_put(g_cat, &k, g_val_a, kValLen, &ver);
		if ((++i & (kQsEvery - 1)) == 0)
			rcu_quiescent_state();
	}
	/* Untimed: restore the 1 Mi-key table for the next run. */
	for (uint32_t j = 0; j < i; j++) {
		struct cat_key k;

		cat_key_of(&k, g_fresh.at(j));
		bad |= cat_store_del(g_cat, &k, nullptr);
		if ((j & (kQsEvery - 1)) == 0)
			rcu_quiescent_state();
	}
	rcu_quiescent_state();
	if (bad)
		st.SkipWithError("cat_store_put/del failed");
	st.SetItemsProcessed(st.iterations());
}

void BM_insert_rte(benchmark::State &st)
{
	uint32_t i = 0;
	int bad = 0;

	for (auto _ : st) {
		bad |= rte_hash_add_key_data(g_rte, g_fresh.at(i),
			g_rte_vals + (size_t)(kKeys + i) * kValLen) < 0;
		i++;
	}
	for (uint32_t j = 0; j < i; j++)
		bad |= rte_hash_del_key(g_rte, g_fresh.at(j)) < 0;
	if (bad)
		st.SkipWithError("rte_hash_add_key_data/del_key failed");
	st.SetItemsProcessed(st.iterations());
}

/* ---- replace of existing keys ----------------------------------------- */

void BM_replace_catena(benchmark::State &st)
{
	uint32_t i = 0;
	int bad = 0;

	for (auto _ : st) {
		struct cat_key k;
		uint64_t ver;
		const uint8_t *v = (i & (kMask + 1)) ? g_val_a : g_val_b;

		cat_key_of(&k, g_hit.at(g_order[i & kMask]));
		bad |= cat_store_put(g_cat, &k, v, kValLen, &ver);
		if ((++i & (kQsEvery - 1)) == 0)
			rcu_quiescent_state();
	}
	rcu_quiescent_state();
	if (bad)
		st.SkipWithError("cat_store_put failed");
	st.SetItemsProcessed(st.iterations());
}

/* rte_hash stores a pointer, so a replace only swaps the pointer: it copies
 * no value and frees nothing, where the catena store allocates a fresh
 * immutable item and defers the old one's free through RCU. */
void BM_replace_rte(benchmark::State &st)
{
	uint32_t i = 0;
	int bad = 0;

	for (auto _ : st) {
		uint32_t idx = g_order[i & kMask];

		bad |= rte_hash_add_key_data(g_rte, g_hit.at(idx),
			g_rte_vals + (size_t)idx * kValLen) < 0;
		i++;
	}
	if (bad)
		st.SkipWithError("rte_hash_add_key_data failed");
	st.SetItemsProcessed(st.iterations());
}

/* ---- the cds_lfht store it replaced, same loops ----------------------- */

void BM_lookup_ref(benchmark::State &st, const KeySet *keys, bool expect)
{
	uint32_t i = 0;
	uint64_t found = 0;

	for (auto _ : st) {
		struct cat_lfref_key k;
		const struct cat_lfref_item *it = nullptr;

		ref_key_of(&k, keys->at(g_order[i & kMask]));
		found += cat_lfref_get(g_ref, &k, &it) == 0;
		benchmark::DoNotOptimize(it);
		if ((++i & (kQsEvery - 1)) == 0)
			rcu_quiescent_state();
	}
	if (found != (expect ? (uint64_t)st.iterations() : 0))
		st.SkipWithError("lookup result differs from the key set");
	st.SetItemsProcessed(st.iterations());
}

void BM_insert_ref(benchmark::State &st)
{
	uint32_t i = 0;
	int bad = 0;

	for (auto _ : st) {
		struct cat_lfref_key k;
		uint64_t ver;

		ref_key_of(&k, g_fresh.at(i));
		bad |= cat_lfref_put(g_ref, &k, g_val_a, kValLen, &ver);
		if ((++i & (kQsEvery - 1)) == 0)
			rcu_quiescent_state();
	}
	for (uint32_t j = 0; j < i; j++) {
		struct cat_lfref_key k;

		ref_key_of(&k, g_fresh.at(j));
		bad |= cat_lfref_del(g_ref, &k, nullptr);
		if ((j & (kQsEvery - 1)) == 0)
			rcu_quiescent_state();
	}
	rcu_quiescent_state();
	if (bad)
		st.SkipWithError("cat_lfref_put/del failed");
	st.SetItemsProcessed(st.iterations());
}

void BM_replace_ref(benchmark::State &st)
{
	uint32_t i = 0;
	int bad = 0;

	for (auto _ : st) {
		struct cat_lfref_key k;
		uint64_t ver;
		const uint8_t *v = (i & (kMask + 1)) ? g_val_a : g_val_b;

		ref_key_of(&k, g_hit.at(g_order[i & kMask]));
		bad |= cat_lfref_put(g_ref, &k, v, kValLen, &ver);
		if ((++i & (kQsEvery - 1)) == 0)
			rcu_quiescent_state();
	}
	rcu_quiescent_state();
	if (bad)
		st.SkipWithError("cat_lfref_put failed");
	st.SetItemsProcessed(st.iterations());
}

/* Replace as a worker would once it brackets its burst: retired items go
 * to call_rcu once per kBurst writes instead of once per write. */
void BM_replace_burst_catena(benchmark::State &st)
{
	uint32_t i = 0;
	int bad = 0;

	cat_store_burst_begin(g_cat);
	for (auto _ : st) {
		struct cat_key k;
		uint64_t ver;
		const uint8_t *v = (i & (kMask + 1)) ? g_val_a : g_val_b;

		cat_key_of(&k, g_hit.at(g_order[i & kMask]));
		bad |= cat_store_put(g_cat, &k, v, kValLen, &ver);
		if ((++i & (kBurst - 1)) == 0) {
			cat_store_burst_end(g_cat);
			if ((i & (kQsEvery - 1)) == 0)
				rcu_quiescent_state();
			cat_store_burst_begin(g_cat);
		}
	}
	cat_store_burst_end(g_cat);
	rcu_quiescent_state();
	if (bad)
		st.SkipWithError("cat_store_put failed");
	st.SetItemsProcessed(st.iterations());
}

void BM_replace_rte_lf(benchmark::State &st)
{
	uint32_t i = 0;
	int bad = 0;

	for (auto _ : st) {
		uint32_t idx = g_order[i & kMask];

		bad |= rte_hash_add_key_data(g_rte_lf, g_hit.at(idx),
			g_rte_vals + (size_t)idx * kValLen) < 0;
		i++;
	}
	if (bad)
		st.SkipWithError("rte_hash_add_key_data failed");
	st.SetItemsProcessed(st.iterations());
}

void BM_insert_rte_lf(benchmark::State &st)
{
	uint32_t i = 0;
	int bad = 0;

	for (auto _ : st) {
		bad |= rte_hash_add_key_data(g_rte_lf, g_fresh.at(i),
			g_rte_vals + (size_t)(kKeys + i) * kValLen) < 0;
		i++;
	}
	/* A lock-free table keeps a deleted key's slot until the caller says
	 * no reader can hold it (its grace period): here, at once. */
	for (uint32_t j = 0; j < i; j++) {
		int32_t pos = rte_hash_del_key(g_rte_lf, g_fresh.at(j));

		bad |= pos < 0 ||
		       rte_hash_free_key_with_position(g_rte_lf, pos) != 0;
	}
	if (bad)
		st.SkipWithError("rte_hash_add_key_data/del_key failed");
	st.SetItemsProcessed(st.iterations());
}

/* ---- bulk lookups: kBurst random keys per call, counted per key ------- */

void BM_lookup_bulk_catena(benchmark::State &st, const KeySet *keys,
			   bool expect)
{
	uint32_t i = 0, n = 0;
	uint64_t found = 0;
	struct cat_key k[kBurst];
	const struct cat_key *kp[kBurst];
	const void *kb[kBurst];
	uint16_t kl[kBurst];
	const struct cat_item *out[kBurst];

	for (uint32_t j = 0; j < kBurst; j++) {
		kp[j] = &k[j];
		kl[j] = kKeyLen;
	}
	for (auto _ : st) {
		/* Hashing is part of the cost, as rte_hash hashes inside: a
		 * burst's keys in one call, as the worker hashes them. */
		for (uint32_t j = 0; j < kBurst; j++)
			kb[j] = keys->at(g_order[(i + j) & kMask]);
		cat_store_key_bulk(g_cat, k, kb, kl, kBurst);
		found += (uint64_t)cat_store_get_bulk(g_cat, kp, kBurst, out);
		benchmark::DoNotOptimize(out);
		i += kBurst;
		if ((++n & 1) == 0)
			rcu_quiescent_state();
	}
	if (found != (expect ? (uint64_t)st.iterations() * kBurst : 0))
		st.SkipWithError("lookup result differs from the key set");
	st.SetItemsProcessed(st.iterations() * kBurst);
}

void BM_lookup_bulk_rte(benchmark::State &st, const KeySet *keys, bool expect,
			struct rte_hash **tbl)
{
	struct rte_hash *h = *tbl;
	uint32_t i = 0;
	uint64_t found = 0;
	const void *kp[kBurst];
	void *data[kBurst];

	for (auto _ : st) {
		uint64_t hits = 0;

		for (uint32_t j = 0; j < kBurst; j++)
			kp[j] = keys->at(g_order[(i + j) & kMask]);
		found += (uint64_t)rte_hash_lookup_bulk_data(h, kp, kBurst,
							     &hits, data);
		benchmark::DoNotOptimize(data);
		i += kBurst;
	}
	if (found != (expect ? (uint64_t)st.iterations() * kBurst : 0))
		st.SkipWithError("lookup result differs from the key set");
	st.SetItemsProcessed(st.iterations() * kBurst);
}

/* ---- bulk lookups of keys hashed beforehand -------------------------- */

/* Each key set's keys, hashed once, in visiting order: what a worker that
 * hashes a key once at decode hands to the table (issue 15, item 3). The
 * rows below measure the tables alone. */
std::vector<struct cat_key> g_pre_cat[2];
std::vector<hash_sig_t> g_pre_sig[2];
std::vector<const void *> g_pre_ptr[2];

void prehash(int which, const KeySet *keys)
{
	size_t n = (size_t)kMask + 1;

	g_pre_cat[which].resize(n);
	g_pre_sig[which].resize(n);
	g_pre_ptr[which].resize(n);
	for (size_t i = 0; i < n; i++) {
		const char *k = keys->at(g_order[i]);

		cat_key_of(&g_pre_cat[which][i], k);
		g_pre_sig[which][i] = rte_hash_hash(g_rte, k);
		g_pre_ptr[which][i] = k;
	}
}

void BM_lookup_bulk_pre_catena(benchmark::State &st, int which, bool expect)
{
	uint32_t i = 0, n = 0;
	uint64_t found = 0;
	const struct cat_key *kp[kBurst];
	const struct cat_item *out[kBurst];

	for (auto _ : st) {
		for (uint32_t j = 0; j < kBurst; j++)
			kp[j] = &g_pre_cat[which][(i + j) & kMask];
		found += (uint64_t)cat_store_get_bulk(g_cat, kp, kBurst, out);
		benchmark::DoNotOptimize(out);
		i += kBurst;
		if ((++n & 1) == 0)
			rcu_quiescent_state();
	}
	if (found != (expect ? (uint64_t)st.iterations() * kBurst : 0))
		st.SkipWithError("lookup result differs from the key set");
	st.SetItemsProcessed(st.iterations() * kBurst);
}

void BM_lookup_bulk_pre_rte(benchmark::State &st, int which, bool expect,
			    struct rte_hash **tbl)
{
	struct rte_hash *h = *tbl;
	uint32_t i = 0;
	uint64_t found = 0;
	void *data[kBurst];

	for (auto _ : st) {
		uint64_t hits = 0;
		uint32_t at = i & kMask;

		/* kMask + 1 is a multiple of kBurst: a burst never wraps. */
		found += (uint64_t)rte_hash_lookup_with_hash_bulk_data(h,
			&g_pre_ptr[which][at], &g_pre_sig[which][at], kBurst,
			&hits, data);
		benchmark::DoNotOptimize(data);
		i += kBurst;
	}
	if (found != (expect ? (uint64_t)st.iterations() * kBurst : 0))
		st.SkipWithError("lookup result differs from the key set");
	st.SetItemsProcessed(st.iterations() * kBurst);
}

void register_store_benchmarks()
{
	/* Lookups and replaces run for a fixed time; inserts run a fixed
	 * count so the table sizes stay bounded and comparable. */
	const double t = 0.5;

	for (int miss = 0; miss < 2; miss++) {
		const KeySet *ks = miss ? &g_miss : &g_hit;
		std::string op = miss ? "store/lookup_miss/" : "store/lookup_hit/";
		std::string bop = miss ? "store/lookup_bulk_miss/" : "store/lookup_bulk_hit/";
		bool expect = !miss;

		benchmark::RegisterBenchmark((op + "catena").c_str(),
			BM_lookup_catena, ks, expect)->MinTime(t);
		benchmark::RegisterBenchmark((op + "rte_hash").c_str(),
			BM_lookup_rte, ks, expect, &g_rte)->MinTime(t);
		benchmark::RegisterBenchmark((op + "rte_hash_lf").c_str(),
			BM_lookup_rte, ks, expect, &g_rte_lf)->MinTime(t);
		benchmark::RegisterBenchmark((op + "lfht_ref").c_str(),
			BM_lookup_ref, ks, expect)->MinTime(t);
		benchmark::RegisterBenchmark((bop + "catena").c_str(),
			BM_lookup_bulk_catena, ks, expect)->MinTime(t);
		benchmark::RegisterBenchmark((bop + "rte_hash").c_str(),
			BM_lookup_bulk_rte, ks, expect, &g_rte)->MinTime(t);
		benchmark::RegisterBenchmark((bop + "rte_hash_lf").c_str(),
			BM_lookup_bulk_rte, ks, expect, &g_rte_lf)->MinTime(t);

		std::string pop = miss ? "store/lookup_bulk_pre_miss/" :
					 "store/lookup_bulk_pre_hit/";

		prehash(miss, ks);
		benchmark::RegisterBenchmark((pop + "catena").c_str(),
			BM_lookup_bulk_pre_catena, miss, expect)->MinTime(t);
		benchmark::RegisterBenchmark((pop + "rte_hash").c_str(),
			BM_lookup_bulk_pre_rte, miss, expect, &g_rte)->MinTime(t);
		benchmark::RegisterBenchmark((pop + "rte_hash_lf").c_str(),
			BM_lookup_bulk_pre_rte, miss, expect, &g_rte_lf)->MinTime(t);
	}
	benchmark::RegisterBenchmark("store/insert/catena",
		BM_insert_catena)->Iterations(kFresh);
	benchmark::RegisterBenchmark("store/insert/rte_hash",
		BM_insert_rte)->Iterations(kFresh);
	benchmark::RegisterBenchmark("store/insert/rte_hash_lf",
		BM_insert_rte_lf)->Iterations(kFresh);
	benchmark::RegisterBenchmark("store/insert/lfht_ref",
		BM_insert_ref)->Iterations(kFresh);
	benchmark::RegisterBenchmark("store/replace/catena",
		BM_replace_catena)->MinTime(t);
	benchmark::RegisterBenchmark("store/replace/rte_hash",
		BM_replace_rte)->MinTime(t);
	benchmark::RegisterBenchmark("store/replace/rte_hash_lf",
		BM_replace_rte_lf)->MinTime(t);
	benchmark::RegisterBenchmark("store/replace/lfht_ref",
		BM_replace_ref)->MinTime(t);
	benchmark::RegisterBenchmark("store/replace_burst/catena",
		BM_replace_burst_catena)->MinTime(t);
}

/* Takes --store_keys=N out of argv (Google Benchmark rejects flags it does
 * not know). Returns -1 on a bad value. */
int take_store_keys(int *argc, char **argv)
{
	int out = 1;

	for (int i = 1; i < *argc; i++) {
		if (strncmp(argv[i], "--store_keys=", 13) != 0) {
			argv[out++] = argv[i];
			continue;
		}
		char *end;
		unsigned long long v = strtoull(argv[i] + 13, &end, 10);

		if (*end || v < 1024 || v > 100000000ull) {
			fprintf(stderr, "catena-bench-micro: --store_keys: 1024..100000000, "
				"not %s\n", argv[i] + 13);
			return -1;
		}
		kKeys = (uint32_t)v;
		kMask = 1;
		while (kMask < kKeys)
			kMask <<= 1;
		kMask--;
	}
	*argc = out;
	argv[out] = nullptr;
	return 0;
}

} /* namespace */

int main(int argc, char **argv)
{
	char prefix[64], mem[32];

	if (take_store_keys(&argc, argv) < 0)
		return 1;
	snprintf(prefix, sizeof(prefix), "catbench%d", (int)getpid());
	/* Two rte_hash tables of about 40 bytes per entry, plus the values. */
	snprintf(mem, sizeof(mem), "%u", 1024u + ((kKeys + (1u << 20) - 1) >> 20) * 320u);
	const char *eal_args[] = {
		"bench", "--no-huge", "--no-pci", "-m", mem,
		"--file-prefix", prefix, "--log-level", "error",
		"--no-telemetry",
	};
	int eal_argc = (int)(sizeof(eal_args) / sizeof(eal_args[0]));
	std::vector<char *> eal_argv;

	for (int i = 0; i < eal_argc; i++)
		eal_argv.push_back(const_cast<char *>(eal_args[i]));
	eal_argv.push_back(nullptr);
	if (rte_eal_init(eal_argc, eal_argv.data()) < 0) {
		fprintf(stderr, "catena-bench-micro: rte_eal_init: %s\n",
			rte_strerror(rte_errno));
		return 1;
	}
	check_crc_equivalence();

	benchmark::Initialize(&argc, argv);
	if (benchmark::ReportUnrecognizedArguments(argc, argv))
		return 1;

	rcu_register_thread();
	setup_tables();
	register_store_benchmarks();
	benchmark::RunSpecifiedBenchmarks();
	benchmark::Shutdown();
	teardown_tables();
	rcu_unregister_thread();
	rte_eal_cleanup();
	return 0;
}
