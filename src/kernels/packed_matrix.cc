#include "kernels/packed_matrix.h"

#include "core/error.h"
#include "kernels/gemv.h"
#include "kernels/isa.h"

namespace quantscope {

void check_packed_matrix(const PackedCodesMatrix& w) {
  if (w.bits < 1 || w.bits > 8) fail_internal("packed matrix: {} bits (1..8)", w.bits);
  if (w.rows < 0 || w.cols < 1 || w.group_size < 1) fail_internal("packed matrix: shape [{}, {}] group {}", w.rows, w.cols, w.group_size);
  if (w.row_bytes < (w.cols * w.bits + 7) / 8) fail_internal("packed matrix: {} bytes per row for {} codes of {} bits", w.row_bytes, w.cols, w.bits);
  if (w.groups != (w.cols + w.group_size - 1) / w.group_size)
    fail_internal("packed matrix: {} groups of {} for {} columns", w.groups, w.group_size, w.cols);
  if (w.rows > 0 && (!w.codes || !w.scales)) fail_internal("packed matrix: null codes or scales");
}

void packed_dequantize_row_scalar(const PackedCodesMatrix& w, int64_t j, float* out) {
  for (int64_t g = 0; g < w.groups; ++g) {
    const float scale = w.group_scale(j, g), zero = w.group_zero(j, g);
    const int64_t c1 = (g + 1) * w.group_size < w.cols ? (g + 1) * w.group_size : w.cols;
    for (int64_t c = g * w.group_size; c < c1; ++c) out[c] = (float(packed_code(w, j, c)) - zero) * scale;
  }
}

void packed_dequantize_row(const PackedCodesMatrix& w, int64_t j, float* out) {
  if (gemv_packed_supported(w)) {
    switch (active_isa()) {
      case Isa::Avx512: return detail::packed_dequantize_row_avx512(w, j, out);
      case Isa::Avx2: return detail::packed_dequantize_row_avx2(w, j, out);
      default: break;
    }
  }
  packed_dequantize_row_scalar(w, j, out);
}

}  // namespace quantscope
