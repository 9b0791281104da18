// Host roofline probes (kernels/host_probe.h): each kernel, on tiny sizes, computes what it claims
// (sums, triad values, FMA chains and int8 dot products against closed forms or scalar references)
// and counts the work it did. Rates are only checked to be finite and positive: never speed.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include <unistd.h>

#include "core/error.h"
#include "kernels/host_probe.h"
#include "kernels/isa.h"

namespace quantscope {
namespace {

bool has(Isa isa) {
  for (Isa i : supported_isas())
    if (i == isa) return true;
  return false;
}

const Isa kAllIsas[] = {Isa::Scalar, Isa::Avx2, Isa::Avx512};

TEST(HostProbe, ReadSumIsTheArraySum) {
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> d(-50, 50);
  for (Isa isa : kAllIsas) {
    if (!has(isa)) continue;
    for (int64_t n : {0, 1, 7, 16, 63, 64, 65, 200, 1000, 4099}) {
      std::vector<float> x(static_cast<size_t>(n) + 1);  // +1: an unaligned start below
      for (auto& v : x) v = float(d(rng));
      for (int off : {0, 1}) {
        double want = 0;  // small integers: every fp32 partial sum is exact
        for (int64_t i = 0; i < n; ++i) want += x[size_t(i + off)];
        int64_t elements = -1;
        const float got = probe_read_sum(isa, x.data() + off, n, &elements);
        EXPECT_EQ(double(got), want) << isa_name(isa) << " n=" << n << " off=" << off;
        EXPECT_EQ(elements, n) << isa_name(isa) << " n=" << n;
      }
    }
  }
}

TEST(HostProbe, ReadSumIsBitIdenticalAcrossIsas) {
  std::mt19937 rng(3);
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<float> x(1237);
  for (auto& v : x) v = d(rng);
  int64_t e = 0;
  const float ref = probe_read_sum(Isa::Scalar, x.data(), int64_t(x.size()), &e);
  for (Isa isa : kAllIsas) {
    if (!has(isa)) continue;
    EXPECT_EQ(probe_read_sum(isa, x.data(), int64_t(x.size()), &e), ref) << isa_name(isa);
  }
}

TEST(HostProbe, TriadIsBPlusSTimesC) {
  for (Isa isa : kAllIsas) {
    if (!has(isa)) continue;
    for (int64_t n : {0, 1, 5, 8, 15, 16, 17, 100, 1029}) {
      std::vector<float> a(static_cast<size_t>(n) + 2, -1.0f), b(static_cast<size_t>(n)), c(static_cast<size_t>(n));
      for (int64_t i = 0; i < n; ++i) {
        b[size_t(i)] = float(i % 13) - 6.0f;
        c[size_t(i)] = float(i % 5) * 0.25f;
      }
      const float s = 3.0f;
      EXPECT_EQ(probe_triad(isa, a.data(), b.data(), c.data(), s, n), n) << isa_name(isa);
      for (int64_t i = 0; i < n; ++i) ASSERT_EQ(a[size_t(i)], b[size_t(i)] + s * c[size_t(i)]) << isa_name(isa) << " i=" << i;
      EXPECT_EQ(a[size_t(n)], -1.0f) << "wrote past the end";  // tail stores stay inside
      EXPECT_EQ(a[size_t(n) + 1], -1.0f);
    }
  }
}

TEST(HostProbe, FmaChainMatchesClosedForm) {
  for (Isa isa : kAllIsas) {
    if (!has(isa)) continue;
    const int nf = fma_probe_floats(isa);
    EXPECT_EQ(nf, kFmaAccumulators * fma_probe_lanes(isa));
    std::vector<float> init(static_cast<size_t>(nf)), out(static_cast<size_t>(nf));
    for (int i = 0; i < nf; ++i) init[size_t(i)] = float(i) * 0.5f - 7.0f;
    for (int64_t iters : {0, 1, 2, 3, 1000}) {
      // acc = fma(acc, 1, 0.25): init + iters/4, exact for these magnitudes.
      EXPECT_EQ(probe_fma(isa, iters, 1.0f, 0.25f, init.data(), out.data()), iters * nf) << isa_name(isa);
      for (int i = 0; i < nf; ++i)
        ASSERT_EQ(out[size_t(i)], init[size_t(i)] + 0.25f * float(iters)) << isa_name(isa) << " lane " << i;
      // acc = fma(acc, -1, 5): alternates init, 5 - init.
      probe_fma(isa, iters, -1.0f, 5.0f, init.data(), out.data());
      for (int i = 0; i < nf; ++i)
        ASSERT_EQ(out[size_t(i)], iters % 2 ? 5.0f - init[size_t(i)] : init[size_t(i)]) << isa_name(isa) << " lane " << i;
    }
    // Saturation at 2^24 (what run_host_probe relies on for long runs): 2^24 + 1 rounds to 2^24.
    std::vector<float> big(static_cast<size_t>(nf), 16777214.0f);
    probe_fma(isa, 5, 1.0f, 1.0f, big.data(), out.data());
    for (int i = 0; i < nf; ++i) ASSERT_EQ(out[size_t(i)], 16777216.0f);
  }
}

void check_int8(Int8Kind kind, const std::vector<uint8_t>& a, const std::vector<int8_t>& b, int64_t iters) {
  const int ni = int8_probe_ints(kind), lanes = int8_probe_lanes(kind);
  std::vector<int32_t> init(static_cast<size_t>(ni)), out(static_cast<size_t>(ni), 0);
  for (int i = 0; i < ni; ++i) init[size_t(i)] = 1000 * i - 12345;
  EXPECT_EQ(probe_int8(kind, iters, a.data(), b.data(), init.data(), out.data()), iters * ni * 4);
  for (int i = 0; i < ni; ++i) {
    // Scalar reference, straight from the products (no helper), then the helper agrees.
    const int l = i % lanes;
    int64_t inc = 0;
    if (kind == Int8Kind::Vnni) {
      for (int j = 0; j < 4; ++j) inc += int(a[size_t(4 * l + j)]) * int(b[size_t(4 * l + j)]);
    } else {
      for (int p = 0; p < 2; ++p) {
        const int j = 4 * l + 2 * p;
        int pair = int(a[size_t(j)]) * int(b[size_t(j)]) + int(a[size_t(j + 1)]) * int(b[size_t(j + 1)]);
        pair = pair > 32767 ? 32767 : pair < -32768 ? -32768 : pair;  // vpmaddubsw saturates
        inc += pair;
      }
    }
    EXPECT_EQ(int8_lane_increment(kind, a.data(), b.data(), l), inc);
    const int64_t want = int64_t(init[size_t(i)]) + iters * inc;  // small: no int32 wrap
    ASSERT_EQ(int64_t(out[size_t(i)]), want) << int8_kind_name(kind) << " acc " << i / lanes << " lane " << l;
  }
}

void int8_cases(Int8Kind kind) {
  if (!cpu_has_int8(kind)) GTEST_SKIP() << int8_kind_name(kind) << " not supported by this CPU";
  const int nb = int8_probe_bytes(kind);
  std::mt19937 rng(11);
  std::uniform_int_distribution<int> du(0, 255), ds(-128, 127);
  std::vector<uint8_t> a(static_cast<size_t>(nb));
  std::vector<int8_t> b(static_cast<size_t>(nb));
  for (int j = 0; j < nb; ++j) {  // full range: AVX2 pairs saturate
    a[size_t(j)] = uint8_t(du(rng));
    b[size_t(j)] = int8_t(ds(rng));
  }
  for (int64_t iters : {0, 1, 3, 100}) check_int8(kind, a, b, iters);
  // Extremes: 255 * 127 * 2 saturates a vpmaddubsw pair; 255 * -128 too.
  for (int j = 0; j < nb; ++j) {
    a[size_t(j)] = 255;
    b[size_t(j)] = int8_t(j % 2 ? 127 : -128);
  }
  check_int8(kind, a, b, 7);
  for (int j = 0; j < nb; ++j) b[size_t(j)] = 127;
  check_int8(kind, a, b, 7);
}

TEST(HostProbe, Int8VnniMatchesScalarReference) { int8_cases(Int8Kind::Vnni); }
TEST(HostProbe, Int8Avx2MatchesScalarReference) { int8_cases(Int8Kind::Avx2); }

TEST(HostProbe, Int8WrapsLikeInt32) {
  for (Int8Kind kind : {Int8Kind::Avx2, Int8Kind::Vnni}) {
    if (!cpu_has_int8(kind)) continue;
    const int nb = int8_probe_bytes(kind), ni = int8_probe_ints(kind), lanes = int8_probe_lanes(kind);
    std::vector<uint8_t> a(static_cast<size_t>(nb), 200);
    std::vector<int8_t> b(static_cast<size_t>(nb), 100);
    std::vector<int32_t> init(static_cast<size_t>(ni), 2147483000), out(static_cast<size_t>(ni));
    const int64_t iters = 50;
    probe_int8(kind, iters, a.data(), b.data(), init.data(), out.data());
    for (int i = 0; i < ni; ++i) {
      const uint32_t inc = uint32_t(int8_lane_increment(kind, a.data(), b.data(), i % lanes));
      EXPECT_EQ(uint32_t(out[size_t(i)]), uint32_t(init[size_t(i)]) + uint32_t(iters) * inc) << int8_kind_name(kind);
    }
  }
}

TEST(HostProbe, WholeProbeOnTinySizes) {
  HostProbeOptions o;
  o.bytes = 256 * 1024 + 36;  // not a multiple of 64 bytes: tails everywhere
  o.repetitions = 2;
  o.threads = 2;
  o.peak_seconds = 0.002;
  const HostReport r = run_host_probe(o);
  EXPECT_FALSE(r.cpu_model.empty());
  EXPECT_EQ(r.threads, 2);
  EXPECT_FALSE(r.isas.empty());
  EXPECT_EQ(r.bytes, o.bytes / 4 * 4);
  EXPECT_GT(r.triad_array_bytes, 0u);
  int read = 0, triad = 0, fma = 0, int8 = 0;
  for (const HostMeasurement& m : r.results) {
    SCOPED_TRACE(m.probe + " " + m.isa + " threads " + std::to_string(m.threads));
    EXPECT_TRUE(std::isfinite(m.rate));
    EXPECT_GT(m.rate, 0.0);
    EXPECT_GT(m.best_seconds, 0.0);
    EXPECT_TRUE(m.verified);
    EXPECT_TRUE(m.threads == 1 || m.threads == 2);
    if (m.probe == "read") {
      ++read;
      EXPECT_EQ(m.work, double(r.bytes));
      EXPECT_EQ(m.unit, "GB/s");
    } else if (m.probe == "triad") {
      ++triad;
      EXPECT_EQ(m.work, 3.0 * double(r.triad_array_bytes));
    } else if (m.probe == "fp32_fma") {
      ++fma;
      EXPECT_EQ(m.unit, "GFLOP/s");
      EXPECT_GT(m.iterations, 0);
      const Isa isa = m.isa == "avx512" ? Isa::Avx512 : m.isa == "avx2" ? Isa::Avx2 : Isa::Scalar;
      EXPECT_EQ(m.work, 2.0 * double(m.iterations) * fma_probe_floats(isa) * m.threads);
    } else if (m.probe == "int8_dot") {
      ++int8;
      EXPECT_EQ(m.unit, "GOPS");
      const Int8Kind kind = m.isa == "avx512vnni" ? Int8Kind::Vnni : Int8Kind::Avx2;
      EXPECT_EQ(m.work, 2.0 * 4.0 * double(m.iterations) * int8_probe_ints(kind) * m.threads);
    }
  }
  EXPECT_EQ(read, 2);
  EXPECT_EQ(triad, 2);
  int isas_with_peak = 0;
  for (Isa i : supported_isas()) isas_with_peak += i != Isa::Scalar;
  EXPECT_EQ(fma, 2 * std::max(isas_with_peak, 1));
  EXPECT_EQ(int8, 2 * (int(cpu_has_int8(Int8Kind::Avx2)) + int(cpu_has_int8(Int8Kind::Vnni))));
}

TEST(HostProbe, RejectsBadOptions) {
  HostProbeOptions o;
  o.bytes = 100;
  EXPECT_THROW(run_host_probe(o), InputError);
  o = HostProbeOptions{};
  o.repetitions = 0;
  EXPECT_THROW(run_host_probe(o), InputError);
  o = HostProbeOptions{};
  o.peak_seconds = 0;
  EXPECT_THROW(run_host_probe(o), InputError);
}

// Where sysfs lists no cache (a sandboxed VM here did not), the size still comes from the C library's
// reading of CPUID, so bench's cache-size warning is not silently skipped.
TEST(HostProbe, LastLevelCacheKnownWheneverTheLibraryKnowsOne) {
  long library = 0;
  for (const int name : {_SC_LEVEL2_CACHE_SIZE, _SC_LEVEL3_CACHE_SIZE, _SC_LEVEL4_CACHE_SIZE})
    library = std::max(library, sysconf(name));
  if (library <= 0) GTEST_SKIP() << "the C library knows no cache size here";
  EXPECT_GT(last_level_cache_bytes(), uint64_t(0));
}
}  // namespace
}  // namespace quantscope
