#include "kernels/gemv.h"

#include <algorithm>
#include <vector>

#include "core/error.h"
#include "core/parallel.h"
#include "kernels/dot.h"
#include "kernels/isa.h"

namespace quantscope {

namespace {

// Ranges of output rows handed out guided (core/parallel.h: long ranges first, so a virtual CPU that
// runs slower takes less); each row is computed whole by one thread.
template <typename RowsFn>
void split_rows(int64_t n, int64_t m, int64_t k, const RowsFn& rows) {
  parallel_ranges_guided(n, std::max<int64_t>(4, n / 64), [&](int64_t j0, int64_t j1) { rows(j0, j1); },
                         2 * m * k + 4 * k);
}

void add_bias(int64_t m, int64_t n, const float* bias, float* y) {
  if (!bias) return;
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) y[i * n + j] += bias[j];
}

// Scalar reference path: the row decoded to fp32, then dot_f32_scalar per input row.
template <typename LoadRow>
void scalar_rows(const float* x, int64_t m, int64_t n, int64_t k, int64_t j0, int64_t j1, const LoadRow& load,
                 float* y) {
  std::vector<float> row(static_cast<size_t>(k));
  for (int64_t j = j0; j < j1; ++j) {
    load(j, row.data());
    for (int64_t i = 0; i < m; ++i) y[i * n + j] = dot_f32_scalar(x + i * k, row.data(), k);
  }
}

// x [m, k] in the layout of detail::kPacked4LaneCode: rows of ceil(k / 16) * 16 columns, zero-padded.
std::vector<float> permute_x_packed4(const float* x, int64_t m, int64_t k) {
  const int64_t ks = (k + 15) / 16 * 16;
  std::vector<float> xp(static_cast<size_t>(m * ks), 0.0f);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t c = 0; c < ks; c += 16)
      for (int l = 0; l < 16; ++l) {
        const int64_t col = c + detail::kPacked4LaneCode[l];
        if (col < k) xp[i * ks + c + l] = x[i * k + col];
      }
  return xp;
}

void check_rows(int64_t m) {
  if (m < 1 || m > kGemvMaxRows) fail_internal("gemv: {} input rows (1..{} supported)", m, kGemvMaxRows);
}

}  // namespace

void gemv_dense(const float* x, int64_t m, const DenseMatrix& w, const float* bias, float* y) {
  check_rows(m);
  if (w.dtype != DType::F32 && w.dtype != DType::F16 && w.dtype != DType::BF16)
    fail_internal("gemv: unsupported weight dtype {}", dtype_name(w.dtype));
  const Isa isa = active_isa();
  split_rows(w.rows, m, w.cols, [&](int64_t j0, int64_t j1) {
    if (isa == Isa::Avx512) detail::gemv_dense_avx512(x, m, w, j0, j1, y);
    else if (isa == Isa::Avx2) detail::gemv_dense_avx2(x, m, w, j0, j1, y);
    else scalar_rows(x, m, w.rows, w.cols, j0, j1, [&](int64_t j, float* out) { load_matrix_row(w, j, out); }, y);
  });
  add_bias(m, w.rows, bias, y);
}

bool gemv_packed_supported(const PackedCodesMatrix& w) { return w.groups == 1 || w.group_size % 16 == 0; }

void gemv_packed(const float* x, int64_t m, const PackedCodesMatrix& w, const float* bias, float* y) {
  check_rows(m);
  check_packed_matrix(w);
  if (!gemv_packed_supported(w)) fail_internal("gemv: group size {} is not a multiple of 16", w.group_size);
  const Isa isa = active_isa();
  std::vector<float> x_permuted;
  if (isa == Isa::Avx512 && w.bits == 4) x_permuted = permute_x_packed4(x, m, w.cols);
  split_rows(w.rows, m, w.cols, [&](int64_t j0, int64_t j1) {
    if (isa == Isa::Avx512) detail::gemv_packed_avx512(x_permuted.empty() ? x : x_permuted.data(), m, w, j0, j1, y);
    else if (isa == Isa::Avx2) detail::gemv_packed_avx2(x, m, w, j0, j1, y);
    else
      scalar_rows(x, m, w.rows, w.cols, j0, j1,
                  [&](int64_t j, float* out) { packed_dequantize_row_scalar(w, j, out); }, y);
  });
  add_bias(m, w.rows, bias, y);
}

}  // namespace quantscope
