// The register-decoding kernels (gemv.h, packed_matrix.h) against scalar references, bit for bit:
// dense f32/f16/bf16 rows and packed 1..8-bit codes with per-channel, per-group (incl. a ragged last
// group and group sizes the register path cannot take), per-tensor, symmetric and asymmetric params;
// m = 1..6 (the GEMV path and the panel GEMM path of matmul_packed), odd k (tails), unaligned
// pointers, every ISA this CPU has, 1 and 2 threads. The reference of each output is
// dot_f32_scalar(x row, row dequantized by the formula of packed_matrix.h written out here).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <random>
#include <vector>

#include "core/dtype.h"
#include "core/parallel.h"
#include "kernels/dot.h"
#include "kernels/gemv.h"
#include "kernels/isa.h"
#include "kernels/matmul.h"
#include "kernels/packed_matrix.h"
#include "random_packed.h"
#include "isa_fixture.h"
#include "random_floats.h"

namespace quantscope {
namespace {
using test::RandomPacked;

class Gemv : public test::IsaAndThreadsRestored {};

uint32_t bits_of(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}


// y [m, n] must equal dot_f32_scalar(x_i, row_j) (+ bias) bit for bit.
void expect_products(const std::vector<float>& y, const float* x, int64_t m, int64_t n, int64_t k,
                     const std::vector<std::vector<float>>& rows, const float* bias, const std::string& what) {
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      float want = dot_f32_scalar(x + i * k, rows[size_t(j)].data(), k);
      if (bias) want += bias[j];
      ASSERT_EQ(bits_of(y[size_t(i * n + j)]), bits_of(want)) << what << " i=" << i << " j=" << j;
    }
}

TEST_F(Gemv, PackedCodesDecodeMatchesTheFormula) {
  for (Isa isa : supported_isas()) {
    set_isa(isa);
    for (int b = 1; b <= 8; ++b)
      for (int64_t cols : {1, 15, 16, 17, 48, 100, 172}) {
        for (int64_t gs : {cols, int64_t(16), int64_t(32), int64_t(24)}) {
          RandomPacked p(b, 3, cols, gs, false, b % 2 == 0, uint64_t(b * 1000 + cols + gs));
          std::vector<float> out(static_cast<size_t>(cols));
          for (int64_t j = 0; j < 3; ++j) {
            for (int64_t c = 0; c < cols; ++c) ASSERT_EQ(packed_code(p.w, j, c), p.codes[size_t(j * cols + c)]);
            packed_dequantize_row(p.w, j, out.data());
            const auto want = p.reference_row(j);
            for (int64_t c = 0; c < cols; ++c)
              ASSERT_EQ(bits_of(out[size_t(c)]), bits_of(want[size_t(c)]))
                  << isa_name(isa) << " bits " << b << " cols " << cols << " group " << gs << " c " << c;
          }
        }
      }
  }
}

TEST_F(Gemv, PackedMatmulBitIdenticalToReferenceOnEveryIsaAndThreadCount) {
  const std::vector<float> xs = test::normal_floats(1 + 6 * 300, 7);
  const float* x = xs.data() + 1;  // unaligned
  const std::vector<float> bias = test::normal_floats(32, 9);
  for (Isa isa : supported_isas()) {
    set_isa(isa);
    for (int threads : {1, 2}) {
      set_num_threads(threads);
      for (int b : {1, 2, 3, 4, 5, 8})
        for (int64_t k : {16, 33, 172, 300})
          for (int64_t gs : {k, int64_t(16), int64_t(64), int64_t(24)}) {
            for (bool per_tensor : {false, true}) {
              if (per_tensor && gs != k) continue;
              // 23 rows: a thread's range is cut into spans walked side by side (gemv_avx*.cc), with leftovers.
              const int64_t n = k == 172 ? 23 : 7;
              RandomPacked p(b, n, k, gs, per_tensor, b == 3, uint64_t(b * 7 + k * 3 + gs));
              std::vector<std::vector<float>> rows;
              for (int64_t j = 0; j < n; ++j) rows.push_back(p.reference_row(j));
              for (int64_t m : {1, 2, 3, 4, 5, 6}) {
                std::vector<float> y(size_t(m * n));
                const float* bptr = (m % 2) ? bias.data() : nullptr;
                matmul_packed(x, m, p.w, bptr, y.data());
                expect_products(y, x, m, n, k, rows, bptr,
                                std::string(isa_name(isa)) + " b" + std::to_string(b) + " k" + std::to_string(k) +
                                    " g" + std::to_string(gs) + " m" + std::to_string(m) +
                                    " t" + std::to_string(threads));
              }
            }
          }
    }
  }
}

// 8-bit codes take a conversion-free decode when every zero point of a thread's rows is an integer
// below 2^22 in magnitude (gemv_avx512.cc, kBiased8), and the converting one otherwise: both must give
// the formula's bits. Zero points: integers incl. negative ones, -0 and one equal to the codes (signed
// zeros), one fractional or one huge zero in a single row (that thread's rows fall back), symmetric.
TEST_F(Gemv, EightBitCodesExactForEveryKindOfZeroPoint) {
  const std::vector<float> xs = test::normal_floats(1 + 4 * 300, 17);
  const float* x = xs.data() + 1;
  const int64_t n = 23, k = 172;
  struct Case {
    const char* what;
    bool symmetric;
    float special;  // put in row 20's first group (0: none)
  };
  for (const Case& cs : {Case{"integer zeros", false, 0.0f}, Case{"one fractional zero", false, 127.5f},
                         Case{"one odd zero beyond 2^23", false, 9999999.0f}, Case{"symmetric", true, 0.0f}})
    for (int64_t gs : {k, int64_t(64)}) {
      RandomPacked p(8, n, k, gs, false, cs.symmetric, uint64_t(gs + 5));
      if (!cs.symmetric) {
        float* z = p.zeros_buf.data() + 1;
        z[1 * p.w.groups] = -3.0f;
        z[2 * p.w.groups] = -0.0f;
        z[3 * p.w.groups] = 300.0f;
        if (cs.special != 0.0f) z[20 * p.w.groups] = cs.special;
        for (int64_t c = 0; c < std::min<int64_t>(gs, k); ++c) {  // row 4: code == zero in its first group
          p.codes[size_t(4 * k + c)] = uint32_t(z[4 * p.w.groups]);
          p.codes_buf[size_t(1 + 4 * p.w.row_bytes + c)] = uint8_t(z[4 * p.w.groups]);
        }
      }
      std::vector<std::vector<float>> rows;
      for (int64_t j = 0; j < n; ++j) rows.push_back(p.reference_row(j));
      for (Isa isa : supported_isas()) {
        set_isa(isa);
        for (int threads : {1, 2}) {
          set_num_threads(threads);
          for (int64_t m = 1; m <= 4; ++m) {
            std::vector<float> y(size_t(m * n));
            matmul_packed(x, m, p.w, nullptr, y.data());
            expect_products(y, x, m, n, k, rows, nullptr,
                            std::string(isa_name(isa)) + " " + cs.what + " g" + std::to_string(gs) + " m" +
                                std::to_string(m) + " t" + std::to_string(threads));
          }
        }
      }
    }
}

TEST_F(Gemv, DenseDecodeBitIdenticalToReference) {
  // m runs to kGemvMaxRows + 1
  const std::vector<float> xs = test::normal_floats(size_t(1 + (kGemvMaxRows + 1) * 300), 11);
  const float* x = xs.data() + 1;
  for (Isa isa : supported_isas()) {
    set_isa(isa);
    for (int threads : {1, 2}) {
      set_num_threads(threads);
      for (DType dt : {DType::F32, DType::F16, DType::BF16})
        for (int64_t k : {1, 15, 16, 17, 64, 172, 300}) {
          const int64_t n = k == 172 ? 23 : 5;  // 23: spans of rows side by side, with leftovers
          const std::vector<float> wf = test::normal_floats(size_t(n * k), uint64_t(k));
          std::vector<uint16_t> wh(size_t(n * k) + 1);
          std::vector<float> wf_off(size_t(n * k) + 1);
          std::vector<std::vector<float>> rows(static_cast<size_t>(n), std::vector<float>(static_cast<size_t>(k)));
          for (int64_t e = 0; e < n * k; ++e) {
            float v = wf[size_t(e)];
            if (dt == DType::F16) {
              wh[size_t(e) + 1] = f32_to_f16(v);
              v = f16_to_f32(wh[size_t(e) + 1]);
            } else if (dt == DType::BF16) {
              wh[size_t(e) + 1] = f32_to_bf16(v);
              v = bf16_to_f32(wh[size_t(e) + 1]);
            }
            wf_off[size_t(e) + 1] = v;
            rows[size_t(e / k)][size_t(e % k)] = v;
          }
          DenseMatrix w{dt, n, k, dt == DType::F32 ? static_cast<const void*>(wf_off.data() + 1) : wh.data() + 1};
          for (int64_t m = 1; m <= kGemvMaxRows + 1; ++m) {
            std::vector<float> y(size_t(m * n));
            matmul(x, m, w, nullptr, y.data());
            expect_products(y, x, m, n, k, rows, nullptr,
                            std::string(isa_name(isa)) + " " + std::string(dtype_name(dt)) + " k" + std::to_string(k) +
                                " m" + std::to_string(m) + " t" + std::to_string(threads));
          }
        }
    }
  }
}

}  // namespace
}  // namespace quantscope
