// gemm_nt_f32 (register-blocked, multithreaded) against dot_f32_scalar element by element, and
// matmul() against matmul_reference: bit-identical on every ISA this CPU has, for 1 and 2 threads,
// odd sizes (every micro-kernel edge), unaligned pointers and strides larger than the rows.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "core/dtype.h"
#include "core/parallel.h"
#include "kernels/dot.h"
#include "kernels/gemm.h"
#include "kernels/isa.h"
#include "kernels/matmul.h"
#include "kernels/packed_matrix.h"
#include "isa_fixture.h"
#include "random_floats.h"

namespace quantscope {
namespace {

class Gemm : public test::IsaAndThreadsRestored {};

constexpr uint32_t kSentinel = 0x7fc0beefu;  // a NaN the kernels never produce from finite inputs

uint32_t bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

// Runs gemm (parallel, or serial over one packed panel) on a, b with row strides lda, ldb into c
// with stride ldc (every pointer offset by one float from the allocation) and checks every element
// against dot_f32_scalar, and that c's padding is untouched. pass > 0 (serial only): the kernel of
// `isa` (AVX-512 or AVX2) called directly with passes of that many chunks instead of this CPU's blocking.
void check_gemm(int64_t m, int64_t n, int64_t k, bool serial, const char* what, Isa isa = Isa::Scalar,
                int64_t pass = 0) {
  const int64_t lda = k + 3, ldb = k + 5, ldc = n + 2;
  const auto abuf = test::normal_floats(size_t(1 + m * lda), uint64_t(m * 1000003 + k));
  const auto bbuf = test::normal_floats(size_t(1 + n * ldb), uint64_t(n * 7919 + k + 17));
  const float* a = abuf.data() + 1;
  const float* b = bbuf.data() + 1;
  std::vector<float> cbuf(size_t(1 + m * ldc));
  for (auto& v : cbuf) std::memcpy(&v, &kSentinel, 4);
  float* c = cbuf.data() + 1;
  if (serial) {  // one packed panel of all n rows, on the calling thread
    GemmPackedPanel panel;
    panel.reset(n, k);
    for (int64_t j = 0; j < n; ++j) panel.set_row(j, b + j * ldb);
    if (pass > 0 && isa == Isa::Avx512)
      detail::gemm_packed_f32_avx512(a, lda, m, panel.data(), n, k, c, ldc, pass);
    else if (pass > 0 && isa == Isa::Avx2)
      detail::gemm_packed_f32_avx2(a, lda, m, panel.data(), n, k, c, ldc, pass);
    else
      gemm_nt_f32_packed(a, lda, m, panel, c, ldc);
  } else {
    gemm_nt_f32(a, lda, b, ldb, m, n, k, c, ldc);
  }
  ASSERT_EQ(bits(cbuf[0]), kSentinel) << what;
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < ldc; ++j) {
      const float got = c[i * ldc + j];
      if (j >= n) {
        ASSERT_EQ(bits(got), kSentinel) << what << " wrote padding m=" << m << " n=" << n << " k=" << k;
        continue;
      }
      const float want = dot_f32_scalar(a + i * lda, b + j * ldb, k);
      ASSERT_EQ(bits(want), bits(got)) << what << " m=" << m << " n=" << n << " k=" << k << " at (" << i << ", " << j
                                       << ")";
    }
  }
}

const int64_t kSizes[] = {1, 2, 3, 5, 15, 16, 17, 31, 33, 64, 100, 257};

TEST_F(Gemm, EveryElementIsBitIdenticalToScalarDot) {
  for (Isa isa : supported_isas()) {
    set_isa(isa);
    for (int threads : {1, 2}) {
      set_num_threads(threads);
      const std::string what = std::string(isa_name(isa)) + " threads=" + std::to_string(threads);
      for (int64_t m : kSizes)
        for (int64_t n : kSizes)
          for (int64_t k : kSizes) {
            check_gemm(m, n, k, false, what.c_str());
            if (HasFatalFailure()) return;
          }
    }
  }
}

TEST_F(Gemm, PackedPanelEntryPointAndDegenerateSizes) {
  for (Isa isa : supported_isas()) {
    set_isa(isa);
    const std::string what = std::string(isa_name(isa)) + " serial";
    for (int64_t m : {1, 4, 7, 66})
      for (int64_t n : {1, 3, 4, 6, 13, 300})
        for (int64_t k : {0, 1, 16, 47, 511, 512, 513, 1029, 2051}) {  // passes over k of 512 or 1024
          check_gemm(m, n, k, true, what.c_str());
          if (HasFatalFailure()) return;
        }
    // m or n zero: nothing written, nothing read
    float c = 1.0f;
    gemm_nt_f32(nullptr, 4, nullptr, 4, 0, 5, 4, &c, 5);
    gemm_nt_f32(nullptr, 4, nullptr, 4, 5, 0, 4, &c, 1);
    EXPECT_EQ(c, 1.0f);
  }
}

TEST(GemmBlocking, FollowsTheCacheSizes) {
  const auto check = [](int64_t l1d, int64_t l2, int64_t panel_kib, int64_t pass512, int64_t pass2, int64_t lanes) {
    const GemmBlocking b = gemm_blocking_for(l1d, l2);
    EXPECT_EQ(b.panel_bytes, panel_kib << 10) << l1d << " " << l2;
    EXPECT_EQ(b.chunks_per_pass_avx512, pass512) << l1d << " " << l2;
    EXPECT_EQ(b.chunks_per_pass_avx2, pass2) << l1d << " " << l2;
    EXPECT_EQ(b.lane_steps_per_pass, lanes) << l1d << " " << l2;
  };
  check(32 << 10, 1 << 20, 384, 32, 32, 64);  // Zen 4: the constants first tuned there
  check(48 << 10, 2 << 20, 768, 64, 64, 96);  // the Intel Xeon the rule was measured on
  check(0, 0, 384, 32, 32, 64);               // nothing reported: the Zen 4 figures
  check(-1, int64_t(1) << 40, 384, 32, 32, 64);  // error / nonsense: the same
  check(64 << 10, 256 << 10, 128, 80, 80, 128);  // small L2: panel floor 128 KiB; 64 KiB L1d: passes of 80
  check(256 << 10, 8 << 20, 3072, 128, 128, 128);  // the largest plausible sizes: the clamps
}

TEST_F(Gemm, PassLengthChangesNoBit) {
  // The pass over k comes from this CPU's L1d; every length must give the same bits (lane sums parked
  // between passes, a pass ending inside or at the zero-padded tail chunk).
  const GemmBlocking& blocking = gemm_blocking();
  for (int64_t pass : {blocking.chunks_per_pass_avx512, blocking.chunks_per_pass_avx2}) {
    EXPECT_GE(pass, 16);
    EXPECT_LE(pass, 128);
    EXPECT_EQ(pass % 16, 0);
  }
  for (Isa isa : supported_isas()) {
    if (isa != Isa::Avx512 && isa != Isa::Avx2) continue;
    const int64_t own = isa == Isa::Avx512 ? blocking.chunks_per_pass_avx512 : blocking.chunks_per_pass_avx2;
    for (int64_t pass : {int64_t(1), int64_t(16), int64_t(32), int64_t(64), int64_t(128), own})
      for (int64_t k : {pass * 16 * 2, pass * 16 * 2 + 5, pass * 16 * 3 - 3}) {
        const std::string what = std::string(isa_name(isa)) + " pass=" + std::to_string(pass);
        check_gemm(13, 9, k, true, what.c_str(), isa, pass);
        if (HasFatalFailure()) return;
      }
  }
}

TEST_F(Gemm, LargeShapesAcrossPanelsAndThreads) {
  // Several b panels (384 or 768 KiB each, from the L2 size), several row blocks, both threads busy.
  for (Isa isa : supported_isas()) {
    set_isa(isa);
    for (int threads : {1, 2}) {
      set_num_threads(threads);
      const std::string what = std::string(isa_name(isa)) + " threads=" + std::to_string(threads);
      check_gemm(131, 263, 1543, false, what.c_str());
      if (HasFatalFailure()) return;
      check_gemm(1, 301, 4099, false, what.c_str());
      if (HasFatalFailure()) return;
    }
  }
}

TEST_F(Gemm, SymmetricProductIsBitSymmetric) {
  // The quantizer's X X^T: gemm_nt_f32(a = X, b = X); fma(a, b, s) == fma(b, a, s) exactly.
  const int64_t n = 75, k = 203;
  const auto x = test::normal_floats(size_t(n * k), 11);
  for (Isa isa : supported_isas()) {
    set_isa(isa);
    std::vector<float> c(size_t(n * n));
    gemm_nt_f32(x.data(), k, x.data(), k, n, n, k, c.data(), n);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < n; ++j) {
        ASSERT_EQ(bits(c[size_t(i * n + j)]), bits(c[size_t(j * n + i)])) << isa_name(isa);
        ASSERT_EQ(bits(c[size_t(i * n + j)]), bits(dot_f32_scalar(x.data() + i * k, x.data() + j * k, k)));
      }
  }
}

TEST_F(Gemm, LaneKernelsAtEveryPassLengthForEveryRowSource) {
  // The AVX-512 lane-major path (from 48 rows of a) run directly at pass lengths other than this CPU's,
  // passes ending inside or at the zero-padded tail chunk, rows of b read as f32, bf16 or f16,
  // dequantized from packed codes or produced by a loader (with a bias), row counts below one micro-block, between blocks and tiles, and
  // lda/ldb/ldc past the rows.
  bool avx512 = false;
  for (Isa isa : supported_isas()) avx512 = avx512 || isa == Isa::Avx512;
  if (!avx512) GTEST_SKIP() << "no AVX-512 on this CPU";
  set_isa(Isa::Avx512);
  const int64_t own = gemm_blocking().lane_steps_per_pass;
  EXPECT_GE(own, 16);
  EXPECT_LE(own, 128);
  struct Shape {
    int64_t m, n, k;
  };
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    for (int64_t pass : {int64_t(1), int64_t(5), int64_t(16), own})
      for (const Shape s : {Shape{50, 70, pass * 16 * 2 + 5}, Shape{97, 129, pass * 16 - 3}, Shape{5, 3, 17},
                            Shape{193, 64, pass * 16 * 3}}) {
        const int64_t lda = s.k + 3, ldb = s.k + 1, ldc = s.n + 5;
        const auto a = test::normal_floats(size_t(s.m * lda), uint64_t(s.m + s.k));
        const auto b = test::normal_floats(size_t(s.n * ldb), uint64_t(s.n + 2 * s.k));
        const auto bias = test::normal_floats(size_t(s.n), 5);
        const RowLoader load = [&](int64_t j, float* out) { std::memcpy(out, b.data() + j * ldb, size_t(s.k) * 4); };
        std::vector<uint16_t> b16(b.size());  // b's values rounded to bf16 / f16, for the 16-bit sources
        std::vector<float> wide(b.size());
        // packed codes: random bytes, scales and zero points; groups of 32 (4 bits, a ragged last group),
        // 48 (3 bits), 16 (2 bits) or one per row (8 bits, 1 bit; and 4 bits with one scale and zero point
        // for the matrix)
        const int code_bits[6] = {4, 3, 8, 4, 2, 1};
        const int64_t group_sizes[6] = {32, 48, s.k, s.k, 16, s.k};
        std::vector<uint8_t> code_bytes;
        std::vector<float> scales, zeros;
        PackedCodesMatrix codes;
        // source 0: f32 rows; 1: load_row (with a bias); 2: bf16 rows; 3: f16 rows; 4-9: packed codes
        for (int source = 0; source < 10; ++source) {
          detail::GemmRowSource src;
          src.ld = ldb;
          if (source == 0) src.f32 = b.data();
          if (source == 1) src.load_row = &load;
          if (source == 2 || source == 3) {
            src.half = b16.data(), src.bf16 = source == 2;
            for (size_t x = 0; x < b.size(); ++x) {
              b16[x] = src.bf16 ? f32_to_bf16(b[x]) : f32_to_f16(b[x]);
              wide[x] = src.bf16 ? bf16_to_f32(b16[x]) : f16_to_f32(b16[x]);
            }
          }
          if (source >= 4) {
            codes = PackedCodesMatrix{};
            codes.bits = code_bits[source - 4], codes.rows = s.n, codes.cols = s.k;
            codes.group_size = group_sizes[source - 4], codes.groups = (s.k + codes.group_size - 1) / codes.group_size;
            codes.row_bytes = (s.k * codes.bits + 7) / 8 + 3;
            code_bytes.resize(size_t(s.n * codes.row_bytes));
            std::mt19937 gen(uint32_t(source * 131 + s.k));
            for (auto& v : code_bytes) v = uint8_t(gen());
            scales = test::normal_floats(size_t(s.n * codes.groups), uint64_t(source + s.n));
            zeros.resize(scales.size());
            for (auto& z : zeros) z = float(gen() % (1u << codes.bits)) + 0.25f;
            codes.codes = code_bytes.data(), codes.scales = scales.data(), codes.zeros = zeros.data();
            if (source == 7) codes.per_tensor = true, codes.zeros = nullptr, codes.zero = 7.5f;
            src.codes = &codes;
            for (int64_t j = 0; j < s.n; ++j) packed_dequantize_row_scalar(codes, j, wide.data() + j * ldb);
          }
          const float* ref = source >= 2 ? wide.data() : b.data();
          std::vector<float> c(size_t(s.m * ldc));
          for (auto& v : c) std::memcpy(&v, &kSentinel, 4);
          detail::gemm_lanes_f32(a.data(), lda, s.m, s.n, s.k, src, source == 1 ? bias.data() : nullptr, c.data(), ldc,
                                 pass);
          for (int64_t i = 0; i < s.m; ++i)
            for (int64_t j = 0; j < ldc; ++j) {
              const float got = c[size_t(i * ldc + j)];
              if (j >= s.n) {
                ASSERT_EQ(bits(got), kSentinel) << "wrote past row " << i;
                continue;
              }
              const float dot = dot_f32_scalar(a.data() + i * lda, ref + j * ldb, s.k);
              ASSERT_EQ(bits(got), bits(source == 1 ? dot + bias[size_t(j)] : dot))
                  << "pass=" << pass << " m=" << s.m << " n=" << s.n << " k=" << s.k << " (" << i << ", " << j
                  << ") source=" << source << " threads=" << threads;
            }
        }
      }
  }
  // k = 0: the reduction of zero sums (+ bias)
  float c[2] = {1.0f, 1.0f};
  const float one = 1.0f, bias0 = -0.0f;
  detail::GemmRowSource src;
  src.f32 = &one, src.ld = 1;
  detail::gemm_lanes_f32(&one, 1, 1, 1, 0, src, nullptr, c, 1, 64);
  detail::gemm_lanes_f32(&one, 1, 1, 1, 0, src, &bias0, c + 1, 1, 64);
  EXPECT_EQ(bits(c[0]), bits(dot_f32_scalar(&one, &one, 0)));
  EXPECT_EQ(bits(c[1]), bits(dot_f32_scalar(&one, &one, 0) + bias0));
}

TEST_F(Gemm, SignedZerosAndTailsMatchDot) {
  // All-zero products (+0 and -0 inputs), where the zero-padded tail's fma(0, 0, acc) matters; 50 rows
  // of a take AVX-512's lane-major path.
  for (Isa isa : supported_isas()) {
    set_isa(isa);
    for (int64_t k : {1, 7, 16, 19}) {
      for (int64_t m : {5, 50}) {
        const int64_t n = 6;
        std::vector<float> a(size_t(m * k)), b(size_t(n * k));
        for (size_t i = 0; i < a.size(); ++i) a[i] = i % 3 ? -0.0f : 0.0f;
        for (size_t i = 0; i < b.size(); ++i) b[i] = i % 2 ? -1.5f : 2.0f;
        std::vector<float> c(size_t(m * n));
        gemm_nt_f32(a.data(), k, b.data(), k, m, n, k, c.data(), n);
        for (int64_t i = 0; i < m; ++i)
          for (int64_t j = 0; j < n; ++j)
            ASSERT_EQ(bits(c[size_t(i * n + j)]), bits(dot_f32_scalar(a.data() + i * k, b.data() + j * k, k)))
                << isa_name(isa) << " k=" << k << " m=" << m;
      }
    }
  }
}

TEST_F(Gemm, MatmulEqualsReferenceForEveryDtypeIsaAndThreadCount) {
  struct Shape {
    int64_t m, n, k;
  };
  for (const Shape s : {Shape{1, 37, 172}, Shape{5, 600, 1000}, Shape{70, 130, 300}, Shape{3, 5, 17}, Shape{66, 1, 1}}) {
    const auto x = test::normal_floats(size_t(s.m * s.k), uint64_t(s.m + 1));
    const auto w32 = test::normal_floats(size_t(s.n * s.k), uint64_t(s.n + 2));
    const auto bias = test::normal_floats(size_t(s.n), uint64_t(s.k + 3));
    std::vector<uint16_t> w16(w32.size()), wb16(w32.size());
    for (size_t i = 0; i < w32.size(); ++i) {
      w16[i] = f32_to_f16(w32[i]);
      wb16[i] = f32_to_bf16(w32[i]);
    }
    const DenseMatrix mats[] = {
        {DType::F32, s.n, s.k, w32.data()}, {DType::F16, s.n, s.k, w16.data()}, {DType::BF16, s.n, s.k, wb16.data()}};
    for (const auto& w : mats) {
      for (const float* bptr : {bias.data(), static_cast<const float*>(nullptr)}) {
        std::vector<float> ref(size_t(s.m * s.n));
        matmul_reference(x.data(), s.m, w, bptr, ref.data());
        for (Isa isa : supported_isas()) {
          set_isa(isa);
          for (int threads : {1, 2}) {
            set_num_threads(threads);
            std::vector<float> got(ref.size(), -1.0f);
            matmul(x.data(), s.m, w, bptr, got.data());
            ASSERT_EQ(0, std::memcmp(ref.data(), got.data(), ref.size() * 4))
                << isa_name(isa) << " " << dtype_name(w.dtype) << " threads=" << threads << " m=" << s.m
                << " n=" << s.n << " k=" << s.k << (bptr ? " bias" : "");
          }
        }
      }
    }
  }
}

}  // namespace
}  // namespace quantscope
