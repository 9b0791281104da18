// A weight matrix of b-bit integer codes (1 <= b <= 8) with group scales and zero points, in the layout
// the kernels read directly (no fp32 copy of the matrix ever exists):
//   codes   each row is an LSB-first bit stream of `cols` codes, padded to a whole byte
//           (row_bytes = ceil(cols * bits / 8)); code c of row j starts at bit c * bits of the row
//   groups  column c of row j belongs to group g = c / group_size (group_size == cols: one per row)
//   value   w[j, c] = (float(code) - zero[j', g]) * scale[j', g], j' = per_tensor ? 0 : j
//           computed in fp32 exactly in that order: the subtraction is exact (small integers), the
//           product is the one rounding. quant/quantizer.h defines the same dequantization.
// The view does not own its memory (the quantizer's arrays or a memory-mapped file).
#pragma once

#include <cstdint>

namespace quantscope {

struct PackedCodesMatrix {
  int bits = 4;
  int64_t rows = 0, cols = 0;  // n (output features), k (input features)
  int64_t group_size = 0;      // columns per group; == cols for per-channel and per-tensor
  int64_t groups = 0;          // groups per row: ceil(cols / group_size)
  bool per_tensor = false;     // one scale/zero for the whole matrix
  const uint8_t* codes = nullptr;
  int64_t row_bytes = 0;
  const float* scales = nullptr;  // [per_tensor ? 1 : rows, groups]
  const float* zeros = nullptr;   // same shape; nullptr: every group's zero point is `zero`
  float zero = 0.0f;

  int64_t param_index(int64_t j, int64_t g) const { return (per_tensor ? 0 : j) * groups + g; }
  float group_scale(int64_t j, int64_t g) const { return scales[param_index(j, g)]; }
  float group_zero(int64_t j, int64_t g) const { return zeros ? zeros[param_index(j, g)] : zero; }
};

// Throws (fail_internal) when the view is inconsistent: bits outside 1..8, row_bytes too small, a
// group size that does not cover the row, null arrays.
void check_packed_matrix(const PackedCodesMatrix& w);

// Row j dequantized to fp32 (cols floats), on the active ISA (every ISA gives the same bits).
void packed_dequantize_row(const PackedCodesMatrix& w, int64_t j, float* out);
// Scalar reference of the same.
void packed_dequantize_row_scalar(const PackedCodesMatrix& w, int64_t j, float* out);

// Code c of row j (tests and slow paths).
inline uint32_t packed_code(const PackedCodesMatrix& w, int64_t j, int64_t c) {
  const uint8_t* row = w.codes + j * w.row_bytes;
  const int64_t bit = c * w.bits;
  uint32_t v = uint32_t(row[bit / 8]) >> (bit % 8);
  if ((bit % 8) + w.bits > 8) v |= uint32_t(row[bit / 8 + 1]) << (8 - bit % 8);
  return v & ((1u << w.bits) - 1u);
}

}  // namespace quantscope
