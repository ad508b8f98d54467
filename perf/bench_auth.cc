/*
 * perf/bench_auth.cc: what a link tag costs per datagram
 * (replication/linkauth.h): seal (trailer and SipHash-2-4-128 tag) and
 * verify, at 64, 512 and 1400-byte UDP payloads, beside the two
 * alternatives the choice was made against on the same bytes: HMAC-SHA256
 * (OpenSSL, as the node channel uses) and keyed BLAKE2b-128 (libsodium's
 * crypto_generichash). Results are reported, never asserted.
 */
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sodium.h>

#include "replication/linkauth.h"

namespace {

const uint8_t kKey[CAT_LINKAUTH_KEY_LEN] = { 1, 2, 3, 4, 5, 6, 7, 8, 9 };

std::vector<uint8_t> datagram(size_t plen)
{
	std::vector<uint8_t> b(CAT_LINKAUTH_PSEUDO_LEN + plen);

	cat_linkauth_pseudo(b.data(), 0x0100000a, 0x0200000a, 0x2e1d, 0x2e1d,
			    (uint16_t)(8 + plen));
	for (size_t i = 0; i < plen; i++)
		b[CAT_LINKAUTH_PSEUDO_LEN + i] = (uint8_t)i;
	return b;
}

void BM_seal(benchmark::State &st)
{
	size_t plen = (size_t)st.range(0);
	std::vector<uint8_t> b = datagram(plen);
	uint64_t ctr = 0;

	if (cat_linkauth_init() != 0)
		abort();
	for (auto _ : st) {
		cat_linkauth_seal(kKey, b.data(), plen, 0, 7, ++ctr);
		benchmark::DoNotOptimize(b.data());
	}
	st.SetItemsProcessed((int64_t)st.iterations());
	st.SetBytesProcessed((int64_t)(st.iterations() * (plen + 16)));
}

/* What a receiver does: trailer, window, tag, then take the counter. */
void BM_verify(benchmark::State &st)
{
	size_t plen = (size_t)st.range(0);
	std::vector<uint8_t> b = datagram(plen);
	struct cat_linkauth_window w = { 0, 0 };
	struct cat_linkauth_trailer t;
	int bad = 0;

	cat_linkauth_seal(kKey, b.data(), plen, 0, 7, 1);
	for (auto _ : st) {
		bad |= cat_linkauth_parse(b.data() + CAT_LINKAUTH_PSEUDO_LEN, plen, &t);
		w.bits = 0; /* the same datagram each time: not a replay here */
		bad |= cat_linkauth_window_check(&w, t.counter);
		bad |= cat_linkauth_verify(kKey, b.data(), plen);
		cat_linkauth_window_take(&w, t.counter);
	}
	if (bad)
		st.SkipWithError("a sealed datagram did not verify");
	st.SetItemsProcessed((int64_t)st.iterations());
}

void BM_hmac_sha256(benchmark::State &st)
{
	size_t plen = (size_t)st.range(0);
	std::vector<uint8_t> b = datagram(plen);
	uint8_t out[32];
	unsigned int olen = 0;

	for (auto _ : st) {
		HMAC(EVP_sha256(), kKey, sizeof(kKey), b.data(),
		     CAT_LINKAUTH_PSEUDO_LEN + plen - 16, out, &olen);
		benchmark::DoNotOptimize(out);
	}
	st.SetItemsProcessed((int64_t)st.iterations());
}

void BM_blake2b_keyed(benchmark::State &st)
{
	size_t plen = (size_t)st.range(0);
	std::vector<uint8_t> b = datagram(plen);
	uint8_t out[16];

	if (sodium_init() < 0)
		abort();
	for (auto _ : st) {
		crypto_generichash(out, sizeof(out), b.data(),
				   CAT_LINKAUTH_PSEUDO_LEN + plen - 16, kKey, sizeof(kKey));
		benchmark::DoNotOptimize(out);
	}
	st.SetItemsProcessed((int64_t)st.iterations());
}

void register_auth_benchmarks()
{
	for (auto *b : { benchmark::RegisterBenchmark("auth/seal", BM_seal),
			 benchmark::RegisterBenchmark("auth/verify", BM_verify),
			 benchmark::RegisterBenchmark("auth/hmac_sha256", BM_hmac_sha256),
			 benchmark::RegisterBenchmark("auth/blake2b_keyed", BM_blake2b_keyed) })
		b->ArgName("payload")->Arg(64)->Arg(512)->Arg(1400);
}

struct Registrar {
	Registrar() { register_auth_benchmarks(); }
} g_registrar;

} /* namespace */
