#include "kernels/q8_activations.h"

#include <algorithm>
#include <cmath>

#include "core/dtype.h"
#include "core/parallel.h"
#include "kernels/isa.h"

namespace quantscope {
namespace {

void shape(int64_t m, int64_t k, Q8Activations& out) {
  out.m = m;
  out.blocks = (k + kQ8Block - 1) / kQ8Block;
  out.q.resize(size_t(m * out.blocks * kQ8Block));
  out.d.resize(size_t(m * out.blocks));
  out.qsum.resize(size_t(m * out.blocks));
  out.finite.resize(size_t(m));
}

// Row i of `out` left all zero (a row with a non-finite value).
void zero_row(Q8Activations& out, int64_t i) {
  const int64_t nb = out.blocks;
  std::fill_n(out.q.begin() + i * nb * kQ8Block, nb * kQ8Block, int8_t(0));
  std::fill_n(out.d.begin() + i * nb, nb, 0.0f);
  std::fill_n(out.qsum.begin() + i * nb, nb, 0);
}

bool quantize_row_scalar(const float* x, int64_t k, int8_t* q, float* d, int32_t* qsum) {
  for (int64_t c = 0; c < k; ++c)
    if (!std::isfinite(x[c])) return false;
  const int64_t nb = (k + kQ8Block - 1) / kQ8Block;
  for (int64_t b = 0; b < nb; ++b) {
    const int64_t c0 = b * kQ8Block, c1 = std::min(k, c0 + kQ8Block);
    float amax = 0;
    for (int64_t c = c0; c < c1; ++c) amax = std::max(amax, std::fabs(x[c]));
    const float db = amax / 127.0f;
    const float id = db != 0.0f ? 1.0f / db : 0.0f;
    int32_t sum = 0;
    for (int64_t c = c0; c < c0 + kQ8Block; ++c) {
      // std::round is round-half-away-from-zero; |x * id| <= 127 (plus rounding), so the cast is safe.
      const int32_t v = c < c1 ? int32_t(std::round(x[c] * id)) : 0;
      q[c] = int8_t(v);
      sum += v;
    }
    qsum[b] = sum;
    d[b] = db;
  }
  return true;
}

using RowFn = bool (*)(const float*, int64_t, int8_t*, float*, int32_t*);

void quantize_with(RowFn row, const float* x, int64_t m, int64_t k, Q8Activations& out) {
  shape(m, k, out);
  const int64_t nb = out.blocks;
  parallel_for(0, m, [&](int64_t i) {
    float* d = out.d.data() + i * nb;
    out.finite[size_t(i)] = row(x + i * k, k, out.q.data() + i * nb * kQ8Block, d, out.qsum.data() + i * nb);
    if (!out.finite[size_t(i)]) return zero_row(out, i);
    for (int64_t b = 0; b < nb; ++b) d[b] = f16_to_f32(f32_to_f16(d[b]));  // the block scale is stored as fp16
  }, 4 * k);
}

}  // namespace

void quantize_q8_activations_scalar(const float* x, int64_t m, int64_t k, Q8Activations& out) {
  quantize_with(quantize_row_scalar, x, m, k, out);
}

void quantize_q8_activations(const float* x, int64_t m, int64_t k, Q8Activations& out) {
  const bool avx2 = active_isa() == Isa::Avx2 || active_isa() == Isa::Avx512;
  quantize_with(avx2 ? detail::quantize_q8_row_avx2 : quantize_row_scalar, x, m, k, out);
}

}  // namespace quantscope
