/*
 * perf/bench_wire.cc: per-message costs of the wire format
 * (replication/wire.h) and of the slot hash (replication/hash.h): decode,
 * request check, encode, batch encode, CRC-32C by key length.
 * Results are reported, never asserted. Inputs are prepared outside the
 * timed loops so only the function under test is measured.
 */
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <rte_hash_crc.h>

#include "replication/hash.h"
#include "replication/wire.h"

namespace {

const char kKey[] = "key:000000004242";   /* 16 bytes, like the store bench */
constexpr uint16_t kKeyLen = 16;

uint8_t g_val64[64];
uint8_t g_val32[32];

struct cat_msg base_msg(uint8_t op)
{
	struct cat_msg m;

	memset(&m, 0, sizeof(m));
	m.op = op;
	m.slot = (uint16_t)cat_hash_slot(cat_hash_crc32c(kKey, kKeyLen), 1024);
	m.client_id = 0x1234;
	m.seq = 99;
	m.key = reinterpret_cast<const uint8_t *>(kKey);
	m.key_len = kKeyLen;
	return m;
}

/* One encoded request, ready for the decode loops. */
struct Encoded {
	uint8_t buf[256];
	size_t len;

	explicit Encoded(const struct cat_msg &m)
	{
		int n = cat_wire_encode(buf, sizeof(buf), &m);

		if (n < 0) {
			fprintf(stderr, "bench_wire: encode failed\n");
			abort();
		}
		len = (size_t)n;
	}
};

void BM_decode(benchmark::State &st, uint8_t op, uint32_t vlen)
{
	struct cat_msg m = base_msg(op);

	memset(g_val64, 'v', sizeof(g_val64));
	m.value = g_val64;
	m.value_len = vlen;
	Encoded e(m);

	for (auto _ : st) {
		struct cat_msg d;
		size_t used;

		benchmark::DoNotOptimize(e.buf);
		auto err = cat_wire_decode(e.buf, e.len, &d, &used);
		benchmark::DoNotOptimize(err);
		benchmark::DoNotOptimize(d);
		benchmark::DoNotOptimize(used);
	}
	st.SetItemsProcessed(st.iterations());
}
BENCHMARK_CAPTURE(BM_decode, get, (uint8_t)CAT_OP_GET, 0u)
	->Name("wire/decode/get");
BENCHMARK_CAPTURE(BM_decode, put64, (uint8_t)CAT_OP_PUT, 64u)
	->Name("wire/decode/put_v64");

void BM_check_request(benchmark::State &st)
{
	struct cat_msg m = base_msg(CAT_OP_PUT);
	uint32_t vmax = cat_wire_value_max(1500, kKeyLen);

	m.value = g_val64;
	m.value_len = 64;
	for (auto _ : st) {
		benchmark::DoNotOptimize(m);
		auto s = cat_wire_check_request(&m, vmax);
		benchmark::DoNotOptimize(s);
	}
	st.SetItemsProcessed(st.iterations());
}
BENCHMARK(BM_check_request)->Name("wire/check_request/put_v64");

void BM_encode_get_reply(benchmark::State &st)
{
	struct cat_msg m = base_msg(CAT_OP_GET);
	uint8_t out[CAT_WIRE_PAYLOAD_MAX_1500];

	memset(g_val32, 'r', sizeof(g_val32));
	m.flags = CAT_F_REPLY;
	m.status = CAT_ST_OK;
	m.arg = 17;
	m.value = g_val32;
	m.value_len = 32;
	for (auto _ : st) {
		benchmark::DoNotOptimize(m);
		int n = cat_wire_encode(out, sizeof(out), &m);
		benchmark::DoNotOptimize(n);
		benchmark::ClobberMemory();
	}
	st.SetItemsProcessed(st.iterations());
}
BENCHMARK(BM_encode_get_reply)->Name("wire/encode/get_reply_v32");

/* 16 GET replies (16-byte key, 32-byte value: 88 bytes each, 1408 in all)
 * into one 1472-byte payload: what a worker does to answer a batched
 * request packet. Items are messages, so ns/op is per message. */
void BM_encode_batch16(benchmark::State &st)
{
	struct cat_msg m = base_msg(CAT_OP_GET);
	uint8_t out[CAT_WIRE_PAYLOAD_MAX_1500];
	int bad = 0;

	m.flags = CAT_F_REPLY;
	m.value = g_val32;
	m.value_len = 32;
	for (auto _ : st) {
		size_t off = 0;

		for (int j = 0; j < 16; j++) {
			m.seq = (uint64_t)j;
			int n = cat_wire_encode(out + off, sizeof(out) - off, &m);

			bad |= n < 0;
			off += (size_t)(n < 0 ? 0 : n);
		}
		benchmark::DoNotOptimize(off);
		benchmark::ClobberMemory();
	}
	if (bad)
		st.SkipWithError("batch did not fit 1472 bytes");
	st.SetItemsProcessed(st.iterations() * 16);
}
BENCHMARK(BM_encode_batch16)->Name("wire/encode/batch16_per_msg");

void BM_crc32c(benchmark::State &st)
{
	static uint8_t key[256];
	size_t len = (size_t)st.range(0);

	for (size_t i = 0; i < sizeof(key); i++)
		key[i] = (uint8_t)('a' + i % 26);
	for (auto _ : st) {
		benchmark::DoNotOptimize(key);
		uint32_t c = cat_hash_crc32c(key, len);
		benchmark::DoNotOptimize(c);
	}
	st.SetItemsProcessed(st.iterations());
	st.SetBytesProcessed(st.iterations() * (int64_t)len);
}
BENCHMARK(BM_crc32c)->Name("hash/crc32c")->Arg(16)->Arg(64)->Arg(250);

/* DPDK's inline CRC on the same keys: the floor cat_hash_crc32c's
 * out-of-line, run-time dispatched version is measured against. */
void BM_rte_hash_crc(benchmark::State &st)
{
	static uint8_t key[256];
	uint32_t len = (uint32_t)st.range(0);

	for (size_t i = 0; i < sizeof(key); i++)
		key[i] = (uint8_t)('a' + i % 26);
	for (auto _ : st) {
		benchmark::DoNotOptimize(key);
		uint32_t c = rte_hash_crc(key, len, 0xFFFFFFFFu);
		benchmark::DoNotOptimize(c);
	}
	st.SetItemsProcessed(st.iterations());
	st.SetBytesProcessed(st.iterations() * (int64_t)len);
}
BENCHMARK(BM_rte_hash_crc)->Name("hash/rte_hash_crc")->Arg(16)->Arg(64)->Arg(250);

} /* namespace */
