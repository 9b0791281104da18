// quantscope_bench_kernels: Google Benchmark of the kernels on openPangu-Embedded-1B shapes (hidden 1536,
// intermediate 6144): decode (m = 1) and prefill panels (m = 64) of the dense bf16 GEMV/GEMM, packed
// W8/W4 codes dequantized in registers (host numerics), and llama.cpp's 8-bit block numerics on the
// VNNI tiles (kernels/q8_blocks.h). Counters: bytes_per_second is the weight bytes read per call
// (compare with `quantscope bench --host`'s read bandwidth; the [6144, 1536] matrices fit in a large
// last-level cache, the lm_head shape [153376, 1536] does not); items_per_second is multiply-adds x 2.
// The decode shapes of 512 / 1024 rows fit one core's L2: the kernel's own ceiling, no memory in the
// way. Where a kernel's L2 rate with 1 thread is no higher than its rate on the lm_head shape, decode
// is bound by its arithmetic, not by memory. On the 2-core Xeon VM of performance-intel-xeon-vm.md,
// 1 thread: 4-bit g128 codes 14.0-14.2 GiB/s in L2 vs 12.8-13.3 on the lm_head shape (54 G items/s, as
// bf16 in L2: 59; both spend 3 port-0/5 operations per 16 multiply-adds); 8-bit per channel 23.8-24.4
// and bf16 55 GiB/s in L2, so those two are memory-bound once 2 threads share the bus. On the 2-core
// AMD EPYC VM of performance.md (1 MiB L2, so only the 4-bit [1024, 1536] shape is in L2), 1 thread:
// 4-bit g128 22.7 GiB/s in L2 (87 G items/s) vs 20.7 on the lm_head shape, 2 threads 34-40 GiB/s where
// its read probe gives 36-66 GB/s: the host 4-bit decode is bound by its arithmetic there too; the VNNI
// tiles of Q4_0 (llamacpp-cpu) 66 GiB/s in cache and 62 on the lm_head shape with 2 threads.
//   quantscope_bench_kernels [--benchmark_filter=REGEX] [--benchmark_min_time=0.5] [--threads=N via QUANTSCOPE_THREADS]
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdlib>
#include <random>
#include <vector>

#include "core/dtype.h"
#include "core/parallel.h"
#include "kernels/matmul.h"
#include "kernels/packed_matrix.h"
#include "kernels/q8_blocks.h"

using namespace quantscope;

namespace {

constexpr int64_t kHidden = 1536, kInter = 6144, kVocab = 153376;

std::vector<float> random_floats(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

// A packed b-bit matrix [n, k] with groups of `group` columns, asymmetric, fp32 scales.
struct Packed {
  std::vector<uint8_t> codes;
  std::vector<float> scales, zeros;
  PackedCodesMatrix w;
  Packed(int bits, int64_t n, int64_t k, int64_t group) {
    std::mt19937_64 rng(bits * 31 + n + k);
    w.bits = bits, w.rows = n, w.cols = k, w.group_size = group, w.groups = (k + group - 1) / group;
    w.row_bytes = (k * bits + 7) / 8;
    codes.resize(size_t(n * w.row_bytes));
    for (auto& c : codes) c = uint8_t(rng());
    scales.assign(size_t(n * w.groups), 0.01f);
    zeros.resize(size_t(n * w.groups));
    for (auto& z : zeros) z = float(rng() % (1u << bits));
    w.codes = codes.data(), w.scales = scales.data(), w.zeros = zeros.data();
  }
  double bytes() const { return double(codes.size()) + 4.0 * double(scales.size() + zeros.size()); }
};

void set_threads_from_env() {
  if (const char* t = std::getenv("QUANTSCOPE_THREADS")) set_num_threads(std::atoi(t));
}

// Dense bf16 weights [n, k] (the unquantized checkpoint's dtype).
void BM_dense_bf16(benchmark::State& state) {
  set_threads_from_env();
  const int64_t m = state.range(0), n = state.range(1), k = state.range(2);
  std::vector<uint16_t> w(size_t(n * k));
  const std::vector<float> wf = random_floats(w.size(), 1);
  for (size_t i = 0; i < w.size(); ++i) w[i] = f32_to_bf16(wf[i]);
  const std::vector<float> x = random_floats(size_t(m * k), 2);
  std::vector<float> y(size_t(m * n));
  const DenseMatrix dm{DType::BF16, n, k, w.data()};
  for (auto _ : state) {
    matmul(x.data(), m, dm, nullptr, y.data());
    benchmark::DoNotOptimize(y.data());
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * n * k * 2);
  state.SetItemsProcessed(int64_t(state.iterations()) * 2 * m * n * k);
}

// Packed codes dequantized in registers, fp32 arithmetic (the host's exact path).
void BM_packed_host(benchmark::State& state) {
  set_threads_from_env();
  const int bits = int(state.range(0));
  const int64_t m = state.range(1), n = state.range(2), k = state.range(3), group = state.range(4);
  const Packed p(bits, n, k, group);
  const std::vector<float> x = random_floats(size_t(m * k), 2);
  std::vector<float> y(size_t(m * n));
  for (auto _ : state) {
    matmul_packed(x.data(), m, p.w, nullptr, y.data());
    benchmark::DoNotOptimize(y.data());
  }
  state.SetBytesProcessed(int64_t(double(state.iterations()) * p.bytes()));
  state.SetItemsProcessed(int64_t(state.iterations()) * 2 * m * n * k);
}

// llama.cpp's numerics: activations in 8-bit blocks of 32, integer dots (VNNI where the CPU has it).
void BM_q8_blocks(benchmark::State& state) {
  set_threads_from_env();
  const int bits = int(state.range(0));
  const int64_t m = state.range(1), n = state.range(2), k = state.range(3);
  // As GGUF Q8_0 / Q4_0 hold them: symmetric codes (one zero point) and fp16 scales.
  Packed p(bits, n, k, kQ8Block);
  p.w.zeros = nullptr;
  p.w.zero = float(1 << (bits - 1));
  std::fill(p.scales.begin(), p.scales.end(), 0.0078125f);
  const Q8TiledWeights t = pack_q8_weights(p.w, p.w.scales);
  const int64_t nb = t.blocks;
  std::mt19937_64 rng(5);
  std::vector<int8_t> q(size_t(m * nb * kQ8Block));
  for (auto& v : q) v = int8_t(int(rng() % 255) - 127);
  std::vector<float> d(size_t(m * nb), 0.01f);
  std::vector<int32_t> qsum(size_t(m * nb), 0);
  std::vector<float> y(size_t(m * n));
  for (auto _ : state) {
    gemm_q8_blocks({q.data(), d.data(), qsum.data(), m}, t, nullptr, y.data());
    benchmark::DoNotOptimize(y.data());
  }
  state.SetBytesProcessed(int64_t(double(state.iterations()) * double(t.bytes())));
  state.SetItemsProcessed(int64_t(state.iterations()) * 2 * m * n * k);
  state.SetLabel(q8_blocks_kernel(t));
}

// Decode (m = 1) and a prefill panel (m = 64) on the MLP up projection [6144, 1536] and down [1536, 6144].
void decode_and_prefill(benchmark::internal::Benchmark* b) {
  for (int64_t m : {1, 64})
    for (auto nk : {std::pair<int64_t, int64_t>{kInter, kHidden}, {kHidden, kInter}}) b->Args({m, nk.first, nk.second});
}

}  // namespace

BENCHMARK(BM_dense_bf16)
    ->Apply([](benchmark::internal::Benchmark* b) {
      decode_and_prefill(b);
      b->Args({1, kVocab, kHidden});  // the bf16 lm_head of every host recipe, decode: streams from memory
      b->Args({1, 512, kHidden});  // 1.5 MiB: in one core's L2, the kernel's own ceiling (see the header)
    })
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_packed_host)
    ->Apply([](benchmark::internal::Benchmark* b) {
      for (int bits : {8, 4})
        for (int64_t m : {1, 64}) b->Args({bits, m, kInter, kHidden, bits == 8 ? kHidden : 128});
      b->Args({4, 1, kVocab, kHidden, 128});  // lm_head decode: streams from memory, not cache
      for (int bits : {8, 4}) b->Args({bits, 1, 1024, kHidden, bits == 8 ? kHidden : 128});  // 1.5 / 0.8 MiB: in L2
    })
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_q8_blocks)
    ->Apply([](benchmark::internal::Benchmark* b) {
      for (int bits : {8, 4})
        for (int64_t m : {1, 64}) b->Args({bits, m, kInter, kHidden});
      b->Args({4, 1, kVocab, kHidden});  // lm_head decode: streams from memory, not cache
    })
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

BENCHMARK_MAIN();
